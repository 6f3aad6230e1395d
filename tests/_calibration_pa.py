"""Shared helpers for the weighting / AIPW calibration tests (simulated cohorts)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from causalpa.simulate import patient_arrays

COVARIATES = ("age", "female", "employed", "ltc", "imd_decile", "phq9_first", "gad7_first")


def arrays(n: int, rng: int, **params):
    """One simulated cohort as arrays: the arrays, the 0/1 treatment and the design matrix."""
    a = patient_arrays(n, rng, **params)
    X = np.column_stack([np.ones(n)] + [a[c] for c in COVARIATES]).astype(float)
    return a, a["pa"].astype(int), X


@lru_cache(maxsize=4)
def population_truth(outcome: str = "phq9_change", selection: float = 1.0) -> dict:
    """ATE / ATT of the data-generating process from one very large cohort."""
    a = patient_arrays(200_000, 987654, selection=selection)
    d = a[f"{outcome}_1"].astype(float) - a[f"{outcome}_0"].astype(float)
    return {"ATE": float(d.mean()), "ATT": float(d[a["pa"] == 1].mean())}


def mc_band(p: float, reps: int, z: float = 3.0) -> tuple[float, float]:
    """Monte-Carlo acceptance band for an observed coverage around ``p``."""
    se = np.sqrt(p * (1 - p) / reps)
    return p - z * se, p + z * se
