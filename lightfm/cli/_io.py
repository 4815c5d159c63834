"""Reading the command's input files and writing its tables; the error it reports."""

from __future__ import annotations

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


def read_table(path: str, columns: list, what: str, flags: dict, sep=None):
    """Read a CSV/TSV/Parquet file with ``columns`` (ids as strings); ``flags`` names the option choosing each.

    The separator is ``sep``, else taken from the name (``.csv`` comma, ``.tsv``/``.tab`` tab, also
    compressed: ``.tsv.gz``), else sniffed from the first lines (``.txt``, ``.dat``, ...).
    """
    pandas = require_module("pandas", "files")
    file = Path(path)
    if not file.is_file():
        raise CLIError(f"{what} file not found: {path}")
    suffixes = [s.lower() for s in file.suffixes]
    if suffixes and suffixes[-1] in _COMPRESSED:
        suffixes = suffixes[:-1]
    suffix = suffixes[-1] if suffixes else ""
    try:
        if suffix in (".parquet", ".pq"):
            require_module("pyarrow", "files")
            frame = pandas.read_parquet(file)
        else:
            if sep is None:
                sep = {".csv": ",", ".tsv": "\t", ".tab": "\t"}.get(suffix)
            engine = "python" if sep is None or len(sep) > 1 else "c"  # sep=None: sniffed
            frame = pandas.read_csv(file, sep=sep, dtype=str, engine=engine)
    except CLIError:
        raise
    except Exception as error:  # noqa: BLE001 - any parser failure is the file's problem
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CLIError(f"cannot read {what} file {path}: {message}") from None
    for column in columns:
        if column not in frame.columns:
            choose = f"; choose another with {flags[column]}" if column in flags else ""
            raise CLIError(
                f"{path} has no column {column!r} (its columns: {', '.join(map(str, frame.columns))}){choose}"
            )
    frame = frame[columns].copy()
    return frame


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
        all(isinstance(row[i], (int, float, np.number)) or row[i] == "-" for row in rows) for i in range(len(headers))
    ]
    cells = [[str(h) for h in headers]] + [[f"{v:.3f}" if isinstance(v, float) else str(v) for v in r] for r in rows]
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


def indices_of(values, mapping: dict, what: str, source: str):
    positions = np.asarray(IdIndex(mapping).positions(values), dtype=np.int64)
    unknown = positions < 0
    if unknown.any():
        first = values[np.flatnonzero(unknown)[0]]
        raise CLIError(f"{int(unknown.sum())} {what} id(s) in {source} are not in the model (first: {first!r})")
    return positions


def csv_field(value) -> str:
    text = str(value)
    return '"' + text.replace('"', '""') + '"' if any(c in text for c in ',"\n') else text
