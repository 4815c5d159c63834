"""Hogwild training on the CPU: one ``fit_partial`` call's epochs over the Numba kernels.

Each epoch the examples are split into one part per thread (contiguous for
entries sorted by user, else dealt like cards: ``backends._host_kernels.deal_parts``),
and every thread shuffles its part and walks it with the epoch kernel of the loss
(:mod:`.kernels.epoch`), all threads sharing the parameter arrays without locks. The kernels stop when a
lazy-regularisation scale grows past ``FOLD_ABOVE``; the scales are then folded
back into the parameters and every thread resumes where it stopped.
"""

from __future__ import annotations

import contextlib
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .._common import LOSS_CODES, cache_aligned, cache_aligned_zeros, epoch_range, part_bounds, seed_states
from .._host_kernels import alias_table, build_positives, count_columns, deal_parts, fill_examples
from ..base import Side
from .kernels.epoch import make_scratch, run_chunk
from .kernels.layout import EMB, EMB_ACC, KOS_N, LABELS, OWN_GROWTH
from .kernels.replicas import hot_rows, no_replicas, side_replicas
from .kernels.rng import shuffle_range
from .kernels.sgd import growth_limits, renormalise, reset_scales, scale_table

# Parameter bytes (embeddings and their accumulators) from which training prefetches rows:
# about twice a server core's L2 cache. Below it prefetching only costs instructions.
_PREFETCH_ABOVE_BYTES = 4 << 20

# Per-thread copies of hot feature rows (see .kernels.replicas): at most this many rows per
# side, each written by at least this share of the training steps.
_HOT_ROWS = 32
_HOT_SHARE = 0.01
# Beyond this much extra memory (the side's parameters copied with the threads' rows, and one
# copy of its feature indices per thread) a side is trained without copies.
_REPLICA_BUDGET_BYTES = 64 << 20

_NO_WEIGHTS = np.zeros(0, dtype=np.float32)
# Logistic training samples no negatives, so it needs no positives lookup.
_NO_LOOKUP = (
    np.zeros(1, dtype=np.int64),
    np.zeros(0, dtype=np.int32),
    (np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.int32)),
    0,
)


def fit_epochs(state, data, config, epochs, num_threads, random_state, verbose):
    """Train ``state`` in place (see :meth:`lightfm.backends.base.Backend.fit_epochs`)."""
    ranking = config.loss != "logistic"
    # Every entry, for the positives lookup; then the epochs' example order, in place.
    order = np.arange(data.labels.size, dtype=np.int32)
    adadelta = config.learning_schedule == "adadelta"
    # k-OS samples at most n of a user's own items, never more than there are items (its buffers' size).
    kos_samples = min(int(config.n), data.n_items) if config.loss == "warp-kos" else 1
    job = _EpochJob(
        loss_code=LOSS_CODES[config.loss],
        # WARP and BPR step on the positive entries; k-OS WARP on every entry (a visit
        # to its user), logistic on every entry (> 0 positive, <= 0 negative).
        positives_only=config.loss in ("warp", "bpr"),
        order=order,
        n_parts=deal_parts(data.rows, num_threads),
        samples=(_unsigned(data.rows, np.uint32), _unsigned(data.cols, np.uint32), data.labels),
        # An empty array for no weights: one kernel serves both (.kernels.losses._weight).
        weights=_NO_WEIGHTS if data.weights is None else data.weights,
        lookup=_positives_lookup(data, order, config.loss == "bpr") if ranking else _NO_LOOKUP,
        loss_args=(int(config.max_sampled), int(config.k), kos_samples),
        user=(_unsigned_feats(data.user_feats), _side_parameters(state, "user", adadelta)),
        item=(_unsigned_feats(data.item_feats), _side_parameters(state, "item", adadelta)),
        schedule=(np.float32(config.learning_rate), np.float32(config.rho), np.float32(config.epsilon)),
        # The last three bound the scales' growth between folds, refreshes and announcements (.kernels.sgd).
        alphas=tuple(np.float32(a) for a in (config.user_alpha, config.item_alpha, *growth_limits(num_threads))),
    )
    # No copies under adadelta: its step is a ratio of running averages, with no learning rate
    # decaying it, and summing the threads' steps on copies whose averages never see the other
    # threads' steps overshot until the fit diverged (MovieLens 100k with feature matrices on
    # 2 threads: 6 of 8 loss and side settings; shared rows, as in the original: none).
    if num_threads > 1 and not adadelta and (data.user_feats is not None or data.item_feats is not None):
        job.replicate(num_threads, data.rows, data.cols, uniform_items=config.loss in ("warp", "warp-kos"))
    try:
        with ThreadPoolExecutor(max_workers=num_threads) if num_threads > 1 else contextlib.nullcontext() as pool:
            for epoch in epoch_range(epochs, verbose):
                job.run(seed_states(random_state, num_threads), pool)
                job.store()
                state.check_finite(adadelta, epoch)
    finally:
        job.store()  # an interrupted epoch's progress too, as without copies


def _unsigned(indices, dtype):
    """Validated (non-negative) indices, viewed as unsigned for the kernels.

    Numba wraps negative indices around (``a[-1]``), which costs a few
    instructions per access with a signed index and none with an unsigned
    one: 0.88x-0.93x the training time with feature matrices, 0.97x-0.98x on
    ids only (BENCHMARKS.md, hybrid models). A view, not a copy.
    """
    signed = np.dtype(dtype).str.replace("u", "i")
    return np.ascontiguousarray(indices, dtype=signed).view(dtype)


def _unsigned_feats(feats):
    """A side's CSR ``(indptr, indices, data)`` with unsigned indices (see :func:`_unsigned`); None stays None."""
    if feats is None:
        return None
    indptr, indices, data = feats
    return (_unsigned(indptr, np.uint64), _unsigned(indices, np.uint32), data)


def _positives_lookup(data, entries, bpr):
    """Each user's own items (sorted, unique), and BPR's negative sampler, from ``entries``.

    Every stored entry counts, whatever its value: an item a user rated -1 is
    not drawn as that user's negative either (as in the original LightFM).
    BPR draws negatives from the empirical item distribution of the stored
    entries (an item as often as it is stored), through an alias table; the
    other losses draw uniformly and get empty arrays of the table's types (the
    same kernel signature, and two kernels fewer to load).
    """
    indptr, indices = build_positives(data.rows, data.cols, entries, data.n_users, data.n_items, True)
    negatives = alias_table(count_columns(data.cols, entries, data.n_items)) if bpr else _NO_LOOKUP[2]
    return (indptr, indices, negatives, data.n_items)


def _side_parameters(state, side, adadelta):
    """The kernel's ``params`` tuple; adagrad passes None for the unused momentum arrays.

    Arrays not starting on a cache line (after unpickling, loading or ``resize``)
    are re-allocated first: the training kernels read whole rows. Only training
    needs it, so prediction and serving never copy.
    """
    arrays = Side(*(cache_aligned(array) for array in state.side(side)))
    state.set_side(side, arrays)
    return (
        arrays.embeddings,
        arrays.embedding_gradients,
        arrays.embedding_momentum if adadelta else None,
        arrays.biases,
        arrays.bias_gradients,
        arrays.bias_momentum if adadelta else None,
    )


class _Replicas:
    """One side's hot feature rows, copied for every thread (see :mod:`.kernels.replicas`).

    The kernels train on ``params``: the side's arrays with each thread's
    copies appended as extra rows, which thread ``t`` reaches through
    ``feats[t]``, its copy of the feature indices with the hot ones redirected;
    ``kernel_args[t]`` is what its epoch kernel merges them with. :meth:`store`
    copies the trained rows back into the model's arrays.
    """

    def __init__(self, feats, params, hot, n_threads):
        self.shared = params
        self.n_rows = params[EMB].shape[0]
        self.params = tuple(None if a is None else _with_rows(a, n_threads * hot.size) for a in params)
        indptr, indices, data = feats
        slot = np.full(self.n_rows, -1, dtype=np.int64)
        slot[hot] = np.arange(hot.size)
        at = np.flatnonzero(slot[indices] >= 0)
        self.feats = []
        for t in range(n_threads):
            own = indices.copy()
            own[at] = self.n_rows + t * hot.size + slot[indices[at]]
            self.feats.append((indptr, own, data))
        # Parameters and adagrad's sums add the threads' changes (adadelta trains without copies).
        weights = [1.0] * sum(a is not None for a in params)
        bases = (self.n_rows + t * hot.size for t in range(n_threads))
        self.kernel_args = [side_replicas(self.params, hot, base, weights) for base in bases]

    @staticmethod
    def extra_bytes(feats, params, n_hot, n_threads):
        rows = params[EMB].shape[0]
        copied = sum(a.nbytes // rows * (rows + n_threads * n_hot) for a in params if a is not None)
        return copied + n_threads * feats[1].nbytes

    def store(self):
        for shared, own in zip(self.shared, self.params, strict=True):
            if shared is not None:
                shared[...] = own[: self.n_rows]


def _with_rows(array, extra):
    """A cache-aligned copy of ``array`` with ``extra`` zero rows appended."""
    grown = cache_aligned_zeros((array.shape[0] + extra,) + array.shape[1:], array.dtype)
    grown[: array.shape[0]] = array
    return grown


class _EpochJob:
    """One fit_partial call's training data in kernel form, and how to run an epoch of it."""

    def __init__(
        self,
        loss_code,
        positives_only,
        order,
        n_parts,
        samples,
        weights,
        lookup,
        loss_args,
        user,
        item,
        schedule,
        alphas,
    ):
        self.loss_code = loss_code
        self.positives_only = positives_only
        self.order = order  # one int32 per stored entry; each epoch writes its examples to the start
        self.n_parts = n_parts  # parts the examples are dealt to (deal_parts): 1 or the number of threads
        self.samples = samples
        self.weights = weights
        self.lookup = lookup
        self.loss_args = loss_args
        self.user = user
        self.item = item
        self.schedule = schedule
        self.alphas = alphas
        self.replicas = (None, None)  # users', items': see replicate()
        self._thread_args_cache = {}

    def replicate(self, n_threads, rows, cols, uniform_items):
        """Give each thread copies of the hot rows of each side with a feature matrix.

        ``rows`` / ``cols``: the users and items of every stored entry;
        ``uniform_items``: whether each step also writes an item drawn
        uniformly (WARP's and k-OS's negatives). A side whose copies would
        cost more than ``_REPLICA_BUDGET_BYTES`` is left shared. Counts the
        epoch's examples per row through ``order``, without copying the
        training data.
        """
        examples = self.order[: fill_examples(self.samples[LABELS], self.positives_only, self.order, 1)]
        replicas = []
        for (feats, params), example_rows, uniform in (
            (self.user, rows, 0.0),
            (self.item, cols, 1.0 if uniform_items else 0.0),
        ):
            if feats is None:
                replicas.append(None)
                continue
            steps_of_row = count_columns(example_rows, examples, feats[0].size - 1)
            hot = hot_rows(feats[0], feats[1], steps_of_row, uniform, _HOT_SHARE, _HOT_ROWS)
            fits = hot.size and _Replicas.extra_bytes(feats, params, hot.size, n_threads) <= _REPLICA_BUDGET_BYTES
            replicas.append(_Replicas(feats, params, hot, n_threads) if fits else None)
        self.replicas = tuple(replicas)
        self.user, self.item = (
            side if copies is None else (side[0], copies.params)
            for side, copies in zip((self.user, self.item), self.replicas, strict=True)
        )

    def store(self):
        """Copy the trained rows of replicated sides back into the model's arrays."""
        for copies in self.replicas:
            if copies is not None:
                copies.store()

    def _thread_args(self, t):
        """Thread ``t``'s ``(user_feats, item_feats, replicas)``, made once per fit."""
        if t not in self._thread_args_cache:
            feats, replicas = [], []
            for side, copies in zip((self.user, self.item), self.replicas, strict=True):
                feats.append(side[0] if copies is None else copies.feats[t])
                replicas.append(no_replicas(side[1]) if copies is None else copies.kernel_args[t])
            self._thread_args_cache[t] = (feats[0], feats[1], tuple(replicas))
        return self._thread_args_cache[t]

    @property
    def prefetch_rows(self):
        """Whether the embedding rows and accumulators outgrow a core's cache, so prefetching pays."""
        parameter_bytes = sum(side[1][EMB].nbytes + side[1][EMB_ACC].nbytes for side in (self.user, self.item))
        return parameter_bytes > _PREFETCH_ABOVE_BYTES

    def run(self, states, pool):
        """One epoch: each thread shuffles its chunk of the examples and walks it.

        The kernels stop when a lazy-regularisation scale grows past FOLD_ABOVE;
        the scales are then folded back into the parameters and every thread
        resumes where it stopped. At the end of the epoch every scale is folded,
        so the parameter arrays hold effective values.
        """
        n_threads = states.size
        n = fill_examples(self.samples[LABELS], self.positives_only, self.order, self.n_parts)
        starts, ends = (bounds.tolist() for bounds in part_bounds(n, n_threads))
        positions = list(starts)
        shuffled = [False] * n_threads
        scratches = [make_scratch(self.user[1][EMB].shape[1], self.loss_args[KOS_N]) for _ in range(n_threads)]
        table = scale_table(n_threads)
        opts = [(self.schedule, self.alphas, table[t], table) for t in range(n_threads)]
        prefetch_rows = self.prefetch_rows

        def walk(t):
            state = states[t]
            if not shuffled[t]:
                # Numba returns uint64 as a Python int, which it would re-type as int64.
                state = np.uint64(shuffle_range(self.order, starts[t], ends[t], state))
                shuffled[t] = True
            user_feats, item_feats, replicas = self._thread_args(t)
            state, positions[t] = run_chunk(
                self.loss_code, self.order, positions[t], ends[t], state, self.samples, self.weights,
                self.lookup, self.loss_args, user_feats, self.user[1], item_feats, self.item[1],
                opts[t], scratches[t], prefetch_rows, replicas,
            )  # fmt: skip
            states[t] = np.uint64(state)

        while True:
            active = [t for t in range(n_threads) if positions[t] < ends[t]]
            if not active:
                break
            if pool is None or len(active) == 1:
                for t in active:
                    walk(t)
            else:
                for future in [pool.submit(walk, t) for t in active]:
                    future.result()
            scales = table[:-1, OWN_GROWTH : OWN_GROWTH + 2].prod(axis=0)  # every thread's growth: each side's scale
            for side, params in enumerate((self.user[1], self.item[1])):
                renormalise(params, scales, side, 1.0)
            reset_scales(table)
