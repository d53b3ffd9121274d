#!/usr/bin/env bash
# CIFAR-10, the shared pretrained ResNet-56 teacher -> ResNet-20 (the pair of
# bench/cifar10_cpu.sh), one run (seed 1) of a meta-update variant on its
# cifar10-cpu preset, beside the joint-update PRE-DFKD and MB-DFKD runs whose
# records bench/cifar10_cpu.sh keeps: issue 13's CIFAR-10 check of the
# variant that did best on MNIST (bench/lra_mnist.sh).
#
# The run takes longer than one sitting on this CPU: a run directory that
# exists is resumed up to the preset's epochs (the same trajectory, as long
# as the thread count is the same), and the record (config, metrics,
# summary) is kept in bench/runs/cifar10-cpu/NAME-s1 when it ends.
#   usage: bench/lra_cifar10.sh [RUNS_DIR] [VARIANT]
#   (defaults: runs/cifar10-cpu and lra-vae-first-order; a VARIANT is one of
#   lra, lra-first-order, lra-vae, lra-vae-first-order; DFKD=BINARY runs
#   another build)
set -euo pipefail
source "$(dirname "$0")/../scripts/env.sh"
cd "$root"
dir=${1:-runs/cifar10-cpu}
name=${2:-lra-vae-first-order}
dfkd=${DFKD:-./target/release/dfkd}
data=../shared/data/cifar10
teacher=(--teacher ../shared/teachers/cifar10-resnet-akamaster/resnet56.safetensors
    --teacher-arch resnet56 --teacher-mean 0.485,0.456,0.406 --teacher-std 0.229,0.224,0.225)
case $name in
lra | lra-vae) method=$name order=exact ;;
lra-first-order | lra-vae-first-order) method=${name%-first-order} order=first-order ;;
*) echo "bench/lra_cifar10.sh: unknown variant '$name' (lra, lra-first-order, lra-vae, lra-vae-first-order)" >&2; exit 2 ;;
esac
records=bench/runs/cifar10-cpu
distill_and_keep "$dir/$name-s1" "$records/$name-s1" cifar10:$data \
    "${teacher[@]}" --method "$method" --preset cifar10-cpu --seed 1 \
    --set "update.order=\"$order\"" --set "method=\"$name\""
$dfkd report "$records/$name-s1" "$records/pre-dfkd-s1" "$records/mb-dfkd-s1" --plot "$dir/lra-curves.png"
