"""Helpers for the simulator tests (imported only in the child process that enables the simulator)."""

import time


def polite_polling():
    """Make the simulator's block manager hand over the GIL between polls of its threads.

    It busy-polls whether each simulated thread is blocked in a barrier or done,
    holding the GIL for a whole switch interval each time, which makes the
    simulated threads (and so the tests) several times slower. Timing only:
    the simulated semantics are unchanged. A no-op if Numba's simulator
    internals differ from what this expects.
    """
    from numba.cuda.simulator import kernel

    thread_class = getattr(kernel, "BlockThread", None)
    if thread_class is None or getattr(thread_class, "_polite", False):
        return
    is_alive = thread_class.is_alive

    def polite_is_alive(self):
        time.sleep(0)
        return is_alive(self)

    thread_class.is_alive = polite_is_alive
    thread_class._polite = True
