"""Result objects shared by every estimator.

One truth, many views: a result computes its table once in :meth:`Effect.tidy`;
``summary()``, ``repr``, ``_repr_html_`` and ``to_dict()`` all read from it.

Examples
--------
>>> from causalpa.results import Effect
>>> e = Effect(estimate=-2.5, std_error=1.0, conf_low=-4.5, conf_high=-0.5, p_value=0.02,
...            df=36.0, estimand="ATT", method="nearest matching", n_treated=16, n_control=22,
...            outcome="phq9_change")
>>> float(e.tidy().loc[0, "estimate"])
-2.5
>>> e.to_dict()["estimand"]
'ATT'
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["Effect", "effect_from_estimate", "effect_from_bootstrap"]

_COLUMNS = [
    "outcome",
    "measure",
    "estimate",
    "std_error",
    "statistic",
    "df",
    "p_value",
    "conf_low",
    "conf_high",
    "estimand",
    "method",
    "inference",
    "n_treated",
    "n_control",
]


@dataclass(frozen=True)
class Effect:
    """A treatment-effect estimate with its uncertainty.

    Parameters
    ----------
    estimate : float
        Point estimate on the scale of ``measure`` (a ratio for risk/odds ratios).
    std_error : float
        Standard error; on the log scale for ``measure`` "risk ratio" / "odds ratio".
    conf_low, conf_high : float
        Confidence limits at ``conf_level`` on the scale of ``measure``.
    p_value : float
        Two-sided p-value for no effect.
    df : float
        Degrees of freedom of the t reference distribution (``inf`` for a normal one;
        ``nan`` where no reference distribution applies, e.g. permutation tests).
    estimand : str
        "ATE", "ATT", "ATC" or "ATO".
    method : str
        How the groups were made comparable (e.g. "nearest-neighbour matching").
    n_treated, n_control : int
        Units contributing in each arm.
    outcome : str
        Outcome column.
    measure : str
        "difference" (continuous), "risk difference", "risk ratio" or "odds ratio".
    inference : str
        How the standard error / CI / p-value were obtained.
    conf_level : float
        Confidence level of the interval.
    notes : tuple of str
        Caveats attached by the estimator (e.g. small-sample inference used).

    Examples
    --------
    Estimators return an ``Effect``; one can also be built directly:

    >>> from causalpa.results import Effect
    >>> e = Effect(estimate=-2.5, std_error=1.0, conf_low=-4.5, conf_high=-0.5, p_value=0.02,
    ...            df=36.0, estimand="ATT", method="nearest matching", n_treated=16,
    ...            n_control=22, outcome="phq9_change")
    >>> e.statistic
    -2.5
    >>> list(e.tidy().columns[:4])
    ['outcome', 'measure', 'estimate', 'std_error']
    >>> print(e.summary())
    ATT of phq9_change (difference), nearest matching
      estimate -2.5   SE 1   95% CI [-4.5, -0.5]   p = 0.02 (df = 36.0)
      n treated = 16, n control = 22
    >>> e.to_dict()["n_treated"]
    16
    """

    estimate: float
    std_error: float
    conf_low: float
    conf_high: float
    p_value: float
    df: float
    estimand: str
    method: str
    n_treated: int
    n_control: int
    outcome: str = ""
    measure: str = "difference"
    inference: str = ""
    conf_level: float = 0.95
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def statistic(self) -> float:
        """Test statistic: estimate / SE (log scale for ratio measures)."""
        if not np.isfinite(self.std_error) or self.std_error == 0:
            return float("nan")
        est = math.log(self.estimate) if self.measure in ("risk ratio", "odds ratio") else self.estimate
        return float(est / self.std_error)

    def tidy(self) -> pd.DataFrame:
        """Return the result as a one-row DataFrame (the single source of all views)."""
        row = {c: getattr(self, c) for c in _COLUMNS}
        return pd.DataFrame([row], columns=_COLUMNS)

    def to_dict(self) -> dict[str, Any]:
        """Return the tidy row as a plain ``dict`` (plus conf_level and notes)."""
        out = {k: _plain(v) for k, v in self.tidy().iloc[0].items()}
        out["conf_level"] = self.conf_level
        out["notes"] = list(self.notes)
        return out

    def summary(self) -> str:
        """Return a short human-readable report."""
        row = self.tidy().iloc[0]
        level = f"{100 * self.conf_level:g}%"
        df_txt = "normal" if not np.isfinite(row["df"]) else f"df = {row['df']:.1f}"
        if np.isnan(row["df"]) and self.inference:
            df_txt = self.inference
        lines = [
            f"{row['estimand']} of {row['outcome'] or 'outcome'} ({row['measure']}), {row['method']}",
            f"  estimate {row['estimate']:.4g}   SE {row['std_error']:.4g}   "
            f"{level} CI [{row['conf_low']:.4g}, {row['conf_high']:.4g}]   "
            f"p = {row['p_value']:.3g} ({df_txt})",
            f"  n treated = {row['n_treated']}, n control = {row['n_control']}"
            + (f"; inference: {row['inference']}" if row["inference"] else ""),
        ]
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<Effect\n{self.summary()}\n>"

    def _repr_html_(self) -> str:
        notes = "".join(f"<p><em>note:</em> {n}</p>" for n in self.notes)
        return self.tidy().to_html(index=False, float_format=lambda v: f"{v:.4g}") + notes


def _plain(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    return v


def effect_from_estimate(
    estimate: float,
    std_error: float,
    *,
    df: float = math.inf,
    conf_level: float = 0.95,
    log_scale: bool = False,
    **fields: Any,
) -> Effect:
    """Build an :class:`Effect` with a t (or normal, ``df=inf``) interval and p-value.

    Parameters
    ----------
    estimate, std_error : float
        Estimate and standard error (on the log scale if ``log_scale``).
    df : float
        Degrees of freedom of the t reference; ``inf`` for the normal.
    conf_level : float
        Confidence level.
    log_scale : bool
        Exponentiate the estimate and limits (risk ratio, odds ratio).
    **fields
        The remaining :class:`Effect` fields (estimand, method, n_treated, ...).

    Examples
    --------
    >>> e = effect_from_estimate(1.0, 0.5, df=float("inf"), estimand="ATE", method="IPW",
    ...                          n_treated=50, n_control=50)
    >>> round(e.conf_low, 4), round(e.p_value, 4)
    (0.02, 0.0455)
    """
    # the unfrozen distribution with df as an argument: same values as stats.t(df), without
    # building a frozen distribution (about 1 ms) on every call
    args = () if not np.isfinite(df) else (df,)
    ref = stats.norm if not args else stats.t
    q = float(ref.ppf(0.5 + conf_level / 2, *args))
    lo, hi = estimate - q * std_error, estimate + q * std_error
    if std_error > 0 and np.isfinite(std_error):
        p = float(2 * ref.sf(abs(estimate / std_error), *args))
    else:
        p = float("nan")
    if log_scale:
        estimate, lo, hi = math.exp(estimate), math.exp(lo), math.exp(hi)
    return Effect(
        estimate=float(estimate),
        std_error=float(std_error),
        conf_low=float(lo),
        conf_high=float(hi),
        p_value=p,
        df=float(df),
        conf_level=conf_level,
        **fields,
    )


def effect_from_bootstrap(
    estimate: float,
    replicates: np.ndarray,
    *,
    conf_level: float = 0.95,
    log_scale: bool = False,
    **fields: Any,
) -> Effect:
    """Build an :class:`Effect` from bootstrap replicates: bootstrap SE, percentile CI.

    The p-value uses the bootstrap SE with a normal reference (``df = inf``).

    Parameters
    ----------
    estimate : float
        Estimate on the full sample (log scale if ``log_scale``).
    replicates : ndarray
        Finite bootstrap replicates of the estimate (same scale).
    conf_level : float
        Confidence level of the percentile interval.
    log_scale : bool
        Exponentiate the estimate and limits (risk ratio, odds ratio).
    **fields
        The remaining :class:`Effect` fields.

    Examples
    --------
    >>> import numpy as np
    >>> reps = np.random.default_rng(0).normal(1.0, 0.5, 2000)
    >>> e = effect_from_bootstrap(1.0, reps, estimand="ATE", method="IPW", n_treated=50,
    ...                           n_control=50)
    >>> round(e.std_error, 2), round(e.conf_low, 1), round(e.conf_high, 1)
    (0.5, 0.0, 2.0)
    """
    reps = np.asarray(replicates, dtype=float)
    std = float(np.std(reps, ddof=1))
    a = (1 - conf_level) / 2
    lo, hi = np.quantile(reps, [a, 1 - a])
    e = effect_from_estimate(estimate, std, df=math.inf, conf_level=conf_level,
                             log_scale=log_scale, **fields)
    f = math.exp if log_scale else float
    return Effect(**{**e.__dict__, "conf_low": f(lo), "conf_high": f(hi)})
