"""The epoch kernel: Hogwild SGD over a shuffled order of training examples.

:func:`run_chunk` is a serial, GIL-free kernel; the estimator runs one call per
thread from a Python thread pool, each on its own contiguous chunk of
``order`` with its own RNG word, all sharing the parameters without locks
(Hogwild, Recht et al. 2011). Python threads rather than ``prange`` because a
parallel region cannot capture the tuples and None-typed arguments that select
the identity-feature and schedule code paths at compile time, and because it
keeps training independent of Numba's threading layer. With one thread a run
is a pure function of its seed.

Arguments, all plain arrays, scalars and tuples of them:

- ``order``: int32 positions into the COO arrays; ``order[lo:hi]`` is the
  part of the thread's chunk this call walks (the caller shuffles each chunk
  with :func:`lightfm._kernels.rng.shuffle_range` at the start of an epoch).
- ``samples = (rows, cols, labels)``: the COO interactions; ``weights``: the
  sample weights aligned with them, or None for weight 1.
- ``lookup = (pos_indptr, pos_indices, (neg_prob, neg_alias), n_items)``: each
  user's sorted positive items, and the alias table BPR draws negatives from.
- ``loss_args = (max_sampled, k, n)``.
- ``user_feats``, ``user_params``, ``item_feats``, ``item_params`` as in
  :mod:`lightfm._kernels.sgd`.
- ``opt = ((learning_rate, rho, epsilon), (user_alpha, item_alpha), scales)``
  with ``scales`` the float64 lazy-regularisation scales, shared by threads.
"""

import numpy as np
from numba import njit

from .losses import bpr_step, logistic_step, warp_kos_step, warp_step

LOGISTIC, BPR, WARP, WARP_KOS = 0, 1, 2, 3
# Prefetch distances, in examples: the sample's COO entry, then its embedding rows.
_AHEAD_FAR, _AHEAD_NEAR = 8, 4
LOSS_CODES = {"logistic": LOGISTIC, "bpr": BPR, "warp": WARP, "warp-kos": WARP_KOS}


@njit(cache=True, nogil=True, fastmath=True, _nrt=False, error_model="numpy")
def run_chunk(
    loss_code, order, lo, hi, state, samples, weights, lookup, loss_args,
    user_feats, user_params, item_feats, item_params, opt, scratch,
):  # fmt: skip
    """SGD over ``order[lo:hi]``; returns the advanced RNG state.

    ``scratch`` is the thread's working memory (see :func:`make_scratch`).
    Compiled without Numba's reference counting: nothing here allocates, and
    atomic reference-count updates on every array passed between the helpers
    would otherwise dominate the run time (and contend between threads).
    """
    rows, cols = samples[0], samples[1]
    user_emb, item_emb = user_params[0], item_params[0]
    pos_indptr, pos_indices = lookup[0], lookup[1]
    touched = np.float32(0.0)
    for p in range(lo, hi):
        # Touch the data of examples a few steps ahead so that their cache misses overlap
        # with this step's work (a software prefetch; the loads' sum is kept so LLVM keeps them).
        if p + _AHEAD_FAR < hi:
            ahead = order[p + _AHEAD_FAR]
            touched += rows[ahead] + cols[ahead]
        if loss_code == BPR and p + _AHEAD_NEAR < hi:
            # BPR checks every drawn negative against the user's positives: touch the first
            # probe of that binary search ahead (a cache miss that was a seventh of a step).
            u_ahead = rows[order[p + _AHEAD_NEAR]]
            start = pos_indptr[u_ahead]
            if start < pos_indptr[u_ahead + 1]:
                touched += pos_indices[start + ((pos_indptr[u_ahead + 1] - start) >> 1)]
        if p + _AHEAD_NEAR < hi and user_feats is None and item_feats is None:
            ahead = order[p + _AHEAD_NEAR]
            touched += user_emb[rows[ahead], 0] + item_emb[cols[ahead], 0]
        i = order[p]
        if loss_code == WARP:
            state = warp_step(
                i,
                state,
                samples,
                weights,
                lookup,
                loss_args,
                user_feats,
                user_params,
                item_feats,
                item_params,
                opt,
                scratch,
            )
        elif loss_code == BPR:
            state = bpr_step(
                i,
                state,
                samples,
                weights,
                lookup,
                loss_args,
                user_feats,
                user_params,
                item_feats,
                item_params,
                opt,
                scratch,
            )
        elif loss_code == WARP_KOS:
            state = warp_kos_step(
                i,
                state,
                samples,
                weights,
                lookup,
                loss_args,
                user_feats,
                user_params,
                item_feats,
                item_params,
                opt,
                scratch,
            )
        else:
            state = logistic_step(
                i,
                state,
                samples,
                weights,
                lookup,
                loss_args,
                user_feats,
                user_params,
                item_feats,
                item_params,
                opt,
                scratch,
            )
    scratch[5][0] = touched
    return state


def make_scratch(no_components, n):
    """One thread's working memory: four representation-sized buffers and k-OS's sample buffers."""
    return (
        np.zeros(no_components + 1, dtype=np.float32),
        np.zeros(no_components + 1, dtype=np.float32),
        np.zeros(no_components + 1, dtype=np.float32),
        np.zeros(no_components + 1, dtype=np.float32),
        np.zeros(max(n, 1), dtype=np.int64),
        np.zeros(max(n, 1), dtype=np.float32),
    )
