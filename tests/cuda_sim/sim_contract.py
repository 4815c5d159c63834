"""The GPU engine's kernels under Numba's CUDA simulator, against the backend contract.

Run by ``tests/test_backend_cuda.py`` in a child process with ``NUMBA_ENABLE_CUDASIM=1``
(the simulator must be chosen before Numba is first imported); not collected on its own.
The simulator is slow (every lane is a Python thread), so the exactness test runs a
covering subset of the contract's grid (every loss twice; each schedule, feature kind and
regularisation with every loss once or more) and the Hogwild test runs on a smaller checkerboard.
"""

import numpy as np
import pytest
import scipy.sparse as sp
from numba import config

from lightfm._params import LOSSES
from lightfm._state import ModelState
from lightfm.backends import TrainingConfig, TrainingData, get_backend
from lightfm.backends.cuda import CUDABackend

from ..backend_contract import BackendContract
from ._simulator import polite_polling

pytestmark = pytest.mark.skipif(
    not config.ENABLE_CUDASIM, reason="run by tests/test_backend_cuda.py with NUMBA_ENABLE_CUDASIM=1"
)


@pytest.fixture(autouse=True, scope="module")
def _fast_simulator():
    polite_polling()


L2 = (0.02, 0.05)
NONE = (0.0, 0.0)
COVERING = [
    ("logistic", "adagrad", False, NONE),
    ("logistic", "adadelta", True, L2),
    ("bpr", "adagrad", True, L2),
    ("bpr", "adadelta", False, NONE),
    ("warp", "adagrad", False, L2),
    ("warp", "adadelta", True, NONE),
    ("warp-kos", "adagrad", True, NONE),
    ("warp-kos", "adadelta", False, L2),
]


def checkerboard_data(n_users, n_items, seed):
    rs = np.random.RandomState(seed)
    group = np.arange(n_users) % 2
    in_group = group[:, None] == (np.arange(n_items) % 2)[None, :]
    interactions = sp.coo_matrix((in_group & (rs.rand(n_users, n_items) < 0.5)).astype(np.float32))
    data = TrainingData(
        interactions.row.astype(np.int32), interactions.col.astype(np.int32), interactions.data, None,
        None, None, n_users, n_items,
    )  # fmt: skip
    return data, in_group


def separation(state, in_group):
    """Mean score of in-group pairs minus that of out-of-group pairs (the checkerboard's signal)."""
    scores = state.arrays["user_embeddings"] @ state.arrays["item_embeddings"].T + state.arrays["item_biases"]
    return np.mean(scores[in_group]) - np.mean(scores[~in_group])


class TestCUDASimulator(BackendContract):
    @property
    def backend(self):
        # One worker: the CPU engine's random stream, so training matches the oracle exactly.
        # Two lanes for four components: each lane owns two (the strided path). Built on use:
        # the main test process imports this module (doctest collection) without the simulator.
        return CUDABackend(lanes=2, workers=1)

    @pytest.mark.parametrize(("loss", "schedule", "features", "alphas"), COVERING)
    def test_fit_epochs_match_the_oracle(self, loss, schedule, features, alphas):
        super().test_fit_epochs_match_the_oracle(loss, schedule, features, alphas)

    @pytest.mark.parametrize("loss", LOSSES)
    def test_two_threads_learn_what_one_does(self, loss):
        """Hogwild over several workers is held to one worker's accuracy, and to the CPU engine's."""
        data, in_group = checkerboard_data(24, 16, seed=0)
        config = TrainingConfig(loss, "adagrad", 0.05, 0.95, 1e-6, 0.0, 0.0, 10, 3, 5)
        accuracy = {}
        for name, backend in (("one", self.backend), ("three", CUDABackend(lanes=1, workers=3)),
                              ("cpu", get_backend("cpu"))):  # fmt: skip
            random_state = np.random.RandomState(1)
            state = ModelState.fresh(4, 24, 16, "adagrad", random_state)
            backend.fit_epochs(state, data, config, 3, 1, random_state, False)
            accuracy[name] = separation(state, in_group)
        assert accuracy["one"] > 0 and accuracy["three"] > 0.5 * accuracy["one"], accuracy
        assert accuracy["one"] == pytest.approx(accuracy["cpu"], rel=1e-3), accuracy

    @pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the simulator's NumPy overflowing, as intended
    def test_divergence_is_a_value_error(self):
        data, _ = checkerboard_data(12, 9, seed=0)
        config = TrainingConfig("warp", "adagrad", 1e7, 0.95, 1e-6, 0.0, 0.0, 10, 5, 10)
        random_state = np.random.RandomState(0)
        state = ModelState.fresh(4, 12, 9, "adagrad", random_state)
        with pytest.raises(ValueError, match="diverged"):
            self.backend.fit_epochs(state, data, config, 10, 1, random_state, False)
