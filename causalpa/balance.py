"""Covariate balance: standardised mean differences, variance ratios, eCDF statistics.

The statistics follow MatchIt's ``summary.matchit`` (``bal1var``) exactly, so a
balance table after matching equals ``summary(m, un = TRUE)``:

* **Means** of each arm, weighted by the matching/balancing weights.
* **Standardised mean difference** (treated minus control) divided by a
  standard deviation computed in the *full, unweighted* sample: the treated
  arm's SD for the ATT, the control arm's for the ATC, and the pooled
  ``sqrt((s1^2 + s0^2) / 2)`` for the ATE/ATO (cobalt's conventions). Binary
  (0/1) variables are standardised too, with the SD ``sqrt(p (1 - p))``;
  continuous SDs use ``n - 1``. A difference below ``sqrt(machine eps)`` is
  reported unstandardised (it is 0 for all purposes).
* **Variance ratio** treated / control (weighted variances with the
  ``1 - sum(w^2)`` correction; blank for binary variables).
* **eCDF mean / max**: mean and maximum absolute difference between the
  weighted empirical CDFs of the arms; the maximum is the (weighted)
  Kolmogorov-Smirnov statistic. For binary variables both equal the absolute
  difference in proportions.
* **Std. pair distance** (after matching): mean absolute within-pair difference
  divided by the same SD.

Every level of a factor is its own row (``Spec.covariate_frame``).

Examples
--------
>>> import causalpa as cpa
>>> pilot = cpa.datasets.load_pilot()
>>> tab = cpa.balance(pilot, treatment="pa", covariates=["age", "sex", "ltc"], estimand="ATT")
>>> list(tab.unadjusted.index)
['age', 'sex_female', 'sex_male', 'ltc']
>>> tab.flags
['age', 'sex_female', 'sex_male', 'ltc']
"""

from __future__ import annotations

from dataclasses import InitVar, dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from causalpa._callable_module import make_callable
from causalpa._data_checks import align_to_rows
from causalpa._spec import make_spec
from causalpa._validation import (
    NONE,
    Boolean,
    Column,
    Columns,
    Instance,
    Number,
    check_arm_sizes,
    check_columns,
    check_no_missing,
    check_weights,
    validate_params,
)
from causalpa.errors import SpecificationError
from causalpa.estimation import Estimand
from causalpa.propensity import FORMULA
from causalpa.results import Result

__all__ = ["BalanceTable", "balance", "balance_statistics", "sample_sizes"]

Sample = Literal["adjusted", "unadjusted"]
"""Which sample of a balance table to show."""
WEIGHTS = (Column(), Instance((np.ndarray, pd.Series, list, tuple), "one weight per row"), NONE)
"""Weights: a column name or one weight per row."""

_EPS = float(np.sqrt(np.finfo(float).eps))
_COLS = ["type", "mean_treated", "mean_control", "smd", "var_ratio", "ecdf_mean", "ecdf_max",
         "pair_dist"]
_MATCHIT = {
    "mean_treated": "Means Treated",
    "mean_control": "Means Control",
    "smd": "Std. Mean Diff.",
    "var_ratio": "Var. Ratio",
    "ecdf_mean": "eCDF Mean",
    "ecdf_max": "eCDF Max",
    "pair_dist": "Std. Pair Dist.",
}


def _wvar(x: np.ndarray, binary: bool, w: np.ndarray | None = None) -> float:
    w = np.ones(len(x)) if w is None else w
    w = w / w.sum()
    mx = float(np.sum(w * x))
    if binary:
        return mx * (1 - mx)
    return float(np.sum(w * (x - mx) ** 2) / (1 - np.sum(w**2)))


def _pooled_sd_proportional(x: np.ndarray, t: np.ndarray, binary: bool) -> float:
    n = len(x)
    if binary:
        v = 0.0
        for g in (0, 1):
            s = x[t == g].sum()
            v += s * (1 - s / max((t == g).sum(), 1)) / n
        return float(np.sqrt(v))
    xc = x.astype(float).copy()
    for g in (0, 1):
        xc[t == g] -= xc[t == g].mean()
    return float(np.sqrt(np.sum(xc**2) / (n - 2)))


def _ecdf_stats(x: np.ndarray, t: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    w = w.astype(float).copy()
    for g in (0, 1):
        s = w[t == g].sum()
        if s > 0:
            w[t == g] /= s
    order = np.argsort(x, kind="stable")
    xo, wo, to = x[order], w[order], t[order]
    signed = np.where(to == to[0], -wo, wo)
    cum = np.abs(np.cumsum(signed))
    last = np.r_[xo[1:] != xo[:-1], True]
    e = cum[last]
    return float(e.mean()), float(e.max())


def _bal1var(
    x: np.ndarray, t: np.ndarray, w: np.ndarray | None, denom: str,
    pairs: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[str, list[float]]:
    """MatchIt's ``bal1var`` with ``standardize = TRUE``; returns (type, 7 statistics)."""
    unweighted = w is None
    ww = np.ones(len(x)) if w is None else w
    binary = bool(np.all((x == 0) | (x == 1)))
    i1, i0 = t == 1, t == 0
    too_small = (np.sum(ww[i1] != 0) < 2) and (np.sum(ww[i0] != 0) < 2)
    m1 = float(np.sum(x[i1] * ww[i1]) / np.sum(ww[i1]))
    m0 = float(np.sum(x[i0] * ww[i0]) / np.sum(ww[i0]))
    mdiff = m1 - m0
    out = [m1, m0, np.nan, np.nan, np.nan, np.nan, np.nan]
    std = None
    if abs(mdiff) > _EPS:
        if not too_small:
            if denom == "treated":
                std = np.sqrt(_wvar(x[i1], binary))
            elif denom == "control":
                std = np.sqrt(_wvar(x[i0], binary))
            else:
                std = np.sqrt((_wvar(x[i1], binary) + _wvar(x[i0], binary)) / 2)
            if not np.isfinite(std) or std < _EPS:
                std = _pooled_sd_proportional(x, t, binary)
            out[2] = mdiff / std
    else:
        out[2] = mdiff
    if not unweighted and pairs is not None and (std is not None or abs(mdiff) <= _EPS):
        fi, mi = pairs
        pd_ = float(np.mean(np.abs(x[fi] - x[mi]))) if len(fi) else np.nan
        if std is not None and abs(pd_) > 1e-8:
            pd_ /= std
        out[6] = pd_
    if binary:
        out[4] = out[5] = abs(mdiff)
    elif not too_small:
        out[3] = _wvar(x[i1], False, ww[i1]) / _wvar(x[i0], False, ww[i0])
        # as MatchIt: zero-weight units stay in the grid of evaluation points
        out[4], out[5] = _ecdf_stats(x, t, ww)
    return ("binary" if binary else "continuous"), out


@validate_params()
def balance_statistics(
    X: pd.DataFrame,
    t: np.ndarray,
    weights: np.ndarray | None = None,
    *,
    estimand: Estimand = "ATE",
    pairs: tuple[np.ndarray, np.ndarray] | None = None,
) -> pd.DataFrame:
    """Balance statistics for every column of ``X`` (array core of :func:`balance`).

    Parameters
    ----------
    X : pandas.DataFrame
        Numeric covariates (one column per factor level).
    t : ndarray
        0/1 treatment.
    weights : ndarray, optional
        Matching or balancing weights; ``None`` for the unadjusted sample.
    estimand : {"ATT", "ATC", "ATE", "ATO"}
        Chooses the standardising SD (treated, control, pooled, pooled).
    pairs : (ndarray, ndarray), optional
        Positions of focal units and their matches (one entry per match) for the
        mean within-pair distance.

    Returns
    -------
    pandas.DataFrame
        Indexed by covariate with columns type, mean_treated, mean_control, smd,
        var_ratio, ecdf_mean, ecdf_max, pair_dist.

    Examples
    --------
    >>> X = pd.DataFrame({"x": [1.0, 2, 3, 4, 5, 6]})
    >>> round(float(balance_statistics(X, np.array([1, 1, 1, 0, 0, 0]), estimand="ATT").loc["x", "smd"]), 6)
    -3.0
    """
    denom = {"ATT": "treated", "ATC": "control"}.get(estimand, "pooled")
    t = np.asarray(t).astype(int)
    rows = {}
    types = {}
    for col in X.columns:
        x = np.asarray(X[col], dtype=float)
        types[col], rows[col] = _bal1var(x, t, weights, denom, pairs)
    out = pd.DataFrame.from_dict(rows, orient="index", columns=_COLS[1:])
    out.insert(0, "type", pd.Series(types))
    out.index.name = "covariate"
    return out


def _ess(w: np.ndarray) -> float:
    return float(w.sum() ** 2 / np.sum(w**2)) if np.any(w > 0) else 0.0


def sample_sizes(t: np.ndarray, weights: np.ndarray | None) -> pd.DataFrame:
    """Count units by arm as MatchIt's ``summary()$nn`` (all, effective and matched/weighted)."""
    t = np.asarray(t).astype(int)
    ones = np.ones(len(t))
    rows = {
        "All (ESS)": [_ess(ones[t == 0]), _ess(ones[t == 1])],
        "All": [float((t == 0).sum()), float((t == 1).sum())],
    }
    if weights is not None:
        w = np.asarray(weights, dtype=float)
        rows["Adjusted (ESS)"] = [_ess(w[t == 0]), _ess(w[t == 1])]
        rows["Adjusted"] = [float(((t == 0) & (w > 0)).sum()), float(((t == 1) & (w > 0)).sum())]
        rows["Unmatched"] = [float(((t == 0) & (w == 0)).sum()), float(((t == 1) & (w == 0)).sum())]
    return pd.DataFrame.from_dict(rows, orient="index", columns=["Control", "Treated"])


# =========================================================================== the table
class _BalanceViews(Result):
    """Copies of a balance table's parts (the constructor of :class:`BalanceTable` takes them)."""

    _unadjusted: pd.DataFrame
    _adjusted: pd.DataFrame | None
    _n: pd.DataFrame

    @property
    def unadjusted(self) -> pd.DataFrame:
        """Statistics in the full, unweighted sample (a new DataFrame)."""
        return self._unadjusted.copy()

    @property
    def adjusted(self) -> pd.DataFrame | None:
        """Statistics with the matching or balancing weights (a new DataFrame, or None)."""
        return None if self._adjusted is None else self._adjusted.copy()

    @property
    def n(self) -> pd.DataFrame:
        """Sample sizes by arm: all, effective (ESS), matched / weighted (a new DataFrame)."""
        return self._n.copy()


@dataclass(frozen=True, repr=False, eq=False)
class BalanceTable(_BalanceViews):
    """Balance before (``unadjusted``) and after (``adjusted``) matching or weighting.

    ``tidy()`` is the long table: one row per covariate (or factor level) and sample,
    with the statistics of :func:`balance_statistics` and ``imbalanced``
    (|SMD| > ``threshold``). ``summary()`` shows SMD, variance ratio and eCDF max
    before and after side by side; :meth:`plot` draws the love plot.

    Parameters
    ----------
    unadjusted : pandas.DataFrame
        Statistics in the full, unweighted sample (one row per covariate / factor level).
    adjusted : pandas.DataFrame or None
        Statistics with the matching or balancing weights (None if none were given).
    n : pandas.DataFrame
        Sample sizes by arm (all, effective sample size, matched / weighted).
    estimand : str
        Target population; chooses the standardising SD.
    threshold : float
        |SMD| above which a covariate is flagged (default 0.1).
    method : str
        How the adjusted sample was made.

    Attributes
    ----------
    unadjusted, adjusted, n : pandas.DataFrame
        Copies of the tables given (``adjusted`` may be None).
    flags : list of str
        Covariates with |SMD| above ``threshold`` after adjustment.

    Examples
    --------
    >>> import causalpa as cpa
    >>> df = cpa.datasets.load_pilot()
    >>> tab = cpa.balance(df, "pa ~ age + phq9_first", estimand="ATT")
    >>> tab.estimand, list(tab.unadjusted.index)
    ('ATT', ['age', 'phq9_first'])
    >>> list(tab.unadjusted.columns[:4])
    ['type', 'mean_treated', 'mean_control', 'smd']
    >>> list(tab.n.index)
    ['All (ESS)', 'All']
    >>> tab.tidy()[["covariate", "sample", "smd"]].round(3)
        covariate      sample    smd
    0         age  unadjusted -0.852
    1  phq9_first  unadjusted -0.105
    """

    # the tables are taken by the constructor and kept as private copies; the
    # properties of _BalanceViews return copies of them (field() keeps them required)
    unadjusted: InitVar[pd.DataFrame] = field()
    adjusted: InitVar[pd.DataFrame | None] = field()
    n: InitVar[pd.DataFrame] = field()
    estimand: str = field()
    threshold: float = 0.1
    method: str = ""
    _unadjusted: pd.DataFrame = field(init=False, repr=False)
    _adjusted: pd.DataFrame | None = field(init=False, repr=False)
    _n: pd.DataFrame = field(init=False, repr=False)

    def __post_init__(self, unadjusted: pd.DataFrame, adjusted: pd.DataFrame | None,
                      n: pd.DataFrame) -> None:
        object.__setattr__(self, "_unadjusted", unadjusted.copy())
        object.__setattr__(self, "_adjusted", None if adjusted is None else adjusted.copy())
        object.__setattr__(self, "_n", n.copy())

    # ------------------------------------------------------------------ protocol
    def _tidy(self) -> pd.DataFrame:
        parts = []
        for name, tab in (("unadjusted", self._unadjusted), ("adjusted", self._adjusted)):
            if tab is None:
                continue
            part = tab.reset_index()
            part.insert(1, "sample", name)
            parts.append(part)
        out = pd.concat(parts, ignore_index=True)
        out["imbalanced"] = out["smd"].abs() > self.threshold
        return out

    def _title(self) -> str:
        how = f", {self.method}" if self.method else ""
        return (f"Balance ({self.estimand}{how}); SMD = standardised mean difference, "
                f"threshold |SMD| > {self.threshold:g}")

    def _display(self, table: pd.DataFrame) -> pd.DataFrame:
        """SMD, variance ratio and eCDF max before and after, side by side."""
        cols = ["smd", "var_ratio", "ecdf_max"]
        parts = []
        for sample, label in (("unadjusted", "before"), ("adjusted", "after")):
            rows = table[table["sample"] == sample]
            if len(rows):
                parts.append(rows.set_index("covariate")[cols].add_suffix(f" ({label})"))
                flagged = rows.set_index("covariate")["imbalanced"]
        if not parts:
            return table
        return pd.concat(parts, axis=1).assign(imbalanced=flagged).reset_index()

    def _meta(self) -> dict[str, Any]:
        sizes = {str(row): {str(arm): float(v) for arm, v in values.items()}
                 for row, values in self._n.iterrows()}
        return {"estimand": self.estimand, "method": self.method or None,
                "threshold": float(self.threshold), "sample_sizes": sizes,
                "imbalanced": self.flags}

    # ------------------------------------------------------------------ views
    @property
    def flags(self) -> list[str]:
        """Covariates with |SMD| above the threshold in the adjusted (else unadjusted) sample."""
        tab = self._adjusted if self._adjusted is not None else self._unadjusted
        return [str(c) for c in tab.index[tab["smd"].abs() > self.threshold]]

    @validate_params()
    def to_matchit(self, sample: Sample = "adjusted") -> pd.DataFrame:
        """Return the table with MatchIt's ``summary()`` column names ("sum.all" / "sum.matched").

        Parameters
        ----------
        sample : {"adjusted", "unadjusted"}
            The sample after adjustment (``summary(m)$sum.matched``) or before
            (``$sum.all``, without the pair distance).

        Returns
        -------
        pandas.DataFrame
            One row per covariate, MatchIt's column names.
        """
        tab = self._adjusted if sample == "adjusted" else self._unadjusted
        if tab is None:
            raise SpecificationError(
                "`sample='adjusted'` needs an adjusted sample: pass `weights=` to balance() "
                "or use the .balance() of a matching or weighting result")
        out = tab.drop(columns="type").rename(columns=_MATCHIT)
        if sample == "unadjusted":
            out = out.drop(columns="Std. Pair Dist.")
        return out

    @validate_params({"absolute": Boolean()})
    def plot(self, ax: Any = None, *, absolute: bool = True) -> Any:
        """Love plot: |SMD| per covariate before and after, with threshold lines.

        Parameters
        ----------
        ax : matplotlib Axes, optional
            Axes to draw on (a new figure otherwise).
        absolute : bool
            Plot |SMD| (default) or signed SMD (with lines at +-threshold).

        Returns
        -------
        matplotlib.axes.Axes
        """
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(6, 0.35 * len(self._unadjusted) + 1.5))
        names = list(self._unadjusted.index)[::-1]
        y = np.arange(len(names))
        samples = [("unadjusted", self._unadjusted, {"marker": "o", "facecolors": "none",
                                                     "edgecolors": "tab:red"})]
        if self._adjusted is not None:
            samples.append(("adjusted", self._adjusted, {"marker": "o", "color": "tab:blue"}))
        for label, tab, style in samples:
            smd = tab["smd"].reindex(names).to_numpy(dtype=float)
            ax.scatter(np.abs(smd) if absolute else smd, y, label=label, **style)
        ax.axvline(self.threshold, color="grey", linestyle="--", linewidth=1)
        if not absolute:
            ax.axvline(-self.threshold, color="grey", linestyle="--", linewidth=1)
        ax.axvline(0, color="black", linewidth=0.8)
        ax.set_yticks(y, names)
        ax.set_xlabel("|standardised mean difference|" if absolute else "standardised mean difference")
        ax.legend(loc="lower right")
        ax.set_title("Covariate balance")
        return ax


# =========================================================================== public API
def _weight_vector(data: pd.DataFrame, weights: Any) -> np.ndarray:
    """Return the weights as an array: a column of ``data`` or one weight per row.

    A pandas Series is aligned on ``data.index`` (by label, as ``match(distance=)`` and
    ``estimate_effect(weights=)``); other sequences are read by position.
    """
    if isinstance(weights, str):
        check_columns(data, [weights], "weights")
        check_no_missing(data, [weights])
        weights = data[weights].to_numpy()
    return check_weights(align_to_rows(data, weights, "weights"), len(data))


@validate_params({"formula": FORMULA, "treatment": [Column(), NONE],
                  "covariates": [Columns(), NONE], "weights": WEIGHTS,
                  "threshold": Number(low=0)})
def balance(
    data: pd.DataFrame,
    formula: str | None = None,
    *,
    treatment: str | None = None,
    covariates: list[str] | None = None,
    weights: str | np.ndarray | pd.Series | None = None,
    estimand: Estimand = "ATE",
    threshold: float = 0.1,
    treated: Any = None,
) -> BalanceTable:
    """Covariate balance between arms, before and (with ``weights``) after adjustment.

    Parameters
    ----------
    data : pandas.DataFrame
        Analysis data (not modified).
    formula : str or Spec, optional
        ``"treatment ~ covariates"``; factor terms show every level.
    treatment, covariates : str, list of str, optional
        Column names instead of a formula.
    weights : str or array-like, optional
        Column name or one weight per row (matching or balancing weights); a pandas
        Series is aligned on the index of ``data`` (every row needs a weight).
    estimand : {"ATE", "ATT", "ATC", "ATO"}
        Chooses the standardising SD: pooled (ATE/ATO), treated (ATT), control (ATC).
    threshold : float
        |SMD| above which a covariate is flagged.
    treated : object, optional
        Treated level of a non-0/1 treatment.

    Returns
    -------
    BalanceTable

    Raises
    ------
    SpecificationError
        An option outside its declared values (``estimand``, ``threshold``, ...).
    DataError
        Missing values, a non-binary treatment, weights of the wrong length or sign, a
        weight Series without a weight for some rows, or an arm whose weights are all
        zero (there is no weighted arm to compare).

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"pa": [1, 1, 0, 0, 0], "age": [30.0, 40, 50, 60, 35],
    ...                    "w": [1, 1, 0.5, 0.5, 1]})
    >>> tab = balance(df, treatment="pa", covariates=["age"], weights="w", estimand="ATT")
    >>> float(round(tab.adjusted.loc["age", "mean_control"], 2))
    45.0
    >>> tab.tidy()[["covariate", "sample", "mean_control"]]
      covariate      sample  mean_control
    0       age  unadjusted     48.333333
    1       age    adjusted     45.000000
    """
    spec = make_spec(data, formula, treatment=treatment, covariates=covariates, treated=treated)
    t = spec.treatment_array(data)
    X = spec.covariate_frame(data)
    w = None if weights is None else _weight_vector(data, weights)
    if w is not None:
        check_arm_sizes(t, spec.treatment, "a weighted balance table", minimum=1, weights=w)
    return BalanceTable(
        unadjusted=balance_statistics(X, t, None, estimand=estimand).drop(columns="pair_dist")
        .assign(pair_dist=np.nan),
        adjusted=None if w is None else balance_statistics(X, t, w, estimand=estimand),
        n=sample_sizes(t, w),
        estimand=estimand,
        threshold=threshold,
        method="weighted" if w is not None else "",
    )


make_callable(__name__, "balance")
