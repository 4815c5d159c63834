"""``lightfm recommend`` and ``lightfm similar``: top items (or users) from a ``lightfm train`` model file.

Only what scoring needs is imported: one user's recommendations start without pandas, and
without the training code. The cluster path (``--workers``/``--scheduler``) is imported when asked for.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from ._io import (
    CLIError,
    canonical_ids,
    fill_columns,
    indices_of,
    known_indices,
    load_bundle,
    model_settings,
    name_of,
    positions_in,
    read_ids,
    read_names,
    read_table,
)
from .report import write_records


def _requested_users(args, flags):
    """The users of ``--user`` options, then those of ``--users-file``: both are served."""
    users = canonical_ids([str(user).strip() for user in args.user]).tolist()
    if args.users_file:
        if Path(args.users_file).suffix.lower() == ".txt":
            if not Path(args.users_file).is_file():
                raise CLIError(f"users file not found: {args.users_file}")
            lines = Path(args.users_file).read_text().splitlines()
            users += canonical_ids([line.strip() for line in lines if line.strip()]).tolist()
        else:
            frame = read_table(args.users_file, [args.user_col], "users", flags)
            users += read_ids(frame, args.user_col, args.users_file).tolist()
    return users


def _index_of(args, model, matrices):
    """The ``--index`` file's index of the model's items, or None without ``--index``."""
    if not args.index:
        return None
    from .index import load_index  # the index reader (and faiss) only where an index is given

    return load_index(args.index, model, matrices, args.model)


def check_item_bias_weight(args) -> None:
    """``--item-bias-weight``: a finite number >= 0."""
    weight = args.item_bias_weight
    if not (np.isfinite(weight) and weight >= 0):
        raise CLIError(
            f"--item-bias-weight must be a number >= 0 (1: the model's own item biases, 0: none), got {weight:g}"
        )


def run_recommend(args) -> int:
    """``lightfm recommend``: the top items of known users (``--user``, ``--users-file``) or of a new one (``--items``).

    Returns
    -------
    int
        The exit status, 0.
    """
    check_item_bias_weight(args)
    if args.items:
        return _recommend_for_items(args)
    if not args.user and not args.users_file:
        raise CLIError("name the users with --user ID (repeatable) or --users-file FILE, or a new user's --items")
    if args.n < 1:
        raise CLIError("--n must be at least 1")
    flags = fill_columns(args, model_settings(args.model))
    if args.workers is not None or args.scheduler:
        if args.index:
            raise CLIError("--index is not available with --workers/--scheduler: leave out one of them")
        from .cluster import run_recommend_cluster

        if args.item_bias_weight != 1:
            raise CLIError("--item-bias-weight is not available with --workers/--scheduler")
        return run_recommend_cluster(args, np.array(_requested_users(args, flags), dtype=object), load_bundle)
    if args.seen:
        raise CLIError("--seen is for --workers/--scheduler: a model from 'lightfm train' holds its interactions")
    model, dataset, matrices = load_bundle(args.model)
    index = _index_of(args, model, matrices)
    user_map, _, item_map, _ = dataset.mapping()
    names = _item_names(args, flags, item_map)
    requested = np.array(_requested_users(args, flags), dtype=object)
    source = " and ".join(["--user"] * bool(args.user) + [args.users_file] * bool(args.users_file))
    users = known_indices(requested, user_map, "user", source, strict=args.unknown_users == "error")
    known = users >= 0
    popular = None
    if args.unknown_users == "popular" and not known.all():
        interactions = matrices.get("interactions")
        if interactions is None:
            raise CLIError(f"{args.model} holds no training interactions to find popular items in")
        counts = np.asarray((sp.csr_matrix(interactions) != 0).sum(axis=0)).ravel()
        popular = np.argsort(-counts, kind="stable")[: args.n]
        print("warning: they get the most popular items instead (score '-')", file=sys.stderr)
    elif not known.all():
        print("warning: they are skipped (--unknown-users popular: give them popular items)", file=sys.stderr)
    exclude = None
    if args.exclude_seen is not False:  # the default, as in implicit and RecTools: seen items are left out
        exclude = matrices.get("interactions")
        if exclude is None and args.exclude_seen:
            raise CLIError(f"{args.model} holds no training interactions, so --exclude-seen cannot work")
        if exclude is None:
            print(f"note: {args.model} holds no training interactions: seen items are not left out", file=sys.stderr)
    items, scores = _top_items(
        model,
        index,
        matrices,
        users[known],
        n=args.n,
        exclude=exclude,
        user_features=matrices.get("user_features"),
        num_threads=args.threads,
        item_bias_weight=args.item_bias_weight,
    )
    rows = iter(zip(items, scores, strict=True))
    lists = []
    for user, is_known in zip(requested.tolist(), known.tolist(), strict=True):
        if is_known:
            row_items, row_scores = next(rows)
            pairs: list[tuple[int, float | None]] = [
                (item, round(float(score), 6)) for item, score in zip(row_items, row_scores, strict=True)
            ]
        elif popular is not None:
            pairs = [(item, None) for item in popular]
        else:
            continue
        lists.append((user, pairs))
    _write_recommendations(lists, item_map, names, args)
    return 0


# The user column of the recommendations for ``--items``: someone the model has not seen.
NEW_USER_LABEL = "(new)"


def _requested_items(values) -> list:
    """The item ids of ``--items`` options (comma-separated, repeatable), in order, each once."""
    texts = [part.strip() for value in values for part in str(value).split(",")]
    texts = [text for text in texts if text]
    if not texts:
        raise CLIError("--items needs the new user's item ids, comma-separated: --items album3,album7")
    return list(dict.fromkeys(canonical_ids(texts).tolist()))


def _recommend_for_items(args) -> int:
    """``recommend --items``: one user the model has not seen, folded in from the items they had."""
    given = [option for option, value in (("--user", args.user), ("--users-file", args.users_file)) if value]
    if given:
        raise CLIError(f"--items describes one new user: leave out {' and '.join(given)}")
    if args.workers is not None or args.scheduler:
        raise CLIError("--items is not available with --workers/--scheduler")
    if args.exclude_seen is False:
        raise CLIError("--items are never recommended back to the user who had them: leave out --no-exclude-seen")
    if args.seen:
        raise CLIError("--seen is for --workers/--scheduler: --items are the new user's seen items")
    if args.n < 1:
        raise CLIError("--n must be at least 1")
    flags = fill_columns(args, model_settings(args.model))
    model, dataset, matrices = load_bundle(args.model)
    index = _index_of(args, model, matrices)
    _, _, item_map, _ = dataset.mapping()
    names = _item_names(args, flags, item_map)
    requested = np.array(_requested_items(args.items), dtype=object)
    positions = positions_in(requested, item_map, "--items")
    unknown = requested[positions < 0].tolist()
    if unknown:
        more = f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""
        shown = ", ".join(repr(item) for item in unknown[:10]) + more
        raise CLIError(f"--items: {len(unknown)} item id{'s' * (len(unknown) > 1)} not in the model: {shown}")
    row = sp.csr_matrix(
        (np.ones(positions.size, dtype=np.float32), (np.zeros(positions.size, dtype=np.int64), positions)),
        shape=(1, len(item_map)),
    )
    item_features = matrices.get("item_features")
    representations = model.fold_in_users(row, item_features=item_features, num_threads=args.threads)
    items, scores = _top_items(
        model,
        index,
        matrices,
        n=args.n,
        user_representations=representations,
        exclude=row,
        num_threads=args.threads,
        item_bias_weight=args.item_bias_weight,
    )
    pairs = [(item, round(float(score), 6)) for item, score in zip(items[0], scores[0], strict=True)]
    _write_recommendations([(NEW_USER_LABEL, pairs)], item_map, names, args)
    return 0


def _top_items(model, index, matrices, user_ids=None, **options):
    """``recommend``'s top items: from ``--index`` when given (its item side is the model's, checked when it was
    loaded), else by scoring every item."""
    if index is not None:
        return index.recommend(user_ids, **options)
    return model.recommend(user_ids, item_features=matrices.get("item_features"), **options)


def _write_recommendations(lists, item_map: dict, names, args) -> None:
    """``(user, [(item index, score or None), ...])`` lists as the recommendations table (item -1: none left)."""
    item_ids = np.empty(len(item_map), dtype=object)
    item_ids[list(item_map.values())] = list(item_map.keys())
    records = []
    for user, pairs in lists:
        for rank, (item, score) in enumerate(pair for pair in pairs if pair[0] >= 0):
            record = {"user": user, "rank": rank + 1, "item": item_ids[item], "score": score}
            if names is not None:
                record["name"] = name_of(names, item_ids[item])
            records.append(record)
    columns = ["user", "rank", "item"] + ["name"] * (names is not None) + ["score"]
    write_records(records, columns, args, "recommendations")


def _item_names(args, flags, item_map: dict):
    """``{item id: name}`` from ``--item-names``, or None. Its id column is ``--item-col``, else the one the
    model was trained with, else ``item``, else the column holding the model's item ids."""
    if not args.item_names:
        return None
    guess = "item_col" in getattr(args, "defaulted_columns", ())
    return read_names(
        args.item_names, args.item_col, args.name_col, flag=flags.get(args.item_col, "--item-col"),
        find_ids_in=item_map if guess else None,
    )  # fmt: skip


def _bare_name(name: str, drop_suffix: bool = False) -> str:
    """A name to compare a ``--title`` with: any case, and with ``drop_suffix`` without a trailing "(1995)"."""
    name = name.strip().casefold()
    return re.sub(r"\s*\([^()]*\)$", "", name) if drop_suffix else name


def _items_by_title(titles, names: dict, item_map: dict, path: str) -> list:
    """The model's item ids whose names match each ``--title``: an equal name (any case, a trailing "(1995)"
    aside), else the only one containing it; several are an error listing them."""
    listed = np.array(list(names), dtype=object)
    positions = positions_in(listed, item_map, path) if listed.size else np.zeros(0, dtype=np.int64)
    model_ids = np.empty(len(item_map), dtype=object)
    model_ids[list(item_map.values())] = list(item_map.keys())
    # The model's spelling of each id (an older model's "1.0" for the file's "1").
    known = {
        model_ids[at]: names[item] for item, at in zip(listed.tolist(), positions.tolist(), strict=True) if at >= 0
    }
    found = []
    for title in titles:
        wanted = title.strip().casefold()
        if not wanted:
            raise CLIError("--title needs some text of a name, e.g. --title 'Toy Story'")
        exact = [item for item, name in known.items() if _bare_name(name) == wanted or _bare_name(name, True) == wanted]
        matches = exact or [item for item, name in known.items() if wanted in name.casefold()]
        if not matches:
            elsewhere = [item for item, name in names.items() if wanted in name.casefold()]
            if elsewhere:
                raise CLIError(
                    f"--title {title!r} names {'items' if len(elsewhere) > 1 else 'an item'} of {path} that the "
                    f"model does not know ({', '.join(f'{names[i]!r} (id {i})' for i in elsewhere[:5])})"
                )
            raise CLIError(f"--title {title!r}: no name in {path} contains it; check the spelling, or use --item ID")
        if len(matches) > 1:
            shown = ", ".join(f"{known[item]!r} (id {item})" for item in matches[:10])
            more = f" and {len(matches) - 10} more" if len(matches) > 10 else ""
            raise CLIError(
                f"--title {title!r} matches {len(matches)} items: {shown}{more}; give more of the name, or --item ID"
            )
        print(f"--title {title!r}: item {matches[0]}, {known[matches[0]]!r}", file=sys.stderr)
        found.append(matches[0])
    return found


def _similar_through_index(args, model, matrices, indices):
    """``similar --index``: the items' nearest neighbours by cosine, from the index file's similarity index."""
    index = _index_of(args, model, matrices)
    try:
        return index.similar_items(indices, n=args.n, num_threads=args.threads)
    except ValueError as error:
        if "holds no similarity index" not in str(error):
            raise
        raise CLIError(
            f"--index {args.index} was written by an earlier lightfm-ng, without the similarity index that "
            f"'similar --index' searches: rebuild it with 'lightfm index {args.model} -o {args.index}'"
        ) from None


def run_similar(args) -> int:
    """``lightfm similar``: the nearest items (or users) of the given ones, by cosine of representations.

    Returns
    -------
    int
        The exit status, 0.
    """
    items_given = bool(args.item or args.title)
    if items_given == bool(args.user):
        raise CLIError("name either items (--item ID or --title NAME, repeatable) or users (--user ID, repeatable)")
    if args.n < 1:
        raise CLIError("--n must be at least 1")
    if args.item_names and not items_given:
        raise CLIError("--item-names names items: use it with --item or --title")
    if args.title and not args.item_names:
        raise CLIError("--title finds items by name: add --item-names FILE, the table of item ids and names")
    if args.index and not items_given:
        raise CLIError("--index holds the model's items, not its users: leave out --index with --user")
    flags = fill_columns(args, model_settings(args.model), names=("item_col",))
    model, dataset, matrices = load_bundle(args.model)
    user_map, _, item_map, _ = dataset.mapping()
    names = _item_names(args, flags, item_map)
    if items_given:
        side, mapping = "item", item_map
        requested = canonical_ids([str(value).strip() for value in args.item]).tolist()
        requested += _items_by_title(args.title, names, item_map, args.item_names) if args.title else []
        source = "--item" if not args.title else "--item/--title"
    else:
        side, mapping, source = "user", user_map, "--user"
        requested = canonical_ids([str(value).strip() for value in args.user]).tolist()
    requested = np.array(requested, dtype=object)
    indices = indices_of(requested, mapping, side, source)
    if args.index:
        found, scores = _similar_through_index(args, model, matrices, indices)
    else:
        similar = model.similar_items if side == "item" else model.similar_users
        found, scores = similar(
            indices, n=args.n, **{f"{side}_features": matrices.get(f"{side}_features")}, num_threads=args.threads
        )
    ids = np.empty(len(mapping), dtype=object)
    ids[list(mapping.values())] = list(mapping.keys())
    records = [
        {side: query, "rank": rank + 1, "similar": ids[other], "similarity": round(float(score), 6)}
        for query, row, row_scores in zip(requested.tolist(), found, scores, strict=True)
        for rank, (other, score) in enumerate(zip(row, row_scores, strict=True))
        if other >= 0
    ]
    columns = [side, "rank", "similar", "similarity"]
    if names is not None:
        for record in records:
            record["name"] = name_of(names, record["similar"])
        columns.insert(3, "name")
    write_records(records, columns, args, f"similar {side}s")
    return 0
