"""Golden cases: propensity."""

from __future__ import annotations

from typing import Any

from golden_common import LALONDE_PS, PILOT_PS, case, lalonde, pilot, plain

import causalpa as cpa


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
