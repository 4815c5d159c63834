"""Evaluation speed, ours against the reference, on the *same* trained parameters.

One model is trained with ours; both implementations load its arrays into their
own ``LightFM`` and time ``precision_at_k`` + ``auc_score`` (after a warm-up call,
median of the repeats), each in its own process. The metric values must agree.

    python benchmarks/bench_eval.py --reference-python /tmp/ref/bin/python [--large]
"""

import argparse
import os
import sys
import tempfile
from pathlib import Path

from _side import run_json

HERE = Path(__file__).resolve().parent
DATA_HOME = os.environ.get("LIGHTFM_DATA_HOME", str(HERE.parent.parent / "shared" / "data"))
NAMES = ("embeddings", "embedding_gradients", "embedding_momentum", "biases", "bias_gradients", "bias_momentum")

SCRIPT = r"""
import json, sys, time, statistics
import numpy as np, scipy.sparse as sp
from lightfm import LightFM
from lightfm.evaluation import auc_score, precision_at_k
path, repeats, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
z = np.load(path)
shape = tuple(z["shape"])
train = sp.coo_matrix((np.ones(z["train_row"].size, np.float32), (z["train_row"], z["train_col"])), shape=shape)
test = sp.csr_matrix((np.ones(z["test_row"].size, np.float32), (z["test_row"], z["test_col"])), shape=shape)
model = LightFM(no_components=z["user_embeddings"].shape[1])
for name in z.files:
    if name.startswith(("user_", "item_")):
        setattr(model, name, z[name])
def evaluate():
    p = precision_at_k(model, test, train, k=10, num_threads=threads).mean()
    a = auc_score(model, test, train, num_threads=threads).mean()
    return float(p), float(a)
evaluate()
times = []
for _ in range(repeats):
    start = time.perf_counter()
    p, a = evaluate()
    times.append(time.perf_counter() - start)
print(json.dumps({"seconds": statistics.median(times), "precision": p, "auc": a}))
"""


def prepare(kind, path):
    import numpy as np
    import scipy.sparse as sp

    from lightfm import LightFM

    if kind == "movielens":
        from lightfm.datasets import fetch_movielens

        data = fetch_movielens(data_home=DATA_HOME, min_rating=4.0)
        train, test = data["train"], data["test"].tocsr()
    else:
        sys.path.insert(0, str(HERE))
        from _worker import generated

        train, test = generated()
        test = test.tocsr()
        users = np.random.RandomState(1).choice(np.flatnonzero(np.diff(test.indptr)), 2000, replace=False)
        keep = np.zeros(test.shape[0], np.float32)
        keep[users] = 1
        test = sp.csr_matrix(sp.diags(keep) @ test)
        test.eliminate_zeros()
    model = LightFM(no_components=32, loss="warp", random_state=0)
    model.fit(train, epochs=30 if kind == "movielens" else 1, num_threads=2)
    test = test.tocoo()
    arrays = {f"{side}_{name}": getattr(model, f"{side}_{name}") for side in ("user", "item") for name in NAMES}
    np.savez(path, shape=np.array(train.shape), train_row=train.row, train_col=train.col,
             test_row=test.row, test_col=test.col, **arrays)  # fmt: skip
    return test.nnz


def run(python, path, repeats, threads):
    return run_json(python, "-c", SCRIPT, path, repeats, threads)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference-python", default="/tmp/ref/bin/python")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--large", action="store_true", help="also the generated 10M set (2,000 test users)")
    args = parser.parse_args()
    print("| data | threads | ours (s) | reference (s) | speed-up | ours p@10 / AUC | reference p@10 / AUC |")
    print("|---|---|---|---|---|---|---|")
    for kind in ("movielens", "generated") if args.large else ("movielens",):
        path = os.path.join(tempfile.mkdtemp(), f"{kind}.npz")
        prepare(kind, path)
        for threads in (1, 2):
            ours = run(sys.executable, path, args.repeats, threads)
            ref = run(args.reference_python, path, args.repeats, threads)
            print(
                f"| {kind} | {threads} | {ours['seconds']:.3f} | {ref['seconds']:.3f} | "
                f"{ref['seconds'] / ours['seconds']:.1f}x | {ours['precision']:.4f} / {ours['auc']:.4f} | "
                f"{ref['precision']:.4f} / {ref['auc']:.4f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
