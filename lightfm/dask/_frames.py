"""Input frames and partitioning by user: what training, serving and the metrics share.

Every engine step that needs "all rows of a user in one place" (training's
exclusion sets, serving's exclusions, a user's ranking) splits each input
partition into ``n_parts`` pieces by a hash of the user id and concatenates
piece ``s`` of every partition into part ``s``. No task ever holds more than one
input partition or one part, so no worker holds the whole interaction set.
"""

from __future__ import annotations

import glob
import os

import dask
import dask.dataframe as dd
import numpy as np
import pandas as pd

# Fibonacci hashing: consecutive (or power-law ordered) ids spread evenly over the parts.
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def part_of(users: np.ndarray, n_parts: int) -> np.ndarray:
    """The part (0 .. n_parts - 1) of each user id; the same function everywhere, so parts line up."""
    hashed = np.asarray(users).astype(np.uint64) * _GOLDEN
    return ((hashed >> np.uint64(32)) % np.uint64(n_parts)).astype(np.int64)


def as_frame(data, name: str, required=("user", "item")) -> dd.DataFrame:
    """A Dask DataFrame from a Dask DataFrame, or a path or glob of Parquet files."""
    if isinstance(data, (str, os.PathLike)):
        path = os.fspath(data)
        if not glob.glob(path) and not os.path.exists(path):
            raise ValueError(f"{name}: no Parquet files match {path!r}; pass an existing path, glob or Dask DataFrame.")
        data = dd.read_parquet(path)
    if not isinstance(data, dd.DataFrame):
        raise ValueError(
            f"{name} must be a Dask DataFrame with integer columns {', '.join(required)} (or a path or glob of "
            f"Parquet files with them), got {type(data).__name__}; convert with dask.dataframe.from_pandas."
        )
    missing = [column for column in required if column not in data.columns]
    if missing:
        raise ValueError(f"{name} lacks the column(s) {missing}: it needs {list(required)}, has {list(data.columns)}.")
    for column in required:
        if not pd.api.types.is_integer_dtype(data.dtypes[column]):
            raise ValueError(
                f"{name}[{column!r}] must hold integer indices, has dtype {data.dtypes[column]}; map raw ids to "
                "indices first (lightfm.dask.build_dataset and lightfm.dask.map_ids)."
            )
    return data


def _split(frame: pd.DataFrame, columns: tuple, n_parts: int) -> list:
    """One input partition as ``n_parts`` dicts of NumPy columns, by the user's part."""
    arrays = {column: frame[column].to_numpy() for column in columns}
    parts = part_of(arrays["user"], n_parts) if len(frame) else np.zeros(0, dtype=np.int64)
    order = np.argsort(parts, kind="stable")
    bounds = np.searchsorted(parts[order], np.arange(n_parts + 1))
    return [
        {column: values[order[bounds[p] : bounds[p + 1]]] for column, values in arrays.items()} for p in range(n_parts)
    ]


def _concat(pieces: list, columns: tuple) -> dict:
    return {column: np.concatenate([piece[column] for piece in pieces]) for column in columns}


def split_by_user(frame: dd.DataFrame, columns: tuple, n_parts: int) -> list:
    """``n_parts`` delayed dicts of NumPy columns; part ``s`` holds every row whose user is in part ``s``.

    A plain two-stage shuffle (split, concatenate) in input-partition order, so
    a part recomputed after a lost worker is identical to the first one.
    """
    parts = frame[list(columns)].to_delayed()
    pieces = [dask.delayed(_split, nout=n_parts, pure=True)(part, columns, n_parts) for part in parts]
    return [dask.delayed(_concat, pure=True)([split[p] for split in pieces], columns) for p in range(n_parts)]
