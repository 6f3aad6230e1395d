"""Tests for cpa.panel: R (lm + patient dummies + sandwich::vcovCL) references, a hand within
transformation, absorption of time-invariant terms, bad input."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import causalpa as cpa
from causalpa.errors import DataError, SpecificationError
from causalpa.results import ESTIMATE_COLUMNS

REF = Path(__file__).parent / "reference"
R_PANEL = json.loads((REF / "panel" / "panel_fe.json").read_text())


@pytest.fixture(scope="module")
def sessions() -> pd.DataFrame:
    d = pd.read_csv(REF / "geepack" / "sessions.csv")
    d["therapist"] = "T" + ((d.patient.str[1:].astype(int) - 1) // 5 + 1).astype(str)
    return d


CASES = {
    "entity_patient": {},
    "entity_therapist": {"cluster": "therapist"},
    "entity_time_patient": {"time_effects": True},
}


@pytest.mark.parametrize("case", list(CASES))
def test_matches_r_dummy_regression(sessions, case):
    ref = R_PANEL[case]
    fit = cpa.panel(sessions, "phq9 ~ session * pa", **CASES[case])
    assert list(fit.terms) == list(np.atleast_1d(ref["term"]))
    np.testing.assert_allclose(fit.params, np.atleast_1d(ref["estimate"]), rtol=1e-8)
    n, G, K = ref["n"], ref["clusters"], fit.n_regressors
    assert fit.n_obs == n and fit.n_clusters == G
    assert K == len(fit.terms) + (7 if fit.time_effects else 0)  # sessions 0..7: 7 dummies
    factor = G / (G - 1) * (n - 1) / (n - K)
    np.testing.assert_allclose(fit.tidy().std_error,
                               np.atleast_1d(ref["se_cr0"]) * np.sqrt(factor), rtol=1e-8)
    crude = cpa.panel(sessions, "phq9 ~ session * pa", se="CR0", **CASES[case])
    np.testing.assert_allclose(crude.cov.to_numpy(),
                               np.array(ref["cr0"], dtype=float).reshape(crude.cov.shape),
                               rtol=1e-8)
    tab = fit.tidy()
    assert (tab.df == G - 1).all()
    from scipy import stats

    np.testing.assert_allclose(tab.p_value, 2 * stats.t.sf(np.abs(tab.statistic), G - 1))


def test_hand_within_transformation(sessions):
    d = sessions
    cols = np.column_stack([d.session, d.session * d.pa]).astype(float)
    g = pd.factorize(d.patient)[0]
    means = np.zeros((40, 2))
    np.add.at(means, g, cols)
    Xw = cols - (means / np.bincount(g)[:, None])[g]
    yw = d.phq9.to_numpy() - d.groupby("patient").phq9.transform("mean").to_numpy()
    beta = np.linalg.solve(Xw.T @ Xw, Xw.T @ yw)
    e = yw - Xw @ beta
    S = np.zeros((40, 2))
    np.add.at(S, g, Xw * e[:, None])
    B = np.linalg.inv(Xw.T @ Xw)
    V = B @ S.T @ S @ B * 40 / 39 * (len(d) - 1) / (len(d) - 2)
    fit = cpa.panel(d, "phq9 ~ session * pa")
    np.testing.assert_allclose(fit.params, beta, rtol=1e-10)
    np.testing.assert_allclose(fit.cov.to_numpy(), V, rtol=1e-10)


def test_time_invariant_confounding_removed(sessions):
    """Adding any patient-level shift to the outcome (an unobserved time-invariant
    confounder) leaves the within estimates and SEs unchanged."""
    rng = np.random.default_rng(4)
    shift = pd.Series(rng.normal(0, 10, 40), index=sorted(sessions.patient.unique()))
    shifted = sessions.assign(phq9=sessions.phq9 + shift.reindex(sessions.patient).to_numpy())
    a = cpa.panel(sessions, "phq9 ~ session * pa + age")
    b = cpa.panel(shifted, "phq9 ~ session * pa + age")
    assert a.absorbed == ("pa", "age")
    np.testing.assert_allclose(a.params, b.params, rtol=1e-9)
    np.testing.assert_allclose(a.cov, b.cov, rtol=1e-7)


def test_row_order_and_no_mutation(sessions):
    before = sessions.copy()
    a = cpa.panel(sessions, "phq9 ~ session * pa", time_effects=True)
    b = cpa.panel(sessions.sample(frac=1, random_state=1), "phq9 ~ session * pa",
                  time_effects=True)
    np.testing.assert_allclose(a.params, b.params, rtol=1e-10)
    np.testing.assert_allclose(a.cov, b.cov, rtol=1e-10)
    pd.testing.assert_frame_equal(sessions, before)
    assert "absorbed" in a.summary() and "<table" in a._repr_html_()
    assert a.to_dict()["absorbed"] == ["session", "pa"]


def test_result_schema_copies_and_names(sessions):
    fit = cpa.panel(sessions, "phq9 ~ session * pa", cluster="therapist", se="cr0")
    tab = fit.tidy()
    assert list(tab.columns) == list(ESTIMATE_COLUMNS)
    assert (tab.outcome == "phq9").all() and (tab.n == len(sessions)).all()
    assert fit.se == "CR0" and fit.n_groups == 40 and fit.cluster == "therapist"
    assert fit.n_clusters == sessions.therapist.nunique() and fit.groups == "patient"
    np.testing.assert_array_equal(fit.params.to_numpy(), tab.estimate.to_numpy())
    np.testing.assert_array_equal(fit.conf_int().conf_low.to_numpy(), tab.conf_low.to_numpy())
    cov = fit.cov
    cov.iloc[:, :] = 0.0
    pd.testing.assert_frame_equal(fit.tidy(), tab)
    with pytest.raises(dataclasses.FrozenInstanceError):
        fit.se = "CR1"  # type: ignore[misc]
    d = fit.to_dict()
    assert d["se"] == "CR0" and d["n_groups"] == 40 and "debiased" not in d
    normal = cpa.panel(sessions, "phq9 ~ session * pa", df="normal")
    assert np.isinf(normal.tidy().df).all()
    assert cpa.panel(sessions, "phq9 ~ session * pa", df=10).df == 10.0


def test_declared_options(sessions):
    for kwargs, name in [({"se": "CR2"}, "se"), ({"time_effects": "yes"}, "time_effects"),
                         ({"cluster": 3}, "cluster"), ({"groups": None}, "groups"),
                         ({"df": 0}, "df"), ({"conf_level": 95}, "conf_level"),
                         ({"time": ["session"]}, "time")]:
        with pytest.raises(SpecificationError, match=f"`{name}`"):
            cpa.panel(sessions, "phq9 ~ session * pa", **kwargs)


def test_bad_inputs(sessions):
    with pytest.raises(DataError, match="absorbed"):
        cpa.panel(sessions, "phq9 ~ pa + age")
    dup = pd.concat([sessions, sessions.head(1)], ignore_index=True)
    with pytest.raises(DataError, match="repeat"):
        cpa.panel(dup, "phq9 ~ session")
    d = sessions.copy()
    d.loc[d.index[2], "phq9"] = np.nan
    with pytest.raises(DataError, match="'phq9'"):
        cpa.panel(d, "phq9 ~ session")
    with pytest.raises(DataError, match="'clinic'"):
        cpa.panel(sessions, "phq9 ~ session", cluster="clinic")
    with pytest.raises(DataError, match="whole"):
        cpa.panel(sessions.assign(t=np.arange(len(sessions)) % 3), "phq9 ~ session", cluster="t")
    with pytest.raises(DataError, match="numeric"):
        cpa.panel(sessions.assign(s=sessions.session.astype(str)), "phq9 ~ pa", time="s")
    with pytest.raises(SpecificationError, match="`df`"):
        cpa.panel(sessions, "phq9 ~ session", df="kr")
    with pytest.raises(SpecificationError, match="intercept"):
        cpa.panel(sessions, "phq9 ~ 1")


def test_fewer_than_two_clusters_are_refused(sessions):
    """linearmodels raised a raw ValueError (lazily, when the covariance was read)."""
    one = sessions[sessions.patient == sessions.patient.iloc[0]]
    with pytest.raises(DataError, match="too few clusters: `groups` column 'patient' has 1 level"):
        cpa.panel(one, "phq9 ~ session")
    with pytest.raises(DataError, match="too few clusters: `cluster` column 'site' has 1 level"):
        cpa.panel(sessions.assign(site="A"), "phq9 ~ session", cluster="site")


def test_collinear_time_varying_terms_are_refused_not_absorbed(sessions):
    """A time-varying term that is a combination of other identified terms is collinear (an
    error naming it, as in the other models), not 'absorbed' by the patient effects; terms
    constant within patient, or explained by session with time effects, are still absorbed."""
    d = sessions.assign(s2=2 * sessions.session, w=sessions.session * sessions.pa + 1)
    with pytest.raises(DataError, match="rank-deficient.*'s2'"):
        cpa.panel(d, "phq9 ~ session + s2")
    with pytest.raises(DataError, match="rank-deficient.*'session:pa' is a linear combination"):
        cpa.panel(d, "phq9 ~ session * pa + w")  # w = session:pa + 1
    fit = cpa.panel(d, "phq9 ~ session * pa + age", time_effects=True)
    assert fit.terms == ("session:pa",) and fit.absorbed == ("session", "pa", "age")
