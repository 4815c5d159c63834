import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from lightfm.data import Dataset


def test_fit_builds_mappings_with_identity_features_first():
    dataset = Dataset()
    dataset.fit(["u1", "u2"], ["i1", "i2", "i3"], user_features=["young"], item_features=["red", "blue"])
    users, user_features, items, item_features = dataset.mapping()
    assert users == {"u1": 0, "u2": 1} and items == {"i1": 0, "i2": 1, "i3": 2}
    assert user_features == {"u1": 0, "u2": 1, "young": 2}
    assert item_features == {"i1": 0, "i2": 1, "i3": 2, "red": 3, "blue": 4}
    assert dataset.interactions_shape() == (2, 3)
    assert dataset.user_features_shape() == (2, 3) and dataset.item_features_shape() == (3, 5)
    assert dataset.model_dimensions() == (3, 5)


def test_fit_partial_keeps_existing_indices_and_fit_resets():
    dataset = Dataset(user_identity_features=False)
    dataset.fit(["a", "b"], ["x"])
    dataset.fit_partial(users=["c", "a"], item_features=["f"])
    users, user_features, items, item_features = dataset.mapping()
    assert users == {"a": 0, "b": 1, "c": 2} and user_features == {}
    assert item_features == {"x": 0, "f": 1}
    dataset.fit(["z"], ["x"])
    assert dataset.mapping()[0] == {"z": 0}


def test_build_interactions_from_tuples():
    dataset = Dataset()
    dataset.fit([1, 2, 3], ["a", "b"])
    interactions, weights = dataset.build_interactions([(1, "a"), (3, "b", 2.5), (1, "a")])
    assert interactions.dtype == np.int32 and weights.dtype == np.float32
    assert interactions.shape == (3, 2) and interactions.nnz == 3  # repeats are kept
    np.testing.assert_array_equal(interactions.row, weights.row)
    np.testing.assert_array_equal(interactions.col, weights.col)
    np.testing.assert_array_equal(weights.data, [1.0, 2.5, 1.0])
    with pytest.raises(ValueError, match="User id 9"):
        dataset.build_interactions([(9, "a")])
    with pytest.raises(ValueError, match="Item id 'zz'"):
        dataset.build_interactions([(1, "zz")])
    with pytest.raises(ValueError, match="Expecting tuples"):
        dataset.build_interactions([(1,)])


def test_build_interactions_from_frames_matches_tuples():
    rs = np.random.RandomState(0)
    frame = pd.DataFrame(
        {"user": rs.randint(0, 50, 500), "item": rs.choice(["a", "b", "c", "d"], 500), "w": rs.rand(500)}
    )
    dataset = Dataset()
    dataset.fit(frame["user"], frame["item"])
    from_frame = dataset.build_interactions(frame, user_col="user", item_col="item", weight_col="w")
    from_tuples = dataset.build_interactions(frame[["user", "item", "w"]].itertuples(index=False, name=None))
    for a, b in zip(from_frame, from_tuples, strict=True):
        assert (a != b).nnz == 0
    from_arrays = dataset.build_interactions(zip(frame["user"].to_numpy(), frame["item"].to_numpy(), strict=True))
    assert (from_arrays[0] != from_tuples[0]).nnz == 0
    with pytest.raises(ValueError, match="user_col"):
        dataset.build_interactions(frame, user_col="nope", item_col="item")


def test_build_features_normalised_with_identity():
    dataset = Dataset()
    dataset.fit(["u"], ["i1", "i2"], item_features=["red", "blue"])
    features = dataset.build_item_features([("i1", ["red", "blue"]), ("i2", {"blue": 3.0})])
    assert features.dtype == np.float32 and sp.isspmatrix_csr(features)
    np.testing.assert_allclose(features.toarray(), [[1 / 3, 0, 1 / 3, 1 / 3], [0, 0.25, 0, 0.75]], rtol=1e-6)
    raw = dataset.build_item_features([("i2", {"blue": 3.0})], normalize=False)
    np.testing.assert_allclose(raw.toarray(), [[1, 0, 0, 0], [0, 1, 0, 3]])
    with pytest.raises(ValueError, match="feature 'green'"):
        dataset.build_item_features([("i1", ["green"])])
    with pytest.raises(ValueError, match="Item id 'i9'"):
        dataset.build_item_features([("i9", ["red"])])


def test_normalising_empty_rows_fails():
    dataset = Dataset(user_identity_features=False)
    dataset.fit(["u1", "u2"], ["i"], user_features=["f"])
    with pytest.raises(ValueError, match="zero norm"):
        dataset.build_user_features([("u1", ["f"])])


def test_build_before_fit_fails():
    with pytest.raises(ValueError, match="fit first"):
        Dataset().build_interactions([(1, 2)])


def test_mixed_type_ids_keep_their_types():
    """Regression: a list of ids like ["film", 7] was turned into strings ("7") by NumPy."""
    dataset = Dataset()
    dataset.fit(["alice", 2], ["film", 7])
    assert list(dataset.mapping()[2]) == ["film", 7]
    interactions, _ = dataset.build_interactions([("alice", 7), (2, "film")])
    assert interactions.toarray().tolist() == [[0, 1], [1, 0]]


def test_polars_frames_and_series_match_tuples():
    pl = pytest.importorskip("polars")
    rs = np.random.RandomState(1)
    users, items, weights = rs.randint(0, 30, 300), rs.choice(["x", "y", "z"], 300), rs.rand(300)
    frame = pl.DataFrame({"user": users, "item": items, "w": weights})
    dataset = Dataset()
    dataset.fit(frame["user"], frame["item"])  # polars Series
    assert dataset.mapping()[0] == {int(u): i for i, u in enumerate(dict.fromkeys(users.tolist()))}
    from_frame = dataset.build_interactions(frame, user_col="user", item_col="item", weight_col="w")
    from_tuples = dataset.build_interactions(zip(users.tolist(), items.tolist(), weights.tolist(), strict=True))
    for a, b in zip(from_frame, from_tuples, strict=True):
        assert (a != b).nnz == 0
    with pytest.raises(ValueError, match="weight_col='nope'"):
        dataset.build_interactions(frame, user_col="user", item_col="item", weight_col="nope")
