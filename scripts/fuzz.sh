#!/usr/bin/env bash
# Fuzzes every parser that reads a user's file (fuzz/src/lib.rs), SECONDS each (default 600),
# one target after another, and prints a line per target: executions, coverage, crashes.
#
#   scripts/fuzz.sh [SECONDS] [TARGET ...]
#
# Needs cargo-fuzz (`cargo install cargo-fuzz`). It runs on the stable toolchain without a
# sanitizer (`-s none`; RUSTC_BOOTSTRAP lets cargo-fuzz pass its -Z flags): the input contract
# checked is ours (no panic, no abort, bounded memory, one-line errors naming the file), not
# memory safety, which safe Rust already has. Image limits are lowered to 256 MiB so that an
# allocation the limit allows stays under libFuzzer's 2 GiB RSS limit.
#
# A crash is saved under fuzz/artifacts/<target>/; fix it, then copy the input to
# fuzz/regressions/<target>/ so that `cargo test` replays it (tests/fuzz_corpus.rs in
# cellpaint-cli). The corpus grows under fuzz/corpus/ (not committed; seeds are regenerated).
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
secs="${1:-600}"
shift || true
export RUSTC_BOOTSTRAP=1 CELLPAINT_MAX_IMAGE_BYTES=$((256 << 20))
cargo fuzz build -O -s none
# The seeds come from the project's own writers, through the normal (uninstrumented) build.
(cd .. && CELLPAINT_FUZZ_SEEDS="$PWD/fuzz/corpus" cargo test --release -q -p cellpaint-cli \
  --test fuzz_corpus write_seed_corpus_when_asked >/dev/null)
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(delimited gct gctx keras_h5 tiff png npz config_json checkpoint image_index locations)
fi
mkdir -p logs
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t" "artifacts/$t"
  # Regressions join the corpus so the fuzzer starts from every input that once failed.
  if [ -d "regressions/$t" ]; then cp -n regressions/"$t"/* "corpus/$t/" 2>/dev/null || true; fi
  set +e
  cargo fuzz run -O -s none "$t" "corpus/$t" -- \
    -max_total_time="$secs" -max_len=65536 -rss_limit_mb=2048 -timeout=20 \
    -artifact_prefix="artifacts/$t/" -print_final_stats=1 >"logs/$t.log" 2>&1
  rc=$?
  set -e
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "logs/$t.log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "logs/$t.log" | tail -1 | cut -d' ' -f2)
  ft=$(grep -o 'ft: [0-9]*' "logs/$t.log" | tail -1 | cut -d' ' -f2)
  crashes=$(find "artifacts/$t" -type f | wc -l)
  echo "$t: ${execs:-?} executions in ${secs}s, coverage ${cov:-?} edges / ${ft:-?} features, corpus $(ls "corpus/$t" | wc -l), crash files ${crashes}, exit ${rc}"
done
