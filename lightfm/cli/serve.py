"""``lightfm serve``: the recommendation service (FastAPI on uvicorn) for a model file."""

from __future__ import annotations

import ipaddress
import os
import sys

from ._io import CLIError


def _check_extra() -> None:
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as error:
        missing = error.name or "FastAPI and uvicorn"
        raise CLIError(f'lightfm serve needs {missing}: pip install "lightfm-ng[serve]"') from None


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def run_serve(args) -> int:
    _check_extra()
    from ..serve._config import ServeConfig
    from ..serve._model import LoadError, ServedModel
    from ..serve._server import bind, serve

    for option, value, minimum in (
        ("--workers", args.workers, 1), ("--max-n", args.max_n, 1), ("--max-body", args.max_body, 1),
        ("--threads", args.threads, 1), ("--port", args.port, 0),
    ):  # fmt: skip
        if value < minimum:
            raise CLIError(f"{option} must be at least {minimum}, got {value}")
    if args.port > 65535:
        raise CLIError(f"--port must be at most 65535, got {args.port}")
    index = getattr(args, "index", None)
    if index and not os.path.isfile(index):
        what = "is a folder" if os.path.isdir(index) else "not found"
        raise CLIError(f"--index {index}: {what}; build it with 'lightfm index {args.model} -o {index}'")
    if args.item_names and not os.path.isfile(args.item_names):
        raise CLIError(f"names file not found: {args.item_names}")
    config = ServeConfig(
        model=os.path.abspath(args.model),
        item_names=os.path.abspath(args.item_names) if args.item_names else None,
        item_col=args.item_col,
        name_col=args.name_col,
        index=os.path.abspath(index) if index else None,
        unknown_users=args.unknown_users,
        max_n=args.max_n,
        max_body=args.max_body,
        threads=args.threads,
        workers=args.workers,
    )
    try:
        served = ServedModel.load(config)
    except LoadError as error:
        message = str(error).replace(config.model, args.model)
        raise CLIError(message.replace(config.index, index) if index else message) from None
    try:
        sock = bind(args.host, args.port)
    except OSError as error:
        raise CLIError(f"cannot listen on {args.host}:{args.port}: {error.strerror or error}") from None
    port = sock.getsockname()[1]
    host = f"[{args.host}]" if ":" in args.host else args.host
    workers = f", {args.workers} worker processes" if args.workers > 1 else ""
    print(
        f"Serving {args.model} ({served.n_users:,} users, {served.n_items:,} items{workers}) on http://{host}:{port} "
        f"(API docs: http://{host}:{port}/docs; Ctrl-C stops, SIGHUP or POST /reload reloads the file)",
        file=sys.stderr,
        flush=True,
    )
    if not _loopback(args.host):
        print(
            f"warning: listening on {args.host}, beyond this machine: the service has no authentication; put it "
            "behind a proxy or firewall that decides who may call it",
            file=sys.stderr,
            flush=True,
        )
    if args.workers > 1:
        served = None  # each worker loads its own
    serve(config, served, sock=sock, access_log=args.access_log, log_level=args.log_level)
    return 0
