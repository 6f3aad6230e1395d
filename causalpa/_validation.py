"""Declared options and the one input validator used by every public function.

Two halves:

**Declared options.** Each public function declares its options once, as ``Literal``
types in its signature and, for anything a ``Literal`` cannot say (ranges, column names,
random generators, estimators), as constraints in :func:`validate_params`, in the spirit
of scikit-learn's ``validate_params``. The decorator checks every call, names the
argument and the allowed values in a :class:`~causalpa.errors.SpecificationError`
("`caliper` must be a number >= 0 or None; got -1"), passes the canonical spelling on
(``"att"`` becomes ``"ATT"``), and records the declarations in
``function.__causalpa_params__`` so that tests can generate bad inputs from them.

**Data validators.** Frames, columns, missing values, the binary treatment, weights and
outcomes are checked by the functions of :mod:`causalpa._data_checks`, re-exported here
so that every validator is imported from one place; every message names the argument or
column at fault and, where useful, the rows.

Examples
--------
>>> from typing import Literal
>>> from causalpa._validation import Number, validate_params
>>> @validate_params({"ratio": Number(low=1, integer=True)})
... def f(*, estimand: Literal["ATT", "ATC"] = "ATT", ratio: int = 1):
...     return estimand, ratio
>>> f(estimand="atc", ratio=2)
('ATC', 2)
>>> f(ratio=0)
Traceback (most recent call last):
...
causalpa.errors.SpecificationError: `ratio` must be an integer >= 1; got 0
"""

from __future__ import annotations

import functools
import inspect
import numbers
import typing
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from causalpa._data_checks import (
    MEASURES,
    _quote,
    binary_treatment,
    check_arm_sizes,
    check_columns,
    check_frame,
    check_no_missing,
    check_outcome,
    check_weights,
    format_rows,
)
from causalpa.errors import SpecificationError

__all__ = [
    "Constraint",
    "Options",
    "Registered",
    "Number",
    "Boolean",
    "Column",
    "Columns",
    "RandomState",
    "Classifier",
    "Estimator",
    "Numbers",
    "Instance",
    "Pair",
    "ColumnPair",
    "NONE",
    "CONF_LEVEL",
    "validate_params",
    "declared_params",
    "check_option",
    "check_number",
    "check_frame",
    "check_columns",
    "check_no_missing",
    "binary_treatment",
    "check_weights",
    "check_arm_sizes",
    "check_outcome",
    "format_rows",
    "as_generator",
    "MEASURES",
    "as_seed",
]


T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


# =========================================================================== constraints
class Constraint:
    """One allowed form of an argument (a declared option).

    Subclasses say whether a value satisfies them (:meth:`accepts`), return its
    canonical form (:meth:`canonical`), describe themselves for messages
    (:meth:`describe`) and give a few values that do and do not satisfy them
    (:meth:`valid_examples`, :meth:`invalid_examples`) for generated tests.
    """

    def accepts(self, value: Any) -> bool:
        """Whether ``value`` satisfies the constraint."""
        raise NotImplementedError

    def canonical(self, value: Any) -> Any:
        """Return the value to pass on (e.g. the canonical spelling of an option)."""
        return value

    def describe(self) -> str:
        """Describe the allowed values ("a number >= 0")."""
        raise NotImplementedError

    def valid_examples(self) -> list[Any]:
        """Values that satisfy the constraint."""
        return []

    def invalid_examples(self) -> list[Any]:
        """Values that do not (used to generate tests of the error messages)."""
        return []


class _NoneConstraint(Constraint):
    def accepts(self, value: Any) -> bool:
        return value is None

    def describe(self) -> str:
        return "None"

    def valid_examples(self) -> list[Any]:
        return [None]


NONE = _NoneConstraint()
"""The constraint "the value may be None"."""


class Options(Constraint):
    """One of a fixed set of values (strings compared case-insensitively by default).

    Examples
    --------
    >>> c = Options("ATE", "ATT")
    >>> c.accepts("att"), c.canonical("att"), c.describe()
    (True, 'ATT', "one of 'ATE', 'ATT'")
    """

    def __init__(self, *values: Any, case_sensitive: bool = False) -> None:
        self.values = tuple(values)
        self.case_sensitive = case_sensitive

    def _find(self, value: Any) -> tuple[bool, Any]:
        for option in self.values:
            if value is option:
                return True, option
            if isinstance(value, str) and isinstance(option, str):
                if value == option or (not self.case_sensitive and value.lower() == option.lower()):
                    return True, option
            elif not isinstance(value, (str, bool, np.bool_)) and not isinstance(option, str):
                try:
                    if value == option:
                        return True, option
                except (TypeError, ValueError):
                    continue
        return False, None

    def accepts(self, value: Any) -> bool:
        return self._find(value)[0]

    def canonical(self, value: Any) -> Any:
        return self._find(value)[1]

    def describe(self) -> str:
        return f"one of {_quote(self.values)}"

    def valid_examples(self) -> list[Any]:
        return list(self.values)

    def invalid_examples(self) -> list[Any]:
        return ["not-an-option", 3.5]


class Registered(Constraint):
    """A name in a registry that can grow (matching methods, distances, analyses, ...).

    Checked against the registry's keys at call time, so methods registered by users
    are accepted; strings are compared case-insensitively.

    Examples
    --------
    >>> methods = {"nearest": None}
    >>> c = Registered(methods, "matching method")
    >>> methods["mine"] = None
    >>> c.canonical("Mine"), c.describe()
    ('mine', "one of 'nearest', 'mine' (registered matching methods)")
    """

    def __init__(self, registry: Any, what: str) -> None:
        self.registry, self.what = registry, what

    def accepts(self, value: Any) -> bool:
        return isinstance(value, str) and Options(*self.registry).accepts(value)

    def canonical(self, value: Any) -> Any:
        return Options(*self.registry).canonical(value)

    def describe(self) -> str:
        return f"one of {_quote(self.registry)} (registered {self.what}s)"

    def valid_examples(self) -> list[Any]:
        return list(self.registry)

    def invalid_examples(self) -> list[Any]:
        return ["not-registered", 3]


class Number(Constraint):
    """A finite real number (or integer) inside a range.

    Examples
    --------
    >>> Number(low=0, high=1, low_inclusive=False).describe()
    'a number > 0 and <= 1'
    >>> Number(low=1, integer=True).canonical(2.0)
    2
    """

    def __init__(self, *, low: float | None = None, high: float | None = None,
                 low_inclusive: bool = True, high_inclusive: bool = True,
                 integer: bool = False) -> None:
        self.low, self.high = low, high
        self.low_inclusive, self.high_inclusive = low_inclusive, high_inclusive
        self.integer = integer

    def accepts(self, value: Any) -> bool:
        if not isinstance(value, numbers.Real) or isinstance(value, (bool, np.bool_)):
            return False
        if self.integer and not (isinstance(value, numbers.Integral)
                                 or (isinstance(value, float) and value.is_integer())):
            return False
        if not np.isfinite(float(value)):
            return False
        v = float(value)
        if self.low is not None and not (v >= self.low if self.low_inclusive else v > self.low):
            return False
        return self.high is None or bool(v <= self.high if self.high_inclusive else v < self.high)

    def canonical(self, value: Any) -> Any:
        return int(value) if self.integer else value

    def describe(self) -> str:
        kind = "an integer" if self.integer else "a number"
        bounds = []
        if self.low is not None:
            bounds.append(f"{'>=' if self.low_inclusive else '>'} {self.low:g}")
        if self.high is not None:
            bounds.append(f"{'<=' if self.high_inclusive else '<'} {self.high:g}")
        return kind + (" " + " and ".join(bounds) if bounds else "")

    def valid_examples(self) -> list[Any]:
        low = self.low if self.low is not None else (self.high - 1 if self.high is not None
                                                     else 0)
        if not self.low_inclusive:
            low = low + (1 if self.integer else min(0.5, (self.high - low) / 2
                                                   if self.high is not None else 0.5))
        return [int(low) if self.integer else low]

    def invalid_examples(self) -> list[Any]:
        out: list[Any] = ["1", float("nan"), float("inf"), True]
        if self.low is not None:
            out.append(self.low - 1 if self.low_inclusive else self.low)
        if self.high is not None:
            out.append(self.high + 1 if self.high_inclusive else self.high)
        if self.integer:
            out.append((self.low if self.low is not None else 0) + 1.5)
        return out


CONF_LEVEL = Number(low=0, high=1, low_inclusive=False, high_inclusive=False)
"""The constraint of every ``conf_level`` argument: a number strictly between 0 and 1."""


class Boolean(Constraint):
    """``True`` or ``False`` (numpy booleans too)."""

    def accepts(self, value: Any) -> bool:
        return isinstance(value, (bool, np.bool_))

    def canonical(self, value: Any) -> Any:
        return bool(value)

    def describe(self) -> str:
        return "True or False"

    def valid_examples(self) -> list[Any]:
        return [True, False]

    def invalid_examples(self) -> list[Any]:
        return ["yes", 2]


class Column(Constraint):
    """A column name (a string); whether it is in the data is checked with the data."""

    def accepts(self, value: Any) -> bool:
        return isinstance(value, str)

    def describe(self) -> str:
        return "a column name"

    def invalid_examples(self) -> list[Any]:
        return [3, ["a", "b"]]


class Columns(Constraint):
    """A column name or a sequence of column names (canonical form: a list)."""

    def accepts(self, value: Any) -> bool:
        if isinstance(value, str):
            return True
        if isinstance(value, (Sequence, pd.Index, np.ndarray)) and not isinstance(value, bytes):
            return all(isinstance(v, str) for v in value)
        return False

    def canonical(self, value: Any) -> Any:
        return [value] if isinstance(value, str) else list(value)

    def describe(self) -> str:
        return "a column name or a list of column names"

    def invalid_examples(self) -> list[Any]:
        return [3, [1, 2]]


class RandomState(Constraint):
    """A source of randomness as Scientific Python SPEC 7 (``rng``).

    ``None`` (fresh entropy), a non-negative integer seed, a
    :class:`numpy.random.SeedSequence`, a :class:`numpy.random.BitGenerator` or a
    :class:`numpy.random.Generator` (used as it is, so its state advances).
    """

    def accepts(self, value: Any) -> bool:
        if value is None or isinstance(value, (np.random.Generator, np.random.SeedSequence,
                                               np.random.BitGenerator)):
            return True
        return (isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))
                and int(value) >= 0)

    def describe(self) -> str:
        return "None, an integer seed >= 0 or a numpy.random.Generator"

    def valid_examples(self) -> list[Any]:
        return [None, 0, np.random.default_rng(1)]

    def invalid_examples(self) -> list[Any]:
        return [-1, "seed", 1.5]


class Classifier(Constraint):
    """An unfitted scikit-learn classifier (an object with ``fit`` and ``predict_proba``)."""

    def accepts(self, value: Any) -> bool:
        return hasattr(value, "fit") and hasattr(value, "predict_proba") \
            and not isinstance(value, type)

    def describe(self) -> str:
        return "a scikit-learn classifier with fit/predict_proba"


class Estimator(Constraint):
    """An unfitted scikit-learn estimator (``fit`` and ``predict`` or ``predict_proba``)."""

    def accepts(self, value: Any) -> bool:
        return (hasattr(value, "fit") and not isinstance(value, type)
                and (hasattr(value, "predict") or hasattr(value, "predict_proba")))

    def describe(self) -> str:
        return "a scikit-learn estimator with fit/predict"


class Numbers(Constraint):
    """A number or a non-empty sequence of numbers in a range (canonical: a tuple of floats).

    Examples
    --------
    >>> Numbers(low=1).canonical([1, 1.5]), Numbers(low=1).accepts([0.5])
    ((1.0, 1.5), False)
    """

    def __init__(self, *, low: float | None = None, high: float | None = None) -> None:
        self.item = Number(low=low, high=high)

    def accepts(self, value: Any) -> bool:
        if isinstance(value, (str, bytes)):
            return False
        values = np.atleast_1d(np.asarray(value, dtype=object))
        return values.ndim == 1 and values.size > 0 and all(self.item.accepts(v) for v in values)

    def canonical(self, value: Any) -> Any:
        return tuple(float(v) for v in np.atleast_1d(np.asarray(value, dtype=float)))

    def describe(self) -> str:
        one = self.item.describe()
        return f"{one} or a list of them"

    def valid_examples(self) -> list[Any]:
        v = self.item.valid_examples()[0]
        return [v, [v, v]]

    def invalid_examples(self) -> list[Any]:
        return [[], "2", [float("nan")]]


class Instance(Constraint):
    """An instance of the given type(s), described in words."""

    def __init__(self, types: type | tuple[type, ...], description: str) -> None:
        self.types, self.description = types, description

    def accepts(self, value: Any) -> bool:
        return isinstance(value, self.types)

    def describe(self) -> str:
        return self.description


class Pair(Constraint):
    """A pair ``(low, high)`` of numbers with ``low < high``, optionally inside bounds.

    Examples
    --------
    >>> Pair(0, 1).describe(), Pair().accepts((0, 27)), Pair().accepts((5, 2))
    ('a pair (low, high) with 0 <= low < high <= 1', True, False)
    """

    def __init__(self, low_bound: float | None = None, high_bound: float | None = None) -> None:
        self.low_bound, self.high_bound = low_bound, high_bound

    def accepts(self, value: Any) -> bool:
        if isinstance(value, (str, bytes)):
            return False
        try:
            lo, hi = (float(v) for v in value)
        except (TypeError, ValueError):
            return False
        if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
            return False
        return ((self.low_bound is None or self.low_bound <= lo)
                and (self.high_bound is None or hi <= self.high_bound))

    def canonical(self, value: Any) -> Any:
        lo, hi = (float(v) for v in value)
        return (lo, hi)

    def describe(self) -> str:
        if self.low_bound is None and self.high_bound is None:
            return "a pair (low, high) of numbers with low < high"
        lo = "" if self.low_bound is None else f"{self.low_bound:g} <= "
        hi = "" if self.high_bound is None else f" <= {self.high_bound:g}"
        return f"a pair (low, high) with {lo}low < high{hi}"

    def invalid_examples(self) -> list[Any]:
        return [(0.9, 0.1), 0.5, "ab"]


class ColumnPair(Constraint):
    """A pair of column names ``(first, last)`` (canonical form: a tuple)."""

    def accepts(self, value: Any) -> bool:
        return (isinstance(value, (tuple, list)) and len(value) == 2
                and all(isinstance(v, str) for v in value))

    def canonical(self, value: Any) -> Any:
        return (value[0], value[1])

    def describe(self) -> str:
        return "a pair of column names (first, last)"

    def invalid_examples(self) -> list[Any]:
        return ["phq9", ("a", "b", "c"), (1, 2)]


# =========================================================================== the decorator
def _literal_constraints(annotation: Any) -> list[Constraint] | None:
    """Constraints of an annotation that is ``Literal[...]`` or ``Literal[...] | None``."""
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return [Options(*typing.get_args(annotation))]
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        args = typing.get_args(annotation)
        literals = [a for a in args if typing.get_origin(a) is typing.Literal]
        rest = [a for a in args if a not in literals]
        if len(literals) == 1 and rest == [type(None)]:
            return [Options(*typing.get_args(literals[0])), NONE]
    return None


def _describe(constraints: Sequence[Constraint]) -> str:
    parts = [c.describe() for c in constraints if c is not NONE]
    text = " or ".join(parts) if parts else "None"
    return text + (" or None" if any(c is NONE for c in constraints) and parts else "")


def check_value(name: str, value: Any, constraints: Sequence[Constraint]) -> Any:
    """Check ``value`` against alternative ``constraints``; return its canonical form.

    Examples
    --------
    >>> check_value("caliper", None, [Number(low=0), NONE]) is None
    True
    >>> check_value("caliper", -1, [Number(low=0), NONE])
    Traceback (most recent call last):
    ...
    causalpa.errors.SpecificationError: `caliper` must be a number >= 0 or None; got -1
    """
    for c in constraints:
        if c.accepts(value):
            return c.canonical(value)
    raise SpecificationError(f"`{name}` must be {_describe(constraints)}; got {_short(value)}")


def _short(value: Any) -> str:
    """Show a value in a message: its repr, or its type when the repr is long or multi-line."""
    text = repr(value)
    if len(text) <= 80 and "\n" not in text:
        return text
    return f"a {type(value).__name__}"


def validate_params(
    constraints: dict[str, Constraint | Sequence[Constraint]] | None = None,
) -> Callable[[F], F]:
    """Check a function's declared options on every call (decorator).

    Parameters
    ----------
    constraints : dict, optional
        Argument name -> a :class:`Constraint` or a list of alternatives. Arguments
        annotated ``Literal[...]`` (or ``Literal[...] | None``) need no entry: their
        allowed values are read from the signature.

    Returns
    -------
    callable
        The decorator. The wrapped function receives canonical values; its
        declarations are in ``__causalpa_params__`` (name -> list of constraints).

    Examples
    --------
    >>> from typing import Literal
    >>> @validate_params({"n": Number(low=1, integer=True)})
    ... def draw(n, *, method: Literal["a", "b"] = "a"):
    ...     return n, method
    >>> draw(3, method="B")
    (3, 'b')
    >>> sorted(declared_params(draw))
    ['method', 'n']
    """
    explicit = {k: ([v] if isinstance(v, Constraint) else list(v))
                for k, v in (constraints or {}).items()}

    def decorate(func: F) -> F:
        sig = inspect.signature(func)
        unknown = set(explicit) - set(sig.parameters)
        if unknown:
            raise TypeError(f"validate_params: {func.__name__} has no parameter(s) {unknown}")
        declared: dict[str, list[Constraint]] = {}
        resolved = False

        def resolve() -> None:
            nonlocal resolved
            hints: dict[str, Any] = {}
            namespace = {**vars(typing), **getattr(func, "__globals__", {})}
            for name, param in sig.parameters.items():
                ann = param.annotation
                if isinstance(ann, str):
                    try:
                        ann = eval(ann, namespace)  # noqa: S307 - annotations of our own code
                    except Exception:
                        continue
                hints[name] = ann
            for name in sig.parameters:
                if name in explicit:
                    declared[name] = explicit[name]
                elif name in hints:
                    lit = _literal_constraints(hints[name])
                    if lit is not None:
                        declared[name] = lit
            resolved = True

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not resolved:
                resolve()
            try:
                bound = sig.bind(*args, **kwargs)
            except TypeError as exc:
                raise SpecificationError(f"{func.__name__}(): {exc}") from None
            arguments = bound.arguments
            for name, cons in declared.items():
                if name in arguments:
                    arguments[name] = check_value(name, arguments[name], cons)
            return func(*bound.args, **bound.kwargs)

        def declarations() -> dict[str, list[Constraint]]:
            if not resolved:
                resolve()
            return dict(declared)

        wrapper.__causalpa_params__ = declarations  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorate


def declared_params(func: Callable[..., Any]) -> dict[str, list[Constraint]]:
    """Return the options declared for ``func`` by :func:`validate_params` (name -> constraints).

    Examples
    --------
    >>> from typing import Literal
    >>> @validate_params({"ratio": Number(low=1, integer=True)})
    ... def f(*, estimand: Literal["ATT", "ATC"] = "ATT", ratio: int = 1):
    ...     return estimand
    >>> {k: [c.describe() for c in v] for k, v in declared_params(f).items()}
    {'estimand': ["one of 'ATT', 'ATC'"], 'ratio': ['an integer >= 1']}
    """
    getter = getattr(func, "__causalpa_params__", None)
    return {} if getter is None else getter()


# =========================================================================== scalar checks
def check_option(name: str, value: Any, allowed: Sequence[T], *, case_sensitive: bool = False) -> T:
    """Check that ``value`` is one of ``allowed`` and return the canonical spelling.

    Examples
    --------
    >>> check_option("estimand", "att", ["ATE", "ATT"])
    'ATT'
    """
    return check_value(name, value, [Options(*allowed, case_sensitive=case_sensitive)])


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
    cons: list[Constraint] = [Number(low=low, high=high, low_inclusive=low_inclusive,
                                     high_inclusive=high_inclusive, integer=integer)]
    if allow_none:
        cons.append(NONE)
    return check_value(name, value, cons)


def as_generator(rng: Any, name: str = "rng") -> np.random.Generator:
    """Turn ``rng`` (SPEC 7: None, an int seed, a SeedSequence or a Generator) into a Generator.

    A Generator is returned as it is (its state advances with use).

    Examples
    --------
    >>> g = as_generator(1)
    >>> as_generator(g) is g
    True
    """
    check_value(name, rng, [RandomState()])
    return np.random.default_rng(rng)


def as_seed(rng: Any, name: str = "rng") -> int | np.random.SeedSequence:
    """Turn ``rng`` (SPEC 7) into a seed that can be used again and again.

    The seed gives the same stream every time it is used, so one ``rng`` can seed
    several evaluations with common random numbers. A
    :class:`numpy.random.SeedSequence` is returned as it is, an integer as an
    ``int``; ``None`` draws fresh entropy (returned as an ``int``, so that it can be
    recorded); a Generator (or BitGenerator) gives one integer from its stream
    (``integers(0, 2**63)``: its state advances).

    Parameters
    ----------
    rng : None, int, SeedSequence, BitGenerator or Generator
        The randomness.
    name : str
        Argument name used in the error message.

    Returns
    -------
    int or numpy.random.SeedSequence

    Examples
    --------
    >>> as_seed(7)
    7
    >>> ss = np.random.SeedSequence(3)
    >>> as_seed(ss) is ss
    True
    >>> as_seed(np.random.default_rng(1)) == as_seed(np.random.default_rng(1))
    True
    """
    check_value(name, rng, [RandomState()])
    if isinstance(rng, np.random.SeedSequence):
        return rng
    if isinstance(rng, (np.random.Generator, np.random.BitGenerator)):
        gen = rng if isinstance(rng, np.random.Generator) else np.random.Generator(rng)
        return int(gen.integers(0, 2**63))
    if rng is None:
        return int(np.random.SeedSequence().entropy)  # type: ignore[arg-type]
    return int(rng)
