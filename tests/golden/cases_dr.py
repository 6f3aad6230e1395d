"""Golden cases: doubly robust estimation and sensitivity analysis."""

from __future__ import annotations

from typing import Any

from golden_common import LALONDE_PS, PILOT_PS, case, effect, lalonde, nhefs, pilot, plain, table

import causalpa as cpa


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
        ((0.5,), {"scale": "SMD", "std_error": 0.1}),
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
