"""Malformed sparse matrices, and every public entry point that takes one (used by tests/test_hostile.py).

Run as a script it feeds ``--cases`` malformed matrices (seeded) to every entry point in this
process and prints one JSON line counting the outcomes by exception type; a crash of the
interpreter shows as the process's exit signal in the calling test.
"""

import collections
import json
import sys

import numpy as np
import scipy.sparse as sp

MALFORMATIONS = (
    "indptr overshoots",
    "indptr decreases",
    "indptr starts above 0",
    "indptr too short",
    "index too large",
    "index negative",
    "coo row outside",
    "coo col negative",
    "coo lengths differ",
)


def malformed(shape, kind, fmt, rs):
    """``(matrix, broken)``: a ``fmt`` matrix of ``shape`` with its internals broken as ``kind`` says
    (no SciPy check runs), and whether they are (an index kind needs a stored entry, a COO kind a COO)."""
    matrix = sp.random(*shape, density=0.5, format=fmt, random_state=rs, dtype=np.float32)
    matrix.data[:] = 1.0
    if kind.startswith("indptr"):
        broken = fmt != "coo"
    else:
        broken = matrix.nnz > 0 and (fmt == "coo") == kind.startswith("coo")
    if fmt in ("csr", "csc"):
        if kind == "indptr overshoots":
            matrix.indptr[-1] = matrix.indices.size + rs.randint(1, 5000)
        elif kind == "indptr decreases":
            matrix.indptr[1] = matrix.indptr[-1] + 7
        elif kind == "indptr starts above 0":
            matrix.indptr[0] = 1
        elif kind == "indptr too short":
            matrix.indptr = matrix.indptr[:-1].copy()
        elif kind == "index too large" and matrix.nnz:
            matrix.indices[rs.randint(matrix.nnz)] = 10**6
        elif kind == "index negative" and matrix.nnz:
            matrix.indices[rs.randint(matrix.nnz)] = -3
    elif fmt == "coo" and matrix.nnz:
        if kind == "coo row outside":
            matrix.row[rs.randint(matrix.nnz)] = shape[0] + 9
        elif kind == "coo col negative":
            matrix.col[rs.randint(matrix.nnz)] = -1
        elif kind == "coo lengths differ":
            matrix.row = matrix.row[:-1].copy()
    return matrix, broken


def entry_points(n_users, n_items):
    """(name, call(matrix)) for every public function that takes a sparse matrix of this shape."""
    from lightfm import LightFM
    from lightfm.cross_validation import random_train_test_split
    from lightfm.evaluation import auc_score, precision_at_k

    train = sp.random(n_users, n_items, density=0.5, format="coo", random_state=0, dtype=np.float32)
    model = LightFM(no_components=3, loss="warp", random_state=0).fit(train)
    return [
        ("fit interactions", lambda m: LightFM(loss="bpr").fit(m)),
        ("fit user_features", lambda m: LightFM().fit(train, user_features=m)),
        ("fit item_features", lambda m: LightFM().fit(train.T.tocoo().T.tocoo(), item_features=m.T)),
        ("fit sample_weight", lambda m: LightFM().fit(train, sample_weight=m)),
        ("predict item_features", lambda m: model.predict(0, np.arange(n_items), item_features=m.T)),
        ("predict_rank test", lambda m: model.predict_rank(m)),
        ("predict_rank train", lambda m: model.predict_rank(train, m, check_intersections=False)),
        ("precision_at_k train", lambda m: precision_at_k(model, train, m, check_intersections=False)),
        ("auc_score test", lambda m: auc_score(model, m)),
        ("recommend exclude", lambda m: model.recommend([0, 1], exclude=m)),
        ("user representations", lambda m: model.get_user_representations(m)),
        ("random_train_test_split", lambda m: random_train_test_split(m, random_state=0)),
    ]


def main(cases):
    rs = np.random.RandomState(0)
    shape = (8, 6)
    outcomes = collections.Counter()
    for point, call in entry_points(*shape):
        for case in range(cases):
            kind = MALFORMATIONS[case % len(MALFORMATIONS)]
            fmt = "coo" if kind.startswith("coo") else ("csr", "csc")[case % 2]
            try:
                call(malformed(shape, kind, fmt, rs)[0])
                outcomes[f"{point}: returned"] += 1
            except Exception as error:  # counted: the calling test decides which types are allowed
                outcomes[f"{point}: {type(error).__name__}"] += 1
    print(json.dumps(outcomes))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 27)
