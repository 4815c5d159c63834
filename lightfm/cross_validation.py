"""Splitting interactions into train and test sets.

Three splits, each of which puts every stored entry of the interaction matrix
on exactly one side and returns COO matrices of the input's shape and dtype:

- :func:`random_train_test_split`: a random fraction of the entries (the
  original's split);
- :func:`leave_k_out_split`: ``k`` items of every user, drawn at random or the
  latest by time;
- :func:`time_split`: the latest fraction of the interactions by time.

Each takes ``weights=``, a matrix of the interactions' entries (as
:meth:`lightfm.data.Dataset.build_interactions` returns): given, the split
returns ``(train, test, train_weights, test_weights)``, the weights split with
their entries, so that ``train_weights`` can be passed as ``sample_weight``
with ``train``.

Examples
--------
>>> import numpy as np, scipy.sparse as sp
>>> from lightfm.cross_validation import random_train_test_split
>>> interactions = sp.coo_matrix(np.ones((3, 4)))
>>> weights = sp.coo_matrix(np.arange(1.0, 13.0).reshape(3, 4))
>>> train, test, train_weights, test_weights = random_train_test_split(
...     interactions, 0.25, random_state=0, weights=weights)
>>> bool(np.array_equal(train.row, train_weights.row) and np.array_equal(test.col, test_weights.col))
True
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ._params import as_random_state
from ._validation import InputTypeError, check_int, is_int, is_real, require_sparse

__all__ = ["random_train_test_split", "leave_k_out_split", "time_split"]


def random_train_test_split(interactions, test_percentage=0.2, random_state=None, *, weights=None):
    """Randomly split interactions into disjoint train and test sets.

    Every stored entry goes to exactly one side; a user may end up with all of
    their interactions on one side.

    Parameters
    ----------
    interactions : scipy sparse matrix of shape [n_users, n_items]
        The interactions to split (any format; duplicates are kept).
    test_percentage : float, default 0.2
        Fraction of the interactions in the test set, in [0, 1].
    random_state : int, numpy.random.RandomState or None
        Seed for a reproducible split.
    weights : scipy sparse matrix of shape [n_users, n_items], optional
        Weights of the interactions' entries (the same positions, in any
        order), such as the second matrix of
        :meth:`~lightfm.data.Dataset.build_interactions`. Given, they are
        split with their entries, and the same seed splits the interactions
        as without them.

    Returns
    -------
    (train, test) : (coo_matrix, coo_matrix)
        Both of the input's shape and dtype.
    (train, test, train_weights, test_weights) : tuple of four coo_matrix
        With ``weights``: the weight matrices (of the weights' dtype) have the
        same row and column arrays as ``train`` and ``test``.

    Raises
    ------
    ValueError
        If an argument is out of range, or ``weights`` does not store the
        interactions' positions.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from lightfm.cross_validation import random_train_test_split
    >>> train, test = random_train_test_split(sp.coo_matrix(np.ones((4, 5))), 0.2, random_state=0)
    >>> train.nnz, test.nnz
    (16, 4)
    """
    coo = _entries(interactions)
    test_percentage = _fraction(test_percentage, "test_percentage")
    random_state = _random_state(random_state)
    weight_values = _aligned(weights, coo, "weights")
    order = random_state.permutation(coo.nnz)
    cutoff = int((1.0 - test_percentage) * coo.nnz)
    return _split(coo, order[:cutoff], order[cutoff:], weight_values)


def leave_k_out_split(interactions, k=1, *, timestamps=None, weights=None, random_state=None):
    """Hold out ``k`` items of every user: at random, or the latest ``k`` by time.

    Every user with more than ``k`` distinct items gets exactly ``k`` of them
    in the test set and keeps the rest for training; users with ``k`` or fewer
    stay entirely in train (so every test user has training data). Repeated
    entries of a (user, item) pair go to the same side, so test and train
    never share a pair.

    Parameters
    ----------
    interactions : scipy sparse matrix of shape [n_users, n_items]
        The interactions to split (any format; every stored entry counts).
    k : int, default 1
        Items held out per user, at least 1.
    timestamps : array_like or scipy sparse matrix, optional
        The time of every entry: a 1-d array of numbers or ``datetime64``
        values aligned with ``interactions.tocoo()``'s entries (for a COO
        matrix, its own order), or a sparse matrix with the interactions'
        positions. Given, each user's test items are the ``k`` with the
        latest time (a repeated pair's time is its earliest); ties are broken
        at random. Absent, the ``k`` are drawn at random.
    weights : scipy sparse matrix of shape [n_users, n_items], optional
        As in :func:`random_train_test_split`.
    random_state : int, numpy.random.RandomState or None
        Seed for a reproducible split.

    Returns
    -------
    (train, test) or (train, test, train_weights, test_weights)
        As :func:`random_train_test_split`.

    Raises
    ------
    ValueError
        If ``k`` is not a positive integer, or ``timestamps`` or ``weights``
        do not match the interactions' entries.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from lightfm.cross_validation import leave_k_out_split
    >>> interactions = sp.coo_matrix(np.array([[1, 1, 1, 0], [0, 1, 0, 0], [1, 0, 1, 1]]))
    >>> train, test = leave_k_out_split(interactions, k=1, random_state=0)
    >>> test.getnnz(axis=1).tolist()  # the second user has only one item: kept for training
    [1, 0, 1]
    >>> times = sp.coo_matrix(np.array([[5, 9, 7, 0], [0, 3, 0, 0], [1, 0, 8, 2]]))
    >>> train, test = leave_k_out_split(interactions, k=2, timestamps=times)
    >>> test.toarray().tolist()
    [[0, 1, 1, 0], [0, 0, 0, 0], [0, 0, 1, 1]]
    """
    coo = _entries(interactions)
    k = check_int(k, "k")
    random_state = _random_state(random_state)
    times = _timestamps(timestamps, coo)
    weight_values = _aligned(weights, coo, "weights")
    pairs = _Pairs(coo, times)
    # One int64 key per pair, (user, latest first); a stable sort of the pairs in random order keeps
    # that order among equal keys: the random draw, or the tie-break between equal times.
    key = pairs.user.copy()
    if pairs.time is not None:
        span = np.int64(pairs.time.max(initial=0)) + 1
        key = key * span + (span - 1 - pairs.time)
    shuffled = random_state.permutation(pairs.n)
    order = shuffled[np.argsort(key[shuffled], kind="stable")]
    per_user = np.bincount(pairs.user, minlength=coo.shape[0])
    first_of_user = np.concatenate([[0], np.cumsum(per_user)[:-1]])
    users = pairs.user[order]
    place = np.arange(pairs.n) - first_of_user[users]
    test_pair = np.zeros(pairs.n, dtype=bool)
    test_pair[order] = (place < k) & (per_user[users] > k)
    return _split_mask(coo, test_pair[pairs.of_entry], weight_values)


def time_split(interactions, timestamps, test_percentage=0.2, *, weights=None):
    """Put the latest interactions in the test set: a split at one point in time.

    The (user, item) pairs are ordered by time, and the latest
    ``test_percentage`` of them form the test set, so every test pair is at
    least as recent as every training pair. Repeated entries of a pair go to
    the same side, at the time of its earliest entry (an item a user met in
    training is not new to them later). Ties are ordered by the entries'
    order. Users who appear only after the split point have no training data:
    evaluate on the users of both sides (or see :func:`leave_k_out_split`
    with ``timestamps`` for the latest items of every user).

    Parameters
    ----------
    interactions : scipy sparse matrix of shape [n_users, n_items]
        The interactions to split (any format; every stored entry counts).
    timestamps : array_like or scipy sparse matrix
        The time of every entry, as in :func:`leave_k_out_split`.
    test_percentage : float, default 0.2
        Fraction of the (user, item) pairs in the test set, in [0, 1]; with no
        repeated pairs, of the entries, as in :func:`random_train_test_split`.
    weights : scipy sparse matrix of shape [n_users, n_items], optional
        As in :func:`random_train_test_split`.

    Returns
    -------
    (train, test) or (train, test, train_weights, test_weights)
        As :func:`random_train_test_split`.

    Raises
    ------
    ValueError
        If ``test_percentage`` is out of range, or ``timestamps`` or
        ``weights`` do not match the interactions' entries.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from lightfm.cross_validation import time_split
    >>> interactions = sp.coo_matrix(([1, 1, 1, 1, 1], ([0, 0, 1, 1, 2], [0, 1, 0, 2, 1])), shape=(3, 3))
    >>> days = np.array(["2024-01-03", "2024-01-09", "2024-01-01", "2024-01-05", "2024-01-07"], dtype="datetime64[D]")
    >>> train, test = time_split(interactions, days, test_percentage=0.4)
    >>> sorted(zip(test.row.tolist(), test.col.tolist()))  # the two latest
    [(0, 1), (2, 1)]
    """
    coo = _entries(interactions)
    if timestamps is None:
        raise ValueError("time_split needs timestamps (one per entry); for a random split use random_train_test_split.")
    test_percentage = _fraction(test_percentage, "test_percentage")
    times = _timestamps(timestamps, coo)
    weight_values = _aligned(weights, coo, "weights")
    pairs = _Pairs(coo, times)
    # (time, first entry) as one int64 key: both are below the number of entries.
    order = np.argsort(pairs.time * np.int64(coo.nnz + 1) + pairs.first_entry)
    cutoff = int((1.0 - test_percentage) * pairs.n)
    test_pair = np.zeros(pairs.n, dtype=bool)
    test_pair[order[cutoff:]] = True
    return _split_mask(coo, test_pair[pairs.of_entry], weight_values)


# -- shared by the splits --------------------------------------------------------


def _entries(interactions) -> sp.coo_matrix:
    if not sp.issparse(interactions):
        raise ValueError("interactions must be a scipy.sparse matrix.")
    require_sparse(interactions, "interactions")  # malformed internals would crash tocoo()
    return interactions.tocoo()


def _fraction(value, name: str) -> float:
    if not is_real(value) or not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be a number between 0 and 1, got {value!r}.")
    return float(value)


def _random_state(random_state) -> np.random.RandomState:
    if not (random_state is None or isinstance(random_state, np.random.RandomState) or is_int(random_state)):
        raise InputTypeError(f"random_state must be None, an integer seed or a RandomState, got {random_state!r}.")
    try:
        return as_random_state(random_state)
    except ValueError as error:  # a seed outside [0, 2**32)
        raise ValueError(f"random_state: {error}") from None


def _aligned(matrix, coo: sp.coo_matrix, name: str) -> np.ndarray | None:
    """The values of ``matrix`` at ``coo``'s entries, in ``coo``'s order (None if ``matrix`` is None).

    ``matrix`` must store exactly ``coo``'s positions, each as often, in any order. Repeats of a
    position pair up in the order each matrix stores them.
    """
    if matrix is None:
        return None
    other = require_sparse(matrix, name).tocoo()
    if other.shape != coo.shape:
        raise ValueError(f"{name} has shape {other.shape} but interactions has shape {coo.shape}; they must match.")
    if other.nnz == coo.nnz and np.array_equal(other.row, coo.row) and np.array_equal(other.col, coo.col):
        return other.data
    mismatch = ValueError(
        f"{name} must store the same (row, column) entries as interactions ({other.nnz} stored against "
        f"{coo.nnz}): build both with Dataset.build_interactions, or from the same row and col arrays."
    )
    if other.nnz != coo.nnz:
        raise mismatch
    ours, theirs = _position_keys(coo), _position_keys(other)
    our_order, their_order = np.argsort(ours, kind="stable"), np.argsort(theirs, kind="stable")
    if not np.array_equal(ours[our_order], theirs[their_order]):
        raise mismatch
    values = np.empty_like(other.data)
    values[our_order] = other.data[their_order]
    return values


def _position_keys(coo: sp.coo_matrix) -> np.ndarray:
    return coo.row.astype(np.int64) * max(coo.shape[1], 1) + coo.col


def _timestamps(timestamps, coo: sp.coo_matrix) -> np.ndarray | None:
    """Every entry's time as an int64 order (equal times equal), or None."""
    if timestamps is None:
        return None
    if sp.issparse(timestamps):
        values = _aligned(timestamps, coo, "timestamps")
    else:
        values = np.asarray(timestamps.to_numpy() if hasattr(timestamps, "to_numpy") else timestamps)
        if values.ndim != 1 or values.shape[0] != coo.nnz:
            raise ValueError(
                f"timestamps must hold one time per stored entry of interactions ({coo.nnz}), "
                f"aligned with interactions.tocoo(); got shape {values.shape}."
            )
    if values.dtype.kind not in "iufmM":
        raise ValueError(
            f"timestamps must be numbers or datetime64 values, got {values.dtype}; convert them "
            "(e.g. pandas.to_datetime(column).to_numpy(), or seconds since an epoch)."
        )
    missing = np.isnat(values) if values.dtype.kind in "mM" else np.isnan(values) if values.dtype.kind == "f" else None
    if missing is not None and missing.any():
        raise ValueError(
            f"timestamps has {int(missing.sum())} missing values (NaN or NaT); drop those interactions or fill them."
        )
    # Ranks of the times: any orderable dtype becomes integers that can be negated and compared.
    return np.unique(values, return_inverse=True)[1].astype(np.int64).ravel()


class _Pairs:
    """The distinct (user, item) pairs of ``coo``: each entry's pair; each pair's user, first entry, earliest time."""

    def __init__(self, coo: sp.coo_matrix, times: np.ndarray | None):
        keys = _position_keys(coo)
        unique, of_entry = np.unique(keys, return_inverse=True)
        self.of_entry = of_entry.ravel()
        self.n = unique.size
        self.user = unique // max(coo.shape[1], 1)
        self.first_entry = np.full(self.n, keys.size, dtype=np.int64)
        np.minimum.at(self.first_entry, self.of_entry, np.arange(keys.size, dtype=np.int64))
        self.time = None
        if times is not None:
            self.time = np.full(self.n, np.iinfo(np.int64).max, dtype=np.int64)
            np.minimum.at(self.time, self.of_entry, times)


def _part(coo: sp.coo_matrix, index: np.ndarray, values: np.ndarray) -> sp.coo_matrix:
    return sp.coo_matrix((values[index], (coo.row[index], coo.col[index])), shape=coo.shape, dtype=values.dtype)


def _split(coo: sp.coo_matrix, train_index: np.ndarray, test_index: np.ndarray, weights: np.ndarray | None):
    parts = (_part(coo, train_index, coo.data), _part(coo, test_index, coo.data))
    if weights is None:
        return parts
    return parts + (_part(coo, train_index, weights), _part(coo, test_index, weights))


def _split_mask(coo: sp.coo_matrix, test: np.ndarray, weights: np.ndarray | None):
    return _split(coo, np.flatnonzero(~test), np.flatnonzero(test), weights)
