import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from lightfm.cross_validation import leave_k_out_split, random_train_test_split, time_split


@settings(max_examples=30, deadline=None)
@given(density=st.floats(0.0, 1.0), fraction=st.floats(0.0, 1.0), seed=st.integers(0, 1000))
def test_split_is_disjoint_complete_and_reproducible(density, fraction, seed):
    interactions = sp.random(15, 12, density=density, format="coo", random_state=seed, dtype=np.float32)
    train, test = random_train_test_split(interactions, test_percentage=fraction, random_state=seed)
    assert train.shape == test.shape == interactions.shape
    assert train.dtype == interactions.dtype
    assert train.nnz + test.nnz == interactions.nnz
    assert train.multiply(test).nnz == 0
    assert abs((train + test) - interactions).sum() == pytest.approx(0.0, abs=1e-5)
    assert test.nnz == interactions.nnz - int((1.0 - fraction) * interactions.nnz)
    again, _ = random_train_test_split(interactions, test_percentage=fraction, random_state=seed)
    assert (again != train).nnz == 0


@pytest.mark.parametrize("bad", [-0.1, 1.5])
def test_invalid_percentage(bad):
    with pytest.raises(ValueError, match="test_percentage"):
        random_train_test_split(sp.coo_matrix(np.eye(3)), test_percentage=bad)


def test_dense_input_refused():
    with pytest.raises(ValueError, match="sparse"):
        random_train_test_split(np.eye(3))


# -- weights, leave-k-out and time splits ------------------------------------------


def _random_entries(seed, n_users=12, n_items=9, n=80, repeats=False):
    """COO interactions (with repeated pairs when ``repeats``), their distinct weights and timestamps."""
    rs = np.random.RandomState(seed)
    if repeats:
        rows, cols = rs.randint(0, n_users, n), rs.randint(0, n_items, n)
    else:
        flat = rs.choice(n_users * n_items, min(n, n_users * n_items), replace=False)
        rows, cols = flat // n_items, flat % n_items
    interactions = sp.coo_matrix((rs.randint(1, 6, rows.size).astype(np.float32), (rows, cols)), (n_users, n_items))
    weights = sp.coo_matrix((rs.permutation(rows.size) + 1.0, (rows, cols)), (n_users, n_items))
    times = rs.randint(0, 30, rows.size)  # ties on purpose
    return interactions, weights, times


def _entries(matrix):
    """The stored entries as a sorted list of (row, col, value)."""
    coo = matrix.tocoo()
    return sorted(zip(coo.row.tolist(), coo.col.tolist(), coo.data.tolist(), strict=True))


def _check_partition(interactions, weights, parts):
    train, test, train_weights, test_weights = parts
    assert _entries(interactions) == sorted(_entries(train) + _entries(test))
    assert _entries(weights) == sorted(_entries(train_weights) + _entries(test_weights))
    for side, side_weights in ((train, train_weights), (test, test_weights)):
        assert side.dtype == interactions.dtype and side_weights.dtype == weights.dtype
        assert side.shape == side_weights.shape == interactions.shape
        # The same positions in the same order: usable as sample_weight directly.
        np.testing.assert_array_equal(side.row, side_weights.row)
        np.testing.assert_array_equal(side.col, side_weights.col)
    # Each weight stayed with its entry (weights are distinct, so an entry is found by its weight);
    # _random_entries builds both matrices from the same arrays, so entry j is j in both.
    entry_of_weight = {
        w: (r, c, v)
        for r, c, v, w in zip(interactions.row, interactions.col, interactions.data, weights.data, strict=True)
    }
    for side, side_weights in ((train, train_weights), (test, test_weights)):
        for r, c, v, w in zip(side.row, side.col, side.data, side_weights.data, strict=True):
            assert entry_of_weight[w] == (r, c, v)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), fraction=st.floats(0.0, 1.0), csr_weights=st.booleans())
def test_weighted_random_split_keeps_weights_with_their_entries(seed, fraction, csr_weights):
    interactions, weights, _ = _random_entries(seed)
    given_weights = weights.tocsr() if csr_weights else weights  # another order of the same entries
    parts = random_train_test_split(interactions, fraction, random_state=seed, weights=given_weights)
    _check_partition(interactions, weights, parts)
    plain = random_train_test_split(interactions, fraction, random_state=seed)
    for weighted_side, plain_side in zip(parts[:2], plain, strict=True):
        assert _entries(weighted_side) == _entries(plain_side)  # the weights change nothing else


def _distinct_items(matrix):
    csr = sp.csr_matrix(matrix)
    csr.sum_duplicates()
    return [set(csr.indices[csr.indptr[u] : csr.indptr[u + 1]].tolist()) for u in range(csr.shape[0])]


def _pair_times(interactions, times):
    """Each (user, item) pair's earliest timestamp."""
    earliest = {}
    for r, c, t in zip(interactions.row.tolist(), interactions.col.tolist(), times.tolist(), strict=True):
        earliest[r, c] = min(t, earliest.get((r, c), t))
    return earliest


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), k=st.integers(1, 6), repeats=st.booleans(), timed=st.booleans())
def test_leave_k_out_holds_out_k_items_of_every_user_with_more(seed, k, repeats, timed):
    interactions, weights, times = _random_entries(seed, repeats=repeats)
    parts = leave_k_out_split(interactions, k, timestamps=times if timed else None, weights=weights, random_state=seed)
    _check_partition(interactions, weights, parts)
    train, test = parts[:2]
    items, train_items, test_items = (_distinct_items(m) for m in (interactions, train, test))
    for user in range(interactions.shape[0]):
        expected = k if len(items[user]) > k else 0
        assert len(test_items[user]) == expected
        assert not train_items[user] & test_items[user]  # a repeated pair never straddles the split
    if timed:
        earliest = _pair_times(interactions, times)
        for user in range(interactions.shape[0]):
            if test_items[user]:
                latest_train = max(earliest[user, i] for i in train_items[user])
                assert min(earliest[user, i] for i in test_items[user]) >= latest_train
    again = leave_k_out_split(interactions, k, timestamps=times if timed else None, random_state=seed)
    assert _entries(again[1]) == _entries(test)


def test_leave_k_out_picks_differ_by_seed_and_cover_every_item():
    interactions = sp.coo_matrix(np.ones((1, 6)))
    held_out = {int(leave_k_out_split(interactions, 1, random_state=seed)[1].col[0]) for seed in range(60)}
    assert held_out == set(range(6))


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), fraction=st.floats(0.0, 1.0), repeats=st.booleans())
def test_time_split_puts_the_latest_pairs_in_test(seed, fraction, repeats):
    interactions, weights, times = _random_entries(seed, repeats=repeats)
    parts = time_split(interactions, times, fraction, weights=weights)
    _check_partition(interactions, weights, parts)
    train, test = parts[:2]
    earliest = _pair_times(interactions, times)
    train_pairs = set(zip(train.row.tolist(), train.col.tolist(), strict=True))
    test_pairs = set(zip(test.row.tolist(), test.col.tolist(), strict=True))
    assert not train_pairs & test_pairs
    assert len(test_pairs) == len(earliest) - int((1.0 - fraction) * len(earliest))
    if train_pairs and test_pairs:
        assert max(earliest[p] for p in train_pairs) <= min(earliest[p] for p in test_pairs)


def test_time_split_takes_datetimes_series_and_sparse_timestamps():
    pd = pytest.importorskip("pandas")
    interactions, _, times = _random_entries(7)
    days = np.datetime64("2024-01-01") + times.astype("timedelta64[D]")
    by_number = time_split(interactions, times, 0.3)
    for timestamps in (days, pd.Series(days), sp.coo_matrix((times, (interactions.row, interactions.col)))):
        split = time_split(interactions, timestamps, 0.3)
        for a, b in zip(split, by_number, strict=True):
            assert _entries(a) == _entries(b)
    # A CSR of the timestamps is aligned by position, whatever its order.
    shuffled = sp.csr_matrix((times + 1, (interactions.row, interactions.col)), shape=interactions.shape)
    assert _entries(time_split(interactions, shuffled, 0.3)[1]) == _entries(by_number[1])


def test_time_split_with_no_repeats_splits_entries_as_the_random_split_counts():
    interactions, _, times = _random_entries(2)
    train, test = time_split(interactions, times, 0.25)
    assert test.nnz == interactions.nnz - int(0.75 * interactions.nnz)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda x, w, t: leave_k_out_split(x, 0), "k must be an integer >= 1"),
        (lambda x, w, t: leave_k_out_split(x, 1.5), "k must be"),
        (lambda x, w, t: leave_k_out_split(x, timestamps=t[:-1]), "one time per stored entry"),
        (lambda x, w, t: leave_k_out_split(x, random_state="seed"), "random_state"),
        (lambda x, w, t: time_split(x, None), "time_split needs timestamps"),
        (lambda x, w, t: time_split(x, t, 1.5), "test_percentage"),
        (lambda x, w, t: time_split(x, np.where(t > 5, t, np.nan)), "missing values"),
        (lambda x, w, t: time_split(x, t.astype(str)), "numbers or datetime64"),
        (lambda x, w, t: time_split(x, t.reshape(-1, 1)), "one time per stored entry"),
        (lambda x, w, t: time_split(np.eye(3), t), "sparse"),
        (lambda x, w, t: random_train_test_split(x, weights=w.tocsr()[:, :-1]), "weights has shape"),
        (lambda x, w, t: random_train_test_split(x, weights=sp.coo_matrix(np.ones(x.shape))), "same \\(row, column\\)"),
        (lambda x, w, t: leave_k_out_split(x, weights=sp.coo_matrix(x.shape)), "same \\(row, column\\)"),
        (lambda x, w, t: time_split(x, t, weights="heavy"), "weights must be a scipy.sparse matrix"),
    ],
)
def test_split_arguments_are_refused_with_value_errors(call, message):
    interactions, weights, times = _random_entries(0)
    with pytest.raises(ValueError, match=message):
        call(interactions, weights, times)


def test_original_signature_and_returns_unchanged():
    import inspect

    parameters = inspect.signature(random_train_test_split).parameters
    assert list(parameters)[:3] == ["interactions", "test_percentage", "random_state"]
    assert parameters["weights"].kind is inspect.Parameter.KEYWORD_ONLY
    assert len(random_train_test_split(sp.coo_matrix(np.eye(4)), 0.5, 0)) == 2


def test_movielens_leave_one_out_and_popularity(movielens):
    """Leave-one-out on MovieLens: every user with two or more ratings has one test item."""
    from lightfm.baseline import PopularityBaseline
    from lightfm.evaluation import precision_at_k

    interactions = (movielens["train"] + movielens["test"]).tocoo()
    train, test = leave_k_out_split(interactions, 1, random_state=0)
    per_user = np.diff(sp.csr_matrix(test).indptr)
    rated = np.diff(sp.csr_matrix(interactions).indptr)
    np.testing.assert_array_equal(per_user, (rated > 1).astype(int))
    hit_rate = precision_at_k(PopularityBaseline().fit(train), test, train, k=10).mean() * 10
    # About 0.12: ten times a random ranking's 10 / n_items, far from every held-out item found.
    assert 10 * (10 / interactions.shape[1]) < hit_rate < 0.3
