#!/usr/bin/env bash
# Soak: a bounded mixed run against one `topten serve` that does what a long-running production
# server does, reporting errors, latency per route, publish/retrain/prune timings and the
# server's memory from a stated baseline to the end.
#
#   bench/soak.sh [--duration SECONDS] [--help]
#
# Trains a small model on synthetic ratings (no download), publishes it to a fresh temporary
# LMDB store and serves it on 127.0.0.1 only (request logs off). Then, for DURATION seconds
# (600 by default), an open-loop load generator (python3, keep-alive connections, fixed rates so
# the offered load does not fall when the server slows down) sends
#   - GET /api/recommendations/<user>?k=10 at GET_RATE requests/s (one in ten for a user the
#     model does not know),
#   - POST /api/events at EVENTS_PER_SEC events/s in batches of BATCH (unique eventIds),
# while, every CYCLE seconds, a scheduled job writes a new version into the served store and
# activates it, alternating `topten publish` (odd cycles) and `topten retrain` on the ratings
# plus the live events through the quality gate (even cycles), each followed by
# `topten prune --keep KEEP` (the active version plus KEEP others stay), as production runs
# them so that the store does not grow without bound.
#
# Memory: the server's RSS (total, anonymous = heap, file-backed = the pages of the LMDB map the
# server has touched) is sampled every 10 s. The BASELINE is taken BASELINE_SETTLE seconds after
# the first full cycle (one publish and one retrain, each pruned): from then on the server holds
# the working set of a server that keeps KEEP+1 versions, has switched versions and folds in
# events, so what start-up and the first switches set up once is not counted as growth. The END
# is taken when the load stops (after the remaining cycles). The events log is not pruned
# (events are kept for retraining), so the store file and the map grow with it: the script
# reports the events accepted and the store size, to size that growth.
#
# Prints, per route: requests, errors (connection failures and any status but 200), p50, p99
# and max latency; each cycle's operation and prune durations and outcome; RSS at start-up, at
# the baseline and at the end with its split; growth from the baseline to the end. Exits 1 on
# any error, any failed publish/retrain/prune, or if RSS grew by MAX_RSS_GROWTH or more from the
# baseline to the end beyond the events log's growth (issue 15: 0 errors, growth < 20%); total
# growth is printed too, with a NOTE when it alone is over the target. Needs python3 and curl.
#
# With EVENTS_RETENTION set (a duration such as 60s), the server runs with
# TOPTEN_EVENTS_RETENTION at that value (the retrains too), so the events log ends: then no growth
# is set aside as the events log's, and the store file as well as RSS must stay under
# MAX_RSS_GROWTH from the baseline (issue 31: under 5%).
#
# Environment:
#   EVENTS_RETENTION=  (unset: events are kept)
#   DURATION=600  GET_RATE=500  EVENTS_PER_SEC=200  BATCH=10  CYCLE=100 (DURATION/4 when
#   DURATION < 400)  KEEP=1  BASELINE_SETTLE=10  MAX_RSS_GROWTH=0.20  USERS=5000  ITEMS=2000
#   TOPTEN=target/release/topten (the binary measured)
set -euo pipefail

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }
DURATION="${DURATION:-600}"
while (($#)); do
    case "$1" in
        -h|--help) usage; exit 0 ;;
        --duration) DURATION="${2:-}"; shift 2 || { echo "soak: --duration needs a value" >&2; exit 2; } ;;
        --duration=*) DURATION="${1#*=}"; shift ;;
        *) echo "soak: unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
done

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# For bench_open_loop_py; this script's own log and die, below, stand.
# shellcheck source=bench/lib.sh
source bench/lib.sh
GET_RATE="${GET_RATE:-500}"
EVENTS_PER_SEC="${EVENTS_PER_SEC:-200}"
BATCH="${BATCH:-10}"
CYCLE="${CYCLE:-$((DURATION >= 400 ? 100 : DURATION / 4))}"
KEEP="${KEEP:-1}"
BASELINE_SETTLE="${BASELINE_SETTLE:-10}"
MAX_RSS_GROWTH="${MAX_RSS_GROWTH:-0.20}"
USERS="${USERS:-5000}"
ITEMS="${ITEMS:-2000}"
TOPTEN="${TOPTEN:-target/release/topten}"
EVENTS_RETENTION="${EVENTS_RETENTION:-}"
# The server and the retrains see the retention; unset, nothing ends.
if [[ -n "$EVENTS_RETENTION" ]]; then export TOPTEN_EVENTS_RETENTION="$EVENTS_RETENTION"; else unset TOPTEN_EVENTS_RETENTION; fi

log() { echo "soak: $(date -u +%H:%M:%S) $*" >&2; }
die() { echo "soak: ERROR: $*" >&2; exit 1; }
for v in DURATION GET_RATE EVENTS_PER_SEC BATCH CYCLE KEEP BASELINE_SETTLE USERS ITEMS; do
    [[ "${!v}" =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer, got '${!v}'"
done
((CYCLE * 3 <= DURATION)) || die "DURATION ($DURATION s) must be at least 3 x CYCLE ($CYCLE s): a baseline after two cycles, then at least one more"
for t in python3 curl awk; do command -v "$t" >/dev/null 2>&1 || die "required tool not found: $t"; done
[[ -x "$TOPTEN" ]] || { log "building topten (release)"; cargo build --release --bin topten >&2; }

TMP="$(mktemp -d "${TMPDIR:-/tmp}/topten-soak.XXXXXX")"
SERVER_PID="" LOAD_PID="" RSS_PID=""
cleanup() {
    local rc=$? pid
    for pid in $LOAD_PID $RSS_PID $SERVER_PID; do
        kill -TERM "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$TMP"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
# A private copy: a rebuild of target/ during the run must not change what is measured.
cp "$TOPTEN" "$TMP/topten"
TOPTEN="$TMP/topten"

log "training a model on synthetic ratings ($USERS users, $ITEMS items)"
TOPTEN_LOG=warn "$TOPTEN" synth --users "$USERS" --items "$ITEMS" --interactions $((USERS * 40)) --out "$TMP/r.tsv" >&2
TOPTEN_LOG=warn "$TOPTEN" train --ratings "$TMP/r.tsv" --model implicit --factors 32 --iterations 5 --out "$TMP/model" >&2
STORE="embedded:$TMP/store.db"
TOPTEN_LOG=warn "$TOPTEN" publish --model "$TMP/model" --store "$STORE" >/dev/null
cut -f1 "$TMP/r.tsv" | sort -u > "$TMP/users.txt"

PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
TOPTEN_LOG=warn "$TOPTEN" serve --store "$STORE" --bind 127.0.0.1 --port "$PORT" --log-requests false >"$TMP/server.log" 2>&1 &
SERVER_PID=$!
for ((i = 0; i < 300; i++)); do
    [[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/api/health" || true)" == 200 ]] && break
    kill -0 "$SERVER_PID" 2>/dev/null || die "server exited: $(tail -n 5 "$TMP/server.log")"
    sleep 0.1
done
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$SERVER_PID/status"; }
# Anonymous (heap) and file-backed (the LMDB map: pages of the store file the server touched)
# parts of RSS; a leak shows in the first, the second follows the store's size.
rss_parts() { awk '/^RssAnon:/ {a = $2} /^RssFile:/ {f = $2} END {print a " " f}' "/proc/$SERVER_PID/status"; }
RSS_START="$(rss_kb)"
read -r ANON_START FILE_START < <(rss_parts)
STORE_START=$(($(stat -c %s "$TMP/store.db") / 1024))
log "serving on 127.0.0.1:$PORT (pid $SERVER_PID, RSS ${RSS_START} KiB); load for ${DURATION}s"

(
    while sleep 10; do
        echo "$(date +%s) $(rss_kb) $(rss_parts) $(($(stat -c %s "$TMP/store.db") / 1024))" >> "$TMP/rss.txt" || break
    done
) &
RSS_PID=$!

bench_open_loop_py
cat > "$TMP/load.py" <<'PY'
# Open-loop mixed load: per route, WORKERS keep-alive connections each send their share of the
# requests on a fixed schedule. Writes one line per route: name requests errors p50 p99 max (ms).
import http.client, json, random, sys, threading, time
from open_loop import schedule
port, seconds, get_rate, ev_rate, batch, users_file, out = sys.argv[1:8]
port, seconds, get_rate, ev_rate, batch = int(port), float(seconds), int(get_rate), int(ev_rate), int(batch)
users = [l.strip() for l in open(users_file) if l.strip()]
start = time.monotonic()
lock = threading.Lock()
stats = {}

def request(route, conn, method, path, body):
    t0 = time.monotonic()
    ok, status = False, None
    try:
        headers = {"Content-Type": "application/json"} if body else {}
        conn.request(method, path, body, headers)
        r = conn.getresponse(); r.read()
        status = r.status
        ok = status == 200
    except Exception as e:
        status = type(e).__name__
        conn.close()
    dt = time.monotonic() - t0
    with lock:
        s = stats.setdefault(route, {"lat": [], "errors": 0, "codes": {}})
        s["lat"].append(dt)
        if not ok:
            s["errors"] += 1
            s["codes"][str(status)] = s["codes"].get(str(status), 0) + 1
    return ok

def worker(route, rate, workers, w, make):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    interval = workers / rate
    for n in schedule(start, seconds, interval, w * interval / workers):
        method, path, body = make(w, n)
        request(route, conn, method, path, body)

def get(w, n):
    # One request in ten asks for a user the model does not know (cold start).
    u = random.choice(users) if n % 10 else f"soak-new-{w}-{n}"
    return "GET", f"/api/recommendations/{u}?k=10", None

def post(w, n):
    events = [{"eventId": f"soak-{w}-{n}-{i}", "userId": random.choice(users),
               "itemId": str(random.randrange(2000)), "type": "click"} for i in range(batch)]
    return "POST", "/api/events", json.dumps({"events": events})

plan = [("GET /api/recommendations/{user}", get_rate, 8, get),
        ("POST /api/events", max(ev_rate // batch, 1), 4, post)]
threads = [threading.Thread(target=worker, args=(route, rate, workers, w, make))
           for route, rate, workers, make in plan for w in range(workers)]
for t in threads: t.start()
for t in threads: t.join()
with open(out, "w") as f:
    for route, s in stats.items():
        lat = sorted(s["lat"])
        q = lambda p: lat[min(int(len(lat) * p), len(lat) - 1)] * 1000
        codes = ",".join(f"{k}:{v}" for k, v in sorted(s["codes"].items())) or "-"
        f.write(f"{route}\t{len(lat)}\t{s['errors']}\t{q(0.5):.2f}\t{q(0.99):.2f}\t{lat[-1] * 1000:.2f}\t{codes}\n")
PY
python3 "$TMP/load.py" "$PORT" "$DURATION" "$GET_RATE" "$EVENTS_PER_SEC" "$BATCH" "$TMP/users.txt" "$TMP/load.txt" &
LOAD_PID=$!
T0=$(date +%s)

OPS_FAILED=0
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
# One cycle: publish (odd cycles) or retrain (even cycles) into the served store, then prune to
# the active version plus KEEP others, as a scheduled production job does.
cycle() {
    local k=$1 op t1 t2 t3 out nver
    t1=$(now)
    if ((k % 2)); then
        op=publish
        if out="$(TOPTEN_LOG=warn "$TOPTEN" publish --model "$TMP/model" --store "$STORE" 2>"$TMP/op.err")"; then
            out="ok: $out"
        else
            out="FAILED: $(tail -n 3 "$TMP/op.err" | tr '\n' ' ')"; OPS_FAILED=1
        fi
    else
        op=retrain
        if TOPTEN_LOG=warn "$TOPTEN" retrain --ratings "$TMP/r.tsv" --store "$STORE" --model-root "$TMP/models" \
            --params "$TMP/model/model.json" >"$TMP/retrain.json" 2>"$TMP/op.err"; then
            out="ok: $(python3 -c 'import json,sys; o=json.load(open(sys.argv[1])); print(o["candidateVersion"], "activated" if o["activated"] else "kept the active version", "-", o["reason"])' "$TMP/retrain.json")"
        else
            out="FAILED: $(tail -n 3 "$TMP/op.err" | tr '\n' ' ')"; OPS_FAILED=1
        fi
    fi
    t2=$(now)
    if TOPTEN_LOG=warn "$TOPTEN" prune --store "$STORE" --keep "$KEEP" >"$TMP/prune.out" 2>"$TMP/prune.err"; then
        nver="$(TOPTEN_LOG=warn "$TOPTEN" versions --store "$STORE" --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["versions"]))' 2>/dev/null || echo '?')"
        out="$out; prune --keep $KEEP ok, $nver versions left"
    else
        out="$out; prune FAILED: $(tail -n 3 "$TMP/prune.err" | tr '\n' ' ')"; OPS_FAILED=1
    fi
    t3=$(now)
    printf 'cycle %d at %ss: %s %ss, prune %ss: %s\n' "$k" "$(secs "$T0" "$t1" | cut -d. -f1)" "$op" "$(secs "$t1" "$t2")" "$(secs "$t2" "$t3")" "$out" >> "$TMP/cycles.txt"
    log "$(tail -n 1 "$TMP/cycles.txt")"
}
# The baseline is taken BASELINE_SETTLE seconds after the first full cycle (one publish and one
# retrain, each pruned): from then on the server holds the working set of a server that keeps
# the active version plus KEEP others, has switched versions twice and has folded in events;
# what start-up and the first switches allocate once is not growth of a running server.
k=1
while ((k * CYCLE <= DURATION - CYCLE / 2)); do
    wait_s=$((T0 + k * CYCLE - $(date +%s)))
    ((wait_s > 0)) && sleep "$wait_s"
    cycle "$k"
    if ((k == 2)); then
        sleep "$BASELINE_SETTLE"
        RSS_BASE="$(rss_kb)"; read -r ANON_BASE FILE_BASE < <(rss_parts)
        BASE_AT=$(($(date +%s) - T0)); STORE_BASE=$(($(stat -c %s "$TMP/store.db") / 1024))
        log "baseline (after the first publish + retrain cycle, ${BASE_AT}s in): RSS ${RSS_BASE} KiB"
    fi
    k=$((k + 1))
done
[[ -n "${RSS_BASE:-}" ]] || die "no baseline: the run ended before the first full cycle"

wait "$LOAD_PID" || die "the load generator failed"; LOAD_PID=""
RSS_END="$(rss_kb)"
read -r ANON_END FILE_END < <(rss_parts)
kill -0 "$SERVER_PID" 2>/dev/null || die "the server died: $(tail -n 5 "$TMP/server.log")"
ACTIVE="$(TOPTEN_LOG=warn "$TOPTEN" versions --store "$STORE" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["active"]["version"])')"

echo "machine: $(nproc) cores, $(awk -F': *' '/^model name/ {print $2; exit}' /proc/cpuinfo)"
echo "load: $(awk '{printf "%.2f %.2f %.2f", $1, $2, $3}' /proc/loadavg) (1/5/15-min load average at the end; other processes share the cores)"
echo "topten: $("$TOPTEN" --version 2>/dev/null) ($(git rev-parse --short HEAD 2>/dev/null || echo unknown)); ${DURATION}s, GET $GET_RATE/s, events $EVENTS_PER_SEC/s in batches of $BATCH"
echo
echo "| route | requests | errors | p50 ms | p99 ms | max ms | error statuses |"
echo "|---|---|---|---|---|---|---|"
awk -F'\t' '{printf "| %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, $7}' "$TMP/load.txt"
echo
echo "cycles (every ${CYCLE}s, publish and retrain alternating, each followed by prune --keep $KEEP):"
sed 's/^/  /' "$TMP/cycles.txt"
echo "active at the end: $ACTIVE"
EVENTS_OK="$(awk -F'\t' -v b="$BATCH" '$1 ~ /events/ {print ($2 - $3) * b}' "$TMP/load.txt")"
STORE_END=$(($(stat -c %s "$TMP/store.db") / 1024))
echo "events accepted: $EVENTS_OK; store file: ${STORE_START} KiB at start, ${STORE_BASE} KiB at the baseline, ${STORE_END} KiB at the end"
echo "server RSS (KiB)     start-up   baseline (${BASE_AT}s)   end (${DURATION}s)"
printf '  total            %9s %18s %12s\n' "$RSS_START" "$RSS_BASE" "$RSS_END"
printf '  anonymous (heap) %9s %18s %12s\n' "$ANON_START" "$ANON_BASE" "$ANON_END"
printf '  file (LMDB map)  %9s %18s %12s\n' "$FILE_START" "$FILE_BASE" "$FILE_END"
echo "RSS samples (every 10 s; seconds: total/anon/file KiB, store KiB):"
awk -v t0="$T0" '{printf "  %ds: %s/%s/%s %s\n", $1 - t0, $2, $3, $4, $5}' "$TMP/rss.txt" 2>/dev/null | paste -d' ' - - - - | sed 's/^  */  /'
growth() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%+.1f%%", 100 * (a - b) / b }'; }
ERRORS="$(awk -F'\t' '{s += $3} END {print s + 0}' "$TMP/load.txt")"
# The events log is never pruned (events are kept for retraining), and with versions pruned to a
# fixed number it is what makes the store file grow after the baseline; the server maps the
# pages it reads, so they show in file-backed RSS. That is data growth, not a leak: it is
# printed, sized per event, and also taken out of a second growth figure (at most the store
# file's growth, and at most the file-backed growth).
STORE_GROWTH_KB=$((STORE_END - STORE_BASE))
EVENTS_BASE="$(awk -v t="$BASE_AT" -v d="$DURATION" -v n="$EVENTS_OK" 'BEGIN { printf "%d", n * t / d }')"
DATA_KB="$(awk -v s="$STORE_GROWTH_KB" -v f="$((FILE_END - FILE_BASE))" 'BEGIN { d = s < f ? s : f; print (d > 0 ? d : 0) }')"
# With retention the log ends: nothing is set aside as its growth.
[[ -n "$EVENTS_RETENTION" ]] && DATA_KB=0
echo "errors: $ERRORS"
echo "RSS growth from the baseline to the end: $(growth "$RSS_END" "$RSS_BASE") total (anonymous $(growth "$ANON_END" "$ANON_BASE"), file-backed $(growth "$FILE_END" "$FILE_BASE"))"
echo "  store file growth over the same time: ${STORE_GROWTH_KB} KiB for about $((EVENTS_OK - EVENTS_BASE)) events (about $(awk -v k="$STORE_GROWTH_KB" -v n="$((EVENTS_OK - EVENTS_BASE))" 'BEGIN { printf "%d", (n > 0 ? k * 1024 / n : 0) }') bytes per event; versions are pruned to $((KEEP + 1)), so this is the events log)"
echo "  RSS growth net of that data growth ($DATA_KB KiB): $(growth "$((RSS_END - DATA_KB))" "$RSS_BASE") (target < $(awk -v m="$MAX_RSS_GROWTH" 'BEGIN {print 100 * m}')%)"
FAIL=0
((ERRORS == 0)) || { echo "FAIL: $ERRORS requests failed"; FAIL=1; }
((OPS_FAILED == 0)) || { echo "FAIL: a publish, retrain or prune failed"; FAIL=1; }
awk -v a="$RSS_END" -v b="$RSS_BASE" -v m="$MAX_RSS_GROWTH" 'BEGIN { exit !((a - b) / b < m) }' ||
    echo "NOTE: total RSS grew by $(growth "$RSS_END" "$RSS_BASE") (>= target), of which $DATA_KB KiB is the events log's growth"
awk -v a="$((RSS_END - DATA_KB))" -v b="$RSS_BASE" -v m="$MAX_RSS_GROWTH" 'BEGIN { exit !((a - b) / b < m) }' ||
    { echo "FAIL: RSS grew by $(growth "$((RSS_END - DATA_KB))" "$RSS_BASE") from the baseline beyond the events log's growth"; FAIL=1; }
if [[ -n "$EVENTS_RETENTION" ]]; then
    echo "events retention: $EVENTS_RETENTION; store file growth from the baseline: $(growth "$STORE_END" "$STORE_BASE") (target < $(awk -v m="$MAX_RSS_GROWTH" 'BEGIN {print 100 * m}')%)"
    echo "retention passes deleted: $(curl -s "http://127.0.0.1:$PORT/api/metrics" | awk '/^topten_retention_deleted_total\{kind="events"\}/ {print $2}') events"
    awk -v a="$STORE_END" -v b="$STORE_BASE" -v m="$MAX_RSS_GROWTH" 'BEGIN { exit !((a - b) / b < m) }' ||
        { echo "FAIL: the store file grew by $(growth "$STORE_END" "$STORE_BASE") from the baseline with retention on"; FAIL=1; }
fi
((FAIL == 0)) && echo "PASS"
exit "$FAIL"
