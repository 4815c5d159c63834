"""The served version of the model and its atomic replacement (``POST /reload``, SIGHUP)."""

from __future__ import annotations

import datetime
import gc
import logging
import os
import threading

from ._batcher import Batcher
from ._config import ServeConfig
from ._model import LoadError, ServedModel

logger = logging.getLogger("lightfm.serve")


class Service:
    """What a worker process serves: ``current`` (a :class:`ServedModel`), replaced whole on reload.

    A request reads ``current`` once and uses that version to the end, so a reload never changes
    a model under a request in flight; a version that fails to load replaces nothing.
    """

    def __init__(self, config: ServeConfig, served: ServedModel | None = None):
        self.config = config
        self.current = served if served is not None else ServedModel.load(config)
        self.generation = 1  # versions loaded by this process
        self.batcher = Batcher(config.max_batch)
        self.last_reload: dict | None = None
        self._lock = threading.Lock()

    def health(self) -> dict:
        return {
            "status": "ok",
            **self.current.describe(),
            "generation": self.generation,
            "pid": os.getpid(),
            "last_reload": self.last_reload,
            # Library calls the batcher made, and the requests they answered (their ratio: the mean batch).
            "scoring": {"calls": self.batcher.calls, "requests": self.batcher.jobs},
        }

    def reload(self, source: str, only_if_changed: bool = False) -> dict:
        """Load the model file again and serve it; LoadError (logged) leaves the current version serving.

        ``only_if_changed``: keep the current version if the files are the ones it was loaded from
        (a worker told to reload by another one that has reloaded already, or a repeated SIGHUP).
        """
        with self._lock:
            old = self.current
            now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")
            if only_if_changed and old.unchanged():
                logger.info("reload (%s): %s is unchanged; still serving it", source, self.config.model)
                return {**self.health(), "status": "unchanged"}
            try:
                new = ServedModel.load(self.config)
            except Exception as error:  # noqa: BLE001 - whatever fails to load, the old version serves on
                message = (str(error).splitlines()[0] if str(error) else type(error).__name__).rstrip(".")
                if not isinstance(error, LoadError):
                    message = f"{type(error).__name__}: {message}"
                self.last_reload = {"at": now, "source": source, "ok": False, "error": message}
                logger.error(
                    "reload (%s) failed: %s; still serving the version loaded at %s", source, message, old.loaded_at
                )
                raise LoadError(message) from error
            self.current = new
            self.generation += 1
            if gc.get_freeze_count():  # the service froze its heap at start (see _server.freeze_heap)
                gc.freeze()  # the new version's look-ups too (the old one is freed as usual)
            self.last_reload = {"at": now, "source": source, "ok": True, "error": None}
            logger.info(
                "reload (%s): now serving %s (%s users, %s items; loaded at %s)",
                source, self.config.model, f"{new.n_users:,}", f"{new.n_items:,}", new.loaded_at,
            )  # fmt: skip
            return {**self.health(), "status": "reloaded"}

    def reload_in_background(self, source: str) -> None:
        """A reload on its own thread (from a signal handler: the event loop is not held up)."""

        def work():
            try:
                self.reload(source, only_if_changed=True)
            except LoadError:
                pass  # logged

        threading.Thread(target=work, name="lightfm-serve-reload", daemon=True).start()
