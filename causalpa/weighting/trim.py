"""Trimming (winsorising) large weights, as WeightIt's ``trim()``.

``trim=at`` with ``0.5 < at < 1`` sets every weight above the ``at`` quantile (R's
quantile type 3) to that quantile (``at < 0.5`` is read as ``1 - at``); a whole number
``at >= 1`` trims the ``at`` largest weights to the next largest; ``lower=True`` also
trims the bottom; ``drop=True`` sets trimmed weights to 0 instead. Arms whose weights
are all equal (the focal arm for the ATT/ATC) are not trimmed.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from causalpa.errors import ExtremeWeightsWarning, SpecificationError

__all__ = ["trim_weights", "Trim"]


@dataclass(frozen=True)
class Trim:
    """The trimming options of a weighting (``trim``, ``trim_lower``, ``trim_drop``)."""

    at: float
    lower: bool = False
    drop: bool = False

    def apply(self, w: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Trim ``w`` (see :func:`trim_weights`)."""
        return trim_weights(w, t, self.at, lower=self.lower, drop=self.drop)


def _eligible(w: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Units whose arm has weights that differ (an arm of equal weights is not trimmed)."""
    eligible = np.ones(len(w), dtype=bool)
    for arm in (0, 1):
        m = t == arm
        if m.any() and np.ptp(w[m]) == 0:
            eligible &= ~m
    return eligible


def _bounds(we: np.ndarray, at: float, lower: bool) -> tuple[float, float]:
    """Return the upper and lower trimming bounds among the eligible weights ``we``."""
    if at < 1:
        at = max(at, 1 - at)
        hi = float(np.quantile(we, at, method="closest_observation"))
        lo = float(np.quantile(we, 1 - at, method="closest_observation")) if lower else -np.inf
        return hi, lo
    k = int(at)
    m = len(we)
    if k >= m:
        raise SpecificationError(
            f"`trim` = {at:g} must be less than the number of trimmable weights ({m})"
        )
    k = min(k, m - k)
    srt = np.sort(we)
    hi = float(srt[m - k - 1])
    lo = float(srt[k]) if lower else -np.inf
    return hi, lo


def trim_weights(
    w: np.ndarray, t: np.ndarray, at: float, *, lower: bool = False, drop: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Trim (winsorise) large weights as WeightIt's ``trim()``.

    Parameters
    ----------
    w : ndarray
        Weights.
    t : ndarray
        0/1 treatment; arms whose weights are all equal are left alone.
    at : float
        Quantile in (0, 1) (``at < 0.5`` means ``1 - at``), or a count ``>= 1`` of
        largest weights to trim.
    lower : bool
        Also trim the lowest weights symmetrically.
    drop : bool
        Set trimmed weights to 0 instead of the boundary value.

    Returns
    -------
    (ndarray, ndarray)
        Trimmed weights (a new array) and a boolean mask of the units changed.

    Warns
    -----
    ExtremeWeightsWarning
        Every arm's weights are all equal: nothing was trimmed.

    Examples
    --------
    >>> w = np.array([1.0, 2, 3, 4, 50])
    >>> trim_weights(w, np.zeros(5, int), 0.8)[0].tolist()
    [1.0, 2.0, 3.0, 4.0, 4.0]
    """
    w = np.asarray(w, dtype=float).copy()
    t = np.asarray(t)
    eligible = _eligible(w, t)
    if not eligible.any():
        warnings.warn(
            "weights are all the same in each treatment arm and were not trimmed",
            ExtremeWeightsWarning,
            stacklevel=3,
        )
        return w, np.zeros(len(w), dtype=bool)
    hi, lo = _bounds(w[eligible], at, lower)
    changed = eligible & ((w > hi) | (w < lo))
    if drop:
        w[changed] = 0.0
    else:
        w[eligible & (w > hi)] = hi
        if lower:
            w[eligible & (w < lo)] = lo
    return w, changed
