"""Declarative study designs for simulated power, built on :mod:`causalpa.simulate`.

A design says how participants are recruited and allocated, which outcomes are
tested with which analyses, and how much follow-up is lost. It holds the simulator's
parameters as one :class:`~causalpa.simulate.CohortParams` (:attr:`Design.params`:
the design's own fields, then the ``simulator=`` overrides). The data come from the
simulator's vectorised core, called once per generator block of replicates
(:meth:`Design.draw`); the general path turns each replicate into a
:class:`~causalpa.simulate.SimulatedCohort` with
:func:`causalpa.simulate.cohort_from_arrays` (what :func:`~causalpa.simulate.cohort`
does), the batched path stacks the arrays, so both paths see identical data;
nothing here re-implements the data-generating model.

| design | allocation | ``n`` counts |
|---|---|---|
| ``RandomisedTrial`` | each patient randomised (simple, 1:1) | patients per arm |
| ``ClusterTrial`` | therapists randomised, all their patients in one arm | patients per arm |
| ``LongitudinalTrial`` | as RandomisedTrial, session-level data analysed with a mixed model | patients per arm |
| ``ObservationalStudy`` | patients choose PA (self-selection) | patients in all |

``effect`` is the simulator's parameter; ``Design.from_smd(0.43)`` builds the design
whose *realised* Cohen's d is 0.43 (see :mod:`causalpa.power.calibration`).

Examples
--------
>>> from causalpa.power.designs import RandomisedTrial
>>> d = RandomisedTrial(effect=0.8, analyses=("t-test",))
>>> d.n_total(50), d.params.selection, d.params.p_treated
(100, 0.0, 0.5)
>>> sim = d.generate(50, rng=1)
>>> len(sim.patients)
100
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, TypeVar

import numpy as np
from scipy import optimize, special

from causalpa._validation import (
    NONE,
    Column,
    Columns,
    Constraint,
    Instance,
    Number,
    Options,
    RandomState,
    as_seed,
    check_value,
    validate_params,
)
from causalpa.errors import SpecificationError
from causalpa.power.analyses import AnalysisContext, get_analysis
from causalpa.power.calibration import calibrate_effect
from causalpa.simulate import PATIENT_COLUMNS, CohortParams, cohort_from_arrays
from causalpa.simulate._cohort import FOLLOW_UP
from causalpa.simulate._core import ARRAY_NAMES, simulate_arrays
from causalpa.simulate._params import as_params

__all__ = [
    "Design",
    "RandomisedTrial",
    "ClusterTrial",
    "LongitudinalTrial",
    "ObservationalStudy",
    "Multiplicity",
    "DEFAULT_BASELINES",
    "DEFAULT_CONFOUNDERS",
    "GENERATOR_PATIENTS",
    "replicates_per_draw",
]

D = TypeVar("D", bound="Design")

Multiplicity = Literal["holm", "bonferroni"]
"""Multiplicity adjustments across the outcomes of an analysis."""

DEFAULT_BASELINES: dict[str, str] = {
    "phq9_change": "phq9_first",
    "phq9_last": "phq9_first",
    "gad7_change": "gad7_first",
    "gad7_last": "gad7_first",
    "recovered": "phq9_first",
    "reliable_improvement": "phq9_first",
    "reliable_recovery": "phq9_first",
}
"""Baseline column adjusted for by ANCOVA, per outcome."""

DEFAULT_CONFOUNDERS: tuple[str, ...] = (
    "age",
    "C(sex)",
    "employed",
    "ltc",
    "imd_decile",
    "phq9_first",
    "gad7_first",
)
"""Recorded confounders of choosing PA in the simulated cohort (DOMAIN.md)."""

# outcome -> row of SimulatedCohort.truth
TRUTH_ROW = {
    "phq9_change": "phq9_change",
    "phq9_last": "phq9_change",
    "gad7_change": "gad7_change",
    "gad7_last": "gad7_change",
    "recovered": "recovered",
}
# arrays needed for the truth in the batched path
_POTENTIAL = ("phq9_change", "gad7_change", "recovered")
# simulator arguments that a design sets itself (not through `simulator=`)
_DESIGN_ARGUMENTS = ("n", "rng", "sessions", "effect", "effect_gad7")


GENERATOR_PATIENTS = 2**15
"""Patients simulated per call of the simulator in a power simulation (fixed, so that the data
of a replicate never depend on n_jobs, the backend or the task size; about 100 MB of working
memory)."""
GENERATOR_REPLICATES = 64
"""Most replicates simulated in one call."""
# spawn-key tag of generator blocks (block b of root r: spawn_key (*r, tag, b); replicate
# seeds have spawn_key (*r, i), so the two never coincide)
_BLOCK_TAG = 0xB10C


def replicates_per_draw(n_total: int) -> int:
    """Replicates per generator block: ``min(64, 2**15 // n_total)``, at least 1.

    Examples
    --------
    >>> replicates_per_draw(400), replicates_per_draw(2000), replicates_per_draw(10**6)
    (64, 16, 1)
    """
    return max(1, min(GENERATOR_REPLICATES, GENERATOR_PATIENTS // max(1, int(n_total))))


def replicate_position(seed: Any) -> tuple[tuple[Any, tuple[int, ...], int], int] | None:
    """``((entropy, parent spawn key, pool size), i)`` of a spawned seed, else None."""
    if isinstance(seed, np.random.SeedSequence) and len(seed.spawn_key) > 0:
        return (seed.entropy, tuple(seed.spawn_key[:-1]), seed.pool_size), int(seed.spawn_key[-1])
    return None


def block_seed(entropy: Any, parent_key: tuple[int, ...], pool_size: int,
               block: int) -> np.random.SeedSequence:
    """Seed of generator block ``block`` of a root (replicates ``block*K .. block*K+K-1``)."""
    return np.random.SeedSequence(entropy, spawn_key=(*parent_key, _BLOCK_TAG, int(block)),
                                  pool_size=pool_size)


def seed_sequence(rng: Any) -> np.random.SeedSequence:
    """Return a :class:`numpy.random.SeedSequence` for ``rng`` (SPEC 7).

    A SeedSequence is used as it is; an int seeds one; None draws fresh entropy; a
    Generator (or BitGenerator) gives one integer seed from its stream (its state
    advances).
    """
    seed = as_seed(rng)
    return seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)


_FRACTION = Number(low=0, high=1, low_inclusive=False, high_inclusive=False)
_MAPPING = Instance(Mapping, "a mapping")


@dataclass(frozen=True, repr=False)
class Design:
    """Base class of the designs (use one of the subclasses).

    Parameters
    ----------
    effect : float
        Simulator effect on PHQ-9 (standardised benefit; see
        :class:`causalpa.simulate.CohortParams`). 0 simulates the null (type-I error).
    effect_gad7 : float, optional
        Simulator effect on GAD-7 (default: ``effect``).
    outcomes : str or sequence of str
        Patient-level outcome columns to test (``phq9_change``, ``gad7_change``,
        ``recovered``, ``phq9_last``, ...; one string is one outcome). Several
        outcomes are tested with ``multiplicity`` control, and "all"/"any" power is
        reported. They are checked when the design is built: a registered analysis
        needs a column of :data:`causalpa.simulate.PATIENT_COLUMNS` (``"mixed"`` a
        PHQ-9 or GAD-7 score, see :data:`causalpa.power.analyses.SESSION_SCORES`).
    analyses : sequence of str or callable, or mapping
        Analyses from :data:`causalpa.power.analyses.ANALYSES` ("t-test",
        "ancova", "risk-difference", "logistic", "mixed", "mixed-cluster",
        "cluster-t", "psm", "ipw", "aipw") or callables (see
        :func:`causalpa.power.analyses.get_analysis`); each runs on each
        outcome. A mapping ``{outcome: analysis}`` is an analysis plan, e.g.
        ``{"phq9_change": "ancova", "recovered": "risk-difference"}``
        (``outcomes`` is then taken from its keys).
    multiplicity : {"holm", "bonferroni", None}
        Adjustment across the tests of each family: the outcomes of each analysis,
        or all the tests of an analysis plan.
    attrition : float
        Proportion of participants lost to follow-up (no final score); they
        are excluded from complete-case analyses and keep only their first
        session in session-level data.
    attrition_dependence : float
        Log-odds of being lost per SD of baseline PHQ-9 (0 = completely at
        random; positive = more severe patients lost more often; missing at
        random given baseline).
    baselines : mapping, optional
        Outcome -> baseline column for ANCOVA (defaults in :data:`DEFAULT_BASELINES`).
    covariates : str or sequence of str
        Confounders for PSM / IPW / AIPW (formula terms, ``C(sex)`` for factors,
        ``I(age**2)``; one string is one term). The columns they read must be
        columns of the simulated patients.
    options : mapping
        Per-analysis estimator options, e.g. ``{"psm": {"caliper": 0.2}}``. An
        ``estimand`` given to PSM, IPW or AIPW (``{"ipw": {"estimand": "ATT"}}``)
        is also the truth that bias and coverage are computed against.
    simulator : mapping
        Further simulator parameters: fields of :class:`causalpa.simulate.CohortParams`
        (e.g. ``{"mean_sessions": 8, "attrition": 0.0}``); they override the design's
        own choices (``{"n_therapists": 8}`` fixes the therapists of a cluster trial).
    conf_level : float
        Confidence level of the estimators' intervals (for coverage).
    """

    effect: float = 0.43
    effect_gad7: float | None = None
    outcomes: tuple[str, ...] = ("phq9_change",)
    analyses: Any = ("ancova",)
    multiplicity: Literal["holm", "bonferroni"] | None = "holm"
    attrition: float = 0.0
    attrition_dependence: float = 0.0
    baselines: Mapping[str, str] = field(default_factory=dict)
    covariates: tuple[str, ...] = DEFAULT_CONFOUNDERS
    options: Mapping[str, Any] = field(default_factory=dict)
    simulator: Mapping[str, Any] = field(default_factory=dict)
    conf_level: float = 0.95
    _params: CohortParams = field(init=False, repr=False, compare=False)

    kind: ClassVar[str] = "design"
    n_meaning: ClassVar[str] = "patients per arm"
    #: The declared constraints of the design's numeric and option arguments.
    CONSTRAINTS: ClassVar[dict[str, list[Constraint]]] = {
        "effect": [Number()],
        "effect_gad7": [Number(), NONE],
        "outcomes": [Columns()],
        "covariates": [Columns()],
        "multiplicity": [Options(*typing.get_args(Multiplicity)), NONE],
        "attrition": [Number(low=0, high=1, high_inclusive=False)],
        "attrition_dependence": [Number()],
        "conf_level": [_FRACTION],
        "baselines": [_MAPPING],
        "options": [_MAPPING],
        "simulator": [Instance(Mapping, "a mapping of CohortParams fields")],
    }

    @classmethod
    def __causalpa_params__(cls) -> dict[str, list[Constraint]]:
        """Return the declared constraints of the design's arguments (``declared_params``)."""
        out: dict[str, list[Constraint]] = {}
        for klass in reversed(cls.__mro__):
            out.update(vars(klass).get("CONSTRAINTS", {}))
        return out

    def __post_init__(self) -> None:
        for name, constraints in type(self).__causalpa_params__().items():
            object.__setattr__(self, name, check_value(name, getattr(self, name), constraints))
        outcomes, analyses = self._plan()
        object.__setattr__(self, "outcomes", outcomes)
        object.__setattr__(self, "analyses", analyses)
        object.__setattr__(self, "covariates", tuple(self.covariates))
        for name in ("baselines", "options", "simulator"):  # private copies
            object.__setattr__(self, name, dict(getattr(self, name)))
        self._check_columns()
        bad = sorted(set(_DESIGN_ARGUMENTS) & set(self.simulator))
        if bad:
            raise SpecificationError(
                f"`simulator` must not set {bad}: they are design arguments"
            )
        base = as_params(None, self._simulator_fields())
        object.__setattr__(self, "_params", as_params(base, dict(self.simulator)))

    def _plan(self) -> tuple[tuple[str, ...], Any]:
        """Return the validated ``(outcomes, analyses)``."""
        if isinstance(self.analyses, Mapping):
            plan = {str(o): ((a,) if isinstance(a, str) or callable(a) else tuple(a))
                    for o, a in self.analyses.items()}
            outcomes: tuple[str, ...] = tuple(plan)
            analyses: Any = plan
        else:
            outcomes = (self.outcomes,) if isinstance(self.outcomes, str) else tuple(self.outcomes)
            analyses = (
                (self.analyses,) if isinstance(self.analyses, str) or callable(self.analyses)
                else tuple(self.analyses)
            )
        if not outcomes:
            raise SpecificationError("`outcomes` must name at least one outcome column")
        if not analyses:
            raise SpecificationError("`analyses` must name at least one analysis")
        flat = [a for v in analyses.values() for a in v] if isinstance(analyses, dict) else analyses
        for a in flat:
            get_analysis(a)  # validates names early
        return outcomes, analyses

    def _check_columns(self) -> None:
        """Check outcomes, baselines and covariates against the simulated patients' columns.

        Each analysis says which outcomes it accepts (``"mixed"`` a PHQ-9 or GAD-7
        score; the other registered analyses a column of
        :data:`causalpa.simulate.PATIENT_COLUMNS`; custom callables anything).
        """
        for analysis, outcome, _ in self.tests():
            analysis.check_outcome(outcome)
        known = set(PATIENT_COLUMNS)
        for outcome, column in self.baselines.items():
            check_value(f"baselines[{outcome!r}]", column, [Column()])
            if column not in known:
                raise SpecificationError(
                    f"`baselines`: {column!r} (the baseline of {outcome!r}) is not a column of "
                    f"the simulated patients; available: {', '.join(PATIENT_COLUMNS)}"
                )
        unknown = sorted(set(AnalysisContext(covariates=self.covariates).covariate_columns())
                         - known)
        if unknown:
            raise SpecificationError(
                f"`covariates` read {unknown}, which are not columns of the simulated "
                f"patients; available: {', '.join(PATIENT_COLUMNS)}"
            )

    # ---- to be specialised ------------------------------------------------------------
    def n_total(self, n: int) -> int:
        """Participants recruited in all for design size ``n``."""
        return 2 * int(n)

    def _simulator_fields(self) -> dict[str, Any]:
        """Return the simulator parameters the design's own arguments set."""
        return {"effect": float(self.effect), "effect_gad7": self.effect_gad7}

    def cohort_params(self, n: int) -> CohortParams:
        """Return the simulator's parameters at design size ``n`` (:attr:`params` mostly)."""
        return self._params

    # ---- parameters and tests ------------------------------------------------------------
    @property
    def params(self) -> CohortParams:
        """The simulator's parameters: the design's choices, then the ``simulator`` overrides."""
        return self._params

    def default_analysis_names(self) -> list[str]:
        """Names of the analyses (registry names or callables' names)."""
        return list(dict.fromkeys(t[0].name for t in self.tests()))

    def tests(self) -> list[tuple[Any, str, str]]:
        """The tests run on every replicate: ``(analysis, outcome, family)``.

        With ``analyses`` a sequence, every analysis runs on every outcome and
        each analysis is its own multiplicity family. With ``analyses`` a
        mapping ``{outcome: analysis}`` (an analysis plan), the tests form one
        family called ``"plan"``.
        """
        if isinstance(self.analyses, Mapping):
            return [(get_analysis(a), o, "plan") for o, v in self.analyses.items() for a in v]
        out = []
        for a in self.analyses:
            an = get_analysis(a)
            for o in self.outcomes:
                out.append((an, o, an.name))
        return out

    @property
    def needs_sessions(self) -> bool:
        """Whether any analysis uses the session-level data."""
        return any(t[0].needs_sessions for t in self.tests())

    @property
    def batchable(self) -> bool:
        """Whether every analysis has a vectorised kernel (the batched path applies)."""
        return all(t[0].batched is not None for t in self.tests())

    def context(self, outcome: str) -> AnalysisContext:
        """Return the :class:`AnalysisContext` for one outcome."""
        baselines = {**DEFAULT_BASELINES, **dict(self.baselines)}
        return AnalysisContext(
            baseline=baselines.get(outcome),
            covariates=self.covariates,
            conf_level=self.conf_level,
            treatment="pa",
            groups="therapist",
            options=self.options,
        )

    def truth(self, truth_table: Any, outcome: str, estimand: str) -> float:
        """Return the true effect for an outcome and estimand (``SimulatedCohort.truth``)."""
        row = TRUTH_ROW.get(outcome)
        if row is None or estimand not in ("ATE", "ATT", "ATC"):
            return float("nan")
        return float(truth_table.loc[row, estimand])

    # ---- data --------------------------------------------------------------------------
    def _rngs(self, rng: Any) -> tuple[np.random.Generator, np.random.Generator]:
        ss = seed_sequence(rng)
        # children derived without ss.spawn(), which would mutate ss (a replicate's
        # seed must give the same data however often it is used)
        sim_ss, design_ss = (
            np.random.SeedSequence(ss.entropy, spawn_key=(*ss.spawn_key, k),
                                   pool_size=ss.pool_size)
            for k in range(2)
        )
        return np.random.default_rng(sim_ss), np.random.default_rng(design_ss)

    def _lost(self, rng: np.random.Generator, first_phq9: np.ndarray) -> np.ndarray:
        """Boolean mask of participants lost to follow-up."""
        u = rng.random(first_phq9.shape)
        if self.attrition == 0:
            return np.zeros(first_phq9.shape, dtype=bool)
        if self.attrition_dependence == 0:
            return np.asarray(u < self.attrition)
        z = (first_phq9 - 15.4) / 5.5  # national mean / SD at referral (DOMAIN.md)
        b = self.attrition_dependence
        gh_x, gh_w = np.polynomial.hermite_e.hermegauss(40)
        gh_w = gh_w / gh_w.sum()
        a = optimize.brentq(
            lambda a: float(np.dot(gh_w, special.expit(a + b * gh_x))) - self.attrition, -30, 30
        )
        return u < special.expit(a + b * z)

    def draw(self, n: int, rngs: Sequence[Any], keys: Sequence[str] | None = None,
             ) -> Iterator[tuple[list[int], dict[str, np.ndarray], np.ndarray, list[int]]]:
        """Simulate the replicates of ``rngs`` (one seed each) in generator blocks.

        A replicate seed spawned from a root (``root.spawn(k)[i]``, as
        :func:`causalpa.power.simulate` does) is replicate ``i`` of that root:
        its data are row ``i % K`` of one vectorised
        :func:`causalpa.simulate.patient_arrays` call with ``replicates=K``,
        ``K = replicates_per_draw(n_total)``, seeded by block ``i // K`` of the
        root (see :func:`block_seed`). The data of a replicate therefore depend
        only on its seed, never on how replicates are grouped into tasks. Any
        other ``rng`` (an int, a root SeedSequence, a Generator) simulates one cohort
        on its own.

        ``keys`` limits the simulated arrays to those named (plus ``pa`` and
        ``phq9_first``); the values are the same as without it.

        Yields
        ------
        positions : list of int
            Indices into ``rngs`` served by this block.
        arrays : dict of ndarray
            ``patient_arrays`` output with a leading replicate axis.
        lost : ndarray of bool
            Lost to follow-up, shape ``(replicates, n_total)``.
        rows : list of int
            Row of ``arrays`` for each position.
        """
        n_total = self.n_total(n)
        params = self.cohort_params(n).resolve(n_total)
        wanted = None if keys is None else frozenset({*keys, "pa", "phq9_first"})
        size = replicates_per_draw(n_total)
        groups: dict[tuple[Any, ...], list[tuple[int, int]]] = {}
        for i, ss in enumerate(rngs):
            where = replicate_position(ss)
            if where is None:
                rng_sim, rng_design = self._rngs(ss)
                arr = simulate_arrays(n_total, rng_sim, params, keys=wanted)
                lost = self._lost(rng_design, arr["phq9_first"].astype(float))
                yield [i], {k: v[None] for k, v in arr.items()}, lost[None], [0]
                continue
            parent, index = where
            groups.setdefault((*parent, index // size), []).append((i, index % size))
        for (entropy, key, pool, b), members in groups.items():
            rng_sim, rng_design = self._rngs(block_seed(entropy, key, pool, b))
            arr = simulate_arrays(n_total, rng_sim, params, replicates=size, keys=wanted)
            lost = self._lost(rng_design, arr["phq9_first"].astype(float))
            yield [m[0] for m in members], arr, lost, [m[1] for m in members]

    def cohort_at(self, n: int, arrays: Mapping[str, np.ndarray], lost: np.ndarray, row: int,
                  rng: Any = None) -> Any:
        """One replicate of a :meth:`draw` block as a :class:`~causalpa.simulate.SimulatedCohort`."""
        a = {k: v[row] for k, v in arrays.items()}
        return cohort_from_arrays(a, self.cohort_params(n), rng=rng,
                                  sessions=self.needs_sessions, lost=lost[row])

    def select_arrays(self, arrays: Mapping[str, np.ndarray], lost: np.ndarray,
                      rows: Sequence[int], keys: Sequence[str] = (),
                      potentials: Sequence[str] = _POTENTIAL) -> dict[str, np.ndarray]:
        """Rows of a :meth:`draw` block as float arrays ``(len(rows), n_total)`` (batched path).

        Returns the requested ``keys`` (outcomes as float with NaN for lost
        participants) plus ``pa`` and the potential outcomes (``potentials``)
        needed for the truth.
        """
        idx = np.asarray(rows, dtype=np.intp)
        lost_rows = lost[idx]
        any_lost = bool(lost_rows.any())
        out: dict[str, np.ndarray] = {"pa": arrays["pa"][idx].astype(float)}
        for k in keys:
            if k not in arrays:
                raise SpecificationError(
                    f"{k!r} is not produced by the simulator; available: {sorted(ARRAY_NAMES)}"
                )
            v = arrays[k][idx].astype(float)
            if k in FOLLOW_UP and any_lost:
                v[lost_rows] = np.nan
            out[k] = v
        for k in potentials:
            out[f"{k}_0"] = arrays[f"{k}_0"][idx].astype(float)
            out[f"{k}_1"] = arrays[f"{k}_1"][idx].astype(float)
        return out

    @validate_params({"n": Number(low=1, integer=True), "rng": RandomState()})
    def generate(self, n: int, rng: Any = None) -> Any:
        """Simulate one data set (a :class:`causalpa.simulate.SimulatedCohort`).

        ``rng`` is an int, a :class:`numpy.random.SeedSequence` or a Generator; a seed
        spawned from a root is a replicate of a power simulation with that root
        (see :meth:`draw`), and gives the same data here, in
        :meth:`generate_arrays` and in :func:`causalpa.power.simulate`.
        """
        _, arr, lost, rows = next(self.draw(n, [rng]))
        return self.cohort_at(n, arr, lost, rows[0], rng)

    @validate_params({"n": Number(low=1, integer=True), "rng": RandomState(),
                      "keys": Columns()})
    def generate_arrays(self, n: int, rng: Any = None,
                        keys: Sequence[str] = ()) -> dict[str, np.ndarray]:
        """Simulate one data set as numpy arrays (batched path; same data as :meth:`generate`).

        Returns the requested ``keys`` (outcomes as float with NaN for lost
        participants) plus ``pa`` and the potential outcomes needed for the truth.
        """
        _, arr, lost, rows = next(self.draw(n, [rng]))
        return {k: v[0] for k, v in self.select_arrays(arr, lost, rows[:1], keys).items()}

    # ---- description ---------------------------------------------------------------------
    def describe(self) -> str:
        """One-line description used in results."""
        names = ", ".join(self.default_analysis_names())
        extra = f", attrition {self.attrition:g}" if self.attrition else ""
        return (f"{type(self).__name__}(effect={self.effect:g}, outcomes={list(self.outcomes)}, "
                f"analyses=[{names}]{extra}{self._describe_extra()})")

    def _describe_extra(self) -> str:
        return ""

    def __repr__(self) -> str:
        return self.describe()

    def with_(self: D, **changes: Any) -> D:
        """Return a copy with some fields changed (designs are frozen)."""
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_smd(cls: type[D], smd: float, **kwargs: Any) -> D:
        """Build the design whose *realised* Cohen's d for PHQ-9 change is ``smd``.

        The simulator's ``effect`` is found by :func:`causalpa.power.calibrate_effect`
        with the design's other simulator parameters.

        Examples
        --------
        >>> from causalpa.power import realised_smd
        >>> d = RandomisedTrial.from_smd(0.43, analyses=("t-test",))
        >>> round(realised_smd(d), 2)
        0.43
        """
        if "effect" in kwargs:
            raise SpecificationError(
                f"from_smd() finds `effect` from `smd`; give `smd` ({smd!r}) or "
                f"`effect` ({kwargs['effect']!r}), not both"
            )
        probe = cls(**kwargs)
        effect = calibrate_effect(smd, params=probe.params)
        return cls(effect=effect, **kwargs)


@dataclass(frozen=True, repr=False)
class RandomisedTrial(Design):
    """Individually randomised trial: PA + therapy vs therapy alone.

    Each patient is allocated to PA with probability ``allocation``
    (simple randomisation, so arm sizes vary around ``n``); ``n`` is the
    expected number of patients per arm when ``allocation = 0.5``.

    Parameters
    ----------
    icc : float
        Therapist share of outcome variance (therapists treat both arms).
    allocation : float
        Probability of allocation to PA (the other parameters are those of
        :class:`Design`).

    Examples
    --------
    >>> RandomisedTrial(effect=0.5, analyses=("t-test", "ancova")).batchable
    True
    """

    icc: float = 0.06
    allocation: float = 0.5
    kind: ClassVar[str] = "randomised"
    CONSTRAINTS: ClassVar[dict[str, list[Constraint]]] = {
        "icc": [Number(low=0, high=1, high_inclusive=False)],
        "allocation": [_FRACTION],
    }

    def n_total(self, n: int) -> int:
        """Participants in all: ``n / (1 - allocation)`` rounded (2n for 1:1)."""
        return int(round(int(n) / (1 - self.allocation)))

    def _simulator_fields(self) -> dict[str, Any]:
        return {**super()._simulator_fields(), "selection": 0.0, "hidden": 0.0,
                "assignment": "patient", "p_treated": float(self.allocation),
                "icc": float(self.icc)}

    def _describe_extra(self) -> str:
        return f", icc={self.icc:g}"


@dataclass(frozen=True, repr=False)
class ClusterTrial(RandomisedTrial):
    """Cluster-randomised trial: therapists randomised, each treats one arm only.

    ``n`` is the number of patients per arm; each therapist sees
    ``cluster_size`` patients, so there are ``round(2 n / cluster_size)``
    therapists, half of them offering PA. The default analysis is a mixed
    model with a random therapist intercept (Satterthwaite df).

    Examples
    --------
    >>> d = ClusterTrial(effect=0.5, cluster_size=10)
    >>> d.cohort_params(100).n_therapists
    20
    """

    cluster_size: int = 10
    analyses: Any = ("mixed-cluster",)
    kind: ClassVar[str] = "cluster"
    CONSTRAINTS: ClassVar[dict[str, list[Constraint]]] = {
        "cluster_size": [Number(low=1, integer=True)],
    }

    def _simulator_fields(self) -> dict[str, Any]:
        return {**super()._simulator_fields(), "assignment": "therapist"}

    def cohort_params(self, n: int) -> CohortParams:
        """Return the simulator's parameters at ``n``: ``round(n_total / cluster_size)`` therapists."""
        if "n_therapists" in self.simulator:
            return self.params
        k = max(2, int(round(self.n_total(n) / self.cluster_size)))
        return dataclasses.replace(self.params, n_therapists=k)

    def _describe_extra(self) -> str:
        return f", icc={self.icc:g}, cluster_size={self.cluster_size}"


@dataclass(frozen=True, repr=False)
class LongitudinalTrial(RandomisedTrial):
    """Randomised trial analysed session by session with a linear mixed model.

    The mixed model ``score ~ session * pa`` (random intercept and slope per
    patient, Satterthwaite df) uses every attended session, so patients who
    drop out still contribute. ``attrition`` defaults to 0.25 (25% with no
    score after the first session).

    Examples
    --------
    >>> LongitudinalTrial().needs_sessions
    True
    """

    analyses: Any = ("mixed",)
    attrition: float = 0.25
    kind: ClassVar[str] = "longitudinal"


@dataclass(frozen=True, repr=False)
class ObservationalStudy(Design):
    """Routine-care cohort in which patients choose PA (self-selection).

    ``n`` is the total number of patients; about ``p_treated`` of them choose
    PA. ``selection`` is the strength of self-selection on recorded
    covariates and ``hidden`` on an unrecorded prognostic factor (see
    :class:`causalpa.simulate.CohortParams`). Analyse with PSM, IPW or AIPW on
    ``covariates`` (the t test shows the confounded comparison).

    Examples
    --------
    >>> d = ObservationalStudy(selection=1.0, analyses=("psm", "ipw"))
    >>> d.n_total(200)
    200
    """

    selection: float = 1.0
    hidden: float = 0.0
    p_treated: float = 0.42
    icc: float = 0.06
    analyses: Any = ("psm", "ipw")
    kind: ClassVar[str] = "observational"
    n_meaning: ClassVar[str] = "patients in all"
    CONSTRAINTS: ClassVar[dict[str, list[Constraint]]] = {
        "selection": [Number()],
        "hidden": [Number()],
        "p_treated": [_FRACTION],
        "icc": [Number(low=0, high=1, high_inclusive=False)],
    }

    def n_total(self, n: int) -> int:
        """Participants in all (``n`` itself)."""
        return int(n)

    def _simulator_fields(self) -> dict[str, Any]:
        return {**super()._simulator_fields(), "selection": float(self.selection),
                "hidden": float(self.hidden), "assignment": "patient",
                "p_treated": float(self.p_treated), "icc": float(self.icc)}

    def _describe_extra(self) -> str:
        return f", selection={self.selection:g}, hidden={self.hidden:g}"
