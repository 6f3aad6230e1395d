# Reference effect estimates after matching (MatchIt vignette "Estimating Effects After
# Matching"): lm(..., weights) + sandwich::vcovCL(~subclass) / vcovHC, CR2 from
# clubSandwich, and g-computation (avg_comparisons equivalent, computed by hand:
# average over the focal units of predicted Y(1) - Y(0), delta method with the
# cluster-robust vcov, covariates held fixed) for continuous and binary outcomes.
# The matched samples come from lalonde_matching.R's classic-path matches, rebuilt
# here with the same distance-matrix call.
# Run: Rscript lalonde_estimation.R   (writes lalonde_estimation.json)
suppressPackageStartupMessages({library(MatchIt); library(sandwich); library(clubSandwich); library(jsonlite)})
data("lalonde", package = "MatchIt")
lalonde$id <- rownames(lalonde)
f <- treat ~ age + educ + race + married + nodegree + re74 + re75
ps <- unname(glm(f, data = lalonde, family = binomial)$fitted.values)

match_matrix_path <- function(ratio, caliper, replace = FALSE) {
  t1 <- which(lalonde$treat == 1); t0 <- which(lalonde$treat == 0)
  idx <- c(t1[order(-ps[t1])], t0)
  dat <- lalonde[idx, ]; dd <- ps[idx]
  D <- abs(outer(dd[dat$treat == 1], dd[dat$treat == 0], "-"))
  args <- list(formula = f, data = dat, distance = D, ratio = ratio, replace = replace)
  if (!is.null(caliper)) { args$caliper <- caliper * sd(ps); args$std.caliper <- FALSE }
  m <- do.call(matchit, args)
  md <- match.data(m)
  md
}

adj <- ~ age + educ + race + married + nodegree + re74 + re75
gcomp <- function(fit, md, V, focal, measure) {
  nd1 <- md; nd1$treat <- 1; nd0 <- md; nd0$treat <- 0
  X1 <- model.matrix(delete.response(terms(fit)), nd1)
  X0 <- model.matrix(delete.response(terms(fit)), nd0)
  w <- md$weights * focal; w <- w / sum(w)
  b <- coef(fit)
  if (inherits(fit, "glm")) {
    p1 <- plogis(drop(X1 %*% b)); p0 <- plogis(drop(X0 %*% b))
    P1 <- sum(w * p1); P0 <- sum(w * p0)
    d1 <- colSums(w * p1 * (1 - p1) * X1); d0 <- colSums(w * p0 * (1 - p0) * X0)
    if (measure == "rd") { est <- P1 - P0; g <- d1 - d0 }
    if (measure == "lnrr") { est <- log(P1 / P0); g <- d1 / P1 - d0 / P0 }
    if (measure == "lnor") { est <- qlogis(P1) - qlogis(P0); g <- d1 / (P1 * (1 - P1)) - d0 / (P0 * (1 - P0)) }
  } else {
    est <- sum(w * drop((X1 - X0) %*% b)); g <- colSums(w * (X1 - X0))
  }
  c(estimate = est, std_error = sqrt(drop(t(g) %*% V %*% g)))
}

out <- list()
for (cs in list(list(name = "nn1_cal02", ratio = 1, caliper = 0.2),
                list(name = "nn2_cal02", ratio = 2, caliper = 0.2),
                list(name = "nn1", ratio = 1, caliper = NULL))) {
  md <- match_matrix_path(cs$ratio, cs$caliper)
  md$employed78 <- as.integer(md$re78 > 0)
  fit <- lm(re78 ~ treat, data = md, weights = weights)
  res <- list(name = cs$name, ids = md$id, weights = md$weights, subclass = as.character(md$subclass),
    estimate = unname(coef(fit)["treat"]),
    se_cl_hc1 = sqrt(vcovCL(fit, cluster = ~subclass)["treat", "treat"]),
    se_cl_hc0 = sqrt(vcovCL(fit, cluster = ~subclass, type = "HC0")["treat", "treat"]),
    se_cr2 = sqrt(vcovCR(fit, cluster = md$subclass, type = "CR2")["treat", "treat"]),
    se_hc = sapply(c("HC0", "HC1", "HC2", "HC3"), function(t) sqrt(vcovHC(fit, type = t)["treat", "treat"])))
  fita <- lm(update(adj, re78 ~ treat * (.)), data = md, weights = weights)
  res$adjusted <- gcomp(fita, md, vcovCL(fita, cluster = ~subclass), md$treat == 1, "diff")
  res$adjusted_cr2 <- gcomp(fita, md, as.matrix(vcovCR(fita, cluster = md$subclass, type = "CR2")), md$treat == 1, "diff")
  fitb <- glm(employed78 ~ treat, data = md, weights = weights, family = quasibinomial())
  fitba <- glm(update(adj, employed78 ~ treat * (.)), data = md, weights = weights, family = quasibinomial())
  Vb <- vcovCL(fitb, cluster = ~subclass); Vba <- vcovCL(fitba, cluster = ~subclass)
  for (ms in c("rd", "lnrr", "lnor")) {
    res[[paste0("binary_", ms)]] <- gcomp(fitb, md, Vb, md$treat == 1, ms)
    res[[paste0("binary_adj_", ms)]] <- gcomp(fitba, md, Vba, md$treat == 1, ms)
  }
  out[[length(out) + 1]] <- res
}
write_json(list(versions = list(R = R.version.string, MatchIt = as.character(packageVersion("MatchIt")),
                                sandwich = as.character(packageVersion("sandwich")),
                                clubSandwich = as.character(packageVersion("clubSandwich"))),
                cases = out), "lalonde_estimation.json", digits = NA, auto_unbox = TRUE)
