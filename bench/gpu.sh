#!/usr/bin/env bash
# dfkd on a GPU, for a machine with PyTorch 2.11.0 (CUDA) under python3 and
# no Rust. Two steps:
#   bench/gpu.sh prepare   here: strips the release binaries and copies
#                          MNIST into gpu-bin/ (ignored by git; about 40 MB)
#   bench/gpu.sh run       there, in a copy of the repository with gpu-bin/:
#                          writes results into $OUT (default /tmp/dfkd-gpu)
# The run, about 10 minutes of one GPU:
# 1. one short run per device (DAFL on the MNIST preset, CMI on the demo
#    preset, one epoch each) on --device cuda and --device cpu: each must
#    ship a student; wall-clock side by side (runs.txt);
# 2. iterations against our PyTorch references, both on the GPU, alternated
#    3 times: DAFL, DFAD, PRE-DFKD iterations (MNIST shapes) and ADI and CMI
#    synthesis steps (CIFAR-10 ResNet-56 -> ResNet-20), via bench/ratios.py;
#    MB-DFKD, PRE-DFAD and the meta update (LRA, LRA-VAE), which have no
#    reference of ours yet, dfkd alone (speed.txt);
# 3. the official MNIST protocol (PRE-DFKD's Table 1: mnist preset, 4 seeds)
#    of DAFL, DFAD, MB-DFKD, PRE-DFKD and PRE-DFAD, all 20 runs at once,
#    stopped after PROTOCOL_SECONDS (default 300); a stopped run keeps its
#    finished epochs, and the report says how many each reached
#    (table1.txt, curves.png).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
case "${1:-}" in
prepare)
    source scripts/env.sh
    cargo build --release --bin dfkd --example synthesis_step --example distill_iteration
    mkdir -p gpu-bin
    for b in dfkd examples/synthesis_step examples/distill_iteration; do
        strip -o "gpu-bin/$(basename $b)" "target/release/$b"
    done
    cp -r ../shared/data/mnist gpu-bin/
    du -sh gpu-bin
    exit 0
    ;;
run) ;;
*)
    echo "usage: bench/gpu.sh prepare|run" >&2
    exit 2
    ;;
esac
out=${OUT:-/tmp/dfkd-gpu}
mkdir -p "$out"
torch_lib=$(python3 -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')
export LD_LIBRARY_PATH="$torch_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
nvidia-smi --query-gpu=name,memory.total --format=csv | tee "$out/gpu.txt"
bin=gpu-bin/dfkd
mnist=mnist:gpu-bin/mnist
seconds() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$@"; }

for device in cuda cpu; do
    for run in "lenet5-mnist dafl mnist" "lenet5-bn-fashion-mnist cmi fashion-mnist-demo"; do
        set -- $run
        start=$(date +%s.%N)
        "$bin" --device "$device" distill --teacher "teachers/$1.safetensors" --method "$2" \
            --preset "$3" --epochs 1 --out "$out/run-$2-$device" >"$out/run-$2-$device.log" 2>&1
        test -f "$out/run-$2-$device/student.safetensors"
        echo "$2 ($3 preset, 1 epoch) on $device: $(seconds "$start" "$(date +%s.%N)") s" | tee -a "$out/runs.txt"
    done
done

for method in dafl dfad pre-dfkd; do
    batch=512
    [ "$method" = pre-dfkd ] && batch=256
    dfkd=() ref=()
    for r in 1 2 3; do
        dfkd+=($(DFKD_DEVICE=cuda gpu-bin/distill_iteration "$method" "$batch" 5 | cut -d' ' -f1))
        ref+=($(cd bench && python3 distill_iteration.py "$method" "$batch" 5 --device cuda))
    done
    flops=$(cd bench && python3 distill_iteration.py "$method" "$batch" 1 --flops)
    python3 bench/ratios.py "$method iteration on the GPU, batch $batch" "$flops" \
        "${dfkd[*]}" "pytorch (NCHW, cuda)" "${ref[*]}" | tee -a "$out/speed.txt"
done
# No PyTorch reference of ours for these yet: dfkd's iteration alone.
for method in mb-dfkd pre-dfad lra lra-vae; do
    t=$(DFKD_DEVICE=cuda gpu-bin/distill_iteration "$method" 256 5 | cut -d' ' -f1 | sort -n | sed -n 3p)
    echo "$method iteration on the GPU, batch 256 (dfkd only): median $t s" | tee -a "$out/speed.txt"
done
for method in deepinversion cmi; do
    dfkd=() ref=()
    for r in 1 2 3; do
        dfkd+=($(DFKD_DEVICE=cuda gpu-bin/synthesis_step "$method" 256 5))
        ref+=($(cd bench && python3 synthesis_step.py "$method" 256 5 --lean --device cuda))
    done
    flops=$(cd bench && python3 synthesis_step.py "$method" 256 1 --lean --flops)
    python3 bench/ratios.py "$method synthesis step on the GPU, batch 256" "$flops" \
        "${dfkd[*]}" "pytorch lean (NCHW, cuda)" "${ref[*]}" | tee -a "$out/speed.txt"
done

pids=()
for m in dafl dfad mb-dfkd pre-dfkd pre-dfad; do
    for seed in 1 2 3 4; do
        "$bin" --device cuda --threads 1 distill --teacher teachers/lenet5-mnist.safetensors --method "$m" \
            --preset mnist --seed "$seed" --val "$mnist" --out "$out/table1/$m-s$seed" \
            >"$out/table1-$m-s$seed.log" 2>&1 &
        pids+=($!)
    done
done
sleep "${PROTOCOL_SECONDS:-300}"
kill "${pids[@]}" 2>/dev/null || true
wait || true
"$bin" report "$out"/table1/*/ --plot "$out/curves.png" | tee "$out/table1.txt"
