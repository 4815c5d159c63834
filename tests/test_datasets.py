import os

import pytest

from lightfm.datasets import fetch_movielens


def test_missing_archive_without_download_raises_oserror(tmp_path):
    with pytest.raises(OSError, match="movielens.zip"):
        fetch_movielens(data_home=tmp_path, download_if_missing=False)


def test_data_home_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("LIGHTFM_DATA_HOME", str(tmp_path))
    with pytest.raises(OSError, match=str(tmp_path)):
        fetch_movielens(download_if_missing=False)


def test_corrupt_archive_of_the_user_is_kept(tmp_path):
    """A file the package did not download is never deleted, even when it cannot be read."""
    path = tmp_path / "movielens100k" / "movielens.zip"
    path.parent.mkdir()
    path.write_bytes(b"not a zip file")
    with pytest.raises(ValueError, match="Corrupted.*delete or replace it"):
        fetch_movielens(data_home=tmp_path, download_if_missing=False)
    assert path.read_bytes() == b"not a zip file"


def test_corrupt_download_is_removed(tmp_path, monkeypatch):
    from lightfm.datasets import movielens

    source = tmp_path / "garbage.zip"
    source.write_bytes(b"not a zip file")
    monkeypatch.setattr(movielens, "URL", source.as_uri())  # a file:// URL stands in for the network
    with pytest.raises(ValueError, match="Corrupted.*download was removed"):
        fetch_movielens(data_home=tmp_path / "home")
    assert os.listdir(tmp_path / "home" / "movielens100k") == []


def test_needs_some_features(tmp_path):
    with pytest.raises(ValueError, match="indicator_features"):
        fetch_movielens(data_home=tmp_path, indicator_features=False, genre_features=False)


def _write_stackexchange(home, n_users=6, n_items=5):
    import numpy as np

    folder = home / "stackexchange" / "crossvalidated"
    folder.mkdir(parents=True)
    rs = np.random.RandomState(0)
    rows = np.repeat(np.arange(n_users), 4)
    cols = np.concatenate([rs.permutation(n_items)[:4] for _ in range(n_users)])  # no repeated answers
    np.savez(
        folder / "data.npz",
        interactions_data=np.arange(rows.size, dtype=np.float64),  # timestamps
        interactions_row=rows,
        interactions_col=cols,
        interactions_shape=np.array([n_users, n_items]),
        features_data=np.ones(n_items),
        features_row=np.arange(n_items),
        features_col=np.arange(n_items) % 2,
        features_shape=np.array([n_items, 2]),
        labels=np.array(["tag:a", "tag:b"]),
    )
    return folder / "data.npz"


def test_stackexchange_loader_on_generated_file(tmp_path):
    import numpy as np

    from lightfm.datasets import fetch_stackexchange

    _write_stackexchange(tmp_path)
    data = fetch_stackexchange(
        "crossvalidated",
        test_set_fraction=0.25,
        min_training_interactions=0,
        data_home=tmp_path,
        tag_features=True,
        download_if_missing=False,
    )
    train, test = data["train"], data["test"]
    assert train.shape == test.shape == (6, 5)
    # Time split: the latest quarter of the 24 answers (timestamps 18..23) is the test set.
    assert test.sum() == 6 and train.sum() == 18
    assert data["item_features"].shape == (5, 7)
    assert list(data["item_feature_labels"][-2:]) == ["tag:a", "tag:b"]
    assert data["item_feature_labels"][0] == "question_id:0"
    kept = fetch_stackexchange("crossvalidated", min_training_interactions=3, data_home=tmp_path)
    assert kept["train"].shape[0] == int(np.sum(train.getnnz(axis=1) > 3))


def test_stackexchange_errors(tmp_path):
    from lightfm.datasets import fetch_stackexchange

    with pytest.raises(ValueError, match="Unknown dataset"):
        fetch_stackexchange("mathoverflow", data_home=tmp_path)
    with pytest.raises(ValueError, match="test_set_fraction"):
        fetch_stackexchange("crossvalidated", test_set_fraction=1.0, data_home=tmp_path)
    with pytest.raises(OSError, match="data.npz"):
        fetch_stackexchange("crossvalidated", data_home=tmp_path, download_if_missing=False)
    path = _write_stackexchange(tmp_path)
    path.write_bytes(b"garbage")
    with pytest.raises(ValueError, match="Corrupted"):
        fetch_stackexchange("crossvalidated", data_home=tmp_path, download_if_missing=False)
    assert path.read_bytes() == b"garbage"


def test_download_goes_through_a_temporary_file(tmp_path, monkeypatch):
    """The download path, offline: a file:// URL stands in for the network."""
    import shutil

    from lightfm.datasets import movielens

    from .conftest import movielens_home

    home = movielens_home()
    if home is None:
        pytest.skip("MovieLens 100k not found")
    source = tmp_path / "source.zip"
    shutil.copy(os.path.join(home, "movielens100k", "movielens.zip"), source)
    monkeypatch.setattr(movielens, "URL", source.as_uri())
    data = fetch_movielens(data_home=tmp_path / "home", min_rating=4.0)
    assert data["train"].nnz == 49906
    assert sorted(os.listdir(tmp_path / "home" / "movielens100k")) == ["movielens.zip"]
    monkeypatch.setattr(movielens, "URL", (tmp_path / "missing.zip").as_uri())
    with pytest.raises(OSError, match="Could not download"):
        fetch_movielens(data_home=tmp_path / "elsewhere")
    assert os.listdir(tmp_path / "elsewhere" / "movielens100k") == []
