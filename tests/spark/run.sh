#!/usr/bin/env bash
# Spark interop test of the topten CLI: Spark ALS (pyspark 4.0.1, local[2]) against
# `topten import-spark`, `predict`, `recommend --all`, `publish --recs` and `serve`, and (scenario
# D) the job spark/topten_als.py against `import-spark --run` and `retrain --spark-runs`.
#
#   bash tests/spark/run.sh PATH_TO_TOPTEN [--workdir DIR] [--keep] [--scenarios A,B,C,D]
#
# Checks that Java 17 or later runs (JAVA_HOME's, else the one on PATH), creates the venv
# .venv-spark at the repository root when it is missing (SPARK_VENV overrides the path) with
# exactly tests/spark/requirements.txt, then runs tests/spark/spark_check.py, which ends with
# "N passed, M failed" and exits non-zero if any check failed. Extra arguments go to
# spark_check.py. Only creating the venv downloads anything; the run takes 2 to 4 minutes on
# 2 cores (scenario D runs the job twice), its data in a temporary directory.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$HERE/../.." && pwd)"

log() { echo "$(date +%H:%M:%S) run.sh: $*" >&2; }
die() { echo "run.sh: ERROR: $*" >&2; exit 2; }

if [[ $# -lt 1 || "$1" == -h || "$1" == --help ]]; then
    sed -n '2,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    [[ $# -ge 1 ]] && exit 0 || exit 2
fi

TOPTEN="$1"
shift
[[ -f "$TOPTEN" && -x "$TOPTEN" ]] || die "not an executable file: $TOPTEN"
TOPTEN="$(cd "$(dirname "$TOPTEN")" && pwd)/$(basename "$TOPTEN")"

# Java: Spark 4 runs on Java 17 or later. PySpark starts $JAVA_HOME/bin/java, else java on PATH.
JAVA="java"
[[ -n "${JAVA_HOME:-}" ]] && JAVA="$JAVA_HOME/bin/java"
JAVA_HINT="install Java 17, e.g. 'sudo apt-get install openjdk-17-jre-headless' (Debian/Ubuntu)"
command -v "$JAVA" >/dev/null 2>&1 || die "no Java: $JAVA not found; Spark needs Java 17: $JAVA_HINT"
if ! java_version="$("$JAVA" -version 2>&1)"; then
    die "\`$JAVA -version\` does not work (${java_version:-not found}); Spark needs Java 17: $JAVA_HINT"
fi
java_release="$(printf '%s\n' "$java_version" | sed -n 's/.* version "\([^"]*\)".*/\1/p' | head -n 1)"
java_major="${java_release%%.*}"
[[ "$java_major" == 1 ]] && java_major="$(echo "$java_release" | cut -d. -f2)"  # 1.8.0 -> 8
if ! [[ "$java_major" =~ ^[0-9]+$ ]] || (( java_major < 17 )); then
    die "Spark 4.0.1 needs Java 17 or later, \`$JAVA -version\` says: $(printf '%s' "$java_version" | head -n 1); $JAVA_HINT"
fi
log "Java $java_release ($JAVA)"

# The venv: reused when it holds exactly the pinned versions, else made by scripts/pinned-venv.sh.
VENV="${SPARK_VENV:-$REPO_ROOT/.venv-spark}"
REQS="$HERE/requirements.txt"
IMPORT_CHECK='import pyspark, py4j, pyarrow, pyarrow.parquet, pandas, numpy'
venv_matches() {
    [[ -x "$VENV/bin/python" ]] || return 1
    "$VENV/bin/python" - "$REQS" "$IMPORT_CHECK" <<'PY'
import sys
from importlib import metadata

wrong = []
for line in open(sys.argv[1], encoding="utf-8"):
    line = line.split("#", 1)[0].strip()
    if not line:
        continue
    name, want = line.split("==")
    try:
        have = metadata.version(name)
    except metadata.PackageNotFoundError:
        have = "missing"
    if have != want:
        wrong.append(f"{name} {have} (pinned {want})")
if wrong:
    print("run.sh: the venv differs from the pins: " + ", ".join(wrong), file=sys.stderr)
    sys.exit(1)
exec(sys.argv[2])
PY
}
if venv_matches; then
    log "venv $VENV holds the pinned versions"
else
    [[ -e "$VENV" ]] && log "venv $VENV: not usable as it is, handing it to scripts/pinned-venv.sh" \
                     || log "venv $VENV is missing: creating it (pip install of the pins)"
    bash "$REPO_ROOT/scripts/pinned-venv.sh" "$VENV" "$REQS" "$IMPORT_CHECK"
    venv_matches || die "$VENV still differs from $REQS; delete it and run again"
fi

log "running spark_check.py with $TOPTEN"
exec "$VENV/bin/python" "$HERE/spark_check.py" --topten "$TOPTEN" "$@"
