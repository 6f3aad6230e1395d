"""Golden cases: outcomes, the simulator and power."""

from __future__ import annotations

from typing import Any

from golden_common import case, pilot, pilot_sessions, plain, table

import causalpa as cpa


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
    keys = ("test", "solved_for", "n", "n2", "power", "effect", "alpha", "alternative",
            "n_ceil", "n2_ceil", "n_total")
    for name, r in results.items():
        row = r.tidy().iloc[0]
        out.update({f"{name}_{k}": plain(row[k]) for k in keys})
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
    out.update(_power(P.simulate(rt, n=40, n_sims=400, rng=1, progress=False), "rt_"))
    out.update(_power(P.simulate(rt, n=40, n_sims=60, rng=1, progress=False, path="general"),
                      "rt_general_"))
    rec = P.RandomisedTrial(effect=0.6, analyses=("risk-difference",), outcomes=("recovered",))
    out.update(_power(P.simulate(rec, n=50, n_sims=300, rng=4, progress=False), "rec_"))
    ct = P.ClusterTrial(effect=0.6, analyses=("cluster-t",), simulator={"n_therapists": 8})
    out.update(_power(P.simulate(ct, n=40, n_sims=200, rng=2, progress=False), "ct_"))
    ob = P.ObservationalStudy(effect=0.6, analyses=("psm", "ipw", "aipw"))
    out.update(_power(P.simulate(ob, n=150, n_sims=12, rng=3, progress=False), "obs_"))
    lt = P.LongitudinalTrial(effect=0.6, analyses=("mixed",))
    out.update(_power(P.simulate(lt, n=20, n_sims=6, rng=5, progress=False), "long_"))
    att = P.RandomisedTrial(effect=0.5, analyses=("ancova",), attrition=0.2)
    out.update(_power(P.simulate(att, n=40, n_sims=200, rng=6, progress=False), "attr_"))
    c = P.curve(P.RandomisedTrial(effect=0.8, analyses=("t-test",)), ns=[20, 40], n_sims=200,
                rng=1, progress=False)
    out.update(table(c.tidy(), "curve_"))
    ss = P.sample_size(P.RandomisedTrial(effect=0.8, analyses=("t-test",)), target=0.8,
                       n_sims=200, rng=1)
    out["sample_size_n"] = plain(ss.n)
    out["sample_size_power"] = plain(ss.power)
    est = P.from_pilot(pilot(), pilot_sessions())
    row = est.tidy().iloc[0]
    out.update({f"pilot_{k}": plain(row[k]) for k in row.index if k != "outcome"})
    out["realised_smd"] = plain(P.realised_smd(P.RandomisedTrial(effect=0.5), n=20_000))
    return out
