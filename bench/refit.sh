#!/usr/bin/env bash
# What the refit on every row costs: `topten train --ratings u.data` on MovieLens 100K with the
# default refit and with --no-refit, alternating, ROUNDS rounds; prints each round's wall time,
# the medians and their ratio, and writes them to bench/results/refit-<UTC>.md.
#
#   bench/refit.sh [TOPTEN]       # TOPTEN default target/release/topten; ROUNDS=7
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ "${1:-}" == -h || "${1:-}" == --help ]]; then
    sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'
    exit 0
fi
T="${1:-target/release/topten}"
ROUNDS="${ROUNDS:-7}"
bash scripts/fetch-movielens.sh >/dev/null
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
wall() { # prints the seconds one train takes
    local s e
    s=$(date +%s.%N)
    "$T" --log warn train --ratings data/ml-100k/u.data --model implicit --out "$TMP/m-$1-$2" "${@:3}" >/dev/null
    e=$(date +%s.%N)
    printf '%.3f\n' "$(echo "$e - $s" | bc -l)"
}
refit=(); norefit=()
for r in $(seq "$ROUNDS"); do
    norefit+=("$(wall n "$r" --no-refit)")
    refit+=("$(wall r "$r")")
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
mn=$(median "${norefit[@]}"); mr=$(median "${refit[@]}")
out="bench/results/refit-$(date -u +%Y%m%dT%H%M%SZ).md"
{
    echo "# topten train on MovieLens 100K: refit on every row against --no-refit"
    echo
    echo "rounds: $ROUNDS (alternating); binary: $T"
    echo
    echo "| run | wall times (s) | median (s) |"
    echo "|---|---|---|"
    echo "| --no-refit | ${norefit[*]} | $mn |"
    echo "| refit (default) | ${refit[*]} | $mr |"
    echo
    echo "ratio refit / --no-refit: $(echo "$mr / $mn" | bc -l | xargs printf %.2f)"
} | tee "$out"
