"""The report step: held-out metrics and their table, the saved model file, the learning curve, output tables.

``train`` reports the same way on one machine and on a Dask cluster (:func:`print_held_out`,
:func:`save_model`); ``evaluate``, ``recommend`` and ``similar`` write their tables with
:func:`write_records`. matplotlib is imported only to draw a curve.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ._io import CLIError, csv_field, format_table, require_module, save_with_settings

# ``train --monitor`` choices and the metric each watches (``precision@{k}``: with ``--k``).
MONITORED_METRICS = {"precision": "precision@{k}", "recall": "recall@{k}", "auc": "AUC"}


def held_out_metrics(model, test, train, k, user_features, item_features, threads) -> dict:
    """Mean precision@k, recall@k and AUC of ``model`` on ``test``, ``train``'s entries left out of the ranking.

    Parameters
    ----------
    model : LightFM
        The model to measure.
    test, train : scipy.sparse matrix
        Held-out interactions, and those trained on (None: nothing left out).
    k : int
        Cut-off of precision and recall.
    user_features, item_features : scipy.sparse matrix or None
        The features the model was trained with.
    threads : int
        Threads for the scoring.

    Returns
    -------
    dict
        ``{"precision@k": float, "recall@k": float, "AUC": float}``, in that order.
    """
    # Imported here: only the commands that measure something need the evaluation module.
    from ..evaluation import auc_score, precision_at_k, recall_at_k

    arguments = {"user_features": user_features, "item_features": item_features, "num_threads": threads}
    return {
        f"precision@{k}": float(precision_at_k(model, test, train, k=k, **arguments).mean()),
        f"recall@{k}": float(recall_at_k(model, test, train, k=k, **arguments).mean()),
        "AUC": float(auc_score(model, test, train, **arguments).mean()),
    }


def print_held_out(metrics: dict, epoch: int) -> None:
    """The held-out table of ``train``: one row, for the epoch the metrics were measured at.

    Parameters
    ----------
    metrics : dict
        ``{name: value}``; names starting with ``"train "`` (the learning curve's) are left out.
    epoch : int
        The epoch the metrics belong to.
    """
    names = [name for name in metrics if name != "epoch" and not name.startswith("train ")]
    print(format_table(["held-out", *names], [[f"epoch {epoch}", *(metrics[name] for name in names)]]))


def train_settings(args) -> dict:
    """What the model file keeps of a ``train`` run, for the commands that read it later.

    Parameters
    ----------
    args : argparse.Namespace
        The options of ``train``, the column options filled in.

    Returns
    -------
    dict
        Column names, separators and the rating filter; the feature options only where feature files were given.
    """
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


def save_model(model, args, dataset, features: dict, interactions=None) -> None:
    """Write ``train``'s model file: the model, its id mappings, features, seen interactions and settings.

    Parameters
    ----------
    model : LightFM or DaskLightFM
        The trained model.
    args : argparse.Namespace
        The options of ``train`` (``--output``, and the settings of :func:`train_settings`).
    dataset : lightfm.data.Dataset
        The id mappings.
    features : dict
        ``{"user_features": matrix or None, "item_features": matrix or None}``.
    interactions : scipy.sparse matrix, optional
        Every interaction the model has seen, for ``recommend``'s ``--exclude-seen``.
    """
    save_with_settings(model, args.output, train_settings(args), dataset=dataset, **features, interactions=interactions)


def plot_title(history: list, args, best_epoch) -> str:
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


def plot_learning_curve(history: list, args, best_epoch) -> None:
    """Held-out and train precision/recall on one panel, AUC on its own; the settings in the title.

    Parameters
    ----------
    history : list of dict
        One entry per evaluation: ``epoch``, the held-out metrics and the same on the training part
        (``"train precision@k"``, ...).
    args : argparse.Namespace
        ``--plot`` (the image file), ``--k`` and the model options shown in the title.
    best_epoch : int or None
        The epoch early stopping kept, marked on both panels.
    """
    matplotlib = require_module("matplotlib", "plot")
    matplotlib.use("Agg")  # a file, never a window: also where no display exists
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
    figure.suptitle(plot_title(history, args, best_epoch))
    figure.tight_layout()
    figure.savefig(args.plot, dpi=120)
    plt.close(figure)


def write_records(records: list, columns: list, args, what: str) -> None:
    """``records`` as a table, CSV or JSON, to ``--output`` or the screen.

    Parameters
    ----------
    records : list of dict
        One dict per row, holding every name of ``columns``.
    columns : list of str
        The columns, in order.
    args : argparse.Namespace
        ``--format`` (default: from ``--output``'s suffix, else a table) and ``--output``.
    what : str
        What the rows are, for the line saying where they were written.
    """
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
