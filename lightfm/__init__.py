"""lightfm: a Numba reimplementation of the LightFM hybrid recommender (Kula, 2015)."""

from ._validation import ParameterError
from .lightfm import LightFM

__version__ = "0.1.0"

__all__ = ["LightFM", "ParameterError", "__version__"]
