"""cpa.balance against MatchIt's bal1var (the function behind summary.matchit)."""

import json
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest

matplotlib.use("Agg")

import causalpa as cpa  # noqa: E402
from causalpa.balance import BalanceTable, balance  # noqa: E402
from causalpa.errors import DataError, SpecificationError  # noqa: E402

REF = Path(__file__).parent / "reference" / "matchit"
F = "treat ~ age + educ + race + married + nodegree + re74 + re75"
WREF = json.loads((REF / "lalonde_balance_weighted.json").read_text())["cases"]


@pytest.fixture(scope="module")
def lalonde():
    return pd.read_csv(REF / "lalonde.csv").set_index("id")


def r_rows(rows):
    return ["race_" + r[4:] if r.startswith("race") else r for r in rows]


@pytest.mark.parametrize("estimand", ["ATE", "ATT", "ATC"])
def test_weighted_balance_equals_bal1var(lalonde, estimand):
    case = WREF[estimand]
    w = np.array(case["weights"], dtype=float)
    tab = balance(lalonde, F, weights=w, estimand=estimand)
    cols = ["mean_treated", "mean_control", "smd", "var_ratio", "ecdf_mean", "ecdf_max"]
    rows = r_rows(case["rows"])
    for key, got in (("before", tab.unadjusted), ("after", tab.adjusted)):
        want = np.array(case[key], dtype=float)[:, :6]
        np.testing.assert_allclose(got.loc[rows, cols].to_numpy(dtype=float), want,
                                   rtol=1e-6, atol=1e-10, equal_nan=True, err_msg=key)


def test_column_and_formula_routes_identical(lalonde):
    a = balance(lalonde, F, estimand="ATT")
    b = cpa.balance(lalonde, treatment="treat",
                    covariates=["age", "educ", "race", "married", "nodegree", "re74", "re75"],
                    estimand="ATT")
    pd.testing.assert_frame_equal(a.unadjusted, b.unadjusted)


def test_smd_conventions_by_hand():
    df = pd.DataFrame({"t": [1, 1, 1, 1, 0, 0, 0, 0, 0],
                       "x": [1.0, 3, 5, 7, 2, 2, 3, 4, 9], "b": [1, 1, 0, 1, 0, 0, 1, 0, 0]})
    x1, x0 = df.x[df.t == 1], df.x[df.t == 0]
    diff = x1.mean() - x0.mean()
    ate = balance(df, "t ~ x + b").unadjusted
    att = balance(df, "t ~ x + b", estimand="ATT").unadjusted
    atc = balance(df, "t ~ x + b", estimand="ATC").unadjusted
    assert ate.loc["x", "smd"] == pytest.approx(diff / np.sqrt((x1.var() + x0.var()) / 2))
    assert att.loc["x", "smd"] == pytest.approx(diff / x1.std())
    assert atc.loc["x", "smd"] == pytest.approx(diff / x0.std())
    p1, p0 = 0.75, 0.2
    assert att.loc["b", "smd"] == pytest.approx((p1 - p0) / np.sqrt(p1 * (1 - p1)))
    assert att.loc["b", "type"] == "binary" and np.isnan(att.loc["b", "var_ratio"])
    assert att.loc["b", "ecdf_max"] == pytest.approx(p1 - p0)
    assert att.loc["x", "var_ratio"] == pytest.approx(x1.var() / x0.var())
    # KS statistic = eCDF max
    grid = np.unique(df.x)
    ks = max(abs((x1 <= g).mean() - (x0 <= g).mean()) for g in grid)
    assert att.loc["x", "ecdf_max"] == pytest.approx(ks)


def test_weights_that_balance_give_zero_smd():
    df = pd.DataFrame({"t": [1, 1, 0, 0, 0], "x": [2.0, 4, 1, 3, 5]})
    w = np.array([1, 1, 0.5, 1, 0.5])  # control weighted mean (0.5 + 3 + 2.5) / 2 = 3
    tab = balance(df, "t ~ x", weights=w, estimand="ATT")
    assert abs(tab.adjusted.loc["x", "smd"]) < 1e-12
    assert tab.flags == []


def test_table_is_frozen_and_views(lalonde):
    tab = balance(lalonde, F)
    assert isinstance(tab, BalanceTable)
    with pytest.raises(AttributeError):
        tab.threshold = 0.2
    tidy = tab.tidy()
    assert set(tidy["sample"]) == {"unadjusted"}
    assert tidy["imbalanced"].sum() == len(tab.flags)
    text = tab.summary()
    assert text.splitlines()[0].startswith("Balance (ATE)")
    assert "imbalanced: " + ", ".join(tab.flags) in text and "race_black" in text
    assert "smd (before)" in text and "smd (after)" not in text
    assert "<table" in tab._repr_html_()
    ax = tab.plot()
    assert ax.get_xlabel().startswith("|standardised")
    thresholds = [ln.get_xdata()[0] for ln in ax.get_lines()]
    assert 0.1 in thresholds


def test_bad_input(lalonde):
    before = lalonde.copy()
    with pytest.raises(SpecificationError, match="`estimand`"):
        balance(lalonde, F, estimand="XYZ")
    with pytest.raises(DataError, match="length"):
        balance(lalonde, F, weights=np.ones(3))
    with pytest.raises(DataError, match="nope"):
        balance(lalonde, F, weights="nope")
    with pytest.raises(DataError, match="missing"):
        balance(lalonde.assign(age=np.nan), F)
    pd.testing.assert_frame_equal(lalonde, before)


def test_declared_options(lalonde):
    bad = [({"estimand": "ATX"}, "`estimand` must be one of 'ATE', 'ATT', 'ATC', 'ATO'"),
           ({"threshold": -1}, "`threshold` must be a number >= 0"),
           ({"threshold": "0.1"}, "`threshold`"),
           ({"weights": 3}, "`weights` must be a column name or one weight per row or None"),
           ({"formula": 3}, "`formula`")]
    for kwargs, message in bad:
        with pytest.raises(SpecificationError, match=message):
            balance(lalonde, **{"formula": F, **kwargs})
    tab = balance(lalonde, F, estimand="att", weights=pd.Series(np.ones(len(lalonde)),
                                                                index=lalonde.index))
    assert tab.estimand == "ATT"
    with pytest.raises(SpecificationError, match="`sample`"):
        tab.to_matchit("both")
    with pytest.raises(SpecificationError, match="`absolute`"):
        tab.plot(absolute="yes")
    with pytest.raises(SpecificationError, match="needs an adjusted sample"):
        balance(lalonde, F).to_matchit()


def test_side_by_side_view_and_dict(lalonde):
    w = np.array(WREF["ATT"]["weights"], dtype=float)
    tab = balance(lalonde, F, weights=w, estimand="ATT")
    tidy = tab.tidy()
    assert list(tidy.columns[:3]) == ["covariate", "sample", "type"]
    assert list(tidy["sample"].unique()) == ["unadjusted", "adjusted"]
    shown = tab._display(tidy)
    assert list(shown.columns) == ["covariate", "smd (before)", "var_ratio (before)",
                                   "ecdf_max (before)", "smd (after)", "var_ratio (after)",
                                   "ecdf_max (after)", "imbalanced"]
    np.testing.assert_array_equal(shown["smd (after)"], tab.adjusted["smd"])
    np.testing.assert_array_equal(shown["imbalanced"], tab.adjusted["smd"].abs() > 0.1)
    d = tab.to_dict()
    json.dumps(d)
    assert d["estimand"] == "ATT" and d["method"] == "weighted" and d["threshold"] == 0.1
    assert d["sample_sizes"]["All"] == {"Control": 429.0, "Treated": 185.0}
    assert d["imbalanced"] == tab.flags and len(d["table"]) == len(tidy)
    assert tab.to_matchit().columns[0] == "Means Treated"


def test_holds_copies(lalonde):
    tab = balance(lalonde, F, weights=np.ones(len(lalonde)), estimand="ATT")
    before = tab.tidy()
    for frame in (tab.unadjusted, tab.adjusted, tab.tidy()):
        frame.loc[frame.index[0], "smd"] = -1.0
    sizes = tab.n
    sizes.iloc[0, 0] = -1.0
    assert tab.n.iloc[0, 0] != -1.0
    pd.testing.assert_frame_equal(tab.tidy(), before)
    un, adj, n = tab.unadjusted, tab.adjusted, tab.n
    direct = BalanceTable(unadjusted=un, adjusted=adj, n=n, estimand="ATT")
    un.iloc[:, 1] = 0.0  # the frames given to the constructor change afterwards
    n.iloc[:, :] = 0.0
    pd.testing.assert_frame_equal(direct.tidy(), before)
    assert direct.n.loc["All", "Treated"] == 185
    with pytest.raises(AttributeError):
        direct.estimand = "ATE"


def test_module_answers_for_the_function():
    import inspect

    import causalpa.balance as module
    from causalpa._validation import declared_params

    assert callable(module) and module is not balance
    assert inspect.signature(module) == inspect.signature(balance)
    assert declared_params(module) == declared_params(balance)


def test_a_weighted_arm_of_zero_weights_is_refused(lalonde):
    t = lalonde["treat"].to_numpy()
    with pytest.raises(DataError, match="there are no control units with positive weight in "
                                        "'treat'; a weighted balance table needs at least 1 "
                                        "unit per arm"):
        balance(lalonde, F, weights=t.astype(float))
    with pytest.raises(DataError, match="no treated units with positive weight"):
        balance(lalonde, F, weights=1.0 - t)


def test_weight_series_are_aligned_on_the_index(lalonde):
    w = pd.Series(np.array(WREF["ATT"]["weights"], dtype=float), index=lalonde.index)
    a = balance(lalonde, F, weights=w, estimand="ATT").adjusted
    b = balance(lalonde, F, weights=w.sample(frac=1, random_state=0), estimand="ATT").adjusted
    pd.testing.assert_frame_equal(a, b)
    pd.testing.assert_frame_equal(a, balance(lalonde, F, weights=w.to_numpy(),
                                             estimand="ATT").adjusted)
    with pytest.raises(DataError, match="`weights` is a pandas Series without a value for row "
                                        f"{lalonde.index[4]} of `data`"):
        balance(lalonde, F, weights=w.drop(lalonde.index[4]))
    with pytest.raises(DataError, match="`weights` is a pandas Series without a value"):
        balance(lalonde, F, weights=pd.Series(w.to_numpy()))  # positions, not the rows' labels
