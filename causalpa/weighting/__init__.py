"""Balancing weights: inverse probability weights, overlap weights, entropy balancing.

:func:`weight` estimates unit weights that make the treated and control groups
comparable for a target population (the *estimand*) and returns a
:class:`WeightResult`: the weights, effective sample sizes, a per-arm weight summary
(``tidy()``), a plot, balance diagnostics and :meth:`WeightResult.estimate`.

Methods (registry ``METHODS``, one signature each, as WeightIt's ``weightit2<method>``;
see :mod:`causalpa.weighting._base` to add one):

``"ps"`` (:mod:`causalpa.weighting.ps`)
    Propensity-score weights from :func:`causalpa.propensity` (logistic, Firth or
    any scikit-learn classifier). With :math:`e` the score and :math:`T` the
    treatment: ATE ``T/e + (1-T)/(1-e)``; ATT ``T + (1-T) e/(1-e)``; ATC
    ``T (1-e)/e + (1-T)``; ATO (overlap weights) ``T (1-e) + (1-T) e``.
    ``stabilize=True`` multiplies each arm's weights by the arm's sample
    proportion (Robins, Hernan & Brumback 2000), as WeightIt.
``"entropy"`` (:mod:`causalpa.weighting.entropy`)
    Entropy balancing (Hainmueller 2012): the weights closest to uniform in
    Kullback-Leibler divergence that give *exact* equality of covariate means.
    ATT reweights the controls to the treated means (treated weight 1), ATC the
    treated to the control means, ATE each arm to the full-sample means. Solved
    by Newton's method on the convex dual.

Trimming (:mod:`causalpa.weighting.trim`) follows WeightIt's ``trim()``: ``trim=at``
with ``0.5 < at < 1`` winsorises every weight above the ``at`` quantile (R's quantile
type 3) to that quantile (``at < 0.5`` is read as ``1 - at``); a whole number
``at >= 1`` trims the ``at`` largest weights to the next largest; ``trim_lower=True``
also trims the bottom; ``trim_drop=True`` sets trimmed weights to 0 instead. Arms whose
weights are all equal (the focal arm for ATT/ATC) are not trimmed.

Standard errors of :meth:`WeightResult.estimate` (``se=``, names of the variance
registry :data:`causalpa.inference.VARIANCES` and the alias ``"robust"``):

``"sandwich"`` (default)
    M-estimation sandwich stacking the propensity-score (or entropy-balancing)
    estimating equations with the weighted outcome model and the g-computation
    means, so it accounts for the estimation of the weights (as WeightIt's
    ``vcov = "asympt"``; Lunceford & Davidian 2004; :mod:`causalpa.weighting.sandwich`).
    For the ATE this is usually smaller than the robust SE, which treats the weights
    as known.
``"robust"``
    Weights treated as known: the HC0 sandwich of the weighted outcome model (as
    ``geepack::geeglm``, ``survey::svyglm`` without the finite-population factor,
    and WeightIt's ``vcov = "HC0"``), conservative for the ATE. This is the
    standard error of What If (Hernan & Robins, ch. 12). ``"HC0"``-``"HC3"`` ask for
    that weights-known sandwich by name.
``"bootstrap"``
    Nonparametric bootstrap (:func:`causalpa.inference.bootstrap`) that re-estimates
    the weights in every replicate; percentile CI.

With ``adjust=`` the weighted outcome model ``y ~ t * (covariates)`` is averaged
(g-computation, :func:`causalpa.estimation.gcomp`) over all units for the ATE, the
treated for the ATT, the controls for the ATC and with the overlap weights for the ATO,
as WeightIt's effect estimation; the delta method holds the covariates fixed (as
``marginaleffects::avg_comparisons``). When an arm has fewer than 20 units the
small-sample rule of :func:`causalpa.weighting.sandwich.sandwich_effect` applies to
``"sandwich"`` and ``"robust"``; an estimator named (``"HC0"``-``"HC3"``) is kept exactly,
and the warning says the rule was not applied. Units of weight 0 (``trim_drop=True``) do
not count as observations in ``n``.

Examples
--------
>>> import numpy as np, pandas as pd
>>> import causalpa as cpa
>>> rng = np.random.default_rng(0)
>>> df = pd.DataFrame({"age": rng.normal(40, 10, 400)})
>>> df["pa"] = rng.binomial(1, 1 / (1 + np.exp(-(df["age"] - 40) / 10)))
>>> df["y"] = 2 * df["pa"] + 0.1 * df["age"] + rng.normal(size=400)
>>> w = cpa.weight(df, "pa ~ age", outcome="y", estimand="ATE", stabilize=True)
>>> e = w.estimate()
>>> bool(e.conf_low < 2 < e.conf_high)
True
"""

import warnings
from collections.abc import Callable, Sequence
from typing import Any, Literal, TypeVar

import numpy as np
import pandas as pd

from causalpa._spec import Spec, make_spec
from causalpa._validation import (
    NONE,
    Boolean,
    Column,
    Columns,
    Number,
    Registered,
    check_arm_sizes,
    check_frame,
    check_outcome,
    format_rows,
    validate_params,
)
from causalpa.errors import CausalpaWarning, ExtremeWeightsWarning
from causalpa.propensity import FORMULA, POSITIVITY, PS_MODEL, PSModelName
from causalpa.weighting import ps as _ps  # noqa: F401  (registers "ps", the default, first)

# isort: split
from causalpa.weighting import entropy as _entropy  # noqa: F401  (registers "entropy")
from causalpa.weighting._base import (
    ESTIMANDS,
    METHODS,
    Estimand,
    MethodFit,
    Nuisance,
    WeightProblem,
    register_method,
)
from causalpa.weighting.entropy import entropy_weights
from causalpa.weighting.ps import ipw_weights
from causalpa.weighting.result import SE_CHOICES, WeightResult
from causalpa.weighting.sandwich import averaging_weights, stacked_sandwich
from causalpa.weighting.trim import Trim, trim_weights

__all__ = ["weight", "WeightResult", "METHODS", "register_method", "WeightProblem", "MethodFit",
           "Nuisance", "ipw_weights", "entropy_weights", "trim_weights", "averaging_weights",
           "stacked_sandwich", "ESTIMANDS", "SE_CHOICES"]

Method = Literal["ps", "entropy"]
_T = TypeVar("_T")

TRIM = [Number(low=0, high=1, low_inclusive=False, high_inclusive=False),
        Number(low=1, integer=True), NONE]
"""``trim=``: a quantile in (0, 1), a whole number of weights, or None."""


@validate_params({
    "formula": FORMULA, "outcome": [Column(), NONE], "treatment": [Column(), NONE],
    "covariates": [Columns(), NONE], "method": Registered(METHODS, "weighting method"),
    "stabilize": Boolean(), "trim": TRIM, "trim_lower": Boolean(), "trim_drop": Boolean(),
    "ps_model": PS_MODEL, "positivity": POSITIVITY,  # declared once, by cpa.propensity
})
def weight(
    data: pd.DataFrame,
    formula: str | Spec | None = None,
    *,
    outcome: str | None = None,
    treatment: str | None = None,
    covariates: Sequence[str] | None = None,
    method: Method | str = "ps",
    estimand: Estimand = "ATE",
    stabilize: bool = False,
    trim: float | None = None,
    trim_lower: bool = False,
    trim_drop: bool = False,
    ps_model: PSModelName | Any = "logistic",
    treated: Any = None,
    positivity: tuple[float, float] | None = (0.01, 0.99),
) -> WeightResult:
    """Estimate balancing weights for a binary treatment.

    Parameters
    ----------
    data : pandas.DataFrame
        Analysis data (never modified; the result keeps a copy).
    formula : str or Spec, optional
        ``"treatment ~ covariates"``; or give ``treatment=`` and ``covariates=``.
    outcome : str, optional
        Outcome column: the default outcome of :meth:`WeightResult.estimate`.
    treatment : str, optional
        Treatment column.
    covariates : list of str, optional
        Covariate columns.
    method : {"ps", "entropy"} or a registered method
        Propensity-score weights or entropy balancing (see the module notes).
    estimand : {"ATE", "ATT", "ATC", "ATO"}
        Target population; "ATO" = overlap weights (method "ps" only).
    stabilize : bool
        Multiply each arm's weights by its sample proportion (stabilised weights).
    trim : float, optional
        Trim (winsorise) weights above this quantile in (0, 1), or this whole number
        of largest weights (WeightIt's ``trim(at=)``; see the module notes).
    trim_lower : bool
        Also trim the lowest weights.
    trim_drop : bool
        Set trimmed weights to 0 instead of the boundary value.
    ps_model : {"logistic", "firth"} or scikit-learn classifier
        Propensity model for ``method="ps"``.
    treated : object, optional
        Treated level of a two-level treatment column that is not 0/1 or bool.
    positivity : (float, float) or None
        Score range outside which a :class:`~causalpa.errors.PositivityWarning` is issued.

    Returns
    -------
    WeightResult

    Raises
    ------
    SpecificationError
        Unknown option values (naming the argument).
    DataError
        Missing values, non-binary treatment, an arm with fewer than 2 units,
        separation in the propensity model, or no exact balance (entropy).

    Warns
    -----
    PositivityWarning
        Propensity scores near 0 or 1.
    ExtremeWeightsWarning
        A few units dominate an arm (low effective sample size); the message
        suggests remedies. Both are also kept in the result's ``notes``.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(2)
    >>> df = pd.DataFrame({"x": rng.normal(size=300)})
    >>> df["t"] = rng.binomial(1, 1 / (1 + np.exp(-df["x"])))
    >>> w = weight(df, "t ~ x", method="entropy", estimand="ATT")
    >>> treated_mean = df.loc[df.t == 1, "x"].mean()
    >>> ctrl = df.t == 0
    >>> bool(np.isclose(np.average(df.x[ctrl], weights=w.weights[ctrl]), treated_mean))
    True
    """
    data = check_frame(data).copy()  # the result's private copy
    spec = make_spec(data, formula, treatment=treatment, covariates=covariates, treated=treated)
    if outcome is not None:
        check_outcome(data, outcome)
    t = spec.treatment_array(data)
    t.setflags(write=False)
    check_arm_sizes(t, spec.treatment, "weighting")
    problem = WeightProblem(data=data, spec=spec, treatment=t, estimand=estimand,
                            stabilize=stabilize, ps_model=ps_model, positivity=positivity)
    trimming = None if trim is None else Trim(trim, lower=trim_lower, drop=trim_drop)
    (fit, w, changed), notes = _recorded(lambda: _weights(problem, method, trimming))
    return WeightResult(estimand=estimand, method=method, spec=spec, ps=fit.ps,
                        stabilize=stabilize, trimmed=data.index[changed], _problem=problem,
                        _fit=fit, _weights=w, outcome=outcome, trim=trimming, notes=notes)


def _weights(problem: WeightProblem, method: str,
             trimming: Trim | None) -> tuple[MethodFit, np.ndarray, np.ndarray]:
    """Run the method, trim, and warn about extreme weights: (fit, weights, trimmed mask)."""
    fit = METHODS[method](problem)
    w = np.asarray(fit.weights, dtype=float)
    changed = np.zeros(len(w), dtype=bool)
    if trimming is not None:
        w, changed = trimming.apply(w, problem.treatment)
    _warn_extreme(w, problem.treatment, problem.data.index)
    return fit, w, changed


def _recorded(fn: Callable[[], _T]) -> tuple[_T, tuple[str, ...]]:
    """Run ``fn``, re-issue its warnings to the caller and return causalpa's as notes.

    causalpa's warnings are recorded every time (they become the result's ``notes``);
    others follow the caller's filters. Re-issued, all of them meet the caller's filters
    again, at the caller's line.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CausalpaWarning)
        out = fn()
    for c in caught:
        warnings.warn(c.message, stacklevel=4)  # weight's caller (through validate_params)
    return out, tuple(str(c.message) for c in caught if issubclass(c.category, CausalpaWarning))


def _warn_extreme(w: np.ndarray, t: np.ndarray, index: pd.Index) -> None:
    for name, arm in (("treated", 1), ("control", 0)):
        m = t == arm
        wa = w[m]
        if wa.sum() <= 0:
            continue
        share = wa / wa.sum()
        ess = wa.sum() ** 2 / np.sum(wa**2)
        big = share > max(0.1, 10 / m.sum())
        if big.any() or ess < 0.5 * m.sum():
            rows = index[m][np.argsort(-share)[: max(int(big.sum()), 3)]]
            warnings.warn(
                f"extreme weights in the {name} arm: effective sample size {ess:.1f} of "
                f"{int(m.sum())}; largest weights in rows {format_rows(rows)} "
                f"(largest carries {100 * share.max():.0f}% of the arm's weight). Remedies: "
                "improve the propensity model, target the overlap population (estimand='ATO'), "
                "trim the weights (trim=0.99), or restrict to common support.",
                ExtremeWeightsWarning,
                stacklevel=3,
            )
