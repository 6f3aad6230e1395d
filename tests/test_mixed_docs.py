"""The code blocks of docs/user-guide/mixed-models.md run as written."""

import re
import warnings
from pathlib import Path

import pytest


def test_mixed_models_tutorial_runs():
    page = Path(__file__).parents[1] / "docs" / "user-guide" / "mixed-models.md"
    if not page.exists():  # docs are not shipped with an installed package
        pytest.skip("docs not available")
    code = "\n".join(re.findall(r"```python\n(.*?)```", page.read_text(), re.S))
    namespace: dict = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exec(compile(code, str(page), "exec"), namespace)
    fit = namespace["fit"]
    assert fit.converged
    assert len(namespace["rows"]) == 4
    assert namespace["nested"].n_groups["patient"] == 38
    import matplotlib.pyplot as plt

    plt.close("all")
