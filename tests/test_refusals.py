"""Every argument of the table, split, evaluation and baseline entry points, one at a time replaced by a
careless or hostile value: the call succeeds or refuses with a ValueError (InputTypeError is one too),
never another exception."""

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from lightfm.baseline import PopularityBaseline
from lightfm.cross_validation import leave_k_out_split, random_train_test_split, time_split
from lightfm.data import Dataset
from lightfm.evaluation import evaluate

HOSTILE = [
    None, "foo", -1, 2**63, 0, 1.5, float("nan"), True, [1, "a"], [], (1, 2), {1, 2}, {"a": 1}, [[1], [2, 3]],
    np.array([[1, 2], [3, 4]]), np.arange(3) - 5, np.zeros(3), np.full(3, np.nan), np.array([1.5]),
    np.array(["a", "b"]), np.int64(3), np.arange(25), np.arange(25.0), np.full(25, np.datetime64("NaT")),
    sp.csr_matrix((2, 3)), sp.random(9, 7, density=0.3, format="coo", random_state=1), sp.eye(7), sp.eye(9),
    sp.csr_matrix(-np.ones((9, 7))), sp.csr_matrix(np.full((9, 7), np.nan)),
    pd.Series([1, 2]), pd.DataFrame({"a": [1]}), pd.DataFrame({"a": ["a"], "b": ["f"]}),
    pd.DataFrame({"a": ["a", None], "b": ["f", "f"]}), pd.DataFrame({"a": [1], "b": [1], "c": ["w"]}),
    pd.DataFrame({"a": [1], "b": ["x"], "c": ["y"], "d": [1]}), pd.DataFrame({"a": ["a"], "b": [["f"]]}),
]  # fmt: skip


def _entry_points():
    interactions = sp.random(9, 7, density=0.4, format="coo", random_state=2)
    times = np.arange(interactions.nnz)
    dataset = Dataset()
    dataset.fit(["a", "b"], [1, 2, 3], item_features=["f"], user_features=["g"])
    model = PopularityBaseline().fit(interactions)
    return {
        "item_ids": (dataset.item_ids, [[0]]),
        "user_index": (dataset.user_index, [["a"]]),
        "fit": (Dataset().fit, [["a"], [1], None, None]),
        "build_item_features": (dataset.build_item_features, [[(1, ["f"])], True, None, None, None]),
        "build_user_features": (dataset.build_user_features, [[("a", ["g"])], True, None, None, None]),
        "build_interactions": (dataset.build_interactions, [[("a", 1)], None, None, None]),
        "random_train_test_split": (
            lambda x, f, r, w: random_train_test_split(x, f, r, weights=w),
            [interactions, 0.2, 0, interactions],
        ),
        "leave_k_out_split": (
            lambda x, k, t, w, r: leave_k_out_split(x, k, timestamps=t, weights=w, random_state=r),
            [interactions, 1, times, interactions, 0],
        ),
        "time_split": (lambda x, t, f, w: time_split(x, t, f, weights=w), [interactions, times, 0.2, interactions]),
        "evaluate": (evaluate, [model, interactions, None, 10, None, None, 1, True]),
        "PopularityBaseline.fit": (PopularityBaseline().fit, [interactions, None, None, interactions, 1, 1, False]),
        "PopularityBaseline.predict": (model.predict, [0, [1], None, None, 1]),
        "PopularityBaseline.predict_rank": (model.predict_rank, [interactions, None, None, None, 1, True]),
    }


@pytest.mark.parametrize("name", list(_entry_points()))
def test_hostile_arguments_are_refused_with_value_errors(name):
    function, arguments = _entry_points()[name]
    function(*arguments)  # the valid call works
    for position in range(len(arguments)):
        for value in HOSTILE:
            call = list(arguments)
            call[position] = value
            try:
                function(*call)
            except ValueError:
                pass
