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
    ns: dict = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for block in blocks:
            exec(compile(block, page, "exec"), ns)
    plt.close("all")
    assert capsys.readouterr().out.strip()
