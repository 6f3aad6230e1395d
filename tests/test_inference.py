"""Shared regression inference (causalpa.inference / causalpa.estimation) against R.

References: tests/reference/matchit/lalonde_estimation.R (sandwich::vcovCL, vcovHC,
clubSandwich::vcovCR CR2, hand-computed g-computation delta method).
"""

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from causalpa._regression import wls
from causalpa.errors import DataError, SmallSampleWarning, SpecificationError
from causalpa.estimation import estimate_effect
from causalpa.inference import Moments, permutation_test, variance

REF = Path(__file__).parent / "reference" / "matchit"
ADJ = ["age", "educ", "race", "married", "nodegree", "re74", "re75"]


@pytest.fixture(scope="module")
def lalonde():
    return pd.read_csv(REF / "lalonde.csv").set_index("id")


@pytest.fixture(scope="module")
def ref():
    return json.loads((REF / "lalonde_estimation.json").read_text())["cases"]


def matched(lalonde, case):
    md = lalonde.loc[case["ids"]].copy()
    md["weights"] = case["weights"]
    md["subclass"] = case["subclass"]
    md["employed78"] = (md["re78"] > 0).astype(int)
    return md


def rel(a, b):
    return abs(a - b) / abs(b)


@pytest.mark.parametrize("k", [0, 1, 2])
def test_cluster_se_matches_vcovCL(lalonde, ref, k):
    case = ref[k]
    md = matched(lalonde, case)
    kw = dict(weights="weights", cluster="subclass", small_n=0)
    e = estimate_effect(md, "re78", "treat", se="CR1", **kw)
    assert rel(e.estimate, case["estimate"]) < 1e-9
    assert rel(e.std_error, case["se_cl_hc1"]) < 1e-6
    e0 = estimate_effect(md, "re78", "treat", se="CR0", **kw)
    assert rel(e0.std_error, case["se_cl_hc0"]) < 1e-6
    e2 = estimate_effect(md, "re78", "treat", se="CR2", **kw)
    assert rel(e2.std_error, case["se_cr2"]) < 1e-6
    G = md["subclass"].nunique()
    assert e.df == G - 1
    # default (large arms): HC1
    assert estimate_effect(md, "re78", "treat", weights="weights", cluster="subclass").std_error \
        == pytest.approx(case["se_cl_hc1"], rel=1e-6)


@pytest.mark.parametrize("k", [0, 1])
def test_hc_types_match_vcovHC(lalonde, ref, k):
    case = ref[k]
    md = matched(lalonde, case)
    for t, want in zip(["HC0", "HC1", "HC2", "HC3"], case["se_hc"], strict=True):
        e = estimate_effect(md, "re78", "treat", weights="weights", se=t)
        assert rel(e.std_error, want) < 1e-6, t
        assert e.df == len(md) - 2


@pytest.mark.parametrize("k", [0, 1, 2])
def test_gcomputation_adjusted_matches_R(lalonde, ref, k):
    case = ref[k]
    md = matched(lalonde, case)
    e = estimate_effect(md, "re78", "treat", weights="weights", cluster="subclass", adjust=ADJ,
                        se="CR1")
    assert rel(e.estimate, case["adjusted"][0]) < 1e-8
    assert rel(e.std_error, case["adjusted"][1]) < 1e-6
    e2 = estimate_effect(md, "re78", "treat", weights="weights", cluster="subclass",
                         adjust="age + educ + C(race) + married + nodegree + re74 + re75",
                         se="CR2")
    assert rel(e2.estimate, case["adjusted_cr2"][0]) < 1e-8
    assert rel(e2.std_error, case["adjusted_cr2"][1]) < 1e-6


@pytest.mark.parametrize("k", [0, 1, 2])
@pytest.mark.parametrize("measure,key", [("risk difference", "rd"), ("risk ratio", "lnrr"),
                                         ("odds ratio", "lnor")])
def test_binary_measures_match_R(lalonde, ref, k, measure, key):
    case = ref[k]
    md = matched(lalonde, case)
    for adjust, name in ((None, f"binary_{key}"), (ADJ, f"binary_adj_{key}")):
        e = estimate_effect(md, "employed78", "treat", weights="weights", cluster="subclass",
                            adjust=adjust, measure=measure, small_n=0)
        want_est, want_se = case[name]
        est = e.estimate if key == "rd" else np.log(e.estimate)
        assert abs(est - want_est) < 1e-7 * max(1, abs(want_est)), name
        assert rel(e.std_error, want_se) < 1e-5, name
        assert e.measure == measure


def test_binary_default_measure_is_risk_difference(lalonde, ref):
    md = matched(lalonde, ref[0])
    e = estimate_effect(md, "employed78", "treat", weights="weights", cluster="subclass")
    assert e.measure == "risk difference"


def test_inputs_not_mutated_and_errors(lalonde, ref):
    md = matched(lalonde, ref[0])
    before = md.copy()
    estimate_effect(md, "re78", "treat", weights="weights", cluster="subclass", adjust=ADJ)
    pd.testing.assert_frame_equal(md, before)
    with pytest.raises(SpecificationError, match="`se` must be one of"):
        estimate_effect(md, "re78", "treat", se="jackknife")
    with pytest.raises(SpecificationError, match="cluster"):
        estimate_effect(md, "re78", "treat", se="cluster")
    with pytest.raises(DataError, match="re78x"):
        estimate_effect(md, "re78x", "treat")
    with pytest.raises(DataError, match="0/1 outcome"):
        estimate_effect(md, "re78", "treat", measure="risk ratio", cluster="subclass")
    bad = md.assign(treat=np.arange(len(md)) % 3)
    with pytest.raises(DataError, match="binary"):
        estimate_effect(bad, "re78", "treat", cluster="subclass")
    one = md[(md["treat"] == 0) | (md.index == md.index[md["treat"] == 1][0])]
    with pytest.raises(DataError, match="has 1 unit"):
        estimate_effect(one, "re78", "treat", se="robust")


def test_small_sample_switches_to_cr2_and_warns():
    rng = np.random.default_rng(3)
    df = pd.DataFrame({"t": np.repeat([1, 0], 12), "pair": np.tile(np.arange(12), 2)})
    df["y"] = df["t"] + rng.normal(size=24)
    with pytest.warns(SmallSampleWarning, match="CR2"):
        e = estimate_effect(df, "y", "t", cluster="pair")
    assert "CR2" in e.inference and e.df == 11
    with pytest.warns(SmallSampleWarning, match="too narrow"):
        estimate_effect(df, "y", "t", cluster="pair", se="CR1")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        estimate_effect(df, "y", "t", cluster="pair", small_n=5)


def test_permutation_pairs_exact_signflip():
    # 5 pairs: exact sign-flip distribution has 32 equally likely values
    d = np.array([4.0, 4.0, 5.0, 2.0, 3.0])
    y = np.column_stack([d, np.zeros(5)]).ravel()
    focal = np.tile([True, False], 5)
    sub = np.repeat(np.arange(5), 2)
    res = permutation_test(y, focal, sub, n_perm=20000, rng=0)
    # all differences positive: only the all-plus/all-minus sign patterns are as extreme
    assert res.p_value == pytest.approx(2 / 32, abs=0.01)
    assert res.statistic == pytest.approx(d.mean())
    assert res.conf_low < d.mean() < res.conf_high


def test_permutation_effect_and_null_calibration():
    rng = np.random.default_rng(11)
    rejections = 0
    for _ in range(200):
        df = pd.DataFrame({"t": np.repeat([1, 0], 10), "pair": np.tile(np.arange(10), 2)})
        df["y"] = rng.normal(size=20)
        e = estimate_effect(df, "y", "t", cluster="pair", se="permutation", n_perm=199,
                            rng=rng.integers(1 << 31), small_n=0)
        rejections += e.p_value < 0.05
    # null: rejection rate ~ 5%; MC sd sqrt(.05*.95/200) = 1.5%
    assert rejections / 200 < 0.05 + 3 * 0.0155


def test_bootstrap_close_to_cluster_se(lalonde, ref):
    md = matched(lalonde, ref[0])
    e = estimate_effect(md, "re78", "treat", weights="weights", cluster="subclass",
                        se="bootstrap", n_boot=400, rng=1)
    # bootstrap SE has MC relative error ~ 1/sqrt(2*400) = 3.5%
    assert rel(e.std_error, ref[0]["se_cl_hc0"]) < 0.15
    assert e.conf_low < e.estimate < e.conf_high
    e2 = estimate_effect(md, "re78", "treat", weights="weights", cluster="subclass",
                         se="bootstrap", n_boot=400, rng=1)
    assert e2.std_error == e.std_error


def test_sandwich_unweighted_hc_by_hand():
    rng = np.random.default_rng(0)
    X = np.column_stack([np.ones(30), rng.normal(size=30)])
    y = X @ [1, 2] + rng.normal(size=30) * (1 + np.abs(X[:, 1]))
    fit = wls(y, X)
    e = y - X @ fit.coef
    B = np.linalg.inv(X.T @ X)
    h = np.einsum("ij,jk,ik->i", X, B, X)
    want = B @ (X.T * (e / (1 - h)) ** 2) @ X @ B
    np.testing.assert_allclose(variance("HC3").vcov(Moments.from_fit(fit)), want, rtol=1e-10)


# --------------------------------------------------------------------------- the registry
def test_registry_one_constructor_signature():
    import inspect

    from causalpa.inference import VARIANCES, Variance

    assert set(VARIANCES) == {"HC0", "HC1", "HC2", "HC3", "CR0", "CR1", "CR2", "sandwich",
                              "influence", "bootstrap", "permutation"}
    signatures = {str(inspect.signature(cls)) for cls in VARIANCES.values()}
    assert signatures == {str(inspect.signature(Variance))}
    for name, cls in VARIANCES.items():
        v = cls(cluster=[1, 1, 2, 2], n_boot=50, n_perm=50, rng=1)
        assert v.name == name and v.kind in ("sandwich", "bootstrap", "permutation")
        assert v.description
    with pytest.raises(SpecificationError, match="needs `cluster=`"):
        VARIANCES["CR2"]()
    with pytest.raises(SpecificationError, match="`n_boot`"):
        variance("bootstrap", n_boot=1)
    with pytest.raises(SpecificationError, match="`rng`"):
        variance("bootstrap", rng="x")
    with pytest.raises(SpecificationError, match="`se` must be one of"):
        variance("HC4")


def test_registering_a_variance_is_one_class():
    from causalpa.inference import VARIANCES, Variance, register_variance

    @register_variance
    class Naive(Variance):
        """Model-based variance of a linear model: sigma^2 (X'X)^-1."""

        name = "naive-test"
        description = "model-based"

        def vcov(self, moments):
            s2 = float(moments.es @ moments.es) / (moments.n - moments.k)
            return s2 * moments.bread

    try:
        df = pd.DataFrame({"t": [1, 1, 1, 0, 0, 0, 0, 0], "y": [5.0, 6, 7, 4, 5, 3, 6, 4]})
        e = estimate_effect(df, "y", "t", se="naive-test", small_n=0)
        X = np.column_stack([np.ones(8), df["t"]])
        fit = wls(df["y"].to_numpy(), X)
        s2 = np.sum((df["y"] - X @ fit.coef) ** 2) / 6
        assert e.std_error == pytest.approx(np.sqrt(s2 * np.linalg.inv(X.T @ X)[1, 1]))
    finally:
        del VARIANCES["naive-test"]


def test_stacked_weights_known_sandwich_equals_hc0():
    rng = np.random.default_rng(2)
    X = np.column_stack([np.ones(50), rng.normal(size=50)])
    w = rng.uniform(0.5, 2, 50)
    fit = wls(X @ [1.0, 2.0] + rng.normal(size=50), X, w)
    hc0 = variance("HC0").vcov(Moments.from_fit(fit))
    stacked = variance("sandwich").vcov(Moments.stacked(fit.xs * fit.es[:, None],
                                                        -(fit.xs.T @ fit.xs)))
    np.testing.assert_allclose(stacked, hc0, rtol=1e-12)


def test_influence_variance_is_sum_of_squares_over_n_squared():
    phi = np.random.default_rng(1).normal(size=40)
    V = variance("influence").vcov(Moments(psi=phi[:, None], bread=np.array([[1 / 40]])))
    assert V[0, 0] == pytest.approx(np.sum(phi**2) / 40**2, rel=1e-14)


def test_coef_table_matches_scalar_computations_row_by_row():
    from scipy import stats

    from causalpa.inference import coef_table

    est, se, df = [1.0, -2.0, 0.5, 3.0], [0.5, 1.0, 0.0, 2.0], [10.0, np.inf, 5.0, 7.5]
    t = coef_table(est, se, df, 0.9, term=list("abcd"))
    for i in (0, 1, 3):
        ref = stats.norm if np.isinf(df[i]) else stats.t(df[i])
        q = ref.ppf(0.95)
        assert t.loc[i, "conf_low"] == pytest.approx(est[i] - q * se[i], rel=1e-15)
        assert t.loc[i, "p_value"] == pytest.approx(2 * ref.sf(abs(est[i] / se[i])), rel=1e-13)
    assert np.isnan(t.loc[2, "p_value"]) and np.isnan(t.loc[2, "statistic"])
    assert t["term"].tolist() == list("abcd")


def test_bootstrap_needs_enough_successful_replicates():
    from causalpa.inference import bootstrap

    with pytest.raises(DataError, match="too few successful bootstrap replicates"):
        bootstrap(lambda idx: float("nan"), 10, n_boot=50, rng=1)
    reps = bootstrap(lambda idx: float(idx.mean()), 10, n_boot=30, rng=np.random.default_rng(3))
    again = bootstrap(lambda idx: float(idx.mean()), 10, n_boot=30, rng=3)
    np.testing.assert_array_equal(reps, again)
