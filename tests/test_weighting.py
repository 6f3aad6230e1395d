"""Tests for causalpa.weighting against R (tests/reference/weightit/nhefs_weighting.R)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from causalpa.errors import (
    DataError,
    ExtremeWeightsWarning,
    PositivityWarning,
    SmallSampleWarning,
    SpecificationError,
)
from causalpa.weighting import METHODS, trim_weights, weight

REF = Path(__file__).parent / "reference" / "weightit"
# What If, ch. 12 (program 12.4): covariates of the propensity model
PS = ("qsmk ~ C(sex) + C(race) + age + I(age**2) + C(education) + smokeintensity"
      " + I(smokeintensity**2) + smokeyrs + I(smokeyrs**2) + C(exercise) + C(active)"
      " + wt71 + I(wt71**2)")


@pytest.fixture(scope="module")
def nhefs() -> pd.DataFrame:
    d = pd.read_csv(REF / "nhefs.csv")
    for c in ("sex", "race", "education", "exercise", "active"):
        d[c] = d[c].astype(int).astype(str)
    return d


@pytest.fixture(scope="module")
def ref() -> dict:
    return json.loads((REF / "nhefs_weighting.json").read_text())


def _w(data, formula=PS, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PositivityWarning)
        return weight(data, formula, **kw)


def test_nhefs_what_if_estimate_and_robust_ci(nhefs, ref):
    w = _w(nhefs, stabilize=True)
    np.testing.assert_allclose(w.weights.to_numpy(), ref["weights_ate_stab"], rtol=1e-8)
    np.testing.assert_allclose(w.ps.coef.to_numpy(), ref["ps_coef"], rtol=1e-7)
    e = w.estimate("wt82_71", se="robust")
    # What If: 3.4 kg (95% CI 2.4 to 4.5); R geeglm (robust HC0): 3.44 (2.41, 4.47)
    assert e.estimate == pytest.approx(ref["gee"]["estimate"], rel=1e-8)
    assert round(e.estimate, 2) == 3.44
    assert e.std_error == pytest.approx(ref["gee"]["se"], rel=1e-7)
    assert e.conf_low == pytest.approx(ref["gee"]["conf_low"], rel=1e-7)
    assert e.conf_high == pytest.approx(ref["gee"]["conf_high"], rel=1e-7)
    assert "HC0" in e.inference and e.df == np.inf


CASES = [
    ("ipw_ate_stab", dict(estimand="ATE", stabilize=True), "wt82_71", None, None),
    ("ipw_ate", dict(estimand="ATE"), "wt82_71", None, None),
    ("ipw_att", dict(estimand="ATT"), "wt82_71", None, None),
    ("ipw_atc", dict(estimand="ATC"), "wt82_71", None, None),
    ("ipw_ato", dict(estimand="ATO"), "wt82_71", None, None),
    ("ipw_ate_stab_adjust", dict(estimand="ATE", stabilize=True), "wt82_71", ["age", "sex"], None),
    ("ipw_att_adjust", dict(estimand="ATT"), "wt82_71", ["age", "sex"], None),
    ("ipw_ate_stab_rd_death", dict(estimand="ATE", stabilize=True), "death", None, None),
    ("ipw_ate_stab_rr_death", dict(estimand="ATE", stabilize=True), "death", None, "risk ratio"),
    ("ipw_ate_or_death_adjust", dict(estimand="ATE"), "death", ["age", "sex"], "odds ratio"),
]


@pytest.mark.parametrize("case,opts,outcome,adjust,measure", CASES, ids=[c[0] for c in CASES])
def test_m_estimation_sandwich_matches_r(nhefs, ref, case, opts, outcome, adjust, measure):
    r = ref[case]
    w = _w(nhefs, **opts)
    e = w.estimate(outcome, adjust=adjust, measure=measure)
    est = np.log(e.estimate) if measure in ("risk ratio", "odds ratio") else e.estimate
    assert est == pytest.approx(r["estimate"], rel=1e-7, abs=1e-10)
    assert e.std_error == pytest.approx(r["se"], rel=1e-7)
    assert "M-estimation" in e.inference
    # the sandwich with the weights treated as known (HC0) is se="robust"
    robust = w.estimate(outcome, adjust=adjust, measure=measure, se="robust")
    assert robust.std_error == pytest.approx(r["se_weights_known_hc0"], rel=1e-7)
    assert robust.estimate == pytest.approx(e.estimate, rel=1e-12)


def test_gee_hc0_equals_weights_known_sandwich(nhefs, ref):
    from causalpa.weighting import stacked_sandwich

    w = _w(nhefs, stabilize=True).weights.to_numpy()
    t = nhefs["qsmk"].to_numpy(int)
    _, se, _ = stacked_sandwich(nhefs.wt82_71.to_numpy(), t, w, np.zeros((len(t), 0)),
                                np.ones(len(t)), "difference", logit=False, nuisance=None)
    assert se == pytest.approx(ref["gee"]["se"], rel=1e-7)
    assert ref["ipw_ate_stab"]["se_weights_known_hc0"] == pytest.approx(ref["gee"]["se"],
                                                                       rel=1e-7)


def test_entropy_balancing_att_matches_r(nhefs, ref):
    w = _w(nhefs, method="entropy", estimand="ATT")
    np.testing.assert_allclose(w.weights.to_numpy(), ref["weights_ebal_att"], rtol=1e-6)
    e = w.estimate("wt82_71")
    assert e.estimate == pytest.approx(ref["ebal_att"]["estimate"], rel=1e-7)
    assert e.std_error == pytest.approx(ref["ebal_att"]["se"], rel=1e-7)


@pytest.mark.parametrize("estimand", ["ATE", "ATT", "ATC"])
def test_entropy_exact_mean_balance(nhefs, estimand):
    w = _w(nhefs, method="entropy", estimand=estimand)
    X, names = w.spec.design(nhefs)
    t = nhefs.qsmk.to_numpy(int)
    wt = w.weights.to_numpy()
    target = {"ATE": X.mean(0), "ATT": X[t == 1].mean(0), "ATC": X[t == 0].mean(0)}[estimand]
    for arm in (0, 1):
        m = t == arm
        np.testing.assert_allclose(np.average(X[m], axis=0, weights=wt[m]), target,
                                   rtol=1e-7, atol=1e-8)


def test_trim_semantics_follow_weightit(nhefs, ref):
    w = _w(nhefs, trim=0.95)
    np.testing.assert_allclose(w.weights, ref["weights_ate_trim95"], rtol=1e-10)
    assert len(w.trimmed) == int(np.sum(np.asarray(ref["weights_ate_trim95"])
                                        < _w(nhefs).weights.to_numpy() - 1e-12))
    w2 = _w(nhefs, estimand="ATT", trim=0.1, trim_lower=True)  # 0.1 read as 0.9
    np.testing.assert_allclose(w2.weights, ref["weights_att_trim90_lower"], rtol=1e-10)
    w3 = _w(nhefs, trim=5)
    np.testing.assert_allclose(w3.weights, ref["weights_ate_trim_top5"], rtol=1e-10)
    e = w.estimate("wt82_71")
    assert "weights treated as known" in e.inference
    wd, changed = trim_weights(np.array([1.0, 2, 3, 4, 50]), np.zeros(5, int), 0.8, drop=True)
    assert wd.tolist() == [1.0, 2, 3, 4, 0] and changed.tolist() == [False] * 4 + [True]


def test_weights_formulas_and_ess(nhefs):
    w = _w(nhefs, estimand="ATT")
    e = w.ps.scores.to_numpy()
    t = nhefs.qsmk.to_numpy(int)
    np.testing.assert_allclose(w.weights, np.where(t == 1, 1, e / (1 - e)))
    wo = _w(nhefs, estimand="ATO").weights.to_numpy()
    np.testing.assert_allclose(wo, np.where(t == 1, 1 - e, e))
    ess = w.ess
    wc = w.weights.to_numpy()[t == 0]
    assert ess["control"] == pytest.approx(wc.sum() ** 2 / (wc**2).sum())
    assert ess["treated"] == pytest.approx(t.sum())
    s = w.tidy().set_index("arm")
    assert list(s.index) == ["treated", "control"]
    assert s.loc["control", "max"] == wc.max() and s.loc["treated", "n"] == t.sum()
    assert s.loc["control", "ess"] == ess["control"]


def test_formula_and_columns_identical_index_kept_and_input_unchanged(nhefs):
    df = nhefs.set_index("seqn")
    before = df.copy()
    a = _w(df, "qsmk ~ age + wt71 + C(sex)")
    b = weight(df, treatment="qsmk", covariates=["age", "wt71", "sex"])
    pd.testing.assert_series_equal(a.weights, b.weights)
    assert a.weights.index.equals(df.index)
    pd.testing.assert_frame_equal(df, before)


def test_row_order_invariance(nhefs):
    a = _w(nhefs, stabilize=True).estimate("wt82_71")
    shuffled = nhefs.sample(frac=1, random_state=7)
    b = _w(shuffled, stabilize=True).estimate("wt82_71")
    assert a.estimate == pytest.approx(b.estimate, rel=1e-9)
    assert a.std_error == pytest.approx(b.std_error, rel=1e-7)


def test_bootstrap_reestimates_weights(nhefs):
    w = _w(nhefs, "qsmk ~ age + wt71 + C(sex) + smokeintensity", stabilize=True)
    e1 = w.estimate("wt82_71", se="bootstrap", n_boot=200, rng=3)
    e2 = w.estimate("wt82_71", se="bootstrap", n_boot=200, rng=3)
    s = w.estimate("wt82_71")
    assert e1.conf_low == e2.conf_low  # seeded
    assert e1.std_error == pytest.approx(s.std_error, rel=0.2)
    assert "re-estimating" in e1.inference


def test_entropy_bootstrap_agrees_with_sandwich(nhefs):
    w = _w(nhefs, "qsmk ~ age + wt71 + C(sex) + smokeintensity", method="entropy",
           estimand="ATT")
    b = w.estimate("wt82_71", se="bootstrap", n_boot=200, rng=5)
    s = w.estimate("wt82_71")
    assert b.estimate == s.estimate
    assert b.std_error == pytest.approx(s.std_error, rel=0.2)


def test_registry_and_bad_options(nhefs):
    assert set(METHODS) == {"ps", "entropy"}
    with pytest.raises(SpecificationError, match="`method`"):
        weight(nhefs, PS, method="cbps")
    with pytest.raises(SpecificationError, match="`estimand`"):
        weight(nhefs, PS, estimand="ATX")
    with pytest.raises(SpecificationError, match="estimand 'ATE', 'ATT' or 'ATC'"):
        weight(nhefs, PS, method="entropy", estimand="ATO")
    with pytest.raises(SpecificationError, match="`trim`"):
        weight(nhefs, PS, trim=-1)
    w = _w(nhefs, "qsmk ~ age")
    with pytest.raises(SpecificationError, match="`se`"):
        w.estimate("wt82_71", se="jackknife")
    with pytest.raises(DataError, match="needs a 0/1 outcome"):
        w.estimate("wt82_71", measure="risk ratio")
    with pytest.raises(DataError, match="'nope'"):
        w.estimate("nope")


def test_bad_data(nhefs):
    small = nhefs.iloc[:40].copy()
    small["qsmk"] = 0
    small.iloc[0, small.columns.get_loc("qsmk")] = 1
    with pytest.raises(DataError, match="treated arm .* 1 unit"):
        weight(small, "qsmk ~ age")
    miss = nhefs.copy()
    miss.loc[5, "wt71"] = np.nan
    with pytest.raises(DataError, match="'wt71'"):
        weight(miss, "qsmk ~ age + wt71")
    three = nhefs.assign(qsmk=nhefs.qsmk + (nhefs.index == 0) * 2)
    with pytest.raises(DataError, match="binary"):
        weight(three, "qsmk ~ age")
    # no overlap: entropy cannot balance, PS logistic separates
    sep = pd.DataFrame({"x": np.arange(40.0), "t": [0] * 20 + [1] * 20})
    with pytest.raises(DataError, match="separation.*'x'"):
        weight(sep, "t ~ x")
    with pytest.raises(DataError, match="exact balance"):
        weight(sep, "t ~ x", method="entropy")


def test_extreme_weights_warning_names_rows():
    rng = np.random.default_rng(4)
    x = rng.standard_t(3, size=400)
    t = rng.binomial(1, 1 / (1 + np.exp(-2 * x)))
    df = pd.DataFrame({"x": x, "t": t}, index=[f"p{i}" for i in range(400)])
    with pytest.warns(ExtremeWeightsWarning, match=r"rows p\d+.*trim"):
        w = weight(df, "t ~ x", positivity=None)
    # the warnings issued are kept with the weights
    assert w.notes and all("extreme weights" in n for n in w.notes)
    assert "note: extreme weights" in w.summary()


def test_small_sample_warning_and_t_reference():
    rng = np.random.default_rng(5)
    df = pd.DataFrame({"x": rng.normal(size=38)})
    df["t"] = np.r_[np.ones(16, int), np.zeros(22, int)]
    df["y"] = df.t + rng.normal(size=38)
    w = weight(df, "t ~ x")
    with pytest.warns(SmallSampleWarning, match="fewer than 20.*t with 34 df"):
        e = w.estimate("y")
    assert e.df == 34  # 38 - (2 outcome + 2 propensity parameters)


def test_balance_method(nhefs):
    balance = pytest.importorskip("causalpa.balance")
    w = _w(nhefs, "qsmk ~ age + wt71 + C(sex)", method="entropy", estimand="ATT")
    tab = w.balance()
    direct = balance.balance(nhefs, "qsmk ~ age + wt71 + C(sex)", weights=w.weights.to_numpy(),
                             estimand="ATT")
    pd.testing.assert_frame_equal(tab.adjusted, direct.adjusted)
    # entropy balancing: exact mean balance, so every adjusted SMD is 0
    assert np.abs(tab.adjusted["smd"].to_numpy()).max() < 1e-8
    assert np.abs(tab.unadjusted["smd"].to_numpy()).max() > 0.05


def test_sklearn_ps_model_uses_weights_known_sandwich(nhefs):
    from sklearn.linear_model import LogisticRegression

    w = _w(nhefs, "qsmk ~ age + wt71", ps_model=LogisticRegression(C=1e10, max_iter=1000))
    e = w.estimate("wt82_71")
    assert "weights treated as known" in e.inference
    assert any("not a parametric logistic model" in n for n in e.notes)
    glm = _w(nhefs, "qsmk ~ age + wt71").estimate("wt82_71")
    assert e.estimate == pytest.approx(glm.estimate, rel=1e-3)


def test_two_level_treatment_with_treated_level(nhefs):
    labelled = nhefs.assign(arm=np.where(nhefs.qsmk == 1, "quit", "smoker"))
    a = _w(labelled, "arm ~ age + wt71", treated="quit").estimate("wt82_71")
    b = _w(nhefs, "qsmk ~ age + wt71").estimate("wt82_71")
    assert a.estimate == pytest.approx(b.estimate, rel=1e-10)
    with pytest.raises(DataError, match="treated="):
        weight(labelled, "arm ~ age")


# ----------------------------------------------------------------------------- the grammar
PILOT = "pa ~ age + phq9_first + ltc"


def _pilot() -> pd.DataFrame:
    from causalpa.datasets import load_pilot

    return load_pilot()


def _quiet(fn):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn()


def test_result_is_frozen_and_holds_copies():
    import dataclasses

    df = _pilot()
    w = weight(df, PILOT, outcome="phq9_change")
    weights, table = w.weights, w.tidy()
    effect = _quiet(w.estimate)
    # the caller changes their data, the returned series and tables afterwards
    df["phq9_change"] = 0.0
    df["age"] = 1.0
    df["pa"] = 1 - df["pa"]
    returned, ess, tidy = w.weights, w.ess, w.tidy()
    returned.iloc[:] = 0
    ess.iloc[:] = 0
    tidy.iloc[0, 1] = -1
    pd.testing.assert_series_equal(w.weights, weights)
    pd.testing.assert_frame_equal(w.tidy(), table)
    assert w.weights is not w.weights
    again = _quiet(w.estimate)
    pd.testing.assert_frame_equal(again.tidy(), effect.tidy(), check_exact=True)
    with pytest.raises(dataclasses.FrozenInstanceError):
        w.estimand = "ATT"
    with pytest.raises(ValueError, match="read-only"):
        w._weights[0] = 0.0


def test_tidy_summary_and_to_dict_follow_the_protocol():
    w = weight(_pilot(), PILOT, stabilize=True, trim=0.95)
    t = w.tidy()
    assert list(t.columns) == ["arm", "n", "ess", "min", "q25", "median", "q75", "max", "mean",
                               "sd", "cv", "sum"]
    assert t["n"].tolist() == [16, 22]
    text = w.summary()
    assert text.splitlines()[0] == "ATE weights: inverse probability weighting"
    assert "stabilised: True" in text and f"trimmed: {len(w.trimmed)}" in text
    d = w.to_dict()
    assert d["method"] == "ps" and d["trimmed"] == len(w.trimmed) > 0
    assert [r["arm"] for r in d["table"]] == ["treated", "control"]


def test_registering_a_method_is_one_function_and_one_line():
    from causalpa.weighting import METHODS, MethodFit, WeightProblem, register_method

    @register_method("uniform")
    def uniform(problem: WeightProblem) -> MethodFit:
        return MethodFit(weights=np.ones(problem.n), label="no weighting")

    df = _pilot()
    try:
        w = weight(df, PILOT, method="Uniform", outcome="phq9_change")
        assert w.method == "uniform" and w.ps is None
        e, robust = _quiet(w.estimate), _quiet(lambda: w.estimate(se="robust"))
        boot = _quiet(lambda: w.estimate(se="bootstrap", n_boot=30, rng=1))
    finally:
        METHODS.pop("uniform")
    y, t = df["phq9_change"], df["pa"]
    naive = y[t == 1].mean() - y[t == 0].mean()
    assert e.estimate == pytest.approx(naive, rel=1e-12) and e.method == "no weighting"
    # no estimating equations: the sandwich treats the weights as known, and says so
    assert e.std_error == robust.std_error
    assert any("no estimating equations" in n for n in e.notes)
    # the bootstrap re-runs the method on each resample
    assert boot.estimate == e.estimate and "re-estimating" in boot.inference
    with pytest.raises(SpecificationError, match="`method` must be one of 'ps', 'entropy'"):
        weight(df, PILOT, method="uniform")


def test_outcome_given_to_weight_is_the_default_of_estimate():
    df = _pilot()
    w = weight(df, PILOT, outcome="phq9_change")
    a, b = _quiet(w.estimate), _quiet(lambda: w.estimate("phq9_change"))
    assert a.outcome == "phq9_change"
    pd.testing.assert_frame_equal(a.tidy(), b.tidy(), check_exact=True)
    assert _quiet(lambda: w.estimate("recovered")).measure == "risk difference"
    with pytest.raises(SpecificationError, match="`outcome`"):
        weight(df, PILOT).estimate()
    with pytest.raises(DataError, match="'nope'"):
        weight(df, PILOT, outcome="nope")


@pytest.mark.parametrize("name, value", [
    ("method", "cbps"), ("estimand", "ATX"), ("stabilize", "yes"), ("trim", 0), ("trim", 1.5),
    ("trim_lower", 1), ("trim_drop", "no"), ("ps_model", "probit"), ("positivity", (0.9, 0.1)),
    ("outcome", 3), ("treatment", 3), ("covariates", [1, 2]), ("formula", 3),
])
def test_declared_options_of_weight_name_the_argument(name, value):
    columns = {"treatment": "pa", "covariates": ["age"]}
    base = columns if name in ("treatment", "covariates") else {"formula": PILOT}
    with pytest.raises(SpecificationError, match=f"`{name}` must be"):
        weight(_pilot(), **{**base, name: value})


@pytest.mark.parametrize("name, value", [
    ("se", "jackknife"), ("measure", "ratio"), ("conf_level", 1.0), ("n_boot", 5),
    ("rng", "seed"), ("adjust", 3), ("outcome", ["phq9_change"]),
])
def test_declared_options_of_estimate_name_the_argument(name, value):
    w = weight(_pilot(), PILOT, outcome="phq9_change")
    with pytest.raises(SpecificationError, match=f"`{name}` must be"):
        w.estimate(**{name: value})


def test_options_are_read_case_insensitively():
    df = _pilot()
    w = _quiet(lambda: weight(df, PILOT, estimand="att", method="PS", ps_model="Firth"))
    assert (w.estimand, w.method, w.ps.model) == ("ATT", "ps", "firth")
    e = _quiet(lambda: w.estimate("phq9_change", se="hc3"))
    assert "HC3" in e.inference


def test_plot_draws_the_weights_by_arm_on_a_log_axis():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    w = _quiet(lambda: weight(_pilot(), PILOT, estimand="ATT"))  # treated weights are all 1
    ax = w.plot(bins=20)
    assert ax.get_xscale() == "log"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[0] == "treated: ESS 16.0 of 16" and labels[1].startswith("control: ESS")
    assert ax.get_title() == w.summary().splitlines()[0]
    with pytest.raises(SpecificationError, match="`bins`"):
        w.plot(bins=0)
    plt.close("all")


def test_malformed_input_only_raises_causalpa_errors():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    @settings(max_examples=40, deadline=None)
    @given(
        t=st.lists(st.sampled_from([0, 1, 2, None]), min_size=0, max_size=12),
        x=st.lists(st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=32),
                             st.none()), min_size=12, max_size=12),
        method=st.sampled_from(["ps", "entropy", "bogus"]),
        estimand=st.sampled_from(["ATE", "ATT", "ATO", "nope"]),
    )
    def run(t, x, method, estimand):
        df = pd.DataFrame({"t": pd.Series(t, dtype="float"), "x": pd.Series(x[: len(t)],
                                                                           dtype="float")})
        before = df.copy()
        finite = bool(np.isfinite(df["x"].to_numpy()).all())
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                w = weight(df.assign(y=df["x"]), "t ~ x", method=method, estimand=estimand)
            assert finite, "a NaN or inf covariate was weighted without an error"
            assert np.isfinite(w.weights).all()
        except (DataError, SpecificationError) as err:
            if not finite and isinstance(err, DataError):  # named, like a missing value
                assert "'x'" in str(err) or "'t'" in str(err), err
        pd.testing.assert_frame_equal(df, before)

    run()


@pytest.mark.parametrize("column", ["age", "wt82_71"])
@pytest.mark.parametrize("method", ["ps", "entropy"])
def test_infinite_values_are_named_like_missing_ones(nhefs, column, method):
    df = nhefs.astype({"age": float})
    df.loc[df.index[7], column] = np.inf
    before = df.copy()
    with pytest.raises(DataError, match=f"infinite values in column '{column}' .*rows: 7"):
        weight(df, "qsmk ~ age + wt71", method=method, estimand="ATT").estimate("wt82_71")
    pd.testing.assert_frame_equal(df, before)


def test_scores_of_exactly_one_give_clear_error():
    from causalpa.weighting import ipw_weights

    t = np.array([1, 0, 1, 0])
    w, _ = ipw_weights(np.array([0.5, 0.0, 1.0, 0.5]), t, "ATE")
    assert np.all(np.isfinite(w))  # control with e = 0 and treated with e = 1 are fine
    with pytest.raises(DataError, match="exactly 0 or 1 at positions 1"):
        ipw_weights(np.array([0.5, 1.0, 0.5, 0.5]), t, "ATE")


# ----------------------------------------------------------------------------- calibration
# Self-selected cohorts from causalpa.simulate (selection on all seven covariates, which the
# propensity model includes). The array core used here is the code behind weight()/estimate()
# (checked against R above); fixed seeds, tolerances from the Monte-Carlo error.
def _ipw_replicate(n, seed, estimand, firth=False):
    from _calibration_pa import arrays
    from scipy import special

    from causalpa._regression import logistic
    from causalpa.weighting import stacked_sandwich
    from causalpa.weighting.ps import weights_from_scores

    a, t, X = arrays(n, seed)
    y = a["phq9_change"].astype(float)
    fit = logistic(t, X, firth=firth, maxit=100)
    mf = weights_from_scores(fit.fitted, t, estimand, stabilize=True, X=X,
                             q=special.expit(-fit.eta))
    focal = np.ones(n) if estimand == "ATE" else t.astype(float)
    Z = np.zeros((n, 0))
    est, se, _ = stacked_sandwich(y, t, mf.weights, Z, focal, "difference", logit=False,
                                  nuisance=mf.nuisance)
    _, se_known, _ = stacked_sandwich(y, t, mf.weights, Z, focal, "difference", logit=False,
                                      nuisance=None)
    naive = y[t == 1].mean() - y[t == 0].mean()
    return est, se, se_known, naive


@pytest.mark.parametrize("estimand", ["ATE", "ATT"])
def test_calibration_ipw_n1000(estimand):
    from _calibration_pa import mc_band, population_truth

    truth = population_truth()[estimand]
    reps = 300
    out = np.array([_ipw_replicate(1000, 50_000 + s, estimand) for s in range(reps)])
    est, se, _, naive = out.T
    mc_se = est.std(ddof=1) / np.sqrt(reps)
    # the naive difference is biased by self-selection; IPW is not
    assert abs(naive.mean() - truth) > 0.3
    assert abs(est.mean() - truth) < 3 * mc_se + 0.02
    cover = np.mean(np.abs(est - truth) <= 1.959964 * se)
    lo, hi = mc_band(0.95, reps)
    assert lo <= cover <= hi, cover


def test_calibration_ipw_n38_not_anticonservative():
    """At n = 38 the default small-sample rule keeps coverage >= 93% (Firth PS, as advised)."""
    from _calibration_pa import population_truth
    from scipy import stats

    truth = population_truth()["ATE"]
    reps = 600
    n, p = 38, 2 + 8
    out = np.array([_ipw_replicate(n, 70_000 + s, "ATE", firth=True) for s in range(reps)])
    est, se, se_known, _ = out.T
    se_small = np.maximum(se, se_known) * np.sqrt(n / (n - p))
    q = stats.t.ppf(0.975, n - p)
    cover = np.mean(np.abs(est - truth) <= q * se_small)
    assert cover >= 0.93, cover
    # the plain large-sample sandwich would be anti-conservative here
    assert np.mean(np.abs(est - truth) <= 1.959964 * se) < 0.93


def test_small_sample_rule_is_what_estimate_uses():
    from _calibration_pa import COVARIATES, arrays
    from scipy import stats

    a, t, _ = arrays(38, 70_001)
    df = pd.DataFrame({c: a[c] for c in COVARIATES}).assign(pa=t, y=a["phq9_change"])
    w = weight(df, "pa ~ " + " + ".join(COVARIATES), ps_model="firth", stabilize=True)
    with pytest.warns(SmallSampleWarning, match="larger of the M-estimation"):
        e = w.estimate("y")
    est, se, se_known, _ = _ipw_replicate(38, 70_001, "ATE", firth=True)
    assert e.estimate == pytest.approx(est, rel=1e-8)
    assert e.std_error == pytest.approx(max(se, se_known) * np.sqrt(38 / 28), rel=1e-6)
    assert e.df == 28
    assert e.conf_high - e.estimate == pytest.approx(stats.t.ppf(0.975, 28) * e.std_error)


# ----------------------------------------------------------------------------- docs
DOCS = Path(__file__).parents[1] / "docs" / "user-guide"


@pytest.mark.parametrize("page", ["propensity.md", "weighting.md", "aipw.md", "sensitivity.md"])
def test_user_guide_code_blocks_run(page, capsys):
    import re

    import matplotlib

    matplotlib.use("Agg")
    text = (DOCS / page).read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert blocks
    ns: dict = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for block in blocks:
            exec(compile(block, f"{page}", "exec"), ns)
    import matplotlib.pyplot as plt

    plt.close("all")
    assert capsys.readouterr().out.strip()


def test_calibration_binary_outcome_rd_and_rr():
    """Recovery (0/1): IPW risk difference and log risk ratio are unbiased and cover at n=1000."""
    from _calibration_pa import arrays, mc_band
    from scipy import special

    from causalpa._regression import logistic
    from causalpa.simulate import patient_arrays
    from causalpa.weighting import stacked_sandwich
    from causalpa.weighting.ps import weights_from_scores

    big = patient_arrays(200_000, 987654)
    true_rd = float(np.mean(big["recovered_1"] - big["recovered_0"]))
    true_lrr = float(np.log(big["recovered_1"].mean() / big["recovered_0"].mean()))
    reps, n = 300, 1000
    rd, se_rd, lrr, se_lrr = [], [], [], []
    for s in range(reps):
        a, t, X = arrays(n, 40_000 + s)
        y = a["recovered"].astype(float)
        fit = logistic(t, X, maxit=100)
        mf = weights_from_scores(fit.fitted, t, "ATE", stabilize=True, X=X,
                                 q=special.expit(-fit.eta))
        Z, ones = np.zeros((n, 0)), np.ones(n)
        e, s_, _ = stacked_sandwich(y, t, mf.weights, Z, ones, "risk difference", logit=False,
                                    nuisance=mf.nuisance)
        rd.append(e)
        se_rd.append(s_)
        e, s_, _ = stacked_sandwich(y, t, mf.weights, Z, ones, "risk ratio", logit=True,
                                    nuisance=mf.nuisance)
        lrr.append(e)
        se_lrr.append(s_)
    lo, hi = mc_band(0.95, reps)
    for est, se, truth in ((rd, se_rd, true_rd), (lrr, se_lrr, true_lrr)):
        est, se = np.asarray(est), np.asarray(se)
        assert abs(est.mean() - truth) < 3 * est.std(ddof=1) / np.sqrt(reps) + 0.002
        cover = np.mean(np.abs(est - truth) <= 1.959964 * se)
        assert lo <= cover <= hi, cover


def test_what_if_with_the_shipped_dataset():
    datasets = pytest.importorskip("causalpa.datasets")
    if not hasattr(datasets, "load_nhefs"):
        pytest.skip("causalpa.datasets.load_nhefs not available")
    d = datasets.load_nhefs()
    e = _w(d, stabilize=True).estimate("wt82_71", se="robust")
    # What If, ch. 12: 3.4 kg (95% CI 2.4 to 4.5)
    assert (round(e.estimate, 2), round(e.conf_low, 1), round(e.conf_high, 1)) == (3.44, 2.4, 4.5)


# --------------------------------------------------------------------------- small samples
def test_small_sample_rule_applies_to_the_defaults_not_to_an_estimator_asked_by_name():
    from causalpa.estimation import estimate_effect

    df = _pilot()  # 16 treated, 22 controls: the small-sample rule applies
    w = _quiet(lambda: weight(df, "pa ~ age + phq9_first", outcome="phq9_change"))
    n, p = len(df), 2
    robust = _quiet(lambda: w.estimate(se="robust"))
    assert robust.df == n - p and f"p = {p}, t with {n - p} df" in robust.inference
    with pytest.warns(SmallSampleWarning, match="se='HC0' was requested: it is used as it is, "
                                                "without the small-sample rule"):
        hc0 = w.estimate(se="HC0")
    assert hc0.df == np.inf and hc0.inference.endswith("normal reference")
    assert robust.std_error == pytest.approx(hc0.std_error * np.sqrt(n / (n - p)), rel=1e-12)
    # an estimator asked for by name is that estimator, as with the weights held fixed in
    # estimate_effect (HC1 is not inflated by n / (n - p) a second time)
    for se in ("HC0", "HC1", "HC2", "HC3"):
        mine = _quiet(lambda se=se: w.estimate(se=se))
        fixed = _quiet(lambda se=se: estimate_effect(df, "phq9_change", "pa", weights=w.weights,
                                                     se=se, estimand="ATE"))
        assert mine.estimate == pytest.approx(fixed.estimate, rel=1e-12)
        assert mine.std_error == pytest.approx(fixed.std_error, rel=1e-10), se
        assert mine.df == np.inf and f"robust ({se})" in mine.inference
    # the defaults keep the documented rule
    sandwich = _quiet(lambda: w.estimate())
    assert sandwich.df == n - 2 * (1 + 0) - 3 and "larger of" in sandwich.inference


def test_zero_weights_do_not_count_as_observations():
    from causalpa.estimation import estimate_effect

    df = _pilot()
    w = _quiet(lambda: weight(df, "pa ~ age + phq9_first", outcome="phq9_change", trim=0.8,
                              trim_drop=True))
    pos = (w.weights > 0).to_numpy()
    n_pos = int(pos.sum())
    assert 20 < n_pos < len(df)
    robust = _quiet(lambda: w.estimate(se="robust"))
    hc0 = _quiet(lambda: w.estimate(se="HC0"))
    # n and the df of the small-sample rule count the units with positive weight (as R's lm)
    assert robust.df == n_pos - 2 and f"t with {n_pos - 2} df" in robust.inference
    assert robust.std_error == pytest.approx(hc0.std_error * np.sqrt(n_pos / (n_pos - 2)),
                                             rel=1e-12)
    # HC1's n / (n - k) too: the same as the analysis of the positive-weight rows alone
    sub = df[pos]
    for se in ("HC0", "HC1", "HC3"):
        mine = _quiet(lambda se=se: w.estimate(se=se))
        alone = _quiet(lambda se=se: estimate_effect(sub, "phq9_change", "pa", se=se,
                                                     weights=w.weights[pos], estimand="ATE"))
        assert mine.estimate == pytest.approx(alone.estimate, rel=1e-12)
        assert mine.std_error == pytest.approx(alone.std_error, rel=1e-10), se
    # the estimate itself is the weighted difference in means over every row
    y, t, wt = df["phq9_change"].to_numpy(), df["pa"].to_numpy(), w.weights.to_numpy()
    diff = np.average(y[t == 1], weights=wt[t == 1]) - np.average(y[t == 0], weights=wt[t == 0])
    assert robust.estimate == pytest.approx(diff, rel=1e-12)
