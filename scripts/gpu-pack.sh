#!/usr/bin/env bash
# Builds what scripts/gpu-check.sh runs on a GPU machine (which has no Rust toolchain), on this
# CPU machine, against nvcc 13.0 (scripts/install-cuda-toolkit.sh): the device tests
# (crates/reproduce/tests/device.rs), the device_rates and dp_learning_curve examples, with
# `--features cuda`;
# stripped and compressed into target/gpu-bundle/bundle.tar.xz (most of each binary is candle's
# embedded PTX, which compresses ~10×). The build directory lives outside the clone
# (CELLPAINT_CUDA_TARGET, default ~/.cache/cellpaint/cuda-target), so later builds reuse it.
#
#   scripts/gpu-pack.sh            then carry target/gpu-bundle to the GPU machine
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(scripts/install-cuda-toolkit.sh)"
export CARGO_TARGET_DIR=${CELLPAINT_CUDA_TARGET:-$HOME/.cache/cellpaint/cuda-target}

cargo build --release --features cuda -p reproduce --example device_rates --example dp_learning_curve
tests=$(cargo test --release --features cuda -p reproduce --test device --no-run --message-format=json \
    | python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "device" and m.get("executable"):
        print(m["executable"])' | tail -1)
[[ -x "$tests" ]] || { echo "gpu-pack: the device test binary was not built" >&2; exit 1; }

bundle=target/gpu-bundle
rm -rf "$bundle" && mkdir -p "$bundle/bin"
cp "$tests" "$bundle/bin/device_tests"
cp "$CARGO_TARGET_DIR/release/examples/device_rates" "$bundle/bin/device_rates"
cp "$CARGO_TARGET_DIR/release/examples/dp_learning_curve" "$bundle/bin/dp_learning_curve"
strip "$bundle/bin/"*
{
    echo "commit $(git rev-parse HEAD)$(git diff --quiet HEAD -- crates Cargo.lock || echo ' (with uncommitted changes)')"
    echo "nvcc $(nvcc --version | tail -2 | head -1)"
    echo "compute capability ${CUDA_COMPUTE_CAP}"
    echo "needs: $(readelf -d "$bundle/bin/device_rates" | grep -o 'Shared library: \[[^]]*\]' | tr -d '[]' | sed 's/Shared library: //' | tr '\n' ' ')"
} > "$bundle/BUILD"
tar -C "$bundle" -cf - bin | xz -T0 -6 > "$bundle/bundle.tar.xz"
rm -rf "$bundle/bin"
cat "$bundle/BUILD" >&2
echo "gpu-pack: $bundle/bundle.tar.xz, $(du -h "$bundle/bundle.tar.xz" | cut -f1)" >&2
