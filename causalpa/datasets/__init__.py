"""Embedded data sets (offline, shipped inside the package) with their provenance.

* :func:`load_pilot` - a **synthetic** 38-patient cohort that reproduces the
  published aggregates of the Community Living Well physical-activity pilot
  (no real patient data were released; see :mod:`causalpa.datasets.make_pilot`).
* :func:`load_lalonde` - MatchIt's ``lalonde`` (614 rows: 185 NSW treated, 429
  PSID controls; Dehejia & Wahba 1999).
* :func:`load_nhefs` - NHEFS complete cases (1,566 rows; Hernan & Robins,
  *Causal Inference: What If*, chapter 12).

Every loader returns a fresh copy, so modifying a loaded frame never affects
the next call. Provenance notes are in ``causalpa/datasets/data/README.md`` and
on the documentation page *Data sets*.

Examples
--------
>>> import causalpa as cpa
>>> pts = cpa.datasets.load_pilot()
>>> pts.shape[0], int(pts["pa"].sum())
(38, 16)
>>> cpa.datasets.load_lalonde().shape
(614, 9)
"""

from __future__ import annotations

import functools
from importlib import resources
from typing import Literal

import pandas as pd

from causalpa._validation import validate_params

__all__ = ["load_pilot", "load_lalonde", "load_nhefs"]

PilotKind = Literal["patients", "sessions"]


@functools.cache
def _read(name: str, comment: str | None = None) -> pd.DataFrame:
    path = resources.files("causalpa.datasets").joinpath("data").joinpath(name)
    with path.open("r", encoding="utf-8") as fh:
        return pd.read_csv(fh, comment=comment)


@validate_params()
def load_pilot(kind: PilotKind = "patients") -> pd.DataFrame:
    """Load the embedded **synthetic** pilot cohort (38 patients).

    The Community Living Well pilot compared talking therapy plus 1:1
    physical-activity (PA) sessions with talking therapy alone; participants
    chose their arm. Only aggregates were published, so this cohort is
    **simulated** (by :func:`causalpa.simulate.cohort`, seed and selection rule
    in :mod:`causalpa.datasets.make_pilot`) to reproduce them exactly: 16 PA and
    22 control patients (an assumed split; group sizes were not published),
    10 and 8 recovered (63% vs 36%), mean PHQ-9 reductions 8.3 vs 4.0 and
    GAD-7 reductions 8.3 vs 4.1 (about twice as large with PA), none of these
    differences significant at 5%, and self-selection: PA patients are
    younger, less often have a long-term condition, are less deprived and
    more often employed.
    Do not read clinical conclusions into individual rows.

    Parameters
    ----------
    kind : {"patients", "sessions"}
        ``"patients"``: one row per patient (data-contract columns ``patient,
        therapist, pa, age, sex, employed, ltc, imd_decile, phq9_first,
        phq9_last, gad7_first, gad7_last, n_sessions, finished, phq9_change,
        gad7_change, case_first, case_last, recovered, reliable_improvement,
        reliable_deterioration, reliable_recovery``). ``"sessions"``: one row
        per attended session (``patient, therapist, session, pa, phq9, gad7``;
        session 0 is the first).

    Returns
    -------
    pandas.DataFrame
        A fresh copy.

    Examples
    --------
    >>> pts = load_pilot()
    >>> pts.groupby("pa")["recovered"].sum().tolist()  # control, PA
    [8.0, 10.0]
    >>> load_pilot("sessions").columns.tolist()
    ['patient', 'therapist', 'session', 'pa', 'phq9', 'gad7']
    """
    return _read(f"pilot_{kind}.csv", comment="#").copy()


def load_lalonde() -> pd.DataFrame:
    """Load MatchIt's ``lalonde`` data (614 rows), offline.

    National Supported Work (NSW) demonstration participants who received job
    training (``treat = 1``, 185 rows) and comparison individuals from the
    Panel Study of Income Dynamics (PSID, 429 rows), as used by Dehejia and
    Wahba (1999) and shipped with the R package MatchIt (4.5.1). Exported with
    ``tests/reference/datasets/lalonde.R``.

    Returns
    -------
    pandas.DataFrame
        Columns ``treat, age, educ, race, married, nodegree, re74, re75, re78``
        in MatchIt's order; the index holds MatchIt's row names (``"NSW1"``,
        ..., ``"PSID429"``); ``race`` is categorical with levels ``black``,
        ``hispan``, ``white`` (as the R factor). A fresh copy.

    Examples
    --------
    >>> df = load_lalonde()
    >>> int(df["treat"].sum()), df.index[0], list(df["race"].cat.categories)
    (185, 'NSW1', ['black', 'hispan', 'white'])
    """
    df = _read("lalonde.csv").copy()
    df = df.set_index("id")
    df.index.name = None
    df["race"] = pd.Categorical(df["race"], categories=["black", "hispan", "white"])
    return df


def load_nhefs() -> pd.DataFrame:
    """Load the NHEFS complete-case sample (1,566 rows), offline.

    The National Health and Nutrition Examination Survey Epidemiologic
    Follow-up Study as used by Hernan and Robins, *Causal Inference: What If*
    (chapter 12 onward): smokers in 1971 with a recorded weight in 1982.
    ``qsmk`` is quitting smoking between 1971 and 1982 and ``wt82_71`` the
    weight gain (kg). Taken from the ``causaldata`` Python package (0.1.5,
    data set ``nhefs_complete``) with categorical codes stored as integers;
    see ``tests/reference/datasets/nhefs_export.py``. Stabilised IP weighting
    with the chapter 12 covariates gives 3.44 kg (95% CI 2.4 to 4.5), as in
    the book.

    Returns
    -------
    pandas.DataFrame
        67 columns (the book's 64 plus ``id``, ``censored`` and ``older`` from
        causaldata), default integer index. A fresh copy.

    Examples
    --------
    >>> df = load_nhefs()
    >>> df.shape, int(df["qsmk"].sum())
    ((1566, 67), 403)
    """
    return _read("nhefs.csv").copy()
