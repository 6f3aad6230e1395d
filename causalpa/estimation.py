"""Effect estimation on matched or weighted data: the one g-computation of the package.

:func:`gcomp` fits the weighted outcome model and averages its predictions; it is the
estimator behind ``MatchResult.estimate`` (through :func:`estimate_effect`) and
``WeightResult.estimate`` (which adds the weight model's estimating equations for the
M-estimation sandwich). It follows MatchIt's and WeightIt's recommended analyses:

* **Continuous outcome, no adjustment**: weighted least squares of the outcome on the
  treatment, ``lm(y ~ treat, weights = weights)``; the estimate is the weighted
  difference in means.
* **With ``adjust=``** (regression adjustment / g-computation): the model
  ``y ~ treat * (covariates)`` is fitted with the weights and the effect is the average,
  with *averaging weights* ``s`` (the focal units for matching; all units, the treated,
  the controls or the overlap weights for weighting), of the predicted outcome under
  treatment minus that under control, i.e. ``marginaleffects::avg_comparisons(fit,
  variables = "treat", wts = s)``. Its standard error is the delta method with the chosen
  covariance matrix (covariate values held fixed).
* **Binary outcome** (``measure`` "risk difference", "risk ratio", "odds ratio"): the
  same g-computation on a weighted logistic model (``glm(family = quasibinomial)``);
  without ``adjust`` this reproduces the weighted proportions exactly. Ratios are
  computed from the averaged risks with the standard error on the log scale.

Inference of :func:`estimate_effect` (``se=``, see :mod:`causalpa.inference`):

* ``"cluster"`` (default for matched data): cluster-robust on the matched subclasses,
  ``sandwich::vcovCL(fit, cluster = ~subclass)`` (CR1 for the linear model, CR0 for the
  logistic one, as vcovCL's defaults), t with ``G - 1`` degrees of freedom. When an arm
  has fewer than :data:`~causalpa.inference.SMALL_ARM` units the bias-reduced CR2
  (Bell-McCaffrey) estimator is used instead and a
  :class:`~causalpa.errors.SmallSampleWarning` says so.
* ``"robust"``: ``sandwich::vcovHC`` (HC3, the sandwich package's default) with
  ``t(n - k)``; for matching with replacement.
* any registry name (``"HC0"``-``"HC3"``, ``"CR0"``-``"CR2"``) asks for that estimator.
* ``"bootstrap"``: cluster (pair/subclass) bootstrap with fixed weights, or unit
  bootstrap without clusters; SE = SD of the replicates, percentile CI.
* ``"permutation"``: randomisation test within matched subclasses (sign-flips for
  pairs), CI by test inversion under a constant additive effect; needs subclasses with
  one focal unit each (matching without replacement), a difference measure and no
  ``adjust``.

Examples
--------
>>> import numpy as np, pandas as pd
>>> from causalpa.estimation import estimate_effect
>>> rng = np.random.default_rng(1)
>>> df = pd.DataFrame({"t": np.repeat([1, 0], 30), "pair": np.tile(np.arange(30), 2)})
>>> df["y"] = 2.0 * df["t"] + rng.normal(size=60)
>>> e = estimate_effect(df, "y", "t", cluster="pair")
>>> round(e.estimate, 3), e.df
(1.966, 29.0)
"""

from __future__ import annotations

import math
import typing
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from causalpa._data_checks import align_to_rows
from causalpa._regression import Fit, check_full_rank, logistic, wls
from causalpa._spec import terms_spec
from causalpa._validation import (
    CONF_LEVEL,
    NONE,
    Columns,
    Instance,
    Options,
    Registered,
    binary_treatment,
    check_arm_sizes,
    check_columns,
    check_frame,
    check_no_missing,
    check_outcome,
    check_value,
    check_weights,
)
from causalpa.errors import DataError, SpecificationError
from causalpa.inference import (
    SMALL_ARM,
    VARIANCES,
    Moments,
    Variance,
    is_small,
    variance,
    warn_small_sample,
)
from causalpa.results import Effect, effect_from_bootstrap, effect_from_estimate

__all__ = ["estimate_effect", "gcomp", "GComp", "adjustment_matrix", "check_roles", "contrast",
           "SE_CHOICES", "SE_OPTIONS", "MatchedSE", "COVARIATE_TERMS", "Measure", "Estimand",
           "ESTIMANDS"]

Measure = Literal["difference", "risk difference", "risk ratio", "odds ratio"]
"""The effect measures (``measure=``)."""
Estimand = Literal["ATE", "ATT", "ATC", "ATO"]
"""The target populations of effects on matched or weighted data (``estimand=``)."""
ESTIMANDS: tuple[str, ...] = typing.get_args(Estimand)
MatchedSE = Literal["cluster", "robust", "HC0", "HC1", "HC2", "HC3", "CR0", "CR1", "CR2",
                    "sandwich", "influence", "bootstrap", "permutation"]
"""``se=`` for matched data: the aliases and the built-in names of the variance registry
(registered variances are accepted too, see :data:`SE_OPTIONS`)."""
SE_CHOICES: tuple[str, ...] = typing.get_args(MatchedSE)
COVARIATE_TERMS: list[Any] = [Instance(str, "a right-hand side such as 'age + C(sex)'"),
                              Columns(), NONE]
"""The declaration of a right-hand side given on its own (``adjust=``, ``outcome_covariates=``)."""


class _SENames:
    """The aliases and the *current* registry names (variances registered later count)."""

    def __iter__(self) -> Any:
        return iter(("cluster", "robust", *VARIANCES))


SE_OPTIONS = [Registered(_SENames(), "standard error"),
              Instance(Variance, "a causalpa.inference.Variance")]
"""The declaration of ``se`` for matched data: a name (aliases or any registered variance) or a
:class:`~causalpa.inference.Variance` object."""


# =========================================================================== g-computation
def outcome_designs(t: np.ndarray, Z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Designs of ``y ~ t * Z`` as fitted, and with every unit set to treated / control."""
    n = len(t)
    one = np.ones(n)
    if Z.shape[1]:
        X = np.column_stack([one, t, Z, t[:, None] * Z])
        X1 = np.column_stack([one, one, Z, Z])
        X0 = np.column_stack([one, np.zeros(n), Z, np.zeros_like(Z)])
    else:
        X = np.column_stack([one, t])
        X1 = np.column_stack([one, one])
        X0 = np.column_stack([one, np.zeros(n)])
    return X, X1, X0


def contrast(mu1: float, mu0: float, measure: str) -> float:
    """Return the effect on the analysis scale (log for ratios; NaN for an undefined ratio)."""
    if measure in ("difference", "risk difference"):
        return mu1 - mu0
    if min(mu1, mu0) <= 0 or max(mu1, mu0) >= 1:
        return float("nan")
    if measure == "risk ratio":
        return math.log(mu1 / mu0)
    return math.log(mu1 / (1 - mu1)) - math.log(mu0 / (1 - mu0))


@dataclass(frozen=True)
class GComp:
    """A g-computation: the outcome fit, the averaged predictions and the delta-method gradient."""

    estimate: float
    fit: Fit
    gradient: np.ndarray
    mu1: float
    mu0: float
    X: np.ndarray


def gcomp(y: np.ndarray, t: np.ndarray, w: np.ndarray, Z: np.ndarray, s: np.ndarray,
          measure: str, *, link: Literal["identity", "logit"] = "identity") -> GComp:
    """Fit ``y ~ t * Z`` with weights ``w`` and average the predicted contrast with weights ``s``.

    Parameters
    ----------
    y, t, w : ndarray
        Outcome, 0/1 treatment and case weights.
    Z : ndarray
        Adjustment covariates (n x q; q may be 0).
    s : ndarray
        Averaging weights (focal units, everyone, or overlap weights).
    measure : str
        "difference", "risk difference", "risk ratio" or "odds ratio".
    link : {"identity", "logit"}
        Weighted least squares or weighted logistic regression.

    Returns
    -------
    GComp
        The estimate (log scale for ratios; NaN when a ratio is undefined), the fit, the
        gradient of the estimate with respect to the coefficients, and the averaged
        predictions ``mu1``, ``mu0``.

    Examples
    --------
    >>> import numpy as np
    >>> t = np.array([1, 1, 0, 0, 0])
    >>> g = gcomp(np.array([3.0, 5, 1, 2, 3]), t, np.ones(5), np.zeros((5, 0)), t * 1.0,
    ...           "difference")
    >>> round(g.estimate, 6), g.gradient.tolist()
    (2.0, [0.0, 1.0])
    """
    X, X1, X0 = outcome_designs(t, Z)
    S = float(s.sum())
    if S <= 0:
        raise DataError("no units with positive averaging weight")
    sn = s / S
    if link == "identity":
        fit = wls(y, X, w)
        m1, m0 = X1 @ fit.coef, X0 @ fit.coef
        d1 = d0 = np.ones(len(y))
    else:
        fit = logistic(y, X, w)
        m1 = 1 / (1 + np.exp(-(X1 @ fit.coef)))
        m0 = 1 / (1 + np.exp(-(X0 @ fit.coef)))
        d1, d0 = m1 * (1 - m1), m0 * (1 - m0)
    mu1, mu0 = float(sn @ m1), float(sn @ m0)
    est = contrast(mu1, mu0, measure)
    if measure in ("difference", "risk difference"):
        h1, h0 = 1.0, -1.0
    elif measure == "risk ratio":
        h1, h0 = 1 / mu1, -1 / mu0
    else:
        h1, h0 = 1 / (mu1 * (1 - mu1)), -1 / (mu0 * (1 - mu0))
    grad = h1 * ((sn * d1) @ X1) + h0 * ((sn * d0) @ X0)
    return GComp(estimate=est, fit=fit, gradient=grad, mu1=mu1, mu0=mu0, X=X)


def delta_se(grad: np.ndarray, V: np.ndarray) -> float:
    """Delta-method standard error ``sqrt(g' V g)``."""
    return float(math.sqrt(max(grad @ V @ grad, 0.0)))


def check_roles(outcome: str, treatment: str, covariates: Iterable[str] = (),
                argument: str = "adjust") -> None:
    """Refuse an outcome that is the treatment, and covariates that are either of them.

    The one check of the variables' roles shared by the effect estimators (matching,
    weighting, AIPW): the outcome cannot be the treatment column, and the adjustment
    covariates (``adjust=``, ``outcome_covariates=``) are pre-treatment covariates, so
    neither the outcome nor the treatment may be among them (a model of ``y`` on ``y``
    or on a copy of the treatment has no effect left to estimate).

    Parameters
    ----------
    outcome, treatment : str
        The outcome and treatment columns.
    covariates : iterable of str
        Columns read by the adjustment covariates (e.g. ``terms_spec(...).variables``).
    argument : str
        The argument that gave the covariates, for messages.

    Raises
    ------
    SpecificationError
        The outcome is the treatment, or a covariate is the outcome or the treatment.

    Examples
    --------
    >>> check_roles("y", "t", ["age"])  # nothing to refuse
    >>> check_roles("y", "t", ["age", "t"])
    Traceback (most recent call last):
    ...
    causalpa.errors.SpecificationError: `adjust` includes the treatment column 't'; adjustment covariates are measured before treatment and cannot be the outcome or the treatment: remove it
    """
    if outcome == treatment:
        raise SpecificationError(
            f"`outcome` {outcome!r} is the treatment column; give the outcome column (the "
            "treatment cannot be its own outcome)")
    covariates = set(covariates)
    for role, column in (("outcome", outcome), ("treatment", treatment)):
        if column in covariates:
            raise SpecificationError(
                f"`{argument}` includes the {role} column {column!r}; adjustment covariates "
                "are measured before treatment and cannot be the outcome or the treatment: "
                "remove it")


def adjustment_matrix(data: pd.DataFrame, adjust: Any, argument: str = "adjust", *,
                      outcome: str | None = None, treatment: str | None = None,
                      rows: np.ndarray | None = None) -> tuple[np.ndarray, list[str]]:
    """Return the covariates for regression adjustment (model matrix of ``adjust``).

    The intercept and the columns that are constant in the analysed rows (they carry no
    information) are dropped; the remaining columns must be linearly independent of each
    other and of the intercept (``check_full_rank``), since a least-squares fit cannot
    be trusted to detect an exactly collinear design.

    Parameters
    ----------
    data : pandas.DataFrame
        The data (not modified).
    adjust : str, list of str or None
        A right-hand side (``"age + C(sex)"``) or a list of columns; ``None`` gives an
        empty matrix.
    argument : str
        The argument that gave ``adjust``, for messages.
    outcome, treatment : str, optional
        The outcome and treatment columns; when both are given, :func:`check_roles`
        refuses covariates that are either of them (and an outcome that is the treatment).
    rows : ndarray of bool, optional
        The rows the outcome model is fitted on (e.g. the units with positive weight);
        default all.

    Returns
    -------
    (ndarray, list of str)
        The covariate columns (every row of ``data``) and their names.

    Raises
    ------
    SpecificationError
        A covariate is the outcome or the treatment.
    DataError
        A covariate column is a linear combination of the others (named).

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"a": [1.0, 2, 3, 5], "b": [2.0, 1, 4, 3], "s": [1.0, 1, 1, 1]})
    >>> adjustment_matrix(df, ["a", "s"])[1]  # 's' is constant: dropped
    ['a']
    >>> adjustment_matrix(df.assign(total=df["a"] + df["b"]), "a + b + total")
    Traceback (most recent call last):
    ...
    causalpa.errors.DataError: the `adjust` model matrix is rank-deficient (3 of 4 columns independent); 'total' is a linear combination of the other covariates: remove it
    """
    if adjust is None:
        if outcome is not None and treatment is not None:
            check_roles(outcome, treatment, (), argument)
        return np.zeros((len(data), 0)), []
    spec = terms_spec(data, adjust, argument)
    if outcome is not None and treatment is not None:
        check_roles(outcome, treatment, spec.variables, argument)
    X, names = spec.design(intercept=False)
    fitted = X if rows is None else X[np.asarray(rows, dtype=bool)]
    keep = [j for j in range(X.shape[1]) if len(fitted) and np.ptp(fitted[:, j]) > 0]
    X, names = X[:, keep], [names[j] for j in keep]
    if keep:
        check_full_rank(np.column_stack([np.ones(len(fitted)), fitted[:, keep]]),
                        ["Intercept", *names], f"the `{argument}` model")
    return X, names


# =========================================================================== matched data
def _column_or_array(data: pd.DataFrame, value: Any, name: str) -> np.ndarray | None:
    if value is None:
        return None
    if isinstance(value, str):
        check_columns(data, [value], name)
        check_no_missing(data, [value])
        return data[value].to_numpy()
    arr = np.asarray(align_to_rows(data, value, name))
    if arr.ndim != 1 or arr.shape[0] != len(data):
        raise DataError(f"`{name}` must be a column name or have one value per row ({len(data)})")
    return arr


def resolve_se(se: str | Variance, *, clustered: bool, small: bool, linear: bool,
               aliases: dict[str, str] | None = None) -> str | Variance:
    """Resolve the aliases of ``se`` ("cluster", "robust") to registry names.

    "cluster" is CR1 for linear models and CR0 for logistic ones (vcovCL's defaults), CR2
    when an arm is small; "robust" is HC3. Registry names and Variance objects pass through.

    Parameters
    ----------
    se : str or Variance
        The requested standard error.
    clustered : bool
        Whether cluster labels (matched subclasses) are available.
    small : bool
        Whether an arm is small (the small-sample rule applies).
    linear : bool
        Linear (else logistic) outcome model.
    aliases : dict, optional
        Extra aliases (name -> registry name).

    Returns
    -------
    str or Variance

    Raises
    ------
    SpecificationError
        ``se`` is not a known name, or it needs the matched subclasses and there are
        none (matching with replacement).

    Examples
    --------
    >>> resolve_se("cluster", clustered=True, small=False, linear=True)
    'CR1'
    >>> resolve_se("cluster", clustered=False, small=False, linear=True)
    Traceback (most recent call last):
    ...
    causalpa.errors.SpecificationError: se='cluster' needs the matched subclasses (`cluster=`) and there are none: matching with replacement has no subclasses; use se='robust' or se='bootstrap'
    """
    if isinstance(se, Variance):
        return se
    name = check_value("se", se, SE_OPTIONS)
    if aliases and name in aliases:
        resolved = aliases[name]
    elif name == "cluster":
        resolved = "CR2" if small else ("CR1" if linear else "CR0")
    elif name == "robust":
        resolved = "HC3"
    else:
        resolved = name
    if not clustered and resolved in VARIANCES and VARIANCES[resolved].needs_cluster:
        raise SpecificationError(
            f"se={name!r} needs the matched subclasses (`cluster=`) and there are none: "
            "matching with replacement has no subclasses; use se='robust' or "
            "se='bootstrap'")
    return resolved


def estimate_effect(
    data: pd.DataFrame,
    outcome: str,
    treatment: str,
    *,
    weights: str | Sequence[float] | np.ndarray | None = None,
    cluster: str | Sequence[Any] | np.ndarray | None = None,
    adjust: str | Sequence[str] | None = None,
    estimand: str = "ATT",
    se: str | Variance = "cluster",
    measure: str | None = None,
    conf_level: float = 0.95,
    n_boot: int = 999,
    n_perm: int = 9999,
    rng: Any = None,
    treated: Any = None,
    method: str = "",
    small_n: int = SMALL_ARM,
) -> Effect:
    """Estimate a treatment effect on matched or weighted data (weights held fixed).

    Parameters
    ----------
    data : pandas.DataFrame
        Analysis data (e.g. ``MatchResult.matched_data()``); never modified.
        Rows with weight 0 are ignored.
    outcome : str
        Outcome column (numeric; 0/1 for binary measures).
    treatment : str
        Treatment column (0/1, bool, or two levels with ``treated=``).
    weights : str or array-like, optional
        Column name or array of unit weights (matching or balancing weights); a pandas
        Series is aligned on the index of ``data``.
    cluster : str or array-like, optional
        Column name or array of cluster labels (matched subclasses); required for
        cluster variances and ``se="permutation"``; optional for the bootstrap. A pandas
        Series is aligned on the index of ``data``.
    adjust : str or sequence of str, optional
        Covariates for regression adjustment: column names or a right-hand side such as
        ``"age + C(sex)"`` (g-computation over the focal units); neither the outcome nor
        the treatment, and linearly independent on the rows with positive weight.
    estimand : {"ATT", "ATC", "ATE", "ATO"}
        Which units the effect is averaged over (treated, controls, all).
    se : str or Variance
        "cluster", "robust", a registry name of :mod:`causalpa.inference`
        ("HC0"-"HC3", "CR0"-"CR2", "bootstrap", "permutation") or a Variance.
    measure : {"difference", "risk difference", "risk ratio", "odds ratio"}, optional
        Effect measure; default "risk difference" for a 0/1 outcome, else "difference".
    conf_level : float
        Confidence level.
    n_boot, n_perm : int
        Bootstrap replicates / permutation draws.
    rng : None, int or numpy.random.Generator
        Randomness of the bootstrap and permutation draws.
    treated : object, optional
        Treated level of a non-0/1 treatment column.
    method : str
        Label stored in the result (e.g. "nearest-neighbour matching").
    small_n : int
        Arm size below which the small-sample rules and warning apply.

    Returns
    -------
    Effect

    Raises
    ------
    SpecificationError
        A bad option, an outcome that is the treatment, ``adjust`` covariates that include
        the outcome or the treatment, or a variance that needs ``cluster=`` without it.
    DataError
        Missing values, a non-binary treatment, bad weights (or a weight or cluster
        Series without a value for some rows), an arm with fewer than 2 units of positive
        weight, or collinear ``adjust`` covariates (the redundant one is named).

    Warns
    -----
    SmallSampleWarning
        An arm has fewer than ``small_n`` units; the message says which inference was used.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> df = pd.DataFrame({"t": [1, 1, 1, 0, 0, 0, 0, 0], "y": [5.0, 6, 7, 4, 5, 3, 6, 4]})
    >>> e = estimate_effect(df, "y", "t", se="HC2", small_n=2)
    >>> round(e.estimate, 2)
    1.6
    """
    data = check_frame(data, "data")
    for name, val in (("outcome", outcome), ("treatment", treatment)):
        if not isinstance(val, str):
            raise SpecificationError(f"`{name}` must be a column name; got {val!r}")
    check_columns(data, [outcome], "outcome")
    check_columns(data, [treatment], "treatment")
    check_roles(outcome, treatment)
    check_no_missing(data, [outcome, treatment])
    estimand = check_value("estimand", estimand, [Options(*ESTIMANDS)])
    conf_level = check_value("conf_level", conf_level, [CONF_LEVEL])
    t_all = binary_treatment(data[treatment], treatment, treated)
    y_all, binary, measure = check_outcome(data, outcome, measure)
    w_all = np.ones(len(data)) if weights is None else check_weights(
        _column_or_array(data, weights, "weights"), len(data))
    cl_all = _column_or_array(data, cluster, "cluster")
    keep = w_all > 0
    Z_all, _ = adjustment_matrix(data, adjust, outcome=outcome, treatment=treatment, rows=keep)

    y, t, w, Z = y_all[keep], t_all[keep], w_all[keep], Z_all[keep]
    cl = None if cl_all is None else cl_all[keep]
    n1, n0 = check_arm_sizes(t, treatment, "an effect estimate", weights=w)
    focal = {"ATT": t == 1, "ATC": t == 0}.get(estimand, np.ones(len(t), dtype=bool)).astype(float)
    linear = measure == "difference"
    link: Literal["identity", "logit"] = "identity" if linear else "logit"
    g = gcomp(y, t, w, Z, w * focal, measure, link=link)
    log_scale = measure in ("risk ratio", "odds ratio")
    small = is_small(n1, n0, small_n)
    common: dict[str, Any] = dict(estimand=estimand, method=method, n_treated=n1, n_control=n0,
                                  outcome=outcome, measure=measure, conf_level=conf_level,
                                  treatment=treatment)
    if measure in ("risk ratio", "odds ratio") and not np.isfinite(g.estimate):
        value = g.mu1 if g.mu1 in (0, 1) else g.mu0
        raise DataError(f"the {measure} is undefined: an arm's average risk is {value:g}")
    resolved = resolve_se(se, clustered=cl is not None, small=small, linear=linear)
    var = variance(resolved, cluster=cl if _wants_cluster(resolved) else None, n_boot=n_boot,
                   n_perm=n_perm, rng=rng)
    if var.kind == "sandwich":
        return _sandwich_effect(g, var, w, small, small_n, n1, n0, linear, log_scale, common)
    if var.kind == "bootstrap":
        return _bootstrap_effect(y, t, w, Z, focal, g, var, link, measure, small, small_n,
                                 n1, n0, log_scale, common)
    return _permutation_effect(y, t, g, var, adjust, measure, estimand, n_perm, small,
                               small_n, conf_level, common)


def _wants_cluster(se: str | Variance) -> bool:
    if isinstance(se, Variance):
        return False
    return VARIANCES[se].needs_cluster or se == "bootstrap"


def _sandwich_effect(g: GComp, var: Variance, w: np.ndarray, small: bool, small_n: int,
                     n1: int, n0: int, linear: bool, log_scale: bool,
                     common: dict[str, Any]) -> Effect:
    if var.name == "sandwich" or var.name == "influence":
        raise SpecificationError(
            f"se={var.name!r} is not available for matched data; use 'cluster' or 'robust'")
    moments = Moments.from_fit(g.fit, case_weights=w if linear else None)
    V = var.vcov(moments)
    std = delta_se(g.gradient, V)
    df = var.df(moments)
    kind = var.name
    if var.needs_cluster:
        G = int(df) + 1
        label = f"cluster-robust ({kind}) on {G} clusters, t with {G - 1} df"
    else:
        label = f"robust ({kind}), t with {df:g} df"
    notes: list[str] = []
    if small:
        if kind in ("HC0", "HC1", "CR0", "CR1"):
            msg = (f"an arm has fewer than {small_n} units ({n1} treated, {n0} control) and "
                   f"se={kind!r} was requested: its CI can be too narrow; use "
                   "se='CR2' (cluster) or 'HC3' (robust), or se='permutation'")
        else:
            msg = (f"an arm has fewer than {small_n} units ({n1} treated, {n0} control): "
                   f"using {label} because {'CR1' if var.needs_cluster else 'HC0/HC1'} "
                   "standard errors are biased downwards in small samples; consider "
                   "se='permutation' for an exact test")
        notes.append(warn_small_sample(msg, stacklevel=4))
    return effect_from_estimate(g.estimate, std, df=df, log_scale=log_scale, inference=label,
                                notes=tuple(notes), **common)


def _bootstrap_effect(y: np.ndarray, t: np.ndarray, w: np.ndarray, Z: np.ndarray,
                      focal: np.ndarray, g: GComp, var: Any, link: Any, measure: str,
                      small: bool, small_n: int, n1: int, n0: int, log_scale: bool,
                      common: dict[str, Any]) -> Effect:
    def stat(idx: np.ndarray) -> float:
        tt = t[idx]
        if tt.min() == tt.max():
            return float("nan")
        return gcomp(y[idx], tt, w[idx], Z[idx], (w * focal)[idx], measure, link=link).estimate

    reps = var.replicates(stat, len(y))
    unit = "cluster" if var.cluster is not None else "unit"
    label = f"{unit} bootstrap ({len(reps)} replicates), percentile CI"
    notes: list[str] = []
    if small:
        notes.append(warn_small_sample(
            f"an arm has fewer than {small_n} units ({n1} treated, {n0} control): the "
            "percentile bootstrap CI can be too narrow in samples this small; prefer "
            "se='cluster' (CR2, t) or se='permutation'", stacklevel=4))
    return effect_from_bootstrap(g.estimate, reps, log_scale=log_scale, inference=label,
                                 notes=tuple(notes), **common)


def _permutation_effect(y: np.ndarray, t: np.ndarray, g: GComp, var: Any, adjust: Any,
                        measure: str, estimand: str, n_perm: int, small: bool, small_n: int,
                        conf_level: float, common: dict[str, Any]) -> Effect:
    if adjust is not None or measure != "difference":
        raise SpecificationError(
            "se='permutation' supports the difference in means without `adjust`; use "
            "se='cluster'")
    if estimand not in ("ATT", "ATC"):
        raise SpecificationError("se='permutation' is for matched data (estimand 'ATT' or 'ATC')")
    fmask = t == 1 if estimand == "ATT" else t == 0
    res = var.test(y, fmask, conf_level=conf_level, sign=1 if estimand == "ATT" else -1)
    label = f"permutation within matched subclasses ({n_perm} draws), CI by test inversion"
    notes: list[str] = []
    if small:
        notes.append(f"an arm has fewer than {small_n} units: permutation inference does not "
                     "rely on large-sample approximations")
    return Effect(
        estimate=float(g.estimate), std_error=float(np.std(res.null, ddof=1)),
        conf_low=float(res.conf_low), conf_high=float(res.conf_high), p_value=float(res.p_value),
        df=float("nan"), inference=label, notes=tuple(notes), interval="inversion", **common,
    )
