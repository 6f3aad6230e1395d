"""The result protocol: Effect, Estimates, compare (one table, many views)."""

import json
import math

import matplotlib
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from causalpa.errors import SpecificationError
from causalpa.inference import coef_table
from causalpa.results import (
    ESTIMATE_COLUMNS,
    Comparison,
    Effect,
    Estimates,
    Result,
    compare,
    effect_from_bootstrap,
    effect_from_estimate,
    estimate_frame,
)

matplotlib.use("Agg")


def make(**kw):
    base = dict(estimand="ATT", method="nearest matching", n_treated=16, n_control=22,
                outcome="phq9_change", treatment="pa")
    base.update(kw)
    return effect_from_estimate(-2.0, 1.0, **base)


def test_t_interval_and_p_value():
    e = make(df=10)
    q = stats.t(10).ppf(0.975)
    assert e.conf_low == pytest.approx(-2 - q) and e.conf_high == pytest.approx(-2 + q)
    assert e.p_value == pytest.approx(2 * stats.t(10).sf(2.0))
    assert e.statistic == pytest.approx(-2.0)


def test_normal_interval_by_default():
    e = make()
    assert math.isinf(e.df)
    assert e.conf_high == pytest.approx(-2 + 1.959963984540054)


def test_ratio_measures_exponentiate():
    e = effect_from_estimate(math.log(2), 0.1, log_scale=True, measure="risk ratio",
                             estimand="ATE", method="IPW", n_treated=1, n_control=1)
    assert e.estimate == pytest.approx(2.0)
    assert e.conf_low == pytest.approx(2 * math.exp(-1.959963984540054 * 0.1))
    assert e.statistic == pytest.approx(math.log(2) / 0.1)
    # another level is computed on the log scale, as the stored interval was
    ci = e.conf_int(0.9)
    q = stats.norm.ppf(0.95)
    assert ci.loc["treatment", "conf_low"] == pytest.approx(2 * math.exp(-q * 0.1))


def test_views_read_from_tidy():
    e = make(df=36, notes=("small sample: t reference with 36 df",))
    row = e.tidy().iloc[0]
    d = e.to_dict()
    assert d["result"] == "Effect" and d["title"] == e.summary().splitlines()[0]
    for k in ("estimate", "std_error", "conf_low", "conf_high", "p_value", "df", "n_treated"):
        assert d["table"][0][k] == pytest.approx(row[k])
    assert d["notes"] == ["small sample: t reference with 36 df"]
    json.dumps(d)
    assert "phq9_change" in e.summary() and "-2" in e.summary()
    assert "small sample" in repr(e) and repr(e).startswith("<Effect")
    html = e._repr_html_()
    assert "<table" in html and "phq9_change" in html
    assert list(e.tidy().columns[: len(ESTIMATE_COLUMNS)]) == list(ESTIMATE_COLUMNS)
    assert row["term"] == "pa" and row["n"] == 38


def test_statsmodels_habits():
    e = make(df=30)
    assert e.params["pa"] == -2.0 and e.bse["pa"] == 1.0
    assert e.pvalues["pa"] == e.p_value and e.tvalues["pa"] == e.statistic
    ci = e.conf_int()
    assert (ci.loc["pa", "conf_low"], ci.loc["pa", "conf_high"]) == (e.conf_low, e.conf_high)
    q = stats.t(30).ppf(0.95)
    assert e.conf_int(0.9).loc["pa", "conf_high"] == pytest.approx(-2 + q)
    with pytest.raises(SpecificationError, match="`conf_level`"):
        e.conf_int(1.5)


def test_bootstrap_interval_cannot_be_recomputed_at_another_level():
    reps = np.random.default_rng(0).normal(1.0, 0.5, 500)
    e = effect_from_bootstrap(1.0, reps, estimand="ATE", method="IPW", n_treated=50,
                              n_control=50)
    assert e.interval == "percentile"
    assert e.conf_int().loc["treatment", "conf_low"] == e.conf_low
    with pytest.raises(SpecificationError, match="re-estimate"):
        e.conf_int(0.9)


def test_effect_is_frozen_and_tidy_returns_copies():
    e = make()
    with pytest.raises(AttributeError):
        e.estimate = 0.0  # type: ignore[misc]
    t = e.tidy()
    t.loc[0, "estimate"] = 99.0
    assert e.tidy().loc[0, "estimate"] == -2.0


def test_zero_se_gives_nan_p():
    e = effect_from_estimate(1.0, 0.0, estimand="ATE", method="x", n_treated=1, n_control=1)
    assert np.isnan(e.p_value) and np.isnan(e.statistic)


def test_direct_construction():
    e = Effect(1.0, 0.5, 0.0, 2.0, 0.05, 30.0, "ATE", "IPW", 10, 12)
    assert e.tidy().shape == (1, 17)
    assert e.tidy().loc[0, "term"] == "treatment"


def test_estimate_frame_puts_the_schema_first():
    t = coef_table([1.0, 2.0], [0.5, 0.25], [10.0, np.inf], term=["a", "b"]).assign(extra=1)
    out = estimate_frame(t, outcome="y", method="m", n=12)
    assert list(out.columns) == [*ESTIMATE_COLUMNS, "extra"]
    assert out["outcome"].tolist() == ["y", "y"] and out["estimand"].isna().all()
    # per-row degrees of freedom: t for the first row, normal for the second
    assert out.loc[0, "conf_high"] == pytest.approx(1 + stats.t(10).ppf(0.975) * 0.5)
    assert out.loc[1, "conf_high"] == pytest.approx(2 + stats.norm.ppf(0.975) * 0.25)


def test_estimates_result():
    t = estimate_frame(coef_table([1.0], [0.5], 10.0, term=["pa + 5*session:pa"]),
                       outcome="phq9", method="linear mixed model", n=270)
    est = Estimates(t, title="Contrast", notes=("note",), meta=(("df", "satterthwaite"),))
    assert isinstance(est, Result)
    assert est.summary().splitlines()[0] == "Contrast"
    assert "df: satterthwaite" in est.summary() and "note: note" in est.summary()
    assert est.to_dict()["df"] == "satterthwaite"
    assert float(est.params["pa + 5*session:pa"]) == 1.0


def _effect(est, se, method, estimand="ATT", outcome="phq9_change", **kw):
    return effect_from_estimate(est, se, df=30.0, estimand=estimand, method=method,
                                n_treated=16, n_control=22, outcome=outcome, treatment="pa",
                                **kw)


def test_compare_stacks_effects_and_contrasts():
    a = _effect(-2.0, 1.0, "nearest-neighbour matching (distance ps, 1:1)")
    b = _effect(-1.5, 0.9, "inverse probability weighting", estimand="ATE")
    c = Estimates(estimate_frame(coef_table([-3.0], [1.2], 20.0, term=["pa + 6*session:pa"]),
                                 outcome="phq9", method="linear mixed model", n=270),
                  title="contrast")
    cmp = compare([a, b, c])
    assert isinstance(cmp, Comparison)
    assert cmp.names == ("nearest-neighbour matching", "inverse probability weighting",
                         "linear mixed model")
    t = cmp.tidy()
    assert list(t.columns[:9]) == ["model", *ESTIMATE_COLUMNS[:8]]
    assert t["estimate"].tolist() == [-2.0, -1.5, -3.0]
    wide = cmp.table()
    assert wide.shape == (2, 3)  # (phq9_change, pa) and (phq9, contrast)
    assert wide.loc[("phq9_change", "pa"), "inverse probability weighting"] == "-1.5 (0.9)"
    assert wide.loc[("phq9", "pa + 6*session:pa"), "nearest-neighbour matching"] == ""
    ci = cmp.table(style="ci", digits=2)
    assert ci.iloc[0, 0].startswith("-2 [")
    text = cmp.summary()
    assert text.splitlines()[0] == "Comparison of 3 results" and "[ATE]" in text
    assert "-1.5 (0.9)" in text
    ax = cmp.plot()
    assert len(ax.get_yticklabels()) == 3
    json.dumps(cmp.to_dict())


def test_compare_names_terms_and_errors():
    a = _effect(-2.0, 1.0, "matching")
    b = _effect(-1.0, 1.0, "matching")
    assert compare([a, b]).names == ("matching #1", "matching #2")
    assert compare([a, b], names=["PSM", "PSM caliper"]).names == ("PSM", "PSM caliper")
    assert len(compare([a, b], terms=["pa"]).tidy()) == 2
    with pytest.raises(SpecificationError, match="`names`"):
        compare([a, b], names=["same", "same"])
    with pytest.raises(SpecificationError, match="`results`"):
        compare([])
    with pytest.raises(SpecificationError, match="`results`"):
        compare([pd.DataFrame()])
    with pytest.raises(SpecificationError, match="none of the results"):
        compare([a], terms=["age"])
    with pytest.raises(SpecificationError, match="`style`"):
        compare([a]).table(style="wide")


def test_forest_plot_reference_line_for_ratios():
    rr = effect_from_estimate(math.log(1.5), 0.2, log_scale=True, measure="risk ratio",
                              estimand="ATE", method="IPW", n_treated=16, n_control=22,
                              outcome="recovered", treatment="pa")
    ax = compare([rr]).plot()
    assert any(np.allclose(line.get_xdata(), 1.0) for line in ax.lines)
