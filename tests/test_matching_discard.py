"""`discard` and covariate calipers against MatchIt 4.5.1 (tests/reference/matchit/
lalonde_matching_discard.R: classic matrix path, discard from MatchIt:::discard)."""

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import causalpa.matching as M
from causalpa.errors import DataError, SpecificationError

REF = Path(__file__).parent / "reference" / "matchit"
F = "treat ~ age + educ + race + married + nodegree + re74 + re75"
DISC = json.loads((REF / "lalonde_matching_discard.json").read_text())
CASES = DISC["cases"]


@pytest.fixture(scope="module")
def lalonde():
    return pd.read_csv(REF / "lalonde.csv").set_index("id")


def run(data, case):
    o = case["options"]
    cal = o["caliper"] or None  # [] (R's empty list) -> no caliper
    std = o["std_caliper"] or True
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if o.get("distance") == "mahalanobis":
            return M.match(data, o["formula"], distance="mahalanobis", ratio=o["ratio"],
                           order=o["order"], caliper=cal, std_caliper=std)
        # the same propensity scores as R (glm), so the matching itself is compared
        return M.match(data, F, distance=np.array(DISC["ps"]), ratio=o["ratio"],
                       replace=o["replace"], order=o["order"], discard=o["discard"],
                       caliper=cal, std_caliper=std, estimand=o["estimand"])


def pairs_of(m, with_round=True):
    """(focal, match[, round]) as MatchIt's match.matrix."""
    p = m.pairs
    f, o = (p.treated, p.control) if m.estimand == "ATT" else (p.control, p.treated)
    if with_round:
        return set(zip(f, o, p["round"], strict=True))
    return set(zip(f, o, strict=True))


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_matches_matchit(lalonde, case):
    m = run(lalonde, case)
    o = case["options"]
    # discarded units: exactly MatchIt's
    assert set(m.discarded[m.discarded].index) == set(case["discarded"])
    # matched sets, with the round of each match
    rp = pd.DataFrame(case["pairs"])
    assert pairs_of(m, not o["replace"]) == (
        set(zip(rp.focal, rp.match, rp["round"], strict=True)) if not o["replace"]
        else set(zip(rp.focal, rp.match, strict=True)))
    # raw calipers as MatchIt used them (SD over the non-discarded units)
    raw = o["raw_caliper_used"] or {}
    if "distance" in raw:
        assert m.info.raw_caliper == pytest.approx(raw["distance"], rel=1e-10)
    for col, width in raw.items():
        if col != "distance":
            assert m.info.covariate_caliper(col).raw == pytest.approx(width, rel=1e-10)
            x = lalonde[col]
            assert (np.abs(x[m.pairs.treated].to_numpy() - x[m.pairs.control].to_numpy())
                    <= width).all()
            if len(raw) == 1:  # the covariate caliper binds: without it the pairs differ
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    loose = M.match(lalonde, m.spec.formula, distance=m.info.distance if
                                    m.info.distance == "mahalanobis"
                                    else np.array(DISC["ps"]),
                                    ratio=o["ratio"], order=o["order"], estimand=o["estimand"],
                                    discard=o["discard"], replace=o["replace"])
                assert pairs_of(loose) != pairs_of(m)
    # match.data weights (discarded units weigh 0)
    want = pd.Series(case["weights"], index=case["ids"])
    np.testing.assert_allclose(m.weights.reindex(want.index).to_numpy(), want.to_numpy(),
                               rtol=1e-12, atol=1e-12)
    assert (m.weights[m.discarded] == 0).all()
    # summary(m)$nn, including the Discarded and Unmatched rows, and balance tables
    bal = m.balance()
    swapped = o["estimand"] == "ATC"  # R ran ATT on 1 - treat: arms exchanged in its tables
    nn = case["nn"]
    nn = pd.DataFrame(np.array(nn["values"], dtype=float), index=nn["rows"], columns=nn["cols"])
    if swapped:
        nn = nn[["Treated", "Control"]].set_axis(["Control", "Treated"], axis=1)
    for row in ("All", "Matched", "Unmatched", "Discarded", "Matched (ESS)"):
        np.testing.assert_allclose(bal.n.loc[row, ["Control", "Treated"]].to_numpy(float),
                                   nn.loc[row, ["Control", "Treated"]].to_numpy(float),
                                   rtol=1e-10, err_msg=row)
    for key, sample in (("sum_all", "unadjusted"), ("sum_matched", "adjusted")):
        tab = case[key]
        want_b = pd.DataFrame(np.array(tab["values"], dtype=float), index=tab["rows"],
                              columns=tab["cols"])
        ours = bal.to_matchit(sample)
        if swapped:
            ours = ours.rename(columns={"Means Treated": "Means Control",
                                        "Means Control": "Means Treated"})
            ours["Std. Mean Diff."] *= -1
        rows = [r for r in want_b.index if r in ours.index]
        assert len(rows) >= 6
        cols = ["Means Treated", "Means Control", "Std. Mean Diff."]
        np.testing.assert_allclose(ours.loc[rows, cols].to_numpy(float),
                                   want_b.loc[rows, cols].to_numpy(float), rtol=1e-6,
                                   atol=1e-9, err_msg=key)


def test_discard_with_own_propensity_score_and_describe(lalonde):
    case = next(c for c in CASES if c["name"] == "disc_both_cal02")
    m = M.match(lalonde, F, discard="both", caliper=0.2)
    assert set(m.discarded[m.discarded].index) == set(case["discarded"])
    rp = pd.DataFrame(case["pairs"])
    assert pairs_of(m) == set(zip(rp.focal, rp.match, rp["round"], strict=True))
    assert "discard both" in m.describe() and m.info.discard == "both"
    counts = m.tidy().set_index("arm")
    disc = m.discarded.to_numpy()
    assert counts.loc["treated", "n_discarded"] == int((disc & (m.treatment == 1)).sum())
    assert counts.loc["control", "n_discarded"] == int((disc & (m.treatment == 0)).sum()) > 0
    # the caliper SD is over the kept units, not all units (MatchIt's process.caliper)
    d = m.distance.to_numpy()
    sd_kept = np.std(d[~m.discarded.to_numpy()], ddof=1)
    assert m.info.raw_caliper == pytest.approx(0.2 * sd_kept, rel=1e-12)
    assert abs(np.std(d, ddof=1) - sd_kept) > 1e-3


def test_discard_boundaries_are_kept():
    # strict inequalities: units exactly at the other arm's min/max stay
    df = pd.DataFrame({"t": [1, 1, 1, 0, 0, 0, 0], "s": [0.2, 0.5, 0.9, 0.1, 0.2, 0.9, 0.95]})
    s = df["s"].to_numpy()
    m = M.match(df, treatment="t", covariates=[], distance=s, discard="both")
    assert m.discarded.tolist() == [False, False, False, True, False, False, True]
    m = M.match(df, treatment="t", covariates=[], distance=s, discard="treated")
    assert not m.discarded.any()
    m = M.match(df, treatment="t", covariates=[], distance=s, discard="control", ratio=1)
    assert m.discarded[m.treatment == 0].tolist() == [True, False, False, True]
    assert m.discarded.dtype == bool and m.discarded.index.equals(df.index)


def test_covariate_caliper_optimal_is_respected_and_minimal(lalonde):
    from itertools import permutations
    rng = np.random.default_rng(3)
    d = rng.random(9)
    x = np.array([0, 5, 10, 1, 4, 6, 11, 20, 9], dtype=float)
    focal = np.array([1, 1, 1, 0, 0, 0, 0, 0, 0], dtype=bool)
    p = M.MatchProblem(focal=focal, order=np.arange(3), ratio=1, replace=False, distance=d,
                       caliper_covs=x[:, None], caliper_widths=np.array([1.5]))
    mm = M.METHODS["optimal"](p)
    assert all(abs(x[i] - x[mm[i, 0]]) <= 1.5 for i in range(3) if mm[i, 0] >= 0)
    ok = [perm for perm in permutations(range(6), 3)
          if all(abs(x[i] - x[3 + c]) <= 1.5 for i, c in enumerate(perm))]
    best = min(sum(abs(d[i] - d[3 + c]) for i, c in enumerate(perm)) for perm in ok)
    assert sum(abs(d[i] - d[mm[i, 0]]) for i in range(3)) == pytest.approx(best)
    # greedy: same covariate caliper through the public API
    m = M.match(lalonde, F, caliper={"age": 2, "re75": 0.1}, std_caliper={"age": False})
    a = lalonde["age"]
    assert (np.abs(a[m.pairs.treated].to_numpy() - a[m.pairs.control].to_numpy()) <= 2).all()
    assert "caliper 2 on age" in m.describe() and "caliper 0.1 SD on re75" in m.describe()


def test_caliper_dict_distance_key_forms_agree(lalonde):
    ps = np.array(DISC["ps"])
    a = M.match(lalonde, F, distance=ps, caliper={"": 0.25, "age": 5},
                std_caliper={"age": False})
    b = M.match(lalonde, F, distance=ps, caliper={"distance": 0.25, "age": 5},
                std_caliper={"distance": True, "age": False})
    assert pairs_of(a) == pairs_of(b)
    c = M.match(lalonde, F, distance=ps, caliper={"distance": 0.25})
    d = M.match(lalonde, F, distance=ps, caliper=0.25)
    assert pairs_of(c) == pairs_of(d)


def test_bad_input(lalonde):
    before = lalonde.copy()
    with pytest.raises(DataError, match="'agee' named in `caliper`"):
        M.match(lalonde, F, caliper={"agee": 5})
    with pytest.raises(SpecificationError, match=r"`caliper\['age'\]` must be a number >= 0"):
        M.match(lalonde, F, caliper={"age": -5})
    with pytest.raises(SpecificationError, match="`caliper` must be a number >= 0"):
        M.match(lalonde, F, caliper={"distance": -0.1, "age": 5})
    with pytest.raises(SpecificationError, match="binary, factor or character"):
        M.match(lalonde, F, caliper={"married": 0.5})
    with pytest.raises(SpecificationError, match="binary, factor or character"):
        M.match(lalonde, F, caliper={"race": 0.5})
    with pytest.raises(SpecificationError, match="`std_caliper` names 'educ'"):
        M.match(lalonde, F, caliper={"age": 5}, std_caliper={"educ": False})
    with pytest.raises(SpecificationError, match="both '' and 'distance'"):
        M.match(lalonde, F, caliper={"": 0.1, "distance": 0.2})
    with pytest.raises(SpecificationError, match="`discard` must be one of"):
        M.match(lalonde, F, discard="all")
    with pytest.raises(SpecificationError, match="discard='both' needs a propensity score"):
        M.match(lalonde, "treat ~ age + educ", distance="mahalanobis", discard="both")
    far = lalonde["treat"].to_numpy(dtype=float)  # treated at 1, controls at 0: no overlap
    with pytest.raises(DataError, match="discard='both' leaves no treated units"):
        M.match(lalonde, F, distance=far, discard="both")
    with pytest.raises(DataError, match="discard='control' leaves no control units"):
        M.match(lalonde, F, distance=far, discard="control")
    small = pd.DataFrame({"t": [1, 1, 0, 0, 0], "x": [0.0, 1.0, 10.0, 11.0, 12.0]})
    with pytest.raises(DataError, match="within every caliper"):
        M.match(small, "t ~ x", distance=small["x"].to_numpy(), caliper={"x": 2},
                std_caliper=False)
    pd.testing.assert_frame_equal(lalonde, before)


def test_fuzz_discard_and_caliper_dict_give_clear_errors():
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from causalpa.errors import CausalpaError

    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    @given(t=st.lists(st.sampled_from([0, 1]), min_size=3, max_size=12),
           x=st.lists(st.floats(-5, 5, width=32), min_size=12, max_size=12),
           z=st.lists(st.integers(0, 6), min_size=12, max_size=12),
           discard=st.sampled_from(["none", "both", "control", "treated", "bogus"]),
           cal=st.dictionaries(st.sampled_from(["", "z", "x", "w"]), st.floats(-1, 3),
                               max_size=3),
           ratio=st.integers(1, 3))
    def check(t, x, z, discard, cal, ratio):
        n = len(t)
        df = pd.DataFrame({"t": t, "x": x[:n], "z": z[:n]})
        before = df.copy()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                m = M.match(df, "t ~ x + z", distance=df["x"].to_numpy(dtype=float),
                            discard=discard, caliper=cal or None, ratio=ratio)
            assert len(m.pairs) >= 1
            assert not (m.discarded & (m.weights > 0)).any()
            for c in m.info.covariate_calipers:
                v = df[c.column]
                assert (np.abs(v[m.pairs.treated].to_numpy()
                               - v[m.pairs.control].to_numpy()) <= c.raw).all()
        except CausalpaError:
            pass
        pd.testing.assert_frame_equal(df, before)

    check()


@pytest.mark.parametrize("method", ["nearest", "optimal"])
def test_discard_equals_matching_without_the_discarded_rows(lalonde, method):
    # discarding then matching == matching the kept rows (with the same raw caliper),
    # also within exact strata and for optimal matching
    ps = pd.Series(DISC["ps"], index=lalonde.index)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = M.match(lalonde, F, distance=ps.to_numpy(), discard="both", exact="race",
                    caliper=0.3, method=method)
        kept = lalonde.loc[~m.discarded]
        k = M.match(kept, F, distance=ps[kept.index].to_numpy(), exact="race",
                    caliper=m.info.raw_caliper, std_caliper=False, method=method)
    assert pairs_of(m) == pairs_of(k)
    pd.testing.assert_series_equal(m.weights[kept.index], k.weights)
