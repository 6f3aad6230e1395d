"""Optional integrations with other causal-inference libraries (imported lazily).

``causalpa.integrations.dowhy``: build a DoWhy ``CausalModel`` for the
self-selection graph of a causalpa specification and run DoWhy refuters.
"""

__all__ = ["dowhy"]
