"""``python -m lightfm`` / ``lightfm``: train on generated data (or MovieLens 100k) and print metrics.

A placeholder for the full command-line interface: it shows the library working
end to end on a fresh machine with no files and no network.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import scipy.sparse as sp

from lightfm import LightFM
from lightfm.evaluation import auc_score, precision_at_k


def _generated(seed=0, n_users=2000, n_items=1000, n_topics=8):
    """Users and items with hidden topics; a user interacts mostly with items of their topics."""
    rs = np.random.RandomState(seed)
    user_topics = rs.dirichlet(np.full(n_topics, 0.3), size=n_users)
    item_topics = rs.dirichlet(np.full(n_topics, 0.3), size=n_items)
    popularity = rs.pareto(2.0, n_items) + 1
    affinity = user_topics @ item_topics.T * popularity[None, :]
    probabilities = affinity / affinity.sum(1, keepdims=True)
    rows, cols = [], []
    for u in range(n_users):
        n = rs.randint(5, 60)
        items = rs.choice(n_items, size=n, replace=False, p=probabilities[u])
        rows.append(np.full(n, u))
        cols.append(items)
    rows, cols = np.concatenate(rows), np.concatenate(cols)
    is_test = rs.rand(rows.size) < 0.2
    shape = (n_users, n_items)
    train = sp.coo_matrix((np.ones((~is_test).sum(), np.float32), (rows[~is_test], cols[~is_test])), shape=shape)
    test = sp.coo_matrix((np.ones(is_test.sum(), np.float32), (rows[is_test], cols[is_test])), shape=shape)
    return train, test


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="lightfm", description=__doc__.splitlines()[0])
    parser.add_argument("--data", choices=["generated", "movielens"], default="generated")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    if args.data == "movielens":
        from lightfm.datasets import fetch_movielens

        data = fetch_movielens(min_rating=4.0)
        train, test = data["train"], data["test"]
    else:
        train, test = _generated()
    print(f"{args.data}: {train.shape[0]} users x {train.shape[1]} items, {train.nnz} train / {test.nnz} test")
    print(f"{'loss':<10}{'fit (s)':>10}{'p@10':>10}{'AUC':>10}")
    for loss in ("logistic", "bpr", "warp", "warp-kos"):
        model = LightFM(no_components=32, loss=loss, random_state=0)
        start = time.perf_counter()
        model.fit(train, epochs=args.epochs, num_threads=args.threads, verbose=sys.stderr.isatty())
        elapsed = time.perf_counter() - start
        precision = precision_at_k(model, test, train, k=10, num_threads=args.threads).mean()
        auc = auc_score(model, test, train, num_threads=args.threads).mean()
        print(f"{loss:<10}{elapsed:>10.2f}{precision:>10.3f}{auc:>10.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
