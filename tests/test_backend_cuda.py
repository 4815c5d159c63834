"""The GPU engine (``LightFM(device="cuda")``, :mod:`lightfm.backends.cuda`).

Without a GPU its kernels run under Numba's CUDA simulator, which must be chosen
before Numba is first imported: :func:`test_kernels_under_the_simulator` runs
``tests/cuda_sim`` (the backend contract against the oracles, and the estimator
end to end against the CPU engine) in a child process with
``NUMBA_ENABLE_CUDASIM=1``. Tests marked ``cuda`` need a real GPU and are skipped
where there is none.
"""

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import scipy.sparse as sp

from lightfm import LightFM, ParameterError

from .backend_contract import BackendContract
from .cuda_sim.sim_contract import COVERING

REPO = Path(__file__).resolve().parents[1]
SIMULATOR_TESTS = ["tests/cuda_sim/sim_contract.py", "tests/cuda_sim/sim_engine.py"]


def _usable_gpu():
    """Whether a real CUDA GPU can run kernels here (the simulator does not count)."""
    from numba import config

    if config.ENABLE_CUDASIM:
        return False
    try:
        from numba import cuda

        return bool(cuda.is_available())
    except Exception:  # noqa: BLE001 - no CUDA target, or a broken driver: no GPU either way
        return False


HAS_GPU = _usable_gpu()


def test_kernels_under_the_simulator():
    """Every kernel, under the simulator, against the oracles and the CPU engine (see tests/cuda_sim)."""
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
    env.pop("NUMBA_DISABLE_JIT", None)
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly", *SIMULATOR_TESTS]
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    summary = result.stdout.strip().splitlines()[-1:] if result.stdout.strip() else []
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    assert summary and "passed" in summary[0] and "skipped" not in summary[0], summary


def _compiler_only():
    """Whether NVVM can compile kernels here although no GPU runs them (and the simulator is off)."""
    from numba import config

    if HAS_GPU or config.ENABLE_CUDASIM:
        return False
    try:
        from numba.cuda.cudadrv import nvvm

        return bool(nvvm.is_available())
    except Exception:  # noqa: BLE001 - no compiler: nothing to check
        return False


def _typed(*arguments):
    import numba

    return tuple(numba.typeof(argument) for argument in arguments)


@pytest.mark.skipif(not _compiler_only(), reason="needs NVVM and no GPU (a GPU runs the kernels instead)")
def test_gpu_kernels_compile_to_ptx(monkeypatch):
    """The simulator runs the kernels as Python; compiling them for a GPU (PTX, sm_80) checks what only
    a GPU would otherwise catch: typing, constant shapes, intrinsics. Each loss once, both schedules and
    both kinds of features on each side among them; argument types as lightfm.backends.cuda.training passes."""
    from numba import cuda
    from numba.cuda import dispatcher

    from lightfm.backends._common import BPR, LOGISTIC, WARP, WARP_KOS
    from lightfm.backends.cuda import kernels as K

    # Device functions compile for the current device; there is none, so name a compute capability.
    monkeypatch.setattr(dispatcher, "get_current_device", lambda: SimpleNamespace(compute_capability=(8, 0)))
    f32, i32, i64 = (lambda *shape, t=t: np.zeros(shape, t) for t in (np.float32, np.int32, np.int64))
    side = (i64(2), i32(1), f32(1), f32(3, 4), f32(3, 4), f32(3, 4), f32(3), f32(3), f32(3))
    arguments = _typed(
        i32(5), i64(2), i64(2), np.int64(5), np.zeros(2, np.uint64), i64(2, K.RING_SLOTS), np.zeros((2, 2)),
        np.ones(2), i32(5), i32(5), f32(5), f32(1), True, i64(3), i32(5), f32(3), i32(3), np.int64(3),
        np.int64(10), np.int64(2), i64(2, 1), f32(2, 1), *side, *side, *(np.float32(0.1),) * 6,
        np.int64(32), np.int64(2),
    )  # fmt: skip
    variants = [(LOGISTIC, True, False, True), (BPR, False, True, False), (WARP, True, True, True)]
    variants.append((WARP_KOS, False, False, False))
    for variant in variants:
        ptx, _ = cuda.compile_ptx(K.make_train_kernel(*variant).py_func, arguments, cc=(8, 0))
        assert "shfl.sync" in ptx, variant
    for name, sample in [
        ("shuffle_chunks", (i32(5), i64(2), i64(2), np.zeros(2, np.uint64))),
        ("fold_scale", (f32(3, 4), f32(3), np.float32(0.5))),
        ("count_nonfinite", (f32(12), i64(3), 1)),
        ("predict_pairs", (f32(3, 4), f32(3), i64(5), f32(3, 4), f32(3), i64(5), f32(5))),
        ("score_block", (f32(3, 6), f32(6, 7), f32(3, 7))),
        ("mask_entries", (f32(3, 7), i64(3), i64(4), i32(5), i64(7))),
        ("rank_entries", (f32(3, 7), i64(3), i64(4), i32(5), i64(4), i32(5), f32(5))),
        ("top_n_rows", (f32(3, 7), i64(7), i64(3, 2), f32(3, 2))),
    ]:
        cuda.compile_ptx(getattr(K, name).py_func, _typed(*sample), cc=(8, 0))


@pytest.mark.skipif(
    HAS_GPU or os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0"), reason="a GPU (or the simulator) is usable"
)
def test_no_gpu_is_a_parameter_error_saying_how_to_install():
    train = sp.coo_matrix(np.eye(3, dtype=np.float32))
    with pytest.raises(ParameterError, match=r'device=.cuda.*pip install "lightfm-ng\[cuda\]"'):
        LightFM(device="cuda").fit(train)


@pytest.mark.cuda
@pytest.mark.skipif(not HAS_GPU, reason="needs a CUDA GPU")
class TestCUDABackendOnGPU(BackendContract):
    """The contract on a real GPU; one worker makes training the CPU engine's, as in the simulator."""

    @property
    def backend(self):
        from lightfm.backends.cuda import CUDABackend

        return CUDABackend(workers=1)

    # The simulator's covering subset: each kernel variant costs seconds of compilation on a GPU.
    @pytest.mark.parametrize(("loss", "schedule", "features", "alphas"), COVERING)
    def test_fit_epochs_match_the_oracle(self, loss, schedule, features, alphas):
        super().test_fit_epochs_match_the_oracle(loss, schedule, features, alphas)


@pytest.mark.cuda
@pytest.mark.skipif(not HAS_GPU, reason="needs a CUDA GPU")
def test_gpu_learns_what_the_cpu_does(board):
    """Hogwild over many warps against the CPU engine on the planted checkerboard (AUC)."""
    from lightfm.evaluation import auc_score

    train, test = board
    scores = {}
    for device in ("cpu", "cuda"):
        model = LightFM(no_components=16, loss="warp", random_state=0, device=device).fit(train, epochs=20)
        scores[device] = auc_score(model, test, train).mean()
    assert scores["cuda"] > scores["cpu"] - 0.03, scores
