"""Let a submodule that shares its name with its main function be called like it.

``causalpa.propensity`` and ``causalpa.balance`` are both a module (DESIGN.md's layout)
and the function users call (``cpa.propensity(df, ...)``). Importing the submodule binds
the *module* to the package attribute of that name, shadowing the lazily exported
function; making the module callable keeps ``cpa.balance(df, ...)`` working either way.

Examples
--------
>>> import causalpa as cpa
>>> import causalpa.balance  # binds the module to cpa.balance
>>> callable(cpa.balance)
True
"""

from __future__ import annotations

import sys
import types
from typing import Any


def make_callable(module_name: str, function_name: str) -> None:
    """Make module ``module_name`` callable, forwarding to its ``function_name``."""
    module = sys.modules[module_name]

    class _CallableModule(types.ModuleType):
        __doc__ = module.__doc__

        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            return getattr(self, function_name)(*args, **kwargs)

    module.__class__ = _CallableModule
