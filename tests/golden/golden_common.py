"""Shared helpers of the golden cases: the case registry, value conversion, the data.

The cases live in ``cases_<area>.py`` (one file per area, so that changes to one area's
API touch one file); ``cases.py`` collects them.
"""

from __future__ import annotations

import pathlib
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

import causalpa as cpa

REF = pathlib.Path(__file__).resolve().parents[1] / "reference"
CASES: dict[str, Callable[[], dict[str, Any]]] = {}


def case(fn: Callable[[], dict[str, Any]]) -> Callable[[], dict[str, Any]]:
    """Register a golden case (warnings are silenced: only numbers are compared)."""

    def run() -> dict[str, Any]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return fn()

    CASES[fn.__name__] = run
    return fn


def plain(value: Any) -> Any:
    """Convert numpy / pandas values into JSON-able Python values (floats kept exactly)."""
    if isinstance(value, pd.DataFrame):
        return {str(c): plain(value[c]) for c in value.columns}
    if isinstance(value, (pd.Series, pd.Index)):
        return plain(value.to_numpy())
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "fc":
            return [float(v) for v in value.astype(float).ravel()]
        if value.dtype.kind in "iub":
            return [int(v) for v in value.ravel()]
        return [plain(v) for v in value.ravel()]
    if isinstance(value, (np.floating, float)):
        return float(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if value is pd.NA:
        return None
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def effect(e: Any, prefix: str = "") -> dict[str, Any]:
    """The numbers of an Effect."""
    keys = ["estimate", "std_error", "conf_low", "conf_high", "p_value", "df", "n_treated",
            "n_control"]
    return {prefix + k: plain(getattr(e, k)) for k in keys}


def table(df: pd.DataFrame, prefix: str) -> dict[str, Any]:
    """Every numeric column of a table, as lists."""
    out = {}
    for c in df.columns:
        col = df[c]
        if pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
            out[f"{prefix}{c}"] = plain(col.to_numpy())
        else:
            out[f"{prefix}{c}"] = [str(v) for v in col]
    return out


# --------------------------------------------------------------------------- data
def lalonde() -> pd.DataFrame:
    return cpa.datasets.load_lalonde()


def nhefs() -> pd.DataFrame:
    return cpa.datasets.load_nhefs()


def pilot() -> pd.DataFrame:
    return cpa.datasets.load_pilot()


def pilot_sessions() -> pd.DataFrame:
    return cpa.datasets.load_pilot("sessions")


LALONDE_PS = "treat ~ age + educ + race + married + nodegree + re74 + re75"
NHEFS_PS = ("qsmk ~ C(sex) + C(race) + age + I(age**2) + C(education) + smokeintensity"
            " + I(smokeintensity**2) + smokeyrs + I(smokeyrs**2) + C(exercise) + C(active)"
            " + wt71 + I(wt71**2)")
PILOT_PS = "pa ~ age + phq9_first + ltc"
