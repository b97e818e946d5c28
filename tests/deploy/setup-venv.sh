#!/usr/bin/env bash
# Create (or reuse) the Python virtual environment for the offline deployment checks.
#
#   bash tests/deploy/setup-venv.sh          # venv at .venv-deploy/ in the repository root
#   DEPLOY_VENV=/some/dir bash tests/deploy/setup-venv.sh
#
# Installs exactly tests/deploy/requirements.txt with `pip install --no-deps` (tree-sitter,
# tree-sitter-bicep, pathspec, PyYAML: wheels only, no compiler needed; scripts/pinned-venv.sh
# does the work). Environment: DEPLOY_VENV (venv path), PYTHON (interpreter to create it with,
# default python3; Python 3.9 or later).
set -euo pipefail
case "${1:-}" in
    -h|--help) sed -n '2,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    "") ;;
    *) echo "setup-venv: unknown argument: $1 (see --help)" >&2; exit 2 ;;
esac
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$HERE/../.." && pwd)"
exec bash "$REPO_ROOT/scripts/pinned-venv.sh" "${DEPLOY_VENV:-$REPO_ROOT/.venv-deploy}" "$HERE/requirements.txt" \
    'import tree_sitter, tree_sitter_bicep, pathspec, yaml; tree_sitter.Language(tree_sitter_bicep.language())' \
    --only-binary=:all:
