#!/usr/bin/env bash
# Fuzz each target for a while, one after the other (coverage-guided, libFuzzer via cargo fuzz).
#
#   bash fuzz/run.sh [SECONDS_PER_TARGET] [TARGET ...]     # default: 600 s, every target
#
# Needs cargo-fuzz (`cargo install cargo-fuzz --locked`). On the stable toolchain it builds with
# `-s none` (no sanitizer: `-Zsanitizer` needs nightly); Rust's own checks stay on (debug
# assertions, overflow checks), and every target is safe Rust apart from what it calls.
# The corpus grows in fuzz/corpus/TARGET; a crash stops the run, is written to
# fuzz/artifacts/TARGET/ and the script exits non-zero. Per-target figures (executions, time,
# corpus size) are appended to fuzz/runs.log (not committed).
set -euo pipefail
cd "$(dirname "$0")"
case "${1:-}" in -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac
SECONDS_PER=${1:-600}; shift || true
TARGETS=("$@"); [[ ${#TARGETS[@]} -gt 0 ]] || TARGETS=(ingest events snapshots store_docs catalogue)
command -v cargo-fuzz >/dev/null || { echo "run.sh: cargo-fuzz not installed (cargo install cargo-fuzz --locked)" >&2; exit 2; }
cargo fuzz build -s none
for t in "${TARGETS[@]}"; do
    mkdir -p "corpus/$t" "regressions/$t"
    log="artifacts/$t.log"; mkdir -p artifacts
    echo "== $t: ${SECONDS_PER}s" >&2
    start=$(date +%s)
    set +e
    cargo fuzz run -s none "$t" "corpus/$t" "regressions/$t" -- \
        -max_total_time="$SECONDS_PER" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1
    rc=$?
    set -e
    end=$(date +%s)
    runs=$(grep -oE '^stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' || echo "?")
    crashes=$(find "artifacts/$t" -maxdepth 1 \( -name 'crash-*' -o -name 'timeout-*' -o -name 'oom-*' \) 2>/dev/null | wc -l)
    line="$(date -u +%FT%TZ) target=$t seconds=$((end - start)) executions=$runs crashes=$crashes corpus=$(ls "corpus/$t" | wc -l) rc=$rc"
    echo "$line" | tee -a runs.log >&2
    [[ $rc -eq 0 ]] || { echo "run.sh: $t failed; see $log and artifacts/$t/" >&2; exit 1; }
done
