import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

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


# -- DataFrames ------------------------------------------------------------------


def _same(a, b):
    assert a.shape == b.shape and a.dtype == b.dtype
    assert abs(sp.csr_matrix(a) - sp.csr_matrix(b)).sum() == pytest.approx(0.0, abs=1e-6)


def _long_features(seed, n_ids=12, n_features=6, rows=40):
    rs = np.random.RandomState(seed)
    ids = rs.choice([f"i{n}" for n in range(n_ids)], rows)
    names = rs.choice([f"f{n}" for n in range(n_features)], rows)
    weights = rs.rand(rows) + 0.1
    return ids, names, weights


def _pairs_from_long(ids, names, weights=None):
    """The tuple path's input for the same features: one (id, {feature: weight}) pair per row."""
    if weights is None:
        return [(i, [f]) for i, f in zip(ids.tolist(), names.tolist(), strict=True)]
    return [(i, {f: w}) for i, f, w in zip(ids.tolist(), names.tolist(), weights.tolist(), strict=True)]


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), identity=st.booleans(), normalize=st.booleans())
def test_long_feature_frames_equal_the_pairs(seed, identity, normalize):
    ids, names, weights = _long_features(seed)
    dataset = Dataset(user_identity_features=identity, item_identity_features=identity)
    dataset.fit(users=ids, items=ids, user_features=names, item_features=names)
    frame = pd.DataFrame({"id": ids, "feature": names, "weight": weights})
    for build in (dataset.build_item_features, dataset.build_user_features):
        weighted = build(_pairs_from_long(ids, names, weights), normalize=normalize)
        _same(build(frame, normalize=normalize), weighted)  # by position: id, feature, weight
        _same(build(frame[["id", "feature"]], normalize=normalize), build(_pairs_from_long(ids, names), normalize))
    # Columns by name, in any order, with unrelated columns beside them.
    shuffled = frame.assign(other=1)[["other", "weight", "feature", "id"]]
    named = dataset.build_item_features(shuffled, False, item_col="id", feature_col="feature", weight_col="weight")
    _same(named, dataset.build_item_features(frame, normalize=False))
    unweighted = dataset.build_user_features(shuffled, False, user_col="id", feature_col="feature")
    _same(unweighted, dataset.build_user_features(frame[["id", "feature"]], normalize=False))


def test_rows_of_one_id_combine_and_repeats_add_up():
    frame = pd.DataFrame({"movie": [7, 7, 7, 8], "genre": ["war", "drama", "war", "comedy"], "w": [1.0, 2.0, 3.0, 5.0]})
    dataset = Dataset(item_identity_features=False)
    dataset.fit(["u"], frame["movie"], item_features=frame["genre"])
    assert dataset.mapping()[3] == {"war": 0, "drama": 1, "comedy": 2}
    matrix = dataset.build_item_features(frame, normalize=False)
    np.testing.assert_allclose(matrix.toarray(), [[4.0, 2.0, 0.0], [0.0, 0.0, 5.0]])
    as_pairs = dataset.build_item_features(
        [(7, {"war": 1.0, "drama": 2.0}), (7, {"war": 3.0}), (8, {"comedy": 5.0})], False
    )
    _same(matrix, as_pairs)


def test_wide_frames_with_a_list_per_row_read_like_pairs():
    pairs = [("a", ["x", "y"]), ("b", {"y": 2.0}), ("c", [])]
    dataset = Dataset()
    dataset.fit(["u"], ["a", "b", "c"], item_features=["x", "y"])
    frame = pd.DataFrame({"item": [p[0] for p in pairs], "features": [p[1] for p in pairs]})
    _same(dataset.build_item_features(frame), dataset.build_item_features(pairs))
    with pytest.raises(ValueError, match="no weight column"):
        dataset.build_item_features(frame.assign(w=1.0))


def test_feature_frames_are_refused_with_the_fix():
    dataset = Dataset()
    dataset.fit(["u"], ["a", "b"], item_features=["x"])
    with pytest.raises(ValueError, match="4 columns.*item_col, feature_col, weight_col"):
        dataset.build_item_features(pd.DataFrame({"i": ["a"], "f": ["x"], "w": [1.0], "t": [0]}))
    with pytest.raises(ValueError, match="feature_col is missing"):
        dataset.build_item_features(pd.DataFrame({"i": ["a"], "f": ["x"]}), item_col="i")
    with pytest.raises(ValueError, match="feature column \\('f'\\) has 1 missing"):
        dataset.build_item_features(pd.DataFrame({"i": ["a", "b"], "f": ["x", None]}))
    with pytest.raises(ValueError, match="weight column \\('w'\\) holds"):
        dataset.build_item_features(pd.DataFrame({"i": ["a"], "f": ["x"], "w": ["heavy"]}))
    with pytest.raises(ValueError, match="Item feature 'z'"):
        dataset.build_item_features(pd.DataFrame({"i": ["a"], "f": ["z"]}))
    with pytest.raises(ValueError, match="feature_col='nope'"):
        dataset.build_item_features(pd.DataFrame({"i": ["a"], "f": ["x"]}), item_col="i", feature_col="nope")
    with pytest.raises(ValueError, match="Expected tuples of \\(item_id, features\\)"):
        dataset.build_item_features(["ab"])


def test_interaction_frames_by_position_equal_tuples():
    rs = np.random.RandomState(3)
    frame = pd.DataFrame({"u": rs.randint(0, 9, 60), "i": rs.choice(list("abcdef"), 60), "r": rs.rand(60)})
    dataset = Dataset()
    dataset.fit(frame["u"], frame["i"])
    weighted = dataset.build_interactions(frame.itertuples(index=False, name=None))
    for a, b in zip(dataset.build_interactions(frame, "u", "i", weight_col="r"), weighted, strict=True):
        _same(a, b)
        assert a.dtype == b.dtype
    # A third column is a weight only when named: a timestamp read as weights would be silently wrong.
    with pytest.raises(ValueError, match="3 columns.*never taken as weights by position"):
        dataset.build_interactions(frame.assign(r=1_700_000_000))
    unweighted = dataset.build_interactions(frame[["u", "i"]].itertuples(index=False, name=None))
    for a, b in zip(dataset.build_interactions(frame[["u", "i"]]), unweighted, strict=True):
        _same(a, b)
    # Named columns, weight left out: every weight is 1 (as before positional columns existed).
    for a, b in zip(dataset.build_interactions(frame, user_col="u", item_col="i"), unweighted, strict=True):
        _same(a, b)
    with pytest.raises(ValueError, match="4 columns"):
        dataset.build_interactions(frame.assign(t=0))
    with pytest.raises(ValueError, match="item_col is missing"):
        dataset.build_interactions(frame, user_col="u")
    with pytest.raises(ValueError, match="weight column \\('t'\\) holds"):
        dataset.build_interactions(frame[["u", "i"]].assign(t="late"), "u", "i", weight_col="t")
    with pytest.raises(ValueError, match="user column \\('u'\\) has 1 missing"):
        dataset.build_interactions(pd.DataFrame({"u": [1.0, np.nan], "i": ["a", "b"]}))


def test_polars_feature_frames_match_pairs():
    pl = pytest.importorskip("polars")
    ids, names, weights = _long_features(5)
    dataset = Dataset()
    dataset.fit(["u"], pl.Series(ids), item_features=pl.Series(names))
    frame = pl.DataFrame({"id": ids, "feature": names, "weight": weights})
    _same(dataset.build_item_features(frame), dataset.build_item_features(_pairs_from_long(ids, names, weights)))


def test_fit_takes_series_and_one_column_frames_and_refuses_wider_ones():
    frame = pd.DataFrame({"user": ["b", "a", "b"], "item": [3, 1, 3], "genre": ["x", "y", "x"]})
    dataset = Dataset()
    dataset.fit(frame["user"], frame[["item"]], item_features=frame["genre"])
    assert dataset.mapping()[0] == {"b": 0, "a": 1}
    assert dataset.mapping()[2] == {3: 0, 1: 1}
    assert list(dataset.mapping()[3]) == [3, 1, "x", "y"]
    with pytest.raises(
        ValueError, match="items is a DataFrame with 2 columns; pass one column, e.g. items=frame\\['item'\\]"
    ):
        dataset.fit(frame["user"], frame[["item", "genre"]])


# -- ids and indices ----------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(
    ids=st.lists(st.one_of(st.integers(-5, 50), st.text(max_size=3)), min_size=1, max_size=20, unique=True),
    data=st.data(),
)
def test_indices_and_ids_round_trip(ids, data):
    dataset = Dataset()
    dataset.fit(ids, ids)
    mapping = dataset.mapping()[2]
    positions = data.draw(st.lists(st.integers(0, len(ids) - 1), max_size=15))
    found = dataset.item_ids(positions)
    inverse = {index: key for key, index in mapping.items()}
    assert found.shape == (len(positions),)
    assert [x.item() if isinstance(x, np.generic) else x for x in found.tolist()] == [inverse[p] for p in positions]
    assert dataset.item_index(found).tolist() == positions
    assert dataset.user_index(list(ids)).tolist() == list(range(len(ids)))
    for position in positions:
        value = dataset.user_ids(position)
        assert value == inverse[position] and type(value) is type(inverse[position])
        assert dataset.user_index(value) == position


def test_ids_keep_the_indices_shape_and_follow_fit_partial():
    dataset = Dataset()
    dataset.fit(["ann", "bob"], [10, 20, 30])
    top = np.array([[2, 0], [1, 2]])
    assert dataset.item_ids(top).tolist() == [[30, 10], [20, 30]]
    assert dataset.item_index(dataset.item_ids(top)).tolist() == top.tolist()
    assert dataset.item_ids([]).shape == (0,) and dataset.item_index([]).shape == (0,)
    assert dataset.user_index(pd.Series(["bob", "ann"])).tolist() == [1, 0]
    dataset.fit_partial(users=["cy"], items=[5])
    assert dataset.user_ids().tolist() == ["ann", "bob", "cy"] and dataset.item_ids(3) == 5
    assert dataset.item_index(5) == 3
    dataset.fit(["zed"], [1])
    assert dataset.user_ids().tolist() == ["zed"] and dataset.item_index([1]).tolist() == [0]
    restored = Dataset.from_json(dataset.to_json())
    assert restored.user_ids(0) == "zed"
    import pickle

    unpickled = pickle.loads(pickle.dumps(dataset))
    assert unpickled.item_ids([0]).tolist() == [1] and unpickled.mapping() == dataset.mapping()


@pytest.mark.parametrize(
    "indices, message",
    [
        (3, "indices contains 3, but the dataset has 3 items \\(valid: 0 to 2\\)"),
        ([0, -1], "indices contains -1"),
        (1.0, "integer item indices"),
        ([0.0, 1.0], "array of float64; convert it with .astype\\(int\\)"),
        ([True], "array of bool"),
        ("a", "integer item indices"),
    ],
)
def test_unknown_indices_are_refused(indices, message):
    dataset = Dataset()
    dataset.fit(["u"], ["a", "b", "c"])
    with pytest.raises(ValueError, match=message):
        dataset.item_ids(indices)


def test_unknown_ids_are_refused():
    dataset = Dataset()
    dataset.fit(["u"], ["a", 1])
    with pytest.raises(
        ValueError, match="ids contains 'z', which is not one of this dataset's item ids.*fit_partial\\(items="
    ):
        dataset.item_index(["a", "z"])
    with pytest.raises(ValueError, match="ids contains '1'"):
        dataset.item_index("1")  # ids keep their types: the string is not the integer
    with pytest.raises(ValueError, match="rows of equal length"):
        dataset.user_index([["u"], ["u", "u"]])
    with pytest.raises(ValueError, match="unhashable"):
        dataset.user_index({"u"})
    with pytest.raises(ValueError, match="call fit first"):
        Dataset().user_ids([0])
