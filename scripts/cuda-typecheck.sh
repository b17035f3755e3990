#!/usr/bin/env bash
# CI's CUDA check: type-checks every crate that has the `cuda` feature, with it on, in a few
# minutes and without a GPU. What it guards: our device code and its use of candle's and
# cudarc's CUDA APIs compile (`cargo check --features cuda`). What it does not: candle's own
# kernels are not compiled (its build script gets a stand-in nvcc that writes empty kernel
# files, so nothing from this check can run), and nothing is linked. Those are checked by the
# real build, `scripts/gpu-pack.sh` (nvcc 13.0; 22 minutes cold on 2 cores, about one warm),
# which runs whenever device code or candle changes and before every GPU check.
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(scripts/install-cuda-toolkit.sh)"       # the real nvcc: cudarc reads the CUDA version from it
standin=$(mktemp -d)
trap 'rm -rf "$standin"' EXIT
cat > "$standin/nvcc" <<'SH'
#!/usr/bin/env bash
# Stand-in nvcc for a type check: writes the file it was asked for (-o FILE, or
# --output-directory DIR with a .cu source: DIR/NAME.ptx), empty PTX, object or archive.
out=""; dir=""; src=""; lib=0
while [[ $# -gt 0 ]]; do
    case "$1" in
        -o) out=$2; shift ;;
        --output-directory|-odir) dir=$2; shift ;;
        --lib|-lib) lib=1 ;;
        --version) exec "$REAL_NVCC" --version ;;
        *.cu) src=$1 ;;
    esac
    shift
done
if [[ -z "$out" && -n "$dir" && -n "$src" ]]; then out="$dir/$(basename "${src%.cu}").ptx"; fi
[[ -n "$out" ]] || { echo "stand-in nvcc: no output named" >&2; exit 1; }
mkdir -p "$(dirname "$out")"
if [[ $lib == 1 ]]; then rm -f "$out"; ar rcs "$out"; else echo "// stand-in: not compiled" > "$out"; fi
SH
chmod +x "$standin/nvcc"
export REAL_NVCC=$(command -v nvcc)
# cudaforge (candle-kernels' build script) and cellpaint-core's build.rs take $NVCC. A target
# directory of its own keeps these empty kernels away from real builds (cargo would not rerun
# candle-kernels' build script for them). All code behind the feature is in cellpaint-core (the
# method crates and the binaries only forward it).
NVCC="$standin/nvcc" CARGO_TARGET_DIR=${CELLPAINT_CUDA_CHECK_TARGET:-target/cuda-typecheck} \
    cargo check --features cuda -p cellpaint-core --all-targets
