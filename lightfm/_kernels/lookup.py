"""Each user's sorted, de-duplicated positive items, built without SciPy's intermediate copies."""

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def build_positives(rows, cols, entries, n_users):
    """CSR ``(indptr, indices)`` of the items in ``cols[entries]``, grouped by ``rows[entries]``.

    A counting sort by user, then a sort and de-duplication within each user's
    (short) list; O(nnz) memory beyond the output.
    """
    counts = np.zeros(n_users + 1, dtype=np.int64)
    for e in entries:
        counts[rows[e] + 1] += 1
    indptr = np.cumsum(counts)
    fill = indptr[:-1].copy()
    indices = np.empty(entries.shape[0], dtype=np.int32)
    for e in entries:
        u = rows[e]
        indices[fill[u]] = cols[e]
        fill[u] += 1
    # Sort each row and drop repeats, compacting in place.
    out = 0
    for u in range(n_users):
        lo = indptr[u]
        hi = indptr[u + 1]
        indptr[u] = out
        if hi > lo:
            indices[lo:hi].sort()
            previous = indices[lo]
            indices[out] = previous
            out += 1
            for j in range(lo + 1, hi):
                value = indices[j]
                if value != previous:
                    indices[out] = value
                    out += 1
                    previous = value
    indptr[n_users] = out
    return indptr, indices[:out]


@njit(cache=True, nogil=True)
def alias_table(counts):
    """Walker/Vose alias table drawing index ``i`` with probability ``counts[i] / counts.sum()``.

    BPR draws its negatives from the training items' empirical distribution;
    the table (two arrays of n_items) stays in cache, unlike a pool of every
    training example's item.
    """
    n = counts.shape[0]
    prob = np.ones(n, dtype=np.float32)
    alias = np.arange(n).astype(np.int32)
    total = counts.sum()
    if n == 0 or total <= 0:
        return prob, alias
    scaled = counts.astype(np.float64) * (n / total)
    small = np.empty(n, dtype=np.int64)
    large = np.empty(n, dtype=np.int64)
    n_small = 0
    n_large = 0
    for i in range(n):
        if scaled[i] < 1.0:
            small[n_small] = i
            n_small += 1
        else:
            large[n_large] = i
            n_large += 1
    while n_small > 0 and n_large > 0:
        n_small -= 1
        s = small[n_small]
        g = large[n_large - 1]
        prob[s] = scaled[s]
        alias[s] = g
        scaled[g] = scaled[g] + scaled[s] - 1.0
        if scaled[g] < 1.0:
            n_large -= 1
            small[n_small] = g
            n_small += 1
    # Leftovers are 1 up to rounding.
    return prob, alias
