# Export MatchIt's lalonde data set (Dehejia & Wahba 1999 NSW treated + PSID controls,
# 614 rows) to causalpa/datasets/data/lalonde.csv, keeping row names and order.
# Run from the repository root:  Rscript tests/reference/datasets/lalonde.R
suppressPackageStartupMessages(library(MatchIt))
data("lalonde", package = "MatchIt")
stopifnot(nrow(lalonde) == 614, is.factor(lalonde$race))
stopifnot(identical(levels(lalonde$race), c("black", "hispan", "white")))
out <- data.frame(id = rownames(lalonde), lalonde, stringsAsFactors = FALSE)
out$race <- as.character(out$race)
write.csv(out, "causalpa/datasets/data/lalonde.csv", row.names = FALSE, quote = TRUE)
# reference summaries used by tests/test_datasets.py
fit <- glm(treat ~ age + educ + race + married + nodegree + re74 + re75,
           data = lalonde, family = binomial())
ref <- list(
  n = nrow(lalonde),
  n_treated = sum(lalonde$treat),
  mean_re78 = mean(lalonde$re78),
  race_counts = as.list(table(lalonde$race)),
  ps_coefficients = as.list(coef(fit)),
  versions = list(R = R.version.string, MatchIt = as.character(packageVersion("MatchIt")))
)
jsonlite::write_json(ref, "tests/reference/datasets/lalonde.json", auto_unbox = TRUE,
                     digits = NA, pretty = TRUE)
