"""The one formula front end: formulas or column names -> a frozen :class:`Spec`.

Every model in causalpa reads its variables through this module: propensity and
treatment models (``"pa ~ age + C(sex)"`` or ``treatment=`` / ``covariates=``), outcome
models of the longitudinal estimators (``"phq9 ~ session * pa"``), and right-hand sides
given on their own (``adjust=``, ``outcome_covariates=``, ``re_formula=``). Formulas are
parsed by formulaic, so ``C()``, interactions and ``I()`` work; column names become the
same formula (string and categorical columns wrapped in ``C()``), so both routes give
identical numbers.

A :class:`Spec` is *bound* to the data it was made from: it keeps formulaic's
``ModelSpec`` (the structure and the encoder state, e.g. factor levels), the model-matrix
column names, and which columns each variable produced. :meth:`Spec.design` builds the
matrix for that data or for new data with the same encoding (prediction). For
right-hand sides made only of numeric columns and ``C(column)`` factors, the spec also
keeps a *plan* that rebuilds the matrix with numpy; the plan is checked equal (values,
names and memory layout) to formulaic's matrix when the spec is made, and it is used only
for data whose column types and factor levels match. :meth:`Spec.bind` re-binds a spec to
another data set of the same shape without formulaic, which is what keeps thousands of
simulated replicates fast. There is no module-level cache of designs: a design's state
lives in its spec.

Validation of data and options lives in :mod:`causalpa._validation`.

Examples
--------
>>> import pandas as pd
>>> from causalpa._spec import make_spec
>>> df = pd.DataFrame({"pa": [0, 1, 0, 1], "age": [30, 40, 50, 60.0]})
>>> spec = make_spec(df, "pa ~ age")
>>> spec.treatment, spec.variables, spec.columns
('pa', ('age',), ('Intercept', 'age'))
>>> make_spec(df, treatment="pa", covariates=["age"]) == spec
True
"""

from __future__ import annotations

import functools
import keyword
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import pandas as pd

from causalpa._validation import (
    binary_treatment,
    check_columns,
    check_frame,
    check_no_missing,
)
from causalpa.errors import DataError, SpecificationError

__all__ = [
    "Spec",
    "make_spec",
    "model_spec",
    "terms_spec",
    "is_categorical",
    "terms_from_columns",
    "parse_formula",
]

Role = Literal["treatment", "outcome", "terms"]


# =========================================================================== definitions
def is_categorical(series: pd.Series) -> bool:
    """Whether a column is categorical for causalpa (the one definition in the package).

    Categorical dtype, object (text) and string columns are factors; booleans are
    categorical too (formulaic encodes them as one 0/1 column). Numbers are numeric.

    Examples
    --------
    >>> is_categorical(pd.Series(["f", "m"])), is_categorical(pd.Series([1.0, 2.0]))
    (True, False)
    """
    return bool(
        isinstance(series.dtype, pd.CategoricalDtype)
        or pd.api.types.is_object_dtype(series)
        or pd.api.types.is_string_dtype(series)
        or pd.api.types.is_bool_dtype(series)
    )


def quote_term(name: str) -> str:
    """Quote a column name for formulaic when it is not a plain identifier.

    Examples
    --------
    >>> quote_term("age"), quote_term("baseline score")
    ('age', '`baseline score`')
    """
    if name.isidentifier() and not keyword.iskeyword(name):
        return name
    return "`" + name.replace("`", "") + "`"


def terms_from_columns(data: pd.DataFrame, columns: Sequence[str]) -> str:
    """Return the right-hand side naming ``columns``: factors as ``C(column)``, ``"1"`` if none.

    Examples
    --------
    >>> terms_from_columns(pd.DataFrame({"age": [1.0], "sex": ["f"]}), ["age", "sex"])
    'age + C(sex)'
    """
    terms = []
    for c in columns:
        t = quote_term(c)
        s = data[c]
        terms.append(f"C({t})" if is_categorical(s) and not pd.api.types.is_bool_dtype(s) else t)
    return " + ".join(terms) if terms else "1"


@dataclass(frozen=True)
class ParsedFormula:
    """A formula split into its sides and the variables each side reads."""

    lhs: str
    rhs: str
    lhs_variables: tuple[str, ...]
    rhs_variables: frozenset[str]


@functools.lru_cache(maxsize=512)
def _parse(text: str, has_lhs: bool) -> ParsedFormula:
    import formulaic

    if has_lhs:
        lhs, rhs = (s.strip() for s in text.split("~", 1))
        parsed = formulaic.Formula(text)
        return ParsedFormula(lhs, rhs or "1", tuple(sorted(parsed.lhs.required_variables)),
                             frozenset(parsed.rhs.required_variables))
    parsed = formulaic.Formula(text)
    return ParsedFormula("", text, (), frozenset(parsed.required_variables))


def parse_formula(formula: Any, argument: str = "formula", *, lhs: bool = True,
                  example: str = "'pa ~ age + C(sex)'") -> ParsedFormula:
    """Parse a formula (``lhs=True``) or a right-hand side such as ``"~session"``.

    Raises :class:`~causalpa.errors.SpecificationError` naming ``argument`` when the
    text is not a formula formulaic can read.

    Examples
    --------
    >>> p = parse_formula("phq9 ~ session * pa")
    >>> p.lhs, p.rhs, p.lhs_variables, sorted(p.rhs_variables)
    ('phq9', 'session * pa', ('phq9',), ['pa', 'session'])
    >>> parse_formula("~session", "re_formula", lhs=False).rhs
    'session'
    """
    if lhs:
        if not isinstance(formula, str) or "~" not in formula:
            raise SpecificationError(f"`{argument}` must be a string like {example}; got {formula!r}")
        if not formula.split("~", 1)[0].strip():
            raise SpecificationError(
                f"`{argument}` needs a column on the left of '~'; got {formula!r}")
        text = formula
    else:
        if not isinstance(formula, str):
            raise SpecificationError(
                f"`{argument}` must be a right-hand side like {example}; got {formula!r}")
        text = formula.strip()
        text = (text[1:] if text.startswith("~") else text).strip() or "1"
        if "~" in text:
            raise SpecificationError(
                f"`{argument}` takes a right-hand side only, like {example}; got {formula!r}")
    try:
        return _parse(text, lhs)
    except SpecificationError:
        raise
    except Exception as exc:  # formulaic raises several parser error types
        raise SpecificationError(f"could not parse `{argument}` {formula!r}: {exc}") from exc


def _first_use(text: str, name: str) -> int:
    """Position of the first whole-word use of ``name`` in a formula (for stable ordering)."""
    match = re.search(r"(?<![\w.])" + re.escape(name) + r"(?![\w])", text)
    return match.start() if match else len(text)


# =========================================================================== numpy plans
# A plan rebuilds the model matrix of a simple right-hand side (plain numeric columns and
# C(column) factors) with numpy: formulaic's machinery costs milliseconds, which dominates
# simulations that fit thousands of small models. A plan is derived from the data's column
# types and factor levels (its *signature*) and is used only after its matrix has been
# checked equal to formulaic's (values, column names and memory layout) on the data the
# spec was made from, and only for data with the same signature.
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_FACTOR = re.compile(r"^C\(([A-Za-z_][A-Za-z0-9_]*)\)$")
PlanStep = tuple[str, tuple[Any, ...]]


@functools.lru_cache(maxsize=512)
def _simple_terms(rhs: str) -> tuple[tuple[str, str], ...] | None:
    """Split a simple right-hand side into ``(kind, column)`` terms, or None if not simple."""
    out: list[tuple[str, str]] = []
    for raw in rhs.split("+"):
        tok = raw.replace(" ", "")
        if _NAME.match(tok) and not keyword.iskeyword(tok) and tok not in ("C", "I", "Q"):
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


def _signature(rhs: str, data: pd.DataFrame) -> tuple[Any, ...] | None:
    """Column types and factor levels of a simple right-hand side on ``data`` (None: not simple)."""
    terms = _simple_terms(rhs)
    if terms is None or not data.columns.is_unique:
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
    return tuple(sig)


def _plan(signature: tuple[Any, ...]) -> tuple[PlanStep, ...]:
    plan: list[PlanStep] = [("Intercept", ("one",))]
    for item in signature:
        if item[0] == "num":
            plan.append((item[1], ("num", item[1])))
        else:
            col, levels = item[1], item[3]
            for lv in levels[1:]:
                plan.append((f"C({col})[T.{lv}]", ("level", col, lv)))
    return tuple(plan)


def _run_plan(plan: tuple[PlanStep, ...], data: pd.DataFrame) -> np.ndarray:
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
    return X


def _same_matrix(A: np.ndarray, B: np.ndarray) -> bool:
    return (A.shape == B.shape and np.array_equal(A, B)
            and A.flags.f_contiguous == B.flags.f_contiguous
            and A.flags.c_contiguous == B.flags.c_contiguous)


@dataclass(frozen=True)
class _Encoding:
    """What a spec learned from its data: formulaic's ModelSpec, column names, the plan."""

    model_spec: Any
    columns: tuple[str, ...]
    variable_columns: tuple[tuple[str, tuple[str, ...]], ...]
    matrix: np.ndarray  # the design of the data the spec was made from (read-only)
    signature: tuple[Any, ...] | None = None
    plan: tuple[PlanStep, ...] | None = None


def _readonly(X: np.ndarray) -> np.ndarray:
    X.setflags(write=False)
    return X


def _encode(rhs: str, data: pd.DataFrame, variables: Sequence[str],
            template: _Encoding | None = None) -> _Encoding:
    """Build the model matrix of ``rhs`` on ``data`` and the encoding that rebuilds it."""
    signature = _signature(rhs, data)
    if template is not None and template.plan is not None and signature == template.signature:
        return replace(template, matrix=_readonly(_run_plan(template.plan, data)))
    import formulaic

    try:
        mm = formulaic.model_matrix(rhs, data, na_action="raise")
    except Exception as exc:
        text = str(exc).lower()
        if any(w in text for w in ("missing", "null", "nan")):
            raise DataError(f"could not build the model matrix of {rhs!r}: {exc}") from exc
        raise SpecificationError(f"could not build the model matrix of {rhs!r}: {exc}") from exc
    X = np.asarray(mm, dtype=float)
    names = tuple(str(c) for c in mm.columns)
    ms = mm.model_spec
    by_var: dict[str, list[str]] = {v: [] for v in variables}
    for term, slc in ms.term_slices.items():
        used = [v for v in variables if v in ms.term_variables.get(term, set())]
        for v in used:
            by_var[v].extend(names[slc])
    plan = None
    if signature is not None:
        candidate = _plan(signature)
        if [n for n, _ in candidate] == list(names) and _same_matrix(_run_plan(candidate, data), X):
            plan = candidate
    return _Encoding(model_spec=ms, columns=names,
                     variable_columns=tuple((v, tuple(c)) for v, c in by_var.items()),
                     matrix=_readonly(X), signature=signature if plan is not None else None,
                     plan=plan)


# =========================================================================== the spec
@dataclass(frozen=True)
class Spec:
    """A validated model specification bound to its data (frozen; see the module notes).

    Attributes
    ----------
    formula : str
        Canonical formula ``"lhs ~ rhs"`` (``"~ rhs"`` for a right-hand side alone).
    lhs : str or None
        The response: the treatment column of a treatment model, the outcome of an
        outcome model (a formulaic expression such as ``incidence / size`` is kept as
        text); None for a right-hand side alone.
    rhs : str
        Right-hand side (``"1"`` if there are no terms).
    variables : tuple of str
        Data columns read by the right-hand side, in order of first use.
    role : {"treatment", "outcome", "terms"}
        What the left-hand side is.
    treated : object
        Level of the treatment column meaning "treated" (None for 0/1 or bool).
    columns : tuple of str
        Model-matrix column names (with ``"Intercept"`` unless the formula drops it).
    """

    formula: str
    lhs: str | None
    rhs: str
    variables: tuple[str, ...]
    role: Role = "treatment"
    treated: Any = None
    _encoding: _Encoding | None = field(default=None, repr=False, compare=False)

    # ------------------------------------------------------------------ names
    @property
    def treatment(self) -> str:
        """The treatment column (treatment models)."""
        if self.role != "treatment" or self.lhs is None:
            raise AttributeError("this spec is not a treatment model")
        return self.lhs

    @property
    def outcome(self) -> str:
        """The outcome (outcome models)."""
        if self.role != "outcome" or self.lhs is None:
            raise AttributeError("this spec is not an outcome model")
        return self.lhs

    @property
    def columns(self) -> tuple[str, ...]:
        """Model-matrix column names."""
        return self._enc.columns

    @property
    def model_spec(self) -> Any:
        """Formulaic's ``ModelSpec`` of the right-hand side (structure and encoder state)."""
        return self._enc.model_spec

    def variable_columns(self, variable: str) -> tuple[str, ...]:
        """Model-matrix columns built from ``variable`` (e.g. every level of a factor)."""
        return dict(self._enc.variable_columns)[variable]

    @property
    def _enc(self) -> _Encoding:
        if self._encoding is None:  # pragma: no cover - every constructor binds the spec
            raise RuntimeError("the spec is not bound to data")
        return self._encoding

    # ------------------------------------------------------------------ arrays
    def treatment_array(self, data: pd.DataFrame) -> np.ndarray:
        """Return the treatment as a 0/1 integer array."""
        return binary_treatment(data[self.treatment], self.treatment, self.treated)

    def design(self, data: pd.DataFrame | None = None, *,
               intercept: bool = True) -> tuple[np.ndarray, list[str]]:
        """Return the model matrix (float array) and its column names.

        Without ``data``: the matrix of the data the spec was made from (built once,
        read-only). With ``data``: the matrix of new data with the same variables;
        factor levels are those learnt when the spec was made (categorical terms use
        treatment coding, as R's ``model.matrix``). ``intercept=False`` drops the
        intercept column (the coding of the other columns is unchanged).
        """
        enc = self._enc
        if data is None:
            X = enc.matrix
        elif enc.plan is not None and _signature(self.rhs, data) == enc.signature:
            X = _run_plan(enc.plan, data)
        else:
            X = _materialise(enc.model_spec, self.rhs, data)
        names = list(enc.columns)
        if not intercept and "Intercept" in names:
            keep = [i for i, c in enumerate(names) if c != "Intercept"]
            X, names = X[:, keep], [names[i] for i in keep]
        return X, names

    def bind(self, data: pd.DataFrame) -> Spec:
        """Bind the same specification to other data (validated; the plan is reused).

        Examples
        --------
        >>> df = pd.DataFrame({"pa": [0, 1, 0, 1], "age": [30, 40, 50, 60.0]})
        >>> spec = make_spec(df, "pa ~ age")
        >>> spec.bind(df.iloc[::-1]) == spec
        True
        """
        if self.role == "treatment":
            return make_spec(data, self)
        if self.role == "outcome":
            return model_spec(data, self)
        return terms_spec(data, self)

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
        out = {str(col): np.asarray(spec[col], dtype=float) for col in spec.columns}
        frame = pd.DataFrame(out, index=data.index)
        for var in self.variables:
            series = data[var]
            if is_categorical(series):
                levels = sorted(pd.unique(series), key=str)
                full = {f"{var}_{lv}": (series == lv).to_numpy(dtype=float) for lv in levels}
                dropped = [c for c in frame.columns if c.startswith((f"C({var})[", f"{var}["))]
                pos = min((list(frame.columns).index(c) for c in dropped), default=len(frame.columns))
                frame = frame.drop(columns=dropped)
                for j, (k, v) in enumerate(full.items()):
                    frame.insert(min(pos + j, frame.shape[1]), k, v)
        return frame


def _materialise(model_spec: Any, rhs: str, data: pd.DataFrame) -> np.ndarray:
    """Model matrix of new data with a fitted encoding; unseen factor levels are refused.

    (formulaic codes a level it has not seen as the reference level and only warns.)
    """
    import warnings

    from formulaic.errors import DataMismatchWarning

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", DataMismatchWarning)
            return np.asarray(model_spec.get_model_matrix(data, na_action="raise"), dtype=float)
    except DataMismatchWarning as exc:
        raise DataError(f"`data` has a factor level that the model of {rhs!r} was not fitted "
                        f"with: {exc}") from None
    except Exception as exc:
        raise DataError(f"could not build the model matrix of {rhs!r} for this data: "
                        f"{exc}") from exc


# =========================================================================== constructors
def _ordered_variables(data: pd.DataFrame, rhs_text: str, names: frozenset[str]) -> list[str]:
    return sorted((v for v in data.columns if v in names), key=lambda v: _first_use(rhs_text, v))


def make_spec(
    data: pd.DataFrame,
    formula: str | Spec | None = None,
    *,
    treatment: str | None = None,
    covariates: Sequence[str] | None = None,
    treated: Any = None,
    data_name: str = "data",
) -> Spec:
    """Build and validate a treatment :class:`Spec` from a formula or from column names.

    Parameters
    ----------
    data : pandas.DataFrame
        The analysis data (never modified).
    formula : str or Spec, optional
        ``"treatment ~ covariates"`` in formulaic syntax, or a spec made earlier (it is
        re-bound to ``data``; a numpy plan is reused when the data have the same
        column types and factor levels).
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
    template: _Encoding | None = None
    if isinstance(formula, Spec):
        if treatment is not None or covariates is not None:
            raise SpecificationError("give either `formula` or `treatment=`/`covariates=`, not both")
        if formula.role != "treatment":
            raise SpecificationError("`formula` is a spec of another kind of model")
        template = formula._encoding
        treated = formula.treated if treated is None else treated
        formula = formula.formula
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
        formula = f"{quote_term(treatment)} ~ " + terms_from_columns(data, covariates)
    parsed = parse_formula(formula)
    if len(parsed.lhs_variables) != 1:
        raise SpecificationError(
            f"the left-hand side of `formula` must be one treatment column; got "
            f"{list(parsed.lhs_variables)}"
        )
    treatment_col = parsed.lhs_variables[0]
    rhs_vars = parsed.rhs_variables
    order = _ordered_variables(data, parsed.rhs, rhs_vars)
    unknown = sorted(v for v in rhs_vars if v not in data.columns)
    check_columns(data, [treatment_col], "formula")
    if unknown:
        check_columns(data, unknown, "formula")
    if treatment_col in rhs_vars:
        raise SpecificationError(
            f"treatment column {treatment_col!r} also appears on the right-hand side of `formula`"
        )
    check_no_missing(data, [treatment_col, *order])
    binary_treatment(data[treatment_col], treatment_col, treated)
    enc = _encode(parsed.rhs, data, order, template)
    return Spec(formula=f"{parsed.lhs} ~ {parsed.rhs}", lhs=treatment_col, rhs=parsed.rhs,
                variables=tuple(order), role="treatment", treated=treated, _encoding=enc)


def model_spec(
    data: pd.DataFrame,
    formula: str | Spec,
    *,
    argument: str = "formula",
    lhs: Literal["column", "expression"] = "expression",
    example: str = "'phq9 ~ session * pa'",
) -> Spec:
    """Build an outcome-model :class:`Spec` (``"phq9 ~ session * pa"``) for ``data``.

    Parameters
    ----------
    data : pandas.DataFrame
        The data (never modified).
    formula : str or Spec
        ``"outcome ~ terms"``; the left-hand side may be a formulaic expression
        (``lhs="expression"``, evaluated by :func:`response`) or must be one column
        (``lhs="column"``).
    argument : str
        Name of the argument in messages.
    lhs : {"column", "expression"}
        What the left-hand side may be.
    example : str
        Example formula shown in messages.

    Returns
    -------
    Spec
        With ``role="outcome"``; ``variables`` are the right-hand side's columns.

    Examples
    --------
    >>> d = pd.DataFrame({"phq9": [10.0, 8, 7, 9], "session": [0, 1, 0, 1], "pa": [0, 0, 1, 1]})
    >>> s = model_spec(d, "phq9 ~ session * pa")
    >>> s.outcome, s.columns
    ('phq9', ('Intercept', 'session', 'pa', 'session:pa'))
    """
    data = check_frame(data, "data")
    template = None
    if isinstance(formula, Spec):
        template, formula = formula._encoding, formula.formula
    parsed = parse_formula(formula, argument, example=example)
    if lhs == "column" and (len(parsed.lhs_variables) != 1
                            or parsed.lhs.strip("` ") != parsed.lhs_variables[0]):
        raise SpecificationError(
            f"the left-hand side of `{argument}` must be one outcome column; got "
            f"{parsed.lhs!r} (transform the column in the data first)")
    unknown = sorted((set(parsed.rhs_variables) | set(parsed.lhs_variables)) - set(data.columns))
    if unknown:
        check_columns(data, unknown, argument)
    order = _ordered_variables(data, parsed.rhs, parsed.rhs_variables)
    check_no_missing(data, [*[v for v in parsed.lhs_variables if v in data.columns], *order])
    lhs_name = parsed.lhs_variables[0] if lhs == "column" else parsed.lhs
    enc = _encode(parsed.rhs, data, order, template)
    return Spec(formula=f"{parsed.lhs} ~ {parsed.rhs}", lhs=lhs_name, rhs=parsed.rhs,
                variables=tuple(order), role="outcome", _encoding=enc)


def response(data: pd.DataFrame, spec: Spec) -> np.ndarray:
    """Return the response of an outcome spec on ``data`` as floats (column or expression).

    Examples
    --------
    >>> d = pd.DataFrame({"y": [1.0, 2.0], "x": [0.0, 1.0]})
    >>> response(d, model_spec(d, "y ~ x")).tolist()
    [1.0, 2.0]
    """
    name = spec.lhs or ""
    if name in data.columns:
        col = data[name]
        if not (pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col)):
            raise DataError(f"outcome column {name!r} must be numeric or bool")
        return col.to_numpy(dtype=float)
    import formulaic

    ymat = formulaic.model_matrix(name + " ~ 1", data, na_action="raise").lhs
    if ymat.shape[1] != 1:
        raise SpecificationError(
            f"the left-hand side of `formula` must give one numeric outcome; {name!r} "
            f"gives {ymat.shape[1]} columns"
        )
    return np.asarray(ymat, dtype=float).reshape(-1)


def terms_spec(
    data: pd.DataFrame,
    terms: str | Sequence[str] | Spec,
    argument: str = "adjust",
    *,
    example: str = "'age + C(sex)'",
) -> Spec:
    """Build a spec of a right-hand side alone (``"~ age + C(sex)"``, ``"age + C(sex)"``, columns).

    Used for ``adjust=``, ``outcome_covariates=`` and ``re_formula=``. Column names
    become terms as in :func:`make_spec` (factors wrapped in ``C()``).

    Examples
    --------
    >>> d = pd.DataFrame({"age": [30.0, 40, 50], "sex": ["f", "m", "f"]})
    >>> terms_spec(d, ["age", "sex"]).columns
    ('Intercept', 'age', 'C(sex)[T.m]')
    >>> terms_spec(d, "~ age").rhs
    'age'
    """
    data = check_frame(data, "data")
    template = None
    if isinstance(terms, Spec):
        template, text = terms._encoding, terms.rhs
    elif isinstance(terms, str):
        text = terms
        if "~" in terms:
            lhs, text = terms.split("~", 1)
            if lhs.strip():
                raise SpecificationError(
                    f"`{argument}` takes a right-hand side only, like {example}; got {terms!r}")
    else:
        try:
            cols = list(terms)
        except TypeError:
            raise SpecificationError(
                f"`{argument}` must be a right-hand side like {example} or a list of column "
                f"names; got {terms!r}") from None
        if not all(isinstance(c, str) for c in cols):
            raise SpecificationError(f"`{argument}` must be column names; got {terms!r}")
        check_columns(data, cols, argument)
        text = terms_from_columns(data, cols)
    parsed = parse_formula(text, argument, lhs=False, example=example)
    unknown = sorted(set(parsed.rhs_variables) - set(data.columns))
    if unknown:
        check_columns(data, unknown, argument)
    order = _ordered_variables(data, parsed.rhs, parsed.rhs_variables)
    check_no_missing(data, order)
    enc = _encode(parsed.rhs, data, order, template)
    return Spec(formula=f"~ {parsed.rhs}", lhs=None, rhs=parsed.rhs, variables=tuple(order),
                role="terms", _encoding=enc)


def with_encoding(spec: Spec, template: Spec) -> Spec:
    """``spec`` with the encoding of ``template`` (same formula; used for prediction)."""
    return replace(spec, _encoding=template._encoding)
