# Reference values for causalpa.longitudinal.panel (tests/test_panel.py): within-patient
# fixed-effects regressions fitted as lm() with patient dummies, cluster-robust covariance from
# sandwich::vcovCL (independent of linearmodels, which cpa.panel uses).
# Run from the repository root:  Rscript tests/reference/panel/panel_fe.R
# Data: tests/reference/geepack/sessions.csv; therapist = T1..T8, five consecutive patients each.
# Stored: "cr0" = vcovCL(type = "HC0", cadjust = FALSE) (no small-sample factor) for the
# identified coefficients; the test applies the documented factor G/(G-1) * (n-1)/(n-K)
# (K = regressors not absorbed by the fixed effects; the Stata xtreg / fixest convention).
# "hc1_lm" = vcovCL(type = "HC1") on the dummy regression (K counts every dummy) for information.
suppressPackageStartupMessages({library(sandwich); library(jsonlite)})
d <- read.csv("tests/reference/geepack/sessions.csv", stringsAsFactors = FALSE)
d$therapist <- paste0("T", (as.integer(sub("P", "", d$patient)) - 1) %/% 5 + 1)
out <- list()
run <- function(name, formula, keep, cluster) {
  fit <- lm(formula, data = d)
  cl <- as.formula(paste("~", cluster))
  V0 <- vcovCL(fit, cluster = cl, type = "HC0", cadjust = FALSE)[keep, keep, drop = FALSE]
  V1 <- vcovCL(fit, cluster = cl, type = "HC1")[keep, keep, drop = FALSE]
  out[[name]] <<- list(
    formula = deparse(formula), cluster = cluster, term = keep,
    estimate = unname(coef(fit)[keep]), cr0 = unname(V0),
    se_cr0 = unname(sqrt(diag(V0))), se_hc1_lm = unname(sqrt(diag(V1))),
    n = nrow(d), clusters = length(unique(d[[cluster]])), rank_lm = fit$rank,
    residual_ss = sum(residuals(fit)^2)
  )
}
run("entity_patient", phq9 ~ session + session:pa + factor(patient),
    c("session", "session:pa"), "patient")
run("entity_therapist", phq9 ~ session + session:pa + factor(patient),
    c("session", "session:pa"), "therapist")
run("entity_time_patient", phq9 ~ session:pa + factor(patient) + factor(session),
    c("session:pa"), "patient")
out$versions <- list(R = R.version.string, sandwich = as.character(packageVersion("sandwich")))
writeLines(toJSON(out, digits = I(15), auto_unbox = TRUE, pretty = TRUE),
           "tests/reference/panel/panel_fe.json")
