"""The ``lightfm`` command: a demo on built-in data; split / train / evaluate / recommend / similar from files.

Every command has ``--help`` with examples. Problems with the input (missing
files or columns, unknown ids, malformed files) end with one line on stderr and
exit status 1, never a traceback.
"""

from ._io import CLIError
from .parser import build_parser, main

__all__ = ["CLIError", "build_parser", "main"]
