"""The package's metadata: one version everywhere, the changelog's latest entry, the typed marker."""

from __future__ import annotations

import re
from importlib.metadata import version
from pathlib import Path

import lightfm

from .conftest import REPO


def pyproject_version() -> str:
    text = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    return re.search(r'^version = "([^"]+)"$', text, re.MULTILINE).group(1)


def test_one_version():
    """pyproject.toml sets the version; the package reads it from its installed metadata."""
    assert lightfm.__version__ == version("lightfm-ng")
    assert lightfm.__version__ == pyproject_version(), "pyproject.toml changed: reinstall (pip install -e .)"
    assert not re.search(r"__version__\s*=\s*['\"]\d", Path(lightfm.__file__).read_text())


def test_changelog_lists_the_version():
    """CHANGELOG.md's latest version heading (after [Unreleased]) is the package's version."""
    text = (REPO / "CHANGELOG.md").read_text(encoding="utf-8")
    headings = re.findall(r"^## \[([^\]]+)\]", text, re.MULTILINE)
    assert headings[0] == "Unreleased"
    assert headings[1] == pyproject_version()


def test_typed_marker_is_package_data():
    assert (Path(lightfm.__file__).parent / "py.typed").is_file()  # the checkout's, or the wheel's
    assert re.search(r'^lightfm = \["py.typed"\]', (REPO / "pyproject.toml").read_text(), re.MULTILINE)


def test_the_floor_constraints_are_the_declared_lower_bounds():
    """.ci/constraints-floor.txt (what CI installs on the lowest Python) pins each lower bound of
    pyproject.toml's core and test dependencies: the floors declared are the floors tested."""
    text = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    core = re.search(r"^dependencies = \[(.*?)\]", text, re.MULTILINE | re.DOTALL).group(1)
    test = re.search(r"^test = \[(.*?)\]", text, re.MULTILINE | re.DOTALL).group(1)
    declared = {}
    for name, bound in re.findall(r'"([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?>=([0-9.]+)"', core + test):
        declared[name.lower()] = bound
    pinned = dict(
        line.split("==")
        for line in (REPO / ".ci" / "constraints-floor.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    )
    assert set(declared) <= set(pinned), set(declared) - set(pinned)
    for name, bound in declared.items():
        parts = [int(part) for part in bound.split(".")]
        lowest = [int(part) for part in pinned[name].split(".")][: len(parts)]
        assert lowest == parts, f"{name}: pyproject.toml says >={bound}, the floor job installs {pinned[name]}"
