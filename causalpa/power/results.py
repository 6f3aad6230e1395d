"""Results of simulated power analyses: :class:`PowerResult` and :class:`PowerCurve`.

One truth, many views: a result keeps the per-replicate table
(``replicates``) and the summary table (``tidy()``) computed once from it;
``summary()``, ``repr`` and ``to_dict()`` read from ``tidy()``.

Examples
--------
>>> from causalpa.power.results import clopper_pearson
>>> lo, hi = clopper_pearson(80, 100)
>>> round(lo, 4), round(hi, 4)
(0.7082, 0.8733)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["PowerResult", "PowerCurve", "clopper_pearson", "summarise_replicates"]

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
    rows = []
    for (analysis, outcome), g in reps.groupby(["analysis", "outcome"], sort=False):
        failed = g["failed"].to_numpy(dtype=bool)
        ok = g.loc[~failed]
        k = int(ok["reject"].sum())
        nv = int(len(ok))
        lo, hi = clopper_pearson(k, nv, conf_level)
        est = ok["estimate"].to_numpy(dtype=float)
        truth = ok["truth"].to_numpy(dtype=float)
        finite_t = np.isfinite(truth)
        t0 = float(np.nanmean(truth)) if finite_t.any() else float("nan")
        if finite_t.any() and len(est):
            err = est[finite_t] - truth[finite_t]
            bias = float(np.nanmean(err))
            rmse = float(np.sqrt(np.nanmean(err**2)))
            cl = ok["conf_low"].to_numpy(dtype=float)[finite_t]
            ch = ok["conf_high"].to_numpy(dtype=float)[finite_t]
            has_ci = np.isfinite(cl) & np.isfinite(ch)
            cover = (
                float(np.mean((cl[has_ci] <= truth[finite_t][has_ci])
                              & (truth[finite_t][has_ci] <= ch[has_ci])))
                if has_ci.any() else float("nan")
            )
        else:
            bias = rmse = cover = float("nan")
        se = ok["std_error"].to_numpy(dtype=float)
        rows.append(
            {
                "analysis": analysis,
                "outcome": outcome,
                "n": n,
                "n_total": n_total,
                "power": k / nv if nv else float("nan"),
                "power_low": lo,
                "power_high": hi,
                "n_sims": int(len(g)),
                "n_valid": nv,
                "n_failed": int(failed.sum()),
                "n_rejected": k,
                "truth": t0,
                "mean_estimate": float(np.nanmean(est)) if len(est) and np.isfinite(est).any()
                else float("nan"),
                "bias": bias,
                "rmse": rmse,
                "mean_std_error": float(np.nanmean(se)) if np.isfinite(se).any() else float("nan"),
                "empirical_se": float(np.nanstd(est, ddof=1)) if np.isfinite(est).sum() > 1
                else float("nan"),
                "coverage": cover,
            }
        )
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


@dataclass(frozen=True)
class PowerResult:
    """Simulated power of one design at one sample size.

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
        Seed of the root :class:`numpy.random.SeedSequence`.
    path : str
        "batched" (vectorised numpy) or "general" (one fit per replicate).
    replicates : pandas.DataFrame
        One row per replicate, analysis and outcome (plus the combined
        ``"all"`` / ``"any"`` rows when several outcomes are tested).
    warnings : pandas.DataFrame
        Warnings raised during the fits, aggregated: category, message, count.
    errors : pandas.DataFrame
        Failed fits, aggregated: analysis, outcome, error type, message, count.
    elapsed : float
        Wall-clock seconds.
    multiplicity : str or None
        "holm", "bonferroni" or None.
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
    replicates: pd.DataFrame = field(repr=False)
    warnings: pd.DataFrame = field(repr=False)
    errors: pd.DataFrame = field(repr=False)
    elapsed: float = 0.0
    multiplicity: str | None = None
    conf_level: float = 0.95
    _table: pd.DataFrame | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        table = summarise_replicates(
            self.replicates, n=self.n, n_total=self.n_total, conf_level=self.conf_level
        )
        object.__setattr__(self, "_table", table)

    # ---- views
    def tidy(self) -> pd.DataFrame:
        """Summary table: one row per analysis and outcome (power with its exact CI)."""
        assert self._table is not None
        return self._table.copy()

    @property
    def power(self) -> float:
        """Power of the first analysis/outcome row (the headline number)."""
        return float(self.tidy()["power"].iloc[0])

    @property
    def power_ci(self) -> tuple[float, float]:
        """Clopper-Pearson interval of :attr:`power`."""
        row = self.tidy().iloc[0]
        return float(row["power_low"]), float(row["power_high"])

    @property
    def n_failed(self) -> int:
        """Failed fits (all analyses)."""
        return int(self.tidy()["n_failed"].sum())

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict of the summary and the run's metadata."""
        table = self.tidy().replace({np.nan: None})
        return {
            "design": self.design,
            "n": self.n,
            "n_total": self.n_total,
            "n_sims": self.n_sims,
            "alpha": self.alpha,
            "seed": self.seed,
            "path": self.path,
            "multiplicity": self.multiplicity,
            "elapsed_seconds": self.elapsed,
            "results": table.to_dict(orient="records"),
            "warnings": self.warnings.to_dict(orient="records"),
            "errors": self.errors.to_dict(orient="records"),
        }

    def summary(self) -> str:
        """Return a short human-readable report."""
        lvl = f"{100 * self.conf_level:g}%"
        lines = [
            f"Simulated power: {self.design}",
            f"  n = {self.n} ({self.n_total} in all), {self.n_sims} replicates, "
            f"alpha = {self.alpha:g}"
            + (f", {self.multiplicity} adjustment" if self.multiplicity else "")
            + f", {self.path} path, seed {self.seed}, {self.elapsed:.2f} s",
        ]
        for _, r in self.tidy().iterrows():
            label = f"{r['analysis']} / {r['outcome']}"
            line = (
                f"  {label:<32} power {r['power']:.3f} [{lvl} CI {r['power_low']:.3f}, "
                f"{r['power_high']:.3f}]"
            )
            if np.isfinite(r["bias"]):
                line += (f"  bias {r['bias']:+.3f}  RMSE {r['rmse']:.3f}"
                         f"  coverage {r['coverage']:.3f}")
            if r["n_failed"]:
                line += f"  FAILED {r['n_failed']}/{r['n_sims']}"
            lines.append(line)
        if len(self.errors):
            lines.append(f"  failed fits: {int(self.errors['count'].sum())} (see .errors)")
        if len(self.warnings):
            top = self.warnings.iloc[0]
            lines.append(
                f"  warnings: {int(self.warnings['count'].sum())} in all; most frequent: "
                f"{top['category']}: {top['message']} (x{top['count']})"
            )
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<PowerResult\n{self.summary()}\n>"

    def _repr_html_(self) -> str:
        return self.tidy().to_html(index=False, float_format=lambda v: f"{v:.4g}")


@dataclass(frozen=True)
class PowerCurve:
    """Simulated power over a grid of sample sizes (same replicate seeds at every n).

    Attributes
    ----------
    results : tuple of PowerResult
        One result per sample size, in increasing n.
    """

    results: tuple[PowerResult, ...]

    def to_frame(self) -> pd.DataFrame:
        """Long table: the :meth:`PowerResult.tidy` rows of every n stacked."""
        return pd.concat([r.tidy() for r in self.results], ignore_index=True)

    tidy = to_frame

    @property
    def ns(self) -> list[int]:
        """Sample sizes of the curve."""
        return [r.n for r in self.results]

    def summary(self) -> str:
        """Return the curve as a small text table."""
        f = self.to_frame()
        cols = ["analysis", "outcome", "n", "n_total", "power", "power_low", "power_high",
                "n_failed"]
        return f[cols].to_string(index=False, float_format=lambda v: f"{v:.3f}")

    def __repr__(self) -> str:
        return f"<PowerCurve\n{self.summary()}\n>"

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
        f = self.to_frame()
        for (analysis, outcome), g in f.groupby(["analysis", "outcome"], sort=False):
            yerr = np.vstack([g["power"] - g["power_low"], g["power_high"] - g["power"]])
            ax.errorbar(g["n"], g["power"], yerr=yerr, marker="o", capsize=3,
                        label=f"{analysis} / {outcome}")
        if analytic is not None:
            grid = np.linspace(min(self.ns), max(self.ns), 100)
            ax.plot(grid, [analytic(x) for x in grid], "k--", lw=1, label="analytic")
        if target is not None:
            ax.axhline(target, color="grey", lw=0.8, ls=":")
        ax.set_xlabel("n")
        ax.set_ylabel("power")
        ax.set_ylim(0, 1.02)
        ax.legend(fontsize=8)
        return ax
