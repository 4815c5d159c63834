"""``python -m lightfm``: the ``lightfm`` command (see :mod:`lightfm.cli`)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
