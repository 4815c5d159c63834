"""One side of a side-by-side comparison: a fresh process of either interpreter, answering one JSON line."""

import json
import subprocess
import tempfile


def run_json(python, *args, env=None, timeout=None):
    """Run ``python *args`` in a fresh process and return the JSON of its last line of output.

    It runs in the temporary folder, never in the repository, so that the reference's interpreter
    cannot import the repository's ``lightfm`` instead of its own.
    """
    out = subprocess.run(
        [str(python), *map(str, args)],
        capture_output=True,
        text=True,
        check=True,
        cwd=tempfile.gettempdir(),
        env=env,
        timeout=timeout,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])
