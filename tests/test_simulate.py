"""Tests of the cohort simulator: data contract, determinism, truth, calibration."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from causalpa._validation import declared_params
from causalpa.errors import SpecificationError
from causalpa.outcomes import from_sessions, nhs_outcomes
from causalpa.simulate import (
    PATIENT_COLUMNS,
    CohortParams,
    SimulatedCohort,
    cohort,
    cohort_from_arrays,
    patient_arrays,
)

CONTRACT_PATIENTS = [
    "patient", "therapist", "pa", "age", "sex", "employed", "ltc", "imd_decile",
    "phq9_first", "phq9_last", "gad7_first", "gad7_last", "n_sessions", "phq9_change",
    "gad7_change", "recovered", "reliable_improvement", "reliable_recovery",
]
CONTRACT_SESSIONS = ["patient", "therapist", "session", "pa", "phq9", "gad7"]


def one_way_icc(y: np.ndarray, groups: np.ndarray) -> float:
    """ANOVA estimator of the intraclass correlation (unequal group sizes)."""
    labels, g = np.unique(groups, return_inverse=True)
    k, n = len(labels), len(y)
    sizes = np.bincount(g)
    means = np.bincount(g, y) / sizes
    msb = (sizes * (means - y.mean()) ** 2).sum() / (k - 1)
    msw = ((y - means[g]) ** 2).sum() / (n - k)
    n0 = (n - (sizes**2).sum() / n) / (k - 1)
    s2b = (msb - msw) / n0
    return s2b / (s2b + msw)


@pytest.fixture(scope="module")
def big_random() -> SimulatedCohort:
    return cohort(60_000, rng=11, selection=0.0, sessions=False)


@pytest.fixture(scope="module")
def small() -> SimulatedCohort:
    return cohort(300, rng=5)


# --------------------------------------------------------------------------- contract
def test_columns_follow_data_contract(small):
    assert list(small.patients.columns) == list(PATIENT_COLUMNS)
    assert set(CONTRACT_PATIENTS) <= set(small.patients.columns)
    assert list(small.sessions.columns) == CONTRACT_SESSIONS
    assert small.patients["patient"].is_unique
    assert set(small.patients["pa"].unique()) <= {0, 1}
    assert set(small.patients["sex"].unique()) <= {"female", "male"}
    assert small.rng == 5 and small.n == 300
    assert isinstance(small.params, CohortParams) and small.params.n_therapists == 30


def test_scores_are_integers_in_range(small):
    s = small.sessions
    for col, high in [("phq9", 27), ("gad7", 21)]:
        assert pd.api.types.is_integer_dtype(s[col])
        assert s[col].between(0, high).all()
    p = small.patients
    assert p["n_sessions"].between(2, 12).all()
    assert (p["phq9_change"] == p["phq9_last"] - p["phq9_first"]).all()
    assert (p["gad7_change"] == p["gad7_last"] - p["gad7_first"]).all()
    # every patient is a case at the start (cases_only=True), so recovery is defined
    assert p["case_first"].eq(1).all() and p["recovered"].notna().all()


def test_sessions_agree_with_patient_frame(small):
    # the long frame, collapsed by outcomes.from_sessions and scored by
    # nhs_outcomes, gives exactly the patient-level frame
    collapsed = nhs_outcomes(from_sessions(small.sessions))
    p = small.patients
    for col in ["patient", "therapist", "pa", "phq9_first", "phq9_last", "gad7_first",
                "gad7_last", "n_sessions", "phq9_change", "gad7_change", "finished",
                "case_first", "case_last", "recovered", "reliable_improvement",
                "reliable_deterioration", "reliable_recovery"]:
        np.testing.assert_array_equal(collapsed[col].to_numpy(), p[col].to_numpy(), err_msg=col)
    # sessions are numbered 0, 1, ... without gaps
    s = small.sessions
    expected = s.groupby("patient").cumcount()
    assert (s["session"] == expected).all()


def test_outcome_columns_match_nhs_outcomes(small):
    rescored = nhs_outcomes(small.patients)
    pd.testing.assert_frame_equal(rescored, small.patients)


def test_sessions_false_gives_same_patients():
    a = cohort(150, rng=3)
    b = cohort(150, rng=3, sessions=False)
    assert b.sessions is None
    pd.testing.assert_frame_equal(a.patients, b.patients)
    pd.testing.assert_frame_equal(a.truth, b.truth)


# --------------------------------------------------------------------------- determinism
def test_same_seed_same_cohort():
    a, b = cohort(200, rng=42), cohort(200, rng=42)
    pd.testing.assert_frame_equal(a.patients, b.patients)
    pd.testing.assert_frame_equal(a.sessions, b.sessions)
    pd.testing.assert_frame_equal(a.truth, b.truth)
    c = cohort(200, rng=43)
    assert not a.patients.equals(c.patients)


def test_generator_and_seed_sequence_accepted():
    a = cohort(100, rng=np.random.default_rng(9))
    b = cohort(100, rng=np.random.SeedSequence(9))
    pd.testing.assert_frame_equal(a.patients, b.patients)


def test_patient_arrays_is_the_core_of_cohort():
    arr = patient_arrays(120, np.random.default_rng(8), selection=0.5)
    sim = cohort(120, rng=8, selection=0.5)
    for col in ["pa", "therapist", "phq9_first", "phq9_last", "gad7_last", "n_sessions"]:
        np.testing.assert_array_equal(arr[col], sim.patients[col].to_numpy())


def test_replicates_are_a_batch_of_independent_cohorts():
    arr = patient_arrays(60, 3, replicates=40, n_therapists=6)
    assert arr["phq9_change"].shape == (40, 60)
    assert arr["phq9_sessions"].shape == (40, 60, 12)
    # therapists are spread evenly within every replicate
    counts = np.stack([np.bincount(t, minlength=7)[1:] for t in arr["therapist"]])
    assert (counts == 10).all()
    # replicates differ, and a single replicate is the unbatched cohort
    assert not np.array_equal(arr["phq9_first"][0], arr["phq9_first"][1])
    one = patient_arrays(60, 3, replicates=1, n_therapists=6)
    plain = patient_arrays(60, 3, n_therapists=6)
    for key in plain:
        np.testing.assert_array_equal(one[key][0], plain[key], err_msg=key)
    # cluster randomisation happens per replicate
    cl = patient_arrays(60, 4, replicates=30, n_therapists=6, assignment="therapist")
    for pa, t in zip(cl["pa"], cl["therapist"], strict=True):
        per = pd.Series(pa).groupby(t).nunique()
        assert (per == 1).all()
        assert pd.Series(pa).groupby(t).first().sum() == 3
    assert len({tuple(row) for row in cl["pa"]}) > 1


def test_replicates_calibration_matches_single_cohorts():
    arr = patient_arrays(500, 5, replicates=80, selection=0.0)
    rec0 = arr["recovered"][arr["pa"] == 0]
    assert rec0.mean() == pytest.approx(0.50, abs=0.025)


# --------------------------------------------------------------------------- truth
def test_factual_outcomes_are_the_received_potential_outcomes():
    arr = patient_arrays(2000, 4)
    treated = arr["pa"] == 1
    for key in ["phq9_change", "gad7_change", "n_sessions"]:
        np.testing.assert_array_equal(
            arr[key], np.where(treated, arr[f"{key}_1"], arr[f"{key}_0"])
        )
    np.testing.assert_array_equal(
        arr["recovered"], np.where(treated, arr["recovered_1"], arr["recovered_0"])
    )


def test_truth_matches_potential_outcomes():
    arr = patient_arrays(3000, 21, heterogeneity=0.5)
    sim = cohort(3000, rng=21, heterogeneity=0.5)
    d = arr["phq9_change_1"] - arr["phq9_change_0"]
    t = arr["pa"] == 1
    truth = sim.truth
    assert truth.loc["phq9_change", "ATE"] == pytest.approx(d.mean())
    assert truth.loc["phq9_change", "ATT"] == pytest.approx(d[t].mean())
    assert truth.loc["phq9_change", "ATC"] == pytest.approx(d[~t].mean())
    r = arr["recovered_1"] - arr["recovered_0"]
    assert truth.loc["recovered", "ATE"] == pytest.approx(r.mean())
    assert list(truth.index) == ["phq9_change", "gad7_change", "recovered"]


def test_zero_effect_gives_identical_potential_outcomes():
    sim = cohort(2000, rng=2, effect=0.0, effect_gad7=0.0)
    np.testing.assert_array_equal(sim.truth[["ATE", "ATT", "ATC"]].to_numpy(), 0.0)


def test_benefit_sign_convention():
    sim = cohort(5000, rng=4)
    assert sim.truth.loc["phq9_change", "ATE"] < 0
    assert sim.truth.loc["gad7_change", "ATE"] < 0
    assert sim.truth.loc["recovered", "ATE"] > 0
    harm = cohort(5000, rng=4, effect=-0.43)
    assert harm.truth.loc["phq9_change", "ATE"] > 0


def test_heterogeneity_with_selection_separates_att_from_ate():
    sim = cohort(40_000, rng=6, selection=1.0, heterogeneity=1.0, sessions=False)
    t = sim.truth.loc["phq9_change"]
    # those inclined to choose PA benefit most: ATT is more negative than ATE
    assert t["ATT"] < t["ATE"] - 0.3
    assert t["ATC"] > t["ATE"]


def test_therapist_assignment_is_cluster_randomised():
    sim = cohort(2000, rng=3, assignment="therapist", n_therapists=50, p_treated=0.4)
    p = sim.patients
    per_therapist = p.groupby("therapist")["pa"].nunique()
    assert (per_therapist == 1).all()
    assert p.groupby("therapist")["pa"].first().sum() == 20


# --------------------------------------------------------------------------- calibration
def test_baseline_calibration(big_random):
    # DOMAIN.md: PHQ-9 at referral 15.4 (SD 5.5), GAD-7 14.0 (SD 4.5) among cases;
    # Monte-Carlo SE of the means with n = 60,000 is about 0.02
    p = big_random.patients
    assert p["phq9_first"].mean() == pytest.approx(15.4, abs=0.4)
    assert p["phq9_first"].std() == pytest.approx(5.5, abs=0.3)
    assert p["gad7_first"].mean() == pytest.approx(14.0, abs=0.4)
    assert p["gad7_first"].std() == pytest.approx(4.5, abs=0.3)
    assert p["n_sessions"].mean() == pytest.approx(7.0, abs=0.5)
    assert p["pa"].mean() == pytest.approx(0.42, abs=4 * np.sqrt(0.42 * 0.58 / len(p)))


def test_control_recovery_is_national_rate(big_random):
    # national recovery rate about 50%; MC SE about 0.003
    c = big_random.patients.query("pa == 0")
    assert c["recovered"].mean() == pytest.approx(0.50, abs=0.025)
    assert c["reliable_improvement"].mean() == pytest.approx(0.72, abs=0.08)


def test_mean_sessions_exact_without_response_dependent_attrition():
    p = cohort(40_000, rng=12, attrition=0.0, sessions=False).patients
    se = p["n_sessions"].std() / np.sqrt(len(p))
    assert abs(p["n_sessions"].mean() - 7.0) < 4 * se
    p9 = cohort(20_000, rng=12, attrition=0.0, mean_sessions=9.0, sessions=False).patients
    assert abs(p9["n_sessions"].mean() - 9.0) < 4 * p9["n_sessions"].std() / np.sqrt(len(p9))


def test_attrition_depends_on_early_response():
    p = cohort(20_000, rng=13, attrition=1.5, effect=0.0, sessions=False).patients
    # patients who improved little by session 1 leave earlier
    s = cohort(20_000, rng=13, attrition=1.5, effect=0.0).sessions
    early = s[s["session"] <= 1].pivot(index="patient", columns="session", values="phq9")
    improved = (early[1] - early[0]).to_numpy() <= -3
    n_sess = p["n_sessions"].to_numpy()
    assert n_sess[improved].mean() > n_sess[~improved].mean() + 0.3


def test_therapist_icc():
    # icc = therapist share of the variance of PHQ-9 change without PA
    arr = patient_arrays(100_000, 14, selection=0.0, effect=0.0, icc=0.06)
    icc = one_way_icc(arr["phq9_change"].astype(float), arr["therapist"])
    assert icc == pytest.approx(0.06, abs=0.012)
    # the therapist drift is additive, so the share stays close to icc with PA
    arr1 = patient_arrays(100_000, 15, selection=0.0)
    icc1 = one_way_icc(arr1["phq9_change_1"].astype(float), arr1["therapist"])
    assert 0.04 <= icc1 <= 0.07
    arr0 = patient_arrays(50_000, 14, selection=0.0, effect=0.0, icc=0.0)
    assert abs(one_way_icc(arr0["phq9_change"].astype(float), arr0["therapist"])) < 0.01


def test_effect_is_standardised_mean_difference():
    sim = cohort(60_000, rng=15, selection=0.0, sessions=False)
    assert -sim.truth.loc["phq9_change", "smd"] == pytest.approx(0.43, abs=0.03)
    assert -sim.truth.loc["gad7_change", "smd"] == pytest.approx(0.43, abs=0.03)


def test_difference_in_means_recovers_ate_when_randomised(big_random):
    p, truth = big_random.patients, big_random.truth
    for outcome in ["phq9_change", "gad7_change", "recovered"]:
        y1 = p.loc[p.pa == 1, outcome]
        y0 = p.loc[p.pa == 0, outcome]
        se = np.sqrt(y1.var() / len(y1) + y0.var() / len(y0))
        diff = y1.mean() - y0.mean()
        assert abs(diff - truth.loc[outcome, "ATE"]) < 4 * se, outcome


def test_selection_biases_naive_difference():
    sim = cohort(60_000, rng=16, selection=1.5, sessions=False)
    p, truth = sim.patients, sim.truth
    # PA patients are younger, less often have a long-term condition, less deprived
    means = p.groupby("pa")[["age", "ltc", "imd_decile", "phq9_first"]].mean()
    assert means.loc[1, "age"] < means.loc[0, "age"] - 3
    assert means.loc[1, "ltc"] < means.loc[0, "ltc"]
    assert means.loc[1, "imd_decile"] > means.loc[0, "imd_decile"]
    for outcome in ["phq9_change", "recovered"]:
        y1 = p.loc[p.pa == 1, outcome]
        y0 = p.loc[p.pa == 0, outcome]
        se = np.sqrt(y1.var() / len(y1) + y0.var() / len(y0))
        assert abs(y1.mean() - y0.mean() - truth.loc[outcome, "ATT"]) > 6 * se, outcome


def test_selection_zero_makes_pa_independent_of_covariates():
    p = cohort(40_000, rng=17, selection=0.0, sessions=False).patients
    for col in ["age", "ltc", "imd_decile", "phq9_first"]:
        a, b = p.loc[p.pa == 1, col], p.loc[p.pa == 0, col]
        se = np.sqrt(a.var() / len(a) + b.var() / len(b))
        assert abs(a.mean() - b.mean()) < 4.5 * se, col


def test_hidden_confounding_biases_naive_difference():
    # with selection on an unrecorded factor only, the recorded covariates are
    # balanced but the naive difference is still biased
    sim = cohort(60_000, rng=18, selection=0.0, hidden=1.5, sessions=False)
    p, truth = sim.patients, sim.truth
    y1, y0 = p.loc[p.pa == 1, "phq9_change"], p.loc[p.pa == 0, "phq9_change"]
    se = np.sqrt(y1.var() / len(y1) + y0.var() / len(y0))
    assert y1.mean() - y0.mean() < truth.loc["phq9_change", "ATT"] - 4 * se


def test_non_cases_and_single_sessions_when_asked():
    sim = cohort(5000, rng=19, cases_only=False, min_sessions=1, sessions=True)
    p = sim.patients
    non_case = p["case_first"] == 0
    assert 0.02 < non_case.mean() < 0.3
    assert p.loc[non_case, "recovered"].isna().all()
    assert p.loc[~non_case, "recovered"].notna().all()
    assert np.isfinite(sim.truth.to_numpy()).all()  # truth over cases only for recovery
    assert (p["n_sessions"] == 1).any()
    assert (p["finished"] == (p["n_sessions"] >= 2)).all()
    one = p["n_sessions"] == 1
    assert (p.loc[one, "phq9_change"] == 0).all()
    assert (sim.sessions.groupby("patient").size().to_numpy() == p["n_sessions"]).all()


# --------------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"n": 0}, "n"),
        ({"n": 10.5}, "n"),
        ({"icc": 1.0}, "icc"),
        ({"icc": -0.1}, "icc"),
        ({"p_treated": 0.0}, "p_treated"),
        ({"assignment": "cluster"}, "assignment"),
        ({"heterogeneity": -1}, "heterogeneity"),
        ({"mean_sessions": 13}, "mean_sessions"),
        ({"min_sessions": 13}, "min_sessions"),
        ({"effect": float("nan")}, "effect"),
        ({"selection": "strong"}, "selection"),
        ({"n_therapists": 0}, "n_therapists"),
        ({"sessions": "yes"}, "sessions"),
        ({"assignment": "therapist", "n_therapists": 1}, "n_therapists"),
    ],
)
def test_invalid_arguments_name_the_argument(kwargs, name):
    with pytest.raises(SpecificationError, match=f"`{name}`"):
        cohort(**{"n": 20, "rng": 1, **kwargs})


def test_unknown_parameter_is_named():
    with pytest.raises(SpecificationError, match="sample_size"):
        cohort(20, rng=1, sample_size=3)
    with pytest.raises(SpecificationError, match="`params`"):
        cohort(20, rng=1, params={"icc": 0.1})


# --------------------------------------------------------------------------- CohortParams
def test_cohort_params_defaults_are_the_documented_ones():
    p = CohortParams()
    assert (p.selection, p.effect, p.effect_gad7, p.heterogeneity, p.n_therapists, p.icc,
            p.assignment, p.p_treated, p.mean_sessions, p.max_sessions, p.min_sessions,
            p.attrition, p.hidden, p.cases_only) == (
        1.0, 0.43, None, 0.0, None, 0.06, "patient", 0.42, 7.0, 12, 2, 0.5, 0.0, True)
    resolved = p.resolve(38)
    assert resolved.effect_gad7 == 0.43 and resolved.n_therapists == 4
    assert CohortParams(n_therapists=7).resolve(38).n_therapists == 7
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.icc = 0.1  # type: ignore[misc]


def test_cohort_params_replace_is_validated_and_canonical():
    p = CohortParams(icc=0.1, assignment="Therapist", n_therapists=4.0)
    assert p.assignment == "therapist" and p.n_therapists == 4 and isinstance(p.n_therapists, int)
    q = dataclasses.replace(p, effect=1)
    assert q.effect == 1.0 and isinstance(q.effect, float) and q.icc == 0.1
    with pytest.raises(SpecificationError, match="`icc` must be a number >= 0 and < 1; got 2"):
        dataclasses.replace(p, icc=2)
    with pytest.raises(SpecificationError, match="`n_therapists` must be >= 2 with assignment"):
        dataclasses.replace(p, n_therapists=1)
    # a default that depends on n is checked when the cohort's size is known
    with pytest.raises(SpecificationError, match="`n_therapists` must be >= 2"):
        CohortParams(assignment="therapist").resolve(12)


@pytest.mark.parametrize("name", list(declared_params(CohortParams)))
def test_cohort_params_bad_values_generated_from_the_declarations(name):
    constraints = declared_params(CohortParams)[name]
    for bad in (v for c in constraints for v in c.invalid_examples()):
        if any(c.accepts(bad) for c in constraints):
            continue
        with pytest.raises(SpecificationError, match=f"`{name}`"):
            CohortParams(**{name: bad})


def test_params_argument_and_overrides_give_the_same_cohort():
    p = CohortParams(selection=0.5, icc=0.1)
    a = cohort(80, rng=2, params=p)
    b = cohort(80, rng=2, selection=0.5, icc=0.1)
    c = cohort(80, rng=2, params=CohortParams(selection=0.5), icc=0.1)
    for other in (b, c):
        pd.testing.assert_frame_equal(a.patients, other.patients, check_exact=True)
    assert a.params == b.params == c.params
    arr = patient_arrays(80, 2, params=p)
    np.testing.assert_array_equal(arr["phq9_change"], a.patients["phq9_change"].to_numpy())


# --------------------------------------------------------------------------- the result
def test_protocol_views_and_copies(small):
    tidy = small.tidy()
    assert tidy.columns.tolist() == ["outcome", "estimand", "value"]
    assert len(tidy) == 18
    wide = small.truth
    row = tidy[(tidy["outcome"] == "recovered") & (tidy["estimand"] == "ATT")]
    assert row["value"].iloc[0] == wide.loc["recovered", "ATT"]
    text = repr(small)
    assert text.startswith("<SimulatedCohort\nSimulated cohort: 300 patients") and "ATE" in text
    d = small.to_dict()
    assert d["n"] == 300 and d["rng"] == 5 and d["icc"] == 0.06 and len(d["table"]) == 18
    # what the result returns are copies
    pts = small.patients
    pts.loc[:, "pa"] = 7
    assert set(small.patients["pa"].unique()) <= {0, 1}
    truth = small.truth
    truth.iloc[:, :] = 0.0
    assert small.truth.equals(wide)
    sess = small.sessions
    sess.loc[:, "phq9"] = -1
    assert (small.sessions["phq9"] >= 0).all()


def test_lost_to_follow_up_keeps_first_sessions_and_the_truth():
    arr = patient_arrays(40, 8)
    lost = np.zeros(40, dtype=bool)
    lost[[3, 17]] = True
    full = cohort_from_arrays(arr, rng=8)
    part = cohort_from_arrays(arr, rng=8, lost=lost)
    assert part.lost_to_follow_up == 2 and part.to_dict()["lost_to_follow_up"] == 2
    assert part.patients.loc[lost, "phq9_change"].isna().all()
    assert part.patients.loc[~lost, "phq9_change"].notna().all()
    s = part.sessions
    assert (s.loc[s["patient"].isin([4, 18]), "session"] == 0).all()
    assert len(s) == len(full.sessions) - int(full.patients.loc[lost, "n_sessions"].sum()) + 2
    pd.testing.assert_frame_equal(part.truth, full.truth)


def test_simulator_page_blocks_run():
    import pathlib
    import re

    page = pathlib.Path(__file__).resolve().parents[1] / "docs" / "simulator.md"
    blocks = re.findall(r"```python\n(.*?)```", page.read_text(encoding="utf-8"), re.S)
    assert len(blocks) >= 2
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, str(page), "exec"), namespace)  # noqa: S102
    assert namespace["trial"].params.n_therapists == 20


def test_patient_arrays_keys_are_checked():
    from causalpa.simulate._core import ARRAY_NAMES

    assert tuple(patient_arrays(20, 0)) == ARRAY_NAMES
    with pytest.raises(SpecificationError, match=r"`keys` .* \['nope'\]"):
        patient_arrays(10, 1, keys=["nope"])
    assert sorted(patient_arrays(10, 1, keys="pa")) == ["pa"]
