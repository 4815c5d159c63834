"""One SGD step per loss, on one training example.

Every step has the same signature so that the epoch kernel dispatches with a
single line per loss::

    step(i, state, samples, weights, lookup, loss_args,
         user_feats, user_params, item_feats, item_params, opt, scratch) -> state

``i`` is the index of the example in the COO arrays and ``state`` the thread's
RNG word; the other arguments are described in :mod:`lightfm.backends.cpu.kernels.epoch`.
"""

import math

import numpy as np

from ..._common import ITEM, MAX_BPR_DRAWS, MAX_WARP_LOSS, USER
from ..._jit import njit
from .candidates import next_candidate
from .layout import (
    ALPHAS,
    BIAS,
    COLS,
    EMB,
    GRAD,
    KOS_IDS,
    KOS_K,
    KOS_N,
    KOS_SCORES,
    LABELS,
    MAX_SAMPLED,
    N_ITEMS,
    NEG_REPR,
    POS_INDICES,
    POS_INDPTR,
    POS_REPR,
    RING,
    ROWS,
    SCALES,
    SCHEDULE,
    USER_REPR,
)
from .rng import next_below
from .sgd import decay, is_positive, represent, score, score_item, side_scale, update_side


@njit(cache=True, nogil=True, inline="always")
def _weight(weights, i):
    """The sample weight of example ``i``: 1 when ``weights`` is empty (a fit without weights).

    A runtime branch, taken the same way at every step: one kernel serves fits with and
    without weights, where compiling a variant per case cost 3-4 s from an empty cache.
    """
    if weights.shape[0] == 0:
        return np.float32(1.0)
    return weights[i]


@njit(cache=True, nogil=True, fastmath=True, inline="always")
def pairwise_update(loss, u, pos, neg, user_feats, user_params, item_feats, item_params, opt, scratch):
    """Push ``pos`` up and ``neg`` down for user ``u`` with gradient magnitude ``loss``.

    ``scratch[USER_REPR]``, ``scratch[POS_REPR]`` and ``scratch[NEG_REPR]`` hold the user's,
    the positive's and the negative's representations. The user's bias cancels in the difference of the two
    scores, so it changes no ranking; it is stepped with gradient ``loss`` all
    the same, as the original LightFM does, because its accumulator and its
    share of the mean learning rate (which regularisation uses) are observable.
    """
    urep, irep, jrep, gbuf = scratch[USER_REPR], scratch[POS_REPR], scratch[NEG_REPR], scratch[GRAD]
    schedule, alphas, scales = opt[SCHEDULE], opt[ALPHAS], opt[SCALES]
    d = urep.shape[0] - 1
    for c in range(d):
        gbuf[c] = jrep[c] - irep[c]
    lr_u, n_u = update_side(gbuf, loss, loss, user_feats, user_params, u, schedule, alphas[USER])
    lr_p, n_p = update_side(urep, -loss, -loss, item_feats, item_params, pos, schedule, alphas[ITEM])
    lr_n, n_n = update_side(urep, loss, loss, item_feats, item_params, neg, schedule, alphas[ITEM])
    decay(scales, alphas, lr_u + lr_p + lr_n, n_u + n_p + n_n)


@njit(cache=True, nogil=True, fastmath=True, inline="always")
def logistic_step(
    i, state, samples, weights, lookup, loss_args, user_feats, user_params, item_feats, item_params, opt, scratch
):
    """Logistic loss: entries > 0 are positives, the rest (0, -1, ...) negatives."""
    rows, cols, labels = samples[ROWS], samples[COLS], samples[LABELS]
    urep, irep = scratch[USER_REPR], scratch[POS_REPR]
    schedule, alphas, scales = opt[SCHEDULE], opt[ALPHAS], opt[SCALES]
    u = rows[i]
    it = cols[i]
    represent(urep, user_feats, user_params, u, np.float32(side_scale(scales, USER)))
    represent(irep, item_feats, item_params, it, np.float32(side_scale(scales, ITEM)))
    s = score(urep, irep)
    y = np.float32(1.0) if labels[i] > 0 else np.float32(0.0)
    prob = np.float32(1.0) / (np.float32(1.0) + np.exp(-s))
    loss = _weight(weights, i) * (prob - y)
    lr_u, n_u = update_side(irep, loss, loss, user_feats, user_params, u, schedule, alphas[USER])
    lr_i, n_i = update_side(urep, loss, loss, item_feats, item_params, it, schedule, alphas[ITEM])
    decay(scales, alphas, lr_u + lr_i, n_u + n_i)
    return state


@njit(cache=True, nogil=True, fastmath=True, inline="always")
def bpr_step(
    i, state, samples, weights, lookup, loss_args, user_feats, user_params, item_feats, item_params, opt, scratch
):
    """BPR (Rendle et al. 2009): the negative follows the items of all stored entries, not the user's own."""
    rows, cols = samples[ROWS], samples[COLS]
    pos_indptr, pos_indices, n_items = lookup[POS_INDPTR], lookup[POS_INDICES], lookup[N_ITEMS]
    urep, irep, jrep = scratch[USER_REPR], scratch[POS_REPR], scratch[NEG_REPR]
    scales = opt[SCALES]
    u = rows[i]
    pos = cols[i]
    if pos_indptr[u + 1] - pos_indptr[u] >= n_items:
        return state
    neg = -1
    for _ in range(MAX_BPR_DRAWS):
        state, candidate = next_candidate(state, False, lookup, item_feats, item_params, scratch[RING])
        if not is_positive(pos_indptr, pos_indices, u, candidate):
            neg = candidate
            break
    if neg < 0:
        return state
    neg = np.uint32(neg)  # every row index a uint32, as the examples': one compiled variant per building block
    su = np.float32(side_scale(scales, USER))
    si = np.float32(side_scale(scales, ITEM))
    represent(urep, user_feats, user_params, u, su)
    represent(irep, item_feats, item_params, pos, si)
    represent(jrep, item_feats, item_params, neg, si)
    x = score(urep, irep) - score(urep, jrep)
    # 1 - sigmoid(x): the magnitude of d(-log sigmoid(x))/dx.
    loss = _weight(weights, i) / (np.float32(1.0) + np.exp(x))
    pairwise_update(loss, u, pos, neg, user_feats, user_params, item_feats, item_params, opt, scratch)
    return state


@njit(cache=True, nogil=True, fastmath=True, inline="always")
def _warp_negative(
    state,
    u,
    pos,
    pos_score,
    weight,
    max_loss,
    lookup,
    max_sampled,
    user_feats,
    user_params,
    item_feats,
    item_params,
    opt,
    scratch,
):
    """Draw uniform negatives until one violates the margin, then step on it.

    The rank weight log(floor((n_items - 1) / draws)) estimates the positive's
    rank from how many draws it took (Weston et al. 2011); the loss, ``weight``
    times it, is clipped at ``max_loss``.
    """
    pos_indptr, pos_indices, n_items = lookup[POS_INDPTR], lookup[POS_INDICES], lookup[N_ITEMS]
    urep, jrep = scratch[USER_REPR], scratch[NEG_REPR]
    si = np.float32(side_scale(opt[SCALES], ITEM))
    for draw in range(1, max_sampled + 1):
        state, drawn = next_candidate(state, True, lookup, item_feats, item_params, scratch[RING])
        neg = np.uint32(drawn)  # as the examples' rows and columns (see bpr_step)
        neg_score = score_item(urep, item_feats, item_params[EMB], item_params[BIAS], neg, si)
        if neg_score > pos_score - np.float32(1.0):
            if is_positive(pos_indptr, pos_indices, u, neg):
                continue
            # The weight inside the clip, as in the original: weights above 1 multiplied after
            # it escaped it (constant weight 5: item vectors of norm 361 against 1.15).
            loss = np.float32(min(weight * math.log(max(1.0, math.floor((n_items - 1) / draw))), max_loss))
            # Stepped even when the loss is 0 (a weight of 0, or few items): the step moves
            # nothing but still counts for the regularisation's decay, as in the original.
            represent(jrep, item_feats, item_params, neg, si)
            pairwise_update(loss, u, pos, neg, user_feats, user_params, item_feats, item_params, opt, scratch)
            break
    return state


@njit(cache=True, nogil=True, fastmath=True, inline="always")
def warp_step(
    i, state, samples, weights, lookup, loss_args, user_feats, user_params, item_feats, item_params, opt, scratch
):
    """WARP (Weston et al. 2011) on one positive example."""
    rows, cols = samples[ROWS], samples[COLS]
    urep, irep = scratch[USER_REPR], scratch[POS_REPR]
    scales = opt[SCALES]
    u = rows[i]
    pos = cols[i]
    represent(urep, user_feats, user_params, u, np.float32(side_scale(scales, USER)))
    represent(irep, item_feats, item_params, pos, np.float32(side_scale(scales, ITEM)))
    pos_score = score(urep, irep)
    return _warp_negative(
        state, u, pos, pos_score, _weight(weights, i), MAX_WARP_LOSS, lookup, loss_args[MAX_SAMPLED],
        user_feats, user_params, item_feats, item_params, opt, scratch,
    )  # fmt: skip


@njit(cache=True, nogil=True, fastmath=True, inline="always")
def warp_kos_step(
    i, state, samples, weights, lookup, loss_args, user_feats, user_params, item_feats, item_params, opt, scratch
):
    """k-OS WARP (Weston et al. 2013): WARP on the k-th best of up to n sampled positives."""
    rows = samples[ROWS]
    pos_indptr, pos_indices = lookup[POS_INDPTR], lookup[POS_INDICES]
    max_sampled, k, n = loss_args[MAX_SAMPLED], loss_args[KOS_K], loss_args[KOS_N]
    urep, irep = scratch[USER_REPR], scratch[POS_REPR]
    kos_ids, kos_scores = scratch[KOS_IDS], scratch[KOS_SCORES]
    scales = opt[SCALES]
    u = rows[i]
    start = pos_indptr[u]
    n_pos = pos_indptr[u + 1] - start
    if n_pos == 0:
        return state
    si = np.float32(side_scale(scales, ITEM))
    represent(urep, user_feats, user_params, u, np.float32(side_scale(scales, USER)))
    m = min(max(n, 1), n_pos, kos_ids.shape[0])
    # All sampled first, then scored: the samples' look-ups (cache misses on large sets) overlap
    # instead of each waiting behind the scoring of the one before (1 thread: tagged 0.86x the
    # time, MovieLens + genres 0.93x). Prefetching each sample's feature rows between the two
    # passes was slower (1.2x-1.27x).
    for s in range(m):
        state, r = next_below(state, n_pos)
        kos_ids[s] = pos_indices[start + r]
    for s in range(m):
        kos_scores[s] = score_item(urep, item_feats, item_params[EMB], item_params[BIAS], kos_ids[s], si)
    # The k-th highest score: the sample with exactly k - 1 samples ranked above it
    # (ties broken by position). Counting is branch-free, unlike sorting, whose
    # mispredicted branches cost more than the scores themselves.
    target = min(max(k, 1), m) - 1
    pos = kos_ids[0]
    for s in range(m):
        above = 0
        for t in range(m):
            above += (kos_scores[t] > kos_scores[s]) | ((kos_scores[t] == kos_scores[s]) & (t < s))
        if above == target:
            pos = kos_ids[s]
    represent(irep, item_feats, item_params, pos, si)
    pos_score = score(urep, irep)
    return _warp_negative(
        state, u, pos, pos_score, np.float32(1.0), np.inf, lookup, max_sampled,
        user_feats, user_params, item_feats, item_params, opt, scratch,
    )  # fmt: skip
