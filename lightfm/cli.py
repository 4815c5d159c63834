"""The ``lightfm`` command: a demo on built-in data, and train / evaluate / recommend from files.

Every command has ``--help`` with examples. Problems with the input (missing
files or columns, unknown ids, malformed files) end with one line on stderr and
exit status 1, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from tqdm.auto import tqdm

from . import LightFM
from ._params import LOSSES, check_sample_weight_loss
from .data import Dataset, _IdIndex
from .evaluation import auc_score, precision_at_k, recall_at_k


class CLIError(Exception):
    """A problem with the user's input: reported as one line, exit status 1."""


# -- shared helpers -------------------------------------------------------------------


def _require(module: str, extra: str):
    try:
        return __import__(module)
    except ImportError:
        raise CLIError(f"this needs {module}: pip install 'lightfm-ng[{extra}]'") from None


def _read_table(path: str, columns: list, what: str, flags: dict):
    """Read a CSV/TSV/Parquet file with ``columns`` (ids as strings); ``flags`` names the option choosing each."""
    pandas = _require("pandas", "files")
    file = Path(path)
    if not file.is_file():
        raise CLIError(f"{what} file not found: {path}")
    suffix = file.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            _require("pyarrow", "files")
            frame = pandas.read_parquet(file)
        else:
            frame = pandas.read_csv(file, sep="\t" if suffix in (".tsv", ".tab") else ",", dtype=str)
    except CLIError:
        raise
    except Exception as error:  # noqa: BLE001 - any parser failure is the file's problem
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CLIError(f"cannot read {what} file {path}: {message}") from None
    for column in columns:
        if column not in frame.columns:
            choose = f"; choose another with {flags[column]}" if column in flags else ""
            raise CLIError(
                f"{path} has no column {column!r} (its columns: {', '.join(map(str, frame.columns))}){choose}"
            )
    frame = frame[columns].copy()
    return frame


def _ids(frame, column: str, path: str):
    values = frame[column]
    if values.isna().any():
        raise CLIError(f"{path}: column {column!r} has empty values (row {int(values.isna().to_numpy().argmax()) + 2})")
    return values.astype(str).str.strip().to_numpy(dtype=object)


def _numbers(frame, column: str, path: str):
    pandas = _require("pandas", "files")
    values = pandas.to_numeric(frame[column], errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise CLIError(
            f"{path}: column {column!r} needs finite numbers, got {frame[column].iloc[row]!r} (row {row + 2})"
        )
    return values


def _feature_tuples(frame, id_column, feature_column, weight_column, path):
    """``(id, {feature: weight})`` per id from a long table with one row per (id, feature)."""
    ids = _ids(frame, id_column, path)
    features = _ids(frame, feature_column, path)
    weights = _numbers(frame, weight_column, path) if weight_column else np.ones(ids.size)
    grouped: dict = {}
    for entity, feature, weight in zip(ids.tolist(), features.tolist(), weights.tolist(), strict=True):
        grouped.setdefault(entity, {})[feature] = weight
    return list(grouped.items())


def _metrics(model, test, train, k, user_features, item_features, threads):
    arguments = {"user_features": user_features, "item_features": item_features, "num_threads": threads}
    return {
        f"precision@{k}": float(precision_at_k(model, test, train, k=k, **arguments).mean()),
        f"recall@{k}": float(recall_at_k(model, test, train, k=k, **arguments).mean()),
        "AUC": float(auc_score(model, test, train, **arguments).mean()),
    }


def _table(headers: list, rows: list) -> str:
    """A plain-text table: numbers right-aligned (floats to 3 decimals), text left-aligned."""
    numeric = [
        all(isinstance(row[i], (int, float, np.number)) or row[i] == "-" for row in rows) for i in range(len(headers))
    ]
    cells = [[str(h) for h in headers]] + [[f"{v:.3f}" if isinstance(v, float) else str(v) for v in r] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [
        "  ".join(
            cell.rjust(w) if right else cell.ljust(w) for cell, w, right in zip(row, widths, numeric, strict=True)
        )
        for row in cells
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


def _load_bundle(path: str):
    """Model, dataset and saved matrices from a ``lightfm train`` output."""
    if not Path(path).is_file():
        raise CLIError(f"model file not found: {path}")
    model = LightFM.load(path)
    try:
        dataset = Dataset.load(path)
    except ValueError:
        raise CLIError(f"{path} holds no id mappings: train it with 'lightfm train'") from None
    return model, dataset, LightFM.load_matrices(path)


def _indices(values, mapping: dict, what: str, source: str):
    positions = np.asarray(_IdIndex(mapping).positions(values), dtype=np.int64)
    unknown = positions < 0
    if unknown.any():
        first = values[np.flatnonzero(unknown)[0]]
        raise CLIError(f"{int(unknown.sum())} {what} id(s) in {source} are not in the model (first: {first!r})")
    return positions


# -- demo -------------------------------------------------------------------------------


def _movielens_world(seed: int, data_home):
    """MovieLens 100k (ratings >= 4) shaped like :func:`make_synthetic`: genres as tags, 10% of movies cold."""
    from .datasets import fetch_movielens

    data = fetch_movielens(data_home=data_home, genre_features=True, indicator_features=False, min_rating=4.0)
    train, test = data["train"].tocsr(), data["test"].tocsr()
    n_users, n_items = train.shape
    rs = np.random.RandomState(seed)
    order = rs.permutation(n_items)  # movies in random order; the last 10% are the cold ones
    n_cold = n_items // 10
    everything = (train + test).tocsc()[:, order]
    train, test = train.tocsc()[:, order], test.tocsc()[:, order]
    cold = np.arange(n_items - n_cold, n_items)
    warm_mask = np.ones(n_items, dtype=bool)
    warm_mask[cold] = False
    keep = sp.diags(warm_mask.astype(np.float32))
    binary = lambda m: sp.coo_matrix((np.ones(m.nnz, np.float32), (m.row, m.col)), shape=m.shape)  # noqa: E731
    return {
        "train": binary((train @ keep).tocoo()),
        "test": binary((test @ keep).tocoo()),
        "cold_test": binary((everything @ sp.diags((~warm_mask).astype(np.float32))).tocoo()),
        "cold_items": cold,
        "user_features": sp.csr_matrix((n_users, 0), dtype=np.float32),
        "item_features": sp.csr_matrix(data["item_features"][order], dtype=np.float32),
        "user_feature_labels": np.array([], dtype=str),
        "item_feature_labels": np.asarray(data["item_feature_labels"], dtype=str),
        "user_labels": np.array([f"user {u + 1}" for u in range(n_users)]),
        "item_labels": np.asarray(data["item_labels"], dtype=str)[order],
    }


def _normalised(matrix):
    sums = np.asarray(matrix.sum(axis=1)).ravel()
    sums[sums == 0] = 1.0
    return sp.csr_matrix(sp.diags(1.0 / sums) @ matrix, dtype=np.float32)


def _row_labels(matrix, row, labels):
    return [str(labels[c]) for c in matrix.indices[matrix.indptr[row] : matrix.indptr[row + 1]]]


def run_demo(args) -> int:
    start = time.perf_counter()
    if args.data == "movielens":
        world = _movielens_world(args.seed, args.data_home)
        title = "MovieLens 100k (ratings >= 4), genres as item features"
    else:
        from .datasets import make_synthetic

        world = make_synthetic(random_state=args.seed)
        title = "generated music world: users with attributes, albums with tags"
    n_users, n_items = world["train"].shape
    n_warm = n_items - world["cold_items"].size
    print(f"Data: {title}")
    print(
        f"  {n_users:,} users, {n_warm:,} albums/items seen in training, {world['cold_items'].size:,} new (cold) ones; "
        f"{world['train'].nnz:,} train, {world['test'].nnz:,} test, {world['cold_test'].nnz:,} cold-test interactions"
    )
    # Ids as features (the classic model), or ids plus attributes/tags (hybrid). Cold items
    # have no id embedding: they were not there when the model was trained.
    item_ids = sp.csr_matrix(
        (np.ones(n_warm, np.float32), (np.arange(n_warm), np.arange(n_warm))), shape=(n_items, n_warm)
    )
    user_ids = sp.identity(n_users, dtype=np.float32, format="csr")
    variants = {
        "ids only": (user_ids, item_ids),
        "ids + features": (
            _normalised(sp.hstack([user_ids, world["user_features"]]).tocsr()),
            _normalised(sp.hstack([item_ids, world["item_features"]]).tocsr()),
        ),
    }
    train_warm = world["train"].tocsc()[:, :n_warm].tocoo()
    test_warm = world["test"].tocsc()[:, :n_warm].tocsr()
    cold_test = world["cold_test"].tocsc()[:, n_warm:].tocsr()
    empty_cold = sp.csr_matrix((n_users, n_items - n_warm), dtype=np.float32)
    rows, models = [], {}
    for name, (user_features, item_features) in variants.items():
        model = LightFM(loss=args.loss, no_components=args.components, learning_rate=0.05, random_state=args.seed)
        print(f"\nTraining '{name}' ({args.loss}, {args.components} components, {args.epochs} epochs)", flush=True)
        model.fit(
            train_warm,
            user_features=user_features,
            item_features=item_features[:n_warm],
            epochs=args.epochs,
            num_threads=args.threads,
            verbose=not args.quiet,
        )
        models[name] = model
        warm = _metrics(model, test_warm, train_warm, args.k, user_features, item_features[:n_warm], args.threads)
        rows.append([name, "warm items", *warm.values()])
        if name == "ids only":
            rows.append([name, "new items", "-", "-", "-"])  # nothing to score them by
        else:
            cold = _metrics(model, cold_test, empty_cold, args.k, user_features, item_features[n_warm:], args.threads)
            rows.append([name, "new items", *cold.values()])
    print(f"\nHeld-out results (warm: ranking the {n_warm:,} known items; new: ranking the new ones only)")
    print(_table(["model", "test set", f"precision@{args.k}", f"recall@{args.k}", "AUC"], rows))
    print("  '-': a model of ids alone has nothing to score items it never saw; features fill the gap.")

    user_features, item_features = variants["ids + features"]
    hybrid = models["ids + features"]
    test_rows = world["test"].tocsr()
    cold_rows = world["cold_test"].tocsr()
    item_tags = world["item_features"].tocsr()
    attributes = world["user_features"].tocsr()
    print("\nSample recommendations (hybrid model; * = in the user's held-out test set)")
    for user in np.flatnonzero(np.diff(test_rows.indptr))[:3]:
        described = ", ".join(_row_labels(attributes, user, world["user_feature_labels"])) or "no attributes"
        print(f"  {world['user_labels'][user]} ({described})")
        top, _ = hybrid.recommend(
            user, n=5, exclude=train_warm, user_features=user_features, item_features=item_features[:n_warm]
        )
        new, _ = hybrid.recommend(
            user, n=2, user_features=user_features, item_features=item_features, items=world["cold_items"]
        )
        for kind, items, truth in (("", top, test_rows), ("new: ", new, cold_rows)):
            for item in items[items >= 0]:
                hit = "*" if truth[user, item] else " "
                tags = ", ".join(_row_labels(item_tags, item, world["item_feature_labels"]))
                print(f"    {hit} {kind}{world['item_labels'][item]}  [{tags}]")
    print(f"\nDone in {time.perf_counter() - start:.1f} s.")
    return 0


# -- train ------------------------------------------------------------------------------


def _split(interactions, weights, fraction: float, seed: int):
    """Random train/test split of the (merged) entries; weights follow their entries."""
    counts = sp.csr_matrix(interactions, dtype=np.float32)
    counts.sum_duplicates()
    summed = sp.csr_matrix(weights, dtype=np.float32)
    summed.sum_duplicates()
    coo = counts.tocoo()
    weight_values = np.asarray(summed[coo.row, coo.col]).ravel().astype(np.float32)
    is_test = np.random.RandomState(seed).rand(coo.nnz) < fraction
    shape = counts.shape

    def part(mask, values):
        return sp.coo_matrix((values[mask], (coo.row[mask], coo.col[mask])), shape=shape)

    ones = np.ones(coo.nnz, dtype=np.float32)
    return part(~is_test, ones), part(~is_test, weight_values), part(is_test, ones)


def run_train(args) -> int:
    if not 0 <= args.test_fraction < 1:
        raise CLIError(f"--test-fraction must be in [0, 1), got {args.test_fraction}")
    try:
        check_sample_weight_loss(args.loss, bool(args.weight_col))
    except NotImplementedError:
        raise CLIError("--weight-col cannot be used with --loss warp-kos (it takes no sample weights)") from None
    if args.epochs < 1 or args.components < 1 or args.threads < 1:
        raise CLIError("--epochs, --components and --threads must be at least 1")
    id_flags = {args.user_col: "--user-col", args.item_col: "--item-col"}
    columns = [args.user_col, args.item_col] + ([args.weight_col] if args.weight_col else [])
    frame = _read_table(args.interactions, columns, "interactions", {**id_flags, args.weight_col: "--weight-col"})
    users = _ids(frame, args.user_col, args.interactions)
    items = _ids(frame, args.item_col, args.interactions)
    weights = _numbers(frame, args.weight_col, args.interactions) if args.weight_col else None
    if weights is not None and weights.min() < 0:
        raise CLIError(f"{args.interactions}: column {args.weight_col!r} has negative weights")
    side_tables = {}
    for side, path, id_column in (
        ("user", args.user_features, args.user_col),
        ("item", args.item_features, args.item_col),
    ):
        if path:
            wanted = [id_column, args.feature_col] + ([args.feature_weight_col] if args.feature_weight_col else [])
            flags = {id_column: f"--{side}-col", args.feature_col: "--feature-col"}
            side_tables[side] = (_read_table(path, wanted, f"{side} features", flags), path, id_column)

    dataset = Dataset()
    side_ids = {side: _ids(table, column, path) for side, (table, path, column) in side_tables.items()}
    side_features = {side: _ids(table, args.feature_col, path) for side, (table, path, _) in side_tables.items()}
    nothing = np.array([], dtype=object)
    dataset.fit(
        np.concatenate([users, side_ids.get("user", nothing)]),
        np.concatenate([items, side_ids.get("item", nothing)]),
        user_features=side_features.get("user"),
        item_features=side_features.get("item"),
    )
    pandas = _require("pandas", "files")
    table = pandas.DataFrame(
        {"user": users, "item": items, "weight": np.ones(users.size) if weights is None else weights}
    )
    interactions, weight_matrix = dataset.build_interactions(table, "user", "item", "weight")
    features = {}
    for side, (table, path, column) in side_tables.items():
        tuples = _feature_tuples(table, column, args.feature_col, args.feature_weight_col, path)
        build = dataset.build_user_features if side == "user" else dataset.build_item_features
        features[side] = build(tuples)
    user_features, item_features = features.get("user"), features.get("item")

    train, train_weights, test = _split(interactions, weight_matrix, args.test_fraction, args.seed)
    n_users, n_items = interactions.shape
    print(
        f"{n_users:,} users, {n_items:,} items; {train.nnz:,} train and {test.nnz:,} held-out interactions", flush=True
    )
    eval_every = args.eval_every or (1 if args.plot else 0)
    if (eval_every or args.plot) and test.nnz == 0:
        raise CLIError("--eval-every and --plot need held-out interactions: use --test-fraction > 0")
    model = LightFM(
        loss=args.loss, no_components=args.components, learning_rate=args.learning_rate, random_state=args.seed
    )
    history = []
    bar = tqdm(range(1, args.epochs + 1), desc="Training", unit="epoch", disable=args.quiet, file=sys.stderr)
    for epoch in bar:
        model.fit_partial(
            train,
            user_features=user_features,
            item_features=item_features,
            sample_weight=train_weights if args.weight_col else None,
            num_threads=args.threads,
        )
        if eval_every and (epoch % eval_every == 0 or epoch == args.epochs):
            metrics = _metrics(model, test, train, args.k, user_features, item_features, args.threads)
            history.append({"epoch": epoch, **metrics})
            bar.write(f"epoch {epoch:>3}: " + ", ".join(f"{name} {value:.4f}" for name, value in metrics.items()))
    if test.nnz:
        final = history[-1] if history else None
        if final is None:
            metrics = _metrics(model, test, train, args.k, user_features, item_features, args.threads)
            final = {"epoch": args.epochs, **metrics}
        names = [name for name in final if name != "epoch"]
        print(_table(["held-out", *names], [[f"epoch {final['epoch']}", *(final[name] for name in names)]]))
    model.save(
        args.output, dataset=dataset, user_features=user_features, item_features=item_features, interactions=train
    )
    print(f"Saved the model and its id mappings to {args.output}")
    if args.plot:
        _plot(history, args.plot, args.k)
        print(f"Saved the learning curve to {args.plot}")
    return 0


def _plot(history, path, k):
    matplotlib = _require("matplotlib", "plot")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [entry["epoch"] for entry in history]
    figure, axis = plt.subplots(figsize=(6, 4))
    for name in (f"precision@{k}", f"recall@{k}", "AUC"):
        axis.plot(epochs, [entry[name] for entry in history], marker="o", label=name)
    axis.set_xlabel("epoch")
    axis.set_ylabel("held-out metric")
    axis.set_title("Learning curve")
    axis.grid(alpha=0.3)
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


# -- evaluate / recommend ---------------------------------------------------------------


def run_evaluate(args) -> int:
    model, dataset, matrices = _load_bundle(args.model)
    frame = _read_table(
        args.interactions,
        [args.user_col, args.item_col],
        "interactions",
        {args.user_col: "--user-col", args.item_col: "--item-col"},
    )
    user_map, _, item_map, _ = dataset.mapping()
    rows = _indices(_ids(frame, args.user_col, args.interactions), user_map, "user", args.interactions)
    cols = _indices(_ids(frame, args.item_col, args.interactions), item_map, "item", args.interactions)
    shape = dataset.interactions_shape()
    test = sp.csr_matrix((np.ones(rows.size, np.float32), (rows, cols)), shape=shape)
    test.sum_duplicates()
    test.data[:] = 1.0
    train = matrices.get("interactions")
    if train is not None:
        seen = test.multiply(train != 0)
        if seen.nnz:
            print(f"note: {seen.nnz:,} interaction(s) are in the training data and are left out", file=sys.stderr)
            test = (test - seen).tocsr()
            test.eliminate_zeros()
    if test.nnz == 0:
        raise CLIError(f"{args.interactions} has no interactions to evaluate")
    metrics = _metrics(
        model, test, train, args.k, matrices.get("user_features"), matrices.get("item_features"), args.threads
    )
    print(f"{test.nnz:,} interactions of {np.count_nonzero(np.diff(test.indptr)):,} users")
    print(_table(["metric", "value"], [[name, value] for name, value in metrics.items()]))
    return 0


def _requested_users(args):
    if args.users_file:
        if Path(args.users_file).suffix.lower() == ".txt":
            if not Path(args.users_file).is_file():
                raise CLIError(f"users file not found: {args.users_file}")
            lines = Path(args.users_file).read_text().splitlines()
            return [line.strip() for line in lines if line.strip()]
        frame = _read_table(args.users_file, [args.user_col], "users", {args.user_col: "--user-col"})
        return _ids(frame, args.user_col, args.users_file).tolist()
    return [str(user) for user in args.user]


def run_recommend(args) -> int:
    if not args.user and not args.users_file:
        raise CLIError("name the users with --user ID (repeatable) or --users-file FILE")
    if args.n < 1:
        raise CLIError("--n must be at least 1")
    model, dataset, matrices = _load_bundle(args.model)
    requested = np.array(_requested_users(args), dtype=object)
    user_map, _, item_map, _ = dataset.mapping()
    users = _indices(requested, user_map, "user", args.users_file or "--user")
    exclude = None
    if args.exclude_seen:
        exclude = matrices.get("interactions")
        if exclude is None:
            raise CLIError(f"{args.model} holds no training interactions, so --exclude-seen cannot work")
    items, scores = model.recommend(
        users,
        n=args.n,
        exclude=exclude,
        user_features=matrices.get("user_features"),
        item_features=matrices.get("item_features"),
        num_threads=args.threads,
    )
    item_ids = np.empty(len(item_map), dtype=object)
    item_ids[list(item_map.values())] = list(item_map.keys())
    records = [
        {"user": user, "rank": rank + 1, "item": item_ids[item], "score": round(float(score), 6)}
        for user, row_items, row_scores in zip(requested.tolist(), items, scores, strict=True)
        for rank, (item, score) in enumerate(zip(row_items, row_scores, strict=True))
        if item >= 0
    ]
    output_format = args.format or (Path(args.output).suffix.lstrip(".").lower() if args.output else "table")
    if output_format not in ("table", "csv", "json"):
        raise CLIError(f"unknown output format {output_format!r}: use --format table, csv or json")
    if output_format == "json":
        text = json.dumps(records, indent=1) + "\n"
    elif output_format == "csv":
        text = "user,rank,item,score\n" + "".join(
            f"{_csv_field(r['user'])},{r['rank']},{_csv_field(r['item'])},{r['score']}\n" for r in records
        )
    else:
        text = (
            _table(["user", "rank", "item", "score"], [[r["user"], r["rank"], r["item"], r["score"]] for r in records])
            + "\n"
        )
    if args.output:
        Path(args.output).write_text(text)
        print(f"Wrote {len(records):,} recommendations to {args.output}")
    else:
        sys.stdout.write(text)
    return 0


def _csv_field(value) -> str:
    text = str(value)
    return '"' + text.replace('"', '""') + '"' if any(c in text for c in ',"\n') else text


# -- argument parsing -------------------------------------------------------------------

_EXAMPLES = {
    "demo": """examples:
  lightfm demo                      # generated data, no files or network needed
  lightfm demo --data movielens     # MovieLens 100k (downloaded to ~/lightfm_data if missing)
  lightfm demo --epochs 30 --threads 2""",
    "train": """examples:
  lightfm train ratings.csv --output model.npz
  lightfm train ratings.csv --user-col userId --item-col movieId --weight-col rating --output model.npz
  lightfm train plays.parquet --item-features tags.csv --eval-every 5 --plot curve.png --output model.npz

Feature files are long tables with one row per (id, feature): the id column (named as in
the interactions, --user-col / --item-col), a --feature-col and optionally a --feature-weight-col.""",
    "evaluate": """examples:
  lightfm evaluate model.npz holdout.csv
  lightfm evaluate model.npz holdout.csv --user-col userId --item-col movieId --k 5""",
    "recommend": """examples:
  lightfm recommend model.npz --user alice
  lightfm recommend model.npz --user alice --user bob --n 5 --exclude-seen
  lightfm recommend model.npz --users-file users.txt --exclude-seen --output recommendations.csv""",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lightfm",
        description="Hybrid recommendations with LightFM: try the demo, or train on your own interactions.",
        epilog="Run 'lightfm COMMAND --help' for a command's options and examples.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name, help_text):
        sub = commands.add_parser(
            name,
            help=help_text,
            description=help_text,
            epilog=_EXAMPLES[name],
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        sub.add_argument("--threads", type=int, default=1, help="threads for training and scoring (default 1)")
        return sub

    demo = command("demo", "Train on built-in data and show metrics and recommendations.")
    demo.add_argument(
        "--data", choices=["synthetic", "movielens"], default="synthetic", help="which data (default synthetic)"
    )
    demo.add_argument("--data-home", help="where MovieLens is kept (default: $LIGHTFM_DATA_HOME or ~/lightfm_data)")
    demo.add_argument("--loss", choices=LOSSES, default="warp", help="loss (default warp)")
    demo.add_argument("--components", type=int, default=32, help="embedding size (default 32)")
    demo.add_argument("--epochs", type=int, default=20, help="training epochs (default 20)")
    demo.add_argument("--k", type=int, default=10, help="cut-off of precision@k and recall@k (default 10)")
    demo.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    demo.add_argument("--quiet", action="store_true", help="no progress bars")
    demo.set_defaults(run=run_demo)

    train = command("train", "Train a model on a CSV/TSV/Parquet file of interactions and save it.")
    train.add_argument("interactions", help="CSV, TSV or Parquet file with one row per interaction")
    train.add_argument("--output", "-o", required=True, help="model file to write (.npz)")
    train.add_argument("--user-col", default="user", help="user id column (default 'user')")
    train.add_argument("--item-col", default="item", help="item id column (default 'item')")
    train.add_argument("--weight-col", help="optional column of interaction weights (>= 0)")
    train.add_argument("--user-features", help="optional file of user features (see below)")
    train.add_argument("--item-features", help="optional file of item features (see below)")
    train.add_argument(
        "--feature-col", default="feature", help="feature name column of feature files (default 'feature')"
    )
    train.add_argument("--feature-weight-col", help="optional feature weight column of feature files")
    train.add_argument("--loss", choices=LOSSES, default="warp", help="loss (default warp)")
    train.add_argument("--components", type=int, default=32, help="embedding size (default 32)")
    train.add_argument("--epochs", type=int, default=20, help="training epochs (default 20)")
    train.add_argument("--learning-rate", type=float, default=0.05, help="learning rate (default 0.05)")
    train.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    train.add_argument("--test-fraction", type=float, default=0.2, help="share of interactions held out (default 0.2)")
    train.add_argument("--eval-every", type=int, default=0, help="report held-out metrics every N epochs")
    train.add_argument("--k", type=int, default=10, help="cut-off of precision@k and recall@k (default 10)")
    train.add_argument("--plot", help="draw the learning curve to this image (needs matplotlib)")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.set_defaults(run=run_train)

    evaluate = command("evaluate", "Score a saved model on held-out interactions.")
    evaluate.add_argument("model", help="model file written by 'lightfm train'")
    evaluate.add_argument("interactions", help="CSV, TSV or Parquet file of held-out interactions")
    evaluate.add_argument("--user-col", default="user", help="user id column (default 'user')")
    evaluate.add_argument("--item-col", default="item", help="item id column (default 'item')")
    evaluate.add_argument("--k", type=int, default=10, help="cut-off of precision@k and recall@k (default 10)")
    evaluate.set_defaults(run=run_evaluate)

    recommend = command("recommend", "Recommend items to users of a saved model.")
    recommend.add_argument("model", help="model file written by 'lightfm train'")
    recommend.add_argument("--user", action="append", default=[], metavar="ID", help="a user id (repeatable)")
    recommend.add_argument(
        "--users-file", help="users to serve: a .txt file (one id per line) or a table with --user-col"
    )
    recommend.add_argument("--user-col", default="user", help="user id column of --users-file (default 'user')")
    recommend.add_argument("--n", type=int, default=10, help="items per user (default 10)")
    recommend.add_argument("--exclude-seen", action="store_true", help="never recommend items from the training data")
    recommend.add_argument(
        "--format", choices=["table", "csv", "json"], help="output format (default: from --output, else table)"
    )
    recommend.add_argument("--output", "-o", help="write to this file instead of the screen")
    recommend.set_defaults(run=run_recommend)
    return parser


def main(argv=None) -> int:
    """Run the ``lightfm`` command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except CLIError as error:
        message = str(error)
    except (ValueError, OSError, NotImplementedError, ImportError, TypeError) as error:
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    print(f"lightfm {args.command}: error: {message}", file=sys.stderr)
    return 1
