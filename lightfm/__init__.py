"""lightfm: a Numba reimplementation of the LightFM hybrid recommender (Kula, 2015)."""

from ._validation import InputTypeError, ParameterError
from .lightfm import LightFM
from .version import __version__

# As the original's (``from lightfm import *`` imports the two submodules too), plus the error classes.
__all__ = ["LightFM", "datasets", "evaluation", "__version__", "ParameterError", "InputTypeError"]
