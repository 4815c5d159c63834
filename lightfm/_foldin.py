"""New users and items without retraining: fold-in against a frozen model.

A new row (a user with a handful of interactions, or an item with the users who
interacted with it) gets a representation learned with the model's own loss
and schedule while every parameter of the model stays frozen: the sum of the
row's features' embeddings (frozen, zero without features) plus an offset
trained for that row alone. :meth:`FoldInMixin.fold_in_users` returns the
representations and changes nothing; :meth:`FoldInMixin.partial_fit_users`
writes them into the model (growing it for new ids), and the item methods
mirror both.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from . import _scoring
from ._params import check_sample_weight_loss, validate_hyperparameters
from ._state import FitInputs, ModelState
from ._validation import (
    FeatureMatrix,
    check_int,
    check_num_threads,
    n_rows,
    to_features,
    to_id_array,
    to_interactions,
    to_sample_weight,
)
from .backends import FoldInRows, TrainingConfig

# With ``epochs=None`` a row takes about FOLD_IN_STEPS steps: ceil(FOLD_IN_STEPS / its entries)
# epochs, within FOLD_IN_EPOCHS. On MovieLens 100k and the generated hybrid set this matches
# retraining with the held-out rows (BENCHMARKS.md, "New users and items"), as do 15 and 30 epochs
# for every row, at a third to a sixth of the time for rows of 20 interactions.
FOLD_IN_STEPS = 100
FOLD_IN_EPOCHS = (5, 30)
# Except new items under the logistic loss: they take FOLD_IN_EPOCHS' most for every row. Their
# positive steps fade as the score grows while the push-down steps (out of other users' top 10) do
# not, so about 100 steps left MovieLens items at AUC 0.60 against a retrain's 0.80; 30 epochs: 0.84.

_OTHER = {"user": "item", "item": "user"}
# An item row is pushed out of the top TOP_BOUNDARY of users who are not its own; the boundary is
# found among at most BOUNDARY_SAMPLE catalogue items per user (exact below that many items).
TOP_BOUNDARY = 10
BOUNDARY_SAMPLE = 2048
_BLOCK_SCORES = 1 << 22


def _top_boundaries(users, user_bias, items, item_bias):
    """Each user's score of their ``TOP_BOUNDARY``-th best item (of a fixed sample of items, scaled)."""
    n_items = items.shape[0]
    if n_items > BOUNDARY_SAMPLE:
        sample = np.sort(np.random.RandomState(0).choice(n_items, BOUNDARY_SAMPLE, replace=False))
        items, item_bias = items[sample], item_bias[sample]
    k = min(items.shape[0], max(1, round(TOP_BOUNDARY * items.shape[0] / n_items)))
    boundaries = np.empty(users.shape[0], dtype=np.float32)
    block = max(1, _BLOCK_SCORES // max(items.shape[0], 1))
    for start in range(0, users.shape[0], block):
        scores = users[start : start + block] @ items.T + item_bias
        boundaries[start : start + block] = np.partition(scores, -k, axis=1)[:, -k]
    return boundaries + user_bias


def _row_epochs(epochs, counts, slow_to_settle=False) -> np.ndarray:
    """Each row's epochs: ``epochs`` for every row, or by default about FOLD_IN_STEPS steps each
    (FOLD_IN_EPOCHS' most where ``slow_to_settle``: logistic items)."""
    if epochs is not None:
        return np.full(counts.size, check_int(epochs, "epochs", minimum=0), dtype=np.int32)
    low, high = FOLD_IN_EPOCHS
    if slow_to_settle:
        return np.full(counts.size, high, dtype=np.int32)
    return np.clip(-(-FOLD_IN_STEPS // np.maximum(counts, 1)), low, high).astype(np.int32)


def _rows_csr(interactions, sample_weight, n_columns, side, loss):
    """The rows' entries as CSR arrays sorted by column within each row, repeats kept, weights aligned."""
    other = _OTHER[side]
    data = to_interactions(interactions, "interactions")
    if data.shape[1] != n_columns:
        raise ValueError(
            f"interactions has {data.shape[1]} columns but the model has {n_columns} {other}s: pass one row per "
            f"new {side} and one column per {other} ([n_rows, n_{other}s])."
        )
    check_sample_weight_loss(loss, sample_weight is not None)
    if sample_weight is None:
        weights = np.ones(data.rows.size, dtype=np.float32)
    else:
        weights = to_sample_weight(sample_weight, data)
    order = np.lexsort((data.cols, data.rows))
    counts = np.bincount(data.rows, minlength=data.shape[0])
    indptr = np.zeros(data.shape[0] + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    return (
        indptr,
        np.ascontiguousarray(data.cols[order]),
        np.ascontiguousarray(data.data[order]),
        np.ascontiguousarray(weights[order]),
        counts,
    )


def _representation_block(state, features: FeatureMatrix, side: str):
    """(embeddings, biases) of every row of ``features``, as contiguous float32 arrays."""
    embeddings, biases = _scoring.representations(state, features, side)
    return np.ascontiguousarray(embeddings, dtype=np.float32), np.ascontiguousarray(biases, dtype=np.float32)


def _base(state, features: FeatureMatrix | None, side: str, n_rows: int):
    """``[n_rows, d + 1]``: each row's frozen feature sum, bias last (zeros without features)."""
    base = np.zeros((n_rows, state.no_components + 1), dtype=np.float32)
    if features is not None:
        embeddings, biases = _scoring.representations(state, features, side)
        base[:, :-1] = embeddings[:n_rows]
        base[:, -1] = biases[:n_rows]
    return base


def own_weights(features: FeatureMatrix | None, n_rows: int) -> np.ndarray:
    """The weight each row's offset is learned with: as its own identity feature would have.

    1, unless the row's feature weights sum to less than 1: a row normalised as ``Dataset`` normalises
    them (to sum 1), without its own feature, leaves that feature the rest. Learned with weight 1
    instead, a hybrid user's offset took steps 9 times too large (their identity feature weighs a
    third) and k-OS's folded-in users fell to 0.76x a retrain's precision@10.
    """
    own = np.ones(n_rows, dtype=np.float32)
    if features is not None and features.matrix is not None:
        total = np.asarray(abs(features.matrix[:n_rows]).sum(axis=1), dtype=np.float64).ravel()
        rest = (total > 0) & (total < 1 - 1e-6)
        own[rest] = (1.0 - total[rest]).astype(np.float32)
    return own


def _train(model, state, side, interactions, base_features, other_features, sample_weight, epochs, num_threads,
           before=None, own=None):  # fmt: skip
    """Fold the rows of ``interactions`` in as ``side``s: ``(offsets, base, own)``.

    ``before``: the state whose items are the catalogue of negatives, when ``state`` has grown since;
    ``own``: the offsets' feature weights (by default :func:`own_weights`).
    """
    validate_hyperparameters(model.get_params(), fitting=True)
    if epochs is not None:
        check_int(epochs, "epochs", minimum=0)
    num_threads = check_num_threads(num_threads)
    other = _OTHER[side]
    method = f"fold_in_{side}s"
    targets = _scoring.served_features(state, other_features, other, method)
    target_emb, target_bias = _representation_block(state, targets, other)
    if side == "user":
        catalogue, catalogue_bias = target_emb, target_bias
    else:
        frozen = state if before is None else before
        items = _scoring.served_features(frozen, None, "item", method)
        catalogue, catalogue_bias = _representation_block(frozen, items, "item")
    indptr, indices, labels, weights, counts = _rows_csr(interactions, sample_weight, targets.n_rows, side, model.loss)
    n_rows = counts.size
    base = _base(state, base_features, side, n_rows)
    if base_features is None and n_rows and counts.min() == 0:
        empty = int(np.flatnonzero(counts == 0)[0])
        what = "an item" if side == "item" else "a user"
        raise ValueError(
            f"Row {empty} of interactions has no entries: {what} is folded in from its interactions, or from "
            f"its {side}_features where it has none yet; pass {side}_features, or leave that row out."
        )
    if side == "item" and n_rows:
        thresholds = _top_boundaries(target_emb, target_bias, catalogue, catalogue_bias)
    else:
        thresholds = np.zeros(0, dtype=np.float32)
    if own is None:
        own = own_weights(base_features, n_rows)
    rows = FoldInRows(
        indptr, indices, labels, weights, target_emb, target_bias, catalogue, catalogue_bias, thresholds, base,
        own, side == "item",
    )  # fmt: skip
    config = TrainingConfig(*(getattr(model, name) for name in TrainingConfig._fields))
    row_epochs = _row_epochs(epochs, counts, slow_to_settle=side == "item" and model.loss == "logistic")
    offsets = model._backend().fold_in(rows, config, row_epochs, num_threads)
    if not np.isfinite(offsets.embeddings).all() or not np.isfinite(offsets.biases).all():
        raise ValueError(
            f"Fold-in diverged: not all learned {side} representations are finite. Try fewer epochs, a lower "
            "learning_rate, or normalising sample weights."
        )
    return offsets, base, own


def _representations(offsets, base, own):
    return base[:, -1] + own * offsets.biases, base[:, :-1] + own[:, None] * offsets.embeddings


class FoldInMixin:
    """Fold-in for :class:`lightfm.LightFM`: new users and items without retraining."""

    def fold_in_users(
        self, interactions, *, user_features=None, item_features=None, sample_weight=None, epochs=None, num_threads=1
    ):
        """Representations of new users learned from their interactions, the model frozen.

        Each row of ``interactions`` is one user, trained alone with the
        model's loss, learning schedule, learning rate and ``user_alpha``
        against the frozen item side: the model is not changed, so this is safe
        to call from many serving threads at once. A row's representation is the
        sum of its ``user_features``' embeddings (frozen; zero without
        features) plus an offset learned from its interactions. Pass the result
        to :meth:`recommend` or :meth:`predict` as ``user_representations``.

        Deterministic: a row's random draws are seeded from its own
        interactions, so the same row gives the same representation alone or in
        a batch, on any number of threads. BPR draws its negatives uniformly
        over the items (the training interactions' item frequencies, which a
        fit draws from, are not part of the model).

        Parameters
        ----------
        interactions : scipy sparse matrix of shape [n_rows, n_items]
            The new users' interactions, read as :meth:`fit` reads them (for
            WARP and BPR the entries > 0 are positives).
        user_features : scipy sparse matrix of shape [n_rows, n_user_features], optional
            The new users' features (rows aligned with ``interactions``, one
            column per user feature embedding): their frozen sum is the start
            that the interactions adjust, so metadata and behaviour combine. A
            row with features and no interactions gets its features' sum. The
            offset is learned as the user's own identity feature would be: with
            weight 1, or, for a row whose weights sum to less than 1 (normalised
            as :class:`~lightfm.data.Dataset` normalises rows, its own feature
            left out), with the weight left over.
        item_features : scipy sparse matrix of shape [n_items, n_item_features], optional
            As in :meth:`recommend`: by default those the model was fit with.
        sample_weight : scipy sparse matrix of shape [n_rows, n_items], optional
            Weights of the interactions, as in :meth:`fit`.
        epochs : int, optional
            Passes over each row's interactions. By default each row takes
            about 100 steps: ``ceil(100 / its entries)`` epochs, at least 5 and at
            most 30 (5 for a user with 20 interactions, 30 for one with 3); this
            matches retraining on MovieLens and on a generated hybrid set for
            every loss (BENCHMARKS.md).
        num_threads : int, default 1
            Threads; rows are independent, so the result does not depend on it.

        Returns
        -------
        (biases, embeddings) : (np.float32 array, np.float32 array)
            Of shapes [n_rows] and [n_rows, no_components]: the users as
            :meth:`get_user_representations` gives known ones.

        Raises
        ------
        ValueError
            Before fitting; on an ``interactions`` matrix without one column per
            item, a row with no entries and no features, item ids out of range,
            ``user_features`` without one row per interactions row or one column
            per user feature embedding, or a fold-in that diverged.

        Examples
        --------
        >>> import numpy as np, scipy.sparse as sp
        >>> from lightfm import LightFM
        >>> train = sp.random(100, 30, density=0.2, format="csr", random_state=0)
        >>> model = LightFM(no_components=8, loss="warp", random_state=0).fit(train, epochs=10)
        >>> clicks = sp.csr_matrix(([1.0, 1.0, 1.0], ([0, 0, 0], [3, 7, 12])), shape=(1, 30))
        >>> biases, embeddings = model.fold_in_users(clicks)
        >>> embeddings.shape
        (1, 8)
        >>> items, scores = model.recommend(n=5, user_representations=(biases, embeddings), exclude=clicks)
        >>> items.shape, bool(np.isin(items, [3, 7, 12]).any())
        ((1, 5), False)
        """
        self._state.validate()
        state = self._state
        users = self._fold_in_features(user_features, interactions, "user")
        trained = _train(self, state, "user", interactions, users, item_features, sample_weight, epochs, num_threads)
        return _representations(*trained)

    def fold_in_items(
        self, interactions, *, item_features=None, user_features=None, sample_weight=None, epochs=None, num_threads=1
    ):
        """Representations of new items learned from the users who interacted with them, the model frozen.

        The mirror of :meth:`fold_in_users`: ``interactions`` is
        ``[n_rows, n_users]``, one row per new item. Each entry (user ``u``, the
        item) is a positive for ``u``, trained with the model's loss against
        negatives drawn uniformly from the model's items; only the new item
        moves (its embedding and bias; with ``item_features``, an offset on
        their frozen sum). k-OS WARP steps as WARP with its unclipped loss.
        Each visit also steps the item down where it scores near the top 10 of
        a user who is not its own, as the negatives of those users' own items
        hold an item down in a fit. ``epochs=None`` gives each row about 100
        steps as for users, except under the logistic loss: 30 epochs, which
        its slower-settling item rows need.

        Returns
        -------
        (biases, embeddings) : (np.float32 array, np.float32 array)
            Of shapes [n_rows] and [n_rows, no_components], as
            :meth:`get_item_representations` gives known items.

        Examples
        --------
        >>> import numpy as np, scipy.sparse as sp
        >>> from lightfm import LightFM
        >>> train = sp.random(100, 30, density=0.2, format="csr", random_state=0)
        >>> model = LightFM(no_components=8, loss="warp", random_state=0).fit(train, epochs=10)
        >>> fans = sp.csr_matrix(([1.0, 1.0], ([0, 0], [4, 9])), shape=(1, 100))
        >>> biases, embeddings = model.fold_in_items(fans)
        >>> biases.shape, embeddings.shape
        ((1,), (1, 8))
        """
        self._state.validate()
        state = self._state
        items = self._fold_in_features(item_features, interactions, "item")
        trained = _train(self, state, "item", interactions, items, user_features, sample_weight, epochs, num_threads)
        return _representations(*trained)

    def _fold_in_features(self, features, interactions, side):
        """``features`` for the rows of ``interactions``, checked against the model (None stays None)."""
        if features is None:
            return None
        n = n_rows_of(interactions)
        matrix = to_features(features, n, f"{side}_features")
        if matrix.n_rows != n:
            raise ValueError(
                f"{side}_features has {matrix.n_rows} rows but interactions has {n}: pass one row per row of "
                "interactions."
            )
        _scoring.check_feature_columns(self._state, matrix, side, exact=True)
        return matrix

    def partial_fit_users(
        self,
        user_ids,
        interactions,
        *,
        user_features=None,
        item_features=None,
        sample_weight=None,
        epochs=None,
        num_threads=1,
    ):
        """Fold users in and write them into the model: new users become ordinary users.

        The training of :meth:`fold_in_users`, written into the model in place
        for ``user_ids`` (one per row of ``interactions``): their previous
        representations are replaced by what their interactions give; every
        other parameter stays as it is. Ids at or beyond the model's users
        grow it (as :meth:`resize` does), so the new users are then served by
        :meth:`predict`, :meth:`recommend` and :meth:`save` like any other.

        - A model fit without user features: the learned representation is
          the user's own embedding row (exactly what :meth:`fold_in_users`
          returns).
        - A model fit with user features: ``user_features`` gives the rows of
          new users (and, optionally, new rows for known ones); columns beyond
          the model's feature embeddings are new features, and the model grows
          to them. Features only that user has (their identity feature, as
          :class:`~lightfm.data.Dataset` makes them by default) hold what is
          learned; every feature shared with other users stays frozen. The
          rows are kept as the features the model serves with.

        Parameters
        ----------
        user_ids : array-like of int of shape [n_rows]
            The users (rows of the model), one per row of ``interactions``, no
            repeats.
        interactions, item_features, sample_weight, epochs, num_threads
            As in :meth:`fold_in_users`.
        user_features : scipy sparse matrix of shape [n_rows, n_user_features], optional
            Only for a model fit with user features (see above).

        Returns
        -------
        LightFM
            ``self``.

        Raises
        ------
        ValueError
            As :meth:`fold_in_users`, and for repeated or negative ids,
            ``user_features`` for a model fit without, a new user of a model
            fit with user features given no ``user_features`` row, or a row
            with no feature of its own to learn.

        Examples
        --------
        >>> import numpy as np, scipy.sparse as sp
        >>> from lightfm import LightFM
        >>> train = sp.random(100, 30, density=0.2, format="csr", random_state=0)
        >>> model = LightFM(no_components=8, loss="warp", random_state=0).fit(train, epochs=10)
        >>> clicks = sp.csr_matrix(([1.0, 1.0, 1.0], ([0, 0, 0], [3, 7, 12])), shape=(1, 30))
        >>> model = model.partial_fit_users([100], clicks)
        >>> model.user_embeddings.shape
        (101, 8)
        >>> items, scores = model.recommend(100, n=5)
        """
        return self._partial_fit("user", user_ids, interactions, user_features, item_features, sample_weight, epochs,
                                 num_threads)  # fmt: skip

    def partial_fit_items(
        self,
        item_ids,
        interactions,
        *,
        item_features=None,
        user_features=None,
        sample_weight=None,
        epochs=None,
        num_threads=1,
    ):
        """Fold items in and write them into the model: the mirror of :meth:`partial_fit_users`.

        ``interactions`` is ``[n_rows, n_users]``, one row per item in
        ``item_ids`` (see :meth:`fold_in_items`); ids at or beyond the model's
        items grow it.

        Returns
        -------
        LightFM
            ``self``.

        Examples
        --------
        >>> import numpy as np, scipy.sparse as sp
        >>> from lightfm import LightFM
        >>> train = sp.random(100, 30, density=0.2, format="csr", random_state=0)
        >>> model = LightFM(no_components=8, loss="warp", random_state=0).fit(train, epochs=10)
        >>> fans = sp.csr_matrix(([1.0, 1.0], ([0, 0], [4, 9])), shape=(1, 100))
        >>> model = model.partial_fit_items([30], fans)
        >>> model.item_embeddings.shape
        (31, 8)
        """
        return self._partial_fit("item", item_ids, interactions, item_features, user_features, sample_weight, epochs,
                                 num_threads)  # fmt: skip

    def _partial_fit(self, side, ids, interactions, features, other_features, sample_weight, epochs, num_threads):
        self._state.validate()
        name = f"{side}_ids"
        ids = to_id_array(ids, name)
        n = n_rows_of(interactions)
        if ids.size != n:
            raise ValueError(f"{name} has {ids.size} ids but interactions has {n} rows: pass one id per row.")
        if ids.size and ids.min() < 0:
            raise ValueError(f"{name} contains a negative {side} id ({ids.min()}); ids must be >= 0.")
        if np.unique(ids).size != ids.size:
            raise ValueError(f"{name} repeats an id: pass each {side} once, with all of its interactions in its row.")
        # Worked on a copy of the arrays' dict: if anything below raises, the model is as it was.
        state = ModelState(dict(self._state.arrays))
        state.fit_inputs = dict(self._state.fit_inputs)
        if _scoring.fit_with_features(state, side):
            columns, base_features = _grow_featured(self, state, side, ids, features)
            # The offset is learned as the row's own features are: with their summed weight.
            weights = np.array([w.sum(dtype=np.float64) for _, w in columns], dtype=np.float32)
        else:
            if features is not None:
                raise ValueError(
                    f"{side}_features was passed, but this model was fit without {side} features (each {side} is "
                    f"its own embedding row): leave {side}_features out."
                )
            _grow_identity(self, state, side, ids)
            columns, base_features, weights = None, None, None
        offsets = _train(
            self, state, side, interactions, base_features, other_features, sample_weight, epochs, num_threads,
            before=self._state, own=weights,
        )[0]  # fmt: skip
        _write(state, side, ids, offsets, columns, self.learning_schedule == "adadelta")
        self._state = state
        return self


def n_rows_of(interactions) -> int:
    return n_rows(interactions, "interactions")


def _grow_identity(model, state, side, ids):
    """Grow an identity side to cover ``ids``; a fresh side's rows, as :meth:`resize` makes them."""
    needed = int(ids.max()) + 1 if ids.size else 0
    current = state.n_features(side)
    if needed > current:
        state.grow(side, needed, model.learning_schedule, model.random_state)
        inputs = state.fit_inputs[side]
        n_ids = needed if inputs is None else max(inputs.n_ids, needed)
        state.fit_inputs[side] = FitInputs(n_ids, True, needed, None)


def _grow_featured(model, state, side, ids, features):
    """For a side fit with features: the served matrix with the rows of ``ids`` set (grown where new),
    the model grown to its columns; returns ``(own, shared rows)``: each row's own feature columns and
    weights, and the rows with only their shared features (the frozen base)."""
    kept = _scoring.served_features(state, None, side, f"partial_fit_{side}s")
    assert kept.matrix is not None  # a side fit with features
    n_known = kept.n_rows
    name = f"{side}_features"
    if features is None:
        if ids.size and ids.max() >= n_known:
            raise ValueError(
                f"{side} {int(ids.max())} is new to this model, which was fit with {name}: pass {name}, one row per "
                f"row of interactions, to say what the new {side}s' features are (an identity feature each, as "
                "Dataset makes them, holds what fold-in learns)."
            )
        rows = kept.matrix[ids]
    else:
        rows = sp.csr_matrix(to_features(features, ids.size, name).matrix)
        if rows.shape[0] != ids.size:
            raise ValueError(f"{name} has {rows.shape[0]} rows but interactions has {ids.size}: one row per row.")
        if rows.shape[1] < kept.n_features:
            raise ValueError(
                f"{name} has {rows.shape[1]} columns but the model has {kept.n_features} {side} feature embeddings: "
                "pass one column per embedding (more for new features)."
            )
    width = max(rows.shape[1], kept.n_features)
    n_all = max(n_known, int(ids.max()) + 1 if ids.size else 0)
    served = sp.csr_matrix(kept.matrix, dtype=np.float32, copy=True)
    served.resize((n_all, width))
    rows = sp.csr_matrix(rows, dtype=np.float32)
    rows.resize((ids.size, width))
    # The untouched rows stacked with the given ones, then put back in id order.
    untouched = np.ones(n_all, dtype=bool)
    untouched[ids] = False
    kept_rows = np.flatnonzero(untouched)
    stacked = sp.vstack([served[kept_rows], rows], format="csr")
    served = stacked[np.argsort(np.concatenate([kept_rows, ids]), kind="stable")]
    served.sort_indices()
    column_users = np.diff(served.tocsc().indptr)
    if width > state.n_features(side):
        state.grow(side, width, model.learning_schedule, model.random_state)
    own = []
    shared = rows.copy()
    for r in range(ids.size):
        start, stop = rows.indptr[r], rows.indptr[r + 1]
        cols, weights = rows.indices[start:stop], rows.data[start:stop]
        mine = (column_users[cols] == 1) & (weights != 0)
        if not mine.any():
            raise ValueError(
                f"Row {r} of {name} ({side} {int(ids[r])}) has no feature of its own to hold what fold-in learns "
                f"(every one of its features is shared with other {side}s, and those stay frozen): give each "
                f"{side} an identity feature, as Dataset does by default, or use fold_in_{side}s."
            )
        own.append((cols[mine], weights[mine]))
        shared.data[start:stop][mine] = 0.0
    shared.eliminate_zeros()
    state.fit_inputs[side] = FitInputs(n_all, False, width, to_features(served, 0, name))
    return own, to_features(shared, ids.size, name)


def _write(state, side, ids, offsets, columns, adadelta):
    """Write the learned offsets into the model's rows of ``ids``, or into each row's own feature
    rows (``columns``: per row, its own columns and their weights), in place: the last step, once
    nothing can fail."""
    written = state.side(side)
    kinds = range(6) if adadelta else (0, 1, 3, 4)
    if columns is None:
        for kind in kinds:
            written[kind][ids] = offsets[kind]
        return
    for r, (cols, _) in enumerate(columns):
        # Each own feature holds the offset, learned with their summed weight: their weighted sum is
        # that weight times the offset, as in training a single identity feature.
        for kind in kinds:
            written[kind][cols] = offsets[kind][r]
