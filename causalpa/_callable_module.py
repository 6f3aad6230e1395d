"""Let a submodule that shares its name with its main function be called like it.

``causalpa.propensity`` and ``causalpa.balance`` are both a module (DESIGN.md's layout)
and the function users call (``cpa.propensity(df, ...)``). Importing the submodule binds
the *module* to the package attribute of that name, shadowing the lazily exported
function; making the module callable keeps ``cpa.balance(df, ...)`` working either way.
The module also answers for the function in introspection: ``inspect.unwrap`` leads to
the function (``__wrapped__``, so ``inspect.signature`` and ``typing.get_type_hints``
of the unwrapped object see its parameters) and :func:`causalpa._validation.declared_params`
finds its declared options, whichever of the two ``cpa.balance`` is.

Examples
--------
>>> import inspect
>>> import causalpa as cpa
>>> import causalpa.balance  # binds the module to cpa.balance
>>> callable(cpa.balance)
True
>>> list(inspect.signature(causalpa.balance).parameters)[:2]
['data', 'formula']
>>> inspect.unwrap(causalpa.balance) is inspect.unwrap(causalpa.balance.balance)
True
>>> from causalpa._validation import declared_params
>>> "estimand" in declared_params(causalpa.balance)
True
"""

from __future__ import annotations

import sys
import types
from typing import Any


def make_callable(module_name: str, function_name: str) -> None:
    """Make module ``module_name`` callable, forwarding to its ``function_name``.

    Parameters
    ----------
    module_name : str
        The module (``__name__`` of the caller).
    function_name : str
        The module-level function that calls, signature and declared options forward to.
    """
    module = sys.modules[module_name]

    class _CallableModule(types.ModuleType):
        __doc__ = module.__doc__

        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            return getattr(self, function_name)(*args, **kwargs)

        @property
        def __wrapped__(self) -> Any:
            return getattr(self, function_name)

        @property
        def __causalpa_params__(self) -> Any:
            return getattr(self, function_name).__causalpa_params__

    module.__class__ = _CallableModule
