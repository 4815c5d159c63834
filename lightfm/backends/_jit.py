"""``njit`` for the package's CPU kernels: Numba's, with a lighter load from its on-disk cache.

On the first call of a compiled function in a process, Numba's dispatcher reads the
``numba_extensions`` entry points of every installed distribution, and its cache, before reading a
stored variant, loads every typing and lowering registry of the CPU target: it imports about eighty
of Numba's modules (``scipy.linalg`` among them, for ``np.dot``'s BLAS) and registers some 2,000
implementations. Both are needed to compile; a variant read from the cache is machine code that
needs only Numba's runtime (NRT) and the symbols it links against. With a warm cache they were
0.2-0.25 s of a 0.35 s first fit (on MovieLens; later fits take 0.025 s), and as much of a
first ``recommend`` in a serving process.

Functions decorated with :func:`njit` here with ``cache=True`` use :class:`_KernelCache`
instead: a hit sets up only what the variant's machine code links against (the runtime, unless
it was compiled without it) and reads it; a miss (an empty or stale cache,
or a new signature) runs Numba's whole set-up first and then compiles as Numba's ``njit`` does
(compilation refreshes the registries itself). The cache files are Numba's own, in the same place
(``NUMBA_CACHE_DIR`` or ``__pycache__``). Numba's cache objects are also made on first use
rather than at import: each checks that its folder is writable by creating a file there, and the
kernel modules declare some sixty functions, most of them only ever inlined into others.

With ``NUMBA_DISABLE_JIT`` set, :func:`njit` returns the Python function, as Numba's does.
"""

from __future__ import annotations

import numba
from numba.core import caching, entrypoints
from numba.core.dispatcher import Dispatcher
from numba.core.runtime import rtsys

# Names that machine code read from the cache links against, and what provides them: Numba's runtime
# (NRT, compiled once per process, about 15 ms; kernels compiled with ``_nrt=False`` use none of it)
# and the symbols its hashing module registers when imported.
_NRT_SYMBOLS = (b"NRT_", b"nrt_")
_HASH_SYMBOLS = (b"_numba_hashsecret_",)


def _names_any(entry, symbols):
    """Whether the bytes of a cache entry (nested tuples: the object code among them) contain any of
    ``symbols``; also True when it holds no bytes at all (a format this module does not know)."""
    blobs = []

    def collect(value):
        if isinstance(value, (bytes, bytearray)):
            blobs.append(value)
        elif isinstance(value, (tuple, list)):
            for item in value:
                collect(item)

    collect(entry)
    return not blobs or any(symbol in blob for blob in blobs for symbol in symbols)


class _KernelCache(caching.FunctionCache):
    """Numba's function cache, made on first use, whose hits skip the registries (module docstring)."""

    def __init__(self, py_func):  # Numba's set-up runs in _setup, on first use.
        self._py_func = py_func
        self._name = repr(py_func)
        self._enabled = True

    def _setup(self):
        enabled = self._enabled
        super().__init__(self._py_func)
        self._enabled = enabled

    def __getattr__(self, name):
        # Only for attributes not set yet: everything Numba's __init__ sets (_impl, _cache_file, ...).
        if name.startswith("__") or "_cache_file" in self.__dict__:
            raise AttributeError(name)
        self._setup()
        return getattr(self, name)

    def load_overload(self, sig, target_context):
        try:
            with self._guard_against_spurious_io_errors():
                cres = self._load_overload(sig, target_context)
        except Exception:  # noqa: BLE001 - whatever this Numba does differently: compile, as Numba would
            cres = None
        if cres is None:
            # A miss: Numba compiles next, after its whole set-up, as on its own path.
            entrypoints.init_all()
            target_context.refresh()
        return cres

    def _load_overload(self, sig, target_context):
        # Numba's, with what the machine code links against set up first (and only then).
        if not self._enabled:
            return None
        entry = self._cache_file.load(self._index_key(sig, target_context.codegen()))
        if entry is None:
            return None
        if _names_any(entry, _NRT_SYMBOLS):
            rtsys.initialize(target_context)  # a no-op after the first time
        if _names_any(entry, _HASH_SYMBOLS):
            import numba.cpython.hashing  # noqa: F401

        return self._impl.rebuild(target_context, entry)


def _entry_points_on_miss():
    """Stands in for the dispatcher's per-call hook: entry points are read on a cache miss instead."""


# The Numba internals the light load relies on (present from 0.59, the lowest supported version, to
# at least 0.68); without any of them, kernels are cached through Numba's own njit.
_LIGHT_LOAD = all(
    hasattr(owner, name)
    for owner, name in (
        (caching.FunctionCache, "_guard_against_spurious_io_errors"),
        (caching.FunctionCache, "_index_key"),
        (caching.FunctionCache, "load_overload"),
        (Dispatcher, "_compilation_chain_init_hook"),
        (entrypoints, "init_all"),
        (rtsys, "initialize"),
    )
)


def njit(function=None, **options):
    """``numba.njit`` with the same options; ``cache=True`` caches through :class:`_KernelCache`.

    Used as ``@njit`` or ``@njit(option=value, ...)``.
    """
    if function is not None:
        return njit(**options)(function)
    cache = options.pop("cache", False)
    compile_with_numba = numba.njit(**options)

    def decorate(function):
        dispatcher = compile_with_numba(function)
        if cache and _LIGHT_LOAD and isinstance(dispatcher, Dispatcher):
            dispatcher._cache = _KernelCache(dispatcher.py_func)
            dispatcher._compilation_chain_init_hook = _entry_points_on_miss
        elif cache and hasattr(dispatcher, "enable_caching"):
            dispatcher.enable_caching()
        return dispatcher

    return decorate
