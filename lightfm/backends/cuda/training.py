"""Hogwild training on a GPU: one ``fit_partial`` call's epochs over the kernels of :mod:`.kernels`.

The model's arrays go to the device once per call and come back at its end.
Each epoch the examples are split into one part per worker (a warp of 32 lanes
on a GPU; contiguous for entries sorted by user, else dealt like cards:
``backends._host_kernels.deal_parts``), each worker shuffles its part with its own
RNG word (drawn from the ``random_state`` as the CPU engine draws its threads'
words) and walks it, all workers sharing the parameters without locks.

Lazy L2 (as in the CPU engine, :mod:`lightfm.backends.cpu.kernels.sgd`): representations are the
stored parameters times a per-side scale, which the parameters are divided by at
each fold. Without regularisation an epoch is one
launch. With it, an epoch runs in launches ("waves") of a bounded number of
steps per worker: within a wave every worker applies its own decay at once and
sees the others' at the next wave, when the caller multiplies the workers'
growths into the global scales and, once one passes ``FOLD_ABOVE`` (or a
worker stopped because its own did), folds them back into the parameters, as
the CPU engine does between kernel calls. With one worker this is the CPU
engine's single-thread run, step for step.
"""

from __future__ import annotations

import numpy as np
from numba import cuda

from .._common import (
    FOLD_ABOVE,
    GROWTH_BITS,
    ITEM,
    LOGISTIC,
    LOSS_CODES,
    USER,
    WARP_KOS,
    epoch_range,
    part_bounds,
    seed_states,
)
from .._host_kernels import alias_table, build_positives, count_columns, deal_parts, fill_examples
from ..base import ParameterError, Side
from . import kernels as K

# Launches per epoch under L2 regularisation: how often the workers' decays are combined.
WAVES_PER_EPOCH = 16
# Workers per SM on a GPU (warps resident at once; more only queue), and the fewest
# examples per worker below which fewer workers are used (each pays a shuffle and a launch share).
WORKERS_PER_SM = 32
MIN_EXAMPLES_PER_WORKER = 32
# Workers (warps) per block of threads on a GPU.
WARPS_PER_BLOCK = 4
_UNLIMITED = 2**62


def default_workers(n_examples):
    """How many workers an epoch of ``n_examples`` gets: enough to fill the GPU, each with a few dozen examples."""
    if K.SIMULATOR:
        most = 4
    else:
        most = cuda.get_current_device().MULTIPROCESSOR_COUNT * WORKERS_PER_SM
    return max(1, min(most, n_examples // MIN_EXAMPLES_PER_WORKER))


def _feature_arrays(feats):
    """The CSR of a side's features on the device, or placeholders for identity features."""
    if feats is None:
        return (
            cuda.to_device(np.zeros(2, dtype=np.int64)),
            cuda.to_device(np.zeros(1, dtype=np.int32)),
            cuda.to_device(np.zeros(1, dtype=np.float32)),
        )
    indptr, indices, data = feats
    return (
        cuda.to_device(np.ascontiguousarray(indptr, dtype=np.int64)),
        cuda.to_device(np.ascontiguousarray(indices, dtype=np.int32)),
        cuda.to_device(np.ascontiguousarray(data, dtype=np.float32)),
    )


def _launch_shape(n_threads, threads_per_block):
    return max(1, -(-n_threads // threads_per_block)), threads_per_block


def fit_epochs(state, data, config, epochs, random_state, verbose, lanes, workers=None):
    """Train ``state`` in place on the GPU (see :meth:`lightfm.backends.base.Backend.fit_epochs`).

    ``lanes`` is the width of a worker (32 on a GPU) and ``workers`` their
    number (None: :func:`default_workers`).
    """
    d = state.no_components
    if d > lanes * K.MAX_PER_LANE:
        raise ParameterError(
            f"no_components={d} is more than the GPU engine supports ({lanes * K.MAX_PER_LANE}): "
            "use fewer components, or device='cpu'."
        )
    loss_code = LOSS_CODES[config.loss]
    ranking = loss_code != LOGISTIC
    adadelta = config.learning_schedule == "adadelta"
    n_entries = data.labels.size

    # Examples (in COO order; each epoch shuffles a copy) and each user's own items, built as on the CPU.
    order = np.arange(n_entries, dtype=np.int32)
    if ranking:
        pos_indptr, pos_indices = build_positives(data.rows, data.cols, order, data.n_users, data.n_items)
        neg_prob, neg_alias = alias_table(count_columns(data.cols, order, data.n_items))
    else:
        pos_indptr, pos_indices = np.zeros(data.n_users + 1, dtype=np.int64), np.zeros(1, dtype=np.int32)
        neg_prob, neg_alias = np.ones(1, dtype=np.float32), np.zeros(1, dtype=np.int32)
    positives_only = config.loss in ("warp", "bpr")
    n = int(np.count_nonzero(data.labels > 0)) if positives_only else n_entries
    n_workers = max(1, min(int(workers) if workers else default_workers(n), max(n, 1)))
    fill_examples(data.labels, positives_only, order, deal_parts(data.rows, n_workers))
    starts, ends = part_bounds(n, n_workers)
    chunk = int((ends - starts).max()) if n else 0
    kos_width = max(min(int(config.n), data.n_items), 1) if loss_code == WARP_KOS else 1

    names = [f"{side}_{kind}" for side in ("user", "item") for kind in Side._fields]
    device = {name: cuda.to_device(np.ascontiguousarray(state.arrays[name], dtype=np.float32)) for name in names}
    examples = cuda.to_device(np.ascontiguousarray(order[: max(n, 1)]))
    d_order = cuda.device_array_like(examples)
    regularised = config.user_alpha > 0 or config.item_alpha > 0
    wave_steps = max(1, -(-chunk // WAVES_PER_EPOCH)) if regularised else _UNLIMITED
    arguments = dict(
        samples=(
            cuda.to_device(data.rows),
            cuda.to_device(data.cols),
            cuda.to_device(data.labels),
            cuda.to_device(data.weights if data.weights is not None else np.ones(1, dtype=np.float32)),
            data.weights is not None,
        ),
        lookup=(
            cuda.to_device(np.ascontiguousarray(pos_indptr, dtype=np.int64)),
            cuda.to_device(pos_indices if pos_indices.size else np.zeros(1, dtype=np.int32)),
            cuda.to_device(neg_prob if neg_prob.size else np.ones(1, dtype=np.float32)),
            cuda.to_device(neg_alias if neg_alias.size else np.zeros(1, dtype=np.int32)),
            np.int64(data.n_items),
            np.int64(config.max_sampled),
            np.int64(config.k),
            cuda.device_array((n_workers, kos_width), dtype=np.int64),
            cuda.device_array((n_workers, kos_width), dtype=np.float32),
        ),
        user=_feature_arrays(data.user_feats) + tuple(device[f"user_{kind}"] for kind in Side._fields),
        item=_feature_arrays(data.item_feats) + tuple(device[f"item_{kind}"] for kind in Side._fields),
        hyper=(
            np.float32(config.learning_rate),
            np.float32(config.rho),
            np.float32(config.epsilon),
            np.float32(config.user_alpha),
            np.float32(config.item_alpha),
            # Each worker folds before its own scale passes FOLD_ABOVE * 2**GROWTH_BITS; the
            # workers' growths are combined on the host, in logarithms, so they cannot overflow.
            np.float32(2.0**GROWTH_BITS),
        ),
    )
    kernel = _train_kernel(loss_code, adadelta, data.user_feats is None, data.item_feats is None)
    threads_per_block = lanes if K.SIMULATOR else lanes * WARPS_PER_BLOCK
    shape = _launch_shape(n_workers * lanes, threads_per_block)
    d_starts, d_ends = cuda.to_device(starts), cuda.to_device(ends)
    d_positions = cuda.device_array(n_workers, dtype=np.int64)
    d_worker_scales = cuda.device_array((n_workers, 2), dtype=np.float64)
    fresh_rings = np.zeros((n_workers, K.RING_SLOTS), dtype=np.int64)
    fresh_rings[:, K.RING_OLDEST] = -1
    d_rings = cuda.device_array_like(fresh_rings)

    for epoch in epoch_range(epochs, verbose):
        d_states = cuda.to_device(seed_states(random_state, n_workers))
        if n == 0:
            continue
        d_order.copy_to_device(examples)
        K.shuffle_chunks[_launch_shape(n_workers, 64)](d_order, d_starts, d_ends, d_states)
        d_positions.copy_to_device(starts)
        d_rings.copy_to_device(fresh_rings)
        scales = np.ones(2, dtype=np.float64)
        while True:
            kernel[shape](
                d_order, d_ends, d_positions, np.int64(wave_steps), d_states, d_rings, d_worker_scales,
                cuda.to_device(scales), *arguments["samples"], *arguments["lookup"],
                *arguments["user"], *arguments["item"], *arguments["hyper"], np.int64(lanes), np.int64(n_workers),
            )  # fmt: skip
            positions = d_positions.copy_to_host()
            worker_scales = d_worker_scales.copy_to_host()
            stopped_to_fold = bool((worker_scales > FOLD_ABOVE).any())
            scales = _combine(scales, worker_scales)
            if stopped_to_fold or (scales > FOLD_ABOVE).any():
                _fold(device, scales, 1.0)
            if (positions >= ends).all():
                break
        _fold(device, scales, 1.0)
        _check_finite(state, device, adadelta, epoch)

    for name in names:
        _copy_back(state, name, device[name])
    # Finite parameters whose scores overflow float32 diverged too (checked on the host, once: the
    # epochs' device-side check counts non-finite values only).
    state.check_finite(adadelta, epochs - 1 if epochs else None)


def _combine(scales, worker_scales):
    """The global scales after a wave: the product of every worker's growth (each started from ``scales``)."""
    if worker_scales.shape[0] == 1:
        return worker_scales[0].copy()  # exactly the single worker's running product, as on the CPU
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        logs = np.log(scales) + np.log(worker_scales / scales).sum(axis=0)
        return np.exp(np.minimum(logs, 700.0))


def _fold(device, scales, threshold):
    """Fold each side's scale above ``threshold`` into its stored parameters (CPU: ``renormalise``)."""
    for side, name in ((USER, "user"), (ITEM, "item")):
        s = scales[side]
        if s <= threshold:
            continue
        emb, bias = device[f"{name}_embeddings"], device[f"{name}_biases"]
        K.fold_scale[_launch_shape(max(emb.size, bias.size), 256)](emb, bias, np.float32(1.0 / s))
        scales[side] = 1.0


def _check_finite(state, device, adadelta, epoch):
    """Raise the CPU engine's divergence error once a parameter or accumulator in use is not finite."""
    names = [name for name in device if adadelta or not name.endswith("momentum")]
    counts = cuda.to_device(np.zeros(len(names), dtype=np.int64))
    for slot, name in enumerate(names):
        flat = device[name].reshape(device[name].size)
        K.count_nonfinite[_launch_shape(flat.size, 256)](flat, counts, slot)
    if counts.copy_to_host().any():
        for name in names:
            _copy_back(state, name, device[name])
        state.check_finite(adadelta, epoch)


def _copy_back(state, name, device_array):
    """Bring a trained array home, into the model's own array where it can take it (so references see it)."""
    target = state.arrays[name]
    if (
        isinstance(target, np.ndarray)
        and target.dtype == np.float32
        and target.flags.c_contiguous
        and target.flags.writeable
        and target.shape == device_array.shape
    ):
        device_array.copy_to_host(target)
    else:
        state.arrays[name] = device_array.copy_to_host()


_KERNELS: dict = {}


def _train_kernel(loss_code, adadelta, user_identity, item_identity):
    key = (loss_code, adadelta, user_identity, item_identity)
    if key not in _KERNELS:
        _KERNELS[key] = K.make_train_kernel(*key)
    return _KERNELS[key]
