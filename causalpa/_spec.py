"""Formula / column specification and the one input validator used everywhere.

A user describes a treatment model either as a formula string
(``"pa ~ age + C(sex) + phq9_first"``, parsed by formulaic, so ``C()``,
interactions and ``I()`` work) or as ``treatment=`` / ``covariates=`` column
names. Both routes reach the same frozen :class:`Spec`, so they give identical
numbers. Validation lives here: every public function calls these helpers, and
each message names the argument or column at fault.

Examples
--------
>>> import pandas as pd
>>> from causalpa._spec import make_spec
>>> df = pd.DataFrame({"pa": [0, 1, 0, 1], "age": [30, 40, 50, 60.0]})
>>> spec = make_spec(df, "pa ~ age")
>>> spec.treatment, spec.variables
('pa', ('age',))
>>> make_spec(df, treatment="pa", covariates=["age"]) == spec
True
"""

from __future__ import annotations

import functools
import keyword
import numbers
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from causalpa.errors import DataError, SpecificationError

__all__ = [
    "Spec",
    "make_spec",
    "check_option",
    "check_number",
    "check_frame",
    "check_columns",
    "check_no_missing",
    "binary_treatment",
    "check_weights",
    "check_outcome",
    "format_rows",
    "MEASURES",
]

MEASURES: tuple[str, ...] = ("difference", "risk difference", "risk ratio", "odds ratio")

T = TypeVar("T")


# --------------------------------------------------------------------------- helpers
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


def _quote(values: Iterable[Any]) -> str:
    return ", ".join(repr(v) for v in values)


# --------------------------------------------------------------------------- options
def check_option(name: str, value: Any, allowed: Sequence[T], *, case_sensitive: bool = False) -> T:
    """Check that ``value`` is one of ``allowed`` and return the canonical spelling.

    Parameters
    ----------
    name : str
        Argument name used in the message.
    value : object
        Value given by the user.
    allowed : sequence
        Allowed values (strings are compared case-insensitively by default).
    case_sensitive : bool
        Compare strings exactly.

    Returns
    -------
    object
        The matching element of ``allowed``.

    Raises
    ------
    SpecificationError
        If ``value`` is not allowed.

    Examples
    --------
    >>> check_option("estimand", "att", ["ATE", "ATT"])
    'ATT'
    """
    for option in allowed:
        if value is option or value == option:
            return option
        if (
            not case_sensitive
            and isinstance(value, str)
            and isinstance(option, str)
            and value.lower() == option.lower()
        ):
            return option
    raise SpecificationError(f"`{name}` must be one of {_quote(allowed)}; got {value!r}")


def check_number(
    name: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
    allow_none: bool = False,
    integer: bool = False,
) -> Any:
    """Check that ``value`` is a finite real number (or integer) inside a range.

    Examples
    --------
    >>> check_number("caliper", 0.2, low=0, allow_none=True)
    0.2
    >>> check_number("caliper", -1, low=0)
    Traceback (most recent call last):
    ...
    causalpa.errors.SpecificationError: `caliper` must be a number >= 0; got -1
    """
    if value is None:
        if allow_none:
            return None
    kind = "an integer" if integer else "a number"
    bounds = []
    if low is not None:
        bounds.append(f"{'>=' if low_inclusive else '>'} {low:g}")
    if high is not None:
        bounds.append(f"{'<=' if high_inclusive else '<'} {high:g}")
    requirement = f"`{name}` must be {kind}"
    if bounds:
        requirement += " " + " and ".join(bounds)
    if allow_none:
        requirement += " or None"
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if ok and integer:
        ok = isinstance(value, numbers.Integral) or (
            isinstance(value, float) and value.is_integer()
        )
    if ok:
        ok = bool(np.isfinite(float(value)))
    if ok and low is not None:
        ok = value >= low if low_inclusive else value > low
    if ok and high is not None:
        ok = value <= high if high_inclusive else value < high
    if not ok:
        raise SpecificationError(f"{requirement}; got {value!r}")
    return int(value) if integer else value


# --------------------------------------------------------------------------- data
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
    """Refuse missing values in ``columns``, listing counts per column and the rows.

    causalpa never drops rows silently: a complete-case analysis must be the
    user's explicit choice.

    Examples
    --------
    >>> df = pd.DataFrame({"age": [1.0, None, 3.0], "sex": ["f", "m", None]})
    >>> check_no_missing(df, ["age", "sex"])
    Traceback (most recent call last):
    ...
    causalpa.errors.DataError: missing values in columns 'age' (1 row), 'sex' (1 row); rows: 1, 2. causalpa does not drop rows silently: drop or impute them first (e.g. data.dropna(subset=[...]))
    """
    columns = list(dict.fromkeys(columns))
    if not columns:
        return
    if not _any_missing(data, columns):
        return
    isna = data[columns].isna()
    counts = isna.sum()
    bad = counts[counts > 0]
    if len(bad):
        parts = ", ".join(f"{c!r} ({n} row{'s' if n != 1 else ''})" for c, n in bad.items())
        rows = data.index[isna.any(axis=1).to_numpy()]
        noun = "column" if len(bad) == 1 else "columns"
        raise DataError(
            f"missing values in {noun} {parts}; rows: {format_rows(rows)}. causalpa does "
            "not drop rows silently: drop or impute them first (e.g. data.dropna(subset=[...]))"
        )


def _any_missing(data: pd.DataFrame, columns: list[str]) -> bool:
    """Fast screen for missing values (the message is built by the slow path)."""
    try:
        for c in columns:
            values = data[c].to_numpy()
            kind = values.dtype.kind
            if kind in "iub":
                continue
            if kind in "fc":
                if np.isnan(values).any():
                    return True
                continue
            if pd.isna(values).any():
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
    measure = check_option("measure", measure, MEASURES)
    if measure != "difference" and not binary:
        raise DataError(f"measure {measure!r} needs a 0/1 outcome; {outcome!r} has other values")
    return y, binary, measure


# --------------------------------------------------------------------------- spec
def _term(name: str) -> str:
    """Quote a column name for formulaic when it is not a plain identifier."""
    if name.isidentifier() and not keyword.iskeyword(name):
        return name
    return "`" + name.replace("`", "") + "`"


@dataclass(frozen=True)
class Spec:
    """A validated treatment specification (frozen; built by :func:`make_spec`).

    Attributes
    ----------
    formula : str
        Canonical formula ``"treatment ~ rhs"``.
    treatment : str
        Treatment column.
    rhs : str
        Right-hand side of the formula (covariate terms), ``"1"`` if none.
    variables : tuple of str
        Data columns used by the right-hand side (in first-use order).
    treated : object
        Level of the treatment column meaning "treated" (None for 0/1 or bool).
    """

    formula: str
    treatment: str
    rhs: str
    variables: tuple[str, ...]
    treated: Any = None

    # -- arrays --------------------------------------------------------------
    def treatment_array(self, data: pd.DataFrame) -> np.ndarray:
        """Return the treatment as a 0/1 integer array."""
        return binary_treatment(data[self.treatment], self.treatment, self.treated)

    def design(self, data: pd.DataFrame, *, intercept: bool = True) -> tuple[np.ndarray, list[str]]:
        """Return the covariate model matrix (float array) and its column names.

        Categorical terms use treatment (reference) coding, as R's ``model.matrix``.
        """
        import formulaic

        rhs = self.rhs if intercept else f"{self.rhs} - 1" if self.rhs != "1" else "0"
        if rhs == "0":
            return np.zeros((len(data), 0)), []
        key = _plan_key(self.rhs, intercept, data)
        plan = _DESIGN_PLANS.get(key) if key is not None else None
        if plan is not None:
            return _build_design(plan, data)
        mm = formulaic.model_matrix(rhs, data, na_action="raise")
        names = [str(c) for c in mm.columns]
        X = np.asarray(mm, dtype=float)
        if not intercept and "Intercept" in names:
            keep = [i for i, c in enumerate(names) if c != "Intercept"]
            X, names = X[:, keep], [names[i] for i in keep]
        if key is not None and key not in _DESIGN_PLANS:
            _remember_plan(key, X, names, data)
        return X, names

    def covariate_frame(self, data: pd.DataFrame) -> pd.DataFrame:
        """Covariates for balance tables: numeric terms as they are, every factor level.

        Each categorical variable contributes one 0/1 column per level (as cobalt
        and MatchIt's ``summary`` show them); numeric and transformed terms
        appear once. The index is the data's index.
        """
        import formulaic

        if self.rhs == "1":
            return pd.DataFrame(index=data.index)
        spec = formulaic.model_matrix(self.rhs + " - 1", data, na_action="raise")
        out = {}
        # full dummy coding: rebuild each categorical factor with all levels
        for col in spec.columns:
            out[str(col)] = np.asarray(spec[col], dtype=float)
        frame = pd.DataFrame(out, index=data.index)
        for var in self.variables:
            series = data[var]
            if _is_categorical(series):
                levels = sorted(pd.unique(series), key=str)
                full = {f"{var}_{lv}": (series == lv).to_numpy(dtype=float) for lv in levels}
                dropped = [c for c in frame.columns if c.startswith((f"C({var})[", f"{var}["))]
                pos = min((list(frame.columns).index(c) for c in dropped), default=len(frame.columns))
                frame = frame.drop(columns=dropped)
                for j, (k, v) in enumerate(full.items()):
                    frame.insert(min(pos + j, frame.shape[1]), k, v)
        return frame


# --------------------------------------------------------------------------- design cache
# Building a model matrix with formulaic costs milliseconds, which dominates power
# simulations that fit thousands of small propensity models. For right-hand sides
# made only of plain numeric columns and ``C(column)`` terms, the matrix is
# rebuilt directly with numpy from a *plan* (intercept, numeric column, or
# indicator of a level). A plan is cached per (rhs, intercept, column dtypes,
# factor levels) -- the levels are re-derived from every data set, so a data set
# with other levels gets its own entry -- and it is only stored after the numpy
# matrix has been checked equal (values and column names) to formulaic's on the
# data set that created the entry. Anything else goes through formulaic.
_DESIGN_PLANS: dict[tuple[Any, ...], tuple[tuple[str, tuple[Any, ...]], ...] | None] = {}
_PLAN_CACHE_SIZE = 512
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_FACTOR = re.compile(r"^C\(([A-Za-z_][A-Za-z0-9_]*)\)$")


def _rhs_terms(rhs: str) -> tuple[tuple[str, str], ...] | None:
    """Split a simple right-hand side into ``(kind, column)`` terms, or None if not simple."""
    return _rhs_terms_cached(rhs)


@functools.lru_cache(maxsize=256)
def _rhs_terms_cached(rhs: str) -> tuple[tuple[str, str], ...] | None:
    out: list[tuple[str, str]] = []
    for raw in rhs.split("+"):
        tok = raw.replace(" ", "")
        if _NAME.match(tok) and not keyword.iskeyword(tok) and tok not in ("C", "I"):
            out.append(("num", tok))
            continue
        m = _FACTOR.match(tok)
        if m and not keyword.iskeyword(m.group(1)):
            out.append(("fac", m.group(1)))
            continue
        return None
    cols = [c for _, c in out]
    if len(set(cols)) != len(cols):
        return None
    return tuple(out)


def _plan_key(rhs: str, intercept: bool, data: pd.DataFrame) -> tuple[Any, ...] | None:
    """Cache key of a simple design (None: use formulaic)."""
    terms = _rhs_terms(rhs)
    if terms is None or not isinstance(data, pd.DataFrame) or not data.columns.is_unique:
        return None
    sig: list[Any] = []
    try:
        for kind, col in terms:
            if col not in data.columns:
                return None
            values = data[col].to_numpy()
            dk = values.dtype.kind
            if kind == "num":
                if dk not in "iuf" or (dk == "f" and np.isnan(values).any()):
                    return None
                sig.append((kind, col, values.dtype.str))
            else:
                if dk not in "iuO" or pd.isna(values).any():
                    return None
                levels = tuple(sorted(pd.unique(values).tolist()))
                if len(levels) < 2:
                    return None
                sig.append((kind, col, values.dtype.str, levels))
    except Exception:  # unorderable levels and the like
        return None
    return (rhs, bool(intercept), tuple(sig))


def _plan_from_key(key: tuple[Any, ...]) -> tuple[tuple[str, tuple[Any, ...]], ...]:
    _, intercept, sig = key
    plan: list[tuple[str, tuple[Any, ...]]] = []
    if intercept:
        plan.append(("Intercept", ("one",)))
    for item in sig:
        if item[0] == "num":
            plan.append((item[1], ("num", item[1])))
        else:
            col, levels = item[1], item[3]
            for lv in levels[1:]:
                plan.append((f"C({col})[T.{lv}]", ("level", col, lv)))
    return tuple(plan)


def _build_design(plan: tuple[tuple[str, tuple[Any, ...]], ...],
                  data: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    # column-major like the matrix formulaic returns (via pandas), so that BLAS/LAPACK see the
    # same memory layout and give bit-identical fits
    X = np.empty((len(data), len(plan)), order="F")
    for j, (_, how) in enumerate(plan):
        if how[0] == "one":
            X[:, j] = 1.0
        elif how[0] == "num":
            X[:, j] = data[how[1]].to_numpy()
        else:
            X[:, j] = data[how[1]].to_numpy() == how[2]
    return X, [name for name, _ in plan]


def _remember_plan(key: tuple[Any, ...], X: np.ndarray, names: list[str],
                   data: pd.DataFrame) -> None:
    """Store the numpy plan for ``key`` if it reproduces formulaic's matrix exactly."""
    if len(_DESIGN_PLANS) >= _PLAN_CACHE_SIZE:
        _DESIGN_PLANS.clear()
    plan: Any = _plan_from_key(key)
    X2, names2 = _build_design(plan, data)
    if (names2 != names or X2.shape != X.shape or not np.array_equal(X2, X)
            or X2.flags.f_contiguous != X.flags.f_contiguous
            or X2.flags.c_contiguous != X.flags.c_contiguous):
        plan = None
    _DESIGN_PLANS[key] = plan


def _is_categorical(series: pd.Series) -> bool:
    return bool(
        isinstance(series.dtype, pd.CategoricalDtype)
        or pd.api.types.is_object_dtype(series)
        or pd.api.types.is_string_dtype(series)
        or pd.api.types.is_bool_dtype(series)
    )


def _first_use(text: str, name: str) -> int:
    """Position of the first whole-word use of ``name`` in a formula (for stable ordering)."""
    import re

    match = re.search(r"(?<![\w.])" + re.escape(name) + r"(?![\w])", text)
    return match.start() if match else len(text)


@functools.lru_cache(maxsize=256)
def _parse_formula(formula: str) -> tuple[tuple[str, ...], frozenset[str]]:
    """Variables of both sides of a formula (parsed once per formula string)."""
    import formulaic

    parsed = formulaic.Formula(formula)
    return (tuple(sorted(parsed.lhs.required_variables)),
            frozenset(parsed.rhs.required_variables))


def make_spec(
    data: pd.DataFrame,
    formula: str | None = None,
    *,
    treatment: str | None = None,
    covariates: Sequence[str] | None = None,
    treated: Any = None,
    data_name: str = "data",
) -> Spec:
    """Build and validate a :class:`Spec` from a formula or from column names.

    Parameters
    ----------
    data : pandas.DataFrame
        The analysis data (never modified).
    formula : str, optional
        ``"treatment ~ covariates"`` in formulaic syntax.
    treatment : str, optional
        Treatment column (alternative to ``formula``).
    covariates : sequence of str, optional
        Covariate columns (alternative to ``formula``). String/categorical
        columns are treated as factors, as ``C()`` would.
    treated : object, optional
        Treated level of a two-level treatment that is not 0/1 or bool.
    data_name : str
        Name of the data argument in messages.

    Returns
    -------
    Spec

    Raises
    ------
    SpecificationError
        Neither or both of ``formula`` and ``treatment`` given, or a malformed formula.
    DataError
        A named column is absent, has missing values, or the treatment is not binary.

    Examples
    --------
    >>> df = pd.DataFrame({"pa": [0, 1, 1, 0], "sex": list("fmff"), "age": [20, 30, 40, 50]})
    >>> make_spec(df, "pa ~ age + C(sex)").variables
    ('age', 'sex')
    """
    data = check_frame(data, data_name)
    if formula is not None and (treatment is not None or covariates is not None):
        raise SpecificationError(
            "give either `formula` or `treatment=`/`covariates=`, not both"
        )
    if formula is None:
        if treatment is None:
            raise SpecificationError(
                "give a `formula` such as 'pa ~ age + C(sex)' or `treatment=` and `covariates=`"
            )
        if not isinstance(treatment, str):
            raise SpecificationError(f"`treatment` must be a column name; got {treatment!r}")
        covariates = [] if covariates is None else covariates
        if isinstance(covariates, str):
            covariates = [covariates]
        covariates = list(covariates)
        for c in covariates:
            if not isinstance(c, str):
                raise SpecificationError(f"`covariates` must be column names; got {c!r}")
        check_columns(data, [treatment], "treatment")
        check_columns(data, covariates, "covariates")
        terms = []
        for c in covariates:
            t = _term(c)
            terms.append(f"C({t})" if _is_categorical(data[c]) and not pd.api.types.is_bool_dtype(data[c]) else t)
        formula = f"{_term(treatment)} ~ " + (" + ".join(terms) if terms else "1")
    if not isinstance(formula, str) or "~" not in formula:
        raise SpecificationError(
            f"`formula` must be a string like 'pa ~ age + C(sex)'; got {formula!r}"
        )
    try:
        lhs_vars_t, rhs_vars_fs = _parse_formula(formula)
        lhs_vars = list(lhs_vars_t)
        rhs_vars_set = set(rhs_vars_fs)
    except Exception as exc:  # formulaic raises several parser error types
        raise SpecificationError(f"could not parse `formula` {formula!r}: {exc}") from exc
    if len(lhs_vars) != 1:
        raise SpecificationError(
            f"the left-hand side of `formula` must be one treatment column; got {lhs_vars}"
        )
    treatment_col = lhs_vars[0]
    lhs_text, rhs_text = formula.split("~", 1)
    rhs_text = rhs_text.strip() or "1"
    # keep first-use order of variables for stable output
    order = sorted(
        (v for v in data.columns if v in rhs_vars_set), key=lambda v: _first_use(rhs_text, v)
    )
    unknown = sorted(v for v in rhs_vars_set if v not in data.columns)
    check_columns(data, [treatment_col], "formula")
    if unknown:
        check_columns(data, unknown, "formula")
    if treatment_col in rhs_vars_set:
        raise SpecificationError(
            f"treatment column {treatment_col!r} also appears on the right-hand side of `formula`"
        )
    check_no_missing(data, [treatment_col, *order])
    binary_treatment(data[treatment_col], treatment_col, treated)
    return Spec(
        formula=f"{lhs_text.strip()} ~ {rhs_text}",
        treatment=treatment_col,
        rhs=rhs_text,
        variables=tuple(order),
        treated=treated,
    )
