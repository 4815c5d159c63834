"""Accuracy parity with the reference on the original's own MovieLens configuration.

MovieLens 100k (ua split) with every rating stored: ratings >= 4 as +1, the rest as -1.
``LightFM(learning_rate=0.05, loss=L, random_state=seed).fit_partial(train, epochs=10)``,
then precision@10 and AUC on train and on test with the -1 entries removed and no
train exclusion, as in the original's ``tests/test_movielens.py``. Each implementation
runs in its own process (both import as ``lightfm``); the table shows means over seeds.

    python benchmarks/bench_parity.py --reference-python /tmp/ref/bin/python [--seeds 0 1 2] [--threads 1]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA_HOME = os.environ.get("LIGHTFM_DATA_HOME", str(HERE.parent.parent / "shared" / "data"))
LOSSES = ("bpr", "warp", "warp-kos", "logistic")
METRICS = ("test_auc", "train_auc", "test_p10", "train_p10")


def signed_movielens(data_home):
    """(train, test) COO float32 matrices of +1 (rating >= 4) and -1, read from the zip directly."""
    import numpy as np
    import scipy.sparse as sp

    with zipfile.ZipFile(Path(data_home) / "movielens100k" / "movielens.zip") as archive:

        def read(name):
            table = np.loadtxt(archive.open(name), dtype=np.int64)
            data = np.where(table[:, 2] >= 4, 1.0, -1.0).astype(np.float32)
            return sp.coo_matrix((data, (table[:, 0] - 1, table[:, 1] - 1)), shape=(943, 1682))

        return read("ml-100k/ua.base"), read("ml-100k/ua.test")


def positives(matrix):
    csr = matrix.tocsr()
    csr.data[csr.data < 0] = 0.0
    csr.eliminate_zeros()
    return csr


def worker(config):
    from lightfm import LightFM
    from lightfm.evaluation import auc_score, precision_at_k

    train, test = signed_movielens(config["data_home"])
    results = []
    for loss in config["losses"]:
        for seed in config["seeds"]:
            model = LightFM(learning_rate=0.05, loss=loss, random_state=seed)
            model.fit_partial(train, epochs=config["epochs"], num_threads=config["threads"])
            train_pos, test_pos = positives(train), positives(test)
            results.append(
                {
                    "loss": loss,
                    "seed": seed,
                    "train_p10": float(precision_at_k(model, train_pos).mean()),
                    "test_p10": float(precision_at_k(model, test_pos).mean()),
                    "train_auc": float(auc_score(model, train_pos).mean()),
                    "test_auc": float(auc_score(model, test_pos).mean()),
                }
            )
    print(json.dumps(results))


def run(python, config):
    out = subprocess.run(
        [python, str(Path(__file__).resolve()), "--worker", json.dumps(config)],
        capture_output=True,
        text=True,
        check=True,
        cwd=tempfile.gettempdir(),  # never import the repo's lightfm from the reference's interpreter
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference-python", default="/tmp/ref/bin/python")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--losses", nargs="+", default=list(LOSSES))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=10)
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
        "epochs": args.epochs,
    }
    sides = {"ours": run(sys.executable, config)}
    if not args.ours_only:
        sides["reference"] = run(args.reference_python, config)

    def mean(side, loss, metric):
        return statistics.mean(r[metric] for r in sides[side] if r["loss"] == loss)

    print(f"seeds {args.seeds}, {args.threads} thread(s), {args.epochs} epochs; means (ours vs reference)")
    print("| loss | " + " | ".join(METRICS) + " |")
    print("|---|" + "---|" * len(METRICS))
    for loss in args.losses:
        cells = []
        for metric in METRICS:
            ours = mean("ours", loss, metric)
            cells.append(f"{ours:.3f}" if args.ours_only else f"{ours:.3f} vs {mean('reference', loss, metric):.3f}")
        print(f"| {loss} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
