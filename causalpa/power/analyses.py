"""Registry of analyses that a power simulation can run on each simulated data set.

Every analysis has one signature, ``func(data, outcome, ctx) -> Estimate``,
where ``data`` is the simulated cohort (``.patients``, ``.sessions``,
``.truth``), ``outcome`` a column name and ``ctx`` an :class:`AnalysisContext`
(baseline column, covariates, confidence level, grouping). The t test, ANCOVA
and risk difference also have a *batched* kernel working on stacked replicates
(arrays of shape ``(replicates, n)``); the general path calls the very same
kernels with one replicate, so both paths give identical numbers on the same
data.

The estimators themselves are causalpa's (``cpa.match``, ``cpa.weight``,
``cpa.aipw``, ``cpa.mixed``); this module only calls them.

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
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import special, stats

from causalpa.errors import SpecificationError

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
    "adjust_pvalues",
]


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
    cluster : str or None
        Cluster column (therapist) for cluster-level analyses.
    options : dict
        Extra keyword arguments passed to the estimator (e.g. ``{"caliper": 0.2}``).
    """

    baseline: str | None = None
    covariates: tuple[str, ...] = ()
    conf_level: float = 0.95
    treatment: str = "pa"
    cluster: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)


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
    """

    name: str
    func: Callable[..., Estimate]
    batched: Callable[..., dict[str, np.ndarray]] | None = None
    needs_sessions: bool = False
    estimand: str = "ATE"
    array_keys: tuple[str, ...] = ()


ANALYSES: dict[str, Analysis] = {}


def register_analysis(
    name: str,
    func: Callable[..., Estimate],
    *,
    batched: Callable[..., dict[str, np.ndarray]] | None = None,
    needs_sessions: bool = False,
    estimand: str = "ATE",
    array_keys: tuple[str, ...] = (),
) -> Analysis:
    """Add an analysis to the registry (one line per method).

    Examples
    --------
    >>> def my_test(data, outcome, ctx):
    ...     return Estimate(estimate=0.0, p_value=1.0)
    >>> register_analysis("my-test", my_test).name
    'my-test'
    >>> _ = ANALYSES.pop("my-test")
    """
    a = Analysis(name, func, batched, needs_sessions, estimand, tuple(array_keys))
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


# --------------------------------------------------------------------------- kernels
def _t_summary(est: np.ndarray, se: np.ndarray, df: np.ndarray | float,
               conf_level: float) -> dict[str, np.ndarray]:
    with np.errstate(divide="ignore", invalid="ignore"):
        t = est / se
    df_arr = np.broadcast_to(np.asarray(df, dtype=float), est.shape)
    p = 2 * special.stdtr(df_arr, -np.abs(t))
    # t quantiles are costly: compute them once per distinct df (usually one or a few)
    uniq, inv = np.unique(df_arr, return_inverse=True)
    q = np.asarray(stats.t.isf((1 - conf_level) / 2, uniq), dtype=float)[inv].reshape(est.shape)
    return {"estimate": est, "std_error": se, "conf_low": est - q * se,
            "conf_high": est + q * se, "p_value": p, "df": df_arr}


def _masked(y: np.ndarray, *others: np.ndarray) -> tuple[Any, ...]:
    """Zero out missing outcomes (and the matching entries of ``others``).

    Returns ``(w, n, y0, *others0)``: ``w`` is the float 0/1 observed mask or
    None when nothing is missing (then no copies are made), ``n`` the number
    observed per replicate.
    """
    y = np.asarray(y, dtype=float)
    others = tuple(np.asarray(o, dtype=float) for o in others)
    obs = np.isfinite(y)
    for o in others:
        obs &= np.isfinite(o)
    if obs.all():
        return (None, np.full(y.shape[0], float(y.shape[1])), y, *others)
    w = obs.astype(float)
    return (w, w.sum(axis=1), np.where(obs, y, 0.0), *(np.where(obs, o, 0.0) for o in others))


def _rowdot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.einsum("ij,ij->i", a, b)


def ttest_kernel(y: np.ndarray, arm: np.ndarray, conf_level: float = 0.95) -> dict[str, np.ndarray]:
    """Student's two-sample t test (pooled variance) on stacked replicates.

    Computed from per-replicate sums and cross-products (one pass each, no
    Python loop over replicates).

    Parameters
    ----------
    y : ndarray, shape (replicates, n)
        Outcome.
    arm : ndarray, shape (replicates, n)
        0/1 treatment indicator.
    conf_level : float
        Level of the confidence interval.

    Returns
    -------
    dict of ndarray
        ``estimate`` (mean treated - mean control), ``std_error``, ``conf_low``,
        ``conf_high``, ``p_value``, ``df``; one value per replicate. Missing
        outcomes (NaN) are left out.
    """
    _, n, y0, a = _masked(y, arm)
    n1 = a.sum(axis=1)
    n0 = n - n1
    sy = y0.sum(axis=1)
    s1 = _rowdot(a, y0)
    s0 = sy - s1
    yy = _rowdot(y0, y0)
    yy1 = _rowdot(a, y0 * y0)
    with np.errstate(divide="ignore", invalid="ignore"):
        m1 = s1 / n1
        m0 = s0 / n0
        ss = (yy1 - s1 * m1) + ((yy - yy1) - s0 * m0)
        df = n - 2
        s2 = np.maximum(ss, 0.0) / df
        se = np.sqrt(s2 * (1 / n1 + 1 / n0))
    return _t_summary(m1 - m0, se, df, conf_level)


def ancova_kernel(
    y: np.ndarray, arm: np.ndarray, x: np.ndarray, conf_level: float = 0.95
) -> dict[str, np.ndarray]:
    """OLS ``y ~ 1 + arm + x`` on stacked replicates, closed form; inference on ``arm``.

    The intercept is absorbed by centring the per-replicate cross-products,
    leaving a 2 x 2 normal-equation system solved explicitly (no loops, no
    ``lstsq``). Residual df is ``n - 3``. Missing outcomes (NaN) are left out.

    Returns
    -------
    dict of ndarray
        As :func:`ttest_kernel`; ``estimate`` is the adjusted arm difference.
    """
    w, n, y0, a, x0 = _masked(y, arm, x)
    # centre x by its per-replicate mean first (keeps the cross-products well scaled)
    with np.errstate(divide="ignore", invalid="ignore"):
        xbar = x0.sum(axis=1) / n
        ybar = y0.sum(axis=1) / n
    xc = x0 - xbar[:, None]
    yc = y0 - ybar[:, None]
    if w is not None:  # missing values: zero them again after centring
        xc *= w
        yc *= w
    sa = a.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        saa = _rowdot(a, a) - sa * sa / n
        sax = _rowdot(a, xc)
        say = _rowdot(a, yc)
        sxx = _rowdot(xc, xc)
        sxy = _rowdot(xc, yc)
        syy = _rowdot(yc, yc)
        det = saa * sxx - sax**2
        b_a = (sxx * say - sax * sxy) / det
        b_x = (saa * sxy - sax * say) / det
        rss = np.maximum(syy - b_a * say - b_x * sxy, 0.0)
        df = n - 3
        s2 = rss / df
        se = np.sqrt(s2 * sxx / det)
    return _t_summary(b_a, se, df, conf_level)


def riskdiff_kernel(y: np.ndarray, arm: np.ndarray, conf_level: float = 0.95) -> dict[str, np.ndarray]:
    """Risk difference of a 0/1 outcome on stacked replicates.

    The p-value is the pooled two-proportion z test (equal to Pearson's
    chi-squared test without continuity correction, R's
    ``prop.test(correct = FALSE)``); the interval is the Wald interval with the
    unpooled SE. When both arms have the same all-0 or all-1 outcome the test has
    no information and ``p_value`` is 1 (no rejection, not a failure).

    Returns
    -------
    dict of ndarray
        As :func:`ttest_kernel` (``df`` is infinite).
    """
    _, n, y0, a = _masked(y, arm)
    n1 = a.sum(axis=1)
    n0 = n - n1
    s1 = _rowdot(a, y0)
    with np.errstate(divide="ignore", invalid="ignore"):
        p1 = s1 / n1
        p0 = (y0.sum(axis=1) - s1) / n0
        rd = p1 - p0
        pp = (p1 * n1 + p0 * n0) / (n1 + n0)
        se_pool = np.sqrt(pp * (1 - pp) * (1 / n1 + 1 / n0))
        z = rd / se_pool
        p = np.where(se_pool > 0, 2 * special.ndtr(-np.abs(z)), 1.0)
        p = np.where(np.isfinite(pp), p, np.nan)
        se = np.sqrt(p1 * (1 - p1) / n1 + p0 * (1 - p0) / n0)
    q = stats.norm.isf((1 - conf_level) / 2)
    return {"estimate": rd, "std_error": se, "conf_low": rd - q * se, "conf_high": rd + q * se,
            "p_value": p, "df": np.full(rd.shape, np.inf)}


def _first(out: dict[str, np.ndarray]) -> Estimate:
    vals = {k: float(out[k][0]) for k in ("estimate", "p_value", "std_error", "conf_low",
                                          "conf_high")}
    if not math.isfinite(vals["p_value"]):
        raise FloatingPointError("the test statistic is undefined (empty arm or no variation)")
    return Estimate(**vals)


def _col(data: Any, outcome: str) -> np.ndarray:
    pts = data.patients
    if outcome not in pts.columns:
        raise SpecificationError(
            f"outcome {outcome!r} is not a column of the simulated patients; available: "
            f"{', '.join(map(str, pts.columns))}"
        )
    return pts[outcome].to_numpy(dtype=float)[None, :]


# --------------------------------------------------------------------------- general analyses
def _ttest(data: Any, outcome: str, ctx: AnalysisContext) -> Estimate:
    arm = data.patients[ctx.treatment].to_numpy(dtype=float)[None, :]
    return _first(ttest_kernel(_col(data, outcome), arm, ctx.conf_level))


def _ancova(data: Any, outcome: str, ctx: AnalysisContext) -> Estimate:
    if not ctx.baseline:
        raise SpecificationError(f"ANCOVA needs a baseline column for outcome {outcome!r}")
    arm = data.patients[ctx.treatment].to_numpy(dtype=float)[None, :]
    x = data.patients[ctx.baseline].to_numpy(dtype=float)[None, :]
    return _first(ancova_kernel(_col(data, outcome), arm, x, ctx.conf_level))


def _check_binary(y: np.ndarray, outcome: str) -> None:
    vals = y[np.isfinite(y)]
    if vals.size and not np.all((vals == 0) | (vals == 1)):
        raise SpecificationError(
            f"risk-difference / logistic need a 0/1 outcome; {outcome!r} is not (use "
            "'t-test' or 'ancova' for scores)"
        )


def _riskdiff(data: Any, outcome: str, ctx: AnalysisContext) -> Estimate:
    arm = data.patients[ctx.treatment].to_numpy(dtype=float)[None, :]
    y = _col(data, outcome)
    _check_binary(y, outcome)
    return _first(riskdiff_kernel(y, arm, ctx.conf_level))


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


def _covariate_columns(ctx: AnalysisContext) -> list[str]:
    out = []
    for c in ctx.covariates:
        c = c.strip()
        out.append(c[2:-1] if c.startswith("C(") and c.endswith(")") else c)
    return out


def _complete(data: Any, outcome: str, ctx: AnalysisContext, extra: tuple[str, ...] = (),
              *, covariates: bool = False) -> Any:
    """Complete cases (outcome observed) of the patient table."""
    cols = [ctx.treatment, outcome, *(_covariate_columns(ctx) if covariates else []), *extra]
    pts = data.patients
    cols = list(dict.fromkeys(cols))
    ok = np.ones(len(pts), dtype=bool)
    for c in cols:
        v = pts[c].to_numpy()
        if v.dtype.kind == "f":
            ok &= ~np.isnan(v)
        elif v.dtype.kind not in "iub":
            ok &= ~pd.isna(v)
    return pts if ok.all() else pts.loc[ok]


def _logistic(data: Any, outcome: str, ctx: AnalysisContext) -> Estimate:
    """Logistic regression of a 0/1 outcome on arm (and the baseline); log odds ratio."""
    import statsmodels.api as sm

    extra = (ctx.baseline,) if ctx.baseline else ()
    pts = _complete(data, outcome, ctx, extra)
    _check_binary(pts[outcome].to_numpy(dtype=float), outcome)
    cols = [ctx.treatment, *extra]
    X = sm.add_constant(pts[cols].to_numpy(dtype=float), has_constant="add")
    fit = sm.GLM(pts[outcome].to_numpy(dtype=float), X, family=sm.families.Binomial()).fit()
    est, se = float(fit.params[1]), float(fit.bse[1])
    q = stats.norm.isf((1 - ctx.conf_level) / 2)
    return Estimate(est, float(fit.pvalues[1]), se, est - q * se, est + q * se)


def _formula(ctx: AnalysisContext) -> str:
    if not ctx.covariates:
        raise SpecificationError("PSM / IPW / AIPW need `covariates` (the confounders)")
    return f"{ctx.treatment} ~ " + " + ".join(ctx.covariates)


def _psm(data: Any, outcome: str, ctx: AnalysisContext) -> Estimate:
    import causalpa as cpa

    opts = dict(ctx.options.get("psm", {}))
    est_opts = opts.pop("estimate", {})
    pts = _complete(data, outcome, ctx, covariates=True)
    m = cpa.match(pts, _formula(ctx), **{"estimand": "ATT", **opts})
    return as_estimate(m.estimate(outcome, **est_opts))


def _ipw(data: Any, outcome: str, ctx: AnalysisContext) -> Estimate:
    import causalpa as cpa

    opts = dict(ctx.options.get("ipw", {}))
    est_opts = opts.pop("estimate", {})
    pts = _complete(data, outcome, ctx, covariates=True)
    w = cpa.weight(pts, _formula(ctx), **{"estimand": "ATE", **opts})
    return as_estimate(w.estimate(outcome, **est_opts))


def _aipw(data: Any, outcome: str, ctx: AnalysisContext) -> Estimate:
    import causalpa as cpa

    opts = dict(ctx.options.get("aipw", {}))
    if not ctx.covariates:
        raise SpecificationError("AIPW needs `covariates` (the confounders)")
    pts = _complete(data, outcome, ctx, covariates=True)
    return as_estimate(cpa.aipw(pts, outcome=outcome, treatment=ctx.treatment,
                                covariates=_covariate_columns(ctx), **opts))


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

    score = outcome.split("_")[0]
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

    cluster = ctx.cluster or "therapist"
    opts = {"df": "satterthwaite", **dict(ctx.options.get("mixed", {}))}
    pts = _complete(data, outcome, ctx, (cluster,) + ((ctx.baseline,) if ctx.baseline else ()))
    rhs = ctx.treatment + (f" + {ctx.baseline}" if ctx.baseline else "")
    fit = cpa.mixed(pts, f"{outcome} ~ {rhs}", groups=cluster, **opts)
    return _mixed_row(fit, ctx.treatment)


def _cluster_t(data: Any, outcome: str, ctx: AnalysisContext) -> Estimate:
    """Run a t test on cluster (therapist) means: valid with few, randomised clusters."""
    cluster = ctx.cluster or "therapist"
    pts = _complete(data, outcome, ctx, (cluster,))
    means = pts.groupby(cluster).agg(y=(outcome, "mean"), arm=(ctx.treatment, "mean"))
    if not set(np.unique(means["arm"])) <= {0.0, 1.0}:
        raise SpecificationError(
            "the cluster-level t test needs every cluster wholly in one arm "
            "(randomise by therapist)"
        )
    return _first(ttest_kernel(means["y"].to_numpy()[None, :], means["arm"].to_numpy()[None, :],
                               ctx.conf_level))


register_analysis("t-test", _ttest, batched=_batched_ttest)
register_analysis("ancova", _ancova, batched=_batched_ancova)
register_analysis("risk-difference", _riskdiff, batched=_batched_riskdiff)
register_analysis("logistic", _logistic, estimand="log odds ratio")
def _batched_cluster_t(arrays: Mapping[str, np.ndarray], outcome: str,
                       ctx: AnalysisContext) -> dict[str, np.ndarray]:
    """Cluster-means t test on stacked replicates (therapist means by ``bincount``)."""
    cluster = ctx.cluster or "therapist"
    y = np.asarray(arrays[outcome], dtype=float)
    lab = np.asarray(arrays[cluster]).astype(np.int64)
    arm = np.asarray(arrays[ctx.treatment], dtype=float)
    r = y.shape[0]
    codes = lab - lab.min(axis=1, keepdims=True)
    k = int(codes.max()) + 1
    idx = (codes + k * np.arange(r)[:, None]).ravel()
    obs = np.isfinite(y).ravel()
    count = np.bincount(idx[obs], minlength=r * k).reshape(r, k)
    total = np.bincount(idx[obs], weights=y.ravel()[obs], minlength=r * k).reshape(r, k)
    arm_total = np.bincount(idx[obs], weights=arm.ravel()[obs], minlength=r * k).reshape(r, k)
    with np.errstate(divide="ignore", invalid="ignore"):
        means = np.where(count > 0, total / count, np.nan)
        arm_mean = np.where(count > 0, arm_total / count, np.nan)
    mixed = np.isfinite(arm_mean) & (arm_mean != 0) & (arm_mean != 1)
    if mixed.any():
        raise SpecificationError(
            "the cluster-level t test needs every cluster wholly in one arm "
            "(randomise by therapist)"
        )
    return ttest_kernel(means, arm_mean, ctx.conf_level)


register_analysis("cluster-t", _cluster_t, batched=_batched_cluster_t, array_keys=("therapist",))
register_analysis("mixed", _mixed_sessions, needs_sessions=True, estimand="slope difference")
register_analysis("mixed-cluster", _mixed_cluster)
register_analysis("psm", _psm, estimand="ATT")
register_analysis("ipw", _ipw, estimand="ATE")
register_analysis("aipw", _aipw, estimand="ATE")

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


# --------------------------------------------------------------------------- multiplicity
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
