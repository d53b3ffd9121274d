#!/usr/bin/env bash
# One synthesis step of model inversion on the CIFAR-10 CPU pair (ResNet-56
# teacher, ResNet-20 student, batch 256): Adaptive DeepInversion's
# (`deepinversion`: jitter, R_feature, CE, competition, TV, Adam, clip) or
# CMI's (`cmi`: generator, two views, two teacher passes, contrast against
# 4,096 negatives, Adam on generator, codes and head). dfkd
# (examples/synthesis_step.rs) against our PyTorch reference of the
# official zju-vipa loop (bench/synthesis_step.py), run as the official
# code runs (NCHW, every model's weights requiring gradients), lean (only
# the optimised tensors requiring gradients, as dfkd) and lean
# channels-last. The processes alternate ROUNDS times in one run; each
# warms up, then times STEPS steps. Prints the median seconds per step of
# each, the ratios, and the achieved GFLOP/s (the lean reference's FLOPs as
# PyTorch's FlopCounterMode counts them, the work dfkd does, over each
# side's time; the machine's float32 matrix peak through libtorch is about
# 250 GFLOP/s).
#   usage: bench/synthesis_step.sh deepinversion|cmi [ROUNDS] [STEPS]
set -euo pipefail
source "$(dirname "$0")/../scripts/env.sh"
cd "$root"
method=$1 rounds=${2:-3} steps=${3:-3}
batch=256
names=("pytorch official (NCHW)" "pytorch lean (NCHW)" "pytorch lean (chan-last)")
flags=("" "--lean" "--lean --channels-last")
cargo build --release --example synthesis_step >/dev/null 2>&1
py="$root/.venv/bin/python"
flops=$(cd bench && "$py" synthesis_step.py "$method" "$batch" 1 --lean --flops)
dfkd=()
declare -A times
for r in $(seq "$rounds"); do
    dfkd+=($(./target/release/examples/synthesis_step "$method" "$batch" "$steps"))
    line="round $r: dfkd ${dfkd[*]: -$steps}"
    for v in "${!flags[@]}"; do
        t=$(cd bench && "$py" synthesis_step.py "$method" "$batch" "$steps" ${flags[$v]} | tr '\n' ' ')
        times[$v]+=" $t"
        line+="  | ${names[$v]} $t"
    done
    echo "$line"
done
args=()
for v in "${!flags[@]}"; do args+=("${names[$v]}" "${times[$v]}"); done
python3 bench/ratios.py "$method synthesis step, batch $batch" "$flops" "${dfkd[*]}" "${args[@]}"
