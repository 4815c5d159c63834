"""``lightfm split`` in subprocesses: random pairs, leave-k-out per user, by time; the files it writes."""

import shlex

import numpy as np
import pandas as pd
import pytest

from .conftest import REPO
from .test_cli import assert_one_line_error, run_cli


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """ratings.csv: userId, movieId, rating, timestamp (a few repeated pairs, users with 1-30 rows)."""
    folder = tmp_path_factory.mktemp("split")
    rs = np.random.RandomState(3)
    rows = []
    for user in range(1, 81):
        n = 1 if user % 10 == 0 else rs.randint(2, 30)
        for item in rs.choice(np.arange(1, 200), n, replace=False):
            rows.append((user, item, rs.randint(1, 6), rs.randint(880_000_000, 890_000_000)))
    frame = pd.DataFrame(rows, columns=["userId", "movieId", "rating", "timestamp"])
    repeats = frame.iloc[:15].assign(rating=5, timestamp=frame.timestamp[:15] + 7)  # 15 pairs rated again later
    frame = pd.concat([frame, repeats], ignore_index=True)
    frame.to_csv(folder / "ratings.csv", index=False)
    return folder


COLUMNS = ["--user-col", "userId", "--item-col", "movieId"]


def pairs(frame):
    return set(zip(frame["userId"], frame["movieId"], strict=True))


def split(folder, *args, train="train.csv", test="test.csv"):
    result = run_cli("split", "ratings.csv", *COLUMNS, "--train", train, "--test", test, *args, cwd=folder)
    assert result.returncode == 0, result.stderr
    return pd.read_csv(folder / train), pd.read_csv(folder / test), result


def same_rows(left, right):
    key = list(left.columns)
    return left.sort_values(key).reset_index(drop=True).equals(right.sort_values(key).reset_index(drop=True))


def test_random_split_holds_out_a_share_of_the_pairs(folder):
    everything = pd.read_csv(folder / "ratings.csv")
    train, test, result = split(folder, "--seed", "1")
    assert list(train.columns) == list(test.columns) == list(everything.columns)  # every column kept
    assert same_rows(pd.concat([train, test]), everything)  # every row once
    assert not pairs(train) & pairs(test)  # a pair's repeated rows stay together
    n_pairs = len(pairs(everything))
    assert len(pairs(test)) == round(0.2 * n_pairs)
    assert f"{len(test):,} rows" in result.stdout and "test.csv" in result.stdout
    again, _, _ = split(folder, "--seed", "1", train="again.csv", test="again_test.csv")
    assert again.equals(train)  # reproducible, rows in the input's order
    other, _, _ = split(folder, "--seed", "2", "--test-fraction", "0.5", train="other.csv", test="other_test.csv")
    assert not other.equals(train) and len(pairs(other)) == n_pairs - round(0.5 * n_pairs)


def test_per_user_leaves_k_items_of_each_user_out(folder):
    everything = pd.read_csv(folder / "ratings.csv")
    per_user = everything.groupby("userId")["movieId"].nunique()
    train, test, result = split(folder, "--by", "user", "--per-user", "2")
    held = test.groupby("userId")["movieId"].nunique()
    for user, n_items in per_user.items():
        assert held.get(user, 0) == (2 if n_items > 2 else 0), user
    assert set(train["userId"]) == set(everything["userId"])  # nobody loses all their items
    assert not pairs(train) & pairs(test)
    assert f"{int((per_user <= 2).sum())} of {len(per_user)} users have 2 item(s) or fewer" in result.stderr
    # With --time-col, each user's latest items.
    train, test, _ = split(folder, "--by", "user", "--time-col", "timestamp", train="t.csv", test="t_test.csv")
    latest = everything.groupby(["userId", "movieId"])["timestamp"].max().reset_index()
    for user, mine in latest.groupby("userId"):
        if len(mine) > 1:
            expected = mine.sort_values("timestamp")["movieId"].iloc[-1]
            assert list(test[test.userId == user]["movieId"].unique()) == [expected]


def first_seen(frame, time_col="timestamp"):
    """Each (user, item) pair's earliest time."""
    return frame.groupby(["userId", "movieId"])[time_col].min()


def test_time_split_holds_out_the_latest_pairs(folder):
    """By pair, as the library's time_split: a pair seen before and after the cut-off stays in train."""
    everything = pd.read_csv(folder / "ratings.csv")
    # A pair rated again after the cut-off: the split must not put it in both files.
    repeat = everything.iloc[[0]].assign(timestamp=everything["timestamp"].max() + 1)
    everything = pd.concat([everything, repeat], ignore_index=True)
    everything.to_csv(folder / "ratings.csv", index=False)
    train, test, result = split(folder, "--by", "time", "--time-col", "timestamp", "--test-fraction", "0.25")
    train_pairs, test_pairs = first_seen(train), first_seen(test)
    assert train_pairs.index.intersection(test_pairs.index).empty
    assert train_pairs.max() < test_pairs.min()
    n_pairs = len(first_seen(everything))
    assert len(test_pairs) == round(0.25 * n_pairs)  # distinct first times here: exactly the share
    assert same_rows(pd.concat([train, test]), everything)
    assert f"from timestamp {test['timestamp'].min()} on" in result.stdout
    # Dates and times as text, and Parquet out.
    pytest.importorskip("pyarrow")
    dated = everything.assign(when=pd.to_datetime(everything["timestamp"], unit="s").dt.strftime("%Y-%m-%d %H:%M:%S"))
    dated.to_csv(folder / "dated.csv", index=False)
    result = run_cli(
        "split", "dated.csv", *COLUMNS, "--by", "time", "--time-col", "when", "--train", "d.parquet",
        "--test", "d_test.parquet", cwd=folder,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    train, test = pd.read_parquet(folder / "d.parquet"), pd.read_parquet(folder / "d_test.parquet")
    assert first_seen(train).astype(int).max() < first_seen(test).astype(int).min()


def test_the_split_files_train_and_evaluate(folder):
    split(folder, "--by", "user", "--seed", "4", train="fit.csv", test="held.csv")
    trained = run_cli("train", "fit.csv", *COLUMNS, "--epochs", "2", "--components", "8", "--test-fraction", "0",
                      "-o", "m.npz", cwd=folder)  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    evaluated = run_cli("evaluate", "m.npz", "held.csv", cwd=folder)
    assert evaluated.returncode == 0, evaluated.stderr
    assert "precision@10" in evaluated.stdout and "in the training data" not in evaluated.stderr


@pytest.mark.parametrize(
    "args, fragments",
    [
        (["--by", "time"], ["--by time needs --time-col"]),
        (["--time-col", "timestamp"], ["--time-col", "--by time"]),
        (["--per-user", "2"], ["--per-user is for --by user"]),
        (["--by", "user", "--test-fraction", "0.3"], ["--test-fraction is for --by random"]),
        (["--test-fraction", "1.5"], ["--test-fraction must be between 0 and 1"]),
        (["--by", "user", "--per-user", "0"], ["--per-user must be at least 1"]),
        (["--by", "time", "--time-col", "rating", "--test-fraction", "0.9"], ["too few distinct times"]),
        (["--by", "time", "--time-col", "movieId", "--user-col", "listener"], ["no column 'listener'", "--user-col"]),
        (["--by", "time", "--time-col", "when"], ["no column 'when'", "--time-col"]),
    ],
    ids=["time-needs-col", "time-col-random", "per-user-random", "fraction-user", "fraction-range", "per-user-0",
         "too-few-times", "missing-id-column", "missing-time-column"],
)  # fmt: skip
def test_split_errors_are_one_clear_line(folder, args, fragments):
    result = run_cli("split", "ratings.csv", *COLUMNS, "--train", "x.csv", "--test", "y.csv", *args, cwd=folder)
    assert_one_line_error(result, *fragments)


def test_split_refuses_to_overwrite_its_input(folder):
    assert_one_line_error(
        run_cli("split", "ratings.csv", *COLUMNS, "--train", "ratings.csv", "--test", "y.csv", cwd=folder),
        "--train ratings.csv is the input file",
    )
    assert_one_line_error(
        run_cli("split", "ratings.csv", *COLUMNS, "--train", "y.csv", "--test", "y.csv", cwd=folder), "same file"
    )
    assert_one_line_error(
        run_cli("split", "ratings.csv", *COLUMNS, "--train", "no/such/dir/a.csv", "--test", "y.csv", cwd=folder),
        "--train", "does not exist",
    )  # fmt: skip


def test_the_docs_split_example_runs_as_written(tmp_path):
    """docs/cli.md's split walk-through, on the demo's files, command by command."""
    page = (REPO / "docs" / "cli.md").read_text()
    block = page.split("## A hold-out with `lightfm split`", 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]
    cwd = tmp_path
    for line in block.splitlines():
        for part in line.split("  #", 1)[0].split("&&"):
            command = shlex.split(part)
            if command[0] == "cd":
                cwd = cwd / command[1]
                continue
            assert command[0] == "lightfm", command
            result = run_cli(*command[1:], cwd=cwd)
            assert result.returncode == 0, f"{shlex.join(command)}\n{result.stderr}"
    assert "--title 'midnight garden': item album1, 'Midnight Garden'" in result.stderr
    # The held-out rows are a fair draw: the demo's play counts (drawn with the same seed) do not steer it.
    held, plays = pd.read_csv(cwd / "held.csv"), pd.read_csv(cwd / "plays.csv")
    assert abs((held["plays"] == 1).mean() - (plays["plays"] == 1).mean()) < 0.05
