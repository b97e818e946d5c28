#!/usr/bin/env bash
# Runs every test of topten: the Rust workspace (unit, integration and end-to-end tests over
# real files, processes and sockets; the fuzz corpus replay), Microsoft Recommenders parity,
# Spark interop against real pyspark, schemathesis against a live server, the offline Azure
# deployment checks, the WebAssembly component against the native handler, and the TypeScript
# and Python clients and the storefront page (in headless Chromium) against a live server.
#
#   scripts/test.sh
#
# Needs cargo, python3 and node 20 + npm. Everything else it installs on first use, before
# building anything: on a Debian-family machine as root, the apt packages redis-server,
# redis-tools, openssl, openjdk-17-jre-headless, chromium, python3-venv, and for the
# WebAssembly step rustc-web, cargo-web, rust-web-src, libstd-rust-web-dev, wasi-libc, lld-22;
# run as another user, it names the missing ones and stops. From PyPI and npm (pinned):
# pyspark, schemathesis, Recommenders, cargo-lambda, the Cosmos DB / Blob Storage stand-ins
# (tests/azure/package-lock.json), and the clients' tools (clients/*/package-lock.json,
# clients/python/requirements-test.lock). Tests that need those tools are #[ignore]d with
# the reason and run here with --include-ignored, so a missing tool fails them instead of
# skipping them. The one test that needs root (a tmpfs mount) runs only as root, as in CI.
# .ci/run calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ "${1:-}" == -h || "${1:-}" == --help ]]; then
    sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
    exit 0
fi

# Each step prints its start time since the script began, and the end prints what each step
# took, so a slow CI run shows where its minutes went.
step_names=() step_starts=()
step() { # step TITLE: starts a timed step
    step_names+=("$1") step_starts+=("$SECONDS")
    printf '== [%dm%02ds] %s ==\n' $((SECONDS / 60)) $((SECONDS % 60)) "$1"
}
step_summary() {
    echo "== time per step =="
    local i end
    for i in "${!step_names[@]}"; do
        end=${step_starts[i + 1]:-$SECONDS}
        printf '%5ds  %s\n' $((end - step_starts[i])) "${step_names[i]}"
    done
    printf '%5ds  total\n' "$SECONDS"
}
on_exit() {
    local rc=$?
    step_summary
    # A failed build must not leave the downloads running (a finished job is no error).
    if [[ -n "${prepare_pid:-}" ]]; then kill "$prepare_pid" 2>/dev/null || true; fi
    exit "$rc"
}
trap on_exit EXIT

# The ci profile, like release, carries no debug info (Cargo.toml), so target/ stays a few GB; set
# CARGO_PROFILE_CI_DEBUG=line-tables-only to debug a test.

# System packages (Debian names), checked before anything is built.
need_apt() { # need_apt PACKAGE...: installs them as root with apt-get, else names them and stops
    [[ $# -gt 0 ]] || return 0
    if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
        step "apt-get install $*"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
    else
        echo "scripts/test.sh: missing system packages; install them first (Debian names):" >&2
        echo "    sudo apt-get install -y --no-install-recommends $*" >&2
        exit 2
    fi
}
for tool in cargo python3 node npm; do
    command -v "$tool" >/dev/null || { echo "scripts/test.sh: $tool is required (see README: Quick start)" >&2; exit 2; }
done
missing=()
# The Redis store tests run Debian's redis-server, each on its own free port (the package's
# own service is not used); the TLS test makes its certificates with openssl.
command -v redis-server >/dev/null || missing+=(redis-server redis-tools)
command -v openssl >/dev/null || missing+=(openssl)
# The Spark checks run PyPI pyspark 4.0.1 on a Java 17 runtime.
java -version >/dev/null 2>&1 || missing+=(openjdk-17-jre-headless)
# The dashboard test loads the page in headless chromium.
command -v chromium >/dev/null || missing+=(chromium)
# The parity, Spark, schemathesis, deployment and Lambda tools live in venvs.
python3 -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
# The WebAssembly guest builds with Debian's rustc-web for wasm32-wasip2.
[[ -x /usr/bin/cargo && -x /usr/bin/wasm-ld-22 && -d /usr/lib/wasm32-wasi ]] ||
    missing+=(rustc-web cargo-web rust-web-src libstd-rust-web-dev wasi-libc lld-22)
need_apt "${missing[@]}"

# The downloads (npm stand-ins, PyPI venvs) wait on the network, the build on the CPU: they run
# in the background while cargo compiles, and the tests start once both are done. Each venv
# script reuses a venv that already holds its pins, so the later steps find them ready.
prepare_log="$(mktemp /tmp/topten-test-prepare.XXXXXX)"
prepare() {
    set -e
    # The WebAssembly test builds its guest with Debian's rustc-web and links it with
    # wasm-component-ld. It links one small component per test run, so it is built at
    # opt-level 0 (a minute of CPU instead of three), beside the workspace's build.
    if ! command -v wasm-component-ld >/dev/null; then
        echo "== wasm-component-ld (crates.io, for the WebAssembly test; opt-level 0)"
        CARGO_PROFILE_RELEASE_OPT_LEVEL=0 CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
            cargo install --locked --quiet wasm-component-ld --version '^0.5'
    fi
    if [[ ! -d tests/azure/node_modules ]]; then
        echo "== Azure stand-ins (npm ci in tests/azure)"
        (cd tests/azure && npm ci --no-audit --no-fund --loglevel=error)
    fi
    if [[ -z "${CARGO_LAMBDA:-}" ]] && ! command -v cargo-lambda >/dev/null && [[ ! -x .venv-lambda/bin/cargo-lambda ]]; then
        echo "== cargo-lambda (PyPI, for the Lambda test)"
        python3 -m venv .venv-lambda
        .venv-lambda/bin/pip install --quiet cargo-lambda==1.9.2
    fi
    echo "== the clients' test tools (npm ci: tsc, playwright-core; the Python client's pinned venv)"
    (cd clients/typescript && npm ci --no-audit --no-fund --loglevel=error)
    (cd clients/storefront && npm ci --no-audit --no-fund --loglevel=error)
    bash scripts/pinned-venv.sh .venv-clients clients/python/requirements-test.lock 'import httpx, pytest'
    echo "== venvs: parity, Spark, schemathesis, deployment checks"
    bash tests/parity/setup-venv.sh
    bash scripts/pinned-venv.sh .venv-spark tests/spark/requirements.txt \
        'import pyspark, py4j, pyarrow, pyarrow.parquet, pandas, numpy'
    bash scripts/pinned-venv.sh .venv-schemathesis tests/schemathesis/requirements.txt 'import schemathesis'
    bash tests/deploy/setup-venv.sh
}
step "background: npm stand-ins and PyPI venvs (log: $prepare_log)"
prepare >"$prepare_log" 2>&1 &
prepare_pid=$!
if [[ -z "${CARGO_LAMBDA:-}" ]] && ! command -v cargo-lambda >/dev/null; then
    export CARGO_LAMBDA="$PWD/.venv-lambda/bin/cargo-lambda"
fi


# One cargo invocation builds everything: the binaries the later steps run (target/ci/topten
# with `serve --wasm`, target/ci/handler) come out of it with the features the tests built, so
# no step after it compiles the workspace again. It builds with the `ci` profile (Cargo.toml:
# release code at opt-level 1), which takes about two thirds of the release build's CPU time.
step "cargo test: building (profile ci, with the WebAssembly host)"
skip=()
if [[ $(id -u) != 0 ]]; then
    echo "(not root: skipping the tmpfs full-disk test, which CI runs as root)"
    skip=(--skip a_full_disk_is_named_as_such)
fi
# The WebAssembly host (wasmtime and the Cranelift compiler it loads the component with: crates
# only `topten serve --wasm` links) builds at opt-level 0: a third of the build's CPU at
# opt-level 3, and still the largest part at 1 (cranelift-codegen alone: about 430 s of unit
# time at 3, 51 s at 0).
fast_deps=()
for pkg in cranelift-codegen cranelift-assembler-x64 cranelift-frontend cranelift-bforest \
    regalloc2 wasmparser wasmprinter wasm-encoder wit-parser pulley-interpreter \
    wasmtime wasmtime-environ wasmtime-internal-cranelift wasmtime-wasi wasmtime-wasi-http \
    wasmtime-wasi-io; do
    fast_deps+=(--config "profile.ci.package.$pkg.opt-level=0")
done
cargo_test=(cargo test --profile ci --workspace --features topten-trainer/wasm "${fast_deps[@]}")
"${cargo_test[@]}" --no-run
step "waiting for the background set-up"
if ! wait "$prepare_pid"; then
    cat "$prepare_log" >&2
    echo "scripts/test.sh: the background set-up failed (above)" >&2
    exit 1
fi
grep '^== ' "$prepare_log" || true
for bin in target/ci/topten target/ci/handler; do
    [[ -x $bin ]] || { echo "scripts/test.sh: cargo test did not build $bin" >&2; exit 1; }
done

step "cargo test: running (the build above is reused)"
failed=()
"${cargo_test[@]}" --no-fail-fast -- \
    --include-ignored "${skip[@]}" || failed+=("cargo test")

step "the checks against other tools, side by side"
# The clients' suites start the binary the build above made.
export TOPTEN_BIN="$PWD/target/ci/topten"
# The checks against other tools share nothing (each has its own venv, temporary directory and
# free ports), so they run side by side after the Rust tests (beside them, the machine's two
# cores are shared four ways and timing-sensitive tests slow down), each into its own log; the
# logs are printed in this order, with what each check took.
checks=(
    "parity with Microsoft Recommenders 1.2.1|bash tests/parity/run.sh target/ci/topten"
    "Spark interop: pyspark 4.0.1 local[2] on Java 17 (import-spark, publish --recs, spark/topten_als.py, retrain --spark-runs)|bash tests/spark/run.sh target/ci/topten"
    "OpenAPI document vs a live topten serve (schemathesis 4.32.5, all checks)|bash tests/schemathesis/run.sh target/ci/topten"
    "Azure deployment: offline checks (Bicep, azd, Functions package)|bash tests/deploy/run.sh target/ci/handler"
    "TypeScript client (tsc 5.9.3, node --test), then the storefront in headless Chromium|(cd clients/typescript && npm test) && (cd clients/storefront && npm test)"
    "Python client (pytest, sync and async)|cd clients/python && ../../.venv-clients/bin/python -m pytest -q"
)
check_dir="$(mktemp -d "${TMPDIR:-/tmp}/topten-checks.XXXXXX")"
check_pids=()
for i in "${!checks[@]}"; do
    ( start=$SECONDS; rc=0; bash -c "${checks[i]#*|}" >"$check_dir/$i.log" 2>&1 || rc=$?
      echo "$rc $((SECONDS - start))" >"$check_dir/$i.status" ) &
    check_pids+=("$!")
done

for i in "${!checks[@]}"; do
    wait "${check_pids[i]}" || true
    read -r rc took <"$check_dir/$i.status" || { rc=1 took=0; }
    printf '== %s (%ds, exit %s) ==\n' "${checks[i]%%|*}" "$took" "$rc"
    cat "$check_dir/$i.log"
    [[ $rc == 0 ]] || failed+=("${checks[i]%%|*}")
done
rm -rf "$check_dir"
if ((${#failed[@]})); then
    printf 'scripts/test.sh: failed: %s\n' "${failed[@]}" >&2
    exit 1
fi
