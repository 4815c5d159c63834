"""Running Numba's parallel kernels safely from any number of Python threads."""

from __future__ import annotations

import contextlib
import functools
import threading
from concurrent.futures import ThreadPoolExecutor

_BLAS_LOCK = threading.Lock()
_blas_state: dict = {"users": 0, "limiter": None}
# Serialises parallel launches while the threading layer is unknown or not thread-safe.
_LAUNCH_LOCK = threading.Lock()
_THREADSAFE_LAYERS = ("omp", "tbb")


def _layer_is_threadsafe() -> bool:
    import numba  # here: the engine's NumPy-only paths run without loading Numba

    try:
        return numba.threading_layer() in _THREADSAFE_LAYERS
    except ValueError:  # no parallel kernel has run yet, so no layer is loaded
        return False


@contextlib.contextmanager
def numba_threads(num_threads: int):
    """Run this thread's Numba parallel regions on ``num_threads`` threads.

    ``omp`` and ``tbb`` accept parallel launches from several Python threads at
    once; Numba's fallback ``workqueue`` layer aborts the process instead, so
    with it (and before the first launch has loaded a layer) launches take
    turns behind a lock.
    """
    import numba

    guard = contextlib.nullcontext() if _layer_is_threadsafe() else _LAUNCH_LOCK
    with guard:
        previous = numba.get_num_threads()
        numba.set_num_threads(min(num_threads, numba.config.NUMBA_NUM_THREADS))  # type: ignore[attr-defined]
        try:
            yield
        finally:
            numba.set_num_threads(previous)


@functools.lru_cache(maxsize=1)
def _blas_controller():
    """threadpoolctl's view of the loaded BLAS libraries (found once: the search costs far more than a limit)."""
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # pragma: no cover - a dependency, but degrade gracefully
        return None
    return ThreadpoolController()


@contextlib.contextmanager
def single_threaded_blas():
    """Limit BLAS to one thread while any caller is inside (reference-counted across threads).

    Scoring blocks on several of our own threads, each with its own matrix
    product, beats one multi-threaded product followed by ranking: BLAS worker
    threads busy-wait after a product and would compete with ours for the
    cores. The first caller in sets the limit and the last one out restores
    it, so concurrent callers never leave BLAS limited. Needs threadpoolctl
    (else BLAS is left alone).
    """
    with _BLAS_LOCK:
        if _blas_state["users"] == 0:
            controller = _blas_controller()
            _blas_state["limiter"] = controller.limit(limits=1, user_api="blas") if controller else None
        _blas_state["users"] += 1
    try:
        yield
    finally:
        with _BLAS_LOCK:
            _blas_state["users"] -= 1
            if _blas_state["users"] == 0 and _blas_state["limiter"] is not None:
                _blas_state["limiter"].restore_original_limits()
                _blas_state["limiter"] = None


def run_blocks(n_rows: int, block: int, num_threads: int, work) -> None:
    """Call ``work(start, stop)`` over consecutive blocks of ``n_rows`` rows.

    With ``num_threads`` > 1 the blocks (made small enough that every thread
    gets some) run on that many threads under :func:`single_threaded_blas`;
    ``work`` must release the GIL for its heavy parts (BLAS and ``nogil``
    kernels do). Exceptions propagate.
    """
    if num_threads > 1:
        block = max(1, min(block, -(-n_rows // num_threads)))
    starts = range(0, n_rows, block)
    if num_threads == 1 or len(starts) <= 1:
        for start in starts:
            work(start, min(start + block, n_rows))
        return
    pool = _pool(num_threads)
    with single_threaded_blas():
        futures = [pool.submit(work, start, min(start + block, n_rows)) for start in starts]
        for future in futures:
            future.result()


@functools.lru_cache(maxsize=8)
def _pool(num_threads: int) -> ThreadPoolExecutor:
    """A long-lived pool per thread count: starting threads on every call costs as much as small rankings."""
    return ThreadPoolExecutor(max_workers=num_threads, thread_name_prefix="lightfm-scoring")
