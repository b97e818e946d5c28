# Shared start-up of the benchmarks: sourced, not run. Every bench script takes its --help and
# messages from here (bench_args, log, die); the GET-under-writes benchmarks (bench/writes.sh,
# bench/catalogue-changes.sh) use the rest, and bench/soak.sh its open-loop schedule. The caller
# sets BENCH (its name, for messages) and SCRIPT (its absolute path, for --help) first, and for
# the rest TOPTEN, SERVER_CPU, DURATION, CONNECTIONS and THREADS (bench_get_defaults).
#
#   bench_args "$@"                --help prints the script's header; any other argument is an error
#   bench_positive VAR...         each named variable holds a positive integer
#   bench_get_defaults             DURATION=20 CONNECTIONS=50 THREADS=1 SERVER_CPU=0
#                                  TOPTEN=target/release/topten, where not set already
#   bench_get_start                bench_tools, bench_pin, bench_tmp, bench_synthetic_model,
#                                  bench_serve, bench_get_script: a server to measure GETs on
#   bench_tools                    wrk (apt-get as root), python3, curl, awk; builds topten if missing
#   bench_pin                      PIN_SERVER / PIN_CLIENT: taskset to SERVER_CPU and the other core
#   bench_tmp                      TMP, removed on exit with every process in SERVER_PID / WRITER_PID
#   bench_synthetic_model          trains 5,000 users x 2,000 items, publishes to STORE, writes users.txt
#   bench_serve                    starts `topten serve` pinned, waits for health; sets PORT, BASE
#   bench_get_script               TMP/get.lua: GET /api/recommendations/<random known user>?k=10
#   bench_wrk OUT                  runs wrk with get.lua, prints "requests/s p99"
#   bench_runs WHAT CMD...         warm-up, wrk alone, then wrk while CMD runs (the writer, in the
#                                  background); sets RPS_ALONE P99_ALONE RPS_WRITES P99_WRITES RATIO
#   bench_machine                  prints the machine and the binary measured
#   bench_verdict LABEL FAILURE    prints RATIO against MIN_RATIO; exits 1 with FAILURE below it
#   bench_open_loop_py             TMP/open_loop.py: schedule(), for the load generators written in TMP

log() { echo "$BENCH: $*" >&2; }
die() { echo "$BENCH: ERROR: $*" >&2; exit 1; }

bench_args() {
    case "${1:-}" in
        -h|--help) sed -n '2,/^set -euo/p' "$SCRIPT" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
        "") ;;
        *) echo "$BENCH: unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
}

bench_positive() {
    local v
    for v in "$@"; do
        [[ "${!v}" =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer, got '${!v}'"
    done
}

# The GET-under-writes benchmarks measure with the same wrk settings and server core.
bench_get_defaults() {
    DURATION="${DURATION:-20}"
    CONNECTIONS="${CONNECTIONS:-50}"
    THREADS="${THREADS:-1}"
    SERVER_CPU="${SERVER_CPU-0}"
    TOPTEN="${TOPTEN:-target/release/topten}"
}

bench_tools() {
    command -v wrk >/dev/null 2>&1 || {
        [[ "$(id -u)" == 0 ]] || die "wrk missing: apt-get install -y wrk"
        apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >&2
    }
    local t
    for t in wrk python3 curl awk; do command -v "$t" >/dev/null 2>&1 || die "required tool not found: $t"; done
    [[ -x "$TOPTEN" ]] || { log "building topten (release)"; cargo build --release --bin topten >&2; }
}

bench_pin() {
    PIN_SERVER=() PIN_CLIENT=()
    if [[ -n "$SERVER_CPU" ]] && command -v taskset >/dev/null 2>&1 && (($(nproc) > 1)); then
        local other=$(( (SERVER_CPU + 1) % $(nproc) ))
        PIN_SERVER=(taskset -c "$SERVER_CPU") PIN_CLIENT=(taskset -c "$other")
    fi
}

bench_cleanup() {
    local rc=$? pid
    for pid in $WRITER_PID $SERVER_PID; do
        kill -TERM "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$TMP"
    exit "$rc"
}

bench_tmp() {
    TMP="$(mktemp -d "${TMPDIR:-/tmp}/topten-$BENCH.XXXXXX")"
    SERVER_PID="" WRITER_PID=""
    trap bench_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

bench_synthetic_model() {
    log "training a model on synthetic ratings (5,000 users, 2,000 items)"
    TOPTEN_LOG=warn "$TOPTEN" synth --users 5000 --items 2000 --interactions 200000 --out "$TMP/r.tsv" >&2
    TOPTEN_LOG=warn "$TOPTEN" train --ratings "$TMP/r.tsv" --model implicit --factors 32 --iterations 5 --out "$TMP/model" >&2
    STORE="embedded:$TMP/store.db"
    TOPTEN_LOG=warn "$TOPTEN" publish --model "$TMP/model" --store "$STORE" >/dev/null
    cut -f1 "$TMP/r.tsv" | sort -u | head -n 5000 > "$TMP/users.txt"
}

bench_serve() {
    PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
    TOPTEN_LOG=warn "${PIN_SERVER[@]}" "$TOPTEN" serve --store "$STORE" --bind 127.0.0.1 --port "$PORT" >"$TMP/server.log" 2>&1 &
    SERVER_PID=$!
    local i
    for ((i = 0; i < 200; i++)); do
        [[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/api/health" || true)" == 200 ]] && break
        kill -0 "$SERVER_PID" 2>/dev/null || die "server exited: $(tail -n 5 "$TMP/server.log")"
        sleep 0.1
    done
    BASE="http://127.0.0.1:$PORT"
}

bench_get_start() {
    bench_tools
    bench_pin
    bench_tmp
    bench_synthetic_model
    bench_serve
    bench_get_script
}

bench_get_script() {
    cat > "$TMP/get.lua" <<LUA
local users = {}
for line in io.lines("$TMP/users.txt") do users[#users + 1] = line end
math.randomseed(os.time())
request = function()
  return wrk.format("GET", "/api/recommendations/" .. users[math.random(#users)] .. "?k=10")
end
LUA
}

bench_wrk() {
    "${PIN_CLIENT[@]}" wrk -t "$THREADS" -c "$CONNECTIONS" -d "${DURATION}s" --latency -s "$TMP/get.lua" "$BASE" >"$1" 2>&1
    local rps p99
    rps="$(awk '/^Requests\/sec:/ {print $2}' "$1")"
    p99="$(awk '$1 == "99%" {print $2}' "$1")"
    echo "$rps $p99"
}

bench_runs() {
    local what=$1
    shift
    log "warm-up"
    "${PIN_CLIENT[@]}" wrk -t 1 -c 10 -d 2s -s "$TMP/get.lua" "$BASE" >/dev/null 2>&1
    log "GET alone (${DURATION}s)"
    read -r RPS_ALONE P99_ALONE < <(bench_wrk "$TMP/wrk-alone.txt")
    log "GET with $what (${DURATION}s)"
    "$@" &
    WRITER_PID=$!
    sleep 1
    read -r RPS_WRITES P99_WRITES < <(bench_wrk "$TMP/wrk-writes.txt")
    wait "$WRITER_PID" || die "the writer failed"
    WRITER_PID=""
    RATIO="$(awk -v a="$RPS_WRITES" -v b="$RPS_ALONE" 'BEGIN { printf "%.3f", a / b }')"
}

bench_machine() {
    echo "machine: $(nproc) cores, $(awk -F': *' '/^model name/ {print $2; exit}' /proc/cpuinfo); server pinned: ${PIN_SERVER[*]:-no}"
    echo "topten: $("$TOPTEN" --version 2>/dev/null) ($(git rev-parse --short HEAD 2>/dev/null || echo unknown))"
}

bench_verdict() {
    echo "ratio ($1): $RATIO (target >= $MIN_RATIO)"
    awk -v r="$RATIO" -v m="$MIN_RATIO" 'BEGIN { exit !(r >= m) }' || { echo "FAIL: $2"; exit 1; }
    echo "PASS"
}

# One open-loop schedule for every load generator: each sends on its own clock, so a slow answer
# does not lower the offered rate.
bench_open_loop_py() {
    cat > "$TMP/open_loop.py" <<'PY'
import time

def schedule(start, seconds, interval, offset):
    """Yields 0, 1, 2... at start + offset and then every interval seconds, sleeping until each
    is due, for as long as seconds have not passed since start."""
    next_at = start + offset
    n = 0
    while next_at - start < seconds:
        now = time.monotonic()
        if now < next_at:
            time.sleep(next_at - now)
        next_at += interval
        yield n
        n += 1
PY
}
