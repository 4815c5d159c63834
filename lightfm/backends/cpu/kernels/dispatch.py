"""Compile-time choice between two implementations, by whether an argument is None.

Identity features and the adagrad schedule are passed to the kernels as None
(no feature matrix, no momentum arrays). :func:`on_none` builds a function that,
in compiled code, picks its implementation while *typing* the call, so the
untaken one is never compiled and no branch is left in the hot loop; with the
JIT disabled it is an ordinary Python branch. Runtime flags instead cost a
factor of four on WARP: the branches kept LLVM from vectorising.

The chosen implementation is inlined into its caller at Numba's IR level.
Compiled as a function of its own instead, LLVM left the larger ones (the
feature-matrix paths) as calls, each passing every array field on the stack,
and reloaded the arrays on every call: hybrid training took 1.2x-1.35x as
long, ids-only up to 1.4x (logistic), against about 1.5-2.5 s more compiling
from an empty cache (BENCHMARKS.md). An early version of the kernels
miscompiled loop variables of an IR-inlined body; ``tests/test_kernels.py``
checks the JIT against the pure-Python run for every loss, schedule and
feature path, and the engine against its NumPy oracle.
"""

import functools
import inspect

from numba import types
from numba.extending import overload


def on_none(argument, when_none, otherwise):
    """A function calling ``when_none`` if ``argument`` is None, else ``otherwise``.

    Both implementations are plain Python functions with the same signature,
    compiled by Numba where the returned function is called from a kernel.
    """
    position = list(inspect.signature(when_none).parameters).index(argument)

    @functools.wraps(otherwise)
    def dispatch(*args):
        return (when_none if args[position] is None else otherwise)(*args)

    @functools.wraps(otherwise)
    def typing(*args):
        return when_none if isinstance(args[position], (types.NoneType, types.Omitted)) else otherwise

    overload(dispatch, inline="always")(typing)
    return dispatch
