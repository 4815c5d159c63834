"""Running the service on uvicorn: one process, or a supervisor and N worker processes."""

from __future__ import annotations

import copy
import dataclasses
import gc
import logging
import os
import signal
import socket
import sys

from ._config import ENVIRONMENT_VARIABLE, ServeConfig
from ._model import ServedModel

logger = logging.getLogger("lightfm.serve")

# Seconds a stopping worker waits for requests in flight (then closes their connections).
GRACEFUL_SHUTDOWN_S = 10


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0: a free one), as uvicorn binds one; OSError if taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP, not 0: asyncio turns Nagle's algorithm off (TCP_NODELAY) only on connections whose
    # socket says TCP; with it on, an answer written in two parts (headers, body) waits ~40 ms for the
    # client's delayed acknowledgement.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def limit_blas_threads(threads: int) -> None:
    """BLAS on ``threads`` threads in this process (the service's ``--threads``, default 1).

    Requests run in parallel as requests (several per scoring call); BLAS threads on top of that only
    compete with them for the cores, and OpenBLAS's idle threads spin after each product: with its
    default of one thread per core, a served 10,000-item model cost 2 ms of CPU a request instead of 0.6.
    """
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=threads, user_api="blas")


def freeze_heap() -> None:
    """Move everything allocated so far (modules, the model's id look-ups) out of the garbage collector's
    reach: its full collections then walk only what requests allocate, instead of pausing the service for
    tens of milliseconds now and then (they set the 99th-percentile latency). Objects are still freed
    as usual when unreferenced."""
    gc.collect()
    gc.freeze()


def log_config(level: str = "info") -> dict:
    """uvicorn's logging, with the service's own messages (loads, reloads) on the same stream."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["lightfm.serve"] = {"handlers": ["default"], "level": level.upper(), "propagate": False}
    return config


def _supervisor_class():
    from uvicorn.supervisors.multiprocess import Multiprocess

    class Supervisor(Multiprocess):
        """uvicorn's worker supervisor (it replaces a worker that dies), except that SIGHUP is passed on to
        every worker, each of which reloads the model file in place: no worker is restarted, no
        connection dropped. (uvicorn's own SIGHUP restarts every worker.)"""

        def handle_hup(self) -> None:
            logger.info("Received SIGHUP: every worker reloads the model file")
            for process in self.processes:
                if process.pid is not None and process.process.is_alive():
                    try:
                        os.kill(process.pid, signal.SIGHUP)
                    except ProcessLookupError:  # it just died: the supervisor starts a new one
                        pass

    return Supervisor


def serve(
    config: ServeConfig,
    served: ServedModel | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    access_log: bool = False,
    log_level: str = "info",
    sock: socket.socket | None = None,
) -> None:
    """Serve until Ctrl-C or SIGTERM. ``served``: the model, loaded already (one worker); ``sock``: bound already."""
    import uvicorn

    from ._service import Service
    from .app import app_from_environment, create_app, install_reload_signal

    sock = sock or bind(host, port)
    limit_blas_threads(config.threads)
    options = {
        "log_config": log_config(log_level),
        "log_level": log_level,
        "access_log": access_log,
        "timeout_graceful_shutdown": GRACEFUL_SHUTDOWN_S,
        "lifespan": "off",
        "server_header": False,
    }
    if config.workers == 1:
        service = Service(config, served)
        app = create_app(service=service)
        server = uvicorn.Server(uvicorn.Config(app, **options))
        install_reload_signal(service)
        freeze_heap()
        server.run(sockets=[sock])
        return
    config = dataclasses.replace(config, supervisor_pid=os.getpid())
    os.environ[ENVIRONMENT_VARIABLE] = config.to_json()
    target = f"{app_from_environment.__module__}:{app_from_environment.__name__}"
    uv_config = uvicorn.Config(target, factory=True, workers=config.workers, **options)
    try:
        _supervisor_class()(uv_config, sockets=[sock]).run()
    except KeyboardInterrupt:  # pragma: no cover - Ctrl-C reaches the supervisor as a signal it handles
        pass
    finally:
        sys.stderr.flush()
