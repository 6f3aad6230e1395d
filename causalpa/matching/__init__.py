"""Matching on the propensity score, its logit, Mahalanobis distance or a user distance.

:func:`match` reproduces MatchIt's ``matchit(method = "nearest" | "optimal")``:
the same greedy rules (processing order, rounds for k:1, ties to the first unit
in the data, calipers in SD units of the distance over all units), the same
weights and subclasses as ``match.data()``, and balance tables equal to
``summary()``.

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
>>> bool((m.pairs["distance"] <= m.options["raw_caliper"]).all())
True
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd

from causalpa._spec import (
    check_columns,
    check_frame,
    check_no_missing,
    check_number,
    check_option,
    make_spec,
)
from causalpa.errors import CausalpaWarning, DataError, SmallSampleWarning, SpecificationError
from causalpa.matching import nearest as _nearest  # noqa: F401  (registers "nearest")
from causalpa.matching import optimal as _optimal  # noqa: F401  (registers "optimal")
from causalpa.matching._base import METHODS, MatchProblem, register_method
from causalpa.matching.nearest import naive_greedy
from causalpa.matching.result import MatchResult, matchit_subclass, matchit_weights

__all__ = ["match", "MatchResult", "MatchProblem", "METHODS", "register_method", "naive_greedy",
           "mahalanobis_features"]

Order = Literal["largest", "smallest", "data", "random"]


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


def _order(kind: str, focal_pos: np.ndarray, d: np.ndarray | None, rng: np.random.Generator) -> np.ndarray:
    if kind == "data":
        return focal_pos
    if kind == "random":
        return rng.permutation(focal_pos)
    vals = np.asarray(d)[focal_pos]
    key = -vals if kind == "largest" else vals
    return focal_pos[np.argsort(key, kind="stable")]


def match(
    data: pd.DataFrame,
    formula: str | None = None,
    *,
    treatment: str | None = None,
    covariates: Sequence[str] | None = None,
    method: str = "nearest",
    distance: Any = "ps",
    estimand: str = "ATT",
    ratio: int = 1,
    replace: bool = False,
    caliper: float | None = None,
    std_caliper: bool = True,
    exact: str | Sequence[str] | None = None,
    order: Order | None = None,
    random_state: int | np.random.Generator | None = None,
    ps_model: Any = "logistic",
    treated: Any = None,
) -> MatchResult:
    """Match treated and control units (MatchIt's ``matchit`` semantics).

    Parameters
    ----------
    data : pandas.DataFrame
        Analysis data (never modified); row labels are kept in every output.
    formula : str, optional
        ``"treatment ~ covariates"``: the propensity-score model (``distance``
        "ps"/"logit"), the Mahalanobis covariates, and the balance covariates.
    treatment, covariates : str, sequence of str, optional
        Column names instead of a formula.
    method : {"nearest", "optimal"}
        Greedy nearest-neighbour or optimal (minimum total distance) matching;
        any name added with :func:`register_method`.
    distance : {"ps", "logit", "mahalanobis"}, array-like or PropensityScore
        "ps": propensity score (probability, ``causalpa.propensity`` with
        ``ps_model``); "logit": its linear predictor (MatchIt's
        ``link = "linear.logit"``); "mahalanobis": Mahalanobis distance on the
        covariates with the pooled within-arm covariance (MatchIt >= 4.4); a
        vector of one value per row (a user score); an n_treated x n_control
        matrix of distances (rows and columns in data order); or a fitted
        :class:`~causalpa.propensity.PropensityScore`.
    estimand : {"ATT", "ATC"}
        ATT matches controls to treated units; ATC matches treated units to controls.
    ratio : int
        Number of matches per focal unit (k:1), assigned in rounds.
    replace : bool
        Allow a unit to be matched to several focal units.
    caliper : float, optional
        Largest allowed distance; in SD units of the distance over all units when
        ``std_caliper`` (MatchIt's default), else in raw units.
    std_caliper : bool
        Interpret ``caliper`` in SD units (needs a scalar distance).
    exact : str or sequence of str, optional
        Columns on which matched units must agree exactly.
    order : {"largest", "smallest", "data", "random"}, optional
        Processing order of focal units by distance (stable: ties in data order).
        Default as MatchIt: "largest" for ATT, "smallest" for ATC, "data" for
        Mahalanobis and matrix distances.
    random_state : int or numpy.random.Generator, optional
        Seed for ``order="random"``.
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
        Missing values, non-binary treatment, an empty arm, or no match inside the caliper.

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
    """
    data = check_frame(data, "data")
    spec = make_spec(data, formula, treatment=treatment, covariates=covariates, treated=treated)
    method = check_option("method", method, sorted(METHODS))
    estimand = check_option("estimand", estimand, ["ATT", "ATC"])
    ratio = check_number("ratio", ratio, low=1, integer=True)
    if not isinstance(replace, (bool, np.bool_)):
        raise SpecificationError(f"`replace` must be True or False; got {replace!r}")
    if not isinstance(std_caliper, (bool, np.bool_)):
        raise SpecificationError(f"`std_caliper` must be True or False; got {std_caliper!r}")
    caliper = check_number("caliper", caliper, low=0, allow_none=True)
    if order is not None:
        order = check_option("order", order, ["largest", "smallest", "data", "random"])
    t = spec.treatment_array(data)
    n1, n0 = int(t.sum()), int(len(t) - t.sum())
    if n1 == 0 or n0 == 0:
        arm = "treated" if n1 == 0 else "control"
        raise DataError(f"no {arm} units in treatment column {spec.treatment!r}: nothing to match")
    for arm, k in (("treated", n1), ("control", n0)):
        if k == 1:
            warnings.warn(
                f"the {arm} arm has a single patient: matching runs, but no standard error or "
                "balance statistic that needs a variance can be computed for that arm",
                SmallSampleWarning, stacklevel=2)
    exact_cols: list[str] = []
    exact_codes = None
    if exact is not None:
        exact_cols = [exact] if isinstance(exact, str) else list(exact)
        check_columns(data, exact_cols, "exact")
        check_no_missing(data, exact_cols)
        exact_codes = pd.MultiIndex.from_frame(data[exact_cols].astype(str)).factorize()[0] \
            if len(exact_cols) > 1 else pd.factorize(data[exact_cols[0]])[0]
        exact_codes = np.asarray(exact_codes, dtype=np.int64)

    focal = t == 1 if estimand == "ATT" else t == 0
    d = None
    features = None
    matrix = None
    ps_obj = None
    dist_label = "user"
    if isinstance(distance, str):
        distance = check_option("distance", distance, ["ps", "logit", "mahalanobis"])
        dist_label = distance
        if distance in ("ps", "logit"):
            from causalpa.propensity import _propensity_from_spec

            # positivity is judged by the caliper / balance here: a control with a score
            # near 0 is harmless for the ATT, so propensity()'s ATE-oriented check is off.
            # `spec` was validated on `data` above (same spec as propensity(data, spec.formula))
            ps_obj = _propensity_from_spec(data, spec, model=ps_model, positivity=None)
            src = ps_obj.scores if distance == "ps" else ps_obj.linear_predictor
            d = np.asarray(src, dtype=float)
        else:
            X = spec.covariate_frame(data).to_numpy(dtype=float)
            if X.shape[1] == 0:
                raise SpecificationError(
                    "distance='mahalanobis' needs covariates in `formula` or `covariates=`")
            features = mahalanobis_features(X, t)
    elif hasattr(distance, "scores") and hasattr(distance, "linear_predictor"):
        ps_obj = distance
        if len(distance.scores) != len(data) or not distance.scores.index.equals(data.index):
            raise DataError("the PropensityScore given as `distance` was fitted on other rows")
        d = distance.scores.to_numpy(dtype=float)
        dist_label = "ps"
    else:
        arr = distance.reindex(data.index).to_numpy() if isinstance(distance, pd.Series) \
            else np.asarray(distance)
        try:
            arr = arr.astype(float)
        except (TypeError, ValueError) as exc:
            raise SpecificationError("`distance` array must be numeric") from exc
        if not np.isfinite(arr).all():
            raise DataError("`distance` has missing or non-finite values")
        if arr.ndim == 1 and len(arr) == len(data):
            d = arr
        elif arr.ndim == 2 and arr.shape == (n1, n0):
            matrix = arr if estimand == "ATT" else arr.T
            dist_label = "matrix"
        else:
            raise DataError(
                f"`distance` must be 'ps', 'logit', 'mahalanobis', one value per row "
                f"({len(data)}) or a {n1} x {n0} (treated x control) matrix; got shape {arr.shape}"
            )
    if order is None:
        order = ("largest" if estimand == "ATT" else "smallest") if d is not None else "data"
    if d is None and order in ("largest", "smallest"):
        raise SpecificationError(
            f"order={order!r} needs a scalar distance (propensity score); with "
            f"distance={dist_label!r} use order='data' or 'random'"
        )
    raw_caliper = None
    if caliper is not None:
        if d is None and std_caliper:
            raise SpecificationError(
                "a caliper in SD units (`std_caliper=True`) needs a scalar distance; with a "
                "Mahalanobis or matrix distance give `std_caliper=False` and a raw caliper"
            )
        raw_caliper = (float(caliper * np.std(np.asarray(d), ddof=1)) if std_caliper
                       else float(caliper))
        if features is not None:
            raise SpecificationError("a caliper on the Mahalanobis distance is not supported")

    n_focal, n_other = int(focal.sum()), int((~focal).sum())
    tc = ("treated", "control") if estimand == "ATT" else ("control", "treated")
    if not replace:
        _capacity_warnings(focal, exact_codes, ratio, tc)
    rng = np.random.default_rng(random_state)
    focal_pos = np.flatnonzero(focal)
    problem = MatchProblem(
        focal=focal, order=_order(order, focal_pos, d, rng), ratio=ratio, replace=bool(replace),
        distance=d, features=features, matrix=matrix, caliper=raw_caliper, exact=exact_codes,
    )
    mm = METHODS[method](problem)
    if not (mm >= 0).any():
        msg = "no units were matched"
        if raw_caliper is not None:
            unit = f"{caliper:g} SD of the distance = {raw_caliper:.4g}" if std_caliper \
                else f"{raw_caliper:.4g}"
            msg = (f"no {tc[0]} unit has a {tc[1]} unit within the caliper ({unit}); widen "
                   "`caliper` or drop it")
        elif exact_codes is not None:
            msg = f"no exact-matching stratum ({', '.join(exact_cols)}) contains both arms"
        raise DataError(msg)
    w = matchit_weights(mm, focal)
    sub = None if replace else matchit_subclass(mm, focal)
    index = data.index
    weights = pd.Series(w, index=index, name="weights")
    subclass = None
    if sub is not None:
        subclass = pd.Series(
            pd.arrays.IntegerArray(np.where(sub > 0, sub, 0).astype(np.int64), sub == 0),
            index=index, name="subclass")
    dist_series = None if d is None else pd.Series(d, index=index, name="distance")
    rows, cols = np.nonzero(mm >= 0)
    fpos = focal_pos[rows]
    opos = mm[rows, cols]
    if d is not None:
        pdist = np.abs(d[fpos] - d[opos])
    elif features is not None:
        pdist = np.sqrt(((features[fpos] - features[opos]) ** 2).sum(axis=1))
    else:
        other_pos = np.flatnonzero(~focal)
        col_of = np.full(len(focal), -1)
        col_of[other_pos] = np.arange(len(other_pos))
        pdist = np.asarray(matrix)[rows, col_of[opos]]
    tpos, cpos = (fpos, opos) if estimand == "ATT" else (opos, fpos)
    pairs = pd.DataFrame({
        "treated": index[tpos], "control": index[cpos], "round": cols + 1, "distance": pdist,
    })
    if sub is not None:
        pairs["subclass"] = sub[fpos]
    options = dict(ratio=ratio, replace=bool(replace), caliper=caliper, std_caliper=std_caliper,
                   raw_caliper=raw_caliper, order=order, exact=exact_cols, distance=dist_label,
                   n_focal=n_focal, n_other=n_other)
    return MatchResult(
        data=data.copy(), spec=spec, estimand=estimand, method=method, options=options, treatment=t,
        focal=focal, match_matrix=mm, weights=weights, subclass=subclass, distance=dist_series,
        pairs=pairs, propensity=ps_obj,
    )


def _capacity_warnings(focal: np.ndarray, exact: np.ndarray | None, ratio: int,
                       tc: tuple[str, str]) -> None:
    if exact is None:
        n_f, n_o = int(focal.sum()), int((~focal).sum())
        if n_o < n_f:
            warnings.warn(f"Fewer {tc[1]} units than {tc[0]} units; not all {tc[0]} units will "
                          "get a match. Use replace=True or estimand swap if every unit must be "
                          "matched.", CausalpaWarning, stacklevel=3)
        elif n_o < ratio * n_f:
            warnings.warn(f"Not all {tc[0]} units will get {ratio} matches: only {n_o} {tc[1]} "
                          f"units for {n_f} {tc[0]} units; lower `ratio` or use replace=True.",
                          CausalpaWarning, stacklevel=3)
        return
    ratios = []
    for code in np.unique(exact):
        nf = int((focal & (exact == code)).sum())
        no = int((~focal & (exact == code)).sum())
        if nf:
            ratios.append(no / nf)
    if any(r < 1 for r in ratios):
        warnings.warn(f"Fewer {tc[1]} units than {tc[0]} units in some 'exact' strata; not all "
                      f"{tc[0]} units will get a match.", CausalpaWarning, stacklevel=3)
    if ratio > 1 and any(r < ratio for r in ratios):
        warnings.warn(f"Not all {tc[0]} units will get {ratio} matches.", CausalpaWarning,
                      stacklevel=3)
