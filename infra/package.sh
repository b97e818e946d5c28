#!/usr/bin/env bash
# Assemble the Azure Functions package of topten: host.json, the function folders and the
# release `handler` binary for Linux x86-64, nothing else.
#
#   infra/package.sh [--force] [--binary PATH] [--zip FILE] OUTDIR
#
# The function folders (one function.json per function) and the package's .funcignore are
# generated from the route table in functions/src/route_table.rs by
# `handler --write-function-folders OUTDIR`, so they cannot drift from the routes the handler
# serves; `func start` and `func azure functionapp publish` run in OUTDIR.
# The executable's name comes from host.json (customHandler.description.defaultExecutablePath).
#
#   --binary PATH  use this already-built handler instead of running cargo (CI passes
#                  target/release/handler); it must be an x86-64 ELF executable. A binary
#                  with symbols or debug info is stripped on the way in (needs `strip`).
# Without --binary the handler is built with the `dist` profile (Cargo.toml: release, no debug
# info, stripped): ~20 MB instead of ~100 MB, which the host fetches on every cold start.
#   --zip FILE     also write the package as a zip (unix modes kept: the handler stays executable).
#   --force        replace OUTDIR if it exists (it must look like a package built by this script).
# Environment: CARGO (default cargo; e.g. cargo-zigbuild to cross-build from macOS),
# CARGO_BUILD_TARGET is ignored: off Linux x86-64 the build uses --target x86_64-unknown-linux-gnu.
# Needs: bash, cargo (unless --binary), od; zip or python3 for --zip. No Azure access.
set -euo pipefail

die() { echo "package.sh: ERROR: $*" >&2; exit 1; }
log() { echo "package.sh: $*" >&2; }

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGET_TRIPLE=x86_64-unknown-linux-gnu

force=0 binary="" zipfile="" outdir="" binary_given=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
        --force) force=1; shift ;;
        --binary) [[ $# -ge 2 ]] || die "--binary needs a path"; binary="$2"; binary_given=1; shift 2 ;;
        --zip) [[ $# -ge 2 ]] || die "--zip needs a file name"; zipfile="$2"; shift 2 ;;
        -*) die "unknown option: $1 (see --help)" ;;
        *) [[ -z "$outdir" ]] || die "one OUTDIR only (see --help)"; outdir="$1"; shift ;;
    esac
done
[[ -n "$outdir" ]] || die "missing OUTDIR (see --help)"

# ---- read host.json -------------------------------------------------------------------------
host_json="$REPO_ROOT/host.json"
[[ -f "$host_json" ]] || die "missing $host_json"
exe_name="$(sed -n 's/.*"defaultExecutablePath"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p' "$host_json" | head -n 1)"
[[ -n "$exe_name" ]] || die "host.json has no customHandler.description.defaultExecutablePath"
[[ "$exe_name" != */* && "$exe_name" != .* ]] || die "defaultExecutablePath must be a plain file name at the package root, got '$exe_name'"

# ---- the binary ----------------------------------------------------------------------------
if [[ -z "$binary" ]]; then
    cargo_cmd="${CARGO:-cargo}"
    command -v "$cargo_cmd" >/dev/null 2>&1 || die "$cargo_cmd not found (install Rust, or pass --binary PATH)"
    host_triple="$(rustc -vV 2>/dev/null | sed -n 's/^host: //p' || true)"
    if [[ "$host_triple" == "$TARGET_TRIPLE" ]]; then
        log "building handler (profile dist, $TARGET_TRIPLE)"
        (cd "$REPO_ROOT" && "$cargo_cmd" build --profile dist --locked --bin handler) >&2
        binary="$REPO_ROOT/target/dist/handler"
    else
        log "building handler (profile dist, cross to $TARGET_TRIPLE from ${host_triple:-unknown host})"
        (cd "$REPO_ROOT" && "$cargo_cmd" build --profile dist --locked --bin handler --target "$TARGET_TRIPLE") >&2 \
            || die "cross build failed: install the target (rustup target add $TARGET_TRIPLE) and a linker for it, e.g. CARGO=cargo-zigbuild, or build on Linux x86-64 and pass --binary"
        binary="$REPO_ROOT/target/$TARGET_TRIPLE/dist/handler"
    fi
fi
[[ -f "$binary" ]] || die "no handler binary at $binary"
# ELF magic, 64-bit class, little endian, e_machine 0x3e (x86-64): what Azure Functions on Linux runs.
header="$(od -An -tx1 -N20 "$binary" | tr -d ' \n')"
[[ "${header:0:8}" == 7f454c46 ]] || die "$binary is not an ELF executable (Azure Functions on Linux needs a Linux binary)"
[[ "${header:8:4}" == 0201 && "${header:36:4}" == 3e00 ]] || die "$binary is not an x86-64 little-endian ELF binary"

# ---- assemble ------------------------------------------------------------------------------
case "$outdir" in /*) ;; *) outdir="$PWD/$outdir" ;; esac
outdir="${outdir%/}"
[[ "$outdir" != "$REPO_ROOT" && "$outdir" != "/" && "$outdir" != "$HOME" ]] || die "refusing to use $outdir as OUTDIR"
if [[ -e "$outdir" ]]; then
    if [[ -d "$outdir" && -z "$(ls -A "$outdir")" ]]; then
        :
    elif [[ "$force" == 1 && -f "$outdir/host.json" ]]; then
        rm -rf "$outdir"
    else
        die "$outdir exists; pass --force to replace a package folder (one with host.json)"
    fi
fi
mkdir -p "$outdir"
cp "$host_json" "$outdir/host.json"
chmod 0644 "$outdir/host.json"
cp "$binary" "$outdir/$exe_name"
chmod 0755 "$outdir/$exe_name"
# Symbols and debug info do not run: strip what a release build (--binary) still carries. A
# binary of the dist profile is stripped already (then this changes nothing).
if command -v "${STRIP:-strip}" >/dev/null 2>&1; then
    before="$(wc -c < "$outdir/$exe_name")"
    "${STRIP:-strip}" --strip-all "$outdir/$exe_name" || die "could not strip $outdir/$exe_name"
    after="$(wc -c < "$outdir/$exe_name")"
    [[ "$before" == "$after" ]] || log "stripped $exe_name: $((before / 1048576)) MiB -> $((after / 1048576)) MiB"
elif [[ -n "$binary_given" ]]; then
    log "warning: ${STRIP:-strip} not found; $exe_name is shipped as given (build it with --profile dist to strip it)"
fi

# The function folders and .funcignore, from the route table. The handler writes them itself;
# a handler cross-built for another machine cannot run here, so then the host's build does.
if ! "$outdir/$exe_name" --write-function-folders "$outdir" 2>/dev/null; then
    log "the handler does not run on this machine; writing the function folders with a host build"
    (cd "$REPO_ROOT" && "${CARGO:-cargo}" run --quiet --profile dist --locked --bin handler -- --write-function-folders "$outdir") >&2 \
        || die "could not write the function folders"
fi
shopt -s nullglob
function_files=("$outdir"/*/function.json)
shopt -u nullglob
functions=${#function_files[@]}
[[ "$functions" -gt 0 && -f "$outdir/.funcignore" ]] || die "no function folders were written into $outdir"
chmod 0644 "${function_files[@]}" "$outdir/.funcignore"

if [[ -n "$zipfile" ]]; then
    case "$zipfile" in /*) ;; *) zipfile="$PWD/$zipfile" ;; esac
    rm -f "$zipfile"
    if command -v zip >/dev/null 2>&1; then
        # -X: no extra attributes beyond the unix mode; the mode (0755 on handler) is kept.
        (cd "$outdir" && zip -q -X -r "$zipfile" .)
    elif command -v python3 >/dev/null 2>&1; then
        python3 - "$outdir" "$zipfile" <<'PY'
import os, sys, zipfile
root, dest = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as z:
    for dirpath, _, names in os.walk(root):
        for n in sorted(names):
            full = os.path.join(dirpath, n)
            info = zipfile.ZipInfo.from_file(full, os.path.relpath(full, root))
            info.compress_type = zipfile.ZIP_DEFLATED
            with open(full, "rb") as f:
                z.writestr(info, f.read())
PY
    else
        die "--zip needs zip or python3"
    fi
    log "wrote $zipfile"
fi

size="$(du -sh "$outdir" | cut -f1)"
log "package ready: $outdir ($size): host.json, $exe_name, $functions function folders"
