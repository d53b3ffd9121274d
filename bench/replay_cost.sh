#!/usr/bin/env bash
# Cost of replay: one iteration of a synthesizer's MNIST preset shapes
# (LeNet-5 teacher -> LeNet-5-half student, batch BATCH) with each replay —
# none, memory-bank, pool, vae — in dfkd (examples/distill_iteration.rs).
# The replays are alternated ROUNDS times in one run; each process warms up
# one iteration and times ITERS. Prints the median seconds per iteration,
# its ratio to no replay, and the replay's bytes after the last iteration.
#   usage: bench/replay_cost.sh pre-dfkd|dfad|dafl [ROUNDS] [ITERS] [BATCH]
set -euo pipefail
source "$(dirname "$0")/../scripts/env.sh"
cd "$root"
method=$1 rounds=${2:-2} iters=${3:-2} batch=${4:-256}
cargo build --release --example distill_iteration >/dev/null 2>&1
replays=(none memory-bank pool vae)
declare -A times bytes
for r in $(seq "$rounds"); do
    for replay in "${replays[@]}"; do
        out=$(./target/release/examples/distill_iteration "$method" "$batch" "$iters" 1 "replay=$replay")
        times[$replay]+=" $(cut -d' ' -f1 <<<"$out" | tr '\n' ' ')"
        bytes[$replay]=$(tail -1 <<<"$out" | cut -d' ' -f2)
        echo "round $r: $replay ${times[$replay]}"
    done
done
args=()
for replay in "${replays[@]}"; do args+=("$replay" "${times[$replay]}" "${bytes[$replay]}"); done
python3 - "$method" "$batch" "${args[@]}" <<'PY'
import statistics, sys
method, batch, rest = sys.argv[1], sys.argv[2], sys.argv[3:]
rows = [(rest[i], statistics.median(map(float, rest[i + 1].split())), int(rest[i + 2]))
        for i in range(0, len(rest), 3)]
base = rows[0][1]
print(f"{method} synthesizer, MNIST preset shapes, batch {batch}: seconds per iteration")
for name, s, b in rows:
    print(f"  {name:12} {s:7.3f} s  {s / base:5.2f}x  replay {b / 2**20:8.2f} MiB")
PY
