"""Dataset loaders."""

from .movielens import fetch_movielens

__all__ = ["fetch_movielens"]
