"""Simulated power: :func:`simulate`, :func:`curve` and :func:`sample_size`.

Every replicate has its own seed, spawned from one root
:class:`numpy.random.SeedSequence` (``SeedSequence(seed).spawn(n_sims)``).
Data are simulated in generator blocks of a fixed number of replicates
(``K = min(64, 2**15 // n_total)``, see
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
>>> res = cpa.power.simulate(design, n=60, n_sims=200, seed=1, progress=False)
>>> res.tidy()[["analysis", "power"]].shape
(2, 2)
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from causalpa._validation import check_number, check_option
from causalpa.errors import CausalpaWarning, SpecificationError
from causalpa.power.analyses import adjust_pvalues, get_analysis
from causalpa.power.backends import run_blocks
from causalpa.power.batched import FIELDS, chunk_size, run_batched, run_general
from causalpa.power.designs import Design, replicates_per_draw
from causalpa.power.results import PowerCurve, PowerResult, clopper_pearson

__all__ = ["simulate", "curve", "sample_size", "SampleSizeResult"]

PATHS = ("auto", "batched", "general")


def _root_seed(seed: Any) -> tuple[np.random.SeedSequence, int | None]:
    if isinstance(seed, np.random.SeedSequence):
        return seed, None
    if seed is None:
        ss = np.random.SeedSequence()
        return ss, int(ss.entropy)  # type: ignore[arg-type]
    seed = check_number("seed", seed, low=0, integer=True)
    return np.random.SeedSequence(seed), int(seed)


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
                "replicate": rep,
                "analysis": a.name if fam != "plan" else f"{a.name}",
                "outcome": o,
                **{f: res[f][:, j] for f in FIELDS},
                "p_adjusted": p_adj[:, j],
                "reject": reject[:, j],
                "failed": res["failed"][:, j],
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


def _counter_frame(counter: Counter, columns: list[str]) -> pd.DataFrame:
    rows = [(*k, v) for k, v in counter.most_common()]
    return pd.DataFrame(rows, columns=[*columns, "count"])


def simulate(
    design: Design,
    n: int,
    n_sims: int = 1000,
    alpha: float = 0.05,
    seed: int | np.random.SeedSequence | None = None,
    n_jobs: int = 1,
    backend: str | None = None,
    progress: bool = True,
    *,
    path: str = "auto",
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
    seed : int or SeedSequence, optional
        Root seed; ``None`` draws fresh entropy (recorded in the result).
    n_jobs : int
        Worker processes (joblib/loky); -1 uses every core.
    backend : {None, "sequential", "loky", "threading", "dask"}
        Where blocks run. "dask" uses ``client`` or the active
        :class:`dask.distributed.Client`.
    progress : bool
        Show a tqdm progress bar with the estimated time to finish.
    path : {"auto", "batched", "general"}
        "batched" runs the vectorised kernels on stacked replicates (t test,
        ANCOVA, risk difference); "general" fits each replicate; "auto"
        chooses "batched" whenever every analysis has a kernel.
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
    >>> r = cpa.power.simulate(d, n=30, n_sims=400, seed=3, progress=False)
    >>> 0.02 < r.power < 0.09
    True
    """
    if not isinstance(design, Design):
        raise SpecificationError(
            f"`design` must be a causalpa.power design (RandomisedTrial, ...); got "
            f"{type(design).__name__}"
        )
    n = int(check_number("n", n, low=2, integer=True))
    n_sims = int(check_number("n_sims", n_sims, low=1, integer=True))
    alpha = float(check_number("alpha", alpha, low=0, high=1, low_inclusive=False,
                               high_inclusive=False))
    conf_level = float(check_number("conf_level", conf_level, low=0, high=1,
                                    low_inclusive=False, high_inclusive=False))
    path = str(check_option("path", path, PATHS))
    if path == "auto":
        path = "batched" if design.batchable else "general"
    elif path == "batched" and not design.batchable:
        slow = sorted({a.name for a, _, _ in design.tests() if a.batched is None})
        raise SpecificationError(
            f"path='batched' is not available for analyses {slow}; use path='general'"
        )
    if block_size is not None:
        block_size = int(check_number("block_size", block_size, low=1, integer=True))
    root, seed_value = _root_seed(seed)
    seeds = root.spawn(n_sims)

    n_total = design.n_total(n)
    workers = 1 if (n_jobs == 1 and backend in (None, "sequential")) else max(2, abs(n_jobs))
    if path == "batched":
        keys = len(design.tests()) * 2 + 8
        cap = chunk_size(n_total, keys)
        func = run_batched
    else:
        cap = 200
        func = run_general
    if block_size is None:
        target = math.ceil(n_sims / (4 * workers)) if workers > 1 else max(1, math.ceil(n_sims / 20))
        block_size = max(1, min(cap, target))
        # whole generator blocks per task (each generator block is simulated once)
        per_draw = replicates_per_draw(n_total)
        if block_size >= per_draw or cap >= per_draw:
            block_size = max(per_draw, (block_size // per_draw) * per_draw)
            if path == "batched" and block_size > cap:
                block_size = max(per_draw, (cap // per_draw) * per_draw)
    blocks = [(design, n, seeds[i:i + block_size]) for i in range(0, n_sims, block_size)]

    start = time.perf_counter()
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=n_sims, desc=f"power n={n}", unit="rep", leave=False)

    def done(i: int, res: dict[str, Any]) -> None:
        if bar is not None:
            bar.update(len(blocks[i][2]))

    try:
        parts = run_blocks(func, blocks, n_jobs=n_jobs, backend=backend, client=client,
                           on_done=done)
    finally:
        if bar is not None:
            bar.close()
    merged = _merge(parts)
    elapsed = time.perf_counter() - start
    table = _replicate_table(merged, design.tests(), alpha, design.multiplicity)
    result = PowerResult(
        design=design.describe(),
        n=n,
        n_total=n_total,
        n_sims=n_sims,
        alpha=alpha,
        seed=seed_value,
        path=path,
        replicates=table,
        warnings=_counter_frame(merged["warnings"], ["category", "message"]),
        errors=_counter_frame(merged["errors"], ["analysis", "outcome", "error", "message"]),
        elapsed=elapsed,
        multiplicity=design.multiplicity if len(design.outcomes) > 1 else None,
        conf_level=conf_level,
    )
    failed = int(merged["failed"].sum())
    if failed:
        import warnings

        warnings.warn(
            f"{failed} of {merged['failed'].size} fits failed and are excluded from power "
            "(see result.errors); power is computed over the valid replicates",
            CausalpaWarning,
            stacklevel=2,
        )
    return result


def curve(
    design: Design,
    ns: Sequence[int],
    n_sims: int = 1000,
    alpha: float = 0.05,
    seed: int | None = None,
    n_jobs: int = 1,
    backend: str | None = None,
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
    >>> c = cpa.power.curve(d, ns=[20, 40], n_sims=200, seed=1, progress=False)
    >>> c.to_frame()["n"].tolist()
    [20, 40]
    """
    if isinstance(ns, (int, np.integer)):
        ns = [int(ns)]
    ns = sorted({int(check_number("ns", x, low=2, integer=True)) for x in ns})
    if not ns:
        raise SpecificationError("`ns` must contain at least one sample size")
    if seed is None:
        seed = int(np.random.SeedSequence().entropy % (2**63))  # type: ignore[operator]
    results = tuple(
        simulate(design, n=x, n_sims=n_sims, alpha=alpha, seed=seed, n_jobs=n_jobs,
                 backend=backend, progress=progress, **kwargs)
        for x in ns
    )
    return PowerCurve(results)


@dataclass(frozen=True)
class SampleSizeResult:
    """Smallest n whose simulated power reaches the target.

    Attributes
    ----------
    n : int
        Design size found (per arm for trials, in all for observational studies).
    n_total : int
        Participants in all.
    power, power_low, power_high : float
        Simulated power at ``n`` and its Clopper-Pearson interval.
    target : float
        Target power.
    result : PowerResult
        The simulation at ``n``.
    evaluations : pandas.DataFrame
        Every n tried with its power and interval.
    """

    n: int
    n_total: int
    power: float
    power_low: float
    power_high: float
    target: float
    result: PowerResult
    evaluations: pd.DataFrame

    def summary(self) -> str:
        """Return a short report."""
        msg = (f"n = {self.n} ({self.n_total} in all) reaches power {self.power:.3f} "
               f"[95% CI {self.power_low:.3f}, {self.power_high:.3f}] (target {self.target:g})")
        if self.power_low < self.target:
            msg += ("\n  note: the Monte-Carlo interval includes powers below the target; "
                    "increase n_sims for a firmer answer")
        return msg

    def __repr__(self) -> str:
        return f"<SampleSizeResult\n{self.summary()}\n>"


def sample_size(
    design: Design,
    target: float = 0.8,
    n_sims: int = 1000,
    alpha: float = 0.05,
    seed: int | None = None,
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
    seed : int, optional
        Root seed (drawn once if None).
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

    Examples
    --------
    >>> import causalpa as cpa
    >>> d = cpa.power.RandomisedTrial(effect=1.2, analyses=("t-test",))
    >>> s = cpa.power.sample_size(d, target=0.8, n_sims=200, seed=2, n_max=200)
    >>> 5 <= s.n <= 200
    True
    """
    target = float(check_number("target", target, low=0, high=1, low_inclusive=False,
                                high_inclusive=False))
    n_min = int(check_number("n_min", n_min, low=2, integer=True))
    n_max = int(check_number("n_max", n_max, low=n_min, integer=True))
    if seed is None:
        seed = int(np.random.SeedSequence().entropy % (2**63))  # type: ignore[operator]
    cache: dict[int, PowerResult] = {}

    def power_at(x: int) -> float:
        if x not in cache:
            cache[x] = simulate(design, n=x, n_sims=n_sims, alpha=alpha, seed=seed,
                                progress=progress, **kwargs)
        t = cache[x].tidy()
        if analysis is not None:
            t = t[t["analysis"] == get_analysis(analysis).name]
        if outcome is not None:
            t = t[t["outcome"] == outcome]
        if t.empty:
            raise SpecificationError(f"no result row for analysis={analysis!r}, outcome={outcome!r}")
        return float(t["power"].iloc[0])

    lo, hi = n_min, n_min
    if power_at(lo) >= target:
        hi = lo
    else:
        while power_at(hi) < target:
            lo = hi
            if hi >= n_max:
                raise SpecificationError(
                    f"power {power_at(hi):.3f} at n_max = {n_max} is below the target {target}; "
                    "raise `n_max` or revisit the design"
                )
            hi = min(n_max, hi * 2)
        while hi - lo > max(1, int(tol * hi)):
            mid = (lo + hi) // 2
            if power_at(mid) >= target:
                hi = mid
            else:
                lo = mid
    res = cache[hi]
    t = res.tidy()
    if analysis is not None:
        t = t[t["analysis"] == get_analysis(analysis).name]
    if outcome is not None:
        t = t[t["outcome"] == outcome]
    row = t.iloc[0]
    evals = pd.DataFrame(
        [{"n": k, "power": power_at(k), **dict(zip(("power_low", "power_high"), _ci(cache[k], t.index[0]), strict=True))}
         for k in sorted(cache)]
    )
    return SampleSizeResult(
        n=hi, n_total=design.n_total(hi), power=float(row["power"]),
        power_low=float(row["power_low"]), power_high=float(row["power_high"]), target=target,
        result=res, evaluations=evals,
    )


def _ci(res: PowerResult, idx: Any) -> tuple[float, float]:
    row = res.tidy().loc[idx]
    k, nv = int(row["n_rejected"]), int(row["n_valid"])
    return clopper_pearson(k, nv, res.conf_level)
