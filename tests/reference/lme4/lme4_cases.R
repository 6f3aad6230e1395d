# Reference values for causalpa.mixed (tests/test_mixed_reference.py).
# Run from this folder: Rscript lme4_cases.R
# Needs lme4, lmerTest, pbkrtest, jsonlite. Writes sleepstudy.csv and lme4_cases.json.
suppressPackageStartupMessages({
  library(lme4); library(lmerTest); library(pbkrtest); library(jsonlite)
})
write.csv(lme4::sleepstudy, "sleepstudy.csv", row.names = FALSE)
sess <- read.csv("sessions_unbalanced.csv")

coef_table <- function(fit, ddf) {
  s <- summary(fit, ddf = ddf)$coefficients
  list(term = rownames(s), estimate = unname(s[, "Estimate"]),
       std_error = unname(s[, "Std. Error"]), df = unname(s[, "df"]),
       statistic = unname(s[, "t value"]), p_value = unname(s[, "Pr(>|t|)"]))
}
vc_table <- function(fit) {
  v <- as.data.frame(VarCorr(fit))
  v$var1[is.na(v$var1)] <- ""; v$var2[is.na(v$var2)] <- ""
  list(grp = v$grp, var1 = v$var1, var2 = v$var2, vcov = v$vcov, sdcor = v$sdcor)
}
contrast <- function(fit, L) {
  out <- list()
  for (ddf in c("Satterthwaite", "Kenward-Roger")) {
    r <- lmerTest::contest1D(fit, L, ddf = ddf)
    out[[ddf]] <- list(estimate = r$Estimate, std_error = r$`Std. Error`, df = r$df,
                       statistic = r$`t value`, p_value = r$`Pr(>|t|)`)
  }
  out
}
describe <- function(fit, L = NULL) {
  res <- list(
    reml = isREML(fit), theta = unname(getME(fit, "theta")), sigma = sigma(fit),
    loglik = as.numeric(logLik(fit)), deviance_or_remlcrit = as.numeric(-2 * logLik(fit)),
    fixef = unname(fixef(fit)), terms = names(fixef(fit)),
    vcov = unname(as.matrix(vcov(fit))),
    varcorr = vc_table(fit),
    singular = isSingular(fit)
  )
  res$satterthwaite <- coef_table(fit, "Satterthwaite")  # lmerTest: ML fits too
  if (isREML(fit)) {
    res$kenward_roger <- coef_table(fit, "Kenward-Roger")
    res$vcov_adj_kr <- unname(as.matrix(pbkrtest::vcovAdj(fit)))
    if (!is.null(L)) {
      res$contrast_L <- L
      res$contrast <- contrast(fit, L)
      res$contrast$Lb_ddf <- pbkrtest::Lb_ddf(L, vcov(fit), pbkrtest::vcovAdj(fit))
    }
  }
  res
}

out <- list()
# 1. sleepstudy random slope, REML and ML
f1 <- lmer(Reaction ~ Days + (Days | Subject), data = sleepstudy, REML = TRUE)
out$sleepstudy_reml <- describe(f1, L = c(0, 1))
out$sleepstudy_reml$reml_criterion <- unname(REMLcrit(f1))
out$sleepstudy_reml$ranef <- unname(as.matrix(ranef(f1)$Subject))
out$sleepstudy_reml$fitted <- unname(fitted(f1))
f1ml <- lmer(Reaction ~ Days + (Days | Subject), data = sleepstudy, REML = FALSE)
out$sleepstudy_ml <- describe(f1ml)
# 2. unbalanced sessions, random slope; contrast = arm difference at session 7
f2 <- lmer(phq9 ~ session * pa + age + (session | patient), data = sess, REML = TRUE)
out$sessions_slope <- describe(f2, L = c(0, 0, 1, 0, 7))
f2ml <- lmer(phq9 ~ session * pa + age + (session | patient), data = sess, REML = FALSE)
out$sessions_slope_ml <- describe(f2ml)
# 3. nested therapist / patient: intercepts at both levels, slope at the patient level
f3 <- lmer(phq9 ~ session * pa + (1 | therapist) + (session | therapist:patient), data = sess)
out$sessions_nested <- describe(f3, L = c(0, 0, 1, 7))
# 4. random intercept only
f4 <- lmer(phq9 ~ session * pa + (1 | patient), data = sess, REML = TRUE)
out$sessions_intercept <- describe(f4, L = c(0, 0, 1, 7))
f4ml <- lmer(phq9 ~ session * pa + (1 | patient), data = sess, REML = FALSE)
out$sessions_intercept_ml <- describe(f4ml)
f3ml <- lmer(phq9 ~ session * pa + (1 | therapist) + (session | therapist:patient), data = sess,
             REML = FALSE)
out$sessions_nested_ml <- describe(f3ml)
# 5. nested, intercepts only
f5 <- lmer(phq9 ~ session * pa + (1 | therapist) + (1 | therapist:patient), data = sess)
out$sessions_nested_intercepts <- describe(f5, L = c(0, 0, 1, 7))

# 6. a fit whose optimum is near (not on) the boundary theta = 0: a gradient method started
#    at the identity can stop on the boundary, where the deviance is stationary
bnd <- read.csv("sessions_boundary.csv")
f6 <- lmer(phq9 ~ session * pa + (session | patient), data = bnd)
out$boundary_near <- describe(f6, L = c(0, 0, 1, 7))
# 7. a genuinely singular fit (slope SD estimated as 0)
sng <- read.csv("sessions_singular.csv")
f7 <- lmer(phq9 ~ session * pa + (session | patient), data = sng)
out$boundary_singular <- describe(f7)

# 8. the embedded (synthetic) pilot sessions, frozen here: Satterthwaite and Kenward-Roger
#    disagree markedly for the slope terms (few patients with many sessions)
pil <- read.csv("pilot_sessions.csv")
f8 <- lmer(phq9 ~ session * pa + (session | patient), data = pil)
out$pilot_slope <- describe(f8, L = c(0, 0, 1, 7))

# 9. joint F tests (lmerTest::contestMD; Kenward-Roger via pbkrtest::KRmodcomp)
ftest <- function(fit, L) {
  one <- function(ddf) {
    r <- lmerTest::contestMD(fit, L, ddf = ddf)
    list(num_df = r$NumDF, den_df = r$DenDF, statistic = r$`F value`, p_value = r$`Pr(>F)`)
  }
  list(L = L, satterthwaite = one("Satterthwaite"), kenward_roger = one("Kenward-Roger"))
}
out$ftests <- list(
  sessions_slope_2 = ftest(f2, rbind(c(0, 0, 1, 0, 0), c(0, 0, 0, 0, 1))),
  sessions_slope_3 = ftest(f2, rbind(c(0, 1, 0, 0, 0), c(0, 0, 1, 0, 0), c(0, 0, 0, 0, 1))),
  sessions_nested_2 = ftest(f3, rbind(c(0, 0, 1, 0), c(0, 0, 0, 1))),
  pilot_slope_2 = ftest(f8, rbind(c(0, 0, 1, 0), c(0, 0, 0, 1)))
)

out$versions <- list(R = R.version.string, lme4 = as.character(packageVersion("lme4")),
                     lmerTest = as.character(packageVersion("lmerTest")),
                     pbkrtest = as.character(packageVersion("pbkrtest")),
                     Matrix = as.character(packageVersion("Matrix")),
                     generated = format(Sys.time(), "%Y-%m-%d %H:%M:%S UTC", tz = "UTC"))
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), "lme4_cases.json")
