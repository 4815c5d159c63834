"""The command line: subcommands, their options and examples, and the exit status."""

from __future__ import annotations

import argparse
import importlib
import sys

from .._params import LOSSES
from ..version import __version__
from ._io import CLIError, caused_by_ctrl_c
from .report import MONITORED_METRICS


class _Command:
    """A subcommand's function, imported when the command runs: each command loads only its own modules
    (``recommend`` never imports the training loop, ``split`` never the model code)."""

    def __init__(self, module: str, name: str):
        self.module, self.name = module, name

    def __call__(self, args) -> int:
        return getattr(importlib.import_module(f"{__package__}.{self.module}"), self.name)(args)


run_demo = _Command("demo", "run_demo")
run_train = _Command("commands", "run_train")
run_evaluate = _Command("commands", "run_evaluate")
run_recommend = _Command("recommend", "run_recommend")
run_similar = _Command("recommend", "run_similar")
run_index = _Command("index", "run_index")
run_explain = _Command("explain", "run_explain")
run_serve = _Command("serve", "run_serve")
run_split = _Command("split", "run_split")

_EXAMPLES = {
    "demo": """examples:
  lightfm demo                      # generated data, no files or network needed
  lightfm demo --data movielens     # MovieLens 100k (downloaded to ~/lightfm_data if missing)
  lightfm demo --epochs 30 --threads 2
  lightfm demo --export demo-data   # the generated data as CSV files, to try 'lightfm train' on""",
    "train": """examples:
  lightfm train ratings.csv --output model.npz
  lightfm train ratings.csv --user-col userId --item-col movieId --rating-col rating --min-rating 4 --output model.npz
  lightfm train plays.csv --weight-col plays --output model.npz             # weighted by the play counts
  lightfm train plays.parquet --item-features tags.csv --eval-every 5 --plot curve.png --output model.npz
  lightfm train ratings.csv --item-col movieId --item-features movies.csv --feature-col genres \\
      --feature-sep '|' --output model.npz                                  # genres 'Comedy|Drama' as two features
  lightfm train plays.csv --epochs 100 --early-stopping 3 --output model.npz
  lightfm train new_plays.csv --resume model.npz --epochs 5 --output model2.npz
  lightfm train plays_parquet/ --workers 4 --epochs 20 --output model.npz     # on a local Dask cluster

--min-rating keeps the rows whose --rating-col is at least that, as plain interactions;
--weight-col weights each row by its column (both may name the same column).
Feature files are long tables with one row per (id, feature): the id column (named as in
the interactions, --user-col / --item-col), a --feature-col and optionally a --feature-weight-col;
--feature-sep splits a cell holding several features ('Adventure|Animation').
The model file keeps the column names, the separator and the rating filter: evaluate,
recommend and similar use them unless told otherwise.""",
    "evaluate": """examples:
  lightfm evaluate model.npz holdout.csv
  lightfm evaluate model.npz holdout.csv --user-col userId --item-col movieId --k 5
  lightfm evaluate model.npz test.csv --rating-col rating --min-rating 4   # only ratings >= 4 count

Columns, separator and rating filter default to those the model was trained with.""",
    "recommend": """examples:
  lightfm recommend model.npz --user alice                     # never an item alice already had
  lightfm recommend model.npz --user alice --no-exclude-seen   # known items too
  lightfm recommend model.npz --user alice --user bob --n 5 --exclude-seen
  lightfm recommend model.npz --users-file users.txt --exclude-seen --output recommendations.csv
  lightfm recommend model.npz --user alice --item-names movies.csv --name-col title
  lightfm recommend model.npz --users-file new_users.txt --unknown-users popular
  lightfm recommend model.npz --users-file users.parquet --scheduler tcp://host:8786 --seen plays_parquet/ -o recs/
  lightfm recommend model.npz --items album3,album7,album12     # someone new, from the items they had
  lightfm recommend model.npz --user alice --item-bias-weight 0.5  # popularity turned down
  lightfm recommend model.npz --users-file users.txt --index model.index  # approximate, for large catalogues

--items folds a user the model has never seen in from the items they had (comma-separated; repeat
--items for more) and recommends for them, never one of those items; the user column reads (new).
--item-bias-weight scales the item biases, which carry most of an item's popularity: 1 (the default)
is the model's own score, 0 ranks by the embeddings alone and brings less popular items forward.
--index finds the items in an index built by 'lightfm index' instead of scoring every item: the
same output, and with a faiss index nearly always the same items (every score is exact).""",
    "index": """examples:
  lightfm index model.npz -o model.index                       # faiss IVF, defaults tuned for recall@10
  lightfm index model.npz -o model.index --nlist 1024 --nprobe 64
  lightfm index model.npz -o model.index --index-type hnsw --ef-search 512
  lightfm index model.npz -o exact.index --backend exact      # no faiss: exact, as without --index
  lightfm recommend model.npz --users-file users.txt --index model.index
  lightfm similar model.npz --item album3 --index model.index
  lightfm serve model.npz --index model.index

The index file holds two indexes of the model's items: one for the scores (recommend) and one for
the cosine of their representations (similar). It holds the items as they are now: after training
the model again, build it again (--index refuses an index of other item representations). It pays from about 100,000
items; recommend --index scores catalogues of up to 4,096 items exactly. A faiss index needs
pip install "lightfm-ng[ann]". More --nprobe (IVF) or --ef-search (HNSW) finds more of the true
top items, more slowly.""",
    "similar": """examples:
  lightfm similar model.npz --item dune --n 5
  lightfm similar model.npz --item album3 --item-names albums.csv
  lightfm similar model.npz --title "Toy Story" --item-names movies.csv
  lightfm similar model.npz --user alice --user bob --format csv
  lightfm similar model.npz --item album3 --index model.index   # approximate, for large catalogues

--title finds an item by its name in --item-names: a name equal to it (any case), else the only
name containing it; when several do, the error lists them. --index (items only) finds the neighbours
in an index built by 'lightfm index' instead of comparing every item: the same output, and with a
faiss index nearly always the same items (every similarity is exact).""",
    "explain": """examples:
  lightfm explain model.npz --user alice --item dune
  lightfm explain model.npz --user alice --item dune --item emma --top 5
  lightfm explain model.npz --user alice --item dune --top all --format json

A score is the user's bias plus the item's bias plus one contribution per pair of a user feature
and an item feature (the user's and the item's own identity features, and any features from
--user-features / --item-features in training): the table lists the --top pairs of largest size,
and sums the others into one line, so that the contribution column adds up to the score.""",
    "serve": """examples:
  lightfm serve model.npz                                   # http://127.0.0.1:8000, API docs at /docs
  lightfm serve model.npz --item-names albums.csv --port 8080
  lightfm serve model.npz --host 0.0.0.0 --workers 2        # other machines may call it; 2 processes
  lightfm serve model.npz --unknown-users popular --max-n 100
  lightfm serve model.npz --index model.index               # large catalogues: 'lightfm index' builds it

  curl 'http://127.0.0.1:8000/recommend?user=user7&n=5'
  curl -X POST http://127.0.0.1:8000/recommend -H 'content-type: application/json' -d '{"items": ["album3"]}'
  curl 'http://127.0.0.1:8000/similar?item=album3'
  curl 'http://127.0.0.1:8000/explain?user=user7&item=album3'
  curl -X POST http://127.0.0.1:8000/reload                 # or: kill -HUP <pid>

Endpoints: GET /health, GET /recommend?user=ID&n=10[&exclude_seen=false][&item_bias_weight=W],
POST /recommend {"items": [ids], "n": 10[, "user_features": [names]]} (a new user, folded in; nothing
is stored) or {"user": ID}, GET /similar?item=ID&n=10, GET /explain?user=ID&item=ID, POST /reload.
A reload serves the model file's new version once it has loaded (requests in flight finish on the old
one); a file that fails to load leaves the old one serving. Errors are JSON: 404 for an unknown user
or item, 422 for malformed input or n above --max-n, 413 for a body above --max-body.""",
    "split": """examples:
  lightfm split ratings.csv --train train.csv --test test.csv                  # 20% of the pairs at random
  lightfm split ratings.csv --by user --per-user 2 --train train.csv --test test.csv
  lightfm split ratings.csv --by user --time-col timestamp --train train.csv --test test.csv   # each user's latest
  lightfm split ratings.csv --by time --time-col timestamp --test-fraction 0.1 --train train.csv --test test.csv

--by random holds out --test-fraction of the distinct (user, item) pairs (a pair's rows stay together);
--by user holds out --per-user K items of every user with more than K (the latest by --time-col, else
random); --by time holds out the --test-fraction latest pairs (by their first row's time). Both files keep
every column; then: lightfm train train.csv ... -o model.npz && lightfm evaluate model.npz test.csv""",
}


class _Once(argparse.Action):
    """An option that may be given once: a second file would silently replace the first."""

    def __call__(self, parser, namespace, values, option_string=None):
        if getattr(namespace, self.dest) is not None:
            parser.error(f"{option_string} given twice: pass one file (put all features in it)")
        setattr(namespace, self.dest, values)


def _output_options(command) -> None:
    """``--format`` and ``--output`` of the commands that print tables (see ``_io``'s writer)."""
    command.add_argument(
        "--format", choices=["table", "csv", "json"], help="output format (default: from --output, else table)"
    )
    command.add_argument("--output", "-o", help="write to this file instead of the screen")


def _min_rating(text: str):
    """A number, or "none" (no filter, not even the one the model file remembers)."""
    if text.strip().lower() == "none":
        return "none"
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or 'none', got {text!r}") from None
    if value != value:
        raise argparse.ArgumentTypeError("expected a number or 'none', got nan")
    return value


def _top(text: str):
    """A positive integer, or "all" (None: every pair)."""
    if text.strip().lower() == "all":
        return None
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number >= 1 or 'all', got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 1 or 'all', got {text!r}")
    return value


_REMEMBERED = "default: as the model was trained, else"


def _names_options(command) -> None:
    """``--item-names`` (titles instead of bare ids) and the columns of its file."""
    command.add_argument("--item-names", metavar="FILE", help="table of item ids and names: adds a 'name' column")
    command.add_argument("--item-col", help=f"item id column of --item-names ({_REMEMBERED} 'item')")
    command.add_argument(
        "--name-col", help="name column of --item-names (default: 'title' or 'name', or the only other column)"
    )


def _cluster_options(command, what) -> None:
    """``--workers`` / ``--scheduler``: run on a Dask cluster (the ``dask`` extra)."""
    group = command.add_mutually_exclusive_group()
    group.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help=f"{what} on a local Dask cluster of N worker processes (lightfm-ng[dask])",
    )
    group.add_argument(
        "--scheduler", metavar="ADDRESS", help=f"{what} on the Dask cluster of this scheduler (tcp://host:8786)"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lightfm",
        description="Hybrid recommendations with LightFM: try the demo, or train on your own interactions.",
        epilog="Run 'lightfm COMMAND --help' for a command's options and examples.",
    )
    parser.add_argument("--version", action="version", version=f"lightfm-ng {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name, help_text, threads=True):
        sub = commands.add_parser(
            name,
            help=help_text,
            description=help_text,
            epilog=_EXAMPLES[name],
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        if threads:
            sub.add_argument("--threads", type=int, default=1, help="threads for training and scoring (default 1)")
        return sub

    demo = command("demo", "Train on built-in data and show metrics and recommendations.")
    demo.add_argument(
        "--data", choices=["synthetic", "movielens"], default="synthetic", help="which data (default synthetic)"
    )
    demo.add_argument("--data-home", help="where MovieLens is kept (default: $LIGHTFM_DATA_HOME or ~/lightfm_data)")
    demo.add_argument("--loss", choices=LOSSES, default="warp", help="loss (default warp)")
    demo.add_argument("--components", type=int, default=32, help="embedding size (default 32)")
    demo.add_argument("--epochs", type=int, default=20, help="training epochs (default 20)")
    demo.add_argument("--k", type=int, default=10, help="cut-off of precision@k and recall@k (default 10)")
    demo.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    demo.add_argument("--quiet", action="store_true", help="no progress bars")
    demo.add_argument(
        "--export", metavar="FOLDER", help="instead of training, write the generated data as CSV files to FOLDER"
    )
    demo.set_defaults(run=run_demo)

    train = command("train", "Train a model on a CSV/TSV/Parquet file of interactions and save it.")
    train.add_argument("interactions", help="CSV, TSV or Parquet file with one row per interaction")
    train.add_argument("--output", "-o", required=True, help="model file to write (.npz)")
    train.add_argument("--sep", help="column separator of the files (default: from the name, else sniffed)")
    train.add_argument("--user-col", help="user id column (default 'user'; with --resume, the model's)")
    train.add_argument("--item-col", help="item id column (default 'item'; with --resume, the model's)")
    train.add_argument("--weight-col", help="optional column of interaction weights (>= 0): weights each row by it")
    train.add_argument("--rating-col", help="column of ratings that --min-rating filters on (not a weight)")
    train.add_argument(
        "--min-rating",
        type=_min_rating,
        metavar="R",
        help="keep only the rows whose --rating-col is at least R, as unweighted interactions (as fetch_movielens)",
    )
    train.add_argument("--user-features", action=_Once, help="optional file of user features (see below)")
    train.add_argument("--item-features", action=_Once, help="optional file of item features (see below)")
    train.add_argument(
        "--feature-col", default="feature", help="feature name column of feature files (default 'feature')"
    )
    train.add_argument("--feature-weight-col", help="optional feature weight column of feature files")
    train.add_argument(
        "--feature-sep",
        metavar="SEP",
        help="split a feature cell into several features at SEP ('Adventure|Animation' with --feature-sep '|')",
    )
    train.add_argument("--loss", choices=LOSSES, help="loss (default warp)")
    train.add_argument("--components", type=int, help="embedding size (default 32)")
    train.add_argument("--epochs", type=int, default=20, help="training epochs (default 20)")
    train.add_argument("--learning-rate", type=float, help="learning rate (default 0.05)")
    train.add_argument("--item-alpha", type=float, help="L2 penalty on item features (default 0)")
    train.add_argument("--user-alpha", type=float, help="L2 penalty on user features (default 0)")
    train.add_argument("--max-sampled", type=int, help="negatives WARP draws per positive at most (default 10)")
    train.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    train.add_argument(
        "--test-fraction", type=float, default=0.2, help="share of interactions held out to evaluate (default 0.2)"
    )
    train.add_argument(
        "--no-refit",
        action="store_true",
        help="save the model trained without the held-out part (default: after evaluating, refit on everything)",
    )
    train.add_argument("--eval-every", type=int, default=0, help="report held-out metrics every N epochs")
    train.add_argument("--k", type=int, default=10, help="cut-off of precision@k and recall@k (default 10)")
    train.add_argument(
        "--early-stopping",
        type=int,
        metavar="N",
        help="stop when the --monitor metric has not improved for N evaluations; keep (and refit for) the best epoch",
    )
    train.add_argument(
        "--monitor",
        choices=sorted(MONITORED_METRICS),
        default="precision",
        help="metric for --early-stopping (default precision@k)",
    )
    train.add_argument(
        "--resume", metavar="MODEL", help="continue training this saved model (its settings, ids and features)"
    )
    train.add_argument(
        "--on-interrupt",
        choices=["ask", "save", "discard"],
        default="ask",
        help="on Ctrl-C, save the model trained so far: ask (on a terminal; default), save, or discard",
    )
    train.add_argument(
        "--plot", help="draw the learning curve (held-out and train metrics) to this image (needs matplotlib)"
    )
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    _cluster_options(train, "train")
    train.set_defaults(run=run_train)

    evaluate = command("evaluate", "Score a saved model on held-out interactions.")
    evaluate.add_argument("model", help="model file written by 'lightfm train'")
    evaluate.add_argument("interactions", help="CSV, TSV or Parquet file of held-out interactions")
    evaluate.add_argument("--user-col", help=f"user id column ({_REMEMBERED} 'user')")
    evaluate.add_argument("--item-col", help=f"item id column ({_REMEMBERED} 'item')")
    evaluate.add_argument("--rating-col", help=f"column of ratings that --min-rating filters on ({_REMEMBERED} none)")
    evaluate.add_argument(
        "--min-rating",
        type=_min_rating,
        metavar="R",
        help=f"count only the rows whose --rating-col is at least R ({_REMEMBERED} every row; 'none': every row)",
    )
    evaluate.add_argument("--k", type=int, default=10, help="cut-off of precision@k, recall@k and NDCG@k (default 10)")
    evaluate.add_argument(
        "--sep", help=f"column separator of the file ({_REMEMBERED} from the file's name, or sniffed)"
    )
    evaluate.add_argument(
        "--unknown",
        choices=["skip", "error"],
        default="skip",
        help="rows whose user or item the model does not know: skip them with a warning (default) or stop",
    )
    _output_options(evaluate)
    evaluate.set_defaults(run=run_evaluate)

    recommend = command(
        "recommend", "Recommend items to users of a saved model, or to a new user from the items they had."
    )
    recommend.add_argument("model", help="model file written by 'lightfm train'")
    recommend.add_argument("--user", action="append", default=[], metavar="ID", help="a user id (repeatable)")
    recommend.add_argument(
        "--users-file", help="users to serve: a .txt file (one id per line) or a table with --user-col"
    )
    recommend.add_argument("--user-col", help=f"user id column of --users-file ({_REMEMBERED} 'user')")
    recommend.add_argument(
        "--items",
        action="append",
        default=[],
        metavar="ID,ID,...",
        help="instead of users: a new user's items (comma-separated, repeatable), folded in to recommend for them",
    )
    recommend.add_argument("--n", type=int, default=10, help="items per user (default 10)")
    recommend.add_argument(
        "--item-bias-weight",
        type=float,
        default=1.0,
        metavar="W",
        help="scale of the item biases (popularity), >= 0: 1 the model's own (default), 0 none",
    )
    recommend.add_argument(
        "--exclude-seen",
        action=argparse.BooleanOptionalAction,
        help="leave out each user's items from the training file (default: yes, when the model file holds them; "
        "--no-exclude-seen to include them)",
    )
    recommend.add_argument(
        "--unknown-users",
        choices=["skip", "popular", "error"],
        default="skip",
        help="users the model does not know: skip them with a warning (default), give them the most popular "
        "items, or stop",
    )
    _names_options(recommend)
    _output_options(recommend)
    _cluster_options(recommend, "score")
    recommend.add_argument(
        "--seen",
        metavar="INTERACTIONS",
        help="with --workers/--scheduler: interactions (file, folder or glob; --user-col/--item-col) whose items "
        "are left out",
    )
    recommend.add_argument(
        "--index",
        metavar="FILE",
        help="find the items in this index from 'lightfm index' instead of scoring every item (large catalogues)",
    )
    recommend.set_defaults(run=run_recommend)

    similar = command("similar", "Find the items (or users) most similar to given ones in a saved model.")
    similar.add_argument("model", help="model file written by 'lightfm train'")
    similar.add_argument("--item", action="append", default=[], metavar="ID", help="an item id (repeatable)")
    similar.add_argument(
        "--title",
        action="append",
        default=[],
        metavar="NAME",
        help="an item by its name in --item-names: equal to NAME (any case), else containing it (repeatable)",
    )
    similar.add_argument("--user", action="append", default=[], metavar="ID", help="a user id (repeatable)")
    similar.add_argument("--n", type=int, default=10, help="neighbours per id (default 10)")
    similar.add_argument(
        "--index",
        metavar="FILE",
        help="find the items in this index from 'lightfm index' instead of comparing every item (large catalogues)",
    )
    _names_options(similar)
    _output_options(similar)
    similar.set_defaults(run=run_similar)

    index = command(
        "index", "Put a saved model's items in a nearest-neighbour index, for 'recommend --index'.", threads=False
    )
    index.add_argument("--threads", type=int, default=1, help="threads for building the index (default 1)")
    index.add_argument("model", help="model file written by 'lightfm train'")
    index.add_argument("--output", "-o", required=True, metavar="FILE", help="index file to write (e.g. model.index)")
    index.add_argument(
        "--backend",
        choices=["faiss", "exact"],
        default="faiss",
        help="faiss: approximate (default; lightfm-ng[ann]); exact: every item scored, as without --index",
    )
    index.add_argument("--index-type", choices=["ivf", "hnsw"], help="faiss index: ivf (default) or hnsw")
    index.add_argument("--nlist", type=int, metavar="N", help="IVF lists (default about 4 sqrt(items))")
    index.add_argument("--nprobe", type=int, metavar="N", help="IVF lists searched for a top 10 (default 128)")
    index.add_argument("--ef-search", type=int, metavar="N", help="HNSW search breadth (default 1024)")
    index.set_defaults(run=run_index)

    explain = command(
        "explain", "Show why a saved model scores items as it does for a user: biases and feature pairs.", threads=False
    )
    explain.add_argument("model", help="model file written by 'lightfm train'")
    explain.add_argument("--user", required=True, metavar="ID", help="the user")
    explain.add_argument("--item", action="append", required=True, metavar="ID", help="an item (repeatable)")
    explain.add_argument(
        "--top",
        type=_top,
        default=10,
        metavar="N",
        help="feature pairs listed per item, the largest; the others are summed (default 10; 'all': every pair)",
    )
    explain.add_argument("--format", choices=["table", "json"], default="table", help="output format (default table)")
    explain.set_defaults(run=run_explain)

    serve = command("serve", "Serve a saved model's recommendations over HTTP (FastAPI on uvicorn).")
    serve.add_argument("model", help="model file written by 'lightfm train' (or LightFM.save with a Dataset)")
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)"
    )
    serve.add_argument("--port", type=int, default=8000, help="port (default 8000; 0: any free port)")
    serve.add_argument(
        "--workers", type=int, default=1, metavar="N", help="worker processes (default 1); a dead one is replaced"
    )
    serve.add_argument(
        "--unknown-users",
        choices=["error", "popular"],
        default="error",
        help="users the model does not know: 404 (default), or the most popular items",
    )
    serve.add_argument(
        "--max-n", type=int, default=1000, metavar="N", help="the largest n a request may ask for (default 1000)"
    )
    serve.add_argument(
        "--max-body", type=int, default=1 << 20, metavar="BYTES", help="the largest POST body (default 1 MiB)"
    )
    serve.add_argument(
        "--index",
        metavar="FILE",
        help="answer /recommend and /similar through this index from 'lightfm index' (large catalogues)",
    )
    serve.add_argument("--access-log", action="store_true", help="log every request (default: only problems)")
    serve.add_argument(
        "--log-level", choices=["debug", "info", "warning", "error"], default="info", help="log level (default info)"
    )
    _names_options(serve)
    serve.set_defaults(run=run_serve)

    split = command("split", "Split an interactions file into a training file and a held-out file.", threads=False)
    split.add_argument("interactions", help="CSV, TSV or Parquet file with one row per interaction")
    split.add_argument("--train", required=True, metavar="FILE", help="training rows to write (.csv, .tsv, .parquet)")
    split.add_argument("--test", required=True, metavar="FILE", help="held-out rows to write (.csv, .tsv, .parquet)")
    split.add_argument(
        "--by",
        choices=["random", "user", "time"],
        default="random",
        help="random pairs (default), K items of every user (--per-user), or the latest rows (--time-col)",
    )
    split.add_argument("--test-fraction", type=float, help="share held out by --by random and --by time (default 0.2)")
    split.add_argument("--per-user", type=int, metavar="K", help="items held out per user by --by user (default 1)")
    split.add_argument(
        "--time-col", help="column of times (numbers or dates): --by time cuts on it, --by user holds out the latest"
    )
    split.add_argument("--user-col", default="user", help="user id column (default 'user')")
    split.add_argument("--item-col", default="item", help="item id column (default 'item')")
    split.add_argument("--sep", help="column separator of the files (default: from the name, else sniffed)")
    split.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    split.set_defaults(run=run_split)
    return parser


def main(argv=None) -> int:
    """Run the ``lightfm`` command; returns the exit status.

    Ctrl-C at any moment, reading the options included, ends with "interrupted" on stderr and
    status 130 (``train`` first saves or offers to save its last completed epoch: --on-interrupt).
    """
    args = None
    try:
        args = build_parser().parse_args(argv)
        return args.run(args)
    except (CLIError, ValueError, OSError, NotImplementedError, ImportError, TypeError) as error:
        if caused_by_ctrl_c(error):  # e.g. a reader's error wrapping the KeyboardInterrupt
            return _interrupted()
        if isinstance(error, CLIError):
            message = str(error)
        else:
            message = str(error).splitlines()[0] if str(error) else type(error).__name__
    except KeyboardInterrupt:
        return _interrupted()
    except Exception as error:
        if not caused_by_ctrl_c(error):
            raise
        return _interrupted()
    print(f"lightfm {args.command}: error: {message}", file=sys.stderr)
    return 1


def _interrupted() -> int:
    print("interrupted", file=sys.stderr)
    return 130
