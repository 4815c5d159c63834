"""How the training kernels' building blocks are compiled: once each, then inlined by LLVM.

Identity features and the adagrad schedule are passed to the building blocks
as None (no feature matrix, no momentum arrays), and each block branches on
``argument is None``. Numba drops the branch that the argument's type cannot
take before typing the function, so every signature compiles only its own
path and no branch is left in the hot loop (runtime flags cost a factor of four
on WARP: the branches kept LLVM from vectorising). With the JIT disabled it is
an ordinary Python branch.

Each block is a function of its own, compiled once per signature and cached
(:data:`BLOCK_OPTIONS`), and marked ``alwaysinline`` for LLVM
(``forceinline``), which inlines it into every kernel that calls it: the
kernels run the same machine code as with the blocks written out in them,
while Numba types and lowers a block once for all the losses using it, instead
of once per call site of every kernel (Numba's own ``inline="always"``,
which copies the block's IR into its caller before typing). From an empty cache
the first WARP fit compiled in about half the time, and each further variant
(another loss, a feature matrix) in about a third (BENCHMARKS.md).

Left to LLVM's judgement instead (no ``forceinline``), the larger blocks (the
feature-matrix paths) stayed calls, each passing every array field on the
stack and reloading the arrays: hybrid training took 1.2x-1.35x as long,
ids-only up to 1.4x (logistic). ``tests/test_kernels.py`` checks the JIT
against the pure-Python run for every loss, schedule and feature path, and the
engine against its NumPy oracle.
"""

# The building blocks' options: those of the epoch kernels (fast maths, NumPy's error model, no
# reference counting: see .epoch), set here rather than inherited from the first caller, since a
# block compiled once serves every kernel; ``forceinline`` marks it alwaysinline for LLVM.
BLOCK_OPTIONS = dict(cache=True, nogil=True, fastmath=True, forceinline=True, _nrt=False, error_model="numpy")
