"""Building blocks shared by the loss kernels.

A *side* (users or items) is described by two arguments:

- ``feats``: ``(indptr, indices, data)`` of its CSR feature matrix, or None for
  identity features (row ``r`` is feature ``r`` with weight 1, read directly
  with no sparse indirection; chosen at compile time, see
  :mod:`lightfm.backends.cpu.kernels.dispatch`);
- ``params``: ``(emb, emb_acc, emb_mom, bias, bias_acc, bias_mom)``, float32
  parameters and optimiser accumulators; the ``_mom`` entries are None under
  adagrad.

Stored parameters are the effective ones multiplied by the side's lazy
regularisation scale (``scales[0]`` users, ``scales[1]`` items), so that L2
decay of every parameter costs one multiplication of a scalar per sample.
The epoch kernels stop once a scale passes :data:`FOLD_ABOVE` (checked before
and after every step), and the caller folds it back into the parameters
(:func:`renormalise`) before they go on. Threads already in a step when the
scale passes may each grow it once more, so one step's growth is capped at
``2 ** (GROWTH_BITS / n_threads)``: a scale stays below
``FOLD_ABOVE * 2 ** GROWTH_BITS``, and stored values far inside float32's range,
whatever the regularisation. The cap binds only when ``alpha * rate`` exceeds
it (``alpha`` in the hundreds at 16 threads), where a step's shrinking is
merely smaller than asked.
"""

import numpy as np
from numba import njit

from .dispatch import on_none
from .schedules import step_bias, step_row

# A scale past this stops the epoch kernels, to be folded back into the parameters (an
# O(parameters) pass). Stored values are then at most 1e12 times the effective ones, far
# from float32's limit; a higher value would fold less often with no other gain.
FOLD_ABOVE = 1e12
# Bits of growth a scale may gain beyond FOLD_ABOVE, shared out between the threads (1e12 * 2**64
# is 1.8e31: stored values of effective magnitude up to 1e7 stay finite in float32).
GROWTH_BITS = 64
# Folded values below this become 0: a strongly regularised parameter would otherwise
# decay into subnormal floats, whose arithmetic is up to a hundred times slower.
_FLUSH_BELOW = np.float32(1e-30)


def _represent_identity(out, feats, params, row, inv_scale):
    emb = params[0]
    d = emb.shape[1]
    for c in range(d):
        out[c] = emb[row, c] * inv_scale
    out[d] = params[3][row] * inv_scale


def _represent_features(out, feats, params, row, inv_scale):
    indptr, indices, data = feats
    emb = params[0]
    bias = params[3]
    d = emb.shape[1]
    for c in range(d + 1):
        out[c] = 0.0
    for p in range(indptr[row], indptr[row + 1]):
        f = indices[p]
        w = data[p] * inv_scale
        for c in range(d):
            out[c] += w * emb[f, c]
        out[d] += w * bias[f]


represent = on_none("feats", _represent_identity, _represent_features)
represent.__doc__ = "Write ``row``'s representation into ``out``: embedding, then bias at ``out[d]``."


def _score_item_identity(user_repr, feats, emb, bias, row, inv_scale):
    d = emb.shape[1]
    s = np.float32(0.0)
    for c in range(d):
        s += user_repr[c] * emb[row, c]
    return (s + bias[row]) * inv_scale + user_repr[d]


def _score_item_features(user_repr, feats, emb, bias, row, inv_scale):
    indptr, indices, data = feats
    d = emb.shape[1]
    total = np.float32(0.0)
    for p in range(indptr[row], indptr[row + 1]):
        f = indices[p]
        s = bias[f]
        for c in range(d):
            s += user_repr[c] * emb[f, c]
        total += data[p] * s
    return total * inv_scale + user_repr[d]


score_item = on_none("feats", _score_item_identity, _score_item_features)
score_item.__doc__ = """Score of item ``row`` for a user representation, without materialising the item's.

With feature matrices, one dot product per feature row: summing the item's representation
first and dotting it once was slower (every accumulation a store and reload of the buffer),
both for WARP's sampled negatives and, once the building blocks were inlined, for k-OS's
sampled positives (BENCHMARKS.md, hybrid models).
"""


def _update_identity(grad, coef, bias_grad, feats, params, row, schedule, scale):
    emb, emb_acc, emb_mom, bias, bias_acc, bias_mom = params
    lr_sum = step_row(emb, emb_acc, emb_mom, row, grad, coef, schedule, scale)
    lr_sum += step_bias(bias, bias_acc, bias_mom, row, bias_grad, schedule, scale)
    return lr_sum, emb.shape[1] + 1


def _update_features(grad, coef, bias_grad, feats, params, row, schedule, scale):
    indptr, indices, data = feats
    emb, emb_acc, emb_mom, bias, bias_acc, bias_mom = params
    lr_sum = np.float32(0.0)
    for p in range(indptr[row], indptr[row + 1]):
        f = indices[p]
        w = data[p]
        lr_sum += step_row(emb, emb_acc, emb_mom, f, grad, w * coef, schedule, scale)
        lr_sum += step_bias(bias, bias_acc, bias_mom, f, w * bias_grad, schedule, scale)
    # The engine passes indptr unsigned; the count is signed like the identity path's.
    return lr_sum, np.int64(indptr[row + 1] - indptr[row]) * (emb.shape[1] + 1)


update_side = on_none("feats", _update_identity, _update_features)
update_side.__doc__ = """Step every parameter of ``row``'s features down the loss gradient.

The gradient with respect to the row's representation is ``coef * grad[:d]``
and with respect to its bias ``bias_grad``; each feature receives them times its
weight. Returns ``(sum of local learning rates, number of parameters)``, which
:func:`decay` averages.
"""


@njit(cache=True, nogil=True, fastmath=True, inline="always")
def score(user_repr, item_repr):
    """Dot product of two representations plus both biases."""
    d = user_repr.shape[0] - 1
    s = user_repr[d] + item_repr[d]
    for c in range(d):
        s += user_repr[c] * item_repr[c]
    return s


@njit(cache=True, nogil=True, fastmath=True, inline="always")
def decay(scales, alphas, lr_sum, count):
    """Lazy L2 after one training step: shrink every parameter of side ``s`` by
    ``1 / (1 + alphas[s] * mean local learning rate)``, at most by ``1 / alphas[2]``.

    The mean is over every parameter the step updated, users' and items' alike
    (as in the original LightFM), so both sides decay at the same pace per step.
    ``alphas = (user_alpha, item_alpha, max_growth)``; see the module docstring
    for the cap.
    """
    if count == 0:  # rows without features: nothing was updated
        return
    mean_rate = lr_sum / count
    for side in range(2):
        if alphas[side] > 0.0:
            scales[side] *= min(1.0 + alphas[side] * mean_rate, alphas[2])


@njit(cache=True, nogil=True, fastmath=True, inline="always")
def is_positive(pos_indptr, pos_indices, user, item):
    """Binary search for ``item`` in the user's sorted positives."""
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


@njit(cache=True, nogil=True, inline="always")
def _folded(value, inv):
    value *= inv
    return np.float32(0.0) if abs(value) < _FLUSH_BELOW else value  # NaN stays NaN


@njit(cache=True, nogil=True, _nrt=False, error_model="numpy")
def renormalise(params, scales, side, threshold):
    """Fold ``scales[side]`` back into the stored parameters once it exceeds ``threshold``."""
    s = scales[side]
    if s <= threshold:
        return
    inv = np.float32(1.0 / s)
    emb = params[0]
    bias = params[3]
    for f in range(emb.shape[0]):
        for c in range(emb.shape[1]):
            emb[f, c] = _folded(emb[f, c], inv)
        bias[f] = _folded(bias[f], inv)
    scales[side] = 1.0
