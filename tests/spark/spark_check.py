#!/usr/bin/env python3
"""Spark interop test: `topten import-spark`, `predict`, `recommend` and `publish --recs`
against Spark ALS itself (pyspark 4.0.1, local[2]).

Usage:
    python spark_check.py --topten PATH_TO_TOPTEN [--workdir DIR] [--keep] [--scenarios A,B,C]
    python spark_check.py --spark-only [--workdir DIR] [--keep]

Generates its own data (numpy, fixed seed: 300 users x 200 items, about 6,000 interactions drawn
from a hidden 4-factor taste model) and, in three scenarios

    A  explicit ALS, integer ids (not contiguous: users 1000 + 7u, items 3 + 5i)
    B  implicit ALS, the same integer ids
    C  implicit ALS, string ids ("user-17", "usér-20", "item-é3") through StringIndexer

trains Spark ALS, saves the model (`model.write().overwrite().save`), the training rows as
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

Every check is reported by name; the run ends with "N passed, M failed" and a table of the
largest differences per scenario, and exits 1 if any check failed. --spark-only runs the Spark
side alone (training, saving, expected outputs) and counts no topten check. All data lives in a
temporary directory (--workdir to choose it), removed when every check passed unless --keep.
Nothing is downloaded. Run it in the venv made by tests/spark/run.sh.
"""

import argparse
import json
import os
import shutil
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
    require(not missing, f"{len(missing)} of {N_PAIRS} pairs missing from predict, e.g. {missing[:3]}")
    require(not extra, f"predict printed {len(extra)} pairs not asked for, e.g. {extra[:3]}")
    diffs = sorted(((abs(got[k] - v), k) for k, v in exp.predictions.items()), reverse=True)
    worst, key = diffs[0]
    runner.figure(name, "predict max |diff|", worst)
    require(worst <= PREDICT_TOL,
            f"max |topten - Spark| = {worst:.3g} > {PREDICT_TOL:g} at {key}: topten {got[key]!r}, "
            f"Spark {exp.predictions[key]!r}; {sum(d > PREDICT_TOL for d, _ in diffs)} pairs beyond")
    return f"{N_PAIRS} pairs, max |topten - Spark| = {worst:.3g}"


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


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--topten", help="path to the topten binary")
    ap.add_argument("--spark-only", action="store_true",
                    help="run the Spark side alone (train, save, expected outputs)")
    ap.add_argument("--workdir", help="directory for all data (default: a new temporary one)")
    ap.add_argument("--keep", action="store_true", help="keep the data directory")
    ap.add_argument("--scenarios", default="A,B,C", help="comma-separated subset of A,B,C")
    args = ap.parse_args()
    if not args.spark_only and not args.topten:
        ap.error("--topten is required (or --spark-only)")
    topten = os.path.abspath(args.topten) if args.topten else None
    if topten and not (os.path.isfile(topten) and os.access(topten, os.X_OK)):
        ap.error(f"not an executable file: {args.topten}")
    names = [s.strip().upper() for s in args.scenarios.split(",") if s.strip()]
    for s in names:
        if s not in SCENARIOS:
            ap.error(f"unknown scenario {s!r} (A, B or C)")

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

    spark = start_spark(workdir)
    expected = {}
    try:
        for name in names:
            cfg = SCENARIOS[name]
            label = f"{name} spark ({cfg['feedback']}, {cfg['ids']} ids)"
            try:
                expected[name] = spark_side(spark, name, cfg, rows, workdir)
            except Exception as e:
                traceback.print_exc(file=sys.stdout)
                runner.fail(label, f"the Spark side failed: {type(e).__name__}: {e}")
    finally:
        spark.stop()
        log("Spark stopped")

    if args.spark_only:
        for name, exp in expected.items():
            tops = [s for lst in exp.top.values() for _, s in lst]
            log(f"[{name}] {exp.n_users} users, {exp.n_items} items; predictions "
                f"{min(exp.predictions.values()):.3f}..{max(exp.predictions.values()):.3f}; "
                f"top-{K} scores {min(tops):.3f}..{max(tops):.3f}")
    else:
        for name in names:
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
