"""Replicate blocks: the batched (vectorised) path and the general (one fit per replicate) path.

Both functions take a block of per-replicate seeds and return the same
structure: arrays of shape ``(replicates, tests)`` (one test = an analysis of an
outcome) for the
estimate, standard error, interval, p-value, failure flag and truth, plus
aggregated warnings and errors. Both paths simulate the replicates in
generator blocks with :meth:`Design.draw <causalpa.power.designs.Design.draw>`
(one vectorised :func:`causalpa.simulate.patient_arrays` call per block, so
both paths see the same data). The batched path stacks the
replicates into ``(replicates, n)`` arrays and runs the closed-form kernels of
:mod:`causalpa.power.analyses` on all of them at once (t test, ANCOVA, risk
difference, and the therapist-means t test of cluster trials).

Examples
--------
>>> import numpy as np
>>> from causalpa.power.designs import RandomisedTrial
>>> from causalpa.power.batched import run_batched, run_general
>>> d = RandomisedTrial(effect=0.5, analyses=("t-test",))
>>> seeds = np.random.SeedSequence(1).spawn(3)
>>> a, b = run_batched(d, 20, seeds), run_general(d, 20, seeds)
>>> bool(np.allclose(a["p_value"], b["p_value"], equal_nan=True))
True
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from causalpa.errors import SpecificationError

__all__ = ["run_batched", "run_general", "chunk_size", "FIELDS"]

FIELDS = ("estimate", "std_error", "conf_low", "conf_high", "p_value", "truth")

MEMORY_BUDGET = 256 * 2**20
"""Memory budget of one batched block (bytes); blocks are sized to stay below it."""


def chunk_size(n_total: int, n_keys: int, budget: int = MEMORY_BUDGET) -> int:
    """Replicates per batched block so that the stacked arrays fit in ``budget`` bytes.

    Each replicate holds ``n_keys`` stacked float64 arrays of length
    ``n_total`` plus about 12 temporaries of that size in the kernels.

    Examples
    --------
    >>> chunk_size(400, 6)
    4660
    """
    per_rep = 8 * max(1, n_total) * (n_keys + 12)
    return max(1, int(budget // per_rep))


def _empty(r: int, t: int) -> dict[str, Any]:
    out: dict[str, Any] = {f: np.full((r, t), np.nan) for f in FIELDS}
    out["failed"] = np.zeros((r, t), dtype=bool)
    out["warnings"] = Counter()
    out["errors"] = Counter()
    return out


def _record_warnings(counter: Counter, caught: Sequence[warnings.WarningMessage]) -> None:
    for w in caught:
        counter[(w.category.__name__, str(w.message)[:300])] += 1


def _estimand_truth(arrays: dict[str, np.ndarray], outcome: str, estimand: str) -> np.ndarray:
    from causalpa.power.designs import TRUTH_ROW

    row = TRUTH_ROW.get(outcome)
    r = arrays["pa"].shape[0]
    if row is None or estimand not in ("ATE", "ATT", "ATC"):
        return np.full(r, np.nan)
    d = arrays[f"{row}_1"] - arrays[f"{row}_0"]
    ok = np.isfinite(d)
    if estimand == "ATT":
        ok &= arrays["pa"] == 1
    elif estimand == "ATC":
        ok &= arrays["pa"] == 0
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(ok, d, 0.0).sum(axis=1) / ok.sum(axis=1)


def run_batched(design: Any, n: int, seeds: Sequence[np.random.SeedSequence]) -> dict[str, Any]:
    """Run a block of replicates on the vectorised path.

    Parameters
    ----------
    design : Design
        A design whose analyses all have batched kernels (``design.batchable``).
    n : int
        Design size.
    seeds : sequence of SeedSequence
        One seed per replicate.

    Returns
    -------
    dict
        ``estimate, std_error, conf_low, conf_high, p_value, truth`` (float
        arrays ``(replicates, tests)``), ``failed`` (bool, same
        shape), ``warnings`` and ``errors`` (Counters).
    """
    tests = design.tests()
    if any(a.batched is None for a, _, _ in tests):
        raise SpecificationError("this design has analyses without a batched kernel")
    ctxs = {o: design.context(o) for _, o, _ in tests}
    keys = list(dict.fromkeys([*ctxs, *(c.baseline for c in ctxs.values() if c.baseline),
                               *(k for a, _, _ in tests for k in a.array_keys)]))
    r = len(seeds)
    out = _empty(r, len(tests))
    n_total = design.n_total(n)
    stacked: dict[str, np.ndarray] = {}
    from causalpa.power.designs import TRUTH_ROW

    potentials = sorted({TRUTH_ROW[o] for a, o, _ in tests
                         if o in TRUTH_ROW and a.estimand_in(ctxs[o]) in ("ATE", "ATT", "ATC")})
    wanted = [*keys, *(f"{p}_{arm}" for p in potentials for arm in (0, 1))]
    for pos, arrays, lost, rows in design.draw(n, seeds, wanted):
        sel = design.select_arrays(arrays, lost, rows, keys, potentials)
        del arrays
        if not stacked:
            stacked = {k: np.empty((r, n_total)) for k in sel}
        idx = np.asarray(pos, dtype=np.intp)
        contiguous = bool(np.all(np.diff(idx) == 1)) if len(idx) > 1 else True
        for k, v in sel.items():
            if contiguous:
                stacked[k][idx[0]:idx[0] + len(idx)] = v
            else:
                stacked[k][idx] = v
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for j, (a, o, _) in enumerate(tests):
            res = a.batched(stacked, o, ctxs[o])  # type: ignore[misc]
            for f in FIELDS[:-1]:
                out[f][:, j] = res[f]
            out["truth"][:, j] = _estimand_truth(stacked, o, a.estimand_in(ctxs[o]))
            bad = ~np.isfinite(res["p_value"])
            out["failed"][:, j] = bad
            if bad.any():
                out["errors"][(a.name, o, "UndefinedStatistic",
                               "test statistic undefined (empty arm or no variation)")] += int(
                    bad.sum())
    _record_warnings(out["warnings"], caught)
    return out


def run_general(design: Any, n: int, seeds: Sequence[np.random.SeedSequence]) -> dict[str, Any]:
    """Run a block of replicates one data set at a time (any analysis).

    Each replicate is sliced from its generator block (:meth:`Design.draw`) into a
    :class:`~causalpa.simulate.SimulatedCohort` and every analysis is fitted on it. An analysis that raises (other than a
    :class:`~causalpa.errors.SpecificationError`, which means the set-up is
    wrong and is re-raised) is recorded as a failed fit with its error type
    and message; warnings are recorded and counted.
    """
    tests = design.tests()
    ctxs = {o: design.context(o) for _, o, _ in tests}  # one per block: specs are reused
    r = len(seeds)
    out = _empty(r, len(tests))
    for pos, arrays, lost, rows in design.draw(n, seeds):
        for i, row in zip(pos, rows, strict=True):
            data = design.cohort_at(n, arrays, lost, row, seeds[i])
            _fit_replicate(out, tests, ctxs, design, data, i)
    return out


def _fit_replicate(out: dict[str, Any], tests: list[tuple[Any, str, str]],
                   ctxs: dict[str, Any], design: Any, data: Any, i: int) -> None:
    """Fit every analysis on one replicate and record the results in row ``i``."""
    for j, (a, o, _) in enumerate(tests):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                est = a.func(data, o, ctxs[o])
            except SpecificationError:
                raise
            except Exception as exc:  # a failed fit: counted and reported
                out["failed"][i, j] = True
                out["errors"][(a.name, o, type(exc).__name__, str(exc)[:300])] += 1
                est = None
        _record_warnings(out["warnings"], caught)
        if est is None:
            continue
        for f in FIELDS[:-1]:
            out[f][i, j] = getattr(est, f)
        out["truth"][i, j] = design.truth(data.truth, o, a.estimand_in(ctxs[o]))
        if not np.isfinite(est.p_value):
            out["failed"][i, j] = True
            out["errors"][(a.name, o, "UndefinedStatistic", "p-value is not finite")] += 1
