#!/usr/bin/env bash
# Side-by-side comparison of topten with benfred/implicit and Spark MLlib ALS (local mode) on the
# same files, threads and hyperparameters.
#
#   bench/compare.sh [--help]
#
# For each data set: one stratified 75/25 split (topten split, seed 42); every system trains on
# train.tsv and writes its top-10 for all users with seen items removed; `topten evaluate`
# scores every output on test.tsv. Wall time and peak RSS come from GNU time around each
# process (Spark's JVM is not a waited child of Python, so its RSS is not measured). Prints one markdown table and writes bench/results/compare-<UTC>.{md,jsonl}.
#
# Environment:
#   DATASETS="ml100k 1m 10m"   any of ml100k 1m 10m 25m (synthetic sets from `topten synth`)
#   SPARK_DATASETS="ml100k 1m" data sets Spark runs on (it is by far the slowest)
#   SPARK_TOPK_DATASETS="ml100k 1m" of those, where Spark also ranks all users (elsewhere: fit only)
#   THREADS=2  ITERATIONS=15   IMPLICIT_FACTORS="64 128"   EXPLICIT_FACTORS="10 64"
#   REG_IMPLICIT=20  ALPHA=1   REG_EXPLICIT=0.05
#   WORK=/tmp/topten-compare   VENV=.venv-bench
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [[ "${1:-}" == -h || "${1:-}" == --help ]]; then sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0; fi

DATASETS="${DATASETS:-ml100k 1m 10m}"
SPARK_DATASETS="${SPARK_DATASETS:-ml100k 1m}"; SPARK_TOPK_DATASETS="${SPARK_TOPK_DATASETS:-ml100k 1m}"
THREADS="${THREADS:-2}"; ITERATIONS="${ITERATIONS:-15}"
IMPLICIT_FACTORS="${IMPLICIT_FACTORS:-64 128}"; EXPLICIT_FACTORS="${EXPLICIT_FACTORS:-10 64}"
REG_IMPLICIT="${REG_IMPLICIT:-20}"; ALPHA="${ALPHA:-1}"; REG_EXPLICIT="${REG_EXPLICIT:-0.05}"
WORK="${WORK:-/tmp/topten-compare}"; VENV="${VENV:-.venv-bench}"
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$WORK" bench/results
JSONL="bench/results/compare-$STAMP.jsonl"; MD="bench/results/compare-$STAMP.md"

command -v /usr/bin/time >/dev/null || { apt-get update -qq && apt-get install -y -qq time >/dev/null; }
if [[ ! -x "$VENV/bin/python" ]]; then python3 -m venv "$VENV"; fi
"$VENV/bin/pip" install -q -r bench/compare/requirements.txt
java -version >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq openjdk-17-jre-headless >/dev/null; }
cargo build --release --bin topten >/dev/null
T="$PWD/target/release/topten"
PY="$VENV/bin/python"

# run NAME CMD... : times CMD (wall s, peak RSS MB) into $WORK/NAME.time
run() {
    local name=$1; shift
    local t0; t0=$(date +%s.%N)
    /usr/bin/time -f "%e %M" -o "$WORK/$name.time" "$@"
    echo "$t0 $(date +%s.%N)" > "$WORK/$name.wall"
}
# wall seconds with nanosecond clock (GNU time rounds to 10 ms)
wall() { awk '{printf "%.4f", $2 - $1}' "$WORK/$1.wall"; }
rss() { awk '{printf "%.0f", $2/1024}' "$WORK/$1.time"; }
metric() { "$T" --log warn evaluate --test "$1" --recs "$2" ${3:+--predictions "$3"} | "$PY" -c "import json,sys; d=json.load(sys.stdin); print(' '.join(str(d[k]) for k in sys.argv[1:]))" "${@:4}"; }

echo "machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(free -g | awk '/Mem:/{print $2}') GiB; load now: $(cut -d' ' -f1-3 /proc/loadavg)" | tee "$MD"
echo | tee -a "$MD"
echo "| data | model | system | fit s | s/iter | top-10 all users s | peak RSS MB | P@10 | NDCG@10 | RMSE | topten speed-up |" | tee -a "$MD"
echo "|---|---|---|---|---|---|---|---|---|---|---|" | tee -a "$MD"
row() { echo "| $* |" | tee -a "$MD"; }

for ds in $DATASETS; do
    D="$WORK/$ds"; mkdir -p "$D"
    case $ds in
        ml100k) bash scripts/fetch-movielens.sh >/dev/null; IN=data/ml-100k/u.data ;;
        1m) IN="$D/ratings.tsv"; [[ -s $IN ]] || "$T" --log warn synth --users 20000 --items 10000 --interactions 1000000 --out "$IN" ;;
        10m) IN="$D/ratings.tsv"; [[ -s $IN ]] || "$T" --log warn synth --users 100000 --items 50000 --interactions 10000000 --out "$IN" ;;
        25m) IN="$D/ratings.tsv"; [[ -s $IN ]] || "$T" --log warn synth --users 250000 --items 50000 --interactions 25000000 --out "$IN" ;;
        *) echo "unknown data set $ds" >&2; exit 2 ;;
    esac
    "$T" --log warn split --ratings "$IN" --method stratified --ratio 0.75 --seed 42 --out "$D"
    TR="$D/train.tsv"; TE="$D/test.tsv"

    for f in $IMPLICIT_FACTORS; do
        # topten: train (includes parse, evaluation) then top-10 for all users, timed apart.
        run "$ds-t-imp-$f" "$T" --log warn train --train "$TR" --model implicit --confidence linear --factors "$f" --iterations "$ITERATIONS" \
            --regularization "$REG_IMPLICIT" --alpha "$ALPHA" --threads "$THREADS" --out "$D/m-imp-$f" >/dev/null
        run "$ds-t-imp-$f-rec" sh -c "'$T' --log warn recommend --model '$D/m-imp-$f' --all --k 10 > '$D/recs-t-imp-$f.tsv'"
        tfit=$("$PY" -c "import json,sys; m=json.load(open(sys.argv[1])); print(m['training_seconds'])" "$D/m-imp-$f/model.json")
        tit=$("$PY" -c "import json,sys; m=json.load(open(sys.argv[1])); h=m['history']; print(sum(x['seconds'] for x in h)/len(h))" "$D/m-imp-$f/model.json")
        read -r p n <<<"$(metric "$TE" "$D/recs-t-imp-$f.tsv" "" precision_at_k ndcg_at_k)"
        trec=$(wall "$ds-t-imp-$f-rec")
        row "$ds | implicit $f | topten | $(printf %.2f "$tfit") | $(printf %.3f "$tit") | $trec | $(rss "$ds-t-imp-$f") | $(printf %.4f "$p") | $(printf %.4f "$n") | - | -"
        echo "{\"data\":\"$ds\",\"model\":\"implicit\",\"factors\":$f,\"system\":\"topten\",\"fit_s\":$tfit,\"s_per_iteration\":$tit,\"topk_s\":$trec,\"peak_rss_mb\":$(rss "$ds-t-imp-$f"),\"p10\":$p,\"ndcg10\":$n}" >>"$JSONL"

        out=$(run "$ds-i-imp-$f" "$PY" bench/compare/peers.py implicit --train "$TR" --out "$D/recs-i-imp-$f.tsv" --factors "$f" \
            --iterations "$ITERATIONS" --regularization "$REG_IMPLICIT" --alpha "$ALPHA" --threads "$THREADS")
        ifit=$(echo "$out" | "$PY" -c "import json,sys; print(json.load(sys.stdin)['fit_s'])")
        iit=$(echo "$out" | "$PY" -c "import json,sys; print(json.load(sys.stdin)['s_per_iteration'])")
        itopk=$(echo "$out" | "$PY" -c "import json,sys; print(json.load(sys.stdin)['topk_s'])")
        read -r p n <<<"$(metric "$TE" "$D/recs-i-imp-$f.tsv" "" precision_at_k ndcg_at_k)"
        ratio=$("$PY" -c "import sys; a,b,c,d=map(float,sys.argv[1:]); print(f'{b/a:.2f}x per iteration, {d/c:.2f}x top-10')" "$tit" "$iit" "$trec" "$itopk")
        row "$ds | implicit $f | implicit 0.7.2 | $(printf %.2f "$ifit") | $(printf %.3f "$iit") | $(printf %.2f "$itopk") | $(rss "$ds-i-imp-$f") | $(printf %.4f "$p") | $(printf %.4f "$n") | - | $ratio"
        echo "$out" | "$PY" -c "import json,sys; d=json.load(sys.stdin); d.update(data='$ds', model='implicit', factors=$f, p10=$p, ndcg10=$n); print(json.dumps(d))" >>"$JSONL"
    done

    for f in $EXPLICIT_FACTORS; do
        run "$ds-t-exp-$f" "$T" --log warn train --train "$TR" --test "$TE" --no-refit --model explicit --factors "$f" --iterations "$ITERATIONS" \
            --regularization "$REG_EXPLICIT" --threads "$THREADS" --out "$D/m-exp-$f" >/dev/null
        tfit=$("$PY" -c "import json,sys; m=json.load(open(sys.argv[1])); print(m['training_seconds'])" "$D/m-exp-$f/model.json")
        trmse=$("$PY" -c "import json,sys; m=json.load(open(sys.argv[1])); print(m['metrics']['rmse'])" "$D/m-exp-$f/model.json")
        run "$ds-t-exp-$f-rec" sh -c "'$T' --log warn recommend --model '$D/m-exp-$f' --all --k 10 > '$D/recs-t-exp-$f.tsv'"
        trec=$(wall "$ds-t-exp-$f-rec")
        read -r p n <<<"$(metric "$TE" "$D/recs-t-exp-$f.tsv" "" precision_at_k ndcg_at_k)"
        row "$ds | explicit $f | topten | $(printf %.2f "$tfit") | $("$PY" -c "print(f'{$tfit/$ITERATIONS:.3f}')") | $trec | $(rss "$ds-t-exp-$f") | $(printf %.4f "$p") | $(printf %.4f "$n") | $(printf %.4f "$trmse") | -"
        echo "{\"data\":\"$ds\",\"model\":\"explicit\",\"factors\":$f,\"system\":\"topten\",\"fit_s\":$tfit,\"topk_s\":$trec,\"rmse\":$trmse,\"p10\":$p,\"ndcg10\":$n}" >>"$JSONL"
        # The exact solver (one Cholesky solve per row, as Spark does) for reference: fit and RMSE.
        run "$ds-t-exp-$f-chol" "$T" --log warn train --train "$TR" --test "$TE" --no-refit --model explicit --solver cholesky --factors "$f" \
            --iterations "$ITERATIONS" --regularization "$REG_EXPLICIT" --threads "$THREADS" --out "$D/m-exp-$f-chol" >/dev/null
        cfit=$("$PY" -c "import json,sys; m=json.load(open(sys.argv[1])); print(m['training_seconds'])" "$D/m-exp-$f-chol/model.json")
        crmse=$("$PY" -c "import json,sys; m=json.load(open(sys.argv[1])); print(m['metrics']['rmse'])" "$D/m-exp-$f-chol/model.json")
        row "$ds | explicit $f | topten, exact Cholesky solver | $(printf %.2f "$cfit") | $("$PY" -c "print(f'{$cfit/$ITERATIONS:.3f}')") | - | $(rss "$ds-t-exp-$f-chol") | - | - | $(printf %.4f "$crmse") | -"
        echo "{\"data\":\"$ds\",\"model\":\"explicit\",\"factors\":$f,\"system\":\"topten-cholesky\",\"fit_s\":$cfit,\"rmse\":$crmse}" >>"$JSONL"
        if [[ " $SPARK_DATASETS " == *" $ds "* ]]; then
            topk_flag=(); [[ " $SPARK_TOPK_DATASETS " == *" $ds "* ]] || topk_flag=(--no-topk)
            out=$(run "$ds-s-exp-$f" "$PY" bench/compare/peers.py spark --explicit --train "$TR" --test "$TE" --out "$D/recs-s-exp-$f.tsv" \
                --predictions "$D/pred-s-exp-$f.tsv" --factors "$f" --iterations "$ITERATIONS" --regularization "$REG_EXPLICIT" --threads "$THREADS" "${topk_flag[@]}" 2>/dev/null)
            sfit=$(echo "$out" | "$PY" -c "import json,sys; print(json.load(sys.stdin)['fit_s'])")
            stopk=$(echo "$out" | "$PY" -c "import json,sys; print(json.load(sys.stdin)['topk_s'])")
            if [[ $stopk == None ]]; then
                # Fit only: RMSE from Spark's predictions (the recommendations file is topten's,
                # needed by the command line but not used for RMSE).
                read -r r <<<"$(metric "$TE" "$D/recs-t-exp-$f.tsv" "$D/pred-s-exp-$f.tsv" rmse)"
                p=None; n=None; stopk_cell="not run"
                ratio=$("$PY" -c "import sys; a,b,e=map(float,sys.argv[1:]); print(f'{b/a:.0f}x fit ({b/e:.0f}x exact)')" "$tfit" "$sfit" "$cfit")
            else
                read -r p n r <<<"$(metric "$TE" "$D/recs-s-exp-$f.tsv" "$D/pred-s-exp-$f.tsv" precision_at_k ndcg_at_k rmse)"
                stopk_cell=$(printf %.2f "$stopk")
                ratio=$("$PY" -c "import sys; a,b,c,d,e=map(float,sys.argv[1:]); print(f'{b/a:.0f}x fit ({b/e:.0f}x exact), {d/c:.0f}x top-10')" "$tfit" "$sfit" "$trec" "$stopk" "$cfit")
            fi
            cell() { [[ $1 == None ]] && echo - || printf %.4f "$1"; }
            row "$ds | explicit $f | Spark 3.5.3 local[$THREADS] | $(printf %.2f "$sfit") | $("$PY" -c "print(f'{$sfit/$ITERATIONS:.3f}')") | $stopk_cell | n/a (JVM) | $(cell "$p") | $(cell "$n") | $(printf %.4f "$r") | $ratio"
            echo "$out" | "$PY" -c "import json,sys; d=json.load(sys.stdin); d.update(data='$ds', model='explicit', factors=$f, p10=$p, ndcg10=$n, rmse=$r); print(json.dumps(d))" >>"$JSONL"
        fi
    done
done
echo "raw: $JSONL, table: $MD"
