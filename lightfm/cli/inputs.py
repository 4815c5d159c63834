"""The load step of ``train``: its options settled and checked, its files read into a dataset and matrices.

The options, their checks, the columns read and the feature files are shared by the two ways
``train`` runs: in this process (:func:`load_training_data`), and on a Dask cluster (``cluster.py``,
which reads the interactions on the workers). An option of ``train`` is therefore checked and read
in one place for both.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from .._params import check_sample_weight_loss
from ._io import (
    COLUMN_DEFAULTS,
    CLIError,
    align_ids,
    feature_tuples,
    load_bundle,
    rating_mask,
    read_feature_rows,
    read_ids,
    read_numbers,
    read_table,
    remembered,
    require_module,
    resolve_rating_filter,
)

# The model options of ``train``: ``option: (flag, LightFM parameter, default)``. Their defaults are
# filled in here rather than by the parser, so that ``--resume`` can tell an option the user gave
# (which must agree with the saved model) from one left alone.
MODEL_OPTIONS = {
    "loss": ("--loss", "loss", "warp"),
    "components": ("--components", "no_components", 32),
    "learning_rate": ("--learning-rate", "learning_rate", 0.05),
    "item_alpha": ("--item-alpha", "item_alpha", 0.0),
    "user_alpha": ("--user-alpha", "user_alpha", 0.0),
    "max_sampled": ("--max-sampled", "max_sampled", 10),
}


def model_parameters(args) -> dict:
    """The ``LightFM`` (or ``DaskLightFM``) parameters of ``train``'s options, the seed included."""
    return {name: getattr(args, option) for option, (_, name, _) in MODEL_OPTIONS.items()} | {"random_state": args.seed}


def fill_model_options(args, resumed) -> None:
    """Defaults for the model options; with ``--resume``, the saved model's values (a different one is refused).

    Parameters
    ----------
    args : argparse.Namespace
        The options of ``train``; the model options left out (None) are filled in.
    resumed : LightFM or None
        The model of ``--resume``.
    """
    for option, (flag, name, default) in MODEL_OPTIONS.items():
        given = getattr(args, option)
        if resumed is None:
            setattr(args, option, default if given is None else given)
            continue
        saved = getattr(resumed, name)
        if given is not None and given != saved:
            raise CLIError(f"{flag} {given} differs from the resumed model's {saved!r}: leave it out with --resume")
        setattr(args, option, saved)


def fill_train_columns(args, settings: dict):
    """The column options of ``train``: given, else the resumed model's, else the defaults; the rating filter.

    Parameters
    ----------
    args : argparse.Namespace
        The options of ``train``; the column options left out are filled in.
    settings : dict
        The settings the resumed model file keeps (``{}`` without ``--resume``).

    Returns
    -------
    (bool, list of str)
        Whether the rating filter is the resumed model's, and notes to print once the options are accepted.
    """
    filled = remembered(args, settings, ("user_col", "item_col", "sep"), COLUMN_DEFAULTS)
    notes = []
    changed = [name for name in filled if getattr(args, name) != COLUMN_DEFAULTS.get(name)]
    if changed:
        given = ", ".join(f"--{name.replace('_', '-')} {getattr(args, name)!r}" for name in changed)
        notes.append(f"note: {given} as the resumed model was trained")
    inherited = resolve_rating_filter(args, settings)
    weight_col = settings.get("weight_col")
    if args.resume and weight_col and not args.weight_col:
        notes.append(f"note: the resumed model was trained with --weight-col {weight_col}; this run is unweighted "
                     f"(--weight-col {weight_col} weights it too)")  # fmt: skip
    return inherited, notes


def check_writable(option: str, path) -> None:
    """CLIError unless ``path`` (None: nothing to check) can be written: an existing, writable folder, not a folder."""
    if path is None:
        return
    folder = Path(path).resolve().parent
    if not folder.is_dir():
        raise CLIError(f"{option} {path}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise CLIError(f"{option} {path}: the folder {folder} is not writable")
    if Path(path).is_dir():
        raise CLIError(f"{option} {path} is a folder: give a file name")


def check_input_options(args) -> None:
    """The checks of ``train``'s input options that need nothing read: before a model file or a cluster is touched."""
    if not 0 <= args.test_fraction < 1:
        raise CLIError(f"--test-fraction must be in [0, 1), got {args.test_fraction}")
    if args.feature_sep is not None and not args.feature_sep:
        raise CLIError("--feature-sep needs a separator, e.g. --feature-sep '|'")
    if args.feature_sep and not (args.user_features or args.item_features):
        raise CLIError("--feature-sep splits the cells of feature files: add --item-features or --user-features")


def check_model_options(args) -> None:
    """The checks of ``train``'s model and training options, once :func:`fill_model_options` has filled them."""
    try:
        check_sample_weight_loss(args.loss, bool(args.weight_col))
    except NotImplementedError:
        raise CLIError("--weight-col cannot be used with --loss warp-kos (it takes no sample weights)") from None
    if args.epochs < 1 or args.components < 1 or args.threads < 1:
        raise CLIError("--epochs, --components and --threads must be at least 1")
    if args.early_stopping is not None and args.early_stopping < 1:
        raise CLIError("--early-stopping must be at least 1 (evaluations without improvement)")


def interaction_columns(args, inherited: bool = False):
    """The columns ``train`` reads of the interactions, and the option naming each (for error messages).

    Parameters
    ----------
    args : argparse.Namespace
        The options of ``train``, the column options filled in.
    inherited : bool
        Whether the rating filter is the resumed model's (its column is then not required).

    Returns
    -------
    (list of str, dict)
        The columns, each once; ``{column: flag}``.
    """
    flags = {args.user_col: "--user-col", args.item_col: "--item-col", args.weight_col: "--weight-col"}
    columns = [args.user_col, args.item_col] + [column for column in (args.weight_col,) if column]
    if args.rating_col and not inherited:
        columns.append(args.rating_col)
        flags.setdefault(args.rating_col, "--rating-col")
    return list(dict.fromkeys(columns)), flags


def read_side_tables(args) -> dict:
    """The rows of ``--user-features`` / ``--item-features``.

    Parameters
    ----------
    args : argparse.Namespace
        The options of ``train``, the column options filled in.

    Returns
    -------
    dict
        ``{side: (ids, features, weights, path)}`` for the sides ("user", "item") given a file; a cell
        holding several features is split at ``--feature-sep``.
    """
    side_tables = {}
    for side, path, id_column in (
        ("user", args.user_features, args.user_col),
        ("item", args.item_features, args.item_col),
    ):
        if path:
            wanted = [id_column, args.feature_col] + ([args.feature_weight_col] if args.feature_weight_col else [])
            flags = {
                id_column: f"--{side}-col", args.feature_col: "--feature-col",
                args.feature_weight_col: "--feature-weight-col",
            }  # fmt: skip
            table = read_table(path, wanted, f"{side} features", flags, sep=args.sep)
            rows = read_feature_rows(
                table, id_column, args.feature_col, args.feature_weight_col, path, args.feature_sep
            )
            side_tables[side] = (*rows, path)
    return side_tables


def build_feature_matrices(dataset, side_tables: dict) -> dict:
    """``{"user_features": matrix or None, "item_features": matrix or None}`` of :func:`read_side_tables`'s rows."""
    features = {"user_features": None, "item_features": None}
    for side, (ids, names, values, _) in side_tables.items():
        build = dataset.build_user_features if side == "user" else dataset.build_item_features
        features[f"{side}_features"] = build(feature_tuples(ids, names, values))
    return features


def resume(args):
    """``(model, dataset, matrices)`` of ``--resume``, or ``(None, None, {})``."""
    if not args.resume:
        return None, None, {}
    for option in ("user_features", "item_features"):
        if getattr(args, option):
            flag = "--" + option.replace("_", "-")
            raise CLIError(
                f"{flag} cannot be used with --resume: the resumed model keeps the features it was saved with"
            )
    return load_bundle(args.resume)


def check_outputs(args) -> None:
    """``--output`` and ``--plot`` writable, and matplotlib there for ``--plot``: checked before any work is done,
    not after a training that could then not be saved or drawn."""
    for option, path in (("--output", args.output), ("--plot", args.plot)):
        check_writable(option, path)
    if args.plot:
        require_module("matplotlib", "plot")


@dataclass
class TrainingData:
    """What ``train`` fits on, in this process: the id mappings, the matrices and their held-out split.

    Attributes
    ----------
    dataset : lightfm.data.Dataset
        The id mappings (and feature names).
    features : dict
        ``{"user_features": matrix or None, "item_features": matrix or None}``.
    merged, merged_weights : scipy.sparse.coo_matrix
        Every interaction, repeated rows merged (the refit's input), and their weights.
    train, train_weights, test : scipy.sparse.coo_matrix
        The part trained on and its weights, and the held-out part (empty with ``--test-fraction 0``).
    seen : scipy.sparse matrix
        What ``recommend --exclude-seen`` leaves out: every interaction, the resumed model's included.
    """

    dataset: object
    features: dict
    merged: sp.coo_matrix
    merged_weights: sp.coo_matrix
    train: sp.coo_matrix
    train_weights: sp.coo_matrix
    test: sp.coo_matrix
    seen: object


def read_interactions(args, inherited: bool):
    """The interactions file's ``(users, items, weights or None)``, rows the rating filter drops left out."""
    columns, flags = interaction_columns(args, inherited)
    frame = read_table(args.interactions, columns, "interactions", flags, sep=args.sep, keep_all=True)
    kept = rating_mask(frame, args, args.interactions, inherited)
    if kept is not None:
        if not kept.any():
            ratings = read_numbers(frame, args.rating_col, args.interactions)
            raise CLIError(
                f"--min-rating {args.min_rating:g} keeps none of the {kept.size:,} rows ({args.rating_col} runs from "
                f"{ratings.min():g} to {ratings.max():g}): choose a lower --min-rating"
            )
        frame = frame[kept]
    if len(frame) == 0:
        raise CLIError(f"{args.interactions} has no rows to train on")
    users = read_ids(frame, args.user_col, args.interactions)
    items = read_ids(frame, args.item_col, args.interactions)
    weights = read_numbers(frame, args.weight_col, args.interactions) if args.weight_col else None
    if weights is not None and weights.size and weights.min() < 0:
        raise CLIError(f"{args.interactions}: column {args.weight_col!r} has negative weights")
    return users, items, weights


def _grow_for_new_ids(model, dataset, matrices, users, items) -> None:
    """Add ids the resumed model has not seen: new rows of an ids-only model; refused where it has features."""
    before = dataset.interactions_shape()
    dataset.fit_partial(users=users, items=items)
    after = dataset.interactions_shape()
    for side, old, new in (("user", before[0], after[0]), ("item", before[1], after[1])):
        if new > old and matrices.get(f"{side}_features") is not None:
            raise CLIError(
                f"{new - old:,} {side}s are new to the resumed model, which has {side} features: train a new model"
            )
    if after != before:
        print(f"note: {after[0] - before[0]:,} new users and {after[1] - before[1]:,} new items join the model")
        model.resize(n_user_features=after[0], n_item_features=after[1])


def split_entries(interactions, weights, fraction: float, seed: int):
    """A :func:`~lightfm.cross_validation.random_train_test_split` of the merged entries; the weights follow them.

    Returns
    -------
    tuple of scipy.sparse.coo_matrix
        ``(all, all_weights, train, train_weights, test)``, repeated rows merged.
    """
    from ..cross_validation import random_train_test_split

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


def load_training_data(args, resumed, inherited: bool) -> TrainingData:
    """Read ``train``'s files into a :class:`TrainingData`, printing what was merged, added and split.

    Parameters
    ----------
    args : argparse.Namespace
        The options of ``train``, settled and checked.
    resumed : tuple
        :func:`resume`'s ``(model, dataset, matrices)``: the ids and features are the resumed model's.
    inherited : bool
        Whether the rating filter is the resumed model's.
    """
    from ..data import Dataset

    resumed_model, resumed_dataset, resumed_matrices = resumed
    users, items, weights = read_interactions(args, inherited)
    side_tables = read_side_tables(args)
    if resumed_model is None:
        dataset = Dataset()
        nothing = (np.array([], dtype=object), None)
        user_side, item_side = side_tables.get("user", nothing), side_tables.get("item", nothing)
        dataset.fit(
            np.concatenate([users, user_side[0]]),
            np.concatenate([items, item_side[0]]),
            user_features=user_side[1],
            item_features=item_side[1],
        )
    else:
        dataset = resumed_dataset
        user_map, _, item_map, _ = dataset.mapping()
        users = align_ids(users, user_map, args.interactions)  # an older model's "1.0" for "1"
        items = align_ids(items, item_map, args.interactions)
        _grow_for_new_ids(resumed_model, dataset, resumed_matrices, users, items)
    pandas = require_module("pandas", "files")
    table = pandas.DataFrame(
        {"user": users, "item": items, "weight": np.ones(users.size) if weights is None else weights}
    )
    interactions, weight_matrix = dataset.build_interactions(table, "user", "item", "weight")
    if resumed_model is None:
        features = build_feature_matrices(dataset, side_tables)
    else:
        features = {side: resumed_matrices.get(side) for side in ("user_features", "item_features")}

    merged, merged_weights, train, train_weights, test = split_entries(
        interactions, weight_matrix, args.test_fraction, args.seed
    )
    if merged.nnz < interactions.nnz:
        how = "their weights summed" if args.weight_col else "counted once"
        print(f"note: {interactions.nnz - merged.nnz:,} repeated (user, item) rows were merged, {how}", flush=True)
    only_in_features = len(dataset.mapping()[2]) - np.unique(items).size
    if only_in_features and resumed_model is None:
        print(
            f"note: {only_in_features:,} items appear only in the item features file: they join the catalogue "
            "(recommendable, and negatives in the held-out ranking) without any interaction",
            flush=True,
        )
    n_users, n_items = interactions.shape
    print(
        f"{n_users:,} users, {n_items:,} items; {train.nnz:,} train and {test.nnz:,} held-out interactions", flush=True
    )
    # Every input interaction is "seen" (and, resuming, everything the model saw before): recommend
    # --exclude-seen leaves them all out.
    seen = merged
    if resumed_model is not None and resumed_matrices.get("interactions") is not None:
        before = resumed_matrices["interactions"]
        before = sp.csr_matrix((before.data, before.indices, before.indptr), shape=(before.shape[0], n_items))
        before.resize(merged.shape)
        seen = ((before != 0) + (merged != 0)).astype(np.float32).tocoo()
    return TrainingData(dataset, features, merged, merged_weights, train, train_weights, test, seen)
