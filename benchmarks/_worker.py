"""One timed fit in a fresh process; prints a JSON line. Runs under either implementation
(both import as ``lightfm``), so it uses only the API the two share."""

import json
import os
import resource
import sys
import time

import numpy as np
import scipy.sparse as sp


def generated(n_users=200_000, n_items=50_000, n_interactions=10_000_000, seed=0):
    """Power-law users and items; 90% train, 10% test.

    Kept as ``.npz`` in ``$LIGHTFM_BENCH_CACHE`` when that is set (drawing the 10M set takes
    about 10 s, which a table of fresh processes would otherwise pay in every one).
    """
    cache = os.environ.get("LIGHTFM_BENCH_CACHE")
    path = cache and os.path.join(cache, f"generated_{n_users}_{n_items}_{n_interactions}_{seed}.npz")
    if path and os.path.exists(path):
        arrays = np.load(path)
        shape = (n_users, n_items)
        return tuple(
            sp.coo_matrix((np.ones(arrays[f"{part}_rows"].size, np.float32), (arrays[f"{part}_rows"],
                          arrays[f"{part}_cols"])), shape=shape)
            for part in ("train", "test")
        )  # fmt: skip
    train, test = _draw_generated(n_users, n_items, n_interactions, seed)
    if path:
        os.makedirs(cache, exist_ok=True)
        partial = path + f".{os.getpid()}.npz"  # written whole, then renamed: parallel runs never read half a file
        np.savez(partial, train_rows=train.row, train_cols=train.col, test_rows=test.row, test_cols=test.col)
        os.replace(partial, path)
    return train, test


def generated_features(n_items, seed=0, n_genres=20, n_tags=1_500):
    """Item features for the generated set, shaped like :func:`tagged`'s: identity, 1-4 genres and
    Poisson(8) tags from a Zipf vocabulary per item, rows normalised to sum 1 (drawn in bulk)."""
    rs = np.random.RandomState(seed + 1)
    n_each = rs.randint(1, 5, n_items)
    genre_rows = np.repeat(np.arange(n_items), n_each)
    genre_cols = rs.randint(0, n_genres, genre_rows.size)
    tag_p = 1.0 / np.arange(1, n_tags + 1) ** 1.1
    n_tags_each = rs.poisson(8, n_items)
    tag_rows = np.repeat(np.arange(n_items), n_tags_each)
    tag_cols = rs.choice(n_tags, tag_rows.size, p=tag_p / tag_p.sum())
    rows = np.concatenate([np.arange(n_items), genre_rows, tag_rows])
    cols = np.concatenate([np.arange(n_items), n_items + genre_cols, n_items + n_genres + tag_cols])
    features = sp.csr_matrix(
        (np.ones(rows.size, np.float32), (rows, cols)), shape=(n_items, n_items + n_genres + n_tags)
    )
    features.data[:] = 1.0  # a repeated genre or tag counts once
    return _rows_summing_to_one(features)


def _rows_summing_to_one(features):
    """Feature rows normalised to sum 1, as ``Dataset`` builds them (float32 CSR)."""
    return sp.csr_matrix(sp.diags(1.0 / np.asarray(features.sum(axis=1)).ravel()) @ features, dtype=np.float32)


def _draw_generated(n_users, n_items, n_interactions, seed):
    rs = np.random.RandomState(seed)
    user_p = rs.pareto(1.5, n_users) + 1
    item_p = rs.pareto(1.2, n_items) + 1
    rows = rs.choice(n_users, n_interactions, p=user_p / user_p.sum()).astype(np.int32)
    cols = rs.choice(n_items, n_interactions, p=item_p / item_p.sum()).astype(np.int32)
    keys = np.unique(rows.astype(np.int64) * n_items + cols)
    rows, cols = (keys // n_items).astype(np.int32), (keys % n_items).astype(np.int32)
    is_test = rs.rand(rows.size) < 0.1
    shape = (n_users, n_items)
    train = sp.coo_matrix((np.ones((~is_test).sum(), np.float32), (rows[~is_test], cols[~is_test])), shape=shape)
    test = sp.coo_matrix((np.ones(is_test.sum(), np.float32), (rows[is_test], cols[is_test])), shape=shape)
    return train, test


def tagged(n_users=610, n_items=9_724, n_interactions=100_000, n_genres=20, n_tags=1_500, seed=0):
    """A hybrid set shaped like MovieLens latest-small: identity + genres + tags per item.

    Items have 1-4 genres and Poisson(8) tags drawn from a Zipf vocabulary (so some feature rows
    are shared by thousands of items, as real genres and tags are); users prefer a few genres,
    and interactions follow popularity times genre affinity. Item features are rows normalised to
    sum 1, as ``Dataset`` builds them. Returns train, test (90/10) and the item features.
    """
    rs = np.random.RandomState(seed)
    genres = np.zeros((n_items, n_genres), np.float32)
    for item in range(n_items):
        genres[item, rs.choice(n_genres, rs.randint(1, 5), replace=False)] = 1
    tag_p = 1.0 / np.arange(1, n_tags + 1) ** 1.1
    tag_rows, tag_cols = [], []
    for item in range(n_items):
        chosen = np.unique(rs.choice(n_tags, rs.poisson(8), p=tag_p / tag_p.sum()))
        tag_rows += [item] * chosen.size
        tag_cols += chosen.tolist()
    tags = sp.coo_matrix((np.ones(len(tag_rows), np.float32), (tag_rows, tag_cols)), shape=(n_items, n_tags))
    features = sp.hstack([sp.identity(n_items, dtype=np.float32), sp.csr_matrix(genres), tags], format="csr")
    features = _rows_summing_to_one(features)
    taste = rs.dirichlet(np.full(n_genres, 0.3), n_users).astype(np.float32)
    popularity = (rs.pareto(1.2, n_items) + 1).astype(np.float32)
    weights = popularity[None, :] * (0.05 + taste @ genres.T)
    user_p = rs.pareto(1.5, n_users) + 1
    counts = np.maximum(1, (n_interactions * user_p / user_p.sum()).astype(int))
    rows, cols = [], []
    for user in range(n_users):
        p = weights[user] / weights[user].sum()
        chosen = rs.choice(n_items, min(counts[user], n_items // 2), replace=False, p=p)
        rows += [user] * chosen.size
        cols += chosen.tolist()
    rows, cols = np.array(rows, np.int32), np.array(cols, np.int32)
    is_test = rs.rand(rows.size) < 0.1
    shape = (n_users, n_items)
    train = sp.coo_matrix((np.ones((~is_test).sum(), np.float32), (rows[~is_test], cols[~is_test])), shape=shape)
    test = sp.coo_matrix((np.ones(is_test.sum(), np.float32), (rows[is_test], cols[is_test])), shape=shape)
    return train, test, features


def rss_mb(field):
    """A memory figure of this process from /proc/self/status (Linux), in MB; None elsewhere."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def reset_peak_rss():
    """Start a new peak-RSS window (VmHWM), so that the fit's peak is not the data generation's."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
    except OSError:
        pass


def main():
    config = json.loads(sys.argv[1])
    from lightfm import LightFM
    from lightfm.evaluation import auc_score, precision_at_k

    item_features = None
    if config["data"] in ("movielens", "movielens-genres"):
        from lightfm.datasets import fetch_movielens

        genres = config["data"] == "movielens-genres"
        data = fetch_movielens(data_home=config["data_home"], min_rating=4.0, genre_features=genres)
        train, test = data["train"], data["test"]
        item_features = data["item_features"].tocsr() if genres else None
    elif config["data"] == "tagged":
        train, test, item_features = tagged()
    elif config["data"] == "generated-features":
        # A hybrid set at scale: 2M draws over 20k users and 50k items with about 10 features each.
        train, test = generated(n_users=20_000, n_interactions=2_000_000)
        item_features = generated_features(train.shape[1])
    else:
        train, test = generated()
    if config.get("replicas") is False:
        # Ours only: train without per-thread copies of hot feature rows (a side over budget has none).
        from lightfm.backends.cpu import training

        training._REPLICA_BUDGET_BYTES = -1
    alphas = {"item_alpha": config.get("alpha", 0.0), "user_alpha": config.get("alpha", 0.0)}
    if config.get("warmup", True):
        # Steady state: load (or compile) JIT code before timing; the first call is measured apart.
        small = train.tocsr()[:50].tocoo()
        LightFM(no_components=config["components"], loss=config["loss"], random_state=0, **alphas).fit(
            small, item_features=item_features, epochs=1, num_threads=config["threads"]
        )
    model = LightFM(no_components=config["components"], loss=config["loss"], random_state=0, **alphas)
    before_fit = rss_mb("VmRSS")
    reset_peak_rss()
    start = time.perf_counter()
    model.fit(train, item_features=item_features, epochs=config["epochs"], num_threads=config["threads"])
    fit_seconds = time.perf_counter() - start
    result = {"fit": fit_seconds, "samples_per_s": train.nnz * config["epochs"] / fit_seconds}
    # The process's resident memory while fitting (runtime, data and model included), and before.
    result["fit_peak_rss_mb"] = rss_mb("VmHWM")
    result["rss_before_fit_mb"] = before_fit
    if config.get("evaluate"):
        csr_test = test.tocsr()
        if config["data"].startswith("generated"):
            with_test = np.flatnonzero(np.diff(csr_test.indptr))
            users = np.random.RandomState(1).choice(with_test, size=min(2000, with_test.size), replace=False)
            keep = np.zeros(csr_test.shape[0], np.float32)
            keep[users] = 1
            csr_test = sp.csr_matrix(sp.diags(keep) @ csr_test)
            csr_test.eliminate_zeros()
        start = time.perf_counter()
        result["precision@10"] = float(
            precision_at_k(
                model, csr_test, train, k=10, item_features=item_features, num_threads=config["threads"]
            ).mean()
        )
        result["auc"] = float(
            auc_score(model, csr_test, train, item_features=item_features, num_threads=config["threads"]).mean()
        )
        result["eval"] = time.perf_counter() - start
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


if __name__ == "__main__":
    main()
