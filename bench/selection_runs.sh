#!/usr/bin/env bash
# The runs the data-free choice of the shipped student is validated on
# (src/distill/select.rs was designed on none of them), then its table:
# - DAFL at its official MNIST settings with batch 256, the run that
#   collapses between epochs 4 and 6 (the official code's issue #6), once
#   with each collapse remedy: none (flag only), fresh (roll back, new
#   generator: the default), damped (roll back, generator rate x0.1);
# - seed 1 of every method's mnist-cpu run (bench/mnist_cpu.sh, about 30
#   minutes each).
# Runs that exist are resumed, and runs whose record is kept in the
# repository (bench/runs/selection/, bench/runs/mnist-cpu/) are not made
# again. Timing is not measured here, so the runs may share the CPU.
#   usage: bench/selection_runs.sh [RUNS_DIR]   (default runs/selection;
#   DFKD=BINARY as in bench/mnist_cpu.sh)
set -euo pipefail
source "$(dirname "$0")/../scripts/env.sh"
cd "$root"
dir=${1:-runs/selection}
dfkd=${DFKD:-./target/release/dfkd}
teacher=teachers/lenet5-mnist.safetensors
data=mnist:../shared/data/mnist
collapse=()
for remedy in none fresh damped; do
    out=$dir/dafl-collapse-$remedy
    record=bench/runs/selection/dafl-collapse-$remedy
    collapse+=("$record")
    [ -f "$record/summary.json" ] && continue
    distill_and_keep "$out" "$record" $data \
        --teacher $teacher --method dafl --preset mnist --batch-size 256 \
        --epochs 9 --iters 120 --seed 0 --set "collapse.remedy=\"$remedy\""
done
methods=(dafl dfad mb-dfkd pre-dfkd pre-dfad)
SEEDS=1 bench/mnist_cpu.sh "$dir" "${methods[@]}"
runs=()
for m in "${methods[@]}"; do runs+=("bench/runs/mnist-cpu/$m-s1"); done
python3 bench/selection.py "${collapse[@]}" "${runs[@]}"
