"""The simulator's parameters: one frozen, validated :class:`CohortParams`.

Every parameter of the data-generating model is declared and documented here, once;
:func:`causalpa.simulate.cohort`, :func:`causalpa.simulate.patient_arrays` and the
power designs build or receive a :class:`CohortParams` and never repeat the list.

Examples
--------
>>> from dataclasses import replace
>>> from causalpa.simulate import CohortParams
>>> p = CohortParams(selection=0.0, effect=0.6)
>>> p.effect, p.icc
(0.6, 0.06)
>>> replace(p, icc=0.1).icc
0.1
>>> CohortParams(icc=1.0)
Traceback (most recent call last):
...
causalpa.errors.SpecificationError: `icc` must be a number >= 0 and < 1; got 1.0
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass
from typing import Any, Literal

from causalpa._validation import (
    NONE,
    Boolean,
    Constraint,
    Number,
    Options,
    check_value,
)
from causalpa.errors import SpecificationError

__all__ = ["CohortParams", "Assignment", "as_params"]

Assignment = Literal["patient", "therapist"]
"""How patients reach PA: they choose (``"patient"``) or their therapist is randomised."""

_ANY = Number()
CONSTRAINTS: dict[str, list[Constraint]] = {
    "selection": [_ANY],
    "effect": [_ANY],
    "effect_gad7": [_ANY, NONE],
    "heterogeneity": [Number(low=0)],
    "n_therapists": [Number(low=1, integer=True), NONE],
    "icc": [Number(low=0, high=1, high_inclusive=False)],
    "assignment": [Options(*typing.get_args(Assignment))],
    "p_treated": [Number(low=0, high=1, low_inclusive=False, high_inclusive=False)],
    "mean_sessions": [Number(low=1)],
    "max_sessions": [Number(low=1, high=200, integer=True)],
    "min_sessions": [Number(low=1, integer=True)],
    "attrition": [_ANY],
    "hidden": [_ANY],
    "cases_only": [Boolean()],
}
"""The constraint of every parameter (the one declaration; see ``declared_params``)."""
_FLOATS = ("selection", "effect", "effect_gad7", "heterogeneity", "icc", "p_treated",
           "mean_sessions", "attrition", "hidden")


@dataclass(frozen=True)
class CohortParams:
    """Every parameter of the cohort simulator, with its default, validated on creation.

    Frozen: change a copy with :func:`dataclasses.replace` (validated again).

    Parameters
    ----------
    selection : float
        Strength of self-selection into PA on recorded covariates: the log-odds
        of choosing PA change by ``selection`` per SD of a selection index in
        which younger, male, employed, less deprived patients without a
        long-term condition and with lower baseline PHQ-9/GAD-7 are more likely
        to choose PA. ``0`` = randomised (independent of covariates).
    effect : float
        Benefit of PA on PHQ-9 as a standardised mean difference of change
        (positive = PA reduces symptoms more; default 0.43, Singh et al. 2023).
        Implemented as a steeper symptom slope. Expected scores follow
        ``level * exp(rate * session)``; PA changes the log-scale slope ``rate``
        by ``-effect * 1.68 / (mean_sessions - 1)`` per session (-0.120 at the
        defaults). The scale 1.68 is calibrated so that at the default settings
        the realised effect, ``truth.loc["phq9_change", "smd"]``, is about
        ``-effect`` (-0.429 for 0.43). The exact realised effects are in
        :attr:`SimulatedCohort.truth <causalpa.simulate.SimulatedCohort.truth>`.
    effect_gad7 : float, optional
        The same for GAD-7 (scale 1.42); None (default) means ``effect``.
    heterogeneity : float
        Effect modification: each patient's slope effect is multiplied by
        ``1 + heterogeneity * index`` where ``index`` is the standardised
        selection index, so those most inclined to choose PA also benefit
        most and ATT differs from ATE under selection. ``0`` = constant effect.
    n_therapists : int, optional
        Number of therapists (patients are spread evenly at random); None
        (default) means ``max(1, round(n / 10))`` for a cohort of ``n``.
    icc : float
        Therapist share of the variance of PHQ-9 change without PA (the control
        potential outcome; 0.06, Firth 2015, Saxon et al. 2016). Therapists
        differ in how many points their patients gain per session (an additive
        drift). Because PA pushes more scores to the floor of 0, the share is
        slightly smaller among PA patients (about 0.05 at the defaults).
    assignment : {"patient", "therapist"}
        ``"patient"``: each patient chooses (self-selection). ``"therapist"``:
        cluster randomised, ``round(p_treated * n_therapists)`` therapists offer
        PA to all their patients (``selection`` and ``hidden`` are ignored).
    p_treated : float
        Expected share of patients in PA (0.42, i.e. 16 of 38).
    mean_sessions : float
        Mean number of attended sessions when drop-out does not depend on
        response (about 7, NHS Digital); strictly between ``min_sessions`` and
        ``max_sessions``.
    max_sessions : int
        Maximum number of sessions (12).
    min_sessions : int
        Minimum number of sessions (2: the cohort consists of patients who
        finished treatment, as the national recovery rate does; 1 includes
        patients with a single session).
    attrition : float
        Dependence of drop-out on early response: log-odds of missing the next
        session per 4 PHQ-9 points of shortfall in improvement so far relative
        to the average patient (0.5). ``0`` = drop-out unrelated to response.
        Drop-out depends on observed scores only (missing at random).
    hidden : float
        Selection on an *unrecorded* prognostic factor (e.g. motivation) that
        also speeds improvement: adds ``hidden * U`` to the log-odds of
        choosing PA. ``0`` = no unmeasured confounding.
    cases_only : bool
        Keep only patients who are a case at their first score (as the
        national recovery statistic), so ``recovered`` is always defined.

    Examples
    --------
    >>> CohortParams().resolve(38).n_therapists  # round(38 / 10)
    4
    >>> CohortParams(assignment="THERAPIST").assignment  # canonical spelling
    'therapist'
    >>> CohortParams(min_sessions=5, max_sessions=4)
    Traceback (most recent call last):
    ...
    causalpa.errors.SpecificationError: `min_sessions` (5) must be <= `max_sessions` (4)
    """

    selection: float = 1.0
    effect: float = 0.43
    effect_gad7: float | None = None
    heterogeneity: float = 0.0
    n_therapists: int | None = None
    icc: float = 0.06
    assignment: Literal["patient", "therapist"] = "patient"
    p_treated: float = 0.42
    mean_sessions: float = 7.0
    max_sessions: int = 12
    min_sessions: int = 2
    attrition: float = 0.5
    hidden: float = 0.0
    cases_only: bool = True

    #: The declared constraints (read by :func:`causalpa._validation.declared_params`).
    __causalpa_params__ = staticmethod(lambda: {k: list(v) for k, v in CONSTRAINTS.items()})

    def __post_init__(self) -> None:
        for name, constraints in CONSTRAINTS.items():
            value = check_value(name, getattr(self, name), constraints)
            if name in _FLOATS and value is not None:
                value = float(value)
            object.__setattr__(self, name, value)
        lo, hi, mean = self.min_sessions, self.max_sessions, self.mean_sessions
        if lo > hi:
            raise SpecificationError(f"`min_sessions` ({lo}) must be <= `max_sessions` ({hi})")
        if not (lo <= mean <= hi) or (lo < hi and not lo < mean < hi):
            raise SpecificationError(
                f"`mean_sessions` must lie strictly between `min_sessions` ({lo}) and "
                f"`max_sessions` ({hi}); got {mean!r}"
            )
        if self.n_therapists is not None:
            self._check_clusters(self.n_therapists)

    def _check_clusters(self, k: int) -> None:
        if self.assignment == "therapist" and k < 2:
            raise SpecificationError(
                "`n_therapists` must be >= 2 with assignment='therapist' (cluster "
                f"randomisation needs therapists in both arms); got {k}"
            )

    def resolve(self, n: int) -> CohortParams:
        """Return the parameters used for a cohort of ``n``: defaults that depend on it filled.

        ``effect_gad7`` None becomes ``effect`` and ``n_therapists`` None becomes
        ``max(1, round(n / 10))``.

        Examples
        --------
        >>> p = CohortParams(effect=0.5).resolve(200)
        >>> p.effect_gad7, p.n_therapists
        (0.5, 20)
        """
        k = max(1, round(n / 10)) if self.n_therapists is None else self.n_therapists
        self._check_clusters(k)
        gad7 = self.effect if self.effect_gad7 is None else self.effect_gad7
        if k == self.n_therapists and gad7 == self.effect_gad7:
            return self
        return dataclasses.replace(self, effect_gad7=gad7, n_therapists=k)

    def to_dict(self) -> dict[str, Any]:
        """Return the parameters as a plain dict (keyword arguments of ``CohortParams``).

        Examples
        --------
        >>> CohortParams(**CohortParams(icc=0.1).to_dict()).icc
        0.1
        """
        return dataclasses.asdict(self)


def as_params(params: CohortParams | None, overrides: dict[str, Any]) -> CohortParams:
    """``params`` (default ``CohortParams()``) with ``overrides`` applied, validated once.

    Examples
    --------
    >>> as_params(None, {"icc": 0.1}).icc, as_params(CohortParams(icc=0.2), {}).icc
    (0.1, 0.2)
    >>> as_params(None, {"sample_size": 3})
    Traceback (most recent call last):
    ...
    causalpa.errors.SpecificationError: unknown simulator parameter(s) ['sample_size']; the parameters are the fields of CohortParams: selection, effect, effect_gad7, heterogeneity, n_therapists, icc, assignment, p_treated, mean_sessions, max_sessions, min_sessions, attrition, hidden, cases_only
    """
    unknown = sorted(set(overrides) - set(CONSTRAINTS))
    if unknown:
        raise SpecificationError(
            f"unknown simulator parameter(s) {unknown}; the parameters are the fields of "
            f"CohortParams: {', '.join(CONSTRAINTS)}"
        )
    if params is None:
        return CohortParams(**overrides)
    return dataclasses.replace(params, **overrides) if overrides else params
