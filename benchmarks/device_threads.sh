#!/usr/bin/env bash
# The thread tables of BENCHMARKS.md ("Threads"), on a machine with 16 CPU cores, in about 8-9
# minutes. Not measured yet for this version. Two parts:
#   table: the 1-16 thread scaling table (the project's script ../shared/bench/device_threads.sh,
#          outside this repository: ours, the original and implicit's BPR on its generated 10M set);
#   extra: what that table leaves out, at 1 and 16 threads (benchmarks/bench_threads.py, one fresh
#          process per side and row): regularised BPR (the threads' shares of the regularisation
#          scale, alpha 1e-6 and 1e-3), and the hybrid set with and without per-thread copies of
#          hot feature rows.
#
# The script needs no network. Prepare once, in the project root on a machine that has one:
#   echo /.whl/ >> .git/info/exclude; echo /.bench/ >> .git/info/exclude
#   cp -r ../shared/bench .bench
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#     --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl lightfm-next implicit
# Copy the checkout with .whl and .bench to the 16-core machine and run, in the project root:
#   bash benchmarks/device_threads.sh           # both parts, about 8-9 minutes
# Where one command may run at most 10 minutes, run the parts one at a time:
#   bash benchmarks/device_threads.sh table     # the scaling table, about 6 minutes
#   bash benchmarks/device_threads.sh extra     # the other rows, about 2-3 minutes
# Everything printed is also in $OUT/threads.txt ($OUT defaults to /tmp). THREADS="16 8" shortens
# the table.
set -u
export PYTHONUNBUFFERED=1 LIGHTFM_BENCH_CACHE=/tmp/lightfm-bench
export OUT=${OUT:-/tmp}
ROOT=$PWD
PART=${1:-all}
if [ "$PART" != extra ]; then
  bash .bench/device_threads.sh  # installs the original in /tmp/ref and implicit in /tmp/imp
fi
if [ "$PART" != table ]; then
  [ -d /tmp/ref/lightfm ] || python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/ref \
    .whl/lightfm_next*.whl || echo "original: install failed (its cells will read -)"
  # The original runs from its own folder, ours from the checkout (both import as lightfm).
  printf '#!/bin/sh\nPYTHONPATH=/tmp/ref exec python3 "$@"\n' > /tmp/ref-python && chmod +x /tmp/ref-python
  bench() { PYTHONPATH=$ROOT python3 "$ROOT/benchmarks/bench_threads.py" --threads 16 1 "$@" | tee -a "$OUT/threads.txt"; }
  bench --data generated --losses bpr --variants default alpha alpha-1e-3 --reference-python /tmp/ref-python
  bench --data generated-features --losses warp bpr --variants default no-replicas --reference-python /tmp/ref-python
fi
