#!/usr/bin/env bash
# Parity test of the topten CLI against Microsoft Recommenders 1.2.1.
#
#   bash tests/parity/run.sh PATH_TO_TOPTEN [--workdir DIR]
#
# Sets up (or reuses) the pinned venv (tests/parity/setup-venv.sh; PARITY_VENV overrides its
# path), then runs tests/parity/recommenders_parity.py, which ends with "N passed, M failed"
# and exits non-zero if any check failed. Extra arguments go to the parity script.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$HERE/../.." && pwd)"

if [[ $# -lt 1 || "$1" == -h || "$1" == --help ]]; then
    sed -n '2,8p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    [[ $# -ge 1 ]] && exit 0 || exit 2
fi

TOPTEN="$1"
shift
[[ -f "$TOPTEN" && -x "$TOPTEN" ]] || { echo "run.sh: not an executable file: $TOPTEN" >&2; exit 2; }
TOPTEN="$(cd "$(dirname "$TOPTEN")" && pwd)/$(basename "$TOPTEN")"

bash "$HERE/setup-venv.sh"
VENV="${PARITY_VENV:-$REPO_ROOT/.venv-parity}"
exec "$VENV/bin/python" "$HERE/recommenders_parity.py" --topten "$TOPTEN" "$@"
