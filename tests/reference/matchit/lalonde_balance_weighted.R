# Reference balance statistics for weighted (not matched) data: MatchIt's own bal1var()
# (the function behind summary.matchit) applied to ATE and ATT inverse-probability
# weights on Lalonde, for estimands ATE (pooled SD), ATT (treated SD), ATC (control SD).
# Run: Rscript lalonde_balance_weighted.R   (writes lalonde_balance_weighted.json)
suppressPackageStartupMessages({library(MatchIt); library(jsonlite)})
data("lalonde", package = "MatchIt")
f <- treat ~ age + educ + race + married + nodegree + re74 + re75
ps <- glm(f, data = lalonde, family = binomial)$fitted.values
t <- lalonde$treat
X <- MatchIt:::get.covs.matrix(f, data = lalonde)
w_list <- list(ATE = ifelse(t == 1, 1 / ps, 1 / (1 - ps)),
               ATT = ifelse(t == 1, 1, ps / (1 - ps)),
               ATC = ifelse(t == 1, (1 - ps) / ps, 1))
out <- list()
for (est in names(w_list)) {
  denom <- switch(est, ATE = "pooled", ATT = "treated", ATC = "control")
  w <- unname(w_list[[est]])
  tab <- function(ww) t(sapply(seq_len(ncol(X)), function(i)
    MatchIt:::bal1var(X[, i], tt = t, ww = ww, s.weights = rep(1, length(t)),
                      standardize = TRUE, s.d.denom = denom, compute.pair.dist = FALSE)))
  before <- tab(NULL); after <- tab(w)
  rownames(before) <- rownames(after) <- colnames(X)
  out[[est]] <- list(weights = w, rows = colnames(X), cols = colnames(before),
                     before = unname(before), after = unname(after))
}
write_json(list(versions = list(R = R.version.string, MatchIt = as.character(packageVersion("MatchIt"))),
                cases = out), "lalonde_balance_weighted.json", digits = NA, na = "null")
