#!/usr/bin/env bash
# MNIST, bundled LeNet-5 teacher -> LeNet-5-half, 3 seeds of the meta update
# ("Learning to Retain while Acquiring") in its exact and first-order forms,
# with the memory bank (method lra, the paper's "Ours-1") and with the VAE
# (lra-vae, "Ours-2"), each on its mnist-cpu preset (about 30 minutes of
# this 2-core machine per run, the budget of the other methods' mnist-cpu
# runs), accuracy on the MNIST test set after every epoch; then the report
# beside the joint-update runs of MB-DFKD and PRE-DFKD whose records
# bench/mnist_cpu.sh keeps, if there.
#
# Twelve runs do not fit one sitting, and a fresh machine has no runs/: each
# finished run's record (config, metrics, summary: a few KB) is kept in the
# repository at once, in bench/runs/mnist-cpu/NAME-sSEED/, a run whose record
# is there is skipped, and a run directory that exists is resumed up to the
# preset's epochs. The report reads the kept records.
#   usage: bench/lra_mnist.sh [RUNS_DIR]   (default runs/mnist-cpu;
#   SEEDS="1 2" runs only those seeds; NAMES="lra-vae" only those variants,
#   so two sittings can share the seeds; DFKD=BINARY runs another build)
set -euo pipefail
shopt -s nullglob
source "$(dirname "$0")/../scripts/env.sh"
cd "$root"
dir=${1:-runs/mnist-cpu}
dfkd=${DFKD:-./target/release/dfkd}
records=bench/runs/mnist-cpu
teacher=teachers/lenet5-mnist.safetensors
data=mnist:../shared/data/mnist
variants=("lra exact lra" "lra first-order lra-first-order"
    "lra-vae exact lra-vae" "lra-vae first-order lra-vae-first-order")
for seed in ${SEEDS:-1 2 3}; do
    for v in "${variants[@]}"; do
        read -r method order name <<<"$v"
        [[ " ${NAMES:-$name} " == *" $name "* ]] || continue
        record=$records/$name-s$seed
        [ -f "$record/summary.json" ] && continue
        distill_and_keep "$dir/$name-s$seed" "$record" $data \
            --teacher $teacher --method "$method" --preset mnist-cpu --seed "$seed" \
            --set "update.order=\"$order\"" --set "method=\"$name\""
    done
done
runs=()
for v in "${variants[@]}"; do read -r _ _ name <<<"$v"; runs+=("$records/$name"-s*); done
for m in mb-dfkd pre-dfkd; do runs+=("$records/$m"-s*); done
$dfkd report "${runs[@]}" --plot "$dir/lra-curves.png"
