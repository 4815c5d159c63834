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
and carried over by the calls that resume it; ``ring[RING_OLDEST]`` is the index of the
oldest candidate (-1 before the ring is filled), ``ring[RING_PREFETCH]`` 1 when rows are
prefetched, ``ring[RING_FIRST:]`` the candidates (:mod:`.layout`). The CUDA engine keeps the
same stream of candidates, with the same :data:`lightfm.backends._common.RING_SIZE`.
"""

import numpy as np

from ..._common import RING_SIZE, cache_private_zeros
from ..._jit import njit
from .layout import ALIAS, BIAS, EMB, N_ITEMS, NEGATIVES, PROB, RING_FIRST, RING_OLDEST, RING_PREFETCH
from .prefetch import prefetch, prefetch_row
from .rng import next_alias, next_below


def make_ring():
    """An empty candidate ring (see the module docstring for the layout)."""
    ring = cache_private_zeros(RING_FIRST + RING_SIZE, dtype=np.int64)  # written at every draw
    ring[RING_OLDEST] = -1
    return ring


@njit(cache=True, nogil=True, inline="always")
def _draw(state, uniform, lookup):
    if uniform:
        return next_below(state, lookup[N_ITEMS])
    return next_alias(state, lookup[NEGATIVES][PROB], lookup[NEGATIVES][ALIAS])


@njit(cache=True, nogil=True, inline="always")
def _prefetch_item(item_feats, item_params, item, ring):
    # With feature matrices an item is a sum of feature rows; only identity rows are prefetched.
    if item_feats is None and ring[RING_PREFETCH]:
        prefetch_row(item_params[EMB], item)
        prefetch(item_params[BIAS], item)


@njit(cache=True, nogil=True)
def fill_candidates(state, uniform, lookup, item_feats, item_params, ring, prefetch_rows):
    """Draw a full ring of candidates (uniform over items if ``uniform``, else BPR's alias table)."""
    ring[RING_OLDEST] = 0
    ring[RING_PREFETCH] = prefetch_rows
    for slot in range(RING_FIRST, ring.shape[0]):
        state, item = _draw(state, uniform, lookup)
        ring[slot] = item
        _prefetch_item(item_feats, item_params, item, ring)
    return state


@njit(cache=True, nogil=True, inline="always")
def next_candidate(state, uniform, lookup, item_feats, item_params, ring):
    """Return ``(new_state, item)``: the oldest candidate, replaced by a new draw."""
    slot = ring[RING_OLDEST]
    item = ring[RING_FIRST + slot]
    state, fresh = _draw(state, uniform, lookup)
    ring[RING_FIRST + slot] = fresh
    _prefetch_item(item_feats, item_params, fresh, ring)
    ring[RING_OLDEST] = (slot + 1) & (RING_SIZE - 1)
    return state, item
