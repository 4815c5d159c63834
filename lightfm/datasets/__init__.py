"""Dataset loaders and generators."""

from .movielens import fetch_movielens
from .stackexchange import fetch_stackexchange
from .synthetic import make_synthetic

__all__ = ["fetch_movielens", "fetch_stackexchange", "make_synthetic"]
