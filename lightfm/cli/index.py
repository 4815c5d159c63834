"""``lightfm index``: a model's items in an approximate nearest-neighbour index; reading it for ``--index``."""

from __future__ import annotations

import os
import time
from pathlib import Path

from .._validation import ParameterError
from ._io import CLIError, load_bundle

# The faiss settings of ``lightfm index``: option name, ItemIndex.build's parameter, the index type it belongs to.
_FAISS_OPTIONS = (
    ("nlist", "--nlist", "ivf"),
    ("nprobe", "--nprobe", "ivf"),
    ("ef_search", "--ef-search", "hnsw"),
)
_INSTALL = 'pip install "lightfm-ng[ann]"'


def _faiss_installed() -> bool:
    # Imported, not only looked up: an installation that fails to load is as good as none.
    try:
        import faiss  # noqa: F401
    except ImportError:
        return False
    return True


def _build_params(args) -> dict:
    """``ItemIndex.build``'s parameters from the options, each checked against --backend and --index-type."""
    given = [(name, flag, kind) for name, flag, kind in _FAISS_OPTIONS if getattr(args, name) is not None]
    if args.backend == "exact":
        extra = [flag for _, flag, _ in given] + ["--index-type"] * (args.index_type is not None)
        if extra:
            raise CLIError(f"--backend exact builds no index to tune: leave out {', '.join(extra)}")
        return {}
    index_type = args.index_type or "ivf"
    params = {"index_type": index_type}
    for name, flag, kind in given:
        if kind != index_type:
            raise CLIError(f"{flag} is a setting of --index-type {kind}: leave it out with --index-type {index_type}")
        value = getattr(args, name)
        if value < 1:
            raise CLIError(f"{flag} must be at least 1, got {value}")
        params[name] = value
    return params


def _describe(index) -> str:
    """What was built, in words: "a faiss IVF index of 5,000 items (64 lists, 128 probed per search)"."""
    params, items = index.params, f"{index.n_items:,} items"
    if index.backend == "exact":
        return f"an exact index of {items} (every item scored, as recommend does without --index)"
    if params["index_type"] == "ivf":
        return f"a faiss IVF index of {items} ({params['nlist']:,} lists, {params['nprobe']:,} probed per search)"
    return f"a faiss HNSW index of {items} (degree {params['M']}, ef_search {params['ef_search']:,})"


def _megabytes(size: int) -> str:
    return f"{size / 1e6:.1f} MB" if size >= 100_000 else f"{size / 1e3:.1f} kB"


def run_index(args) -> int:
    """``lightfm index``: build the index of a model file's items and write it."""
    from ..ann import ItemIndex
    from ..ann._faiss import EXACT_BELOW
    from .inputs import check_writable

    params = _build_params(args)
    if args.threads < 1:
        raise CLIError("--threads must be at least 1")
    if args.backend == "faiss" and not _faiss_installed():
        raise CLIError(f"--backend faiss needs faiss, which is not installed: {_INSTALL} (or --backend exact)")
    check_writable("--output", args.output)
    if Path(args.output).resolve() == Path(args.model).resolve():
        raise CLIError(f"--output {args.output} is the model file: give the index its own file, e.g. model.index")
    model, _, matrices = load_bundle(args.model)
    item_features = matrices.get("item_features")
    # Items are the rows of the item features; a model trained without any has one identity feature per item.
    n_items = item_features.shape[0] if item_features is not None else model.item_embeddings.shape[0]
    if params.get("nlist", 1) > n_items:
        raise CLIError(f"--nlist {params['nlist']} is more lists than the model's {n_items:,} items: choose fewer")
    start = time.perf_counter()
    try:
        index = ItemIndex.build(
            model, item_features=item_features, backend=args.backend, num_threads=args.threads, **params
        )
    except ParameterError as error:
        raise CLIError(f"cannot build the index: {str(error).splitlines()[0]}") from None
    seconds = time.perf_counter() - start
    index.save(args.output)
    print(f"Built {_describe(index)} in {seconds:.2f} s; {_megabytes(index.nbytes)} in memory")
    print(f"Wrote {args.output} ({_megabytes(os.path.getsize(args.output))})")
    if args.backend == "faiss" and index.n_items <= EXACT_BELOW:
        print(
            f"note: recommend --index scores catalogues of up to {EXACT_BELOW:,} items exactly, so this index "
            "changes nothing yet: it pays from about 100,000 items"
        )
    return 0


def load_index(path: str, model, matrices: dict, model_path: str):
    """The ``ItemIndex`` of ``--index PATH`` for the loaded model file; a refusal saying how to rebuild it."""
    from ..ann import ItemIndex

    rebuild = f"rebuild it with 'lightfm index {model_path} -o {path}'"
    if not Path(path).is_file():
        what = "is a folder" if Path(path).is_dir() else "not found"
        raise CLIError(f"--index {path}: {what}; build it with 'lightfm index {model_path} -o {path}'")
    try:
        return ItemIndex.load(path, model, item_features=matrices.get("item_features"))
    except ParameterError as error:
        if not _faiss_installed():
            raise CLIError(
                f"--index {path} is a faiss index, and faiss is not installed: {_INSTALL} "
                f"(or build an exact index: 'lightfm index {model_path} --backend exact -o {path}')"
            ) from None
        raise CLIError(f"--index: {str(error).splitlines()[0].rstrip('.')}; {rebuild}") from None
    except ValueError as error:
        message = str(error).splitlines()[0].rstrip(".")
        if "item representations are not those" in message:
            raise CLIError(
                f"--index {path} was not built from {model_path} (its items' representations differ: the model "
                f"was trained since, or the index is another model's): {rebuild}"
            ) from None
        raise CLIError(f"--index: {message}; {rebuild}") from None
