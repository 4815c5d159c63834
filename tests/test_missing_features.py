"""A model fit with feature matrices, served without them: never feature rows as items or users.

Every test here failed before the model kept what it was fit with: ``recommend``
and ``similar_items`` returned feature rows (``tag:...``) as items, ``predict``
scored feature rows silently, and a feature matrix one column short was
accepted. The oracles are NumPy products of the feature matrices and the
parameters, in float64.
"""

import pickle
import warnings

import numpy as np
import pytest
import scipy.sparse as sp

from lightfm import LightFM

N_USERS, N_ITEMS, N_ITEM_TAGS, N_USER_TAGS = 24, 14, 6, 3


def hybrid_data(seed=0):
    """Interactions and [identity | tags] feature matrices for both sides."""
    train = sp.random(N_USERS, N_ITEMS, density=0.3, format="coo", random_state=seed)
    train.data[:] = 1.0
    item_tags = sp.random(N_ITEMS, N_ITEM_TAGS, density=0.4, format="csr", random_state=seed + 1)
    user_tags = sp.random(N_USERS, N_USER_TAGS, density=0.5, format="csr", random_state=seed + 2)
    item_features = sp.hstack([sp.identity(N_ITEMS), item_tags], format="csr")
    user_features = sp.hstack([sp.identity(N_USERS), user_tags], format="csr")
    return train, user_features, item_features


def hybrid_model(seed=0, user_features=True):
    train, users, items = hybrid_data(seed)
    model = LightFM(loss="warp", no_components=4, random_state=seed)
    model.fit(train, user_features=users if user_features else None, item_features=items, epochs=3)
    return model, train, (users if user_features else None), items


def representations(model, side, features):
    """(embeddings, biases) of every row of ``features`` (identity if None), in float64."""
    embeddings = getattr(model, f"{side}_embeddings").astype(np.float64)
    biases = getattr(model, f"{side}_biases").astype(np.float64)
    if features is None:
        return embeddings, biases
    matrix = sp.csr_matrix(features, dtype=np.float64)
    return matrix @ embeddings, matrix @ biases


def brute_force_scores(model, user_features, item_features):
    user_repr, user_bias = representations(model, "user", user_features)
    item_repr, item_bias = representations(model, "item", item_features)
    return user_repr @ item_repr.T + user_bias[:, None] + item_bias[None, :]


def brute_force_cosine(model, side, features):
    vectors = representations(model, side, features)[0]
    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-30)
    return unit @ unit.T


def no_warnings():
    """A context in which any warning is an error."""
    context = warnings.catch_warnings()
    context.__enter__()
    warnings.simplefilter("error")
    return context


# -- serving: the features the model was fit with -----------------------------------------------


def test_recommend_without_features_ranks_items_not_feature_rows():
    model, _, users, items = hybrid_model()
    user_ids = np.arange(N_USERS)
    found, scores = model.recommend(user_ids, n=N_ITEMS + N_ITEM_TAGS)
    assert found.shape == (N_USERS, N_ITEMS), "n is capped at the items, not the item feature rows"
    assert found.max() < N_ITEMS
    expected = -np.sort(-brute_force_scores(model, users, items), axis=1)
    np.testing.assert_allclose(scores, expected, rtol=1e-4, atol=1e-5)
    explicit = model.recommend(user_ids, n=N_ITEMS, user_features=users, item_features=items)
    np.testing.assert_array_equal(found, explicit[0])
    np.testing.assert_array_equal(scores, explicit[1])


def test_recommend_without_features_accepts_the_training_interactions_as_exclude():
    model, train, _, _ = hybrid_model()
    found, _ = model.recommend(np.arange(N_USERS), n=3, exclude=train)
    seen = sp.csr_matrix(train)
    assert all(seen[user, found[user][found[user] >= 0]].nnz == 0 for user in range(N_USERS))


@pytest.mark.parametrize("side", ["item", "user"])
def test_similar_without_features_are_items_and_users(side):
    model, _, users, items = hybrid_model()
    features, n_rows = (items, N_ITEMS) if side == "item" else (users, N_USERS)
    similar = getattr(model, f"similar_{side}s")
    found, similarities = similar(np.arange(n_rows), n=n_rows + 10)
    assert found.shape == (n_rows, n_rows)
    assert found.max() < n_rows
    cosine = brute_force_cosine(model, side, features)
    np.fill_diagonal(cosine, -np.inf)
    expected = -np.sort(-cosine, axis=1)[:, : n_rows - 1]
    np.testing.assert_allclose(similarities[:, : n_rows - 1], expected, atol=1e-5)
    explicit = similar(np.arange(n_rows), n=n_rows, **{f"{side}_features": features})
    np.testing.assert_array_equal(found, explicit[0])


def test_a_side_fit_without_features_stays_identity():
    """Only the side fit with features is served with them: users here are their identity rows."""
    model, _, _, items = hybrid_model(user_features=False)
    found, scores = model.recommend(np.arange(N_USERS), n=N_ITEMS)
    expected = -np.sort(-brute_force_scores(model, None, items), axis=1)
    np.testing.assert_allclose(scores, expected, rtol=1e-4, atol=1e-5)
    assert model.similar_users(0, n=100)[0].shape == (N_USERS,)


def test_fit_partial_serves_with_its_latest_features():
    train, users, items = hybrid_data()
    model = LightFM(no_components=4, random_state=0).fit(train, user_features=users, item_features=items)
    reweighted = items.copy()
    reweighted.data = reweighted.data * 2.0
    model.fit_partial(train, user_features=users, item_features=reweighted)
    _, scores = model.recommend(np.arange(N_USERS), n=N_ITEMS)
    expected = -np.sort(-brute_force_scores(model, users, reweighted), axis=1)
    np.testing.assert_allclose(scores, expected, rtol=1e-4, atol=1e-5)


def test_a_failed_fit_keeps_the_features_of_the_model_it_keeps():
    model, train, users, items = hybrid_model()
    before = model.recommend(np.arange(N_USERS), n=5)
    broken = items.copy()
    broken.data[0] = np.nan
    with pytest.raises(ValueError, match="item_features contains NaN"):
        model.fit(train, user_features=users, item_features=broken)
    after = model.recommend(np.arange(N_USERS), n=5)
    np.testing.assert_array_equal(before[0], after[0])


def test_pickled_model_keeps_its_features():
    model, _, _, _ = hybrid_model()
    restored = pickle.loads(pickle.dumps(model))
    for query in (lambda m: m.recommend(np.arange(N_USERS), n=5), lambda m: m.similar_items(np.arange(N_ITEMS))):
        np.testing.assert_array_equal(query(model)[0], query(restored)[0])


def test_grown_feature_tables_need_the_grown_features():
    """After resize, the kept matrix no longer covers the embeddings: serving asks for features."""
    model, _, users, items = hybrid_model()
    model.resize(n_item_features=N_ITEMS + N_ITEM_TAGS + 2)
    for call in (lambda: model.recommend(0), lambda: model.similar_items(0)):
        with pytest.raises(ValueError, match=r"item_features.*22 columns"):
            call()
    wider = sp.hstack([items, sp.csr_matrix((N_ITEMS, 2))], format="csr")
    assert model.recommend(0, n=N_ITEMS, item_features=wider)[0].max() < N_ITEMS
    assert model.similar_users(0)[0].shape == (10,), "the user side still has its features"


# -- feature matrices of the wrong width -------------------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        lambda model, short: model.predict(0, np.arange(N_ITEMS), item_features=short),
        lambda model, short: model.recommend(0, item_features=short),
        lambda model, short: model.similar_items(0, item_features=short),
        lambda model, short: model.get_item_representations(short),
        lambda model, short: model.predict_rank(sp.csr_matrix((N_USERS, N_ITEMS)), item_features=short),
    ],
    ids=["predict", "recommend", "similar_items", "get_item_representations", "predict_rank"],
)
def test_a_feature_matrix_one_column_short_is_refused(call):
    model, _, _, items = hybrid_model(user_features=False)
    short = items[:, :-1]
    with pytest.raises(ValueError, match=r"Incorrect number of features in item_features: 19 columns.* 20 item"):
        call(model, short)


# -- predict and predict_rank: the original's identity default, with a warning --------------------


def test_predict_without_features_warns_once_and_scores_feature_rows():
    model, _, users, items = hybrid_model()
    with pytest.warns(UserWarning, match=r"fit with user_features and item_features.*identity"):
        first = model.predict(0, np.arange(N_ITEMS))
    context = no_warnings()
    try:
        again = model.predict(0, np.arange(N_ITEMS))
        # An explicit identity matrix asks for feature rows knowingly: no warning either.
        identity = sp.identity(N_ITEMS + N_ITEM_TAGS, format="csr")
        explicit = model.predict(
            0, np.arange(N_ITEMS), item_features=identity, user_features=sp.identity(N_USERS + N_USER_TAGS)
        )
        with_features = model.predict(0, np.arange(N_ITEMS), user_features=users, item_features=items)
    finally:
        context.__exit__(None, None, None)
    np.testing.assert_array_equal(first, again)
    np.testing.assert_array_equal(first, explicit)
    np.testing.assert_allclose(first, brute_force_scores(model, None, None)[0, :N_ITEMS], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(with_features, brute_force_scores(model, users, items)[0], rtol=1e-5, atol=1e-6)


def test_a_model_fit_without_features_never_warns():
    model = LightFM(random_state=0).fit(hybrid_data()[0])
    context = no_warnings()
    try:
        model.predict(0, np.arange(N_ITEMS))
        model.predict_rank(sp.csr_matrix(hybrid_data()[0]))
        model.get_item_representations()
    finally:
        context.__exit__(None, None, None)


def test_predict_rank_without_features_warns_when_the_widths_happen_to_match():
    """Square item features (as many columns as items) pass the width check: ranked as feature rows."""
    train, _, _ = hybrid_data()
    rs = np.random.RandomState(0)
    square = sp.csr_matrix(rs.rand(N_ITEMS, N_ITEMS) < 0.3, dtype=np.float32) + sp.identity(N_ITEMS, format="csr")
    model = LightFM(no_components=4, random_state=0).fit(train, item_features=square)
    with pytest.warns(UserWarning, match="fit with item_features"):
        ranks = model.predict_rank(sp.csr_matrix(train))
    assert ranks.shape == train.shape
    # The metric functions, which rank without calling predict_rank, warn too.
    from lightfm.evaluation import auc_score

    fresh = LightFM(no_components=4, random_state=0).fit(train, item_features=square)
    with pytest.warns(UserWarning, match="the metric was called without them"):
        auc_score(fresh, sp.csr_matrix(train))


def test_representations_without_features_are_per_feature_and_warn():
    model, _, _, items = hybrid_model(user_features=False)
    with pytest.warns(UserWarning, match="item_features"):
        biases, embeddings = model.get_item_representations()
    assert embeddings.shape == (N_ITEMS + N_ITEM_TAGS, 4)
    biases, embeddings = model.get_item_representations(items)
    np.testing.assert_allclose(embeddings, representations(model, "item", items)[0], rtol=1e-5, atol=1e-6)


# -- divergence: parameters whose scores overflow float32 -----------------------------------------


def test_scores_beyond_float32_are_divergence():
    """A huge learning rate may end with finite parameters whose products are infinite."""
    diverged = 0
    for seed in range(6):
        for loss in ("logistic", "warp", "bpr"):
            interactions = sp.random(5, 4, density=0.5, random_state=seed, format="coo")
            model = LightFM(learning_rate=1e10, loss=loss, random_state=seed)
            try:
                model.fit(interactions)
            except ValueError as error:
                assert "Not all estimated parameters are finite" in str(error)
                assert model.item_embeddings is None, "a failed fit keeps the previous (here: no) model"
                diverged += 1
                continue
            users, items = np.divmod(np.arange(20), 4)
            assert np.all(np.isfinite(model.predict(users, items)))
    assert diverged > 0


def test_the_divergence_bound_leaves_trained_models_alone():
    model, _, users, items = hybrid_model()
    model.fit_partial(hybrid_data()[0], user_features=users, item_features=items, epochs=20)
    model.item_embeddings[0, 0] = 1e6  # large, but its scores are far from float32's limit
    model.fit_partial(hybrid_data()[0], user_features=users, item_features=items, epochs=1)
