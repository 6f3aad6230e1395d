# Shared by the MatchIt reference scripts (sourced from this folder): export a matchit
# fit's pairs (focal unit, matched unit, matching round) and its summary tables.
match_pairs <- function(m) {
  mm <- m$match.matrix
  pairs <- do.call(rbind, lapply(seq_len(ncol(mm)), function(k)
    data.frame(focal = rownames(mm), match = mm[, k], round = k, stringsAsFactors = FALSE)))
  pairs[!is.na(pairs$match), ]
}
tab <- function(x) list(rows = rownames(x), cols = colnames(x),
                        values = unname(apply(x, 2, function(v) ifelse(is.na(v), NA, v))))
