"""Scoring with a model state: feature checks, representations, and the blocks engines multiply.

Everything here is NumPy/SciPy on a :class:`lightfm._state.ModelState` and
validated feature matrices (plus a Numba count of shared train/test entries);
the heavy loops (ranking, top-n selection, pair scores) are the engine's
(:mod:`lightfm.backends`). Prediction, ranking,
evaluation and serving all go through these functions.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ._validation import FeatureMatrix, to_features, to_pattern


def check_feature_columns(state, features: FeatureMatrix, side: str, exact: bool) -> None:
    """Features may not name more embeddings than the model has (nor fewer, when ``exact``)."""
    n_embeddings = state.n_features(side)
    if features.n_features > n_embeddings or (exact and features.n_features != n_embeddings):
        if features.identity:
            what = f"{side}s (identity features)"
            axis = "rows" if side == "user" else "columns"
            fix = f"identity features need interactions of {n_embeddings} {axis}, or pass the {side}_features"
        else:
            what, fix = "columns", f"pass the {side}_features"
        raise ValueError(
            f"Incorrect number of features in {side}_features: {features.n_features} {what}, but the model has "
            f"{n_embeddings} {side} feature embeddings; {fix} the model was fit with (one column per embedding)."
        )


def fit_with_features(state, side: str) -> bool:
    """Whether ``side`` was last fit with a feature matrix (not identity features)."""
    inputs = state.fit_inputs[side]
    return inputs is not None and not inputs.identity


def side_features(state, features, side: str) -> FeatureMatrix:
    """``features`` (None: identity over every embedding row) checked against the model.

    An explicit matrix must have exactly one column per embedding row: one
    column short is features built for another model, not a subset.
    """
    n_rows = state.n_features(side) if features is None else 0
    matrix = to_features(features, n_rows, f"{side}_features")
    check_feature_columns(state, matrix, side, exact=features is not None)
    return matrix


def served_features(state, features, side: str, method: str) -> FeatureMatrix:
    """The features that serve ``side``: ``features``, else those the model was fit with.

    Identity-fit sides (and models that do not know how they were fit) are
    the identity over their embedding rows. A side fit with a feature matrix
    is served with that matrix, never with the identity over its feature
    rows (those are features, not users or items); where the matrix is not
    kept, or no longer covers the embeddings, ``method`` is refused.
    """
    if features is not None or not fit_with_features(state, side):
        return side_features(state, features, side)
    inputs = state.fit_inputs[side]
    n_embeddings = state.n_features(side)
    kept = inputs.features
    if kept is not None and kept.n_features == n_embeddings:
        return kept
    if kept is None:
        reason = "which it does not hold (a model file saved without them)"
    else:
        reason = f"of {kept.n_features} columns, but its {side} embeddings have grown to {n_embeddings} since"
    raise ValueError(
        f"This model was fit with {side}_features, {reason}: pass {side}_features= to {method}, one row per "
        f"{side} ({inputs.n_ids} at fit) and {n_embeddings} columns (one per {side} feature embedding)."
    )


def both_sides(state, user_features, item_features, n_users, n_items, exact=False):
    """Both sides' features checked against the model: an explicit matrix has exactly one column per
    embedding row; the identity default (None) may cover fewer (``predict`` of some ids, lenient as the
    original's), or must cover exactly as many (``exact``: ranking)."""
    users = to_features(user_features, n_users, "user_features")
    items = to_features(item_features, n_items, "item_features")
    check_feature_columns(state, users, "user", exact=exact or user_features is not None)
    check_feature_columns(state, items, "item", exact=exact or item_features is not None)
    return users, items


def representations(state, features: FeatureMatrix, side: str, rows=None):
    """(embeddings, biases) of ``rows`` (all rows if None) as float32 arrays.

    Identity features with ``rows=None`` return the parameter arrays themselves.
    """
    embeddings = state.arrays[f"{side}_embeddings"]
    biases = state.arrays[f"{side}_biases"]
    if features.identity:
        if rows is None:
            return embeddings[: features.n_rows], biases[: features.n_rows]
        return embeddings[rows], biases[rows]
    assert features.matrix is not None  # not identity
    matrix = features.matrix if rows is None else features.matrix[rows]
    matrix = matrix.astype(np.float32)
    n = features.n_features
    return (
        np.ascontiguousarray(matrix @ embeddings[:n], dtype=np.float32),
        np.ascontiguousarray(matrix @ biases[:n], dtype=np.float32),
    )


def rows_for(features: FeatureMatrix, ids):
    """Which representation rows to compute for ``ids``, and each id's position among them."""
    if features.identity:
        return None, ids
    unique, inverse = np.unique(ids, return_inverse=True)
    return unique, inverse.astype(np.int64)


def user_side(state, users: FeatureMatrix, rows):
    """Rows ``[representation, bias, 1]`` of ``rows``: times :func:`item_side`, the scores."""
    user_repr, user_bias = representations(state, users, "user", rows)
    block = np.empty((user_repr.shape[0], user_repr.shape[1] + 2), dtype=np.float32)
    block[:, :-2] = user_repr
    block[:, -2] = user_bias
    block[:, -1] = 1.0
    return block


def item_side(state, items: FeatureMatrix, n_items, columns=None):
    """Columns ``[representation, 1, bias]`` of the first ``n_items`` items (or of ``columns``).

    Biases ride along in one BLAS product with :func:`user_side`.
    """
    item_repr, item_bias = representations(state, items, "item")
    item_repr, item_bias = item_repr[:n_items], item_bias[:n_items]
    if columns is not None:
        item_repr, item_bias = item_repr[columns], item_bias[columns]
    block = np.empty((item_repr.shape[1] + 2, item_repr.shape[0]), dtype=np.float32)
    block[:-2] = item_repr.T
    block[-2] = 1.0
    block[-1] = item_bias
    return block


def rank_test_interactions(
    state, backend, test_interactions, train_interactions, item_features, user_features, num_threads, check
):
    """``predict_rank``'s ranks (a float32 CSR), and the train CSR it excluded (only the test users' rows)."""
    state.validate()
    test = to_pattern(test_interactions, "test_interactions")
    n_users, n_items = test.shape
    if train_interactions is None:
        train = sp.csr_matrix((n_users, n_items), dtype=np.float32)
    else:
        # Only the rows of users with test interactions matter (to exclude and to check).
        train = to_pattern(train_interactions, "train_interactions", keep_rows=np.diff(test.indptr) > 0)
        if train.shape != test.shape:
            raise ValueError(
                f"train_interactions has shape {train.shape} but test_interactions has shape {test.shape}."
            )
        if check:
            _check_test_train_intersections(test, train)
    # As in the original, the feature matrices (identity ones included: the shape of the test
    # matrix) must cover every embedding: anything else means features were left out or mixed up.
    users, items = both_sides(state, user_features, item_features, n_users, n_items, exact=True)
    test_users = np.flatnonzero(np.diff(test.indptr))
    items_block = item_side(state, items, n_items) if test_users.size else None
    ranks = backend.rank(
        lambda block_users: user_side(state, users, block_users), test_users, items_block, test, train, num_threads
    )
    return sp.csr_matrix((ranks, test.indices.copy(), test.indptr.copy()), shape=test.shape), train


def _check_test_train_intersections(test, train):
    from .backends._host_kernels import count_shared  # here: `import lightfm` does not load Numba

    shared = count_shared(test.indptr.astype(np.int64), test.indices, train.indptr.astype(np.int64), train.indices)
    if shared:
        raise ValueError(
            f"Test interactions matrix and train interactions matrix share {shared} interactions. "
            "This will cause incorrect evaluation, check your data split "
            "(or pass check_intersections=False)."
        )
