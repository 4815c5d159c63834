"""Running Numba's parallel kernels safely from any number of Python threads."""

from __future__ import annotations

import contextlib
import threading

import numba

# Serialises parallel launches while the threading layer is unknown or not thread-safe.
_LAUNCH_LOCK = threading.Lock()
_THREADSAFE_LAYERS = ("omp", "tbb")


def _layer_is_threadsafe() -> bool:
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
    guard = contextlib.nullcontext() if _layer_is_threadsafe() else _LAUNCH_LOCK
    with guard:
        previous = numba.get_num_threads()
        numba.set_num_threads(min(num_threads, numba.config.NUMBA_NUM_THREADS))  # type: ignore[attr-defined]
        try:
            yield
        finally:
            numba.set_num_threads(previous)
