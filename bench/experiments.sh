#!/usr/bin/env bash
# What recommendation ids and experiments cost on GET /api/recommendations, in one run:
# bench/load.sh (Redis comparison skipped) three times, alternating, on the same model:
#   1. BASELINE: a topten built before ids and experiments (BASELINE_TOPTEN, required);
#   2. current: the current topten, no experiment (every answer gets an id);
#   3. experiment: the current topten with an experiment serving half of the users from a
#      second version (every answer picks the user's arm and names it).
# Each configuration runs ROUNDS times (default 2) in turn; the table gives the median
# requests/s and p99 of each and the ratios to the baseline. Raw load.sh outputs go to
# bench/results/ as usual; the table also to bench/results/experiments-<UTC>.md.
#
#   BASELINE_TOPTEN=/tmp/topten-old bench/experiments.sh
#
# Environment: BASELINE_TOPTEN (required), TOPTEN (default target/release/topten), ROUNDS=2,
# DURATION=20, CONNECTIONS=200, and anything bench/load.sh takes.
set -euo pipefail
case "${1:-}" in
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
esac
cd "$(dirname "${BASH_SOURCE[0]}")/.."
[[ -x "${BASELINE_TOPTEN:-}" ]] || { echo "experiments: set BASELINE_TOPTEN to a topten built before ids and experiments" >&2; exit 2; }
CURRENT="${TOPTEN:-$PWD/target/release/topten}"
ROUNDS="${ROUNDS:-2}"
export DURATION="${DURATION:-20}" SKIP_REDIS=1
TS="$(date -u +%Y%m%dT%H%M%SZ)"
declare -A RPS P99
run() { # run NAME TOPTEN [EXPERIMENT_SHARE]
    local out
    out="$(TOPTEN="$2" EXPERIMENT_SHARE="${3:-}" bash bench/load.sh 2>/dev/null | sed -n 's/^results: //p')"
    [[ -f "$out" ]] || { echo "experiments: load.sh gave no results for $1" >&2; exit 1; }
    RPS[$1]+="$(jq -r .results.recommendations.rps "$out") "
    P99[$1]+="$(jq -r .results.recommendations.p99_ms "$out") "
    echo "experiments: $1 round: $(jq -r .results.recommendations.rps "$out") req/s" >&2
}
for _ in $(seq "$ROUNDS"); do
    run baseline "$BASELINE_TOPTEN"
    run current "$CURRENT"
    run experiment "$CURRENT" 0.5
done
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
base="$(median <<<"${RPS[baseline]}")"
{
    echo "| GET /api/recommendations | requests/s (median of $ROUNDS) | p99 ms | vs baseline |"
    echo "|---|---|---|---|"
    for n in baseline current experiment; do
        r="$(median <<<"${RPS[$n]}")"
        printf '| %s | %.0f | %s | %.3f |\n' "$n" "$r" "$(median <<<"${P99[$n]}")" "$(awk -v a="$r" -v b="$base" 'BEGIN {print a / b}')"
    done
} | tee "bench/results/experiments-$TS.md"
