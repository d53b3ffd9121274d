#!/usr/bin/env bash
# Replay memory as a run grows (PRE-DFKD's Table 2 form): short `dfkd
# distill` runs with PRE-DFKD's synthesizer at batch BATCH (10 student steps
# per iteration) and each replay — pool, memory-bank, vae — on MNIST (bundled
# LeNet-5, 1x32x32) and, when ../shared/teachers is there, CIFAR-10 (shared
# ResNet-20, 3x32x32). Prints the replay bytes logged after every epoch, then
# the pool's bytes per student step (from the measured growth) projected to
# the paper's step counts beside the VAE's constant size.
#   usage: bench/replay_memory.sh [EPOCHS] [ITERS] [BATCH]
set -euo pipefail
source "$(dirname "$0")/../scripts/env.sh"
cd "$root"
epochs=${1:-3} iters=${2:-1} batch=${3:-256}
dfkd=./target/release/dfkd
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
teachers=(mnist)
resnet=../shared/teachers/cifar10-resnet-akamaster/resnet20.safetensors
[ -f "$resnet" ] && teachers+=(cifar10)
for t in "${teachers[@]}"; do
    if [ "$t" = mnist ]; then
        args=(--teacher teachers/lenet5-mnist.safetensors --preset mnist)
    else
        args=(--teacher "$resnet" --teacher-arch resnet20 --teacher-mean 0.485,0.456,0.406
            --teacher-std 0.229,0.224,0.225 --preset cifar10 --student resnet20)
    fi
    for replay in pool memory-bank vae; do
        # The bank pushes every epoch here, so that it fills within the run.
        every=()
        if [ "$replay" = memory-bank ]; then every=(--set replay.every=1); fi
        $dfkd distill "${args[@]}" --method pre-dfkd --replay "$replay" --epochs "$epochs" \
            --iters "$iters" --batch-size "$batch" "${every[@]}" --out "$out/$t-$replay" >/dev/null
    done
done
python3 - "$out" "$epochs" "$iters" "${teachers[@]}" <<'PY'
import json, sys
out, epochs, iters, teachers = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
steps = lambda e: e * iters * 10
mib = lambda b: f"{b / 2**20:.2f} MiB"
for t in teachers:
    rows = {r: [json.loads(l)["replay_bytes"] for l in open(f"{out}/{t}-{r}/metrics.jsonl")]
            for r in ("pool", "memory-bank", "vae")}
    print(f"{t}: replay bytes after each epoch ({iters} iterations x 10 student steps)")
    print("  epoch  student steps        pool   memory-bank           vae")
    for e in range(epochs):
        print(f"  {e + 1:5}  {steps(e + 1):13}  {mib(rows['pool'][e]):>10}  {mib(rows['memory-bank'][e]):>12}"
              f"  {mib(rows['vae'][e]):>12}")
    pool = rows["pool"]
    per_step = (pool[-1] - pool[0]) / (steps(epochs) - steps(1))
    print(f"  pool growth: {per_step / 2**20:.3f} MiB per student step "
          f"(steady: {all(b - a == pool[1] - pool[0] for a, b in zip(pool, pool[1:]))})")
    print("  projected to the paper's Table 2 step counts:")
    print("    steps:  " + "  ".join(f"{s:>9}" for s in (2000, 4000, 8000, 16000)))
    print("    pool:   " + "  ".join(f"{s * per_step / 2**30:6.2f} GiB" for s in (2000, 4000, 8000, 16000)))
    print("    vae:    " + "  ".join(f"{rows['vae'][-1] / 2**20:6.2f} MiB" for _ in range(4)))
PY
