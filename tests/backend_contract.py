"""The contract every engine (:mod:`lightfm.backends`) meets, as a test mixin.

An engine's test module subclasses :class:`BackendContract` and sets ``backend``
(see ``tests/test_backend_cpu.py``); every test here then runs against it,
calling the engine directly with a :class:`~lightfm._state.ModelState` and plain
arrays, never through the estimator. Oracles: the pure-Python trainer in
``tests/oracles.py`` and brute-force NumPy ranking and top-n.

Training is compared exactly (to float32 rounding) on one thread, for every
loss x schedule x identity/explicit features x with/without L2. That needs the
engine's random stream: an engine provides :meth:`BackendContract.epoch_seeds`
and the draws of ``tests/oracles.py`` (the CPU engine's xorshift and candidate
ring); one with another stream overrides the exactness test with its own twin.
"""

import copy

import numpy as np
import pytest
import scipy.sparse as sp

from lightfm._params import LOSSES
from lightfm._params import SCHEDULES as SCHEDULE_NAMES
from lightfm._scoring import item_side, user_side
from lightfm._state import ModelState
from lightfm._validation import to_features, to_pattern
from lightfm.backends import TrainingConfig, TrainingData

from .oracles import (
    Trainer,
    bpr_epoch,
    brute_force_ranks,
    brute_force_top_n,
    logistic_epoch,
    own_items,
    warp_epoch,
    warp_kos_epoch,
)

SCHEDULES = list(SCHEDULE_NAMES)
N_USERS, N_ITEMS, DIM = 12, 9, 4


def _interactions(seed):
    """Positives, -1 entries (the users' own items, never negatives) and gaps."""
    rs = np.random.RandomState(seed)
    dense = (rs.rand(N_USERS, N_ITEMS) < 0.4).astype(np.float32)
    dense[(dense == 0) & (rs.rand(N_USERS, N_ITEMS) < 0.3)] = -1
    return sp.coo_matrix(dense)


def _features(n_rows, n_extra, seed, integer=False):
    """Identity plus ``n_extra`` random feature columns with weights in (0, 1] (or 1 and 2: exact sums)."""
    weights = (lambda k: 1.0 + np.arange(k) % 2) if integer else (lambda k: np.linspace(0.2, 1, k))
    extra = sp.random(n_rows, n_extra, density=0.5, random_state=seed, data_rvs=weights)
    return sp.hstack([sp.identity(n_rows), extra], format="csr", dtype=np.float32)


def oracle_fit(state, data, config, user_features, item_features, seeds):
    """The arrays the pure-Python twin ends with after one epoch per seed, starting from ``state``."""
    from lightfm.backends._host_kernels import alias_table

    trainer = Trainer(state.arrays, config, user_features, item_features)
    rows, cols, labels, n_items = data.rows, data.cols, data.labels, data.n_items
    own = own_items(rows, cols, data.n_users)
    for seed in seeds:
        if config.loss == "logistic":
            logistic_epoch(trainer, rows, cols, labels, seed, data.weights)
        elif config.loss == "warp":
            warp_epoch(trainer, rows, cols, labels, own, n_items, config.max_sampled, seed, data.weights)
        elif config.loss == "warp-kos":
            warp_kos_epoch(trainer, rows, own, n_items, config.max_sampled, config.k, config.n, seed)
        elif config.loss == "bpr":  # negatives follow the items of every stored entry, -1 entries included
            prob, alias = alias_table(np.bincount(cols, minlength=n_items).astype(np.float64))
            bpr_epoch(trainer, rows, cols, labels, own, n_items, prob, alias, seed, data.weights)
        else:
            raise NotImplementedError(f"no twin for the loss {config.loss!r} in tests/oracles.py")
    return trainer.result()


def assert_arrays_close(actual, expected):
    for name, value in expected.items():
        np.testing.assert_allclose(actual[name], value, rtol=2e-4, atol=2e-5, err_msg=name)


class BackendContract:
    """Mixin of engine tests; subclasses set ``backend``."""

    backend = None

    def epoch_seeds(self, random_state, epochs):
        """The per-epoch RNG words the engine draws from ``random_state`` on one thread."""
        from lightfm.backends._common import seed_states

        return [seed_states(random_state, 1)[0] for _ in range(epochs)]

    # -- training ----------------------------------------------------------------------------

    @pytest.mark.bounds_checked
    @pytest.mark.parametrize("alphas", [(0.0, 0.0), (0.02, 0.05)])
    @pytest.mark.parametrize("features", [False, True])
    @pytest.mark.parametrize("schedule", SCHEDULES)
    @pytest.mark.parametrize("loss", LOSSES)
    def test_fit_epochs_match_the_oracle(self, loss, schedule, features, alphas):
        interactions = _interactions(seed=3)
        user_features = _features(N_USERS, 2, seed=4) if features else None
        item_features = _features(N_ITEMS, 3, seed=5) if features else None
        users = to_features(user_features, N_USERS, "user_features")
        items = to_features(item_features, N_ITEMS, "item_features")
        random_state = np.random.RandomState(13)
        state = ModelState.fresh(DIM, users.n_features, items.n_features, schedule, random_state)
        config = TrainingConfig(loss, schedule, 0.05, 0.95, 1e-6, alphas[0], alphas[1], 10, 2, 4)
        rows, cols = interactions.row.astype(np.int32), interactions.col.astype(np.int32)
        data = TrainingData(rows, cols, interactions.data, None, users.arrays, items.arrays, N_USERS, N_ITEMS)

        seeds = self.epoch_seeds(copy.deepcopy(random_state), epochs=2)
        expected = oracle_fit(state, data, config, user_features, item_features, seeds)
        self.backend.fit_epochs(state, data, config, 2, 1, random_state, False)
        if schedule == "adagrad":  # adagrad never reads or writes the momentum arrays
            expected = {name: value for name, value in expected.items() if "momentum" not in name}
        assert_arrays_close(state.arrays, expected)

    @pytest.mark.bounds_checked
    @pytest.mark.parametrize("weights", ["constant5", "ratings"])
    @pytest.mark.parametrize("loss", ["logistic", "bpr", "warp"])
    def test_weighted_fit_epochs_match_the_oracle(self, loss, weights):
        """Sample weights above 1 stay inside WARP's loss clip, as in the original (multiplied
        after the clip, a constant weight of 5 grew item vectors to norm 361 on MovieLens)."""
        interactions = _interactions(seed=3)
        rs = np.random.RandomState(7)
        values = np.full(interactions.nnz, 5.0) if weights == "constant5" else rs.randint(1, 6, interactions.nnz)
        random_state = np.random.RandomState(13)
        state = ModelState.fresh(DIM, N_USERS, N_ITEMS, "adagrad", random_state)
        config = TrainingConfig(loss, "adagrad", 0.05, 0.95, 1e-6, 0.0, 0.01, 10, 2, 4)
        rows, cols = interactions.row.astype(np.int32), interactions.col.astype(np.int32)
        data = TrainingData(
            rows, cols, interactions.data, values.astype(np.float32), None, None, N_USERS, N_ITEMS
        )  # fmt: skip
        seeds = self.epoch_seeds(copy.deepcopy(random_state), epochs=2)
        expected = oracle_fit(state, data, config, None, None, seeds)
        self.backend.fit_epochs(state, data, config, 2, 1, random_state, False)
        expected = {name: value for name, value in expected.items() if "momentum" not in name}
        assert_arrays_close(state.arrays, expected)

    @pytest.mark.parametrize("loss", LOSSES)
    def test_two_threads_learn_what_one_does(self, loss):
        """Hogwild is not reproducible, so two threads are held to one thread's accuracy."""
        rs = np.random.RandomState(0)
        group = np.arange(60) % 2
        liked = (group[:, None] == (np.arange(40) % 2)[None, :]) & (rs.rand(60, 40) < 0.5)
        interactions = sp.coo_matrix(liked.astype(np.float32))
        data = TrainingData(
            interactions.row.astype(np.int32), interactions.col.astype(np.int32), interactions.data, None,
            None, None, 60, 40,
        )  # fmt: skip
        config = TrainingConfig(loss, "adagrad", 0.05, 0.95, 1e-6, 0.0, 0.0, 10, 5, 10)
        accuracy = {}
        for threads in (1, 2):
            random_state = np.random.RandomState(1)
            state = ModelState.fresh(8, 60, 40, "adagrad", random_state)
            self.backend.fit_epochs(state, data, config, 10, threads, random_state, False)
            scores = state.arrays["user_embeddings"] @ state.arrays["item_embeddings"].T
            scores += state.arrays["item_biases"]
            in_group = group[:, None] == (np.arange(40) % 2)[None, :]
            accuracy[threads] = np.mean(scores[in_group]) - np.mean(scores[~in_group])
        assert accuracy[1] > 0 and accuracy[2] > 0.5 * accuracy[1], accuracy

    def test_divergence_is_a_value_error(self):
        interactions = sp.random(50, 40, density=0.3, format="coo", random_state=0)
        data = TrainingData(
            interactions.row.astype(np.int32), interactions.col.astype(np.int32),
            interactions.data.astype(np.float32), None, None, None, 50, 40,
        )  # fmt: skip
        config = TrainingConfig("warp", "adagrad", 1e7, 0.95, 1e-6, 0.0, 0.0, 10, 5, 10)
        random_state = np.random.RandomState(0)
        state = ModelState.fresh(8, 50, 40, "adagrad", random_state)
        with pytest.raises(ValueError, match="diverged"):
            self.backend.fit_epochs(state, data, config, 10, 1, random_state, False)

    # -- scoring -----------------------------------------------------------------------------

    def _scored_state(self, seed, features):
        """A random state (integer-valued, so scores tie) and feature matrices for scoring tests."""
        rs = np.random.RandomState(seed)
        user_features = _features(N_USERS, 2, seed, integer=True) if features else None
        item_features = _features(N_ITEMS, 3, seed + 1, integer=True) if features else None
        users = to_features(user_features, N_USERS, "user_features")
        items = to_features(item_features, N_ITEMS, "item_features")
        state = ModelState.fresh(DIM, users.n_features, items.n_features, "adagrad", rs)
        for name in ("user_embeddings", "item_embeddings", "user_biases", "item_biases"):
            state.arrays[name] = rs.randint(-1, 2, size=state.arrays[name].shape).astype(np.float32)
        return state, users, items, user_features, item_features

    @staticmethod
    def _dense_scores(state, user_features, item_features):
        def rep(side, features, n):
            matrix = sp.identity(n, format="csr") if features is None else features
            return matrix @ state.arrays[f"{side}_embeddings"], matrix @ state.arrays[f"{side}_biases"]

        (u, ub), (v, vb) = rep("user", user_features, N_USERS), rep("item", item_features, N_ITEMS)
        return u.astype(np.float64) @ v.T + ub[:, None] + vb[None, :]

    @pytest.mark.bounds_checked
    @pytest.mark.parametrize("num_threads", [1, 2])
    @pytest.mark.parametrize("features", [False, True])
    def test_rank_matches_brute_force(self, features, num_threads):
        state, users, items, user_features, item_features = self._scored_state(7, features)
        test = to_pattern(sp.random(N_USERS, N_ITEMS, density=0.3, random_state=1), "test")
        candidates = sp.random(N_USERS, N_ITEMS, density=0.3, format="csr", random_state=2)
        disjoint = (candidates - candidates.multiply(test)).tocsr()  # train and test share no entry
        disjoint.eliminate_zeros()
        train = to_pattern(disjoint, "train")
        test_users = np.flatnonzero(np.diff(test.indptr))
        ranks = self.backend.rank(
            lambda rows: user_side(state, users, rows),
            test_users,
            item_side(state, items, N_ITEMS),
            test,
            train,
            num_threads,
        )
        expected = brute_force_ranks(self._dense_scores(state, user_features, item_features), test, train)
        np.testing.assert_array_equal(ranks, expected)

    @pytest.mark.bounds_checked
    @pytest.mark.parametrize("num_threads", [1, 2])
    @pytest.mark.parametrize("candidates", [False, True])
    def test_top_n_matches_brute_force(self, candidates, num_threads):
        state, users, items, user_features, item_features = self._scored_state(11, True)
        exclude = to_pattern(sp.random(N_USERS, N_ITEMS, density=0.3, random_state=3), "exclude")
        chosen = np.array([0, 2, 3, 5, 8], dtype=np.int64) if candidates else None
        query = np.array([0, 3, 3, 11, 5], dtype=np.int64)
        found, scores = self.backend.top_n(
            lambda ids: user_side(state, users, ids),
            query,
            item_side(state, items, N_ITEMS, chosen),
            4,
            (exclude.indptr.astype(np.int64), exclude.indices, N_ITEMS),
            query,
            chosen,
            num_threads,
        )
        excluded = [set(exclude.indices[exclude.indptr[u] : exclude.indptr[u + 1]]) for u in query]
        dense = self._dense_scores(state, user_features, item_features)[query]
        expected_items, expected_scores = brute_force_top_n(dense, 4, excluded, chosen)
        np.testing.assert_array_equal(found, expected_items)
        np.testing.assert_array_equal(scores, expected_scores.astype(np.float32))

    @pytest.mark.parametrize("num_threads", [1, 2])
    def test_predict_pairs(self, num_threads):
        rs = np.random.RandomState(0)
        user_repr, item_repr = rs.rand(5, DIM).astype(np.float32), rs.rand(7, DIM).astype(np.float32)
        user_bias, item_bias = rs.rand(5).astype(np.float32), rs.rand(7).astype(np.float32)
        user_index, item_index = rs.randint(0, 5, 30).astype(np.int64), rs.randint(0, 7, 30).astype(np.int64)
        scores = self.backend.predict_pairs(
            user_repr, user_bias, user_index, item_repr, item_bias, item_index, num_threads
        )
        expected = (
            (user_repr[user_index] * item_repr[item_index]).sum(1) + user_bias[user_index] + item_bias[item_index]
        )
        assert scores.dtype == np.float32
        np.testing.assert_allclose(scores, expected, rtol=1e-6)
