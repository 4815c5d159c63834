#!/usr/bin/env python
"""Every supported Python that is installed here: a fresh venv each, the wheel installed, the demo
timed from an empty Numba cache, the default test suite; a Markdown table of the outcomes.

    python tools/python_matrix.py                      # every 3.10-3.14 interpreter found
    python tools/python_matrix.py --python /usr/bin/python3.12 --jobs 2
    python tools/python_matrix.py --constraints .ci/constraints-floor.txt --python python3.10

Interpreters are looked for as pyenv versions (~/.pyenv/versions/3.X.*/bin/python, the newest patch
of each minor), then python3.X on PATH. The wheel is built once (``python -m build --wheel``, or
--wheel FILE) and installed with its test extra into a venv per Python (with --constraints, pinned
as that file says; else the newest releases). The tests run from a copy of the checkout without the
``lightfm`` package, so that they import the installed wheel, not the checkout (the package's
doctests are therefore not run here). Each venv is removed afterwards (--keep keeps them).
"""

from __future__ import annotations

import argparse
import glob
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MINORS = ["3.10", "3.11", "3.12", "3.13", "3.14"]


def find_pythons() -> dict[str, str]:
    """``{minor: interpreter}`` for every supported minor found."""
    found = {}
    for minor in MINORS:
        candidates = glob.glob(os.path.expanduser(f"~/.pyenv/versions/{minor}.*/bin/python"))
        candidates = [c for c in candidates if re.search(rf"/{re.escape(minor)}\.\d+/bin/python$", c)]
        if candidates:
            found[minor] = max(candidates, key=lambda c: int(c.split("/")[-3].split(".")[2]))
        elif shutil.which(f"python{minor}"):
            found[minor] = shutil.which(f"python{minor}")
    return found


def run(command, log, **kwargs) -> tuple[int, float]:
    """Run ``command`` with its output appended to ``log``; (exit status, seconds)."""
    start = time.perf_counter()
    with open(log, "a") as out:
        out.write(f"\n$ {' '.join(map(str, command))}\n")
        out.flush()
        status = subprocess.run(list(map(str, command)), stdout=out, stderr=subprocess.STDOUT, **kwargs).returncode
    return status, time.perf_counter() - start


def build_wheel(work: Path) -> Path:
    out = work / "dist"
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--outdir", out, REPO], check=True, capture_output=True)
    return next(out.glob("*.whl"))


def test_tree(work: Path) -> Path:
    """The checkout without the package: tests, docs, README, pyproject.toml, ..."""
    tree = work / "checkout"
    tree.mkdir()
    ignore = shutil.ignore_patterns(".git", "__pycache__", "*.egg-info", "build", "dist", "site", ".pytest_cache")
    for entry in REPO.iterdir():
        skipped = entry.name in ("lightfm", "build", "dist", "site") or entry.name.endswith(".egg-info")
        if skipped or (entry.name.startswith(".") and entry.name != ".ci"):  # .git, caches
            continue
        if entry.is_dir():
            shutil.copytree(entry, tree / entry.name, ignore=ignore, symlinks=True)
        else:
            shutil.copy2(entry, tree / entry.name)
    return tree


def counts(log: Path) -> str:
    """pytest's summary line, e.g. '812 passed, 3 skipped, 40 deselected'."""
    lines = [line for line in log.read_text(errors="replace").splitlines() if re.search(r" in [\d.]+s", line)]
    if not lines:
        return "no summary"
    summary = re.sub(r"=+", "", lines[-1]).strip()
    return re.sub(r" in [\d.]+s.*$", "", summary)


def one(minor, python, wheel, tree, work, args) -> dict:
    venv = work / f"venv-{minor}"
    log = work / f"python{minor}.log"
    row = {"python": minor, "interpreter": python, "log": log}
    version = subprocess.run([python, "-c", "import platform; print(platform.python_version())"],
                             capture_output=True, text=True).stdout.strip()  # fmt: skip
    row["python"] = version or minor
    status, _ = run([python, "-m", "venv", venv], log)
    bin_ = venv / "bin"
    if status == 0:
        run([bin_ / "python", "-m", "pip", "install", "-q", "-U", "pip"], log)
        install = [bin_ / "python", "-m", "pip", "install", "-q", f"{wheel}[test]"]
        if args.constraints:
            install += ["-c", Path(args.constraints).resolve()]
        status, row["install_s"] = run(install, log)
    if status != 0:
        row["outcome"] = "install failed"
        return row
    versions = subprocess.run(
        [bin_ / "python", "-c", "import numpy, scipy, numba, pandas; print(numpy.__version__, scipy.__version__, "
         "numba.__version__, pandas.__version__)"], capture_output=True, text=True,
    ).stdout.split()  # fmt: skip
    row["deps"] = "numpy {} · scipy {} · numba {} · pandas {}".format(*versions) if len(versions) == 4 else "?"
    env = dict(os.environ, NUMBA_CACHE_DIR=str(work / f"numba-cache-{minor}"))
    env.pop("PYTHONPATH", None)
    scratch = work / f"demo-{minor}"
    scratch.mkdir()
    status, row["demo_s"] = run([bin_ / "lightfm", "demo", "--quiet"], log, cwd=scratch, env=env)
    row["demo"] = "ok" if status == 0 else f"failed ({status})"
    pytest = [bin_ / "pytest", "-q", "-p", "no:cacheprovider", "-n", str(args.jobs), "tests"]
    status, row["suite_s"] = run(pytest, log, cwd=tree, env=env)
    row["tests"] = counts(log)
    row["outcome"] = "green" if status == 0 and row["demo"] == "ok" else f"pytest exit {status}, demo {row['demo']}"
    if not args.keep:
        shutil.rmtree(venv, ignore_errors=True)
    return row


def table(rows) -> str:
    out = [
        "| Python | Outcome | Tests (default suite) | Suite | Cold `lightfm demo` | Installed |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        suite = f"{r['suite_s'] / 60:.1f} min" if "suite_s" in r else "-"
        demo = f"{r['demo_s']:.0f} s" if "demo_s" in r else "-"
        out.append(
            f"| {r['python']} | {r['outcome']} | {r.get('tests', '-')} | {suite} | {demo} | {r.get('deps', '-')} |"
        )
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--python", action="append", help="an interpreter (repeatable; default: all found)")
    parser.add_argument("--wheel", help="the wheel to install (default: built once from the checkout)")
    parser.add_argument("--constraints", help="pip constraints file (e.g. .ci/constraints-floor.txt)")
    parser.add_argument("--jobs", type=int, default=2, help="pytest -n (default 2)")
    parser.add_argument("--keep", action="store_true", help="keep the venvs and logs")
    parser.add_argument("--output", help="also write the table to this file")
    args = parser.parse_args()
    if args.python:
        pythons = {}
        for python in args.python:
            minor = subprocess.run([python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                                   capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
            pythons[minor] = python
    else:
        pythons = find_pythons()
        for minor in MINORS:
            if minor not in pythons:
                print(f"Python {minor}: no interpreter found, not tested", flush=True)
    work = Path(tempfile.mkdtemp(prefix="lightfm-matrix-"))
    wheel = Path(args.wheel).resolve() if args.wheel else build_wheel(work)
    print(f"wheel {wheel.name}; work in {work}", flush=True)
    tree = test_tree(work)
    rows = []
    for minor, python in pythons.items():
        print(f"Python {minor} ({python}) ...", flush=True)
        row = one(minor, python, wheel, tree, work, args)
        print(f"  {row['outcome']}: {row.get('tests', '')}; demo {row.get('demo_s', 0):.0f} s; log {row['log']}",
              flush=True)  # fmt: skip
        rows.append(row)
    when = time.strftime("%Y-%m-%d")
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Linux {platform.release()}"
    result = f"{table(rows)}\n\nMeasured {when} on {machine}; pytest -n {args.jobs}; " + (
        f"pinned by {args.constraints}." if args.constraints else "newest releases of every dependency."
    )
    print(result)
    if args.output:
        Path(args.output).write_text(result + "\n")
    if not args.keep:
        shutil.rmtree(tree, ignore_errors=True)
    return 0 if all(r["outcome"] == "green" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
