# Reference values for causalpa.longitudinal.gee (tests/test_gee.py) from geepack::geeglm.
# Run from the repository root:  Rscript tests/reference/geepack/geeglm_sessions.R
# Data: tests/reference/geepack/sessions.csv (made by make_sessions.py).
# geeglm's default convergence tolerance is epsilon = 1e-4 (on the parameter change), which
# leaves the solution about 1e-5 from the fixed point; the references are computed with
# epsilon = 1e-12 so they are the exact solution of geepack's estimating equations.
# The Mancl-DeRouen ("bias-reduced") sandwich is not in geepack; it is computed here by hand
# from geepack's fitted values (matrix algebra written independently of causalpa).
suppressPackageStartupMessages({library(geepack); library(jsonlite)})
d <- read.csv("tests/reference/geepack/sessions.csv", stringsAsFactors = FALSE)
d <- d[order(d$patient, d$session), ]
d$id <- as.integer(factor(d$patient))
ctrl <- geese.control(epsilon = 1e-12, maxit = 200)

# data with gaps in the session numbers (for AR(1) with waves): drop session 2 of 5 patients
gap <- d[!(d$session == 2 & d$patient %in% c("P03", "P07", "P11", "P19", "P23")), ]

md_se <- function(fit, data, family) {
  # Mancl & DeRouen (2001) bias-reduced sandwich: residuals inflated by (I - H_ii)^{-1}
  X <- model.matrix(fit); beta <- coef(fit); eta <- drop(X %*% beta)
  fam <- family; mu <- fam$linkinv(eta); me <- fam$mu.eta(eta); v <- fam$variance(mu)
  w <- if (is.null(fit$prior.weights)) rep(1, nrow(X)) else fit$prior.weights
  alpha <- if (length(fit$geese$alpha)) unname(fit$geese$alpha) else 0
  corstr <- fit$corstr
  ids <- split(seq_len(nrow(X)), data$id)
  Vinv <- list(); D <- list()
  for (k in seq_along(ids)) {
    i <- ids[[k]]; m <- length(i)
    R <- diag(m)
    if (corstr == "exchangeable" && m > 1) { R[,] <- alpha; diag(R) <- 1 }
    s <- sqrt(w[i] / v[i])
    Vinv[[k]] <- diag(s, m) %*% solve(R) %*% diag(s, m)
    D[[k]] <- me[i] * X[i, , drop = FALSE]
  }
  B <- Reduce(`+`, lapply(seq_along(ids), function(k) t(D[[k]]) %*% Vinv[[k]] %*% D[[k]]))
  Binv <- solve(B)
  M <- matrix(0, ncol(X), ncol(X))
  for (k in seq_along(ids)) {
    i <- ids[[k]]; r <- d_y[i] - mu[i]
    H <- D[[k]] %*% Binv %*% t(D[[k]]) %*% Vinv[[k]]
    rr <- solve(diag(length(i)) - H, r)
    u <- t(D[[k]]) %*% Vinv[[k]] %*% rr
    M <- M + u %*% t(u)
  }
  sqrt(diag(Binv %*% M %*% Binv))
}

out <- list()
run <- function(name, formula, data, family, corstr, weights = NULL, waves = NULL, md = FALSE) {
  data$.w <- if (is.null(weights)) 1 else data[[weights]]
  data$.wave <- if (is.null(waves)) NA else data[[waves]] + 1
  fit <- if (is.null(waves)) {
    geeglm(formula, data = data, id = id, family = family, corstr = corstr,
           weights = .w, control = ctrl)
  } else {
    geeglm(formula, data = data, id = id, family = family, corstr = corstr,
           weights = .w, waves = .wave, control = ctrl)
  }
  cs <- coef(summary(fit))
  res <- list(
    formula = deparse(formula), family = family$family, link = family$link,
    corstr = corstr, weights = if (is.null(weights)) NA else weights,
    waves = if (is.null(waves)) NA else waves,
    n = nrow(data), clusters = length(unique(data$id)),
    term = rownames(cs), estimate = unname(cs[, "Estimate"]),
    robust_se = unname(cs[, "Std.err"]),
    naive_se = unname(sqrt(diag(fit$geese$vbeta.naiv))),
    wald = unname(cs[, "Wald"]), p_value = unname(cs[, "Pr(>|W|)"]),
    alpha = if (length(fit$geese$alpha)) unname(fit$geese$alpha) else NA,
    scale = unname(fit$geese$gamma), error = fit$geese$error
  )
  if (md) {
    d_y <<- data[[all.vars(formula)[1]]]
    res$md_se <- md_se(fit, data, family)
  }
  out[[name]] <<- res
}
run("gaussian_exch_weighted", phq9 ~ session * pa + age, d, gaussian(), "exchangeable", "w", md = TRUE)
run("gaussian_indep_weighted", phq9 ~ session * pa + age, d, gaussian(), "independence", "w", md = TRUE)
run("binomial_exch_weighted", case ~ session + pa + age, d, binomial(), "exchangeable", "w", md = TRUE)
run("binomial_exch", case ~ session + pa, d, binomial(), "exchangeable")
run("gaussian_ar1_gaps", phq9 ~ session * pa, gap, gaussian(), "ar1", waves = "session")
run("gaussian_ar1_weighted_gaps", phq9 ~ session * pa + age, gap, gaussian(), "ar1", "w", waves = "session")
out$versions <- list(R = R.version.string, geepack = as.character(packageVersion("geepack")))
out$gap_rows_dropped <- list(session = 2, patients = c("P03", "P07", "P11", "P19", "P23"))
writeLines(toJSON(out, digits = I(15), auto_unbox = TRUE, pretty = TRUE, na = "null"),
           "tests/reference/geepack/geeglm_sessions.json")
