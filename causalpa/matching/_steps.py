"""The steps of :func:`causalpa.matching.match` (MatchIt's ``matchit()`` in named pieces).

Each step takes what the previous ones resolved and returns a plain value or a small
frozen record: the arms (:func:`check_arms`), the exact strata (:func:`exact_strata`),
the calipers as given (:func:`parse_caliper`, :func:`check_covariate_calipers`),
common support (:func:`discard_units`), the processing order (:func:`resolve_order`,
:func:`processing_order`), the calipers in raw units (:func:`caliper_widths`), the
capacity warnings (:func:`capacity_messages`) and the message when nothing matched
(:func:`no_match_message`). Warnings are returned as ``(category, message)`` pairs so
that ``match`` can both issue them and keep them as the result's notes.
"""

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from causalpa._validation import (
    Boolean,
    Number,
    check_arm_sizes,
    check_columns,
    check_no_missing,
    check_value,
)
from causalpa.errors import CausalpaWarning, DataError, SmallSampleWarning, SpecificationError
from causalpa.matching.distance import Distance
from causalpa.matching.info import CovariateCaliper

Message = tuple[type[Warning], str]

_DIST_KEYS = ("", "distance")


# =========================================================================== arms, strata
def check_arms(t: np.ndarray, treatment: str) -> list[Message]:
    """Refuse an empty arm; return the warning for an arm with a single patient."""
    n1, n0 = check_arm_sizes(t, treatment, "matching", minimum=1)
    return [(SmallSampleWarning,
             f"the {arm} arm has a single patient: matching runs, but no standard error or "
             "balance statistic that needs a variance can be computed for that arm")
            for arm, k in (("treated", n1), ("control", n0)) if k == 1]


def exact_strata(data: pd.DataFrame, exact: list[str] | None) -> np.ndarray | None:
    """Return one stratum code per unit for the ``exact`` columns (None without)."""
    if exact is None:
        return None
    check_columns(data, exact, "exact")
    check_no_missing(data, exact)
    codes = pd.MultiIndex.from_frame(data[exact].astype(str)).factorize()[0] \
        if len(exact) > 1 else pd.factorize(data[exact[0]])[0]
    return np.asarray(codes, dtype=np.int64)


# =========================================================================== calipers
@dataclass(frozen=True)
class Calipers:
    """Calipers as given: on the distance (``distance``, ``std``) and on covariates.

    ``covariates`` holds ``(column, width, std)`` triples.
    """

    distance: float | None
    std: bool
    covariates: tuple[tuple[str, float, bool], ...] = ()


def _std_map(std_caliper: Any) -> dict[str, bool] | None:
    if not isinstance(std_caliper, Mapping):
        return None
    return {k: check_value(f"std_caliper[{k!r}]", v, [Boolean()])
            for k, v in std_caliper.items()}


def _check_std_keys(std_map: dict[str, bool] | None, caliper: Mapping[str, Any]) -> None:
    if std_map is None:
        return
    has_dist = any(j in caliper for j in _DIST_KEYS)
    bad = [k for k in std_map if k not in caliper and not (k in _DIST_KEYS and has_dist)]
    if bad:
        raise SpecificationError(
            f"`std_caliper` names {bad[0]!r}, which has no caliper in `caliper`")


def parse_caliper(caliper: Any, std_caliper: Any) -> Calipers:
    """Split ``caliper`` / ``std_caliper`` into the distance caliper and covariate calipers.

    The keys ``"distance"`` and ``""`` of a dict name the caliper on the distance (as
    MatchIt's unnamed element); keys left out of a ``std_caliper`` dict default to SD units.
    """
    std_map = _std_map(std_caliper)

    def std_of(key: str) -> bool:
        if std_map is None:
            return bool(std_caliper)
        if key in _DIST_KEYS:
            return bool(next((std_map[k] for k in _DIST_KEYS if k in std_map), True))
        return bool(std_map.get(key, True))

    if not isinstance(caliper, Mapping):
        _check_std_keys(std_map, {"distance": caliper})
        return Calipers(distance=caliper, std=std_of("distance"))
    if sum(k in caliper for k in _DIST_KEYS) > 1:
        raise SpecificationError(
            "`caliper` has both '' and 'distance' keys: give the distance caliper once")
    _check_std_keys(std_map, caliper)
    dist_cal: float | None = None
    covs: list[tuple[str, float, bool]] = []
    for key, value in caliper.items():
        if not isinstance(key, str):
            raise SpecificationError(f"`caliper` keys must be column names; got {key!r}")
        if key in _DIST_KEYS:
            dist_cal = check_value("caliper", value, [Number(low=0)])
        else:
            width = float(check_value(f"caliper[{key!r}]", value, [Number(low=0)]))
            covs.append((key, width, std_of(key)))
    return Calipers(distance=dist_cal, std=std_of("distance"), covariates=tuple(covs))


def check_covariate_calipers(data: pd.DataFrame, calipers: Calipers) -> Calipers:
    """Check the caliper columns; drop calipers on constant columns (as MatchIt)."""
    cols = [c for c, _, _ in calipers.covariates]
    if not cols:
        return calipers
    check_columns(data, cols, "caliper")
    check_no_missing(data, cols)
    for col in cols:
        x = data[col]
        if not pd.api.types.is_numeric_dtype(x) or pd.api.types.is_bool_dtype(x) \
                or x.nunique() == 2:
            raise SpecificationError(
                f"a caliper on column {col!r}: calipers cannot be used with binary, factor "
                "or character variables (as MatchIt); use `exact=` for those")
    kept = tuple(c for c in calipers.covariates if data[c[0]].nunique() > 1)
    return Calipers(distance=calipers.distance, std=calipers.std, covariates=kept)


def caliper_widths(calipers: Calipers, dist: Distance, data: pd.DataFrame,
                   keep: np.ndarray) -> tuple[float | None, tuple[CovariateCaliper, ...]]:
    """Return the calipers in raw units; SDs are over the units in ``keep`` (not discarded)."""
    raw_caliper = None
    d = dist.values
    if calipers.distance is not None:
        if d is None and calipers.std:
            raise SpecificationError(
                "a caliper in SD units (`std_caliper=True`) needs a scalar distance; with a "
                "Mahalanobis or matrix distance give `std_caliper=False` and a raw caliper")
        raw_caliper = (float(calipers.distance * np.std(np.asarray(d)[keep], ddof=1))
                       if calipers.std else float(calipers.distance))
        if dist.features is not None:
            raise SpecificationError("a caliper on the Mahalanobis distance is not supported")
    covs = []
    for col, width, std in calipers.covariates:
        x = data[col].to_numpy(dtype=float)
        raw = float(width * np.std(x[keep], ddof=1)) if std else float(width)
        covs.append(CovariateCaliper(column=col, caliper=width, std=std, raw=raw))
    return raw_caliper, tuple(covs)


# =========================================================================== support, order
def discard_units(dist: Distance, t: np.ndarray, discard: str) -> np.ndarray | None:
    """Units outside the common support, as MatchIt's ``discard()`` (strict inequalities).

    Returns None for ``discard="none"``; refuses a discard that empties an arm.
    """
    if discard == "none":
        return None
    d = dist.values
    if d is None:
        raise SpecificationError(
            f"discard={discard!r} needs a propensity score or another scalar distance "
            f"(got distance={dist.label!r}); use discard='none'")
    d1, d0 = d[t == 1], d[t == 0]
    if discard == "both":
        lo, hi = max(d0.min(), d1.min()), min(d0.max(), d1.max())
    elif discard == "control":
        lo, hi = d1.min(), d1.max()
    else:
        lo, hi = d0.min(), d0.max()
    out = np.asarray((d < lo) | (d > hi), dtype=bool)
    kept1, kept0 = int((~out & (t == 1)).sum()), int((~out & (t == 0)).sum())
    if kept1 == 0 or kept0 == 0:
        arm = "treated" if kept1 == 0 else "control"
        raise DataError(
            f"discard={discard!r} leaves no {arm} units: the two arms' distances do not "
            "overlap (no common support); use discard='none' or revise the model")
    return out


def resolve_order(order: str | None, estimand: str, dist: Distance) -> str:
    """Default processing order as MatchIt: by the distance, else data order."""
    scalar = dist.values is not None
    if order is None:
        return ("largest" if estimand == "ATT" else "smallest") if scalar else "data"
    if not scalar and order in ("largest", "smallest"):
        raise SpecificationError(
            f"order={order!r} needs a scalar distance (propensity score); with "
            f"distance={dist.label!r} use order='data' or 'random'")
    return order


def processing_order(kind: str, focal_pos: np.ndarray, d: np.ndarray | None,
                     rng: np.random.Generator) -> np.ndarray:
    """Return the focal units' positions in processing order (stable: ties in data order)."""
    if kind == "data":
        return focal_pos
    if kind == "random":
        return rng.permutation(focal_pos)
    vals = np.asarray(d)[focal_pos]
    key = -vals if kind == "largest" else vals
    return focal_pos[np.argsort(key, kind="stable")]


def check_match_matrix(mm: Any, focal: np.ndarray, ratio: int, replace: bool,
                       method: str) -> np.ndarray:
    """Check what a (possibly user-registered) method returned: MatchIt's match matrix.

    One row per focal unit (data order), ``ratio`` columns, data positions of units of
    the other arm or -1; without replacement no unit is used twice.
    """
    arr = np.asarray(mm)
    n_focal = int(focal.sum())
    if arr.shape != (n_focal, ratio) or arr.dtype.kind not in "iu":
        raise SpecificationError(
            f"matching method {method!r} must return an integer array of shape "
            f"({n_focal}, {ratio}) (focal units x ratio); got {arr.dtype} {arr.shape}")
    used = arr[arr >= 0]
    if (arr < -1).any() or (used >= len(focal)).any() or focal[used].any():
        raise SpecificationError(
            f"matching method {method!r} returned positions that are not units of the "
            "other arm (or -1 for no match)")
    if not replace and len(np.unique(used)) != len(used):
        raise SpecificationError(
            f"matching method {method!r} used a unit twice although replace=False")
    return arr.astype(np.int64, copy=False)


# =========================================================================== messages
def capacity_messages(focal: np.ndarray, exact: np.ndarray | None, ratio: int,
                      tc: tuple[str, str]) -> list[Message]:
    """Warnings when the other arm cannot give every focal unit ``ratio`` matches."""
    if exact is None:
        n_f, n_o = int(focal.sum()), int((~focal).sum())
        if n_o < n_f:
            return [(CausalpaWarning,
                     f"Fewer {tc[1]} units than {tc[0]} units; not all {tc[0]} units will get a "
                     "match. Use replace=True or estimand swap if every unit must be matched.")]
        if n_o < ratio * n_f:
            return [(CausalpaWarning,
                     f"Not all {tc[0]} units will get {ratio} matches: only {n_o} {tc[1]} "
                     f"units for {n_f} {tc[0]} units; lower `ratio` or use replace=True.")]
        return []
    ratios = []
    for code in np.unique(exact):
        nf = int((focal & (exact == code)).sum())
        no = int((~focal & (exact == code)).sum())
        if nf:
            ratios.append(no / nf)
    out: list[Message] = []
    if any(r < 1 for r in ratios):
        out.append((CausalpaWarning,
                    f"Fewer {tc[1]} units than {tc[0]} units in some 'exact' strata; not all "
                    f"{tc[0]} units will get a match."))
    if ratio > 1 and any(r < ratio for r in ratios):
        out.append((CausalpaWarning, f"Not all {tc[0]} units will get {ratio} matches."))
    return out


def no_match_message(calipers: Calipers, raw_caliper: float | None, exact: list[str] | None,
                     tc: tuple[str, str]) -> str:
    """Explain why no unit was matched (caliper, covariate calipers or exact strata)."""
    msg = "no units were matched"
    if raw_caliper is not None:
        unit = f"{calipers.distance:g} SD of the distance = {raw_caliper:.4g}" if calipers.std \
            else f"{raw_caliper:.4g}"
        msg = (f"no {tc[0]} unit has a {tc[1]} unit within the caliper ({unit}); widen "
               "`caliper` or drop it")
    if calipers.covariates:
        cols = ", ".join(repr(c) for c, _, _ in calipers.covariates)
        msg = (f"no {tc[0]} unit has a {tc[1]} unit within every caliper (covariates "
               f"{cols}); widen `caliper` or drop some")
    elif exact:
        msg = f"no exact-matching stratum ({', '.join(exact)}) contains both arms"
    return msg


def issue(messages: list[Message], stacklevel: int) -> list[str]:
    """Issue ``(category, message)`` warnings and return their texts (the result's notes).

    ``stacklevel`` is read as if the caller of :func:`issue` called ``warnings.warn``
    (1: the caller's line, 2: its caller, ...).
    """
    for category, message in messages:
        warnings.warn(message, category, stacklevel=stacklevel + 1)
    return [m for _, m in messages]
