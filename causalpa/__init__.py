"""causalpa: causal inference for physical activity in mental-health treatment.

Estimators that address self-selection (propensity scores, matching, weighting,
doubly robust), mixed-effects models for session-by-session PHQ-9/GAD-7
trajectories with small-sample inference, a power-analysis simulation harness
and the NHS Talking Therapies outcome definitions.

Heavy modules are imported lazily, so ``import causalpa`` is fast.

Examples
--------
>>> import causalpa as cpa
>>> cpa.__version__
'0.1.0'
"""

from __future__ import annotations

import importlib
from typing import Any

from causalpa.errors import (
    CausalpaError,
    CausalpaWarning,
    ConvergenceWarning,
    DataError,
    ExtremeWeightsWarning,
    PositivityWarning,
    SingularFitWarning,
    SmallSampleWarning,
    SpecificationError,
)

__version__ = "0.1.0"

# public name -> (module, attribute or None for the module itself)
_LAZY: dict[str, tuple[str, str | None]] = {
    "datasets": ("causalpa.datasets", None),
    "outcomes": ("causalpa.outcomes", None),
    "simulate": ("causalpa.simulate", None),
    "results": ("causalpa.results", None),
    "power": ("causalpa.power", None),
    "sensitivity": ("causalpa.sensitivity", None),
    "report": ("causalpa.report", None),
    "inference": ("causalpa.inference", None),
    # the result protocol and every result class
    "Result": ("causalpa.results", "Result"),
    "EstimateResult": ("causalpa.results", "EstimateResult"),
    "Effect": ("causalpa.results", "Effect"),
    "Estimates": ("causalpa.results", "Estimates"),
    "Comparison": ("causalpa.results", "Comparison"),
    "compare": ("causalpa.results", "compare"),
    "PropensityScore": ("causalpa.propensity", "PropensityScore"),
    "MatchResult": ("causalpa.matching", "MatchResult"),
    "WeightResult": ("causalpa.weighting", "WeightResult"),
    "BalanceTable": ("causalpa.balance", "BalanceTable"),
    "EValue": ("causalpa.sensitivity", "EValue"),
    "RosenbaumBounds": ("causalpa.sensitivity", "RosenbaumBounds"),
    "MixedModelResult": ("causalpa.longitudinal", "MixedModelResult"),
    "FTest": ("causalpa.longitudinal", "FTest"),
    "GEEResult": ("causalpa.longitudinal", "GEEResult"),
    "GLMMResult": ("causalpa.longitudinal", "GLMMResult"),
    "PanelResult": ("causalpa.longitudinal", "PanelResult"),
    "PowerResult": ("causalpa.power", "PowerResult"),
    "PowerCurve": ("causalpa.power", "PowerCurve"),
    "SampleSizeResult": ("causalpa.power", "SampleSizeResult"),
    "AnalyticResult": ("causalpa.power", "AnalyticResult"),
    "PilotEstimates": ("causalpa.power", "PilotEstimates"),
    "SimulatedCohort": ("causalpa.simulate", "SimulatedCohort"),
    "propensity": ("causalpa.propensity", "propensity"),
    "match": ("causalpa.matching", "match"),
    "weight": ("causalpa.weighting", "weight"),
    "aipw": ("causalpa.doubly_robust", "aipw"),
    "balance": ("causalpa.balance", "balance"),
    "mixed": ("causalpa.longitudinal", "mixed"),
    "gee": ("causalpa.longitudinal", "gee"),
    "panel": ("causalpa.longitudinal", "panel"),
    "glmm": ("causalpa.longitudinal", "glmm"),
}

__all__ = [
    "CausalpaError",
    "CausalpaWarning",
    "ConvergenceWarning",
    "DataError",
    "ExtremeWeightsWarning",
    "PositivityWarning",
    "SingularFitWarning",
    "SmallSampleWarning",
    "SpecificationError",
    "__version__",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    try:
        module_name, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'causalpa' has no attribute {name!r}") from None
    module = importlib.import_module(module_name)
    value = module if attr is None else getattr(module, attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
