"""Random careless and hostile calls into every public entry point (used by tests/test_hostile.py).

Run as a script, ``python hostile_calls.py CALLS SEED`` makes CALLS calls, each with arguments drawn
from pools of hostile values (wrong types, negative and huge ids, NaN, wrong shapes, malformed sparse
matrices, absurd sizes), and prints one JSON line counting outcomes by entry point and exception
type. The calling test runs it in a child process, so that a crash of the interpreter fails the test
(its exit signal) instead of ending the test run.
"""

import collections
import copy
import json
import os
import sys
import tempfile

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hostile_inputs import MALFORMATIONS, malformed  # noqa: E402

# The exception types a public entry point may raise: refusals are ValueErrors (InputTypeError and
# ParameterError are ValueErrors too); k-OS with sample weights is the original's NotImplementedError.
ALLOWED = {"ValueError", "InputTypeError", "ParameterError", "NotImplementedError", "FileNotFoundError"}
N_USERS, N_ITEMS = 9, 7


def _values(rs):
    """One hostile value: for ids, counts, matrices, features, anything."""
    choices = [
        lambda: None, lambda: "foo", lambda: -1, lambda: 2**63, lambda: 2**31, lambda: 10**12, lambda: 0,
        lambda: 1.5, lambda: float("nan"), lambda: float("inf"), lambda: True, lambda: [1, "a"], lambda: [],
        lambda: np.array([[1, 2], [3, 4]]), lambda: np.arange(3) - 5, lambda: np.array([N_USERS, N_ITEMS]),
        lambda: np.zeros(3), lambda: np.full(3, np.nan), lambda: sp.csr_matrix((2, 3)),
        lambda: sp.random(N_USERS, N_ITEMS, density=0.3, format="coo", random_state=rs),
        lambda: sp.random(N_ITEMS, 4, density=0.5, format="csr", random_state=rs),
        lambda: sp.csr_matrix(np.full((N_USERS, N_ITEMS), np.nan)),
        lambda: sp.csr_matrix(-np.ones((N_USERS, N_ITEMS))),
        lambda: malformed((N_USERS, N_ITEMS), MALFORMATIONS[rs.randint(len(MALFORMATIONS))],
                          ("csr", "csc", "coo")[rs.randint(3)], rs)[0],
        lambda: np.int64(3), lambda: np.float32(2), lambda: "warp", lambda: {"a": 1},
    ]  # fmt: skip
    return choices[rs.randint(len(choices))]()


def _calls(model, train, directory):
    """(entry point, call(rs)) pairs; each call draws its hostile arguments from ``rs``."""
    from lightfm import LightFM
    from lightfm.cross_validation import random_train_test_split
    from lightfm.data import Dataset
    from lightfm.evaluation import auc_score, ndcg_at_k, precision_at_k, recall_at_k, reciprocal_rank

    hyperparameters = ["no_components", "k", "n", "learning_schedule", "loss", "learning_rate", "rho", "epsilon",
                       "item_alpha", "user_alpha", "max_sampled", "random_state"]  # fmt: skip

    def constructor(rs):
        return LightFM(**{hyperparameters[rs.randint(len(hyperparameters))]: _values(rs)})

    def assigned(rs):
        fresh = LightFM(random_state=0)
        setattr(fresh, hyperparameters[rs.randint(len(hyperparameters))], _values(rs))
        return fresh.fit(train, epochs=1)

    def fit(rs):
        arguments = {"interactions": _values(rs) if rs.rand() < 0.5 else train}
        for name in ("user_features", "item_features", "sample_weight", "num_threads"):
            if rs.rand() < 0.4:
                arguments[name] = _values(rs)
        if rs.rand() < 0.4:  # any number of epochs is valid: hostile kinds, not hours of training
            arguments["epochs"] = (-1, 0, 2, 1.5, "2", None, np.int64(2), True)[rs.randint(8)]
        return LightFM(loss=("warp", "bpr", "logistic", "warp-kos")[rs.randint(4)]).fit(**arguments)

    def predict(rs):
        items = _values(rs) if rs.rand() < 0.7 else np.arange(3)
        return model.predict(_values(rs), items, **_maybe(rs, "item_features"))

    def predict_rank(rs):
        return model.predict_rank(_values(rs), **_maybe(rs, "train_interactions", "item_features", "num_threads"))

    def metric(rs):
        function = (precision_at_k, recall_at_k, auc_score, reciprocal_rank, ndcg_at_k)[rs.randint(5)]
        extra = _maybe(rs, "train_interactions", "user_features", "num_threads")
        if function not in (auc_score, reciprocal_rank) and rs.rand() < 0.5:
            extra["k"] = _values(rs)
        return function(model, _values(rs) if rs.rand() < 0.7 else train, **extra)

    def recommend(rs):
        extra = _maybe(rs, "n", "exclude", "items", "num_threads", "item_bias_weight")
        if rs.rand() < 0.3:
            extra["user_representations"] = (_values(rs), _values(rs)) if rs.rand() < 0.7 else _values(rs)
        return model.recommend(_values(rs), **extra)

    def fold_in(rs):
        rows = _values(rs) if rs.rand() < 0.7 else train
        extra = _maybe(rs, "user_features", "item_features", "sample_weight", "num_threads")
        if rs.rand() < 0.4:
            extra["epochs"] = (-1, 0, 2, 1.5, "2", None, np.int64(2), True)[rs.randint(8)]
        which = rs.randint(4)
        if which < 2:
            return (model.fold_in_users, model.fold_in_items)[which](rows, **extra)
        target = copy.deepcopy(model)  # partial fits change the model: the other calls keep theirs
        method = (target.partial_fit_users, target.partial_fit_items)[which - 2]
        return method(_values(rs) if rs.rand() < 0.7 else np.arange(N_USERS), rows, **extra)

    def similar(rs):
        return (model.similar_items, model.similar_users)[rs.randint(2)](_values(rs), **_maybe(rs, "n"))

    def representations(rs):
        return (model.get_item_representations, model.get_user_representations)[rs.randint(2)](_values(rs))

    def resize(rs):
        loaded = LightFM.load(path) if os.path.exists(path := os.path.join(directory, "model.npz")) else model
        return loaded.resize(**_maybe(rs, "n_user_features", "n_item_features"))

    def save_load(rs):
        target = os.path.join(directory, "saved.npz")
        if rs.rand() < 0.5:
            model.save(target, **_maybe(rs, "user_features", "item_features", "interactions"))
        else:  # a corrupted copy of a model file
            model.save(target)
            raw = bytearray(open(target, "rb").read())
            for _ in range(rs.randint(1, 4)):
                raw[rs.randint(len(raw))] ^= 1 << rs.randint(8)
            open(target, "wb").write(bytes(raw[: rs.randint(len(raw) // 2, len(raw) + 1)]))
        return LightFM.load(target), Dataset.load(target) if rs.rand() < 0.3 else None

    def dataset(rs):
        data = Dataset()
        data.fit(_values(rs) if rs.rand() < 0.5 else ["a", "b"], _values(rs) if rs.rand() < 0.5 else ["x"])
        return data.build_interactions(_values(rs) if rs.rand() < 0.5 else [("a", "x")])

    def split(rs):
        return random_train_test_split(_values(rs), test_percentage=_values(rs) if rs.rand() < 0.3 else 0.2)

    return [
        ("LightFM()", constructor), ("attribute + fit", assigned), ("fit", fit), ("predict", predict),
        ("predict_rank", predict_rank), ("metrics", metric), ("recommend", recommend), ("fold-in", fold_in),
        ("similar", similar),
        ("representations", representations), ("resize", resize), ("save/load", save_load),
        ("Dataset", dataset), ("random_train_test_split", split),
    ]  # fmt: skip


def _maybe(rs, *names):
    return {name: _values(rs) for name in names if rs.rand() < 0.5}


def main(n_calls, seed, trace=False):
    from lightfm import LightFM

    rs = np.random.RandomState(seed)
    train = sp.random(N_USERS, N_ITEMS, density=0.4, format="coo", random_state=0, dtype=np.float32)
    model = LightFM(no_components=3, loss="warp", random_state=0).fit(train, epochs=2)
    outcomes = collections.Counter()
    with tempfile.TemporaryDirectory() as directory:
        calls = _calls(model, train, directory)
        for _ in range(n_calls):
            name, call = calls[rs.randint(len(calls))]
            if trace:
                print(f"call {name} {rs.get_state()[2]}", file=sys.stderr, flush=True)
            try:
                call(rs)
                outcomes[f"{name}: returned"] += 1
            except Exception as error:  # counted; the test decides which types are allowed
                outcomes[f"{name}: {type(error).__name__}"] += 1
                if type(error).__name__ not in ALLOWED:
                    print(f"{name}: {type(error).__name__}: {error}"[:300], file=sys.stderr)
    print(json.dumps(outcomes))


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), trace=len(sys.argv) > 3)
