"""Scoring kernels: pairwise predictions, score blocks, masks, ranks and top n on the device."""

import numpy as np
from numba import cuda, float32, int64

from .target import ZERO32

# -- scoring ------------------------------------------------------------------------------------------


@cuda.jit
def predict_pairs(user_repr, user_bias, user_rows, item_repr, item_bias, item_rows, out):
    """``out[p] = <user_repr[user_rows[p]], item_repr[item_rows[p]]> + biases`` (the CPU kernel's order)."""
    p = cuda.grid(1)
    if p >= out.shape[0]:
        return
    u = user_rows[p]
    i = item_rows[p]
    s = ZERO32
    for c in range(user_repr.shape[1]):
        s += user_repr[u, c] * item_repr[i, c]
    out[p] = s + user_bias[u] + item_bias[i]


@cuda.jit
def score_block(queries, targets, out):
    """``out = queries @ targets`` (float32; ``targets`` has one column per candidate), one thread per entry."""
    j, b = cuda.grid(2)
    if b >= out.shape[0] or j >= out.shape[1]:
        return
    s = ZERO32
    for c in range(queries.shape[1]):
        s += queries[b, c] * targets[c, j]
    out[b, j] = s


@cuda.jit
def mask_entries(scores, block_rows, indptr, indices, column_of):
    """Set to -inf the entries of ``scores`` that row ``block_rows[b]`` of a CSR lists (one thread per row)."""
    b = cuda.grid(1)
    if b >= block_rows.shape[0]:
        return
    r = block_rows[b]
    for j in range(indptr[r], indptr[r + 1]):
        c = column_of[indices[j]]
        if c >= 0:
            scores[b, c] = -np.inf


@cuda.jit
def rank_entries(scores, block_users, test_indptr, test_indices, train_indptr, train_indices, ranks):
    """Ranks of each block user's test items among its non-train items, one block of threads per user.

    A test item's rank counts the other non-train items scoring at least as
    high (pessimistic ties, as the CPU engine and the original LightFM do).
    ``scores`` must already have the train items at -inf.
    """
    counts = cuda.shared.array(256, int64)
    b = cuda.blockIdx.x
    t = cuda.threadIdx.x
    threads = cuda.blockDim.x
    u = block_users[b]
    n_items = scores.shape[1]
    for e in range(test_indptr[u], test_indptr[u + 1]):
        item = test_indices[e]
        target = scores[b, item]
        count = 0
        for c in range(t, n_items, threads):
            if scores[b, c] >= target:
                count += 1
        counts[t] = count
        cuda.syncthreads()
        step = threads // 2
        while step > 0:
            if t < step:
                counts[t] += counts[t + step]
            cuda.syncthreads()
            step //= 2
        if t == 0:
            # The item counted itself unless it is a train item (masked to -inf).
            total = counts[0]
            if target != -np.inf:
                total -= 1
            ranks[e] = total
        cuda.syncthreads()


@cuda.jit(device=True)
def _better(score_a, column_a, score_b, column_b):
    return score_a > score_b or (score_a == score_b and column_a < column_b)


@cuda.jit
def top_n_rows(scores, candidates, out_items, out_scores):
    """Best ``out_items.shape[1]`` entries of each row of ``scores``, best first, one block per row.

    Ties go to the lower column; -inf (excluded) and NaN never qualify. Each of
    the n rounds finds the best entry ranking below the previous round's, with a
    block-wide reduction. Slots left over hold item -1 and score -inf.
    """
    best_scores = cuda.shared.array(256, float32)
    best_columns = cuda.shared.array(256, int64)
    b = cuda.blockIdx.x
    t = cuda.threadIdx.x
    threads = cuda.blockDim.x
    m = scores.shape[1]
    n = out_items.shape[1]
    previous_score = np.float32(np.inf)
    previous_column = np.int64(-1)
    found = 0
    for slot in range(n):
        mine_score = np.float32(-np.inf)
        mine_column = np.int64(-1)
        for c in range(t, m, threads):
            s = scores[b, c]
            if s > -np.inf and _better(previous_score, previous_column, s, c):
                if mine_column < 0 or _better(s, c, mine_score, mine_column):
                    mine_score = s
                    mine_column = c
        best_scores[t] = mine_score
        best_columns[t] = mine_column
        cuda.syncthreads()
        step = threads // 2
        while step > 0:
            if t < step:
                other_column = best_columns[t + step]
                if other_column >= 0 and (
                    best_columns[t] < 0 or _better(best_scores[t + step], other_column, best_scores[t], best_columns[t])
                ):
                    best_scores[t] = best_scores[t + step]
                    best_columns[t] = other_column
            cuda.syncthreads()
            step //= 2
        column = best_columns[0]
        value = best_scores[0]
        cuda.syncthreads()
        if column < 0:
            break
        if t == 0:
            out_items[b, slot] = candidates[column]
            out_scores[b, slot] = value
        previous_score = value
        previous_column = column
        found += 1
    if t == 0:
        for slot in range(found, n):
            out_items[b, slot] = -1
            out_scores[b, slot] = -np.inf
