"""Top-n recommendation speed: ``LightFM.recommend`` against what users write by hand.

All three produce the top 10 unseen items of every user from the same parameters:

* ours: ``model.recommend(users, n=10, exclude=train)``;
* NumPy by hand: representations, blocked ``U @ I.T`` + biases, excluded items
  set to -inf, ``argpartition`` then ``argsort`` (what a careful user writes);
* reference loop: lightfm-next's ``predict(user, all_items)`` per user plus
  ``argpartition`` (the documented way), timed on a sample of users and scaled
  to all of them (it would take minutes).

Ours and NumPy alternate in one process (after a warm-up); the reference runs in
its own virtual environment. Medians of the repeats.

    python benchmarks/bench_recommend.py --reference-python /tmp/ref/bin/python
"""

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

REFERENCE = r"""
import json, sys, time
import numpy as np, scipy.sparse as sp
from lightfm import LightFM
path, sample, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
z = np.load(path)
columns = z["train_col"]
train = sp.csr_matrix((np.ones(columns.size, np.float32), columns, z["train_indptr"]), shape=tuple(z["shape"]))
model = LightFM(no_components=z["user_embeddings"].shape[1])
for name in z.files:
    if name.startswith(("user_", "item_")):
        setattr(model, name, z[name])
items = np.arange(train.shape[1], dtype=np.int32)
start = time.perf_counter()
for user in range(sample):
    scores = model.predict(user, items, num_threads=threads)
    scores[train.indices[train.indptr[user]:train.indptr[user + 1]]] = -np.inf
    top = np.argpartition(-scores, 10)[:10]
    top = top[np.argsort(-scores[top])]
print(json.dumps({"seconds_per_user": (time.perf_counter() - start) / sample}))
"""


def numpy_by_hand(model, train, n, block=2000):
    """Top ``n`` for the first ``train.shape[0]`` users."""
    user_biases, user_repr = model.get_user_representations()
    item_biases, item_repr = model.get_item_representations()
    n_users = train.shape[0]
    out = np.empty((n_users, n), dtype=np.int64)
    for start in range(0, n_users, block):
        stop = min(start + block, n_users)
        scores = user_repr[start:stop] @ item_repr.T + user_biases[start:stop, None] + item_biases[None, :]
        sub = train[start:stop].tocoo()
        scores[sub.row, sub.col] = -np.inf
        top = np.argpartition(-scores, n, axis=1)[:, :n]
        order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1)
        out[start:stop] = np.take_along_axis(top, order, axis=1)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference-python", default="/tmp/ref/bin/python")
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--items", type=int, default=50_000)
    parser.add_argument("--components", type=int, default=32)
    parser.add_argument("--train-per-user", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--reference-sample", type=int, default=300)
    args = parser.parse_args()

    from lightfm import LightFM

    rs = np.random.RandomState(0)
    shape = (args.users, args.items)
    nnz = args.users * args.train_per_user
    train = sp.csr_matrix(
        (
            np.ones(nnz, np.float32),
            (np.repeat(np.arange(args.users), args.train_per_user), rs.randint(0, args.items, nnz)),
        ),
        shape=shape,
    )
    train.sum_duplicates()
    model = LightFM(no_components=args.components, random_state=0).fit(sp.coo_matrix(shape, dtype=np.float32), epochs=0)
    model.user_embeddings[:] = rs.normal(0, 1, model.user_embeddings.shape)
    model.item_embeddings[:] = rs.normal(0, 1, model.item_embeddings.shape)
    model.user_biases[:] = rs.normal(0, 0.1, args.users)
    model.item_biases[:] = rs.normal(0, 0.1, args.items)

    print(f"{args.users:,} users x {args.items:,} items, {args.components} components, "
          f"{train.nnz:,} excluded train interactions, top 10", flush=True)  # fmt: skip
    ours_top, _ = model.recommend(np.arange(args.users), n=10, exclude=train, num_threads=2)  # warm-up
    # Equal float32 scores may come in either order by hand (ours: lower item first).
    assert np.mean(ours_top[:2000] == numpy_by_hand(model, train[:2000], 10)) > 0.999, "results differ"
    times = {"ours, 1 thread": [], "ours, 2 threads": [], "NumPy by hand": []}
    users = np.arange(args.users)
    for _ in range(args.repeats):
        for threads in (1, 2):
            start = time.perf_counter()
            model.recommend(users, n=10, exclude=train, num_threads=threads)
            times[f"ours, {threads} thread{'s' if threads > 1 else ''}"].append(time.perf_counter() - start)
        start = time.perf_counter()
        numpy_by_hand(model, train, 10)
        times["NumPy by hand"].append(time.perf_counter() - start)
    medians = {name: statistics.median(values) for name, values in times.items()}

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "params.npz"
        arrays = {name: getattr(model, name) for name in vars(model) if name.startswith(("user_", "item_"))}
        arrays = {name: value for name, value in arrays.items() if isinstance(value, np.ndarray)}
        np.savez(path, shape=np.array(shape), train_col=train.indices, train_indptr=train.indptr, **arrays)
        for threads in (1, 2):
            result = subprocess.run(
                [args.reference_python, "-c", REFERENCE, str(path), str(args.reference_sample), str(threads)],
                capture_output=True, text=True, check=True, cwd=folder,
            )  # fmt: skip
            per_user = json.loads(result.stdout)["seconds_per_user"]
            medians[f"reference predict loop, {threads} thread{'s' if threads > 1 else ''} (scaled)"] = (
                per_user * args.users
            )

    base = medians["ours, 1 thread"]
    print(f"| {'method':<44} | seconds | ours (1 thread) faster by |")
    print(f"|{'-' * 46}|---------|---------------------------|")
    for name, seconds in medians.items():
        print(f"| {name:<44} | {seconds:7.2f} | {seconds / base:24.1f}x |")


if __name__ == "__main__":
    sys.exit(main())
