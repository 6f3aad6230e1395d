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
    # the figures quoted in the text
    sat = fit.tidy().set_index("term")["df"]
    assert 30 < sat["pa"] < 38 and 8 < sat["session:pa"] < 12
    kr = namespace["table"].set_index("term")["df"]  # the Kenward-Roger table (last in loop)
    assert 18 < kr["session:pa"] < 25
    end = {r["df method"]: r["df"] for r in namespace["rows"]}
    assert 7.5 < end["satterthwaite"] < 10 and 13 < end["kenward-roger"] < 17
    assert (namespace["sessions"]["session"] == 7).sum() == 7
    assert namespace["nested"].singular
    # the time-scale comparison quoted in the text: same parameters, log time fits better
    assert round(namespace["linear"].loglik, 1) == -541.1
    assert round(namespace["logtime"].loglik, 1) == -516.3
    import matplotlib.pyplot as plt

    plt.close("all")
