#!/usr/bin/env bash
# Is libtorch's CPU arithmetic the same in every process? Starts
# bench/determinism.py PROCESSES times, one after another, with THREADS
# threads and prints how many processes gave each digest. Each process also
# repeats its synthesis REPEATS times and reports how many digests it saw
# (1: repeatable within the process). About 2.5 s per process.
#   usage: bench/determinism.sh PROCESSES THREADS [REPEATS]
set -euo pipefail
source "$(dirname "$0")/../scripts/env.sh"
cd "$root"
for _ in $(seq "$1"); do
    OMP_NUM_THREADS=$2 "$root/.venv/bin/python" bench/determinism.py "${3:-0}"
done | sort | uniq -c
