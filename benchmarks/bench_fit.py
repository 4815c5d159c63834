"""Side-by-side fit benchmark: this package against the reference LightFM (lightfm-next).

Each measurement is a fresh process (both implementations import as ``lightfm``);
ours and the reference alternate, and the table reports medians and ratios.

    python benchmarks/bench_fit.py --reference-python /tmp/ref/bin/python [--repeats 3] [--large]
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

from _side import run_json

HERE = Path(__file__).resolve().parent
WORKER = HERE / "_worker.py"
DATA_HOME = os.environ.get("LIGHTFM_DATA_HOME", str(HERE.parent.parent / "shared" / "data"))


def run(python, config, env=None):
    return run_json(python, WORKER, json.dumps(config), env=env)


def memory(result):
    """'before -> peak' resident MB around the fit, or the whole process's peak where /proc is missing."""
    if result.get("fit_peak_rss_mb") is None:
        return f"{result['peak_rss_mb']:.0f} (process)"
    return f"{result['rss_before_fit_mb']:.0f} -> {result['fit_peak_rss_mb']:.0f}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference-python", default="/tmp/ref/bin/python")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--large", action="store_true", help="also the generated 10M-interaction set")
    parser.add_argument("--only-large", action="store_true", help="only the generated 10M-interaction set")
    args = parser.parse_args()
    ours = sys.executable

    configs = []
    for loss in () if args.only_large else ("logistic", "bpr", "warp", "warp-kos"):
        for threads in (1, 2):
            for components in (32, 64):
                configs.append(
                    {"data": "movielens", "loss": loss, "threads": threads, "components": components, "epochs": 30}
                )
    if args.large or args.only_large:
        for loss in ("warp", "bpr"):
            configs.append({"data": "generated", "loss": loss, "threads": 2, "components": 32, "epochs": 1})
    for config in configs:
        config["data_home"] = DATA_HOME
        config["evaluate"] = config["components"] == 32 and config["threads"] == 2

    # First calls in a fresh process: with an empty Numba cache (compilation) and a warm one (loading).
    first = {"data": "movielens", "data_home": DATA_HOME, "loss": "warp", "threads": 1, "components": 32}
    first.update(epochs=1, evaluate=False, warmup=False)
    cold = run(ours, first, env=dict(os.environ, NUMBA_CACHE_DIR=tempfile.mkdtemp()))
    warm = run(ours, first)
    reference_first = run(args.reference_python, first)

    header = (
        "| data | loss | threads | dim | ours fit (s) | reference fit (s) | speed-up "
        "| ours p@10 / AUC | reference p@10 / AUC | ours / ref evaluation (s) "
        "| ours / ref RSS before fit -> peak in fit (MB) |"
    )
    print(header)
    print("|" + "---|" * 11)
    for config in configs:
        times = {"ours": [], "ref": []}
        last = {}
        for _ in range(args.repeats):
            for name, python in (("ours", ours), ("ref", args.reference_python)):
                result = run(python, config)
                times[name].append(result["fit"])
                last[name] = result
        med = {name: statistics.median(values) for name, values in times.items()}
        quality = {
            name: f"{last[name]['precision@10']:.3f} / {last[name]['auc']:.3f}" if "auc" in last[name] else "-"
            for name in last
        }
        evaluation = f"{last['ours']['eval']:.2f} / {last['ref']['eval']:.2f}" if "eval" in last["ours"] else "-"
        print(
            f"| {config['data']} | {config['loss']} | {config['threads']} | {config['components']} | "
            f"{med['ours']:.3f} | {med['ref']:.3f} | {med['ref'] / med['ours']:.2f}x | {quality['ours']} | "
            f"{quality['ref']} | {evaluation} | {memory(last['ours'])} / {memory(last['ref'])} |",
            flush=True,
        )
    print(
        f"\nFirst WARP fit (1 epoch, MovieLens) in a fresh process: {cold['fit']:.2f} s with an empty Numba cache "
        f"(compilation), {warm['fit']:.2f} s with a warm one (loading); reference {reference_first['fit']:.2f} s."
    )


if __name__ == "__main__":
    main()
