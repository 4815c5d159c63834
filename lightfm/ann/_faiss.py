"""The faiss side of :class:`lightfm.ann.ItemIndex`: parameters, building, searching, serialising.

faiss is imported inside the functions that need it, so that ``import lightfm.ann`` (and the
package's doctests) work without the ``ann`` extra.

Every search here is over vectors ``[e_i, b_i]`` (an item's representation and bias) with queries
``[e_u, w]`` (a user's representation and the item-bias weight): their inner product is the
model's score less the user's bias, which ranks nothing. With ``metric="l2"`` the items carry one
more coordinate, ``sqrt(R^2 - |[e_i, b_i]|^2)`` with ``R`` the largest such norm, and the queries
a 0 there: every item then has norm ``R``, so ``|q - x|^2 = |q|^2 + R^2 - 2 q.x`` and the nearest
item in L2 is the one of largest inner product (Bachrach et al. 2014), whatever ``w`` is.
"""

from __future__ import annotations

import contextlib
import math

import numpy as np

from .._validation import ParameterError, is_int

INDEX_TYPES = ("hnsw", "ivf")
METRICS = ("inner_product", "l2")

# Defaults, chosen by benchmarks/bench_ann.py on generated catalogues of 100k-5M items with the
# norm and bias spread of a WARP model trained on MovieLens (docs/ann.md has the tables). IVF over
# the norm-augmented vectors found the true top 10 at recall 0.979 in 0.6 ms per user at 1M items;
# HNSW needed 3.1 ms for 0.947 and six times as long to build. Natively inner-product indexes lose
# recall on these vectors, whose norms vary (IVF: 0.871 at the same settings; HNSW levels off near
# 0.92): their neighbourhoods are not those of a metric.
DEFAULT_INDEX_TYPE = "ivf"
HNSW_DEFAULTS = {"metric": "l2", "M": 32, "ef_construction": 200, "ef_search": 1024}
IVF_DEFAULTS = {"metric": "l2", "nlist": None, "nprobe": 128}
# k-means trains on this many items per list. faiss's own cap, 256, makes training most of a
# build (its cost grows as N^1.5, nlist growing as sqrt(N)): at 1M items 64 train in 51 s instead
# of 75 s, for 0.008 less recall (0.973 instead of 0.980 at 128 lists probed); at 5M, minutes.
TRAIN_PER_LIST = 64

# Brute force scores this many items in the time HNSW spends per unit of max(ef_search, k) (a
# contiguous product against random reads of graph neighbours; measured on the benchmark machine
# at 100k-1M items, 64 components). Beyond that, an over-fetch costs more than scoring exactly.
_HNSW_EXACT_RATIO = 24
_IVF_EXACT_RATIO = 1
# Fewer candidates than this are always scored exactly: no index can beat one small product.
EXACT_BELOW = 4096


def import_faiss():
    """The faiss module, or a ParameterError saying how to install it."""
    try:
        import faiss
    except ImportError:
        raise ParameterError(
            'backend="faiss" needs faiss, which is not installed: pip install "lightfm-ng[ann]" '
            '(or use backend="exact").'
        ) from None
    return faiss


def check_params(params: dict, n_items: int) -> tuple[dict, int | None]:
    """``params`` for backend="faiss" completed with the defaults, every value checked.

    Returns the parameters the index is built with (``nlist`` resolved for ``n_items``);
    ``num_threads`` is a building option, not a property of the index, and is returned apart.
    """
    params = dict(params)
    build_threads = params.pop("num_threads", None)
    if build_threads is not None and not (is_int(build_threads) and 1 <= build_threads <= 4096):
        raise ParameterError(f"num_threads must be an integer from 1 to 4096, got {build_threads!r}.")
    index_type = params.pop("index_type", DEFAULT_INDEX_TYPE)
    if index_type not in INDEX_TYPES:
        raise ParameterError(f"index_type must be one of {INDEX_TYPES}, got {index_type!r}.")
    defaults = HNSW_DEFAULTS if index_type == "hnsw" else IVF_DEFAULTS
    unknown = sorted(set(params) - set(defaults))
    if unknown:
        raise ParameterError(
            f"unknown parameter {unknown[0]!r} for backend='faiss' with index_type={index_type!r}; "
            f"expected some of {['index_type', 'num_threads', *defaults]}."
        )
    resolved = {"index_type": index_type, **defaults, **params}
    if resolved["metric"] not in METRICS:
        raise ParameterError(f"metric must be one of {METRICS}, got {resolved['metric']!r}.")
    if index_type == "hnsw":
        _check_positive(resolved, "M", minimum=2, maximum=4096)
        _check_positive(resolved, "ef_construction")
        _check_positive(resolved, "ef_search")
    else:
        if resolved["nlist"] is None:
            resolved["nlist"] = default_nlist(n_items)
        _check_positive(resolved, "nlist", maximum=max(n_items, 1))
        _check_positive(resolved, "nprobe")
        resolved["nprobe"] = min(resolved["nprobe"], resolved["nlist"])
    return resolved, build_threads


def default_nlist(n_items: int) -> int:
    """About 4 sqrt(N) lists, and at least 39 items per list (k-means needs them to train)."""
    return max(1, min(int(4 * math.sqrt(n_items)), n_items // 39))


def _check_positive(params, name, minimum=1, maximum=2**31 - 1):
    value = params[name]
    if not is_int(value) or not minimum <= value <= maximum:
        raise ParameterError(f"{name} must be an integer from {minimum} to {maximum}, got {value!r}.")
    params[name] = int(value)


@contextlib.contextmanager
def omp_threads(faiss, num_threads):
    """faiss's OpenMP threads set to ``num_threads`` for the block, restored after.

    OpenMP keeps this setting per calling thread, so concurrent callers do not see each other's.
    """
    if num_threads is None:
        yield
        return
    previous = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(int(num_threads))
    try:
        yield
    finally:
        faiss.omp_set_num_threads(previous)


class FaissSearcher:
    """A faiss index over the items' ``[e_i, b_i]`` (see the module docstring), and how to query it.

    The similarity index of :meth:`lightfm.ann.ItemIndex.similar_items` is one too, over the items' unit
    vectors ``e_i / |e_i|``: there the augmentation gives every nonzero item 0 and a zero one 1, so that
    Euclidean distance ranks as the cosine does, zero representations (similarity 0) included.
    """

    def __init__(self, index, params: dict):
        self.index = index
        self.params = params
        self.apply_search_params()

    @property
    def augmented(self) -> bool:
        return self.params["metric"] == "l2"

    @classmethod
    def build(cls, vectors: np.ndarray, params: dict, num_threads=None) -> FaissSearcher:
        """An index over ``vectors`` ([n_items, d + 1] float32, C-contiguous), built as ``params`` say."""
        faiss = import_faiss()
        if params["metric"] == "l2":
            squared = np.einsum("ij,ij->i", vectors, vectors, dtype=np.float64)
            radius2 = float(squared.max()) if squared.size else 0.0
            extra = np.sqrt(np.maximum(radius2 - squared, 0.0)).astype(np.float32)
            vectors = np.concatenate([vectors, extra[:, None]], axis=1)
            metric = faiss.METRIC_L2
        else:
            metric = faiss.METRIC_INNER_PRODUCT
        d = vectors.shape[1]
        with omp_threads(faiss, num_threads):
            if params["index_type"] == "hnsw":
                index = faiss.IndexHNSWFlat(d, params["M"], metric)
                index.hnsw.efConstruction = params["ef_construction"]
            else:
                quantizer = faiss.IndexFlatIP(d) if metric == faiss.METRIC_INNER_PRODUCT else faiss.IndexFlatL2(d)
                index = faiss.IndexIVFFlat(quantizer, d, params["nlist"], metric)  # keeps a reference to it
                # k-means on a reproducible sample (TRAIN_PER_LIST items per list).
                sample = min(vectors.shape[0], TRAIN_PER_LIST * params["nlist"])
                rows = np.sort(np.random.default_rng(0).choice(vectors.shape[0], sample, replace=False))
                index.cp.seed = 0
                index.train(np.ascontiguousarray(vectors[rows]))
            if vectors.shape[0]:
                index.add(np.ascontiguousarray(vectors))
        return cls(index, params)

    def apply_search_params(self):
        if self.params["index_type"] == "hnsw":
            self.index.hnsw.efSearch = self.params["ef_search"]
        else:
            self.index.nprobe = self.params["nprobe"]

    def set_search_params(self, **values):
        """Change ``ef_search`` (HNSW) or ``nprobe`` (IVF) without rebuilding."""
        allowed = ("ef_search",) if self.params["index_type"] == "hnsw" else ("nprobe",)
        unknown = sorted(set(values) - set(allowed))
        if unknown:
            raise ParameterError(
                f"{unknown[0]!r} is not a search parameter of a {self.params['index_type']} index; "
                f"it has {list(allowed)} (the others are fixed when the index is built)."
            )
        params = dict(self.params)
        for name, value in values.items():
            params[name] = value
            _check_positive(params, name)
        if "nprobe" in values:
            params["nprobe"] = min(params["nprobe"], params["nlist"])
        self.params = params
        self.apply_search_params()

    def search_params(self, k: int):
        """faiss's parameters for one search of ``k`` results.

        The defaults are tuned for the top 10. Deeper searches (over-fetching past excluded items or
        non-candidates) need more effort for the same recall at their tail: HNSW keeps at least
        ``2 k`` candidates, IVF probes ``sqrt(k / 10)`` times as many lists.
        """
        faiss = import_faiss()
        if self.params["index_type"] == "hnsw":
            return faiss.SearchParametersHNSW(efSearch=self.effort(k))
        return faiss.SearchParametersIVF(nprobe=self.effort(k))

    def effort(self, k: int) -> int:
        """``efSearch`` (HNSW) or ``nprobe`` (IVF) for a search of ``k`` results."""
        if self.params["index_type"] == "hnsw":
            return int(max(self.params["ef_search"], 2 * k))
        scale = math.sqrt(max(1.0, k / 10))
        return int(min(self.params["nlist"], math.ceil(self.params["nprobe"] * scale)))

    def search(self, queries: np.ndarray, k: int, num_threads: int) -> np.ndarray:
        """Labels [m, k] (int64, -1 where the index found fewer) for queries ``[e_u, w]`` [m, d + 1] (or, in the
        similarity index, unit vectors [m, d])."""
        faiss = import_faiss()
        if self.augmented:
            queries = np.concatenate([queries, np.zeros((queries.shape[0], 1), dtype=np.float32)], axis=1)
        params = self.search_params(k)
        with omp_threads(faiss, num_threads):
            _, labels = self.index.search(np.ascontiguousarray(queries, dtype=np.float32), k, params=params)
        return labels

    def exact_is_cheaper(self, n_scored: int, k: int) -> bool:
        """Whether scoring ``n_scored`` items by brute force beats searching for ``k`` (a rule of thumb)."""
        if n_scored <= EXACT_BELOW:
            return True
        if self.params["index_type"] == "hnsw":
            return n_scored <= _HNSW_EXACT_RATIO * self.effort(k)
        # IVF scans the centroids and the probed lists contiguously, as brute force scans the items.
        scanned = self.params["nlist"] + self.effort(k) * self.index.ntotal / self.params["nlist"]
        return n_scored <= _IVF_EXACT_RATIO * scanned

    @property
    def nbytes(self) -> int:
        """Bytes the faiss index holds: its vectors and its graph or lists."""
        index = self.index
        if self.params["index_type"] == "hnsw":
            hnsw = index.hnsw
            return int(
                index.ntotal * index.d * 4
                + hnsw.neighbors.size() * 4
                + hnsw.offsets.size() * 8
                + hnsw.levels.size() * 4
            )
        return int(index.ntotal * (index.code_size + 8) + index.nlist * index.d * 4)

    def serialize(self) -> np.ndarray:
        return import_faiss().serialize_index(self.index)

    @classmethod
    def deserialize(
        cls, blob: np.ndarray, params: dict, n_items: int, dimension: int, where: str, extra: int = 1
    ) -> FaissSearcher:
        """The index in ``blob``, checked to be what ``params`` describe over ``n_items`` items.

        ``dimension`` components, and ``extra`` coordinates more per vector (1: the bias of ``[e_i, b_i]``;
        0: the unit vectors of the similarity index), before any norm augmentation.
        """
        faiss = import_faiss()
        try:
            index = faiss.deserialize_index(np.ascontiguousarray(blob, dtype=np.uint8))
        except RuntimeError as error:
            raise ValueError(f"{where}: the faiss index is corrupt ({str(error).splitlines()[0]}).") from None
        expected_type = faiss.IndexHNSWFlat if params["index_type"] == "hnsw" else faiss.IndexIVFFlat
        metric = faiss.METRIC_L2 if params["metric"] == "l2" else faiss.METRIC_INNER_PRODUCT
        d = dimension + extra + (params["metric"] == "l2")
        if not isinstance(index, expected_type) or index.metric_type != metric or index.d != d:
            raise ValueError(
                f"{where}: the faiss index is a {type(index).__name__} of dimension {index.d}, but the metadata "
                f"describes a {params['index_type']} index ({params['metric']}) of dimension {d}."
            )
        if index.ntotal != n_items:
            raise ValueError(f"{where}: the faiss index holds {index.ntotal} items, the metadata says {n_items}.")
        if params["index_type"] == "ivf" and index.nlist != params["nlist"]:
            raise ValueError(f"{where}: the faiss index has {index.nlist} lists, the metadata says {params['nlist']}.")
        return cls(index, params)
