"""MatchIt's Lalonde analysis with causalpa: matching, balance, effect after matching.

Lalonde's NSW job-training data (185 treated) with 429 PSID comparison units, as
shipped with R's MatchIt. Follows MatchIt's vignettes: 1:1 nearest-neighbour
matching on a logistic propensity score, balance with summary(), then the ATT on
1978 earnings (re78) by g-computation on the matched sample with cluster-robust
standard errors on the matched pairs. MatchIt 4.5.1 + sandwich give, for the
1:1 match without caliper, ATT 1121.18 with SE 776.55
(tests/reference/matchit/lalonde_estimation.R).

The same calls serve a PA study: replace treat by pa and re78 by phq9_change.
"""

import tempfile
import warnings
from importlib import resources
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

import causalpa as cpa  # noqa: E402


def load_lalonde() -> pd.DataFrame:
    try:
        return cpa.datasets.load_lalonde()
    except AttributeError:  # the datasets module may not expose it yet: read its CSV
        path = resources.files("causalpa") / "datasets" / "data" / "lalonde.csv"
        return pd.read_csv(path).set_index("id")


lalonde = load_lalonde()
formula = "treat ~ age + educ + race + married + nodegree + re74 + re75"
covariates = ["age", "educ", "race", "married", "nodegree", "re74", "re75"]
print(f"Lalonde: {len(lalonde)} rows, {int(lalonde.treat.sum())} treated")

# 1. Balance before matching (MatchIt: matchit(formula, method = NULL) + summary())
print(cpa.balance(lalonde, formula, estimand="ATT").summary())

# 2. 1:1 greedy nearest-neighbour matching on the propensity score (MatchIt's default);
#    the outcome given here is the default of .estimate()
m1 = cpa.match(lalonde, formula, outcome="re78")
print()
print(m1)  # sample sizes by arm (m1.tidy()), as MatchIt's summary(m.out1)$nn
bal1 = m1.balance()
print(bal1.to_matchit().round(3))  # the columns of MatchIt's summary(m.out1)

# 3. The ATT by g-computation on the matched data, cluster-robust on the pairs
effect1 = m1.estimate(adjust=covariates)
print()
print(effect1.summary())
assert abs(effect1.estimate - 1121.18) < 0.5 and abs(effect1.std_error - 776.55) < 0.5

# 4. A caliper of 0.2 SD of the logit of the propensity score (Austin's recommendation)
m2 = cpa.match(lalonde, formula, outcome="re78", distance="logit", caliper=0.2)
print()
print(m2.summary())
print(f"caliper in logit units: {m2.info.raw_caliper:.4f}; "
      f"treated units without a match: {m2.tidy().set_index('arm').loc['treated', 'n_unmatched']}")
effect2 = m2.estimate(adjust=covariates)
print(effect2.summary())

# 5. Binary outcome (any earnings in 1978): risk difference and risk ratio
lalonde_b = lalonde.assign(employed78=(lalonde.re78 > 0).astype(int))
m3 = cpa.match(lalonde_b, formula, outcome="employed78", distance="logit", caliper=0.2)
for measure in ("risk difference", "risk ratio"):
    print(m3.estimate(adjust=covariates, measure=measure).summary())

# 6. A randomisation test within the matched pairs (exact small-sample inference)
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    perm = m2.estimate(se="permutation", n_perm=1999, rng=1)
print(perm.summary())

# 7. Love plot (written to a temporary directory, not into the repository)
ax = m2.balance().plot()
with tempfile.TemporaryDirectory() as tmp:
    ax.figure.savefig(Path(tmp) / "love_plot.png", dpi=80, bbox_inches="tight")
plt.close("all")
