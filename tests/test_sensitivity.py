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
    ev = evalue(0.5, scale="SMD", std_error=0.1)
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
    assert ev.point == pytest.approx(evalue(-0.4, scale="SMD", std_error=0.16).point)
    assert ev.ci == pytest.approx(evalue(-0.4, scale="SMD", std_error=0.16).ci)
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
    assert b.notes[1:] == ()  # 1:1 without replacement: no approximation to report
    with pytest.raises(SpecificationError, match="`outcome`"):
        rosenbaum(m)
    with pytest.raises(DataError, match="'nope'"):
        rosenbaum(m, "nope")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m2 = matching.match(df, "pa ~ age", ratio=2, replace=True)
    b2 = rosenbaum(m2, "y", gammas=[1, 2])
    assert any("k:1 matching" in n for n in b2.notes)
    assert any("reused" in n for n in b2.notes)
    assert "k:1 matching" in b2.summary()


def test_rosenbaum_refuses_a_weighting_result():
    from causalpa.weighting import weight

    rng = np.random.default_rng(4)
    df = pd.DataFrame({"age": rng.normal(size=100)})
    df["pa"] = rng.binomial(1, 0.4, 100)
    df["y"] = df["pa"] + rng.normal(size=100)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        w = weight(df, "pa ~ age")
    with pytest.raises(SpecificationError, match="`matched`.*WeightResult.*no matched pairs"):
        rosenbaum(w, "y")
    with pytest.raises(SpecificationError, match="`matched`"):
        rosenbaum(["a", "b", "c"])


# ----------------------------------------------------------------------------- protocol
def test_evalue_result_protocol():
    ev = evalue(3.9, conf_low=1.8, conf_high=8.7)
    t = ev.tidy()
    assert t["quantity"].tolist() == ["point", "confidence limit"]
    assert t["risk_ratio"].tolist() == [3.9, 1.8]
    assert t["evalue"].tolist() == [ev.point, ev.ci]
    t.loc[0, "evalue"] = 0.0  # a copy
    assert ev.tidy().loc[0, "evalue"] == ev.point
    d = ev.to_dict()
    assert (d["scale"], d["conversion"], d["null"]) == ("RR", "risk ratio", 1.0)
    assert d["table"][1]["evalue"] == ev.ci
    text = ev.summary()
    assert text.splitlines()[0] == "E-values for unmeasured confounding (VanderWeele & Ding 2017)"
    assert "at least 7.26 each" in text and "3.00 for the confidence limit" in text
    assert "<table" in ev._repr_html_()
    none = evalue(2.0)  # no interval: the limit's row is there, empty
    assert np.isnan(none.tidy().loc[1, "evalue"]) and np.isnan(none.rr_limit)
    with pytest.raises(AttributeError):
        ev.point = 1.0


def test_evalue_bias_plot_draws_the_curve_through_the_evalue():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ev = evalue(0.5, conf_low=0.3, conf_high=0.8)  # protective: RR 2 after inversion
    ax = ev.plot()
    lines = ax.get_lines()
    x, y = lines[0].get_data()
    np.testing.assert_allclose(x * y / (x + y - 1), 2.0)  # the joint strengths giving RR = 2
    px, py = lines[1].get_data()
    assert px[0] == py[0] == pytest.approx(ev.point)
    x, y = lines[2].get_data()  # the dashed curve of the limit closest to the null
    np.testing.assert_allclose(x * y / (x + y - 1), 1 / 0.8)
    assert lines[3].get_data()[0][0] == pytest.approx(ev.ci)
    assert ax.get_xlim() == (1.0, max(2 * ev.point, ev.point + 2))
    assert len(evalue(1.75, 0.9, 3.4).plot(xmax=8).get_lines()) == 2  # interval crosses 1
    with pytest.raises(SpecificationError, match="`xmax`"):
        ev.plot(xmax=0.5)
    plt.close("all")


def test_rosenbaum_result_protocol_and_plot(ref):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    b = signed_rank_bounds(ref["d1"], [1, 1.5, 2, 3])
    t = b.tidy()
    assert list(t.columns) == ["gamma", "p_lower", "p_upper"]
    pd.testing.assert_frame_equal(b.table, t)
    tab = b.table
    tab.loc[0, "p_upper"] = 1.0  # a new frame each time
    assert b.tidy().loc[0, "p_upper"] == t.loc[0, "p_upper"]
    with pytest.raises(ValueError):
        b.p_upper[0] = 1.0  # stored read-only
    d = b.to_dict()
    assert d["n_pairs"] == b.n_pairs and d["statistic"] == b.statistic
    assert d["gamma_at_0.05"] == b.gamma_at(0.05) or np.isnan(b.gamma_at(0.05))
    assert b.summary().splitlines()[0].startswith("Rosenbaum bounds: Wilcoxon signed-rank test")
    ax = b.plot()
    upper, lower, line = ax.get_lines()
    np.testing.assert_array_equal(upper.get_ydata(), b.p_upper)
    np.testing.assert_array_equal(lower.get_ydata(), b.p_lower)
    assert line.get_ydata()[0] == 0.05
    plt.close("all")
    with pytest.raises(SpecificationError, match="`alpha`"):
        b.gamma_at(1.5)


def test_declared_options_name_the_argument(ref):
    with pytest.raises(SpecificationError, match="`std_error`"):
        evalue(0.5, scale="SMD", std_error=-0.1)
    with pytest.raises(SpecificationError, match="unexpected keyword argument 'se'"):
        evalue(0.5, scale="SMD", se=0.1)  # the number is `std_error` now
    with pytest.raises(SpecificationError, match="`rare`"):
        evalue(1.5, scale="OR", rare="yes")
    with pytest.raises(SpecificationError, match="`estimate`"):
        evalue("1.5")
    with pytest.raises(SpecificationError, match="`null`"):
        evalue(1.5, null=0)
    with pytest.raises(SpecificationError, match="`std_error` is used only"):
        evalue(1.5, std_error=0.1)
    with pytest.raises(SpecificationError, match="`sd`"):
        evalue(1.5, sd=2.0)
    with pytest.raises(SpecificationError, match="`conf_low`"):
        evalue(1.5, conf_low=-0.2, conf_high=2.0)
    with pytest.raises(SpecificationError, match="not `conf_low`"):
        evalue(0.5, 0.1, 0.9, scale="SMD")
    assert evalue(1.5, scale="or").scale == "OR"  # canonical spelling
    for bad in ([], "2", [1, float("nan")]):
        with pytest.raises(SpecificationError, match="`gammas`"):
            rosenbaum(ref["d1"], gammas=bad)
    with pytest.raises(SpecificationError, match="`method`"):
        signed_rank_bounds(ref["d1"], method="approximate")
    with pytest.raises(SpecificationError, match="`outcome`"):
        rosenbaum(ref["d1"], outcome=3)
    assert rosenbaum(ref["d1"], gammas=2).tidy()["gamma"].tolist() == [2.0]


def test_evalue_of_an_effect_takes_its_interval_only():
    rr = effect_from_estimate(np.log(2.0), 0.2, log_scale=True, estimand="ATE", method="IPW",
                              n_treated=50, n_control=50, measure="risk ratio")
    with pytest.raises(SpecificationError, match="`conf_low` is taken from the Effect"):
        evalue(rr, conf_low=1.1)
    with pytest.raises(SpecificationError, match="`scale`"):
        evalue(rr, scale="OR")
    assert evalue(rr, scale="RR").point == evalue(rr).point


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
    state = np.random.get_state()
    out = refute(df, "pa ~ age + C(sex)", outcome="y", method="placebo", num_simulations=10,
                 rng=1)
    assert out.loc[0, "estimated_effect"] == pytest.approx(1.0, abs=0.3)
    assert abs(out.loc[0, "new_effect"]) < 0.3  # a placebo treatment has no effect
    pd.testing.assert_frame_equal(df, before)
    after = np.random.get_state()  # DoWhy seeds numpy's global state; it is restored
    assert after[0] == state[0] and np.array_equal(after[1], state[1]) and after[2] == state[2]
    assert set(self_selection_graph(spec, outcome="y").edges()) == {
        ("age", "pa"), ("age", "y"), ("sex", "pa"), ("sex", "y"), ("pa", "y")}


def test_refute_rng_and_declared_options():
    pytest.importorskip("dowhy")
    from causalpa.integrations.dowhy import REFUTERS, refute, self_selection_graph

    rng = np.random.default_rng(1)
    n = 300
    df = pd.DataFrame({"age": rng.normal(size=n)})
    df["pa"] = rng.binomial(1, 1 / (1 + np.exp(-df["age"])))
    df["y"] = 1.0 * df["pa"] + df["age"] + rng.normal(size=n)
    kw = {"outcome": "y", "method": "data_subset", "num_simulations": 5}
    a = refute(df, "pa ~ age", rng=7, **kw)
    pd.testing.assert_frame_equal(a, refute(df, "pa ~ age", rng=7, **kw))  # same rng, same numbers
    g1 = refute(df, "pa ~ age", rng=np.random.default_rng(7), **kw)
    pd.testing.assert_frame_equal(g1, refute(df, "pa ~ age", rng=np.random.default_rng(7), **kw))
    assert a.loc[0, "refuter"] == REFUTERS["data_subset"] == "data_subset_refuter"
    with pytest.raises(SpecificationError, match="`rng`"):
        refute(df, "pa ~ age", outcome="y", rng="seven")
    with pytest.raises(SpecificationError, match="unexpected keyword argument .random_state."):
        refute(df, "pa ~ age", outcome="y", random_state=1)  # the name is `rng`
    with pytest.raises(SpecificationError, match="`method`"):
        refute(df, "pa ~ age", outcome="y", method="bootstrap")
    with pytest.raises(SpecificationError, match="`num_simulations`"):
        refute(df, "pa ~ age", outcome="y", num_simulations=0)
    with pytest.raises(SpecificationError, match="`outcome`"):
        self_selection_graph("pa ~ age", outcome=["y"])
    with pytest.raises(SpecificationError, match="not both"):
        self_selection_graph("pa ~ age", outcome="y", treatment="pa")


def _matched_frame(n=200, seed=5):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"age": rng.normal(40, 10, n)}, index=[f"id{i}" for i in range(n)])
    df["pa"] = rng.binomial(1, 0.7, n)
    df["y"] = -2.0 * df["pa"] + 0.1 * df["age"] + rng.normal(size=n)
    return df


def test_rosenbaum_atc_k_to_1_has_one_set_per_matched_control():
    matching = pytest.importorskip("causalpa.matching")
    df = _matched_frame()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = matching.match(df, "pa ~ age", estimand="ATC", ratio=2)
    mm, focal = m.match_matrix, np.flatnonzero(m.focal)
    matched = (mm >= 0).any(axis=1)
    y = df["y"].to_numpy()
    # treated minus control: the mean of each control's matched treated minus the control
    diffs = [y[mm[r][mm[r] >= 0]].mean() - y[focal[r]] for r in np.flatnonzero(matched)]
    b = rosenbaum(m, "y", gammas=[1, 2])
    assert b.n_pairs == int(matched.sum()) == len(diffs)
    direct = signed_rank_bounds(diffs, [1, 2], alternative=b.alternative)
    pd.testing.assert_frame_equal(b.table, direct.table)
    assert any("each control unit is compared with the mean of its treated units" in n
               for n in b.notes)
    assert not any("reused" in n for n in b.notes)  # without replacement nothing is reused


def test_rosenbaum_with_replacement_and_a_duplicated_index():
    matching = pytest.importorskip("causalpa.matching")
    df = _matched_frame()
    dup = df.set_axis([0] * len(df))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = matching.match(df, "pa ~ age", estimand="ATC", replace=True)
        md = matching.match(dup, "pa ~ age", estimand="ATC", replace=True)
    b, bd = rosenbaum(m, "y", gammas=[1, 2]), rosenbaum(md, "y", gammas=[1, 2])
    pd.testing.assert_frame_equal(b.table, bd.table)
    assert b.n_pairs == int((m.match_matrix >= 0).any(axis=1).sum())
    assert any("treated units are reused across matched sets" in n for n in b.notes)
    assert not any("k:1" in n for n in b.notes)
