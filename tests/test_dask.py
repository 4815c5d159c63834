"""lightfm.dask on a real LocalCluster (2 worker processes, 1 thread each), against single-machine oracles."""

from __future__ import annotations

import copy
import os
import pickle
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import scipy.sparse as sp

from lightfm import LightFM, evaluation
from lightfm.data import Dataset

pytest.importorskip("distributed")
dd = pytest.importorskip("dask.dataframe")
pd = pytest.importorskip("pandas")

from lightfm.dask import (  # noqa: E402
    DaskLightFM,
    auc_score,
    build_dataset,
    connect,
    map_ids,
    precision_at_k,
    recall_at_k,
    recommend,
)

N_USERS, N_ITEMS = 600, 150


@pytest.fixture(scope="module")
def client():
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster:
        with Client(cluster) as dask_client:
            yield dask_client


def _split_data(seed=0):
    """Users with latent tastes (so a model can learn them), 80/20 train/test pairs."""
    rs = np.random.RandomState(seed)
    user_taste = rs.randint(0, 5, N_USERS)
    item_group = rs.randint(0, 5, N_ITEMS)
    popularity = rs.pareto(1.5, N_ITEMS) + 1
    rows, cols = [], []
    for user in range(N_USERS):
        p = popularity * np.where(item_group == user_taste[user], 8.0, 1.0)
        items = rs.choice(N_ITEMS, size=rs.randint(5, 30), replace=False, p=p / p.sum())
        rows += [user] * items.size
        cols += items.tolist()
    rows, cols = np.array(rows), np.array(cols)
    is_test = rs.rand(rows.size) < 0.2
    shape = (N_USERS, N_ITEMS)
    ones = np.ones(rows.size, dtype=np.float32)
    train = sp.coo_matrix((ones[~is_test], (rows[~is_test], cols[~is_test])), shape=shape)
    test = sp.coo_matrix((ones[is_test], (rows[is_test], cols[is_test])), shape=shape)
    return train, test


@pytest.fixture(scope="module")
def data():
    return _split_data()


def _frame(matrix, npartitions=3, **extra):
    columns = {"user": matrix.row.astype(np.int64), "item": matrix.col.astype(np.int64), **extra}
    return dd.from_pandas(pd.DataFrame(columns), npartitions=npartitions, sort=False)


def _fit(client, train, loss="warp", epochs=5, **kwargs):
    fit_kwargs = {
        key: kwargs.pop(key) for key in ("checkpoint", "user_features", "item_features", "verbose") if key in kwargs
    }
    model = DaskLightFM(loss=loss, no_components=8, random_state=7, client=client, **kwargs)
    return model.fit(_frame(train), epochs=epochs, n_users=N_USERS, n_items=N_ITEMS, num_threads=1, **fit_kwargs)


@pytest.fixture(scope="module")
def warp_model(client, data):
    return _fit(client, data[0], "warp")


# -- packaging ---------------------------------------------------------------------------------------------------


def test_core_import_does_not_import_dask_and_missing_dask_says_how_to_install():
    code = (
        "import sys; import lightfm, lightfm.evaluation; assert 'dask' not in sys.modules, 'core imported dask'\n"
        "sys.modules['distributed'] = None\n"
        "try:\n    import lightfm.dask\nexcept ImportError as e:\n    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert 'pip install "lightfm-ng[dask]"' in out.stdout


# -- training ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("loss", ["warp", "bpr"])
def test_accuracy_matches_single_machine(client, data, loss, warp_model):
    train, test = data
    model = warp_model if loss == "warp" else _fit(client, train, loss)
    single = LightFM(loss=loss, no_components=8, random_state=7).fit(train, epochs=5)
    local = model.to_local()
    for metric in (evaluation.auc_score, evaluation.precision_at_k):
        distributed_value = metric(local, test, train).mean()
        single_value = metric(single, test, train).mean()
        assert abs(distributed_value - single_value) < 0.015, (metric.__name__, distributed_value, single_value)
    # Learned, not just close to an untrained model: the tastes are easy to find.
    assert evaluation.auc_score(local, test, train).mean() > {"warp": 0.75, "bpr": 0.62}[loss]


def test_fit_is_deterministic_and_to_local_is_a_plain_model(client, data, warp_model, tmp_path):
    again = _fit(client, data[0], "warp")
    for name in ("item_embeddings", "user_embeddings", "item_biases", "user_bias_gradients"):
        np.testing.assert_array_equal(getattr(again, name), getattr(warp_model, name))
    local = warp_model.to_local()
    assert type(local) is LightFM and local.loss == "warp" and local.no_components == 8
    assert local.user_embeddings.shape == (N_USERS, 8) and local.item_embeddings.shape == (N_ITEMS, 8)
    path = tmp_path / "model.npz"
    warp_model.save(path)
    restored = LightFM.load(path)
    np.testing.assert_array_equal(restored.predict(3, np.arange(N_ITEMS)), local.predict(3, np.arange(N_ITEMS)))


def test_a_fitted_model_pickles_without_its_client(client, data, warp_model):
    restored = pickle.loads(pickle.dumps(warp_model))
    assert type(restored) is DaskLightFM and restored.client is None
    np.testing.assert_array_equal(restored.item_embeddings, warp_model.item_embeddings)
    users, items = np.arange(10), np.arange(N_ITEMS)
    np.testing.assert_array_equal(restored.to_local().predict(3, items), warp_model.to_local().predict(3, items))
    # It is a LightFM: the single-machine methods serve it in this process.
    np.testing.assert_array_equal(warp_model.predict(3, items), warp_model.to_local().predict(3, items))
    assert warp_model.recommend(users, n=3).compute().shape == (30, 4)


def test_explicit_syncs_per_epoch_are_honoured_and_the_default_merges_by_staleness(client, data, capsys):
    _fit(client, data[0], "bpr", epochs=2, syncs_per_epoch=3, verbose=True)
    fixed = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in fixed] == [f"epoch {e} round {r} [{r / 3:.3f}, {(r + 1) / 3:.3f})"
                                                      for e in range(2) for r in range(3)]  # fmt: skip
    _fit(client, data[0], "bpr", epochs=2, verbose=True)
    adaptive = capsys.readouterr().out.splitlines()
    assert adaptive[0].startswith("epoch 0 round 0 [0.000, 0.016): staleness ")
    assert adaptive[-1].startswith("epoch 1 ") and adaptive[-1].split(")")[0].endswith(", 1.000")
    widths = {line.split("[")[1].split(")")[0] for line in adaptive}
    assert len(widths) > 2  # slices of several sizes


def test_the_default_stays_accurate_with_few_items_and_many_interactions_each(client):
    """The hard case for data-parallel training: every item is in many users' rows on every worker."""
    rs = np.random.RandomState(3)
    n_users, n_items = 8000, 40
    taste, group = rs.randint(0, 4, n_users), rs.randint(0, 4, n_items)
    p = np.where(taste[:, None] == group[None, :], 6.0, 1.0) * (rs.pareto(1.2, n_items) + 1)
    dense = rs.rand(n_users, n_items) < 0.25 * p / p.mean(axis=1, keepdims=True)
    rows, cols = np.nonzero(dense)
    is_test = rs.rand(rows.size) < 0.2
    shape = (n_users, n_items)
    train, test = (sp.coo_matrix((np.ones(int(k.sum()), np.float32), (rows[k], cols[k])), shape=shape)
                   for k in (~is_test, is_test))  # fmt: skip
    assert train.nnz / n_items > 1000  # many interactions per item (MovieLens: 30)
    for loss in ("warp", "bpr"):
        model = DaskLightFM(loss=loss, no_components=8, random_state=1, client=client)
        model.fit(_frame(train), epochs=3, n_users=n_users, n_items=n_items, num_threads=1)
        single = LightFM(loss=loss, no_components=8, random_state=1).fit(train, epochs=3)
        for metric in (evaluation.auc_score, evaluation.precision_at_k):
            ours, theirs = metric(model.to_local(), test, train).mean(), metric(single, test, train).mean()
            assert abs(ours - theirs) < 0.01, (loss, metric.__name__, ours, theirs)


def test_fit_from_parquet_glob_equals_fit_from_frame(client, data, warp_model, tmp_path):
    _frame(data[0]).to_parquet(tmp_path / "train")
    model = DaskLightFM(loss="warp", no_components=8, random_state=7, client=client)
    model.fit(str(tmp_path / "train" / "*.parquet"), epochs=5, n_users=N_USERS, n_items=N_ITEMS, num_threads=1)
    np.testing.assert_array_equal(model.item_embeddings, warp_model.item_embeddings)


def test_shape_from_largest_ids_and_default_client(client, data):
    train = data[0]
    model = DaskLightFM(loss="bpr", no_components=4, random_state=0)  # client=None: the module's client
    model.fit(_frame(train), epochs=1)
    import lightfm.dask._client as embedded

    assert "client" not in embedded._EMBEDDED  # no second cluster was started
    assert model.user_embeddings.shape[0] == train.row.max() + 1
    assert model.item_embeddings.shape[0] == train.col.max() + 1


def test_weights_and_features(client, data):
    train, test = data
    rs = np.random.RandomState(1)
    weights = rs.uniform(0.5, 2.0, train.nnz).astype(np.float32)
    tags = sp.random(N_ITEMS, 20, density=0.1, format="csr", random_state=2, dtype=np.float32)
    item_features = sp.hstack([sp.identity(N_ITEMS, format="csr", dtype=np.float32), tags]).tocsr()
    user_features = sp.hstack(
        [sp.identity(N_USERS, format="csr", dtype=np.float32), sp.random(N_USERS, 5, density=0.3, random_state=3)]
    ).tocsr()
    model = DaskLightFM(loss="warp", no_components=8, random_state=7, client=client)
    model.fit(_frame(train, weight=weights), user_features=user_features, item_features=item_features, epochs=5)
    assert model.item_embeddings.shape == (N_ITEMS + 20, 8)
    assert model.user_embeddings.shape == (N_USERS + 5, 8)
    single = LightFM(loss="warp", no_components=8, random_state=7)
    single.fit(train, user_features=user_features, item_features=item_features, epochs=5,
               sample_weight=sp.coo_matrix((weights, (train.row, train.col)), shape=train.shape))  # fmt: skip
    kwargs = {"user_features": user_features, "item_features": item_features}
    ours = evaluation.auc_score(model.to_local(), test, train, **kwargs).mean()
    theirs = evaluation.auc_score(single, test, train, **kwargs).mean()
    assert abs(ours - theirs) < 0.02, (ours, theirs)
    # A plain hybrid LightFM served without its features uses the ones it was fit with: real items,
    # the same as passing them, never its feature rows.
    users = np.arange(12)
    plain = recommend(single, users, n=5, exclude=_frame(train), client=client).compute()
    passed = recommend(single, users, n=5, exclude=_frame(train), client=client, **kwargs).compute()
    key = ["user", "rank"]
    assert plain["item"].max() < N_ITEMS
    # A model that no longer holds its features (resized since) is served with the ones passed.
    grown = copy.deepcopy(single)
    grown.resize(n_item_features=item_features.shape[1] + 1)
    wider = sp.hstack([item_features, sp.csr_matrix((N_ITEMS, 1))]).tocsr()
    served = recommend(grown, users, n=5, exclude=_frame(train), client=client, user_features=user_features,
                       item_features=wider).compute()  # fmt: skip
    assert served["item"].max() < N_ITEMS
    # A Dask model made local serves with its features too, as one fit locally does.
    local = model.to_local()
    np.testing.assert_array_equal(local.recommend(users, n=5)[0], local.recommend(users, n=5, **kwargs)[0])
    pd.testing.assert_frame_equal(plain.sort_values(key).reset_index(drop=True),
                                  passed.sort_values(key).reset_index(drop=True))  # fmt: skip


def test_a_failed_fit_keeps_the_previous_model(client, data):
    train = data[0]
    model = _fit(client, train, "bpr", epochs=1)
    before = model.item_embeddings.copy()
    bad = dd.from_pandas(pd.DataFrame({"user": [0, 1], "item": [0, N_ITEMS + 5]}), npartitions=1)
    with pytest.raises(ValueError, match=r"interactions\['item'\].*n_items="):
        model.fit(bad, n_users=N_USERS, n_items=N_ITEMS)
    np.testing.assert_array_equal(model.item_embeddings, before)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda c: DaskLightFM(device="cuda", client=c), "device='cpu'"),
        (lambda c: DaskLightFM(syncs_per_epoch=0, client=c), "syncs_per_epoch"),
        (lambda c: DaskLightFM(loss="hinge", client=c), "loss"),
        (lambda c: DaskLightFM(client=c).fit(pd.DataFrame({"user": [0], "item": [0]})), "from_pandas"),
        (lambda c: DaskLightFM(client=c).fit(dd.from_pandas(pd.DataFrame({"user": [0]}), 1)), "lacks the column"),
        (lambda c: DaskLightFM(client=c).fit(dd.from_pandas(pd.DataFrame({"user": [0.5], "item": [0]}), 1)), "build_d"),
        (lambda c: DaskLightFM(client=c).fit("/nonexistent/*.parquet"), "no Parquet files"),
        (lambda c: DaskLightFM(client=c).to_local(), "not fitted"),
        (lambda c: DaskLightFM(client=c).set_params(epochs=3), "Invalid parameter 'epochs'"),
        (lambda c: DaskLightFM(client="tcp://x:1"), "client must be"),
        (lambda c: connect(scheduler=c.scheduler.address, workers=2), "not both"),
        (lambda c: connect(workers=0), "workers must be"),
    ],
)
def test_refusals_name_the_argument(client, make, message):
    with pytest.raises(ValueError, match=message):
        make(client)


def test_more_shards_than_users_and_workers(client):
    frame = dd.from_pandas(pd.DataFrame({"user": [0, 0, 1, 2], "item": [0, 1, 1, 2]}), npartitions=2)
    model = DaskLightFM(loss="warp", no_components=4, random_state=0, client=client, n_shards=7)
    model.fit(frame, epochs=2, num_threads=1)
    assert model.user_embeddings.shape == (3, 4) and np.all(np.isfinite(model.user_embeddings))


def test_connect_to_a_scheduler_address(client, data):
    with connect(scheduler=client.scheduler.address) as other:
        assert len(other.scheduler_info()["workers"]) == 2
        model = DaskLightFM(loss="bpr", no_components=4, random_state=0, client=other).fit(_frame(data[0]))
        assert model.to_local().item_embeddings.shape == (N_ITEMS, 4)


# -- fault tolerance and checkpoints -------------------------------------------------------------------------------


def test_checkpoint_resumes_to_the_same_model(client, data, tmp_path):
    train = data[0]
    path = tmp_path / "ckpt.npz"
    straight = _fit(client, train, "warp", epochs=3)
    _fit(client, train, "warp", epochs=1, checkpoint=path)
    resumed = _fit(client, train, "warp", epochs=3, checkpoint=path)
    np.testing.assert_array_equal(resumed.item_embeddings, straight.item_embeddings)
    # Written as model files are: renamed into place, nothing partial left beside it.
    assert [entry.name for entry in tmp_path.iterdir()] == ["ckpt.npz"]
    np.testing.assert_array_equal(resumed.user_embedding_gradients, straight.user_embedding_gradients)
    with pytest.raises(ValueError, match="already holds 3 epochs, more than epochs=1"):
        _fit(client, train, "warp", epochs=1, checkpoint=path)
    refused = DaskLightFM(loss="warp", no_components=4, random_state=7, client=client)
    with pytest.raises(ValueError, match="checkpoint=.*other settings.*no_components"):
        refused.fit(_frame(train), n_users=N_USERS, n_items=N_ITEMS, checkpoint=path)
    # As LightFM.fit: a refused fit leaves the random stream where it was.
    expected = np.random.RandomState(7).get_state()
    assert all(np.array_equal(a, b) for a, b in zip(refused.random_state.get_state(), expected, strict=True))


@pytest.fixture(scope="module")
def undisturbed(client, data):
    started = time.perf_counter()
    model = _fit(client, data[0], "warp", epochs=3, syncs_per_epoch=8)
    return model, time.perf_counter() - started


@pytest.mark.parametrize("checkpoint", [True, False], ids=["merged-state-fetched-each-round", "lineage-recompute"])
def test_worker_killed_during_training_gives_the_same_model(client, data, tmp_path, checkpoint, undisturbed):
    train = data[0]
    expected, duration = undisturbed
    path = tmp_path / "ckpt.npz"
    pids = client.run(os.getpid)
    killed, finished = [], threading.Event()

    def kill_a_worker_mid_fit():
        if checkpoint:  # after the first merge
            while not path.exists() and not finished.is_set():
                time.sleep(0.002)
        else:  # about a third of the way in (without a checkpoint, a lost worker's user rows are recomputed)
            time.sleep(duration / 3)
        if not finished.is_set():
            victim = sorted(pids)[0]
            os.kill(pids[victim], signal.SIGKILL)  # a worker process this module's cluster started
            killed.append(victim)

    killer = threading.Thread(target=kill_a_worker_mid_fit)
    killer.start()
    try:
        model = _fit(client, train, "warp", epochs=3, syncs_per_epoch=8, checkpoint=path if checkpoint else None)
    finally:
        finished.set()
        killer.join()
    client.wait_for_workers(2, timeout=30)  # the nanny restarts it, for the tests after this one
    if not killed:
        pytest.skip("the fit finished before the worker could be killed (a very fast machine)")
    np.testing.assert_array_equal(model.item_embeddings, expected.item_embeddings)
    np.testing.assert_array_equal(model.user_embeddings, expected.user_embeddings)


# -- serving and metrics -----------------------------------------------------------------------------------------


def test_recommend_matches_brute_force(client, data, warp_model, tmp_path):
    train = data[0]
    users = np.array([0, 5, 17, 42, 599, 5])  # a repeat is served twice
    recs = warp_model.recommend(users, n=7, exclude=_frame(train, npartitions=2))
    recs.to_parquet(tmp_path / "recs")
    got = dd.read_parquet(tmp_path / "recs").compute()
    assert list(got.columns) == ["user", "rank", "item", "score"]
    model = warp_model.to_local()
    scores = model.user_embeddings @ model.item_embeddings.T + model.user_biases[:, None] + model.item_biases
    seen = train.tocsr()
    for user in np.unique(users):
        row = scores[user].astype(np.float64)
        row[seen[user].indices] = -np.inf
        best = np.argsort(-row, kind="stable")[:7]
        mine = got[got.user == user].sort_values("rank")
        assert len(mine) == 7 * np.sum(users == user)
        first = mine.drop_duplicates("rank")
        assert first["item"].tolist() == best.tolist()
        np.testing.assert_allclose(first["score"], row[best], rtol=1e-4, atol=1e-5)
    # Users from a Dask Series, served by a plain LightFM: the same rows.
    series = dd.from_pandas(pd.Series(users, name="user"), npartitions=2)
    again = recommend(model, series, n=7, exclude=_frame(train), client=client).compute()
    key = ["user", "rank", "item"]
    pd.testing.assert_frame_equal(
        again.sort_values(key).reset_index(drop=True), got.sort_values(key).reset_index(drop=True), check_dtype=False
    )


def test_distributed_metrics_equal_single_machine(client, data, warp_model):
    train, test = data
    local = warp_model.to_local()
    test_frame, train_frame = _frame(test, npartitions=2), _frame(train, npartitions=3)
    np.testing.assert_array_equal(
        precision_at_k(warp_model, test_frame, train_frame, k=5), evaluation.precision_at_k(local, test, train, k=5)
    )
    np.testing.assert_array_equal(
        recall_at_k(local, test_frame, train_frame, k=10, client=client), evaluation.recall_at_k(local, test, train)
    )
    np.testing.assert_array_equal(
        auc_score(warp_model, test_frame, train_frame), evaluation.auc_score(local, test, train)
    )
    np.testing.assert_array_equal(auc_score(warp_model, test_frame), evaluation.auc_score(local, test))


# -- id mapping --------------------------------------------------------------------------------------------------


def test_id_mapping_round_trips_and_is_saved_with_the_model(client, data, tmp_path):
    train = data[0]
    raw = pd.DataFrame({"user": [f"u{r}" for r in train.row], "item": train.col * 10 + 3})
    frame = dd.from_pandas(raw, npartitions=3, sort=False)
    dataset = build_dataset(frame)
    reference = Dataset()
    reference.fit(sorted(set(raw.user)), sorted(set(raw.item)))
    assert dataset.mapping() == reference.mapping()
    mapped = map_ids(frame, dataset).compute()
    user_map, _, item_map, _ = dataset.mapping()
    assert mapped["user"].tolist() == [user_map[u] for u in raw.user]
    assert mapped["item"].tolist() == [item_map[i] for i in raw.item]
    model = DaskLightFM(loss="bpr", no_components=4, random_state=0, client=client).fit(map_ids(frame, dataset))
    model.save(tmp_path / "model.npz", dataset=dataset)
    assert Dataset.load(tmp_path / "model.npz").mapping() == dataset.mapping()
    seen = pd.DataFrame({"who": ["u0", "u1"], "what": [3, 13], "rating": [5, 4]})  # pandas and other names
    assert map_ids(seen, dataset, user_col="who", item_col="what").compute().to_dict("list") == {
        "rating": [5, 4],
        "user": [user_map["u0"], user_map["u1"]],
        "item": [item_map[3], item_map[13]],
    }
    unknown = pd.DataFrame({"user": ["nobody"], "item": [3]})
    with pytest.raises(ValueError, match="not in the mapping"):
        map_ids(unknown, dataset).compute()


def test_movielens_accuracy(client, movielens):
    train, test = movielens["train"].tocoo(), movielens["test"].tocoo()
    model = DaskLightFM(loss="warp", no_components=16, random_state=0, client=client)
    model.fit(_frame(train), epochs=5, n_users=train.shape[0], n_items=train.shape[1], num_threads=1)
    single = LightFM(loss="warp", no_components=16, random_state=0).fit(train, epochs=5)
    for metric in (evaluation.auc_score, evaluation.precision_at_k):
        ours, theirs = metric(model.to_local(), test, train).mean(), metric(single, test, train).mean()
        assert abs(ours - theirs) < 0.015, (metric.__name__, ours, theirs)


def test_recommendation_parts_have_the_index_of_their_meta():
    """Every part of recommend()'s frame, empty ones included, has the RangeIndex its meta declares: with
    an object index in the meta (pandas < 2 from empty Series), to_parquet expected strings in every
    part's index ('__null_dask_index__: expected string, got int64')."""
    from lightfm.dask._serving import _META

    assert isinstance(_META.index, pd.RangeIndex)
    assert isinstance(_META.iloc[:0].copy().index, pd.RangeIndex)
