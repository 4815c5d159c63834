"""Behaviour that code written for the original LightFM relies on, with the original as the oracle.

Numbers come from the original's own tests (``tests/test_movielens.py`` of lyst/lightfm) or
from running the reference (lightfm-next) side by side: ``benchmarks/bench_parity.py``.
"""

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.metrics import roc_auc_score

from lightfm import LightFM
from lightfm.evaluation import auc_score, precision_at_k, recall_at_k

SEED = 10
RANKING_AND_LOGISTIC = ["logistic", "bpr", "warp", "warp-kos"]


def _metrics(model, train, test):
    """The original's protocol: -1 entries removed, no train exclusion (train p@10, test p@10, train AUC, test AUC)."""

    def positives(matrix):
        csr = matrix.tocsr().copy()
        csr.data[csr.data < 0] = 0
        csr.eliminate_zeros()
        return csr

    train, test = positives(train), positives(test)
    return (
        precision_at_k(model, train).mean(),
        precision_at_k(model, test).mean(),
        auc_score(model, train).mean(),
        auc_score(model, test).mean(),
    )


# -- accuracy on the original's MovieLens configuration ------------------------------------------

# The original's floors (tests/test_movielens.py): train p@10, test p@10, train AUC, test AUC.
ORIGINAL_FLOORS = {
    "logistic": (0.3, 0.03, 0.79, 0.73),
    "bpr": (0.45, 0.07, 0.91, 0.87),
    "warp": (0.45, 0.07, 0.94, 0.9),
}


@pytest.mark.parametrize("num_threads", [1, 4])
@pytest.mark.parametrize("loss", sorted(ORIGINAL_FLOORS))
def test_signed_movielens_meets_the_originals_floors(signed_movielens, loss, num_threads):
    train, test = signed_movielens
    model = LightFM(learning_rate=0.05, loss=loss, random_state=SEED)
    model.fit_partial(train, epochs=10, num_threads=num_threads)
    floors = ORIGINAL_FLOORS[loss]
    if loss == "warp" and num_threads > 1:
        floors = (0.45, 0.07, 0.9, 0.9)  # the original's own floors with 4 threads
    metrics = _metrics(model, train, test)
    assert all(value > floor for value, floor in zip(metrics, floors, strict=True)), metrics


def test_threads_train_as_well_on_entries_sorted_by_item(signed_movielens):
    """The original shuffles every example before its threads split them, so input order is no matter.

    Entries sorted by item, as SciPy < 1.11's ``coo_matrix.astype`` leaves them: contiguous parts
    gave each of 4 threads a quarter of the items, and test AUC 0.871 (the original's floor is 0.87
    and row-sorted entries give 0.874).
    """
    train, test = signed_movielens
    coo = train.tocoo()
    by_item = np.lexsort((coo.row, coo.col))
    sorted_by_item = sp.coo_matrix((coo.data[by_item], (coo.row[by_item], coo.col[by_item])), shape=coo.shape)
    model = LightFM(learning_rate=0.05, loss="bpr", random_state=SEED)
    model.fit_partial(sorted_by_item, epochs=10, num_threads=4)
    metrics = _metrics(model, train, test)
    assert metrics[3] > 0.872, metrics


def test_warp_kos_on_positives_meets_the_originals_floors(signed_movielens):
    train, test = signed_movielens
    positives = train.tocsr().copy()
    positives.data[positives.data < 1] = 0
    positives.eliminate_zeros()
    model = LightFM(learning_rate=0.05, k=5, loss="warp-kos", random_state=SEED).fit_partial(positives, epochs=10)
    metrics = _metrics(model, train, test)
    assert all(value > floor for value, floor in zip(metrics, (0.44, 0.06, 0.9, 0.87), strict=True)), metrics


# The reference's means over seeds 0-4, one thread (benchmarks/bench_parity.py --data signed, BENCHMARKS.md):
# test AUC, train AUC, test p@10.
REFERENCE_SIGNED = {
    "bpr": (0.8757, 0.9146, 0.0729),
    "warp": (0.9115, 0.9426, 0.0792),
    "warp-kos": (0.8876, 0.9119, 0.0671),
    "logistic": (0.7435, 0.7954, 0.0327),
}


@pytest.mark.parametrize("loss", sorted(REFERENCE_SIGNED))
def test_signed_movielens_parity_with_the_reference(signed_movielens, loss):
    """Means over three seeds: AUCs at most 0.005 below the reference's, test p@10 at least 0.97x."""
    train, test = signed_movielens
    results = []
    for seed in range(3):
        model = LightFM(learning_rate=0.05, loss=loss, random_state=seed).fit_partial(train, epochs=10)
        _, test_p10, train_auc, test_auc = _metrics(model, train, test)
        results.append((test_auc, train_auc, test_p10))
    test_auc, train_auc, test_p10 = np.mean(results, axis=0)
    ref_test_auc, ref_train_auc, ref_test_p10 = REFERENCE_SIGNED[loss]
    assert test_auc >= ref_test_auc - 0.005 and train_auc >= ref_train_auc - 0.005, (test_auc, train_auc)
    assert test_p10 >= 0.97 * ref_test_p10, test_p10


# -- regularisation and divergence ---------------------------------------------------------------


# Where the original's own parameters blow up under strong L2 instead of shrinking (its lazy scheme
# multiplies representations by a scale that grows through the epoch): they reach 1e2-1e9 here.
ORIGINAL_BLOWS_UP = {("warp", 1.0), ("warp-kos", 1.0)}


@pytest.mark.parametrize("alpha", [1.0, 10.0])
@pytest.mark.parametrize("loss", RANKING_AND_LOGISTIC)
def test_excessive_regularisation_ranks_poorly_and_never_explodes_silently(signed_movielens, loss, alpha):
    """The original's test: strong L2 with 4 threads finishes, shrinks the model, and ranks poorly.
    Where the original's models blow up instead, ours may too: they rank poorly, or are refused as
    diverged, never returned non-finite."""
    train, test = signed_movielens
    model = LightFM(no_components=10, item_alpha=alpha, user_alpha=alpha, loss=loss, random_state=SEED)
    try:
        model.fit_partial(train, epochs=10, num_threads=4)
    except ValueError as error:
        assert (loss, alpha) in ORIGINAL_BLOWS_UP and "diverged" in str(error)
        return
    assert roc_auc_score(train.data, model.predict(train.row, train.col)) < 0.65
    assert roc_auc_score(test.data, model.predict(test.row, test.col)) < 0.65
    if (loss, alpha) not in ORIGINAL_BLOWS_UP:
        for name in ("user_embeddings", "item_embeddings", "user_biases", "item_biases"):
            assert np.abs(getattr(model, name)).max() < 0.1, name


@pytest.mark.bounds_checked
@pytest.mark.parametrize("schedule", ["adagrad", "adadelta"])
@pytest.mark.parametrize("learning_rate", [0.05, 1.0])
def test_strong_regularisation_with_features_is_finite_or_refused(board, schedule, learning_rate):
    """Alphas of 0.5 and 10 with a feature matrix on two threads: the original's models shrink to 0,
    grow to 1e16, or are refused, depending on the settings; ours never come back non-finite."""
    train, test = board
    features = sp.hstack([sp.identity(train.shape[1]), sp.random(train.shape[1], 5, density=0.5, random_state=0)])
    trained = 0
    for alpha in (0.5, 10.0):
        model = LightFM(
            loss="warp",
            learning_schedule=schedule,
            learning_rate=learning_rate,
            item_alpha=alpha,
            user_alpha=alpha,
            random_state=0,
        )
        try:
            model.fit(train, item_features=features.tocsr(), epochs=5, num_threads=2)
        except ValueError as error:
            assert "diverged" in str(error)
            continue
        assert np.isfinite(model.predict(test.row, test.col, item_features=features.tocsr())).all()
        trained += 1
    if learning_rate < 1.0:  # at learning rate 1 the original's own fits blow up or are refused
        assert trained, "every strongly regularised fit was refused"


@pytest.mark.parametrize("alpha", [100.0, 1e6, 1e30])
def test_many_threads_under_huge_regularisation_never_overflow(alpha):
    """Threads in a step when a scale passes the fold threshold each grow it once more: bounded.
    At alpha 1e30 one step's growth of a parameter overflows float32, in the original too: both
    refuse the model as diverged."""
    interactions = sp.random(400, 300, density=0.05, format="coo", random_state=0)
    interactions.data[:] = 1
    for learning_rate in (0.05, 1.0):
        model = LightFM(loss="warp", learning_rate=learning_rate, user_alpha=alpha, item_alpha=alpha, random_state=0)
        if alpha > 1e20:
            with pytest.raises(ValueError, match="diverged"):
                model.fit(interactions, epochs=2, num_threads=16)
            continue
        model.fit(interactions, epochs=2, num_threads=16)
        assert np.abs(model.item_embeddings).max() < 1e-3


def test_hyperparameters_beyond_float32_are_refused():
    for name in ("learning_rate", "item_alpha", "user_alpha", "epsilon"):
        with pytest.raises(ValueError, match=name):
            LightFM(**{name: 1e300})


@pytest.mark.parametrize("loss", RANKING_AND_LOGISTIC)
def test_a_blown_up_model_is_reported(loss):
    """The original raises ValueError here (its parameters overflow); so do we."""
    interactions = sp.rand(1000, 1000, format="csr", random_state=42)
    with pytest.raises(ValueError, match="diverged"):
        LightFM(learning_rate=1e7, loss=loss, random_state=0).fit(interactions, epochs=10)


# -- errors that `except ValueError` catches -----------------------------------------------------


@pytest.mark.bounds_checked
def test_bad_argument_types_are_value_errors(board):
    train, _ = board
    model = LightFM(random_state=0).fit(train)
    items = np.arange(train.shape[1])
    calls = [
        lambda: model.predict("foo", items),
        lambda: model.predict(0, ["a", "b"]),
        lambda: model.predict(0, items, item_features=[[1, 0]]),
        lambda: model.predict(0, items, user_features="features"),
        lambda: model.fit(train, sample_weight=np.zeros(3)),
        lambda: model.fit([[1, 0], [0, 1]]),
        lambda: model.predict_rank(np.arange(3)),
    ]
    for call in calls:
        with pytest.raises(ValueError) as error:
            call()
        assert isinstance(error.value, TypeError)  # lightfm.InputTypeError: both


# -- shapes and features in ranking and metrics --------------------------------------------------


@pytest.mark.bounds_checked
def test_predict_rank_refuses_a_matrix_of_another_shape(board):
    train, _ = board
    model = LightFM(random_state=0).fit(train)
    for shape in [(5, 5), (train.shape[0], train.shape[1] - 1), (train.shape[0] + 1, train.shape[1])]:
        with pytest.raises(ValueError, match="Incorrect number of features"):
            model.predict_rank(sp.csr_matrix(shape))


@pytest.mark.bounds_checked
def test_ranking_a_feature_model_without_its_features_is_refused(board):
    train, test = board
    item_features = sp.hstack([sp.identity(train.shape[1]), sp.random(train.shape[1], 4, density=0.5)]).tocsr()
    user_features = sp.hstack([sp.identity(train.shape[0]), sp.random(train.shape[0], 3, density=0.5)]).tocsr()
    model = LightFM(random_state=0).fit(train, user_features=user_features, item_features=item_features)
    for metric in (precision_at_k, recall_at_k, auc_score):
        with pytest.raises(ValueError, match="Incorrect number of features in item_features"):
            metric(model, test, user_features=user_features)
        with pytest.raises(ValueError, match="Incorrect number of features in user_features"):
            metric(model, test, item_features=item_features)
        metric(model, test, user_features=user_features, item_features=item_features)
    # predict stays lenient, as in the original (the first rows of the embeddings are identity
    # features), and warns that this is rarely what is meant.
    with pytest.warns(UserWarning, match="called without them"):
        assert model.predict(0, np.arange(train.shape[1])).shape == (train.shape[1],)


@pytest.mark.bounds_checked
def test_metrics_go_through_an_overridden_predict_rank(board):
    train, test = board

    class Shifted(LightFM):
        """Every rank pushed down by 100: no test item can be in any top k."""

        def predict_rank(self, test_interactions, train_interactions=None, **kwargs):
            ranks = super().predict_rank(test_interactions, train_interactions, **kwargs)
            ranks.data += 100
            return ranks

    model = Shifted(loss="warp", random_state=0).fit(train, epochs=5)
    plain = LightFM(loss="warp", random_state=0).fit(train, epochs=5)
    assert precision_at_k(plain, test, train, k=5).mean() > 0
    assert precision_at_k(model, test, train, k=5).max() == 0
    assert recall_at_k(model, test, train, k=5).max() == 0
    assert auc_score(model, test, train).mean() < auc_score(plain, test, train).mean()


def test_recall_matches_the_original_for_users_without_test_interactions(board):
    """The original divides hits by test counts in float64: 0 / 0 is NaN for users without any."""
    train, test = board
    test = test.tocsr()
    test.data[test.indptr[3] : test.indptr[4]] = 0
    test.eliminate_zeros()
    empty = np.diff(test.indptr) == 0
    model = LightFM(random_state=0).fit(train)
    recall = recall_at_k(model, test, train, preserve_rows=True)
    assert recall.dtype == np.float64 and recall.shape == (test.shape[0],)
    assert empty[3] and np.isnan(recall[empty]).all() and np.isfinite(recall[~empty]).all()
    compact = recall_at_k(model, test, train)
    assert compact.dtype == np.float64 and compact.shape == (np.sum(~empty),)


# -- state users and tests inspect ---------------------------------------------------------------


def test_random_state_advances_on_every_fit(board):
    train, _ = board
    model = LightFM(loss="warp", random_state=SEED)
    states = []
    for _ in range(3):
        model.fit_partial(train, epochs=1)
        states.append(model.random_state.get_state()[1].copy())
    assert not np.array_equal(states[0], states[1]) and not np.array_equal(states[1], states[2])


@pytest.mark.parametrize("loss", ["logistic", "bpr", "warp"])
def test_zero_weights_leave_accumulators_untouched(signed_movielens, loss):
    """The original's test: weight 0 for odd users leaves their accumulators at 1, user biases included."""
    train, _ = signed_movielens
    weights = train.copy()
    weights.data = (weights.row % 2 == 0).astype(np.float32)
    model = LightFM(loss=loss, random_state=SEED).fit_partial(train, sample_weight=weights, epochs=1)
    odd = np.arange(train.shape[0]) % 2 == 1
    assert np.allclose(model.user_embedding_gradients[odd], 1.0)
    assert np.allclose(model.user_bias_gradients[odd], 1.0)
    assert not np.allclose(model.user_embedding_gradients[~odd], 1.0)
    assert not np.allclose(model.user_bias_gradients[~odd], 1.0)


@pytest.mark.bounds_checked
@pytest.mark.parametrize("loss", RANKING_AND_LOGISTIC)
def test_one_epoch_at_a_time_equals_all_epochs_at_once(board, loss):
    train, _ = board
    alphas = {"item_alpha": 1e-3, "user_alpha": 1e-3}
    at_once = LightFM(loss=loss, random_state=SEED, **alphas).fit_partial(train, epochs=4)
    one_by_one = LightFM(loss=loss, random_state=SEED, **alphas)
    for _ in range(4):
        one_by_one.fit_partial(train, epochs=1)
    for name in ("user_embeddings", "item_embeddings", "user_biases", "item_biases", "item_embedding_gradients"):
        np.testing.assert_array_equal(getattr(at_once, name), getattr(one_by_one, name), err_msg=name)


# -- datasets and packaging ----------------------------------------------------------------------


def test_indicator_feature_labels_are_the_item_labels():
    from lightfm.datasets import fetch_movielens

    from .conftest import movielens_home

    if movielens_home() is None:
        pytest.skip("MovieLens 100k not found")
    data = fetch_movielens(data_home=movielens_home(), download_if_missing=False)
    assert data["item_feature_labels"] is data["item_labels"]
    both = fetch_movielens(data_home=movielens_home(), genre_features=True, download_if_missing=False)
    assert both["item_feature_labels"].shape == (1682 + 19,)


def test_public_names_match_the_originals():
    from importlib.metadata import version

    import lightfm.version

    assert {"LightFM", "datasets", "evaluation", "__version__"} <= set(lightfm.__all__)
    namespace = {}
    exec("from lightfm import *", namespace)
    assert {"LightFM", "datasets", "evaluation", "__version__"} <= set(namespace)
    assert lightfm.__version__ == lightfm.version.__version__ == version("lightfm-ng")
