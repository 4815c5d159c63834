"""Building a 10-million-interaction matrix with ``Dataset``: ours from a DataFrame and from
tuples, against the reference's tuple iteration, each in a fresh process.

    python benchmarks/bench_dataset.py --reference-python /tmp/ref/bin/python [--n 10000000]
"""

import argparse
import sys

from _side import run_json

SCRIPT = r"""
import json, sys, time
import numpy as np
n, mode = int(sys.argv[1]), sys.argv[2]
rs = np.random.RandomState(0)
users = rs.randint(0, 200_000, n)
items = np.char.add("item", rs.randint(0, 50_000, n).astype(str))
from lightfm.data import Dataset
dataset = Dataset()
start = time.perf_counter()
if mode == "frame":
    import pandas as pd
    frame = pd.DataFrame({"user": users, "item": items})
    dataset.fit(frame["user"], frame["item"])
    interactions, _ = dataset.build_interactions(frame, user_col="user", item_col="item")
else:
    dataset.fit(users.tolist(), items.tolist())
    interactions, _ = dataset.build_interactions(zip(users.tolist(), items.tolist()))
print(json.dumps({"seconds": time.perf_counter() - start, "nnz": int(interactions.nnz)}))
"""


def run(python, n, mode):
    return run_json(python, "-c", SCRIPT, n, mode)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference-python", default="/tmp/ref/bin/python")
    parser.add_argument("--n", type=int, default=10_000_000)
    args = parser.parse_args()
    rows = [
        ("ours, pandas DataFrame", sys.executable, "frame"),
        ("ours, tuples", sys.executable, "tuples"),
        ("reference, tuples", args.reference_python, "tuples"),
    ]
    print(f"| {args.n:,} interactions: fit + build_interactions | seconds |\n|---|---|")
    for label, python, mode in rows:
        print(f"| {label} | {run(python, args.n, mode)['seconds']:.2f} |", flush=True)


if __name__ == "__main__":
    main()
