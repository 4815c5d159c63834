"""The service's settings: one frozen record, passed to worker processes as JSON in the environment."""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass

# uvicorn starts each worker of ``--workers N`` as a new process that imports the app by name, so the
# settings travel in this environment variable (set by ``lightfm serve`` for its own workers).
ENVIRONMENT_VARIABLE = "LIGHTFM_SERVE_CONFIG"

DEFAULT_MAX_N = 1000
DEFAULT_MAX_BODY = 1 << 20  # bytes of a POST body
DEFAULT_MAX_BATCH = 64  # requests scored by one library call


@dataclass(frozen=True)
class ServeConfig:
    """What the service serves and its limits.

    Attributes
    ----------
    model : str
        The model file (``lightfm train`` output, or ``LightFM.save`` with a
        ``Dataset``); read again on every reload.
    item_names, item_col, name_col : str or None
        A table of item ids and names (``--item-names``) and its columns: a
        ``name`` joins every item in the answers. ``item_col`` None: the
        column the model was trained with, else ``item``, else the column
        holding the model's item ids.
    index : str or None
        A ``lightfm.ann.ItemIndex`` file: recommendations go through it.
    unknown_users : str
        ``"error"`` (404) or ``"popular"`` (the most popular items).
    max_n : int
        The largest ``n`` a request may ask for.
    max_body : int
        The largest POST body, in bytes.
    threads : int
        ``num_threads`` of each library call.
    max_batch : int
        Requests waiting at once are scored together, up to this many per call.
    workers : int
        uvicorn worker processes (the reload of one is passed on to all).
    supervisor_pid : int or None
        With several workers, the process supervising them (``lightfm serve``).
    """

    model: str
    item_names: str | None = None
    item_col: str | None = None
    name_col: str | None = None
    index: str | None = None
    unknown_users: str = "error"
    max_n: int = DEFAULT_MAX_N
    max_body: int = DEFAULT_MAX_BODY
    threads: int = 1
    max_batch: int = DEFAULT_MAX_BATCH
    workers: int = 1
    supervisor_pid: int | None = None

    def __post_init__(self):
        if self.unknown_users not in ("error", "popular"):
            raise ValueError(f"unknown_users must be 'error' or 'popular', got {self.unknown_users!r}")
        for name, minimum in (("max_n", 1), ("max_body", 1), ("threads", 1), ("max_batch", 1), ("workers", 1)):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
                raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ServeConfig:
        values = json.loads(text)
        names = {field.name for field in dataclasses.fields(cls)}
        if not isinstance(values, dict) or not set(values) <= names:
            raise ValueError(f"{ENVIRONMENT_VARIABLE} does not hold the service's settings")
        return cls(**values)

    @classmethod
    def from_environment(cls) -> ServeConfig:
        text = os.environ.get(ENVIRONMENT_VARIABLE)
        if not text:
            raise RuntimeError(
                f"{ENVIRONMENT_VARIABLE} is not set: start the service with 'lightfm serve MODEL' (it sets it for "
                "its worker processes)"
            )
        return cls.from_json(text)
