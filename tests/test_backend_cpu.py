"""The CPU (Numba) engine against the backend contract."""

from lightfm.backends import get_backend

from .backend_contract import BackendContract


class TestCPUBackend(BackendContract):
    backend = get_backend("cpu")
