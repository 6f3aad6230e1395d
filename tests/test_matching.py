"""Matching against MatchIt 4.5.1 (classic path references in tests/reference/matchit/)."""

import json
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import causalpa.matching as M
from causalpa.errors import CausalpaWarning, DataError, SmallSampleWarning, SpecificationError

REF = Path(__file__).parent / "reference" / "matchit"
F = "treat ~ age + educ + race + married + nodegree + re74 + re75"
CASES = json.loads((REF / "lalonde_matching.json").read_text())
NHEFS_CASES = json.loads((REF / "nhefs_matching.json").read_text())
F_NHEFS = ("treat ~ C(sex) + C(race) + age + C(education) + smokeintensity + smokeyrs"
           " + C(exercise) + C(active) + wt71")
FACTORS = {"lalonde": ["race"], "nhefs": ["sex", "race", "education", "exercise", "active"]}
ALL_CASES = [("lalonde", c) for c in CASES["cases"]] + [("nhefs", c) for c in NHEFS_CASES["cases"]]
IDS = [c["name"] for _, c in ALL_CASES]


@pytest.fixture(scope="module")
def lalonde():
    return pd.read_csv(REF / "lalonde.csv").set_index("id")


@pytest.fixture(scope="module")
def datasets(lalonde):
    path = Path(__file__).parents[1] / "causalpa" / "datasets" / "data" / "nhefs.csv"
    nhefs = pd.read_csv(path)
    nhefs.index = nhefs["seqn"].astype(str)
    nhefs["treat"] = nhefs["qsmk"]
    for v in FACTORS["nhefs"]:
        nhefs[v] = nhefs[v].astype(str)
    return {"lalonde": lalonde, "nhefs": nhefs}


def run(data, case, dataset="lalonde"):
    o = case["options"]
    kw = dict(ratio=o["ratio"], replace=o["replace"], estimand=o["estimand"], order=o["order"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if o.get("exact"):
            kw["exact"] = o["exact"].strip("~ ")
        if o["scale"] == "mahalanobis":
            return M.match(data, o["formula"], distance="mahalanobis", **kw)
        formula = F if dataset == "lalonde" else F_NHEFS
        # "With the same propensity scores": R's glm scores (ours agree to ~3e-9, but a
        # near-tie can flip on that), so the matching algorithm itself is what is compared
        ref = CASES if dataset == "lalonde" else NHEFS_CASES
        d = np.array(ref["ps"] if o["scale"] == "ps" else ref["linear_predictor"])
        return M.match(data, formula, distance=d, caliper=o.get("caliper"), **kw)


def focal_pairs(m, with_round=True):
    p = m.pairs
    f, o = (p.treated, p.control) if m.estimand == "ATT" else (p.control, p.treated)
    return set(zip(f, o, p["round"], strict=True)) if with_round else set(zip(f, o, strict=True))


def test_end_to_end_with_own_propensity_scores(datasets):
    # cpa.match(distance="ps"/"logit") fits the score itself; on these well-separated
    # cases the matched sets equal MatchIt's
    for name in ("nn1_cal02", "nn1_logit_cal01_smallest"):
        case = next(c for c in CASES["cases"] if c["name"] == name)
        o = case["options"]
        m = M.match(datasets["lalonde"], F, distance=o["scale"], caliper=o["caliper"],
                    order=o["order"])
        rp = pd.DataFrame(case["pairs"])
        assert focal_pairs(m) == set(zip(rp.focal, rp.match, rp["round"], strict=True))


def test_propensity_matches_R(datasets):
    m = M.match(datasets["lalonde"], F)
    np.testing.assert_allclose(m.distance.to_numpy(), CASES["ps"], atol=1e-7)
    m = M.match(datasets["nhefs"], F_NHEFS)
    np.testing.assert_allclose(m.distance.to_numpy(), NHEFS_CASES["ps"], atol=1e-7)


@pytest.mark.parametrize("dataset,case", ALL_CASES, ids=IDS)
def test_matched_sets_identical_to_matchit(datasets, dataset, case):
    m = run(datasets[dataset], case, dataset)
    rp = pd.DataFrame(case["pairs"])
    # With replacement MatchIt's round order among exactly equidistant controls is arbitrary;
    # the matched sets (and weights) must still be identical.
    with_round = not case["options"]["replace"]
    theirs = set(zip(rp.focal, rp.match, rp["round"], strict=True)) if with_round \
        else set(zip(rp.focal, rp.match, strict=True))
    if with_round:
        assert focal_pairs(m, with_round) == theirs
    else:
        assert_same_up_to_exact_ties(m, rp)
    if case["options"].get("raw_caliper") is not None:
        assert m.info.raw_caliper == pytest.approx(case["options"]["raw_caliper"], rel=1e-7)
        assert (m.pairs["distance"] <= m.info.raw_caliper).all()


def assert_same_up_to_exact_ties(m, rp):
    """With replacement and ratio > 1, MatchIt orders exactly equidistant controls by its C++
    partial sort; causalpa takes them in data order. Every focal unit must then get the same
    multiset of match distances, and any differing control must be an exact tie."""
    ours = focal_pairs(m, with_round=False)
    theirs = set(zip(rp.focal, rp.match, strict=True))
    if ours == theirs:
        return
    pos = {k: i for i, k in enumerate(m.data.index)}
    feats = m.distance.to_numpy()[:, None] if m.distance is not None else \
        M.mahalanobis_features(m.spec.covariate_frame(m.data).to_numpy(float), m.treatment)

    def dist(a, b):
        return float(np.sqrt(((feats[pos[a]] - feats[pos[b]]) ** 2).sum()))

    for f in {a for a, _ in ours ^ theirs}:
        d_ours = sorted(dist(f, c) for a, c in ours if a == f)
        d_theirs = sorted(dist(f, c) for a, c in theirs if a == f)
        np.testing.assert_allclose(d_ours, d_theirs, rtol=1e-12, atol=1e-15)
    assert len(ours ^ theirs) <= 0.01 * len(theirs)


@pytest.mark.parametrize("dataset,case", ALL_CASES, ids=IDS)
def test_weights_and_subclasses_equal_match_data(datasets, dataset, case):
    m = run(datasets[dataset], case, dataset)
    rp = pd.DataFrame(case["pairs"])
    if case["options"]["replace"] and focal_pairs(m, False) != set(
            zip(rp.focal, rp.match, strict=True)):
        pytest.skip("an exact tie resolved differently (checked in the matched-sets test)")
    want = pd.Series(case["weights"], index=case["ids"])
    np.testing.assert_allclose(m.weights.reindex(want.index).to_numpy(), want.to_numpy(),
                               rtol=1e-12, atol=1e-12)
    if case["subclass"] is None:
        assert m.subclass is None
        return
    # same partition into matched sets (R numbered them on its re-arranged data)
    mine = m.subclass.reindex(case["ids"])
    theirs = pd.Series(case["subclass"], index=case["ids"])
    matched = want > 0
    a = mine[matched].groupby(mine[matched]).groups
    b = theirs[matched].groupby(theirs[matched]).groups
    assert {frozenset(v) for v in a.values()} == {frozenset(v) for v in b.values()}
    if list(case["ids"]) == list(datasets[dataset].index):
        # R ran on the data in its original order: subclass numbers are MatchIt's exactly
        np.testing.assert_array_equal(mine[matched].astype(int).to_numpy(),
                                      theirs[matched].astype(int).to_numpy())
    md = m.matched_data()
    assert list(md.columns[-3:]) == (["distance", "weights", "subclass"]
                                     if m.distance is not None else list(md.columns[-3:]))
    assert len(md) == int(matched.sum())


def _r_name(name, ours, factors):
    if name in ours:
        return name
    for v in factors:
        if name.startswith(v) and f"{v}_{name[len(v):]}" in ours:
            return f"{v}_{name[len(v):]}"
    return name


@pytest.mark.parametrize("dataset,case", ALL_CASES, ids=IDS)
def test_balance_equals_summary_matchit(datasets, dataset, case):
    m = run(datasets[dataset], case, dataset)
    rp = pd.DataFrame(case["pairs"])
    if case["options"]["replace"] and focal_pairs(m, False) != set(
            zip(rp.focal, rp.match, strict=True)):
        pytest.skip("an exact tie resolved differently (checked in the matched-sets test)")
    bal = m.balance()
    swapped = "treat <- 1 - treat" in case["options"]["path"]
    for key, sample in (("sum_all", "unadjusted"), ("sum_matched", "adjusted")):
        tab = case[key]
        want = pd.DataFrame(np.array(tab["values"], dtype=float), index=tab["rows"],
                            columns=tab["cols"])
        ours = bal.to_matchit(sample)
        want.index = [_r_name(r, ours.index, FACTORS[dataset]) for r in want.index]
        got = ours.loc[want.index, [c for c in want.columns if c in ours.columns]]
        if swapped:  # R ran ATT on 1 - treat: arms are exchanged
            got = got.rename(columns={"Means Treated": "Means Control",
                                      "Means Control": "Means Treated"})
            got["Std. Mean Diff."] *= -1
            got["Var. Ratio"] = 1 / got["Var. Ratio"]
        want = want[got.columns]
        np.testing.assert_allclose(got.to_numpy(dtype=float), want.to_numpy(dtype=float),
                                   rtol=1e-6, atol=1e-9, equal_nan=True, err_msg=key)
    nn = case["nn"]
    nn = pd.DataFrame(np.array(nn["values"], dtype=float), index=nn["rows"], columns=nn["cols"])
    if swapped:
        nn = nn[["Treated", "Control"]].set_axis(["Control", "Treated"], axis=1)
    np.testing.assert_allclose(bal.n.loc["Matched", ["Control", "Treated"]],
                               nn.loc["Matched", ["Control", "Treated"]])
    np.testing.assert_allclose(bal.n.loc["Matched (ESS)", ["Control", "Treated"]],
                               nn.loc["Matched (ESS)", ["Control", "Treated"]], rtol=1e-10)


def test_distance_row_and_flags(lalonde):
    m = M.match(lalonde, F, caliper=0.2)
    bal = m.balance()
    assert bal.unadjusted.index[0] == "distance"
    assert "race_black" in bal.unadjusted.index and "race_white" in bal.unadjusted.index
    assert bal.tidy()["sample"].unique().tolist() == ["unadjusted", "adjusted"]
    assert set(bal.flags) == set(bal.adjusted.index[bal.adjusted["smd"].abs() > 0.1])


def test_fast_path_equals_naive_scan_random(lalonde):
    rng = np.random.default_rng(5)
    for trial in range(30):
        n = int(rng.integers(5, 120))
        focal = rng.random(n) < rng.uniform(0.1, 0.6)
        if focal.all() or not focal.any():
            continue
        # discrete values create many exact ties
        d = np.round(rng.random(n), int(rng.integers(1, 3)))
        order = np.flatnonzero(focal)
        order = order[np.argsort(-d[order], kind="stable")] if trial % 2 else rng.permutation(order)
        cal = None if trial % 3 == 0 else float(rng.uniform(0, 0.2))
        ratio = int(rng.integers(1, 4))
        for replace in (False, True):
            p = M.MatchProblem(focal=focal, order=order, ratio=ratio, replace=replace,
                               distance=d, caliper=cal)
            np.testing.assert_array_equal(M.METHODS["nearest"](p), M.naive_greedy(p))


def test_row_order_and_formula_vs_columns_invariance(lalonde):
    m1 = M.match(lalonde, F, caliper=0.2)
    m2 = M.match(lalonde, treatment="treat",
                 covariates=["age", "educ", "race", "married", "nodegree", "re74", "re75"],
                 caliper=0.2)
    assert focal_pairs(m1) == focal_pairs(m2)
    # relabelled rows keep labels in the output
    d2 = lalonde.rename(index=lambda s: "id_" + s)
    m3 = M.match(d2, F, caliper=0.2)
    assert {("id_" + a, "id_" + b) for a, b, _ in focal_pairs(m1)} == focal_pairs(m3, False)


def test_order_random_seeded(lalonde):
    a = M.match(lalonde, F, order="random", rng=3, caliper=0.1)
    b = M.match(lalonde, F, order="random", rng=3, caliper=0.1)
    assert focal_pairs(a) == focal_pairs(b)


def test_user_vector_and_matrix_distance(lalonde):
    ps = np.array(CASES["ps"])
    m_vec = M.match(lalonde, F, distance=ps, caliper=0.2)
    case = next(c for c in CASES["cases"] if c["name"] == "nn1_cal02")
    rp = pd.DataFrame(case["pairs"])
    assert focal_pairs(m_vec) == set(zip(rp.focal, rp.match, rp["round"], strict=True))
    t = lalonde["treat"].to_numpy() == 1
    D = np.abs(ps[t][:, None] - ps[~t][None, :])
    m_mat = M.match(lalonde, F, distance=D, order="data")
    m_dat = M.match(lalonde, F, distance=ps, order="data")
    assert focal_pairs(m_mat) == focal_pairs(m_dat)


def test_optimal_minimises_total_distance(lalonde):
    greedy = M.match(lalonde, F, method="nearest")
    opt = M.match(lalonde, F, method="optimal")
    assert len(opt.pairs) == len(greedy.pairs) == 185
    assert opt.pairs["distance"].sum() <= greedy.pairs["distance"].sum() + 1e-12
    # brute force on a small problem
    from itertools import permutations
    rng = np.random.default_rng(2)
    d = rng.random(9)
    focal = np.array([1, 1, 1, 0, 0, 0, 0, 0, 0], dtype=bool)
    p = M.MatchProblem(focal=focal, order=np.arange(3), ratio=1, replace=False, distance=d)
    mm = M.METHODS["optimal"](p)
    best = min(sum(abs(d[i] - d[3 + c]) for i, c in enumerate(perm))
               for perm in permutations(range(6), 3))
    assert sum(abs(d[i] - d[mm[i, 0]]) for i in range(3)) == pytest.approx(best)


def test_estimate_on_matched_data(lalonde):
    m = M.match(lalonde, F, caliper=0.2)
    e = m.estimate("re78")
    ref = json.loads((REF / "lalonde_estimation.json").read_text())["cases"][0]
    assert e.estimate == pytest.approx(ref["estimate"], rel=1e-9)
    assert e.std_error == pytest.approx(ref["se_cl_hc1"], rel=1e-6)
    assert e.estimand == "ATT" and "caliper 0.2 SD" in e.method
    assert e.n_treated == 113
    e_rep = M.match(lalonde, F, replace=True).estimate("re78")
    assert "robust" in e_rep.inference


def test_bad_input(lalonde):
    before = lalonde.copy()
    far = lalonde["treat"].to_numpy(dtype=float)  # treated at 1, controls at 0
    with pytest.raises(DataError, match="within the caliper"):
        M.match(lalonde, F, distance=far, caliper=0.5, std_caliper=False)
    with pytest.raises(DataError, match="within the caliper"):
        M.match(lalonde, F, distance=far, caliper=0.1)
    with pytest.raises(SpecificationError, match="`caliper` must be a number >= 0"):
        M.match(lalonde, F, caliper=-1)
    with pytest.raises(SpecificationError, match="`ratio`"):
        M.match(lalonde, F, ratio=0)
    with pytest.raises(SpecificationError, match="`order` must be one of"):
        M.match(lalonde, F, order="biggest")
    with pytest.raises(SpecificationError, match="`estimand` must be one of"):
        M.match(lalonde, F, estimand="ATE")
    with pytest.raises(SpecificationError, match="order='largest' needs a scalar"):
        M.match(lalonde, "treat ~ age + educ", distance="mahalanobis", order="largest")
    with pytest.raises(SpecificationError, match="std_caliper"):
        M.match(lalonde, "treat ~ age + educ", distance="mahalanobis", caliper=0.1)
    with pytest.raises(DataError, match="binary"):
        M.match(lalonde.assign(treat=np.arange(len(lalonde)) % 3), F)
    with pytest.raises(DataError, match="missing values in column 'age'"):
        M.match(lalonde.assign(age=lalonde["age"].where(lalonde["age"] > 20)), F)
    with pytest.raises(DataError, match="`distance` must be"):
        M.match(lalonde, F, distance=np.ones(3))
    with pytest.warns(CausalpaWarning, match="Not all treated units will get 3 matches"):
        M.match(lalonde, F, ratio=3)
    with pytest.warns(CausalpaWarning, match="Fewer control units than treated units in some"):
        M.match(lalonde, F, exact="race")
    pd.testing.assert_frame_equal(lalonde, before)


def test_single_patient_arm_warns_and_estimate_refuses():
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"pa": [1] + [0] * 9, "x": rng.normal(size=10), "y": rng.normal(size=10)})
    with pytest.warns(SmallSampleWarning, match="single patient"):
        m = M.match(df, "pa ~ x", distance=df["x"].to_numpy())
    df.loc[:, "y"] = 0.0  # the result holds its own copy of the data
    assert m.matched_data()["y"].ne(0).all()
    with pytest.raises(DataError, match="has 1 unit"):
        m.estimate("y")


def test_an_empty_arm_is_refused():
    df = pd.DataFrame({"pa": [1] * 6, "x": np.arange(6.0)})
    with pytest.raises(DataError, match="there are no control units in 'pa'; matching needs at "
                                        "least 1 unit per arm"):
        M.match(df, "pa ~ x", distance=df["x"].to_numpy())


def test_a_distance_series_without_a_value_for_some_rows_is_refused(lalonde):
    d = pd.Series(np.linspace(0, 1, len(lalonde)), index=lalonde.index)
    with pytest.raises(DataError, match="`distance` is a pandas Series without a value for row "
                                        f"{lalonde.index[2]} of `data`"):
        M.match(lalonde, F, distance=d.drop(lalonde.index[2]))
    with pytest.raises(DataError, match="`distance` is a pandas Series without a value"):
        M.match(lalonde, F, distance=pd.Series(d.to_numpy()))  # positions, not the labels
    a = M.match(lalonde, F, distance=d)
    b = M.match(lalonde, F, distance=pd.concat([d, pd.Series([0.5], index=["extra"])]))
    assert focal_pairs(a) == focal_pairs(b)  # labels that are not rows are ignored


def test_matched_data_name_clash(lalonde):
    m = M.match(lalonde.assign(weights=1.0), F)
    with pytest.raises(DataError, match="'weights' is already"):
        m.matched_data()
    assert "w" in m.matched_data(weights="w").columns
    with pytest.raises(DataError, match=r"matched_data\(subclass=\.\.\.\)"):
        M.match(lalonde.assign(subclass=1), F).matched_data()


def test_permutation_statistic_equals_weighted_estimate_for_ratio_matching(lalonde):
    # 1:2 matching with a caliper leaves subclasses of size 2 and 3; the randomisation
    # statistic (mean over subclasses of treated minus mean of its controls) equals
    # MatchIt's weighted difference in means
    m = M.match(lalonde, F, distance=np.array(CASES["ps"]), ratio=2, caliper=0.2, order="data")
    sizes = m.subclass.dropna().value_counts()
    assert set(sizes) == {2, 3}
    cl = m.estimate("re78")
    perm = m.estimate("re78", se="permutation", n_perm=999, rng=4)
    from causalpa.inference import permutation_test

    md = m.matched_data()
    res = permutation_test(md["re78"].to_numpy(), md["treat"].to_numpy() == 1,
                           md["subclass"].astype(int).to_numpy(), n_perm=99, rng=0)
    assert res.statistic == pytest.approx(cl.estimate, rel=1e-10)
    assert perm.estimate == pytest.approx(cl.estimate, rel=1e-10)
    assert perm.conf_low < perm.estimate < perm.conf_high
    assert 0 < perm.p_value <= 1


def test_atc_estimate_averages_over_controls(lalonde):
    d = np.array(CASES["ps"])
    m = M.match(lalonde, F, distance=d, estimand="ATC", replace=True)
    e = m.estimate("re78")
    md = m.matched_data()
    w = md["weights"]
    t = md["treat"] == 1
    want = np.average(md.re78[t], weights=w[t]) - np.average(md.re78[~t], weights=w[~t])
    assert e.estimand == "ATC" and e.estimate == pytest.approx(want, rel=1e-10)
    # controls are the focal units: every control is matched (with replacement)
    assert (m.weights[lalonde.treat == 0] == 1).all()
    assert len(m.pairs) == int((lalonde.treat == 0).sum())


def test_row_order_invariance_nhefs(datasets):
    # continuous scores without ties: shuffling rows leaves the matched pairs unchanged
    nhefs = datasets["nhefs"]
    ps = pd.Series(NHEFS_CASES["ps"], index=nhefs.index)
    a = M.match(nhefs, F_NHEFS, distance=ps.to_numpy(), caliper=0.2, ratio=2)
    shuffled = nhefs.sample(frac=1, random_state=7)
    b = M.match(shuffled, F_NHEFS, distance=ps.reindex(shuffled.index).to_numpy(), caliper=0.2,
                ratio=2)
    assert focal_pairs(a) == focal_pairs(b)
    pd.testing.assert_series_equal(a.weights, b.weights.reindex(a.weights.index))
    # a Series distance is aligned on the index
    c = M.match(shuffled, F_NHEFS, distance=ps, caliper=0.2, ratio=2)
    assert focal_pairs(a) == focal_pairs(c)


def test_fuzz_malformed_input_gives_clear_errors():
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from causalpa.errors import CausalpaError

    values = st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=32),
                       st.integers(-3, 3))

    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    @given(t=st.lists(st.sampled_from([0, 1, 2, None]), min_size=2, max_size=12),
           x=st.lists(values, min_size=12, max_size=12),
           caliper=st.one_of(st.none(), st.floats(-1, 2)),
           ratio=st.integers(0, 4), replace=st.booleans())
    def check(t, x, caliper, ratio, replace):
        df = pd.DataFrame({"t": t, "x": x[: len(t)]})
        before = df.copy()
        finite = bool(np.isfinite(df["x"].to_numpy(dtype=float)).all())
        for distance in ("ps", df["x"].to_numpy(dtype=float)):
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    m = M.match(df, "t ~ x", distance=distance, caliper=caliper, ratio=ratio,
                                replace=replace)
                    e = m.estimate("x") if m.tidy()["n_matched"].min() >= 2 else None
                assert finite, "a NaN or inf covariate or distance was matched without an error"
                assert len(m.pairs) >= 1
                assert set(m.pairs["treated"]) <= set(df.index[df["t"] == 1])
                assert e is None or np.isfinite(e.estimate)
            except CausalpaError as err:
                if not finite:  # a non-finite value is named, like a missing one
                    assert "'x'" in str(err) or "`distance`" in str(err) or "'t'" in str(err), err
            pd.testing.assert_frame_equal(df, before)

    check()


@pytest.mark.parametrize("column", ["age", "re78"])
@pytest.mark.parametrize("value", [np.inf, -np.inf])
def test_infinite_values_are_named_like_missing_ones(lalonde, column, value):
    df = lalonde.astype({"age": float})
    df.loc[df.index[5], column] = value
    before = df.copy()
    with pytest.raises(DataError, match=f"infinite values in column '{column}' .*rows: NSW6"):
        M.match(df, F).estimate("re78")
    pd.testing.assert_frame_equal(df, before)


# --------------------------------------------------------------------------- the grammar
def test_match_info_records_the_options_as_used(lalonde):
    with pytest.warns(CausalpaWarning, match="Not all treated units will get 2 matches"):
        m = M.match(lalonde, F, caliper={"distance": 0.2, "age": 5},
                    std_caliper={"age": False}, ratio=2, exact="married", discard="both")
    info = m.info
    assert isinstance(info, M.MatchInfo)
    assert (info.method, info.estimand, info.distance, info.ratio, info.replace) == \
        ("nearest", "ATT", "ps", 2, False)
    assert (info.caliper, info.std_caliper, info.order, info.exact, info.discard) == \
        (0.2, True, "largest", ("married",), "both")
    kept = ~m.discarded.to_numpy()
    assert info.raw_caliper == pytest.approx(0.2 * np.std(m.distance.to_numpy()[kept], ddof=1),
                                             rel=1e-12)
    age = info.covariate_caliper("age")
    assert (age.column, age.caliper, age.std, age.raw) == ("age", 5.0, False, 5.0)
    assert len(info.covariate_calipers) == 1
    with pytest.raises(KeyError):
        info.covariate_caliper("educ")
    assert (info.n_focal, info.n_other) == (185, 429)
    assert m.describe() == info.describe()
    assert "caliper 5 on age" in info.describe() and "exact on married" in info.describe()
    with pytest.raises(AttributeError):
        info.ratio = 3  # frozen
    # ATC with a matrix distance: the default order is the data order
    ps = np.array(CASES["ps"])
    t = lalonde["treat"].to_numpy() == 1
    mm = M.match(lalonde, F, distance=np.abs(ps[t][:, None] - ps[~t][None, :]), estimand="atc",
                 replace=True)
    assert (mm.info.estimand, mm.info.distance, mm.info.order) == ("ATC", "matrix", "data")
    assert (mm.info.n_focal, mm.info.n_other) == (429, 185)


def test_tidy_counts_agree_with_balance_n(lalonde):
    m = M.match(lalonde, F, distance=np.array(CASES["ps"]), discard="both", caliper=0.1,
                ratio=2)
    tidy = m.tidy().set_index("arm")
    assert list(m.tidy().columns) == ["arm", "n", "n_matched", "n_unmatched", "n_discarded",
                                      "ess_matched"]
    n = m.balance().n
    for arm, col in (("treated", "Treated"), ("control", "Control")):
        assert tidy.loc[arm, "n"] == n.loc["All", col]
        assert tidy.loc[arm, "n_matched"] == n.loc["Matched", col]
        assert tidy.loc[arm, "n_unmatched"] == n.loc["Unmatched", col]
        assert tidy.loc[arm, "n_discarded"] == n.loc["Discarded", col]
        assert tidy.loc[arm, "ess_matched"] == pytest.approx(n.loc["Matched (ESS)", col],
                                                             rel=1e-12)
    assert tidy.loc["control", "ess_matched"] < tidy.loc["control", "n_matched"]
    text = m.summary()
    assert text.splitlines()[0].startswith("Nearest-neighbour matching (")
    assert f"pairs: {len(m.pairs)}" in text and "raw_caliper:" in text
    d = m.to_dict()
    assert d["pairs"] == len(m.pairs) and d["raw_caliper"] == m.info.raw_caliper


def test_user_registered_distance(lalonde):
    @M.register_distance("age_educ")
    def age_educ(data, spec, treatment, *, ps_model):
        assert ps_model == "firth" and spec.treatment == "treat"
        return M.Distance(label="age_educ", values=data["age"] + data["educ"] / 100)

    @M.register_distance("short")
    def short(data, spec, treatment, *, ps_model):
        return M.Distance(label="short", values=np.ones(3))

    try:
        m = M.match(lalonde, F, distance="AGE_EDUC", ps_model="firth", caliper=0.5)
        vec = (lalonde["age"] + lalonde["educ"] / 100).to_numpy()
        same = M.match(lalonde, F, distance=vec, caliper=0.5)
        assert focal_pairs(m) == focal_pairs(same)
        assert m.info.distance == "age_educ" and m.propensity is None
        assert "distance age_educ" in m.describe()
        with pytest.raises(DataError, match="distance 'short' has 3 values; expected one per"):
            M.match(lalonde, F, distance="short")
    finally:
        del M.DISTANCES["age_educ"], M.DISTANCES["short"]
    with pytest.raises(SpecificationError, match="`distance` must be one of 'ps', 'logit', "
                                                 "'mahalanobis' \\(registered distances\\)"):
        M.match(lalonde, F, distance="age_educ")


def test_distance_record():
    d = M.Distance(label="x", matrix=[[1.0, 2.0]])
    assert d.kind == "matrix" and not d.matrix.flags.writeable
    with pytest.raises(SpecificationError, match="exactly one"):
        M.Distance(label="x", values=[1.0], matrix=[[1.0]])
    with pytest.raises(SpecificationError, match="exactly one"):
        M.Distance(label="x")
    with pytest.raises(DataError, match="non-finite"):
        M.Distance(label="x", values=[1.0, np.nan])
    with pytest.raises(SpecificationError, match="dimension"):
        M.Distance(label="x", features=[1.0, 2.0])


def test_user_registered_method(lalonde):
    calls = []

    @M.register_method("first_available")
    def first_available(problem):
        """Match each focal unit, in processing order, to the first free unit in data order."""
        calls.append(problem)
        free = list(np.flatnonzero(~problem.focal))
        focal_pos = np.flatnonzero(problem.focal)
        mm = np.full((len(focal_pos), problem.ratio), -1, dtype=np.int64)
        row = {int(p): i for i, p in enumerate(focal_pos)}
        for f in problem.order:
            if free:
                mm[row[int(f)], 0] = free.pop(0)
        return mm

    try:
        m = M.match(lalonde, F, method="first_available")
        assert m.method == "first_available" and len(calls) == 1
        assert calls[0].ratio == 1 and calls[0].distance is not None
        assert m.describe().startswith("first_available matching (distance ps")
        assert len(m.pairs) == 185 and (m.weights[lalonde.treat == 1] == 1).all()
        controls = lalonde.index[lalonde.treat == 0][:185]
        assert set(m.pairs["control"]) == set(controls)
        e = m.estimate("re78")
        assert e.method == m.describe() and e.n_treated == 185
    finally:
        del M.METHODS["first_available"]
    with pytest.raises(SpecificationError, match="registered matching methods"):
        M.match(lalonde, F, method="first_available")


def test_result_is_frozen_and_holds_copies(lalonde):
    data = lalonde.copy()
    m = M.match(data, F, caliper=0.2, outcome="re78")
    w, pairs, sub, dist = m.weights, m.pairs, m.subclass, m.distance
    before = (w.copy(), pairs.copy(), sub.copy(), dist.copy(), m.tidy(), m.estimate().estimate)
    w[:] = 0
    pairs.loc[:, "control"] = "scribbled"
    sub[:] = 99
    dist[:] = 0.5
    disc, frame = m.discarded, m.data
    disc[:] = True
    frame.loc[:, "re78"] = 0.0
    data.loc[:, ["re78", "age", "treat"]] = 0  # the caller changes their data afterwards
    pd.testing.assert_series_equal(m.weights, before[0])
    pd.testing.assert_frame_equal(m.pairs, before[1])
    pd.testing.assert_series_equal(m.subclass, before[2])
    pd.testing.assert_series_equal(m.distance, before[3])
    pd.testing.assert_frame_equal(m.tidy(), before[4])
    assert not m.discarded.any()
    assert m.estimate().estimate == before[5]
    md = m.matched_data()
    assert md["treat"].sum() == 113 and md["re78"].ne(0).any() and md["age"].ne(0).all()
    for arr in (m.treatment, m.focal, m.match_matrix):
        assert not arr.flags.writeable
    with pytest.raises(AttributeError):
        m.info = None
    assert m.weights is not m.weights and m.pairs is not m.pairs


def test_outcome_given_to_match_is_the_default_of_estimate(lalonde):
    m = M.match(lalonde, F, caliper=0.2, outcome="re78")
    assert m.outcome == "re78"
    e = m.estimate()
    assert e.outcome == "re78"
    assert e.estimate == M.match(lalonde, F, caliper=0.2).estimate("re78").estimate
    other = lalonde.assign(y=lalonde["re78"] * 2)
    assert M.match(other, F, caliper=0.2, outcome="re78").estimate("y").outcome == "y"
    with pytest.raises(SpecificationError, match="give the outcome"):
        M.match(lalonde, F, caliper=0.2).estimate()
    with pytest.raises(DataError, match="'re79' named in `outcome`"):
        M.match(lalonde, F, outcome="re79")
    with pytest.raises(DataError, match="'re79' named in `outcome`"):
        m.estimate("re79")


@pytest.mark.parametrize("kwargs,argument", [
    ({"method": "greedy"}, "method"), ({"distance": 3}, "distance"),
    ({"distance": "euclid"}, "distance"), ({"estimand": "ATE"}, "estimand"),
    ({"ratio": 1.5}, "ratio"), ({"ratio": True}, "ratio"), ({"replace": "yes"}, "replace"),
    ({"caliper": "0.2"}, "caliper"), ({"caliper": float("nan")}, "caliper"),
    ({"std_caliper": 1}, "std_caliper"), ({"std_caliper": {"age": "no"}}, "std_caliper['age']"),
    ({"caliper": {"age": -1}}, "caliper['age']"), ({"exact": 1}, "exact"),
    ({"discard": "all"}, "discard"), ({"order": "biggest"}, "order"), ({"rng": -1}, "rng"),
    ({"rng": "seed"}, "rng"), ({"ps_model": "probit"}, "ps_model"), ({"outcome": 1}, "outcome"),
    ({"treatment": 1, "formula": None}, "treatment"), ({"formula": 3}, "formula"),
])
def test_declared_options_name_the_argument(lalonde, kwargs, argument):
    with pytest.raises(SpecificationError, match=f"^`{re.escape(argument)}` must be"):
        M.match(lalonde, **{"formula": F, **kwargs})


@pytest.mark.parametrize("kwargs,argument", [
    ({"se": "HC4"}, "se"), ({"se": 1}, "se"), ({"measure": "ratio"}, "measure"),
    ({"conf_level": 1.0}, "conf_level"), ({"conf_level": 0}, "conf_level"),
    ({"n_boot": 1}, "n_boot"), ({"n_perm": 2.5}, "n_perm"), ({"rng": 1.5}, "rng"),
    ({"adjust": 3}, "adjust"), ({"outcome": ["re78"]}, "outcome"),
])
def test_estimate_options_name_the_argument(lalonde, kwargs, argument):
    m = M.match(lalonde, F, caliper=0.2)
    with pytest.raises(SpecificationError, match=f"^`{argument}` must be"):
        m.estimate(**{"outcome": "re78", **kwargs})


def test_options_are_canonical_and_se_lists_the_registry(lalonde):
    from typing import get_args

    from causalpa.estimation import MatchedSE
    from causalpa.inference import VARIANCES

    # the Literal shown in the signature lists the aliases and every built-in variance
    assert set(get_args(MatchedSE)) == {"cluster", "robust", *VARIANCES}
    a = M.match(lalonde, F, caliper=0.2, estimand="att", method="Nearest", ratio=1.0)
    assert (a.estimand, a.method, a.info.ratio) == ("ATT", "nearest", 1)
    assert a.estimate("re78", se="cr2").inference.startswith("cluster-robust (CR2)")
    # a right-hand side or a list of columns for `adjust`
    e1 = a.estimate("re78", adjust="age + educ")
    e2 = a.estimate("re78", adjust=["age", "educ"])
    assert e1.estimate == pytest.approx(e2.estimate, rel=1e-12)


def test_warnings_become_notes(lalonde):
    with pytest.warns(CausalpaWarning, match="Not all treated units will get 3 matches") as rec:
        m = M.match(lalonde, F, ratio=3)
    assert rec[0].filename == __file__  # the warning points at the caller
    assert len(m.notes) == 1 and m.notes[0].startswith("Not all treated units will get 3")
    assert "note: Not all treated units" in m.summary()
    assert m.to_dict()["notes"] == list(m.notes)
    df = pd.DataFrame({"pa": [1] + [0] * 5, "x": np.arange(6.0)})
    with pytest.warns(SmallSampleWarning):
        one = M.match(df, "pa ~ x", distance=df["x"].to_numpy())
    assert any("single patient" in n for n in one.notes)
    assert M.match(lalonde, F).notes == ()


def test_a_registered_method_must_return_a_valid_match_matrix(lalonde):
    def register(fn):
        M.register_method("bad")(fn)

    cases = [
        (lambda p: np.zeros((3, 1), dtype=np.int64), "must return an integer array of shape"),
        (lambda p: np.zeros((int(p.focal.sum()), 1)), "must return an integer array"),
        (lambda p: np.flatnonzero(p.focal)[:, None], "not units of the other arm"),
        (lambda p: np.full((int(p.focal.sum()), 1), np.flatnonzero(~p.focal)[0]),
         "used a unit twice"),
    ]
    try:
        for fn, message in cases:
            register(fn)
            with pytest.raises(SpecificationError, match=message):
                M.match(lalonde, F, method="bad")
    finally:
        del M.METHODS["bad"]
