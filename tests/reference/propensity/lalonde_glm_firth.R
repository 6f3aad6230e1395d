# Reference values for causalpa.propensity: logistic (glm) and Firth on MatchIt's lalonde.
# Firth: maximise the Jeffreys-penalised log-likelihood l(b) + 0.5 log|X'WX| with optim
# (BFGS, then Nelder-Mead polish), an algorithm independent of causalpa's modified-score Newton.
# Run: Rscript lalonde_glm_firth.R  (writes lalonde.csv and lalonde_glm_firth.json)
suppressMessages({library(MatchIt); library(jsonlite)})
data(lalonde, package = "MatchIt")
lalonde$race <- as.character(lalonde$race)
write.csv(lalonde, "lalonde.csv", row.names = FALSE)
f <- treat ~ age + educ + race + married + nodegree + re74 + re75
# default glm.control (epsilon = 1e-8), as MatchIt and WeightIt fit it
g <- glm(f, data = lalonde, family = binomial)
X <- model.matrix(f, lalonde); y <- lalonde$treat
# optimise on standardised columns (the Jeffreys penalty is invariant to reparametrisation),
# then map back: b = S %*% b_std
sdv <- c(1, apply(X[, -1], 2, sd)); mu <- c(0, colMeans(X[, -1]))
Xstd <- sweep(sweep(X, 2, mu), 2, sdv, "/"); Xstd[, 1] <- 1
Xorig <- X; X <- Xstd
pen <- function(b) { eta <- drop(X %*% b); p <- plogis(eta); w <- p * (1 - p)
  sum(y * eta - log1p(exp(eta))) + 0.5 * determinant(crossprod(X * sqrt(w)), logarithm = TRUE)$modulus }
grad <- function(b) { eta <- drop(X %*% b); p <- plogis(eta); w <- p * (1 - p)
  A <- X * sqrt(w); H <- A %*% solve(crossprod(A), t(A)); h <- diag(H)
  drop(crossprod(X, y - p + h * (0.5 - p))) }
o <- optim(rep(0, ncol(X)), function(b) -pen(b), function(b) -grad(b), method = "BFGS",
           control = list(reltol = 1e-16, maxit = 5000))
o <- optim(o$par, function(b) -pen(b), function(b) -grad(b), method = "BFGS",
           control = list(reltol = 1e-16, maxit = 5000))
bstd <- o$par
firth_coef <- c(bstd[1] - sum(bstd[-1] * mu[-1] / sdv[-1]), bstd[-1] / sdv[-1])
# small separated example (quasi-complete separation in x) for Firth
sep <- data.frame(x = c(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), z = c(0.3, -1, 2, 0.5, -0.2, 1.1, 0, 0.4, -0.7, 1.5),
                  t = c(0, 0, 0, 0, 1, 0, 1, 1, 1, 1))
Xs <- model.matrix(~ x + z, sep); ys <- sep$t
pens <- function(b) { eta <- drop(Xs %*% b); p <- plogis(eta); w <- p * (1 - p)
  sum(ys * eta - log1p(exp(eta))) + 0.5 * determinant(crossprod(Xs * sqrt(w)), logarithm = TRUE)$modulus }
os <- optim(c(0, 0, 0), function(b) -pens(b), method = "BFGS", control = list(reltol = 1e-16, maxit = 5000))
os <- optim(os$par, function(b) -pens(b), method = "Nelder-Mead", control = list(reltol = 1e-16, maxit = 20000))
out <- list(
  glm_coef = unname(coef(g)), glm_names = names(coef(g)), glm_fitted = unname(fitted(g)),
  glm_deviance = deviance(g), glm_iter = g$iter,
  firth_coef = unname(firth_coef), firth_value = -o$value, firth_grad_norm_std = sqrt(sum(grad(o$par)^2)),
  sep_data = sep, sep_firth_coef = os$par, sep_firth_value = -os$value,
  versions = list(R = R.version.string, MatchIt = as.character(packageVersion("MatchIt"))))
write_json(out, "lalonde_glm_firth.json", digits = NA, auto_unbox = TRUE, pretty = TRUE)
