# Reference values for causalpa.sensitivity.
# 1. Rosenbaum bounds for the Wilcoxon signed-rank test, computed by hand:
#    T = sum of ranks of positive pair differences; under Gamma the bounding null
#    distributions are sum_i r_i B_i with B_i ~ Bernoulli(Gamma/(1+Gamma)) (upper bound)
#    and Bernoulli(1/(1+Gamma)) (lower bound). Exact by convolution; normal approximation as
#    rbounds::psens (mean p*sum(r), variance p(1-p)*sum(r^2)). At Gamma = 1 both equal
#    wilcox.test(..., alternative = "greater", exact = TRUE) (checked below).
# 2. E-values by the VanderWeele & Ding (2017) formulas (EValue package not installed);
#    the paper's worked example RR = 3.9 (1.8, 8.7) gives 7.2 and 3.0.
# Run: Rscript rosenbaum_evalue.R  (writes rosenbaum_evalue.json)
suppressMessages(library(jsonlite))
set.seed(20240601)
d1 <- round(rnorm(25, 0.6, 1), 3)                 # 25 pairs, no ties
d2 <- c(round(rnorm(60, -0.4, 1), 1), 0, 0)         # 62 pairs with ties and zeros
exact_tail <- function(r, stat, p) {
  r2 <- round(2 * r); s2 <- round(2 * stat); dist <- 1
  for (ri in r2) dist <- c(dist, rep(0, ri)) * (1 - p) + c(rep(0, ri), dist) * p
  sum(dist[(s2 + 1):length(dist)])
}
bounds <- function(d, gammas, alternative = "greater") {
  if (alternative == "less") d <- -d
  d <- d[d != 0]; r <- rank(abs(d)); T <- sum(r[d > 0])
  rows <- lapply(gammas, function(g) {
    pp <- g / (1 + g); pm <- 1 / (1 + g)
    list(gamma = g,
         exact_upper = exact_tail(r, T, pp), exact_lower = exact_tail(r, T, pm),
         normal_upper = pnorm((T - pp * sum(r)) / sqrt(pp * (1 - pp) * sum(r^2)), lower.tail = FALSE),
         normal_lower = pnorm((T - pm * sum(r)) / sqrt(pm * (1 - pm) * sum(r^2)), lower.tail = FALSE))
  })
  list(statistic = T, n = length(d), rows = rows)
}
g <- c(1, 1.5, 2, 3, 5)
out <- list(
  d1 = d1, d2 = d2,
  b1 = bounds(d1, g), b2 = bounds(d2, g, "less"),
  wilcox_d1_exact_p = wilcox.test(d1, alternative = "greater", exact = TRUE)$p.value,
  evalue = list(
    rr_3.9 = list(point = 3.9 + sqrt(3.9 * 2.9), ci = 1.8 + sqrt(1.8 * 0.8), paper = c(7.2, 3.0)),
    rr_0.80 = list(point = 1 / 0.8 + sqrt(1 / 0.8 * (1 / 0.8 - 1)),
                   ci = 1 / 0.91 + sqrt(1 / 0.91 * (1 / 0.91 - 1))),
    or_common_0.86 = local({ rr <- 1 / sqrt(0.86); rl <- 1 / sqrt(0.99)
      list(point = rr + sqrt(rr * (rr - 1)), ci = rl + sqrt(rl * (rl - 1))) }),
    smd_0.5_se0.1 = local({ rr <- exp(0.91 * 0.5); rl <- exp(0.91 * 0.5 - 1.78 * 0.1)
      list(point = rr + sqrt(rr * (rr - 1)), ci = rl + sqrt(rl * (rl - 1))) }),
    hr_common_1.5 = local({ rr <- (1 - 0.5^sqrt(1.5)) / (1 - 0.5^sqrt(1 / 1.5))
      list(point = rr + sqrt(rr * (rr - 1))) })),
  versions = list(R = R.version.string))
write_json(out, "rosenbaum_evalue.json", digits = NA, auto_unbox = TRUE, pretty = TRUE)
cat("wilcox", out$wilcox_d1_exact_p, "ours", out$b1$rows[[1]]$exact_upper, "\n")
