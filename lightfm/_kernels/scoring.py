"""Scoring kernels: pairwise predictions and ranks of test items within blocks of users.

Representations arrive precomputed (``features @ embeddings``, or the embedding
tables themselves for identity features); full score blocks come from one BLAS
product in Python, so these kernels only gather, count and sort.
"""

import numpy as np
from numba import njit, prange

# Below this many test items per user, vectorised counting passes beat binning by binary search.
_COUNT_BELOW = 96


@njit(parallel=True, cache=True, nogil=True, error_model="numpy")
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


@njit(cache=True, nogil=True)
def _rank_user(scores, test_items, train_items, out):
    """Rank of each test item among the items the user did not train on (0 = best).

    An item's rank counts the other non-train items scoring at least as high,
    so ties rank pessimistically, exactly as the original LightFM does.
    """
    n_test = test_items.shape[0]
    test_scores = np.empty(n_test, dtype=scores.dtype)
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
        order = np.argsort(test_scores)
        ordered = test_scores[order]
        reached = np.zeros(n_test + 1, dtype=np.int64)
        for c in range(scores.shape[0]):
            reached[np.searchsorted(ordered, scores[c], side="right")] += 1
        # Items scoring at least ordered[j] reach past position j.
        running = 0
        for j in range(n_test - 1, -1, -1):
            running += reached[j + 1]
            out[order[j]] = running
    for j in range(n_test):
        # The item counted itself unless it was masked as a train item.
        if scores[test_items[j]] != -np.inf:
            out[j] -= 1


@njit(parallel=True, cache=True, nogil=True, error_model="numpy")
def rank_block(scores, users, test_indptr, test_indices, train_indptr, train_indices, ranks):
    """Fill ``ranks`` (aligned with the test CSR data) for ``users``, whose scores are the rows of ``scores``.

    ``scores`` is overwritten (train items masked).
    """
    for b in prange(users.shape[0]):
        u = users[b]
        lo = test_indptr[u]
        hi = test_indptr[u + 1]
        _rank_user(
            scores[b],
            test_indices[lo:hi],
            train_indices[train_indptr[u] : train_indptr[u + 1]],
            ranks[lo:hi],
        )


@njit(parallel=True, cache=True, nogil=True, error_model="numpy")
def auc_from_ranks(indptr, ranks, n_train, n_items, out):
    """Per-user AUC: the fraction of (test item, non-train non-test item) pairs ordered correctly.

    ``ranks`` come from :func:`rank_block`. A positive's rank counts every other
    candidate scoring at least as high; the test items among them are
    subtracted, leaving the negatives ranked above it. Ties count as errors.
    Users with no positives or no negatives get 0.5.
    """
    for u in prange(out.shape[0]):
        lo = indptr[u]
        hi = indptr[u + 1]
        n_pos = hi - lo
        n_neg = n_items - n_pos - n_train[u]
        if n_pos == 0 or n_neg <= 0:
            out[u] = 0.5
            continue
        ordered = np.sort(ranks[lo:hi])
        correct = 0.0
        j = 0
        for i in range(n_pos):
            # Positives with rank <= this one's score at least as high; one is itself.
            while j < n_pos and ordered[j] <= ordered[i]:
                j += 1
            negatives_above = ordered[i] - (j - 1)
            correct += n_neg - negatives_above
        out[u] = correct / (n_pos * n_neg)
