#!/usr/bin/env bash
# CI: the distribution as a user gets it. Builds the sdist and, from it, the wheel (python -m build),
# checks their metadata (twine check --strict), checks that the wheel holds every tracked file of the
# package, installs the wheel into a fresh virtual environment outside the checkout and runs the
# library and the `lightfm` command from there (never the editable checkout).
#
# Fast: the venv sees the system's packages (--system-site-packages) and the wheel is installed with
# --no-deps, so numpy/scipy/numba are not downloaded again; only the build backend is (build's
# isolated environment). About a minute, most of it Numba compiling the demo's kernels.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$(pwd)"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

echo "== python -m build"
python -m build --outdir "$WORK/dist" . >"$WORK/build.log" 2>&1 || { cat "$WORK/build.log"; exit 1; }
WHEEL=$(ls "$WORK"/dist/*.whl)
SDIST=$(ls "$WORK"/dist/*.tar.gz)
echo "built $(basename "$SDIST") $(basename "$WHEEL")"
if [ -n "${LIGHTFM_WHEEL_DIR:-}" ]; then cp "$WHEEL" "$LIGHTFM_WHEEL_DIR/"; fi  # for .ci/run's Python jobs

echo "== twine check"
python -m twine check --strict "$WORK"/dist/*

echo "== contents"
python - "$WHEEL" "$SDIST" <<'EOF'
import subprocess
import sys
import tarfile
import zipfile

wheel, sdist = sys.argv[1:]
tracked = subprocess.run(["git", "ls-files", "lightfm"], capture_output=True, text=True, check=True).stdout.split()
in_wheel = set(zipfile.ZipFile(wheel).namelist())
with tarfile.open(sdist) as archive:
    in_sdist = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
missing = [path for path in tracked if path not in in_wheel]
assert not missing, f"tracked package files missing from the wheel: {missing}"
missing = [path for path in [*tracked, "README.md", "pyproject.toml", "LICENSE", "CHANGELOG.md"] if path not in in_sdist]
assert not missing, f"files missing from the sdist: {missing}"
assert "lightfm/py.typed" in in_wheel, "lightfm/py.typed (PEP 561 marker) is not in the wheel"
assert any(name.endswith(".dist-info/licenses/LICENSE") for name in in_wheel), "the wheel has no LICENSE"
stray = sorted({name.split("/")[0] for name in in_wheel} - {"lightfm"} - {n.split("/")[0] for n in in_wheel if ".dist-info/" in n})
assert not stray, f"the wheel installs more than the lightfm package: {stray}"
print(f"wheel: {len(in_wheel)} files, every one of the {len(tracked)} tracked package files")
EOF

echo "== install into a fresh venv (outside the checkout)"
python -m venv --system-site-packages "$WORK/venv"
"$WORK/venv/bin/python" -m pip install -q --no-deps "$WHEEL"
cd "$WORK"  # not the checkout: `import lightfm` must find the wheel's copy
export NUMBA_CACHE_DIR="$WORK/numba-cache"
"$WORK/venv/bin/python" - "$WORK/venv" "$REPO" <<'EOF'
import sys
from importlib.metadata import version
from pathlib import Path

import lightfm

venv, repo = (Path(arg).resolve() for arg in sys.argv[1:])
where = Path(lightfm.__file__).resolve()
print("lightfm", lightfm.__version__, "from", where)
assert where.is_relative_to(venv), f"imported {where}, not the wheel installed in {venv}"
assert not where.is_relative_to(repo), where
assert lightfm.__version__ == version("lightfm-ng"), (lightfm.__version__, version("lightfm-ng"))
lightfm.LightFM
from lightfm import cross_validation, data, datasets, evaluation  # noqa: F401,E401
EOF

LIGHTFM="$WORK/venv/bin/lightfm"
echo "== $LIGHTFM"
"$LIGHTFM" --help >/dev/null
VERSION=$(basename "$WHEEL" | cut -d- -f2)
test "$("$LIGHTFM" --version)" = "lightfm-ng $VERSION" || { echo "lightfm --version is not lightfm-ng $VERSION"; exit 1; }
"$LIGHTFM" demo --export "$WORK/demo-data" >/dev/null
test -s "$WORK/demo-data/plays.csv"
"$LIGHTFM" demo --quiet --epochs 2 --threads 2 >"$WORK/demo.log" 2>&1 || { cat "$WORK/demo.log"; exit 1; }
tail -n 1 "$WORK/demo.log"
echo "wheel OK: $(basename "$WHEEL")"
