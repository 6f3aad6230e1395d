# Reference values for causalpa.longitudinal.glmm (tests/test_glmm.py) from lme4::glmer,
# Laplace approximation (nAGQ = 1), default glmerControl.
# Run from the repository root:  Rscript tests/reference/glmer/glmer_cases.R
# Writes cbpp.csv (lme4's cbpp data) and glmer_cases.json.
# vcov: lme4 >= 1.1 uses, for nAGQ > 0, the finite-difference Hessian of the Laplace deviance
# in (theta, beta) computed after the fit (optinfo$derivs$Hessian): V = 2 * [H^-1]_{beta,beta}.
# Both that default and the RX-based alternative (use.hessian = FALSE) are stored.
# glmer's default PIRLS tolerance (tolPwrss = 1e-7, relative change of the penalised deviance)
# leaves the conditional modes ~1e-3 from convergence and its Laplace deviance is evaluated with
# the weights of the previous PIRLS iteration, so the default objective differs from the exact
# Laplace approximation by ~5e-4 (estimates move ~4e-4 relative, finite-difference Hessian SEs
# ~1-2%). The "*_tight" cases refit with tolPwrss = 1e-12 and bobyqa (rhoend = 1e-12): glmer
# then reports the exact Laplace optimum, which is what causalpa computes.
suppressPackageStartupMessages({library(lme4); library(jsonlite)})
data(cbpp, package = "lme4")
write.csv(cbpp, "tests/reference/glmer/cbpp.csv", row.names = FALSE)
sess <- read.csv("tests/reference/geepack/sessions.csv", stringsAsFactors = FALSE)

summ <- function(fit) {
  V <- as.matrix(vcov(fit))
  Vrx <- as.matrix(vcov(fit, use.hessian = FALSE))
  list(
    term = names(fixef(fit)), estimate = unname(fixef(fit)),
    std_error = unname(sqrt(diag(V))), std_error_rx = unname(sqrt(diag(Vrx))),
    vcov = unname(V),
    z = unname(coef(summary(fit))[, "z value"]),
    p_value = unname(coef(summary(fit))[, "Pr(>|z|)"]),
    theta = unname(getME(fit, "theta")),
    sd = unname(attr(VarCorr(fit)[[1]], "stddev")),
    loglik = as.numeric(logLik(fit)), aic = AIC(fit), bic = BIC(fit),
    deviance = deviance(fit), devcomp_dev = unname(fit@devcomp$cmp[["dev"]]),
    nobs = nobs(fit), ngroups = unname(ngrps(fit)),
    ranef = unname(ranef(fit)[[1]][, 1]), ranef_levels = rownames(ranef(fit)[[1]]),
    converged = is.null(fit@optinfo$conv$lme4$messages),
    hessian_used = isTRUE(all.equal(V, as.matrix(vcov(fit, use.hessian = TRUE)))),
    control = list(tolPwrss = unname(fit@devcomp$cmp[["tolPwrss"]]), optimizer = fit@optinfo$optimizer)
  )
}
out <- list()
out$cbpp <- summ(glmer(cbind(incidence, size - incidence) ~ period + (1 | herd),
                       data = cbpp, family = binomial, nAGQ = 1))
out$cbpp_intercept <- summ(glmer(cbind(incidence, size - incidence) ~ 1 + (1 | herd),
                                 data = cbpp, family = binomial, nAGQ = 1))
out$sessions_case <- summ(glmer(case ~ session + pa + (1 | patient), data = sess,
                                family = binomial, nAGQ = 1))
tight <- glmerControl(optimizer = "bobyqa", tolPwrss = 1e-12,
                      optCtrl = list(rhoend = 1e-12, maxfun = 1e5))
out$cbpp_tight <- summ(glmer(cbind(incidence, size - incidence) ~ period + (1 | herd),
                             data = cbpp, family = binomial, nAGQ = 1, control = tight))
out$cbpp_intercept_tight <- summ(glmer(cbind(incidence, size - incidence) ~ 1 + (1 | herd),
                                       data = cbpp, family = binomial, nAGQ = 1, control = tight))
out$sessions_case_tight <- summ(glmer(case ~ session + pa + (1 | patient), data = sess,
                                      family = binomial, nAGQ = 1, control = tight))
out$versions <- list(R = R.version.string, lme4 = as.character(packageVersion("lme4")),
                     Matrix = as.character(packageVersion("Matrix")))
writeLines(toJSON(out, digits = I(15), auto_unbox = TRUE, pretty = TRUE, na = "null"),
           "tests/reference/glmer/glmer_cases.json")
