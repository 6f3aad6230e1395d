"""Power analysis: analytic formulas, simulated designs, curves and sample-size search.

Examples
--------
>>> import causalpa as cpa
>>> cpa.power.analytic.two_sample_t(d=0.43, power=0.8).n_ceil
86
"""

from __future__ import annotations

from causalpa.power import analytic

__all__ = ["analytic"]
