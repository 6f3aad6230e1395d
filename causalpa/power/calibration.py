"""The simulator's ``effect`` and the realised standardised difference of a design.

``effect`` is the simulator's parameter (standardised PHQ-9 benefit on the simulator's
reference scale). The *realised* standardised difference in PHQ-9 change is smaller
because drop-out shortens courses and scores are bounded; :func:`realised_smd` measures
it on one large simulated cohort (both potential outcomes of every patient) and
:func:`calibrate_effect` finds the ``effect`` that gives a chosen realised Cohen's d
(``RandomisedTrial.from_smd(0.43)`` does it for a design).

Examples
--------
>>> from causalpa.power import RandomisedTrial, realised_smd
>>> round(realised_smd(RandomisedTrial(effect=0.5), n=20_000), 2)
0.46
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
from scipy import optimize

from causalpa._validation import (
    NONE,
    Instance,
    Number,
    RandomState,
    as_seed,
    check_value,
    validate_params,
)
from causalpa.errors import SpecificationError
from causalpa.simulate import CohortParams
from causalpa.simulate._core import simulate_arrays
from causalpa.simulate._params import as_params

__all__ = ["calibrate_effect", "realised_smd", "CalibrationOutcome"]

CalibrationOutcome = Literal["phq9_change", "gad7_change", "recovered"]
"""Outcomes whose realised standardised difference can be calibrated."""
_RNG = [RandomState()]
_PARAMS = [Instance(CohortParams, "a causalpa.simulate.CohortParams"), NONE]


def _smd(arr: Mapping[str, np.ndarray], outcome: str) -> float:
    y0 = np.asarray(arr[f"{outcome}_0"], dtype=float)
    y1 = np.asarray(arr[f"{outcome}_1"], dtype=float)
    ok = np.isfinite(y0) & np.isfinite(y1)
    y0, y1 = y0[ok], y1[ok]
    sd = math.sqrt((y0.var(ddof=1) + y1.var(ddof=1)) / 2)
    sign = 1.0 if outcome == "recovered" else -1.0
    return float(sign * (y1.mean() - y0.mean()) / sd) if sd > 0 else float("nan")


def _arrays(n: int, seed: Any, params: CohortParams) -> dict[str, np.ndarray]:
    return simulate_arrays(n, np.random.default_rng(seed), params.resolve(n))


@validate_params({"n": Number(low=2, integer=True), "rng": _RNG})
def realised_smd(design: Any, outcome: Literal["phq9_change", "gad7_change", "recovered"] = "phq9_change", *,
                 n: int = 100_000, rng: Any = 20231) -> float:
    """Realised Cohen's d of a design's effect: benefit / pooled SD of the potential outcomes.

    Computed from one large simulated cohort (both potential outcomes of every
    patient), so it does not depend on who chose PA. Positive = benefit
    (a larger drop in symptoms, or more recovery).

    Parameters
    ----------
    design : Design
        The design (its simulator parameters, :attr:`Design.params`).
    outcome : {"phq9_change", "gad7_change", "recovered"}
        Outcome.
    n : int
        Size of the cohort.
    rng : int, SeedSequence, Generator or None
        Randomness of the cohort (SPEC 7).

    Examples
    --------
    >>> from causalpa.power import RandomisedTrial
    >>> abs(round(realised_smd(RandomisedTrial(effect=0.0)), 3))
    0.0
    """
    from causalpa.power.harness import _DESIGN  # here: the designs import this module

    check_value("design", design, [_DESIGN])
    params = dataclasses.replace(design.params, n_therapists=None)
    return _smd(_arrays(n, as_seed(rng), params), outcome)


@functools.lru_cache(maxsize=64)
def _calibrate_cached(smd: float, params: CohortParams, outcome: str, n: int, seed: Any) -> float:
    def f(effect: float) -> float:
        arr = _arrays(n, seed, dataclasses.replace(params, effect=effect))
        return _smd(arr, outcome) - smd

    if smd == 0:
        return 0.0
    lo, hi = (0.0, 1.0) if smd > 0 else (-1.0, 0.0)
    while f(hi) < 0 if smd > 0 else f(lo) > 0:
        if smd > 0:
            hi *= 2
        else:
            lo *= 2
        if abs(lo) > 64 or hi > 64:
            raise SpecificationError(f"no simulator effect gives a realised SMD of {smd}")
    return float(optimize.brentq(f, lo, hi, xtol=1e-4))


@validate_params({"smd": Number(), "n": Number(low=2, integer=True), "rng": _RNG,
                  "params": _PARAMS})
def calibrate_effect(smd: float, outcome: Literal["phq9_change", "gad7_change", "recovered"] = "phq9_change", *,
                     n: int = 50_000, rng: Any = 20231, params: CohortParams | None = None,
                     **simulator: Any) -> float:
    """Find the simulator ``effect`` whose realised Cohen's d on ``outcome`` equals ``smd``.

    The realised standardised difference (see :func:`realised_smd`) is found
    on one large cohort with common random numbers for every trial value of
    ``effect`` (Brent's method, tolerance 1e-4 on ``effect``).

    Parameters
    ----------
    smd : float
        Target realised Cohen's d (positive = benefit).
    outcome : {"phq9_change", "gad7_change", "recovered"}
        Outcome.
    n : int
        Size of the calibration cohort.
    rng : int, SeedSequence, Generator or None
        Randomness of the calibration cohort; the same cohort is re-drawn for every
        trial value of ``effect`` (a Generator gives one seed from its stream).
    params : CohortParams, optional
        The other simulator parameters (``effect`` is ignored; ``n_therapists`` is
        left to the calibration cohort's size). Default: ``CohortParams`` with
        ``selection=0`` (randomised).
    **simulator
        :class:`~causalpa.simulate.CohortParams` fields to set (``selection``, ``icc``,
        ...).

    Returns
    -------
    float

    Examples
    --------
    >>> e = calibrate_effect(0.43, selection=0.0)
    >>> e > 0.43
    True
    """
    if params is None:
        simulator = {"selection": 0.0, **simulator}
    base = as_params(params, {k: v for k, v in simulator.items() if k != "effect"})
    changes: dict[str, Any] = {"n_therapists": None, "effect": 0.0}
    if outcome == "gad7_change":
        changes["effect_gad7"] = None  # GAD-7 follows the calibrated effect
    base = dataclasses.replace(base, **changes)
    return _calibrate_cached(float(smd), base, outcome, int(n), as_seed(rng))

