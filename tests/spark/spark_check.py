#!/usr/bin/env python3
"""Spark interop test: `topten import-spark`, `predict`, `recommend` and `publish --recs`
against Spark ALS itself (pyspark 4.0.1, local[2]).

Usage:
    python spark_check.py --topten PATH_TO_TOPTEN [--workdir DIR] [--keep] [--scenarios A,B,C,D]
    python spark_check.py --spark-only [--workdir DIR] [--keep]

Generates its own data (numpy, fixed seed: 300 users x 200 items, about 6,000 interactions drawn
from a hidden 4-factor taste model) and, in four scenarios

    A  explicit ALS, integer ids (not contiguous: users 1000 + 7u, items 3 + 5i)
    B  implicit ALS, the same integer ids
    C  implicit ALS, string ids ("user-17", "usér-20", "item-é3") through StringIndexer
    D  the job spark/topten_als.py and `topten import-spark --run` / `retrain --spark-runs`
       (string user ids, integer item ids, ratings and times; described below)

in A, B and C trains Spark ALS in this process, saves the model (`model.write().overwrite().save`), the training rows as
Parquet with the original ids (and for C the two StringIndexerModels), and checks that

1. `topten import-spark --model M --out OUT --ratings TRAIN [--user-index --item-index]
   --feedback F` succeeds;
2. `topten predict` gives Spark's `model.transform` predictions for 500 (user, item) pairs,
   within 1e-5;
3. `topten recommend --all --k 10` gives, for every user, Spark's `recommendForAllUsers(n_items)`
   with the user's training items removed, cut to 10: the same scores within 1e-5 and, at each
   position, the same item or one whose Spark score ties with Spark's item there (within 1e-6);
4. `topten publish --recs` of `recommendForAllUsers(10).write.parquet` and `topten serve` answer
   GET /api/recommendations/{userId}?k=10 for 50 users with Spark's lists exactly (same items in
   the same order, training items included; scores within 1e-6);
5. (once) `import-spark` on a directory that is not a Spark model fails naming "metadata", on a
   model whose itemFactors hold one row of another length fails naming "itemFactors" and
   "rank", and neither leaves its --out behind.

Scenario D writes the same interactions (users "user-17"/"usér-20", items 3 + 5i, the rating,
a time) as a Parquet directory and as a CSV file, runs spark/topten_als.py as a subprocess
(local[2], rank 8, 5 iterations, --holdout 0.25, --output RUNS) on the Parquet directory in
explicit mode, and checks that

1. `topten import-spark --run RUNS/RUN_ID --out M` succeeds and prints the holdout metrics as
   JSON (ndcg_at_k, precision_at_k, recall_at_k, map_at_k, rmse), the same as model.json's;
2. `topten predict` gives, for 200 (user, item) pairs, Spark's prediction of
   `ALSModel.load(RUN/model)` (ids mapped through the saved StringIndexerModels), within 1e-5;
3. `topten retrain --spark-runs RUNS --store embedded:S --model-root MR` publishes and
   activates the run; run again, it publishes nothing ("already the active version");
4. a copy of the run under the later RUN_ID 29991231T000000Z without run.json (incomplete) is
   ignored; after a second job run (implicit, the CSV file), retrain imports that run and gates
   it: activated, `topten versions` lists 2 versions and the new one is active; rejected,
   nothing is written (1 version, the first still active) and MR holds the candidate;
5. `topten serve --store embedded:S` answers GET /api/recommendations/{userId}?k=5 for a user
   with a non-ASCII id: 200, 5 items, the active version's `topten recommend` list.

Every check is reported by name; the run ends with "N passed, M failed" and a table of the
largest differences per scenario, and exits 1 if any check failed. --spark-only runs the Spark
side alone (training, saving, expected outputs) and counts no topten check. All data lives in a
temporary directory (--workdir to choose it), removed when every check passed unless --keep.
Nothing is downloaded. Run it in the venv made by tests/spark/run.sh.
"""

import argparse
import csv
import json
import os
import shutil
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request

try:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq
    import pyspark
except ImportError as exc:  # pragma: no cover - environment problem
    sys.exit(f"spark_check: cannot import {exc.name!r}: run it in the venv of tests/spark/run.sh")

SPARK_VERSION = "4.0.1"
N_USERS, N_ITEMS, LATENT = 300, 200, 4
SEED = 42
K = 10
N_PAIRS = 500
N_SERVED_USERS = 50
PREDICT_TOL = 1e-5  # topten predict vs model.transform
RECOMMEND_TOL = 1e-5  # topten recommend --all scores vs recommendForAllUsers
TIE_TOL = 1e-6  # two Spark scores this close may come in either order
SERVE_TOL = 1e-6  # served scores vs Spark's published lists
TOPTEN_TIMEOUT_S = 300
SERVE_START_TIMEOUT_S = 60

# Scenario D: the job spark/topten_als.py, run as a subprocess with this Python (the venv's).
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
JOB = os.path.join(REPO_ROOT, "spark", "topten_als.py")
JOB_RUNS = (  # first run (Parquet, explicit), second run (CSV, implicit)
    dict(input="parquet", feedback="explicit", factors=8, iterations=5, holdout=0.25),
    dict(input="csv", feedback="implicit", factors=8, iterations=5, holdout=0.25),
)
JOB_TIMEOUT_S = 900
JOB_PAIRS = 200  # (user, item) pairs of topten predict vs the saved model's transform
JOB_SERVED_K = 5
INCOMPLETE_RUN_ID = "29991231T000000Z"  # later than any real run, and without run.json
BASE_TIME = 1_700_000_000  # event times: seconds since the epoch, from here on

SCENARIOS = {
    "A": dict(feedback="explicit", ids="int", rank=8, reg=0.05, alpha=1.0, iters=10),
    "B": dict(feedback="implicit", ids="int", rank=8, reg=0.1, alpha=1.0, iters=10),
    "C": dict(feedback="implicit", ids="string", rank=8, reg=0.1, alpha=1.0, iters=10),
}

# Settings topten reads from the environment: none may leak into the commands under test.
ENV_PREFIXES = ("TOPTEN_", "RETRAIN_", "QUALITY_", "TRAINING_", "AZURE_", "COSMOS_")
ENV_NAMES = ("PORT", "ITEMS_PER_USER", "FUNCTIONS_CUSTOMHANDLER_PORT")


def log(msg):
    print(f"{time.strftime('%H:%M:%S')} spark_check: {msg}", flush=True)


# --------------------------------------------------------------------------------------------
# bookkeeping


class Failed(Exception):
    """A check's failure, with the message to report."""


def require(cond, msg):
    if not cond:
        raise Failed(msg)


class Runner:
    """Runs named checks, reports each one, keeps the figures for the final table."""

    def __init__(self):
        self.passed, self.failed = [], []
        self.figures = {}  # scenario -> {figure name: value}

    def check(self, name, fn, *args):
        """Runs fn(*args); it returns a detail string (pass) or raises (fail). Returns ok."""
        t0 = time.time()
        try:
            detail = fn(*args)
        except Failed as e:
            self.failed.append(name)
            print(f"FAIL {name}: {e}", flush=True)
            return False
        except Exception as e:  # a bug or an environment problem: report it as a failure
            self.failed.append(name)
            print(f"FAIL {name}: {type(e).__name__}: {e}", flush=True)
            traceback.print_exc(file=sys.stdout)
            return False
        self.passed.append(name)
        took = time.time() - t0
        print(f"PASS {name}" + (f": {detail}" if detail else "") + f" ({took:.2f} s)", flush=True)
        return True

    def fail(self, name, msg):
        self.failed.append(name)
        print(f"FAIL {name}: {msg}", flush=True)

    def figure(self, scenario, key, value):
        self.figures.setdefault(scenario, {})[key] = value


def excerpt(text, limit=1500):
    text = text.strip()
    return text if len(text) <= limit else text[:limit] + f" ... ({len(text)} chars)"


def topten_env():
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(ENV_PREFIXES) and k not in ENV_NAMES}
    env["TOPTEN_LOG"] = "warn"
    env["NO_COLOR"] = "1"
    return env


def run_topten(topten, args, timeout=TOPTEN_TIMEOUT_S):
    cmd = [topten] + [str(a) for a in args]
    log("$ " + " ".join(cmd))
    t0 = time.time()
    try:
        p = subprocess.run(cmd, capture_output=True, env=topten_env(), timeout=timeout)
    except subprocess.TimeoutExpired:
        raise Failed(f"timed out after {timeout} s: {' '.join(cmd)}")
    out = p.stdout.decode("utf-8", "replace")
    err = p.stderr.decode("utf-8", "replace")
    log(f"  exit {p.returncode} in {time.time() - t0:.2f} s, {len(out.splitlines())} stdout lines")
    return p.returncode, out, err


def run_ok(topten, args, timeout=TOPTEN_TIMEOUT_S):
    rc, out, err = run_topten(topten, args, timeout)
    require(rc == 0, f"exit status {rc} from `topten {' '.join(map(str, args))}`\n"
                     f"stderr: {excerpt(err)}\nstdout: {excerpt(out, 500)}")
    return out


def parse_tsv3(text, what):
    """`a<TAB>b<TAB>number` lines -> [(a, b, float)], in order."""
    rows = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        f = line.split("\t")
        require(len(f) == 3, f"{what} line {n} has {len(f)} fields, not 3: {line!r}")
        try:
            rows.append((f[0], f[1], float(f[2])))
        except ValueError:
            raise Failed(f"{what} line {n}: {f[2]!r} is not a number: {line!r}")
    return rows


# --------------------------------------------------------------------------------------------
# data


def generate_interactions(seed=SEED):
    """[(u, i, rating)] over u < N_USERS, i < N_ITEMS from a hidden taste model.

    Each user takes 8 + Poisson(12) distinct items, drawn with probability proportional to the
    item's popularity times exp(affinity); the rating is 1..5, rounded from the affinity plus
    noise. The same rows serve as explicit ratings (A) and as interaction strengths (B, C).
    """
    rng = np.random.default_rng(seed)
    users = rng.normal(size=(N_USERS, LATENT))
    items = rng.normal(size=(N_ITEMS, LATENT))
    popularity = 1.0 / np.arange(1, N_ITEMS + 1) ** 0.6
    popularity = popularity[rng.permutation(N_ITEMS)]
    rows = []
    for u in range(N_USERS):
        affinity = items @ users[u] / np.sqrt(LATENT)
        p = popularity * np.exp(1.5 * affinity)
        p /= p.sum()
        n = min(8 + rng.poisson(12), N_ITEMS // 2)
        chosen = rng.choice(N_ITEMS, size=n, replace=False, p=p)
        for i in chosen:
            r = 3.0 + 1.2 * affinity[i] + rng.normal(scale=0.5)
            rows.append((u, int(i), float(min(5, max(1, round(r))))))
    return rows


def int_user(u):
    return 1000 + 7 * u


def int_item(i):
    return 3 + 5 * i


def str_user(u):
    return f"usér-{u}" if u % 5 == 0 else f"user-{u}"


def str_item(i):
    return f"item-é{i}"


# --------------------------------------------------------------------------------------------
# the Spark side


def start_spark(workdir):
    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # local[2]: bind nothing but loopback
    local = os.path.join(workdir, "spark-local")
    os.makedirs(local, exist_ok=True)
    log(f"starting Spark {pyspark.__version__} local[2]")
    t0 = time.time()
    spark = (
        SparkSession.builder.master("local[2]").appName("topten-spark-check")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.default.parallelism", "2")
        .config("spark.driver.memory", "1g")
        .config("spark.local.dir", local)
        .config("spark.sql.warehouse.dir", os.path.join(workdir, "spark-warehouse"))
        .config("spark.driver.extraJavaOptions", f"-Djava.io.tmpdir={local}")
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    log(f"Spark {spark.version} up in {time.time() - t0:.1f} s")
    if spark.version != SPARK_VERSION:
        log(f"WARNING: Spark {spark.version}, the formats checked are those of {SPARK_VERSION}")
    return spark


class Expected:
    """What Spark computed for one scenario, in original ids."""

    def __init__(self):
        self.paths = {}
        self.n_users = self.n_items = 0
        self.pairs = []  # [(user, item)] original ids
        self.predictions = {}  # (user, item) -> Spark's transform prediction
        self.seen = {}  # user -> set of training items
        self.all_scores = {}  # user -> {item: Spark score} (recommendForAllUsers(n_items))
        self.top = {}  # user -> [(item, score)] best first, training items removed, cut to K
        self.published = {}  # user -> [(item, score)] as written to recs/ (K, training items kept)


def spark_side(spark, name, cfg, rows, workdir):
    """Trains, saves and computes the expected outputs of one scenario."""
    from pyspark.ml.feature import StringIndexer
    from pyspark.ml.recommendation import ALS
    from pyspark.sql import functions as F
    from pyspark.sql.types import (DoubleType, IntegerType, LongType, StringType, StructField,
                                   StructType)

    d = os.path.join(workdir, name)
    os.makedirs(d, exist_ok=True)
    exp = Expected()
    exp.paths = {k: os.path.join(d, k) for k in
                 ("als", "train", "user_index", "item_index", "recs", "pairs.tsv")}
    t0 = time.time()

    if cfg["ids"] == "int":
        schema = StructType([StructField("user", LongType(), True),
                             StructField("item", LongType(), True),
                             StructField("rating", DoubleType(), True)])
        raw = spark.createDataFrame([(int_user(u), int_item(i), r) for u, i, r in rows], schema)
        frame = raw.select(F.col("user").cast("int").alias("user"),
                           F.col("item").cast("int").alias("item"), "rating")
        user_label = item_label = None  # Spark's int id is the id
    else:
        schema = StructType([StructField("customer", StringType(), True),
                             StructField("sku", StringType(), True),
                             StructField("rating", DoubleType(), True)])
        raw = spark.createDataFrame([(str_user(u), str_item(i), r) for u, i, r in rows], schema)
        # As spark/topten_als.py does: inputCol the source column, outputCol the ALS column.
        uidx = StringIndexer(inputCol="customer", outputCol="user", stringOrderType="frequencyDesc",
                             handleInvalid="error").fit(raw)
        iidx = StringIndexer(inputCol="sku", outputCol="item", stringOrderType="frequencyDesc",
                             handleInvalid="error").fit(raw)
        frame = (iidx.transform(uidx.transform(raw))
                 .select(F.col("user").cast("int").alias("user"),
                         F.col("item").cast("int").alias("item"), "rating"))
        uidx.write().overwrite().save(exp.paths["user_index"])
        iidx.write().overwrite().save(exp.paths["item_index"])
        user_label, item_label = list(uidx.labelsArray[0]), list(iidx.labelsArray[0])
        log(f"[{name}] StringIndexerModels saved: {len(user_label)} users, {len(item_label)} items")
        raw = raw.select(F.col("customer").alias("user"), F.col("sku").alias("item"), "rating")

    def uid(x):
        return str(x) if user_label is None else user_label[x]

    def iid(x):
        return str(x) if item_label is None else item_label[x]

    frame = frame.cache()
    als = ALS(userCol="user", itemCol="item", ratingCol="rating",
              implicitPrefs=cfg["feedback"] == "implicit", rank=cfg["rank"], regParam=cfg["reg"],
              alpha=cfg["alpha"], maxIter=cfg["iters"], seed=SEED, coldStartStrategy="drop")
    model = als.fit(frame)
    model.write().overwrite().save(exp.paths["als"])
    raw.write.mode("overwrite").parquet(exp.paths["train"])
    user_ids = sorted(r[0] for r in model.userFactors.select("id").collect())
    item_ids = sorted(r[0] for r in model.itemFactors.select("id").collect())
    exp.n_users, exp.n_items = len(user_ids), len(item_ids)
    log(f"[{name}] ALS {cfg['feedback']} rank {cfg['rank']} trained and saved: "
        f"{exp.n_users} users, {exp.n_items} items, {len(rows)} rows ({time.time() - t0:.1f} s)")

    for u, i, _ in frame.select("user", "item", "rating").collect():
        exp.seen.setdefault(uid(u), set()).add(iid(i))

    # 1. predictions for N_PAIRS distinct pairs of ids that have factors
    rng = np.random.default_rng(SEED + ord(name))
    chosen = set()
    while len(chosen) < N_PAIRS:
        chosen.add((int(user_ids[rng.integers(len(user_ids))]),
                    int(item_ids[rng.integers(len(item_ids))])))
    chosen = sorted(chosen)
    pairs_df = spark.createDataFrame(chosen, StructType([StructField("user", IntegerType(), False),
                                                         StructField("item", IntegerType(), False)]))
    for u, i, p in model.transform(pairs_df).select("user", "item", "prediction").collect():
        exp.predictions[(uid(u), iid(i))] = float(p)
    exp.pairs = [(uid(u), iid(i)) for u, i in chosen]
    require(len(exp.predictions) == N_PAIRS,
            f"Spark predicted {len(exp.predictions)} of {N_PAIRS} pairs")
    with open(exp.paths["pairs.tsv"], "w", encoding="utf-8") as f:
        f.write("user\titem\n")
        for u, i in exp.pairs:
            f.write(f"{u}\t{i}\n")

    # 2. every item for every user, then training items removed, cut to K
    for row in model.recommendForAllUsers(exp.n_items).collect():
        u = uid(row["user"])
        recs = [(iid(r["item"]), float(r["rating"])) for r in row["recommendations"]]
        require(len(recs) == exp.n_items, f"recommendForAllUsers({exp.n_items}) gave {len(recs)} "
                                          f"items for user {u}")
        exp.all_scores[u] = dict(recs)
        seen = exp.seen.get(u, set())
        exp.top[u] = [(i, s) for i, s in recs if i not in seen][:K]

    # 3. Spark's own lists, as published: read back exactly what was written
    model.recommendForAllUsers(K).write.mode("overwrite").parquet(exp.paths["recs"])
    recs = pq.read_table(exp.paths["recs"]).to_pylist()
    for row in recs:
        exp.published[uid(row["user"])] = [(iid(r["item"]), float(r["rating"]))
                                           for r in row["recommendations"]]
    require(len(exp.published) == exp.n_users,
            f"recs/ holds {len(exp.published)} users, the model {exp.n_users}")
    frame.unpersist()
    log(f"[{name}] expected outputs ready: {len(exp.pairs)} pairs, {len(exp.top)} users' lists, "
        f"recs/ with {len(exp.published)} users ({time.time() - t0:.1f} s)")
    return exp


def make_bad_rank_model(src, dst):
    """A copy of the model at src whose itemFactors are one Parquet file in which the first
    row's features lost their last value (rank - 1 floats). Returns (item id, rank)."""
    shutil.copytree(src, dst)
    fdir = os.path.join(dst, "itemFactors")
    table = pq.read_table(fdir)  # skips _SUCCESS and .crc files
    schema = table.schema
    ids = table.column("id").to_pylist()
    feats = table.column("features").to_pylist()
    rank = len(feats[0])
    feats[0] = feats[0][:-1]
    bad = pa.Table.from_arrays(
        [pa.array(ids, type=schema.field("id").type),
         pa.array(feats, type=schema.field("features").type)], schema=schema)
    for f in os.listdir(fdir):
        if f.endswith(".parquet") or f.endswith(".parquet.crc"):
            os.remove(os.path.join(fdir, f))
    pq.write_table(bad, os.path.join(fdir, "part-00000-badrank-c000.snappy.parquet"),
                   compression="snappy")
    back = pq.read_table(fdir)
    lengths = sorted({len(x) for x in back.column("features").to_pylist()})
    assert lengths == [rank - 1, rank], lengths
    return ids[0], rank


# --------------------------------------------------------------------------------------------
# the topten side


def check_import(topten, exp, cfg, out_dir):
    args = ["import-spark", "--model", exp.paths["als"], "--out", out_dir,
            "--ratings", exp.paths["train"]]
    if cfg["ids"] == "string":
        args += ["--user-index", exp.paths["user_index"], "--item-index", exp.paths["item_index"]]
    args += ["--feedback", cfg["feedback"]]
    run_ok(topten, args)
    require(os.path.isdir(out_dir), f"import-spark exited 0 but {out_dir} is not a directory")
    return f"{out_dir} written ({', '.join(sorted(os.listdir(out_dir)))})"


def check_predict(topten, exp, model_dir, runner, name):
    out = run_ok(topten, ["predict", "--model", model_dir, "--pairs", exp.paths["pairs.tsv"]])
    got = {}
    for u, i, p in parse_tsv3(out, "predict"):
        require((u, i) not in got, f"predict printed ({u}, {i}) twice")
        got[(u, i)] = p
    missing = [k for k in exp.predictions if k not in got]
    extra = [k for k in got if k not in exp.predictions]
    require(not missing, f"{len(missing)} of {len(exp.predictions)} pairs missing from predict, "
                         f"e.g. {missing[:3]}")
    require(not extra, f"predict printed {len(extra)} pairs not asked for, e.g. {extra[:3]}")
    diffs = sorted(((abs(got[k] - v), k) for k, v in exp.predictions.items()), reverse=True)
    worst, key = diffs[0]
    runner.figure(name, "predict max |diff|", worst)
    require(worst <= PREDICT_TOL,
            f"max |topten - Spark| = {worst:.3g} > {PREDICT_TOL:g} at {key}: topten {got[key]!r}, "
            f"Spark {exp.predictions[key]!r}; {sum(d > PREDICT_TOL for d, _ in diffs)} pairs beyond")
    return f"{len(exp.predictions)} pairs, max |topten - Spark| = {worst:.3g}"


def check_recommend(topten, exp, model_dir, runner, name):
    out = run_ok(topten, ["recommend", "--model", model_dir, "--all", "--k", K])
    lists = {}
    order = []
    for u, i, s in parse_tsv3(out, "recommend"):
        if u not in lists:
            order.append(u)
        elif order[-1] != u:
            raise Failed(f"recommend: the lines of user {u} are not contiguous")
        lists.setdefault(u, []).append((i, s))
    missing = sorted(set(exp.top) - set(lists))
    extra = sorted(set(lists) - set(exp.top))
    require(not missing, f"{len(missing)} of {len(exp.top)} users missing, e.g. {missing[:3]}")
    require(not extra, f"{len(extra)} users Spark does not have, e.g. {extra[:3]}")
    worst, ties, problems = 0.0, 0, []
    for u, want in exp.top.items():
        got = lists[u]
        if len(got) != len(want):
            problems.append(f"user {u}: {len(got)} items, Spark {len(want)}")
            continue
        if len({i for i, _ in got}) != len(got):
            problems.append(f"user {u}: an item twice: {[i for i, _ in got]}")
            continue
        scores = exp.all_scores[u]
        for p, ((gi, gs), (wi, ws)) in enumerate(zip(got, want), 1):
            worst = max(worst, abs(gs - ws))
            if abs(gs - ws) > RECOMMEND_TOL:
                problems.append(f"user {u} #{p}: score {gs!r}, Spark {ws!r} "
                                f"(|diff| {abs(gs - ws):.3g}); items {gi} / {wi}")
            if gi == wi:
                continue
            if gi in exp.seen.get(u, ()):
                problems.append(f"user {u} #{p}: {gi} is a training item")
            elif gi not in scores:
                problems.append(f"user {u} #{p}: {gi} is not an item of the model")
            elif abs(scores[gi] - ws) <= TIE_TOL:
                ties += 1
            else:
                problems.append(f"user {u} #{p}: item {gi} (Spark score {scores[gi]!r}), Spark has "
                                f"{wi} ({ws!r}); not a tie")
    runner.figure(name, "recommend max |diff|", worst)
    runner.figure(name, "recommend tie swaps", ties)
    require(not problems, f"{len(problems)} mismatches (max score |diff| {worst:.3g}):\n  "
                          + "\n  ".join(problems[:15]))
    return (f"{len(exp.top)} users x {K}: same lists, max score |diff| {worst:.3g}, "
            f"{ties} positions with tied items in another order")


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url, timeout=10):
    """(status, body bytes); HTTP errors are answers too."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


class Server:
    def __init__(self, topten, store, workdir):
        self.port = free_port()
        self.log_path = os.path.join(workdir, f"serve-{self.port}.log")
        self.log_file = open(self.log_path, "wb")
        cmd = [topten, "serve", "--store", store, "--port", str(self.port)]
        log("$ " + " ".join(cmd) + " &")
        env = topten_env()
        env["TOPTEN_LOG"] = "info"
        self.proc = subprocess.Popen(cmd, stdout=self.log_file, stderr=subprocess.STDOUT, env=env,
                                     start_new_session=True)
        self.base = f"http://127.0.0.1:{self.port}"

    def output(self):
        self.log_file.flush()
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def wait_ready(self):
        t0 = time.time()
        while time.time() - t0 < SERVE_START_TIMEOUT_S:
            if self.proc.poll() is not None:
                raise Failed(f"topten serve exited with status {self.proc.returncode} before "
                             f"answering:\n{excerpt(self.output())}")
            try:
                status, _ = http_get(self.base + "/api/health", timeout=2)
                log(f"  serve answers on port {self.port} after {time.time() - t0:.1f} s "
                    f"(health {status})")
                return
            except (urllib.error.URLError, ConnectionError, socket.timeout, OSError):
                time.sleep(0.2)
        raise Failed(f"topten serve did not answer within {SERVE_START_TIMEOUT_S} s:\n"
                     f"{excerpt(self.output())}")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.log_file.close()


def check_publish_serve(topten, exp, cfg, workdir, runner, name):
    store = "embedded:" + os.path.join(workdir, name, "store.db")
    args = ["publish", "--recs", exp.paths["recs"], "--store", store]
    if cfg["ids"] == "string":
        args += ["--user-index", exp.paths["user_index"], "--item-index", exp.paths["item_index"]]
    out = run_ok(topten, args)
    log(f"  publish printed: {excerpt(out, 200)}")
    rng = np.random.default_rng(SEED + 100 + ord(name))
    users = sorted(exp.published)
    sample = [users[j] for j in sorted(rng.choice(len(users), size=N_SERVED_USERS, replace=False))]
    server = Server(topten, store, workdir)
    worst, problems = 0.0, []
    try:
        server.wait_ready()
        for u in sample:
            url = f"{server.base}/api/recommendations/{urllib.parse.quote(u, safe='')}?k={K}"
            status, body = http_get(url)
            if status != 200:
                problems.append(f"GET {url}: status {status}: {excerpt(body.decode('utf-8', 'replace'), 300)}")
                continue
            doc = json.loads(body)
            if doc.get("userId") != u:
                problems.append(f"user {u}: userId {doc.get('userId')!r}")
            if doc.get("source") != "personalized":
                problems.append(f"user {u}: source {doc.get('source')!r}")
            got = [(x.get("itemId"), x.get("score")) for x in doc.get("items", [])]
            want = exp.published[u]
            if [i for i, _ in got] != [i for i, _ in want]:
                problems.append(f"user {u}: items {[i for i, _ in got]}, Spark {[i for i, _ in want]}")
                continue
            for (gi, gs), (_, ws) in zip(got, want):
                if not isinstance(gs, (int, float)):
                    problems.append(f"user {u} item {gi}: score {gs!r}")
                    continue
                worst = max(worst, abs(gs - ws))
                if abs(gs - ws) > SERVE_TOL:
                    problems.append(f"user {u} item {gi}: score {gs!r}, Spark {ws!r}")
    finally:
        server.stop()
    runner.figure(name, "served max |diff|", worst)
    require(not problems, f"{len(problems)} problems in {N_SERVED_USERS} users "
                          f"(max score |diff| {worst:.3g}):\n  " + "\n  ".join(problems[:15]))
    wide = sum(not u.isascii() for u in sample)
    return (f"{N_SERVED_USERS} users ({wide} with non-ASCII ids) served Spark's lists exactly "
            f"(ids and order), max score |diff| {worst:.3g}")


def check_not_a_model(topten, exp, workdir):
    out_dir = os.path.join(workdir, "bad", "not-a-model")
    rc, out, err = run_topten(topten, ["import-spark", "--model", exp.paths["train"],
                                       "--out", out_dir])
    text = out + err
    require(rc != 0, f"exit status 0 on a directory that is not a Spark model; stdout: {excerpt(out, 300)}")
    require(rc > 0, f"killed by signal {-rc}: {excerpt(text)}")
    require("panicked" not in text, f"panicked: {excerpt(text)}")
    require("metadata" in text.lower(), f"the message does not mention metadata: {excerpt(text)}")
    require(not os.path.exists(out_dir), f"{out_dir} exists after the failure")
    return f"exit {rc}: {excerpt(err, 300)}"


def check_bad_rank(topten, exp, cfg, workdir):
    bad = os.path.join(workdir, "bad", "rank-model")
    item, rank = make_bad_rank_model(exp.paths["als"], bad)
    log(f"  {bad}: itemFactors row of item {item} cut to {rank - 1} of {rank} floats")
    out_dir = os.path.join(workdir, "bad", "rank-out")
    rc, out, err = run_topten(topten, ["import-spark", "--model", bad, "--out", out_dir,
                                       "--feedback", cfg["feedback"]])
    text = out + err
    require(rc != 0, f"exit status 0 on itemFactors with a row of {rank - 1} floats (rank {rank}); "
                     f"stdout: {excerpt(out, 300)}")
    require(rc > 0, f"killed by signal {-rc}: {excerpt(text)}")
    require("panicked" not in text, f"panicked: {excerpt(text)}")
    require("itemFactors" in text and "rank" in text,
            f"the message does not name both \"itemFactors\" and \"rank\": {excerpt(text)}")
    require(not os.path.exists(out_dir), f"{out_dir} exists after the failure")
    return f"exit {rc}: {excerpt(err, 300)}"


# --------------------------------------------------------------------------------------------
# scenario D: the job spark/topten_als.py, `import-spark --run` and `retrain --spark-runs`


class JobState:
    """What scenario D's steps hand on to the next ones."""

    def __init__(self, workdir):
        self.dir = os.path.join(workdir, "D")
        self.runs = os.path.join(self.dir, "runs")
        self.store = "embedded:" + os.path.join(self.dir, "store.db")
        self.model_root = os.path.join(self.dir, "models")
        self.model_dir = os.path.join(self.dir, "model")
        self.local = os.path.join(workdir, "spark-local")
        self.inputs = {}  # "parquet" / "csv" -> path
        self.run_ids = []  # the complete runs the job wrote, in order
        self.docs = {}  # run id -> run.json
        self.exp = None  # Expected: Spark's predictions of the first run's saved model
        self.import_metrics = None
        self.first_version = None
        self.second_outcome = None

    def run_dir(self, run_id):
        return os.path.join(self.runs, run_id)


def write_job_inputs(rows, st):
    """The interactions with string user ids, integer item ids, the rating and an event time,
    as a Parquet directory of two part files (time a UTC timestamp) and as a CSV file (time in
    seconds since the epoch)."""
    os.makedirs(st.dir, exist_ok=True)
    rng = np.random.default_rng(SEED + 7)
    times = BASE_TIME + rng.integers(0, 90 * 86400, size=len(rows))
    users = [str_user(u) for u, _, _ in rows]
    items = [int_item(i) for _, i, _ in rows]
    ratings = [r for _, _, r in rows]
    table = pa.table({
        "customer": pa.array(users, pa.string()),
        "sku": pa.array(items, pa.int64()),
        "score": pa.array(ratings, pa.float64()),
        "ts": pa.array((times * 1_000_000).tolist(), pa.int64()).cast(pa.timestamp("us", tz="UTC")),
    })
    pdir = os.path.join(st.dir, "input", "events.parquet")
    os.makedirs(pdir, exist_ok=True)
    half = len(rows) // 2
    pq.write_table(table.slice(0, half), os.path.join(pdir, "part-00000.snappy.parquet"))
    pq.write_table(table.slice(half), os.path.join(pdir, "part-00001.snappy.parquet"))
    cpath = os.path.join(st.dir, "input", "events.csv")
    with open(cpath, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["customer", "sku", "score", "ts"])
        for u, i, r, t in zip(users, items, ratings, times.tolist()):
            w.writerow([u, i, r, t])
    st.inputs = {"parquet": pdir, "csv": cpath}
    log(f"[D] inputs: {pdir} (2 part files), {cpath}; {len(rows)} rows")


def run_job(st, n):
    """Runs spark/topten_als.py for JOB_RUNS[n]; returns the detail of the new complete run."""
    cfg = JOB_RUNS[n]
    os.makedirs(st.runs, exist_ok=True)
    os.makedirs(st.local, exist_ok=True)
    before = set(os.listdir(st.runs))
    cmd = [sys.executable, JOB, "--master", "local[2]", "--input", st.inputs[cfg["input"]],
           "--user-col", "customer", "--item-col", "sku", "--rating-col", "score",
           "--time-col", "ts", "--feedback", cfg["feedback"], "--factors", str(cfg["factors"]),
           "--iterations", str(cfg["iterations"]), "--holdout", str(cfg["holdout"]),
           "--output", st.runs]
    env = dict(os.environ)
    env.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    env["PYSPARK_PYTHON"] = env["PYSPARK_DRIVER_PYTHON"] = sys.executable
    # Spark's scratch files in the work directory, as for the in-process session.
    env["PYSPARK_SUBMIT_ARGS"] = (
        f"--conf {shlex.quote('spark.local.dir=' + st.local)} "
        f"--driver-java-options {shlex.quote('-Djava.io.tmpdir=' + st.local)} pyspark-shell")
    log_path = os.path.join(st.dir, f"job-{n + 1}.log")
    log("$ " + " ".join(shlex.quote(c) for c in cmd) + f" > {log_path} 2>&1")
    t0 = time.time()
    with open(log_path, "wb") as lf:
        try:
            p = subprocess.run(cmd, stdout=lf, stderr=subprocess.STDOUT, env=env,
                               timeout=JOB_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise Failed(f"the job did not finish within {JOB_TIMEOUT_S} s; log {log_path}")
    took = time.time() - t0
    with open(log_path, "rb") as lf:
        text = lf.read().decode("utf-8", "replace")
    lines = [l for l in text.splitlines() if "topten_als" in l]
    require(p.returncode == 0, f"the job exited with status {p.returncode} after {took:.0f} s:\n"
                               + excerpt("\n".join(text.splitlines()[-25:])))
    new = sorted(set(os.listdir(st.runs)) - before)
    require(len(new) == 1, f"the job made {len(new)} directories under {st.runs}: {new}")
    run_id = new[0]
    path = os.path.join(st.run_dir(run_id), "run.json")
    require(os.path.isfile(path), f"the job exited 0 but {path} does not exist")
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    require(doc.get("format") == "topten-spark-run/1" and doc.get("run_id") == run_id,
            f"run.json: format {doc.get('format')!r}, run_id {doc.get('run_id')!r} (dir {run_id})")
    require(doc.get("params", {}).get("feedback") == cfg["feedback"],
            f"run.json params {doc.get('params')}, asked for {cfg['feedback']}")
    require(doc.get("input", {}).get("format") == cfg["input"],
            f"run.json input {doc.get('input')}, asked for {cfg['input']}")
    require(doc.get("user_index") is True, "run.json: user_index is not true for string user ids")
    require(doc.get("metrics", {}).get("ndcg_at_k") is not None,
            f"run.json metrics without ndcg_at_k: {doc.get('metrics')}")
    for sub in ("model", "train", "test", "user_index"):
        require(os.path.isdir(os.path.join(st.run_dir(run_id), sub)), f"{run_id}/{sub}/ is missing")
    st.run_ids.append(run_id)
    st.docs[run_id] = doc
    c, m = doc["counts"], doc["metrics"]
    log(f"[D] job run {n + 1}: {lines[-1] if lines else ''}")
    shown = {k: m.get(k) for k in ("rmse", "precision_at_k", "ndcg_at_k") if m.get(k) is not None}
    return (f"run {run_id} in {took:.0f} s: {cfg['feedback']}, {cfg['input']} input, "
            f"{c['users']} users x {c['items']} items, train {c['train_rows']} / test "
            f"{c['test_rows']} rows, item_index {doc.get('item_index')}; Spark's metrics "
            + ", ".join(f"{k} {v:.4f}" for k, v in shown.items()))


def job_predictions(spark, st):
    """Spark's predictions of the first run's saved model for JOB_PAIRS pairs of ids that have
    factors, the ids mapped through the saved StringIndexerModels."""
    from pyspark.ml.feature import StringIndexerModel
    from pyspark.ml.recommendation import ALSModel
    from pyspark.sql.types import IntegerType, StructField, StructType

    run_id = st.run_ids[0]
    run_dir, doc = st.run_dir(run_id), st.docs[run_id]
    model = ALSModel.load(os.path.join(run_dir, "model"))
    labels = {}
    for side in ("user", "item"):
        if doc.get(f"{side}_index"):
            labels[side] = list(StringIndexerModel.load(
                os.path.join(run_dir, f"{side}_index")).labelsArray[0])

    def uid(x):
        return labels["user"][x] if "user" in labels else str(x)

    def iid(x):
        return labels["item"][x] if "item" in labels else str(x)

    user_ids = sorted(r[0] for r in model.userFactors.select("id").collect())
    item_ids = sorted(r[0] for r in model.itemFactors.select("id").collect())
    rng = np.random.default_rng(SEED + ord("D"))
    chosen = set()
    while len(chosen) < JOB_PAIRS:
        chosen.add((int(user_ids[rng.integers(len(user_ids))]),
                    int(item_ids[rng.integers(len(item_ids))])))
    chosen = sorted(chosen)
    pairs_df = spark.createDataFrame(chosen, StructType([StructField("user", IntegerType(), False),
                                                         StructField("item", IntegerType(), False)]))
    exp = Expected()
    exp.paths = {"pairs.tsv": os.path.join(st.dir, "pairs.tsv")}
    for u, i, p in model.transform(pairs_df).select("user", "item", "prediction").collect():
        exp.predictions[(uid(u), iid(i))] = float(p)
    exp.pairs = [(uid(u), iid(i)) for u, i in chosen]
    require(len(exp.predictions) == JOB_PAIRS,
            f"Spark predicted {len(exp.predictions)} of {JOB_PAIRS} pairs")
    with open(exp.paths["pairs.tsv"], "w", encoding="utf-8") as f:
        f.write("user\titem\n")
        for u, i in exp.pairs:
            f.write(f"{u}\t{i}\n")
    exp.n_users, exp.n_items = len(user_ids), len(item_ids)
    st.exp = exp
    wide = sum(not u.isascii() for u, _ in exp.pairs)
    return (f"ALSModel.load({run_id}/model) + StringIndexerModels ({', '.join(labels) or 'none'}): "
            f"{JOB_PAIRS} pairs ({wide} with non-ASCII user ids), predictions "
            f"{min(exp.predictions.values()):.3f}..{max(exp.predictions.values()):.3f}")


METRIC_KEYS = ("ndcg_at_k", "precision_at_k", "recall_at_k", "map_at_k")


def check_job_import(topten, st, runner):
    run_id = st.run_ids[0]
    doc = st.docs[run_id]
    out = run_ok(topten, ["import-spark", "--run", st.run_dir(run_id), "--out", st.model_dir])
    try:
        metrics = json.loads(out)
    except ValueError as e:
        raise Failed(f"stdout is not one JSON document ({e}): {excerpt(out, 500)}")
    require(isinstance(metrics, dict), f"stdout is not a JSON object: {excerpt(out, 300)}")
    bad = [k for k in METRIC_KEYS if not (isinstance(metrics.get(k), (int, float))
                                          and 0.0 <= metrics[k] <= 1.0)]
    require(not bad, f"metrics without a number in [0, 1] for {bad}: {excerpt(out, 500)}")
    require(isinstance(metrics.get("rmse"), (int, float)) and metrics["rmse"] > 0,
            f"explicit run, but no positive rmse in the metrics: {metrics.get('rmse')!r}")
    path = os.path.join(st.model_dir, "model.json")
    require(os.path.isfile(path), f"{path} is missing")
    with open(path, encoding="utf-8") as f:
        meta = json.load(f)
    saved = meta.get("metrics") or {}
    differ = [k for k in METRIC_KEYS + ("rmse",) if saved.get(k) != metrics[k]]
    require(not differ, f"model.json metrics differ from stdout's for {differ}: "
                        f"{ {k: (saved.get(k), metrics[k]) for k in differ} }")
    c = doc["counts"]
    require((meta.get("users"), meta.get("items")) == (c["users"], c["items"]),
            f"model.json users/items {meta.get('users')}/{meta.get('items')}, run.json counts "
            f"{c['users']}/{c['items']}")
    params = meta.get("params") or {}
    require(params.get("feedback") == doc["params"]["feedback"]
            and params.get("factors") == doc["params"]["factors"],
            f"model.json params {params}, run.json params {doc['params']}")
    st.import_metrics = metrics
    spark_ndcg = doc["metrics"]["ndcg_at_k"]
    runner.figure("D", "ndcg_at_k topten / Spark", (metrics["ndcg_at_k"], spark_ndcg))
    return (f"metrics on test/ ({metrics.get('users')} users, {metrics.get('pairs')} pairs): "
            + ", ".join(f"{k} {metrics[k]:.4f}" for k in METRIC_KEYS + ("rmse",))
            + f"; Spark's run.json ndcg_at_k {spark_ndcg:.4f}")


def retrain(topten, st, create=False):
    # --create for the first one: docs/guide.md says only publish creates a missing store.
    out = run_ok(topten, ["retrain", "--spark-runs", st.runs, "--store", st.store,
                          "--model-root", st.model_root] + (["--create"] if create else []))
    try:
        doc = json.loads(out)
    except ValueError as e:
        raise Failed(f"retrain's stdout is not one JSON document ({e}): {excerpt(out, 500)}")
    missing = [k for k in ("activated", "reason", "candidateVersion") if k not in doc]
    require(not missing, f"the outcome lacks {missing}: {excerpt(out, 500)}")
    log(f"  outcome: activated {doc['activated']}, candidate {doc.get('candidateVersion')}, "
        f"reason {doc['reason']!r}")
    return doc


def store_versions(topten, st):
    """(active version or None, {version: its document}) from `topten versions --json`."""
    doc = json.loads(run_ok(topten, ["versions", "--store", st.store, "--json"]))
    active = (doc.get("active") or {}).get("version")
    return active, {v["version"]: v for v in doc.get("versions", [])}


def version_source(v):
    return str((v.get("model") or {}).get("source"))


def check_retrain_first(topten, st, runner):
    out = retrain(topten, st, create=True)
    require(out["activated"] is True, f"not activated: {out}")
    active, versions = store_versions(topten, st)
    require(list(versions) == [out["candidateVersion"]] and active == out["candidateVersion"],
            f"versions {list(versions)}, active {active}; the outcome's candidate "
            f"{out['candidateVersion']}")
    src = version_source(versions[active])
    require(st.run_ids[0] in src, f"the version's source {src!r} does not name run {st.run_ids[0]}")
    st.first_version = active
    return f"{active} activated ({out['reason']}), source {src}"


def check_retrain_again(topten, st, runner, what):
    out = retrain(topten, st)
    require(out["activated"] is False, f"activated again ({what}): {out}")
    require("already the active version" in out["reason"],
            f"the reason does not say \"already the active version\": {out['reason']!r}")
    require(st.run_ids[-1] in out["reason"] and INCOMPLETE_RUN_ID not in out["reason"],
            f"the reason does not name run {st.run_ids[-1]} alone: {out['reason']!r}")
    active, versions = store_versions(topten, st)
    require(list(versions) == [st.first_version] and active == st.first_version,
            f"versions {list(versions)}, active {active}; expected only {st.first_version}")
    return f"nothing published: {out['reason']}"


def check_incomplete_ignored(topten, st, runner):
    src = st.run_dir(st.run_ids[0])
    dst = st.run_dir(INCOMPLETE_RUN_ID)
    shutil.copytree(src, dst)
    os.remove(os.path.join(dst, "run.json"))
    log(f"  {dst}: a copy of run {st.run_ids[0]} without run.json")
    return check_retrain_again(topten, st, runner, "an incomplete later run")


def check_retrain_newer(topten, st, runner):
    first, second = st.run_ids
    require(first < second < INCOMPLETE_RUN_ID, f"run ids out of order: {first}, {second}")
    out = retrain(topten, st)
    st.second_outcome = out
    require("already the active version" not in out["reason"],
            f"the newer complete run {second} was not taken: {out['reason']!r}")
    cand = out["candidateVersion"]
    require(cand != st.first_version, f"candidateVersion is the first version {cand}")
    # The candidate's model directory holds the run it came from, whatever the gate decided.
    path = os.path.join(st.model_root, cand, "model.json")
    require(os.path.isfile(path), f"{path} is missing")
    with open(path, encoding="utf-8") as f:
        src = str(json.load(f).get("source"))
    require(second in src, f"the candidate's source {src!r} does not name run {second}")
    active, versions = store_versions(topten, st)
    gate = (f"candidate {out.get('metric')} {out.get('candidate')!r} vs active "
            f"{out.get('active')!r} on run {second}'s test/")
    if out["activated"]:
        require(sorted(versions) == sorted([st.first_version, cand]) and active == cand,
                f"activated, but versions {list(versions)}, active {active}")
        require(second in version_source(versions[cand]),
                f"the new version's source {version_source(versions[cand])!r}")
        verdict = f"activated {cand}; 2 versions"
    else:
        # A rejected candidate is not written to the store (docs/spark.md, retrain --help).
        require(list(versions) == [st.first_version] and active == st.first_version,
                f"rejected, but versions {list(versions)}, active {active}")
        verdict = f"rejected by the gate: {cand} not published; 1 version, {active} active"
    runner.figure("D", "second run gate", f"{'activated' if out['activated'] else 'rejected'}: "
                                          f"{out.get('candidate')!r} vs {out.get('active')!r}")
    return f"{verdict} ({gate}; reason {out['reason']!r})"


def check_job_serve(topten, st, runner):
    active, versions = store_versions(topten, st)
    require(active is not None, "no active version")
    # A user of the active model with a non-ASCII id, and its list by `topten recommend`.
    model_dir = os.path.join(st.model_root, active)
    with open(os.path.join(model_dir, "user_ids.txt"), encoding="utf-8") as f:
        ids = [l.rstrip("\n") for l in f if l.strip()]
    user = next((u for u in ids if not u.isascii()), ids[0])
    want = [(i, s) for _, i, s in parse_tsv3(
        run_ok(topten, ["recommend", "--model", model_dir, "--user", user, "--k", JOB_SERVED_K]),
        "recommend")]
    require(len(want) == JOB_SERVED_K, f"recommend gave {len(want)} items for {user}")
    server = Server(topten, st.store, st.dir)
    try:
        server.wait_ready()
        url = f"{server.base}/api/recommendations/{urllib.parse.quote(user, safe='')}?k={JOB_SERVED_K}"
        status, body = http_get(url)
    finally:
        server.stop()
    text = body.decode("utf-8", "replace")
    require(status == 200, f"GET {url}: status {status}: {excerpt(text, 300)}")
    doc = json.loads(body)
    got = [(x.get("itemId"), x.get("score")) for x in doc.get("items", [])]
    require(doc.get("userId") == user, f"userId {doc.get('userId')!r}, asked {user!r}")
    require(len(got) == JOB_SERVED_K, f"{len(got)} items, not {JOB_SERVED_K}: {excerpt(text, 300)}")
    require(doc.get("modelVersion") in (None, active),
            f"modelVersion {doc.get('modelVersion')!r}, active {active}")
    require([i for i, _ in got] == [i for i, _ in want],
            f"items {[i for i, _ in got]}, `topten recommend` of {active}: {[i for i, _ in want]}")
    worst = max(abs(gs - ws) for (_, gs), (_, ws) in zip(got, want))
    require(worst <= SERVE_TOL, f"scores differ from recommend's by up to {worst:.3g}")
    runner.figure("D", "served vs recommend |diff|", worst)
    return (f"GET /api/recommendations/{urllib.parse.quote(user, safe='')}?k={JOB_SERVED_K}: 200, "
            f"{len(got)} items of {active}, as `topten recommend` (max score |diff| {worst:.3g})")


def scenario_d(topten, rows, workdir, runner, spark_only):
    """The job, then (unless spark_only) the topten checks of scenario D."""
    st = JobState(workdir)
    write_job_inputs(rows, st)
    cfg = JOB_RUNS[0]
    if not runner.check(f"D job run 1 ({cfg['feedback']}, {cfg['input']})", run_job, st, 0):
        runner.fail("D spark predictions", "not run: the job failed")
        return
    spark = start_spark(workdir)
    try:
        ok = runner.check("D spark predictions", job_predictions, spark, st)
    finally:
        spark.stop()
        log("Spark stopped")
    if spark_only:
        return
    log(f"--- scenario D (the job: {st.runs})")
    if runner.check("D import-spark --run", check_job_import, topten, st, runner) and ok:
        runner.check("D predict", check_predict, topten, st.exp, st.model_dir, runner, "D")
    else:
        runner.fail("D predict", "not run: import-spark or the Spark predictions failed")
    steps = [
        ("D retrain (first run)", check_retrain_first),
        ("D retrain again (no newer run)",
         lambda t, s, r: check_retrain_again(t, s, r, "no newer run")),
        ("D retrain ignores an incomplete run", check_incomplete_ignored),
    ]
    for label, fn in steps:
        if not runner.check(label, fn, topten, st, runner):
            runner.fail("D retrain (newer run)", f"not run: {label} failed")
            return
    cfg = JOB_RUNS[1]
    if not runner.check(f"D job run 2 ({cfg['feedback']}, {cfg['input']})", run_job, st, 1):
        runner.fail("D retrain (newer run)", "not run: the second job run failed")
    else:
        runner.check("D retrain (newer run)", check_retrain_newer, topten, st, runner)
    runner.check("D serve", check_job_serve, topten, st, runner)


# --------------------------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--topten", help="path to the topten binary")
    ap.add_argument("--spark-only", action="store_true",
                    help="run the Spark side alone (train, save, expected outputs)")
    ap.add_argument("--workdir", help="directory for all data (default: a new temporary one)")
    ap.add_argument("--keep", action="store_true", help="keep the data directory")
    ap.add_argument("--scenarios", default="A,B,C,D", help="comma-separated subset of A,B,C,D")
    args = ap.parse_args()
    if not args.spark_only and not args.topten:
        ap.error("--topten is required (or --spark-only)")
    topten = os.path.abspath(args.topten) if args.topten else None
    if topten and not (os.path.isfile(topten) and os.access(topten, os.X_OK)):
        ap.error(f"not an executable file: {args.topten}")
    names = [s.strip().upper() for s in args.scenarios.split(",") if s.strip()]
    for s in names:
        if s not in SCENARIOS and s != "D":
            ap.error(f"unknown scenario {s!r} (A, B, C or D)")
    in_process = [n for n in names if n in SCENARIOS]  # A, B, C: Spark ALS in this process

    if args.workdir:
        workdir = os.path.abspath(args.workdir)
        os.makedirs(workdir, exist_ok=True)
    else:
        workdir = tempfile.mkdtemp(prefix="topten-spark-check-")
    log(f"data in {workdir}; pyspark {pyspark.__version__}, pyarrow {pa.__version__}, "
        f"numpy {np.__version__}; topten {topten or '(not run: --spark-only)'}")
    t_start = time.time()
    runner = Runner()

    rows = generate_interactions()
    log(f"{len(rows)} interactions, {N_USERS} users x {N_ITEMS} items (seed {SEED})")

    expected = {}
    spark = start_spark(workdir) if in_process else None
    try:
        for name in in_process:
            cfg = SCENARIOS[name]
            label = f"{name} spark ({cfg['feedback']}, {cfg['ids']} ids)"
            try:
                expected[name] = spark_side(spark, name, cfg, rows, workdir)
            except Exception as e:
                traceback.print_exc(file=sys.stdout)
                runner.fail(label, f"the Spark side failed: {type(e).__name__}: {e}")
    finally:
        if spark is not None:
            spark.stop()
            log("Spark stopped")

    if args.spark_only:
        for name, exp in expected.items():
            tops = [s for lst in exp.top.values() for _, s in lst]
            log(f"[{name}] {exp.n_users} users, {exp.n_items} items; predictions "
                f"{min(exp.predictions.values()):.3f}..{max(exp.predictions.values()):.3f}; "
                f"top-{K} scores {min(tops):.3f}..{max(tops):.3f}")
    else:
        for name in in_process:
            if name not in expected:
                continue
            exp, cfg = expected[name], SCENARIOS[name]
            tag = f"{name} ({cfg['feedback']}, {cfg['ids']} ids)"
            log(f"--- scenario {tag}")
            model_dir = os.path.join(workdir, name, "model")
            if runner.check(f"{name} import-spark", check_import, topten, exp, cfg, model_dir):
                runner.check(f"{name} predict", check_predict, topten, exp, model_dir, runner, name)
                runner.check(f"{name} recommend --all", check_recommend, topten, exp, model_dir,
                             runner, name)
            else:
                runner.fail(f"{name} predict", "not run: import-spark failed")
                runner.fail(f"{name} recommend --all", "not run: import-spark failed")
            runner.check(f"{name} publish --recs + serve", check_publish_serve, topten, exp, cfg,
                         workdir, runner, name)
        base = next((n for n in ("A", "B", "C") if n in expected), None)
        if base is not None:
            log(f"--- bad input (from scenario {base}'s files)")
            runner.check("bad input: not a Spark model", check_not_a_model, topten,
                         expected[base], workdir)
            runner.check("bad input: itemFactors rank", check_bad_rank, topten, expected[base],
                         SCENARIOS[base], workdir)
    if "D" in names:
        scenario_d(topten, rows, workdir, runner, args.spark_only)

    took = time.time() - t_start
    if runner.figures:
        print("\nlargest differences (topten - Spark):")
        keys = ["predict max |diff|", "recommend max |diff|", "recommend tie swaps",
                "served max |diff|"]
        print("  scenario  " + "  ".join(f"{k:>21}" for k in keys))
        for name in names:
            f = runner.figures.get(name, {})
            cells = [("-" if k not in f else (str(f[k]) if isinstance(f[k], int) else f"{f[k]:.3g}"))
                     for k in keys]
            print(f"  {name:<8}  " + "  ".join(f"{c:>21}" for c in cells))
        f = runner.figures.get("D", {})
        if "ndcg_at_k topten / Spark" in f:
            ours, spark_ndcg = f["ndcg_at_k topten / Spark"]
            print(f"  D: holdout ndcg_at_k, import-spark {ours:.6f} / the job's run.json "
                  f"{spark_ndcg:.6f} (|diff| {abs(ours - spark_ndcg):.3g})")
        if "second run gate" in f:
            print(f"  D: retrain of the second run (implicit): {f['second run gate']}")
        if "served vs recommend |diff|" in f:
            print(f"  D: served list vs `topten recommend`: max score |diff| "
                  f"{f['served vs recommend |diff|']:.3g}")
    if runner.failed:
        print("\nfailed checks:")
        for n in runner.failed:
            print(f"  {n}")
    print(f"\n{len(runner.passed)} passed, {len(runner.failed)} failed ({took:.0f} s)")
    if runner.failed or args.keep or args.workdir:
        print(f"data kept in {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return 1 if runner.failed else 0


if __name__ == "__main__":
    sys.exit(main())
