"""The fit step of ``train`` in this process: epochs with evaluation, early stopping, a refit, and Ctrl-C.

Ctrl-C during training never leaves a half-trained epoch behind: the loop keeps a copy of the model
after each completed epoch, and ``--on-interrupt`` says whether that copy is saved, discarded, or
offered to the user (:func:`offer_to_keep`).
"""

from __future__ import annotations

import copy
import sys

from .. import LightFM
from ._io import CLIError, caused_by_ctrl_c
from .inputs import model_parameters
from .report import MONITORED_METRICS, held_out_metrics, print_held_out


class Interrupted(Exception):
    """Ctrl-C during training, carrying the last model that finished an epoch (or None).

    Parameters
    ----------
    model : LightFM or None
        A copy of the model after its last completed epoch; None where no copy was kept.
    epoch : int
        The last completed epoch (0: none).
    phase : str
        "Training" or "Refitting".
    """

    def __init__(self, model, epoch, phase):
        super().__init__("interrupted")
        self.model, self.epoch, self.phase = model, epoch, phase


def choose_eval_every(args, test) -> int:
    """How often to evaluate: ``--eval-every``, else as often as ``--plot`` or ``--early-stopping`` need.

    A choice made here is printed; evaluating needs held-out interactions (CLIError without them).
    """
    eval_every = args.eval_every
    if (args.plot or args.early_stopping) and not eval_every:
        eval_every = max(1, round(args.epochs / 20)) if args.plot else 1
        print(f"note: evaluating every {eval_every} epoch(s) for {'--plot' if args.plot else '--early-stopping'} "
              "(choose with --eval-every)", flush=True)  # fmt: skip
    if eval_every and test.nnz == 0:
        raise CLIError("--eval-every, --early-stopping and --plot need held-out interactions: use --test-fraction > 0")
    return eval_every


def _epochs(args, phase):
    """The epoch numbers, with a progress bar on a terminal and a line per fifth of the run in a log."""
    # Imported here: tqdm is for training only, not for the start-up of every command.
    from tqdm.auto import tqdm

    interactive = sys.stderr.isatty() and not args.quiet
    bar = tqdm(range(1, args.epochs + 1), desc=phase, unit="epoch", disable=not interactive, file=sys.stderr)
    step = max(1, -(-args.epochs // 5))  # about five lines per phase
    for epoch in bar:
        yield epoch, bar
        if not interactive and not args.quiet and (epoch % step == 0 or epoch == args.epochs):
            print(f"{phase}: epoch {epoch}/{args.epochs}", file=sys.stderr, flush=True)


def train_epochs(model, train, weights, features, args, test=None, eval_every=0, phase="Training"):
    """Epochs of ``fit_partial``, evaluated every ``eval_every``; early stopping keeps the best epoch.

    Parameters
    ----------
    model : LightFM
        The model to train (changed in place).
    train, weights : scipy.sparse matrix
        The interactions and their weights (None: unweighted).
    features : dict
        ``{"user_features": ..., "item_features": ...}``.
    args : argparse.Namespace
        ``--epochs``, ``--threads``, ``--k``, ``--monitor``, ``--early-stopping``, ``--plot``, ``--on-interrupt``.
    test : scipy.sparse matrix, optional
        Held-out interactions to evaluate on (None: no evaluation).
    eval_every : int
        Evaluate every this many epochs (0: at the last one only).
    phase : str
        The name on the progress bar and in the log.

    Returns
    -------
    (LightFM, list of dict, int or None)
        The model (early stopping's best), the metrics of each evaluation, and the epoch kept by early stopping.

    Raises
    ------
    Interrupted
        On Ctrl-C, with the last model that completed an epoch (a copy taken after each one, so never a
        half-trained epoch).
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
        raise Interrupted(last, completed, phase) from None
    except Exception as error:
        # Ctrl-C landing inside a compiled (Numba) call surfaces as a SystemError (see caused_by_ctrl_c).
        if not caused_by_ctrl_c(error):
            raise
        raise Interrupted(last, completed, phase) from None
    if best_model is not None:
        return best_model, history, best_epoch
    return model, history, None


def offer_to_keep(interrupted: Interrupted, args, save) -> None:
    """After Ctrl-C: save the model trained so far if ``--on-interrupt save``, or if asked and the user agrees.

    Parameters
    ----------
    interrupted : Interrupted
        What the training loop left.
    args : argparse.Namespace
        ``--on-interrupt`` and ``--output``.
    save : callable
        Writes a model to ``--output``.
    """
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


def fit(args, data, start, save):
    """Train on ``data.train``, report the held-out metrics, then refit on everything (unless ``--no-refit``).

    Parameters
    ----------
    args : argparse.Namespace
        The options of ``train``, settled and checked.
    data : TrainingData
        What :func:`~lightfm.cli.inputs.load_training_data` read.
    start : callable
        A fresh model to train: a new one, or a copy of the resumed one (called once per phase).
    save : callable
        Writes a model to ``--output``; used on Ctrl-C as ``--on-interrupt`` says.

    Returns
    -------
    (LightFM, list of dict, int or None)
        The model to save, the held-out metrics of each evaluation, and the epoch kept by early stopping.

    Raises
    ------
    KeyboardInterrupt
        On Ctrl-C, once the model of the last completed epoch is saved or not, as ``--on-interrupt`` says.
    """
    test = data.test if data.test.nnz else None
    eval_every = choose_eval_every(args, data.test)
    features = data.features
    try:
        model, history, best_epoch = train_epochs(
            start(), data.train, data.train_weights if args.weight_col else None, features, args, test, eval_every
        )
        epochs = best_epoch or args.epochs
        if test is not None:
            final = next((entry for entry in history if entry["epoch"] == epochs), None)
            if final is None:
                final = held_out_metrics(
                    model, test, data.train, args.k, features["user_features"], features["item_features"],
                    args.threads,
                )  # fmt: skip
            print_held_out(final, epochs)
        if test is not None and not args.no_refit:
            # What was measured on the held-out part, then a model that learned from everything given.
            print(f"Refitting on all {data.merged.nnz:,} interactions for {epochs} epochs "
                  "(--no-refit: keep the model trained without the held-out)", flush=True)  # fmt: skip
            refit_args = copy.copy(args)
            refit_args.epochs, refit_args.early_stopping = epochs, None
            model, _, _ = train_epochs(
                start(), data.merged, data.merged_weights if args.weight_col else None, features, refit_args,
                phase="Refitting",
            )  # fmt: skip
    except Interrupted as interrupted:
        offer_to_keep(interrupted, args, save)
        raise KeyboardInterrupt from None
    return model, history, best_epoch


def new_model(args) -> LightFM:
    """A fresh ``LightFM`` of ``train``'s model options."""
    return LightFM(**model_parameters(args))
