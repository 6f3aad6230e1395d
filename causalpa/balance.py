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
>>> import numpy as np, pandas as pd
>>> import causalpa as cpa
>>> rng = np.random.default_rng(0)
>>> df = pd.DataFrame({"age": rng.normal(40, 10, 200), "sex": rng.choice(["f", "m"], 200)})
>>> df["pa"] = rng.binomial(1, 1 / (1 + np.exp(-(df["age"] - 40) / 10)))
>>> tab = cpa.balance(df, "pa ~ age + C(sex)")
>>> list(tab.unadjusted.index)
['age', 'sex_f', 'sex_m']
>>> bool(abs(tab.unadjusted.loc["age", "smd"]) > 0.1)
True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from causalpa._callable_module import make_callable
from causalpa._spec import make_spec
from causalpa._validation import check_number, check_option, check_weights

__all__ = ["BalanceTable", "balance", "balance_statistics"]

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


def balance_statistics(
    X: pd.DataFrame,
    t: np.ndarray,
    weights: np.ndarray | None = None,
    *,
    estimand: str = "ATE",
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


@dataclass(frozen=True)
class BalanceTable:
    """Balance before (``unadjusted``) and after (``adjusted``) matching or weighting.

    Attributes
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

    Examples
    --------
    >>> import causalpa as cpa
    >>> df = cpa.datasets.load_pilot()
    >>> tab = cpa.match(df, "pa ~ age + phq9_first").balance()
    >>> tab.estimand, list(tab.unadjusted.index)
    ('ATT', ['distance', 'age', 'phq9_first'])
    >>> list(tab.adjusted.columns[:4])
    ['type', 'mean_treated', 'mean_control', 'smd']
    >>> list(tab.n.index)
    ['All (ESS)', 'All', 'Matched (ESS)', 'Matched', 'Unmatched', 'Discarded']
    >>> tab.tidy().shape[0]  # 3 covariates x (unadjusted, adjusted)
    6
    """

    unadjusted: pd.DataFrame
    adjusted: pd.DataFrame | None
    n: pd.DataFrame
    estimand: str
    threshold: float = 0.1
    method: str = ""

    def tidy(self) -> pd.DataFrame:
        """Long table: one row per covariate and sample ("unadjusted" / "adjusted").

        Includes a boolean ``imbalanced`` column (|SMD| > threshold).
        """
        parts = []
        for name, tab in (("unadjusted", self.unadjusted), ("adjusted", self.adjusted)):
            if tab is None:
                continue
            part = tab.reset_index()
            part.insert(1, "sample", name)
            parts.append(part)
        out = pd.concat(parts, ignore_index=True)
        out["imbalanced"] = out["smd"].abs() > self.threshold
        return out

    @property
    def flags(self) -> list[str]:
        """Covariates with |SMD| above the threshold in the adjusted (else unadjusted) sample."""
        tab = self.adjusted if self.adjusted is not None else self.unadjusted
        return [str(c) for c in tab.index[tab["smd"].abs() > self.threshold]]

    def to_matchit(self, sample: str = "adjusted") -> pd.DataFrame:
        """Return the table with MatchIt's ``summary()`` column names ("sum.all" / "sum.matched").

        Parameters
        ----------
        sample : {"adjusted", "unadjusted"}
        """
        sample = check_option("sample", sample, ["adjusted", "unadjusted"])
        tab = self.adjusted if sample == "adjusted" else self.unadjusted
        if tab is None:
            raise ValueError("no adjusted sample: pass `weights=` or use a matching result")
        out = tab.drop(columns="type").rename(columns=_MATCHIT)
        if sample == "unadjusted":
            out = out.drop(columns="Std. Pair Dist.")
        return out

    def summary(self) -> str:
        """Readable balance report (SMD, variance ratio, eCDF max before/after; flags)."""
        cols = ["smd", "var_ratio", "ecdf_max"]
        show = self.unadjusted[cols].add_suffix(" (before)")
        if self.adjusted is not None:
            show = show.join(self.adjusted[cols].add_suffix(" (after)"))
        lines = [
            f"Balance ({self.estimand}{', ' + self.method if self.method else ''}); "
            f"SMD = standardised mean difference, threshold |SMD| > {self.threshold:g}",
            show.to_string(float_format=lambda v: f"{v:.3f}", na_rep=""),
            "",
            "Sample sizes:",
            self.n.to_string(float_format=lambda v: f"{v:.1f}"),
        ]
        flagged = self.flags
        lines.append(
            f"Imbalanced (|SMD| > {self.threshold:g}): " + (", ".join(flagged) if flagged else "none")
        )
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<BalanceTable\n{self.summary()}\n>"

    def _repr_html_(self) -> str:
        return self.tidy().to_html(index=False, float_format=lambda v: f"{v:.3f}", na_rep="")

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
            _, ax = plt.subplots(figsize=(6, 0.35 * len(self.unadjusted) + 1.5))
        names = list(self.unadjusted.index)[::-1]
        y = np.arange(len(names))
        before = self.unadjusted["smd"].reindex(names).to_numpy(dtype=float)
        if absolute:
            before = np.abs(before)
        ax.scatter(before, y, marker="o", facecolors="none", edgecolors="tab:red",
                   label="unadjusted")
        if self.adjusted is not None:
            after = self.adjusted["smd"].reindex(names).to_numpy(dtype=float)
            if absolute:
                after = np.abs(after)
            ax.scatter(after, y, marker="o", color="tab:blue", label="adjusted")
        ax.axvline(self.threshold, color="grey", linestyle="--", linewidth=1)
        if not absolute:
            ax.axvline(-self.threshold, color="grey", linestyle="--", linewidth=1)
        ax.axvline(0, color="black", linewidth=0.8)
        ax.set_yticks(y, names)
        ax.set_xlabel("|standardised mean difference|" if absolute else "standardised mean difference")
        ax.legend(loc="lower right")
        ax.set_title("Covariate balance")
        return ax


def balance(
    data: pd.DataFrame,
    formula: str | None = None,
    *,
    treatment: str | None = None,
    covariates: list[str] | None = None,
    weights: Any = None,
    estimand: str = "ATE",
    threshold: float = 0.1,
    treated: Any = None,
) -> BalanceTable:
    """Covariate balance between arms, before and (with ``weights``) after adjustment.

    Parameters
    ----------
    data : pandas.DataFrame
        Analysis data (not modified).
    formula : str, optional
        ``"treatment ~ covariates"``; factor terms show every level.
    treatment, covariates : str, list of str, optional
        Column names instead of a formula.
    weights : str or array-like, optional
        Column name or one weight per row (matching or balancing weights).
    estimand : {"ATE", "ATT", "ATC", "ATO"}
        Chooses the standardising SD: pooled (ATE/ATO), treated (ATT), control (ATC).
    threshold : float
        |SMD| above which a covariate is flagged.
    treated : object, optional
        Treated level of a non-0/1 treatment.

    Returns
    -------
    BalanceTable

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"pa": [1, 1, 0, 0, 0], "age": [30.0, 40, 50, 60, 35],
    ...                    "w": [1, 1, 0.5, 0.5, 1]})
    >>> tab = balance(df, treatment="pa", covariates=["age"], weights="w", estimand="ATT")
    >>> float(round(tab.adjusted.loc["age", "mean_control"], 2))
    45.0
    """
    spec = make_spec(data, formula, treatment=treatment, covariates=covariates, treated=treated)
    estimand = check_option("estimand", estimand, ["ATE", "ATT", "ATC", "ATO"])
    threshold = check_number("threshold", threshold, low=0)
    t = spec.treatment_array(data)
    X = spec.covariate_frame(data)
    w = None
    if weights is not None:
        if isinstance(weights, str):
            from causalpa._validation import check_columns, check_no_missing

            check_columns(data, [weights], "weights")
            check_no_missing(data, [weights])
            weights = data[weights].to_numpy()
        w = check_weights(weights, len(data))
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
