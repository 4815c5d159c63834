"""Negative candidates drawn a few draws ahead, so that their rows are in cache when used.

The ranking losses draw negative items at random (uniformly for WARP and
k-OS WARP, from the items of all stored entries for BPR) and read
each one's embedding row at once: a cache miss nothing could have predicted.
Instead each thread keeps a ring of its next ``RING_SIZE`` candidates. Taking
one draws its replacement and prefetches the replacement's rows, which are
needed ``RING_SIZE`` draws later (a training step or more away).

The stream of candidates is the stream of draws, delayed, whether or not rows
are prefetched: with one thread a run stays a pure function of its seed. The
ring is filled by the first kernel call of an epoch (:func:`fill_candidates`)
and carried over by the calls that resume it; ``ring[0]`` is the index of the
oldest candidate (-1 before the ring is filled), ``ring[1]`` 1 when rows are
prefetched, ``ring[2:]`` the candidates.
"""

import numpy as np
from numba import njit

from ...._validation import cache_private_zeros
from .prefetch import prefetch, prefetch_row
from .rng import next_alias, next_below

# Candidates kept ahead; a power of two (the ring index wraps with a mask).
RING_SIZE = 8


def make_ring():
    """An empty candidate ring (see the module docstring for the layout)."""
    ring = cache_private_zeros(RING_SIZE + 2, dtype=np.int64)  # written at every draw
    ring[0] = -1
    return ring


@njit(cache=True, nogil=True, inline="always")
def _draw(state, uniform, lookup):
    if uniform:
        return next_below(state, lookup[3])
    return next_alias(state, lookup[2][0], lookup[2][1])


@njit(cache=True, nogil=True, inline="always")
def _prefetch_item(item_feats, item_params, item, ring):
    # With feature matrices an item is a sum of feature rows; only identity rows are prefetched.
    if item_feats is None and ring[1]:
        prefetch_row(item_params[0], item)
        prefetch(item_params[3], item)


@njit(cache=True, nogil=True)
def fill_candidates(state, uniform, lookup, item_feats, item_params, ring, prefetch_rows):
    """Draw a full ring of candidates (uniform over items if ``uniform``, else BPR's alias table)."""
    ring[0] = 0
    ring[1] = prefetch_rows
    for slot in range(2, ring.shape[0]):
        state, item = _draw(state, uniform, lookup)
        ring[slot] = item
        _prefetch_item(item_feats, item_params, item, ring)
    return state


@njit(cache=True, nogil=True, inline="always")
def next_candidate(state, uniform, lookup, item_feats, item_params, ring):
    """Return ``(new_state, item)``: the oldest candidate, replaced by a new draw."""
    slot = ring[0]
    item = ring[slot + 2]
    state, fresh = _draw(state, uniform, lookup)
    ring[slot + 2] = fresh
    _prefetch_item(item_feats, item_params, fresh, ring)
    ring[0] = (slot + 1) & (RING_SIZE - 1)
    return state, item
