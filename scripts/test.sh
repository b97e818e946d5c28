#!/usr/bin/env bash
# Runs every test of topten: the Rust workspace (unit, integration and end-to-end tests over
# real files, processes and sockets; the fuzz corpus replay), Microsoft Recommenders parity,
# schemathesis against a live server, and the offline Azure deployment checks.
#
#   scripts/test.sh
#
# Needs: cargo, python3 (the parity, schemathesis and deployment venvs come from PyPI on first
# use), node 20 + npm for the Cosmos DB / Blob Storage tests (their servers come from
# tests/azure/package-lock.json; installed here on first use). .ci/run calls exactly this after
# installing what the tests need.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ "${1:-}" == -h || "${1:-}" == --help ]]; then
    sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'
    exit 0
fi

if [[ ! -d tests/azure/node_modules ]] && command -v npm >/dev/null; then
    echo "== Azure stand-ins (npm ci in tests/azure) =="
    (cd tests/azure && npm ci --no-audit --no-fund --loglevel=error)
fi

echo "== cargo test (release) =="
cargo test --release --workspace

echo "== parity with Microsoft Recommenders 1.2.1 =="
cargo build --release -p topten-trainer --bin topten
bash tests/parity/run.sh target/release/topten

echo "== OpenAPI document vs a live topten serve (schemathesis 4.32.5, all checks) =="
bash tests/schemathesis/run.sh target/release/topten

echo "== Azure deployment: offline checks (Bicep, azd, Functions package) =="
cargo build --release -p topten-functions --bin handler
bash tests/deploy/run.sh target/release/handler
