"""``LightFM(device="cuda")`` end to end under Numba's CUDA simulator, against the CPU engine.

Run by ``tests/test_backend_cuda.py`` in a child process with ``NUMBA_ENABLE_CUDASIM=1``.
With fewer than 64 training examples the GPU engine uses one worker, whose random
stream is the CPU engine's on one thread, so the two must train the same model.
"""

import pickle

import numpy as np
import pytest
import scipy.sparse as sp
from numba import config

from lightfm import LightFM, ParameterError
from lightfm._state import ModelState
from lightfm.backends import TrainingConfig, TrainingData
from lightfm.backends.cuda import CUDABackend
from lightfm.evaluation import auc_score, precision_at_k

from ..backend_contract import BackendContract, assert_arrays_close
from ._simulator import polite_polling
from .sim_contract import COVERING

pytestmark = pytest.mark.skipif(
    not config.ENABLE_CUDASIM, reason="run by tests/test_backend_cuda.py with NUMBA_ENABLE_CUDASIM=1"
)


@pytest.fixture(autouse=True, scope="module")
def _fast_simulator():
    polite_polling()


N_USERS, N_ITEMS = 10, 8


def small_data(seed=0):
    rs = np.random.RandomState(seed)
    dense = (rs.rand(N_USERS, N_ITEMS) < 0.45).astype(np.float32)
    item_features = sp.hstack(
        [sp.identity(N_ITEMS), sp.random(N_ITEMS, 2, density=0.5, random_state=seed)], format="csr"
    ).astype(np.float32)
    weights = sp.coo_matrix(dense * rs.uniform(0.5, 1.5, dense.shape).astype(np.float32))
    return sp.coo_matrix(dense), item_features, weights


def parameters(model):
    return {name: getattr(model, name) for name in ("user_embeddings", "item_embeddings", "user_biases",
                                                     "item_biases", "user_embedding_gradients",
                                                     "item_bias_gradients")}  # fmt: skip


@pytest.mark.parametrize(("loss", "schedule", "features"), [("bpr", "adadelta", True), ("warp", "adagrad", False)])
def test_estimator_trains_as_the_cpu_engine(loss, schedule, features):
    train, item_features, weights = small_data()
    assert train.nnz < 64  # one worker
    kwargs = dict(item_features=item_features if features else None, sample_weight=weights if features else None)
    models = {}
    for device in ("cpu", "cuda"):
        model = LightFM(no_components=4, loss=loss, learning_schedule=schedule, item_alpha=0.01, random_state=3,
                        device=device)  # fmt: skip
        models[device] = model.fit(train, epochs=2, **kwargs)
    assert isinstance(models["cuda"].item_embeddings, np.ndarray)
    assert_arrays_close(parameters(models["cuda"]), parameters(models["cpu"]))


def test_scoring_matches_the_cpu_engine(monkeypatch):
    from lightfm.backends.cuda import scoring

    # Blocks of three users or items, so that ranking and top-n run over several blocks.
    monkeypatch.setattr(scoring, "SCORE_BLOCK_BYTES", 3 * 4 * N_ITEMS)
    train, item_features, _ = small_data(seed=1)
    test, _, _ = small_data(seed=2)
    test = sp.coo_matrix(test.toarray() * (train.toarray() == 0))
    model = LightFM(no_components=4, loss="warp", random_state=0).fit(train, item_features=item_features, epochs=3)
    results = {}
    users = np.repeat(np.arange(N_USERS), N_ITEMS)
    items = np.tile(np.arange(N_ITEMS), N_USERS)
    for device in ("cpu", "cuda"):
        model.device = device
        results[device] = (
            model.predict(users, items, item_features=item_features),
            model.predict_rank(test, train, item_features=item_features).toarray(),
            model.recommend(np.arange(N_USERS), n=3, exclude=train, item_features=item_features),
            model.recommend([0, 4, 4], n=N_ITEMS, items=[1, 2, 5, 7], item_features=item_features),
            model.similar_items([0, 3], n=4, item_features=item_features),
            precision_at_k(model, test, train, k=3, item_features=item_features),
            auc_score(model, test, train, item_features=item_features),
        )
    cpu, gpu = results["cpu"], results["cuda"]
    np.testing.assert_allclose(gpu[0], cpu[0], rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(gpu[1], cpu[1])
    for got, expected in zip(gpu[2:5], cpu[2:5], strict=True):
        for got_part, expected_part in zip(got, expected, strict=True):
            if np.asarray(expected_part).dtype.kind == "f":
                np.testing.assert_allclose(got_part, expected_part, rtol=1e-6, atol=1e-7)
            else:
                np.testing.assert_array_equal(got_part, expected_part)
    np.testing.assert_array_equal(gpu[5], cpu[5])
    np.testing.assert_array_equal(gpu[6], cpu[6])


def test_cpu_trained_model_continues_on_the_gpu_and_pickles():
    train, _, _ = small_data(seed=4)
    models = {}
    for device in ("cpu", "cuda"):
        model = LightFM(no_components=4, loss="bpr", random_state=5).fit(train, epochs=1)
        model.device = device
        models[device] = model.fit_partial(train, epochs=2)
    assert_arrays_close(parameters(models["cuda"]), parameters(models["cpu"]))
    restored = pickle.loads(pickle.dumps(models["cuda"]))
    restored.device = "cpu"
    np.testing.assert_array_equal(restored.predict(np.arange(3), np.arange(3)), models["cuda"].predict(
        np.arange(3), np.arange(3)))  # fmt: skip


def test_fold_in_runs_on_the_host_as_the_cpu_engine_does():
    train, _, _ = small_data(seed=2)
    model = LightFM(no_components=4, loss="warp", random_state=1).fit(train, epochs=2)
    rows = sp.csr_matrix(([1.0, 1.0], ([0, 0], [1, 5])), shape=(1, N_ITEMS))
    on_cpu = model.fold_in_users(rows)
    model.device = "cuda"
    on_gpu = model.fold_in_users(rows)
    np.testing.assert_array_equal(on_gpu[0], on_cpu[0])
    np.testing.assert_array_equal(on_gpu[1], on_cpu[1])


@pytest.mark.parametrize(("lanes", "case"), [(4, COVERING[5]), (8, COVERING[2])])
def test_wider_lane_groups_match_the_oracle(lanes, case):
    """Four lanes for four components (one each) and eight (four idle): the same training."""
    contract = BackendContract()
    contract.backend = CUDABackend(lanes=lanes, workers=1)
    contract.test_fit_epochs_match_the_oracle(*case)


def test_too_many_components_is_a_parameter_error():
    data = TrainingData(np.zeros(1, np.int32), np.zeros(1, np.int32), np.ones(1, np.float32), None, None, None, 1, 2)
    config = TrainingConfig("warp", "adagrad", 0.05, 0.95, 1e-6, 0.0, 0.0, 10, 5, 10)
    state = ModelState.fresh(17, 1, 2, "adagrad", np.random.RandomState(0))
    with pytest.raises(ParameterError, match="no_components=17"):
        CUDABackend(lanes=1).fit_epochs(state, data, config, 1, 1, np.random.RandomState(0), False)


def test_lanes_must_be_a_power_of_two():
    with pytest.raises(ParameterError, match="lanes"):
        CUDABackend(lanes=3)
