"""Golden cases: weighting."""

from __future__ import annotations

from typing import Any

from golden_common import NHEFS_PS, PILOT_PS, case, effect, nhefs, pilot, plain

import causalpa as cpa


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
    out["summary"] = plain(ws.tidy().drop(columns="arm"))
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
