"""Effect estimation on matched or weighted data (shared by matching and weighting).

:func:`estimate_effect` is the one estimator behind ``MatchResult.estimate`` and
``WeightResult.estimate``. It follows MatchIt's recommended analysis
(vignette "Estimating Effects After Matching"):

* **Continuous outcome, no adjustment**: weighted least squares of the outcome
  on the treatment, ``lm(y ~ treat, weights = weights)``; the estimate is the
  treatment coefficient (the weighted difference in means).
* **With ``adjust=``** (regression adjustment / g-computation): the model
  ``y ~ treat * (covariates)`` is fitted with the weights and the effect is the
  weighted average, over the *focal* units (treated for ATT, controls for ATC,
  everyone for ATE/ATO), of the predicted outcome under treatment minus that
  under control, i.e. ``marginaleffects::avg_comparisons(fit, variables =
  "treat", newdata = focal, wts = "weights")``. Its standard error is the delta
  method with the chosen covariance matrix (covariate values held fixed).
* **Binary outcome** (``measure`` "risk difference", "risk ratio", "odds
  ratio"): the same g-computation on a weighted logistic model
  (``glm(family = quasibinomial)``); without ``adjust`` this reproduces the
  weighted proportions exactly. Ratios are computed from the averaged risks
  (``lnratioavg`` / ``lnoravg``) with the standard error on the log scale.

Inference (``se=``):

* ``"cluster"`` (default for matched data): cluster-robust on the matched
  subclasses, ``sandwich::vcovCL(fit, cluster = ~subclass)`` (type HC1 with
  ``G/(G-1)`` and ``(n-1)/(n-k)``), t reference with ``G - 1`` degrees of
  freedom. When an arm has fewer than ``small_n`` (20) units and ``se_type`` is
  not given, the bias-reduced CR2 (Bell-McCaffrey) estimator is used instead,
  still with ``t(G - 1)``, and a :class:`~causalpa.errors.SmallSampleWarning`
  says so.
* ``"robust"``: ``sandwich::vcovHC`` (type HC3 by default, the sandwich
  package's default) with ``t(n - k)``; for matching with replacement and for
  weighting.
* ``"bootstrap"``: cluster (pair/subclass) bootstrap with fixed weights, or
  unit bootstrap without clusters; SE = SD of the replicates, percentile CI,
  p-value from the normal reference with the bootstrap SE.
* ``"permutation"``: randomisation test within matched subclasses (sign-flips
  for pairs), CI by test inversion under a constant additive effect; needs
  subclasses with one focal unit each (matching without replacement), a
  difference measure and no ``adjust``.

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
import warnings
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd

from causalpa._spec import (
    MEASURES,
    binary_treatment,
    check_columns,
    check_frame,
    check_no_missing,
    check_number,
    check_option,
    check_outcome,
    check_weights,
)
from causalpa.errors import DataError, SmallSampleWarning, SpecificationError
from causalpa.inference import (
    CLUSTER_TYPES,
    HC_TYPES,
    cluster_bootstrap,
    logistic_glm,
    permutation_test,
    sandwich_vcov,
    wls,
)
from causalpa.results import Effect, effect_from_bootstrap, effect_from_estimate

__all__ = ["estimate_effect", "SE_METHODS", "MEASURES"]

SEMethod = Literal["cluster", "robust", "bootstrap", "permutation"]
Measure = Literal["difference", "risk difference", "risk ratio", "odds ratio"]
SE_METHODS: tuple[str, ...] = ("cluster", "robust", "bootstrap", "permutation")
ESTIMANDS: tuple[str, ...] = ("ATT", "ATC", "ATE", "ATO")


def _column_or_array(data: pd.DataFrame, value: Any, name: str) -> np.ndarray | None:
    if value is None:
        return None
    if isinstance(value, str):
        check_columns(data, [value], name)
        check_no_missing(data, [value])
        return data[value].to_numpy()
    arr = np.asarray(value)
    if arr.ndim != 1 or arr.shape[0] != len(data):
        raise DataError(f"`{name}` must be a column name or have one value per row ({len(data)})")
    return arr


def _adjust_design(data: pd.DataFrame, adjust: Any) -> tuple[np.ndarray, list[str]]:
    if adjust is None:
        return np.zeros((len(data), 0)), []
    import formulaic

    if isinstance(adjust, str):
        rhs = adjust.split("~", 1)[-1].strip()
    else:
        cols = list(adjust)
        check_columns(data, cols, "adjust")
        terms = []
        for c in cols:
            s = data[c]
            cat = isinstance(s.dtype, pd.CategoricalDtype) or pd.api.types.is_object_dtype(s) \
                or pd.api.types.is_string_dtype(s)
            name = f"`{c}`" if not c.isidentifier() else c
            terms.append(f"C({name})" if cat else name)
        rhs = " + ".join(terms) if terms else "1"
    try:
        needed = formulaic.Formula(rhs).rhs.required_variables if "~" in rhs else \
            formulaic.Formula(rhs).required_variables
    except Exception as exc:
        raise SpecificationError(f"could not parse `adjust` {adjust!r}: {exc}") from exc
    cols = [c for c in data.columns if c in set(needed)]
    unknown = sorted(set(needed) - set(data.columns))
    if unknown:
        check_columns(data, unknown, "adjust")
    check_no_missing(data, cols)
    mm = formulaic.model_matrix(rhs, data, na_action="raise")
    names = [str(c) for c in mm.columns if str(c) != "Intercept"]
    Z = np.asarray(mm[names], dtype=float) if names else np.zeros((len(data), 0))
    # drop covariate columns that are constant (no information, would make X singular)
    keep = [j for j in range(Z.shape[1]) if np.ptp(Z[:, j]) > 0]
    return Z[:, keep], [names[j] for j in keep]


def _gcomp(
    y: np.ndarray, t: np.ndarray, w: np.ndarray, Z: np.ndarray, focal: np.ndarray, measure: str,
) -> tuple[float, Any, np.ndarray, Any]:
    """Fit the outcome model; return (estimate on analysis scale, fit, gradient, unused)."""
    n = len(y)
    X = np.column_stack([np.ones(n), t, Z, t[:, None] * Z]) if Z.shape[1] else \
        np.column_stack([np.ones(n), t])
    X1 = np.column_stack([np.ones(n), np.ones(n), Z, Z]) if Z.shape[1] else \
        np.column_stack([np.ones(n), np.ones(n)])
    X0 = np.column_stack([np.ones(n), np.zeros(n), Z, np.zeros_like(Z)]) if Z.shape[1] else \
        np.column_stack([np.ones(n), np.zeros(n)])
    wf = w * focal
    if wf.sum() <= 0:
        raise DataError("no focal units with positive weight")
    wf = wf / wf.sum()
    if measure == "difference":
        fit = wls(y, X, w)
        g = wf @ (X1 - X0)
        return float(g @ fit.coef), fit, g, X
    fit = logistic_glm(y, X, w)
    p1 = 1 / (1 + np.exp(-(X1 @ fit.coef)))
    p0 = 1 / (1 + np.exp(-(X0 @ fit.coef)))
    P1, P0 = float(wf @ p1), float(wf @ p0)
    d1 = wf @ (X1 * (p1 * (1 - p1))[:, None])
    d0 = wf @ (X0 * (p0 * (1 - p0))[:, None])
    if measure == "risk difference":
        return P1 - P0, fit, d1 - d0, X
    if min(P1, P0) <= 0 or max(P1, P0) >= 1:
        raise DataError(
            f"the {measure} is undefined: an arm's average risk is {P1 if P1 in (0, 1) else P0:g}"
        )
    if measure == "risk ratio":
        return math.log(P1 / P0), fit, d1 / P1 - d0 / P0, X
    return (
        math.log(P1 / (1 - P1)) - math.log(P0 / (1 - P0)),
        fit,
        d1 / (P1 * (1 - P1)) - d0 / (P0 * (1 - P0)),
        X,
    )


def estimate_effect(
    data: pd.DataFrame,
    outcome: str,
    treatment: str,
    *,
    weights: str | Sequence[float] | np.ndarray | None = None,
    cluster: str | Sequence[Any] | np.ndarray | None = None,
    adjust: str | Sequence[str] | None = None,
    estimand: str = "ATT",
    se: str = "cluster",
    se_type: str | None = None,
    measure: str | None = None,
    conf_level: float = 0.95,
    n_boot: int = 999,
    n_perm: int = 9999,
    random_state: int | np.random.Generator | None = None,
    treated: Any = None,
    method: str = "",
    small_n: int = 20,
) -> Effect:
    """Estimate a treatment effect on matched or weighted data.

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
        Column name or array of unit weights (matching or balancing weights).
    cluster : str or array-like, optional
        Column name or array of cluster labels (matched subclasses); required
        for ``se="cluster"`` and ``se="permutation"``; optional for the bootstrap.
    adjust : str or sequence of str, optional
        Covariates for regression adjustment: column names or a right-hand side
        such as ``"age + C(sex)"``. The outcome model includes their interaction
        with treatment and the effect is averaged over the focal units
        (g-computation).
    estimand : {"ATT", "ATC", "ATE", "ATO"}
        Which units the effect is averaged over (treated, controls, all).
    se : {"cluster", "robust", "bootstrap", "permutation"}
        How standard error, CI and p-value are computed (see the module notes).
    se_type : str, optional
        Sandwich type: "HC0", "HC1", "CR2" with clusters; "HC0"-"HC3" without.
        Default: as ``vcovCL``, "HC1" for the linear model and "HC0" for the
        logistic model of binary measures ("CR2" when an arm has fewer than
        ``small_n`` units); "HC3" for ``se="robust"``.
    measure : {"difference", "risk difference", "risk ratio", "odds ratio"}, optional
        Effect measure; default "risk difference" for a 0/1 outcome, else "difference".
    conf_level : float
        Confidence level.
    n_boot, n_perm : int
        Bootstrap replicates / permutation draws.
    random_state : int or numpy.random.Generator, optional
        Seed for the bootstrap and permutation draws.
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
        Bad option values (names the argument and the allowed values).
    DataError
        Missing values, an empty arm, non-binary treatment, or too few clusters.

    Warns
    -----
    SmallSampleWarning
        An arm has fewer than ``small_n`` units; the message says which inference was used.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> df = pd.DataFrame({"t": [1, 1, 1, 0, 0, 0, 0, 0], "y": [5.0, 6, 7, 4, 5, 3, 6, 4]})
    >>> e = estimate_effect(df, "y", "t", se="robust", se_type="HC2", small_n=2)
    >>> round(e.estimate, 2)
    1.6
    """
    data = check_frame(data, "data")
    for name, val in (("outcome", outcome), ("treatment", treatment)):
        if not isinstance(val, str):
            raise SpecificationError(f"`{name}` must be a column name; got {val!r}")
    check_columns(data, [outcome], "outcome")
    check_columns(data, [treatment], "treatment")
    check_no_missing(data, [outcome, treatment])
    estimand = check_option("estimand", estimand, ESTIMANDS)
    se = check_option("se", se, SE_METHODS)
    conf_level = check_number("conf_level", conf_level, low=0, high=1, low_inclusive=False,
                              high_inclusive=False)
    n_boot = check_number("n_boot", n_boot, low=2, integer=True)
    n_perm = check_number("n_perm", n_perm, low=2, integer=True)
    t_all = binary_treatment(data[treatment], treatment, treated)
    y_all, binary, measure = check_outcome(data, outcome, measure)
    w_all = np.ones(len(data)) if weights is None else check_weights(
        _column_or_array(data, weights, "weights"), len(data))
    cl_all = _column_or_array(data, cluster, "cluster")
    Z_all, _ = _adjust_design(data, adjust)

    keep = w_all > 0
    y, t, w, Z = y_all[keep], t_all[keep], w_all[keep], Z_all[keep]
    cl = None if cl_all is None else cl_all[keep]
    n1, n0 = int(t.sum()), int((1 - t).sum())
    if n1 == 0 or n0 == 0:
        arm = "treated" if n1 == 0 else "control"
        raise DataError(f"no {arm} units with positive weight in column {treatment!r}")
    if min(n1, n0) < 2:
        arm = "treated" if n1 < 2 else "control"
        raise DataError(
            f"the {arm} arm has a single unit: no variance can be estimated; an effect "
            "estimate needs at least 2 units per arm"
        )
    focal = {"ATT": t == 1, "ATC": t == 0}.get(estimand, np.ones(len(t), dtype=bool)).astype(float)
    analysis = "difference" if measure == "difference" else measure
    est, fit, grad, X = _gcomp(y, t, w, Z, focal, analysis)
    log_scale = measure in ("risk ratio", "odds ratio")
    small = min(n1, n0) < small_n
    notes: list[str] = []
    common: dict[str, Any] = dict(estimand=estimand, method=method, n_treated=n1, n_control=n0,
                  outcome=outcome, measure=measure, conf_level=conf_level)

    if se in ("cluster", "robust"):
        clustered = se == "cluster"
        if clustered and cl is None:
            raise SpecificationError(
                "se='cluster' needs `cluster=` (e.g. the matched subclass); use se='robust' "
                "for matching with replacement or weighting"
            )
        allowed = CLUSTER_TYPES if clustered else HC_TYPES
        if se_type is None:
            # vcovCL's default: HC1 for lm, HC0 for glm (logistic g-computation)
            large = "HC1" if analysis == "difference" else "HC0"
            kind = ("CR2" if small else large) if clustered else "HC3"
        else:
            kind = check_option("se_type", se_type, allowed)
        V = sandwich_vcov(fit.xs, fit.es, cluster=cl if clustered else None, type=kind,
                          rank=fit.rank,
                          case_weights=w if analysis == "difference" else None)
        std = float(math.sqrt(max(grad @ V @ grad, 0.0)))
        if clustered:
            G = len(np.unique(np.asarray(cl)))
            df = float(G - 1)
            label = f"cluster-robust ({kind}) on {G} clusters, t with {G - 1} df"
        else:
            df = float(max(len(y) - fit.rank, 1))
            label = f"robust ({kind}), t with {df:g} df"
        if small:
            if kind in ("HC0", "HC1"):
                msg = (f"an arm has fewer than {small_n} units ({n1} treated, {n0} control) and "
                       f"se_type={kind!r} was requested: its CI can be too narrow; use "
                       "se_type='CR2' (cluster) or 'HC3' (robust), or se='permutation'")
            else:
                msg = (f"an arm has fewer than {small_n} units ({n1} treated, {n0} control): "
                       f"using {label} because {'HC1/CR1' if clustered else 'HC0/HC1'} standard "
                       "errors are biased downwards in small samples; consider se='permutation' "
                       "for an exact test")
            warnings.warn(msg, SmallSampleWarning, stacklevel=2)
            notes.append(msg)
        return effect_from_estimate(est, std, df=df, log_scale=log_scale, inference=label,
                                    notes=tuple(notes), **common)

    if se == "bootstrap":
        def stat(idx: np.ndarray) -> float:
            tt = t[idx]
            if tt.min() == tt.max():
                return float("nan")
            return _gcomp(y[idx], tt, w[idx], Z[idx], focal[idx], analysis)[0]

        reps = cluster_bootstrap(stat, len(y), cluster=cl, n_boot=n_boot, random_state=random_state)
        if len(reps) < 10:
            raise DataError("too few successful bootstrap replicates; the sample is too small")
        unit = "cluster" if cl is not None else "unit"
        label = f"{unit} bootstrap ({len(reps)} replicates), percentile CI"
        if small:
            msg = (f"an arm has fewer than {small_n} units ({n1} treated, {n0} control): the "
                   "percentile bootstrap CI can be too narrow in samples this small; prefer "
                   "se='cluster' (CR2, t) or se='permutation'")
            warnings.warn(msg, SmallSampleWarning, stacklevel=2)
            notes.append(msg)
        return effect_from_bootstrap(est, reps, log_scale=log_scale,
                                     inference=label, notes=tuple(notes), **common)

    # permutation
    if cl is None:
        raise SpecificationError("se='permutation' needs `cluster=` (the matched subclass)")
    if adjust is not None or analysis != "difference":
        raise SpecificationError(
            "se='permutation' supports the (risk) difference without `adjust`; use se='cluster'"
        )
    if estimand not in ("ATT", "ATC"):
        raise SpecificationError("se='permutation' is for matched data (estimand 'ATT' or 'ATC')")
    fmask = t == 1 if estimand == "ATT" else t == 0
    res = permutation_test(y, fmask, cl, n_perm=n_perm, conf_level=conf_level,
                           random_state=random_state, sign=1 if estimand == "ATT" else -1)
    label = f"permutation within matched subclasses ({n_perm} draws), CI by test inversion"
    if small:
        notes.append(f"an arm has fewer than {small_n} units: permutation inference does not "
                     "rely on large-sample approximations")
    return Effect(
        estimate=float(est), std_error=float(np.std(res.null, ddof=1)),
        conf_low=float(res.conf_low), conf_high=float(res.conf_high), p_value=float(res.p_value),
        df=float("nan"), inference=label, notes=tuple(notes), **common,
    )

