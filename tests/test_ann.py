"""lightfm.ann.ItemIndex: the exact backend against LightFM.recommend, faiss against the exact backend.

The exact backend is the oracle: it must return what ``LightFM.recommend`` returns, bit for bit.
The faiss indexes are measured against it (recall), and held to what must never be approximate:
no excluded or non-candidate item, exactly ``n`` results where the user has ``n`` candidates,
scores that are the items' exact scores, recommend's order and padding.
"""

import os
import threading

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lightfm import LightFM, ParameterError
from lightfm.ann import ItemIndex

from .oracles import brute_force_top_n


def model_with(user_embeddings, item_embeddings, user_biases, item_biases):
    """A fitted-shape model holding the given parameters."""
    n_users, d = user_embeddings.shape
    n_items = item_embeddings.shape[0]
    seed = sp.coo_matrix(([1.0], ([0], [0])), shape=(n_users, n_items))
    model = LightFM(no_components=d, random_state=0).fit(seed, epochs=0)
    model.user_embeddings[:] = user_embeddings
    model.item_embeddings[:] = item_embeddings
    model.user_biases[:] = user_biases
    model.item_biases[:] = item_biases
    return model


def varied_model(n_users=200, n_items=3000, d=16, seed=0):
    """Embeddings with log-normal norms and a spread of biases correlated with them, as a trained
    WARP model has (popular items: long vectors and high biases)."""
    rs = np.random.RandomState(seed)

    def side(n, sigma):
        directions = rs.randn(n, d) + 0.5 * rs.randn(1, d)  # a shared direction, as training gives
        directions /= np.linalg.norm(directions, axis=1, keepdims=True)
        log_norms = rs.randn(n)
        norms = np.exp(0.7 + sigma * log_norms)
        return (directions * norms[:, None]).astype(np.float32), log_norms

    user_embeddings, _ = side(n_users, 0.25)
    item_embeddings, log_norms = side(n_items, 0.35)
    item_biases = (0.6 * log_norms + 0.4 * rs.randn(n_items)).astype(np.float32)
    user_biases = rs.uniform(-4, 0, n_users).astype(np.float32)
    return model_with(user_embeddings, item_embeddings, user_biases, item_biases)


def integer_model(n_users, n_items, d=3, seed=0):
    """Small-integer parameters: float32 scores are exact, so ties are real ties."""
    rs = np.random.RandomState(seed)
    return model_with(
        rs.randint(-1, 2, (n_users, d)).astype(np.float32),
        rs.randint(-1, 2, (n_items, d)).astype(np.float32),
        rs.randint(-1, 2, n_users).astype(np.float32),
        rs.randint(-1, 2, n_items).astype(np.float32),
    )


def exact_scores(model, user_ids, item_ids, item_bias_weight=1.0):
    """float64 scores of (user_ids[r], item_ids[r, j]), the item biases weighted."""
    users = model.user_embeddings[user_ids].astype(np.float64)
    items = model.item_embeddings[item_ids].astype(np.float64)
    return (
        np.einsum("rd,rkd->rk", users, items)
        + model.user_biases[user_ids, None]
        + item_bias_weight * model.item_biases[item_ids].astype(np.float64)
    )


def rows_of(matrix, rows):
    csr = sp.csr_matrix(matrix)
    return [set(csr.indices[csr.indptr[r] : csr.indptr[r + 1]].tolist()) for r in rows]


def recall(found, truth):
    hits = [len(set(f[f >= 0].tolist()) & set(t[t >= 0].tolist())) for f, t in zip(found, truth, strict=True)]
    return sum(hits) / max(1, int((truth >= 0).sum()))


@pytest.fixture(scope="module")
def faiss():
    return pytest.importorskip("faiss")


_NEVER_EXACT = ("EXACT_BELOW", "_HNSW_EXACT_RATIO", "_IVF_EXACT_RATIO")


@pytest.fixture
def always_search(monkeypatch):
    """Never score exactly where the index could search (small catalogues would otherwise be scored
    exactly): the over-fetch, refill and fallback paths run on small, fast examples."""
    from lightfm.ann import _faiss

    for name in _NEVER_EXACT:
        monkeypatch.setattr(_faiss, name, 0)


@pytest.fixture(scope="module")
def hybrid():
    """A model fit with user and item features (kept by the model), and its training interactions."""
    rs = np.random.RandomState(3)
    train = sp.random(60, 80, density=0.1, format="csr", random_state=rs)
    train.data[:] = 1.0
    user_features = sp.hstack([sp.identity(60), sp.random(60, 5, density=0.3, random_state=rs)], format="csr")
    item_features = sp.hstack([sp.identity(80), sp.random(80, 7, density=0.3, random_state=rs)], format="csr")
    model = LightFM(no_components=8, loss="warp", random_state=0)
    model.fit(train, user_features=user_features, item_features=item_features, epochs=3)
    return model, train, user_features, item_features


# -- the exact backend is LightFM.recommend ------------------------------------------------------


@pytest.mark.parametrize("item_bias_weight", [0.0, 0.5, 1.0])
@pytest.mark.parametrize("use_exclude", [False, True])
@pytest.mark.parametrize("use_items", [False, True])
def test_exact_backend_is_recommend(item_bias_weight, use_exclude, use_items):
    model = integer_model(30, 25, seed=1)  # many ties
    rs = np.random.RandomState(0)
    exclude = sp.random(30, 25, density=0.4, format="csr", random_state=rs) if use_exclude else None
    items = rs.choice(25, 12) if use_items else None  # repeats allowed
    users = np.array([0, 3, 3, 29, 7])
    index = ItemIndex.build(model, backend="exact")
    for n in (1, 4, 25, 100):
        kwargs = {"exclude": exclude, "items": items, "item_bias_weight": item_bias_weight}
        got = index.recommend(users, n=n, **kwargs)
        want = model.recommend(users, n=n, **kwargs)
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])
        assert got[0].dtype == np.int64 and got[1].dtype == np.float32


def test_exact_backend_is_recommend_with_features_and_representations(hybrid):
    model, train, user_features, item_features = hybrid
    index = ItemIndex.build(model, backend="exact")  # the model's own item features
    users = np.arange(60)
    for weight in (0.0, 0.5, 1.0):
        got = index.recommend(users, n=7, exclude=train, item_bias_weight=weight, num_threads=2)
        want = model.recommend(users, n=7, exclude=train, item_bias_weight=weight)
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])
    # A cold-start user: one more row of the user features.
    grown = sp.vstack([user_features, sp.csr_matrix(([1.0, 1.0], ([0, 0], [61, 63])), shape=(1, 65))], format="csr")
    got = index.recommend(60, n=5, user_features=grown)
    want = model.recommend(60, n=5, user_features=grown)
    assert got[0].shape == (5,)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])
    # New users as representations, with one exclusion row each.
    representations = model.fold_in_users(train[:4])
    for ids in (None, [2, 0]):
        got = index.recommend(ids, n=6, user_representations=representations, exclude=train[:4])
        want = model.recommend(ids, n=6, user_representations=representations, exclude=train[:4])
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])


def test_explicit_item_features(hybrid):
    model, train, _, item_features = hybrid
    subset = item_features[:50]  # an index over some of the items
    index = ItemIndex.build(model, item_features=subset, backend="exact")
    assert index.n_items == 50
    got = index.recommend([1, 2], n=10, exclude=train[:, :50])
    want = model.recommend([1, 2], n=10, exclude=train[:, :50], item_features=subset)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])


# -- faiss against the exact backend -------------------------------------------------------------


@pytest.mark.parametrize(
    "params",
    [{}, {"metric": "inner_product"}, {"index_type": "hnsw"}, {"index_type": "hnsw", "metric": "inner_product"}],
    ids=["ivf-l2 (default)", "ivf-ip", "hnsw-l2", "hnsw-ip"],
)
def test_recall_on_varied_norms_and_biases(faiss, always_search, params):
    model = varied_model()
    index = ItemIndex.build(model, num_threads=1, **params)
    users = np.arange(200)
    exact = model.recommend(users, n=10)
    found, scores = index.recommend(users, n=10)
    assert recall(found, exact[0]) >= 0.95
    np.testing.assert_allclose(scores, exact_scores(model, users, found), rtol=1e-5, atol=1e-5)


def test_recall_on_a_trained_model(faiss, always_search):
    """WARP on power-law popularity: the norms and biases training gives, at the default settings."""
    rs = np.random.default_rng(0)
    n_users, n_items = 1000, 3000
    popularity = 1.0 / np.arange(1, n_items + 1) ** 0.8
    rows = np.repeat(np.arange(n_users), 20)
    cols = rs.choice(n_items, rows.size, p=popularity / popularity.sum())
    train = sp.csr_matrix((np.ones(rows.size, np.float32), (rows, cols)), shape=(n_users, n_items))
    train.data[:] = 1.0
    model = LightFM(no_components=32, loss="warp", random_state=0).fit(train, epochs=5)
    index = ItemIndex.build(model, num_threads=1)
    users = np.arange(n_users)
    exact = model.recommend(users, n=10, exclude=train)
    found, scores = index.recommend(users, n=10, exclude=train)
    assert recall(found, exact[0]) >= 0.95
    assert not any(train[u, found[u]].nnz for u in users)
    np.testing.assert_allclose(scores, exact_scores(model, users, found), rtol=1e-5, atol=1e-5)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(1, 30),
    density=st.sampled_from([0.0, 0.2, 0.6, 0.97]),
    use_items=st.booleans(),
    weight=st.sampled_from([0.0, 0.5, 1.0, 3.0]),
    params=st.sampled_from(
        [
            {"index_type": "hnsw", "metric": "inner_product", "ef_search": 4},
            {"index_type": "hnsw", "ef_search": 8},
            {"nprobe": 1},
            {"metric": "inner_product", "nprobe": 1},
        ]
    ),
)
def test_exclude_and_items_give_n_results_never_excluded(faiss, seed, n, density, use_items, weight, params):
    from lightfm.ann import _faiss

    rs = np.random.RandomState(seed)
    n_users, n_items = 12, 150
    model = model_with(
        rs.randn(n_users, 4).astype(np.float32),
        (rs.randn(n_items, 4) * np.exp(0.5 * rs.randn(n_items, 1))).astype(np.float32),
        rs.randn(n_users).astype(np.float32),
        rs.randn(n_items).astype(np.float32),
    )
    exclude = sp.random(n_users, n_items, density=density, format="csr", random_state=rs)
    items = rs.choice(n_items, rs.randint(1, n_items)) if use_items else None
    users = rs.randint(0, n_users, 6)
    saved = {name: getattr(_faiss, name) for name in _NEVER_EXACT}
    for name in _NEVER_EXACT:  # search even these small catalogues (hypothesis runs outside fixtures)
        setattr(_faiss, name, 0)
    try:
        index = ItemIndex.build(model, num_threads=1, **params)
        found, scores = index.recommend(users, n=n, exclude=exclude, items=items, item_bias_weight=weight)
    finally:
        for name, value in saved.items():
            setattr(_faiss, name, value)
    width = min(n, n_items)
    assert found.shape == scores.shape == (users.size, width)
    allowed = set(range(n_items)) if items is None else set(items.tolist())
    for row, (user, excluded) in enumerate(zip(users, rows_of(exclude, users), strict=True)):
        pool = allowed - excluded
        got = found[row][found[row] >= 0]
        assert got.size == min(width, len(pool))  # exactly n while candidates last
        assert set(got.tolist()) <= pool and len(set(got.tolist())) == got.size
        assert np.all(found[row][got.size :] == -1) and np.all(scores[row][got.size :] == -np.inf)
        exact = exact_scores(model, np.array([user]), got[None], weight)[0]
        np.testing.assert_allclose(scores[row][: got.size], exact, rtol=1e-5, atol=1e-5)
        assert np.all(np.diff(scores[row][: got.size]) <= 0)  # best first


@pytest.mark.parametrize("params", [{"nprobe": 4}, {"index_type": "hnsw", "ef_search": 16}], ids=["ivf", "hnsw"])
def test_heavy_exclusion_refills_and_matches_exact(faiss, always_search, params):
    """Users whose 200 best items are all excluded: the index is searched deeper until n are found."""
    model = varied_model(n_users=20, n_items=3000)
    users = np.arange(20)
    full = model.recommend(users, n=200)[0]
    exclude = sp.csr_matrix((np.ones(full.size), (np.repeat(users, 200), full.ravel())), shape=(20, 3000))
    index = ItemIndex.build(model, num_threads=1, **params)
    found, scores = index.recommend(users, n=10, exclude=exclude)
    assert (found >= 0).all()
    assert not any(exclude[u, found[u]].nnz for u in users)
    # The deeper search finds the true top 10 past the exclusions as well as the shallow one finds
    # the plain top 10 (low search settings: both are well below 1 here).
    shallow = recall(index.recommend(users, n=10)[0], model.recommend(users, n=10)[0])
    assert recall(found, model.recommend(users, n=10, exclude=exclude)[0]) >= shallow - 0.05


def test_padding_when_fewer_candidates(faiss, always_search):
    model = varied_model(n_users=5, n_items=300)
    index = ItemIndex.build(model, num_threads=1)
    exclude = sp.csr_matrix(([1.0], ([0], [7])), shape=(5, 300))
    found, scores = index.recommend([0, 1], n=4, items=[7, 9, 11], exclude=exclude)
    assert found[0, 2:].tolist() == [-1, -1] and np.all(scores[0, 2:] == -np.inf)
    assert set(found[0, :2].tolist()) == {9, 11}
    assert set(found[1, :3].tolist()) == {7, 9, 11} and found[1, 3] == -1
    # As the model: candidates scored exactly, so the same answer.
    want = model.recommend([0, 1], n=4, items=[7, 9, 11], exclude=exclude)
    np.testing.assert_array_equal(found, want[0])
    # n larger than the catalogue is reduced to it; a scalar id gives 1-d arrays; no ids, no rows.
    assert index.recommend(2, n=1000)[0].shape == (300,)
    assert index.recommend([], n=3)[0].shape == (0, 3)


def test_ties_by_lower_item_index(faiss, always_search):
    model = integer_model(10, 400, seed=2)
    index = ItemIndex.build(model, num_threads=1)
    found, scores = index.recommend(np.arange(10), n=15)
    expected = brute_force_top_n(
        model.user_embeddings.astype(np.float64) @ model.item_embeddings.T
        + model.user_biases[:, None]
        + model.item_biases[None, :],
        15,
    )
    np.testing.assert_array_equal(scores, expected[1].astype(np.float32))  # integer scores: exact
    for row in range(10):  # within equal scores, lower items first
        for score in np.unique(scores[row]):
            same = found[row][scores[row] == score]
            assert np.all(np.diff(same) > 0)


def test_representations_and_bias_weight(faiss, always_search):
    model = varied_model(n_users=50, n_items=2000)
    index = ItemIndex.build(model, num_threads=1)
    biases, embeddings = model.user_biases[:20] + 1.0, model.user_embeddings[:20] * 1.5
    for weight in (0.0, 0.5, 1.0):
        found, scores = index.recommend(n=10, user_representations=(biases, embeddings), item_bias_weight=weight)
        exact = model.recommend(n=10, user_representations=(biases, embeddings), item_bias_weight=weight)
        assert found.shape == (20, 10)
        assert recall(found, exact[0]) >= 0.95
        rescored = np.einsum("rd,rkd->rk", embeddings.astype(np.float64), model.item_embeddings[found])
        rescored += biases[:, None] + weight * model.item_biases[found]
        np.testing.assert_allclose(scores, rescored, rtol=1e-5, atol=1e-5)


def test_large_candidate_sets_are_searched(faiss, always_search):
    model = varied_model(n_users=40, n_items=3000)
    index = ItemIndex.build(model, num_threads=1)
    items = np.arange(0, 3000, 2)
    found, _ = index.recommend(np.arange(40), n=10, items=items)
    assert np.all(found % 2 == 0) and (found >= 0).all()
    assert recall(found, model.recommend(np.arange(40), n=10, items=items)[0]) >= 0.95


def test_threads(faiss, always_search):
    model = varied_model(n_users=100, n_items=2000)
    index = ItemIndex.build(model, num_threads=1)
    before = faiss.omp_get_max_threads()
    single = index.recommend(np.arange(100), n=10, num_threads=1)
    double = index.recommend(np.arange(100), n=10, num_threads=2)
    assert faiss.omp_get_max_threads() == before  # restored
    np.testing.assert_array_equal(single[0], double[0])
    results = {}

    def serve(key):
        results[key] = index.recommend(np.arange(key, 100, 4), n=10)

    workers = [threading.Thread(target=serve, args=(key,)) for key in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    for key in range(4):
        np.testing.assert_array_equal(results[key][0], single[0][key::4])


def test_set_search_params(faiss):
    model = varied_model(n_users=10, n_items=500)
    index = ItemIndex.build(model, num_threads=1, index_type="hnsw", ef_search=32)
    assert index.set_search_params(ef_search=200) is index and index.params["ef_search"] == 200
    with pytest.raises(ValueError, match="nprobe"):
        index.set_search_params(nprobe=3)
    with pytest.raises(ValueError, match="ef_search"):
        index.set_search_params(ef_search=0)
    ivf = ItemIndex.build(model, index_type="ivf", nlist=8, nprobe=2)
    assert ivf.set_search_params(nprobe=100).params["nprobe"] == 8  # at most nlist


# -- files ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("params", [{"backend": "exact"}, {}, {"index_type": "hnsw", "metric": "inner_product"}])
def test_save_load_round_trip(params, tmp_path, always_search, request):
    if params.get("backend") != "exact":
        request.getfixturevalue("faiss")
    model = varied_model(n_users=30, n_items=800)
    exclude = sp.random(30, 800, density=0.05, format="csr", random_state=0)
    index = ItemIndex.build(model, num_threads=1, **params)
    path = tmp_path / "items.index"
    index.save(path)
    assert [name for name in os.listdir(tmp_path)] == ["items.index"]  # written atomically, nothing left over
    np.load(path, allow_pickle=False).close()  # plain arrays
    loaded = ItemIndex.load(path, model)
    assert loaded.params == index.params and loaded.checksum == index.checksum and loaded.nbytes == index.nbytes
    for kwargs in ({}, {"exclude": exclude, "item_bias_weight": 0.5}):
        got, want = loaded.recommend(np.arange(30), n=10, **kwargs), index.recommend(np.arange(30), n=10, **kwargs)
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])
    # Through the model's own file: the same item side, so the index loads.
    model.save(tmp_path / "model.npz")
    reloaded = LightFM.load(tmp_path / "model.npz")
    np.testing.assert_array_equal(ItemIndex.load(path, reloaded).recommend(3)[0], index.recommend(3)[0])


def test_load_refuses_another_item_side(tmp_path, hybrid):
    model, train, _, item_features = hybrid
    path = tmp_path / "items.index"
    ItemIndex.build(model, backend="exact").save(path)
    retrained = LightFM(no_components=8, loss="warp", random_state=1)
    retrained.fit(train, user_features=hybrid[2], item_features=item_features, epochs=3)
    with pytest.raises(ValueError, match="^model: its item representations are not those"):
        ItemIndex.load(path, retrained)
    with pytest.raises(ValueError, match="item_features differ"):
        ItemIndex.load(path, model, item_features=item_features[:40])
    narrow = LightFM(no_components=4, random_state=0).fit(train)
    with pytest.raises(ValueError, match="4 components"):
        ItemIndex.load(path, narrow)
    # The model changed in place after building: the index still loads only for the old item side.
    changed = LightFM(no_components=8, random_state=0).fit(train)
    ItemIndex.build(changed, backend="exact").save(path)
    changed.item_biases[3] += 1.0
    with pytest.raises(ValueError, match="checksum"):
        ItemIndex.load(path, changed)


def test_load_refuses_other_files(tmp_path, hybrid):
    model = hybrid[0]
    model.save(tmp_path / "model.npz")
    with pytest.raises(ValueError, match="not an ItemIndex file"):
        ItemIndex.load(tmp_path / "model.npz", model)
    (tmp_path / "text.index").write_text("hello")
    with pytest.raises(ValueError, match="not an .npz archive"):
        ItemIndex.load(tmp_path / "text.index", model)
    with pytest.raises(ValueError, match="not a regular file"):
        ItemIndex.load(tmp_path, model)


def test_load_refuses_a_corrupt_faiss_index(faiss, tmp_path):
    model = varied_model(n_users=5, n_items=200)
    path = tmp_path / "items.index"
    ItemIndex.build(model, num_threads=1).save(path)
    with np.load(path, allow_pickle=False) as file:
        arrays = {name: file[name] for name in file.files}
    arrays["index"] = arrays["index"][: arrays["index"].size // 2]
    with open(path, "wb") as file:
        np.savez(file, **arrays)
    with pytest.raises(ValueError, match="corrupt"):
        ItemIndex.load(path, model)


# -- refusals ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small():
    model = integer_model(8, 30)
    return model, ItemIndex.build(model, backend="exact")


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"user_ids": [8]}, "user_ids"),
        ({"user_ids": [-1]}, "user_ids"),
        ({"user_ids": ["a"]}, "user_ids"),
        ({"user_ids": [[0]]}, "user_ids"),
        ({"user_ids": [0], "n": 0}, "n"),
        ({"user_ids": [0], "n": 2.5}, "n"),
        ({"user_ids": [0], "items": [30]}, "items"),
        ({"user_ids": [0], "exclude": sp.csr_matrix((8, 29))}, "exclude"),
        ({"user_ids": [0], "exclude": np.ones(3)}, "exclude"),
        ({"user_ids": [0], "item_bias_weight": -1.0}, "item_bias_weight"),
        ({"user_ids": [0], "item_bias_weight": float("nan")}, "item_bias_weight"),
        ({"user_ids": [0], "num_threads": 0}, "num_threads"),
        ({"user_ids": [0], "user_features": sp.identity(9, format="csr")}, "user_features"),
        ({"user_representations": (np.zeros(2), np.zeros((2, 2)))}, "user_representations"),
        ({"user_representations": "x"}, "user_representations"),
        ({"user_representations": (np.zeros(1), np.zeros((1, 3))), "user_features": sp.identity(8)}, "user_features"),
        ({"user_ids": [1], "user_representations": (np.zeros(1), np.zeros((1, 3)))}, "user_ids"),
        ({}, "user_ids"),
    ],
)
def test_bad_input_names_the_argument(small, kwargs, name):
    _, index = small
    with pytest.raises(ValueError, match=name):
        index.recommend(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"backend": "annoy"}, "backend"),
        ({"backend": "exact", "M": 8}, "M"),
        ({"index_type": "hnsw", "M": 1}, "M"),
        ({"index_type": "hnsw", "ef_search": 0}, "ef_search"),
        ({"nprobe": 0}, "nprobe"),
        ({"index_type": "flat"}, "index_type"),
        ({"metric": "cosine"}, "metric"),
        ({"index_type": "hnsw", "nprobe": 4}, "nprobe"),  # an IVF parameter for HNSW
        ({"ef_search": 4}, "ef_search"),  # and an HNSW one for IVF
        ({"index_type": "ivf", "nlist": 10_000}, "nlist"),
        ({"num_threads": 0}, "num_threads"),
        ({"item_features": sp.identity(5, format="csr")}, "item_features"),
    ],
)
def test_bad_build_parameters_name_themselves(faiss, small, kwargs, name):
    model, _ = small
    with pytest.raises(ValueError, match=name):
        ItemIndex.build(model, **kwargs)


def test_refusals_without_faiss_or_model(monkeypatch, small):
    model, _ = small
    with pytest.raises(ValueError, match="not fitted"):
        ItemIndex.build(LightFM(), backend="exact")
    with pytest.raises(TypeError, match="ItemIndex.build"):
        ItemIndex()
    with pytest.raises(ValueError, match="model must be"):
        ItemIndex.build("model.npz", backend="exact")
    monkeypatch.setitem(__import__("sys").modules, "faiss", None)  # import faiss raises ImportError
    with pytest.raises(ParameterError, match=r'pip install "lightfm-ng\[ann\]"'):
        ItemIndex.build(model)


# -- similar_items: the cosine index ------------------------------------------------------------


def trained_on_popularity(n_users=1000, n_items=3000, d=32):
    """WARP on power-law popularity (as test_recall_on_a_trained_model), and its training interactions."""
    rs = np.random.default_rng(0)
    popularity = 1.0 / np.arange(1, n_items + 1) ** 0.8
    rows = np.repeat(np.arange(n_users), 20)
    cols = rs.choice(n_items, rows.size, p=popularity / popularity.sum())
    train = sp.csr_matrix((np.ones(rows.size, np.float32), (rows, cols)), shape=(n_users, n_items))
    train.data[:] = 1.0
    return LightFM(no_components=d, loss="warp", random_state=0).fit(train, epochs=5), train


@pytest.mark.parametrize("ids", [np.arange(0, 80, 3), 7, np.zeros(0, dtype=np.int64)])
@pytest.mark.parametrize("n", [1, 10, 80, 500])
def test_exact_similar_items_is_the_models(hybrid, ids, n):
    model, *_ = hybrid
    index = ItemIndex.build(model, backend="exact")
    got, want = index.similar_items(ids, n=n), model.similar_items(ids, n=n)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])


def test_similar_items_with_explicit_item_features(hybrid):
    model, _, _, item_features = hybrid
    index = ItemIndex.build(model, backend="exact", item_features=item_features)
    got = index.similar_items([1, 2], n=6)
    want = model.similar_items([1, 2], n=6, item_features=item_features)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])


def test_similar_items_recall_on_a_trained_model(faiss, always_search):
    model, _ = trained_on_popularity()
    index = ItemIndex.build(model, num_threads=1)
    items = np.arange(0, 3000, 7)
    exact = model.similar_items(items, n=10)
    found, similarities = index.similar_items(items, n=10)
    assert recall(found, exact[0]) >= 0.95
    assert not (found == items[:, None]).any()  # never the item itself
    unit = model.item_embeddings / np.linalg.norm(model.item_embeddings, axis=1, keepdims=True)
    expected = np.einsum("qd,qkd->qk", unit[items], unit[found])
    np.testing.assert_allclose(similarities, expected, rtol=1e-5, atol=1e-5)  # exact similarities
    assert (np.diff(similarities, axis=1) <= 1e-6).all()


@pytest.mark.parametrize("params", [{"index_type": "hnsw", "ef_search": 8}, {"nprobe": 1}, {"metric": "inner_product"}])
def test_similar_items_shapes_padding_and_zero_vectors(faiss, always_search, params):
    model = varied_model(n_users=5, n_items=300)
    model.item_embeddings[[4, 9]] = 0.0  # similarity 0 to every item: ties, by lower index
    index = ItemIndex.build(model, num_threads=1, **params)
    for ids in (4, [4, 9, 11], np.arange(300)):
        for n in (1, 5, 299, 300, 1000):
            got, similarities = index.similar_items(ids, n=n)
            want, want_similarities = model.similar_items(ids, n=n)
            assert got.shape == want.shape and similarities.dtype == np.float32 and got.dtype == np.int64
            assert ((got == -1) == (want == -1)).all()  # padding where the model pads (n >= n_items)
    np.testing.assert_array_equal(index.similar_items([4, 9], n=5)[0], model.similar_items([4, 9], n=5)[0])
    with pytest.raises(ValueError, match="item_ids"):
        index.similar_items(300)
    with pytest.raises(ValueError, match="n must be"):
        index.similar_items(1, n=0)


def test_similar_items_round_trip_and_files_from_before_it(faiss, tmp_path, always_search):
    model = varied_model(n_users=5, n_items=800)
    index = ItemIndex.build(model, num_threads=1, nlist=16, nprobe=2)
    path = tmp_path / "items.index"
    index.save(path)
    loaded = ItemIndex.load(path, model)
    assert loaded.nbytes == index.nbytes
    np.testing.assert_array_equal(loaded.similar_items(np.arange(50))[0], index.similar_items(np.arange(50))[0])
    assert loaded.set_search_params(nprobe=16) is loaded  # both indexes: nprobe=16 probes every list
    np.testing.assert_array_equal(loaded.similar_items(np.arange(50))[0], model.similar_items(np.arange(50))[0])
    # A file written before similar_items (no similarity index) still recommends, and similar_items says why not.
    with np.load(path, allow_pickle=False) as file:
        arrays = {name: file[name] for name in file.files if name != "similar_index"}
    with open(path, "wb") as file:
        np.savez(file, **arrays)
    old = ItemIndex.load(path, model)
    np.testing.assert_array_equal(old.recommend(np.arange(5))[0], index.recommend(np.arange(5))[0])
    with pytest.raises(ValueError, match="holds no similarity index.*rebuild it with ItemIndex.build"):
        old.similar_items(3)


def test_memory_counts_the_unit_vectors_similar_items_keeps():
    model = LightFM(no_components=8, random_state=0).fit(sp.random(20, 100, density=0.1, random_state=0))
    index = ItemIndex.build(model, backend="exact")
    before = index.nbytes
    index.similar_items(3, n=5)
    assert index.nbytes == before + 8 * 100 * 4  # [d, n_items] float32
