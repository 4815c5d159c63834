"""``lightfm train`` and ``lightfm recommend`` on a Dask cluster (``--workers N`` or ``--scheduler ADDRESS``).

The interactions stay on the workers: they are read there (a Parquet file,
folder or glob, or CSV files), their ids mapped there (:func:`lightfm.dask.build_dataset`,
:func:`lightfm.dask.map_ids`) and trained on there (:class:`lightfm.dask.DaskLightFM`).
The model file is the single-machine one (ids and features included), so
``evaluate``, ``recommend`` and ``similar`` read it anywhere. What needs the whole
interaction set in one process is refused here with the option to drop.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from ._io import SEPARATORS, WHOLE_DECIMAL_PATTERN, CLIError, data_suffix, require_columns, require_module
from .inputs import (
    build_feature_matrices,
    check_model_options,
    check_writable,
    fill_model_options,
    fill_train_columns,
    interaction_columns,
    model_parameters,
    read_side_tables,
)
from .report import print_held_out, save_model

# Options of `train` that need every interaction in one process (or a fit_partial the cluster engine has not).
_SINGLE_MACHINE_ONLY = {
    "early_stopping": "--early-stopping",
    "resume": "--resume",
    "plot": "--plot",
    "eval_every": "--eval-every",
}


def _connect(args):
    require_module("distributed", "dask")
    import logging

    from ..dask import connect

    # A command's output is its tables: Dask's own chatter is not for the user.
    logging.getLogger("distributed").setLevel(logging.ERROR)

    try:
        return connect(scheduler=args.scheduler, workers=args.workers, threads_per_worker=args.threads)
    except (OSError, TimeoutError) as error:
        raise CLIError(f"cannot reach the Dask scheduler {args.scheduler}: {error}") from None


def read_frame(path: str, columns: list, flags: dict, sep=None):
    """A Dask DataFrame of ``columns`` from a Parquet file/folder/glob or CSV/TSV files, ids as text."""
    require_module("dask", "dask")
    import dask.dataframe as dd

    pattern = str(path)
    parquet = Path(pattern).is_dir() or data_suffix(pattern) in (".parquet", ".pq")
    try:
        if parquet:
            frame = dd.read_parquet(pattern)
        else:
            if sep is None:
                sep = SEPARATORS.get(data_suffix(pattern), ",")  # Dask reads in blocks: nothing to sniff
            frame = dd.read_csv(pattern, sep=sep, dtype=str, blocksize=None if pattern.endswith(".gz") else "64MB")
    except (OSError, ValueError) as error:
        raise CLIError(f"cannot read interactions {path}: {str(error).splitlines()[0]}") from None
    require_columns(frame, columns, path, flags)
    return frame


def run_train_cluster(args) -> int:
    """``lightfm train --workers N`` / ``--scheduler ADDRESS``: see the module docstring.

    The options are settled and checked, and the feature files read, by the same steps as on one
    machine (``inputs.py``), and the model is reported and saved by the same ones (``report.py``):
    only the reading of the interactions and the fit are the cluster's.
    """
    for option, flag in _SINGLE_MACHINE_ONLY.items():
        if getattr(args, option):
            raise CLIError(
                f"{flag} is not available with --workers/--scheduler (the cluster engine has no per-epoch fit)"
            )
    fill_train_columns(args, {})  # nothing resumed: no notes
    fill_model_options(args, None)
    check_model_options(args)
    check_writable("--output", args.output)
    from ..dask import DaskLightFM, auc_score, build_dataset, map_ids, precision_at_k, recall_at_k

    columns, flags = interaction_columns(args)
    raw = read_frame(args.interactions, columns, flags, sep=args.sep)
    if args.rating_col:
        # The filter first, on its own column: it never weights (that is --weight-col's, even on the same column).
        raw = raw[raw[args.rating_col].astype("float64") >= args.min_rating]
    parts = {"user": raw[args.user_col], "item": raw[args.item_col]}
    if args.weight_col:
        parts["weight"] = raw[args.weight_col].astype("float64")
    raw = raw.assign(**{f"__{name}": column for name, column in parts.items()})[[f"__{name}" for name in parts]]
    raw = raw.rename(columns={f"__{name}": name for name in parts})
    # Ids as text, a whole number written with decimals ("1.0", from a float column) as the integer ("1").
    raw = raw.assign(
        **{
            name: raw[name].astype(str).str.strip().str.replace(WHOLE_DECIMAL_PATTERN, r"\1", regex=True)
            for name in ("user", "item")
        }
    )
    # The feature files are small, read here as on one machine: before a cluster is started for them.
    side_tables = read_side_tables(args)

    with _connect(args) as client:
        dataset = build_dataset(raw)
        for side, (ids, names, _, _) in side_tables.items():
            dataset.fit_partial(**{f"{side}s": ids, f"{side}_features": names})
        features = build_feature_matrices(dataset, side_tables)
        matrices = {name: matrix for name, matrix in features.items() if matrix is not None}
        n_users, n_items = dataset.interactions_shape()
        frame = map_ids(raw, dataset)
        print(f"{n_users:,} users, {n_items:,} items; training on {len(client.scheduler_info()['workers'])} Dask "
              "worker(s) (repeated rows are separate entries here, not merged)", flush=True)  # fmt: skip
        parameters = model_parameters(args)
        shape = dict(n_users=n_users, n_items=n_items, **matrices)
        if args.test_fraction > 0:
            train, test = frame.random_split([1 - args.test_fraction, args.test_fraction], random_state=args.seed)
            model = DaskLightFM(**parameters, client=client).fit(train, epochs=args.epochs, **shape)
            # A repeated (user, item) row may land on both sides of the random split: ranked, not refused.
            arguments = dict(client=client, check_intersections=False, **matrices)
            metrics = {
                f"precision@{args.k}": float(np.mean(precision_at_k(model, test, train, k=args.k, **arguments))),
                f"recall@{args.k}": float(np.mean(recall_at_k(model, test, train, k=args.k, **arguments))),
                "AUC": float(np.mean(auc_score(model, test, train, **arguments))),
            }
            print_held_out(metrics, args.epochs)
            if args.no_refit:
                save_model(model, args, dataset, features)
                print(f"Saved the model and its id mappings to {args.output}")
                return 0
            print(f"Refitting on all interactions for {args.epochs} epochs", flush=True)
        model = DaskLightFM(**parameters, client=client).fit(frame, epochs=args.epochs, **shape)
        save_model(model, args, dataset, features)
    print(f"Saved the model and its id mappings to {args.output} (without the interactions: recommend --seen "
          "leaves a user's items out)")  # fmt: skip
    return 0


def run_recommend_cluster(args, requested, load_bundle) -> int:
    """``lightfm recommend --workers N`` / ``--scheduler ADDRESS``: users scored on the workers, to Parquet or CSV."""
    if not args.output:
        raise CLIError("--workers/--scheduler write to files: give --output FOLDER (Parquet) or FILE.csv")
    from ..dask import map_ids, recommend
    from ..data import IdIndex

    model, dataset, matrices = load_bundle(args.model)
    user_map, _, item_map, _ = dataset.mapping()
    users = np.asarray(IdIndex(user_map).positions(requested), dtype=np.int64)
    unknown = users < 0
    if unknown.any():
        message = f"{len(set(requested[unknown].tolist()))} requested user id(s) are not in the model"
        if args.unknown_users == "error":
            raise CLIError(message)
        print(f"warning: {message}; they are skipped", file=sys.stderr)
        users = users[~unknown]
    with _connect(args) as client:
        exclude = None
        if args.seen:
            seen = read_frame(args.seen, [args.user_col, args.item_col], {}, sep=None)[[args.user_col, args.item_col]]
            seen = seen.assign(
                **{
                    column: seen[column].astype(str).str.strip().str.replace(WHOLE_DECIMAL_PATTERN, r"\1", regex=True)
                    for column in seen.columns
                }
            )
            exclude = map_ids(seen, dataset, user_col=args.user_col, item_col=args.item_col)
        recs = recommend(
            model, users, n=args.n, exclude=exclude, client=client,
            user_features=matrices.get("user_features"), item_features=matrices.get("item_features"),
        )  # fmt: skip
        user_ids = np.array(list(user_map), dtype=object)
        item_ids = np.array(list(item_map), dtype=object)

        def to_ids(part):
            users_of, items_of = user_ids[part["user"].to_numpy()], item_ids[part["item"].to_numpy()]
            return part.assign(user=users_of.astype(str), item=items_of.astype(str), rank=part["rank"] + 1)

        meta = recs._meta.assign(user=recs._meta["user"].astype(str), item=recs._meta["item"].astype(str))
        named = recs.map_partitions(to_ids, meta=meta)
        if str(args.output).lower().endswith(".csv"):
            named.compute().sort_values(["user", "rank"]).to_csv(args.output, index=False)
        else:
            named.to_parquet(args.output, write_index=False)
    print(f"Wrote recommendations for {users.size:,} users to {args.output}")
    return 0
