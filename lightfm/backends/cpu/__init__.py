"""The CPU engine: Numba kernels on Python threads (training) and BLAS plus Numba (scoring).

Layout: :mod:`.kernels` (the ``@njit`` kernels, plain arrays in), :mod:`.training`
(Hogwild epochs, cache alignment, prefetch decisions), :mod:`.threads` (thread
pools and Numba's threading layer), and this module's :class:`CPUBackend`,
which implements :class:`lightfm.backends.base.Backend`.
"""

from __future__ import annotations

import numpy as np

from ..base import Backend, candidate_columns
from .kernels.scoring import predict_pairs, rank_block, top_n_block
from .threads import numba_threads, run_blocks

# Target size of one block of scores (queries x candidates, float32).
SCORE_BLOCK_BYTES = 16 * 2**20
# Score-matrix size (users x items) from which ranking uses more than one thread.
_PARALLEL_RANKING_ABOVE = 1_000_000


class CPUBackend(Backend):
    """The Numba engine (see the module docstring)."""

    name = "cpu"

    def fit_epochs(self, state, data, config, epochs, num_threads, random_state, verbose):
        # Imported here: input validation imports this package's kernels, and training imports it back.
        from .training import fit_epochs

        fit_epochs(state, data, config, epochs, num_threads, random_state, verbose)

    def predict_pairs(self, user_repr, user_bias, user_index, item_repr, item_bias, item_index, num_threads):
        predictions = np.empty(user_index.size, dtype=np.float32)
        with numba_threads(num_threads):
            predict_pairs(user_repr, user_bias, user_index, item_repr, item_bias, item_index, predictions)
        return predictions

    def rank(self, user_block, test_users, item_side, test, train, num_threads):
        ranks = np.zeros(test.nnz, dtype=np.float32)
        if not test_users.size:
            return ranks
        n_items = test.shape[1]
        test_indptr = test.indptr.astype(np.int64)
        train_indptr = train.indptr.astype(np.int64)

        def work(start, stop):
            block_users = test_users[start:stop]
            scores = user_block(block_users) @ item_side
            rank_block(scores, block_users, test_indptr, test.indices, train_indptr, train.indices, ranks)

        # Small rankings finish before a second thread has started: run them on one.
        rank_threads = num_threads if test_users.size * n_items >= _PARALLEL_RANKING_ABOVE else 1
        run_blocks(test_users.size, max(1, SCORE_BLOCK_BYTES // (4 * max(n_items, 1))), rank_threads, work)
        return ranks

    def top_n(self, query_block, query_ids, target_side, n, exclusions, rows, candidates, num_threads):
        candidates, column_of = candidate_columns(candidates, exclusions[2])
        items = np.empty((query_ids.size, n), dtype=np.int64)
        scores = np.empty((query_ids.size, n), dtype=np.float32)

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

        block = max(1, SCORE_BLOCK_BYTES // (4 * max(candidates.size, 1)))
        run_blocks(query_ids.size, block, num_threads, work)
        return items, scores
