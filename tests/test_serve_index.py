"""``lightfm serve --index``: the real service in a subprocess, answering through an index from ``lightfm index``.

An exact index answers exactly as the service without one (GET and POST /recommend, GET /similar); a faiss index
finds nearly the exact top items; an index of another model is refused at start (one line) and at reload (the old
model and index serve on). The model is trained with its own column names (``listener``/``movie``) and served with
a names file keyed by ``movie``: no flag says which column.
"""

from __future__ import annotations

import os
import shutil

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from lightfm import LightFM
from lightfm.data import Dataset

from .test_cli import assert_one_line_error, run_cli
from .test_serve import Server

pytest.importorskip("httpx")
pytest.importorskip("fastapi")
pytest.importorskip("faiss")

N_USERS, N_ITEMS, N_GENRES = 300, 6000, 20  # above the 4,096 items an index always scores exactly


def train(folder, output, seed):
    result = run_cli(
        "train", "plays.csv", "--user-col", "listener", "--item-col", "movie", "--epochs", "10", "--components", "16",
        "--test-fraction", "0", "--seed", str(seed), "--quiet", "-o", output, cwd=folder,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr


def index(folder, model, output, *options):
    result = run_cli("index", model, "-o", output, *options, cwd=folder)
    assert result.returncode == 0, result.stderr


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    """plays.csv (listener, movie: users with a favourite genre, every item had once), names.csv (movie, title);
    model.npz and other.npz (another training run); exact.index and ivf.index (--nprobe 8 of 153 lists, so that
    the index is searched, not bypassed) of model.npz, other.index of other.npz."""
    folder = tmp_path_factory.mktemp("serve_index")
    rs = np.random.RandomState(0)
    taste, genre = rs.randint(0, N_GENRES, N_USERS), rs.randint(0, N_GENRES, N_ITEMS)
    pairs = {(rs.choice(np.flatnonzero(taste == genre[i])), i) for i in range(N_ITEMS)}
    for user in range(N_USERS):
        pairs |= {(user, i) for i in rs.choice(np.flatnonzero(genre == taste[user]), 10, replace=False)}
    rows = sorted((f"u{u}", f"i{i}") for u, i in pairs)
    pd.DataFrame(rows, columns=["listener", "movie"]).to_csv(folder / "plays.csv", index=False)
    titles = pd.DataFrame({"movie": [f"i{i}" for i in range(N_ITEMS)], "title": [f"Film {i}" for i in range(N_ITEMS)]})
    titles.to_csv(folder / "names.csv", index=False)
    train(folder, "model.npz", 0)
    train(folder, "other.npz", 1)
    index(folder, "model.npz", "exact.index", "--backend", "exact")
    index(folder, "model.npz", "ivf.index", "--nprobe", "8")
    index(folder, "other.npz", "other.index")
    return folder


@pytest.fixture(scope="module")
def plain(shop):
    server = Server(["model.npz", "--item-names", "names.csv"], shop, shop / "plain.log")
    yield server
    server.stop()


def library(path):
    return LightFM.load(path), Dataset.load(path), LightFM.load_matrices(path)


def recall(found, expected):
    return sum(np.intersect1d(a, b).size for a, b in zip(found, expected, strict=True)) / np.asarray(expected).size


REQUESTS = [
    ("GET", "/recommend", {"params": {"user": "u3", "n": 7}}),
    ("GET", "/recommend", {"params": {"user": "u8", "n": 1000}}),  # the cap (--max-n), seen items left out
    ("GET", "/recommend", {"params": {"user": "u3", "n": 12, "exclude_seen": "false"}}),
    ("GET", "/recommend", {"params": {"user": "u7", "n": 5, "item_bias_weight": "0.25"}}),
    ("POST", "/recommend", {"json": {"items": ["i1", "i8", "i30", "nope"], "n": 9}}),
    ("POST", "/recommend", {"json": {"items": ["i4"], "n": 6, "item_bias_weight": 0}}),
    ("POST", "/recommend", {"json": {"user": "u9", "n": 4}}),
    ("GET", "/similar", {"params": {"item": "i5", "n": 8}}),
    ("GET", "/similar", {"params": {"item": "i5999", "n": 1000}}),
    ("GET", "/recommend", {"params": {"user": "ghost"}}),  # errors too
    ("POST", "/recommend", {"json": {"items": ["nope"]}}),
]


def test_an_exact_index_answers_as_the_service_without_one(shop, plain):
    indexed = Server(["model.npz", "--item-names", "names.csv", "--index", "exact.index"], shop, shop / "exact.log")
    try:
        for method, path, arguments in REQUESTS:
            want = plain.client.request(method, path, **arguments)
            got = indexed.client.request(method, path, **arguments)
            assert (got.status_code, got.json()) == (want.status_code, want.json()), (method, path, arguments)
        assert want.status_code == 422 and len(plain.client.get("/similar", params={"item": "i5"}).json()["items"])
        assert indexed.client.get("/health").json()["index"] == "exact.index"
        assert plain.client.get("/health").json()["index"] is None
    finally:
        indexed.stop()


def test_workers_answer_through_the_index_as_one_process_without_it(shop, plain):
    """With --workers, each worker process loads the model and its index: every worker's answers are exact."""
    import time

    import httpx

    workers = Server(
        ["model.npz", "--item-names", "names.csv", "--index", "exact.index", "--workers", "2"], shop, shop / "w.log"
    )
    try:
        checked, deadline = set(), time.monotonic() + 60
        while len(checked) < 2 and time.monotonic() < deadline:
            with httpx.Client(base_url=workers.url, timeout=30) as client:  # a new connection: any worker
                health = client.get("/health").json()
                assert health["index"] == "exact.index"
                for method, path, arguments in REQUESTS:
                    want = plain.client.request(method, path, **arguments)
                    got = client.request(method, path, **arguments)
                    assert (got.status_code, got.json()) == (want.status_code, want.json()), (method, path)
            checked.add(health["pid"])
        assert len(checked) == 2, workers.log()
    finally:
        workers.stop()


def test_a_faiss_index_finds_nearly_the_exact_items(shop):
    """Against the library's exact answers: recall@10 for known users (seen items left out), new users folded in,
    and similar items; every item with its name, every score exact, no seen or given item recommended."""
    model, dataset, matrices = library(shop / "model.npz")
    seen = matrices["interactions"]
    server = Server(["model.npz", "--item-names", "names.csv", "--index", "ivf.index"], shop, shop / "ivf.log")
    try:
        assert server.client.get("/health").json()["index"] == "ivf.index"
        users = [f"u{u}" for u in range(0, N_USERS, 5)]
        answers = [server.client.get("/recommend", params={"user": user}).json()["items"] for user in users]
        assert all(row["name"] == f"Film {row['item'][1:]}" for rows in answers for row in rows)
        found = np.array([dataset.item_index([row["item"] for row in rows]) for rows in answers])
        rows = dataset.user_index(users)
        expected, _ = model.recommend(rows, n=10, exclude=seen)
        # 8 of 153 lists probed: most, not all, of the true top 10 (below 1, so the index answered).
        assert 0.9 <= recall(found, expected) < 1.0
        assert seen[rows[:, None], found].nnz == 0
        scores = np.array([[row["score"] for row in rows] for rows in answers])
        np.testing.assert_allclose(scores, model.predict(np.repeat(rows, 10), found.ravel()).reshape(found.shape),
                                   atol=2e-5)  # fmt: skip

        given = [[f"i{i}" for i in seen[u].indices[:20]] for u in range(0, N_USERS, 5)]
        posted = [server.client.post("/recommend", json={"items": items}).json()["items"] for items in given]
        found = np.array([dataset.item_index([row["item"] for row in rows]) for rows in posted])
        clicks = sp.csr_matrix(
            (np.ones(sum(map(len, given))), np.concatenate([dataset.item_index(g) for g in given]),
             np.concatenate([[0], np.cumsum(list(map(len, given)))])), shape=(len(given), N_ITEMS),
        )  # fmt: skip
        expected, _ = model.recommend(n=10, user_representations=model.fold_in_users(clicks), exclude=clicks)
        assert recall(found, expected) >= 0.9
        assert clicks[np.arange(len(given))[:, None], found].nnz == 0

        items = [f"i{i}" for i in range(0, N_ITEMS, 60)]
        near = [server.client.get("/similar", params={"item": item}).json()["items"] for item in items]
        found = np.array([dataset.item_index([row["item"] for row in rows]) for rows in near])
        expected, _ = model.similar_items(dataset.item_index(items), n=10)
        assert recall(found, expected) >= 0.9
    finally:
        server.stop()


def test_an_index_of_another_model_is_refused_at_start(shop):
    assert_one_line_error(
        run_cli("serve", "model.npz", "--index", "other.index", "--port", "0", cwd=shop),
        "lightfm serve: error: --index other.index does not fit model.npz: the model's item representations are "
        "not those the index was built from",
        "checksum",
        "rebuild it with 'lightfm index model.npz -o other.index'",
    )
    assert_one_line_error(
        run_cli("serve", "model.npz", "--index", "absent.index", cwd=shop),
        "--index absent.index: not found; build it with 'lightfm index model.npz -o absent.index'",
    )
    assert_one_line_error(
        run_cli("serve", "model.npz", "--index", "names.csv", cwd=shop),
        "--index names.csv: names.csv is not an ItemIndex file",
    )


def test_reload_takes_model_and_index_together(shop, tmp_path):
    """A new model file whose index is not rebuilt yet fails to reload (the old model and index serve on); once
    its index is in place, a reload serves both."""
    for name in ("model.npz", "ivf.index", "other.npz", "other.index", "names.csv"):
        shutil.copy(shop / name, tmp_path / name)
    os.replace(tmp_path / "ivf.index", tmp_path / "serving.index")
    shutil.copy(tmp_path / "model.npz", tmp_path / "serving.npz")
    server = Server(["serving.npz", "--index", "serving.index"], tmp_path, tmp_path / "server.log")
    try:
        before = server.client.get("/recommend", params={"user": "u3"}).json()
        shutil.copy(tmp_path / "other.npz", tmp_path / ".serving.npz.partial")
        os.replace(tmp_path / ".serving.npz.partial", tmp_path / "serving.npz")
        failed = server.client.post("/reload")
        assert failed.status_code == 500
        assert failed.json()["detail"].startswith("reload failed: --index ")
        assert (
            "does not fit" in failed.json()["detail"]
            and "still serving the version loaded at" in failed.json()["detail"]
        )
        assert server.client.get("/recommend", params={"user": "u3"}).json() == before
        assert server.client.get("/health").json()["generation"] == 1

        os.replace(tmp_path / "other.index", tmp_path / "serving.index")
        assert server.client.post("/reload").status_code == 200
        health = server.client.get("/health").json()
        assert health["generation"] == 2 and health["index"] == "serving.index"
        model, dataset, matrices = library(tmp_path / "other.npz")
        expected, _ = model.recommend(dataset.user_index("u3"), n=10, exclude=matrices["interactions"])
        got = server.client.get("/recommend", params={"user": "u3"}).json()["items"]
        assert np.intersect1d(dataset.item_index([row["item"] for row in got]), expected).size >= 8
    finally:
        server.stop()


def test_similar_index_with_names_from_the_trained_column(shop):
    """lightfm similar --index --item-names: the names file's 'movie' column found as the model was trained."""
    plain = run_cli("similar", "model.npz", "--item", "i3", "--item-names", "names.csv", cwd=shop)
    indexed = run_cli("similar", "model.npz", "--item", "i3", "--item-names", "names.csv", "--index", "exact.index",
                      cwd=shop)  # fmt: skip
    assert plain.returncode == 0 and indexed.returncode == 0, plain.stderr + indexed.stderr
    assert indexed.stdout == plain.stdout and "Film " in plain.stdout
    recs = run_cli("recommend", "model.npz", "--user", "u3", "--item-names", "names.csv", "--index", "ivf.index",
                   cwd=shop)  # fmt: skip
    assert recs.returncode == 0 and "Film " in recs.stdout, recs.stderr
