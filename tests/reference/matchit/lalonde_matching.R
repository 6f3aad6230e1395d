# Reference matched sets, match.data weights/subclasses and summary() balance tables
# from MatchIt on Lalonde (614 rows), generated through MatchIt's CLASSIC path:
# `distance` is passed as an N1 x N0 matrix of pairwise distances |d_t - d_c|.
# (Debian's MatchIt 4.5.1 fast path for a distance vector, nn_matchC_vec, does not
# enforce calipers; the matrix path nn_matchC does.) With a matrix, MatchIt processes
# focal units in data order, so for order = largest/smallest the data are re-arranged:
# focal units sorted by the distance (stable, ties in data order) followed by the
# other arm in its original order. Calipers on the matrix must be raw
# (std.caliper = FALSE): we compute caliper * sd(distance over all 614 units) here
# and store it. Mahalanobis matching goes through nn_matchC with MatchIt's own
# covariate transform (no defect involved).
# Run: Rscript lalonde_matching.R   (writes lalonde.csv and lalonde_matching.json)
suppressPackageStartupMessages({library(MatchIt); library(jsonlite)})
source("export_helpers.R")  # match_pairs(), tab()
data("lalonde", package = "MatchIt")
lalonde$id <- rownames(lalonde)
write.csv(lalonde[, c("id", setdiff(names(lalonde), "id"))], "lalonde.csv", row.names = FALSE)

f <- treat ~ age + educ + race + married + nodegree + re74 + re75
psfit <- glm(f, data = lalonde, family = binomial)
ps <- unname(psfit$fitted.values)
lp <- unname(psfit$linear.predictors)

run_case <- function(name, scale = "ps", ratio = 1, replace = FALSE, caliper = NULL,
                     order = "largest", estimand = "ATT", exact = NULL, swap = FALSE) {
  d <- if (scale == "ps") ps else lp
  focal <- if (estimand == "ATT") lalonde$treat == 1 else lalonde$treat == 0
  fi <- which(focal); oi <- which(!focal)
  fi <- switch(order, largest = fi[order(-d[fi])], smallest = fi[order(d[fi])], data = fi)
  idx <- c(fi, oi)
  dat <- lalonde[idx, ]
  dd <- d[idx]
  t1 <- dat$treat == 1
  D <- abs(outer(dd[t1], dd[!t1], "-"))
  raw_cal <- if (is.null(caliper)) NULL else caliper * sd(d)
  if (swap) { dat$treat <- 1L - dat$treat; t1 <- dat$treat == 1; D <- abs(outer(dd[t1], dd[!t1], "-")) }
  args <- list(formula = f, data = dat, method = "nearest", distance = D, ratio = ratio,
               replace = replace, estimand = if (swap) "ATT" else estimand)
  if (!is.null(raw_cal)) { args$caliper <- raw_cal; args$std.caliper <- FALSE }
  if (!is.null(exact)) args$exact <- exact
  warn <- character(0)
  m <- withCallingHandlers(do.call(matchit, args),
         warning = function(w) { warn <<- c(warn, conditionMessage(w)); invokeRestart("muffleWarning") })
  out_case(name, m, dat, list(scale = scale, ratio = ratio, replace = replace,
           caliper = caliper, raw_caliper = raw_cal, order = order, estimand = estimand,
           exact = if (is.null(exact)) NULL else deparse(exact),
           path = if (swap) "classic (distance matrix, nn_matchC); ATC run as ATT with treat <- 1 - treat, as MatchIt does internally (its matrix path mis-orients the matrix for ATC: wrong pairs without a caliper, an error with one)" else "classic (distance matrix, nn_matchC)"), warn, dd)
}

out_case <- function(name, m, dat, opts, warn, dd = NULL) {
  pairs <- match_pairs(m)
  md <- match.data(m, drop.unmatched = FALSE)
  s <- summary(m, un = TRUE)
  list(name = name, options = opts, warnings = warn,
       pairs = pairs,
       ids = dat$id, weights = unname(md$weights),
       subclass = if (is.null(md$subclass)) NULL else as.character(md$subclass),
       sum_all = tab(s$sum.all), sum_matched = tab(s$sum.matched),
       nn = tab(s$nn))
}

cases <- list(); for (cl in alist(
  run_case("nn1_largest"),
  run_case("nn1_cal02", caliper = 0.2),
  run_case("nn1_logit_cal01_smallest", scale = "logit", caliper = 0.1, order = "smallest"),
  run_case("nn1_data_cal005", caliper = 0.05, order = "data"),
  run_case("nn2_largest", ratio = 2),
  run_case("nn2_cal02_data", ratio = 2, caliper = 0.2, order = "data"),
  run_case("nn3_largest", ratio = 3),
  run_case("nn2_replace", ratio = 2, replace = TRUE),
  run_case("nn1_replace_cal01", replace = TRUE, caliper = 0.1),
  run_case("nn1_exact_race_cal02", caliper = 0.2, exact = ~race),
  run_case("atc_nn1_smallest", estimand = "ATC", order = "smallest", swap = TRUE),
  run_case("atc_nn1_logit_cal02", scale = "logit", estimand = "ATC", caliper = 0.2, order = "largest", swap = TRUE)
)) cases[[length(cases) + 1]] <- tryCatch(eval(cl), error = function(e) { message(deparse(cl), ": ", conditionMessage(e)); NULL })
cases <- Filter(Negate(is.null), cases)
# Mahalanobis (MatchIt >= 4.4: scaled covariates, pooled within-arm covariance)
fm <- treat ~ age + educ + married + nodegree + re74 + re75
for (spec in list(list(name = "mahal_data", order = "data", ratio = 1),
                  list(name = "mahal_ratio2_race", order = "data", ratio = 2, f = treat ~ age + educ + race + re74 + re75),
                  list(name = "mahal_exact_married", order = "data", ratio = 1, exact = ~married),
                  list(name = "mahal_replace_ratio2", order = "data", ratio = 2, replace = TRUE))) {
  ff <- if (is.null(spec$f)) fm else spec$f
  rep <- isTRUE(spec$replace)
  m <- suppressWarnings(matchit(ff, data = lalonde, distance = "mahalanobis", m.order = spec$order,
               ratio = spec$ratio, replace = rep, exact = spec$exact))
  cases[[length(cases) + 1]] <- out_case(spec$name, m, lalonde,
     list(scale = "mahalanobis", ratio = spec$ratio, replace = rep, order = spec$order,
          estimand = "ATT", formula = deparse(ff), exact = if (is.null(spec$exact)) NULL else deparse(spec$exact),
          path = "nn_matchC with mahcovs (classic)"), character(0))
}

res <- list(
  versions = list(R = R.version.string, MatchIt = as.character(packageVersion("MatchIt"))),
  formula = deparse(f), ps = ps, linear_predictor = lp, cases = cases)
write_json(res, "lalonde_matching.json", digits = NA, auto_unbox = TRUE, null = "null", na = "null")
