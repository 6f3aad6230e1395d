"""Golden cases: numbers the library produced before the "one grammar" redesign.

Each case is a function returning a flat ``{name: value}`` dict of estimates, standard
errors, degrees of freedom, p-values, intervals, weights, matched sets and power figures.
``make_golden.py`` ran them once, before the redesign, and stored the values in
``golden.json``; ``tests/test_golden.py`` re-runs them and requires the same values.
When the public API is renamed, the calls below are updated to the new names; the stored
numbers are never regenerated to make a test pass.
"""

from __future__ import annotations

import pathlib
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

import causalpa as cpa

REF = pathlib.Path(__file__).resolve().parents[1] / "reference"
CASES: dict[str, Callable[[], dict[str, Any]]] = {}


def case(fn: Callable[[], dict[str, Any]]) -> Callable[[], dict[str, Any]]:
    """Register a golden case (warnings are silenced: only numbers are compared)."""

    def run() -> dict[str, Any]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return fn()

    CASES[fn.__name__] = run
    return fn


def plain(value: Any) -> Any:
    """Convert numpy / pandas values into JSON-able Python values (floats kept exactly)."""
    if isinstance(value, pd.DataFrame):
        return {str(c): plain(value[c]) for c in value.columns}
    if isinstance(value, (pd.Series, pd.Index)):
        return plain(value.to_numpy())
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "fc":
            return [float(v) for v in value.astype(float).ravel()]
        if value.dtype.kind in "iub":
            return [int(v) for v in value.ravel()]
        return [plain(v) for v in value.ravel()]
    if isinstance(value, (np.floating, float)):
        return float(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if value is pd.NA:
        return None
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def effect(e: Any, prefix: str = "") -> dict[str, Any]:
    """The numbers of an Effect."""
    keys = ["estimate", "std_error", "conf_low", "conf_high", "p_value", "df", "n_treated",
            "n_control"]
    return {prefix + k: plain(getattr(e, k)) for k in keys}


def table(df: pd.DataFrame, prefix: str) -> dict[str, Any]:
    """Every numeric column of a table, as lists."""
    out = {}
    for c in df.columns:
        col = df[c]
        if pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
            out[f"{prefix}{c}"] = plain(col.to_numpy())
        else:
            out[f"{prefix}{c}"] = [str(v) for v in col]
    return out


# --------------------------------------------------------------------------- data
def lalonde() -> pd.DataFrame:
    return cpa.datasets.load_lalonde()


def nhefs() -> pd.DataFrame:
    return cpa.datasets.load_nhefs()


def pilot() -> pd.DataFrame:
    return cpa.datasets.load_pilot()


def pilot_sessions() -> pd.DataFrame:
    return cpa.datasets.load_pilot("sessions")


LALONDE_PS = "treat ~ age + educ + race + married + nodegree + re74 + re75"
NHEFS_PS = ("qsmk ~ C(sex) + C(race) + age + I(age**2) + C(education) + smokeintensity"
            " + I(smokeintensity**2) + smokeyrs + I(smokeyrs**2) + C(exercise) + C(active)"
            " + wt71 + I(wt71**2)")
PILOT_PS = "pa ~ age + phq9_first + ltc"


# --------------------------------------------------------------------------- propensity
@case
def propensity_models() -> dict[str, Any]:
    out: dict[str, Any] = {}
    ps = cpa.propensity(lalonde(), LALONDE_PS)
    out["lalonde_coef"] = plain(ps.coef)
    out["lalonde_scores"] = plain(ps.scores)
    firth = cpa.propensity(pilot(), PILOT_PS, ps_model="firth")
    out["pilot_firth_coef"] = plain(firth.coef)
    out["pilot_firth_scores"] = plain(firth.scores)
    out["pilot_overlap"] = plain(cpa.propensity(pilot(), PILOT_PS).overlap())
    return out


# --------------------------------------------------------------------------- matching
def _match_numbers(m: Any, prefix: str) -> dict[str, Any]:
    out = {
        prefix + "weights": plain(m.weights),
        prefix + "treated": plain(m.pairs["treated"]),
        prefix + "control": plain(m.pairs["control"]),
        prefix + "distance": plain(m.pairs["distance"]),
    }
    if m.subclass is not None:
        out[prefix + "subclass"] = [None if pd.isna(v) else int(v) for v in m.subclass]
    return out


@case
def matching_lalonde() -> dict[str, Any]:
    df = lalonde()
    out: dict[str, Any] = {}
    variants: dict[str, dict[str, Any]] = {
        "nearest": {},
        "ratio2": {"ratio": 2},
        "replace": {"replace": True, "ratio": 2},
        "caliper": {"caliper": 0.1},
        "logit_caliper": {"distance": "logit", "caliper": 0.2},
        "mahalanobis": {"distance": "mahalanobis"},
        "optimal": {"method": "optimal"},
        "atc": {"estimand": "ATC"},
        "discard": {"discard": "both"},
        "covcal": {"caliper": {"distance": 0.25, "age": 5}, "std_caliper": {"age": False}},
        "exact": {"exact": "married"},
        "random": {"order": "random", "rng": 7},
    }
    for name, opts in variants.items():
        m = cpa.match(df, LALONDE_PS, **opts)
        out.update(_match_numbers(m, f"{name}_"))
    return out


@case
def matching_estimates() -> dict[str, Any]:
    df = lalonde().assign(employed78=lambda d: (d["re78"] > 0).astype(int))
    m = cpa.match(df, LALONDE_PS)
    out: dict[str, Any] = {}
    out.update(effect(m.estimate("re78"), "cluster_"))
    out.update(effect(m.estimate("re78", se="robust"), "robust_"))
    out.update(effect(m.estimate("re78", se="CR2"), "cr2_"))
    out.update(effect(m.estimate("re78", se="HC1"), "hc1_"))
    out.update(effect(m.estimate("re78", adjust=["age", "educ", "re74"]), "adjust_"))
    out.update(effect(m.estimate("re78", se="bootstrap", n_boot=199, rng=3), "boot_"))
    out.update(effect(m.estimate("re78", se="permutation", n_perm=999, rng=3),
                      "perm_"))
    for measure in ("risk difference", "risk ratio", "odds ratio"):
        out.update(effect(m.estimate("employed78", measure=measure), f"{measure}_"))
    mr = cpa.match(df, LALONDE_PS, replace=True)
    out.update(effect(mr.estimate("re78"), "replace_"))
    mp = cpa.match(pilot(), PILOT_PS)
    out.update(effect(mp.estimate("phq9_change"), "pilot_"))
    out.update(effect(mp.estimate("recovered"), "pilot_rec_"))
    return out


@case
def matching_balance() -> dict[str, Any]:
    m = cpa.match(lalonde(), LALONDE_PS)
    tab = m.balance()
    out = table(tab.tidy(), "tidy_")
    out.update(table(tab.n.reset_index(), "n_"))
    wb = cpa.balance(nhefs(), "qsmk ~ age + wt71 + C(sex)",
                     weights=cpa.weight(nhefs(), NHEFS_PS).weights.to_numpy())
    out.update(table(wb.tidy(), "weighted_"))
    return out


# --------------------------------------------------------------------------- weighting
@case
def weighting_nhefs() -> dict[str, Any]:
    df = nhefs()
    out: dict[str, Any] = {}
    for estimand in ("ATE", "ATT", "ATC", "ATO"):
        w = cpa.weight(df, NHEFS_PS, estimand=estimand)
        out[f"{estimand}_weights"] = plain(w.weights)
        out.update(effect(w.estimate("wt82_71"), f"{estimand}_sandwich_"))
        out.update(effect(w.estimate("wt82_71", se="robust"), f"{estimand}_robust_"))
        out.update(effect(w.estimate("wt82_71", adjust=["age", "wt71"]), f"{estimand}_adj_"))
    ws = cpa.weight(df, NHEFS_PS, stabilize=True)
    out.update(effect(ws.estimate("wt82_71"), "stab_"))
    out.update(effect(ws.estimate("wt82_71", se="robust"), "stab_robust_"))
    wt = cpa.weight(df, NHEFS_PS, trim=0.99)
    out["trim_weights"] = plain(wt.weights)
    out.update(effect(wt.estimate("wt82_71"), "trim_"))
    out.update(effect(cpa.weight(df, NHEFS_PS, trim=10, trim_lower=True).estimate("wt82_71"),
                      "trim10_"))
    out.update(effect(ws.estimate("wt82_71", se="bootstrap", n_boot=60, rng=2),
                      "boot_"))
    out["summary"] = plain(ws.summary())
    out["ess"] = plain(ws.ess)
    return out


@case
def weighting_entropy_binary() -> dict[str, Any]:
    df = nhefs().assign(gained=lambda d: (d["wt82_71"] > 0).astype(int))
    out: dict[str, Any] = {}
    for estimand in ("ATT", "ATE", "ATC"):
        w = cpa.weight(df, "qsmk ~ age + wt71 + smokeintensity + C(sex)", method="entropy",
                       estimand=estimand)
        out[f"entropy_{estimand}_weights"] = plain(w.weights)
        out.update(effect(w.estimate("wt82_71"), f"entropy_{estimand}_"))
    w = cpa.weight(df, "qsmk ~ age + wt71 + smokeintensity + C(sex)")
    for measure in ("risk difference", "risk ratio", "odds ratio"):
        out.update(effect(w.estimate("gained", measure=measure), f"{measure}_"))
        out.update(effect(w.estimate("gained", measure=measure, adjust=["age"]),
                          f"{measure}_adj_"))
    wp = cpa.weight(pilot(), PILOT_PS)
    out.update(effect(wp.estimate("phq9_change"), "pilot_"))
    out.update(effect(wp.estimate("recovered"), "pilot_rec_"))
    out.update(effect(cpa.weight(pilot(), PILOT_PS, ps_model="firth").estimate("phq9_change"), "pilot_firth_"))
    return out


# --------------------------------------------------------------------------- AIPW
@case
def aipw_cases() -> dict[str, Any]:
    df = nhefs().assign(gained=lambda d: (d["wt82_71"] > 0).astype(int))
    out: dict[str, Any] = {}
    cov = ["age", "wt71", "smokeintensity", "smokeyrs"]
    out.update(effect(cpa.aipw(df, outcome="wt82_71", treatment="qsmk", covariates=cov), "ate_"))
    out.update(effect(cpa.aipw(df, outcome="wt82_71", treatment="qsmk", covariates=cov, estimand="ATT"), "att_"))
    out.update(effect(cpa.aipw(df, outcome="wt82_71", treatment="qsmk", covariates=cov, cross_fit=5, rng=1),
                      "crossfit_"))
    for measure in ("risk difference", "risk ratio", "odds ratio"):
        out.update(effect(cpa.aipw(df, outcome="gained", treatment="qsmk", covariates=cov, measure=measure), f"{measure}_"))
    out.update(effect(cpa.aipw(df, "qsmk ~ age + wt71", outcome="wt82_71",
                               outcome_covariates="age + wt71 + C(sex)"), "outcov_"))
    out.update(effect(cpa.aipw(pilot(), PILOT_PS, outcome="phq9_change"), "pilot_"))
    return out


# --------------------------------------------------------------------------- sensitivity
@case
def sensitivity_cases() -> dict[str, Any]:
    from causalpa.sensitivity import evalue, rosenbaum

    out: dict[str, Any] = {}
    for i, (args, kw) in enumerate([
        ((3.9,), {"conf_low": 1.8, "conf_high": 8.7}),
        ((0.8,), {"conf_low": 0.71, "conf_high": 0.91}),
        ((1.5,), {"conf_low": 0.9, "conf_high": 2.5, "scale": "OR", "rare": False}),
        ((0.5,), {"scale": "SMD", "se": 0.1}),
    ]):
        ev = evalue(*args, **kw)
        out[f"evalue{i}"] = [plain(ev.point), plain(ev.ci), plain(ev.rr), plain(ev.rr_limit)]
    m = cpa.match(lalonde(), LALONDE_PS)
    ev = evalue(m.estimate("re78"), sd=7000.0)
    out["evalue_effect"] = [plain(ev.point), plain(ev.ci), plain(ev.rr), plain(ev.rr_limit)]
    rb = rosenbaum(m, "re78", gammas=(1, 1.1, 1.3, 1.6, 2))
    out.update(table(rb.table, "rosenbaum_"))
    out["gamma_at"] = plain(rb.gamma_at(0.05))
    return out


# --------------------------------------------------------------------------- mixed models
@case
def mixed_sleepstudy() -> dict[str, Any]:
    sleep = pd.read_csv(REF / "lme4" / "sleepstudy.csv")
    out: dict[str, Any] = {}
    for name, kw in {
        "reml_satt": {},
        "reml_kr": {"df": "kenward-roger"},
        "ml_satt": {"reml": False},
        "ml_normal": {"reml": False, "df": "normal"},
        "residual": {"df": "residual"},
    }.items():
        fit = cpa.mixed(sleep, "Reaction ~ Days", groups="Subject", re_formula="~Days", **kw)
        out.update(table(fit.tidy(), f"{name}_"))
        out[f"{name}_theta"] = plain(fit.theta)
        out[f"{name}_loglik"] = plain(fit.loglik)
        out.update(table(fit.variance_components, f"{name}_vc_"))
    return out


@case
def mixed_pilot() -> dict[str, Any]:
    sess = pilot_sessions()
    out: dict[str, Any] = {}
    fit = cpa.mixed(sess, "phq9 ~ session * pa", groups="patient", re_formula="~session")
    out.update(table(fit.tidy(), "slopes_"))
    out.update(table(fit.contrast({"pa": 1, "session:pa": 5}), "contrast_"))
    out.update(table(fit.contrast({"pa": 1, "session:pa": 5}, df="kenward-roger"),
                     "contrast_kr_"))
    out.update(table(fit.test({"level": {"pa": 1}, "slope": {"session:pa": 1}}), "ftest_"))
    out.update(table(fit.test({"level": {"pa": 1}, "slope": {"session:pa": 1}},
                              df="kenward-roger"), "ftest_kr_"))
    out["predict_subject"] = plain(fit.predict(level="subject"))
    nested = cpa.mixed(sess, "phq9 ~ session * pa", groups=["therapist", "patient"])
    out.update(table(nested.tidy(), "nested_"))
    out.update(table(nested.variance_components, "nested_vc_"))
    logt = cpa.mixed(sess.assign(lt=np.log1p(sess["session"])), "phq9 ~ lt * pa",
                     groups="patient", re_formula="~lt", reml=False)
    out.update(table(logt.tidy(), "logtime_"))
    return out


@case
def gee_glmm_panel() -> dict[str, Any]:
    sess = pilot_sessions().assign(case=lambda d: (d["phq9"] >= 10).astype(int))
    out: dict[str, Any] = {}
    for name, kw in {
        "exch": {},
        "ind": {"corr": "independence"},
        "ar1": {"corr": "ar1", "time": "session"},
        "br": {"se": "bias-reduced", "df": "clusters"},
    }.items():
        fit = cpa.gee(sess, "phq9 ~ session * pa", **kw)
        out.update(table(fit.tidy(), f"gee_{name}_"))
        out[f"gee_{name}_alpha"] = plain(fit.working_correlation)
    fb = cpa.gee(sess, "case ~ session + pa", family="binomial")
    out.update(table(fb.tidy(), "gee_binomial_"))
    pts = pilot()
    w = cpa.weight(pts, PILOT_PS)
    fw = cpa.gee(sess, "phq9 ~ session * pa", weights=w.weights, weights_by=pts["patient"])
    out.update(table(fw.tidy(), "gee_ipw_"))
    cbpp = pd.read_csv(REF / "glmer" / "cbpp.csv")
    gm = cpa.glmm(cbpp, "incidence / size ~ C(period)", groups="herd")
    out.update(table(gm.tidy(), "glmm_cbpp_"))
    gm2 = cpa.glmm(sess, "case ~ session + pa", groups="patient")
    out.update(table(gm2.tidy(), "glmm_case_"))
    pf = cpa.panel(sess, "phq9 ~ session * pa")
    out.update(table(pf.tidy(), "panel_"))
    pf2 = cpa.panel(sess, "phq9 ~ session * pa", cluster="therapist", se="CR0")
    out.update(table(pf2.tidy(), "panel_ther_"))
    return out


# --------------------------------------------------------------------------- outcomes, simulator
@case
def outcomes_and_simulator() -> dict[str, Any]:
    out: dict[str, Any] = {}
    flagged = cpa.outcomes.nhs_outcomes(pilot().drop(
        columns=["recovered", "reliable_improvement", "reliable_recovery"], errors="ignore"),
        phq9=("phq9_first", "phq9_last"), gad7=("gad7_first", "gad7_last"))
    for c in ("case_first", "case_last", "recovered", "reliable_improvement",
              "reliable_deterioration", "reliable_recovery"):
        out[f"pilot_{c}"] = plain(flagged[c])
    fs = cpa.outcomes.from_sessions(pilot_sessions(), id="patient", session="session",
                                    phq9="phq9", gad7="gad7")
    out.update(table(fs, "from_sessions_"))
    sim = cpa.simulate.cohort(n=300, rng=5)
    out.update(table(sim.patients.select_dtypes("number"), "sim_"))
    out.update(table(sim.truth.reset_index(drop=True), "truth_"))
    out["sim_sessions_phq9"] = plain(sim.sessions["phq9"])
    sim2 = cpa.simulate.cohort(n=120, rng=9, selection=0.0, assignment="therapist",
                               n_therapists=12, effect=0.6, heterogeneity=0.5, hidden=0.3)
    out.update(table(sim2.patients.select_dtypes("number"), "sim2_"))
    return out


# --------------------------------------------------------------------------- power
@case
def power_analytic() -> dict[str, Any]:
    a = cpa.power.analytic
    out: dict[str, Any] = {}
    results = {
        "t_n": a.two_sample_t(d=0.43, power=0.8),
        "t_power": a.two_sample_t(d=0.5, n=40),
        "t_d": a.two_sample_t(n=60, power=0.9),
        "t_exact": a.two_sample_t(d=0.43, power=0.8, exact=True),
        "ancova": a.ancova(d=0.43, power=0.8, rho=0.618),
        "prop_n": a.two_proportions(p1=0.63, p2=0.36, power=0.8),
        "prop_power": a.two_proportions(p1=0.63, p2=0.36, n=40),
    }
    for name, r in results.items():
        out.update({f"{name}_{k}": plain(v) for k, v in r.to_dict().items()
                    if isinstance(v, (int, float, str, bool)) or v is None})
    out["deff"] = plain(a.design_effect(0.06, 10, cv=0.4))
    out["inflate"] = plain(a.inflate(86, design_effect=1.54, attrition=0.2))
    out["mde"] = plain(a.minimum_detectable_effect(19, 19, rho=0.5, design_effect=1.2))
    return out


def _power(res: Any, prefix: str) -> dict[str, Any]:
    tab = res.tidy()
    return table(tab, prefix)


@case
def power_simulated() -> dict[str, Any]:
    P = cpa.power
    out: dict[str, Any] = {}
    rt = P.RandomisedTrial(effect=0.6, analyses=("t-test", "ancova"),
                           outcomes=("phq9_change", "gad7_change"))
    out.update(_power(P.simulate(rt, n=40, n_sims=400, seed=1, progress=False), "rt_"))
    out.update(_power(P.simulate(rt, n=40, n_sims=60, seed=1, progress=False, path="general"),
                      "rt_general_"))
    rec = P.RandomisedTrial(effect=0.6, analyses=("risk-difference",), outcomes=("recovered",))
    out.update(_power(P.simulate(rec, n=50, n_sims=300, seed=4, progress=False), "rec_"))
    ct = P.ClusterTrial(effect=0.6, analyses=("cluster-t",), simulator={"n_therapists": 8})
    out.update(_power(P.simulate(ct, n=40, n_sims=200, seed=2, progress=False), "ct_"))
    ob = P.ObservationalStudy(effect=0.6, analyses=("psm", "ipw", "aipw"))
    out.update(_power(P.simulate(ob, n=150, n_sims=12, seed=3, progress=False), "obs_"))
    lt = P.LongitudinalTrial(effect=0.6, analyses=("mixed",))
    out.update(_power(P.simulate(lt, n=20, n_sims=6, seed=5, progress=False), "long_"))
    att = P.RandomisedTrial(effect=0.5, analyses=("ancova",), attrition=0.2)
    out.update(_power(P.simulate(att, n=40, n_sims=200, seed=6, progress=False), "attr_"))
    c = P.curve(P.RandomisedTrial(effect=0.8, analyses=("t-test",)), ns=[20, 40], n_sims=200,
                seed=1, progress=False)
    out.update(table(c.to_frame(), "curve_"))
    ss = P.sample_size(P.RandomisedTrial(effect=0.8, analyses=("t-test",)), target=0.8,
                       n_sims=200, seed=1)
    out["sample_size_n"] = plain(ss.n)
    out["sample_size_power"] = plain(ss.power)
    est = P.from_pilot(pilot(), pilot_sessions())
    out.update({f"pilot_{k}": plain(v) for k, v in est.to_dict().items()
                if isinstance(v, (int, float)) and not isinstance(v, bool)})
    out["realised_smd"] = plain(P.realised_smd(P.RandomisedTrial(effect=0.5), n=20_000))
    return out


def run_all() -> dict[str, dict[str, Any]]:
    """Run every case (used by make_golden.py)."""
    return {name: fn() for name, fn in CASES.items()}

