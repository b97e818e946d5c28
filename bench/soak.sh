#!/usr/bin/env bash
# Soak: a bounded mixed run against one `topten serve`, reporting errors, p99 per route and the
# server's memory at start and end.
#
#   bench/soak.sh [--duration SECONDS] [--help]
#
# Trains a small model on synthetic ratings (no download), publishes it to a fresh temporary
# LMDB store and serves it on 127.0.0.1 only (request logs off). Then, for DURATION seconds
# (600 by default), an open-loop load generator (python3, keep-alive connections, fixed rates so
# the offered load does not fall when the server slows down) sends
#   - GET /api/recommendations/<user>?k=10 at GET_RATE requests/s (known and unknown users),
#   - POST /api/events at EVENTS_PER_SEC events/s in batches of BATCH (unique eventIds),
# while, a third of the way in, `topten publish` writes and activates a new version into the
# served store and, two thirds in, `topten retrain` retrains on the ratings plus the live
# events and publishes through the quality gate. The server's RSS is sampled every 10 s.
# Prints, per route: requests, errors (connection failures and any status but 200), p50, p99
# and max latency; the publish and retrain outcomes; RSS after start-up, after the warm-up (the
# first WARMUP seconds of load) and at the end, in total and split into anonymous memory (heap)
# and file-backed pages (the LMDB memory map, which grows with the pages of the store file the
# server has read: new versions and events make the file larger, and the kernel can drop these
# pages at any time). Exits 1 on any error, a failed publish or retrain, or if anonymous RSS
# grew by MAX_RSS_GROWTH or more from the warm-up to the end (issue 15: 0 errors, growth < 20%).
# Needs python3 and curl.
#
# Environment:
#   DURATION=600  GET_RATE=500  EVENTS_PER_SEC=200  BATCH=10  WARMUP=30  MAX_RSS_GROWTH=0.20
#   USERS=5000  ITEMS=2000  TOPTEN=target/release/topten (the binary measured)
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
GET_RATE="${GET_RATE:-500}"
EVENTS_PER_SEC="${EVENTS_PER_SEC:-200}"
BATCH="${BATCH:-10}"
WARMUP="${WARMUP:-30}"
MAX_RSS_GROWTH="${MAX_RSS_GROWTH:-0.20}"
USERS="${USERS:-5000}"
ITEMS="${ITEMS:-2000}"
TOPTEN="${TOPTEN:-target/release/topten}"

log() { echo "soak: $(date -u +%H:%M:%S) $*" >&2; }
die() { echo "soak: ERROR: $*" >&2; exit 1; }
for v in DURATION GET_RATE EVENTS_PER_SEC BATCH WARMUP USERS ITEMS; do
    [[ "${!v}" =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer, got '${!v}'"
done
((WARMUP * 3 < DURATION)) || die "DURATION ($DURATION s) must be more than 3 x WARMUP ($WARMUP s)"
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
log "serving on 127.0.0.1:$PORT (pid $SERVER_PID, RSS ${RSS_START} KiB); load for ${DURATION}s"

(
    while sleep 10; do
        echo "$(date +%s) $(rss_kb) $(rss_parts)" >> "$TMP/rss.txt" || break
    done
) &
RSS_PID=$!

cat > "$TMP/load.py" <<'PY'
# Open-loop mixed load: per route, WORKERS keep-alive connections each send their share of the
# requests on a fixed schedule. Writes one line per route: name requests errors p50 p99 max (ms).
import http.client, json, random, sys, threading, time
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
    next_at = start + w * interval / workers
    n = 0
    while next_at - start < seconds:
        now = time.monotonic()
        if now < next_at:
            time.sleep(next_at - now)
        next_at += interval
        method, path, body = make(w, n)
        n += 1
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

sleep "$WARMUP"
RSS_WARM="$(rss_kb)"
read -r ANON_WARM FILE_WARM < <(rss_parts)
log "after the ${WARMUP}s warm-up: RSS ${RSS_WARM} KiB"

OPS_FAILED=0
sleep $((DURATION / 3 - WARMUP))
log "publishing a new version into the served store"
if PUBLISHED="$(TOPTEN_LOG=warn "$TOPTEN" publish --model "$TMP/model" --store "$STORE" 2>"$TMP/publish.err")"; then
    PUBLISH="ok: $PUBLISHED"
else
    PUBLISH="FAILED: $(tail -n 3 "$TMP/publish.err")"; OPS_FAILED=1
fi
log "publish $PUBLISH"

sleep $((T0 + 2 * DURATION / 3 - $(date +%s) > 0 ? T0 + 2 * DURATION / 3 - $(date +%s) : 0))
log "retraining (ratings plus live events) and publishing through the gate"
if TOPTEN_LOG=warn "$TOPTEN" retrain --ratings "$TMP/r.tsv" --store "$STORE" --model-root "$TMP/models" \
    --params "$TMP/model/model.json" >"$TMP/retrain.json" 2>"$TMP/retrain.err"; then
    RETRAIN="ok: $(python3 -c 'import json,sys; o=json.load(open(sys.argv[1])); print(o["candidateVersion"], "activated" if o["activated"] else "kept the active version", "-", o["reason"])' "$TMP/retrain.json")"
else
    RETRAIN="FAILED: $(tail -n 3 "$TMP/retrain.err")"; OPS_FAILED=1
fi
log "retrain $RETRAIN"

wait "$LOAD_PID" || die "the load generator failed"; LOAD_PID=""
RSS_END="$(rss_kb)"
read -r ANON_END FILE_END < <(rss_parts)
kill -0 "$SERVER_PID" 2>/dev/null || die "the server died: $(tail -n 5 "$TMP/server.log")"
ACTIVE="$(TOPTEN_LOG=warn "$TOPTEN" versions --store "$STORE" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["active"]["version"])')"

echo "machine: $(nproc) cores, $(awk -F': *' '/^model name/ {print $2; exit}' /proc/cpuinfo)"
echo "topten: $("$TOPTEN" --version 2>/dev/null) ($(git rev-parse --short HEAD 2>/dev/null || echo unknown)); ${DURATION}s, GET $GET_RATE/s, events $EVENTS_PER_SEC/s in batches of $BATCH"
echo
echo "| route | requests | errors | p50 ms | p99 ms | max ms | error statuses |"
echo "|---|---|---|---|---|---|---|"
awk -F'\t' '{printf "| %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, $7}' "$TMP/load.txt"
echo
echo "publish during the run: $PUBLISH"
echo "retrain during the run: $RETRAIN"
echo "active at the end: $ACTIVE"
echo "server RSS: ${RSS_START} KiB after start-up, ${RSS_WARM} KiB after ${WARMUP}s of load, ${RSS_END} KiB at the end"
echo "  of which anonymous (heap): ${ANON_START} / ${ANON_WARM} / ${ANON_END} KiB; file-backed (LMDB map): ${FILE_START} / ${FILE_WARM} / ${FILE_END} KiB"
echo "  store file at the end: $(($(stat -c %s "$TMP/store.db") / 1024)) KiB"
echo "RSS samples (every 10 s, total/anon KiB): $(awk '{printf "%s/%s ", $2, $3}' "$TMP/rss.txt" 2>/dev/null)"
GROWTH="$(awk -v a="$RSS_END" -v b="$RSS_WARM" 'BEGIN { printf "%.3f", (a - b) / b }')"
ANON_GROWTH="$(awk -v a="$ANON_END" -v b="$ANON_WARM" 'BEGIN { printf "%.3f", (a - b) / b }')"
# Steady state: anonymous RSS over the last third of the run, after the publish and the retrain.
TAIL_GROWTH="$(awk -v t0="$T0" -v from="$((2 * DURATION / 3 + 20))" -v end="$ANON_END" \
    '$1 - t0 >= from && !b {b = $3} END { if (b) printf "%.3f", (end - b) / b; else print "n/a" }' "$TMP/rss.txt" 2>/dev/null)"
ERRORS="$(awk -F'\t' '{s += $3} END {print s + 0}' "$TMP/load.txt")"
echo "errors: $ERRORS; growth from warm-up to end: RSS $GROWTH, anonymous $ANON_GROWTH (target < $MAX_RSS_GROWTH); anonymous over the last third (after publish and retrain): $TAIL_GROWTH"
FAIL=0
((ERRORS == 0)) || { echo "FAIL: $ERRORS requests failed"; FAIL=1; }
((OPS_FAILED == 0)) || { echo "FAIL: publish or retrain failed"; FAIL=1; }
awk -v g="$ANON_GROWTH" -v m="$MAX_RSS_GROWTH" 'BEGIN { exit !(g < m) }' || { echo "FAIL: anonymous RSS grew by $ANON_GROWTH"; FAIL=1; }
((FAIL == 0)) && echo "PASS"
exit "$FAIL"
