"""A line-by-line port of R's ``uniroot`` root finder (Brent's ``zeroin``).

R's ``pwr`` package solves for a sample size or an effect size with
``stats::uniroot`` at its default tolerance, so its answers carry the
footprint of that algorithm's iteration path (they are accurate only to about
``1.2e-4``). To *reproduce* ``pwr``'s printed answers, rather than the exact
roots they approximate, :func:`uniroot` follows R's code step by step:

- the R-level wrapper (``src/library/stats/R/nlm.R``, R 4.2): ``f(lower)`` and
  ``f(upper)`` are evaluated first, an ``NA`` at either end or two ends of the
  same sign is an error (``extendInt = "no"``, the default ``pwr`` uses), and
  the default tolerance is ``.Machine$double.eps^0.25``;
- the C driver ``zeroin2`` (``src/library/stats/src/optimize.c``): a
  non-finite function value is replaced by ``-DBL_MAX`` (for ``-Inf``) or
  ``DBL_MAX`` (anything else), with R's warning (here a ``CausalpaWarning``);
- ``R_zeroin2`` (``src/library/stats/src/zeroin.c``): Brent's method as in
  netlib's ``zeroin.c`` (Forsythe, Malcolm & Moler 1977, *Computer Methods for
  Mathematical Computations*, section 7.2; Brent 1973, *Algorithms for
  Minimization without Derivatives*, chapter 4): the best point ``b``, the
  contrapoint ``c`` bracketing the root and the previous iterate ``a``;
  ``tol_act = 2 * DBL_EPSILON * |b| + tol / 2``; a secant step when only two
  distinct points are known, inverse quadratic interpolation otherwise,
  accepted only if it falls within 3/4 of the way to ``c`` and is smaller than
  half the step before last; bisection otherwise; steps of at least
  ``tol_act``; at most ``maxiter`` function evaluations after the end points.

Floating-point expressions keep R's order of operations so that, given the same
function values, every iterate is bit-identical to R's.
"""

from __future__ import annotations

import math
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass

from causalpa.errors import CausalpaWarning, ConvergenceWarning

__all__ = ["R_TOL", "UnirootResult", "uniroot"]

_EPSILON = sys.float_info.epsilon  # DBL_EPSILON
_DBL_MAX = sys.float_info.max
R_TOL: float = _EPSILON**0.25
"""R's default ``uniroot`` tolerance, ``.Machine$double.eps^0.25`` (= 2**-13)."""


@dataclass(frozen=True)
class UnirootResult:
    """Outcome of :func:`uniroot` (the fields of R's ``uniroot`` value).

    Attributes
    ----------
    root : float
        The root estimate (R's ``$root``).
    iterations : int
        Function evaluations after the two end points (R's ``$iter``); -1 if
        ``maxiter`` was reached.
    estim_prec : float
        Width of the final bracket ``|c - b|`` (R's ``$estim.prec``); 0 if an
        end point is an exact root.
    converged : bool
        False if ``maxiter`` was reached before the tolerance.
    """

    root: float
    iterations: int
    estim_prec: float
    converged: bool


def _r_value(f: Callable[[float], float], x: float) -> float:
    """``fcn2`` of R's optimize.c: non-finite values become -/+ DBL_MAX."""
    v = float(f(x))
    if math.isfinite(v):
        return v
    if v == -math.inf:
        warnings.warn("-Inf replaced by maximally negative value (as R's uniroot does); "
                      "check the function for overflow", CausalpaWarning, stacklevel=3)
        return -_DBL_MAX
    warnings.warn("NA/Inf replaced by maximum positive value (as R's uniroot does); "
                  "check the function for overflow or NaN", CausalpaWarning, stacklevel=3)
    return _DBL_MAX


def zeroin2(
    f: Callable[[float], float],
    ax: float,
    bx: float,
    fa: float,
    fb: float,
    tol: float,
    maxit: int,
) -> UnirootResult:
    """Port of ``R_zeroin2`` (Brent's zeroin with known end-point values).

    Parameters
    ----------
    f : callable
        Function whose zero is sought.
    ax, bx : float
        End points of the bracket.
    fa, fb : float
        ``f(ax)`` and ``f(bx)`` (of opposite signs, or one of them zero).
    tol : float
        Absolute tolerance (0 asks for the root to machine precision).
    maxit : int
        Maximum number of function evaluations.

    Returns
    -------
    UnirootResult
    """
    a = ax
    b = bx
    c = a
    fc = fa
    maxit_left = maxit + 1
    if fa == 0.0:
        return UnirootResult(a, 0, 0.0, True)
    if fb == 0.0:
        return UnirootResult(b, 0, 0.0, True)
    while maxit_left:
        maxit_left -= 1
        prev_step = b - a
        if abs(fc) < abs(fb):
            # swap so that b is the best approximation
            a = b
            b = c
            c = a
            fa = fb
            fb = fc
            fc = fa
        tol_act = 2 * _EPSILON * abs(b) + tol / 2
        new_step = (c - b) / 2
        if abs(new_step) <= tol_act or fb == 0.0:
            return UnirootResult(b, maxit + 1 - maxit_left - 1, abs(c - b), True)
        # interpolation if the previous step was large enough and in the right direction
        if abs(prev_step) >= tol_act and abs(fa) > abs(fb):
            cb = c - b
            if a == c:
                # only two distinct points: secant (linear interpolation)
                t1 = fb / fa
                p = cb * t1
                q = 1.0 - t1
            else:
                # inverse quadratic interpolation
                q = fa / fc
                t1 = fb / fc
                t2 = fb / fa
                p = t2 * (cb * q * (q - t1) - (b - a) * (t1 - 1.0))
                q = (q - 1.0) * (t1 - 1.0) * (t2 - 1.0)
            if p > 0.0:
                q = -q
            else:
                p = -p
            if p < (0.75 * cb * q - abs(tol_act * q) / 2) and p < abs(prev_step * q / 2):
                new_step = p / q
        if abs(new_step) < tol_act:
            new_step = tol_act if new_step > 0.0 else -tol_act
        a = b
        fa = fb
        b += new_step
        fb = _r_value(f, b)
        if (fb > 0 and fc > 0) or (fb < 0 and fc < 0):
            # keep c on the other side of the root from b
            c = a
            fc = fa
    return UnirootResult(b, -1, abs(c - b), False)


def uniroot(
    f: Callable[[float], float],
    lower: float,
    upper: float,
    *,
    f_lower: float | None = None,
    f_upper: float | None = None,
    tol: float = R_TOL,
    maxiter: int = 1000,
) -> UnirootResult:
    """Find a root of ``f`` in ``[lower, upper]`` exactly as R's ``uniroot`` does.

    Parameters
    ----------
    f : callable
        Function of one float returning a float.
    lower, upper : float
        Bracket (``lower < upper``); ``f`` must not have the same sign at both.
    f_lower, f_upper : float, optional
        ``f(lower)`` and ``f(upper)`` if already known (evaluated otherwise).
    tol : float
        Absolute convergence tolerance; R's default ``.Machine$double.eps^0.25``.
        0 asks for the root to machine precision.
    maxiter : int
        Maximum number of iterations (R's default 1000).

    Returns
    -------
    UnirootResult
        ``root`` as R's ``uniroot(f, c(lower, upper), tol = tol)$root``.

    Raises
    ------
    ValueError
        If ``lower >= upper``, ``f`` is NaN at an end point, or the end-point
        values have the same sign (R's errors, same wording).

    Examples
    --------
    >>> r = uniroot(lambda x: x**2 - 2, 0.0, 2.0)
    >>> round(r.root, 4), r.iterations
    (1.4142, 6)
    >>> abs(uniroot(lambda x: x**2 - 2, 0.0, 2.0, tol=0.0).root - 2**0.5) < 1e-15
    True
    """
    lower = float(lower)
    upper = float(upper)
    if not lower < upper:
        raise ValueError("lower < upper  is not fulfilled")
    fl = float(f(lower)) if f_lower is None else float(f_lower)
    fu = float(f(upper)) if f_upper is None else float(f_upper)
    if math.isnan(fl):
        raise ValueError("f.lower = f(lower) is NA")
    if math.isnan(fu):
        raise ValueError("f.upper = f(upper) is NA")
    sign_l = (fl > 0) - (fl < 0)
    sign_u = (fu > 0) - (fu < 0)
    if sign_l * sign_u > 0:
        raise ValueError("f() values at end points not of opposite sign")
    if maxiter <= 0:
        raise ValueError("'maxiter' must be positive")
    res = zeroin2(f, lower, upper, fl, fu, float(tol), int(maxiter))
    if not res.converged:
        warnings.warn(f"_NOT_ converged in {maxiter} iterations; increase `maxiter` or `tol`",
                      ConvergenceWarning, stacklevel=2)
    return res
