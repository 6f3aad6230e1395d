"""Compare the current numbers with golden.json and report what moved (a diagnostic).

Usage: ``python tests/golden/report.py``. Prints, per case, how many values differ, the
largest relative difference, and every value that is not a float (counts, labels, matched
units, degrees of freedom stored as integers) that changed at all. Used to record the one
deliberate numerical change of the redesign (see NUMERICS.md).
"""

from __future__ import annotations

import json
import math
import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from cases import CASES  # noqa: E402


def flat(value, key=""):
    if isinstance(value, dict):
        for k, v in value.items():
            yield from flat(v, f"{key}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from flat(v, f"{key}[{i}]")
    else:
        yield key, value


def main() -> int:
    stored = json.loads((HERE / "golden.json").read_text())
    worst_all = 0.0
    for name, fn in CASES.items():
        got = dict(flat(json.loads(json.dumps(fn()))))
        ref = dict(flat(stored[name]))
        if not ref.keys() <= got.keys():
            print(f"{name}: stored values no longer computed: {sorted(set(ref) - set(got))[:10]}")
            continue
        floats, exact = [], []
        for k in ref:
            a, b = got[k], ref[k]
            if isinstance(a, float) and isinstance(b, float):
                if math.isnan(a) and math.isnan(b) or a == b:
                    continue
                floats.append((abs(a - b) / max(abs(b), 1e-300), k, b, a))
            elif a != b or type(a) is not type(b):
                exact.append((k, b, a))
        floats.sort(reverse=True)
        worst = floats[0][0] if floats else 0.0
        worst_all = max(worst_all, worst)
        print(f"{name}: {len(floats)} of {len(ref)} floats moved, largest relative "
              f"{worst:.2e}; non-float values changed: {len(exact)}")
        for rel, k, b, a in floats[:5]:
            print(f"    {k}: {b!r} -> {a!r} ({rel:.1e})")
        for k, b, a in exact[:10]:
            print(f"    CHANGED {k}: {b!r} -> {a!r}")
    print(f"largest relative difference over all cases: {worst_all:.2e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
