"""Sensitivity analysis for unmeasured confounding: E-values and Rosenbaum bounds.

Self-selection into physical activity can only be adjusted for on *recorded*
covariates. These tools ask how strong an unrecorded confounder (motivation,
prior activity, ...) would have to be to explain the estimate away.

:func:`evalue`
    VanderWeele & Ding (2017): the minimum strength of association, on the
    risk-ratio scale, that an unmeasured confounder would need with both the
    treatment and the outcome to move the estimate (or its confidence limit
    closest to the null) to the null. Risk ratios directly; odds ratios via
    ``RR ~ OR`` (rare outcome) or ``RR ~ sqrt(OR)`` (common outcome, > 15%);
    hazard ratios likewise; standardised mean differences ``d`` via
    ``RR ~ exp(0.91 d)`` with CI ``exp(0.91 d +- 1.78 SE(d))``. Returns an
    :class:`EValue` whose ``plot()`` is the bias plot of R's ``EValue::bias_plot``.
:func:`rosenbaum`
    Rosenbaum bounds for the Wilcoxon signed-rank test on matched pairs: for
    each sensitivity parameter Gamma (the odds of treatment within a pair may
    differ by up to a factor Gamma because of an unobserved covariate), the
    bounds on the one-sided p-value. Exact (convolution over the signed-rank
    distribution) for up to 300 pairs, normal approximation (as R's
    ``rbounds::psens``) above. Returns a :class:`RosenbaumBounds`.

Both results follow the package's result protocol: ``tidy()`` is the table,
``summary()``, ``to_dict()`` and the notebook view derive from it.

Examples
--------
>>> from causalpa.sensitivity import evalue
>>> ev = evalue(3.9, conf_low=1.8, conf_high=8.7)  # VanderWeele & Ding (2017)
>>> round(ev.point, 2), round(ev.ci, 2)
(7.26, 3.0)
>>> ev.tidy().round(3).values.tolist()
[['point', 3.9, 7.263], ['confidence limit', 1.8, 3.0]]
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats

from causalpa._validation import (
    NONE,
    Boolean,
    Column,
    Constraint,
    Instance,
    Number,
    Numbers,
    check_outcome,
    validate_params,
)
from causalpa.errors import DataError, SpecificationError
from causalpa.results import Effect, Result

__all__ = ["EValue", "evalue", "rosenbaum", "signed_rank_bounds", "RosenbaumBounds"]


# =========================================================================== E-values
@dataclass(frozen=True, repr=False, eq=False)
class EValue(Result):
    """E-values for a point estimate and its confidence limit (frozen).

    ``tidy()`` has one row per quantity ("point", "confidence limit") with the risk
    ratio used (``risk_ratio``) and its E-value (``evalue``); ``plot()`` draws the
    confounder strengths that would explain the estimate away.

    Attributes
    ----------
    point : float
        E-value of the point estimate.
    ci : float
        E-value of the confidence limit closest to the null (1 if the interval
        includes the null; nan if no interval was given).
    rr : float
        The estimate on the approximate risk-ratio scale used.
    rr_limit : float
        The confidence limit closest to the null on that scale (nan if none).
    scale : str
        Input scale ("RR", "OR", "HR", "SMD").
    conversion : str
        The approximation used to reach the risk-ratio scale.
    null : float
        The null value on the risk-ratio scale.

    Examples
    --------
    >>> from causalpa.sensitivity import evalue
    >>> ev = evalue(3.9, conf_low=1.8, conf_high=8.7)  # VanderWeele & Ding (2017)
    >>> round(ev.point, 2), round(ev.ci, 2), ev.rr_limit, ev.scale
    (7.26, 3.0, 1.8, 'RR')
    >>> ev_or = evalue(1.5, conf_low=0.9, conf_high=2.5, scale="OR")
    >>> ev_or.conversion, ev_or.ci  # the interval includes the null
    ('OR as RR (rare outcome)', 1.0)
    >>> print(ev_or.summary().splitlines()[0])
    E-values for unmeasured confounding (VanderWeele & Ding 2017)
    """

    point: float
    ci: float
    rr: float
    rr_limit: float
    scale: str
    conversion: str
    null: float = 1.0

    @property
    def notes(self) -> tuple[str, ...]:
        """The interpretation of the E-values."""
        txt = (
            f"an unmeasured confounder associated with both the treatment and the outcome by "
            f"a risk ratio of at least {self.point:.2f} each, above the measured covariates, "
            "could explain away the estimate"
        )
        if np.isfinite(self.ci):
            txt += (f"; {self.ci:.2f} for the confidence limit"
                    + (" (the interval already includes the null)" if self.ci == 1 else ""))
        return (txt,)

    def _tidy(self) -> pd.DataFrame:
        return pd.DataFrame({"quantity": ["point", "confidence limit"],
                             "risk_ratio": [self.rr, self.rr_limit],
                             "evalue": [self.point, self.ci]})

    def _title(self) -> str:
        return "E-values for unmeasured confounding (VanderWeele & Ding 2017)"

    def _meta(self) -> dict[str, Any]:
        return {"scale": self.scale, "conversion": self.conversion, "null": self.null}

    @validate_params({"xmax": [Number(low=1, low_inclusive=False), NONE]})
    def plot(self, ax: Any = None, *, xmax: float | None = None) -> Any:
        """Bias plot: the confounder strengths that would explain the estimate away.

        The curve holds the pairs ``(RR_EU, RR_UY)`` with ``RR_EU RR_UY / (RR_EU + RR_UY
        - 1) = RR`` (the risk ratio relative to the null, inverted if below 1); the
        E-value is the point where both are equal (as R's ``EValue::bias_plot``). The
        dashed curve does the same for the confidence limit closest to the null.

        Parameters
        ----------
        ax : matplotlib.axes.Axes, optional
            Axes to draw on (default: a new figure).
        xmax : float, optional
            Upper limit of both axes (default: about twice the E-value).

        Returns
        -------
        matplotlib.axes.Axes

        Examples
        --------
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> ax = evalue(3.9, conf_low=1.8, conf_high=8.7).plot()
        >>> ax.get_xlabel()
        'RR_EU: treatment-confounder risk ratio'
        """
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(5.5, 5))
        top = float(xmax) if xmax is not None else max(2.0 * self.point, self.point + 2.0)
        curves = [(self.rr, self.point, "-", "estimate")]
        if np.isfinite(self.ci) and self.ci > 1:
            curves.append((self.rr_limit, self.ci, "--", "confidence limit"))
        for i, (rr, value, style, label) in enumerate(curves):
            r = rr / self.null
            r = 1 / r if r < 1 else r
            x = np.linspace(r, top, 400)[1:]
            ax.plot(x, r + r * (r - 1) / (x - r), style, color=f"C{i}",
                    label=f"{label}: RR = {r:.3g}")
            ax.plot([value], [value], "o", color=f"C{i}")
            ax.annotate(f"E-value {value:.2f}", (value, value), textcoords="offset points",
                        xytext=(6, 6))
        ax.set_xlim(1, top)
        ax.set_ylim(1, top)
        ax.set_xlabel("RR_EU: treatment-confounder risk ratio")
        ax.set_ylabel("RR_UY: confounder-outcome risk ratio")
        ax.set_title("Confounding that would explain the estimate away")
        ax.legend(frameon=False, loc="upper right")
        return ax


def _evalue_rr(rr: float) -> float:
    if rr < 1:
        rr = 1 / rr
    return rr + math.sqrt(rr * (rr - 1))


_CONVERSIONS: dict[tuple[str, bool], str] = {
    ("RR", True): "risk ratio", ("RR", False): "risk ratio",
    ("OR", True): "OR as RR (rare outcome)", ("OR", False): "RR = sqrt(OR) (common outcome)",
    ("HR", True): "HR as RR (rare outcome)",
    ("HR", False): "RR = (1 - 0.5^sqrt(HR)) / (1 - 0.5^sqrt(1/HR)) (common outcome)",
    ("SMD", True): "RR = exp(0.91 d), CI exp(0.91 d +- 1.78 SE)",
    ("SMD", False): "RR = exp(0.91 d), CI exp(0.91 d +- 1.78 SE)",
}


def _to_rr(x: float, scale: str, rare: bool) -> float:
    if scale == "RR" or (scale in ("OR", "HR") and rare):
        return x
    if scale == "OR":
        return math.sqrt(x)
    if scale == "HR":
        return (1 - 0.5 ** math.sqrt(x)) / (1 - 0.5 ** math.sqrt(1 / x))
    raise AssertionError(scale)  # pragma: no cover


def _from_effect(eff: Effect, *, scale: str | None, sd: float | None, given: dict[str, Any]
                 ) -> tuple[float, float | None, float | None, str, float | None]:
    """Estimate, limits, scale and SE (for an SMD) read from an Effect."""
    named = [k for k, v in given.items() if v is not None]
    if named:
        raise SpecificationError(
            f"`{named[0]}` is taken from the Effect; give the Effect alone (with `sd` for a "
            "difference)")
    if eff.measure == "risk difference":
        raise SpecificationError(
            "E-values need a ratio: re-estimate with measure='risk ratio' (recovery) "
            "and pass that Effect")
    own = {"risk ratio": "RR", "odds ratio": "OR"}.get(eff.measure, "SMD")
    if scale is not None and scale != own:
        raise SpecificationError(f"`scale` {scale!r} disagrees with the Effect's measure "
                                 f"{eff.measure!r}; leave `scale` out")
    if own != "SMD":
        return eff.estimate, eff.conf_low, eff.conf_high, own, None
    if sd is None:
        raise SpecificationError(
            "a difference on the outcome scale needs `sd` (the outcome SD) to be "
            "standardised: evalue(effect, sd=...)")
    return eff.estimate / sd, None, None, "SMD", eff.std_error / sd


def _rr_and_limits(est: float, conf_low: float | None, conf_high: float | None, scale: str,
                   rare: bool, std_error: float | None) -> tuple[float, list[float | None]]:
    """Return the estimate and its limits on the (approximate) risk-ratio scale."""
    if scale == "SMD":
        if conf_low is not None or conf_high is not None:
            raise SpecificationError(
                "for an SMD give `std_error` (limits exp(0.91 d -/+ 1.78 SE)), not "
                "`conf_low`/`conf_high`")
        if std_error is None:
            return math.exp(0.91 * est), [None, None]
        return math.exp(0.91 * est), [math.exp(0.91 * est - 1.78 * std_error),
                                      math.exp(0.91 * est + 1.78 * std_error)]
    if std_error is not None:
        raise SpecificationError("`std_error` is used only with scale='SMD' (give the limits "
                                 "of a ratio as `conf_low`/`conf_high`)")
    for name, v in (("estimate", est), ("conf_low", conf_low), ("conf_high", conf_high)):
        if v is not None and v <= 0:
            raise SpecificationError(f"a {scale} must be > 0; `{name}` is {v!r}")
    return _to_rr(est, scale, rare), [None if v is None else _to_rr(float(v), scale, rare)
                                      for v in (conf_low, conf_high)]


def _limit_evalue(rr_rel: float, limits: list[float | None], null: float) -> tuple[float, float]:
    """Return the E-value of the limit closest to the null (1 if crossed) and the limit."""
    lo, hi = limits
    if lo is not None and hi is not None and lo > hi:
        raise SpecificationError("`conf_low` must not exceed `conf_high`")
    lim_opt = lo if rr_rel >= 1 else hi
    if lim_opt is None:
        return float("nan"), float("nan")
    lim = float(lim_opt)
    lim_rel = lim / null
    crosses = (rr_rel >= 1 and lim_rel <= 1) or (rr_rel < 1 and lim_rel >= 1)
    return (1.0 if crosses else _evalue_rr(lim_rel)), lim


_OPTIONAL_NUMBER: list[Constraint] = [Number(), NONE]


@validate_params({
    "estimate": [Number(), Instance(Effect, "an Effect")],
    "conf_low": _OPTIONAL_NUMBER, "conf_high": _OPTIONAL_NUMBER, "rare": Boolean(),
    "std_error": [Number(low=0), NONE], "sd": [Number(low=0, low_inclusive=False), NONE],
    "null": [Number(low=0, low_inclusive=False), NONE],
})
def evalue(
    estimate: float | Effect,
    conf_low: float | None = None,
    conf_high: float | None = None,
    *,
    scale: Literal["RR", "OR", "HR", "SMD"] | None = None,
    rare: bool = True,
    std_error: float | None = None,
    sd: float | None = None,
    null: float | None = None,
) -> EValue:
    """Compute the E-value of an estimate (VanderWeele & Ding 2017).

    Parameters
    ----------
    estimate : float or Effect
        A risk ratio, odds ratio, hazard ratio or standardised mean difference, or
        an :class:`~causalpa.results.Effect` (its measure picks the scale and its
        interval the limits; a "difference" needs ``sd`` to be standardised).
    conf_low, conf_high : float, optional
        Confidence limits of a ratio (not with an Effect).
    scale : {"RR", "OR", "HR", "SMD"}, optional
        Scale of a numeric ``estimate`` (default "RR").
    rare : bool
        Outcome rare (< 15%) so that OR and HR approximate the RR; otherwise the
        square-root (OR) and VanderWeele's (HR) conversions are used.
    std_error : float, optional
        Standard error of an SMD (for its confidence limit).
    sd : float, optional
        Outcome SD used to standardise a "difference" Effect (e.g. the pooled
        baseline SD of PHQ-9 change): ``d = estimate / sd``, ``SE(d) = SE / sd``.
    null : float, optional
        Null value on the RR scale (default 1).

    Returns
    -------
    EValue

    Raises
    ------
    SpecificationError
        Bad option values (named), a risk difference (use the risk ratio), a
        difference without ``sd``, a ratio <= 0, arguments that do not fit the scale.

    Examples
    --------
    >>> round(evalue(0.80, 0.71, 0.91).point, 2)  # protective RR
    1.81
    >>> round(evalue(0.5, scale="SMD", std_error=0.1).ci, 2)
    1.97
    """
    if isinstance(estimate, Effect):
        given = {"conf_low": conf_low, "conf_high": conf_high, "std_error": std_error}
        est, conf_low, conf_high, used, std_error = _from_effect(estimate, scale=scale, sd=sd,
                                                                 given=given)
    else:
        if sd is not None:
            raise SpecificationError("`sd` standardises a difference Effect; a number is "
                                     "already on its scale (use scale='SMD' for a d)")
        est, used = float(estimate), "RR" if scale is None else scale
    rr, limits = _rr_and_limits(est, conf_low, conf_high, used, rare, std_error)
    null = 1.0 if null is None else float(null)
    rr_rel = rr / null
    point = _evalue_rr(rr_rel) if rr_rel != 1 else 1.0
    ci, lim = _limit_evalue(rr_rel, limits, null)
    return EValue(point=float(point), ci=float(ci), rr=float(rr), rr_limit=float(lim),
                  scale=used, conversion=_CONVERSIONS[used, bool(rare)], null=null)


# =========================================================================== Rosenbaum
@dataclass(frozen=True, repr=False, eq=False)
class RosenbaumBounds(Result):
    """Rosenbaum bounds for the Wilcoxon signed-rank test (frozen).

    ``tidy()`` (and :attr:`table`) has one row per Gamma: ``gamma``, ``p_lower``,
    ``p_upper`` (bounds on the one-sided p-value); ``plot()`` draws them.

    Attributes
    ----------
    gamma, p_lower, p_upper : ndarray
        The table's columns (read-only arrays).
    statistic : float
        Signed-rank statistic (sum of ranks of the positive differences in the
        direction of ``alternative``).
    n_pairs : int
        Pairs with a non-zero difference.
    alternative : str
        "greater" (treated outcomes larger) or "less".
    method : str
        "exact" or "normal".
    caveats : tuple of str
        Approximations made (k:1 matching, reused controls); shown in ``notes``.

    Examples
    --------
    >>> import numpy as np
    >>> from causalpa.sensitivity import rosenbaum
    >>> diffs = np.random.default_rng(0).normal(1.0, 1.0, 40)  # treated minus control
    >>> b = rosenbaum(diffs, gammas=[1, 2, 4])
    >>> b.n_pairs, b.alternative, b.method
    (40, 'greater', 'exact')
    >>> b.tidy()["gamma"].tolist()
    [1.0, 2.0, 4.0]
    >>> bool((b.table["p_lower"] <= b.table["p_upper"]).all())
    True
    >>> b.gamma_at(0.05), b.to_dict()["gamma_at_0.05"]
    (4.0, 4.0)
    """

    gamma: np.ndarray
    p_lower: np.ndarray
    p_upper: np.ndarray
    statistic: float
    n_pairs: int
    alternative: str
    method: str
    caveats: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        for name in ("gamma", "p_lower", "p_upper"):
            arr = np.array(getattr(self, name), dtype=float)  # a private, read-only copy
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)

    @property
    def table(self) -> pd.DataFrame:
        """The Gamma table (a new DataFrame each call; the same as ``tidy()``)."""
        return self.tidy()

    @validate_params({"alpha": Number(low=0, high=1, low_inclusive=False, high_inclusive=False)})
    def gamma_at(self, alpha: float = 0.05) -> float:
        """Largest Gamma in the table whose upper-bound p-value is at most ``alpha`` (test size).

        nan when even Gamma = 1 (no hidden bias) is not significant at ``alpha``.
        """
        ok = self.gamma[self.p_upper <= alpha]
        return float(ok.max()) if len(ok) else float("nan")

    @property
    def notes(self) -> tuple[str, ...]:
        """The interpretation at 0.05 and the approximations made."""
        g = self.gamma_at(0.05)
        if np.isnan(g):
            text = "not significant at 0.05 even without hidden bias (Gamma = 1)"
        else:
            text = (f"significant at 0.05 for hidden bias up to Gamma = {g:g}: an unobserved "
                    "covariate changing the odds of choosing treatment within pairs by a factor "
                    f"{g:g} could not explain the result")
        return (text, *self.caveats)

    def _tidy(self) -> pd.DataFrame:
        return pd.DataFrame({"gamma": self.gamma, "p_lower": self.p_lower,
                             "p_upper": self.p_upper})

    def _title(self) -> str:
        return (f"Rosenbaum bounds: Wilcoxon signed-rank test on {self.n_pairs} matched pairs "
                f"(alternative: treated {self.alternative}), {self.method} bounds")

    def _meta(self) -> dict[str, Any]:
        return {"n_pairs": int(self.n_pairs), "statistic": float(self.statistic),
                "alternative": self.alternative, "method": self.method,
                "gamma_at_0.05": self.gamma_at(0.05)}

    def plot(self, ax: Any = None) -> Any:
        """Bounds of the one-sided p-value against Gamma, with the 0.05 line.

        Returns
        -------
        matplotlib.axes.Axes
        """
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(6, 4))
        order = np.argsort(self.gamma, kind="stable")
        g, lo, hi = self.gamma[order], self.p_lower[order], self.p_upper[order]
        ax.fill_between(g, lo, hi, color="C0", alpha=0.15, linewidth=0)
        ax.plot(g, hi, "o-", color="C0", label="upper bound")
        ax.plot(g, lo, "o--", color="C0", label="lower bound")
        ax.axhline(0.05, color="grey", linestyle=":", label="0.05")
        ax.set_xlabel("Gamma (hidden bias within pairs)")
        ax.set_ylabel("one-sided p-value")
        ax.set_ylim(0, 1)
        ax.set_title("Rosenbaum bounds")
        ax.legend(frameon=False)
        return ax


def _exact_upper_tail(ranks2: np.ndarray, stat2: int, p: float) -> float:
    """P(sum_i r_i B_i >= stat) with B_i ~ Bernoulli(p) (ranks doubled to integers)."""
    total = int(ranks2.sum())
    dist = np.zeros(total + 1)
    dist[0] = 1.0
    top = 0
    for r in ranks2:
        r = int(r)
        new = dist * (1 - p)
        new[r: top + r + 1] += dist[: top + 1] * p
        dist = new
        top += r
    return float(min(1.0, dist[stat2:].sum()))


def _bounds(ranks: np.ndarray, stat: float, g: float, exact: bool) -> tuple[float, float]:
    """(lower, upper) bound of the one-sided p-value at Gamma ``g``."""
    pp, pm = g / (1 + g), 1 / (1 + g)
    if exact:
        r2 = np.rint(2 * ranks).astype(int)
        s2 = int(round(2 * stat))
        return _exact_upper_tail(r2, s2, pm), _exact_upper_tail(r2, s2, pp)
    s1, s2_ = ranks.sum(), np.sum(ranks**2)
    up = float(stats.norm.sf((stat - pp * s1) / math.sqrt(pp * (1 - pp) * s2_)))
    low = float(stats.norm.sf((stat - pm * s1) / math.sqrt(pm * (1 - pm) * s2_)))
    return low, up


_ROSENBAUM_OPTIONS: dict[str, Any] = {"gammas": Numbers(low=1)}


@validate_params(_ROSENBAUM_OPTIONS)
def signed_rank_bounds(
    differences: Any,
    gammas: Any = (1, 1.5, 2, 2.5, 3),
    *,
    alternative: Literal["greater", "less"] = "greater",
    method: Literal["auto", "exact", "normal"] = "auto",
) -> RosenbaumBounds:
    """Rosenbaum bounds from pair differences (treated minus control).

    Parameters
    ----------
    differences : array-like
        One difference per matched pair.
    gammas : float or sequence of float
        Sensitivity parameters (>= 1).
    alternative : {"greater", "less"}
        Direction of the one-sided test.
    method : {"auto", "exact", "normal"}
        Exact convolution (default up to 300 pairs) or normal approximation.

    Returns
    -------
    RosenbaumBounds

    Examples
    --------
    >>> b = signed_rank_bounds([1.2, 0.8, 2.0, -0.3, 1.5, 0.9, 1.1], gammas=[1, 2])
    >>> round(float(b.table.loc[0, "p_upper"]), 4)  # Gamma = 1: the usual exact signed-rank test
    0.0156
    """
    try:
        d = np.asarray(differences, dtype=float)
    except (TypeError, ValueError):
        raise DataError("pair differences must be numbers") from None
    if d.ndim != 1 or not np.all(np.isfinite(d)):
        raise DataError("pair differences must be a finite 1-D array")
    if alternative == "less":
        d = -d
    d = d[d != 0]
    n = len(d)
    if n < 2:
        raise DataError(f"only {n} matched pair(s) with a non-zero difference; need at least 2")
    ranks = stats.rankdata(np.abs(d))
    stat = float(ranks[d > 0].sum())
    exact = method == "exact" or (method == "auto" and n <= 300)
    rows = np.array([_bounds(ranks, stat, g, exact) for g in gammas], dtype=float)
    return RosenbaumBounds(gamma=np.asarray(gammas, dtype=float), p_lower=rows[:, 0],
                           p_upper=rows[:, 1], statistic=stat, n_pairs=n,
                           alternative=alternative, method="exact" if exact else "normal")


def _pair_differences(matched: Any, outcome: str | None) -> tuple[np.ndarray, tuple[str, ...]]:
    """Treated minus control outcome per matched set, and the approximations made.

    One difference per matched focal unit (a row of the match matrix; positions, so the
    data's index may have duplicates): for the ATT the treated unit minus the mean of
    its matched controls, for the ATC the mean of the matched treated units minus the
    control.
    """
    if outcome is None:
        raise SpecificationError("`outcome` (a column name) is needed with a matched result")
    y, _, _ = check_outcome(matched.data, outcome)
    mm = np.asarray(matched.match_matrix)
    focal_pos = np.flatnonzero(np.asarray(matched.focal))
    counts = (mm >= 0).sum(axis=1)
    has = counts > 0
    sums = np.where(mm >= 0, y[np.where(mm >= 0, mm, 0)], 0.0).sum(axis=1)
    other_mean = sums[has] / counts[has]
    y_focal = y[focal_pos[has]]
    att = matched.estimand == "ATT"
    diffs = y_focal - other_mean if att else other_mean - y_focal
    focal_arm, other_arm = ("treated unit", "controls") if att else ("control unit", "treated units")
    caveats = []
    if (counts[has] > 1).any():
        caveats.append(f"k:1 matching: each {focal_arm} is compared with the mean of its "
                       f"{other_arm} (an approximation; the bounds are exact for pairs)")
    used = mm[mm >= 0]
    if len(np.unique(used)) < len(used):
        caveats.append(f"{other_arm} are reused across matched sets (matching with "
                       "replacement); the bounds ignore the dependence this creates")
    return diffs, tuple(caveats)


@validate_params({"outcome": [Column(), NONE], **_ROSENBAUM_OPTIONS})
def rosenbaum(
    matched: Any,
    outcome: str | None = None,
    gammas: Any = (1, 1.25, 1.5, 1.75, 2, 2.5, 3),
    *,
    alternative: Literal["greater", "less"] | None = None,
    method: Literal["auto", "exact", "normal"] = "auto",
) -> RosenbaumBounds:
    """Rosenbaum bounds for a matched analysis (Wilcoxon signed-rank test).

    Parameters
    ----------
    matched : MatchResult or array-like
        The result of :func:`causalpa.match` (one difference per matched set, read
        from its match matrix), or the pair differences (treated minus control)
        directly.
    outcome : str
        Outcome column of the matched data (needed for a MatchResult).
    gammas : float or sequence of float
        Values of the sensitivity parameter Gamma >= 1.
    alternative : {"greater", "less"}, optional
        Direction of the one-sided test; default: the sign of the median pair
        difference (e.g. "less" when PA lowers PHQ-9 change).
    method : {"auto", "exact", "normal"}
        Exact distribution up to 300 pairs (default), else normal approximation.

    Returns
    -------
    RosenbaumBounds

    Raises
    ------
    SpecificationError
        Bad option values (named), a result without matched pairs (e.g. of weighting),
        a MatchResult without ``outcome``.
    DataError
        An outcome column that is absent, not numeric or has missing values; fewer
        than 2 pairs with a non-zero difference.

    Notes
    -----
    There is one matched set per matched focal unit (the treated for the ATT, the
    controls for the ATC). For k:1 matching the difference between each focal unit
    and the mean of its k matches is used (an approximation: the signed-rank bounds
    are exact for pairs). With matching with replacement, units reused across sets
    make the sets dependent, which the bounds ignore. Both are said in the result's
    ``notes``.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> b = rosenbaum(rng.normal(1.0, 1.0, 40), gammas=[1, 2, 4])
    >>> list(b.tidy().columns)
    ['gamma', 'p_lower', 'p_upper']
    """
    caveats: tuple[str, ...] = ()
    if hasattr(matched, "pairs"):
        diffs, caveats = _pair_differences(matched, outcome)
    elif isinstance(matched, Result) or hasattr(matched, "weights"):
        raise SpecificationError(
            f"`matched` must be a MatchResult of cpa.match (it has matched pairs) or the pair "
            f"differences; got a {type(matched).__name__}, which has no matched pairs. For "
            "weighting or AIPW use cpa.sensitivity.evalue on the estimate.")
    else:
        try:
            diffs = np.asarray(matched, dtype=float)
        except (TypeError, ValueError):
            raise SpecificationError(
                "`matched` must be a MatchResult of cpa.match or the pair differences "
                f"(numbers); got {type(matched).__name__}") from None
    if alternative is None:
        med = float(np.median(diffs)) if diffs.size else 0.0
        alternative = "less" if med < 0 else "greater"
    bounds = signed_rank_bounds(diffs, gammas, alternative=alternative, method=method)
    return replace(bounds, caveats=caveats) if caveats else bounds
