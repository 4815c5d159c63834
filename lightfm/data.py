"""Building interaction and feature matrices from external ids: :class:`Dataset`.

Beyond the original's iterables of tuples, :meth:`Dataset.build_interactions`,
:meth:`Dataset.fit` and the feature builders accept NumPy arrays and pandas or
polars DataFrames / Series, mapped to indices with vectorised look-ups (no
Python loop over rows), so that millions of interactions build in seconds.
DataFrames are read by column position unless their columns are named (see
each method). :meth:`Dataset.user_ids` / :meth:`Dataset.item_ids` map indices
back to external ids, :meth:`Dataset.user_index` / :meth:`Dataset.item_index`
ids to indices. pandas is imported only when it is installed and needed.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Iterable
from typing import Any

import numpy as np
import scipy.sparse as sp

from ._validation import InputTypeError, is_int

__all__ = ["Dataset"]


def _is_frame(data) -> bool:
    module = type(data).__module__
    return hasattr(data, "columns") and (module.startswith("pandas") or module.startswith("polars"))


def _column(data, name, argument):
    columns = list(data.columns)
    if name not in columns:
        raise ValueError(f"{argument}={name!r} is not a column of the data; columns are {columns}.")
    if columns.count(name) > 1:
        raise ValueError(f"{argument}={name!r} names {columns.count(name)} columns of the data; rename them apart.")
    column = data[name]
    return column.to_numpy() if hasattr(column, "to_numpy") else np.asarray(column)


def _column_at(data, position):
    # By position, not by name: pandas allows repeated and non-string column names.
    column = data.iloc[:, position] if hasattr(data, "iloc") else data.to_series(position)
    return column.to_numpy() if hasattr(column, "to_numpy") else np.asarray(column)


def _frame_columns(data, named: dict, method: str, positional_weight: bool = True) -> list:
    """The arrays and names of a frame's columns for the roles in ``named`` (argument -> column name or None).

    The first two roles are required and the last (the weight) optional. With no column named, the
    roles are taken by position: a two-column frame fills the first two and, with
    ``positional_weight``, a three-column frame all three. Anything else must name its columns, so
    that a wider frame (say with a timestamp) is never read by a silent guess.
    """
    arguments = list(named)
    columns = list(data.columns)
    if all(name is None for name in named.values()):
        widths = (2, 3) if positional_weight else (2,)
        if len(columns) not in widths:
            third = (
                "or 3 (and a weight)"
                if positional_weight
                else "(a third column is never taken as weights by position: it may be a rating or a timestamp)"
            )
            raise ValueError(
                f"Dataset.{method}: the DataFrame has {len(columns)} columns {columns}; with no column named, "
                f"it must have 2 ({', '.join(arguments[:2])}) {third}. Name the columns with "
                f"{', '.join(arguments)}, or select them first (frame[[...]])."
            )
        values = [_column_at(data, position) for position in range(len(columns))]
        return values + [None] * (3 - len(values)), columns + [None] * (3 - len(columns))
    for argument in arguments[:2]:
        if named[argument] is None:
            raise ValueError(
                f"Dataset.{method}: {argument} is missing; name both {arguments[0]} and {arguments[1]} "
                "(or neither, to take the DataFrame's columns by position)."
            )
    values = [None if name is None else _column(data, name, argument) for argument, name in named.items()]
    return values, list(named.values())


def _refuse_missing(values: np.ndarray, argument: str, column) -> None:
    """ValueError if a frame column has missing values (NaN, None, NA), naming the column and the fix."""
    pandas = _pandas()
    if pandas is not None:
        missing = np.asarray(pandas.isna(values))
    elif values.dtype.kind in "fmM":
        missing = np.isnan(values)
    elif values.dtype == object:
        missing = np.fromiter((v is None or (isinstance(v, float) and v != v) for v in values), bool, values.size)
    else:
        return
    if missing.any():
        where = "" if column is None else f" ({column!r})"
        raise ValueError(
            f"The {argument} column{where} has {int(missing.sum())} missing values; drop or fill those rows "
            "first (frame.dropna())."
        )


def _refuse_bad_columns(arrays, arguments: list, labels, method: str) -> None:
    """ValueError for missing values in any of a frame's columns, or a weight column (the third) not numeric."""
    for array, argument, label in zip(arrays, arguments, labels, strict=True):
        if array is not None:
            _refuse_missing(array, argument.removesuffix("_col"), label)
    weights = arrays[2]
    if weights is not None and weights.dtype.kind not in "biuf":
        raise ValueError(
            f"Dataset.{method}: the weight column ({labels[2]!r}) holds {weights.dtype} values, not numbers; "
            f"name the columns ({', '.join(arguments)}) or convert it."
        )


def _is_listlike_column(values: np.ndarray) -> bool:
    """Whether a frame column holds a collection per row (features in wide form: ``[names]`` or ``{name: w}``)."""
    if values.dtype != object or values.size == 0:
        return False
    return isinstance(values[0], (list, tuple, set, frozenset, dict, np.ndarray))


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


# Up to this many ids are looked up one by one (IdIndex.positions).
_FEW_IDS = 1000


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
        if values.size <= _FEW_IDS:
            # Looked up in the dict itself: pandas' vectorised look-up costs its import (a quarter of a
            # second of a one-user `lightfm recommend`) and indexing every key first.
            return np.fromiter((self.mapping.get(v, -1) for v in values.tolist()), dtype=np.int64, count=values.size)
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
       ``(id, [feature names])`` or ``(id, {feature name: weight})`` pairs, or
       a long DataFrame of ``(id, feature[, weight])`` rows.
    4. Map a model's indices back with :meth:`user_ids` / :meth:`item_ids`,
       and ids to indices with :meth:`user_index` / :meth:`item_index`.

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
    >>> dataset.item_ids([1, 0]).tolist(), dataset.item_index("film")
    (['film', 'book'], 1)
    """

    def __init__(self, user_identity_features=True, item_identity_features=True):
        self._user_identity_features = user_identity_features
        self._item_identity_features = item_identity_features
        self._user_id_mapping: dict = {}
        self._item_id_mapping: dict = {}
        self._user_feature_mapping: dict = {}
        self._item_feature_mapping: dict = {}
        self._lookups: dict = {}

    def __getstate__(self):
        # The look-up caches are rebuilt on demand: pickles stay the size of the mappings.
        state = self.__dict__.copy()
        state.pop("_lookups", None)
        return state

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
        if _is_frame(ids):
            # Iterating a DataFrame yields its column names: never what was meant.
            columns = list(ids.columns)
            if len(columns) != 1:
                raise ValueError(
                    f"{name} is a DataFrame with {len(columns)} columns; pass one column, "
                    f"e.g. {name}=frame[{columns[0] if columns else 'column'!r}]."
                )
            ids = _column_at(ids, 0)
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

    def user_ids(self, indices=None):
        """The external user ids at internal indices (rows of the interaction matrix).

        Parameters
        ----------
        indices : int or array_like of int, optional
            Internal user indices, in any shape (a model's ``recommend`` output
            for :meth:`item_ids`, say). None: every user, in index order.

        Returns
        -------
        id or numpy.ndarray
            The id itself (its own type) for a single index; otherwise an
            array of the indices' shape: of integers or floats for numeric
            ids, else of the ids themselves (``object``).

        Raises
        ------
        ValueError
            If an index is not an integer from 0 to the number of users - 1.

        Examples
        --------
        >>> from lightfm.data import Dataset
        >>> dataset = Dataset()
        >>> dataset.fit(["ann", "bob", "cy"], [10, 20])
        >>> dataset.user_ids([2, 0]).tolist()
        ['cy', 'ann']
        >>> dataset.user_ids(1)
        'bob'
        """
        return self._ids_at(indices, "user")

    def item_ids(self, indices=None):
        """The external item ids at internal indices (columns of the interaction matrix).

        Parameters and returns as :meth:`user_ids`, for items.

        Examples
        --------
        >>> import numpy as np
        >>> from lightfm.data import Dataset
        >>> dataset = Dataset()
        >>> dataset.fit(["ann"], ["dune", "emma", "ulysses"])
        >>> dataset.item_ids(np.array([[2, 0], [1, 2]])).tolist()  # e.g. top-2 lists of two users
        [['ulysses', 'dune'], ['emma', 'ulysses']]
        >>> dataset.item_ids().tolist()
        ['dune', 'emma', 'ulysses']
        """
        return self._ids_at(indices, "item")

    @_refusing_type_errors("ids must be a hashable id or an array-like of ids")
    def user_index(self, ids):
        """The internal indices of external user ids: the inverse of :meth:`user_ids`.

        Parameters
        ----------
        ids : id or array_like of ids
            One user id (a string, a number, ...) or a list, array or Series
            of them, in any shape.

        Returns
        -------
        int or numpy.ndarray of int64
            An int for a single id; otherwise an array of the ids' shape.

        Raises
        ------
        ValueError
            If an id is not in the dataset (add it with :meth:`fit_partial`).

        Examples
        --------
        >>> from lightfm.data import Dataset
        >>> dataset = Dataset()
        >>> dataset.fit(["ann", "bob", "cy"], [10, 20])
        >>> dataset.user_index("cy")
        2
        >>> dataset.user_index(["bob", "ann"]).tolist()
        [1, 0]
        """
        return self._index_of(ids, "user")

    @_refusing_type_errors("ids must be a hashable id or an array-like of ids")
    def item_index(self, ids):
        """The internal indices of external item ids: the inverse of :meth:`item_ids`.

        Parameters and returns as :meth:`user_index`, for items.

        Examples
        --------
        >>> from lightfm.data import Dataset
        >>> dataset = Dataset()
        >>> dataset.fit(["ann"], [10, 20, 30])
        >>> dataset.item_index([30, 10]).tolist()
        [2, 0]
        """
        return self._index_of(ids, "item")

    def _lookup(self, side: str):
        """(ids as a list, ids as an array, IdIndex) for a side, rebuilt when its mapping changed."""
        mapping = self._user_id_mapping if side == "user" else self._item_id_mapping
        lookups = self.__dict__.setdefault("_lookups", {})
        cached = lookups.get(side)
        # fit replaces the dict and fit_partial only adds to it: the dict and its size identify a version.
        if cached is None or cached[0] is not mapping or cached[1] != len(mapping):
            keys: list = [None] * len(mapping)
            for key, index in mapping.items():
                keys[index] = key
            array = _object_safe(keys)
            # Strings stay Python objects: NumPy's fixed-width strings drop trailing NULs (and copy).
            if array.ndim != 1 or array.dtype.kind in "USO":
                array = _objects(keys)
            cached = (mapping, len(mapping), keys, array, IdIndex(mapping))
            lookups[side] = cached
        return cached[2], cached[3], cached[4]

    def _ids_at(self, indices, side: str):
        keys, array, _ = self._lookup(side)
        if indices is None:
            return array.copy()
        n = len(keys)
        if np.ndim(indices) == 0:
            if not is_int(indices):
                raise ValueError(f"indices must be integer {side} indices, got {indices!r}.")
            index = int(indices)
            if not 0 <= index < n:
                raise ValueError(f"indices contains {index}, but the dataset has {n} {side}s{_valid_range(n)}.")
            return keys[index]
        values = np.asarray(indices.to_numpy() if hasattr(indices, "to_numpy") else indices)
        if values.size == 0:
            return array[np.zeros(values.shape, dtype=np.int64)]
        if values.dtype.kind not in "iu":
            raise ValueError(
                f"indices must be integer {side} indices, got an array of {values.dtype}; "
                "convert it with .astype(int) if it holds whole numbers."
            )
        low, high = values.min(), values.max()
        if low < 0 or high >= n:
            bad = low if low < 0 else high
            raise ValueError(f"indices contains {bad}, but the dataset has {n} {side}s{_valid_range(n)}.")
        return array[values]

    def _index_of(self, ids, side: str):
        _, _, index = self._lookup(side)
        try:
            single = np.ndim(ids) == 0  # a string too
        except ValueError:  # a ragged list: refused below
            single = False
        if single:
            flat, shape = _objects([ids]), ()
        else:
            if hasattr(ids, "to_numpy"):
                ids = ids.to_numpy()
            if isinstance(ids, np.ndarray) and ids.dtype != object:
                flat, shape = ids.ravel(), ids.shape
            else:
                flat, shape = self._object_ids(ids, side)
        positions = index.positions(flat) if flat.size else np.zeros(0, dtype=np.int64)
        missing = positions < 0
        if missing.any():
            value = flat[np.flatnonzero(missing)[0]]
            value = value.item() if isinstance(value, np.generic) else value
            raise ValueError(
                f"ids contains {value!r}, which is not one of this dataset's {side} ids; "
                f"add it with fit_partial({side}s=[...]) first."
            )
        positions = positions.astype(np.int64)
        return int(positions[0]) if single else positions.reshape(shape)

    @staticmethod
    def _object_ids(ids, side: str):
        """(flat array, shape) of ids given as a (nested) list or an object array."""
        try:
            # dtype=object keeps [1, "a"] as an int and a string (NumPy would make both strings).
            nested = np.asarray(ids, dtype=object)
        except ValueError:
            nested = None
        elements = [] if nested is None else nested.ravel().tolist()
        if nested is None or any(isinstance(element, (list, np.ndarray)) for element in elements):
            raise ValueError(f"ids must be one {side} id or a list or array of them, with rows of equal length.")
        return _objects(elements), nested.shape

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
            Interactions; unknown ids raise ValueError. A pandas or polars
            DataFrame has one row per interaction: a two-column frame is read
            by position (user id, item id); a wider one must name its columns
            (a third column may be a rating or a timestamp: it is a weight only
            when named as ``weight_col``).
        user_col, item_col : column names, optional
            The DataFrame's user and item id columns (both or neither).
        weight_col : column name, optional
            The DataFrame's weight column; with the other two named and this
            one not, every weight is 1.

        Returns
        -------
        (interactions, weights) : (int32 coo_matrix, float32 coo_matrix)
            Both of shape :meth:`interactions_shape`, with one entry per
            interaction in input order (repeats are kept) and the same row and
            column arrays, so ``weights`` can be passed as ``sample_weight``.

        Raises
        ------
        ValueError
            For unknown ids, missing values in a DataFrame's columns, or
            more than two columns none of which is named.

        Examples
        --------
        >>> import pandas as pd
        >>> from lightfm.data import Dataset
        >>> frame = pd.DataFrame({"user": [1, 2, 2], "item": ["a", "a", "b"], "stars": [5.0, 3.0, 4.0]})
        >>> dataset = Dataset()
        >>> dataset.fit(frame["user"], frame["item"])
        >>> interactions, weights = dataset.build_interactions(frame, "user", "item", weight_col="stars")
        >>> weights.toarray().tolist()
        [[5.0, 0.0], [3.0, 4.0]]
        >>> interactions, weights = dataset.build_interactions(frame[["user", "item"]])  # by position
        >>> weights.toarray().tolist()
        [[1.0, 0.0], [1.0, 1.0]]
        """
        self._check_fitted()
        if _is_frame(data):
            named = {"user_col": user_col, "item_col": item_col, "weight_col": weight_col}
            (users, items, weights), names = _frame_columns(data, named, "build_interactions", positional_weight=False)
            _refuse_bad_columns((users, items, weights), list(named), names, "build_interactions")
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

    @_refusing_type_errors(
        "data must be a DataFrame or an iterable of (user id, [features] or {feature: weight}) pairs"
    )
    def build_user_features(self, data, normalize=True, user_col=None, feature_col=None, weight_col=None):
        """Build the user feature matrix, identity features first when enabled.

        Parameters
        ----------
        data : iterable of (user id, [feature names]) or (user id, {feature name: weight}), or a DataFrame
            Features of (some of) the users. A pandas or polars DataFrame is in
            long form, one row per (user, feature) pair: with no column named,
            its columns are taken by position (user id, feature name and, in a
            third column, the feature's weight, else 1); a frame of any other
            width must name them. A user's rows combine into one feature list.
            A DataFrame whose feature column holds a list or dict per row is
            read like the pairs instead.
        normalize : bool, default True
            Scale every row to sum to 1 (ValueError if a row is empty).
        user_col, feature_col : column names, optional
            The DataFrame's id and feature columns (both or neither).
        weight_col : column name, optional
            The DataFrame's weight column; with the other two named and this
            one not, every weight is 1.

        Returns
        -------
        float32 csr_matrix of shape :meth:`user_features_shape`
            A feature repeated for one user (in a list or on several rows)
            has its weights summed.

        Raises
        ------
        ValueError
            For unknown ids or feature names, missing values in a DataFrame's
            columns, or columns that are neither named nor two or three.

        Examples
        --------
        >>> import pandas as pd
        >>> from lightfm.data import Dataset
        >>> dataset = Dataset(user_identity_features=False)
        >>> dataset.fit(["ann", "bob"], ["dune"], user_features=["reader", "viewer"])
        >>> long = pd.DataFrame({"user": ["ann", "ann", "bob"], "feature": ["reader", "viewer", "viewer"]})
        >>> dataset.build_user_features(long).toarray().tolist()
        [[0.5, 0.5], [0.0, 1.0]]
        >>> pairs = [("ann", ["reader", "viewer"]), ("bob", ["viewer"])]
        >>> (dataset.build_user_features(pairs) != dataset.build_user_features(long)).nnz
        0
        """
        columns = {"user_col": user_col, "feature_col": feature_col, "weight_col": weight_col}
        return self._build_features(
            data, self._user_id_mapping, self._user_feature_mapping, self._user_identity_features, normalize, "user",
            columns,
        )  # fmt: skip

    @_refusing_type_errors(
        "data must be a DataFrame or an iterable of (item id, [features] or {feature: weight}) pairs"
    )
    def build_item_features(self, data, normalize=True, item_col=None, feature_col=None, weight_col=None):
        """Build the item feature matrix, identity features first when enabled.

        Parameters and returns as :meth:`build_user_features`, for items
        (``item_col`` names a DataFrame's id column).

        Examples
        --------
        >>> import pandas as pd
        >>> from lightfm.data import Dataset
        >>> genres = pd.DataFrame({"movie": [1, 1, 2], "genre": ["drama", "war", "comedy"], "w": [2.0, 1.0, 1.0]})
        >>> dataset = Dataset(item_identity_features=False)
        >>> dataset.fit(["ann"], genres["movie"], item_features=genres["genre"])
        >>> dataset.build_item_features(genres, normalize=False).toarray().tolist()
        [[2.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
        >>> dataset.build_item_features(genres, item_col="movie", feature_col="genre").toarray().tolist()
        [[0.5, 0.5, 0.0], [0.0, 0.0, 1.0]]
        """
        columns = {"item_col": item_col, "feature_col": feature_col, "weight_col": weight_col}
        return self._build_features(
            data, self._item_id_mapping, self._item_feature_mapping, self._item_identity_features, normalize, "item",
            columns,
        )  # fmt: skip

    def _build_features(self, data, ids: dict, features: dict, identity: bool, normalize: bool, entity: str, columns):
        rows: list = []
        cols: list = []
        weights: list = []
        if identity:
            id_rows = np.fromiter(ids.values(), dtype=np.int64, count=len(ids))
            rows.append(id_rows)
            cols.append(np.array([features[key] for key in ids], dtype=np.int64))
            weights.append(np.ones(id_rows.size, dtype=np.float32))
        id_index, feature_index = IdIndex(ids), IdIndex(features)
        entity_ids, names, values = self._feature_entries(data, entity, columns)
        if len(entity_ids):
            rows.append(id_index.lookup(entity_ids, f"{entity.capitalize()} id").astype(np.int64))
            cols.append(feature_index.lookup(names, f"{entity.capitalize()} feature").astype(np.int64))
            weights.append(values)
        shape = (len(ids), len(features))
        if rows:
            matrix = sp.csr_matrix((np.concatenate(weights), (np.concatenate(rows), np.concatenate(cols))), shape=shape)
        else:
            matrix = sp.csr_matrix(shape, dtype=np.float32)
        matrix = matrix.astype(np.float32)
        return normalize_rows(matrix) if normalize else matrix

    @staticmethod
    def _feature_entries(data, entity: str, columns: dict):
        """(ids, feature names, weights): one entry per (id, feature) pair of ``data``, as arrays."""
        if _is_frame(data):
            method = f"build_{entity}_features"
            (entity_ids, names, values), labels = _frame_columns(data, columns, method)
            if _is_listlike_column(names):
                if values is not None:
                    raise ValueError(
                        f"Dataset.{method}: the feature column ({labels[1]!r}) holds a collection per row, "
                        "which carries its own weights ({feature: weight}); pass no weight column with it."
                    )
                _refuse_missing(entity_ids, f"{entity} id", labels[0])
                data = zip(entity_ids.tolist(), names.tolist(), strict=True)
            else:
                _refuse_bad_columns((entity_ids, names, values), list(columns), labels, method)
                weights = np.ones(len(entity_ids), np.float32) if values is None else values.astype(np.float32)
                return entity_ids, names, weights
        entity_ids, names, weights = [], [], []
        for datum in data:
            if isinstance(datum, str) or len(datum) != 2:
                raise ValueError(f"Expected tuples of ({entity}_id, features), got {datum!r}.")
            entity_id, entity_features = datum
            pairs = (
                entity_features.items() if isinstance(entity_features, dict) else ((f, 1.0) for f in entity_features)
            )
            for name, weight in pairs:
                entity_ids.append(entity_id)
                names.append(name)
                weights.append(weight)
        return _object_safe(entity_ids), _object_safe(names), np.asarray(weights, dtype=np.float32)

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


def _valid_range(n: int) -> str:
    return f" (valid: 0 to {n - 1})" if n else "; call fit first"


def _objects(values: list) -> np.ndarray:
    """A 1-d object array of ``values`` as they are (tuples stay elements, strings stay str)."""
    array = np.empty(len(values), dtype=object)
    array[:] = values
    return array


def _mixed(values: Iterable) -> bool:
    return len({type(v) for v in values}) > 1


def _object_safe(values: list) -> np.ndarray:
    """``values`` as an array; mixed types and strings stay Python objects (NumPy would make
    ``[1, "a"]`` two strings, and its fixed-width strings drop trailing NULs: ``"a\\x00"`` -> ``"a"``)."""
    if _mixed(values) or (values and isinstance(values[0], str)):
        return np.array(values, dtype=object)
    return np.asarray(values)
