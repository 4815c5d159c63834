"""The package's metadata: one version everywhere, the changelog's latest entry, the typed marker."""

from __future__ import annotations

import re
from importlib.metadata import version

import lightfm

from .conftest import REPO


def pyproject_version() -> str:
    text = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    return re.search(r'^version = "([^"]+)"$', text, re.MULTILINE).group(1)


def test_one_version():
    """pyproject.toml sets the version; the package reads it from its installed metadata."""
    assert lightfm.__version__ == version("lightfm-ng")
    assert lightfm.__version__ == pyproject_version(), "pyproject.toml changed: reinstall (pip install -e .)"
    assert not re.search(r"__version__\s*=\s*['\"]\d", (REPO / "lightfm" / "__init__.py").read_text())


def test_changelog_lists_the_version():
    """CHANGELOG.md's latest version heading (after [Unreleased]) is the package's version."""
    text = (REPO / "CHANGELOG.md").read_text(encoding="utf-8")
    headings = re.findall(r"^## \[([^\]]+)\]", text, re.MULTILINE)
    assert headings[0] == "Unreleased"
    assert headings[1] == pyproject_version()


def test_typed_marker_is_package_data():
    assert (REPO / "lightfm" / "py.typed").is_file()
    assert re.search(r'^lightfm = \["py.typed"\]', (REPO / "pyproject.toml").read_text(), re.MULTILINE)
