"""The HTTP endpoints (FastAPI): ``create_app(config)``, and the factory uvicorn's workers import.

FastAPI is imported when an app is created, not with this module, so that ``lightfm`` (and its
doctests) import without the ``serve`` extra.
"""

# No ``from __future__ import annotations``: FastAPI reads the endpoints' annotations (Request, Query) at
# runtime, and they are imported inside create_app.
import functools
import json
import logging
import math
import os
import signal
import threading

import numpy as np

from ..version import __version__
from ._config import ServeConfig
from ._model import LoadError, ServingError
from ._service import Service

logger = logging.getLogger("lightfm.serve")

# The longest id a query may give (ids are dictionary keys: longer ones are refused, not looked up).
MAX_ID_LENGTH = 1000
_POST_FIELDS = ("user", "items", "user_features", "n", "exclude_seen", "item_bias_weight")

DESCRIPTION = """Recommendations from a LightFM model file written by `lightfm train` or `LightFM.save` with a
`Dataset`, in the ids of that file.

* `GET /recommend?user=ID` for a user the model knows (their seen items left out), `POST /recommend`
  with `{"items": [...]}` for one it has never seen (folded in from those items; nothing is stored).
* `GET /similar?item=ID`, `GET /explain?user=ID&item=ID`, `GET /health`.
* `POST /reload` (or the signal SIGHUP) serves the model file's new version; requests in flight finish on
  the old one, and a file that fails to load leaves the old one serving.

Errors are JSON objects with a `detail` message: 404 for an unknown user or item, 422 for malformed
input or an `n` above the service's cap, 413 for a body above its cap.
"""


def _json(value, status: int = 200):
    from fastapi.responses import Response

    text = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return Response(text.encode("utf-8"), status_code=status, media_type="application/json")


def _error(code: int, message: str, /, **extra):
    return _json({"detail": message, **extra}, code)


def _shown(value) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _validation_message(errors) -> str:
    """FastAPI's list of validation errors as one sentence naming each parameter."""
    parts = []
    for error in errors:
        location = [str(part) for part in error.get("loc", ())]
        if len(location) >= 2 and location[0] == "query":
            where = f"query parameter {location[1]!r}"
        elif location and location[0] == "body":
            where = "body" + "".join(f"[{part!r}]" for part in location[1:])
        else:
            where = ".".join(location) or "request"
        got = f" (got {_shown(error['input'])})" if "input" in error and error.get("type") != "missing" else ""
        parts.append(f"{where}: {error.get('msg', 'invalid')}{got}")
    return "; ".join(parts) or "invalid request"


# -- the scoring calls the batcher makes: many requests of one model version and options at once -------


def _run_known(served, weight, payloads):
    users = np.array([user for user, _, _ in payloads], dtype=np.int64)
    exclude = np.array([excluded for _, _, excluded in payloads], dtype=bool)
    n = max(count for _, count, _ in payloads)
    items, scores = served.recommend_known(users, exclude, n, weight)
    return [(items[row, :count], scores[row, :count]) for row, (_, count, _) in enumerate(payloads)]


def _run_new(served, weight, payloads):
    item_rows = [items for items, _, _ in payloads]
    feature_rows = None
    if any(features is not None for _, features, _ in payloads):
        empty = np.zeros(0, dtype=np.int64)
        feature_rows = [empty if features is None else features for _, features, _ in payloads]
    n = max(count for _, _, count in payloads)
    items, scores = served.recommend_new(item_rows, feature_rows, n, weight)
    return [(items[row, :count], scores[row, :count]) for row, (_, _, count) in enumerate(payloads)]


def _run_similar(served, payloads):
    items = np.array([item for item, _ in payloads], dtype=np.int64)
    n = max(count for _, count in payloads)
    found, similarities = served.similar(items, n)
    return [(found[row, :count], similarities[row, :count]) for row, (_, count) in enumerate(payloads)]


# -- request checks ------------------------------------------------------------------------------


def _check_n(value, max_n: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
        raise ServingError(422, f"'n' must be a whole number from 1 to {max_n}, got {_shown(value)}")
    if not 1 <= value <= max_n:
        raise ServingError(422, f"'n' must be from 1 to {max_n} (the service's cap, --max-n), got {int(value)}")
    return int(value)


def _check_weight(value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ServingError(
            422, f"'item_bias_weight' must be a number >= 0 (1: the model's own item biases), got {_shown(value)}"
        )
    return float(value)


def _check_ids(values, field: str) -> list:
    if not isinstance(values, list):
        raise ServingError(422, f"{field!r} must be a list of ids, got {_shown(values)}")
    bad = [value for value in values if isinstance(value, bool) or not isinstance(value, (str, int, float))]
    if bad:
        raise ServingError(422, f"{field!r} must hold ids (strings or numbers), got {_shown(bad[0])}")
    return values


async def _read_json(request, limit: int):
    """The request's JSON body, at most ``limit`` bytes (413 above it, before reading further)."""
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise ServingError(413, f"the body is {int(length):,} bytes; the service takes at most {limit:,} (--max-body)")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ServingError(413, f"the body is over {limit:,} bytes, the service's cap (--max-body)")
        chunks.append(chunk)
    body = b"".join(chunks)
    if not body.strip():
        raise ServingError(422, 'the body is empty: send a JSON object such as {"items": ["id1", "id2"], "n": 10}')
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as error:
        raise ServingError(422, f"the body is not valid JSON: {error}") from None


def _parameter(name: str, schema: dict, description: str, required: bool = False) -> dict:
    """An OpenAPI query parameter (for the endpoints that read their query strings themselves)."""
    return {"name": name, "in": "query", "required": required, "schema": schema, "description": description}


def _query_id(query, name: str) -> str:
    value = query.get(name)
    if value is None:
        raise ServingError(422, f"query parameter {name!r} is required: ?{name}=ID")
    if not 1 <= len(value) <= MAX_ID_LENGTH:
        raise ServingError(422, f"query parameter {name!r} must have 1 to {MAX_ID_LENGTH} characters, got {len(value)}")
    return value


def _query_int(query, name: str, default: int, maximum: int) -> int:
    text = query.get(name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise ServingError(
            422, f"query parameter {name!r} must be a whole number from 1 to {maximum}, got {_shown(text)}"
        ) from None
    if not 1 <= value <= maximum:
        raise ServingError(
            422, f"query parameter {name!r} must be from 1 to {maximum} (the service's cap, --max-n), got {value}"
        )
    return value


_TRUE = frozenset(("true", "1", "yes", "on", "t", "y"))
_FALSE = frozenset(("false", "0", "no", "off", "f", "n"))


def _query_bool(query, name: str):
    text = query.get(name)
    if text is None:
        return None
    lowered = text.strip().lower()
    if lowered in _TRUE or lowered in _FALSE:
        return lowered in _TRUE
    raise ServingError(422, f"query parameter {name!r} must be true or false, got {_shown(text)}")


def _query_weight(query, name: str) -> float:
    text = query.get(name)
    if text is None:
        return 1.0
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value >= 0):
        raise ServingError(
            422, f"query parameter {name!r} must be a number >= 0 (1: the model's own item biases), got {_shown(text)}"
        )
    return value


def _schemas():
    """The pydantic models of the answers and of the POST body, for the OpenAPI page (/docs)."""
    from pydantic import BaseModel, ConfigDict, Field

    Id = str | int | float

    class Health(BaseModel):
        status: str = Field(examples=["ok"])
        model: str = Field(description="the model file's name")
        users: int
        items: int
        loaded_at: str = Field(description="when the served version was loaded (UTC, ISO 8601)")
        seen_items: bool = Field(description="whether the file holds the training interactions (seen items)")
        user_features: bool
        item_names: bool
        index: str | None
        generation: int = Field(description="versions loaded by this worker process (1 at start)")
        pid: int
        last_reload: dict | None
        scoring: dict = Field(description="library calls made and requests they answered (several share a call)")

    class Item(BaseModel):
        item: Id
        score: float | None = Field(description="the model's score (null for the popular-items fallback)")
        name: str | None = Field(None, description="with --item-names")

    class Recommendations(BaseModel):
        user: Id | None = Field(description="the user (null for a new user folded in from items)")
        items: list[Item]
        fallback: str | None = Field(None, description="'popular' where the user is unknown (--unknown-users)")
        unknown_items: list[Id] | None = Field(None, description="given items the model does not know (ignored)")

    class Neighbour(BaseModel):
        item: Id
        similarity: float
        name: str | None = None

    class Similar(BaseModel):
        item: Id
        items: list[Neighbour]

    class Pair(BaseModel):
        user_feature: Id | None
        item_feature: Id | None
        contribution: float

    class Explanation(BaseModel):
        user: Id
        item: Id
        score: float
        user_bias: float
        item_bias: float
        pairs: list[Pair]
        rest: float = Field(description="the sum of the pairs not listed")
        n_pairs: int

    class NewUser(BaseModel):
        """A user the model has never seen, by the items they had (and their user features), or a known user."""

        model_config = ConfigDict(extra="forbid")
        items: list[Id] | None = Field(
            None,
            description="the new user's items (external ids): folded in, never recommended back; ids the model "
            "does not know are ignored and listed",
        )
        user_features: list[Id] | None = Field(
            None, description="the new user's features by name (a model fit with user features)"
        )
        user: Id | None = Field(None, description="instead of items: a known user (as GET /recommend)")
        n: int = Field(10, ge=1)
        exclude_seen: bool | None = Field(None, description="with 'user': leave out their seen items (default yes)")
        item_bias_weight: float = Field(1.0, ge=0)

    class Error(BaseModel):
        detail: str | list

    class Reloaded(BaseModel):
        status: str = Field(examples=["reloaded"])

    return {
        "Health": Health, "Recommendations": Recommendations, "Similar": Similar, "Explanation": Explanation,
        "NewUser": NewUser, "Error": Error, "Reloaded": Reloaded,
    }  # fmt: skip


def create_app(config: ServeConfig | None = None, *, service: Service | None = None):
    """The FastAPI app serving ``config.model`` (or ``service``, a loaded one).

    Parameters
    ----------
    config : ServeConfig, optional
        What to serve; by default ``service.config``.
    service : Service, optional
        A loaded service (``Service(config)``); by default one is loaded here.

    Returns
    -------
    fastapi.FastAPI
    """
    try:
        import anyio.to_thread
        from fastapi import FastAPI, Query, Request
        from fastapi.encoders import jsonable_encoder
        from fastapi.exceptions import RequestValidationError
    except ImportError:
        raise ImportError('the recommendation service needs FastAPI: pip install "lightfm-ng[serve]"') from None
    if service is None:
        if config is None:
            raise ValueError("create_app needs a config or a service")
        service = Service(config)
    config = service.config
    max_n = config.max_n
    schemas = _schemas()
    errors = {
        404: {"model": schemas["Error"], "description": "unknown user or item"},
        422: {"model": schemas["Error"], "description": "malformed input, or n above the cap"},
    }
    app = FastAPI(title="lightfm recommendation service", version=__version__, description=DESCRIPTION)
    app.state.service = service

    @app.exception_handler(ServingError)
    async def serving_error(request, error: ServingError):
        return _error(error.status, error.message)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request, error: RequestValidationError):
        details = error.errors()
        return _error(422, _validation_message(details), errors=jsonable_encoder(details))

    @app.get("/health", response_model=schemas["Health"], summary="The served model and this worker")
    async def health():
        return _json(service.health())

    async def known_user(user, n: int, exclude_seen, weight: float):
        served = service.current
        position = served.user(user)
        if position < 0:
            if config.unknown_users == "popular":
                return _json({"user": user, "items": served.popular_records(n), "fallback": "popular"})
            raise ServingError(404, f"user {_shown(user)} is not in the model")
        if exclude_seen and served.seen is None:
            raise ServingError(
                422, f"{served.describe()['model']} holds no training interactions, so exclude_seen cannot work"
            )
        exclude = served.seen is not None if exclude_seen is None else bool(exclude_seen)
        run = functools.partial(_run_known, served, weight)
        items, scores = await service.batcher.submit(("known", served, weight), (position, n, exclude), run)
        return _json({"user": served.user_ids[position], "items": served.records(items, scores)})

    # The two busiest endpoints read their query strings themselves: FastAPI's validation of declared
    # parameters costs about 0.2 ms a request, as much as the rest of the request's Python. They are
    # documented for /docs as declared ones would be, and refused with the same 422s.
    recommend_parameters = [
        _parameter("user", {"type": "string", "minLength": 1, "maxLength": MAX_ID_LENGTH}, "the user's id", True),
        _parameter("n", {"type": "integer", "minimum": 1, "maximum": max_n, "default": 10}, "how many items"),
        _parameter(
            "exclude_seen",
            {"type": "boolean"},
            "leave out the user's items from the model file (default: yes, where it holds them)",
        ),
        _parameter(
            "item_bias_weight",
            {"type": "number", "minimum": 0, "default": 1.0},
            "scale of the item biases (popularity): 1 the model's own, 0 none",
        ),
    ]

    @app.get(
        "/recommend",
        response_model=schemas["Recommendations"],
        responses=errors,
        summary="Top n items for a user the model knows",
        openapi_extra={"parameters": recommend_parameters},
    )
    async def recommend(request: Request):
        query = request.query_params
        user = _query_id(query, "user")
        n = _query_int(query, "n", 10, max_n)
        exclude_seen = _query_bool(query, "exclude_seen")
        weight = _query_weight(query, "item_bias_weight")
        return await known_user(user, n, exclude_seen, weight)

    @app.post(
        "/recommend",
        response_model=schemas["Recommendations"],
        responses={**errors, 413: {"model": schemas["Error"], "description": "body above the cap"}},
        summary="Top n items for a user the model has never seen, from their items",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": schemas["NewUser"].model_json_schema()}},
            }
        },
    )
    async def recommend_new(request: Request):
        body = await _read_json(request, config.max_body)
        if not isinstance(body, dict):
            raise ServingError(
                422, f'the body must be a JSON object such as {{"items": ["id1"], "n": 10}}, got {_shown(body)}'
            )
        unknown_fields = [field for field in body if field not in _POST_FIELDS]
        if unknown_fields:
            raise ServingError(422, f"unknown field {unknown_fields[0]!r}: the body takes {', '.join(_POST_FIELDS)}")
        n = _check_n(body.get("n", 10), max_n)
        weight = _check_weight(body.get("item_bias_weight", 1.0))
        user, items, features = body.get("user"), body.get("items"), body.get("user_features")
        exclude_seen = body.get("exclude_seen")
        if exclude_seen is not None and not isinstance(exclude_seen, bool):
            raise ServingError(422, f"'exclude_seen' must be true or false, got {_shown(exclude_seen)}")
        if user is not None:
            if items is not None or features is not None:
                raise ServingError(422, "give either 'user' (a known user) or 'items' (a new user's items), not both")
            if isinstance(user, bool) or not isinstance(user, (str, int, float)):
                raise ServingError(422, f"'user' must be an id (a string or a number), got {_shown(user)}")
            return await known_user(user, n, exclude_seen, weight)
        if exclude_seen is not None:
            raise ServingError(
                422, "'exclude_seen' is for a known 'user': a new user's items are never recommended back"
            )
        items = _check_ids([] if items is None else items, "items")
        features = None if features is None else _check_ids(features, "user_features")
        if not items and not features:
            raise ServingError(422, 'give the new user\'s "items" (item ids), or "user" for a known user')
        served = service.current
        columns = served.user_feature_columns(features) if features else None
        positions = [served.item(item) for item in items]
        unknown = [item for item, position in zip(items, positions, strict=True) if position < 0]
        known = np.unique(np.array([p for p in positions if p >= 0], dtype=np.int64))
        answer: dict = {"user": None}
        if known.size == 0 and columns is None:
            if config.unknown_users == "popular":
                answer.update(items=served.popular_records(n), fallback="popular", unknown_items=unknown)
                return _json(answer)
            raise ServingError(422, f"none of the {len(items)} items is in the model (first: {_shown(items[0])})")
        run = functools.partial(_run_new, served, weight)
        found, scores = await service.batcher.submit(("new", served, weight), (known, columns, n), run)
        answer["items"] = served.records(found, scores)
        if unknown:
            answer["unknown_items"] = unknown
        return _json(answer)

    similar_parameters = [
        _parameter("item", {"type": "string", "minLength": 1, "maxLength": MAX_ID_LENGTH}, "the item's id", True),
        _parameter("n", {"type": "integer", "minimum": 1, "maximum": max_n, "default": 10}, "how many items"),
    ]

    @app.get(
        "/similar",
        response_model=schemas["Similar"],
        responses=errors,
        summary="The n items most like one item (cosine of their representations)",
        openapi_extra={"parameters": similar_parameters},
    )
    async def similar(request: Request):
        query = request.query_params
        item = _query_id(query, "item")
        n = _query_int(query, "n", 10, max_n)
        served = service.current
        position = served.item(item)
        if position < 0:
            raise ServingError(404, f"item {_shown(item)} is not in the model")
        run = functools.partial(_run_similar, served)
        found, similarities = await service.batcher.submit(("similar", served), (position, n), run)
        return _json({"item": served.item_ids[position], "items": served.records(found, similarities, "similarity")})

    @app.get(
        "/explain",
        response_model=schemas["Explanation"],
        responses=errors,
        summary="A score split into both biases and its (user feature, item feature) contributions",
    )
    async def explain(
        user: str = Query(..., min_length=1, max_length=MAX_ID_LENGTH),
        item: str = Query(..., min_length=1, max_length=MAX_ID_LENGTH),
        top: int = Query(10, ge=1, le=100_000, description="pairs listed, the largest; the others are summed"),
    ):
        served = service.current
        position = served.user(user)
        if position < 0:
            raise ServingError(404, f"user {_shown(user)} is not in the model")
        item_position = served.item(item)
        if item_position < 0:
            raise ServingError(404, f"item {_shown(item)} is not in the model")
        why = await anyio.to_thread.run_sync(served.explain, position, item_position, top)
        return _json(
            {
                "user": served.user_ids[position],
                "item": served.item_ids[item_position],
                "score": why.score,
                "user_bias": why.user_bias,
                "item_bias": why.item_bias,
                "pairs": [{"user_feature": f, "item_feature": g, "contribution": value} for f, g, value in why.pairs],
                "rest": why.rest,
                "n_pairs": why.n_pairs,
            }
        )

    @app.post(
        "/reload",
        response_model=schemas["Reloaded"],
        responses={500: {"model": schemas["Error"], "description": "the file failed to load: the old model serves on"}},
        summary="Serve the model file's new version",
    )
    async def reload():
        try:
            answer = await anyio.to_thread.run_sync(service.reload, "POST /reload")
        except LoadError as error:
            return _error(
                500,
                f"reload failed: {error}; still serving the version loaded at {service.current.loaded_at}",
                status="failed",
                serving=service.health(),
            )
        if config.workers > 1 and config.supervisor_pid and os.getppid() == config.supervisor_pid:
            # The other workers reload when the supervisor passes this on (each loads the file itself).
            os.kill(config.supervisor_pid, signal.SIGHUP)
            answer["workers"] = config.workers
        return _json(answer)

    # The busiest endpoints are called straight from the outermost layer: routing through FastAPI (its
    # router, exception and exit-stack middleware) cost about as much CPU as the rest of the request.
    # Their FastAPI routes stay registered for /docs; the answers, errors included, are the same.
    app.add_middleware(
        _Direct,
        routes={("GET", "/recommend"): recommend, ("POST", "/recommend"): recommend_new, ("GET", "/similar"): similar},
    )
    return app


class _Direct:
    """ASGI middleware: ``routes`` (``{(method, path): endpoint(request)}``) answered without FastAPI's routing;
    a ServingError as the service's JSON error; every other request passed on to the app."""

    def __init__(self, app, routes: dict):
        from starlette.requests import Request

        self.app, self.routes, self.request = app, routes, Request

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            endpoint = self.routes.get((scope["method"], scope["path"]))
            if endpoint is not None:
                try:
                    response = await endpoint(self.request(scope, receive))
                except ServingError as error:
                    response = _error(error.status, error.message)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def install_reload_signal(service: Service) -> bool:
    """SIGHUP reloads the model file (in the background); only from the main thread, where signals are handled."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "SIGHUP"):
        return False
    signal.signal(signal.SIGHUP, lambda signum, frame: service.reload_in_background("SIGHUP"))
    return True


def app_from_environment():
    """The app of one worker process of ``lightfm serve --workers N`` (uvicorn imports it by this name).

    Its settings come from ``$LIGHTFM_SERVE_CONFIG``; it loads the model file and reloads it on SIGHUP
    (which the supervising process passes on to every worker).
    """
    from ._server import freeze_heap, limit_blas_threads

    config = ServeConfig.from_environment()
    limit_blas_threads(config.threads)
    try:
        service = Service(config)
    except LoadError as error:
        logger.error("cannot serve %s: %s", config.model, error)
        raise
    install_reload_signal(service)
    app = create_app(service=service)
    freeze_heap()
    return app
