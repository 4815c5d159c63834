"""The model file: one ``.npz`` of plain arrays and JSON text, never pickle.

Layout (format version 1):

``format``            the text ``"lightfm-ng model"`` (tells our files from foreign ones)
``format_version``    int64 scalar
``metadata``          JSON: ``{"hyperparameters": {...}, "random_state": {...}, "fitted": bool,
                      "fit_inputs": {...}, "initial_random_state": int or null}``; the last two
                      are absent from files of earlier versions (read as unknown)
``random_state_keys`` uint32 [624], the Mersenne Twister state of ``random_state``
``<parameter>``       the twelve float32 parameter and optimiser arrays, when fitted
``dataset``           optional JSON of a :class:`lightfm.data.Dataset`'s mappings
``<matrix>_indptr``, ``<matrix>_indices``, ``<matrix>_data``, ``<matrix>_shape``
                      optional CSR matrices saved with the model (``user_features``,
                      ``item_features``, ``interactions``)

``fit_inputs`` maps ``"user"`` and ``"item"`` to null (unknown) or
``{"n_ids": int, "identity": bool, "n_features": int}``: what that side was last
fit with (:class:`lightfm._state.FitInputs`); a side's saved feature matrix is
what the loaded model serves it with.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
import zipfile
import zlib
from typing import Any

import numpy as np
import scipy.sparse as sp

from ._state import KINDS, SIDES, FitInputs, ModelState
from ._validation import all_finite, is_int, to_features

FORMAT_NAME = "lightfm-ng model"
# The first bytes of a zip archive (an .npz), as opposed to the JSON Dataset files.
ZIP_MAGIC = b"PK\x03\x04"
FORMAT_VERSION = 1
_MT_KEYS = 624


def _text(value: str) -> np.ndarray:
    return np.array(value, dtype=np.str_)


# Deflate compresses at most about 1032:1; a larger claimed ratio is a lie (a zip bomb).
_MAX_DEFLATE_RATIO = 1100
# Temporary files of a save are named ``.<target>.lightfm-partial-<random>`` beside the target.
_PARTIAL = ".lightfm-partial-"
# A partial file untouched for this long belongs to a save that was killed, not one still writing.
_STALE_AFTER_S = 600


def require_regular_file(path: str) -> None:
    """Refuse what exists but is not a regular file: a device such as /dev/zero would be read
    without end. A missing path is left to ``open`` (FileNotFoundError)."""
    if os.path.exists(path) and not os.path.isfile(path):
        raise ValueError(f"{path} is not a regular file (a directory, device or pipe).")


def write_atomic(path, write) -> None:
    """Call ``write(file)`` on a temporary file next to ``path``, then rename it onto ``path``.

    An error part-way leaves any previous file at ``path`` untouched and no
    partial file behind. A process killed part-way cannot clean up: its
    temporary file, recognisable by name, is removed by the next successful
    save of the same target once it has not been written to for ten minutes.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    prefix = f".{os.path.basename(path)}{_PARTIAL}"
    handle, temporary = tempfile.mkstemp(prefix=prefix, dir=directory)
    try:
        # mkstemp creates the file private (0600); give it the mode open() would have given it.
        os.chmod(temporary, 0o666 & ~_umask())
        with os.fdopen(handle, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(temporary)
        raise
    _remove_stale_partials(directory, prefix)


def _umask() -> int:
    """The process's umask, read without changing it where the system allows (Linux)."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    # Elsewhere the only way is to set it and restore it at once.
    umask = os.umask(0o022)
    os.umask(umask)
    return umask


def _remove_stale_partials(directory: str, prefix: str) -> None:
    now = time.time()
    with contextlib.suppress(OSError):
        for entry in os.scandir(directory):
            if entry.name.startswith(prefix) and entry.is_file(follow_symlinks=False):
                with contextlib.suppress(OSError):
                    if now - entry.stat(follow_symlinks=False).st_mtime > _STALE_AFTER_S:
                        os.remove(entry.path)


MATRIX_NAMES = ("user_features", "item_features", "interactions")
# The fields of a side's record in the metadata's "fit_inputs" (its feature matrix is saved apart).
FIT_RECORD = ("n_ids", "identity", "n_features")


def save_model(
    path,
    hyperparameters: dict,
    random_state: np.random.RandomState,
    parameters: dict | None,
    dataset_json: str | None,
    matrices: dict,
    extra_metadata: dict | None = None,
):
    """Write a model file (see the module docstring) atomically; ``matrices`` maps names to CSR matrices,
    ``extra_metadata`` holds the further keys of ``metadata``."""
    _, keys, position, has_gauss, cached_gaussian = random_state.get_state(legacy=True)
    metadata = {
        "hyperparameters": hyperparameters,
        "random_state": {"position": int(position), "has_gauss": int(has_gauss), "cached_gaussian": cached_gaussian},
        "fitted": parameters is not None,
        **(extra_metadata or {}),
    }
    arrays: dict[str, Any] = {
        "format": _text(FORMAT_NAME),
        "format_version": np.array(FORMAT_VERSION, dtype=np.int64),
        "metadata": _text(json.dumps(metadata)),
        "random_state_keys": np.asarray(keys, dtype=np.uint32),
    }
    arrays.update(parameters or {})
    if dataset_json is not None:
        arrays["dataset"] = _text(dataset_json)
    for name, matrix in matrices.items():
        arrays[f"{name}_indptr"] = matrix.indptr.astype(np.int64)
        arrays[f"{name}_indices"] = matrix.indices.astype(np.int32)
        arrays[f"{name}_data"] = matrix.data.astype(np.float32)
        arrays[f"{name}_shape"] = np.array(matrix.shape, dtype=np.int64)
    write_atomic(path, lambda file: np.savez(file, **arrays))


class ModelFile:
    """A model file opened for validated reading; every problem is a ValueError naming it."""

    def __init__(self, path):
        self.path = os.fspath(path)
        require_regular_file(self.path)
        with open(self.path, "rb") as file:
            magic = file.read(len(ZIP_MAGIC))
        if magic != ZIP_MAGIC:
            raise ValueError(f"{self.path} is not a LightFM model file: it is not an .npz archive.")
        try:
            self._archive = np.load(self.path, allow_pickle=False)
        except (zipfile.BadZipFile, ValueError, OSError, EOFError, NotImplementedError) as error:
            raise ValueError(f"{self.path} is truncated or corrupt: {error}.") from None
        if "format" not in self._archive.files or self.text("format") != FORMAT_NAME:
            raise ValueError(f"{self.path} is not a LightFM model file (no {FORMAT_NAME!r} marker).")
        version = self.array("format_version", np.int64, ())
        if int(version) != FORMAT_VERSION:
            raise ValueError(
                f"{self.path} has model format version {int(version)}; this lightfm-ng reads version "
                f"{FORMAT_VERSION}. Upgrade lightfm-ng or re-save the model."
            )

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self._archive.close()

    def has(self, name: str) -> bool:
        return name in self._archive.files

    def _read(self, name: str) -> np.ndarray:
        if name not in self._archive.files:
            raise ValueError(f"{self.path} is missing the array {name!r}: the file is incomplete or not a model.")
        try:
            self._check_declared_size(name)
            return self._archive[name]
        except (zipfile.BadZipFile, ValueError, OSError, EOFError, zlib.error, NotImplementedError) as error:
            raise ValueError(f"{self.path}: the array {name!r} is corrupt ({error}).") from None

    def _check_declared_size(self, name: str) -> None:
        """Refuse an array whose header declares more bytes than its zip member holds.

        NumPy allocates what the header declares before reading: a hostile 1 KB
        file could otherwise ask for terabytes. The member's own size is bounded
        by the file's (a stored member) or by deflate's largest ratio.
        """
        info = self._archive.zip.getinfo(f"{name}.npy")
        if info.file_size > _MAX_DEFLATE_RATIO * info.compress_size + 2**20:
            raise ValueError(f"its zip entry claims {info.file_size} bytes from {info.compress_size}")
        with self._archive.zip.open(info) as member:
            version = np.lib.format.read_magic(member)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(member)
            else:
                shape, _, dtype = np.lib.format.read_array_header_2_0(member)
        declared = int(np.prod(shape, dtype=object)) * dtype.itemsize
        if declared > info.file_size:
            raise ValueError(f"its header declares {declared} bytes but the file holds {info.file_size}")

    def array(self, name: str, dtype, shape) -> np.ndarray:
        """The array ``name``, checked to have ``dtype`` and ``shape`` (None in shape: any length)."""
        value = self._read(name)
        if value.dtype != np.dtype(dtype):
            raise ValueError(f"{self.path}: the array {name!r} has dtype {value.dtype}, expected {np.dtype(dtype)}.")
        if value.ndim != len(shape) or any(
            want is not None and got != want for got, want in zip(value.shape, shape, strict=True)
        ):
            expected = str(tuple("any" if want is None else want for want in shape)).replace("'", "")
            raise ValueError(f"{self.path}: the array {name!r} has shape {value.shape}, expected {expected}.")
        return value

    def text(self, name: str) -> str:
        value = self._read(name)
        if value.dtype.kind != "U" or value.ndim != 0:
            raise ValueError(f"{self.path}: {name!r} must be a text scalar, got {value.dtype} {value.shape}.")
        return str(value)

    def json(self, name: str):
        try:
            return json.loads(self.text(name))
        except json.JSONDecodeError as error:
            raise ValueError(f"{self.path}: {name!r} is not valid JSON ({error}).") from None

    def csr(self, name: str):
        """The CSR matrix ``name``, checked to be well formed and finite; None if absent."""
        if not self.has(f"{name}_shape"):
            return None
        shape = tuple(int(v) for v in self.array(f"{name}_shape", np.int64, (2,)))
        indptr = self.array(f"{name}_indptr", np.int64, (None,))
        indices = self.array(f"{name}_indices", np.int32, (None,))
        data = self.array(f"{name}_data", np.float32, (indices.size,))
        try:
            if min(shape) < 0:
                raise ValueError("negative shape")
            matrix = sp.csr_matrix((data, indices, indptr), shape=shape)
            matrix.check_format(full_check=True)
        except ValueError as error:
            raise ValueError(f"{self.path}: the matrix {name!r} is malformed ({error}).") from None
        if not all_finite(data):
            raise ValueError(f"{self.path}: the matrix {name!r} holds non-finite values.")
        return matrix

    def state(self, no_components: int) -> ModelState:
        """The model's twelve arrays, each checked: dtype, shape, finite, accumulators >= 0."""
        state = ModelState()
        for side in SIDES:
            n_rows = self.array(f"{side}_embeddings", np.float32, (None, no_components)).shape[0]
            for kind in KINDS:
                name = f"{side}_{kind}"
                shape = (n_rows, no_components) if kind.startswith("embedding") else (n_rows,)
                array = np.ascontiguousarray(self.array(name, np.float32, shape))
                if not all_finite(array):
                    raise ValueError(f"{self.path}: the array {name!r} holds non-finite values.")
                if kind in ("embedding_gradients", "embedding_momentum", "bias_gradients", "bias_momentum"):
                    if array.size and array.min() < 0:
                        raise ValueError(f"{self.path}: the array {name!r} holds negative accumulators.")
                state.arrays[name] = array
        return state

    def initial_random_state(self, metadata: dict):
        """The seed the model was created with: an int, or None (unknown, or not an int)."""
        seed = metadata.get("initial_random_state")
        if seed is not None and not (is_int(seed) and 0 <= seed < 2**32):
            raise ValueError(f"{self.path}: 'initial_random_state' in 'metadata' must be null or a 32-bit seed.")
        return seed

    def fit_inputs(self, metadata: dict, state: ModelState) -> dict:
        """What each side of ``state`` serves with: its saved feature matrix, else the record of its fit.

        A saved matrix must have one column per embedding row of its side. Files of earlier versions
        have no records: a side without a saved matrix is then unknown (None).
        """
        records = metadata.get("fit_inputs")
        if records is None:
            records = {}
        if not isinstance(records, dict) or not set(records) <= set(SIDES):
            raise ValueError(f"{self.path}: 'fit_inputs' in 'metadata' must map 'user' and 'item' to records.")
        inputs = {}
        for side in SIDES:
            record = records.get(side)
            if record is not None:
                try:
                    n_ids, identity, n_features = record["n_ids"], record["identity"], record["n_features"]
                except (KeyError, TypeError):
                    n_ids = identity = n_features = None
                if not (is_int(n_ids) and n_ids >= 0 and isinstance(identity, bool) and is_int(n_features)):
                    raise ValueError(f"{self.path}: the {side} record of 'fit_inputs' in 'metadata' is malformed.")
                record = FitInputs(int(n_ids), identity, int(n_features), None)
            matrix = self.csr(f"{side}_features")
            if matrix is None:
                inputs[side] = record
                continue
            features = to_features(matrix, 0, f"{side}_features")
            if features.n_features != state.n_features(side):
                raise ValueError(
                    f"{self.path}: the saved {side}_features has {features.n_features} columns, but the model "
                    f"has {state.n_features(side)} {side} feature embeddings."
                )
            n_ids = record.n_ids if record is not None else features.n_rows
            inputs[side] = FitInputs(
                n_ids, features.identity, features.n_features, None if features.identity else features
            )
        return inputs

    def random_state(self, metadata: dict) -> np.random.RandomState:
        keys = self.array("random_state_keys", np.uint32, (_MT_KEYS,))
        try:
            state = metadata["random_state"]
            position, has_gauss = int(state["position"]), int(state["has_gauss"])
            cached_gaussian = float(state["cached_gaussian"])
        except (KeyError, TypeError, ValueError):
            raise ValueError(f"{self.path}: the random state in 'metadata' is malformed.") from None
        if not 0 <= position <= _MT_KEYS or has_gauss not in (0, 1):
            raise ValueError(f"{self.path}: the random state in 'metadata' is out of range.")
        random_state = np.random.RandomState()
        random_state.set_state(("MT19937", keys, position, has_gauss, cached_gaussian))
        return random_state
