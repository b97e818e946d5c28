#!/usr/bin/env bash
# The coverage-bounded tuning claim, over search seeds: Microsoft Recommenders' benchmark split
# of MovieLens 100K (stratified by item, 75/25, seed 42), then
# `topten tune --constraint 'catalog_coverage>=0.30' --seed S` for each seed, with the
# validation holdout per user (the default; BY="user item" adds per item); prints each run's test NDCG@10
# and catalogue coverage, the parameters chosen, and the minimum and median, and writes the
# same to bench/results/tune-seeds-<UTC time>.md.
#
#   bench/tune-seeds.sh [--help]
#
# Environment: TOPTEN (default target/release/topten, built if missing), SEEDS (default
# "42 43 44 45 46"), BUDGET (default 40), BY (default "user"). About 2 min a run on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ "${1:-}" == -h || "${1:-}" == --help ]]; then
    sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
    exit 0
fi
TOPTEN="${TOPTEN:-target/release/topten}"
SEEDS="${SEEDS:-42 43 44 45 46}"
BUDGET="${BUDGET:-40}"
BY="${BY:-user}"
[[ -x "$TOPTEN" ]] || cargo build --release --bin topten
bash scripts/fetch-movielens.sh >/dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$TOPTEN" --log warn split --ratings data/ml-100k/u.data --method stratified --filter-by item \
    --ratio 0.75 --seed 42 --out "$work/split" >/dev/null
mkdir -p bench/results
out="bench/results/tune-seeds-$(date -u +%Y%m%dT%H%MZ).md"
{
    echo "# topten tune over search seeds ($(date -u +%Y-%m-%dT%H:%MZ), $("$TOPTEN" --version))"
    echo
    echo "Split: \`topten split --ratings data/ml-100k/u.data --method stratified --filter-by item --ratio 0.75 --seed 42\`."
    echo "Each run: \`topten tune --train train.tsv --test test.tsv --constraint 'catalog_coverage>=0.30' --budget $BUDGET --seed S [--validation-filter-by item]\`."
} >"$out"
for by in $BY; do
    {
        echo
        echo "## validation holdout per $by"
        echo
        echo "| seed | test NDCG@10 | test coverage | served coverage (search) | factors | λ | α | confidence | iterations | β |"
        echo "|---|---|---|---|---|---|---|---|---|---|"
    } >>"$out"
    for s in $SEEDS; do
        "$TOPTEN" --log warn tune --train "$work/split/train.tsv" --test "$work/split/test.tsv" \
            --constraint 'catalog_coverage>=0.30' --budget "$BUDGET" --seed "$s" \
            --validation-filter-by "$by" --out "$work/m-$by-$s" >"$work/m-$by-$s.json"
        python3 - "$work/m-$by-$s.json" "$s" >>"$out" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
p, t = d["params"], d["test"]
served = (d.get("served_beyond") or {}).get("catalog_coverage")
print(f"| {sys.argv[2]} | {t['ndcg_at_k']:.4f} | {t['catalog_coverage']:.4f} | "
      f"{served if served is None else round(served, 4)} | {p['factors']} | {p['regularization']:.3g} | "
      f"{p['alpha']:.3g} | {p['confidence']} | {p['iterations']} | {p['popularity_penalty']:.3g} |")
PY
    done
    python3 - "$out" "$by" >>"$out" <<'PY'
import re, statistics, sys
text = open(sys.argv[1]).read().split(f"## validation holdout per {sys.argv[2]}")[1]
ndcg = [float(r.split("|")[2]) for r in text.splitlines() if re.match(r"\| \d+ \|", r)]
cov = [float(r.split("|")[3]) for r in text.splitlines() if re.match(r"\| \d+ \|", r)]
print(f"\nNDCG@10: min {min(ndcg):.4f}, median {statistics.median(ndcg):.4f}, max {max(ndcg):.4f}; "
      f"test coverage: min {min(cov):.4f}")
PY
done
cat "$out"
echo "written: $out"
