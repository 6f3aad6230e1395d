"""Stacked M-estimation for weighted effects, and the small-sample rule of weighting.

The effect of :meth:`WeightResult.estimate <causalpa.weighting.WeightResult.estimate>` is
the weighted g-computation of :func:`causalpa.estimation.gcomp`. Its standard errors come
from the variance registry of :mod:`causalpa.inference`:

* with the weight model's estimating equations (:class:`~causalpa.weighting.Nuisance`),
  the ``"sandwich"`` estimator of the stacked system ``theta = (gamma, beta)``: the weight
  model's equations and the weighted outcome model ``w_i x_i (y_i - g(x_i' beta))`` with
  ``x = (1, t, z, t z)``, as WeightIt's ``glm_weightit(vcov = "asympt")`` (Lunceford &
  Davidian 2004);
* otherwise the weights are treated as known and ``"HC0"`` (as WeightIt's ``vcov =
  "HC0"``, ``geepack::geeglm`` and ``survey::svyglm``) or ``"HC1"``-``"HC3"`` is the
  sandwich of the outcome model.

The effect is the contrast of the g-computation means with the averaging weights held
fixed; its standard error is the delta method, as ``marginaleffects::avg_comparisons``.
When an arm has fewer than :data:`~causalpa.inference.SMALL_ARM` units,
:func:`sandwich_effect` applies the package's small-sample rule for weighting (see there).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from causalpa.errors import DataError
from causalpa.estimation import delta_se, gcomp
from causalpa.inference import (
    SMALL_ARM,
    Moments,
    is_small,
    small_sample_inflation,
    variance,
    warn_small_sample,
)
from causalpa.results import Effect, effect_from_estimate
from causalpa.weighting._base import Nuisance

__all__ = ["averaging_weights", "stacked_sandwich", "sandwich_effect"]


def averaging_weights(t: np.ndarray, w: np.ndarray, estimand: str) -> np.ndarray:
    """Weights of the g-computation average, as WeightIt's effect estimation.

    ATE: every unit equally; ATT: the treated; ATC: the controls; ATO: the
    (overlap) weights themselves.

    Examples
    --------
    >>> averaging_weights(np.array([1, 0]), np.array([0.3, 0.7]), "ATT").tolist()
    [1.0, 0.0]
    """
    if estimand == "ATT":
        return (t == 1).astype(float)
    if estimand == "ATC":
        return (t == 0).astype(float)
    if estimand == "ATO":
        return np.asarray(w, dtype=float)
    return np.ones(len(t))


def stacked_sandwich(
    y: np.ndarray,
    t: np.ndarray,
    w: np.ndarray,
    Z: np.ndarray,
    s: np.ndarray,
    measure: str,
    *,
    logit: bool,
    nuisance: Nuisance | None,
    se: str = "HC0",
) -> tuple[float, float, np.ndarray]:
    """Effect and standard error of a weighted g-computation (:func:`causalpa.estimation.gcomp`).

    Parameters
    ----------
    y, t, w : ndarray
        Outcome, 0/1 treatment and weights.
    Z : ndarray
        Adjustment covariates (n x q; q may be 0).
    s : ndarray
        Averaging weights (:func:`averaging_weights`).
    measure : str
        "difference", "risk difference", "risk ratio" or "odds ratio".
    logit : bool
        Weighted logistic outcome model (else weighted least squares).
    nuisance : Nuisance or None
        The weight model's estimating equations: the stacked M-estimation sandwich
        (registry entry ``"sandwich"``). ``None``: weights treated as known.
    se : {"HC0", "HC1", "HC2", "HC3"}
        Sandwich of the outcome model when the weights are treated as known.

    Returns
    -------
    (float, float, ndarray)
        The contrast (log scale for ratios), its standard error and the covariance of
        the stacked parameters (of ``beta`` alone without ``nuisance``).

    Examples
    --------
    >>> t = np.array([1, 1, 1, 0, 0, 0])
    >>> y = np.array([3.0, 4, 5, 1, 2, 3])
    >>> est, se, _ = stacked_sandwich(y, t, np.ones(6), np.zeros((6, 0)), np.ones(6),
    ...                               "difference", logit=False, nuisance=None)
    >>> round(est, 6), round(se, 4)
    (2.0, 0.6667)
    """
    g = gcomp(y, t, w, Z, s, measure, link="logit" if logit else "identity")
    fit = g.fit
    if nuisance is None:
        moments = Moments.from_fit(fit)
        positive = np.asarray(w) > 0
        if not positive.all():
            # units with weight 0 are not observations of the outcome model (as R's lm
            # with zero weights): they add nothing to the sandwich, and must not count in
            # the n of HC1's n / (n - k)
            moments = Moments(psi=moments.psi[positive], bread=moments.bread,
                              xs=fit.xs[positive], es=fit.es[positive], rank=moments.rank)
        V = variance(se).vcov(moments)
        return g.estimate, delta_se(g.gradient, V), V
    kg = nuisance.psi.shape[1]
    kb = g.X.shape[1]
    ig, ib = slice(0, kg), slice(kg, kg + kb)
    J = np.zeros((kg + kb, kg + kb))
    J[ig, ig] = nuisance.jac
    J[ib, ib] = -(fit.xs.T @ fit.xs)
    J[ib, ig] = g.X.T @ (nuisance.dw * (y - fit.fitted)[:, None])
    psi = np.hstack([nuisance.psi, fit.xs * fit.es[:, None]])
    V = variance("sandwich").vcov(Moments.stacked(psi, J))
    return g.estimate, delta_se(g.gradient, V[ib, ib]), V


def sandwich_effect(
    y: np.ndarray,
    t: np.ndarray,
    w: np.ndarray,
    Z: np.ndarray,
    s: np.ndarray,
    *,
    logit: bool,
    nuisance: Nuisance | None,
    se: str,
    why_known: str | None,
    small_sample_rule: bool = True,
    **fields: Any,
) -> Effect:
    """Weighted effect with a sandwich standard error, applying the small-sample rule.

    With ``nuisance`` the stacked M-estimation sandwich is used, otherwise the
    weights-known sandwich ``se`` (``why_known`` says why, as a note, when the
    M-estimation sandwich was asked for). When an arm has fewer than
    :data:`~causalpa.inference.SMALL_ARM` units (calibrated by simulation at n = 38, see
    ``tests/test_weighting.py``) the correction for the estimated weights is itself
    unreliable, so the larger of the stacked and the weights-known sandwich is used,
    inflated by ``n / (n - p)`` with a t reference on ``n - p`` degrees of freedom
    (:func:`~causalpa.inference.small_sample_inflation`; ``p`` counts the outcome and
    weight-model parameters), and a :class:`~causalpa.errors.SmallSampleWarning` says so.
    ``n`` counts the units with positive weight only: units given weight 0 (by
    ``trim_drop``) are not observations of the outcome model, as in R's ``lm``, whose
    residual degrees of freedom ignore zero-weight cases.

    With ``small_sample_rule=False`` (an estimator such as ``"HC1"`` requested by name)
    the requested sandwich is kept exactly, with its normal reference, and the warning
    says that the small-sample rule was not applied: inflating ``"HC1"`` by
    ``n / (n - p)`` would apply the degrees-of-freedom correction twice, and ``"HC0"``
    would silently become HC1.

    Parameters
    ----------
    y, t, w, Z, s : ndarray
        As :func:`stacked_sandwich`.
    logit : bool
        Weighted logistic outcome model.
    nuisance : Nuisance or None
        The weight model's estimating equations (None: weights treated as known).
    se : {"HC0", "HC1", "HC2", "HC3"}
        The weights-known sandwich.
    why_known : str or None
        Reason for a note when the M-estimation sandwich was asked for but not possible.
    small_sample_rule : bool
        Apply the small-sample rule when an arm is small (the defaults ``se="sandwich"``
        and ``"robust"``); False keeps an estimator requested by name as it is.
    **fields
        The :class:`~causalpa.results.Effect` fields other than the estimate and its
        inference (``measure``, ``n_treated``, ``n_control``, ``conf_level``, ...).

    Returns
    -------
    Effect
    """
    measure = fields["measure"]
    est, std, _ = stacked_sandwich(y, t, w, Z, s, measure, logit=logit, nuisance=nuisance,
                                   se=se)
    if not np.isfinite(est):
        raise DataError(f"the {measure} is undefined: an arm's average risk is 0 or 1")
    notes: list[str] = []
    if nuisance is not None:
        label = f"M-estimation sandwich (accounts for {nuisance.label})"
    else:
        label = f"robust ({se}) sandwich, weights treated as known"
        if why_known:
            notes.append(f"{why_known}: the sandwich treats the weights as known")
    df = np.inf
    n1, n0 = fields["n_treated"], fields["n_control"]
    if is_small(n1, n0) and not small_sample_rule:
        label += ", normal reference"
        notes.append(warn_small_sample(
            f"an arm has fewer than {SMALL_ARM} units ({n1} treated, {n0} control) and "
            f"se={se!r} was requested: it is used as it is, without the small-sample rule "
            "(factor n/(n-p), t with n-p df), so its normal-reference interval can be too "
            "narrow; use se='sandwich' or se='robust' for the small-sample rule, or "
            "se='bootstrap'", stacklevel=5))
    elif is_small(n1, n0):
        if nuisance is not None:
            _, std_known, _ = stacked_sandwich(y, t, w, Z, s, measure, logit=logit,
                                               nuisance=None)
            std = max(std, std_known)
        p = 2 * (1 + Z.shape[1]) + (0 if nuisance is None else nuisance.psi.shape[1])
        n = int(np.sum(np.asarray(w) > 0))  # zero-weight units are not observations
        std, df = small_sample_inflation(std, n, p)
        label = (
            "small-sample sandwich: larger of the M-estimation and weights-known "
            f"sandwich, factor n/(n-p) with p = {p}, t with {df:g} df"
            if nuisance is not None
            else label + f", factor n/(n-p) with p = {p}, t with {df:g} df"
        )
        notes.append(warn_small_sample(
            f"an arm has fewer than {SMALL_ARM} units ({n1} treated, {n0} control): "
            f"using the {label}; large-sample normal intervals would be too narrow. "
            "With few patients prefer ps_model='firth', few covariates, and report the "
            "uncertainty honestly.", stacklevel=5))
    else:
        label += ", normal reference"
    return effect_from_estimate(est, std, df=df, log_scale=measure in ("risk ratio", "odds ratio"),
                                inference=label, notes=tuple(notes), **fields)
