"""The CPU engine: Numba kernels on Python threads (training) and BLAS plus Numba (scoring).

Layout: :mod:`.kernels` (the ``@njit`` kernels, plain arrays in), :mod:`.training`
(Hogwild epochs, cache alignment, prefetch decisions), :mod:`.threads` (thread
pools and Numba's threading layer), and this module's :class:`CPUBackend`,
which implements :class:`lightfm.backends.base.Backend`.

The kernels are imported by the methods that call them, so that importing the engine does not load
Numba: a process that only asks for a few users' top items (``lightfm recommend --user``) selects
them in NumPy (:func:`_top_n_numpy`, the same items and scores as the kernel) and never loads Numba,
about 0.15 s of CPU time and 55 MB of memory.
"""

from __future__ import annotations

import sys

import numpy as np

from ..base import Backend, candidate_columns
from .threads import numba_threads, run_blocks

# Target size of the blocks of scores (queries x candidates, float32) in memory at once, all
# threads' together, and the least one thread's block is cut to. On the 10M generated set
# (50k items) blocks of 4-16 MB rank alike and smaller ones pay more per block (1 MB: 1.7x the
# time); 16 MB per thread made evaluation's peak memory grow by 16 MB with every thread.
SCORE_BLOCK_BYTES = 16 * 2**20
_MIN_THREAD_BLOCK_BYTES = 4 * 2**20
# Score-matrix size (users x items) from which ranking uses more than one thread.
_PARALLEL_RANKING_ABOVE = 1_000_000
# Top-n selections of at most this many scores (queries x candidates) run in NumPy while the scoring
# kernels are not loaded: loading them (and Numba) costs far more than such a selection does.
_NUMPY_TOP_N_SCORES = 1 << 16
_SCORING_KERNELS = __name__ + ".kernels.scoring"


class CPUBackend(Backend):
    """The Numba engine (see the module docstring)."""

    name = "cpu"

    def fit_epochs(self, state, data, config, epochs, num_threads, random_state, verbose):
        # Imported here: scoring alone (a served model) never loads the training kernels.
        from .training import fit_epochs

        fit_epochs(state, data, config, epochs, num_threads, random_state, verbose)

    def fold_in(self, rows, config, epochs, num_threads):
        from .foldin import fold_in

        return fold_in(rows, config, epochs, num_threads)

    def predict_pairs(self, user_repr, user_bias, user_index, item_repr, item_bias, item_index, num_threads):
        from .kernels.scoring import predict_pairs  # first: the kernels package sets the threading layer

        predictions = np.empty(user_index.size, dtype=np.float32)
        with numba_threads(num_threads):
            predict_pairs(user_repr, user_bias, user_index, item_repr, item_bias, item_index, predictions)
        return predictions

    def rank(self, user_block, test_users, item_side, test, train, num_threads):
        from .kernels.scoring import rank_block

        ranks = np.zeros(test.nnz, dtype=np.float32)
        if not test_users.size:
            return ranks
        n_items = test.shape[1]
        test_indptr = test.indptr.astype(np.int64)
        train_indptr = train.indptr.astype(np.int64)
        longest = int(np.diff(test_indptr).max())  # the most test items of a user: the kernel's working memory

        def work(start, stop):
            block_users = test_users[start:stop]
            scores = user_block(block_users) @ item_side
            scratch = (
                np.empty(longest, dtype=scores.dtype),
                np.empty(longest, dtype=np.int64),
                np.empty(longest + 1, dtype=np.int64),
            )
            rank_block(scores, block_users, test_indptr, test.indices, train_indptr, train.indices, ranks, scratch)

        # Small rankings finish before a second thread has started: run them on one.
        rank_threads = num_threads if test_users.size * n_items >= _PARALLEL_RANKING_ABOVE else 1
        run_blocks(test_users.size, _block_rows(n_items, rank_threads), rank_threads, work)
        return ranks

    def top_n(self, query_block, query_ids, target_side, n, exclusions, rows, candidates, num_threads):
        candidates, column_of = candidate_columns(candidates, exclusions[2])
        items = np.empty((query_ids.size, n), dtype=np.int64)
        scores = np.empty((query_ids.size, n), dtype=np.float32)
        if not query_ids.size:
            return items, scores
        if query_ids.size * candidates.size <= _NUMPY_TOP_N_SCORES and _SCORING_KERNELS not in sys.modules:
            block_scores = np.ascontiguousarray(query_block(query_ids) @ target_side, dtype=np.float32)
            _top_n_numpy(block_scores, rows, exclusions[0], exclusions[1], column_of, candidates, items, scores)
            return items, scores
        from .kernels.scoring import top_n_block

        def work(start, stop):
            block_scores = np.ascontiguousarray(query_block(query_ids[start:stop]) @ target_side, dtype=np.float32)
            top_n_block(
                block_scores,
                rows[start:stop],
                exclusions[0],
                exclusions[1],
                column_of,
                candidates,
                items[start:stop],
                scores[start:stop],
            )

        run_blocks(query_ids.size, _block_rows(candidates.size, num_threads), num_threads, work)
        return items, scores


def _top_n_numpy(scores, rows, exclude_indptr, exclude_indices, column_of, candidates, out_items, out_scores):
    """:func:`.kernels.scoring.top_n_block` in NumPy, for a few rows: the same items and scores.

    Best first, ties to the lower column; excluded entries (set to -inf in ``scores``), -inf and NaN
    never qualify, and slots left over hold item -1 and score -inf.
    """
    n = out_items.shape[1]
    for b in range(scores.shape[0]):
        row = scores[b]
        r = rows[b]
        columns = column_of[exclude_indices[exclude_indptr[r] : exclude_indptr[r + 1]]]
        row[columns[columns >= 0]] = -np.inf
        valid = np.flatnonzero(row > -np.inf)  # ascending columns; NaN compares false
        if valid.size > n > 0:
            values = row[valid]
            nth = np.partition(values, valid.size - n)[valid.size - n]  # the n-th best score
            above = valid[values > nth]
            valid = np.concatenate((above, valid[values == nth][: n - above.size]))
        elif n == 0:
            valid = valid[:0]
        chosen = valid[np.lexsort((valid, -row[valid]))]  # score descending, then column ascending
        found = chosen.size
        out_items[b, :found] = candidates[chosen]
        out_scores[b, :found] = row[chosen]
        out_items[b, found:] = -1
        out_scores[b, found:] = -np.inf


def _block_rows(n_columns, num_threads):
    """Rows per block of float32 scores with ``n_columns`` columns, for ``num_threads`` threads at once."""
    block_bytes = max(SCORE_BLOCK_BYTES // max(num_threads, 1), _MIN_THREAD_BLOCK_BYTES)
    return max(1, block_bytes // (4 * max(n_columns, 1)))
