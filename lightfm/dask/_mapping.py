"""Raw ids to indices at cluster scale: the unique ids are found on the workers, the mapping is a Dataset."""

from __future__ import annotations

import dask
import dask.dataframe as dd
import numpy as np
import pandas as pd

from ..data import Dataset
from ._frames import as_frame

__all__ = ["build_dataset", "map_ids"]


def _frame(data, name, columns) -> dd.DataFrame:
    if isinstance(data, pd.DataFrame):  # small tables (a list of users, seen pairs) are welcome too
        data = dd.from_pandas(data, npartitions=1, sort=False)
    if isinstance(data, dd.DataFrame):
        missing = [column for column in columns if column not in data.columns]
        if missing:
            raise ValueError(f"{name} lacks the column(s) {missing}; it has {list(data.columns)}.")
        return data
    return as_frame(data, name, required=())


def build_dataset(interactions, user_col="user", item_col="item", dataset=None) -> Dataset:
    """A :class:`lightfm.data.Dataset` mapping every raw user and item id of a Dask DataFrame to an index.

    The unique ids are computed on the cluster; only they (not the
    interactions) come back to the client. Ids are numbered in sorted order
    (so the mapping does not depend on the partitioning); with ``dataset``,
    new ids are appended to its mapping after the existing ones. Save the
    mapping with the model: ``model.save(path, dataset=dataset)``.

    Parameters
    ----------
    interactions : dask.dataframe.DataFrame, pandas.DataFrame, or Parquet path or glob
        Holds the raw ids.
    user_col, item_col : str
        The id columns.
    dataset : lightfm.data.Dataset, optional
        A mapping to extend (its ``fit_partial``); a new one by default.

    Returns
    -------
    lightfm.data.Dataset

    Examples
    --------
    >>> import dask.dataframe as dd, pandas as pd
    >>> from lightfm.dask import build_dataset, map_ids
    >>> raw = dd.from_pandas(pd.DataFrame({"user": ["b", "a", "b"], "item": [30, 10, 20]}), npartitions=2)
    >>> dataset = build_dataset(raw)
    >>> dataset.mapping()[0]
    {'a': 0, 'b': 1}
    >>> map_ids(raw, dataset).compute()["item"].tolist()
    [2, 0, 1]
    """
    frame = _frame(interactions, "interactions", (user_col, item_col))
    users, items = dask.compute(frame[user_col].unique(), frame[item_col].unique())
    for column, values in ((user_col, users), (item_col, items)):
        if pd.isna(values).any():
            raise ValueError(f"interactions[{column!r}] holds missing ids: drop or fill them first.")
    dataset = Dataset() if dataset is None else dataset
    dataset.fit_partial(users=_sorted(users), items=_sorted(items))
    return dataset


def _sorted(values) -> list:
    array = np.asarray(values)
    try:
        return np.sort(array).tolist()
    except TypeError:  # mixed types: sort by their text, still independent of the partitioning
        return sorted(array.tolist(), key=repr)


def _map_partition(frame: pd.DataFrame, user_index: pd.Index, item_index: pd.Index, user_col, item_col):
    out = frame.copy()
    for column, index, target in ((user_col, user_index, "user"), (item_col, item_index, "item")):
        positions = index.get_indexer(frame[column])
        if (positions < 0).any():
            missing = frame[column].to_numpy()[positions < 0][0]
            raise ValueError(
                f"{column} id {missing!r} is not in the mapping: build it from these interactions "
                "(lightfm.dask.build_dataset, or pass dataset= to extend one)."
            )
        if column != target:
            out = out.drop(columns=[column])
        out[target] = positions.astype(np.int64)
    return out


def map_ids(interactions, dataset: Dataset, user_col="user", item_col="item") -> dd.DataFrame:
    """The interactions with raw ids replaced by the ``dataset``'s indices, in int64 columns ``user`` and ``item``.

    Other columns (``weight``, ``label``) are kept. The mapping travels to the
    workers once; an id missing from it raises ValueError when computed.
    See :func:`build_dataset` for an example.
    """
    frame = _frame(interactions, "interactions", (user_col, item_col))
    user_map, _, item_map, _ = dataset.mapping()
    # A pandas Index looks ids up vectorised; positions are the indices because mappings number 0, 1, ... in order.
    user_index = dask.delayed(pd.Index(list(user_map), tupleize_cols=False), pure=True)
    item_index = dask.delayed(pd.Index(list(item_map), tupleize_cols=False), pure=True)
    meta = frame._meta.drop(columns=[c for c in (user_col, item_col) if c not in ("user", "item")])
    meta = meta.assign(user=pd.Series(dtype=np.int64), item=pd.Series(dtype=np.int64))
    return frame.map_partitions(_map_partition, user_index, item_index, user_col, item_col, meta=meta)
