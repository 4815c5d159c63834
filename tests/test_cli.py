"""The ``lightfm`` command end to end, in subprocesses, on small generated files."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from lightfm import LightFM
from lightfm.data import Dataset
from lightfm.datasets import make_synthetic
from lightfm.evaluation import ndcg_at_k, precision_at_k

from .conftest import REPO, movielens_home


def run_cli(*args, cwd=None):
    result = subprocess.run(
        [sys.executable, "-m", "lightfm", *map(str, args)], cwd=cwd or REPO, capture_output=True, text=True, timeout=600
    )
    return result


def assert_one_line_error(result, *fragments):
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """plays.csv (weighted), tags.csv (item features), users.csv (user features), holdout.csv, model.npz."""
    folder = tmp_path_factory.mktemp("cli")
    world = make_synthetic(n_users=200, n_items=150, random_state=3)
    plays = (world["train"] + world["test"]).tocoo()
    rs = np.random.RandomState(0)
    frame = pd.DataFrame(
        {
            "user": [f"u{r}" for r in plays.row],
            "item": [f"i{c}" for c in plays.col],
            "plays": rs.randint(1, 5, plays.nnz),
        }
    )
    frame.to_csv(folder / "plays.csv", index=False)
    tags = world["item_features"].tocoo()
    pd.DataFrame({"item": [f"i{r}" for r in tags.row], "feature": world["item_feature_labels"][tags.col]}).to_csv(
        folder / "tags.csv", index=False
    )
    attributes = world["user_features"].tocoo()
    pd.DataFrame(
        {"user": [f"u{r}" for r in attributes.row], "feature": world["user_feature_labels"][attributes.col]}
    ).to_csv(folder / "users.csv", index=False)
    cold = world["cold_test"].tocoo()
    pd.DataFrame({"user": [f"u{r}" for r in cold.row], "item": [f"i{c}" for c in cold.col]}).to_csv(
        folder / "holdout.csv", index=False
    )
    result = run_cli(
        "train", "plays.csv", "--item-features", "tags.csv", "--user-features", "users.csv", "--weight-col", "plays",
        "--epochs", "4", "--eval-every", "2", "--plot", "curve.png", "--components", "8", "-o", "model.npz",
        cwd=folder,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return folder, result


def test_train_reports_saves_and_plots(files):
    folder, result = files
    assert "epoch   2: precision@10" in result.stdout and "epoch   4: precision@10" in result.stdout
    assert "Saved the model and its id mappings to model.npz" in result.stdout
    assert (folder / "curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    model, dataset = LightFM.load(folder / "model.npz"), Dataset.load(folder / "model.npz")
    matrices = LightFM.load_matrices(folder / "model.npz")
    assert sorted(matrices) == ["interactions", "item_features", "user_features"]
    assert model.item_embeddings.shape[0] == dataset.model_dimensions()[1] == 150 + 13
    assert model.no_components == 8 and model.loss == "warp"


def test_train_holds_out_the_given_fraction_reproducibly(files):
    """The hold-out is random_train_test_split of the (merged) entries: exactly the fraction, and a
    model trained twice with one --seed is the same bit for bit. The saved model is refitted on
    everything (--no-refit keeps the one evaluated), and every input interaction counts as seen."""
    folder, _ = files
    arrays = {}
    n_entries = pd.read_csv(folder / "plays.csv")[["user", "item"]].drop_duplicates().shape[0]
    for name, extra in (("again1.npz", []), ("again2.npz", []), ("kept.npz", ["--no-refit"])):
        result = run_cli(
            "train", "plays.csv", "--weight-col", "plays", "--epochs", "2", "--seed", "5", "-o", name, *extra,
            cwd=folder,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        held_out = n_entries - int(0.8 * n_entries)
        assert f"{int(0.8 * n_entries):,} train and {held_out:,} held-out" in result.stdout
        assert ("Refitting on all" in result.stdout) == (not extra)
        arrays[name] = LightFM.load(folder / name).item_embeddings
        assert LightFM.load_matrices(folder / name)["interactions"].nnz == n_entries
    np.testing.assert_array_equal(arrays["again1.npz"], arrays["again2.npz"])
    assert not np.array_equal(arrays["again1.npz"], arrays["kept.npz"])


def test_exclude_seen_excludes_everything_in_the_training_file(files):
    folder, _ = files
    (folder / "some_users.txt").write_text("u2\nu3\n")
    result = run_cli(
        "recommend", "model.npz", "--user", "u1", "--users-file", "some_users.txt", "--n", "30", "--exclude-seen",
        "--format", "csv", cwd=folder,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    recs = pd.read_csv(__import__("io").StringIO(result.stdout))
    assert set(recs["user"]) == {"u1", "u2", "u3"}  # --user and --users-file together
    plays = pd.read_csv(folder / "plays.csv")
    for user, mine in recs.groupby("user"):
        assert not set(mine["item"]) & set(plays[plays.user == user]["item"])


def test_output_problems_are_found_before_training(files):
    folder, _ = files
    result = run_cli("train", "plays.csv", "--epochs", "500", "-o", "no/such/folder/m.npz", cwd=folder)
    assert_one_line_error(result, "--output", "does not exist")


def test_model_files_get_the_usual_mode(files):
    import os
    import stat

    folder, _ = files
    mode = stat.S_IMODE(os.stat(folder / "model.npz").st_mode)
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o666 & ~umask


def test_evaluate_matches_the_library(files):
    folder, _ = files
    result = run_cli("evaluate", "model.npz", "holdout.csv", "--k", "5", "--format", "json", cwd=folder)
    assert result.returncode == 0, result.stderr
    printed = {record["metric"]: record["value"] for record in json.loads(result.stdout)}
    assert sorted(printed) == ["AUC", "NDCG@5", "precision@5", "recall@5"]
    model, dataset = LightFM.load(folder / "model.npz"), Dataset.load(folder / "model.npz")
    matrices = LightFM.load_matrices(folder / "model.npz")
    holdout = pd.read_csv(folder / "holdout.csv")
    test, _ = dataset.build_interactions(holdout, "user", "item")
    expected = precision_at_k(
        model, test.tocsr(), matrices["interactions"], k=5,
        user_features=matrices["user_features"], item_features=matrices["item_features"],
    ).mean()  # fmt: skip
    assert float(printed["precision@5"]) == pytest.approx(expected, abs=5e-4)
    ndcg = ndcg_at_k(
        model, test.tocsr(), matrices["interactions"], k=5,
        user_features=matrices["user_features"], item_features=matrices["item_features"],
    ).mean()  # fmt: skip
    assert printed["NDCG@5"] == pytest.approx(ndcg, abs=5e-6)
    # A tab-separated, gzipped copy is read without being told its separator.
    holdout.to_csv(folder / "holdout.tsv.gz", sep="\t", index=False)
    again = run_cli("evaluate", "model.npz", "holdout.tsv.gz", "--k", "5", "--format", "json", cwd=folder)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout) == json.loads(result.stdout)


def test_recommend_formats_and_exclusion(files):
    folder, _ = files
    (folder / "users.txt").write_text("u1\nu7\n")
    result = run_cli(
        "recommend",
        "model.npz",
        "--users-file",
        "users.txt",
        "--n",
        "4",
        "--exclude-seen",
        "-o",
        "recs.csv",
        cwd=folder,
    )
    assert result.returncode == 0, result.stderr
    recs = pd.read_csv(folder / "recs.csv")
    assert list(recs.columns) == ["user", "rank", "item", "score"] and len(recs) == 8
    seen = pd.read_csv(folder / "plays.csv")
    model, dataset = LightFM.load(folder / "model.npz"), Dataset.load(folder / "model.npz")
    matrices = LightFM.load_matrices(folder / "model.npz")
    users, _, items, _ = dataset.mapping()
    item_ids = {index: item for item, index in items.items()}
    for user in ("u1", "u7"):
        mine = recs[recs.user == user].sort_values("rank")
        expected, _ = model.recommend(
            users[user], n=4, exclude=matrices["interactions"],
            user_features=matrices["user_features"], item_features=matrices["item_features"],
        )  # fmt: skip
        assert list(mine["item"]) == [item_ids[i] for i in expected]
        trained = matrices["interactions"][users[user]].indices
        assert not set(mine["item"]) & {item_ids[i] for i in trained}
    assert set(recs["item"]) <= set(seen["item"]) | set(pd.read_csv(folder / "tags.csv")["item"])

    # Seen items are left out by default; --no-exclude-seen brings them back.
    default = run_cli(
        "recommend", "model.npz", "--users-file", "users.txt", "--n", "4", "-o", "default.csv", cwd=folder
    )
    assert default.returncode == 0, default.stderr
    pd.testing.assert_frame_equal(pd.read_csv(folder / "default.csv"), recs)
    everything = run_cli("recommend", "model.npz", "--user", "u1", "--n", "200", "--no-exclude-seen", "--format", "csv",
                         cwd=folder)  # fmt: skip
    assert set(pd.read_csv(__import__("io").StringIO(everything.stdout))["item"]) >= {
        item_ids[i] for i in matrices["interactions"][users["u1"]].indices
    }
    as_json = run_cli("recommend", "model.npz", "--user", "u1", "--n", "2", "--format", "json", cwd=folder)
    assert as_json.returncode == 0, as_json.stderr
    records = json.loads(as_json.stdout)
    assert [r["rank"] for r in records] == [1, 2] and records[0]["user"] == "u1"
    assert records[0]["score"] >= records[1]["score"]


def test_parquet_input(files, tmp_path):
    pytest.importorskip("pyarrow")
    folder, _ = files
    frame = pd.read_csv(folder / "plays.csv").rename(columns={"user": "listener", "item": "album"})
    frame.to_parquet(tmp_path / "plays.parquet")
    result = run_cli(
        "train", "plays.parquet", "--user-col", "listener", "--item-col", "album", "--epochs", "2", "--quiet",
        "--test-fraction", "0", "-o", "m.npz", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert Dataset.load(tmp_path / "m.npz").interactions_shape() == (200, frame["album"].nunique())


def test_demo_shows_features_help_cold_start():
    result = run_cli("demo", "--epochs", "10", "--quiet", "--threads", "2")
    assert result.returncode == 0, result.stderr
    rows = {tuple(line.split()[:4]): line.split() for line in result.stdout.splitlines() if line.startswith("ids ")}
    hybrid_cold = rows[("ids", "+", "features", "new")]
    assert float(hybrid_cold[-1]) > 0.75, result.stdout  # AUC on items never seen in training
    assert rows[("ids", "only", "new", "items")][-1] == "-"
    assert float(rows[("ids", "only", "warm", "items")][-3]) > 0.05  # precision@10
    assert "Sample recommendations" in result.stdout and "new: " in result.stdout


def test_demo_on_movielens():
    home = movielens_home()
    if home is None:
        pytest.skip("MovieLens 100k not found")
    result = run_cli("demo", "--data", "movielens", "--data-home", home, "--epochs", "5", "--quiet")
    assert result.returncode == 0, result.stderr
    warm = next(line for line in result.stdout.splitlines() if line.startswith("ids only") and "warm" in line)
    assert float(warm.split()[-1]) > 0.85  # AUC


def test_every_command_has_help_with_examples():
    for command in ("demo", "train", "evaluate", "recommend", "similar", "explain", "index", "serve", "split"):
        result = run_cli(command, "--help")
        assert result.returncode == 0 and "examples:" in result.stdout, command
    usage = run_cli()
    assert usage.returncode == 2 and "COMMAND" in usage.stderr


@pytest.mark.parametrize(
    "args, fragments",
    [
        (("train", "absent.csv", "-o", "m.npz"), ["interactions file not found: absent.csv"]),
        (("train", "plays.csv", "--user-col", "listener", "-o", "m.npz"), ["no column 'listener'", "--user-col"]),
        (("train", "garbage.parquet", "-o", "m.npz"), ["cannot read interactions file garbage.parquet"]),
        (("train", "bad_weights.csv", "--weight-col", "plays", "-o", "m.npz"), ["'plays' needs finite", "row 3"]),
        (("train", "plays.csv", "--test-fraction", "0", "--plot", "c.png", "-o", "m.npz"), ["need held-out"]),
        (("train", "plays.csv", "--weight-col", "plays", "--loss", "warp-kos", "-o", "m.npz"), ["warp-kos"]),
        (("evaluate", "model.npz", "unknown_users.csv", "--unknown", "error"),
         ["1 user id in unknown_users.csv is not in", "'ghost'"]),
        (("evaluate", "not_a_model.npz", "holdout.csv"), ["not a LightFM model file"]),
        (("recommend", "model.npz", "--user", "ghost", "--unknown-users", "error"),
         ["not in the model (first: 'ghost')"]),
        (("recommend", "model.npz"), ["--user ID"]),
        (("recommend", "absent.npz", "--user", "u1"), ["model file not found"]),
    ],
    ids=["missing-file", "missing-column", "malformed", "weights", "plot", "kos", "unknown-user", "bad-model",
         "unknown-recommend", "no-users", "missing-model"],
)  # fmt: skip
def test_errors_are_one_clear_line(files, args, fragments):
    folder, _ = files
    (folder / "garbage.parquet").write_bytes(b"\x00\x01 not parquet")
    (folder / "bad_weights.csv").write_text("user,item,plays\nu1,i1,3\nu2,i2,lots\n")
    (folder / "unknown_users.csv").write_text("user,item\nghost,i1\nu1,i1\n")
    (folder / "not_a_model.npz").write_text("hello")
    if args[1] == "garbage.parquet":
        pytest.importorskip("pyarrow")
    assert_one_line_error(run_cli(*args, cwd=folder), *fragments)


def test_plot_without_matplotlib_fails_before_training(files):
    """--plot checks for matplotlib with the output paths, before reading or training anything."""
    folder, _ = files
    blocked = (
        "import sys; sys.modules['matplotlib'] = None; from lightfm.cli.parser import main; "
        "sys.exit(main(sys.argv[1:]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", blocked, "train", "plays.csv", "--plot", "c.png", "-o", "no_plot.npz"],
        cwd=folder, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert_one_line_error(result, "matplotlib", "lightfm-ng[plot]")
    assert "epoch" not in result.stdout and "users" not in result.stdout, result.stdout
    assert not (folder / "no_plot.npz").exists()


def test_plot_title_says_what_ran_and_what_was_kept():
    """The learning curve's title counts the epochs that ran and the one early stopping kept, not --epochs."""
    import argparse

    from lightfm.cli.report import plot_title

    args = argparse.Namespace(loss="warp", components=8, learning_rate=0.05, item_alpha=0.0, user_alpha=0.0, epochs=30)
    stopped = [{"epoch": epoch} for epoch in range(2, 19, 2)]
    assert plot_title(stopped, args, 12).endswith(", 18 epochs run, epoch 12 kept")
    assert "30" not in plot_title(stopped, args, 12)
    assert plot_title([{"epoch": 15}, {"epoch": 30}], args, None).endswith(", 30 epochs run")
    assert plot_title([{"epoch": 1}], args, 1).endswith(", 1 epoch run, epoch 1 kept")


def test_an_interrupt_inside_a_compiled_call_is_a_clean_interrupt(capsys, monkeypatch):
    """Ctrl-C inside a Numba call reaches Python as a SystemError chained to the KeyboardInterrupt."""
    import lightfm.cli.parser as cli_parser

    def interrupted_inside_numba(args):
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as interrupt:
            message = "CPUDispatcher(<function build_positives>) returned a result with an exception set"
            raise SystemError(message) from interrupt

    monkeypatch.setattr(cli_parser, "run_demo", interrupted_inside_numba)
    assert cli_parser.main(["demo"]) == 130
    assert capsys.readouterr().err.strip() == "interrupted"


def test_similar_version_and_regularisation_options(files):
    folder, _ = files
    result = run_cli("similar", "model.npz", "--item", "i3", "--item", "i8", "--n", "4", "--format", "json", cwd=folder)
    assert result.returncode == 0, result.stderr
    records = json.loads(result.stdout)
    model, dataset = LightFM.load(folder / "model.npz"), Dataset.load(folder / "model.npz")
    items = dataset.mapping()[2]
    names = {index: item for item, index in items.items()}
    expected, _ = model.similar_items(
        [items["i3"], items["i8"]], n=4, item_features=LightFM.load_matrices(folder / "model.npz")["item_features"]
    )
    assert [r["similar"] for r in records if r["item"] == "i3"] == [names[i] for i in expected[0]]
    users = run_cli("similar", "model.npz", "--user", "u1", "--n", "3", "--format", "csv", cwd=folder)
    assert users.returncode == 0 and users.stdout.splitlines()[0] == "user,rank,similar,similarity"
    assert_one_line_error(run_cli("similar", "model.npz", cwd=folder), "--item", "--user")
    assert run_cli("--version").stdout.startswith("lightfm-ng ")
    result = run_cli(
        "train", "plays.csv", "--epochs", "1", "--item-alpha", "1e-4", "--user-alpha", "1e-4", "--max-sampled", "5",
        "--test-fraction", "0", "-o", "regularised.npz", cwd=folder,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    saved = LightFM.load(folder / "regularised.npz")
    assert (saved.item_alpha, saved.user_alpha, saved.max_sampled) == (1e-4, 1e-4, 5)


def test_min_rating_keeps_the_rows_at_or_above_it(files):
    folder, _ = files
    plays = pd.read_csv(folder / "plays.csv")
    result = run_cli(
        "train", "plays.csv", "--rating-col", "plays", "--min-rating", "3", "--epochs", "1", "--test-fraction", "0",
        "-o", "rated.npz", cwd=folder,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    kept = plays[plays.plays >= 3]
    assert f"kept {len(kept):,} of {len(plays):,} rows" in result.stdout
    saved = LightFM.load_matrices(folder / "rated.npz")["interactions"]
    assert saved.nnz == len(kept[["user", "item"]].drop_duplicates())
    assert_one_line_error(run_cli("train", "plays.csv", "--min-rating", "3", "-o", "x.npz", cwd=folder), "--rating-col")
    # The old spelling, which also weighted by the ratings, says what to write now for either intent.
    assert_one_line_error(
        run_cli("train", "plays.csv", "--weight-col", "plays", "--min-rating", "3", "-o", "x.npz", cwd=folder),
        "--rating-col plays --min-rating 3", "unweighted", "--weight-col plays",
    )  # fmt: skip


def test_train_reports_merged_rows_and_feature_only_items_and_refuses_a_second_features_file(files, tmp_path):
    folder, _ = files
    plays = pd.read_csv(folder / "plays.csv")
    pd.concat([plays, plays.head(5)]).to_csv(tmp_path / "repeated.csv", index=False)
    tags = pd.read_csv(folder / "tags.csv")
    pd.concat([tags, pd.DataFrame({"item": ["brand-new"], "feature": ["genre:pop"]})]).to_csv(
        tmp_path / "tags.csv", index=False
    )
    result = run_cli(
        "train", "repeated.csv", "--item-features", "tags.csv", "--epochs", "1", "--test-fraction", "0",
        "-o", "m.npz", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "5 repeated (user, item) rows were merged, counted once" in result.stdout
    only_tagged = len(set(tags["item"]) - set(plays["item"])) + 1  # the generated cold items, and brand-new
    assert f"{only_tagged:,} items appear only in the item features file" in result.stdout
    twice = run_cli("train", "repeated.csv", "--item-features", "tags.csv", "--item-features", "tags.csv",
                    "-o", "m.npz", cwd=tmp_path)  # fmt: skip
    assert twice.returncode == 2 and "given twice" in twice.stderr


def test_a_malformed_parquet_file_ends_the_process_cleanly(tmp_path):
    """pyarrow reads the file itself: handed a Python file object (pandas < 2 does that), pyarrow 10-12
    abort the process at exit after a malformed file, most runs ("terminate called without an
    active exception"). Several fresh processes, as the abort is not every time."""
    pytest.importorskip("pyarrow")
    (tmp_path / "garbage.parquet").write_bytes(b"\x00\x01 not parquet")
    script = (
        "from lightfm.cli._io import CLIError, read_table\n"
        "try:\n    read_table('garbage.parquet', ['user'], 'interactions', {})\n"
        "except CLIError as error:\n    print(error)\n"
    )
    for _ in range(4):
        command = [sys.executable, "-c", script]
        result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0 and result.stderr == "", result.stderr
        assert result.stdout.startswith("cannot read interactions file garbage.parquet: ")
        assert str(tmp_path) not in result.stdout  # the file as the user named it


def test_one_user_recommend_imports_only_what_it_needs(files):
    """``recommend --user ID`` (and ``similar --item ID``) read the model file and print a table: no pandas,
    pyarrow, tqdm, matplotlib or Dask, and none of the training modules."""
    folder, _ = files
    code = (
        "import sys, json\n"
        "from lightfm.cli import main\n"
        "status = [main(['recommend', 'model.npz', '--user', 'u1', '--n', '3']),\n"
        "          main(['similar', 'model.npz', '--item', 'i1', '--n', '2'])]\n"
        "heavy = ('pandas', 'pyarrow', 'tqdm', 'matplotlib', 'dask', 'distributed', 'lightfm.cli.training',\n"
        "         'lightfm.cli.inputs', 'lightfm.cli.commands', 'lightfm.cli.cluster')\n"
        "print(json.dumps({'status': status, 'loaded': [name for name in heavy if name in sys.modules]}))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=folder, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report == {"status": [0, 0], "loaded": []}, report
    assert "u1" in result.stdout and "i1" in result.stdout
