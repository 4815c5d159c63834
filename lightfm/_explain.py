"""Explanations: every score split into its biases and (user feature, item feature) contributions.

A LightFM score is bilinear in the two sides' features: with user features
``w_u`` (a row of the user feature matrix) and item features ``w_i``,

    score(u, i) = sum_f sum_g w_uf w_ig (E_user[f] . E_item[g]) + sum_f w_uf b_user[f] + sum_g w_ig b_item[g]

so each (user feature, item feature) pair contributes one term, and each side
its bias. :meth:`ExplainMixin.explain` computes those terms (in float64, from
the model's float32 arrays) and returns them largest first.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from . import _scoring
from ._validation import FeatureMatrix, check_index_range, check_int, to_id_array


class Contribution(NamedTuple):
    """One (user feature, item feature) pair's share of a score.

    ``user_feature`` and ``item_feature`` are feature columns (ints), or their
    names where :meth:`ExplainMixin.explain` was given ``feature_names``;
    ``contribution`` is ``w_uf * w_ig * (E_user[f] . E_item[g])``.
    """

    user_feature: Any
    item_feature: Any
    contribution: float


class Explanation(NamedTuple):
    """One (user, item) score split into its parts: ``score == user_bias + item_bias + sum of pairs + rest``.

    Attributes
    ----------
    user : int
        The user id (row of the user features) explained.
    item : int
        The item id (row of the item features) explained.
    score : float
        The score, the sum of every part (float64: ``predict`` gives the same
        value rounded to float32).
    user_bias : float
        The user's bias, ``sum_f w_uf * user_biases[f]``.
    item_bias : float
        The item's bias, ``sum_g w_ig * item_biases[g]``.
    pairs : tuple of Contribution
        The ``top`` pairs of largest absolute contribution, largest first
        (ties in feature order); every pair where ``top`` was None.
    rest : float
        The sum of the contributions of the pairs left out of ``pairs`` (0.0
        when none is).
    n_pairs : int
        How many (user feature, item feature) pairs there are in all (pairs
        of features with non-zero weights): ``n_pairs - len(pairs)`` are in ``rest``.
    """

    user: int
    item: int
    score: float
    user_bias: float
    item_bias: float
    pairs: tuple
    rest: float
    n_pairs: int


def _feature_row(features: FeatureMatrix, row: int):
    """``(columns, weights)`` of one row of ``features``: repeated columns summed, zero weights dropped."""
    if features.identity:
        return np.array([row], dtype=np.int64), np.ones(1, dtype=np.float64)
    start, stop = features.indptr[row], features.indptr[row + 1]
    columns = features.indices[start:stop].astype(np.int64)
    weights = features.data[start:stop].astype(np.float64)
    columns, position = np.unique(columns, return_inverse=True)
    weights = np.bincount(position.ravel(), weights=weights, minlength=columns.size)
    kept = weights != 0
    return columns[kept], weights[kept]


def _side_names(names, n_features: int, side: str):
    """A side's feature names as a list indexed by feature column, or None (columns shown as ints)."""
    if names is None:
        return None
    if isinstance(names, dict):  # a Dataset's feature mapping: {name: column}
        listed: list = [None] * len(names)
        for name, column in names.items():
            if 0 <= column < len(listed):
                listed[column] = name
        names = listed
    try:
        listed = list(names)
    except TypeError:
        raise ValueError(
            f"feature_names must be a Dataset or a pair (user names, item names) of sequences (or None), one name "
            f"per feature column; the {side} names are a {type(names).__name__}."
        ) from None
    if len(listed) != n_features:
        raise ValueError(
            f"feature_names has {len(listed)} {side} feature names, but the model has {n_features} {side} feature "
            f"embeddings: give one name per feature column (the Dataset the model was built with)."
        )
    return [name.item() if isinstance(name, np.generic) else name for name in listed]


def _feature_names(feature_names, state):
    """``(user names, item names)`` from ``feature_names`` (a Dataset or a pair), each a list or None."""
    if feature_names is None:
        return None, None
    if hasattr(feature_names, "mapping") and callable(feature_names.mapping):  # a lightfm.data.Dataset
        _, user_map, _, item_map = feature_names.mapping()
        sides = (user_map, item_map)
    else:
        try:
            sides = tuple(feature_names)
        except TypeError:
            sides = ()
        if len(sides) != 2 or isinstance(feature_names, str):
            raise ValueError(
                "feature_names must be a lightfm.data.Dataset or a pair (user feature names, item feature names), "
                f"each a sequence or None; got {type(feature_names).__name__}."
            )
    return tuple(
        _side_names(names, state.n_features(side), side) for names, side in zip(sides, ("user", "item"), strict=True)
    )


def _label(names, column: int):
    return int(column) if names is None else names[column]


class ExplainMixin:
    """``explain`` for :class:`lightfm.LightFM`."""

    def explain(self, user_id, item_ids, *, user_features=None, item_features=None, top=10, feature_names=None):
        """Split the scores of one user's items into biases and (user feature, item feature) contributions.

        A score is ``user_bias + item_bias + sum over (f, g) of w_uf * w_ig *
        (user_embeddings[f] . item_embeddings[g])``, with ``w_u`` the user's
        row of the user features and ``w_i`` the item's. Each term of the sum
        is one pair's contribution: which of the user's features (their
        identity, an age band, ...) meets which of the item's (its identity,
        a tag, ...) to raise or lower the score. With identity features
        there is one pair, the user's and the item's own embeddings. The
        user bias is the same for all of a user's items, so it never
        changes their ranking; the item bias and the pairs do.

        Parameters
        ----------
        user_id : int
            One user (row of the interaction matrix, or of ``user_features``).
        item_ids : int or array-like of int
            Items to explain (repeats allowed).
        user_features : scipy sparse matrix of shape [n_users, n_user_features], optional
            As in :meth:`recommend`: by default the matrix the model was fit
            with (identity for a model fit without).
        item_features : scipy sparse matrix of shape [n_items, n_item_features], optional
            Item features, likewise.
        top : int or None, default 10
            How many pairs to list per item, those of largest absolute
            contribution; the others are summed into ``rest``. None lists
            every pair.
        feature_names : lightfm.data.Dataset or (user names, item names), optional
            Show features by name instead of column index: a ``Dataset``
            (its feature mappings; an identity feature's name is the user or
            item id), or a pair of sequences with one name per feature column
            (either may be None to keep that side's indices).

        Returns
        -------
        Explanation or list of Explanation
            One :class:`~lightfm._explain.Explanation` per item (a single one
            for a scalar ``item_ids``): a named tuple of ``user``, ``item``,
            ``score``, ``user_bias``, ``item_bias``, ``pairs`` (a tuple of
            ``(user_feature, item_feature, contribution)`` named tuples,
            largest absolute contribution first), ``rest`` (the sum of the
            pairs not listed) and ``n_pairs`` (how many pairs there are). The
            parts sum to the score, ``score == user_bias + item_bias +
            sum(contributions) + rest``, which equals :meth:`predict`'s up to
            float32 rounding (the parts are summed in float64). Named tuples
            keep it plain data: unpack them, or ``._asdict()`` them into
            JSON or a DataFrame.

        Raises
        ------
        ValueError
            Naming the argument: before fitting, an id out of range, more than
            one ``user_id``, ``top`` neither None nor an integer >= 1, a
            feature matrix without one column per feature embedding (or with
            too few rows), or ``feature_names`` without one name per feature.

        Examples
        --------
        >>> import numpy as np, scipy.sparse as sp
        >>> from lightfm import LightFM
        >>> train = sp.random(30, 20, density=0.3, format="csr", random_state=0)
        >>> tags = sp.hstack([sp.identity(20), sp.random(20, 3, density=0.5, random_state=1)], format="csr")
        >>> model = LightFM(no_components=4, loss="warp", random_state=0).fit(train, item_features=tags, epochs=5)
        >>> why = model.explain(0, 5, top=1)
        >>> len(why.pairs), why.n_pairs == tags[5].nnz
        (1, True)
        >>> user_feature, item_feature, contribution = why.pairs[0]
        >>> parts = why.user_bias + why.item_bias + contribution + why.rest
        >>> bool(np.isclose(parts, why.score) and np.isclose(why.score, model.predict(0, [5], item_features=tags)[0]))
        True

        Features by name: identity features are named after their items here.

        >>> names = [f"item {i}" for i in range(20)] + ["rock", "jazz", "folk"]
        >>> why = model.explain(0, [5, 6], top=None, feature_names=(None, names))
        >>> all(pair.item_feature in names for pair in why[0].pairs), why[0].rest
        (True, 0.0)
        """
        self._state.validate()
        state = self._state
        if top is not None:
            top = check_int(top, "top")
        if np.ndim(user_id) != 0:
            raise ValueError(f"user_id must be one user id (an integer), got an array of shape {np.shape(user_id)}; "
                             "explain one user at a time.")  # fmt: skip
        user = to_id_array(user_id, "user_id")
        scalar = np.ndim(item_ids) == 0
        items = to_id_array(item_ids, "item_ids")
        users_features = _scoring.served_features(state, user_features, "user", "explain")
        items_features = _scoring.served_features(state, item_features, "item", "explain")
        check_index_range(user, users_features.n_rows, "user_id", "user id")
        check_index_range(items, items_features.n_rows, "item_ids", "item id")
        user_names, item_names = _feature_names(feature_names, state)

        user_columns, user_weights = _feature_row(users_features, int(user[0]))
        user_vectors = state.arrays["user_embeddings"][user_columns].astype(np.float64) * user_weights[:, None]
        user_bias = float(user_weights @ state.arrays["user_biases"][user_columns].astype(np.float64))
        item_embeddings, item_biases = state.arrays["item_embeddings"], state.arrays["item_biases"]
        explanations = []
        for item in items.tolist():
            item_columns, item_weights = _feature_row(items_features, item)
            item_vectors = item_embeddings[item_columns].astype(np.float64) * item_weights[:, None]
            item_bias = float(item_weights @ item_biases[item_columns].astype(np.float64))
            contributions = (user_vectors @ item_vectors.T).ravel()  # pair (a, b) at a * len(item_columns) + b
            order = np.argsort(-np.abs(contributions), kind="stable")
            listed, left = (order, order[:0]) if top is None else (order[:top], order[top:])
            pairs = tuple(
                Contribution(
                    _label(user_names, user_columns[at // item_columns.size]),
                    _label(item_names, item_columns[at % item_columns.size]),
                    float(contributions[at]),
                )
                for at in listed.tolist()
            )
            explanations.append(
                Explanation(
                    user=int(user[0]),
                    item=item,
                    score=user_bias + item_bias + float(np.sum(contributions)),
                    user_bias=user_bias,
                    item_bias=item_bias,
                    pairs=pairs,
                    rest=float(np.sum(contributions[left])),
                    n_pairs=int(contributions.size),
                )
            )
        return explanations[0] if scalar else explanations
