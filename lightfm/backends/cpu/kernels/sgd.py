"""Building blocks shared by the loss kernels.

A *side* (users or items) is described by two arguments:

- ``feats``: ``(indptr, indices, data)`` of its CSR feature matrix, or None for
  identity features (row ``r`` is feature ``r`` with weight 1, read directly
  with no sparse indirection; chosen at compile time, see
  :mod:`lightfm.backends.cpu.kernels.dispatch`);
- ``params``: ``(emb, emb_acc, emb_mom, bias, bias_acc, bias_mom)``, float32
  parameters and optimiser accumulators; the ``_mom`` entries are None under
  adagrad.

L2 regularisation is lazy, and follows the original LightFM's scheme exactly,
since users tuned their alphas against it: each side has a scale, starting at 1;
a representation is the stored parameters times the scale; every parameter a
step updates is then multiplied by ``1 + alpha * its local learning rate``, and
the scale by ``1 + alpha * the mean local learning rate`` of the step; at the
end of every epoch, and whenever a scale passes :data:`FOLD_ABOVE`, the stored
parameters are divided by the scale and it starts again at 1. Parameters no
step touches shrink by the scale at the fold; this is not the gradient of an L2
penalty (within an epoch representations grow with the scale, and the fold
shrinks the whole side), but it is what the original's models are, and a true
weight decay gave models 0.03-0.09 AUC below the original's at alpha 1e-3.

With several threads, a side's scale is the product of every thread's own
growth of it. Each thread writes only its own growth, in its own
line of the ``table`` of scales (:func:`scale_table`; ``scales`` is that line,
laid out as :mod:`.layout` describes), and multiplies it by a copy of the
other threads' product that :func:`refresh_scales` re-reads from the table. One scale shared by every
thread had its cache line written by all of them at every step (regularised
2-thread BPR fits on the 10M set take 0.79x-0.87x the time without it, alpha
1e-6 to 1e-3); with one thread the copy is 1 and the arithmetic is unchanged.

A thread refreshes its copy (:func:`keep_current`) every ``MERGE_EVERY`` steps
and once its own growth since its last refresh passes ``alphas[REFRESH_ABOVE]``: threads
stepping at similar rates then see each other's growth at most about
:data:`SCALE_LAG` late. So that a thread stepping slower, or descheduled,
cannot work from a copy far behind, each thread also *announces* its growth
(increments the count in the table's last line, which every thread reads at
every step and otherwise leaves alone) whenever it passed ``alphas[ANNOUNCE_ABOVE]`` since
its last announcement, and every thread refreshes at its next step after an
announcement: whatever the threads' pace, a copy lags by less than
:data:`SCALE_LAG_MAX` plus one step.

The epoch kernels stop once a thread's view of a scale passes
:data:`FOLD_ABOVE` (checked before and after every step; the thread announces
it, so that the others stop too), and the caller folds the product of the
shares back into the parameters (:func:`renormalise`) before they go on. One
step's growth is capped at ``alphas[MAX_GROWTH] = 2 ** (GROWTH_BITS / (2 * n_threads))``,
which bounds both announcement thresholds too: each other thread's share is at
most twice that many bits ahead of any copy of it, so a scale stays below
``FOLD_ABOVE * 2 ** GROWTH_BITS``, and representations far inside float32's
range, whatever the regularisation. The cap binds only when ``alpha * rate``
exceeds it (``alpha`` near a hundred at 16 threads).
"""

import numpy as np

from ..._common import FLUSH_BELOW, GROWTH_BITS, ITEM, MAX_GROWTH, USER, cache_private_zeros
from ..._jit import njit
from .dispatch import BLOCK_OPTIONS
from .layout import (
    ANNOUNCE_ABOVE,
    ANNOUNCEMENTS,
    BIAS,
    COUNT_SEEN,
    EMB,
    GROWTH_AT_ANNOUNCE,
    GROWTH_AT_REFRESH,
    OTHERS_GROWTH,
    OWN_GROWTH,
    REFRESH_ABOVE,
    SCALE_ROW,
    THREAD_INDEX,
)
from .schedules import step_bias, step_row

# How far a thread's copy of the other threads' growth of a scale lags behind it (a fraction) when
# threads step at similar rates, and at most whatever their pace: the regularisation of that
# thread's writes is then off by this much.
SCALE_LAG = 1e-3
SCALE_LAG_MAX = 0.1


@njit(**BLOCK_OPTIONS)
def represent(out, feats, params, row, scale):
    """Write ``row``'s representation, its stored values times ``scale``, into ``out``:
    embedding, then bias at ``out[d]``."""
    emb = params[EMB]
    d = emb.shape[1]
    if feats is None:
        for c in range(d):
            out[c] = emb[row, c] * scale
        out[d] = params[BIAS][row] * scale
        return
    indptr, indices, data = feats
    bias = params[BIAS]
    for c in range(d + 1):
        out[c] = 0.0
    for p in range(indptr[row], indptr[row + 1]):
        f = indices[p]
        w = data[p] * scale
        for c in range(d):
            out[c] += w * emb[f, c]
        out[d] += w * bias[f]


@njit(**BLOCK_OPTIONS)
def score_item(user_repr, feats, emb, bias, row, scale):
    """Score of item ``row`` for a user representation, without materialising the item's.

    With feature matrices, one dot product per feature row: summing the item's representation
    first and dotting it once was slower (every accumulation a store and reload of the buffer),
    both for WARP's sampled negatives and, once the building blocks were inlined, for k-OS's
    sampled positives (BENCHMARKS.md, hybrid models).
    """
    d = emb.shape[1]
    if feats is None:
        s = np.float32(0.0)
        for c in range(d):
            s += user_repr[c] * emb[row, c]
        return (s + bias[row]) * scale + user_repr[d]
    indptr, indices, data = feats
    total = np.float32(0.0)
    for p in range(indptr[row], indptr[row + 1]):
        f = indices[p]
        s = bias[f]
        for c in range(d):
            s += user_repr[c] * emb[f, c]
        total += data[p] * s
    return total * scale + user_repr[d]


@njit(**BLOCK_OPTIONS)
def update_side(grad, coef, bias_grad, feats, params, row, schedule, alpha):
    """Step every parameter of ``row``'s features down the loss gradient.

    The gradient with respect to the row's representation is ``coef * grad[:d]``
    and with respect to its bias ``bias_grad``; each feature receives them times its
    weight, and then grows by ``1 + alpha * its local learning rate`` (the side's
    L2 coefficient; see the module docstring). Returns ``(sum of local learning
    rates, number of parameters)``, which :func:`decay` averages.
    """
    emb, emb_acc, emb_mom, bias, bias_acc, bias_mom = params
    if feats is None:
        lr_sum = step_row(emb, emb_acc, emb_mom, row, grad, coef, schedule, alpha)
        lr_sum += step_bias(bias, bias_acc, bias_mom, row, bias_grad, schedule, alpha)
        return lr_sum, np.int64(emb.shape[1] + 1)
    indptr, indices, data = feats
    lr_sum = np.float32(0.0)
    for p in range(indptr[row], indptr[row + 1]):
        f = indices[p]
        w = data[p]
        lr_sum += step_row(emb, emb_acc, emb_mom, f, grad, w * coef, schedule, alpha)
        lr_sum += step_bias(bias, bias_acc, bias_mom, f, w * bias_grad, schedule, alpha)
    # The engine passes indptr unsigned; the count is signed like the identity path's.
    return lr_sum, np.int64(indptr[row + 1] - indptr[row]) * (emb.shape[1] + 1)


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
    """Lazy L2 after one training step: grow the scale of side ``s`` by a factor
    ``1 + alphas[s] * mean local learning rate``, at most ``alphas[MAX_GROWTH]``; the
    parameters are divided by it at the next fold.

    The mean is over every parameter the step updated, users' and items' alike
    (as in the original LightFM), so both sides' scales grow at the same pace per step.
    ``alphas = (user_alpha, item_alpha, max_growth, refresh_above,
    announce_above)``; see the module docstring for the cap.
    """
    if count == 0:  # rows without features: nothing was updated
        return
    mean_rate = lr_sum / count
    for side in range(2):
        if alphas[side] > 0.0:
            scales[OWN_GROWTH + side] *= min(1.0 + alphas[side] * mean_rate, alphas[MAX_GROWTH])


def growth_limits(n_threads):
    """``alphas[MAX_GROWTH:]`` for ``n_threads`` threads: ``(max_growth, refresh_above, announce_above)``.

    One step grows a scale at most ``max_growth`` times; a thread re-reads the
    others' growth once its own passed ``refresh_above`` since it last did, and
    announces its own once it passed ``announce_above`` (both at most
    ``max_growth``; see the module docstring).
    """
    max_growth = 2.0 ** (GROWTH_BITS / (2 * n_threads))
    others = max(n_threads - 1, 1)
    refresh_above = min(max_growth, (1.0 + SCALE_LAG) ** (1.0 / others))
    return max_growth, refresh_above, min(max_growth, (1.0 + SCALE_LAG_MAX) ** (1.0 / others))


def scale_table(n_threads):
    """Every thread's line of lazy-regularisation scales, at 1, and the announcement count's line."""
    table = cache_private_zeros((n_threads + 1, SCALE_ROW), dtype=np.float64)
    reset_scales(table)
    return table


def reset_scales(table):
    """Every growth back to 1, once the caller folded their product into the parameters."""
    threads = table[:-1]
    threads[:, OWN_GROWTH : GROWTH_AT_REFRESH + 2] = 1.0
    threads[:, THREAD_INDEX] = np.arange(threads.shape[0])
    threads[:, COUNT_SEEN] = table[-1, ANNOUNCEMENTS]
    threads[:, GROWTH_AT_ANNOUNCE : GROWTH_AT_ANNOUNCE + 2] = 1.0


@njit(cache=True, nogil=True, fastmath=True, inline="always")
def side_scale(scales, side):
    """The lazy-regularisation scale of ``side`` as this thread sees it (see the module docstring)."""
    return scales[OWN_GROWTH + side] * scales[OTHERS_GROWTH + side]


@njit(cache=True, nogil=True, _nrt=False, error_model="numpy")
def refresh_scales(scales, table):
    """Re-read the other threads' growth of both scales from ``table`` into this thread's ``scales``."""
    n = table.shape[0] - 1
    scales[COUNT_SEEN] = table[n, ANNOUNCEMENTS]  # first: an announcement made while this reads is seen next time
    me = int(scales[THREAD_INDEX])
    for side in range(2):
        others = 1.0
        for t in range(n):
            if t != me:
                others *= table[t, OWN_GROWTH + side]
        scales[OTHERS_GROWTH + side] = others
        scales[GROWTH_AT_REFRESH + side] = scales[OWN_GROWTH + side]


@njit(cache=True, nogil=True, fastmath=True, inline="always")
def announce(scales, table):
    """Tell every thread to refresh at its next step (it may lose a race with another's: either counts)."""
    scales[GROWTH_AT_ANNOUNCE + USER] = scales[OWN_GROWTH + USER]
    scales[GROWTH_AT_ANNOUNCE + ITEM] = scales[OWN_GROWTH + ITEM]
    table[table.shape[0] - 1, ANNOUNCEMENTS] += 1.0


@njit(cache=True, nogil=True, fastmath=True, inline="always")
def keep_current(scales, table, alphas):
    """After a step: announce this thread's growth, and refresh its copy of the others', when due."""
    if (
        scales[OWN_GROWTH + USER] > scales[GROWTH_AT_ANNOUNCE + USER] * alphas[ANNOUNCE_ABOVE]
        or scales[OWN_GROWTH + ITEM] > scales[GROWTH_AT_ANNOUNCE + ITEM] * alphas[ANNOUNCE_ABOVE]
    ):
        announce(scales, table)
    if (
        table[table.shape[0] - 1, ANNOUNCEMENTS] != scales[COUNT_SEEN]
        or scales[OWN_GROWTH + USER] > scales[GROWTH_AT_REFRESH + USER] * alphas[REFRESH_ABOVE]
        or scales[OWN_GROWTH + ITEM] > scales[GROWTH_AT_REFRESH + ITEM] * alphas[REFRESH_ABOVE]
    ):
        refresh_scales(scales, table)


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
    return np.float32(0.0) if abs(value) < FLUSH_BELOW else value  # NaN stays NaN


@njit(cache=True, nogil=True, _nrt=False, error_model="numpy")
def renormalise(params, scales, side, threshold):
    """Fold ``scales[side]`` back into the stored parameters once it exceeds ``threshold``."""
    s = scales[side]
    if s <= threshold:
        return
    inv = np.float32(1.0 / s)
    emb = params[EMB]
    bias = params[BIAS]
    for f in range(emb.shape[0]):
        for c in range(emb.shape[1]):
            emb[f, c] = _folded(emb[f, c], inv)
        bias[f] = _folded(bias[f], inv)
    scales[side] = 1.0
