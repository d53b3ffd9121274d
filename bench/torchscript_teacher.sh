#!/usr/bin/env bash
# What a teacher of any architecture costs: one Adaptive DeepInversion
# synthesis step on the CIFAR-10 CPU pair (ResNet-56 teacher, ResNet-20
# student, batch 256; the step reads every BatchNorm's statistics and
# differentiates through the teacher to the images), with the teacher as
# dfkd's own zoo model and as the same weights saved by
# python/dfkd_teacher.py and run as TorchScript, against our lean PyTorch
# reference (bench/synthesis_step.py --lean). The processes alternate ROUNDS
# times in one run; each warms up, then times STEPS steps. Prints the median
# seconds per step of each and the ratios.
# With `curve`, instead: the same short DAFL run (MNIST preset, batch 256,
# 4 epochs of 40 iterations, seed 1) on the bundled LeNet-5 teacher as its
# dfkd checkpoint and as TorchScript, accuracy on MNIST test after every
# epoch, side by side (the two runs share the CPU; their time is not
# compared).
#   usage: bench/torchscript_teacher.sh [ROUNDS] [STEPS]
#          bench/torchscript_teacher.sh curve [RUNS_DIR]   (default runs/torchscript)
set -euo pipefail
source "$(dirname "$0")/../scripts/env.sh"
cd "$root"
py="$root/.venv/bin/python"
if [ "${1:-}" = curve ]; then
    dir=${2:-runs/torchscript}
    mkdir -p "$dir"
    teacher=teachers/lenet5-mnist.safetensors
    "$py" bench/teacher_twin.py "$teacher" "$dir/lenet5-mnist.pt"
    for t in "$teacher" "$dir/lenet5-mnist.pt"; do
        out=$dir/dafl-$(basename "${t%.*}")-${t##*.}
        ./target/release/dfkd distill --teacher "$t" --method dafl --preset mnist --batch-size 256 \
            --epochs 4 --iters 40 --seed 1 --val mnist:../shared/data/mnist --out "$out" >/dev/null 2>&1 &
    done
    wait
    python3 - "$dir"/dafl-*/metrics.jsonl <<'PY'
import json, sys
runs = [[json.loads(l) for l in open(p)] for p in sys.argv[1:]]
print("epoch  " + "  ".join(p.split("/")[-2] for p in sys.argv[1:]))
for rows in zip(*runs):
    print(f"{rows[0]['epoch']:5}  " + "  ".join(f"{r['val_accuracy']:.2f}" for r in rows))
PY
    exit 0
fi
rounds=${1:-3} steps=${2:-3}
batch=256
cargo build --release --example synthesis_step >/dev/null 2>&1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$py" bench/teacher_twin.py --random resnet56 "$dir"
flops=$(cd bench && "$py" synthesis_step.py deepinversion "$batch" 1 --lean --flops)
zoo=() script=() ref=()
for r in $(seq "$rounds"); do
    zoo+=($(DFKD_TEACHER="$dir/resnet56.safetensors" ./target/release/examples/synthesis_step deepinversion "$batch" "$steps"))
    script+=($(DFKD_TEACHER="$dir/resnet56.pt" ./target/release/examples/synthesis_step deepinversion "$batch" "$steps"))
    ref+=($(cd bench && "$py" synthesis_step.py deepinversion "$batch" "$steps" --lean))
    echo "round $r: zoo ${zoo[*]: -$steps} | torchscript ${script[*]: -$steps} | pytorch lean ${ref[*]: -$steps}"
done
python3 bench/ratios.py "ADI synthesis step, batch $batch, ResNet-56 teacher as dfkd's zoo model" "$flops" \
    "${zoo[*]}" "dfkd, TorchScript teacher" "${script[*]}" "pytorch lean (NCHW)" "${ref[*]}"
