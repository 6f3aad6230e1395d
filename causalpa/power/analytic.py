"""Closed-form power and sample-size formulas (the ``pwr`` package, and a few more).

Each solver takes the quantities of a calculation and exactly one of them set to
``None``; that one is solved for. The formulas are those of R's ``pwr`` package
1.3.0 (Champely et al.), written operation for operation as ``pwr`` writes them
and evaluated with the same noncentral t / normal distributions.

Solved values (``n``, ``d``, ``h``) reproduce ``pwr``'s own answers, not just
the roots they approximate: ``pwr`` calls R's ``uniroot`` with its default
tolerance (``.Machine$double.eps^0.25``, about 1.2e-4), so its answers sit up
to about 1e-4 away from the exact roots. causalpa solves with a port of
``uniroot`` (:mod:`causalpa.power._uniroot`, Brent's zeroin exactly as R runs
it) on ``pwr``'s search intervals at that tolerance, so it takes the same
iterations and returns ``pwr``'s numbers (measured: within 6e-11 relative of
``pwr`` on 126 solved reference cases). Pass ``exact=True`` to solve to machine
precision instead.

- ``two_sample_t``: two-sample t test, equal or unequal n (``pwr.t.test``,
  ``pwr.t2n.test``);
- ``two_proportions``: two proportions via Cohen's arcsine h (``pwr.2p.test``,
  ``pwr.2p2n.test``);
- ``ancova``: t test on a baseline-adjusted outcome (residual variance
  ``1 - rho^2``, one df spent per covariate);
- ``design_effect``: variance inflation for clustering with unequal cluster sizes
  (Eldridge et al. 2006);
- ``inflate``: sample size after clustering and attrition;
- ``minimum_detectable_effect``: smallest SMD detectable with given n and power.

Examples
--------
>>> from causalpa.power import analytic
>>> r = analytic.two_sample_t(d=0.43, power=0.8)
>>> round(r.n, 2), r.n_ceil
(85.87, 86)
>>> analytic.two_proportions(p1=0.63, p2=0.36, power=0.8).n_ceil
53
"""

from __future__ import annotations

import math
import typing
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from causalpa._validation import (
    NONE,
    Boolean,
    Constraint,
    Number,
    Options,
    check_value,
    validate_params,
)
from causalpa.errors import SpecificationError
from causalpa.power._solvers import (
    N_LOWER,
    exactly_one_none,
    solve_effect,
    solve_size,
    t_power,
    z_power,
)
from causalpa.power.results import AnalyticResult

__all__ = [
    "AnalyticResult",
    "two_sample_t",
    "two_proportions",
    "ancova",
    "cohens_h",
    "design_effect",
    "inflate",
    "minimum_detectable_effect",
]

Alternative = Literal["two-sided", "greater", "less"]
"""The alternative hypotheses (R's spellings such as ``"two.sided"`` are accepted too)."""


class _AlternativeOption(Options):
    """One of :data:`Alternative`; R's spellings (``"two.sided"``) are read as ours."""

    def _find(self, value: Any) -> tuple[bool, Any]:
        if isinstance(value, str):
            value = value.replace(".", "-").replace("_", "-")
        return super()._find(value)


_ALTERNATIVE = _AlternativeOption(*typing.get_args(Alternative))
_FRACTION = Number(low=0, high=1, low_inclusive=False, high_inclusive=False)
_PROPORTION = Number(low=0, high=1)
_CORRELATION = Number(low=-1, high=1, low_inclusive=False, high_inclusive=False)
_ATTRITION = Number(low=0, high=1, high_inclusive=False)
_T_DECLARED: dict[str, Constraint | Sequence[Constraint]] = {"d": [Number(), NONE], "n": [Number(low=2, low_inclusive=False), NONE],
               "n2": [Number(low=2, low_inclusive=False), NONE], "power": [_FRACTION, NONE],
               "alpha": _FRACTION, "alternative": _ALTERNATIVE, "exact": Boolean()}
"""Declarations shared by the t-test calculations."""


# --------------------------------------------------------------------------- t test
def _t_core(
    d: float | None,
    n: float | None,
    n2: float | None,
    power: float | None,
    alpha: float,
    alternative: str,
    *,
    variance_factor: float = 1.0,
    df_lost: int = 0,
    test: str = "two-sample t",
    details: dict[str, Any] | None = None,
    exact: bool = False,
) -> AnalyticResult:
    alpha = float(alpha)
    equal = n2 is None
    target = exactly_one_none(d=d, n=n, power=power)
    if alternative == "two-sided" and d is not None:
        d = abs(d)
    scale = 1.0 / math.sqrt(variance_factor)

    def df_ncp(dd: float, n1: float, m2: float | None) -> tuple[float, float]:
        # pwr's expressions, operation for operation: pwr.t.test (equal n) uses
        # nu = (n - 1) * 2 and ncp = sqrt(n / 2) * d; pwr.t2n.test uses
        # nu = n1 + n2 - 2 and ncp = d * (1 / sqrt(1 / n1 + 1 / n2))
        if m2 is None:
            return (n1 - 1) * 2 - df_lost, math.sqrt(n1 / 2) * (dd * scale)
        return n1 + m2 - 2 - df_lost, (dd * scale) * (1 / math.sqrt(1 / n1 + 1 / m2))

    def pw(dd: float, n1: float, m2: float | None) -> float:
        df, ncp = df_ncp(dd, n1, m2)
        if df <= 0:
            return float("nan")
        return t_power(ncp, df, alpha, alternative)

    if target != "n":
        assert n is not None
        df_given = df_ncp(1.0, n, n2)[0]
        if df_given <= 0:
            sizes = f"n = {n:g}" + ("" if n2 is None else f", n2 = {n2:g}")
            formula = ("2 * (n - 1)" if n2 is None else "n + n2 - 2") + " - n_covariates"
            raise SpecificationError(
                f"`n_covariates` = {df_lost} leaves no residual degrees of freedom with "
                f"{sizes}: df = {formula} = {df_given:g}; increase `n`"
                f"{'' if n2 is None else ' or `n2`'} or use fewer covariates"
            )
    if target == "power":
        assert n is not None and d is not None
        power = pw(d, n, n2)
    elif target == "n":
        assert d is not None and power is not None
        if d == 0 or (alternative == "greater" and d < 0) or (alternative == "less" and d > 0):
            raise SpecificationError(
                f"`d` = {d} cannot give power above alpha with alternative={alternative!r}"
            )
        d_fix = float(d)
        lower = N_LOWER + df_lost / 2  # df = 2 at the lower end, as pwr's interval gives
        if n2 is not None:  # df = n + n2 - 2 - n_covariates >= 2 at the lower end
            lower = max(lower, N_LOWER + df_lost + 2 - n2)
        n = solve_size(lambda x: pw(d_fix, x, n2), power, lower, "n", exact)
    else:
        assert n is not None and power is not None
        d = solve_effect(lambda x: pw(x, n, n2), power, alpha, alternative, "d", exact)
    assert n is not None and d is not None and power is not None
    m2 = n if equal else n2
    assert m2 is not None
    extra = dict(details or {})
    df, ncp = df_ncp(d, n, n2)
    extra.update(df=df, ncp=ncp)
    return AnalyticResult(
        test=test,
        solved_for=target,
        n=float(n),
        n2=float(m2),
        power=float(power),
        effect=float(d),
        alpha=alpha,
        alternative=alternative,
        _details=tuple(extra.items()),
    )


@validate_params(_T_DECLARED)
def two_sample_t(
    d: float | None = None,
    n: float | None = None,
    n2: float | None = None,
    power: float | None = None,
    alpha: float = 0.05,
    alternative: Literal["two-sided", "greater", "less"] = "two-sided",
    *,
    exact: bool = False,
) -> AnalyticResult:
    """Power, sample size or effect of a two-sample t test (``pwr.t.test`` / ``pwr.t2n.test``).

    Set exactly one of ``d``, ``n`` and ``power`` to None; it is solved for.

    Power is computed from the noncentral t distribution with
    ``df = n + n2 - 2`` and noncentrality ``d / sqrt(1/n + 1/n2)``; two-sided power
    is ``P(T > q) + P(T < -q)`` with ``q`` the ``1 - alpha/2`` quantile of the
    central t, exactly as R's ``pwr``.

    Solving reproduces ``pwr.t.test`` / ``pwr.t2n.test``: R's ``uniroot`` (ported)
    with its default tolerance on ``pwr``'s intervals, ``(2 + 1e-10, 1e9)`` for
    ``n`` and ``(1e-7, 10)``, ``(-10, 5)`` or ``(-5, 10)`` for ``d`` (two-sided,
    less, greater). Where ``pwr`` stops with an error instead, causalpa returns
    ``n = 2 + 1e-10`` if that already gives the requested power, and widens the
    ``d`` interval (up to 1000) if ``d = 10`` does not reach it. To solve for
    ``n2`` given ``n``, swap the groups: the power is symmetric in the two sizes,
    and ``pwr.t2n.test`` solves for ``n2`` along the same path.

    Parameters
    ----------
    d : float or None
        Cohen's d (difference in means / common SD). For ``alternative="less"``
        a negative d; for two-sided tests its sign is ignored.
    n : float or None
        Size of the first group (of each group when ``n2`` is None).
    n2 : float, optional
        Size of the second group for unequal allocation (``pwr.t2n.test``);
        ``n`` is then the first group's size, solved for if None.
    power : float or None
        Power (1 - type II error).
    alpha : float
        Significance level.
    alternative : {"two-sided", "greater", "less"}
        Alternative hypothesis.
    exact : bool
        False (default): solve as ``pwr`` does (R's ``uniroot`` with its
        default tolerance ``2**-13`` on ``pwr``'s search interval), which
        reproduces ``pwr``'s answer to the last digits. True: solve to machine
        precision (the exact root; ``pwr``'s answer is within about 1e-4 of it).

    Returns
    -------
    AnalyticResult
        ``n`` is a real number like ``pwr``'s; ``n_ceil`` rounds it up.

    Examples
    --------
    >>> r = two_sample_t(d=0.43, power=0.8)
    >>> round(r.n, 4), r.n_ceil
    (85.8694, 86)
    >>> round(two_sample_t(d=0.5, n=16, n2=22).power, 4)
    0.3164
    >>> round(two_sample_t(n=100, power=0.8).effect, 4)
    0.3981

    ``pwr.t.test(d = 0.43, power = 0.8)$n`` is 85.86943408 (to 10 digits); the
    exact root is 6.5e-8 smaller:

    >>> round(r.n, 8), round(two_sample_t(d=0.43, power=0.8, exact=True).n, 8)
    (85.86943408, 85.86943402)
    """
    return _t_core(d, n, n2, power, alpha, alternative, exact=exact)


@validate_params({**_T_DECLARED, "rho": _CORRELATION,
                  "n_covariates": Number(low=0, integer=True)})
def ancova(
    d: float | None = None,
    n: float | None = None,
    n2: float | None = None,
    power: float | None = None,
    rho: float = 0.5,
    alpha: float = 0.05,
    alternative: Literal["two-sided", "greater", "less"] = "two-sided",
    n_covariates: int = 1,
    *,
    exact: bool = False,
) -> AnalyticResult:
    """Power of a treatment comparison adjusted for a baseline covariate (ANCOVA).

    Adjusting for a baseline with correlation ``rho`` with the analysed outcome
    leaves residual variance ``sigma^2 (1 - rho^2)``, so the standardised effect
    becomes ``d / sqrt(1 - rho^2)`` (Borm, Fransen & Lemmens 2007). Each covariate
    also spends one residual degree of freedom: ``df = n + n2 - 2 - n_covariates``
    (a small-sample refinement of Borm's large-sample formula, which simply
    multiplies the t-test sample size by ``1 - rho^2``).

    ``d`` is standardised by the SD of the analysed outcome (the follow-up score
    or the change score) and ``rho`` is the correlation of the baseline with that
    same outcome. ANCOVA of change on baseline and of follow-up on baseline give
    the same treatment estimate; with follow-up as outcome ``rho`` is the
    baseline/follow-up correlation (about 0.5 for PHQ-9 across a course of
    therapy; 0.74 is the 2-week test-retest value).

    Parameters
    ----------
    d, n, n2, power, alpha, alternative
        As in :func:`two_sample_t`.
    rho : float
        Correlation between the baseline covariate and the outcome (-1 < rho < 1).
    n_covariates : int
        Covariates in the model (degrees of freedom lost).
    exact : bool
        As in :func:`two_sample_t` (``pwr``'s interval for ``n`` starts at
        ``2 + 1e-10 + n_covariates / 2`` here, and with ``n2`` given at least at
        ``4 + 1e-10 + n_covariates - n2``, so that ``df >= 2`` throughout).

    Raises
    ------
    SpecificationError
        If the given ``n`` (and ``n2``) leave no residual degrees of freedom
        (``df <= 0``) for ``n_covariates``.

    Returns
    -------
    AnalyticResult

    Examples
    --------
    >>> r = ancova(d=0.43, power=0.8, rho=0.5)
    >>> r.n_ceil < two_sample_t(d=0.43, power=0.8).n_ceil
    True
    >>> r.n_ceil
    65
    """
    rho = float(rho)
    k = int(n_covariates)
    return _t_core(
        d, n, n2, power, alpha, alternative,
        variance_factor=1 - rho**2,
        df_lost=k,
        test="ANCOVA",
        details={"rho": rho, "variance_factor": 1 - rho**2, "n_covariates": k},
        exact=exact,
    )


# --------------------------------------------------------------------------- proportions
@validate_params({"p1": _PROPORTION, "p2": _PROPORTION})
def cohens_h(p1: float, p2: float) -> float:
    """Cohen's effect size h = 2 asin(sqrt(p1)) - 2 asin(sqrt(p2)) (``pwr::ES.h``).

    Examples
    --------
    >>> round(cohens_h(0.63, 0.36), 4)
    0.5468
    """
    return float(2 * math.asin(math.sqrt(p1)) - 2 * math.asin(math.sqrt(p2)))


def _proportions_effect(p1: float | None, p2: float | None,
                        h: float | None) -> tuple[float | None, bool, dict[str, Any]]:
    """Return Cohen's h (None if solved for), whether p2 is solved for, and the details."""
    if h is not None:
        if p1 is not None or p2 is not None:
            raise SpecificationError("give `h` or the proportions `p1`/`p2`, not both")
        return float(h), False, {}
    if p1 is None:
        if p2 is not None:
            raise SpecificationError("`p1` is required with `p2` (or give Cohen's `h`)")
        return None, False, {}  # Cohen's h itself is solved for
    p1 = float(p1)
    if p2 is None:
        return None, True, {"p1": p1, "p2": None}
    p2 = float(p2)
    return cohens_h(p1, p2), False, {"p1": p1, "p2": p2}


def _detectable_p2(p1: float, h: float) -> float:
    """Invert ``h = 2 asin(sqrt(p1)) - 2 asin(sqrt(p2))``: ``p2 = sin(asin(sqrt(p1)) - h/2)^2``."""
    arg = math.asin(math.sqrt(p1)) - h / 2
    if not 0 <= arg <= math.pi / 2:
        raise SpecificationError(
            f"no proportion p2 in [0, 1] is detectable from p1 = {p1} with this n and power"
        )
    return math.sin(arg) ** 2


@validate_params({"p1": [_PROPORTION, NONE], "p2": [_PROPORTION, NONE],
                  "n": [Number(low=1, low_inclusive=False), NONE],
                  "n2": [Number(low=1, low_inclusive=False), NONE], "power": [_FRACTION, NONE],
                  "alpha": _FRACTION, "alternative": _ALTERNATIVE, "h": [Number(), NONE],
                  "exact": Boolean()})
def two_proportions(
    p1: float | None = None,
    p2: float | None = None,
    n: float | None = None,
    n2: float | None = None,
    power: float | None = None,
    alpha: float = 0.05,
    alternative: Literal["two-sided", "greater", "less"] = "two-sided",
    *,
    h: float | None = None,
    exact: bool = False,
) -> AnalyticResult:
    """Power or sample size for two proportions via the arcsine transformation.

    Equal to R's ``pwr.2p.test`` (equal n) and ``pwr.2p2n.test`` (unequal n) with
    ``h = ES.h(p1, p2)``: the test statistic is normal with mean
    ``h * sqrt(n * n2 / (n + n2))``. Give the two proportions (or ``h`` directly),
    and set exactly one of ``n``, ``power`` and ``p2`` (or ``h``) to None.

    Solving reproduces ``pwr``'s answers: R's ``uniroot`` (ported) with its
    default tolerance on ``pwr``'s intervals, ``(2 + 1e-10, 1e9)`` for ``n`` and
    ``(1e-10, 10)``, ``(-10, 5)`` or ``(-5, 10)`` for ``h`` (two-sided, less,
    greater); see :func:`two_sample_t` for the cases where ``pwr`` stops with an
    error.

    Parameters
    ----------
    p1, p2 : float
        Proportions in the treated (PA) and control arms, e.g. recovery 0.63 vs 0.36.
        If ``p2`` is None (and ``h`` too) the control proportion detectable
        with the given n and power is solved for (``p2 < p1`` unless
        ``alternative="less"``).
    n : float or None
        Size of the first group (each group if ``n2`` is None).
    n2 : float, optional
        Size of the second group for unequal allocation.
    power : float or None
        Power.
    alpha : float
        Significance level.
    alternative : {"two-sided", "greater", "less"}
        Alternative hypothesis (``greater``: p1 > p2).
    h : float, optional
        Cohen's h instead of ``p1`` and ``p2``. If ``p1``, ``p2`` and ``h`` are
        all None, ``h`` is solved for (``pwr.2p.test(n=, power=)``).
    exact : bool
        As in :func:`two_sample_t`: ``pwr``'s answer (default) or the exact root.

    Returns
    -------
    AnalyticResult
        ``effect`` is Cohen's h.

    Examples
    --------
    >>> r = two_proportions(p1=0.63, p2=0.36, power=0.8)
    >>> round(r.n, 3), r.n_ceil
    (52.499, 53)
    >>> round(two_proportions(p1=0.63, p2=0.36, n=16, n2=22).power, 3)
    0.384
    >>> round(two_proportions(n=60, power=0.8).effect, 6)  # pwr.2p.test(n = 60, power = 0.8)
    0.511496
    """
    alt = alternative
    alpha = float(alpha)
    h, solve_p2, details = _proportions_effect(p1, p2, h)
    target = exactly_one_none(effect=h, n=n, power=power)
    if alt == "two-sided" and h is not None:
        h = abs(h)

    def pw(hh: float, n1: float) -> float:
        # pwr.2p.test: h * sqrt(n / 2); pwr.2p2n.test: h * sqrt((n1 * n2) / (n1 + n2))
        if n2 is None:
            return z_power(hh * math.sqrt(n1 / 2), alpha, alt)
        return z_power(hh * math.sqrt((n1 * n2) / (n1 + n2)), alpha, alt)

    if target == "power":
        assert h is not None and n is not None
        power = pw(h, n)
    elif target == "n":
        assert h is not None and power is not None
        if h == 0 or (alt == "greater" and h < 0) or (alt == "less" and h > 0):
            raise SpecificationError(
                f"the proportions (h = {h:.4g}) cannot give power above alpha with "
                f"alternative={alt!r}"
            )
        h_fix = float(h)
        n = solve_size(lambda x: pw(h_fix, x), power, N_LOWER, "n", exact)
    else:
        assert n is not None and power is not None
        h = solve_effect(lambda x: pw(x, n), power, alpha, alt, "h", exact)
        if solve_p2:
            details["p2"] = _detectable_p2(float(details["p1"]), h)
    assert n is not None and h is not None and power is not None
    m2 = n if n2 is None else n2
    return AnalyticResult(
        test="two proportions (arcsine)",
        solved_for="p2" if (target == "effect" and solve_p2) else ("h" if target == "effect" else target),
        n=float(n),
        n2=float(m2),
        power=float(power),
        effect=float(h),
        alpha=alpha,
        alternative=alt,
        _details=tuple(details.items()),
    )


# --------------------------------------------------------------------------- clustering, attrition
@validate_params({"icc": _PROPORTION, "m": [Number(low=1), NONE], "cv": Number(low=0)})
def design_effect(
    icc: float,
    m: float | None = None,
    *,
    cluster_sizes: Sequence[float] | np.ndarray | None = None,
    cv: float = 0.0,
) -> float:
    """Variance inflation of a cluster design: ``1 + ((cv^2 + 1) m - 1) icc``.

    The formula of Eldridge, Ashby & Kerry (2006, Int J Epidemiol 35:1292) for
    clusters (therapists) of unequal size with mean size ``m`` and coefficient of
    variation ``cv``; with equal sizes (``cv = 0``) it is the familiar
    ``1 + (m - 1) icc``. It applies to a trial randomised by therapist and to
    comparisons where each therapist's patients are all in one arm; when every
    therapist treats patients in both arms the clustering costs far less.

    Parameters
    ----------
    icc : float
        Intra-cluster correlation (therapist share of outcome variance, about 0.06).
    m : float, optional
        Mean cluster size (patients per therapist).
    cluster_sizes : array-like, optional
        Actual cluster sizes instead of ``m`` and ``cv``; ``cv`` is then their
        SD (``ddof=0``, the sizes describe the whole design) over their mean.
    cv : float
        Coefficient of variation of the cluster sizes.

    Returns
    -------
    float

    Examples
    --------
    >>> round(design_effect(0.06, 10), 4)
    1.54
    >>> round(design_effect(0.06, 10, cv=0.5), 4)
    1.69
    >>> round(design_effect(0.06, cluster_sizes=[5, 10, 15]), 4)
    1.64
    """
    icc = float(icc)
    cv = float(cv)
    if cluster_sizes is not None:
        if m is not None:
            raise SpecificationError("give `m` (and `cv`) or `cluster_sizes`, not both")
        bad = SpecificationError(
            f"`cluster_sizes` must be positive finite numbers; got {cluster_sizes!r}")
        if isinstance(cluster_sizes, (str, bytes)):
            raise bad
        try:
            sizes = np.asarray(cluster_sizes, dtype=float).reshape(-1)
        except (TypeError, ValueError):
            raise bad from None
        if sizes.size == 0 or not np.all(np.isfinite(sizes)) or np.any(sizes <= 0):
            raise bad
        m = float(sizes.mean())
        cv = float(sizes.std(ddof=0) / m)
    if m is None:
        raise SpecificationError("give the mean cluster size `m` or `cluster_sizes`")
    m = float(check_value("m", m, [Number(low=1)]))
    return float(1 + ((cv**2 + 1) * m - 1) * icc)


@validate_params({"n": Number(low=0, low_inclusive=False), "design_effect": Number(low=1),
                  "attrition": _ATTRITION})
def inflate(n: float, *, design_effect: float = 1.0, attrition: float = 0.0) -> int:
    """Participants to recruit per group: ``ceil(n * design_effect / (1 - attrition))``.

    Parameters
    ----------
    n : float
        Sample size per group needed for complete, independent data.
    design_effect : float
        Variance inflation from clustering (see :func:`design_effect`).
    attrition : float
        Expected proportion lost to follow-up (0 <= attrition < 1). Dividing by
        ``1 - attrition`` keeps the *analysed* sample at ``n``; it assumes
        drop-out is unrelated to the outcome (otherwise bias, not only power, is
        the problem: simulate it with a longitudinal design).

    Returns
    -------
    int

    Examples
    --------
    >>> inflate(86, attrition=0.2)
    108
    >>> inflate(86, design_effect=1.54, attrition=0.3)
    190
    """
    n, de, a = float(n), float(design_effect), float(attrition)
    return int(math.ceil(n * de / (1 - a) - 1e-9))


@validate_params({"n": Number(low=2, low_inclusive=False), "n2": [Number(low=2), NONE],
                  "power": _FRACTION, "alpha": _FRACTION, "alternative": _ALTERNATIVE,
                  "rho": _CORRELATION, "design_effect": Number(low=1), "attrition": _ATTRITION,
                  "exact": Boolean()})
def minimum_detectable_effect(
    n: float,
    n2: float | None = None,
    power: float = 0.8,
    alpha: float = 0.05,
    alternative: Literal["two-sided", "greater", "less"] = "two-sided",
    *,
    rho: float = 0.0,
    design_effect: float = 1.0,
    attrition: float = 0.0,
    exact: bool = False,
) -> float:
    """Smallest standardised effect (Cohen's d) detectable with the given design.

    The recruited ``n`` is first reduced by attrition and the design effect
    (effective ``n * (1 - attrition) / design_effect``); then the t test (or
    ANCOVA if ``rho != 0``) is solved for d, as ``pwr`` solves it or, with
    ``exact=True``, to machine precision (see :func:`two_sample_t`).

    Raises
    ------
    SpecificationError
        If attrition and the design effect leave 2 or fewer effective participants
        in a group.

    Examples
    --------
    >>> round(minimum_detectable_effect(38 / 2), 3)
    0.934
    >>> round(minimum_detectable_effect(100, rho=0.5), 3) < round(minimum_detectable_effect(100), 3)
    True
    """
    de, a, n = float(design_effect), float(attrition), float(n)
    eff_n = n * (1 - a) / de
    eff_n2 = None if n2 is None else float(n2) * (1 - a) / de
    for name, given, effective in (("n", n, eff_n), ("n2", n2, eff_n2)):
        if effective is not None and not effective > 2:
            raise SpecificationError(
                f"`attrition` = {a:g} and `design_effect` = {de:g} leave an effective `{name}` "
                f"of {given:g} * (1 - {a:g}) / {de:g} = {effective:.4g}, but the t test needs "
                f"more than 2 per group; recruit more or lower `attrition` / `design_effect`"
            )
    if rho:
        return ancova(n=eff_n, n2=eff_n2, power=power, alpha=alpha, alternative=alternative,
                      rho=rho, exact=exact).effect
    return two_sample_t(n=eff_n, n2=eff_n2, power=power, alpha=alpha,
                        alternative=alternative, exact=exact).effect
