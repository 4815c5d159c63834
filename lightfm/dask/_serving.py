"""Batch recommendations and ranking metrics on the workers.

Both split users (and their exclusion or test pairs) into parts with the same
hash as training, send the model to every worker once, and run the
single-machine code (:meth:`lightfm.LightFM.recommend`,
:mod:`lightfm.evaluation`) on each part: a part's users' rows are all it needs,
so results equal one machine's exactly.
"""

from __future__ import annotations

import dask
import dask.dataframe as dd
import numpy as np
import pandas as pd
import scipy.sparse as sp

from .. import evaluation
from ..lightfm import LightFM
from ._client import get_client, identity, ship, worker_addresses
from ._frames import as_frame, part_of, split_by_user

__all__ = ["recommend", "precision_at_k", "recall_at_k", "auc_score"]

# From arrays, so that its index is a RangeIndex, as every part's is: from empty Series, pandas < 2
# gives an object index, and Dask's to_parquet then expects strings in every part's index.
_META = pd.DataFrame(
    {
        "user": np.empty(0, dtype=np.int64),
        "rank": np.empty(0, dtype=np.int64),
        "item": np.empty(0, dtype=np.int64),
        "score": np.empty(0, dtype=np.float32),
    }
)


def _local_model(model, user_features, item_features, method) -> tuple:
    """(LightFM, user_features, item_features, shape) of a fitted DaskLightFM or LightFM.

    A DaskLightFM becomes its :meth:`~lightfm.dask.DaskLightFM.to_local` copy (a plain
    model, without the client). A side with no features passed is served as
    the model serves it (with the matrix it was fit with, if any); ``shape``
    is (users, items) as served.
    """
    if not isinstance(model, LightFM):
        raise ValueError(f"model must be a fitted DaskLightFM or LightFM, got {type(model).__name__}.")
    if model.user_embeddings is None or model.item_embeddings is None:
        raise ValueError(f"This {type(model).__name__} model is not fitted yet: call fit() first.")
    local = model.to_local() if hasattr(model, "to_local") else model
    passed = {"user": user_features, "item": item_features}
    served = {
        side: matrix if matrix is not None else local._served_features(side, method).matrix
        for side, matrix in passed.items()
    }
    shape = tuple(
        served[side].shape[0] if served[side] is not None else getattr(local, f"{side}_embeddings").shape[0]
        for side in ("user", "item")
    )
    return local, served["user"], served["item"], shape


def _pairs_csr(part: dict | None, shape: tuple, name: str) -> sp.csr_matrix | None:
    if part is None:
        return None
    users, items = part["user"].astype(np.int64), part["item"].astype(np.int64)
    for column, values, upper in (("user", users, shape[0]), ("item", items, shape[1])):
        if values.size and (values.min() < 0 or values.max() >= upper):
            raise ValueError(f"{name}[{column!r}] holds indices outside [0, {upper}), the model's {column}s.")
    data = np.ones(users.size, dtype=np.float32)
    csr = sp.csr_matrix((data, (users, items)), shape=shape)
    csr.sum_duplicates()
    return csr


def _recommend_part(model, users, exclude_part, n, features, shape, n_parts, part):
    """One part's recommendations as a long pandas frame (user, rank, item, score), padding dropped."""
    local, user_features, item_features = model
    if isinstance(users, dict):  # a part of a Dask collection of user ids
        users = users["user"]
    else:  # the whole (client-side) list: keep this part's users
        users = users[part_of(users, n_parts) == part]
    users = np.asarray(users, dtype=np.int64)
    if users.size == 0:
        return _META.iloc[:0].copy()
    exclude = _pairs_csr(exclude_part, shape, "exclude")
    items, scores = local.recommend(
        users, n=n, exclude=exclude, user_features=user_features, item_features=item_features
    )
    width = items.shape[1]
    frame = pd.DataFrame(
        {
            "user": np.repeat(users, width),
            "rank": np.tile(np.arange(width, dtype=np.int64), users.size),
            "item": items.ravel(),
            "score": scores.ravel().astype(np.float32),
        }
    )
    return frame[frame["item"] >= 0].reset_index(drop=True)


def _in_graph(value):
    """``value`` as a task of the returned (lazy) frame's own graph.

    Not a future (:func:`lightfm.dask._client.ship`): the frame is computed after
    this function returns, when nothing holds such a future any more, and a
    released future is cancelled ("Missing dependency") before the frame runs.
    """
    return dask.delayed(identity, pure=False)(value)


def recommend(model, user_ids, n=10, *, exclude=None, user_features=None, item_features=None, n_parts=None,
              client=None):  # fmt: skip
    """Top-``n`` recommendations for many users, computed on the workers.

    Parameters
    ----------
    model : DaskLightFM or LightFM
        A fitted model (sent to every worker once).
    user_ids : array-like of int, or dask Series / DataFrame with a ``user`` column
        The users to serve (indices). Repeats are served repeatedly.
    n : int, default 10
        Items per user.
    exclude : dask.dataframe.DataFrame or Parquet path, optional
        ``(user, item)`` pairs never recommended (typically the training set).
    user_features, item_features : scipy sparse matrix, optional
        As for :meth:`lightfm.LightFM.recommend` (default: those the
        DaskLightFM was fitted with).
    n_parts : int, optional
        Output partitions (default: two per worker).

    Returns
    -------
    dask.dataframe.DataFrame
        Columns ``user``, ``rank`` (0 = best), ``item``, ``score``; per user the
        rows of :meth:`lightfm.LightFM.recommend`, without the -1 padding of
        users with fewer than ``n`` candidates. Partitioned by a hash of the
        user, not in ``user_ids`` order. Write it with ``.to_parquet(path)``.

    Examples
    --------
    >>> recs = model.recommend(np.arange(1000), n=10, exclude=train_frame)  # doctest: +SKIP
    >>> recs.to_parquet("recommendations/")  # doctest: +SKIP
    """
    client = get_client(client)
    local, user_features, item_features, shape = _local_model(model, user_features, item_features, "recommend")
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}.")
    n_parts = n_parts or 2 * len(worker_addresses(client))
    if isinstance(user_ids, (dd.DataFrame, dd.Series)):
        frame = user_ids.to_frame(name="user") if isinstance(user_ids, dd.Series) else user_ids
        frame = as_frame(frame, "user_ids", required=("user",))
        user_parts = split_by_user(frame, ("user",), n_parts)
    else:
        users = np.asarray(user_ids)
        if users.ndim != 1 or (users.size and not np.issubdtype(users.dtype, np.integer)):
            raise ValueError("user_ids must be a 1-d sequence of integer indices, or a Dask Series of them.")
        if users.size and (users.min() < 0 or users.max() >= shape[0]):
            raise ValueError(f"user_ids must lie in [0, {shape[0]}), the model's users.")
        users = _in_graph(users.astype(np.int64))
        user_parts = [users] * n_parts
    exclude_parts = [None] * n_parts
    if exclude is not None:
        exclude_parts = split_by_user(as_frame(exclude, "exclude"), ("user", "item"), n_parts)
    shipped = _in_graph((local, user_features, item_features))
    tasks = [
        dask.delayed(_recommend_part, pure=True)(
            shipped, user_parts[p], exclude_parts[p], int(n), None, shape, n_parts, p
        )  # fmt: skip
        for p in range(n_parts)
    ]
    return dd.from_delayed(tasks, meta=_META, verify_meta=False)


def _metric_part(model, test_part, train_part, shape, metric, kwargs):
    """(users with test pairs, their metric values) for one part, by the single-machine function."""
    local, user_features, item_features = model
    test = _pairs_csr(test_part, shape, "test_interactions")
    train = _pairs_csr(train_part, shape, "train_interactions")
    values = getattr(evaluation, metric)(
        local, test, train, user_features=user_features, item_features=item_features, **kwargs
    )
    return np.flatnonzero(np.diff(test.indptr) > 0), values


def _metric(metric, model, test_interactions, train_interactions, user_features, item_features, client, kwargs):
    client = get_client(client)
    local, user_features, item_features, shape = _local_model(model, user_features, item_features, metric)
    n_parts = 2 * len(worker_addresses(client))
    test_parts = split_by_user(as_frame(test_interactions, "test_interactions"), ("user", "item"), n_parts)
    train_parts = [None] * n_parts
    if train_interactions is not None:
        train_frame = as_frame(train_interactions, "train_interactions")
        train_parts = split_by_user(train_frame, ("user", "item"), n_parts)
    shipped = ship(client, (local, user_features, item_features))
    tasks = [
        dask.delayed(_metric_part, pure=True)(shipped, test_parts[p], train_parts[p], shape, metric, kwargs)
        for p in range(n_parts)
    ]
    results = client.gather(client.compute(tasks))
    users = np.concatenate([users for users, _ in results])
    values = np.concatenate([values for _, values in results])
    # One value per user with test pairs, in user order: what lightfm.evaluation returns.
    return values[np.argsort(users, kind="stable")]


def precision_at_k(model, test_interactions, train_interactions=None, k=10, user_features=None, item_features=None,
                   num_threads=1, check_intersections=True, client=None):  # fmt: skip
    """Precision at k of every user with test pairs, computed on the workers.

    Equal to :func:`lightfm.evaluation.precision_at_k` on the same model with
    the same pairs as sparse matrices.

    Parameters
    ----------
    model : DaskLightFM or LightFM
        A fitted model.
    test_interactions : dask.dataframe.DataFrame or Parquet path
        ``(user, item)`` pairs to find.
    train_interactions : dask.dataframe.DataFrame or Parquet path, optional
        ``(user, item)`` pairs excluded from the ranking.
    k : int, default 10
        Length of the recommendation list.

    Returns
    -------
    np.float32 array
        One value per user with test pairs, in ascending user order.

    Examples
    --------
    >>> from lightfm.dask import precision_at_k
    >>> precision_at_k(model, test_frame, train_frame, k=10).mean()  # doctest: +SKIP
    """
    kwargs = {"k": k, "num_threads": num_threads, "check_intersections": check_intersections}
    return _metric("precision_at_k", model, test_interactions, train_interactions, user_features, item_features,
                   client, kwargs)  # fmt: skip


def recall_at_k(model, test_interactions, train_interactions=None, k=10, user_features=None, item_features=None,
                num_threads=1, check_intersections=True, client=None):  # fmt: skip
    """Recall at k of every user with test pairs, on the workers; as :func:`precision_at_k` (float64)."""
    kwargs = {"k": k, "num_threads": num_threads, "check_intersections": check_intersections}
    return _metric("recall_at_k", model, test_interactions, train_interactions, user_features, item_features,
                   client, kwargs)  # fmt: skip


def auc_score(model, test_interactions, train_interactions=None, user_features=None, item_features=None,
              num_threads=1, check_intersections=True, client=None):  # fmt: skip
    """ROC AUC of every user with test pairs, on the workers; as :func:`precision_at_k`, without ``k``."""
    kwargs = {"num_threads": num_threads, "check_intersections": check_intersections}
    return _metric("auc_score", model, test_interactions, train_interactions, user_features, item_features,
                   client, kwargs)  # fmt: skip
