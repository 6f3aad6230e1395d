"""Tests for causalpa.propensity (reference: R glm and a hand-built Firth fit, see
tests/reference/propensity/lalonde_glm_firth.R)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import numpy as np
import pandas as pd
import pytest

from causalpa.errors import DataError, PositivityWarning, SpecificationError
from causalpa.propensity import propensity

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
    with pytest.raises(SpecificationError, match="`ps_model`"):
        propensity(lalonde, FORMULA, ps_model="probit")
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
