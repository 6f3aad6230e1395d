"""Checks of the data: frames, columns, missing values, the treatment, weights, outcomes.

Every message names the argument or column at fault and, where useful, the rows; a
:class:`~causalpa.errors.DataError` means the data cannot be analysed as asked. The
checks are re-exported by :mod:`causalpa._validation`, the module that declares options,
so that callers import every validator from one place.

Examples
--------
>>> import pandas as pd
>>> from causalpa._data_checks import check_columns
>>> check_columns(pd.DataFrame({"a": [1]}), ["a"], "covariates")  # nothing missing
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from causalpa.errors import DataError, SpecificationError

__all__ = [
    "MEASURES",
    "format_rows",
    "check_frame",
    "check_columns",
    "check_no_missing",
    "binary_treatment",
    "check_arm_sizes",
    "check_weights",
    "check_outcome",
    "align_to_rows",
]

MEASURES: tuple[str, ...] = ("difference", "risk difference", "risk ratio", "odds ratio")


def _quote(values: Iterable[Any]) -> str:
    return ", ".join(repr(v) for v in values)


def format_rows(labels: Iterable[Any], limit: int = 10) -> str:
    """Format row labels for an error message, eliding after ``limit``.

    Examples
    --------
    >>> format_rows(range(3))
    '0, 1, 2'
    >>> format_rows(range(20), limit=2)
    '0, 1, ... (20 rows)'
    """
    labels = list(labels)
    shown = ", ".join(str(x) for x in labels[:limit])
    if len(labels) > limit:
        shown += f", ... ({len(labels)} rows)"
    return shown


def check_frame(data: Any, name: str = "data", *, min_rows: int = 1) -> pd.DataFrame:
    """Check that ``data`` is a pandas DataFrame with at least ``min_rows`` rows.

    Examples
    --------
    >>> check_frame(pd.DataFrame())
    Traceback (most recent call last):
    ...
    causalpa.errors.DataError: `data` is empty (0 rows); at least 1 row is needed
    """
    if not isinstance(data, pd.DataFrame):
        raise DataError(f"`{name}` must be a pandas DataFrame; got {type(data).__name__}")
    if len(data) < min_rows:
        rows = "row is" if min_rows == 1 else "rows are"
        raise DataError(
            f"`{name}` is empty ({len(data)} rows); at least {min_rows} {rows} needed"
            if len(data) == 0
            else f"`{name}` has {len(data)} rows; at least {min_rows} {rows} needed"
        )
    if not data.columns.is_unique:
        dup = data.columns[data.columns.duplicated()].unique().tolist()
        raise DataError(f"`{name}` has duplicated column names: {_quote(dup)}")
    return data


def check_columns(data: pd.DataFrame, columns: Iterable[str], argument: str) -> None:
    """Raise :class:`DataError` if any of ``columns`` is missing from ``data``.

    Examples
    --------
    >>> check_columns(pd.DataFrame({"a": [1]}), ["a", "b"], "covariates")
    Traceback (most recent call last):
    ...
    causalpa.errors.DataError: column 'b' named in `covariates` is not in `data`; available columns: 'a'
    """
    missing = [c for c in columns if c not in data.columns]
    if missing:
        noun = "column" if len(missing) == 1 else "columns"
        verb = "is" if len(missing) == 1 else "are"
        avail = _quote(list(data.columns)[:30])
        raise DataError(
            f"{noun} {_quote(missing)} named in `{argument}` {verb} not in `data`; "
            f"available columns: {avail}"
        )


def check_no_missing(data: pd.DataFrame, columns: Iterable[str]) -> None:
    """Refuse missing and infinite values in ``columns``, listing counts per column and rows.

    causalpa never drops rows silently: a complete-case analysis must be the
    user's explicit choice. An infinite number is no more analysable than a missing
    one, so it is refused the same way (with its own message).

    Examples
    --------
    >>> df = pd.DataFrame({"age": [1.0, None, 3.0], "sex": ["f", "m", None]})
    >>> check_no_missing(df, ["age", "sex"])
    Traceback (most recent call last):
    ...
    causalpa.errors.DataError: missing values in columns 'age' (1 row), 'sex' (1 row); rows: 1, 2. causalpa does not drop rows silently: drop or impute them first (e.g. data.dropna(subset=[...]))
    >>> check_no_missing(pd.DataFrame({"age": [1.0, float("inf")]}), ["age"])
    Traceback (most recent call last):
    ...
    causalpa.errors.DataError: infinite values in column 'age' (1 row); rows: 1. Replace them (e.g. with a cap or NaN and an explicit choice of what to do with those rows)
    """
    columns = list(dict.fromkeys(columns))
    if not columns or not _any_missing(data, columns):
        return
    isna = data[columns].isna()
    _raise_listing(data, isna, "missing values", "causalpa does not drop rows silently: drop "
                   "or impute them first (e.g. data.dropna(subset=[...]))")
    isinf = pd.DataFrame({c: _infinite(data[c]) for c in columns}, index=data.index)
    _raise_listing(data, isinf, "infinite values", "Replace them (e.g. with a cap or NaN and "
                   "an explicit choice of what to do with those rows)")


def _infinite(column: pd.Series) -> np.ndarray:
    """Whether each value is +-inf (False for text and other non-numeric values)."""
    values = column.to_numpy()
    if values.dtype.kind in "fc":
        return np.isinf(values)
    if values.dtype.kind == "O":
        return np.array([isinstance(v, (float, np.floating)) and bool(np.isinf(v))
                         for v in values], dtype=bool)
    return np.zeros(len(values), dtype=bool)


def _raise_listing(data: pd.DataFrame, flags: pd.DataFrame, what: str, remedy: str) -> None:
    counts = flags.sum()
    bad = counts[counts > 0]
    if len(bad):
        parts = ", ".join(f"{c!r} ({n} row{'s' if n != 1 else ''})" for c, n in bad.items())
        rows = data.index[flags.any(axis=1).to_numpy()]
        noun = "column" if len(bad) == 1 else "columns"
        raise DataError(f"{what} in {noun} {parts}; rows: {format_rows(rows)}. {remedy}")


def _any_missing(data: pd.DataFrame, columns: list[str]) -> bool:
    """Fast screen for missing or infinite values (the message is built by the slow path)."""
    try:
        for c in columns:
            values = data[c].to_numpy()
            kind = values.dtype.kind
            if kind in "iub":
                continue
            if kind in "fc":
                if not np.isfinite(values).all():
                    return True
                continue
            if pd.isna(values).any() or _infinite(data[c]).any():
                return True
    except Exception:  # duplicate or missing labels, extension types: let pandas decide
        return True
    return False


def binary_treatment(values: pd.Series, name: str, treated: Any = None) -> np.ndarray:
    """Code a treatment column as a 0/1 integer array.

    Accepts 0/1 numbers, booleans, or any two-level column together with an
    explicit ``treated`` level.

    Parameters
    ----------
    values : pandas.Series
        The treatment column.
    name : str
        Column name (for messages).
    treated : object, optional
        The level that means "treated"; required unless the column is 0/1 or bool.

    Returns
    -------
    numpy.ndarray
        Integer array of 0 and 1.

    Examples
    --------
    >>> binary_treatment(pd.Series(["PA", "control", "PA"]), "arm", treated="PA")
    array([1, 0, 1])
    """
    if treated is None and isinstance(values, pd.Series):
        raw = values.to_numpy()
        if raw.dtype.kind in "iuf" and raw.size and bool(((raw == 0) | (raw == 1)).all()):
            return raw.astype(int)  # 0/1 numbers: what the checks below conclude
    if values.isna().any():
        rows = values.index[values.isna().to_numpy()]
        raise DataError(
            f"treatment column {name!r} has missing values in rows {format_rows(rows)}"
        )
    levels = pd.unique(values)
    if len(levels) > 2:
        shown = _quote(sorted(levels, key=str)[:10])
        raise DataError(
            f"treatment column {name!r} must be binary (0/1, bool, or two levels with "
            f"`treated=`); it has {len(levels)} levels: {shown}"
        )
    if treated is not None:
        if treated not in set(levels.tolist()):
            raise SpecificationError(
                f"`treated` level {treated!r} does not occur in treatment column {name!r}; "
                f"levels are {_quote(levels)}"
            )
        return np.asarray(values == treated, dtype=int)
    if pd.api.types.is_bool_dtype(values):
        return values.to_numpy().astype(int)
    if pd.api.types.is_numeric_dtype(values) and set(np.unique(values)) <= {0, 1}:
        return values.to_numpy().astype(int)
    raise DataError(
        f"treatment column {name!r} must be coded 0/1 or bool, or give the treated level "
        f"with `treated=`; its values are {_quote(levels)}"
    )


def check_arm_sizes(t: np.ndarray, treatment: str, what: str, *, minimum: int = 2,
                    weights: np.ndarray | None = None) -> tuple[int, int]:
    """Count the units of each arm and refuse an arm with fewer than ``minimum``.

    Parameters
    ----------
    t : ndarray
        0/1 treatment.
    treatment : str
        Treatment column (for the message).
    what : str
        What needs the units ("weighting", "an effect estimate"), for the message.
    minimum : int
        Units needed in each arm.
    weights : ndarray, optional
        Count only units with positive weight.

    Returns
    -------
    (int, int)
        Units in the treated and the control arm.

    Examples
    --------
    >>> check_arm_sizes(np.array([1, 1, 0, 0, 0]), "pa", "weighting")
    (2, 3)
    >>> check_arm_sizes(np.array([1, 0, 0]), "pa", "AIPW")
    Traceback (most recent call last):
    ...
    causalpa.errors.DataError: the treated arm of 'pa' has 1 unit; AIPW needs at least 2 units per arm (and far more for trustworthy inference)
    >>> check_arm_sizes(np.array([1, 1, 0]), "pa", "a table", minimum=1, weights=[1, 1, 0])
    Traceback (most recent call last):
    ...
    causalpa.errors.DataError: there are no control units with positive weight in 'pa'; a table needs at least 1 unit per arm (and far more for trustworthy inference)
    """
    t = np.asarray(t)
    keep = np.ones(len(t), dtype=bool) if weights is None else np.asarray(weights) > 0
    n1, n0 = int(np.sum((t == 1) & keep)), int(np.sum((t == 0) & keep))
    if min(n1, n0) < minimum:
        arm, k = ("treated", n1) if n1 < minimum else ("control", n0)
        positive = "" if weights is None else " with positive weight"
        found = (f"there are no {arm} units{positive} in {treatment!r}" if k == 0 else
                 f"the {arm} arm of {treatment!r} has {k} unit{'' if k == 1 else 's'}{positive}")
        raise DataError(
            f"{found}; {what} needs at least {minimum} "
            f"unit{'' if minimum == 1 else 's'} per arm (and far more for trustworthy "
            "inference)")
    return n1, n0


def align_to_rows(data: pd.DataFrame, values: Any, name: str) -> Any:
    """Return per-row ``values`` in the row order of ``data`` (a Series is aligned by label).

    A pandas Series is matched to the rows of ``data`` through its index, as pandas
    aligns data: it is reindexed on ``data.index`` (labels that are not rows of ``data``
    are ignored) and a row of ``data`` without a value is refused. Any other value (a
    list, an array) is returned unchanged and read by position.

    Parameters
    ----------
    data : pandas.DataFrame
        The data whose rows the values belong to.
    values : object
        The values given for ``name`` (weights, clusters, a distance).
    name : str
        The argument, for messages.

    Returns
    -------
    numpy.ndarray or object
        The Series' values in row order, or ``values`` unchanged.

    Raises
    ------
    DataError
        A Series with duplicated labels that is not indexed like ``data``, or without a
        value for some rows of ``data`` (named).

    Examples
    --------
    >>> df = pd.DataFrame({"x": [1.0, 2.0, 3.0]}, index=["a", "b", "c"])
    >>> align_to_rows(df, pd.Series([30.0, 10.0, 20.0], index=["c", "a", "b"]), "weights")
    array([10., 20., 30.])
    >>> align_to_rows(df, pd.Series([1.0, 2.0], index=["a", "b"]), "weights")
    Traceback (most recent call last):
    ...
    causalpa.errors.DataError: `weights` is a pandas Series without a value for row c of `data`: a Series is aligned on `data.index` by label; give one value per row (or a plain array in row order)
    """
    if not isinstance(values, pd.Series):
        return values
    index = data.index
    if values.index.equals(index):
        return values.to_numpy()
    if not values.index.is_unique:
        dup = values.index[values.index.duplicated()].unique()
        raise DataError(
            f"`{name}` is a pandas Series with duplicated index labels ({format_rows(dup)}) "
            "that is not indexed like `data`, so it cannot be aligned on the rows of `data`; "
            "give it the index of `data` (or pass a plain array in row order)")
    missing = ~np.asarray(index.isin(values.index), dtype=bool)
    if missing.any():
        rows = index[missing]
        noun = "row" if len(rows) == 1 else "rows"
        raise DataError(
            f"`{name}` is a pandas Series without a value for {noun} {format_rows(rows)} of "
            "`data`: a Series is aligned on `data.index` by label; give one value per row "
            "(or a plain array in row order)")
    return values.reindex(index).to_numpy()


def check_weights(weights: Any, n: int, name: str = "weights") -> np.ndarray:
    """Check a weight vector: length ``n``, finite, non-negative, not all zero.

    Examples
    --------
    >>> check_weights([1, 2, 0], 3)
    array([1., 2., 0.])
    """
    try:
        w = np.asarray(weights, dtype=float).reshape(-1)
    except (TypeError, ValueError) as exc:
        raise DataError(f"`{name}` must be numeric") from exc
    if w.shape[0] != n:
        raise DataError(f"`{name}` has length {w.shape[0]}; expected {n} (one per row)")
    bad = ~np.isfinite(w) | (w < 0)
    if bad.any():
        raise DataError(
            f"`{name}` must be finite and >= 0; positions {format_rows(np.flatnonzero(bad))} are not"
        )
    if not (w > 0).any():
        raise DataError(f"`{name}` are all zero")
    return w


def check_outcome(
    data: pd.DataFrame, outcome: str, measure: str | None = None
) -> tuple[np.ndarray, bool, str]:
    """Validate an outcome column and the effect measure asked for it.

    Parameters
    ----------
    data : pandas.DataFrame
        The data (not modified).
    outcome : str
        Outcome column: numeric, or 0/1 / bool for a binary outcome.
    measure : str, optional
        One of :data:`MEASURES`; default "risk difference" for a 0/1 outcome,
        "difference" otherwise. Ratio measures need a 0/1 outcome.

    Returns
    -------
    y : ndarray
        The outcome as floats.
    binary : bool
        Whether every value is 0 or 1.
    measure : str
        The resolved measure.

    Examples
    --------
    >>> y, binary, measure = check_outcome(pd.DataFrame({"rec": [0, 1, 1]}), "rec")
    >>> binary, measure
    (True, 'risk difference')
    """
    if not isinstance(outcome, str):
        raise SpecificationError(f"`outcome` must be a column name; got {outcome!r}")
    check_columns(data, [outcome], "outcome")
    check_no_missing(data, [outcome])
    y_raw = data[outcome]
    if not (pd.api.types.is_numeric_dtype(y_raw) or pd.api.types.is_bool_dtype(y_raw)):
        raise DataError(f"outcome column {outcome!r} must be numeric (0/1 for binary outcomes)")
    y = y_raw.to_numpy(dtype=float)
    binary = bool(np.isin(y, [0.0, 1.0]).all())
    if measure is None:
        measure = "risk difference" if binary else "difference"
    from causalpa._validation import check_option  # the options module imports this one

    measure = check_option("measure", measure, MEASURES)
    if measure != "difference" and not binary:
        raise DataError(f"measure {measure!r} needs a 0/1 outcome; {outcome!r} has other values")
    return y, binary, measure

