#!/usr/bin/env bash
# One DAFL, DFAD or PRE-DFKD iteration with the MNIST preset shapes
# (LeNet-5 teacher, LeNet-5-half student): dfkd
# (examples/distill_iteration.rs) against our PyTorch reference
# (bench/distill_iteration.py) written after the official code, in NCHW as
# the official code runs and in channels-last; for PRE-DFKD also a "lean"
# reference that builds only the graphs the update needs, as dfkd does. The
# processes are alternated ROUNDS times in one run; each warms up one
# iteration and times ITERS. Prints the median seconds per iteration of
# each, the ratios, and the achieved GFLOP/s (the reference iteration's
# FLOPs as PyTorch's FlopCounterMode counts them, divided by each side's
# time; for PRE-DFKD the lean reference's FLOPs, the work dfkd does).
#   usage: bench/distill_iteration.sh dafl|dfad|pre-dfkd [ROUNDS] [ITERS] [BATCH]
#   (BATCH defaults to 512 for DAFL/DFAD and to 256, the mnist-cpu preset's, for PRE-DFKD)
set -euo pipefail
source "$(dirname "$0")/../scripts/env.sh"
cd "$root"
method=$1 rounds=${2:-3} iters=${3:-3}
if [ "$method" = pre-dfkd ]; then
    batch=${4:-256}
    names=("pytorch (NCHW)" "pytorch lean (NCHW)" "pytorch lean (chan-last)")
    flags=("" "--lean" "--lean --channels-last")
else
    batch=${4:-512}
    names=("pytorch (NCHW)" "pytorch (chan-last)")
    flags=("" "--channels-last")
fi
cargo build --release --example distill_iteration >/dev/null 2>&1
py="$root/.venv/bin/python"
flops=$(cd bench && "$py" distill_iteration.py "$method" "$batch" 1 ${flags[-1]} --flops)
dfkd=()
declare -A times
for r in $(seq "$rounds"); do
    dfkd+=($(./target/release/examples/distill_iteration "$method" "$batch" "$iters" | cut -d' ' -f1))
    line="round $r: dfkd ${dfkd[*]: -$iters}"
    for v in "${!flags[@]}"; do
        t=$(cd bench && "$py" distill_iteration.py "$method" "$batch" "$iters" ${flags[$v]} | tr '\n' ' ')
        times[$v]+=" $t"
        line+="  | ${names[$v]} $t"
    done
    echo "$line"
done
args=()
for v in "${!flags[@]}"; do args+=("${names[$v]}" "${times[$v]}"); done
python3 bench/ratios.py "$method iteration, batch $batch" "$flops" "${dfkd[*]}" "${args[@]}"
