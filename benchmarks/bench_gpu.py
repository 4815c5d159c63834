"""GPU engine against CPU engine: training throughput, 1-epoch accuracy and evaluation time.

Same data (the generated power-law set of ``_worker.py``: 200k users, 50k items,
10M interactions, 90% train), same seed and hyperparameters on both engines;
the CPU engine uses every core. One run prints one table (not measured on a GPU yet;
BENCHMARKS.md, "GPU engine"):

- samples/s of BPR and WARP: train entries x epochs over the time of the
  epochs after the first (``fit_partial`` of 1 + E epochs minus that of 1, so
  that data preparation, transfers and compilation are left out);
- precision@10 and AUC of the 2,000 test users after one epoch of each loss;
- the evaluation time of those 2,000 users against all 50k items (precision@10 and AUC).

Goals: BPR >= 200M samples/s, WARP >= 100M samples/s, accuracy within 0.01 of the CPU.

    python benchmarks/bench_gpu.py                          # a real GPU: a few minutes
    python benchmarks/bench_gpu.py --tiny --simulator       # Numba's CUDA simulator, tiny data: proves it runs
"""

import argparse
import os
import sys
import time
import traceback


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="tiny data (for the simulator, or a smoke test)")
    parser.add_argument("--simulator", action="store_true", help="run the GPU engine on Numba's CUDA simulator")
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs after the first (default 3)")
    parser.add_argument("--components", type=int, default=None, help="no_components (default 32, tiny: 8)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="CPU engine threads")
    parser.add_argument("--eval-users", type=int, default=None, help="users evaluated (default 2000, tiny: 30)")
    return parser.parse_args()


ARGS = parse_args()
if ARGS.simulator:
    # Numba reads this when first imported, so before anything imports it.
    os.environ["NUMBA_ENABLE_CUDASIM"] = "1"

import numpy as np  # noqa: E402
import scipy.sparse as sp  # noqa: E402
from _worker import generated  # noqa: E402

from lightfm import LightFM  # noqa: E402
from lightfm.evaluation import auc_score, precision_at_k  # noqa: E402

GOALS = {"bpr": 200e6, "warp": 100e6}
ACCURACY_GOAL = 0.01


def evaluation_set(test, n_users, seed=1):
    """The test interactions of ``n_users`` random users that have some."""
    csr = test.tocsr()
    with_test = np.flatnonzero(np.diff(csr.indptr))
    users = np.random.RandomState(seed).choice(with_test, size=min(n_users, with_test.size), replace=False)
    keep = np.zeros(csr.shape[0], np.float32)
    keep[users] = 1
    subset = sp.csr_matrix(sp.diags(keep) @ csr)
    subset.eliminate_zeros()
    return subset, users.size


def model(loss, device, components):
    return LightFM(no_components=components, loss=loss, random_state=0, device=device)


def measure(loss, device, train, test, components, epochs, threads):
    """(samples/s, p@10, AUC, evaluation seconds) of one engine on one loss."""
    # Compile (or load) the kernels on a slice first, so no timing includes it.
    model(loss, device, components).fit(train.tocsr()[:50].tocoo(), epochs=1, num_threads=threads)
    trained = model(loss, device, components)
    start = time.perf_counter()
    trained.fit_partial(train, epochs=1, num_threads=threads)
    one_epoch = time.perf_counter() - start
    start = time.perf_counter()
    p_at_10 = float(precision_at_k(trained, test, train, k=10, num_threads=threads).mean())
    auc = float(auc_score(trained, test, train, num_threads=threads).mean())
    evaluation = time.perf_counter() - start
    timed = model(loss, device, components)
    start = time.perf_counter()
    timed.fit_partial(train, epochs=1 + epochs, num_threads=threads)
    many = time.perf_counter() - start
    # Epochs after the first. Where timing noise swallows the difference (tiny data), the
    # whole call's time is used instead: a lower bound on the rate.
    extra = many - one_epoch
    rate = train.nnz * epochs / (extra if extra > 0.1 * many else many)
    return {"samples/s": rate, "p@10": p_at_10, "auc": auc, "eval s": evaluation}


def device_line():
    from numba import config, cuda

    if config.ENABLE_CUDASIM:
        return "GPU: Numba CUDA simulator"
    try:
        name = cuda.get_current_device().name
        return f"GPU: {name.decode() if isinstance(name, bytes) else name}"
    except Exception as error:  # noqa: BLE001 - reported, the GPU column will show the error
        return f"GPU: unavailable ({error})"


def fmt(value, key):
    if isinstance(value, str):
        return value
    if key == "samples/s":
        return f"{value / 1e6:,.1f}M"
    if key == "eval s":
        return f"{value:.3f}"
    return f"{value:.4f}"


def main():
    tiny = ARGS.tiny
    components = ARGS.components or (8 if tiny else 32)
    eval_users = ARGS.eval_users or (30 if tiny else 2000)
    if tiny:
        train, test = generated(n_users=200, n_items=100, n_interactions=400)
    else:
        train, test = generated()
    evaluated, n_evaluated = evaluation_set(test, eval_users)
    print(f"data: {train.shape[0]:,} users x {train.shape[1]:,} items, {train.nnz:,} train interactions; "
          f"evaluation: {n_evaluated:,} users x {train.shape[1]:,} items; no_components={components}, "
          f"timed epochs={ARGS.epochs}, CPU threads={ARGS.threads}")  # fmt: skip
    print(device_line())
    sys.stdout.flush()

    results = {}
    failed = False
    for loss in ("bpr", "warp"):
        for device in ("cpu", "cuda"):
            try:
                results[loss, device] = measure(loss, device, train, evaluated, components, ARGS.epochs, ARGS.threads)
            except Exception:  # noqa: BLE001 - keep the other cells; the traceback goes to stderr
                failed = True
                traceback.print_exc()
                results[loss, device] = dict.fromkeys(("samples/s", "p@10", "auc", "eval s"), "error")
            print(f"  {loss:4} {device:4} {results[loss, device]}", file=sys.stderr)

    header = f"| {'loss':5} | {'metric':10} | {'CPU':>12} | {'GPU':>12} | {'GPU/CPU':>8} | {'goal':36} |"
    print()
    print(header)
    print("|" + "|".join("-" * (len(part)) for part in header.split("|")[1:-1]) + "|")
    for loss in ("bpr", "warp"):
        cpu, gpu = results[loss, "cpu"], results[loss, "cuda"]
        for key in ("samples/s", "p@10", "auc", "eval s"):
            ratio, goal = "", ""
            if not isinstance(cpu[key], str) and not isinstance(gpu[key], str):
                if key in ("samples/s", "eval s"):
                    ratio = f"{gpu[key] / cpu[key]:.2f}x" if cpu[key] else ""
                if key == "samples/s":
                    met = gpu[key] >= GOALS[loss]
                    goal = f">= {GOALS[loss] / 1e6:.0f}M: {'met' if met else 'missed'}"
                elif key in ("p@10", "auc"):
                    gap = gpu[key] - cpu[key]
                    met = abs(gap) <= ACCURACY_GOAL
                    goal = f"|GPU-CPU| {abs(gap):.4f} <= {ACCURACY_GOAL}: {'met' if met else 'missed'}"
            cells = f"{fmt(cpu[key], key):>12} | {fmt(gpu[key], key):>12} | {ratio:>8}"
            print(f"| {loss:5} | {key:10} | {cells} | {goal:36} |")
    if tiny:
        print("\n(tiny data: throughput and accuracy mean nothing here; this run only proves the script works)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
