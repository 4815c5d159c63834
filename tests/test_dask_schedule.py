"""The merge schedule of lightfm.dask: fixed slices per epoch, or slices scaled by the measured staleness."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("distributed")
pytest.importorskip("dask.dataframe")

from lightfm.dask._schedule import FIRST_SLICE, MAX_SYNCS_PER_EPOCH, STALENESS, SyncSchedule, staleness  # noqa: E402
from lightfm.dask._shards import Shard, _round_data  # noqa: E402


def _rounds(schedule, epochs, measure):
    seen = []
    while schedule.epoch < epochs:
        seen.append(schedule.next_round())
        schedule.merged(measure(seen[-1]))
    return seen


@pytest.mark.parametrize("count", [1, 3, 7])
def test_a_fixed_count_cuts_every_epoch_into_equal_slices(count):
    seen = _rounds(SyncSchedule(count), 2, lambda _: 10.0)  # staleness is ignored
    assert len(seen) == 2 * count
    for epoch in range(2):
        slices = [(start, stop) for e, _, start, stop in seen if e == epoch]
        assert slices == [(i / count, 1.0 if i == count - 1 else (i + 1) / count) for i in range(count)]


def test_the_default_scales_the_slice_by_the_staleness_it_measures():
    # Very stale: the slice stays at its smallest, where it starts.
    stale = _rounds(SyncSchedule(), 1, lambda _: 100 * STALENESS)
    widths = [stop - start for _, _, start, stop in stale]
    assert FIRST_SLICE == 1 / MAX_SYNCS_PER_EPOCH
    assert widths == pytest.approx([FIRST_SLICE] * MAX_SYNCS_PER_EPOCH)
    # Hardly stale: it doubles up to a whole epoch per round.
    calm = _rounds(SyncSchedule(), 4, lambda _: STALENESS / 100)
    assert [stop - start for _, _, start, stop in calm][-2:] == [1.0, 1.0]
    # Half as stale as allowed: it doubles each round.
    growing = [stop - start for _, _, start, stop in _rounds(SyncSchedule(), 1, lambda _: STALENESS / 2)]
    assert growing[:4] == pytest.approx([FIRST_SLICE, 2 * FIRST_SLICE, 4 * FIRST_SLICE, 8 * FIRST_SLICE])
    # At the target it keeps its size; every epoch's slices tile [0, 1).
    steady = _rounds(SyncSchedule(), 2, lambda _: STALENESS)
    for epoch in range(2):
        slices = [(start, stop) for e, _, start, stop in steady if e == epoch]
        assert slices[0][0] == 0.0 and slices[-1][1] == 1.0
        assert all(a[1] == b[0] for a, b in zip(slices[:-1], slices[1:], strict=True))
        assert len(slices) == round(1 / FIRST_SLICE)


def test_a_schedule_resumes_from_its_dict():
    schedule = SyncSchedule()
    measures = iter([0.5, 0.02, 0.3, 0.1, 0.07] * 20)
    for _ in range(5):
        schedule.next_round()
        schedule.merged(next(measures))
    resumed = SyncSchedule(None, **schedule.to_dict())
    assert _rounds(resumed, 2, lambda _: 0.2) == _rounds(schedule, 2, lambda _: 0.2)
    assert resumed.rounds_done == schedule.rounds_done


def test_staleness_is_what_each_worker_did_not_see():
    embeddings = np.full((4, 2), 1.0, dtype=np.float32)  # norm 2*sqrt(2)
    one, two = np.zeros((4, 2), np.float32), np.zeros((4, 2), np.float32)
    one[0, 0], two[1, 1] = 0.4, 0.2
    assert staleness(embeddings, [one, two]) == pytest.approx(0.4 / np.linalg.norm(embeddings))
    three = two.copy()
    # Each worker missed the other two: the second (or third) missed 0.4 in one row and 0.2 in another.
    expected = np.hypot(0.4, 0.2) / np.linalg.norm(embeddings)
    assert staleness(embeddings, [one, two, three]) == pytest.approx(expected)
    assert staleness(embeddings, [one]) == 0.0  # one worker: nothing unseen


def test_slices_of_an_epoch_partition_its_examples():
    rs = np.random.RandomState(0)
    rows = np.sort(rs.randint(0, 30, 500)).astype(np.int32)
    shard = Shard(np.arange(30), rows, rs.randint(0, 40, 500).astype(np.int32), np.ones(500, np.float32), None,
                  None, 40)  # fmt: skip
    bounds = [0.0, 0.1, 0.35, 0.36, 1.0]
    for loss in ("warp", "logistic", "warp-kos"):
        counts = np.zeros(500, dtype=int) if loss == "warp" else 0
        for start, stop in zip(bounds[:-1], bounds[1:], strict=True):
            data = _round_data(shard, loss, 3, start, stop, seed=11)
            if loss == "warp":  # every entry stays (exclusion sets); the slice's are the examples
                assert data.rows.size == 500
                counts += data.labels > 0
            else:
                counts += data.rows.size
        assert np.all(counts == 1) if loss == "warp" else counts == 500
