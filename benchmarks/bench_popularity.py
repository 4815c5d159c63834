"""How ``recommend(item_bias_weight=...)`` trades accuracy for catalogue coverage (docs/tuning.md).

MovieLens 100k as ``fetch_movielens(min_rating=4.0)`` gives it (ratings >= 4 are the positives, its
own train/test split), WARP and BPR with 32 components, 30 epochs, one thread. For each weight of
the item biases, every test user's top 10 (training items excluded) gives:

- precision@10 against the test positives;
- coverage: the share of the 1,682 films recommended to at least one user;
- the median training popularity (number of users) of the films recommended.

Means over the seeds. Printed as a Markdown table.

    python benchmarks/bench_popularity.py [--seeds 0 1 2] [--weights 1 0.5 0.25 0] [--data-home DIR]
"""

import argparse
import os
from pathlib import Path

import numpy as np

from lightfm import LightFM
from lightfm.datasets import fetch_movielens

DATA_HOME = os.environ.get("LIGHTFM_DATA_HOME", str(Path(__file__).resolve().parents[2] / "shared" / "data"))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--weights", type=float, nargs="+", default=[1.0, 0.5, 0.25, 0.0])
    parser.add_argument("--losses", nargs="+", default=["warp", "bpr"])
    parser.add_argument("--data-home", default=DATA_HOME)
    args = parser.parse_args()
    data = fetch_movielens(data_home=args.data_home, download_if_missing=False, min_rating=4.0)
    train, test = data["train"].tocsr(), data["test"].tocsr()
    popularity = np.diff(train.tocsc().indptr)
    users = np.flatnonzero(np.diff(test.indptr))
    print("| loss | item_bias_weight | precision@10 | coverage | median popularity of recommended |")
    print("|---|---|---|---|---|")
    for loss in args.losses:
        results = {weight: [] for weight in args.weights}
        for seed in args.seeds:
            model = LightFM(no_components=32, loss=loss, random_state=seed).fit(train, epochs=30)
            for weight in args.weights:
                items, _ = model.recommend(users, n=10, exclude=train, item_bias_weight=weight)
                hits = np.array([np.isin(items[q], test[u].indices).sum() for q, u in enumerate(users)])
                results[weight].append(
                    (hits.mean() / 10, np.unique(items).size / train.shape[1], np.median(popularity[items]))
                )
        for weight in args.weights:
            precision, coverage, median = np.mean(results[weight], axis=0)
            print(f"| {loss} | {weight:g} | {precision:.3f} | {coverage:.1%} | {median:.0f} |", flush=True)


if __name__ == "__main__":
    main()
