# Reference matched sets for `discard` and covariate calipers (MatchIt 4.5.1, Lalonde, 614 rows),
# generated through MatchIt's CLASSIC path as lalonde_matching.R (read it first): `distance` is
# an N1 x N0 matrix of |ps_t - ps_c| (nn_matchC, which enforces calipers), focal units sorted by
# the score for order = "largest" (stable, ties in data order).
#
# discard: MatchIt refuses discard = "both"/"control"/"treated" with a matrix distance, so the
#   discarded units are computed with MatchIt's own function, MatchIt:::discard(treat, ps, option)
#   (ps = the glm propensity score, reestimate = FALSE), and passed as `discard = <logical>`,
#   which matchit() accepts and hands to nn_matchC (discarded units are never matched).
# distance caliper: as MatchIt's process.caliper, caliper * sd(ps[!discarded]) (SD over the
#   units that are NOT discarded), passed raw (std.caliper = FALSE for the matrix element).
# covariate calipers: passed to matchit() as named elements (caliper = c(<raw ps>, age = 5)),
#   so nn_matchC applies |x_t - x_c| <= caliper itself; no Inf entries in the matrix are needed.
#   A covariate caliper with std.caliper = TRUE is converted by MatchIt (sd over non-discarded
#   units); we also store the raw value MatchIt used (m$caliper).
# Run: Rscript lalonde_matching_discard.R   (reads nothing; writes lalonde_matching_discard.json)
suppressPackageStartupMessages({library(MatchIt); library(jsonlite)})
source("export_helpers.R")  # match_pairs(), tab()
data("lalonde", package = "MatchIt")
lalonde$id <- rownames(lalonde)
f <- treat ~ age + educ + race + married + nodegree + re74 + re75
psfit <- glm(f, data = lalonde, family = binomial)
ps <- unname(psfit$fitted.values)

run_case <- function(name, discard = "none", caliper = NULL, std.caliper = TRUE, ratio = 1,
                     replace = FALSE, estimand = "ATT") {
  # discard is computed on the ORIGINAL treatment (as matchit() does, whatever the estimand)
  disc_all <- MatchIt:::discard(lalonde$treat, ps, discard)
  focal <- if (estimand == "ATT") lalonde$treat == 1 else lalonde$treat == 0
  fi <- which(focal); oi <- which(!focal)
  fi <- if (estimand == "ATT") fi[order(-ps[fi])] else fi[order(ps[fi])]  # largest / smallest
  idx <- c(fi, oi)
  dat <- lalonde[idx, ]
  dd <- ps[idx]
  disc <- unname(disc_all[idx])
  # ATC: run as ATT with treat <- 1 - treat, as MatchIt does internally (lalonde_matching.R)
  if (estimand == "ATC") dat$treat <- 1L - dat$treat
  t1 <- dat$treat == 1
  D <- abs(outer(dd[t1], dd[!t1], "-"))
  args <- list(formula = f, data = dat, method = "nearest", distance = D, ratio = ratio,
               replace = replace, estimand = "ATT", discard = disc)
  std <- rep_len(std.caliper, length(caliper))
  raw_cal <- NULL
  if (!is.null(caliper)) {
    nm <- names(caliper); if (is.null(nm)) nm <- rep("", length(caliper))
    cal <- caliper; names(cal) <- nm
    j <- which(nm == "")
    if (length(j) == 1 && std[j]) { cal[j] <- cal[j] * sd(ps[!disc_all]); std[j] <- FALSE }
    args$caliper <- cal; args$std.caliper <- unname(std)
  }
  warn <- character(0)
  m <- withCallingHandlers(do.call(matchit, args),
         warning = function(w) { warn <<- c(warn, conditionMessage(w)); invokeRestart("muffleWarning") })
  pairs <- match_pairs(m)
  md <- match.data(m, drop.unmatched = FALSE)
  s <- summary(m, un = TRUE)
  lab <- function(x) {
    if (is.null(x)) return(list())
    nms <- names(x); if (is.null(nms)) nms <- rep("", length(x))
    setNames(as.list(unname(x)), ifelse(nms %in% c("", NA), "distance", nms))
  }
  nm0 <- if (is.null(names(caliper))) rep("", length(caliper)) else names(caliper)
  list(name = name, warnings = warn,
       options = list(discard = discard, caliper = lab(caliper),
                      std_caliper = lab(setNames(rep_len(std.caliper, length(caliper)), nm0)),
                      raw_caliper_used = lab(m$caliper), ratio = ratio, replace = replace,
                      order = if (estimand == "ATT") "largest" else "smallest",
                      estimand = estimand,
                      path = "classic (distance matrix, nn_matchC); discard = MatchIt:::discard(treat, ps, option) passed as a logical vector"),
       discarded = dat$id[disc], pairs = pairs, ids = dat$id, weights = unname(md$weights),
       subclass = if (is.null(md$subclass)) NULL else as.character(md$subclass),
       sum_all = tab(s$sum.all), sum_matched = tab(s$sum.matched), nn = tab(s$nn))
}

cases <- list(
  run_case("disc_both_nn1", discard = "both"),
  run_case("disc_both_cal02", discard = "both", caliper = 0.2),
  run_case("disc_control_nn1", discard = "control"),
  run_case("disc_treated_ratio2", discard = "treated", ratio = 2),
  run_case("covcal_ps025_age5", caliper = c(0.25, age = 5), std.caliper = c(TRUE, FALSE)),
  run_case("covcal_age_sd05_ratio2", caliper = c(age = 0.5), ratio = 2),
  run_case("disc_both_covcal_ps02_re74_sd03", discard = "both", caliper = c(0.2, re74 = 0.3)),
  run_case("covcal_ps025_age5_replace", caliper = c(0.25, age = 5), std.caliper = c(TRUE, FALSE),
           replace = TRUE),
  run_case("atc_disc_both_cal02", discard = "both", caliper = 0.2, estimand = "ATC"),
  run_case("atc_disc_treated_covcal_educ1", discard = "treated", caliper = c(educ = 1),
           std.caliper = FALSE, estimand = "ATC")
)
# Covariate calipers with Mahalanobis distance: MatchIt's own path (nn_matchC with mahcovs;
# no defect involved), data in original order, m.order = "data".
fm <- treat ~ age + educ + married + nodegree + re74 + re75
for (spec in list(list(name = "mahal_covcal_age5", caliper = c(age = 5), std = FALSE, ratio = 1),
                  list(name = "mahal_covcal_age_re74_sd05_ratio2", caliper = c(age = 0.5, re74 = 0.5),
                       std = TRUE, ratio = 2))) {
  m <- suppressWarnings(matchit(fm, data = lalonde, distance = "mahalanobis", m.order = "data",
                                ratio = spec$ratio, caliper = spec$caliper,
                                std.caliper = spec$std))
  pairs <- match_pairs(m)
  md <- match.data(m, drop.unmatched = FALSE)
  s <- summary(m, un = TRUE)
  cases[[length(cases) + 1]] <- list(
    name = spec$name, warnings = character(0),
    options = list(discard = "none", caliper = as.list(spec$caliper),
                   std_caliper = as.list(setNames(rep(spec$std, length(spec$caliper)), names(spec$caliper))),
                   raw_caliper_used = as.list(m$caliper), ratio = spec$ratio, replace = FALSE,
                   order = "data", estimand = "ATT", formula = deparse(fm),
                   distance = "mahalanobis", path = "nn_matchC with mahcovs (classic)"),
    discarded = character(0), pairs = pairs, ids = lalonde$id, weights = unname(md$weights),
    subclass = as.character(md$subclass),
    sum_all = tab(s$sum.all), sum_matched = tab(s$sum.matched), nn = tab(s$nn))
}
res <- list(versions = list(R = R.version.string, MatchIt = as.character(packageVersion("MatchIt"))),
            formula = deparse(f), ps = ps, cases = cases)
write_json(res, "lalonde_matching_discard.json", digits = NA, auto_unbox = TRUE, null = "null",
           na = "null")
