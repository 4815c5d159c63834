"""Where each value sits in the tuples and arrays the CPU kernels take: one name per index.

The kernels take their arguments as tuples (see :mod:`.epoch` for the whole list) and a few small
arrays; the engine (:mod:`lightfm.backends.cpu.training`, :mod:`lightfm.backends.cpu.foldin`)
builds them in the order below, and every kernel reads them by these names. Numba reads a
module-level integer as a compile-time constant, so ``opt[ALPHAS]`` compiles as ``opt[1]`` did
(a tuple of mixed types can only be indexed by a constant) and costs nothing. The indices both
engines use (each side's entry of the scales and alphas, ``USER`` and ``ITEM``, and ``MAX_GROWTH``)
are in :mod:`lightfm.backends._common`.

Numba's cache is keyed on the source file of each kernel, not on this one: after changing a
value here during development, delete ``lightfm/backends/cpu/kernels/__pycache__/*.nb*``.
"""

# ``samples``: the COO interactions (the engine passes rows and columns as uint32 views).
ROWS, COLS, LABELS = 0, 1, 2

# ``lookup``: each user's own items (CSR, sorted), BPR's alias table ``(prob, alias)`` of negatives,
# and the number of items.
POS_INDPTR, POS_INDICES, NEGATIVES, N_ITEMS = 0, 1, 2, 3
PROB, ALIAS = 0, 1

# ``loss_args``: WARP's most draws per example, and k-OS's k and n (also its sample buffers' size).
MAX_SAMPLED, KOS_K, KOS_N = 0, 1, 2

# ``params``: a side's arrays (lightfm.backends.base.Side's order); the ``_MOM`` ones are None
# under adagrad.
EMB, EMB_ACC, EMB_MOM, BIAS, BIAS_ACC, BIAS_MOM = 0, 1, 2, 3, 4, 5

# ``opt``: the schedule's hyperparameters, the alphas, this thread's line of the table of
# lazy-regularisation scales, and the table (see .sgd).
SCHEDULE, ALPHAS, SCALES, TABLE = 0, 1, 2, 3
# ``schedule``: adagrad reads the learning rate, adadelta rho and epsilon.
LEARNING_RATE, RHO, EPSILON = 0, 1, 2
# ``alphas``: (user_alpha, item_alpha, max_growth, refresh_above, announce_above): each side's L2
# coefficient at its side's index (USER, ITEM, shared with the CUDA engine), the cap on one step's
# growth of a scale (MAX_GROWTH, likewise), and the growths after which a thread re-reads the other
# threads' growth and announces its own.
REFRESH_ABOVE, ANNOUNCE_ABOVE = 3, 4

# One thread's line of the float64 table of scales (SCALE_ROW entries: two cache lines, so that the
# adjacent-line prefetcher of one thread's line never pulls in another's). Each pair holds the users'
# entry, then the items' (``line[PAIR + side]``, side USER or ITEM): the thread's own growth of each
# scale, its copy of the other threads' product of it, and its own growth at its last refresh and at
# its last announcement; then its index and the announcement count it last saw.
OWN_GROWTH = 0
OTHERS_GROWTH = 2
GROWTH_AT_REFRESH = 4
THREAD_INDEX = 6
COUNT_SEEN = 7
GROWTH_AT_ANNOUNCE = 8
SCALE_ROW = 16
# The table's last line holds the announcement count.
ANNOUNCEMENTS = 0

# ``scratch``: one thread's working memory (.epoch.make_scratch): the user's, the positive's and the
# negative's representations, a gradient buffer, k-OS's sampled items and their scores, and the ring
# of negative candidates.
USER_REPR, POS_REPR, NEG_REPR, GRAD, KOS_IDS, KOS_SCORES, RING = 0, 1, 2, 3, 4, 5, 6
# The ring (.candidates): the index of its oldest candidate (-1 before it is filled), whether rows
# are prefetched, then RING_SIZE candidates.
RING_OLDEST, RING_PREFETCH, RING_FIRST = 0, 1, 2

# Fold-in (.foldin): ``hyper`` (float32) and ``ints`` (int64).
HYPER_LEARNING_RATE, HYPER_RHO, HYPER_EPSILON, HYPER_ALPHA = 0, 1, 2, 3
INT_LOSS, INT_ADADELTA, INT_MAX_SAMPLED, INT_KOS_K, INT_KOS_N, INT_ITEM_ROWS = 0, 1, 2, 3, 4, 5
