"""The building blocks of a training step, one lane's components of each, and the lazy-L2 fold.

As :mod:`lightfm.backends.cpu.kernels.sgd` (read there for the lazy L2 scheme), split over a
worker's lanes: lane ``l`` holds components ``l, l + lanes, ...`` of a representation.
"""

import numpy as np
from numba import cuda

from ..._common import (
    FLUSH_BELOW,
    ITEM,
    MAX_GROWTH,
    USER,
)
from .schedules import step, step_bias
from .target import ZERO32, group_broadcast, group_sum

# Components a lane holds in its registers/local memory: no_components <= lanes * MAX_PER_LANE.
MAX_PER_LANE = 16
# The alphas a worker reads: (user_alpha, item_alpha, max_growth), at USER, ITEM and MAX_GROWTH.
N_ALPHAS = MAX_GROWTH + 1


# -- building blocks (lightfm.backends.cpu.kernels.sgd and .schedules, one lane's components) ------
# Twins of the CPU ones for the same reason as the RNG's (see .rng), split over a warp's lanes.


@cuda.jit(device=True)
def is_positive(pos_indptr, pos_indices, user, item):
    """Binary search for ``item`` in the user's sorted own items."""
    lo = pos_indptr[user]
    hi = pos_indptr[user + 1]
    while lo < hi:
        mid = (lo + hi) >> 1
        v = pos_indices[mid]
        if v < item:
            lo = mid + 1
        elif v > item:
            hi = mid
        else:
            return True
    return False


@cuda.jit(device=True)
def represent(out, identity, indptr, indices, data, emb, bias, row, scale, lane, lanes, buf):
    """Write this lane's components of ``row``'s representation (stored values times ``scale``) to ``out``;
    return its bias (all lanes)."""
    d = emb.shape[1]
    b = ZERO32
    if identity:
        k = 0
        for c in range(lane, d, lanes):
            out[k] = emb[row, c] * scale
            k += 1
        if lane == 0:
            b = bias[row] * scale
    else:
        k = 0
        for _ in range(lane, d, lanes):
            out[k] = ZERO32
            k += 1
        for p in range(indptr[row], indptr[row + 1]):
            f = indices[p]
            w = data[p] * scale
            k = 0
            for c in range(lane, d, lanes):
                out[k] += w * emb[f, c]
                k += 1
            if lane == 0:
                b += w * bias[f]
    return group_broadcast(b, lane, lanes, buf)


@cuda.jit(device=True)
def dot(a, b, d, lane, lanes, buf):
    """Dot product of two representations (this lane's components in ``a`` and ``b``), on every lane."""
    s = ZERO32
    k = 0
    for _ in range(lane, d, lanes):
        s += a[k] * b[k]
        k += 1
    return group_sum(s, lane, lanes, buf)


@cuda.jit(device=True)
def score_item(urep, ubias, identity, indptr, indices, data, emb, bias, row, scale, lane, lanes, buf):
    """Score of item ``row`` for a user representation, without materialising the item's."""
    d = emb.shape[1]
    s = ZERO32
    if identity:
        k = 0
        for c in range(lane, d, lanes):
            s += urep[k] * emb[row, c]
            k += 1
        if lane == 0:
            s += bias[row]
    else:
        for p in range(indptr[row], indptr[row + 1]):
            f = indices[p]
            part = ZERO32
            k = 0
            for c in range(lane, d, lanes):
                part += urep[k] * emb[f, c]
                k += 1
            if lane == 0:
                part += bias[f]
            s += data[p] * part
    return group_sum(s, lane, lanes, buf) * scale + ubias


@cuda.jit(device=True)
def update_side(
    grad, coef, bias_grad, identity, indptr, indices, data, emb, eacc, emom, bias, bacc, bmom, row,
    adadelta, learning_rate, rho, epsilon, alpha, lane, lanes,
):  # fmt: skip
    """Step ``row``'s features along ``coef * grad`` (this lane's components) and ``bias_grad``.

    Returns ``(this lane's share of the sum of local learning rates, number of
    parameters updated)``; lane 0 alone steps the biases.
    """
    d = emb.shape[1]
    lr_sum = ZERO32
    if identity:
        k = 0
        for c in range(lane, d, lanes):
            lr_sum += step(emb, eacc, emom, row, c, coef * grad[k], adadelta, learning_rate, rho, epsilon, alpha)
            k += 1
        if lane == 0:
            lr_sum += step_bias(bias, bacc, bmom, row, bias_grad, adadelta, learning_rate, rho, epsilon, alpha)
        return lr_sum, d + 1
    for p in range(indptr[row], indptr[row + 1]):
        f = indices[p]
        w = data[p]
        k = 0
        for c in range(lane, d, lanes):
            lr_sum += step(emb, eacc, emom, f, c, w * coef * grad[k], adadelta, learning_rate, rho, epsilon, alpha)
            k += 1
        if lane == 0:
            lr_sum += step_bias(bias, bacc, bmom, f, w * bias_grad, adadelta, learning_rate, rho, epsilon, alpha)
    return lr_sum, (indptr[row + 1] - indptr[row]) * (d + 1)


@cuda.jit(device=True)
def decay(scales, alphas, lr_sum, count, lane, lanes, buf):
    """Lazy L2 after one step: grow the worker's scales (see lightfm.backends.cpu.kernels.sgd.decay).

    ``alphas = (user_alpha, item_alpha, max_growth)``. The reduction is skipped
    without regularisation, where the scales never move.
    """
    if alphas[USER] > 0.0 or alphas[ITEM] > 0.0:
        total = group_sum(lr_sum, lane, lanes, buf)
        if count == 0:
            return
        mean_rate = np.float64(total) / count
        for side in range(2):
            if alphas[side] > 0.0:
                growth = 1.0 + alphas[side] * mean_rate
                cap = np.float64(alphas[MAX_GROWTH])
                scales[side] *= growth if growth < cap else cap


# -- lazy L2 folding and the divergence check ----------------------------------------------------------


@cuda.jit
def fold_scale(emb, bias, inv):
    """Multiply a side's stored embeddings and biases by ``inv`` (float32), flushing tiny values to 0."""
    t = cuda.grid(1)
    d = emb.shape[1]
    if t < emb.shape[0] * d:
        f = t // d
        c = t - f * d
        v = emb[f, c] * inv
        emb[f, c] = ZERO32 if abs(v) < FLUSH_BELOW else v
    if t < bias.shape[0]:
        v = bias[t] * inv
        bias[t] = ZERO32 if abs(v) < FLUSH_BELOW else v


@cuda.jit
def count_nonfinite(values, out, slot):
    """Add to ``out[slot]`` the number of non-finite entries of the flat array ``values``."""
    t = cuda.grid(1)
    if t < values.shape[0]:
        v = values[t]
        if not (v - v == 0.0):  # NaN and +-inf
            cuda.atomic.add(out, slot, 1)
