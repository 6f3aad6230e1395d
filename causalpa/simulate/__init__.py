"""Cohort simulator with known true effects (shared by tests, docs and the power harness).

:func:`cohort` simulates NHS Talking Therapies patients nested in therapists,
with session-by-session PHQ-9 and GAD-7 scores, self-selection into the
physical-activity (PA) arm on recorded baseline covariates, a treatment effect
on the symptom slope, response-dependent attrition, and the **truth**: ATE and
ATT computed from both potential outcomes of every simulated patient (the same
random draws, only the treatment flipped).

Every parameter of the model is a field of one frozen :class:`CohortParams`
(documented there, validated once); :func:`cohort` and :func:`patient_arrays` take
``params=`` and/or the fields as keyword arguments. :func:`patient_arrays` is the
vectorised core (plain numpy arrays, no DataFrames); :func:`cohort` is built on it,
and the power harness calls it directly for thousands of replicates.

The package is split by role: ``_params`` (the parameters), ``_core`` (the model on
arrays) and ``_cohort`` (the public functions and :class:`SimulatedCohort`).

Sign convention: ``phq9_change = phq9_last - phq9_first``, so an improvement is
a **negative** change and a beneficial PA effect on change is negative, while
``effect`` (the standardised benefit) is positive. A beneficial effect on
``recovered`` is positive.

Examples
--------
>>> from causalpa.simulate import cohort
>>> sim = cohort(n=200, rng=1)
>>> sim.patients.shape[0], sim.sessions["patient"].nunique()
(200, 200)
>>> list(sim.truth.index)
['phq9_change', 'gad7_change', 'recovered']
>>> bool(sim.truth.loc["phq9_change", "ATE"] < 0)  # PA lowers symptoms
True
"""

from __future__ import annotations

from causalpa.simulate._cohort import (
    PATIENT_COLUMNS,
    SimulatedCohort,
    cohort,
    cohort_from_arrays,
    patient_arrays,
)
from causalpa.simulate._core import CALIBRATION
from causalpa.simulate._params import Assignment, CohortParams

__all__ = ["CohortParams", "SimulatedCohort", "cohort", "cohort_from_arrays", "patient_arrays",
           "CALIBRATION", "PATIENT_COLUMNS", "Assignment"]
