"""Benchmark: IPW and AIPW on 1,000,000 rows, against a statsmodels baseline in the same run.

causalpa: ``cpa.weight(...).estimate(...)`` (logistic PS by Newton, stacked M-estimation
sandwich) and ``cpa.aipw(...)`` through the public API, formula parsing included.
Baseline: ``statsmodels`` Logit for the propensity score, then WLS with an HC0 sandwich
(IPW, weights treated as known - less work than the stacked sandwich) or two OLS fits and
the influence-function SE computed by hand (AIPW); model matrices prebuilt (not timed).

Writes benchmarks/results/bench_weighting.json. Run: python benchmarks/bench_weighting.py [n]
"""

from __future__ import annotations

import json
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd


def make_data(n: int, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    age = rng.normal(42, 13, n)
    female = rng.binomial(1, 0.6, n)
    ltc = rng.binomial(1, 0.3, n)
    phq9 = np.clip(rng.normal(15, 5, n), 0, 27)
    gad7 = np.clip(rng.normal(14, 4.5, n), 0, 21)
    imd = rng.integers(1, 11, n)
    lin = -0.3 - 0.03 * (age - 42) - 0.3 * female - 0.5 * ltc - 0.05 * (phq9 - 15) + 0.05 * imd
    pa = rng.binomial(1, 1 / (1 + np.exp(-lin)))
    y = -6 - 2.5 * pa - 0.3 * (phq9 - 15) + 0.02 * age + ltc + rng.normal(0, 5, n)
    return pd.DataFrame({"age": age, "female": female, "ltc": ltc, "phq9_first": phq9,
                         "gad7_first": gad7, "imd_decile": imd, "pa": pa, "phq9_change": y})


COVS = ["age", "female", "ltc", "phq9_first", "gad7_first", "imd_decile"]


def timed(fn, repeat: int = 3) -> tuple[float, object]:
    best, out = np.inf, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main(n: int = 1_000_000) -> dict:
    import statsmodels.api as sm

    import causalpa as cpa

    df = make_data(n)
    formula = "pa ~ " + " + ".join(COVS)
    warnings.simplefilter("ignore")

    def cpa_ipw():
        return cpa.weight(df, formula, stabilize=True).estimate("phq9_change")

    def cpa_aipw():
        return cpa.aipw(df, outcome="phq9_change", treatment="pa", covariates=COVS)

    X = np.column_stack([np.ones(n), df[COVS].to_numpy(float)])
    t = df["pa"].to_numpy()
    y = df["phq9_change"].to_numpy()

    def sm_ipw():
        e = sm.Logit(t, X).fit(disp=0).predict(X)
        p = t.mean()
        w = np.where(t == 1, p / e, (1 - p) / (1 - e))
        fit = sm.WLS(y, sm.add_constant(t.astype(float)), weights=w).fit(cov_type="HC0")
        return fit.params[1], fit.bse[1]

    def sm_aipw():
        e = sm.Logit(t, X).fit(disp=0).predict(X)
        m1 = sm.OLS(y[t == 1], X[t == 1]).fit().predict(X)
        m0 = sm.OLS(y[t == 0], X[t == 0]).fit().predict(X)
        a1 = m1 + t * (y - m1) / e
        a0 = m0 + (1 - t) * (y - m0) / (1 - e)
        phi = a1 - a0
        return phi.mean(), phi.std() / np.sqrt(n)

    res = {}
    for name, ours, base in [("ipw", cpa_ipw, sm_ipw), ("aipw", cpa_aipw, sm_aipw)]:
        t_ours, eff = timed(ours)
        t_base, (b_est, b_se) = timed(base)
        res[name] = {
            "causalpa_seconds": round(t_ours, 3),
            "statsmodels_seconds": round(t_base, 3),
            "ratio_statsmodels_over_causalpa": round(t_base / t_ours, 2),
            "causalpa_estimate": eff.estimate,
            "causalpa_se": eff.std_error,
            "statsmodels_estimate": float(b_est),
            "statsmodels_se": float(b_se),
        }
        print(f"{name}: causalpa {t_ours:.2f} s (estimate {eff.estimate:.4f}, SE {eff.std_error:.4f}); "
              f"statsmodels baseline {t_base:.2f} s (estimate {b_est:.4f}, SE {b_se:.4f}); "
              f"ratio {t_base / t_ours:.2f}")
    out = {"n": n, "python": sys.version.split()[0], "machine": platform.machine(), **res}
    path = Path(__file__).parent / "results"
    path.mkdir(exist_ok=True)
    (path / "bench_weighting.json").write_text(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
