"""Software prefetch: ask the CPU to start loading memory that a later step will read.

At 10M-interaction scale a training step waits mostly on cache misses (the
user's and items' rows, the user's positives list), and each depends on the
example's indices, so the hardware cannot guess them. The epoch kernel knows
them a few examples ahead and issues ``llvm.prefetch`` for them. A prefetch
is a hint: it never faults, never blocks retirement (unlike an ordinary load
used as a "touch", which stalls the core once it reaches the head of the
reorder buffer), and an address it gets wrong only costs bandwidth.

With the JIT disabled (``NUMBA_DISABLE_JIT=1``, the bounds-checked test run)
these are no-ops.
"""

import numba
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from ..._common import CACHE_LINE  # one definition, also used to align the shared arrays
from ..._jit import njit


def _codegen(context, builder, signature, args):
    array_type = signature.args[0]
    array = context.make_array(array_type)(context, builder, args[0])
    indices = [
        context.cast(builder, value, value_type, types.intp)
        for value, value_type in zip(args[1:], signature.args[1:], strict=True)
    ]
    pointer = cgutils.get_item_pointer2(
        context,
        builder,
        array.data,
        cgutils.unpack_tuple(builder, array.shape),
        cgutils.unpack_tuple(builder, array.strides),
        array_type.layout,
        indices,
        wraparound=False,
        boundscheck=False,
    )
    byte_pointer = builder.bitcast(pointer, ir.IntType(8).as_pointer())
    i32 = ir.IntType(32)
    function_type = ir.FunctionType(ir.VoidType(), [byte_pointer.type, i32, i32, i32])
    function = cgutils.get_or_insert_function(builder.module, function_type, "llvm.prefetch.p0")
    # Read access, keep in all cache levels, data cache.
    builder.call(function, [byte_pointer, i32(0), i32(3), i32(1)])
    return context.get_dummy_value()


@intrinsic
def _prefetch_1d(typingctx, array, i):
    if not (isinstance(array, types.Array) and array.ndim == 1 and isinstance(i, types.Integer)):
        return None
    return types.void(array, i), _codegen


@intrinsic
def _prefetch_2d(typingctx, array, i, j):
    if not (isinstance(array, types.Array) and array.ndim == 2 and isinstance(i, types.Integer)):
        return None
    return types.void(array, i, j), _codegen


def _no_op(*args):
    return None


if numba.config.DISABLE_JIT:
    prefetch = _no_op
    prefetch_row = _no_op
else:

    @njit(cache=True, nogil=True)
    def prefetch(array, i):
        """Start loading the cache line holding ``array[i]`` (1-d)."""
        _prefetch_1d(array, i)

    @njit(cache=True, nogil=True)
    def prefetch_row(array, row):
        """Start loading every cache line of ``array[row, :]`` (2-d, C-contiguous)."""
        n = array.shape[1]
        per_line = max(1, CACHE_LINE // array.itemsize)
        for c in range(0, n, per_line):
            _prefetch_2d(array, row, c)
        # The row's start need not be line-aligned: its last element may sit on one more line.
        if n > 0:
            _prefetch_2d(array, row, n - 1)
