"""Tests for causalpa.sensitivity and the DoWhy integration.

References: tests/reference/sensitivity/rosenbaum_evalue.R (hand computation of the
Rosenbaum signed-rank bounds, checked against wilcox.test at Gamma = 1, and the
VanderWeele & Ding (2017) E-value formulas with the paper's worked example).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from causalpa.errors import DataError, SpecificationError
from causalpa.results import effect_from_estimate
from causalpa.sensitivity import evalue, rosenbaum, signed_rank_bounds

REF = Path(__file__).parent / "reference" / "sensitivity"


@pytest.fixture(scope="module")
def ref() -> dict:
    return json.loads((REF / "rosenbaum_evalue.json").read_text())


def test_evalue_paper_example(ref):
    ev = evalue(3.9, 1.8, 8.7)
    r = ref["evalue"]["rr_3.9"]
    assert ev.point == pytest.approx(r["point"], rel=1e-12)
    assert ev.ci == pytest.approx(r["ci"], rel=1e-12)
    # the paper prints 7.2 (3.9 + sqrt(3.9 * 2.9) = 7.26, truncated) and 3.0
    assert 0 <= ev.point - r["paper"][0] < 0.1
    assert round(ev.ci, 1) == r["paper"][1]


def test_evalue_protective_or_smd_hr(ref):
    e = ref["evalue"]
    ev = evalue(0.80, 0.71, 0.91)
    assert (ev.point, ev.ci) == pytest.approx((e["rr_0.80"]["point"], e["rr_0.80"]["ci"]))
    ev = evalue(0.86, 0.75, 0.99, scale="OR", rare=False)
    assert (ev.point, ev.ci) == pytest.approx((e["or_common_0.86"]["point"],
                                               e["or_common_0.86"]["ci"]))
    ev = evalue(0.5, scale="SMD", se=0.1)
    assert (ev.point, ev.ci) == pytest.approx((e["smd_0.5_se0.1"]["point"],
                                               e["smd_0.5_se0.1"]["ci"]))
    ev = evalue(1.5, scale="HR", rare=False)
    assert ev.point == pytest.approx(e["hr_common_1.5"]["point"])
    assert evalue(1.5, scale="OR").point == evalue(1.5).point  # rare: OR ~ RR


def test_evalue_ci_crossing_null_is_one():
    ev = evalue(1.75, 0.9, 3.4)  # the pilot's recovery ratio 63% / 36% with a wide CI
    assert ev.ci == 1.0
    assert ev.point == pytest.approx(1.75 + np.sqrt(1.75 * 0.75))
    assert "includes the null" in ev.summary()


def test_evalue_from_effect():
    rr = effect_from_estimate(np.log(2.0), 0.2, log_scale=True, estimand="ATE", method="IPW",
                              n_treated=50, n_control=50, measure="risk ratio")
    ev = evalue(rr)
    assert ev.point == pytest.approx(2 + np.sqrt(2))
    assert ev.ci == pytest.approx(evalue(2.0, rr.conf_low, rr.conf_high).ci)
    diff = effect_from_estimate(-2.0, 0.8, estimand="ATE", method="IPW", n_treated=50,
                                n_control=50, measure="difference")
    ev = evalue(diff, sd=5.0)
    assert ev.point == pytest.approx(evalue(-0.4, scale="SMD", se=0.16).point)
    assert ev.ci == pytest.approx(evalue(-0.4, scale="SMD", se=0.16).ci)
    with pytest.raises(SpecificationError, match="`sd`"):
        evalue(diff)
    rd = effect_from_estimate(0.2, 0.1, estimand="ATE", method="IPW", n_treated=5,
                              n_control=5, measure="risk difference")
    with pytest.raises(SpecificationError, match="risk ratio"):
        evalue(rd)
    with pytest.raises(SpecificationError, match="`scale`"):
        evalue(1.2, scale="RD")
    with pytest.raises(SpecificationError, match="> 0"):
        evalue(-1.2)


@pytest.mark.parametrize("key,data,alt", [("b1", "d1", "greater"), ("b2", "d2", "less")])
def test_rosenbaum_bounds_match_hand_computation(ref, key, data, alt):
    r = ref[key]
    d = np.asarray(ref[data])
    gammas = [row["gamma"] for row in r["rows"]]
    ex = signed_rank_bounds(d, gammas, alternative=alt, method="exact")
    nm = signed_rank_bounds(d, gammas, alternative=alt, method="normal")
    assert ex.statistic == r["statistic"] and ex.n_pairs == r["n"]
    for i, row in enumerate(r["rows"]):
        assert ex.table.loc[i, "p_upper"] == pytest.approx(row["exact_upper"], rel=1e-9)
        assert ex.table.loc[i, "p_lower"] == pytest.approx(row["exact_lower"], rel=1e-9)
        assert nm.table.loc[i, "p_upper"] == pytest.approx(row["normal_upper"], rel=1e-9)
        assert nm.table.loc[i, "p_lower"] == pytest.approx(row["normal_lower"], rel=1e-9)
    # bounds widen with Gamma
    assert np.all(np.diff(ex.table["p_upper"]) > 0)


def test_gamma_one_equals_wilcoxon_test(ref):
    b = signed_rank_bounds(ref["d1"], [1.0])
    assert b.table.loc[0, "p_upper"] == pytest.approx(ref["wilcox_d1_exact_p"], rel=1e-9)
    assert b.table.loc[0, "p_lower"] == b.table.loc[0, "p_upper"]


def test_rosenbaum_direction_and_bad_input(ref):
    b = rosenbaum(ref["d2"])  # median difference < 0
    assert b.alternative == "less"
    assert "Gamma" in b.summary()
    with pytest.raises(SpecificationError, match="`gammas`"):
        rosenbaum(ref["d1"], gammas=[0.5])
    with pytest.raises(DataError, match="non-zero"):
        rosenbaum([0.0, 0.0, 1.0])
    with pytest.raises(SpecificationError, match="`alternative`"):
        rosenbaum(ref["d1"], alternative="two-sided")


def test_rosenbaum_on_matched_result():
    matching = pytest.importorskip("causalpa.matching")
    rng = np.random.default_rng(3)
    n = 200
    df = pd.DataFrame({"age": rng.normal(40, 10, n)}, index=[f"id{i}" for i in range(n)])
    df["pa"] = rng.binomial(1, 1 / (1 + np.exp(-(df["age"] - 45) / 8)))
    df["y"] = -2.0 * df["pa"] + 0.1 * df["age"] + rng.normal(size=n)
    before = df.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = matching.match(df, "pa ~ age")
    b = rosenbaum(m, "y", gammas=[1, 2])
    diffs = df.loc[m.pairs["treated"], "y"].to_numpy() - df.loc[m.pairs["control"], "y"].to_numpy()
    direct = signed_rank_bounds(diffs, [1, 2], alternative="less")
    pd.testing.assert_frame_equal(b.table, direct.table)
    pd.testing.assert_frame_equal(df, before)
    with pytest.raises(SpecificationError, match="`outcome`"):
        rosenbaum(m)


# ----------------------------------------------------------------------------- DoWhy
def test_dowhy_graph_and_refuter():
    pytest.importorskip("dowhy")
    from causalpa.integrations.dowhy import causal_model, refute, self_selection_graph

    g = self_selection_graph(treatment="pa", covariates=["age", "sex"], outcome="y")
    assert set(g.edges()) == {("age", "pa"), ("age", "y"), ("sex", "pa"), ("sex", "y"),
                              ("pa", "y")}
    rng = np.random.default_rng(0)
    n = 400
    df = pd.DataFrame({"age": rng.normal(size=n), "sex": rng.choice(["f", "m"], n)})
    df["pa"] = rng.binomial(1, 1 / (1 + np.exp(-df["age"])))
    df["y"] = 1.0 * df["pa"] + df["age"] + (df["sex"] == "m") + rng.normal(size=n)
    before = df.copy()
    model = causal_model(df, "pa ~ age + C(sex)", outcome="y")
    assert set(model._graph._graph.nodes()) >= {"pa", "y", "age", "sex_m"}
    from causalpa.weighting import weight

    spec = weight(df, "pa ~ age + C(sex)").spec
    model2 = causal_model(df, spec, outcome="y")
    assert set(model2._graph._graph.edges()) == set(model._graph._graph.edges())
    out = refute(df, "pa ~ age + C(sex)", outcome="y", method="placebo", num_simulations=10,
                 random_state=1)
    assert out.loc[0, "estimated_effect"] == pytest.approx(1.0, abs=0.3)
    assert abs(out.loc[0, "new_effect"]) < 0.3  # a placebo treatment has no effect
    pd.testing.assert_frame_equal(df, before)
