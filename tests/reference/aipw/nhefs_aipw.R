# Direct R computation of AIPW (ATE and ATT) on NHEFS for causalpa.aipw:
# logistic propensity model (glm), linear (or logistic) outcome models fitted separately
# in each arm, influence-function standard errors sqrt(sum(phi^2)) / n.
# Run: Rscript nhefs_aipw.R   (reads ../weightit/nhefs.csv, writes nhefs_aipw.json)
suppressMessages(library(jsonlite))
d <- read.csv("../weightit/nhefs.csv")
for (v in c("sex", "race", "education", "exercise", "active")) d[[v]] <- factor(d[[v]])
rhs <- ~ sex + race + age + I(age^2) + education + smokeintensity + I(smokeintensity^2) +
  smokeyrs + I(smokeyrs^2) + exercise + active + wt71 + I(wt71^2)
tt <- d$qsmk; n <- nrow(d)
e <- fitted(glm(update(rhs, qsmk ~ .), data = d, family = binomial,
                control = glm.control(epsilon = 1e-14, maxit = 100)))
arm_pred <- function(y, fam) {
  dd <- cbind(d, .y = y)
  f <- update(rhs, .y ~ .)
  m1 <- predict(glm(f, data = dd[tt == 1, ], family = fam), newdata = dd, type = "response")
  m0 <- predict(glm(f, data = dd[tt == 0, ], family = fam), newdata = dd, type = "response")
  list(m1 = unname(m1), m0 = unname(m0))
}
aipw <- function(y, fam, measure = "difference") {
  m <- arm_pred(y, fam)
  a1 <- m$m1 + tt * (y - m$m1) / e; a0 <- m$m0 + (1 - tt) * (y - m$m0) / (1 - e)
  mu1 <- mean(a1); mu0 <- mean(a0)
  p <- mean(tt); a0t <- tt * m$m0 + (1 - tt) * e / (1 - e) * (y - m$m0)
  mu1t <- sum(tt * y) / sum(tt); mu0t <- sum(a0t) / sum(tt)
  phi1t <- tt * (y - mu1t) / p; phi0t <- (a0t - tt * mu0t) / p
  res <- function(mu1, mu0, p1, p0) {
    if (measure == "difference") { est <- mu1 - mu0; phi <- p1 - p0 }
    if (measure == "risk ratio") { est <- log(mu1 / mu0); phi <- p1 / mu1 - p0 / mu0 }
    if (measure == "odds ratio") { est <- qlogis(mu1) - qlogis(mu0)
      phi <- p1 / (mu1 * (1 - mu1)) - p0 / (mu0 * (1 - mu0)) }
    list(estimate = est, se = sqrt(sum(phi^2)) / n, mu1 = mu1, mu0 = mu0)
  }
  list(ATE = res(mu1, mu0, a1 - mu1, a0 - mu0), ATT = res(mu1t, mu0t, phi1t, phi0t))
}
out <- list(wt82_71 = aipw(d$wt82_71, gaussian()),
            death_rd = aipw(d$death, binomial()),
            death_rr = aipw(d$death, binomial(), "risk ratio"),
            death_or = aipw(d$death, binomial(), "odds ratio"),
            versions = list(R = R.version.string))
write_json(out, "nhefs_aipw.json", digits = NA, auto_unbox = TRUE, pretty = TRUE)
str(out$wt82_71)
