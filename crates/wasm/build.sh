#!/usr/bin/env bash
# Builds the WebAssembly component with Debian's packages only (see README "Run anywhere"):
#
#   crates/wasm/build.sh SNAPSHOT [OUT]     # SNAPSHOT from `topten export-snapshot`; OUT default
#                                    # $CARGO_TARGET_DIR (or wasm/target)/wasm32-wasip2/release/topten-wasm.wasm
#
# TOPTEN_ID_KEY, when set, is embedded as the keys that sign answer ids (give the component the
# native handler's keys, or its ids are never credited). Needs: apt rustc-web cargo-web
# rust-web-src libstd-rust-web-dev wasi-libc lld-22, and
# `cargo install --locked wasm-component-ld --version '^0.5'` (on PATH).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
if [[ $# -lt 1 || "${1:-}" == -h || "${1:-}" == --help ]]; then
    sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
fi
snapshot="$(realpath "$1")"
# CARGO_TARGET_DIR is honoured (cargo builds there); the component is then copied to OUT.
target="$(realpath -m "${CARGO_TARGET_DIR:-$here/target}")"
built="$target/wasm32-wasip2/release/topten-wasm.wasm"
out="$(realpath -m "${2:-$built}")"
cd "$here"
# /usr/bin/cargo explicitly: rustup's cargo comes first on PATH and has no wasm std here.
TOPTEN_SNAPSHOT="$snapshot" RUSTC_BOOTSTRAP=1 RUSTC=/usr/bin/rustc CARGO_TARGET_DIR="$target" \
    /usr/bin/cargo build --release --quiet
if [[ "$out" != "$built" ]]; then
    cp "$built" "$out"
fi
echo "$out"
