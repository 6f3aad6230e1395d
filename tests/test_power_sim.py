"""Simulated power: calibration against analytic formulas, reproducibility, failures."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest

import causalpa as cpa
from causalpa.errors import CausalpaWarning, SmallSampleWarning, SpecificationError
from causalpa.power import analytic
from causalpa.power.analyses import adjust_pvalues, ancova_kernel, riskdiff_kernel, ttest_kernel
from causalpa.power.calibration import _smd
from causalpa.simulate import patient_arrays

power = cpa.power


def _mc_tol(p: float, n_sims: int, z: float = 3.5) -> float:
    return z * math.sqrt(p * (1 - p) / n_sims)


def _big(design, n=200_000, seed=99):
    return patient_arrays(n, np.random.default_rng(seed), params=design.params)


# ----------------------------------------------------------------------------- kernels
def test_kernels_match_statsmodels_and_scipy() -> None:
    import statsmodels.api as sm
    from scipy import stats

    rng = np.random.default_rng(0)
    y = rng.normal(size=(3, 40))
    x = rng.normal(size=(3, 40))
    arm = np.tile(np.repeat([0, 1], 20), (3, 1))
    y[1, 5] = np.nan
    t = ttest_kernel(y, arm)
    a = ancova_kernel(y, arm, x)
    for r in range(3):
        ok = np.isfinite(y[r])
        ref = stats.ttest_ind(y[r, ok & (arm[r] == 1)], y[r, ok & (arm[r] == 0)])
        assert t["p_value"][r] == pytest.approx(ref.pvalue, rel=1e-10)
        X = sm.add_constant(np.column_stack([arm[r], x[r]])[ok])
        fit = sm.OLS(y[r, ok], X).fit()
        assert a["estimate"][r] == pytest.approx(fit.params[1], rel=1e-10)
        assert a["std_error"][r] == pytest.approx(fit.bse[1], rel=1e-10)
        assert a["p_value"][r] == pytest.approx(fit.pvalues[1], rel=1e-8)
        lo, hi = fit.conf_int()[1]
        assert a["conf_low"][r] == pytest.approx(lo, rel=1e-10)
        assert a["conf_high"][r] == pytest.approx(hi, rel=1e-10)
    yb = (rng.random((2, 60)) < 0.4).astype(float)
    armb = np.tile(np.repeat([0, 1], 30), (2, 1))
    rd = riskdiff_kernel(yb, armb)
    for r in range(2):
        table = np.array([[yb[r, armb[r] == 1].sum(), 30 - yb[r, armb[r] == 1].sum()],
                          [yb[r, armb[r] == 0].sum(), 30 - yb[r, armb[r] == 0].sum()]])
        chi2 = stats.chi2_contingency(table, correction=False)
        assert rd["p_value"][r] == pytest.approx(chi2.pvalue, rel=1e-10)


def test_holm_and_bonferroni_match_statsmodels() -> None:
    from statsmodels.stats.multitest import multipletests

    rng = np.random.default_rng(1)
    p = rng.random((50, 4)) ** 3
    for method in ("holm", "bonferroni"):
        ours = adjust_pvalues(p, method)
        ref = np.vstack([multipletests(row, method=method)[1] for row in p])
        np.testing.assert_allclose(ours, ref, rtol=1e-12)


# ----------------------------------------------------------------------------- paths
def test_batched_and_general_paths_give_identical_results() -> None:
    d = power.RandomisedTrial(effect=0.6, analyses=("t-test", "ancova"),
                              outcomes=("phq9_change", "gad7_change"), attrition=0.2)
    a = power.simulate(d, n=30, n_sims=60, rng=11, progress=False, path="batched")
    b = power.simulate(d, n=30, n_sims=60, rng=11, progress=False, path="general")
    assert a.path == "batched" and b.path == "general"
    cols = ["estimate", "std_error", "conf_low", "conf_high", "p_value", "truth"]
    np.testing.assert_allclose(a.replicates[cols].to_numpy(), b.replicates[cols].to_numpy(),
                               rtol=1e-10, equal_nan=True)
    assert (a.replicates["reject"] == b.replicates["reject"]).all()


def test_results_do_not_depend_on_block_size() -> None:
    d = power.RandomisedTrial(effect=0.5, analyses=("ancova",))
    a = power.simulate(d, n=25, n_sims=45, rng=5, progress=False, block_size=7)
    b = power.simulate(d, n=25, n_sims=45, rng=5, progress=False, block_size=45)
    pd.testing.assert_frame_equal(a.replicates, b.replicates)


def test_same_seed_identical_across_n_jobs_and_dask() -> None:
    distributed = pytest.importorskip("distributed")
    d = power.RandomisedTrial(effect=0.5, analyses=("t-test", "risk-difference"),
                              outcomes=("recovered",))
    kw = dict(n=20, n_sims=24, rng=2024, progress=False, path="general")
    one = power.simulate(d, n_jobs=1, **kw)
    two = power.simulate(d, n_jobs=2, **kw)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        dk = power.simulate(d, backend="dask", client=client, **kw)
        dk_batched = power.simulate(d.with_(analyses=("t-test",)), backend="dask",
                                    **{**kw, "path": "batched"})
    pd.testing.assert_frame_equal(one.replicates, two.replicates)
    pd.testing.assert_frame_equal(one.replicates, dk.replicates)
    local_batched = power.simulate(d.with_(analyses=("t-test",)), **{**kw, "path": "batched"})
    pd.testing.assert_frame_equal(local_batched.replicates, dk_batched.replicates)


def test_dask_without_client_is_a_clear_error() -> None:
    pytest.importorskip("distributed")
    d = power.RandomisedTrial(effect=0.5, analyses=("t-test",))
    with pytest.raises(SpecificationError, match="Client"):
        power.simulate(d, n=10, n_sims=4, rng=1, progress=False, backend="dask")


# ----------------------------------------------------------------------------- calibration
def test_simulated_power_matches_analytic_t_and_ancova() -> None:
    design = power.RandomisedTrial.from_smd(0.43, analyses=("t-test", "ancova"))
    big = _big(design)
    d = _smd(big, "phq9_change")
    assert d == pytest.approx(0.43, abs=0.01)
    # ANCOVA's rho: 1 - rho^2 = pooled within-arm residual variance of change given
    # baseline over the pooled variance of change (the arms differ a little)
    x = big["phq9_first"].astype(float)
    resid, total = [], []
    for arm in (0, 1):
        y = big[f"phq9_change_{arm}"].astype(float)
        resid.append(np.var(y - np.polyval(np.polyfit(x, y, 1), x)))
        total.append(np.var(y))
    rho = math.sqrt(1 - np.mean(resid) / np.mean(total))
    n, n_sims = 60, 2000
    res = power.simulate(design, n=n, n_sims=n_sims, rng=7, progress=False)
    t = res.tidy().set_index("analysis")
    p_t = analytic.two_sample_t(d=d, n=n).power
    p_a = analytic.ancova(d=d, n=n, rho=rho).power
    assert t.loc["t-test", "power"] == pytest.approx(p_t, abs=_mc_tol(p_t, n_sims))
    assert t.loc["ancova", "power"] == pytest.approx(p_a, abs=_mc_tol(p_a, n_sims))
    assert t.loc["ancova", "power"] > t.loc["t-test", "power"]
    # unbiased for the sample ATE, nominal coverage
    for a in ("t-test", "ancova"):
        assert abs(t.loc[a, "bias"]) < 4 * t.loc[a, "empirical_se"] / math.sqrt(n_sims)
        assert t.loc[a, "coverage"] == pytest.approx(0.95, abs=_mc_tol(0.95, n_sims))


def test_simulated_power_matches_analytic_proportions() -> None:
    design = power.RandomisedTrial(effect=0.9, analyses=("risk-difference",),
                                   outcomes=("recovered",))
    big = _big(design)
    p1, p0 = big["recovered_1"].mean(), big["recovered_0"].mean()
    n, n_sims = 80, 2000
    res = power.simulate(design, n=n, n_sims=n_sims, rng=8, progress=False)
    expected = analytic.two_proportions(p1=p1, p2=p0, n=n).power
    assert res.power == pytest.approx(expected, abs=_mc_tol(expected, n_sims) + 0.01)


@pytest.mark.parametrize("analysis", ["t-test", "ancova", "risk-difference"])
def test_type_one_error_near_alpha(analysis: str) -> None:
    outcome = "recovered" if analysis == "risk-difference" else "phq9_change"
    design = power.RandomisedTrial(effect=0.0, analyses=(analysis,), outcomes=(outcome,))
    n_sims = 2000
    res = power.simulate(design, n=30, n_sims=n_sims, rng=13, progress=False)
    assert res.power == pytest.approx(0.05, abs=_mc_tol(0.05, n_sims))
    assert res.tidy()["truth"].iloc[0] == 0.0


# ----------------------------------------------------------------------------- features
def test_multiple_outcomes_all_any_and_adjustment() -> None:
    base = dict(effect=0.5, analyses=("ancova",), outcomes=("phq9_change", "gad7_change"))
    holm = power.simulate(power.RandomisedTrial(**base), n=40, n_sims=300, rng=3,
                          progress=False).tidy().set_index("outcome")
    bonf = power.simulate(power.RandomisedTrial(multiplicity="bonferroni", **base), n=40,
                          n_sims=300, rng=3, progress=False).tidy().set_index("outcome")
    none = power.simulate(power.RandomisedTrial(multiplicity=None, **base), n=40,
                          n_sims=300, rng=3, progress=False).tidy().set_index("outcome")
    for o in ("phq9_change", "gad7_change"):
        assert bonf.loc[o, "power"] <= holm.loc[o, "power"] <= none.loc[o, "power"]
    assert holm.loc["all", "power"] <= min(holm.loc["phq9_change", "power"],
                                           holm.loc["gad7_change", "power"])
    assert holm.loc["any", "power"] >= max(holm.loc["phq9_change", "power"],
                                           holm.loc["gad7_change", "power"])


def _flaky(data):
    pts = data.patients
    if pts["pa"].sum() % 3 == 0:
        raise np.linalg.LinAlgError("singular matrix (by design of this test)")
    warnings.warn("custom analysis warning", UserWarning, stacklevel=1)
    diff = pts.loc[pts.pa == 1, "phq9_change"].mean() - pts.loc[pts.pa == 0, "phq9_change"].mean()
    return diff, 0.01


def test_failed_fits_are_counted_not_non_rejections() -> None:
    design = power.RandomisedTrial(effect=0.3, analyses=(_flaky,))
    with pytest.warns(CausalpaWarning, match="fits failed"):
        res = power.simulate(design, n=15, n_sims=60, rng=4, progress=False)
    row = res.tidy().iloc[0]
    reps = res.replicates
    n_fail = int(reps["failed"].sum())
    assert 0 < n_fail < 60
    assert row["n_failed"] == n_fail and row["n_valid"] == 60 - n_fail
    # the callable always returns p = 0.01: every valid replicate rejects
    assert row["power"] == 1.0
    assert res.errors.loc[0, "error"] == "LinAlgError"
    assert res.errors["count"].sum() == n_fail
    assert res.warnings.loc[0, "count"] == 60 - n_fail
    assert "fits failed" in res.summary() and "LinAlgError" in res.summary()


def test_custom_callable_dict_and_effect_outputs() -> None:
    def as_dict(data, outcome):
        y = data.patients[outcome]
        return {"estimate": float(y.mean()), "p_value": 0.5, "std_error": 1.0}

    design = power.RandomisedTrial(effect=0.3, analyses=(as_dict,))
    res = power.simulate(design, n=10, n_sims=5, rng=1, progress=False)
    assert res.power == 0.0 and res.tidy()["mean_std_error"].iloc[0] == 1.0

    def bad(data):
        return "nonsense"

    with pytest.raises(SpecificationError, match="custom analysis"):
        power.simulate(power.RandomisedTrial(analyses=(bad,)), n=10, n_sims=2, rng=1,
                       progress=False)


def test_curve_and_sample_size() -> None:
    import matplotlib

    matplotlib.use("Agg")
    design = power.RandomisedTrial(effect=1.0, analyses=("ancova",))
    c = power.curve(design, ns=[30, 10, 20], n_sims=200, rng=2, progress=False)
    f = c.tidy()
    assert f["n"].tolist() == [10, 20, 30]
    assert f["power"].is_monotonic_increasing
    ax = c.plot(analytic=lambda n: 0.5)
    assert ax.get_xlabel() == "n"
    s = power.sample_size(design, target=0.8, n_sims=200, rng=2, n_max=200)
    ev = s.evaluations.set_index("n")
    assert s.power >= 0.8
    below = ev[ev.index < s.n]
    assert len(below) and (below["power"] < 0.8).all()
    assert s.power_low <= s.power <= s.power_high
    assert "reaches power" in s.summary()


def test_longitudinal_mixed_and_cluster_designs_run() -> None:
    d = power.LongitudinalTrial(effect=0.8, attrition=0.25)
    res = power.simulate(d, n=20, n_sims=6, rng=1, progress=False)
    row = res.tidy().iloc[0]
    assert row["analysis"] == "mixed" and row["n_failed"] == 0 and res.path == "general"
    sim = d.generate(20, rng=3)
    lost = sim.patients["phq9_change"].isna()
    assert lost.any()
    # lost patients keep only their first session
    s = sim.sessions[sim.sessions.patient.isin(sim.patients.loc[lost, "patient"])]
    assert (s["session"] == 0).all()
    c = power.ClusterTrial(effect=0.8, cluster_size=5, analyses=("mixed-cluster", "cluster-t"))
    res = power.simulate(c, n=20, n_sims=6, rng=1, progress=False)
    assert set(res.tidy()["analysis"]) == {"mixed-cluster", "cluster-t"}
    data = c.generate(20, rng=1)
    per_ther = data.patients.groupby("therapist")["pa"].nunique()
    assert (per_ther == 1).all()


def test_observational_ipw_aipw_power() -> None:
    d = power.ObservationalStudy(effect=0.8, selection=1.0, analyses=("ipw", "aipw", "t-test"))
    res = power.simulate(d, n=200, n_sims=12, rng=1, progress=False)
    t = res.tidy().set_index("analysis")
    assert (t["n_failed"] == 0).all()
    assert np.isfinite(t.loc["ipw", "truth"]) and np.isfinite(t.loc["aipw", "bias"])


def test_observational_psm_power() -> None:
    d = power.ObservationalStudy(effect=0.8, selection=1.0, analyses=("psm",))
    res = power.simulate(d, n=200, n_sims=8, rng=1, progress=False)
    row = res.tidy().iloc[0]
    assert row["n_failed"] == 0 and np.isfinite(row["truth"])


def test_from_pilot_warns_and_plans_conservatively() -> None:
    sim = cpa.simulate.cohort(n=38, rng=5)
    pts = sim.patients.copy()
    before = pts.copy()
    with pytest.warns(SmallSampleWarning, match="imprecise"):
        est = power.from_pilot(pts, sim.sessions)
    pd.testing.assert_frame_equal(pts, before)
    assert est.smd_low < est.smd < est.smd_high
    assert est.choose_smd("literature") == 0.43
    assert est.choose_smd("lower") == est.smd_low
    design = est.design("randomised", effect="literature", analyses=("ancova",))
    assert power.realised_smd(design) == pytest.approx(0.43, abs=0.01)
    with pytest.raises(SpecificationError, match="effect"):
        est.choose_smd("optimistic")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"n": 1}, "`n`"), ({"n_sims": 0}, "`n_sims`"), ({"alpha": 1.5}, "`alpha`"),
     ({"backend": "spark"}, "`backend`"), ({"path": "fast"}, "`path`"),
     ({"n_jobs": 0}, "`n_jobs`")],
)
def test_simulate_argument_errors(kwargs, match) -> None:
    d = power.RandomisedTrial(analyses=("t-test",))
    args = {"n": 10, "n_sims": 2, "rng": 1, "progress": False, **kwargs}
    with pytest.raises(SpecificationError, match=match):
        power.simulate(d, **args)


def test_design_argument_errors() -> None:
    with pytest.raises(SpecificationError, match="`analysis`"):
        power.RandomisedTrial(analyses=("anova-ish",))
    with pytest.raises(SpecificationError, match="`attrition`"):
        power.RandomisedTrial(attrition=1.0)
    with pytest.raises(SpecificationError, match="`multiplicity`"):
        power.RandomisedTrial(multiplicity="fdr")
    with pytest.raises(SpecificationError, match="batched"):
        power.simulate(power.LongitudinalTrial(), n=10, n_sims=2, path="batched",
                       progress=False)
    with pytest.raises(SpecificationError, match="0/1 outcome"):
        power.simulate(power.RandomisedTrial(analyses=("risk-difference",)), n=10, n_sims=2,
                       progress=False)


def test_result_views() -> None:
    d = power.RandomisedTrial(effect=0.5, analyses=("t-test",))
    res = power.simulate(d, n=20, n_sims=50, rng=1, progress=False)
    js = res.to_dict()
    assert js["n_total"] == 40 and js["table"][0]["n_sims"] == 50 and js["seed"] == 1
    lo, hi = res.power_ci
    assert lo <= res.power <= hi
    assert "<table" in res._repr_html_()
    k = int(res.tidy()["n_rejected"].iloc[0])
    from scipy import stats

    assert lo == pytest.approx(stats.beta.ppf(0.025, k, 50 - k + 1) if k else 0.0)


def test_a_replicate_seed_gives_the_same_data_every_time() -> None:
    d = power.RandomisedTrial(effect=0.5, analyses=("t-test",), attrition=0.3)
    ss = np.random.SeedSequence(42).spawn(1)[0]
    a = d.generate(15, ss).patients
    b = d.generate(15, ss).patients
    pd.testing.assert_frame_equal(a, b)
    arr = d.generate_arrays(15, ss, ["phq9_change"])
    np.testing.assert_array_equal(arr["phq9_change"], a["phq9_change"].to_numpy(dtype=float))


def test_mixed_analysis_accepts_formula_and_term_options() -> None:
    opts = {"mixed": {"formula": "{score} ~ np.log1p(session) * {treatment}",
                      "re_formula": "~np.log1p(session)",
                      "term": "np.log1p(session):{treatment}"}}
    d = power.LongitudinalTrial(effect=0.8, attrition=0.0, options=opts)
    res = power.simulate(d, n=15, n_sims=3, rng=2, progress=False)
    row = res.tidy().iloc[0]
    assert row["n_failed"] == 0 and np.isfinite(row["mean_estimate"])
    bad = power.LongitudinalTrial(effect=0.8, options={"mixed": {"term": "nonexistent"}})
    with pytest.raises(SpecificationError, match="nonexistent"):
        power.simulate(bad, n=10, n_sims=2, rng=2, progress=False)


def test_logistic_analysis_and_analysis_plan() -> None:
    import statsmodels.api as sm

    d = power.RandomisedTrial(effect=0.8, analyses={"recovered": "logistic",
                                                    "phq9_change": "ancova"})
    res = power.simulate(d, n=40, n_sims=8, rng=3, progress=False)
    t = res.tidy().set_index("outcome")
    assert set(t.index) == {"recovered", "phq9_change", "all", "any"}
    assert t.loc["all", "analysis"] == "plan"
    # the logistic estimate is the log odds ratio of arm adjusted for baseline PHQ-9
    data = d.generate(40, np.random.SeedSequence(3).spawn(8)[0])
    pts = data.patients
    X = sm.add_constant(pts[["pa", "phq9_first"]].to_numpy(dtype=float))
    fit = sm.GLM(pts["recovered"].to_numpy(dtype=float), X, family=sm.families.Binomial()).fit()
    first = res.replicates.query("replicate == 0 and outcome == 'recovered'").iloc[0]
    assert first["estimate"] == pytest.approx(fit.params[1], rel=1e-8)


def test_progress_bar_reports_replicates(capsys) -> None:
    d = power.RandomisedTrial(effect=0.5, analyses=("t-test",))
    power.simulate(d, n=10, n_sims=20, rng=1, progress=True)
    err = capsys.readouterr().err
    assert "20/20" in err or "rep" in err


def test_batched_blocks_respect_the_memory_budget() -> None:
    from causalpa.power.batched import MEMORY_BUDGET, chunk_size

    for n_total in (50, 400, 20_000, 10**6):
        c = chunk_size(n_total, 10)
        assert c >= 1
        if c > 1:
            assert 8 * n_total * (10 + 12) * c <= MEMORY_BUDGET


def test_weighting_removes_the_selection_bias_of_the_naive_comparison() -> None:
    d = power.ObservationalStudy(effect=0.43, selection=1.0, analyses=("t-test", "ipw"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = power.simulate(d, n=300, n_sims=60, rng=8, progress=False)
    t = res.tidy().set_index("analysis")
    se = t["empirical_se"] / math.sqrt(60)
    # self-selection makes the naive difference too small (towards no benefit) ...
    assert t.loc["t-test", "bias"] > 3 * se["t-test"]
    # ... IPW on the recorded confounders is unbiased within Monte-Carlo error
    assert abs(t.loc["ipw", "bias"]) < 3.5 * se["ipw"]


def test_batched_cluster_t_equals_general_and_the_random_intercept_lmm() -> None:
    c = power.ClusterTrial(effect=0.6, cluster_size=10, analyses=("cluster-t",), attrition=0.2)
    a = power.simulate(c, n=40, n_sims=30, rng=3, progress=False)
    b = power.simulate(c, n=40, n_sims=30, rng=3, progress=False, path="general")
    assert a.path == "batched"
    cols = ["estimate", "std_error", "p_value", "truth"]
    np.testing.assert_allclose(a.replicates[cols].to_numpy(), b.replicates[cols].to_numpy(),
                               rtol=1e-10, equal_nan=True)
    # balanced clusters, no covariates: the t test on therapist means is the REML
    # random-intercept model's Satterthwaite test (unless the variance is estimated at 0)
    from causalpa.power.analyses import get_analysis

    bal = power.ClusterTrial(effect=0.6, cluster_size=10, icc=0.2, analyses=("cluster-t",))
    ctx = bal.context("phq9_change")
    compared = 0
    for seed in range(4):
        data = bal.generate(40, seed)
        est = get_analysis("cluster-t").func(data, "phq9_change", ctx)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = cpa.mixed(data.patients, "phq9_change ~ pa", groups="therapist")
        row = fit.tidy().query("term == 'pa'").iloc[0]
        assert row["estimate"] == pytest.approx(est.estimate, rel=1e-8)
        if row["df"] < 10:  # therapist variance not on the boundary
            assert row["p_value"] == pytest.approx(est.p_value, rel=1e-5)
            compared += 1
    assert compared >= 2


def test_user_guide_blocks_run() -> None:
    """The Python blocks of docs/user-guide/power.md run as written (Dask ones aside)."""
    import pathlib
    import re

    import matplotlib

    matplotlib.use("Agg")
    page = pathlib.Path(__file__).resolve().parents[1] / "docs" / "user-guide" / "power.md"
    blocks = re.findall(r"```python\n(.*?)```", page.read_text(encoding="utf-8"), re.S)
    runnable = [b for b in blocks if "dask" not in b and "Client(" not in b]
    assert len(runnable) >= 5
    namespace: dict = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for block in runnable:
            exec(compile(block, str(page), "exec"), namespace)  # noqa: S102
    assert namespace["res"].seed == 1 and namespace["found"].n >= 5
    assert isinstance(namespace["design"], power.RandomisedTrial)


# ----------------------------------------------------------------------------- the grammar
def test_results_are_frozen_protocol_results_holding_copies() -> None:
    import dataclasses
    import json

    from causalpa.results import Result

    d = power.RandomisedTrial(effect=0.5, analyses=("t-test", "ancova"),
                              outcomes=("phq9_change", "gad7_change"))
    res = power.simulate(d, n=20, n_sims=40, rng=3, progress=False)
    assert isinstance(res, Result) and type(res).summary is Result.summary
    reps = res.replicates
    reps.loc[:, "estimate"] = 0.0
    reps.loc[:, "reject"] = True
    assert not (res.replicates["estimate"] == 0.0).all()
    pd.testing.assert_frame_equal(res.tidy(), power.simulate(d, n=20, n_sims=40, rng=3,
                                                             progress=False).tidy())
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.n_sims = 1  # type: ignore[misc]
    js = json.loads(json.dumps(res.to_dict()))
    assert js["result"] == "PowerResult" and js["multiplicity"] == "holm"
    assert {r["outcome"] for r in js["table"]} == {"phq9_change", "gad7_change", "all", "any"}
    assert res.summary().splitlines()[0] == f"Simulated power: {d.describe()}"
    c = power.curve(d.with_(outcomes=("phq9_change",)), ns=[10, 20], n_sims=30, rng=3,
                    progress=False)
    assert c.to_dict()["ns"] == [10, 20] and len(c.tidy()) == 4


def test_sample_size_result_views_and_plot() -> None:
    import matplotlib

    matplotlib.use("Agg")
    d = power.RandomisedTrial(effect=1.0, analyses=("t-test",))
    s = power.sample_size(d, target=0.8, n_sims=100, rng=4, n_min=10, n_max=200)
    t = s.tidy()
    assert t.columns.tolist() == ["analysis", "outcome", "n", "n_total", "power", "power_low",
                                  "power_high", "target"]
    assert t.loc[0, "n"] == s.n and t.loc[0, "analysis"] == "t-test"
    ev = s.evaluations
    ev.loc[:, "power"] = -1.0
    assert (s.evaluations["power"] >= 0).all()
    assert s.to_dict()["evaluated"] == sorted(s.evaluations["n"].tolist())
    assert s.power == float(s.result.tidy()["power"].iloc[0])
    ax = s.plot()
    assert ax.get_xlabel() == "n" and len(ax.lines) >= 2


def test_rng_forms_and_the_recorded_seed() -> None:
    d = power.RandomisedTrial(effect=0.5, analyses=("t-test",))
    kw = dict(n=15, n_sims=20, progress=False)
    a = power.simulate(d, rng=9, **kw)
    b = power.simulate(d, rng=np.random.SeedSequence(9), **kw)
    assert a.seed == b.seed == 9
    pd.testing.assert_frame_equal(a.replicates, b.replicates)
    g = power.simulate(d, rng=np.random.default_rng(5), **kw)
    again = power.simulate(d, rng=g.seed, **kw)  # the recorded seed repeats the run
    pd.testing.assert_frame_equal(g.replicates, again.replicates)
    fresh = power.simulate(d, **kw)
    assert isinstance(fresh.seed, int)
    with pytest.raises(SpecificationError, match="`rng`"):
        power.simulate(d, rng=-3, **kw)
    with pytest.raises(SpecificationError, match="`ns`"):
        power.curve(d, ns=[10, 1], n_sims=5, rng=1, progress=False)
    with pytest.raises(SpecificationError, match="`n_max`"):
        power.sample_size(d, n_min=50, n_max=20, n_sims=5, rng=1)


def test_designs_hold_one_cohort_params() -> None:
    from causalpa.simulate import CohortParams

    d = power.ClusterTrial(effect=0.5, icc=0.1, cluster_size=5,
                           simulator={"mean_sessions": 8, "attrition": 0.0})
    assert isinstance(d.params, CohortParams)
    assert (d.params.icc, d.params.mean_sessions, d.params.attrition, d.params.assignment) == (
        0.1, 8.0, 0.0, "therapist")
    assert d.params.n_therapists is None and d.cohort_params(20).n_therapists == 8
    fixed = d.with_(simulator={"n_therapists": 6})
    assert fixed.cohort_params(20).n_therapists == 6 and fixed.params.mean_sessions == 7.0
    obs = power.ObservationalStudy(selection=0.7, hidden=0.2, p_treated=0.3)
    assert (obs.params.selection, obs.params.hidden, obs.params.p_treated) == (0.7, 0.2, 0.3)
    sim = obs.generate(60, 2)
    assert sim.params == obs.params.resolve(60) and sim.rng == 2
    with pytest.raises(SpecificationError, match="sample_size"):
        power.RandomisedTrial(simulator={"sample_size": 3})
    with pytest.raises(SpecificationError, match="`icc`"):
        power.RandomisedTrial(simulator={"icc": 2.0})
    with pytest.raises(SpecificationError, match="design arguments"):
        power.RandomisedTrial(simulator={"effect": 0.3})
    with pytest.raises(SpecificationError, match="`allocation`"):
        power.RandomisedTrial(allocation=1.0)
    with pytest.raises(SpecificationError, match="`cluster_size`"):
        power.ClusterTrial(cluster_size=0)


def test_pilot_estimates_are_a_protocol_result() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = power.from_pilot(cpa.datasets.load_pilot())
    row = est.tidy().iloc[0]
    assert row["smd"] == est.smd and row["n_treated"] + row["n_control"] == 38
    assert "imprecise" in est.summary() and est.to_dict()["notes"]
    with pytest.raises(SpecificationError, match="`kind`"):
        est.design("crossover")
    with pytest.raises(SpecificationError, match="`conf_level`"):
        power.from_pilot(cpa.datasets.load_pilot(), conf_level=1.5)


@pytest.mark.parametrize("cls", [power.RandomisedTrial, power.ClusterTrial,
                                 power.LongitudinalTrial, power.ObservationalStudy])
def test_design_arguments_are_declared_and_bad_values_named(cls) -> None:
    from causalpa._validation import declared_params

    declared = declared_params(cls)
    assert {"effect", "multiplicity", "attrition", "conf_level", "simulator"} <= set(declared)
    for name, constraints in declared.items():
        for bad in (v for c in constraints for v in c.invalid_examples()):
            if any(c.accepts(bad) for c in constraints):
                continue
            with pytest.raises(SpecificationError, match=f"`{name}`"):
                cls(**{name: bad})


def test_inline_literals_agree_with_the_declared_options() -> None:
    from typing import get_args, get_type_hints

    from causalpa.power import backends, calibration, designs, harness, pilot
    from causalpa.simulate import _params

    def hint(obj, name):
        return get_args(get_args(get_type_hints(obj)[name])[0]) \
            if type(None) in get_args(get_type_hints(obj)[name]) \
            else get_args(get_type_hints(obj)[name])

    assert hint(harness.simulate, "backend") == get_args(backends.Backend)
    assert hint(harness.curve, "backend") == get_args(backends.Backend)
    assert hint(backends.run_blocks, "backend") == get_args(backends.Backend)
    assert hint(designs.Design, "multiplicity") == get_args(designs.Multiplicity)
    assert hint(_params.CohortParams, "assignment") == get_args(_params.Assignment)
    assert hint(calibration.calibrate_effect, "outcome") == get_args(
        calibration.CalibrationOutcome)
    assert hint(pilot.PilotEstimates.design, "kind") == get_args(pilot.DesignKind)


# ----------------------------------------------------------------------------- regressions
def test_sample_size_stops_when_power_is_undefined() -> None:
    # two therapists at n = 5 per arm: the cluster-means t test has no df in any replicate
    design = power.ClusterTrial(effect=0.5, analyses=("cluster-t",), cluster_size=10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CausalpaWarning)
        with pytest.raises(SpecificationError,
                           match=r"undefined at n = 5.*cluster-t on phq9_change: "
                                 r"UndefinedStatistic.*`n_min`"):
            power.sample_size(design, target=0.8, n_sims=20, rng=1, n_min=5, n_max=500)


def test_sample_size_and_curve_refuse_n_of_their_own() -> None:
    d = power.RandomisedTrial(analyses=("t-test",))
    with pytest.raises(SpecificationError, match="sets `n` itself"):
        power.sample_size(d, n_sims=5, rng=1, n=10)
    with pytest.raises(SpecificationError, match="sets `n` itself"):
        power.curve(d, ns=[10], n_sims=5, rng=1, n=10, progress=False)


def test_design_checks_outcomes_baselines_and_covariates_up_front() -> None:
    with pytest.raises(SpecificationError, match=r"`outcomes`: 'phq9_chnage'.*'ipw'"):
        power.ObservationalStudy(outcomes=("phq9_chnage",), analyses=("ipw",))
    with pytest.raises(SpecificationError, match=r"`outcomes`: 'phq9_chnage'.*'mixed-cluster'"):
        power.ClusterTrial(outcomes=("phq9_chnage",))
    with pytest.raises(SpecificationError, match="`outcomes` must be a column name"):
        power.RandomisedTrial(outcomes=3)
    with pytest.raises(SpecificationError, match=r"`baselines`: 'phq9_frist'"):
        power.RandomisedTrial(baselines={"phq9_change": "phq9_frist"})
    with pytest.raises(SpecificationError, match=r"`covariates` read \['agee'\]"):
        power.ObservationalStudy(covariates=("agee", "C(sex)"))
    # one string is one column, as everywhere else
    assert power.ObservationalStudy(covariates="age").covariates == ("age",)
    assert power.RandomisedTrial(outcomes="gad7_change").outcomes == ("gad7_change",)
    # custom analyses may analyse anything they like
    assert power.RandomisedTrial(analyses=(lambda data: (0.0, 1.0),),
                                 outcomes=("anything",)).outcomes == ("anything",)


def test_mixed_needs_a_session_score_outcome() -> None:
    with pytest.raises(SpecificationError, match=r"'mixed' models session scores.*'recovered'"):
        power.LongitudinalTrial(outcomes=("recovered",))
    res = power.simulate(power.LongitudinalTrial(effect=0.8, outcomes=("gad7_change",)), n=15,
                         n_sims=2, rng=1, progress=False)
    assert res.tidy()["n_failed"].iloc[0] == 0


def test_missing_columns_in_complete_cases_are_setup_errors() -> None:
    from causalpa.power.analyses import AnalysisContext, _complete

    pts = cpa.simulate.cohort(n=40, rng=1).patients
    ctx = AnalysisContext(covariates=("age", "C(sex)"))
    with pytest.raises(SpecificationError, match="outcome 'nope'"):
        _complete(pts, "nope", ctx, covariates=True)
    with pytest.raises(SpecificationError, match="covariate 'age'"):
        _complete(pts.drop(columns="age"), "phq9_change", ctx, covariates=True)


def test_covariate_terms_are_parsed_as_formula_terms() -> None:
    from causalpa.power.analyses import AnalysisContext

    ctx = AnalysisContext(covariates=("C(sex)", "I(age**2)", "np.log(imd_decile)"))
    assert ctx.covariate_columns() == ["age", "imd_decile", "sex"]
    d = power.ObservationalStudy(effect=0.5, analyses=("ipw",),
                                 covariates=("age", "I(age**2)", "C(sex)", "phq9_first"))
    res = power.simulate(d, n=200, n_sims=3, rng=2, progress=False)
    assert res.tidy()["n_failed"].iloc[0] == 0 and res.errors.empty


def test_estimand_option_sets_the_truth_of_bias_and_coverage() -> None:
    base = dict(effect=0.5, selection=1.0, simulator={"heterogeneity": 1.0})
    att = power.ObservationalStudy(analyses=("ipw",), options={"ipw": {"estimand": "att"}},
                                   **base)
    res = power.simulate(att, n=300, n_sims=6, rng=1, progress=False)
    seeds = np.random.SeedSequence(1).spawn(6)
    truths = [att.generate(300, rng=s).truth.loc["phq9_change"] for s in seeds]
    got = res.replicates["truth"].to_numpy()
    np.testing.assert_array_equal(got, [t["ATT"] for t in truths])
    assert np.all(np.abs(got - [t["ATE"] for t in truths]) > 0.5)  # ATT != ATE here
    # without the option IPW estimates (and is compared to) the ATE
    ate = power.simulate(att.with_(options={}), n=300, n_sims=6, rng=1, progress=False)
    np.testing.assert_array_equal(ate.replicates["truth"], [t["ATE"] for t in truths])
    # analyses that take no estimand ignore it (batched path)
    tt = power.RandomisedTrial(analyses=("t-test",), options={"t-test": {"estimand": "ATT"}})
    assert _estimand_of(tt) == "ATE"


def _estimand_of(design) -> str:
    a, o, _ = design.tests()[0]
    return a.estimand_in(design.context(o))


def test_multiplicity_is_reported_when_a_family_holds_several_tests() -> None:
    plan = power.RandomisedTrial(effect=0.4, analyses={"phq9_change": ("ancova", "t-test")})
    res = power.simulate(plan, n=30, n_sims=40, rng=1, progress=False)
    reps = res.replicates.dropna(subset=["p_value"])
    assert (reps["p_adjusted"] > reps["p_value"]).any()  # Holm-adjusted ...
    assert res.multiplicity == "holm"  # ... and reported
    c = power.curve(plan, ns=[20, 30], n_sims=20, rng=1, progress=False)
    assert c.to_dict()["multiplicity"] == "holm"
    # one test per family: nothing is adjusted and nothing reported
    separate = power.simulate(plan.with_(analyses=("ancova", "t-test")), n=30, n_sims=20,
                              rng=1, progress=False)
    assert separate.multiplicity is None


def test_seeds_come_from_one_helper() -> None:
    from causalpa._validation import as_seed
    from causalpa.power import calibration, designs, harness

    for make in (lambda: 7, lambda: np.random.SeedSequence(7),
                 lambda: np.random.default_rng(7), lambda: np.random.PCG64(7)):
        seed = as_seed(make())
        root, recorded = harness.root_seed(make())
        assert recorded == (seed.entropy if isinstance(seed, np.random.SeedSequence) else seed)
        assert root.entropy == designs.seed_sequence(make()).entropy == recorded
    assert calibration.realised_smd(power.RandomisedTrial(effect=0.5), n=2000,
                                    rng=np.random.default_rng(3)) == \
        calibration.realised_smd(power.RandomisedTrial(effect=0.5), n=2000,
                                 rng=as_seed(np.random.default_rng(3)))
    from causalpa.simulate import _cohort

    assert designs.FOLLOW_UP is _cohort.FOLLOW_UP


def test_minor_bad_inputs_are_named() -> None:
    with pytest.raises(SpecificationError, match="`design` must be a causalpa.power design"):
        power.realised_smd("x")
    with pytest.raises(SpecificationError, match=r"give `smd` \(0.4\) or `effect` \(0.3\)"):
        power.RandomisedTrial.from_smd(0.4, effect=0.3)


def _pilot(n=38, rng=5):
    return cpa.simulate.cohort(n=n, rng=rng).patients


def test_from_pilot_bad_columns_and_text_treatment() -> None:
    from causalpa.errors import DataError

    pts = _pilot()
    text = pts.assign(phq9_first="x")
    with pytest.raises(DataError, match="baseline column 'phq9_first' must be numeric"):
        power.from_pilot(text)
    with pytest.raises(DataError, match="outcome column 'phq9_change' must be numeric"):
        power.from_pilot(pts.assign(phq9_change=pts["phq9_change"].astype(str)))
    labelled = pts.assign(pa=np.where(pts["pa"] == 1, "PA", "control"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SmallSampleWarning)
        with pytest.raises(DataError, match="`treated=`"):
            power.from_pilot(labelled)
        a = power.from_pilot(labelled, treated="PA")
        b = power.from_pilot(pts)
    assert (a.smd, a.smd_low, a.smd_high) == (b.smd, b.smd_low, b.smd_high)
    assert labelled["pa"].iloc[0] in ("PA", "control")  # not modified


def test_from_pilot_interval_with_separated_arms() -> None:
    from scipy import stats

    pts = _pilot()
    sep = pts.assign(phq9_change=np.where(pts["pa"] == 1, -20.0, 0.0)
                     + np.random.default_rng(0).normal(0, 0.3, len(pts)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SmallSampleWarning)
        est = power.from_pilot(sep, conf_level=0.95)
    assert 0 < est.smd_low < est.smd < est.smd_high
    n1, n0 = est.n_treated, est.n_control
    scale = math.sqrt(1 / n1 + 1 / n0)
    for bound, p in ((est.smd_low, 0.025), (est.smd_high, 0.975)):
        assert stats.nct.sf(est.smd / scale, n1 + n0 - 2, bound / scale) == pytest.approx(
            p, abs=1e-6)
    # beyond what the noncentral t can represent: a DataError, not scipy's ValueError
    from causalpa.errors import DataError

    extreme = pts.assign(phq9_change=np.where(pts["pa"] == 1, -20.0, 0.0)
                         + np.random.default_rng(0).normal(0, 1e-9, len(pts)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SmallSampleWarning)
        with pytest.raises(DataError, match="interval of d .* cannot be computed"):
            power.from_pilot(extreme)
