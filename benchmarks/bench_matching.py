"""Benchmark greedy 1:1 caliper matching (causalpa vs a naive scan vs MatchIt).

Measures, in one run:

* 1,000,000 units (10% treated): causalpa's O(n log n) greedy nearest-neighbour
  matching with a 0.2-SD caliper on a propensity-score vector (core algorithm and
  the full ``cpa.match`` call), wall time and peak memory (child process
  peak resident memory, ``ru_maxrss``);
* 100,000 units: the same, a naive implementation that scans every available
  control for each treated unit (same rules, so the matched sets must be
  identical), and MatchIt 4.5.1 through ``Rscript`` when it is installed (its
  default vector path; the issue quotes 4.6 s for this size);
* end-to-end ``cpa.match(distance="ps")`` on 1,000,000 rows (logistic PS + matching).

Results go to ``benchmarks/results/bench_matching.json`` (git-ignored).
Run: ``.venv/bin/python benchmarks/bench_matching.py [--quick]``.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

RESULTS = Path(__file__).parent / "results"


def make_data(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=n)
    x2 = rng.normal(size=n)
    lin = -2.45 + 0.8 * x1 + 0.4 * x2
    ps = 1 / (1 + np.exp(-lin))
    treat = (rng.random(n) < ps).astype(int)
    return pd.DataFrame({"treat": treat, "x1": x1, "x2": x2, "ps": ps})


def problem_for(df: pd.DataFrame, caliper_sd: float = 0.2):
    from causalpa.matching import MatchProblem

    d = df["ps"].to_numpy()
    focal = df["treat"].to_numpy() == 1
    fpos = np.flatnonzero(focal)
    order = fpos[np.argsort(-d[fpos], kind="stable")]
    return MatchProblem(focal=focal, order=order, ratio=1, replace=False, distance=d,
                        caliper=caliper_sd * float(np.std(d, ddof=1)))


def time_call(fn, repeat: int = 1) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def child_measure(n: int, what: str) -> dict:
    """Run one measurement in a fresh process; report wall time and peak RSS (ru_maxrss).

    tracemalloc is not used: it traces every Python allocation and slows the
    pure-Python matching loop several-fold.
    """
    code = f"""
import json, resource, time, sys
sys.path.insert(0, {str(Path(__file__).parent)!r})
import numpy as np
from bench_matching import make_data, problem_for
df = make_data({n}, seed=1)
import warnings
import causalpa as cpa
from causalpa.matching import METHODS
warnings.simplefilter("ignore")
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
if {what!r} == "core":
    mm = METHODS["nearest"](problem_for(df))
    matched = int((mm[:, 0] >= 0).sum())
elif {what!r} == "match_vector":
    m = cpa.match(df, treatment="treat", covariates=[], distance=df["ps"].to_numpy(), caliper=0.2)
    matched = len(m.pairs)
else:
    m = cpa.match(df, "treat ~ x1 + x2", distance="ps", caliper=0.2)
    matched = len(m.pairs)
elapsed = time.perf_counter() - t0
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps(dict(seconds=elapsed, matched=matched, peak_rss_mb=rss / 1024,
                      rss_after_data_mb=base / 1024)))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def matchit_seconds(df: pd.DataFrame) -> dict | None:
    if shutil.which("Rscript") is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "d.csv")
        df[["treat", "x1", "x2", "ps"]].to_csv(path, index=False)
        script = f"""
suppressPackageStartupMessages(library(MatchIt))
d <- read.csv({path!r})
t0 <- proc.time()[["elapsed"]]
m <- matchit(treat ~ x1 + x2, data = d, distance = d$ps, caliper = 0.2)
el <- proc.time()[["elapsed"]] - t0
cat(el, sum(!is.na(m$match.matrix[, 1])), as.character(packageVersion("MatchIt")), "\\n")
"""
        try:
            out = subprocess.run(["Rscript", "-e", script], capture_output=True, text=True,
                                 timeout=600, check=True)
        except (subprocess.SubprocessError, OSError) as exc:
            return {"error": str(exc)}
        el, matched, version = out.stdout.split()[:3]
        return {"seconds": float(el), "matched": int(matched), "MatchIt": version,
                "path": "default vector path (nn_matchC_vec)"}


def main(quick: bool = False) -> dict:
    from causalpa.matching import METHODS, naive_greedy

    RESULTS.mkdir(parents=True, exist_ok=True)
    res: dict = {"python": platform.python_version(), "machine": platform.machine(),
                 "cpu_count": os.cpu_count()}
    # ---- 100,000 units: ours vs naive vs MatchIt
    n_mid = 20_000 if quick else 100_000
    df = make_data(n_mid, seed=1)
    prob = problem_for(df)
    t_fast, mm_fast = time_call(lambda: METHODS["nearest"](prob), repeat=3)
    t_naive, mm_naive = time_call(lambda: naive_greedy(prob))
    res["n_100k"] = {
        "n": n_mid, "n_treated": int(df["treat"].sum()),
        "causalpa_core_seconds": t_fast,
        "naive_scan_seconds": t_naive,
        "speedup_vs_naive": t_naive / t_fast,
        "identical_to_naive": bool(np.array_equal(mm_fast, mm_naive)),
        "matched": int((mm_fast[:, 0] >= 0).sum()),
    }
    res["n_100k"]["causalpa_match_call"] = child_measure(n_mid, "match_vector")
    r = matchit_seconds(df)
    if r is not None:
        res["n_100k"]["matchit"] = r
        if "seconds" in r:
            res["n_100k"]["speedup_vs_matchit"] = r["seconds"] / t_fast
    res["n_100k"]["matchit_quoted_seconds"] = 4.6
    # ---- 1,000,000 units
    n_big = 200_000 if quick else 1_000_000
    res["n_1M"] = {"n": n_big,
                   "core": child_measure(n_big, "core"),
                   "match_vector": child_measure(n_big, "match_vector"),
                   "match_ps_end_to_end": child_measure(n_big, "match_ps")}
    out = RESULTS / "bench_matching.json"
    out.write_text(json.dumps(res, indent=2))
    print(json.dumps(res, indent=2))
    print(f"written to {out}")
    return res


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)
