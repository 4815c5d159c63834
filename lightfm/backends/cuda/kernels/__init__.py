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

Layout, by role as the CPU engine's kernels: :mod:`.target` (what differs between a GPU and the
simulator: warp reductions, 64-bit multiplication, launches' warnings), :mod:`.rng` (the RNG, the
shuffle and the candidate ring), :mod:`.schedules` (adagrad and adadelta on one component),
:mod:`.sgd` (the building blocks of a step: representations, scores, updates, lazy L2, and the
folding and divergence kernels), :mod:`.train` (the training kernel, one per loss, schedule and
feature kinds, with each loss's step) and :mod:`.scoring` (products, ranks, top n). The constants
both engines train with come from :mod:`lightfm.backends._common`, the very objects the CPU kernels
use.
"""

from .rng import RING_FIRST, RING_OLDEST, RING_SLOTS, shuffle_chunks
from .scoring import mask_entries, predict_pairs, rank_entries, score_block, top_n_rows
from .sgd import MAX_PER_LANE, N_ALPHAS, count_nonfinite, fold_scale
from .target import SIMULATOR, WARP_SIZE, quiet_launches
from .train import make_train_kernel

__all__ = [
    "MAX_PER_LANE",
    "N_ALPHAS",
    "RING_FIRST",
    "RING_OLDEST",
    "RING_SLOTS",
    "SIMULATOR",
    "WARP_SIZE",
    "count_nonfinite",
    "fold_scale",
    "make_train_kernel",
    "mask_entries",
    "predict_pairs",
    "quiet_launches",
    "rank_entries",
    "score_block",
    "shuffle_chunks",
    "top_n_rows",
]
