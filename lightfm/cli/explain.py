"""``lightfm explain``: a saved model's scores split into biases and (user feature, item feature) pairs."""

from __future__ import annotations

import json
import sys

import numpy as np

from ._io import canonical_ids, indices_of, load_bundle


def _number(value: float) -> str:
    return f"{value:.4f}"


def _table(headers: list, rows: list, numeric: list) -> str:
    """A plain-text table, the ``numeric`` columns right-aligned (their cells already formatted)."""
    cells = [list(map(str, headers))] + [[str(cell) for cell in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [
        "  ".join(
            cell.rjust(w) if right else cell.ljust(w) for cell, w, right in zip(row, widths, numeric, strict=True)
        )
        for row in cells
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


def format_explanation(user, item, explanation) -> str:
    """One item's table: both biases, the listed pairs and the rest, whose contributions add up to the score."""
    listed = len(explanation.pairs)
    rows = [
        ["(user bias)", "", _number(explanation.user_bias)],
        ["", "(item bias)", _number(explanation.item_bias)],
    ]
    rows += [[str(f), str(g), _number(value)] for f, g, value in explanation.pairs]
    others = explanation.n_pairs - listed
    if others:
        rows.append([f"({others} other pair{'s' * (others > 1)})", "", _number(explanation.rest)])
    biases = explanation.user_bias + explanation.item_bias
    pairs = explanation.score - biases
    title = (
        f"user {user}, item {item}: score {_number(explanation.score)} = {_number(biases)} from the biases "
        f"{'-' if pairs < 0 else '+'} {_number(abs(pairs))} from {explanation.n_pairs} feature "
        f"pair{'s' * (explanation.n_pairs != 1)}"
    )
    return title + "\n" + _table(["user feature", "item feature", "contribution"], rows, [False, False, True])


def _plain(value):
    """JSON-ready ids and names (NumPy scalars as Python ones)."""
    return value.item() if isinstance(value, np.generic) else value


def run_explain(args) -> int:
    model, dataset, matrices = load_bundle(args.model)
    user_map, _, item_map, _ = dataset.mapping()
    user_id = canonical_ids([str(args.user).strip()])[0]
    item_ids = canonical_ids([str(item).strip() for item in args.item])
    user = indices_of(np.array([user_id], dtype=object), user_map, "user", "--user")[0]
    items = indices_of(np.asarray(item_ids, dtype=object), item_map, "item", "--item")
    explanations = model.explain(
        int(user),
        items,
        user_features=matrices.get("user_features"),
        item_features=matrices.get("item_features"),
        top=args.top,
        feature_names=dataset,
    )
    if args.format == "json":
        records = [
            {
                "user": user_id,
                "item": item,
                "score": explanation.score,
                "user_bias": explanation.user_bias,
                "item_bias": explanation.item_bias,
                "pairs": [
                    {"user_feature": _plain(f), "item_feature": _plain(g), "contribution": value}
                    for f, g, value in explanation.pairs
                ],
                "rest": explanation.rest,
                "n_pairs": explanation.n_pairs,
            }
            for item, explanation in zip(item_ids.tolist(), explanations, strict=True)
        ]
        sys.stdout.write(json.dumps(records, indent=1, default=str) + "\n")
        return 0
    tables = [
        format_explanation(user_id, item, explanation)
        for item, explanation in zip(item_ids.tolist(), explanations, strict=True)
    ]
    sys.stdout.write("\n\n".join(tables) + "\n")
    return 0
