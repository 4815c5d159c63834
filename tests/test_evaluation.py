"""Metrics against brute-force NumPy and scikit-learn."""

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.metrics import roc_auc_score

from lightfm import LightFM
from lightfm.evaluation import auc_score, evaluate, ndcg_at_k, precision_at_k, recall_at_k, reciprocal_rank

from .conftest import zero_model


@pytest.fixture(scope="module")
def fitted():
    rs = np.random.RandomState(0)
    n_users, n_items = 30, 70
    train = sp.csr_matrix((rs.rand(n_users, n_items) < 0.1).astype(np.float32))
    test_dense = (rs.rand(n_users, n_items) < 0.08) & (train.toarray() == 0)
    test_dense[5] = False
    test = sp.csr_matrix(test_dense.astype(np.float32))
    model = LightFM(no_components=6, loss="warp", random_state=0).fit(train, epochs=5)
    scores = model.user_embeddings @ model.item_embeddings.T + model.user_biases[:, None] + model.item_biases[None, :]
    return model, train, test, scores


def _top_k(scores, train, u, k):
    candidates = np.setdiff1d(np.arange(scores.shape[1]), train[u].indices)
    return candidates[np.argsort(-scores[u, candidates], kind="stable")][:k]


def test_precision_and_recall_match_brute_force(fitted):
    model, train, test, scores = fitted
    k = 5
    users = [u for u in range(test.shape[0]) if test[u].nnz]
    hits = [np.isin(_top_k(scores, train, u, k), test[u].indices).sum() for u in users]
    np.testing.assert_allclose(precision_at_k(model, test, train, k=k), np.array(hits) / k, rtol=1e-6)
    np.testing.assert_allclose(
        recall_at_k(model, test, train, k=k), np.array(hits) / [test[u].nnz for u in users], rtol=1e-6
    )
    full = precision_at_k(model, test, train, k=k, preserve_rows=True, num_threads=2)
    assert full.shape == (test.shape[0],) and full[5] == 0


def test_auc_matches_sklearn(fitted):
    model, train, test, scores = fitted
    expected = []
    for u in range(test.shape[0]):
        if not test[u].nnz:
            continue
        candidates = np.setdiff1d(np.arange(scores.shape[1]), train[u].indices)
        labels = np.isin(candidates, test[u].indices)
        expected.append(roc_auc_score(labels, scores[u, candidates]))
    np.testing.assert_allclose(auc_score(model, test, train), expected, rtol=1e-5)
    assert auc_score(model, test, train, preserve_rows=True)[5] == 0.5


def test_auc_with_ties_is_pessimistic():
    model = zero_model(2, 5)
    test = sp.csr_matrix(np.array([[0, 1, 0, 1, 0], [1, 0, 0, 0, 0]], dtype=np.float32))
    train = sp.csr_matrix(np.array([[1, 0, 0, 0, 0], [0, 0, 0, 0, 0]], dtype=np.float32))
    # Every (positive, negative) pair ties, so none counts as ordered correctly.
    np.testing.assert_array_equal(auc_score(model, test, train), [0.0, 0.0])


def test_reciprocal_rank_and_ndcg_match_brute_force(fitted):
    model, train, test, scores = fitted
    k = 10
    rr, ndcg = [], []
    for u in range(test.shape[0]):
        if not test[u].nnz:
            continue
        ranking = _top_k(scores, train, u, scores.shape[1])
        positions = np.flatnonzero(np.isin(ranking, test[u].indices))
        rr.append(1.0 / (positions[0] + 1))
        dcg = sum(1.0 / np.log2(p + 2) for p in positions if p < k)
        ideal = sum(1.0 / np.log2(p + 2) for p in range(min(k, test[u].nnz)))
        ndcg.append(dcg / ideal)
    np.testing.assert_allclose(reciprocal_rank(model, test, train), rr, rtol=1e-6)
    np.testing.assert_allclose(ndcg_at_k(model, test, train, k=k), ndcg, rtol=1e-5)


def test_metric_arguments_are_validated(fitted):
    model, train, test, _ = fitted
    with pytest.raises(ValueError, match="k must be"):
        precision_at_k(model, test, k=0)
    with pytest.raises(ValueError, match="share"):
        auc_score(model, train, train)
    with pytest.raises(ValueError, match="num_threads"):
        recall_at_k(model, test, num_threads=0)


# -- evaluate: every metric from one ranking ------------------------------------------


def _check_evaluate_equals_the_functions(model, test, train, k, **kwargs):
    result = evaluate(model, test, train, k=k, **kwargs)
    expected = {
        "precision_at_k": precision_at_k(model, test, train, k=k, **kwargs),
        "recall_at_k": recall_at_k(model, test, train, k=k, **kwargs),
        "auc_score": auc_score(model, test, train, **kwargs),
        "reciprocal_rank": reciprocal_rank(model, test, train, **kwargs),
        "ndcg_at_k": ndcg_at_k(model, test, train, k=k, **kwargs),
    }
    assert list(result.per_user) == list(result.mean) == list(expected)
    for name, values in expected.items():
        assert result.per_user[name].dtype == values.dtype
        np.testing.assert_array_equal(result.per_user[name], values)
        assert result.mean[name] == pytest.approx(float(values.mean()), rel=1e-6)
    np.testing.assert_array_equal(result.users, np.flatnonzero(sp.csr_matrix(test).getnnz(axis=1)))
    assert result.k == k
    return result


@pytest.mark.parametrize("k", [1, 5, 100])
def test_evaluate_equals_the_metric_functions(fitted, k):
    model, train, test, _ = fitted
    _check_evaluate_equals_the_functions(model, test, train, k)
    _check_evaluate_equals_the_functions(model, test, None, k, num_threads=2)


def test_evaluate_honours_check_intersections_and_other_models(fitted):
    from lightfm.baseline import PopularityBaseline

    model, train, test, _ = fitted
    overlapping = sp.csr_matrix(((test + train) > 0).astype(np.float32))
    with pytest.raises(ValueError, match="share"):
        evaluate(model, overlapping, train)
    _check_evaluate_equals_the_functions(model, overlapping, train, 5, check_intersections=False)
    # A model that only has predict_rank: the popularity baseline.
    _check_evaluate_equals_the_functions(PopularityBaseline().fit(train), test, train, 3)


def test_evaluation_result_frame_and_repr(fitted):
    pd = pytest.importorskip("pandas")
    model, train, test, _ = fitted
    result = evaluate(model, test, train, k=5)
    frame = result.to_frame()
    assert isinstance(frame, pd.DataFrame) and frame.index.name == "user"
    np.testing.assert_array_equal(frame.index, result.users)
    np.testing.assert_array_equal(frame["auc_score"], result.per_user["auc_score"])
    assert repr(result).startswith(f"EvaluationResult(k=5, users={result.users.size}, precision_at_k=")


def test_evaluate_without_test_users_and_refusals(fitted):
    model, train, _, _ = fitted
    empty = evaluate(model, sp.csr_matrix(train.shape, dtype=np.float32), train)
    assert empty.users.size == 0 and all(np.isnan(value) for value in empty.mean.values())
    from lightfm.baseline import PopularityBaseline

    no_items = PopularityBaseline().fit(sp.csr_matrix((3, 0)))
    assert evaluate(no_items, sp.csr_matrix((3, 0))).users.size == 0
    assert reciprocal_rank(no_items, sp.csr_matrix((3, 0)), preserve_rows=True).tolist() == [0.0, 0.0, 0.0]
    with pytest.raises(ValueError, match="k must be"):
        evaluate(model, train, k=0)
    with pytest.raises(ValueError, match="num_threads"):
        evaluate(model, train, num_threads=0)
    with pytest.raises(ValueError, match="item_features"):
        evaluate(model, train, item_features=sp.eye(3))
    for metric in (evaluate, precision_at_k, auc_score):
        with pytest.raises(ValueError, match="model must be a fitted LightFM .*got dict"):
            metric({}, train)
