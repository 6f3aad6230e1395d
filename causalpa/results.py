"""The result protocol shared by every causalpa result, :class:`Effect` and :func:`compare`.

One truth, many views (pyfixest, broom): every result computes one table, returned by
``tidy()``; ``summary()`` (text), ``repr``, ``_repr_html_`` and ``to_dict()`` are derived
from it by the shared code of :class:`Result`, and ``plot()`` draws it where a figure
exists. Results are frozen dataclasses that hold copies of what they need (never the
caller's DataFrame); tables and series they return are copies too.

Results that report estimates (effects, model coefficients, contrasts) share one tidy
schema, so they stack into one table: the columns :data:`ESTIMATE_COLUMNS`
(``term, estimate, std_error, statistic, df, p_value, conf_low, conf_high`` and the
context ``outcome, estimand, method, n``) come first, result-specific columns after.
They also answer the statsmodels habits ``params``, ``bse``, ``pvalues``, ``tvalues`` and
``conf_int()`` (:class:`EstimateResult`). :func:`compare` puts any mix of them side by
side with a forest plot, in the spirit of pyfixest's ``etable`` and R's modelsummary.

Examples
--------
>>> from causalpa.results import Effect
>>> e = Effect(estimate=-2.5, std_error=1.0, conf_low=-4.5, conf_high=-0.5, p_value=0.02,
...            df=36.0, estimand="ATT", method="nearest matching", n_treated=16, n_control=22,
...            outcome="phq9_change", treatment="pa")
>>> e.tidy().loc[0, ["term", "estimate", "outcome", "n"]].astype(str).tolist()
['pa', '-2.5', 'phq9_change', '38']
>>> float(e.params["pa"]), e.to_dict()["table"][0]["estimand"]
(-2.5, 'ATT')
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import InitVar, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from causalpa.errors import SpecificationError
from causalpa.inference import TIDY_COLUMNS, coef_table, t_tests

__all__ = [
    "Result",
    "EstimateResult",
    "Effect",
    "Estimates",
    "Comparison",
    "compare",
    "ESTIMATE_COLUMNS",
    "CONTEXT_COLUMNS",
    "estimate_frame",
    "effect_from_estimate",
    "effect_from_bootstrap",
]

CONTEXT_COLUMNS: tuple[str, ...] = ("outcome", "estimand", "method", "n")
"""Context columns of every table of estimates."""
ESTIMATE_COLUMNS: tuple[str, ...] = TIDY_COLUMNS + CONTEXT_COLUMNS
"""The leading columns of every table of estimates (effects, coefficients, contrasts)."""


def plain(value: Any) -> Any:
    """Return a numpy / pandas scalar as the plain Python value (for ``to_dict``)."""
    if isinstance(value, np.generic):
        return value.item()
    if value is pd.NA or value is pd.NaT:
        return None
    return value


def _fmt(v: Any) -> str:
    return f"{v:.4g}"


# =========================================================================== the protocol
class Result:
    """Base of every result: ``tidy()`` is the single truth; the other views derive from it.

    Subclasses implement :meth:`_tidy` (and usually :meth:`_title`, :meth:`_meta` and
    ``notes``); they should not override the views.
    """

    # ------------------------------------------------------------------ to implement
    def _tidy(self) -> pd.DataFrame:
        raise NotImplementedError

    def _title(self) -> str:
        return type(self).__name__

    def _meta(self) -> dict[str, Any]:
        """Scalar facts shown under the table and stored by ``to_dict`` (JSON-able)."""
        return {}

    def _display(self, table: pd.DataFrame) -> pd.DataFrame:
        """Return the view of the tidy table shown by ``summary`` / HTML (default: all).

        Results may select columns or reshape (e.g. before/after side by side), but
        only from ``table``, which is ``self.tidy()``.
        """
        return table

    @property
    def _result_notes(self) -> tuple[str, ...]:
        return tuple(getattr(self, "notes", ()) or ())

    # ------------------------------------------------------------------ views
    def tidy(self) -> pd.DataFrame:
        """Return the result as a table (a new DataFrame: changing it leaves the result alone)."""
        return self._tidy().copy()

    def summary(self) -> str:
        """Readable text: title, the tidy table, the facts of :meth:`to_dict` and notes."""
        shown = self._display(self.tidy())
        lines = [self._title()]
        if len(shown):
            lines.append(shown.to_string(index=False, float_format=_fmt, na_rep=""))
        lines += [f"{k}: {_text(v)}" for k, v in self._meta().items() if v is not None]
        lines += [f"note: {n}" for n in self._result_notes]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<{type(self).__name__}\n{self.summary()}\n>"

    def _repr_html_(self) -> str:
        import html

        shown = self._display(self.tidy())
        facts = "".join(f"<li>{html.escape(k)}: {html.escape(_text(v))}</li>"
                        for k, v in self._meta().items() if v is not None)
        notes = "".join(f"<p><em>note:</em> {html.escape(n)}</p>" for n in self._result_notes)
        return (f"<p><strong>{html.escape(self._title())}</strong></p>"
                + shown.to_html(index=False, float_format=_fmt, na_rep="")
                + (f"<ul>{facts}</ul>" if facts else "") + notes)

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python view: the tidy rows, the facts and the notes (JSON-serialisable)."""
        rows = [{k: plain(v) for k, v in r.items()} for r in self.tidy().to_dict(orient="records")]
        return {"result": type(self).__name__, "title": self._title(),
                **{k: _jsonable(v) for k, v in self._meta().items()},
                "table": rows, "notes": list(self._result_notes)}


def _text(v: Any) -> str:
    """Format a fact for the text view: 6 significant digits, lists and dicts inline."""
    if isinstance(v, (float, np.floating)):
        return f"{v:.6g}"
    if isinstance(v, (list, tuple)):
        return ", ".join(_text(x) for x in v)
    if isinstance(v, dict):
        nested = any(isinstance(x, dict) for x in v.values())
        return ("; " if nested else ", ").join(
            f"{k}{': ' if nested else ' '}{_text(x)}" for k, x in v.items())
    return str(v)


def _jsonable(v: Any) -> Any:
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    return plain(v)


def estimate_frame(table: pd.DataFrame, **context: Any) -> pd.DataFrame:
    """Put a table of estimates into the shared schema: :data:`ESTIMATE_COLUMNS` first.

    ``context`` fills the context columns (``outcome``, ``estimand``, ``method``, ``n``)
    that the table lacks; other columns keep their order after them.

    Examples
    --------
    >>> t = coef_table([1.0, 2.0], [0.5, 0.5], term=["a", "b"])
    >>> list(estimate_frame(t, outcome="y", n=10).columns)[-4:]
    ['outcome', 'estimand', 'method', 'n']
    """
    out = table.copy()
    for col in ESTIMATE_COLUMNS:
        if col not in out.columns:
            out[col] = context.get(col)
    rest = [c for c in out.columns if c not in ESTIMATE_COLUMNS]
    return out[list(ESTIMATE_COLUMNS) + rest].reset_index(drop=True)


class EstimateResult(Result):
    """A result whose tidy table holds estimates (the shared schema) and statsmodels habits."""

    def _display(self, table: pd.DataFrame) -> pd.DataFrame:
        """Show the table without context columns that are empty or constant."""
        drop = [c for c in CONTEXT_COLUMNS if c in table.columns
                and (table[c].isna().all() or table[c].astype(str).nunique() <= 1)]
        return table.drop(columns=drop)

    def _series(self, column: str) -> pd.Series:
        t = self.tidy()
        return pd.Series(t[column].to_numpy(), index=pd.Index(t["term"], name="term"),
                         name=column)

    @property
    def params(self) -> pd.Series:
        """Estimates indexed by term (statsmodels' ``params``)."""
        return self._series("estimate")

    @property
    def bse(self) -> pd.Series:
        """Standard errors indexed by term (statsmodels' ``bse``)."""
        return self._series("std_error")

    @property
    def pvalues(self) -> pd.Series:
        """Two-sided p-values indexed by term."""
        return self._series("p_value")

    @property
    def tvalues(self) -> pd.Series:
        """Test statistics indexed by term."""
        return self._series("statistic")

    def _log_scale_rows(self, table: pd.DataFrame) -> np.ndarray:
        if "measure" not in table.columns:
            return np.zeros(len(table), dtype=bool)
        return table["measure"].isin(["risk ratio", "odds ratio"]).to_numpy()

    def _interval_level(self) -> float:
        return float(getattr(self, "conf_level", 0.95))

    def _wald_intervals(self) -> bool:
        """Whether intervals are estimate -/+ q SE (so other levels can be computed)."""
        return True

    def conf_int(self, conf_level: float | None = None) -> pd.DataFrame:
        """Confidence intervals indexed by term (``conf_low``, ``conf_high``).

        Parameters
        ----------
        conf_level : float, optional
            Level; default the result's own. Another level is computed from the
            estimates, standard errors and degrees of freedom (t or normal intervals
            only; bootstrap and permutation intervals must be re-estimated).
        """
        t = self.tidy()
        own = self._interval_level()
        if conf_level is None or conf_level == own:
            out = t[["conf_low", "conf_high"]].copy()
        else:
            from causalpa._validation import check_number

            level = check_number("conf_level", conf_level, low=0, high=1, low_inclusive=False,
                                 high_inclusive=False)
            if not self._wald_intervals():
                raise SpecificationError(
                    f"these intervals are not estimate -/+ q SE (they were computed at "
                    f"conf_level={own:g}); re-estimate with conf_level={level:g}")
            logs = self._log_scale_rows(t)
            est = t["estimate"].to_numpy(dtype=float)
            est = np.where(logs, np.log(np.where(logs, est, 1.0)), est)
            parts = [coef_table(e, s, d, level, log_scale=bool(lg))
                     for e, s, d, lg in zip(est, t["std_error"], t["df"], logs, strict=True)]
            out = pd.concat(parts, ignore_index=True)[["conf_low", "conf_high"]]
        out.index = pd.Index(t["term"], name="term")
        return out


# =========================================================================== Effect
@dataclass(frozen=True, repr=False)
class Effect(EstimateResult):
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
    treatment : str
        Treatment column (the ``term`` of the tidy row).
    interval : {"wald", "percentile", "inversion"}
        How the interval was made: estimate -/+ q SE, bootstrap percentiles, or test
        inversion (permutation).

    Examples
    --------
    >>> e = Effect(estimate=-2.5, std_error=1.0, conf_low=-4.5, conf_high=-0.5, p_value=0.02,
    ...            df=36.0, estimand="ATT", method="nearest matching", n_treated=16,
    ...            n_control=22, outcome="phq9_change", treatment="pa")
    >>> e.statistic
    -2.5
    >>> list(e.tidy().columns[:8])
    ['term', 'estimate', 'std_error', 'statistic', 'df', 'p_value', 'conf_low', 'conf_high']
    >>> print(e.summary())
    ATT of phq9_change (difference): nearest matching
    term  estimate  std_error  statistic  df  p_value  conf_low  conf_high  n_treated  n_control
      pa      -2.5          1       -2.5  36     0.02      -4.5       -0.5         16         22
    conf_level: 0.95
    >>> e.conf_int(0.90).round(3).values.tolist()
    [[-4.188, -0.812]]
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
    treatment: str = ""
    interval: str = "wald"

    @property
    def statistic(self) -> float:
        """Test statistic: estimate / SE (log scale for ratio measures)."""
        if not np.isfinite(self.std_error) or self.std_error == 0:
            return float("nan")
        est = math.log(self.estimate) if self.measure in ("risk ratio", "odds ratio") else self.estimate
        return float(est / self.std_error)

    @property
    def n(self) -> int:
        """Units contributing in both arms."""
        return int(self.n_treated) + int(self.n_control)

    def _tidy(self) -> pd.DataFrame:
        row = {
            "term": self.treatment or "treatment", "estimate": self.estimate,
            "std_error": self.std_error, "statistic": self.statistic, "df": self.df,
            "p_value": self.p_value, "conf_low": self.conf_low, "conf_high": self.conf_high,
            "outcome": self.outcome, "estimand": self.estimand, "method": self.method,
            "n": self.n, "measure": self.measure, "inference": self.inference,
            "n_treated": int(self.n_treated), "n_control": int(self.n_control),
            "conf_level": self.conf_level,
        }
        return pd.DataFrame([row])

    def _title(self) -> str:
        return f"{self.estimand} of {self.outcome or 'outcome'} ({self.measure}): {self.method}"

    def _display(self, table: pd.DataFrame) -> pd.DataFrame:
        return table[list(TIDY_COLUMNS) + ["n_treated", "n_control"]]

    def _meta(self) -> dict[str, Any]:
        return {"inference": self.inference or None, "conf_level": self.conf_level}

    def _wald_intervals(self) -> bool:
        return self.interval == "wald" and not np.isnan(self.df)


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
    # the arithmetic of coef_table, without building a table for one row
    out = t_tests(np.array([estimate], dtype=float), np.array([std_error], dtype=float), df,
                  conf_level)
    est, lo, hi = float(estimate), float(out["conf_low"][0]), float(out["conf_high"][0])
    if log_scale:
        est, lo, hi = math.exp(est), math.exp(lo), math.exp(hi)
    return Effect(estimate=est, std_error=float(std_error), conf_low=lo, conf_high=hi,
                  p_value=float(out["p_value"][0]), df=float(df), conf_level=conf_level,
                  **fields)


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

    Examples
    --------
    >>> reps = np.random.default_rng(0).normal(1.0, 0.5, 2000)
    >>> e = effect_from_bootstrap(1.0, reps, estimand="ATE", method="IPW", n_treated=50,
    ...                           n_control=50)
    >>> round(e.std_error, 2), round(e.conf_low, 1), round(e.conf_high, 1), e.interval
    (0.5, 0.0, 2.0, 'percentile')
    """
    reps = np.asarray(replicates, dtype=float)
    std = float(np.std(reps, ddof=1))
    a = (1 - conf_level) / 2
    lo, hi = np.quantile(reps, [a, 1 - a])
    e = effect_from_estimate(estimate, std, df=math.inf, conf_level=conf_level,
                             log_scale=log_scale, **fields)
    f = math.exp if log_scale else float
    return Effect(**{**e.__dict__, "conf_low": f(lo), "conf_high": f(hi),
                     "interval": "percentile"})


# =========================================================================== Estimates
@dataclass(frozen=True, repr=False, eq=False)
class Estimates(EstimateResult):
    """A table of estimates in the shared schema (contrasts, selected coefficients).

    Attributes
    ----------
    title : str
        What the estimates are.
    conf_level : float
        Level of the intervals.
    notes : tuple of str
        Caveats.

    Examples
    --------
    >>> t = estimate_frame(coef_table([1.0], [0.5], 10.0, term=["a + b"]), outcome="y", n=12)
    >>> est = Estimates(t, title="Contrast")
    >>> est.tidy().loc[0, "term"], round(float(est.params["a + b"]), 2)
    ('a + b', 1.0)
    """

    table: InitVar[pd.DataFrame]
    title: str = "Estimates"
    conf_level: float = 0.95
    notes: tuple[str, ...] = field(default_factory=tuple)
    meta: tuple[tuple[str, Any], ...] = field(default_factory=tuple)
    _table: pd.DataFrame = field(init=False, repr=False)

    def __post_init__(self, table: pd.DataFrame) -> None:
        object.__setattr__(self, "_table", estimate_frame(table))  # a copy

    def _tidy(self) -> pd.DataFrame:
        return self._table

    def _title(self) -> str:
        return self.title

    def _meta(self) -> dict[str, Any]:
        return dict(self.meta)


# =========================================================================== compare
def _short_name(result: Any) -> str:
    """Name ``result``'s column: its method (up to any parenthesis), else its title."""
    method = getattr(result, "method", None)
    if not isinstance(method, str) or not method:
        methods = [m for m in result.tidy()["method"] if isinstance(m, str) and m]
        method = methods[0] if methods else result._title()
    return method.split(" (")[0]


def _wide(t: pd.DataFrame, names: Sequence[str], style: str, digits: int) -> pd.DataFrame:
    """One row per (outcome, term), one column per result, from a stacked table."""

    def cell(r: pd.Series) -> str:
        e = f"{r['estimate']:.{digits}g}"
        if style == "se":
            return f"{e} ({r['std_error']:.{digits}g})"
        return f"{e} [{r['conf_low']:.{digits}g}, {r['conf_high']:.{digits}g}]"

    t = t.assign(cell=t.apply(cell, axis=1), outcome=t["outcome"].fillna(""))
    wide = t.pivot_table(index=["outcome", "term"], columns="model", values="cell",
                         aggfunc="first", sort=False)
    return wide.reindex(columns=list(names)).fillna("")


@dataclass(frozen=True, repr=False, eq=False)
class Comparison(EstimateResult):
    """Several results side by side (built by :func:`compare`).

    ``tidy()`` is the stacked long table (a ``model`` column, then the shared schema);
    :meth:`table` is the wide side-by-side view (also what ``summary()`` shows);
    :meth:`plot` the forest plot.
    """

    stacked: InitVar[pd.DataFrame]
    names: tuple[str, ...] = ()
    _stacked: pd.DataFrame = field(init=False, repr=False)

    def __post_init__(self, stacked: pd.DataFrame) -> None:
        object.__setattr__(self, "_stacked", stacked.copy())

    def _tidy(self) -> pd.DataFrame:
        return self._stacked

    def _title(self) -> str:
        return f"Comparison of {len(self.names)} results"

    def _display(self, table: pd.DataFrame) -> pd.DataFrame:
        return _wide(table, self.names, "se", 3).reset_index()

    def _meta(self) -> dict[str, Any]:
        t = self._stacked
        out: dict[str, Any] = {}
        for name in self.names:
            rows = t[t["model"] == name]
            est = ", ".join(sorted({str(v) for v in rows["estimand"].dropna() if v}))
            out[name] = str(rows["method"].iloc[0]) + (f" [{est}]" if est else "")
        return out

    def table(self, style: str = "se", digits: int = 3) -> pd.DataFrame:
        """Wide table: one row per (outcome, term), one column per result.

        Parameters
        ----------
        style : {"se", "ci"}
            Cells "estimate (SE)" or "estimate [low, high]".
        digits : int
            Significant digits.
        """
        from causalpa._validation import check_option

        style = check_option("style", style, ["se", "ci"])
        return _wide(self.tidy(), self.names, style, digits)

    def plot(self, ax: Any = None) -> Any:
        """Forest plot: every estimate with its interval, grouped by outcome and term.

        Returns
        -------
        matplotlib.axes.Axes
        """
        import matplotlib.pyplot as plt

        t = self.tidy().reset_index(drop=True)
        if ax is None:
            _, ax = plt.subplots(figsize=(6.5, 0.45 * len(t) + 1.5))
        y = np.arange(len(t))[::-1]
        ratio = t["measure"].isin(["risk ratio", "odds ratio"]).to_numpy() \
            if "measure" in t.columns else np.zeros(len(t), dtype=bool)
        for i, name in enumerate(self.names):
            rows = (t["model"] == name).to_numpy()
            est = t.loc[rows, "estimate"].to_numpy(dtype=float)
            lo = t.loc[rows, "conf_low"].to_numpy(dtype=float)
            hi = t.loc[rows, "conf_high"].to_numpy(dtype=float)
            ax.errorbar(est, y[rows], xerr=[est - lo, hi - est], fmt="o", capsize=3,
                        color=f"C{i}", label=name)
        ax.axvline(1.0 if ratio.all() and len(t) else 0.0, color="grey", lw=0.8, ls="--")
        several = t["outcome"].fillna("").nunique() > 1
        labels = [f"{r.model}: {r.term}" + (f" ({r.outcome})" if several and r.outcome else "")
                  for r in t.itertuples()]
        ax.set_yticks(y, labels)
        ax.set_xlabel("estimate with confidence interval")
        ax.set_title("Comparison of estimates")
        return ax


def compare(
    results: Sequence[Any],
    *,
    names: Sequence[str] | None = None,
    terms: Sequence[str] | None = None,
) -> Comparison:
    """Put effects, model coefficients and contrasts side by side.

    Parameters
    ----------
    results : sequence
        Results with estimates in the shared schema: :class:`Effect` (matching,
        weighting, AIPW), model results (``cpa.mixed``, ``cpa.gee``, ...), contrasts
        (``fit.contrast(...)``) or :class:`Estimates`.
    names : sequence of str, optional
        Column names (default: each result's method, made unique).
    terms : sequence of str, optional
        Keep only these terms (e.g. ``["pa", "session:pa"]`` of a model).

    Returns
    -------
    Comparison

    Examples
    --------
    >>> a = Effect(-2.0, 1.0, -4.0, 0.0, 0.05, 30.0, "ATT", "matching", 16, 16,
    ...            outcome="phq9_change", treatment="pa")
    >>> b = Effect(-1.5, 0.9, -3.3, 0.3, 0.1, float("inf"), "ATE", "IPW", 16, 22,
    ...            outcome="phq9_change", treatment="pa")
    >>> cmp = compare([a, b])
    >>> cmp.table().columns.tolist()
    ['matching', 'IPW']
    >>> cmp.table().iloc[0].tolist()
    ['-2 (1)', '-1.5 (0.9)']
    """
    results = list(results)
    if not results:
        raise SpecificationError("`results` must hold at least one result")
    for r in results:
        if not isinstance(r, EstimateResult):
            raise SpecificationError(
                f"`results` must hold results with estimates (Effect, model results, "
                f"contrasts); got {type(r).__name__}")
    if names is None:
        raw = [_short_name(r) for r in results]
        seen: dict[str, int] = {}
        labels = []
        for nm in raw:
            seen[nm] = seen.get(nm, 0) + 1
            labels.append(nm if raw.count(nm) == 1 else f"{nm} #{seen[nm]}")
    else:
        labels = [str(n) for n in names]
        if len(labels) != len(results) or len(set(labels)) != len(labels):
            raise SpecificationError("`names` must give one distinct name per result")
    parts = []
    for label, r in zip(labels, results, strict=True):
        t = estimate_frame(r.tidy())
        if terms is not None:
            t = t[t["term"].isin(list(terms))]
        t.insert(0, "model", label)
        parts.append(t)
    stacked = pd.concat(parts, ignore_index=True)
    if stacked.empty:
        raise SpecificationError(f"none of the results has the terms {list(terms or [])}")
    return Comparison(stacked=stacked, names=tuple(labels))
