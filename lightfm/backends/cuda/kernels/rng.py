"""Random numbers on the device: the CPU engine's xorshift64*, Fisher-Yates shuffle and candidate ring.

With one worker the stream is the CPU engine's on one thread (:mod:`lightfm.backends.cpu.kernels.rng`
and ``.candidates``), from the same seeds (:func:`lightfm.backends._common.seed_states`).
"""

import numpy as np
from numba import cuda

from ..._common import (
    RING_SIZE,
    RNG_FRACTION_SHIFT,
    RNG_HIGH_HALF,
    RNG_INV_2_24,
    RNG_MULTIPLIER,
    RNG_SHIFT_A,
    RNG_SHIFT_B,
    RNG_SHIFT_C,
)
from .target import mul64

# A worker's ring: the index of its oldest candidate (RING_OLDEST), then the candidates (from RING_FIRST);
# no prefetch flag, unlike the CPU engine's ring.
RING_OLDEST, RING_FIRST = 0, 1
RING_SLOTS = RING_FIRST + RING_SIZE


# -- random numbers: the CPU engine's xorshift64* (lightfm.backends.cpu.kernels.rng) ----------------
# Twins of the CPU functions, deliberately: a GPU could compile the CPU ``@njit`` ones where a kernel
# calls them, but under the simulator (how CI tests these kernels) a CPU function returns its uint64
# state boxed as a Python int, which the next call types as int64 and overflows.


@cuda.jit(device=True)
def next_u64(x):
    """Advance the state ``x`` (uint64); returns ``(new_state, 64 random bits)``."""
    x ^= x >> RNG_SHIFT_A
    x ^= x << RNG_SHIFT_B
    x ^= x >> RNG_SHIFT_C
    return x, mul64(x, RNG_MULTIPLIER)


@cuda.jit(device=True)
def next_below(state, n):
    """``(new_state, r)`` with ``r`` uniform in ``[0, n)`` (Lemire's multiply-shift)."""
    state, bits = next_u64(state)
    r = ((bits >> RNG_HIGH_HALF) * np.uint64(n)) >> RNG_HIGH_HALF
    return state, np.int64(r)


@cuda.jit(device=True)
def next_alias(state, prob, alias):
    """``(new_state, i)`` drawn from an alias table (see lightfm.backends._host_kernels.alias_table)."""
    state, i = next_below(state, prob.shape[0])
    state, bits = next_u64(state)
    u = np.float32(bits >> RNG_FRACTION_SHIFT) * RNG_INV_2_24
    if u < prob[i]:
        return state, i
    return state, np.int64(alias[i])


@cuda.jit(device=True)
def _draw(state, uniform, prob, alias, n_items):
    if uniform:
        return next_below(state, n_items)
    return next_alias(state, prob, alias)


@cuda.jit(device=True)
def fill_ring(state, ring, uniform, prob, alias, n_items):
    """Draw a full ring of candidates; ``ring[RING_OLDEST]`` is the index of the oldest one."""
    ring[RING_OLDEST] = 0
    for slot in range(RING_FIRST, RING_SLOTS):
        state, item = _draw(state, uniform, prob, alias, n_items)
        ring[slot] = item
    return state


@cuda.jit(device=True)
def next_candidate(state, ring, uniform, prob, alias, n_items):
    """``(new_state, item)``: the oldest candidate, replaced by a new draw (the CPU's stream, delayed)."""
    slot = ring[RING_OLDEST]
    item = ring[RING_FIRST + slot]
    state, fresh = _draw(state, uniform, prob, alias, n_items)
    ring[RING_FIRST + slot] = fresh
    ring[RING_OLDEST] = (slot + 1) & (RING_SIZE - 1)
    return state, item


@cuda.jit
def shuffle_chunks(order, starts, ends, states):
    """Fisher-Yates shuffle of each worker's chunk ``order[starts[w]:ends[w]]``, one thread per worker."""
    w = cuda.grid(1)
    if w >= states.shape[0]:
        return
    lo = starts[w]
    state = states[w]
    for i in range(ends[w] - 1, lo, -1):
        state, j = next_below(state, i - lo + 1)
        j += lo
        tmp = order[i]
        order[i] = order[j]
        order[j] = tmp
    states[w] = state
