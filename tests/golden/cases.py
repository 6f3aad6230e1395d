"""Golden cases: numbers the library produced before the "one grammar" redesign.

Each case is a function returning a flat ``{name: value}`` dict of estimates, standard
errors, degrees of freedom, p-values, intervals, weights, matched sets and power figures.
``make_golden.py`` ran them once, before the redesign, and stored the values in
``golden.json``; ``tests/test_golden.py`` re-runs them and requires every stored value
again. When the public API is renamed, the calls in ``cases_<area>.py`` are updated to
the new names; the stored numbers are never regenerated to make a test pass.
"""

from __future__ import annotations

from typing import Any

import cases_dr  # noqa: F401  (each module registers its cases)
import cases_longitudinal  # noqa: F401
import cases_matching  # noqa: F401
import cases_mixed  # noqa: F401
import cases_power  # noqa: F401
import cases_propensity  # noqa: F401
import cases_weighting  # noqa: F401
from golden_common import CASES

__all__ = ["CASES", "run_all"]


def run_all() -> dict[str, dict[str, Any]]:
    """Run every case (used by make_golden.py)."""
    return {name: fn() for name, fn in CASES.items()}
