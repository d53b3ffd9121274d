# Sourced by the other scripts: build against the project venv's libtorch.
# Keep these identical for every cargo call, or torch-sys rebuilds (minutes).
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export LIBTORCH_USE_PYTORCH=1
export VIRTUAL_ENV="$root/.venv"
export PATH="$root/.venv/bin:$PATH"

# Keeps a finished run's record (config, metrics, summary: a few KB) in the
# repository, so its table and plot can be remade after the run directory is
# gone (a fresh machine has none): `dfkd report RECORD`.
# machine.txt says where it ran, since runs are not bit-identical across CPUs.
#   usage: keep_record RUN_DIR RECORD_DIR
cpuinfo() { sed -n "s/^$1[[:space:]]*: //p" /proc/cpuinfo | head -1; }
keep_record() {
    mkdir -p "$2"
    cp "$1"/{config.toml,metrics.jsonl,summary.json} "$2/"
    {
        echo "cpu = $(cpuinfo 'model name') (family $(cpuinfo 'cpu family'), model $(cpuinfo model))"
        echo "simd = $(grep -qw avx512f /proc/cpuinfo && echo avx512 || (grep -qw avx2 /proc/cpuinfo && echo avx2 || echo older))"
        echo "cores = $(nproc)"
        # The checkout when the record was kept, and the binary that ran:
        # DFKD= may name a copy built at an earlier commit (kept by its name).
        echo "checkout = $(git -C "$root" rev-parse --short HEAD)"
        echo "binary = ${dfkd:-unknown}"
        echo "kept = $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    } >"$2/machine.txt"
}

# One benchmark run: `dfkd distill ARGS` (the binary $dfkd names) into the run
# directory OUT, measured on VAL after every epoch; a directory that exists
# is resumed up to the epochs ARGS resolve to (the same trajectory), so a set
# of runs can be built over several sittings. The record is kept in RECORD.
#   usage: distill_and_keep OUT RECORD VAL ARGS...
distill_and_keep() {
    local out=$1 record=$2 val=$3 epochs
    shift 3
    if [ -f "$out/config.toml" ]; then
        epochs=$($dfkd distill "$@" --dry-run | sed -n 's/^epochs = //p')
        $dfkd distill --resume "$out" --epochs "$epochs" --val "$val"
    else
        $dfkd distill "$@" --val "$val" --out "$out"
    fi
    keep_record "$out" "$record"
}
