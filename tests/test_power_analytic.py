"""causalpa.power.analytic against R's pwr (tests/reference/pwr/pwr_cases.R)."""

from __future__ import annotations

import dataclasses
import json
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from causalpa.errors import CausalpaWarning, ConvergenceWarning, SpecificationError
from causalpa.power import _solvers, analytic
from causalpa.power._uniroot import R_TOL, _r_value, uniroot

REF = Path(__file__).parent / "reference" / "pwr"
CASES = pd.read_csv(REF / "pwr_cases.csv")
UNIROOT = pd.read_csv(REF / "uniroot_cases.csv")
# causalpa evaluates pwr's power expressions with scipy (R's pt/pnorm agree to
# ~1e-11) and solves with a port of R's uniroot on pwr's intervals, so solved
# values equal pwr's own to ~1e-10 (measured max 5.5e-11)
RTOL = 1e-9


def _alt(a: str) -> str:
    return {"two.sided": "two-sided"}.get(a, a)


def _num(v):
    return None if pd.isna(v) else float(v)


def _compute(row: pd.Series, exact: bool = False) -> float:
    alt = _alt(row["alternative"])
    alpha = float(row["sig.level"])
    fun, target = row["fun"], row["target"]
    if fun == "pwr.t.test":
        r = analytic.two_sample_t(d=_num(row["d"]), n=_num(row["n"]), power=_num(row["power"]),
                                  alpha=alpha, alternative=alt, exact=exact)
        return {"power": r.power, "n": r.n, "d": r.effect}[target]
    if fun == "pwr.t2n.test":
        r = analytic.two_sample_t(d=_num(row["d"]), n=_num(row["n1"]), n2=_num(row["n2"]),
                                  power=_num(row["power"]), alpha=alpha, alternative=alt,
                                  exact=exact)
        return {"power": r.power, "n1": r.n, "d": r.effect}[target]
    if fun == "pwr.2p.test":
        if target == "h":
            # Cohen's h solved for directly, and via p2 given p1: same h
            r = analytic.two_proportions(n=_num(row["n"]), power=_num(row["power"]),
                                         alpha=alpha, alternative=alt, exact=exact)
            via_p2 = analytic.two_proportions(p1=0.5, n=_num(row["n"]), power=_num(row["power"]),
                                              alpha=alpha, alternative=alt, exact=exact)
            assert via_p2.effect == r.effect and r.solved_for == "h"
            return r.effect
        if pd.isna(row["p1"]):
            r = analytic.two_proportions(h=float(row["h"]), n=_num(row["n"]),
                                         power=_num(row["power"]), alpha=alpha, alternative=alt,
                                         exact=exact)
        else:
            r = analytic.two_proportions(p1=_num(row["p1"]), p2=_num(row["p2"]), n=_num(row["n"]),
                                         power=_num(row["power"]), alpha=alpha, alternative=alt,
                                         exact=exact)
            # the proportions must reproduce pwr's h exactly
            assert math.isclose(r.effect, row["h"], rel_tol=1e-12)
        return {"power": r.power, "n": r.n}[target]
    if fun == "pwr.2p2n.test":
        r = analytic.two_proportions(h=_num(row["h"]), n=_num(row["n1"]), n2=_num(row["n2"]),
                                     power=_num(row["power"]), alpha=alpha, alternative=alt,
                                     exact=exact)
        return {"power": r.power, "n1": r.n, "h": r.effect}[target]
    raise AssertionError(fun)


@pytest.fixture
def uniroot_calls(monkeypatch):
    """Record every root search the analytic solvers make (results of the uniroot port)."""
    calls: list = []
    real = _solvers.uniroot

    def spy(*args, **kwargs):
        res = real(*args, **kwargs)
        calls.append(res)
        return res

    monkeypatch.setattr(_solvers, "uniroot", spy)
    return calls


@pytest.mark.parametrize("case", CASES["case"].tolist())
def test_matches_pwr(case: str, uniroot_calls) -> None:
    """Default solves reproduce pwr's own answers, along uniroot's iteration path."""
    row = CASES.set_index("case").loc[case].copy()
    row["case"] = case
    got = _compute(row)
    assert got == pytest.approx(row["value_pwr"], rel=RTOL, abs=0)
    if row["target"] == "power":
        assert uniroot_calls == []
    else:
        # same number of Brent iterations as R's uniroot took inside pwr
        assert uniroot_calls, "a solved value must come from the uniroot port"
        assert {c.iterations for c in uniroot_calls} == {int(row["iter_pwr"])}
        assert all(c.root == uniroot_calls[0].root for c in uniroot_calls)


@pytest.mark.parametrize("case", CASES.loc[CASES["target"] != "power", "case"].tolist())
def test_exact_solves_match_tight_roots(case: str) -> None:
    """exact=True solves to machine precision: R's uniroot(tol = 1e-12) root."""
    row = CASES.set_index("case").loc[case].copy()
    row["case"] = case
    got = _compute(row, exact=True)
    assert got == pytest.approx(row["value_tight"], rel=RTOL, abs=0)
    # and pwr's default-tolerance answer is distinguishable from it in general
    assert got == pytest.approx(row["value_pwr"], rel=1e-3, abs=5e-4)


def test_default_and_exact_differ_by_pwr_tolerance() -> None:
    solved = CASES[CASES["target"] != "power"]
    gap = (solved["value_pwr"] - solved["value_tight"]).abs()
    # pwr's answers are off the exact roots by up to uniroot's tolerance (2^-13)
    assert gap.max() > 1e-6 and gap.max() < 2**-13
    r_default = analytic.two_sample_t(d=0.43, power=0.8)
    r_exact = analytic.two_sample_t(d=0.43, power=0.8, exact=True)
    assert r_default.n != r_exact.n
    assert abs(r_default.n - r_exact.n) < 2**-13
    assert analytic.two_sample_t(d=0.43, n=r_exact.n).power == pytest.approx(0.8, rel=1e-12)


@pytest.mark.parametrize("i", range(len(UNIROOT)))
def test_uniroot_port_matches_r(i: int) -> None:
    row = UNIROOT.iloc[i]
    fns = {
        "sq2": lambda x: x * x - 2,
        "cos": lambda x: math.cos(x) - x,
        "exp": lambda x: math.exp(x) - 5,
        "tanh": lambda x: math.tanh(x - 0.3),
    }
    res = uniroot(fns[row["fun"]], float(row["lower"]), float(row["upper"]),
                  tol=float(row["tol"]))
    assert res.root == pytest.approx(row["root"], rel=1e-14, abs=0)
    assert res.iterations == row["iter"]
    assert res.estim_prec == pytest.approx(row["estim_prec"], rel=1e-12)
    assert res.converged


def test_uniroot_edge_cases() -> None:
    assert R_TOL == 2.0**-13
    # a root at an end point is returned without iterating
    r = uniroot(lambda x: x - 1.0, 1.0, 3.0)
    assert (r.root, r.iterations, r.estim_prec) == (1.0, 0, 0.0)
    r = uniroot(lambda x: x - 3.0, 1.0, 3.0)
    assert (r.root, r.iterations) == (3.0, 0)
    # end points of one sign, NaN, reversed interval: R's errors
    with pytest.raises(ValueError, match="not of opposite sign"):
        uniroot(lambda x: x * x + 1, -1.0, 1.0)
    with pytest.raises(ValueError, match="f.lower"):
        uniroot(lambda x: math.nan if x < 0 else x, -1.0, 1.0)
    with pytest.raises(ValueError, match="lower < upper"):
        uniroot(lambda x: x, 1.0, -1.0)
    # maxiter reached: a warning, iterations -1, last iterate returned
    with pytest.warns(ConvergenceWarning, match="converged"):
        r = uniroot(lambda x: math.tanh(x - 0.3), -4.0, 1000.0, maxiter=2)
    assert r.iterations == -1 and not r.converged
    # tol = 0 gives the root to machine precision
    assert uniroot(lambda x: x * x - 2, 0.0, 2.0, tol=0.0).root == pytest.approx(
        math.sqrt(2), rel=4e-16)
    # R's zeroin2 driver replaces non-finite values by -/+ DBL_MAX, with a warning
    for value, expected in [(math.inf, sys.float_info.max), (math.nan, sys.float_info.max),
                            (-math.inf, -sys.float_info.max)]:
        with pytest.warns(CausalpaWarning, match="replaced"):
            assert _r_value(lambda x, v=value: v, 0.0) == expected
    assert _r_value(lambda x: x - 1, 3.0) == 2.0


def test_reference_covers_every_solver() -> None:
    kinds = set(zip(CASES["fun"], CASES["target"], strict=True))
    assert {("pwr.t.test", "n"), ("pwr.t.test", "power"), ("pwr.t.test", "d"),
            ("pwr.t2n.test", "n1"), ("pwr.t2n.test", "power"), ("pwr.t2n.test", "d"),
            ("pwr.2p.test", "n"), ("pwr.2p.test", "power"), ("pwr.2p.test", "h"),
            ("pwr.2p2n.test", "power"), ("pwr.2p2n.test", "n1"),
            ("pwr.2p2n.test", "h")} <= kinds
    assert set(CASES["alternative"]) == {"two.sided", "greater", "less"}
    versions = json.loads((REF / "pwr_versions.json").read_text())
    assert versions["pwr"]


def test_seed_questions() -> None:
    rec = analytic.two_proportions(p1=0.63, p2=0.36, power=0.8)
    assert rec.n_ceil == 53
    phq = analytic.two_sample_t(d=0.43, power=0.8)
    assert phq.n_ceil == 86
    assert analytic.ancova(d=0.43, power=0.8, rho=0.5).n_ceil < 86


def test_t2n_unequal_d_solve_roundtrip() -> None:
    r = analytic.two_sample_t(n=40, n2=70, power=0.8, exact=True)
    back = analytic.two_sample_t(d=r.effect, n=40, n2=70)
    assert back.power == pytest.approx(0.8, rel=1e-12)
    # pwr's default-tolerance root is within uniroot's tolerance of it
    assert abs(analytic.two_sample_t(n=40, n2=70, power=0.8).effect - r.effect) < 2**-13


def test_proportions_solve_p2_roundtrip() -> None:
    r = analytic.two_proportions(p1=0.63, n=60, power=0.8, exact=True)
    p2 = r.details["p2"]
    assert p2 < 0.63
    back = analytic.two_proportions(p1=0.63, p2=p2, n=60)
    assert back.power == pytest.approx(0.8, rel=1e-12)
    # the default (pwr's path) solves the same h to uniroot's tolerance
    default = analytic.two_proportions(p1=0.63, n=60, power=0.8)
    assert abs(default.effect - r.effect) < 2**-13 and default.solved_for == "p2"


def test_ancova_is_t_with_scaled_effect_and_one_df_less() -> None:
    rho = 0.6
    a = analytic.ancova(d=0.4, n=50, rho=rho)
    # same noncentrality as a t test with d / sqrt(1 - rho^2) and df reduced by one:
    # compare with a t test on n = 49.5 per group? No: compute directly from scipy.
    from scipy import stats

    df = 2 * 50 - 3
    ncp = 0.4 / math.sqrt(1 - rho**2) * math.sqrt(50 / 2)
    q = stats.t.isf(0.025, df)
    expected = stats.nct.sf(q, df, ncp) + stats.nct.cdf(-q, df, ncp)
    assert a.power == pytest.approx(expected, rel=1e-12)
    # rho = 0 with no covariate is exactly the t test
    assert analytic.ancova(d=0.4, n=50, rho=0, n_covariates=0).power == pytest.approx(
        analytic.two_sample_t(d=0.4, n=50).power, rel=1e-14)
    # large-sample agreement with Borm et al.: n_ancova ~ n_t (1 - rho^2)
    n_t = analytic.two_sample_t(d=0.2, power=0.8).n
    n_a = analytic.ancova(d=0.2, power=0.8, rho=rho).n
    assert n_a == pytest.approx(n_t * (1 - rho**2), rel=0.01)


def test_design_effect_and_inflation() -> None:
    assert analytic.design_effect(0.06, 10) == pytest.approx(1.54)
    sizes = np.array([4, 8, 12, 16])
    cv = sizes.std() / sizes.mean()
    assert analytic.design_effect(0.06, cluster_sizes=sizes) == pytest.approx(
        1 + ((cv**2 + 1) * 10 - 1) * 0.06)
    assert analytic.design_effect(0.0, 25) == 1.0
    assert analytic.inflate(86, attrition=0.2) == 108
    assert analytic.inflate(100, design_effect=1.5) == 150
    with pytest.raises(SpecificationError, match="attrition"):
        analytic.inflate(10, attrition=1.0)


def test_minimum_detectable_effect_inverts_power() -> None:
    d = analytic.minimum_detectable_effect(60, attrition=0.25, design_effect=1.2, exact=True)
    eff_n = 60 * 0.75 / 1.2
    assert analytic.two_sample_t(d=d, n=eff_n).power == pytest.approx(0.8, rel=1e-12)
    default = analytic.minimum_detectable_effect(60, attrition=0.25, design_effect=1.2)
    assert default == analytic.two_sample_t(n=eff_n, power=0.8).effect
    assert abs(default - d) < 2**-13


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"d": 0.5}, "exactly one"),
        ({"d": 0.5, "n": 10, "power": 0.8}, "exactly one"),
        ({"d": 0.5, "power": 1.2}, "`power`"),
        ({"d": 0.5, "power": 0.8, "alpha": 0}, "`alpha`"),
        ({"d": 0.5, "power": 0.8, "alternative": "sideways"}, "`alternative`"),
        ({"d": 0.5, "n": 1.5}, "`n`"),
        ({"d": -0.5, "power": 0.8, "alternative": "greater"}, "cannot give power"),
    ],
)
def test_errors_name_the_argument(kwargs, match) -> None:
    with pytest.raises(SpecificationError, match=match):
        analytic.two_sample_t(**kwargs)


def test_alternative_spellings_and_result_views() -> None:
    a = analytic.two_sample_t(d=0.5, n=30, alternative="two.sided")
    assert a.alternative == "two-sided"
    assert analytic.two_sample_t(d=0.5, n=30, alternative="GREATER").alternative == "greater"
    frame = a.tidy()
    assert frame.loc[0, "power"] == a.power and "df" in frame
    assert frame.loc[0, "n_total"] == 60 and frame.loc[0, "ncp"] == a.details["ncp"]
    assert "solved for power" in repr(a) and "30 + 30 = 60" in a.summary()
    d = a.to_dict()
    assert d["result"] == "AnalyticResult" and d["table"][0]["n_total"] == 60
    assert d["participants"] == "30 + 30 = 60"
    details = a.details
    details["df"] = -1.0  # a copy: the result is unchanged
    assert a.details["df"] == 58.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.power = 0.0  # type: ignore[misc]


def test_every_alternative_is_declared_once() -> None:
    from typing import get_args, get_type_hints

    from causalpa._validation import declared_params

    for fn in (analytic.two_sample_t, analytic.ancova, analytic.two_proportions,
               analytic.minimum_detectable_effect):
        assert get_args(get_type_hints(fn)["alternative"]) == get_args(analytic.Alternative)
        assert declared_params(fn)["alternative"][0].values == get_args(analytic.Alternative)
    with pytest.raises(SpecificationError, match="`alternative` must be one of 'two-sided'"):
        analytic.ancova(d=0.4, n=30, alternative="sideways")
    with pytest.raises(SpecificationError, match="`rho`"):
        analytic.ancova(d=0.4, n=30, rho=1.0)
    with pytest.raises(SpecificationError, match="`icc`"):
        analytic.design_effect(1.5, 10)
    with pytest.raises(SpecificationError, match="`p1`"):
        analytic.cohens_h(1.2, 0.3)


def test_effect_beyond_pwr_interval_is_still_solved() -> None:
    # pwr.t.test(n = 2.05, power = 0.999999) stops ("f() values at end points not
    # of opposite sign": d = 10 is not enough); causalpa widens the interval
    for alt, sign in [("two-sided", 1), ("greater", 1), ("less", -1)]:
        r = analytic.two_sample_t(n=2.05, power=0.999999, alternative=alt)
        assert sign * r.effect > 10
        back = analytic.two_sample_t(d=r.effect, n=2.05, alternative=alt).power
        assert back == pytest.approx(0.999999, abs=1e-6)
    with pytest.raises(SpecificationError, match="cannot be reached: n would exceed"):
        analytic.two_sample_t(d=1e-6, power=0.8)
    with pytest.raises(SpecificationError, match="power <= alpha"):
        analytic.two_sample_t(n=50, power=0.03)


def test_ancova_without_residual_degrees_of_freedom_is_named() -> None:
    with pytest.raises(SpecificationError,
                       match=r"`n_covariates` = 10 .* n = 3: df = 2 \* \(n - 1\) - "
                             r"n_covariates = -6"):
        analytic.ancova(d=0.5, n=3, n_covariates=10)
    with pytest.raises(SpecificationError, match=r"n = 3, n2 = 3: df = .* = -6.*`n2`"):
        analytic.ancova(n=3, n2=3, power=0.8, n_covariates=10)
    # solving n with n2 given starts where df >= 2, so it is a real solution
    r = analytic.ancova(d=0.5, n2=40, power=0.8, n_covariates=100)
    assert r.details["df"] >= 2 and math.isfinite(r.n)
    again = analytic.ancova(d=0.5, n=r.n, n2=40, n_covariates=100)
    assert again.power == pytest.approx(0.8, abs=1e-3)
    # where the old interval already had df >= 2 the answer is unchanged
    assert analytic.ancova(d=0.5, n2=40, power=0.8, n_covariates=4).n == pytest.approx(
        _solvers.solve_size(lambda x: analytic.ancova(d=0.5, n=x, n2=40, n_covariates=4).power,
                            0.8, _solvers.N_LOWER + 2, "n", False), rel=0, abs=0)


def test_minimum_detectable_effect_names_attrition_and_effective_n() -> None:
    with pytest.raises(SpecificationError,
                       match=r"`attrition` = 0.9 .* effective `n` of 3 \* \(1 - 0.9\) / 1 = 0.3"):
        analytic.minimum_detectable_effect(3, attrition=0.9)
    with pytest.raises(SpecificationError, match=r"`design_effect` = 5 .* effective `n2`"):
        analytic.minimum_detectable_effect(30, 8, design_effect=5)


@pytest.mark.parametrize("sizes", ["abc", ["a", 3], [], [0, 4], [float("nan")]])
def test_design_effect_bad_cluster_sizes(sizes) -> None:
    with pytest.raises(SpecificationError, match="`cluster_sizes` must be positive finite"):
        analytic.design_effect(0.06, cluster_sizes=sizes)
