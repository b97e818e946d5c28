#!/usr/bin/env bash
# The WebAssembly component under wasmtime against the native handler, on the same snapshot.
#
#   bench/portable.sh [--help]
#
# Publishes the MovieLens 100K model to a fresh temporary store, exports its snapshot
# (`topten export-snapshot`), builds the component with it (crates/wasm/build.sh, timed), then serves
# the same snapshot twice on free 127.0.0.1 ports: natively (`topten serve --store
# snapshot:FILE`) and as the component (`topten serve --wasm`, a fresh pooled instance per
# request). Checks that both give the same body for a user, then drives each in turn with wrk
# (a random known user per request, k=K) and prints requests/s, p50, p99 and the ratios.
# Raw outputs go to bench/results/portable-<UTC timestamp>.txt. Needs wrk, and the wasm
# toolchain of crates/wasm/build.sh; builds topten with `--features wasm` first.
#
# Environment:
#   DURATION=15   seconds per wrk run     CONNECTIONS=32    THREADS=2     K=10    WARMUP=2
#   MODEL_DIR=data/models/ml-100k   TITLES=data/ml-100k/items.tsv   RESULTS_DIR=bench/results
set -euo pipefail
case "${1:-}" in
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
    "") ;;
    *) echo "portable: unknown argument: $1 (see --help)" >&2; exit 2 ;;
esac
cd "$(dirname "${BASH_SOURCE[0]}")/.."
DURATION="${DURATION:-15}" CONNECTIONS="${CONNECTIONS:-32}" THREADS="${THREADS:-2}" K="${K:-10}" WARMUP="${WARMUP:-2}"
MODEL_DIR="${MODEL_DIR:-data/models/ml-100k}" TITLES="${TITLES:-data/ml-100k/items.tsv}"
RESULTS_DIR="${RESULTS_DIR:-bench/results}"
TOPTEN="$PWD/target/release/topten"
log() { echo "portable: $*" >&2; }
die() { echo "portable: ERROR: $*" >&2; exit 1; }
command -v wrk >/dev/null || die "wrk not found (apt-get install wrk)"

TMP="$(mktemp -d "${TMPDIR:-/tmp}/topten-portable.XXXXXX")"
PIDS=()
cleanup() {
    local rc=$? pid
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
    rm -rf "$TMP"
    exit "$rc"
}
trap cleanup EXIT

log "cargo build --release -p topten-trainer --features wasm (a no-op when up to date)"
cargo build --release -p topten-trainer --features wasm >&2
if [[ ! -f "$MODEL_DIR/model.json" ]]; then
    log "no model in $MODEL_DIR: fetching MovieLens 100K and training"
    bash scripts/fetch-movielens.sh
    TOPTEN_LOG=warn "$TOPTEN" train --ratings data/ml-100k/u.data --model implicit --k 10 --out "$MODEL_DIR" >&2
fi
TITLE_ARGS=()
[[ -f "$TITLES" ]] && TITLE_ARGS=(--titles "$TITLES")
STORE="embedded:$TMP/store.db"
TOPTEN_LOG=warn "$TOPTEN" publish --model "$MODEL_DIR" --store "$STORE" "${TITLE_ARGS[@]}" >/dev/null
SNAP="$TMP/recs.snap"
VERSION="$(TOPTEN_LOG=warn "$TOPTEN" export-snapshot --store "$STORE" --out "$SNAP")"
start=$(date +%s.%N)
COMPONENT="$(crates/wasm/build.sh "$SNAP" "$TMP/topten.wasm")"
BUILD_S="$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')"
SNAP_BYTES="$(stat -c %s "$SNAP")" WASM_BYTES="$(stat -c %s "$COMPONENT")"
log "version $VERSION: snapshot $SNAP_BYTES bytes, component $WASM_BYTES bytes (build ${BUILD_S}s incl. embedding)"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
start_server() { # start_server VAR ARGS...: starts a server, sets VAR to its port
    local var="$1" port; shift
    port="$(free_port)"
    TOPTEN_LOG=warn "$TOPTEN" serve --bind 127.0.0.1 --port "$port" "$@" >>"$TMP/server.log" 2>&1 &
    PIDS+=($!)   # not in a subshell, so cleanup stops it
    for _ in $(seq 300); do
        curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$port/api/ping" && { printf -v "$var" %s "$port"; return; }
        sleep 0.1
    done
    die "server $* did not start: $(tail -n 5 "$TMP/server.log")"
}
start_server NATIVE_PORT --store "snapshot:$SNAP" --log-requests false
start_server WASM_PORT --wasm "$COMPONENT"
USERS="$MODEL_DIR/user_ids.txt"
U="$(head -n 1 "$USERS")"
cmp <(curl -sf "http://127.0.0.1:$NATIVE_PORT/api/recommendations/$U?k=$K") \
    <(curl -sf "http://127.0.0.1:$WASM_PORT/api/recommendations/$U?k=$K") || die "bodies differ for user $U"

cat >"$TMP/users.lua" <<'LUA'
local reqs, n = {}, 0
function init(args)
    for line in io.lines(args[1]) do
        local id = line:gsub("%s+$", "")
        if id ~= "" then n = n + 1; reqs[n] = wrk.format("GET", "/api/recommendations/" .. id .. "?k=" .. args[2]) end
    end
    math.randomseed(os.time())
end
function request() return reqs[math.random(n)] end
function done(s, lat)
    io.write(string.format("RESULT rps=%.0f p50_ms=%.3f p99_ms=%.3f errors=%d\n", s.requests / (s.duration / 1e6),
        lat:percentile(50) / 1000, lat:percentile(99) / 1000,
        s.errors.status + s.errors.connect + s.errors.read + s.errors.write + s.errors.timeout))
end
LUA
mkdir -p "$RESULTS_DIR"
OUT="$RESULTS_DIR/portable-$(date -u +%Y%m%dT%H%M%SZ).txt"
{
    echo "machine: $(nproc) cores, $(awk -F': *' '/^model name/ {print $2; exit}' /proc/cpuinfo); load before: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "version $VERSION, snapshot $SNAP_BYTES B, component $WASM_BYTES B, component build ${BUILD_S}s"
    echo "wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s, random known user, k=$K"
} >"$OUT"
declare -A RPS P50 P99
for target in native wasm; do
    port=NATIVE_PORT; [[ $target == wasm ]] && port=WASM_PORT
    url="http://127.0.0.1:${!port}/"
    ((WARMUP > 0)) && wrk -t"$THREADS" -c"$CONNECTIONS" -d"${WARMUP}s" -s "$TMP/users.lua" "$url" -- "$USERS" "$K" >/dev/null
    log "wrk $target"
    timeout $((DURATION * 3 + 60)) wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency -s "$TMP/users.lua" "$url" -- "$USERS" "$K" >"$TMP/$target.wrk"
    { echo "== $target"; cat "$TMP/$target.wrk"; } >>"$OUT"
    line="$(grep '^RESULT' "$TMP/$target.wrk")"
    RPS[$target]="$(sed 's/.*rps=\([0-9.]*\).*/\1/' <<<"$line")"
    P50[$target]="$(sed 's/.*p50_ms=\([0-9.]*\).*/\1/' <<<"$line")"
    P99[$target]="$(sed 's/.*p99_ms=\([0-9.]*\).*/\1/' <<<"$line")"
    grep -q 'errors=0' <<<"$line" || log "WARNING: $target had errors: $line"
done
{
    echo
    echo "| target | requests/s | p50 | p99 |"
    echo "|---|---|---|---|"
    for t in native wasm; do echo "| $t | ${RPS[$t]} | ${P50[$t]} ms | ${P99[$t]} ms |"; done
    awk -v a="${RPS[wasm]}" -v b="${RPS[native]}" -v c="${P99[wasm]}" -v d="${P99[native]}" \
        'BEGIN { printf "ratio wasm/native: requests/s %.2f, p99 %.2fx\n", a / b, c / d }'
} | tee -a "$OUT"
log "raw output: $OUT"
