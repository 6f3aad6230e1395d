# Reference values for causalpa.weighting on NHEFS (Hernan & Robins, What If, ch. 12).
# WeightIt is not installed, so its vcov = "asympt" M-estimation sandwich is built by hand:
# the unit estimating functions of (propensity model, weighted outcome model) are stacked and
# the bread is a NUMERICAL Jacobian (five-point differences) - an implementation independent
# of causalpa's analytic one; effects by g-computation with WeightIt's averaging convention
# and a numerical delta method (as marginaleffects::avg_comparisons). The weights-known ("robust") SEs
# come from geepack::geeglm (HC0, as What If) and sandwich::vcovHC(type = "HC3").
# Entropy balancing weights: dual solved with optim (BFGS), then the same stacking.
# Run: Rscript nhefs_weighting.R   (reads nhefs.csv, writes nhefs_weighting.json)
suppressMessages({library(geepack); library(sandwich); library(jsonlite)})
d <- read.csv("nhefs.csv")
for (v in c("sex", "race", "education", "exercise", "active")) d[[v]] <- factor(d[[v]])
psf <- qsmk ~ sex + race + age + I(age^2) + education + smokeintensity + I(smokeintensity^2) +
  smokeyrs + I(smokeyrs^2) + exercise + active + wt71 + I(wt71^2)
Xps <- model.matrix(psf, d); tt <- d$qsmk; n <- nrow(d)
# default glm.control (epsilon = 1e-8), as WeightIt fits it
g <- glm(psf, data = d, family = binomial)
p1 <- mean(tt)

ipw <- function(e, estimand, stabilize) {
  w <- switch(estimand,
    ATE = tt / e + (1 - tt) / (1 - e),
    ATT = tt + (1 - tt) * e / (1 - e),
    ATC = tt * (1 - e) / e + (1 - tt),
    ATO = tt * (1 - e) + (1 - tt) * e)
  if (stabilize) w <- w * ifelse(tt == 1, p1, 1 - p1)
  w
}

# five-point central differences (error O(h^4)); step scaled by the parameter's column size
num_jac <- function(f, theta, scale = rep(1, length(theta))) {
  f0 <- f(theta); J <- matrix(0, length(f0), length(theta))
  for (j in seq_along(theta)) {
    h <- 1e-4 / scale[j]
    at <- function(k) { th <- theta; th[j] <- th[j] + k * h; f(th) }
    J[, j] <- (8 * (at(1) - at(-1)) - (at(2) - at(-2))) / (12 * h)
  }
  J
}

# generic stacked M-estimation as WeightIt's glm_weightit(vcov = "asympt") followed by
# marginaleffects::avg_comparisons: theta = (nuisance, beta); the g-computation average uses
# fixed averaging weights s (ATE: all units equally, ATT: treated, ATC: controls, ATO: the
# weights), delta method on beta.
# nuis_psi(theta_n) -> n x k matrix, wfun(theta_n) -> weights
stack_se <- function(theta_n, nuis_psi, wfun, y, Z, estimand, measure, logit, nscale = NULL) {
  Xo <- if (is.null(Z)) cbind(1, tt) else cbind(1, tt, Z, tt * Z)
  X1 <- if (is.null(Z)) cbind(1, 1) else cbind(1, 1, Z, Z)
  X0 <- if (is.null(Z)) cbind(1, 0) else cbind(1, 0, Z, 0 * Z)
  linv <- if (logit) plogis else identity
  w <- wfun(theta_n)
  s <- switch(estimand, ATT = tt, ATC = 1 - tt, ATO = w, rep(1, n))
  fam <- if (logit) quasibinomial() else gaussian()
  beta <- coef(suppressWarnings(glm.fit(Xo, y, weights = w, family = fam,
                                        control = glm.control(epsilon = 1e-14, maxit = 100))))
  kn <- length(theta_n); kb <- length(beta)
  psi <- function(theta) {
    tn <- theta[seq_len(kn)]; b <- theta[kn + seq_len(kb)]
    w <- wfun(tn)
    cbind(if (kn) nuis_psi(tn) else NULL, Xo * drop(w * (y - linv(drop(Xo %*% b)))))
  }
  theta <- c(theta_n, beta)
  P <- psi(theta)
  scale <- c(if (kn) nscale else NULL, pmax(1, apply(abs(Xo), 2, max)))
  J <- num_jac(function(th) colSums(psi(th)), theta, scale)
  Ji <- solve(J); V <- Ji %*% crossprod(P) %*% t(Ji)
  Vb <- V[kn + seq_len(kb), kn + seq_len(kb)]
  mus <- function(b) c(sum(s * linv(drop(X1 %*% b))), sum(s * linv(drop(X0 %*% b)))) / sum(s)
  contrast <- function(m) switch(measure, difference = m[1] - m[2],
    "risk ratio" = log(m[1] / m[2]), "odds ratio" = qlogis(m[1]) - qlogis(m[2]))
  gr <- drop(num_jac(function(b) contrast(mus(b)), beta, pmax(1, apply(abs(Xo), 2, max))))
  m <- mus(beta)
  list(estimate = contrast(m), se = sqrt(drop(t(gr) %*% Vb %*% gr)), mu1 = m[1], mu0 = m[2],
       max_abs_mean_psi = max(abs(colMeans(P))))
}

ps_case <- function(estimand, stabilize, outcome, Z = NULL, measure = "difference", logit = FALSE) {
  wfun <- function(gam) ipw(drop(plogis(Xps %*% gam)), estimand, stabilize)
  nuis <- function(gam) Xps * drop(tt - plogis(Xps %*% gam))
  y <- d[[outcome]]
  m <- stack_se(coef(g), nuis, wfun, y, Z, estimand, measure, logit,
                nscale = pmax(1, apply(abs(Xps), 2, max)))
  known <- stack_se(numeric(0), NULL, function(x) wfun(coef(g)), y, Z, estimand, measure, logit)
  c(m, list(se_weights_known_hc0 = known$se))
}

out <- list()
w_ate_s <- ipw(fitted(g), "ATE", TRUE)
out$weights_ate_stab <- w_ate_s
out$ps_coef <- unname(coef(g))
# What If program 12.4: geeglm with stabilised weights, robust SE
gee <- geeglm(wt82_71 ~ qsmk, data = cbind(d, sw = w_ate_s), weights = sw, id = seqn,
              corstr = "independence")
b <- coef(gee)[2]; se_gee <- sqrt(vcov(gee)[2, 2])
out$gee <- list(estimate = unname(b), se = se_gee, conf_low = unname(b - qnorm(0.975) * se_gee),
                conf_high = unname(b + qnorm(0.975) * se_gee))
fit_lm <- lm(wt82_71 ~ qsmk, data = d, weights = w_ate_s)
out$hc3 <- list(estimate = unname(coef(fit_lm)[2]), se = sqrt(vcovHC(fit_lm, type = "HC3")[2, 2]),
                df = fit_lm$df.residual)
out$ipw_ate_stab <- ps_case("ATE", TRUE, "wt82_71")
out$ipw_ate <- ps_case("ATE", FALSE, "wt82_71")
out$ipw_att <- ps_case("ATT", FALSE, "wt82_71")
out$ipw_atc <- ps_case("ATC", FALSE, "wt82_71")
out$ipw_ato <- ps_case("ATO", FALSE, "wt82_71")
Zadj <- model.matrix(~ age + sex, d)[, -1]
out$ipw_ate_stab_adjust <- ps_case("ATE", TRUE, "wt82_71", Z = Zadj)
out$ipw_att_adjust <- ps_case("ATT", FALSE, "wt82_71", Z = Zadj)
out$ipw_ate_stab_rd_death <- ps_case("ATE", TRUE, "death")
out$ipw_ate_stab_rr_death <- ps_case("ATE", TRUE, "death", measure = "risk ratio", logit = TRUE)
out$ipw_ate_or_death_adjust <- ps_case("ATE", FALSE, "death", Z = Zadj, measure = "odds ratio", logit = TRUE)

# trimming as WeightIt::trim(at = 0.95) (quantile type 3, upper only) on unstabilised ATE weights
w_ate <- ipw(fitted(g), "ATE", FALSE)
q <- quantile(w_ate, 0.95, type = 3)
out$weights_ate_trim95 <- pmin(w_ate, q)
w_att <- ipw(fitted(g), "ATT", FALSE)
ctrl <- tt == 0
qa <- quantile(w_att[ctrl], c(0.1, 0.9), type = 3)   # ATT: treated weights all 1, not trimmed
out$weights_att_trim90_lower <- ifelse(ctrl, pmin(pmax(w_att, qa[1]), qa[2]), w_att)
srt <- sort(w_ate); out$weights_ate_trim_top5 <- pmin(w_ate, srt[n - 5])

# entropy balancing (ATT): controls reweighted to the treated means of the PS model's columns
C <- Xps[, -1]; C <- scale(C)
target <- colMeans(C[tt == 1, ])
dual <- function(l) log(sum(exp(drop(sweep(C[ctrl, ], 2, target) %*% l))))
dgr <- function(l) { a <- drop(sweep(C[ctrl, ], 2, target) %*% l); p <- exp(a - max(a)); p <- p / sum(p)
  colSums(sweep(C[ctrl, ], 2, target) * p) }
o <- optim(rep(0, ncol(C)), dual, dgr, method = "BFGS", control = list(reltol = 1e-16, maxit = 10000))
lam <- o$par
for (it in 1:20) {  # Newton polish of the dual
  D <- sweep(C[ctrl, ], 2, target); a <- drop(D %*% lam); p <- exp(a - max(a)); p <- p / sum(p)
  gr <- colSums(D * p); H <- crossprod(D * sqrt(p)) - tcrossprod(gr); lam <- lam - solve(H, gr)
}
we <- rep(1, n); a <- drop(C[ctrl, ] %*% lam); we[ctrl] <- exp(a) / mean(exp(a))
out$weights_ebal_att <- we
out$ebal_balance_maxdiff <- max(abs(colSums(C[ctrl, ] * we[ctrl]) / sum(we[ctrl]) - target))
k <- ncol(C)
scl <- 1 / mean(exp(drop(sweep(C[ctrl, ], 2, target) %*% lam)))
wfun_e <- function(th) { m <- th[1:k]; l <- th[k + 1:k]
  ifelse(ctrl, exp(drop(sweep(C, 2, m) %*% l)) * scl, 1) }
nuis_e <- function(th) { m <- th[1:k]; l <- th[k + 1:k]; D <- sweep(C, 2, m)
  cbind(D * tt, D * ((1 - tt) * exp(drop(D %*% l)))) }
out$ebal_att <- stack_se(c(target, lam), nuis_e, wfun_e, d$wt82_71, NULL, "ATT", "difference",
                         FALSE, nscale = rep(3, 2 * k))
out$versions <- list(R = R.version.string, geepack = as.character(packageVersion("geepack")),
                     sandwich = as.character(packageVersion("sandwich")))
write_json(out, "nhefs_weighting.json", digits = NA, auto_unbox = TRUE)
cat(sprintf("gee %.4f (%.4f, %.4f)\n", out$gee$estimate, out$gee$conf_low, out$gee$conf_high))
str(out[c("ipw_ate_stab", "ipw_att", "ipw_ato", "ipw_ate_stab_adjust", "ipw_ate_stab_rr_death", "ebal_att", "hc3")])
