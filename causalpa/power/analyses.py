"""Registry of analyses that a power simulation can run on each simulated data set.

Every analysis has one signature, ``func(data, outcome, ctx) -> Estimate``,
where ``data`` is the simulated cohort (``.patients``, ``.sessions``,
``.truth``), ``outcome`` a column name and ``ctx`` an :class:`AnalysisContext`
(baseline column, covariates, confidence level, grouping). The t test, ANCOVA,
risk difference and therapist-means t test also have a *batched* kernel working on
stacked replicates (arrays of shape ``(replicates, n)``, :mod:`causalpa.power._kernels`);
the general path calls the very same kernels with one replicate, so both paths give
identical numbers on the same data.

The estimators themselves are causalpa's (``cpa.match``, ``cpa.weight``,
``cpa.aipw``, ``cpa.mixed``); this module only calls them. PSM, IPW and AIPW reuse
one treatment-model :class:`~causalpa._spec.Spec` per analysis context (built from
the first replicate; its numpy plan rebuilds the model matrix of every later
replicate without formulaic, with identical numbers).

Adding an analysis is one function plus one :func:`register_analysis` line.

Examples
--------
>>> import numpy as np
>>> from causalpa.power.analyses import ttest_kernel
>>> y = np.array([[1.0, 2.0, 3.0, 5.0, 6.0, 7.0]])
>>> arm = np.array([[0, 0, 0, 1, 1, 1]])
>>> out = ttest_kernel(y, arm)
>>> float(out["estimate"][0]), round(float(out["p_value"][0]), 4)
(4.0, 0.008)
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from causalpa._spec import Spec, make_spec, parse_formula
from causalpa.errors import SpecificationError
from causalpa.power._kernels import (
    ancova_kernel,
    cluster_means_kernel,
    riskdiff_kernel,
    t_summary,
    ttest_kernel,
)

__all__ = [
    "Estimate",
    "AnalysisContext",
    "Analysis",
    "ANALYSES",
    "register_analysis",
    "get_analysis",
    "ttest_kernel",
    "ancova_kernel",
    "riskdiff_kernel",
    "cluster_means_kernel",
    "t_summary",
    "adjust_pvalues",
    "SESSION_SCORES",
]

SESSION_SCORES: dict[str, str] = {
    "phq9": "phq9",
    "gad7": "gad7",
    "phq9_change": "phq9",
    "phq9_last": "phq9",
    "gad7_change": "gad7",
    "gad7_last": "gad7",
}
"""Outcomes the session-level ``"mixed"`` analysis accepts -> the session score it models."""
CAUSAL_ESTIMANDS = ("ATE", "ATT", "ATC")
"""Estimands whose truth the simulator knows (both potential outcomes of every patient)."""


@dataclass(frozen=True)
class Estimate:
    """What an analysis returns for one replicate."""

    estimate: float
    p_value: float
    std_error: float = float("nan")
    conf_low: float = float("nan")
    conf_high: float = float("nan")


@dataclass(frozen=True)
class AnalysisContext:
    """Everything an analysis needs besides the data.

    Attributes
    ----------
    baseline : str or None
        Baseline column adjusted for by ANCOVA (e.g. ``phq9_first``).
    covariates : tuple of str
        Confounders for PSM / IPW / AIPW (observational designs).
    conf_level : float
        Confidence level of intervals.
    treatment : str
        Treatment column (0/1).
    groups : str or None
        Grouping column (therapist) of cluster-level analyses: the random intercept of
        ``"mixed-cluster"``, the units of ``"cluster-t"``.
    options : dict
        Extra keyword arguments passed to the estimator (e.g. ``{"caliper": 0.2}``).
    """

    baseline: str | None = None
    covariates: tuple[str, ...] = ()
    conf_level: float = 0.95
    treatment: str = "pa"
    groups: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    # the treatment-model spec of this context (built once, from the first replicate)
    _specs: dict[str, Spec] = field(default_factory=dict, init=False, repr=False,
                                    compare=False)

    @property
    def formula(self) -> str:
        """The treatment model ``treatment ~ covariates`` of PSM / IPW / AIPW."""
        if not self.covariates:
            raise SpecificationError("PSM / IPW / AIPW need `covariates` (the confounders)")
        return f"{self.treatment} ~ " + " + ".join(self.covariates)

    def treatment_spec(self, data: pd.DataFrame) -> Spec:
        """Return the treatment model as a :class:`~causalpa._spec.Spec`, made once per context.

        The first call makes it from ``data``; later calls return the same spec, which
        the estimators re-bind to their data (its numpy plan is used when the column
        types and factor levels match, formulaic otherwise; the numbers are the same
        as with the formula).
        """
        spec = self._specs.get("treatment")
        if spec is None:
            spec = make_spec(data, self.formula)
            self._specs["treatment"] = spec
        return spec

    def covariate_columns(self) -> list[str]:
        """Return the data columns that :attr:`covariates` read, sorted.

        The terms are parsed as a formula's right-hand side, so ``C(sex)`` reads
        ``sex`` and ``I(age**2)`` reads ``age``.

        Examples
        --------
        >>> AnalysisContext(covariates=("C(sex)", "I(age**2)", "age")).covariate_columns()
        ['age', 'sex']
        """
        if not self.covariates:
            return []
        rhs = " + ".join(self.covariates)
        return sorted(parse_formula(rhs, "covariates", lhs=False).rhs_variables)


@dataclass(frozen=True)
class Analysis:
    """A registered analysis.

    Attributes
    ----------
    name : str
        Registry key.
    func : callable
        ``func(data, outcome, ctx) -> Estimate`` (general path).
    batched : callable or None
        ``batched(arrays, outcome, ctx) -> dict of arrays`` (vectorised path) or None.
    needs_sessions : bool
        Uses the session-level data.
    estimand : str
        What the estimate means (for the truth used in bias and coverage).
    array_keys : tuple of str
        Extra simulator arrays the batched kernel needs (e.g. ``therapist``).
    outcomes : frozenset of str or None
        The outcomes the analysis can analyse (checked when a design is built);
        None: not checked (custom analyses).
    estimand_option : bool
        The estimator takes ``estimand`` through ``options={name: {"estimand": ...}}``,
        which then overrides :attr:`estimand` (see :meth:`estimand_in`).
    """

    name: str
    func: Callable[..., Estimate]
    batched: Callable[..., dict[str, np.ndarray]] | None = None
    needs_sessions: bool = False
    estimand: str = "ATE"
    array_keys: tuple[str, ...] = ()
    outcomes: frozenset[str] | None = None
    estimand_option: bool = False

    def estimand_in(self, ctx: AnalysisContext) -> str:
        """Return the estimand the analysis estimates in ``ctx`` (the truth it is compared to).

        ``options={name: {"estimand": ...}}`` overrides the registered estimand of
        an estimator that takes one (PSM, IPW, AIPW).

        Examples
        --------
        >>> ipw = get_analysis("ipw")
        >>> ipw.estimand_in(AnalysisContext()), ipw.estimand_in(
        ...     AnalysisContext(options={"ipw": {"estimand": "att"}}))
        ('ATE', 'ATT')
        """
        opts = ctx.options.get(self.name) if self.estimand_option else None
        if not isinstance(opts, Mapping) or "estimand" not in opts:
            return self.estimand
        value = opts["estimand"]
        if isinstance(value, str) and value.upper() in CAUSAL_ESTIMANDS:
            return value.upper()
        return str(value)

    def check_outcome(self, outcome: str) -> None:
        """Raise :class:`~causalpa.errors.SpecificationError` if the analysis cannot analyse ``outcome``.

        Examples
        --------
        >>> get_analysis("mixed").check_outcome("recovered")
        Traceback (most recent call last):
        ...
        causalpa.errors.SpecificationError: `outcomes`: analysis 'mixed' models session scores and accepts 'phq9', 'gad7', 'phq9_change', 'phq9_last', 'gad7_change', 'gad7_last'; got 'recovered'
        """
        if self.outcomes is None or outcome in self.outcomes:
            return
        if self.needs_sessions:
            raise SpecificationError(
                f"`outcomes`: analysis {self.name!r} models session scores and accepts "
                f"{', '.join(map(repr, SESSION_SCORES))}; got {outcome!r}"
            )
        raise SpecificationError(
            f"`outcomes`: {outcome!r} is not a column of the simulated patients (analysis "
            f"{self.name!r}); available: {', '.join(_patient_columns())}"
        )


ANALYSES: dict[str, Analysis] = {}


def register_analysis(
    name: str,
    func: Callable[..., Estimate],
    *,
    batched: Callable[..., dict[str, np.ndarray]] | None = None,
    needs_sessions: bool = False,
    estimand: str = "ATE",
    array_keys: tuple[str, ...] = (),
    outcomes: Collection[str] | None = None,
    estimand_option: bool = False,
) -> Analysis:
    """Add an analysis to the registry (one line per method).

    ``outcomes`` lists the outcomes the analysis accepts (checked when a design is
    built; None: any) and ``estimand_option`` says that ``options={name:
    {"estimand": ...}}`` changes what it estimates (see :class:`Analysis`).

    Examples
    --------
    >>> def my_test(data, outcome, ctx):
    ...     return Estimate(estimate=0.0, p_value=1.0)
    >>> register_analysis("my-test", my_test).name
    'my-test'
    >>> _ = ANALYSES.pop("my-test")
    """
    a = Analysis(name, func, batched, needs_sessions, estimand, tuple(array_keys),
                 None if outcomes is None else frozenset(outcomes), estimand_option)
    ANALYSES[name] = a
    return a


def get_analysis(spec: str | Callable[..., Any] | Analysis) -> Analysis:
    """Resolve a registry name, an :class:`Analysis` or a user callable.

    A user callable receives the simulated cohort (and the outcome, if it takes
    two arguments) and returns an :class:`~causalpa.results.Effect`, a dict with
    ``estimate`` and ``p_value`` (optionally ``std_error``, ``conf_low``,
    ``conf_high``), or a tuple ``(estimate, p_value)``.
    """
    if isinstance(spec, Analysis):
        return spec
    if isinstance(spec, str):
        key = spec.lower().replace("_", "-")
        key = _ALIASES.get(key, key)
        if key not in ANALYSES:
            raise SpecificationError(
                f"`analysis` must be one of {sorted(ANALYSES)} or a callable; got {spec!r}"
            )
        return ANALYSES[key]
    if callable(spec):
        name = getattr(spec, "__name__", "custom")
        return Analysis(name=name, func=_UserAnalysis(spec), estimand="custom")
    raise SpecificationError(f"`analysis` must be a name or a callable; got {spec!r}")


class _UserAnalysis:
    """Adapter for a user callable (kept as a class so that it pickles for workers)."""

    def __init__(self, f: Callable[..., Any]) -> None:
        self.f = f
        try:
            self.n_args = len(inspect.signature(f).parameters)
        except (TypeError, ValueError):
            self.n_args = 1

    def __call__(self, data: Any, outcome: str, ctx: AnalysisContext) -> Estimate:
        out = self.f(data, outcome) if self.n_args >= 2 else self.f(data)
        return as_estimate(out)


def as_estimate(out: Any) -> Estimate:
    """Convert an Effect, dict or ``(estimate, p_value)`` tuple into an :class:`Estimate`."""
    if isinstance(out, Estimate):
        return out
    if hasattr(out, "estimate") and hasattr(out, "p_value"):
        return Estimate(
            estimate=float(out.estimate),
            p_value=float(out.p_value),
            std_error=float(getattr(out, "std_error", float("nan"))),
            conf_low=float(getattr(out, "conf_low", float("nan"))),
            conf_high=float(getattr(out, "conf_high", float("nan"))),
        )
    if isinstance(out, Mapping):
        if "estimate" not in out or "p_value" not in out:
            raise SpecificationError(
                "a custom analysis returning a dict must give 'estimate' and 'p_value'"
            )
        return Estimate(**{k: float(out[k]) for k in
                           ("estimate", "p_value", "std_error", "conf_low", "conf_high")
                           if k in out})
    if isinstance(out, tuple) and len(out) == 2:
        return Estimate(estimate=float(out[0]), p_value=float(out[1]))
    raise SpecificationError(
        "a custom analysis must return an Effect, a dict with 'estimate' and 'p_value', "
        f"or a tuple (estimate, p_value); got {type(out).__name__}"
    )


# =========================================================================== helpers
def _first(out: dict[str, np.ndarray]) -> Estimate:
    vals = {k: float(out[k][0]) for k in ("estimate", "p_value", "std_error", "conf_low",
                                          "conf_high")}
    if not math.isfinite(vals["p_value"]):
        raise FloatingPointError("the test statistic is undefined (empty arm or no variation)")
    return Estimate(**vals)


def _patient_columns() -> tuple[str, ...]:
    from causalpa.simulate import PATIENT_COLUMNS

    return PATIENT_COLUMNS


def _require_columns(pts: pd.DataFrame, columns: Collection[str], what: str = "outcome") -> None:
    """Raise a :class:`~causalpa.errors.SpecificationError` (a set-up error) for a missing column."""
    for column in columns:
        if column not in pts.columns:
            raise SpecificationError(
                f"{what} {column!r} is not a column of the simulated patients; available: "
                f"{', '.join(map(str, pts.columns))}"
            )


def _row(pts: pd.DataFrame, column: str) -> np.ndarray:
    """One column of the patient table as a float row ``(1, n)`` (one replicate)."""
    _require_columns(pts, [column])
    return pts[column].to_numpy(dtype=float)[None, :]


def _check_binary(y: np.ndarray, outcome: str) -> None:
    vals = y[np.isfinite(y)]
    if vals.size and not np.all((vals == 0) | (vals == 1)):
        raise SpecificationError(
            f"risk-difference / logistic need a 0/1 outcome; {outcome!r} is not (use "
            "'t-test' or 'ancova' for scores)"
        )


def _complete(pts: pd.DataFrame, outcome: str, ctx: AnalysisContext,
              extra: tuple[str, ...] = (), *, covariates: bool = False) -> pd.DataFrame:
    """Complete cases (outcome observed) of the patient table."""
    _require_columns(pts, [outcome])
    _require_columns(pts, [ctx.treatment], "treatment")
    covs = ctx.covariate_columns() if covariates else []
    _require_columns(pts, covs, "covariate")
    _require_columns(pts, extra, "column")
    cols = list(dict.fromkeys([ctx.treatment, outcome, *covs, *extra]))
    ok = np.ones(len(pts), dtype=bool)
    for c in cols:
        v = pts[c].to_numpy()
        if v.dtype.kind == "f":
            ok &= ~np.isnan(v)
        elif v.dtype.kind not in "iub":
            ok &= ~pd.isna(v)
    return pts if ok.all() else pts.loc[ok]


# =========================================================================== kernels
def _ttest(data: Any, outcome: str, ctx: AnalysisContext) -> Estimate:
    pts = data.patients
    return _first(ttest_kernel(_row(pts, outcome), _row(pts, ctx.treatment), ctx.conf_level))


def _ancova(data: Any, outcome: str, ctx: AnalysisContext) -> Estimate:
    if not ctx.baseline:
        raise SpecificationError(f"ANCOVA needs a baseline column for outcome {outcome!r}")
    pts = data.patients
    return _first(ancova_kernel(_row(pts, outcome), _row(pts, ctx.treatment),
                                _row(pts, ctx.baseline), ctx.conf_level))


def _riskdiff(data: Any, outcome: str, ctx: AnalysisContext) -> Estimate:
    pts = data.patients
    y = _row(pts, outcome)
    _check_binary(y, outcome)
    return _first(riskdiff_kernel(y, _row(pts, ctx.treatment), ctx.conf_level))


def _cluster_t(data: Any, outcome: str, ctx: AnalysisContext) -> Estimate:
    """Run a t test on cluster (therapist) means: valid with few, randomised clusters."""
    pts = data.patients
    groups = ctx.groups or "therapist"
    return _first(cluster_means_kernel(_row(pts, outcome), _row(pts, groups),
                                       _row(pts, ctx.treatment), ctx.conf_level))


def _batched_ttest(arrays: Mapping[str, np.ndarray], outcome: str,
                   ctx: AnalysisContext) -> dict[str, np.ndarray]:
    return ttest_kernel(arrays[outcome], arrays[ctx.treatment], ctx.conf_level)


def _batched_ancova(arrays: Mapping[str, np.ndarray], outcome: str,
                    ctx: AnalysisContext) -> dict[str, np.ndarray]:
    if not ctx.baseline:
        raise SpecificationError(f"ANCOVA needs a baseline column for outcome {outcome!r}")
    return ancova_kernel(arrays[outcome], arrays[ctx.treatment], arrays[ctx.baseline],
                         ctx.conf_level)


def _batched_riskdiff(arrays: Mapping[str, np.ndarray], outcome: str,
                      ctx: AnalysisContext) -> dict[str, np.ndarray]:
    _check_binary(arrays[outcome], outcome)
    return riskdiff_kernel(arrays[outcome], arrays[ctx.treatment], ctx.conf_level)


def _batched_cluster_t(arrays: Mapping[str, np.ndarray], outcome: str,
                       ctx: AnalysisContext) -> dict[str, np.ndarray]:
    groups = ctx.groups or "therapist"
    return cluster_means_kernel(arrays[outcome], arrays[groups], arrays[ctx.treatment],
                                ctx.conf_level)


# =========================================================================== estimators
def _logistic(data: Any, outcome: str, ctx: AnalysisContext) -> Estimate:
    """Logistic regression of a 0/1 outcome on arm (and the baseline); log odds ratio.

    Fitted by causalpa's logistic fitter (R's ``glm.fit``, here to ``epsilon = 1e-10``);
    model-based standard error and a normal (Wald) interval and test.
    """
    from causalpa._regression import logistic

    extra = (ctx.baseline,) if ctx.baseline else ()
    pts = _complete(data.patients, outcome, ctx, extra)
    y = pts[outcome].to_numpy(dtype=float)
    _check_binary(y, outcome)
    X = np.column_stack([np.ones(len(pts)), pts[[ctx.treatment, *extra]].to_numpy(dtype=float)])
    fit = logistic(y, X, epsilon=1e-10, maxit=50)
    if not fit.converged or fit.rank < X.shape[1]:
        raise FloatingPointError("logistic regression did not converge (separation?)")
    se = math.sqrt(float(np.linalg.inv(fit.xs.T @ fit.xs)[1, 1]))
    return _first(t_summary(np.array([fit.coef[1]]), np.array([se]), np.inf, ctx.conf_level))


def _psm(data: Any, outcome: str, ctx: AnalysisContext) -> Estimate:
    import causalpa as cpa

    opts = dict(ctx.options.get("psm", {}))
    est_opts = opts.pop("estimate", {})
    pts = _complete(data.patients, outcome, ctx, covariates=True)
    m = cpa.match(pts, ctx.treatment_spec(pts), **{"estimand": "ATT", **opts})
    return as_estimate(m.estimate(outcome, **est_opts))


def _ipw(data: Any, outcome: str, ctx: AnalysisContext) -> Estimate:
    import causalpa as cpa

    opts = dict(ctx.options.get("ipw", {}))
    est_opts = opts.pop("estimate", {})
    pts = _complete(data.patients, outcome, ctx, covariates=True)
    w = cpa.weight(pts, ctx.treatment_spec(pts), **{"estimand": "ATE", **opts})
    return as_estimate(w.estimate(outcome, **est_opts))


def _aipw(data: Any, outcome: str, ctx: AnalysisContext) -> Estimate:
    import causalpa as cpa

    opts = dict(ctx.options.get("aipw", {}))
    pts = _complete(data.patients, outcome, ctx, covariates=True)
    return as_estimate(cpa.aipw(pts, ctx.treatment_spec(pts), outcome=outcome, **opts))


def _mixed_row(fit: Any, term: str) -> Estimate:
    tidy = fit.tidy()
    col = "term" if "term" in tidy.columns else tidy.columns[0]
    rows = tidy.loc[tidy[col].astype(str) == term]
    if rows.empty:
        raise SpecificationError(
            f"term {term!r} is not in the mixed model's table (terms: {list(tidy[col])}); "
            "set options={'mixed': {'term': ...}}"
        )
    r = rows.iloc[0]
    return Estimate(
        estimate=float(r["estimate"]),
        p_value=float(r["p_value"]),
        std_error=float(r.get("std_error", float("nan"))),
        conf_low=float(r.get("conf_low", float("nan"))),
        conf_high=float(r.get("conf_high", float("nan"))),
    )


def _mixed_sessions(data: Any, outcome: str, ctx: AnalysisContext) -> Estimate:
    """Linear mixed model ``score ~ session * arm`` with random intercept and slope per patient.

    ``outcome`` is a session-level score column (``phq9`` or ``gad7``; the
    patient-level names ``phq9_change`` etc. map to it). The estimate is the
    arm difference in slope per session (Satterthwaite df by default).

    ``options={"mixed": {...}}`` may set ``formula`` (a template with
    ``{score}`` and ``{treatment}``, e.g. ``"{score} ~ np.log1p(session) *
    {treatment}"``), ``term`` (the coefficient tested, e.g.
    ``"np.log1p(session):pa"``) and any :func:`causalpa.mixed` argument
    (``re_formula``, ``df``, ``reml``).
    """
    import causalpa as cpa

    if outcome not in SESSION_SCORES:
        get_analysis("mixed").check_outcome(outcome)  # raises: not a session score
    score = SESSION_SCORES[outcome]
    opts = {"df": "satterthwaite", "re_formula": "~session", **dict(ctx.options.get("mixed", {}))}
    template = opts.pop("formula", "{score} ~ session * {treatment}")
    term = opts.pop("term", "session:{treatment}")
    sess = data.sessions.dropna(subset=[score])
    fit = cpa.mixed(sess, template.format(score=score, treatment=ctx.treatment), groups="patient",
                    **opts)
    return _mixed_row(fit, term.format(score=score, treatment=ctx.treatment))


def _mixed_cluster(data: Any, outcome: str, ctx: AnalysisContext) -> Estimate:
    """Patient-level mixed model with a random intercept per therapist (cluster trials)."""
    import causalpa as cpa

    groups = ctx.groups or "therapist"
    opts = {"df": "satterthwaite", **dict(ctx.options.get("mixed", {}))}
    pts = _complete(data.patients, outcome, ctx,
                    (groups,) + ((ctx.baseline,) if ctx.baseline else ()))
    rhs = ctx.treatment + (f" + {ctx.baseline}" if ctx.baseline else "")
    fit = cpa.mixed(pts, f"{outcome} ~ {rhs}", groups=groups, **opts)
    return _mixed_row(fit, ctx.treatment)


_PATIENTS = _patient_columns()
register_analysis("t-test", _ttest, batched=_batched_ttest, outcomes=_PATIENTS)
register_analysis("ancova", _ancova, batched=_batched_ancova, outcomes=_PATIENTS)
register_analysis("risk-difference", _riskdiff, batched=_batched_riskdiff, outcomes=_PATIENTS)
register_analysis("logistic", _logistic, estimand="log odds ratio", outcomes=_PATIENTS)
register_analysis("cluster-t", _cluster_t, batched=_batched_cluster_t, array_keys=("therapist",),
                  outcomes=_PATIENTS)
register_analysis("mixed", _mixed_sessions, needs_sessions=True, estimand="slope difference",
                  outcomes=SESSION_SCORES)
register_analysis("mixed-cluster", _mixed_cluster, outcomes=_PATIENTS)
register_analysis("psm", _psm, estimand="ATT", outcomes=_PATIENTS, estimand_option=True)
register_analysis("ipw", _ipw, estimand="ATE", outcomes=_PATIENTS, estimand_option=True)
register_analysis("aipw", _aipw, estimand="ATE", outcomes=_PATIENTS, estimand_option=True)

_ALIASES = {
    "ttest": "t-test",
    "t": "t-test",
    "riskdiff": "risk-difference",
    "rd": "risk-difference",
    "proportions": "risk-difference",
    "matching": "psm",
    "weighting": "ipw",
    "lmm": "mixed",
}


# =========================================================================== multiplicity
def adjust_pvalues(p: np.ndarray, method: str | None) -> np.ndarray:
    """Adjust p-values along the last axis (outcomes): Holm or Bonferroni.

    NaN p-values (failed fits) stay NaN and do not count as tests.

    Examples
    --------
    >>> adjust_pvalues(np.array([[0.01, 0.04, 0.03]]), "holm").round(3).tolist()
    [[0.03, 0.06, 0.06]]
    >>> adjust_pvalues(np.array([[0.01, 0.04]]), "bonferroni").tolist()
    [[0.02, 0.08]]
    """
    p = np.asarray(p, dtype=float)
    if method is None or p.shape[-1] == 1:
        return p.copy()
    m = np.isfinite(p).sum(axis=-1, keepdims=True)
    if method == "bonferroni":
        return np.minimum(p * m, 1.0)
    if method != "holm":
        raise SpecificationError(f"`multiplicity` must be 'holm', 'bonferroni' or None; got {method!r}")
    filled = np.where(np.isfinite(p), p, np.inf)
    order = np.argsort(filled, axis=-1)
    sorted_p = np.take_along_axis(filled, order, axis=-1)
    k = np.arange(p.shape[-1])
    adj = np.minimum(np.maximum.accumulate((m - k) * sorted_p, axis=-1), 1.0)
    out = np.empty_like(adj)
    np.put_along_axis(out, order, adj, axis=-1)
    return np.where(np.isfinite(p), out, np.nan)
