"""What the estimator and both engines share, in NumPy alone: the training constants, cache-aligned
allocation, the engines' RNG seeds and their epochs' progress bar.

One definition of each: the CPU kernels (:mod:`lightfm.backends.cpu.kernels`) and the CUDA ones
(:mod:`lightfm.backends.cuda.kernels`) import them from here, and read each as a compile-time constant
(a module-level number is one to Numba, on either target), so the two engines cannot drift apart
(``tests/test_architecture.py`` checks that the CUDA kernels' values are these very objects). The
core (:mod:`lightfm._state`, :mod:`lightfm._validation`) allocates its arrays with the functions below.

Imports no engine and not Numba: ``import lightfm`` imports this module, and must not load Numba.
The Numba kernels that the core and both engines share (id look-ups, AUC from ranks) are in
:mod:`lightfm.backends._host_kernels`.
"""

from __future__ import annotations

import numpy as np

# -- losses ------------------------------------------------------------------------------------------
# The kernels' code of each loss, keyed by the names in lightfm._params.LOSSES (tests check they match).
LOGISTIC, BPR, WARP, WARP_KOS = 0, 1, 2, 3
LOSS_CODES = {"logistic": LOGISTIC, "bpr": BPR, "warp": WARP, "warp-kos": WARP_KOS}
# WARP's loss (its rank weight times the sample weight) is clipped here for numerical stability,
# as in the original; k-OS WARP's is not clipped (nor is the original's).
MAX_WARP_LOSS = 10.0
# BPR redraws a negative that turns out to be a positive at most this many times.
MAX_BPR_DRAWS = 100
# Negative candidates a worker keeps drawn ahead of use (lightfm.backends.cpu.kernels.candidates); a
# power of two (the ring's index wraps with a mask). The order of the draws depends on it.
RING_SIZE = 8

# -- schedules and lazy L2 (lightfm.backends.cpu.kernels.schedules and .sgd) ---------------------------
# Accumulators saturate here instead of overflowing: the original's overflowed accumulator (inf)
# gives a rate of 0 and freezes its parameter, but fastmath's reciprocal square root of inf is
# NaN, which spread to every parameter (logistic, adadelta, strong L2: 3 fits of 8 diverged
# where the original's 8 of 8 trained). The square root of this gives a rate of about 0 too.
ACC_MAX = np.float32(np.finfo(np.float32).max)
# A scale past this stops the epoch kernels, to be folded back into the parameters (an
# O(parameters) pass). The original's threshold: when a fold happens changes the model
# (a representation is the stored values times the scale before it, divided after it).
FOLD_ABOVE = 1e6
# Bits of growth a scale may gain beyond FOLD_ABOVE, shared out between the workers (1e6 * 2**64
# is 1.8e25: representations of stored values up to 1e13 stay finite in float32).
GROWTH_BITS = 64
# Folded values below this become 0: a strongly regularised parameter would otherwise
# decay into subnormal floats, whose arithmetic is up to a hundred times slower.
FLUSH_BELOW = np.float32(1e-30)
# Where both engines' kernels keep each side in a worker's scales and its alphas (user_alpha,
# item_alpha, ...), and the cap on one step's growth of a scale in its alphas.
USER, ITEM = 0, 1
MAX_GROWTH = 2

# -- random numbers: xorshift64* (lightfm.backends.cpu.kernels.rng) ----------------------------------
# The generator's shifts and multiplier (Vigna 2016), the shift to the high 32 bits (Lemire's
# multiply-shift), and the shift and scale that make a uniform float32 of 24 random bits.
RNG_SHIFT_A = np.uint64(12)
RNG_SHIFT_B = np.uint64(25)
RNG_SHIFT_C = np.uint64(27)
RNG_MULTIPLIER = np.uint64(0x2545F4914F6CDD1D)
RNG_HIGH_HALF = np.uint64(32)
RNG_FRACTION_SHIFT = np.uint64(40)
RNG_INV_2_24 = np.float32(1.0 / (1 << 24))
# Mixed into the seeds, and the seed of a state that would be 0 (xorshift's fixed point).
RNG_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
# Words of a Mersenne Twister's state: drawing as many regenerates it at least once.
_MT_STATE_WORDS = 624


def seed_states(random_state, n_workers):
    """Draw ``n_workers`` non-zero xorshift states from a ``np.random.RandomState``.

    At least a whole Mersenne Twister state's worth of words is drawn, so that
    ``random_state.get_state()`` visibly changes on every call: the original
    LightFM shuffles with the RandomState every epoch, and code (its tests among
    it) checks that a fit advanced it.
    """
    words = random_state.randint(1, 2**31 - 1, size=max(_MT_STATE_WORDS, 2 * n_workers))
    seeds = words[: 2 * n_workers].astype(np.uint64).reshape(n_workers, 2)
    states = (seeds[:, 0] << np.uint64(31)) ^ seeds[:, 1] ^ RNG_GOLDEN
    states[states == np.uint64(0)] = RNG_GOLDEN
    return np.ascontiguousarray(states)


def part_bounds(n, n_parts):
    """``(starts, ends)``, int64: the parts ``_host_kernels.fill_examples`` deals ``n`` examples to.

    The first ``n % n_parts`` parts hold one example more than the others.
    """
    base, extra = divmod(int(n), int(n_parts))
    sizes = np.full(n_parts, base, dtype=np.int64)
    sizes[:extra] += 1
    ends = np.cumsum(sizes)
    return ends - sizes, ends


def epoch_range(epochs, verbose):
    """``range(epochs)``, with a progress bar when ``verbose``.

    tqdm is imported only then: ``tqdm.auto`` costs about 12 ms to import, 3% of a fresh process's
    first fit with a warm Numba cache.
    """
    if not verbose:
        return range(epochs)
    from tqdm.auto import tqdm

    return tqdm(range(epochs), desc="Epoch", unit="epoch")


# -- cache-aligned allocation ----------------------------------------------------------------------------
# Bytes per cache line on every x86-64 and current ARM server core; arrays the kernels share start on one.
CACHE_LINE = 64
# Parameter rows are read and written whole by the training kernels: a row that starts on a
# cache-line boundary spans the fewest lines (a 128-byte row, 32 float32, two rather than three).


def cache_aligned_zeros(shape, dtype=np.float32) -> np.ndarray:
    """A zero-filled C-contiguous array whose data starts on a cache-line boundary.

    Zeroed by the allocator (``calloc``): pages never written cost no memory,
    like ``np.zeros``.
    """
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    buffer = np.zeros(nbytes + CACHE_LINE, dtype=np.uint8)
    start = -buffer.ctypes.data % CACHE_LINE
    return buffer[start : start + nbytes].view(dtype).reshape(shape)


def cache_private_zeros(shape, dtype=np.float32) -> np.ndarray:
    """A zero-filled array that has its cache lines to itself (aligned, and padded to whole lines).

    For a thread's working memory: small arrays allocated one after another
    share cache lines, and two threads writing their own arrays would then
    take the lines from each other at every write (false sharing).
    """
    dtype = np.dtype(dtype)
    count = int(np.prod(shape, dtype=np.int64))
    per_line = CACHE_LINE // dtype.itemsize
    padded = -(-max(count, 1) // per_line) * per_line
    return cache_aligned_zeros((padded,), dtype)[:count].reshape(shape)


def cache_aligned(array: np.ndarray) -> np.ndarray:
    """``array`` itself if C-contiguous and cache-line aligned, else such a copy."""
    if array.flags.c_contiguous and array.ctypes.data % CACHE_LINE == 0:
        return array
    aligned = cache_aligned_zeros(array.shape, array.dtype)
    aligned[...] = array
    return aligned
