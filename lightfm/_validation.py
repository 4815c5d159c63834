"""Input validation and conversion shared by the estimator and the evaluation functions.

Everything a kernel reads is checked here first: Numba does not check bounds,
so an index out of range would corrupt memory instead of raising.
"""

from __future__ import annotations

import numbers
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

# Defined with the engine interface, since engines raise it too; imported from here by the core.
from .backends.base import ParameterError as ParameterError

INDEX_LIMIT = np.iinfo(np.int32).max


class InputTypeError(TypeError, ValueError):
    """An argument of the wrong type (a string for ids, a dense vector for a matrix, ...).

    Both a :class:`TypeError` and a :class:`ValueError`: the original LightFM
    raises ValueError for these, so existing ``except ValueError`` clauses
    keep catching them. Exported as ``lightfm.InputTypeError``.
    """

    __module__ = "lightfm"


class FeatureMatrix(NamedTuple):
    """A side's features in kernel form; ``identity`` means row r is feature r with weight 1."""

    indptr: np.ndarray
    indices: np.ndarray
    data: np.ndarray
    n_rows: int
    n_features: int
    identity: bool
    matrix: sp.csr_matrix | None

    @property
    def arrays(self):
        """The kernels' ``feats`` argument: the CSR arrays, or None for identity features."""
        if self.identity:
            return None
        return (self.indptr, self.indices, self.data)


_EMPTY_FEATS = (np.zeros(1, dtype=np.int64), np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.float32))


def identity_features(n_rows: int) -> FeatureMatrix:
    """The implicit identity feature matrix of ``n_rows`` rows."""
    return FeatureMatrix(*_EMPTY_FEATS, n_rows=n_rows, n_features=n_rows, identity=True, matrix=None)


def all_finite(*arrays: np.ndarray) -> bool:
    """Whether every value of every array is finite (no NaN or infinity)."""
    # A sum is finite only if every term is (terms are at most float32's range, so it cannot
    # overflow float64), and it needs no boolean temporary of the array's size.
    with np.errstate(invalid="ignore", over="ignore"):
        return all(np.isfinite(np.sum(values, dtype=np.float64)) for values in arrays)


def check_finite(values: np.ndarray, name: str) -> None:
    """Raise ValueError when ``values`` hold NaN or infinity."""
    if values.size and not all_finite(values):
        raise ValueError(
            f"{name} contains NaN or infinite values; remove or replace them before fitting or predicting."
        )


def require_sparse(matrix, name: str):
    if isinstance(matrix, np.ndarray) and matrix.ndim == 2:
        return sp.coo_matrix(matrix)
    if not sp.issparse(matrix):
        raise InputTypeError(
            f"{name} must be a scipy.sparse matrix (or a 2-d NumPy array), got {type(matrix).__name__}."
        )
    if matrix.ndim != 2:
        raise ValueError(f"{name} must be 2-dimensional, got shape {matrix.shape}.")
    if not (np.issubdtype(matrix.dtype, np.number) or matrix.dtype == np.bool_) or np.issubdtype(
        matrix.dtype, np.complexfloating
    ):
        raise InputTypeError(f"{name} must hold real numbers, got dtype {matrix.dtype}.")
    _check_structure(matrix, name)
    return matrix


def _check_structure(matrix, name: str) -> None:
    """Refuse a sparse matrix whose internal arrays disagree, before anything converts it.

    SciPy's conversions trust these arrays: a CSR ``indptr`` that overshoots or
    decreases, or a COO index outside the shape (from editing ``.indptr`` or
    ``.row`` in place, ``check=False``, a corrupt file) makes its C code read
    and write out of bounds and can crash the interpreter. Vectorised; O(nnz).
    """
    fmt = matrix.format

    def bad(problem):
        raise ValueError(
            f"{name} is a malformed {fmt.upper()} matrix: {problem}. Rebuild it with "
            f"scipy.sparse.{fmt}_matrix(...) from valid arrays (matrix.check_format() names the problem)."
        )

    n_rows, n_cols = (int(n) for n in matrix.shape)
    if n_rows < 0 or n_cols < 0:
        bad(f"negative shape {matrix.shape}")
    if fmt in ("csr", "csc", "bsr"):
        if fmt == "bsr":
            block_rows, block_cols = matrix.blocksize
            if block_rows < 1 or block_cols < 1 or n_rows % block_rows or n_cols % block_cols:
                bad(f"blocksize {matrix.blocksize} does not divide the shape {matrix.shape}")
            major, minor = n_rows // block_rows, n_cols // block_cols
        else:
            major, minor = (n_rows, n_cols) if fmt == "csr" else (n_cols, n_rows)
        indptr, indices, data = np.asarray(matrix.indptr), np.asarray(matrix.indices), np.asarray(matrix.data)
        for label, array in (("indptr", indptr), ("indices", indices)):
            if array.ndim != 1 or not np.issubdtype(array.dtype, np.integer):
                bad(f"{label} must be a 1-d integer array, got {array.dtype} of shape {array.shape}")
        if indptr.size != major + 1:
            bad(f"indptr has {indptr.size} entries, expected {major + 1}")
        if indptr[0] != 0 or (major and np.any(indptr[1:] < indptr[:-1])):
            bad("indptr must start at 0 and never decrease")
        stored = int(indptr[-1])
        available = min(indices.size, data.shape[0] if data.ndim else 0)
        if stored > available:
            bad(f"indptr ends at {stored}, past the {available} stored entries")
        check_index_range(indices[:stored], minor, f"{name} (malformed: indices)", "index")
    elif fmt == "coo":
        row, col, data = np.asarray(matrix.row), np.asarray(matrix.col), np.asarray(matrix.data)
        if row.ndim != 1 or row.shape != col.shape or data.shape != row.shape:
            bad(f"row, col and data have shapes {row.shape}, {col.shape}, {data.shape}")
        check_index_range(row, n_rows, f"{name} (malformed: row)", "row index")
        check_index_range(col, n_cols, f"{name} (malformed: col)", "column index")
    elif fmt == "dia":
        data, offsets = np.asarray(matrix.data), np.asarray(matrix.offsets)
        if data.ndim != 2 or offsets.ndim != 1 or data.shape[0] != offsets.size:
            bad(f"data {data.shape} and offsets {offsets.shape} do not match")


def n_rows(matrix, name: str) -> int:
    """The number of rows of a matrix argument, refusing anything that is not one."""
    return require_sparse(matrix, name).shape[0]


def _as_float32(values: np.ndarray, name: str) -> np.ndarray:
    out = np.ascontiguousarray(values, dtype=np.float32)
    check_finite(out, name)
    return out


def _as_index(values: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(values, dtype=np.int32)


def check_index_range(values: np.ndarray, upper: int, name: str, what: str) -> None:
    """Raise ValueError unless every value lies in ``[0, upper)``."""
    if values.size == 0:
        return
    low = values.min()
    high = values.max()
    if low < 0:
        raise ValueError(f"{name} contains a negative {what} ({low}); {what}s must be >= 0.")
    if high >= upper:
        raise ValueError(f"{name} contains {what} {high}, but only {upper} exist (valid: 0 to {upper - 1}).")


class Interactions(NamedTuple):
    rows: np.ndarray
    cols: np.ndarray
    data: np.ndarray
    shape: tuple


def to_interactions(matrix, name: str = "interactions") -> Interactions:
    """Convert any sparse matrix to validated COO arrays (int32 rows/cols, float32 data).

    Every stored entry is kept, duplicates and explicit zeros included: each is a
    training example.
    """
    coo = require_sparse(matrix, name).tocoo()
    n_users, n_items = coo.shape
    if n_users > INDEX_LIMIT or n_items > INDEX_LIMIT or coo.nnz > INDEX_LIMIT:
        raise ValueError(f"{name} is too large: at most {INDEX_LIMIT} users, items and entries are supported.")
    rows = _as_index(coo.row)
    cols = _as_index(coo.col)
    check_index_range(rows, n_users, name, "row index")
    check_index_range(cols, n_items, name, "column index")
    return Interactions(rows, cols, _as_float32(coo.data, name), (n_users, n_items))


def to_pattern(matrix, name: str, keep_rows=None) -> sp.csr_matrix:
    """The stored entries of ``matrix`` as a CSR with sorted, unique int32 indices, checked to be in range.

    Repeated entries count once and the values are not kept (ranking and
    exclusion read the pattern only). With ``keep_rows`` (a boolean mask of the
    rows), other rows are left empty.
    """
    data = to_interactions(matrix, name)
    if keep_rows is not None and keep_rows.shape[0] == data.shape[0]:
        entries = np.flatnonzero(keep_rows[data.rows]).astype(np.int32)
    else:
        entries = np.arange(data.rows.size, dtype=np.int32)
    from .backends._host_kernels import build_positives  # here: `import lightfm` does not load Numba

    indptr, indices = build_positives(data.rows, data.cols, entries, *data.shape)
    csr = sp.csr_matrix((np.ones(indices.size, dtype=np.float32), indices, indptr), shape=data.shape)
    csr.indices = np.ascontiguousarray(csr.indices, dtype=np.int32)
    return csr


def to_sample_weight(sample_weight, interactions: Interactions) -> np.ndarray:
    """Validate ``sample_weight`` against the interactions: same entries, finite, >= 0."""
    weights = to_interactions(sample_weight, "sample_weight")
    if weights.shape != interactions.shape:
        raise ValueError(
            f"sample_weight has shape {weights.shape} but interactions has shape {interactions.shape}; they must match."
        )
    if not (np.array_equal(weights.rows, interactions.rows) and np.array_equal(weights.cols, interactions.cols)):
        raise ValueError(
            "sample_weight must have exactly the entries of interactions, in the same order "
            "(build both from the same row and col arrays, e.g. with Dataset.build_interactions)."
        )
    if weights.data.size and weights.data.min() < 0:
        raise ValueError("sample_weight contains negative weights; weights must be >= 0.")
    return weights.data


def _is_identity(csr: sp.csr_matrix) -> bool:
    n = csr.shape[0]
    return (
        csr.shape[1] == n
        and csr.nnz == n
        and np.array_equal(csr.indptr, np.arange(n + 1))
        and np.array_equal(csr.indices, np.arange(n))
        and bool(np.all(csr.data == 1))
    )


def to_features(matrix, n_rows: int, name: str) -> FeatureMatrix:
    """Convert a feature matrix (or None: identity) to kernel form.

    The matrix needs at least ``n_rows`` rows. An explicit identity matrix is
    detected and takes the identity fast path.
    """
    if matrix is None:
        return identity_features(n_rows)
    csr = sp.csr_matrix(require_sparse(matrix, name))
    if csr.shape[0] < n_rows:
        raise ValueError(
            f"{name} has {csr.shape[0]} rows but {n_rows} are needed (one per "
            f"{'user' if 'user' in name else 'item'}); pass one row for every id."
        )
    if csr.shape[1] > INDEX_LIMIT or csr.nnz > INDEX_LIMIT:
        raise ValueError(f"{name} is too large: at most {INDEX_LIMIT} features and entries are supported.")
    try:
        csr.check_format(full_check=True)
    except ValueError as error:
        raise ValueError(f"{name} is not a valid CSR matrix: {error}") from None
    if _is_identity(csr):
        return identity_features(csr.shape[0])
    return FeatureMatrix(
        np.ascontiguousarray(csr.indptr, dtype=np.int64),
        _as_index(csr.indices),
        _as_float32(csr.data, name),
        n_rows=csr.shape[0],
        n_features=csr.shape[1],
        identity=False,
        matrix=csr,
    )


def to_id_array(ids, name: str) -> np.ndarray:
    """Convert ids (scalar, list or array of integers) to a 1-d int64 array."""
    array = np.asarray(ids)
    if array.ndim == 0:
        array = array.reshape(1)
    if array.ndim != 1:
        raise ValueError(f"{name} must be a 1-d sequence of integer ids, got shape {array.shape}.")
    if array.size and not np.issubdtype(array.dtype, np.integer):
        if np.issubdtype(array.dtype, np.floating) and np.all(np.isfinite(array)) and np.all(array == np.round(array)):
            array = array.astype(np.int64)
        else:
            raise InputTypeError(f"{name} must hold integer ids, got dtype {array.dtype}.")
    return np.ascontiguousarray(array, dtype=np.int64)


def to_id_pairs(user_ids, item_ids) -> tuple[np.ndarray, np.ndarray]:
    """``predict``'s ``(user_ids, item_ids)`` as two int64 arrays of equal length: a single user id
    is repeated for every item."""
    item_ids = to_id_array(item_ids, "item_ids")
    if np.ndim(user_ids) == 0:
        user_ids = np.full(item_ids.size, to_id_array(user_ids, "user_ids")[0], dtype=np.int64)
    else:
        user_ids = to_id_array(user_ids, "user_ids")
    if user_ids.size != item_ids.size:
        raise ValueError(
            f"Expected the number of user ids ({user_ids.size}) to equal the number of item ids "
            f"({item_ids.size}): predict scores pairs (user_ids[i], item_ids[i])."
        )
    return user_ids, item_ids


def is_int(value) -> bool:
    """An integer (NumPy's included), not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_real(value) -> bool:
    """A real number (NumPy's included), not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_int(value, name: str, minimum: int = 1, maximum: int | None = None) -> int:
    """Return ``value`` as an int, or raise ValueError naming ``name`` unless it is an integer in range."""
    if not is_int(value) or value < minimum or (maximum is not None and value > maximum):
        bounds = f">= {minimum}" if maximum is None else f"from {minimum} to {maximum}"
        raise ValueError(f"{name} must be an integer {bounds}, got {value!r}.")
    return int(value)


# Threads beyond this are a mistake, not a machine: each costs a thread and its working memory.
MAX_THREADS = 4096


def check_num_threads(num_threads) -> int:
    """Return ``num_threads`` as an int, or raise ValueError if it is not an integer from 1 to MAX_THREADS."""
    return check_int(num_threads, "num_threads", maximum=MAX_THREADS)
