"""Design parameters estimated from pilot data (as simr's ``extend`` does for a fitted model).

:func:`from_pilot` reads a pilot's patient table (and optionally its session
table) and estimates what a power calculation needs: the standardised effect
with its confidence interval, the SD of change, the baseline/outcome
correlation (for ANCOVA), recovery rates, sessions attended, loss to
follow-up and the therapist ICC. :meth:`PilotEstimates.design` turns them into
a design.

A pilot's effect size is a poor basis for sizing a trial: with 38 patients
its 95% interval spans from harm to a very large benefit, and powering on the
point estimate of a promising pilot over-estimates the effect (and
under-sizes the trial) more often than not. Use the conservative choices:
``effect="lower"`` (the lower limit of a one-sided 80% interval, i.e. the
20th percentile) or ``effect="literature"`` (the meta-analytic SMD 0.43 for PA
vs usual care in depression, Singh et al. 2023, BJSM).

Examples
--------
>>> import warnings
>>> from causalpa.simulate import cohort
>>> from causalpa.power.pilot import from_pilot
>>> pilot = cohort(n=38, rng=5).patients
>>> with warnings.catch_warnings():
...     warnings.simplefilter("ignore")
...     est = from_pilot(pilot)
>>> est.n_treated + est.n_control
38
>>> est.smd_low < est.smd < est.smd_high
True
>>> est.tidy().loc[0, ["n_treated", "n_control"]].tolist()
[16, 22]
"""

from __future__ import annotations

import dataclasses
import math
import typing
import warnings
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import optimize, stats

from causalpa._validation import (
    NONE,
    Column,
    Instance,
    Number,
    Options,
    binary_treatment,
    check_columns,
    check_frame,
    validate_params,
)
from causalpa.errors import DataError, SmallSampleWarning, SpecificationError
from causalpa.results import Result

__all__ = ["PilotEstimates", "from_pilot", "LITERATURE_SMD", "PlanningEffect", "DesignKind"]

LITERATURE_SMD = 0.43
"""Median SMD of PA vs usual care for depression (Singh et al. 2023, BJSM 57:1203)."""
PlanningEffect = Literal["lower", "observed", "literature"]
"""The effect to plan for: the point estimate, the lower limit, or the literature's SMD."""
DesignKind = Literal["randomised", "cluster", "longitudinal", "observational"]
"""The designs :meth:`PilotEstimates.design` builds."""
_EFFECT = [Options(*typing.get_args(PlanningEffect)), Number()]
_CAUTION = ("a pilot's effect size is imprecise: plan with design(effect='lower') or "
            "design(effect='literature')")


@dataclass(frozen=True, repr=False, eq=False)
class PilotEstimates(Result):
    """Design parameters estimated from a pilot.

    ``tidy()`` is one row holding every estimate.

    Attributes
    ----------
    n_treated, n_control : int
        Patients with an outcome in each arm.
    smd : float
        Observed Cohen's d of ``outcome`` (positive = benefit of PA).
    smd_low, smd_high : float
        Its confidence interval (noncentral t, at ``conf_level``).
    conf_level : float
        Level of that interval.
    sd : float
        Pooled SD of the outcome.
    rho : float
        Correlation of the baseline with the outcome (pooled within arms).
    recovery_treated, recovery_control : float
        Recovery proportions (NaN without a ``recovered`` column).
    mean_sessions : float
        Mean sessions attended (NaN without ``n_sessions``).
    attrition : float
        Share of patients with no outcome.
    icc : float
        Therapist ICC of the outcome (one-way ANOVA estimator, truncated at 0;
        NaN with fewer than 3 therapists).
    outcome : str
        The outcome analysed.
    """

    n_treated: int
    n_control: int
    smd: float
    smd_low: float
    smd_high: float
    conf_level: float
    sd: float
    rho: float
    recovery_treated: float
    recovery_control: float
    mean_sessions: float
    attrition: float
    icc: float
    outcome: str

    @validate_params({"effect": _EFFECT})
    def choose_smd(self, effect: Literal["lower", "observed", "literature"] | float = "lower"
                   ) -> float:
        """Return the standardised effect to plan for.

        ``"observed"`` (the point estimate: optimistic), ``"lower"`` (the lower
        confidence limit: conservative), ``"literature"`` (0.43) or a number.
        """
        if not isinstance(effect, str):
            return float(effect)
        if effect == "observed":
            return self.smd
        if effect == "literature":
            return LITERATURE_SMD
        return self.smd_low

    @validate_params({"effect": _EFFECT})
    def design(self,
               kind: Literal["randomised", "cluster", "longitudinal", "observational"]
               = "randomised",
               effect: Literal["lower", "observed", "literature"] | float = "lower",
               **kwargs: Any) -> Any:
        """Build a design with these parameters.

        Parameters
        ----------
        kind : {"randomised", "cluster", "longitudinal", "observational"}
            Which design.
        effect : {"lower", "observed", "literature"} or float
            Realised Cohen's d to plan for (see :meth:`choose_smd`); it is
            converted to the simulator's ``effect`` with
            :func:`causalpa.power.calibrate_effect`.
        **kwargs
            Other design arguments (analyses, attrition, ...).

        Returns
        -------
        Design
        """
        from causalpa.power import designs

        smd = self.choose_smd(effect)
        if not smd > 0:
            raise SpecificationError(
                f"the chosen effect ({effect!r} = {smd:.3g}) is not a benefit; plan for "
                "effect='literature' (0.43) or a number > 0"
            )
        classes: dict[str, type[designs.Design]] = {
            "randomised": designs.RandomisedTrial, "cluster": designs.ClusterTrial,
            "longitudinal": designs.LongitudinalTrial, "observational": designs.ObservationalStudy}
        cls = classes[kind]
        if np.isfinite(self.icc) and "icc" not in kwargs:
            kwargs["icc"] = float(min(max(self.icc, 0.0), 0.5))
        if kind in ("longitudinal",) and "attrition" not in kwargs and np.isfinite(self.attrition):
            kwargs["attrition"] = float(min(self.attrition, 0.9))
        if (np.isfinite(self.mean_sessions) and 2 < self.mean_sessions < 12
                and "simulator" not in kwargs):
            kwargs["simulator"] = {"mean_sessions": float(self.mean_sessions)}
        return cls.from_smd(smd, **kwargs)

    # ------------------------------------------------------------------ protocol
    @property
    def notes(self) -> tuple[str, ...]:
        """The caution about planning on a pilot's effect size."""
        return (_CAUTION,)

    def _tidy(self) -> pd.DataFrame:
        return pd.DataFrame([{f.name: getattr(self, f.name)
                              for f in dataclasses.fields(self)}])

    def _title(self) -> str:
        return (f"Pilot estimates ({self.n_treated} PA, {self.n_control} control; outcome "
                f"{self.outcome}; Cohen's d positive = PA benefit)")

    def _display(self, table: pd.DataFrame) -> pd.DataFrame:
        return table.drop(columns=["outcome"])  # in the title


def _d_interval(d: float, n1: int, n0: int, conf_level: float) -> tuple[float, float]:
    """Confidence interval for Cohen's d by inverting the noncentral t (Steiger & Fouladi)."""
    df = n1 + n0 - 2
    scale = math.sqrt(1 / n1 + 1 / n0)
    t_obs = d / scale
    a = (1 - conf_level) / 2

    def root(p: float) -> float:
        # P(T > t_obs | ncp) rises with ncp: widen the bracket around t_obs until it
        # holds the root (very large |t_obs|, e.g. arms that do not overlap, need more
        # than +-10)
        f = lambda ncp: float(stats.nct.sf(t_obs, df, ncp)) - p  # noqa: E731
        width = 10.0
        while True:
            lo, hi = t_obs - width, t_obs + width
            f_lo, f_hi = f(lo), f(hi)
            if f_lo <= 0 <= f_hi:
                return float(optimize.brentq(f, lo, hi, xtol=1e-10))
            if width > 1e6 + abs(t_obs) or not (np.isfinite(f_lo) and np.isfinite(f_hi)):
                raise DataError(
                    f"the confidence interval of d = {d:.4g} cannot be computed (t = "
                    f"{t_obs:.4g} on {df} df): the arms are separated too far for the "
                    "noncentral t"
                )
            width *= 4

    return root(a) * scale, root(1 - a) * scale


def _icc_oneway(y: np.ndarray, g: np.ndarray) -> float:
    groups = pd.Series(y).groupby(g)
    k = groups.ngroups
    n = len(y)
    if k < 3 or n - k < 1:
        return float("nan")
    sizes = groups.size().to_numpy(dtype=float)
    means = groups.mean().to_numpy()
    grand = y.mean()
    msb = float(np.sum(sizes * (means - grand) ** 2) / (k - 1))
    msw = float(np.sum((y - pd.Series(groups.transform("mean")).to_numpy()) ** 2) / (n - k))
    n0 = (n - np.sum(sizes**2) / n) / (k - 1)
    s2b = max((msb - msw) / n0, 0.0)
    return float(s2b / (s2b + msw)) if s2b + msw > 0 else float("nan")


def _numeric(patients: pd.DataFrame, column: str, argument: str) -> np.ndarray:
    """Return a numeric column as floats; raise :class:`~causalpa.errors.DataError` if not."""
    check_columns(patients, [column], argument)
    values = patients[column]
    if not (pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values)):
        raise DataError(
            f"{argument} column {column!r} must be numeric; it has dtype {values.dtype} "
            f"(e.g. {_first_value(values)!r})"
        )
    return values.to_numpy(dtype=float)


def _first_value(values: pd.Series) -> Any:
    present = values.dropna()
    return present.iloc[0] if len(present) else None


def _within_arm_correlation(patients: pd.DataFrame, baseline: str, y: np.ndarray,
                            arm: np.ndarray, ok: np.ndarray) -> float:
    """Correlation of the baseline with the outcome, pooled within arms."""
    x = _numeric(patients, baseline, "baseline")
    keep = ok & np.isfinite(x)
    xc = x[keep] - pd.Series(x[keep]).groupby(arm[keep]).transform("mean").to_numpy()
    yc = y[keep] - pd.Series(y[keep]).groupby(arm[keep]).transform("mean").to_numpy()
    denom = math.sqrt(float(np.sum(xc**2) * np.sum(yc**2)))
    return float(np.sum(xc * yc) / denom) if denom > 0 else float("nan")


def _recovery(patients: pd.DataFrame, arm: np.ndarray) -> tuple[float, float]:
    """Recovery proportions in PA and control (NaN without a ``recovered`` column)."""
    if "recovered" not in patients.columns:
        return float("nan"), float("nan")
    r = patients["recovered"].to_numpy(dtype=float)
    out = []
    for a in (1, 0):
        out.append(float(np.nanmean(r[arm == a])) if np.isfinite(r[arm == a]).any()
                   else float("nan"))
    return out[0], out[1]


def _mean_sessions(patients: pd.DataFrame, sessions: pd.DataFrame | None) -> float:
    """Mean sessions attended: ``n_sessions`` of the patients, else counted in ``sessions``."""
    if "n_sessions" in patients.columns:
        return float(patients["n_sessions"].mean())
    if sessions is None:
        return float("nan")
    sessions = check_frame(sessions, "sessions")
    check_columns(sessions, ["patient"], "sessions")
    return float(sessions.groupby("patient").size().mean())


@validate_params({"patients": Instance(pd.DataFrame, "a pandas DataFrame"),
                  "sessions": [Instance(pd.DataFrame, "a pandas DataFrame"), NONE],
                  "outcome": Column(), "treatment": Column(), "baseline": [Column(), NONE],
                  "groups": [Column(), NONE],
                  "conf_level": Number(low=0, high=1, low_inclusive=False, high_inclusive=False)})
def from_pilot(
    patients: pd.DataFrame,
    sessions: pd.DataFrame | None = None,
    *,
    outcome: str = "phq9_change",
    treatment: str = "pa",
    baseline: str | None = "phq9_first",
    groups: str | None = "therapist",
    conf_level: float = 0.6,
    treated: Any = None,
) -> PilotEstimates:
    """Estimate design parameters from pilot data.

    Parameters
    ----------
    patients : pandas.DataFrame
        One row per patient (data contract of :mod:`causalpa.simulate`); not modified.
    sessions : pandas.DataFrame, optional
        Session-level scores (``patient, session``); used for the mean number
        of sessions when ``patients`` has no ``n_sessions``.
    outcome : str
        Continuous outcome (lower = better, e.g. ``phq9_change``).
    treatment : str
        Treatment column: 0/1, bool, or two levels with ``treated``.
    baseline : str or None
        Baseline column for the ANCOVA correlation (numeric).
    groups : str or None
        Therapist column for the ICC.
    conf_level : float
        Level of the two-sided interval for d. The default 0.6 makes the lower
        limit the 20th percentile (a one-sided 80% bound), a common
        conservative choice; use 0.95 for the usual interval.
    treated : object, optional
        The level of ``treatment`` that means PA, for a column that is not coded
        0/1 (e.g. ``treated="PA"``).

    Returns
    -------
    PilotEstimates

    Warns
    -----
    SmallSampleWarning
        Always for pilots under 100 patients: their effect size is too
        imprecise to plan on; prefer ``design(effect="lower")`` or
        ``design(effect="literature")``.

    Examples
    --------
    >>> import warnings
    >>> from causalpa.simulate import cohort
    >>> sim = cohort(n=38, rng=5)
    >>> with warnings.catch_warnings(record=True):
    ...     est = from_pilot(sim.patients, sim.sessions)
    >>> round(est.mean_sessions, 1) > 1
    True
    """
    patients = check_frame(patients, "patients", min_rows=4)
    check_columns(patients, [treatment], "treatment")
    conf_level = float(conf_level)
    arm = binary_treatment(patients[treatment], treatment, treated)
    y = _numeric(patients, outcome, "outcome")
    ok = np.isfinite(y)
    y1, y0 = y[ok & (arm == 1)], y[ok & (arm == 0)]
    n1, n0 = len(y1), len(y0)
    if n1 < 2 or n0 < 2:
        raise DataError(
            f"each arm needs at least 2 patients with {outcome!r}; got {n1} PA and {n0} control"
        )
    sd = math.sqrt(((n1 - 1) * y1.var(ddof=1) + (n0 - 1) * y0.var(ddof=1)) / (n1 + n0 - 2))
    if sd == 0:
        raise DataError(f"outcome {outcome!r} does not vary in the pilot")
    sign = -1.0 if outcome.startswith(("phq9", "gad7")) else 1.0
    d = sign * (y1.mean() - y0.mean()) / sd
    lo, hi = _d_interval(d, n1, n0, conf_level)
    rho = float("nan") if baseline is None else _within_arm_correlation(patients, baseline,
                                                                          y, arm, ok)
    rec_t, rec_c = _recovery(patients, arm)
    icc = float("nan")
    if groups is not None and groups in patients.columns:
        icc = _icc_oneway(y[ok], patients[groups].to_numpy()[ok])
    est = PilotEstimates(
        n_treated=n1, n_control=n0, smd=float(d), smd_low=float(lo), smd_high=float(hi),
        conf_level=conf_level, sd=float(sd), rho=rho, recovery_treated=rec_t,
        recovery_control=rec_c, mean_sessions=_mean_sessions(patients, sessions),
        attrition=float(1 - ok.mean()), icc=icc, outcome=outcome,
    )
    if n1 + n0 < 100:
        warnings.warn(
            f"a pilot of {n1 + n0} patients estimates the effect imprecisely (d = {d:.2f}, "
            f"{100 * conf_level:g}% CI {lo:.2f} to {hi:.2f}); sizing a trial on it is "
            "unreliable: plan with design(effect='lower') or design(effect='literature') "
            f"(SMD {LITERATURE_SMD})",
            SmallSampleWarning,
            stacklevel=2,
        )
    return est
