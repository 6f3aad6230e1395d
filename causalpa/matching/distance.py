"""Distances for matching: the registry :data:`DISTANCES` and the resolver of user input.

As MatchIt's ``distance2<name>()`` functions, every named distance is one function with
one signature::

    fn(data: DataFrame, spec: Spec, treatment: ndarray, *, ps_model) -> Distance

returning a frozen :class:`Distance`: one scalar per unit (``values``; the distance
between two units is ``|d_i - d_j|``), transformed covariates (``features``; Euclidean
distance) or an n_treated x n_control ``matrix``, plus the fitted
:class:`~causalpa.propensity.PropensityScore` when one was fitted, and a label. The
built-ins are ``"ps"`` (the propensity score), ``"logit"`` (its linear predictor) and
``"mahalanobis"``; :func:`register_distance` adds one, which ``match(distance=name)``
then accepts. :func:`resolve_distance` also reads what users pass instead of a name: a
vector of one value per row, a :class:`pandas.Series` (aligned on the index), an
n_treated x n_control matrix or a fitted ``PropensityScore``.

Examples
--------
>>> import numpy as np, pandas as pd
>>> import causalpa as cpa
>>> from causalpa.matching import Distance, register_distance
>>> @register_distance("age_gap")
... def age_gap(data, spec, treatment, *, ps_model):
...     return Distance(label="age_gap", values=data["age"].to_numpy(dtype=float))
>>> df = cpa.datasets.load_pilot()
>>> m = cpa.match(df, "pa ~ age + phq9_first", distance="age_gap")
>>> m.info.distance
'age_gap'
>>> from causalpa.matching import DISTANCES
>>> del DISTANCES["age_gap"]
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from causalpa._data_checks import align_to_rows
from causalpa._registry import register_into
from causalpa._spec import Spec
from causalpa.errors import DataError, SpecificationError
from causalpa.propensity import PropensityScore, _propensity_from_spec

__all__ = ["Distance", "DISTANCES", "register_distance", "resolve_distance",
           "mahalanobis_features"]


def _readonly(values: Any, ndim: int, what: str) -> np.ndarray:
    try:
        arr = np.array(values, dtype=float)  # a copy
    except (TypeError, ValueError) as exc:
        raise SpecificationError(f"`distance` {what} must be numeric") from exc
    if arr.ndim != ndim:
        raise SpecificationError(f"`distance` {what} must have {ndim} dimension(s); "
                                 f"got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise DataError("`distance` has missing or non-finite values")
    arr.setflags(write=False)
    return arr


@dataclass(frozen=True, eq=False)
class Distance:
    """A distance between units, as handed to the matching methods (frozen, read-only arrays).

    Exactly one of ``values``, ``features`` and ``matrix`` is given.

    Parameters
    ----------
    label : str
        Name shown in descriptions (``"ps"``, ``"logit"``, ``"mahalanobis"``, ...).
    values : ndarray, optional
        One scalar per unit (data order); distance ``|d_i - d_j|``. Calipers in SD
        units, ``discard`` and the orders "largest"/"smallest" need this form.
    features : ndarray, optional
        Transformed covariates (n x p); distance is the Euclidean norm.
    matrix : ndarray, optional
        Distances of treated units (rows, data order) to control units (columns, data
        order).
    propensity : PropensityScore, optional
        The propensity-score model that gave ``values``, if any.

    Examples
    --------
    >>> d = Distance(label="user", values=[0.2, 0.5, 0.4])
    >>> d.kind, d.values.flags.writeable
    ('values', False)
    """

    label: str
    values: np.ndarray | None = None
    features: np.ndarray | None = None
    matrix: np.ndarray | None = None
    propensity: PropensityScore | None = None

    def __post_init__(self) -> None:
        given = [k for k in ("values", "features", "matrix") if getattr(self, k) is not None]
        if len(given) != 1:
            raise SpecificationError(
                f"a Distance needs exactly one of `values`, `features`, `matrix`; got {given}")
        kind = given[0]
        ndim = 1 if kind == "values" else 2
        object.__setattr__(self, kind, _readonly(getattr(self, kind), ndim, kind))

    @property
    def kind(self) -> str:
        """``"values"``, ``"features"`` or ``"matrix"``."""
        if self.values is not None:
            return "values"
        return "features" if self.features is not None else "matrix"


DistanceFunction = Callable[..., Distance]
DISTANCES: dict[str, DistanceFunction] = {}
"""Named distances: name -> ``fn(data, spec, treatment, *, ps_model) -> Distance``."""


def register_distance(name: str) -> Callable[[DistanceFunction], DistanceFunction]:
    """Register a distance under ``name`` (decorator), as MatchIt's ``distance2<name>``.

    The function is called as ``fn(data, spec, treatment, *, ps_model)`` with the
    analysis data, the treatment :class:`~causalpa._spec.Spec`, the 0/1 treatment array
    and the ``ps_model`` given to :func:`~causalpa.matching.match`, and returns a
    :class:`Distance`.

    Examples
    --------
    >>> sorted(DISTANCES)
    ['logit', 'mahalanobis', 'ps']
    """
    return register_into(DISTANCES, name)


def _fit_propensity(data: pd.DataFrame, spec: Spec, ps_model: Any) -> PropensityScore:
    # positivity is judged by the caliper / balance here: a control with a score near 0
    # is harmless for the ATT, so propensity()'s ATE-oriented check is off. `spec` was
    # validated on `data` (the same spec as propensity(data, spec.formula)).
    return _propensity_from_spec(data, spec, ps_model=ps_model, positivity=None)


@register_distance("ps")
def ps_distance(data: pd.DataFrame, spec: Spec, treatment: np.ndarray, *,
                ps_model: Any) -> Distance:
    """Propensity score (probability) from :func:`causalpa.propensity` with ``ps_model``."""
    ps = _fit_propensity(data, spec, ps_model)
    return Distance(label="ps", values=np.asarray(ps.scores, dtype=float), propensity=ps)


@register_distance("logit")
def logit_distance(data: pd.DataFrame, spec: Spec, treatment: np.ndarray, *,
                   ps_model: Any) -> Distance:
    """Linear predictor of the propensity score (MatchIt's ``link = "linear.logit"``)."""
    ps = _fit_propensity(data, spec, ps_model)
    return Distance(label="logit", values=np.asarray(ps.linear_predictor, dtype=float),
                    propensity=ps)


@register_distance("mahalanobis")
def mahalanobis_distance(data: pd.DataFrame, spec: Spec, treatment: np.ndarray, *,
                         ps_model: Any) -> Distance:
    """Mahalanobis distance on the covariates (pooled within-arm covariance, MatchIt >= 4.4)."""
    X = spec.covariate_frame(data).to_numpy(dtype=float)
    if X.shape[1] == 0:
        raise SpecificationError(
            "distance='mahalanobis' needs covariates in `formula` or `covariates=`")
    return Distance(label="mahalanobis", features=mahalanobis_features(X, treatment))


def mahalanobis_features(X: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Transform covariates so that Euclidean distance is MatchIt's Mahalanobis distance.

    As MatchIt >= 4.4 (``transform_covariates``): constant columns are dropped,
    the columns are standardised, the covariance is the pooled within-arm
    covariance ``cov(X - arm means) (n - 1) / (n - 2)``, inverted (or
    pseudo-inverted when its determinant is below 1e-8, e.g. with every level of
    a factor), and the data are multiplied by a square root of the inverse.

    Parameters
    ----------
    X : ndarray
        Covariates (n x p).
    t : ndarray
        0/1 treatment (defines the arms for the pooled covariance).

    Returns
    -------
    ndarray
        Transformed covariates.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[0.0, 1], [1, 0], [2, 2], [3, 1], [1, 1]])
    >>> mahalanobis_features(X, np.array([1, 1, 0, 0, 0])).shape
    (5, 2)
    """
    X = np.asarray(X, dtype=float)
    t = np.asarray(t)
    keep = np.ptp(X, axis=0) >= np.sqrt(np.finfo(float).eps)
    if not keep.any():
        return X[:, :1]
    X = X[:, keep]
    X = (X - X.mean(axis=0)) / X.std(axis=0, ddof=1)
    Xc = X.copy()
    for g in (0, 1):
        Xc[t == g] -= Xc[t == g].mean(axis=0)
    n = len(X)
    V = np.atleast_2d(np.cov(Xc, rowvar=False) * (n - 1) / (n - 2))
    Vinv = np.linalg.inv(V) if np.linalg.det(V) > 1e-8 else np.linalg.pinv(V)
    vals, vecs = np.linalg.eigh((Vinv + Vinv.T) / 2)
    return X @ (vecs * np.sqrt(np.clip(vals, 0, None)))


# =========================================================================== user input
def resolve_distance(distance: Any, data: pd.DataFrame, spec: Spec, treatment: np.ndarray,
                     *, ps_model: Any = "logistic") -> Distance:
    """Turn ``match(distance=...)`` into a checked :class:`Distance`.

    Parameters
    ----------
    distance : str, array-like, pandas.Series or PropensityScore
        A name in :data:`DISTANCES`; one value per row (a Series is aligned on the
        data's index); an n_treated x n_control matrix (rows and columns in data
        order); or a fitted propensity score (its probabilities).
    data : pandas.DataFrame
        The analysis data.
    spec : Spec
        The treatment specification.
    treatment : ndarray
        The 0/1 treatment.
    ps_model : {"logistic", "firth"} or classifier
        Passed to named distances.

    Returns
    -------
    Distance

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from causalpa._spec import make_spec
    >>> df = pd.DataFrame({"t": [1, 0, 0], "x": [0.1, 0.2, 0.3]})
    >>> spec = make_spec(df, "t ~ x")
    >>> resolve_distance(np.ones((1, 2)), df, spec, np.array([1, 0, 0])).kind
    'matrix'
    """
    n, n1 = len(data), int(treatment.sum())
    n0 = n - n1
    if isinstance(distance, str):
        dist = DISTANCES[distance](data, spec, treatment, ps_model=ps_model)
    elif isinstance(distance, PropensityScore):
        if len(distance.scores) != n or not distance.scores.index.equals(data.index):
            raise DataError("the PropensityScore given as `distance` was fitted on other rows")
        dist = Distance(label="ps", values=distance.scores.to_numpy(dtype=float),
                        propensity=distance)
    else:
        dist = _from_array(distance, data, n1, n0)
    _check_shape(dist, n, n1, n0)
    return dist


def _from_array(distance: Any, data: pd.DataFrame, n1: int, n0: int) -> Distance:
    """Read a user's distance: one value per row (a Series aligned on the index) or a matrix."""
    index = data.index
    arr = np.asarray(align_to_rows(data, distance, "distance"))
    try:
        arr = arr.astype(float)
    except (TypeError, ValueError) as exc:
        raise SpecificationError("`distance` array must be numeric") from exc
    if not np.isfinite(arr).all():
        raise DataError("`distance` has missing or non-finite values")
    if arr.ndim == 1 and len(arr) == len(index):
        return Distance(label="user", values=arr)
    if arr.ndim == 2 and arr.shape == (n1, n0):
        return Distance(label="matrix", matrix=arr)
    raise DataError(
        f"`distance` must be 'ps', 'logit', 'mahalanobis', one value per row "
        f"({len(index)}) or a {n1} x {n0} (treated x control) matrix; got shape {arr.shape}")


def _check_shape(dist: Distance, n: int, n1: int, n0: int) -> None:
    """Check a distance (also one from a user-registered function) against the data."""
    if not isinstance(dist, Distance):
        raise SpecificationError(
            f"a registered distance must return a Distance; got {type(dist).__name__}")
    if dist.values is not None and dist.values.shape != (n,):
        raise DataError(f"distance {dist.label!r} has {dist.values.shape[0]} values; "
                        f"expected one per row ({n})")
    if dist.features is not None and dist.features.shape[0] != n:
        raise DataError(f"distance {dist.label!r} has {dist.features.shape[0]} rows of "
                        f"features; expected one per row ({n})")
    if dist.matrix is not None and dist.matrix.shape != (n1, n0):
        raise DataError(f"distance {dist.label!r} is a {dist.matrix.shape} matrix; expected "
                        f"{n1} x {n0} (treated x control)")
