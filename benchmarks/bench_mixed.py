"""Benchmark: linear mixed models, causalpa vs statsmodels MixedLM vs lme4 in the same run.

Cases
-----
* sleepstudy (180 rows, 18 subjects), ``Reaction ~ Days + (Days | Subject)`` by REML.
* 5,000 patients x 8 sessions (40,000 rows), ``y ~ session * pa + (session | patient)``.
* 2,000 patients in 100 therapists x 8 sessions (16,000 rows), nested:
  ``y ~ session * pa + (1 | therapist) + (session | therapist:patient)``.

causalpa is timed through the public API (formula parsing included): the fit with
``df="normal"`` (no small-sample df: comparable to ``lmer`` and ``MixedLM.fit``), the default
Satterthwaite table, Kenward-Roger, and the ``refit`` fast path used by power simulations.
statsmodels: ``smf.mixedlm(..., re_formula="~x").fit(reml=True)``. lme4: ``lmer`` timed inside R
(median of repeated fits, R start-up excluded) when ``Rscript`` is available; lmerTest's
Satterthwaite ``summary`` is timed too. Peak memory of the 40,000-row causalpa fit including
Kenward-Roger is measured with tracemalloc (numpy reports its buffers to it).

Writes benchmarks/results/bench_mixed.json.
Run: python benchmarks/bench_mixed.py [--quick]   (--quick skips the 40,000-row statsmodels fit)

``--calibration [reps]`` instead runs the calibration study quoted in the tutorial: type-I
error of the session:pa test and coverage of the arm difference at session 7 under each df
method (random-slope model, 38 and 12 patients, design fixed, outcome redrawn), and the
convergence rate on 1,000 seeded cohorts from ``cpa.simulate.cohort(n=38, selection=0)``.
Writes benchmarks/results/calibration_mixed.json.
"""

from __future__ import annotations

import json
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import causalpa as cpa  # noqa: E402


def timed(fn, repeat: int = 5) -> tuple[float, object]:
    """Median wall time of ``repeat`` calls (and the last result)."""
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), out


def big_data(m: int = 5000, s: int = 8, seed: int = 1, therapists: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(m), s)
    t = np.tile(np.arange(s), m).astype(float)
    arm = rng.binomial(1, 0.5, m)[g]
    b = rng.multivariate_normal([0, 0], [[16, -0.5], [-0.5, 0.25]], m)
    y = 15 + b[g, 0] + (-0.5 + b[g, 1] - 0.3 * arm) * t + rng.normal(0, 2.5, m * s)
    out = pd.DataFrame({"patient": g, "session": t, "pa": arm, "y": y})
    if therapists:
        ther = rng.integers(0, therapists, m)
        out["therapist"] = ther[g]
        out["y"] += rng.normal(0, 1.5, therapists)[ther[g]]
    return out


R_SCRIPT = r"""
suppressPackageStartupMessages({library(lme4); library(lmerTest)})
args <- commandArgs(TRUE)
d <- read.csv(args[1]); reps <- as.integer(args[3])
f <- switch(args[2], sleep = Reaction ~ Days + (Days | Subject),
            big = y ~ session * pa + (session | patient),
            nested = y ~ session * pa + (1 | therapist) + (session | therapist:patient))
tm <- function(expr) { t <- numeric(reps); for (i in seq_len(reps)) t[i] <- system.time(eval(expr))[["elapsed"]]; median(t) }
fit <- lme4::lmer(f, data = d)
t_fit <- tm(quote(lme4::lmer(f, data = d)))
t_satt <- tm(quote(summary(lmerTest::lmer(f, data = d))))
cat(sprintf('{"lmer": %.6f, "lmerTest_summary": %.6f, "remlcrit": %.10f}\n', t_fit, t_satt, REMLcrit(fit)))
"""


def run_r(csv: Path, case: str, reps: int) -> dict | None:
    if shutil.which("Rscript") is None:
        return None
    with tempfile.NamedTemporaryFile("w", suffix=".R", delete=False) as fh:
        fh.write(R_SCRIPT)
        script = fh.name
    try:
        proc = subprocess.run(["Rscript", script, str(csv), case, str(reps)], capture_output=True,
                              text=True, timeout=1800)
        line = [x for x in proc.stdout.splitlines() if x.startswith("{")]
        return json.loads(line[-1]) if line else {"error": proc.stderr[-500:]}
    except Exception as exc:  # R missing packages etc.
        return {"error": str(exc)}
    finally:
        Path(script).unlink(missing_ok=True)


def simulate_design(n: int, seed: int) -> pd.DataFrame:
    """Unbalanced sessions design (3 to 10 sessions per patient, half in PA)."""
    rng = np.random.default_rng(seed)
    pa = rng.permutation(np.r_[np.ones(n // 2), np.zeros(n - n // 2)]).astype(int)
    k = rng.integers(3, 11, size=n)
    pid = np.repeat(np.arange(n), k)
    s = np.concatenate([np.arange(j) for j in k]).astype(float)
    return pd.DataFrame({"patient": pid, "session": s, "pa": pa[pid], "phq9": 0.0})


def draw_null(rng: np.random.Generator, n: int, pid: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Outcome from a random-slope model with no PA effect (SDs 3 and 0.4, r = -0.3, sigma 2)."""
    cov = [[9.0, -0.36], [-0.36, 0.16]]
    b = rng.multivariate_normal([0, 0], cov, size=n)
    return 15 + b[pid, 0] + (-0.6 + b[pid, 1]) * s + rng.normal(0, 2, len(s))


def calibration(reps: int = 1000) -> None:
    from causalpa.errors import ConvergenceWarning, SingularFitWarning

    warnings.simplefilter("ignore")
    methods = ("satterthwaite", "kenward-roger", "residual", "normal")
    out: dict = {}
    for n in (38, 12):
        base = simulate_design(n, 100)
        pid, s = base["patient"].to_numpy(), base["session"].to_numpy()
        rng = np.random.default_rng(7)
        fit0 = cpa.mixed(base.assign(phq9=draw_null(rng, n, pid, s)), "phq9 ~ session * pa", groups="patient",
                         re_formula="~session")
        rej = dict.fromkeys(methods, 0)
        cover = dict.fromkeys(methods, 0)
        conv = sing = 0
        for _ in range(reps):
            f = fit0.refit(draw_null(rng, n, pid, s))
            conv += f.converged
            sing += f.singular
            for m in methods:
                rej[m] += f.contrast({"session:pa": 1}, df=m).tidy()["p_value"][0] < 0.05
                c = f.contrast({"pa": 1, "session:pa": 7}, df=m).tidy().iloc[0]
                cover[m] += c["conf_low"] <= 0 <= c["conf_high"]
        out[f"n{n}"] = {"reps": reps, "converged": conv, "singular": sing,
                        "reject_session_pa": {m: rej[m] / reps for m in methods},
                        "cover_pa_at_7": {m: cover[m] / reps for m in methods}}
        print(n, out[f"n{n}"], flush=True)
    n_fit, ok, sing = 1000, 0, 0
    for seed in range(n_fit):
        sess = cpa.simulate.cohort(n=38, rng=10_000 + seed, selection=0).sessions
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            f = cpa.mixed(sess, "phq9 ~ session * pa", groups="patient", re_formula="~session",
                          df="normal")
        bad = [w for w in caught if issubclass(w.category, ConvergenceWarning)
               and not issubclass(w.category, SingularFitWarning)]
        ok += bool(f.converged and not bad)
        sing += f.singular
    out["cohort_convergence"] = {"fits": n_fit, "converged_without_warning": ok,
                                 "singular": sing}
    print(out["cohort_convergence"], flush=True)
    dest = ROOT / "benchmarks" / "results"
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "calibration_mixed.json").write_text(json.dumps(out, indent=2))


def main() -> None:
    if "--calibration" in sys.argv:
        i = sys.argv.index("--calibration")
        reps = int(sys.argv[i + 1]) if len(sys.argv) > i + 1 else 1000
        calibration(reps)
        return
    quick = "--quick" in sys.argv
    import statsmodels.formula.api as smf

    warnings.simplefilter("ignore")
    out: dict = {"python": sys.version.split()[0], "machine": platform.machine(),
                 "numpy": np.__version__}
    tmp = Path(tempfile.mkdtemp())

    # ---------------------------------------------------------------- sleepstudy
    sleep = pd.read_csv(ROOT / "tests" / "reference" / "lme4" / "sleepstudy.csv")
    args = dict(groups="Subject", re_formula="~Days")
    cpa.mixed(sleep, "Reaction ~ Days", **args)  # warm-up (imports)
    t_fit, fit = timed(lambda: cpa.mixed(sleep, "Reaction ~ Days", **args, df="normal"), 15)
    t_satt, _ = timed(lambda: cpa.mixed(sleep, "Reaction ~ Days", **args), 15)
    t_kr, _ = timed(lambda: cpa.mixed(sleep, "Reaction ~ Days", **args, df="kenward-roger"), 15)
    y = sleep["Reaction"].to_numpy()
    rng = np.random.default_rng(5)
    ys = [y + rng.normal(0, 25, len(y)) for _ in range(15)]  # new outcomes, as in a power study
    t_refit, _ = timed(lambda: fit.refit(ys[rng.integers(15)]), 15)
    t_refit_satt, _ = timed(lambda: fit.refit(ys[rng.integers(15)], df="satterthwaite"), 15)
    t_sm, sm = timed(lambda: smf.mixedlm("Reaction ~ Days", sleep, groups="Subject",
                                         re_formula="~Days").fit(reml=True), 5)
    sleep.to_csv(tmp / "sleep.csv", index=False)
    r = run_r(tmp / "sleep.csv", "sleep", 20)
    res = {"causalpa_fit": t_fit, "causalpa_satterthwaite": t_satt, "causalpa_kenward_roger": t_kr,
           "causalpa_refit": t_refit, "causalpa_refit_satterthwaite": t_refit_satt,
           "statsmodels": t_sm, "lme4": r,
           "reml_criterion": fit.reml_criterion,
           "statsmodels_over_causalpa": t_sm / t_fit}
    if r and "lmer" in r:
        res["causalpa_over_lme4"] = t_fit / r["lmer"]
        res["causalpa_satt_over_lmerTest"] = t_satt / r["lmerTest_summary"]
    out["sleepstudy"] = res
    print("sleepstudy:", json.dumps(res, indent=1), flush=True)

    # ---------------------------------------------------------------- 5,000 x 8
    big = big_data()
    bargs = dict(groups="patient", re_formula="~session")
    t_fit, fit = timed(lambda: cpa.mixed(big, "y ~ session * pa", **bargs, df="normal"), 3)
    t_satt, _ = timed(lambda: cpa.mixed(big, "y ~ session * pa", **bargs), 3)
    tracemalloc.start()
    t0 = time.perf_counter()
    kr = cpa.mixed(big, "y ~ session * pa", **bargs, df="kenward-roger")
    t_kr = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    res = {"n_rows": len(big), "causalpa_fit": t_fit, "causalpa_satterthwaite": t_satt,
           "causalpa_kenward_roger": t_kr, "causalpa_kr_peak_mb": peak / 2**20,
           "converged": bool(fit.converged), "reml_criterion": fit.reml_criterion,
           "kr_df_session_pa": float(kr.tidy()["df"].iloc[3])}
    big.to_csv(tmp / "big.csv", index=False)
    r = run_r(tmp / "big.csv", "big", 3)
    res["lme4"] = r
    if r and "lmer" in r:
        res["causalpa_over_lme4"] = t_fit / r["lmer"]
        res["causalpa_satt_over_lmerTest"] = t_satt / r["lmerTest_summary"]
    if not quick:
        t_sm, sm = timed(lambda: smf.mixedlm("y ~ session * pa", big, groups="patient",
                                             re_formula="~session").fit(reml=True), 1)
        res["statsmodels"] = t_sm
        res["statsmodels_over_causalpa"] = t_sm / t_fit
    out["sessions_5000x8"] = res
    print("5000 x 8:", json.dumps(res, indent=1), flush=True)

    # ---------------------------------------------------------------- nested 2,000 x 8
    nest = big_data(m=2000, seed=3, therapists=100)
    nargs = dict(groups=["therapist", "patient"], re_formula="~session")
    t_fit, fit = timed(lambda: cpa.mixed(nest, "y ~ session * pa", **nargs, df="normal"), 3)
    t_satt, _ = timed(lambda: cpa.mixed(nest, "y ~ session * pa", **nargs), 3)
    t_kr, _ = timed(lambda: cpa.mixed(nest, "y ~ session * pa", **nargs, df="kenward-roger"), 3)
    res = {"n_rows": len(nest), "causalpa_fit": t_fit, "causalpa_satterthwaite": t_satt,
           "causalpa_kenward_roger": t_kr, "converged": bool(fit.converged),
           "reml_criterion": fit.reml_criterion}
    nest.to_csv(tmp / "nested.csv", index=False)
    r = run_r(tmp / "nested.csv", "nested", 3)
    res["lme4"] = r
    if r and "lmer" in r:
        res["causalpa_over_lme4"] = t_fit / r["lmer"]
        res["causalpa_satt_over_lmerTest"] = t_satt / r["lmerTest_summary"]
    out["nested_2000x8"] = res
    print("nested 2000 x 8:", json.dumps(res, indent=1), flush=True)
    try:
        import resource

        out["max_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    except ImportError:
        pass
    dest = ROOT / "benchmarks" / "results"
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "bench_mixed.json").write_text(json.dumps(out, indent=2))
    print("wrote", dest / "bench_mixed.json")


if __name__ == "__main__":
    main()
