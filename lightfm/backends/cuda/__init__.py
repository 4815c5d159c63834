"""The GPU engine, ``LightFM(device="cuda")``: Numba CUDA kernels for training and scoring.

Layout: :mod:`.kernels` (the ``@cuda.jit`` kernels, plain arrays in),
:mod:`.training` (Hogwild epochs: one warp per worker, lazy L2 in waves) and
:mod:`.scoring` (blocked products, ranks and top-n on the device), and this
module's :class:`CUDABackend`, which implements
:class:`lightfm.backends.base.Backend`. Parameters live in the model's NumPy
arrays between calls, so a GPU-trained model saves, loads and serves on a CPU,
and a CPU-trained one trains on.

Constructing the engine checks that CUDA is usable and raises
:class:`lightfm.ParameterError` saying what is missing otherwise; nothing
falls back to the CPU. Numba's CUDA simulator (``NUMBA_ENABLE_CUDASIM=1`` set
before Numba is imported) counts as usable: the tests run the kernels there.
"""

from __future__ import annotations

from ..base import Backend, ParameterError

INSTALL = 'pip install "lightfm-ng[cuda]"'


def _require_cuda():
    """Numba's CUDA module if it can run kernels here; ParameterError saying what is missing otherwise."""
    try:
        from numba import config, cuda
    except ImportError as error:  # a Numba without its CUDA target
        raise ParameterError(
            f"device='cuda' needs Numba's CUDA target, which is not installed ({error}): {INSTALL}, "
            "or use device='cpu'."
        ) from None
    if getattr(config, "ENABLE_CUDASIM", 0):
        return cuda
    if not cuda.is_available():
        reason = ""
        try:
            cuda.current_context()
        except Exception as error:  # the driver's own explanation
            reason = f" ({' '.join(str(error).split()).rstrip(' :')})"
        raise ParameterError(
            f"device='cuda' found no usable CUDA GPU{reason}: it needs an NVIDIA GPU with its driver, "
            f"and the GPU extra: {INSTALL}. Use device='cpu' otherwise."
        )
    try:
        from numba.cuda.cudadrv import nvvm

        nvvm_ok = getattr(nvvm, "is_available", lambda: True)()
    except Exception:  # noqa: BLE001 - an incomplete installation
        nvvm_ok = False
    if not nvvm_ok:
        raise ParameterError(
            "device='cuda' found a GPU but not the CUDA compiler libraries (NVVM) that Numba compiles kernels "
            f"with: {INSTALL} installs them. Use device='cpu' otherwise."
        )
    return cuda


class CUDABackend(Backend):
    """The GPU engine (see the module docstring).

    Parameters
    ----------
    lanes : int, optional
        Threads per worker: 32 (a warp) on a GPU; in the simulator any power of
        two up to 32, by default 1 (fewer lanes simulate faster; the tests vary it).
    workers : int, optional
        Workers (warps) per epoch; by default enough to fill the GPU. With one,
        training is the CPU engine's on one thread, up to float32 rounding.

    ``num_threads`` arguments are ignored: the GPU sets its own parallelism.
    """

    name = "cuda"

    def __init__(self, lanes=None, workers=None):
        _require_cuda()
        from . import kernels

        if lanes is None:
            # The simulator runs every lane as a Python thread and every reduction as two barriers.
            lanes = 1 if kernels.SIMULATOR else kernels.WARP_SIZE
        lanes = int(lanes)
        if kernels.SIMULATOR:
            if lanes < 1 or lanes > kernels.WARP_SIZE or lanes & (lanes - 1):
                raise ParameterError(f"lanes must be a power of two up to 32, got {lanes}.")
        elif lanes != kernels.WARP_SIZE:
            raise ParameterError(f"lanes must be {kernels.WARP_SIZE} (a warp) on a GPU, got {lanes}.")
        if workers is not None and int(workers) < 1:
            raise ParameterError(f"workers must be at least 1 (or None for the default), got {workers}.")
        self.lanes = lanes
        self.workers = None if workers is None else int(workers)

    def fit_epochs(self, state, data, config, epochs, num_threads, random_state, verbose):
        from .kernels import quiet_launches
        from .training import fit_epochs

        with quiet_launches():
            fit_epochs(state, data, config, epochs, random_state, verbose, self.lanes, self.workers)

    def fold_in(self, rows, config, epochs, num_threads):
        # Rows fold in independently, each a few hundred small steps: too little work per row for a
        # GPU launch to pay off, so the CPU engine does it (on ``num_threads`` host threads).
        from .. import get_backend

        return get_backend("cpu").fold_in(rows, config, epochs, num_threads)

    def predict_pairs(self, user_repr, user_bias, user_index, item_repr, item_bias, item_index, num_threads):
        from .kernels import quiet_launches
        from .scoring import predict_pairs

        with quiet_launches():
            return predict_pairs(user_repr, user_bias, user_index, item_repr, item_bias, item_index)

    def rank(self, user_block, test_users, item_side, test, train, num_threads):
        from .kernels import quiet_launches
        from .scoring import rank

        with quiet_launches():
            return rank(user_block, test_users, item_side, test, train)

    def top_n(self, query_block, query_ids, target_side, n, exclusions, rows, candidates, num_threads):
        from .kernels import quiet_launches
        from .scoring import top_n

        with quiet_launches():
            return top_n(query_block, query_ids, target_side, n, exclusions, rows, candidates)


__all__ = ["CUDABackend", "INSTALL"]
