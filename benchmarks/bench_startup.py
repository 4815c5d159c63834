"""Start-up: what a fresh process pays before its first fit, prediction, recommendation and metrics.

Each run is a new Python process timing, in order: importing NumPy and SciPy, ``import lightfm``,
a first 1-epoch WARP fit with item features (MovieLens 100k with its genres, or a generated set
of the same shape with ``--generated``), a second one (what the first would take without start-up
costs), a first ``predict``, a first one-user ``recommend``, and ``precision_at_k`` with
``auc_score`` twice. Wall and CPU time of each step (on a busy machine CPU time is the steadier
one).

``--warm`` runs (the default 5) find a Numba cache that a previous process filled; ``--cold``
runs start from an empty one (each its own folder), which is compile time. With ``--against
PATH`` (a checkout of another version, e.g. ``git worktree add /tmp/base HEAD~3``) every run
alternates between this checkout and that one, each with its own cache, and the table has both.
Medians.

    python benchmarks/bench_startup.py [--warm 5] [--cold 1] [--against /tmp/base]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STEPS = ("numpy+scipy", "import lightfm", "first fit", "second fit", "first predict", "first recommend",
         "first metrics", "second metrics")  # fmt: skip
HERE = Path(__file__).resolve().parent.parent


def _data(generated):
    import numpy as np
    import scipy.sparse as sp

    if not generated:
        try:
            from lightfm.datasets import fetch_movielens

            data = fetch_movielens(genre_features=True, download_if_missing=False)
            return data["train"].tocoo(), data["item_features"].tocsr()
        except OSError:
            pass
    rs = np.random.RandomState(0)
    n_users, n_items, nnz = 943, 1682, 90_570
    train = sp.coo_matrix(
        (np.ones(nnz, np.float32), (rs.randint(0, n_users, nnz), rs.randint(0, n_items, nnz))), (n_users, n_items)
    )
    train.sum_duplicates()
    genres = sp.random(n_items, 19, density=0.1, random_state=1, format="csr")
    return train, sp.hstack([sp.identity(n_items), genres], format="csr")


def worker(generated):
    wall, cpu = {}, {}

    def step(name, function):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = function()
        wall[name], cpu[name] = time.perf_counter() - start, time.process_time() - start_cpu
        return result

    step("numpy+scipy", lambda: (__import__("numpy"), __import__("scipy.sparse")))
    step("import lightfm", lambda: __import__("lightfm"))
    import numpy as np

    from lightfm import LightFM
    from lightfm.evaluation import auc_score, precision_at_k

    train, features = _data(generated)
    model = LightFM(loss="warp", random_state=0)
    step("first fit", lambda: model.fit(train, item_features=features, epochs=1))
    step("second fit", lambda: model.fit(train, item_features=features, epochs=1))
    users = np.zeros(10, dtype=np.int32)
    step("first predict", lambda: model.predict(users, np.arange(10, dtype=np.int32), item_features=features))
    step("first recommend", lambda: model.recommend(0, n=10, item_features=features, exclude=train))
    for name in ("first metrics", "second metrics"):
        step(name, lambda: (precision_at_k(model, train, k=10, item_features=features),
                            auc_score(model, train, item_features=features)))  # fmt: skip
    print(json.dumps({"wall": wall, "cpu": cpu}))


def _run(tree, cache, generated):
    env = dict(os.environ, NUMBA_CACHE_DIR=cache, PYTHONPATH=str(tree))
    command = [sys.executable, str(HERE / "benchmarks" / "bench_startup.py"), "--worker"]
    command += ["--generated"] if generated else []
    out = subprocess.run(command, capture_output=True, text=True, check=True, env=env, cwd=tempfile.gettempdir())
    return json.loads(out.stdout.strip().splitlines()[-1])


def _median(runs, kind, step):
    return statistics.median(run[kind][step] for run in runs)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warm", type=int, default=5, help="fresh processes on a warm cache (default 5)")
    parser.add_argument("--cold", type=int, default=1, help="fresh processes on an empty cache (default 1)")
    parser.add_argument("--against", type=Path, help="another checkout to alternate with")
    parser.add_argument("--generated", action="store_true", help="a generated set instead of MovieLens 100k")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args.generated)
    trees = {"this": HERE} | ({"against": args.against.resolve()} if args.against else {})
    with tempfile.TemporaryDirectory() as scratch:
        warm = {name: [] for name in trees}
        cold = {name: [] for name in trees}
        for i in range(args.cold):
            for name, tree in trees.items():
                cold[name].append(_run(tree, os.path.join(scratch, f"cold-{name}-{i}"), args.generated))
        caches = {name: os.path.join(scratch, f"warm-{name}") for name in trees}
        for name, tree in trees.items():
            _run(tree, caches[name], args.generated)  # fills the cache
        for _ in range(args.warm):
            for name, tree in trees.items():
                warm[name].append(_run(tree, caches[name], args.generated))
    names = list(trees)
    described = ", ".join(f"{name}: {tree}" for name, tree in trees.items())
    print(f"Medians of {args.warm} fresh processes on a warm Numba cache (seconds, wall / CPU); {described}")
    print("| step | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for step in STEPS:
        cells = [f"{_median(warm[n], 'wall', step):.3f} / {_median(warm[n], 'cpu', step):.3f}" for n in names]
        print(f"| {step} | " + " | ".join(cells) + " |")
    overhead = [
        f"{_median(warm[n], 'wall', 'first fit') - _median(warm[n], 'wall', 'second fit'):.3f} / "
        f"{_median(warm[n], 'cpu', 'first fit') - _median(warm[n], 'cpu', 'second fit'):.3f}"
        for n in names
    ]
    print("| first fit - second fit | " + " | ".join(overhead) + " |")
    if args.cold:
        cells = [f"{_median(cold[n], 'wall', 'first fit'):.1f} / {_median(cold[n], 'cpu', 'first fit'):.1f}"
                 for n in names]  # fmt: skip
        print(f"| first fit, empty cache ({args.cold} runs) | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
