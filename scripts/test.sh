#!/usr/bin/env bash
# Runs every test of topten: the Rust workspace (unit, integration and end-to-end tests over
# real files, processes and sockets; the fuzz corpus replay), Microsoft Recommenders parity,
# Spark interop against real pyspark, schemathesis against a live server, and the offline
# Azure deployment checks.
#
#   scripts/test.sh
#
# Needs: cargo, python3 (the parity, schemathesis and deployment venvs and cargo-lambda come
# from PyPI on first use), node 20 + npm for the Cosmos DB / Blob Storage tests (their servers
# come from tests/azure/package-lock.json; installed here on first use), and Debian's
# redis-server for the Redis store tests and Java 17 for the Spark checks (.ci/run installs
# both; pyspark comes from PyPI into .venv-spark). Tests that need those tools
# are #[ignore]d with the reason and run here with --include-ignored, so a missing tool fails
# them instead of skipping them. The one test that needs root (a tmpfs mount) runs only when
# this script runs as root, as CI does. .ci/run calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ "${1:-}" == -h || "${1:-}" == --help ]]; then
    sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
    exit 0
fi

if [[ ! -d tests/azure/node_modules ]] && command -v npm >/dev/null; then
    echo "== Azure stand-ins (npm ci in tests/azure) =="
    (cd tests/azure && npm ci --no-audit --no-fund --loglevel=error)
fi

if ! command -v cargo-lambda >/dev/null && [[ -z "${CARGO_LAMBDA:-}" ]]; then
    echo "== cargo-lambda (PyPI, for the Lambda test) =="
    [[ -x .venv-lambda/bin/cargo-lambda ]] || {
        python3 -m venv .venv-lambda
        .venv-lambda/bin/pip install --quiet cargo-lambda==1.9.2
    }
    export CARGO_LAMBDA="$PWD/.venv-lambda/bin/cargo-lambda"
fi

echo "== cargo test (release; ignored tests included: they need the tools installed above) =="
skip=()
if [[ $(id -u) != 0 ]]; then
    echo "(not root: skipping the tmpfs full-disk test, which CI runs as root)"
    skip=(--skip a_full_disk_is_named_as_such)
fi
cargo test --release --workspace -- --include-ignored "${skip[@]}"

echo "== parity with Microsoft Recommenders 1.2.1 =="
cargo build --release -p topten-trainer --bin topten
bash tests/parity/run.sh target/release/topten

echo "== Spark interop: pyspark 4.0.1 local[2] on Java 17 (import-spark, publish --recs, spark/topten_als.py, retrain --spark-runs) =="
bash tests/spark/run.sh target/release/topten

echo "== OpenAPI document vs a live topten serve (schemathesis 4.32.5, all checks) =="
bash tests/schemathesis/run.sh target/release/topten

echo "== Azure deployment: offline checks (Bicep, azd, Functions package) =="
cargo build --release -p topten-functions --bin handler
bash tests/deploy/run.sh target/release/handler
