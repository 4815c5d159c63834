"""``lightfm train`` / ``recommend`` with ``--workers N``: the real command on a real local Dask cluster."""

import pandas as pd
import pytest

from lightfm import LightFM
from lightfm.data import Dataset

from .test_cli import assert_one_line_error, run_cli

pytest.importorskip("distributed")
pytest.importorskip("pyarrow")


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cluster")
    assert run_cli("demo", "--export", folder).returncode == 0
    plays = pd.read_csv(folder / "plays.csv")
    plays.to_parquet(folder / "plays.parquet")
    pd.DataFrame({"user": ["user1", "user2", "ghost"]}).to_parquet(folder / "users.parquet")
    return folder


def test_train_and_recommend_on_two_workers(folder):
    trained = run_cli(
        "train", "plays.parquet", "--weight-col", "plays", "--item-features", "tags.csv", "--workers", "2",
        "--epochs", "3", "--components", "8", "-o", "model.npz", cwd=folder,
    )  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    assert "training on 2 Dask worker(s)" in trained.stdout and "held-out" in trained.stdout
    auc = float(trained.stdout.split("held-out")[1].splitlines()[2].split()[-1])
    assert auc > 0.75, trained.stdout  # the generated world's signal, learned on the cluster
    model, dataset = LightFM.load(folder / "model.npz"), Dataset.load(folder / "model.npz")
    n_users, n_items = dataset.interactions_shape()
    assert n_users == 2000 and n_items == 1200 and model.item_embeddings.shape[1] == 8
    assert LightFM.load_matrices(folder / "model.npz")["item_features"].shape[0] == n_items

    recommended = run_cli(
        "recommend", "model.npz", "--users-file", "users.parquet", "--workers", "2", "--seen", "plays.parquet",
        "--n", "4", "-o", "recs", cwd=folder,
    )  # fmt: skip
    assert recommended.returncode == 0, recommended.stderr
    assert "1 requested user id(s) are not in the model" in recommended.stderr
    recs = pd.read_parquet(folder / "recs").sort_values(["user", "rank"])
    assert sorted(set(recs["user"])) == ["user1", "user2"]
    assert recs.groupby("user")["rank"].apply(list).tolist() == [[1, 2, 3, 4]] * 2
    seen = pd.read_csv(folder / "plays.csv")
    assert recs.merge(seen, on=["user", "item"]).empty  # --seen left the users' items out
    # The same model served on one machine ranks the same items first (without exclusions).
    local = run_cli("recommend", "model.npz", "--user", "user1", "--n", "4", "--format", "csv", cwd=folder)
    assert local.returncode == 0, local.stderr


def test_single_machine_options_are_refused_before_any_cluster_starts(folder):
    assert_one_line_error(
        run_cli("train", "plays.parquet", "--workers", "2", "--plot", "c.png", "-o", "m.npz", cwd=folder),
        "--plot is not available with --workers/--scheduler",
    )
    assert_one_line_error(
        run_cli("recommend", "model.npz", "--user", "user1", "--seen", "plays.csv", cwd=folder), "--seen is for"
    )
