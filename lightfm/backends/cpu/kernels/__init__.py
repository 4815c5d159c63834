"""Numba kernels: plain arrays and scalars in, no sparse objects or estimators.

Importing this package chooses Numba's threading layer before any parallel
kernel runs: the default ``workqueue`` layer aborts the process when parallel
kernels are launched from several Python threads at once, which a web service
calling ``predict`` from a thread pool does. ``omp`` and ``tbb`` are safe; a
layer chosen by the user through ``NUMBA_THREADING_LAYER`` is left alone.
"""

import os
import warnings

import numba
from numba.core.errors import NumbaIRAssumptionWarning

if "NUMBA_THREADING_LAYER" not in os.environ:
    numba.config.THREADING_LAYER_PRIORITY = ["omp", "tbb", "workqueue"]

# Numba's pedantic SSA check misfires on loop variables of functions inlined into
# the kernels (named ``_<function>_v<n>_<variable>``); the generated code is fine.
warnings.filterwarnings("ignore", message=r"(?s).*variable '_\w+_v\d+_", category=NumbaIRAssumptionWarning)
