"""Optimal pair (k:1) matching: minimum total distance over all focal-control pairings.

Solved exactly as a rectangular assignment problem
(:func:`scipy.optimize.linear_sum_assignment`, the Jonker-Volgenant algorithm),
with each focal unit repeated ``ratio`` times so that it receives ``ratio``
distinct matches (as ``optmatch::pairmatch(controls = ratio)`` used by MatchIt's
``method = "optimal"``). ``exact`` strata are solved separately; discarded units
are left out. A caliper (on the distance or a covariate) marks pairs as forbidden
(MatchIt 4.5.1 ignores calipers with ``method = "optimal"``); focal units that can only be paired outside it stay
unmatched. Distances form a dense n1 x n0 matrix, so this method suits samples
up to a few tens of thousands of units; use greedy matching beyond that.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

from causalpa.errors import DataError
from causalpa.matching._base import MatchProblem, register_method
from causalpa.matching.nearest import _dist_fn, _strata, _to_matrix

__all__ = ["optimal"]

_MAX_CELLS = 60_000_000


@register_method("optimal")
def optimal(problem: MatchProblem) -> np.ndarray:
    """Optimal pair matching (minimum total within-pair distance).

    Examples
    --------
    >>> import numpy as np
    >>> from causalpa.matching._base import MatchProblem
    >>> focal = np.array([True, True, False, False])
    >>> d = np.array([0.5, 0.6, 0.45, 0.9])
    >>> optimal(MatchProblem(focal=focal, order=np.array([0, 1]), ratio=1, replace=False,
    ...                      distance=d)).tolist()
    [[2], [3]]
    """
    if problem.replace:
        raise DataError("optimal matching is without replacement; use method='nearest'")
    fn = _dist_fn(problem)
    results: dict[int, list[int]] = {}
    for fpos, cpos in _strata(problem):
        if len(fpos) == 0 or len(cpos) == 0:
            continue
        fpos = np.sort(fpos)
        cells = len(fpos) * problem.ratio * len(cpos)
        if cells > _MAX_CELLS:
            raise DataError(
                f"optimal matching would need a {len(fpos) * problem.ratio} x {len(cpos)} "
                "distance matrix; use method='nearest' (greedy) for samples this large"
            )
        D = np.vstack([fn(int(f), cpos) for f in fpos])
        big = None
        bad = ~np.isfinite(D)  # a covariate caliper fails
        if problem.caliper is not None:
            bad |= D > problem.caliper
        if bad.any():
            big = (np.max(np.where(bad, 0, D)) + 1.0) * (len(fpos) * problem.ratio + 1)
            D = np.where(bad, big, D)
        rows = np.repeat(np.arange(len(fpos)), problem.ratio)
        r, c = linear_sum_assignment(D[rows])
        for rr, cc in sorted(zip(r.tolist(), c.tolist(), strict=True)):
            f = int(fpos[rows[rr]])
            if big is not None and D[rows[rr], cc] >= big:
                continue
            results.setdefault(f, []).append(int(cpos[cc]))
    for f in list(results):
        vals = results[f]
        results[f] = sorted(vals, key=lambda c: (float(fn(f, np.array([c]))[0]), c))
    return _to_matrix(problem, results)
