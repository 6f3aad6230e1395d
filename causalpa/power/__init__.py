"""Power analysis: analytic formulas, simulated designs, curves and sample-size search.

- :mod:`causalpa.power.analytic`: closed-form power and sample size (equal to R's ``pwr``);
- designs (:class:`RandomisedTrial`, :class:`ClusterTrial`, :class:`LongitudinalTrial`,
  :class:`ObservationalStudy`) built on the cohort simulator (their simulator
  parameters are one :class:`causalpa.simulate.CohortParams`);
- :func:`simulate`, :func:`curve`, :func:`sample_size`: simulated power with exact
  Monte-Carlo intervals, locally, on joblib workers or on a Dask cluster (``rng=``
  as everywhere in causalpa);
- :func:`from_pilot`: design parameters estimated from pilot data.

Every result (:class:`PowerResult`, :class:`PowerCurve`, :class:`SampleSizeResult`,
:class:`AnalyticResult`, :class:`PilotEstimates`) follows the result protocol of
:mod:`causalpa.results`: ``tidy()`` is the table, ``summary()``, ``to_dict()`` and the
notebook view are derived from it.

Examples
--------
>>> import causalpa as cpa
>>> cpa.power.analytic.two_sample_t(d=0.43, power=0.8).n_ceil
86
>>> design = cpa.power.RandomisedTrial(effect=0.6, analyses=("ancova",))
>>> cpa.power.simulate(design, n=50, n_sims=100, rng=1, progress=False).n_total
100
"""

from __future__ import annotations

import importlib
from typing import Any

from causalpa.power import analytic

__all__ = [
    "analytic",
    "RandomisedTrial",
    "ClusterTrial",
    "LongitudinalTrial",
    "ObservationalStudy",
    "Design",
    "calibrate_effect",
    "realised_smd",
    "simulate",
    "curve",
    "sample_size",
    "from_pilot",
    "PilotEstimates",
    "PowerResult",
    "PowerCurve",
    "SampleSizeResult",
    "AnalyticResult",
    "register_analysis",
    "ANALYSES",
]

_LAZY = {
    "RandomisedTrial": "causalpa.power.designs",
    "ClusterTrial": "causalpa.power.designs",
    "LongitudinalTrial": "causalpa.power.designs",
    "ObservationalStudy": "causalpa.power.designs",
    "Design": "causalpa.power.designs",
    "calibrate_effect": "causalpa.power.calibration",
    "realised_smd": "causalpa.power.calibration",
    "simulate": "causalpa.power.harness",
    "curve": "causalpa.power.harness",
    "sample_size": "causalpa.power.harness",
    "SampleSizeResult": "causalpa.power.results",
    "from_pilot": "causalpa.power.pilot",
    "PilotEstimates": "causalpa.power.pilot",
    "PowerResult": "causalpa.power.results",
    "PowerCurve": "causalpa.power.results",
    "AnalyticResult": "causalpa.power.results",
    "register_analysis": "causalpa.power.analyses",
    "ANALYSES": "causalpa.power.analyses",
}


def __getattr__(name: str) -> Any:
    try:
        module = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'causalpa.power' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
