"""StackExchange question-answering datasets (users answering questions)."""

from __future__ import annotations

import os
import zipfile

import numpy as np
import scipy.sparse as sp

from . import _common

URLS = {
    "crossvalidated": "https://github.com/maciejkula/lightfm_datasets/releases/download/v0.1.0/stackexchange_crossvalidated.npz",
    "stackoverflow": "https://github.com/maciejkula/lightfm_datasets/releases/download/v0.1.0/stackexchange_stackoverflow.npz",
}
_ARRAYS = (
    "interactions_data", "interactions_row", "interactions_col", "interactions_shape",
    "features_data", "features_row", "features_col", "features_shape", "labels",
)  # fmt: skip


def _load(path, downloaded):
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [name for name in _ARRAYS if name not in archive.files]
            if missing:
                raise ValueError(f"missing arrays {missing}")
            return {name: archive[name] for name in _ARRAYS}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as error:
        raise _common.corrupt_archive(path, downloaded, "StackExchange", error) from None


def fetch_stackexchange(
    dataset,
    test_set_fraction=0.2,
    min_training_interactions=1,
    data_home=None,
    indicator_features=True,
    tag_features=False,
    download_if_missing=True,
):
    """Fetch a StackExchange dataset: an interaction is a user answering a question.

    ``'crossvalidated'`` (stats.stackexchange.com: about 9,000 users, 72,000
    questions, 70,000 answers) or ``'stackoverflow'`` (about 1.3M users, 11M
    questions, 18M answers).

    Parameters
    ----------
    dataset : {'crossvalidated', 'stackoverflow'}
        Which dataset.
    test_set_fraction : float, default 0.2
        Fraction of interactions in the test set, split by time: everything
        answered before the cut-off is train, the rest test. In (0, 1).
    min_training_interactions : int, default 1
        Keep only users with more than this many training interactions (as the
        original LightFM does; 0 keeps every user).
    data_home : str or path, optional
        Folder holding ``stackexchange/<dataset>/data.npz``; defaults to
        ``$LIGHTFM_DATA_HOME`` if set, else ``~/lightfm_data``.
    indicator_features : bool, default True
        Include an identity block of question features.
    tag_features : bool, default False
        Include the questions' tags (after the identity block if both).
    download_if_missing : bool, default True
        Download the archive when it is missing; else raise OSError.

    Returns
    -------
    dict with keys
        ``train``, ``test``: float32 ``coo_matrix`` [n_users, n_questions];
        ``item_features``: float32 ``csr_matrix``; ``item_feature_labels``: array of str.

    Raises
    ------
    ValueError
        On an unknown dataset, a fraction outside (0, 1), no features requested,
        or a corrupt archive (removed if this call downloaded it).
    OSError
        If the archive is missing and cannot or may not be downloaded.
    """
    if not (indicator_features or tag_features):
        raise ValueError("At least one of indicator_features or tag_features must be True.")
    if dataset not in URLS:
        raise ValueError(f"Unknown dataset {dataset!r}: must be one of {sorted(URLS)}.")
    if not 0.0 < test_set_fraction < 1.0:
        raise ValueError(f"test_set_fraction must be between 0 and 1, got {test_set_fraction!r}.")
    path, downloaded = _common.get_data(
        data_home, URLS[dataset], os.path.join("stackexchange", dataset), "data.npz", download_if_missing
    )
    data = _load(path, downloaded)
    interactions = sp.coo_matrix(
        (data["interactions_data"], (data["interactions_row"], data["interactions_col"])),
        shape=tuple(data["interactions_shape"].ravel()),
    )
    interactions.sum_duplicates()
    tags = sp.coo_matrix(
        (data["features_data"], (data["features_row"], data["features_col"])),
        shape=tuple(data["features_shape"].ravel()),
    )
    # Interaction values are answer timestamps: the latest fraction goes to test.
    timestamps = interactions.data
    cutoff = np.sort(timestamps)[int(len(timestamps) * (1.0 - test_set_fraction))] if len(timestamps) else 0
    in_train = timestamps < cutoff

    def part(mask):
        return sp.coo_matrix(
            (np.ones(mask.sum(), dtype=np.float32), (interactions.row[mask], interactions.col[mask])),
            shape=interactions.shape,
        )

    train, test = part(in_train), part(~in_train)
    if min_training_interactions > 0:
        keep = train.getnnz(axis=1) > min_training_interactions
        train = train.tocsr()[keep].tocoo()
        test = test.tocsr()[keep].tocoo()

    n_items = train.shape[1]
    id_labels = np.array([f"question_id:{i}" for i in range(n_items)])
    blocks, labels = [], []
    if indicator_features:
        blocks.append(sp.identity(n_items, format="csr", dtype=np.float32))
        labels.append(id_labels)
    if tag_features:
        blocks.append(tags.tocsr().astype(np.float32))
        labels.append(np.asarray(data["labels"]).astype(str))
    features = sp.hstack(blocks, format="csr", dtype=np.float32) if len(blocks) > 1 else blocks[0]
    return {"train": train, "test": test, "item_features": features, "item_feature_labels": np.concatenate(labels)}
