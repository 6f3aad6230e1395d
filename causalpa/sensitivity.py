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
    ``RR ~ exp(0.91 d)`` with CI ``exp(0.91 d +- 1.78 SE(d))``.
:func:`rosenbaum`
    Rosenbaum bounds for the Wilcoxon signed-rank test on matched pairs: for
    each sensitivity parameter Gamma (the odds of treatment within a pair may
    differ by up to a factor Gamma because of an unobserved covariate), the
    bounds on the one-sided p-value. Exact (convolution over the signed-rank
    distribution) for up to 300 pairs, normal approximation (as R's
    ``rbounds::psens``) above.

Examples
--------
>>> from causalpa.sensitivity import evalue
>>> ev = evalue(3.9, conf_low=1.8, conf_high=8.7)  # VanderWeele & Ding (2017)
>>> round(ev.point, 2), round(ev.ci, 2)
(7.26, 3.0)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from causalpa._validation import check_number, check_option
from causalpa.errors import DataError, SpecificationError
from causalpa.results import Effect

__all__ = ["EValue", "evalue", "rosenbaum", "RosenbaumBounds"]

_SCALES = ("RR", "OR", "HR", "SMD", "difference")


@dataclass(frozen=True)
class EValue:
    """E-values for a point estimate and its confidence limit (frozen).

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
        The confidence limit closest to the null on that scale.
    scale : str
        Input scale ("RR", "OR", "HR", "SMD").
    conversion : str
        The approximation used to reach the risk-ratio scale.

    Examples
    --------
    >>> from causalpa.sensitivity import evalue
    >>> ev = evalue(3.9, conf_low=1.8, conf_high=8.7)  # VanderWeele & Ding (2017)
    >>> round(ev.point, 2), round(ev.ci, 2), ev.rr_limit, ev.scale
    (7.26, 3.0, 1.8, 'RR')
    >>> ev_or = evalue(1.5, conf_low=0.9, conf_high=2.5, scale="OR")
    >>> ev_or.conversion, ev_or.ci  # the interval includes the null
    ('OR as RR (rare outcome)', 1.0)
    """

    point: float
    ci: float
    rr: float
    rr_limit: float
    scale: str
    conversion: str

    def summary(self) -> str:
        """Return a one-paragraph interpretation."""
        txt = (
            f"E-value {self.point:.2f}: an unmeasured confounder associated with both the "
            f"treatment and the outcome by a risk ratio of at least {self.point:.2f} each, above "
            "the measured covariates, could explain away the estimate"
        )
        if np.isfinite(self.ci):
            txt += (
                f"; {self.ci:.2f} for the confidence limit"
                + (" (the interval already includes the null)" if self.ci == 1 else "")
            )
        return txt + f". Scale: {self.scale} ({self.conversion})."

    def __repr__(self) -> str:
        return f"<EValue point={self.point:.3f} ci={self.ci:.3f} ({self.scale})>"


def _evalue_rr(rr: float) -> float:
    if rr < 1:
        rr = 1 / rr
    return rr + math.sqrt(rr * (rr - 1))


def _to_rr(x: float, scale: str, rare: bool) -> float:
    if scale == "RR" or (scale in ("OR", "HR") and rare):
        return x
    if scale == "OR":
        return math.sqrt(x)
    if scale == "HR":
        return (1 - 0.5 ** math.sqrt(x)) / (1 - 0.5 ** math.sqrt(1 / x))
    raise AssertionError(scale)  # pragma: no cover


def evalue(
    estimate: float | Effect,
    conf_low: float | None = None,
    conf_high: float | None = None,
    *,
    scale: str | None = None,
    rare: bool = True,
    se: float | None = None,
    sd: float | None = None,
    null: float | None = None,
) -> EValue:
    """Compute the E-value of an estimate (VanderWeele & Ding 2017).

    Parameters
    ----------
    estimate : float or Effect
        A risk ratio, odds ratio, hazard ratio or standardised mean difference, or
        an :class:`~causalpa.results.Effect` (its measure picks the scale; a
        "difference" needs ``sd`` to be standardised).
    conf_low, conf_high : float, optional
        Confidence limits (taken from the Effect if one is given).
    scale : {"RR", "OR", "HR", "SMD"}, optional
        Scale of a numeric ``estimate`` (default "RR").
    rare : bool
        Outcome rare (< 15%) so that OR and HR approximate the RR; otherwise the
        square-root (OR) and VanderWeele's (HR) conversions are used.
    se : float, optional
        Standard error of an SMD (for its confidence limit).
    sd : float, optional
        Outcome SD used to standardise a "difference" Effect (e.g. the pooled
        baseline SD of PHQ-9 change): ``d = estimate / sd``.
    null : float, optional
        Null value on the RR scale (default 1).

    Returns
    -------
    EValue

    Raises
    ------
    SpecificationError
        An unknown scale, a risk difference (use the risk ratio), or a
        difference without ``sd``.

    Examples
    --------
    >>> round(evalue(0.80, 0.71, 0.91).point, 2)  # protective RR
    1.81
    >>> round(evalue(0.5, scale="SMD", se=0.1).ci, 2)
    1.97
    """
    conversion = "risk ratio"
    if isinstance(estimate, Effect):
        eff = estimate
        measure = eff.measure
        if measure == "risk ratio":
            scale = "RR"
        elif measure == "odds ratio":
            scale = "OR"
        elif measure == "risk difference":
            raise SpecificationError(
                "E-values need a ratio: re-estimate with measure='risk ratio' (recovery) "
                "and pass that Effect"
            )
        else:
            if sd is None:
                raise SpecificationError(
                    "a difference on the outcome scale needs `sd` (the outcome SD) to be "
                    "standardised: evalue(effect, sd=...)"
                )
            sd = check_number("sd", sd, low=0, low_inclusive=False)
            scale = "SMD"
            se = eff.std_error / sd
            estimate = eff.estimate / sd
            conf_low = conf_high = None
        if scale in ("RR", "OR"):
            conf_low, conf_high = eff.conf_low, eff.conf_high
            estimate = eff.estimate
    scale = "RR" if scale is None else check_option("scale", scale, list(_SCALES[:4]))
    est = check_number("estimate", estimate)
    for name, v in (("conf_low", conf_low), ("conf_high", conf_high)):
        check_number(name, v, allow_none=True)
    if scale != "SMD":
        if est <= 0:
            raise SpecificationError(f"a {scale} must be > 0; got {est!r}")
        conversion = {
            "RR": "risk ratio",
            "OR": "OR as RR (rare outcome)" if rare else "RR = sqrt(OR) (common outcome)",
            "HR": "HR as RR (rare outcome)" if rare else
            "RR = (1 - 0.5^sqrt(HR)) / (1 - 0.5^sqrt(1/HR)) (common outcome)",
        }[scale]
        rr = _to_rr(est, scale, rare)
        limits = [None if v is None else _to_rr(float(v), scale, rare)
                  for v in (conf_low, conf_high)]
    else:
        conversion = "RR = exp(0.91 d), CI exp(0.91 d +- 1.78 SE)"
        rr = math.exp(0.91 * est)
        if se is not None:
            se = check_number("se", se, low=0)
            limits = [math.exp(0.91 * est - 1.78 * se), math.exp(0.91 * est + 1.78 * se)]
        else:
            limits = [None, None]
    null = 1.0 if null is None else check_number("null", null, low=0, low_inclusive=False)
    rr_rel = rr / null
    point = _evalue_rr(rr_rel) if rr_rel != 1 else 1.0
    lo, hi = limits
    if lo is None and hi is None:
        ci, lim = float("nan"), float("nan")
    else:
        if lo is not None and hi is not None and lo > hi:
            raise SpecificationError("`conf_low` must not exceed `conf_high`")
        lim_opt = lo if rr_rel >= 1 else hi
        if lim_opt is None:
            ci, lim = float("nan"), float("nan")
        else:
            lim = float(lim_opt)
            lim_rel = lim / null
            crosses = (rr_rel >= 1 and lim_rel <= 1) or (rr_rel < 1 and lim_rel >= 1)
            ci = 1.0 if crosses else _evalue_rr(lim_rel)
    return EValue(point=float(point), ci=float(ci), rr=float(rr), rr_limit=float(lim),
                  scale=scale, conversion=conversion)


# --------------------------------------------------------------------------- Rosenbaum
@dataclass(frozen=True)
class RosenbaumBounds:
    """Rosenbaum bounds for the Wilcoxon signed-rank test (frozen).

    Attributes
    ----------
    table : pandas.DataFrame
        One row per Gamma: ``gamma``, ``p_lower``, ``p_upper`` (bounds on the
        one-sided p-value).
    statistic : float
        Signed-rank statistic (sum of ranks of the positive differences in the
        direction of ``alternative``).
    n_pairs : int
        Pairs with a non-zero difference.
    alternative : str
        "greater" (treated outcomes larger) or "less".
    method : str
        "exact" or "normal".

    Examples
    --------
    >>> import numpy as np
    >>> from causalpa.sensitivity import rosenbaum
    >>> diffs = np.random.default_rng(0).normal(1.0, 1.0, 40)  # treated minus control
    >>> b = rosenbaum(diffs, gammas=[1, 2, 4])
    >>> b.n_pairs, b.alternative, b.method
    (40, 'greater', 'exact')
    >>> b.table["gamma"].tolist()
    [1.0, 2.0, 4.0]
    >>> bool((b.table["p_lower"] <= b.table["p_upper"]).all())
    True
    >>> b.gamma_at(0.05)
    4.0
    """

    table: pd.DataFrame
    statistic: float
    n_pairs: int
    alternative: str
    method: str

    def gamma_at(self, alpha: float = 0.05) -> float:
        """Largest Gamma in the table whose upper-bound p-value stays below ``alpha``."""
        ok = self.table.loc[self.table["p_upper"] <= alpha, "gamma"]
        return float(ok.max()) if len(ok) else float("nan")

    def summary(self) -> str:
        """Return a short interpretation."""
        g = self.gamma_at()
        head = (f"Wilcoxon signed-rank test on {self.n_pairs} matched pairs "
                f"(alternative: treated {self.alternative}), {self.method} bounds")
        if np.isnan(g):
            return head + ": not significant at 0.05 even without hidden bias (Gamma = 1)."
        return (head + f": significant at 0.05 for hidden bias up to Gamma = {g:g} (an "
                "unobserved covariate changing the odds of choosing treatment within pairs "
                f"by a factor {g:g} could not explain the result).")

    def __repr__(self) -> str:
        return f"<RosenbaumBounds\n{self.summary()}\n{self.table.to_string(index=False)}\n>"


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


def signed_rank_bounds(
    differences: np.ndarray, gammas: Any = (1, 1.5, 2, 2.5, 3), *, alternative: str = "greater",
    method: str = "auto",
) -> RosenbaumBounds:
    """Rosenbaum bounds from pair differences (treated minus control).

    Parameters
    ----------
    differences : array-like
        One difference per matched pair.
    gammas : sequence of float
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
    d = np.asarray(differences, dtype=float)
    if d.ndim != 1 or not np.all(np.isfinite(d)):
        raise DataError("pair differences must be a finite 1-D array")
    alternative = check_option("alternative", alternative, ["greater", "less"])
    method = check_option("method", method, ["auto", "exact", "normal"])
    gam = np.atleast_1d(np.asarray(gammas, dtype=float))
    if gam.size == 0 or np.any(~np.isfinite(gam)) or np.any(gam < 1):
        raise SpecificationError(f"`gammas` must be numbers >= 1; got {gammas!r}")
    if alternative == "less":
        d = -d
    d = d[d != 0]
    n = len(d)
    if n < 2:
        raise DataError(f"only {n} matched pair(s) with a non-zero difference; need at least 2")
    ranks = stats.rankdata(np.abs(d))
    stat = float(ranks[d > 0].sum())
    use_exact = method == "exact" or (method == "auto" and n <= 300)
    rows = []
    for g in gam:
        pp, pm = g / (1 + g), 1 / (1 + g)
        if use_exact:
            r2 = np.rint(2 * ranks).astype(int)
            s2 = int(round(2 * stat))
            up = _exact_upper_tail(r2, s2, pp)
            low = _exact_upper_tail(r2, s2, pm)
        else:
            s1, s2_ = ranks.sum(), np.sum(ranks**2)
            up = float(stats.norm.sf((stat - pp * s1) / math.sqrt(pp * (1 - pp) * s2_)))
            low = float(stats.norm.sf((stat - pm * s1) / math.sqrt(pm * (1 - pm) * s2_)))
        rows.append({"gamma": float(g), "p_lower": low, "p_upper": up})
    return RosenbaumBounds(table=pd.DataFrame(rows), statistic=stat, n_pairs=n,
                           alternative=alternative, method="exact" if use_exact else "normal")


def rosenbaum(
    matched: Any,
    outcome: str | None = None,
    gammas: Any = (1, 1.25, 1.5, 1.75, 2, 2.5, 3),
    *,
    alternative: str | None = None,
    method: str = "auto",
) -> RosenbaumBounds:
    """Rosenbaum bounds for a matched analysis (Wilcoxon signed-rank test).

    Parameters
    ----------
    matched : MatchResult or array-like
        The result of :func:`causalpa.match` (pairs are read from ``.pairs``), or
        the pair differences (treated minus control) directly.
    outcome : str
        Outcome column of the matched data (needed for a MatchResult).
    gammas : sequence of float
        Values of the sensitivity parameter Gamma >= 1.
    alternative : {"greater", "less"}, optional
        Direction of the one-sided test; default: the sign of the median pair
        difference (e.g. "less" when PA lowers PHQ-9 change).
    method : {"auto", "exact", "normal"}
        Exact distribution up to 300 pairs (default), else normal approximation.

    Returns
    -------
    RosenbaumBounds

    Notes
    -----
    For k:1 matching the difference between each treated unit and the mean of
    its matched controls is used (an approximation: the signed-rank bounds are
    exact for pairs). With matching with replacement, controls reused across
    pairs make the pairs dependent, which the bounds ignore.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> b = rosenbaum(rng.normal(1.0, 1.0, 40), gammas=[1, 2, 4])
    >>> list(b.table.columns)
    ['gamma', 'p_lower', 'p_upper']
    """
    if hasattr(matched, "pairs") and hasattr(matched, "data"):
        if not isinstance(outcome, str):
            raise SpecificationError("`outcome` (a column name) is needed with a matched result")
        data = matched.data
        if outcome not in data.columns:
            raise DataError(f"outcome column {outcome!r} is not in the matched data")
        y = data[outcome]
        if y.isna().any():
            raise DataError(f"outcome column {outcome!r} has missing values")
        pairs = matched.pairs
        yt = y.loc[pairs["treated"]].to_numpy(dtype=float)
        yc = y.loc[pairs["control"]].to_numpy(dtype=float)
        frame = pd.DataFrame({"t": pairs["treated"].to_numpy(), "dt": yt, "yc": yc})
        grouped = frame.groupby("t", sort=False).agg(dt=("dt", "first"), yc=("yc", "mean"))
        diffs = (grouped["dt"] - grouped["yc"]).to_numpy()
    else:
        diffs = np.asarray(matched, dtype=float)
    if alternative is None:
        med = float(np.median(diffs)) if len(diffs) else 0.0
        alternative = "less" if med < 0 else "greater"
    return signed_rank_bounds(diffs, gammas, alternative=alternative, method=method)
