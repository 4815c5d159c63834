"""First use on a new machine: what each first call costs from an empty Numba cache, and warm.

The sequence a data scientist's first hour runs, each step in the same fresh process, timed from an
empty cache (``NUMBA_CACHE_DIR`` a new temporary folder) and then again in a second fresh process
that finds the cache the first one wrote:

1. a WARP fit (ids only), 2. a WARP fit with item features, 3. a BPR fit, 4. a WARP fit with sample
weights, 5. precision@k and AUC, 6. ``recommend``.

Each step's time is mostly compiling on the first run; the warm run shows what is left. On a tiny
generated set, so that training itself takes milliseconds.

    python benchmarks/bench_compile.py [--repeats 3]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

STEPS = ("warp fit", "+ item features", "+ bpr", "+ sample weights", "metrics", "recommend")


def worker():
    import numpy as np
    import scipy.sparse as sp

    timings = {}
    start = time.perf_counter()
    from lightfm import LightFM
    from lightfm.evaluation import auc_score, precision_at_k

    timings["import"] = time.perf_counter() - start
    rs = np.random.RandomState(0)
    train = sp.coo_matrix((rs.rand(200, 150) < 0.05).astype(np.float32))
    features = sp.hstack([sp.identity(150), sp.random(150, 10, density=0.2, random_state=1)], format="csr")
    weights = train.copy()
    weights.data = rs.uniform(0.5, 1.0, train.nnz).astype(np.float32)
    model = LightFM(loss="warp", random_state=0)
    steps = (
        lambda: model.fit(train, epochs=1),
        lambda: LightFM(loss="warp", random_state=0).fit(train, item_features=features, epochs=1),
        lambda: LightFM(loss="bpr", random_state=0).fit(train, epochs=1),
        lambda: LightFM(loss="warp", random_state=0).fit(train, sample_weight=weights, epochs=1),
        lambda: (precision_at_k(model, train, k=5), auc_score(model, train)),
        lambda: model.recommend(np.arange(10), n=5),
    )
    for name, step in zip(STEPS, steps, strict=True):
        start = time.perf_counter()
        step()
        timings[name] = time.perf_counter() - start
    print(json.dumps(timings))


def run(cache):
    env = dict(os.environ, NUMBA_CACHE_DIR=cache)
    out = subprocess.run([sys.executable, __file__, "--worker"], capture_output=True, text=True, check=True, env=env,
                         cwd=tempfile.gettempdir())  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker()
    cold, warm = [], []
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as cache:
            cold.append(run(cache))
            warm.append(run(cache))
    print(f"Medians of {args.repeats} (seconds): fresh processes, an empty Numba cache, then warm")
    print("| step | empty cache | warm |")
    print("|---|---|---|")
    for run_ in (cold, warm):
        for timings in run_:
            timings["total (steps)"] = sum(timings[name] for name in STEPS)
    for name in ("import", *STEPS, "total (steps)"):
        empty, cached = (statistics.median(t[name] for t in run_) for run_ in (cold, warm))
        print(f"| {name} | {empty:.2f} | {cached:.2f} |")


if __name__ == "__main__":
    main()
