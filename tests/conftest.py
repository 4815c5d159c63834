import os
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

REPO = Path(__file__).resolve().parents[1]


def movielens_home():
    """Folder holding movielens100k/movielens.zip, or None (a new user's clone)."""
    candidates = [os.environ.get("LIGHTFM_DATA_HOME"), REPO.parent / "shared" / "data"]
    for candidate in candidates:
        if candidate and (Path(candidate) / "movielens100k" / "movielens.zip").is_file():
            return str(candidate)
    return None


@pytest.fixture(scope="session")
def movielens():
    home = movielens_home()
    if home is None:
        pytest.skip("MovieLens 100k not found (set LIGHTFM_DATA_HOME)")
    from lightfm.datasets import fetch_movielens

    return fetch_movielens(data_home=home, min_rating=4.0, download_if_missing=False)


@pytest.fixture(scope="session")
def movielens_genres():
    """MovieLens 100k with identity + genre item features."""
    home = movielens_home()
    if home is None:
        pytest.skip("MovieLens 100k not found (set LIGHTFM_DATA_HOME)")
    from lightfm.datasets import fetch_movielens

    return fetch_movielens(data_home=home, min_rating=4.0, genre_features=True, download_if_missing=False)


@pytest.fixture(scope="session")
def signed_movielens():
    """The original's MovieLens configuration: every rating stored, >= 4 as +1, the rest as -1."""
    home = movielens_home()
    if home is None:
        pytest.skip("MovieLens 100k not found (set LIGHTFM_DATA_HOME)")
    from lightfm.datasets import fetch_movielens

    data = fetch_movielens(data_home=home, download_if_missing=False)

    def signed(matrix):
        matrix = matrix.astype(np.float32)
        matrix.data = np.where(matrix.data >= 4, 1.0, -1.0).astype(np.float32)
        return matrix

    return signed(data["train"]), signed(data["test"])


def checkerboard(n_users=60, n_items=40, density=0.5, seed=0, negatives=False):
    """Two user groups, each liking one half of the items; returns (train, test) COO.

    With ``negatives``, train also stores explicit zeros (logistic negatives) for
    a sample of the pairs users do not like.
    """
    rs = np.random.RandomState(seed)
    user_group = np.arange(n_users) % 2
    item_group = np.arange(n_items) % 2
    liked = user_group[:, None] == item_group[None, :]
    mask = liked & (rs.rand(n_users, n_items) < density)
    test_mask = mask & (rs.rand(n_users, n_items) < 0.3)
    train = sp.coo_matrix((mask & ~test_mask).astype(np.float32))
    test = sp.coo_matrix(test_mask.astype(np.float32))
    if negatives:
        rows, cols = np.nonzero(~liked & (rs.rand(n_users, n_items) < density))
        train = sp.coo_matrix(
            (np.concatenate([train.data, np.zeros(rows.size, dtype=np.float32)]),
             (np.concatenate([train.row, rows]), np.concatenate([train.col, cols]))),
            shape=train.shape,
        )  # fmt: skip
    return train, test


@pytest.fixture
def board():
    return checkerboard()


def zero_model(n_users, n_items):
    """A fitted-shape model whose every score is 0: all items tie."""
    from lightfm import LightFM

    model = LightFM(random_state=0).fit(sp.coo_matrix(np.ones((n_users, n_items))), epochs=0)
    for name in ("user_embeddings", "item_embeddings", "user_biases", "item_biases"):
        getattr(model, name)[:] = 0
    return model
