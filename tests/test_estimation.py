"""Effect estimation shared by matching, weighting and AIPW (``causalpa.estimation``).

The checks every estimator shares: the roles of the variables (the outcome is not the
treatment, adjustment covariates are neither), a full-rank adjustment design, weights and
clusters given as pandas Series aligned on the data's index, and the standard errors that
need matched subclasses.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import causalpa as cpa
from causalpa._validation import CONF_LEVEL, declared_params
from causalpa.errors import DataError, SpecificationError
from causalpa.estimation import adjustment_matrix, estimate_effect, resolve_se


def _quiet(fn):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn()


@pytest.fixture(scope="module")
def df() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 300
    d = pd.DataFrame({"a": rng.integers(0, 10, n).astype(float),
                      "b": rng.integers(0, 10, n).astype(float),
                      "g": rng.choice(["p", "q", "r"], n)})
    d["total"] = d["a"] + d["b"]  # a subtotal: exactly collinear with a and b
    d["is_q"] = (d["g"] == "q").astype(float)  # a dummy of the factor g
    d["t"] = rng.binomial(1, 1 / (1 + np.exp(-(d["a"] - 5) / 3)))
    d["y"] = 2.0 * d["t"] + d["a"] + rng.normal(size=n)
    d.index = [f"id{i}" for i in range(n)]
    return d


# =========================================================================== 1. full rank
COLLINEAR = [(["a", "b", "total"], "'total'"), ("a + C(g) + is_q", "'is_q'")]


@pytest.mark.parametrize("adjust, redundant", COLLINEAR)
def test_collinear_adjustment_is_refused_by_every_estimator(df, adjust, redundant):
    before = df.copy()
    message = f"`adjust` model matrix is rank-deficient.*{redundant}.*linear combination"
    w = _quiet(lambda: cpa.weight(df, "t ~ a + b", outcome="y"))
    with pytest.raises(DataError, match=message):
        w.estimate(adjust=adjust)
    with pytest.raises(DataError, match=message):
        w.estimate(adjust=adjust, se="bootstrap", n_boot=10, rng=1)
    m = _quiet(lambda: cpa.match(df, "t ~ a + b", outcome="y", estimand="ATC"))
    with pytest.raises(DataError, match=message):
        m.estimate(adjust=adjust)
    with pytest.raises(DataError, match=message):
        estimate_effect(df, "y", "t", adjust=adjust, se="HC3")
    with pytest.raises(DataError, match=message.replace("`adjust`", "`outcome_covariates`")):
        cpa.aipw(df, "t ~ a + b", outcome="y", outcome_covariates=adjust)
    pd.testing.assert_frame_equal(df, before)


def test_full_rank_adjustment_is_unchanged(df):
    # the estimate does not depend on how a full-rank design is written (constant
    # columns are dropped, not refused)
    d = df.assign(one=1.0)
    w = _quiet(lambda: cpa.weight(d, "t ~ a + b", outcome="y"))
    assert w.estimate(adjust=["a", "b", "one"]).estimate == pytest.approx(
        w.estimate(adjust=["a", "b"]).estimate, rel=1e-12)
    Z, names = adjustment_matrix(d, "a + C(g)")
    assert names == ["a", "C(g)[T.q]", "C(g)[T.r]"] and Z.shape == (len(d), 3)


def test_rank_is_checked_on_the_analysed_rows(df):
    # 'c' equals 'a' on the rows with positive weight only: the fitted design is collinear
    w = np.where(np.arange(len(df)) % 5 == 0, 0.0, 1.0)
    d = df.assign(c=np.where(w > 0, df["a"], -df["a"]))
    adjustment_matrix(d, ["a", "c"])  # full rank on every row
    with pytest.raises(DataError, match="'c' is a linear combination"):
        estimate_effect(d, "y", "t", weights=w, adjust=["a", "c"], se="HC3")
    # a column constant on the analysed rows carries no information: dropped, not refused
    d = df.assign(k=np.where(w > 0, 1.0, df["a"]))
    e = estimate_effect(d, "y", "t", weights=w, adjust=["a", "k"], se="HC3")
    assert e.estimate == pytest.approx(
        estimate_effect(d, "y", "t", weights=w, adjust=["a"], se="HC3").estimate, rel=1e-12)


# =========================================================================== 2. roles
@pytest.mark.parametrize("adjust, role, column", [
    (["y"], "outcome", "y"), (["a", "t"], "treatment", "t"), ("a + I(t * a)", "treatment", "t"),
    ("a + C(t)", "treatment", "t"), (["a", "y"], "outcome", "y"),
])
def test_adjustment_covariates_cannot_be_the_outcome_or_the_treatment(df, adjust, role, column):
    message = f"`adjust` includes the {role} column '{column}'"
    w = _quiet(lambda: cpa.weight(df, "t ~ a", outcome="y"))
    with pytest.raises(SpecificationError, match=message):
        w.estimate(adjust=adjust)
    m = _quiet(lambda: cpa.match(df, "t ~ a", outcome="y", replace=True))
    with pytest.raises(SpecificationError, match=message):
        m.estimate(adjust=adjust)
    with pytest.raises(SpecificationError, match=message):
        estimate_effect(df, "y", "t", adjust=adjust, se="HC3")
    with pytest.raises(SpecificationError, match=message.replace("adjust", "outcome_covariates")):
        cpa.aipw(df, "t ~ a", outcome="y", outcome_covariates=adjust)


def test_the_outcome_cannot_be_the_treatment(df):
    message = "`outcome` 't' is the treatment column"
    w = _quiet(lambda: cpa.weight(df, "t ~ a"))
    m = _quiet(lambda: cpa.match(df, "t ~ a"))
    for call in (lambda: w.estimate("t"), lambda: w.estimate("t", se="bootstrap"),
                 lambda: m.estimate("t"), lambda: estimate_effect(df, "t", "t"),
                 lambda: cpa.aipw(df, "t ~ a", outcome="t")):
        with pytest.raises(SpecificationError, match=message):
            call()
    # a treatment coded with levels: the role is named before the outcome's type
    d = df.assign(arm=np.where(df["t"] == 1, "PA", "control"))
    wl = _quiet(lambda: cpa.weight(d, "arm ~ a", treated="PA"))
    with pytest.raises(SpecificationError, match="`outcome` 'arm' is the treatment"):
        wl.estimate("arm")


def test_aipw_outcome_in_the_propensity_covariates_is_refused(df):
    with pytest.raises(SpecificationError, match="`formula` includes the outcome column 'y'"):
        cpa.aipw(df, "t ~ a + y", outcome="y")
    with pytest.raises(SpecificationError, match="`covariates` includes the outcome column 'y'"):
        cpa.aipw(df, treatment="t", covariates=["a", "y"], outcome="y")


# =========================================================================== 4. Series
def test_weight_and_cluster_series_are_aligned_on_the_index(df):
    w = _quiet(lambda: cpa.weight(df, "t ~ a + b")).weights
    shuffled = w.sample(frac=1, random_state=0)
    cl = pd.Series(np.arange(len(df)) // 2, index=df.index)
    a = estimate_effect(df, "y", "t", weights=w, cluster=cl, se="CR1", estimand="ATE")
    b = estimate_effect(df, "y", "t", weights=shuffled, cluster=cl.sample(frac=1, random_state=1),
                        se="CR1", estimand="ATE")
    c = estimate_effect(df, "y", "t", weights=w.to_numpy(), cluster=cl.to_numpy(), se="CR1",
                        estimand="ATE")
    assert (a.estimate, a.std_error) == (b.estimate, b.std_error) == (c.estimate, c.std_error)
    # extra labels (a Series of a larger data set) are ignored
    bigger = pd.concat([w, pd.Series([5.0], index=["extra"])])
    assert estimate_effect(df, "y", "t", weights=bigger, se="HC3").estimate == \
        estimate_effect(df, "y", "t", weights=w, se="HC3").estimate


@pytest.mark.parametrize("name", ["weights", "cluster"])
def test_a_series_without_a_value_for_some_rows_is_refused(df, name):
    values = pd.Series(np.ones(len(df)), index=df.index).drop(["id3", "id7"])
    with pytest.raises(DataError, match=f"`{name}` is a pandas Series without a value for rows "
                                        "id3, id7 of `data`"):
        estimate_effect(df, "y", "t", se="HC3", **{name: values})
    positional = pd.Series(np.ones(len(df)))  # a default index: not the rows of `data`
    with pytest.raises(DataError, match=f"`{name}` is a pandas Series without a value"):
        estimate_effect(df, "y", "t", se="HC3", **{name: positional})
    duplicated = pd.Series(np.ones(len(df)), index=["x"] * len(df))
    with pytest.raises(DataError, match=f"`{name}` is a pandas Series with duplicated index"):
        estimate_effect(df, "y", "t", se="HC3", **{name: duplicated})


def test_a_series_indexed_like_data_with_duplicated_labels_is_read_in_order(df):
    d = df.reset_index(drop=True)
    d.index = [0] * len(d)
    w = pd.Series(np.linspace(0.5, 2, len(d)), index=d.index)
    assert estimate_effect(d, "y", "t", weights=w, se="HC3").estimate == \
        estimate_effect(d, "y", "t", weights=w.to_numpy(), se="HC3").estimate


# =========================================================================== 8. se needs subclasses
@pytest.mark.parametrize("se", ["cluster", "CR0", "CR1", "CR2", "permutation"])
def test_cluster_variances_after_matching_with_replacement_name_se(df, se):
    m = _quiet(lambda: cpa.match(df, "t ~ a", outcome="y", replace=True))
    message = (f"se='{se}' needs the matched subclasses \\(`cluster=`\\) and there are none: "
               "matching with replacement has no subclasses; use se='robust' or se='bootstrap'")
    with pytest.raises(SpecificationError, match=message):
        m.estimate(se=se)
    with pytest.raises(SpecificationError, match=message):
        estimate_effect(df, "y", "t", se=se)
    with pytest.raises(SpecificationError, match=message):
        resolve_se(se, clustered=False, small=False, linear=True)
    assert _quiet(lambda: m.estimate(se="robust")).std_error > 0


def test_resolve_se_maps_the_aliases():
    assert resolve_se("cluster", clustered=True, small=False, linear=True) == "CR1"
    assert resolve_se("cluster", clustered=True, small=False, linear=False) == "CR0"
    assert resolve_se("cluster", clustered=True, small=True, linear=True) == "CR2"
    assert resolve_se("robust", clustered=False, small=False, linear=True) == "HC3"
    assert resolve_se("bootstrap", clustered=False, small=False, linear=True) == "bootstrap"


# =========================================================================== 9. declarations
def test_bootstrap_replicates_and_conf_level_declared_alike():
    match_est = declared_params(cpa.matching.MatchResult.estimate)
    weight_est = declared_params(cpa.weighting.WeightResult.estimate)
    assert match_est["n_boot"][0].describe() == weight_est["n_boot"][0].describe() \
        == "an integer >= 10"
    assert match_est["conf_level"] == weight_est["conf_level"] == [CONF_LEVEL]
    assert declared_params(cpa.aipw)["conf_level"] == [CONF_LEVEL]


def test_match_estimate_refuses_fewer_than_10_bootstrap_replicates(df):
    m = _quiet(lambda: cpa.match(df, "t ~ a", outcome="y"))
    with pytest.raises(SpecificationError, match="`n_boot` must be an integer >= 10; got 5"):
        m.estimate(se="bootstrap", n_boot=5)
    e = _quiet(lambda: m.estimate(se="bootstrap", n_boot=10, rng=1))
    assert np.isfinite(e.std_error)


# =========================================================================== 11. one of each
def test_shared_declarations_are_the_same_objects():
    import causalpa.estimation as E
    import causalpa.matching.result as MR
    import causalpa.propensity as P
    import causalpa.weighting._base as WB
    import causalpa.weighting.result as WR

    assert WB.ESTIMANDS is E.ESTIMANDS and WB.Estimand is E.Estimand
    assert WR.Measure is E.Measure
    assert MR._frozen is P._frozen
    assert declared_params(cpa.aipw)["ps_model"] == list(P.PS_MODEL)
    assert declared_params(cpa.doubly_robust.aipw_arrays)["ps_model"] == list(P.PS_MODEL)
