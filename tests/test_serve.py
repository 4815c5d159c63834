"""``lightfm serve``: the real service in a subprocess on a free port, spoken to over HTTP with httpx.

Two model files: one from ``lightfm train`` with user and item features and its own column names
(``listener``/``movie``), served with an item names file; one saved by ``LightFM.save`` with a Dataset
(no column names kept), whose versions replace one another under load for the reload tests. Answers
are checked against the library's own calls on the same file.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from lightfm import LightFM
from lightfm.data import Dataset

from .conftest import REPO
from .test_cli import assert_one_line_error, run_cli

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

TAGS = ("rock", "jazz", "folk", "pop")
AGES = ("young", "middle", "old")
_URL = re.compile(r" on (http://127\.0\.0\.1:\d+) ")


class Server:
    """``lightfm serve ARGS --port 0`` in its own process group; its log in a file; stopped by :meth:`stop`."""

    def __init__(self, args, cwd, log_path, timeout=90):
        self.log_path = Path(log_path)
        with open(self.log_path, "w") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "lightfm", "serve", *map(str, args), "--port", "0"],
                cwd=cwd,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        try:
            self.url = self._wait_for_url(timeout)
            self.client = httpx.Client(base_url=self.url, timeout=60)
            self.wait_healthy(timeout)
        except BaseException:
            self.stop()
            raise

    def log(self) -> str:
        return self.log_path.read_text()

    def _wait_for_url(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = _URL.search(self.log())
            if match:
                return match.group(1)
            if self.process.poll() is not None:
                raise AssertionError(f"lightfm serve exited ({self.process.returncode}):\n{self.log()}")
            time.sleep(0.05)
        raise AssertionError(f"lightfm serve did not start in {timeout} s:\n{self.log()}")

    def wait_healthy(self, timeout=60):
        """Poll /health until it answers 200."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                answer = self.client.get("/health")
                if answer.status_code == 200:
                    return answer.json()
            except httpx.TransportError:
                pass
            if self.process.poll() is not None:
                raise AssertionError(f"lightfm serve exited ({self.process.returncode}):\n{self.log()}")
            time.sleep(0.05)
        raise AssertionError(f"/health did not answer in {timeout} s:\n{self.log()}")

    def stop(self):
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=20)
            except ProcessLookupError:
                pass
        if hasattr(self, "client"):
            self.client.close()


def write_world(folder, n_users=60, n_items=40, seed=0):
    """plays.csv (listener, movie), users.csv (listener, feature), tags.csv (movie, feature), names.csv
    (movie, title): users who like one tag each, and items of one or two tags."""
    rs = np.random.RandomState(seed)
    taste = rs.randint(0, len(TAGS), n_users)
    genre = rs.randint(0, len(TAGS), n_items)
    liked = (taste[:, None] == genre[None, :]) & (rs.rand(n_users, n_items) < 0.6) | (rs.rand(n_users, n_items) < 0.05)
    users, items = np.nonzero(liked)
    plays = pd.DataFrame({"listener": [f"u{u}" for u in users], "movie": [f"i{i}" for i in items]})
    plays.to_csv(folder / "plays.csv", index=False)
    ages = [(f"u{u}", f"age:{AGES[taste[u] % 3]}") for u in range(n_users)]
    pd.DataFrame(ages, columns=["listener", "feature"]).to_csv(folder / "users.csv", index=False)
    tags = [(f"i{i}", TAGS[genre[i]]) for i in range(n_items)] + [(f"i{i}", "live") for i in range(0, n_items, 5)]
    pd.DataFrame(tags, columns=["movie", "feature"]).to_csv(folder / "tags.csv", index=False)
    titles = pd.DataFrame({"movie": [f"i{i}" for i in range(n_items)], "title": [f"Film {i}" for i in range(n_items)]})
    titles.to_csv(folder / "names.csv", index=False)
    return plays


def library(path):
    return LightFM.load(path), Dataset.load(path), LightFM.load_matrices(path)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """model.npz from ``lightfm train --user-col listener --item-col movie`` with user and item features."""
    folder = tmp_path_factory.mktemp("serve")
    write_world(folder)
    result = run_cli(
        "train", "plays.csv", "--user-col", "listener", "--item-col", "movie", "--user-features", "users.csv",
        "--item-features", "tags.csv", "--epochs", "10", "--components", "8", "--test-fraction", "0", "--quiet",
        "-o", "model.npz", cwd=folder,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return folder


@pytest.fixture(scope="module")
def server(trained):
    """The trained model served with its names (found by the column the model was trained with) and --max-n 50."""
    served = Server(["model.npz", "--item-names", "names.csv", "--max-n", "50"], trained, trained / "server.log")
    yield served
    served.stop()


def ids(dataset, indices, side="item"):
    _, _, item_map, _ = dataset.mapping()
    user_map = dataset.mapping()[0]
    mapping = item_map if side == "item" else user_map
    keys = np.empty(len(mapping), dtype=object)
    keys[list(mapping.values())] = list(mapping.keys())
    return [keys[i] for i in indices if i >= 0]


# -- the endpoints ---------------------------------------------------------------------------


def test_health(server):
    health = server.client.get("/health").json()
    assert health["status"] == "ok" and health["model"] == "model.npz"
    assert (health["users"], health["items"]) == (60, 40)
    assert health["item_names"] and health["seen_items"] and health["user_features"] and health["generation"] == 1
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", health["loaded_at"])


def test_recommend_for_known_users_as_the_library_does(server, trained):
    model, dataset, matrices = library(trained / "model.npz")
    titles = dict(pd.read_csv(trained / "names.csv").itertuples(index=False))
    seen = matrices["interactions"]
    for user, query, expected_arguments in (
        ("u3", {}, {"exclude": seen}),
        ("u3", {"exclude_seen": "false"}, {}),
        ("u7", {"item_bias_weight": "0"}, {"exclude": seen, "item_bias_weight": 0.0}),
    ):
        answer = server.client.get("/recommend", params={"user": user, "n": 7, **query})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        expected, scores = model.recommend(dataset.user_index(user), n=7, **expected_arguments)
        assert body["user"] == user and [row["item"] for row in body["items"]] == ids(dataset, expected)
        np.testing.assert_allclose([row["score"] for row in body["items"]], scores, atol=1e-5)
        assert all(row["name"] == titles[row["item"]] for row in body["items"])
    # Seen items are left out by default: every item of u3's in plays.csv.
    plays = pd.read_csv(trained / "plays.csv")
    every = server.client.get("/recommend", params={"user": "u3", "n": 50}).json()["items"]
    assert not {row["item"] for row in every} & set(plays.query("listener == 'u3'")["movie"])
    assert len(every) == 40 - plays.query("listener == 'u3'")["movie"].nunique()
    # POST with a known user answers as GET.
    posted = server.client.post("/recommend", json={"user": "u7", "n": 7, "item_bias_weight": 0})
    assert posted.json() == server.client.get("/recommend", params={"user": "u7", "n": 7, "item_bias_weight": 0}).json()


def test_many_requests_at_once_are_answered_each_as_alone(server, trained):
    """Concurrent requests share library calls (the batcher): each still gets its own user's, n's and
    options' answer."""
    model, dataset, matrices = library(trained / "model.npz")
    cases = [(f"u{user}", 1 + user % 9, user % 3 == 0) for user in range(60)]

    def ask(case):
        user, n, keep_seen = case
        params = {"user": user, "n": n, **({"exclude_seen": "false"} if keep_seen else {})}
        return server.client.get("/recommend", params=params)

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(ask, cases))
    for (user, n, keep_seen), answer in zip(cases, answers, strict=True):
        assert answer.status_code == 200, answer.text
        expected, _ = model.recommend(
            dataset.user_index(user), n=n, exclude=None if keep_seen else matrices["interactions"]
        )
        assert [row["item"] for row in answer.json()["items"]] == ids(dataset, expected), user


def test_recommend_for_a_new_user_folds_them_in(server, trained):
    model, dataset, matrices = library(trained / "model.npz")
    given = ["i1", "i4", "i9"]
    answer = server.client.post("/recommend", json={"items": [*given, "ghost"], "n": 6})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    row = sp.csr_matrix((np.ones(3), ([0, 0, 0], dataset.item_index(given))), shape=(1, 40))
    representations = model.fold_in_users(row)
    expected, scores = model.recommend(n=6, user_representations=representations, exclude=row)
    assert body["user"] is None and body["unknown_items"] == ["ghost"]
    assert [r["item"] for r in body["items"]] == ids(dataset, expected[0])
    assert not {r["item"] for r in body["items"]} & set(given)
    np.testing.assert_allclose([r["score"] for r in body["items"]], scores[0], atol=1e-5)
    # With user features by name: their sum is where the fold-in starts.
    answer = server.client.post("/recommend", json={"items": given, "user_features": ["age:old"], "n": 6})
    assert answer.status_code == 200, answer.text
    _, user_feature_map, _, _ = dataset.mapping()
    features = sp.csr_matrix(([1.0], ([0], [user_feature_map["age:old"]])), shape=(1, len(user_feature_map)))
    expected, _ = model.recommend(
        n=6, user_representations=model.fold_in_users(row, user_features=features), exclude=row
    )
    assert [r["item"] for r in answer.json()["items"]] == ids(dataset, expected[0])
    # Features alone: a cold-start user.
    cold = server.client.post("/recommend", json={"user_features": ["age:young"], "n": 3})
    assert cold.status_code == 200 and len(cold.json()["items"]) == 3


def test_similar_and_explain(server, trained):
    model, dataset, matrices = library(trained / "model.npz")
    answer = server.client.get("/similar", params={"item": "i5", "n": 4}).json()
    expected, similarities = model.similar_items(dataset.item_index("i5"), n=4)
    assert answer["item"] == "i5" and [r["item"] for r in answer["items"]] == ids(dataset, expected)
    np.testing.assert_allclose([r["similarity"] for r in answer["items"]], similarities, atol=1e-5)
    assert answer["items"][0]["name"].startswith("Film ")
    why = server.client.get("/explain", params={"user": "u5", "item": "i3", "top": 2}).json()
    expected = model.explain(dataset.user_index("u5"), dataset.item_index("i3"), top=2, feature_names=dataset)
    assert (why["user"], why["item"], why["n_pairs"]) == ("u5", "i3", expected.n_pairs)
    assert [(p["user_feature"], p["item_feature"]) for p in why["pairs"]] == [p[:2] for p in expected.pairs]
    assert abs(why["score"] - expected.score) < 1e-9
    parts = why["user_bias"] + why["item_bias"] + sum(p["contribution"] for p in why["pairs"]) + why["rest"]
    assert abs(parts - why["score"]) < 1e-6


def test_openapi_page(server):
    docs = server.client.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    schema = server.client.get("/openapi.json").json()
    assert {"/health", "/recommend", "/similar", "/explain", "/reload"} <= set(schema["paths"])
    assert set(schema["paths"]["/recommend"]) == {"get", "post"}


@pytest.mark.parametrize(
    "method, path, request_arguments, status, fragments",
    [
        ("get", "/recommend", {"params": {"user": "ghost"}}, 404, ["user 'ghost' is not in the model"]),
        ("get", "/similar", {"params": {"item": "ghost"}}, 404, ["item 'ghost'"]),
        ("get", "/explain", {"params": {"user": "u1", "item": "ghost"}}, 404, ["item 'ghost'"]),
        ("get", "/recommend", {"params": {"user": "u1", "n": 51}}, 422, ["'n'", "from 1 to 50", "--max-n"]),
        ("get", "/recommend", {"params": {"user": "u1", "n": 0}}, 422, ["'n'"]),
        ("get", "/recommend", {"params": {"user": "u1", "n": "ten"}}, 422, ["'n'", "whole number", "'ten'"]),
        ("get", "/recommend", {"params": {"n": 3}}, 422, ["'user'", "required"]),
        ("get", "/recommend", {"params": {"user": "u1", "item_bias_weight": "nan"}}, 422, ["item_bias_weight"]),
        ("get", "/recommend", {"params": {"user": "u1", "exclude_seen": "maybe"}}, 422, ["exclude_seen"]),
        ("get", "/similar", {"params": {"item": "i1", "n": 1000}}, 422, ["'n'", "from 1 to 50"]),
        ("get", "/explain", {"params": {"user": "u1", "item": "i1", "top": 0}}, 422, ["'top'"]),
        ("post", "/recommend", {"content": b"{not json"}, 422, ["not valid JSON"]),
        ("post", "/recommend", {"json": ["i1"]}, 422, ["JSON object"]),
        ("post", "/recommend", {"json": {"items": ["i1"], "colour": 1}}, 422, ["unknown field 'colour'"]),
        ("post", "/recommend", {"json": {"items": ["i1"], "n": 51}}, 422, ["'n'", "50"]),
        ("post", "/recommend", {"json": {"items": "i1"}}, 422, ["'items' must be a list"]),
        ("post", "/recommend", {"json": {"items": ["i1"], "user": "u1"}}, 422, ["either 'user'"]),
        ("post", "/recommend", {"json": {"items": ["x", "y"]}}, 422, ["none of the 2 items"]),
        ("post", "/recommend", {"json": {"items": ["i1"], "user_features": ["age:999"]}}, 422, ["'age:999'"]),
        ("post", "/recommend", {"json": {"user": "ghost"}}, 404, ["user 'ghost'"]),
        ("post", "/recommend", {"json": {"items": ["i1" * 10] * 60_000}}, 413, ["--max-body"]),
    ],
    ids=[
        "unknown-user", "similar-unknown-item", "explain-unknown-item", "n-above-cap", "n-zero", "n-not-a-number",
        "no-user", "nan-weight", "bad-bool", "similar-n-above-cap", "explain-top-zero",
        "malformed-json", "not-an-object", "unknown-field", "post-n-above-cap",
        "items-not-a-list", "user-and-items", "no-known-item", "unknown-feature", "post-unknown-user", "body-cap",
    ],
)  # fmt: skip
def test_errors_are_json_naming_the_problem(server, method, path, request_arguments, status, fragments):
    answer = getattr(server.client, method)(path, **request_arguments)
    assert answer.status_code == status, answer.text
    detail = answer.json()["detail"]
    assert isinstance(detail, str)
    for fragment in fragments:
        assert fragment in detail, detail


# -- reloading -------------------------------------------------------------------------------


def save_version(folder, name, extra_users=()):
    """A LightFM.save model (ids in its Dataset, no column names kept) of plays.csv plus users who had a few items."""
    plays = pd.read_csv(folder / "plays.csv")
    extra = pd.DataFrame([(user, f"i{i}") for user in extra_users for i in (1, 2, 3)], columns=["listener", "movie"])
    plays = pd.concat([plays, extra])
    dataset = Dataset()
    dataset.fit(plays["listener"], plays["movie"])
    interactions, _ = dataset.build_interactions(plays, "listener", "movie")
    model = LightFM(no_components=8, loss="warp", random_state=len(extra_users)).fit(interactions, epochs=5)
    model.save(folder / name, dataset=dataset, interactions=interactions)
    return folder / name


def replace(source, target):
    """Put ``source`` at ``target`` as a deployment does: a copy renamed into place."""
    partial = target.with_name(f".{target.name}.partial")
    shutil.copyfile(source, partial)
    os.replace(partial, target)


@pytest.fixture
def versions(tmp_path):
    """serving.npz (version 1) and versions 2 and 3 (one more user each), names.csv, a broken file."""
    write_world(tmp_path)
    save_version(tmp_path, "v1.npz")
    save_version(tmp_path, "v2.npz", extra_users=["newbie"])
    save_version(tmp_path, "v3.npz", extra_users=["newbie", "third"])
    (tmp_path / "broken.npz").write_bytes(b"PK\x03\x04 this is not a model")
    replace(tmp_path / "v1.npz", tmp_path / "serving.npz")
    return tmp_path


def hammer(server, stop, users, outcomes):
    """GET and POST /recommend in a loop until ``stop``; every non-200 answer or error goes to ``outcomes``."""
    with httpx.Client(base_url=server.url, timeout=60) as client:
        count = 0
        while not stop.is_set():
            try:
                if count % 3 == 2:
                    answer = client.post("/recommend", json={"items": ["i1", "i2"], "n": 5})
                else:
                    answer = client.get("/recommend", params={"user": users[count % len(users)], "n": 5})
                outcomes.append(answer.status_code if answer.status_code != 200 else None)
                if answer.status_code != 200:
                    outcomes.append(answer.text)
            except httpx.HTTPError as error:
                outcomes.append(repr(error))
            count += 1


def test_reload_under_load_broken_file_and_sighup(versions):
    """POST /reload while 6 threads ask for recommendations: none fails, and the new version serves after;
    a broken file is reported and the old version serves on; SIGHUP reloads too."""
    # Names found by their values: a LightFM.save file keeps no column names, and names.csv has 'movie'.
    server = Server(
        ["serving.npz", "--item-names", "names.csv", "--unknown-users", "popular"], versions, versions / "s.log"
    )
    try:
        assert server.client.get("/recommend", params={"user": "newbie"}).json()["fallback"] == "popular"
        stop, outcomes = threading.Event(), []
        threads = [
            threading.Thread(target=hammer, args=(server, stop, [f"u{i}" for i in range(k, 60, 6)], outcomes))
            for k in range(6)
        ]
        for thread in threads:
            thread.start()
        try:
            time.sleep(0.5)
            replace(versions / "v2.npz", versions / "serving.npz")
            reloaded = server.client.post("/reload")
            time.sleep(0.5)
        finally:
            stop.set()
            for thread in threads:
                thread.join(60)
        assert reloaded.status_code == 200 and reloaded.json()["status"] == "reloaded", reloaded.text
        failures = [outcome for outcome in outcomes if outcome is not None]
        assert not failures, failures[:5]
        assert len(outcomes) > 20
        health = server.client.get("/health").json()
        assert (health["generation"], health["users"]) == (2, 61)
        newbie = server.client.get("/recommend", params={"user": "newbie", "n": 3}).json()
        assert "fallback" not in newbie and newbie["items"][0]["name"].startswith("Film ")
        model, dataset, matrices = library(versions / "v2.npz")
        expected, _ = model.recommend(dataset.user_index("newbie"), n=3, exclude=matrices["interactions"])
        assert [row["item"] for row in newbie["items"]] == ids(dataset, expected)

        # A broken file: reported in the answer and the log; version 2 serves on.
        replace(versions / "broken.npz", versions / "serving.npz")
        failed = server.client.post("/reload")
        assert failed.status_code == 500, failed.text
        assert "reload failed" in failed.json()["detail"] and "still serving" in failed.json()["detail"]
        assert "reload (POST /reload) failed" in server.log()
        health = server.client.get("/health").json()
        assert health["generation"] == 2 and health["last_reload"]["ok"] is False
        assert "fallback" not in server.client.get("/recommend", params={"user": "newbie"}).json()

        # SIGHUP: version 3 (one more user) once it has loaded.
        replace(versions / "v3.npz", versions / "serving.npz")
        os.kill(server.process.pid, signal.SIGHUP)
        deadline = time.monotonic() + 60
        while server.client.get("/health").json()["generation"] < 3:
            assert time.monotonic() < deadline, server.log()
            time.sleep(0.05)
        assert "fallback" not in server.client.get("/recommend", params={"user": "third"}).json()
        assert "reload (SIGHUP): now serving" in server.log()
    finally:
        server.stop()


@pytest.mark.slow  # two worker processes and a replacement (~15 s)
def test_workers_reload_together_and_a_killed_worker_is_replaced(versions):
    server = Server(["serving.npz", "--workers", "2"], versions, versions / "w.log")
    try:

        def pids(wanted=2, timeout=60):
            seen, deadline = {}, time.monotonic() + timeout
            while len(seen) < wanted and time.monotonic() < deadline:
                with httpx.Client(base_url=server.url, timeout=30) as client:  # a new connection: any worker
                    health = client.get("/health").json()
                seen[health["pid"]] = health
            assert len(seen) == wanted, server.log()
            return seen

        first = pids()
        assert all(health["users"] == 60 for health in first.values())
        # POST /reload to one worker: the supervisor passes it on, and both serve version 2.
        replace(versions / "v2.npz", versions / "serving.npz")
        assert server.client.post("/reload").status_code == 200
        deadline = time.monotonic() + 60
        while not all(health["users"] == 61 for health in pids().values()):
            assert time.monotonic() < deadline, server.log()
        # SIGHUP to the supervisor: both reload version 3 in place (same processes).
        replace(versions / "v3.npz", versions / "serving.npz")
        os.kill(server.process.pid, signal.SIGHUP)
        deadline = time.monotonic() + 60
        while True:
            now = pids()
            if all(health["users"] == 62 for health in now.values()):
                break
            assert time.monotonic() < deadline, server.log()
        assert set(now) == set(first)
        # A worker killed: uvicorn's supervisor starts another, which serves the file as it is now.
        victim = next(iter(first))
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 60
        while True:
            current = pids()
            if victim not in current:
                break
            assert time.monotonic() < deadline, server.log()
        assert all(health["users"] == 62 for health in current.values())
        assert server.client.get("/recommend", params={"user": "third"}).status_code == 200
    finally:
        server.stop()


# -- the command -----------------------------------------------------------------------------


def test_serve_refuses_bad_input_in_one_line(trained, tmp_path):
    assert_one_line_error(run_cli("serve", "absent.npz", cwd=trained), "model file not found: absent.npz")
    (tmp_path / "junk.npz").write_bytes(b"junk")
    assert_one_line_error(run_cli("serve", tmp_path / "junk.npz"), "not a LightFM model file")
    bare = tmp_path / "bare.npz"
    LightFM(no_components=4).fit(sp.random(5, 4, density=0.5, random_state=0)).save(bare)
    assert_one_line_error(run_cli("serve", bare), "holds no id mappings")
    assert_one_line_error(run_cli("serve", "model.npz", "--max-n", "0", cwd=trained), "--max-n must be at least 1")
    assert_one_line_error(
        run_cli("serve", "model.npz", "--item-names", "names.csv", "--name-col", "x", cwd=trained), "no column 'x'"
    )


def test_serve_says_which_extra_is_missing(trained):
    code = "import sys; sys.modules['fastapi'] = None; from lightfm.cli import main; sys.exit(main(sys.argv[1:]))"
    result = subprocess.run(
        [sys.executable, "-c", code, "serve", "model.npz"], cwd=trained, capture_output=True, text=True, timeout=120
    )
    assert_one_line_error(result, 'pip install "lightfm-ng[serve]"')


def test_lightfm_imports_without_fastapi():
    code = (
        "import sys\n"
        "for name in ('fastapi', 'uvicorn', 'starlette', 'pydantic', 'httpx'):\n"
        "    sys.modules[name] = None\n"
        "import lightfm, lightfm.serve, lightfm.serve.app, lightfm.cli\n"
        "from lightfm.cli import build_parser\n"
        "build_parser()\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr


def test_item_names_use_the_trained_id_column(trained, tmp_path):
    """Names files are read by the id column the model was trained with (here 'movie'), and for a model
    that keeps no column names (LightFM.save), by the column holding the model's item ids."""
    titles = dict(pd.read_csv(trained / "names.csv").itertuples(index=False))
    recs = run_cli("recommend", "model.npz", "--user", "u2", "--n", "3", "--item-names", "names.csv", "--format",
                   "json", cwd=trained)  # fmt: skip
    assert recs.returncode == 0, recs.stderr
    assert [r["name"] for r in json.loads(recs.stdout)] == [titles[r["item"]] for r in json.loads(recs.stdout)]
    near = run_cli("similar", "model.npz", "--item", "i3", "--n", "3", "--item-names", "names.csv", "--format",
                   "json", cwd=trained)  # fmt: skip
    assert near.returncode == 0, near.stderr
    assert all(r["name"] == titles[r["similar"]] for r in json.loads(near.stdout))
    shutil.copy(trained / "plays.csv", tmp_path / "plays.csv")
    save_version(tmp_path, "saved.npz")
    saved = run_cli("recommend", tmp_path / "saved.npz", "--user", "u2", "--n", "3", "--item-names",
                    trained / "names.csv", "--format", "json")  # fmt: skip
    assert saved.returncode == 0, saved.stderr
    assert "read from its column 'movie'" in saved.stderr
    assert all(r["name"] == titles[r["item"]] for r in json.loads(saved.stdout))
