#!/usr/bin/env bash
# Cost of a student step under each student update: joint, meta as-released,
# meta first-order, meta exact, with MB-DFKD's memory bank (REPLAY=bank) or
# PRE-DFKD's VAE (REPLAY=vae), on the MNIST shapes (LeNet-5 teacher,
# LeNet-5-half student, batch 256: the mnist-cpu presets). One process per
# update and student-step count, alternated ROUNDS times in one run
# (examples/distill_iteration.rs); a student step's cost is the time of an
# iteration with 20 student steps less one with 10, over 10, so the
# generator's step and the replay's draws for the extra steps are in it as
# they are in a run. The bank pushes every epoch here so that it holds a
# batch from the first timed iteration on.
#   usage: bench/meta_cost.sh bank|vae [ROUNDS] [ITERS]
set -euo pipefail
source "$(dirname "$0")/../scripts/env.sh"
cd "$root"
replay=$1 rounds=${2:-3} iters=${3:-2}
case $replay in
    bank) method=mb-dfkd extra=(replay.every=1) ;;
    vae) method=pre-dfkd extra=() ;;
    *) echo "usage: bench/meta_cost.sh bank|vae [ROUNDS] [ITERS]" >&2; exit 2 ;;
esac
cargo build --release --example distill_iteration >/dev/null 2>&1
updates=("joint" "as-released" "first-order" "exact")
declare -A times
for r in $(seq "$rounds"); do
    line="round $r:"
    for u in "${updates[@]}"; do
        if [ "$u" = joint ]; then set=(update=joint); else set=(update=meta "update.order=\"$u\""); fi
        for steps in 10 20; do
            t=$(./target/release/examples/distill_iteration "$method" 256 "$iters" 2 "${set[@]}" \
                "synth.student_steps=$steps" "${extra[@]}" | cut -d' ' -f1 | tr '\n' ' ')
            times[$u-$steps]+=" $t"
            line+=" $u/$steps $t |"
        done
    done
    echo "$line"
done
args=()
for u in "${updates[@]}"; do args+=("$u" "${times[$u-10]}" "${times[$u-20]}"); done
python3 - "$replay" "${args[@]}" <<'PY'
import statistics, sys
replay, rest = sys.argv[1], sys.argv[2:]
med = lambda a: statistics.median(map(float, a.split()))
rows = [(u, med(a), med(b)) for u, a, b in zip(rest[::3], rest[1::3], rest[2::3])]
joint = (rows[0][2] - rows[0][1]) / 10
print(f"student step, {replay} replay, batch 256 (s/iteration at 10 and 20 student steps):")
for u, t10, t20 in rows:
    step = (t20 - t10) / 10
    print(f"  {u:12} {t10:7.3f} {t20:7.3f}  step {step:6.3f} s  {step / joint:5.2f}x joint")
PY
