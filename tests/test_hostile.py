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
