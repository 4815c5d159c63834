"""The Dask client an estimator or a metric runs on (LightGBM's ``_get_dask_client`` convention)."""

from __future__ import annotations

import atexit
import logging
import threading
import warnings

from distributed import Client, LocalCluster, default_client

_EMBEDDED: dict = {}
_LOCK = threading.Lock()


def get_client(client=None) -> Client:
    """``client``, else the current ``dask.distributed`` client, else one on an embedded ``LocalCluster``.

    The embedded cluster (one worker process per core, one thread each) is
    started once per process, becomes the default client, and is closed at exit.
    """
    if client is not None:
        if not isinstance(client, Client):
            raise ValueError(f"client must be a distributed.Client or None, got {type(client).__name__}.")
        return client
    try:
        return default_client()
    except ValueError:
        pass
    with _LOCK:
        if "client" not in _EMBEDDED:
            cluster = LocalCluster(threads_per_worker=1, processes=True, dashboard_address=None)
            _EMBEDDED["cluster"] = cluster
            _EMBEDDED["client"] = Client(cluster, set_as_default=True)
            atexit.register(_close_embedded)
        return _EMBEDDED["client"]


def connect(scheduler=None, workers=None, threads_per_worker=1) -> Client:
    """A client for the ``lightfm`` command's ``--scheduler ADDRESS`` or ``--workers N``.

    Parameters
    ----------
    scheduler : str, optional
        The address of a running scheduler (``tcp://host:8786``), as printed by
        ``dask scheduler``, dask-jobqueue or a Kubernetes ``DaskCluster``.
    workers : int, optional
        Without ``scheduler``: start a ``LocalCluster`` of this many worker
        processes (default: one per core), owned by the client.
    threads_per_worker : int, default 1
        Threads of each local worker.

    Returns
    -------
    distributed.Client
        Use it as a context manager (or call ``close()``): closing it also
        stops a cluster it started.

    Examples
    --------
    >>> from lightfm.dask import DaskLightFM, connect
    >>> with connect(workers=2) as client:  # doctest: +SKIP
    ...     DaskLightFM(loss="warp", client=client).fit("train/*.parquet", epochs=10).save("model.npz")
    """
    if scheduler is not None and workers is not None:
        raise ValueError("Pass either scheduler= (a running cluster) or workers= (a local one), not both.")
    if scheduler is not None:
        if not isinstance(scheduler, str) or not scheduler:
            raise ValueError(f"scheduler must be an address such as 'tcp://host:8786', got {scheduler!r}.")
        return Client(scheduler, set_as_default=False)
    if workers is not None and (not isinstance(workers, int) or isinstance(workers, bool) or workers < 1):
        raise ValueError(f"workers must be a positive integer, got {workers!r}.")
    return Client(
        n_workers=workers,
        threads_per_worker=threads_per_worker,
        processes=True,
        dashboard_address=":0",
        set_as_default=False,
        silence_logs=logging.ERROR,  # a command's output is its tables, not the workers' shutdown chatter
    )


def identity(value):
    """``value`` itself: the task that holds data in a graph (see :func:`ship`)."""
    return value


def ship(client: Client, value):
    """A future holding ``value``, for tasks on any worker to share.

    Not ``client.scatter``: scattered data has no lineage, so it is lost with its
    worker (and a broadcast to a worker that just died can hang). A task whose
    spec holds the value is recomputed by the scheduler wherever it is needed.
    """
    with warnings.catch_warnings():
        # Dask's advice against large graphs is about data that could be loaded by the workers; here
        # the data in the task is the point (it is what a retry recomputes from).
        warnings.filterwarnings("ignore", message="Sending large graph", category=UserWarning)
        return client.submit(identity, value, pure=False)


def _close_embedded():
    client, cluster = _EMBEDDED.pop("client", None), _EMBEDDED.pop("cluster", None)
    if client is not None:
        client.close()
    if cluster is not None:
        cluster.close()


def worker_addresses(client: Client) -> list:
    """The workers' addresses, sorted (so that shard ``i`` always asks for the same worker)."""
    workers = sorted(client.scheduler_info(n_workers=-1)["workers"]) if _takes_n_workers() else None
    if workers is None:
        workers = sorted(client.scheduler_info()["workers"])
    if not workers:
        raise ValueError("The Dask cluster has no workers: start some (or pass client= with workers) before fitting.")
    return workers


def _takes_n_workers() -> bool:
    import inspect

    return "n_workers" in inspect.signature(Client.scheduler_info).parameters
