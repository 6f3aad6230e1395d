"""The numbers of the library before the "one grammar" redesign, reproduced exactly.

``tests/golden/golden.json`` holds estimates, standard errors, degrees of freedom,
p-values, intervals, weights, matched sets and power figures computed by the cases in
``tests/golden/cases_*.py`` before the redesign. Every stored value must be reproduced bit
for bit (NaN equals NaN); the failure message lists the largest relative differences. A
table may gain columns (the redesign adds context columns to tables of estimates): new
keys are additions, while a stored key that is missing fails.
"""

from __future__ import annotations

import json
import math
import pathlib
import sys

import pytest

GOLDEN = pathlib.Path(__file__).parent / "golden"
sys.path.insert(0, str(GOLDEN))

from cases import CASES  # noqa: E402

STORED = json.loads((GOLDEN / "golden.json").read_text())


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b and type(a) is type(b)
    return a == b


def _rel(a, b) -> float:
    """Largest relative difference between two values of the same shape (for messages)."""
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return max((_rel(x, y) for x, y in zip(a, b, strict=True)), default=0.0)
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        if math.isnan(a) and math.isnan(b):
            return 0.0
        return abs(a - b) / max(abs(b), 1e-300)
    return 0.0 if a == b else math.inf


def test_every_case_is_stored():
    assert set(CASES) == set(STORED)


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_numbers_reproduced_exactly(name):
    stored = STORED[name]
    got = json.loads(json.dumps(CASES[name]()))  # the same JSON round trip as the stored file
    assert set(stored) <= set(got), f"stored values no longer computed: {set(stored) - set(got)}"
    bad = {k: _rel(got[k], stored[k]) for k in stored if not _same(got[k], stored[k])}
    worst = sorted(bad.items(), key=lambda kv: -kv[1])[:10]
    assert not bad, f"{len(bad)} of {len(stored)} values differ; largest relative: {worst}"
