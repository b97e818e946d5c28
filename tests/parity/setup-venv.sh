#!/usr/bin/env bash
# Create (or reuse) the Python virtual environment for the Microsoft Recommenders parity tests.
#
#   bash tests/parity/setup-venv.sh          # venv at .venv-parity/ in the repository root
#   PARITY_VENV=/some/dir bash tests/parity/setup-venv.sh
#
# Installs exactly tests/parity/requirements.txt with `pip install --no-deps`: recommenders 1.2.1
# without its heavy dependencies, plus the pinned closure of numpy, pandas and scikit-learn, which
# is all that recommenders.evaluation.python_evaluation and recommenders.datasets.python_splitters
# import (scripts/pinned-venv.sh does the work). Environment: PARITY_VENV (venv path), PYTHON
# (interpreter to create it with, default python3; the pins need Python 3.9 to 3.12, and are
# tested on 3.11).
set -euo pipefail
case "${1:-}" in
    -h|--help) sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    "") ;;
    *) echo "setup-venv: unknown argument: $1 (see --help)" >&2; exit 2 ;;
esac
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$HERE/../.." && pwd)"
exec bash "$REPO_ROOT/scripts/pinned-venv.sh" "${PARITY_VENV:-$REPO_ROOT/.venv-parity}" "$HERE/requirements.txt" \
    'import recommenders.evaluation.python_evaluation, recommenders.datasets.python_splitters'
