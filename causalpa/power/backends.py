"""Execution backends for power simulations: in-process, joblib (loky) and Dask.

The work is split into blocks of replicates; every replicate carries its own
:class:`numpy.random.SeedSequence`, so the results do not depend on the
blocking, the number of workers or the backend. Blocks are returned in order.

Dask: pass ``backend="dask"`` and either a ``client=`` or have a
:class:`dask.distributed.Client` active (``Client("tcp://scheduler:8786")``
connects to a running cluster; ``Client(LocalCluster(...))`` starts one on this
machine). causalpa must be importable on the workers.

Examples
--------
>>> from causalpa.power.backends import run_blocks
>>> run_blocks(pow, [(2, 3), (3, 2)], n_jobs=1, backend=None)
[8, 9]
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Literal

from causalpa._validation import NONE, Constraint, Number, Options, validate_params
from causalpa.errors import SpecificationError

__all__ = ["run_blocks", "Backend", "BACKENDS", "BACKEND", "N_JOBS"]

Backend = Literal["sequential", "loky", "threading", "dask"]
"""Where blocks of replicates run (None: in-process when ``n_jobs == 1``, loky otherwise)."""
BACKENDS: tuple[str | None, ...] = (None, *typing.get_args(Backend))
BACKEND: list[Constraint] = [Options(*typing.get_args(Backend)), NONE]
"""The declaration of ``backend`` (shared by the harness's functions)."""
N_JOBS: list[Constraint] = [Number(low=1, integer=True), Options(-1)]
"""The declaration of ``n_jobs``: a positive number of workers, or -1 for every core."""


def _iter_blocks(
    func: Callable[..., Any],
    blocks: Sequence[tuple[Any, ...]],
    *,
    n_jobs: int,
    backend: str | None,
    client: Any = None,
) -> Iterator[tuple[int, Any]]:
    """Yield ``(index, result)`` as blocks finish (any order)."""
    if backend in (None, "sequential") and (n_jobs == 1 or backend == "sequential"):
        for i, args in enumerate(blocks):
            yield i, func(*args)
        return
    if backend == "dask":
        try:
            from distributed import as_completed, get_client
        except ImportError as exc:  # pragma: no cover - optional dependency
            raise SpecificationError(
                "backend='dask' needs dask.distributed: pip install 'causalpa[distributed]'"
            ) from exc
        if client is None:
            try:
                client = get_client()
            except ValueError as exc:
                raise SpecificationError(
                    "backend='dask' needs a running dask.distributed Client: create one "
                    "(Client() or Client('tcp://scheduler:8786')) or pass client="
                ) from exc
        futures = [client.submit(func, *args, pure=False) for args in blocks]
        index = {f.key: i for i, f in enumerate(futures)}
        for fut in as_completed(futures):
            yield index[fut.key], fut.result()
        return
    from joblib import Parallel, delayed

    jb = "loky" if backend is None else backend
    par = Parallel(n_jobs=n_jobs, backend=jb, return_as="generator")
    results = par(delayed(_tagged)(i, func, args) for i, args in enumerate(blocks))
    yield from results


def _tagged(i: int, func: Callable[..., Any], args: tuple[Any, ...]) -> tuple[int, Any]:
    return i, func(*args)


@validate_params({"n_jobs": N_JOBS, "backend": BACKEND})
def run_blocks(
    func: Callable[..., Any],
    blocks: Sequence[tuple[Any, ...]],
    *,
    n_jobs: int = 1,
    backend: Literal["sequential", "loky", "threading", "dask"] | None = None,
    client: Any = None,
    on_done: Callable[[int, Any], None] | None = None,
) -> list[Any]:
    """Run ``func(*args)`` for every block and return the results in block order.

    Parameters
    ----------
    func : callable
        Picklable top-level function.
    blocks : sequence of tuple
        Arguments of each call.
    n_jobs : int
        Worker processes for joblib backends (-1 = all cores).
    backend : {None, "sequential", "loky", "threading", "dask"}
        None runs in-process when ``n_jobs == 1`` and on loky otherwise.
    client : dask.distributed.Client, optional
        Client for ``backend="dask"`` (default: the active client).
    on_done : callable, optional
        Called as ``on_done(index, result)`` when a block finishes (progress bars).

    Returns
    -------
    list
    """
    out: list[Any] = [None] * len(blocks)
    for i, res in _iter_blocks(func, blocks, n_jobs=n_jobs, backend=backend, client=client):
        out[i] = res
        if on_done is not None:
            on_done(i, res)
    return out
