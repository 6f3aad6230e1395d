"""cpa.mixed: input validation, invariants, API behaviour and calibration."""

import dataclasses
import warnings

import numpy as np
import pandas as pd
import pytest

import causalpa as cpa
from causalpa.errors import (
    ConvergenceWarning,
    DataError,
    SingularFitWarning,
    SpecificationError,
)
from causalpa.longitudinal._lmm_fit import LmmProblem


def simulate(n=38, seed=0, slope_effect=0.0, sd_int=3.0, sd_slope=0.4, corr=-0.3, sigma=2.0,
             n_therapists=6, sd_therapist=0.0):
    """Unbalanced sessions from a known random-slope LMM (drop-out: 3 to 10 sessions)."""
    rng = np.random.default_rng(seed)
    pa = rng.permutation(np.r_[np.ones(n // 2), np.zeros(n - n // 2)]).astype(int)
    k = rng.integers(3, 11, size=n)
    cov = [[sd_int**2, corr * sd_int * sd_slope], [corr * sd_int * sd_slope, sd_slope**2]]
    b = rng.multivariate_normal([0, 0], cov, size=n)
    ther = rng.integers(0, n_therapists, size=n)
    u = rng.normal(0, sd_therapist, n_therapists)
    pid = np.repeat(np.arange(n), k)
    s = np.concatenate([np.arange(j) for j in k]).astype(float)
    y = (15 + b[pid, 0] + u[ther[pid]] + (-0.6 + b[pid, 1] + slope_effect * pa[pid]) * s
         + rng.normal(0, sigma, len(pid)))
    return pd.DataFrame({"patient": [f"p{i}" for i in pid], "therapist": ther[pid],
                         "session": s, "pa": pa[pid], "phq9": y})


@pytest.fixture(scope="module")
def data():
    return simulate(seed=11)


@pytest.fixture(scope="module")
def fit(data):
    return cpa.mixed(data, "phq9 ~ session * pa", groups="patient", re_formula="~session")


# --------------------------------------------------------------------------- validation
def test_missing_values_are_refused_naming_the_column(data):
    d = data.copy()
    d.loc[d.index[3], "phq9"] = np.nan
    d.loc[d.index[5], "session"] = np.nan
    with pytest.raises(DataError, match="missing values in columns 'phq9'.*'session'"):
        cpa.mixed(d, "phq9 ~ session * pa", groups="patient")


def test_groups_column_absent(data):
    with pytest.raises(DataError, match="'clinic' named in `groups`"):
        cpa.mixed(data, "phq9 ~ session", groups="clinic")
    with pytest.raises(DataError, match="'visit' named in `re_formula`"):
        cpa.mixed(data, "phq9 ~ session", groups="patient", re_formula="~visit")
    with pytest.raises(DataError, match="'age' named in `formula`"):
        cpa.mixed(data, "phq9 ~ session + age", groups="patient")


def test_too_few_groups(data):
    one = data[data["patient"] == "p0"]
    with pytest.raises(DataError, match="too few groups"):
        cpa.mixed(one, "phq9 ~ session", groups="patient")
    d = data.assign(site=1)
    with pytest.raises(DataError, match="too few groups.*'site'"):
        cpa.mixed(d, "phq9 ~ session", groups=["site", "patient"])


def test_more_random_effects_than_rows():
    d = pd.DataFrame({"g": [0, 0, 1, 1], "x": [0.0, 1, 0, 1], "y": [1.0, 2, 3, 5]})
    with pytest.raises(DataError, match="number of random effects"):
        cpa.mixed(d, "y ~ x", groups="g", re_formula="~x")


def test_non_numeric_outcome(data):
    d = data.assign(phq9=np.where(data["phq9"] > 10, "case", "no"))
    with pytest.raises(DataError, match="outcome column 'phq9' must be numeric"):
        cpa.mixed(d, "phq9 ~ session", groups="patient")


def test_bad_options(data):
    with pytest.raises(SpecificationError, match="`df` must be one of"):
        cpa.mixed(data, "phq9 ~ session", groups="patient", df="bootstrap")
    with pytest.raises(SpecificationError, match="needs a REML fit"):
        cpa.mixed(data, "phq9 ~ session", groups="patient", reml=False, df="kenward-roger")
    with pytest.raises(SpecificationError, match="`formula` must be a string like"):
        cpa.mixed(data, "phq9", groups="patient")
    with pytest.raises(SpecificationError, match="right-hand side only"):
        cpa.mixed(data, "phq9 ~ session", groups="patient", re_formula="phq9 ~ session")
    with pytest.raises(SpecificationError, match="`groups` must be"):
        cpa.mixed(data, "phq9 ~ session", groups=["a", "b", "c"])
    with pytest.raises(SpecificationError, match="`conf_level`"):
        cpa.mixed(data, "phq9 ~ session", groups="patient", conf_level=95)


def test_rank_deficient_design_names_the_column(data):
    d = data.assign(s2=2 * data["session"])
    with pytest.raises(DataError, match="rank-deficient.*'s2'"):
        cpa.mixed(d, "phq9 ~ session + s2", groups="patient")


def test_data_is_not_modified(data):
    before = data.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SingularFitWarning)  # no therapist effect simulated
        fit = cpa.mixed(data, "phq9 ~ session * C(pa)", groups=["therapist", "patient"],
                        re_formula="~session")
        fit.predict(level="subject")
        fit.contrast({"C(pa)[T.1]": 1}, df="kenward-roger")
    pd.testing.assert_frame_equal(data, before)


# --------------------------------------------------------------------------- invariants
def test_row_order_and_label_invariance(data, fit):
    shuffled = data.sample(frac=1.0, random_state=3)
    f2 = cpa.mixed(shuffled, "phq9 ~ session * pa", groups="patient", re_formula="~session")
    pd.testing.assert_frame_equal(fit.tidy(), f2.tidy(), rtol=1e-6)
    assert f2.reml_criterion == pytest.approx(fit.reml_criterion, rel=1e-10)
    # predictions carry the caller's index
    pred = f2.predict(level="subject")
    assert pred.index.equals(shuffled.index)
    np.testing.assert_allclose(pred.sort_index(), fit.predict(level="subject").sort_index(),
                               rtol=1e-6)
    # integer codes instead of strings for the groups give the same fit
    f3 = cpa.mixed(data.assign(patient=data["patient"].str[1:].astype(int)),
                   "phq9 ~ session * pa", groups="patient", re_formula="~session")
    np.testing.assert_allclose(f3.coef, fit.coef, rtol=1e-6)


def test_formula_features_match_manual_columns(data):
    d = data.assign(arm=np.where(data["pa"] == 1, "pa", "ctrl"), s2=data["session"] ** 2,
                    spa=data["session"] * data["pa"])
    a = cpa.mixed(d, "phq9 ~ session * C(arm) + I(session ** 2)", groups="patient")
    b = cpa.mixed(d, "phq9 ~ session + pa + spa + s2", groups="patient")
    assert a.reml_criterion == pytest.approx(b.reml_criterion, rel=1e-10)
    np.testing.assert_allclose(np.sort(a.tidy()["p_value"]), np.sort(b.tidy()["p_value"]),
                               rtol=1e-5)


def test_nested_inner_groups_are_combinations():
    d = simulate(n=30, seed=4, sd_therapist=1.0)
    # patient labels reused across therapists: the inner groups are (therapist, patient)
    d2 = d.assign(patient=d.groupby("therapist")["patient"].transform(
        lambda s: pd.factorize(s)[0]))
    f1 = cpa.mixed(d, "phq9 ~ session * pa", groups=["therapist", "patient"])
    f2 = cpa.mixed(d2, "phq9 ~ session * pa", groups=["therapist", "patient"])
    assert f2.n_groups == f1.n_groups == {"therapist": d["therapist"].nunique(), "patient": 30}
    assert f2.reml_criterion == pytest.approx(f1.reml_criterion, rel=1e-10)
    assert set(f1.random_effects) == {"therapist", "patient"}


def test_df_methods_residual_and_normal(data, fit):
    res = cpa.mixed(data, "phq9 ~ session * pa", groups="patient", re_formula="~session",
                    df="residual")
    assert (res.tidy()["df"] == len(data) - 4).all()
    nor = cpa.mixed(data, "phq9 ~ session * pa", groups="patient", re_formula="~session",
                    df="normal")
    t = nor.tidy()
    assert np.isinf(t["df"]).all()
    from scipy import stats
    np.testing.assert_allclose(t["p_value"], 2 * stats.norm.sf(np.abs(t["statistic"])))
    # Satterthwaite df for the arm-by-session interaction lie between groups-2 and n-p
    sat = fit.tidy().set_index("term")["df"]
    assert 20 < sat["session:pa"] < len(data) - 4
    # same point estimates whichever df
    np.testing.assert_allclose(t["estimate"], fit.tidy()["estimate"])


def test_contrast_equals_tidy_row_and_validates(fit):
    row = fit.contrast({"session:pa": 1}).tidy().iloc[0]
    tab = fit.tidy().set_index("term").loc["session:pa"]
    for c in ["estimate", "std_error", "df", "p_value", "conf_low"]:
        assert row[c] == pytest.approx(tab[c], rel=1e-10)
    many = fit.contrast({"end": {"pa": 1, "session:pa": 7}, "start": {"pa": 1}}).tidy()
    assert list(many["term"]) == ["end", "start"]
    with pytest.raises(SpecificationError, match="not a fixed effect"):
        fit.contrast({"arm": 1})
    with pytest.raises(SpecificationError, match="4 columns"):
        fit.contrast([1, 0])


def test_predict_levels(data, fit):
    pop = fit.predict()
    X = np.column_stack([np.ones(len(data)), data["session"], data["pa"],
                         data["session"] * data["pa"]])
    np.testing.assert_allclose(pop, X @ fit.coef.to_numpy())
    new = pd.DataFrame({"patient": ["p0", "unseen"], "session": [2.0, 2.0], "pa": [0, 0]},
                       index=["a", "b"])
    sub = fit.predict(new, level="subject")
    assert list(sub.index) == ["a", "b"]
    b = fit.random_effects["patient"].loc["p0"]
    assert sub["a"] == pytest.approx(fit.predict(new)["a"] + b["Intercept"] + 2 * b["session"])
    assert sub["b"] == pytest.approx(fit.predict(new)["b"])  # unseen patient: population value
    with pytest.raises(DataError, match="'pa' named in `newdata`"):
        fit.predict(new.drop(columns="pa"))


def test_refit_matches_fresh_fit(data, fit):
    y2 = data["phq9"].to_numpy() + np.random.default_rng(0).normal(size=len(data))
    r = fit.refit(y2)
    fresh = cpa.mixed(data.assign(phq9=y2), "phq9 ~ session * pa", groups="patient",
                      re_formula="~session")
    pd.testing.assert_frame_equal(r.tidy(), fresh.tidy(), rtol=1e-4)  # optimiser tolerance
    # the original result is unaffected
    assert fit.contrast({"pa": 1}, df="kenward-roger").tidy()["estimate"][0] == pytest.approx(
        fit.coef["pa"])


def test_singular_fit_warns_with_remedy():
    rng = np.random.default_rng(2)
    d = pd.DataFrame({"patient": np.repeat(np.arange(15), 5), "session": np.tile(np.arange(5.0), 15)})
    d["phq9"] = 10 + rng.normal(size=len(d))  # no between-patient variation at all
    with pytest.warns(SingularFitWarning, match="singular fit.*re_formula"):
        f = cpa.mixed(d, "phq9 ~ session", groups="patient", re_formula="~session")
    assert f.singular and f.converged
    assert any("singular" in n for n in f.notes)


def test_convergence_warning_message(data, monkeypatch):
    real = LmmProblem.fit

    def broken(self, *a, **k):
        return dataclasses.replace(real(self, *a, **k), converged=False, message="iteration limit")

    monkeypatch.setattr(LmmProblem, "fit", broken)
    with pytest.warns(ConvergenceWarning, match="did not converge.*iteration limit.*re_formula"):
        f = cpa.mixed(data, "phq9 ~ session", groups="patient")
    assert not f.converged


def test_views_read_the_same_table(fit):
    s = fit.summary()
    assert "session:pa" in s and "Residual" in s and "satterthwaite" in s
    assert repr(fit).startswith("<MixedModelResult")
    d = fit.to_dict()
    assert d["table"][3]["term"] == "session:pa"
    assert d["table"][3]["df"] == fit.tidy()["df"][3]
    assert "<table" in fit._repr_html_()


def test_plot_returns_axes(fit):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ax = fit.plot()
    assert ax.get_xlabel() == "session"
    assert len(ax.lines) == 4  # observed and fitted, two arms
    plt.close("all")


def test_random_intercept_ml_vs_statsmodels(data):
    import statsmodels.formula.api as smf

    f = cpa.mixed(data, "phq9 ~ session * pa", groups="patient", reml=False)
    sm = smf.mixedlm("phq9 ~ session * pa", data, groups="patient").fit(reml=False)
    assert f.loglik == pytest.approx(sm.llf, rel=1e-6)
    np.testing.assert_allclose(f.coef.to_numpy(), sm.fe_params.to_numpy(), rtol=1e-4)


# --------------------------------------------------------------------------- calibration
@pytest.mark.slow
def test_calibration_type_one_error_and_coverage_at_n38():
    """Null session:pa effect, n = 38, unbalanced: rejection ~5%, CI coverage ~95%.

    The design is held fixed and only the outcome is redrawn (refit fast path); 250
    replicates give a Monte-Carlo SE of 1.4 points, so the bands are 3 MC SE wide.
    """
    base = simulate(n=38, seed=100)
    fit0 = cpa.mixed(base, "phq9 ~ session * pa", groups="patient", re_formula="~session")
    n_rep = 250
    rng = np.random.default_rng(2024)
    pid = pd.factorize(base["patient"])[0]
    s = base["session"].to_numpy()
    pa = base["pa"].to_numpy()
    cov = [[9.0, -0.36], [-0.36, 0.16]]
    reject = {"satterthwaite": 0, "kenward-roger": 0, "normal": 0}
    cover = 0
    truth_end = -0.0  # arm difference at session 7 (no effect)
    for _ in range(n_rep):
        b = rng.multivariate_normal([0, 0], cov, size=38)
        y = 15 + b[pid, 0] + (-0.6 + b[pid, 1]) * s + 0.0 * pa + rng.normal(0, 2, len(s))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SingularFitWarning)
            f = fit0.refit(y)
        for m in reject:
            reject[m] += f.contrast({"session:pa": 1}, df=m).tidy()["p_value"][0] < 0.05
        c = f.contrast({"pa": 1, "session:pa": 7}).tidy().iloc[0]
        cover += c["conf_low"] <= truth_end <= c["conf_high"]
    mc = 3 * np.sqrt(0.05 * 0.95 / n_rep)
    for m in ("satterthwaite", "kenward-roger"):
        assert abs(reject[m] / n_rep - 0.05) < mc, (m, reject[m])
    assert reject["normal"] >= reject["satterthwaite"]  # z tests are never more conservative
    assert abs(cover / n_rep - 0.95) < mc


@pytest.mark.slow
def test_convergence_on_simulated_cohorts():
    """Random-slope fits on seeded simulated pilot-sized cohorts converge (no ConvergenceWarning)."""
    n_fit, failures = 40, 0
    for seed in range(n_fit):
        sess = cpa.simulate.cohort(n=38, rng=seed, selection=0).sessions
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            f = cpa.mixed(sess, "phq9 ~ session * pa", groups="patient", re_formula="~session",
                          df="normal")
        bad = [w for w in caught if issubclass(w.category, ConvergenceWarning)
               and not issubclass(w.category, SingularFitWarning)]
        failures += (not f.converged) or bool(bad)
    assert failures == 0


# --------------------------------------------------------------------------- fuzzing
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_SMALL = simulate(n=8, seed=5)
_JUNK = st.one_of(st.none(), st.integers(-3, 3), st.floats(allow_nan=True), st.text(max_size=8),
                  st.lists(st.text(max_size=4), max_size=3), st.booleans())


@given(df=st.one_of(st.sampled_from(["satterthwaite", "Kenward-Roger", "normal", "residual"]),
                    _JUNK),
       groups=st.one_of(st.sampled_from(["patient", ["therapist", "patient"], ["patient"],
                                         "session", ["patient", "patient"]]), _JUNK),
       re_formula=st.one_of(st.sampled_from(["~session", "~1", "~ 0 + session", "session",
                                             "~pa", "~ nope", "~~"]), _JUNK),
       conf_level=st.one_of(st.sampled_from([0.9, 0.95]), _JUNK))
def test_malformed_arguments_raise_causalpa_errors(df, groups, re_formula, conf_level):
    before = _SMALL.copy(deep=True)
    try:
        fit = cpa.mixed(_SMALL, "phq9 ~ session", groups=groups, re_formula=re_formula, df=df,
                        conf_level=conf_level)
    except (SpecificationError, DataError):
        pass
    except Exception as exc:  # anything else is a bug in validation
        raise AssertionError(f"{type(exc).__name__}: {exc}") from exc
    else:  # accepted arguments give a complete table
        tidy = fit.tidy()
        assert list(tidy["term"]) == ["Intercept", "session"]
        assert (tidy["conf_low"] <= tidy["conf_high"]).all()
    pd.testing.assert_frame_equal(_SMALL, before)


def test_outcome_shift_and_scale_equivariance(data, fit):
    """y -> a*y + c moves the estimates accordingly and leaves df and p-values unchanged."""
    f2 = cpa.mixed(data.assign(phq9=1000 * data["phq9"] + 1e5), "phq9 ~ session * pa",
                   groups="patient", re_formula="~session")
    t1, t2 = fit.tidy(), f2.tidy()
    np.testing.assert_allclose(t2["df"], t1["df"], rtol=1e-6)
    np.testing.assert_allclose(t2["p_value"][1:], t1["p_value"][1:], rtol=1e-5)
    np.testing.assert_allclose(t2["estimate"], 1000 * t1["estimate"] + np.r_[1e5, 0, 0, 0],
                               rtol=1e-7)
    np.testing.assert_allclose(f2.predict(level="subject"),
                               1000 * fit.predict(level="subject") + 1e5, rtol=1e-8)


def test_kenward_roger_refuses_huge_clusters(monkeypatch):
    import causalpa.longitudinal._lmm_ddf as ddf

    monkeypatch.setattr(ddf, "KR_MAX_RE", 10)
    d = simulate(n=30, seed=4, sd_therapist=1.0, n_therapists=2)
    with pytest.raises(DataError, match="df='satterthwaite'"):
        cpa.mixed(d, "phq9 ~ session * pa", groups=["therapist", "patient"], df="kenward-roger")
    # single-level clusters (patients) are small: fine
    cpa.mixed(d, "phq9 ~ session * pa", groups="patient", df="kenward-roger")


def test_joint_test_reduces_to_contrast_for_one_row(fit):
    for method in ["satterthwaite", "kenward-roger", "residual", "normal"]:
        one = fit.test({"slope": {"session:pa": 1}}, df=method).tidy().iloc[0]
        c = fit.contrast({"session:pa": 1}, df=method).tidy().iloc[0]
        assert one["num_df"] == 1
        assert one["p_value"] == pytest.approx(c["p_value"], rel=1e-6)
        if method != "kenward-roger":  # KR scales F (pbkrtest); its t uses the adjusted SE
            assert one["statistic"] == pytest.approx(c["statistic"] ** 2, rel=1e-8)
    both = fit.test([[0, 0, 1, 0], [0, 0, 0, 1]], df="normal").tidy().iloc[0]
    assert both["num_df"] == 2 and np.isinf(both["den_df"])


# --------------------------------------------------------------------------- the grammar
def test_no_state_is_written_after_construction(data, fit):
    fields = {f.name: getattr(fit, f.name) for f in dataclasses.fields(fit)}
    table = fit.tidy()
    end = {"pa": 1, "session:pa": 7}
    a = fit.contrast(end, df="kenward-roger").tidy()
    b = fit.contrast(end, df="kenward-roger").tidy()
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    fit.test({"slope": {"session:pa": 1}}, df="kenward-roger")
    fit.predict(level="subject")
    # nothing was replaced or added: the same field objects, no attributes beyond the fields
    assert all(getattr(fit, k) is v for k, v in fields.items())
    assert set(vars(fit)) == set(fields)
    assert fit.vcov_adjusted is None  # the Kenward-Roger setup was not kept
    pd.testing.assert_frame_equal(fit.tidy(), table, check_exact=True)
    # computed on demand, it equals a Kenward-Roger fit's own table
    kr = cpa.mixed(data, "phq9 ~ session * pa", groups="patient", re_formula="~session",
                   df="kenward-roger")
    own = kr.tidy().set_index("term").loc["session:pa"]
    other = fit.contrast({"session:pa": 1}, df="kenward-roger").tidy().iloc[0]
    for col in ["estimate", "std_error", "df", "p_value", "conf_low", "conf_high"]:
        assert other[col] == own[col]


def test_result_is_frozen_and_returns_copies(fit):
    with pytest.raises(dataclasses.FrozenInstanceError):
        fit.sigma = 1.0
    table, coef, vc = fit.tidy(), fit.coef, fit.variance_components
    re, theta, vcov = fit.random_effects, fit.theta, fit.vcov
    for frame in (fit.coef, fit.vcov, fit.variance_components, fit.random_effects["patient"],
                  fit.tidy()):
        if isinstance(frame, pd.DataFrame):  # what the result returns is a copy
            frame.loc[frame.index[:2], frame.select_dtypes("number").columns] = 0
        else:
            frame.iloc[:2] = 0
    fit.random_effects.clear()
    fit.theta[:] = 0
    fit.n_groups["patient"] = 0
    pd.testing.assert_frame_equal(fit.tidy(), table)
    pd.testing.assert_series_equal(fit.coef, coef)
    pd.testing.assert_frame_equal(fit.vcov, vcov)
    pd.testing.assert_frame_equal(fit.variance_components, vc)
    pd.testing.assert_frame_equal(fit.random_effects["patient"], re["patient"])
    np.testing.assert_array_equal(fit.theta, theta)
    assert fit.n_groups == {"patient": 38}
    with pytest.raises(ValueError, match="read-only"):
        fit._fit.beta[0] = 0.0  # the arrays held are read-only


def test_changing_the_callers_data_later_changes_nothing(data):
    d = data.copy()
    f = cpa.mixed(d, "phq9 ~ session * pa", groups="patient", re_formula="~session")
    pred, table = f.predict(level="subject"), f.tidy()
    d["session"] = 0.0
    d["phq9"] = 0.0
    pd.testing.assert_series_equal(f.predict(level="subject"), pred)
    pd.testing.assert_frame_equal(f.tidy(), table)


def test_tables_follow_the_shared_schema(fit):
    from causalpa.results import ESTIMATE_COLUMNS

    t = fit.tidy()
    assert list(t.columns) == list(ESTIMATE_COLUMNS)
    assert set(t["outcome"]) == {"phq9"} and set(t["n"]) == {fit.n_obs}
    assert set(t["method"]) == {"linear mixed model (REML, Satterthwaite df)"}
    np.testing.assert_array_equal(fit.params.to_numpy(), fit.coef.to_numpy())
    np.testing.assert_array_equal(fit.bse.to_numpy(), t["std_error"].to_numpy())
    # another level from the same estimates, SEs and df
    ci90 = fit.conf_int(0.9)
    from scipy import stats

    q = stats.t.ppf(0.95, t["df"])
    np.testing.assert_allclose(ci90["conf_low"], t["estimate"] - q * t["std_error"])
    c = fit.contrast({"pa": 1, "session:pa": 7}, df="normal", conf_level=0.9).tidy()
    assert list(c.columns) == list(ESTIMATE_COLUMNS)
    assert c.loc[0, "term"] == "pa + 7*session:pa" and np.isinf(c.loc[0, "df"])
    assert c.loc[0, "method"] == "linear mixed model (REML, normal reference)"


def test_contrasts_stack_with_effects_in_compare(fit):
    from causalpa.results import Effect, compare

    end = {"pa": 1, "session:pa": 7}
    effect = Effect(estimate=-2.0, std_error=1.0, conf_low=-4.0, conf_high=0.0, p_value=0.05,
                    df=30.0, estimand="ATT", method="matching", n_treated=19, n_control=19,
                    outcome="phq9_change", treatment="pa")
    cmp = compare([fit.contrast(end), fit.contrast(end, df="kenward-roger"), effect],
                  names=["satterthwaite", "kenward-roger", "matching"])
    t = cmp.tidy()
    assert list(t["model"]) == ["satterthwaite", "kenward-roger", "matching"]
    assert list(t["term"]) == ["pa + 7*session:pa", "pa + 7*session:pa", "pa"]
    assert t.loc[0, "estimate"] == t.loc[1, "estimate"]
    assert t.loc[1, "std_error"] > t.loc[0, "std_error"]  # the adjusted covariance
    wide = cmp.table()
    assert wide.shape == (2, 3)


def test_joint_test_result_follows_the_protocol(fit):
    import json

    from causalpa.results import Result

    t = fit.test({"level": {"pa": 1}, "slope": {"session:pa": 1}})
    assert isinstance(t, Result)
    assert list(t.tidy().columns) == ["term", "num_df", "den_df", "statistic", "p_value"]
    assert t.summary().splitlines()[0] == "F test of level; slope (Satterthwaite df)"
    d = json.loads(json.dumps(t.to_dict()))
    assert d["table"][0]["num_df"] == 2.0 and d["df_method"] == "satterthwaite"


def test_summary_and_dict_hold_the_fit_statistics(fit):
    d = fit.to_dict()
    assert d["reml_criterion"] == fit.reml_criterion and d["n_obs"] == fit.n_obs
    assert d["groups"] == "patient 38" and d["random_effects"] == "~session | patient"
    assert "SD(session)" in d["variance_components"] and "Residual: SD" in d["variance_components"]
    ml = cpa.mixed(simulate(n=12, seed=1), "phq9 ~ session", groups="patient", reml=False)
    assert "deviance" in ml.to_dict() and "reml_criterion" not in ml.to_dict()
    assert ml.summary().startswith("Linear mixed model fit by ML: phq9 ~ session")


@pytest.mark.parametrize("call, argument", [
    (lambda d, f: cpa.mixed(d, "phq9 ~ session", groups="patient", df="kr"), "df"),
    (lambda d, f: cpa.mixed(d, "phq9 ~ session", groups="patient", df="satt"), "df"),
    (lambda d, f: cpa.mixed(d, "phq9 ~ session", groups=["patient", "patient"]), "groups"),
    (lambda d, f: cpa.mixed(d, "phq9 ~ session", groups=3), "groups"),
    (lambda d, f: cpa.mixed(d, "phq9 ~ session", groups="patient", reml="yes"), "reml"),
    (lambda d, f: cpa.mixed(d, "phq9 ~ session", groups="patient", re_formula=1), "re_formula"),
    (lambda d, f: cpa.mixed(d, "phq9 ~ session", groups="patient", conf_level=1), "conf_level"),
    (lambda d, f: f.contrast({"pa": 1}, df="kenward_roger"), "df"),
    (lambda d, f: f.contrast({"pa": 1}, conf_level=0.0), "conf_level"),
    (lambda d, f: f.test({"a": {"pa": 1}}, df="bootstrap"), "df"),
    (lambda d, f: f.predict(level="individual"), "level"),
    (lambda d, f: f.refit(d["phq9"], df="kr"), "df"),
    (lambda d, f: f.plot(time=3), "time"),
])
def test_declared_options_name_the_argument(data, fit, call, argument):
    with pytest.raises(SpecificationError, match=f"`{argument}` must be"):
        call(data, fit)


def test_df_options_are_declared_once_with_canonical_spelling(data):
    from causalpa._validation import Options, declared_params
    from causalpa.longitudinal.mixed import DF_METHODS, MixedModelResult

    assert DF_METHODS == ("satterthwaite", "kenward-roger", "residual", "normal")
    for fn in (cpa.mixed, MixedModelResult.contrast, MixedModelResult.test,
               MixedModelResult.refit):
        (options,) = [c for c in declared_params(fn)["df"] if isinstance(c, Options)]
        assert options.values == DF_METHODS
    f = cpa.mixed(data, "phq9 ~ session", groups="patient", df="Kenward-Roger")
    assert f.df_method == "kenward-roger"


def test_outcome_must_be_a_column_not_an_expression(data):
    with pytest.raises(SpecificationError, match="left-hand side of `formula`"):
        cpa.mixed(data, "np.log(phq9) ~ session", groups="patient")


def test_predict_new_data_with_factor_terms(data):
    d = data.assign(arm=np.where(data["pa"] == 1, "pa", "control"))
    f = cpa.mixed(d, "phq9 ~ session * C(arm)", groups="patient", re_formula="~session")
    b = f.coef
    assert list(b.index) == ["Intercept", "session", "C(arm)[T.pa]", "session:C(arm)[T.pa]"]
    # new data holding one level only: coded with the fit's levels
    new = pd.DataFrame({"session": [0.0, 3.0], "arm": ["pa", "pa"], "patient": ["p0", "new"]},
                       index=["x", "y"])
    expected = (b["Intercept"] + b["C(arm)[T.pa]"]
                + new["session"] * (b["session"] + b["session:C(arm)[T.pa]"]))
    pd.testing.assert_series_equal(f.predict(new), expected.rename("predicted"))
    sub = f.predict(new, level="subject")
    u = f.random_effects["patient"].loc["p0"]
    assert sub["x"] == pytest.approx(expected["x"] + u["Intercept"])
    assert sub["y"] == pytest.approx(expected["y"])  # unseen patient: population value
    # the fitted rows themselves, with both levels
    rows = d.iloc[:7]
    np.testing.assert_allclose(f.predict(rows), f.predict().iloc[:7], rtol=1e-12)
    with pytest.raises(DataError, match="factor level.*'other'"):
        f.predict(new.assign(arm=["pa", "other"]))


def test_satterthwaite_ingredients_are_lmertest_derivatives(data, fit):
    """The analytic sigma parts equal numDeriv-style derivatives of lmerTest's functions."""
    from causalpa._numdiff import derivatives, hessian, jacobian
    from causalpa.longitudinal._lmm_ddf import satterthwaite

    prob, lfit = fit._design.problem, fit._fit
    setup = satterthwaite(prob, lfit)
    varpar = np.r_[lfit.theta, lfit.sigma]
    H = hessian(lambda v: prob.deviance_varpar(v, reml=True), varpar)
    np.testing.assert_allclose(setup.hessian, H, rtol=1e-6, atol=1e-6 * np.abs(H).max())
    k, p = len(varpar), prob.p
    J = jacobian(lambda v: prob.vcov_varpar(v).ravel(), varpar).T.reshape(k, p, p)
    np.testing.assert_allclose(setup.jac, J, rtol=1e-6, atol=1e-8 * np.abs(J).max())
    # hessian() is derivatives() of a scalar function, to the last bit
    fun = lambda v: prob.deviance_varpar(v, reml=True)  # noqa: E731
    np.testing.assert_array_equal(H, derivatives(lambda v: np.array([fun(v)]), varpar, 1)[2][0])


# --------------------------------------------------------------------------- contrasts L
@pytest.mark.parametrize("method", ["satterthwaite", "kenward-roger", "residual", "normal"])
def test_empty_or_all_zero_contrasts_are_refused(fit, method):
    """No df method returns NaN rows, NaN tests or raw numpy errors for a vacuous L."""
    for L in ({}, np.empty((0, 4))):
        with pytest.raises(SpecificationError, match="`L` (is empty|has no rows)"):
            fit.contrast(L, df=method)
        with pytest.raises(SpecificationError, match="`L` (is empty|has no rows)"):
            fit.test(L, df=method)
    for L in ({"pa": 0}, [[0, 0, 0, 0]], {"level": {"pa": 1}, "none": {}}):
        with pytest.raises(SpecificationError, match="`L` has all-zero rows"):
            fit.contrast(L, df=method)
        with pytest.raises(SpecificationError, match="`L` has all-zero rows"):
            fit.test(L, df=method)


@pytest.mark.parametrize("method", ["satterthwaite", "kenward-roger", "residual", "normal"])
def test_joint_test_reduces_linearly_dependent_rows(fit, method):
    """Dependent rows are reduced to independent ones (lmerTest's contestMD); Kenward-Roger
    raised a raw LinAlgError. The test equals the one of a basis of the same hypotheses
    (except contestMD's pooled Satterthwaite df of q > 1 rows, which depends on the basis)."""
    one = fit.test({"a": {"pa": 1}}, df=method).tidy().iloc[0]
    dup = fit.test({"a": {"pa": 1}, "b": {"pa": 2}}, df=method).tidy().iloc[0]
    two = fit.test({"a": {"pa": 1}, "b": {"session:pa": 1}}, df=method).tidy().iloc[0]
    three = fit.test(np.array([[0, 0, 1, 0], [0, 0, 0, 1], [0, 0, 1, -1.0]]),
                     df=method).tidy().iloc[0]
    for got, want in ((dup, one), (three, two)):
        assert got.num_df == want.num_df
        assert got.statistic == pytest.approx(want.statistic, rel=1e-6)
        if method != "satterthwaite" or want.num_df == 1:
            assert got.den_df == pytest.approx(want.den_df, rel=1e-6)
            assert got.p_value == pytest.approx(want.p_value, rel=1e-6)


def test_satterthwaite_hessian_note_is_warned(data, monkeypatch):
    """lmerTest warns when the deviance's Hessian is not positive definite; the note is kept."""
    import causalpa.longitudinal._lmm_result as lmm_result

    real = lmm_result.satterthwaite
    note = "the Hessian of the deviance has 1 negative eigenvalue(s): test note"

    def with_note(prob, fit):
        return dataclasses.replace(real(prob, fit), notes=(note,))

    monkeypatch.setattr(lmm_result, "satterthwaite", with_note)
    with pytest.warns(ConvergenceWarning, match="negative eigenvalue") as caught:
        f = cpa.mixed(data, "phq9 ~ session", groups="patient")
    assert caught[0].filename == __file__
    assert note in f.notes
    kr = cpa.mixed(data, "phq9 ~ session", groups="patient", df="kenward-roger")
    with pytest.warns(ConvergenceWarning, match="negative eigenvalue") as caught:
        est = kr.contrast({"session": 1}, df="satterthwaite")
    assert caught[0].filename == __file__
    assert note in est.notes


def test_refit_refuses_non_numeric_outcome_naming_y(fit):
    with pytest.raises(DataError, match="`y` must be numeric"):
        fit.refit(["a"] * fit.n_obs)
    with pytest.raises(DataError, match="`y` must hold"):
        fit.refit(np.ones(3))


def test_infinite_outcome_is_refused_by_the_shared_screen(data):
    d = data.assign(phq9=np.where(np.arange(len(data)) == 3, np.inf, data["phq9"]))
    with pytest.raises(DataError, match="infinite values in column 'phq9'"):
        cpa.mixed(d, "phq9 ~ session", groups="patient")
