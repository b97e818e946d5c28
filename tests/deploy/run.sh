#!/usr/bin/env bash
# Offline checks of the Azure deployment (Bicep, parameters, security settings, azd, the
# Functions package, NCRONTAB, deploy scripts); nothing here reaches Azure.
#
#   bash tests/deploy/run.sh PATH_TO_HANDLER [--workdir DIR]
#
# Sets up (or reuses) the pinned venv (tests/deploy/setup-venv.sh; DEPLOY_VENV overrides its
# path), then runs tests/deploy/check_infra.py, which ends with "N passed, M failed" and exits
# non-zero if any check failed. PATH_TO_HANDLER is the built handler binary that goes into the
# package (scripts/test.sh passes target/release/handler).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$HERE/../.." && pwd)"

if [[ $# -lt 1 || "$1" == -h || "$1" == --help ]]; then
    sed -n '2,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    [[ $# -ge 1 ]] && exit 0 || exit 2
fi

HANDLER="$1"
shift
[[ -f "$HANDLER" && -x "$HANDLER" ]] || { echo "run.sh: not an executable file: $HANDLER" >&2; exit 2; }

bash "$HERE/setup-venv.sh"
VENV="${DEPLOY_VENV:-$REPO_ROOT/.venv-deploy}"
exec "$VENV/bin/python" "$HERE/check_infra.py" --repo "$REPO_ROOT" --binary "$HANDLER" "$@"
