"""The Python snippets of the README and the getting-started page run as written."""

import pathlib
import re
import warnings

import pytest

ROOT = pathlib.Path(__file__).parents[1]
PAGES = [ROOT / "README.md", ROOT / "docs" / "getting-started.md"]


def _blocks(path):
    return re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.S)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_python_blocks_run(page):
    blocks = _blocks(page)
    assert blocks, f"{page.name} has no python blocks"
    namespace: dict = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # small-sample warnings are expected on the pilot
        for block in blocks:
            exec(compile(block, str(page), "exec"), namespace)  # noqa: S102
    assert "patients" in namespace and len(namespace["patients"]) == 38


def test_getting_started_error_example_is_true():
    import causalpa as cpa

    patients = cpa.datasets.load_pilot()
    with pytest.raises(cpa.DataError, match="missing values in column 'age' \\(38 rows\\)"):
        cpa.match(patients.assign(age=None), "pa ~ age")
