"""The MovieLens 100k dataset, in the layout the original LightFM reads."""

from __future__ import annotations

import zipfile

import numpy as np
import scipy.sparse as sp

from . import _common

URL = "https://github.com/maciejkula/lightfm_datasets/releases/download/v0.1.0/movielens.zip"


def _read_ratings(text: str) -> np.ndarray:
    """Rows of (user, item, rating, timestamp), ids shifted to start at 0."""
    values = np.array(text.split(), dtype=np.int64).reshape(-1, 4)
    values[:, :2] -= 1
    return values


def _interaction_matrix(ratings: np.ndarray, shape, min_rating) -> sp.coo_matrix:
    kept = ratings[ratings[:, 2] >= min_rating]
    # A repeated (user, item) keeps its last rating, as assignment would.
    _, last_reversed = np.unique(kept[::-1, 0] * shape[1] + kept[::-1, 1], return_index=True)
    last = kept.shape[0] - 1 - last_reversed
    csr = sp.csr_matrix((kept[last, 2].astype(np.int32), (kept[last, 0], kept[last, 1])), shape=shape, dtype=np.int32)
    return csr.tocoo()


def _item_metadata(n_items: int, items_text: str, genres_text: str):
    genre_names = [line.split("|")[0] for line in genres_text.splitlines() if line.strip()]
    titles = np.empty(n_items, dtype=object)
    titles[:] = ""
    genre_rows, genre_cols = [], []
    for line in items_text.splitlines():
        if not line.strip():
            continue
        fields = line.split("|")
        item = int(fields[0]) - 1
        if item >= n_items:
            continue
        titles[item] = fields[1]
        flags = np.array([int(x) for x in fields[5 : 5 + len(genre_names)]], dtype=np.int64)
        for genre in np.flatnonzero(flags > 0):
            genre_rows.append(item)
            genre_cols.append(genre)
    genres = sp.csr_matrix(
        (np.ones(len(genre_rows), dtype=np.float32), (genre_rows, genre_cols)),
        shape=(n_items, len(genre_names)),
    )
    genre_labels = np.array([f"genre:{name}" for name in genre_names], dtype=object)
    return titles.astype(str), genres, genre_labels


def fetch_movielens(
    data_home=None,
    indicator_features=True,
    genre_features=False,
    min_rating=0.0,
    download_if_missing=True,
):
    """Fetch the MovieLens 100k dataset (GroupLens Research), split as ``ua.base`` / ``ua.test``.

    943 users rate 1,682 movies; the test set holds 10 ratings per user.

    The data is GroupLens's ``ml-100k`` archive (2.3 MB) as the original
    LightFM publishes it, downloaded from its data releases on GitHub
    (``lightfm.datasets.movielens.URL``:
    https://github.com/maciejkula/lightfm_datasets/releases/download/v0.1.0/movielens.zip)
    to ``data_home/movielens100k/movielens.zip``. Only the first call needs the
    network; later calls read that file. Without a network and without the file,
    the call raises an ``OSError`` naming the URL and the path to place the
    file at by hand.

    Parameters
    ----------
    data_home : str or path, optional
        Folder holding ``movielens100k/movielens.zip``. Defaults to
        ``$LIGHTFM_DATA_HOME`` if set, else ``~/lightfm_data``.
    indicator_features : bool, default True
        Include an [n_items, n_items] identity block in the item features.
    genre_features : bool, default False
        Include an [n_items, n_genres] block of genre indicators. With both,
        the identity block comes first.
    min_rating : float, default 0.0
        Keep only ratings >= this value.
    download_if_missing : bool, default True
        Download the archive when it is missing; else raise OSError (never
        touching the network).

    Returns
    -------
    dict with keys
        ``train`` and ``test``: int32 ``coo_matrix`` of shape [n_users, n_items]
        holding the ratings; ``item_features``: float32 ``csr_matrix``;
        ``item_feature_labels``: array of str; ``item_labels``: array of the
        movies' titles.

    Raises
    ------
    ValueError
        If neither feature kind is requested, or the archive is corrupt (an
        archive this call downloaded is then deleted; one that was already
        there is left alone).
    OSError
        If the archive is missing and cannot be downloaded (no network: the
        message names the URL and where to put the file) or may not be
        (``download_if_missing=False``).

    Examples
    --------
    >>> from lightfm.datasets import fetch_movielens
    >>> data = fetch_movielens(min_rating=4.0, download_if_missing=False)  # doctest: +SKIP
    >>> data["train"].shape  # doctest: +SKIP
    (943, 1682)
    """
    if not (indicator_features or genre_features):
        raise ValueError("At least one of indicator_features or genre_features must be True.")
    zip_path, downloaded = _common.get_data(data_home, URL, "movielens100k", "movielens.zip", download_if_missing)
    try:
        with zipfile.ZipFile(zip_path) as archive:
            train_text = archive.read("ml-100k/ua.base").decode("latin-1")
            test_text = archive.read("ml-100k/ua.test").decode("latin-1")
            items_text = archive.read("ml-100k/u.item").decode("latin-1")
            genres_text = archive.read("ml-100k/u.genre").decode("latin-1")
        train_ratings = _read_ratings(train_text)
        test_ratings = _read_ratings(test_text)
    except (zipfile.BadZipFile, KeyError, ValueError) as error:
        raise _common.corrupt_archive(zip_path, downloaded, "MovieLens", error) from None

    everything = np.vstack([train_ratings, test_ratings])
    shape = (int(everything[:, 0].max()) + 1, int(everything[:, 1].max()) + 1)
    train = _interaction_matrix(train_ratings, shape, min_rating)
    test = _interaction_matrix(test_ratings, shape, min_rating)
    titles, genres, genre_labels = _item_metadata(shape[1], items_text, genres_text)

    blocks, labels = [], []
    if indicator_features:
        blocks.append(sp.identity(shape[1], format="csr", dtype=np.float32))
        labels.append(titles)
    if genre_features:
        blocks.append(genres)
        labels.append(genre_labels.astype(str))
    features = sp.hstack(blocks, format="csr", dtype=np.float32) if len(blocks) > 1 else blocks[0]
    return {
        "train": train,
        "test": test,
        "item_features": features,
        # With indicator features only, the labels are the titles themselves (the same object, as in the original).
        "item_feature_labels": np.concatenate(labels) if len(labels) > 1 else labels[0],
        "item_labels": titles,
    }
