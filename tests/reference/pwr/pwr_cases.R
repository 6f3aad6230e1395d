# Reference values for causalpa.power.analytic from R's pwr package.
#
# Run from the repository root:  Rscript tests/reference/pwr/pwr_cases.R
# Writes tests/reference/pwr/pwr_cases.csv and pwr_versions.json.
#
# Two kinds of value are stored for every case:
#   value_pwr   what pwr returns as is. When pwr solves for n or an effect size
#               it calls uniroot() with its default tolerance
#               (.Machine$double.eps^0.25, about 1.2e-4 absolute), so solved
#               values are only that accurate.
#   value_tight pwr's own power function (the same call with every argument
#               given) solved with uniroot(tol = 1e-12). This is the exact root
#               that causalpa is compared with at 1e-6 relative tolerance.
# For power (nothing solved) the two are identical.
suppressPackageStartupMessages({library(pwr); library(jsonlite)})

rows <- list()
add <- function(case, fun, target, value_pwr, value_tight, d = NA, h = NA, n = NA,
                n1 = NA, n2 = NA, power = NA, sig.level = 0.05, alternative = "two.sided",
                p1 = NA, p2 = NA) {
  rows[[length(rows) + 1]] <<- data.frame(
    case = case, fun = fun, target = target, d = d, h = h, p1 = p1, p2 = p2, n = n,
    n1 = n1, n2 = n2, power = power, sig.level = sig.level, alternative = alternative,
    value_pwr = value_pwr, value_tight = value_tight, stringsAsFactors = FALSE)
}
tight <- function(f, lower, upper) uniroot(f, c(lower, upper), tol = 1e-12,
                                           maxiter = 10000)$root
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
        vt <- tight(function(n) pwr.t.test(n = n, d = dd, sig.level = a,
                                           alternative = alt)$power - pw, 2 + 1e-10, 1e5)
        add(sprintf("t_n_%d", k), "pwr.t.test", "n", vp, vt, d = dd, power = pw,
            sig.level = a, alternative = alt)
      }
    }
  }
  for (n in c(20, 38, 100)) {
    k <- k + 1
    vp <- pwr.t.test(n = n, power = 0.8, sig.level = 0.05, alternative = alt)$d
    lo <- if (alt == "two.sided") 1e-7 else if (alt == "less") -10 else -5
    hi <- if (alt == "two.sided") 10 else if (alt == "less") 5 else 10
    vt <- tight(function(d) pwr.t.test(n = n, d = d, sig.level = 0.05,
                                       alternative = alt)$power - 0.8, lo, hi)
    add(sprintf("t_d_%d", k), "pwr.t.test", "d", vp, vt, n = n, power = 0.8,
        alternative = alt)
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
      vt <- tight(function(n1) pwr.t2n.test(n1 = n1, n2 = n2, d = dd,
                                            alternative = alt)$power - 0.8, 2 + 1e-10, 1e5)
      add(sprintf("t2n_n1_%d", k), "pwr.t2n.test", "n1", vp, vt, d = dd, n2 = n2,
          power = 0.8, alternative = alt)
    }
  }
  k <- k + 1
  vp <- pwr.t2n.test(n1 = 40, n2 = 70, power = 0.8, alternative = alt)$d
  lo <- if (alt == "two.sided") 1e-7 else if (alt == "less") -10 else -5
  hi <- if (alt == "two.sided") 10 else if (alt == "less") 5 else 10
  vt <- tight(function(d) pwr.t2n.test(n1 = 40, n2 = 70, d = d,
                                       alternative = alt)$power - 0.8, lo, hi)
  add(sprintf("t2n_d_%d", k), "pwr.t2n.test", "d", vp, vt, n1 = 40, n2 = 70, power = 0.8,
      alternative = alt)
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
      vt <- tight(function(n) pwr.2p.test(h = hh, n = n, alternative = alt)$power - pw,
                  2 + 1e-10, 1e6)
      add(sprintf("p_n_%d", k), "pwr.2p.test", "n", vp, vt, h = hh, p1 = p1, p2 = p2,
          power = pw, alternative = alt)
    }
    for (nn in list(c(16, 22), c(60, 90))) {
      k <- k + 1
      v <- pwr.2p2n.test(h = hh, n1 = nn[1], n2 = nn[2], alternative = alt)$power
      add(sprintf("p2n_power_%d", k), "pwr.2p2n.test", "power", v, v, h = hh, p1 = p1,
          p2 = p2, n1 = nn[1], n2 = nn[2], alternative = alt)
    }
    k <- k + 1
    vp <- pwr.2p2n.test(h = hh, n2 = 400, power = 0.8, alternative = alt)$n1
    vt <- tight(function(n1) pwr.2p2n.test(h = hh, n1 = n1, n2 = 400,
                                           alternative = alt)$power - 0.8, 2 + 1e-10, 1e6)
    add(sprintf("p2n_n1_%d", k), "pwr.2p2n.test", "n1", vp, vt, h = hh, p1 = p1, p2 = p2,
        n2 = 400, power = 0.8, alternative = alt)
  }
  k <- k + 1
  vp <- pwr.2p.test(n = 60, power = 0.8, alternative = alt)$h
  lo <- if (alt == "two.sided") 1e-10 else if (alt == "less") -10 else -5
  hi <- if (alt == "two.sided") 10 else if (alt == "less") 5 else 10
  vt <- tight(function(h) pwr.2p.test(h = h, n = 60, alternative = alt)$power - 0.8, lo, hi)
  add(sprintf("p_h_%d", k), "pwr.2p.test", "h", vp, vt, n = 60, power = 0.8, alternative = alt)
}

out <- do.call(rbind, rows)
here <- "tests/reference/pwr"
write.csv(out, file.path(here, "pwr_cases.csv"), row.names = FALSE)
writeLines(toJSON(list(R = R.version.string, pwr = as.character(packageVersion("pwr")),
                       generated = format(Sys.time(), tz = "UTC", usetz = TRUE)),
                  auto_unbox = TRUE, pretty = TRUE),
           file.path(here, "pwr_versions.json"))
cat(nrow(out), "cases written\n")
