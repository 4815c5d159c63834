"""Splitting interactions into train and test sets."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ._params import as_random_state
from ._validation import InputTypeError, is_int, is_real, require_sparse

__all__ = ["random_train_test_split"]


def random_train_test_split(interactions, test_percentage=0.2, random_state=None):
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

    Returns
    -------
    (train, test) : (coo_matrix, coo_matrix)
        Both of the input's shape and dtype.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from lightfm.cross_validation import random_train_test_split
    >>> train, test = random_train_test_split(sp.coo_matrix(np.ones((4, 5))), 0.2, random_state=0)
    >>> train.nnz, test.nnz
    (16, 4)
    """
    if not sp.issparse(interactions):
        raise ValueError("interactions must be a scipy.sparse matrix.")
    require_sparse(interactions, "interactions")  # malformed internals would crash tocoo()
    if not is_real(test_percentage) or not 0.0 <= test_percentage <= 1.0:
        raise ValueError(f"test_percentage must be a number between 0 and 1, got {test_percentage!r}.")
    if not (random_state is None or isinstance(random_state, np.random.RandomState) or is_int(random_state)):
        raise InputTypeError(f"random_state must be None, an integer seed or a RandomState, got {random_state!r}.")
    try:
        random_state = as_random_state(random_state)
    except ValueError as error:  # a seed outside [0, 2**32)
        raise ValueError(f"random_state: {error}") from None
    coo = interactions.tocoo()
    order = random_state.permutation(coo.nnz)
    cutoff = int((1.0 - test_percentage) * coo.nnz)

    def part(index):
        return sp.coo_matrix((coo.data[index], (coo.row[index], coo.col[index])), shape=coo.shape, dtype=coo.dtype)

    return part(order[:cutoff]), part(order[cutoff:])
