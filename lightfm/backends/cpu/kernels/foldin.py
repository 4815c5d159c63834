"""Fold-in: representations of new rows (users, or items) learned against a frozen model.

Each row, a user and the items they interacted with (or an item and its users),
is trained alone: an *offset* embedding and bias, added to the frozen sum of the
row's features (``base``), takes SGD steps with the model's loss and schedule
while every parameter of the model stays as it is. Rows share nothing, so any
number of threads gives the same result; each row's random draws start from a
seed made from its own interactions, so a row folds in to the same
representation alone or in a batch.

Arguments, all plain arrays and scalars:

- ``indptr`` (int64), ``indices`` (int32, sorted within each row), ``labels``,
  ``weights`` (float32): the rows' interactions in CSR form, duplicates kept
  (each stored entry is an example, as in training);
- ``targets``, ``target_bias``: the frozen representations the row's indices
  point to (items for user rows, users for item rows);
- ``catalogue``, ``catalogue_bias``: the frozen items negatives are drawn from
  (for user rows, ``targets`` themselves);
- ``thresholds``: for item rows, each user's score of their tenth best item;
- ``base`` ``[n_rows, d + 1]``: each row's frozen feature sum, bias last;
- ``own``: each row's weight of its offset, which is learned as a feature of that weight;
- ``emb``, ``emb_acc``, ``emb_mom``, ``bias``, ``bias_acc``, ``bias_mom``: the
  offsets and their optimiser accumulators (a :class:`lightfm._state.Side`),
  trained in place (the ``_mom`` arrays used by adadelta only);
- ``hyper = (learning_rate, rho, epsilon, alpha)`` and ``ints = (loss code,
  adadelta, max_sampled, k, n, rows are items)``; ``epochs``: each row's
  number of passes over its interactions;
- ``order``, ``kos_ids``, ``kos_scores``, ``rep``, ``grad``: the calling
  thread's working memory (``order`` as long as the longest row).

User rows train as a fit trains a user: WARP and BPR step on their entries
> 0 against negative items they have no entry for, k-OS visits each entry,
logistic steps on every entry. BPR draws its negatives uniformly, since the
training interactions' item frequencies are not part of a model. Item rows
mirror it: each entry (user ``u``, the item) is a positive for ``u``, against
negatives drawn uniformly from the frozen catalogue, and the step moves only
the item; k-OS then steps as WARP with its unclipped loss (one known positive
per user leaves nothing to order). Stepped only up, a new item rose into every
user's top 10 (MovieLens, WARP: 96% of the slots); in a fit, an item is also
every other user's candidate negative, which holds it down. So before each of
these steps an item row also takes one as a negative, where it is near the top
of users who are not its own: users are drawn until one (not the row's) scores
it within the margin of their top-10 boundary (``thresholds``), and the item
steps down for that user (WARP's rank weight of the draws, or for BPR the
sigmoid of its score over the boundary). Logistic rows have their negatives in
their labels.

L2: after each step the offset shrinks by ``1 / (1 + alpha * mean local
learning rate)``. The original's lazy scheme shrinks a row by how much every
*other* row of the fit was stepped, which a lone row has no measure of.
"""

import math

import numpy as np

from ..._common import ACC_MAX, BPR, LOGISTIC, MAX_BPR_DRAWS, MAX_WARP_LOSS, RNG_GOLDEN, WARP_KOS
from ..._jit import njit
from .layout import (
    HYPER_ALPHA,
    HYPER_EPSILON,
    HYPER_LEARNING_RATE,
    HYPER_RHO,
    INT_ADADELTA,
    INT_ITEM_ROWS,
    INT_KOS_K,
    INT_KOS_N,
    INT_LOSS,
    INT_MAX_SAMPLED,
)
from .rng import next_below

_MIX = np.uint64(0xBF58476D1CE4E5B9)
_S31 = np.uint64(31)
_ONE = np.float32(1.0)
# An item row is pushed down for users not its own, drawn until one has it near their top: at most
# this many times max_sampled draws, so that an item in fewer than about 1 in (this x max_sampled)
# such users' tops is left there. With one times (10 draws), new MovieLens items took 14% of the
# slots in the top 10 of users who did not have them; with 10 times, 7%; with 100 times, 6.5%.
PUSH_DRAWS = 10


@njit(cache=True, nogil=True, inline="always")
def _row_seed(indices, start, stop):
    """A non-zero xorshift state made from the row's item indices alone."""
    h = RNG_GOLDEN ^ np.uint64(stop - start)
    for p in range(start, stop):
        h = (h ^ np.uint64(indices[p])) * _MIX
        h ^= h >> _S31
    return h if h != np.uint64(0) else RNG_GOLDEN


@njit(cache=True, nogil=True, inline="always")
def _has(indices, start, stop, item):
    """Binary search for ``item`` in ``indices[start:stop]`` (sorted)."""
    lo, hi = start, stop
    while lo < hi:
        mid = (lo + hi) >> 1
        v = indices[mid]
        if v < item:
            lo = mid + 1
        elif v > item:
            hi = mid
        else:
            return True
    return False


@njit(cache=True, nogil=True, fastmath=True, inline="always")
def _dot(a, b, d):
    s = np.float32(0.0)
    for c in range(d):
        s += a[c] * b[c]
    return s


@njit(cache=True, nogil=True, fastmath=True, inline="always")
def _step(r, grad, coef, bias_grad, emb, bias, emb_acc, bias_acc, emb_mom, bias_mom, hyper, adadelta, weight):
    """One schedule step of row ``r``'s offset, of feature weight ``weight``, along ``coef * grad`` (bias:
    ``bias_grad``), then L2."""
    coef *= weight
    bias_grad *= weight
    learning_rate, rho = hyper[HYPER_LEARNING_RATE], hyper[HYPER_RHO]
    epsilon, alpha = hyper[HYPER_EPSILON], hyper[HYPER_ALPHA]
    d = emb.shape[1]
    lr_sum = np.float32(0.0)
    if adadelta:
        keep = _ONE - rho
        for c in range(d):
            g = coef * grad[c]
            a = min(rho * emb_acc[r, c] + keep * g * g, ACC_MAX)
            emb_acc[r, c] = a
            rate = np.sqrt(emb_mom[r, c] + epsilon) / np.sqrt(a + epsilon)
            step = rate * g
            emb_mom[r, c] = min(rho * emb_mom[r, c] + keep * step * step, ACC_MAX)
            emb[r, c] -= step
            lr_sum += rate
        a = min(rho * bias_acc[r] + keep * bias_grad * bias_grad, ACC_MAX)
        bias_acc[r] = a
        rate = np.sqrt(bias_mom[r] + epsilon) / np.sqrt(a + epsilon)
        step = rate * bias_grad
        bias_mom[r] = min(rho * bias_mom[r] + keep * step * step, ACC_MAX)
        bias[r] -= step
        lr_sum += rate
    else:
        for c in range(d):
            g = coef * grad[c]
            a = emb_acc[r, c]
            rate = learning_rate / np.sqrt(a)
            emb_acc[r, c] = min(a + g * g, ACC_MAX)
            emb[r, c] -= rate * g
            lr_sum += rate
        a = bias_acc[r]
        rate = learning_rate / np.sqrt(a)
        bias_acc[r] = min(a + bias_grad * bias_grad, ACC_MAX)
        bias[r] -= rate * bias_grad
        lr_sum += rate
    if alpha > 0.0:
        shrink = _ONE / (_ONE + alpha * lr_sum / np.float32(d + 1))
        for c in range(d):
            emb[r, c] *= shrink
        bias[r] *= shrink


@njit(cache=True, nogil=True, fastmath=True, inline="always")
def _push_down(state, r, indices, start, stop, targets, target_bias, thresholds, rep, own,
               emb, bias, emb_acc, bias_acc, emb_mom, bias_mom, hyper, adadelta, warp_like, max_sampled):  # fmt: skip
    """An item row's step as a negative: out of the top of users who are not its own.

    Draws users until one (not the row's) scores the item within the margin of their top-10 boundary
    (``thresholds``), and steps the item down for them: with WARP's rank weight of that many draws,
    or for BPR the sigmoid of the item's score over the boundary.
    """
    d = emb.shape[1]
    n_users = targets.shape[0]
    for draw in range(1, max_sampled * PUSH_DRAWS + 1):
        state, other = next_below(state, n_users)
        if _has(indices, start, stop, other):
            continue
        user = targets[other]
        mine = _dot(rep, user, d) + rep[d] + target_bias[other]
        if mine > thresholds[other] - _ONE:
            if warp_like:
                loss = np.float32(min(math.log(max(1.0, math.floor((n_users - 1) / draw))), MAX_WARP_LOSS))
            else:
                loss = _ONE / (_ONE + np.exp(thresholds[other] - mine))
            _step(r, user, loss, loss, emb, bias, emb_acc, bias_acc, emb_mom, bias_mom, hyper, adadelta, own[r])
            break
    return state


@njit(cache=True, nogil=True, fastmath=True, error_model="numpy")
def fold_in_rows(
    lo, hi, indptr, indices, labels, weights, targets, target_bias, catalogue, catalogue_bias, thresholds,
    base, own, emb, emb_acc, emb_mom, bias, bias_acc, bias_mom, hyper, ints, epochs, order, kos_ids, kos_scores, rep,
    grad,
):  # fmt: skip
    """Train the offsets of rows ``lo:hi`` in place (see the module docstring)."""
    loss_code, adadelta = ints[INT_LOSS], ints[INT_ADADELTA] != 0
    max_sampled, k, n = ints[INT_MAX_SAMPLED], ints[INT_KOS_K], ints[INT_KOS_N]
    item_rows = ints[INT_ITEM_ROWS] != 0
    d = emb.shape[1]
    n_cat = catalogue.shape[0]
    # Items a positive is ranked among: for item rows the catalogue and the row's own item.
    n_ranked = n_cat + 1 if item_rows else n_cat
    for r in range(lo, hi):
        start, stop = indptr[r], indptr[r + 1]
        state = _row_seed(indices, start, stop)
        m = 0
        for p in range(start, stop):
            if loss_code == LOGISTIC or loss_code == WARP_KOS or labels[p] > 0:
                order[m] = p
                m += 1
        for _ in range(epochs[r]):
            for i in range(m - 1, 0, -1):
                state, j = next_below(state, i + 1)
                tmp = order[i]
                order[i] = order[j]
                order[j] = tmp
            for e in range(m):
                p = order[e]
                for c in range(d):
                    rep[c] = base[r, c] + own[r] * emb[r, c]
                rep[d] = base[r, d] + own[r] * bias[r]
                t = indices[p]
                if loss_code == LOGISTIC:
                    s = _dot(rep, targets[t], d) + rep[d] + target_bias[t]
                    y = _ONE if labels[p] > 0 else np.float32(0.0)
                    loss = weights[p] * (_ONE / (_ONE + np.exp(-s)) - y)
                    _step(
                        r,
                        targets[t],
                        loss,
                        loss,
                        emb,
                        bias,
                        emb_acc,
                        bias_acc,
                        emb_mom,
                        bias_mom,
                        hyper,
                        adadelta,
                        own[r],
                    )
                    continue
                if item_rows:
                    # As a negative first, out of the top of users not its own (see the module docstring).
                    state = _push_down(state, r, indices, start, stop, targets, target_bias, thresholds, rep, own,
                                       emb, bias, emb_acc, bias_acc, emb_mom, bias_mom, hyper, adadelta,
                                       loss_code != BPR, max_sampled)  # fmt: skip
                    for c in range(d):
                        rep[c] = base[r, c] + own[r] * emb[r, c]
                    rep[d] = base[r, d] + own[r] * bias[r]
                weight = weights[p]
                max_loss = MAX_WARP_LOSS
                if loss_code == WARP_KOS:
                    weight = _ONE
                    max_loss = np.inf
                    if not item_rows:
                        # The k-th best of up to n of the row's own items is the positive.
                        n_own = stop - start
                        count = min(max(n, 1), n_own, kos_ids.shape[0])
                        for s_ in range(count):
                            state, pick = next_below(state, n_own)
                            kos_ids[s_] = indices[start + pick]
                        for s_ in range(count):
                            kos_scores[s_] = _dot(rep, targets[kos_ids[s_]], d) + target_bias[kos_ids[s_]]
                        target = min(max(k, 1), count) - 1
                        t = kos_ids[0]
                        for s_ in range(count):
                            above = 0
                            for u_ in range(count):
                                above += (kos_scores[u_] > kos_scores[s_]) | (
                                    (kos_scores[u_] == kos_scores[s_]) & (u_ < s_)
                                )
                            if above == target:
                                t = kos_ids[s_]
                # The positive's score, and which vector scores the negatives.
                if item_rows:
                    user = targets[t]
                    pos = _dot(rep, user, d) + rep[d] + target_bias[t]
                else:
                    pos = _dot(rep, targets[t], d) + rep[d] + target_bias[t]
                if loss_code == BPR:
                    neg = -1
                    for _draw in range(MAX_BPR_DRAWS):
                        state, cand = next_below(state, n_cat)
                        if item_rows or not _has(indices, start, stop, cand):
                            neg = cand
                            break
                    if neg < 0:
                        continue
                    if item_rows:
                        neg_score = _dot(user, catalogue[neg], d) + target_bias[t] + catalogue_bias[neg]
                    else:
                        neg_score = _dot(rep, catalogue[neg], d) + rep[d] + catalogue_bias[neg]
                    loss = weight / (_ONE + np.exp(pos - neg_score))
                else:
                    neg = -1
                    loss = np.float32(0.0)
                    for draw in range(1, max_sampled + 1):
                        state, cand = next_below(state, n_cat)
                        if item_rows:
                            neg_score = _dot(user, catalogue[cand], d) + target_bias[t] + catalogue_bias[cand]
                        else:
                            neg_score = _dot(rep, catalogue[cand], d) + rep[d] + catalogue_bias[cand]
                        if neg_score > pos - _ONE:
                            if not item_rows and _has(indices, start, stop, cand):
                                continue
                            neg = cand
                            loss = np.float32(
                                min(weight * math.log(max(1.0, math.floor((n_ranked - 1) / draw))), max_loss)
                            )
                            break
                    if neg < 0:
                        continue
                if item_rows:
                    # The row is the positive: pushed towards the user, its bias up.
                    _step(
                        r, user, -loss, -loss, emb, bias, emb_acc, bias_acc, emb_mom, bias_mom, hyper, adadelta, own[r]
                    )
                else:
                    # As in training, the user's bias is stepped too although it cancels in the pair.
                    for c in range(d):
                        grad[c] = catalogue[neg, c] - targets[t, c]
                    _step(r, grad, loss, loss, emb, bias, emb_acc, bias_acc, emb_mom, bias_mom, hyper, adadelta, own[r])
