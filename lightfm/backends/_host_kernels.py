"""Numba kernels that the estimator and both engines share, run on the host: id look-ups and AUC.

Each user's sorted own items (:func:`build_positives`: the estimator's test and train patterns, and
both engines' training look-ups), the item counts and alias table BPR draws its negatives from, the
examples of an epoch, the overlap of two patterns, and per-user AUC from ranks (evaluation, whichever
engine ranked). Plain arrays in; Numba's CPU target whichever engine trains, so a GPU-trained model
builds the same look-ups as a CPU-trained one.

Imports no engine. Imported where it is used (inside functions in the core), so that ``import lightfm``
does not load Numba. The NumPy-only constants and allocators the engines share are in
:mod:`lightfm.backends._common`.
"""

import numpy as np

from ._jit import njit

# A zero typed int64, not Literal[int](0): a literal argument compiles a helper a second time.
_ZERO = np.int64(0)


def build_positives(rows, cols, entries, n_rows, n_cols, share_cols=False):
    """CSR ``(indptr, indices)`` of the columns in ``cols[entries]``, grouped by ``rows[entries]``.

    Entries already in (row, column) order (a COO from ``tocoo()`` of a CSR, or
    data sorted by user and item) are copied in one pass; with ``share_cols``,
    when ``entries`` is every entry in sequence and no entry repeats, ``indices``
    is ``cols`` itself (the caller must then never write to either). Otherwise
    two stable counting sorts (by column, then by row) leave every row's
    columns sorted without sorting any row. Repeats are then dropped in one
    pass. O(nnz + n_rows + n_cols) time and memory. ``cols`` must be int32
    (the validated interactions' dtype), the type of the ``indices`` returned.

    The arrays are made here and the kernels only fill them, compiled without Numba's runtime
    (NRT): a fit then loads neither the runtime nor Numba's array module (about 30 ms of a
    process's first fit).
    """
    n = entries.shape[0]
    indptr = np.zeros(int(n_rows) + 1, dtype=np.int64)
    in_order, shareable = _build_positives(rows, cols, entries, indptr)
    if share_cols and shareable:
        # Sorted and unique already: the lookup is the interactions' own columns (the 10M set: 39 ms -> 18 ms).
        return indptr, cols[:n]
    indices = np.empty(n, dtype=np.int32)
    if in_order:
        starts, by_column, fill = _NO_INT64, _NO_INT32, _NO_INT64
    else:
        starts = np.zeros(int(n_cols) + 1, dtype=np.int64)
        by_column = np.empty(n, dtype=np.int32)
        fill = indptr[:-1].copy()
    return indptr, indices[: _fill_rows(rows, cols, entries, in_order, indptr, indices, starts, by_column, fill)]


_NO_INT64 = np.zeros(0, dtype=np.int64)
_NO_INT32 = np.zeros(0, dtype=np.int32)


@njit(cache=True, nogil=True, _nrt=False)
def _build_positives(rows, cols, entries, indptr):
    """The first pass of :func:`build_positives`: fill ``indptr`` with the rows' offsets; whether the
    entries are in (row, column) order, and whether they are moreover every entry of ``cols`` in
    sequence with no repeats."""
    n = entries.shape[0]
    in_order = True
    strictly = True
    every_entry = n == cols.shape[0]
    previous_row = 0
    previous_col = -1
    for k in range(n):
        e = entries[k]
        r = rows[e]
        c = cols[e]
        indptr[r + 1] += 1
        same_row = r == previous_row
        in_order &= (r > previous_row) | (same_row & (c >= previous_col))
        strictly &= (r != previous_row) | (c > previous_col)
        every_entry &= e == k
        previous_row = r
        previous_col = c
    for r in range(indptr.shape[0] - 1):
        indptr[r + 1] += indptr[r]
    return in_order, in_order and strictly and every_entry


@njit(cache=True, nogil=True, _nrt=False)
def _fill_rows(rows, cols, entries, in_order, indptr, indices, starts, by_column, fill):
    """Fill ``indices`` row by row (``starts``, ``by_column`` and ``fill``: the counting sorts'
    buffers, when not ``in_order``), drop repeats in place; returns how many entries are left."""
    n = entries.shape[0]
    n_rows = indptr.shape[0] - 1
    if in_order:
        for k in range(n):
            indices[k] = cols[entries[k]]
    else:
        for e in entries:
            starts[cols[e] + 1] += 1
        for c in range(starts.shape[0] - 1):
            starts[c + 1] += starts[c]
        for e in entries:
            c = cols[e]
            by_column[starts[c]] = e
            starts[c] += 1
        for e in by_column:
            r = rows[e]
            indices[fill[r]] = cols[e]
            fill[r] += 1
    # Drop repeats (adjacent now), compacting in place.
    out = 0
    for r in range(n_rows):
        lo = indptr[r]
        hi = indptr[r + 1]
        indptr[r] = out
        for j in range(lo, hi):
            if j == lo or indices[j] != indices[j - 1]:
                indices[out] = indices[j]
                out += 1
    indptr[n_rows] = out
    return out


def count_columns(cols, entries, n_cols):
    """How often each column occurs in ``cols[entries]``, as float64 (``np.bincount`` without its temporaries)."""
    counts = np.zeros(n_cols, dtype=np.float64)
    _count_into(cols, entries, counts)
    return counts


@njit(cache=True, nogil=True, _nrt=False)
def _count_into(cols, entries, counts):
    for e in entries:
        counts[cols[e]] += 1.0


def alias_table(counts):
    """Walker/Vose alias table drawing index ``i`` with probability ``counts[i] / counts.sum()``.

    BPR draws its negatives from the items of all stored entries (an item as
    often as it is stored); the table (two arrays of n_items) stays in cache,
    unlike a pool of every entry's item. The arrays are made here, outside the
    kernel, which then compiles without NumPy's array constructors.
    """
    n = counts.shape[0]
    prob = np.ones(n, dtype=np.float32)
    alias = np.arange(n, dtype=np.int32)
    _fill_alias(
        np.ascontiguousarray(counts, dtype=np.float64), prob, alias,
        np.empty(n, dtype=np.float64), np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64),
    )  # fmt: skip
    return prob, alias


@njit(cache=True, nogil=True, _nrt=False)
def _fill_alias(counts, prob, alias, scaled, small, large):
    n = counts.shape[0]
    total = 0.0
    for i in range(n):
        total += counts[i]
    if n == 0 or total <= 0:
        return
    for i in range(n):
        scaled[i] = counts[i] * (n / total)
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


@njit(cache=True, nogil=True, _nrt=False)
def count_shared(indptr_a, indices_a, indptr_b, indices_b):
    """How many (row, column) pairs two CSR patterns with sorted, unique rows share (a merge per row)."""
    shared = 0
    for row in range(indptr_a.shape[0] - 1):
        i, i_end = indptr_a[row], indptr_a[row + 1]
        j, j_end = indptr_b[row], indptr_b[row + 1]
        while i < i_end and j < j_end:
            if indices_a[i] < indices_b[j]:
                i += 1
            elif indices_a[i] > indices_b[j]:
                j += 1
            else:
                shared += 1
                i += 1
                j += 1
    return shared


def deal_parts(rows, n_threads):
    """How many parts to deal an epoch's examples to (:func:`fill_examples`): 1 or ``n_threads``.

    Entries sorted by user (a CSR's COO, the usual input) are split into
    contiguous parts, one per thread, so that each thread trains its own users
    and keeps their rows in its core's cache. Entries in any other order are
    dealt like cards, so that each thread sees an even sample of users and
    items: contiguous parts of entries sorted by item (as SciPy < 1.11's
    ``coo_matrix.astype`` leaves them) gave each of 4 threads a quarter of the
    items and lowered MovieLens test AUC from 0.874 to 0.871 (BPR) and
    0.911 to 0.901-0.910 (WARP). The original LightFM shuffles every example
    before its threads split them.
    """
    if n_threads <= 1 or non_decreasing(rows):
        return 1
    return int(n_threads)


@njit(cache=True, nogil=True, _nrt=False, error_model="numpy")
def non_decreasing(values):
    """Whether ``values`` never decrease (without the temporary arrays of a NumPy comparison)."""
    for i in range(1, values.shape[0]):
        if values[i] < values[i - 1]:
            return False
    return True


@njit(cache=True, nogil=True, _nrt=False, error_model="numpy")
def fill_examples(labels, positives_only, order, n_parts):
    """Write the positions of the training examples to the start of ``order``, dealt to ``n_parts`` parts.

    Every entry is an example, or with ``positives_only`` every entry > 0.
    The examples are dealt like cards, in COO order: example ``k`` goes to
    part ``k % n_parts``, and part ``p`` is ``order[part_bounds(n, n_parts)[p]]``
    (``backends._common.part_bounds``); ``n_parts=1`` keeps COO order. Each
    thread (or GPU worker) walks one part: see ``deal_parts``
    for when they are dealt. Rewritten at the start of each epoch, so that an
    epoch's shuffle never depends on the one before it (``fit_partial`` once
    per epoch trains as one call with several epochs). Returns the number of
    examples.
    """
    n = 0
    for i in range(labels.shape[0]):
        if not positives_only or labels[i] > 0:
            order[n] = i
            n += 1
    if n_parts == 1:
        return n
    base = n // n_parts
    extra = n - base * n_parts
    k = 0
    for i in range(labels.shape[0]):
        if not positives_only or labels[i] > 0:
            part = k % n_parts
            order[part * base + min(part, extra) + k // n_parts] = i
            k += 1
    return n


@njit(cache=True, nogil=True, inline="always")
def sorts_before(a, b):
    """Whether ``a`` sorts before ``b``: ascending, NaN last, as NumPy sorts and searches."""
    return a < b or (b != b and a == a)


@njit(cache=True, nogil=True, _nrt=False)
def _sift(keys, carry, pos, size):
    """Restore the max-heap ``keys[:size]`` below ``pos``, moving ``carry`` alike."""
    while True:
        child = 2 * pos + 1
        if child >= size:
            return
        if child + 1 < size and sorts_before(keys[child], keys[child + 1]):
            child += 1
        if not sorts_before(keys[pos], keys[child]):
            return
        keys[pos], keys[child] = keys[child], keys[pos]
        carry[pos], carry[child] = carry[child], carry[pos]
        pos = child


@njit(cache=True, nogil=True, _nrt=False)
def heap_sort(keys, carry):
    """Sort ``keys`` ascending in place (NaN last), applying the same moves to ``carry``.

    A heapsort, O(n log n) without recursion: one small function serves ranking (an argsort,
    ``carry`` the positions) and AUC, where NumPy's ``argsort`` and ``sort`` cost about 0.8 s each to
    compile on first use. Ties may end up in any order; no caller depends on it.
    """
    n = keys.shape[0]
    for start in range(n // 2 - 1, -1, -1):
        _sift(keys, carry, start, n)
    for end in range(n - 1, 0, -1):
        keys[0], keys[end] = keys[end], keys[0]
        carry[0], carry[end] = carry[end], carry[0]
        _sift(keys, carry, _ZERO, end)


def auc_from_ranks(indptr, ranks, n_train, n_items, out):
    """Per-user AUC: the fraction of (test item, non-train non-test item) pairs ordered correctly.

    ``ranks`` come from an engine's :meth:`~lightfm.backends.base.Backend.rank`. A positive's rank
    counts every other candidate scoring at least as high; the test items among them are
    subtracted, leaving the negatives ranked above it. Ties count as errors.
    Users with no positives or no negatives get 0.5. Serial: it only sorts
    each user's few ranks, far less than waking a thread pool costs.
    """
    longest = int(np.diff(indptr[: out.shape[0] + 1]).max()) if out.shape[0] else 0
    keys = np.empty(longest, dtype=ranks.dtype)
    carry = np.empty(longest, dtype=np.int64)
    _auc_from_ranks(indptr, ranks, n_train, n_items, out, keys, carry)


@njit(cache=True, nogil=True, error_model="numpy", _nrt=False)
def _auc_from_ranks(indptr, ranks, n_train, n_items, out, keys, carry):
    """:func:`auc_from_ranks` with its working memory (each the most positives of a user) made by the caller."""
    for u in range(out.shape[0]):
        lo = indptr[u]
        hi = indptr[u + 1]
        n_pos = hi - lo
        n_neg = n_items - n_pos - n_train[u]
        if n_pos == 0 or n_neg <= 0:
            out[u] = 0.5
            continue
        ordered = keys[:n_pos]
        for i in range(n_pos):
            ordered[i] = ranks[lo + i]
        heap_sort(ordered, carry)
        correct = 0.0
        j = 0
        for i in range(n_pos):
            # Positives with rank <= this one's score at least as high; one is itself.
            while j < n_pos and ordered[j] <= ordered[i]:
                j += 1
            # Clamped: a positive that is also a train item is in no other's ranking, so the
            # subtraction can overshoot (only when train and test overlap).
            negatives_above = min(max(ordered[i] - (j - 1), 0.0), n_neg)
            correct += n_neg - negatives_above
        out[u] = correct / (n_pos * n_neg)
