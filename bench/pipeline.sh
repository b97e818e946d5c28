#!/usr/bin/env bash
# Whole-pipeline scaling: parse → split → train 15 iterations → evaluate (top-10 for every test
# user) → write the model, on synthetic sets of growing size, with wall time and peak RSS.
#
#   bench/pipeline.sh [--help]
#
# Environment: SIZES="1m 10m 25m", MODEL=implicit, FACTORS=64, THREADS=2, WORK=/tmp/topten-pipeline
# Writes bench/results/pipeline-<UTC>.md.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [[ "${1:-}" == -h || "${1:-}" == --help ]]; then sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0; fi
SIZES="${SIZES:-1m 10m 25m}"; MODEL="${MODEL:-implicit}"; FACTORS="${FACTORS:-64}"; THREADS="${THREADS:-2}"
WORK="${WORK:-/tmp/topten-pipeline}"; mkdir -p "$WORK" bench/results
MD="bench/results/pipeline-$(date -u +%Y%m%dT%H%M%SZ).md"
command -v /usr/bin/time >/dev/null || { apt-get update -qq && apt-get install -y -qq time >/dev/null; }
cargo build --release --bin topten >/dev/null
T="$PWD/target/release/topten"
{
    echo "machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)); load at start: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo
    echo "| data | interactions | file MB | wall s | peak RSS MB | s per million interactions | P@10 | NDCG@10 |"
    echo "|---|---|---|---|---|---|---|---|"
} | tee "$MD"
for size in $SIZES; do
    case $size in
        1m) args=(--users 20000 --items 10000 --interactions 1000000) ;;
        10m) args=(--users 100000 --items 50000 --interactions 10000000) ;;
        25m) args=(--users 250000 --items 50000 --interactions 25000000) ;;
        *) echo "unknown size $size" >&2; exit 2 ;;
    esac
    IN="$WORK/$size.tsv"
    [[ -s $IN ]] || "$T" --log warn synth "${args[@]}" --out "$IN"
    rows=$(wc -l < "$IN"); mb=$(( $(stat -c %s "$IN") / 1000000 ))
    /usr/bin/time -f "%e %M" -o "$WORK/$size.time" "$T" --log warn train --ratings "$IN" --model "$MODEL" --factors "$FACTORS" \
        --iterations 15 --threads "$THREADS" --no-refit --out "$WORK/model-$size" > "$WORK/$size.metrics.json"
    read -r wall rss < "$WORK/$size.time"
    per=$(awk -v w="$wall" -v r="$rows" 'BEGIN{printf "%.2f", w / (r / 1e6)}')
    p=$(grep '"precision_at_k"' "$WORK/$size.metrics.json" | tr -dc '0-9.'); n=$(grep '"ndcg_at_k"' "$WORK/$size.metrics.json" | tr -dc '0-9.')
    echo "| $size | $rows | $mb | $wall | $((rss / 1024)) | $per | ${p:0:6} | ${n:0:6} |" | tee -a "$MD"
done
echo "table: $MD"
