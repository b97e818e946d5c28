#!/usr/bin/env bash
# Create (or reuse) a Python virtual environment that holds exactly a pinned requirements file:
# the one way every Python-based check in this repository gets its tools.
#
#   bash scripts/pinned-venv.sh VENV REQUIREMENTS 'IMPORT CHECK' [pip option ...]
#
# Installs REQUIREMENTS with `pip install --no-deps` (the file pins the whole closure) plus any
# extra pip options (e.g. --only-binary=:all:), then runs `python -c 'IMPORT CHECK'`. Idempotent:
# a stamp of the requirements' hash and the interpreter is kept in the venv, and when it matches
# only the import check runs (about a second). Only ever deletes a folder that is a venv (or
# empty). Environment: PYTHON (interpreter to create the venv with, default python3).
set -euo pipefail

log() { echo "pinned-venv: $*" >&2; }
die() { echo "pinned-venv: ERROR: $*" >&2; exit 1; }

case "${1:-}" in
    -h|--help) sed -n '2,11p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
esac
[[ $# -ge 3 ]] || die "usage: pinned-venv.sh VENV REQUIREMENTS 'IMPORT CHECK' [pip option ...] (see --help)"
VENV=$1; REQS=$2; IMPORT_CHECK=$3; shift 3
PYTHON="${PYTHON:-python3}"
STAMP="$VENV/.pinned-stamp"

command -v "$PYTHON" >/dev/null 2>&1 || die "python not found: $PYTHON"
[[ -f "$REQS" ]] || die "missing $REQS"

# What the venv must match: the requirements file and the interpreter that builds it.
want_stamp="$(
    {
        sha256sum "$REQS" | awk '{print $1}'
        "$PYTHON" -c 'import sys; print(sys.version.split()[0], sys.executable)'
    } | tr '\n' ' '
)"

if [[ -x "$VENV/bin/python" && -f "$STAMP" && "$(cat "$STAMP")" == "$want_stamp" ]] \
    && "$VENV/bin/python" -c "$IMPORT_CHECK" 2>/dev/null; then
    log "$VENV is up to date"
    exit 0
fi

if [[ -e "$VENV" ]]; then
    if [[ -f "$VENV/pyvenv.cfg" ]] || [[ -d "$VENV" && -z "$(ls -A "$VENV")" ]]; then
        log "rebuilding $VENV (missing, stale or broken)"
        rm -rf "$VENV"
    else
        die "$VENV exists and is not a Python venv; refusing to touch it (choose another path)"
    fi
fi

log "creating $VENV with $("$PYTHON" --version 2>&1)"
"$PYTHON" -m venv "$VENV" || die "python3 -m venv failed (on Debian: apt-get install python3-venv)"
log "installing $(grep -cE '^[A-Za-z]' "$REQS") pinned packages from $REQS"
"$VENV/bin/python" -m pip install --disable-pip-version-check --no-input -q \
    "$@" --no-deps -r "$REQS" || die "pip install failed"
"$VENV/bin/python" -c "$IMPORT_CHECK" || die "the required modules do not import in $VENV"
printf '%s' "$want_stamp" > "$STAMP"
log "ready: $VENV"
