"""Hybrid models side by side: fit time and accuracy of ours and the reference with item features.

Two data sets: MovieLens 100k (ratings >= 4) with identity + 18 genre features, and a generated
set shaped like MovieLens latest-small (610 users, 9.7k items, identity + genres + tags: about
10 features per item; ``_worker.tagged``). Each measurement is a fresh process; ours and the
reference alternate; the table gives medians, the speed-up (reference time / ours) and accuracy.

    python benchmarks/bench_hybrid.py --reference-python /tmp/ref/bin/python [--repeats 3] [--threads 1 2]
"""

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

from _side import run_json

HERE = Path(__file__).resolve().parent
WORKER = HERE / "_worker.py"
DATA_HOME = os.environ.get("LIGHTFM_DATA_HOME", str(HERE.parent.parent / "shared" / "data"))
EPOCHS = {"movielens-genres": 30, "tagged": 20}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference-python", default="/tmp/ref/bin/python")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, nargs="+", default=[2])
    parser.add_argument("--losses", nargs="+", default=["warp", "bpr", "logistic", "warp-kos"])
    parser.add_argument("--data", nargs="+", default=list(EPOCHS))
    args = parser.parse_args()
    columns = ["data", "loss", "threads", "ours fit (s)", "reference fit (s)", "speed-up", "ours p@10 / AUC"]
    print("| " + " | ".join(columns + ["reference p@10 / AUC"]) + " |")
    print("|" + "---|" * 8)
    for data in args.data:
        for loss in args.losses:
            for threads in args.threads:
                config = {"data": data, "data_home": DATA_HOME, "loss": loss, "threads": threads, "components": 32}
                config.update(epochs=EPOCHS[data], evaluate=True)
                times, last = {"ours": [], "ref": []}, {}
                for _ in range(args.repeats):
                    for name, python in (("ours", sys.executable), ("ref", args.reference_python)):
                        result = run_json(python, WORKER, json.dumps(config))
                        times[name].append(result["fit"])
                        last[name] = result
                med = {name: statistics.median(values) for name, values in times.items()}
                accuracy = {name: f"{r['precision@10']:.4f} / {r['auc']:.4f}" for name, r in last.items()}
                print(
                    f"| {data} | {loss} | {threads} | {med['ours']:.3f} | {med['ref']:.3f} "
                    f"| {med['ref'] / med['ours']:.2f}x | {accuracy['ours']} | {accuracy['ref']} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
