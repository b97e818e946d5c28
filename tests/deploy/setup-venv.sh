#!/usr/bin/env bash
# Create (or reuse) the Python virtual environment for the offline deployment checks.
#
#   bash tests/deploy/setup-venv.sh          # venv at .venv-deploy/ in the repository root
#   DEPLOY_VENV=/some/dir bash tests/deploy/setup-venv.sh
#
# Installs exactly tests/deploy/requirements.txt with `pip install --no-deps` (tree-sitter,
# tree-sitter-bicep, pathspec, PyYAML: wheels only, no compiler needed). Idempotent: when the venv
# already matches requirements.txt it only re-checks the imports. Environment: DEPLOY_VENV (venv
# path), PYTHON (interpreter to create it with, default python3; Python 3.9 or later).
set -euo pipefail

case "${1:-}" in
    -h|--help) sed -n '2,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    "") ;;
    *) echo "setup-venv: unknown argument: $1 (see --help)" >&2; exit 2 ;;
esac

log() { echo "setup-venv: $*" >&2; }
die() { echo "setup-venv: ERROR: $*" >&2; exit 1; }

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$HERE/../.." && pwd)"
VENV="${DEPLOY_VENV:-$REPO_ROOT/.venv-deploy}"
PYTHON="${PYTHON:-python3}"
REQS="$HERE/requirements.txt"
STAMP="$VENV/.deploy-stamp"
IMPORT_CHECK='import tree_sitter, tree_sitter_bicep, pathspec, yaml; tree_sitter.Language(tree_sitter_bicep.language())'

command -v "$PYTHON" >/dev/null 2>&1 || die "python not found: $PYTHON"
[[ -f "$REQS" ]] || die "missing $REQS"

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
    # Only ever delete something that is a venv (or an empty folder).
    if [[ -f "$VENV/pyvenv.cfg" ]] || [[ -d "$VENV" && -z "$(ls -A "$VENV")" ]]; then
        log "rebuilding $VENV (missing, stale or broken)"
        rm -rf "$VENV"
    else
        die "$VENV exists and is not a Python venv; refusing to touch it (set DEPLOY_VENV elsewhere)"
    fi
fi

log "creating $VENV with $("$PYTHON" --version 2>&1)"
"$PYTHON" -m venv "$VENV" || die "python3 -m venv failed (on Debian: apt-get install python3-venv)"
log "installing $(grep -cE '^[A-Za-z]' "$REQS") pinned packages from $REQS"
"$VENV/bin/python" -m pip install --disable-pip-version-check --no-input -q \
    --only-binary=:all: --no-deps -r "$REQS" || die "pip install failed"
"$VENV/bin/python" -c "$IMPORT_CHECK" || die "the check's modules do not import in $VENV"
printf '%s' "$want_stamp" > "$STAMP"
log "ready: $VENV"
