"""Scoring kernels: pairwise predictions and ranks of test items within blocks of users.

Representations arrive precomputed (``features @ embeddings``, or the embedding
tables themselves for identity features); full score blocks come from one BLAS
product in Python, so these kernels only gather, count and sort.
"""

import numpy as np
from numba import prange

from ..._host_kernels import heap_sort, sorts_before
from ..._jit import njit

# Below this many test items per user, vectorised counting passes beat binning by binary search.
_COUNT_BELOW = 96
# Scores scanned per vectorised maximum when selecting the top n.
_CHUNK = 64
# A zero typed int64, not Literal[int](0): a literal argument compiles a helper a second time.
_ZERO = np.int64(0)


@njit(parallel=True, cache=True, nogil=True, error_model="numpy", _nrt=False)
def predict_pairs(user_repr, user_bias, user_rows, item_repr, item_bias, item_rows, out):
    """``out[p] = <user_repr[user_rows[p]], item_repr[item_rows[p]]> + biases``."""
    d = user_repr.shape[1]
    for p in prange(out.shape[0]):
        u = user_rows[p]
        i = item_rows[p]
        s = np.float32(0.0)
        for c in range(d):
            s += user_repr[u, c] * item_repr[i, c]
        out[p] = s + user_bias[u] + item_bias[i]


@njit(cache=True, nogil=True, inline="always")
def _right_of(ordered, value):
    """``np.searchsorted(ordered, value, side="right")``: the first position sorting after ``value``."""
    lo = 0
    hi = ordered.shape[0]
    while lo < hi:
        mid = (lo + hi) >> 1
        if sorts_before(value, ordered[mid]):
            hi = mid
        else:
            lo = mid + 1
    return lo


@njit(cache=True, nogil=True, _nrt=False)
def _rank_user(scores, test_items, train_items, out, scratch_scores, scratch_order, scratch_reached):
    """Rank of each test item among the items the user did not train on (0 = best).

    An item's rank counts the other non-train items scoring at least as high,
    so ties rank pessimistically, exactly as the original LightFM does. The ``scratch_`` arrays are
    working memory of at least ``len(test_items)`` entries (``scratch_reached`` one more).
    """
    n_test = test_items.shape[0]
    test_scores = scratch_scores[:n_test]
    for j in range(n_test):
        test_scores[j] = scores[test_items[j]]
    for j in range(train_items.shape[0]):
        scores[train_items[j]] = -np.inf
    if n_test < _COUNT_BELOW:
        # Few test items: one vectorised counting pass over the items per test item.
        for j in range(n_test):
            target = test_scores[j]
            count = 0
            for c in range(scores.shape[0]):
                if scores[c] >= target:
                    count += 1
            out[j] = count
    else:
        # Many: one pass over the items, each binned by how many test scores it reaches.
        ordered = test_scores  # sorted in place: not needed in input order any more
        order = scratch_order[:n_test]
        for j in range(n_test):
            order[j] = j
        heap_sort(ordered, order)
        reached = scratch_reached[: n_test + 1]
        reached[:] = 0
        for c in range(scores.shape[0]):
            reached[_right_of(ordered, scores[c])] += 1
        # Items scoring at least ordered[j] reach past position j.
        running = 0
        for j in range(n_test - 1, -1, -1):
            running += reached[j + 1]
            out[order[j]] = running
    for j in range(n_test):
        # The item counted itself unless it was masked as a train item.
        if scores[test_items[j]] != -np.inf:
            out[j] -= 1


@njit(cache=True, nogil=True, error_model="numpy", _nrt=False)
def rank_block(scores, users, test_indptr, test_indices, train_indptr, train_indices, ranks, scratch):
    """Fill ``ranks`` (aligned with the test CSR data) for ``users``, whose scores are the rows of ``scores``.

    ``scores`` is overwritten (train items masked). Serial: callers run blocks
    on several threads, each with its own BLAS product (see :mod:`lightfm.backends.cpu.threads`).
    ``scratch``: :func:`_rank_user`'s working memory, ``(scores' dtype, int64, int64)`` arrays of
    the most test items of a user (the last one more), made by the caller: the kernels of a
    process's first evaluation then need no Numba runtime (NRT) to be set up.
    """
    for b in range(users.shape[0]):
        u = users[b]
        lo = test_indptr[u]
        hi = test_indptr[u + 1]
        _rank_user(
            scores[b],
            test_indices[lo:hi],
            train_indices[train_indptr[u] : train_indptr[u + 1]],
            ranks[lo:hi],
            scratch[0],
            scratch[1],
            scratch[2],
        )


@njit(cache=True, nogil=True, _nrt=False)
def _better(score_a, column_a, score_b, column_b):
    """Whether entry a ranks above entry b: higher score first, then lower column."""
    return score_a > score_b or (score_a == score_b and column_a < column_b)


@njit(cache=True, nogil=True, _nrt=False)
def _sift_down(heap_scores, heap_columns, size, pos):
    """Restore the heap (worst entry at the root) below ``pos``."""
    while True:
        child = 2 * pos + 1
        if child >= size:
            return
        if child + 1 < size and _better(
            heap_scores[child], heap_columns[child], heap_scores[child + 1], heap_columns[child + 1]
        ):
            child += 1
        if not _better(heap_scores[pos], heap_columns[pos], heap_scores[child], heap_columns[child]):
            return
        heap_scores[pos], heap_scores[child] = heap_scores[child], heap_scores[pos]
        heap_columns[pos], heap_columns[child] = heap_columns[child], heap_columns[pos]
        pos = child


@njit(cache=True, nogil=True, _nrt=False)
def _offer(scores, lo, hi, top_columns, top_scores, size):
    """Offer ``scores[lo:hi]`` to the heap of the best entries (root: the worst kept); returns its new size."""
    n = top_columns.shape[0]
    for c in range(lo, hi):
        s = scores[c]
        if not s > -np.inf:
            continue
        if size < n:
            pos = size
            size += 1
            while pos > 0:
                parent = (pos - 1) // 2
                if not _better(top_scores[parent], top_columns[parent], s, c):
                    break
                top_scores[pos] = top_scores[parent]
                top_columns[pos] = top_columns[parent]
                pos = parent
            top_scores[pos] = s
            top_columns[pos] = c
        elif s > top_scores[0]:
            # Columns arrive in increasing order, so an equal score never displaces the root.
            top_scores[0] = s
            top_columns[0] = c
            _sift_down(top_scores, top_columns, size, _ZERO)
    return size


@njit(cache=True, nogil=True, fastmath=True, _nrt=False)
def _count_above(scores, lo, hi, threshold):
    # Written as a sum over a slice so that LLVM vectorises it (a float max reduction is not).
    view = scores[lo:hi]
    count = 0
    for i in range(view.shape[0]):
        count += view[i] > threshold
    return count


@njit(cache=True, nogil=True, _nrt=False)
def _top_row(scores, top_columns, top_scores):
    """Fill the outputs with the best ``len(top_columns)`` entries of ``scores``, best first.

    Entries of -inf (excluded) and NaN never qualify; ties go to the lower
    column. Returns how many entries were found. The outputs double as a heap
    whose root is the worst kept entry; once it is full, a chunk of scores whose
    entries do not beat the root is skipped after one vectorised pass.
    """
    n = top_columns.shape[0]
    m = scores.shape[0]
    size = _ZERO
    for lo in range(0, m, _CHUNK):
        hi = min(lo + _CHUNK, m)
        if size == n and _count_above(scores, lo, hi, top_scores[0]) == 0:
            continue
        size = _offer(scores, lo, hi, top_columns, top_scores, size)
    for end in range(size - 1, 0, -1):
        top_scores[0], top_scores[end] = top_scores[end], top_scores[0]
        top_columns[0], top_columns[end] = top_columns[end], top_columns[0]
        _sift_down(top_scores, top_columns, end, _ZERO)
    return size


@njit(cache=True, nogil=True, error_model="numpy", _nrt=False)
def top_n_block(scores, rows, exclude_indptr, exclude_indices, column_of, candidates, out_items, out_scores):
    """Top ``out_items.shape[1]`` candidates of each row of ``scores``, best first.

    Row ``b`` of ``scores`` belongs to row ``rows[b]`` of the exclusion CSR
    (``exclude_indptr``/``exclude_indices``, item indices); ``column_of[item]``
    is that item's column in ``scores`` or -1 if it is not a candidate, and
    ``candidates[column]`` maps a column back to its item. Slots left over when
    fewer candidates remain hold item -1 and score -inf. ``scores`` is
    overwritten (excluded entries set to -inf). Serial, like :func:`rank_block`.
    """
    n = out_items.shape[1]
    for b in range(scores.shape[0]):
        row = scores[b]
        r = rows[b]
        for j in range(exclude_indptr[r], exclude_indptr[r + 1]):
            c = column_of[exclude_indices[j]]
            if c >= 0:
                row[c] = -np.inf
        found = _top_row(row, out_items[b], out_scores[b])
        for j in range(found):
            out_items[b, j] = candidates[out_items[b, j]]
        for j in range(found, n):
            out_items[b, j] = -1
            out_scores[b, j] = -np.inf
