r"""Augmented inverse probability weighting (AIPW), the doubly robust estimator.

AIPW combines a propensity-score model :math:`e(x)` with outcome models
:math:`m_a(x) = E[Y \mid T = a, X = x]` fitted separately in each arm. For the
ATE (Robins, Rotnitzky & Zhao 1994; Glynn & Quinn 2010)

.. math::

    \hat\mu_1 = \frac1n\sum_i \Big[m_1(x_i) + \frac{t_i (y_i - m_1(x_i))}{e(x_i)}\Big],\qquad
    \hat\mu_0 = \frac1n\sum_i \Big[m_0(x_i) + \frac{(1-t_i)(y_i - m_0(x_i))}{1-e(x_i)}\Big],

and for the ATT :math:`\hat\mu_1` is the treated mean and
:math:`\hat\mu_0 = \sum_i [t_i m_0(x_i) + (1-t_i)\,\tfrac{e_i}{1-e_i}(y_i - m_0(x_i))] / \sum_i t_i`.
The estimate is consistent if *either* model is correct. Standard errors come
from the estimated influence functions (variance ``sum(phi^2) / n^2``); with
``cross_fit=k`` the nuisance models are fitted on k-1 folds and evaluated on the
held-out fold (Chernozhukov et al. 2018), which keeps the influence-function SE
valid for flexible machine-learning models.

Small samples: when an arm has fewer than 20 units the variance is inflated by
``n / (n - p)`` (p = parameters of the propensity and outcome models) and a t
reference with ``n - p`` degrees of freedom is used, and a
:class:`~causalpa.errors.SmallSampleWarning` says so.

Examples
--------
>>> import numpy as np, pandas as pd
>>> import causalpa as cpa
>>> rng = np.random.default_rng(0)
>>> df = pd.DataFrame({"age": rng.normal(size=500)})
>>> df["pa"] = rng.binomial(1, 1 / (1 + np.exp(-df["age"])))
>>> df["y"] = 1.5 * df["pa"] + df["age"] + rng.normal(size=500)
>>> e = cpa.aipw(df, outcome="y", treatment="pa", covariates=["age"])
>>> bool(e.conf_low < 1.5 < e.conf_high)
True
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from causalpa._regression import logistic, wls
from causalpa._spec import make_spec
from causalpa._validation import check_number, check_option, check_outcome
from causalpa.errors import (
    ConvergenceWarning,
    DataError,
    SpecificationError,
)
from causalpa.estimation import adjustment_matrix
from causalpa.inference import (
    SMALL_ARM,
    Moments,
    is_small,
    small_sample_inflation,
    variance,
    warn_small_sample,
)
from causalpa.propensity import _propensity_from_spec
from causalpa.results import Effect, effect_from_estimate

__all__ = ["aipw", "aipw_arrays"]



def _fit_predict_outcome(model: Any, Xtr: np.ndarray, ytr: np.ndarray, Xte: np.ndarray,
                         binary: bool) -> np.ndarray:
    if isinstance(model, str):
        if model == "logistic":
            fit = logistic(ytr, Xtr, maxit=100)
            if not fit.converged or np.abs(fit.eta).max() > 15:
                warnings.warn(
                    "a logistic outcome model did not converge or predicts probabilities of "
                    "about 0 or 1 (separation in an arm); its predictions are unreliable. Use "
                    "fewer outcome covariates (`outcome_covariates=`) or a penalised "
                    "scikit-learn classifier as `outcome_model`.",
                    ConvergenceWarning,
                    stacklevel=4,
                )
            return special.expit(Xte @ fit.coef)
        return Xte @ wls(ytr, Xtr).coef
    from sklearn.base import clone

    est = clone(model)
    Xtr_, Xte_ = Xtr[:, 1:], Xte[:, 1:]  # drop the intercept column
    if binary and hasattr(est, "predict_proba"):
        est.fit(Xtr_, ytr.astype(int))
        return np.asarray(est.predict_proba(Xte_))[:, list(est.classes_).index(1)]
    est.fit(Xtr_, ytr)
    return np.asarray(est.predict(Xte_), dtype=float)


def _fit_predict_ps(model: Any, Xtr: np.ndarray, ttr: np.ndarray, Xte: np.ndarray) -> np.ndarray:
    if isinstance(model, str):
        fit = logistic(ttr, Xtr, firth=model == "firth", maxit=100)
        return special.expit(Xte @ fit.coef)
    from sklearn.base import clone

    est = clone(model)
    est.fit(Xtr[:, 1:], ttr)
    return np.asarray(est.predict_proba(Xte[:, 1:]))[:, list(est.classes_).index(1)]


def aipw_arrays(
    y: np.ndarray,
    t: np.ndarray,
    X: np.ndarray,
    W: np.ndarray | None = None,
    *,
    estimand: str = "ATE",
    outcome_model: Any = "linear",
    ps_model: Any = "logistic",
    cross_fit: int | None = None,
    rng: Any = None,
    binary: bool = False,
    scores: np.ndarray | None = None,
) -> dict[str, Any]:
    """AIPW on arrays: returns the arm means, their influence functions and nuisance fits.

    Parameters
    ----------
    y, t : ndarray
        Outcome and 0/1 treatment.
    X : ndarray
        Propensity-model matrix with intercept column first.
    W : ndarray, optional
        Outcome-model matrix with intercept column first (default ``X``).
    estimand : {"ATE", "ATT"}
        Target population.
    outcome_model, ps_model
        See :func:`aipw`.
    cross_fit : int, optional
        Number of folds for cross-fitting (None: fit on all data).
    rng : None, int or numpy.random.Generator
        Randomness of the fold assignment (SPEC 7).
    binary : bool
        The outcome is 0/1 (classifiers use ``predict_proba``).
    scores : ndarray, optional
        Propensity scores already fitted on all the data (used when ``cross_fit`` is None).

    Returns
    -------
    dict
        ``mu1``, ``mu0``, ``phi1``, ``phi0`` (influence functions, mean 0, such that
        ``var(mu_a) = sum(phi_a**2) / n**2``), ``e``, ``m1``, ``m0``.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=400)
    >>> t = rng.binomial(1, 1 / (1 + np.exp(-x)))
    >>> y = 2.0 * t + x + rng.normal(size=400)
    >>> X = np.column_stack([np.ones(400), x])
    >>> r = aipw_arrays(y, t, X)
    >>> sorted(r)
    ['e', 'm0', 'm1', 'mu0', 'mu1', 'phi0', 'phi1']
    >>> ate = r["mu1"] - r["mu0"]
    >>> se = float(np.sqrt(np.sum((r["phi1"] - r["phi0"]) ** 2)) / 400)
    >>> round(ate, 2), round(se, 2)
    (2.1, 0.1)
    >>> bool(ate - 1.96 * se < 2.0 < ate + 1.96 * se)
    True
    """
    n = len(y)
    W = X if W is None else W
    e = np.empty(n)
    m1 = np.empty(n)
    m0 = np.empty(n)
    if cross_fit is None:
        folds = [(np.arange(n), np.arange(n))]
    else:
        gen = np.random.default_rng(rng)
        fold = np.empty(n, dtype=int)
        for arm in (0, 1):  # stratified by treatment
            idx = np.flatnonzero(t == arm)
            idx = idx[gen.permutation(len(idx))]
            fold[idx] = np.arange(len(idx)) % cross_fit
        folds = [(np.flatnonzero(fold != k), np.flatnonzero(fold == k)) for k in range(cross_fit)]
    for train, test in folds:
        tt = t[train]
        if scores is not None and cross_fit is None:
            e[test] = scores[test]
        else:
            e[test] = _fit_predict_ps(ps_model, X[train], tt, X[test])
        for arm, target in ((1, m1), (0, m0)):
            tr = train[tt == arm]
            if len(tr) < W.shape[1]:
                raise DataError(
                    f"the {'treated' if arm else 'control'} arm has {len(tr)} units in a training "
                    f"fold, fewer than the {W.shape[1]} outcome-model parameters; use fewer "
                    "covariates or fewer cross-fitting folds"
                )
            target[test] = _fit_predict_outcome(outcome_model, W[tr], y[tr], W[test], binary)
    if np.any((e <= 0) | (e >= 1)):
        bad = np.flatnonzero((e <= 0) | (e >= 1))
        raise DataError(
            f"estimated propensity scores of 0 or 1 (positions {bad[:10].tolist()}): AIPW needs "
            "overlap; restrict to common support or use a smoother propensity model"
        )
    if estimand == "ATE":
        a1 = m1 + t * (y - m1) / e
        a0 = m0 + (1 - t) * (y - m0) / (1 - e)
        mu1, mu0 = float(a1.mean()), float(a0.mean())
        phi1, phi0 = a1 - mu1, a0 - mu0
    else:  # ATT
        p = t.mean()
        odds = e / (1 - e)
        mu1 = float(np.sum(t * y) / t.sum())
        a0 = t * m0 + (1 - t) * odds * (y - m0)
        mu0 = float(a0.sum() / t.sum())
        phi1 = t * (y - mu1) / p
        phi0 = (a0 - t * mu0) / p
    return {"mu1": mu1, "mu0": mu0, "phi1": phi1, "phi0": phi0, "e": e, "m1": m1, "m0": m0}


def aipw(
    data: pd.DataFrame,
    formula: str | Any | None = None,
    *,
    outcome: str,
    treatment: str | None = None,
    covariates: list[str] | None = None,
    outcome_covariates: list[str] | str | None = None,
    estimand: str = "ATE",
    outcome_model: Any = None,
    ps_model: Any = "logistic",
    cross_fit: int | None = None,
    rng: Any = None,
    measure: str | None = None,
    conf_level: float = 0.95,
    treated: Any = None,
) -> Effect:
    """Doubly robust (AIPW) estimate of the effect of a binary treatment.

    Parameters
    ----------
    data : pandas.DataFrame
        Analysis data (never modified).
    formula : str, optional
        Propensity formula ``"treatment ~ covariates"``; or give ``treatment`` and
        ``covariates``.
    outcome : str
        Outcome column (0/1 for binary outcomes).
    treatment : str, optional
        Treatment column (instead of ``formula``).
    covariates : list of str, optional
        Covariates of the propensity model (and, by default, the outcome models).
    outcome_covariates : list of str or str, optional
        Covariates (column names or a right-hand side such as ``"age + C(sex)"``)
        of the outcome models; default: those of the propensity model.
    estimand : {"ATE", "ATT"}
        Target population.
    outcome_model : {"linear", "logistic"} or scikit-learn estimator, optional
        Outcome model fitted separately in each arm. Default "logistic" for a 0/1
        outcome, else "linear". A scikit-learn regressor (or classifier with
        ``predict_proba`` for 0/1 outcomes) is cloned and fitted per arm.
    ps_model : {"logistic", "firth"} or scikit-learn classifier
        Propensity model.
    cross_fit : int, optional
        Number of cross-fitting folds (>= 2); recommended with machine-learning models.
    rng : None, int or numpy.random.Generator
        Randomness of the fold assignment (SPEC 7).
    measure : {"difference", "risk difference", "risk ratio", "odds ratio"}, optional
        Effect measure; default "risk difference" for 0/1 outcomes, else "difference".
    conf_level : float
        Confidence level.
    treated : object, optional
        Treated level of a non-0/1 treatment column.

    Returns
    -------
    Effect

    Raises
    ------
    SpecificationError
        Bad option values.
    DataError
        Missing values, non-binary treatment, an arm with fewer than 2 units,
        separation in the propensity model, scores of exactly 0 or 1.

    Warns
    -----
    SmallSampleWarning
        An arm has fewer than 20 units (says which inference is used).
    PositivityWarning
        Propensity scores near 0 or 1.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(3)
    >>> df = pd.DataFrame({"x": rng.normal(size=400)})
    >>> df["t"] = rng.binomial(1, 1 / (1 + np.exp(-df["x"])))
    >>> df["y"] = df["t"] + df["x"] + rng.normal(size=400)
    >>> aipw(df, outcome="y", treatment="t", covariates=["x"], estimand="ATT", cross_fit=5, rng=1).estimand
    'ATT'
    """
    estimand = check_option("estimand", estimand, ["ATE", "ATT"])
    conf_level = check_number("conf_level", conf_level, low=0, high=1, low_inclusive=False,
                              high_inclusive=False)
    if cross_fit is not None:
        cross_fit = check_number("cross_fit", cross_fit, low=2, integer=True)
    spec = make_spec(data, formula, treatment=treatment, covariates=covariates, treated=treated)
    y, binary, measure = check_outcome(data, outcome, measure)
    if outcome == spec.treatment or outcome in spec.variables:
        raise SpecificationError(
            f"`outcome` {outcome!r} is also the treatment or a covariate"
        )
    if outcome_model is None:
        outcome_model = "logistic" if binary else "linear"
    elif isinstance(outcome_model, str):
        outcome_model = check_option("outcome_model", outcome_model, ["linear", "logistic"])
        if outcome_model == "logistic" and not binary:
            raise SpecificationError("outcome_model='logistic' needs a 0/1 outcome")
    elif not hasattr(outcome_model, "fit"):
        raise SpecificationError(
            "`outcome_model` must be 'linear', 'logistic' or a scikit-learn estimator; "
            f"got {outcome_model!r}"
        )
    t = spec.treatment_array(data)
    n1, n0 = int(t.sum()), int(len(t) - t.sum())
    if min(n1, n0) < 2:
        arm = "treated" if n1 < 2 else "control"
        raise DataError(
            f"the {arm} arm of {spec.treatment!r} has {min(n1, n0)} unit(s); AIPW needs at least "
            "2 per arm (and far more for trustworthy inference)"
        )
    # the full-data propensity fit gives validation (separation, positivity warning)
    ps = _propensity_from_spec(data, spec, ps_model=ps_model)
    X = ps.design
    if outcome_covariates is None:
        W = X
    else:
        Z, _ = adjustment_matrix(data, outcome_covariates, "outcome_covariates")
        W = np.column_stack([np.ones(len(y)), Z])
    if isinstance(ps_model, str):
        ps_model = check_option("ps_model", ps_model, ["logistic", "firth"])
    res = aipw_arrays(y, t, X, W, estimand=estimand, outcome_model=outcome_model,
                      ps_model=ps_model, cross_fit=cross_fit, rng=rng,
                      binary=binary, scores=ps.scores.to_numpy())
    mu1, mu0 = res["mu1"], res["mu0"]
    n = len(y)
    if measure in ("difference", "risk difference"):
        est = mu1 - mu0
        phi = res["phi1"] - res["phi0"]
    else:
        if min(mu1, mu0) <= 0 or max(mu1, mu0) >= 1:
            raise DataError(f"the {measure} is undefined: an arm's estimated risk is 0 or 1")
        if measure == "risk ratio":
            est = math.log(mu1 / mu0)
            phi = res["phi1"] / mu1 - res["phi0"] / mu0
        else:
            est = math.log(mu1 / (1 - mu1)) - math.log(mu0 / (1 - mu0))
            phi = res["phi1"] / (mu1 * (1 - mu1)) - res["phi0"] / (mu0 * (1 - mu0))
    moments = Moments(psi=phi[:, None], bread=np.array([[1.0 / n]]))
    std = float(math.sqrt(variance("influence").vcov(moments)[0, 0]))
    model_name = outcome_model if isinstance(outcome_model, str) else type(outcome_model).__name__
    ps_name = ps_model if isinstance(ps_model, str) else type(ps_model).__name__
    label = "influence function"
    if cross_fit:
        label += f", {cross_fit}-fold cross-fitting"
    notes: list[str] = []
    df = math.inf
    if is_small(n1, n0):
        p = X.shape[1] + 2 * W.shape[1]
        std, df = small_sample_inflation(std, n, p)
        label += f", small-sample factor n/(n-p) with p = {p} and t with {df:g} df"
        notes.append(warn_small_sample(
            f"an arm has fewer than {SMALL_ARM} units ({n1} treated, {n0} control): AIPW uses "
            f"the {label}; the normal-theory interval would be too narrow. Keep the models "
            "small (few covariates) and report the uncertainty honestly."))
    else:
        label += ", normal reference"
    return effect_from_estimate(
        est, std, df=df, conf_level=conf_level, log_scale=measure in ("risk ratio", "odds ratio"),
        estimand=estimand,
        method=f"AIPW (outcome: {model_name}, propensity: {ps_name})",
        n_treated=n1, n_control=n0, outcome=outcome, measure=measure, inference=label,
        notes=tuple(notes), treatment=spec.treatment,
    )
