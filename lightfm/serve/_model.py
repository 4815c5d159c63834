"""One loaded version of the model file: the model, its ids, seen items and names, ready to answer.

Everything a request needs besides the scoring itself is computed once here: the id look-ups, each
known user's representation, the seen items as CSR arrays, the popularity order, the names. A
:class:`ServedModel` is never changed after loading, so requests in flight keep using the version
they started with while a reload builds the next one.
"""

from __future__ import annotations

import datetime
import logging
import os
import re
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from .. import LightFM
from ..data import Dataset
from ._config import ServeConfig

logger = logging.getLogger("lightfm.serve")


class ServingError(Exception):
    """A request the service refuses: an HTTP status and a message naming the problem."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


class LoadError(Exception):
    """The model file (or the names or index file) cannot be served; the message says why."""


_WHOLE_DECIMAL = re.compile(r"^([+-]?\d+)\.0*$")
_INTEGER = re.compile(r"^[+-]?\d+$")


def _alternate(text: str):
    """The other spelling of a whole number ("1" for "1.0", "1.0" for "1"), as the command line matches them."""
    match = _WHOLE_DECIMAL.match(text)
    if match:
        return match.group(1)
    return text + ".0" if _INTEGER.match(text) else None


def _plain(value):
    """A JSON-ready id or name (NumPy scalars as Python ones)."""
    return value.item() if isinstance(value, np.generic) else value


def _text_lookup(mapping: dict) -> dict:
    """``{id as text: index}``: ids arrive as text (query strings) or JSON numbers."""
    lookup: dict = {}
    for key, index in mapping.items():
        lookup.setdefault(key if isinstance(key, str) else str(_plain(key)), index)
    return lookup


def find(lookup: dict, value) -> int:
    """The index of an id given as text or a JSON number; -1 if the model does not know it."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return -1
    text = value if isinstance(value, str) else str(value)
    index = lookup.get(text)
    if index is None:
        text = text.strip()
        index = lookup.get(text)
        if index is None:
            alternate = _alternate(text)
            index = lookup.get(alternate, -1) if alternate else -1
    return index


def file_signature(path) -> tuple:
    """What changes when a file is replaced or rewritten (device, inode, size, modification time)."""
    status = os.stat(path)
    return status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns


def _feature_names(mapping: dict, n_features: int):
    """A side's feature names indexed by column, or None where the mapping does not cover the model."""
    if len(mapping) != n_features:
        return None
    names: list = [None] * n_features
    for name, column in mapping.items():
        if not 0 <= column < n_features:
            return None
        names[column] = _plain(name)
    return names


def _read_model(path: str):
    """``(model, dataset, matrices, settings)`` of one version of the file; LoadError saying what is wrong."""
    from ..cli._io import model_settings

    if not Path(path).is_file():
        raise LoadError(f"model file not found: {path}")
    try:
        model = LightFM.load(path)
        matrices = LightFM.load_matrices(path)
    except (ValueError, OSError) as error:
        raise LoadError(str(error).splitlines()[0] if str(error) else type(error).__name__) from None
    try:
        dataset = Dataset.load(path)
    except (ValueError, OSError):
        raise LoadError(
            f"{path} holds no id mappings: save it with LightFM.save(path, dataset=...) or train it with "
            "'lightfm train'"
        ) from None
    return model, dataset, matrices, model_settings(path)


class ServedModel:
    """A model file's contents, prepared for serving (see the module docstring).

    Built by :meth:`load`; the scoring methods take arrays of positions and are called by the
    batcher, one call for many requests.
    """

    def __init__(self, config: ServeConfig, model, dataset, matrices, settings, signature, names, names_signature):
        self.config = config
        self.model = model
        self.signature = signature
        self.names_signature = names_signature
        self.settings = settings
        self.loaded_at = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")
        user_map, user_feature_map, item_map, item_feature_map = dataset.mapping()
        self.n_users, self.n_items = len(user_map), len(item_map)
        self.user_features = matrices.get("user_features")
        item_features = matrices.get("item_features")
        served_users = self.user_features.shape[0] if self.user_features is not None else model.user_embeddings.shape[0]
        served_items = item_features.shape[0] if item_features is not None else model.item_embeddings.shape[0]
        if (served_users, served_items) != (self.n_users, self.n_items):
            raise LoadError(
                f"{config.model}: the model scores {served_users:,} users and {served_items:,} items, but its "
                f"Dataset maps {self.n_users:,} user ids and {self.n_items:,} item ids: save the model with the "
                "Dataset it was trained with"
            )
        self.users = _text_lookup(user_map)
        self.items = _text_lookup(item_map)
        self.user_ids = np.empty(self.n_users, dtype=object)
        self.user_ids[list(user_map.values())] = [_plain(key) for key in user_map]
        self.item_ids = np.empty(self.n_items, dtype=object)
        self.item_ids[list(item_map.values())] = [_plain(key) for key in item_map]
        self.user_feature_lookup = _text_lookup(user_feature_map) if self.user_features is not None else None
        self.n_user_features = model.user_embeddings.shape[0]
        self.explain_names = (
            _feature_names(user_feature_map, model.user_embeddings.shape[0]),
            _feature_names(item_feature_map, model.item_embeddings.shape[0]),
        )
        # Known users are scored from their representations (with their features, as saved), so that
        # requests for any users share one call with only their own rows of seen items.
        biases, embeddings = model.get_user_representations(self.user_features)
        self.user_biases = np.ascontiguousarray(biases, dtype=np.float32)
        self.user_embeddings = np.ascontiguousarray(embeddings, dtype=np.float32)
        interactions = matrices.get("interactions")
        self.seen = None
        self.popular = None
        if interactions is not None:
            seen = sp.csr_matrix(interactions)
            if seen.shape != (self.n_users, self.n_items):
                raise LoadError(
                    f"{config.model}: its interactions have shape {seen.shape}, not (users, items) = "
                    f"{(self.n_users, self.n_items)}"
                )
            self.seen = (seen.indptr.astype(np.int64), seen.indices.astype(np.int32))
            counts = np.bincount(seen.indices[seen.data != 0], minlength=self.n_items)
            self.popular = np.argsort(-counts, kind="stable")[: config.max_n]
        if config.unknown_users == "popular" and self.popular is None:
            raise LoadError(
                f"{config.model} holds no training interactions to find popular items in (--unknown-users popular)"
            )
        self.names = None
        if names is not None:
            self.names = np.array([_name_of(names, item) for item in self.item_ids.tolist()], dtype=object)
        # Recommendations go through an ItemIndex: the --index file's, or else an exact one built here,
        # which answers exactly as model.recommend does but keeps the item side of the scoring product
        # instead of assembling it for the whole catalogue at every call (a third of the time at 10,000
        # items).
        if config.index:
            self.index_signature = _signature_of_index(config.index)
            self.index = _load_index(config, model, item_features)
        else:
            self.index, self.index_signature = _exact_index(model), None
        # /similar through the index too: its similarity index, or (exact) the unit vectors computed once.
        self.similar_index = self.index if self.index is not None and _searches_similar(self.index) else None
        if config.index and self.similar_index is None:
            logger.warning(
                "%s holds no similarity index (written by an earlier lightfm-ng): /similar compares every item; "
                "rebuild it with 'lightfm index' to search it",
                config.index,
            )

    # -- loading -------------------------------------------------------------------------

    @classmethod
    def load(cls, config: ServeConfig, warm: bool = True) -> ServedModel:
        """Read the model file (and the names file) as they are now; LoadError saying what is wrong.

        A file replaced while it is read (three reads: the model, its matrices, its Dataset) is read
        again, so that the parts always come from one version.
        """
        for _ in range(5):
            try:
                before = file_signature(config.model)
            except OSError:
                raise LoadError(f"model file not found: {config.model}") from None
            model, dataset, matrices, settings = _read_model(config.model)
            try:
                if file_signature(config.model) == before:
                    break
            except OSError:
                continue
        else:
            raise LoadError(f"{config.model} kept changing while it was read: try again once it is written")
        names, names_signature = None, None
        if config.item_names:
            names, names_signature = _read_names(config, dataset, settings)
        served = cls(config, model, dataset, matrices, settings, before, names, names_signature)
        if warm:
            served.warm_up()
        return served

    def warm_up(self) -> None:
        """One small call of each kind, so that the first request does not load the compiled kernels.

        Best effort: a call that fails here is logged, and fails again (as an answer) when requested.
        """
        one, calls = np.zeros(1, dtype=np.int64), []
        if self.n_users:
            calls.append(("recommend", lambda: self.recommend_known(one, np.ones(1, dtype=bool), 1, 1.0)))
        if self.n_items:
            calls.append(("fold-in", lambda: self.recommend_new([one], None, 1, 1.0)))
            calls.append(("similar", lambda: self.similar(one, 1)))
        for what, call in calls:
            try:
                call()
            except Exception as error:  # noqa: BLE001
                logger.warning("warming up %s failed: %s: %s", what, type(error).__name__, error)

    def unchanged(self) -> bool:
        """Whether the model file (and the names file) are still the versions loaded."""
        try:
            if file_signature(self.config.model) != self.signature:
                return False
            if self.config.index and file_signature(self.config.index) != self.index_signature:
                return False
            return not self.config.item_names or file_signature(self.config.item_names) == self.names_signature
        except OSError:
            return False

    def describe(self) -> dict:
        return {
            "model": Path(self.config.model).name,
            "users": self.n_users,
            "items": self.n_items,
            "loaded_at": self.loaded_at,
            "seen_items": self.seen is not None,
            "user_features": self.user_feature_lookup is not None,
            "item_names": self.names is not None,
            "index": Path(self.config.index).name if self.config.index else None,
        }

    # -- look-ups (on the event loop: dictionary reads) -------------------------------------

    def user(self, value) -> int:
        return find(self.users, value)

    def item(self, value) -> int:
        return find(self.items, value)

    def seen_row(self, user: int) -> np.ndarray:
        if self.seen is None:
            return np.zeros(0, dtype=np.int32)
        indptr, indices = self.seen
        return indices[indptr[user] : indptr[user + 1]]

    def user_feature_columns(self, names) -> np.ndarray:
        """Columns of the named user features; ServingError 422 naming unknown ones."""
        if self.user_feature_lookup is None:
            raise ServingError(
                422, "this model was fit without user features: leave out 'user_features' (fold in from 'items')"
            )
        columns = [find(self.user_feature_lookup, name) for name in names]
        unknown = [name for name, column in zip(names, columns, strict=True) if column < 0]
        if unknown:
            shown = ", ".join(repr(name) for name in unknown[:10]) + (
                f" and {len(unknown) - 10} more" * (len(unknown) > 10)
            )
            raise ServingError(422, f"{len(unknown)} user feature{'s' * (len(unknown) > 1)} not in the model: {shown}")
        return np.unique(np.asarray(columns, dtype=np.int64))

    # -- scoring (on the batcher's thread; many requests per call) ------------------------

    def _recommend(self, n, **arguments):
        scorer = self.index if self.index is not None else self.model
        return scorer.recommend(n=n, num_threads=self.config.threads, **arguments)

    def recommend_known(self, users: np.ndarray, exclude_seen: np.ndarray, n: int, weight: float):
        """Top ``n`` of known users (positions), their seen items left out where ``exclude_seen``."""
        exclude = None
        if self.seen is not None and exclude_seen.any():
            indptr, indices = self.seen
            starts, stops = indptr[users], indptr[users + 1]
            lengths = np.where(exclude_seen, stops - starts, 0)
            rows_indptr = np.zeros(users.size + 1, dtype=np.int64)
            np.cumsum(lengths, out=rows_indptr[1:])
            rows_indices = np.concatenate(
                [indices[start:stop] for start, stop, keep in zip(starts, stops, exclude_seen, strict=True) if keep]
                or [np.zeros(0, dtype=np.int32)]
            )
            exclude = sp.csr_matrix(
                (np.ones(rows_indices.size, dtype=np.float32), rows_indices, rows_indptr),
                shape=(users.size, self.n_items),
            )
        representations = (self.user_biases[users], self.user_embeddings[users])
        return self._recommend(n, user_representations=representations, exclude=exclude, item_bias_weight=weight)

    def recommend_new(self, item_rows: list, feature_rows, n: int, weight: float):
        """Top ``n`` of new users folded in from their items (positions) and user feature columns; their
        items are never recommended back."""
        lengths = np.array([row.size for row in item_rows], dtype=np.int64)
        indptr = np.zeros(len(item_rows) + 1, dtype=np.int64)
        np.cumsum(lengths, out=indptr[1:])
        indices = np.concatenate(item_rows) if item_rows else np.zeros(0, dtype=np.int64)
        interactions = sp.csr_matrix(
            (np.ones(indices.size, dtype=np.float32), indices, indptr), shape=(len(item_rows), self.n_items)
        )
        user_features = None
        if feature_rows is not None:
            feature_lengths = np.array([row.size for row in feature_rows], dtype=np.int64)
            feature_indptr = np.zeros(len(feature_rows) + 1, dtype=np.int64)
            np.cumsum(feature_lengths, out=feature_indptr[1:])
            columns = np.concatenate(feature_rows)
            user_features = sp.csr_matrix(
                (np.ones(columns.size, dtype=np.float32), columns, feature_indptr),
                shape=(len(feature_rows), self.n_user_features),
            )
        representations = self.model.fold_in_users(
            interactions, user_features=user_features, num_threads=self.config.threads
        )
        return self._recommend(n, user_representations=representations, exclude=interactions, item_bias_weight=weight)

    def similar(self, items: np.ndarray, n: int):
        if self.similar_index is not None:
            return self.similar_index.similar_items(items, n=n, num_threads=self.config.threads)
        return self.model.similar_items(items, n=n, num_threads=self.config.threads)

    def explain(self, user: int, item: int, top):
        return self.model.explain(user, item, top=top, feature_names=self.explain_names)

    # -- answers ---------------------------------------------------------------------------

    def records(self, items, scores, field: str = "score") -> list:
        """``[{"item": id, field: value, "name": ...}, ...]`` of one row of results (padding left out)."""
        rows = []
        names = self.names
        scores = scores.tolist() if isinstance(scores, np.ndarray) else scores
        for item, score in zip(items.tolist(), scores, strict=True):
            if item < 0:
                break
            record = {"item": self.item_ids[item], field: None if score is None else round(score, 6)}
            if names is not None:
                record["name"] = names[item]
            rows.append(record)
        return rows

    def popular_records(self, n: int) -> list:
        assert self.popular is not None
        top = self.popular[:n]
        return self.records(top, [None] * top.size)


def _name_of(names: dict, item) -> str:
    """The name of ``item`` (an id as the model holds it): its text, or its other whole-number spelling."""
    text = item if isinstance(item, str) else str(item)
    if text in names:
        return names[text]
    alternate = _alternate(text)
    return names.get(alternate, "") if alternate else ""


def _read_names(config: ServeConfig, dataset, settings) -> tuple:
    """``({id: name}, signature)`` of ``config.item_names``; its id column found as the command line finds it."""
    from ..cli._io import CLIError, read_item_names

    path = config.item_names
    try:
        signature = file_signature(path)
    except OSError:
        raise LoadError(f"names file not found: {path}") from None
    try:
        names = read_item_names(path, config.item_col, config.name_col, dataset.mapping()[2], settings)
    except CLIError as error:
        raise LoadError(str(error)) from None
    return names, signature


def _exact_index(model):
    """An exact in-memory ``ItemIndex`` of the model (None where lightfm.ann cannot build one: the model
    itself then scores)."""
    try:
        from ..ann import ItemIndex

        return ItemIndex.build(model, backend="exact")
    except Exception as error:  # noqa: BLE001 - an optimisation: the model answers the same without it
        logger.warning("recommendations are scored by the model itself (no exact item index: %s)", error)
        return None


def _searches_similar(index) -> bool:
    """Whether ``index.similar_items`` answers (an index file from before it has no similarity index)."""
    return index.backend == "exact" or index._similar_searcher is not None


def _signature_of_index(path: str) -> tuple:
    try:
        return file_signature(path)
    except OSError:
        raise LoadError(f"--index {path}: index file not found") from None


def _load_index(config: ServeConfig, model, item_features):
    """The ``ItemIndex`` of ``--index`` for this version of the model; LoadError, one line, naming --index."""
    from ..cli.index import _INSTALL, _faiss_installed

    path = config.index
    rebuild = f"rebuild it with 'lightfm index {config.model} -o {path}'"
    try:
        from ..ann import ItemIndex

        return ItemIndex.load(path, model, item_features=item_features)
    except ImportError as error:  # lightfm.ann itself
        raise LoadError(f"--index needs lightfm.ann: {error}") from None
    except (ValueError, OSError) as error:
        message = (str(error).splitlines()[0] if str(error) else type(error).__name__).rstrip(".")
        if "item representations are not those" in message:
            # The index's own checksum error, less its advice for the library (ItemIndex.build).
            message = message.split(": rebuild the index")[0].replace(f" the index {path} ", " the index ")
            message = message.replace("model: its item", "the model's item", 1)
            raise LoadError(f"--index {path} does not fit {config.model}: {message}; {rebuild}") from None
        if "needs faiss" in message and not _faiss_installed():
            raise LoadError(f"--index {path} is a faiss index, and faiss is not installed: {_INSTALL}") from None
        raise LoadError(f"--index {path}: {message}; {rebuild}") from None
