# Reference values for causalpa.power.analytic from R's pwr package.
#
# Run from the repository root:  Rscript tests/reference/pwr/pwr_cases.R
# Writes tests/reference/pwr/pwr_cases.csv, uniroot_cases.csv and pwr_versions.json.
#
# Two kinds of value are stored for every case:
#   value_pwr   what pwr returns as is. When pwr solves for n or an effect size
#               it calls uniroot() with its default tolerance
#               (.Machine$double.eps^0.25, about 1.2e-4 absolute), so solved
#               values are only that accurate.
#   value_tight pwr's own power function (the same call with every argument
#               given) solved with uniroot(tol = 1e-12). This is the exact root
#               that causalpa's exact=True solves are compared with.
#   iter_pwr    for solved values, the number of iterations uniroot() takes to
#               reach value_pwr: pwr's own call is repeated (same function,
#               interval and tolerance), checked to give the identical root, and
#               its $iter kept. causalpa's default solves (a port of uniroot)
#               must reproduce value_pwr and take the same number of iterations.
# For power (nothing solved) value_pwr and value_tight are identical.
# Numbers are written with 17 significant digits (exact doubles).
suppressPackageStartupMessages({library(pwr); library(jsonlite)})

rows <- list()
add <- function(case, fun, target, value_pwr, value_tight, d = NA, h = NA, n = NA,
                n1 = NA, n2 = NA, power = NA, sig.level = 0.05, alternative = "two.sided",
                p1 = NA, p2 = NA, iter_pwr = NA) {
  rows[[length(rows) + 1]] <<- data.frame(
    case = case, fun = fun, target = target, d = d, h = h, p1 = p1, p2 = p2, n = n,
    n1 = n1, n2 = n2, power = power, sig.level = sig.level, alternative = alternative,
    value_pwr = value_pwr, value_tight = value_tight, iter_pwr = iter_pwr,
    stringsAsFactors = FALSE)
}
tight <- function(f, lower, upper) uniroot(f, c(lower, upper), tol = 1e-12,
                                           maxiter = 10000)$root
# pwr's uniroot call repeated: same root as pwr (checked), and its iteration count
path <- function(f, lower, upper, value_pwr) {
  u <- uniroot(f, c(lower, upper))
  stopifnot(identical(u$root, value_pwr))
  u$iter
}
N_LO <- 2 + 1e-10
N_HI <- 1e+09
# pwr's intervals for d (h: lower end 1e-10 for two.sided)
eff_lo <- function(alt, two = 1e-7) if (alt == "two.sided") two else if (alt == "less") -10 else -5
eff_hi <- function(alt) if (alt == "less") 5 else 10
alts <- c("two.sided", "greater", "less")

# ---- pwr.t.test (two-sample, equal n)
k <- 0
for (alt in alts) {
  for (d in c(0.2, 0.43, 0.5, 0.8)) {
    dd <- if (alt == "less") -d else d
    for (n in c(10, 38, 86, 200)) {
      k <- k + 1
      v <- pwr.t.test(n = n, d = dd, sig.level = 0.05, alternative = alt)$power
      add(sprintf("t_power_%d", k), "pwr.t.test", "power", v, v, d = dd, n = n,
          alternative = alt)
    }
    for (pw in c(0.8, 0.9)) {
      for (a in c(0.05, 0.01)) {
        k <- k + 1
        vp <- pwr.t.test(d = dd, power = pw, sig.level = a, alternative = alt)$n
        f <- function(n) pwr.t.test(n = n, d = dd, sig.level = a, alternative = alt)$power - pw
        vt <- tight(f, 2 + 1e-10, 1e5)
        add(sprintf("t_n_%d", k), "pwr.t.test", "n", vp, vt, d = dd, power = pw,
            sig.level = a, alternative = alt, iter_pwr = path(f, N_LO, N_HI, vp))
      }
    }
  }
  for (n in c(20, 38, 100)) {
    k <- k + 1
    vp <- pwr.t.test(n = n, power = 0.8, sig.level = 0.05, alternative = alt)$d
    lo <- if (alt == "two.sided") 1e-7 else if (alt == "less") -10 else -5
    hi <- if (alt == "two.sided") 10 else if (alt == "less") 5 else 10
    f <- function(d) pwr.t.test(n = n, d = d, sig.level = 0.05, alternative = alt)$power - 0.8
    vt <- tight(f, lo, hi)
    add(sprintf("t_d_%d", k), "pwr.t.test", "d", vp, vt, n = n, power = 0.8,
        alternative = alt, iter_pwr = path(f, eff_lo(alt), eff_hi(alt), vp))
  }
}

# ---- pwr.t2n.test (two-sample, unequal n)
k <- 0
for (alt in alts) {
  for (d in c(0.43, 0.6)) {
    dd <- if (alt == "less") -d else d
    for (nn in list(c(16, 22), c(50, 100), c(120, 80))) {
      k <- k + 1
      v <- pwr.t2n.test(n1 = nn[1], n2 = nn[2], d = dd, alternative = alt)$power
      add(sprintf("t2n_power_%d", k), "pwr.t2n.test", "power", v, v, d = dd,
          n1 = nn[1], n2 = nn[2], alternative = alt)
    }
    for (n2 in c(60, 150)) {
      k <- k + 1
      vp <- pwr.t2n.test(n2 = n2, d = dd, power = 0.8, alternative = alt)$n1
      f <- function(n1) pwr.t2n.test(n1 = n1, n2 = n2, d = dd, alternative = alt)$power - 0.8
      vt <- tight(f, 2 + 1e-10, 1e5)
      add(sprintf("t2n_n1_%d", k), "pwr.t2n.test", "n1", vp, vt, d = dd, n2 = n2,
          power = 0.8, alternative = alt, iter_pwr = path(f, N_LO, N_HI, vp))
    }
  }
  k <- k + 1
  vp <- pwr.t2n.test(n1 = 40, n2 = 70, power = 0.8, alternative = alt)$d
  lo <- if (alt == "two.sided") 1e-7 else if (alt == "less") -10 else -5
  hi <- if (alt == "two.sided") 10 else if (alt == "less") 5 else 10
  f <- function(d) pwr.t2n.test(n1 = 40, n2 = 70, d = d, alternative = alt)$power - 0.8
  vt <- tight(f, lo, hi)
  add(sprintf("t2n_d_%d", k), "pwr.t2n.test", "d", vp, vt, n1 = 40, n2 = 70, power = 0.8,
      alternative = alt, iter_pwr = path(f, eff_lo(alt), eff_hi(alt), vp))
}

# ---- pwr.2p.test / pwr.2p2n.test (arcsine, Cohen's h)
k <- 0
props <- list(c(0.63, 0.36), c(0.5, 0.4), c(0.2, 0.1))
for (alt in alts) {
  for (pp in props) {
    h <- ES.h(pp[1], pp[2])
    hh <- if (alt == "less") -h else h
    p1 <- if (alt == "less") pp[2] else pp[1]
    p2 <- if (alt == "less") pp[1] else pp[2]
    for (n in c(38, 53, 150)) {
      k <- k + 1
      v <- pwr.2p.test(h = hh, n = n, alternative = alt)$power
      add(sprintf("p_power_%d", k), "pwr.2p.test", "power", v, v, h = hh, p1 = p1, p2 = p2,
          n = n, alternative = alt)
    }
    for (pw in c(0.8, 0.9)) {
      k <- k + 1
      vp <- pwr.2p.test(h = hh, power = pw, alternative = alt)$n
      f <- function(n) pwr.2p.test(h = hh, n = n, alternative = alt)$power - pw
      vt <- tight(f, 2 + 1e-10, 1e6)
      add(sprintf("p_n_%d", k), "pwr.2p.test", "n", vp, vt, h = hh, p1 = p1, p2 = p2,
          power = pw, alternative = alt, iter_pwr = path(f, N_LO, N_HI, vp))
    }
    for (nn in list(c(16, 22), c(60, 90))) {
      k <- k + 1
      v <- pwr.2p2n.test(h = hh, n1 = nn[1], n2 = nn[2], alternative = alt)$power
      add(sprintf("p2n_power_%d", k), "pwr.2p2n.test", "power", v, v, h = hh, p1 = p1,
          p2 = p2, n1 = nn[1], n2 = nn[2], alternative = alt)
    }
    k <- k + 1
    vp <- pwr.2p2n.test(h = hh, n2 = 400, power = 0.8, alternative = alt)$n1
    f <- function(n1) pwr.2p2n.test(h = hh, n1 = n1, n2 = 400, alternative = alt)$power - 0.8
    vt <- tight(f, 2 + 1e-10, 1e6)
    add(sprintf("p2n_n1_%d", k), "pwr.2p2n.test", "n1", vp, vt, h = hh, p1 = p1, p2 = p2,
        n2 = 400, power = 0.8, alternative = alt, iter_pwr = path(f, N_LO, N_HI, vp))
  }
  k <- k + 1
  vp <- pwr.2p.test(n = 60, power = 0.8, alternative = alt)$h
  lo <- if (alt == "two.sided") 1e-10 else if (alt == "less") -10 else -5
  hi <- if (alt == "two.sided") 10 else if (alt == "less") 5 else 10
  f <- function(h) pwr.2p.test(h = h, n = 60, alternative = alt)$power - 0.8
  vt <- tight(f, lo, hi)
  add(sprintf("p_h_%d", k), "pwr.2p.test", "h", vp, vt, n = 60, power = 0.8, alternative = alt,
      iter_pwr = path(f, eff_lo(alt, 1e-10), eff_hi(alt), vp))
}

# ---- further solves: extreme and small effects, other sig.level / power, unequal-n h
k <- 0
for (alt in alts) {
  sgn <- if (alt == "less") -1 else 1
  for (d in c(0.05, 1.5, 2.5)) {
    k <- k + 1
    dd <- sgn * d
    vp <- pwr.t.test(d = dd, power = 0.8, alternative = alt)$n
    f <- function(n) pwr.t.test(n = n, d = dd, alternative = alt)$power - 0.8
    add(sprintf("t_nx_%d", k), "pwr.t.test", "n", vp, tight(f, 2 + 1e-10, 1e5), d = dd,
        power = 0.8, alternative = alt, iter_pwr = path(f, N_LO, N_HI, vp))
  }
  for (n in c(5, 500)) {
    k <- k + 1
    vp <- pwr.t.test(n = n, power = 0.9, sig.level = 0.01, alternative = alt)$d
    f <- function(d) pwr.t.test(n = n, d = d, sig.level = 0.01, alternative = alt)$power - 0.9
    lo <- if (alt == "two.sided") 1e-7 else if (alt == "less") -10 else -5
    hi <- if (alt == "less") 5 else 10
    add(sprintf("t_dx_%d", k), "pwr.t.test", "d", vp, tight(f, lo, hi), n = n, power = 0.9,
        sig.level = 0.01, alternative = alt, iter_pwr = path(f, eff_lo(alt), eff_hi(alt), vp))
  }
  k <- k + 1
  vp <- pwr.t2n.test(n1 = 15, n2 = 45, power = 0.9, sig.level = 0.01, alternative = alt)$d
  f <- function(d) pwr.t2n.test(n1 = 15, n2 = 45, d = d, sig.level = 0.01,
                                alternative = alt)$power - 0.9
  lo <- if (alt == "two.sided") 1e-7 else if (alt == "less") -10 else -5
  hi <- if (alt == "less") 5 else 10
  add(sprintf("t2n_dx_%d", k), "pwr.t2n.test", "d", vp, tight(f, lo, hi), n1 = 15, n2 = 45,
      power = 0.9, sig.level = 0.01, alternative = alt,
      iter_pwr = path(f, eff_lo(alt), eff_hi(alt), vp))
  k <- k + 1
  vp <- pwr.2p2n.test(n1 = 40, n2 = 70, power = 0.8, alternative = alt)$h
  f <- function(h) pwr.2p2n.test(h = h, n1 = 40, n2 = 70, alternative = alt)$power - 0.8
  lo <- if (alt == "two.sided") 1e-10 else if (alt == "less") -10 else -5
  add(sprintf("p2n_h_%d", k), "pwr.2p2n.test", "h", vp, tight(f, lo, hi), n1 = 40, n2 = 70,
      power = 0.8, alternative = alt, iter_pwr = path(f, eff_lo(alt, 1e-10), eff_hi(alt), vp))
  k <- k + 1
  vp <- pwr.2p.test(h = sgn * 0.3, power = 0.9, sig.level = 0.01, alternative = alt)$n
  f <- function(n) pwr.2p.test(h = sgn * 0.3, n = n, sig.level = 0.01,
                               alternative = alt)$power - 0.9
  add(sprintf("p_nx_%d", k), "pwr.2p.test", "n", vp, tight(f, 2 + 1e-10, 1e6), h = sgn * 0.3,
      power = 0.9, sig.level = 0.01, alternative = alt, iter_pwr = path(f, N_LO, N_HI, vp))
}

out <- do.call(rbind, rows)
# exact doubles: 17 significant digits (write.csv would keep only 15)
num <- vapply(out, is.double, logical(1))
out[num] <- lapply(out[num], function(x) ifelse(is.na(x), NA, sprintf("%.17g", x)))
here <- "tests/reference/pwr"
write.csv(out, file.path(here, "pwr_cases.csv"), row.names = FALSE, quote = which(!num))
# ---- uniroot itself (for causalpa.power._uniroot): root, iterations, estim.prec
fs <- list(sq2 = function(x) x * x - 2, cos = function(x) cos(x) - x,
           exp = function(x) exp(x) - 5, tanh = function(x) tanh(x - 0.3))
ivs <- list(sq2 = c(0, 2), cos = c(-1, 3), exp = c(0, 10), tanh = c(-4, 1000))
ur <- list()
for (nm in names(fs)) for (tol in c(.Machine$double.eps^0.25, 1e-10)) {
  u <- uniroot(fs[[nm]], ivs[[nm]], tol = tol)
  ur[[length(ur) + 1]] <- data.frame(fun = nm, lower = ivs[[nm]][1], upper = ivs[[nm]][2],
                                     tol = sprintf("%.17g", tol), root = sprintf("%.17g", u$root),
                                     iter = u$iter, estim_prec = sprintf("%.17g", u$estim.prec))
}
write.csv(do.call(rbind, ur), file.path(here, "uniroot_cases.csv"), row.names = FALSE,
          quote = 1L)
writeLines(toJSON(list(R = R.version.string, pwr = as.character(packageVersion("pwr")),
                       generated = format(Sys.time(), tz = "UTC", usetz = TRUE)),
                  auto_unbox = TRUE, pretty = TRUE),
           file.path(here, "pwr_versions.json"))
cat(nrow(out), "cases written\n")
