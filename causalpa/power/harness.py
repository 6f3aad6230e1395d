"""Simulated power: :func:`simulate`, :func:`curve` and :func:`sample_size`.

Every replicate has its own seed, spawned from one root
:class:`numpy.random.SeedSequence` (``SeedSequence(seed).spawn(n_sims)``, where
``seed`` comes from ``rng``). Data are simulated in generator blocks of a fixed number
of replicates (``K = min(64, 2**15 // n_total)``, see
:func:`causalpa.power.designs.replicates_per_draw`), one vectorised
:func:`causalpa.simulate.patient_arrays` call per block seeded from the root
and the block number, and replicate ``i`` is row ``i % K`` of block
``i // K``. ``K`` depends only on the design size, never on ``n_jobs``, the
backend or the task size, so

* the result is identical whatever ``n_jobs``, ``backend`` or block size;
* the batched and general paths see the same data (and give the same numbers
  for the t test, ANCOVA and risk difference);
* a power curve reuses the same replicate seeds at every n (common random
  numbers), so differences between sample sizes are less noisy.

Power is ``rejections / valid replicates`` with an exact Clopper-Pearson
Monte-Carlo interval; failed fits are excluded from both counts and reported
(``n_failed``, ``PowerResult.errors``), never silently counted as
non-rejections.

Examples
--------
>>> import causalpa as cpa
>>> design = cpa.power.RandomisedTrial(effect=0.8, analyses=("t-test", "ancova"))
>>> res = cpa.power.simulate(design, n=60, n_sims=200, rng=1, progress=False)
>>> res.tidy()[["analysis", "power"]].shape
(2, 2)
"""

from __future__ import annotations

import math
import time
import warnings
from collections import Counter
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd

from causalpa._validation import (
    NONE,
    Boolean,
    Constraint,
    Instance,
    Number,
    RandomState,
    as_seed,
    check_value,
    validate_params,
)
from causalpa.errors import CausalpaWarning, SpecificationError
from causalpa.power.analyses import adjust_pvalues, get_analysis
from causalpa.power.backends import BACKEND, N_JOBS, run_blocks
from causalpa.power.batched import FIELDS, chunk_size, run_batched, run_general
from causalpa.power.designs import Design, replicates_per_draw
from causalpa.power.results import PowerCurve, PowerResult, SampleSizeResult

__all__ = ["simulate", "curve", "sample_size", "SampleSizeResult"]

_FRACTION = Number(low=0, high=1, low_inclusive=False, high_inclusive=False)
_N = Number(low=2, integer=True)
_DESIGN = Instance(Design, "a causalpa.power design (RandomisedTrial, ClusterTrial, "
                           "LongitudinalTrial, ObservationalStudy)")
_COMMON: dict[str, Constraint | Sequence[Constraint]] = {"design": _DESIGN, "n_sims": Number(low=1, integer=True), "alpha": _FRACTION,
           "rng": RandomState(), "n_jobs": N_JOBS, "backend": BACKEND, "progress": Boolean()}
"""Declarations shared by simulate, curve and sample_size."""


# =========================================================================== seeds
def root_seed(rng: Any) -> tuple[np.random.SeedSequence, int | None]:
    """Return the root seed of a power simulation and the entropy to record (``result.seed``).

    An int seeds the root (and is recorded); None draws fresh entropy (recorded); a
    SeedSequence is the root (its entropy is recorded when it is a plain root); a
    Generator gives one integer seed from its stream (recorded).

    Examples
    --------
    >>> root_seed(7)[1], root_seed(np.random.SeedSequence(7))[1]
    (7, 7)
    """
    seed = as_seed(rng)
    if isinstance(seed, np.random.SeedSequence):
        plain = not seed.spawn_key and seed.pool_size == 4 and isinstance(seed.entropy, int)
        return seed, int(seed.entropy) if plain else None  # type: ignore[arg-type]
    return np.random.SeedSequence(seed), seed


def replicate_seeds(root: np.random.SeedSequence, n_sims: int) -> list[np.random.SeedSequence]:
    """``root.spawn(n_sims)`` for a fresh root, without changing ``root``.

    So the same root gives the same replicates however often it is used (a curve
    uses it at every n).
    """
    return [np.random.SeedSequence(root.entropy, spawn_key=(*root.spawn_key, i),
                                   pool_size=root.pool_size) for i in range(n_sims)]


def _stable_seed(rng: Any) -> Any:
    """Return a seed that gives the same root at every n of a curve or a search."""
    return as_seed(rng)


# =========================================================================== tables
def _merge(blocks: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in (*FIELDS, "failed"):
        out[f] = np.concatenate([b[f] for b in blocks], axis=0)
    w: Counter = Counter()
    e: Counter = Counter()
    for b in blocks:
        w.update(b["warnings"])
        e.update(b["errors"])
    out["warnings"], out["errors"] = w, e
    return out


def _replicate_table(res: dict[str, Any], tests: list[tuple[Any, str, str]],
                     alpha: float, multiplicity: str | None) -> pd.DataFrame:
    r = res["p_value"].shape[0]
    rep = np.arange(r)
    p = np.where(res["failed"], np.nan, res["p_value"])
    p_adj = p.copy()
    families: dict[str, list[int]] = {}
    for j, (_, _, fam) in enumerate(tests):
        families.setdefault(fam, []).append(j)
    for cols in families.values():
        if len(cols) > 1:
            p_adj[:, cols] = adjust_pvalues(p[:, cols], multiplicity)
    reject = np.where(np.isfinite(p_adj), p_adj < alpha, False)
    frames = []
    for fam, cols in families.items():
        for j in cols:
            a, o, _ = tests[j]
            frames.append(pd.DataFrame({
                "replicate": rep, "analysis": a.name, "outcome": o,
                **{f: res[f][:, j] for f in FIELDS},
                "p_adjusted": p_adj[:, j], "reject": reject[:, j], "failed": res["failed"][:, j],
            }))
        if len(cols) > 1:
            failed_any = res["failed"][:, cols].any(axis=1)
            for label, dec in (("all", reject[:, cols].all(axis=1)),
                               ("any", reject[:, cols].any(axis=1))):
                frames.append(pd.DataFrame({
                    "replicate": rep, "analysis": fam, "outcome": label,
                    **{f: np.nan for f in FIELDS}, "p_adjusted": np.nan,
                    "reject": dec & ~failed_any, "failed": failed_any,
                }))
    return pd.concat(frames, ignore_index=True)


def _multiplicity(design: Design) -> str | None:
    """Return the adjustment applied: the design's, if some family holds several tests."""
    sizes = Counter(family for _, _, family in design.tests())
    return design.multiplicity if any(k > 1 for k in sizes.values()) else None


def _counter_frame(counter: Counter, columns: list[str]) -> pd.DataFrame:
    rows = [(*k, v) for k, v in counter.most_common()]
    return pd.DataFrame(rows, columns=[*columns, "count"])


# =========================================================================== running
def _choose_path(design: Design, path: str) -> str:
    if path == "auto":
        return "batched" if design.batchable else "general"
    if path == "batched" and not design.batchable:
        slow = sorted({a.name for a, _, _ in design.tests() if a.batched is None})
        raise SpecificationError(
            f"path='batched' is not available for analyses {slow}; use path='general'"
        )
    return path


def _block_size(design: Design, n_total: int, n_sims: int, path: str, workers: int) -> int:
    """Replicates per task: sized to memory and workers, in whole generator blocks."""
    cap = chunk_size(n_total, len(design.tests()) * 2 + 8) if path == "batched" else 200
    target = math.ceil(n_sims / (4 * workers)) if workers > 1 else max(1, math.ceil(n_sims / 20))
    block_size = max(1, min(cap, target))
    # whole generator blocks per task (each generator block is simulated once)
    per_draw = replicates_per_draw(n_total)
    if block_size >= per_draw or cap >= per_draw:
        block_size = max(per_draw, (block_size // per_draw) * per_draw)
        if path == "batched" and block_size > cap:
            block_size = max(per_draw, (cap // per_draw) * per_draw)
    return block_size


def _run(design: Design, n: int, seeds: list[Any], func: Any, block_size: int,
         progress: bool, **backend: Any) -> dict[str, Any]:
    blocks = [(design, n, seeds[i:i + block_size]) for i in range(0, len(seeds), block_size)]
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(seeds), desc=f"power n={n}", unit="rep", leave=False)

    def done(i: int, res: dict[str, Any]) -> None:
        if bar is not None:
            bar.update(len(blocks[i][2]))

    try:
        parts = run_blocks(func, blocks, on_done=done, **backend)
    finally:
        if bar is not None:
            bar.close()
    return _merge(parts)


@validate_params({**_COMMON, "n": _N,
                  "block_size": [Number(low=1, integer=True), NONE], "conf_level": _FRACTION})
def simulate(
    design: Design,
    n: int,
    n_sims: int = 1000,
    alpha: float = 0.05,
    rng: int | np.random.SeedSequence | np.random.Generator | None = None,
    n_jobs: int = 1,
    backend: Literal["sequential", "loky", "threading", "dask"] | None = None,
    progress: bool = True,
    *,
    path: Literal["auto", "batched", "general"] = "auto",
    client: Any = None,
    block_size: int | None = None,
    conf_level: float = 0.95,
) -> PowerResult:
    """Estimate power by simulating the design ``n_sims`` times.

    Parameters
    ----------
    design : Design
        A :class:`RandomisedTrial`, :class:`ClusterTrial`,
        :class:`LongitudinalTrial` or :class:`ObservationalStudy`.
    n : int
        Design size (patients per arm for trials, in all for observational studies).
    n_sims : int
        Number of simulated data sets.
    alpha : float
        Significance level of each test (before multiplicity adjustment).
    rng : None, int, SeedSequence or Generator
        Randomness (SPEC 7): the root of the replicate seeds. ``None`` draws fresh
        entropy and a Generator one integer seed from its stream; the seed is
        recorded in ``result.seed`` (repeat the run with ``rng=result.seed``).
    n_jobs : int
        Worker processes (joblib/loky); -1 uses every core.
    backend : {None, "sequential", "loky", "threading", "dask"}
        Where blocks run. "dask" uses ``client`` or the active
        :class:`dask.distributed.Client`.
    progress : bool
        Show a tqdm progress bar with the estimated time to finish.
    path : {"auto", "batched", "general"}
        "batched" runs the vectorised kernels on stacked replicates (t test,
        ANCOVA, risk difference, therapist-means t test); "general" fits each
        replicate; "auto" chooses "batched" whenever every analysis has a kernel.
    client : dask.distributed.Client, optional
        Client for ``backend="dask"``.
    block_size : int, optional
        Replicates per task (default: sized to memory and workers; results do
        not depend on it).
    conf_level : float
        Level of the Clopper-Pearson interval for power.

    Returns
    -------
    PowerResult

    Examples
    --------
    >>> import causalpa as cpa
    >>> d = cpa.power.RandomisedTrial(effect=0.0, analyses=("t-test",))
    >>> r = cpa.power.simulate(d, n=30, n_sims=400, rng=3, progress=False)
    >>> 0.02 < r.power < 0.09, r.seed
    (True, 3)
    """
    chosen = _choose_path(design, path)
    root, seed_value = root_seed(rng)
    n_total = design.n_total(n)
    workers = 1 if (n_jobs == 1 and backend in (None, "sequential")) else max(2, abs(n_jobs))
    if block_size is None:
        block_size = _block_size(design, n_total, n_sims, chosen, workers)
    start = time.perf_counter()
    merged = _run(design, n, replicate_seeds(root, n_sims),
                  run_batched if chosen == "batched" else run_general, block_size, progress,
                  n_jobs=n_jobs, backend=backend, client=client)
    elapsed = time.perf_counter() - start
    result = PowerResult(
        design=design.describe(), n=n, n_total=n_total, n_sims=n_sims, alpha=alpha,
        seed=seed_value, path=chosen,
        _replicates=_replicate_table(merged, design.tests(), alpha, design.multiplicity),
        _warnings=_counter_frame(merged["warnings"], ["category", "message"]),
        _errors=_counter_frame(merged["errors"], ["analysis", "outcome", "error", "message"]),
        elapsed=elapsed, multiplicity=_multiplicity(design),
        conf_level=conf_level,
    )
    failed = int(merged["failed"].sum())
    if failed:
        warnings.warn(
            f"{failed} of {merged['failed'].size} fits failed and are excluded from power "
            "(see result.errors); power is computed over the valid replicates",
            CausalpaWarning,
            stacklevel=3,
        )
    return result


@validate_params(_COMMON)
def curve(
    design: Design,
    ns: Sequence[int],
    n_sims: int = 1000,
    alpha: float = 0.05,
    rng: int | np.random.SeedSequence | np.random.Generator | None = None,
    n_jobs: int = 1,
    backend: Literal["sequential", "loky", "threading", "dask"] | None = None,
    progress: bool = True,
    **kwargs: Any,
) -> PowerCurve:
    """Simulate power at several sample sizes with common random numbers.

    The same replicate seeds are used at every n (so the curve is smoother
    than independent runs would make it). Other arguments as :func:`simulate`.

    Examples
    --------
    >>> import causalpa as cpa
    >>> d = cpa.power.RandomisedTrial(effect=0.8, analyses=("t-test",))
    >>> c = cpa.power.curve(d, ns=[20, 40], n_sims=200, rng=1, progress=False)
    >>> c.tidy()["n"].tolist()
    [20, 40]
    """
    _check_forwarded("curve", kwargs, "ns")
    if isinstance(ns, (int, np.integer)):
        ns = [int(ns)]
    if isinstance(ns, str) or not ns:
        raise SpecificationError(f"`ns` must hold at least one sample size; got {ns!r}")
    sizes = sorted({int(check_value("ns", x, [_N])) for x in ns})
    seed = _stable_seed(rng)
    results = tuple(
        simulate(design, n=x, n_sims=n_sims, alpha=alpha, rng=seed, n_jobs=n_jobs,
                 backend=backend, progress=progress, **kwargs)
        for x in sizes
    )
    return PowerCurve(results)


def _check_forwarded(func: str, kwargs: dict[str, Any], sizes: str) -> None:
    """Refuse an ``n`` among the keyword arguments ``func`` passes on to :func:`simulate`."""
    if "n" in kwargs:
        raise SpecificationError(
            f"{func}() sets `n` itself (the sample sizes come from `{sizes}`); "
            f"remove `n={kwargs['n']!r}`"
        )


def _row_of(res: PowerResult, analysis: str | None, outcome: str | None) -> pd.Series:
    t = res.tidy()
    if analysis is not None:
        t = t[t["analysis"] == get_analysis(analysis).name]
    if outcome is not None:
        t = t[t["outcome"] == outcome]
    if t.empty:
        raise SpecificationError(f"no result row for analysis={analysis!r}, outcome={outcome!r}")
    return t.iloc[0]


@validate_params({**{k: v for k, v in _COMMON.items() if k not in ("n_jobs", "backend")},
                  "target": _FRACTION, "n_min": Number(low=2, integer=True),
                  "n_max": Number(low=2, integer=True), "tol": Number(low=0),
                  "analysis": [Instance(str, "an analysis name"), NONE],
                  "outcome": [Instance(str, "an outcome column"), NONE]})
def sample_size(
    design: Design,
    target: float = 0.8,
    n_sims: int = 1000,
    alpha: float = 0.05,
    rng: int | np.random.SeedSequence | np.random.Generator | None = None,
    *,
    n_min: int = 5,
    n_max: int = 5000,
    analysis: str | None = None,
    outcome: str | None = None,
    tol: float = 0.01,
    progress: bool = False,
    **kwargs: Any,
) -> SampleSizeResult:
    """Search the smallest n whose simulated power reaches ``target``.

    Doubling from ``n_min`` brackets the answer, then bisection on integers
    narrows it to within ``max(1, tol * n)``. The same replicate seeds are
    used at every n (common random numbers), which keeps the simulated power
    nearly monotone in n.

    Parameters
    ----------
    design : Design
        The design.
    target : float
        Target power.
    n_sims : int
        Replicates per evaluation.
    alpha : float
        Significance level.
    rng : None, int, SeedSequence or Generator
        Randomness: one root seed for every evaluation (drawn once if None).
    n_min, n_max : int
        Search range.
    analysis, outcome : str, optional
        Row of the result whose power is targeted (default: the first; use
        ``outcome="all"`` for all outcomes significant).
    tol : float
        Relative precision of the search.
    progress : bool
        Progress bars for each evaluation.
    **kwargs
        Passed to :func:`simulate` (``n_jobs``, ``backend``, ``path``, ...).

    Returns
    -------
    SampleSizeResult

    Raises
    ------
    SpecificationError
        If the power at an evaluated n is undefined (every replicate's fit failed;
        the message names the n and the most frequent errors), if ``n_max`` does not
        reach ``target``, or if ``kwargs`` set ``n``.

    Examples
    --------
    >>> import causalpa as cpa
    >>> d = cpa.power.RandomisedTrial(effect=1.2, analyses=("t-test",))
    >>> s = cpa.power.sample_size(d, target=0.8, n_sims=200, rng=2, n_min=10, n_max=200)
    >>> 10 <= s.n <= 200, s.tidy().columns.tolist()[:3]
    (True, ['analysis', 'outcome', 'n'])
    """
    _check_forwarded("sample_size", kwargs, "n_min` and `n_max")
    if n_max < n_min:
        raise SpecificationError(f"`n_max` must be >= `n_min` ({n_min}); got {n_max}")
    seed = _stable_seed(rng)
    cache: dict[int, PowerResult] = {}

    def power_at(x: int) -> float:
        if x not in cache:
            cache[x] = simulate(design, n=x, n_sims=n_sims, alpha=alpha, rng=seed,
                                progress=progress, **kwargs)
        return float(_row_of(cache[x], analysis, outcome)["power"])

    def failures(x: int) -> str:
        errors = cache[x].errors if x in cache else pd.DataFrame()
        if errors.empty:
            return "no replicate gave a valid test"
        top = "; ".join(f"{r['analysis']} on {r['outcome']}: {r['error']}: {r['message']} "
                        f"(x{r['count']})" for _, r in errors.head(3).iterrows())
        return f"{int(errors['count'].sum())} failed fits, most frequent: {top}"

    hi = _search(power_at, target, n_min, n_max, tol, failures)
    res = cache[hi]
    row = _row_of(res, analysis, outcome)
    evals = [{"n": k, **{c: float(r[c]) for c in ("power", "power_low", "power_high")}}
             for k in sorted(cache) for r in [_row_of(cache[k], analysis, outcome)]]
    return SampleSizeResult(
        n=hi, n_total=design.n_total(hi), power=float(row["power"]),
        power_low=float(row["power_low"]), power_high=float(row["power_high"]), target=target,
        result=res, _evaluations=pd.DataFrame(evals), analysis=str(row["analysis"]),
        outcome=str(row["outcome"]),
    )


def _search(power_at: Any, target: float, n_min: int, n_max: int, tol: float,
            failures: Any = None) -> int:
    """Bracket by doubling from ``n_min``, then bisect on integers.

    A power that is not a number (every replicate's fit failed) stops the search with a
    :class:`~causalpa.errors.SpecificationError` naming the n and ``failures(n)`` (a
    summary of the failed fits).

    Examples
    --------
    >>> _search(lambda n: min(1.0, n / 100), 0.8, n_min=5, n_max=500, tol=0.0)
    80
    >>> _search(lambda n: float("nan"), 0.8, n_min=5, n_max=500, tol=0.0)
    Traceback (most recent call last):
    ...
    causalpa.errors.SpecificationError: power is undefined at n = 5 (no valid replicate); raise `n_min` or revisit the design
    """
    def power(x: int) -> float:
        value = float(power_at(x))
        if not math.isfinite(value):
            detail = f": {failures(x)}" if failures is not None else ""
            raise SpecificationError(
                f"power is undefined at n = {x} (no valid replicate){detail}; raise `n_min` "
                "or revisit the design"
            )
        return value

    lo, hi = n_min, n_min
    if power(lo) >= target:
        return lo
    while power(hi) < target:
        lo = hi
        if hi >= n_max:
            raise SpecificationError(
                f"power {power(hi):.3f} at n_max = {n_max} is below the target {target}; "
                "raise `n_max` or revisit the design"
            )
        hi = min(n_max, hi * 2)
    while hi - lo > max(1, int(tol * hi)):
        mid = (lo + hi) // 2
        if power(mid) >= target:
            hi = mid
        else:
            lo = mid
    return hi
