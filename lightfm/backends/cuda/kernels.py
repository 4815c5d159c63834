"""CUDA kernels of the GPU engine: Hogwild training with one lane group per worker, and scoring.

Training mirrors the CPU kernels (:mod:`lightfm.backends.cpu.kernels`) example by
example. A *worker* is a group of ``lanes`` threads (a whole warp, 32 lanes, on
a GPU) that walks its contiguous chunk of the shuffled examples one after
another, exactly as a CPU thread walks its chunk: lane ``l`` owns components
``l, l + lanes, ...`` of every representation, dot products are reduced across
the group, and every lane keeps an identical copy of the worker's RNG word and
candidate ring, so that every decision (which negative, whether it violates the
margin, when to stop) is the same on all lanes without any communication. That
holds only if every value a decision depends on is the same on all lanes, so
parameters that several lanes would read (biases) are read by lane 0 alone and
broadcast, and scores come out of the reduction, identical on all lanes.

With one worker the random stream is the CPU engine's on one thread (the same
xorshift64*, Fisher-Yates shuffle and candidate ring), so training is the CPU
engine's up to float32 rounding; the tests rely on it.

On a GPU the reductions are warp shuffles; Numba's CUDA simulator has none, so
there (``NUMBA_ENABLE_CUDASIM=1``) they go through shared memory, one lane group
per block, with any power of two up to 32 lanes.
"""

import contextlib
import math
import warnings

import numpy as np
from numba import config, cuda, float32, float64, int64
from numba.core.errors import NumbaPerformanceWarning

# The constants both engines train with, defined once (the loss codes, the candidate ring, the lazy-L2
# fold threshold, the flush of folded values, WARP's loss clip, BPR's redraws, the accumulators'
# ceiling and the RNG's constants): the CPU kernels import the same objects.
from .._common import (
    ACC_MAX,
    BPR,
    FLUSH_BELOW,
    FOLD_ABOVE,
    ITEM,
    LOGISTIC,
    MAX_BPR_DRAWS,
    MAX_GROWTH,
    MAX_WARP_LOSS,
    RING_SIZE,
    RNG_FRACTION_SHIFT,
    RNG_HIGH_HALF,
    RNG_INV_2_24,
    RNG_MULTIPLIER,
    RNG_SHIFT_A,
    RNG_SHIFT_B,
    RNG_SHIFT_C,
    USER,
    WARP,
)

SIMULATOR = bool(getattr(config, "ENABLE_CUDASIM", 0))

# Components a lane holds in its registers/local memory: no_components <= lanes * MAX_PER_LANE.
MAX_PER_LANE = 16
WARP_SIZE = 32
# A worker's ring: the index of its oldest candidate (RING_OLDEST), then the candidates (from RING_FIRST);
# no prefetch flag, unlike the CPU engine's ring.
RING_OLDEST, RING_FIRST = 0, 1
RING_SLOTS = RING_FIRST + RING_SIZE
# The alphas a worker reads: (user_alpha, item_alpha, max_growth), at USER, ITEM and MAX_GROWTH.
N_ALPHAS = MAX_GROWTH + 1

_FULL_MASK = 0xFFFFFFFF
_ONE32 = np.float32(1.0)
_ZERO32 = np.float32(0.0)


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

    def _mul64(a, b):
        # NumPy warns on the wrap-around that the generator relies on; a GPU just wraps.
        return np.uint64((int(a) * int(b)) & _MASK64)

    def _exp32(x):
        with np.errstate(over="ignore"):
            return np.exp(np.float32(x))

    def group_sum(value, lane, lanes, buf):
        """Sum of ``value`` over the lane group, the same on every lane (through shared memory)."""
        cuda.syncthreads()
        buf[lane] = value
        cuda.syncthreads()
        total = buf[0]
        for other in range(1, lanes):
            total += buf[other]
        return total

    def group_broadcast(value, lane, lanes, buf):
        """Lane 0's ``value`` on every lane."""
        cuda.syncthreads()
        if lane == 0:
            buf[0] = value
        cuda.syncthreads()
        return buf[0]

else:

    @cuda.jit(device=True)
    def _mul64(a, b):
        return a * b

    @cuda.jit(device=True)
    def _exp32(x):
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
    return x, _mul64(x, RNG_MULTIPLIER)


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


# -- building blocks (lightfm.backends.cpu.kernels.sgd and .schedules, one lane's components) ------
# Twins of the CPU ones for the same reason as the RNG's above, split over a warp's lanes.


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
    b = _ZERO32
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
            out[k] = _ZERO32
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
    s = _ZERO32
    k = 0
    for _ in range(lane, d, lanes):
        s += a[k] * b[k]
        k += 1
    return group_sum(s, lane, lanes, buf)


@cuda.jit(device=True)
def score_item(urep, ubias, identity, indptr, indices, data, emb, bias, row, scale, lane, lanes, buf):
    """Score of item ``row`` for a user representation, without materialising the item's."""
    d = emb.shape[1]
    s = _ZERO32
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
            part = _ZERO32
            k = 0
            for c in range(lane, d, lanes):
                part += urep[k] * emb[f, c]
                k += 1
            if lane == 0:
                part += bias[f]
            s += data[p] * part
    return group_sum(s, lane, lanes, buf) * scale + ubias


@cuda.jit(device=True)
def _saturated(value):
    """``value``, at most float32's largest (the accumulators' ceiling, as on the CPU)."""
    return value if value < ACC_MAX else ACC_MAX


@cuda.jit(device=True)
def _regularised(value, alpha, rate):
    """``value * (1 + alpha * rate)``, as on the CPU (lightfm.backends.cpu.kernels.schedules)."""
    return value * (_ONE32 + alpha * rate)


@cuda.jit(device=True)
def _step(values, acc, mom, f, c, g, adadelta, learning_rate, rho, epsilon, alpha):
    """One adagrad or adadelta step of ``values[f, c]`` along ``g``, then its growth by the lazy L2
    (see lightfm.backends.cpu.kernels.sgd); returns the local learning rate.

    Adagrad takes its rate from the accumulator before this step's squared gradient is added.
    """
    if adadelta:
        one_minus_rho = _ONE32 - rho
        a = _saturated(rho * acc[f, c] + one_minus_rho * g * g)
        acc[f, c] = a
        r = math.sqrt(mom[f, c] + epsilon) / math.sqrt(a + epsilon)
        step = r * g
        mom[f, c] = _saturated(rho * mom[f, c] + one_minus_rho * step * step)
        values[f, c] = _regularised(values[f, c] - step, alpha, r)
        return np.float32(r)
    a = acc[f, c]
    r = learning_rate / math.sqrt(a)
    acc[f, c] = _saturated(a + g * g)
    values[f, c] = _regularised(values[f, c] - r * g, alpha, r)
    return np.float32(r)


@cuda.jit(device=True)
def _step_bias(values, acc, mom, f, g, adadelta, learning_rate, rho, epsilon, alpha):
    """:func:`_step` on a bias."""
    if adadelta:
        one_minus_rho = _ONE32 - rho
        a = _saturated(rho * acc[f] + one_minus_rho * g * g)
        acc[f] = a
        r = math.sqrt(mom[f] + epsilon) / math.sqrt(a + epsilon)
        step = r * g
        mom[f] = _saturated(rho * mom[f] + one_minus_rho * step * step)
        values[f] = _regularised(values[f] - step, alpha, r)
        return np.float32(r)
    a = acc[f]
    r = learning_rate / math.sqrt(a)
    acc[f] = _saturated(a + g * g)
    values[f] = _regularised(values[f] - r * g, alpha, r)
    return np.float32(r)


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
    lr_sum = _ZERO32
    if identity:
        k = 0
        for c in range(lane, d, lanes):
            lr_sum += _step(emb, eacc, emom, row, c, coef * grad[k], adadelta, learning_rate, rho, epsilon, alpha)
            k += 1
        if lane == 0:
            lr_sum += _step_bias(bias, bacc, bmom, row, bias_grad, adadelta, learning_rate, rho, epsilon, alpha)
        return lr_sum, d + 1
    for p in range(indptr[row], indptr[row + 1]):
        f = indices[p]
        w = data[p]
        k = 0
        for c in range(lane, d, lanes):
            lr_sum += _step(emb, eacc, emom, f, c, w * coef * grad[k], adadelta, learning_rate, rho, epsilon, alpha)
            k += 1
        if lane == 0:
            lr_sum += _step_bias(bias, bacc, bmom, f, w * bias_grad, adadelta, learning_rate, rho, epsilon, alpha)
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


def make_train_kernel(loss_code, adadelta, user_identity, item_identity):
    """The training kernel of one loss, schedule and pair of feature kinds (constants, so dead code goes).

    One launch walks, for every worker ``w``, ``order[positions[w]:ends[w]]``
    for at most ``wave_steps`` steps, stopping early (like the CPU kernels) once
    a lazy-regularisation scale passes FOLD_ABOVE; it leaves the RNG state,
    candidate ring, position and the worker's scales in ``states``, ``rings``,
    ``positions`` and ``worker_scales`` for the next launch.
    """
    ranking = loss_code != LOGISTIC
    uniform = loss_code != BPR

    @cuda.jit(device=True)
    def pairwise_update(
        loss, u, pos, neg, urep, irep, jrep, gbuf, scales, alphas,
        u_indptr, u_indices, u_data, u_emb, u_eacc, u_emom, u_bias, u_bacc, u_bmom,
        i_indptr, i_indices, i_data, i_emb, i_eacc, i_emom, i_bias, i_bacc, i_bmom,
        learning_rate, rho, epsilon, lane, lanes, buf,
    ):  # fmt: skip
        # The user's bias cancels in the difference of scores but is stepped all the same, as on the CPU.
        d = u_emb.shape[1]
        k = 0
        for _ in range(lane, d, lanes):
            gbuf[k] = jrep[k] - irep[k]
            k += 1
        lr_u, n_u = update_side(
            gbuf, loss, loss, user_identity, u_indptr, u_indices, u_data, u_emb, u_eacc, u_emom,
            u_bias, u_bacc, u_bmom, u, adadelta, learning_rate, rho, epsilon, alphas[USER], lane, lanes,
        )  # fmt: skip
        lr_p, n_p = update_side(
            urep, -loss, -loss, item_identity, i_indptr, i_indices, i_data, i_emb, i_eacc, i_emom,
            i_bias, i_bacc, i_bmom, pos, adadelta, learning_rate, rho, epsilon, alphas[ITEM], lane, lanes,
        )  # fmt: skip
        lr_n, n_n = update_side(
            urep, loss, loss, item_identity, i_indptr, i_indices, i_data, i_emb, i_eacc, i_emom,
            i_bias, i_bacc, i_bmom, neg, adadelta, learning_rate, rho, epsilon, alphas[ITEM], lane, lanes,
        )  # fmt: skip
        decay(scales, alphas, lr_u + lr_p + lr_n, n_u + n_p + n_n, lane, lanes, buf)

    @cuda.jit(device=True)
    def warp_negative(
        state, ring, u, pos, pos_score, weight, max_loss, urep, ubias, irep, jrep, gbuf, scales, alphas,
        pos_indptr, pos_indices, neg_prob, neg_alias, n_items, max_sampled,
        u_indptr, u_indices, u_data, u_emb, u_eacc, u_emom, u_bias, u_bacc, u_bmom,
        i_indptr, i_indices, i_data, i_emb, i_eacc, i_emom, i_bias, i_bacc, i_bmom,
        learning_rate, rho, epsilon, lane, lanes, buf,
    ):  # fmt: skip
        # Negatives one after another until the first violator, as the CPU kernel does.
        si = np.float32(scales[ITEM])
        for draw in range(1, max_sampled + 1):
            state, neg = next_candidate(state, ring, uniform, neg_prob, neg_alias, n_items)
            neg_score = score_item(
                urep, ubias, item_identity, i_indptr, i_indices, i_data, i_emb, i_bias, neg, si, lane, lanes, buf
            )
            if neg_score > pos_score - _ONE32:
                if is_positive(pos_indptr, pos_indices, u, neg):
                    continue
                estimate = math.floor((n_items - 1) / draw)
                # The sample weight inside the clip, as in the original (and the CPU kernels).
                loss = weight * math.log(estimate if estimate > 1.0 else 1.0)
                loss = np.float32(loss if loss < max_loss else max_loss)
                represent(jrep, item_identity, i_indptr, i_indices, i_data, i_emb, i_bias, neg, si, lane, lanes, buf)
                pairwise_update(
                    loss, u, pos, neg, urep, irep, jrep, gbuf, scales, alphas,
                    u_indptr, u_indices, u_data, u_emb, u_eacc, u_emom, u_bias, u_bacc, u_bmom,
                    i_indptr, i_indices, i_data, i_emb, i_eacc, i_emom, i_bias, i_bacc, i_bmom,
                    learning_rate, rho, epsilon, lane, lanes, buf,
                )  # fmt: skip
                break
        return state

    @cuda.jit
    def train(
        order, ends, positions, wave_steps, states, rings, worker_scales, start_scales,
        rows, cols, labels, weights, weighted,
        pos_indptr, pos_indices, neg_prob, neg_alias, n_items, max_sampled, kos_k, kos_ids, kos_scores,
        u_indptr, u_indices, u_data, u_emb, u_eacc, u_emom, u_bias, u_bacc, u_bmom,
        i_indptr, i_indices, i_data, i_emb, i_eacc, i_emom, i_bias, i_bacc, i_bmom,
        learning_rate, rho, epsilon, user_alpha, item_alpha, max_growth, lanes, n_workers,
    ):  # fmt: skip
        buf = cuda.shared.array(WARP_SIZE, float32)
        urep = cuda.local.array(MAX_PER_LANE, float32)
        irep = cuda.local.array(MAX_PER_LANE, float32)
        jrep = cuda.local.array(MAX_PER_LANE, float32)
        gbuf = cuda.local.array(MAX_PER_LANE, float32)
        ring = cuda.local.array(RING_SLOTS, int64)
        scales = cuda.local.array(2, float64)
        alphas = cuda.local.array(N_ALPHAS, float32)
        tid = cuda.grid(1)
        w = tid // lanes
        lane = tid - w * lanes
        if w >= n_workers:
            return
        alphas[USER] = user_alpha
        alphas[ITEM] = item_alpha
        alphas[MAX_GROWTH] = max_growth
        # Each worker starts from the global scales and applies its own decay at once; other
        # workers' decay reaches it at the next launch (the caller combines them).
        scales[USER] = start_scales[USER]
        scales[ITEM] = start_scales[ITEM]
        state = states[w]
        for slot in range(RING_SLOTS):
            ring[slot] = rings[w, slot]
        p = positions[w]
        hi = ends[w]
        if ranking and p < hi and ring[RING_OLDEST] < 0:
            state = fill_ring(state, ring, uniform, neg_prob, neg_alias, n_items)
        steps = 0
        while p < hi and steps < wave_steps:
            if scales[USER] > FOLD_ABOVE or scales[ITEM] > FOLD_ABOVE:
                break
            i = order[p]
            u = rows[i]
            weight = weights[i] if weighted else _ONE32
            if loss_code == LOGISTIC:
                it = cols[i]
                su = np.float32(scales[USER])
                si = np.float32(scales[ITEM])
                ub = represent(urep, user_identity, u_indptr, u_indices, u_data, u_emb, u_bias, u, su,
                               lane, lanes, buf)  # fmt: skip
                ib = represent(irep, item_identity, i_indptr, i_indices, i_data, i_emb, i_bias, it, si,
                               lane, lanes, buf)  # fmt: skip
                s = dot(urep, irep, u_emb.shape[1], lane, lanes, buf) + ub + ib
                y = _ONE32 if labels[i] > 0 else _ZERO32
                prob = _ONE32 / (_ONE32 + _exp32(-s))
                loss = weight * (prob - y)
                lr_u, n_u = update_side(
                    irep, loss, loss, user_identity, u_indptr, u_indices, u_data, u_emb, u_eacc, u_emom,
                    u_bias, u_bacc, u_bmom, u, adadelta, learning_rate, rho, epsilon, alphas[USER], lane, lanes,
                )  # fmt: skip
                lr_i, n_i = update_side(
                    urep, loss, loss, item_identity, i_indptr, i_indices, i_data, i_emb, i_eacc, i_emom,
                    i_bias, i_bacc, i_bmom, it, adadelta, learning_rate, rho, epsilon, alphas[ITEM], lane, lanes,
                )  # fmt: skip
                decay(scales, alphas, lr_u + lr_i, n_u + n_i, lane, lanes, buf)
            elif loss_code == BPR:
                pos = cols[i]
                if pos_indptr[u + 1] - pos_indptr[u] < n_items:
                    neg = -1
                    for _ in range(MAX_BPR_DRAWS):
                        state, candidate = next_candidate(state, ring, uniform, neg_prob, neg_alias, n_items)
                        if not is_positive(pos_indptr, pos_indices, u, candidate):
                            neg = candidate
                            break
                    if neg >= 0:
                        su = np.float32(scales[USER])
                        si = np.float32(scales[ITEM])
                        ub = represent(urep, user_identity, u_indptr, u_indices, u_data, u_emb, u_bias, u, su,
                                       lane, lanes, buf)  # fmt: skip
                        ib = represent(irep, item_identity, i_indptr, i_indices, i_data, i_emb, i_bias, pos, si,
                                       lane, lanes, buf)  # fmt: skip
                        jb = represent(jrep, item_identity, i_indptr, i_indices, i_data, i_emb, i_bias, neg, si,
                                       lane, lanes, buf)  # fmt: skip
                        d = u_emb.shape[1]
                        x = (dot(urep, irep, d, lane, lanes, buf) + ub + ib) - (
                            dot(urep, jrep, d, lane, lanes, buf) + ub + jb
                        )
                        loss = weight / (_ONE32 + _exp32(x))
                        pairwise_update(
                            loss, u, pos, neg, urep, irep, jrep, gbuf, scales, alphas,
                            u_indptr, u_indices, u_data, u_emb, u_eacc, u_emom, u_bias, u_bacc, u_bmom,
                            i_indptr, i_indices, i_data, i_emb, i_eacc, i_emom, i_bias, i_bacc, i_bmom,
                            learning_rate, rho, epsilon, lane, lanes, buf,
                        )  # fmt: skip
            else:
                si = np.float32(scales[ITEM])
                max_loss = MAX_WARP_LOSS if loss_code == WARP else math.inf  # k-OS is not clipped
                pos = -1
                if loss_code == WARP:
                    pos = cols[i]
                    ub = represent(urep, user_identity, u_indptr, u_indices, u_data, u_emb, u_bias, u,
                                   np.float32(scales[USER]), lane, lanes, buf)  # fmt: skip
                else:
                    # k-OS: the k-th best of up to n of the user's own items, drawn with replacement.
                    start = pos_indptr[u]
                    n_pos = pos_indptr[u + 1] - start
                    weight = _ONE32
                    ub = _ZERO32
                    if n_pos > 0:
                        ub = represent(urep, user_identity, u_indptr, u_indices, u_data, u_emb, u_bias, u,
                                       np.float32(scales[USER]), lane, lanes, buf)  # fmt: skip
                        m = kos_ids.shape[1] if kos_ids.shape[1] < n_pos else n_pos
                        for s_ in range(m):
                            state, r = next_below(state, n_pos)
                            item_id = pos_indices[start + r]
                            kos_ids[w, s_] = item_id
                            # Every lane writes the same value and reads back its own write.
                            kos_scores[w, s_] = score_item(
                                urep, ub, item_identity, i_indptr, i_indices, i_data, i_emb, i_bias, item_id,
                                si, lane, lanes, buf,
                            )  # fmt: skip
                        target = (kos_k if kos_k < m else m) - 1 if kos_k > 1 else 0
                        pos = kos_ids[w, 0]
                        for s_ in range(m):
                            above = 0
                            for t in range(m):
                                if kos_scores[w, t] > kos_scores[w, s_] or (
                                    kos_scores[w, t] == kos_scores[w, s_] and t < s_
                                ):
                                    above += 1
                            if above == target:
                                pos = kos_ids[w, s_]
                if pos >= 0:
                    ib = represent(irep, item_identity, i_indptr, i_indices, i_data, i_emb, i_bias, pos, si,
                                   lane, lanes, buf)  # fmt: skip
                    pos_score = dot(urep, irep, u_emb.shape[1], lane, lanes, buf) + ub + ib
                    state = warp_negative(
                        state, ring, u, pos, pos_score, weight, max_loss, urep, ub, irep, jrep, gbuf, scales, alphas,
                        pos_indptr, pos_indices, neg_prob, neg_alias, n_items, max_sampled,
                        u_indptr, u_indices, u_data, u_emb, u_eacc, u_emom, u_bias, u_bacc, u_bmom,
                        i_indptr, i_indices, i_data, i_emb, i_eacc, i_emom, i_bias, i_bacc, i_bmom,
                        learning_rate, rho, epsilon, lane, lanes, buf,
                    )  # fmt: skip
            p += 1
            steps += 1
        if lane == 0:
            states[w] = state
            positions[w] = p
            for slot in range(RING_SLOTS):
                rings[w, slot] = ring[slot]
            worker_scales[w, USER] = scales[USER]
            worker_scales[w, ITEM] = scales[ITEM]

    return train


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
        emb[f, c] = _ZERO32 if abs(v) < FLUSH_BELOW else v
    if t < bias.shape[0]:
        v = bias[t] * inv
        bias[t] = _ZERO32 if abs(v) < FLUSH_BELOW else v


@cuda.jit
def count_nonfinite(values, out, slot):
    """Add to ``out[slot]`` the number of non-finite entries of the flat array ``values``."""
    t = cuda.grid(1)
    if t < values.shape[0]:
        v = values[t]
        if not (v - v == 0.0):  # NaN and +-inf
            cuda.atomic.add(out, slot, 1)


# -- scoring ------------------------------------------------------------------------------------------


@cuda.jit
def predict_pairs(user_repr, user_bias, user_rows, item_repr, item_bias, item_rows, out):
    """``out[p] = <user_repr[user_rows[p]], item_repr[item_rows[p]]> + biases`` (the CPU kernel's order)."""
    p = cuda.grid(1)
    if p >= out.shape[0]:
        return
    u = user_rows[p]
    i = item_rows[p]
    s = _ZERO32
    for c in range(user_repr.shape[1]):
        s += user_repr[u, c] * item_repr[i, c]
    out[p] = s + user_bias[u] + item_bias[i]


@cuda.jit
def score_block(queries, targets, out):
    """``out = queries @ targets`` (float32; ``targets`` has one column per candidate), one thread per entry."""
    j, b = cuda.grid(2)
    if b >= out.shape[0] or j >= out.shape[1]:
        return
    s = _ZERO32
    for c in range(queries.shape[1]):
        s += queries[b, c] * targets[c, j]
    out[b, j] = s


@cuda.jit
def mask_entries(scores, block_rows, indptr, indices, column_of):
    """Set to -inf the entries of ``scores`` that row ``block_rows[b]`` of a CSR lists (one thread per row)."""
    b = cuda.grid(1)
    if b >= block_rows.shape[0]:
        return
    r = block_rows[b]
    for j in range(indptr[r], indptr[r + 1]):
        c = column_of[indices[j]]
        if c >= 0:
            scores[b, c] = -np.inf


@cuda.jit
def rank_entries(scores, block_users, test_indptr, test_indices, train_indptr, train_indices, ranks):
    """Ranks of each block user's test items among its non-train items, one block of threads per user.

    A test item's rank counts the other non-train items scoring at least as
    high (pessimistic ties, as the CPU engine and the original LightFM do).
    ``scores`` must already have the train items at -inf.
    """
    counts = cuda.shared.array(256, int64)
    b = cuda.blockIdx.x
    t = cuda.threadIdx.x
    threads = cuda.blockDim.x
    u = block_users[b]
    n_items = scores.shape[1]
    for e in range(test_indptr[u], test_indptr[u + 1]):
        item = test_indices[e]
        target = scores[b, item]
        count = 0
        for c in range(t, n_items, threads):
            if scores[b, c] >= target:
                count += 1
        counts[t] = count
        cuda.syncthreads()
        step = threads // 2
        while step > 0:
            if t < step:
                counts[t] += counts[t + step]
            cuda.syncthreads()
            step //= 2
        if t == 0:
            # The item counted itself unless it is a train item (masked to -inf).
            total = counts[0]
            if target != -np.inf:
                total -= 1
            ranks[e] = total
        cuda.syncthreads()


@cuda.jit(device=True)
def _better(score_a, column_a, score_b, column_b):
    return score_a > score_b or (score_a == score_b and column_a < column_b)


@cuda.jit
def top_n_rows(scores, candidates, out_items, out_scores):
    """Best ``out_items.shape[1]`` entries of each row of ``scores``, best first, one block per row.

    Ties go to the lower column; -inf (excluded) and NaN never qualify. Each of
    the n rounds finds the best entry ranking below the previous round's, with a
    block-wide reduction. Slots left over hold item -1 and score -inf.
    """
    best_scores = cuda.shared.array(256, float32)
    best_columns = cuda.shared.array(256, int64)
    b = cuda.blockIdx.x
    t = cuda.threadIdx.x
    threads = cuda.blockDim.x
    m = scores.shape[1]
    n = out_items.shape[1]
    previous_score = np.float32(np.inf)
    previous_column = np.int64(-1)
    found = 0
    for slot in range(n):
        mine_score = np.float32(-np.inf)
        mine_column = np.int64(-1)
        for c in range(t, m, threads):
            s = scores[b, c]
            if s > -np.inf and _better(previous_score, previous_column, s, c):
                if mine_column < 0 or _better(s, c, mine_score, mine_column):
                    mine_score = s
                    mine_column = c
        best_scores[t] = mine_score
        best_columns[t] = mine_column
        cuda.syncthreads()
        step = threads // 2
        while step > 0:
            if t < step:
                other_column = best_columns[t + step]
                if other_column >= 0 and (
                    best_columns[t] < 0 or _better(best_scores[t + step], other_column, best_scores[t], best_columns[t])
                ):
                    best_scores[t] = best_scores[t + step]
                    best_columns[t] = other_column
            cuda.syncthreads()
            step //= 2
        column = best_columns[0]
        value = best_scores[0]
        cuda.syncthreads()
        if column < 0:
            break
        if t == 0:
            out_items[b, slot] = candidates[column]
            out_scores[b, slot] = value
        previous_score = value
        previous_column = column
        found += 1
    if t == 0:
        for slot in range(found, n):
            out_items[b, slot] = -1
            out_scores[b, slot] = -np.inf
