"""Generalised estimating equations (GEE) for session-level outcomes, optionally weighted.

:func:`gee` fits a marginal (population-average) model for repeated measures such as
PHQ-9 at every session: identity link for continuous scores, logit link for 0/1
outcomes (caseness), with an exchangeable, independence or AR(1) working
correlation within patient and a cluster-robust sandwich covariance. Weights
(e.g. inverse-probability weights from :func:`causalpa.weight`) turn it into an
IPW marginal structural trajectory model.

The estimating equations, the moment estimators of the scale and of the working
correlation, and the sandwich are those of R's ``geepack::geeglm`` (checked in
``tests/test_gee.py`` against stored geepack output):

* weights enter as prior weights, ``Var(y_ij) = phi * v(mu_ij) / w_ij``;
* scale ``phi = sum(w * r^2) / sum(w)`` with Pearson residuals ``r = (y - mu) / sqrt(v(mu))``
  (no degrees-of-freedom correction);
* exchangeable ``rho = sum_{j<k} w_j w_k r_j r_k / phi / sum_{j<k} w_j w_k`` over all
  within-cluster pairs;
* AR(1): ``corr(y_j, y_k) = rho^|t_j - t_k|`` with ``rho`` the weighted least-squares
  fit of ``r_j r_k / phi`` on ``rho^|t_j - t_k|`` over all within-cluster pairs (geepack's
  Gauss-Newton update, checked against the global minimum over ``rho``: geepack's update
  starts at 0 and stays there when no two times of a cluster are one unit apart, e.g.
  times in weeks or days). The estimate does not depend on the unit of time: with times in
  days ``rho_day ** 7`` equals ``rho`` with times in weeks.

The covariances are geepack's ``B^-1 M B^-1`` with the computed inverse of the bread
``B`` on both sides (the product ``B^-1 M (B^-1)'`` of :func:`causalpa.inference.sandwich`
differs in the last digits, because the computed inverse is not exactly symmetric).
Intervals and p-values come from :func:`causalpa.inference.coef_table`.

Examples
--------
>>> import numpy as np, pandas as pd
>>> import causalpa as cpa
>>> rng = np.random.default_rng(1)
>>> sess = pd.DataFrame({"patient": np.repeat(np.arange(30), 5), "session": np.tile(range(5), 30),
...                      "pa": np.repeat(rng.integers(0, 2, 30), 5)})
>>> sess["phq9"] = (15 - 0.8 * sess.session - 0.4 * sess.session * sess.pa
...                 + np.repeat(rng.normal(0, 3, 30), 5) + rng.normal(0, 2, 150))
>>> fit = cpa.gee(sess, "phq9 ~ session * pa", groups="patient", se="bias-reduced", df="clusters")
>>> list(fit.tidy().term)
['Intercept', 'session', 'pa', 'session:pa']
>>> bool(0 < fit.working_correlation < 1)
True
"""

import warnings
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

import numpy as np
import pandas as pd

from causalpa._regression import check_full_rank, logistic, separation_direction, wls
from causalpa._spec import Spec
from causalpa._validation import (
    CONF_LEVEL,
    NONE,
    Column,
    Number,
    Options,
    check_columns,
    check_frame,
    format_rows,
    validate_params,
)
from causalpa.errors import ConvergenceWarning, DataError
from causalpa.inference import MIN_CLUSTERS, warn_small_sample
from causalpa.longitudinal._gee_common import (
    CoefficientResult,
    PredictType,
    check_binary_outcome,
    group_codes,
    outcome_model,
    readonly,
    resolve_weights,
)

__all__ = ["gee", "GEEResult"]

Family = Literal["gaussian", "binomial"]
Corr = Literal["exchangeable", "independence", "ar1"]
GeeSE = Literal["robust", "naive", "bias-reduced"]
GeeDF = Literal["normal", "clusters"]

_SE_LABELS = {
    "robust": "robust sandwich",
    "naive": "model-based (naive)",
    "bias-reduced": "bias-reduced sandwich (Mancl-DeRouen)",
}
_EPS = np.finfo(float).eps
_ROUNDING = 1000 * _EPS
"""Coefficient change, relative to ``1 + max |beta|``, that counts as converged whatever
``tol`` (a few hundred times the rounding error of the steps at the solution)."""
_LEVERAGE_ONE = 1.0 - np.sqrt(_EPS)
"""Leverage of a cluster above which the Mancl-DeRouen correction is undefined (1 - sqrt(eps))."""


# --------------------------------------------------------------------------- family
def _mean(eta: np.ndarray, family: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return mu, dmu/deta and the variance function v(mu)."""
    if family == "gaussian":
        return eta, np.ones_like(eta), np.ones_like(eta)
    thr = -np.log(_EPS)
    e = np.clip(eta, -thr, thr)
    mu = 1.0 / (1.0 + np.exp(-e))
    return mu, np.maximum(mu * (1.0 - mu), _EPS), mu * (1.0 - mu)


# --------------------------------------------------------------------------- padding
@dataclass
class _Padded:
    """Rows laid out as (clusters, max size) with a mask, sorted within cluster."""

    order: np.ndarray  # row indices of data in padded order (flattened, valid only)
    pos: tuple[np.ndarray, np.ndarray]  # (cluster, slot) of each valid row
    mask: np.ndarray  # (G, m) bool
    time: np.ndarray  # (G, m) float (0 on padding)
    sizes: np.ndarray

    def pad(self, values: np.ndarray) -> np.ndarray:
        g, m = self.mask.shape
        out = np.zeros((g, m, *values.shape[1:]), dtype=float)
        out[self.pos] = values[self.order]
        return out


def _layout(codes: np.ndarray, time: np.ndarray | None) -> _Padded:
    n = len(codes)
    g = int(codes.max()) + 1
    key2 = np.arange(n) if time is None else time
    order = np.lexsort((np.arange(n), key2, codes))
    sizes = np.bincount(codes, minlength=g)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    sorted_codes = codes[order]
    slot = np.arange(n) - starts[sorted_codes]
    m = int(sizes.max())
    mask = np.zeros((g, m), dtype=bool)
    mask[sorted_codes, slot] = True
    t = np.zeros((g, m))
    t[sorted_codes, slot] = slot + 1.0 if time is None else time[order]
    return _Padded(order=order, pos=(sorted_codes, slot), mask=mask, time=t, sizes=sizes)


def _working_corr(rho: float, corr: str, lay: _Padded) -> np.ndarray:
    g, m = lay.mask.shape
    mm = lay.mask[:, :, None] & lay.mask[:, None, :]
    if corr == "independence":
        R = np.zeros((g, m, m))
    elif corr == "exchangeable":
        R = np.where(mm, rho, 0.0)
    else:
        lag = np.abs(lay.time[:, :, None] - lay.time[:, None, :])
        with np.errstate(invalid="ignore"):
            R = np.where(mm, np.power(rho, lag), 0.0)
    idx = np.arange(m)
    R[:, idx, idx] = 1.0
    return R


def _pairs(lay: _Padded) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cluster index and slot pairs (j < k) of all within-cluster pairs."""
    m = lay.mask.shape[1]
    j, k = np.triu_indices(m, 1)
    valid = lay.mask[:, j] & lay.mask[:, k]
    gi, pi = np.nonzero(valid)
    return gi, j[pi], k[pi]


# --------------------------------------------------------------------------- fit core
@dataclass
class _Fit:
    beta: np.ndarray
    rho: float  # working-correlation parameter
    scale: float
    bread: np.ndarray  # sum D~' R^-1 D~ (without 1/phi)
    meat: np.ndarray
    meat_md: np.ndarray | None
    n_iter: int
    converged: bool
    leverage: np.ndarray | None  # per cluster, with the bias-reduced meat


@dataclass
class _Working:
    """Whitened quantities at one ``beta`` (one geepack update of scale and correlation)."""

    scale: float
    rho: float
    Dt: np.ndarray  # sqrt(w) dmu/deta / sqrt(v) X, padded (G, m, p)
    et: np.ndarray  # sqrt(w) Pearson residuals, padded (G, m)
    RinvD: np.ndarray  # R^-1 Dt


class _Problem:
    """The padded data of one GEE and its update of scale, correlation and whitening."""

    def __init__(self, y: np.ndarray, X: np.ndarray, w: np.ndarray, lay: _Padded,
                 family: str, corr: str) -> None:
        self.lay, self.family, self.corr = lay, family, corr
        self.Yp, self.Xp, self.Wp = lay.pad(y), lay.pad(X), lay.pad(w)
        self.pairs = _pairs(lay) if corr != "independence" else None
        self.lags = _Lags.of(lay, self.pairs) if corr == "ar1" and self.pairs is not None else None

    def working(self, beta: np.ndarray, rho: float) -> _Working:
        """Scale, correlation and whitened quantities at ``beta`` (one geepack update)."""
        lay, Wp = self.lay, self.Wp
        eta = self.Xp @ beta
        mu, dmu, v = _mean(eta, self.family)
        v = np.where(lay.mask, v, 1.0)
        rs = 1.0 / np.sqrt(v)
        pr = np.where(lay.mask, (self.Yp - mu) * rs, 0.0)
        # scale (geepack update_gamma with identity scale link)
        scale = float(np.sum(Wp * pr**2) / np.sum(Wp))
        # working correlation (geepack's moment update of the parameter, solved to convergence)
        if self.pairs is not None:
            rho = _estimate_correlation(pr / np.sqrt(scale), Wp, self.pairs, self.lags, rho)
        R = _working_corr(rho, self.corr, lay)
        Dt = (np.sqrt(Wp) * dmu * rs)[:, :, None] * self.Xp
        Dt[~lay.mask] = 0.0
        et = np.sqrt(Wp) * pr
        try:
            RinvD = np.linalg.solve(R, Dt)
        except np.linalg.LinAlgError as exc:
            raise DataError(
                f"the {self.corr} working correlation is singular (parameter {rho:.4g}): the "
                "residuals within a cluster are exactly dependent, e.g. a term specific to one "
                "cluster (such as C(patient)) makes them sum to zero. Remove such terms or use "
                "corr='independence'"
            ) from exc
        return _Working(scale, rho, Dt, et, RinvD)


def _fit(
    y: np.ndarray,
    X: np.ndarray,
    w: np.ndarray,
    lay: _Padded,
    family: str,
    corr: str,
    *,
    beta0: np.ndarray,
    max_iter: int,
    tol: float,
    bias_reduced: bool,
) -> _Fit:
    """Solve the estimating equations by Fisher scoring (geepack's iteration); bread and meat.

    Iterates from ``beta0`` until the largest coefficient change is at most ``tol``, or at
    most ``_ROUNDING * (1 + max |beta|)``: the rounding level of the coefficients, which
    exceeds an absolute ``tol`` when they are large (an outcome in units of 1e6), so that
    outcomes on any scale converge.
    """
    beta = beta0
    prob = _Problem(y, X, w, lay, family, corr)
    rho = 0.0
    converged = False
    it = 0
    for _ in range(max_iter):
        it += 1
        wk = prob.working(beta, rho)
        rho = wk.rho
        H = np.einsum("gmp,gmq->pq", wk.Dt, wk.RinvD)
        G = np.einsum("gmp,gm->p", wk.RinvD, wk.et)
        try:
            step = np.linalg.solve(H, G)
        except np.linalg.LinAlgError as exc:
            raise DataError(
                "the GEE information matrix is singular: a term is collinear with others or "
                "has no variation among rows with positive weight"
            ) from exc
        beta = beta + step
        if not np.all(np.isfinite(beta)):
            break
        if np.max(np.abs(step)) <= max(tol, _ROUNDING * (1.0 + np.max(np.abs(beta)))):
            converged = True
            break
    # final quantities at beta
    wk = prob.working(beta, rho)
    bread = np.einsum("gmp,gmq->pq", wk.Dt, wk.RinvD)
    U = np.einsum("gmp,gm->gp", wk.RinvD, wk.et)
    meat = U.T @ U
    meat_md, leverage = _bias_reduced_meat(bread, wk) if bias_reduced else (None, None)
    return _Fit(beta, float(wk.rho), wk.scale, bread, meat, meat_md, it, converged, leverage)


def _bias_reduced_meat(bread: np.ndarray, wk: _Working) -> tuple[np.ndarray | None, np.ndarray]:
    """Mancl-DeRouen meat: each cluster's residuals inflated by ``(I - H_ii)^{-1}``.

    Returns the meat and every cluster's leverage (the largest eigenvalue of ``H_ii``);
    the meat is None when a leverage is (numerically) 1, where the correction is undefined.
    """
    binv = np.linalg.inv(bread)
    # H~_i = D~_i B^-1 D~_i' R_i^-1 ; U_i^MD = D~_i' R_i^-1 (I - H~_i)^-1 e_i
    Ht = np.einsum("gmp,pq,gnq->gmn", wk.Dt, binv, wk.RinvD)
    leverage = np.linalg.eigvals(Ht).real.max(axis=1)
    if np.any(leverage > _LEVERAGE_ONE):
        return None, leverage
    m = Ht.shape[1]
    e_adj = np.linalg.solve(np.eye(m)[None] - Ht, wk.et[:, :, None])[:, :, 0]
    Umd = np.einsum("gmp,gm->gp", wk.RinvD, e_adj)
    return Umd.T @ Umd, leverage


@dataclass(frozen=True)
class _Lags:
    """Time differences of the within-cluster pairs of an AR(1) model, and their distinct values."""

    lag: np.ndarray  # |t_k - t_j| of every pair
    values: np.ndarray  # the distinct lags, ascending
    index: np.ndarray  # position of each pair's lag in `values`
    integer: bool  # all lags are whole numbers (then a negative rho is admissible)

    @classmethod
    def of(cls, lay: _Padded, pairs: tuple[np.ndarray, np.ndarray, np.ndarray]) -> "_Lags":
        gi, j, k = pairs
        lag = np.abs(lay.time[gi, k] - lay.time[gi, j])
        values, index = np.unique(lag, return_inverse=True)
        return cls(lag, values, index.reshape(-1), bool(np.all(values == np.round(values))))


def _estimate_correlation(
    z: np.ndarray,
    w: np.ndarray,
    pairs: tuple[np.ndarray, np.ndarray, np.ndarray],
    lags: _Lags | None,
    start: float,
) -> float:
    """Moment estimate of the working-correlation parameter from standardised residuals.

    Exchangeable (``lags`` None): the weighted mean of the pair products. AR(1): the
    weighted least-squares fit of the products on ``rho^lag`` (see :func:`_ar1_least_squares`).
    """
    gi, j, k = pairs
    if len(gi) == 0:
        return 0.0
    prod = z[gi, j] * z[gi, k]
    pw = w[gi, j] * w[gi, k]
    if pw.sum() <= 0:
        return 0.0
    if lags is None:
        return float(np.sum(pw * prod) / np.sum(pw))
    # geepack's Gauss-Newton update of alpha, iterated to convergence from the last value
    lag = lags.lag
    a = float(start) if np.isfinite(start) else 0.0
    for _ in range(200):
        with np.errstate(invalid="ignore", divide="ignore"):
            fitted = np.power(a, lag)
            dfitted = np.where(lag == 1.0, 1.0, lag * np.power(a, lag - 1.0))
        denom = np.sum(pw * dfitted * dfitted)
        if not np.isfinite(denom) or denom <= 0:
            break
        step = np.sum(pw * dfitted * (prod - fitted)) / denom
        a += step
        if abs(step) < 1e-13:
            break
    return _ar1_least_squares(prod, pw, lags, a)


def _ar1_least_squares(prod: np.ndarray, pw: np.ndarray, lags: _Lags, local: float) -> float:
    """Return the weighted least-squares AR(1) parameter, ``argmin sum pw (prod - rho^lag)^2``.

    ``local`` is the Gauss-Newton solution (geepack's update). It is kept when it is the
    global minimum over the admissible ``rho`` (``(-1, 1)`` for whole-number lags, else
    ``[0, 1)``). It is not when no pair is one time unit apart (times in weeks or days):
    the derivative of ``rho^lag`` is then 0 at ``rho = 0``, where geepack's update starts
    and stays. The global minimum is found on a grid of ``rho = +-exp(-kappa)`` with
    ``kappa * (smallest lag)`` log-spaced (so the search does not depend on the unit of
    time) and refined by a bounded scalar minimisation.
    """
    from scipy.optimize import minimize_scalar

    W = np.bincount(lags.index, weights=pw, minlength=len(lags.values))
    P = np.bincount(lags.index, weights=pw * prod, minlength=len(lags.values))
    lv = lags.values
    sign_options = (1.0, -1.0) if lags.integer else (1.0,)

    def objective(a: Any) -> Any:  # the least-squares criterion less its constant part
        f = np.power(np.asarray(a, dtype=float)[..., None], lv)
        return np.sum(W * f * f - 2.0 * P * f, axis=-1)

    u_grid = np.linspace(np.log(1e-10), np.log(50.0), 301)  # log(kappa * smallest lag)
    best_a, best_s = 0.0, 0.0  # rho = 0: criterion 0
    for sign in sign_options:
        def rho(u: Any, sign: float = sign) -> Any:
            return sign * np.exp(-np.exp(u) / lv[0])

        values = objective(rho(u_grid))
        i = int(np.argmin(values))
        if values[i] >= best_s:
            continue
        lo, hi = u_grid[max(i - 1, 0)], u_grid[min(i + 1, len(u_grid) - 1)]
        res = minimize_scalar(lambda u, rho=rho: float(objective(rho(u))), bounds=(lo, hi),
                              method="bounded", options={"xatol": 1e-12})
        u_best, s_best = (res.x, float(res.fun)) if res.fun < values[i] else (u_grid[i], values[i])
        if s_best < best_s:
            best_a, best_s = float(rho(u_best)), float(s_best)
    admissible = np.isfinite(local) and -1.0 < local < 1.0 and (local >= 0 or lags.integer)
    if admissible:
        s_local = float(objective(local))
        if s_local <= best_s + 1e-10 * float(np.sum(W) + np.sum(np.abs(P))):
            return float(local)
    return best_a


# --------------------------------------------------------------------------- result
@dataclass(frozen=True, repr=False, eq=False)
class GEEResult(CoefficientResult):
    """A fitted GEE marginal model (built by :func:`gee`).

    ``tidy()`` is the coefficient table in the shared schema (``term, estimate,
    std_error, statistic, df, p_value, conf_low, conf_high, outcome, estimand, method,
    n``); ``params``, ``bse``, ``pvalues``, ``tvalues`` and ``conf_int()`` read it.

    Attributes
    ----------
    formula : str
        Model formula.
    outcome : str
        Left-hand side of the formula.
    family, link, corr : str
        Outcome family, link function and working-correlation structure.
    terms : tuple of str
        Model-matrix column names.
    se : str
        Which covariance ``tidy()`` uses: ``"robust"``, ``"naive"`` or ``"bias-reduced"``.
    df : float
        Degrees of freedom of the t reference (``inf``: normal, as geepack's Wald tests).
    working_correlation : float
        Working-correlation parameter: the exchangeable correlation or the AR(1)
        correlation at a time difference of 1 (in the unit of ``time``; ``nan`` for
        independence).
    scale : float
        Scale (dispersion) estimate.
    n_obs, n_groups : int
        Rows, and clusters with a positive total weight (the clusters used).
    converged : bool
        Whether the iterations met the tolerance.
    n_iter : int
        Iterations used.
    conf_level : float
        Confidence level of ``conf_low``/``conf_high``.
    groups : str
        Cluster column.
    time : str or None
        Time column of an AR(1) working correlation.
    weighted : bool
        Whether weights were given.
    notes : tuple of str
        Caveats (small-sample warning, non-convergence).
    """

    formula: str
    outcome: str
    family: str
    link: str
    corr: str
    terms: tuple[str, ...]
    se: str
    df: float
    working_correlation: float
    scale: float
    n_obs: int
    n_groups: int
    converged: bool
    n_iter: int
    conf_level: float
    groups: str
    time: str | None
    weighted: bool
    _coef: np.ndarray = field(repr=False)
    _cov: np.ndarray = field(repr=False)
    _cov_robust: np.ndarray = field(repr=False)
    _cov_naive: np.ndarray = field(repr=False)
    _cov_bias_reduced: np.ndarray | None = field(repr=False)
    _spec: Spec = field(repr=False)
    notes: tuple[str, ...] = ()

    # -- protocol -------------------------------------------------------------
    def _method(self) -> str:
        return f"GEE ({self.family}, {self.corr})"

    def _reference_df(self) -> float:
        return self.df

    def _title(self) -> str:
        return f"GEE: {self.formula}"

    def _meta(self) -> dict[str, Any]:
        ref = "normal" if not np.isfinite(self.df) else f"t({self.df:g})"
        return {
            "family": self.family, "link": self.link, "corr": self.corr,
            "working_correlation": (None if self.corr == "independence"
                                    else self.working_correlation),
            "scale": self.scale, "se": self.se,
            "inference": f"{_SE_LABELS[self.se]}, {ref} reference",
            "groups": self.groups, "n_groups": self.n_groups, "n_obs": self.n_obs,
            "weighted": self.weighted, "converged": self.converged, "n_iter": self.n_iter,
            "conf_level": self.conf_level,
        }

    # -- covariances ----------------------------------------------------------
    @property
    def cov_robust(self) -> pd.DataFrame:
        """Sandwich covariance (geepack's ``vbeta``), a new DataFrame."""
        return self._frame(self._cov_robust)

    @property
    def cov_naive(self) -> pd.DataFrame:
        """Model-based covariance (geepack's ``vbeta.naiv``), a new DataFrame."""
        return self._frame(self._cov_naive)

    @property
    def cov_bias_reduced(self) -> pd.DataFrame | None:
        """Mancl-DeRouen bias-reduced sandwich (computed when ``se="bias-reduced"``)."""
        return None if self._cov_bias_reduced is None else self._frame(self._cov_bias_reduced)

    # -- model ----------------------------------------------------------------
    @validate_params({"size": [Number(low=1, integer=True), NONE]})
    def working_correlation_matrix(self, times: Any = None, size: int | None = None) -> pd.DataFrame:
        """Working correlation matrix for one cluster.

        Parameters
        ----------
        times : array-like, optional
            Time values (AR(1)); defaults to ``0, 1, ..., size - 1``.
        size : int, optional
            Cluster size when ``times`` is not given (default 4).

        Returns
        -------
        pandas.DataFrame
            Indexed by the times in both directions.
        """
        t = np.arange(size or 4, dtype=float) if times is None else np.asarray(times, dtype=float)
        m = len(t)
        if self.corr == "independence":
            R = np.eye(m)
        elif self.corr == "exchangeable":
            R = np.full((m, m), self.working_correlation)
            np.fill_diagonal(R, 1.0)
        else:
            R = np.power(self.working_correlation, np.abs(t[:, None] - t[None, :]))
        return pd.DataFrame(R, index=t, columns=t)

    @validate_params()
    def predict(self, newdata: pd.DataFrame | None = None,
                type: PredictType = "response") -> np.ndarray:
        """Predicted population-average means (``type="response"``) or linear predictor (``"link"``).

        Parameters
        ----------
        newdata : pandas.DataFrame, optional
            Rows to predict for (must contain the right-hand-side variables; factor
            levels are those of the fit); by default the fitted values for the rows of
            the data, in their order.
        type : {"response", "link"}
            Scale of the prediction.

        Returns
        -------
        numpy.ndarray
            One prediction per row (a new array).
        """
        if newdata is None:
            X, _ = self._spec.design()
        else:
            X, _ = self._spec.design(check_frame(newdata, "newdata"))
        eta = X @ self._coef
        if type == "link" or self.family == "gaussian":
            return eta
        return _mean(eta, "binomial")[0]


# --------------------------------------------------------------------------- public
def _time_values(data: pd.DataFrame, time: str | None, codes: np.ndarray, groups: str,
                 corr: str) -> np.ndarray | None:
    """Return the time column as floats (None without one); AR(1) needs distinct times."""
    if time is None:
        return None
    tser = data[time]
    if not pd.api.types.is_numeric_dtype(tser):
        raise DataError(f"`time` column {time!r} must be numeric")
    tvals = tser.to_numpy(dtype=float)
    if corr == "ar1":
        dup = pd.DataFrame({"g": codes, "t": tvals}).duplicated()
        if dup.any():
            raise DataError(
                f"`time` column {time!r} repeats a value within a {groups!r} cluster (rows "
                f"{format_rows(data.index[dup.to_numpy()])}); AR(1) needs distinct times"
            )
    return tvals


def _reference_df(df: str | float, n_groups: int, p: int) -> float:
    if df == "normal":
        return float("inf")
    if df == "clusters":
        if n_groups - p < 1:
            raise DataError(
                f"df='clusters' needs more clusters ({n_groups}) than coefficients ({p})")
        return float(n_groups - p)
    return float(df)


@validate_params({
    "groups": Column(),
    "time": [Column(), NONE],
    "df": [Options(*get_args(GeeDF)), Number(low=0, low_inclusive=False)],
    "conf_level": CONF_LEVEL,
    "max_iter": Number(low=1, integer=True),
    "tol": Number(low=0, low_inclusive=False),
})
def gee(
    data: pd.DataFrame,
    formula: str,
    *,
    groups: str = "patient",
    family: Family = "gaussian",
    corr: Corr = "exchangeable",
    weights: Any = None,
    weights_by: Any = None,
    time: str | None = None,
    se: GeeSE = "robust",
    df: GeeDF | float = "normal",
    conf_level: float = 0.95,
    max_iter: int = 500,
    tol: float = 1e-10,
) -> GEEResult:
    """Fit a (weighted) GEE marginal model for clustered, e.g. session-level, outcomes.

    Parameters
    ----------
    data : pandas.DataFrame
        Long data, one row per observation (session); never modified.
    formula : str
        ``"outcome ~ terms"``, e.g. ``"phq9 ~ session * pa + age"`` (formulaic syntax).
    groups : str
        Cluster column (default ``"patient"``).
    family : {"gaussian", "binomial"}
        Gaussian with identity link (continuous scores) or binomial with logit link
        (a 0/1 or bool outcome such as caseness).
    corr : {"exchangeable", "independence", "ar1"}
        Working correlation within a cluster.
    weights : str, array-like or pandas.Series, optional
        Prior weights: a column of ``data``, one value per row, or patient-level
        weights (e.g. ``cpa.weight(patients, ...).weights``) together with
        ``weights_by``. Must be finite and >= 0.
    weights_by : array-like or pandas.Series, optional
        The group id of each element of ``weights`` (e.g. ``patients["patient"]``);
        each row of ``data`` then gets the weight of its group.
    time : str, optional
        Time column for ``corr="ar1"``: ``corr(y_j, y_k) = rho^|t_j - t_k|``, so gaps
        (missed sessions) are respected. Without it, rows are taken in data order
        within each cluster at times 1, 2, ... (geepack's default ``waves``).
    se : {"robust", "naive", "bias-reduced"}
        Cluster-robust sandwich (geepack's ``san.se``), model-based, or the
        Mancl-DeRouen (2001) bias-reduced sandwich, which inflates each cluster's
        residuals by ``(I - H_ii)^{-1}`` and is advisable with fewer than about 50
        clusters.
    df : "normal", "clusters" or float
        Reference distribution for tests and intervals: ``"normal"`` (as geepack),
        ``"clusters"`` (t with G - p degrees of freedom, G clusters with a positive total
        weight and p coefficients, as Mancl & DeRouen recommend) or a number > 0.
    conf_level : float
        Confidence level.
    max_iter : int
        Maximum iterations (each: one Fisher-scoring step for the coefficients, then the
        scale and the working correlation, as geepack). Binomial models with a strong
        working correlation can need a few hundred.
    tol : float
        Convergence tolerance on the largest coefficient change. A change at the rounding
        level of the coefficients (``1000 * eps * (1 + max |beta|)``) also counts as
        converged, so an outcome on any scale (e.g. in units of 1e6) converges.

    Returns
    -------
    GEEResult

    Raises
    ------
    SpecificationError
        Unknown option or malformed formula.
    DataError
        Absent columns, missing values, a non-binary outcome with ``family="binomial"``,
        a binomial outcome that is constant or (quasi-)completely separated by the terms,
        constant or collinear terms (among rows with positive weight), negative weights,
        duplicated times within a cluster for AR(1), a singular working correlation, or
        ``se="bias-reduced"`` with a cluster of leverage 1 (fitted exactly by a term).

    Warns
    -----
    ConvergenceWarning
        The iterations did not converge.
    SmallSampleWarning
        Fewer than :data:`causalpa.inference.MIN_CLUSTERS` (40) clusters with the plain
        robust sandwich and a normal reference.

    Notes
    -----
    The fit solves the same estimating equations as ``geepack::geeglm`` (see the module
    docstring), iterated to ``tol``; geeglm's default tolerance (``1e-4``) stops
    earlier, so agreement with it is to about that precision unless geeglm is run
    with ``control = geese.control(epsilon = 1e-10)``.

    With inverse-probability weights the model-based weights are treated as known;
    the sandwich then ignores the estimation of the propensity score, which is
    usually conservative for the ATE.

    Examples
    --------
    An IPW-weighted trajectory model in two lines (patient-level weights mapped onto
    sessions by patient id):

    >>> import causalpa as cpa
    >>> patients = cpa.datasets.load_pilot()
    >>> sessions = cpa.datasets.load_pilot("sessions")
    >>> w = cpa.weight(patients, "pa ~ age + phq9_first", estimand="ATE")
    >>> fit = cpa.gee(sessions, "phq9 ~ session * pa", weights=w.weights,
    ...               weights_by=patients["patient"], se="bias-reduced", df="clusters")
    >>> fit.weighted, fit.n_groups
    (True, 38)

    A binary outcome with an AR(1) working correlation:

    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> d = pd.DataFrame({"patient": np.repeat(np.arange(40), 4), "session": np.tile(range(4), 40)})
    >>> d["case"] = (rng.random(160) < 0.7 - 0.1 * d.session).astype(int)
    >>> fit = cpa.gee(d, "case ~ session", family="binomial", corr="ar1", time="session")
    >>> bool(fit.params["session"] < 0)
    True
    """
    data = check_frame(data, "data")
    codes, labels = group_codes(data, groups)
    if time is not None:
        check_columns(data, [time], "time")
    spec, y, X = outcome_model(data, formula, extra=(groups,) + ((time,) if time else ()))
    outcome = str(spec.lhs)
    if family == "binomial":
        check_binary_outcome(y, data.index, outcome, "family='binomial'")
    w = resolve_weights(data, weights, weights_by, groups)
    weighted = w is not None
    if w is None:
        w = np.ones(len(data))
    lay = _layout(codes, _time_values(data, time, codes, groups, corr))
    # clusters whose weights are all zero take no part in the fit
    n_groups = int(np.count_nonzero(np.bincount(codes, weights=w, minlength=len(labels)) > 0))
    df_val = _reference_df(df, n_groups, X.shape[1])
    _check_design(X, w, list(spec.columns))
    beta0 = _glm_start(y, X, w, family, outcome, list(spec.columns))
    res = _fit(y, X, w, lay, family, corr, beta0=beta0, max_iter=max_iter, tol=tol,
               bias_reduced=se == "bias-reduced")
    if res.leverage is not None and res.meat_md is None:
        raise _leverage_error(res.leverage, labels, groups)
    notes = _warnings(res, max_iter, se, n_groups, df_val)
    binv = np.linalg.inv(res.bread)
    cov_naive = res.scale * binv
    cov_robust = binv @ res.meat @ binv
    cov_md = None if res.meat_md is None else binv @ res.meat_md @ binv
    chosen = {"robust": cov_robust, "naive": cov_naive}.get(se, cov_md)
    return GEEResult(
        formula=spec.formula, outcome=outcome, family=family,
        link="identity" if family == "gaussian" else "logit", corr=corr, terms=spec.columns,
        se=se, df=df_val,
        working_correlation=float("nan") if corr == "independence" else res.rho,
        scale=res.scale, n_obs=len(y), n_groups=n_groups, converged=res.converged,
        n_iter=res.n_iter, conf_level=float(conf_level), groups=groups, time=time,
        weighted=weighted, _coef=readonly(res.beta), _cov=readonly(chosen),
        _cov_robust=readonly(cov_robust), _cov_naive=readonly(cov_naive),
        _cov_bias_reduced=None if cov_md is None else readonly(cov_md), _spec=spec,
        notes=notes,
    )


def _check_design(X: np.ndarray, w: np.ndarray, names: list[str]) -> None:
    """Refuse constant or collinear terms among the rows with positive weight, naming them."""
    positive = w > 0
    try:
        check_full_rank(X[positive], names, "the `formula`")
    except DataError as exc:
        if positive.all():
            raise
        raise DataError(f"{exc} (among the {int(positive.sum())} rows with positive "
                        "`weights`)") from None


def _glm_start(y: np.ndarray, X: np.ndarray, w: np.ndarray, family: str, outcome: str,
               names: list[str]) -> np.ndarray:
    """Fit the independence GLM that starts the iterations, as geepack (R's ``glm.fit``).

    A binomial outcome that is constant, or (quasi-)completely separated by the terms,
    among the rows with positive weight is refused: the estimates would be infinite.
    """
    if family == "gaussian":
        return wls(y, X, w).coef
    positive = w > 0
    yp = y[positive]
    if np.all(yp == yp[0]):
        raise DataError(
            f"outcome {outcome!r} is {int(yp[0])} in every row" + ("" if positive.all() else
            " with positive weight") + ": a logistic GEE needs both 0s and 1s")
    fit = logistic(y, X, w)
    if np.abs(fit.eta[positive]).max() > 15 or not fit.converged:
        direction = separation_direction(X[positive], yp)
        if direction is not None:
            raise _separation_error(X[positive], names, yp, direction, outcome)
    return fit.coef


def _separation_error(X: np.ndarray, names: list[str], y: np.ndarray, direction: np.ndarray,
                      outcome: str) -> DataError:
    """Build the error for a (quasi-)separated binomial outcome, naming the separating terms."""
    involved = [names[j] for j in np.flatnonzero(direction) if names[j] != "Intercept"]
    if not involved:
        involved = [n for n in names if n != "Intercept"]
    eta = X @ direction
    perfect = np.flatnonzero((2 * y - 1) * eta > 1e-9 * (1 + np.abs(eta).max()))
    kind = "complete" if len(perfect) == len(y) else "(quasi-)complete"
    return DataError(
        f"{kind} separation: term(s) {', '.join(map(repr, involved))} predict the outcome "
        f"{outcome!r} perfectly for at least {len(perfect)} of {len(y)} rows, so the GEE "
        "estimates do not exist (they are infinite). Merge sparse factor levels or remove "
        "the term(s)"
    )


def _leverage_error(leverage: np.ndarray, labels: Any, groups: str) -> DataError:
    """Build the error for clusters fitted exactly (leverage 1): Mancl-DeRouen is undefined."""
    bad = leverage > _LEVERAGE_ONE
    return DataError(
        f"se='bias-reduced' is undefined here: {int(bad.sum())} {groups!r} cluster(s) have "
        f"leverage 1 ({format_rows(pd.Index(labels)[bad])}): a term, such as a dummy for one "
        f"{groups!r} or one row, fits them exactly, so (I - H_ii) cannot be inverted. Remove "
        "such terms or use se='robust'"
    )


def _warnings(res: _Fit, max_iter: int, se: str, n_groups: int, df: float) -> tuple[str, ...]:
    """Warn about non-convergence and few clusters; return the messages (the notes)."""
    notes = []
    if not res.converged or not np.all(np.isfinite(res.beta)):
        message = (
            f"GEE did not converge in {max_iter} iterations; estimates may be unreliable. Try "
            "corr='independence', fewer terms, or check for (quasi-)separation with a binary "
            "outcome")
        # stack: warn <- _warnings <- gee <- validate_params wrapper <- the caller
        warnings.warn(message, ConvergenceWarning, stacklevel=4)
        notes.append(message)
    if se == "robust" and n_groups < MIN_CLUSTERS and not np.isfinite(df):
        notes.append(warn_small_sample(
            f"only {n_groups} clusters: the robust sandwich with a normal reference tends to "
            "give too-narrow intervals; use se='bias-reduced' with df='clusters'", stacklevel=5))
    return tuple(notes)
