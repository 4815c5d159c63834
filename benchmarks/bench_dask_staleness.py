"""DaskLightFM's default merge schedule (by staleness) against one process, on data of several shapes.

Examples::

    python benchmarks/bench_dask_staleness.py --data movielens tastes few-items --losses warp bpr \\
        --workers 2 4 --seeds 0 1 2 --syncs auto 4

For every data set, loss, worker count and seed: ``LightFM.fit`` (1 thread)
and ``DaskLightFM.fit`` on a fresh-per-worker-count ``LocalCluster``
(processes, 1 thread each) with the same hyperparameters, epochs and seed;
``--syncs`` lists the schedules (``auto``: the default, merging by staleness;
an integer: that many merges per epoch). Accuracy is ``lightfm.evaluation``'s
test AUC and precision at 10 (users with test rows, at most ``--eval-users`` of
them, the same users for every model); the table gives the medians over seeds
of each metric and of the per-seed difference from one process, and the median
fit time.

Data sets:

- ``movielens``: MovieLens 100k, ratings >= 4 (``LIGHTFM_DATA_HOME``), 10 epochs.
- ``tastes``: 50k users x 10k items, 1M draws; each user has one of 50 tastes,
  80% of their draws from their taste's items, all by Pareto popularity;
  deduplicated (593k train / 66k test pairs, a 90/10 split); 3 epochs.
- ``few-items``: the same with 20k users x 300 items (10 tastes; 380k train
  pairs, about 1,270 per item): many interactions per item, the hard case for
  data-parallel training; 3 epochs.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time

import numpy as np
import scipy.sparse as sp

DATA_HOME = os.environ.get("LIGHTFM_DATA_HOME", "/work/shared/data")
EPOCHS = {"movielens": 10, "tastes": 3, "few-items": 3}


def tastes(n_users, n_items, n_draws, n_tastes, seed=0):
    """Users with one taste each; 80% of draws from the taste's items; deduplicated; 90/10 train/test."""
    rs = np.random.RandomState(seed)
    item_taste = rs.randint(0, n_tastes, n_items)
    item_p = rs.pareto(1.2, n_items) + 1
    user_p = rs.pareto(1.5, n_users) + 1
    user_taste = rs.randint(0, n_tastes, n_users)
    users = rs.choice(n_users, n_draws, p=user_p / user_p.sum())
    items = rs.choice(n_items, n_draws, p=item_p / item_p.sum())
    in_taste = rs.rand(n_draws) < 0.8
    for taste in range(n_tastes):
        members = np.flatnonzero(item_taste == taste)
        chosen = in_taste & (user_taste[users] == taste)
        p = item_p[members] / item_p[members].sum()
        items[chosen] = members[rs.choice(members.size, int(chosen.sum()), p=p)]
    pairs = np.unique(users.astype(np.int64) * n_items + items)
    rs.shuffle(pairs)
    users, items = pairs // n_items, pairs % n_items
    is_test = rs.rand(pairs.size) < 0.1
    shape = (n_users, n_items)
    return tuple(
        sp.coo_matrix((np.ones(int(keep.sum()), np.float32), (users[keep], items[keep])), shape=shape)
        for keep in (~is_test, is_test)
    )


def load(name):
    if name == "movielens":
        from lightfm.datasets import fetch_movielens

        data = fetch_movielens(data_home=DATA_HOME, min_rating=4.0, download_if_missing=False)
        return data["train"].tocoo(), data["test"].tocoo()
    if name == "tastes":
        return tastes(50_000, 10_000, 1_000_000, 50)
    if name == "few-items":
        return tastes(20_000, 300, 1_000_000, 10)
    raise ValueError(name)


def evaluation_sample(test, n_users, seed=0):
    """The test rows of at most ``n_users`` users (all when there are fewer)."""
    test = test.tocsr()
    users = np.flatnonzero(np.diff(test.indptr))
    if users.size > n_users:
        keep = np.zeros(test.shape[0], dtype=bool)
        keep[np.random.RandomState(seed).choice(users, n_users, replace=False)] = True
        test = sp.diags(keep.astype(np.float32)) @ test
        test.eliminate_zeros()
    return test.tocoo()


def scores(model, train, test):
    from lightfm.evaluation import auc_score, precision_at_k

    return (
        float(auc_score(model, test, train, num_threads=2).mean()),
        float(precision_at_k(model, test, train, k=10, num_threads=2).mean()),
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", nargs="+", default=["movielens", "tastes", "few-items"])
    parser.add_argument("--losses", nargs="+", default=["warp", "bpr"])
    parser.add_argument("--workers", nargs="+", type=int, default=[2, 4])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--syncs", nargs="+", default=["auto", "4"], help="'auto' (the default) or merges per epoch")
    parser.add_argument("--components", type=int, default=32)
    parser.add_argument("--eval-users", type=int, default=10_000)
    parser.add_argument("--out", default="/tmp/bench_dask_staleness")
    args = parser.parse_args()

    import dask.dataframe as dd
    import pandas as pd
    from distributed import Client, LocalCluster

    from lightfm import LightFM
    from lightfm.dask import DaskLightFM

    data = {name: load(name) for name in args.data}
    samples = {name: evaluation_sample(test, args.eval_users) for name, (_, test) in data.items()}
    single = {}  # (data, loss, seed) -> (auc, p@10, seconds)
    rows = []
    for workers in args.workers:
        with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
            with Client(cluster) as client:
                for name, (train, _) in data.items():
                    pairs = pd.DataFrame({"user": train.row.astype(np.int64), "item": train.col.astype(np.int64)})
                    frame = dd.from_pandas(pairs, npartitions=2 * workers, sort=False).persist()
                    epochs = EPOCHS[name]
                    for loss in args.losses:
                        results = {syncs: [] for syncs in args.syncs}
                        for seed in args.seeds:
                            if (name, loss, seed) not in single:
                                model = LightFM(loss=loss, no_components=args.components, random_state=seed)
                                started = time.perf_counter()
                                model.fit(train, epochs=epochs, num_threads=1)
                                seconds = time.perf_counter() - started
                                single[name, loss, seed] = (*scores(model, train, samples[name]), seconds)
                            for syncs in args.syncs:
                                schedule = None if syncs == "auto" else int(syncs)
                                model = DaskLightFM(loss=loss, no_components=args.components, random_state=seed,
                                                    client=client, syncs_per_epoch=schedule)  # fmt: skip
                                started = time.perf_counter()
                                model.fit(frame, epochs=epochs, n_users=train.shape[0], n_items=train.shape[1],
                                          num_threads=1)  # fmt: skip
                                seconds = time.perf_counter() - started
                                auc, p10 = scores(model.to_local(), train, samples[name])
                                one = single[name, loss, seed]
                                results[syncs].append((auc, p10, auc - one[0], p10 - one[1], seconds))
                                print(f"{name} {loss} {workers} workers syncs={syncs} seed={seed}: AUC {auc:.4f} "
                                      f"({auc - one[0]:+.4f}) p@10 {p10:.4f} ({p10 - one[1]:+.4f}) {seconds:.1f} s "
                                      f"(one process {one[2]:.1f} s)", flush=True)  # fmt: skip
                        base = [single[name, loss, seed] for seed in args.seeds]
                        rows.append((name, loss, "1 process", *_medians(base, single=True)))
                        for syncs, runs in results.items():
                            label = "default (staleness)" if syncs == "auto" else f"{syncs} merges/epoch"
                            rows.append((name, loss, f"{workers} workers, {label}", *_medians(runs)))
                    del frame
    print(f"\nCommand: python benchmarks/bench_dask_staleness.py {' '.join(sys.argv[1:])}")
    print(f"Machine: {platform.machine()}, {os.cpu_count()} cores; {time.strftime('%Y-%m-%d')}")
    epochs = ", ".join(f"{name} {EPOCHS[name]}" for name in args.data)
    print(f"Seeds {args.seeds}; medians over seeds; {args.components} components; test users: at most "
          f"{args.eval_users}; epochs: {epochs}\n")  # fmt: skip
    header = ("data", "loss", "engine", "AUC", "p@10", "dAUC", "dp@10", "fit s")
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    seen = set()
    order = {name: index for index, name in enumerate(args.data)}
    for row in sorted(rows, key=lambda row: (order[row[0]], args.losses.index(row[1]))):  # stable: workers in order
        if row[:3] in seen:  # one process is listed once per data set and loss
            continue
        seen.add(row[:3])
        print("| " + " | ".join(str(value) for value in row) + " |")


def _medians(runs, single=False):
    median = [statistics.median(values) for values in zip(*runs, strict=True)]
    if single:
        return f"{median[0]:.4f}", f"{median[1]:.4f}", "", "", f"{median[2]:.1f}"
    return (f"{median[0]:.4f}", f"{median[1]:.4f}", f"{median[2]:+.4f}", f"{median[3]:+.4f}", f"{median[4]:.1f}")


if __name__ == "__main__":
    main()
