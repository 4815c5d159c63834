"""PopularityBaseline against brute-force NumPy and scikit-learn, and through the evaluation functions."""

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score

from lightfm.baseline import PopularityBaseline
from lightfm.evaluation import auc_score, evaluate, precision_at_k, reciprocal_rank


def _brute_force_ranks(scores, test, train):
    """For each stored test (u, i) in CSR order: items j != i outside u's train items with score >= score[i]."""
    test, train = sp.csr_matrix(test), sp.csr_matrix(train)
    ranks = []
    for u in range(test.shape[0]):
        excluded = set(train.indices[train.indptr[u] : train.indptr[u + 1]].tolist())
        for i in sorted(set(test.indices[test.indptr[u] : test.indptr[u + 1]].tolist())):
            ranks.append(
                sum(1 for j in range(test.shape[1]) if j != i and j not in excluded and scores[j] >= scores[i])
            )
    return np.array(ranks, dtype=np.float32)


def _matrix(rs, shape, density):
    return sp.coo_matrix((rs.rand(*shape) < density).astype(np.float32))


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), n_users=st.integers(1, 12), n_items=st.integers(1, 10), with_train=st.booleans())
def test_predict_rank_matches_brute_force(seed, n_users, n_items, with_train):
    rs = np.random.RandomState(seed)
    fit_on = _matrix(rs, (n_users, n_items), 0.4)  # small counts: many ties, which count against the item
    test, overlap = _matrix(rs, (n_users, n_items), 0.3), _matrix(rs, (n_users, n_items), 0.3)
    model = PopularityBaseline().fit(fit_on)
    scores = model.predict(0, np.arange(n_items))
    np.testing.assert_array_equal(scores, np.asarray(fit_on.sum(axis=0)).ravel())
    train = overlap if with_train else sp.csr_matrix((n_users, n_items))
    ranks = model.predict_rank(test, train if with_train else None, check_intersections=False)
    assert ranks.dtype == np.float32 and ranks.shape == test.shape
    np.testing.assert_array_equal(ranks.data, _brute_force_ranks(scores, test, train))
    np.testing.assert_array_equal(ranks.indptr, sp.csr_matrix(test).indptr)


def test_counts_positive_entries_and_weights():
    interactions = sp.coo_matrix(([1.0, 1.0, -1.0, 0.0, 2.0, 1.0], ([0, 1, 1, 2, 2, 2], [0, 0, 1, 1, 2, 0])), (3, 3))
    model = PopularityBaseline().fit(interactions)
    np.testing.assert_array_equal(model.item_popularity, [3.0, 0.0, 1.0])  # -1 and 0 are not positives
    weights = sp.coo_matrix((np.arange(1.0, 7.0), (interactions.row, interactions.col)), (3, 3))
    weighted = PopularityBaseline().fit(interactions, sample_weight=weights)
    np.testing.assert_array_equal(weighted.item_popularity, [1.0 + 2.0 + 6.0, 0.0, 5.0])
    # fit_partial adds; fit starts over.
    weighted.fit_partial(interactions)
    np.testing.assert_array_equal(weighted.item_popularity, [12.0, 0.0, 6.0])
    np.testing.assert_array_equal(weighted.fit(interactions).item_popularity, [3.0, 0.0, 1.0])
    # LightFM's other fit arguments are accepted.
    model.fit(interactions, user_features=sp.eye(3), item_features=sp.eye(3), epochs=5, num_threads=2, verbose=True)
    np.testing.assert_array_equal(model.predict([0, 2, 1], [2, 0, 0]), [1.0, 3.0, 3.0])


def test_auc_matches_sklearn_and_metrics_run_on_cold_start_users():
    rs = np.random.RandomState(4)
    n_users, n_items = 25, 40
    train = _matrix(rs, (n_users, n_items), 0.2)
    test = sp.coo_matrix((rs.rand(n_users, n_items) < 0.1) & (train.toarray() == 0), dtype=np.float32)
    # Distinct weights make distinct scores: no ties, so sklearn's AUC is the definition.
    weights = sp.coo_matrix((rs.rand(train.nnz) + 1.0, (train.row, train.col)), train.shape)
    model = PopularityBaseline().fit(train, sample_weight=weights)
    scores = model.predict(0, np.arange(n_items))
    expected = []
    for u in range(n_users):
        positives = test.tocsr()[u].indices
        if positives.size:
            candidates = np.setdiff1d(np.arange(n_items), train.tocsr()[u].indices)
            expected.append(roc_auc_score(np.isin(candidates, positives), scores[candidates]))
    np.testing.assert_allclose(auc_score(model, test, train), expected, rtol=1e-6)
    # New users (rows past the fitted ones) get the same list: popularity needs no history.
    cold = sp.vstack([test, sp.coo_matrix(np.eye(1, n_items, k=int(np.argmax(scores))))])
    assert reciprocal_rank(model, cold, preserve_rows=True)[-1] == 1.0


def test_refusals_are_value_errors_naming_the_argument():
    interactions = sp.coo_matrix(np.eye(3))
    with pytest.raises(ValueError, match="not fitted yet"):
        PopularityBaseline().predict_rank(interactions)
    with pytest.raises(ValueError, match="not fitted yet"):
        PopularityBaseline().predict(0, [0])
    model = PopularityBaseline().fit(interactions)
    with pytest.raises(ValueError, match="test_interactions has 2 columns"):
        model.predict_rank(sp.csr_matrix((3, 2)))
    with pytest.raises(ValueError, match="train_interactions has shape"):
        model.predict_rank(interactions, sp.csr_matrix((4, 3)))
    with pytest.raises(ValueError, match="share 3 interactions"):
        model.predict_rank(interactions, interactions)
    with pytest.raises(ValueError, match="num_threads"):
        model.predict_rank(interactions, num_threads=0)
    with pytest.raises(ValueError, match="item_features has 2 rows"):
        model.predict_rank(interactions, item_features=sp.eye(2))
    with pytest.raises(ValueError, match="item_ids contains item id 3"):
        model.predict(0, [3])
    with pytest.raises(ValueError, match="user_ids contains a negative"):
        model.predict(-1, [0])
    with pytest.raises(ValueError, match="number of user ids"):
        model.predict([0, 1], [0])
    with pytest.raises(ValueError, match="epochs"):
        model.fit(interactions, epochs=-1)
    np.testing.assert_array_equal(model.item_popularity, [1.0, 1.0, 1.0])  # a refused fit changes nothing
    with pytest.raises(ValueError, match="interactions has shape \\(3, 4\\)"):
        model.fit_partial(sp.coo_matrix((3, 4)))
    with pytest.raises(ValueError, match="sample_weight contains negative"):
        model.fit(interactions, sample_weight=-interactions)
    with pytest.raises(ValueError, match="sample_weight must have exactly the entries"):
        model.fit(interactions, sample_weight=sp.coo_matrix(np.ones((3, 3))))
    with pytest.raises(ValueError, match="interactions must be a scipy.sparse"):
        model.fit([[1, 0]])


def test_movielens_popularity_precision(movielens):
    train, test = movielens["train"], movielens["test"]
    model = PopularityBaseline().fit(train)
    result = evaluate(model, test, train, k=10)
    # Brute force: each test user's top 10 unseen items by count (ties counted against the test item,
    # as predict_rank does), then the fraction that are test items.
    counts = np.asarray((train > 0).sum(axis=0)).ravel()
    train_csr, test_csr = train.tocsr(), test.tocsr()
    expected = []
    for u in np.flatnonzero(np.diff(test_csr.indptr)):
        unseen = np.setdiff1d(np.arange(train.shape[1]), train_csr[u].indices)
        positives = test_csr[u].indices
        better_or_tied = (counts[unseen][None, :] >= counts[positives][:, None]).sum(axis=1) - 1
        expected.append((better_or_tied < 10).sum() / 10)
    np.testing.assert_allclose(result.per_user["precision_at_k"], expected, rtol=1e-6)
    assert result.mean["precision_at_k"] == pytest.approx(precision_at_k(model, test, train, k=10).mean(), rel=1e-6)
    # About 0.067 here; a random ranking gets about 10 / 1682 * (test items per user) / 10, ~0.003.
    assert 0.04 < result.mean["precision_at_k"] < 0.15
    assert 0.8 < result.mean["auc_score"] < 0.95
