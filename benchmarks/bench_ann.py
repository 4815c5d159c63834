"""Approximate retrieval (``lightfm.ann.ItemIndex``) against exact scoring: recall, latency, build, memory.

Catalogues are generated with the shape of a trained model: a WARP model of 64 components is
trained on MovieLens 100k, and a Gaussian is fitted to its item (and user) vectors written as
(direction, log of the norm, bias); new items are drawn from it, so their norms are log-normal,
their biases spread, and the two correlated with each other and with the direction as training
leaves them (popular items: long vectors, high biases). 1000 query users are drawn the same way
from the user side.

For each catalogue size and index: build time, the index's memory (``ItemIndex.nbytes``: the
faiss index plus the item side kept for exact scores), recall@10 against the exact top 10 of the
1000 users, and single-query latency (median and p99 of ``index.recommend(user, n=10)``, one
user per call, one thread) against exact ``LightFM.recommend`` of one user and against the exact
backend (``ItemIndex.build(model, backend="exact")``, the item side computed once). Every timing
runs with BLAS and faiss limited to one thread. Then the MovieLens model itself: recall, and test
precision@10 of the index's top 10 against the exact top 10 (train items excluded).

    python benchmarks/bench_ann.py                               # 100k and 1M items, every index
    python benchmarks/bench_ann.py --sizes 5000000 --indexes ivf-l2   # the default index at 5M
    python benchmarks/bench_ann.py --sizes 100000 --indexes ivf-l2 --movielens   # quick look

MovieLens 100k is read from ``--data-home`` (default ``$LIGHTFM_DATA_HOME`` or ../shared/data) and
downloaded there if missing. The script waits while the machine's load average is above 1.5
(``--no-wait`` to skip): other work on the machine makes latencies meaningless.
"""

from __future__ import annotations

import argparse
import functools
import gc
import os
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from lightfm import LightFM
from lightfm.ann import ItemIndex
from lightfm.datasets import fetch_movielens
from lightfm.evaluation import precision_at_k

REPO = Path(__file__).resolve().parents[1]
INDEXES = {
    "ivf-l2": {"index_type": "ivf", "metric": "l2"},
    "ivf-ip": {"index_type": "ivf", "metric": "inner_product"},
    "hnsw-l2": {"index_type": "hnsw", "metric": "l2"},
    "hnsw-ip": {"index_type": "hnsw", "metric": "inner_product"},
}
SEARCH_EFFORT = {"ivf": ("nprobe", (32, 64, 128, 256)), "hnsw": ("ef_search", (256, 512, 1024, 2048))}
N_QUERIES = 1000
COMPONENTS = 64


def wait_until_idle(limit=1.5, poll=30):
    while (load := os.getloadavg()[0]) > limit:
        print(f"(load average {load:.2f} > {limit}: waiting)", file=sys.stderr, flush=True)
        time.sleep(poll)


def train_movielens(data_home):
    data = fetch_movielens(data_home=data_home, min_rating=4.0)
    model = LightFM(no_components=COMPONENTS, loss="warp", random_state=0)
    model.fit(data["train"], epochs=30, num_threads=1)  # one thread: the same model every run
    return model, data


class Shape:
    """A Gaussian over (unit direction, log norm, bias) of one side of a trained model."""

    def __init__(self, embeddings, biases):
        norms = np.linalg.norm(embeddings, axis=1)
        rows = np.column_stack([embeddings / norms[:, None], np.log(norms), biases]).astype(np.float64)
        self.mean = rows.mean(axis=0)
        self.factor = np.linalg.cholesky(np.cov(rows.T) + 1e-9 * np.eye(rows.shape[1]))
        self.summary = (
            f"norms log-normal (mu {np.log(norms).mean():.2f}, sigma {np.log(norms).std():.2f}), "
            f"biases {np.percentile(biases, 5):.2f} to {np.percentile(biases, 95):.2f} (5-95%), "
            f"corr(norm, bias) {np.corrcoef(norms, biases)[0, 1]:.2f}"
        )

    def draw(self, n, seed, chunk=250_000):
        rng = np.random.default_rng(seed)
        embeddings = np.empty((n, self.mean.size - 2), dtype=np.float32)
        biases = np.empty(n, dtype=np.float32)
        for start in range(0, n, chunk):
            stop = min(n, start + chunk)
            rows = self.mean + rng.standard_normal((stop - start, self.mean.size)) @ self.factor.T
            directions = rows[:, :-2] / np.linalg.norm(rows[:, :-2], axis=1, keepdims=True)
            embeddings[start:stop] = directions * np.exp(rows[:, -2])[:, None]
            biases[start:stop] = rows[:, -1]
        return embeddings, biases


def model_holding(user_side, item_side):
    """A LightFM model serving these parameters (optimiser arrays zero: untouched pages cost no memory)."""
    (user_embeddings, user_biases), (item_embeddings, item_biases) = user_side, item_side
    model = LightFM(no_components=COMPONENTS, random_state=0).fit(sp.coo_matrix(([1.0], ([0], [0])), shape=(1, 1)))
    for side, embeddings, biases in (("user", user_embeddings, user_biases), ("item", item_embeddings, item_biases)):
        setattr(model, f"{side}_embeddings", embeddings)
        setattr(model, f"{side}_biases", biases)
        for name in ("embedding_gradients", "embedding_momentum"):
            setattr(model, f"{side}_{name}", np.zeros(embeddings.shape, dtype=np.float32))
        for name in ("bias_gradients", "bias_momentum"):
            setattr(model, f"{side}_{name}", np.zeros(biases.shape, dtype=np.float32))
    return model


def recall_at(found, truth):
    return float(np.mean([np.intersect1d(f, t).size / t.size for f, t in zip(found, truth, strict=True)]))


def latencies(call, users, budget_s=None):
    """Seconds per call of ``call(user)``, one user after another (at most ``budget_s`` in all)."""
    times = []
    started = time.perf_counter()
    for user in users:
        start = time.perf_counter()
        call(int(user))
        times.append(time.perf_counter() - start)
        if budget_s is not None and time.perf_counter() - started > budget_s and len(times) >= 10:
            break
    return np.array(times)


def ms(seconds):
    return f"{seconds * 1e3:.3f}" if seconds < 0.01 else f"{seconds * 1e3:.1f}"


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def bench_size(n_items, item_shape, users, index_names, sweep, wait):
    print(f"\n### {n_items:,} items, {COMPONENTS} components\n", flush=True)
    items = item_shape.draw(n_items, seed=n_items)
    model = model_holding(users, items)
    del items
    query_users = np.arange(N_QUERIES)
    exact = ItemIndex.build(model, backend="exact")
    truth, _ = exact.recommend(query_users, n=10, num_threads=2)
    if wait:
        wait_until_idle()
    with threadpool_limits(1):
        baseline = latencies(functools.partial(model.recommend, n=10), query_users, budget_s=30)
        brute = latencies(functools.partial(exact.recommend, n=10), query_users, budget_s=30)
    rows = [
        ["`LightFM.recommend`", "-", "-", "1.000", ms(np.median(baseline)), ms(np.percentile(baseline, 99)), "1x"],
        [
            '`backend="exact"`',
            "-",
            f"{exact.nbytes / 2**20:.0f}",
            "1.000",
            ms(np.median(brute)),
            ms(np.percentile(brute, 99)),
            f"{np.median(baseline) / np.median(brute):.1f}x",
        ],
    ]
    exact = None  # its memory back before the indexes are built
    curves = []
    for name in index_names:
        gc.collect()
        if wait:
            wait_until_idle()
        start = time.perf_counter()
        index = ItemIndex.build(model, num_threads=2, **INDEXES[name])
        build_s = time.perf_counter() - start
        effort_name, efforts = SEARCH_EFFORT[index.params["index_type"]]
        default_effort = index.params[effort_name]
        for effort in sorted({default_effort, *(efforts if sweep else ())}):
            index.set_search_params(**{effort_name: effort})
            found, _ = index.recommend(query_users, n=10, num_threads=2)
            recall = recall_at(found, truth)
            with threadpool_limits(1):
                times = latencies(functools.partial(index.recommend, n=10), query_users)
            cells = [recall, np.median(times), np.percentile(times, 99)]
            if effort == default_effort:
                rows.append(
                    [
                        f"{name} ({', '.join(f'{k}={v}' for k, v in index.params.items() if k != 'index_type')})",
                        f"{build_s:.1f}",
                        f"{index.nbytes / 2**20:.0f}",
                        f"{recall:.3f}",
                        ms(cells[1]),
                        ms(cells[2]),
                        f"{np.median(baseline) / cells[1]:.0f}x",
                    ]
                )
            if sweep:
                setting = f"{effort_name}={effort}"
                if index._searcher.exact_is_cheaper(n_items, 10):
                    setting += " (scored exactly: cheaper than this search)"
                curves.append([name, setting, f"{recall:.3f}", ms(cells[1]), ms(cells[2])])
        index = None
    header = ["index", "build s", "memory MiB", "recall@10", "median ms", "p99 ms", "speed-up vs recommend"]
    print(table(header, rows), flush=True)
    if curves:
        print("\nSearch effort (no rebuild: `set_search_params`):\n")
        print(table(["index", "setting", "recall@10", "median ms", "p99 ms"], curves), flush=True)


def bench_movielens(model, data):
    """Recall and test precision@10 of the index's top 10 (train items excluded) against the exact top 10."""
    from lightfm.ann import _faiss

    train, test = data["train"].tocsr(), data["test"].tocsr()
    users = np.flatnonzero(np.diff(test.indptr))
    exact_items, _ = model.recommend(users, n=10, exclude=train)
    exact_precision = float(precision_at_k(model, test, train, k=10).mean())
    rows = [["exact (`LightFM.recommend`)", "1.000", f"{exact_precision:.4f}", "-"]]
    # 1682 items: as served, any index scores them exactly (below its EXACT_BELOW); force the search.
    # At the defaults the search is then exhaustive too (every list probed, a graph search wider than
    # the catalogue), so two low settings show what a lower recall costs.
    saved = {name: getattr(_faiss, name) for name in ("EXACT_BELOW", "_HNSW_EXACT_RATIO", "_IVF_EXACT_RATIO")}
    for name in saved:
        setattr(_faiss, name, 0)
    try:
        low_effort = {"ivf-l2 nprobe=4": {"nprobe": 4}, "hnsw-l2 ef_search=16": {"index_type": "hnsw", "ef_search": 16}}
        for name, params in {**INDEXES, **low_effort}.items():
            index = ItemIndex.build(model, num_threads=2, **params)
            found, _ = index.recommend(users, n=10, exclude=train)
            hits = np.array([np.intersect1d(found[r], test.indices[test.indptr[u] : test.indptr[u + 1]]).size
                             for r, u in enumerate(users)])  # fmt: skip
            precision = float(hits.mean() / 10)
            recall = recall_at(found, exact_items)
            difference = f"{precision - exact_precision:+.4f}"
            rows.append([f"{name} (searched)", f"{recall:.3f}", f"{precision:.4f}", difference])
    finally:
        for name, value in saved.items():
            setattr(_faiss, name, value)
    print("\n### MovieLens 100k (WARP, 64 components, 1,682 items)\n")
    print(table(["top 10 from", "recall@10 vs exact", "test precision@10", "difference"], rows), flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--indexes", nargs="+", choices=sorted(INDEXES), default=list(INDEXES))
    parser.add_argument("--no-sweep", action="store_true", help="only the default search effort")
    parser.add_argument("--movielens", action="store_true", help="also the MovieLens model's own table")
    data_home = os.environ.get("LIGHTFM_DATA_HOME", str(REPO.parent / "shared" / "data"))
    parser.add_argument("--data-home", default=data_home)
    parser.add_argument("--no-wait", action="store_true", help="do not wait for the machine to be idle")
    args = parser.parse_args()

    model, data = train_movielens(args.data_home)
    item_shape = Shape(model.item_embeddings, model.item_biases)
    user_shape = Shape(model.user_embeddings, model.user_biases)
    print(f"Items drawn like MovieLens WARP's: {item_shape.summary}.")
    print(f"Users likewise: {user_shape.summary}.")
    users = user_shape.draw(N_QUERIES, seed=1)
    if args.movielens:
        bench_movielens(model, data)
    for n_items in sorted(args.sizes):
        bench_size(n_items, item_shape, users, args.indexes, not args.no_sweep, not args.no_wait)


if __name__ == "__main__":
    main()
