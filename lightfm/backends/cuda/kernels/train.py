"""The training kernel: one per loss, schedule and pair of feature kinds, each loss's step inline.

Made by a factory (:func:`make_train_kernel`) whose arguments are constants to the compiler, so each
kernel keeps only its own loss's code, as the CPU engine's one kernel per loss does
(:mod:`lightfm.backends.cpu.kernels.epoch`, ``.losses``).
"""

import math

import numpy as np
from numba import cuda, float32, float64, int64

from ..._common import (
    BPR,
    FOLD_ABOVE,
    ITEM,
    LOGISTIC,
    MAX_BPR_DRAWS,
    MAX_GROWTH,
    MAX_WARP_LOSS,
    USER,
    WARP,
)
from .rng import RING_OLDEST, RING_SLOTS, fill_ring, next_below, next_candidate
from .sgd import MAX_PER_LANE, N_ALPHAS, decay, dot, is_positive, represent, score_item, update_side
from .target import ONE32, WARP_SIZE, ZERO32, exp32


def make_train_kernel(loss_code, adadelta, user_identity, item_identity):
    """The training kernel of one loss, schedule and pair of feature kinds (constants, so dead code goes).

    One launch walks, for every worker ``w``, ``order[positions[w]:ends[w]]``
    for at most ``wave_steps`` steps, stopping early (like the CPU kernels) once
    a lazy-regularisation scale passes FOLD_ABOVE; it leaves the RNG state,
    candidate ring, position and the worker's scales in ``states``, ``rings``,
    ``positions`` and ``worker_scales`` for the next launch.
    """
    ranking = loss_code != LOGISTIC
    uniform = loss_code != BPR

    @cuda.jit(device=True)
    def pairwise_update(
        loss, u, pos, neg, urep, irep, jrep, gbuf, scales, alphas,
        u_indptr, u_indices, u_data, u_emb, u_eacc, u_emom, u_bias, u_bacc, u_bmom,
        i_indptr, i_indices, i_data, i_emb, i_eacc, i_emom, i_bias, i_bacc, i_bmom,
        learning_rate, rho, epsilon, lane, lanes, buf,
    ):  # fmt: skip
        # The user's bias cancels in the difference of scores but is stepped all the same, as on the CPU.
        d = u_emb.shape[1]
        k = 0
        for _ in range(lane, d, lanes):
            gbuf[k] = jrep[k] - irep[k]
            k += 1
        lr_u, n_u = update_side(
            gbuf, loss, loss, user_identity, u_indptr, u_indices, u_data, u_emb, u_eacc, u_emom,
            u_bias, u_bacc, u_bmom, u, adadelta, learning_rate, rho, epsilon, alphas[USER], lane, lanes,
        )  # fmt: skip
        lr_p, n_p = update_side(
            urep, -loss, -loss, item_identity, i_indptr, i_indices, i_data, i_emb, i_eacc, i_emom,
            i_bias, i_bacc, i_bmom, pos, adadelta, learning_rate, rho, epsilon, alphas[ITEM], lane, lanes,
        )  # fmt: skip
        lr_n, n_n = update_side(
            urep, loss, loss, item_identity, i_indptr, i_indices, i_data, i_emb, i_eacc, i_emom,
            i_bias, i_bacc, i_bmom, neg, adadelta, learning_rate, rho, epsilon, alphas[ITEM], lane, lanes,
        )  # fmt: skip
        decay(scales, alphas, lr_u + lr_p + lr_n, n_u + n_p + n_n, lane, lanes, buf)

    @cuda.jit(device=True)
    def warp_negative(
        state, ring, u, pos, pos_score, weight, max_loss, urep, ubias, irep, jrep, gbuf, scales, alphas,
        pos_indptr, pos_indices, neg_prob, neg_alias, n_items, max_sampled,
        u_indptr, u_indices, u_data, u_emb, u_eacc, u_emom, u_bias, u_bacc, u_bmom,
        i_indptr, i_indices, i_data, i_emb, i_eacc, i_emom, i_bias, i_bacc, i_bmom,
        learning_rate, rho, epsilon, lane, lanes, buf,
    ):  # fmt: skip
        # Negatives one after another until the first violator, as the CPU kernel does.
        si = np.float32(scales[ITEM])
        for draw in range(1, max_sampled + 1):
            state, neg = next_candidate(state, ring, uniform, neg_prob, neg_alias, n_items)
            neg_score = score_item(
                urep, ubias, item_identity, i_indptr, i_indices, i_data, i_emb, i_bias, neg, si, lane, lanes, buf
            )
            if neg_score > pos_score - ONE32:
                if is_positive(pos_indptr, pos_indices, u, neg):
                    continue
                estimate = math.floor((n_items - 1) / draw)
                # The sample weight inside the clip, as in the original (and the CPU kernels).
                loss = weight * math.log(estimate if estimate > 1.0 else 1.0)
                loss = np.float32(loss if loss < max_loss else max_loss)
                represent(jrep, item_identity, i_indptr, i_indices, i_data, i_emb, i_bias, neg, si, lane, lanes, buf)
                pairwise_update(
                    loss, u, pos, neg, urep, irep, jrep, gbuf, scales, alphas,
                    u_indptr, u_indices, u_data, u_emb, u_eacc, u_emom, u_bias, u_bacc, u_bmom,
                    i_indptr, i_indices, i_data, i_emb, i_eacc, i_emom, i_bias, i_bacc, i_bmom,
                    learning_rate, rho, epsilon, lane, lanes, buf,
                )  # fmt: skip
                break
        return state

    @cuda.jit
    def train(
        order, ends, positions, wave_steps, states, rings, worker_scales, start_scales,
        rows, cols, labels, weights, weighted,
        pos_indptr, pos_indices, neg_prob, neg_alias, n_items, max_sampled, kos_k, kos_ids, kos_scores,
        u_indptr, u_indices, u_data, u_emb, u_eacc, u_emom, u_bias, u_bacc, u_bmom,
        i_indptr, i_indices, i_data, i_emb, i_eacc, i_emom, i_bias, i_bacc, i_bmom,
        learning_rate, rho, epsilon, user_alpha, item_alpha, max_growth, lanes, n_workers,
    ):  # fmt: skip
        buf = cuda.shared.array(WARP_SIZE, float32)
        urep = cuda.local.array(MAX_PER_LANE, float32)
        irep = cuda.local.array(MAX_PER_LANE, float32)
        jrep = cuda.local.array(MAX_PER_LANE, float32)
        gbuf = cuda.local.array(MAX_PER_LANE, float32)
        ring = cuda.local.array(RING_SLOTS, int64)
        scales = cuda.local.array(2, float64)
        alphas = cuda.local.array(N_ALPHAS, float32)
        tid = cuda.grid(1)
        w = tid // lanes
        lane = tid - w * lanes
        if w >= n_workers:
            return
        alphas[USER] = user_alpha
        alphas[ITEM] = item_alpha
        alphas[MAX_GROWTH] = max_growth
        # Each worker starts from the global scales and applies its own decay at once; other
        # workers' decay reaches it at the next launch (the caller combines them).
        scales[USER] = start_scales[USER]
        scales[ITEM] = start_scales[ITEM]
        state = states[w]
        for slot in range(RING_SLOTS):
            ring[slot] = rings[w, slot]
        p = positions[w]
        hi = ends[w]
        if ranking and p < hi and ring[RING_OLDEST] < 0:
            state = fill_ring(state, ring, uniform, neg_prob, neg_alias, n_items)
        steps = 0
        while p < hi and steps < wave_steps:
            if scales[USER] > FOLD_ABOVE or scales[ITEM] > FOLD_ABOVE:
                break
            i = order[p]
            u = rows[i]
            weight = weights[i] if weighted else ONE32
            if loss_code == LOGISTIC:
                it = cols[i]
                su = np.float32(scales[USER])
                si = np.float32(scales[ITEM])
                ub = represent(urep, user_identity, u_indptr, u_indices, u_data, u_emb, u_bias, u, su,
                               lane, lanes, buf)  # fmt: skip
                ib = represent(irep, item_identity, i_indptr, i_indices, i_data, i_emb, i_bias, it, si,
                               lane, lanes, buf)  # fmt: skip
                s = dot(urep, irep, u_emb.shape[1], lane, lanes, buf) + ub + ib
                y = ONE32 if labels[i] > 0 else ZERO32
                prob = ONE32 / (ONE32 + exp32(-s))
                loss = weight * (prob - y)
                lr_u, n_u = update_side(
                    irep, loss, loss, user_identity, u_indptr, u_indices, u_data, u_emb, u_eacc, u_emom,
                    u_bias, u_bacc, u_bmom, u, adadelta, learning_rate, rho, epsilon, alphas[USER], lane, lanes,
                )  # fmt: skip
                lr_i, n_i = update_side(
                    urep, loss, loss, item_identity, i_indptr, i_indices, i_data, i_emb, i_eacc, i_emom,
                    i_bias, i_bacc, i_bmom, it, adadelta, learning_rate, rho, epsilon, alphas[ITEM], lane, lanes,
                )  # fmt: skip
                decay(scales, alphas, lr_u + lr_i, n_u + n_i, lane, lanes, buf)
            elif loss_code == BPR:
                pos = cols[i]
                if pos_indptr[u + 1] - pos_indptr[u] < n_items:
                    neg = -1
                    for _ in range(MAX_BPR_DRAWS):
                        state, candidate = next_candidate(state, ring, uniform, neg_prob, neg_alias, n_items)
                        if not is_positive(pos_indptr, pos_indices, u, candidate):
                            neg = candidate
                            break
                    if neg >= 0:
                        su = np.float32(scales[USER])
                        si = np.float32(scales[ITEM])
                        ub = represent(urep, user_identity, u_indptr, u_indices, u_data, u_emb, u_bias, u, su,
                                       lane, lanes, buf)  # fmt: skip
                        ib = represent(irep, item_identity, i_indptr, i_indices, i_data, i_emb, i_bias, pos, si,
                                       lane, lanes, buf)  # fmt: skip
                        jb = represent(jrep, item_identity, i_indptr, i_indices, i_data, i_emb, i_bias, neg, si,
                                       lane, lanes, buf)  # fmt: skip
                        d = u_emb.shape[1]
                        x = (dot(urep, irep, d, lane, lanes, buf) + ub + ib) - (
                            dot(urep, jrep, d, lane, lanes, buf) + ub + jb
                        )
                        loss = weight / (ONE32 + exp32(x))
                        pairwise_update(
                            loss, u, pos, neg, urep, irep, jrep, gbuf, scales, alphas,
                            u_indptr, u_indices, u_data, u_emb, u_eacc, u_emom, u_bias, u_bacc, u_bmom,
                            i_indptr, i_indices, i_data, i_emb, i_eacc, i_emom, i_bias, i_bacc, i_bmom,
                            learning_rate, rho, epsilon, lane, lanes, buf,
                        )  # fmt: skip
            else:
                si = np.float32(scales[ITEM])
                max_loss = MAX_WARP_LOSS if loss_code == WARP else math.inf  # k-OS is not clipped
                pos = -1
                if loss_code == WARP:
                    pos = cols[i]
                    ub = represent(urep, user_identity, u_indptr, u_indices, u_data, u_emb, u_bias, u,
                                   np.float32(scales[USER]), lane, lanes, buf)  # fmt: skip
                else:
                    # k-OS: the k-th best of up to n of the user's own items, drawn with replacement.
                    start = pos_indptr[u]
                    n_pos = pos_indptr[u + 1] - start
                    weight = ONE32
                    ub = ZERO32
                    if n_pos > 0:
                        ub = represent(urep, user_identity, u_indptr, u_indices, u_data, u_emb, u_bias, u,
                                       np.float32(scales[USER]), lane, lanes, buf)  # fmt: skip
                        m = kos_ids.shape[1] if kos_ids.shape[1] < n_pos else n_pos
                        for s_ in range(m):
                            state, r = next_below(state, n_pos)
                            item_id = pos_indices[start + r]
                            kos_ids[w, s_] = item_id
                            # Every lane writes the same value and reads back its own write.
                            kos_scores[w, s_] = score_item(
                                urep, ub, item_identity, i_indptr, i_indices, i_data, i_emb, i_bias, item_id,
                                si, lane, lanes, buf,
                            )  # fmt: skip
                        target = (kos_k if kos_k < m else m) - 1 if kos_k > 1 else 0
                        pos = kos_ids[w, 0]
                        for s_ in range(m):
                            above = 0
                            for t in range(m):
                                if kos_scores[w, t] > kos_scores[w, s_] or (
                                    kos_scores[w, t] == kos_scores[w, s_] and t < s_
                                ):
                                    above += 1
                            if above == target:
                                pos = kos_ids[w, s_]
                if pos >= 0:
                    ib = represent(irep, item_identity, i_indptr, i_indices, i_data, i_emb, i_bias, pos, si,
                                   lane, lanes, buf)  # fmt: skip
                    pos_score = dot(urep, irep, u_emb.shape[1], lane, lanes, buf) + ub + ib
                    state = warp_negative(
                        state, ring, u, pos, pos_score, weight, max_loss, urep, ub, irep, jrep, gbuf, scales, alphas,
                        pos_indptr, pos_indices, neg_prob, neg_alias, n_items, max_sampled,
                        u_indptr, u_indices, u_data, u_emb, u_eacc, u_emom, u_bias, u_bacc, u_bmom,
                        i_indptr, i_indices, i_data, i_emb, i_eacc, i_emom, i_bias, i_bacc, i_bmom,
                        learning_rate, rho, epsilon, lane, lanes, buf,
                    )  # fmt: skip
            p += 1
            steps += 1
        if lane == 0:
            states[w] = state
            positions[w] = p
            for slot in range(RING_SLOTS):
                rings[w, slot] = ring[slot]
            worker_scales[w, USER] = scales[USER]
            worker_scales[w, ITEM] = scales[ITEM]

    return train
