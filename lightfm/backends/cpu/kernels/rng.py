"""Per-thread pseudo-random numbers: xorshift64* state kept in a uint64 array.

Each thread owns one state word, so draws never contend and a single-threaded
run is reproducible from its seeds alone. The generator is small enough to be
re-implemented in pure Python by the test oracles.
"""

import numpy as np
from numba import njit

_MULTIPLIER = np.uint64(0x2545F4914F6CDD1D)
_S12 = np.uint64(12)
_S25 = np.uint64(25)
_S27 = np.uint64(27)
_S32 = np.uint64(32)
_ZERO = np.uint64(0)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


@njit(cache=True, nogil=True, inline="always")
def next_u64(state):
    """Advance ``state`` (a uint64) and return ``(new_state, 64 random bits)``."""
    x = state
    x ^= x >> _S12
    x ^= x << _S25
    x ^= x >> _S27
    return x, x * _MULTIPLIER


@njit(cache=True, nogil=True, inline="always")
def next_below(state, n):
    """Return ``(new_state, r)`` with ``r`` uniform in ``[0, n)`` for ``0 < n < 2**32``.

    Lemire's multiply-shift: one multiplication instead of a division.
    """
    state, bits = next_u64(state)
    r = ((bits >> _S32) * np.uint64(n)) >> _S32
    return state, np.int64(r)


# Words of a Mersenne Twister's state: drawing as many regenerates it at least once.
_MT_STATE_WORDS = 624


def seed_states(random_state, n_threads):
    """Draw ``n_threads`` non-zero xorshift states from a ``np.random.RandomState``.

    At least a whole Mersenne Twister state's worth of words is drawn, so that
    ``random_state.get_state()`` visibly changes on every call: the original
    LightFM shuffles with the RandomState every epoch, and code (its tests among
    it) checks that a fit advanced it.
    """
    words = random_state.randint(1, 2**31 - 1, size=max(_MT_STATE_WORDS, 2 * n_threads))
    seeds = words[: 2 * n_threads].astype(np.uint64).reshape(n_threads, 2)
    states = (seeds[:, 0] << np.uint64(31)) ^ seeds[:, 1] ^ _GOLDEN
    states[states == _ZERO] = _GOLDEN
    return np.ascontiguousarray(states)


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


_S40 = np.uint64(40)
_INV_2_24 = np.float32(1.0 / (1 << 24))


@njit(cache=True, nogil=True, inline="always")
def next_alias(state, prob, alias):
    """Return ``(new_state, i)`` with ``i`` drawn from an alias table (see lookup.alias_table)."""
    state, i = next_below(state, prob.shape[0])
    state, bits = next_u64(state)
    u = np.float32(bits >> _S40) * _INV_2_24
    if u < prob[i]:
        return state, i
    return state, np.int64(alias[i])
