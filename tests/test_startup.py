"""What a fresh process loads: kernels read from Numba's cache without its compiler's set-up, and
small top-n selections in NumPy (the same results as the kernel) without loading Numba at all."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import scipy.sparse as sp

from lightfm._serving import _exclusion_csr, _exclusion_rows
from lightfm.backends.cpu import _top_n_numpy

FRESH_PROCESS_TIMEOUT = 600


def _run(code, env=None):
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=FRESH_PROCESS_TIMEOUT,
        env=dict(os.environ, **(env or {})),
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def _blocks(seed):
    rs = np.random.RandomState(seed)
    n_rows, n_items = rs.randint(1, 6), rs.randint(1, 40)
    # Few distinct values, so that ties are common; some -inf and NaN.
    scores = rs.randint(-3, 4, size=(n_rows, n_items)).astype(np.float32) / 2
    scores[rs.rand(n_rows, n_items) < 0.1] = -np.inf
    scores[rs.rand(n_rows, n_items) < 0.05] = np.nan
    if rs.rand() < 0.5:
        candidates = np.unique(rs.randint(0, n_items, size=rs.randint(1, n_items + 1))).astype(np.int64)
        column_of = np.full(n_items, -1, dtype=np.int64)
        column_of[candidates] = np.arange(candidates.size)
        scores = np.ascontiguousarray(scores[:, : candidates.size])
    else:
        candidates = column_of = np.arange(n_items, dtype=np.int64)
    # Exclusions with repeats and in any order; the block's rows are rows of this CSR.
    counts = rs.randint(0, 4, size=n_rows + 2)
    indptr = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
    indices = rs.randint(0, n_items, size=indptr[-1]).astype(np.int32)
    rows = rs.randint(0, n_rows + 2, size=n_rows).astype(np.int64)
    return scores, rows, indptr, indices, column_of, candidates, rs.randint(0, n_items + 3)


@pytest.mark.parametrize("seed", range(60))
def test_numpy_top_n_selects_as_the_kernel(seed):
    from lightfm.backends.cpu.kernels.scoring import top_n_block

    scores, rows, indptr, indices, column_of, candidates, n = _blocks(seed)
    outputs = []
    for select in (top_n_block, _top_n_numpy):
        items = np.empty((scores.shape[0], n), dtype=np.int64)
        best = np.empty((scores.shape[0], n), dtype=np.float32)
        select(scores.copy(), rows, indptr, indices, column_of, candidates, items, best)
        outputs.append((items, best))
    (kernel_items, kernel_scores), (numpy_items, numpy_scores) = outputs
    np.testing.assert_array_equal(numpy_items, kernel_items)
    assert numpy_scores.tobytes() == kernel_scores.tobytes()


@pytest.mark.parametrize("grouped", [True, False])
def test_exclusion_rows_hold_the_entries_of_each_row(grouped):
    rs = np.random.RandomState(3)
    rows, cols = rs.randint(0, 30, size=200), rs.randint(0, 20, size=200)
    if grouped:
        order = np.argsort(rows, kind="stable")
        rows, cols = rows[order], cols[order]
    exclude = sp.coo_matrix((np.ones(200), (rows, cols)), shape=(30, 20))
    indptr, indices = _exclusion_rows(exclude, (30, 20))
    sorted_indptr, sorted_indices = _exclusion_csr(exclude, (30, 20))
    assert indptr.dtype == np.int64 and indices.dtype == np.int32
    for r in range(30):
        assert set(indices[indptr[r] : indptr[r + 1]]) == set(sorted_indices[sorted_indptr[r] : sorted_indptr[r + 1]])
    with pytest.raises(ValueError, match="exclude has shape"):
        _exclusion_rows(exclude, (31, 20))
    empty_indptr, empty_indices = _exclusion_rows(None, (30, 20))
    assert empty_indptr.shape == (31,) and not empty_indices.size


_FIT_AND_SCORE = """
    import json, sys
    import numpy as np, scipy.sparse as sp
    from lightfm import LightFM
    from lightfm.evaluation import auc_score, precision_at_k
    rs = np.random.RandomState(0)
    train = sp.coo_matrix((rs.rand(40, 30) < 0.2).astype(np.float32))
    features = sp.hstack([sp.identity(30), sp.random(30, 4, density=0.3, random_state=1)], format="csr")
    model = LightFM(loss="warp", random_state=0).fit(train, item_features=features, epochs=2)
    result = {
        "embeddings": model.item_embeddings.tolist(),
        "predict": model.predict(np.arange(5), np.arange(5), item_features=features).tolist(),
        "precision": precision_at_k(model, train, k=3, item_features=features).tolist(),
        "auc": auc_score(model, train, item_features=features).tolist(),
        "recommend": model.recommend(np.arange(40), n=3, exclude=train, item_features=features)[0].tolist(),
        "loaded": sorted(m for m in ("numba.np.linalg", "numba.np.arraymath", "numba.np.arrayobj") if m in sys.modules),
    }
    from numba.core.runtime import rtsys
    result["runtime"] = rtsys._init
    from lightfm.backends._host_kernels import _count_into
    result["misses"] = sum(sum(d.stats.cache_misses.values()) for d in [_count_into])
    counts = np.zeros(3)
    _count_into(np.array([0, 2, 2], dtype=np.int64), np.arange(3, dtype=np.int64), counts)  # a new signature
    result["compiled"] = counts.tolist()
    print(json.dumps(result))
"""


def test_a_warm_process_reads_the_kernels_without_numbas_compiler_set_up(tmp_path):
    """From a warm cache a fit, predictions and the metrics load none of Numba's registries (nor
    scipy.linalg through them) and do not set up its runtime (the kernels they call are compiled
    without it), give what the process that compiled them gave, and a new signature still compiles."""
    env = {"NUMBA_CACHE_DIR": str(tmp_path)}
    cold = _run(_FIT_AND_SCORE, env)
    warm = _run(_FIT_AND_SCORE, env)
    assert warm["loaded"] == []
    assert warm["runtime"] is False
    assert warm["misses"] == 0
    assert warm["compiled"] == [1.0, 0.0, 2.0]
    for key in ("embeddings", "predict", "recommend", "precision", "auc"):
        assert warm[key] == cold[key]


def test_a_few_users_top_items_do_not_load_numba(tmp_path):
    path = tmp_path / "model.npz"
    code = f"""
        import json, sys
        import numpy as np, scipy.sparse as sp
        from lightfm import LightFM
        rs = np.random.RandomState(0)
        train = sp.csr_matrix((rs.rand(40, 30) < 0.2).astype(np.float32))
        if sys.argv[-1] == "fit":
            LightFM(loss="warp", random_state=0).fit(train, epochs=2).save({str(path)!r})
        model = LightFM.load({str(path)!r})
        items, scores = model.recommend([3, 7], n=5, exclude=train)
        if sys.argv[-1] == "fit":
            import lightfm.backends.cpu.kernels.scoring  # the kernel's selection from here on
            kernel_items, kernel_scores = model.recommend([3, 7], n=5, exclude=train)
            assert np.array_equal(items, kernel_items) and np.array_equal(scores, kernel_scores)
        print(json.dumps({{"items": items.tolist(), "numba": "numba" in sys.modules}}))
    """
    fitted = _run(code.replace("sys.argv[-1]", '"fit"'))
    served = _run(code.replace("sys.argv[-1]", '"serve"'))
    assert not served["numba"]
    assert served["items"] == fitted["items"]
