"""Run the real ``lightfm`` command, sending itself SIGINT at one chosen call: Ctrl-C at a moment
chosen by the test, not by timing. Nothing of the command is replaced; one function it calls is
wrapped so that the process signals itself (``os.kill``, as a terminal's Ctrl-C does) when it is
called for the N-th time, then runs it.

    python interrupt_at.py MODULE:NAME[@N] [--system-error] -- ARGUMENTS OF lightfm ...

NAME may be ``Class.method``. With ``--system-error`` the KeyboardInterrupt comes out of the call
the way CPython reports a signal that lands inside a compiled (Numba) function: as a SystemError
("returned a result with an exception set") caused by the KeyboardInterrupt.
"""

import importlib
import os
import signal
import sys


def wrap(spec: str, system_error: bool) -> None:
    target, _, nth = spec.partition("@")
    module_name, _, attribute = target.partition(":")
    owner = importlib.import_module(module_name)
    *path, name = attribute.split(".")
    for part in path:
        owner = getattr(owner, part)
    real = getattr(owner, name)
    calls = 0

    def interrupted(*args, **kwargs):
        nonlocal calls
        calls += 1
        if calls != int(nth or 1):
            return real(*args, **kwargs)
        print(f"[interrupt_at] SIGINT at call {calls} of {target}", file=sys.stderr, flush=True)
        if not system_error:
            os.kill(os.getpid(), signal.SIGINT)
            return real(*args, **kwargs)
        try:
            os.kill(os.getpid(), signal.SIGINT)
            return real(*args, **kwargs)
        except KeyboardInterrupt as interrupt:
            raise SystemError(f"{real!r} returned a result with an exception set") from interrupt

    setattr(owner, name, interrupted)


if __name__ == "__main__":
    # Ctrl-C as on a terminal, even where this process was started with SIGINT ignored (a background
    # job of a non-interactive shell, as CI may run the suite): Python then installs no handler.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    separator = sys.argv.index("--")
    options, arguments = sys.argv[1:separator], sys.argv[separator + 1 :]
    wrap(options[0], "--system-error" in options[1:])
    from lightfm.cli import main

    sys.exit(main(arguments))
