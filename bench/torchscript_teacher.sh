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
# 4 epochs of 40 iterations) on the bundled LeNet-5 teacher as its dfkd
# checkpoint and as TorchScript, for each seed of SEEDS (default 1),
# accuracy on MNIST test after every epoch, side by side, with the spread
# over seeds of each teacher and the gap between the teachers at one seed,
# so the gap can be set against seed noise (the two runs of a seed share the
# CPU; their time is not compared). A run directory that has its epochs is
# reused.
#   usage: bench/torchscript_teacher.sh [ROUNDS] [STEPS]
#          [SEEDS="1 2 3"] bench/torchscript_teacher.sh curve [RUNS_DIR]   (default runs/torchscript)
set -euo pipefail
source "$(dirname "$0")/../scripts/env.sh"
cd "$root"
py="$root/.venv/bin/python"
if [ "${1:-}" = curve ]; then
    dir=${2:-runs/torchscript}
    mkdir -p "$dir"
    teacher=teachers/lenet5-mnist.safetensors epochs=4
    "$py" bench/teacher_twin.py "$teacher" "$dir/lenet5-mnist.pt"
    for seed in ${SEEDS:-1}; do
        for t in "$teacher" "$dir/lenet5-mnist.pt"; do
            out=$dir/dafl-$(basename "${t%.*}")-${t##*.}-s$seed
            [ -f "$out/metrics.jsonl" ] && [ "$(wc -l < "$out/metrics.jsonl")" -ge "$epochs" ] && continue
            rm -rf "$out"
            ./target/release/dfkd distill --teacher "$t" --method dafl --preset mnist --batch-size 256 \
                --epochs "$epochs" --iters 40 --seed "$seed" --val mnist:../shared/data/mnist --out "$out" >/dev/null 2>&1 &
        done
        wait
    done
    python3 - "$dir" "$epochs" ${SEEDS:-1} <<'PY'
import json, statistics, sys
d, epochs, seeds = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
acc = {(t, s): [json.loads(l)["val_accuracy"] for l in open(f"{d}/dafl-lenet5-mnist-{t}-s{s}/metrics.jsonl")]
       for t in ("safetensors", "pt") for s in seeds}
print("| epoch | " + " | ".join(f"zoo s{s} | TorchScript s{s}" for s in seeds)
      + " | zoo range over seeds | TorchScript range over seeds | largest zoo - TorchScript gap at one seed |")
print("|---" * (2 * len(seeds) + 4) + "|")
for e in range(epochs):
    zoo = [acc["safetensors", s][e] for s in seeds]
    ts = [acc["pt", s][e] for s in seeds]
    gap = max(abs(a - b) for a, b in zip(zoo, ts))
    cells = " | ".join(f"{a:.2f} | {b:.2f}" for a, b in zip(zoo, ts))
    print(f"| {e + 1} | {cells} | {max(zoo) - min(zoo):.2f} | {max(ts) - min(ts):.2f} | {gap:.2f} |")
if len(seeds) > 1:
    last_zoo = [acc["safetensors", s][-1] for s in seeds]
    last_ts = [acc["pt", s][-1] for s in seeds]
    print(f"\nepoch {epochs} over {len(seeds)} seeds: zoo {statistics.mean(last_zoo):.2f} +- {statistics.stdev(last_zoo):.2f}, "
          f"TorchScript {statistics.mean(last_ts):.2f} +- {statistics.stdev(last_ts):.2f} (mean +- sample sd)")
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
