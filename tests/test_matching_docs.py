"""The code blocks of the matching and balance user-guide pages run as they stand."""

import re
import warnings
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

DOCS = Path(__file__).parents[1] / "docs" / "user-guide"


@pytest.mark.parametrize("page", ["matching.md", "balance.md"])
def test_user_guide_code_blocks_run(page, capsys):
    import matplotlib.pyplot as plt

    text = (DOCS / page).read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert blocks
    from causalpa.matching import DISTANCES, METHODS

    registries = [(r, dict(r)) for r in (DISTANCES, METHODS)]
    ns: dict = {}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for block in blocks:
                exec(compile(block, page, "exec"), ns)
    finally:  # a page may register a distance or method: leave the registries as they were
        for registry, saved in registries:
            registry.clear()
            registry.update(saved)
    plt.close("all")
    assert capsys.readouterr().out.strip()
