"""``ItemIndex``: a model's items in a nearest-neighbour index, answering ``recommend`` as the model does.

The index keeps the item side exactly as :meth:`lightfm.LightFM.recommend` builds it (columns
``[e_i, 1, b_i]``, :func:`lightfm._scoring.item_side`): the exact backend and every exact fallback
hand it to the model's own engine, so they return what ``recommend`` returns, and the approximate
path re-scores what the index finds from the same numbers.
"""

from __future__ import annotations

import hashlib
import json
import os

import numpy as np

from .. import _scoring
from .._persistence import ZIP_MAGIC, ModelFile, require_regular_file, write_atomic
from .._serving import _exclusion_csr, _representation_rows, check_representations, most_similar, unit_rows
from .._validation import (
    InputTypeError,
    ParameterError,
    check_index_range,
    check_int,
    check_num_threads,
    is_int,
    is_real,
    to_id_array,
)
from . import _faiss

BACKENDS = ("faiss", "exact")
FORMAT_NAME = "lightfm-ng item index"
FORMAT_VERSION = 1
# Labels a block of approximate searches may hold at once ([users, k]); bounds the re-scoring
# gather too, which holds (no_components + 2) floats per label.
_BLOCK_LABELS = 1 << 18


def _item_checksum(item_side: np.ndarray) -> str:
    """SHA-256 of the item block (shape, then values): what the index was built on."""
    digest = hashlib.sha256()
    digest.update(np.array(item_side.shape, dtype="<i8").tobytes())
    digest.update(np.ascontiguousarray(item_side, dtype="<f4").data)
    return digest.hexdigest()


def _item_block(model, item_features, method):
    """The model's item side (engine layout) over its items, and its checksum."""
    if not hasattr(model, "_state") or not hasattr(model, "_backend"):
        raise InputTypeError(f"model must be a fitted lightfm.LightFM, got {type(model).__name__}.")
    state = model._state
    state.validate()
    items = _scoring.served_features(state, item_features, "item", method)
    item_side = np.ascontiguousarray(_scoring.item_side(state, items, items.n_rows), dtype=np.float32)
    return item_side, _item_checksum(item_side)


def _check_bias_weight(item_bias_weight):
    if not is_real(item_bias_weight) or not np.isfinite(item_bias_weight) or item_bias_weight < 0:
        raise ValueError(
            f"item_bias_weight must be a finite number >= 0 (1 is the model's own), got {item_bias_weight!r}."
        )
    return np.float32(item_bias_weight)


class ItemIndex:
    """A fitted model's items in a nearest-neighbour index: top-n recommendations without scoring every item.

    :meth:`LightFM.recommend <lightfm.LightFM.recommend>` scores every item for
    every user; over millions of items that takes tenths of a second per user.
    An ``ItemIndex`` answers the same question (same arguments, same return
    shapes, padding and order) from a faiss index in about a millisecond or
    less, approximately: most of the true top ``n`` are found (recall@10
    of 0.96 to 0.99 at the defaults on the benchmark's catalogues of 100,000
    to 5 million items), and every score returned is the item's exact score.
    Create one with :meth:`build` or :meth:`load`, not the constructor.

    The score ``e_u . e_i + b_u + b_i`` is a maximum inner product search
    with the item bias folded in: items are indexed as ``[e_i, b_i]``, users
    query with ``[e_u, item_bias_weight]`` (the user bias ``b_u`` ranks
    nothing and is added back). The default index is faiss's IVF over the
    norm-augmented vectors (Bachrach et al. 2014: items ``[e_i, b_i,
    sqrt(R^2 - |e_i|^2 - b_i^2)]``, queries ``[e_u, w, 0]``, searched by
    Euclidean distance, which then ranks as the inner product does); it
    measured faster for the same recall than HNSW and than either searching
    the inner product natively (docs: "Approximate retrieval").

    The index holds the item side as the model had it at :meth:`build`: after
    training further, rebuild it. Users are read from the model at every
    call (new users, :meth:`lightfm.LightFM.fold_in_users`, need no rebuild).

    Attributes
    ----------
    model : lightfm.LightFM
        The model whose users query the index.
    backend : str
        ``"faiss"`` or ``"exact"``.
    params : dict
        The index's parameters, defaults filled in (empty for ``"exact"``).
    n_items : int
        Items in the index.
    checksum : str
        SHA-256 of the item representations the index was built from.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from lightfm import LightFM
    >>> from lightfm.ann import ItemIndex
    >>> train = sp.random(50, 40, density=0.2, format="csr", random_state=0)
    >>> model = LightFM(loss="warp", random_state=0).fit(train, epochs=5)
    >>> index = ItemIndex.build(model, backend="exact")  # backend="faiss" (the default) needs faiss
    >>> items, scores = index.recommend([0, 1], n=3, exclude=train)
    >>> expected_items, expected_scores = model.recommend([0, 1], n=3, exclude=train)
    >>> bool(np.array_equal(items, expected_items) and np.array_equal(scores, expected_scores))
    True
    """

    def __init__(self, *args, **kwargs):
        raise TypeError("Create an ItemIndex with ItemIndex.build(model, ...) or ItemIndex.load(path, model).")

    @classmethod
    def _create(cls, model, item_side, checksum, backend, params, searcher, similar_searcher=None):
        index = cls.__new__(cls)
        index.model = model
        index._item_side = item_side
        index.checksum = checksum
        index.backend = backend
        index.params = params
        index._searcher = searcher
        # The similarity index (faiss over the unit vectors; None for "exact", and in files written before it).
        index._similar_searcher = similar_searcher
        index._unit = None  # [d, n_items] unit vectors, computed at the first similar_items
        return index

    @property
    def n_items(self) -> int:
        return self._item_side.shape[1]

    @property
    def no_components(self) -> int:
        return self._item_side.shape[0] - 2

    @property
    def nbytes(self) -> int:
        """Memory the index holds, in bytes: the faiss indexes, the item side kept for exact scores, and the
        items' unit vectors for :meth:`similar_items` once made (at a faiss build, or at the first call).

        Examples
        --------
        >>> import scipy.sparse as sp
        >>> from lightfm import LightFM
        >>> from lightfm.ann import ItemIndex
        >>> model = LightFM(no_components=8, random_state=0).fit(sp.random(20, 100, density=0.1, random_state=0))
        >>> ItemIndex.build(model, backend="exact").nbytes  # (8 + 2) float32 per item
        4000
        """
        searchers = (self._searcher, self._similar_searcher)
        unit = 0 if self._unit is None else self._unit.nbytes
        searched = sum(searcher.nbytes for searcher in searchers if searcher is not None)
        return int(self._item_side.nbytes + unit + searched)

    def __repr__(self):
        params = "".join(f", {name}={value!r}" for name, value in self.params.items())
        return f"ItemIndex(backend={self.backend!r}, n_items={self.n_items}{params})"

    # -- building -----------------------------------------------------------------------------

    @classmethod
    def build(cls, model, *, item_features=None, backend="faiss", **params):
        """Index the items of a fitted model.

        Parameters
        ----------
        model : lightfm.LightFM
            A fitted model. Its item side is copied into the index; its users
            are read at every :meth:`recommend`.
        item_features : scipy sparse matrix of shape [n_items, n_item_features], optional
            The items' features, as in :meth:`lightfm.LightFM.recommend`: by
            default those the model was fit with (identity for a model fit
            without). The index holds one entry per row.
        backend : {"faiss", "exact"}, default "faiss"
            ``"faiss"``: an approximate index (needs ``pip install
            "lightfm-ng[ann]"``). ``"exact"``: no index, every item scored by
            the model's engine, exactly as ``LightFM.recommend`` does (the
            oracle for the approximate one, and the fast choice below about
            100,000 items).
        **params
            For ``"faiss"``:

            - ``index_type``: ``"ivf"`` (default: an inverted file, faiss's
              ``IndexIVFFlat``) or ``"hnsw"`` (a graph, ``IndexHNSWFlat``).
            - ``metric``: ``"l2"`` (default: norm-augmented vectors searched by
              Euclidean distance) or ``"inner_product"`` (the biased inner
              product searched natively).
            - IVF: ``nlist`` (lists, default about 4 sqrt(n_items)), ``nprobe``
              (lists searched for a top 10, default 128; changeable later with
              :meth:`set_search_params`).
            - HNSW: ``M`` (graph degree, default 32), ``ef_construction``
              (default 200), ``ef_search`` (default 1024; changeable later).
            - ``num_threads``: OpenMP threads for building (default: faiss's, all
              cores). With several, HNSW inserts items concurrently and the graph
              differs from run to run; with 1 it is reproducible.

        Returns
        -------
        ItemIndex

        Raises
        ------
        ValueError
            An unfitted model, item features that do not fit it, an unknown
            backend or parameter (a :class:`lightfm.ParameterError`), or
            ``backend="faiss"`` without faiss installed.

        Examples
        --------
        >>> import scipy.sparse as sp
        >>> from lightfm import LightFM
        >>> from lightfm.ann import ItemIndex
        >>> model = LightFM(random_state=0).fit(sp.random(30, 60, density=0.1, random_state=0))
        >>> ItemIndex.build(model, backend="exact")
        ItemIndex(backend='exact', n_items=60)
        >>> ItemIndex.build(model, backend="exact", M=16)
        Traceback (most recent call last):
        ...
        lightfm.ParameterError: backend='exact' takes no parameters, got ['M'].
        """
        if backend not in BACKENDS:
            raise ParameterError(f"backend must be one of {BACKENDS}, got {backend!r}.")
        if backend == "exact" and set(params) - {"num_threads"}:
            raise ParameterError(f"backend='exact' takes no parameters, got {sorted(set(params) - {'num_threads'})}.")
        item_side, checksum = _item_block(model, item_features, "ItemIndex.build")
        searcher = similar_searcher = None
        if backend == "exact":
            params = {}  # num_threads: nothing to build
        else:
            resolved, build_threads = _faiss.check_params(params, item_side.shape[1])
            _faiss.import_faiss()  # refuse before the vectors are copied
            searcher = _faiss.FaissSearcher.build(_index_vectors(item_side), resolved, build_threads)
            # Its vectors are not kept: similar_items makes them at its first call, as after load.
            similar_searcher = _faiss.FaissSearcher.build(_unit_side(item_side).T, resolved, build_threads)
            params = searcher.params
        return cls._create(model, item_side, checksum, backend, dict(params), searcher, similar_searcher)

    def set_search_params(self, **params):
        """Change the search effort without rebuilding: ``ef_search`` (HNSW) or ``nprobe`` (IVF).

        Higher values find more of the true top n and take longer.

        Parameters
        ----------
        **params
            ``ef_search=`` for an HNSW index, ``nprobe=`` for an IVF one.

        Returns
        -------
        ItemIndex
            The index itself.

        Examples
        --------
        >>> import scipy.sparse as sp
        >>> from lightfm import LightFM
        >>> from lightfm.ann import ItemIndex
        >>> model = LightFM(random_state=0).fit(sp.random(30, 60, density=0.1, random_state=0))
        >>> ItemIndex.build(model, backend="exact").set_search_params(ef_search=64)
        Traceback (most recent call last):
        ...
        lightfm.ParameterError: backend='exact' has no search parameters, got ['ef_search'].
        """
        if self._searcher is None:
            raise ParameterError(f"backend='exact' has no search parameters, got {sorted(params)}.")
        self._searcher.set_search_params(**params)
        if self._similar_searcher is not None:
            self._similar_searcher.set_search_params(**params)
        self.params = dict(self._searcher.params)
        return self

    # -- serving ------------------------------------------------------------------------------

    def recommend(
        self,
        user_ids=None,
        n=10,
        *,
        exclude=None,
        items=None,
        user_features=None,
        user_representations=None,
        item_bias_weight=1.0,
        num_threads=1,
    ):
        """The ``n`` best items for each user, best first, as :meth:`lightfm.LightFM.recommend` gives them.

        Same arguments (the item features are the index's), same return
        shapes, order and padding. With ``backend="faiss"`` the items are
        those the index finds: nearly always the exact top ``n``, never an
        excluded or non-candidate item, and exactly ``n`` of them whenever
        the user has that many candidates left (the index is searched again
        for more, and users it cannot serve are scored exactly). The scores
        are the items' exact scores.

        Parameters
        ----------
        user_ids : int or array-like of int
            Users (rows of the interaction matrix, or of ``user_features``);
            with ``user_representations``, rows of those (by default all).
        n : int, default 10
            Items per user (a larger ``n`` than there are items is reduced).
        exclude : scipy sparse matrix of shape [n_users, n_items], optional
            Stored entries are never recommended to their user.
        items : array-like of int, optional
            Candidate item indices; only these may be recommended. A small
            set is scored exactly; a large one is searched with over-fetching.
        user_features : scipy sparse matrix of shape [n_users, n_user_features], optional
            As in ``LightFM.recommend``: by default the model's.
        user_representations : (biases, embeddings), optional
            Users given by their representations
            (:meth:`lightfm.LightFM.fold_in_users`); ``exclude`` then has one
            row per representation.
        item_bias_weight : float, default 1.0
            How much the item biases count (>= 0). Exact for the index too:
            it weights the query's bias coordinate.
        num_threads : int, default 1
            Threads: faiss's OpenMP threads for the search (1: single-threaded)
            and the engine's for exact scoring.

        Returns
        -------
        (item_indices, scores) : (np.int64 array, np.float32 array)
            Shape [len(user_ids), n] (1-d for a scalar ``user_ids``), each row
            by descending score, ties by lower item index; rows with fewer
            than ``n`` candidates are padded with item -1 and score -inf.

        Raises
        ------
        ValueError
            As ``LightFM.recommend``: ids out of range, bad ``n``, a
            mis-shaped ``exclude``, and so on, naming the argument.

        Examples
        --------
        >>> import numpy as np, scipy.sparse as sp
        >>> from lightfm import LightFM
        >>> from lightfm.ann import ItemIndex
        >>> train = sp.random(40, 30, density=0.2, format="csr", random_state=0)
        >>> model = LightFM(loss="warp", random_state=0).fit(train, epochs=5)
        >>> index = ItemIndex.build(model, backend="exact")
        >>> items, scores = index.recommend(3, n=5, exclude=train, items=range(10))
        >>> items.shape, bool(train[3, items].nnz == 0), bool(items.max() < 10)
        ((5,), True, True)
        >>> index.recommend(3, n=0)
        Traceback (most recent call last):
        ...
        ValueError: n must be an integer >= 1, got 0.
        """
        model = self.model
        state = model._state
        state.validate()
        if state.no_components != self.no_components:
            raise ValueError(
                f"The model has {state.no_components} components, but the index was built from one with "
                f"{self.no_components}: rebuild the index (ItemIndex.build) for this model."
            )
        num_threads = check_num_threads(num_threads)
        n = check_int(n, "n")
        weight = _check_bias_weight(item_bias_weight)
        if user_representations is not None:
            rep_biases, rep_embeddings = check_representations(
                state, user_representations, user_features, "ItemIndex.recommend"
            )
            if user_ids is None:
                user_ids = np.arange(rep_biases.size)
            n_users = rep_biases.size

            def query_rows(ids):
                return _representation_rows(rep_biases[ids], rep_embeddings[ids])

            what = "row of user_representations"
        elif user_ids is None:
            raise ValueError(
                "ItemIndex.recommend needs user_ids, or user_representations (for users the model has not seen)."
            )
        else:
            users = _scoring.served_features(state, user_features, "user", "ItemIndex.recommend")
            n_users = users.n_rows

            def query_rows(ids):
                return _scoring.user_side(state, users, ids)

            what = "user id"
        scalar = np.ndim(user_ids) == 0
        user_ids = to_id_array(user_ids, "user_ids")
        check_index_range(user_ids, n_users, "user_ids", what)
        n_items = self.n_items
        candidates = None
        if items is not None:
            candidates = to_id_array(items, "items")
            check_index_range(candidates, n_items, "items", "item id")
            candidates = np.unique(candidates)
        n = min(n, n_items)
        exclusions = _exclusions(exclude, (n_users, n_items))
        search = _Search(self, query_rows, user_ids, n, exclusions, candidates, weight, num_threads)
        found, scores = search.run()
        return (found[0], scores[0]) if scalar else (found, scores)

    def similar_items(self, item_ids, n=10, *, num_threads=1):
        """The ``n`` items most similar to each of ``item_ids``, as :meth:`lightfm.LightFM.similar_items` gives them.

        Similarity is the cosine of the items' representations, which the
        recommendation index (the biased inner product) cannot search: an
        index built with ``backend="faiss"`` holds a second faiss index, of
        the same type and parameters, over the representations scaled to
        length 1. Same return shapes, order and padding as the model's; with
        ``backend="faiss"`` the items are those the index finds (nearly
        always the exact top ``n``; every similarity returned is exact), with
        ``backend="exact"`` exactly the model's answer.

        Parameters
        ----------
        item_ids : int or array-like of int
            Query items (rows of the index); each is left out of its own
            results.
        n : int, default 10
            Neighbours per item (at most the number of items).
        num_threads : int, default 1
            Threads: faiss's for the search, the engine's for exact scoring.

        Returns
        -------
        (item_indices, similarities) : (np.int64 array, np.float32 array)
            Shape [len(item_ids), n] (1-d for a scalar ``item_ids``), each row
            by descending similarity, ties by lower item index; padded with
            item -1 and similarity -inf where there are fewer other items.

        Raises
        ------
        ValueError
            Ids out of range or a bad ``n``, naming the argument; or an index
            file written before similar_items existed (it has no similarity
            index: rebuild it).

        Examples
        --------
        >>> import numpy as np, scipy.sparse as sp
        >>> from lightfm import LightFM
        >>> from lightfm.ann import ItemIndex
        >>> model = LightFM(random_state=0).fit(sp.random(30, 60, density=0.1, random_state=0))
        >>> index = ItemIndex.build(model, backend="exact")  # or backend="faiss" (the default)
        >>> neighbours, similarities = index.similar_items([3, 4], n=5)
        >>> expected, expected_similarities = model.similar_items([3, 4], n=5)
        >>> neighbours.shape, bool(np.array_equal(neighbours, expected))
        ((2, 5), True)
        """
        num_threads = check_num_threads(num_threads)
        n = check_int(n, "n")
        scalar = np.ndim(item_ids) == 0
        ids = to_id_array(item_ids, "item_ids")
        check_index_range(ids, self.n_items, "item_ids", "item id")
        if self.backend == "faiss" and self._similar_searcher is None:
            raise ValueError(
                "This index was written by an earlier lightfm-ng and holds no similarity index (for "
                "similar_items): rebuild it with ItemIndex.build(model) (on the command line, 'lightfm index')."
            )
        n = min(n, self.n_items)
        found = np.full((ids.size, n), -1, dtype=np.int64)
        similarities = np.full((ids.size, n), -np.inf, dtype=np.float32)
        if n and ids.size:
            _similar(self, ids, n, num_threads, found, similarities)
        return (found[0], similarities[0]) if scalar else (found, similarities)

    def _unit_side(self):
        if self._unit is None:
            self._unit = _unit_side(self._item_side)  # two threads racing here compute the same array
        return self._unit

    # -- files --------------------------------------------------------------------------------

    def save(self, path):
        """Write the index to one file (an ``.npz`` of plain arrays and JSON; no pickle), atomically.

        The model is not saved with it: :meth:`load` takes the model (save
        it with :meth:`lightfm.LightFM.save`) and checks that its item side
        is the one the index was built from.

        Parameters
        ----------
        path : str or os.PathLike
            The file to write (replaced whole, or left as it was on error).

        Examples
        --------
        >>> import os, tempfile
        >>> import scipy.sparse as sp
        >>> from lightfm import LightFM
        >>> from lightfm.ann import ItemIndex
        >>> model = LightFM(random_state=0).fit(sp.random(30, 60, density=0.1, random_state=0))
        >>> path = os.path.join(tempfile.mkdtemp(), "items.index")
        >>> ItemIndex.build(model, backend="exact").save(path)
        >>> ItemIndex.load(path, model)
        ItemIndex(backend='exact', n_items=60)
        """
        metadata = {
            "backend": self.backend,
            "params": self.params,
            "n_items": self.n_items,
            "no_components": self.no_components,
            "checksum": self.checksum,
        }
        arrays = {
            "format": np.array(FORMAT_NAME, dtype=np.str_),
            "format_version": np.array(FORMAT_VERSION, dtype=np.int64),
            "metadata": np.array(json.dumps(metadata), dtype=np.str_),
        }
        if self._searcher is not None:
            arrays["index"] = self._searcher.serialize()
        if self._similar_searcher is not None:
            arrays["similar_index"] = self._similar_searcher.serialize()
        write_atomic(path, lambda file: np.savez(file, **arrays))

    @classmethod
    def load(cls, path, model, *, item_features=None):
        """Read an index written by :meth:`save`, for ``model``.

        Parameters
        ----------
        path : str or os.PathLike
            The index file.
        model : lightfm.LightFM
            The model the index was built from (or one with the same item
            side, e.g. loaded from its file).
        item_features : scipy sparse matrix, optional
            The item features the index was built with, when the model does
            not hold them (as in :meth:`build`).

        Returns
        -------
        ItemIndex

        Raises
        ------
        ValueError
            When the file is not an index, is corrupt, or the model's item
            representations (with these item features) are not those the
            index was built from: trained since, another model, other
            features.

        Examples
        --------
        >>> import os, tempfile
        >>> import scipy.sparse as sp
        >>> from lightfm import LightFM
        >>> from lightfm.ann import ItemIndex
        >>> train = sp.random(30, 60, density=0.1, random_state=0)
        >>> model = LightFM(random_state=0).fit(train)
        >>> path = os.path.join(tempfile.mkdtemp(), "items.index")
        >>> ItemIndex.build(model, backend="exact").save(path)
        >>> retrained = LightFM(random_state=1).fit(train)
        >>> ItemIndex.load(path, retrained)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: model: its item representations are not those the index ... was built from ...
        """
        with _IndexFile(path) as file:
            metadata = file.json("metadata")
            backend, params, n_items, no_components, checksum = _check_metadata(metadata, file.path)
            blob = file.array("index", np.uint8, (None,)) if backend == "faiss" else None
            # Files written before similar_items have no similarity index: they still recommend.
            similar_blob = file.array("similar_index", np.uint8, (None,)) if file.has("similar_index") else None
        if backend == "faiss":
            _faiss.import_faiss()  # refuse before the model's item side is computed
        item_side, actual = _item_block(model, item_features, "ItemIndex.load")
        if item_side.shape != (no_components + 2, n_items) or actual != checksum:
            found = f"{item_side.shape[1]} items of {item_side.shape[0] - 2} components"
            raise ValueError(
                f"model: its item representations are not those the index {file.path} was built from "
                f"({n_items} items of {no_components} components, checksum {checksum[:12]}...; this model has "
                f"{found}, checksum {actual[:12]}...). The model was trained since, is another model, or "
                "item_features differ from the build's: rebuild the index with ItemIndex.build(model)."
            )
        searcher = similar_searcher = None
        if backend == "faiss":
            resolved, _ = _faiss.check_params(params, n_items)
            searcher = _faiss.FaissSearcher.deserialize(blob, resolved, n_items, no_components, file.path)
            if similar_blob is not None:
                similar_searcher = _faiss.FaissSearcher.deserialize(
                    similar_blob, resolved, n_items, no_components, f"{file.path} (similarity index)", extra=0
                )
            params = searcher.params
        return cls._create(model, item_side, checksum, backend, dict(params), searcher, similar_searcher)


def _index_vectors(item_side):
    """Rows ``[e_i, b_i]`` of the item side: what the faiss index holds."""
    vectors = np.empty((item_side.shape[1], item_side.shape[0] - 1), dtype=np.float32)
    vectors[:, :-1] = item_side[:-2].T
    vectors[:, -1] = item_side[-1]
    return vectors


def _unit_side(item_side):
    """The items' representations scaled to length 1, [d, n_items]: what :meth:`LightFM.similar_items
    <lightfm.LightFM.similar_items>` ranks by, computed as it computes them (a zero representation stays 0)."""
    return np.ascontiguousarray(unit_rows(np.ascontiguousarray(item_side[:-2].T)).T)


def _similar(index, ids, n, num_threads, found, similarities):
    """Fill ``found``/``similarities`` [ids, n] with each id's nearest items by cosine, itself left out."""
    unit = index._unit_side()
    n_items = index.n_items
    searcher = index._similar_searcher
    k = min(n + 1, n_items)  # the query itself is nearly always found first
    rows = np.arange(ids.size)
    if searcher is not None and not searcher.exact_is_cheaper(n_items, k):
        wanted = min(n, n_items - 1)
        exact_rows = []
        step = max(1, _BLOCK_LABELS // k)
        for start in range(0, ids.size, step):
            block = rows[start : start + step]
            queries = np.ascontiguousarray(unit[:, ids[block]].T)
            labels = searcher.search(queries, k, num_threads)
            valid = (labels >= 0) & (labels != ids[block][:, None])
            # A zero representation is as similar (0) to every item: the exact answer's ties, by lowest index.
            enough = (valid.sum(axis=1) >= wanted) & queries.any(axis=1)
            exact_rows.append(block[~enough])
            block, queries, labels, valid = block[enough], queries[enough], labels[enough], valid[enough]
            if block.size == 0:
                continue
            labels = np.where(valid, labels, 0)
            scores = np.einsum("rj,jrk->rk", queries, np.take(unit, labels, axis=1))
            scores[~valid] = -np.inf
            order = np.lexsort((labels, -scores), axis=-1)[:, :n]
            best, best_scores = np.take_along_axis(labels, order, axis=1), np.take_along_axis(scores, order, axis=1)
            found[block] = np.where(np.isfinite(best_scores), best, -1)
            similarities[block] = best_scores
        rows = np.concatenate(exact_rows)
    if rows.size == 0:
        return
    # As LightFM.similar_items scores: every item, each query leaving itself out.
    exact_found, exact_similarities = most_similar(index.model._backend(), unit, ids[rows], n, num_threads)
    found[rows] = exact_found
    similarities[rows] = exact_similarities


def _exclusions(exclude, shape):
    """``(indptr, indices)`` of ``exclude`` (CSR, sorted rows), or None when nothing is excluded."""
    if exclude is None:
        return None
    return _exclusion_csr(exclude, shape)


class _Search:
    """One ``recommend`` call: which users the index serves, which are scored exactly, and the merge."""

    def __init__(self, index, query_rows, user_ids, n, exclusions, candidates, weight, num_threads):
        self.index = index
        self.engine = index.model._backend()
        self.query_rows = query_rows
        self.user_ids = user_ids
        self.n = n
        self.exclusions = exclusions
        self.candidates = candidates
        self.weight = weight
        self.num_threads = num_threads
        self.n_items = index.n_items
        self.items = np.full((user_ids.size, n), -1, dtype=np.int64)
        self.scores = np.full((user_ids.size, n), -np.inf, dtype=np.float32)
        self._scaled_side = None

    def run(self):
        searcher = self.index._searcher
        rows = np.arange(self.user_ids.size)
        if self.n == 0 or rows.size == 0:
            return self.items, self.scores
        n_allowed = self.n_items if self.candidates is None else self.candidates.size
        if searcher is None or searcher.exact_is_cheaper(n_allowed, self.n):
            self.exact(rows)
            return self.items, self.scores
        excluded = self.excluded_counts()
        # Users may have fewer candidates left than n: they get all of them, then padding.
        self.wanted = np.minimum(self.n, n_allowed - excluded)
        # Excluded items are typically the user's best (their training items): fetch past all of them,
        # scaled up by how thin the candidates are among the items.
        fetch = np.ceil((self.n + excluded) * (self.n_items / max(n_allowed, 1))).astype(np.int64)
        fetch = np.minimum(np.maximum(fetch, self.n), self.n_items)
        if self.candidates is not None:
            self.allowed = np.zeros(self.n_items, dtype=bool)
            self.allowed[self.candidates] = True
        exact_rows = []
        while rows.size:
            buckets = _power_of_two(fetch[rows])
            retry, retry_k = [], []
            for k in np.unique(buckets):
                group = rows[buckets == k]
                k = int(min(k, self.n_items))
                if searcher.exact_is_cheaper(n_allowed, k):
                    exact_rows.append(group)
                    continue
                step = max(1, _BLOCK_LABELS // k)
                for start in range(0, group.size, step):
                    unfinished = self.approximate(group[start : start + step], k)
                    retry.append(unfinished)
                    retry_k.append(np.full(unfinished.size, 2 * k, dtype=np.int64))
            rows = np.concatenate(retry) if retry else rows[:0]
            if rows.size:
                fetch[rows] = np.concatenate(retry_k)
        if exact_rows:
            self.exact(np.concatenate(exact_rows))
        return self.items, self.scores

    def excluded_counts(self):
        """How many of each user's excluded items are candidates."""
        if self.exclusions is None:
            return np.zeros(self.user_ids.size, dtype=np.int64)
        indptr, indices = self.exclusions
        if self.candidates is None:
            return indptr[self.user_ids + 1] - indptr[self.user_ids]
        allowed = np.zeros(self.n_items, dtype=bool)
        allowed[self.candidates] = True
        running = np.concatenate([[0], np.cumsum(allowed[indices], dtype=np.int64)])
        return running[indptr[self.user_ids + 1]] - running[indptr[self.user_ids]]

    def approximate(self, rows, k):
        """Search the index for ``rows`` (positions in user_ids) with ``k`` results; fill those that got
        enough, return the positions that need a larger ``k``. Those the index cannot serve (it found
        fewer than ``k``, or ``k`` reached the catalogue) are scored exactly at once."""
        d = self.index.no_components
        block = self.query_rows(self.user_ids[rows])
        queries = np.empty((rows.size, d + 1), dtype=np.float32)
        queries[:, :d] = block[:, :d]
        queries[:, d] = self.weight
        labels = self.index._searcher.search(queries, k, self.num_threads)
        valid = labels >= 0
        exhausted = ~valid.all(axis=1) | (k >= self.n_items)
        labels = np.where(valid, labels, 0)
        if self.candidates is not None:
            valid &= self.allowed[labels]
        if self.exclusions is not None:
            valid &= ~self.is_excluded(rows, labels)
        enough = valid.sum(axis=1) >= self.wanted[rows]
        self.fill(rows[enough], block[enough], labels[enough], valid[enough])
        short = ~enough
        self.exact(rows[short & exhausted])
        return rows[short & ~exhausted]

    def is_excluded(self, rows, labels):
        """Whether ``labels[r, j]`` is among the excluded items of user ``user_ids[rows[r]]``.

        One sorted key per excluded (row, item) pair, ``r * n_items + item``, searched for every label.
        """
        indptr, indices = self.exclusions
        users = self.user_ids[rows]
        starts, lengths = indptr[users], indptr[users + 1] - indptr[users]
        total = int(lengths.sum())
        if total == 0:
            return np.zeros(labels.shape, dtype=bool)
        owner = np.repeat(np.arange(rows.size, dtype=np.int64), lengths)
        offsets = np.cumsum(lengths) - lengths
        positions = np.arange(total, dtype=np.int64) - np.repeat(offsets - starts, lengths)
        keys = owner * self.n_items + indices[positions]  # sorted: rows in order, each row's indices sorted
        wanted = np.arange(rows.size, dtype=np.int64)[:, None] * self.n_items + labels
        found = np.minimum(np.searchsorted(keys, wanted), total - 1)
        return keys[found] == wanted

    def fill(self, rows, block, labels, valid):
        """Exact scores of the valid labels, each row's best n in recommend's order, into the output."""
        if rows.size == 0:
            return
        side = self.index._item_side
        gathered = np.take(side, labels, axis=1)  # [d + 2, rows, k]: [e_i, 1, b_i] of every label
        gathered[-1] *= self.weight
        scores = np.einsum("rj,jrk->rk", block, gathered)
        scores[~valid] = -np.inf
        order = np.lexsort((labels, -scores), axis=-1)[:, : self.n]
        best_labels = np.take_along_axis(labels, order, axis=1)
        best_scores = np.take_along_axis(scores, order, axis=1)
        found = np.isfinite(best_scores)
        self.items[rows] = np.where(found, best_labels, -1)
        self.scores[rows] = best_scores

    def exact(self, rows):
        """Score ``rows`` against every candidate with the model's engine, as LightFM.recommend does."""
        if rows.size == 0:
            return
        side = self.scaled_side()
        n_users_rows = self.user_ids[rows]
        if self.exclusions is None:
            indptr, indices = np.zeros(int(n_users_rows.max()) + 2, dtype=np.int64), np.zeros(0, dtype=np.int32)
        else:
            indptr, indices = self.exclusions
        found, scores = self.engine.top_n(
            self.query_rows,
            n_users_rows,
            side,
            self.n,
            (indptr, indices, self.n_items),
            n_users_rows,
            self.candidates,
            self.num_threads,
        )
        self.items[rows] = found
        self.scores[rows] = scores

    def scaled_side(self):
        """The item side (candidate columns only, when given) with the biases weighted, as recommend builds it."""
        if self._scaled_side is None:
            side = self.index._item_side
            if self.candidates is not None:
                side = np.ascontiguousarray(side[:, self.candidates])
            if self.weight != 1.0:
                if side is self.index._item_side:
                    side = side.copy()
                side[-1] *= self.weight
            self._scaled_side = side
        return self._scaled_side


def _power_of_two(values):
    """The smallest power of two >= each value: users fetching similar counts share one search."""
    return np.left_shift(1, np.ceil(np.log2(np.maximum(values, 1))).astype(np.int64))


class _IndexFile(ModelFile):
    """An index file opened for validated reading (the model file's checks, this format's marker)."""

    def __init__(self, path):
        self.path = os.fspath(path)
        require_regular_file(self.path)
        with open(self.path, "rb") as file:
            magic = file.read(len(ZIP_MAGIC))
        if magic != ZIP_MAGIC:
            raise ValueError(f"{self.path} is not an ItemIndex file: it is not an .npz archive.")
        try:
            self._archive = np.load(self.path, allow_pickle=False)
        except Exception as error:
            raise ValueError(f"{self.path} is truncated or corrupt: {error}.") from None
        if "format" not in self._archive.files or self.text("format") != FORMAT_NAME:
            self._archive.close()
            raise ValueError(f"{self.path} is not an ItemIndex file (no {FORMAT_NAME!r} marker).")
        version = int(self.array("format_version", np.int64, ()))
        if version != FORMAT_VERSION:
            self._archive.close()
            raise ValueError(
                f"{self.path} has index format version {version}; this lightfm-ng reads version "
                f"{FORMAT_VERSION}. Upgrade lightfm-ng or rebuild the index."
            )


def _check_metadata(metadata, where):
    """``(backend, params, n_items, no_components, checksum)`` of an index file's metadata, checked."""
    try:
        backend, params = metadata["backend"], metadata["params"]
        n_items, no_components, checksum = metadata["n_items"], metadata["no_components"], metadata["checksum"]
    except (KeyError, TypeError):
        raise ValueError(f"{where}: the index metadata is incomplete.") from None
    if backend not in BACKENDS or not isinstance(params, dict) or (backend == "exact" and params):
        raise ValueError(f"{where}: the index metadata names an unknown backend or malformed parameters.")
    if not (is_int(n_items) and n_items >= 0 and is_int(no_components) and no_components >= 1):
        raise ValueError(f"{where}: the index metadata has malformed sizes.")
    if not (isinstance(checksum, str) and len(checksum) == 64):
        raise ValueError(f"{where}: the index metadata has a malformed checksum.")
    return backend, params, int(n_items), int(no_components), checksum
