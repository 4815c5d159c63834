"""Dataset loaders."""

from .movielens import fetch_movielens
from .stackexchange import fetch_stackexchange

__all__ = ["fetch_movielens", "fetch_stackexchange"]
