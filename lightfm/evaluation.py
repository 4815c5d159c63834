"""Ranking metrics for a fitted model, per user, with the original LightFM's definitions.

All metrics come from :meth:`LightFM.predict_rank` (or the ``predict_rank`` of
any other model, such as :class:`lightfm.baseline.PopularityBaseline`): every
test interaction is ranked among the items its user did not train on (0 =
best, ties counted against the item), so an item shown in training is never
recommended again. :func:`evaluate` computes every metric from one ranking.

Examples
--------
>>> import numpy as np, scipy.sparse as sp
>>> from lightfm import LightFM
>>> from lightfm.evaluation import precision_at_k, auc_score
>>> train = sp.coo_matrix(np.eye(5))
>>> test = sp.coo_matrix(np.roll(np.eye(5), 1, axis=1))
>>> model = LightFM(random_state=0).fit(train, epochs=3)
>>> precision_at_k(model, test, train, k=2).shape
(5,)
>>> bool(np.all((auc_score(model, test, train) >= 0) & (auc_score(model, test, train) <= 1)))
True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ._scoring import rank_test_interactions
from ._validation import InputTypeError, check_int, check_num_threads, require_sparse, to_pattern

__all__ = ["precision_at_k", "recall_at_k", "auc_score", "reciprocal_rank", "ndcg_at_k", "evaluate", "EvaluationResult"]


def _ranks(model, test_interactions, train_interactions, user_features, item_features, num_threads, check):
    return _ranks_and_train(
        model, test_interactions, train_interactions, user_features, item_features, num_threads, check
    )[0]


def _ranks_and_train(model, test_interactions, train_interactions, user_features, item_features, num_threads, check):
    """Ranks of the test interactions, and the train CSR excluded (rows of the test users).

    The ranks come from ``model.predict_rank``, as in the original, so that a
    subclass or wrapper overriding it is honoured. A model whose
    ``predict_rank`` is LightFM's own takes a path that also hands back the
    train matrix it converted, instead of converting it twice.
    """
    from .lightfm import LightFM

    check_num_threads(num_threads)
    if not callable(getattr(model, "predict_rank", None)):
        raise InputTypeError(
            f"model must be a fitted LightFM (or another model with predict_rank, such as "
            f"lightfm.baseline.PopularityBaseline), got {type(model).__name__}."
        )
    if getattr(type(model), "predict_rank", None) is LightFM.predict_rank:
        ranked = rank_test_interactions(
            model._state, model._backend(), test_interactions, train_interactions, item_features, user_features,
            num_threads, check,
        )  # fmt: skip
        # As predict_rank does: a side fit with features, scored by the identity default.
        model._warn_identity_default("the metric", {"user_features": user_features, "item_features": item_features},
                                     stacklevel=5)  # fmt: skip
        return ranked
    ranks = model.predict_rank(
        test_interactions,
        train_interactions=train_interactions,
        item_features=item_features,
        user_features=user_features,
        num_threads=num_threads,
        check_intersections=check,
    )
    ranks = sp.csr_matrix(require_sparse(ranks, "the ranks predict_rank returned"))
    if train_interactions is None:
        train = sp.csr_matrix(ranks.shape, dtype=np.float32)
    else:
        train = to_pattern(train_interactions, "train_interactions", keep_rows=np.diff(ranks.indptr) > 0)
    return ranks, train


def _per_user(values, ranks, preserve_rows):
    """Drop users without test interactions unless ``preserve_rows``."""
    if preserve_rows:
        return values
    return values[np.diff(ranks.indptr) > 0]


def _row_sums(ranks, values):
    """Sum ``values`` (aligned with ranks.data) per row."""
    return np.add.reduceat(np.append(values, 0.0), ranks.indptr[:-1]) * (np.diff(ranks.indptr) > 0)


def precision_at_k(
    model,
    test_interactions,
    train_interactions=None,
    k=10,
    user_features=None,
    item_features=None,
    preserve_rows=False,
    num_threads=1,
    check_intersections=True,
):
    """Precision at k: the fraction of a user's top k items that are test interactions.

    Parameters
    ----------
    model : LightFM or any model with ``predict_rank``
        A fitted model (a :class:`lightfm.baseline.PopularityBaseline` too).
    test_interactions : scipy sparse matrix of shape [n_users, n_items]
        Non-zero entries are the positives to find.
    train_interactions : scipy sparse matrix of shape [n_users, n_items], optional
        Entries excluded from the ranking (the training set).
    k : int, default 10
        Length of the recommendation list.
    user_features, item_features : scipy sparse matrices, optional
        The features the model was trained with.
    preserve_rows : bool, default False
        Keep one value per row of ``test_interactions`` (0 for users without
        test interactions) instead of only users with test interactions.
    num_threads : int, default 1
        Threads for ranking.
    check_intersections : bool, default True
        Raise ValueError if test and train share interactions.

    Returns
    -------
    np.float32 array
        Precision at k for each user.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from lightfm import LightFM
    >>> from lightfm.evaluation import precision_at_k
    >>> model = LightFM(random_state=0).fit(sp.coo_matrix(np.eye(3)))
    >>> float(precision_at_k(model, sp.coo_matrix(np.eye(3)), k=3).mean())
    0.3333333432674408
    """
    k = check_int(k, "k")
    ranks = _ranks(
        model, test_interactions, train_interactions, user_features, item_features, num_threads, check_intersections
    )
    return _per_user(_precision(ranks, k), ranks, preserve_rows)


def _precision(ranks, k):
    hits = _row_sums(ranks, (ranks.data < k).astype(np.float64))
    return (hits / k).astype(np.float32)


def recall_at_k(
    model,
    test_interactions,
    train_interactions=None,
    k=10,
    user_features=None,
    item_features=None,
    preserve_rows=False,
    num_threads=1,
    check_intersections=True,
):
    """Recall at k: the fraction of a user's test interactions found in their top k.

    Parameters as :func:`precision_at_k`. Returns a float64 array, as the
    original does; users without test interactions get NaN (0 / 0) when
    ``preserve_rows``.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from lightfm import LightFM
    >>> from lightfm.evaluation import recall_at_k
    >>> model = LightFM(random_state=0).fit(sp.coo_matrix(np.eye(3)))
    >>> float(recall_at_k(model, sp.coo_matrix(np.eye(3)), k=3).mean())
    1.0
    """
    k = check_int(k, "k")
    ranks = _ranks(
        model, test_interactions, train_interactions, user_features, item_features, num_threads, check_intersections
    )
    return _per_user(_recall(ranks, k), ranks, preserve_rows)


def _recall(ranks, k):
    hits = _row_sums(ranks, (ranks.data < k).astype(np.float64))
    counts = np.diff(ranks.indptr)
    return np.divide(hits, counts, out=np.full_like(hits, np.nan), where=counts > 0)


def auc_score(
    model,
    test_interactions,
    train_interactions=None,
    user_features=None,
    item_features=None,
    preserve_rows=False,
    num_threads=1,
    check_intersections=True,
):
    """ROC AUC of each user's test interactions against the items outside train and test.

    The AUC is the fraction of (positive, negative) pairs the model orders
    correctly; train interactions are neither positives nor negatives. Ties
    count as errors. With ``check_intersections=False`` an item in both test
    and train is a positive, negatives are the items in neither, and every
    value stays within [0, 1]. A user with no negatives (or, under ``preserve_rows``, no
    positives) scores 0.5. This matches scikit-learn's ``roc_auc_score`` when no
    scores tie, and the original LightFM whenever no two positives tie.

    Parameters and returns as :func:`precision_at_k`, without ``k``.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from lightfm import LightFM
    >>> from lightfm.evaluation import auc_score
    >>> model = LightFM(random_state=0).fit(sp.coo_matrix(np.eye(3)))
    >>> auc_score(model, sp.coo_matrix(np.eye(3))).shape
    (3,)
    """
    ranks, train = _ranks_and_train(
        model, test_interactions, train_interactions, user_features, item_features, num_threads, check_intersections
    )
    return _per_user(_auc(ranks, train, check_intersections), ranks, preserve_rows)


def _auc(ranks, train, check_intersections):
    n_users, n_items = ranks.shape
    # Distinct train items per user that are not test items: neither positives nor negatives.
    n_train = np.diff(train.indptr).astype(np.int64)
    if not check_intersections:  # items in both count once, as positives
        test_pattern = sp.csr_matrix((np.ones(ranks.nnz, dtype=np.float32), ranks.indices, ranks.indptr), ranks.shape)
        n_train -= test_pattern.multiply(train).getnnz(axis=1).astype(np.int64)
    auc = np.zeros(n_users, dtype=np.float32)
    from .backends._host_kernels import auc_from_ranks  # here: `import lightfm` does not load Numba

    auc_from_ranks(ranks.indptr.astype(np.int64), ranks.data, n_train, n_items, auc)
    return auc


def reciprocal_rank(
    model,
    test_interactions,
    train_interactions=None,
    user_features=None,
    item_features=None,
    preserve_rows=False,
    num_threads=1,
    check_intersections=True,
):
    """Reciprocal rank: 1 / (1 + rank of the user's best-ranked test interaction).

    Parameters and returns as :func:`precision_at_k`, without ``k``; users
    without test interactions get 0 when ``preserve_rows``.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from lightfm import LightFM
    >>> from lightfm.evaluation import reciprocal_rank
    >>> model = LightFM(random_state=0).fit(sp.coo_matrix(np.eye(3)))
    >>> bool(np.all(reciprocal_rank(model, sp.coo_matrix(np.eye(3))) > 0))
    True
    """
    ranks = _ranks(
        model, test_interactions, train_interactions, user_features, item_features, num_threads, check_intersections
    )
    return _per_user(_reciprocal(ranks), ranks, preserve_rows)


def _reciprocal(ranks):
    if ranks.shape[1] == 0:  # SciPy's max refuses a reduction over no columns
        return np.zeros(ranks.shape[0], dtype=np.float32)
    reciprocal = sp.csr_matrix((1.0 / (ranks.data + 1.0), ranks.indices, ranks.indptr), shape=ranks.shape)
    return np.asarray(reciprocal.max(axis=1).todense()).ravel().astype(np.float32)


def ndcg_at_k(
    model,
    test_interactions,
    train_interactions=None,
    k=10,
    user_features=None,
    item_features=None,
    preserve_rows=False,
    num_threads=1,
    check_intersections=True,
):
    """Normalised discounted cumulative gain at k with binary relevance (not in the original LightFM).

    DCG sums ``1 / log2(rank + 2)`` over the test interactions ranked in the
    top k; it is divided by the DCG of a perfect ranking of
    ``min(k, number of test interactions)`` items.

    Parameters and returns as :func:`precision_at_k`.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from lightfm import LightFM
    >>> from lightfm.evaluation import ndcg_at_k
    >>> model = LightFM(random_state=0).fit(sp.coo_matrix(np.eye(3)))
    >>> bool(np.all(ndcg_at_k(model, sp.coo_matrix(np.eye(3)), k=3) <= 1))
    True
    """
    k = check_int(k, "k")
    ranks = _ranks(
        model, test_interactions, train_interactions, user_features, item_features, num_threads, check_intersections
    )
    return _per_user(_ndcg(ranks, k), ranks, preserve_rows)


def _ndcg(ranks, k):
    gains = np.where(ranks.data < k, 1.0 / np.log2(ranks.data.astype(np.float64) + 2.0), 0.0)
    dcg = _row_sums(ranks, gains)
    # A user has at most n_items test items, so the ideal DCG never needs more than n_items terms.
    depth = min(k, ranks.shape[1])
    ideal_cumulative = np.concatenate([[0.0], np.cumsum(1.0 / np.log2(np.arange(depth) + 2.0))])
    ideal = ideal_cumulative[np.minimum(np.diff(ranks.indptr), depth)]
    ndcg = np.divide(dcg, ideal, out=np.zeros_like(dcg), where=ideal > 0)
    return ndcg.astype(np.float32)


# The metrics :func:`evaluate` computes, by the names of their functions.
_METRICS = ("precision_at_k", "recall_at_k", "auc_score", "reciprocal_rank", "ndcg_at_k")


@dataclass(frozen=True, repr=False)
class EvaluationResult:
    """Every metric of one evaluation, per user and averaged; returned by :func:`evaluate`.

    Attributes
    ----------
    k : int
        The cut-off of the ``@k`` metrics.
    users : numpy.ndarray of int64
        The evaluated users: the rows of the test matrix with test
        interactions, in order.
    per_user : dict of str to numpy.ndarray
        Each metric's values for ``users``, keyed by the name of its function
        (``"precision_at_k"``, ``"recall_at_k"``, ``"auc_score"``,
        ``"reciprocal_rank"``, ``"ndcg_at_k"``); equal to what the function
        returns with the same arguments.
    mean : dict of str to float
        Each metric's mean over ``users`` (NaN when there are none).
    """

    k: int
    users: np.ndarray
    per_user: dict
    mean: dict

    def to_frame(self):
        """The per-user values as a pandas DataFrame, one row per user (index ``user``), one column per metric.

        Needs pandas (``pip install pandas``).

        Examples
        --------
        >>> import numpy as np, scipy.sparse as sp
        >>> from lightfm.baseline import PopularityBaseline
        >>> from lightfm.evaluation import evaluate
        >>> train = sp.coo_matrix(np.array([[1, 1, 0, 0], [1, 0, 1, 0], [1, 1, 0, 0]]))
        >>> test = sp.coo_matrix(np.array([[0, 0, 0, 1], [0, 1, 0, 0], [0, 0, 1, 0]]))
        >>> frame = evaluate(PopularityBaseline().fit(train), test, train, k=1).to_frame()
        >>> frame.columns.tolist()
        ['precision_at_k', 'recall_at_k', 'auc_score', 'reciprocal_rank', 'ndcg_at_k']
        >>> frame["reciprocal_rank"].tolist()
        [0.5, 1.0, 1.0]
        """
        try:
            import pandas
        except ImportError:
            raise ImportError("EvaluationResult.to_frame needs pandas: pip install pandas.") from None
        frame = pandas.DataFrame(self.per_user, index=pandas.Index(self.users, name="user"))
        return frame

    def __repr__(self):
        means = ", ".join(f"{name}={value:.4f}" for name, value in self.mean.items())
        return f"EvaluationResult(k={self.k}, users={self.users.size}, {means})"


def evaluate(
    model,
    test_interactions,
    train_interactions=None,
    k=10,
    user_features=None,
    item_features=None,
    num_threads=1,
    check_intersections=True,
):
    """Every metric at once: precision, recall and NDCG at k, AUC and reciprocal rank, per user and averaged.

    The test interactions are ranked once (``model.predict_rank``) and every
    metric is computed from those ranks, with the definitions of
    :func:`precision_at_k`, :func:`recall_at_k`, :func:`auc_score`,
    :func:`reciprocal_rank` and :func:`ndcg_at_k`: the same values those
    return, with one ranking instead of one per metric.

    Parameters
    ----------
    model : LightFM or any model with ``predict_rank``
        A fitted model (a :class:`lightfm.baseline.PopularityBaseline` too).
    test_interactions : scipy sparse matrix of shape [n_users, n_items]
        Non-zero entries are the positives to find.
    train_interactions : scipy sparse matrix of shape [n_users, n_items], optional
        Entries excluded from the ranking (the training set).
    k : int, default 10
        Length of the recommendation list for the ``@k`` metrics.
    user_features, item_features : scipy sparse matrices, optional
        The features the model was trained with.
    num_threads : int, default 1
        Threads for ranking.
    check_intersections : bool, default True
        Raise ValueError if test and train share interactions.

    Returns
    -------
    EvaluationResult
        ``.mean`` (a dict of floats), ``.per_user`` (a dict of arrays over
        ``.users``, the users with test interactions), ``.to_frame()``.

    Raises
    ------
    ValueError
        As the metric functions: for an invalid ``k`` or ``num_threads``,
        mismatched shapes, or (with ``check_intersections``) test
        interactions that are also train interactions.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from lightfm.baseline import PopularityBaseline
    >>> from lightfm.evaluation import evaluate
    >>> train = sp.coo_matrix(np.array([[1, 1, 0, 0], [1, 0, 1, 0], [1, 1, 0, 0]]))
    >>> test = sp.coo_matrix(np.array([[0, 0, 0, 1], [0, 1, 0, 0], [0, 0, 1, 0]]))
    >>> result = evaluate(PopularityBaseline().fit(train), test, train, k=1)
    >>> result  # doctest: +ELLIPSIS
    EvaluationResult(k=1, users=3, precision_at_k=0.6667, recall_at_k=0.6667, auc_score=0.6667, ...)
    >>> result.per_user["reciprocal_rank"].tolist()  # user 0's item is second to item 2
    [0.5, 1.0, 1.0]
    >>> round(result.mean["precision_at_k"], 4), result.users.tolist()
    (0.6667, [0, 1, 2])
    """
    k = check_int(k, "k")
    ranks, train = _ranks_and_train(
        model, test_interactions, train_interactions, user_features, item_features, num_threads, check_intersections
    )
    full = {
        "precision_at_k": _precision(ranks, k),
        "recall_at_k": _recall(ranks, k),
        "auc_score": _auc(ranks, train, check_intersections),
        "reciprocal_rank": _reciprocal(ranks),
        "ndcg_at_k": _ndcg(ranks, k),
    }
    per_user = {name: _per_user(full[name], ranks, preserve_rows=False) for name in _METRICS}
    users = np.flatnonzero(np.diff(ranks.indptr) > 0).astype(np.int64)
    mean = {
        name: float(values.mean(dtype=np.float64)) if values.size else float("nan") for name, values in per_user.items()
    }
    return EvaluationResult(k=k, users=users, per_user=per_user, mean=mean)
