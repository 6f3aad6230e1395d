"""Matching on the propensity score, its logit, Mahalanobis distance or a user distance.

:func:`match` reproduces MatchIt's ``matchit(method = "nearest" | "optimal")``:
the same greedy rules (processing order, rounds for k:1, ties to the first unit
in the data, calipers in SD units over all units that are not discarded,
covariate calipers, ``discard`` of units outside the common support), the same
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
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd

from causalpa._spec import make_spec
from causalpa._validation import (
    check_columns,
    check_frame,
    check_no_missing,
    check_number,
    check_option,
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
    caliper: float | Mapping[str, float] | None = None,
    std_caliper: bool | Mapping[str, bool] = True,
    exact: str | Sequence[str] | None = None,
    discard: str = "none",
    order: Order | None = None,
    rng: Any = None,
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
        0 and are counted in ``balance().n`` ("Discarded") and
        ``result.discarded``.
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
    """
    data = check_frame(data, "data")
    spec = make_spec(data, formula, treatment=treatment, covariates=covariates, treated=treated)
    method = check_option("method", method, sorted(METHODS))
    estimand = check_option("estimand", estimand, ["ATT", "ATC"])
    ratio = check_number("ratio", ratio, low=1, integer=True)
    if not isinstance(replace, (bool, np.bool_)):
        raise SpecificationError(f"`replace` must be True or False; got {replace!r}")
    discard = check_option("discard", discard, ["none", "both", "control", "treated"])
    caliper, std_caliper, cov_cal = _parse_caliper(caliper, std_caliper)
    cov_cols = list(cov_cal)
    if cov_cols:
        check_columns(data, cov_cols, "caliper")
        check_no_missing(data, cov_cols)
        for col in cov_cols:
            x = data[col]
            if not pd.api.types.is_numeric_dtype(x) or pd.api.types.is_bool_dtype(x) \
                    or x.nunique() == 2:
                raise SpecificationError(
                    f"a caliper on column {col!r}: calipers cannot be used with binary, factor "
                    "or character variables (as MatchIt); use `exact=` for those")
        # MatchIt drops calipers on constant variables
        cov_cal = {c: v for c, v in cov_cal.items() if data[c].nunique() > 1}
        cov_cols = list(cov_cal)
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
            ps_obj = _propensity_from_spec(data, spec, ps_model=ps_model, positivity=None)
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
    discarded = None
    if discard != "none":
        if d is None:
            raise SpecificationError(
                f"discard={discard!r} needs a propensity score or another scalar distance "
                f"(got distance={dist_label!r}); use discard='none'")
        discarded = _discard(d, t, discard)
        kept1, kept0 = int((~discarded & (t == 1)).sum()), int((~discarded & (t == 0)).sum())
        if kept1 == 0 or kept0 == 0:
            arm = "treated" if kept1 == 0 else "control"
            raise DataError(
                f"discard={discard!r} leaves no {arm} units: the two arms' distances do not "
                "overlap (no common support); use discard='none' or revise the model")
    keep = np.ones(len(t), dtype=bool) if discarded is None else ~discarded
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
        raw_caliper = (float(caliper * np.std(np.asarray(d)[keep], ddof=1)) if std_caliper
                       else float(caliper))
        if features is not None:
            raise SpecificationError("a caliper on the Mahalanobis distance is not supported")
    raw_cov: dict[str, float] = {}
    for col, (width, std) in cov_cal.items():
        x = data[col].to_numpy(dtype=float)
        raw_cov[col] = float(width * np.std(x[keep], ddof=1)) if std else float(width)
    cov_mat = data[cov_cols].to_numpy(dtype=float) if cov_cols else None

    n_focal, n_other = int(focal.sum()), int((~focal).sum())
    tc = ("treated", "control") if estimand == "ATT" else ("control", "treated")
    if not replace:
        _capacity_warnings(focal, exact_codes, ratio, tc)
    gen = np.random.default_rng(rng)
    focal_pos = np.flatnonzero(focal)
    problem = MatchProblem(
        focal=focal, order=_order(order, focal_pos, d, gen), ratio=ratio, replace=bool(replace),
        distance=d, features=features, matrix=matrix, caliper=raw_caliper, exact=exact_codes,
        discarded=discarded, caliper_covs=cov_mat,
        caliper_widths=np.array(list(raw_cov.values())) if cov_cols else None,
    )
    mm = METHODS[method](problem)
    if not (mm >= 0).any():
        msg = "no units were matched"
        if raw_caliper is not None:
            unit = f"{caliper:g} SD of the distance = {raw_caliper:.4g}" if std_caliper \
                else f"{raw_caliper:.4g}"
            msg = (f"no {tc[0]} unit has a {tc[1]} unit within the caliper ({unit}); widen "
                   "`caliper` or drop it")
        if cov_cols:
            msg = (f"no {tc[0]} unit has a {tc[1]} unit within every caliper (covariates "
                   f"{', '.join(map(repr, cov_cols))}); widen `caliper` or drop some")
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
                   covariate_calipers={c: dict(caliper=w, std=s, raw=raw_cov[c])
                                       for c, (w, s) in cov_cal.items()},
                   discard=discard,
                   n_focal=n_focal, n_other=n_other)
    return MatchResult(
        data=data.copy(), spec=spec, estimand=estimand, method=method, options=options, treatment=t,
        focal=focal, match_matrix=mm, weights=weights, subclass=subclass, distance=dist_series,
        pairs=pairs, propensity=ps_obj,
        discarded=pd.Series(np.zeros(len(t), dtype=bool) if discarded is None else discarded,
                            index=index, name="discarded"),
    )


def _discard(d: np.ndarray, t: np.ndarray, option: str) -> np.ndarray:
    """Units outside the common support, as MatchIt's ``discard()`` (strict inequalities)."""
    d1, d0 = d[t == 1], d[t == 0]
    if option == "both":
        lo, hi = max(d0.min(), d1.min()), min(d0.max(), d1.max())
    elif option == "control":
        lo, hi = d1.min(), d1.max()
    else:
        lo, hi = d0.min(), d0.max()
    return np.asarray((d < lo) | (d > hi), dtype=bool)


_DIST_KEYS = ("", "distance")


def _parse_caliper(
    caliper: Any, std_caliper: Any,
) -> tuple[float | None, bool, dict[str, tuple[float, bool]]]:
    """Split ``caliper``/``std_caliper`` into the distance caliper and covariate calipers."""
    def is_bool(v: Any) -> bool:
        return isinstance(v, (bool, np.bool_))

    if isinstance(std_caliper, Mapping):
        std_map = dict(std_caliper)
        for k, v in std_map.items():
            if not is_bool(v):
                raise SpecificationError(f"`std_caliper[{k!r}]` must be True or False; got {v!r}")
    elif is_bool(std_caliper):
        std_map = None
    else:
        raise SpecificationError(
            f"`std_caliper` must be True or False (or a dict of them); got {std_caliper!r}")
    if not isinstance(caliper, Mapping):
        if std_map is not None:
            bad = [k for k in std_map if k not in _DIST_KEYS]
            if bad:
                raise SpecificationError(
                    f"`std_caliper` names {bad[0]!r}, which has no caliper in `caliper`")
            std_d = bool(next((std_map[k] for k in _DIST_KEYS if k in std_map), True))
        else:
            std_d = bool(std_caliper)
        return check_number("caliper", caliper, low=0, allow_none=True), std_d, {}
    cal = dict(caliper)
    if sum(k in cal for k in _DIST_KEYS) > 1:
        raise SpecificationError(
            "`caliper` has both '' and 'distance' keys: give the distance caliper once")
    if std_map is not None:
        bad = [k for k in std_map if k not in cal and not (k in _DIST_KEYS
                                                           and any(j in cal for j in _DIST_KEYS))]
        if bad:
            raise SpecificationError(
                f"`std_caliper` names {bad[0]!r}, which has no caliper in `caliper`")

    def std_of(key: str) -> bool:
        if std_map is None:
            return bool(std_caliper)
        if key in _DIST_KEYS:
            return bool(next((std_map[k] for k in _DIST_KEYS if k in std_map), True))
        return bool(std_map.get(key, True))

    dist_cal: float | None = None
    covs: dict[str, tuple[float, bool]] = {}
    for key, value in cal.items():
        if not isinstance(key, str):
            raise SpecificationError(f"`caliper` keys must be column names; got {key!r}")
        if key in _DIST_KEYS:
            dist_cal = check_number("caliper", value, low=0)
        else:
            covs[key] = (float(check_number(f"caliper[{key!r}]", value, low=0)), std_of(key))
    std_d = std_of("distance")
    return dist_cal, std_d, covs


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
