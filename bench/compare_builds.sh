#!/usr/bin/env bash
# The iteration benchmarks with two builds of dfkd side by side: git revision
# REV (built in a worktree under target/rev-REV, its own target directory)
# against the working tree, alternated ROUNDS times in one run, each timing
# ITERS iterations after its warm-up: DAFL, DFAD and PRE-DFKD iterations
# (examples/distill_iteration.rs, MNIST shapes) and the ADI synthesis step
# (examples/synthesis_step.rs, CIFAR-10 ResNet-56 -> ResNet-20; CMI's
# takes minutes to fill its feature bank per process and is left out).
# Prints the median seconds of each build and the ratio.
#   usage: bench/compare_builds.sh REV [ROUNDS] [ITERS]
set -euo pipefail
source "$(dirname "$0")/../scripts/env.sh"
cd "$root"
rev=$(git rev-parse --short "$1") rounds=${2:-3} iters=${3:-3}
old=$root/target/rev-$rev
if [ ! -x "$old/bin/synthesis_step" ]; then
    git worktree prune
    [ -d "$old/src" ] || git worktree add --detach "$old/src" "$rev" >/dev/null
    (cd "$old/src" && CARGO_TARGET_DIR="$old/target" cargo build --release --quiet \
        --example distill_iteration --example synthesis_step)
    mkdir -p "$old/bin"
    cp "$old/target/release/examples/distill_iteration" "$old/target/release/examples/synthesis_step" "$old/bin/"
fi
# Its examples read the bundled teacher from their source tree.
[ -d "$old/src" ] || git worktree add --detach "$old/src" "$rev" >/dev/null
cargo build --release --quiet --example distill_iteration --example synthesis_step
new=$root/target/release/examples
median() { python3 -c 'import statistics, sys; print(f"{statistics.median(map(float, sys.argv[1:])):.3f}")' "$@"; }
for bench in "distill_iteration dafl 512" "distill_iteration dfad 512" "distill_iteration pre-dfkd 256" \
    "synthesis_step deepinversion 256"; do
    set -- $bench
    a=() b=()
    for r in $(seq "$rounds"); do
        a+=($("$old/bin/$1" "$2" "$3" "$iters" | cut -d' ' -f1))
        b+=($("$new/$1" "$2" "$3" "$iters" | cut -d' ' -f1))
    done
    ma=$(median "${a[@]}") mb=$(median "${b[@]}")
    echo "$2 ($1, batch $3): $rev ${ma} s, working tree ${mb} s, ratio $(python3 -c "print(f'{$ma / $mb:.3f}')")"
done
