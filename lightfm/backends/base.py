"""The engine interface: what :class:`lightfm.LightFM` asks of a backend.

The estimator validates user input and turns it into plain arrays
(:class:`TrainingData`, feature CSR arrays, score blocks, and for ranking the
test and train patterns as CSR matrices with sorted, unique indices); a
backend trains a :class:`lightfm._state.ModelState` in place and scores with
it. Engines never see the estimator or unchecked input, so a new one (GPU,
distributed) implements these five methods and nothing else.

Imports run one way: the core (the estimator, validation, evaluation, ...) imports this package
(this interface, the registry in its ``__init__``, and what the engines share:
:mod:`._common`, :mod:`._host_kernels`); an engine imports this package and nothing of the core,
and no engine imports another (``tests/test_architecture.py`` checks all three). What an engine
needs of the core is here: :class:`Side`, the arrays fold-in returns, and :class:`ParameterError`,
which an engine raises for a setting it cannot run.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, NamedTuple

import numpy as np


class ParameterError(ValueError, AssertionError):
    """An invalid hyperparameter (exported as ``lightfm.ParameterError``).

    Both a :class:`ValueError` and an :class:`AssertionError`, because code
    written against the original LightFM catches the latter for most parameters
    and the former for ``max_sampled``.
    """

    __module__ = "lightfm"


class Side(NamedTuple):
    """One side's six arrays of a model (see :mod:`lightfm._state`), in the order the kernels take them."""

    embeddings: np.ndarray
    embedding_gradients: np.ndarray
    embedding_momentum: np.ndarray
    biases: np.ndarray
    bias_gradients: np.ndarray
    bias_momentum: np.ndarray


class TrainingData(NamedTuple):
    """One ``fit_partial`` call's input, validated: COO interactions and both sides' features.

    ``rows``, ``cols`` int32 and ``labels`` float32 are the stored entries;
    ``weights`` float32 aligned with them, or None for weight 1; ``user_feats``
    / ``item_feats`` the CSR ``(indptr, indices, data)`` of the feature
    matrices, or None for identity features.
    """

    rows: np.ndarray
    cols: np.ndarray
    labels: np.ndarray
    weights: np.ndarray | None
    user_feats: tuple | None
    item_feats: tuple | None
    n_users: int
    n_items: int


class TrainingConfig(NamedTuple):
    """The hyperparameters training reads (validated by the estimator)."""

    loss: str
    learning_schedule: str
    learning_rate: float
    rho: float
    epsilon: float
    user_alpha: float
    item_alpha: float
    max_sampled: int
    k: int
    n: int


class FoldInRows(NamedTuple):
    """Rows to fold in against a frozen model (see :mod:`lightfm.backends.cpu.kernels.foldin`).

    ``indptr`` int64, ``indices`` int32 (sorted within each row, repeats
    kept), ``labels`` and ``weights`` float32: the rows' interactions in CSR
    form. ``targets`` / ``target_bias``: the frozen representations their
    indices point to; ``catalogue`` / ``catalogue_bias``: the frozen items
    negatives are drawn from; ``thresholds``: for item rows, each user's score of their tenth best
    catalogue item (empty for user rows); ``base`` ``[n_rows, no_components + 1]``: each
    row's frozen feature sum, bias last; ``own``: the feature weight
    each row's offset is learned with; ``item_rows``: the rows are items
    (their indices users) rather than users.
    """

    indptr: np.ndarray
    indices: np.ndarray
    labels: np.ndarray
    weights: np.ndarray
    targets: np.ndarray
    target_bias: np.ndarray
    catalogue: np.ndarray
    catalogue_bias: np.ndarray
    thresholds: np.ndarray
    base: np.ndarray
    own: np.ndarray
    item_rows: bool


def candidate_columns(candidates, n_items: int):
    """``(candidates, column_of)`` for :meth:`Backend.top_n`: every item when ``candidates`` is None;
    ``column_of[item]`` is the item's column in the score block, -1 for items that are not candidates."""
    if candidates is None:
        every = np.arange(n_items, dtype=np.int64)
        return every, every
    column_of = np.full(n_items, -1, dtype=np.int64)
    column_of[candidates] = np.arange(candidates.size)
    return candidates, column_of


class Backend(ABC):
    """An engine that trains and scores a :class:`~lightfm._state.ModelState`."""

    name: str

    @abstractmethod
    def fit_epochs(
        self,
        state,
        data: TrainingData,
        config: TrainingConfig,
        epochs: int,
        num_threads: int,
        random_state: np.random.RandomState,
        verbose: bool,
    ) -> None:
        """Train ``state`` in place for ``epochs`` epochs; ValueError if it diverges."""

    @abstractmethod
    def fold_in(self, rows: FoldInRows, config: TrainingConfig, epochs: np.ndarray, num_threads: int):
        """Train one offset per row of ``rows`` against the frozen model, ``epochs[r]`` passes over row
        ``r`` (int32); returns a :class:`Side` of the offsets and their accumulators."""

    @abstractmethod
    def predict_pairs(self, user_repr, user_bias, user_index, item_repr, item_bias, item_index, num_threads):
        """Scores of pairs ``(user_index[i], item_index[i])`` of representation rows, float32."""

    @abstractmethod
    def rank(self, user_block, test_users, item_side, test, train, num_threads) -> np.ndarray:
        """Ranks (float32, aligned with ``test.indices``) of the test entries among the non-train items.

        ``user_block(users)`` gives rows that, times ``item_side``, are the users'
        scores of every item; ``test`` and ``train`` are CSR patterns with
        sorted, unique indices; only ``test_users`` have test entries.
        """

    @abstractmethod
    def top_n(self, query_block, query_ids, target_side, n, exclusions, rows, candidates, num_threads) -> Any:
        """Best ``n`` candidates per query, best first: ``(items int64, scores float32)``.

        ``query_block(ids)`` gives the query vectors of ``ids``; their product
        with ``target_side`` (one column per candidate) gives the scores. Row
        ``rows[q]`` of ``exclusions = (indptr, indices, n_items)`` lists query
        q's excluded items. ``candidates`` (sorted, unique item indices) are the
        columns of ``target_side``, or None for every item in order.
        """
