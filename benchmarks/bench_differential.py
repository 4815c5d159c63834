"""Differential check against the reference: random configurations trained by both packages.

Each configuration draws a loss, a schedule, a learning rate, L2 alphas (0 or 1e-6..1e-2 on
either side), sample weights (none, the ratings 1-5, a constant 5), features (none, users'
identity + occupation + age band, items' identity + genres, both), the data (ratings >= 4 as
positives, or every rating as +1/-1), ``max_sampled`` and k-OS's ``k``/``n``, and a thread count
(1 or 2). Both packages train it on MovieLens 100k (``ua.base``; tested on ``ua.test``'s ratings
>= 4, train excluded) for several seeds, each in its own process. A configuration is *flagged*
when our mean test AUC is more than 0.02 below the reference's, or our mean p@10 below 0.85x
the reference's (when the reference's is at least 0.02). A model either side refuses as
diverged counts as AUC 0.5 and p@10 0. Where the reference's own models are no better than
chance (mean AUC below 0.6: strong L2 with the logistic loss, where its parameters reach 1e16
before its accumulators overflow and freeze them), the configuration is listed as *degenerate*
rather than flagged: there is no accuracy to fall short of, and ours may refuse such a model as
diverged. A configuration that fails the bar is run again with ``--confirm-seeds`` more seeds on
both sides, and flagged only if the mean over all its seeds still fails: near-chance models vary
by 0.05 AUC from seed to seed, more than the bar.

    python benchmarks/bench_differential.py --reference-python /tmp/ref/bin/python \\
        [--configs 40] [--seeds 0 1] [--draw-seed 0] [--threads 1 2]

The fixed grids that the parity table records are also here (``--grid weighted``,
``--grid regularised``, ``--grid adadelta``): every loss beside the reference, with sample
weights, with alphas 1e-6 to 1e-2 on both sides with and without user features, and adadelta
with feature matrices on 2 threads.
"""

import argparse
import json
import os
import statistics
import sys
import zipfile
from pathlib import Path

from _side import run_json

HERE = Path(__file__).resolve().parent
DATA_HOME = os.environ.get("LIGHTFM_DATA_HOME", str(HERE.parent.parent / "shared" / "data"))
LOSSES = ("logistic", "bpr", "warp", "warp-kos")
AUC_GAP = 0.02
P10_RATIO = 0.85
DEGENERATE_AUC = 0.6


def movielens(data_home):
    """ua.base / ua.test as (rows, cols, ratings) arrays and the two sides' feature matrices."""
    import numpy as np
    import scipy.sparse as sp

    n_users, n_items = 943, 1682
    with zipfile.ZipFile(Path(data_home) / "movielens100k" / "movielens.zip") as archive:
        base, test = (np.loadtxt(archive.open(f"ml-100k/ua.{p}"), dtype=np.int64) for p in ("base", "test"))
        items = archive.read("ml-100k/u.item").decode("latin-1").splitlines()
        users = archive.read("ml-100k/u.user").decode("latin-1").splitlines()
    genres = np.array([[int(x) for x in line.split("|")[5:]] for line in items if line], dtype=np.float32)
    item_features = sp.hstack([sp.identity(n_items, dtype=np.float32), sp.csr_matrix(genres)], format="csr")
    fields = [line.split("|") for line in users if line]
    occupations = sorted({f[3] for f in fields})
    rows, cols = [], []
    for u, f in enumerate(fields):
        rows += [u, u, u]
        cols += [u, n_users + occupations.index(f[3]), n_users + len(occupations) + min(int(f[1]) // 10, 7)]
    user_features = sp.csr_matrix(
        (np.ones(len(rows), np.float32), (rows, cols)), shape=(n_users, n_users + len(occupations) + 8)
    )
    return base, test, (n_users, n_items), user_features, item_features


def matrices(config, data_home):
    """Train interactions, their weights, the test positives and the features of ``config``."""
    import numpy as np
    import scipy.sparse as sp

    base, test, shape, user_features, item_features = movielens(data_home)
    if config["data"] == "positives":
        base = base[base[:, 2] >= 4]
    labels = np.where(base[:, 2] >= 4, 1.0, -1.0).astype(np.float32)
    rows, cols = base[:, 0] - 1, base[:, 1] - 1
    train = sp.coo_matrix((labels, (rows, cols)), shape=shape)
    weights = None
    if config["weights"] == "rating":
        weights = sp.coo_matrix((base[:, 2].astype(np.float32), (rows, cols)), shape=shape)
    elif config["weights"] == "constant5":
        weights = sp.coo_matrix((np.full(rows.size, 5.0, np.float32), (rows, cols)), shape=shape)
    test = test[test[:, 2] >= 4]
    test_pos = sp.csr_matrix((np.ones(len(test), np.float32), (test[:, 0] - 1, test[:, 1] - 1)), shape=shape)
    train_pos = sp.csr_matrix((np.ones(int((labels > 0).sum()), np.float32), (rows[labels > 0], cols[labels > 0])),
                              shape=shape)  # fmt: skip
    feats = config["features"]
    return (
        train,
        weights,
        train_pos,
        test_pos,
        user_features if feats in ("users", "both") else None,
        item_features if feats in ("items", "both") else None,
    )


def worker(payload):
    from lightfm import LightFM
    from lightfm.evaluation import auc_score, precision_at_k

    results = []
    cache = {}
    for config in payload["configs"]:
        key = (config["data"], config["weights"], config["features"])
        if key not in cache:
            cache[key] = matrices(config, payload["data_home"])
        train, weights, train_pos, test_pos, uf, itf = cache[key]
        for seed in payload["seeds"]:
            model = LightFM(
                no_components=config["components"],
                loss=config["loss"],
                learning_schedule=config["schedule"],
                learning_rate=config["learning_rate"],
                item_alpha=config["item_alpha"],
                user_alpha=config["user_alpha"],
                max_sampled=config["max_sampled"],
                k=config["k"],
                n=config["n"],
                random_state=seed,
            )
            try:
                model.fit(train, user_features=uf, item_features=itf, sample_weight=weights,
                          epochs=config["epochs"], num_threads=config["threads"])  # fmt: skip
                feats = {"user_features": uf, "item_features": itf}
                auc = float(auc_score(model, test_pos, train_pos, **feats).mean())
                p10 = float(precision_at_k(model, test_pos, train_pos, k=10, **feats).mean())
            except ValueError:  # diverged
                auc, p10 = 0.5, 0.0
            results.append({"id": config["id"], "seed": seed, "auc": auc, "p10": p10})
    print(json.dumps(results))


def draw_configs(count, draw_seed, threads):
    """``count`` random configurations, reproducible from ``draw_seed``."""
    import numpy as np

    rs = np.random.RandomState(draw_seed)

    def alpha():
        return 0.0 if rs.rand() < 0.4 else float(10.0 ** rs.uniform(-6, -2))

    configs = []
    for i in range(count):
        loss = LOSSES[rs.randint(len(LOSSES))]
        schedule = "adagrad" if rs.rand() < 0.6 else "adadelta"
        configs.append(
            {
                "id": i,
                "loss": loss,
                "schedule": schedule,
                "learning_rate": float(10.0 ** rs.uniform(-2, -0.7)),
                "user_alpha": alpha(),
                "item_alpha": alpha(),
                "weights": ("none", "rating", "constant5")[rs.randint(3)] if loss != "warp-kos" else "none",
                "features": ("none", "users", "items", "both")[rs.randint(4)],
                "data": "positives" if rs.rand() < 0.7 else "signed",
                "max_sampled": int(rs.choice([3, 10, 30])),
                "k": int(rs.randint(1, 6)),
                "n": int(rs.choice([5, 10, 20])),
                "components": int(rs.choice([8, 16, 32])),
                "epochs": int(rs.choice([5, 10, 20])),
                "threads": int(rs.choice(threads)),
            }
        )
    return configs


def grid(name, threads):
    """The fixed grids of the parity table (see the module docstring)."""
    base = {"learning_rate": 0.05, "user_alpha": 0.0, "item_alpha": 0.0, "max_sampled": 10, "k": 5, "n": 10,
            "data": "positives", "schedule": "adagrad", "features": "none", "weights": "none",
            "components": 32, "epochs": 20, "threads": threads[0]}  # fmt: skip
    configs = []
    if name == "weighted":
        for loss in LOSSES:
            for weights in ("rating", "constant5"):
                if loss != "warp-kos":  # k-OS takes no sample weights
                    configs.append(dict(base, loss=loss, weights=weights))
    elif name == "regularised":
        for loss in LOSSES:
            for features in ("none", "users"):
                for side in ("item_alpha", "user_alpha"):
                    for a in (1e-6, 1e-4, 1e-3, 1e-2):
                        configs.append(dict(base, loss=loss, features=features, learning_rate=0.1,
                                            components=8, **{side: a}))  # fmt: skip
    elif name == "adadelta":
        for loss in LOSSES:
            for features in ("users", "items"):
                configs.append(dict(base, loss=loss, features=features, schedule="adadelta",
                                    threads=max(threads)))  # fmt: skip
    for i, config in enumerate(configs):
        config["id"] = i
    return configs


def describe(config):
    keys = ("loss", "schedule", "learning_rate", "user_alpha", "item_alpha", "weights", "features", "data",
            "max_sampled", "k", "n", "components", "epochs", "threads")  # fmt: skip
    return ", ".join(f"{k}={config[k]:.3g}" if isinstance(config[k], float) else f"{k}={config[k]}" for k in keys)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference-python", default="/tmp/ref/bin/python")
    parser.add_argument("--configs", type=int, default=40)
    parser.add_argument("--draw-seed", type=int, default=0)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--grid", choices=["weighted", "regularised", "adadelta"])
    parser.add_argument("--only", type=int, nargs="*", help="run only these configuration ids")
    parser.add_argument("--confirm-seeds", type=int, default=4, help="more seeds for a configuration that fails")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(json.loads(args.worker))
    configs = grid(args.grid, args.threads) if args.grid else draw_configs(args.configs, args.draw_seed, args.threads)
    if args.only:
        configs = [c for c in configs if c["id"] in args.only]
    pythons = (("ours", sys.executable), ("reference", args.reference_python))

    def run_both(subset, seeds):
        payload = {"data_home": DATA_HOME, "seeds": seeds, "configs": subset}
        return {name: run_json(python, Path(__file__).resolve(), "--worker", json.dumps(payload))
                for name, python in pythons}  # fmt: skip

    sides = run_both(configs, args.seeds)

    def mean(side, cid, metric):
        return statistics.mean(r[metric] for r in sides[side] if r["id"] == cid)

    def means(cid):
        return [mean(side, cid, metric) for metric in ("auc", "p10") for side in ("ours", "reference")]

    def fails(cid):
        auc, ref_auc, p10, ref_p10 = means(cid)
        short = auc < ref_auc - AUC_GAP or (ref_p10 >= 0.02 and p10 < P10_RATIO * ref_p10)
        return ref_auc >= DEGENERATE_AUC and short

    confirm = [c for c in configs if fails(c["id"])]
    seeds = list(args.seeds)
    if confirm and args.confirm_seeds:
        more = list(range(max(seeds) + 1, max(seeds) + 1 + args.confirm_seeds))
        for side, results in run_both(confirm, more).items():
            sides[side] += results
    flagged = degenerate = 0
    print(f"MovieLens 100k ua split, seeds {seeds}; mean test AUC and p@10, ours vs reference")
    print("| id | configuration | AUC ours | AUC ref | p@10 ours | p@10 ref | |")
    print("|---|---|---|---|---|---|---|")
    for config in configs:
        cid = config["id"]
        auc, ref_auc, p10, ref_p10 = means(cid)
        mark = "" if config not in confirm else f"{len(seeds) + args.confirm_seeds} seeds"
        if ref_auc < DEGENERATE_AUC:
            degenerate += 1
            mark = "degenerate"
        elif fails(cid):
            flagged += 1
            mark = f"FLAG ({mark})"
        print(f"| {cid} | {describe(config)} | {auc:.4f} | {ref_auc:.4f} | {p10:.4f} | {ref_p10:.4f} | {mark} |")
    print(
        f"{flagged} of {len(configs)} flagged, {degenerate} degenerate (the reference no better than chance), "
        f"{len(confirm)} confirmed with {args.confirm_seeds} more seeds"
    )


if __name__ == "__main__":
    main()
