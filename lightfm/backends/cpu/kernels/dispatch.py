"""Compile-time choice between two implementations, by whether an argument is None.

Identity features and the adagrad schedule are passed to the kernels as None
(no feature matrix, no momentum arrays). :func:`on_none` builds a function that,
in compiled code, picks its implementation while *typing* the call, so the
untaken one is never compiled and no branch is left in the hot loop; with the
JIT disabled it is an ordinary Python branch. Runtime flags instead cost a
factor of four on WARP: the branches kept LLVM from vectorising.

The chosen implementation is compiled as a function of its own (LLVM inlines
it). Inlining it at Numba's IR level (``inline="always"``) miscompiled loop
variables of the inlined body here (numba 0.68): the JIT then disagreed with
the pure-Python run, which ``tests/test_kernels.py`` checks.
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

    overload(dispatch, inline="never")(typing)
    return dispatch
