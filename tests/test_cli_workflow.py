"""The ``lightfm`` command's workflow options, in subprocesses: names, unknown ids, early stopping,
resuming, logs, and the README's command-line quickstart run as written."""

import io
import json
import re
import shlex

import numpy as np
import pandas as pd
import pytest

from lightfm import LightFM
from lightfm.data import Dataset

from .conftest import REPO
from .test_cli import assert_one_line_error, run_cli


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The files of ``lightfm demo --export`` and an ids-only model trained on them."""
    folder = tmp_path_factory.mktemp("workflow")
    exported = run_cli("demo", "--export", folder / "data")
    assert exported.returncode == 0, exported.stderr
    folder = folder / "data"
    assert sorted(p.name for p in folder.iterdir()) == [
        "albums.csv",
        "holdout.csv",
        "plays.csv",
        "tags.csv",
        "users.txt",
    ]
    trained = run_cli(
        "train", "plays.csv", "--epochs", "3", "--components", "8", "--test-fraction", "0", "-o", "model.npz",
        cwd=folder,
    )  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    return folder


def csv_output(result):
    assert result.returncode == 0, result.stderr
    return pd.read_csv(io.StringIO(result.stdout), keep_default_na=False)


def test_item_names_join_recommendations_and_neighbours(demo):
    titles = dict(pd.read_csv(demo / "albums.csv").itertuples(index=False))
    recs = csv_output(
        run_cli("recommend", "model.npz", "--user", "user7", "--n", "5", "--item-names", "albums.csv",
                "--format", "csv", cwd=demo)
    )  # fmt: skip
    assert list(recs.columns) == ["user", "rank", "item", "name", "score"]
    assert [titles[item] for item in recs["item"]] == list(recs["name"])
    near = csv_output(
        run_cli("similar", "model.npz", "--item", "album3", "--item-names", "albums.csv", "--format", "csv", cwd=demo)
    )
    assert [titles[item] for item in near["similar"]] == list(near["name"])
    # The same item found by its name (tests/test_cli_columns.py covers the matching rules, marked slow).
    by_title = run_cli("similar", "model.npz", "--title", titles["album3"], "--item-names", "albums.csv",
                       "--format", "csv", cwd=demo)  # fmt: skip
    assert csv_output(by_title).equals(near)
    # A names file with several other columns needs --name-col; a missing id column is named.
    pd.read_csv(demo / "albums.csv").assign(year=1999, label="x").to_csv(demo / "wide.csv", index=False)
    assert_one_line_error(
        run_cli("recommend", "model.npz", "--user", "user7", "--item-names", "wide.csv", "--item-col", "album",
                cwd=demo),
        "no column 'album'", "--item-col",
    )  # fmt: skip
    pd.read_csv(demo / "albums.csv").rename(columns={"title": "t"}).assign(y=1).to_csv(demo / "wide.csv", index=False)
    assert_one_line_error(
        run_cli("recommend", "model.npz", "--user", "user7", "--item-names", "wide.csv", cwd=demo), "--name-col"
    )
    named = csv_output(
        run_cli("recommend", "model.npz", "--user", "user7", "--n", "5", "--item-names", "wide.csv",
                "--name-col", "t", "--format", "csv", cwd=demo)
    )  # fmt: skip
    assert list(named["name"]) == list(recs["name"])


def test_unknown_users_are_skipped_counted_or_given_popular_items(demo):
    (demo / "mixed.txt").write_text("user1\nghost\nghost\nuser2\nphantom\n")
    skipped = run_cli("recommend", "model.npz", "--users-file", "mixed.txt", "--n", "3", "--format", "csv", cwd=demo)
    recs = csv_output(skipped)
    assert list(dict.fromkeys(recs["user"])) == ["user1", "user2"]
    assert "2 user ids in mixed.txt are not in the model (first: 'ghost')" in skipped.stderr  # ids, not rows
    popular = csv_output(
        run_cli("recommend", "model.npz", "--users-file", "mixed.txt", "--n", "3", "--unknown-users", "popular",
                "--format", "csv", cwd=demo)
    )  # fmt: skip
    plays = pd.read_csv(demo / "plays.csv")
    counts = plays.groupby("item").size()
    for ghost in ("ghost", "phantom"):
        mine = popular[popular.user == ghost]
        assert list(mine["rank"]) == [1, 2, 3, 1, 2, 3][: len(mine)] and (mine["score"] == "").all()
        assert set(counts[mine["item"]]) <= set(counts.nlargest(3))
    known = [frame[frame.user == "user1"].astype(str).reset_index(drop=True) for frame in (popular, recs)]
    pd.testing.assert_frame_equal(*known)


def test_evaluate_skips_unknown_rows_and_matches_the_known_rows_alone(demo):
    holdout = pd.read_csv(demo / "holdout.csv")
    holdout = holdout[holdout["item"].isin(pd.read_csv(demo / "plays.csv")["item"])]  # the model has no cold items
    holdout.to_csv(demo / "known.csv", index=False)
    ghosts = pd.DataFrame({"user": ["ghost", "user1", "ghost"], "item": ["album1", "no-such-album", "album2"]})
    pd.concat([holdout, ghosts]).to_csv(demo / "with_unknown.csv", index=False)
    alone = run_cli("evaluate", "model.npz", "known.csv", "--format", "json", cwd=demo)
    mixed = run_cli("evaluate", "model.npz", "with_unknown.csv", "--format", "json", cwd=demo)
    assert mixed.returncode == 0, mixed.stderr
    assert json.loads(mixed.stdout) == json.loads(alone.stdout)
    assert "1 user id in with_unknown.csv is not in the model" in mixed.stderr
    assert "1 item id in with_unknown.csv is not in the model" in mixed.stderr
    assert "skipped 3 of" in mixed.stderr


def test_early_stopping_keeps_and_refits_the_best_epoch(demo):
    common = ["train", "plays.csv", "--components", "8", "--seed", "2", "--learning-rate", "0.2", "--no-refit"]
    stopped = run_cli(*common, "--epochs", "60", "--early-stopping", "1", "-o", "stopped.npz", cwd=demo)
    assert stopped.returncode == 0, stopped.stderr
    best = int(re.search(r"keeping epoch (\d+)", stopped.stdout).group(1))
    assert best < 60 and f"epoch {best}" in stopped.stdout
    direct = run_cli(*common, "--epochs", str(best), "-o", "direct.npz", cwd=demo)
    assert direct.returncode == 0, direct.stderr
    np.testing.assert_array_equal(
        LightFM.load(demo / "stopped.npz").item_embeddings, LightFM.load(demo / "direct.npz").item_embeddings
    )
    refit = run_cli(*common[:-1], "--epochs", "60", "--early-stopping", "1", "-o", "refit.npz", cwd=demo)
    assert "Refitting on all" in refit.stdout and f"for {best} epochs" in refit.stdout


def test_resume_continues_the_saved_model_exactly(demo):
    common = ["train", "plays.csv", "--components", "8", "--test-fraction", "0", "--seed", "4"]
    assert run_cli(*common, "--epochs", "2", "-o", "first.npz", cwd=demo).returncode == 0
    resumed = run_cli("train", "plays.csv", "--test-fraction", "0", "--seed", "4", "--resume", "first.npz",
                      "--epochs", "3", "-o", "resumed.npz", cwd=demo)  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    assert run_cli(*common, "--epochs", "5", "-o", "five.npz", cwd=demo).returncode == 0
    for name in ("item_embeddings", "user_embeddings", "item_bias_gradients"):
        np.testing.assert_array_equal(
            getattr(LightFM.load(demo / "resumed.npz"), name), getattr(LightFM.load(demo / "five.npz"), name)
        )
    # New ids join an ids-only model; their interactions count as seen.
    pd.DataFrame({"user": ["newcomer", "newcomer"], "item": ["album1", "brand-new"]}).to_csv(
        demo / "more.csv", index=False
    )
    grown = run_cli("train", "more.csv", "--test-fraction", "0", "--resume", "first.npz", "--epochs", "1",
                    "-o", "grown.npz", cwd=demo)  # fmt: skip
    assert grown.returncode == 0, grown.stderr
    assert "1 new users and 1 new items join the model" in grown.stdout
    model, dataset = LightFM.load(demo / "grown.npz"), Dataset.load(demo / "grown.npz")
    n_users, n_items = dataset.interactions_shape()
    assert model.user_embeddings.shape[0] == n_users and model.item_embeddings.shape[0] == n_items
    seen = LightFM.load_matrices(demo / "grown.npz")["interactions"]
    assert seen.nnz == pd.read_csv(demo / "plays.csv")[["user", "item"]].drop_duplicates().shape[0] + 2
    # Settings come from the saved model: a different one is refused, and so are new feature files.
    assert_one_line_error(
        run_cli("train", "more.csv", "--resume", "first.npz", "--loss", "bpr", "-o", "x.npz", cwd=demo),
        "--loss bpr differs", "'warp'",
    )  # fmt: skip
    assert_one_line_error(
        run_cli("train", "more.csv", "--resume", "first.npz", "--item-features", "tags.csv", "-o", "x.npz", cwd=demo),
        "--item-features cannot be used with --resume",
    )  # fmt: skip


def test_logs_get_lines_not_progress_bars(demo):
    result = run_cli("train", "plays.csv", "--epochs", "10", "--components", "4", "-o", "log.npz", cwd=demo)
    assert result.returncode == 0, result.stderr
    assert "\r" not in result.stderr
    assert "Training: epoch 2/10" in result.stderr and "Refitting: epoch 10/10" in result.stderr


def _quickstart_commands():
    """The README's command-line quickstart: one command per list, ``cd`` as its own step."""
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Quickstart: the command line", 1)[1]
    block = section.split("```bash\n", 1)[1].split("```", 1)[0]
    block = block.replace("\\\n", " ")
    commands = []
    for line in block.splitlines():
        line = line.split("  #", 1)[0].strip()
        commands += [shlex.split(part) for part in line.split("&&") if part.strip()]
    return commands


def test_the_readme_command_line_quickstart_runs_as_written(tmp_path):
    commands = _quickstart_commands()
    assert commands[0][:3] == ["lightfm", "demo", "--export"] and len(commands) >= 6
    cwd = tmp_path
    for command in commands:
        if command[0] == "cd":
            cwd = cwd / command[1]
            continue
        assert command[0] == "lightfm", command
        result = run_cli(*command[1:], cwd=cwd)
        assert result.returncode == 0, f"{shlex.join(command)}\n{result.stderr}"
    assert (cwd / "model.npz").is_file() and (cwd / "model2.npz").is_file() and (cwd / "curve.png").is_file()
