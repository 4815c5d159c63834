"""The package's import structure: imports run one way, core -> backends interface -> engines.

The core (every module of :mod:`lightfm` outside :mod:`lightfm.backends`) imports only the
interface package :mod:`lightfm.backends` (its registry, :mod:`~lightfm.backends.base`, and what the
engines share, :mod:`~lightfm.backends._common` and :mod:`~lightfm.backends._host_kernels`), never
an engine; an engine imports nothing of the core and no other engine; the shared modules import no
engine, and the constants both engines train with are defined once. Checked on the source (every
import statement, function-level ones included), so an import that only runs on some path counts.
"""

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

import lightfm

# The package under test, wherever it is installed from (the checkout, or a wheel in a fresh venv).
PACKAGE = Path(lightfm.__file__).resolve().parent
ENGINES = ("lightfm.backends.cpu", "lightfm.backends.cuda")
SHARED = ("lightfm.backends.base", "lightfm.backends._common", "lightfm.backends._host_kernels")


def _module_name(path):
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules():
    modules = {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}
    assert "lightfm.backends.cpu" in modules, f"no package source under {PACKAGE}"
    return modules


def _imports(name, path):
    """Every module ``name`` imports (absolute names; ``from x import y`` counts as x and x.y)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def _within(module, packages):
    return any(module == p or module.startswith(p + ".") for p in packages)


def _violations(importers, forbidden):
    return sorted(
        (name, imported)
        for name, path in _modules().items()
        if importers(name)
        for imported in _imports(name, path)
        if forbidden(name, imported)
    )


def test_the_core_imports_no_engine():
    """Core modules reach an engine through the registry (``get_backend``) and the interface only."""
    assert not _violations(lambda name: not _within(name, ("lightfm.backends",)), lambda _, m: _within(m, ENGINES))


def test_engines_import_nothing_of_the_core():
    """What an engine needs of the core (Side, ParameterError, allocation, seeds) is in lightfm.backends."""

    def core(_, module):
        return _within(module, ("lightfm",)) and not _within(module, ("lightfm.backends",))

    assert not _violations(lambda name: _within(name, ENGINES), core)


def test_no_engine_imports_another():
    """The CUDA engine takes nothing private from the CPU engine (nor the reverse); fold-in on a
    CUDA model goes to the CPU engine through the registry."""

    def other_engine(name, module):
        own = next(engine for engine in ENGINES if _within(name, (engine,)))
        return _within(module, ENGINES) and not _within(module, (own,))

    assert not _violations(lambda name: _within(name, ENGINES), other_engine)


def test_shared_modules_import_no_engine():
    assert not _violations(lambda name: name in SHARED, lambda _, m: _within(m, ENGINES))
    # _common is imported with `import lightfm`: no Numba, and neither shared module imports numba.cuda.
    assert not _violations(lambda name: name == "lightfm.backends._common", lambda _, m: _within(m, ("numba",)))
    assert not _violations(lambda name: name in SHARED, lambda _, m: _within(m, ("numba.cuda",)))


def _shared_constants():
    tree = ast.parse((PACKAGE / "backends" / "_common.py").read_text())
    names = set()
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else []
        for target in targets:
            for element in target.elts if isinstance(target, ast.Tuple) else [target]:
                if isinstance(element, ast.Name) and element.id.isupper():
                    names.add(element.id)
    return names


def test_every_shared_constant_is_defined_once():
    """No engine module assigns a name that lightfm.backends._common defines: both import it."""
    shared = _shared_constants()
    assert {"LOSS_CODES", "RING_SIZE", "FOLD_ABOVE", "FLUSH_BELOW", "MAX_WARP_LOSS", "MAX_BPR_DRAWS"} <= shared
    assert {"RNG_MULTIPLIER", "ACC_MAX", "GROWTH_BITS", "CACHE_LINE", "USER", "ITEM", "MAX_GROWTH"} <= shared
    redefined = []
    for name, path in _modules().items():
        if not _within(name, ENGINES):
            continue
        for node in ast.parse(path.read_text()).body:
            targets = node.targets if isinstance(node, ast.Assign) else []
            for target in targets:
                for element in target.elts if isinstance(target, ast.Tuple) else [target]:
                    if isinstance(element, ast.Name) and element.id in shared:
                        redefined.append((name, element.id))
    assert not redefined


def test_both_engines_read_the_same_constants():
    """The CUDA kernels' constants are the very objects the CPU kernels use (under the simulator)."""
    code = """
import lightfm.backends._common as C
from lightfm.backends.cpu.kernels import candidates, epoch, losses, rng, schedules, sgd
from lightfm.backends.cuda.kernels import rng as cuda_rng, schedules as cuda_schedules, sgd as cuda_sgd, train
pairs = [(cuda_rng.RING_SIZE, candidates.RING_SIZE), (train.FOLD_ABOVE, epoch.FOLD_ABOVE),
         (train.MAX_WARP_LOSS, losses.MAX_WARP_LOSS), (train.MAX_BPR_DRAWS, losses.MAX_BPR_DRAWS),
         (cuda_rng.RNG_MULTIPLIER, rng.RNG_MULTIPLIER), (cuda_schedules.ACC_MAX, schedules.ACC_MAX),
         (cuda_sgd.FLUSH_BELOW, sgd.FLUSH_BELOW), (train.LOGISTIC, epoch.LOGISTIC), (train.BPR, epoch.BPR),
         (train.WARP, epoch.WARP), (cuda_sgd.MAX_GROWTH, sgd.MAX_GROWTH)]
assert all(a is b for a, b in pairs), pairs
assert cuda_rng.RING_SIZE is C.RING_SIZE and cuda_rng.RNG_MULTIPLIER is C.RNG_MULTIPLIER
"""
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env)
    if result.returncode and "No module named 'numba.cuda'" in result.stderr:
        pytest.skip("Numba's CUDA target is not installed")
    assert result.returncode == 0, result.stderr
