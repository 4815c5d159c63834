"""What runs on the workers during training: building a shard, and one synchronisation round on it.

A shard is every interaction of a set of users (a part of
:func:`lightfm.dask._frames.split_by_user`), renumbered so that its users are
rows ``0 .. len(users) - 1``. Holding all of a user's entries is what keeps the
CPU kernels' semantics: a user's stored items are never drawn as their own
negatives. Every task here is a pure function of its arguments (seeds
included), so a task retried after a lost worker returns the same result.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .._state import KINDS, Side
from ..backends import TrainingData, get_backend


class Shard(NamedTuple):
    """One part's interactions in kernel form: ``users`` (sorted global ids) and their entries, renumbered."""

    users: np.ndarray
    rows: np.ndarray
    cols: np.ndarray
    labels: np.ndarray
    weights: np.ndarray | None
    user_feats: tuple | None
    n_items: int


def build_shard(part: dict, n_users: int, n_items: int, user_features, has_label: bool, has_weight: bool) -> Shard:
    """Check one part's columns and renumber its users; ValueError names the bad column."""
    users_global = part["user"].astype(np.int64)
    items = part["item"].astype(np.int64)
    for column, values, upper in (("user", users_global, n_users), ("item", items, n_items)):
        if values.size and (values.min() < 0 or values.max() >= upper):
            bad = values[(values < 0) | (values >= upper)][0]
            raise ValueError(
                f"interactions[{column!r}] holds {bad}, outside [0, {upper}): pass n_{column}s= (or feature "
                f"matrices) covering every {column} index."
            )
    labels = part["label"].astype(np.float32) if has_label else np.ones(users_global.size, dtype=np.float32)
    weights = part["weight"].astype(np.float32) if has_weight else None
    for column, values in (("label", labels), ("weight", weights)):
        if values is not None and not np.all(np.isfinite(values)):
            raise ValueError(f"interactions[{column!r}] holds NaN or infinite values: drop or fill them first.")
    if weights is not None and np.any(weights < 0):
        raise ValueError("interactions['weight'] holds negative sample weights: weights must be >= 0.")
    users, rows = np.unique(users_global, return_inverse=True)
    feats = None
    if user_features is not None:
        # The shard's users' rows only: the user-feature parameters themselves are shared and synchronised.
        sliced = user_features[users]
        feats = (
            np.ascontiguousarray(sliced.indptr, dtype=np.int64),
            np.ascontiguousarray(sliced.indices, dtype=np.int32),
            np.ascontiguousarray(sliced.data, dtype=np.float32),
        )
    return Shard(users, rows.astype(np.int32), items.astype(np.int32), labels, weights, feats, n_items)


def shard_users(shard: Shard) -> np.ndarray:
    """The shard's users (global ids): the client places their rows in the model."""
    return shard.users


def _round_data(shard: Shard, loss: str, epoch: int, start: float, stop: float, seed: int) -> TrainingData:
    """The shard's training data for the slice ``[start, stop)`` of epoch ``epoch``.

    Every entry (every user, for k-OS WARP) draws a number uniform in [0, 1)
    from ``(seed, epoch)``; the slice's entries are those whose number falls
    in it (see :mod:`lightfm.dask._schedule`). WARP and BPR keep every entry
    (so exclusion sets and BPR's item distribution are the full shard's) but
    zero the labels outside the slice, which makes them non-examples.
    Logistic needs no exclusion sets, so it gets its slice's entries only.
    k-OS WARP samples among a user's own items, so its slices are whole users.
    """
    rows, cols, labels, weights = shard.rows, shard.cols, shard.labels, shard.weights
    if start > 0.0 or stop < 1.0:
        draws = np.random.RandomState([seed, epoch, 0x5EED]).random_sample(max(rows.size, shard.users.size))
        if loss == "warp-kos":
            draws = draws[: shard.users.size][rows]
        inside = (draws[: rows.size] >= start) & (draws[: rows.size] < stop)
        if loss in ("warp", "bpr"):
            labels = np.where(inside, labels, np.float32(0)).astype(np.float32)
        else:
            rows, cols, labels = rows[inside], cols[inside], labels[inside]
            weights = weights[inside] if weights is not None else None
    return TrainingData(rows, cols, labels, weights, shard.user_feats, None, shard.users.size, shard.n_items)


def pack(side: Side, adadelta: bool) -> tuple:
    """A side's arrays to send; adagrad never reads the momentum arrays, so they travel as None."""
    return tuple(
        None if (kind.endswith("momentum") and not adadelta) else array for kind, array in zip(KINDS, side, strict=True)
    )


def _unpack(packed: tuple) -> Side:
    """Owned, writable copies (inputs are never modified: a retried task starts from the same values)."""
    shapes = {kind: array.shape for kind, array in zip(KINDS, packed, strict=True) if array is not None}
    return Side(
        *(
            np.zeros(shapes[kind.replace("momentum", "gradients")], dtype=np.float32)
            if array is None
            else np.array(array, copy=True)
            for kind, array in zip(KINDS, packed, strict=True)
        )
    )


def train_round(shard: Shard, shared: dict, own_users, item_feats, config, round_key, num_threads):
    """One synchronisation round on one shard: the new shard-owned user rows and the shared sides' deltas.

    ``shared`` maps side names to the packed arrays every worker starts the
    round from (the item side, and the user side when there are user
    features); ``own_users`` are the shard's own user rows (identity user
    features) or None.
    """
    from .._state import ModelState

    epoch, round_in_epoch, start, stop, seed, shard_index = round_key
    if num_threads is None:
        from distributed import get_worker

        try:
            num_threads = max(1, get_worker().state.nthreads)
        except ValueError:  # run outside a worker (tests of this function)
            num_threads = 1
    adadelta = config.learning_schedule == "adadelta"
    state = ModelState()
    for side, packed in shared.items():
        state.set_side(side, _unpack(packed))
    if own_users is not None:
        state.set_side("user", _unpack(own_users))
    data = _round_data(shard, config.loss, epoch, start, stop, seed)._replace(item_feats=item_feats)
    random_state = np.random.RandomState([seed, epoch, round_in_epoch, shard_index])
    get_backend("cpu").fit_epochs(state, data, config, 1, num_threads, random_state, False)
    deltas = {
        side: tuple(
            None if old is None else new - old
            for new, old in zip(pack(state.side(side), adadelta), packed, strict=True)
        )
        for side, packed in shared.items()
    }
    return (pack(state.side("user"), adadelta) if own_users is not None else None), deltas
