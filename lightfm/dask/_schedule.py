"""When the workers' parameters are merged: a fixed count per epoch, or by staleness.

Each epoch gives every interaction (every user, for k-OS WARP) a number drawn
uniformly from [0, 1) (the same on every worker, retry and resumed fit); a
round trains the interactions whose number falls in ``[start, stop)``, and the
next round starts where it stopped. With ``syncs_per_epoch`` the epoch is cut
into that many equal slices. By default the slice adapts to how stale the
workers' item parameters grow between merges: after each merge the relative
size of the item-side changes each worker did not see while it trained,
``max over workers w of ||sum of the other workers' deltas|| / ||item_embeddings||``,
is compared with :data:`STALENESS`, and the next slice is scaled by their
ratio (at most halved or doubled per round, and kept between
1 / :data:`MAX_SYNCS_PER_EPOCH` of an epoch, where the first slice starts, and a whole epoch).
"""

from __future__ import annotations

import numpy as np

# The relative change of the item embeddings one worker may make between merges (see the module's text).
STALENESS = 0.1
MAX_SYNCS_PER_EPOCH = 64
# The first slice of an adaptive schedule: the shortest. From the small initial embeddings the first
# steps move the parameters the most, and the workers' summed first steps overshoot (a first slice of 1/16
# cost 0.009 AUC on the tastes set with 4 workers, against 0.004 for 1/64; benchmarks/bench_dask_staleness.py).
FIRST_SLICE = 1 / MAX_SYNCS_PER_EPOCH
_SCALE_LIMIT = 2.0


class SyncSchedule:
    """The rounds of a fit: :meth:`next_round` says which slice of which epoch, :meth:`merged` moves on.

    ``syncs_per_epoch`` None adapts the slices to the staleness measured at
    each merge; an integer fixes them. The schedule's position is plain data
    (:meth:`to_dict`), so a checkpoint resumes it exactly.
    """

    def __init__(self, syncs_per_epoch=None, epoch=0, round_in_epoch=0, start=0.0, fraction=None, rounds_done=0):
        self.syncs_per_epoch = syncs_per_epoch
        self.epoch = int(epoch)
        self.round_in_epoch = int(round_in_epoch)
        self.start = float(start)
        self.fraction = float(FIRST_SLICE if fraction is None else fraction)
        self.rounds_done = int(rounds_done)

    @property
    def adaptive(self) -> bool:
        return self.syncs_per_epoch is None

    @property
    def epochs_done(self) -> float:
        """Epochs trained so far, fractions included."""
        return self.epoch + self.start

    def next_round(self) -> tuple:
        """(epoch, round within the epoch, start, stop) of the round to train next."""
        if not self.adaptive:
            count = self.syncs_per_epoch
            stop = 1.0 if self.round_in_epoch + 1 >= count else (self.round_in_epoch + 1) / count
            return self.epoch, self.round_in_epoch, self.round_in_epoch / count, stop
        stop = self.start + self.fraction
        # A remainder under half a slice joins this round rather than make a round of its own.
        if stop + self.fraction / 2 >= 1.0:
            stop = 1.0
        return self.epoch, self.round_in_epoch, self.start, stop

    def merged(self, staleness: float) -> None:
        """Move past the round :meth:`next_round` gave, whose measured staleness was ``staleness``."""
        _, _, _, stop = self.next_round()
        self.rounds_done += 1
        if self.adaptive:
            if staleness > 0 and np.isfinite(staleness):
                scale = min(_SCALE_LIMIT, max(1 / _SCALE_LIMIT, STALENESS / staleness))
            else:  # nothing moved (or no items): grow as fast as allowed
                scale = _SCALE_LIMIT
            self.fraction = min(1.0, max(1 / MAX_SYNCS_PER_EPOCH, self.fraction * scale))
        if stop >= 1.0:
            self.epoch, self.round_in_epoch, self.start = self.epoch + 1, 0, 0.0
        else:
            self.round_in_epoch, self.start = self.round_in_epoch + 1, stop

    def to_dict(self) -> dict:
        return {
            "epoch": self.epoch,
            "round_in_epoch": self.round_in_epoch,
            "start": self.start,
            "fraction": self.fraction,
            "rounds_done": self.rounds_done,
        }


def staleness(item_embeddings: np.ndarray, deltas, total=None) -> float:
    """How stale the item embeddings each worker trained against were, relative to their size.

    Worker ``w`` did not see the other workers' changes until the merge:
    ``max over w of ||sum of the other workers' deltas|| / ||item_embeddings||``
    (with two workers, the larger of the two changes). ``total``, the sum of
    ``deltas`` where the caller has it already (the merge), saves summing them again.
    """
    scale = float(np.linalg.norm(item_embeddings))
    deltas = list(deltas)
    if scale == 0.0 or len(deltas) < 2:
        return 0.0
    if total is None:
        total = np.sum(deltas, axis=0)
    return max(float(np.linalg.norm(total - delta)) for delta in deltas) / scale
