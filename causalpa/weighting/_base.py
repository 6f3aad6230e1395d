"""The weighting problem handed to every registered method, and the method registry.

A method is a function ``fn(problem: WeightProblem) -> MethodFit``, as WeightIt's
``weightit2<method>``: it receives the data (the result's private copy), the treatment
specification, the 0/1 treatment, the estimand and the options, and returns the weights
with, where it has them, the estimating equations of its model (:class:`Nuisance`, for
the stacked M-estimation sandwich) and a faster way to re-estimate the weights on a
bootstrap resample. Adding a method is one file plus one :func:`register_method` line::

    @register_method("uniform")
    def uniform(problem: WeightProblem) -> MethodFit:
        return MethodFit(weights=np.ones(problem.n), label="no weighting")

It then returns the same :class:`~causalpa.weighting.WeightResult` (weights, balance,
effects with every ``se=``) and passes the same contract tests.
"""

from __future__ import annotations

import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from causalpa._registry import register_into
from causalpa._regression import check_full_rank
from causalpa._spec import Spec, make_spec
from causalpa.estimation import ESTIMANDS, Estimand

if typing.TYPE_CHECKING:
    from causalpa.propensity import PropensityScore

__all__ = [
    "Estimand",
    "ESTIMANDS",
    "WeightProblem",
    "MethodFit",
    "Nuisance",
    "METHODS",
    "register_method",
    "arm_constants",
    "covariate_matrix",
]


@dataclass(frozen=True)
class WeightProblem:
    """Everything a weighting method needs (positions are 0-based rows).

    Attributes
    ----------
    data : pandas.DataFrame
        The analysis data (the result's private copy; methods must not change it).
    spec : Spec
        The treatment specification, bound to ``data``.
    treatment : ndarray of int
        The 0/1 treatment.
    estimand : {"ATE", "ATT", "ATC", "ATO"}
        Target population.
    stabilize : bool
        Multiply each arm's weights by its sample proportion.
    ps_model : str or classifier
        Propensity model of propensity-score methods.
    positivity : (float, float) or None
        Score range outside which a :class:`~causalpa.errors.PositivityWarning` is issued.
    """

    data: pd.DataFrame
    spec: Spec
    treatment: np.ndarray
    estimand: str
    stabilize: bool = False
    ps_model: Any = "logistic"
    positivity: tuple[float, float] | None = (0.01, 0.99)

    @classmethod
    def from_formula(cls, data: pd.DataFrame, formula: str, estimand: str = "ATE",
                     **options: Any) -> WeightProblem:
        """Build a problem from ``"treatment ~ covariates"`` (to try a method on its own).

        Examples
        --------
        >>> import causalpa as cpa
        >>> p = WeightProblem.from_formula(cpa.datasets.load_pilot(), "pa ~ age", "ATT")
        >>> p.n, int(p.treatment.sum()), p.estimand
        (38, 16, 'ATT')
        """
        spec = make_spec(data, formula)
        return cls(data=data, spec=spec, treatment=spec.treatment_array(data), estimand=estimand,
                   **options)

    @property
    def n(self) -> int:
        """Number of units."""
        return len(self.treatment)

    def resample(self, idx: np.ndarray) -> WeightProblem:
        """Return the same problem on the rows ``idx`` (with repeats; a bootstrap resample).

        The resample has a fresh 0..n-1 index and no positivity check (its warnings
        would be silenced by the bootstrap anyway).
        """
        sub = self.data.iloc[idx].reset_index(drop=True)
        return WeightProblem(data=sub, spec=self.spec.bind(sub), treatment=self.treatment[idx],
                             estimand=self.estimand, stabilize=self.stabilize,
                             ps_model=self.ps_model, positivity=None)


@dataclass(frozen=True)
class Nuisance:
    """Estimating equations of the weight model, for the stacked M-estimation sandwich.

    Attributes
    ----------
    psi : ndarray
        Unit estimating functions at the estimate (n x k).
    jac : ndarray
        Derivative of their sum with respect to the parameters (k x k).
    dw : ndarray
        Derivative of the weights with respect to the parameters (n x k).
    label : str
        What the equations describe (shown in the inference label).
    """

    psi: np.ndarray
    jac: np.ndarray
    dw: np.ndarray
    label: str


@dataclass(frozen=True)
class MethodFit:
    """What a weighting method returns (the registry contract).

    Attributes
    ----------
    weights : ndarray
        One weight per unit, in data order.
    label : str
        Name of the estimator in effects (e.g. "inverse probability weighting").
    ps : PropensityScore or None
        The fitted propensity model (propensity-score methods).
    nuisance : Nuisance or None
        Estimating equations of the weight model; without them ``se="sandwich"``
        treats the weights as known (and says so in the effect's notes).
    no_nuisance_reason : str
        Why there are no estimating equations (for that note).
    refit : callable or None
        ``refit(idx) -> weights`` re-estimates the weights on the rows ``idx`` of the
        data (a bootstrap resample); without it the method is run again on
        :meth:`WeightProblem.resample`.
    info : dict
        Method-specific details (e.g. the dual solution of entropy balancing).
    """

    weights: np.ndarray
    label: str = ""
    ps: PropensityScore | None = None
    nuisance: Nuisance | None = None
    no_nuisance_reason: str = "the weighting method has no estimating equations"
    refit: Callable[[np.ndarray], np.ndarray] | None = field(default=None, repr=False)
    info: dict[str, Any] = field(default_factory=dict, repr=False)


WeightingMethod = Callable[[WeightProblem], MethodFit]
METHODS: dict[str, WeightingMethod] = {}
"""Registry of weighting methods: name -> ``fn(problem: WeightProblem) -> MethodFit``."""


def register_method(name: str) -> Callable[[WeightingMethod], WeightingMethod]:
    """Register a weighting method under ``name`` (decorator).

    Examples
    --------
    >>> from causalpa.weighting import METHODS
    >>> list(METHODS)
    ['ps', 'entropy']
    """
    return register_into(METHODS, name)


def arm_constants(t: np.ndarray, stabilize: bool) -> np.ndarray:
    """Factors of stabilised weights: each arm's sample proportion (1 when not stabilised).

    Examples
    --------
    >>> arm_constants(np.array([1, 0, 0, 0]), True).tolist()
    [0.25, 0.75, 0.75, 0.75]
    """
    if not stabilize:
        return np.ones(len(t))
    p1 = t.mean()
    return np.where(t == 1, p1, 1 - p1)


def covariate_matrix(spec: Spec) -> np.ndarray:
    """Model matrix of the treatment model without the intercept (reference coding for factors).

    Raises
    ------
    DataError
        The columns are collinear (names them).
    """
    X, names = spec.design()
    check_full_rank(X, names, "the propensity model")
    keep = [j for j, nm in enumerate(names) if nm != "Intercept"]
    return X[:, keep]
