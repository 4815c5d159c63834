"""The ``lightfm`` command's reading of the user's files, in subprocesses: the rating filter apart from
weights, what the model file remembers (columns, separator, filter), items found by title, feature cells
holding several features, and ids written as decimals."""

import io
import json

import numpy as np
import pandas as pd
import pytest

from lightfm import LightFM
from lightfm.data import Dataset

from .test_cli import assert_one_line_error, run_cli

TITLES = {
    1: "Toy Story (1995)",
    2: "Toy Story 2 (1999)",
    3: "Star Wars (1977)",
    4: "Return of the Jedi (1983)",
    5: "Batman (1989)",
    6: "Batman Returns (1992)",
    7: "Star Trek: First Contact (1996)",
}
GENRES = {
    1: "Animation|Children|Comedy",
    2: "Animation|Children|Comedy",
    3: "Action|Adventure|Sci-Fi",
    4: "Action|Adventure|Sci-Fi",
    5: "Action|Crime",
    6: "Action|Crime",
    7: "Action|Sci-Fi",
}


@pytest.fixture(scope="module")
def ratings(tmp_path_factory):
    """MovieLens-shaped files: ratings.csv (userId, movieId, rating 1-5), its split, movies.csv (titles, genres)."""
    folder = tmp_path_factory.mktemp("columns")
    rs = np.random.RandomState(7)
    n_users, n_items = 120, 60
    taste = rs.randint(0, 3, n_users)
    kind = np.arange(1, n_items + 1) % 3
    rows = []
    for user in range(1, n_users + 1):
        for item in rs.choice(np.arange(1, n_items + 1), 18, replace=False):
            liked = taste[user - 1] == kind[item - 1]
            rows.append((user, item, int(rs.choice([4, 5]) if liked else rs.choice([1, 2, 3]))))
    frame = pd.DataFrame(rows, columns=["userId", "movieId", "rating"])
    held = rs.rand(len(frame)) < 0.2
    frame[~held].to_csv(folder / "ratings.csv", index=False)
    frame[held].to_csv(folder / "test.csv", index=False)
    titles = {**TITLES, **{item: f"Movie {item} (2000)" for item in range(8, n_items + 1)}}
    others = ["Drama|Romance", "Horror|Thriller", "Comedy|Romance"]
    genres = {item: GENRES.get(item, others[item % 3]) for item in titles}
    pd.DataFrame(
        {"movieId": list(titles), "title": list(titles.values()), "genres": [genres[i] for i in titles]}
    ).to_csv(folder / "movies.csv", index=False)
    return folder


def embeddings(path):
    model = LightFM.load(path)
    return model.user_embeddings, model.item_embeddings


def metrics(result):
    assert result.returncode == 0, result.stderr
    return {record["metric"]: record["value"] for record in json.loads(result.stdout)}


COMMON = ["--user-col", "userId", "--item-col", "movieId", "--epochs", "2", "--components", "8", "--test-fraction", "0"]


def test_min_rating_filters_and_weight_col_weights_separately(ratings):
    """--rating-col/--min-rating trains exactly as a pre-filtered file does; weights only with --weight-col."""
    frame = pd.read_csv(ratings / "ratings.csv")
    frame[frame.rating >= 4].to_csv(ratings / "liked.csv", index=False)
    runs = {
        "filtered": ["ratings.csv", "--rating-col", "rating", "--min-rating", "4"],
        "prefiltered": ["liked.csv"],
        "filtered_weighted": ["ratings.csv", "--rating-col", "rating", "--min-rating", "4", "--weight-col", "rating"],
        "prefiltered_weighted": ["liked.csv", "--weight-col", "rating"],
    }
    results = {name: run_cli("train", *args, *COMMON, "-o", f"{name}.npz", cwd=ratings) for name, args in runs.items()}
    for result in results.values():
        assert result.returncode == 0, result.stderr
    kept = f"kept {int((frame.rating >= 4).sum()):,} of {len(frame):,} rows (rating >= 4)"
    assert kept in results["filtered"].stdout
    for got, expected in (("filtered", "prefiltered"), ("filtered_weighted", "prefiltered_weighted")):
        mine, theirs = embeddings(ratings / f"{got}.npz"), embeddings(ratings / f"{expected}.npz")
        np.testing.assert_array_equal(mine[0], theirs[0])
        np.testing.assert_array_equal(mine[1], theirs[1])
    assert not np.array_equal(
        embeddings(ratings / "filtered.npz")[1], embeddings(ratings / "filtered_weighted.npz")[1]
    )  # the weights do change the model: the filter alone does not weight


def test_rating_options_that_cannot_work_say_what_to_write(ratings):
    assert_one_line_error(
        run_cli("train", "ratings.csv", *COMMON, "--weight-col", "rating", "--min-rating", "4", "-o", "x.npz",
                cwd=ratings),
        "--rating-col rating --min-rating 4", "--weight-col rating",
    )  # fmt: skip
    assert_one_line_error(
        run_cli("train", "ratings.csv", *COMMON, "--min-rating", "4", "-o", "x.npz", cwd=ratings), "needs --rating-col"
    )
    assert_one_line_error(
        run_cli("train", "ratings.csv", *COMMON, "--rating-col", "rating", "-o", "x.npz", cwd=ratings),
        "add --min-rating",
    )
    assert_one_line_error(
        run_cli("train", "ratings.csv", *COMMON, "--rating-col", "stars", "--min-rating", "4", "-o", "x.npz",
                cwd=ratings),
        "no column 'stars'", "--rating-col",
    )  # fmt: skip
    assert_one_line_error(
        run_cli("train", "ratings.csv", *COMMON, "--rating-col", "rating", "--min-rating", "6", "-o", "x.npz",
                cwd=ratings),
        "--min-rating 6 keeps none", "rating runs from 1 to 5", "lower --min-rating",
    )  # fmt: skip
    wrong = run_cli("train", "ratings.csv", *COMMON, "--rating-col", "rating", "--min-rating", "high", "-o", "x.npz",
                    cwd=ratings)  # fmt: skip
    assert wrong.returncode == 2 and "--min-rating" in wrong.stderr and "'high'" in wrong.stderr


def test_evaluate_counts_only_the_ratings_asked_for(ratings):
    frame = pd.read_csv(ratings / "test.csv")
    frame[frame.rating >= 4].to_csv(ratings / "test_liked.csv", index=False)
    frame[["userId", "movieId"]].to_csv(ratings / "test_ids.csv", index=False)
    trained = run_cli("train", "ratings.csv", *COMMON, "--rating-col", "rating", "--min-rating", "4", "-o", "f.npz",
                      cwd=ratings)  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    json_out = ["--format", "json"]
    liked = metrics(run_cli("evaluate", "f.npz", "test_liked.csv", *json_out, cwd=ratings))
    asked = run_cli("evaluate", "f.npz", "test.csv", "--rating-col", "rating", "--min-rating", "4", *json_out,
                    cwd=ratings)  # fmt: skip
    assert metrics(asked) == liked
    assert f"kept {int((frame.rating >= 4).sum()):,} of {len(frame):,} rows" in asked.stderr
    # Left out, the filter is the model's own, and says so; 'none' counts every row.
    inherited = run_cli("evaluate", "f.npz", "test.csv", *json_out, cwd=ratings)
    assert metrics(inherited) == liked and "as the model was trained" in inherited.stderr
    every = run_cli("evaluate", "f.npz", "test.csv", "--min-rating", "none", *json_out, cwd=ratings)
    assert metrics(every) == metrics(run_cli("evaluate", "f.npz", "test_ids.csv", *json_out, cwd=ratings))
    assert metrics(every) != liked and "not read" not in every.stderr
    missing = run_cli("evaluate", "f.npz", "test_ids.csv", *json_out, cwd=ratings)
    assert "has no column 'rating': every row counts" in missing.stderr
    # A model trained without a filter: a ratings column that nothing reads is pointed out.
    run_cli("train", "ratings.csv", *COMMON, "-o", "plain.npz", cwd=ratings)
    plain = run_cli("evaluate", "plain.npz", "test.csv", *json_out, cwd=ratings)
    assert plain.returncode == 0 and "the column 'rating' of test.csv is not read" in plain.stderr
    assert "--rating-col rating --min-rating" in plain.stderr
    assert_one_line_error(
        run_cli("evaluate", "plain.npz", "test.csv", "--min-rating", "4", cwd=ratings), "needs --rating-col"
    )


def test_the_model_file_remembers_columns_and_separator(ratings):
    """Trained with --user-col/--item-col/--sep, the other commands read the same kind of files untold."""
    for name in ("ratings", "test"):
        pd.read_csv(ratings / f"{name}.csv").to_csv(ratings / f"{name}.txt", sep=";", index=False)
    trained = run_cli("train", "ratings.txt", *COMMON, "--sep", ";", "-o", "semi.npz", cwd=ratings)
    assert trained.returncode == 0, trained.stderr
    told = run_cli(
        "evaluate", "semi.npz", "test.txt", "--user-col", "userId", "--item-col", "movieId", "--sep", ";",
        "--format", "json", cwd=ratings,
    )  # fmt: skip
    untold = run_cli("evaluate", "semi.npz", "test.txt", "--format", "json", cwd=ratings)
    assert metrics(untold) == metrics(told)
    recs = run_cli("recommend", "semi.npz", "--user", "3", "--n", "3", "--item-names", "movies.csv",
                   "--format", "csv", cwd=ratings)  # fmt: skip
    assert recs.returncode == 0, recs.stderr
    table = pd.read_csv(io.StringIO(recs.stdout))
    titles = dict(pd.read_csv(ratings / "movies.csv")[["movieId", "title"]].itertuples(index=False))
    assert list(table["name"]) == [titles[item] for item in table["item"]]
    near = run_cli("similar", "semi.npz", "--item", "1", "--item-names", "movies.csv", "--format", "csv", cwd=ratings)
    assert near.returncode == 0, near.stderr
    # A names file with another id column still needs --item-col, and the error says where the name came from.
    pd.read_csv(ratings / "movies.csv").rename(columns={"movieId": "id"}).to_csv(ratings / "ids.csv", index=False)
    assert_one_line_error(
        run_cli("recommend", "semi.npz", "--user", "3", "--item-names", "ids.csv", cwd=ratings),
        "no column 'movieId'", "--item-col", "trained with --item-col movieId",
    )  # fmt: skip
    # A file the separator does not fit: the error names the remembered separator and --sep.
    pd.read_csv(ratings / "test.csv").to_csv(ratings / "test_tab.txt", sep="\t", index=False)
    assert_one_line_error(
        run_cli("evaluate", "semi.npz", "test_tab.txt", cwd=ratings), "no column 'userId'", "separator ';'", "--sep"
    )
    # Resuming takes the columns and separator too.
    resumed = run_cli("train", "test.txt", "--resume", "semi.npz", "--epochs", "1", "--test-fraction", "0",
                      "-o", "semi2.npz", cwd=ratings)  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    assert "--user-col 'userId', --item-col 'movieId', --sep ';' as the resumed model was trained" in resumed.stderr


def test_model_files_without_remembered_settings_still_work(ratings):
    """A file written before the model file kept the command's settings: the usual defaults apply."""
    frame = pd.read_csv(ratings / "ratings.csv").rename(columns={"userId": "user", "movieId": "item"})
    dataset = Dataset()
    dataset.fit(frame["user"].astype(str), frame["item"].astype(str))
    interactions, _ = dataset.build_interactions(frame.astype({"user": str, "item": str}), "user", "item")
    model = LightFM(no_components=8, random_state=0).fit(interactions, epochs=2)
    model.save(ratings / "old.npz", dataset=dataset, interactions=interactions)
    pd.read_csv(ratings / "movies.csv").rename(columns={"movieId": "item"}).to_csv(ratings / "named.csv", index=False)
    recs = run_cli("recommend", "old.npz", "--user", "3", "--n", "2", "--item-names", "named.csv", cwd=ratings)
    assert recs.returncode == 0, recs.stderr
    held_out = pd.read_csv(ratings / "test.csv").rename(columns={"userId": "user", "movieId": "item"})
    held_out.to_csv(ratings / "old_test.csv", index=False)
    evaluated = run_cli("evaluate", "old.npz", "old_test.csv", cwd=ratings)
    assert evaluated.returncode == 0, evaluated.stderr


@pytest.mark.slow  # a dozen CLI processes; the default suite runs one --title in test_cli_workflow.py
def test_similar_finds_items_by_title(ratings):
    trained = run_cli("train", "ratings.csv", *COMMON, "-o", "titles.npz", cwd=ratings)
    assert trained.returncode == 0, trained.stderr

    def similar(*args):
        return run_cli("similar", "titles.npz", *args, "--item-names", "movies.csv", "--format", "csv", cwd=ratings)

    by_id = similar("--item", "1")
    for title in ("Toy Story", "toy story (1995)", "TOY STORY"):  # equal to the name (any case, year aside)
        result = similar("--title", title)
        assert result.returncode == 0, result.stderr
        assert result.stdout == by_id.stdout
        assert "item 1, 'Toy Story (1995)'" in result.stderr
    assert similar("--title", "jedi").stdout == similar("--item", "4").stdout  # the only name containing it
    assert similar("--title", "batman r").stdout == similar("--item", "6").stdout
    both = pd.read_csv(io.StringIO(similar("--title", "Batman", "--item", "3").stdout))
    assert list(dict.fromkeys(both["item"])) == [3, 5]  # --item first, then --title
    assert_one_line_error(
        similar("--title", "star"), "matches 2 items", "'Star Wars (1977)' (id 3)",
        "'Star Trek: First Contact (1996)' (id 7)", "--item ID",
    )  # fmt: skip
    assert_one_line_error(similar("--title", "Casablanca"), "no name in movies.csv contains it")
    assert_one_line_error(
        run_cli("similar", "titles.npz", "--title", "Toy Story", cwd=ratings), "--title", "--item-names"
    )
    assert_one_line_error(similar("--title", "Toy Story", "--user", "1"), "either items", "or users")


def test_feature_cells_holding_several_features(ratings):
    features = ["--item-features", "movies.csv", "--feature-col", "genres"]
    whole = run_cli("train", "ratings.csv", *COMMON, *features, "-o", "whole.npz", cwd=ratings)
    assert whole.returncode == 0, whole.stderr
    assert "contain '|'" in whole.stderr and "--feature-sep '|'" in whole.stderr
    split = run_cli("train", "ratings.csv", *COMMON, *features, "--feature-sep", "|", "-o", "split.npz", cwd=ratings)
    assert split.returncode == 0, split.stderr
    assert "--feature-sep" not in split.stderr
    movies = pd.read_csv(ratings / "movies.csv")
    genres = {genre for cell in movies["genres"] for genre in cell.split("|")}
    _, _, items, item_features = Dataset.load(ratings / "split.npz").mapping()
    assert set(item_features) - set(items) == genres
    assert set(Dataset.load(ratings / "whole.npz").mapping()[3]) - set(items) == set(movies["genres"])
    matrix = LightFM.load_matrices(ratings / "split.npz")["item_features"]
    toy_story = matrix[items["1"]]
    assert sorted(toy_story.indices) == sorted([items["1"]] + [item_features[g] for g in GENRES[1].split("|")])
    assert_one_line_error(
        run_cli("train", "ratings.csv", *COMMON, "--feature-sep", "|", "-o", "x.npz", cwd=ratings),
        "--feature-sep", "--item-features",
    )  # fmt: skip


def test_ids_written_as_decimals_match_the_ids_typed(ratings):
    pytest.importorskip("pyarrow")
    frame = pd.read_csv(ratings / "ratings.csv").astype({"userId": float, "movieId": float})
    frame.to_parquet(ratings / "floats.parquet")
    frame.to_csv(ratings / "floats.csv", index=False)  # "3.0" as text
    for name in ("floats.parquet", "floats.csv"):
        trained = run_cli("train", name, *COMMON, "-o", "floats.npz", cwd=ratings)
        assert trained.returncode == 0, trained.stderr
        assert "'userId' ids are whole numbers" in trained.stderr and "read as '" in trained.stderr
        assert "3" in Dataset.load(ratings / "floats.npz").mapping()[0]
        recs = run_cli("recommend", "floats.npz", "--user", "3", "--n", "2", "--item-names", "movies.csv",
                       "--format", "csv", cwd=ratings)  # fmt: skip
        assert recs.returncode == 0 and "not in the model" not in recs.stderr, recs.stderr
        assert pd.read_csv(io.StringIO(recs.stdout))["name"].notna().all()
    # A model that holds "3.0" (trained before decimals were read as whole numbers) finds "3" too, and says so.
    dataset = Dataset()
    dataset.fit(frame["userId"].astype(str), frame["movieId"].astype(str))
    interactions, _ = dataset.build_interactions(frame.astype(str), "userId", "movieId")
    LightFM(no_components=8, random_state=0).fit(interactions, epochs=1).save(
        ratings / "decimal.npz", dataset=dataset, interactions=interactions
    )
    recs = run_cli("recommend", "decimal.npz", "--user", "3", "--n", "2", "--item-names", "movies.csv",
                   "--item-col", "movieId", "--format", "csv", cwd=ratings)  # fmt: skip
    assert recs.returncode == 0, recs.stderr
    assert "'3' as '3.0'" in recs.stderr
    assert pd.read_csv(io.StringIO(recs.stdout))["name"].str.endswith(")").all()  # names found for "12.0"
    near = run_cli("similar", "decimal.npz", "--title", "Toy Story", "--item-names", "movies.csv",
                   "--item-col", "movieId", cwd=ratings)  # fmt: skip
    assert near.returncode == 0, near.stderr
