"""Numerical derivatives: Richardson-extrapolated central differences as R's numDeriv.

The small-sample degrees of freedom of the mixed models need derivatives that R computes
with **numDeriv** (lmerTest differentiates the deviance and ``vcov(beta)`` in the variance
parameters with ``numDeriv::hessian`` and ``numDeriv::jacobian``). This module reproduces
numDeriv's ``method = "Richardson"``: central differences at steps ``h, h/2, h/4, ...``
(``r`` of them) with initial steps ``d |x|`` (``1e-4`` near zero), extrapolated to step 0.

* :func:`derivatives` -- value, Jacobian and Hessians of a vector function from one set of
  evaluation points (what lmerTest needs);
* :func:`jacobian` and :func:`hessian` -- the numDeriv functions of the same names;
* :func:`central_jacobian` -- plain central differences (one-sided at a lower bound, or
  forward differences throughout) with a chosen step rule; :func:`gradient` is its use as
  the cheap gradient of an optimiser.

The module is private and has no model in it, so that every model of the package (the
linear mixed model, the GLMM, the estimating equations of entropy balancing) differentiates
the same way.

Examples
--------
>>> import numpy as np
>>> f = lambda x: np.array([x[0] ** 2 * x[1], np.sin(x[1])])
>>> value, jac, hess = derivatives(f, np.array([1.0, 2.0]), n_second=1)
>>> np.round(jac, 8).tolist()
[[4.0, 1.0], [0.0, -0.41614684]]
>>> np.round(hess[0], 8).tolist()
[[4.0, 2.0], [2.0, 0.0]]
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["steps", "richardson", "derivatives", "jacobian", "hessian", "gradient",
           "central_jacobian"]

Function = Callable[[np.ndarray], Any]


def steps(x: np.ndarray, d: float) -> np.ndarray:
    """Return numDeriv's initial steps: ``d |x|``, or ``1e-4`` where ``x`` is near zero.

    Examples
    --------
    >>> steps(np.array([2.0, 0.0]), 0.1).tolist()
    [0.2, 0.0001]
    """
    zero_tol = math.sqrt(np.finfo(float).eps / 7e-7)
    return np.where(np.abs(x) < zero_tol, 1e-4, d * np.abs(x))


def richardson(values: list[np.ndarray]) -> np.ndarray:
    """Extrapolate central differences at steps ``h, h/2, h/4, ...`` to step zero.

    Examples
    --------
    The derivative of ``exp`` at 0 is 1; central differences at ``h = 0.1, 0.05, 0.025``:

    >>> h = 0.1 / 2 ** np.arange(3)
    >>> central = (np.exp(h) - np.exp(-h)) / (2 * h)
    >>> f"{central[0] - 1:.1e}", f"{float(richardson(list(central))) - 1:.1e}"
    ('1.7e-03', '3.1e-12')
    """
    a = [np.asarray(v, dtype=float) for v in values]
    for k in range(1, len(a)):
        f = 4.0**k
        a = [(f * a[j + 1] - a[j]) / (f - 1) for j in range(len(a) - 1)]
    return a[0]


def _shifted(x: np.ndarray, i: int, h: float) -> np.ndarray:
    e = np.zeros(len(x))
    e[i] = h
    return e


def derivatives(
    fun: Function, x: np.ndarray, n_second: int, r: int = 4, d: float = 0.1
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return the value, Jacobian ``(m, k)`` and Hessians ``(n_second, k, k)`` of ``fun`` at ``x``.

    ``fun`` maps a ``k``-vector to an ``m``-vector; Hessians are computed for its first
    ``n_second`` components. All derivatives are Richardson-extrapolated central
    differences that share their evaluation points (numDeriv's ``d`` and ``r``).

    Examples
    --------
    >>> f = lambda x: np.array([x @ x])
    >>> _, jac, hess = derivatives(f, np.array([1.0, -1.0]), n_second=1)
    >>> np.round(jac, 10).tolist(), np.round(hess[0], 10).tolist()
    ([[2.0, -2.0]], [[2.0, 0.0], [0.0, 2.0]])
    """
    k = len(x)
    h0 = steps(x, d)
    f0 = np.asarray(fun(x), dtype=float)
    grad = np.zeros((f0.shape[0], k))
    hess = np.zeros((n_second, k, k))
    for i in range(k):
        g_est, h_est = [], []
        for j in range(r):
            h = h0[i] / 2**j
            e = _shifted(x, i, h)
            fp, fm = np.asarray(fun(x + e)), np.asarray(fun(x - e))
            g_est.append((fp - fm) / (2 * h))
            h_est.append((fp[:n_second] - 2 * f0[:n_second] + fm[:n_second]) / h**2)
        grad[:, i] = richardson(g_est)
        hess[:, i, i] = richardson(h_est)
    if n_second:
        for i in range(k):
            for jj in range(i + 1, k):
                hess[:, i, jj] = hess[:, jj, i] = _cross(fun, x, h0, i, jj, n_second, r)
    return f0, grad, hess


def _cross(fun: Function, x: np.ndarray, h0: np.ndarray, i: int, jj: int, n_second: int,
           r: int) -> np.ndarray:
    """Mixed second derivative in coordinates ``i`` and ``jj`` (Richardson-extrapolated)."""
    ests = []
    for j in range(r):
        ei = _shifted(x, i, h0[i] / 2**j)
        ej = _shifted(x, jj, h0[jj] / 2**j)
        vals = [np.asarray(fun(x + si * ei + sj * ej))[:n_second]
                for si, sj in ((1, 1), (1, -1), (-1, 1), (-1, -1))]
        ests.append((vals[0] - vals[1] - vals[2] + vals[3]) / (4 * ei[i] * ej[jj]))
    return richardson(ests)


def jacobian(fun: Function, x: np.ndarray, r: int = 4, d: float = 1e-4) -> np.ndarray:
    """Return numDeriv's Richardson Jacobian ``(m, k)`` (its defaults ``d = 1e-4``, ``r = 4``).

    Examples
    --------
    >>> np.round(jacobian(lambda x: np.array([x[0] * x[1]]), np.array([2.0, 3.0])), 10).tolist()
    [[3.0, 2.0]]
    """
    return derivatives(fun, x, n_second=0, r=r, d=d)[1]


def hessian(fun: Callable[[np.ndarray], float], x: np.ndarray, r: int = 4,
            d: float = 0.1) -> np.ndarray:
    """Return the Richardson-extrapolated Hessian of a scalar function (numDeriv's ``hessian``).

    Examples
    --------
    >>> H = hessian(lambda x: float(x[0] ** 2 * x[1]), np.array([1.0, 2.0]))
    >>> np.round(H, 8).tolist()
    [[4.0, 2.0], [2.0, 0.0]]
    """
    return derivatives(lambda t: np.atleast_1d(fun(t)), x, n_second=1, r=r, d=d)[2][0]


def central_jacobian(fun: Function, x: np.ndarray, *, rel_step: float, floor: float,
                     lower: np.ndarray | None = None, f0: Any = None,
                     forward: bool = False) -> np.ndarray:
    """Jacobian ``(m, k)`` by plain central differences; one-sided at a lower bound.

    Coordinate ``j`` is stepped by ``h_j = rel_step * max(|x_j|, floor)``; a coordinate whose
    backward step would cross ``lower_j`` is differenced forwards from ``f0 = fun(x)``
    (evaluated if not given), and so is every coordinate with ``forward=True`` (one
    evaluation per coordinate, e.g. the Hessian from an exact gradient). ``fun`` returns a
    number or a 1-D array.

    Examples
    --------
    >>> f = lambda x: np.array([x[0] * x[1], x[1] ** 2])
    >>> np.round(central_jacobian(f, np.array([2.0, 3.0]), rel_step=1e-6, floor=1.0), 6).tolist()
    [[3.0, 2.0], [0.0, 6.0]]
    >>> np.round(central_jacobian(f, np.array([2.0, 3.0]), rel_step=1e-8, floor=1.0,
    ...                           forward=True), 6).tolist()
    [[3.0, 2.0], [0.0, 6.0]]
    """
    h = rel_step * np.maximum(np.abs(x), floor)
    cols = []
    for k in range(len(x)):
        e = np.zeros_like(x)
        e[k] = h[k]
        if forward or (lower is not None and x[k] - h[k] < lower[k]):  # one-sided
            base = np.atleast_1d(fun(x) if f0 is None else f0)
            cols.append((np.atleast_1d(fun(x + e)) - base) / h[k])
        else:
            cols.append((np.atleast_1d(fun(x + e)) - np.atleast_1d(fun(x - e))) / (2 * h[k]))
    return np.column_stack(cols)


def gradient(fun: Callable[[np.ndarray], float], x: np.ndarray, lower: np.ndarray,
             f0: float | None = None) -> np.ndarray:
    """Central-difference gradient with steps ``1e-5 max(|x|, 0.1)``; one-sided at ``lower``.

    A coordinate whose backward step would cross its lower bound is differenced forwards
    (from ``f0 = fun(x)``, evaluated if not given).

    Examples
    --------
    >>> g = gradient(lambda x: float(x @ x), np.array([0.0, 1.0]), np.array([0.0, -np.inf]))
    >>> np.round(g, 6).tolist()
    [1e-06, 2.0]
    """
    return central_jacobian(fun, x, rel_step=1e-5, floor=0.1, lower=lower, f0=f0)[0]
