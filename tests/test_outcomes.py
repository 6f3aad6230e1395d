"""NHS Talking Therapies outcome definitions on hand-made edge cases, and input validation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from causalpa.errors import DataError, SpecificationError
from causalpa.outcomes import OUTCOME_COLUMNS, from_sessions, nhs_outcomes


def frame(rows):
    return pd.DataFrame(rows, columns=["phq9_first", "phq9_last", "gad7_first", "gad7_last"])


# --------------------------------------------------------------------------- caseness
@pytest.mark.parametrize(
    "phq9, gad7, case",
    [
        (9, 7, 0),  # just below both thresholds
        (10, 7, 1),  # PHQ-9 at its threshold
        (9, 8, 1),  # GAD-7 at its threshold
        (10, 8, 1),
        (0, 0, 0),
        (27, 21, 1),
    ],
)
def test_caseness_boundaries(phq9, gad7, case):
    out = nhs_outcomes(frame([[phq9, phq9, gad7, gad7]]))
    assert out.loc[0, "case_first"] == case
    assert out.loc[0, "case_last"] == case


def test_recovery_definition():
    out = nhs_outcomes(
        frame(
            [
                [10, 9, 7, 7],  # case at start (PHQ-9), below both at end: recovered
                [10, 10, 7, 7],  # still a case on PHQ-9
                [15, 9, 12, 8],  # GAD-7 at threshold at end: not recovered
                [9, 3, 8, 7],  # case at start via GAD-7 only, then below: recovered
                [9, 3, 7, 2],  # not a case at start: recovery undefined
                [9, 20, 7, 15],  # not a case at start, case at end: still undefined
            ]
        )
    )
    np.testing.assert_array_equal(out["recovered"].to_numpy(), [1, 0, 0, 1, np.nan, np.nan])
    assert out["recovered"].dtype == float


@pytest.mark.parametrize(
    "p0, p1, g0, g1, improve, deteriorate",
    [
        (20, 14, 10, 10, 1, 0),  # PHQ-9 drop of exactly 6
        (20, 15, 10, 10, 0, 0),  # drop of 5: not reliable
        (10, 10, 14, 10, 1, 0),  # GAD-7 drop of exactly 4
        (10, 10, 14, 11, 0, 0),  # drop of 3
        (20, 14, 10, 14, 0, 0),  # PHQ-9 improves, GAD-7 reliably deteriorates
        (14, 20, 10, 10, 0, 1),  # PHQ-9 rise of exactly 6
        (10, 10, 10, 14, 0, 1),  # GAD-7 rise of exactly 4
        (14, 19, 10, 13, 0, 0),  # rises of 5 and 3: not reliable
        (20, 14, 14, 10, 1, 0),  # both improve
        (14, 20, 10, 6, 0, 0),  # PHQ-9 deteriorates, GAD-7 improves: neither
    ],
)
def test_reliable_change(p0, p1, g0, g1, improve, deteriorate):
    out = nhs_outcomes(frame([[p0, p1, g0, g1]]))
    assert out.loc[0, "reliable_improvement"] == improve
    assert out.loc[0, "reliable_deterioration"] == deteriorate


def test_reliable_recovery_is_recovery_and_improvement():
    out = nhs_outcomes(
        frame(
            [
                [15, 9, 7, 7],  # recovered with a drop of 6: reliable recovery
                [12, 9, 7, 7],  # recovered, drop of 3: not reliable
                [20, 12, 7, 7],  # reliable improvement but still a case
                [9, 2, 7, 2],  # not a case at start: undefined
            ]
        )
    )
    np.testing.assert_array_equal(out["reliable_recovery"].to_numpy(), [1, 0, 0, np.nan])


def test_thresholds_are_parameters():
    # an anxiety-disorder-specific measure (e.g. SPIN 0-68, case >= 19, reliable change 10)
    df = pd.DataFrame({"phq9_first": [8, 8], "phq9_last": [8, 8], "spin_first": [30, 30],
                       "spin_last": [18, 22]})
    out = nhs_outcomes(df, gad7=("spin_first", "spin_last"), gad7_case=19, gad7_reliable=10,
                       gad7_range=(0, 68))
    np.testing.assert_array_equal(out["recovered"].to_numpy(), [1.0, 0.0])
    np.testing.assert_array_equal(out["reliable_improvement"].to_numpy(), [1, 0])
    # the default GAD-7 range refuses SPIN scores
    with pytest.raises(DataError, match="outside 0-21"):
        nhs_outcomes(df, gad7=("spin_first", "spin_last"))


def test_phq9_only():
    df = pd.DataFrame({"phq9_first": [12, 12], "phq9_last": [6, 10]})
    out = nhs_outcomes(df, gad7=None)
    np.testing.assert_array_equal(out["recovered"].to_numpy(), [1.0, 0.0])
    np.testing.assert_array_equal(out["reliable_improvement"].to_numpy(), [1, 0])


def test_labels_and_other_columns_preserved():
    df = frame([[15, 5, 12, 3], [9, 9, 7, 7]])
    df.index = ["a", "b"]
    df["pa"] = [1, 0]
    out = nhs_outcomes(df)
    assert list(out.index) == ["a", "b"]
    assert list(out.columns) == [*df.columns, *OUTCOME_COLUMNS]
    assert "recovered" not in df.columns


def test_existing_outcome_columns_are_recomputed():
    df = frame([[15, 5, 12, 3]])
    df["recovered"] = 0.0
    out = nhs_outcomes(df)
    assert out.loc[0, "recovered"] == 1.0
    assert df.loc[0, "recovered"] == 0.0


# --------------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    "value, message",
    [
        (28, "outside 0-27"),
        (-1, "outside 0-27"),
        (10.5, "non-integer"),
        (np.nan, "missing values"),
        (np.inf, "infinite values in column 'phq9_last' .*rows: 1"),
    ],
)
def test_bad_phq9_scores(value, message):
    df = frame([[15, 5, 12, 3], [15, 5, 12, 3]])
    df["phq9_last"] = df["phq9_last"].astype(float)
    df.loc[1, "phq9_last"] = value
    before = df.copy()
    with pytest.raises(DataError, match=message) as err:
        nhs_outcomes(df)
    assert "phq9_last" in str(err.value)
    pd.testing.assert_frame_equal(df, before)


def test_string_scores_name_column_and_rows():
    df = frame([[15, 5, 12, 3], [15, 5, 12, 3]]).astype(object)
    df.loc[1, "gad7_first"] = "twelve"
    with pytest.raises(DataError, match=r"'gad7_first'.*rows: 1"):
        nhs_outcomes(df)


def test_numeric_strings_are_refused():
    df = frame([[15, 5, 12, 3]]).astype(str)
    with pytest.raises(DataError, match="numeric"):
        nhs_outcomes(df)


def test_non_integer_allowed_when_asked():
    df = frame([[15.5, 5.25, 12, 3]])
    out = nhs_outcomes(df, integer=False)
    assert out.loc[0, "recovered"] == 1.0


def test_empty_frame_and_missing_column():
    with pytest.raises(DataError, match="empty"):
        nhs_outcomes(frame([]))
    with pytest.raises(DataError, match="'gad7_last'"):
        nhs_outcomes(frame([[15, 5, 12, 3]]).drop(columns="gad7_last"))
    with pytest.raises(DataError, match="DataFrame"):
        nhs_outcomes([[15, 5, 12, 3]])


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"phq9": "phq9_first"}, "phq9"),
        ({"phq9": None}, "phq9"),
        ({"gad7": ("a", "b", "c")}, "gad7"),
        ({"phq9_case": -1}, "phq9_case"),
        ({"gad7_reliable": 0}, "gad7_reliable"),
        ({"phq9_range": (27, 0)}, "phq9_range"),
        ({"integer": "yes"}, "integer"),
    ],
)
def test_bad_arguments(kwargs, name):
    with pytest.raises(SpecificationError, match=f"`{name}`"):
        nhs_outcomes(frame([[15, 5, 12, 3]]), **kwargs)


scores = st.one_of(
    st.integers(-5, 40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["", "x", "10", None, True]),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(scores, scores, scores, scores), min_size=0, max_size=6))
def test_fuzz_malformed_inputs(rows):
    df = pd.DataFrame(rows, columns=["phq9_first", "phq9_last", "gad7_first", "gad7_last"])
    before = df.copy()
    valid = len(df) > 0 and all(
        isinstance(v, (int, float))
        and not isinstance(v, bool)
        and np.isfinite(v)
        and float(v).is_integer()
        and 0 <= v <= high
        for row in rows
        for v, high in zip(row, (27, 27, 21, 21), strict=True)
    )
    if valid:
        out = nhs_outcomes(df)
        assert out["recovered"].isna().equals(out["case_first"] == 0)
        assert ((out["reliable_improvement"] + out["reliable_deterioration"]) <= 1).all()
    else:
        with pytest.raises(DataError):
            nhs_outcomes(df)
    pd.testing.assert_frame_equal(df, before)


@settings(max_examples=200, deadline=None)
@given(
    st.integers(0, 27), st.integers(0, 27), st.integers(0, 21), st.integers(0, 21)
)
def test_definitions_against_direct_reading(p0, p1, g0, g1):
    out = nhs_outcomes(frame([[p0, p1, g0, g1]])).iloc[0]
    case0 = p0 >= 10 or g0 >= 8
    case1 = p1 >= 10 or g1 >= 8
    imp = (p0 - p1 >= 6 or g0 - g1 >= 4) and not (p1 - p0 >= 6 or g1 - g0 >= 4)
    det = (p1 - p0 >= 6 or g1 - g0 >= 4) and not (p0 - p1 >= 6 or g0 - g1 >= 4)
    assert out["case_first"] == case0 and out["case_last"] == case1
    assert out["reliable_improvement"] == imp and out["reliable_deterioration"] == det
    if case0:
        assert out["recovered"] == (not case1)
        assert out["reliable_recovery"] == (not case1 and imp)
    else:
        assert np.isnan(out["recovered"]) and np.isnan(out["reliable_recovery"])


# --------------------------------------------------------------------------- from_sessions
def sessions_frame():
    return pd.DataFrame(
        {
            "patient": [2, 1, 1, 2, 1, 3],
            "session": [0, 2, 0, 1, 1, 0],
            "therapist": [5, 4, 4, 5, 4, 4],
            "pa": [0, 1, 1, 0, 1, 0],
            "note": ["a", "b", "c", "d", "e", "f"],  # varies within patient: dropped
            "phq9": [11, 8, 15, 10, 12, 20],
            "gad7": [9, 6, 12, 9, 9, 15],
        },
        index=[10, 11, 12, 13, 14, 15],
    )


def test_from_sessions_first_last_and_counts():
    sess = sessions_frame()
    before = sess.copy()
    out = from_sessions(sess)
    pd.testing.assert_frame_equal(sess, before)
    assert list(out.columns) == [
        "patient", "therapist", "pa", "phq9_first", "phq9_last", "phq9_change",
        "gad7_first", "gad7_last", "gad7_change", "n_sessions", "finished",
    ]
    assert out["patient"].tolist() == [1, 2, 3]
    assert out["phq9_first"].tolist() == [15, 11, 20]
    assert out["phq9_last"].tolist() == [8, 10, 20]
    assert out["gad7_change"].tolist() == [-6, 0, 0]
    assert out["n_sessions"].tolist() == [3, 2, 1]
    assert out["finished"].tolist() == [1, 1, 0]
    assert out["therapist"].tolist() == [4, 5, 4]


def test_from_sessions_row_order_invariant():
    sess = sessions_frame()
    shuffled = sess.sample(frac=1, random_state=3)
    pd.testing.assert_frame_equal(from_sessions(sess), from_sessions(shuffled))


def test_from_sessions_min_sessions_and_custom_names():
    sess = sessions_frame().rename(columns={"patient": "id", "session": "week", "phq9": "dep"})
    out = from_sessions(sess, id="id", session="week", phq9="dep", gad7=None, min_sessions=3)
    assert out["finished"].tolist() == [1, 0, 0]
    assert "dep_first" in out.columns and "gad7_first" not in out.columns


def test_from_sessions_errors():
    sess = sessions_frame()
    dup = pd.concat([sess, sess.iloc[[0]]])
    with pytest.raises(DataError, match="same `session`"):
        from_sessions(dup)
    bad = sess.copy()
    bad.loc[11, "phq9"] = 30
    with pytest.raises(DataError, match=r"'phq9'.*rows: 11"):
        from_sessions(bad)
    missing = sess.copy()
    missing.loc[12, "session"] = np.nan
    with pytest.raises(DataError, match="missing values"):
        from_sessions(missing)
    with pytest.raises(DataError, match="empty"):
        from_sessions(sess.iloc[:0])
    with pytest.raises(SpecificationError, match="at least one"):
        from_sessions(sess, phq9=None, gad7=None)
    with pytest.raises(SpecificationError, match="`min_sessions`"):
        from_sessions(sess, min_sessions=0)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.integers(1, 4),
            st.one_of(st.integers(0, 5), st.just(None)),
            st.one_of(st.integers(-3, 30), st.floats(allow_nan=True), st.just("7")),
        ),
        min_size=0,
        max_size=8,
    )
)
def test_fuzz_from_sessions(rows):
    sess = pd.DataFrame(rows, columns=["patient", "session", "phq9"])
    before = sess.copy()
    try:
        out = from_sessions(sess, gad7=None)
    except DataError:
        pass
    else:
        # success only for complete, unique, valid input
        assert len(sess) > 0
        assert sess["session"].notna().all()
        assert not sess.duplicated(["patient", "session"]).any()
        assert sess["phq9"].map(lambda v: isinstance(v, (int, float)) and 0 <= v <= 27).all()
        assert out["n_sessions"].sum() == len(sess)
        assert (out["phq9_change"] == out["phq9_last"] - out["phq9_first"]).all()
    pd.testing.assert_frame_equal(sess, before)
