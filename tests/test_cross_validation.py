import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from lightfm.cross_validation import random_train_test_split


@settings(max_examples=30, deadline=None)
@given(density=st.floats(0.0, 1.0), fraction=st.floats(0.0, 1.0), seed=st.integers(0, 1000))
def test_split_is_disjoint_complete_and_reproducible(density, fraction, seed):
    interactions = sp.random(15, 12, density=density, format="coo", random_state=seed, dtype=np.float32)
    train, test = random_train_test_split(interactions, test_percentage=fraction, random_state=seed)
    assert train.shape == test.shape == interactions.shape
    assert train.dtype == interactions.dtype
    assert train.nnz + test.nnz == interactions.nnz
    assert train.multiply(test).nnz == 0
    assert abs((train + test) - interactions).sum() == pytest.approx(0.0, abs=1e-5)
    assert test.nnz == interactions.nnz - int((1.0 - fraction) * interactions.nnz)
    again, _ = random_train_test_split(interactions, test_percentage=fraction, random_state=seed)
    assert (again != train).nnz == 0


@pytest.mark.parametrize("bad", [-0.1, 1.5])
def test_invalid_percentage(bad):
    with pytest.raises(ValueError, match="test_percentage"):
        random_train_test_split(sp.coo_matrix(np.eye(3)), test_percentage=bad)


def test_dense_input_refused():
    with pytest.raises(ValueError, match="sparse"):
        random_train_test_split(np.eye(3))
