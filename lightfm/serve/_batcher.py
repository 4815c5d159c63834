"""Requests that wait at the same time are scored by one library call, off the event loop.

``recommend`` and ``similar_items`` have a fixed cost per call (the item side of the scoring product is
assembled for the whole catalogue) that is larger than the cost of one more user: scoring the requests
that queued while the previous call ran in one call serves a busy service several times faster, and an
idle one exactly as before (a request that finds the queue empty is scored alone, at once). Nothing
waits on purpose for a batch to fill.

One thread runs the calls, so the event loop only parses requests and writes answers; the library's
calls are thread-safe and release the GIL in their kernels and BLAS products.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable, Hashable, Sequence
from typing import Any

logger = logging.getLogger("lightfm.serve")


class _Job:
    __slots__ = ("key", "payload", "run", "loop", "future")

    def __init__(self, key, payload, run, loop, future):
        self.key, self.payload, self.run, self.loop, self.future = key, payload, run, loop, future


def _settle(outcomes) -> None:
    """On the event loop: hand each future its result or exception (unless its request was cancelled)."""
    for future, result, error in outcomes:
        if future.done():
            continue
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)


class Batcher:
    """A queue of jobs and the thread that runs them, jobs with equal keys together.

    ``submit(key, payload, run)`` returns an awaitable: ``run(payloads)`` is called with the payloads
    of every job of that key waiting at the time (at most ``max_batch``) and returns one result per
    payload. Keys say which jobs may share a call: the same model version, kind of query and options.
    """

    def __init__(self, max_batch: int = 64, name: str = "lightfm-serve-scoring"):
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)
        self._thread.start()
        self.calls = 0  # library calls made, and jobs served (for the benchmark's batch sizes)
        self.jobs = 0

    def submit(self, key: Hashable, payload: Any, run: Callable[[Sequence[Any]], list]) -> asyncio.Future:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._queue.put(_Job(key, payload, run, loop, future))
        return future

    def _work(self) -> None:
        while True:
            jobs = [self._queue.get()]
            while len(jobs) < self.max_batch:
                try:
                    jobs.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            groups: dict = {}
            for job in jobs:
                groups.setdefault(job.key, []).append(job)
            settled: dict = {}
            for group in groups.values():
                for job, result, error in self._run(group):
                    settled.setdefault(job.loop, []).append((job.future, result, error))
            for loop, outcomes in settled.items():
                try:
                    loop.call_soon_threadsafe(_settle, outcomes)
                except RuntimeError:  # the loop has closed: the service is shutting down
                    pass

    def _run(self, group: list) -> list:
        self.calls += 1
        self.jobs += len(group)
        try:
            results = group[0].run([job.payload for job in group])
            return [(job, result, None) for job, result in zip(group, results, strict=True)]
        except Exception as error:  # noqa: BLE001 - handed to the request that caused it
            if len(group) == 1:
                return [(group[0], None, error)]
            # One request's failure must not fail the others that shared its call: each on its own.
            logger.debug("a batch of %d failed (%s); scoring them one by one", len(group), error)
            outcomes = []
            for job in group:
                outcomes += self._run([job])
            return outcomes
