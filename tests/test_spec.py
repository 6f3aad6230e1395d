"""The formula / column specification layer and the shared validators."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.pandas import column, data_frames

from causalpa._spec import make_spec
from causalpa._validation import (
    binary_treatment,
    check_columns,
    check_frame,
    check_no_missing,
    check_number,
    check_option,
    check_weights,
)
from causalpa.errors import DataError, SpecificationError


@pytest.fixture
def df():
    rng = np.random.default_rng(1)
    n = 40
    return pd.DataFrame(
        {
            "pa": rng.integers(0, 2, n),
            "age": rng.normal(40, 10, n).round(),
            "sex": rng.choice(["female", "male"], n),
            "imd decile": rng.integers(1, 11, n),
            "arm": rng.choice(["PA", "control"], n),
        },
        index=pd.Index([f"p{i}" for i in range(n)], name="patient"),
    )


def test_formula_and_names_reach_the_same_spec_and_matrices(df):
    a = make_spec(df, "pa ~ age + C(sex)")
    b = make_spec(df, treatment="pa", covariates=["age", "sex"])
    assert a == b
    Xa, na = a.design(df)
    Xb, nb = b.design(df)
    np.testing.assert_array_equal(Xa, Xb)
    assert na == nb == ["Intercept", "age", "C(sex)[T.male]"]


def test_spec_is_frozen(df):
    spec = make_spec(df, "pa ~ age")
    with pytest.raises(AttributeError):
        spec.treatment = "x"  # type: ignore[misc]


def test_names_that_are_not_identifiers_are_quoted(df):
    spec = make_spec(df, treatment="pa", covariates=["imd decile"])
    X, names = spec.design(df)
    assert names == ["Intercept", "imd decile"]
    np.testing.assert_array_equal(X[:, 1], df["imd decile"].to_numpy())


def test_interactions_and_transforms(df):
    spec = make_spec(df, "pa ~ age * C(sex) + I(age ** 2)")
    X, names = spec.design(df)
    assert "I(age ** 2)" in names and "age:C(sex)[T.male]" in names
    col = names.index("I(age ** 2)")
    np.testing.assert_allclose(X[:, col], df["age"].to_numpy() ** 2)


def test_covariate_frame_lists_every_factor_level(df):
    frame = make_spec(df, "pa ~ age + C(sex)").covariate_frame(df)
    assert list(frame.columns) == ["age", "sex_female", "sex_male"]
    assert (frame[["sex_female", "sex_male"]].sum(axis=1) == 1).all()
    assert frame.index.equals(df.index)


def test_two_level_treatment_needs_explicit_level(df):
    with pytest.raises(DataError, match="treated="):
        make_spec(df, "arm ~ age")
    spec = make_spec(df, "arm ~ age", treated="PA")
    np.testing.assert_array_equal(spec.treatment_array(df), (df["arm"] == "PA").astype(int))
    with pytest.raises(SpecificationError, match="does not occur"):
        make_spec(df, "arm ~ age", treated="yoga")


def test_three_level_treatment_is_refused(df):
    bad = df.assign(pa=np.arange(len(df)) % 3)
    with pytest.raises(DataError, match="must be binary.*3 levels"):
        make_spec(bad, "pa ~ age")


def test_missing_values_are_listed_not_dropped(df):
    bad = df.copy()
    bad.loc[["p3", "p5"], "age"] = np.nan
    bad.loc["p7", "sex"] = None
    before = bad.copy()
    with pytest.raises(DataError) as info:
        make_spec(bad, "pa ~ age + C(sex)")
    msg = str(info.value)
    assert "'age' (2 rows)" in msg and "'sex' (1 row)" in msg and "p3, p5, p7" in msg
    pd.testing.assert_frame_equal(bad, before)


def test_unknown_columns_and_bad_formulas(df):
    with pytest.raises(DataError, match="'bmi'.*not in `data`"):
        make_spec(df, "pa ~ age + bmi")
    with pytest.raises(DataError, match="'bmi'.*`covariates`"):
        make_spec(df, treatment="pa", covariates=["bmi"])
    with pytest.raises(SpecificationError, match="formula"):
        make_spec(df, "pa age")
    with pytest.raises(SpecificationError, match="not both"):
        make_spec(df, "pa ~ age", treatment="pa")
    with pytest.raises(SpecificationError, match="right-hand side"):
        make_spec(df, "pa ~ pa + age")
    with pytest.raises(SpecificationError):
        make_spec(df)


def test_empty_and_non_frames():
    with pytest.raises(DataError, match="empty"):
        make_spec(pd.DataFrame({"pa": [], "age": []}), "pa ~ age")
    with pytest.raises(DataError, match="DataFrame"):
        check_frame([[1, 2]])


def test_option_and_number_validators_name_the_argument():
    assert check_option("estimand", "ate", ["ATE", "ATT"]) == "ATE"
    with pytest.raises(SpecificationError, match="`estimand` must be one of 'ATE', 'ATT'; got 'X'"):
        check_option("estimand", "X", ["ATE", "ATT"])
    with pytest.raises(SpecificationError, match="`caliper` must be a number >= 0 or None; got -1"):
        check_number("caliper", -1, low=0, allow_none=True)
    with pytest.raises(SpecificationError, match="integer"):
        check_number("ratio", 1.5, low=1, integer=True)
    assert check_number("ratio", 2.0, low=1, integer=True) == 2
    for bad in (True, float("nan"), "1", float("inf")):
        with pytest.raises(SpecificationError):
            check_number("alpha", bad, low=0, high=1)


def test_weights_validator():
    with pytest.raises(DataError, match="length 2; expected 3"):
        check_weights([1, 2], 3)
    with pytest.raises(DataError, match="positions 1"):
        check_weights([1, -2, 3], 3)
    with pytest.raises(DataError, match="all zero"):
        check_weights([0, 0], 2)


def test_columns_and_missing_helpers():
    frame = pd.DataFrame({"a": [1.0, np.nan]})
    with pytest.raises(DataError, match="'z'"):
        check_columns(frame, ["z"], "outcome")
    with pytest.raises(DataError, match="rows: 1"):
        check_no_missing(frame, ["a"])


def test_binary_treatment_accepts_bool_and_01():
    np.testing.assert_array_equal(binary_treatment(pd.Series([True, False]), "t"), [1, 0])
    np.testing.assert_array_equal(binary_treatment(pd.Series([0.0, 1.0]), "t"), [0, 1])
    with pytest.raises(DataError, match="coded 0/1"):
        binary_treatment(pd.Series([1, 2]), "t")


frames = data_frames(
    [
        column("pa", elements=st.one_of(st.integers(-1, 3), st.none(), st.text(max_size=2))),
        column("age", elements=st.one_of(st.floats(allow_nan=True), st.none(), st.text(max_size=3))),
    ],
)


@given(frames)
def test_malformed_input_raises_documented_errors_and_leaves_data_unchanged(frame):
    before = frame.copy(deep=True)
    try:
        spec = make_spec(frame, "pa ~ age")
    except (DataError, SpecificationError):
        pass
    else:
        # accepted input must be a genuine binary treatment with complete covariates
        t = spec.treatment_array(frame)
        assert set(np.unique(t)) <= {0, 1}
        assert not frame[["pa", "age"]].isna().any().any()
    pd.testing.assert_frame_equal(frame, before)


# --------------------------------------------------------------------------- one front end
def test_model_spec_outcome_models_and_prediction_on_new_data():
    from causalpa._spec import model_spec, response

    d = pd.DataFrame({"phq9": [10.0, 8, 7, 9, 6, 5], "session": [0, 1, 0, 1, 0, 1],
                      "arm": ["pa", "pa", "c", "c", "pa", "c"]})
    s = model_spec(d, "phq9 ~ session * C(arm)")
    assert s.outcome == "phq9" and s.role == "outcome"
    assert s.columns == ("Intercept", "session", "C(arm)[T.pa]", "session:C(arm)[T.pa]")
    assert s.variable_columns("arm") == ("C(arm)[T.pa]", "session:C(arm)[T.pa]")
    assert response(d, s).tolist() == d["phq9"].tolist()
    new = pd.DataFrame({"session": [3], "arm": ["pa"]})  # one level only: encoding is kept
    X, names = s.design(new)
    assert names == list(s.columns) and X.tolist() == [[1.0, 3.0, 1.0, 3.0]]
    with pytest.raises(SpecificationError, match="`formula`"):
        model_spec(d, "~ session")
    with pytest.raises(DataError, match="'nope'"):
        model_spec(d, "phq9 ~ nope")


def test_terms_spec_accepts_formula_pieces_and_columns():
    from causalpa._spec import terms_spec

    d = pd.DataFrame({"age": [30.0, 40, 50], "sex": ["f", "m", "f"], "ltc": [True, False, True]})
    a = terms_spec(d, ["age", "sex", "ltc"], "adjust")
    b = terms_spec(d, "~ age + C(sex) + ltc", "adjust")
    assert a == b and a.formula == "~ age + C(sex) + ltc"
    np.testing.assert_array_equal(a.design()[0], b.design()[0])
    with pytest.raises(SpecificationError, match="`re_formula`"):
        terms_spec(d, "y ~ age", "re_formula")
    with pytest.raises(DataError, match="`adjust`"):
        terms_spec(d, ["age", "bmi"])
    with pytest.raises(SpecificationError, match="`adjust`"):
        terms_spec(d, [1, 2])


def test_one_definition_of_categorical():
    from causalpa._spec import is_categorical, terms_from_columns

    d = pd.DataFrame({"n": [1.0, 2.0], "i": [1, 2], "s": ["a", "b"], "b": [True, False],
                      "c": pd.Categorical(["x", "y"]), "t": pd.array(["u", "v"], dtype="string")})
    assert [is_categorical(d[c]) for c in d] == [False, False, True, True, True, True]
    # booleans are categorical but formulaic codes them as one 0/1 column, without C()
    assert terms_from_columns(d, list(d)) == "n + i + C(s) + b + C(c) + C(t)"


def test_spec_design_matrix_is_read_only_and_shared_by_binding():
    df = pd.DataFrame({"pa": [0, 1, 0, 1], "age": [30, 40, 50, 60.0]})
    spec = make_spec(df, "pa ~ age")
    X, names = spec.design()
    assert not X.flags.writeable
    with pytest.raises(ValueError):
        X[0, 0] = 5.0
    other = df.assign(age=df["age"] + 1)
    assert spec.bind(other).design()[0][0, 1] == 31.0


def test_new_data_with_an_unseen_level_is_refused_everywhere():
    from causalpa._spec import model_spec

    d = pd.DataFrame({"y": [1.0, 2, 3, 4], "g": ["a", "b", "a", "b"]})
    s = model_spec(d, "y ~ C(g)")
    with pytest.raises(DataError, match="factor level"):
        s.design(pd.DataFrame({"g": ["c"]}))
    with pytest.raises(SpecificationError, match="one outcome column"):
        model_spec(d, "np.log(y) ~ C(g)", lhs="column")
