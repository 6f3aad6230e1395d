"""Tests for cpa.gee: geepack reference values, weights mapping, calibration, bad input."""

from __future__ import annotations

import dataclasses
import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import causalpa as cpa
from causalpa.errors import ConvergenceWarning, DataError, SmallSampleWarning, SpecificationError
from causalpa.results import ESTIMATE_COLUMNS

REF = Path(__file__).parent / "reference" / "geepack"
GEEPACK = json.loads((REF / "geeglm_sessions.json").read_text())
GAP_PATIENTS = ["P03", "P07", "P11", "P19", "P23"]


@pytest.fixture(scope="module")
def sessions() -> pd.DataFrame:
    return pd.read_csv(REF / "sessions.csv")


def _gap(d: pd.DataFrame) -> pd.DataFrame:
    return d[~((d.session == 2) & d.patient.isin(GAP_PATIENTS))]


CASES = {
    "gaussian_exch_weighted": ("phq9 ~ session * pa + age", "gaussian", "exchangeable", "w", None),
    "gaussian_indep_weighted": ("phq9 ~ session * pa + age", "gaussian", "independence", "w", None),
    "binomial_exch_weighted": ("case ~ session + pa + age", "binomial", "exchangeable", "w", None),
    "binomial_exch": ("case ~ session + pa", "binomial", "exchangeable", None, None),
    "gaussian_ar1_gaps": ("phq9 ~ session * pa", "gaussian", "ar1", None, "session"),
    "gaussian_ar1_weighted_gaps": ("phq9 ~ session * pa + age", "gaussian", "ar1", "w", "session"),
}


def _rel(a, b) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-12)))


@pytest.mark.parametrize("case", list(CASES))
def test_matches_geepack(sessions, case):
    formula, family, corr, w, time = CASES[case]
    ref = GEEPACK[case]
    data = _gap(sessions) if "gaps" in case else sessions
    se = "bias-reduced" if "md_se" in ref else "robust"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SmallSampleWarning)
        fit = cpa.gee(data, formula, groups="patient", family=family, corr=corr, weights=w,
                      time=time, se=se)
    assert fit.converged
    assert fit.n_obs == ref["n"] and fit.n_groups == ref["clusters"]
    assert [t.replace("Intercept", "(Intercept)") for t in fit.terms] == ref["term"]
    assert _rel(fit.params, ref["estimate"]) < 1e-6
    assert _rel(np.sqrt(np.diag(fit.cov_robust)), ref["robust_se"]) < 1e-6
    assert _rel(np.sqrt(np.diag(fit.cov_naive)), ref["naive_se"]) < 1e-6
    assert _rel([fit.scale], [ref["scale"]]) < 1e-6
    if ref["alpha"] is None:
        assert np.isnan(fit.working_correlation)
    else:
        assert _rel([fit.working_correlation], [ref["alpha"]]) < 1e-6
    if "md_se" in ref:
        assert _rel(fit.tidy().std_error, ref["md_se"]) < 1e-6
    else:
        tab = fit.tidy()
        assert _rel(tab.std_error, ref["robust_se"]) < 1e-6
        # geepack's Wald statistic is z^2 with a chi-square(1) p-value
        assert _rel(tab.statistic**2, ref["wald"]) < 1e-5
        assert _rel(tab.p_value, ref["p_value"]) < 1e-5


def test_tidy_columns_and_intervals(sessions):
    fit = cpa.gee(sessions, "phq9 ~ session * pa", df="clusters", se="bias-reduced")
    tab = fit.tidy()
    assert list(tab.columns) == list(ESTIMATE_COLUMNS)
    assert (tab.df == 40 - 4).all()
    assert (tab.outcome == "phq9").all() and (tab.n == len(sessions)).all()
    assert tab.method.iloc[0] == "GEE (gaussian, exchangeable)" and tab.estimand.isna().all()
    q = stats.t.ppf(0.975, 36)
    np.testing.assert_allclose(tab.conf_high - tab.estimate, q * tab.std_error)
    assert "exchangeable" in fit.summary() and "Mancl-DeRouen" in repr(fit)
    assert "<table" in fit._repr_html_()
    assert fit.to_dict()["n_groups"] == 40
    # the statsmodels habits read the same table
    np.testing.assert_array_equal(fit.params.to_numpy(), tab.estimate.to_numpy())
    np.testing.assert_array_equal(fit.bse.to_numpy(), tab.std_error.to_numpy())
    np.testing.assert_array_equal(fit.conf_int().conf_high.to_numpy(), tab.conf_high.to_numpy())
    np.testing.assert_array_equal(np.sqrt(np.diag(fit.cov_bias_reduced)), tab.std_error)
    ci90 = fit.conf_int(0.90)
    np.testing.assert_allclose(ci90.conf_high - tab.estimate.to_numpy(),
                               stats.t.ppf(0.95, 36) * tab.std_error.to_numpy())


def test_result_is_frozen_and_returns_copies(sessions):
    fit = cpa.gee(sessions, "phq9 ~ session * pa", se="bias-reduced", df="clusters")
    before = fit.tidy()
    with pytest.raises(dataclasses.FrozenInstanceError):
        fit.working_correlation = 0.0  # type: ignore[misc]
    for name in ("cov", "cov_robust", "cov_naive", "cov_bias_reduced"):
        m = getattr(fit, name)
        m.iloc[:, :] = 0.0
        assert getattr(fit, name) is not m and (np.diag(getattr(fit, name)) > 0).all()
    params = fit.params
    params.iloc[:] = 0.0
    fit.predict(sessions)[:] = 0.0
    fit.predict()[:] = 0.0
    pd.testing.assert_frame_equal(fit.tidy(), before)
    assert (fit.predict() != 0).all()
    with pytest.raises(ValueError, match="read-only"):
        fit._coef[0] = 0.0


def test_declared_options_are_checked_and_canonical(sessions):
    a = cpa.gee(sessions, "phq9 ~ session * pa", corr="AR1", time="session", se="Robust",
                df="Clusters")
    assert (a.corr, a.se, a.df) == ("ar1", "robust", 40 - 4)
    for kwargs, name in [({"family": "poisson"}, "family"), ({"conf_level": 1.0}, "conf_level"),
                         ({"max_iter": 0}, "max_iter"), ({"tol": 0}, "tol"),
                         ({"df": -1}, "df"), ({"groups": 3}, "groups"), ({"time": 3}, "time")]:
        with pytest.raises(SpecificationError, match=f"`{name}`"):
            cpa.gee(sessions, "phq9 ~ session", **kwargs)
    fit = cpa.gee(sessions, "phq9 ~ session")
    with pytest.raises(SpecificationError, match="`type`"):
        fit.predict(sessions, type="probability")
    with pytest.raises(SpecificationError, match="`size`"):
        fit.working_correlation_matrix(size=0)
    assert cpa.gee(sessions, "phq9 ~ session", df=12.5).tidy().df.eq(12.5).all()


def test_small_sample_note_and_warning_points_at_the_caller(sessions):
    few = sessions[sessions.patient <= "P30"]
    with pytest.warns(SmallSampleWarning) as caught:
        fit = cpa.gee(few, "phq9 ~ session")
    assert caught[0].filename == __file__
    assert len(fit.notes) == 1 and "30 clusters" in fit.notes[0]
    assert "note: only 30 clusters" in fit.summary()
    assert fit.to_dict()["notes"] == list(fit.notes)


def test_predict_on_new_data_uses_the_fit_encoding(sessions):
    d = sessions.assign(arm=np.where(sessions.pa == 1, "PA", "usual"))
    fit = cpa.gee(d, "phq9 ~ session * C(arm) + age")
    assert fit.terms == ("Intercept", "session", "C(arm)[T.usual]", "age",
                         "session:C(arm)[T.usual]")
    new = pd.DataFrame({"session": [0, 3, 3], "arm": ["usual", "PA", "PA"], "age": [30.0, 40, 40]})
    X = np.column_stack([np.ones(3), [0, 3, 3], [1, 0, 0], [30.0, 40, 40], [0, 0, 0]])
    np.testing.assert_allclose(fit.predict(new), X @ fit.params.to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(fit.predict(d), fit.predict(), rtol=1e-12)
    with pytest.raises(DataError, match="model matrix"):
        fit.predict(new.drop(columns="age"))
    with pytest.raises(DataError, match="`newdata`"):
        fit.predict(new.to_numpy())


def test_patient_level_weights_mapped_by_id(sessions):
    patients = sessions.groupby("patient", as_index=False).first()[["patient", "w"]]
    patients = patients.sample(frac=1, random_state=3).reset_index(drop=True)  # any order
    a = cpa.gee(sessions, "phq9 ~ session * pa", weights="w")
    b = cpa.gee(sessions, "phq9 ~ session * pa", weights=patients["w"],
                weights_by=patients["patient"])
    np.testing.assert_allclose(a.params, b.params, rtol=1e-12)
    np.testing.assert_allclose(a.cov, b.cov, rtol=1e-10)
    # a row-aligned Series is aligned by label
    s = sessions["w"].sample(frac=1, random_state=1)
    c = cpa.gee(sessions, "phq9 ~ session * pa", weights=s)
    np.testing.assert_allclose(a.params, c.params, rtol=1e-12)


def test_patient_weights_without_ids_refused(sessions):
    patients = sessions.groupby("patient", as_index=False).first()
    with pytest.raises(DataError, match="weights_by"):
        cpa.gee(sessions, "phq9 ~ session", weights=patients["w"])
    with pytest.raises(DataError, match="no weight for 'patient'"):
        cpa.gee(sessions, "phq9 ~ session", weights=patients["w"][:-1],
                weights_by=patients["patient"][:-1])


def test_row_order_invariance_and_no_mutation(sessions):
    before = sessions.copy()
    a = cpa.gee(_gap(sessions), "phq9 ~ session * pa", corr="ar1", time="session", weights="w")
    shuffled = _gap(sessions).sample(frac=1, random_state=7)
    b = cpa.gee(shuffled, "phq9 ~ session * pa", corr="ar1", time="session", weights="w")
    np.testing.assert_allclose(a.params, b.params, rtol=1e-10)
    np.testing.assert_allclose(a.cov, b.cov, rtol=1e-8)
    assert a.working_correlation == pytest.approx(b.working_correlation, rel=1e-10)
    pd.testing.assert_frame_equal(sessions, before)


def test_predict(sessions):
    fit = cpa.gee(sessions, "case ~ session + pa", family="binomial")
    p = fit.predict(sessions)
    assert p.shape == (len(sessions),) and ((p > 0) & (p < 1)).all()
    np.testing.assert_allclose(fit.predict(), p, rtol=1e-12)
    eta = fit.predict(sessions.head(3), type="link")
    np.testing.assert_allclose(1 / (1 + np.exp(-eta)), p[:3])
    R = fit.working_correlation_matrix(size=3)
    assert R.shape == (3, 3) and R.iloc[0, 1] == pytest.approx(fit.working_correlation)


def test_small_sample_warning(sessions):
    few = sessions[sessions.patient <= "P30"]
    with pytest.warns(SmallSampleWarning, match="bias-reduced"):
        cpa.gee(few, "phq9 ~ session")
    with warnings.catch_warnings():
        warnings.simplefilter("error", SmallSampleWarning)
        cpa.gee(few, "phq9 ~ session", se="bias-reduced", df="clusters")


def test_nonconvergence_warns(sessions):
    with pytest.warns(ConvergenceWarning):
        cpa.gee(sessions, "case ~ session + pa + age", family="binomial", max_iter=1)


# --------------------------------------------------------------------------- bad input
def test_bad_inputs(sessions):
    d = sessions.copy()
    d.loc[d.index[4], "phq9"] = np.nan
    with pytest.raises(DataError, match="'phq9'"):
        cpa.gee(d, "phq9 ~ session")
    with pytest.raises(DataError, match="'nope'"):
        cpa.gee(sessions, "phq9 ~ session + nope")
    with pytest.raises(DataError, match="'clinic'"):
        cpa.gee(sessions, "phq9 ~ session", groups="clinic")
    with pytest.raises(DataError, match="0/1"):
        cpa.gee(sessions, "phq9 ~ session", family="binomial")
    neg = sessions.assign(w=-sessions.w)
    with pytest.raises(DataError, match=">= 0"):
        cpa.gee(neg, "phq9 ~ session", weights="w")
    with pytest.raises(SpecificationError, match="`corr`"):
        cpa.gee(sessions, "phq9 ~ session", corr="unstructured")
    with pytest.raises(SpecificationError, match="`se`"):
        cpa.gee(sessions, "phq9 ~ session", se="jackknife")
    with pytest.raises(SpecificationError, match="`df`"):
        cpa.gee(sessions, "phq9 ~ session", df="kr")
    dup = pd.concat([sessions, sessions.head(1)])
    dup.index = range(len(dup))
    with pytest.raises(DataError, match="distinct times"):
        cpa.gee(dup, "phq9 ~ session", corr="ar1", time="session")
    with pytest.raises(DataError, match="length"):
        cpa.gee(sessions, "phq9 ~ session", weights=np.ones(3))
    with pytest.raises(SpecificationError, match="formula"):
        cpa.gee(sessions, "phq9 session")


# --------------------------------------------------------------------------- calibration
def test_bias_reduced_ci_coverage_near_nominal():
    """Seeded simulation, 30 clusters: Mancl-DeRouen + t(G - p) CIs cover the truth ~95%.

    400 replicates: Monte-Carlo SE of a 95% coverage is 0.011, so the band is +-3.3 SE.
    """
    rng = np.random.default_rng(2024)
    G, m, reps, beta = 30, 5, 400, -0.4
    pa = np.repeat(np.arange(G) % 2, m)
    session = np.tile(np.arange(m), G)
    X = np.column_stack([np.ones(G * m), session, pa, session * pa])
    base = pd.DataFrame({"patient": np.repeat(np.arange(G), m), "session": session, "pa": pa})
    hits = 0
    for _ in range(reps):
        y = X @ [15, -0.8, 0.5, beta] + np.repeat(rng.normal(0, 3, G), m) + rng.normal(0, 2, G * m)
        fit = cpa.gee(base.assign(phq9=y), "phq9 ~ session * pa", se="bias-reduced",
                      df="clusters")
        row = fit.tidy().iloc[3]
        hits += row.conf_low <= beta <= row.conf_high
    cover = hits / reps
    assert 0.914 <= cover <= 0.986, cover


def test_user_guide_snippets_run():
    """The code blocks of docs/user-guide/gee-panel-glmm.md run as written."""
    import re

    page = Path(__file__).parents[1] / "docs" / "user-guide" / "gee-panel-glmm.md"
    if not page.exists():  # docs are not shipped with an installed package
        pytest.skip("docs not available")
    code = "\n".join(re.findall(r"```python\n(.*?)```", page.read_text(), re.S))
    namespace: dict = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exec(compile(code, str(page), "exec"), namespace)
    assert namespace["fe"].absorbed == ("pa",)
    assert namespace["ipw"].weighted and namespace["ipw"].n_groups == 120


def test_weight_scale_invariance_and_unit_weights(sessions):
    a = cpa.gee(sessions, "case ~ session + pa", family="binomial", weights="w")
    b = cpa.gee(sessions.assign(w=sessions.w * 7.5), "case ~ session + pa", family="binomial",
                weights="w")
    np.testing.assert_allclose(a.params, b.params, rtol=1e-9)
    np.testing.assert_allclose(a.cov_robust, b.cov_robust, rtol=1e-8)
    assert a.working_correlation == pytest.approx(b.working_correlation, rel=1e-9)
    c = cpa.gee(sessions, "case ~ session + pa", family="binomial")
    d = cpa.gee(sessions, "case ~ session + pa", family="binomial", weights=np.ones(len(sessions)))
    np.testing.assert_allclose(c.params, d.params, rtol=1e-12)
    e = cpa.gee(sessions.assign(case=sessions.case == 1), "case ~ session + pa", family="binomial")
    np.testing.assert_allclose(c.params, e.params, rtol=1e-12)


def test_fuzz_malformed_weights_give_clear_errors(sessions):
    """Any malformed weight vector is refused with a DataError naming `weights`."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    n = len(sessions)
    bad_value = st.sampled_from([-1.0, float("nan"), float("inf"), -1e-9])

    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(pos=st.integers(0, n - 1), value=bad_value, length=st.integers(0, 2 * n))
    def check(pos, value, length):
        w = np.ones(n)
        w[pos] = value
        with pytest.raises(DataError, match="weights"):
            cpa.gee(sessions, "phq9 ~ session", weights=w)
        if length != n:
            with pytest.raises(DataError, match="weights"):
                cpa.gee(sessions, "phq9 ~ session", weights=np.ones(length))

    check()


def test_ipw_weighted_trajectory_removes_confounding():
    """Seeded simulation: a baseline confounder x drives both the choice of PA and the
    symptom slope. The unweighted GEE slope difference is confounded; the IPW-weighted GEE
    (weights from cpa.weight, mapped by patient id) recovers the true marginal difference
    -0.4 within 4 Monte-Carlo SEs, and its weights-known sandwich is not anti-conservative."""
    rng = np.random.default_rng(7)
    n, m, reps, truth = 400, 5, 60, -0.4
    est_w, est_u, se_w = [], [], []
    for _ in range(reps):
        x = rng.normal(size=n)
        pa = (rng.random(n) < 1 / (1 + np.exp(-x))).astype(int)
        pts = pd.DataFrame({"patient": np.arange(n), "x": x, "pa": pa})
        sess = pts.loc[np.repeat(np.arange(n), m)].reset_index(drop=True)
        sess["session"] = np.tile(np.arange(m), n)
        slope = -0.5 + truth * sess.pa - 0.6 * sess.x
        sess["phq9"] = (15 + slope * sess.session + np.repeat(rng.normal(0, 2, n), m)
                        + rng.normal(0, 1.5, n * m))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            w = cpa.weight(pts, "pa ~ x", estimand="ATE")
            fw = cpa.gee(sess, "phq9 ~ session * pa", weights=w.weights,
                         weights_by=pts["patient"])
            fu = cpa.gee(sess, "phq9 ~ session * pa")
        est_w.append(fw.params["session:pa"])
        se_w.append(np.sqrt(fw.cov.loc["session:pa", "session:pa"]))
        est_u.append(fu.params["session:pa"])
    est_w = np.asarray(est_w)
    mc_se = est_w.std(ddof=1) / np.sqrt(reps)
    assert abs(est_w.mean() - truth) < 4 * mc_se
    assert np.mean(est_u) < truth - 0.3  # confounded without weights
    assert np.mean(se_w) > 0.9 * est_w.std(ddof=1)


# --------------------------------------------------------------------------- AR(1), units of time
def _ar1_sessions(rho: float, seed: int = 0, G: int = 200, m: int = 5) -> pd.DataFrame:
    """Gaussian AR(1) errors within patient (lag-one correlation ``rho`` per session)."""
    rng = np.random.default_rng(seed)
    e = np.zeros((G, m))
    e[:, 0] = rng.normal(size=G)
    for j in range(1, m):
        e[:, j] = rho * e[:, j - 1] + np.sqrt(1 - rho**2) * rng.normal(size=G)
    d = pd.DataFrame({"patient": np.repeat(np.arange(G), m), "session": np.tile(np.arange(m), G)})
    d["y"] = 10 - 0.5 * d.session + e.reshape(-1)
    return d


@pytest.mark.parametrize("rho", [0.7, -0.5])
def test_ar1_correlation_does_not_depend_on_the_unit_of_time(rho):
    """Times in weeks (2 per session), days (7) or months (1/4): no pair is one unit apart,
    where geepack's update (started at 0, with derivative 0 there) used to stay at 0. The
    least-squares rho in the new unit is the session one to the power 1/unit, and the fits
    are the same."""
    d = _ar1_sessions(rho)
    d = d.assign(week=2 * d.session, day=7 * d.session, month=d.session / 4)
    base = cpa.gee(d, "y ~ session", corr="ar1", time="session")
    assert base.converged and base.working_correlation == pytest.approx(rho, abs=0.1)
    units = {"day": 7.0} if rho < 0 else {"week": 2.0, "day": 7.0, "month": 0.25}
    for column, unit in units.items():
        fit = cpa.gee(d, "y ~ session", corr="ar1", time=column)
        assert fit.converged
        assert fit.working_correlation**unit == pytest.approx(base.working_correlation, rel=1e-8)
        np.testing.assert_allclose(fit.params, base.params, rtol=1e-9)
        np.testing.assert_allclose(fit.cov, base.cov, rtol=1e-7)
    # a negative rho with even-lag-only times (weeks) cannot be an AR(1) in weeks: rho >= 0 there
    if rho < 0:
        assert cpa.gee(d, "y ~ session", corr="ar1", time="week").working_correlation >= 0


def test_ar1_correlation_is_the_least_squares_fit():
    """The reported rho minimises sum (r_j r_k / phi - rho^|t_j - t_k|)^2 over all pairs at
    the final estimates (the documented estimator), checked by brute force on a fine grid."""
    d = _ar1_sessions(0.6, seed=3, G=80)
    d = d[~((d.session == 2) & (d.patient % 3 == 0))]  # gaps: lags 1..4 and 2..4
    d = d.assign(week=2 * d.session)
    fit = cpa.gee(d, "y ~ session", corr="ar1", time="week")
    r = d.y.to_numpy() - fit.predict()
    z = r / np.sqrt(np.mean(r**2))
    prods, lags = [], []
    for _, idx in d.groupby("patient").indices.items():
        t = d.week.to_numpy()[idx]
        j, k = np.triu_indices(len(idx), 1)
        prods.append(z[idx][j] * z[idx][k])
        lags.append(np.abs(t[k] - t[j]))
    prods, lags = np.concatenate(prods), np.concatenate(lags)
    grid = np.linspace(0, 0.9999, 100_001)
    crit = [np.sum((prods - a**lags) ** 2) for a in (grid[::100])]
    coarse = grid[::100][int(np.argmin(crit))]
    fine = grid[(grid > coarse - 0.002) & (grid < coarse + 0.002)]
    best = fine[int(np.argmin([np.sum((prods - a**lags) ** 2) for a in fine]))]
    assert fit.working_correlation == pytest.approx(best, abs=2e-5)
    assert fit.working_correlation > 0.5


# --------------------------------------------------------------------------- weights, convergence
def test_df_clusters_counts_only_clusters_with_positive_weight():
    """Zero-weight clusters take no part in the fit: the fit, its df and the small-sample
    check are those of the positive-weight clusters alone."""
    rng = np.random.default_rng(0)
    G = 30
    d = pd.DataFrame({"patient": np.repeat(np.arange(G), 5), "session": np.tile(np.arange(5), G)})
    d["pa"] = d.patient % 2
    d["y"] = rng.normal(size=G * 5) + np.repeat(rng.normal(size=G), 5)
    d["w"] = np.where(d.patient < 20, 0.0, 1.0)
    a = cpa.gee(d, "y ~ session * pa", weights="w", se="bias-reduced", df="clusters")
    b = cpa.gee(d[d.w > 0], "y ~ session * pa", se="bias-reduced", df="clusters")
    assert (a.n_groups, a.df) == (b.n_groups, b.df) == (10, 10 - 4)
    pd.testing.assert_frame_equal(a.tidy(), b.tidy().assign(n=a.n_obs), rtol=1e-8)
    with pytest.warns(SmallSampleWarning, match="only 10 clusters"):
        cpa.gee(d, "y ~ session * pa", weights="w")


def test_convergence_tolerance_is_relative_to_the_coefficients(sessions):
    """An outcome in units of 1e6 or 1e8 converges (an absolute step of 1e-10 is below the
    rounding error of coefficients of 1e9) to the scaled estimates."""
    data = _gap(sessions)
    base = cpa.gee(data, "phq9 ~ session * pa + age", corr="ar1", time="session")
    for scale in (1e6, 1e8):
        with warnings.catch_warnings():
            warnings.simplefilter("error", ConvergenceWarning)
            fit = cpa.gee(data.assign(phq9=data.phq9 * scale), "phq9 ~ session * pa + age",
                          corr="ar1", time="session")
        assert fit.converged and fit.n_iter < 50
        np.testing.assert_allclose(fit.params / scale, base.params, rtol=1e-9)
        assert fit.working_correlation == pytest.approx(base.working_correlation, rel=1e-9)


# --------------------------------------------------------------------------- refused designs
def test_binomial_constant_or_separated_outcome_is_refused(sessions):
    with pytest.raises(DataError, match="'case' is 1 in every row: a logistic GEE"):
        cpa.gee(sessions.assign(case=1), "case ~ session", family="binomial")
    w = np.where(sessions.case == 1, 1.0, 0.0)
    with pytest.raises(DataError, match="'case' is 1 in every row with positive weight"):
        cpa.gee(sessions, "case ~ session", family="binomial", weights=w)
    with pytest.raises(DataError, match="separation: term.*'pa'.*'case'"):
        cpa.gee(sessions.assign(case=sessions.pa), "case ~ session + pa", family="binomial")
    quasi = sessions.assign(case=np.where(sessions.pa == 1, 1, sessions.case))
    with pytest.raises(DataError, match=r"\(quasi-\)complete separation.*'pa'"):
        cpa.gee(quasi, "case ~ session + pa", family="binomial")


def test_collinear_or_constant_terms_are_named(sessions):
    with pytest.raises(DataError, match="rank-deficient.*'s2'"):
        cpa.gee(sessions.assign(s2=2 * sessions.session), "phq9 ~ session + s2")
    w = np.where(sessions.pa == 1, 0.0, 1.0)
    with pytest.raises(DataError, match="'pa'.*constant.*rows with positive `weights`"):
        cpa.gee(sessions, "phq9 ~ session * pa", weights=w)


def test_bias_reduced_sandwich_refuses_clusters_of_leverage_one():
    """A term specific to one cluster fits it exactly (leverage 1): the Mancl-DeRouen
    correction divides by 1 - 1 and gave SEs of 4e4 or a raw LinAlgError."""
    rng = np.random.default_rng(0)
    d = pd.DataFrame({"patient": np.repeat(np.arange(20), 3), "session": np.tile(np.arange(3), 20)})
    d["y"] = rng.normal(size=60) + d.session
    d["solo"] = ((d.patient == 0) & (d.session == 0)).astype(float)
    with pytest.raises(DataError, match="1 'patient' cluster.*leverage 1 \\(0\\).*se='robust'"):
        cpa.gee(d, "y ~ session + solo", se="bias-reduced")
    with pytest.raises(DataError, match="20 'patient' cluster.*leverage 1"):
        cpa.gee(d, "y ~ session + C(patient)", corr="independence", se="bias-reduced")
    with pytest.raises(DataError, match="working correlation is singular.*C\\(patient\\)"):
        cpa.gee(d, "y ~ session + C(patient)", se="bias-reduced")
    with pytest.warns(SmallSampleWarning):  # the plain sandwich is defined
        fit = cpa.gee(d, "y ~ session + solo", se="robust")
    assert np.isfinite(fit.bse).all()


def test_conf_level_is_the_shared_constraint():
    """Every conf_level of the longitudinal models is declared by _validation.CONF_LEVEL."""
    from causalpa._validation import CONF_LEVEL, declared_params
    from causalpa.longitudinal.glmm import GLMMResult
    from causalpa.longitudinal.mixed import MixedModelResult

    for fn in (cpa.gee, cpa.glmm, cpa.panel, cpa.mixed, GLMMResult.odds_ratios,
               MixedModelResult.contrast):
        assert any(c is CONF_LEVEL for c in declared_params(fn)["conf_level"]), fn
