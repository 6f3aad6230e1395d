"""Propensity-score weights (registry entry ``"ps"``) and their estimating equations.

With :math:`e` the score from :func:`causalpa.propensity` (logistic, Firth or any
scikit-learn classifier) and :math:`T` the treatment: ATE ``T/e + (1-T)/(1-e)``; ATT
``T + (1-T) e/(1-e)``; ATC ``T (1-e)/e + (1-T)``; ATO (overlap weights)
``T (1-e) + (1-T) e``. ``stabilize=True`` multiplies each arm's weights by the arm's
sample proportion (Robins, Hernan & Brumback 2000), as WeightIt.

For a logistic (or Firth) score the estimating equations of the score model,
``x_i (t_i - e_i)``, enter the stacked M-estimation sandwich (Lunceford & Davidian
2004; WeightIt's ``vcov = "asympt"``).
"""

from __future__ import annotations

import numpy as np
from scipy import special

from causalpa._regression import logistic
from causalpa._validation import format_rows
from causalpa.errors import DataError
from causalpa.propensity import PropensityScore, _propensity_from_spec, propensity
from causalpa.weighting._base import (
    MethodFit,
    Nuisance,
    WeightProblem,
    arm_constants,
    register_method,
)

__all__ = ["ipw_weights", "weights_from_scores", "ps_weights"]


def ipw_weights(
    e: np.ndarray, t: np.ndarray, estimand: str, *, q: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Propensity-score weights and their derivative with respect to the score.

    Parameters
    ----------
    e : ndarray
        Propensity scores in (0, 1).
    t : ndarray
        0/1 treatment.
    estimand : {"ATE", "ATT", "ATC", "ATO"}
        Target population.
    q : ndarray, optional
        ``1 - e`` computed accurately (e.g. ``expit(-linear predictor)``), so that
        scores within rounding of 1 still give finite weights.

    Returns
    -------
    (ndarray, ndarray)
        The weights ``w`` and ``dw/de``.

    Raises
    ------
    DataError
        A score of exactly 0 (treated unit) or 1 (control unit) gives an infinite weight.

    Examples
    --------
    >>> w, _ = ipw_weights(np.array([0.25, 0.5]), np.array([1, 0]), "ATE")
    >>> w.tolist()
    [4.0, 2.0]
    """
    t = t.astype(float)
    q = 1 - e if q is None else q
    # divide only where the term is used: a control with e = 0 (or a treated unit with
    # e = 1) has a finite weight
    e_t = np.where(t == 1, e, 1.0)
    q_c = np.where(t == 0, q, 1.0)
    with np.errstate(divide="ignore"):
        if estimand == "ATE":
            w, d = t / e_t + (1 - t) / q_c, -t / e_t**2 + (1 - t) / q_c**2
        elif estimand == "ATT":
            w, d = t + (1 - t) * e / q_c, (1 - t) / q_c**2
        elif estimand == "ATC":
            w, d = t * q / e_t + (1 - t), -t / e_t**2
        else:
            w, d = t * q + (1 - t) * e, 1 - 2 * t
    if not np.all(np.isfinite(w)):
        bad = np.flatnonzero(~np.isfinite(w))
        raise DataError(
            f"propensity scores of exactly 0 or 1 at positions {format_rows(bad)} give infinite "
            "weights: there is no overlap for these units. Restrict the sample to common "
            "support, use estimand='ATO', or ps_model='firth'."
        )
    return w, d


def weights_from_scores(
    e: np.ndarray,
    t: np.ndarray,
    estimand: str,
    *,
    stabilize: bool = False,
    X: np.ndarray | None = None,
    q: np.ndarray | None = None,
) -> MethodFit:
    """Weights of given scores and, with the logistic design ``X``, their estimating equations.

    Parameters
    ----------
    e, t : ndarray
        Scores and 0/1 treatment.
    estimand : {"ATE", "ATT", "ATC", "ATO"}
        Target population.
    stabilize : bool
        Stabilised weights.
    X : ndarray, optional
        Design of a logistic score model (with intercept); gives the :class:`Nuisance`
        ``psi = x (t - e)``, its Jacobian and the derivative of the weights.
    q : ndarray, optional
        ``1 - e`` computed accurately.

    Returns
    -------
    MethodFit

    Examples
    --------
    >>> fit = weights_from_scores(np.array([0.5, 0.25]), np.array([1, 0]), "ATE",
    ...                           X=np.ones((2, 1)))
    >>> fit.weights.tolist(), fit.nuisance.psi.ravel().tolist()
    ([2.0, 1.3333333333333333], [0.5, -0.25])
    """
    w, dw_de = ipw_weights(e, t, estimand, q=q)
    c = arm_constants(t, stabilize)
    w, dw_de = w * c, dw_de * c
    nuisance = None
    if X is not None:
        v = e * (1 - e)
        psi = X * (t - e)[:, None]
        jac = -(X * v[:, None]).T @ X
        dw = X * (dw_de * v)[:, None]
        nuisance = Nuisance(psi=psi, jac=jac, dw=dw, label="logistic propensity score")
    return MethodFit(weights=w, nuisance=nuisance)


def _label(estimand: str) -> str:
    return "overlap weighting" if estimand == "ATO" else "inverse probability weighting"


@register_method("ps")
def ps_weights(problem: WeightProblem) -> MethodFit:
    """Propensity-score weights (registry entry ``"ps"``).

    Examples
    --------
    >>> import causalpa as cpa
    >>> problem = WeightProblem.from_formula(cpa.datasets.load_pilot(), "pa ~ age", "ATT")
    >>> fit = ps_weights(problem)
    >>> fit.label, fit.nuisance.label, float(fit.weights[problem.treatment == 1].max())
    ('inverse probability weighting', 'logistic propensity score', 1.0)
    """
    p = problem
    ps = _propensity_from_spec(p.data, p.spec, ps_model=p.ps_model, positivity=p.positivity)
    parametric = ps.coef is not None
    fit = weights_from_scores(ps.scores.to_numpy(), p.treatment, p.estimand,
                              stabilize=p.stabilize, X=ps.design if parametric else None,
                              q=special.expit(-ps.linear_predictor.to_numpy()))
    return MethodFit(weights=fit.weights, label=_label(p.estimand), ps=ps, nuisance=fit.nuisance,
                     no_nuisance_reason="the propensity model is not a parametric logistic model",
                     refit=lambda idx: _refit(problem, ps, idx))


def _refit(problem: WeightProblem, ps: PropensityScore, idx: np.ndarray) -> np.ndarray:
    """Weights with the propensity model re-estimated on the rows ``idx`` (bootstrap)."""
    tb = problem.treatment[idx]
    if ps.coef is not None:
        fit = logistic(tb, ps.design[idx], firth=ps.model == "firth", maxit=100)
        e, q = fit.fitted, special.expit(-fit.eta)
    else:
        sub = problem.data.iloc[idx].reset_index(drop=True)
        e = propensity(sub, problem.spec.formula, ps_model=problem.ps_model,
                       treated=problem.spec.treated, positivity=None).scores.to_numpy()
        q = 1 - e
    return weights_from_scores(e, tb, problem.estimand, stabilize=problem.stabilize,
                               q=q).weights
