"""Golden cases: linear mixed models."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from golden_common import REF, case, pilot_sessions, plain, table

import causalpa as cpa


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
    out.update(table(fit.contrast({"pa": 1, "session:pa": 5}).tidy(), "contrast_"))
    out.update(table(fit.contrast({"pa": 1, "session:pa": 5}, df="kenward-roger").tidy(),
                     "contrast_kr_"))
    out.update(table(fit.test({"level": {"pa": 1}, "slope": {"session:pa": 1}}).tidy(),
                     "ftest_"))
    out.update(table(fit.test({"level": {"pa": 1}, "slope": {"session:pa": 1}},
                              df="kenward-roger").tidy(), "ftest_kr_"))
    out["predict_subject"] = plain(fit.predict(level="subject"))
    nested = cpa.mixed(sess, "phq9 ~ session * pa", groups=["therapist", "patient"])
    out.update(table(nested.tidy(), "nested_"))
    out.update(table(nested.variance_components, "nested_vc_"))
    logt = cpa.mixed(sess.assign(lt=np.log1p(sess["session"])), "phq9 ~ lt * pa",
                     groups="patient", re_formula="~lt", reml=False)
    out.update(table(logt.tidy(), "logtime_"))
    return out
