"""Closed-form tests on stacked replicates (the batched path of the power harness).

Every kernel takes arrays of shape ``(replicates, n)`` and returns one estimate,
standard error, interval and p-value per replicate, computed from per-replicate sums
and cross-products (no Python loop over replicates). The general path calls the same
kernels with one replicate, so both paths give identical numbers on the same data.

Intervals and p-values come from :func:`t_summary`, which calls
:func:`causalpa.inference.t_tests`, the arithmetic behind
:func:`causalpa.inference.coef_table`, so a kernel's interval and p-value are the
package's for the same estimate, standard error and df. As in ``coef_table``, a standard
error that is 0 or not finite gives no statistic and no p-value (the replicate is then
counted as failed).

Examples
--------
>>> import numpy as np
>>> y = np.array([[1.0, 2.0, 3.0, 5.0, 6.0, 7.0]])
>>> arm = np.array([[0, 0, 0, 1, 1, 1]])
>>> out = ttest_kernel(y, arm)
>>> float(out["estimate"][0]), round(float(out["p_value"][0]), 4)
(4.0, 0.008)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from causalpa.errors import SpecificationError
from causalpa.inference import t_tests

__all__ = ["t_summary", "ttest_kernel", "ancova_kernel", "riskdiff_kernel",
           "cluster_means_kernel"]


def t_summary(est: np.ndarray, se: np.ndarray, df: np.ndarray | float,
              conf_level: float) -> dict[str, np.ndarray]:
    """Statistics, p-values and intervals of many estimates (vectorised ``coef_table``).

    Parameters
    ----------
    est, se : ndarray
        Estimates and standard errors (same shape).
    df : ndarray or float
        Degrees of freedom of the t reference (``inf``: normal), broadcast to ``est``.
    conf_level : float
        Confidence level.

    Returns
    -------
    dict of ndarray
        ``estimate``, ``std_error``, ``conf_low``, ``conf_high``, ``p_value``, ``df``.

    Examples
    --------
    >>> from causalpa.inference import coef_table
    >>> out = t_summary(np.array([1.0, 2.0]), np.array([0.5, 0.0]), 10.0, 0.95)
    >>> row = coef_table(1.0, 0.5, 10.0).iloc[0]
    >>> bool(out["p_value"][0] == row["p_value"] and out["conf_low"][0] == row["conf_low"])
    True
    >>> bool(np.isnan(out["p_value"][1]))  # no standard error, no test
    True
    """
    est = np.asarray(est, dtype=float)
    se = np.asarray(se, dtype=float)
    out = t_tests(est, se, df, conf_level)
    return {"estimate": est, "std_error": se, "conf_low": out["conf_low"],
            "conf_high": out["conf_high"], "p_value": out["p_value"], "df": out["df"]}


def _masked(y: np.ndarray, *others: np.ndarray) -> tuple[Any, ...]:
    """Zero out missing outcomes (and the matching entries of ``others``).

    Returns ``(w, n, y0, *others0)``: ``w`` is the float 0/1 observed mask or
    None when nothing is missing (then no copies are made), ``n`` the number
    observed per replicate.
    """
    y = np.asarray(y, dtype=float)
    others = tuple(np.asarray(o, dtype=float) for o in others)
    obs = np.isfinite(y)
    for o in others:
        obs &= np.isfinite(o)
    if obs.all():
        return (None, np.full(y.shape[0], float(y.shape[1])), y, *others)
    w = obs.astype(float)
    return (w, w.sum(axis=1), np.where(obs, y, 0.0), *(np.where(obs, o, 0.0) for o in others))


def _rowdot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.einsum("ij,ij->i", a, b)


def ttest_kernel(y: np.ndarray, arm: np.ndarray, conf_level: float = 0.95) -> dict[str, np.ndarray]:
    """Student's two-sample t test (pooled variance) on stacked replicates.

    Parameters
    ----------
    y : ndarray, shape (replicates, n)
        Outcome; missing values (NaN) are left out.
    arm : ndarray, shape (replicates, n)
        0/1 treatment indicator.
    conf_level : float
        Level of the confidence interval.

    Returns
    -------
    dict of ndarray
        ``estimate`` (mean treated - mean control), ``std_error``, ``conf_low``,
        ``conf_high``, ``p_value``, ``df``; one value per replicate.
    """
    _, n, y0, a = _masked(y, arm)
    n1 = a.sum(axis=1)
    n0 = n - n1
    sy = y0.sum(axis=1)
    s1 = _rowdot(a, y0)
    s0 = sy - s1
    yy = _rowdot(y0, y0)
    yy1 = _rowdot(a, y0 * y0)
    with np.errstate(divide="ignore", invalid="ignore"):
        m1 = s1 / n1
        m0 = s0 / n0
        ss = (yy1 - s1 * m1) + ((yy - yy1) - s0 * m0)
        df = n - 2
        s2 = np.maximum(ss, 0.0) / df
        se = np.sqrt(s2 * (1 / n1 + 1 / n0))
    return t_summary(m1 - m0, se, df, conf_level)


def ancova_kernel(
    y: np.ndarray, arm: np.ndarray, x: np.ndarray, conf_level: float = 0.95
) -> dict[str, np.ndarray]:
    """OLS ``y ~ 1 + arm + x`` on stacked replicates, closed form; inference on ``arm``.

    The intercept is absorbed by centring the per-replicate cross-products,
    leaving a 2 x 2 normal-equation system solved explicitly (no loops, no
    ``lstsq``). Residual df is ``n - 3``. Missing outcomes (NaN) are left out.

    Returns
    -------
    dict of ndarray
        As :func:`ttest_kernel`; ``estimate`` is the adjusted arm difference.
    """
    w, n, y0, a, x0 = _masked(y, arm, x)
    # centre x by its per-replicate mean first (keeps the cross-products well scaled)
    with np.errstate(divide="ignore", invalid="ignore"):
        xbar = x0.sum(axis=1) / n
        ybar = y0.sum(axis=1) / n
    xc = x0 - xbar[:, None]
    yc = y0 - ybar[:, None]
    if w is not None:  # missing values: zero them again after centring
        xc *= w
        yc *= w
    sa = a.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        saa = _rowdot(a, a) - sa * sa / n
        sax = _rowdot(a, xc)
        say = _rowdot(a, yc)
        sxx = _rowdot(xc, xc)
        sxy = _rowdot(xc, yc)
        syy = _rowdot(yc, yc)
        det = saa * sxx - sax**2
        b_a = (sxx * say - sax * sxy) / det
        b_x = (saa * sxy - sax * say) / det
        rss = np.maximum(syy - b_a * say - b_x * sxy, 0.0)
        df = n - 3
        s2 = rss / df
        se = np.sqrt(s2 * sxx / det)
    return t_summary(b_a, se, df, conf_level)


def riskdiff_kernel(y: np.ndarray, arm: np.ndarray, conf_level: float = 0.95) -> dict[str, np.ndarray]:
    """Risk difference of a 0/1 outcome on stacked replicates.

    The p-value is the pooled two-proportion z test (equal to Pearson's
    chi-squared test without continuity correction, R's
    ``prop.test(correct = FALSE)``); the interval is the Wald interval with the
    unpooled SE. When both arms have the same all-0 or all-1 outcome the test has
    no information and ``p_value`` is 1 (no rejection, not a failure).

    Returns
    -------
    dict of ndarray
        As :func:`ttest_kernel` (``df`` is infinite).
    """
    _, n, y0, a = _masked(y, arm)
    n1 = a.sum(axis=1)
    n0 = n - n1
    s1 = _rowdot(a, y0)
    with np.errstate(divide="ignore", invalid="ignore"):
        p1 = s1 / n1
        p0 = (y0.sum(axis=1) - s1) / n0
        rd = p1 - p0
        pp = (p1 * n1 + p0 * n0) / (n1 + n0)
        se_pool = np.sqrt(pp * (1 - pp) * (1 / n1 + 1 / n0))
        se = np.sqrt(p1 * (1 - p1) / n1 + p0 * (1 - p0) / n0)
    out = t_summary(rd, se, np.inf, conf_level)  # the Wald interval
    test = t_summary(rd, se_pool, np.inf, conf_level)["p_value"]  # the pooled z test
    out["p_value"] = np.where(np.isfinite(pp), np.where(se_pool > 0, test, 1.0), np.nan)
    return out


def cluster_means_kernel(y: np.ndarray, cluster: np.ndarray, arm: np.ndarray,
                         conf_level: float = 0.95) -> dict[str, np.ndarray]:
    """T test on cluster (therapist) means on stacked replicates (means by ``bincount``).

    Every cluster must be wholly in one arm (a ``SpecificationError`` otherwise: the
    design does not randomise clusters); missing outcomes are left out of the means.
    """
    y = np.asarray(y, dtype=float)
    lab = np.asarray(cluster).astype(np.int64)
    arm = np.asarray(arm, dtype=float)
    r = y.shape[0]
    codes = lab - lab.min(axis=1, keepdims=True)
    k = int(codes.max()) + 1
    idx = (codes + k * np.arange(r)[:, None]).ravel()
    obs = np.isfinite(y).ravel()
    count = np.bincount(idx[obs], minlength=r * k).reshape(r, k)
    total = np.bincount(idx[obs], weights=y.ravel()[obs], minlength=r * k).reshape(r, k)
    arm_total = np.bincount(idx[obs], weights=arm.ravel()[obs], minlength=r * k).reshape(r, k)
    with np.errstate(divide="ignore", invalid="ignore"):
        means = np.where(count > 0, total / count, np.nan)
        arm_mean = np.where(count > 0, arm_total / count, np.nan)
    mixed = np.isfinite(arm_mean) & (arm_mean != 0) & (arm_mean != 1)
    if mixed.any():
        raise SpecificationError("the cluster-level t test needs every cluster wholly in one arm "
                                 "(randomise by therapist)")
    return ttest_kernel(means, arm_mean, conf_level)
