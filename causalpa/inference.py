"""Sandwich, cluster, bootstrap and permutation machinery shared by every estimator.

Everything here works on arrays. The conventions follow R's **sandwich**
package so that numbers can be checked against ``vcovHC`` / ``vcovCL``:

* an estimating-function matrix ``U`` (one row per unit) and a *bread*
  ``B = (X*' X*)^{-1}`` are formed from "working" arrays ``X* = sqrt(v) X`` and
  ``e*`` such that ``U_i = X*_i e*_i`` (for weighted least squares
  ``v = w`` and ``e* = sqrt(w) (y - X b)``; for a logistic GLM
  ``v = w mu (1 - mu)`` and ``e* = sqrt(w) (y - mu) / sqrt(mu (1 - mu))``);
* ``HC0 = B (U'U) B``; ``HC1`` multiplies by ``n / (n - k)``; ``HC2`` and ``HC3``
  divide each ``e*_i`` by ``sqrt(1 - h_i)`` and ``1 - h_i`` (``h`` the leverages
  of the working design), exactly as ``sandwich::vcovHC``;
* ``vcovCL(fit, cluster = ~g)`` (type ``"HC1"``, ``cadjust = TRUE``):
  ``G / (G - 1) * (n - 1) / (n - k) * B (sum_g U_g U_g') B``; type ``"HC0"`` keeps
  only ``G / (G - 1)``;
* ``"CR2"`` is the Bell-McCaffrey bias-reduced cluster estimator
  (``clubSandwich::vcovCR(type = "CR2")``): unweighted,
  ``B (sum_g X_g' A_g e_g e_g' A_g X_g) B`` with ``A_g = (I - H_gg)^{-1/2}``; for
  weighted linear models pass ``case_weights`` to get clubSandwich's form for
  weights that are not inverse variances (working covariance ``I``).

Examples
--------
>>> import numpy as np
>>> from causalpa.inference import wls, sandwich_vcov
>>> rng = np.random.default_rng(0)
>>> X = np.column_stack([np.ones(40), rng.integers(0, 2, 40)])
>>> y = X @ [1.0, 2.0] + rng.normal(size=40)
>>> fit = wls(y, X)
>>> V = sandwich_vcov(fit.xs, fit.es, type="HC3")
>>> V.shape
(2, 2)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import stats

from causalpa._spec import check_option
from causalpa.errors import DataError, SpecificationError

__all__ = [
    "Fit",
    "wls",
    "logistic_glm",
    "sandwich_vcov",
    "cluster_df",
    "cluster_bootstrap",
    "permutation_test",
    "HC_TYPES",
    "CLUSTER_TYPES",
]

HCType = Literal["HC0", "HC1", "HC2", "HC3"]
ClusterType = Literal["HC0", "HC1", "CR2"]
HC_TYPES: tuple[str, ...] = ("HC0", "HC1", "HC2", "HC3")
CLUSTER_TYPES: tuple[str, ...] = ("HC0", "HC1", "CR2")


@dataclass(frozen=True)
class Fit:
    """A fitted (weighted) linear or logistic model in working form.

    Attributes
    ----------
    coef : ndarray
        Coefficients.
    xs : ndarray
        Working design ``sqrt(v) X`` (n x k).
    es : ndarray
        Working residuals with ``xs[i] * es[i]`` the estimating function of unit ``i``.
    fitted : ndarray
        Fitted values (means) on the response scale.
    rank : int
        Rank of the design (``k`` in the small-sample factors).

    Examples
    --------
    >>> import numpy as np
    >>> from causalpa.inference import wls
    >>> fit = wls(np.array([1.0, 2, 3, 5]), np.column_stack([np.ones(4), [0, 0, 1, 1]]))
    >>> fit.coef.round(3).tolist(), fit.rank, fit.xs.shape
    ([1.5, 2.5], 2, (4, 2))
    >>> fit.fitted.round(3).tolist(), fit.es.round(3).tolist()
    ([1.5, 1.5, 4.0, 4.0], [-0.5, 0.5, -1.0, 1.0])
    """

    coef: np.ndarray
    xs: np.ndarray
    es: np.ndarray
    fitted: np.ndarray
    rank: int


def _weights(w: np.ndarray | None, n: int) -> np.ndarray:
    return np.ones(n) if w is None else np.asarray(w, dtype=float)


def wls(y: np.ndarray, X: np.ndarray, w: np.ndarray | None = None) -> Fit:
    """Weighted least squares (as R's ``lm(weights = w)``), returned in working form.

    Parameters
    ----------
    y : ndarray
        Outcome (n).
    X : ndarray
        Design matrix (n x k), including the intercept column.
    w : ndarray, optional
        Non-negative case weights (default all 1).

    Returns
    -------
    Fit

    Examples
    --------
    >>> import numpy as np
    >>> fit = wls(np.array([1.0, 2, 3, 5]), np.column_stack([np.ones(4), [0, 0, 1, 1]]))
    >>> fit.coef.round(3).tolist()
    [1.5, 2.5]
    """
    y = np.asarray(y, dtype=float)
    X = np.asarray(X, dtype=float)
    w = _weights(w, len(y))
    sw = np.sqrt(w)
    xs = X * sw[:, None]
    coef, _, rank, _ = np.linalg.lstsq(xs, y * sw, rcond=None)
    fitted = X @ coef
    return Fit(coef=coef, xs=xs, es=sw * (y - fitted), fitted=fitted, rank=int(rank))


def logistic_glm(
    y: np.ndarray, X: np.ndarray, w: np.ndarray | None = None, *, tol: float = 1e-8,
    max_iter: int = 25,
) -> Fit:
    """Weighted logistic regression by IRLS (as ``glm(family = quasibinomial, weights = w)``).

    The point estimates equal R's (the IRLS is :func:`causalpa._glm.glm_logit`, a
    step-by-step copy of ``glm.fit``; ``tol`` and ``max_iter`` are ``glm.control``'s
    ``epsilon`` and ``maxit``); ``quasibinomial`` only changes the model-based
    dispersion, which the sandwich estimators do not use.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.column_stack([np.ones(6), [0, 0, 0, 1, 1, 1]])
    >>> fit = logistic_glm(np.array([0, 0, 1, 1, 1, 0.0]), X)
    >>> fit.fitted.round(3).tolist()
    [0.333, 0.333, 0.333, 0.667, 0.667, 0.667]
    """
    from causalpa._glm import glm_logit

    y = np.asarray(y, dtype=float)
    X = np.asarray(X, dtype=float)
    w = _weights(w, len(y))
    fit = glm_logit(y, X, w, epsilon=tol, maxit=max_iter)
    beta, eta, rank = fit.coef, fit.eta, fit.rank
    mu = 1.0 / (1.0 + np.exp(-eta))
    v = np.clip(mu * (1 - mu), 1e-12, None)
    xs = X * np.sqrt(w * v)[:, None]
    es = np.sqrt(w) * (y - mu) / np.sqrt(v)
    return Fit(coef=beta, xs=xs, es=es, fitted=mu, rank=int(rank))


def _inv_sqrt_psd(M: np.ndarray) -> np.ndarray:
    vals, vecs = np.linalg.eigh((M + M.T) / 2)
    inv = np.where(vals > 1e-12, 1.0 / np.sqrt(np.clip(vals, 1e-12, None)), 0.0)
    return (vecs * inv) @ vecs.T


def sandwich_vcov(
    xs: np.ndarray,
    es: np.ndarray,
    *,
    cluster: np.ndarray | None = None,
    type: str = "HC1",
    rank: int | None = None,
    case_weights: np.ndarray | None = None,
) -> np.ndarray:
    """Heteroskedasticity- or cluster-robust covariance matrix (R ``sandwich`` conventions).

    Parameters
    ----------
    xs, es : ndarray
        Working design and residuals (see :class:`Fit`); ``xs[i] * es[i]`` is
        unit ``i``'s estimating function.
    cluster : array-like, optional
        Cluster labels (e.g. matched subclasses). ``None`` gives ``vcovHC``.
    type : str
        Without clusters: "HC0", "HC1", "HC2" or "HC3" (``vcovHC(type=)``).
        With clusters: "HC0", "HC1" (``vcovCL(type=)``, both with ``cadjust``
        ``G/(G-1)``) or "CR2" (Bell-McCaffrey, as ``clubSandwich``).
    rank : int, optional
        ``k`` in the small-sample factors (defaults to the number of columns).
    case_weights : ndarray, optional
        For ``"CR2"`` on a weighted linear model: the (positive) case weights,
        treated as weights that are *not* inverse variances (matching or
        balancing weights), as ``clubSandwich::vcovCR`` does for ``lm(weights=)``.
        Without them the working arrays are treated as an unweighted model
        (inverse-variance form).

    Returns
    -------
    ndarray
        The k x k covariance matrix.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.column_stack([np.ones(4), [0, 1, 0, 1]])
    >>> V = sandwich_vcov(X, np.array([0.5, -1.0, -0.5, 1.0]), cluster=np.array([1, 1, 2, 2]),
    ...                   type="HC0")
    >>> float(V[1, 1].round(6))
    2.25
    """
    xs = np.asarray(xs, dtype=float)
    es = np.asarray(es, dtype=float)
    n, p = xs.shape
    k = p if rank is None else rank
    bread = np.linalg.pinv(xs.T @ xs)
    if cluster is None:
        type = check_option("type", type, HC_TYPES, case_sensitive=False)
        e = es.copy()
        if type in ("HC2", "HC3"):
            h = np.einsum("ij,jk,ik->i", xs, bread, xs)
            one_h = np.clip(1 - h, 1e-12, None)
            e = e / (np.sqrt(one_h) if type == "HC2" else one_h)
        U = xs * e[:, None]
        V = bread @ (U.T @ U) @ bread
        if type == "HC1":
            V *= n / (n - k)
        return V
    type = check_option("type", type, CLUSTER_TYPES, case_sensitive=False)
    codes, _ = _factorize(cluster, n)
    G = int(codes.max()) + 1
    if G < 2:
        raise DataError("cluster-robust standard errors need at least 2 clusters; got 1")
    if type == "CR2":
        order = np.argsort(codes, kind="stable")
        groups = np.split(order, np.flatnonzero(np.diff(codes[order])) + 1)
        meat = np.zeros((p, p))
        if case_weights is None:
            for idx in groups:
                Xg = xs[idx]
                Ag = _inv_sqrt_psd(np.eye(len(idx)) - Xg @ bread @ Xg.T)
                ug = Xg.T @ (Ag @ es[idx])
                meat += np.outer(ug, ug)
            return bread @ meat @ bread
        # weights that are not inverse variances (clubSandwich's default for weighted lm):
        # working covariance Theta = I, G_g = I - H_gg - H_gg' + X_g M Omega M X_g'
        w = np.asarray(case_weights, dtype=float)
        sw = np.sqrt(w)
        X = xs / sw[:, None]
        e = es / sw
        XW = X * w[:, None]
        MOM = bread @ (XW.T @ XW) @ bread
        for idx in groups:
            Xg, XWg = X[idx], XW[idx]
            H = Xg @ bread @ XWg.T
            Gg = np.eye(len(idx)) - H - H.T + Xg @ MOM @ Xg.T
            ug = XWg.T @ (_inv_sqrt_psd(Gg) @ e[idx])
            meat += np.outer(ug, ug)
        return bread @ meat @ bread
    U = xs * es[:, None]
    S = np.zeros((G, p))
    np.add.at(S, codes, U)
    V = bread @ (S.T @ S) @ bread * (G / (G - 1))
    if type == "HC1":
        V *= (n - 1) / (n - k)
    return V


def _factorize(cluster: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    import pandas as pd

    cluster = np.asarray(cluster)
    if cluster.shape[0] != n:
        raise DataError(f"`cluster` has length {cluster.shape[0]}; expected {n}")
    if pd.isna(cluster).any():
        raise DataError("`cluster` has missing values")
    codes, uniques = pd.factorize(cluster, sort=True)
    return codes.astype(np.int64), np.asarray(uniques)


def cluster_df(cluster: np.ndarray | None, n: int, rank: int) -> float:
    """Degrees of freedom for t intervals: ``G - 1`` with clusters, ``n - k`` without.

    Examples
    --------
    >>> cluster_df(np.array([1, 1, 2, 2, 3, 3]), 6, 2)
    2.0
    >>> cluster_df(None, 6, 2)
    4.0
    """
    if cluster is None:
        return float(max(n - rank, 1))
    return float(max(len(np.unique(np.asarray(cluster))) - 1, 1))


def cluster_bootstrap(
    statistic: Callable[[np.ndarray], float],
    n: int,
    *,
    cluster: np.ndarray | None = None,
    n_boot: int = 999,
    random_state: int | np.random.Generator | None = None,
) -> np.ndarray:
    """Nonparametric (cluster) bootstrap of a statistic.

    Whole clusters (matched pairs / subclasses) are resampled with replacement;
    without clusters single units are. ``statistic`` receives the row indices of
    a resample (with repeats) and returns a float; replicates that fail (raise
    or return a non-finite value, e.g. an empty arm) are dropped.

    Examples
    --------
    >>> import numpy as np
    >>> y = np.arange(10.0)
    >>> reps = cluster_bootstrap(lambda idx: y[idx].mean(), 10, n_boot=200, random_state=1)
    >>> reps.shape
    (200,)
    """
    rng = np.random.default_rng(random_state)
    if cluster is None:
        groups = [np.array([i]) for i in range(n)]
    else:
        codes, _ = _factorize(cluster, n)
        order = np.argsort(codes, kind="stable")
        groups = np.split(order, np.flatnonzero(np.diff(codes[order])) + 1)
    G = len(groups)
    out = np.empty(n_boot)
    for b in range(n_boot):
        pick = rng.integers(0, G, G)
        idx = np.concatenate([groups[g] for g in pick])
        try:
            out[b] = statistic(idx)
        except (DataError, np.linalg.LinAlgError, ZeroDivisionError, FloatingPointError):
            out[b] = np.nan
    return out[np.isfinite(out)]


@dataclass(frozen=True)
class PermutationResult:
    """Result of :func:`permutation_test` (statistic, null draws, p-value, CI)."""

    statistic: float
    null: np.ndarray
    p_value: float
    conf_low: float
    conf_high: float


def _focal_stat(y: np.ndarray, focal_pos: np.ndarray, members: list[np.ndarray]) -> np.ndarray:
    """Mean over subclasses of (focal outcome - mean of the others); vectorised over draws."""
    total = np.array([y[m].sum() for m in members])
    size = np.array([len(m) for m in members], dtype=float)
    yf = y[focal_pos]  # (draws, S)
    return np.mean(yf - (total - yf) / (size - 1), axis=-1)


def permutation_test(
    y: np.ndarray,
    focal: np.ndarray,
    subclass: np.ndarray,
    *,
    n_perm: int = 9999,
    conf_level: float = 0.95,
    random_state: int | np.random.Generator | None = None,
    sign: int = 1,
) -> PermutationResult:
    """Randomisation test within matched subclasses, with a test-inversion CI.

    Each subclass has exactly one *focal* unit (the treated unit for ATT, the
    control unit for ATC) and one or more matched units. The statistic is the
    mean over subclasses of ``sign * (y_focal - mean(y_matched))``, which equals
    MatchIt's weighted difference in means. Under the sharp null of no effect
    the focal label is equally likely to sit on any member of its subclass; the
    null distribution draws that label at random, independently per subclass
    (for pairs: random sign flips). ``p = (1 + #{|T*| >= |T|}) / (1 + n_perm)``.
    The CI collects the constant additive effects ``tau`` not rejected at
    ``1 - conf_level`` (outcomes of focal units shifted by ``tau``), found by
    bisection with the same permutation draws.

    Examples
    --------
    >>> import numpy as np
    >>> y = np.array([5.0, 1, 6, 2, 7, 1, 4, 2, 6, 3])
    >>> focal = np.array([1, 0] * 5)
    >>> sub = np.repeat(np.arange(5), 2)
    >>> res = permutation_test(y, focal, sub, n_perm=999, random_state=0)
    >>> float(res.statistic)
    3.8
    >>> bool(res.p_value < 0.1)
    True
    """
    y = np.asarray(y, dtype=float)
    focal = np.asarray(focal).astype(bool)
    n = len(y)
    codes, _ = _factorize(subclass, n)
    order = np.argsort(codes, kind="stable")
    members = np.split(order, np.flatnonzero(np.diff(codes[order])) + 1)
    focal_list: list[int] = []
    for m in members:
        f = m[focal[m]]
        if len(f) != 1 or len(m) < 2:
            raise DataError(
                "the permutation test needs subclasses with exactly one focal unit and at "
                "least one match (matching without replacement); use se='cluster' instead"
            )
        focal_list.append(int(f[0]))
    obs_focal = np.array(focal_list)
    rng = np.random.default_rng(random_state)
    sizes = np.array([len(m) for m in members])
    draws = (rng.random((n_perm, len(members))) * sizes).astype(np.int64)
    offsets = np.array([0, *np.cumsum(sizes)[:-1]])
    flat = np.concatenate(members)
    perm_pos = flat[offsets + draws]  # (n_perm, S) positions of the permuted focal units

    def run(tau: float) -> tuple[float, np.ndarray]:
        yt = y.copy()
        yt[focal] -= sign * tau
        t_obs = sign * _focal_stat(yt, obs_focal[None, :], members)[0]
        null = sign * _focal_stat(yt, perm_pos, members)
        return float(t_obs), null

    def pval(tau: float) -> float:
        t_obs, null = run(tau)
        return float((1 + np.sum(np.abs(null) >= abs(t_obs) - 1e-12)) / (1 + n_perm))

    t_obs, null = run(0.0)
    p = pval(0.0)
    alpha = 1 - conf_level
    scale = float(np.std(null)) or 1.0

    def bound(direction: int) -> float:
        inside = t_obs
        outside = t_obs + direction * scale
        k = 0
        while pval(outside) > alpha and k < 60:
            inside, outside = outside, outside + direction * scale * 2 ** min(k, 10)
            k += 1
        for _ in range(60):
            mid = (inside + outside) / 2
            if pval(mid) > alpha:
                inside = mid
            else:
                outside = mid
            if abs(outside - inside) < 1e-8 * (1 + abs(t_obs)):
                break
        return (inside + outside) / 2

    return PermutationResult(
        statistic=t_obs, null=null, p_value=p, conf_low=bound(-1), conf_high=bound(1)
    )


def t_quantile(df: float, conf_level: float) -> float:
    """Two-sided critical value of t(df) (normal for ``df = inf``)."""
    if not np.isfinite(df):
        return float(stats.norm.ppf(0.5 + conf_level / 2))
    return float(stats.t.ppf(0.5 + conf_level / 2, df))


def _check_se_type(type: str | None, clustered: bool) -> str:
    allowed = CLUSTER_TYPES if clustered else HC_TYPES
    if type is None:
        return "HC1"
    try:
        return check_option("se_type", type, allowed)
    except SpecificationError as exc:
        kind = "cluster-robust" if clustered else "heteroskedasticity-robust"
        raise SpecificationError(f"{exc} (allowed for {kind} standard errors)") from None


# ======================================================================================
# Weighting helper section (M-estimation sandwich accounting for the estimated PS) may be
# appended below this line by causalpa/weighting.py's author.
# ======================================================================================
