"""Tests for causalpa.propensity (reference: R glm and a hand-built Firth fit, see
tests/reference/propensity/lalonde_glm_firth.R).

The reference file holds glm's coefficients and fitted values but no standard errors, so
the Wald standard errors of the coefficient table are compared with statsmodels' ``Logit``
(the same maximum-likelihood fit, inverse observed information) at 1e-8, and the Firth
standard errors with the inverse information at the R (optim) estimate.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import numpy as np
import pandas as pd
import pytest

import causalpa as cpa
from causalpa.errors import DataError, PositivityWarning, SpecificationError
from causalpa.propensity import PropensityScore, propensity
from causalpa.results import ESTIMATE_COLUMNS

REF = Path(__file__).parent / "reference" / "propensity"
FORMULA = "treat ~ age + educ + C(race) + married + nodegree + re74 + re75"


@pytest.fixture(scope="module")
def lalonde() -> pd.DataFrame:
    return pd.read_csv(REF / "lalonde.csv")


@pytest.fixture(scope="module")
def ref() -> dict:
    return json.loads((REF / "lalonde_glm_firth.json").read_text())


def _quiet(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PositivityWarning)
        return propensity(*args, **kwargs)


def test_logistic_matches_r_glm(lalonde, ref):
    # glm.fit's own start and stopping rule are reproduced, so the scores equal R's to
    # rounding error, not merely to R's convergence tolerance (MatchIt ties depend on it)
    ps = _quiet(lalonde, FORMULA)
    np.testing.assert_allclose(ps.coef.to_numpy(), ref["glm_coef"], rtol=1e-12)
    np.testing.assert_allclose(ps.scores.to_numpy(), ref["glm_fitted"], rtol=1e-12, atol=1e-15)
    from causalpa._regression import logistic

    assert logistic(ps.treatment, ps.design, maxit=100).n_iter == ref["glm_iter"]  # same IRLS path
    np.testing.assert_allclose(
        ps.linear_predictor.to_numpy(), np.log(ps.scores / (1 - ps.scores)), rtol=1e-10
    )
    assert ps.converged


def test_firth_matches_penalised_likelihood_maximum(lalonde, ref):
    ps = _quiet(lalonde, FORMULA, ps_model="firth")
    np.testing.assert_allclose(ps.coef.to_numpy(), ref["firth_coef"], rtol=1e-6)


def test_separation_raises_and_firth_is_finite(ref):
    sep = pd.DataFrame(ref["sep_data"])
    with pytest.raises(DataError, match=r"separation.*'x'.*firth"):
        propensity(sep, "t ~ x + z")
    ps = _quiet(sep, "t ~ x + z", ps_model="firth")
    np.testing.assert_allclose(ps.coef.to_numpy(), ref["sep_firth_coef"], rtol=1e-6)


def test_single_factor_separation_names_level():
    df = pd.DataFrame(
        {"t": [1, 1, 1, 0, 0, 0, 1, 0, 1, 0], "g": list("aaabbbabab"), "x": np.arange(10.0)}
    )
    df.loc[[0, 1, 2], "g"] = "c"  # level c only in treated
    with pytest.raises(DataError, match=r"C\(g\)\[T.c\]"):
        propensity(df, "t ~ C(g) + x")


def test_scaling_covariates_leaves_scores_unchanged(lalonde):
    ps = _quiet(lalonde, FORMULA)
    scaled = lalonde.assign(re74=lalonde.re74 / 1000 + 5, age=lalonde.age * 12)
    ps2 = _quiet(scaled, FORMULA)
    np.testing.assert_allclose(ps.scores, ps2.scores, rtol=1e-9)


def test_formula_and_column_api_identical_and_index_kept(lalonde):
    df = lalonde.set_index(pd.Index([f"id{i}" for i in range(len(lalonde))]))
    a = _quiet(df, FORMULA)
    b = _quiet(
        df,
        treatment="treat",
        covariates=["age", "educ", "race", "married", "nodegree", "re74", "re75"],
    )
    np.testing.assert_allclose(a.scores, b.scores, rtol=1e-12)
    assert list(a.scores.index) == list(df.index)


def test_row_order_invariance(lalonde):
    ps = _quiet(lalonde, FORMULA)
    shuffled = lalonde.sample(frac=1, random_state=3)
    ps2 = _quiet(shuffled, FORMULA)
    np.testing.assert_allclose(ps2.scores.loc[ps.scores.index], ps.scores, rtol=1e-9)


def test_positivity_warning_names_rows(lalonde):
    with pytest.warns(PositivityWarning, match=r"rows 480"):
        propensity(lalonde, FORMULA)
    with warnings.catch_warnings():
        warnings.simplefilter("error", PositivityWarning)
        propensity(lalonde, FORMULA, positivity=None)


def test_sklearn_classifier():
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    df = pd.DataFrame({"x": rng.normal(size=300), "z": rng.normal(size=300)})
    df["t"] = rng.binomial(1, 1 / (1 + np.exp(-df.x)))
    ps = propensity(df, "t ~ x + z", ps_model=GradientBoostingClassifier(n_estimators=20))
    assert ps.coef is None and ps.scores.between(0, 1).all()
    # an unpenalised sklearn logistic gives (almost) the glm fit
    lr = propensity(df, "t ~ x + z", ps_model=LogisticRegression(C=1e12, max_iter=1000))
    glm = propensity(df, "t ~ x + z")
    np.testing.assert_allclose(lr.scores, glm.scores, atol=1e-4)


def test_overlap_and_plot(lalonde):
    ps = _quiet(lalonde, FORMULA)
    ov = ps.overlap()
    e = ps.scores.to_numpy()
    t = ps.treatment.astype(bool)
    assert ov.loc["treated", "min"] == e[t].min()
    assert ov.loc["control", "max"] == e[~t].max()
    assert ov.loc["treated", "support_low"] == max(e[t].min(), e[~t].min())
    n_out = np.sum((e[~t] < ov.loc["control", "support_low"]) | (e[~t] > ov.loc["control", "support_high"]))
    assert ov.loc["control", "n_outside_support"] == n_out
    ax = ps.plot()
    assert ax.get_xlabel() == "propensity score"
    import matplotlib.pyplot as plt

    plt.close("all")


def test_bad_input_messages(lalonde):
    before = lalonde.copy()
    bad = lalonde.assign(treat=lalonde.treat + (lalonde.index == 0) * 5)
    with pytest.raises(DataError, match="binary"):
        propensity(bad, FORMULA)
    miss = lalonde.copy()
    miss.loc[3, "age"] = np.nan
    with pytest.raises(DataError, match="'age'"):
        propensity(miss, FORMULA)
    with pytest.raises(DataError, match="no treated"):
        propensity(lalonde.assign(treat=0), FORMULA)
    with pytest.raises(DataError, match="constant"):
        _quiet(lalonde.assign(k=1.0), "treat ~ age + k")
    with pytest.raises(DataError, match="rank-deficient.*'age2'"):
        _quiet(lalonde.assign(age2=lalonde.age * 2), "treat ~ age + educ + age2")
    pd.testing.assert_frame_equal(lalonde, before)


# ----------------------------------------------------------------------------- the result
def test_tidy_is_the_coefficient_table_in_the_shared_schema(lalonde, ref):
    ps = _quiet(lalonde, FORMULA)
    t = ps.tidy()
    assert list(t.columns[: len(ESTIMATE_COLUMNS)]) == list(ESTIMATE_COLUMNS)
    assert list(t["term"]) == list(ps.design_names) and len(t) == len(ref["glm_names"])
    assert list(t["term"]) == list(ps.coef.index)
    np.testing.assert_array_equal(t["estimate"].to_numpy(), ps.coef.to_numpy())
    assert set(t["outcome"]) == {"treat"} and set(t["n"]) == {614}
    assert set(t["method"]) == {"logistic propensity model"}
    assert np.isinf(t["df"]).all() and t["estimand"].isna().all()
    z = t["estimate"] / t["std_error"]
    np.testing.assert_allclose(t["statistic"], z, rtol=1e-14)
    from scipy import stats

    np.testing.assert_allclose(t["p_value"], 2 * stats.norm.sf(np.abs(z)), rtol=1e-12)
    q = stats.norm.ppf(0.975)
    np.testing.assert_allclose(t["conf_low"], t["estimate"] - q * t["std_error"], rtol=1e-12)
    np.testing.assert_allclose(ps.conf_int(0.9)["conf_high"],
                               t["estimate"].to_numpy() + stats.norm.ppf(0.95) * t["std_error"].to_numpy(),
                               rtol=1e-12)
    text = ps.summary()
    assert text.splitlines()[0] == ("Propensity score: logistic propensity model, "
                                   f"{ps.spec.formula} (185 treated, 429 control)")
    assert "n_outside_positivity: 1" in text  # row 480 (see the positivity warning test)
    assert ps.to_dict()["table"][1]["term"] == "age"


def test_logistic_standard_errors_match_statsmodels(lalonde):
    # glm's standard errors, sqrt(diag((X' W X)^-1)) at the estimate; the reference file
    # has none, so statsmodels' Logit (Newton, inverse of the observed information) is used
    sm = pytest.importorskip("statsmodels.api")
    ps = _quiet(lalonde, FORMULA)
    fit = sm.Logit(ps.treatment.astype(float), ps.design).fit(disp=0, tol=1e-12, maxiter=100)
    np.testing.assert_allclose(ps.params.to_numpy(), fit.params, rtol=1e-7)
    np.testing.assert_allclose(ps.bse.to_numpy(), fit.bse, rtol=1e-8)
    np.testing.assert_allclose(ps.pvalues.to_numpy(), fit.pvalues, rtol=1e-6)


def test_firth_standard_errors_are_the_inverse_information_at_the_penalised_estimate(lalonde, ref):
    ps = _quiet(lalonde, FORMULA, ps_model="firth")
    X = ps.design
    p = 1 / (1 + np.exp(-X @ np.asarray(ref["firth_coef"])))  # R's (optim) estimate
    info = X.T @ (X * (p * (1 - p))[:, None])
    np.testing.assert_allclose(ps.bse.to_numpy(), np.sqrt(np.diag(np.linalg.inv(info))),
                               rtol=1e-5)
    assert set(ps.tidy()["method"]) == {"Firth logistic propensity model"}
    assert any("profile-likelihood" in n for n in ps.notes)


def test_classifier_gives_an_empty_table_and_a_note():
    from sklearn.ensemble import GradientBoostingClassifier

    df = cpa.datasets.load_pilot()
    ps = _quiet(df, "pa ~ age + phq9_first", ps_model=GradientBoostingClassifier(n_estimators=10))
    t = ps.tidy()
    assert t.empty and list(t.columns) == list(ESTIMATE_COLUMNS)
    assert ps.coef is None and ps.information is None and ps.params.empty
    assert any("no coefficients" in n for n in ps.notes)
    assert ps.summary().splitlines()[0].startswith(
        "Propensity score: GradientBoostingClassifier propensity model")
    assert ps.to_dict()["table"] == []


def test_result_is_frozen_and_returns_copies(lalonde):
    data = lalonde.copy()
    ps = _quiet(data, FORMULA)
    assert isinstance(ps, PropensityScore)
    scores, lp, coef, table = ps.scores, ps.linear_predictor, ps.coef, ps.tidy()
    for series in (ps.scores, ps.linear_predictor, ps.coef):
        series.iloc[:] = 0.0
        series.index.name = "scribbled"
    scribbled = ps.tidy()
    scribbled.iloc[0, 1] = 99.0
    data["age"] = 0.0  # the caller changes their data afterwards
    data.index = data.index + 1000
    pd.testing.assert_series_equal(ps.scores, scores)
    pd.testing.assert_series_equal(ps.linear_predictor, lp)
    pd.testing.assert_series_equal(ps.coef, coef)
    pd.testing.assert_frame_equal(ps.tidy(), table)
    assert ps.scores is not ps.scores
    for array in (ps.design, ps.treatment, ps.information):
        with pytest.raises(ValueError, match="read-only"):
            array[0] = 1
    with pytest.raises(AttributeError):
        ps.model = "firth"


def test_declared_options_are_checked(lalonde):
    sub = lalonde.iloc[:200]
    bad = [({"ps_model": "probit"}, "`ps_model` must be one of 'logistic', 'firth' or a "
            "scikit-learn classifier"),
           ({"ps_model": object()}, "`ps_model`"),
           ({"positivity": (0.9, 0.1)}, r"`positivity` must be a pair \(low, high\) with 0 <= "
            "low < high <= 1 or None"),
           ({"positivity": 0.5}, "`positivity`"),
           ({"positivity": (0.0, 2.0)}, "`positivity`"),
           ({"max_iter": 0}, "`max_iter` must be an integer >= 1"),
           ({"max_iter": 2.5}, "`max_iter`"),
           ({"treatment": 3, "formula": None}, "`treatment`"),
           ({"formula": 3}, "`formula`")]
    for kwargs, message in bad:
        with pytest.raises(SpecificationError, match=message):
            propensity(sub, **{"formula": FORMULA, **kwargs})
    ps = _quiet(sub, FORMULA, ps_model="FIRTH", max_iter=50.0)  # canonical spellings
    assert ps.model == "firth"
    with pytest.raises(SpecificationError, match="`scale`"):
        ps.plot(scale="odds")
    with pytest.raises(SpecificationError, match="`bins`"):
        ps.plot(bins=0)


def test_a_spec_is_accepted_as_formula(lalonde):
    ps = _quiet(lalonde, FORMULA)
    again = _quiet(lalonde, ps.spec)
    pd.testing.assert_frame_equal(ps.tidy(), again.tidy(), check_exact=True)


def test_module_answers_for_the_function():
    import inspect

    import causalpa.propensity as module
    from causalpa._validation import declared_params

    assert callable(module)
    assert inspect.signature(module) == inspect.signature(module.propensity)
    assert "ps_model" in declared_params(module)
