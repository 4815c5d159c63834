"""Collection of the package's doctests (``--doctest-modules`` over ``lightfm/``).

``lightfm.dask`` needs the ``dask`` extra and refuses to import without it: where Dask is not
installed its modules are not collected (``tests/test_dask.py`` skips itself likewise).
"""

from importlib.util import find_spec

collect_ignore_glob = [] if find_spec("distributed") and find_spec("dask") else ["lightfm/dask/*"]
