"""Accuracy parity with the reference on MovieLens 100k (ua split), several seeds, three settings.

- ``signed``: the original's own test configuration. Every rating stored, >= 4 as +1, the rest
  as -1; ``LightFM(learning_rate=0.05, loss=L, random_state=seed).fit_partial(train, epochs=10)``;
  precision@10 and AUC on train and on test with the -1 entries removed and no train exclusion,
  as in the original's ``tests/test_movielens.py``.
- ``positives``: ratings >= 4 only (ids only), 32 components, 30 epochs; test metrics exclude train.
- ``hybrid``: as ``positives``, with item features identity + 18 genres.

Each implementation runs in its own process (both import as ``lightfm``); the table shows means
over the seeds.

    python benchmarks/bench_parity.py --reference-python /tmp/ref/bin/python [--data signed] [--seeds 0 1 2]
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
LOSSES = ("bpr", "warp", "warp-kos", "logistic")
METRICS = ("test_auc", "train_auc", "test_p10", "train_p10")


def movielens(data_home, setting):
    """(train, test, item_features) for a setting, read from the zip directly (never by the package tested)."""
    import numpy as np
    import scipy.sparse as sp

    shape = (943, 1682)
    with zipfile.ZipFile(Path(data_home) / "movielens100k" / "movielens.zip") as archive:

        def read(name):
            table = np.loadtxt(archive.open(name), dtype=np.int64)
            if setting != "signed":
                table = table[table[:, 2] >= 4]
            data = np.where(table[:, 2] >= 4, 1.0, -1.0).astype(np.float32)
            return sp.coo_matrix((data, (table[:, 0] - 1, table[:, 1] - 1)), shape=shape)

        train, test = read("ml-100k/ua.base"), read("ml-100k/ua.test")
        item_features = None
        if setting == "hybrid":
            lines = archive.read("ml-100k/u.item").decode("latin-1").splitlines()
            genres = np.array([[int(x) for x in line.split("|")[5:]] for line in lines if line], dtype=np.float32)
            item_features = sp.hstack([sp.identity(shape[1], dtype=np.float32), sp.csr_matrix(genres)], format="csr")
    return train, test, item_features


def positives(matrix):
    csr = matrix.tocsr()
    csr.data[csr.data < 0] = 0.0
    csr.eliminate_zeros()
    return csr


def worker(config):
    from lightfm import LightFM
    from lightfm.evaluation import auc_score, precision_at_k

    setting = config["data"]
    train, test, item_features = movielens(config["data_home"], setting)
    train_pos, test_pos = positives(train), positives(test)
    # The original's protocol ranks among all items; the others exclude train from the test ranking.
    exclude = None if setting == "signed" else train_pos
    results = []
    for loss in config["losses"]:
        for seed in config["seeds"]:
            if setting == "signed":
                model = LightFM(learning_rate=0.05, loss=loss, random_state=seed)
                model.fit_partial(train, epochs=10, num_threads=config["threads"])
            else:
                model = LightFM(no_components=32, loss=loss, random_state=seed)
                model.fit(train, item_features=item_features, epochs=30, num_threads=config["threads"])
            features = {"item_features": item_features}
            results.append(
                {
                    "loss": loss,
                    "seed": seed,
                    "train_p10": float(precision_at_k(model, train_pos, **features).mean()),
                    "test_p10": float(precision_at_k(model, test_pos, exclude, **features).mean()),
                    "train_auc": float(auc_score(model, train_pos, **features).mean()),
                    "test_auc": float(auc_score(model, test_pos, exclude, **features).mean()),
                }
            )
    print(json.dumps(results))


def run(python, config):
    return run_json(python, Path(__file__).resolve(), "--worker", json.dumps(config))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference-python", default="/tmp/ref/bin/python")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--losses", nargs="+", default=list(LOSSES))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--data", choices=["signed", "positives", "hybrid"], default="signed")
    parser.add_argument("--ours-only", action="store_true", help="skip the reference (its numbers: BENCHMARKS.md)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(json.loads(args.worker))
    config = {
        "data_home": DATA_HOME,
        "seeds": args.seeds,
        "losses": args.losses,
        "threads": args.threads,
        "data": args.data,
    }
    sides = {"ours": run(sys.executable, config)}
    if not args.ours_only:
        sides["reference"] = run(args.reference_python, config)

    def mean(side, loss, metric):
        return statistics.mean(r[metric] for r in sides[side] if r["loss"] == loss)

    print(f"MovieLens 100k, {args.data}, seeds {args.seeds}, {args.threads} thread(s); means (ours vs reference)")
    print("| loss | " + " | ".join(METRICS) + " |")
    print("|---|" + "---|" * len(METRICS))
    for loss in args.losses:
        cells = []
        for metric in METRICS:
            ours = mean("ours", loss, metric)
            cells.append(f"{ours:.4f}" if args.ours_only else f"{ours:.4f} vs {mean('reference', loss, metric):.4f}")
        print(f"| {loss} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
