#!/usr/bin/env bash
# The OpenAPI document and the server agree: schemathesis (pinned in requirements.txt) runs
# against a live `topten serve`, every check enabled, bounded examples, and must find 0 failures.
#
#   bash tests/schemathesis/run.sh PATH_TO_TOPTEN [--max-examples N] [--workdir DIR]
#
# Trains a tiny model from `topten synth` data, publishes it to a fresh embedded store, serves
# it on 127.0.0.1 at a free port with TOPTEN_API_KEY set, and runs `schemathesis run
# /api/openapi.json --checks all` with the key header, so the write and admin routes are
# exercised too (schemathesis also checks that they refuse requests without it). The venv
# comes from scripts/pinned-venv.sh (SCHEMATHESIS_VENV overrides its path, default
# .venv-schemathesis). Exits non-zero on any failure, or if the server or a tool is missing.
# schemathesis.toml beside this script says why two operations accept a 400 for generated data.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$HERE/../.." && pwd)"

usage() { sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
[[ $# -ge 1 ]] || { usage >&2; exit 2; }
case "$1" in -h|--help) usage; exit 0 ;; esac
TOPTEN="$1"; shift
MAX_EXAMPLES=50
WORKDIR=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --max-examples) MAX_EXAMPLES="$2"; shift 2 ;;
        --workdir) WORKDIR="$2"; shift 2 ;;
        *) echo "run.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
[[ -f "$TOPTEN" && -x "$TOPTEN" ]] || { echo "run.sh: not an executable file: $TOPTEN" >&2; exit 2; }

VENV="${SCHEMATHESIS_VENV:-$REPO_ROOT/.venv-schemathesis}"
bash "$REPO_ROOT/scripts/pinned-venv.sh" "$VENV" "$HERE/requirements.txt" 'import schemathesis'

if [[ -z "$WORKDIR" ]]; then
    WORKDIR="$(mktemp -d)"
    trap 'kill "${SERVER_PID:-}" 2>/dev/null || true; rm -rf "$WORKDIR"' EXIT
else
    mkdir -p "$WORKDIR"
    trap 'kill "${SERVER_PID:-}" 2>/dev/null || true' EXIT
fi
export TOPTEN_LOG=warn
rm -rf "$WORKDIR/ratings.tsv" "$WORKDIR/model" "$WORKDIR/store.db" "$WORKDIR/report"  # this script's own files, from an earlier run
"$TOPTEN" synth --users 40 --items 30 --interactions 400 --rank 2 --out "$WORKDIR/ratings.tsv"
"$TOPTEN" train --ratings "$WORKDIR/ratings.tsv" --factors 4 --iterations 3 --out "$WORKDIR/model" >/dev/null
"$TOPTEN" publish --model "$WORKDIR/model" --store "embedded:$WORKDIR/store.db" --items-per-user 20 >/dev/null

PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
KEY="schemathesis-key-$(python3 -c 'import secrets; print(secrets.token_hex(8))')"
TOPTEN_API_KEY="$KEY" "$TOPTEN" serve --bind 127.0.0.1 --port "$PORT" --store "embedded:$WORKDIR/store.db" \
    >"$WORKDIR/server.log" 2>&1 &
SERVER_PID=$!
BASE="http://127.0.0.1:$PORT"
for _ in $(seq 100); do
    python3 -c "import urllib.request; urllib.request.urlopen('$BASE/api/health', timeout=1)" 2>/dev/null && break
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORKDIR/server.log" >&2; echo "run.sh: server exited" >&2; exit 1; }
    sleep 0.1
done

echo "schemathesis $("$VENV/bin/schemathesis" --version | awk '{print $NF}') against $BASE (max examples $MAX_EXAMPLES)" >&2
set +e
# From the work directory: schemathesis keeps a .schemathesis/ cache where it runs.
(cd "$WORKDIR" && "$VENV/bin/schemathesis" --config-file "$HERE/schemathesis.toml" run "$BASE/api/openapi.json" \
    --checks all \
    --max-examples "$MAX_EXAMPLES" \
    --seed 15 \
    --workers 1 \
    --request-timeout 20 \
    --header "x-functions-key: $KEY" \
    --report junit --report-dir "$WORKDIR/report" \
    --no-color)
rc=$?
set -e
kill -0 "$SERVER_PID" 2>/dev/null || { echo "run.sh: the server died during the run" >&2; tail -50 "$WORKDIR/server.log" >&2; exit 1; }
[[ $rc -eq 0 ]] || { echo "run.sh: schemathesis found failures (exit $rc)" >&2; exit "$rc"; }
echo "run.sh: schemathesis passed" >&2
