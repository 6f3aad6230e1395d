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
    """Base class of every exception raised by causalpa.

    Examples
    --------
    >>> from causalpa.errors import CausalpaError, DataError, SpecificationError
    >>> issubclass(SpecificationError, CausalpaError), issubclass(DataError, CausalpaError)
    (True, True)
    """


class SpecificationError(CausalpaError, ValueError):
    """An argument, option or formula is invalid (names the argument and allowed values).

    Examples
    --------
    >>> import causalpa as cpa
    >>> from causalpa.errors import SpecificationError
    >>> try:
    ...     cpa.weight(cpa.datasets.load_pilot(), "pa ~ age", estimand="ATX")
    ... except SpecificationError as err:
    ...     print(err)
    `estimand` must be one of 'ATE', 'ATT', 'ATC', 'ATO'; got 'ATX'
    >>> issubclass(SpecificationError, ValueError)
    True
    """


class DataError(CausalpaError, ValueError):
    """The data cannot be analysed as asked (names the column and, where useful, the rows).

    Examples
    --------
    >>> import causalpa as cpa
    >>> from causalpa.errors import DataError
    >>> try:
    ...     cpa.propensity(cpa.datasets.load_pilot(), "pa ~ age + bmi")
    ... except DataError as err:
    ...     print(str(err).split(";")[0])
    column 'bmi' named in `formula` is not in `data`
    >>> issubclass(DataError, ValueError)
    True
    """


class CausalpaWarning(UserWarning):
    """Base class of every warning issued by causalpa.

    Examples
    --------
    >>> import warnings
    >>> from causalpa.errors import CausalpaWarning, PositivityWarning
    >>> issubclass(CausalpaWarning, UserWarning), issubclass(PositivityWarning, CausalpaWarning)
    (True, True)
    >>> with warnings.catch_warnings():  # silence every causalpa warning
    ...     warnings.simplefilter("ignore", CausalpaWarning)
    ...     warnings.warn("weak overlap", PositivityWarning)
    """


class PositivityWarning(CausalpaWarning):
    """Weak overlap: propensity scores near 0 or 1, or arms that barely overlap.

    Examples
    --------
    >>> import warnings
    >>> import causalpa as cpa
    >>> from causalpa.errors import PositivityWarning
    >>> df = cpa.datasets.load_pilot()
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     ps = cpa.propensity(df, "pa ~ age + phq9_first", positivity=(0.2, 0.8))
    >>> [w.category.__name__ for w in caught]
    ['PositivityWarning']
    """


class ExtremeWeightsWarning(PositivityWarning):
    """A few weights dominate the analysis (low effective sample size).

    Examples
    --------
    >>> import warnings
    >>> import numpy as np
    >>> from causalpa.errors import ExtremeWeightsWarning, PositivityWarning
    >>> from causalpa.weighting import trim_weights
    >>> issubclass(ExtremeWeightsWarning, PositivityWarning)
    True
    >>> with warnings.catch_warnings(record=True) as caught:  # nothing to trim
    ...     warnings.simplefilter("always")
    ...     _ = trim_weights(np.ones(4), np.array([1, 1, 0, 0]), 0.9)
    >>> [w.category.__name__ for w in caught]
    ['ExtremeWeightsWarning']
    """


class ConvergenceWarning(CausalpaWarning):
    """An iterative fit did not converge; its estimates may be unreliable.

    Examples
    --------
    >>> import warnings
    >>> import causalpa as cpa
    >>> from causalpa.errors import ConvergenceWarning
    >>> df = cpa.datasets.load_pilot()
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     ps = cpa.propensity(df, "pa ~ age + phq9_first", max_iter=1)
    >>> [w.category.__name__ for w in caught], ps.converged
    (['ConvergenceWarning'], False)
    """


class SingularFitWarning(ConvergenceWarning):
    """A mixed model's random-effects covariance is on the boundary (a variance of 0 or |r| = 1).

    Examples
    --------
    >>> from causalpa.errors import ConvergenceWarning, SingularFitWarning
    >>> issubclass(SingularFitWarning, ConvergenceWarning)
    True
    """


class SmallSampleWarning(CausalpaWarning):
    """The sample is too small for large-sample inference; says what is used instead.

    Examples
    --------
    >>> import warnings
    >>> import causalpa as cpa
    >>> df = cpa.datasets.load_pilot()  # 16 treated, 22 control patients
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     e = cpa.weight(df, "pa ~ age + phq9_first").estimate("phq9_change")
    >>> [w.category.__name__ for w in caught]
    ['SmallSampleWarning']
    """
