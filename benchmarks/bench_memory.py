"""Peak memory of training, ours against the reference LightFM, on data loaded from a file.

The generated set is written once to an ``.npz`` (so no process carries the generator's
garbage); then each implementation, in a fresh process, loads it, fits one 50-row warm-up
(loading the JIT code) and one epoch, and reports its resident memory before the fit and
its peak. Ours and the reference alternate.

    python benchmarks/bench_memory.py --reference-python /tmp/ref/bin/python [--interactions 10000000 30000000]
"""

import argparse
import sys
import tempfile
from pathlib import Path

from _side import run_json

HERE = Path(__file__).resolve().parent

CHILD = r"""
import json, sys, time
import numpy as np, scipy.sparse as sp
from lightfm import LightFM

path, loss, benchmarks = sys.argv[1:4]
sys.path.append(benchmarks)  # after the interpreter's own lightfm, which stays first
from _worker import rss_mb

arrays = np.load(path)
train = sp.coo_matrix((arrays["data"], (arrays["row"], arrays["col"])), shape=tuple(arrays["shape"]))
LightFM(no_components=32, loss=loss, random_state=0).fit(train.tocsr()[:50].tocoo(), num_threads=2)
before = rss_mb("VmRSS")
start = time.perf_counter()
LightFM(no_components=32, loss=loss, random_state=0).fit(train, num_threads=2)
seconds = time.perf_counter() - start
# VmHWM, not ru_maxrss: the latter counts the parent's memory inherited before exec.
peak = rss_mb("VmHWM")
print(json.dumps({"before": before, "peak": peak, "fit": seconds, "nnz": int(train.nnz)}))
"""


def measure(python, path, loss):
    return run_json(python, "-c", CHILD, path, loss, HERE)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference-python", default="/tmp/ref/bin/python")
    parser.add_argument("--interactions", type=int, nargs="+", default=[10_000_000, 30_000_000])
    parser.add_argument("--losses", nargs="+", default=["bpr", "logistic"])
    args = parser.parse_args()
    sys.path.insert(0, str(HERE))
    import numpy as np
    from _worker import generated

    print("| drawn | train nnz | loss | ours RSS before -> peak (MB) | reference (MB) | ours / ref fit (s) |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.interactions:
            train, _ = generated(n_interactions=n)
            path = Path(tmp) / f"train{n}.npz"
            np.savez(path, row=train.row, col=train.col, data=train.data, shape=np.array(train.shape))
            del train
            for loss in args.losses:
                ours = measure(sys.executable, path, loss)
                ref = measure(args.reference_python, path, loss)
                print(
                    f"| {n:,} | {ours['nnz']:,} | {loss} | {ours['before']:.0f} -> {ours['peak']:.0f} | "
                    f"{ref['before']:.0f} -> {ref['peak']:.0f} | {ours['fit']:.1f} / {ref['fit']:.1f} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
