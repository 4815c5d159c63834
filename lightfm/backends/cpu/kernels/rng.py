"""Per-thread pseudo-random numbers: xorshift64* state kept in a uint64 array.

Each thread owns one state word, so draws never contend and a single-threaded
run is reproducible from its seeds alone. The generator is small enough to be
re-implemented in pure Python by the test oracles. Its constants, and the seeding of the
states (:func:`lightfm.backends._common.seed_states`), are shared with the CUDA engine's twin.
"""

import numpy as np

from ..._common import (
    RNG_FRACTION_SHIFT,
    RNG_HIGH_HALF,
    RNG_INV_2_24,
    RNG_MULTIPLIER,
    RNG_SHIFT_A,
    RNG_SHIFT_B,
    RNG_SHIFT_C,
)
from ..._jit import njit


@njit(cache=True, nogil=True, inline="always")
def next_u64(state):
    """Advance ``state`` (a uint64) and return ``(new_state, 64 random bits)``."""
    x = state
    x ^= x >> RNG_SHIFT_A
    x ^= x << RNG_SHIFT_B
    x ^= x >> RNG_SHIFT_C
    return x, x * RNG_MULTIPLIER


@njit(cache=True, nogil=True, inline="always")
def next_below(state, n):
    """Return ``(new_state, r)`` with ``r`` uniform in ``[0, n)`` for ``0 < n < 2**32``.

    Lemire's multiply-shift: one multiplication instead of a division.
    """
    state, bits = next_u64(state)
    r = ((bits >> RNG_HIGH_HALF) * np.uint64(n)) >> RNG_HIGH_HALF
    return state, np.int64(r)


@njit(cache=True, nogil=True, _nrt=False, error_model="numpy")
def shuffle_range(order, lo, hi, state):
    """Fisher-Yates shuffle of ``order[lo:hi]`` in place; returns the new state."""
    for i in range(hi - 1, lo, -1):
        state, j = next_below(state, i - lo + 1)
        j += lo
        tmp = order[i]
        order[i] = order[j]
        order[j] = tmp
    return state


@njit(cache=True, nogil=True, inline="always")
def next_alias(state, prob, alias):
    """Return ``(new_state, i)`` with ``i`` drawn from an alias table (``_host_kernels.alias_table``)."""
    state, i = next_below(state, prob.shape[0])
    state, bits = next_u64(state)
    u = np.float32(bits >> RNG_FRACTION_SHIFT) * RNG_INV_2_24
    if u < prob[i]:
        return state, i
    return state, np.int64(alias[i])
