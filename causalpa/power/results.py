"""Results of power analyses, on the result protocol of :mod:`causalpa.results`.

:class:`PowerResult`, :class:`PowerCurve`, :class:`SampleSizeResult` and
:class:`AnalyticResult`.

One truth, many views: a simulated result keeps the per-replicate table
(``replicates``) and computes its summary table, ``tidy()``, once from it;
``summary()``, ``repr``, the notebook view and ``to_dict()`` are the protocol's
views of ``tidy()``. Results are frozen and return copies.

Examples
--------
>>> from causalpa.power.results import clopper_pearson
>>> lo, hi = clopper_pearson(80, 100)
>>> round(lo, 4), round(hi, 4)
(0.7082, 0.8733)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from causalpa.results import Result

__all__ = ["PowerResult", "PowerCurve", "SampleSizeResult", "AnalyticResult",
           "clopper_pearson", "summarise_replicates", "SUMMARY_COLUMNS"]

SUMMARY_COLUMNS = [
    "analysis",
    "outcome",
    "n",
    "n_total",
    "power",
    "power_low",
    "power_high",
    "n_sims",
    "n_valid",
    "n_failed",
    "n_rejected",
    "truth",
    "mean_estimate",
    "bias",
    "rmse",
    "mean_std_error",
    "empirical_se",
    "coverage",
]
"""Columns of :meth:`PowerResult.tidy`."""
_SHOWN = ["analysis", "outcome", "n", "power", "power_low", "power_high", "n_valid", "n_failed",
          "truth", "bias", "rmse", "coverage"]


def clopper_pearson(k: int, n: int, conf_level: float = 0.95) -> tuple[float, float]:
    """Exact (Clopper-Pearson) confidence interval for a binomial proportion ``k / n``.

    Parameters
    ----------
    k : int
        Successes (rejections).
    n : int
        Trials (valid replicates).
    conf_level : float
        Confidence level.

    Returns
    -------
    tuple of float
        ``(low, high)``; ``(nan, nan)`` when ``n == 0``.

    Examples
    --------
    >>> clopper_pearson(0, 10)[0]
    0.0
    """
    if n <= 0:
        return float("nan"), float("nan")
    a = 1 - conf_level
    lo = 0.0 if k == 0 else float(stats.beta.ppf(a / 2, k, n - k + 1))
    hi = 1.0 if k == n else float(stats.beta.ppf(1 - a / 2, k + 1, n - k))
    return lo, hi


def _accuracy(ok: pd.DataFrame) -> dict[str, float]:
    """Bias, RMSE and coverage against the truth of the valid replicates."""
    est = ok["estimate"].to_numpy(dtype=float)
    truth = ok["truth"].to_numpy(dtype=float)
    finite_t = np.isfinite(truth)
    if not (finite_t.any() and len(est)):
        return {"bias": float("nan"), "rmse": float("nan"), "coverage": float("nan")}
    err = est[finite_t] - truth[finite_t]
    cl = ok["conf_low"].to_numpy(dtype=float)[finite_t]
    ch = ok["conf_high"].to_numpy(dtype=float)[finite_t]
    has_ci = np.isfinite(cl) & np.isfinite(ch)
    cover = (
        float(np.mean((cl[has_ci] <= truth[finite_t][has_ci])
                      & (truth[finite_t][has_ci] <= ch[has_ci])))
        if has_ci.any() else float("nan")
    )
    return {"bias": float(np.nanmean(err)), "rmse": float(np.sqrt(np.nanmean(err**2))),
            "coverage": cover}


def _summary_row(g: pd.DataFrame, conf_level: float) -> dict[str, Any]:
    failed = g["failed"].to_numpy(dtype=bool)
    ok = g.loc[~failed]
    k = int(ok["reject"].sum())
    nv = int(len(ok))
    lo, hi = clopper_pearson(k, nv, conf_level)
    est = ok["estimate"].to_numpy(dtype=float)
    truth = ok["truth"].to_numpy(dtype=float)
    se = ok["std_error"].to_numpy(dtype=float)
    acc = _accuracy(ok)
    return {
        "power": k / nv if nv else float("nan"),
        "power_low": lo,
        "power_high": hi,
        "n_sims": int(len(g)),
        "n_valid": nv,
        "n_failed": int(failed.sum()),
        "n_rejected": k,
        "truth": float(np.nanmean(truth)) if np.isfinite(truth).any() else float("nan"),
        "mean_estimate": float(np.nanmean(est)) if len(est) and np.isfinite(est).any()
        else float("nan"),
        "bias": acc["bias"],
        "rmse": acc["rmse"],
        "mean_std_error": float(np.nanmean(se)) if np.isfinite(se).any() else float("nan"),
        "empirical_se": float(np.nanstd(est, ddof=1)) if np.isfinite(est).sum() > 1
        else float("nan"),
        "coverage": acc["coverage"],
    }


def summarise_replicates(
    reps: pd.DataFrame, *, n: int, n_total: int, conf_level: float = 0.95
) -> pd.DataFrame:
    """Summarise a per-replicate table into one row per analysis and outcome.

    ``reps`` has columns ``replicate, analysis, outcome, estimate, std_error,
    conf_low, conf_high, p_value, reject, failed, truth``. Rows named
    ``outcome == "all"`` / ``"any"`` carry the multiplicity-combined decisions.
    Power is ``rejections / valid replicates``: failed fits are excluded and
    counted in ``n_failed`` (never silently counted as non-rejections).
    """
    rows = [{"analysis": analysis, "outcome": outcome, "n": n, "n_total": n_total,
             **_summary_row(g, conf_level)}
            for (analysis, outcome), g in reps.groupby(["analysis", "outcome"], sort=False)]
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


# =========================================================================== PowerResult
@dataclass(frozen=True, repr=False, eq=False)
class PowerResult(Result):
    """Simulated power of one design at one sample size.

    ``tidy()`` has one row per analysis and outcome: power with its exact
    (Clopper-Pearson) Monte-Carlo interval, failures, and bias, RMSE and coverage
    against the simulator's truth.

    Attributes
    ----------
    design : str
        Description of the design (its ``repr``).
    n : int
        Sample size as the design counts it (per arm for trials, total for
        observational studies).
    n_total : int
        Participants recruited in all.
    n_sims : int
        Replicates simulated.
    alpha : float
        Significance level (per test, before multiplicity adjustment).
    seed : int or None
        Entropy of the root :class:`numpy.random.SeedSequence` (recorded: repeat the
        run with ``rng=result.seed``).
    path : str
        "batched" (vectorised numpy) or "general" (one fit per replicate).
    elapsed : float
        Wall-clock seconds.
    multiplicity : str or None
        The adjustment applied to the p-values, "holm" or "bonferroni"; None when
        no family of tests (the outcomes of an analysis, or an analysis plan) holds
        more than one test, so nothing was adjusted.
    conf_level : float
        Level of the Monte-Carlo interval for power (Clopper-Pearson).
    """

    design: str
    n: int
    n_total: int
    n_sims: int
    alpha: float
    seed: int | None
    path: str
    _replicates: pd.DataFrame = field(repr=False)
    _warnings: pd.DataFrame = field(repr=False)
    _errors: pd.DataFrame = field(repr=False)
    elapsed: float = 0.0
    multiplicity: str | None = None
    conf_level: float = 0.95
    _table: pd.DataFrame = field(init=False, repr=False)

    def __post_init__(self) -> None:
        table = summarise_replicates(self._replicates, n=self.n, n_total=self.n_total,
                                     conf_level=self.conf_level)
        object.__setattr__(self, "_table", table)

    # ------------------------------------------------------------------ data
    @property
    def replicates(self) -> pd.DataFrame:
        """One row per replicate, analysis and outcome (a copy).

        Plus the combined ``"all"`` / ``"any"`` rows when several outcomes are tested.
        """
        return self._replicates.copy()

    @property
    def warnings(self) -> pd.DataFrame:
        """Warnings raised during the fits, aggregated: category, message, count."""
        return self._warnings.copy()

    @property
    def errors(self) -> pd.DataFrame:
        """Failed fits, aggregated: analysis, outcome, error type, message, count."""
        return self._errors.copy()

    @property
    def power(self) -> float:
        """Power of the first analysis/outcome row (the headline number)."""
        return float(self._table["power"].iloc[0])

    @property
    def power_ci(self) -> tuple[float, float]:
        """Clopper-Pearson interval of :attr:`power`."""
        row = self._table.iloc[0]
        return float(row["power_low"]), float(row["power_high"])

    @property
    def n_failed(self) -> int:
        """Failed fits (all analyses)."""
        return int(self._table["n_failed"].sum())

    @property
    def notes(self) -> tuple[str, ...]:
        """Failed fits and the most frequent warning, if any."""
        out = []
        if len(self._errors):
            top = self._errors.iloc[0]
            out.append(f"{int(self._errors['count'].sum())} fits failed and are excluded "
                       f"from power (see .errors); most frequent: {top['error']}: "
                       f"{top['message']} (x{top['count']})")
        if len(self._warnings):
            top = self._warnings.iloc[0]
            out.append(f"{int(self._warnings['count'].sum())} warnings during the fits (see "
                       f".warnings); most frequent: {top['category']}: {top['message']} "
                       f"(x{top['count']})")
        return tuple(out)

    # ------------------------------------------------------------------ protocol
    def _tidy(self) -> pd.DataFrame:
        return self._table

    def _title(self) -> str:
        return f"Simulated power: {self.design}"

    def _display(self, table: pd.DataFrame) -> pd.DataFrame:
        return table[_SHOWN]

    def _meta(self) -> dict[str, Any]:
        return {"n": self.n, "n_total": self.n_total, "n_sims": self.n_sims,
                "alpha": self.alpha, "multiplicity": self.multiplicity,
                "conf_level": self.conf_level, "path": self.path, "seed": self.seed,
                "elapsed_seconds": round(self.elapsed, 3), "n_failed": self.n_failed}


# =========================================================================== PowerCurve
def _power_axes(ax: Any) -> Any:
    """Label a plot of power against n."""
    ax.set_xlabel("n")
    ax.set_ylabel("power")
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=8)
    return ax


@dataclass(frozen=True, repr=False, eq=False)
class PowerCurve(Result):
    """Simulated power over a grid of sample sizes (same replicate seeds at every n).

    ``tidy()`` stacks the :meth:`PowerResult.tidy` tables of every n.

    Attributes
    ----------
    results : tuple of PowerResult
        One result per sample size, in increasing n.
    """

    results: tuple[PowerResult, ...]

    @property
    def ns(self) -> list[int]:
        """Sample sizes of the curve."""
        return [r.n for r in self.results]

    def _tidy(self) -> pd.DataFrame:
        return pd.concat([r.tidy() for r in self.results], ignore_index=True)

    def _title(self) -> str:
        return f"Power curve: {self.results[0].design}"

    def _display(self, table: pd.DataFrame) -> pd.DataFrame:
        return table[["analysis", "outcome", "n", "n_total", "power", "power_low", "power_high",
                      "n_failed"]]

    def _meta(self) -> dict[str, Any]:
        first = self.results[0]
        return {"ns": self.ns, "n_sims": first.n_sims, "alpha": first.alpha,
                "multiplicity": first.multiplicity, "conf_level": first.conf_level,
                "path": first.path, "seed": first.seed,
                "elapsed_seconds": round(sum(r.elapsed for r in self.results), 3)}

    @property
    def notes(self) -> tuple[str, ...]:
        """The notes of the results, with their sample size."""
        return tuple(f"n = {r.n}: {note}" for r in self.results for note in r.notes)

    def plot(self, ax: Any = None, *, target: float | None = 0.8, analytic: Any = None) -> Any:
        """Plot power against n with Clopper-Pearson error bars.

        Parameters
        ----------
        ax : matplotlib Axes, optional
            Axes to draw on (a new figure otherwise).
        target : float, optional
            Draw a horizontal line at this power.
        analytic : callable, optional
            ``analytic(n) -> power``, drawn as a dashed line for comparison.

        Returns
        -------
        matplotlib.axes.Axes
        """
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(6, 4))
        f = self.tidy()
        for (analysis, outcome), g in f.groupby(["analysis", "outcome"], sort=False):
            yerr = np.vstack([g["power"] - g["power_low"], g["power_high"] - g["power"]])
            ax.errorbar(g["n"], g["power"], yerr=yerr, marker="o", capsize=3,
                        label=f"{analysis} / {outcome}")
        if analytic is not None:
            grid = np.linspace(min(self.ns), max(self.ns), 100)
            ax.plot(grid, [analytic(x) for x in grid], "k--", lw=1, label="analytic")
        if target is not None:
            ax.axhline(target, color="grey", lw=0.8, ls=":")
        return _power_axes(ax)


# =========================================================================== SampleSizeResult
@dataclass(frozen=True, repr=False, eq=False)
class SampleSizeResult(Result):
    """Smallest n whose simulated power reaches the target.

    ``tidy()`` is one row: the n found, its power with the Monte-Carlo interval and
    the target; :attr:`evaluations` lists every n tried.

    Attributes
    ----------
    n : int
        Design size found (per arm for trials, in all for observational studies).
    n_total : int
        Participants in all.
    power, power_low, power_high : float
        Simulated power at ``n`` and its Clopper-Pearson interval.
    target : float
        Target power.
    result : PowerResult
        The simulation at ``n``.
    analysis, outcome : str
        The row of the results whose power was targeted.
    """

    n: int
    n_total: int
    power: float
    power_low: float
    power_high: float
    target: float
    result: PowerResult
    _evaluations: pd.DataFrame = field(repr=False)
    analysis: str = ""
    outcome: str = ""

    @property
    def evaluations(self) -> pd.DataFrame:
        """Every n tried with its power and interval (a copy)."""
        return self._evaluations.copy()

    @property
    def notes(self) -> tuple[str, ...]:
        """A note when the Monte-Carlo interval still includes powers below the target."""
        if self.power_low < self.target:
            return ("the Monte-Carlo interval includes powers below the target; increase "
                    "n_sims for a firmer answer",)
        return ()

    def _tidy(self) -> pd.DataFrame:
        return pd.DataFrame([{"analysis": self.analysis, "outcome": self.outcome, "n": self.n,
                              "n_total": self.n_total, "power": self.power,
                              "power_low": self.power_low, "power_high": self.power_high,
                              "target": self.target}])

    def _title(self) -> str:
        return (f"Sample size: n = {self.n} ({self.n_total} in all) reaches power "
                f"{self.power:.3f} (target {self.target:g})")

    def _meta(self) -> dict[str, Any]:
        r = self.result
        return {"design": r.design, "n_sims": r.n_sims, "alpha": r.alpha,
                "conf_level": r.conf_level, "seed": r.seed,
                "evaluated": [int(v) for v in self._evaluations["n"]]}

    def plot(self, ax: Any = None) -> Any:
        """Plot the power of every n evaluated, with intervals, the target and the n found.

        Returns
        -------
        matplotlib.axes.Axes
        """
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(6, 4))
        ev = self.evaluations.sort_values("n")
        yerr = np.vstack([ev["power"] - ev["power_low"], ev["power_high"] - ev["power"]])
        ax.errorbar(ev["n"], ev["power"], yerr=yerr, marker="o", capsize=3, ls="none",
                    label="evaluated")
        ax.axhline(self.target, color="grey", lw=0.8, ls=":", label=f"target {self.target:g}")
        ax.axvline(self.n, color="C3", lw=0.8, ls="--", label=f"n = {self.n}")
        return _power_axes(ax)


# =========================================================================== AnalyticResult
@dataclass(frozen=True, repr=False, eq=False)
class AnalyticResult(Result):
    """Result of an analytic power calculation.

    ``tidy()`` is one row: the inputs and the solved quantity, the group sizes
    rounded up and the calculation's details (df, noncentrality, ...).

    Attributes
    ----------
    test : str
        Which calculation ("two-sample t", "two proportions (arcsine)", "ANCOVA").
    solved_for : str
        The quantity that was solved for ("n", "power", "d", "h", "p2").
    n : float
        Size of the first group (a real number when solved for, as in ``pwr``).
    n2 : float
        Size of the second group (equal to ``n`` for equal allocation).
    power : float
        Power.
    effect : float
        Standardised effect (Cohen's d, or Cohen's h for proportions).
    alpha : float
        Significance level.
    alternative : str
        "two-sided", "greater" or "less".
    """

    test: str
    solved_for: str
    n: float
    n2: float
    power: float
    effect: float
    alpha: float
    alternative: str
    _details: tuple[tuple[str, Any], ...] = ()

    @property
    def details(self) -> dict[str, Any]:
        """Extra inputs and results (proportions, rho, df, noncentrality); a new dict."""
        return dict(self._details)

    @property
    def n_ceil(self) -> int:
        """Size of the first group rounded up to a whole participant."""
        return int(math.ceil(self.n - 1e-9))

    @property
    def n2_ceil(self) -> int:
        """Size of the second group rounded up to a whole participant."""
        return int(math.ceil(self.n2 - 1e-9))

    @property
    def n_total(self) -> int:
        """Total participants after rounding each group up."""
        return self.n_ceil + self.n2_ceil

    def _tidy(self) -> pd.DataFrame:
        row = {"test": self.test, "solved_for": self.solved_for, "n": self.n, "n2": self.n2,
               "power": self.power, "effect": self.effect, "alpha": self.alpha,
               "alternative": self.alternative, "n_ceil": self.n_ceil,
               "n2_ceil": self.n2_ceil, "n_total": self.n_total, **dict(self._details)}
        return pd.DataFrame([row])

    def _title(self) -> str:
        return f"{self.test} power calculation (solved for {self.solved_for})"

    def _display(self, table: pd.DataFrame) -> pd.DataFrame:
        return table.drop(columns=["test", "solved_for"])

    def _meta(self) -> dict[str, Any]:
        return {"participants": f"{self.n_ceil} + {self.n2_ceil} = {self.n_total}"}
