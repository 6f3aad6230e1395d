"""Matching on the propensity score, its logit, Mahalanobis distance or a user distance.

:func:`match` reproduces MatchIt's ``matchit(method = "nearest" | "optimal")``:
the same greedy rules (processing order, rounds for k:1, ties to the first unit
in the data, calipers in SD units over all units that are not discarded,
covariate calipers, ``discard`` of units outside the common support), the same
weights and subclasses as ``match.data()``, and balance tables equal to
``summary()``.

It runs as named steps, as MatchIt's ``matchit()`` does: the distance (the registry
:data:`DISTANCES`, as ``distance2<name>``; :mod:`causalpa.matching.distance`), the
common support (``discard``), the calipers, the processing order, the method (the
registry :data:`METHODS`, as ``matchit2<method>``) and the result, whose options are
recorded in a :class:`MatchInfo` (MatchIt's ``info``). Both registries grow:
:func:`register_distance` and :func:`register_method` add a distance or a method that
``match`` then accepts by name.

Examples
--------
>>> import causalpa as cpa
>>> from causalpa.matching import match
>>> import numpy as np, pandas as pd
>>> rng = np.random.default_rng(0)
>>> df = pd.DataFrame({"age": rng.normal(40, 10, 300), "phq9_first": rng.normal(15, 5, 300)})
>>> df["pa"] = rng.binomial(1, 1 / (1 + np.exp(-(df["age"] - 45) / 8)))
>>> m = match(df, "pa ~ age + phq9_first", caliper=0.2)
>>> m.pairs.columns.tolist()
['treated', 'control', 'round', 'distance', 'subclass']
>>> bool((m.pairs["distance"] <= m.info.raw_caliper).all())
True
"""

from collections.abc import Mapping, Sequence
from typing import Any, Literal, cast

import numpy as np
import pandas as pd

from causalpa._spec import Spec, make_spec
from causalpa._validation import (
    NONE,
    Boolean,
    Column,
    Columns,
    Constraint,
    Instance,
    Number,
    RandomState,
    Registered,
    check_columns,
    check_frame,
    validate_params,
)
from causalpa.errors import DataError
from causalpa.matching import nearest as _nearest  # noqa: F401  (registers "nearest")
from causalpa.matching import optimal as _optimal  # noqa: F401  (registers "optimal")
from causalpa.matching._base import METHODS, MatchProblem, register_method
from causalpa.matching._steps import (
    Calipers,
    caliper_widths,
    capacity_messages,
    check_arms,
    check_covariate_calipers,
    check_match_matrix,
    discard_units,
    exact_strata,
    issue,
    no_match_message,
    parse_caliper,
    processing_order,
    resolve_order,
)
from causalpa.matching.distance import (
    DISTANCES,
    Distance,
    mahalanobis_features,
    register_distance,
    resolve_distance,
)
from causalpa.matching.info import CovariateCaliper, Estimand, MatchInfo
from causalpa.matching.nearest import naive_greedy
from causalpa.matching.result import MatchResult, matchit_subclass, matchit_weights
from causalpa.propensity import FORMULA, PS_MODEL, PropensityScore, PSModelName

__all__ = ["match", "MatchResult", "MatchInfo", "CovariateCaliper", "MatchProblem", "METHODS",
           "register_method", "Distance", "DISTANCES", "register_distance", "naive_greedy",
           "mahalanobis_features", "matchit_weights", "matchit_subclass"]

_DECLARED: dict[str, Constraint | Sequence[Constraint]] = {
    "formula": FORMULA,
    "outcome": [Column(), NONE],
    "treatment": [Column(), NONE],
    "covariates": [Columns(), NONE],
    "method": Registered(METHODS, "matching method"),
    "distance": [Registered(DISTANCES, "distance"),
                 Instance((np.ndarray, pd.Series, list, tuple),
                          "an array (one value per row, or n_treated x n_control)"),
                 Instance(PropensityScore, "a fitted PropensityScore")],
    "ratio": Number(low=1, integer=True),
    "replace": Boolean(),
    "caliper": [Number(low=0), Instance(Mapping, "a dict {name: width}"), NONE],
    "std_caliper": [Boolean(), Instance(Mapping, "a dict {name: True or False}")],
    "exact": [Columns(), NONE],
    "rng": RandomState(),
    "ps_model": PS_MODEL,
}


@validate_params(_DECLARED)
def match(
    data: pd.DataFrame,
    formula: str | Spec | None = None,
    *,
    outcome: str | None = None,
    treatment: str | None = None,
    covariates: Sequence[str] | None = None,
    method: Literal["nearest", "optimal"] | str = "nearest",
    distance: Literal["ps", "logit", "mahalanobis"] | str | np.ndarray | pd.Series
    | PropensityScore = "ps",
    estimand: Estimand = "ATT",
    ratio: int = 1,
    replace: bool = False,
    caliper: float | Mapping[str, float] | None = None,
    std_caliper: bool | Mapping[str, bool] = True,
    exact: str | Sequence[str] | None = None,
    discard: Literal["none", "both", "control", "treated"] = "none",
    order: Literal["largest", "smallest", "data", "random"] | None = None,
    rng: int | np.random.Generator | None = None,
    ps_model: PSModelName | Any = "logistic",
    treated: Any = None,
) -> MatchResult:
    """Match treated and control units (MatchIt's ``matchit`` semantics).

    Parameters
    ----------
    data : pandas.DataFrame
        Analysis data (never modified; the result keeps a copy); row labels are kept
        in every output.
    formula : str, optional
        ``"treatment ~ covariates"``: the propensity-score model (``distance``
        "ps"/"logit"), the Mahalanobis covariates, and the balance covariates.
    outcome : str, optional
        Outcome column: the default outcome of :meth:`MatchResult.estimate`.
    treatment, covariates : str, sequence of str, optional
        Column names instead of a formula.
    method : {"nearest", "optimal"}
        Greedy nearest-neighbour or optimal (minimum total distance) matching;
        any name added with :func:`register_method`.
    distance : {"ps", "logit", "mahalanobis"}, array-like or PropensityScore
        "ps": propensity score (probability, ``causalpa.propensity`` with
        ``ps_model``); "logit": its linear predictor (MatchIt's
        ``link = "linear.logit"``); "mahalanobis": Mahalanobis distance on the
        covariates with the pooled within-arm covariance (MatchIt >= 4.4); any name
        added with :func:`register_distance`; a vector of one value per row (a user
        score; a Series is aligned on the index); an n_treated x n_control matrix of
        distances (rows and columns in data order); or a fitted
        :class:`~causalpa.propensity.PropensityScore`.
    estimand : {"ATT", "ATC"}
        ATT matches controls to treated units; ATC matches treated units to controls.
    ratio : int
        Number of matches per focal unit (k:1), assigned in rounds.
    replace : bool
        Allow a unit to be matched to several focal units.
    caliper : float or dict, optional
        Largest allowed distance; in SD units of the distance when ``std_caliper``
        (MatchIt's default), else in raw units. A dict adds calipers on numeric
        covariates, e.g. ``{"distance": 0.25, "age": 5}`` (MatchIt's
        ``caliper = c(.25, age = 5)``; the key ``"distance"`` or ``""`` is the
        caliper on the distance): a pair is allowed only if every caliper holds
        (``|x_treated - x_control| <= caliper``). SDs are computed over all units
        that are not discarded (MatchIt's ``process.caliper``).
    std_caliper : bool or dict
        Read the calipers in SD units (True) or raw units (False); a dict sets it
        per caliper with the same keys (keys left out default to True), as
        MatchIt's elementwise ``std.caliper``. SD units on the distance need a
        scalar distance.
    exact : str or sequence of str, optional
        Columns on which matched units must agree exactly.
    discard : {"none", "both", "control", "treated"}
        Drop units outside the region of common support of the scalar distance
        before matching (MatchIt's ``discard``, ``reestimate = FALSE``): "both"
        drops units below the larger of the two arms' minima or above the smaller
        of their maxima; "control" drops controls outside the treated units'
        range; "treated" drops treated units outside the controls' range (strict
        inequalities: a unit at the boundary is kept). Discarded units get weight
        0 and are counted in ``tidy()`` (``n_discarded``), ``balance().n``
        ("Discarded") and ``result.discarded``.
    order : {"largest", "smallest", "data", "random"}, optional
        Processing order of focal units by distance (stable: ties in data order).
        Default as MatchIt: "largest" for ATT, "smallest" for ATC, "data" for
        Mahalanobis and matrix distances.
    rng : None, int or numpy.random.Generator
        Randomness of ``order="random"`` (SPEC 7).
    ps_model : {"logistic", "firth"} or scikit-learn classifier
        Propensity-score model for ``distance`` "ps"/"logit".
    treated : object, optional
        Treated level of a non-0/1 treatment column.

    Returns
    -------
    MatchResult

    Raises
    ------
    SpecificationError
        An invalid option (names the argument and the allowed values).
    DataError
        Missing values, non-binary treatment, an empty arm (also after ``discard``),
        a ``caliper`` column not in the data, or no match inside the caliper.

    Warns
    -----
    CausalpaWarning
        Not enough units in the other arm for every focal unit to get ``ratio`` matches.
    SmallSampleWarning
        An arm has a single patient.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> df = pd.DataFrame({"pa": [1, 1, 0, 0, 0, 0], "score": [0.9, 0.5, 0.55, 0.85, 0.1, 0.3]})
    >>> m = match(df, treatment="pa", covariates=[], distance=df["score"].to_numpy())
    >>> m.pairs[["treated", "control"]].values.tolist()
    [[0, 3], [1, 2]]

    Common support and a covariate caliper (raw units for ``age``):

    >>> df["age"] = [30, 50, 33, 58, 70, 41]
    >>> m = match(df, treatment="pa", covariates=["age"], distance=df["score"].to_numpy(),
    ...           discard="control", caliper={"age": 10}, std_caliper=False)
    >>> m.discarded[m.discarded].index.tolist()
    [4, 5]
    >>> m.pairs[["treated", "control"]].values.tolist()
    [[0, 2], [1, 3]]
    >>> m.info.covariate_caliper("age").raw
    10.0
    """
    data = check_frame(data, "data")
    spec = make_spec(data, formula, treatment=treatment, covariates=covariates, treated=treated)
    if outcome is not None:
        check_columns(data, [outcome], "outcome")
    calipers = check_covariate_calipers(data, parse_caliper(caliper, std_caliper))
    t = spec.treatment_array(data)
    notes = issue(check_arms(t, spec.treatment), stacklevel=3)
    exact_cols = cast(list[str] | None, exact)  # the declaration's canonical form
    exact_codes = exact_strata(data, exact_cols)
    dist = resolve_distance(distance, data, spec, t, ps_model=ps_model)
    discarded = discard_units(dist, t, discard)
    keep = np.ones(len(t), dtype=bool) if discarded is None else ~discarded
    order_used = resolve_order(order, estimand, dist)
    raw_caliper, cov_calipers = caliper_widths(calipers, dist, data, keep)
    focal = t == 1 if estimand == "ATT" else t == 0
    tc = ("treated", "control") if estimand == "ATT" else ("control", "treated")
    if not replace:
        notes += issue(capacity_messages(focal, exact_codes, ratio, tc), stacklevel=3)
    sequence = processing_order(order_used, np.flatnonzero(focal), dist.values,
                                np.random.default_rng(rng))
    problem = _problem(data, dist, focal, estimand, ratio, replace, raw_caliper, cov_calipers,
                       exact_codes, discarded, sequence)
    mm = check_match_matrix(METHODS[method](problem), focal, ratio, replace, method)
    if not (mm >= 0).any():
        raise DataError(no_match_message(calipers, raw_caliper, exact_cols, tc))
    info = _info(method, estimand, dist, ratio, replace, calipers, raw_caliper, cov_calipers,
                 order_used, exact_cols, discard, focal)
    return MatchResult(spec=spec, info=info, outcome=outcome, propensity=dist.propensity,
                       notes=tuple(notes), treatment=t, focal=focal, match_matrix=mm,
                       frame=data, dist=dist, discarded_units=discarded)


def _problem(data: pd.DataFrame, dist: Distance, focal: np.ndarray, estimand: str, ratio: int,
             replace: bool, raw_caliper: float | None,
             cov_calipers: tuple[CovariateCaliper, ...], exact_codes: np.ndarray | None,
             discarded: np.ndarray | None, order: np.ndarray) -> MatchProblem:
    """Collect the arrays handed to the method (distances oriented focal x other)."""
    cols = [c.column for c in cov_calipers]
    matrix = dist.matrix
    if matrix is not None and estimand == "ATC":
        matrix = matrix.T
    return MatchProblem(
        focal=focal, order=order, ratio=ratio, replace=replace, distance=dist.values,
        features=dist.features, matrix=matrix, caliper=raw_caliper, exact=exact_codes,
        discarded=discarded, caliper_covs=data[cols].to_numpy(dtype=float) if cols else None,
        caliper_widths=np.array([c.raw for c in cov_calipers]) if cols else None,
    )


def _info(method: str, estimand: Estimand, dist: Distance, ratio: int, replace: bool,
          calipers: Calipers, raw_caliper: float | None,
          cov_calipers: tuple[CovariateCaliper, ...], order: str, exact: list[str] | None,
          discard: str, focal: np.ndarray) -> MatchInfo:
    return MatchInfo(
        method=method, estimand=estimand, distance=dist.label, ratio=ratio, replace=replace,
        caliper=calipers.distance, std_caliper=calipers.std, raw_caliper=raw_caliper,
        covariate_calipers=cov_calipers, order=order, exact=tuple(exact or ()),
        discard=discard, n_focal=int(focal.sum()), n_other=int((~focal).sum()),
    )
