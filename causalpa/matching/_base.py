"""The matching problem handed to every registered method, and the method registry.

A method is a function ``fn(problem: MatchProblem) -> numpy.ndarray`` returning the
*match matrix*: one row per focal unit (in data order), ``problem.ratio`` columns
(match rounds), holding data positions of the matched units or ``-1``. This is
MatchIt's ``match.matrix`` (``matchit2<method>``) on positions instead of labels.
Adding a method is one file plus one :func:`register_method` call.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from causalpa._registry import register_into

__all__ = ["MatchProblem", "register_method", "METHODS"]


@dataclass(frozen=True)
class MatchProblem:
    """Everything a matching method needs, on arrays (positions are 0-based rows).

    Attributes
    ----------
    focal : ndarray of bool
        Units to be matched (treated for ATT, controls for ATC).
    order : ndarray of int
        Data positions of the focal units in processing order.
    ratio : int
        Matches per focal unit (k of k:1).
    replace : bool
        Whether matched units may be reused.
    distance : ndarray or None
        One scalar per unit (propensity score, its logit, or a user vector); the
        distance between two units is ``|d_i - d_j|``.
    features : ndarray or None
        Transformed covariates (Mahalanobis): distance is the Euclidean norm.
    matrix : ndarray or None
        User distances, focal units (data order) x other units (data order).
    caliper : float or None
        Largest allowed distance (raw units); ``None`` for no caliper.
    exact : ndarray of int or None
        Stratum code per unit; matches only within a stratum.
    discarded : ndarray of bool or None
        Units outside the region of common support (MatchIt's ``discard``): never
        matched, neither as focal units nor as matches.
    caliper_covs : ndarray or None
        Covariates with a caliper (n x q); a pair is allowed only if
        ``|x_i - x_j| <= caliper_widths`` for every column (MatchIt's covariate calipers).
    caliper_widths : ndarray or None
        Raw caliper widths for the columns of ``caliper_covs``.
    """

    focal: np.ndarray
    order: np.ndarray
    ratio: int
    replace: bool
    distance: np.ndarray | None = None
    features: np.ndarray | None = None
    matrix: np.ndarray | None = None
    caliper: float | None = None
    exact: np.ndarray | None = None
    discarded: np.ndarray | None = None
    caliper_covs: np.ndarray | None = None
    caliper_widths: np.ndarray | None = None


MatchFunction = Callable[[MatchProblem], np.ndarray]
METHODS: dict[str, MatchFunction] = {}


def register_method(name: str) -> Callable[[MatchFunction], MatchFunction]:
    """Register a matching method under ``name`` (decorator).

    Examples
    --------
    >>> from causalpa.matching import METHODS
    >>> sorted(METHODS)
    ['nearest', 'optimal']
    """
    return register_into(METHODS, name)
