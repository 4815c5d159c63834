"""Behaviour of the LightFM estimator."""

import pickle
import subprocess
import sys

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lightfm import LightFM, ParameterError
from lightfm._state import PARAMETER_NAMES as _PARAMETER_NAMES
from lightfm.evaluation import auc_score

from .conftest import checkerboard, zero_model
from .oracles import brute_force_ranks

LOSSES = ["logistic", "bpr", "warp", "warp-kos"]
SCHEDULES = ["adagrad", "adadelta"]


# -- hyperparameters -------------------------------------------------------------


@pytest.mark.parametrize(
    "name, value",
    [
        ("loss", "hinge"),
        ("learning_schedule", "sgd"),
        ("no_components", 0),
        ("no_components", 2.5),
        ("learning_rate", 0.0),
        ("learning_rate", -1.0),
        ("item_alpha", -0.1),
        ("user_alpha", -1e-9),
        ("k", 0),
        ("n", 0),
        ("max_sampled", 0),
        ("rho", 0.0),
        ("rho", 1.0),
        ("epsilon", -1e-3),
        ("random_state", "seed"),
    ],
)
def test_invalid_hyperparameters_are_refused(name, value):
    with pytest.raises(ParameterError, match=name) as info:
        LightFM(**{name: value})
    assert isinstance(info.value, ValueError) and isinstance(info.value, AssertionError)
    with pytest.raises(ParameterError, match=name):
        LightFM().set_params(**{name: value})


def test_error_class_is_caught_by_original_style_handlers():
    with pytest.raises(AssertionError):
        LightFM(no_components=-1)
    with pytest.raises(ValueError):
        LightFM(max_sampled=0)


def test_device_is_checked_and_defaults_to_cpu():
    assert LightFM().device == "cpu"
    with pytest.raises(ValueError, match="device"):
        LightFM(device="gpu")
    with pytest.raises(ValueError, match="device"):
        LightFM().set_params(device=0)


def test_get_set_params_round_trip():
    model = LightFM(no_components=7, loss="warp", random_state=3)
    params = model.get_params()
    assert params["no_components"] == 7 and params["loss"] == "warp"
    assert set(params) == {
        "no_components", "k", "n", "learning_schedule", "loss", "learning_rate", "rho",
        "epsilon", "item_alpha", "user_alpha", "max_sampled", "random_state", "device",
    }  # fmt: skip
    # (the original's twelve, plus device)
    assert model.set_params(learning_rate=0.1) is model and model.learning_rate == 0.1
    with pytest.raises(ValueError, match="Invalid parameter"):
        model.set_params(nonsense=1)


def test_direct_attribute_assignment_is_not_revalidated(board):
    train, _ = board
    model = LightFM(loss="warp", random_state=0).fit(train, epochs=0)
    before = model.item_embeddings.copy()
    model.max_sampled = 0  # a WARP epoch becomes a no-op, as in the original
    model.fit_partial(train, epochs=1)
    np.testing.assert_array_equal(model.item_embeddings, before)


def test_sklearn_clone_and_search(board):
    from sklearn.base import clone
    from sklearn.model_selection import RandomizedSearchCV

    model = LightFM(no_components=5, loss="bpr", random_state=1)
    cloned = clone(model)
    assert cloned.get_params()["no_components"] == 5 and cloned is not model

    train, test = board

    def scorer(estimator, X, y=None):
        return auc_score(estimator, test, train).mean()

    search = RandomizedSearchCV(
        LightFM(random_state=0),
        {"no_components": [2, 4], "loss": ["warp", "bpr"]},
        n_iter=2,
        scoring=scorer,
        cv=[(np.arange(train.shape[0]), np.arange(train.shape[0]))],
        random_state=0,
    )
    search.fit(train, epochs=10)  # fit parameters pass through to LightFM.fit
    assert search.best_score_ > 0.7


def test_pickle_round_trip(board):
    train, _ = board
    model = LightFM(no_components=4, loss="warp", random_state=0).fit(train, epochs=2)
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(restored.predict(0, np.arange(5)), model.predict(0, np.arange(5)))


# -- state -----------------------------------------------------------------------


@pytest.mark.parametrize("schedule, start", [("adagrad", 1.0), ("adadelta", 0.0)])
def test_fit_zero_epochs_gives_fresh_model(board, schedule, start):
    train, _ = board
    model = LightFM(no_components=6, learning_schedule=schedule, random_state=0).fit(train, epochs=0)
    assert model.user_embeddings.shape == (train.shape[0], 6) and model.item_embeddings.shape == (train.shape[1], 6)
    for name in ("item_embeddings", "item_biases", "user_embedding_gradients", "item_bias_momentum"):
        assert getattr(model, name).dtype == np.float32
    assert np.all(np.abs(model.user_embeddings) <= 0.5 / 6)
    assert np.all(model.user_biases == 0) and np.all(model.item_embedding_momentum == 0)
    assert np.all(model.item_embedding_gradients == start) and np.all(model.user_bias_gradients == start)


def test_fit_resets_but_fit_partial_resumes(board):
    train, _ = board
    model = LightFM(random_state=0).fit(train, epochs=1)
    n_before = model.user_embeddings.shape[0]
    bigger = sp.coo_matrix((np.ones(1), ([n_before + 4], [0])), shape=(n_before + 5, train.shape[1]))
    with pytest.raises(ValueError, match="user_features"):
        model.fit_partial(bigger)
    model.fit(bigger)
    assert model.user_embeddings.shape[0] == n_before + 5


@pytest.mark.bounds_checked
@pytest.mark.parametrize("loss", LOSSES)
def test_single_thread_runs_are_reproducible(board, loss):
    train, _ = board
    a = LightFM(loss=loss, random_state=42).fit(train, epochs=3)
    b = LightFM(loss=loss, random_state=42).fit(train, epochs=3)
    for name in ("user_embeddings", "item_embeddings", "user_biases", "item_biases", "item_embedding_gradients"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    c = LightFM(loss=loss, random_state=43).fit(train, epochs=3)
    assert not np.array_equal(a.item_embeddings, c.item_embeddings)


# -- learning --------------------------------------------------------------------


@pytest.mark.parametrize("schedule", SCHEDULES)
@pytest.mark.parametrize("loss", LOSSES)
def test_every_loss_and_schedule_learns(loss, schedule):
    train, test = checkerboard(n_users=80, n_items=60, seed=1, negatives=loss == "logistic")
    model = LightFM(no_components=8, loss=loss, learning_schedule=schedule, random_state=0)
    model.fit(train, epochs=15)
    assert auc_score(model, test, train).mean() > 0.7


@pytest.mark.parametrize("loss", ["logistic", "bpr", "warp"])
def test_multithreaded_training_learns(loss):
    train, test = checkerboard(negatives=loss == "logistic")
    model = LightFM(no_components=8, loss=loss, random_state=0).fit(train, epochs=15, num_threads=2)
    assert auc_score(model, test, train, num_threads=2).mean() > 0.7


def test_regularisation_shrinks_parameters(board):
    train, _ = board
    plain = LightFM(loss="warp", random_state=0).fit(train, epochs=10)
    strong = LightFM(loss="warp", item_alpha=0.05, user_alpha=0.05, random_state=0).fit(train, epochs=10)
    assert np.linalg.norm(strong.item_embeddings) < 0.8 * np.linalg.norm(plain.item_embeddings)
    assert np.abs(strong.item_biases).sum() < np.abs(plain.item_biases).sum()
    assert np.all(np.isfinite(strong.user_embeddings))


def test_logistic_negatives_are_learned():
    # Users 0-9 like item 0 and dislike item 1 (explicit -1); the model must order them.
    rows = np.repeat(np.arange(10), 2)
    cols = np.tile([0, 1], 10)
    data = np.tile([1.0, -1.0], 10)
    interactions = sp.coo_matrix((data, (rows, cols)), shape=(10, 2))
    model = LightFM(no_components=2, random_state=0).fit(interactions, epochs=30)
    assert np.all(
        model.predict(np.arange(10), np.zeros(10, dtype=int)) > model.predict(np.arange(10), np.ones(10, dtype=int))
    )


def test_sample_weight_changes_training(board):
    train, _ = board
    weights = train.copy()
    weights.data = np.linspace(0.1, 2.0, weights.nnz).astype(np.float32)
    plain = LightFM(loss="warp", random_state=0).fit(train, epochs=2)
    weighted = LightFM(loss="warp", random_state=0).fit(train, sample_weight=weights, epochs=2)
    assert not np.allclose(plain.item_embeddings, weighted.item_embeddings)
    ones = train.copy()
    ones.data[:] = 1
    unit = LightFM(loss="warp", random_state=0).fit(train, sample_weight=ones, epochs=2)
    np.testing.assert_array_equal(unit.item_embeddings, plain.item_embeddings)
    zero = train.copy()
    zero.data[:] = 0
    frozen = LightFM(loss="bpr", random_state=0).fit(train, epochs=0)
    before = frozen.item_embeddings.copy()
    frozen.fit_partial(train, sample_weight=zero)
    np.testing.assert_array_equal(frozen.item_embeddings, before)


def test_sample_weight_validation(board):
    train, _ = board
    with pytest.raises(NotImplementedError, match="warp-kos"):
        LightFM(loss="warp-kos").fit(train, sample_weight=train)
    shuffled = sp.coo_matrix((train.data, (train.row[::-1], train.col[::-1])), shape=train.shape)
    with pytest.raises(ValueError, match="same order"):
        LightFM().fit(train, sample_weight=shuffled)
    with pytest.raises(ValueError, match="shape"):
        LightFM().fit(train, sample_weight=sp.coo_matrix((3, 3)))
    negative = train.copy()
    negative.data = -negative.data
    with pytest.raises(ValueError, match="negative"):
        LightFM().fit(train, sample_weight=negative)


@pytest.mark.bounds_checked
@pytest.mark.parametrize("loss", ["bpr", "warp", "warp-kos"])
def test_ranking_losses_never_draw_a_users_own_items_as_negatives(board, loss):
    """Every stored entry, -1 and 0 included, is the user's own (as in the original): user 0, who has
    an entry for every item, has no negative to train on, so its parameters never move."""
    train, _ = board
    dense = train.toarray()
    stored = dense != 0
    stored[:2] = True  # users 0 and 1 have an entry for every item:
    dense[0][dense[0] == 0] = -1  # user 0 -1 where it had none, user 1 explicit zeros
    rows, cols = np.nonzero(stored)
    matrix = sp.coo_matrix((dense[rows, cols], (rows, cols)), shape=dense.shape)
    model = LightFM(loss=loss, random_state=0).fit(matrix, epochs=0)
    before = model.user_embeddings.copy()
    model.fit_partial(matrix, epochs=3)
    for user in (0, 1):
        np.testing.assert_array_equal(model.user_embeddings[user], before[user])
        assert model.user_bias_gradients[user] == 1.0
    assert not np.array_equal(model.user_embeddings[2:], before[2:])


# -- features --------------------------------------------------------------------


def test_explicit_identity_features_match_implicit(board):
    train, _ = board
    a = LightFM(loss="warp", random_state=0).fit(train, epochs=3)
    b = LightFM(loss="warp", random_state=0).fit(
        train,
        user_features=sp.identity(train.shape[0], format="csr"),
        item_features=sp.identity(train.shape[1]),
        epochs=3,
    )
    np.testing.assert_array_equal(a.item_embeddings, b.item_embeddings)


@pytest.mark.bounds_checked
@pytest.mark.parametrize("loss", LOSSES)
def test_feature_model_learns_and_predicts_consistently(loss):
    train, test = checkerboard(n_users=80, n_items=60, seed=2)
    item_group = sp.csr_matrix((np.ones(60), (np.arange(60), np.arange(60) % 2)), shape=(60, 2))
    item_features = sp.hstack([sp.identity(60), item_group], format="csr")
    user_features = sp.hstack(
        [sp.identity(80), sp.csr_matrix((np.ones(80), (np.arange(80), np.arange(80) % 2)))], format="csr"
    )
    model = LightFM(no_components=6, loss=loss, random_state=0)
    model.fit(train, user_features=user_features, item_features=item_features, epochs=10)
    assert model.item_embeddings.shape == (62, 6) and model.user_embeddings.shape == (82, 6)
    kwargs = {"user_features": user_features, "item_features": item_features}
    assert auc_score(model, test, train, **kwargs).mean() > 0.8
    item_biases, item_repr = model.get_item_representations(item_features)
    user_biases, user_repr = model.get_user_representations(user_features)
    dense_items = item_features.toarray()
    np.testing.assert_allclose(item_repr, dense_items @ model.item_embeddings, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(item_biases, dense_items @ model.item_biases, rtol=1e-5, atol=1e-6)
    users = np.repeat(np.arange(80), 60)
    items = np.tile(np.arange(60), 80)
    expected = (user_repr @ item_repr.T + user_biases[:, None] + item_biases[None, :]).ravel()
    np.testing.assert_allclose(model.predict(users, items, **kwargs), expected, rtol=1e-4, atol=1e-5)


def test_feature_rows_and_columns_are_checked(board):
    train, _ = board
    with pytest.raises(ValueError, match="rows"):
        LightFM().fit(train, item_features=sp.identity(train.shape[1] - 1, format="csr"))
    model = LightFM().fit(train, item_features=sp.identity(train.shape[1], format="csr"))
    with pytest.raises(ValueError, match="item_features"):
        model.fit_partial(train, item_features=sp.random(train.shape[1], train.shape[1] + 3, density=0.1, format="csr"))


# -- prediction ------------------------------------------------------------------


@pytest.mark.bounds_checked
def test_predict_matches_brute_force(board):
    train, _ = board
    model = LightFM(no_components=5, loss="bpr", random_state=0).fit(train, epochs=3)
    users = np.array([0, 3, 3, 59])
    items = np.array([1, 0, 39, 7])
    expected = (model.user_embeddings[users] * model.item_embeddings[items]).sum(1)
    expected += model.user_biases[users] + model.item_biases[items]
    np.testing.assert_allclose(model.predict(users, items), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.predict(3, [0, 39]), expected[1:3], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.predict(np.int64(3), np.array([0, 39])), expected[1:3], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.predict(users, items, num_threads=2), expected, rtol=1e-5, atol=1e-6)
    biases, embeddings = model.get_user_representations()
    np.testing.assert_array_equal(embeddings, model.user_embeddings)
    embeddings[:] = 0  # a copy: the model is untouched
    assert np.any(model.user_embeddings != 0)


@pytest.mark.bounds_checked
def test_predict_errors(board):
    train, _ = board
    with pytest.raises(ValueError, match="not fitted"):
        LightFM().predict(0, [0])
    model = LightFM(random_state=0).fit(train)
    with pytest.raises(ValueError, match="negative"):
        model.predict(-1, [0])
    with pytest.raises(ValueError, match="item id 40"):
        model.predict(0, [40])
    with pytest.raises(ValueError, match="user id"):
        model.predict([60], [0])
    with pytest.raises(ValueError, match="number of user ids"):
        model.predict([0, 1], [0, 1, 2])
    with pytest.raises(TypeError, match="integer"):
        model.predict(0, [0.5])
    with pytest.raises(ValueError, match="num_threads"):
        model.predict(0, [0], num_threads=0)


@pytest.mark.bounds_checked
@pytest.mark.parametrize("n_test_per_user", [3, 150])  # both the counting and the binning paths
def test_predict_rank_matches_brute_force(n_test_per_user):
    rs = np.random.RandomState(0)
    n_users, n_items = 15, 300
    train = sp.csr_matrix((rs.rand(n_users, n_items) < 0.1).astype(np.float32))
    test_dense = (rs.rand(n_users, n_items) < n_test_per_user / n_items) & (train.toarray() == 0)
    test_dense[3] = False  # a user without test interactions
    test = sp.csr_matrix(test_dense.astype(np.float32))
    model = LightFM(no_components=4, loss="warp", random_state=0).fit(train, epochs=2)
    scores = model.user_embeddings @ model.item_embeddings.T + model.user_biases[:, None] + model.item_biases[None, :]
    ranks = model.predict_rank(test, train)
    assert ranks.dtype == np.float32 and ranks.shape == test.shape
    np.testing.assert_array_equal(ranks.indices, test.indices)
    np.testing.assert_array_equal(ranks.data, brute_force_ranks(scores, test, train))
    np.testing.assert_array_equal(model.predict_rank(test).data, brute_force_ranks(scores, test, None))


@pytest.mark.bounds_checked
def test_predict_rank_ties_are_pessimistic():
    model = zero_model(2, 5)
    test = sp.csr_matrix(np.array([[0, 1, 0, 1, 0], [1, 0, 0, 0, 0]], dtype=np.float32))
    train = sp.csr_matrix(np.array([[1, 0, 0, 0, 0], [0, 0, 0, 0, 0]], dtype=np.float32))
    # Values the original LightFM gives for this case.
    np.testing.assert_array_equal(model.predict_rank(test, train).toarray(), [[0, 3, 0, 3, 0], [4, 0, 0, 0, 0]])


@pytest.mark.bounds_checked
def test_predict_rank_ties_with_many_test_items():
    model = zero_model(1, 200)
    test = sp.csr_matrix((np.ones(120), (np.zeros(120, int), np.arange(120))), shape=(1, 200))
    train = sp.csr_matrix((np.ones(10), (np.zeros(10, int), np.arange(150, 160))), shape=(1, 200))
    # Every other non-train item ties: 190 candidates, so each rank is 189.
    np.testing.assert_array_equal(model.predict_rank(test, train).data, np.full(120, 189.0))


@pytest.mark.bounds_checked
def test_predict_rank_intersections(board):
    train, _ = board
    model = LightFM(random_state=0).fit(train)
    with pytest.raises(ValueError, match="share"):
        model.predict_rank(train, train)
    ranks = model.predict_rank(train, train, check_intersections=False)
    assert ranks.nnz == train.nnz


# -- bad input -------------------------------------------------------------------


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_input_is_refused(board, bad):
    train, _ = board
    broken = train.copy()
    broken.data[0] = bad
    with pytest.raises(ValueError, match="interactions"):
        LightFM().fit(broken)
    features = sp.identity(train.shape[1], format="csr") * 0.5
    features.data[0] = bad
    with pytest.raises(ValueError, match="item_features"):
        LightFM().fit(train, item_features=features)
    weights = train.copy()
    weights.data[1] = bad
    with pytest.raises(ValueError, match="sample_weight"):
        LightFM().fit(train, sample_weight=weights)


def test_divergence_is_reported(board):
    train, _ = board
    features = sp.identity(train.shape[1], format="csr") * 1e30
    with pytest.raises(ValueError, match="diverged"):
        LightFM(loss="logistic", learning_rate=10.0).fit(train, item_features=features, epochs=3)


def test_mutated_coo_indices_are_caught(board):
    train, _ = board
    broken = train.copy()
    broken.col = broken.col.copy()
    broken.col[0] = train.shape[1] + 100
    with pytest.raises(ValueError, match="column index"):
        LightFM().fit(broken)


def test_inconsistent_parameter_arrays_are_caught(board):
    train, _ = board
    model = LightFM(random_state=0).fit(train)
    model.item_embedding_gradients = model.item_embedding_gradients[:-1]
    with pytest.raises(ValueError, match="item_embedding_gradients"):
        model.fit_partial(train)
    model = LightFM(no_components=3, random_state=0).fit(train)
    model.no_components = 5
    with pytest.raises(ValueError, match="no_components"):
        model.fit_partial(train)


def test_verbose_shows_progress(board, capsys):
    train, _ = board
    LightFM(random_state=0).fit(train, epochs=2, verbose=True)
    assert "Epoch" in capsys.readouterr().err


def test_input_formats_and_dtypes(board):
    train, _ = board
    reference = LightFM(loss="warp", random_state=0).fit(train, epochs=2).item_embeddings
    # Formats whose COO order is row-major give the same examples in the same order.
    for converted in (train.tocsr(), train.tolil(), train.astype(np.int64), train.astype(np.float64), train.toarray()):
        embeddings = LightFM(loss="warp", random_state=0).fit(converted, epochs=2).item_embeddings
        np.testing.assert_array_equal(embeddings, reference)
    assert np.all(np.isfinite(LightFM(loss="warp", random_state=0).fit(train.tocsc()).item_embeddings))
    with pytest.raises(TypeError, match="sparse"):
        LightFM().fit([[1, 0]])
    with pytest.raises(TypeError, match="real numbers"):
        LightFM().fit(sp.coo_matrix(np.ones((2, 2), dtype=np.complex64)))


@pytest.mark.bounds_checked
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n_users=st.integers(1, 6),
    n_items=st.integers(1, 6),
    data=st.data(),
    loss=st.sampled_from(LOSSES),
    schedule=st.sampled_from(SCHEDULES),
)
def test_any_small_matrix_trains_without_crashing(n_users, n_items, data, loss, schedule):
    dense = np.array(
        data.draw(
            st.lists(
                st.lists(st.sampled_from([0.0, 0.0, 1.0, 2.0, -1.0]), min_size=n_items, max_size=n_items),
                min_size=n_users,
                max_size=n_users,
            )
        )
    )
    interactions = sp.coo_matrix(dense)
    model = LightFM(no_components=3, loss=loss, learning_schedule=schedule, random_state=0)
    model.fit(interactions, epochs=2, num_threads=data.draw(st.integers(1, 3)))
    scores = model.predict(np.repeat(np.arange(n_users), n_items), np.tile(np.arange(n_items), n_users))
    assert np.all(np.isfinite(scores))
    ranks = model.predict_rank(interactions)
    assert np.all((ranks.data >= 0) & (ranks.data < n_items))


@settings(max_examples=40, deadline=None)
@given(user=st.integers(-(2**40), 2**40), item=st.integers(-(2**40), 2**40))
def test_out_of_range_ids_raise_not_crash(user, item):
    model = _tiny_model()
    if 0 <= user < 4 and 0 <= item < 3:
        assert np.isfinite(model.predict(user, [item])[0])
    else:
        with pytest.raises(ValueError):
            model.predict(user, [item])


_TINY = []


def _tiny_model():
    if not _TINY:
        _TINY.append(LightFM(random_state=0).fit(sp.coo_matrix(np.ones((4, 3)))))
    return _TINY[0]


# -- growing a trained model ---------------------------------------------------------


@pytest.mark.bounds_checked
@pytest.mark.parametrize("schedule", SCHEDULES)
def test_resize_keeps_old_rows_and_initialises_new_ones(schedule):
    train, _ = checkerboard(n_users=20, n_items=10)
    model = LightFM(no_components=5, learning_schedule=schedule, random_state=0).fit(train, epochs=2)
    before = {name: getattr(model, name).copy() for name in _PARAMETER_NAMES}
    users, items = np.nonzero(np.ones(train.shape))
    predictions = model.predict(users, items)
    assert model.resize(n_user_features=25) is model
    model.resize(n_item_features=13)
    np.testing.assert_array_equal(model.predict(users, items), predictions)
    start = 1.0 if schedule == "adagrad" else 0.0
    for side, old, new in (("user", 20, 25), ("item", 10, 13)):
        for name in ("embeddings", "embedding_gradients", "embedding_momentum", "biases", "bias_gradients"):
            array = getattr(model, f"{side}_{name}")
            assert array.shape[0] == new and array.dtype == np.float32
            np.testing.assert_array_equal(array[:old], before[f"{side}_{name}"])
        fresh = getattr(model, f"{side}_embeddings")[old:]
        assert np.all(np.abs(fresh) <= 0.5 / 5) and np.unique(fresh).size == fresh.size
        assert np.all(getattr(model, f"{side}_biases")[old:] == 0)
        assert np.all(getattr(model, f"{side}_embedding_gradients")[old:] == start)
        assert np.all(getattr(model, f"{side}_bias_momentum")[old:] == 0)


@pytest.mark.bounds_checked
def test_resize_errors():
    with pytest.raises(ValueError, match="not fitted"):
        LightFM().resize(n_user_features=3)
    model = LightFM(random_state=0).fit(sp.coo_matrix(np.eye(4)))
    with pytest.raises(ValueError, match="n_item_features must be an integer >= the current 4"):
        model.resize(n_item_features=3)
    with pytest.raises(ValueError, match="n_user_features"):
        model.resize(n_user_features=5.5)
    # Without resize, wider feature matrices are refused as in the original.
    with pytest.raises(ValueError, match="Incorrect number of features in user_features"):
        model.fit_partial(sp.coo_matrix(np.eye(5, 4)))


def test_new_users_join_a_trained_model_through_dataset_fit_partial():
    """Dataset.fit_partial + resize + fit_partial: old predictions unchanged, new users learnt."""
    from lightfm.data import Dataset

    rs = np.random.RandomState(0)
    liked = {g: [i for i in range(40) if i % 2 == g] for g in (0, 1)}

    def interactions_for(users):
        return [(u, f"item{i}") for u in users for i in liked[u_group(u)] if rs.rand() < 0.6]

    def u_group(u):
        return int(u.split("-")[1]) % 2

    old_users = [f"user-{k}" for k in range(40)]
    dataset = Dataset()
    dataset.fit(old_users, [f"item{i}" for i in range(40)], user_features=["even", "odd"])
    features = lambda users: [(u, ["even" if u_group(u) == 0 else "odd"]) for u in users]  # noqa: E731
    interactions, _ = dataset.build_interactions(interactions_for(old_users))
    user_features = dataset.build_user_features(features(old_users))
    item_features = dataset.build_item_features([])
    model = LightFM(loss="warp", no_components=8, random_state=0)
    model.fit(interactions, user_features=user_features, item_features=item_features, epochs=10)
    old_predictions = model.predict(np.arange(40), np.arange(40), item_features, user_features)

    new_users = [f"user-{k}" for k in range(40, 50)]
    dataset.fit_partial(users=new_users)
    model.resize(*dataset.model_dimensions())
    user_features = dataset.build_user_features(features(old_users + new_users))
    assert user_features.shape == (50, model.user_embeddings.shape[0])
    np.testing.assert_allclose(
        model.predict(np.arange(40), np.arange(40), item_features, user_features), old_predictions, rtol=1e-6
    )
    interactions, _ = dataset.build_interactions(interactions_for(old_users + new_users))
    model.fit_partial(interactions, user_features=user_features, item_features=item_features, epochs=10)
    items, _ = model.recommend(np.arange(40, 50), n=5, user_features=user_features, item_features=item_features)
    groups = np.array([u_group(u) for u in new_users])
    assert np.mean(items % 2 == groups[:, None]) > 0.9


def test_parameters_are_cache_line_aligned_for_training(board):
    """The kernels read whole rows: fresh, unpickled and resized parameters start on a cache line."""
    train, _ = board
    n_users = train.shape[0]
    model = LightFM(no_components=32, loss="bpr", random_state=0).fit(train)
    restored = pickle.loads(pickle.dumps(model)).resize(n_user_features=n_users + 3)
    restored.fit_partial(train, user_features=sp.identity(n_users + 3, format="csr")[:n_users])
    for fitted in (model, restored):
        for name in _PARAMETER_NAMES:
            assert getattr(fitted, name).ctypes.data % 64 == 0, name


def test_a_failed_fit_keeps_the_previous_model(board):
    """A deliberate difference: the original resets the model before validating fit's input."""
    train, _ = board
    model = LightFM(loss="warp", random_state=0).fit(train, epochs=2)
    before = {name: getattr(model, name).copy() for name in ("user_embeddings", "item_biases")}
    random_state = model.random_state.get_state()[1].copy()
    with pytest.raises(ValueError):
        model.fit(train, sample_weight=np.zeros(3))
    with pytest.raises(ValueError, match="diverged"):
        model.set_params(learning_rate=1e7).fit(train, epochs=3)
    for name, array in before.items():
        np.testing.assert_array_equal(getattr(model, name), array)
    np.testing.assert_array_equal(model.random_state.get_state()[1], random_state)


@pytest.mark.skipif(
    np.lib.NumpyVersion(np.__version__) < "2.0.0",
    reason="the 0.1.0 file was pickled under NumPy 2 with its generator object, which NumPy 1.x cannot read",
)
def test_pickles_of_version_0_1_0_load():
    """Models pickled before the state object (arrays as attributes, as the original's) still load."""
    from pathlib import Path

    data = Path(__file__).parent / "data"
    with open(data / "model_0.1.0_pickle.pkl", "rb") as file:
        model = pickle.load(file)
    expected = np.load(data / "model_0.1.0_scores.npy")
    np.testing.assert_array_equal(model.predict(np.repeat(np.arange(4), 4), np.tile(np.arange(4), 4)), expected)
    assert model.item_embeddings.shape == (4, 3) and model.user_bias_gradients.shape == (4,)
    model.fit_partial(sp.coo_matrix(np.eye(4, dtype=np.float32)))
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(restored.item_embeddings, model.item_embeddings)


def test_pickles_hold_no_numpy_generator_object():
    """A pickled RandomState names a NumPy-version-specific class (a model pickled under NumPy 2 did not
    load under NumPy 1.x): pickles hold the generator's state, and training goes on from it unchanged."""
    train = sp.random(30, 20, density=0.3, format="coo", random_state=0)
    for seed in (7, np.random.RandomState(7)):
        model = LightFM(no_components=4, random_state=seed).fit(train, epochs=2)
        payload = pickle.dumps(model)
        assert b"numpy.random" not in payload and b"_mt19937" not in payload and b"_pickle" not in payload
        restored = pickle.loads(payload)
        assert isinstance(restored.random_state, np.random.RandomState)
        model.fit_partial(train, epochs=1)
        restored.fit_partial(train, epochs=1)
        np.testing.assert_array_equal(restored.item_embeddings, model.item_embeddings)


def test_import_does_not_load_numba():
    """Numba (about 60 MB and 0.5 s) loads at the first training or scoring call, not at import:
    the CLI's --help, Dataset building and unpickling stay light."""
    code = (
        "import sys, lightfm, lightfm.data, lightfm.evaluation, lightfm.cross_validation, lightfm.datasets;"
        "import lightfm.cli;"
        "assert 'numba' not in sys.modules, sorted(m for m in sys.modules if m.startswith('numba'))[:5]"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


# -- the original's extension points: _initialize and the seed ----------------------------------


def test_initial_random_state_is_the_seed_as_given():
    """RecTools reads it to write model configs; random_state itself becomes a generator."""
    assert LightFM(random_state=5).initial_random_state == 5
    assert LightFM().initial_random_state is None
    generator = np.random.RandomState(1)
    assert LightFM(random_state=generator).initial_random_state is generator
    model = LightFM(random_state=5)
    assert "initial_random_state" not in model.get_params()
    assert model.set_params(random_state=9).initial_random_state == 9
    assert model.set_params(loss="warp").initial_random_state == 9
    assert isinstance(model.random_state, np.random.RandomState)
    assert pickle.loads(pickle.dumps(model)).initial_random_state == 9


@pytest.mark.skipif(
    np.lib.NumpyVersion(np.__version__) < "1.25.0",
    reason="this pickle predates pickles holding the generator's state: it holds NumPy 2's RandomState, "
    "which NumPy < 1.25 cannot unpickle (its class, not its name, names the bit generator)",
)
def test_pickles_without_a_seed_load_with_none():
    from pathlib import Path

    with open(Path(__file__).parent / "data" / "model_0.1.0_pickle.pkl", "rb") as file:
        assert pickle.load(file).initial_random_state is None


@pytest.mark.parametrize("schedule, start", [("adagrad", 1.0), ("adadelta", 0.0)])
def test_initialize_draws_items_then_users_from_random_state(schedule, start):
    """The original's order of draws: item embeddings, then user embeddings, from one generator."""
    train = sp.random(7, 5, density=0.5, format="coo", random_state=0)
    item_features = sp.hstack([sp.identity(5), sp.random(5, 3, density=0.5, random_state=1)]).tocsr()
    model = LightFM(no_components=4, learning_schedule=schedule, random_state=11)
    model.fit(train, item_features=item_features, epochs=0)
    draws = np.random.RandomState(11)
    expected_items = ((draws.rand(8, 4) - 0.5) / 4).astype(np.float32)
    expected_users = ((draws.rand(7, 4) - 0.5) / 4).astype(np.float32)
    np.testing.assert_array_equal(model.item_embeddings, expected_items)
    np.testing.assert_array_equal(model.user_embeddings, expected_users)
    for side, n in (("item", 8), ("user", 7)):
        assert np.all(getattr(model, f"{side}_biases") == 0) and getattr(model, f"{side}_biases").shape == (n,)
        assert np.all(getattr(model, f"{side}_embedding_gradients") == start)
        assert np.all(getattr(model, f"{side}_bias_gradients") == start)
        assert np.all(getattr(model, f"{side}_embedding_momentum") == 0)
    np.testing.assert_array_equal(model.random_state.get_state()[1], draws.get_state()[1])


class Recording(LightFM):
    """Records its _initialize calls and starts from a given grid of item embeddings."""

    def _initialize(self, no_components, no_item_features, no_user_features):
        self.__dict__.setdefault("calls", []).append((no_components, no_item_features, no_user_features))
        super()._initialize(no_components, no_item_features, no_user_features)
        grid = np.arange(no_item_features * no_components, dtype=np.float32) / 100.0
        self.item_embeddings = grid.reshape(no_item_features, no_components)


def test_an_overridden_initialize_is_called_once_per_new_model(board):
    train, _ = board
    user_features = sp.hstack([sp.identity(train.shape[0]), sp.random(train.shape[0], 2, density=0.5)]).tocsr()
    model = Recording(no_components=3, random_state=0)
    model.fit(train, user_features=user_features, epochs=0)
    assert model.calls == [(3, train.shape[1], train.shape[0] + 2)]
    grid = np.arange(train.shape[1] * 3, dtype=np.float32).reshape(-1, 3) / 100.0
    np.testing.assert_array_equal(model.item_embeddings, grid)
    model.fit_partial(train, user_features=user_features, epochs=2)
    assert len(model.calls) == 1, "fit_partial resumes: no new parameters"
    assert not np.array_equal(model.item_embeddings, grid), "training starts from the override's embeddings"
    model.fit(train, user_features=user_features, epochs=0)
    assert len(model.calls) == 2, "fit starts afresh"
    np.testing.assert_array_equal(model.item_embeddings, grid)


def test_an_initialize_that_sets_a_wrong_shape_is_refused(board):
    train, _ = board

    class Wrong(LightFM):
        def _initialize(self, no_components, no_item_features, no_user_features):
            super()._initialize(no_components, no_item_features, no_user_features)
            self.item_embeddings = np.zeros((no_item_features + 1, no_components), dtype=np.float32)

    model = Wrong(random_state=0)
    with pytest.raises(ValueError, match=r"item_embedding_gradients must be a float32 array of shape"):
        model.fit(train)
    assert model.item_embeddings is None, "a failed fit keeps the previous (here: no) model"
