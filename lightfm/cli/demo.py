"""``lightfm demo``: train on built-in data (generated, or MovieLens) and show what it learned."""

from __future__ import annotations

import sys
import time

import numpy as np
import scipy.sparse as sp

from .. import LightFM
from ..data import normalize_rows
from ._io import CLIError, format_table
from .report import held_out_metrics


def _movielens_world(seed: int, data_home):
    """MovieLens 100k (ratings >= 4) shaped like :func:`make_synthetic`: genres as tags, 10% of movies cold."""
    from ..datasets import fetch_movielens

    data = fetch_movielens(data_home=data_home, genre_features=True, indicator_features=False, min_rating=4.0)
    train, test = data["train"].tocsr(), data["test"].tocsr()
    n_users, n_items = train.shape
    rs = np.random.RandomState(seed)
    order = rs.permutation(n_items)  # movies in random order; the last 10% are the cold ones
    n_cold = n_items // 10
    everything = (train + test).tocsc()[:, order]
    train, test = train.tocsc()[:, order], test.tocsc()[:, order]
    cold = np.arange(n_items - n_cold, n_items)
    warm_mask = np.ones(n_items, dtype=bool)
    warm_mask[cold] = False
    keep = sp.diags(warm_mask.astype(np.float32))
    binary = lambda m: sp.coo_matrix((np.ones(m.nnz, np.float32), (m.row, m.col)), shape=m.shape)  # noqa: E731
    return {
        "train": binary((train @ keep).tocoo()),
        "test": binary((test @ keep).tocoo()),
        "cold_test": binary((everything @ sp.diags((~warm_mask).astype(np.float32))).tocoo()),
        "cold_items": cold,
        "user_features": sp.csr_matrix((n_users, 0), dtype=np.float32),
        "item_features": sp.csr_matrix(data["item_features"][order], dtype=np.float32),
        "user_feature_labels": np.array([], dtype=str),
        "item_feature_labels": np.asarray(data["item_feature_labels"], dtype=str),
        "user_labels": np.array([f"user {u + 1}" for u in range(n_users)]),
        "item_labels": np.asarray(data["item_labels"], dtype=str)[order],
    }


def _row_labels(matrix, row, labels):
    return [str(labels[c]) for c in matrix.indices[matrix.indptr[row] : matrix.indptr[row + 1]]]


DEMO_FILES = {
    "plays.csv": "interactions: user, item, plays",
    "tags.csv": "item features: item, feature (new albums appear only here)",
    "holdout.csv": "held-out interactions to evaluate with: user, item",
    "albums.csv": "album titles: item, title (for --item-names)",
    "users.txt": "ten user ids, one per line (for --users-file)",
}


def export_demo_files(folder, seed: int) -> None:
    """Write the generated world as the files the README's command-line quickstart uses."""
    import pandas as pd

    from ..datasets import make_synthetic

    world = make_synthetic(random_state=seed)
    rs = np.random.RandomState(seed)
    users = np.array([f"user{u}" for u in range(world["train"].shape[0])], dtype=object)
    items = np.array([f"album{i}" for i in range(world["train"].shape[1])], dtype=object)
    folder.mkdir(parents=True, exist_ok=True)
    train, test = world["train"].tocoo(), (world["test"] + world["cold_test"]).tocoo()
    plays = pd.DataFrame({"user": users[train.row], "item": items[train.col], "plays": rs.geometric(0.3, train.nnz)})
    plays.to_csv(folder / "plays.csv", index=False)
    pd.DataFrame({"user": users[test.row], "item": items[test.col]}).to_csv(folder / "holdout.csv", index=False)
    tags = world["item_features"].tocoo()
    pd.DataFrame({"item": items[tags.row], "feature": world["item_feature_labels"][tags.col]}).to_csv(
        folder / "tags.csv", index=False
    )
    pd.DataFrame({"item": items, "title": world["item_labels"]}).to_csv(folder / "albums.csv", index=False)
    (folder / "users.txt").write_text("\n".join(users[:10]) + "\n")


def run_demo(args) -> int:
    if args.export:
        from pathlib import Path

        from ._io import require_module

        require_module("pandas", "files")
        folder = Path(args.export)
        if folder.exists() and not folder.is_dir():
            raise CLIError(f"--export {folder}: exists and is not a folder")
        export_demo_files(folder, args.seed)
        print(f"Wrote the demo files to {folder}:")
        for name, what in DEMO_FILES.items():
            print(f"  {name:<12} {what}")
        print("Next (see the README's quickstart):")
        print(f"  cd {folder}")
        print(
            "  lightfm train plays.csv --weight-col plays --item-features tags.csv --eval-every 5 "
            "--plot curve.png --output model.npz"
        )
        return 0
    start = time.perf_counter()
    if args.data == "movielens":
        world = _movielens_world(args.seed, args.data_home)
        title = "MovieLens 100k (ratings >= 4), genres as item features"
    else:
        from ..datasets import make_synthetic

        world = make_synthetic(random_state=args.seed)
        title = "generated music world: users with attributes, albums with tags"
    n_users, n_items = world["train"].shape
    n_warm = n_items - world["cold_items"].size
    print(f"Data: {title}")
    print(
        f"  {n_users:,} users, {n_warm:,} albums/items seen in training, {world['cold_items'].size:,} new (cold) ones; "
        f"{world['train'].nnz:,} train, {world['test'].nnz:,} test, {world['cold_test'].nnz:,} cold-test interactions"
    )
    # Ids as features (the classic model), or ids plus attributes/tags (hybrid). Cold items
    # have no id embedding: they were not there when the model was trained.
    item_ids = sp.csr_matrix(
        (np.ones(n_warm, np.float32), (np.arange(n_warm), np.arange(n_warm))), shape=(n_items, n_warm)
    )
    user_ids = sp.identity(n_users, dtype=np.float32, format="csr")
    variants = {
        "ids only": (user_ids, item_ids),
        "ids + features": (
            normalize_rows(sp.hstack([user_ids, world["user_features"]]).tocsr()),
            normalize_rows(sp.hstack([item_ids, world["item_features"]]).tocsr()),
        ),
    }
    train_warm = world["train"].tocsc()[:, :n_warm].tocoo()
    test_warm = world["test"].tocsc()[:, :n_warm].tocsr()
    cold_test = world["cold_test"].tocsc()[:, n_warm:].tocsr()
    empty_cold = sp.csr_matrix((n_users, n_items - n_warm), dtype=np.float32)
    rows, models = [], {}
    for name, (user_features, item_features) in variants.items():
        model = LightFM(loss=args.loss, no_components=args.components, learning_rate=0.05, random_state=args.seed)
        print(f"\nTraining '{name}' ({args.loss}, {args.components} components, {args.epochs} epochs)", flush=True)
        model.fit(
            train_warm,
            user_features=user_features,
            item_features=item_features[:n_warm],
            epochs=args.epochs,
            num_threads=args.threads,
            verbose=not args.quiet and sys.stderr.isatty(),  # no bar clutter in logs
        )
        models[name] = model
        warm = held_out_metrics(
            model, test_warm, train_warm, args.k, user_features, item_features[:n_warm], args.threads
        )
        rows.append([name, "warm items", *warm.values()])
        if name == "ids only":
            rows.append([name, "new items", "-", "-", "-"])  # nothing to score them by
        else:
            cold = held_out_metrics(
                model, cold_test, empty_cold, args.k, user_features, item_features[n_warm:], args.threads
            )
            rows.append([name, "new items", *cold.values()])
    print(f"\nHeld-out results (warm: ranking the {n_warm:,} known items; new: ranking the new ones only)")
    print(format_table(["model", "test set", f"precision@{args.k}", f"recall@{args.k}", "AUC"], rows))
    print("  '-': a model of ids alone has nothing to score items it never saw; features fill the gap.")

    user_features, item_features = variants["ids + features"]
    hybrid = models["ids + features"]
    test_rows = world["test"].tocsr()
    cold_rows = world["cold_test"].tocsr()
    item_tags = world["item_features"].tocsr()
    attributes = world["user_features"].tocsr()
    print("\nSample recommendations (hybrid model; * = in the user's held-out test set)")
    for user in np.flatnonzero(np.diff(test_rows.indptr))[:3]:
        described = ", ".join(_row_labels(attributes, user, world["user_feature_labels"])) or "no attributes"
        print(f"  {world['user_labels'][user]} ({described})")
        top, _ = hybrid.recommend(
            user, n=5, exclude=train_warm, user_features=user_features, item_features=item_features[:n_warm]
        )
        new, _ = hybrid.recommend(
            user, n=2, user_features=user_features, item_features=item_features, items=world["cold_items"]
        )
        for kind, items, truth in (("", top, test_rows), ("new: ", new, cold_rows)):
            for item in items[items >= 0]:
                hit = "*" if truth[user, item] else " "
                tags = ", ".join(_row_labels(item_tags, item, world["item_feature_labels"]))
                print(f"    {hit} {kind}{world['item_labels'][item]}  [{tags}]")
    print(f"\nDone in {time.perf_counter() - start:.1f} s.")
    return 0
