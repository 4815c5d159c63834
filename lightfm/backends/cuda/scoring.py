"""Scoring on a GPU: pairwise predictions, ranks of test items, and top-n, in blocks of score rows.

Query rows (``user_block``/``query_block``, computed on the host as for the CPU
engine) go to the device a block at a time; their product with the candidate
side stays on the device, where train or excluded items are masked, ranks are
counted and the top n selected. Only ranks and the top n come back.
"""

from __future__ import annotations

import numpy as np
from numba import cuda

from ..base import candidate_columns
from . import kernels as K

# Target size of one block of scores on the device (queries x candidates, float32).
SCORE_BLOCK_BYTES = 256 * 2**20
# Rows of a score block at most (the product kernel's grid is at most 65535 blocks of 8 rows high).
_MAX_BLOCK_ROWS = 65535 * 8
# Threads per block of the per-row kernels (ranking, top n); the simulator runs each as a Python thread.
_ROW_THREADS = 8 if K.SIMULATOR else 256
_PRODUCT_THREADS = (32, 8)


def _rows_per_block(n_columns):
    return int(max(1, min(_MAX_BLOCK_ROWS, SCORE_BLOCK_BYTES // (4 * max(n_columns, 1)))))


def _product(d_queries, d_targets, d_scores):
    """``d_scores = d_queries @ d_targets`` on the device."""
    rows, columns = d_scores.shape
    grid = (-(-columns // _PRODUCT_THREADS[0]), -(-rows // _PRODUCT_THREADS[1]))
    K.score_block[grid, _PRODUCT_THREADS](d_queries, d_targets, d_scores)


def predict_pairs(user_repr, user_bias, user_index, item_repr, item_bias, item_index):
    """Scores of the pairs ``(user_index[i], item_index[i])``, float32 (see the Backend interface)."""
    out = np.empty(user_index.size, dtype=np.float32)
    if not out.size:
        return out
    d_out = cuda.device_array(out.size, dtype=np.float32)
    K.predict_pairs[-(-out.size // 256), 256](
        cuda.to_device(np.ascontiguousarray(user_repr, dtype=np.float32)),
        cuda.to_device(np.ascontiguousarray(user_bias, dtype=np.float32)),
        cuda.to_device(np.ascontiguousarray(user_index)),
        cuda.to_device(np.ascontiguousarray(item_repr, dtype=np.float32)),
        cuda.to_device(np.ascontiguousarray(item_bias, dtype=np.float32)),
        cuda.to_device(np.ascontiguousarray(item_index)),
        d_out,
    )
    return d_out.copy_to_host(out)


def rank(user_block, test_users, item_side, test, train):
    """Ranks of the test entries among each user's non-train items (see the Backend interface)."""
    ranks = np.zeros(test.nnz, dtype=np.float32)
    if not test_users.size:
        return ranks
    n_items = test.shape[1]
    d_items = cuda.to_device(np.ascontiguousarray(item_side, dtype=np.float32))
    d_test = (cuda.to_device(test.indptr.astype(np.int64)), cuda.to_device(test.indices))
    d_train = (
        cuda.to_device(train.indptr.astype(np.int64)),
        cuda.to_device(train.indices if train.indices.size else np.zeros(1, dtype=test.indices.dtype)),
    )
    d_columns = cuda.to_device(np.arange(n_items, dtype=np.int64))
    d_ranks = cuda.to_device(ranks)
    block = _rows_per_block(n_items)
    d_scores = cuda.device_array((min(block, test_users.size), n_items), dtype=np.float32)
    for start in range(0, test_users.size, block):
        users = np.ascontiguousarray(test_users[start : start + block], dtype=np.int64)
        d_users = cuda.to_device(users)
        scores = d_scores[: users.size]
        _product(cuda.to_device(np.ascontiguousarray(user_block(users), dtype=np.float32)), d_items, scores)
        K.mask_entries[-(-users.size // 64), 64](scores, d_users, *d_train, d_columns)
        K.rank_entries[users.size, _ROW_THREADS](scores, d_users, *d_test, *d_train, d_ranks)
    return d_ranks.copy_to_host(ranks)


def top_n(query_block, query_ids, target_side, n, exclusions, rows, candidates):
    """Best ``n`` candidates per query, best first: ``(items int64, scores float32)`` (see the Backend interface)."""
    candidates, column_of = candidate_columns(candidates, exclusions[2])
    items = np.empty((query_ids.size, n), dtype=np.int64)
    scores = np.empty((query_ids.size, n), dtype=np.float32)
    if not query_ids.size or not n:
        return items, scores
    if not candidates.size:
        items.fill(-1)
        scores.fill(-np.inf)
        return items, scores
    d_targets = cuda.to_device(np.ascontiguousarray(target_side, dtype=np.float32))
    d_candidates = cuda.to_device(np.ascontiguousarray(candidates, dtype=np.int64))
    d_column_of = cuda.to_device(np.ascontiguousarray(column_of, dtype=np.int64))
    exclude_indices = exclusions[1] if exclusions[1].size else np.zeros(1, dtype=np.int32)
    d_exclusions = (
        cuda.to_device(np.ascontiguousarray(exclusions[0], dtype=np.int64)),
        cuda.to_device(exclude_indices),
    )
    block = _rows_per_block(candidates.size)
    d_scores = cuda.device_array((min(block, query_ids.size), candidates.size), dtype=np.float32)
    d_items = cuda.device_array((query_ids.size, n), dtype=np.int64)
    d_best = cuda.device_array((query_ids.size, n), dtype=np.float32)
    for start in range(0, query_ids.size, block):
        stop = min(query_ids.size, start + block)
        block_scores = d_scores[: stop - start]
        queries = np.ascontiguousarray(query_block(query_ids[start:stop]), dtype=np.float32)
        _product(cuda.to_device(queries), d_targets, block_scores)
        d_rows = cuda.to_device(np.ascontiguousarray(rows[start:stop], dtype=np.int64))
        K.mask_entries[-(-(stop - start) // 64), 64](block_scores, d_rows, *d_exclusions, d_column_of)
        K.top_n_rows[stop - start, _ROW_THREADS](block_scores, d_candidates, d_items[start:stop], d_best[start:stop])
    return d_items.copy_to_host(items), d_best.copy_to_host(scores)
