"""Balancing weights: inverse probability weights, overlap weights, entropy balancing.

:func:`weight` estimates unit weights that make the treated and control groups
comparable for a target population (the *estimand*) and returns a
:class:`WeightResult` with the weights, effective sample sizes, a weight
summary, balance diagnostics and :meth:`WeightResult.estimate`.

Methods (registry ``METHODS``, one signature each, as WeightIt's ``weightit2<method>``):

``"ps"``
    Propensity-score weights from :func:`causalpa.propensity` (logistic, Firth or
    any scikit-learn classifier). With :math:`e` the score and :math:`T` the
    treatment: ATE ``T/e + (1-T)/(1-e)``; ATT ``T + (1-T) e/(1-e)``; ATC
    ``T (1-e)/e + (1-T)``; ATO (overlap weights) ``T (1-e) + (1-T) e``.
    ``stabilize=True`` multiplies each arm's weights by the arm's sample
    proportion (Robins, Hernan & Brumback 2000), as WeightIt.
``"entropy"``
    Entropy balancing (Hainmueller 2012): the weights closest to uniform in
    Kullback-Leibler divergence that give *exact* equality of covariate means.
    ATT reweights the controls to the treated means (treated weight 1), ATC the
    treated to the control means, ATE each arm to the full-sample means. Solved
    by Newton's method on the convex dual.

Trimming follows WeightIt's ``trim()``: ``trim=at`` with ``0.5 < at < 1``
winsorises every weight above the ``at`` quantile (R's quantile type 3) to that
quantile (``at < 0.5`` is read as ``1 - at``); an integer ``at >= 1`` trims the
``at`` largest weights to the next largest; ``trim_lower=True`` also trims the
bottom; ``trim_drop=True`` sets trimmed weights to 0 instead. Arms whose
weights are all equal (the focal arm for ATT/ATC) are not trimmed.

Standard errors of :meth:`WeightResult.estimate` (``se=``):

``"sandwich"`` (default)
    M-estimation sandwich stacking the propensity-score (or entropy-balancing)
    estimating equations with the weighted outcome model and the g-computation
    means, so it accounts for the estimation of the weights (as WeightIt's
    ``vcov = "asympt"``; Lunceford & Davidian 2004). For the ATE this is usually
    smaller than the robust SE, which treats the weights as known.
``"robust"``
    Weights treated as known: the HC0 sandwich of the weighted outcome model (as
    ``geepack::geeglm``, ``survey::svyglm`` without the finite-population factor,
    and WeightIt's ``vcov = "HC0"``), conservative for the ATE. This is the
    standard error of What If (Hernan & Robins, ch. 12).
``"bootstrap"``
    Nonparametric bootstrap that re-estimates the weights in every replicate;
    percentile CI.

With ``adjust=`` the weighted outcome model ``y ~ t * (covariates)`` is averaged
(g-computation) over all units for the ATE, the treated for the ATT, the controls
for the ATC and with the overlap weights for the ATO, as WeightIt's effect
estimation; the delta method holds the covariates fixed (as
``marginaleffects::avg_comparisons``). When an arm has fewer than 20 units a
small-sample rule applies (see :meth:`WeightResult.estimate`).

Examples
--------
>>> import numpy as np, pandas as pd
>>> import causalpa as cpa
>>> rng = np.random.default_rng(0)
>>> df = pd.DataFrame({"age": rng.normal(40, 10, 400)})
>>> df["pa"] = rng.binomial(1, 1 / (1 + np.exp(-(df["age"] - 40) / 10)))
>>> df["y"] = 2 * df["pa"] + 0.1 * df["age"] + rng.normal(size=400)
>>> w = cpa.weight(df, "pa ~ age", estimand="ATE", stabilize=True)
>>> e = w.estimate("y")
>>> bool(e.conf_low < 2 < e.conf_high)
True
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import special

from causalpa._regression import check_full_rank, logistic
from causalpa._spec import Spec, make_spec
from causalpa._validation import check_number, check_option, check_outcome, format_rows
from causalpa.errors import (
    DataError,
    ExtremeWeightsWarning,
    SpecificationError,
)
from causalpa.estimation import adjustment_matrix, delta_se, gcomp
from causalpa.inference import (
    SMALL_ARM,
    VARIANCES,
    Moments,
    bootstrap,
    is_small,
    small_sample_inflation,
    warn_small_sample,
)
from causalpa.propensity import (
    PropensityScore,
    _propensity_from_spec,
    propensity,
)
from causalpa.results import Effect, effect_from_bootstrap, effect_from_estimate

__all__ = ["weight", "WeightResult", "METHODS", "ipw_weights", "entropy_weights", "trim_weights"]

Estimand = Literal["ATE", "ATT", "ATC", "ATO"]
ESTIMANDS: tuple[str, ...] = ("ATE", "ATT", "ATC", "ATO")
SE_CHOICES: tuple[str, ...] = ("sandwich", "robust", "bootstrap", "HC0", "HC1", "HC2", "HC3")


# =========================================================================== weights
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
            "support, use estimand='ATO', or model='firth'."
        )
    return w, d


def trim_weights(
    w: np.ndarray, t: np.ndarray, at: float, *, lower: bool = False, drop: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Trim (winsorise) large weights as WeightIt's ``trim()``.

    Parameters
    ----------
    w : ndarray
        Weights.
    t : ndarray
        0/1 treatment; arms whose weights are all equal are left alone.
    at : float
        Quantile in (0, 1) (``at < 0.5`` means ``1 - at``), or a count ``>= 1`` of
        largest weights to trim.
    lower : bool
        Also trim the lowest weights symmetrically.
    drop : bool
        Set trimmed weights to 0 instead of the boundary value.

    Returns
    -------
    (ndarray, ndarray)
        Trimmed weights and a boolean mask of the units changed.

    Examples
    --------
    >>> w = np.array([1.0, 2, 3, 4, 50])
    >>> trim_weights(w, np.zeros(5, int), 0.8)[0].tolist()
    [1.0, 2.0, 3.0, 4.0, 4.0]
    """
    w = np.asarray(w, dtype=float).copy()
    t = np.asarray(t)
    eligible = np.ones(len(w), dtype=bool)
    for arm in (0, 1):
        m = t == arm
        if m.any() and np.ptp(w[m]) == 0:
            eligible &= ~m
    if not eligible.any():
        warnings.warn(
            "weights are all the same in each treatment arm and were not trimmed",
            ExtremeWeightsWarning,
            stacklevel=3,
        )
        return w, np.zeros(len(w), dtype=bool)
    we = w[eligible]
    if at < 1:
        at = max(at, 1 - at)
        hi = float(np.quantile(we, at, method="closest_observation"))
        lo = float(np.quantile(we, 1 - at, method="closest_observation")) if lower else -np.inf
    else:
        k = int(at)
        m = len(we)
        if k >= m:
            raise SpecificationError(
                f"`trim` = {at:g} must be less than the number of trimmable weights ({m})"
            )
        k = min(k, m - k)
        srt = np.sort(we)
        hi = float(srt[m - k - 1])
        lo = float(srt[k]) if lower else -np.inf
    changed = eligible & ((w > hi) | (w < lo))
    if drop:
        w[changed] = 0.0
    else:
        w[eligible & (w > hi)] = hi
        if lower:
            w[eligible & (w < lo)] = lo
    return w, changed


def _standardise(C: np.ndarray) -> np.ndarray:
    sd = C.std(axis=0)
    sd[sd == 0] = 1.0
    return (C - C.mean(axis=0)) / sd


def _ebal_dual(C: np.ndarray, target: np.ndarray, max_iter: int = 200) -> tuple[np.ndarray, bool]:
    """Solve min_l log sum_i exp(l'(c_i - target)) by damped Newton; return (lambda, converged)."""
    D = C - target
    lam = np.zeros(C.shape[1])

    def f(lv: np.ndarray) -> float:
        return float(special.logsumexp(D @ lv))

    fv = f(lam)
    for _ in range(max_iter):
        a = D @ lam
        p = np.exp(a - special.logsumexp(a))
        g = p @ D
        if np.max(np.abs(g)) < 1e-11:
            return lam, True
        H = (D * p[:, None]).T @ D - np.outer(g, g)
        try:
            step = -np.linalg.solve(H + 1e-12 * np.eye(len(g)), g)
        except np.linalg.LinAlgError:
            step = -np.linalg.lstsq(H, g, rcond=None)[0]
        s = 1.0
        for _ in range(50):
            new = lam + s * step
            fn = f(new)
            if fn <= fv + 1e-4 * s * (g @ step):
                break
            s /= 2
        lam, fv = new, fn
    a = D @ lam
    p = np.exp(a - special.logsumexp(a))
    return lam, bool(np.max(np.abs(p @ D)) < 1e-8)


def entropy_weights(C: np.ndarray, t: np.ndarray, estimand: str) -> tuple[np.ndarray, dict]:
    """Entropy-balancing weights giving exact mean balance on the columns of ``C``.

    Parameters
    ----------
    C : ndarray, shape (n, k)
        Covariate matrix (no intercept).
    t : ndarray
        0/1 treatment.
    estimand : {"ATE", "ATT", "ATC"}
        Target population.

    Returns
    -------
    (ndarray, dict)
        Weights (mean 1 within each reweighted arm) and the dual solutions.

    Examples
    --------
    >>> C = np.array([[1.0], [2], [3], [2], [4], [6]])
    >>> w, _ = entropy_weights(C, np.array([1, 1, 1, 0, 0, 0]), "ATT")
    >>> round(float(np.average(C[3:, 0], weights=w[3:])), 6)
    2.0
    """
    Cs = _standardise(C)
    w = np.ones(len(t))
    if estimand == "ATT":
        arms, target = [0], Cs[t == 1].mean(axis=0)
    elif estimand == "ATC":
        arms, target = [1], Cs[t == 0].mean(axis=0)
    else:
        arms, target = [0, 1], Cs.mean(axis=0)
    lams = {}
    for arm in arms:
        m = t == arm
        lam, ok = _ebal_dual(Cs[m], target)
        if not ok or not np.all(np.isfinite(lam)):
            raise DataError(
                f"entropy balancing found no weights giving exact balance for the "
                f"{'treated' if arm == 1 else 'control'} arm: the target means lie outside (or on "
                "the edge of) the range of its covariates. Remove or coarsen covariates with "
                "little overlap, or use method='ps'."
            )
        a = Cs[m] @ lam
        wa = np.exp(a - a.max())
        w[m] = wa / wa.mean()
        lams[arm] = lam
    return w, {"lambda": lams, "target": target}


# =========================================================================== nuisance models
@dataclass(frozen=True)
class Nuisance:
    """Estimating equations of the weight model, for the stacked M-estimation sandwich.

    ``psi`` is the n x k matrix of unit estimating functions at the estimate,
    ``jac`` the k x k derivative of their sum, ``dw`` the n x k derivative of the
    weights with respect to the parameters.
    """

    psi: np.ndarray
    jac: np.ndarray
    dw: np.ndarray
    label: str


@dataclass(frozen=True)
class MethodFit:
    """What a weighting method returns (registry contract)."""

    weights: np.ndarray
    ps: PropensityScore | None = None
    nuisance: Nuisance | None = None
    info: dict = field(default_factory=dict)


def _arm_constants(t: np.ndarray, stabilize: bool) -> np.ndarray:
    if not stabilize:
        return np.ones(len(t))
    p1 = t.mean()
    return np.where(t == 1, p1, 1 - p1)


def _method_ps(
    data: pd.DataFrame, spec: Spec, t: np.ndarray, estimand: str, *, stabilize: bool,
    ps_model: Any = "logistic", positivity: tuple[float, float] | None = (0.01, 0.99),
    **_: Any,
) -> MethodFit:
    """Propensity-score weights (registry entry "ps")."""
    # `spec` was validated on `data` by weight(): no second validation pass
    ps = _propensity_from_spec(data, spec, ps_model=ps_model, positivity=positivity)
    return _ps_from_arrays(ps.scores.to_numpy(), t, estimand, stabilize, ps,
                           q=special.expit(-ps.linear_predictor.to_numpy()))


def _ps_from_arrays(
    e: np.ndarray, t: np.ndarray, estimand: str, stabilize: bool, ps: PropensityScore | None,
    X: np.ndarray | None = None, parametric: bool = True, q: np.ndarray | None = None,
) -> MethodFit:
    w, dw_de = ipw_weights(e, t, estimand, q=q)
    c = _arm_constants(t, stabilize)
    w, dw_de = w * c, dw_de * c
    nuisance = None
    if X is None and ps is not None:
        X = ps.design
        parametric = ps.coef is not None
    if X is not None and parametric:
        v = e * (1 - e)
        psi = X * (t - e)[:, None]
        jac = -(X * v[:, None]).T @ X
        dw = X * (dw_de * v)[:, None]
        nuisance = Nuisance(psi=psi, jac=jac, dw=dw, label="logistic propensity score")
    return MethodFit(weights=w, ps=ps, nuisance=nuisance)


def _method_entropy(
    data: pd.DataFrame, spec: Spec, t: np.ndarray, estimand: str, *, stabilize: bool, **_: Any,
) -> MethodFit:
    """Entropy-balancing weights (registry entry "entropy")."""
    if estimand == "ATO":
        raise SpecificationError(
            "method='entropy' supports estimand 'ATE', 'ATT' or 'ATC'; for overlap weights "
            "use method='ps', estimand='ATO'"
        )
    C = _covariate_matrix(spec, data)
    if C.shape[1] == 0:
        raise SpecificationError("method='entropy' needs at least one covariate")
    return _entropy_from_arrays(C, t, estimand, stabilize)


def _covariate_matrix(spec: Spec, data: pd.DataFrame) -> np.ndarray:
    """Model matrix without the intercept column (reference coding for factors)."""
    X, names = spec.design()
    check_full_rank(X, names, "the propensity model")
    keep = [j for j, nm in enumerate(names) if nm != "Intercept"]
    return X[:, keep]


def _entropy_from_arrays(C: np.ndarray, t: np.ndarray, estimand: str, stabilize: bool,
                         with_nuisance: bool = True) -> MethodFit:
    w, info = entropy_weights(C, t, estimand)
    w = w * _arm_constants(t, stabilize)
    nuisance = (_entropy_nuisance(_standardise(C), t, estimand, info, stabilize)
                if with_nuisance else None)
    return MethodFit(weights=w, nuisance=nuisance, info=info)


def _entropy_nuisance(Cs: np.ndarray, t: np.ndarray, estimand: str, info: dict,
                      stabilize: bool) -> Nuisance:
    """Estimating equations of entropy balancing: target means and dual parameters.

    theta = (m, lambda_arm...) with psi_m = f_i (c_i - m) (f the units defining the
    target) and psi_lambda = 1[arm] exp(lambda'(c_i - m)) (c_i - m). The weight of a
    reweighted unit is proportional to exp(lambda'(c_i - m)); its arm-level scale
    does not affect the effect estimate and is held fixed.
    """
    n, k = Cs.shape
    arms = sorted(info["lambda"])
    src = {"ATT": t == 1, "ATC": t == 0}.get(estimand, np.ones(n, dtype=bool)).astype(float)
    c = _arm_constants(t, stabilize)
    theta0 = np.concatenate([info["target"], *[info["lambda"][a] for a in arms]])
    # scale so that weights equal the returned ones at theta0
    scale = {}
    for a in arms:
        m = t == a
        expo = np.exp((Cs[m] - info["target"]) @ info["lambda"][a])
        scale[a] = 1.0 / expo.mean()

    def parts(theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        m = theta[:k]
        D = Cs - m
        cols = [D * src[:, None]]
        w = np.ones(n)
        for j, a in enumerate(arms):
            lam = theta[k * (j + 1): k * (j + 2)]
            ex = np.exp(np.clip(D @ lam, -700, 700))
            ind = (t == a).astype(float)
            cols.append(D * (ind * ex)[:, None])
            w = np.where(t == a, ex * scale[a], w)
        return np.hstack(cols), w * c

    psi0, _ = parts(theta0)
    p = len(theta0)
    jac = np.empty((p, p))
    dw = np.empty((n, p))
    for j in range(p):
        h = 1e-6 * max(1.0, abs(theta0[j]))
        tp, tm = theta0.copy(), theta0.copy()
        tp[j] += h
        tm[j] -= h
        sp, wp = parts(tp)
        sm, wm = parts(tm)
        jac[:, j] = (sp.sum(axis=0) - sm.sum(axis=0)) / (2 * h)
        dw[:, j] = (wp - wm) / (2 * h)
    return Nuisance(psi=psi0, jac=jac, dw=dw, label="entropy balancing")


MethodFn = Callable[..., MethodFit]
#: Registry of weighting methods: name -> function(data, spec, t, estimand, *, stabilize, **opts).
METHODS: dict[str, MethodFn] = {"ps": _method_ps, "entropy": _method_entropy}


# =========================================================================== stacked sandwich
def averaging_weights(t: np.ndarray, w: np.ndarray, estimand: str) -> np.ndarray:
    """Weights of the g-computation average, as WeightIt's effect estimation.

    ATE: every unit equally; ATT: the treated; ATC: the controls; ATO: the
    (overlap) weights themselves.
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

    With ``nuisance`` (the weight model's estimating equations), the M-estimation
    sandwich of the stacked system ``theta = (gamma, beta)``: the weight model's
    equations and the weighted outcome model ``w_i x_i (y_i - g(x_i' beta))`` with
    ``x = (1, t, z, t z)``, as WeightIt's ``glm_weightit(vcov = "asympt")``. Without it,
    the weights are treated as known and ``se`` (HC0 by default, as WeightIt's ``vcov =
    "HC0"``, ``geeglm`` and ``svyglm``) is the sandwich of the outcome model. The effect is
    the contrast of the g-computation means with the averaging weights ``s`` held fixed;
    its standard error is the delta method, as ``marginaleffects::avg_comparisons``.

    Returns
    -------
    (float, float, ndarray)
        The contrast (log scale for ratios), its standard error and the covariance of
        the stacked parameters (of ``beta`` alone without ``nuisance``).
    """
    g = gcomp(y, t, w, Z, s, measure, link="logit" if logit else "identity")
    fit = g.fit
    if nuisance is None:
        V = VARIANCES[se]().vcov(Moments.from_fit(fit))
        return g.estimate, delta_se(g.gradient, V), V
    kg = nuisance.psi.shape[1]
    kb = g.X.shape[1]
    ig, ib = slice(0, kg), slice(kg, kg + kb)
    J = np.zeros((kg + kb, kg + kb))
    J[ig, ig] = nuisance.jac
    J[ib, ib] = -(fit.xs.T @ fit.xs)
    J[ib, ig] = g.X.T @ (nuisance.dw * (y - fit.fitted)[:, None])
    psi = np.hstack([nuisance.psi, fit.xs * fit.es[:, None]])
    V = VARIANCES["sandwich"]().vcov(Moments.stacked(psi, J))
    return g.estimate, delta_se(g.gradient, V[ib, ib]), V


# =========================================================================== result
@dataclass(frozen=True)
class WeightResult:
    """Balancing weights and what can be done with them (built by :func:`weight`).

    Attributes
    ----------
    weights : pandas.Series
        One weight per row, indexed like the data.
    estimand : str
        "ATE", "ATT", "ATC" or "ATO".
    method : str
        Weighting method ("ps" or "entropy").
    spec : Spec
        Treatment specification.
    ps : PropensityScore or None
        The fitted propensity model (method "ps").
    stabilize : bool
        Whether the weights were stabilised.
    trimmed : pandas.Index
        Labels of the rows whose weights were trimmed.

    Examples
    --------
    >>> import warnings
    >>> import causalpa as cpa
    >>> df = cpa.datasets.load_pilot()
    >>> w = cpa.weight(df, "pa ~ age + phq9_first", estimand="ATE")
    >>> w.method, w.estimand, w.stabilize, len(w.trimmed)
    ('ps', 'ATE', False, 0)
    >>> bool(w.weights.index.equals(df.index))
    True
    >>> {arm: round(v, 1) for arm, v in w.ess.items()}  # Kish ESS of 16 treated, 22 control
    {'treated': 14.3, 'control': 19.3}
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")  # SmallSampleWarning: 38 patients
    ...     e = w.estimate("phq9_change")
    >>> e.estimand, e.method
    ('ATE', 'inverse probability weighting')
    """

    weights: pd.Series
    estimand: str
    method: str
    spec: Spec
    ps: PropensityScore | None
    stabilize: bool
    trimmed: pd.Index
    _data: pd.DataFrame = field(repr=False)
    _t: np.ndarray = field(repr=False)
    _fit: MethodFit = field(repr=False)
    _options: dict = field(repr=False, default_factory=dict)

    def __repr__(self) -> str:
        ess = self.ess
        n1 = int(self._t.sum())
        n0 = len(self._t) - n1
        extra = ", stabilised" if self.stabilize else ""
        extra += f", {len(self.trimmed)} trimmed" if len(self.trimmed) else ""
        return (
            f"<WeightResult method={self.method!r} estimand={self.estimand!r}{extra}; "
            f"formula {self.spec.formula!r}; ESS treated {ess['treated']:.1f} of {n1}, "
            f"control {ess['control']:.1f} of {n0}>"
        )

    # -- diagnostics --------------------------------------------------------
    @property
    def ess(self) -> pd.Series:
        """Kish effective sample size ``(sum w)^2 / sum w^2`` per arm."""
        w = self.weights.to_numpy()
        out = {}
        for name, arm in (("treated", 1), ("control", 0)):
            wa = w[self._t == arm]
            out[name] = float(wa.sum() ** 2 / np.sum(wa**2)) if np.any(wa > 0) else 0.0
        return pd.Series(out, name="ess")

    def summary(self) -> pd.DataFrame:
        """Weight summary per arm: n, ESS, min, quartiles, max, mean, SD, coefficient of variation.

        Examples
        --------
        >>> import pandas as pd
        >>> df = pd.DataFrame({"t": [0, 1] * 10, "x": range(20)})
        >>> list(weight(df, "t ~ x").summary().columns)[:3]
        ['n', 'ess', 'min']
        """
        w = self.weights.to_numpy()
        ess = self.ess
        rows = {}
        for name, arm in (("treated", 1), ("control", 0)):
            wa = w[self._t == arm]
            mean = float(wa.mean())
            sd = float(wa.std(ddof=1)) if len(wa) > 1 else 0.0
            rows[name] = {
                "n": int(len(wa)),
                "ess": float(ess[name]),
                "min": float(wa.min()),
                "q25": float(np.quantile(wa, 0.25)),
                "median": float(np.median(wa)),
                "q75": float(np.quantile(wa, 0.75)),
                "max": float(wa.max()),
                "mean": mean,
                "sd": sd,
                "cv": sd / mean if mean > 0 else float("nan"),
                "sum": float(wa.sum()),
            }
        return pd.DataFrame.from_dict(rows, orient="index")

    def balance(self, **kwargs: Any) -> Any:
        """Covariate balance before and after weighting (:func:`causalpa.balance`).

        Keyword arguments are passed to :func:`causalpa.balance.balance`.
        """
        from causalpa.balance import balance

        return balance(
            self._data,
            self.spec.formula,
            weights=self.weights.to_numpy(),
            estimand=self.estimand,
            treated=self.spec.treated,
            **kwargs,
        )

    # -- estimation ---------------------------------------------------------
    def estimate(
        self,
        outcome: str,
        adjust: str | list[str] | None = None,
        se: str = "sandwich",
        *,
        measure: str | None = None,
        conf_level: float = 0.95,
        n_boot: int = 999,
        rng: Any = None,
    ) -> Effect:
        """Estimate the treatment effect in the weighted sample.

        Parameters
        ----------
        outcome : str
            Outcome column (0/1 for binary outcomes).
        adjust : str or list of str, optional
            Covariates for the (doubly robust) weighted outcome model
            ``y ~ t * (covariates)``; the effect is then averaged over the target
            population (g-computation; all units for the ATE, the treated for the
            ATT, the controls for the ATC, overlap-weighted for the ATO).
        se : {"sandwich", "robust", "bootstrap", "HC0", "HC1", "HC2", "HC3"}
            Inference (see the module notes). "sandwich" accounts for the
            estimation of the weights; "robust" (HC0) and "HC1"-"HC3" treat them as
            known. When an
            arm has fewer than 20 units, the larger of the two sandwiches ("robust"
            alone for se="robust") is inflated by ``n / (n - p)`` and a t reference
            with ``n - p`` df is used (p = model parameters), calibrated by
            simulation at n = 38.
        measure : {"difference", "risk difference", "risk ratio", "odds ratio"}, optional
            Default: "risk difference" for 0/1 outcomes, "difference" otherwise.
        conf_level : float
            Confidence level.
        n_boot : int
            Bootstrap replicates (``se="bootstrap"``).
        rng : None, int or numpy.random.Generator
            Randomness of the bootstrap (SPEC 7).

        Returns
        -------
        Effect

        Warns
        -----
        SmallSampleWarning
            An arm has fewer than 20 units: the message says which inference was used.
        """
        se = check_option("se", se, SE_CHOICES)
        conf_level = check_number("conf_level", conf_level, low=0, high=1, low_inclusive=False,
                                  high_inclusive=False)
        n_boot = check_number("n_boot", n_boot, low=10, integer=True)
        data = self._data
        y, binary, measure = check_outcome(data, outcome, measure)
        t = self._t
        w = self.weights.to_numpy()
        n1, n0 = int(np.sum((t == 1) & (w > 0))), int(np.sum((t == 0) & (w > 0)))
        if min(n1, n0) < 2:
            arm = "treated" if n1 < 2 else "control"
            raise DataError(
                f"the {arm} arm has fewer than 2 units with positive weight: no variance can be "
                "estimated"
            )
        method_label = {"ps": "inverse probability weighting", "entropy": "entropy balancing"}[
            self.method
        ]
        if self.method == "ps" and self.estimand == "ATO":
            method_label = "overlap weighting"
        small = is_small(n1, n0)
        Z, _ = adjustment_matrix(data, adjust)
        logit = measure != "difference" and (adjust is not None or measure != "risk difference")
        focal = averaging_weights(t, w, self.estimand)
        log_scale = measure in ("risk ratio", "odds ratio")
        common: dict[str, Any] = dict(estimand=self.estimand, method=method_label, n_treated=n1,
                                      n_control=n0, outcome=outcome, measure=measure,
                                      conf_level=conf_level, treatment=self.spec.treatment)
        notes: list[str] = []
        if se != "bootstrap":
            known = "HC0" if se in ("sandwich", "robust") else se
            nuisance = None if (se != "sandwich" or len(self.trimmed)) else self._fit.nuisance
            est, std, _ = stacked_sandwich(y, t, w, Z, focal, measure, logit=logit,
                                           nuisance=nuisance, se=known)
            if not np.isfinite(est):
                raise DataError(f"the {measure} is undefined: an arm's average risk is 0 or 1")
            n = len(y)
            if nuisance is not None:
                label = f"M-estimation sandwich (accounts for {nuisance.label})"
            else:
                label = f"robust ({known}) sandwich, weights treated as known"
                if se == "sandwich":
                    why = ("the weights were trimmed" if len(self.trimmed)
                           else "the propensity model is not a parametric logistic model")
                    notes.append(f"{why}: the sandwich treats the weights as known")
            df = math.inf
            if small:
                # Small-sample rule (calibrated at n = 38, see tests/test_weighting.py): the
                # correction for the estimated weights is itself unreliable here, so use the
                # larger of the stacked and the weights-known sandwich, inflate it by
                # n / (n - p) and use t with n - p df (p = outcome + weight-model parameters).
                if nuisance is not None:
                    _, std_known, _ = stacked_sandwich(y, t, w, Z, focal, measure, logit=logit,
                                                       nuisance=None)
                    std = max(std, std_known)
                kb = 2 * (1 + Z.shape[1])
                kg = 0 if nuisance is None else nuisance.psi.shape[1]
                p = kb + kg
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
                    "uncertainty honestly."))
            else:
                label += ", normal reference"
            return effect_from_estimate(est, std, df=df, log_scale=log_scale, inference=label,
                                        notes=tuple(notes), **common)
        # bootstrap: re-estimate the weights in every replicate
        link: Literal["identity", "logit"] = "logit" if logit else "identity"
        est = gcomp(y, t, w, Z, focal, measure, link=link).estimate
        C = _covariate_matrix(self.spec, data) if self.method == "entropy" else None
        n = len(y)

        def stat(idx: np.ndarray) -> float:
            tb = t[idx]
            if tb.min() == tb.max() or min(tb.sum(), n - tb.sum()) < 2:
                return float("nan")
            wb = self._reweight(idx, C)
            sb = averaging_weights(tb, wb, self.estimand)
            return gcomp(y[idx], tb, wb, Z[idx], sb, measure, link=link).estimate

        reps_arr = bootstrap(stat, n, n_boot=n_boot, rng=rng)
        label = f"bootstrap re-estimating the weights ({len(reps_arr)} replicates), percentile CI"
        if small:
            notes.append(warn_small_sample(
                f"an arm has fewer than {SMALL_ARM} units ({n1} treated, {n0} control): the "
                "percentile bootstrap can be too narrow in samples this small; compare with "
                "se='sandwich' (small-sample t)"))
        return effect_from_bootstrap(est, reps_arr, log_scale=log_scale, inference=label,
                                     notes=tuple(notes), **common)

    def _reweight(self, idx: np.ndarray, C: np.ndarray | None) -> np.ndarray:
        """Weights re-estimated on the rows ``idx`` (bootstrap)."""
        opts = self._options
        tb = self._t[idx]
        if self.method == "ps":
            ps = self.ps
            assert ps is not None
            if ps.coef is not None:
                fit = logistic(tb, ps.design[idx], firth=ps.model == "firth", maxit=100)
                e, q = fit.fitted, special.expit(-fit.eta)
            else:
                sub = self._data.iloc[idx].reset_index(drop=True)
                e = propensity(sub, self.spec.formula, ps_model=opts["ps_model"],
                               treated=self.spec.treated, positivity=None).scores.to_numpy()
                q = 1 - e
            w = _ps_from_arrays(e, tb, self.estimand, self.stabilize, None, q=q).weights
        else:
            assert C is not None
            w = _entropy_from_arrays(C[idx], tb, self.estimand, self.stabilize,
                                     with_nuisance=False).weights
        if opts.get("trim") is not None:
            w = trim_weights(w, tb, opts["trim"], lower=opts["trim_lower"],
                             drop=opts["trim_drop"])[0]
        return w


# =========================================================================== entry point
def weight(
    data: pd.DataFrame,
    formula: str | None = None,
    *,
    treatment: str | None = None,
    covariates: list[str] | None = None,
    method: str = "ps",
    estimand: str = "ATE",
    stabilize: bool = False,
    trim: float | None = None,
    trim_lower: bool = False,
    trim_drop: bool = False,
    ps_model: Any = "logistic",
    treated: Any = None,
    positivity: tuple[float, float] | None = (0.01, 0.99),
) -> WeightResult:
    """Estimate balancing weights for a binary treatment.

    Parameters
    ----------
    data : pandas.DataFrame
        Analysis data (never modified).
    formula : str, optional
        ``"treatment ~ covariates"``; or give ``treatment=`` and ``covariates=``.
    treatment : str, optional
        Treatment column.
    covariates : list of str, optional
        Covariate columns.
    method : {"ps", "entropy"}
        Propensity-score weights or entropy balancing (see the module notes).
    estimand : {"ATE", "ATT", "ATC", "ATO"}
        Target population; "ATO" = overlap weights (method "ps" only).
    stabilize : bool
        Multiply each arm's weights by its sample proportion (stabilised weights).
    trim : float, optional
        Trim (winsorise) weights above this quantile, or this many largest
        weights (WeightIt's ``trim(at=)`` semantics; see the module notes).
    trim_lower : bool
        Also trim the lowest weights.
    trim_drop : bool
        Set trimmed weights to 0 instead of the boundary value.
    ps_model : {"logistic", "firth"} or scikit-learn classifier
        Propensity model for ``method="ps"``.
    treated : object, optional
        Treated level of a non-0/1 treatment column.
    positivity : (float, float) or None
        Score range outside which a :class:`PositivityWarning` is issued.

    Returns
    -------
    WeightResult

    Raises
    ------
    SpecificationError
        Unknown option values.
    DataError
        Missing values, non-binary treatment, an arm with fewer than 2 units,
        separation in the propensity model, or no exact balance (entropy).

    Warns
    -----
    PositivityWarning
        Propensity scores near 0 or 1.
    ExtremeWeightsWarning
        A few units dominate an arm (low effective sample size); the message
        suggests remedies.

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
    method = check_option("method", method, list(METHODS))
    estimand = check_option("estimand", estimand, ESTIMANDS)
    if not isinstance(stabilize, bool):
        raise SpecificationError(f"`stabilize` must be True or False; got {stabilize!r}")
    if trim is not None:
        trim = check_number("trim", trim, low=0, low_inclusive=False)
        if trim != int(trim) and trim > 1:
            raise SpecificationError(
                f"`trim` must be a quantile in (0, 1) or a whole number of weights; got {trim!r}"
            )
    spec = make_spec(data, formula, treatment=treatment, covariates=covariates, treated=treated)
    t = spec.treatment_array(data)
    n1, n0 = int(t.sum()), int(len(t) - t.sum())
    if min(n1, n0) < 2:
        arm = "treated" if n1 < 2 else "control"
        raise DataError(
            f"the {arm} arm of {spec.treatment!r} has {min(n1, n0)} unit(s); weighting needs at "
            "least 2 units per arm (and far more for trustworthy inference)"
        )
    fit = METHODS[method](data, spec, t, estimand, stabilize=stabilize, ps_model=ps_model,
                          positivity=positivity)
    w = fit.weights
    trimmed_mask = np.zeros(len(w), dtype=bool)
    if trim is not None:
        w, trimmed_mask = trim_weights(w, t, trim, lower=trim_lower, drop=trim_drop)
    weights = pd.Series(w, index=data.index, name="weights")
    _warn_extreme(w, t, data.index)
    return WeightResult(
        weights=weights,
        estimand=estimand,
        method=method,
        spec=spec,
        ps=fit.ps,
        stabilize=stabilize,
        trimmed=data.index[trimmed_mask],
        _data=data,
        _t=t,
        _fit=fit,
        _options={"trim": trim, "trim_lower": trim_lower, "trim_drop": trim_drop,
                  "ps_model": ps_model},
    )


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
