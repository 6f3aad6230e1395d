"""Power of t and z tests and R's root searches, as R's ``pwr`` computes them.

The noncentral t / normal power expressions of ``pwr`` 1.3.0 and its ``uniroot``
searches (intervals, tolerance) used by :mod:`causalpa.power.analytic`; kept apart so
that the public module holds the calculations users call.

Examples
--------
>>> round(t_power(2.5, 30.0, 0.05, "two-sided"), 4)
0.677
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from scipy import stats

from causalpa.errors import SpecificationError
from causalpa.power._uniroot import R_TOL, uniroot

__all__ = ["exactly_one_none", "t_power", "z_power", "solve_size", "solve_effect", "N_LOWER"]


def exactly_one_none(**kwargs: Any) -> str:
    missing = [k for k, v in kwargs.items() if v is None]
    if len(missing) != 1:
        names = ", ".join(f"`{k}`" for k in kwargs)
        got = "none" if not missing else ", ".join(f"`{k}`" for k in missing)
        raise SpecificationError(
            f"set exactly one of {names} to None (it is solved for); None now: {got}"
        )
    return missing[0]


def t_power(ncp: float, df: float, alpha: float, alternative: str) -> float:
    """Power of a t test with noncentrality ``ncp`` (pwr's formulas)."""
    if alternative == "two-sided":
        q = stats.t.isf(alpha / 2, df)
        return _tail(q, df, ncp, upper=True) + _tail(-q, df, ncp, upper=False)
    if alternative == "greater":
        return _tail(stats.t.isf(alpha, df), df, ncp, upper=True)
    return _tail(stats.t.ppf(alpha, df), df, ncp, upper=False)


def _tail(q: float, df: float, ncp: float, *, upper: bool) -> float:
    """One tail of the noncentral t; a tail far beyond ``q`` that underflows is 0.

    scipy's ``nct`` returns NaN (instead of a value below 1e-300) for the tail
    opposite a large noncentrality; that tail is then numerically zero.
    """
    p = float(stats.nct.sf(q, df, ncp) if upper else stats.nct.cdf(q, df, ncp))
    if math.isnan(p):
        far = (ncp - q) < -8 if upper else (ncp - q) > 8
        if far:
            return 0.0
        raise FloatingPointError(f"noncentral t tail is NaN (q={q}, df={df}, ncp={ncp})")
    return p


def z_power(ncp: float, alpha: float, alternative: str) -> float:
    """Power of a z test with mean shift ``ncp`` (pwr.2p.test's formulas)."""
    if alternative == "two-sided":
        return float(stats.norm.sf(stats.norm.isf(alpha / 2) - ncp)
                     + stats.norm.cdf(stats.norm.ppf(alpha / 2) - ncp))
    if alternative == "greater":
        return float(stats.norm.sf(stats.norm.isf(alpha) - ncp))
    return float(stats.norm.cdf(stats.norm.ppf(alpha) - ncp))


# pwr 1.3.0's uniroot intervals: sample sizes, then effects by alternative
N_UPPER = 1e9
N_LOWER = 2 + 1e-10
_EFFECT_INTERVALS: dict[str, dict[str, tuple[float, float]]] = {
    "d": {"two-sided": (1e-7, 10.0), "less": (-10.0, 5.0), "greater": (-5.0, 10.0)},
    "h": {"two-sided": (1e-10, 10.0), "less": (-10.0, 5.0), "greater": (-5.0, 10.0)},
}
_EFFECT_MAX = 1e3


def _root(f: Callable[[float], float], lower: float, upper: float, f_lower: float,
          f_upper: float, exact: bool) -> float:
    """R's ``uniroot`` on ``[lower, upper]``: pwr's tolerance, or machine precision."""
    res = uniroot(f, lower, upper, f_lower=f_lower, f_upper=f_upper,
                  tol=0.0 if exact else R_TOL, maxiter=1000)
    return float(res.root)


def solve_size(
    power_of: Callable[[float], float], target: float, lower: float, what: str, exact: bool
) -> float:
    """Solve ``power_of(n) = target`` for a group size as pwr does.

    pwr calls ``uniroot(function(n) power(n) - target, c(2 + 1e-10, 1e+09))``;
    so does this (same end points, same tolerance, R's iteration path). When the
    target is already reached at the lower end (pwr stops with an error), the
    lower end is returned.
    """

    def f(x: float) -> float:
        return power_of(x) - target

    f_lower = f(lower)
    if f_lower >= 0:
        return lower
    f_upper = f(N_UPPER)
    if not f_upper >= 0:
        raise SpecificationError(
            f"the requested power cannot be reached: {what} would exceed {N_UPPER:.0e}"
        )
    return _root(f, lower, N_UPPER, f_lower, f_upper, exact)


def solve_effect(
    power_of: Callable[[float], float],
    target: float,
    alpha: float,
    alternative: str,
    what: str,
    exact: bool,
) -> float:
    """Solve ``power_of(effect) = target`` on pwr's interval for ``what`` ("d" or "h").

    pwr's intervals are ``(1e-7, 10)`` for d and ``(1e-10, 10)`` for h (two-sided),
    ``(-10, 5)`` (less) and ``(-5, 10)`` (greater). Where the target is not reached
    inside pwr's interval (pwr stops with an error), the far end is doubled until
    it is (up to 1000), and the root is found on the extended interval.
    """

    def f(x: float) -> float:
        return power_of(x) - target

    lower, upper = _EFFECT_INTERVALS[what][alternative]
    f_lower = f(lower)
    if target <= alpha or (alternative == "two-sided" and f_lower >= 0):
        raise SpecificationError(
            f"the requested power is reached with {what} = 0 (power <= alpha)"
        )
    f_upper = f(upper)
    if alternative == "less":
        while not f_lower > 0:
            lower *= 2
            if lower < -_EFFECT_MAX:
                raise SpecificationError(f"the requested power cannot be reached for any {what}")
            f_lower = f(lower)
    else:
        while not f_upper > 0:
            upper *= 2
            if upper > _EFFECT_MAX:
                raise SpecificationError(f"the requested power cannot be reached for any {what}")
            f_upper = f(upper)
    return _root(f, lower, upper, f_lower, f_upper, exact)
