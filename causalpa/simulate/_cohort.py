"""Public entry points of the simulator: :func:`cohort`, :func:`patient_arrays` and the result.

Examples
--------
>>> from causalpa.simulate import cohort
>>> sim = cohort(n=60, rng=3)
>>> sim.tidy().columns.tolist()
['outcome', 'estimand', 'value']
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from causalpa._validation import (
    NONE,
    Boolean,
    Columns,
    Instance,
    Number,
    RandomState,
    validate_params,
)
from causalpa.errors import SpecificationError
from causalpa.outcomes import OUTCOME_COLUMNS
from causalpa.results import Result
from causalpa.simulate._core import ARRAY_NAMES, simulate_arrays, truth_table
from causalpa.simulate._params import CohortParams, as_params

__all__ = ["SimulatedCohort", "cohort", "cohort_from_arrays", "patient_arrays", "PATIENT_COLUMNS",
           "FOLLOW_UP"]

PATIENT_COLUMNS = (
    "patient",
    "therapist",
    "pa",
    "age",
    "sex",
    "employed",
    "ltc",
    "imd_decile",
    "phq9_first",
    "phq9_last",
    "gad7_first",
    "gad7_last",
    "n_sessions",
    "finished",
    "phq9_change",
    "gad7_change",
    *OUTCOME_COLUMNS,
)
"""Patient-level columns of :attr:`SimulatedCohort.patients`, in order."""

_PARAMS = [Instance(CohortParams, "a causalpa.simulate.CohortParams"), NONE]


def _recorded(rng: Any) -> Any:
    """Return the part of ``rng`` worth recording (a Generator's state is no seed)."""
    return None if isinstance(rng, (np.random.Generator, np.random.BitGenerator)) else rng


def _rng_text(rng: Any) -> Any:
    if isinstance(rng, np.random.SeedSequence):
        return f"SeedSequence(entropy={rng.entropy}, spawn_key={tuple(rng.spawn_key)})"
    return None if rng is None else int(rng)


# =========================================================================== the result
@dataclass(frozen=True, repr=False, eq=False)
class SimulatedCohort(Result):
    """A simulated cohort with its true effects.

    ``tidy()`` is the truth in long form (``outcome, estimand, value``); the data are
    :attr:`patients` and :attr:`sessions`, the wide truth table :attr:`truth` (each a new
    DataFrame on every access).

    Attributes
    ----------
    params : CohortParams
        The parameters used, resolved for this cohort (``effect_gad7`` and
        ``n_therapists`` filled in).
    n : int
        Number of patients.
    rng : int, SeedSequence or None
        The seed as given (None for fresh entropy or a Generator, whose state is no seed).
    lost_to_follow_up : int
        Patients whose final scores were removed by a power design's loss to follow-up.
    """

    _patients: pd.DataFrame = field(repr=False)
    _sessions: pd.DataFrame | None = field(repr=False)
    _truth: pd.DataFrame = field(repr=False)
    params: CohortParams
    n: int
    rng: Any = None
    lost_to_follow_up: int = 0

    @property
    def patients(self) -> pd.DataFrame:
        """One row per patient; columns :data:`PATIENT_COLUMNS` (data contract)."""
        return self._patients.copy()

    @property
    def sessions(self) -> pd.DataFrame | None:
        """One row per attended session, or None if ``sessions=False``.

        Columns ``patient, therapist, session, pa, phq9, gad7``; ``session`` 0 is the first.
        """
        return None if self._sessions is None else self._sessions.copy()

    @property
    def truth(self) -> pd.DataFrame:
        """The true effects: index ``phq9_change, gad7_change, recovered``.

        Columns ``ATE``, ``ATT``, ``ATC`` (sample average effects from both potential
        outcomes of every patient), ``mean_y0`` and ``mean_y1`` (means of the potential
        outcomes over all patients) and ``smd`` (ATE divided by the SD of the control
        potential outcome).
        """
        return self._truth.copy()

    # ------------------------------------------------------------------ protocol
    def _tidy(self) -> pd.DataFrame:
        long = self._truth.stack()
        return pd.DataFrame({"outcome": long.index.get_level_values(0),
                             "estimand": long.index.get_level_values(1),
                             "value": long.to_numpy(dtype=float)})

    def _title(self) -> str:
        n_pa = int(self._patients["pa"].sum())
        return f"Simulated cohort: {self.n} patients ({n_pa} chose PA), true effects"

    def _display(self, table: pd.DataFrame) -> pd.DataFrame:
        return table.pivot(index="outcome", columns="estimand", values="value") \
            .reindex(index=table["outcome"].unique(), columns=table["estimand"].unique()) \
            .reset_index()

    def _meta(self) -> dict[str, Any]:
        sessions = None if self._sessions is None else len(self._sessions)
        lost = self.lost_to_follow_up or None
        return {"n": self.n, "rng": _rng_text(self.rng), "session_rows": sessions,
                "lost_to_follow_up": lost, **self.params.to_dict()}


# =========================================================================== functions
def _keys(keys: Any) -> frozenset[str] | None:
    """Return the requested array names, checked against ``_core.ARRAY_NAMES``."""
    if keys is None:
        return None
    wanted = frozenset(keys)
    unknown = sorted(str(k) for k in wanted - set(ARRAY_NAMES))
    if unknown:
        raise SpecificationError(
            f"`keys` names arrays the simulator does not produce: {unknown}; available: "
            f"{', '.join(ARRAY_NAMES)}"
        )
    return wanted


@validate_params({"n": Number(low=1, integer=True), "rng": RandomState(), "params": _PARAMS,
                  "replicates": [Number(low=1, integer=True), NONE],
                  "keys": [Columns(), Instance((set, frozenset), "a set of array names"),
                           NONE]})
def patient_arrays(
    n: int,
    rng: np.random.Generator | int | np.random.SeedSequence | None = None,
    *,
    params: CohortParams | None = None,
    replicates: int | None = None,
    keys: Collection[str] | None = None,
    **overrides: Any,
) -> dict[str, np.ndarray]:
    """Simulate one cohort as plain numpy arrays (the vectorised core of :func:`cohort`).

    No DataFrame is built, so this is the fast path for power simulations.

    Parameters
    ----------
    n : int
        Number of patients (per replicate).
    rng : None, int, SeedSequence or Generator
        Randomness (SPEC 7); a Generator is used as it is (its state advances).
    params : CohortParams, optional
        The simulator's parameters (default ``CohortParams()``).
    replicates : int, optional
        ``R`` independent cohorts of ``n`` patients simulated in one vectorised pass:
        every array gains a leading axis of length ``R`` (therapists, their effects
        and, for ``assignment="therapist"``, the randomisation are drawn per
        replicate). None (one cohort, no leading axis) is what :func:`cohort` uses.
    keys : collection of str, optional
        Return only the arrays named and skip the work that feeds nothing else (e.g.
        GAD-7 trajectories); the random draws are the same, so the returned values
        are identical to those of a call without ``keys``.
    **overrides
        Fields of :class:`CohortParams` to change (``selection=0.0``, ...).

    Returns
    -------
    dict of numpy.ndarray
        Patient-level arrays of length ``n``: ``therapist`` (1..k), ``pa``,
        ``age``, ``female``, ``employed``, ``ltc``, ``imd_decile``,
        ``propensity`` (true probability of choosing PA), ``phq9_first``,
        ``phq9_last``, ``gad7_first``, ``gad7_last``, ``n_sessions``,
        ``phq9_change``, ``gad7_change`` and the outcome columns of
        :func:`causalpa.outcomes.outcome_arrays`, all for the treatment
        actually received; the potential outcomes ``phq9_change_0``,
        ``phq9_change_1``, ``gad7_change_0``, ``gad7_change_1``, ``recovered_0``,
        ``recovered_1``, ``n_sessions_0``, ``n_sessions_1``; and the session
        scores ``phq9_sessions`` / ``gad7_sessions`` of shape ``(n, max_sessions)``
        (integers; entries at or after ``n_sessions`` are -1).

    Examples
    --------
    >>> import numpy as np
    >>> arr = patient_arrays(500, np.random.default_rng(3), selection=0.0)
    >>> arr["phq9_change"].shape
    (500,)
    >>> bool(np.all(arr["phq9_change"] == arr["phq9_last"] - arr["phq9_first"]))
    True
    >>> patient_arrays(200, 1, replicates=50)["recovered"].shape
    (50, 200)
    >>> sorted(patient_arrays(200, 1, keys=["pa", "phq9_change"]))
    ['pa', 'phq9_change']
    """
    p = as_params(params, overrides).resolve(n)
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    return simulate_arrays(n, gen, p, replicates=replicates, keys=_keys(keys))


@validate_params({"n": Number(low=1, integer=True), "rng": RandomState(), "params": _PARAMS,
                  "sessions": Boolean()})
def cohort(
    n: int = 38,
    rng: int | np.random.SeedSequence | np.random.Generator | None = None,
    *,
    params: CohortParams | None = None,
    sessions: bool = True,
    **overrides: Any,
) -> SimulatedCohort:
    """Simulate an NHS Talking Therapies cohort with self-selection into PA.

    Parameters
    ----------
    n : int
        Number of patients.
    rng : None, int, SeedSequence or Generator
        Randomness (SPEC 7): an integer seed gives the same cohort every time.
    params : CohortParams, optional
        The simulator's parameters (default ``CohortParams()``); every parameter is
        documented there.
    sessions : bool
        Build the long session-level frame (False skips it; faster).
    **overrides
        Fields of :class:`CohortParams` to set or change: ``selection``, ``effect``,
        ``effect_gad7``, ``heterogeneity``, ``n_therapists``, ``icc``, ``assignment``,
        ``p_treated``, ``mean_sessions``, ``max_sessions``, ``min_sessions``,
        ``attrition``, ``hidden``, ``cases_only``.

    Returns
    -------
    SimulatedCohort
        ``patients``, ``sessions``, ``truth``, ``params`` and ``tidy()`` (the truth in
        long form).

    Notes
    -----
    ``phq9_change = phq9_last - phq9_first``: a benefit is a **negative** ATE on
    change and a positive ATE on ``recovered``. The truth is the sample
    average of individual effects, each computed from both potential outcomes
    (same covariates, noise and drop-out draws; only ``pa`` flipped). Because PA
    also changes early response, it changes drop-out and hence the number of
    sessions; the truth includes that.

    Examples
    --------
    >>> sim = cohort(n=1000, rng=7, selection=0.0)
    >>> sim.patients[["phq9_first", "gad7_first"]].mean().round(0).tolist()
    [15.0, 14.0]
    >>> bool(sim.truth.loc["recovered", "ATE"] > 0)
    True
    >>> sim.params.selection, sim.params.n_therapists, sim.rng
    (0.0, 100, 7)
    """
    p = as_params(params, overrides).resolve(n)
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    arrays = simulate_arrays(n, gen, p)
    return cohort_from_arrays(arrays, p, rng=_recorded(rng), sessions=sessions)


def cohort_from_arrays(arrays: dict[str, np.ndarray], params: CohortParams | None = None, *,
                       rng: Any = None, sessions: bool = True,
                       lost: np.ndarray | None = None) -> SimulatedCohort:
    """Build a :class:`SimulatedCohort` from one cohort's :func:`patient_arrays` output.

    :func:`cohort` is ``patient_arrays`` followed by this; the power harness
    uses it on one replicate sliced from ``patient_arrays(..., replicates=R)``.

    Parameters
    ----------
    arrays : dict of numpy.ndarray
        One cohort's arrays (no replicate axis).
    params : CohortParams, optional
        The parameters the arrays were simulated with (default ``CohortParams()``);
        recorded resolved for the cohort's size.
    rng : int, SeedSequence or None
        The seed to record.
    sessions : bool
        Build the session-level frame.
    lost : ndarray of bool, optional
        Patients lost to follow-up (a power design's attrition): their final
        scores and the outcomes derived from them are missing, and they keep only
        their first session in the session frame. The truth is unchanged.

    Returns
    -------
    SimulatedCohort

    Examples
    --------
    >>> arr = patient_arrays(30, 4, replicates=3)
    >>> sim = cohort_from_arrays({k: v[1] for k, v in arr.items()})
    >>> sim.patients.shape, sim.params.n_therapists
    ((30, 22), 3)
    """
    n = len(arrays["pa"])
    p = (CohortParams() if params is None else params).resolve(n)
    n_lost = 0 if lost is None else int(np.count_nonzero(lost))
    patients = _patient_frame(arrays, lost if n_lost else None)
    sess = _session_frame(arrays, lost if n_lost else None) if sessions else None
    return SimulatedCohort(_patients=patients, _sessions=sess, _truth=truth_table(arrays),
                           params=p, n=n, rng=rng, lost_to_follow_up=n_lost)


# columns that lose their value when a patient is lost to follow-up
FOLLOW_UP = ("phq9_last", "gad7_last", "phq9_change", "gad7_change", "case_last",
             "recovered", "reliable_improvement", "reliable_deterioration", "reliable_recovery")


def _patient_frame(arrays: dict[str, np.ndarray], lost: np.ndarray | None) -> pd.DataFrame:
    n = len(arrays["pa"])
    cols: dict[str, Any] = {
        "patient": np.arange(1, n + 1, dtype=np.int64),
        "therapist": arrays["therapist"],
        "pa": arrays["pa"],
        "age": arrays["age"],
        "sex": np.where(arrays["female"] == 1, "female", "male"),
        "employed": arrays["employed"],
        "ltc": arrays["ltc"],
        "imd_decile": arrays["imd_decile"],
        "phq9_first": arrays["phq9_first"],
        "phq9_last": arrays["phq9_last"],
        "gad7_first": arrays["gad7_first"],
        "gad7_last": arrays["gad7_last"],
        "n_sessions": arrays["n_sessions"],
        "finished": (arrays["n_sessions"] >= 2).astype(np.int64),
        "phq9_change": arrays["phq9_change"],
        "gad7_change": arrays["gad7_change"],
        **{name: arrays[name] for name in OUTCOME_COLUMNS},
    }
    if lost is not None:
        for c in FOLLOW_UP:
            cols[c] = np.where(lost, np.nan, np.asarray(cols[c]).astype(float))
    return pd.DataFrame(cols, columns=list(PATIENT_COLUMNS))


def _session_frame(arrays: dict[str, np.ndarray], lost: np.ndarray | None) -> pd.DataFrame:
    M = arrays["phq9_sessions"].shape[1]
    mask = np.arange(M)[None, :] < arrays["n_sessions"][:, None]
    if lost is not None:  # lost patients keep their first session only
        mask[lost, 1:] = False
    i, s = np.nonzero(mask)
    return pd.DataFrame(
        {
            "patient": np.arange(1, len(arrays["pa"]) + 1, dtype=np.int64)[i],
            "therapist": arrays["therapist"][i],
            "session": s.astype(np.int64),
            "pa": arrays["pa"][i],
            "phq9": arrays["phq9_sessions"][i, s],
            "gad7": arrays["gad7_sessions"][i, s],
        }
    )

