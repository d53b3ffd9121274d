#!/usr/bin/env bash
# CIFAR-10, the shared pretrained ResNet-56 teacher (93.39 %) -> ResNet-20,
# one run (seed 1) of each METHOD on its cifar10-cpu preset (about 40
# minutes of this 2-core machine each), accuracy on the CIFAR-10 test set
# after every epoch; then the report table (PRE-DFKD's Table 1 columns) and
# one plot of the curves. A run directory that exists is resumed up to the
# preset's epochs, so the set can be built over several sittings and ends as
# if run in one go.
#   usage: bench/cifar10_cpu.sh [RUNS_DIR] [METHOD...]
#   (defaults: runs/cifar10-cpu and all eight methods; DFKD=BINARY runs
#   another build than target/release/dfkd, e.g. a copy kept while the
#   tree is rebuilt)
set -euo pipefail
source "$(dirname "$0")/../scripts/env.sh"
cd "$root"
dir=${1:-runs/cifar10-cpu}
shift || true
all=(deepdream deepinversion adi cmi dafl dfad mb-dfkd pre-dfkd)
methods=("${@:-${all[@]}}")
dfkd=${DFKD:-./target/release/dfkd}
data=../shared/data/cifar10
teacher=(--teacher ../shared/teachers/cifar10-resnet-akamaster/resnet56.safetensors
    --teacher-arch resnet56 --teacher-mean 0.485,0.456,0.406 --teacher-std 0.229,0.224,0.225)
for m in "${methods[@]}"; do
    # The record is kept at once: `dfkd report bench/runs/cifar10-cpu/*`
    # remakes the table and the plot after the run directories are gone.
    distill_and_keep "$dir/$m-s1" bench/runs/cifar10-cpu/$m-s1 cifar10:$data \
        "${teacher[@]}" --method "$m" --preset cifar10-cpu --seed 1
done
runs=()
for m in "${methods[@]}"; do runs+=("$dir/$m-s1"); done
$dfkd report "${runs[@]}" --plot "$dir/curves.png"
