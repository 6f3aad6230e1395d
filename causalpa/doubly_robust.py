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
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import special

from causalpa._regression import logistic, wls
from causalpa._spec import make_spec
from causalpa._validation import (
    CONF_LEVEL,
    NONE,
    Boolean,
    Column,
    Columns,
    Constraint,
    Estimator,
    Number,
    Options,
    RandomState,
    as_generator,
    check_arm_sizes,
    check_outcome,
    format_rows,
    validate_params,
)
from causalpa.errors import ConvergenceWarning, DataError, SpecificationError
from causalpa.estimation import COVARIATE_TERMS, adjustment_matrix, check_roles, contrast
from causalpa.inference import (
    SMALL_ARM,
    Moments,
    is_small,
    small_sample_inflation,
    variance,
    warn_small_sample,
)
from causalpa.propensity import PS_MODEL, _fit_classifier, _propensity_from_spec
from causalpa.results import Effect, effect_from_estimate

__all__ = ["aipw", "aipw_arrays"]


# declared options shared by aipw and aipw_arrays
_OUTCOME_MODEL: list[Constraint] = [Options("linear", "logistic"), Estimator()]
_CROSS_FIT: list[Constraint] = [Number(low=2, integer=True), NONE]


# =========================================================================== nuisance models
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
                    stacklevel=6,  # the caller of aipw / aipw_arrays
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
    return _fit_classifier(model, ttr, Xtr, None, Xte)[0]  # the intercept column first


def _folds(t: np.ndarray, cross_fit: int | None, rng: Any) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train, test) positions: all the data, or ``cross_fit`` folds stratified by arm."""
    n = len(t)
    if cross_fit is None:
        return [(np.arange(n), np.arange(n))]
    gen = as_generator(rng)
    fold = np.empty(n, dtype=int)
    for arm in (0, 1):
        idx = np.flatnonzero(t == arm)
        idx = idx[gen.permutation(len(idx))]
        fold[idx] = np.arange(len(idx)) % cross_fit
    return [(np.flatnonzero(fold != k), np.flatnonzero(fold == k)) for k in range(cross_fit)]


def _nuisance(y: np.ndarray, t: np.ndarray, X: np.ndarray, W: np.ndarray,
              folds: list[tuple[np.ndarray, np.ndarray]], *, outcome_model: Any, ps_model: Any,
              binary: bool, scores: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Held-out propensity scores ``e`` and outcome predictions ``m1``, ``m0`` of each arm."""
    n = len(y)
    e, m1, m0 = np.empty(n), np.empty(n), np.empty(n)
    for train, test in folds:
        tt = t[train]
        if scores is not None:
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
    return e, m1, m0


def _arm_means(y: np.ndarray, t: np.ndarray, e: np.ndarray, m1: np.ndarray, m0: np.ndarray,
               estimand: str) -> tuple[float, float, np.ndarray, np.ndarray]:
    """Return the AIPW means of both arms in the target population and their influence functions."""
    if estimand == "ATE":
        a1 = m1 + t * (y - m1) / e
        a0 = m0 + (1 - t) * (y - m0) / (1 - e)
        mu1, mu0 = float(a1.mean()), float(a0.mean())
        return mu1, mu0, a1 - mu1, a0 - mu0
    p = t.mean()  # ATT
    odds = e / (1 - e)
    mu1 = float(np.sum(t * y) / t.sum())
    a0 = t * m0 + (1 - t) * odds * (y - m0)
    mu0 = float(a0.sum() / t.sum())
    return mu1, mu0, t * (y - mu1) / p, (a0 - t * mu0) / p


def _aipw_arrays(y: np.ndarray, t: np.ndarray, X: np.ndarray, W: np.ndarray | None, *,
                 estimand: str, outcome_model: Any, ps_model: Any, cross_fit: int | None,
                 rng: Any, binary: bool, scores: np.ndarray | None) -> dict[str, Any]:
    folds = _folds(t, cross_fit, rng)
    e, m1, m0 = _nuisance(y, t, X, X if W is None else W, folds, outcome_model=outcome_model,
                          ps_model=ps_model, binary=binary,
                          scores=scores if cross_fit is None else None)
    mu1, mu0, phi1, phi0 = _arm_means(y, t, e, m1, m0, estimand)
    return {"mu1": mu1, "mu0": mu0, "phi1": phi1, "phi0": phi0, "e": e, "m1": m1, "m0": m0}


def _check_arrays(y: Any, t: Any, X: Any, W: Any, scores: Any, binary: bool
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None,
                             np.ndarray | None]:
    """Validate the arrays of :func:`aipw_arrays` (lengths, finiteness, 0/1 treatment)."""
    def numeric(name: str, value: Any, ndim: int) -> np.ndarray:
        try:
            arr = np.asarray(value, dtype=float)
        except (TypeError, ValueError):
            raise DataError(f"`{name}` must be numeric") from None
        if arr.ndim != ndim:
            shape = "a 1-D array" if ndim == 1 else "a 2-D model matrix (units x columns)"
            raise DataError(f"`{name}` must be {shape}; got shape {arr.shape}")
        bad = ~np.isfinite(arr) if ndim == 1 else ~np.isfinite(arr).all(axis=1)
        if bad.any():
            raise DataError(f"`{name}` has missing or infinite values at positions "
                            f"{format_rows(np.flatnonzero(bad))}")
        return arr

    y_arr = numeric("y", y, 1)
    n = len(y_arr)
    t_arr = numeric("t", t, 1)
    arrays = {"t": t_arr, "X": numeric("X", X, 2)}
    if W is not None:
        arrays["W"] = numeric("W", W, 2)
    if scores is not None:
        arrays["scores"] = numeric("scores", scores, 1)
    for name, arr in arrays.items():
        if arr.shape[0] != n:
            what = "rows" if arr.ndim == 2 else "values"
            raise DataError(f"`{name}` has {arr.shape[0]} {what} but `y` has {n} values; "
                            "give one per unit")
    if not np.isin(t_arr, (0.0, 1.0)).all():
        shown = ", ".join(f"{v:g}" for v in np.unique(t_arr)[:10])
        raise DataError(f"`t` must be the 0/1 treatment (1 = treated); its values are {shown}")
    if binary and not np.isin(y_arr, (0.0, 1.0)).all():
        raise DataError("`binary=True` needs a 0/1 outcome `y`; it has other values")
    check_arm_sizes(t_arr, "t", "AIPW")
    out_t = t_arr.astype(int)
    return (y_arr, out_t, arrays["X"], arrays.get("W"), arrays.get("scores"))


@validate_params({"outcome_model": _OUTCOME_MODEL, "ps_model": PS_MODEL, "cross_fit": _CROSS_FIT,
                  "rng": RandomState(), "binary": Boolean()})
def aipw_arrays(
    y: np.ndarray,
    t: np.ndarray,
    X: np.ndarray,
    W: np.ndarray | None = None,
    *,
    estimand: Literal["ATE", "ATT"] = "ATE",
    outcome_model: Literal["linear", "logistic"] | Any = "linear",
    ps_model: Literal["logistic", "firth"] | Any = "logistic",
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
        See :func:`aipw` (``outcome_model`` is not chosen from the outcome here: default
        "linear").
    cross_fit : int, optional
        Number of folds (>= 2) for cross-fitting (None: fit on all data).
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

    Raises
    ------
    DataError
        Arrays of different lengths, missing or infinite values, a treatment not coded
        0/1 (or bool), an arm with fewer than 2 units, or a non-0/1 ``y`` with
        ``binary=True`` (the argument is named).

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
    y, t, X, W, scores = _check_arrays(y, t, X, W, scores, binary)
    return _aipw_arrays(y, t, X, W, estimand=estimand, outcome_model=outcome_model,
                        ps_model=ps_model, cross_fit=cross_fit, rng=rng, binary=binary,
                        scores=scores)


# =========================================================================== aipw
def _outcome_model_for(outcome_model: Any, binary: bool) -> Any:
    """Return the outcome model: the default for the outcome type, or the one asked for."""
    if outcome_model is None:
        return "logistic" if binary else "linear"
    if isinstance(outcome_model, str) and outcome_model == "logistic" and not binary:
        raise SpecificationError("outcome_model='logistic' needs a 0/1 outcome")
    return outcome_model


def _on_measure_scale(res: dict[str, Any], measure: str) -> tuple[float, np.ndarray]:
    """Return the effect (log scale for ratios) and its influence function (delta method)."""
    mu1, mu0 = res["mu1"], res["mu0"]
    est = contrast(mu1, mu0, measure)
    if measure in ("difference", "risk difference"):
        return est, res["phi1"] - res["phi0"]
    if math.isnan(est):
        raise DataError(f"the {measure} is undefined: an arm's estimated risk is 0 or 1")
    if measure == "risk ratio":
        return est, res["phi1"] / mu1 - res["phi0"] / mu0
    return est, res["phi1"] / (mu1 * (1 - mu1)) - res["phi0"] / (mu0 * (1 - mu0))


def _influence_inference(phi: np.ndarray, *, n1: int, n0: int, p: int,
                         cross_fit: int | None) -> tuple[float, float, str, tuple[str, ...]]:
    """Return the SE, df, description and notes (the package's small-sample policy)."""
    n = len(phi)
    moments = Moments(psi=phi[:, None], bread=np.array([[1.0 / n]]))
    std = float(math.sqrt(variance("influence").vcov(moments)[0, 0]))
    label = "influence function"
    if cross_fit:
        label += f", {cross_fit}-fold cross-fitting"
    if not is_small(n1, n0):
        return std, math.inf, label + ", normal reference", ()
    std, df = small_sample_inflation(std, n, p)
    label += f", small-sample factor n/(n-p) with p = {p} and t with {df:g} df"
    note = warn_small_sample(
        f"an arm has fewer than {SMALL_ARM} units ({n1} treated, {n0} control): AIPW uses "
        f"the {label}; the normal-theory interval would be too narrow. Keep the models "
        "small (few covariates) and report the uncertainty honestly.", stacklevel=5)
    return std, df, label, (note,)


def _model_name(model: Any) -> str:
    return model if isinstance(model, str) else type(model).__name__


_AIPW_OPTIONS: dict[str, Any] = {
    "outcome": Column(), "treatment": [Column(), NONE], "covariates": [Columns(), NONE],
    "outcome_covariates": COVARIATE_TERMS,
    "outcome_model": [*_OUTCOME_MODEL, NONE], "ps_model": PS_MODEL, "cross_fit": _CROSS_FIT,
    "rng": RandomState(), "conf_level": CONF_LEVEL,
}


@validate_params(_AIPW_OPTIONS)
def aipw(
    data: pd.DataFrame,
    formula: str | Any | None = None,
    *,
    outcome: str,
    treatment: str | None = None,
    covariates: list[str] | None = None,
    outcome_covariates: list[str] | str | None = None,
    estimand: Literal["ATE", "ATT"] = "ATE",
    outcome_model: Literal["linear", "logistic"] | Any | None = None,
    ps_model: Literal["logistic", "firth"] | Any = "logistic",
    cross_fit: int | None = None,
    rng: Any = None,
    measure: Literal["difference", "risk difference", "risk ratio", "odds ratio"] | None = None,
    conf_level: float = 0.95,
    treated: Any = None,
) -> Effect:
    """Doubly robust (AIPW) estimate of the effect of a binary treatment.

    Parameters
    ----------
    data : pandas.DataFrame
        Analysis data (never modified).
    formula : str or Spec, optional
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
        Outcome model fitted separately in each arm; default "logistic" for a 0/1
        outcome, else "linear". A scikit-learn regressor (or a classifier with
        ``predict_proba`` for a 0/1 outcome) is cloned and fitted per arm.
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
        Standard error from the influence function (``se="influence"`` of
        :mod:`causalpa.inference`); ratios are reported with their log-scale SE.

    Raises
    ------
    SpecificationError
        Bad option values (named), a logistic outcome model for a non-0/1 outcome, an
        outcome that is also the treatment or a covariate, ``outcome_covariates`` that
        include the outcome or the treatment.
    DataError
        Missing values, non-binary treatment, an arm with fewer than 2 units,
        separation in the propensity model, scores of exactly 0 or 1, collinear
        ``outcome_covariates`` (the redundant column is named).

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
    >>> e = aipw(df, "t ~ x", outcome="y", estimand="att", cross_fit=5, rng=1)
    >>> e.estimand, e.treatment, e.df
    ('ATT', 't', inf)
    """
    spec = make_spec(data, formula, treatment=treatment, covariates=covariates, treated=treated)
    check_roles(outcome, spec.treatment, spec.variables,
                "formula" if formula is not None else "covariates")
    y, binary, effect_measure = check_outcome(data, outcome, measure)
    outcome_model = _outcome_model_for(outcome_model, binary)
    t = spec.treatment_array(data)
    n1, n0 = check_arm_sizes(t, spec.treatment, "AIPW")
    # the full-data propensity fit gives validation (separation, positivity warning)
    ps = _propensity_from_spec(data, spec, ps_model=ps_model)
    X = ps.design
    W = X
    if outcome_covariates is not None:
        Z, _ = adjustment_matrix(data, outcome_covariates, "outcome_covariates",
                                 outcome=outcome, treatment=spec.treatment)
        W = np.column_stack([np.ones(len(y)), Z])
    res = _aipw_arrays(y, t, X, W, estimand=estimand, outcome_model=outcome_model,
                       ps_model=ps_model, cross_fit=cross_fit, rng=rng, binary=binary,
                       scores=ps.scores.to_numpy())
    est, phi = _on_measure_scale(res, effect_measure)
    std, df, label, notes = _influence_inference(phi, n1=n1, n0=n0, cross_fit=cross_fit,
                                                 p=X.shape[1] + 2 * W.shape[1])
    return effect_from_estimate(
        est, std, df=df, conf_level=conf_level,
        log_scale=effect_measure in ("risk ratio", "odds ratio"),
        estimand=estimand,
        method=f"AIPW (outcome: {_model_name(outcome_model)}, propensity: {_model_name(ps_model)})",
        n_treated=n1, n_control=n0, outcome=outcome, measure=effect_measure, inference=label,
        notes=notes, treatment=spec.treatment,
    )
