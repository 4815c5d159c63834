"""Per-thread copies of the most-written feature rows, merged back every few hundred steps.

With feature matrices a few rows are written by most training steps: a genre
shared by a third of the items, a popular tag. Under Hogwild every thread
writes them, and each write takes the row's cache lines away from the other
cores (true sharing). The engine gives each thread its own copy of these
*hot* rows (extra rows at the end of the parameter arrays, reached through the
thread's own copy of the feature indices, so the loss kernels are unchanged),
and the epoch kernel merges what the thread changed into the shared rows every
:data:`MERGE_EVERY` steps: ``shared += weight * (copy - snapshot)``, then
``copy = snapshot = shared``. Parameters and adagrad's sums take the sum of
the threads' changes (as Hogwild applies every thread's steps). Adadelta trains
without copies: its steps are not damped by a decaying learning rate, and the
threads' steps summed on copies overshot until fits diverged.

A side's replicas are ``(hot, base, values, snapshots, weights)``: the hot
rows, the first of this thread's copies, every parameter array of the side as
2-d (biases as one column), the thread's snapshot of its copies per array, and
a float32 array of each array's merge weight. Only with more than one thread: a
single-thread fit passes :func:`no_replicas` for both sides and never copies anything.
"""

import numpy as np

from ..._common import ITEM, USER
from ..._jit import njit

# Steps between a thread's merges. Merging every 4096 steps (from Python, between kernel
# calls) let the copies drift apart: k-OS lost 0.03 AUC on the tagged set.
MERGE_EVERY = 256


@njit(cache=True, nogil=True, fastmath=True)
def sync_rows(values, hot, base, snapshot, merge, weight):
    """Merge (if ``merge``) one thread's copies of the ``hot`` rows of ``values``, then refresh them."""
    for h in range(hot.shape[0]):
        row = hot[h]
        copy = base + h
        for c in range(values.shape[1]):
            if merge:
                values[row, c] += weight * (values[copy, c] - snapshot[h, c])
            shared = values[row, c]
            values[copy, c] = shared
            snapshot[h, c] = shared


def sync_rows_twin(values, hot, base, snapshot, merge, weight):
    """NumPy twin of :func:`sync_rows` (the test oracle)."""
    copies = slice(base, base + hot.size)
    if merge:
        values[hot] += weight * (values[copies] - snapshot)
    values[copies] = values[hot]
    snapshot[...] = values[hot]


@njit(cache=True, nogil=True, fastmath=True)
def sync_side(side, merge):
    """Merge (if ``merge``) and refresh one side's copies (nothing when it has no hot rows)."""
    hot, base, values, snapshots, weights = side
    for a in range(len(values)):
        sync_rows(values[a], hot, base, snapshots[a], merge, weights[a])


@njit(cache=True, nogil=True, fastmath=True)
def sync(replicas, merge):
    """Merge (if ``merge``) and refresh both sides' copies, ``replicas = (users', items')``."""
    sync_side(replicas[USER], merge)
    sync_side(replicas[ITEM], merge)


def side_replicas(params, hot, base, weights):
    """One thread's replicas of a side (the structure the module docstring describes).

    ``params`` are the side's arrays as the kernels train them (None entries skipped),
    ``hot`` its hot rows, ``base`` the row of the thread's first copy and ``weights``
    each array's merge weight.
    """
    values = tuple(a if a.ndim == 2 else a.reshape(-1, 1) for a in params if a is not None)
    snapshots = tuple(np.empty((hot.size, v.shape[1]), np.float32) for v in values)
    return hot, base, values, snapshots, np.asarray(weights, dtype=np.float32)


def no_replicas(params):
    """A side's replicas with no hot rows: what every side passes when it has no copies.

    Always passing the same structure, rather than None, keeps copies from doubling the
    number of compiled kernel variants.
    """
    return side_replicas(params, np.zeros(0, dtype=np.int64), 0, [1.0] * sum(a is not None for a in params))


def hot_rows(indptr, indices, steps_of_row, uniform_share, threshold, limit):
    """The feature rows a training step writes at least ``threshold`` of the time (at most ``limit``).

    A step writes the features of its example's row (``steps_of_row[r]``: how
    many of the steps have an example in row ``r``) and, with ``uniform_share``
    1, those of one row drawn uniformly (a ranking loss's negative item).
    Counts rather than the examples' rows, so that the caller makes no copy of
    the training data.
    """
    n_rows = steps_of_row.size
    n_features = int(indices.max()) + 1 if indices.size else 0
    per_row = np.diff(indptr[: n_rows + 1].astype(np.int64))
    owner = np.repeat(np.arange(n_rows, dtype=np.int64), per_row)
    used = indices[: owner.size].astype(np.int64)
    steps = np.asarray(steps_of_row, dtype=np.float64)
    rate = np.bincount(used, weights=steps[owner], minlength=n_features) / max(steps.sum(), 1.0)
    if uniform_share:
        rate += uniform_share * np.bincount(used, minlength=n_features) / max(n_rows, 1)
    order = np.argsort(-rate, kind="stable")[:limit]
    return np.sort(order[rate[order] >= threshold]).astype(np.int64)
