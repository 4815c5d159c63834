"""Serving a fitted model: top-n recommendations and nearest neighbours.

One blocked routine serves all three queries: score a block of queries against
every candidate with one BLAS product, then select each row's best ``n`` with
the ``top_n_block`` kernel (exclusions applied inside it), so memory stays
bounded and there is no Python loop over users.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from . import _scoring
from ._validation import (
    InputTypeError,
    check_index_range,
    check_int,
    check_num_threads,
    is_real,
    to_id_array,
    to_interactions,
    to_pattern,
)


def check_representations(state, representations, user_features, method):
    """``(biases, embeddings)`` of ``user_representations``, checked: float32, finite, the model's width."""
    if user_features is not None:
        raise ValueError(
            f"{method} got both user_representations and user_features: the representations already hold "
            "the users' features; pass one or the other."
        )
    try:
        biases, embeddings = representations
    except (TypeError, ValueError):
        raise ValueError(
            "user_representations must be a pair (biases, embeddings), as fold_in_users and "
            f"get_user_representations return it; got {type(representations).__name__}."
        ) from None
    try:
        biases = np.ascontiguousarray(biases, dtype=np.float32)
        embeddings = np.ascontiguousarray(embeddings, dtype=np.float32)
    except (TypeError, ValueError):
        raise InputTypeError(
            "user_representations must hold two numeric arrays (biases, embeddings); got "
            f"{type(biases).__name__} and {type(embeddings).__name__}."
        ) from None
    d = state.no_components
    if biases.ndim != 1 or embeddings.ndim != 2 or embeddings.shape != (biases.size, d):
        raise ValueError(
            f"user_representations must be (biases of shape [n], embeddings of shape [n, {d}]) for this model of "
            f"{d} components; got shapes {biases.shape} and {embeddings.shape}."
        )
    if not (np.isfinite(biases).all() and np.isfinite(embeddings).all()):
        raise ValueError("user_representations contains NaN or infinite values.")
    return biases, embeddings


def _representation_rows(biases, embeddings):
    """Query rows ``[embedding, bias, 1]`` (see :func:`lightfm._scoring.user_side`)."""
    block = np.empty((biases.size, embeddings.shape[1] + 2), dtype=np.float32)
    block[:, :-2] = embeddings
    block[:, -2] = biases
    block[:, -1] = 1.0
    return block


def _exclusion_csr(exclude, shape):
    """CSR ``(indptr, indices)`` of ``exclude``, checked to have ``shape``; stored entries are what counts."""
    if exclude is None:
        return np.zeros(shape[0] + 1, dtype=np.int64), np.zeros(0, dtype=np.int32)
    pattern = to_pattern(exclude, "exclude")
    if pattern.shape != shape:
        raise ValueError(
            f"exclude has shape {pattern.shape} but must be [n_users, n_items] = {shape} "
            "(typically the training interactions)."
        )
    return pattern.indptr.astype(np.int64), pattern.indices


def _exclusion_rows(exclude, shape):
    """CSR ``(indptr, indices)`` of ``exclude``'s stored entries for ``top_n``, checked to have ``shape``.

    Rows are neither sorted nor free of repeats (an entry excludes its item however often it is
    stored), so SciPy builds it and no Numba kernel is loaded for it (:func:`_exclusion_csr` sorts).
    """
    if exclude is None:
        return np.zeros(shape[0] + 1, dtype=np.int64), np.zeros(0, dtype=np.int32)
    entries = to_interactions(exclude, "exclude")
    if entries.shape != shape:
        raise ValueError(
            f"exclude has shape {entries.shape} but must be [n_users, n_items] = {shape} "
            "(typically the training interactions)."
        )
    rows, cols = entries.rows, entries.cols
    if rows.size and np.any(rows[1:] < rows[:-1]):  # not grouped by row (a CSR's entries are)
        csr = sp.csr_matrix((np.ones(rows.size, dtype=np.float32), (rows, cols)), shape=shape)
        return csr.indptr.astype(np.int64), np.ascontiguousarray(csr.indices, dtype=np.int32)
    indptr = np.zeros(shape[0] + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=shape[0]), out=indptr[1:])
    return indptr, cols


class RecommenderMixin:
    """``recommend``, ``similar_items`` and ``similar_users`` for :class:`lightfm.LightFM`."""

    def recommend(
        self,
        user_ids=None,
        n=10,
        *,
        exclude=None,
        items=None,
        user_features=None,
        item_features=None,
        num_threads=1,
        user_representations=None,
        item_bias_weight=1.0,
    ):
        """The ``n`` best-scoring items for each user, best first.

        Parameters
        ----------
        user_ids : int or array-like of int
            Users (rows of the interaction matrix, or of ``user_features``).
            Repeats are allowed. With ``user_representations``, rows of those
            (by default every row).
        n : int, default 10
            Items per user (at most the number of items: a larger ``n`` is
            reduced to it).
        exclude : scipy sparse matrix of shape [n_users, n_items], optional
            Stored entries are never recommended to their user; pass the
            training interactions to recommend only new items.
        items : array-like of int, optional
            Candidate item indices; only these may be recommended.
        user_features : scipy sparse matrix of shape [n_users, n_user_features], optional
            User features, one column per user feature embedding. By default
            the matrix the model was fit with (identity for a model fit
            without). Cold-start users (known only by their features) are
            rows added to this matrix.
        item_features : scipy sparse matrix of shape [n_items, n_item_features], optional
            Item features, likewise. The default never ranks a model's
            feature rows as items: where the model was fit with features it
            does not hold (see :meth:`save`), pass them.
        num_threads : int, default 1
            Threads for scoring and selecting. With 1, the scoring product
            uses BLAS's own threads; with more, blocks of users are scored and
            selected on that many threads, each with single-threaded BLAS.
        user_representations : (biases, embeddings), optional
            Users given by their representations instead of the model's rows:
            new users as :meth:`fold_in_users` returns them, scored without
            touching the model. ``exclude`` then has one row per
            representation, and ``user_features`` must be left out.
        item_bias_weight : float, default 1.0
            How much the item biases count (>= 0). The biases carry most of
            an item's popularity: 0 ranks by the embeddings alone (less
            popular items come forward), values between 0 and 1 turn
            popularity down (the effect on MovieLens is in the docs'
            tuning page).

        Returns
        -------
        (item_indices, scores) : (np.int64 array, np.float32 array)
            Both of shape [len(user_ids), n] (1-d for a scalar ``user_ids``),
            each row sorted by descending score, ties broken by lower item
            index. Rows with fewer than ``n`` candidates left are padded with
            item -1 and score -inf.

        Raises
        ------
        ValueError
            Before fitting, on ids out of range, bad ``n``, a mis-shaped
            ``exclude``, a feature matrix without one column per feature
            embedding, or features left out that the model does not hold.

        Examples
        --------
        >>> import numpy as np, scipy.sparse as sp
        >>> from lightfm import LightFM
        >>> train = sp.random(50, 20, density=0.2, format="csr", random_state=0)
        >>> model = LightFM(loss="warp", random_state=0).fit(train, epochs=5)
        >>> items, scores = model.recommend([0, 1], n=3, exclude=train)
        >>> items.shape, bool(np.all(np.diff(scores, axis=1) <= 0))
        ((2, 3), True)
        >>> bool(train[0, items[0]].nnz == 0)
        True

        Cold start: a user unseen in training, described by user features,
        is one more row of the feature matrix.

        >>> user_features = sp.random(50, 8, density=0.3, format="csr", random_state=1)
        >>> hybrid = LightFM(loss="warp", random_state=0).fit(train, user_features=user_features)
        >>> new_user = sp.csr_matrix(([1.0, 1.0], ([0, 0], [2, 5])), shape=(1, 8))
        >>> items, scores = hybrid.recommend(50, n=5, user_features=sp.vstack([user_features, new_user]))
        >>> items.shape
        (5,)
        """
        self._state.validate()
        num_threads = check_num_threads(num_threads)
        n = check_int(n, "n")
        if not is_real(item_bias_weight) or not np.isfinite(item_bias_weight) or item_bias_weight < 0:
            raise ValueError(f"item_bias_weight must be a finite number >= 0 (1 is the model's own), got "
                             f"{item_bias_weight!r}.")  # fmt: skip
        if user_representations is not None:
            rep_biases, rep_embeddings = check_representations(
                self._state, user_representations, user_features, "recommend"
            )
            if user_ids is None:
                user_ids = np.arange(rep_biases.size)
            n_users = rep_biases.size

            def query_block(ids):
                return _representation_rows(rep_biases[ids], rep_embeddings[ids])

            what = "row of user_representations"
        elif user_ids is None:
            raise ValueError("recommend needs user_ids, or user_representations (for users the model has not seen).")
        else:
            users = _scoring.served_features(self._state, user_features, "user", "recommend")
            n_users = users.n_rows

            def query_block(ids):
                return _scoring.user_side(self._state, users, ids)

            what = "user id"
        scalar = np.ndim(user_ids) == 0
        user_ids = to_id_array(user_ids, "user_ids")
        items_features = _scoring.served_features(self._state, item_features, "item", "recommend")
        n_items = items_features.n_rows
        check_index_range(user_ids, n_users, "user_ids", what)
        candidates = None
        if items is not None:
            candidates = to_id_array(items, "items")
            check_index_range(candidates, n_items, "items", "item id")
            candidates = np.unique(candidates)
        n = min(n, n_items)  # never more columns than the catalogue has items, whatever n asks
        indptr, indices = _exclusion_rows(exclude, (n_users, n_items))
        item_side = _scoring.item_side(self._state, items_features, n_items, candidates)
        if item_bias_weight != 1.0:
            item_side[-1] *= np.float32(item_bias_weight)
        found, scores = self._backend().top_n(
            query_block,
            user_ids,
            item_side,
            n,
            (indptr, indices, n_items),
            user_ids,
            candidates,
            num_threads,
        )
        return (found[0], scores[0]) if scalar else (found, scores)

    def similar_items(self, item_ids, n=10, *, item_features=None, num_threads=1):
        """The ``n`` items most similar to each of ``item_ids`` (cosine of representations).

        Parameters
        ----------
        item_ids : int or array-like of int
            Query items; each is left out of its own results.
        n : int, default 10
            Neighbours per item (at most the number of items).
        item_features : scipy sparse matrix of shape [n_items, n_item_features], optional
            Item features, as in :meth:`recommend`: by default those the
            model was fit with.
        num_threads : int, default 1
            Threads, as in :meth:`recommend`.

        Returns
        -------
        (item_indices, similarities) : (np.int64 array, np.float32 array)
            Shapes and padding as :meth:`recommend`. Items whose representation
            is zero have similarity 0 to everything.

        Examples
        --------
        >>> import numpy as np, scipy.sparse as sp
        >>> from lightfm import LightFM
        >>> model = LightFM(random_state=0).fit(sp.random(30, 10, density=0.3, random_state=0))
        >>> neighbours, similarities = model.similar_items(3, n=4)
        >>> 3 in neighbours, bool(np.all(np.abs(similarities) <= 1.0 + 1e-6))
        (False, True)
        """
        return self._similar(item_ids, n, item_features, "item", num_threads)

    def similar_users(self, user_ids, n=10, *, user_features=None, num_threads=1):
        """The ``n`` users most similar to each of ``user_ids`` (cosine of representations).

        Parameters and returns as :meth:`similar_items`, for users.

        Examples
        --------
        >>> import numpy as np, scipy.sparse as sp
        >>> from lightfm import LightFM
        >>> model = LightFM(random_state=0).fit(sp.random(30, 10, density=0.3, random_state=0))
        >>> neighbours, similarities = model.similar_users([0, 1], n=5)
        >>> neighbours.shape
        (2, 5)
        """
        return self._similar(user_ids, n, user_features, "user", num_threads)

    def _similar(self, ids, n, features, side, num_threads):
        self._state.validate()
        num_threads = check_num_threads(num_threads)
        n = check_int(n, "n")
        scalar = np.ndim(ids) == 0
        ids = to_id_array(ids, f"{side}_ids")
        matrix = _scoring.served_features(self._state, features, side, f"similar_{side}s")
        check_index_range(ids, matrix.n_rows, f"{side}_ids", f"{side} id")
        n = min(n, matrix.n_rows)  # never more columns than there are users / items
        representations = _scoring.representations(self._state, matrix, side)[0]
        unit_side = np.ascontiguousarray(unit_rows(representations).T)
        found, similarities = most_similar(self._backend(), unit_side, ids, n, num_threads)
        return (found[0], similarities[0]) if scalar else (found, similarities)


def unit_rows(representations):
    """Each row scaled to length 1 (a zero row stays 0): what ``similar_items``/``similar_users`` rank by."""
    norms = np.linalg.norm(representations, axis=1).astype(np.float32)
    return representations / np.maximum(norms, np.finfo(np.float32).tiny)[:, None]


def most_similar(backend, unit_side, ids, n, num_threads):
    """Each of ``ids``' ``n`` nearest rows by cosine, itself left out: ``(found, similarities)`` [ids, n].

    ``unit_side``: the rows' unit vectors as columns, [d, n_rows], C-contiguous (:func:`unit_rows`, transposed).
    """
    # Each query excludes itself: row q of the exclusions holds ids[q].
    exclusions = (np.arange(ids.size + 1, dtype=np.int64), ids.astype(np.int32), unit_side.shape[1])
    return backend.top_n(
        lambda query: np.ascontiguousarray(unit_side[:, query].T),
        ids,
        unit_side,
        n,
        exclusions,
        np.arange(ids.size, dtype=np.int64),
        None,
        num_threads,
    )
