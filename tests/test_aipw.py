"""Tests for causalpa.aipw (reference: tests/reference/aipw/nhefs_aipw.R)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _calibration_pa import COVARIATES, arrays, mc_band, population_truth

from causalpa.doubly_robust import aipw, aipw_arrays
from causalpa.errors import DataError, PositivityWarning, SmallSampleWarning, SpecificationError

REF = Path(__file__).parent / "reference"
COVS = ["sex", "race", "age", "I(age**2)", "education", "smokeintensity",
        "I(smokeintensity**2)", "smokeyrs", "I(smokeyrs**2)", "exercise", "active", "wt71",
        "I(wt71**2)"]
PS = "qsmk ~ " + " + ".join(f"C({c})" if c in ("sex", "race", "education", "exercise", "active")
                            else c for c in COVS)


@pytest.fixture(scope="module")
def nhefs() -> pd.DataFrame:
    d = pd.read_csv(REF / "weightit" / "nhefs.csv")
    for c in ("sex", "race", "education", "exercise", "active"):
        d[c] = d[c].astype(int).astype(str)
    return d


@pytest.fixture(scope="module")
def ref() -> dict:
    return json.loads((REF / "aipw" / "nhefs_aipw.json").read_text())


def _aipw(*args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PositivityWarning)
        return aipw(*args, **kw)


@pytest.mark.parametrize("estimand", ["ATE", "ATT"])
@pytest.mark.parametrize(
    "outcome,key,measure",
    [("wt82_71", "wt82_71", None), ("death", "death_rd", None),
     ("death", "death_rr", "risk ratio"), ("death", "death_or", "odds ratio")],
)
def test_matches_direct_r_computation(nhefs, ref, estimand, outcome, key, measure):
    r = ref[key][estimand]
    e = _aipw(nhefs, PS, outcome=outcome, estimand=estimand, measure=measure)
    est = np.log(e.estimate) if measure else e.estimate
    assert est == pytest.approx(r["estimate"], rel=1e-7)
    assert e.std_error == pytest.approx(r["se"], rel=1e-7)
    assert e.df == np.inf and "influence function" in e.inference


def test_column_api_equals_formula_api(nhefs):
    a = _aipw(nhefs, "qsmk ~ age + wt71 + C(sex)", outcome="wt82_71")
    b = _aipw(nhefs, outcome="wt82_71", treatment="qsmk", covariates=["age", "wt71", "sex"])
    assert a.estimate == pytest.approx(b.estimate, rel=1e-12)
    assert a.std_error == pytest.approx(b.std_error, rel=1e-12)


def test_cross_fitting_is_seeded_and_close(nhefs):
    form = "qsmk ~ age + wt71 + C(sex)"
    full = _aipw(nhefs, form, outcome="wt82_71")
    c1 = _aipw(nhefs, form, outcome="wt82_71", cross_fit=5, rng=2)
    c2 = _aipw(nhefs, form, outcome="wt82_71", cross_fit=5, rng=2)
    assert c1.estimate == c2.estimate
    assert "5-fold cross-fitting" in c1.inference
    assert abs(c1.estimate - full.estimate) < 0.5 * full.std_error


def test_cross_fitting_predicts_out_of_fold():
    """Changing the outcomes of the units in one fold leaves their own predictions unchanged."""
    a, t, X = arrays(300, 5)
    y = a["phq9_change"].astype(float)
    r = aipw_arrays(y, t, X, cross_fit=3, rng=4)
    rng = np.random.default_rng(4)  # reproduce the stratified fold assignment
    fold = np.empty(300, dtype=int)
    for arm in (0, 1):
        idx = np.flatnonzero(t == arm)
        idx = idx[rng.permutation(len(idx))]
        fold[idx] = np.arange(len(idx)) % 3
    y2 = y.copy()
    y2[fold == 0] += 100.0
    r2 = aipw_arrays(y2, t, X, cross_fit=3, rng=4)
    np.testing.assert_allclose(r2["m1"][fold == 0], r["m1"][fold == 0])
    np.testing.assert_allclose(r2["m0"][fold == 0], r["m0"][fold == 0])
    assert not np.allclose(r2["m1"][fold == 1], r["m1"][fold == 1])


def test_sklearn_models(nhefs):
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.linear_model import LinearRegression

    lin = _aipw(nhefs, "qsmk ~ age + wt71 + smokeintensity", outcome="wt82_71",
                outcome_model=LinearRegression())
    own = _aipw(nhefs, "qsmk ~ age + wt71 + smokeintensity", outcome="wt82_71")
    assert lin.estimate == pytest.approx(own.estimate, rel=1e-8)
    rf = _aipw(nhefs, "qsmk ~ age + wt71 + smokeintensity", outcome="wt82_71",
               outcome_model=RandomForestRegressor(n_estimators=20, min_samples_leaf=20,
                                                   random_state=0),
               cross_fit=3, rng=0)
    assert "RandomForestRegressor" in rf.method
    assert abs(rf.estimate - own.estimate) < 2 * own.std_error


def _dr_replicate(n, seed, ps_wrong=False, outcome_wrong=False):
    a, t, X = arrays(n, seed)
    y = a["phq9_change"].astype(float)
    Xp = X[:, :2] if ps_wrong else X  # wrong = only the intercept and age
    W = X[:, :2] if outcome_wrong else X
    r = aipw_arrays(y, t, Xp, W)
    return r["mu1"] - r["mu0"], np.sqrt(np.sum((r["phi1"] - r["phi0"]) ** 2)) / n, \
        y[t == 1].mean() - y[t == 0].mean()


def test_double_robustness_one_model_misspecified():
    truth = population_truth()["ATE"]
    reps = 100
    for ps_wrong, outcome_wrong in [(True, False), (False, True)]:
        out = np.array([_dr_replicate(1000, 90_000 + s, ps_wrong, outcome_wrong)
                        for s in range(reps)])
        est, _, naive = out.T
        mc = est.std(ddof=1) / np.sqrt(reps)
        assert abs(naive.mean() - truth) > 0.3
        assert abs(est.mean() - truth) < 3 * mc + 0.05, (ps_wrong, outcome_wrong)
    # both wrong: bias remains (the check above can fail)
    out = np.array([_dr_replicate(1000, 90_000 + s, True, True) for s in range(reps)])
    assert abs(out[:, 0].mean() - truth) > 3 * out[:, 0].std(ddof=1) / np.sqrt(reps)


@pytest.mark.parametrize("estimand", ["ATE", "ATT"])
def test_calibration_n1000(estimand):
    truth = population_truth()[estimand]
    reps = 300
    est, se = [], []
    for s in range(reps):
        a, t, X = arrays(1000, 60_000 + s)
        r = aipw_arrays(a["phq9_change"].astype(float), t, X, estimand=estimand)
        est.append(r["mu1"] - r["mu0"])
        se.append(np.sqrt(np.sum((r["phi1"] - r["phi0"]) ** 2)) / 1000)
    est, se = np.array(est), np.array(se)
    assert abs(est.mean() - truth) < 3 * est.std(ddof=1) / np.sqrt(reps) + 0.02
    cover = np.mean(np.abs(est - truth) <= 1.959964 * se)
    lo, hi = mc_band(0.95, reps)
    assert lo <= cover <= hi, cover


def _small_ci(n, seed):
    """CI of aipw() at n = 38 with a Firth propensity model, from the array core."""
    from scipy import stats

    a, t, X = arrays(n, seed)
    r = aipw_arrays(a["phq9_change"].astype(float), t, X, ps_model="firth")
    phi = r["phi1"] - r["phi0"]
    p = 3 * X.shape[1]
    se = np.sqrt(np.sum(phi**2)) / n * np.sqrt(n / (n - p))
    q = stats.t.ppf(0.975, n - p)
    est = r["mu1"] - r["mu0"]
    return est - q * se, est + q * se


def test_calibration_n38_default_small_sample_rule():
    """At n = 38 (Firth PS, 7 covariates) the small-sample CI covers >= 93% of the time."""
    truth = population_truth()["ATE"]
    hits = done = 0
    for s in range(500):
        try:
            lo, hi = _small_ci(38, 80_000 + s)
        except DataError:  # an arm too small for its outcome model
            continue
        done += 1
        hits += lo <= truth <= hi
    assert done > 400
    assert hits / done >= 0.93, hits / done


def test_small_sample_ci_is_what_aipw_reports():
    for seed in range(80_000, 80_010):
        a, t, _ = arrays(38, seed)
        df = pd.DataFrame({c: a[c] for c in COVARIATES}).assign(pa=t, y=a["phq9_change"])
        try:
            lo, hi = _small_ci(38, seed)
        except DataError:
            continue
        with pytest.warns(SmallSampleWarning):
            e = aipw(df, "pa ~ " + " + ".join(COVARIATES), outcome="y", ps_model="firth")
        assert (e.conf_low, e.conf_high) == pytest.approx((lo, hi), rel=1e-8)
        break
    else:  # pragma: no cover
        pytest.fail("no usable replicate")


def test_small_sample_warning():
    a, t, _ = arrays(38, 80_001)
    df = pd.DataFrame({"age": a["age"], "phq9_first": a["phq9_first"], "pa": t,
                       "y": a["phq9_change"]})
    with pytest.warns(SmallSampleWarning, match="t with 29 df"):
        e = aipw(df, outcome="y", treatment="pa", covariates=["age", "phq9_first"])
    assert e.df == 29  # 38 - (3 propensity + 2 x 3 outcome parameters)


def test_bad_input(nhefs):
    before = nhefs.copy()
    with pytest.raises(SpecificationError, match="`estimand`"):
        aipw(nhefs, outcome="wt82_71", treatment="qsmk", covariates=["age"], estimand="ATO")
    with pytest.raises(SpecificationError, match="`cross_fit`"):
        aipw(nhefs, outcome="wt82_71", treatment="qsmk", covariates=["age"], cross_fit=1)
    with pytest.raises(DataError, match="'nope'"):
        aipw(nhefs, outcome="nope", treatment="qsmk", covariates=["age"])
    with pytest.raises(DataError, match="0/1 outcome"):
        aipw(nhefs, outcome="wt82_71", treatment="qsmk", covariates=["age"], measure="odds ratio")
    one = nhefs.assign(qsmk=(nhefs.index == 3).astype(int))
    with pytest.raises(DataError, match="treated arm .* 1 unit"):
        aipw(one, outcome="wt82_71", treatment="qsmk", covariates=["age"])
    sep = pd.DataFrame({"x": np.arange(40.0), "t": [0] * 20 + [1] * 20, "y": np.arange(40.0)})
    with pytest.raises(DataError, match="separation"):
        aipw(sep, outcome="y", treatment="t", covariates=["x"])
    pd.testing.assert_frame_equal(nhefs, before)


def test_separated_logistic_outcome_model_warns():
    from causalpa.errors import ConvergenceWarning

    rng = np.random.default_rng(2)
    n = 200
    df = pd.DataFrame({"x": rng.normal(size=n)})
    df["t"] = rng.binomial(1, 0.5, n)
    df["y"] = ((df.x > 0) & (df.t == 1)).astype(int)  # in the treated arm x separates y
    df.loc[df.index[:3], "y"] = 1 - df.loc[df.index[:3], "y"] * (df.t[:3] == 0)
    with pytest.warns(ConvergenceWarning, match="separation in an arm"):
        aipw(df, outcome="y", treatment="t", covariates=["x"])


def test_reprs(nhefs):
    from causalpa.propensity import propensity
    from causalpa.weighting import weight

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ps = propensity(nhefs, "qsmk ~ age + wt71")
        w = weight(nhefs, "qsmk ~ age + wt71", stabilize=True)
    assert "403 treated" in repr(ps)  # the reprs come from the result protocol
    assert "ess" in repr(w).lower() and "stabilised" in repr(w)


def test_declared_options_name_the_argument(nhefs):
    base = {"data": nhefs, "formula": "qsmk ~ age + wt71", "outcome": "wt82_71"}
    bad = {"outcome_model": "probit", "ps_model": "probit", "cross_fit": 2.5, "rng": "seed",
           "conf_level": 1.0, "measure": "ratio", "estimand": "ATC", "outcome": 3,
           "covariates": [1, 2], "outcome_covariates": 3}
    for name, value in bad.items():
        kw = {**base, name: value}
        if name == "covariates":
            kw = {**kw, "formula": None, "treatment": "qsmk"}
        with pytest.raises(SpecificationError, match=f"`{name}`"):
            _aipw(**kw)
    with pytest.raises(SpecificationError, match="0/1 outcome"):
        _aipw(**base, outcome_model="logistic")
    with pytest.raises(SpecificationError, match="`outcome_model`"):
        _aipw(**base, outcome_model=object())  # no fit/predict
    with pytest.raises(SpecificationError, match="`cross_fit`"):
        aipw_arrays(np.zeros(4), np.array([0, 1, 0, 1]), np.ones((4, 1)), cross_fit=1)
    e = _aipw(**base, estimand="att", measure="DIFFERENCE")  # canonical spellings
    assert (e.estimand, e.measure) == ("ATT", "difference")


def test_effect_follows_the_shared_schema(nhefs):
    e = _aipw(nhefs, "qsmk ~ age + wt71", outcome="wt82_71",
              outcome_covariates=("age", "wt71", "sex"))
    t = e.tidy()
    row = t.iloc[0]
    assert (row["term"], row["outcome"], row["estimand"]) == ("qsmk", "wt82_71", "ATE")
    assert row["method"] == "AIPW (outcome: linear, propensity: logistic)"
    assert row["n"] == len(nhefs) and e.treatment == "qsmk"
    assert float(e.params["qsmk"]) == e.estimate and float(e.bse["qsmk"]) == e.std_error
    same = _aipw(nhefs, "qsmk ~ age + wt71", outcome="wt82_71",
                 outcome_covariates="age + wt71 + C(sex)")
    pd.testing.assert_frame_equal(t, same.tidy())  # a list and a right-hand side agree


def test_rng_generator_and_seed(nhefs):
    form = "qsmk ~ age + wt71"
    a = _aipw(nhefs, form, outcome="wt82_71", cross_fit=3, rng=5)
    b = _aipw(nhefs, form, outcome="wt82_71", cross_fit=3, rng=np.random.default_rng(5))
    assert a.estimate == b.estimate  # an int seed is default_rng(seed)
    g = np.random.default_rng(5)
    c1 = _aipw(nhefs, form, outcome="wt82_71", cross_fit=3, rng=g)
    c2 = _aipw(nhefs, form, outcome="wt82_71", cross_fit=3, rng=g)
    assert c1.estimate != c2.estimate  # a Generator advances


def test_warnings_point_at_the_caller():
    a, t, _ = arrays(38, 80_001)
    df = pd.DataFrame({"age": a["age"], "phq9_first": a["phq9_first"], "pa": t,
                       "y": a["phq9_change"]})
    with pytest.warns(SmallSampleWarning) as rec:
        e = aipw(df, outcome="y", treatment="pa", covariates=["age", "phq9_first"])
    assert {w.filename for w in rec if w.category is SmallSampleWarning} == {__file__}
    assert e.notes and "fewer than 20 units" in e.notes[0]


def test_aipw_arrays_checks_its_arrays():
    rng = np.random.default_rng(0)
    n = 100
    x = rng.normal(size=n)
    t = rng.binomial(1, 0.5, n)
    y = x + t + rng.normal(size=n)
    X = np.column_stack([np.ones(n), x])
    cases = [
        ((y[:90], t, X), "`t` has 100 values but `y` has 90 values"),
        ((y, t, X[:90]), "`X` has 90 rows but `y` has 100 values"),
        ((y, t, X, X[:50]), "`W` has 50 rows but `y` has 100 values"),
        ((y, t + 1, X), "`t` must be the 0/1 treatment \\(1 = treated\\); its values are 1, 2"),
        ((np.r_[np.nan, y[1:]], t, X), "`y` has missing or infinite values at positions 0"),
        ((y, t, np.where(np.arange(n)[:, None] == 4, np.inf, X)),
         "`X` has missing or infinite values at positions 4"),
        ((y, t, x), "`X` must be a 2-D model matrix"),
        ((y, np.r_[1, np.zeros(n - 1, dtype=int)], X), "treated arm of 't' has 1 unit; AIPW"),
        ((np.array(["a"] * n), t, X), "`y` must be numeric"),
    ]
    for args, message in cases:
        with pytest.raises(DataError, match=message):
            aipw_arrays(*args)
    with pytest.raises(DataError, match="`scores` has 3 values"):
        aipw_arrays(y, t, X, scores=np.full(3, 0.5))
    with pytest.raises(DataError, match="`binary=True` needs a 0/1 outcome `y`"):
        aipw_arrays(y, t, X, binary=True)
    # a boolean treatment is the 0/1 treatment
    a, b = aipw_arrays(y, t, X), aipw_arrays(y, t.astype(bool), X)
    assert a["mu1"] - a["mu0"] == b["mu1"] - b["mu0"]


def test_classifier_propensity_model_in_and_out_of_fold():
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(2)
    n = 400
    x = rng.normal(size=n)
    t = rng.binomial(1, 1 / (1 + np.exp(-x)))
    y = 2.0 * t + x + rng.normal(size=n)
    X = np.column_stack([np.ones(n), x])
    clf = LogisticRegression(C=1e6)
    r = aipw_arrays(y, t, X, ps_model=clf)
    expected = clf.fit(x[:, None], t).predict_proba(x[:, None])[:, 1]
    np.testing.assert_allclose(r["e"], expected, rtol=1e-12)
    own = aipw_arrays(y, t, X)
    np.testing.assert_allclose(r["e"], own["e"], rtol=1e-4)
    cf = aipw_arrays(y, t, X, ps_model=clf, cross_fit=2, rng=1)
    assert abs((cf["mu1"] - cf["mu0"]) - (own["mu1"] - own["mu0"])) < 0.1
