"""DaskLightFM vs one process: accuracy, the sync-interval trade-off, fit and recommend time, peak memory.

Examples::

    python benchmarks/bench_dask.py accuracy --data movielens generated --losses warp bpr --workers 2
    python benchmarks/bench_dask.py sync --data movielens --syncs 1 2 4 8
    python benchmarks/bench_dask.py speed --data generated --repeats 3

Every Dask run uses a fresh ``LocalCluster`` (processes, 1 thread per worker);
the one-process baseline is ``LightFM.fit`` with 1 thread and the same
hyperparameters, epochs and seed. Accuracy is measured with
``lightfm.evaluation`` on the trained model (the distributed metrics return the
same values; tests/test_dask.py checks that). Timings are medians of
``--repeats`` runs.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import time

import numpy as np
import pandas as pd
import scipy.sparse as sp

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _worker import generated, reset_peak_rss, rss_mb  # noqa: E402

DATA_HOME = os.environ.get("LIGHTFM_DATA_HOME", "/work/shared/data")


def load(name, size):
    if name == "movielens":
        from lightfm.datasets import fetch_movielens

        data = fetch_movielens(data_home=DATA_HOME, min_rating=4.0, download_if_missing=False)
        return data["train"].tocoo(), data["test"].tocoo()
    n_users, n_items, n_rows = size
    return generated(n_users, n_items, n_rows)


def frame(matrix, npartitions, folder):
    """The pairs as Parquet files read back by Dask, as a cluster job would read them."""
    import dask.dataframe as dd

    pairs = pd.DataFrame({"user": matrix.row.astype(np.int64), "item": matrix.col.astype(np.int64)})
    dd.from_pandas(pairs, npartitions=npartitions, sort=False).to_parquet(folder, overwrite=True)
    return dd.read_parquet(folder)


def scores(model, train, test):
    from lightfm.evaluation import auc_score, precision_at_k

    return float(auc_score(model, test, train, num_threads=2).mean()), float(
        precision_at_k(model, test, train, k=10, num_threads=2).mean()
    )


def single_fit(train, loss, args, seed=None):
    from lightfm import LightFM

    model = LightFM(loss=loss, no_components=args.components, random_state=args.seed if seed is None else seed)
    start = time.perf_counter()
    model.fit(train, epochs=args.epochs, num_threads=1)
    return model, time.perf_counter() - start


def dask_fit(client, train_frame, shape, loss, args, syncs, seed=None):
    from lightfm.dask import DaskLightFM

    seed = args.seed if seed is None else seed
    model = DaskLightFM(
        loss=loss, no_components=args.components, random_state=seed, client=client, syncs_per_epoch=syncs
    )
    start = time.perf_counter()
    model.fit(train_frame, epochs=args.epochs, n_users=shape[0], n_items=shape[1], num_threads=1)
    return model, time.perf_counter() - start


@contextlib.contextmanager
def running_cluster(workers):
    """A LocalCluster of ``workers`` one-thread processes with the kernels loaded; its client."""
    from distributed import Client, LocalCluster

    local = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
    client = Client(local)
    try:
        warm_up(client, workers)
        yield client
    finally:
        client.close()
        local.close()


def warm_up(client, workers):
    """Compile (or load) the kernels on every worker, so fit times are steady state."""
    from lightfm import LightFM

    def compile_kernels():
        small = sp.random(20, 10, density=0.3, format="coo", random_state=0)
        for loss in ("warp", "bpr"):
            LightFM(loss=loss, random_state=0).fit(small).recommend([0], n=2)
        return True

    client.run(compile_kernels)
    compile_kernels()


def table(rows, columns):
    widths = [max(len(str(c)), *(len(str(r[i])) for r in rows)) for i, c in enumerate(columns)]
    line = " | ".join(str(c).ljust(w) for c, w in zip(columns, widths, strict=True))
    print(line)
    print("-|-".join("-" * w for w in widths))
    for row in rows:
        print(" | ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)))
    sys.stdout.flush()


def accuracy(args, syncs_list):
    rows = []
    with running_cluster(args.workers) as client:
        for name in args.data:
            train, test = load(name, args.size)
            train_frame = frame(train, 2 * args.workers, os.path.join(args.out, f"train-{name}"))
            for loss in args.losses:
                seeds = range(args.seed, args.seed + args.n_seeds)
                runs = [(single_fit(train, loss, args, seed), seed) for seed in seeds]
                auc, p10 = np.mean([scores(model, train, test) for (model, _), _ in runs], axis=0)
                seconds = statistics.median(s for (_, s), _ in runs)
                rows.append((name, loss, "1 process", f"{auc:.4f}", f"{p10:.4f}", "", "", f"{seconds:.1f}"))
                for syncs in syncs_list:
                    runs = [dask_fit(client, train_frame, train.shape, loss, args, syncs, seed) for seed in seeds]
                    d_auc, d_p10 = np.mean([scores(model.to_local(), train, test) for model, _ in runs], axis=0)
                    seconds = statistics.median(s for _, s in runs)
                    rows.append((
                        name, loss, f"{args.workers} workers, {_schedule(syncs)}", f"{d_auc:.4f}", f"{d_p10:.4f}",
                        f"{d_auc - auc:+.4f}", f"{d_p10 - p10:+.4f}", f"{seconds:.1f}",
                    ))  # fmt: skip
                    print(rows[-1], flush=True)
    print(f"\nepochs={args.epochs} components={args.components}; metrics are means over seeds "
          f"{args.seed}..{args.seed + args.n_seeds - 1}, fit s the median")  # fmt: skip
    table(rows, ("data", "loss", "engine", "AUC", "p@10", "dAUC", "dp@10", "fit s"))


def _schedule(syncs):
    return "merges by staleness" if syncs is None else f"{syncs} syncs/epoch"


def worker_peak_rss(client):
    return client.run(lambda: rss_mb("VmHWM"))


def speed(args):
    from lightfm.dask import recommend

    rows, accuracy_rows = [], []
    with running_cluster(args.workers) as client:
        for name in args.data:
            train, test = load(name, args.size)
            train_frame = frame(train, 2 * args.workers, os.path.join(args.out, f"train-{name}"))
            users = np.arange(train.shape[0])
            for loss in args.losses:
                single_fits, dask_fits, single_recs, dask_recs = [], [], [], []
                for _ in range(args.repeats):
                    model, seconds = single_fit(train, loss, args)
                    single_fits.append(seconds)
                    start = time.perf_counter()
                    model.recommend(users, n=10, exclude=train.tocsr(), num_threads=1)
                    single_recs.append(time.perf_counter() - start)
                    client.run(reset_peak_rss)
                    dmodel, seconds = dask_fit(client, train_frame, train.shape, loss, args, args.syncs)
                    dask_fits.append(seconds)
                    peaks = worker_peak_rss(client)
                    start = time.perf_counter()
                    recommend(dmodel, users, n=10, exclude=train_frame, client=client).to_parquet(
                        os.path.join(args.out, f"recs-{name}-{loss}"), overwrite=True
                    )
                    dask_recs.append(time.perf_counter() - start)
                n = train.nnz * args.epochs
                sample = test.tocsr()
                if args.eval_users and args.eval_users < train.shape[0]:
                    # Only some users' test rows: ranking every user against 50k items takes minutes here.
                    keep = np.zeros(train.shape[0], dtype=bool)
                    keep[np.random.RandomState(0).choice(train.shape[0], args.eval_users, replace=False)] = True
                    sample = sp.diags(keep.astype(np.float32)) @ sample
                    sample.eliminate_zeros()
                accuracy_rows.append(
                    (
                        name,
                        loss,
                        *(f"{v:.4f}" for v in scores(model, train, sample.tocoo())),
                        *(f"{v:.4f}" for v in scores(dmodel.to_local(), train, sample.tocoo())),
                    )
                )
                rows.append((name, loss, "1 process (1 thread)", f"{statistics.median(single_fits):.2f}",
                             f"{n / statistics.median(single_fits) / 1e6:.2f}",
                             f"{statistics.median(single_recs):.2f}", ""))  # fmt: skip
                rows.append((name, loss, f"LocalCluster {args.workers}x1", f"{statistics.median(dask_fits):.2f}",
                             f"{n / statistics.median(dask_fits) / 1e6:.2f}", f"{statistics.median(dask_recs):.2f}",
                             " / ".join(f"{v:.0f}" for v in sorted(peaks.values()))))  # fmt: skip
                print(rows[-2:], flush=True)
    # The one-process peak is measured in this process, after the data is loaded (fit only).
    print(f"\nmedians of {args.repeats}; epochs={args.epochs} components={args.components}, {_schedule(args.syncs)}")
    table(rows, ("data", "loss", "engine", "fit s", "M samples/s", "recommend s", "worker peak RSS MB"))
    print(f"\naccuracy of the last repeat's models (test users sampled: {args.eval_users or 'all'})")
    table(accuracy_rows, ("data", "loss", "AUC 1 process", "p@10 1 process", "AUC dask", "p@10 dask"))


def single_peak(args):
    """Peak RSS of a one-process fit, in this process (run alone: `memory` mode)."""
    for name in args.data:
        train, _ = load(name, args.size)
        for loss in args.losses:
            before = rss_mb("VmRSS")
            reset_peak_rss()
            single_fit(train, loss, args)
            print(f"{name} {loss}: one process peak RSS {rss_mb('VmHWM'):.0f} MB (before fit {before:.0f} MB)")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=("accuracy", "sync", "speed", "memory"))
    parser.add_argument("--data", nargs="+", default=["movielens", "generated"])
    parser.add_argument("--size", nargs=3, type=int, default=[20_000, 5_000, 1_000_000], help="generated set")
    parser.add_argument("--losses", nargs="+", default=["warp", "bpr"])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--syncs", type=int, default=None, help="syncs per epoch (default: by staleness)")
    parser.add_argument("--sync-list", nargs="+", type=int, default=[1, 2, 4, 8])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--components", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-seeds", type=int, default=1, help="accuracy: average over this many seeds")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default="/tmp/bench_dask")
    parser.add_argument("--eval-users", type=int, default=0, help="speed: accuracy on this many users' test rows")
    args = parser.parse_args()
    if args.mode == "accuracy":
        accuracy(args, [args.syncs])
    elif args.mode == "sync":
        accuracy(args, args.sync_list)
    elif args.mode == "speed":
        speed(args)
    else:
        single_peak(args)


if __name__ == "__main__":
    main()
