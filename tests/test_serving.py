"""recommend, similar_items and similar_users against brute force; concurrent serving."""

import os
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from threadpoolctl import threadpool_info

from lightfm import LightFM

from .conftest import REPO, checkerboard, zero_model
from .oracles import brute_force_top_n


def integer_model(n_users, n_items, components=3, seed=0, low=-2, high=3):
    """A model with small-integer parameters: float32 scores are exact, so ties are real ties."""
    rs = np.random.RandomState(seed)
    model = zero_model(n_users, n_items)
    model.no_components = components
    model.user_embeddings = rs.randint(low, high, (n_users, components)).astype(np.float32)
    model.item_embeddings = rs.randint(low, high, (n_items, components)).astype(np.float32)
    for side, n in (("user", n_users), ("item", n_items)):
        setattr(model, f"{side}_biases", rs.randint(low, high, n).astype(np.float32))
        for name in ("embedding_gradients", "embedding_momentum"):
            setattr(model, f"{side}_{name}", np.zeros_like(getattr(model, f"{side}_embeddings")))
        for name in ("bias_gradients", "bias_momentum"):
            setattr(model, f"{side}_{name}", np.zeros(n, dtype=np.float32))
    return model


def exact_scores(model):
    users = model.user_embeddings.astype(np.float64)
    items = model.item_embeddings.astype(np.float64)
    return users @ items.T + model.user_biases[:, None] + model.item_biases[None, :]


def exclusion_sets(matrix, rows):
    csr = sp.csr_matrix(matrix)
    return [set(csr.indices[csr.indptr[r] : csr.indptr[r + 1]].tolist()) for r in rows]


@pytest.mark.bounds_checked
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n_users=st.integers(1, 12),
    n_items=st.integers(1, 15),
    n=st.integers(1, 20),
    seed=st.integers(0, 10_000),
    exclude_density=st.sampled_from([0.0, 0.3, 0.9]),
    use_candidates=st.booleans(),
    num_threads=st.sampled_from([1, 2]),
)
def test_recommend_matches_brute_force(n_users, n_items, n, seed, exclude_density, use_candidates, num_threads):
    rs = np.random.RandomState(seed)
    model = integer_model(n_users, n_items, seed=seed, low=-1, high=2)  # many ties
    exclude = sp.random(n_users, n_items, density=exclude_density, format="csr", random_state=rs)
    candidates = rs.choice(n_items, size=rs.randint(1, n_items + 1)) if use_candidates else None  # repeats allowed
    user_ids = rs.randint(0, n_users, size=rs.randint(1, 8))
    items, scores = model.recommend(user_ids, n=n, exclude=exclude, items=candidates, num_threads=num_threads)
    expected_items, expected_scores = brute_force_top_n(  # never wider than the catalogue
        exact_scores(model)[user_ids], min(n, n_items), exclusion_sets(exclude, user_ids), candidates
    )
    np.testing.assert_array_equal(items, expected_items)
    np.testing.assert_array_equal(scores, expected_scores.astype(np.float32))
    assert items.dtype == np.int64 and scores.dtype == np.float32


def test_recommend_scores_are_predictions_and_sorted(board):
    train, _ = board
    model = LightFM(loss="warp", no_components=8, random_state=0).fit(train, epochs=5)
    users = np.arange(train.shape[0])
    items, scores = model.recommend(users, n=7, exclude=train, num_threads=2)
    assert items.shape == scores.shape == (users.size, 7)
    assert np.all(np.diff(scores, axis=1) <= 0)
    np.testing.assert_allclose(
        scores, model.predict(np.repeat(users, 7), items.ravel()).reshape(items.shape), rtol=1e-5, atol=1e-5
    )
    assert sp.csr_matrix(train)[np.repeat(users, 7), items.ravel()].sum() == 0
    # Trained on a checkerboard: recommendations come from the user's half of the items.
    assert np.mean(items % 2 == (users % 2)[:, None]) > 0.95


def test_scalar_user_gives_one_dimensional_results():
    model = integer_model(4, 6)
    items, scores = model.recommend(2, n=3)
    assert items.shape == scores.shape == (3,)
    both_items, _ = model.recommend([2, 2], n=3)
    np.testing.assert_array_equal(both_items, [items, items])


@pytest.mark.bounds_checked
def test_short_rows_are_padded():
    model = integer_model(2, 5)
    exclude = sp.csr_matrix(np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]]))
    items, scores = model.recommend([0, 1], n=4, exclude=exclude)
    assert set(items[0, :2]) == {3, 4} and list(items[0, 2:]) == [-1, -1]
    assert np.all(np.isneginf(scores[0, 2:])) and np.all(np.isfinite(scores[0, :2]))
    assert list(items[1]) == [-1] * 4 and np.all(np.isneginf(scores[1]))
    only, _ = model.recommend(0, n=3, items=[4])
    assert list(only) == [4, -1, -1]


def test_excluded_entries_count_even_when_zero():
    """Stored entries are excluded whatever their value (explicit zeros included)."""
    model = integer_model(1, 3)
    exclude = sp.coo_matrix((np.zeros(2), ([0, 0], [0, 1])), shape=(1, 3))
    items, _ = model.recommend(0, n=3, exclude=exclude)
    assert list(items) == [2, -1, -1]


def test_cold_start_users_by_features():
    train, _ = checkerboard(n_users=40, n_items=30, seed=1)
    # Two user features: the group each user belongs to.
    group = np.arange(40) % 2
    user_features = sp.csr_matrix((np.ones(40), (np.arange(40), group)), shape=(40, 2))
    model = LightFM(loss="warp", no_components=8, random_state=0).fit(train, user_features=user_features, epochs=20)
    new_users = sp.csr_matrix(np.array([[1.0, 0.0], [0.0, 1.0]]))
    features = sp.vstack([user_features, new_users]).tocsr()
    items, scores = model.recommend([40, 41], n=5, user_features=features)
    assert np.all(items[0] % 2 == 0) and np.all(items[1] % 2 == 1)
    _, representations = model.get_user_representations(features)
    np.testing.assert_allclose(scores[0], model.predict(40, items[0], user_features=features), rtol=1e-5)
    assert representations.shape[0] == 42


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"n": 0}, "n must be"),
        ({"user_ids": 9}, "user_ids contains user id 9"),
        ({"user_ids": -1}, "negative"),
        ({"items": [7]}, "items contains item id 7"),
        ({"exclude": sp.csr_matrix((3, 6))}, r"exclude has shape \(3, 6\)"),
        ({"num_threads": 0}, "num_threads"),
    ],
)
def test_recommend_errors(kwargs, message):
    model = integer_model(4, 6)
    arguments = {"user_ids": 0, **kwargs}
    with pytest.raises(ValueError, match=message):
        model.recommend(arguments.pop("user_ids"), **arguments)


def test_serving_before_fit_is_an_error():
    for call in (lambda m: m.recommend(0), lambda m: m.similar_items(0), lambda m: m.similar_users(0)):
        with pytest.raises(ValueError, match="not fitted"):
            call(LightFM())


def brute_force_cosine(representations):
    unit = representations / np.maximum(np.linalg.norm(representations, axis=1, keepdims=True), 1e-30)
    return unit @ unit.T


@pytest.mark.bounds_checked
@pytest.mark.parametrize("side", ["item", "user"])
def test_similar_matches_brute_force_cosine(side, board):
    train, _ = board
    model = LightFM(loss="warp", no_components=6, random_state=0).fit(train, epochs=3)
    representations = getattr(model, f"get_{side}_representations")()[1].astype(np.float64)
    cosine = brute_force_cosine(representations)
    ids = np.arange(representations.shape[0])
    found, similarities = getattr(model, f"similar_{side}s")(ids, n=5)
    assert found.shape == (ids.size, 5)
    assert not np.any(found == ids[:, None]), "a query must not be its own neighbour"
    np.testing.assert_allclose(similarities, cosine[ids[:, None], found], atol=1e-5)
    assert np.all(np.diff(similarities, axis=1) <= 0)
    # Nothing left out scores better than the last neighbour kept.
    np.fill_diagonal(cosine, -np.inf)
    fifth_best = -np.sort(-cosine, axis=1)[:, 4]
    np.testing.assert_allclose(similarities[:, 4], fifth_best, atol=1e-5)


@pytest.mark.bounds_checked
def test_similar_items_with_features_padding_and_zero_vectors():
    model = integer_model(3, 4)
    model.item_embeddings[2] = 0.0
    features = sp.identity(4, format="csr")
    found, similarities = model.similar_items(0, n=5, item_features=features)  # n beyond the 4 items: 4
    assert found.shape == (4,) and found[-1] == -1 and np.isneginf(similarities[-1])
    assert 0 not in found[:3] and sorted(found[:3].tolist()) == [1, 2, 3]
    assert similarities[found[:3].tolist().index(2)] == 0.0
    single, _ = model.similar_users(1, n=1)
    assert single.shape == (1,) and single[0] != 1


def test_concurrent_serving_matches_serial(board):
    """A web service calls recommend/predict from many threads at once."""
    train, _ = board
    model = LightFM(loss="warp", no_components=8, random_state=0).fit(train, epochs=2)
    users = np.arange(train.shape[0])
    expected_items, expected_scores = model.recommend(users, n=5, exclude=train, num_threads=2)
    expected_predictions = model.predict(users, users % train.shape[1], num_threads=2)
    failures = []

    def serve():
        try:
            for _ in range(100):
                items, scores = model.recommend(users, n=5, exclude=train, num_threads=2)
                predictions = model.predict(users, users % train.shape[1], num_threads=2)
                if not (np.array_equal(items, expected_items) and np.array_equal(scores, expected_scores)):
                    failures.append("recommend differs")
                if not np.array_equal(predictions, expected_predictions):
                    failures.append("predict differs")
        except Exception as error:  # noqa: BLE001 - reported below
            failures.append(repr(error))

    blas_threads = [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]
    threads = [threading.Thread(target=serve) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    # Calls limit BLAS to one thread while they run; the last one out restores it.
    assert [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"] == blas_threads


def test_concurrent_serving_survives_the_workqueue_layer():
    """With Numba's workqueue layer (unsafe for concurrent launches), calls take turns instead of aborting."""
    script = textwrap.dedent(
        """
        import threading, numpy as np, scipy.sparse as sp, numba
        from lightfm import LightFM
        train = sp.random(200, 300, density=0.05, format="csr", random_state=0)
        model = LightFM(loss="warp", random_state=0).fit(train)
        expected = model.recommend(np.arange(200), n=5, num_threads=2)[0]
        bad = []
        predictions = model.predict(np.arange(200), np.arange(200), num_threads=2)
        def serve():
            for _ in range(30):
                if not np.array_equal(model.recommend(np.arange(200), n=5, num_threads=2)[0], expected):
                    bad.append(1)
                if not np.array_equal(model.predict(np.arange(200), np.arange(200), num_threads=2), predictions):
                    bad.append(2)
        threads = [threading.Thread(target=serve) for _ in range(8)]
        [t.start() for t in threads]; [t.join() for t in threads]
        print(numba.threading_layer(), len(bad))
        """
    )
    environment = {**os.environ, "NUMBA_THREADING_LAYER": "workqueue", "NUMBA_NUM_THREADS": "2"}
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, env=environment, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["workqueue", "0"]
