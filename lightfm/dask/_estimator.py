"""DaskLightFM: data-parallel LightFM training on a Dask cluster.

How training works (see :class:`DaskLightFM`): the interactions are split by
user into one shard per worker; each round, every worker trains its shard's
examples for a fraction of an epoch with the CPU engine, then the client adds
up the item-side changes of all workers (and the user side's, with user
features) and starts the next round from the merged parameters.
"""

from __future__ import annotations

import json
import os
import time

import numpy as np

from .._params import as_random_state, check_sample_weight_loss, validate_hyperparameters
from .._persistence import write_atomic
from .._state import PARAMETER_NAMES, FitInputs, ModelState, Side
from .._validation import is_int, to_features
from ..backends import TrainingConfig
from ..lightfm import LightFM
from ._client import get_client, ship, worker_addresses
from ._frames import as_frame, split_by_user
from ._schedule import SyncSchedule, staleness
from ._serving import recommend
from ._shards import build_shard, pack, shard_users, train_round

__all__ = ["DaskLightFM"]

# None: merge by staleness (lightfm.dask._schedule). A fixed count suits some data and not other: on 50k users
# x 10k items with user tastes (benchmarks/bench_dask_staleness.py, WARP, medians of 3 seeds), 4 merges per
# epoch lost 0.0040 AUC with 2 workers and 0.0185 with 4, the staleness rule 0.0007 and 0.0040.
DEFAULT_SYNCS_PER_EPOCH = None
_CHECKPOINT_VERSION = 2


class DaskLightFM(LightFM):
    """LightFM trained data-parallel on a Dask cluster (like ``lightgbm.DaskLGBMRanker``).

    A :class:`lightfm.LightFM` whose :meth:`fit` trains on a cluster. The
    hyperparameters, ``no_components`` to ``random_state``, are LightFM's, with
    the same meaning, defaults and checks (its page says more about each;
    :meth:`set_params` checks every value before setting any); ``device``,
    ``client``, ``syncs_per_epoch`` and ``n_shards`` say how the cluster
    trains. After ``fit`` the parameter arrays (and the optimiser's
    accumulators) read under LightFM's names, LightFM's methods (``predict``,
    :func:`lightfm.evaluation` metrics, ...) score it in this process, and
    :meth:`to_local` gives a plain LightFM model to save and serve.
    :meth:`recommend` and the metrics of :mod:`lightfm.dask` score on the workers.

    Parameters
    ----------
    no_components : int, default 10
        Dimensionality of the feature latent embeddings.
    k : int, default 5
        For k-OS training, the k-th positive example is selected from the n
        positive examples sampled for every user.
    n : int, default 10
        For k-OS training, the maximum number of positives sampled per update.
    learning_schedule : {'adagrad', 'adadelta'}, default 'adagrad'
        The per-parameter learning-rate schedule.
    loss : {'logistic', 'bpr', 'warp', 'warp-kos'}, default 'logistic'
        The loss function.
    learning_rate : float, default 0.05
        Initial learning rate for the adagrad schedule.
    rho : float, default 0.95
        Moving-average decay for the adadelta schedule, in (0, 1).
    epsilon : float, default 1e-6
        Conditioning constant for the adadelta schedule, >= 0.
    item_alpha : float, default 0.0
        L2 penalty on item features (lazy weight decay, as in LightFM).
    user_alpha : float, default 0.0
        L2 penalty on user features, likewise.
    max_sampled : int, default 10
        Maximum number of negatives WARP draws per positive.
    random_state : int, numpy.random.RandomState or None, default None
        Seed or generator for initialisation and sampling.
    device : {'cpu'}, default 'cpu'
        Workers train with the CPU engine; ``'cuda'`` is refused.
    client : distributed.Client, optional
        The cluster to train on. None: the current ``dask.distributed`` client,
        or else an embedded ``LocalCluster`` (one worker process per core).
    syncs_per_epoch : int or None, default None
        How often the workers' parameters are merged. Between merges each
        worker trains its users' share of a slice of the epoch's examples; at
        a merge the item-side changes (embeddings, biases and the optimiser's
        accumulators) of all workers are added to the parameters the round
        started from. User-side parameters live with their shard (with user
        features, the user side is merged like the item side). None (the
        default) merges by staleness: after each merge, the item-side change
        each worker did not see while it trained,
        ``max over workers w of ||sum of the other workers' item-embedding
        changes|| / ||item_embeddings||``, is compared with 0.1, and the next
        slice is scaled by their ratio (at most halved or doubled at a time,
        from 1/64 of an epoch at the start, up to a whole epoch).
        Early training and data with many interactions per item and little
        optimiser history get frequent merges; later epochs, where adagrad's
        steps have shrunk, few. An integer merges that many times per epoch,
        in equal slices. Each merge costs one round trip of the item
        parameters.
    n_shards : int, optional
        Shards the users are split into (default: one per worker at fit time).
        With ``num_threads=1`` and a fixed ``random_state``, a model depends on
        ``n_shards`` but not on the number or speed of workers.

    Attributes
    ----------
    item_embeddings : np.float32 array of shape [n_item_features, no_components]
        Latent vectors of the item features (None before ``fit``).
    item_biases : np.float32 array of shape [n_item_features,]
        Biases of the item features.
    user_embeddings : np.float32 array of shape [n_user_features, no_components]
        Latent vectors of the user features.
    user_biases : np.float32 array of shape [n_user_features,]
        Biases of the user features.

    Examples
    --------
    >>> import dask.dataframe as dd, pandas as pd
    >>> from lightfm.dask import DaskLightFM
    >>> frame = dd.from_pandas(pd.DataFrame({"user": [0, 0, 1, 2], "item": [0, 1, 1, 2]}), npartitions=2)
    >>> model = DaskLightFM(loss="warp", random_state=0).fit(frame, epochs=2)  # doctest: +SKIP
    >>> model.to_local().save("model.npz")  # doctest: +SKIP
    >>> model.recommend([0, 1], n=2).compute()  # doctest: +SKIP
    """

    def __init__(
        self,
        no_components=10,
        k=5,
        n=10,
        learning_schedule="adagrad",
        loss="logistic",
        learning_rate=0.05,
        rho=0.95,
        epsilon=1e-6,
        item_alpha=0.0,
        user_alpha=0.0,
        max_sampled=10,
        random_state=None,
        device="cpu",
        client=None,
        syncs_per_epoch=DEFAULT_SYNCS_PER_EPOCH,
        n_shards=None,
    ):
        # The signature is LightFM's plus the cluster settings (scikit-learn reads parameters from it);
        # LightFM's constructor checks and stores the hyperparameters, after the settings are checked.
        arguments = dict(locals())
        settings = {name: arguments.pop(name) for name in _ENGINE_PARAMS}
        _check_engine_params(device=device, **settings)
        LightFM.__init__(self, **{name: arguments[name] for name in LightFM._param_names()})
        for name, value in settings.items():
            setattr(self, name, value)

    # -- parameters ------------------------------------------------------------

    def set_params(self, **params):
        """Set hyperparameters or cluster settings, all checked before any is set.

        Returns
        -------
        DaskLightFM
            ``self``.

        Raises
        ------
        ValueError
            For an unknown name or an invalid value (:class:`lightfm.ParameterError`
            for a hyperparameter); the estimator is then left unchanged.

        Examples
        --------
        >>> from lightfm.dask import DaskLightFM
        >>> DaskLightFM().set_params(loss="warp", n_shards=4).n_shards
        4
        """
        if set(params) <= set(self._param_names()):
            merged = {**self.get_params(), **params}
            _check_engine_params(device=merged["device"], **{name: merged[name] for name in _ENGINE_PARAMS})
        # LightFM's: refuses unknown names, validates every hyperparameter, then sets them all.
        return super().set_params(**params)

    def _check_params(self):
        """The hyperparameters and settings as they are now (public attributes may have been assigned)."""
        validate_hyperparameters(self.get_params(), fitting=True)
        _check_engine_params(device=self.device, **{name: getattr(self, name) for name in _ENGINE_PARAMS})

    # -- training --------------------------------------------------------------

    def fit(
        self,
        interactions,
        *,
        user_features=None,
        item_features=None,
        sample_weight=None,
        epochs=1,
        n_users=None,
        n_items=None,
        num_threads=None,
        checkpoint=None,
        verbose=False,
    ):
        """Train from scratch (or resume from ``checkpoint``) on the cluster.

        Parameters
        ----------
        interactions : dask.dataframe.DataFrame, or str path or glob of Parquet files
            COO triples: integer columns ``user`` and ``item`` (indices), and
            optionally ``weight`` (sample weights, as
            :meth:`lightfm.data.Dataset.build_interactions` returns them) and
            ``label`` (the stored value, default 1; ``'logistic'`` treats
            values <= 0 as negatives, the ranking losses never train on them).
            Every row of a user is one of that user's items, never drawn as
            their negative.
        user_features, item_features : scipy sparse matrix, optional
            As in :meth:`lightfm.LightFM.fit`; sent to every worker once.
        sample_weight : str, optional
            The name of the weight column, if not ``weight``.
        epochs : int, default 1
            Passes over the interactions.
        n_users, n_items : int, optional
            The matrix shape; by default the feature matrices' rows, else the largest index + 1.
        num_threads : int, optional
            Training threads per worker (default: the worker's thread count).
            With 1 thread per worker and a fixed ``random_state`` the model is
            reproducible, retries after a lost worker included.
        checkpoint : str or os.PathLike, optional
            A file written (atomically) after every merge. If it exists, the fit
            resumes from it, where its merge schedule stopped: pass the same
            data and settings, and ``epochs`` as the total wanted.
        verbose : bool, default False
            Print one line per merge: its slice of the epoch, the staleness
            measured there, and its time.

        Returns
        -------
        DaskLightFM
            ``self``.

        Raises
        ------
        ValueError
            For bad input (naming the argument), divergence, or a checkpoint
            written with other settings.
        RuntimeError
            If training could not finish (workers lost more often than
            Dask's ``distributed.scheduler.allowed-failures``); the estimator
            then keeps its previous model, never a partial one.
        """
        self._check_params()
        if not _is_positive_int(epochs) and epochs != 0:
            raise ValueError(f"epochs must be a non-negative integer, got {epochs!r}.")
        if num_threads is not None and not _is_positive_int(num_threads):
            raise ValueError(f"num_threads must be None or a positive integer, got {num_threads!r}.")
        client = get_client(self.client)
        frame = as_frame(interactions, "interactions")
        weight_column = "weight" if sample_weight is None else sample_weight
        if sample_weight is not None and (not isinstance(sample_weight, str) or sample_weight not in frame.columns):
            raise ValueError(
                f"sample_weight must name a column of interactions (one of {list(frame.columns)}), "
                f"got {sample_weight!r}."
            )
        has_weight = weight_column in frame.columns
        has_label = "label" in frame.columns
        check_sample_weight_loss(self.loss, has_weight)
        columns = ("user", "item") + (("label",) if has_label else ()) + (("weight",) if has_weight else ())
        if has_weight and weight_column != "weight":
            frame = frame.rename(columns={weight_column: "weight"})

        n_users, n_items = self._shape(client, frame, user_features, item_features, n_users, n_items)
        users = to_features(user_features, n_users, "user_features")
        items = to_features(item_features, n_items, "item_features")
        config = TrainingConfig(*(getattr(self, name) for name in TrainingConfig._fields))
        workers = worker_addresses(client)
        n_shards = self.n_shards or len(workers)

        # As LightFM.fit: initialisation and sampling draw from random_state, restored if the fit fails.
        self.random_state = as_random_state(self.random_state)
        random_state_before = self.random_state.get_state()
        shards = []
        try:
            state = self._fit_on_cluster(
                client, frame, columns, has_label, has_weight, users, items, n_users, n_items, config, workers,
                n_shards, epochs, num_threads, checkpoint, verbose, shards,
            )  # fmt: skip
        except BaseException:
            self.random_state.set_state(random_state_before)
            raise
        finally:
            # Futures, not data: releasing them frees the shards on the workers (cleared, not just
            # unnamed: a traceback keeps the frame that filled the list).
            shards.clear()
        # Kept as LightFM.fit keeps them: what each side serves with when no features are passed.
        for side, n_ids, features in (("user", n_users, users), ("item", n_items, items)):
            state.fit_inputs[side] = FitInputs(
                n_ids, features.identity, features.n_features, None if features.identity else features
            )
        self._state = state
        return self

    def _fit_on_cluster(
        self, client, frame, columns, has_label, has_weight, users, items, n_users, n_items, config, workers,
        n_shards, epochs, num_threads, checkpoint, verbose, shards,
    ):  # fmt: skip
        """The part of :meth:`fit` that draws from ``random_state``: the initial state, the checkpoint,
        the shards (appended to ``shards``, which the caller releases) and the rounds."""
        state = ModelState.fresh(
            self.no_components, users.n_features, items.n_features, self.learning_schedule, self.random_state
        )
        seed = int(self.random_state.randint(0, 2**31 - 1))
        settings = {
            **{name: getattr(self, name) for name in LightFM._param_names() if name != "random_state"},
            "n_users": n_users,
            "n_items": n_items,
            "n_user_features": users.n_features,
            "n_item_features": items.n_features,
            "n_shards": n_shards,
            "syncs_per_epoch": self.syncs_per_epoch,
        }
        schedule = SyncSchedule(self.syncs_per_epoch)
        if checkpoint is not None and os.path.exists(checkpoint):
            state, seed, schedule = _load_checkpoint(checkpoint, settings)
            if schedule.epochs_done > epochs:
                raise ValueError(
                    f"checkpoint={os.fspath(checkpoint)!r} already holds {schedule.epochs_done:g} epochs, "
                    f"more than epochs={epochs}: pass epochs >= that, or another checkpoint path."
                )

        # Feature matrices go to every worker once; the shards are built where they will train.
        user_matrix = ship(client, users.matrix) if not users.identity else None
        item_feats = ship(client, items.arrays) if not items.identity else None
        parts = split_by_user(frame, columns, n_shards)
        for index, part in enumerate(parts):
            shard = _delayed(build_shard)(part, n_users, n_items, user_matrix, has_label, has_weight)
            shards.append(client.compute(shard, workers=[workers[index % len(workers)]], allow_other_workers=True))
        owners = client.gather([client.submit(shard_users, shard) for shard in shards])
        return self._train(client, workers, shards, owners, state, item_feats, users.identity, config,
                           seed, epochs, schedule, num_threads, checkpoint, settings, verbose)  # fmt: skip

    def _shape(self, client, frame, user_features, item_features, n_users, n_items):
        """(n_users, n_items): explicit, else the feature matrices' rows, else the largest index + 1."""
        for name, value in (("n_users", n_users), ("n_items", n_items)):
            if value is not None and not _is_positive_int(value):
                raise ValueError(f"{name} must be None or a positive integer, got {value!r}.")
        if n_users is None and user_features is not None:
            n_users = user_features.shape[0]
        if n_items is None and item_features is not None:
            n_items = item_features.shape[0]
        if n_users is None or n_items is None:
            user_max, item_max = client.gather(client.compute([frame["user"].max(), frame["item"].max()]))
            if user_max != user_max or item_max != item_max:  # NaN: no rows at all
                raise ValueError("interactions is empty: there is nothing to train on.")
            n_users = int(user_max) + 1 if n_users is None else n_users
            n_items = int(item_max) + 1 if n_items is None else n_items
        return n_users, n_items

    def _train(self, client, workers, shards, owners, state, item_feats, identity_users, config, seed, epochs,
               schedule, num_threads, checkpoint, settings, verbose):  # fmt: skip
        """The rounds: train every shard from the same shared parameters, then add up their changes."""
        from distributed import KilledWorker

        adadelta = config.learning_schedule == "adadelta"
        shared_sides = ("item",) if identity_users else ("item", "user")
        worker_of = [workers[index % len(workers)] for index in range(len(shards))]

        def ship_own_users():
            # Each shard's user rows stay on the workers between merges; shipping them as task data
            # (not scatter) lets Dask recompute them if their worker is lost.
            if not identity_users:
                return [None] * len(shards)
            return [ship(client, pack(Side(*(a[rows] for a in state.side("user"))), adadelta)) for rows in owners]

        own = ship_own_users()
        while schedule.epoch < epochs:
            epoch, chunk, start, stop = schedule.next_round()
            started = time.perf_counter()
            shared = ship(client, {side: pack(state.side(side), adadelta) for side in shared_sides})
            outputs = [
                client.submit(train_round, shard, shared, own[index], item_feats, config,
                              (epoch, chunk, start, stop, seed, index), num_threads,
                              workers=[worker_of[index]], allow_other_workers=True, pure=False)
                for index, shard in enumerate(shards)
            ]  # fmt: skip
            own = [client.submit(_part, out, 0, pure=False) if identity_users else None for out in outputs]
            deltas = [client.submit(_part, out, 1, pure=False) for out in outputs]
            # User rows come back at every checkpoint and epoch end (which also bounds the lineage
            # Dask would recompute after a lost worker), and at the end.
            fetch_users = identity_users and (checkpoint is not None or stop >= 1.0)
            try:
                results = client.gather(deltas)
                user_rows = client.gather(own) if fetch_users else None
            except KilledWorker as error:
                raise RuntimeError(
                    f"Training stopped in epoch {epoch}, round {chunk}: a task was lost with its worker too often "
                    f"({error}). The estimator keeps its previous model"
                    + (f"; rerun fit with checkpoint={os.fspath(checkpoint)!r} to resume." if checkpoint else ".")
                ) from error
            merged = ModelState()
            for side in ("item", "user"):
                merged.set_side(side, state.side(side))
            for side in shared_sides:
                total = [np.array(array, copy=True) for array in state.side(side)]
                for result in results:
                    for target, delta in zip(total, result[side], strict=True):
                        if delta is not None:
                            target += delta
                merged.set_side(side, Side(*total))
            if user_rows is not None:
                total = [np.array(array, copy=True) for array in state.side("user")]
                for rows, packed in zip(owners, user_rows, strict=True):
                    for target, values in zip(total, packed, strict=True):
                        if values is not None:
                            target[rows] = values
                merged.set_side("user", Side(*total))
            merged.check_finite(adadelta, epoch)
            stale = 0.0  # read by the adaptive schedule and the verbose line only
            if schedule.adaptive or verbose:
                before = state.arrays["item_embeddings"]
                total = merged.arrays["item_embeddings"] - before  # the deltas' sum, as merged above
                stale = staleness(before, [result["item"][0] for result in results], total)
            schedule.merged(stale)
            state = merged
            del shared, outputs, deltas, results
            if user_rows is not None:
                own = ship_own_users()
            if checkpoint is not None:
                _save_checkpoint(checkpoint, state, seed, schedule, settings)
            if verbose:
                print(f"epoch {epoch} round {chunk} [{start:.3f}, {stop:.3f}): staleness {stale:.4f}, "
                      f"{time.perf_counter() - started:.2f} s", flush=True)  # fmt: skip
        return state

    # -- results ---------------------------------------------------------------

    def fit_partial(self, *args, **kwargs):
        """Not available: :meth:`fit` trains on the cluster (and resumes from a ``checkpoint``).

        To train further on one machine, call ``to_local().fit_partial(...)``.

        Raises
        ------
        NotImplementedError
            Always.
        """
        raise NotImplementedError(
            "DaskLightFM trains with fit() (pass checkpoint= to resume); to train further on one machine, "
            "call to_local().fit_partial(...)."
        )

    def to_local(self) -> LightFM:
        """A plain :class:`lightfm.LightFM` with the trained parameters (a copy): save it, serve it.

        It keeps the hyperparameters, the random state and the feature
        matrices the model was fit with, so it serves as a model fit locally does.

        Raises
        ------
        ValueError
            If the model is not fitted.

        Examples
        --------
        >>> local = model.to_local()  # doctest: +SKIP
        >>> local.save("model.npz")  # doctest: +SKIP
        """
        if self._state is None or not self._state.is_fitted:
            raise ValueError("This DaskLightFM model is not fitted yet: call fit() first.")
        # Through LightFM's pickle protocol (what copy and pickle use), without the cluster settings.
        state = LightFM.__getstate__(self)
        for name in _ENGINE_PARAMS:
            state.pop(name, None)
        for name in PARAMETER_NAMES:
            state[name] = np.array(state[name], copy=True)
        local = LightFM.__new__(LightFM)
        local.__setstate__(state)
        return local

    def save(self, path, dataset=None, *, user_features=None, item_features=None, interactions=None):
        """Save the trained model as :meth:`lightfm.LightFM.save` does; :meth:`lightfm.LightFM.load` reads it."""
        self.to_local().save(path, dataset=dataset, user_features=user_features, item_features=item_features,
                             interactions=interactions)  # fmt: skip

    @classmethod
    def load(cls, path) -> LightFM:
        """Read a file :meth:`save` wrote: a plain :class:`lightfm.LightFM` (the file holds no cluster settings).

        Returns
        -------
        lightfm.LightFM
            As :meth:`lightfm.LightFM.load` returns it; ``DaskLightFM(...)`` with its
            hyperparameters trains it on a cluster again.
        """
        return LightFM.load(path)

    def recommend(self, user_ids, n=10, *, exclude=None, user_features=None, item_features=None, n_parts=None):
        """Top-``n`` items for each user, scored on the workers; see :func:`lightfm.dask.recommend`.

        Returns
        -------
        dask.dataframe.DataFrame
            Columns ``user``, ``rank``, ``item``, ``score`` (lazy: ``.compute()`` or ``.to_parquet()`` it).
        """
        return recommend(self, user_ids, n=n, exclude=exclude, user_features=user_features,
                         item_features=item_features, n_parts=n_parts, client=self.client)  # fmt: skip

    def __getstate__(self):
        # A client does not pickle (and would not be valid elsewhere).
        state = super().__getstate__()
        state["client"] = None
        return state

    def __repr__(self):
        return (
            f"DaskLightFM(loss={self.loss!r}, no_components={self.no_components}, "
            f"syncs_per_epoch={self.syncs_per_epoch})"
        )


def _part(pair, index):
    return pair[index]


def _delayed(function):
    import dask

    return dask.delayed(function, pure=True)


def _is_positive_int(value) -> bool:
    return is_int(value) and bool(value > 0)


_ENGINE_PARAMS = ("client", "syncs_per_epoch", "n_shards")


def _check_engine_params(device, client, syncs_per_epoch, n_shards) -> None:
    """ValueError naming the first invalid cluster setting (LightFM checks the hyperparameters)."""
    if device != "cpu":
        raise ValueError(
            f"device={device!r}: DaskLightFM trains with the CPU engine on every worker; pass device='cpu' "
            "(train on one GPU with lightfm.LightFM(device='cuda'))."
        )
    if client is not None:
        get_client(client)  # refuses anything but a Client
    if syncs_per_epoch is not None and not _is_positive_int(syncs_per_epoch):
        raise ValueError(
            f"syncs_per_epoch must be None (merge by staleness) or a positive integer, got {syncs_per_epoch!r}."
        )
    if n_shards is not None and not _is_positive_int(n_shards):
        raise ValueError(f"n_shards must be None or a positive integer, got {n_shards!r}.")


def _save_checkpoint(path, state, seed, schedule, settings):
    """Write the state after a merge to ``path`` as model files are written (a crash mid-write leaves the
    previous file, and no partial one)."""
    meta = json.dumps({"version": _CHECKPOINT_VERSION, "seed": seed, "schedule": schedule.to_dict(), **settings})
    write_atomic(path, lambda file: np.savez(file, metadata=np.array(meta), **state.arrays))


def _load_checkpoint(path, settings):
    """(state, seed, schedule) from a checkpoint written with the same ``settings``; ValueError otherwise."""
    try:
        with np.load(os.fspath(path), allow_pickle=False) as file:
            meta = json.loads(str(file["metadata"]))
            arrays = {name: np.ascontiguousarray(file[name]) for name in PARAMETER_NAMES}
    except (OSError, KeyError, ValueError) as error:
        raise ValueError(f"checkpoint={os.fspath(path)!r} is not a readable DaskLightFM checkpoint ({error}); "
                         "delete it or pass another path.") from None  # fmt: skip
    saved = {name: meta.get(name) for name in settings}
    if meta.get("version") != _CHECKPOINT_VERSION or saved != json.loads(json.dumps(settings)):
        changed = sorted(name for name in settings if saved.get(name) != json.loads(json.dumps(settings[name])))
        raise ValueError(
            f"checkpoint={os.fspath(path)!r} was written with other settings ({', '.join(changed) or 'version'}); "
            "resume with the same data and settings, or delete it (or pass another path) to start afresh."
        )
    state = ModelState(arrays)
    state.validate()
    return state, int(meta["seed"]), SyncSchedule(settings["syncs_per_epoch"], **meta["schedule"])
