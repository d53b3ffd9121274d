#!/usr/bin/env bash
# One epoch of LeNet-5 teacher training on MNIST: dfkd vs our PyTorch
# reference of the same training, alternated ROUNDS times in one run.
# Prints each run's epoch time (training + test accuracy, data loading
# excluded on both sides) and the ratio of medians.
#   usage: bench/teacher_epoch.sh [ROUNDS]   (needs ../shared/data/mnist)
set -euo pipefail
source "$(dirname "$0")/../scripts/env.sh"
cd "$root"
rounds=${1:-3}
mnist="$root/../shared/data/mnist"
dfkd_times=(); torch_times=()
for r in $(seq "$rounds"); do
    line=$(./target/release/dfkd train-teacher --arch lenet5 --data "mnist:$mnist" --epochs 1 \
        --out /tmp/dfkd-bench-teacher.safetensors 2>&1 | grep '^epoch 1/1')
    echo "dfkd    : $line"
    dfkd_times+=("$(sed -E 's/.*\(([0-9.]+) s\).*/\1/' <<<"$line")")
    line=$(cd bench && "$root/.venv/bin/python" teacher_epoch.py "$mnist")
    echo "pytorch : $line"
    torch_times+=("$(sed -E 's/.*\(([0-9.]+) s\).*/\1/' <<<"$line")")
done
python3 - "${dfkd_times[*]}" "${torch_times[*]}" <<'PY'
import statistics, sys
d = statistics.median(map(float, sys.argv[1].split()))
t = statistics.median(map(float, sys.argv[2].split()))
print(f"median epoch: dfkd {d:.2f} s, pytorch {t:.2f} s -> dfkd is {t / d:.2f}x the speed of PyTorch")
PY
