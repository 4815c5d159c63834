"""The installed version of lightfm-ng, read from the package metadata (``pyproject.toml`` sets it)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("lightfm-ng")
except PackageNotFoundError:  # imported from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = ["__version__"]
