#!/usr/bin/env bash
# One DAFL or DFAD iteration with the MNIST preset shapes (LeNet-5 teacher,
# LeNet-5-half student, latent-100 generator, batch 512): dfkd
# (examples/distill_iteration.rs) against our PyTorch reference
# (bench/distill_iteration.py) written after the official code, in NCHW as
# the official code runs and in channels-last. The three are alternated
# ROUNDS times in one run; each process warms up one iteration and times
# ITERS. Prints the median seconds per iteration of each, the ratios, and
# the achieved GFLOP/s (the reference iteration's FLOPs as PyTorch's
# FlopCounterMode counts them, divided by each side's time).
#   usage: bench/distill_iteration.sh dafl|dfad [ROUNDS] [ITERS]
set -euo pipefail
source "$(dirname "$0")/../scripts/env.sh"
cd "$root"
method=$1 rounds=${2:-3} iters=${3:-3} batch=512
cargo build --release --example distill_iteration >/dev/null 2>&1
py="$root/.venv/bin/python"
flops=$(cd bench && "$py" distill_iteration.py "$method" "$batch" 1 --flops)
d=() t=() c=()
for r in $(seq "$rounds"); do
    d+=($(./target/release/examples/distill_iteration "$method" "$batch" "$iters" | cut -d' ' -f1))
    t+=($(cd bench && "$py" distill_iteration.py "$method" "$batch" "$iters"))
    c+=($(cd bench && "$py" distill_iteration.py "$method" "$batch" "$iters" --channels-last))
    echo "round $r: dfkd ${d[*]: -$iters}  pytorch ${t[*]: -$iters}  pytorch-cl ${c[*]: -$iters}"
done
python3 - "$method" "$flops" "${d[*]}" "${t[*]}" "${c[*]}" <<'PY'
import statistics, sys
method, flops = sys.argv[1], float(sys.argv[2])
d, t, c = (statistics.median(map(float, a.split())) for a in sys.argv[3:6])
g = lambda s: flops / s / 1e9
print(f"{method} iteration, batch 512: {flops / 1e9:.0f} GFLOP")
print(f"  dfkd               {d:7.3f} s  {g(d):6.1f} GFLOP/s")
print(f"  pytorch (NCHW)     {t:7.3f} s  {g(t):6.1f} GFLOP/s  -> dfkd is {t / d:.2f}x faster")
print(f"  pytorch (chan-last){c:7.3f} s  {g(c):6.1f} GFLOP/s  -> dfkd is {c / d:.2f}x faster")
PY
