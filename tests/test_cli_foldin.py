"""``lightfm recommend --items`` (a new user from their items), ``--item-bias-weight`` and ``lightfm explain``,
in subprocesses on a small generated file."""

import io
import json
import re

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from lightfm import LightFM
from lightfm.data import Dataset

from .test_cli import assert_one_line_error, run_cli

TAGS = ("rock", "jazz", "folk", "pop")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """plays.csv (60 users x 40 items), tags.csv (one or two tags per item) and model.npz trained on both."""
    folder = tmp_path_factory.mktemp("foldin")
    rs = np.random.RandomState(0)
    taste = rs.randint(0, len(TAGS), 60)
    genre = rs.randint(0, len(TAGS), 40)
    liked = (taste[:, None] == genre[None, :]) & (rs.rand(60, 40) < 0.7) | (rs.rand(60, 40) < 0.05)
    users, items = np.nonzero(liked)
    pd.DataFrame({"user": [f"u{u}" for u in users], "item": [f"i{i}" for i in items]}).to_csv(
        folder / "plays.csv", index=False
    )
    second = rs.randint(0, len(TAGS), 40)
    tags = [(f"i{i}", TAGS[genre[i]]) for i in range(40)] + [(f"i{i}", TAGS[second[i]]) for i in range(0, 40, 3)]
    pd.DataFrame(sorted(set(tags)), columns=["item", "feature"]).to_csv(folder / "tags.csv", index=False)
    result = run_cli(
        "train", "plays.csv", "--item-features", "tags.csv", "--epochs", "10", "--components", "8",
        "--test-fraction", "0", "--quiet", "-o", "model.npz", cwd=folder,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return folder


def library(folder):
    """The saved model, its item index of ids, and its matrices, as the library reads them."""
    path = folder / "model.npz"
    return LightFM.load(path), Dataset.load(path), LightFM.load_matrices(path)


def csv_output(result):
    assert result.returncode == 0, result.stderr
    return pd.read_csv(io.StringIO(result.stdout))


def test_recommend_for_a_new_user_from_their_items(trained):
    given = ["i1", "i4", "i9"]
    model, dataset, matrices = library(trained)
    row = sp.csr_matrix((np.ones(3), ([0, 0, 0], dataset.item_index(given))), shape=(1, 40))
    representations = model.fold_in_users(row, item_features=matrices["item_features"])
    for weight in ("1", "0"):
        recs = csv_output(
            run_cli("recommend", "model.npz", "--items", "i1,i4", "--items", " i9 ", "--n", "6",
                    "--item-bias-weight", weight, "--format", "csv", cwd=trained)
        )  # fmt: skip
        assert list(recs.columns) == ["user", "rank", "item", "score"] and len(recs) == 6
        assert set(recs["user"]) == {"(new)"} and list(recs["rank"]) == [1, 2, 3, 4, 5, 6]
        assert not set(recs["item"]) & set(given) and recs["item"].is_unique
        assert list(recs["score"]) == sorted(recs["score"], reverse=True)
        expected, _ = model.recommend(
            n=6, user_representations=representations, exclude=row, item_bias_weight=float(weight)
        )
        assert list(recs["item"]) == dataset.item_ids(expected[0]).tolist()


def test_item_bias_weight_for_known_users(trained):
    model, dataset, matrices = library(trained)
    result = run_cli("recommend", "model.npz", "--user", "u3", "--n", "4", "--item-bias-weight", "0",
                     "--format", "json", cwd=trained)  # fmt: skip
    assert result.returncode == 0, result.stderr
    records = json.loads(result.stdout)
    expected, scores = model.recommend(
        dataset.user_index("u3"), n=4, exclude=matrices["interactions"], item_bias_weight=0.0
    )
    assert [r["item"] for r in records] == dataset.item_ids(expected).tolist()
    np.testing.assert_allclose([r["score"] for r in records], scores, atol=1e-6)
    seen = set(pd.read_csv(trained / "plays.csv").query("user == 'u3'")["item"])
    assert not {r["item"] for r in records} & seen


def parse_tables(text):
    """``[(user, item, score, [(user feature, item feature, contribution), ...])]`` of ``explain``'s tables."""
    tables = []
    for block in text.strip().split("\n\n"):
        title, header, rule, *rows = block.splitlines()
        match = re.fullmatch(r"user (\S+), item (\S+): score (-?\d+\.\d{4}) = .*", title)
        assert match and header.split() == ["user", "feature", "item", "feature", "contribution"], block
        widths = [len(part) for part in rule.split("  ")]
        cells = []
        for row in rows:
            user_feature = row[: widths[0]].strip()
            item_feature = row[widths[0] + 2 : widths[0] + 2 + widths[1]].strip()
            cells.append((user_feature, item_feature, float(row.split()[-1])))
        tables.append((match.group(1), match.group(2), float(match.group(3)), cells))
    return tables


def test_explain_prints_parts_that_add_up_to_the_score(trained):
    model, dataset, matrices = library(trained)
    result = run_cli("explain", "model.npz", "--user", "u5", "--item", "i3", "--item", "i0", "--top", "all",
                     cwd=trained)  # fmt: skip
    assert result.returncode == 0, result.stderr
    tables = parse_tables(result.stdout)
    assert [(user, item) for user, item, _, _ in tables] == [("u5", "i3"), ("u5", "i0")]
    predicted = model.predict(
        dataset.user_index("u5"), dataset.item_index(["i3", "i0"]), item_features=matrices["item_features"]
    )
    tags = pd.read_csv(trained / "tags.csv")
    for (_, item, score, rows), expected in zip(tables, predicted, strict=True):
        assert abs(score - expected) < 1e-4
        assert abs(sum(value for _, _, value in rows) - score) <= 5e-5 * (len(rows) + 1)
        assert rows[0][0] == "(user bias)" and rows[1][1] == "(item bias)"
        # Every pair: the user's identity with the item's identity and each of its tags, by name.
        pairs = rows[2:]
        assert {(f, g) for f, g, _ in pairs} == {("u5", g) for g in [item, *tags.query("item == @item")["feature"]]}
        magnitudes = [abs(value) for _, _, value in pairs]
        assert magnitudes == sorted(magnitudes, reverse=True)
    # --top 1: one pair listed, the others summed into one line; the sum still gives the score.
    short = run_cli("explain", "model.npz", "--user", "u5", "--item", "i0", "--top", "1", cwd=trained)
    assert short.returncode == 0, short.stderr
    (_, _, score, rows), (_, _, _, every) = parse_tables(short.stdout)[0], tables[1]
    assert rows[:3] == every[:3] and re.fullmatch(r"\(\d+ other pairs?\)", rows[3][0]) and len(rows) == 4
    assert abs(sum(value for _, _, value in rows) - score) <= 5e-5 * len(rows)


@pytest.mark.parametrize(
    "args, fragments",
    [
        (("recommend", "model.npz", "--items", "i1,ghost,i2,phantom"), ["2 item ids not in", "'ghost', 'phantom'"]),
        (("recommend", "model.npz", "--user", "u1", "--item-bias-weight", "-0.5"), ["--item-bias-weight", ">= 0"]),
        (("recommend", "model.npz", "--items", "i1", "--user", "u1"), ["--items", "--user"]),
        (("explain", "model.npz", "--user", "u1", "--item", "ghost"), ["item id in --item", "'ghost'"]),
    ],
    ids=["unknown-items", "negative-weight", "items-and-user", "explain-unknown-item"],
)  # fmt: skip
def test_errors_are_one_line(trained, args, fragments):
    assert_one_line_error(run_cli(*args, cwd=trained), *fragments)


def test_explain_has_help_with_examples():
    result = run_cli("explain", "--help")
    assert result.returncode == 0 and "examples:" in result.stdout and "--top" in result.stdout
