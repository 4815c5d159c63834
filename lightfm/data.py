"""Building interaction and feature matrices from external ids: :class:`Dataset`.

Beyond the original's iterables of tuples, :meth:`Dataset.build_interactions`,
:meth:`Dataset.fit` and the feature builders accept NumPy arrays and pandas or
polars DataFrames / Series, mapped to indices with vectorised look-ups (no
Python loop over rows), so that millions of interactions build in seconds.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Iterable
from typing import Any

import numpy as np
import scipy.sparse as sp

from ._validation import InputTypeError

__all__ = ["Dataset"]


def _is_frame(data) -> bool:
    module = type(data).__module__
    return hasattr(data, "columns") and (module.startswith("pandas") or module.startswith("polars"))


def _column(data, name, argument):
    if name not in list(data.columns):
        raise ValueError(f"{argument}={name!r} is not a column of the data; columns are {list(data.columns)}.")
    column = data[name]
    return column.to_numpy() if hasattr(column, "to_numpy") else np.asarray(column)


def _as_array(values) -> np.ndarray | None:
    """A 1-d array for array-likes (arrays, Series, lists); None for other iterables (generators)."""
    if hasattr(values, "to_numpy"):
        values = values.to_numpy()
    if isinstance(values, (list, tuple)):
        # np.asarray would turn [1, "a"] into ["1", "a"]: mixed ids stay Python objects.
        array = _object_safe(list(values))
        if array.ndim == 1:
            return array
    if isinstance(values, (np.ndarray, range)):
        array = np.asarray(values)
        if array.ndim == 1:
            return array
    return None


def _pandas():
    try:
        import pandas
    except ImportError:  # pandas is optional: NumPy sorting does the work then
        return None
    return pandas


def _unique_in_order(values: np.ndarray) -> list:
    pandas = _pandas()
    if pandas is not None:
        # Hash-based and first-seen order, fast on object (string) arrays too.
        return pandas.unique(values).tolist()
    try:
        _, first = np.unique(values, return_index=True)
    except TypeError:  # mixed types cannot be sorted
        return list(dict.fromkeys(values.tolist()))
    return values[np.sort(first)].tolist()


def _refusing_type_errors(expected: str):
    """Turn a TypeError from unusable input into an InputTypeError (a ValueError too) saying what is expected.

    Sparse matrices are refused before anything iterates them: iterating one converts it, and SciPy's
    conversion of a malformed one can crash the interpreter.
    """

    def wrap(method):
        @functools.wraps(method)
        def checked(*args, **kwargs):
            if any(sp.issparse(value) for value in (*args, *kwargs.values())):
                raise InputTypeError(f"Dataset.{method.__name__}: {expected}, not a sparse matrix.")
            try:
                return method(*args, **kwargs)
            except InputTypeError:
                raise
            except TypeError as error:
                raise InputTypeError(f"Dataset.{method.__name__}: {expected} ({error}).") from None

        return checked

    return wrap


def normalize_rows(matrix) -> sp.csr_matrix:
    """``matrix`` (float32 CSR) with every row scaled to an absolute sum of 1, as LightFM's features are."""
    sums = np.asarray(abs(matrix).sum(axis=1)).ravel()
    if np.any(sums == 0):
        raise ValueError(
            "Cannot normalize feature matrix: some rows have zero norm. "
            "Ensure that features were provided for all entries (or pass normalize=False)."
        )
    return sp.csr_matrix(sp.diags(1.0 / sums).astype(np.float32) @ matrix, dtype=np.float32)


class IdIndex:
    """Vectorised external id -> index look-up over a mapping dict (ids map to 0, 1, ... in order)."""

    def __init__(self, mapping: dict):
        self.mapping = mapping
        self._index: Any = None

    def lookup(self, values: np.ndarray, what: str) -> np.ndarray:
        if values.size == 0:
            return np.zeros(0, dtype=np.int32)
        positions = self.positions(values)
        missing = positions < 0
        if missing.any():
            value = values[np.flatnonzero(missing)[0]]
            value = value.item() if isinstance(value, np.generic) else value
            raise ValueError(f"{what} {value!r} not in {what} mapping. Call fit or fit_partial with it first.")
        return positions.astype(np.int32)

    def positions(self, values: np.ndarray) -> np.ndarray:
        """Index of each value, -1 where unknown."""
        pandas = _pandas()
        if pandas is not None:
            if self._index is None:
                self._index = pandas.Index(list(self.mapping.keys()), tupleize_cols=False)
            return np.asarray(self._index.get_indexer(values))
        keys = np.asarray(list(self.mapping.keys()))
        if keys.ndim == 1 and keys.dtype != object and values.dtype != object:
            try:
                order = np.argsort(keys, kind="stable")
                sorted_keys = keys[order]
                where = np.minimum(np.searchsorted(sorted_keys, values), len(keys) - 1)
                return np.where(sorted_keys[where] == values, order[where], -1)
            except TypeError:
                pass
        return np.fromiter((self.mapping.get(v, -1) for v in values.tolist()), dtype=np.int64, count=values.size)


class Dataset:
    """Maps user/item ids and feature names to the internal indices of a LightFM model.

    1. Create a ``Dataset`` and call :meth:`fit` (or :meth:`fit_partial`) with
       every user id, item id and feature name.
    2. Call :meth:`build_interactions` with ``(user id, item id[, weight])``
       tuples (or a DataFrame) to get the interaction and weight matrices.
    3. Call :meth:`build_user_features` / :meth:`build_item_features` with
       ``(id, [feature names])`` or ``(id, {feature name: weight})``.

    Parameters
    ----------
    user_identity_features : bool, default True
        Give every user a feature of its own (placed before the other features).
    item_identity_features : bool, default True
        Give every item a feature of its own.

    Examples
    --------
    >>> from lightfm.data import Dataset
    >>> dataset = Dataset()
    >>> dataset.fit(["alice", "bob"], ["book", "film"], item_features=["fiction"])
    >>> interactions, weights = dataset.build_interactions([("alice", "book"), ("bob", "film", 2.0)])
    >>> interactions.toarray().tolist()
    [[1, 0], [0, 1]]
    >>> dataset.build_item_features([("book", ["fiction"])]).toarray().tolist()
    [[0.5, 0.0, 0.5], [0.0, 1.0, 0.0]]
    """

    def __init__(self, user_identity_features=True, item_identity_features=True):
        self._user_identity_features = user_identity_features
        self._item_identity_features = item_identity_features
        self._user_id_mapping: dict = {}
        self._item_id_mapping: dict = {}
        self._user_feature_mapping: dict = {}
        self._item_feature_mapping: dict = {}

    # -- mappings --------------------------------------------------------------

    @_refusing_type_errors("users, items and the feature lists must be iterables of hashable ids")
    def fit(self, users, items, user_features=None, item_features=None):
        """Build the id and feature mappings, discarding existing ones.

        Parameters
        ----------
        users : iterable or array_like
            All user ids.
        items : iterable or array_like
            All item ids.
        user_features : iterable, optional
            All user feature names.
        item_features : iterable, optional
            All item feature names.
        """
        self._user_id_mapping = {}
        self._item_id_mapping = {}
        self._user_feature_mapping = {}
        self._item_feature_mapping = {}
        return self.fit_partial(users, items, user_features, item_features)

    @_refusing_type_errors("users, items and the feature lists must be iterables of hashable ids")
    def fit_partial(self, users=None, items=None, user_features=None, item_features=None):
        """Add new ids and feature names; existing ones keep their indices.

        A LightFM model trained before must then be grown to the new
        dimensions (:meth:`model_dimensions`).
        """
        if users is not None:
            self._add(
                users,
                self._user_id_mapping,
                self._user_feature_mapping if self._user_identity_features else None,
                "users",
            )
        if items is not None:
            self._add(
                items,
                self._item_id_mapping,
                self._item_feature_mapping if self._item_identity_features else None,
                "items",
            )
        if user_features is not None:
            self._add(user_features, self._user_feature_mapping, None, "user_features")
        if item_features is not None:
            self._add(item_features, self._item_feature_mapping, None, "item_features")

    @staticmethod
    def _add(ids, mapping: dict, identity_mapping: dict | None, name: str):
        array = _as_array(ids)
        values = _unique_in_order(array) if array is not None else list(ids)
        # Refused where they enter: build_interactions could never look them up again.
        for value in values:
            if value is None or (isinstance(value, (float, np.floating)) and value != value):
                raise ValueError(f"{name} contains {value!r}, which cannot be an id or feature name.")
        for value in values:
            mapping.setdefault(value, len(mapping))
            if identity_mapping is not None:
                identity_mapping.setdefault(value, len(identity_mapping))

    def mapping(self):
        """The four mappings ``(user id map, user feature map, item id map, item feature map)``.

        Each maps an external id or feature name to its internal index; invert
        them to map indices back.
        """
        return (self._user_id_mapping, self._user_feature_mapping, self._item_id_mapping, self._item_feature_mapping)

    def interactions_shape(self):
        """``(number of users, number of items)``."""
        return (len(self._user_id_mapping), len(self._item_id_mapping))

    def user_features_shape(self):
        """``(number of users, number of user features)``."""
        return (len(self._user_id_mapping), len(self._user_feature_mapping))

    def item_features_shape(self):
        """``(number of items, number of item features)``."""
        return (len(self._item_id_mapping), len(self._item_feature_mapping))

    def model_dimensions(self):
        """``(number of user features, number of item features)``: a model's embedding counts."""
        return (len(self._user_feature_mapping), len(self._item_feature_mapping))

    # -- interactions ----------------------------------------------------------

    @_refusing_type_errors("data must be a DataFrame or an iterable of (user, item[, weight]) tuples")
    def build_interactions(self, data, user_col=None, item_col=None, weight_col=None):
        """Build the interaction matrix and the matching weight matrix.

        Parameters
        ----------
        data : iterable of (user id, item id) or (user id, item id, weight), or a DataFrame
            Interactions; unknown ids raise ValueError. With a pandas or polars
            DataFrame, name the columns with ``user_col`` and ``item_col`` (and
            optionally ``weight_col``).

        Returns
        -------
        (interactions, weights) : (int32 coo_matrix, float32 coo_matrix)
            Both of shape :meth:`interactions_shape`, with one entry per
            interaction in input order (repeats are kept) and the same row and
            column arrays, so ``weights`` can be passed as ``sample_weight``.

        Examples
        --------
        >>> import pandas as pd
        >>> from lightfm.data import Dataset
        >>> frame = pd.DataFrame({"user": [1, 2, 2], "item": ["a", "a", "b"], "stars": [5.0, 3.0, 4.0]})
        >>> dataset = Dataset()
        >>> dataset.fit(frame["user"], frame["item"])
        >>> interactions, weights = dataset.build_interactions(frame, "user", "item", "stars")
        >>> weights.toarray().tolist()
        [[5.0, 0.0], [3.0, 4.0]]
        """
        self._check_fitted()
        if _is_frame(data):
            if user_col is None or item_col is None:
                raise ValueError("Pass user_col and item_col to build interactions from a DataFrame.")
            users = _column(data, user_col, "user_col")
            items = _column(data, item_col, "item_col")
            weights = _column(data, weight_col, "weight_col") if weight_col is not None else None
        else:
            users, items, weights = self._unpack(data)
        rows = IdIndex(self._user_id_mapping).lookup(np.asarray(users), "User id")
        cols = IdIndex(self._item_id_mapping).lookup(np.asarray(items), "Item id")
        weights = np.ones(rows.size, dtype=np.float32) if weights is None else np.asarray(weights, dtype=np.float32)
        shape = self.interactions_shape()
        interactions = sp.coo_matrix((np.ones(rows.size, dtype=np.int32), (rows, cols)), shape=shape)
        return interactions, sp.coo_matrix((weights, (rows, cols)), shape=shape)

    @staticmethod
    def _unpack(data):
        users, items, weights = [], [], []
        weighted = None
        for datum in data:
            if len(datum) not in (2, 3):
                raise ValueError(f"Expecting tuples of (user_id, item_id, weight) or (user_id, item_id). Got {datum}")
            users.append(datum[0])
            items.append(datum[1])
            weights.append(datum[2] if len(datum) == 3 else 1.0)
            weighted = weighted or len(datum) == 3
        as_array = lambda values: np.array(values, dtype=object) if _mixed(values) else np.array(values)  # noqa: E731
        return as_array(users), as_array(items), np.array(weights, dtype=np.float32) if weighted else None

    # -- features --------------------------------------------------------------

    @_refusing_type_errors("data must be an iterable of (user id, [features] or {feature: weight}) pairs")
    def build_user_features(self, data, normalize=True):
        """Build the user feature matrix, identity features first when enabled.

        Parameters
        ----------
        data : iterable of (user id, [feature names]) or (user id, {feature name: weight})
            Features of (some of) the users.
        normalize : bool, default True
            Scale every row to sum to 1 (ValueError if a row is empty).

        Returns
        -------
        float32 csr_matrix of shape :meth:`user_features_shape`
        """
        return self._build_features(
            data, self._user_id_mapping, self._user_feature_mapping, self._user_identity_features, normalize, "user"
        )

    @_refusing_type_errors("data must be an iterable of (item id, [features] or {feature: weight}) pairs")
    def build_item_features(self, data, normalize=True):
        """Build the item feature matrix, identity features first when enabled.

        Parameters and returns as :meth:`build_user_features`, for items.
        """
        return self._build_features(
            data, self._item_id_mapping, self._item_feature_mapping, self._item_identity_features, normalize, "item"
        )

    def _build_features(self, data, ids: dict, features: dict, identity: bool, normalize: bool, entity: str):
        rows: list = []
        cols: list = []
        weights: list = []
        if identity:
            id_rows = np.fromiter(ids.values(), dtype=np.int64, count=len(ids))
            rows.append(id_rows)
            cols.append(np.array([features[key] for key in ids], dtype=np.int64))
            weights.append(np.ones(id_rows.size, dtype=np.float32))
        id_index, feature_index = IdIndex(ids), IdIndex(features)
        entity_ids, names, values = [], [], []
        for datum in data:
            if len(datum) != 2:
                raise ValueError(f"Expected tuples of ({entity}_id, features), got {datum}.")
            entity_id, entity_features = datum
            pairs = (
                entity_features.items() if isinstance(entity_features, dict) else ((f, 1.0) for f in entity_features)
            )
            for name, weight in pairs:
                entity_ids.append(entity_id)
                names.append(name)
                values.append(weight)
        if entity_ids:
            rows.append(id_index.lookup(_object_safe(entity_ids), f"{entity.capitalize()} id").astype(np.int64))
            cols.append(feature_index.lookup(_object_safe(names), f"{entity.capitalize()} feature").astype(np.int64))
            weights.append(np.asarray(values, dtype=np.float32))
        shape = (len(ids), len(features))
        if rows:
            matrix = sp.csr_matrix((np.concatenate(weights), (np.concatenate(rows), np.concatenate(cols))), shape=shape)
        else:
            matrix = sp.csr_matrix(shape, dtype=np.float32)
        matrix = matrix.astype(np.float32)
        return normalize_rows(matrix) if normalize else matrix

    # -- saving and loading ----------------------------------------------------

    def to_json(self) -> str:
        """The mappings and settings as JSON text (ids listed in index order).

        Ids and feature names must be strings, integers, floats, booleans or
        None, so that they come back with the same types.

        Examples
        --------
        >>> from lightfm.data import Dataset
        >>> dataset = Dataset()
        >>> dataset.fit([1, 2], ["a"])
        >>> restored = Dataset.from_json(dataset.to_json())
        >>> restored.mapping() == dataset.mapping()
        True
        """
        mappings = dict(zip(_MAPPING_NAMES, self.mapping(), strict=True))
        document = {
            "format": "lightfm-ng dataset",
            "format_version": 1,
            "user_identity_features": bool(self._user_identity_features),
            "item_identity_features": bool(self._item_identity_features),
        }
        for name, mapping in mappings.items():
            document[name] = [_json_id(key, name) for key in mapping]
        return json.dumps(document)

    @classmethod
    def from_json(cls, text: str) -> Dataset:
        """A dataset from :meth:`to_json` text; ValueError if it is not one."""
        try:
            document = json.loads(text)
        except json.JSONDecodeError as error:
            raise ValueError(f"Not a saved Dataset: invalid JSON ({error}).") from None
        if not isinstance(document, dict) or document.get("format") != "lightfm-ng dataset":
            raise ValueError("Not a saved Dataset: the 'lightfm-ng dataset' marker is missing.")
        if document.get("format_version") != 1:
            raise ValueError(f"Unsupported Dataset format version {document.get('format_version')!r} (expected 1).")
        dataset = cls(bool(document.get("user_identity_features")), bool(document.get("item_identity_features")))
        for name, attribute in zip(_MAPPING_NAMES, _MAPPING_ATTRIBUTES, strict=True):
            keys = document.get(name)
            if not isinstance(keys, list):
                raise ValueError(f"Not a saved Dataset: {name!r} must be a list of ids.")
            mapping = {key: index for index, key in enumerate(keys)}
            if len(mapping) != len(keys):
                raise ValueError(f"Not a saved Dataset: {name!r} repeats an id.")
            setattr(dataset, attribute, mapping)
        return dataset

    def save(self, path) -> None:
        """Write :meth:`to_json` to ``path`` (atomically, through a temporary file).

        Parameters
        ----------
        path : str or os.PathLike
            The JSON file to write.

        Raises
        ------
        InputTypeError
            (A TypeError and ValueError) if an id or feature name is not a
            string, number, boolean or None.

        Examples
        --------
        >>> import os, tempfile
        >>> from lightfm.data import Dataset
        >>> dataset = Dataset()
        >>> dataset.fit(["ann", "bob"], ["dune"])
        >>> path = os.path.join(tempfile.mkdtemp(), "dataset.json")
        >>> dataset.save(path)
        >>> Dataset.load(path).mapping()[0]
        {'ann': 0, 'bob': 1}
        """
        from ._persistence import write_atomic

        text = self.to_json().encode("utf-8")
        write_atomic(path, lambda file: file.write(text))

    @classmethod
    def load(cls, path) -> Dataset:
        """Read a dataset saved by :meth:`save`, or stored in a model file by ``LightFM.save(path, dataset=...)``.

        Parameters
        ----------
        path : str or os.PathLike
            A JSON file from :meth:`save` or a model ``.npz`` from ``LightFM.save``.

        Returns
        -------
        Dataset
            With the saved mappings and identity-feature settings.

        Raises
        ------
        ValueError
            If the file holds no dataset or is not a saved one.
        """
        from ._persistence import ZIP_MAGIC, ModelFile, require_regular_file

        require_regular_file(os.fspath(path))
        with open(path, "rb") as file:
            is_archive = file.read(len(ZIP_MAGIC)) == ZIP_MAGIC
        if not is_archive:
            with open(path, encoding="utf-8") as file:
                return cls.from_json(file.read())
        with ModelFile(path) as model_file:
            if not model_file.has("dataset"):
                raise ValueError(f"{path} is a model file saved without a dataset (pass dataset= to LightFM.save).")
            return cls.from_json(model_file.text("dataset"))

    def _check_fitted(self):
        if not self._user_id_mapping or not self._item_id_mapping:
            raise ValueError("You must call fit first to build the item and user id mappings.")


_MAPPING_NAMES = ("user_ids", "user_features", "item_ids", "item_features")
_MAPPING_ATTRIBUTES = ("_user_id_mapping", "_user_feature_mapping", "_item_id_mapping", "_item_feature_mapping")


def _json_id(key, what: str):
    """``key`` as a JSON value that reads back equal and of the same type."""
    if isinstance(key, np.generic):
        key = key.item()
    if key is None or isinstance(key, (str, bool, int, float)):
        return key
    raise InputTypeError(
        f"Cannot save {what} id {key!r} of type {type(key).__name__}: "
        "only strings, numbers, booleans and None can be saved."
    )


def _mixed(values: Iterable) -> bool:
    return len({type(v) for v in values}) > 1


def _object_safe(values: list) -> np.ndarray:
    return np.array(values, dtype=object) if _mixed(values) else np.asarray(values)
