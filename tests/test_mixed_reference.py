"""cpa.mixed against lme4 1.1-31 / lmerTest 3.1-3 / pbkrtest 0.5.2 (tests/reference/lme4)."""

import json
import pathlib

import numpy as np
import pandas as pd
import pytest

import causalpa as cpa
from causalpa.results import ESTIMATE_COLUMNS

REF = pathlib.Path(__file__).parent / "reference" / "lme4"
CASES = json.loads((REF / "lme4_cases.json").read_text())


@pytest.fixture(scope="module")
def sleep():
    return pd.read_csv(REF / "sleepstudy.csv")


@pytest.fixture(scope="module")
def sess():
    return pd.read_csv(REF / "sessions_unbalanced.csv")


def rel(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    return np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300))


def r_terms(terms):
    return ["Intercept" if t == "(Intercept)" else t for t in terms]


# --------------------------------------------------------------------------- sleepstudy
@pytest.fixture(scope="module")
def sleep_reml(sleep):
    return cpa.mixed(sleep, "Reaction ~ Days", groups="Subject", re_formula="~Days")


def test_sleepstudy_reml_fixed_effects_and_criterion(sleep_reml):
    ref = CASES["sleepstudy_reml"]
    fit = sleep_reml
    assert fit.converged and not fit.singular
    assert list(fit.coef.index) == r_terms(ref["terms"])
    assert rel(fit.coef, ref["fixef"]) < 1e-6
    assert rel(np.sqrt(np.diag(fit.vcov)), np.sqrt(np.diag(ref["vcov"]))) < 1e-4
    assert rel(fit.vcov.to_numpy(), ref["vcov"]) < 1e-4
    assert fit.reml_criterion == pytest.approx(1743.628, abs=5e-4)
    assert fit.reml_criterion == pytest.approx(ref["reml_criterion"], rel=1e-9)
    assert fit.loglik == pytest.approx(ref["loglik"], rel=1e-9)
    assert fit.sigma == pytest.approx(ref["sigma"], rel=1e-4)
    assert rel(fit.theta, ref["theta"]) < 1e-3  # lme4's own optimiser tolerance dominates


def test_sleepstudy_variance_components(sleep_reml):
    ref = CASES["sleepstudy_reml"]["varcorr"]
    vc = sleep_reml.variance_components
    assert list(vc["grp"]) == ref["grp"]
    assert list(vc["var1"]) == r_terms(ref["var1"])
    assert list(vc["var2"]) == r_terms(ref["var2"])
    assert rel(vc["sdcor"], ref["sdcor"]) < 1e-4  # SDs and the correlation 0.0656
    assert rel(vc["vcov"], ref["vcov"]) < 2e-4


def test_sleepstudy_df_methods(sleep_reml, sleep):
    ref = CASES["sleepstudy_reml"]
    tab = sleep_reml.tidy()
    assert list(tab.columns) == list(ESTIMATE_COLUMNS)  # the shared schema of estimates
    assert set(tab["outcome"]) == {"Reaction"} and set(tab["n"]) == {180}
    sat = ref["satterthwaite"]
    assert rel(tab["df"], sat["df"]) < 1e-3
    assert rel(tab["p_value"], sat["p_value"]) < 1e-3
    assert rel(tab["statistic"], sat["statistic"]) < 1e-4
    kr = cpa.mixed(sleep, "Reaction ~ Days", groups="Subject", re_formula="~Days",
                   df="kenward-roger")
    t2 = kr.tidy()
    assert rel(t2["df"], ref["kenward_roger"]["df"]) < 1e-3
    assert rel(t2["std_error"], ref["kenward_roger"]["std_error"]) < 1e-4
    assert rel(kr.vcov_adjusted.to_numpy(), ref["vcov_adj_kr"]) < 1e-4


def test_sleepstudy_random_effects_and_fitted(sleep_reml):
    ref = CASES["sleepstudy_reml"]
    re = sleep_reml.random_effects["Subject"]
    b = np.asarray(ref["ranef"])
    assert np.max(np.abs(re.to_numpy() - b)) < 1e-4 * np.abs(b).max()
    fitted = sleep_reml.predict(level="subject")
    assert np.max(np.abs(fitted.to_numpy() - np.asarray(ref["fitted"]))) < 1e-5 * 300


def test_sleepstudy_ml(sleep):
    ref = CASES["sleepstudy_ml"]
    fit = cpa.mixed(sleep, "Reaction ~ Days", groups="Subject", re_formula="~Days", reml=False)
    assert fit.loglik == pytest.approx(ref["loglik"], rel=1e-9)
    assert fit.deviance == pytest.approx(-2 * ref["loglik"], rel=1e-9)
    assert np.isnan(fit.reml_criterion)
    assert rel(fit.coef, ref["fixef"]) < 1e-6
    assert rel(fit.vcov.to_numpy(), ref["vcov"]) < 1e-4
    assert rel(fit.variance_components["sdcor"], ref["varcorr"]["sdcor"]) < 2e-4


# --------------------------------------------------------------------------- unbalanced
MODELS = {
    "sessions_slope": dict(formula="phq9 ~ session * pa + age", groups="patient",
                           re_formula="~session"),
    "sessions_nested": dict(formula="phq9 ~ session * pa", groups=["therapist", "patient"],
                            re_formula="~session"),
    "sessions_intercept": dict(formula="phq9 ~ session * pa", groups="patient"),
    "sessions_nested_intercepts": dict(formula="phq9 ~ session * pa",
                                       groups=["therapist", "patient"]),
    "pilot_slope": dict(formula="phq9 ~ session * pa", groups="patient", re_formula="~session"),
}
DATA = {"pilot_slope": "pilot_sessions.csv"}


def case_data(case, default):
    return pd.read_csv(REF / DATA[case]) if case in DATA else default


@pytest.mark.parametrize("case", list(MODELS))
@pytest.mark.parametrize("method,key", [("satterthwaite", "satterthwaite"),
                                        ("kenward-roger", "kenward_roger")])
def test_unbalanced_small_sample_df(sess, case, method, key):
    ref = CASES[case]
    fit = cpa.mixed(case_data(case, sess), **MODELS[case], df=method)
    assert fit.converged and not fit.singular
    assert fit.deviance == pytest.approx(ref["deviance_or_remlcrit"], rel=1e-9)
    tab = fit.tidy()
    r = ref[key]
    assert list(tab["term"]) == r_terms(r["term"])
    assert rel(tab["estimate"], r["estimate"]) < 1e-4
    assert rel(tab["std_error"], r["std_error"]) < 1e-4
    assert rel(tab["df"], r["df"]) < 1e-3
    assert rel(tab["p_value"], r["p_value"]) < 1e-3
    assert rel(fit.variance_components["sdcor"], ref["varcorr"]["sdcor"]) < 1e-3
    if method == "kenward-roger":
        assert rel(fit.vcov_adjusted.to_numpy(), ref["vcov_adj_kr"]) < 1e-3


@pytest.mark.parametrize("case", list(MODELS))
def test_unbalanced_contrast_arm_difference_at_session_7(sess, case):
    ref = CASES[case]
    fit = cpa.mixed(case_data(case, sess), **MODELS[case])
    L = np.asarray(ref["contrast_L"], float)
    for method, key in [("satterthwaite", "Satterthwaite"), ("kenward-roger", "Kenward-Roger")]:
        row = fit.contrast(L, df=method).tidy().iloc[0]
        r = ref["contrast"][key]
        assert row["estimate"] == pytest.approx(r["estimate"], rel=1e-4)
        assert row["std_error"] == pytest.approx(r["std_error"], rel=1e-4)
        assert row["df"] == pytest.approx(r["df"], rel=1e-3)
        assert row["p_value"] == pytest.approx(r["p_value"], rel=1e-3)
    assert fit.contrast(L, df="kenward-roger").tidy()["df"][0] == pytest.approx(
        ref["contrast"]["Lb_ddf"], rel=1e-3)
    # the dict form names the same contrast
    terms = list(fit.coef.index)
    as_dict = {t: w for t, w in zip(terms, L, strict=True) if w}
    assert fit.contrast(as_dict).tidy()["estimate"][0] == pytest.approx(
        fit.contrast(L).tidy()["estimate"][0], rel=1e-12)


@pytest.mark.parametrize("case", ["sessions_slope_ml", "sessions_intercept_ml",
                                  "sessions_nested_ml"])
def test_unbalanced_ml_loglik_and_satterthwaite(sess, case):
    ref = CASES[case]
    spec = MODELS[case.replace("_ml", "")]
    fit = cpa.mixed(sess, **spec, reml=False)
    assert fit.loglik == pytest.approx(ref["loglik"], rel=1e-8)
    assert rel(fit.coef, ref["fixef"]) < 1e-4
    assert rel(np.sqrt(np.diag(fit.vcov)), np.sqrt(np.diag(ref["vcov"]))) < 1e-4
    tab = fit.tidy()
    assert rel(tab["df"], ref["satterthwaite"]["df"]) < 1e-3
    assert rel(tab["p_value"], ref["satterthwaite"]["p_value"]) < 1e-3


# --------------------------------------------------------------------------- boundary
def test_optimum_near_the_boundary_is_found():
    """A gradient method started at the identity stops on theta = 0 here (the deviance is
    stationary there); lme4 finds the interior optimum with slope SD > 0."""
    ref = CASES["boundary_near"]
    d = pd.read_csv(REF / "sessions_boundary.csv")
    fit = cpa.mixed(d, "phq9 ~ session * pa", groups="patient", re_formula="~session")
    assert not fit.singular and fit.converged
    assert fit.reml_criterion == pytest.approx(ref["deviance_or_remlcrit"], rel=1e-8)
    assert rel(fit.theta, ref["theta"]) < 1e-3
    tab = fit.tidy()
    assert rel(tab["std_error"], ref["satterthwaite"]["std_error"]) < 1e-3
    assert rel(tab["df"], ref["satterthwaite"]["df"]) < 1e-3
    c = fit.contrast(ref["contrast_L"], df="kenward-roger").tidy().iloc[0]
    assert c["df"] == pytest.approx(ref["contrast"]["Kenward-Roger"]["df"], rel=1e-3)


def test_singular_fit_agrees_with_lme4():
    ref = CASES["boundary_singular"]
    assert ref["singular"]
    d = pd.read_csv(REF / "sessions_singular.csv")
    with pytest.warns(cpa.errors.SingularFitWarning, match="correlation of Intercept and session"):
        fit = cpa.mixed(d, "phq9 ~ session * pa", groups="patient", re_formula="~session")
    assert fit.singular
    assert fit.reml_criterion == pytest.approx(ref["deviance_or_remlcrit"], rel=1e-8)
    assert rel(fit.coef, ref["fixef"]) < 1e-4
    assert rel(np.sqrt(np.diag(fit.vcov)), ref["satterthwaite"]["std_error"]) < 1e-4
    assert rel(fit.tidy()["df"], ref["satterthwaite"]["df"]) < 1e-3
    with pytest.warns(cpa.errors.SingularFitWarning):
        kr = cpa.mixed(d, "phq9 ~ session * pa", groups="patient", re_formula="~session",
                       df="kenward-roger")
    assert rel(kr.tidy()["df"], ref["kenward_roger"]["df"]) < 1e-3


# --------------------------------------------------------------------------- joint F tests
@pytest.mark.parametrize("case", list(CASES["ftests"]))
def test_joint_f_tests(sess, case):
    ref = CASES["ftests"][case]
    model = case.rsplit("_", 1)[0]
    fit = cpa.mixed(case_data(model, sess), **MODELS[model])
    L = np.asarray(ref["L"], float)
    for method, key in [("satterthwaite", "satterthwaite"), ("kenward-roger", "kenward_roger")]:
        row = fit.test(L, df=method).tidy().iloc[0]
        r = ref[key]
        assert row["num_df"] == r["num_df"]
        assert row["den_df"] == pytest.approx(r["den_df"], rel=1e-3)
        assert row["statistic"] == pytest.approx(r["statistic"], rel=1e-4)
        assert row["p_value"] == pytest.approx(r["p_value"], rel=1e-3)
