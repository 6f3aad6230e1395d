"""The one inference layer: coefficient tables, the small-sample policy and variance estimators.

Every estimator and model in causalpa turns an estimate, a standard error and degrees of
freedom into a confidence interval and p-value with :func:`coef_table`, applies the
small-sample rules of this module, and chooses its variance estimator from one registry
(:data:`VARIANCES`), in the spirit of linearmodels' covariance classes and pyfixest's
``vcov()``:

| name | estimator |
|---|---|
| ``"HC0"``-``"HC3"`` | heteroskedasticity-robust sandwich (R's ``sandwich::vcovHC(type=)``) |
| ``"CR0"`` | cluster sandwich with ``G/(G-1)`` (``vcovCL(type = "HC0")``) |
| ``"CR1"`` | cluster sandwich with ``G/(G-1) (n-1)/(n-k)`` (``vcovCL``'s default) |
| ``"CR2"`` | Bell-McCaffrey bias-reduced cluster sandwich (``clubSandwich``) |
| ``"sandwich"`` | stacked M-estimation sandwich (estimated nuisance models included) |
| ``"influence"`` | sum of squared influence functions, ``sum(phi^2) / n^2`` |
| ``"bootstrap"`` | nonparametric (cluster) bootstrap, percentile interval |
| ``"permutation"`` | randomisation test within matched sets, interval by test inversion |

Each is built with one constructor signature, ``VARIANCES[name](cluster=None,
n_boot=999, n_perm=9999, rng=None)`` (or :func:`variance`), so adding one is one class and
one registry line. Sandwich estimators read a :class:`Moments` object: the unit estimating
functions ``psi``, the *bread* (the inverse of the negative Jacobian of their sum) and,
for leverage corrections, the working design ``xs`` and residuals ``es`` of a fit (see
:class:`causalpa._regression.Fit`); all of them compute ``bread @ meat @ bread.T`` with
the conventions of R's **sandwich** package:

* ``HC0 = B (U'U) B'``; ``HC1`` multiplies by ``n / (n - k)``; ``HC2`` and ``HC3`` divide
  each working residual by ``sqrt(1 - h_i)`` and ``1 - h_i`` (``h`` the leverages);
* ``CR0``/``CR1`` sum the estimating functions within clusters (``cadjust = TRUE``);
* ``CR2`` adjusts each cluster's residuals by ``(I - H_gg)^{-1/2}``; for weighted linear
  models, with ``case_weights``, in clubSandwich's form for weights that are not inverse
  variances (matching or balancing weights).

Examples
--------
>>> import numpy as np
>>> from causalpa._regression import wls
>>> from causalpa.inference import Moments, coef_table, variance
>>> rng = np.random.default_rng(0)
>>> X = np.column_stack([np.ones(40), rng.integers(0, 2, 40)])
>>> fit = wls(X @ [1.0, 2.0] + rng.normal(size=40), X)
>>> V = variance("HC3").vcov(Moments.from_fit(fit))
>>> tab = coef_table(fit.coef, np.sqrt(np.diag(V)), df=38.0, term=["Intercept", "t"])
>>> list(tab.columns)
['term', 'estimate', 'std_error', 'statistic', 'df', 'p_value', 'conf_low', 'conf_high']
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from scipy import stats

from causalpa._validation import Number, RandomState, as_generator, check_value
from causalpa.errors import CausalpaError, DataError, SmallSampleWarning, SpecificationError

__all__ = [
    "TIDY_COLUMNS",
    "critical_value",
    "t_tests",
    "f_test_p",
    "coef_table",
    "SMALL_ARM",
    "MIN_CLUSTERS",
    "is_small",
    "small_sample_inflation",
    "warn_small_sample",
    "Moments",
    "sandwich",
    "Variance",
    "VARIANCES",
    "register_variance",
    "variance",
    "bootstrap",
    "permutation_test",
    "PermutationResult",
]

TIDY_COLUMNS: tuple[str, ...] = ("term", "estimate", "std_error", "statistic", "df", "p_value",
                                 "conf_low", "conf_high")
"""Columns of every table of estimates (effects and model coefficients)."""


# =========================================================================== tables
def critical_value(df: float, conf_level: float) -> float:
    """Two-sided critical value of t(df) (the normal for ``df = inf``).

    Examples
    --------
    >>> round(critical_value(float("inf"), 0.95), 4), round(critical_value(10, 0.95), 4)
    (1.96, 2.2281)
    """
    if not np.isfinite(df):
        return float(stats.norm.ppf(0.5 + conf_level / 2))
    return float(stats.t.ppf(0.5 + conf_level / 2, df))


def t_tests(estimate: Any, std_error: Any, df: Any = math.inf,
            conf_level: float = 0.95) -> dict[str, np.ndarray]:
    """Statistics, two-sided p-values and intervals of many estimates (arrays in, arrays out).

    The arithmetic behind :func:`coef_table` and the batched power kernels: the statistic
    is ``estimate / std_error`` (NaN where the standard error is 0 or not finite, and then
    no p-value), ``p = 2 P(T <= -|statistic|)`` with ``T ~ t(df)`` (the normal where ``df``
    is infinite), and the interval ``estimate -/+ q std_error`` with ``q`` the two-sided
    critical value of each distinct ``df``.

    Examples
    --------
    >>> out = t_tests(np.array([1.0, 2.0]), np.array([0.5, 0.0]), 10.0)
    >>> [round(float(v), 4) for v in out["p_value"][:1]], bool(np.isnan(out["p_value"][1]))
    ([0.0734], True)
    """
    from scipy import special

    est = np.asarray(estimate, dtype=float)
    se = np.asarray(std_error, dtype=float)
    dfs = np.broadcast_to(np.asarray(df, dtype=float), est.shape)
    ok = (se > 0) & np.isfinite(se)
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = np.where(ok, est / np.where(ok, se, 1.0), np.nan)
    x = -np.abs(stat)
    finite = np.isfinite(dfs)
    p = 2 * np.where(finite, special.stdtr(np.where(finite, dfs, 1.0), x), special.ndtr(x))
    p = np.where(ok & ~np.isnan(dfs), p, np.nan)
    # critical values are costly: one per distinct df (usually one or a few)
    uniq, inv = np.unique(dfs, return_inverse=True)
    qs = np.array([np.nan if np.isnan(d) else critical_value(float(d), conf_level)
                   for d in uniq], dtype=float)
    q = qs[inv].reshape(est.shape)
    return {"statistic": stat, "p_value": p, "conf_low": est - q * se,
            "conf_high": est + q * se, "df": np.asarray(dfs, dtype=float)}


def f_test_p(statistic: float, num_df: float, den_df: float) -> float:
    """P-value of a Wald F statistic: F(num_df, den_df), or chi-square(num_df) / num_df.

    Examples
    --------
    >>> round(f_test_p(4.0, 2, 30.0), 4), round(f_test_p(4.0, 2, math.inf), 4)
    (0.0288, 0.0183)
    """
    if not np.isfinite(den_df):
        return float(stats.chi2.sf(statistic * num_df, num_df))
    return float(stats.f.sf(statistic, num_df, den_df))


def coef_table(
    estimate: Any,
    std_error: Any,
    df: Any = math.inf,
    conf_level: float = 0.95,
    *,
    term: Sequence[str] | str | None = None,
    log_scale: bool = False,
) -> pd.DataFrame:
    """Estimates with standard errors -> t (or normal) statistics, p-values and intervals.

    The one place where causalpa computes ``statistic = estimate / std_error``,
    ``p = 2 P(T > |statistic|)`` with ``T ~ t(df)`` (normal for ``df = inf``; NaN when the
    standard error is 0 or not finite) and ``estimate -/+ q std_error`` with ``q`` the
    two-sided critical value.

    Parameters
    ----------
    estimate, std_error : float or array-like
        Estimates and standard errors (on the log scale if ``log_scale``).
    df : float or array-like
        Degrees of freedom per estimate (``inf``: normal reference).
    conf_level : float
        Confidence level of the intervals.
    term : str or sequence of str, optional
        Row labels (default ``"estimate"``, ``"estimate_1"``, ...).
    log_scale : bool
        Report ``exp(estimate)`` and exponentiated limits (risk and odds ratios); the
        standard error and the statistic stay on the log scale.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`TIDY_COLUMNS`.

    Examples
    --------
    >>> [round(float(v), 4) for v in coef_table(1.0, 0.5).iloc[0].tolist()[1:]]
    [1.0, 0.5, 2.0, inf, 0.0455, 0.02, 1.98]
    """
    est = np.atleast_1d(np.asarray(estimate, dtype=float))
    se = np.atleast_1d(np.asarray(std_error, dtype=float))
    k = len(est)
    if term is None:
        labels = ["estimate"] + [f"estimate_{j}" for j in range(1, k)]
    else:
        labels = [term] if isinstance(term, str) else [str(t) for t in term]
    out = t_tests(est, se, df, conf_level)
    stat, p, lo, hi, dfs = (out[c] for c in ("statistic", "p_value", "conf_low", "conf_high",
                                             "df"))
    out_est = est
    if log_scale:  # math.exp, not numpy's vectorised exp: the same last digits everywhere
        out_est, lo, hi = (np.array([math.exp(v) for v in a]) for a in (est, lo, hi))
    return pd.DataFrame({"term": labels, "estimate": out_est, "std_error": se, "statistic": stat,
                         "df": np.asarray(dfs, dtype=float), "p_value": p, "conf_low": lo,
                         "conf_high": hi}, columns=list(TIDY_COLUMNS))


# =========================================================================== small samples
SMALL_ARM: int = 20
"""Arms smaller than this get small-sample inference and a SmallSampleWarning."""
MIN_CLUSTERS: int = 40
"""Longitudinal sandwiches on fewer clusters than this warn (use a bias-reduced sandwich)."""


def is_small(n_treated: int, n_control: int, threshold: int = SMALL_ARM) -> bool:
    """Whether an arm is too small for large-sample inference (the package's one rule).

    Examples
    --------
    >>> is_small(16, 22), is_small(40, 60)
    (True, False)
    """
    return min(n_treated, n_control) < threshold


def small_sample_inflation(std_error: float, n: int, p: int) -> tuple[float, float]:
    """Inflate a standard error by ``sqrt(n / (n - p))``; return it with the t df ``n - p``.

    The rule of the weighting and AIPW estimators when :func:`is_small` (calibrated by
    simulation at n = 38); ``p`` counts the parameters of every model involved.

    Examples
    --------
    >>> se, df = small_sample_inflation(1.0, 38, 6)
    >>> round(se, 4), df
    (1.0897, 32.0)
    """
    dfres = max(n - p, 1)
    return std_error * math.sqrt(n / dfres), float(dfres)


def warn_small_sample(message: str, stacklevel: int = 3) -> str:
    """Issue a :class:`~causalpa.errors.SmallSampleWarning` and return the message (for notes)."""
    warnings.warn(message, SmallSampleWarning, stacklevel=stacklevel)
    return message


# =========================================================================== sandwiches
@dataclass(frozen=True)
class Moments:
    """Estimating functions at the estimate, the input of every sandwich estimator.

    Attributes
    ----------
    psi : ndarray
        Unit estimating functions (n x p).
    bread : ndarray
        Inverse of the negative Jacobian of ``sum(psi)`` (p x p); for (weighted) least
        squares and GLMs ``(xs' xs)^{-1}``.
    xs, es : ndarray or None
        Working design and residuals of a regression fit (``psi = xs * es``), needed for
        the leverage corrections of HC2, HC3 and CR2.
    rank : int or None
        ``k`` in the small-sample factors (default: the number of columns).
    case_weights : ndarray or None
        Weights that are not inverse variances (matching/balancing weights) of a weighted
        linear model, for CR2 in clubSandwich's form.
    """

    psi: np.ndarray
    bread: np.ndarray
    xs: np.ndarray | None = None
    es: np.ndarray | None = None
    rank: int | None = None
    case_weights: np.ndarray | None = None

    @classmethod
    def from_fit(cls, fit: Any, *, case_weights: np.ndarray | None = None) -> Moments:
        """Moments of a regression :class:`~causalpa._regression.Fit` (working form)."""
        xs = np.asarray(fit.xs, dtype=float)
        es = np.asarray(fit.es, dtype=float)
        return cls(psi=xs * es[:, None], bread=np.linalg.pinv(xs.T @ xs), xs=xs, es=es,
                   rank=int(fit.rank), case_weights=case_weights)

    @classmethod
    def stacked(cls, psi: np.ndarray, jacobian: np.ndarray) -> Moments:
        """Moments of a stacked M-estimator: ``psi`` and the Jacobian of ``sum(psi)``."""
        return cls(psi=np.asarray(psi, dtype=float), bread=np.linalg.pinv(-jacobian))

    @property
    def n(self) -> int:
        """Number of units."""
        return int(self.psi.shape[0])

    @property
    def k(self) -> int:
        """Parameters counted in small-sample factors."""
        return int(self.psi.shape[1] if self.rank is None else self.rank)


def sandwich(bread: np.ndarray, meat: np.ndarray) -> np.ndarray:
    """``bread @ meat @ bread.T``: the one sandwich product of the package.

    Examples
    --------
    >>> import numpy as np
    >>> sandwich(np.eye(2) * 2, np.eye(2)).tolist()
    [[4.0, 0.0], [0.0, 4.0]]
    """
    return bread @ meat @ bread.T


def _factorize(cluster: Any, n: int) -> tuple[np.ndarray, np.ndarray]:
    cluster = np.asarray(cluster)
    if cluster.shape[0] != n:
        raise DataError(f"`cluster` has length {cluster.shape[0]}; expected {n}")
    if pd.isna(cluster).any():
        raise DataError("`cluster` has missing values")
    codes, uniques = pd.factorize(cluster, sort=True)
    return codes.astype(np.int64), np.asarray(uniques)


def _groups(codes: np.ndarray) -> list[np.ndarray]:
    order = np.argsort(codes, kind="stable")
    return np.split(order, np.flatnonzero(np.diff(codes[order])) + 1)


def _inv_sqrt_psd(M: np.ndarray) -> np.ndarray:
    vals, vecs = np.linalg.eigh((M + M.T) / 2)
    inv = np.where(vals > 1e-12, 1.0 / np.sqrt(np.clip(vals, 1e-12, None)), 0.0)
    return (vecs * inv) @ vecs.T


def _needs_working(m: Moments, name: str) -> tuple[np.ndarray, np.ndarray]:
    if m.xs is None or m.es is None:
        raise SpecificationError(
            f"the {name} sandwich needs a regression fit (leverages); it is not available "
            "for this estimator")
    return m.xs, m.es


def _cr2_meat(m: Moments, groups: list[np.ndarray]) -> np.ndarray:
    xs, es = _needs_working(m, "CR2")
    p = xs.shape[1]
    bread = m.bread
    meat = np.zeros((p, p))
    if m.case_weights is None:
        for idx in groups:
            Xg = xs[idx]
            ug = Xg.T @ (_inv_sqrt_psd(np.eye(len(idx)) - Xg @ bread @ Xg.T) @ es[idx])
            meat += np.outer(ug, ug)
        return meat
    # weights that are not inverse variances (clubSandwich's default for weighted lm):
    # working covariance Theta = I, G_g = I - H_gg - H_gg' + X_g M Omega M X_g'
    w = np.asarray(m.case_weights, dtype=float)
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
    return meat


# =========================================================================== the registry
class Variance:
    """A variance estimator (registry entry), built with the one constructor signature.

    Parameters
    ----------
    cluster : array-like, optional
        Cluster labels, one per unit (matched sets, therapists); needed by the cluster
        estimators, optional for the bootstrap (resample whole clusters).
    n_boot : int
        Bootstrap replicates.
    n_perm : int
        Permutation draws.
    rng : None, int, SeedSequence or Generator
        Randomness of the bootstrap and permutation draws (SPEC 7).

    Examples
    --------
    >>> from causalpa.inference import VARIANCES
    >>> sorted(VARIANCES)
    ['CR0', 'CR1', 'CR2', 'HC0', 'HC1', 'HC2', 'HC3', 'bootstrap', 'influence', 'permutation', 'sandwich']
    >>> VARIANCES["CR2"](cluster=[1, 1, 2, 2]).kind
    'sandwich'
    """

    name: ClassVar[str] = ""
    kind: ClassVar[str] = "sandwich"
    needs_cluster: ClassVar[bool] = False
    description: ClassVar[str] = ""

    def __init__(self, *, cluster: Any = None, n_boot: int = 999, n_perm: int = 9999,
                 rng: Any = None) -> None:
        self.n_boot = check_value("n_boot", n_boot, [Number(low=2, integer=True)])
        self.n_perm = check_value("n_perm", n_perm, [Number(low=2, integer=True)])
        self.rng = check_value("rng", rng, [RandomState()])
        if self.needs_cluster and cluster is None:
            raise SpecificationError(
                f"the {self.name} variance needs `cluster=` (e.g. the matched subclass)")
        self.cluster = None if cluster is None else np.asarray(cluster)

    def __repr__(self) -> str:
        return f"<Variance {self.name}: {self.description}>"

    def vcov(self, moments: Moments) -> np.ndarray:
        """Covariance matrix of the parameters (sandwich estimators)."""
        raise SpecificationError(f"the {self.name} variance has no covariance matrix")

    def df(self, moments: Moments) -> float:
        """Degrees of freedom of the t reference (``inf``: normal)."""
        return math.inf


VARIANCES: dict[str, type[Variance]] = {}
"""The variance estimators by name (see the table above); each class below adds itself with
``register_variance``, so the registry is full once the module is imported."""


def register_variance(cls: type[Variance]) -> type[Variance]:
    """Add a :class:`Variance` subclass to :data:`VARIANCES` under its ``name`` (decorator)."""
    VARIANCES[cls.name] = cls
    return cls


def variance(se: str | Variance, **options: Any) -> Variance:
    """Build the variance estimator named ``se`` (or return ``se`` if it is one already).

    Examples
    --------
    >>> variance("hc3").name
    'HC3'
    >>> variance("jackknife")
    Traceback (most recent call last):
    ...
    causalpa.errors.SpecificationError: `se` must be one of 'HC0', 'HC1', 'HC2', 'HC3', 'CR0', 'CR1', 'CR2', 'sandwich', 'influence', 'bootstrap', 'permutation' or a causalpa.inference.Variance; got 'jackknife'
    """
    if isinstance(se, Variance):
        return se
    from causalpa._validation import Instance, Options

    name = check_value("se", se, [Options(*VARIANCES),
                                  Instance(Variance, "a causalpa.inference.Variance")])
    return VARIANCES[name](**options)


class _HC(Variance):
    description = "heteroskedasticity-robust sandwich"

    def vcov(self, moments: Moments) -> np.ndarray:
        m = moments
        psi = m.psi
        if self.name in ("HC2", "HC3"):
            xs, es = _needs_working(m, self.name)
            h = np.einsum("ij,jk,ik->i", xs, m.bread, xs)
            one_h = np.clip(1 - h, 1e-12, None)
            psi = xs * (es / (np.sqrt(one_h) if self.name == "HC2" else one_h))[:, None]
        V = sandwich(m.bread, psi.T @ psi)
        if self.name == "HC1":
            V *= m.n / (m.n - m.k)
        return V

    def df(self, moments: Moments) -> float:
        return float(max(moments.n - moments.k, 1))


class _CR(Variance):
    description = "cluster-robust sandwich"
    needs_cluster = True

    def n_clusters(self) -> int:
        """Count the clusters."""
        assert self.cluster is not None
        return len(np.unique(self.cluster))

    def vcov(self, moments: Moments) -> np.ndarray:
        m = moments
        codes, _ = _factorize(self.cluster, m.n)
        G = int(codes.max()) + 1
        if G < 2:
            raise DataError("cluster-robust standard errors need at least 2 clusters; got 1")
        if self.name == "CR2":
            return sandwich(m.bread, _cr2_meat(m, _groups(codes)))
        S = np.zeros((G, m.psi.shape[1]))
        np.add.at(S, codes, m.psi)
        V = sandwich(m.bread, S.T @ S) * (G / (G - 1))
        if self.name == "CR1":
            V *= (m.n - 1) / (m.n - m.k)
        return V

    def df(self, moments: Moments) -> float:
        return float(max(self.n_clusters() - 1, 1))


def _variant(base: type[Variance], name: str, description: str) -> type[Variance]:
    cls = type(name, (base,), {"name": name, "description": description,
                               "__doc__": f"The {name} {description} (registry entry)."})
    return register_variance(cls)


for _n in ("HC0", "HC1", "HC2", "HC3"):
    _variant(_HC, _n, "heteroskedasticity-robust sandwich (sandwich::vcovHC)")
_variant(_CR, "CR0", "cluster sandwich, G/(G-1) (vcovCL type HC0)")
_variant(_CR, "CR1", "cluster sandwich, G/(G-1)(n-1)/(n-k) (vcovCL type HC1)")
_variant(_CR, "CR2", "Bell-McCaffrey bias-reduced cluster sandwich (clubSandwich CR2)")


@register_variance
class MEstimation(Variance):
    """Stacked M-estimation sandwich: nuisance models' estimating equations included."""

    name = "sandwich"
    description = "stacked M-estimation sandwich (accounts for estimated nuisance models)"

    def vcov(self, moments: Moments) -> np.ndarray:
        return sandwich(moments.bread, moments.psi.T @ moments.psi)


@register_variance
class Influence(MEstimation):
    """Variance from influence functions: ``sum(phi^2) / n^2`` (bread ``1 / n``)."""

    name = "influence"
    description = "influence-function variance"


@register_variance
class Bootstrap(Variance):
    """Nonparametric bootstrap (whole clusters when ``cluster`` is given); percentile CI."""

    name = "bootstrap"
    kind = "bootstrap"
    description = "nonparametric bootstrap, percentile interval"

    def replicates(self, statistic: Callable[[np.ndarray], float], n: int) -> np.ndarray:
        """Finite replicates of ``statistic`` (see :func:`bootstrap`)."""
        return bootstrap(statistic, n, cluster=self.cluster, n_boot=self.n_boot, rng=self.rng)


@register_variance
class Permutation(Variance):
    """Randomisation test within matched subclasses; interval by test inversion."""

    name = "permutation"
    kind = "permutation"
    needs_cluster = True
    description = "permutation test within matched sets, CI by test inversion"

    def test(self, y: np.ndarray, focal: np.ndarray, *, conf_level: float = 0.95,
             sign: int = 1) -> PermutationResult:
        """Run :func:`permutation_test` on the clusters (matched subclasses)."""
        return permutation_test(y, focal, self.cluster, n_perm=self.n_perm,
                                conf_level=conf_level, rng=self.rng, sign=sign)


# =========================================================================== resampling
REPLICATE_FAILURES: tuple[type[BaseException], ...] = (
    CausalpaError, np.linalg.LinAlgError, ValueError, ZeroDivisionError, FloatingPointError)
"""Failures of a bootstrap replicate that drop it (an arm empty in a resample and the like)."""


def bootstrap(
    statistic: Callable[[np.ndarray], float],
    n: int,
    *,
    cluster: Any = None,
    n_boot: int = 999,
    rng: Any = None,
    min_replicates: int = 10,
) -> np.ndarray:
    """Nonparametric (cluster) bootstrap of a statistic: the one resampling loop.

    Whole clusters (matched pairs / subclasses) are resampled with replacement;
    without clusters single units are. ``statistic`` receives the row indices of
    a resample (with repeats) and returns a float; replicates that fail (raise one of
    :data:`REPLICATE_FAILURES` or return a non-finite value, e.g. an empty arm) are
    dropped, with their warnings silenced.

    Raises
    ------
    DataError
        Fewer than ``min_replicates`` replicates succeeded.

    Examples
    --------
    >>> import numpy as np
    >>> y = np.arange(10.0)
    >>> reps = bootstrap(lambda idx: y[idx].mean(), 10, n_boot=200, rng=1)
    >>> reps.shape
    (200,)
    """
    gen = as_generator(rng)
    if cluster is None:
        groups = [np.array([i]) for i in range(n)]
    else:
        groups = _groups(_factorize(cluster, n)[0])
    G = len(groups)
    out = np.empty(n_boot)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for b in range(n_boot):
            pick = gen.integers(0, G, G)
            idx = np.concatenate([groups[g] for g in pick])
            try:
                out[b] = statistic(idx)
            except REPLICATE_FAILURES:
                out[b] = np.nan
    out = out[np.isfinite(out)]
    if len(out) < min_replicates:
        raise DataError("too few successful bootstrap replicates; the sample is too small")
    return out


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
    subclass: Any,
    *,
    n_perm: int = 9999,
    conf_level: float = 0.95,
    rng: Any = None,
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
    >>> res = permutation_test(y, focal, sub, n_perm=999, rng=0)
    >>> float(res.statistic)
    3.8
    >>> bool(res.p_value < 0.1)
    True
    """
    y = np.asarray(y, dtype=float)
    focal = np.asarray(focal).astype(bool)
    members = _groups(_factorize(subclass, len(y))[0])
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
    gen = as_generator(rng)
    sizes = np.array([len(m) for m in members])
    draws = (gen.random((n_perm, len(members))) * sizes).astype(np.int64)
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
