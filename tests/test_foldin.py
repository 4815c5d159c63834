"""Fold-in: new users and items learned against a frozen model (``fold_in_users``, ``partial_fit_users``, ...)."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from lightfm import LightFM
from lightfm._foldin import _rows_csr
from lightfm.backends import FoldInRows, TrainingConfig, get_backend
from lightfm.data import Dataset

from . import oracles

LOSSES = ["logistic", "bpr", "warp", "warp-kos"]


def _train(n_users=60, n_items=40, seed=0):
    rs = np.random.RandomState(seed)
    matrix = sp.random(n_users, n_items, density=0.15, format="csr", random_state=rs, dtype=np.float32)
    matrix.data[:] = 1.0
    return matrix


def _rows(n_rows, n_items, per_row=5, seed=1):
    rs = np.random.RandomState(seed)
    rows = np.repeat(np.arange(n_rows), per_row)
    cols = np.concatenate([rs.choice(n_items, per_row, replace=False) for _ in range(n_rows)])
    return sp.csr_matrix((np.ones(rows.size, np.float32), (rows, cols)), shape=(n_rows, n_items))


@pytest.fixture(scope="module", params=LOSSES)
def fitted(request):
    return LightFM(no_components=6, loss=request.param, random_state=0).fit(_train(), epochs=5)


def _snapshot(model):
    return {name: array.copy() for name, array in model._state.arrays.items()}


# -- the kernel against its twin ------------------------------------------------------


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("schedule", ["adagrad", "adadelta"])
@pytest.mark.parametrize("item_rows", [False, True])
def test_kernel_matches_its_python_twin(loss, schedule, item_rows):
    from lightfm.backends.cpu.kernels.foldin import PUSH_DRAWS

    assert oracles.FOLD_IN_PUSH_DRAWS == PUSH_DRAWS
    rs = np.random.RandomState(3)
    d, n_targets, n_cat = 4, 12, 15
    targets = rs.normal(0, 0.3, (n_targets, d)).astype(np.float32)
    target_bias = rs.normal(0, 0.1, n_targets).astype(np.float32)
    catalogue = targets if not item_rows else rs.normal(0, 0.3, (n_cat, d)).astype(np.float32)
    catalogue_bias = target_bias if not item_rows else rs.normal(0, 0.1, n_cat).astype(np.float32)
    matrix = _rows(4, n_targets, per_row=4, seed=5)
    matrix.data = np.array([1, 1, -1, 1] * 4, dtype=np.float32)  # one negative entry per row
    weights = None if loss == "warp-kos" else sp.csr_matrix((rs.rand(16).astype(np.float32) + 0.5, matrix.indices,
                                                             matrix.indptr), shape=matrix.shape)  # fmt: skip
    indptr, indices, labels, w, _ = _rows_csr(matrix, weights, n_targets, "item" if item_rows else "user", loss)
    base = rs.normal(0, 0.1, (4, d + 1)).astype(np.float32)
    thresholds = rs.normal(0, 0.3, n_targets).astype(np.float32) if item_rows else np.zeros(0, np.float32)
    own = np.array([1.0, 0.5, 0.25, 1.0], dtype=np.float32)
    rows = FoldInRows(
        indptr, indices, labels, w, targets, target_bias, catalogue, catalogue_bias, thresholds, base, own, item_rows
    )
    config = TrainingConfig(loss, schedule, 0.1, 0.95, 1e-6, 1e-3, 2e-3, 10, 2, 3)
    epochs = np.array([3, 2, 3, 1], dtype=np.int32)
    offsets = get_backend("cpu").fold_in(rows, config, epochs, 1)
    embeddings, biases = oracles.fold_in(rows, config, epochs)
    np.testing.assert_allclose(offsets.embeddings, embeddings, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(offsets.biases, biases, rtol=1e-4, atol=1e-5)
    assert np.abs(embeddings).max() > 0  # something was learned


# -- guarantees of fold_in_users --------------------------------------------------------


def test_fold_in_leaves_the_model_as_it_was(fitted):
    before = _snapshot(fitted)
    seed_state = fitted.random_state.get_state()[1].copy()
    fitted.fold_in_users(_rows(5, 40))
    fitted.fold_in_items(_rows(3, 60))
    for name, array in fitted._state.arrays.items():
        np.testing.assert_array_equal(array, before[name], err_msg=name)
    np.testing.assert_array_equal(fitted.random_state.get_state()[1], seed_state)


def test_a_row_folds_in_alike_alone_in_a_batch_and_on_threads(fitted):
    rows = _rows(20, 40)
    batch = fitted.fold_in_users(rows)
    threaded = fitted.fold_in_users(rows, num_threads=2)
    alone = fitted.fold_in_users(rows[7])
    for got in (threaded, alone):
        start = 7 if got is alone else 0
        np.testing.assert_array_equal(got[0], batch[0][start : start + got[0].size])
        np.testing.assert_array_equal(got[1], batch[1][start : start + got[1].shape[0]])
    assert batch[0].dtype == batch[1].dtype == np.float32
    assert batch[1].shape == (20, 6)


def test_fold_in_is_safe_from_many_threads_at_once(fitted):
    rows = [_rows(3, 40, seed=s) for s in range(16)]
    serial = [fitted.fold_in_users(r) for r in rows]
    with ThreadPoolExecutor(4) as pool:
        concurrent = list(pool.map(fitted.fold_in_users, rows))
    for (b1, e1), (b2, e2) in zip(serial, concurrent, strict=True):
        np.testing.assert_array_equal(b1, b2)
        np.testing.assert_array_equal(e1, e2)


def test_recommend_and_predict_score_representations_as_brute_force(fitted):
    rows = _rows(4, 40)
    biases, embeddings = fitted.fold_in_users(rows)
    item_biases, item_embeddings = fitted.get_item_representations()
    scores = embeddings @ item_embeddings.T + item_biases + biases[:, None]
    got = fitted.predict(
        np.repeat(np.arange(4), 40), np.tile(np.arange(40), 4), user_representations=(biases, embeddings)
    )
    np.testing.assert_allclose(got, scores.ravel(), rtol=1e-5, atol=1e-5)
    items, top = fitted.recommend(n=5, user_representations=(biases, embeddings), exclude=rows)
    masked = np.where(rows.toarray() > 0, -np.inf, scores)
    expected = oracles.brute_force_top_n(masked, 5)[0]
    np.testing.assert_array_equal(items, expected)
    assert not np.isin(items[0], rows[0].indices).any()
    single, _ = fitted.recommend(2, n=5, user_representations=(biases, embeddings))
    np.testing.assert_array_equal(single, oracles.brute_force_top_n(scores, 5)[0][2])


def test_item_bias_weight_scales_the_item_biases(fitted):
    item_biases, item_embeddings = fitted.get_item_representations()
    user_biases, user_embeddings = fitted.get_user_representations()
    for weight in (0.0, 0.5, 1.0):
        scores = user_embeddings[:3] @ item_embeddings.T + weight * item_biases
        items, _ = fitted.recommend([0, 1, 2], n=7, item_bias_weight=weight)
        np.testing.assert_array_equal(items, oracles.brute_force_top_n(scores, 7)[0])


def test_user_features_are_a_frozen_start_the_interactions_adjust():
    train = _train()
    rs = np.random.RandomState(2)
    user_features = sp.hstack([sp.identity(60), sp.random(60, 5, density=0.4, random_state=rs)], format="csr")
    model = LightFM(no_components=6, loss="warp", random_state=0).fit(train, user_features=user_features, epochs=5)
    new = sp.csr_matrix(([1.0, 1.0], ([0, 1], [61, 63])), shape=(2, 65))
    # A row with features and no interactions is its features' sum.
    rows = sp.csr_matrix(([1.0, 1.0], ([0, 0], [3, 9])), shape=(2, 40))
    biases, embeddings = model.fold_in_users(rows, user_features=new)
    np.testing.assert_allclose(embeddings[1], model.user_embeddings[63], rtol=1e-6)
    np.testing.assert_allclose(biases[1], model.user_biases[63], rtol=1e-6)
    assert not np.allclose(embeddings[0], model.user_embeddings[61])


def test_the_offset_weighs_what_a_normalised_rows_own_feature_would():
    from lightfm._foldin import own_weights
    from lightfm._validation import to_features

    rows = sp.csr_matrix(np.array([[0.5, 0.25, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 0.0], [1 / 3, 1 / 3, 1 / 3]]))
    np.testing.assert_allclose(own_weights(to_features(rows, 4, "user_features"), 4), [0.25, 1.0, 1.0, 1.0], 1e-6)
    np.testing.assert_array_equal(own_weights(None, 2), [1.0, 1.0])


def test_by_default_a_row_takes_about_a_hundred_steps():
    from lightfm._foldin import _row_epochs

    np.testing.assert_array_equal(_row_epochs(None, np.array([0, 1, 3, 20, 34, 500])), [30, 30, 30, 5, 5, 5])
    np.testing.assert_array_equal(_row_epochs(None, np.array([7, 10])), [15, 10])
    np.testing.assert_array_equal(_row_epochs(2, np.array([7, 10])), [2, 2])


def test_new_items_under_the_logistic_loss_take_thirty_epochs_by_default():
    # About 100 steps left logistic MovieLens items at AUC 0.60 (a retrain: 0.80); 30 epochs gave 0.84.
    train = sp.random(60, 40, density=0.3, format="csr", random_state=0)
    train.data[:] = 1.0
    fans = sp.random(2, 60, density=0.4, format="csr", random_state=1)
    fans.data[:] = 1.0
    for loss, default_epochs in (("logistic", 30), ("warp", 5)):
        model = LightFM(no_components=4, loss=loss, random_state=0).fit(train, epochs=2)
        by_default = model.fold_in_items(fans)
        np.testing.assert_array_equal(by_default[1], model.fold_in_items(fans, epochs=default_epochs)[1])


# -- partial_fit_users / partial_fit_items ------------------------------------------------


def test_partial_fit_users_grows_the_model_with_what_fold_in_learns(tmp_path):
    model = LightFM(no_components=6, loss="warp", random_state=0).fit(_train(), epochs=5)
    before = _snapshot(model)
    rows = _rows(2, 40)
    biases, embeddings = model.fold_in_users(rows)
    model.partial_fit_users([60, 62], rows)
    assert model.user_embeddings.shape == (63, 6)
    np.testing.assert_array_equal(model.user_embeddings[[60, 62]], embeddings)
    np.testing.assert_array_equal(model.user_biases[[60, 62]], biases)
    for name in before:
        rows_before = before[name]
        now = model._state.arrays[name]
        np.testing.assert_array_equal(now[: rows_before.shape[0]], rows_before, err_msg=name)
    assert model.recommend(62, n=3)[0].shape == (3,)
    path = tmp_path / "model.npz"
    model.save(path)
    np.testing.assert_array_equal(LightFM.load(path).recommend(62, n=5)[0], model.recommend(62, n=5)[0])
    # A known user is re-learned from the interactions given.
    model.partial_fit_users([5], rows[:1])
    np.testing.assert_array_equal(model.user_embeddings[5], embeddings[0])


def test_partial_fit_items_grows_the_items_and_keeps_the_users_frozen():
    model = LightFM(no_components=6, loss="bpr", random_state=0).fit(_train(), epochs=5)
    users_before = {name: a.copy() for name, a in model._state.arrays.items() if name.startswith("user")}
    fans = _rows(3, 60)
    biases, embeddings = model.fold_in_items(fans)
    model.partial_fit_items([40, 41, 42], fans)
    assert model.item_embeddings.shape == (43, 6)
    np.testing.assert_array_equal(model.item_embeddings[40:], embeddings)
    np.testing.assert_array_equal(model.item_biases[40:], biases)
    for name, array in users_before.items():
        np.testing.assert_array_equal(model._state.arrays[name], array, err_msg=name)
    # The new items reach the users who liked them.
    items, _ = model.recommend(np.arange(60), n=43)
    fan = fans[0].indices[0]
    assert list(items[fan]).index(40) < 43 - 1


def test_partial_fit_users_with_a_dataset_learns_each_new_users_own_feature():
    users = [f"u{i}" for i in range(30)]
    items = [f"i{i}" for i in range(20)]
    rs = np.random.RandomState(0)
    dataset = Dataset()
    dataset.fit(users, items, user_features=["young", "old"])
    pairs = [(u, items[j]) for u in users for j in rs.choice(20, 4, replace=False)]
    interactions, _ = dataset.build_interactions(pairs)
    features = dataset.build_user_features([(u, ["young" if k % 2 else "old"]) for k, u in enumerate(users)])
    model = LightFM(no_components=5, loss="warp", random_state=0).fit(interactions, user_features=features, epochs=5)
    before = model.user_embeddings.copy()
    width = before.shape[0]

    dataset.fit_partial(users=["newcomer"])
    new_row = dataset.build_user_features([("newcomer", ["young"])]).tocsr()[dataset.user_index(["newcomer"])]
    uid = dataset.user_index(["newcomer"])[0]
    clicks = dataset.build_interactions([("newcomer", "i3"), ("newcomer", "i7")])[0].tocsr()[[uid]]
    column = dataset.mapping()[1]["newcomer"]
    assert column == width  # Dataset gives the newcomer an identity feature of its own, after the others
    # Folded in without being written: the frozen shared features (weight 0.5 each) plus an offset.
    shared = new_row[:, :width]
    expected_biases, expected_embeddings = model.fold_in_users(clicks, user_features=shared)

    model.partial_fit_users([uid], clicks, user_features=new_row)
    assert model.user_embeddings.shape[0] == width + 1
    # Every feature shared with other users is frozen; the newcomer's own feature holds the offset.
    np.testing.assert_array_equal(model.user_embeddings[:width], before)
    kept = model._state.fit_inputs["user"].features.matrix
    assert kept.shape == (31, width + 1)
    biases, embeddings = model.get_user_representations(kept)
    np.testing.assert_allclose(embeddings[uid], expected_embeddings[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(biases[uid], expected_biases[0], rtol=1e-5, atol=1e-6)
    found, _ = model.recommend(uid, n=5)  # served with the kept features, grown by the new row
    assert found.shape == (5,)


def test_partial_fit_users_refuses_a_row_with_nothing_of_its_own():
    train = _train()
    user_features = sp.random(60, 4, density=0.5, format="csr", random_state=1)
    model = LightFM(no_components=4, loss="warp", random_state=0).fit(train, user_features=user_features, epochs=2)
    with pytest.raises(ValueError, match="no feature of its own"):
        model.partial_fit_users([60], _rows(1, 40), user_features=sp.csr_matrix(([1.0], ([0], [1])), shape=(1, 4)))
    with pytest.raises(ValueError, match="pass user_features"):
        model.partial_fit_users([60], _rows(1, 40))


# -- bad input ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda m: m.fold_in_users(sp.csr_matrix((1, 41))), "interactions has 41 columns"),
        (lambda m: m.fold_in_users(sp.csr_matrix(([1.0], ([0], [3])), shape=(2, 40))), "Row 1 of interactions"),
        (lambda m: m.fold_in_users(_rows(2, 40), user_features=sp.identity(3, format="csr")), "user_features"),
        (lambda m: m.fold_in_users(_rows(2, 40), epochs=-1), "epochs"),
        (lambda m: m.fold_in_items(_rows(1, 59)), "interactions has 59 columns"),
        (lambda m: m.recommend(user_representations=(np.zeros(2), np.zeros((2, 5)))), "user_representations"),
        (lambda m: m.recommend(user_representations=np.zeros(3)), "user_representations"),
        (lambda m: m.recommend(user_representations=({"a": 1}, np.zeros((1, 6)))), "user_representations"),
        (lambda m: m.recommend(0, item_bias_weight=-1.0), "item_bias_weight"),
        (lambda m: m.recommend(), "user_ids"),
        (lambda m: m.predict(3, [0], user_representations=(np.zeros(2), np.zeros((2, 6)))), "user_ids"),
        (lambda m: m.partial_fit_users([60, 61], _rows(1, 40)), "user_ids has 2 ids"),
        (lambda m: m.partial_fit_users([60, 60], _rows(2, 40)), "repeats"),
        (lambda m: m.partial_fit_users([-1], _rows(1, 40)), "negative"),
        (lambda m: m.partial_fit_users([3], _rows(1, 40), user_features=sp.identity(1)), "user_features"),
    ],
)
def test_bad_input_is_a_value_error_naming_the_argument(call, match):
    model = LightFM(no_components=6, loss="warp", random_state=0).fit(_train(), epochs=1)
    before = _snapshot(model)
    with pytest.raises(ValueError, match=match):
        call(model)
    for name, array in model._state.arrays.items():
        np.testing.assert_array_equal(array, before[name])


def test_sample_weight_with_warp_kos_is_refused_as_fit_refuses_it():
    model = LightFM(no_components=4, loss="warp-kos", random_state=0).fit(_train(), epochs=1)
    rows = _rows(1, 40)
    with pytest.raises(NotImplementedError):
        model.fold_in_users(rows, sample_weight=rows)


def test_unfitted_model_is_refused():
    with pytest.raises(ValueError, match="not fitted"):
        LightFM().fold_in_users(_rows(1, 10))


@settings(max_examples=25, deadline=None)
@given(
    entries=st.lists(st.tuples(st.integers(0, 3), st.integers(0, 39), st.floats(-2, 5)), min_size=4, max_size=30),
    loss=st.sampled_from(LOSSES),
)
def test_any_rows_fold_in_to_finite_representations_whatever_the_values(entries, loss):
    model = _MODELS[loss]
    rows, cols, values = (np.array(x) for x in zip(*entries, strict=True))
    matrix = sp.csr_matrix(sp.coo_matrix((values.astype(np.float32), (rows, cols)), shape=(4, 40)))
    if np.diff(matrix.indptr).min() == 0:
        with pytest.raises(ValueError, match="has no entries"):
            model.fold_in_users(matrix)
        return
    biases, embeddings = model.fold_in_users(matrix, epochs=3)
    assert np.isfinite(biases).all() and np.isfinite(embeddings).all()


_MODELS = {loss: LightFM(no_components=4, loss=loss, random_state=0).fit(_train(), epochs=2) for loss in LOSSES}


# -- accuracy on real data -----------------------------------------------------------------


def _movielens():
    from lightfm.datasets import fetch_movielens

    home = os.environ.get("LIGHTFM_DATA_HOME", str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    if not (Path(home) / "movielens100k" / "movielens.zip").exists():
        pytest.skip("MovieLens 100k is not available (set LIGHTFM_DATA_HOME)")
    return fetch_movielens(data_home=home, download_if_missing=False, min_rating=4.0)


def _auc(scores, given, test):
    aucs = []
    for r in range(scores.shape[0]):
        positives, known = test[r].indices, given[r].indices
        if not positives.size:
            continue
        mask = np.ones(scores.shape[1], dtype=bool)
        mask[known] = mask[positives] = False
        pos, neg = scores[r, positives], scores[r, mask]
        aucs.append((pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean())
    return float(np.mean(aucs))


def test_folded_in_movielens_users_rank_as_well_as_retrained_ones():
    data = _movielens()
    full = (data["train"] + data["test"]).tocsr()
    full.data[:] = 1.0
    rs = np.random.RandomState(0)
    held = np.sort(rs.choice(full.shape[0], full.shape[0] // 10, replace=False))
    rest = np.setdiff1d(np.arange(full.shape[0]), held)
    given_rows, test_rows = [], []
    for user in held:
        items = rs.permutation(full[user].indices)
        half = items.size // 2
        given_rows.append(items[:half])
        test_rows.append(items[half:])

    def matrix(lists):
        rows = np.repeat(np.arange(len(lists)), [len(x) for x in lists])
        return sp.csr_matrix(
            (np.ones(rows.size, np.float32), (rows, np.concatenate(lists))), shape=(held.size, full.shape[1])
        )

    given, test = matrix(given_rows), matrix(test_rows)
    settings_ = dict(no_components=32, loss="warp", random_state=0)
    retrained = LightFM(**settings_).fit(sp.vstack([full[rest], given]), epochs=30)
    user_b, user_e = retrained.get_user_representations()
    item_b, item_e = retrained.get_item_representations()
    auc_retrained = _auc(user_e[rest.size :] @ item_e.T + item_b, given, test)
    model = LightFM(**settings_).fit(full[rest], epochs=30)
    biases, embeddings = model.fold_in_users(given)
    item_b, item_e = model.get_item_representations()
    auc_folded = _auc(embeddings @ item_e.T + item_b, given, test)
    popularity = np.asarray(full[rest].sum(axis=0)).ravel()
    auc_popular = _auc(np.tile(popularity, (held.size, 1)).astype(np.float32), given, test)
    assert auc_folded >= auc_retrained - 0.01, (auc_folded, auc_retrained)
    assert auc_folded > auc_popular + 0.02, (auc_folded, auc_popular)


def test_folded_in_movielens_items_reach_their_users_without_flooding_everyone():
    data = _movielens()
    full = (data["train"] + data["test"]).tocsr()
    full.data[:] = 1.0
    n_users, n_items = full.shape
    rs = np.random.RandomState(0)
    counts = np.diff(full.tocsc().indptr)
    held = np.sort(rs.choice(np.flatnonzero(counts >= 2), n_items // 10, replace=False))
    rest = np.setdiff1d(np.arange(n_items), held)
    by_item = full.T.tocsr()
    given, test = sp.lil_matrix((held.size, n_users)), sp.lil_matrix((held.size, n_users))
    for row, item in enumerate(held):
        users = rs.permutation(by_item[item].indices)
        half = users.size // 2
        given[row, users[:half]] = 1.0
        test[row, users[half:]] = 1.0
    given, test = given.tocsr(), test.tocsr()
    model = LightFM(no_components=32, loss="warp", random_state=0).fit(full[:, rest], epochs=30)
    biases, embeddings = model.fold_in_items(given)
    user_b, user_e = model.get_user_representations()
    item_b, item_e = model.get_item_representations()
    scores = user_e @ np.vstack([item_e, embeddings]).T + np.concatenate([item_b, biases])
    seen = sp.hstack([full[:, rest], given.T]).tocsr()
    new_in_top, ranked = [], []
    test_t = test.T.tocsr()
    for user in range(n_users):
        row = scores[user].copy()
        row[seen[user].indices] = -np.inf
        top = np.argsort(-row)[:10]
        liked = rest.size + test_t[user].indices
        new_in_top.append(np.mean((top >= rest.size) & ~np.isin(top, liked)))
        if liked.size:
            others = np.isfinite(row)
            others[liked] = False
            ranked.append(np.mean(row[liked][:, None] > row[others][None, :]))
    # New items are 10% of the catalogue: stepped only up, they took 96% of every user's top 10.
    assert np.mean(new_in_top) < 0.12, np.mean(new_in_top)
    assert np.mean(ranked) > 0.9, np.mean(ranked)  # a retrain that saw the given halves: 0.895
