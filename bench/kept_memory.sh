#!/usr/bin/env bash
# Memory of the kept samples of model inversion, measured and projected to
# the official CIFAR-10 protocol (PRE-DFKD's Table 1 memory column).
# Each inversion method runs its official `cifar10` preset on the shared
# ResNet-56 teacher for 2 epochs with 2 synthesis and 2 student steps (the
# bytes kept per epoch do not depend on the step counts), into a temporary
# directory; bench/kept_memory.py then reads the shards each epoch wrote,
# checks that they add up to the `kept_bytes` the run logged, and projects
# them to the preset's epochs. Takes a few minutes with one thread.
#   usage: bench/kept_memory.sh [METHOD...]   (default: the four inversion methods)
set -euo pipefail
source "$(dirname "$0")/../scripts/env.sh"
cd "$root"
methods=("${@:-deepdream deepinversion adi cmi}")
read -r -a methods <<<"${methods[*]}"
dfkd=${DFKD:-./target/release/dfkd}
teacher=(--teacher ../shared/teachers/cifar10-resnet-akamaster/resnet56.safetensors
    --teacher-arch resnet56 --teacher-mean 0.485,0.456,0.406 --teacher-std 0.229,0.224,0.225)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
args=()
for m in "${methods[@]}"; do
    epochs=$($dfkd distill "${teacher[@]}" --method "$m" --preset cifar10 --dry-run | sed -n 's/^epochs = //p')
    $dfkd distill "${teacher[@]}" --method "$m" --preset cifar10 --threads 1 --epochs 2 \
        --set synth.steps=2 --set synth.student_steps=2 --out "$tmp/$m" >"$tmp/$m.log" 2>&1 ||
        { cat "$tmp/$m.log"; exit 1; }
    args+=("$tmp/$m" "$epochs")
done
"$root/.venv/bin/python" bench/kept_memory.py "${args[@]}"
