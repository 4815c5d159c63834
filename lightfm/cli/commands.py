"""``lightfm train`` and ``lightfm evaluate``: each command a short sequence of shared steps.

``train`` is load (``inputs.py``), fit (``training.py``) and report (``report.py``); on a Dask cluster
(``--workers``/``--scheduler``) the fit runs in ``cluster.py``, which shares the load and report steps.
"""

from __future__ import annotations

import copy
import sys

import numpy as np
import scipy.sparse as sp

from ._io import (
    CLIError,
    fill_columns,
    known_indices,
    load_bundle,
    model_settings,
    rating_mask,
    read_ids,
    read_table,
    resolve_rating_filter,
)
from .inputs import (
    check_input_options,
    check_model_options,
    check_outputs,
    fill_model_options,
    fill_train_columns,
    load_training_data,
    resume,
)
from .report import held_out_metrics, plot_learning_curve, save_model, write_records
from .training import fit, new_model


def run_train(args) -> int:
    """``lightfm train``: read the files, train (evaluating on a held-out part), refit on everything, save.

    Returns
    -------
    int
        The exit status, 0.
    """
    check_input_options(args)
    if args.workers is not None or args.scheduler:
        from .cluster import run_train_cluster

        return run_train_cluster(args)
    resumed = resume(args)
    inherited, notes = fill_train_columns(args, model_settings(args.resume) if args.resume else {})
    fill_model_options(args, resumed[0])
    check_model_options(args)
    check_outputs(args)
    for note in notes:
        print(note, file=sys.stderr)
    data = load_training_data(args, resumed, inherited)

    def save(model):
        save_model(model, args, data.dataset, data.features, interactions=data.seen)

    def start():
        return copy.deepcopy(resumed[0]) if resumed[0] is not None else new_model(args)

    model, history, best_epoch = fit(args, data, start, save)
    save(model)
    print(f"Saved the model and its id mappings to {args.output}")
    if args.plot:
        plot_learning_curve(history, args, best_epoch)
        print(f"Saved the learning curve to {args.plot}")
    return 0


def run_evaluate(args) -> int:
    """``lightfm evaluate``: precision, recall, AUC and NDCG of a model file on held-out interactions.

    Returns
    -------
    int
        The exit status, 0.
    """
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
    from ..evaluation import ndcg_at_k

    metrics[f"NDCG@{args.k}"] = float(
        ndcg_at_k(model, test, train, k=args.k, num_threads=args.threads, **features).mean()
    )
    print(f"{test.nnz:,} interactions of {np.count_nonzero(np.diff(test.indptr)):,} users", file=sys.stderr)
    records = [{"metric": name, "value": round(value, 6)} for name, value in metrics.items()]
    write_records(records, ["metric", "value"], args, "metrics")
    return 0
