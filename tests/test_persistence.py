"""Saving and loading models and datasets: round trips, atomic writes, and every corruption refused."""

import json
import os
import pickle

import numpy as np
import pytest
import scipy.sparse as sp

import lightfm._persistence as persistence
from lightfm import LightFM
from lightfm.data import Dataset

from .conftest import checkerboard

PARAMETER_NAMES = [
    f"{side}_{name}"
    for side in ("item", "user")
    for name in (
        "embeddings",
        "embedding_gradients",
        "embedding_momentum",
        "biases",
        "bias_gradients",
        "bias_momentum",
    )
]


def assert_same_model(a, b):
    assert a.get_params().keys() == b.get_params().keys()
    for name, value in a.get_params().items():
        if name != "random_state":
            assert getattr(b, name) == value
    for name in PARAMETER_NAMES:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
        assert getattr(b, name).dtype == np.float32


@pytest.mark.parametrize("loss", ["logistic", "bpr", "warp", "warp-kos"])
@pytest.mark.parametrize("schedule", ["adagrad", "adadelta"])
def test_round_trip_is_bit_for_bit(tmp_path, loss, schedule):
    train, test = checkerboard(n_users=30, n_items=20)
    model = LightFM(
        no_components=4, loss=loss, learning_schedule=schedule, item_alpha=1e-4, user_alpha=1e-4, random_state=7
    )
    model.fit(train, epochs=2)
    path = tmp_path / "model.npz"
    model.save(path)
    restored = LightFM.load(path)
    assert_same_model(model, restored)
    users, items = np.nonzero(np.ones(train.shape))
    np.testing.assert_array_equal(model.predict(users, items), restored.predict(users, items))
    # The random state travels too: further training stays identical.
    model.fit_partial(train, epochs=1)
    restored.fit_partial(train, epochs=1)
    assert_same_model(model, restored)


def test_unfitted_model_round_trip(tmp_path):
    model = LightFM(no_components=3, loss="bpr", learning_rate=0.1, random_state=np.random.RandomState(5))
    model.save(tmp_path / "m.npz")
    restored = LightFM.load(tmp_path / "m.npz")
    assert restored.item_embeddings is None and restored.loss == "bpr" and restored.learning_rate == 0.1
    train, _ = checkerboard(n_users=10, n_items=8)
    assert_same_model(model.fit(train), restored.fit(train))


def test_numpy_scalar_hyperparameters_are_saved(tmp_path):
    model = LightFM(no_components=np.int64(3), learning_rate=np.float32(0.25))
    model.save(tmp_path / "m.npz")
    restored = LightFM.load(tmp_path / "m.npz")
    assert restored.no_components == 3 and restored.learning_rate == pytest.approx(0.25)


def test_invalid_hyperparameters_are_not_saved(tmp_path):
    model = LightFM(loss="warp")
    model.max_sampled = 0  # assigned directly, bypassing validation
    with pytest.raises(ValueError, match="max_sampled"):
        model.save(tmp_path / "m.npz")
    assert not os.listdir(tmp_path)


def test_save_is_atomic(tmp_path, monkeypatch):
    train, _ = checkerboard(n_users=10, n_items=8)
    path = tmp_path / "model.npz"
    first = LightFM(random_state=0).fit(train)
    first.save(path)

    def crash(file, **arrays):
        file.write(b"PK\x03\x04 half a model")
        raise KeyboardInterrupt

    monkeypatch.setattr(persistence.np, "savez", crash)
    with pytest.raises(KeyboardInterrupt):
        LightFM(random_state=1).fit(train).save(path)
    monkeypatch.undo()
    assert os.listdir(tmp_path) == ["model.npz"], "no temporary file may be left behind"
    assert_same_model(first, LightFM.load(path))


# -- corruption -------------------------------------------------------------------


@pytest.fixture
def saved(tmp_path):
    train, _ = checkerboard(n_users=12, n_items=9)
    path = tmp_path / "model.npz"
    LightFM(no_components=4, random_state=0).fit(train).save(path)
    return path


def rewrite(path, change):
    """Re-save the file's arrays after ``change(arrays)`` (a tampered file)."""
    with np.load(path, allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    change(arrays)
    with open(path, "wb") as file:
        np.savez(file, **arrays)


def set_metadata(arrays, update):
    metadata = json.loads(str(arrays["metadata"]))
    update(metadata)
    arrays["metadata"] = np.array(json.dumps(metadata))


class Exploit:
    def __reduce__(self):
        return (os.system, ("echo pwned > pwned.txt",))


@pytest.mark.parametrize(
    "corrupt, message",
    [
        (lambda p: p.write_text("not a model"), "not an .npz archive"),
        (lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2]), "truncated or corrupt"),
        (lambda p: np.savez(p.open("wb"), weights=np.ones(3)), "not a LightFM model file"),
        (lambda p: rewrite(p, lambda a: a.pop("item_biases")), "missing the array 'item_biases'"),
        (
            lambda p: rewrite(p, lambda a: a.__setitem__("user_embeddings", a["user_embeddings"][:, :2])),
            r"'user_embeddings' has shape \(12, 2\), expected \(any, 4\)",
        ),
        (
            lambda p: rewrite(p, lambda a: a.__setitem__("item_biases", a["item_biases"][:-1])),
            r"'item_biases' has shape \(8,\), expected \(9,\)",
        ),
        (
            lambda p: rewrite(p, lambda a: a.__setitem__("item_embeddings", a["item_embeddings"].astype(np.float64))),
            "'item_embeddings' has dtype float64, expected float32",
        ),
        (lambda p: rewrite(p, lambda a: a.__setitem__("format_version", np.array(2))), "format version 2"),
        (lambda p: rewrite(p, lambda a: a.__setitem__("metadata", np.array("{oops"))), "not valid JSON"),
        (
            lambda p: rewrite(p, lambda a: set_metadata(a, lambda m: m["hyperparameters"].update(loss="hinge"))),
            "invalid hyperparameters.*loss",
        ),
        (
            lambda p: rewrite(p, lambda a: set_metadata(a, lambda m: m["hyperparameters"].pop("rho"))),
            "must hold the hyperparameters",
        ),
        (
            lambda p: rewrite(p, lambda a: set_metadata(a, lambda m: m["random_state"].update(position=9999))),
            "random state",
        ),
        (
            lambda p: rewrite(p, lambda a: a["user_biases"].__setitem__(0, np.nan)),
            "'user_biases' holds non-finite values",
        ),
        (
            lambda p: rewrite(p, lambda a: a["item_bias_gradients"].__setitem__(0, -1.0)),
            "'item_bias_gradients' holds negative accumulators",
        ),
        (
            lambda p: rewrite(p, lambda a: a.__setitem__("user_biases", np.array([Exploit()], dtype=object))),
            "'user_biases' is corrupt",
        ),
    ],
    ids=[
        "text",
        "truncated",
        "foreign",
        "missing",
        "components",
        "rows",
        "dtype",
        "version",
        "json",
        "hyperparameter",
        "missing-hyperparameter",
        "random-state",
        "nan",
        "negative-accumulator",
        "pickle",
    ],
)
def test_corrupt_files_give_clear_errors(saved, corrupt, message, monkeypatch):
    monkeypatch.chdir(saved.parent)
    corrupt(saved)
    with pytest.raises(ValueError, match=message):
        LightFM.load(saved)
    assert not (saved.parent / "pwned.txt").exists()


def test_flipped_byte_is_detected(saved):
    data = bytearray(saved.read_bytes())
    with np.load(saved) as archive:
        target = archive["user_embeddings"].tobytes()
    offset = bytes(data).index(target[:16])
    data[offset + 3] ^= 0xFF
    saved.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="corrupt"):
        LightFM.load(saved)


def test_missing_file_is_an_os_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        LightFM.load(tmp_path / "absent.npz")


# -- datasets ---------------------------------------------------------------------


def fitted_dataset():
    dataset = Dataset(item_identity_features=False)
    dataset.fit(["alice", 2, 3.5, True], ["film", "book", 7], user_features=["age:30", 1], item_features=["genre:x"])
    return dataset


def test_dataset_json_round_trip(tmp_path):
    dataset = fitted_dataset()
    path = tmp_path / "dataset.json"
    dataset.save(path)
    restored = Dataset.load(path)
    assert restored.mapping() == dataset.mapping()
    for original, loaded in zip(dataset.mapping(), restored.mapping(), strict=True):
        assert [type(key) for key in original] == [type(key) for key in loaded]
    assert restored.model_dimensions() == dataset.model_dimensions()
    features = restored.build_item_features([("film", ["genre:x"])], normalize=False)
    assert features.shape == (3, 1)  # item identity features stayed off


def test_dataset_travels_inside_the_model_file(tmp_path):
    dataset = fitted_dataset()
    interactions, _ = dataset.build_interactions([("alice", "film"), (2, 7)])
    path = tmp_path / "model.npz"
    LightFM(random_state=0).fit(interactions).save(path, dataset=dataset)
    assert Dataset.load(path).mapping() == dataset.mapping()
    assert LightFM.load(path).user_embeddings.shape[0] == 4
    LightFM(random_state=0).fit(interactions).save(path)
    with pytest.raises(ValueError, match="without a dataset"):
        Dataset.load(path)


def test_dataset_with_unsaveable_ids_is_refused(tmp_path):
    dataset = Dataset()
    dataset.fit([("tuple", "id")], ["item"])
    with pytest.raises(TypeError, match="tuple"):
        dataset.save(tmp_path / "d.json")
    assert not os.listdir(tmp_path)


@pytest.mark.parametrize(
    "text, message",
    [
        ("[1, 2", "invalid JSON"),
        ("{}", "marker"),
        (json.dumps({"format": "lightfm-ng dataset", "format_version": 9}), "version 9"),
        (
            json.dumps({"format": "lightfm-ng dataset", "format_version": 1, "user_ids": [1, 1]}),
            "user_ids",
        ),
    ],
)
def test_bad_dataset_files(tmp_path, text, message):
    path = tmp_path / "d.json"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        Dataset.load(path)


def test_pickle_still_works():
    train, _ = checkerboard(n_users=10, n_items=8)
    model = LightFM(random_state=0).fit(train)
    assert_same_model(model, pickle.loads(pickle.dumps(model)))


def test_matrices_travel_with_the_model(tmp_path):
    train, _ = checkerboard(n_users=12, n_items=9)
    user_features = sp.random(12, 5, density=0.4, format="csr", random_state=0) + sp.identity(12, format="csr")[:, :5]
    model = LightFM(random_state=0).fit(train, user_features=user_features)
    path = tmp_path / "model.npz"
    model.save(path, user_features=user_features, interactions=train)
    matrices = LightFM.load_matrices(path)
    assert sorted(matrices) == ["interactions", "user_features"]
    assert (matrices["user_features"] != sp.csr_matrix(user_features, dtype=np.float32)).nnz == 0
    assert (matrices["interactions"] != sp.csr_matrix(train, dtype=np.float32)).nnz == 0
    restored = LightFM.load(path)
    items, _ = restored.recommend(0, n=3, exclude=matrices["interactions"], user_features=matrices["user_features"])
    assert sp.csr_matrix(train)[0, items].nnz == 0
    with pytest.raises(ValueError, match="Incorrect number of features in item_features"):
        model.save(path, item_features=sp.identity(4, format="csr"))


def test_malformed_saved_matrix(tmp_path):
    train, _ = checkerboard(n_users=12, n_items=9)
    path = tmp_path / "model.npz"
    LightFM(random_state=0).fit(train).save(path, interactions=train)
    rewrite(path, lambda a: a["interactions_indices"].__setitem__(0, 99))
    with pytest.raises(ValueError, match="'interactions' is malformed"):
        LightFM.load_matrices(path)


def test_the_device_is_not_saved(tmp_path):
    """A model trained with device="cuda" loads on any machine as a CPU model: the device is where a
    process computes, not part of the model (files from before the GPU engine have no device either)."""
    train, _ = checkerboard(n_users=10, n_items=8)
    model = LightFM(no_components=3, random_state=0).fit(train)
    model.set_params(device="cuda")  # choosing the engine needs no GPU; using it would
    model.save(tmp_path / "m.npz")
    metadata = json.loads(str(np.load(tmp_path / "m.npz")["metadata"]))
    assert "device" not in metadata["hyperparameters"]
    restored = LightFM.load(tmp_path / "m.npz")
    assert restored.device == "cpu"
    np.testing.assert_array_equal(restored.item_embeddings, model.item_embeddings)


# -- one call: a loaded model serves as the saved one did ----------------------------------------


def hybrid(n_users=16, n_items=10, seed=0):
    """A model fit with [identity | tags] features on both sides, and its interactions and features."""
    train = sp.random(n_users, n_items, density=0.35, format="csr", random_state=seed)
    train.data[:] = 1.0
    tags = sp.random(n_items, 4, density=0.5, format="csr", random_state=seed + 1)
    item_features = sp.hstack([sp.identity(n_items), tags], format="csr")
    user_features = sp.hstack([sp.identity(n_users), sp.random(n_users, 2, density=0.5, random_state=seed + 2)])
    user_features = user_features.tocsr()
    model = LightFM(loss="warp", no_components=4, random_state=seed)
    model.fit(train, user_features=user_features, item_features=item_features, epochs=3)
    return model, train, user_features, item_features


def serving(model, n_users=16, n_items=10):
    """Everything a model serves without feature arguments."""
    return (
        *model.recommend(np.arange(n_users), n=n_items),
        *model.similar_items(np.arange(n_items), n=3),
        *model.similar_users(np.arange(n_users), n=3),
    )


def test_a_loaded_model_serves_with_the_features_it_was_fit_with(tmp_path):
    model, train, user_features, item_features = hybrid()
    path = tmp_path / "model.npz"
    model.save(path)
    restored = LightFM.load(path)
    for got, expected in zip(serving(restored), serving(model), strict=True):
        np.testing.assert_array_equal(got, expected)
    # The same results as passing the features explicitly (to the in-memory model).
    explicit = model.recommend(np.arange(16), n=10, user_features=user_features, item_features=item_features)
    np.testing.assert_array_equal(serving(restored)[0], explicit[0])
    matrices = LightFM.load_matrices(path)
    assert sorted(matrices) == ["item_features", "user_features"]
    assert (matrices["item_features"] != sp.csr_matrix(item_features, dtype=np.float32)).nnz == 0


def test_features_given_to_save_are_the_ones_the_loaded_model_serves_with(tmp_path):
    """Saved with one more (cold) item row: the loaded model recommends and compares 11 items."""
    model, _, user_features, item_features = hybrid()
    cold = sp.csr_matrix(([1.0, 1.0], ([0, 0], [10, 12])), shape=(1, 14))
    with_cold = sp.vstack([item_features, cold]).tocsr()
    path = tmp_path / "model.npz"
    model.save(path, item_features=with_cold)
    restored = LightFM.load(path)
    items, scores = restored.recommend(np.arange(16), n=20)
    expected = model.recommend(np.arange(16), n=20, item_features=with_cold)
    assert items.shape == (16, 11)
    np.testing.assert_array_equal(items, expected[0])
    np.testing.assert_array_equal(scores, expected[1])
    assert restored.similar_items(10, n=3)[0].max() < 11
    # The user side was not given: the one it was fit with.
    np.testing.assert_array_equal(restored.similar_users(0)[0], model.similar_users(0)[0])


def test_a_file_without_the_fit_features_refuses_to_serve_without_them(tmp_path):
    model, _, user_features, item_features = hybrid()
    path = tmp_path / "model.npz"
    model.save(path)

    def drop_item_features(arrays):
        for part in ("indptr", "indices", "data", "shape"):
            del arrays[f"item_features_{part}"]

    rewrite(path, drop_item_features)
    restored = LightFM.load(path)
    with pytest.raises(ValueError, match=r"fit with item_features, which it does not hold.*pass item_features="):
        restored.recommend(0)
    with pytest.raises(ValueError, match="pass item_features= to similar_items"):
        restored.similar_items(0)
    np.testing.assert_array_equal(
        restored.recommend(0, item_features=item_features)[0], model.recommend(0, item_features=item_features)[0]
    )
    np.testing.assert_array_equal(restored.similar_users(0)[0], model.similar_users(0)[0])


def test_files_of_earlier_versions_load_with_unknown_fit_inputs(tmp_path):
    """No record of how the model was fit: served with the identity default, as those versions did."""
    model, _, _, _ = hybrid()
    path = tmp_path / "model.npz"
    model.save(path)

    def earlier(arrays):
        set_metadata(arrays, lambda metadata: [metadata.pop(key) for key in ("fit_inputs", "initial_random_state")])
        for name in ("item_features", "user_features"):
            for part in ("indptr", "indices", "data", "shape"):
                del arrays[f"{name}_{part}"]

    rewrite(path, earlier)
    restored = LightFM.load(path)
    assert restored.initial_random_state is None
    items, _ = restored.recommend(0, n=100)
    assert items.shape == (14,), "identity over the item embeddings, as before"


@pytest.mark.parametrize(
    "record, message",
    [
        ([1, 2], "'fit_inputs' in 'metadata' must map"),
        ({"item": {"n_ids": -1, "identity": True, "n_features": 10}}, "item record of 'fit_inputs'"),
        ({"user": {"n_ids": 3}}, "user record of 'fit_inputs'"),
        ({"item": {"n_ids": 3, "identity": 1, "n_features": 10}}, "item record of 'fit_inputs'"),
    ],
)
def test_malformed_fit_records_are_refused(saved, record, message):
    rewrite(saved, lambda arrays: set_metadata(arrays, lambda metadata: metadata.update(fit_inputs=record)))
    with pytest.raises(ValueError, match=message):
        LightFM.load(saved)


def test_a_saved_feature_matrix_of_another_width_is_refused(tmp_path):
    model, _, _, item_features = hybrid()
    path = tmp_path / "model.npz"
    model.save(path)
    rewrite(path, lambda arrays: arrays.__setitem__("item_features_shape", np.array([10, 15], dtype=np.int64)))
    with pytest.raises(ValueError, match="saved item_features has 15 columns, but the model has 14"):
        LightFM.load(path)


@pytest.mark.parametrize("seed, saved_seed", [(3, 3), (None, None), (np.random.RandomState(3), None)])
def test_the_seed_travels_with_the_model(tmp_path, seed, saved_seed):
    path = tmp_path / "model.npz"
    LightFM(random_state=seed).save(path)
    assert LightFM.load(path).initial_random_state == saved_seed
    rewrite(path, lambda arrays: set_metadata(arrays, lambda metadata: metadata.update(initial_random_state=-1)))
    with pytest.raises(ValueError, match="'initial_random_state' in 'metadata' must be null or a 32-bit seed"):
        LightFM.load(path)


def test_a_pickled_model_keeps_its_seed_and_features():
    model, _, _, _ = hybrid()
    restored = pickle.loads(pickle.dumps(model))
    assert restored.initial_random_state == 0
    for got, expected in zip(serving(restored), serving(model), strict=True):
        np.testing.assert_array_equal(got, expected)
