#!/usr/bin/env bash
# The GPU check, for a machine with an NVIDIA GPU, its driver and PyTorch with its CUDA
# libraries, and no Rust toolchain: runs the binaries scripts/gpu-pack.sh built on a CPU machine
# (target/gpu-bundle/bundle.tar.xz) and writes everything under $OUT (default target/gpu-check):
#
#   1. environment.txt     the bundle's build, GPU, driver, PyTorch, the CUDA libraries found
#   2. (steps.log)         crates/reproduce/tests/device.rs with CELLPAINT_TEST_DEVICE=cuda:
#                          every op and network on CUDA against the CPU, short trainings
#   3. rates-candle.json   the device_rates example: EfficientNet-B0 steps, each method's step;
#      rates-candle-composed.json: EfficientNet-B0 without our CUDA kernels
#   4. rates-torch.json    torchvision's EfficientNet-B0 at the same shapes on the same GPU
#   5. paper-batch.json, paper-batch-torch.json
#                          MOAProfiler's paper batch (56 fields of 1080²), ours and PyTorch's
#   steps.log              what each step printed;  summary.txt: exit statuses and results
#
# Each step has its own time limit (about 8 minutes in all); a step that fails or runs out of
# time is reported and the next one still runs. The exit status is that of the device tests.
#
#   scripts/gpu-check.sh            (from the repository root)
#   scripts/gpu-check.sh tests N    only the device tests, N times (does a result repeat?)
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-target/gpu-check}
mkdir -p "$OUT"
summary="$OUT/summary.txt"
: > "$summary"
say() { echo "$*" | tee -a "$summary"; }
started=$SECONDS

bundle=target/gpu-bundle/bundle.tar.xz
[[ -f "$bundle" ]] || { say "gpu-check: $bundle missing: run scripts/gpu-pack.sh on a CPU machine first"; exit 2; }
bin=$(mktemp -d)
tar -xJf "$bundle" -C "$bin" || { say "gpu-check: cannot unpack $bundle"; exit 2; }

# CUDA libraries (cuBLAS, cuBLASLt, cuRAND, NVRTC) from the machine's PyTorch install: its
# nvidia-* wheels, whichever layout (nvidia/<name>/lib or nvidia/cu13/lib); the driver's
# libcuda.so.1 from the system.
libdirs=$(python3 - <<'PY'
import glob, os, site
roots = list(site.getsitepackages()) + [site.getusersitepackages()]
try:
    import torch
    roots.append(os.path.dirname(os.path.dirname(torch.__file__)))
except Exception:
    pass
dirs = []
for r in roots:
    for d in sorted(glob.glob(os.path.join(r, "nvidia", "*", "lib"))) + [os.path.join(r, "torch", "lib")]:
        if os.path.isdir(d) and d not in dirs:
            dirs.append(d)
print(":".join(dirs))
PY
)
export LD_LIBRARY_PATH="${libdirs}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
{
    date -u
    cat target/gpu-bundle/BUILD 2>/dev/null
    nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv 2>&1
    nvidia-smi 2>&1 | sed -n 3p
    python3 -c 'import torch; print("torch", torch.__version__, "built with CUDA", torch.version.cuda)' 2>&1
    python3 -c 'import torchvision; print("torchvision", torchvision.__version__)' 2>&1
    echo "CPU cores: $(nproc)"
    echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
    echo "--- what the binaries link against"
    ldd "$bin/bin/device_rates" | grep -E "cuda|cublas|curand|nvrtc|not found"
} > "$OUT/environment.txt" 2>&1
cat "$OUT/environment.txt"
if ldd "$bin/bin/device_rates" | grep -q "not found"; then
    say "gpu-check: libraries not found (see $OUT/environment.txt):"
    ldd "$bin/bin/device_rates" | grep "not found" | tee -a "$summary"
    exit 2
fi

# step NAME LIMIT COMMAND...: runs it with a time limit; its output in $log, then in steps.log.
step() {
    local name=$1 limit=$2
    shift 2
    local t0=$SECONDS
    log="$bin/$name.log"
    timeout --kill-after=10 "$limit" "$@" > "$log" 2>&1
    local rc=$?
    { echo "=== $name"; cat "$log"; } >> "$OUT/steps.log"
    say "step $name: exit $rc in $((SECONDS - t0)) s (limit $limit s)$([[ $rc == 124 ]] && echo ', ran out of time')"
    return $rc
}

export RAYON_NUM_THREADS=${RAYON_NUM_THREADS:-$(nproc)}
if [[ "${1:-}" == tests ]]; then
    worst=0
    for i in $(seq "${2:-1}"); do
        CELLPAINT_CUDA_KERNELS=1 CELLPAINT_TEST_DEVICE=cuda step "device-tests-$i" 120 "$bin/bin/device_tests" --nocapture --test-threads 1
        rc=$?
        [[ $rc == 0 ]] || worst=$rc
        grep -E "repeated|gradients |test result|panicked" -A1 "$log" | grep -v "^--" >> "$summary"
    done
    say "gpu-check: $((SECONDS - started)) s in all; device tests exit $worst"
    exit $worst
fi
# Our CUDA kernels on (CELLPAINT_CUDA_KERNELS=1): the tests compare them and the compositions
# with the CPU; the rates are measured both ways.
export CELLPAINT_CUDA_KERNELS=1
CELLPAINT_TEST_DEVICE=cuda step device-tests 120 "$bin/bin/device_tests" --nocapture --test-threads 1
tests_rc=$?

grep -E "^device-check|^test |test result" "$log" >> "$summary"
grep -E "panicked|Error" "$log" | head -5 >> "$summary"

step rates-candle 180 "$bin/bin/device_rates" device=cuda steps=5 out="$OUT/rates-candle.json" \
    cases=efficientnet_crops,deepprofiler,vae_plus,efficientnet_fields_b8,moa_profiler_b8
grep "^device_rates" "$log" >> "$summary"
CELLPAINT_CUDA_KERNELS=0 step rates-candle-composed 60 "$bin/bin/device_rates" device=cuda steps=5 \
    out="$OUT/rates-candle-composed.json" cases=efficientnet_crops,efficientnet_fields_b8
grep "^device_rates" "$log" | sed 's/^device_rates/device_rates (compositions)/' >> "$summary"

step rates-torch 90 python3 scripts/bench_efficientnet_torch.py --device cuda --steps 5 --cases 32x128,8x1080
sed -n '/^{/,$p' "$log" > "$OUT/rates-torch.json"
cat "$OUT/rates-torch.json" >> "$summary"

step paper-batch 60 "$bin/bin/device_rates" device=cuda steps=2 out="$OUT/paper-batch.json" cases=moa_profiler_paper
grep "^device_rates" "$log" >> "$summary"
step paper-batch-torch 45 python3 scripts/bench_efficientnet_torch.py --device cuda --steps 2 --cases 56x1080
sed -n '/^{/,$p' "$log" > "$OUT/paper-batch-torch.json"
cat "$OUT/paper-batch-torch.json" >> "$summary"

say "gpu-check: $((SECONDS - started)) s in all; device tests exit $tests_rc"
exit $tests_rc
