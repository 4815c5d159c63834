"""Reading the command's input files and writing its tables; the error it reports."""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from .. import LightFM
from ..data import Dataset, IdIndex


class CLIError(Exception):
    """A problem with the user's input: reported as one line, exit status 1."""


# -- errors and modules -------------------------------------------------------------------


def caused_by_ctrl_c(error: BaseException) -> bool:
    """Whether ``error`` is Ctrl-C, or was raised because of it.

    Ctrl-C landing inside a compiled (Numba) call can surface as "returned a result with an
    exception set", a SystemError caused by the KeyboardInterrupt, possibly wrapped again by the
    calls around it; and code cleaning up after a KeyboardInterrupt can raise something else.
    """
    pending, seen = [error], set()
    while pending:
        error = pending.pop()
        if error is None or id(error) in seen:
            continue
        if isinstance(error, KeyboardInterrupt):
            return True
        seen.add(id(error))
        pending += [error.__cause__, error.__context__]
    return False


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
            from pyarrow.fs import LocalFileSystem

            # pyarrow opens the file itself (its own filesystem): handed a Python file object, as
            # pandas 1.5 does with a path, pyarrow 11-12 at least can abort the process at exit after
            # a malformed file ("terminate called without an active exception").
            frame = pandas.read_parquet(str(file.resolve()), filesystem=LocalFileSystem())
        else:
            if sep is None:
                sep = SEPARATORS.get(suffix)
            engine = "python" if sep is None or len(sep) > 1 else "c"  # sep=None: sniffed
            frame = pandas.read_csv(file, sep=sep, dtype=str, engine=engine)
    except CLIError:
        raise
    except Exception as error:  # noqa: BLE001 - any parser failure is the file's problem
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        message = message.replace(str(file.resolve()), str(path))  # the file as the user named it
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


# A whole number written with decimals ("1.0", "-3.00"): how float columns (Parquet, or a CSV written
# from one) spell integer ids. Read as the integer ("1"), the form a user types.
WHOLE_DECIMAL_PATTERN = r"^([+-]?\d+)\.0*$"
_WHOLE_DECIMAL = re.compile(WHOLE_DECIMAL_PATTERN)


def canonical_ids(values):
    """``values`` (an object array of id texts) with whole decimals ("1.0") written as integers ("1")."""
    # Plain Python rather than pandas' string methods: the same rewriting (both use ``re``), and
    # ``recommend --user ID`` then never imports pandas (a quarter of a second of its start-up).
    return np.array([_WHOLE_DECIMAL.sub(r"\1", str(value)) for value in values], dtype=object)


def read_ids(frame, column: str, path: str, what: str = "ids"):
    """The id texts of ``column``, stripped; whole decimals ("1.0") read as integers ("1"), with a note."""
    values = frame[column]
    if values.isna().any():
        raise CLIError(f"{path}: column {column!r} has empty values (row {int(values.isna().to_numpy().argmax()) + 2})")
    if values.dtype.kind == "f" and np.all(np.mod(values.to_numpy(), 1) == 0):
        # A float column of whole numbers (Parquet; ids with gaps written by pandas): exact integer text.
        text = values.to_numpy().astype(np.int64).astype(str).astype(object)
        print(
            f"note: {path}: the {column!r} {what} are whole numbers stored as decimals (e.g. "
            f"{str(float(values.iloc[0]))!r}): read as {text[0]!r}, as they are typed",
            file=sys.stderr,
        )
        return text
    text = values.astype(str).str.strip()
    canonical = text.str.replace(WHOLE_DECIMAL_PATTERN, r"\1", regex=True)
    changed = (canonical != text).to_numpy()
    if changed.any():
        first = int(np.flatnonzero(changed)[0])
        print(
            f"note: {path}: {int(changed.sum()):,} {column!r} {what} are whole numbers written as decimals "
            f"(e.g. {text.iloc[first]!r}): read as {canonical.iloc[first]!r}, as they are typed",
            file=sys.stderr,
        )
    return canonical.to_numpy(dtype=object)


def read_texts(frame, column: str, path: str):
    """The stripped texts of ``column`` (feature names: kept as written)."""
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


# Separators a feature cell holding several values is likely to use ("Adventure|Animation|Children").
COMMON_SEPARATORS = ("|", ";", ",")


def read_feature_rows(frame, id_column, feature_column, weight_column, path, feature_sep=None):
    """``(ids, features, weights)`` of a long feature table, a cell split into several features at ``feature_sep``.

    Without ``feature_sep``, a warning names a common separator (| ; ,) that the feature values hold.
    """
    ids = read_ids(frame, id_column, path)
    features = read_texts(frame, feature_column, path)
    weights = read_numbers(frame, weight_column, path) if weight_column else np.ones(ids.size)
    if feature_sep:
        parts = [[part.strip() for part in value.split(feature_sep)] for value in features.tolist()]
        parts = [[part for part in row if part] for row in parts]
        counts = np.array([len(row) for row in parts], dtype=np.int64)
        ids, weights = np.repeat(ids, counts), np.repeat(weights, counts)
        features = np.array([part for row in parts for part in row], dtype=object)
        return ids, features, weights
    distinct = sorted(set(features.tolist()))
    holding = {sep: [value for value in distinct if sep in value] for sep in COMMON_SEPARATORS}
    sep = max(COMMON_SEPARATORS, key=lambda candidate: len(holding[candidate]))
    if holding[sep]:
        print(
            f"warning: {len(holding[sep]):,} of {len(distinct):,} distinct values of {feature_column!r} in {path} "
            f"contain {sep!r} (e.g. {holding[sep][0]!r}): each is read as one feature; --feature-sep {sep!r} "
            "splits them into several",
            file=sys.stderr,
        )
    return ids, features, weights


def feature_tuples(ids, features, weights):
    """``(id, {feature: weight})`` per id from the rows of :func:`read_feature_rows`."""
    grouped: dict = {}
    for entity, feature, weight in zip(ids.tolist(), features.tolist(), weights.tolist(), strict=True):
        grouped.setdefault(entity, {})[feature] = weight
    return list(grouped.items())


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


# The command's settings kept in the model file (its column names, separator, rating filter), as JSON
# text under this name: a member the library's own reader passes over. Files written before it existed
# have none, and every setting then has its usual default.
SETTINGS_MEMBER = "cli_settings"
_SETTINGS_LIMIT = 1 << 20


def save_with_settings(model, path, settings: dict, **saved) -> None:
    """``model.save(path, **saved)`` plus ``settings``, written to a temporary file and renamed onto ``path``."""
    target = Path(path)
    # Named like the library's own partial files, so that a killed run's leftover is cleaned up by a later save.
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.lightfm-partial-", dir=target.resolve().parent)
    os.close(handle)
    try:
        model.save(temporary, **saved)
        text = np.array(json.dumps({key: value for key, value in settings.items() if value is not None}), np.str_)
        with zipfile.ZipFile(temporary, "a") as archive, archive.open(f"{SETTINGS_MEMBER}.npy", "w") as member:
            np.lib.format.write_array(member, text, allow_pickle=False)
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(temporary)
        raise


def model_settings(path) -> dict:
    """The settings ``lightfm train`` kept in a model file; ``{}`` for older files (or any unreadable file:
    loading the model reports that)."""
    try:
        with zipfile.ZipFile(path) as archive:
            info = archive.getinfo(f"{SETTINGS_MEMBER}.npy")
            if info.file_size > _SETTINGS_LIMIT:
                return {}
            with archive.open(info) as member:
                value = np.lib.format.read_array(member, allow_pickle=False)
        settings = json.loads(str(value))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile, EOFError):
        return {}
    return settings if isinstance(settings, dict) else {}


def remembered(args, settings: dict, names, defaults: dict) -> list:
    """Fill the options in ``names`` left out (None) from ``settings``, else ``defaults``; the names filled
    from the model file."""
    filled = []
    for name in names:
        if getattr(args, name, None) is not None:
            continue
        if settings.get(name) is not None:
            setattr(args, name, settings[name])
            filled.append(name)
        else:
            setattr(args, name, defaults.get(name))
    return filled


# The column options' defaults: a model file's remembered names come before them.
COLUMN_DEFAULTS = {"user_col": "user", "item_col": "item"}


def fill_columns(args, settings: dict, names=("user_col", "item_col")) -> dict:
    """Column options left out: the model file's (as ``train`` was told), else the defaults. Returns the
    ``{column: option}`` flags for error messages, saying where a remembered name came from."""
    given = {name for name in names if getattr(args, name, None) is not None}
    filled = remembered(args, settings, names, COLUMN_DEFAULTS)
    # Which columns are neither given nor remembered: --item-names may then find its id column by its values.
    args.defaulted_columns = set(names) - given - set(filled)
    flags: dict[str, str] = {}
    for name in names:
        flag = "--" + name.replace("_", "-")
        value = getattr(args, name)
        note = f" (the model was trained with {flag} {value})" if name in filled else ""
        flags.setdefault(value, flag + note)
    return flags


def _unknown_summary(values, unknown, what: str, source: str) -> str:
    """ "3 user ids in users.txt are not in the model (first: 'x')": distinct ids, not rows."""
    missing = values[unknown]
    distinct = len(set(missing.tolist()))
    ids, verb = (f"{what} ids", "are") if distinct != 1 else (f"{what} id", "is")
    return f"{distinct} {ids} in {source} {verb} not in the model (first: {missing[0]!r})"


def _alternate_id(value: str):
    """The other spelling of a whole-number id: "1" for "1.0" and "1.0" for "1" (models trained before
    whole decimals were read as integers hold "1.0"); None for other ids."""
    match = _WHOLE_DECIMAL.match(value)
    if match:
        return match.group(1)
    if re.fullmatch(r"[+-]?\d+", value):
        return value + ".0"
    return None


def positions_in(values, mapping: dict, source: str = ""):
    """Positions of ``values`` in ``mapping``, -1 where unknown; a whole number found only in its other
    spelling ("1" for the model's "1.0") is found, with a note saying how."""
    values = np.asarray(values, dtype=object)
    positions = np.asarray(IdIndex(mapping).positions(values), dtype=np.int64)
    unknown = np.flatnonzero(positions < 0)
    if unknown.size:
        alternates = [_alternate_id(str(values[i])) for i in unknown]
        found = [(i, mapping[alt]) for i, alt in zip(unknown.tolist(), alternates, strict=True) if alt in mapping]
        if found:
            first = found[0][0]
            print(
                f"note: {len(found):,} ids{' in ' + source if source else ''} are whole numbers the model holds "
                f"written differently (e.g. {values[first]!r} as {_alternate_id(str(values[first]))!r}): "
                "matched to them",
                file=sys.stderr,
            )
            for i, position in found:
                positions[i] = position
    return positions


def align_ids(values, mapping: dict, source: str = ""):
    """``values`` with a whole number written as the model writes it ("1.0" for an older model's ids)."""
    positions = positions_in(values, mapping, source)
    keys = np.empty(len(mapping), dtype=object)
    keys[list(mapping.values())] = list(mapping.keys())
    known = positions >= 0
    aligned = np.asarray(values, dtype=object).copy()
    aligned[known] = keys[positions[known]]
    return aligned


def indices_of(values, mapping: dict, what: str, source: str):
    """Positions of ``values`` in ``mapping``; CLIError naming the unknown ones."""
    positions = positions_in(values, mapping, source)
    unknown = positions < 0
    if unknown.any():
        raise CLIError(_unknown_summary(values, unknown, what, source))
    return positions


def known_indices(values, mapping: dict, what: str, source: str, strict: bool):
    """Positions of ``values`` in ``mapping``, -1 where unknown: a warning on stderr, or CLIError if ``strict``."""
    positions = positions_in(values, mapping, source)
    unknown = positions < 0
    if unknown.any():
        summary = _unknown_summary(values, unknown, what, source)
        if strict:
            raise CLIError(summary)
        print(f"warning: {summary}", file=sys.stderr)
    return positions


def _column_of_ids(frame, columns: list, mapping: dict):
    """The one column of ``frame`` whose values are mostly ids of ``mapping`` (at least half its rows, and
    more than any other column); None if there is no such column."""
    keys = {key if isinstance(key, str) else str(key.item() if isinstance(key, np.generic) else key) for key in mapping}
    counts = {}
    for column in columns:
        values = frame[column].dropna()
        if values.dtype.kind == "f" and np.all(np.mod(values.to_numpy(), 1) == 0):
            values = values.astype(np.int64)
        texts = canonical_ids(values.astype(str).str.strip().to_numpy(dtype=object))
        counts[column] = sum(text in keys or _alternate_id(text) in keys for text in texts.tolist())
    ranked = sorted(counts.items(), key=lambda pair: -pair[1])
    if not ranked or ranked[0][1] == 0 or ranked[0][1] * 2 < len(frame):
        return None
    if len(ranked) > 1 and ranked[1][1] == ranked[0][1]:
        return None
    return ranked[0][0]


def read_names(path: str, id_column: str, name_column, sep=None, flag="--item-col", find_ids_in=None) -> dict:
    """``{id: name}`` from a table of ids and names (``--item-names``).

    The name column is ``name_column``, else ``title`` or ``name`` if the file
    has one, else the only column besides the ids. Where the file has no
    ``id_column`` and ``find_ids_in`` (the model's ``{id: index}``) is given,
    the ids are read from the column holding the model's ids, with a note.
    """
    pandas = require_module("pandas", "files")
    frame = read_table(path, [], "names", {}, sep=sep, keep_all=True)
    columns = [str(column) for column in frame.columns]
    if id_column not in columns and find_ids_in is not None:
        found = _column_of_ids(frame, columns, find_ids_in)
        if found is not None:
            print(
                f"note: {path} has no column {id_column!r}: the item ids are read from its column {found!r}, which "
                f"holds the model's item ids ({flag} to choose)",
                file=sys.stderr,
            )
            id_column = found
    if id_column not in columns:
        raise CLIError(
            f"{path} has no column {id_column!r} (its columns: {', '.join(columns)}); choose another with {flag}"
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


def read_item_names(path: str, item_col, name_col, item_map: dict, settings: dict) -> dict:
    """``{id: name}`` of an ``--item-names`` file for a model: the id column is ``item_col`` if given, else the
    one the model was trained with (``settings``: ``lightfm train`` keeps it), else ``item``, else the column
    holding the model's item ids (``item_map``; a model saved by ``LightFM.save`` keeps no column names)."""
    if item_col is not None:
        return read_names(path, item_col, name_col)
    remembered_col = settings.get("item_col")
    if remembered_col is not None:
        flag = f"--item-col (the model was trained with --item-col {remembered_col})"
        return read_names(path, remembered_col, name_col, flag=flag)
    return read_names(path, "item", name_col, find_ids_in=item_map)


def name_of(names: dict, item: str) -> str:
    """The name of ``item`` in ``names`` (an older model's "1.0" finds the names file's "1"); "" if none."""
    if item in names:
        return names[item]
    alternate = _alternate_id(str(item))
    return names.get(alternate, "") if alternate is not None else ""


def csv_field(value) -> str:
    if value is None:
        return ""
    text = str(value)
    return '"' + text.replace('"', '""') + '"' if any(c in text for c in ',"\n') else text


# -- the rating filter (--rating-col / --min-rating) -------------------------------------

# Column names that hold ratings: a file with one that no option reads gets a note (every row counts).
RATING_NAMES = ("rating", "ratings", "stars")


def resolve_rating_filter(args, settings: dict) -> bool:
    """Settle ``args.rating_col`` and ``args.min_rating`` (a number, "none" or None); True if both come
    from the model file (``settings``). Filtering is its own choice: ``--weight-col`` only weights."""
    args.rating_filter_off = args.min_rating == "none"
    if args.rating_filter_off:
        if args.rating_col is not None:
            raise CLIError("--rating-col is read only to filter by --min-rating: leave it out with --min-rating none")
        args.min_rating = None
        return False
    inherited = False
    if args.min_rating is None and args.rating_col is None and settings.get("min_rating") is not None:
        args.min_rating, args.rating_col = settings["min_rating"], settings.get("rating_col")
        inherited = True
    elif args.min_rating is not None and args.rating_col is None:
        args.rating_col = settings.get("rating_col")
    elif args.rating_col is not None and args.min_rating is None:
        args.min_rating = settings.get("min_rating")
    if args.min_rating is not None and args.rating_col is None:
        weight_col = getattr(args, "weight_col", None)
        if weight_col:
            threshold = f"{args.min_rating:g}"
            raise CLIError(
                f"--min-rating now filters on --rating-col and no longer implies weights: write --rating-col "
                f"{weight_col} --min-rating {threshold} to keep the rows with {weight_col} >= {threshold} unweighted, "
                f"or add --weight-col {weight_col} to that to weight them by {weight_col} too (what this did before)"
            )
        raise CLIError(
            "--min-rating needs --rating-col, the column holding the ratings: --rating-col rating --min-rating 4"
        )
    if args.rating_col is not None and args.min_rating is None:
        raise CLIError(
            f"--rating-col {args.rating_col} is read only to filter: add --min-rating, e.g. --min-rating 4 keeps "
            f"the rows with {args.rating_col} >= 4"
        )
    return inherited


def rating_mask(frame, args, path: str, inherited: bool, out=None):
    """Rows kept by the rating filter (None: all of them), said on ``out``; a warning where an inherited
    filter's column is absent, a note where a ratings column is not read. ``out`` is stdout unless given."""
    if args.min_rating is None:
        if args.rating_filter_off:
            return None
        unread = [
            str(column) for column in frame.columns
            if str(column).lower() in RATING_NAMES and column != getattr(args, "weight_col", None)
        ]  # fmt: skip
        if unread:
            print(
                f"note: the column {unread[0]!r} of {path} is not read: every row counts as a positive "
                f"(--rating-col {unread[0]} --min-rating 4 keeps only the rows with {unread[0]} >= 4)",
                file=sys.stderr,
            )
        return None
    threshold = f"{args.min_rating:g}"
    if inherited:
        if args.rating_col not in frame.columns:
            print(
                f"warning: the model was trained on the rows with {args.rating_col} >= {threshold}, but {path} has "
                f"no column {args.rating_col!r}: every row counts (--min-rating none to say so)",
                file=sys.stderr,
            )
            return None
    kept = read_numbers(frame, args.rating_col, path) >= args.min_rating
    source = " as the model was trained (--min-rating none: every row)" if inherited else ""
    print(
        f"--min-rating {threshold}{source}: kept {int(kept.sum()):,} of {kept.size:,} rows "
        f"({args.rating_col} >= {threshold})",
        file=out or sys.stdout,
        flush=True,
    )
    return kept
