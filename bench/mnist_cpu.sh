#!/usr/bin/env bash
# MNIST, bundled LeNet-5 teacher -> LeNet-5-half, 3 seeds of each METHOD on
# its mnist-cpu preset (about 30 minutes per run on this 2-core machine),
# accuracy on the MNIST test set after every epoch; then the report table
# (PRE-DFKD's Table 1 columns) and one plot of the curves.
# A run directory that exists is resumed up to the preset's epochs, so the
# set can be built over several sittings and ends as if run in one go. Each
# finished run's record is kept in bench/runs/mnist-cpu/METHOD-sSEED/ (a few
# KB), a run whose record is there is skipped, and the report reads the
# records, so the set can also be built over several machines.
#   usage: bench/mnist_cpu.sh [RUNS_DIR] [METHOD...]   (defaults: runs/mnist-cpu dfad dafl)
#   (SEEDS="1" runs fewer seeds; DFKD=BINARY runs another build than
#   target/release/dfkd, e.g. a copy kept while the tree is rebuilt)
set -euo pipefail
shopt -s nullglob
source "$(dirname "$0")/../scripts/env.sh"
cd "$root"
dir=${1:-runs/mnist-cpu}
shift || true
methods=("${@:-dfad dafl}")
read -r -a methods <<<"${methods[*]}"
dfkd=${DFKD:-./target/release/dfkd}
teacher=teachers/lenet5-mnist.safetensors
records=bench/runs/mnist-cpu
for seed in ${SEEDS:-1 2 3}; do
    for m in "${methods[@]}"; do
        [ -f "$records/$m-s$seed/summary.json" ] && continue
        distill_and_keep "$dir/$m-s$seed" "$records/$m-s$seed" mnist:../shared/data/mnist \
            --teacher $teacher --method "$m" --preset mnist-cpu --seed "$seed"
    done
done
runs=()
for m in "${methods[@]}"; do runs+=("$records/$m"-s*); done
$dfkd report "${runs[@]}" --plot "$dir/curves.png"
