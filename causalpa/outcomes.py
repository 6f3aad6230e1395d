"""NHS Talking Therapies outcome definitions: caseness, recovery and reliable change.

The definitions follow the IAPT / NHS Talking Therapies manual (see the
documentation page *Outcome definitions* for sources):

| quantity | definition (defaults) |
|---|---|
| caseness | PHQ-9 >= 10 **or** GAD-7 >= 8 |
| recovery | a case at the first score and not a case at the last; undefined (NaN) for patients who are not a case at the start |
| reliable improvement | PHQ-9 drop >= 6 and/or GAD-7 drop >= 4, with no reliable deterioration on the other measure |
| reliable deterioration | PHQ-9 rise >= 6 and/or GAD-7 rise >= 4, with no reliable improvement on the other measure |
| reliable recovery | recovery **and** reliable improvement (NaN where recovery is) |
| finished treatment | at least 2 sessions (so that paired scores exist) |

Every threshold is a parameter so that an anxiety-disorder-specific measure
(SPIN, IES-R, PDSS, OCI, ...) can replace GAD-7 with its own caseness cut-off,
reliable-change index and score range.

Examples
--------
>>> import pandas as pd
>>> from causalpa.outcomes import nhs_outcomes
>>> df = pd.DataFrame({"phq9_first": [15, 9, 20], "phq9_last": [8, 4, 19],
...                    "gad7_first": [12, 6, 15], "gad7_last": [5, 4, 16]})
>>> nhs_outcomes(df)[["case_first", "recovered", "reliable_improvement"]]
   case_first  recovered  reliable_improvement
0           1        1.0                     1
1           0        NaN                     0
2           1        0.0                     0
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from causalpa._validation import (
    NONE,
    Boolean,
    Column,
    ColumnPair,
    Number,
    Pair,
    check_columns,
    check_frame,
    check_no_missing,
    format_rows,
    validate_params,
)
from causalpa.errors import DataError, SpecificationError

__all__ = ["nhs_outcomes", "from_sessions", "check_scores", "outcome_arrays", "OUTCOME_COLUMNS"]

OUTCOME_COLUMNS = (
    "case_first",
    "case_last",
    "recovered",
    "reliable_improvement",
    "reliable_deterioration",
    "reliable_recovery",
)
"""Columns added by :func:`nhs_outcomes`, in order."""


# --------------------------------------------------------------------------- arrays
def outcome_arrays(
    phq9_first: Any,
    phq9_last: Any,
    gad7_first: Any = None,
    gad7_last: Any = None,
    *,
    phq9_case: float = 10,
    gad7_case: float = 8,
    phq9_reliable: float = 6,
    gad7_reliable: float = 4,
) -> dict[str, np.ndarray]:
    """Compute the NHS Talking Therapies outcomes on arrays (no validation).

    This is the numerical core shared by :func:`nhs_outcomes` and the cohort
    simulator; arrays of any (common) shape are accepted, so potential outcomes
    of a whole simulated cohort can be scored in one call.

    Parameters
    ----------
    phq9_first, phq9_last : array_like
        Depression scores at the first and last session.
    gad7_first, gad7_last : array_like, optional
        Anxiety scores at the first and last session; ``None`` to use PHQ-9 only.
    phq9_case, gad7_case : float
        Caseness thresholds (a case scores at or above the threshold).
    phq9_reliable, gad7_reliable : float
        Reliable change: a change of at least this many points.

    Returns
    -------
    dict of numpy.ndarray
        ``case_first``, ``case_last``, ``reliable_improvement`` and
        ``reliable_deterioration`` as 0/1 integers; ``recovered`` and
        ``reliable_recovery`` as floats with NaN where the patient was not a
        case at the first score.

    Examples
    --------
    >>> out = outcome_arrays([12, 9], [6, 9], [10, 7], [3, 7])
    >>> out["recovered"]
    array([ 1., nan])
    """
    p0 = np.asarray(phq9_first, dtype=float)
    p1 = np.asarray(phq9_last, dtype=float)
    change_p = p1 - p0
    case_first = p0 >= phq9_case
    case_last = p1 >= phq9_case
    imp_p = change_p <= -phq9_reliable
    det_p = change_p >= phq9_reliable
    if gad7_first is not None:
        g0 = np.asarray(gad7_first, dtype=float)
        g1 = np.asarray(gad7_last, dtype=float)
        change_g = g1 - g0
        case_first = case_first | (g0 >= gad7_case)
        case_last = case_last | (g1 >= gad7_case)
        imp_g = change_g <= -gad7_reliable
        det_g = change_g >= gad7_reliable
        improvement = (imp_p | imp_g) & ~det_p & ~det_g
        deterioration = (det_p | det_g) & ~imp_p & ~imp_g
    else:
        improvement = imp_p
        deterioration = det_p
    recovered = np.where(case_first, (~case_last).astype(float), np.nan)
    reliable_recovery = np.where(case_first, (~case_last & improvement).astype(float), np.nan)
    return {
        "case_first": case_first.astype(np.int64),
        "case_last": case_last.astype(np.int64),
        "recovered": recovered,
        "reliable_improvement": improvement.astype(np.int64),
        "reliable_deterioration": deterioration.astype(np.int64),
        "reliable_recovery": reliable_recovery,
    }


# --------------------------------------------------------------------------- validation
def check_scores(
    data: pd.DataFrame,
    columns: Sequence[str],
    low: float,
    high: float,
    *,
    measure: str,
    integer: bool = True,
) -> None:
    """Check that score columns are numeric, complete, within range and (optionally) integer.

    Parameters
    ----------
    data : pandas.DataFrame
        Data holding the scores (not modified).
    columns : sequence of str
        Score columns.
    low, high : float
        Allowed range of the measure (inclusive).
    measure : str
        Name of the measure used in messages (e.g. "PHQ-9").
    integer : bool
        Require whole-number scores.

    Raises
    ------
    DataError
        Naming the column and the offending rows.

    Examples
    --------
    >>> check_scores(pd.DataFrame({"phq9": [3, 28]}), ["phq9"], 0, 27, measure="PHQ-9")
    Traceback (most recent call last):
    ...
    causalpa.errors.DataError: column 'phq9' has PHQ-9 scores outside 0-27 in rows: 1 (values: 28)
    """
    check_columns(data, columns, measure)
    check_no_missing(data, columns)
    for col in columns:
        series = data[col]
        if pd.api.types.is_bool_dtype(series) or not pd.api.types.is_numeric_dtype(series):
            # an object column is fine if every value is a real number (not bool/str)
            is_number = series.map(
                lambda v: isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_))
            ).to_numpy(dtype=bool)
            if pd.api.types.is_bool_dtype(series) or not is_number.all():
                bad = series.index[~is_number]
                shown = f" in rows: {format_rows(bad)}" if len(bad) else ""
                examples = ", ".join(repr(v) for v in series[~is_number].iloc[:3])
                raise DataError(
                    f"column {col!r} must hold numeric {measure} scores; it has dtype "
                    f"{series.dtype} with non-numeric values{shown}"
                    + (f" (e.g. {examples})" if examples else "")
                )
        values = series.to_numpy(dtype=float)  # finite: check_no_missing refused NaN and inf
        out = (values < low) | (values > high)
        if out.any():
            vals = ", ".join(f"{v:g}" for v in values[out][:10])
            raise DataError(
                f"column {col!r} has {measure} scores outside {low:g}-{high:g} in rows: "
                f"{format_rows(series.index[out])} (values: {vals})"
            )
        if integer:
            frac = values != np.round(values)
            if frac.any():
                vals = ", ".join(f"{v:g}" for v in values[frac][:10])
                raise DataError(
                    f"column {col!r} has non-integer {measure} scores in rows: "
                    f"{format_rows(series.index[frac])} (values: {vals}); total scores are "
                    "whole numbers (pass `integer=False` for prorated scores)"
                )


# --------------------------------------------------------------------------- public API
_THRESHOLDS = {"phq9_case": Number(low=0), "gad7_case": Number(low=0),
               "phq9_reliable": Number(low=0, low_inclusive=False),
               "gad7_reliable": Number(low=0, low_inclusive=False)}
_SCORES = {"phq9_range": Pair(), "gad7_range": Pair(), "integer": Boolean()}


@validate_params({"phq9": ColumnPair(), "gad7": [ColumnPair(), NONE], **_THRESHOLDS, **_SCORES})
def nhs_outcomes(
    data: pd.DataFrame,
    phq9: tuple[str, str] = ("phq9_first", "phq9_last"),
    gad7: tuple[str, str] | None = ("gad7_first", "gad7_last"),
    *,
    phq9_case: float = 10,
    gad7_case: float = 8,
    phq9_reliable: float = 6,
    gad7_reliable: float = 4,
    phq9_range: tuple[float, float] = (0, 27),
    gad7_range: tuple[float, float] = (0, 21),
    integer: bool = True,
) -> pd.DataFrame:
    """Add NHS Talking Therapies caseness, recovery and reliable-change columns.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per patient with first and last scores (never modified).
    phq9 : pair of str
        Columns with the first and last depression score (PHQ-9 by default).
    gad7 : pair of str or None
        Columns with the first and last anxiety score. ``None`` uses the
        depression measure alone. Any anxiety-disorder-specific measure can be
        used here with its own ``gad7_case``, ``gad7_reliable`` and ``gad7_range``.
    phq9_case : float
        Depression caseness threshold: a case scores **at or above** it (10).
    gad7_case : float
        Anxiety caseness threshold (8).
    phq9_reliable : float
        Reliable change on the depression measure: a change of at least this
        many points (6).
    gad7_reliable : float
        Reliable change on the anxiety measure (4).
    phq9_range, gad7_range : pair of float
        Allowed score ranges, (0, 27) and (0, 21).
    integer : bool
        Require whole-number scores (True).

    Returns
    -------
    pandas.DataFrame
        A copy of ``data`` (same index) with columns ``case_first``, ``case_last``,
        ``reliable_improvement``, ``reliable_deterioration`` (0/1 integers) and
        ``recovered``, ``reliable_recovery`` (floats: 1.0, 0.0, or **NaN for
        patients who were not a case at their first score**, for whom recovery
        is undefined). Existing columns with these names are replaced.

    Raises
    ------
    DataError
        Empty frame, missing columns, missing values, non-numeric, non-integer
        or out-of-range scores (the message names the column and rows).
    SpecificationError
        Malformed arguments.

    Notes
    -----
    Reliable improvement requires a reliable drop on at least one measure and no
    reliable rise on the other; reliable deterioration is defined symmetrically,
    so a patient can be in at most one of the two. The "no deterioration on the
    other" clause follows the IAPT manual as usually quoted; it has not been
    checked against the official text.

    Examples
    --------
    >>> df = pd.DataFrame({"phq9_first": [10, 9], "phq9_last": [4, 3],
    ...                    "gad7_first": [7, 7], "gad7_last": [7, 3]})
    >>> out = nhs_outcomes(df)
    >>> out[["case_first", "recovered", "reliable_improvement", "reliable_recovery"]]
       case_first  recovered  reliable_improvement  reliable_recovery
    0           1        1.0                     1                1.0
    1           0        NaN                     1                NaN
    >>> "recovered" in df.columns  # the input is unchanged
    False
    """
    data = check_frame(data, "data")
    p, g = phq9, gad7
    p_low, p_high = phq9_range
    check_scores(data, p, p_low, p_high, measure="PHQ-9", integer=integer)
    if g is not None:
        g_low, g_high = gad7_range
        check_scores(data, g, g_low, g_high, measure="GAD-7", integer=integer)
    arrays = outcome_arrays(
        data[p[0]].to_numpy(dtype=float),
        data[p[1]].to_numpy(dtype=float),
        None if g is None else data[g[0]].to_numpy(dtype=float),
        None if g is None else data[g[1]].to_numpy(dtype=float),
        phq9_case=phq9_case,
        gad7_case=gad7_case,
        phq9_reliable=phq9_reliable,
        gad7_reliable=gad7_reliable,
    )
    out = data.copy()
    for name in OUTCOME_COLUMNS:
        out[name] = arrays[name]
    return out


@validate_params({"id": Column(), "session": Column(), "phq9": [Column(), NONE],
                  "gad7": [Column(), NONE], "min_sessions": Number(low=1, integer=True),
                  **_SCORES})
def from_sessions(
    data: pd.DataFrame,
    id: str = "patient",
    session: str = "session",
    phq9: str | None = "phq9",
    gad7: str | None = "gad7",
    *,
    min_sessions: int = 2,
    phq9_range: tuple[float, float] = (0, 27),
    gad7_range: tuple[float, float] = (0, 21),
    integer: bool = True,
) -> pd.DataFrame:
    """Collapse session-level scores into one row per patient.

    Parameters
    ----------
    data : pandas.DataFrame
        Long format, one row per attended session (never modified; row order
        does not matter).
    id : str
        Patient identifier column.
    session : str
        Session number or date column; the first and last sessions are the
        smallest and largest values within a patient.
    phq9, gad7 : str or None
        Score columns (``None`` to skip one; at least one is required).
    min_sessions : int
        Sessions needed to count as having *finished* treatment (2, so that
        paired scores exist).
    phq9_range, gad7_range : pair of float
        Allowed score ranges.
    integer : bool
        Require whole-number scores.

    Returns
    -------
    pandas.DataFrame
        One row per patient, sorted by ``id`` (default integer index), with
        ``id``, every other column that is constant within each patient (such
        as ``pa`` or ``therapist``), ``<score>_first``, ``<score>_last``,
        ``<score>_change`` (last - first, so an improvement is negative),
        ``n_sessions`` and ``finished`` (0/1: ``n_sessions >= min_sessions``).

    Raises
    ------
    DataError
        Empty frame, missing columns or values, a patient with two rows for
        the same session, invalid scores.

    Examples
    --------
    >>> sess = pd.DataFrame({"patient": [1, 1, 1, 2], "session": [0, 1, 2, 0],
    ...                      "pa": [1, 1, 1, 0], "phq9": [15, 12, 8, 11],
    ...                      "gad7": [12, 9, 6, 10]})
    >>> from_sessions(sess)[["patient", "pa", "phq9_first", "phq9_last", "n_sessions", "finished"]]
       patient  pa  phq9_first  phq9_last  n_sessions  finished
    0        1   1          15          8           3         1
    1        2   0          11         11           1         0
    """
    data = check_frame(data, "data")
    scores: list[str] = [c for c in (phq9, gad7) if c is not None]
    if not scores:
        raise SpecificationError("give at least one of `phq9` and `gad7`")
    check_columns(data, [id], "id")
    check_columns(data, [session], "session")
    check_no_missing(data, [id, session])
    if phq9 is not None:
        low, high = phq9_range
        check_scores(data, [phq9], low, high, measure="PHQ-9", integer=integer)
    if gad7 is not None:
        low, high = gad7_range
        check_scores(data, [gad7], low, high, measure="GAD-7", integer=integer)
    dup = data.duplicated(subset=[id, session], keep=False).to_numpy()
    if dup.any():
        raise DataError(
            f"patients have more than one row for the same `{session}` in rows: "
            f"{format_rows(data.index[dup])}"
        )
    ordered = data.sort_values([id, session], kind="mergesort")
    grouped = ordered.groupby(id, sort=True)
    first = grouped.head(1).set_index(id)
    last = grouped.tail(1).set_index(id)
    out = pd.DataFrame(index=first.index)
    # carry through columns that are constant within every patient
    others = [c for c in data.columns if c not in (id, session, *scores)]
    if others:
        nunique = grouped[others].nunique(dropna=False)
        constant = [c for c in others if bool((nunique[c] <= 1).all())]
        for c in constant:
            out[c] = first[c]
    for c in scores:
        out[f"{c}_first"] = first[c]
        out[f"{c}_last"] = last[c]
        out[f"{c}_change"] = last[c] - first[c]
    out["n_sessions"] = grouped.size().astype(np.int64)
    out["finished"] = (out["n_sessions"] >= min_sessions).astype(np.int64)
    return out.reset_index()
