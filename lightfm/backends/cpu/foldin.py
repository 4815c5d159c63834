"""Fold-in on the CPU: blocks of independent rows on Python threads over the fold-in kernel."""

from __future__ import annotations

import numpy as np

from .._common import LOSS_CODES
from ..base import Side
from .kernels.foldin import fold_in_rows
from .kernels.layout import (
    HYPER_ALPHA,
    HYPER_EPSILON,
    HYPER_LEARNING_RATE,
    HYPER_RHO,
    INT_ADADELTA,
    INT_ITEM_ROWS,
    INT_KOS_K,
    INT_KOS_N,
    INT_LOSS,
    INT_MAX_SAMPLED,
)
from .threads import run_blocks

# Rows per block handed to a thread: enough to amortise a call, few enough to balance threads.
_BLOCK_ROWS = 256


def fold_in(rows, config, epochs, num_threads):
    """The offsets of ``rows`` (see :meth:`lightfm.backends.base.Backend.fold_in`)."""
    n_rows = rows.indptr.size - 1
    d = rows.base.shape[1] - 1
    adadelta = config.learning_schedule == "adadelta"
    start = 0.0 if adadelta else 1.0  # a fresh parameter's accumulators, as in a new model
    offsets = Side(
        np.zeros((n_rows, d), dtype=np.float32),
        np.full((n_rows, d), start, dtype=np.float32),
        np.zeros((n_rows, d) if adadelta else (0, d), dtype=np.float32),
        np.zeros(n_rows, dtype=np.float32),
        np.full(n_rows, start, dtype=np.float32),
        np.zeros(n_rows if adadelta else 0, dtype=np.float32),
    )
    hyper = np.zeros(4, dtype=np.float32)
    hyper[HYPER_LEARNING_RATE] = config.learning_rate
    hyper[HYPER_RHO] = config.rho
    hyper[HYPER_EPSILON] = config.epsilon
    hyper[HYPER_ALPHA] = config.item_alpha if rows.item_rows else config.user_alpha
    ints = np.zeros(6, dtype=np.int64)
    ints[INT_LOSS] = LOSS_CODES[config.loss]
    ints[INT_ADADELTA] = adadelta
    ints[INT_MAX_SAMPLED] = config.max_sampled
    ints[INT_KOS_K] = config.k
    ints[INT_KOS_N] = config.n
    ints[INT_ITEM_ROWS] = rows.item_rows
    longest = int(np.diff(rows.indptr).max()) if n_rows else 0
    kos = max(int(config.n), 1)

    def work(lo, hi):
        scratch = (
            np.empty(max(longest, 1), dtype=np.int64),
            np.empty(kos, dtype=np.int64),
            np.empty(kos, dtype=np.float32),
            np.empty(d + 1, dtype=np.float32),
            np.empty(max(d, 1), dtype=np.float32),
        )
        fold_in_rows(
            lo, hi, rows.indptr, rows.indices, rows.labels, rows.weights, rows.targets, rows.target_bias,
            rows.catalogue, rows.catalogue_bias, rows.thresholds, rows.base, rows.own, *offsets, hyper, ints,
            epochs, *scratch,
        )  # fmt: skip

    run_blocks(n_rows, _BLOCK_ROWS, num_threads, work)
    return offsets
