"""Speed-ups must not change numbers: design-matrix cache, formula cache, block seeding."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import causalpa as cpa
from causalpa import _spec
from causalpa._spec import make_spec


def _formulaic_design(spec, data, intercept=True):
    """The uncached construction (formulaic every time)."""
    _spec._DESIGN_PLANS.clear()
    key = _spec._plan_key(spec.rhs, intercept, data)
    X, names = spec.design(data, intercept=intercept)  # builds with formulaic
    if key is not None:
        assert key in _spec._DESIGN_PLANS
    return X, names


@pytest.mark.parametrize("formula", [
    "pa ~ age + C(sex) + employed + ltc + imd_decile + phq9_first + gad7_first",
    "pa ~ C(imd_decile) + age",
    "pa ~ C(sex)",
    "pa ~ age + I(age ** 2) + C(sex)",  # not simple: always formulaic
    "pa ~ age:phq9_first + C(sex)",
])
@pytest.mark.parametrize("intercept", [True, False])
def test_cached_design_equals_formulaic(formula: str, intercept: bool) -> None:
    for seed in range(3):
        pts = cpa.simulate.cohort(120, seed=seed, sessions=False).patients
        spec = make_spec(pts, formula)
        X0, n0 = _formulaic_design(spec, pts, intercept)
        X1, n1 = spec.design(pts, intercept=intercept)  # from the cache when simple
        X2, n2 = spec.design(pts, intercept=intercept)
        assert n0 == n1 == n2
        np.testing.assert_array_equal(X0, X1)
        np.testing.assert_array_equal(X0, X2)


def test_design_cache_rederives_levels_from_each_data_set() -> None:
    df = pd.DataFrame({"pa": [0, 1, 0, 1, 0, 1], "g": list("abcabc"), "x": [1.0, 2, 3, 4, 5, 6]})
    spec = make_spec(df, "pa ~ x + C(g)")
    spec.design(df)
    sub = df[df["g"] != "a"]  # fewer levels: other columns
    X, names = spec.design(sub)
    assert names == ["Intercept", "x", "C(g)[T.c]"]
    _spec._DESIGN_PLANS.clear()
    Xf, nf = spec.design(sub)
    assert nf == names
    np.testing.assert_array_equal(X, Xf)
    # missing values still raise formulaic's error, not a silent cached matrix
    bad = df.assign(x=[1.0, np.nan, 3, 4, 5, 6])
    with pytest.raises(Exception):  # noqa: B017 - formulaic's own error type
        spec.design(bad)


def test_cached_formula_parse_keeps_messages() -> None:
    df = pd.DataFrame({"pa": [0, 1, 0, 1], "x": [1.0, 2, 3, 4]})
    for _ in range(2):
        with pytest.raises(cpa.errors.SpecificationError, match="could not parse"):
            make_spec(df, "pa ~ x +* (")
        with pytest.raises(cpa.errors.DataError, match="missing values in column 'x'"):
            make_spec(df.assign(x=[1.0, None, 3, 4]), "pa ~ x")
