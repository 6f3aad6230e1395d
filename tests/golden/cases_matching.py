"""Golden cases: matching."""

from __future__ import annotations

from typing import Any

import pandas as pd
from golden_common import (
    LALONDE_PS,
    NHEFS_PS,
    PILOT_PS,
    case,
    effect,
    lalonde,
    nhefs,
    pilot,
    plain,
    table,
)

import causalpa as cpa


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
