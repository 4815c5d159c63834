"""The epoch kernels: Hogwild SGD over a shuffled order of training examples, one kernel per loss.

:func:`run_chunk` runs a serial, GIL-free kernel; the engine
(:mod:`lightfm.backends.cpu.training`) runs one call per thread from a Python
thread pool, each on its own contiguous chunk of ``order`` with its own RNG
word, all sharing the parameters without locks (Hogwild, Recht et al. 2011).
Python threads rather than ``prange`` because a parallel region cannot capture
the tuples and None-typed arguments that select the identity-feature and
schedule code paths at compile time, and because it keeps training independent
of Numba's threading layer. With one thread a run
is a pure function of its seed.

Arguments, all plain arrays, scalars and tuples of them:

- ``order``: int32 positions into the COO arrays; ``order[lo:hi]`` is the
  part of the thread's chunk this call walks (the caller shuffles each chunk
  with :func:`lightfm.backends.cpu.kernels.rng.shuffle_range` at the start of an epoch).
- ``samples = (rows, cols, labels)``: the COO interactions (the engine passes
  ``rows`` and ``cols`` as uint32 views, feature indices unsigned too); ``weights``: the
  sample weights aligned with them, or an empty array for weight 1.
- ``lookup = (pos_indptr, pos_indices, (neg_prob, neg_alias), n_items)``: each
  user's own items (every stored entry, sorted), and the alias table BPR
  draws negatives from (:mod:`lightfm.backends.cpu.kernels.candidates` draws them ahead of use).
- ``loss_args = (max_sampled, k, n)``.

Each tuple's entries are read by the names in :mod:`.layout` (``opt[ALPHAS]``, ``scratch[RING]``).
- ``user_feats``, ``user_params``, ``item_feats``, ``item_params`` as in
  :mod:`lightfm.backends.cpu.kernels.sgd`.
- ``opt = ((learning_rate, rho, epsilon), (user_alpha, item_alpha, max_growth, refresh_above,
  announce_above), scales, table)`` with ``scales`` this thread's line of the
  float64 ``table`` of lazy-regularisation scales, ``max_growth`` the cap on one
  step's growth of a scale, and the growths after which a thread re-reads the
  others' and announces its own (see :mod:`.sgd`).
- ``loss_args[KOS_N]``, ``n``, is also the size of k-OS's sample buffers in ``scratch``.

A kernel call returns ``(state, p)``: the advanced RNG state and the position
it reached, possibly ``lo`` itself. It stops before ``hi`` once a scale passes
:data:`lightfm.backends._common.FOLD_ABOVE`; the caller folds the scales back into
the parameters and calls again from ``p`` with the same ``scratch``, so that
the random stream is the same whether or not a run was interrupted.

Numba's cache is keyed on the source file of each compiled function, not on the
files it calls into: after editing ``losses.py``, ``sgd.py`` or ``schedules.py``
(or :mod:`.layout`, or :mod:`lightfm.backends._common`) during development, delete
``lightfm/backends/cpu/kernels/__pycache__/*.nb*`` (an installed
package is rewritten whole on upgrade, which invalidates every entry).
"""

import numpy as np

from ..._common import BPR, FOLD_ABOVE, ITEM, LOGISTIC, USER, WARP, WARP_KOS, cache_private_zeros
from ..._jit import njit
from .candidates import fill_candidates, make_ring
from .layout import (
    ALPHAS,
    BIAS,
    BIAS_ACC,
    COLS,
    EMB,
    EMB_ACC,
    POS_INDICES,
    POS_INDPTR,
    RING,
    RING_OLDEST,
    ROWS,
    SCALES,
    TABLE,
)
from .losses import bpr_step, logistic_step, warp_kos_step, warp_step
from .prefetch import prefetch, prefetch_row
from .replicas import MERGE_EVERY, sync
from .sgd import announce, keep_current, refresh_scales, side_scale

# Prefetch distances, in examples (see _prefetch_ahead). Longer or shorter ones (24/12/6,
# 10/5/3) were slower on the 10M-interaction benchmark.
_AHEAD_FAR, _AHEAD_MID, _AHEAD_NEAR = 16, 8, 4


@njit(cache=True, nogil=True, inline="always")
def _prefetch_ahead(p, hi, loss_code, order, rows, cols, lookup, user_feats, user_params, item_feats, item_params):
    """Prefetch what the examples ahead of position ``p`` will read, in three stages.

    Each stage reads only what the previous one prefetched: the COO entry of the
    example _AHEAD_FAR positions ahead; then, for the one _AHEAD_MID ahead, its
    user's and item's parameter rows and its user's positives range; then, for
    the one _AHEAD_NEAR ahead, the first two levels of the binary search in that
    user's positives (every ranking loss checks negatives against them).
    """
    if p + _AHEAD_FAR < hi:
        ahead = order[p + _AHEAD_FAR]
        prefetch(rows, ahead)
        prefetch(cols, ahead)
    ranking = loss_code != LOGISTIC
    if p + _AHEAD_MID < hi:
        ahead = order[p + _AHEAD_MID]
        user = rows[ahead]
        if ranking:
            prefetch(lookup[POS_INDPTR], user)
        if user_feats is None:
            prefetch_row(user_params[EMB], user)
            prefetch_row(user_params[EMB_ACC], user)
            prefetch(user_params[BIAS], user)
            prefetch(user_params[BIAS_ACC], user)
        if item_feats is None:
            item = cols[ahead]
            prefetch_row(item_params[EMB], item)
            prefetch_row(item_params[EMB_ACC], item)
            prefetch(item_params[BIAS], item)
            prefetch(item_params[BIAS_ACC], item)
    if ranking and p + _AHEAD_NEAR < hi:
        pos_indptr, pos_indices = lookup[POS_INDPTR], lookup[POS_INDICES]
        user = rows[order[p + _AHEAD_NEAR]]
        start = pos_indptr[user]
        length = pos_indptr[user + 1] - start
        prefetch(pos_indices, start + (length >> 1))
        prefetch(pos_indices, start + (length >> 2))
        prefetch(pos_indices, start + ((3 * length) >> 2))


@njit(cache=True, nogil=True, fastmath=True, inline="always")
def _walk(
    step, loss_code, order, lo, hi, state, samples, weights, lookup, loss_args,
    user_feats, user_params, item_feats, item_params, opt, scratch, prefetch_rows, replicas,
):  # fmt: skip
    """SGD with ``step`` over ``order[lo:hi]``; returns ``(state, position reached)``.

    ``scratch`` is the thread's working memory (see :func:`make_scratch`); its
    candidate ring is filled on the first call only. ``prefetch_rows`` turns on
    prefetching the examples ahead: worth it only when the parameters do not
    fit in cache (it slowed MovieLens 100k by 10-15%). ``replicas``: this
    thread's copies of hot feature rows, merged every ``MERGE_EVERY`` steps
    and on return (see :mod:`.replicas`; sides without copies have no rows).
    """
    rows, cols = samples[ROWS], samples[COLS]
    alphas, scales, table = opt[ALPHAS], opt[SCALES], opt[TABLE]
    regularised = alphas[USER] > 0.0 or alphas[ITEM] > 0.0
    ring = scratch[RING]
    if loss_code != LOGISTIC and hi > lo and ring[RING_OLDEST] < 0:
        state = fill_candidates(state, loss_code != BPR, lookup, item_feats, item_params, ring, prefetch_rows)
    sync(replicas, np.bool_(False))
    if regularised:
        refresh_scales(scales, table)
    countdown = MERGE_EVERY
    p = lo
    while p < hi:
        # Checked before the step too: a refresh may have brought in the others' growth.
        if side_scale(scales, USER) > FOLD_ABOVE or side_scale(scales, ITEM) > FOLD_ABOVE:
            if regularised:
                announce(scales, table)  # so that the others stop for the fold too
            break
        if prefetch_rows:
            _prefetch_ahead(
                p, hi, loss_code, order, rows, cols, lookup, user_feats, user_params, item_feats, item_params
            )
        state = step(
            order[p], state, samples, weights, lookup, loss_args,
            user_feats, user_params, item_feats, item_params, opt, scratch,
        )  # fmt: skip
        p += 1
        countdown -= 1
        if countdown == 0:
            sync(replicas, np.bool_(True))
            countdown = MERGE_EVERY
            if regularised:
                refresh_scales(scales, table)
        elif regularised:
            keep_current(scales, table, alphas)
    sync(replicas, np.bool_(True))
    return state, p


# One kernel per loss, each :func:`_walk` with its step inlined, so that a fit compiles
# only its own loss (3-5 s instead of 9-11 s for one kernel dispatching on a loss code).
# Written out four times on purpose: kernels made by a factory closing over the step are
# recompiled in every process (their cache key pickles the closure, which is not stable),
# and star-args wrappers cannot be inlined by Numba.
# Compiled without Numba's reference counting: nothing here allocates, and atomic
# reference-count updates on every array passed between the helpers would otherwise
# dominate the run time (and contend between threads).
_KERNEL_OPTIONS = dict(cache=True, nogil=True, fastmath=True, _nrt=False, error_model="numpy")


@njit(**_KERNEL_OPTIONS)
def _logistic_chunk(order, lo, hi, state, samples, weights, lookup, loss_args, user_feats, user_params,
                  item_feats, item_params, opt, scratch, prefetch_rows, replicas):  # fmt: skip
    return _walk(logistic_step, LOGISTIC, order, lo, hi, state, samples, weights, lookup, loss_args, user_feats,
                 user_params, item_feats, item_params, opt, scratch, prefetch_rows, replicas)  # fmt: skip


@njit(**_KERNEL_OPTIONS)
def _bpr_chunk(order, lo, hi, state, samples, weights, lookup, loss_args, user_feats, user_params,
                  item_feats, item_params, opt, scratch, prefetch_rows, replicas):  # fmt: skip
    return _walk(bpr_step, BPR, order, lo, hi, state, samples, weights, lookup, loss_args, user_feats,
                 user_params, item_feats, item_params, opt, scratch, prefetch_rows, replicas)  # fmt: skip


@njit(**_KERNEL_OPTIONS)
def _warp_chunk(order, lo, hi, state, samples, weights, lookup, loss_args, user_feats, user_params,
                  item_feats, item_params, opt, scratch, prefetch_rows, replicas):  # fmt: skip
    return _walk(warp_step, WARP, order, lo, hi, state, samples, weights, lookup, loss_args, user_feats,
                 user_params, item_feats, item_params, opt, scratch, prefetch_rows, replicas)  # fmt: skip


@njit(**_KERNEL_OPTIONS)
def _warp_kos_chunk(order, lo, hi, state, samples, weights, lookup, loss_args, user_feats, user_params,
                  item_feats, item_params, opt, scratch, prefetch_rows, replicas):  # fmt: skip
    return _walk(warp_kos_step, WARP_KOS, order, lo, hi, state, samples, weights, lookup, loss_args, user_feats,
                 user_params, item_feats, item_params, opt, scratch, prefetch_rows, replicas)  # fmt: skip


_CHUNK_KERNELS = {LOGISTIC: _logistic_chunk, BPR: _bpr_chunk, WARP: _warp_chunk, WARP_KOS: _warp_kos_chunk}


def run_chunk(
    loss_code, order, lo, hi, state, samples, weights, lookup, loss_args,
    user_feats, user_params, item_feats, item_params, opt, scratch, prefetch_rows, replicas,
):  # fmt: skip
    """SGD with loss ``loss_code`` over ``order[lo:hi]`` (releases the GIL); returns ``(state, position)``."""
    return _CHUNK_KERNELS[loss_code](
        order, lo, hi, state, samples, weights, lookup, loss_args,
        user_feats, user_params, item_feats, item_params, opt, scratch, prefetch_rows, replicas,
    )  # fmt: skip


def make_scratch(no_components, n):
    """One thread's working memory: four representation-sized buffers, k-OS's sample buffers
    and the ring of negative candidates (:mod:`lightfm.backends.cpu.kernels.candidates`).

    Every buffer has its cache lines to itself: each is written at every step, and
    another thread's buffers sharing a line would take it away at every write.
    """
    return (
        cache_private_zeros(no_components + 1, dtype=np.float32),
        cache_private_zeros(no_components + 1, dtype=np.float32),
        cache_private_zeros(no_components + 1, dtype=np.float32),
        cache_private_zeros(no_components + 1, dtype=np.float32),
        cache_private_zeros(max(n, 1), dtype=np.int64),
        cache_private_zeros(max(n, 1), dtype=np.float32),
        make_ring(),
    )
