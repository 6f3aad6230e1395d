"""The registries of methods (matching methods, distances, weighting methods).

Each registry is a plain ``dict`` from a name to a function with the registry's one
signature; :func:`register_into` makes the decorator that adds to it, so adding a method
is one function and one decorator line (as MatchIt's ``matchit2<method>``).

Examples
--------
>>> REGISTRY = {}
>>> @register_into(REGISTRY, "mine")
... def mine(problem):
...     return problem
>>> REGISTRY["mine"] is mine
True
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping
from typing import TypeVar

__all__ = ["register_into"]

F = TypeVar("F", bound=Callable[..., object])


def register_into(registry: MutableMapping[str, F], name: str) -> Callable[[F], F]:
    """Return a decorator that stores a function in ``registry`` under ``name``."""
    if not isinstance(name, str) or not name:
        raise TypeError(f"a registry name must be a non-empty string; got {name!r}")

    def deco(fn: F) -> F:
        registry[name] = fn
        return fn

    return deco
