"""The Effect result: one table, many views."""

import math

import numpy as np
import pytest
from scipy import stats

from causalpa.results import Effect, effect_from_estimate


def make(**kw):
    base = dict(estimand="ATT", method="nearest matching", n_treated=16, n_control=22,
                outcome="phq9_change")
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


def test_views_read_from_tidy():
    e = make(df=36, notes=("small sample: t reference with 36 df",))
    row = e.tidy().iloc[0]
    d = e.to_dict()["table"][0]
    for k in ("estimate", "std_error", "conf_low", "conf_high", "p_value", "df", "n_treated"):
        assert d[k] == pytest.approx(row[k])
    assert "phq9_change" in e.summary() and "-2" in e.summary()
    assert "small sample" in repr(e)
    html = e._repr_html_()
    assert "<table" in html and "phq9_change" in html
    assert list(e.tidy().columns)[:3] == ["term", "estimate", "std_error"]


def test_effect_is_frozen():
    e = make()
    with pytest.raises(AttributeError):
        e.estimate = 0.0  # type: ignore[misc]


def test_zero_se_gives_nan_p():
    e = effect_from_estimate(1.0, 0.0, estimand="ATE", method="x", n_treated=1, n_control=1)
    assert np.isnan(e.p_value)


def test_direct_construction():
    e = Effect(1.0, 0.5, 0.0, 2.0, 0.05, 30.0, "ATE", "IPW", 10, 12)
    assert e.tidy().shape == (1, 17)
