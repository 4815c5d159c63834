"""A popularity baseline with LightFM's fitting and scoring interface.

:class:`PopularityBaseline` recommends the items with the most training
interactions to every user. It has :class:`lightfm.LightFM`'s ``fit``,
``fit_partial``, ``predict`` and ``predict_rank``, so the functions of
:mod:`lightfm.evaluation` score it as they score a model: the number any
model should beat.

Examples
--------
>>> import numpy as np, scipy.sparse as sp
>>> from lightfm.baseline import PopularityBaseline
>>> from lightfm.evaluation import precision_at_k
>>> train = sp.coo_matrix(np.array([[1, 1, 0, 0], [1, 0, 1, 0], [1, 1, 0, 0]]))
>>> test = sp.coo_matrix(np.array([[0, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 1]]))
>>> model = PopularityBaseline().fit(train)
>>> model.item_popularity.tolist()
[3.0, 2.0, 1.0, 0.0]
>>> precision_at_k(model, test, train, k=1).tolist()
[1.0, 1.0, 0.0]
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ._validation import (
    check_index_range,
    check_int,
    check_num_threads,
    to_features,
    to_id_pairs,
    to_interactions,
    to_pattern,
    to_sample_weight,
)

__all__ = ["PopularityBaseline"]


class PopularityBaseline:
    """Scores every item by its number of positive training interactions, the same for every user.

    An item's score is the number of stored entries with a positive value in
    its column of the training interactions (LightFM's positives), or the sum
    of their ``sample_weight`` when one is given. Users do not change the
    scores, so users never seen in training (cold-start users) can be scored
    and ranked too; items must be the fitted ones.

    The methods take LightFM's arguments, so that code written for a
    :class:`lightfm.LightFM` runs unchanged; the feature matrices, ``epochs``
    and ``verbose`` are validated and otherwise ignored.

    Attributes
    ----------
    item_popularity : numpy.ndarray of float64, shape [n_items,], or None
        The items' scores (None before fitting).

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from lightfm.baseline import PopularityBaseline
    >>> train = sp.coo_matrix(np.array([[1, 1, 0], [0, 1, 0], [0, 1, 1]]))
    >>> model = PopularityBaseline().fit(train)
    >>> model.predict(0, [0, 1, 2]).tolist()
    [1.0, 3.0, 1.0]
    """

    def __init__(self):
        self.item_popularity = None
        self._n_users = 0

    def fit(
        self,
        interactions,
        user_features=None,
        item_features=None,
        sample_weight=None,
        epochs=1,
        num_threads=1,
        verbose=False,
    ):
        """Count the items' positive interactions, discarding any previous counts.

        Parameters
        ----------
        interactions : scipy sparse matrix of shape [n_users, n_items]
            Training interactions; every stored entry with a value > 0 counts
            once (repeats count again).
        user_features, item_features : scipy sparse matrices, optional
            Accepted for LightFM's interface: checked to have a row per user
            or item, otherwise ignored.
        sample_weight : scipy sparse matrix of shape [n_users, n_items], optional
            Weights of the interactions' entries (the same entries, in the same
            order, as LightFM requires): an item's score is then the sum of its
            positive entries' weights.
        epochs : int, default 1
            Accepted for LightFM's interface (an integer >= 0); counting takes
            one pass whatever its value.
        num_threads : int, default 1
            Accepted for LightFM's interface (an integer >= 1).
        verbose : bool, default False
            Ignored.

        Returns
        -------
        PopularityBaseline
            The fitted model (``self``).

        Raises
        ------
        ValueError
            For an invalid matrix or argument, or ``sample_weight`` that does
            not match the interactions' entries or is negative.

        Examples
        --------
        >>> import numpy as np, scipy.sparse as sp
        >>> from lightfm.baseline import PopularityBaseline
        >>> interactions = sp.coo_matrix(np.array([[1, 1], [1, 0]]))
        >>> weights = sp.coo_matrix(np.array([[0.5, 4.0], [0.5, 0.0]]))
        >>> PopularityBaseline().fit(interactions, sample_weight=weights).item_popularity.tolist()
        [1.0, 4.0]
        """
        counts, n_users = _count(interactions, user_features, item_features, sample_weight, epochs, num_threads)
        # Assigned only once everything was accepted: a refused fit leaves the model as it was.
        self.item_popularity, self._n_users = counts, n_users
        return self

    def fit_partial(
        self,
        interactions,
        user_features=None,
        item_features=None,
        sample_weight=None,
        epochs=1,
        num_threads=1,
        verbose=False,
    ):
        """Add the counts of more interactions to the current ones.

        Arguments as :meth:`fit`; after a first fit, ``interactions`` must have
        the fitted shape (as LightFM requires of its embeddings).

        Returns
        -------
        PopularityBaseline
            The fitted model (``self``).

        Examples
        --------
        >>> import numpy as np, scipy.sparse as sp
        >>> from lightfm.baseline import PopularityBaseline
        >>> model = PopularityBaseline().fit(sp.coo_matrix(np.array([[1, 0], [1, 0]])))
        >>> model.fit_partial(sp.coo_matrix(np.array([[0, 1], [0, 0]]))).item_popularity.tolist()
        [2.0, 1.0]
        """
        counts, n_users = _count(interactions, user_features, item_features, sample_weight, epochs, num_threads)
        if self.item_popularity is not None:
            if (n_users, counts.size) != self._shape():
                raise ValueError(
                    f"interactions has shape {(n_users, counts.size)} but the model was fitted on {self._shape()}; "
                    "call fit() to start over with the new shape."
                )
            counts = self.item_popularity + counts
        self.item_popularity, self._n_users = counts, n_users
        return self

    def predict(self, user_ids, item_ids, item_features=None, user_features=None, num_threads=1):
        """The scores of user-item pairs: the items' popularity, whatever the users.

        Parameters
        ----------
        user_ids : int or array-like of int of shape [n_pairs,]
            A single user index (scored against every item in ``item_ids``)
            or one per pair; any index >= 0, seen in training or not.
        item_ids : array-like of int of shape [n_pairs,]
            One item index per pair, from 0 to n_items - 1.
        item_features, user_features : scipy sparse matrices, optional
            Accepted for LightFM's interface; ignored.
        num_threads : int, default 1
            Accepted for LightFM's interface (an integer >= 1).

        Returns
        -------
        np.float32 array of shape [n_pairs,]

        Raises
        ------
        ValueError
            Before fitting, on mismatched lengths, or on indices out of range.

        Examples
        --------
        >>> import numpy as np, scipy.sparse as sp
        >>> from lightfm.baseline import PopularityBaseline
        >>> model = PopularityBaseline().fit(sp.coo_matrix(np.array([[1, 1], [0, 1]])))
        >>> model.predict([0, 1], [0, 1]).tolist()
        [1.0, 2.0]
        """
        scores = self._scores()
        check_num_threads(num_threads)
        user_ids, item_ids = to_id_pairs(user_ids, item_ids)
        check_index_range(user_ids, np.iinfo(np.int64).max, "user_ids", "user id")
        check_index_range(item_ids, scores.size, "item_ids", "item id")
        return scores[item_ids]

    def predict_rank(
        self,
        test_interactions,
        train_interactions=None,
        item_features=None,
        user_features=None,
        num_threads=1,
        check_intersections=True,
    ):
        """Rank each test interaction among all items for its user, as :meth:`lightfm.LightFM.predict_rank`.

        For every stored entry ``(u, i)`` of ``test_interactions``, the rank is
        the number of other items that user ``u`` did not interact with in
        ``train_interactions`` and whose popularity is at least ``i``'s (0 is
        the top of the list; ties count against the item).

        Parameters
        ----------
        test_interactions : scipy sparse matrix of shape [n_users, n_items]
            Entries whose ranks are computed: any number of users, the fitted
            number of items.
        train_interactions : scipy sparse matrix of shape [n_users, n_items], optional
            Entries excluded from the ranking (typically the training set).
        item_features, user_features : scipy sparse matrices, optional
            Accepted for LightFM's interface: checked to have a row per item or
            user, otherwise ignored.
        num_threads : int, default 1
            Accepted for LightFM's interface (an integer >= 1).
        check_intersections : bool, default True
            Raise ValueError if test and train share entries.

        Returns
        -------
        np.float32 csr_matrix of shape [n_users, n_items]
            Ranks at the positions of the test entries.

        Raises
        ------
        ValueError
            Before fitting, on shapes that do not match, or (with
            ``check_intersections``) entries in both test and train.

        Examples
        --------
        >>> import numpy as np, scipy.sparse as sp
        >>> from lightfm.baseline import PopularityBaseline
        >>> train = sp.coo_matrix(np.array([[1, 1, 0], [0, 1, 0], [1, 1, 0]]))
        >>> model = PopularityBaseline().fit(train)
        >>> test = sp.csr_matrix(np.array([[0, 0, 1], [1, 0, 1], [0, 0, 0]]))
        >>> ranks = model.predict_rank(test, train)
        >>> ranks.data.tolist()  # (0, 2) is user 0's only candidate; item 0 outranks 2 for user 1
        [0.0, 0.0, 1.0]
        """
        scores = self._scores()
        check_num_threads(num_threads)
        test = to_pattern(test_interactions, "test_interactions")
        n_users, n_items = test.shape
        if n_items != scores.size:
            raise ValueError(
                f"test_interactions has {n_items} columns but the model was fitted on {scores.size} items; "
                "pass a matrix with one column per fitted item."
            )
        to_features(user_features, n_users, "user_features")
        to_features(item_features, n_items, "item_features")
        rows = np.repeat(np.arange(n_users, dtype=np.int64), np.diff(test.indptr))
        test_scores = scores[test.indices]
        # Items scoring at least as high as the test item, over all items, less the item itself.
        ranks = n_items - np.searchsorted(np.sort(scores), test_scores, side="left") - 1
        if train_interactions is not None:
            train = to_pattern(train_interactions, "train_interactions", keep_rows=np.diff(test.indptr) > 0)
            if train.shape != test.shape:
                raise ValueError(
                    f"train_interactions has shape {train.shape} but test_interactions has shape {test.shape}."
                )
            ranks -= _train_items_at_least(scores, test, rows, train)
            in_train = _stored(train, rows, test.indices)
            if check_intersections and in_train.any():
                raise ValueError(
                    f"Test interactions matrix and train interactions matrix share {int(in_train.sum())} "
                    "interactions. This will cause incorrect evaluation, check your data split "
                    "(or pass check_intersections=False)."
                )
            # A test item also in train was subtracted as one of the train items: it is not another item.
            ranks += in_train
        return sp.csr_matrix((ranks.astype(np.float32), test.indices.copy(), test.indptr.copy()), shape=test.shape)

    def _scores(self) -> np.ndarray:
        """The items' scores as ``predict`` returns them (float32): ranks compare these."""
        if self.item_popularity is None:
            raise ValueError("This PopularityBaseline is not fitted yet: call fit() or fit_partial() first.")
        return np.asarray(self.item_popularity, dtype=np.float32)

    def _shape(self):
        return (self._n_users, 0 if self.item_popularity is None else self.item_popularity.size)

    def __repr__(self):
        return "PopularityBaseline()"


def _count(interactions, user_features, item_features, sample_weight, epochs, num_threads):
    """(each item's positive count or weight sum, number of users), every argument checked."""
    check_int(epochs, "epochs", minimum=0)
    check_num_threads(num_threads)
    data = to_interactions(interactions)
    n_users, n_items = data.shape
    to_features(user_features, n_users, "user_features")
    to_features(item_features, n_items, "item_features")
    weights = np.ones(data.rows.size) if sample_weight is None else to_sample_weight(sample_weight, data)
    positive = data.data > 0
    counts = np.bincount(data.cols[positive], weights=weights[positive].astype(np.float64), minlength=n_items)
    return counts.astype(np.float64), n_users


def _train_items_at_least(scores, test, rows, train) -> np.ndarray:
    """For each test entry, how many of its user's train items score at least as high as it."""
    levels = np.unique(scores)
    level = np.searchsorted(levels, scores)  # each item's score as a dense integer rank
    width = np.int64(levels.size + 1)
    train_rows = np.repeat(np.arange(train.shape[0], dtype=np.int64), np.diff(train.indptr))
    # One sorted key per train entry, (user, score level): a user's items at or above a level are a range.
    train_keys = np.sort(train_rows * width + level[train.indices])
    above = np.searchsorted(train_keys, rows * width + level[test.indices], side="left")
    end = np.searchsorted(train_keys, (rows + 1) * width, side="left")
    return end - above


def _stored(matrix: sp.csr_matrix, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Whether each (rows[j], cols[j]) is stored in ``matrix`` (a CSR with sorted, unique indices)."""
    n_cols = np.int64(max(matrix.shape[1], 1))
    stored_rows = np.repeat(np.arange(matrix.shape[0], dtype=np.int64), np.diff(matrix.indptr))
    keys = stored_rows * n_cols + matrix.indices  # sorted: rows ascend, indices ascend within a row
    wanted = rows * n_cols + cols
    where = np.minimum(np.searchsorted(keys, wanted), max(keys.size - 1, 0))
    return (keys[where] == wanted) if keys.size else np.zeros(wanted.size, dtype=bool)
