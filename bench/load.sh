#!/usr/bin/env bash
# Load benchmark of the recommendation API against a bare route and a Redis GET baseline.
#
#   bench/load.sh [--help]
#
# Publishes the model to a fresh temporary LMDB store, serves it on a free 127.0.0.1 port
# (request logging off, TOPTEN_LOG=warn), then, in one run:
#   1. wrk -c CONNECTIONS -t THREADS -d DURATION --latency on /api/recommendations/<id>?k=K,
#      a random known user (the model's user_ids.txt) for every request;
#   2. the same on /api/ping (bare route: the HTTP-stack baseline);
#   3. redis-server (no persistence) holding each user's top-K as the API's JSON body under
#      recs:<12-digit index>, driven by redis-benchmark GET recs:__rand_int__ -r <users>.
# Prints the machine, a markdown table (requests/s, p50, p99, errors) and the ratios, and
# writes raw outputs + a JSON summary to bench/results/load-<UTC timestamp>.json.
# Installs wrk / redis-server / redis-tools / curl / jq with apt-get if missing (root).
# Every process it starts is stopped on exit, also on failure or Ctrl-C.
#
# Environment:
#   DURATION=30         seconds per wrk run          CONNECTIONS=200   THREADS=2
#   K=10                items per request            WARMUP=2          seconds, not reported
#   SERVER=topten       or "handler" (target/release/handler)
#   WRK_TIMEOUT=5s      wrk per-request timeout (slower responses count as timeouts)
#   REDIS_REQUESTS=     redis-benchmark -n (default 20000 * DURATION)
#   SKIP_REDIS=0        1 skips the Redis comparison
#   TOPTEN=target/release/topten   the binary measured (e.g. a copy of an older build)
#   MODEL_DIR=data/models/ml-100k   TITLES=data/ml-100k/items.tsv   RESULTS_DIR=bench/results
#   ITEMS=              a catalogue to publish with the version (publish --items)
#   STORE=              the store to publish to and serve from (default: a fresh temporary
#                       embedded store), e.g. redis://127.0.0.1:6379/0?prefix=bench
#   FILTER_QUERY=       e.g. "category=Drama": adds a run of the recommendations target with
#                       this query appended, and its ratio to the unfiltered run
#   EXPERIMENT_SHARE=   e.g. 0.5: publishes the model a second time without activating it and
#                       starts an experiment serving that share of users from it (every answer
#                       then picks the user's arm); needs a topten with `experiment`
set -euo pipefail

BENCH=load SCRIPT="$(realpath "$0")"
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=bench/lib.sh
source bench/lib.sh
bench_args "$@"
REPO_ROOT="$(pwd)"

DURATION="${DURATION:-30}"
CONNECTIONS="${CONNECTIONS:-200}"
THREADS="${THREADS:-2}"
K="${K:-10}"
WARMUP="${WARMUP:-2}"
SERVER="${SERVER:-topten}"
WRK_TIMEOUT="${WRK_TIMEOUT:-5s}"
SKIP_REDIS="${SKIP_REDIS:-0}"
MODEL_DIR="${MODEL_DIR:-data/models/ml-100k}"
TITLES="${TITLES:-data/ml-100k/items.tsv}"
RESULTS_DIR="${RESULTS_DIR:-bench/results}"
TOPTEN="${TOPTEN:-$REPO_ROOT/target/release/topten}"
HANDLER="$REPO_ROOT/target/release/handler"


for v in DURATION CONNECTIONS THREADS K WARMUP; do
    [[ "${!v}" =~ ^[0-9]+$ ]] || die "$v must be a non-negative integer, got '${!v}'"
done
((DURATION > 0 && CONNECTIONS > 0 && THREADS > 0 && K > 0)) || die "DURATION, CONNECTIONS, THREADS and K must be > 0"
((CONNECTIONS >= THREADS)) || die "CONNECTIONS must be >= THREADS"
REDIS_REQUESTS="${REDIS_REQUESTS:-$((20000 * DURATION))}"
[[ "$REDIS_REQUESTS" =~ ^[1-9][0-9]*$ ]] || die "REDIS_REQUESTS must be a positive integer"
case "$SERVER" in topten|handler) ;; *) die "SERVER must be topten or handler, got '$SERVER'" ;; esac

# ---------------------------------------------------------------- cleanup (set up first)
TMP="$(mktemp -d "${TMPDIR:-/tmp}/topten-load.XXXXXX")"
PIDS=()          # long-lived processes we started (server, redis)
CLIENT_PID=""    # the load generator currently running, if any
stop_pid() {     # stop_pid PID: TERM, wait up to 5 s, then KILL
    local pid="$1" i
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    [[ -n "$CLIENT_PID" ]] && stop_pid "$CLIENT_PID"
    local pid
    for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
    rm -rf "$TMP"
    exit "$rc"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT
trap 'log "terminated"; exit 143' TERM

# ---------------------------------------------------------------- tools
need_pkgs=()
command -v wrk >/dev/null 2>&1 || need_pkgs+=(wrk)
command -v redis-server >/dev/null 2>&1 || need_pkgs+=(redis-server)
{ command -v redis-benchmark && command -v redis-cli; } >/dev/null 2>&1 || need_pkgs+=(redis-tools)
command -v curl >/dev/null 2>&1 || need_pkgs+=(curl)
command -v jq >/dev/null 2>&1 || need_pkgs+=(jq)
if ((${#need_pkgs[@]})); then
    [[ "$(id -u)" == 0 ]] || die "missing ${need_pkgs[*]} and not root: apt-get install -y ${need_pkgs[*]}"
    command -v apt-get >/dev/null 2>&1 || die "missing ${need_pkgs[*]} and no apt-get"
    log "installing ${need_pkgs[*]}"
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_pkgs[@]}" >&2
fi
for t in wrk redis-server redis-benchmark redis-cli curl jq awk timeout; do
    command -v "$t" >/dev/null 2>&1 || die "required tool not found: $t"
done

# ---------------------------------------------------------------- binaries and model
if [[ ! -x "$TOPTEN" || ( "$SERVER" == handler && ! -x "$HANDLER" ) ]]; then
    log "release binaries missing: cargo build --release --bin topten --bin handler"
    cargo build --release --bin topten --bin handler >&2
fi
if [[ ! -f "$MODEL_DIR/model.json" || ! -s "$MODEL_DIR/user_ids.txt" ]]; then
    log "no model in $MODEL_DIR: fetching MovieLens 100K and training"
    bash scripts/fetch-movielens.sh
    TOPTEN_LOG=warn "$TOPTEN" train --ratings data/ml-100k/u.data --model implicit --k 10 --out "$MODEL_DIR" >&2
fi
USER_IDS="$(cd "$MODEL_DIR" && pwd)/user_ids.txt"
N_USERS="$(grep -c . "$USER_IDS")"
((N_USERS > 0)) || die "no user ids in $USER_IDS"
TITLE_ARGS=()
[[ -f "$TITLES" ]] && TITLE_ARGS=(--titles "$TITLES")
[[ -n "${ITEMS:-}" ]] && TITLE_ARGS+=(--items "$ITEMS")
FILTER_QUERY="${FILTER_QUERY:-}"

# ---------------------------------------------------------------- helpers
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() {
    local p i
    for ((i = 0; i < 200; i++)); do
        p=$((20000 + RANDOM % 40000))
        port_in_use "$p" || { echo "$p"; return 0; }
    done
    die "no free port found"
}
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo null; }
alive() { kill -0 "$1" 2>/dev/null; }
num_or_null() { [[ "$1" =~ ^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$ ]] && echo "$1" || echo null; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || a == "null" || b == "null" || b + 0 == 0) print "null"; else printf "%.3f", a / b }'; }
run_client() { # run_client OUTFILE CMD...: run a bounded load generator in the background, wait
    local out="$1"; shift
    timeout --kill-after=5 "$((DURATION * 3 + 120))" "$@" >"$out" 2>&1 &
    CLIENT_PID=$!
    local rc=0
    wait "$CLIENT_PID" || rc=$?
    CLIENT_PID=""
    return "$rc"
}

# ---------------------------------------------------------------- machine
CPU_MODEL="$(awk -F': *' '/^model name/ {print $2; exit}' /proc/cpuinfo)"
NPROC="$(nproc)"
MEM_TOTAL="$(awk '/^MemTotal:/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)"
KERNEL="$(uname -r)"
WRK_VERSION="$(wrk --version 2>&1 | head -n 1 || true)"
REDIS_VERSION="$(redis-server --version | head -n 1)"
TOPTEN_VERSION="$("$TOPTEN" --version 2>/dev/null || echo unknown)"
GIT_REV="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
[[ -n "$(git status --porcelain 2>/dev/null | head -n 1)" ]] && GIT_REV="$GIT_REV+dirty"
TS="$(date -u +%Y%m%dT%H%M%SZ)"

# ---------------------------------------------------------------- publish + serve
STORE="${STORE:-embedded:$TMP/store.db}"
STORE_KIND="${STORE%%:*}"
log "publishing $MODEL_DIR to $STORE"
VERSION="$(TOPTEN_LOG=warn "$TOPTEN" publish --model "$MODEL_DIR" --store "$STORE" "${TITLE_ARGS[@]}" | tail -n 1)"
[[ -n "$VERSION" ]] || die "publish printed no version id"
log "published version $VERSION"
if [[ -n "${EXPERIMENT_SHARE:-}" ]]; then
    CANDIDATE="$(TOPTEN_LOG=warn "$TOPTEN" publish --model "$MODEL_DIR" --store "$STORE" --no-activate "${TITLE_ARGS[@]}" | tail -n 1)"
    TOPTEN_LOG=warn "$TOPTEN" experiment start --store "$STORE" --candidate "$CANDIDATE" --share "$EXPERIMENT_SHARE" >/dev/null
    log "experiment: $CANDIDATE serves a share of $EXPERIMENT_SHARE"
fi

SERVER_LOG="$TMP/server.log"
start_server() { # sets PORT and SERVER_PID
    PORT="$(free_port)"
    if [[ "$SERVER" == topten ]]; then
        TOPTEN_LOG=warn "$TOPTEN" serve --store "$STORE" --bind 127.0.0.1 --port "$PORT" \
            --log-requests false >>"$SERVER_LOG" 2>&1 &
    else
        FUNCTIONS_CUSTOMHANDLER_PORT="$PORT" TOPTEN_LOG=warn "$HANDLER" --store "$STORE" \
            --bind 127.0.0.1 --port "$PORT" --log-requests false >>"$SERVER_LOG" 2>&1 &
    fi
    SERVER_PID=$!
    PIDS+=("$SERVER_PID")
    local i code
    for ((i = 0; i < 300; i++)); do
        alive "$SERVER_PID" || return 1
        code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "http://127.0.0.1:$PORT/api/health" || true)"
        [[ "$code" == 200 ]] && return 0
        sleep 0.1
    done
    return 1
}
started=0
for attempt in 1 2 3; do
    if start_server; then started=1; break; fi
    log "server did not become healthy on port $PORT (attempt $attempt); log tail:"
    tail -n 5 "$SERVER_LOG" >&2 || true
    stop_pid "$SERVER_PID"
done
((started)) || die "could not start the $SERVER server"
BASE="http://127.0.0.1:$PORT"
log "$SERVER serving on $BASE (pid $SERVER_PID)"

FIRST_USER="$(grep -m 1 . "$USER_IDS" | tr -d '\r')"
SAMPLE_BODY="$(curl -sf --max-time 5 "$BASE/api/recommendations/$FIRST_USER?k=$K")" \
    || die "GET /api/recommendations/$FIRST_USER failed before the load"

# ---------------------------------------------------------------- wrk script
LUA="$TMP/load.lua"
cat >"$LUA" <<'LUA'
-- wrk script. Arguments: "users" USER_IDS_FILE K  |  "path" PATH
-- Every request is pre-formatted in init(); request() only picks one, so the
-- per-request Lua cost is the same for both targets.
local reqs, n = {}, 0
local counter = 0

function setup(thread)
    counter = counter + 1
    thread:set("thread_no", counter)
end

local function urlencode(s)
    return (s:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", string.byte(c)) end))
end

function init(args)
    if args[1] == "users" then
        local f = assert(io.open(args[2], "r"))
        for line in f:lines() do
            local id = line:gsub("%s+$", "")
            if id ~= "" then
                n = n + 1
                reqs[n] = wrk.format("GET", "/api/recommendations/" .. urlencode(id) .. "?k=" .. args[3] .. (args[4] or ""))
            end
        end
        f:close()
    else
        n = 1
        reqs[1] = wrk.format("GET", args[2])
    end
    assert(n > 0, "no requests")
    math.randomseed(os.time() * 1000 + (thread_no or 0) * 7919)
end

function request()
    return reqs[math.random(n)]
end

function done(summary, latency, requests)
    local secs = summary.duration / 1e6
    local e = summary.errors
    io.write(string.format(
        'WRK_JSON {"requests":%d,"duration_s":%.3f,"rps":%.2f,"bytes":%d,' ..
        '"p50_ms":%.3f,"p90_ms":%.3f,"p99_ms":%.3f,"p999_ms":%.3f,"mean_ms":%.3f,"max_ms":%.3f,' ..
        '"non2xx":%d,"connect":%d,"read":%d,"write":%d,"timeout":%d}\n',
        summary.requests, secs, summary.requests / secs, summary.bytes,
        latency:percentile(50) / 1000, latency:percentile(90) / 1000,
        latency:percentile(99) / 1000, latency:percentile(99.9) / 1000,
        latency.mean / 1000, latency.max / 1000,
        e.status, e.connect, e.read, e.write, e.timeout))
end
LUA

wrk_run() { # wrk_run NAME SECONDS LUA-ARGS...: raw output in $TMP/NAME.wrk
    local name="$1" secs="$2"; shift 2
    local url="$BASE/"
    run_client "$TMP/$name.wrk" wrk -t "$THREADS" -c "$CONNECTIONS" -d "${secs}s" \
        --timeout "$WRK_TIMEOUT" --latency -s "$LUA" "$url" -- "$@" \
        || die "wrk ($name) failed: $(tail -n 5 "$TMP/$name.wrk")"
}
declare -A RES   # RES[target.field]
wrk_measure() { # wrk_measure TARGET LUA-ARGS...
    local target="$1"; shift
    alive "$SERVER_PID" || die "server died before the $target run"
    if ((WARMUP > 0)); then
        log "warming up $target for ${WARMUP}s"
        wrk_run "$target-warmup" "$WARMUP" "$@"
    fi
    RES[$target.rss_before_kb]="$(rss_kb "$SERVER_PID")"
    log "wrk $target: -t$THREADS -c$CONNECTIONS -d${DURATION}s"
    wrk_run "$target" "$DURATION" "$@"
    cat "$TMP/$target.wrk" >&2
    local j
    j="$(sed -n 's/^WRK_JSON //p' "$TMP/$target.wrk" | tail -n 1)"
    [[ -n "$j" ]] || die "no WRK_JSON line in the $target output"
    echo "$j" >"$TMP/$target.json"
    RES[$target.rps]="$(jq -r .rps <<<"$j")"
    RES[$target.p50]="$(jq -r .p50_ms <<<"$j")"
    RES[$target.p99]="$(jq -r .p99_ms <<<"$j")"
    RES[$target.errors]="$(jq -r '.non2xx + .connect + .read + .write + .timeout' <<<"$j")"
    RES[$target.errdesc]="$(jq -r '"non2xx \(.non2xx), connect \(.connect), read \(.read), write \(.write), timeout \(.timeout)"' <<<"$j")"
    if alive "$SERVER_PID"; then
        RES[$target.alive]=true
        RES[$target.rss_after_kb]="$(rss_kb "$SERVER_PID")"
        RES[$target.health_after]="$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$BASE/api/health" || echo 000)"
    else
        RES[$target.alive]=false
        RES[$target.rss_after_kb]=null
        RES[$target.health_after]=000
        log "WARNING: the server exited during the $target run"
    fi
}

wrk_measure recommendations users "$USER_IDS" "$K"
[[ -n "$FILTER_QUERY" ]] && wrk_measure filtered users "$USER_IDS" "$K" "&$FILTER_QUERY"
wrk_measure ping path /api/ping

SERVER_ALIVE_END=false
alive "$SERVER_PID" && SERVER_ALIVE_END=true
SERVER_LOG_LINES="$(wc -l <"$SERVER_LOG")"
SERVER_LOG_WARN="$(grep -c -E 'WARN|ERROR|panic' "$SERVER_LOG" || true)"

# ---------------------------------------------------------------- redis comparison
REDIS_DONE=false
REDIS_SHAPE_MATCH=null
REDIS_HITS=null
REDIS_MISSES=null
if [[ "$SKIP_REDIS" != 1 ]]; then
    RPORT="$(free_port)"
    log "starting redis-server on 127.0.0.1:$RPORT (no persistence)"
    redis-server --bind 127.0.0.1 --port "$RPORT" --save '' --appendonly no \
        --dir "$TMP" --daemonize no --protected-mode yes --maxclients 10000 \
        >"$TMP/redis.log" 2>&1 &
    REDIS_PID=$!
    PIDS+=("$REDIS_PID")
    for ((i = 0; i < 100; i++)); do
        alive "$REDIS_PID" || die "redis-server exited: $(tail -n 5 "$TMP/redis.log")"
        [[ "$(redis-cli -h 127.0.0.1 -p "$RPORT" ping 2>/dev/null || true)" == PONG ]] && break
        sleep 0.1
    done
    [[ "$(redis-cli -h 127.0.0.1 -p "$RPORT" ping 2>/dev/null || true)" == PONG ]] || die "redis-server not answering"

    # Values: the API's JSON body for each user; keys recs:<12-digit 0-based index into
    # user_ids.txt>, which is what redis-benchmark's __rand_int__ expands to with -r N_USERS.
    log "building $N_USERS values from topten recommend --all --k $K"
    TOPTEN_LOG=warn "$TOPTEN" --log warn recommend --model "$MODEL_DIR" --all --k "$K" >"$TMP/recs.tsv"
    titles_file="${TITLES_FILE:-$TITLES}"
    [[ -f "$titles_file" ]] || titles_file=/dev/null
    LC_ALL=C awk -F'\t' -v version="$VERSION" -v titles="$titles_file" -v users="$USER_IDS" '
        function esc(s) { gsub(/\\/, "\\\\", s); gsub(/"/, "\\\"", s); gsub(/\t/, "\\t", s); return s }
        BEGIN {
            while ((getline line < titles) > 0) {
                split(line, f, "\t")
                if (f[1] != "item_id") title[f[1]] = f[2]
            }
            nu = 0
            while ((getline line < users) > 0) { sub(/\r$/, "", line); if (line != "") order[nu++] = line }
        }
        {
            u = $1
            item = "{\"itemId\":\"" esc($2) "\",\"score\":" $3
            if ($2 in title) item = item ",\"title\":\"" esc(title[$2]) "\""
            item = item "}"
            if (u in items) items[u] = items[u] "," item; else items[u] = item
        }
        END {
            for (i = 0; i < nu; i++) {
                u = order[i]
                key = sprintf("recs:%012d", i)
                val = "{\"userId\":\"" esc(u) "\",\"modelVersion\":\"" version "\",\"items\":[" items[u] "],\"source\":\"personalized\"}"
                printf "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n", length(key), key, length(val), val
            }
        }' "$TMP/recs.tsv" >"$TMP/redis.resp"
    redis-cli -h 127.0.0.1 -p "$RPORT" --pipe <"$TMP/redis.resp" >"$TMP/redis-load.txt" 2>&1 \
        || die "redis-cli --pipe failed: $(cat "$TMP/redis-load.txt")"
    DBSIZE="$(redis-cli -h 127.0.0.1 -p "$RPORT" dbsize)"
    [[ "$DBSIZE" == "$N_USERS" ]] || die "redis holds $DBSIZE keys, expected $N_USERS"
    REDIS_SAMPLE="$(redis-cli -h 127.0.0.1 -p "$RPORT" --raw get recs:000000000000)"
    if [[ "$(jq -cS . <<<"$REDIS_SAMPLE")" == "$(jq -cS . <<<"$SAMPLE_BODY")" ]]; then
        REDIS_SHAPE_MATCH=true
    else
        REDIS_SHAPE_MATCH=false
        log "note: redis value for user $FIRST_USER differs from the API body (still benchmarked)"
    fi
    redis-cli -h 127.0.0.1 -p "$RPORT" config resetstat >/dev/null

    log "redis-benchmark: -c $CONNECTIONS --threads $THREADS -n $REDIS_REQUESTS -r $N_USERS GET recs:__rand_int__"
    run_client "$TMP/redis-bench.csv" redis-benchmark -h 127.0.0.1 -p "$RPORT" \
        -c "$CONNECTIONS" --threads "$THREADS" -n "$REDIS_REQUESTS" -r "$N_USERS" --csv \
        GET 'recs:__rand_int__' || die "redis-benchmark failed: $(tail -n 5 "$TMP/redis-bench.csv")"
    cat "$TMP/redis-bench.csv" >&2
    # "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
    row="$(grep -E '^"GET' "$TMP/redis-bench.csv" | tail -n 1 | tr -d '"')"
    [[ -n "$row" ]] || die "no GET row in the redis-benchmark output"
    IFS=, read -r _ r_rps _ _ r_p50 _ r_p99 _ <<<"$row"
    stats="$(redis-cli -h 127.0.0.1 -p "$RPORT" info stats | tr -d '\r')"
    REDIS_HITS="$(awk -F: '/^keyspace_hits:/ {print $2}' <<<"$stats")"
    REDIS_MISSES="$(awk -F: '/^keyspace_misses:/ {print $2}' <<<"$stats")"
    r_rejected="$(awk -F: '/^rejected_connections:/ {print $2}' <<<"$stats")"
    RES[redis.rps]="$r_rps"
    RES[redis.p50]="$r_p50"
    RES[redis.p99]="$r_p99"
    RES[redis.errors]="$((${REDIS_MISSES:-0} + ${r_rejected:-0}))"
    RES[redis.errdesc]="misses $REDIS_MISSES, rejected connections $r_rejected"
    REDIS_DONE=true
fi

# ---------------------------------------------------------------- report
R_RPS="$(ratio "${RES[recommendations.rps]}" "${RES[ping.rps]}")"
R_P99="$(ratio "${RES[recommendations.p99]}" "${RES[ping.p99]}")"
R_REDIS_RPS=null; R_REDIS_P99=null
if [[ "$REDIS_DONE" == true ]]; then
    R_REDIS_RPS="$(ratio "${RES[recommendations.rps]}" "${RES[redis.rps]}")"
    R_REDIS_P99="$(ratio "${RES[recommendations.p99]}" "${RES[redis.p99]}")"
fi

echo
echo "## topten load benchmark ($TS)"
echo
echo "- machine: $NPROC CPUs ($CPU_MODEL), $MEM_TOTAL RAM, Linux $KERNEL; load generator and server share these CPUs"
echo "- server: $SERVER ($TOPTEN_VERSION, git $GIT_REV), store $STORE_KIND, version $VERSION, request logging off, TOPTEN_LOG=warn"
echo "- load: wrk $CONNECTIONS connections, $THREADS threads, ${DURATION}s per target (after ${WARMUP}s warm-up), random user of $N_USERS, k=$K; $WRK_VERSION"
[[ "$REDIS_DONE" == true ]] && echo "- redis: $REDIS_VERSION; redis-benchmark -c $CONNECTIONS --threads $THREADS -n $REDIS_REQUESTS -r $N_USERS GET recs:__rand_int__ (value = API JSON body, shape match: $REDIS_SHAPE_MATCH)"
echo
echo "| target | requests/s | p50 ms | p99 ms | errors |"
echo "|---|---:|---:|---:|---|"
row_out() { # row_out LABEL TARGET
    printf '| %s | %.0f | %.3f | %.3f | %s (%s) |\n' "$1" "${RES[$2.rps]}" "${RES[$2.p50]}" "${RES[$2.p99]}" \
        "${RES[$2.errors]}" "${RES[$2.errdesc]}"
}
row_out "GET /api/recommendations/{id}?k=$K" recommendations
[[ -n "$FILTER_QUERY" ]] && row_out "GET /api/recommendations/{id}?k=$K&$FILTER_QUERY" filtered
row_out "GET /api/ping" ping
[[ "$REDIS_DONE" == true ]] && row_out "redis GET recs:<id>" redis
echo
echo "- recommendations / ping requests/s: $R_RPS"
[[ -n "$FILTER_QUERY" ]] && echo "- filtered ($FILTER_QUERY) / unfiltered recommendations requests/s: $(ratio "${RES[filtered.rps]}" "${RES[recommendations.rps]}")"
echo "- recommendations p99 / ping p99: $R_P99"
if [[ "$REDIS_DONE" == true ]]; then
    echo "- recommendations / redis requests/s: $R_REDIS_RPS"
    echo "- recommendations p99 / redis p99: $R_REDIS_P99"
fi
echo "- server alive at the end: $SERVER_ALIVE_END; RSS kB before/after recommendations ${RES[recommendations.rss_before_kb]}/${RES[recommendations.rss_after_kb]}, ping ${RES[ping.rss_before_kb]}/${RES[ping.rss_after_kb]}; health after runs ${RES[recommendations.health_after]}/${RES[ping.health_after]}; server log: $SERVER_LOG_LINES lines, $SERVER_LOG_WARN warn/error/panic"

# ---------------------------------------------------------------- JSON
mkdir -p "$RESULTS_DIR"
OUT="$RESULTS_DIR/load-$TS.json"
touch "$TMP/redis-bench.csv" "$TMP/recommendations-warmup.wrk" "$TMP/ping-warmup.wrk"
redis_json=null
if [[ "$REDIS_DONE" == true ]]; then
    redis_json="$(jq -n --argjson rps "$(num_or_null "$r_rps")" --argjson p50 "$(num_or_null "$r_p50")" \
        --argjson p99 "$(num_or_null "$r_p99")" --argjson hits "$(num_or_null "$REDIS_HITS")" \
        --argjson misses "$(num_or_null "$REDIS_MISSES")" --argjson rejected "$(num_or_null "$r_rejected")" \
        --argjson requests "$REDIS_REQUESTS" --argjson shape "$REDIS_SHAPE_MATCH" \
        '{rps: $rps, p50_ms: $p50, p99_ms: $p99, requests: $requests, keyspace_hits: $hits,
          keyspace_misses: $misses, rejected_connections: $rejected, value_matches_api_body: $shape}')"
fi
filtered_json=null
server_run_json() { # server_run_json TARGET
    jq -c --argjson alive "${RES[$1.alive]}" --argjson rb "$(num_or_null "${RES[$1.rss_before_kb]}")" \
        --argjson ra "$(num_or_null "${RES[$1.rss_after_kb]}")" --arg h "${RES[$1.health_after]}" \
        '. + {server_alive_after: $alive, server_rss_kb_before: $rb, server_rss_kb_after: $ra, health_after: $h}' \
        "$TMP/$1.json"
}
[[ -n "$FILTER_QUERY" ]] && filtered_json="$(server_run_json filtered | jq -c --arg q "$FILTER_QUERY" '. + {query: $q}')"
jq -n \
    --arg ts "$TS" --arg cpu "$CPU_MODEL" --argjson nproc "$NPROC" --arg mem "$MEM_TOTAL" --arg kernel "$KERNEL" \
    --arg server "$SERVER" --arg topten_version "$TOPTEN_VERSION" --arg git "$GIT_REV" --arg version "$VERSION" \
    --arg wrk_version "$WRK_VERSION" --arg redis_version "$REDIS_VERSION" --arg model "$MODEL_DIR" --arg store "$STORE_KIND" \
    --argjson duration "$DURATION" --argjson connections "$CONNECTIONS" --argjson threads "$THREADS" \
    --argjson k "$K" --argjson warmup "$WARMUP" --argjson users "$N_USERS" --arg wrk_timeout "$WRK_TIMEOUT" \
    --argjson recs "$(server_run_json recommendations)" --argjson ping "$(server_run_json ping)" \
    --argjson redis "$redis_json" --argjson filtered "$filtered_json" \
    --argjson r_rps "$R_RPS" --argjson r_p99 "$R_P99" --argjson r_redis_rps "$R_REDIS_RPS" --argjson r_redis_p99 "$R_REDIS_P99" \
    --argjson alive_end "$SERVER_ALIVE_END" --argjson log_lines "$SERVER_LOG_LINES" --argjson log_warn "$SERVER_LOG_WARN" \
    --rawfile raw_recs "$TMP/recommendations.wrk" --rawfile raw_ping "$TMP/ping.wrk" \
    --rawfile raw_recs_warm "$TMP/recommendations-warmup.wrk" --rawfile raw_ping_warm "$TMP/ping-warmup.wrk" \
    --rawfile raw_redis "$TMP/redis-bench.csv" --rawfile server_log "$SERVER_LOG" \
    '{
      timestamp: $ts,
      machine: {nproc: $nproc, cpu_model: $cpu, memory: $mem, kernel: $kernel, shared_with_load_generator: true},
      config: {server: $server, store: $store, topten_version: $topten_version, git: $git, model_dir: $model, model_version: $version,
               duration_s: $duration, connections: $connections, threads: $threads, k: $k, warmup_s: $warmup,
               users: $users, wrk_timeout: $wrk_timeout, wrk_version: $wrk_version, redis_version: $redis_version},
      results: {recommendations: $recs, ping: $ping, redis_get: $redis, filtered: $filtered},
      ratios: {recommendations_over_ping_rps: $r_rps, recommendations_over_ping_p99: $r_p99,
               recommendations_over_redis_rps: $r_redis_rps, recommendations_over_redis_p99: $r_redis_p99},
      server: {alive_at_end: $alive_end, log_lines: $log_lines, log_warn_error_lines: $log_warn},
      raw: {wrk_recommendations: $raw_recs, wrk_ping: $raw_ping,
            wrk_recommendations_warmup: $raw_recs_warm, wrk_ping_warmup: $raw_ping_warm,
            redis_benchmark: $raw_redis, server_log: $server_log}
    }' >"$OUT"
echo
echo "results: $OUT"
