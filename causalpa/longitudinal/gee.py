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
* exchangeable ``alpha = sum_{j<k} w_j w_k r_j r_k / phi / sum_{j<k} w_j w_k`` over all
  within-cluster pairs;
* AR(1): ``corr(y_j, y_k) = alpha^|t_j - t_k|`` with ``alpha`` the weighted least-squares
  fit of ``r_j r_k / phi`` on ``alpha^|t_j - t_k|`` over all within-cluster pairs.

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

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats

from causalpa._validation import check_frame, check_number, check_option
from causalpa.errors import ConvergenceWarning, DataError, SmallSampleWarning, SpecificationError
from causalpa.longitudinal._gee_common import group_codes, parse_model, resolve_weights

__all__ = ["gee", "GEEResult"]

Family = Literal["gaussian", "binomial"]
Corr = Literal["exchangeable", "independence", "ar1"]
SE = Literal["robust", "naive", "bias-reduced"]

_FAMILIES: tuple[str, ...] = ("gaussian", "binomial")
_CORRS: tuple[str, ...] = ("exchangeable", "independence", "ar1")
_SES: tuple[str, ...] = ("robust", "naive", "bias-reduced")
_TIDY = ["term", "estimate", "std_error", "df", "statistic", "p_value", "conf_low", "conf_high"]
_EPS = np.finfo(float).eps


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


def _working_corr(alpha: float, corr: str, lay: _Padded) -> np.ndarray:
    g, m = lay.mask.shape
    mm = lay.mask[:, :, None] & lay.mask[:, None, :]
    if corr == "independence":
        R = np.zeros((g, m, m))
    elif corr == "exchangeable":
        R = np.where(mm, alpha, 0.0)
    else:
        lag = np.abs(lay.time[:, :, None] - lay.time[:, None, :])
        with np.errstate(invalid="ignore"):
            R = np.where(mm, np.power(alpha, lag), 0.0)
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
    alpha: float
    scale: float
    bread: np.ndarray  # sum D~' R^-1 D~ (without 1/phi)
    meat: np.ndarray
    meat_md: np.ndarray | None
    n_iter: int
    converged: bool


def _glm_start(y: np.ndarray, X: np.ndarray, w: np.ndarray, family: str) -> np.ndarray:
    """Weighted GLM (independence) by IRLS: the start, as geepack's glm.fit."""
    beta = np.zeros(X.shape[1])
    if family == "gaussian":
        sw = np.sqrt(w)
        return np.linalg.lstsq(X * sw[:, None], y * sw, rcond=None)[0]
    mu = (w * y + 0.5) / (w + 1.0)
    eta = np.log(mu / (1 - mu))
    for _ in range(50):
        mu, dmu, v = _mean(eta, family)
        z = eta + (y - mu) / dmu
        ww = w * dmu**2 / np.maximum(v, _EPS)
        sw = np.sqrt(ww)
        new = np.linalg.lstsq(X * sw[:, None], z * sw, rcond=None)[0]
        if np.max(np.abs(new - beta)) < 1e-10:
            beta = new
            break
        beta = new
        eta = X @ beta
    return beta


def _fit(
    y: np.ndarray,
    X: np.ndarray,
    w: np.ndarray,
    lay: _Padded,
    family: str,
    corr: str,
    *,
    max_iter: int,
    tol: float,
    bias_reduced: bool,
) -> _Fit:
    beta = _glm_start(y, X, w, family)
    Yp, Xp, Wp = lay.pad(y), lay.pad(X), lay.pad(w)
    pairs = _pairs(lay) if corr != "independence" else None
    alpha = 0.0
    scale = 1.0
    def working(beta: np.ndarray, alpha: float) -> tuple[Any, ...]:
        """Scale, correlation and whitened quantities at ``beta`` (one geepack update)."""
        eta = Xp @ beta
        mu, dmu, v = _mean(eta, family)
        v = np.where(lay.mask, v, 1.0)
        rs = 1.0 / np.sqrt(v)
        pr = np.where(lay.mask, (Yp - mu) * rs, 0.0)
        # scale (geepack update_gamma with identity scale link)
        scale = float(np.sum(Wp * pr**2) / np.sum(Wp))
        # working correlation (geepack update_alpha, solved to convergence)
        if pairs is not None:
            alpha = _estimate_alpha(pr / np.sqrt(scale), Wp, lay, pairs, corr, alpha)
        R = _working_corr(alpha, corr, lay)
        Dt = (np.sqrt(Wp) * dmu * rs)[:, :, None] * Xp
        Dt[~lay.mask] = 0.0
        et = np.sqrt(Wp) * pr
        RinvD = np.linalg.solve(R, Dt)
        return eta, mu, pr, scale, alpha, R, Dt, et, RinvD

    converged = False
    it = 0
    for _ in range(max_iter):
        it += 1
        eta, mu, pr, scale, alpha, R, Dt, et, RinvD = working(beta, alpha)
        H = np.einsum("gmp,gmq->pq", Dt, RinvD)
        G = np.einsum("gmp,gm->p", RinvD, et)
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
        if np.max(np.abs(step)) <= tol:
            converged = True
            break
    # final quantities at beta
    eta, mu, pr, scale, alpha, R, Dt, et, RinvD = working(beta, alpha)
    bread = np.einsum("gmp,gmq->pq", Dt, RinvD)
    U = np.einsum("gmp,gm->gp", RinvD, et)
    meat = U.T @ U
    meat_md = None
    if bias_reduced:
        binv = np.linalg.inv(bread)
        # H~_i = D~_i B^-1 D~_i' R_i^-1 ; U_i^MD = D~_i' R_i^-1 (I - H~_i)^-1 e_i
        Ht = np.einsum("gmp,pq,gnq->gmn", Dt, binv, RinvD)
        m = Ht.shape[1]
        e_adj = np.linalg.solve(np.eye(m)[None] - Ht, et[:, :, None])[:, :, 0]
        Umd = np.einsum("gmp,gm->gp", RinvD, e_adj)
        meat_md = Umd.T @ Umd
    return _Fit(beta, float(alpha), scale, bread, meat, meat_md, it, converged)


def _estimate_alpha(
    z: np.ndarray,
    w: np.ndarray,
    lay: _Padded,
    pairs: tuple[np.ndarray, np.ndarray, np.ndarray],
    corr: str,
    start: float,
) -> float:
    gi, j, k = pairs
    if len(gi) == 0:
        return 0.0
    prod = z[gi, j] * z[gi, k]
    pw = w[gi, j] * w[gi, k]
    if pw.sum() <= 0:
        return 0.0
    if corr == "exchangeable":
        return float(np.sum(pw * prod) / np.sum(pw))
    lag = np.abs(lay.time[gi, k] - lay.time[gi, j])
    a = float(start) if np.isfinite(start) else 0.0
    for _ in range(200):
        with np.errstate(invalid="ignore", divide="ignore"):
            rho = np.power(a, lag)
            drho = np.where(lag == 1.0, 1.0, lag * np.power(a, lag - 1.0))
        denom = np.sum(pw * drho * drho)
        if not np.isfinite(denom) or denom <= 0:
            break
        step = np.sum(pw * drho * (prod - rho)) / denom
        a += step
        if abs(step) < 1e-13:
            break
    return float(a)


# --------------------------------------------------------------------------- result
@dataclass(frozen=True)
class GEEResult:
    """A fitted GEE marginal model (built by :func:`gee`).

    Attributes
    ----------
    formula : str
        Model formula.
    family, link, corr : str
        Outcome family, link function and working-correlation structure.
    terms : tuple of str
        Model-matrix column names.
    params : pandas.Series
        Coefficients (link scale).
    cov : pandas.DataFrame
        Covariance of the coefficients used for inference (see ``se``).
    cov_robust, cov_naive : pandas.DataFrame
        Sandwich and model-based covariances (geepack's ``vbeta`` / ``vbeta.naiv``).
    cov_bias_reduced : pandas.DataFrame or None
        Mancl-DeRouen bias-reduced sandwich (computed when ``se="bias-reduced"``).
    se : str
        Which covariance ``tidy()`` uses.
    df : float
        Degrees of freedom of the t reference (``inf``: normal, as geepack's Wald tests).
    working_correlation : float
        Working-correlation parameter: the exchangeable correlation or the AR(1)
        lag-one correlation (``nan`` for independence).
    scale : float
        Scale (dispersion) estimate.
    n_obs, n_groups : int
        Rows and clusters used.
    converged : bool
        Whether the iterations met the tolerance.
    n_iter : int
        Iterations used.
    conf_level : float
        Confidence level of ``conf_low``/``conf_high``.
    """

    formula: str
    family: str
    link: str
    corr: str
    terms: tuple[str, ...]
    params: pd.Series
    cov: pd.DataFrame
    cov_robust: pd.DataFrame
    cov_naive: pd.DataFrame
    cov_bias_reduced: pd.DataFrame | None
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
    _rhs_spec: Any = field(repr=False, compare=False)
    _fitted_link: pd.Series | None = field(default=None, repr=False, compare=False)

    # -- tables ---------------------------------------------------------------
    def tidy(self) -> pd.DataFrame:
        """Coefficient table: term, estimate, std_error, df, statistic, p_value, conf_low, conf_high."""
        est = self.params.to_numpy()
        se = np.sqrt(np.diag(self.cov.to_numpy()))
        stat = est / se
        df = self.df
        if np.isfinite(df):
            p = 2 * stats.t.sf(np.abs(stat), df)
            q = stats.t.ppf(0.5 + self.conf_level / 2, df)
        else:
            p = 2 * stats.norm.sf(np.abs(stat))
            q = stats.norm.ppf(0.5 + self.conf_level / 2)
        return pd.DataFrame(
            {
                "term": list(self.terms),
                "estimate": est,
                "std_error": se,
                "df": df,
                "statistic": stat,
                "p_value": p,
                "conf_low": est - q * se,
                "conf_high": est + q * se,
            }
        )[_TIDY]

    def working_correlation_matrix(self, times: Any = None, size: int | None = None) -> pd.DataFrame:
        """Working correlation matrix for one cluster.

        Parameters
        ----------
        times : array-like, optional
            Time values (AR(1)); defaults to ``0, 1, ..., size - 1``.
        size : int, optional
            Cluster size when ``times`` is not given (default 4).
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

    def predict(self, newdata: pd.DataFrame | None = None, type: str = "response") -> np.ndarray:
        """Predicted population-average means (``type="response"``) or linear predictor (``"link"``).

        Parameters
        ----------
        newdata : pandas.DataFrame, optional
            Rows to predict for (must contain the right-hand-side variables); by default
            the fitted values for the rows of the data, in their order.
        type : {"response", "link"}
            Scale of the prediction.
        """
        kind = check_option("type", type, ["response", "link"])
        if newdata is None:
            if self._fitted_link is None:  # pragma: no cover - always set by gee()
                raise SpecificationError("`newdata` is required")
            eta = self._fitted_link.to_numpy()
        else:
            check_frame(newdata, "newdata")
            X = np.asarray(self._rhs_spec.get_model_matrix(newdata), dtype=float)
            eta = X @ self.params.to_numpy()
        if kind == "link" or self.family == "gaussian":
            return eta
        return _mean(eta, "binomial")[0]

    def summary(self) -> str:
        """Readable text summary (reads from :meth:`tidy`)."""
        tab = self.tidy()
        se_label = {
            "robust": "robust sandwich",
            "naive": "model-based (naive)",
            "bias-reduced": "bias-reduced sandwich (Mancl-DeRouen)",
        }[self.se]
        ref = "normal" if not np.isfinite(self.df) else f"t({self.df:g})"
        corr = self.corr + ("" if self.corr == "independence"
                            else f" (parameter {self.working_correlation:.4f})")
        lines = [
            f"GEE: {self.formula}",
            f"family {self.family} ({self.link} link); working correlation {corr}",
            f"{self.n_obs} rows in {self.n_groups} clusters ({self.groups!r})"
            + ("; weighted" if self.weighted else ""),
            f"scale {self.scale:.5g}; SEs: {se_label}; reference distribution {ref}",
            "",
            tab.to_string(index=False, float_format=lambda x: f"{x:.4g}"),
        ]
        if not self.converged:
            lines.append("WARNING: the fit did not converge")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        return (
            f"<p><b>GEE</b>: {self.formula} ({self.family}, {self.corr}; {self.n_groups} "
            f"clusters)</p>" + self.tidy().to_html(index=False, float_format=lambda x: f"{x:.4g}")
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python view (coefficient table as a list of records)."""
        return {
            "formula": self.formula,
            "family": self.family,
            "corr": self.corr,
            "working_correlation": self.working_correlation,
            "scale": self.scale,
            "se": self.se,
            "n_obs": self.n_obs,
            "n_groups": self.n_groups,
            "converged": self.converged,
            "coefficients": self.tidy().to_dict(orient="records"),
        }


# --------------------------------------------------------------------------- public
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
    se: SE = "robust",
    df: str | float = "normal",
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
        Time column for ``corr="ar1"``: ``corr(y_j, y_k) = alpha^|t_j - t_k|``, so gaps
        (missed sessions) are respected. Without it, rows are taken in data order
        within each cluster at times 1, 2, ... (geepack's default ``waves``).
    se : {"robust", "naive", "bias-reduced"}
        Cluster-robust sandwich (geepack's ``san.se``), model-based, or the
        Mancl-DeRouen (2001) bias-reduced sandwich, which inflates each cluster's
        residuals by ``(I - H_ii)^{-1}`` and is advisable with fewer than about 50
        clusters.
    df : "normal", "clusters" or float
        Reference distribution for tests and intervals: ``"normal"`` (as geepack),
        ``"clusters"`` (t with G - p degrees of freedom, G clusters and p
        coefficients, as Mancl & DeRouen recommend) or a number.
    conf_level : float
        Confidence level.
    max_iter : int
        Maximum iterations (each: one Fisher-scoring step for the coefficients, then the
        scale and the working correlation, as geepack). Binomial models with a strong
        working correlation can need a few hundred.
    tol : float
        Convergence tolerance on the largest coefficient change.

    Returns
    -------
    GEEResult

    Raises
    ------
    SpecificationError
        Unknown option or malformed formula.
    DataError
        Absent columns, missing values, a non-binary outcome with ``family="binomial"``,
        negative weights, duplicated times within a cluster for AR(1).

    Warns
    -----
    ConvergenceWarning
        The iterations did not converge.
    SmallSampleWarning
        Fewer than 40 clusters with the plain robust sandwich and a normal reference.

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

    >>> import causalpa as cpa  # doctest: +SKIP
    >>> w = cpa.weight(patients, "pa ~ age + C(sex) + phq9_first", estimand="ATE")  # doctest: +SKIP
    >>> fit = cpa.gee(sessions, "phq9 ~ session * pa", weights=w.weights,
    ...               weights_by=patients["patient"])  # doctest: +SKIP

    A self-contained example:

    >>> import numpy as np, pandas as pd
    >>> import causalpa as cpa
    >>> rng = np.random.default_rng(0)
    >>> d = pd.DataFrame({"patient": np.repeat(np.arange(40), 4), "session": np.tile(range(4), 40)})
    >>> d["case"] = (rng.random(160) < 0.7 - 0.1 * d.session).astype(int)
    >>> fit = cpa.gee(d, "case ~ session", family="binomial", corr="ar1", time="session")
    >>> bool(fit.tidy().loc[1, "estimate"] < 0)
    True
    """
    data = check_frame(data, "data")
    family_: str = check_option("family", family, _FAMILIES)
    corr_: str = check_option("corr", corr, _CORRS)
    se_: str = check_option("se", se, _SES)
    family, corr, se = family_, corr_, se_  # type: ignore[assignment]
    conf_level = check_number("conf_level", conf_level, low=0, high=1, low_inclusive=False,
                              high_inclusive=False)
    max_iter = check_number("max_iter", max_iter, low=1, integer=True)
    tol = check_number("tol", tol, low=0, low_inclusive=False)
    if time is not None and not isinstance(time, str):
        raise SpecificationError(f"`time` must be a column name or None; got {time!r}")
    codes, _ = group_codes(data, groups)
    extra: tuple[str, ...] = (groups,) + ((time,) if time is not None else ())
    if time is not None:
        from causalpa._validation import check_columns

        check_columns(data, [time], "time")
    model = parse_model(data, formula, extra=extra)
    y, X = model.y, model.X
    if family == "binomial":
        bad = ~np.isin(y, (0.0, 1.0))
        if bad.any():
            rows = data.index[bad]
            from causalpa._validation import format_rows

            raise DataError(
                f"outcome {model.outcome!r} must be 0/1 (or bool) for family='binomial'; rows "
                f"{format_rows(rows)} are not"
            )
    w = resolve_weights(data, weights, weights_by, groups)
    weighted = w is not None
    if w is None:
        w = np.ones(len(data))
    tvals = None
    if time is not None:
        tser = data[time]
        if not pd.api.types.is_numeric_dtype(tser):
            raise DataError(f"`time` column {time!r} must be numeric")
        tvals = tser.to_numpy(dtype=float)
        if corr == "ar1":
            dup = pd.DataFrame({"g": codes, "t": tvals}).duplicated()
            if dup.any():
                raise DataError(
                    f"`time` column {time!r} repeats a value within a {groups!r} cluster (rows "
                    f"{', '.join(map(str, data.index[dup.to_numpy()][:10]))}); AR(1) needs "
                    "distinct times"
                )
    lay = _layout(codes, tvals)
    n_groups = len(lay.sizes)
    p = X.shape[1]
    if df == "normal":
        df_val = float("inf")
    elif df == "clusters":
        df_val = float(n_groups - p)
        if df_val < 1:
            raise DataError(f"df='clusters' needs more clusters ({n_groups}) than coefficients ({p})")
    else:
        if isinstance(df, str):
            raise SpecificationError(f"`df` must be 'normal', 'clusters' or a number > 0; got {df!r}")
        df_val = float(check_number("df", df, low=0, low_inclusive=False))
    if np.linalg.matrix_rank(X[w > 0]) < p:
        raise DataError(
            f"the model matrix of `formula` {formula!r} is rank deficient (collinear terms, or a "
            "term without variation among rows with positive weight)"
        )
    res = _fit(y, X, w, lay, family, corr, max_iter=max_iter, tol=tol,
               bias_reduced=se == "bias-reduced")
    if not res.converged or not np.all(np.isfinite(res.beta)):
        warnings.warn(
            f"GEE did not converge in {max_iter} iterations; estimates may be unreliable. Try "
            "corr='independence', fewer terms, or check for (quasi-)separation with a binary "
            "outcome",
            ConvergenceWarning,
            stacklevel=2,
        )
    binv = np.linalg.inv(res.bread)
    cov_naive = res.scale * binv
    cov_robust = binv @ res.meat @ binv
    cov_md = None if res.meat_md is None else binv @ res.meat_md @ binv
    if se == "robust" and n_groups < 40 and not np.isfinite(df_val):
        warnings.warn(
            f"only {n_groups} clusters: the robust sandwich with a normal reference tends to "
            "give too-narrow intervals; use se='bias-reduced' with df='clusters'",
            SmallSampleWarning,
            stacklevel=2,
        )
    names = model.names
    def frame(m: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame(m, index=names, columns=names)

    chosen = {"robust": cov_robust, "naive": cov_naive}.get(se, cov_md)
    if chosen is None:  # pragma: no cover - the bias-reduced meat is computed when asked for
        raise RuntimeError("bias-reduced covariance missing")
    return GEEResult(
        formula=formula,
        family=family,
        link="identity" if family == "gaussian" else "logit",
        corr=corr,
        terms=tuple(names),
        params=pd.Series(res.beta, index=names, name="estimate"),
        cov=frame(chosen),
        cov_robust=frame(cov_robust),
        cov_naive=frame(cov_naive),
        cov_bias_reduced=None if cov_md is None else frame(cov_md),
        se=se,
        df=df_val,
        working_correlation=float("nan") if corr == "independence" else res.alpha,
        scale=res.scale,
        n_obs=len(y),
        n_groups=n_groups,
        converged=res.converged,
        n_iter=res.n_iter,
        conf_level=float(conf_level),
        groups=groups,
        time=time,
        weighted=weighted,
        _rhs_spec=model.rhs_spec,
        _fitted_link=pd.Series(X @ res.beta, index=data.index, name="fitted"),
    )
