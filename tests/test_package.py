"""Package-level behaviour: lazy imports, public names, typing marker."""

import importlib
import pathlib
import subprocess
import sys

import pytest

import causalpa as cpa


def test_import_is_light():
    code = (
        "import sys, causalpa; heavy = [m for m in ('matplotlib', 'dask', 'dowhy', 'statsmodels',"
        " 'sklearn', 'linearmodels', 'distributed') if m in sys.modules]; print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"import causalpa pulled in {out.stdout.strip()}"


@pytest.mark.parametrize("name", [n for n in cpa.__all__ if not n.startswith("_")])
def test_public_names_resolve(name):
    assert getattr(cpa, name) is not None


def test_unknown_attribute():
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        cpa.nope  # noqa: B018


def test_py_typed_marker_is_shipped():
    assert (pathlib.Path(cpa.__file__).parent / "py.typed").exists()


def test_errors_are_value_errors():
    errors = importlib.import_module("causalpa.errors")
    assert issubclass(errors.DataError, ValueError)
    assert issubclass(errors.SpecificationError, ValueError)
    assert issubclass(errors.SingularFitWarning, errors.ConvergenceWarning)
