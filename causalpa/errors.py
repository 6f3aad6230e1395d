"""Exceptions and warnings raised by causalpa.

Every error a user can trigger with bad input is a :class:`SpecificationError`
(wrong option or formula) or a :class:`DataError` (something wrong in the data);
both subclass :class:`ValueError` so generic handlers keep working. Warnings say
what is unreliable and what to do instead.

Examples
--------
>>> from causalpa.errors import DataError, CausalpaError
>>> issubclass(DataError, ValueError) and issubclass(DataError, CausalpaError)
True
"""

from __future__ import annotations

__all__ = [
    "CausalpaError",
    "SpecificationError",
    "DataError",
    "CausalpaWarning",
    "PositivityWarning",
    "ExtremeWeightsWarning",
    "ConvergenceWarning",
    "SingularFitWarning",
    "SmallSampleWarning",
]


class CausalpaError(Exception):
    """Base class of every exception raised by causalpa."""


class SpecificationError(CausalpaError, ValueError):
    """An argument, option or formula is invalid (names the argument and allowed values)."""


class DataError(CausalpaError, ValueError):
    """The data cannot be analysed as asked (names the column and, where useful, the rows)."""


class CausalpaWarning(UserWarning):
    """Base class of every warning issued by causalpa."""


class PositivityWarning(CausalpaWarning):
    """Weak overlap: propensity scores near 0 or 1, or arms that barely overlap."""


class ExtremeWeightsWarning(PositivityWarning):
    """A few weights dominate the analysis (low effective sample size)."""


class ConvergenceWarning(CausalpaWarning):
    """An iterative fit did not converge; its estimates may be unreliable."""


class SingularFitWarning(ConvergenceWarning):
    """A mixed model's random-effects covariance is on the boundary (a variance of 0 or |r| = 1)."""


class SmallSampleWarning(CausalpaWarning):
    """The sample is too small for large-sample inference; says what is used instead."""
