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
            row = np.sort(indices[lo:hi])
            indices[out] = row[0]
            out += 1
            for j in range(1, row.shape[0]):
                if row[j] != row[j - 1]:
                    indices[out] = row[j]
                    out += 1
    indptr[n_users] = out
    return indptr, indices[:out]
