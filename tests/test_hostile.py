"""Hostile and malformed input: every refusal a ValueError, never a crash of the interpreter."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from lightfm._validation import require_sparse

from .hostile_inputs import MALFORMATIONS, malformed

ALLOWED = {"ValueError", "InputTypeError"}


def _hostile_run(calls, seed):
    """Outcome counts of ``calls`` random hostile calls (tests/hostile_calls.py) in a child process."""
    script = Path(__file__).with_name("hostile_calls.py")
    result = subprocess.run(
        [sys.executable, str(script), str(calls), str(seed)], capture_output=True, text=True, timeout=900
    )
    assert result.returncode == 0, f"exit {result.returncode} (a negative exit is a signal): {result.stderr[-2000:]}"
    return json.loads(result.stdout.strip().splitlines()[-1])


def _assert_only_documented_errors(outcomes):
    from .hostile_calls import ALLOWED

    unexpected = {key: count for key, count in outcomes.items() if key.split(": ")[1] not in ALLOWED | {"returned"}}
    assert not unexpected, unexpected


@pytest.mark.bounds_checked
@pytest.mark.parametrize("seed", [0, 1])
def test_random_hostile_calls_raise_only_documented_errors(seed):
    """Every public entry point, arguments drawn from hostile pools: returns, or a documented error."""
    import os

    calls = 300 if os.environ.get("NUMBA_DISABLE_JIT") == "1" else 2000
    outcomes = _hostile_run(calls, seed)
    _assert_only_documented_errors(outcomes)
    assert sum(outcomes.values()) == calls and sum(v for k, v in outcomes.items() if k.endswith("returned")) > 0


@pytest.mark.slow
def test_a_long_run_of_hostile_calls():
    """The long run (pytest -m slow): 10 seeds x 20,000 calls."""
    for seed in range(100, 110):
        _assert_only_documented_errors(_hostile_run(20_000, seed))


def test_malformed_matrices_never_crash_any_entry_point():
    """Run in a child process: a crash there fails this test instead of ending the test run."""
    script = Path(__file__).with_name("hostile_inputs.py")
    result = subprocess.run([sys.executable, str(script), "27"], capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, f"exit {result.returncode}: {result.stderr[-2000:]}"
    outcomes = json.loads(result.stdout.strip().splitlines()[-1])
    unexpected = {key: count for key, count in outcomes.items() if key.split(": ")[1] not in ALLOWED}
    assert not unexpected, unexpected
    assert sum(outcomes.values()) == 12 * 27


@pytest.mark.bounds_checked
@settings(max_examples=150, deadline=None)
@given(
    n_rows=st.integers(1, 6),
    n_cols=st.integers(1, 6),
    kind=st.sampled_from(MALFORMATIONS),
    fmt=st.sampled_from(["csr", "csc", "coo"]),
    seed=st.integers(0, 2**16),
)
def test_the_structure_check_refuses_every_malformation(n_rows, n_cols, kind, fmt, seed):
    """Checked with NumPy only, before SciPy converts anything; a well-formed matrix passes."""
    matrix, broken = malformed((n_rows, n_cols), kind, fmt, np.random.RandomState(seed))
    if not broken:
        assert require_sparse(matrix, "m") is matrix
        return
    with pytest.raises(ValueError, match="malformed"):
        require_sparse(matrix, "m")


def test_well_formed_matrices_of_every_format_pass():
    dense = np.array([[0, 1, 0], [2, 0, 3]], dtype=np.float32)
    for fmt in ("csr", "csc", "coo", "bsr", "dia", "lil", "dok"):
        matrix = sp.csr_matrix(dense).asformat(fmt)
        assert require_sparse(matrix, "m") is matrix


# -- sizes, types and attributes ------------------------------------------------------------------


def _model():
    from lightfm import LightFM

    train = sp.random(20, 12, density=0.3, format="coo", random_state=0)
    return LightFM(no_components=4, loss="warp", random_state=0).fit(train), train


def test_hyperparameters_assigned_as_attributes_are_checked_at_fit():
    from lightfm import LightFM

    train = sp.random(20, 12, density=0.3, format="coo", random_state=0)
    for name, value in [("n", -1), ("k", "5"), ("learning_schedule", "foo"), ("loss", "hinge"), ("rho", 2.0),
                        ("random_state", -1), ("no_components", 2**40), ("max_sampled", 2**63)]:  # fmt: skip
        model = LightFM()
        setattr(model, name, value)
        with pytest.raises(ValueError, match=name):
            model.fit(train)
    model = LightFM(loss="warp", random_state=0).fit(train, epochs=0)
    before = model.item_embeddings.copy()
    model.max_sampled = 0  # the original's documented no-op pass
    model.fit_partial(train)
    np.testing.assert_array_equal(model.item_embeddings, before)
    model.random_state = 7  # a seed, as the constructor takes
    model.fit_partial(train)
    assert isinstance(model.random_state, np.random.RandomState)


def test_absurd_sizes_are_refused_or_clamped_without_allocating():
    from lightfm import LightFM
    from lightfm.evaluation import ndcg_at_k

    model, train = _model()
    with pytest.raises(ValueError, match="memory"):
        LightFM(no_components=2**30).fit(train)
    with pytest.raises(ValueError, match="memory"):
        model.resize(n_item_features=10**12)
    items, _ = model.recommend([0, 1], n=10**12)
    assert items.shape == (2, 12)
    assert model.similar_users(0, n=2**62)[0].shape == (20,)
    assert ndcg_at_k(model, train, k=2**70).shape == (20,)
    LightFM(loss="warp-kos", n=2**31 - 1).fit(train)  # k-OS buffers sized by the items, not n
    LightFM(loss="warp", n=2**31 - 1).fit(train)  # and none at all for other losses


def test_auc_stays_in_the_unit_interval_when_train_and_test_overlap():
    from lightfm.evaluation import auc_score

    model, train = _model()
    test = sp.random(20, 12, density=0.5, format="csr", random_state=5)
    auc = auc_score(model, test, train, check_intersections=False)
    assert np.all((auc >= 0) & (auc <= 1))


def test_dataset_refuses_none_and_nan_ids():
    from lightfm.data import Dataset

    with pytest.raises(ValueError, match="users contains None"):
        Dataset().fit(["a", None], ["x"])
    with pytest.raises(ValueError, match="item_features contains nan"):
        Dataset().fit(["a"], ["x"], item_features=[1.0, float("nan")])


# -- files ----------------------------------------------------------------------------------------


def test_a_model_that_cannot_be_read_back_is_not_saved(tmp_path):
    model, _ = _model()
    model.item_embeddings[0, 0] = np.nan
    with pytest.raises(ValueError, match="are finite"):
        model.save(tmp_path / "model.npz")
    assert list(tmp_path.iterdir()) == []


def _hostile_npz(path, header_shape):
    """A model file whose item_embeddings header declares ``header_shape`` over 16 bytes of data."""
    import zipfile

    model, _ = _model()
    model.save(path)
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    header = {"descr": "<f4", "fortran_order": False, "shape": header_shape}
    buffer = __import__("io").BytesIO()
    np.lib.format.write_array_header_1_0(buffer, header)
    members["item_embeddings.npy"] = np.lib.format.magic(1, 0) + buffer.getvalue()[8:] + b"\0" * 16
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def test_a_header_declaring_terabytes_is_refused_before_allocating(tmp_path):
    from lightfm import LightFM

    path = tmp_path / "hostile.npz"
    _hostile_npz(path, (2**40, 4))
    with pytest.raises(ValueError, match="declares"):
        LightFM.load(path)


def test_an_unknown_compression_method_is_a_value_error(tmp_path):
    from lightfm import LightFM

    model, _ = _model()
    path = tmp_path / "model.npz"
    model.save(path)
    raw = bytearray(path.read_bytes())
    central = raw.index(b"PK\x01\x02")
    raw[central + 10] = 99  # one bit pattern of the compression method zipfile reads
    path.write_bytes(bytes(raw))
    with pytest.raises(ValueError):
        LightFM.load(path)


def test_loading_from_a_device_is_refused(tmp_path):
    import os

    from lightfm import LightFM
    from lightfm.data import Dataset

    link = tmp_path / "endless.json"
    os.symlink("/dev/zero", link)
    for load in (Dataset.load, LightFM.load):
        with pytest.raises(ValueError, match="not a regular file"):
            load(link)


def test_partial_files_of_killed_saves_are_cleaned_up(tmp_path):
    import os
    import time

    model, _ = _model()
    stale = tmp_path / ".model.npz.lightfm-partial-abc123"
    fresh = tmp_path / ".model.npz.lightfm-partial-def456"
    other = tmp_path / ".other.npz.lightfm-partial-ghi789"
    for path in (stale, fresh, other):
        path.write_bytes(b"half a model")
    hour_ago = time.time() - 3600
    for path in (stale, other):
        os.utime(path, (hour_ago, hour_ago))
    model.save(tmp_path / "model.npz")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["model.npz", fresh.name, other.name])
