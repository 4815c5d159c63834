"""Engines behind :class:`lightfm.LightFM` (see :mod:`lightfm.backends.base` for the interface).

``cpu`` is the Numba engine (:mod:`lightfm.backends.cpu`); ``cuda`` the GPU engine on Numba's
CUDA target (:mod:`lightfm.backends.cuda`), imported only when a model asks for it.
"""

from __future__ import annotations

from .base import Backend, FoldInRows, ParameterError, Side, TrainingConfig, TrainingData

__all__ = ["Backend", "FoldInRows", "ParameterError", "Side", "TrainingConfig", "TrainingData", "get_backend"]


_ENGINES: dict[str, Backend] = {}


def get_backend(name: str = "cpu") -> Backend:
    """The engine called ``name`` (one shared instance each; engines hold no model state)."""
    if name not in _ENGINES:
        if name == "cpu":
            from .cpu import CPUBackend

            _ENGINES[name] = CPUBackend()
        elif name == "cuda":
            from .cuda import CUDABackend  # raises ParameterError saying what is missing

            _ENGINES[name] = CUDABackend()
        else:
            raise ValueError(f"Unknown backend {name!r}: the available ones are 'cpu' and 'cuda'.")
    return _ENGINES[name]
