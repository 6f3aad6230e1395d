"""Golden cases: GEE, GLMM and panel models."""

from __future__ import annotations

from typing import Any

import pandas as pd
from golden_common import PILOT_PS, REF, case, pilot, pilot_sessions, plain, table

import causalpa as cpa


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
