"""``lightfm split``: one interactions file into a training file and a held-out file, without pandas code.

Three ways, each reproducible with ``--seed``:

``--by random``
    ``--test-fraction`` of the distinct (user, item) pairs, drawn at random; a pair's repeated rows
    stay together, so that no held-out pair is also in the training file.
``--by user``
    leave-k-out: ``--per-user K`` of each user's items (the latest K by ``--time-col``, else drawn at
    random); users with K items or fewer stay whole in the training file.
``--by time``
    the latest ``--test-fraction`` of the distinct (user, item) pairs by ``--time-col``: every pair
    first seen from the cut-off time on.

A pair's time is its earliest row's, as in :func:`lightfm.cross_validation.leave_k_out_split` and
:func:`lightfm.cross_validation.time_split`, and its rows always stay together.

Both files keep every column and the rows' order, so ``train`` and ``evaluate`` read them with the options
that read the input.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from ._io import SEPARATORS, CLIError, data_suffix, read_ids, read_table, require_module

# Tells the split's random stream from other uses of the same --seed.
_STREAM = 0x5B117


def _check_output(option: str, path: str, source: str) -> None:
    target = Path(path)
    if target.resolve() == Path(source).resolve():
        raise CLIError(f"{option} {path} is the input file: write the split to other files")
    folder = target.resolve().parent
    if not folder.is_dir():
        raise CLIError(f"{option} {path}: the folder {folder} does not exist")
    if target.is_dir():
        raise CLIError(f"{option} {path} is a folder: give a file name")


def _times(frame, column: str, path: str):
    """Sortable numbers of a time column: numbers as they are, else dates and times (ISO and the like)."""
    pandas = require_module("pandas", "files")
    values = frame[column]
    if values.isna().any():
        row = int(values.isna().to_numpy().argmax())
        raise CLIError(f"{path}: column {column!r} has empty values (row {row + 2}); --time-col needs a time per row")
    if pandas.api.types.is_datetime64_any_dtype(values):
        return values.astype("int64").to_numpy(dtype=np.float64)
    numbers = pandas.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64)
    if np.isfinite(numbers).all():
        return numbers
    # Each value parsed by itself: format="mixed" from pandas 2 on; pandas 1.5, which knows no "mixed"
    # (every value would be NaT), does so without a format.
    mixed = {"format": "mixed"} if int(pandas.__version__.split(".")[0]) >= 2 else {}
    try:
        stamps = pandas.to_datetime(values, errors="coerce", utc=True, **mixed)
    except (ValueError, TypeError):
        stamps = None
    if stamps is None or stamps.isna().any():
        bad = (
            int(np.flatnonzero(~np.isfinite(numbers))[0]) if stamps is None else int(stamps.isna().to_numpy().argmax())
        )
        raise CLIError(
            f"{path}: column {column!r} needs numbers or dates and times, got {values.iloc[bad]!r} (row {bad + 2})"
        )
    return stamps.astype("int64").to_numpy(dtype=np.float64)


def _pairs(users, items):
    """A number per distinct (user, item) pair, and the number of pairs."""
    pandas = require_module("pandas", "files")
    codes, uniques = pandas.MultiIndex.from_arrays([users, items]).factorize()
    return np.asarray(codes, dtype=np.int64), len(uniques)


def _random(users, items, fraction: float, rs):
    codes, n_pairs = _pairs(users, items)
    n_test = int(round(fraction * n_pairs))
    held = np.zeros(n_pairs, dtype=bool)
    held[rs.permutation(n_pairs)[:n_test]] = True
    return held[codes]


def _per_user(users, items, times, k: int, rs):
    """The ``k`` latest (or random) pairs of every user with more than ``k``; the count of users kept whole."""
    codes, n_pairs = _pairs(users, items)
    pair_user = np.empty(n_pairs, dtype=object)
    pair_user[codes] = users
    # A pair's time is its earliest row's (as in the library's splits); ties (and no times) in a random order.
    earliest = _earliest(codes, n_pairs, times) if times is not None else np.zeros(n_pairs)
    user_codes, user_index = np.unique(pair_user.astype(str), return_inverse=True)
    shuffle = rs.random(n_pairs)
    order = np.lexsort((shuffle, -earliest, user_index))  # per user: latest first, then random
    sorted_users = user_index[order]
    starts = np.flatnonzero(np.r_[True, sorted_users[1:] != sorted_users[:-1]])
    counts = np.diff(np.r_[starts, sorted_users.size])
    rank = np.arange(sorted_users.size) - np.repeat(starts, counts)
    size = np.repeat(counts, counts)
    held = np.zeros(n_pairs, dtype=bool)
    held[order[(rank < k) & (size > k)]] = True
    return held[codes], int((counts <= k).sum()), user_codes.size


def _earliest(codes, n_pairs: int, times):
    """Each pair's earliest time."""
    earliest = np.full(n_pairs, np.inf)
    np.minimum.at(earliest, codes, times)
    return earliest


def _by_time(users, items, times, fraction: float, column: str):
    """The rows of the pairs first seen from the time of the ``fraction``-th latest pair on; that time.

    By pair, not by row, so that a pair seen before and after the cut-off is not in both files."""
    codes, n_pairs = _pairs(users, items)
    earliest = _earliest(codes, n_pairs, times)
    n_test = max(1, int(round(fraction * n_pairs)))
    cutoff = np.sort(earliest, kind="stable")[n_pairs - n_test]
    held = earliest >= cutoff
    if held.all():
        raise CLIError(
            f"every pair is first seen at or after the cut-off time of --test-fraction {fraction:g} ({column} has "
            "too few distinct times): use a smaller --test-fraction, or --by random"
        )
    return held[codes], cutoff


def _write(frame, path: str, sep) -> None:
    suffix = data_suffix(path)
    try:
        if suffix in (".parquet", ".pq"):
            require_module("pyarrow", "files")
            frame.to_parquet(path, index=False)
        else:
            frame.to_csv(path, index=False, sep=SEPARATORS.get(suffix) or sep or ",")
    except OSError as error:
        raise CLIError(f"cannot write {path}: {error.strerror or error}") from None


def run_split(args) -> int:
    if args.test_fraction is not None and args.by == "user":
        raise CLIError("--test-fraction is for --by random and --by time; --by user holds out --per-user K items")
    args.test_fraction = 0.2 if args.test_fraction is None else args.test_fraction
    if args.by in ("random", "time") and not 0 < args.test_fraction < 1:
        raise CLIError(f"--test-fraction must be between 0 and 1, got {args.test_fraction:g}")
    if args.by == "time" and not args.time_col:
        raise CLIError("--by time needs --time-col, the column holding each row's time")
    if args.by == "random" and args.time_col:
        raise CLIError("--time-col is read by --by time and --by user (the latest items): add one, or leave it out")
    if args.per_user is not None and args.by != "user":
        raise CLIError("--per-user is for --by user (leave K items of every user out): add --by user")
    per_user = 1 if args.per_user is None else args.per_user
    if per_user < 1:
        raise CLIError(f"--per-user must be at least 1, got {per_user}")
    if Path(args.train).resolve() == Path(args.test).resolve():
        raise CLIError("--train and --test name the same file: give two")
    _check_output("--train", args.train, args.interactions)
    _check_output("--test", args.test, args.interactions)

    flags = {args.user_col: "--user-col", args.item_col: "--item-col"}
    columns = [args.user_col, args.item_col]
    if args.time_col:
        columns.append(args.time_col)
        flags.setdefault(args.time_col, "--time-col")
    frame = read_table(args.interactions, columns, "interactions", flags, sep=args.sep, keep_all=True)
    if len(frame) < 2:
        raise CLIError(f"{args.interactions} has {len(frame)} rows: nothing to split")
    users = read_ids(frame, args.user_col, args.interactions)
    items = read_ids(frame, args.item_col, args.interactions)
    times = _times(frame, args.time_col, args.interactions) if args.time_col else None
    # A generator of its own kind (not the legacy stream of np.random.RandomState(seed)), so that the split
    # is independent of data drawn with the same seed: the generated demo files' play counts, for one.
    rs = np.random.default_rng([args.seed, _STREAM])
    how = ""
    if args.by == "random":
        held = _random(users, items, args.test_fraction, rs)
        how = f"{args.test_fraction:g} of the (user, item) pairs at random"
    elif args.by == "user":
        held, whole, n_users = _per_user(users, items, times, per_user, rs)
        which = "latest" if times is not None else "random"
        how = f"the {which} {per_user} item(s) of each user"
        if whole:
            print(f"note: {whole:,} of {n_users:,} users have {per_user} item(s) or fewer: they stay whole in "
                  f"{args.train}", file=sys.stderr)  # fmt: skip
    else:
        held, cutoff = _by_time(users, items, times, args.test_fraction, args.time_col)
        first = frame[args.time_col].to_numpy()[np.flatnonzero(times == cutoff)[0]]
        how = f"the (user, item) pairs first seen from {args.time_col} {first} on"
    if not held.any():
        raise CLIError(f"nothing was held out ({how}): use a larger --test-fraction or fewer --per-user")
    train, test = frame[~held], frame[held]
    if args.by != "user":
        cold_users = ~np.isin(users[held], users[~held])
        cold_items = ~np.isin(items[held], items[~held])
        cold = int((cold_users | cold_items).sum())
        if cold:
            print(f"note: {cold:,} held-out rows have a user or item that is not in {args.train} (evaluate skips "
                  "them)", file=sys.stderr)  # fmt: skip
    _write(train, args.train, args.sep)
    _write(test, args.test, args.sep)
    print(
        f"Held out {how}: {len(test):,} rows ({len(set(users[held].tolist())):,} users) to {args.test}, "
        f"{len(train):,} rows to {args.train}"
    )
    return 0
