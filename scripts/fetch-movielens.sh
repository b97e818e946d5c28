#!/usr/bin/env bash
# Fetch the MovieLens 100K data set into data/ml-100k/ (never committed: see .gitignore).
set -euo pipefail

EXPECTED_SHA256="06416e597f82b7342361e41163890c81036900f418ad91315590814211dca490"
RECBOLE_PKG="recbole==1.2.1"
NEIGHBORS_PKG="neighbors==0.2.1"

usage() {
    cat <<'EOF'
Usage: scripts/fetch-movielens.sh [--help]

Fetches MovieLens 100K and writes:
  $TOPTEN_DATA_DIR/ml-100k/u.data     user<TAB>item<TAB>rating<TAB>timestamp, no header,
                                      100,000 rows (the original u.data; sha256 verified)
  $TOPTEN_DATA_DIR/ml-100k/items.tsv  header "item_id<TAB>title", then one line per item,
                                      title as in the original u.item, e.g. "Toy Story (1995)"
  $TOPTEN_DATA_DIR/ml-100k/catalogue.tsv
                                      the item catalogue for `topten publish --items`: header
                                      "itemId<TAB>title<TAB>categories", genres joined by "|"

Source: the PyPI wheel recbole==1.2.1 (recbole/dataset_example/ml-100k/ml-100k.inter
and ml-100k.item), downloaded with `pip download --no-deps`. If that fails, falls back
to the PyPI wheel neighbors==0.2.1 (neighbors/data/movielens100k.csv), which has the
same ratings but no titles or genres (items.tsv and catalogue.tsv then get placeholder titles
"item <id>" and no categories).

Idempotent: does nothing if u.data already has the expected checksum and items.tsv and
catalogue.tsv exist.

Environment:
  TOPTEN_DATA_DIR  target folder (default: data/ at the repository root)
  PYTHON           python interpreter whose pip is used (default: python3)

The MovieLens licence forbids redistribution: never commit the fetched files.
EOF
}

case "${1:-}" in
    -h|--help) usage; exit 0 ;;
    "") ;;
    *) echo "fetch-movielens: unknown argument: $1 (see --help)" >&2; exit 2 ;;
esac

log() { echo "fetch-movielens: $*" >&2; }
die() { echo "fetch-movielens: ERROR: $*" >&2; exit 1; }

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DATA_DIR="${TOPTEN_DATA_DIR:-$REPO_ROOT/data}"
OUT_DIR="$DATA_DIR/ml-100k"
PYTHON="${PYTHON:-python3}"

for tool in unzip sha256sum awk "$PYTHON"; do
    command -v "$tool" >/dev/null 2>&1 || die "required tool not found: $tool"
done

sha_of() { sha256sum "$1" | awk '{print $1}'; }

if [[ -f "$OUT_DIR/u.data" && -f "$OUT_DIR/items.tsv" && -f "$OUT_DIR/catalogue.tsv" ]] \
    && [[ "$(sha_of "$OUT_DIR/u.data")" == "$EXPECTED_SHA256" ]]; then
    log "$OUT_DIR/u.data already present with the expected checksum; nothing to do"
    exit 0
fi

mkdir -p "$OUT_DIR"
TMP="$(mktemp -d "${TMPDIR:-/tmp}/fetch-movielens.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT

pip_download() { # pip_download PKG DEST
    "$PYTHON" -m pip download --no-deps --disable-pip-version-check -q "$1" -d "$2"
}

# Writes $TMP/u.data and $TMP/items.tsv from recbole's wheel. Returns non-zero on any failure.
from_recbole() {
    local dl="$TMP/recbole" wheel ex="$TMP/recbole-x" base
    mkdir -p "$dl" "$ex"
    log "downloading $RECBOLE_PKG from PyPI"
    pip_download "$RECBOLE_PKG" "$dl" || { log "pip download $RECBOLE_PKG failed"; return 1; }
    local wheels=("$dl"/recbole-*.whl)
    wheel="${wheels[0]}"
    [[ -f "$wheel" ]] || { log "no recbole wheel in the download"; return 1; }
    base="recbole/dataset_example/ml-100k"
    unzip -q -o "$wheel" "$base/ml-100k.inter" "$base/ml-100k.item" -d "$ex" \
        || { log "could not unzip the ml-100k files from $wheel"; return 1; }
    local inter="$ex/$base/ml-100k.inter" item="$ex/$base/ml-100k.item"
    head -n 1 "$inter" | grep -q '^user_id:token' \
        || { log "unexpected header in ml-100k.inter: $(head -n 1 "$inter")"; return 1; }
    tail -n +2 "$inter" > "$TMP/u.data"
    local got
    got="$(sha_of "$TMP/u.data")"
    if [[ "$got" != "$EXPECTED_SHA256" ]]; then
        log "CHECKSUM MISMATCH for u.data built from $RECBOLE_PKG: got $got, expected $EXPECTED_SHA256"
        return 1
    fi
    # ml-100k.item: item_id:token, movie_title:token_seq, release_year:token, class:token_seq.
    # Rebuild the original u.item titles: "Title (Year)"; item 267 is "unkonwn" (sic) in
    # both columns, which is "unknown" in the original.
    head -n 1 "$item" | grep -q $'^item_id:token\tmovie_title:token_seq\trelease_year:token' \
        || { log "unexpected header in ml-100k.item: $(head -n 1 "$item")"; return 1; }
    awk -F'\t' 'BEGIN { OFS = "\t"; print "item_id", "title" }
        NR > 1 {
            t = $2; y = $3
            if (t == "unkonwn") t = "unknown"
            if (y ~ /^[0-9][0-9][0-9][0-9]$/) t = t " (" y ")"
            print $1, t
        }' "$item" > "$TMP/items.tsv"
    # The catalogue: the same titles, and the genres ("class", space-separated) as categories.
    awk -F'\t' 'BEGIN { OFS = "\t"; print "itemId", "title", "categories" }
        NR > 1 {
            t = $2; y = $3
            if (t == "unkonwn") t = "unknown"
            if (y ~ /^[0-9][0-9][0-9][0-9]$/) t = t " (" y ")"
            c = $4; gsub(/ +/, "|", c)
            print $1, t, c
        }' "$item" > "$TMP/catalogue.tsv"
    local n
    n="$(($(wc -l < "$TMP/items.tsv") - 1))"
    [[ "$n" == 1682 ]] || { log "expected 1682 items in ml-100k.item, got $n"; return 1; }
    return 0
}

# Writes $TMP/u.data (and placeholder $TMP/items.tsv) from neighbors' wheel.
from_neighbors() {
    local dl="$TMP/neighbors" wheel ex="$TMP/neighbors-x" csv
    mkdir -p "$dl" "$ex"
    log "falling back to $NEIGHBORS_PKG from PyPI"
    pip_download "$NEIGHBORS_PKG" "$dl" || { log "pip download $NEIGHBORS_PKG failed"; return 1; }
    local wheels=("$dl"/neighbors-*.whl)
    wheel="${wheels[0]}"
    [[ -f "$wheel" ]] || { log "no neighbors wheel in the download"; return 1; }
    unzip -q -o "$wheel" "neighbors/data/movielens100k.csv" -d "$ex" \
        || { log "could not unzip movielens100k.csv from $wheel"; return 1; }
    csv="$ex/neighbors/data/movielens100k.csv"
    head -n 1 "$csv" | tr -d '\r' | grep -qx 'User,Item,Rating,Timestamp' \
        || { log "unexpected header in movielens100k.csv: $(head -n 1 "$csv")"; return 1; }
    # Ratings are written as "3.0": make them integers. Any non-integral rating is an error.
    awk -F',' 'BEGIN { OFS = "\t"; bad = 0 }
        NR > 1 {
            sub(/\r$/, "", $4)
            r = $3
            if (r ~ /^[0-9]+\.0+$/) sub(/\.0+$/, "", r)
            if (r !~ /^[0-9]+$/) { bad = 1; exit 1 }
            print $1, $2, r, $4
        }
        END { if (bad) exit 1 }' "$csv" > "$TMP/u.data" \
        || { log "non-integer rating in movielens100k.csv"; return 1; }
    local got
    got="$(sha_of "$TMP/u.data")"
    if [[ "$got" != "$EXPECTED_SHA256" ]]; then
        log "CHECKSUM MISMATCH for u.data built from $NEIGHBORS_PKG: got $got, expected $EXPECTED_SHA256"
        return 1
    fi
    log "WARNING: $NEIGHBORS_PKG has no movie titles; items.tsv gets placeholder titles"
    cut -f2 "$TMP/u.data" | sort -n -u \
        | awk 'BEGIN { OFS = "\t"; print "item_id", "title" } { print $1, "item " $1 }' \
        > "$TMP/items.tsv"
    awk -F'\t' 'BEGIN { OFS = "\t"; print "itemId", "title", "categories" }
        NR > 1 { print $1, $2, "" }' "$TMP/items.tsv" > "$TMP/catalogue.tsv"
    return 0
}

if ! from_recbole; then
    rm -f "$TMP/u.data" "$TMP/items.tsv" "$TMP/catalogue.tsv"
    from_neighbors || die "could not fetch MovieLens 100K from $RECBOLE_PKG nor $NEIGHBORS_PKG (see messages above); nothing written"
fi

# Keep existing real titles if the fallback could only produce placeholders.
mv -f "$TMP/u.data" "$OUT_DIR/u.data"
if [[ -f "$OUT_DIR/items.tsv" && -f "$OUT_DIR/catalogue.tsv" ]] && ! grep -q $'\titem [0-9]*$' "$OUT_DIR/items.tsv" \
    && grep -q $'\titem [0-9]*$' "$TMP/items.tsv"; then
    log "keeping existing $OUT_DIR/items.tsv and catalogue.tsv (they have real titles)"
else
    mv -f "$TMP/items.tsv" "$OUT_DIR/items.tsv"
    mv -f "$TMP/catalogue.tsv" "$OUT_DIR/catalogue.tsv"
fi
log "wrote $OUT_DIR/u.data ($(wc -l < "$OUT_DIR/u.data") rows, sha256 $EXPECTED_SHA256)"
log "wrote $OUT_DIR/items.tsv ($(($(wc -l < "$OUT_DIR/items.tsv") - 1)) items)"
log "wrote $OUT_DIR/catalogue.tsv ($(($(wc -l < "$OUT_DIR/catalogue.tsv") - 1)) items with genres)"
