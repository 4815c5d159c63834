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


def test_corrupt_archive_is_removed(tmp_path):
    path = tmp_path / "movielens100k" / "movielens.zip"
    path.parent.mkdir()
    path.write_bytes(b"not a zip file")
    with pytest.raises(ValueError, match="Corrupted"):
        fetch_movielens(data_home=tmp_path, download_if_missing=False)
    assert not os.path.exists(path)


def test_needs_some_features(tmp_path):
    with pytest.raises(ValueError, match="indicator_features"):
        fetch_movielens(data_home=tmp_path, indicator_features=False, genre_features=False)
