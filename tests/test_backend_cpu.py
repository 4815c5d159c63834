"""The CPU (Numba) engine against the backend contract."""

import pytest

from lightfm.backends import get_backend

from .backend_contract import BackendContract


class TestCPUBackend(BackendContract):
    backend = get_backend("cpu")


def _traced_peak(call):
    """Peak bytes NumPy allocated (tracemalloc) while ``call()`` ran, from every thread."""
    import tracemalloc

    tracemalloc.start()
    try:
        call()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("hybrid", [False, True])
def test_more_training_threads_copy_no_training_data(hybrid):
    import numpy as np
    import scipy.sparse as sp

    from lightfm import LightFM

    rng = np.random.default_rng(0)
    n = 500_000
    train = sp.coo_matrix(
        (np.ones(n, np.float32), (rng.integers(0, 5000, n), rng.integers(0, 2000, n))), shape=(5000, 2000)
    )
    train.sum_duplicates()
    # Identity and one feature every item shares: that row is hot, so each thread gets a copy of it.
    features = sp.hstack([sp.identity(2000), np.ones((2000, 1))], format="csr") if hybrid else None

    def fit(threads):
        model = LightFM(loss="bpr", random_state=0)
        return lambda: model.fit(train, item_features=features, epochs=1, num_threads=threads)

    fit(4)()  # compiles outside the measurement
    # Each thread costs its scratch buffers (kilobytes) and, with features, its copies of the hot
    # rows and of the feature indices (the side's parameters once, 250 kB here), not the 6 MB a
    # copy of the examples' users and items took.
    assert _traced_peak(fit(4)) - _traced_peak(fit(1)) < (1 << 20 if hybrid else 256 * 1024)


def test_ranking_blocks_share_one_memory_budget_across_threads():
    import numpy as np
    import scipy.sparse as sp

    from lightfm import LightFM
    from lightfm.backends.cpu import SCORE_BLOCK_BYTES
    from lightfm.evaluation import precision_at_k

    n_users, n_items = 2000, 20_000
    rng = np.random.default_rng(0)
    pairs = (np.arange(n_users), rng.integers(0, n_items, n_users))
    test = sp.csr_matrix((np.ones(n_users, np.float32), pairs), shape=(n_users, n_items))
    model = LightFM(no_components=8, random_state=0).fit(test, epochs=1)
    precision_at_k(model, test, num_threads=8)  # compiles outside the measurement
    peak = _traced_peak(lambda: precision_at_k(model, test, num_threads=8))
    # Eight threads hold about SCORE_BLOCK_BYTES of scores together, twice that at most (4 MB each),
    # not SCORE_BLOCK_BYTES each (128 MB).
    assert peak < 2 * SCORE_BLOCK_BYTES + n_items * 40 * 4
