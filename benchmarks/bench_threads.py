"""Training throughput and memory by thread count, ours against the reference LightFM.

Each cell is a fresh process (``_worker.py``): one warm-up fit on 50 rows, then one timed epoch;
ours and the reference alternate. Rows: samples per second, the process's peak resident memory
while fitting (MB; data, model and runtime included) and its peak over the whole run (with
evaluation of 2,000 test users, which scores on the same threads). Data: the generated 10M set
(``generated``, 200k users x 50k items, 7.7M train pairs) and a hybrid one
(``generated-features``: 20k users x 50k items, 1.6M train pairs, about 10 features per item).
Variants: ``default``; ``alpha`` and ``alpha-1e-3`` (item and user alpha 1e-6 or 1e-3: the threads' shares of
the regularisation scale, refreshed rarely or at almost every step);
``no-replicas`` (ours without per-thread copies of hot feature rows, to measure them).

    python benchmarks/bench_threads.py --threads 1 2 4 8 16 [--reference-python /tmp/ref/bin/python]
    python benchmarks/bench_threads.py --data generated-features --variants default no-replicas --losses warp

The 1-16 thread table needs a machine with 16 cores (``benchmarks/device_threads.sh`` runs it there;
not measured yet for this version, see BENCHMARKS.md, "Threads"); memory can be measured anywhere
(threads beyond the cores only run slower).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from _side import run_json

HERE = Path(__file__).resolve().parent
WORKER = HERE / "_worker.py"
VARIANTS = {"default": {}, "alpha": {"alpha": 1e-6}, "alpha-1e-3": {"alpha": 1e-3}, "no-replicas": {"replicas": False}}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2, 4, 8, 16])
    parser.add_argument("--data", nargs="+", default=["generated"], choices=["generated", "generated-features"])
    parser.add_argument("--losses", nargs="+", default=["bpr", "warp"])
    parser.add_argument("--variants", nargs="+", default=["default"], choices=list(VARIANTS))
    parser.add_argument("--reference-python", default=None, help="also run the reference (default: ours only)")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--evaluate", action="store_true", help="also evaluate 2,000 test users (whole-run peak)")
    args = parser.parse_args()
    env = dict(os.environ)
    env.setdefault("LIGHTFM_BENCH_CACHE", os.path.join(tempfile.gettempdir(), "lightfm-bench"))
    sides = [("ours", sys.executable)]
    if args.reference_python:
        sides.append(("ref", args.reference_python))
    print("| data | loss | variant | threads | ours M samples/s | ref M samples/s | ours / ref | "
          "fit peak MB ours / ref | run peak MB ours / ref |")  # fmt: skip
    print("|" + "---|" * 9)
    for data in args.data:
        for loss in args.losses:
            for variant in args.variants:
                for threads in args.threads:
                    config = {"data": data, "loss": loss, "threads": threads, "components": 32, "epochs": 1}
                    config.update(VARIANTS[variant], evaluate=args.evaluate)
                    runs = {name: [] for name, _ in sides}
                    for _ in range(args.repeats):
                        for name, python in sides:
                            if name == "ref" and variant == "no-replicas":
                                continue
                            result = _run(python, config, env)
                            if result is not None:
                                runs[name].append(result)
                    print(_row(data, loss, variant, threads, runs), flush=True)


def _run(python, config, env):
    """One fresh process's result, or None if it failed or hung (its cells then read "-")."""
    try:
        return run_json(python, WORKER, json.dumps(config), env=env, timeout=300)
    except (OSError, subprocess.CalledProcessError, subprocess.TimeoutExpired) as error:
        print(f"{python} {json.dumps(config)}: {type(error).__name__}", file=sys.stderr)
        return None


def _row(data, loss, variant, threads, runs):
    def median(name, key, scale=1.0):
        values = [r[key] for r in runs.get(name, []) if r.get(key) is not None]
        return statistics.median(values) * scale if values else None

    def fmt(value, digits=2):
        return "-" if value is None else f"{value:.{digits}f}"

    speed = {name: median(name, "samples_per_s", 1e-6) for name in ("ours", "ref")}
    ratio = speed["ours"] / speed["ref"] if speed["ours"] and speed["ref"] else None
    fit_peak = " / ".join(fmt(median(name, "fit_peak_rss_mb"), 0) for name in ("ours", "ref"))
    run_peak = " / ".join(fmt(median(name, "peak_rss_mb"), 0) for name in ("ours", "ref"))
    return (
        f"| {data} | {loss} | {variant} | {threads} | {fmt(speed['ours'])} | {fmt(speed['ref'])} | "
        f"{fmt(ratio) + 'x' if ratio else '-'} | {fit_peak} | {run_peak} |"
    )


if __name__ == "__main__":
    main()
