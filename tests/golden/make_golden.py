"""Write golden.json from the golden cases (run once, before the redesign).

Usage: ``python tests/golden/make_golden.py [CASE ...]``. The stored values are the
reference for ``tests/test_golden.py``; regenerating them to make that test pass defeats
its purpose, so this script refuses to overwrite existing cases unless ``--force`` is given
(and the reason belongs in the commit message).
"""

from __future__ import annotations

import json
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from cases import CASES  # noqa: E402

PATH = pathlib.Path(__file__).resolve().parent / "golden.json"


def main(argv: list[str]) -> int:
    force = "--force" in argv
    names = [a for a in argv if not a.startswith("--")] or list(CASES)
    stored = json.loads(PATH.read_text()) if PATH.exists() else {}
    for name in names:
        if name in stored and not force:
            print(f"{name}: already stored (use --force to overwrite)")
            continue
        stored[name] = CASES[name]()
        print(f"{name}: {len(stored[name])} values")
    PATH.write_text(json.dumps(stored, indent=0, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
