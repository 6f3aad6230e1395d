"""Declared options (causalpa._validation): constraints, the decorator, its messages."""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import pandas as pd
import pytest

from causalpa._validation import (
    NONE,
    Boolean,
    Classifier,
    Column,
    ColumnPair,
    Columns,
    Number,
    Options,
    Pair,
    RandomState,
    Registered,
    as_generator,
    check_value,
    declared_params,
    validate_params,
)
from causalpa.errors import SpecificationError

REGISTRY: dict[str, object] = {"nearest": None, "optimal": None}


@validate_params({"ratio": Number(low=1, integer=True), "caliper": [Number(low=0), NONE],
                  "method": Registered(REGISTRY, "matching method"), "rng": RandomState()})
def fn(data: pd.DataFrame, *, estimand: Literal["ATT", "ATC"] = "ATT",
       method: Literal["nearest", "optimal"] | str = "nearest", ratio: int = 1,
       caliper: float | None = None, order: Literal["largest", "data"] | None = None,
       rng: object = None) -> tuple[object, ...]:
    return estimand, method, ratio, caliper, order, rng


DF = pd.DataFrame({"x": [1.0]})


def test_canonical_values_are_passed_on():
    assert fn(DF, estimand="att", method="Optimal", ratio=2.0) == ("ATT", "optimal", 2, None,
                                                                   None, None)
    assert fn(DF, order="DATA")[4] == "data"


@pytest.mark.parametrize("kwargs, message", [
    ({"estimand": "ATX"}, "`estimand` must be one of 'ATT', 'ATC'; got 'ATX'"),
    ({"ratio": 0}, "`ratio` must be an integer >= 1; got 0"),
    ({"ratio": 1.5}, "`ratio` must be an integer >= 1; got 1.5"),
    ({"caliper": -1}, "`caliper` must be a number >= 0 or None; got -1"),
    ({"caliper": float("nan")}, "`caliper` must be a number >= 0 or None; got nan"),
    ({"order": "random"}, "`order` must be one of 'largest', 'data' or None; got 'random'"),
    ({"method": "full"}, "`method` must be one of 'nearest', 'optimal' (registered matching "
                         "methods); got 'full'"),
    ({"rng": -3}, "`rng` must be None, an integer seed >= 0 or a numpy.random.Generator; got -3"),
])
def test_messages_name_the_argument_and_the_allowed_values(kwargs, message):
    with pytest.raises(SpecificationError) as err:
        fn(DF, **kwargs)
    assert str(err.value) == message


def test_registry_grows_at_call_time():
    REGISTRY["mine"] = None
    try:
        assert fn(DF, method="mine")[1] == "mine"
    finally:
        del REGISTRY["mine"]
    with pytest.raises(SpecificationError, match="`method`"):
        fn(DF, method="mine")


def test_wrong_call_shapes_are_specification_errors():
    with pytest.raises(SpecificationError, match="fn\\(\\)"):
        fn(DF, bogus=1)
    with pytest.raises(SpecificationError, match="fn\\(\\)"):
        fn()


def test_declarations_are_readable():
    d = declared_params(fn)
    assert set(d) == {"estimand", "method", "ratio", "caliper", "order", "rng"}
    assert [c.describe() for c in d["order"]] == ["one of 'largest', 'data'", "None"]
    assert declared_params(len) == {}


def test_unknown_parameter_in_declaration_is_a_programming_error():
    with pytest.raises(TypeError, match="no parameter"):
        validate_params({"nope": Number()})(lambda x: x)


@pytest.mark.parametrize("constraint", [
    Options("a", "b"), Number(low=0, high=1, low_inclusive=False), Number(low=1, integer=True),
    Boolean(), Column(), Columns(), RandomState(), Pair(0, 1), Pair(), ColumnPair(),
    Registered({"x": 1}, "thing"),
])
def test_generated_examples_agree_with_the_constraint(constraint):
    for v in constraint.valid_examples():
        assert constraint.accepts(v), v
    for v in constraint.invalid_examples():
        assert not constraint.accepts(v), v
    assert constraint.describe()


def test_number_edge_cases():
    c = Number(low=0, high=1, high_inclusive=False)
    assert c.accepts(0) and c.accepts(0.999) and not c.accepts(1)
    assert not c.accepts(True) and not c.accepts(np.bool_(True))
    assert not c.accepts(math.inf) and not c.accepts("0.5")
    assert c.accepts(np.float32(0.5)) and Number(integer=True).accepts(np.int64(3))


def test_other_constraints():
    assert Columns().canonical("a") == ["a"] and Columns().canonical(("a", "b")) == ["a", "b"]
    assert not Columns().accepts([1]) and not Column().accepts(["a"])
    assert Pair(0, 1).canonical([0, 0.5]) == (0.0, 0.5)
    assert not Pair(0, 1).accepts((0.2, 1.2)) and not Pair().accepts((1, math.nan))
    assert ColumnPair().canonical(["a", "b"]) == ("a", "b")
    from sklearn.linear_model import LogisticRegression

    assert Classifier().accepts(LogisticRegression()) and not Classifier().accepts(LogisticRegression)
    assert RandomState().accepts(np.random.SeedSequence(1))
    assert not RandomState().accepts(True)


def test_as_generator_follows_spec7():
    g = np.random.default_rng(5)
    assert as_generator(g) is g
    assert as_generator(3).integers(10**9) == np.random.default_rng(3).integers(10**9)
    with pytest.raises(SpecificationError, match="`rng`"):
        as_generator("seed")


def test_check_value_with_alternatives():
    assert check_value("x", None, [Number(), NONE]) is None
    with pytest.raises(SpecificationError, match="`x` must be a number or None; got 'a'"):
        check_value("x", "a", [Number(), NONE])
