#!/usr/bin/env bash
# The Redis store against the embedded store, in one run: publish throughput, Redis memory
# per user, and serving throughput of `topten serve` over each, with the bare route as the
# HTTP-stack baseline.
#
#   bench/redis-store.sh [--help]
#
# 1. Makes a model (default: `topten synth` USERS x ITEMS_N with INTERACTIONS, trained with
#    32 factors; or MODEL_DIR), starts redis-server (noeviction, no persistence) on a free
#    127.0.0.1 port.
# 2. Publishes the model to a fresh embedded store and to Redis, timing each (documents/s),
#    and reads Redis's used_memory before and after (bytes per user, whole version included).
# 3. Runs bench/load.sh twice (wrk, CONNECTIONS connections): serving from the embedded store,
#    then from Redis; each run also measures /api/ping.
# Prints a markdown table and the ratios (Redis / embedded), and writes a JSON summary to
# bench/results/redis-store-<UTC timestamp>.json (the two load.sh JSON files beside it).
#
# Environment: USERS=100000 ITEMS_N=10000 INTERACTIONS=2000000 MODEL_DIR= DURATION=20
# CONNECTIONS=200 THREADS=2 K=10 RESULTS_DIR=bench/results TOPTEN=target/release/topten
set -euo pipefail

BENCH=redis-store SCRIPT="$(realpath "$0")"
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=bench/lib.sh
source bench/lib.sh
bench_args "$@"

USERS="${USERS:-100000}"
ITEMS_N="${ITEMS_N:-10000}"
INTERACTIONS="${INTERACTIONS:-2000000}"
DURATION="${DURATION:-20}"
CONNECTIONS="${CONNECTIONS:-200}"
RESULTS_DIR="${RESULTS_DIR:-bench/results}"
TOPTEN="${TOPTEN:-$PWD/target/release/topten}"

for t in redis-server redis-cli jq wrk; do
    command -v "$t" >/dev/null || die "$t not found (apt-get install redis-server jq wrk)"
done
[[ -x "$TOPTEN" ]] || die "$TOPTEN missing: cargo build --release --bin topten --bin handler"

TMP="$(mktemp -d "${TMPDIR:-/tmp}/topten-redis-bench.XXXXXX")"
REDIS_PID=""
cleanup() {
    [[ -n "$REDIS_PID" ]] && kill "$REDIS_PID" 2>/dev/null && wait "$REDIS_PID" 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT

# ---------------------------------------------------------------- model
if [[ -z "${MODEL_DIR:-}" ]]; then
    MODEL_DIR="$TMP/model"
    log "synthetic data: $USERS users, $ITEMS_N items, ~$INTERACTIONS interactions"
    TOPTEN_LOG=warn "$TOPTEN" synth --users "$USERS" --items "$ITEMS_N" \
        --interactions "$INTERACTIONS" --out "$TMP/ratings.tsv" >&2
    log "training (implicit, 32 factors, 5 iterations)"
    TOPTEN_LOG=warn "$TOPTEN" train --ratings "$TMP/ratings.tsv" --model implicit \
        --factors 32 --iterations 5 --out "$MODEL_DIR" >&2
fi
N_USERS="$(grep -c . "$MODEL_DIR/user_ids.txt")"

# ---------------------------------------------------------------- redis
RPORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
redis-server --port "$RPORT" --bind 127.0.0.1 --save '' --appendonly no \
    --maxmemory-policy noeviction --daemonize no --loglevel warning >"$TMP/redis.log" 2>&1 &
REDIS_PID=$!
for _ in $(seq 100); do
    [[ "$(redis-cli -p "$RPORT" ping 2>/dev/null)" == PONG ]] && break
    sleep 0.05
done
[[ "$(redis-cli -p "$RPORT" ping)" == PONG ]] || die "redis-server did not start: $(cat "$TMP/redis.log")"
used_memory() { redis-cli -p "$RPORT" info memory | tr -d '\r' | awk -F: '/^used_memory:/ {print $2}'; }

# ---------------------------------------------------------------- publish
publish_secs() { # publish_secs STORE: seconds taken
    local t0 t1
    t0="$(date +%s.%N)"
    TOPTEN_LOG=warn "$TOPTEN" publish --model "$MODEL_DIR" --store "$1" >/dev/null
    t1="$(date +%s.%N)"
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }'
}
log "publishing $N_USERS users to the embedded store"
E_SECS="$(publish_secs "embedded:$TMP/publish.db")"
MEM0="$(used_memory)"
log "publishing $N_USERS users to Redis"
R_SECS="$(publish_secs "redis://127.0.0.1:$RPORT/0?prefix=publish")"
MEM1="$(used_memory)"
E_DPS="$(awk -v n="$N_USERS" -v s="$E_SECS" 'BEGIN { printf "%.0f", n / s }')"
R_DPS="$(awk -v n="$N_USERS" -v s="$R_SECS" 'BEGIN { printf "%.0f", n / s }')"
BYTES_PER_USER="$(awk -v a="$MEM0" -v b="$MEM1" -v n="$N_USERS" 'BEGIN { printf "%.0f", (b - a) / n }')"
MIB_PER_MILLION="$(awk -v b="$BYTES_PER_USER" 'BEGIN { printf "%.0f", b * 1e6 / 1048576 }')"

# ---------------------------------------------------------------- serve
mkdir -p "$RESULTS_DIR"
run_load() { # run_load STORE: path of load.sh's JSON
    local out
    out="$(STORE="$1" MODEL_DIR="$MODEL_DIR" SKIP_REDIS=1 DURATION="$DURATION" \
        CONNECTIONS="$CONNECTIONS" RESULTS_DIR="$RESULTS_DIR" TITLES=/nonexistent \
        bash bench/load.sh | tee /dev/stderr | sed -n 's/^results: //p')"
    [[ -f "$out" ]] || die "load.sh wrote no results"
    echo "$out"
}
log "serving from the embedded store"
E_JSON="$(run_load "embedded:$TMP/serve.db")"
log "serving from Redis"
R_JSON="$(run_load "redis://127.0.0.1:$RPORT/0?prefix=serve")"

field() { jq -r "$2" "$1"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }
E_RPS="$(field "$E_JSON" .results.recommendations.rps)"
R_RPS="$(field "$R_JSON" .results.recommendations.rps)"
TS="$(date -u +%Y%m%dT%H%M%SZ)"
echo
echo "## Redis store vs embedded store ($TS)"
echo
echo "- $(nproc) CPUs, load generator, server and redis-server share them; $(redis-server --version | head -n 1)"
echo "- $N_USERS users, 50 items per user; wrk $CONNECTIONS connections, ${DURATION}s per target"
echo
echo "| store | publish docs/s | GET recs req/s | p50 ms | p99 ms | errors | /api/ping req/s (same run) |"
echo "|---|---:|---:|---:|---:|---:|---:|"
for pair in "embedded:$E_JSON:$E_DPS" "redis:$R_JSON:$R_DPS"; do
    IFS=: read -r name json dps <<<"$pair"
    printf '| %s | %s | %.0f | %.3f | %.3f | %s | %.0f |\n' "$name" "$dps" \
        "$(field "$json" .results.recommendations.rps)" "$(field "$json" .results.recommendations.p50_ms)" \
        "$(field "$json" .results.recommendations.p99_ms)" \
        "$(field "$json" '.results.recommendations | .non2xx + .connect + .read + .write + .timeout')" \
        "$(field "$json" .results.ping.rps)"
done
echo
echo "- Redis / embedded requests/s: $(ratio "$R_RPS" "$E_RPS")"
echo "- Redis / embedded publish documents/s: $(ratio "$R_DPS" "$E_DPS")"
echo "- Redis memory: $BYTES_PER_USER bytes per user for the whole version (lists, histories, model), $MIB_PER_MILLION MiB per million users"
OUT="$RESULTS_DIR/redis-store-$TS.json"
jq -n --arg ts "$TS" --argjson users "$N_USERS" --argjson e_secs "$E_SECS" --argjson r_secs "$R_SECS" \
    --argjson e_dps "$E_DPS" --argjson r_dps "$R_DPS" --argjson bpu "$BYTES_PER_USER" \
    --arg e_json "$E_JSON" --arg r_json "$R_JSON" --argjson e_rps "$E_RPS" --argjson r_rps "$R_RPS" \
    '{timestamp: $ts, users: $users,
      publish: {embedded_s: $e_secs, redis_s: $r_secs, embedded_docs_per_s: $e_dps, redis_docs_per_s: $r_dps},
      redis_bytes_per_user: $bpu,
      serve: {embedded_rps: $e_rps, redis_rps: $r_rps, redis_over_embedded: ($r_rps / $e_rps),
              embedded_results: $e_json, redis_results: $r_json}}' >"$OUT"
echo
echo "results: $OUT"
