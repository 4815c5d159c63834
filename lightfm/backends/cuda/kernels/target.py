"""What differs between a GPU and Numba's CUDA simulator, and how launches are made quiet.

On a GPU a lane group is a warp and its reductions are warp shuffles; the simulator has none, so
there (``NUMBA_ENABLE_CUDASIM=1``) they go through shared memory, one lane group per block, with any
power of two up to 32 lanes.
"""

import contextlib
import math
import warnings

import numpy as np
from numba import config, cuda
from numba.core.errors import NumbaPerformanceWarning

SIMULATOR = bool(getattr(config, "ENABLE_CUDASIM", 0))
WARP_SIZE = 32

_FULL_MASK = 0xFFFFFFFF
ONE32 = np.float32(1.0)
ZERO32 = np.float32(0.0)


@contextlib.contextmanager
def quiet_launches():
    """Silence Numba's low-occupancy warnings: small launches (folds, tiny data, few users) are deliberate."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NumbaPerformanceWarning)
        # numba-cuda may raise its own class of it; the message is the same.
        warnings.filterwarnings("ignore", message=r"(?s).*under-utilization")
        yield


# -- what differs between a GPU and the simulator ------------------------------------------------

if SIMULATOR:
    _MASK64 = (1 << 64) - 1

    def mul64(a, b):
        # NumPy warns on the wrap-around that the generator relies on; a GPU just wraps.
        return np.uint64((int(a) * int(b)) & _MASK64)

    def exp32(x):
        with np.errstate(over="ignore"):
            return np.exp(np.float32(x))

    # Device functions, so that the simulator gives them its per-thread ``cuda`` (it swaps the module
    # into the globals of the kernel or device function it calls, and these are in a module of their own).
    @cuda.jit(device=True)
    def group_sum(value, lane, lanes, buf):
        """Sum of ``value`` over the lane group, the same on every lane (through shared memory)."""
        cuda.syncthreads()
        buf[lane] = value
        cuda.syncthreads()
        total = buf[0]
        for other in range(1, lanes):
            total += buf[other]
        return total

    @cuda.jit(device=True)
    def group_broadcast(value, lane, lanes, buf):
        """Lane 0's ``value`` on every lane."""
        cuda.syncthreads()
        if lane == 0:
            buf[0] = value
        cuda.syncthreads()
        return buf[0]

else:

    @cuda.jit(device=True)
    def mul64(a, b):
        return a * b

    @cuda.jit(device=True)
    def exp32(x):
        return math.exp(x)

    @cuda.jit(device=True)
    def group_sum(value, lane, lanes, buf):
        """Sum of ``value`` over the warp (butterfly: every lane ends with bitwise the same sum)."""
        value += cuda.shfl_xor_sync(_FULL_MASK, value, 16)
        value += cuda.shfl_xor_sync(_FULL_MASK, value, 8)
        value += cuda.shfl_xor_sync(_FULL_MASK, value, 4)
        value += cuda.shfl_xor_sync(_FULL_MASK, value, 2)
        value += cuda.shfl_xor_sync(_FULL_MASK, value, 1)
        return value

    @cuda.jit(device=True)
    def group_broadcast(value, lane, lanes, buf):
        """Lane 0's ``value`` on every lane."""
        return cuda.shfl_sync(_FULL_MASK, value, 0)
