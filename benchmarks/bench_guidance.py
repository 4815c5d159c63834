"""The numbers quoted in the tuning guide (docs/tuning.md): sample weights and BPR with item features.

MovieLens 100k as ``fetch_movielens(min_rating=4.0, genre_features=True)`` gives it: ratings >= 4
are the positives, its own train/test split, test metrics that leave out the training pairs,
32 components, one thread per fit, the means over the seeds. Four tables, printed as Markdown:

1. WARP's loss clip: for a sample weight, the loss at the first and the last draw allowed and at
   how many of the draw counts the loss reaches the clip (exact, from ``n_items`` and ``max_sampled``).
2. Sample weights: WARP and BPR without weights, with the rating (4 or 5), with the rating / 5
   and with a constant (5, and 0.2 for BPR), under adagrad (and adadelta for BPR), after 10 and
   30 epochs; and whether WARP's models with the rating and with a constant 5 are identical.
3. BPR and WARP with the genre item features (identity + genres) against no features, at learning
   rates 0.05 (the default) and 0.1, after 10, 30 and 100 epochs; BPR also with user features
   too (identity + age decade, gender and occupation from the archive's ``u.user``).
4. The popularity baseline (``lightfm.baseline.PopularityBaseline``).

The checkpoints of a row (10, 30, 100 epochs) are one training run, continued with
``fit_partial``. With one thread and a fixed seed every fit is reproducible bit for bit.

    python benchmarks/bench_guidance.py [--seeds 0 1] [--data-home DIR]
"""

import argparse
import math
import os
import platform
import time
import zipfile
from pathlib import Path

import numba
import numpy as np
import scipy.sparse as sp

from lightfm import LightFM
from lightfm.backends.cpu.kernels.losses import MAX_WARP_LOSS
from lightfm.baseline import PopularityBaseline
from lightfm.datasets import fetch_movielens
from lightfm.evaluation import auc_score, precision_at_k

HERE = Path(__file__).resolve().parent
DATA_HOME = os.environ.get("LIGHTFM_DATA_HOME", str(HERE.parent.parent / "shared" / "data"))
COMPONENTS = 32
MAX_SAMPLED = 10  # LightFM's default


def evaluate(model, data, item_features=None, user_features=None):
    """Mean precision@10 and mean AUC on the test set, training pairs left out."""
    kwargs = dict(train_interactions=data["train"], num_threads=1)
    if user_features is not None or item_features is not None:
        kwargs.update(user_features=user_features, item_features=item_features)
    p10 = precision_at_k(model, data["test"], k=10, **kwargs).mean()
    auc = auc_score(model, data["test"], **kwargs).mean()
    return float(p10), float(auc)


def train_checkpoints(
    data,
    loss,
    checkpoints,
    seed,
    sample_weight=None,
    item_features=None,
    lr=0.05,
    schedule="adagrad",
    user_features=None,
    models=None,
):
    """One run of ``loss``, evaluated after each number of epochs in ``checkpoints``."""
    model = LightFM(no_components=COMPONENTS, loss=loss, learning_rate=lr, learning_schedule=schedule,
                    max_sampled=MAX_SAMPLED, random_state=seed)  # fmt: skip
    results, done = [], 0
    for epochs in checkpoints:
        fit = model.fit if done == 0 else model.fit_partial
        fit(data["train"], user_features=user_features, item_features=item_features,
            sample_weight=sample_weight, epochs=epochs - done)  # fmt: skip
        done = epochs
        results.append(evaluate(model, data, item_features, user_features))
    if models is not None:
        models.append(model)
    return results


def user_features(data_home, n_users):
    """Identity + age decade, gender and occupation (u.user), one row per user, each entry 1."""
    path = Path(data_home) / "movielens100k" / "movielens.zip"
    with zipfile.ZipFile(path) as archive:
        text = archive.read("ml-100k/u.user").decode("latin-1")
    names, rows, cols = {}, [], []
    for line in text.strip().splitlines():
        user, age, gender, occupation = line.split("|")[:4]
        for name in (f"age:{int(age) // 10 * 10}", f"gender:{gender}", f"occupation:{occupation}"):
            rows.append(int(user) - 1)
            cols.append(names.setdefault(name, len(names)))
    meta = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(n_users, len(names)))
    return sp.hstack([sp.identity(n_users, np.float32, format="csr"), meta], format="csr")


def mean_over_seeds(runs):
    """[seed][checkpoint] -> per checkpoint (mean p@10, mean AUC, p@10 spread across seeds)."""
    out = []
    for per_seed in zip(*runs, strict=True):
        p10 = [p for p, _ in per_seed]
        auc = [a for _, a in per_seed]
        out.append((np.mean(p10), np.mean(auc), max(p10) - min(p10)))
    return out


def cell(result):
    p10, auc, spread = result
    return f"{p10:.3f} ({spread:.3f}) / {auc:.3f}"


def table(header, rows):
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(row) + " |", flush=True)
    print()


def clip_table(n_items):
    """Where WARP's loss, weight * log(floor((n_items - 1) / draws)), reaches the clip."""
    print(f"### WARP's loss clip ({n_items} items, max_sampled={MAX_SAMPLED}, clip {MAX_WARP_LOSS:g})\n")
    rank_weight = [math.log(max(1.0, math.floor((n_items - 1) / d))) for d in range(1, MAX_SAMPLED + 1)]
    rows = []
    for w in (0.2, 0.8, 1.0, 1.35, 1.5, 2.0, 4.0, 5.0):
        losses = [min(w * r, MAX_WARP_LOSS) for r in rank_weight]
        clipped = sum(w * r >= MAX_WARP_LOSS for r in rank_weight)
        rows.append([f"{w:g}", f"{losses[0]:.2f}", f"{losses[-1]:.2f}", f"{clipped} of {MAX_SAMPLED}"])
    table(["sample weight", "loss at draw 1", f"loss at draw {MAX_SAMPLED}", "draw counts clipped"], rows)
    never, always = MAX_WARP_LOSS / rank_weight[0], MAX_WARP_LOSS / rank_weight[-1]
    print(f"No step is clipped for weights <= {never:.2f}; every step for weights >= {always:.2f}.\n")


def weights_table(data, seeds):
    train = data["train"].tocoo()
    ratings = train.data.astype(np.float32)

    def weight(values):
        return sp.coo_matrix((values, (train.row, train.col)), shape=train.shape)

    weightings = {
        "none": None,
        "rating (4 or 5)": weight(ratings),
        "rating / 5 (0.8 or 1)": weight(ratings / 5),
        "constant 5": weight(np.full_like(ratings, 5.0)),
        "constant 0.2": weight(np.full_like(ratings, 0.2)),
    }
    grid = [("warp", "adagrad", w) for w in list(weightings)[:4]]
    grid += [("bpr", "adagrad", w) for w in weightings]
    grid += [("bpr", "adadelta", w) for w in ("none", "rating / 5 (0.8 or 1)", "constant 5")]
    data = dict(data, train=train)
    checkpoints = (10, 30)
    print("### Sample weights (learning rate 0.05, no features)\n")
    print("Each cell: mean p@10 (p@10 spread across seeds) / mean AUC.\n")
    rows, warp_models = [], {}
    for loss, schedule, name in grid:
        models = []
        runs = [
            train_checkpoints(
                data, loss, checkpoints, s, sample_weight=weightings[name], schedule=schedule, models=models
            )
            for s in seeds
        ]
        if loss == "warp":
            warp_models[name] = models
        rows.append([loss, schedule, name] + [cell(r) for r in mean_over_seeds(runs)])
    table(["loss", "schedule", "sample weight"] + [f"{e} epochs" for e in checkpoints], rows)
    same = all(
        all(np.array_equal(getattr(a, p), getattr(b, p)) for p in ("item_embeddings", "user_embeddings", "item_biases"))
        for a, b in zip(warp_models["rating (4 or 5)"], warp_models["constant 5"], strict=True)
    )
    print(
        f"WARP with the ratings as weights and WARP with a constant 5: identical parameters for every seed: {same}.\n"
    )


def features_table(data, seeds, users):
    checkpoints = (10, 30, 100)
    print("### Item features and learning rate (adagrad, no sample weights)\n")
    print(
        "Each cell: mean p@10 (p@10 spread across seeds) / mean AUC; one run per row, evaluated at each checkpoint.\n"
    )
    items = data["item_features"]
    configs = [
        ("bpr", "none", None, None, 0.05),
        ("bpr", "none", None, None, 0.1),
        ("bpr", "items: identity + genres", None, items, 0.05),
        ("bpr", "items: identity + genres", None, items, 0.1),
        ("bpr", "items and users", users, items, 0.05),
        ("bpr", "items and users", users, items, 0.1),
        ("warp", "none", None, None, 0.05),
        ("warp", "items: identity + genres", None, items, 0.05),
    ]
    rows = []
    for loss, features, uf, itf, lr in configs:
        start = time.perf_counter()
        runs = [
            train_checkpoints(data, loss, checkpoints, s, item_features=itf, user_features=uf, lr=lr) for s in seeds
        ]
        seconds = (time.perf_counter() - start) / len(seeds)
        rows.append([loss, features, f"{lr:g}"] + [cell(r) for r in mean_over_seeds(runs)] + [f"{seconds:.1f}"])
    header = ["loss", "features", "learning rate"] + [f"{e} epochs" for e in checkpoints]
    table(header + ["s per run (100 epochs + evaluations)"], rows)


def popularity_table(data):
    print("### Popularity baseline\n")
    model = PopularityBaseline().fit(data["train"])
    p10, auc = evaluate(model, data)
    table(["model", "p@10", "AUC"], [["PopularityBaseline", f"{p10:.3f}", f"{auc:.3f}"]])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--data-home", default=DATA_HOME)
    args = parser.parse_args()
    data = fetch_movielens(data_home=args.data_home, min_rating=4.0, genre_features=True)
    print(
        f"MovieLens 100k, ratings >= 4: {data['train'].shape[0]} users, {data['train'].shape[1]} items, "
        f"{data['train'].nnz} train / {data['test'].nnz} test positives; {COMPONENTS} components, "
        f"seeds {args.seeds}, 1 thread. Python {platform.python_version()}, NumPy {np.__version__}, "
        f"Numba {numba.__version__}, {platform.machine()}.\n"
    )
    start = time.perf_counter()
    clip_table(data["train"].shape[1])
    weights_table(data, args.seeds)
    features_table(data, args.seeds, user_features(args.data_home, data["train"].shape[0]))
    popularity_table(data)
    print(f"Total {time.perf_counter() - start:.0f} s.")


if __name__ == "__main__":
    main()
