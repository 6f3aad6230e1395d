"""Greedy nearest-neighbour matching with MatchIt's classic semantics.

Rules (MatchIt's ``nn_matchC``): focal units are processed in ``problem.order``;
matching proceeds in rounds (every focal unit gets its first match before any
gets its second); each focal unit takes the nearest still-available unit of the
other arm; ties go to the unit that comes first in the data; a focal unit with
no available unit inside the caliper gets no match in that round (and, since
the pool only shrinks, in later rounds); with replacement every focal unit
simply takes its ``ratio`` nearest units. ``exact`` strata are matched
separately. (One known difference: with replacement and ``ratio > 1``, MatchIt
orders *exactly* equidistant candidates by its C++ partial sort, so when such a
tie decides the k-th match it may pick a later unit; causalpa always takes the
first in the data. The matched distances are the same.)

For a one-dimensional distance (propensity score, logit, user vector) without
replacement the search is O(n log n): the other arm is sorted once and
deletions are handled by union-find "next available" pointers to the left and
right, so each match costs a binary search plus near-constant pointer work.
Mahalanobis and matrix distances, and any covariate caliper, scan the available
units (O(n1 n0)); a pair that fails a covariate caliper has distance ``inf`` and
is never matched (MatchIt filters those controls out before taking the nearest).
Discarded units (``problem.discarded``) are left out of both arms.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable

import numpy as np

from causalpa.matching._base import MatchProblem, register_method

__all__ = ["nearest"]


def _strata(problem: MatchProblem) -> list[tuple[np.ndarray, np.ndarray]]:
    """Return (focal positions in processing order, other positions in data order) per stratum."""
    other = np.flatnonzero(~problem.focal)
    order = np.asarray(problem.order)
    if problem.discarded is not None:
        keep = ~np.asarray(problem.discarded, dtype=bool)
        other = other[keep[other]]
        order = order[keep[order]]
    if problem.exact is None:
        return [(order, other)]
    out = []
    codes_order = problem.exact[order]
    codes_other = problem.exact[other]
    for code in np.unique(problem.exact[problem.focal]):
        out.append((order[codes_order == code], other[codes_other == code]))
    return out


def _greedy_1d(
    fd: np.ndarray, cd: np.ndarray, cpos: np.ndarray, ratio: int, caliper: float | None,
) -> list[list[int]]:
    """Greedy matching on a scalar distance without replacement.

    ``fd`` focal distances in processing order; ``cd``/``cpos`` the other arm's
    distances and data positions. Returns, per focal unit, the list of matched
    data positions in round order.
    """
    srt = np.lexsort((cpos, cd))
    vals_a = cd[srt]
    vals = vals_a.tolist()
    poss = cpos[srt].tolist()
    m = len(vals)
    # start of each tie group in sorted order
    new_group = np.ones(m, dtype=bool)
    if m > 1:
        new_group[1:] = vals_a[1:] != vals_a[:-1]
    gs = np.maximum.accumulate(np.where(new_group, np.arange(m), 0)).tolist()
    right = list(range(m + 1))  # right[i]: next available sorted index >= i (m: none)
    left = list(range(m + 1))  # left[i + 1]: previous available index <= i, shifted by one
    cal = float("inf") if caliper is None else float(caliper)
    inf = float("inf")
    out: list[list[int]] = [[] for _ in range(len(fd))]
    active = list(range(len(fd)))
    xs = fd.tolist()
    remaining = m
    for _ in range(ratio):
        still = []
        for j in active:
            if remaining == 0:
                break
            x = xs[j]
            p = bisect_left(vals, x)
            # nearest available at or right of p
            i = p
            while right[i] != i:
                right[i] = right[right[i]]
                i = right[i]
            r = i
            # nearest available at or left of p - 1
            i = p
            while left[i] != i:
                left[i] = left[left[i]]
                i = left[i]
            lft = i - 1
            dr = vals[r] - x if r < m else inf
            dl = x - vals[lft] if lft >= 0 else inf
            if dl < dr:
                dist = dl
                i = gs[lft]
                while right[i] != i:
                    right[i] = right[right[i]]
                    i = right[i]
                pick = i
            elif dr < dl:
                dist = dr
                pick = r
            else:
                dist = dr
                i = gs[lft]
                while right[i] != i:
                    right[i] = right[right[i]]
                    i = right[i]
                pick = i if poss[i] < poss[r] else r
            if dist > cal:
                continue
            out[j].append(poss[pick])
            right[pick] = pick + 1
            left[pick + 1] = pick
            remaining -= 1
            still.append(j)
        active = still
    return out


def _knn_1d(
    fd: np.ndarray, cd: np.ndarray, cpos: np.ndarray, ratio: int, caliper: float | None,
) -> list[list[int]]:
    """With replacement: each focal unit takes its ``ratio`` nearest (ties: data order)."""
    srt = np.lexsort((cpos, cd))
    vals = cd[srt]
    poss = cpos[srt]
    m = len(vals)
    new_group = np.ones(m, dtype=bool)
    if m > 1:
        new_group[1:] = vals[1:] != vals[:-1]
    idx = np.arange(m)
    gs = np.maximum.accumulate(np.where(new_group, idx, 0))
    ends = np.where(np.r_[new_group[1:], True], idx, m)
    ge = np.minimum.accumulate(ends[::-1])[::-1]
    out = []
    for x in fd.tolist():
        p = int(np.searchsorted(vals, x, side="left"))
        lo = max(p - ratio, 0)
        hi = min(p + ratio, m) - 1
        lo = int(gs[lo]) if m else 0
        hi = int(ge[hi]) if hi >= 0 else -1
        cand = np.arange(lo, hi + 1)
        d = np.abs(vals[cand] - x)
        keep = np.lexsort((poss[cand], d))[:ratio]
        chosen = [int(poss[cand[k]]) for k in keep if caliper is None or d[k] <= caliper]
        out.append(chosen)
    return out


def _greedy_scan(
    fpos: np.ndarray, cpos: np.ndarray, dist_fn: Callable[[int, np.ndarray], np.ndarray],
    ratio: int, replace: bool,
    caliper: float | None,
) -> list[list[int]]:
    """General greedy matching by scanning the available units (matrix / Mahalanobis)."""
    out: list[list[int]] = [[] for _ in range(len(fpos))]
    if replace:
        for j, f in enumerate(fpos):
            d = dist_fn(f, cpos)
            srt = np.argsort(d, kind="stable")[:ratio]
            out[j] = [int(cpos[k]) for k in srt
                      if np.isfinite(d[k]) and (caliper is None or d[k] <= caliper)]
        return out
    avail = np.ones(len(cpos), dtype=bool)
    active = list(range(len(fpos)))
    for _ in range(ratio):
        still = []
        for j in active:
            idx = np.flatnonzero(avail)
            if len(idx) == 0:
                break
            d = dist_fn(fpos[j], cpos[idx])
            k = int(np.argmin(d))
            if not np.isfinite(d[k]) or (caliper is not None and d[k] > caliper):
                continue
            out[j].append(int(cpos[idx[k]]))
            avail[idx[k]] = False
            still.append(j)
        active = still
    return out


def _by_stratum(problem: MatchProblem,
                solve: Callable[[np.ndarray, np.ndarray], list[list[int]]]) -> np.ndarray:
    """Run ``solve(focal positions, other positions)`` in every stratum; the match matrix."""
    results: dict[int, list[int]] = {}
    for fpos, cpos in _strata(problem):
        if len(fpos) == 0 or len(cpos) == 0:
            continue
        for f, matched in zip(fpos.tolist(), solve(fpos, cpos), strict=True):
            results[f] = matched
    return _to_matrix(problem, results)


def _to_matrix(problem: MatchProblem, results: dict[int, list[int]]) -> np.ndarray:
    focal_pos = np.flatnonzero(problem.focal)
    mm = np.full((len(focal_pos), problem.ratio), -1, dtype=np.int64)
    row = {int(p): i for i, p in enumerate(focal_pos)}
    for f, matched in results.items():
        mm[row[f], : len(matched)] = matched
    return mm


def _dist_fn(problem: MatchProblem) -> Callable[[int, np.ndarray], np.ndarray]:
    """Distance from one focal unit to other units; ``inf`` where a covariate caliper fails."""
    base = _base_dist_fn(problem)
    if problem.caliper_covs is None:
        return base
    C = np.asarray(problem.caliper_covs, dtype=float)
    widths = np.asarray(problem.caliper_widths, dtype=float)

    def with_calipers(f: int, others: np.ndarray) -> np.ndarray:
        d = np.array(base(f, others), dtype=float)
        ok = (np.abs(C[others] - C[f]) <= widths).all(axis=1)
        d[~ok] = np.inf
        return d

    return with_calipers


def _base_dist_fn(problem: MatchProblem) -> Callable[[int, np.ndarray], np.ndarray]:
    if problem.features is not None:
        F = problem.features

        def euclid(f: int, others: np.ndarray) -> np.ndarray:
            diff = F[others] - F[f]
            return np.sqrt(np.einsum("ij,ij->i", diff, diff))

        return euclid
    if problem.matrix is not None:
        focal_pos = np.flatnonzero(problem.focal)
        other_pos = np.flatnonzero(~problem.focal)
        frow = np.full(len(problem.focal), -1)
        frow[focal_pos] = np.arange(len(focal_pos))
        ocol = np.full(len(problem.focal), -1)
        ocol[other_pos] = np.arange(len(other_pos))
        M = problem.matrix

        def from_matrix(f: int, others: np.ndarray) -> np.ndarray:
            return M[frow[f], ocol[others]]

        return from_matrix
    d = np.asarray(problem.distance)

    def absdiff(f: int, others: np.ndarray) -> np.ndarray:
        return np.abs(d[f] - d[others])

    return absdiff


@register_method("nearest")
def nearest(problem: MatchProblem) -> np.ndarray:
    """Greedy nearest-neighbour matching (MatchIt ``method = "nearest"``).

    Parameters
    ----------
    problem : MatchProblem

    Returns
    -------
    ndarray
        Match matrix (focal units in data order x ``ratio``), ``-1`` for no match.

    Examples
    --------
    >>> import numpy as np
    >>> from causalpa.matching._base import MatchProblem
    >>> focal = np.array([True, True, False, False, False])
    >>> d = np.array([0.9, 0.5, 0.55, 0.85, 0.1])
    >>> nearest(MatchProblem(focal=focal, order=np.array([0, 1]), ratio=1, replace=False,
    ...                      distance=d)).tolist()
    [[3], [2]]
    """
    one_d = (problem.distance is not None and problem.features is None
             and problem.matrix is None and problem.caliper_covs is None)
    if not one_d:
        return naive_greedy(problem)
    d = np.asarray(problem.distance)
    fn = _knn_1d if problem.replace else _greedy_1d
    return _by_stratum(problem, lambda fpos, cpos: fn(d[fpos], d[cpos], cpos, problem.ratio,
                                                      problem.caliper))


def naive_greedy(problem: MatchProblem) -> np.ndarray:
    """Match greedily by scanning every available unit: the O(n1 n0) reference.

    It gives the same match matrix as :func:`nearest` (whose one-dimensional search is
    tested against it); it is also the search used for Mahalanobis and matrix distances
    and for covariate calipers.

    Examples
    --------
    >>> import numpy as np
    >>> from causalpa.matching._base import MatchProblem
    >>> p = MatchProblem(focal=np.array([False, True, False, True, False]),
    ...                  order=np.array([3, 1]), ratio=2, replace=False,
    ...                  distance=np.array([0.2, 0.4, 0.45, 0.5, 0.9]))
    >>> naive_greedy(p).tolist() == nearest(p).tolist() == [[0, -1], [2, 4]]
    True
    """
    dist_fn = _dist_fn(problem)
    return _by_stratum(problem, lambda fpos, cpos: _greedy_scan(
        fpos, cpos, dist_fn, problem.ratio, problem.replace, problem.caliper))
