"""``lightfm train``, ``evaluate``, ``recommend`` and ``similar``: models from and for the user's own files."""

from __future__ import annotations

import copy
import json
import os
import re
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
    align_ids,
    canonical_ids,
    caused_by_ctrl_c,
    csv_field,
    feature_tuples,
    format_table,
    held_out_metrics,
    indices_of,
    known_indices,
    load_bundle,
    model_settings,
    name_of,
    positions_in,
    rating_mask,
    read_feature_rows,
    read_ids,
    read_names,
    read_numbers,
    read_table,
    remembered,
    require_module,
    resolve_rating_filter,
    save_with_settings,
)
from .index import load_index

# -- train ------------------------------------------------------------------------------

# The column options' defaults: a model file's remembered names come before them.
_COLUMN_DEFAULTS = {"user_col": "user", "item_col": "item"}


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


# The model options of ``train``: their defaults are filled in here, so that ``--resume`` can tell
# an option the user gave (which must agree with the saved model) from one left alone.
_MODEL_OPTIONS = {
    "loss": ("--loss", "loss", "warp"),
    "components": ("--components", "no_components", 32),
    "learning_rate": ("--learning-rate", "learning_rate", 0.05),
    "item_alpha": ("--item-alpha", "item_alpha", 0.0),
    "user_alpha": ("--user-alpha", "user_alpha", 0.0),
    "max_sampled": ("--max-sampled", "max_sampled", 10),
}
MONITORED_METRICS = {"precision": "precision@{k}", "recall": "recall@{k}", "auc": "AUC"}


def _new_model(args):
    settings = {name: getattr(args, option) for option, (_, name, _) in _MODEL_OPTIONS.items()}
    return LightFM(**settings, random_state=args.seed)


def _fill_model_options(args, resumed) -> None:
    """Defaults for the model options; with ``--resume``, the saved model's values (a different one is refused)."""
    for option, (flag, name, default) in _MODEL_OPTIONS.items():
        given = getattr(args, option)
        if resumed is None:
            setattr(args, option, default if given is None else given)
            continue
        saved = getattr(resumed, name)
        if given is not None and given != saved:
            raise CLIError(f"{flag} {given} differs from the resumed model's {saved!r}: leave it out with --resume")
        setattr(args, option, saved)


class _Interrupted(Exception):
    """Ctrl-C during training, carrying the last model that finished an epoch (or None)."""

    def __init__(self, model, epoch, phase):
        super().__init__("interrupted")
        self.model, self.epoch, self.phase = model, epoch, phase


def _epochs(args, phase):
    """The epoch numbers, with a progress bar on a terminal and a line per fifth of the run in a log."""
    interactive = sys.stderr.isatty() and not args.quiet
    bar = tqdm(range(1, args.epochs + 1), desc=phase, unit="epoch", disable=not interactive, file=sys.stderr)
    step = max(1, -(-args.epochs // 5))  # about five lines per phase
    for epoch in bar:
        yield epoch, bar
        if not interactive and not args.quiet and (epoch % step == 0 or epoch == args.epochs):
            print(f"{phase}: epoch {epoch}/{args.epochs}", file=sys.stderr, flush=True)


def _train(model, train, weights, features, args, test=None, eval_every=0, phase="Training"):
    """Epochs of ``fit_partial``, evaluated every ``eval_every``; early stopping keeps the best epoch.

    Returns ``(model, history, best_epoch)``; Ctrl-C raises :class:`_Interrupted` with the last
    model that completed an epoch (a copy taken after each one, so never a half-trained epoch).
    """
    history, best, best_epoch, best_model, waited = [], None, None, None, 0
    monitored = MONITORED_METRICS[args.monitor].format(k=args.k)
    last, completed = None, 0
    # A copy per epoch doubles the model's memory: taken only where it could be kept.
    keepable = args.on_interrupt == "save" or (args.on_interrupt == "ask" and sys.stdin.isatty())
    try:
        for epoch, bar in _epochs(args, phase):
            model.fit_partial(train, **features, sample_weight=weights, num_threads=args.threads)
            completed = epoch
            if keepable:
                last = copy.deepcopy(model)
            if test is None or not ((eval_every and epoch % eval_every == 0) or epoch == args.epochs):
                continue
            metrics = held_out_metrics(
                model, test, train, args.k, features["user_features"], features["item_features"], args.threads
            )
            entry = {"epoch": epoch, **metrics}
            if args.plot:
                on_train = held_out_metrics(
                    model, train, None, args.k, features["user_features"], features["item_features"], args.threads
                )
                entry.update({f"train {name}": value for name, value in on_train.items()})
            history.append(entry)
            bar.write(f"epoch {epoch:>3}: " + ", ".join(f"{name} {value:.4f}" for name, value in metrics.items()))
            if args.early_stopping:
                if best is None or metrics[monitored] > best:
                    best, best_epoch, best_model, waited = metrics[monitored], epoch, copy.deepcopy(model), 0
                else:
                    waited += 1
                    if waited >= args.early_stopping:
                        bar.write(
                            f"early stopping: {monitored} has not improved for {waited} evaluations; "
                            f"keeping epoch {best_epoch} ({monitored} {best:.4f})"
                        )
                        break
    except KeyboardInterrupt:
        raise _Interrupted(last, completed, phase) from None
    except Exception as error:
        # Ctrl-C landing inside a compiled (Numba) call surfaces as a SystemError (see caused_by_ctrl_c).
        if not caused_by_ctrl_c(error):
            raise
        raise _Interrupted(last, completed, phase) from None
    if best_model is not None:
        return best_model, history, best_epoch
    return model, history, None


def _offer_to_keep(interrupted, args, save) -> None:
    """After Ctrl-C: save the model trained so far if ``--on-interrupt save``, or if asked and the user agrees."""
    if interrupted.epoch < 1 or args.on_interrupt == "discard":
        return
    what = f"the model of {interrupted.phase.lower()} after epoch {interrupted.epoch}"
    if interrupted.model is None:  # "ask" with no terminal to ask on: nothing was copied to keep
        print(f"Not saved ({what}): no terminal to ask on; --on-interrupt save keeps it", file=sys.stderr)
        return
    keep = args.on_interrupt == "save"
    if args.on_interrupt == "ask" and sys.stdin.isatty():
        try:
            answer = input(f"\nInterrupted. Save {what} to {args.output}? [y/N] ")
        except (EOFError, KeyboardInterrupt):
            answer = ""
        keep = answer.strip().lower() in ("y", "yes")
    if keep:
        save(interrupted.model)
        print(f"Saved {what} to {args.output}", file=sys.stderr)


def _resume(args):
    """``(model, dataset, matrices)`` of ``--resume``, or Nones."""
    if not args.resume:
        return None, None, {}
    for option in ("user_features", "item_features"):
        if getattr(args, option):
            flag = "--" + option.replace("_", "-")
            raise CLIError(
                f"{flag} cannot be used with --resume: the resumed model keeps the features it was saved with"
            )
    return load_bundle(args.resume)


def _grow_for_new_ids(model, dataset, matrices, users, items):
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


def _fill_train_columns(args, settings: dict):
    """The column options of ``train``: given, else the resumed model's, else the defaults; the rating filter.

    Returns whether the filter is the resumed model's, and notes to print once the options are accepted.
    """
    filled = remembered(args, settings, ("user_col", "item_col", "sep"), _COLUMN_DEFAULTS)
    notes = []
    changed = [name for name in filled if getattr(args, name) != _COLUMN_DEFAULTS.get(name)]
    if changed:
        given = ", ".join(f"--{name.replace('_', '-')} {getattr(args, name)!r}" for name in changed)
        notes.append(f"note: {given} as the resumed model was trained")
    inherited = resolve_rating_filter(args, settings)
    weight_col = settings.get("weight_col")
    if args.resume and weight_col and not args.weight_col:
        notes.append(f"note: the resumed model was trained with --weight-col {weight_col}; this run is unweighted "
                     f"(--weight-col {weight_col} weights it too)")  # fmt: skip
    return inherited, notes


def train_settings(args) -> dict:
    """What the model file keeps of a ``train`` run, for the commands that read it later."""
    features = bool(args.user_features or args.item_features)
    return {
        "user_col": args.user_col,
        "item_col": args.item_col,
        "sep": args.sep,
        "weight_col": args.weight_col,
        "rating_col": args.rating_col,
        "min_rating": args.min_rating,
        "feature_col": args.feature_col if features else None,
        "feature_sep": args.feature_sep if features else None,
        "feature_weight_col": args.feature_weight_col if features else None,
    }


def _read_side_tables(args):
    """``{side: (ids, features, weights, path)}`` of ``--user-features`` / ``--item-features``."""
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


def run_train(args) -> int:
    if not 0 <= args.test_fraction < 1:
        raise CLIError(f"--test-fraction must be in [0, 1), got {args.test_fraction}")
    if args.feature_sep is not None and not args.feature_sep:
        raise CLIError("--feature-sep needs a separator, e.g. --feature-sep '|'")
    if args.feature_sep and not (args.user_features or args.item_features):
        raise CLIError("--feature-sep splits the cells of feature files: add --item-features or --user-features")
    if args.workers is not None or args.scheduler:
        from .cluster import run_train_cluster

        if args.resume:
            raise CLIError("--resume is not available with --workers/--scheduler")
        _fill_train_columns(args, {})  # nothing resumed: no notes
        _fill_model_options(args, None)
        _check_writable("--output", args.output)
        return run_train_cluster(args)
    resumed, resumed_dataset, resumed_matrices = _resume(args)
    inherited, notes = _fill_train_columns(args, model_settings(args.resume) if args.resume else {})
    _fill_model_options(args, resumed)
    try:
        check_sample_weight_loss(args.loss, bool(args.weight_col))
    except NotImplementedError:
        raise CLIError("--weight-col cannot be used with --loss warp-kos (it takes no sample weights)") from None
    if args.epochs < 1 or args.components < 1 or args.threads < 1:
        raise CLIError("--epochs, --components and --threads must be at least 1")
    if args.early_stopping is not None and args.early_stopping < 1:
        raise CLIError("--early-stopping must be at least 1 (evaluations without improvement)")
    for option, path in (("--output", args.output), ("--plot", args.plot)):
        _check_writable(option, path)  # before any work, not after training
    if args.plot:
        require_module("matplotlib", "plot")  # likewise: not a finished training that cannot draw its curve
    for note in notes:
        print(note, file=sys.stderr)
    flags = {args.user_col: "--user-col", args.item_col: "--item-col", args.weight_col: "--weight-col"}
    columns = list(dict.fromkeys([args.user_col, args.item_col] + [c for c in (args.weight_col,) if c]))
    if args.rating_col and not inherited:
        columns.append(args.rating_col)
        flags.setdefault(args.rating_col, "--rating-col")
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
    del frame
    if weights is not None and weights.size and weights.min() < 0:
        raise CLIError(f"{args.interactions}: column {args.weight_col!r} has negative weights")
    side_tables = _read_side_tables(args)
    if resumed is None:
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
        _grow_for_new_ids(resumed, dataset, resumed_matrices, users, items)
    pandas = require_module("pandas", "files")
    table = pandas.DataFrame(
        {"user": users, "item": items, "weight": np.ones(users.size) if weights is None else weights}
    )
    interactions, weight_matrix = dataset.build_interactions(table, "user", "item", "weight")
    features = {}
    for side, (ids, names, values, _) in side_tables.items():
        build = dataset.build_user_features if side == "user" else dataset.build_item_features
        features[side] = build(feature_tuples(ids, names, values))
    if resumed is not None:
        features = {side: resumed_matrices.get(f"{side}_features") for side in ("user", "item")}
    features = {"user_features": features.get("user"), "item_features": features.get("item")}

    merged, merged_weights, train, train_weights, test = _split(
        interactions, weight_matrix, args.test_fraction, args.seed
    )
    if merged.nnz < interactions.nnz:
        how = "their weights summed" if args.weight_col else "counted once"
        print(f"note: {interactions.nnz - merged.nnz:,} repeated (user, item) rows were merged, {how}", flush=True)
    only_in_features = len(dataset.mapping()[2]) - np.unique(items).size
    if only_in_features and resumed is None:
        print(
            f"note: {only_in_features:,} items appear only in the item features file: they join the catalogue "
            "(recommendable, and negatives in the held-out ranking) without any interaction",
            flush=True,
        )
    n_users, n_items = interactions.shape
    print(
        f"{n_users:,} users, {n_items:,} items; {train.nnz:,} train and {test.nnz:,} held-out interactions", flush=True
    )
    eval_every = args.eval_every
    if (args.plot or args.early_stopping) and not eval_every:
        eval_every = max(1, round(args.epochs / 20)) if args.plot else 1
        print(f"note: evaluating every {eval_every} epoch(s) for {'--plot' if args.plot else '--early-stopping'} "
              "(choose with --eval-every)", flush=True)  # fmt: skip
    if eval_every and test.nnz == 0:
        raise CLIError("--eval-every, --early-stopping and --plot need held-out interactions: use --test-fraction > 0")
    # Every input interaction is "seen" (and, resuming, everything the model saw before): recommend
    # --exclude-seen leaves them all out.
    seen = merged
    if resumed is not None and resumed_matrices.get("interactions") is not None:
        before = resumed_matrices["interactions"]
        before = sp.csr_matrix((before.data, before.indices, before.indptr), shape=(before.shape[0], n_items))
        before.resize(merged.shape)
        seen = ((before != 0) + (merged != 0)).astype(np.float32).tocoo()

    settings = train_settings(args)

    def save(model):
        save_with_settings(model, args.output, settings, dataset=dataset, **features, interactions=seen)

    def start():
        return copy.deepcopy(resumed) if resumed is not None else _new_model(args)

    try:
        model, history, best_epoch = _train(
            start(), train, train_weights if args.weight_col else None, features, args, test if test.nnz else None,
            eval_every,
        )  # fmt: skip
        epochs = best_epoch or args.epochs
        if test.nnz:
            final = next((entry for entry in history if entry["epoch"] == epochs), None)
            if final is None:
                final = {
                    "epoch": epochs,
                    **held_out_metrics(
                        model, test, train, args.k, features["user_features"], features["item_features"], args.threads
                    ),
                }
            names = [name for name in final if name != "epoch" and not name.startswith("train ")]
            print(format_table(["held-out", *names], [[f"epoch {final['epoch']}", *(final[name] for name in names)]]))
        if test.nnz and not args.no_refit:
            # What was measured on the held-out part, then a model that learned from everything given.
            print(f"Refitting on all {merged.nnz:,} interactions for {epochs} epochs "
                  "(--no-refit: keep the model trained without the held-out)", flush=True)  # fmt: skip
            refit_args = copy.copy(args)
            refit_args.epochs, refit_args.early_stopping = epochs, None
            model, _, _ = _train(
                start(), merged, merged_weights if args.weight_col else None, features, refit_args, phase="Refitting"
            )
    except _Interrupted as interrupted:
        _offer_to_keep(interrupted, args, save)
        raise KeyboardInterrupt from None
    save(model)
    print(f"Saved the model and its id mappings to {args.output}")
    if args.plot:
        _plot(history, args, best_epoch)
        print(f"Saved the learning curve to {args.plot}")
    return 0


def _plot_title(history, args, best_epoch) -> str:
    """The learning curve's title: the settings, the epochs that ran and, under early stopping, the one kept."""
    settings = (
        f"loss {args.loss}, {args.components} components, learning rate {args.learning_rate:g}, "
        f"alpha item {args.item_alpha:g} / user {args.user_alpha:g}"
    )
    run = history[-1]["epoch"] if history else args.epochs
    epochs = f"{run} epoch{'s' if run != 1 else ''} run"
    if best_epoch:
        epochs += f", epoch {best_epoch} kept"
    return f"{settings}, {epochs}"


def _plot(history, args, best_epoch):
    """Held-out and train precision/recall on one panel, AUC on its own; the settings in the title."""
    matplotlib = require_module("matplotlib", "plot")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    k = args.k
    epochs = [entry["epoch"] for entry in history]
    figure, (ranking, auc) = plt.subplots(1, 2, figsize=(10, 4))
    for axis, names in ((ranking, (f"precision@{k}", f"recall@{k}")), (auc, ("AUC",))):
        for name in names:
            line = axis.plot(epochs, [entry[name] for entry in history], marker="o", label=f"held-out {name}")[0]
            axis.plot(
                epochs, [entry[f"train {name}"] for entry in history], linestyle="--", color=line.get_color(),
                label=f"train {name}",
            )  # fmt: skip
        if best_epoch:
            axis.axvline(best_epoch, color="grey", linestyle=":", label=f"best epoch ({best_epoch})")
        axis.set_xlabel("epoch")
        axis.grid(alpha=0.3)
        axis.legend(fontsize="small")
    ranking.set_title(f"precision and recall @{k}")
    auc.set_title("AUC")
    figure.suptitle(_plot_title(history, args, best_epoch))
    figure.tight_layout()
    figure.savefig(args.plot, dpi=120)
    plt.close(figure)


# -- evaluate / recommend ---------------------------------------------------------------


def fill_columns(args, settings: dict, names=("user_col", "item_col")) -> dict:
    """Column options left out: the model file's (as ``train`` was told), else the defaults. Returns the
    ``{column: option}`` flags for error messages, saying where a remembered name came from."""
    given = {name for name in names if getattr(args, name, None) is not None}
    filled = remembered(args, settings, names, _COLUMN_DEFAULTS)
    # Which columns are neither given nor remembered: --item-names may then find its id column by its values.
    args.defaulted_columns = set(names) - given - set(filled)
    flags: dict[str, str] = {}
    for name in names:
        flag = "--" + name.replace("_", "-")
        value = getattr(args, name)
        note = f" (the model was trained with {flag} {value})" if name in filled else ""
        flags.setdefault(value, flag + note)
    return flags


def run_evaluate(args) -> int:
    model, dataset, matrices = load_bundle(args.model)
    settings = model_settings(args.model)
    flags = fill_columns(args, settings)
    sep_remembered = args.sep is None and settings.get("sep") is not None
    if sep_remembered:
        args.sep = settings["sep"]
    inherited = resolve_rating_filter(args, settings)
    columns = [args.user_col, args.item_col]
    if args.rating_col and not inherited:
        columns.append(args.rating_col)
        flags.setdefault(args.rating_col, "--rating-col")
    try:
        frame = read_table(args.interactions, columns, "interactions", flags, sep=args.sep, keep_all=True)
    except CLIError as error:
        if sep_remembered and " has no column " in str(error):
            raise CLIError(f"{error} (read with the model's separator {args.sep!r}: --sep to choose)") from None
        raise
    kept = rating_mask(frame, args, args.interactions, inherited, out=sys.stderr)
    if kept is not None:
        frame = frame[kept]
    user_map, _, item_map, _ = dataset.mapping()
    strict = args.unknown == "error"
    rows = known_indices(read_ids(frame, args.user_col, args.interactions), user_map, "user", args.interactions, strict)
    cols = known_indices(read_ids(frame, args.item_col, args.interactions), item_map, "item", args.interactions, strict)
    known = (rows >= 0) & (cols >= 0)
    if not known.all():
        print(f"warning: skipped {int((~known).sum()):,} of {known.size:,} rows for those ids", file=sys.stderr)
        rows, cols = rows[known], cols[known]
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


def _requested_users(args, flags):
    """The users of ``--user`` options, then those of ``--users-file``: both are served."""
    users = canonical_ids([str(user).strip() for user in args.user]).tolist()
    if args.users_file:
        if Path(args.users_file).suffix.lower() == ".txt":
            if not Path(args.users_file).is_file():
                raise CLIError(f"users file not found: {args.users_file}")
            lines = Path(args.users_file).read_text().splitlines()
            users += canonical_ids([line.strip() for line in lines if line.strip()]).tolist()
        else:
            frame = read_table(args.users_file, [args.user_col], "users", flags)
            users += read_ids(frame, args.user_col, args.users_file).tolist()
    return users


def check_item_bias_weight(args) -> None:
    """``--item-bias-weight``: a finite number >= 0."""
    weight = args.item_bias_weight
    if not (np.isfinite(weight) and weight >= 0):
        raise CLIError(
            f"--item-bias-weight must be a number >= 0 (1: the model's own item biases, 0: none), got {weight:g}"
        )


def run_recommend(args) -> int:
    check_item_bias_weight(args)
    if args.items:
        return _recommend_for_items(args)
    if not args.user and not args.users_file:
        raise CLIError("name the users with --user ID (repeatable) or --users-file FILE, or a new user's --items")
    if args.n < 1:
        raise CLIError("--n must be at least 1")
    flags = fill_columns(args, model_settings(args.model))
    if args.workers is not None or args.scheduler:
        if args.index:
            raise CLIError("--index is not available with --workers/--scheduler: leave out one of them")
        from .cluster import run_recommend_cluster

        if args.item_bias_weight != 1:
            raise CLIError("--item-bias-weight is not available with --workers/--scheduler")
        return run_recommend_cluster(args, np.array(_requested_users(args, flags), dtype=object), load_bundle)
    if args.seen:
        raise CLIError("--seen is for --workers/--scheduler: a model from 'lightfm train' holds its interactions")
    model, dataset, matrices = load_bundle(args.model)
    index = load_index(args.index, model, matrices, args.model) if args.index else None
    user_map, _, item_map, _ = dataset.mapping()
    names = _item_names(args, flags, item_map)
    requested = np.array(_requested_users(args, flags), dtype=object)
    source = " and ".join(["--user"] * bool(args.user) + [args.users_file] * bool(args.users_file))
    users = known_indices(requested, user_map, "user", source, strict=args.unknown_users == "error")
    known = users >= 0
    popular = None
    if args.unknown_users == "popular" and not known.all():
        interactions = matrices.get("interactions")
        if interactions is None:
            raise CLIError(f"{args.model} holds no training interactions to find popular items in")
        counts = np.asarray((sp.csr_matrix(interactions) != 0).sum(axis=0)).ravel()
        popular = np.argsort(-counts, kind="stable")[: args.n]
        print("warning: they get the most popular items instead (score '-')", file=sys.stderr)
    elif not known.all():
        print("warning: they are skipped (--unknown-users popular: give them popular items)", file=sys.stderr)
    exclude = None
    if args.exclude_seen is not False:  # the default, as in implicit and RecTools: seen items are left out
        exclude = matrices.get("interactions")
        if exclude is None and args.exclude_seen:
            raise CLIError(f"{args.model} holds no training interactions, so --exclude-seen cannot work")
        if exclude is None:
            print(f"note: {args.model} holds no training interactions: seen items are not left out", file=sys.stderr)
    items, scores = _top_items(
        model,
        index,
        matrices,
        users[known],
        n=args.n,
        exclude=exclude,
        user_features=matrices.get("user_features"),
        num_threads=args.threads,
        item_bias_weight=args.item_bias_weight,
    )
    rows = iter(zip(items, scores, strict=True))
    lists = []
    for user, is_known in zip(requested.tolist(), known.tolist(), strict=True):
        if is_known:
            row_items, row_scores = next(rows)
            pairs: list[tuple[int, float | None]] = [
                (item, round(float(score), 6)) for item, score in zip(row_items, row_scores, strict=True)
            ]
        elif popular is not None:
            pairs = [(item, None) for item in popular]
        else:
            continue
        lists.append((user, pairs))
    _write_recommendations(lists, item_map, names, args)
    return 0


# The user column of the recommendations for ``--items``: someone the model has not seen.
NEW_USER_LABEL = "(new)"


def _requested_items(values) -> list:
    """The item ids of ``--items`` options (comma-separated, repeatable), in order, each once."""
    texts = [part.strip() for value in values for part in str(value).split(",")]
    texts = [text for text in texts if text]
    if not texts:
        raise CLIError("--items needs the new user's item ids, comma-separated: --items album3,album7")
    return list(dict.fromkeys(canonical_ids(texts).tolist()))


def _recommend_for_items(args) -> int:
    """``recommend --items``: one user the model has not seen, folded in from the items they had."""
    given = [option for option, value in (("--user", args.user), ("--users-file", args.users_file)) if value]
    if given:
        raise CLIError(f"--items describes one new user: leave out {' and '.join(given)}")
    if args.workers is not None or args.scheduler:
        raise CLIError("--items is not available with --workers/--scheduler")
    if args.exclude_seen is False:
        raise CLIError("--items are never recommended back to the user who had them: leave out --no-exclude-seen")
    if args.seen:
        raise CLIError("--seen is for --workers/--scheduler: --items are the new user's seen items")
    if args.n < 1:
        raise CLIError("--n must be at least 1")
    flags = fill_columns(args, model_settings(args.model))
    model, dataset, matrices = load_bundle(args.model)
    index = load_index(args.index, model, matrices, args.model) if args.index else None
    _, _, item_map, _ = dataset.mapping()
    names = _item_names(args, flags, item_map)
    requested = np.array(_requested_items(args.items), dtype=object)
    positions = positions_in(requested, item_map, "--items")
    unknown = requested[positions < 0].tolist()
    if unknown:
        more = f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""
        shown = ", ".join(repr(item) for item in unknown[:10]) + more
        raise CLIError(f"--items: {len(unknown)} item id{'s' * (len(unknown) > 1)} not in the model: {shown}")
    row = sp.csr_matrix(
        (np.ones(positions.size, dtype=np.float32), (np.zeros(positions.size, dtype=np.int64), positions)),
        shape=(1, len(item_map)),
    )
    item_features = matrices.get("item_features")
    representations = model.fold_in_users(row, item_features=item_features, num_threads=args.threads)
    items, scores = _top_items(
        model,
        index,
        matrices,
        n=args.n,
        user_representations=representations,
        exclude=row,
        num_threads=args.threads,
        item_bias_weight=args.item_bias_weight,
    )
    pairs = [(item, round(float(score), 6)) for item, score in zip(items[0], scores[0], strict=True)]
    _write_recommendations([(NEW_USER_LABEL, pairs)], item_map, names, args)
    return 0


def _top_items(model, index, matrices, user_ids=None, **options):
    """``recommend``'s top items: from ``--index`` when given (its item side is the model's, checked when it was
    loaded), else by scoring every item."""
    if index is not None:
        return index.recommend(user_ids, **options)
    return model.recommend(user_ids, item_features=matrices.get("item_features"), **options)


def _write_recommendations(lists, item_map: dict, names, args) -> None:
    """``(user, [(item index, score or None), ...])`` lists as the recommendations table (item -1: none left)."""
    item_ids = np.empty(len(item_map), dtype=object)
    item_ids[list(item_map.values())] = list(item_map.keys())
    records = []
    for user, pairs in lists:
        for rank, (item, score) in enumerate(pair for pair in pairs if pair[0] >= 0):
            record = {"user": user, "rank": rank + 1, "item": item_ids[item], "score": score}
            if names is not None:
                record["name"] = name_of(names, item_ids[item])
            records.append(record)
    columns = ["user", "rank", "item"] + ["name"] * (names is not None) + ["score"]
    _write_records(records, columns, args, "recommendations")


def _item_names(args, flags, item_map: dict):
    """``{item id: name}`` from ``--item-names``, or None. Its id column is ``--item-col``, else the one the
    model was trained with, else ``item``, else the column holding the model's item ids."""
    if not args.item_names:
        return None
    guess = "item_col" in getattr(args, "defaulted_columns", ())
    return read_names(
        args.item_names, args.item_col, args.name_col, flag=flags.get(args.item_col, "--item-col"),
        find_ids_in=item_map if guess else None,
    )  # fmt: skip


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


def _bare_name(name: str, drop_suffix: bool = False) -> str:
    """A name to compare a ``--title`` with: any case, and with ``drop_suffix`` without a trailing "(1995)"."""
    name = name.strip().casefold()
    return re.sub(r"\s*\([^()]*\)$", "", name) if drop_suffix else name


def _items_by_title(titles, names: dict, item_map: dict, path: str) -> list:
    """The model's item ids whose names match each ``--title``: an equal name (any case, a trailing "(1995)"
    aside), else the only one containing it; several are an error listing them."""
    listed = np.array(list(names), dtype=object)
    positions = positions_in(listed, item_map, path) if listed.size else np.zeros(0, dtype=np.int64)
    model_ids = np.empty(len(item_map), dtype=object)
    model_ids[list(item_map.values())] = list(item_map.keys())
    # The model's spelling of each id (an older model's "1.0" for the file's "1").
    known = {
        model_ids[at]: names[item] for item, at in zip(listed.tolist(), positions.tolist(), strict=True) if at >= 0
    }
    found = []
    for title in titles:
        wanted = title.strip().casefold()
        if not wanted:
            raise CLIError("--title needs some text of a name, e.g. --title 'Toy Story'")
        exact = [item for item, name in known.items() if _bare_name(name) == wanted or _bare_name(name, True) == wanted]
        matches = exact or [item for item, name in known.items() if wanted in name.casefold()]
        if not matches:
            elsewhere = [item for item, name in names.items() if wanted in name.casefold()]
            if elsewhere:
                raise CLIError(
                    f"--title {title!r} names {'items' if len(elsewhere) > 1 else 'an item'} of {path} that the "
                    f"model does not know ({', '.join(f'{names[i]!r} (id {i})' for i in elsewhere[:5])})"
                )
            raise CLIError(f"--title {title!r}: no name in {path} contains it; check the spelling, or use --item ID")
        if len(matches) > 1:
            shown = ", ".join(f"{known[item]!r} (id {item})" for item in matches[:10])
            more = f" and {len(matches) - 10} more" if len(matches) > 10 else ""
            raise CLIError(
                f"--title {title!r} matches {len(matches)} items: {shown}{more}; give more of the name, or --item ID"
            )
        print(f"--title {title!r}: item {matches[0]}, {known[matches[0]]!r}", file=sys.stderr)
        found.append(matches[0])
    return found


def _similar_through_index(args, model, matrices, indices):
    """``similar --index``: the items' nearest neighbours by cosine, from the index file's similarity index."""
    from .index import load_index

    index = load_index(args.index, model, matrices, args.model)
    try:
        return index.similar_items(indices, n=args.n, num_threads=args.threads)
    except ValueError as error:
        if "holds no similarity index" not in str(error):
            raise
        raise CLIError(
            f"--index {args.index} was written by an earlier lightfm-ng, without the similarity index that "
            f"'similar --index' searches: rebuild it with 'lightfm index {args.model} -o {args.index}'"
        ) from None


def run_similar(args) -> int:
    """``lightfm similar``: the nearest items (or users) of the given ones, by cosine of representations."""
    items_given = bool(args.item or args.title)
    if items_given == bool(args.user):
        raise CLIError("name either items (--item ID or --title NAME, repeatable) or users (--user ID, repeatable)")
    if args.n < 1:
        raise CLIError("--n must be at least 1")
    if args.item_names and not items_given:
        raise CLIError("--item-names names items: use it with --item or --title")
    if args.title and not args.item_names:
        raise CLIError("--title finds items by name: add --item-names FILE, the table of item ids and names")
    if args.index and not items_given:
        raise CLIError("--index holds the model's items, not its users: leave out --index with --user")
    flags = fill_columns(args, model_settings(args.model), names=("item_col",))
    model, dataset, matrices = load_bundle(args.model)
    user_map, _, item_map, _ = dataset.mapping()
    names = _item_names(args, flags, item_map)
    if items_given:
        side, mapping = "item", item_map
        requested = canonical_ids([str(value).strip() for value in args.item]).tolist()
        requested += _items_by_title(args.title, names, item_map, args.item_names) if args.title else []
        source = "--item" if not args.title else "--item/--title"
    else:
        side, mapping, source = "user", user_map, "--user"
        requested = canonical_ids([str(value).strip() for value in args.user]).tolist()
    requested = np.array(requested, dtype=object)
    indices = indices_of(requested, mapping, side, source)
    if args.index:
        found, scores = _similar_through_index(args, model, matrices, indices)
    else:
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
    columns = [side, "rank", "similar", "similarity"]
    if names is not None:
        for record in records:
            record["name"] = name_of(names, record["similar"])
        columns.insert(3, "name")
    _write_records(records, columns, args, f"similar {side}s")
    return 0
