"""Fold-in of new users and items: accuracy against retraining, and serving speed.

Part ``accuracy``: for each data set, side (users or items), loss and seed, 10% of the rows of
that side (chosen at random by the seed among those with at least two interactions: one to give,
one to test) are held out entirely and the model is trained on the rest. Each held-out row's
interactions are shuffled and split in halves: the first ``len // 2`` are *given*, the others
are the *test*. Four ways of scoring the held-out rows, all through the same NumPy metric code
(score = row embedding . column embedding + row bias + column bias):

(a) retrain: a model trained on the rest plus the given halves (same epochs and hyperparameters);
(b) fold-in: ``fold_in_users`` / ``fold_in_items`` of the given halves into the model trained
    without them: with the library's default (``epochs=None``) and once per ``--fold-in-epochs``
    value;
(c) popularity: score(u, i) = log(1 + n_u) + log(1 + n_i), where n counts the known interactions
    (the training data for the model's rows; the given half for a held-out row), so a user's items
    are ranked by item popularity and an item's users by user activity;
(d) hybrid set only, features alone: the held-out rows represented by their attribute (user) or tag
    (item) features, with the weights they have in their normalised full rows, no fold-in.

Metrics (means over seeds of means over rows; ties count half in AUC and go to the lower index in
the top 10):

* users side, AUC: for each held-out user, the probability that a test item scores above an item
  that is neither given nor test; precision@10: the fraction of the user's top 10 items (given
  items excluded) that are test items. Both averaged over the held-out users.
* items side, AUC: for each user with test interactions on held-out items, the probability that
  one of those test items scores above an item (known or held out) the user has no interaction
  with at all, averaged over those users; precision@10: for each held-out item, the fraction of
  its top 10 users (its given users excluded) that are its test users, averaged over the
  held-out items.
* items side, share in top 10: for each user, the fraction of their top 10 items (items they
  interacted with left out) that are held-out items, averaged over all users. A method that
  scores new items too high for everyone shows here (and raises the items-side AUC, whose
  positives are all held-out items), while a retrained model gives about the held-out items'
  share of the catalogue or less.

The goal column applies to (b) with the default epochs (``epochs=None``): AUC >= (a) AUC - 0.01 and
precision@10 >= 0.9 x (a) precision@10. "fold-in ms" is the wall time of one fold-in call for all
the held-out rows with the default epochs (warm, one thread), "retrain s" that of the fit of (a).

Data: MovieLens 100k, ratings >= 4 (train and test merged, values set to 1; 32 components,
learning rate 0.05, 30 epochs), and ``make_synthetic(n_users=2000, n_items=1200,
random_state=seed)`` (train, test and cold_test merged; users = [identity, attributes] and
items = [identity, tags], each row normalised to sum 1 as ``lightfm.data.Dataset`` does; 32
components, learning rate 0.05, 20 epochs). For a held-out row of the hybrid set, fold-in starts
from its attribute features (identity left out: the model trained without the row has no column
for it; the learned offset plays the identity's role). One thread everywhere, so every number is
reproducible.

Part ``speed``: a generated catalogue of 10,000 items (power-law popularity) and 20,000 users
with 20 draws each, a 64-component model trained for 5 epochs on 2 threads, one per loss. Then
(i) one new user with 20 draws: ``fold_in_users`` + ``recommend(n=10, exclude=their items)``
end to end, warm, 500 repetitions on one thread (BLAS limited to one thread too): median and p99;
(ii) 10,000 new users of 20 draws in one ``fold_in_users`` call on 1 and 2 threads: users per
second (median of 5 calls). Each with the default epochs (``epochs=None``) and each
``--fold-in-epochs`` value. Goals: (i) median <= 5 ms and p99 <= 20 ms; (ii) >= 50,000 users/s on
2 threads.

    python benchmarks/bench_fold_in.py --quick                 # accuracy, MovieLens, 1 seed
    python benchmarks/bench_fold_in.py                         # accuracy, full (both sets, 3 seeds)
    python benchmarks/bench_fold_in.py --part speed
    python benchmarks/bench_fold_in.py [--part accuracy|speed] [--data movielens synthetic] [--seeds 3]
        [--losses warp bpr logistic warp-kos] [--sides users items] [--fold-in-epochs 5 15 30]
"""

import argparse
import contextlib
import os
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from lightfm import LightFM
from lightfm.datasets import fetch_movielens, make_synthetic

HERE = Path(__file__).resolve().parent
DATA_HOME = os.environ.get("LIGHTFM_DATA_HOME", str(HERE.parent.parent / "shared" / "data"))
SETTINGS = {"movielens": dict(epochs=30), "synthetic": dict(epochs=20)}
COMPONENTS = 32
LEARNING_RATE = 0.05
K = 10


# ---------------------------------------------------------------------------------------------
# Accuracy
# ---------------------------------------------------------------------------------------------


def binary_csr(matrix):
    matrix = sp.csr_matrix(matrix, dtype=np.float32)
    matrix.sum_duplicates()
    matrix.data[:] = 1.0
    matrix.eliminate_zeros()
    return matrix


def normalise_rows(matrix):
    """Each row divided by its sum (as ``lightfm.data.Dataset`` normalises features)."""
    matrix = sp.csr_matrix(matrix, dtype=np.float32)
    sums = np.asarray(matrix.sum(axis=1)).ravel()
    sums[sums == 0] = 1.0
    return sp.csr_matrix(sp.diags(1.0 / sums).dot(matrix), dtype=np.float32)


def load(name, seed):
    """``(full, user_attributes, item_tags)``: binary [n_users, n_items] and the features (None: none)."""
    if name == "movielens":
        data = fetch_movielens(data_home=DATA_HOME, min_rating=4.0)
        return binary_csr(data["train"] + data["test"]), None, None
    world = make_synthetic(n_users=2000, n_items=1200, random_state=seed)
    full = binary_csr(world["train"] + world["test"] + world["cold_test"])
    return full, sp.csr_matrix(world["user_features"]), sp.csr_matrix(world["item_features"])


def split(rows, rs):
    """Hold out 10% of the rows of ``rows`` (at least two entries each): ``(rest, held, given, test)``."""
    n = rows.shape[0]
    eligible = np.flatnonzero(np.diff(rows.indptr) >= 2)
    held = np.sort(rs.choice(eligible, n // 10, replace=False))
    rest = np.setdiff1d(np.arange(n), held)
    given_cols, test_cols, given_rows, test_rows = [], [], [], []
    for r, row in enumerate(held):
        cols = rows.indices[rows.indptr[row] : rows.indptr[row + 1]].copy()
        rs.shuffle(cols)
        half = cols.size // 2
        given_cols.append(cols[:half])
        test_cols.append(cols[half:])
        given_rows.append(np.full(half, r))
        test_rows.append(np.full(cols.size - half, r))

    def build(r, c):
        r, c = np.concatenate(r), np.concatenate(c)
        return sp.csr_matrix((np.ones(r.size, np.float32), (r, c)), shape=(held.size, rows.shape[1]))

    return rest, held, build(given_rows, given_cols), build(test_rows, test_cols)


def auc_rows(scores, positives, known):
    """Mean over the rows of ``positives`` with entries: AUC of those entries against the columns
    not in ``known`` (which contains ``positives``); ties count half."""
    aucs = []
    for r in range(scores.shape[0]):
        pos_cols = positives.indices[positives.indptr[r] : positives.indptr[r + 1]]
        if pos_cols.size == 0:
            continue
        negative = np.ones(scores.shape[1], dtype=bool)
        negative[known.indices[known.indptr[r] : known.indptr[r + 1]]] = False
        neg = np.sort(scores[r, negative])
        if neg.size == 0:
            continue
        pos = scores[r, pos_cols]
        below = np.searchsorted(neg, pos, side="left")
        tied = np.searchsorted(neg, pos, side="right") - below
        aucs.append((below.sum() + 0.5 * tied.sum()) / (pos.size * neg.size))
    return float(np.mean(aucs))


def precision_rows(scores, given, test):
    """Mean over the rows of ``test`` with entries: fraction of the top K columns, ``given`` left out, in ``test``."""
    precisions = []
    for r in range(scores.shape[0]):
        test_cols = test.indices[test.indptr[r] : test.indptr[r + 1]]
        if test_cols.size == 0:
            continue
        s = scores[r].astype(np.float64)
        s[given.indices[given.indptr[r] : given.indptr[r + 1]]] = -np.inf
        top = np.argsort(-s, kind="stable")[:K]
        precisions.append(np.isin(top, test_cols).mean())
    return float(np.mean(precisions))


def new_share(scores, known, first_new):
    """Mean over the rows: share of the top K columns (``known`` left out) that are held out (>= ``first_new``)."""
    masked = scores.astype(np.float64)
    masked[known.nonzero()] = -np.inf
    top = np.argsort(-masked, axis=1, kind="stable")[:, :K]
    return float((top >= first_new).mean())


def score_matrix(row_reps, col_reps):
    (row_b, row_e), (col_b, col_e) = row_reps, col_reps
    return row_e @ col_e.T + row_b[:, None] + col_b[None, :]


def concat_reps(*reps):
    return np.concatenate([b for b, _ in reps]), np.concatenate([e for _, e in reps])


class Case:
    """One data set, side and seed: the split, the features and the metric code shared by the methods."""

    def __init__(self, data, side, seed):
        full, user_attrs, item_tags = load(data, seed)
        self.side, self.seed, self.epochs = side, seed, SETTINGS[data]["epochs"]
        # Work in the orientation rows = the held-out side, columns = the other side.
        rows = full if side == "users" else sp.csr_matrix(full.T)
        row_attrs, col_attrs = (user_attrs, item_tags) if side == "users" else (item_tags, user_attrs)
        rs = np.random.RandomState(seed)
        self.rest, self.held, self.given, self.test = split(rows, rs)
        n_rest, n_held, n_cols = self.rest.size, self.held.size, rows.shape[1]
        self.n_rest, self.n_held = n_rest, n_held
        self.train_b = rows[self.rest]  # rows in the order [rest]
        self.train_a = sp.vstack([self.train_b, self.given], format="csr")  # [rest, held]
        self.known = sp.vstack([self.train_b, self.given + self.test], format="csr")  # all of each row
        self.hybrid = row_attrs is not None
        if self.hybrid:
            self.col_features = normalise_rows(sp.hstack([sp.identity(n_cols), col_attrs]))
            self.row_features_b = normalise_rows(sp.hstack([sp.identity(n_rest), row_attrs[self.rest]]))
            order = np.concatenate([self.rest, self.held])
            self.row_features_a = normalise_rows(sp.hstack([sp.identity(n_rest + n_held), row_attrs[order]]))
            # The held-out rows' attributes with the weights of their normalised full rows (1 + attributes).
            attrs = sp.csr_matrix(row_attrs[self.held], dtype=np.float32)
            weights = 1.0 / (1.0 + np.asarray(attrs.sum(axis=1)).ravel())
            attrs = sp.csr_matrix(sp.diags(weights).dot(attrs), dtype=np.float32)
            self.fold_features = sp.hstack([sp.csr_matrix((n_held, n_rest), dtype=np.float32), attrs], format="csr")
        else:
            self.col_features = self.row_features_a = self.row_features_b = self.fold_features = None

    # --- models in the case's orientation ----------------------------------------------------
    def fit(self, loss, row_interactions, row_features):
        model = LightFM(no_components=COMPONENTS, loss=loss, learning_rate=LEARNING_RATE, random_state=self.seed)
        interactions = row_interactions if self.side == "users" else sp.csr_matrix(row_interactions.T)
        features = {"user_features": row_features, "item_features": self.col_features}
        if self.side == "items":
            features = {"item_features": row_features, "user_features": self.col_features}
        if not self.hybrid:
            features = {}
        start = time.perf_counter()
        model.fit(interactions, epochs=self.epochs, num_threads=1, **features)
        return model, time.perf_counter() - start

    def row_reps(self, model, features):
        get = model.get_user_representations if self.side == "users" else model.get_item_representations
        return get(features)

    def col_reps(self, model):
        get = model.get_item_representations if self.side == "users" else model.get_user_representations
        return get(self.col_features)

    def fold_in(self, model, epochs):
        kwargs = {"epochs": epochs, "num_threads": 1}
        if self.side == "users":
            return model.fold_in_users(self.given, user_features=self.fold_features, **kwargs)
        return model.fold_in_items(self.given, item_features=self.fold_features, **kwargs)

    # --- metrics ---------------------------------------------------------------------------
    def metrics(self, scores):
        """``(auc, precision@10, share of held-out items in users' top 10)`` of a score matrix [rest + held
        rows, columns]; the share only on the items side (NaN on the users side)."""
        held_scores = scores[self.n_rest :]
        p10 = precision_rows(held_scores, self.given, self.test)
        if self.side == "users":
            auc = auc_rows(held_scores, self.test, self.given + self.test)
            return auc, p10, np.nan
        # Per user (a column here), over all items (rows here).
        per_user = np.ascontiguousarray(scores.T)
        test_all = sp.vstack([sp.csr_matrix((self.n_rest, self.test.shape[1])), self.test], format="csr")
        auc = auc_rows(per_user, sp.csr_matrix(test_all.T), sp.csr_matrix(self.known.T))
        return auc, p10, new_share(per_user, sp.csr_matrix(self.known.T), self.n_rest)

    def popularity(self):
        row_counts = np.concatenate([np.diff(self.train_b.indptr), np.diff(self.given.indptr)])
        col_counts = np.bincount(self.train_b.indices, minlength=self.given.shape[1])
        return np.log1p(row_counts)[:, None] + np.log1p(col_counts)[None, :]


def run_case(case, loss, epochs_list):
    """The methods' ``{(method, epochs): (auc, p10)}`` and the times, for one case and loss."""
    out, times = {}, {}
    model_a, times["retrain"] = case.fit(loss, case.train_a, case.row_features_a)
    scores = score_matrix(case.row_reps(model_a, case.row_features_a), case.col_reps(model_a))
    out["a"] = case.metrics(scores)
    model_b, _ = case.fit(loss, case.train_b, case.row_features_b)
    rest_reps = case.row_reps(model_b, case.row_features_b)
    col_reps = case.col_reps(model_b)
    case.fold_in(model_b, 1)  # warm-up (compilation)
    for epochs in epochs_list:
        start = time.perf_counter()
        reps = case.fold_in(model_b, epochs)
        times[("fold", epochs)] = time.perf_counter() - start
        out[("b", epochs)] = case.metrics(score_matrix(concat_reps(rest_reps, reps), col_reps))
    out["c"] = case.metrics(case.popularity())
    if case.hybrid:
        cold = case.row_reps(model_b, case.fold_features)
        out["d"] = case.metrics(score_matrix(concat_reps(rest_reps, cold), col_reps))
    return out, times


def accuracy(args):
    epochs_list = [None] + sorted(set(args.fold_in_epochs))
    seeds = list(range(args.seeds))
    started = time.perf_counter()
    print(f"Fold-in accuracy; seeds {seeds}; means over seeds.\n")
    for data in args.data:
        for side in args.sides:
            results = {loss: [] for loss in args.losses}
            timings = {loss: [] for loss in args.losses}
            described = None
            for seed in seeds:
                case = Case(data, side, seed)
                described = (case.n_held, case.n_rest + case.n_held)
                for loss in args.losses:
                    t = time.perf_counter()
                    result, times = run_case(case, loss, epochs_list)
                    results[loss].append(result)
                    timings[loss].append(times)
                    print(f"  {data} {side} seed {seed} {loss}: {time.perf_counter() - t:.1f} s", file=sys.stderr)
            print_table(data, side, described, results, timings, epochs_list, len(seeds))
    print(f"Total time: {time.perf_counter() - started:.0f} s")


def print_table(data, side, described, results, timings, epochs_list, n_seeds):
    hybrid = any("d" in r for rs in results.values() for r in rs)
    methods = ["a"] + [("b", e) for e in epochs_list] + ["c"] + (["d"] if hybrid else [])

    def label(method):
        if isinstance(method, tuple):
            return "(b) default" if method[1] is None else f"(b) e={method[1]}"
        return {"a": "(a) retrain", "c": "(c) pop.", "d": "(d) features"}[method]

    held, total = described
    print(f"### {data}, new {side}: {held} of {total} held out, {n_seeds} seed(s)\n")
    head = [f"AUC {label(m)}" for m in methods] + [f"p@10 {label(m)}" for m in methods]
    head += ["goal", "fold-in ms", "retrain s"]
    print("| loss | " + " | ".join(head) + " |")
    print("|---|" + "---:|" * len(head))
    default = ("b", None)
    for loss, runs in results.items():
        mean = {m: np.mean([r[m][:2] for r in runs], axis=0) for m in methods}
        auc_ok = mean[default][0] >= mean["a"][0] - 0.01
        p10_ok = mean[default][1] >= 0.9 * mean["a"][1]
        goal = "pass" if auc_ok and p10_ok else "FAIL (" + ", ".join(
            name for name, ok in (("AUC", auc_ok), ("p@10", p10_ok)) if not ok) + ")"  # fmt: skip
        fold_ms = 1000 * np.mean([t[("fold", None)] for t in timings[loss]])
        retrain_s = np.mean([t["retrain"] for t in timings[loss]])
        cells = [f"{mean[m][0]:.4f}" for m in methods] + [f"{mean[m][1]:.4f}" for m in methods]
        cells += [goal, f"{fold_ms:.1f}", f"{retrain_s:.2f}"]
        print(f"| {loss} | " + " | ".join(cells) + " |")
    print("\n(b) default: fold-in with epochs=None; (b) e=N: with N epochs. Goal: (b) default AUC >= (a) AUC - 0.01 "
          "and p@10 >= 0.9 x (a) p@10.\n", flush=True)  # fmt: skip
    if side != "items":
        return
    print(f"Share of the held-out items in the users' top 10 (items the user interacted with left out; the held-out "
          f"items are {held / total:.1%} of the catalogue):\n")  # fmt: skip
    print("| loss | " + " | ".join(label(m) for m in methods) + " |")
    print("|---|" + "---:|" * len(methods))
    for loss, runs in results.items():
        shares = [np.mean([r[m][2] for r in runs]) for m in methods]
        print(f"| {loss} | " + " | ".join(f"{share:.3f}" for share in shares) + " |")
    print(flush=True)


# ---------------------------------------------------------------------------------------------
# Speed
# ---------------------------------------------------------------------------------------------


def one_blas_thread():
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover
        return contextlib.nullcontext()
    return threadpool_limits(limits=1)


def speed(args):
    epochs_list = [None] + sorted(set(args.fold_in_epochs))
    rs = np.random.RandomState(0)
    n_users, n_items, d, per_user, n_new = 20000, 10000, 64, 20, 10000
    popularity = rs.pareto(1.2, n_items) + 1
    popularity /= popularity.sum()

    def draws(n):
        rows = np.repeat(np.arange(n), per_user)
        cols = rs.choice(n_items, rows.size, p=popularity)
        return binary_csr(sp.csr_matrix((np.ones(rows.size, np.float32), (rows, cols)), shape=(n, n_items)))

    train, new = draws(n_users), draws(n_new)
    one = new[:1]
    print(f"Fold-in speed: {n_items:,} items, {d} components, model trained on {n_users:,} users x {per_user} draws "
          f"(5 epochs, 2 threads); new users: {per_user} draws each ({new.nnz / n_new:.1f} distinct items on "
          f"average).\n")  # fmt: skip
    print(f"(i) one user, fold_in_users + recommend(n=10), one thread, warm, {args.repeats} repetitions; "
          "(ii) 10,000 users in one fold_in_users call, median of 5 calls.\n")  # fmt: skip
    head = ["loss", "epochs", "(i) median ms", "(i) p99 ms", "(i) fold-in only median ms", "(ii) users/s 1 thread",
            "(ii) users/s 2 threads", "goal (i)", "goal (ii)"]  # fmt: skip
    print("| " + " | ".join(head) + " |")
    print("|---|" + "---:|" * (len(head) - 1))
    for loss in args.losses:
        model = LightFM(no_components=d, loss=loss, random_state=0).fit(train, epochs=5, num_threads=2)
        for epochs in epochs_list:
            model.fold_in_users(one, epochs=epochs)  # warm-up
            model.recommend(n=10, user_representations=model.fold_in_users(one, epochs=epochs), exclude=one)
            end_to_end, fold_only = [], []
            with one_blas_thread():
                for _ in range(args.repeats):
                    start = time.perf_counter()
                    reps = model.fold_in_users(one, epochs=epochs, num_threads=1)
                    model.recommend(n=10, user_representations=reps, exclude=one, num_threads=1)
                    end_to_end.append(time.perf_counter() - start)
                for _ in range(args.repeats):
                    start = time.perf_counter()
                    model.fold_in_users(one, epochs=epochs, num_threads=1)
                    fold_only.append(time.perf_counter() - start)
            end_to_end, fold_only = 1000 * np.array(end_to_end), 1000 * np.array(fold_only)
            rates = {}
            for threads in (1, 2):
                model.fold_in_users(new[:100], epochs=epochs, num_threads=threads)  # warm-up
                calls = []
                for _ in range(5):
                    start = time.perf_counter()
                    model.fold_in_users(new, epochs=epochs, num_threads=threads)
                    calls.append(time.perf_counter() - start)
                rates[threads] = n_new / np.median(calls)
            median, p99 = np.median(end_to_end), np.percentile(end_to_end, 99)
            goal_i = "pass" if median <= 5 and p99 <= 20 else "FAIL"
            goal_ii = "pass" if rates[2] >= 50000 else "FAIL"
            shown = "default" if epochs is None else epochs
            print(f"| {loss} | {shown} | {median:.2f} | {p99:.2f} | {np.median(fold_only):.2f} "
                  f"| {rates[1]:,.0f} | {rates[2]:,.0f} | {goal_i} | {goal_ii} |", flush=True)  # fmt: skip
    print("\ndefault: epochs=None. Goals: (i) median <= 5 ms and p99 <= 20 ms; (ii) >= 50,000 users/s on 2 threads.")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["accuracy", "speed"], default="accuracy")
    parser.add_argument("--data", nargs="+", choices=list(SETTINGS), default=list(SETTINGS))
    parser.add_argument("--seeds", type=int, default=3, help="seeds 0 .. N-1")
    parser.add_argument("--losses", nargs="+", default=["warp", "bpr", "logistic", "warp-kos"])
    parser.add_argument("--sides", nargs="+", choices=["users", "items"], default=["users", "items"])
    parser.add_argument("--fold-in-epochs", type=int, nargs="+", default=[5, 15, 30])
    parser.add_argument("--repeats", type=int, default=500, help="speed (i): repetitions")
    parser.add_argument("--quick", action="store_true", help="accuracy on MovieLens with one seed")
    args = parser.parse_args()
    if args.quick:
        args.seeds, args.data = 1, ["movielens"]
    if args.part == "accuracy":
        accuracy(args)
    else:
        speed(args)


if __name__ == "__main__":
    main()
