"""``lightfm train``, ``evaluate`` and ``recommend``: models from and for the user's own files."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from tqdm.auto import tqdm

from .. import LightFM
from .._params import check_sample_weight_loss
from ..cross_validation import random_train_test_split
from ..data import Dataset
from ..evaluation import ndcg_at_k
from ._io import (
    CLIError,
    csv_field,
    feature_tuples,
    format_table,
    held_out_metrics,
    indices_of,
    load_bundle,
    read_ids,
    read_numbers,
    read_table,
    require_module,
)

# -- train ------------------------------------------------------------------------------


def _split(interactions, weights, fraction: float, seed: int):
    """A :func:`random_train_test_split` of the (merged) entries; the weights follow their entries.

    Returns ``(all, all_weights, train, train_weights, test)``, repeated rows merged.
    """
    counts = sp.csr_matrix(interactions, dtype=np.float32)
    counts.sum_duplicates()
    summed = sp.csr_matrix(weights, dtype=np.float32)
    summed.sum_duplicates()
    coo = counts.tocoo()
    weight_values = np.asarray(summed[coo.row, coo.col]).ravel().astype(np.float32)
    # Split the entries' numbers (from 1: a stored 0 could be dropped) so that the weights can follow.
    numbered = sp.coo_matrix((np.arange(1, coo.nnz + 1, dtype=np.float64), (coo.row, coo.col)), shape=coo.shape)
    train, test = random_train_test_split(numbered, test_percentage=fraction, random_state=seed)

    def part(numbers, values):
        index = numbers.data.astype(np.int64) - 1
        return sp.coo_matrix((values[index], (coo.row[index], coo.col[index])), shape=coo.shape)

    ones = np.ones(coo.nnz, dtype=np.float32)
    every = sp.coo_matrix((ones, (coo.row, coo.col)), shape=coo.shape)
    every_weight = sp.coo_matrix((weight_values, (coo.row, coo.col)), shape=coo.shape)
    return every, every_weight, part(train, ones), part(train, weight_values), part(test, ones)


def _check_writable(option: str, path) -> None:
    if path is None:
        return
    folder = Path(path).resolve().parent
    if not folder.is_dir():
        raise CLIError(f"{option} {path}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise CLIError(f"{option} {path}: the folder {folder} is not writable")
    if Path(path).is_dir():
        raise CLIError(f"{option} {path} is a folder: give a file name")


def _new_model(args):
    return LightFM(
        loss=args.loss,
        no_components=args.components,
        learning_rate=args.learning_rate,
        item_alpha=args.item_alpha,
        user_alpha=args.user_alpha,
        max_sampled=args.max_sampled,
        random_state=args.seed,
    )


def run_train(args) -> int:
    if not 0 <= args.test_fraction < 1:
        raise CLIError(f"--test-fraction must be in [0, 1), got {args.test_fraction}")
    try:
        check_sample_weight_loss(args.loss, bool(args.weight_col))
    except NotImplementedError:
        raise CLIError("--weight-col cannot be used with --loss warp-kos (it takes no sample weights)") from None
    if args.epochs < 1 or args.components < 1 or args.threads < 1:
        raise CLIError("--epochs, --components and --threads must be at least 1")
    for option, path in (("--output", args.output), ("--plot", args.plot)):
        _check_writable(option, path)  # before any work, not after training
    id_flags = {args.user_col: "--user-col", args.item_col: "--item-col"}
    columns = [args.user_col, args.item_col] + ([args.weight_col] if args.weight_col else [])
    frame = read_table(
        args.interactions, columns, "interactions", {**id_flags, args.weight_col: "--weight-col"}, sep=args.sep
    )
    users = read_ids(frame, args.user_col, args.interactions)
    items = read_ids(frame, args.item_col, args.interactions)
    weights = read_numbers(frame, args.weight_col, args.interactions) if args.weight_col else None
    if args.min_rating is not None:
        if weights is None:
            raise CLIError("--min-rating needs --weight-col (the column holding the ratings)")
        kept = weights >= args.min_rating
        print(f"--min-rating {args.min_rating:g}: kept {int(kept.sum()):,} of {kept.size:,} rows", flush=True)
        users, items, weights = users[kept], items[kept], weights[kept]
    if weights is not None and weights.size and weights.min() < 0:
        raise CLIError(f"{args.interactions}: column {args.weight_col!r} has negative weights")
    side_tables = {}
    for side, path, id_column in (
        ("user", args.user_features, args.user_col),
        ("item", args.item_features, args.item_col),
    ):
        if path:
            wanted = [id_column, args.feature_col] + ([args.feature_weight_col] if args.feature_weight_col else [])
            flags = {id_column: f"--{side}-col", args.feature_col: "--feature-col"}
            side_tables[side] = (read_table(path, wanted, f"{side} features", flags, sep=args.sep), path, id_column)

    dataset = Dataset()
    side_ids = {side: read_ids(table, column, path) for side, (table, path, column) in side_tables.items()}
    side_features = {side: read_ids(table, args.feature_col, path) for side, (table, path, _) in side_tables.items()}
    nothing = np.array([], dtype=object)
    dataset.fit(
        np.concatenate([users, side_ids.get("user", nothing)]),
        np.concatenate([items, side_ids.get("item", nothing)]),
        user_features=side_features.get("user"),
        item_features=side_features.get("item"),
    )
    pandas = require_module("pandas", "files")
    table = pandas.DataFrame(
        {"user": users, "item": items, "weight": np.ones(users.size) if weights is None else weights}
    )
    interactions, weight_matrix = dataset.build_interactions(table, "user", "item", "weight")
    features = {}
    for side, (table, path, column) in side_tables.items():
        tuples = feature_tuples(table, column, args.feature_col, args.feature_weight_col, path)
        build = dataset.build_user_features if side == "user" else dataset.build_item_features
        features[side] = build(tuples)
    user_features, item_features = features.get("user"), features.get("item")

    merged, merged_weights, train, train_weights, test = _split(
        interactions, weight_matrix, args.test_fraction, args.seed
    )
    if merged.nnz < interactions.nnz:
        how = "their weights summed" if args.weight_col else "counted once"
        print(f"note: {interactions.nnz - merged.nnz:,} repeated (user, item) rows were merged, {how}", flush=True)
    only_in_features = len(dataset.mapping()[2]) - np.unique(items).size
    if only_in_features:
        print(
            f"note: {only_in_features:,} items appear only in the item features file: they join the catalogue "
            "(recommendable, and negatives in the held-out ranking) without any interaction",
            flush=True,
        )
    n_users, n_items = interactions.shape
    print(
        f"{n_users:,} users, {n_items:,} items; {train.nnz:,} train and {test.nnz:,} held-out interactions", flush=True
    )
    eval_every = args.eval_every or (1 if args.plot else 0)
    if (eval_every or args.plot) and test.nnz == 0:
        raise CLIError("--eval-every and --plot need held-out interactions: use --test-fraction > 0")
    model = _new_model(args)
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
            metrics = held_out_metrics(model, test, train, args.k, user_features, item_features, args.threads)
            history.append({"epoch": epoch, **metrics})
            bar.write(f"epoch {epoch:>3}: " + ", ".join(f"{name} {value:.4f}" for name, value in metrics.items()))
    if test.nnz:
        final = history[-1] if history else None
        if final is None:
            metrics = held_out_metrics(model, test, train, args.k, user_features, item_features, args.threads)
            final = {"epoch": args.epochs, **metrics}
        names = [name for name in final if name != "epoch"]
        print(format_table(["held-out", *names], [[f"epoch {final['epoch']}", *(final[name] for name in names)]]))
    if test.nnz and not args.no_refit:
        # What was measured on the held-out part, then a model that learned from everything given.
        print(f"Refitting on all {merged.nnz:,} interactions (--no-refit: keep the model trained without the held-out)")
        model = _new_model(args)
        model.fit(
            merged,
            user_features=user_features,
            item_features=item_features,
            sample_weight=merged_weights if args.weight_col else None,
            epochs=args.epochs,
            num_threads=args.threads,
        )
    # Every input interaction is "seen": recommend --exclude-seen leaves them all out.
    model.save(
        args.output,
        dataset=dataset,
        user_features=user_features,
        item_features=item_features,
        interactions=merged,
    )
    print(f"Saved the model and its id mappings to {args.output}")
    if args.plot:
        _plot(history, args.plot, args.k)
        print(f"Saved the learning curve to {args.plot}")
    return 0


def _plot(history, path, k):
    matplotlib = require_module("matplotlib", "plot")
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
    model, dataset, matrices = load_bundle(args.model)
    frame = read_table(
        args.interactions,
        [args.user_col, args.item_col],
        "interactions",
        {args.user_col: "--user-col", args.item_col: "--item-col"},
        sep=args.sep,
    )
    user_map, _, item_map, _ = dataset.mapping()
    rows = indices_of(read_ids(frame, args.user_col, args.interactions), user_map, "user", args.interactions)
    cols = indices_of(read_ids(frame, args.item_col, args.interactions), item_map, "item", args.interactions)
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
    features = {"user_features": matrices.get("user_features"), "item_features": matrices.get("item_features")}
    metrics = held_out_metrics(
        model, test, train, args.k, features["user_features"], features["item_features"], args.threads
    )
    metrics[f"NDCG@{args.k}"] = float(
        ndcg_at_k(model, test, train, k=args.k, num_threads=args.threads, **features).mean()
    )
    print(f"{test.nnz:,} interactions of {np.count_nonzero(np.diff(test.indptr)):,} users", file=sys.stderr)
    records = [{"metric": name, "value": round(value, 6)} for name, value in metrics.items()]
    _write_records(records, ["metric", "value"], args, "metrics")
    return 0


def _requested_users(args):
    """The users of ``--user`` options, then those of ``--users-file``: both are served."""
    users = [str(user) for user in args.user]
    if args.users_file:
        if Path(args.users_file).suffix.lower() == ".txt":
            if not Path(args.users_file).is_file():
                raise CLIError(f"users file not found: {args.users_file}")
            lines = Path(args.users_file).read_text().splitlines()
            users += [line.strip() for line in lines if line.strip()]
        else:
            frame = read_table(args.users_file, [args.user_col], "users", {args.user_col: "--user-col"})
            users += read_ids(frame, args.user_col, args.users_file).tolist()
    return users


def run_recommend(args) -> int:
    if not args.user and not args.users_file:
        raise CLIError("name the users with --user ID (repeatable) or --users-file FILE")
    if args.n < 1:
        raise CLIError("--n must be at least 1")
    model, dataset, matrices = load_bundle(args.model)
    requested = np.array(_requested_users(args), dtype=object)
    user_map, _, item_map, _ = dataset.mapping()
    users = indices_of(requested, user_map, "user", args.users_file or "--user")
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
    _write_records(records, ["user", "rank", "item", "score"], args, "recommendations")
    return 0


def _write_records(records, columns, args, what):
    """``records`` (dicts with ``columns``) as a table, CSV or JSON, to ``--output`` or the screen."""
    output_format = args.format or (Path(args.output).suffix.lstrip(".").lower() if args.output else "table")
    if output_format not in ("table", "csv", "json"):
        raise CLIError(f"unknown output format {output_format!r}: use --format table, csv or json")
    if output_format == "json":
        text = json.dumps(records, indent=1) + "\n"
    elif output_format == "csv":
        lines = [",".join(columns)] + [",".join(csv_field(r[c]) for c in columns) for r in records]
        text = "\n".join(lines) + "\n"
    else:
        text = format_table(columns, [[r[c] for c in columns] for r in records]) + "\n"
    if args.output:
        Path(args.output).write_text(text)
        print(f"Wrote {len(records):,} {what} to {args.output}")
    else:
        sys.stdout.write(text)


def run_similar(args) -> int:
    """``lightfm similar``: the nearest items (or users) of the given ones, by cosine of representations."""
    if bool(args.item) == bool(args.user):
        raise CLIError("name either items (--item ID, repeatable) or users (--user ID, repeatable)")
    if args.n < 1:
        raise CLIError("--n must be at least 1")
    model, dataset, matrices = load_bundle(args.model)
    user_map, _, item_map, _ = dataset.mapping()
    side, mapping, requested = ("item", item_map, args.item) if args.item else ("user", user_map, args.user)
    requested = np.array([str(value) for value in requested], dtype=object)
    indices = indices_of(requested, mapping, side, f"--{side}")
    similar = model.similar_items if side == "item" else model.similar_users
    found, scores = similar(
        indices, n=args.n, **{f"{side}_features": matrices.get(f"{side}_features")}, num_threads=args.threads
    )
    ids = np.empty(len(mapping), dtype=object)
    ids[list(mapping.values())] = list(mapping.keys())
    records = [
        {side: query, "rank": rank + 1, "similar": ids[other], "similarity": round(float(score), 6)}
        for query, row, row_scores in zip(requested.tolist(), found, scores, strict=True)
        for rank, (other, score) in enumerate(zip(row, row_scores, strict=True))
        if other >= 0
    ]
    _write_records(records, [side, "rank", "similar", "similarity"], args, f"similar {side}s")
    return 0
