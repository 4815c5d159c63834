"""Reading the command's input files and writing its tables; the error it reports."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from .. import LightFM
from ..data import Dataset, IdIndex
from ..evaluation import auc_score, precision_at_k, recall_at_k


class CLIError(Exception):
    """A problem with the user's input: reported as one line, exit status 1."""


# -- shared helpers -------------------------------------------------------------------


def require_module(module: str, extra: str):
    try:
        return __import__(module)
    except ImportError:
        raise CLIError(f"this needs {module}: pip install 'lightfm-ng[{extra}]'") from None


_COMPRESSED = (".gz", ".bz2", ".xz", ".zip", ".zst")


# Column separators known from a file's suffix; other text files are sniffed.
SEPARATORS = {".csv": ",", ".tsv": "\t", ".tab": "\t"}


def data_suffix(path) -> str:
    """The suffix that says what a file holds, past a compression suffix: ``.tsv`` for ``x.tsv.gz``."""
    suffixes = [s.lower() for s in Path(path).suffixes]
    if suffixes and suffixes[-1] in _COMPRESSED:
        suffixes = suffixes[:-1]
    return suffixes[-1] if suffixes else ""


def read_table(path: str, columns: list, what: str, flags: dict, sep=None, keep_all=False):
    """Read a CSV/TSV/Parquet file with ``columns`` (ids as strings); ``flags`` names the option choosing each.

    The separator is ``sep``, else taken from the name (``.csv`` comma, ``.tsv``/``.tab`` tab, also
    compressed: ``.tsv.gz``), else sniffed from the first lines (``.txt``, ``.dat``, ...).
    """
    pandas = require_module("pandas", "files")
    file = Path(path)
    if not file.is_file():
        raise CLIError(f"{what} file not found: {path}")
    suffix = data_suffix(path)
    try:
        if suffix in (".parquet", ".pq"):
            require_module("pyarrow", "files")
            frame = pandas.read_parquet(file)
        else:
            if sep is None:
                sep = SEPARATORS.get(suffix)
            engine = "python" if sep is None or len(sep) > 1 else "c"  # sep=None: sniffed
            frame = pandas.read_csv(file, sep=sep, dtype=str, engine=engine)
    except CLIError:
        raise
    except Exception as error:  # noqa: BLE001 - any parser failure is the file's problem
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CLIError(f"cannot read {what} file {path}: {message}") from None
    require_columns(frame, columns, path, flags)
    return frame if keep_all else frame[columns].copy()


def require_columns(frame, columns: list, path, flags: dict) -> None:
    """CLIError naming the first of ``columns`` that ``frame`` lacks, its columns, and the option choosing it."""
    for column in columns:
        if column not in frame.columns:
            choose = f"; choose another with {flags[column]}" if column in flags else ""
            raise CLIError(
                f"{path} has no column {column!r} (its columns: {', '.join(map(str, frame.columns))}){choose}"
            )


def read_ids(frame, column: str, path: str):
    values = frame[column]
    if values.isna().any():
        raise CLIError(f"{path}: column {column!r} has empty values (row {int(values.isna().to_numpy().argmax()) + 2})")
    return values.astype(str).str.strip().to_numpy(dtype=object)


def read_numbers(frame, column: str, path: str):
    pandas = require_module("pandas", "files")
    values = pandas.to_numeric(frame[column], errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise CLIError(
            f"{path}: column {column!r} needs finite numbers, got {frame[column].iloc[row]!r} (row {row + 2})"
        )
    return values


def feature_tuples(frame, id_column, feature_column, weight_column, path):
    """``(id, {feature: weight})`` per id from a long table with one row per (id, feature)."""
    ids = read_ids(frame, id_column, path)
    features = read_ids(frame, feature_column, path)
    weights = read_numbers(frame, weight_column, path) if weight_column else np.ones(ids.size)
    grouped: dict = {}
    for entity, feature, weight in zip(ids.tolist(), features.tolist(), weights.tolist(), strict=True):
        grouped.setdefault(entity, {})[feature] = weight
    return list(grouped.items())


def held_out_metrics(model, test, train, k, user_features, item_features, threads):
    arguments = {"user_features": user_features, "item_features": item_features, "num_threads": threads}
    return {
        f"precision@{k}": float(precision_at_k(model, test, train, k=k, **arguments).mean()),
        f"recall@{k}": float(recall_at_k(model, test, train, k=k, **arguments).mean()),
        "AUC": float(auc_score(model, test, train, **arguments).mean()),
    }


def format_table(headers: list, rows: list) -> str:
    """A plain-text table: numbers right-aligned (floats to 3 decimals), text left-aligned."""
    numeric = [
        all(isinstance(row[i], (int, float, np.number)) or row[i] in ("-", None) for row in rows)
        for i in range(len(headers))
    ]
    cells = [[str(h) for h in headers]] + [
        [f"{v:.3f}" if isinstance(v, float) else "-" if v is None else str(v) for v in r] for r in rows
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [
        "  ".join(
            cell.rjust(w) if right else cell.ljust(w) for cell, w, right in zip(row, widths, numeric, strict=True)
        )
        for row in cells
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


def load_bundle(path: str):
    """Model, dataset and saved matrices from a ``lightfm train`` output."""
    if not Path(path).is_file():
        raise CLIError(f"model file not found: {path}")
    model = LightFM.load(path)
    try:
        dataset = Dataset.load(path)
    except ValueError:
        raise CLIError(f"{path} holds no id mappings: train it with 'lightfm train'") from None
    return model, dataset, LightFM.load_matrices(path)


def _unknown_summary(values, unknown, what: str, source: str) -> str:
    """ "3 user ids in users.txt are not in the model (first: 'x')": distinct ids, not rows."""
    missing = values[unknown]
    distinct = len(set(missing.tolist()))
    ids, verb = (f"{what} ids", "are") if distinct != 1 else (f"{what} id", "is")
    return f"{distinct} {ids} in {source} {verb} not in the model (first: {missing[0]!r})"


def indices_of(values, mapping: dict, what: str, source: str):
    """Positions of ``values`` in ``mapping``; CLIError naming the unknown ones."""
    positions = np.asarray(IdIndex(mapping).positions(values), dtype=np.int64)
    unknown = positions < 0
    if unknown.any():
        raise CLIError(_unknown_summary(values, unknown, what, source))
    return positions


def known_indices(values, mapping: dict, what: str, source: str, strict: bool):
    """Positions of ``values`` in ``mapping``, -1 where unknown: a warning on stderr, or CLIError if ``strict``."""
    positions = np.asarray(IdIndex(mapping).positions(values), dtype=np.int64)
    unknown = positions < 0
    if unknown.any():
        summary = _unknown_summary(values, unknown, what, source)
        if strict:
            raise CLIError(summary)
        print(f"warning: {summary}", file=sys.stderr)
    return positions


def read_names(path: str, id_column: str, name_column, sep=None) -> dict:
    """``{id: name}`` from a table of ids and names (``--item-names``).

    The name column is ``name_column``, else ``title`` or ``name`` if the file
    has one, else the only column besides the ids.
    """
    pandas = require_module("pandas", "files")
    frame = read_table(path, [], "names", {}, sep=sep, keep_all=True)
    columns = [str(column) for column in frame.columns]
    if id_column not in columns:
        raise CLIError(
            f"{path} has no column {id_column!r} (its columns: {', '.join(columns)}); choose another with --item-col"
        )
    if name_column is None:
        others = [column for column in columns if column != id_column]
        preferred = [column for column in ("title", "name") if column in others]
        if preferred or len(others) == 1:
            name_column = (preferred or others)[0]
        else:
            raise CLIError(
                f"{path}: which column holds the names? Name it with --name-col (its columns: {', '.join(columns)})"
            )
    elif name_column not in columns:
        raise CLIError(
            f"{path} has no column {name_column!r} (its columns: {', '.join(columns)}); choose another with --name-col"
        )
    ids = read_ids(frame, id_column, path)
    names = frame[name_column].where(pandas.notna(frame[name_column]), "").astype(str).to_numpy(dtype=object)
    return dict(zip(ids.tolist(), names.tolist(), strict=True))


def csv_field(value) -> str:
    if value is None:
        return ""
    text = str(value)
    return '"' + text.replace('"', '""') + '"' if any(c in text for c in ',"\n') else text
