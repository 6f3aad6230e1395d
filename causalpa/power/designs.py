"""Declarative study designs for simulated power, built on :mod:`causalpa.simulate`.

A design says how participants are recruited and allocated, which outcomes are
tested with which analyses, and how much follow-up is lost. The data come from
the simulator's vectorised core :func:`causalpa.simulate.patient_arrays`, called
once per generator block of replicates (:meth:`Design.draw`); the general path
turns each replicate into a :class:`~causalpa.simulate.SimulatedCohort` with
:func:`causalpa.simulate.cohort_from_arrays` (what :func:`~causalpa.simulate.cohort`
does), the batched path stacks the arrays, so both paths see identical data;
nothing here re-implements the data-generating model.

=======================  =====================================  ====================
design                   allocation                              ``n`` counts
=======================  =====================================  ====================
``RandomisedTrial``      each patient randomised (simple, 1:1)   patients per arm
``ClusterTrial``         therapists randomised, all their        patients per arm
                         patients in one arm
``LongitudinalTrial``    as RandomisedTrial, session-level data  patients per arm
                         analysed with a mixed model
``ObservationalStudy``   patients choose PA (self-selection)     patients in all
=======================  =====================================  ====================

``effect`` is the simulator's parameter (standardised PHQ-9 benefit on the
simulator's reference scale). The *realised* standardised difference in PHQ-9
change is smaller because drop-out shortens courses and scores are bounded;
:func:`calibrate_effect` finds the ``effect`` that gives a chosen realised
Cohen's d (e.g. 0.43), and ``RandomisedTrial.from_smd(0.43)`` does it for you.

Examples
--------
>>> from causalpa.power.designs import RandomisedTrial
>>> d = RandomisedTrial(effect=0.8, analyses=("t-test",))
>>> d.n_total(50)
100
>>> sim = d.generate(50, seed=1)
>>> len(sim.patients)
100
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

import numpy as np
from scipy import optimize, special

from causalpa._validation import check_number, check_option
from causalpa.errors import SpecificationError
from causalpa.power.analyses import AnalysisContext, get_analysis

__all__ = [
    "Design",
    "RandomisedTrial",
    "ClusterTrial",
    "LongitudinalTrial",
    "ObservationalStudy",
    "calibrate_effect",
    "realised_smd",
    "DEFAULT_BASELINES",
    "DEFAULT_CONFOUNDERS",
    "GENERATOR_PATIENTS",
    "replicates_per_draw",
]

#: Baseline column adjusted for by ANCOVA, per outcome.
DEFAULT_BASELINES: dict[str, str] = {
    "phq9_change": "phq9_first",
    "phq9_last": "phq9_first",
    "gad7_change": "gad7_first",
    "gad7_last": "gad7_first",
    "recovered": "phq9_first",
    "reliable_improvement": "phq9_first",
    "reliable_recovery": "phq9_first",
}

#: Recorded confounders of choosing PA in the simulated cohort (DOMAIN.md).
DEFAULT_CONFOUNDERS: tuple[str, ...] = (
    "age",
    "C(sex)",
    "employed",
    "ltc",
    "imd_decile",
    "phq9_first",
    "gad7_first",
)

# outcome columns that lose their value when a patient is lost to follow-up
_FOLLOW_UP = (
    "phq9_last",
    "gad7_last",
    "phq9_change",
    "gad7_change",
    "case_last",
    "recovered",
    "reliable_improvement",
    "reliable_deterioration",
    "reliable_recovery",
)
# outcome -> row of SimulatedCohort.truth
_TRUTH_ROW = {
    "phq9_change": "phq9_change",
    "phq9_last": "phq9_change",
    "gad7_change": "gad7_change",
    "gad7_last": "gad7_change",
    "recovered": "recovered",
}
# arrays needed for the truth in the batched path
_POTENTIAL = ("phq9_change", "gad7_change", "recovered")


#: Patients simulated per call of :func:`causalpa.simulate.patient_arrays` in a
#: power simulation (fixed, so that the data of a replicate never depend on
#: n_jobs, the backend or the task size; about 100 MB of working memory).
GENERATOR_PATIENTS = 2**15
#: Most replicates simulated in one call.
GENERATOR_REPLICATES = 64
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


@functools.lru_cache(maxsize=1)
def _simulator_arrays() -> list[str]:
    from causalpa.simulate import patient_arrays

    return sorted(patient_arrays(20, 0))


@functools.lru_cache(maxsize=1)
def _cohort_defaults() -> dict[str, Any]:
    import inspect

    from causalpa.simulate import cohort

    skip = {"n", "rng", "sessions"}
    return {k: p.default for k, p in inspect.signature(cohort).parameters.items()
            if k not in skip}


def _confounder_columns(covariates: Sequence[str]) -> list[str]:
    out = []
    for c in covariates:
        c = c.strip()
        if c.startswith("C(") and c.endswith(")"):
            c = c[2:-1]
        out.append(c)
    return out


@dataclass(frozen=True, repr=False)
class Design:
    """Base class of the designs (use one of the subclasses).

    Parameters
    ----------
    effect : float
        Simulator effect on PHQ-9 (standardised benefit; see
        :func:`causalpa.simulate.cohort`). 0 simulates the null (type-I error).
    effect_gad7 : float, optional
        Simulator effect on GAD-7 (default: ``effect``).
    outcomes : sequence of str
        Patient-level outcome columns to test (``phq9_change``, ``gad7_change``,
        ``recovered``, ``phq9_last``, ...). Several outcomes are tested with
        ``multiplicity`` control, and "all"/"any" power is reported.
    analyses : sequence of str or callable, or mapping
        Analyses from :data:`causalpa.power.analyses.ANALYSES` ("t-test",
        "ancova", "risk-difference", "logistic", "mixed", "mixed-cluster",
        "cluster-t", "psm", "ipw", "aipw") or callables (see
        :func:`causalpa.power.analyses.get_analysis`); each runs on each
        outcome. A mapping ``{outcome: analysis}`` is an analysis plan, e.g.
        ``{"phq9_change": "ancova", "recovered": "risk-difference"}``
        (``outcomes`` is then taken from its keys).
    multiplicity : {"holm", "bonferroni", None}
        Adjustment across outcomes within each analysis.
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
    covariates : sequence of str
        Confounders for PSM / IPW / AIPW (formula terms, ``C(sex)`` for factors).
    options : mapping
        Per-analysis estimator options, e.g. ``{"psm": {"caliper": 0.2}}``.
    simulator : mapping
        Further keyword arguments of :func:`causalpa.simulate.cohort`
        (e.g. ``{"mean_sessions": 8, "attrition": 0.0}``).
    conf_level : float
        Confidence level of the estimators' intervals (for coverage).
    """

    effect: float = 0.43
    effect_gad7: float | None = None
    outcomes: tuple[str, ...] = ("phq9_change",)
    analyses: Any = ("ancova",)
    multiplicity: str | None = "holm"
    attrition: float = 0.0
    attrition_dependence: float = 0.0
    baselines: Mapping[str, str] = field(default_factory=dict)
    covariates: tuple[str, ...] = DEFAULT_CONFOUNDERS
    options: Mapping[str, Any] = field(default_factory=dict)
    simulator: Mapping[str, Any] = field(default_factory=dict)
    conf_level: float = 0.95

    kind: ClassVar[str] = "design"
    n_meaning: ClassVar[str] = "patients per arm"

    def __post_init__(self) -> None:
        check_number("effect", self.effect)
        check_number("effect_gad7", self.effect_gad7, allow_none=True)
        check_number("attrition", self.attrition, low=0, high=1, high_inclusive=False)
        check_number("attrition_dependence", self.attrition_dependence)
        check_number("conf_level", self.conf_level, low=0, high=1, low_inclusive=False,
                     high_inclusive=False)
        if isinstance(self.analyses, Mapping):
            plan = {str(o): ((a,) if isinstance(a, str) or callable(a) else tuple(a))
                    for o, a in self.analyses.items()}
            outcomes = tuple(plan)
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
        if self.multiplicity is not None:
            object.__setattr__(
                self, "multiplicity",
                check_option("multiplicity", self.multiplicity, ["holm", "bonferroni"]),
            )
        object.__setattr__(self, "outcomes", outcomes)
        object.__setattr__(self, "analyses", analyses)
        object.__setattr__(self, "covariates", tuple(self.covariates))
        bad = {"n", "rng", "sessions", "effect", "effect_gad7"} & set(self.simulator)
        if bad:
            raise SpecificationError(
                f"`simulator` must not set {sorted(bad)}: they are design arguments"
            )

    # ---- to be specialised ------------------------------------------------------------
    def n_total(self, n: int) -> int:
        """Participants recruited in all for design size ``n``."""
        return 2 * int(n)

    def _simulator_kwargs(self, n: int) -> dict[str, Any]:
        return {}

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

    # ---- shared machinery --------------------------------------------------------------
    def simulator_kwargs(self, n: int) -> dict[str, Any]:
        """Keyword arguments for :func:`causalpa.simulate.cohort` at design size ``n``."""
        kw = {"effect": float(self.effect), "effect_gad7": self.effect_gad7}
        kw.update(self._simulator_kwargs(int(n)))
        kw.update(dict(self.simulator))
        return kw

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
            cluster="therapist",
            options=self.options,
        )

    def truth(self, truth_table: Any, outcome: str, estimand: str) -> float:
        """Return the true effect for an outcome and estimand (``SimulatedCohort.truth``)."""
        row = _TRUTH_ROW.get(outcome)
        if row is None or estimand not in ("ATE", "ATT", "ATC"):
            return float("nan")
        return float(truth_table.loc[row, estimand])

    def _rngs(self, seed: Any) -> tuple[np.random.Generator, np.random.Generator]:
        ss = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
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

    def draw(self, n: int, seeds: Sequence[Any], keys: Sequence[str] | None = None,
             ) -> Iterator[tuple[list[int], dict[str, np.ndarray], np.ndarray, list[int]]]:
        """Simulate the replicates of ``seeds`` in generator blocks.

        A replicate seed spawned from a root (``root.spawn(k)[i]``, as
        :func:`causalpa.power.simulate` does) is replicate ``i`` of that root:
        its data are row ``i % K`` of one vectorised
        :func:`causalpa.simulate.patient_arrays` call with ``replicates=K``,
        ``K = replicates_per_draw(n_total)``, seeded by block ``i // K`` of the
        root (see :func:`block_seed`). The data of a replicate therefore depend
        only on its seed, never on how replicates are grouped into tasks. Any
        other seed (an int, a root SeedSequence) simulates one cohort on its own.

        ``keys`` limits the simulated arrays to those named (plus ``pa`` and
        ``phq9_first``); the values are the same as without it.

        Yields
        ------
        positions : list of int
            Indices into ``seeds`` served by this block.
        arrays : dict of ndarray
            ``patient_arrays`` output with a leading replicate axis.
        lost : ndarray of bool
            Lost to follow-up, shape ``(replicates, n_total)``.
        rows : list of int
            Row of ``arrays`` for each position.
        """
        from causalpa.simulate import patient_arrays

        n_total = self.n_total(n)
        kw = self.simulator_kwargs(n)
        if keys is not None:
            kw["keys"] = {*keys, "pa", "phq9_first"}
        size = replicates_per_draw(n_total)
        groups: dict[tuple[Any, ...], list[tuple[int, int]]] = {}
        for i, ss in enumerate(seeds):
            where = replicate_position(ss)
            if where is None:
                rng_sim, rng_design = self._rngs(ss)
                arr = patient_arrays(n_total, rng_sim, **kw)
                lost = self._lost(rng_design, arr["phq9_first"].astype(float))
                yield [i], {k: v[None] for k, v in arr.items()}, lost[None], [0]
                continue
            parent, index = where
            groups.setdefault((*parent, index // size), []).append((i, index % size))
        for (entropy, key, pool, b), members in groups.items():
            rng_sim, rng_design = self._rngs(block_seed(entropy, key, pool, b))
            arr = patient_arrays(n_total, rng_sim, replicates=size, **kw)
            lost = self._lost(rng_design, arr["phq9_first"].astype(float))
            yield [m[0] for m in members], arr, lost, [m[1] for m in members]

    def cohort_at(self, n: int, arrays: Mapping[str, np.ndarray], lost: np.ndarray, row: int,
                  seed: Any = None) -> Any:
        """One replicate of a :meth:`draw` block as a :class:`~causalpa.simulate.SimulatedCohort`."""
        from causalpa.simulate import cohort_from_arrays

        a = {k: v[row] for k, v in arrays.items()}
        lost_row = lost[row]
        any_lost = bool(lost_row.any())
        if any_lost:
            for c in _FOLLOW_UP:
                if c in a:
                    a[c] = np.where(lost_row, np.nan, a[c].astype(float))
        params = {**_cohort_defaults(), "n": self.n_total(n), "rng": seed,
                  **self.simulator_kwargs(n)}
        if params.get("effect_gad7") is None:
            params["effect_gad7"] = params["effect"]
        if params.get("n_therapists") is None:
            params["n_therapists"] = max(1, round(params["n"] / 10))
        sim = cohort_from_arrays(a, params, sessions=self.needs_sessions)
        if not any_lost:
            return sim
        from causalpa.simulate import SimulatedCohort

        sessions = sim.sessions
        if sessions is not None:
            lost_ids = sim.patients["patient"].to_numpy()[lost_row]
            keep = ~(sessions["patient"].isin(lost_ids).to_numpy() & (sessions["session"] > 0))
            sessions = sessions.loc[keep].reset_index(drop=True)
        params = {**sim.params, "lost_to_follow_up": int(lost_row.sum())}
        return SimulatedCohort(patients=sim.patients, sessions=sessions, truth=sim.truth,
                               params=params)

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
                    f"{k!r} is not produced by the simulator; available: {_simulator_arrays()}"
                )
            v = arrays[k][idx].astype(float)
            if k in _FOLLOW_UP and any_lost:
                v[lost_rows] = np.nan
            out[k] = v
        for k in potentials:
            out[f"{k}_0"] = arrays[f"{k}_0"][idx].astype(float)
            out[f"{k}_1"] = arrays[f"{k}_1"][idx].astype(float)
        return out

    def generate(self, n: int, seed: Any = None) -> Any:
        """Simulate one data set (a :class:`causalpa.simulate.SimulatedCohort`).

        ``seed`` is an int or a :class:`numpy.random.SeedSequence`; a seed
        spawned from a root is a replicate of a power simulation with that root
        (see :meth:`draw`), and gives the same data here, in
        :meth:`generate_arrays` and in :func:`causalpa.power.simulate`.
        """
        _, arr, lost, rows = next(self.draw(n, [seed]))
        return self.cohort_at(n, arr, lost, rows[0], seed)

    def generate_arrays(self, n: int, seed: Any = None, keys: Sequence[str] = ()) -> dict[str, np.ndarray]:
        """Simulate one data set as numpy arrays (batched path; same data as :meth:`generate`).

        Returns the requested ``keys`` (outcomes as float with NaN for lost
        participants) plus ``pa`` and the potential outcomes needed for the truth.
        """
        _, arr, lost, rows = next(self.draw(n, [seed]))
        return {k: v[0] for k, v in self.select_arrays(arr, lost, rows[:1], keys).items()}

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

    def with_(self, **changes: Any) -> Design:
        """Return a copy with some fields changed (designs are frozen)."""
        return replace(self, **changes)


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

    def __post_init__(self) -> None:
        super().__post_init__()
        check_number("icc", self.icc, low=0, high=1, high_inclusive=False)
        check_number("allocation", self.allocation, low=0, high=1, low_inclusive=False,
                     high_inclusive=False)

    def n_total(self, n: int) -> int:
        """Participants in all: ``n / (1 - allocation)`` rounded (2n for 1:1)."""
        return int(round(int(n) / (1 - self.allocation)))

    def _simulator_kwargs(self, n: int) -> dict[str, Any]:
        return {"selection": 0.0, "hidden": 0.0, "assignment": "patient",
                "p_treated": float(self.allocation), "icc": float(self.icc)}

    @classmethod
    def from_smd(cls, smd: float, **kwargs: Any) -> RandomisedTrial:
        """Build the design whose *realised* Cohen's d for PHQ-9 change is ``smd``.

        Examples
        --------
        >>> d = RandomisedTrial.from_smd(0.43, analyses=("t-test",))
        >>> round(realised_smd(d), 2)
        0.43
        """
        probe = cls(**kwargs)
        effect = calibrate_effect(smd, **probe._calibration_kwargs())
        return cls(effect=effect, **kwargs)

    def _calibration_kwargs(self) -> dict[str, Any]:
        kw = self.simulator_kwargs(1000)
        kw.pop("effect", None)
        kw.pop("effect_gad7", None)
        return kw

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
    >>> d.simulator_kwargs(100)["n_therapists"]
    20
    """

    cluster_size: int = 10
    analyses: Any = ("mixed-cluster",)
    kind: ClassVar[str] = "cluster"

    def __post_init__(self) -> None:
        super().__post_init__()
        check_number("cluster_size", self.cluster_size, low=1, integer=True)

    def _simulator_kwargs(self, n: int) -> dict[str, Any]:
        kw = super()._simulator_kwargs(n)
        k = max(2, int(round(self.n_total(n) / self.cluster_size)))
        kw.update(assignment="therapist", n_therapists=k)
        return kw

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
    :func:`causalpa.simulate.cohort`). Analyse with PSM, IPW or AIPW on
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

    def __post_init__(self) -> None:
        super().__post_init__()
        check_number("selection", self.selection)
        check_number("hidden", self.hidden)
        check_number("p_treated", self.p_treated, low=0, high=1, low_inclusive=False,
                     high_inclusive=False)

    def n_total(self, n: int) -> int:
        """Participants in all (``n`` itself)."""
        return int(n)

    def _simulator_kwargs(self, n: int) -> dict[str, Any]:
        return {"selection": float(self.selection), "hidden": float(self.hidden),
                "assignment": "patient", "p_treated": float(self.p_treated),
                "icc": float(self.icc)}

    def context(self, outcome: str) -> AnalysisContext:
        """Context with the confounders (and ANCOVA baseline)."""
        return super().context(outcome)

    def truth(self, truth_table: Any, outcome: str, estimand: str) -> float:
        """ATT for matching on the treated, ATE otherwise (sample truths)."""
        return super().truth(truth_table, outcome, estimand)

    def _describe_extra(self) -> str:
        return f", selection={self.selection:g}, hidden={self.hidden:g}"


# --------------------------------------------------------------------------- calibration
def realised_smd(design: Design, outcome: str = "phq9_change", *, n: int = 100_000,
                 seed: int = 20231) -> float:
    """Realised Cohen's d of a design's effect: benefit / pooled SD of the potential outcomes.

    Computed from one large simulated cohort (both potential outcomes of every
    patient), so it does not depend on who chose PA. Positive = benefit
    (a larger drop in symptoms, or more recovery).

    Examples
    --------
    >>> abs(round(realised_smd(RandomisedTrial(effect=0.0)), 3))
    0.0
    """
    from causalpa.simulate import patient_arrays

    kw = design.simulator_kwargs(1000)
    kw.pop("n_therapists", None)
    arr = patient_arrays(n, np.random.default_rng(seed), **kw)
    return _smd(arr, outcome)


def _smd(arr: Mapping[str, np.ndarray], outcome: str) -> float:
    y0 = np.asarray(arr[f"{outcome}_0"], dtype=float)
    y1 = np.asarray(arr[f"{outcome}_1"], dtype=float)
    ok = np.isfinite(y0) & np.isfinite(y1)
    y0, y1 = y0[ok], y1[ok]
    sd = math.sqrt((y0.var(ddof=1) + y1.var(ddof=1)) / 2)
    sign = 1.0 if outcome == "recovered" else -1.0
    return float(sign * (y1.mean() - y0.mean()) / sd) if sd > 0 else float("nan")


@functools.lru_cache(maxsize=64)
def _calibrate_cached(smd: float, items: tuple[tuple[str, Any], ...], outcome: str,
                      n: int, seed: int) -> float:
    from causalpa.simulate import patient_arrays

    kw = dict(items)

    def f(effect: float) -> float:
        arr = patient_arrays(n, np.random.default_rng(seed), effect=effect, **kw)
        return _smd(arr, outcome) - smd

    if smd == 0:
        return 0.0
    lo, hi = (0.0, 1.0) if smd > 0 else (-1.0, 0.0)
    while f(hi) < 0 if smd > 0 else f(lo) > 0:
        if smd > 0:
            hi *= 2
        else:
            lo *= 2
        if abs(lo) > 64 or hi > 64:
            raise SpecificationError(f"no simulator effect gives a realised SMD of {smd}")
    return float(optimize.brentq(f, lo, hi, xtol=1e-4))


def calibrate_effect(smd: float, outcome: str = "phq9_change", *, n: int = 50_000,
                     seed: int = 20231, **simulator: Any) -> float:
    """Find the simulator ``effect`` whose realised Cohen's d on ``outcome`` equals ``smd``.

    The realised standardised difference (see :func:`realised_smd`) is found
    on one large cohort with common random numbers for every trial value of
    ``effect`` (Brent's method, tolerance 1e-4 on ``effect``).

    Parameters
    ----------
    smd : float
        Target realised Cohen's d (positive = benefit).
    outcome : str
        "phq9_change", "gad7_change" or "recovered".
    n : int
        Size of the calibration cohort.
    seed : int
        Seed of the calibration cohort.
    **simulator
        Other :func:`causalpa.simulate.cohort` arguments (selection, icc, ...).

    Returns
    -------
    float

    Examples
    --------
    >>> e = calibrate_effect(0.43, selection=0.0)
    >>> e > 0.43
    True
    """
    smd = float(check_number("smd", smd))
    check_option("outcome", outcome, ["phq9_change", "gad7_change", "recovered"])
    simulator.pop("n_therapists", None)
    simulator.setdefault("selection", 0.0)
    if outcome == "gad7_change":
        simulator["effect_gad7"] = None
    items = tuple(sorted((k, v) for k, v in simulator.items() if k not in ("effect",)))
    return _calibrate_cached(smd, items, outcome, int(n), int(seed))
