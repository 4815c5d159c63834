"""Golden arrays: check that a change to the kernels or their plumbing leaves every result bit-identical.

``dump`` fits one small model per configuration (each loss and schedule, identity or feature matrices
on both sides, with and without sample weights and L2 regularisation, one thread and a fixed
``random_state``) and writes every array a user can observe of it to one ``.npz`` file: the parameters
and their accumulators, ``predict``, ``predict_rank``, ``recommend``, ``similar_items``, the metrics, and
a fold-in user. ``compare`` reports the arrays of two such files that differ in any bit.

Run ``dump`` once with the code before a change (for instance from a ``git worktree`` of the previous
commit, on ``PYTHONPATH``) and once after, then ``compare``::

    git worktree add /tmp/before HEAD~1
    PYTHONPATH=/tmp/before python tools/golden.py dump /tmp/before.npz
    python tools/golden.py dump /tmp/after.npz
    python tools/golden.py compare /tmp/before.npz /tmp/after.npz
"""

from __future__ import annotations

import argparse
import itertools
import sys

import numpy as np

LOSSES = ("warp", "bpr", "logistic", "warp-kos")
SCHEDULES = ("adagrad", "adadelta")


def _data():
    import scipy.sparse as sp

    rs = np.random.RandomState(42)
    n_users, n_items = 60, 45
    dense = rs.rand(n_users, n_items) < 0.12
    train = sp.coo_matrix(dense.astype(np.float32))
    signed = train.copy()
    signed.data = np.where(rs.rand(train.nnz) < 0.3, -1.0, 1.0).astype(np.float32)
    weights = train.copy()
    weights.data = rs.uniform(0.2, 1.0, train.nnz).astype(np.float32)
    user_features = sp.hstack([sp.identity(n_users), sp.random(n_users, 7, density=0.3, random_state=1)], format="csr")
    item_features = sp.hstack([sp.identity(n_items), sp.random(n_items, 5, density=0.3, random_state=2)], format="csr")
    return train, signed, weights, user_features.astype(np.float32), item_features.astype(np.float32)


def configurations():
    """Every (loss, schedule, features, weights, alpha) combination the original accepts."""
    for loss, schedule, features, weighted, alpha in itertools.product(
        LOSSES, SCHEDULES, (False, True), (False, True), (0.0, 1e-3)
    ):
        if weighted and loss == "warp-kos":  # k-OS takes no sample weights
            continue
        yield loss, schedule, features, weighted, alpha


def dump(path):
    from lightfm import LightFM
    from lightfm.evaluation import auc_score, precision_at_k, reciprocal_rank

    train, signed, weights, user_features, item_features = _data()
    arrays = {}
    for loss, schedule, features, weighted, alpha in configurations():
        key = f"{loss}-{schedule}-{'features' if features else 'ids'}-{'weighted' if weighted else 'plain'}-{alpha:g}"
        model = LightFM(
            no_components=8, loss=loss, learning_schedule=schedule, user_alpha=alpha, item_alpha=alpha, random_state=0
        )
        feats = {"user_features": user_features, "item_features": item_features} if features else {}
        interactions = signed if loss == "logistic" else train
        model.fit(interactions, sample_weight=weights if weighted else None, epochs=3, num_threads=1, **feats)
        for name in (
            "user_embeddings",
            "user_biases",
            "item_embeddings",
            "item_biases",
            "user_embedding_gradients",
            "item_embedding_gradients",
            "user_bias_gradients",
            "item_bias_gradients",
            "user_embedding_momentum",
            "item_embedding_momentum",
        ):
            value = getattr(model, name, None)
            if value is not None:
                arrays[f"{key}/{name}"] = np.asarray(value)
        users = np.repeat(np.arange(10), 5)
        items = np.tile(np.arange(5), 10)
        arrays[f"{key}/predict"] = model.predict(users, items, **feats)
        arrays[f"{key}/predict_rank"] = model.predict_rank(train.tocsr(), **feats).toarray()
        top, scores = model.recommend(np.arange(12), n=5, exclude=train.tocsr(), **feats)
        arrays[f"{key}/recommend_items"], arrays[f"{key}/recommend_scores"] = top, scores
        similar = model.similar_items([0, 3], n=4, **({"item_features": item_features} if features else {}))
        arrays[f"{key}/similar_items"] = np.asarray(similar[0])
        arrays[f"{key}/precision"] = precision_at_k(model, train, k=5, **feats)
        arrays[f"{key}/auc"] = auc_score(model, train, **feats)
        arrays[f"{key}/reciprocal_rank"] = reciprocal_rank(model, train, **feats)
        if hasattr(model, "fold_in_users") and not features:
            biases, embeddings = model.fold_in_users(train.tocsr()[:4])
            arrays[f"{key}/fold_in_biases"], arrays[f"{key}/fold_in_embeddings"] = biases, embeddings
    np.savez(path, **arrays)
    print(f"{len(arrays)} arrays from {sum(1 for _ in configurations())} configurations -> {path}")


def compare(a_path, b_path):
    a, b = np.load(a_path), np.load(b_path)
    only = sorted(set(a.files) ^ set(b.files))
    differ = [
        name
        for name in sorted(set(a.files) & set(b.files))
        if a[name].dtype != b[name].dtype or a[name].shape != b[name].shape or a[name].tobytes() != b[name].tobytes()
    ]
    print(f"{len(set(a.files) & set(b.files))} arrays in both; {len(differ)} differ; {len(only)} in only one")
    for name in differ[:40]:
        print("differs:", name)
    for name in only[:40]:
        print("only in one:", name)
    return 1 if differ or only else 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("dump").add_argument("path")
    cmp = sub.add_parser("compare")
    cmp.add_argument("a")
    cmp.add_argument("b")
    args = parser.parse_args(argv)
    if args.command == "dump":
        return dump(args.path)
    return compare(args.a, args.b)


if __name__ == "__main__":
    sys.exit(main())
