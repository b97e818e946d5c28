#!/usr/bin/env bash
# The main job on a fresh machine: fetch MovieLens 100K, train an implicit ALS model on a
# per-user stratified 75/25 split, print its holdout metrics, refit it on every row, publish
# every user's top 50 to the embedded store as a new version, and serve the API on
# http://127.0.0.1:8080 with the storefront page at / (Ctrl-C stops).
#
#   scripts/quickstart.sh [--help]
#
# Environment: TOPTEN_DATA_DIR (default data/), MODEL_DIR (default data/models/ml-100k),
# TOPTEN_STORE (default embedded:./data/topten.db), PORT (default 8080), DEMO_USER (default 196),
# SERVE=0 to stop after publishing.
#
# It builds `topten` without the cloud backends and Parquet (`--no-default-features`: local
# files and the embedded store, in half the build time). `cargo build --release` builds
# everything (Blob Storage, Cosmos DB, Redis, Parquet, Spark), as scripts/test.sh does.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ "${1:-}" == -h || "${1:-}" == --help ]]; then
    sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'
    exit 0
fi

DATA_DIR="${TOPTEN_DATA_DIR:-data}"
MODEL_DIR="${MODEL_DIR:-data/models/ml-100k}"
DEMO_USER="${DEMO_USER:-196}"
STORE="${TOPTEN_STORE:-embedded:./data/topten.db}"
PORT="${PORT:-8080}"

bash scripts/fetch-movielens.sh
cargo build --release -p topten-trainer --bin topten --no-default-features
TOPTEN=target/release/topten

echo "== training implicit ALS on MovieLens 100K (stratified 75/25 split, seed 42; then refitted on every row) =="
"$TOPTEN" train --ratings "$DATA_DIR/ml-100k/u.data" --model implicit --k 10 --out "$MODEL_DIR"

echo "== top 10 for user $DEMO_USER (from the model directory; never an item they rated) =="
"$TOPTEN" --log warn recommend --model "$MODEL_DIR" --user "$DEMO_USER" --k 10 |
    awk -F'\t' -v titles="$DATA_DIR/ml-100k/items.tsv" '
        BEGIN { while ((getline line < titles) > 0) { split(line, f, "\t"); t[f[1]] = f[2] } }
        { printf "%-6s %-50s %.3f\n", $2, (($2 in t) ? t[$2] : ""), $3 }'

echo "== publishing to $STORE =="
# The catalogue (titles and genres) is stored with the version.
VERSION=$("$TOPTEN" publish --model "$MODEL_DIR" --store "$STORE" --items "$DATA_DIR/ml-100k/catalogue.tsv")
"$TOPTEN" --log warn versions --store "$STORE"

[[ "${SERVE:-1}" == 0 ]] && exit 0
echo "== serving version $VERSION on http://127.0.0.1:$PORT (Ctrl-C to stop) =="
echo "   storefront: http://127.0.0.1:$PORT/?user=$DEMO_USER"
echo "   curl 'http://127.0.0.1:$PORT/api/recommendations/$DEMO_USER?k=10'"
echo "   curl 'http://127.0.0.1:$PORT/api/health'"
exec "$TOPTEN" serve --store "$STORE" --port "$PORT" --static clients/storefront/site
