#!/usr/bin/env python3
"""Trains Spark ALS on an interaction table and writes a run directory that topten imports.

    spark-submit spark/topten_als.py --input abfss://data@ACCOUNT.dfs.core.windows.net/events/ \
        --output abfss://models@ACCOUNT.dfs.core.windows.net/topten-runs --feedback implicit

The job reads interactions (Parquet, Delta, CSV or a catalogue table), maps string ids to the
int ids Spark ALS needs (StringIndexer), splits off a holdout, fits
pyspark.ml.recommendation.ALS with topten's parameter names, evaluates on the holdout and
writes PREFIX/RUN_ID/ (layout in spark/README.md). run.json is written last: a run without it
is incomplete and topten ignores it.

Written for Spark 3.4 and later (tested on 4.0.1) with the classic (JVM-backed) session:
run.json is written through the Hadoop FileSystem API, so that the same code writes to abfss://,
wasbs://, dbfs:/ and local paths.
"""
import argparse
import datetime
import json
import math
import re
import sys
import time

FORMAT = "topten-spark-run/1"
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
# A decimal integer written the one way Spark writes it back (no sign +, no leading zeros), so a
# CSV id read as text and the same id as a number have one spelling: "7" stays "7", "007" is text.
CANONICAL_INT = r"^(0|-?[1-9][0-9]{0,18})$"


class InputError(Exception):
    """Bad input or arguments: reported as one line, exit status 2."""


def log(msg):
    print(f"{time.strftime('%H:%M:%S')} topten_als: {msg}", file=sys.stderr, flush=True)


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows defaults, except the absent ones (None, False) that the help text explains."""

    def _get_help_string(self, action):
        if action.default in (None, False) or action.required:
            return action.help
        return super()._get_help_string(action)


def parse_args(argv):
    p = argparse.ArgumentParser(
        prog="topten_als.py",
        description=(
            "Train Spark ALS on interactions and write PREFIX/RUN_ID/ (model/, user_index/, "
            "item_index/, train/, test/, run.json) for `topten import-spark --run`."
        ),
        epilog="Output layout, formats and how topten reads them: spark/README.md and docs/spark.md.",
        formatter_class=HelpFormatter,
    )
    io = p.add_argument_group("input and output")
    io.add_argument("--input", required=True, action="append",
                    help="interactions: a file, a directory of part files, or a table name with "
                         "--input-format table; repeat or comma-separate for several")
    io.add_argument("--input-format", choices=["parquet", "delta", "csv", "table"], default=None,
                    help="default: from the path (.csv/.tsv[.gz] is csv, .parquet is parquet, a "
                         "directory with _delta_log/ is delta, anything else parquet)")
    io.add_argument("--csv-sep", default=None,
                    help="CSV field separator (default: tab for .tsv, else comma); CSV files need a header")
    io.add_argument("--output", required=True,
                    help="run prefix: a local path, abfss://, wasbs:// or dbfs:/ URI; the run goes "
                         "to PREFIX/RUN_ID/ with RUN_ID the UTC start time YYYYMMDDTHHMMSSZ")
    io.add_argument("--master", default=None,
                    help="Spark master, e.g. local[2]; default: the cluster's (spark-submit, Databricks)")

    cols = p.add_argument_group("columns")
    cols.add_argument("--user-col", default="userId", help="user id column")
    cols.add_argument("--item-col", default="itemId", help="item id column")
    cols.add_argument("--rating-col", default=None,
                      help="rating or interaction strength column; without it every row counts 1.0")
    cols.add_argument("--time-col", default=None,
                      help="event time column, copied to train/ and test/ as int64 seconds since the epoch")
    cols.add_argument("--index-ids", choices=["auto", "always"], default="auto",
                      help="auto: StringIndexer for a column that is not of an integer type (CSV: "
                           "unless every id is a plain decimal int32); always: for both columns")
    cols.add_argument("--duplicates", choices=["keep", "sum"], default="keep",
                      help="repeated (user, item) rows: keep them as separate rows (Spark adds each "
                           "to the normal equations) or sum their ratings into one row")

    model = p.add_argument_group("model (topten name -> Spark ALS parameter)")
    model.add_argument("--feedback", choices=["explicit", "implicit"], default="implicit",
                       help="-> implicitPrefs")
    model.add_argument("--factors", type=int, default=None,
                       help="-> rank (default: implicit 64, explicit 10)")
    model.add_argument("--regularization", type=float, default=None,
                       help="-> regParam, multiplied by each row's rating count in both modes "
                            "(default: implicit 0.1, explicit 0.05)")
    model.add_argument("--alpha", type=float, default=1.0,
                       help="-> alpha, implicit confidence 1 + alpha*|r| (linear)")
    model.add_argument("--iterations", type=int, default=15, help="-> maxIter")
    model.add_argument("--seed", type=int, default=42, help="-> seed; also seeds the holdout split")
    model.add_argument("--nonnegative", action="store_true", help="-> nonnegative")
    model.add_argument("--blocks", type=int, default=None,
                       help="-> numUserBlocks and numItemBlocks (Spark's default 10); about the "
                            "number of cores on large clusters")
    model.add_argument("--checkpoint-dir", default=None,
                       help="sets the checkpoint directory so that ALS checkpoints every 10 "
                            "iterations (long lineages on large data)")

    ev = p.add_argument_group("holdout and evaluation")
    ev.add_argument("--holdout", type=float, default=0.25,
                    help="share of each user's interactions held out as test/ (0 disables the "
                         "holdout and the evaluation)")
    ev.add_argument("--split", choices=["stratified", "random"], default="stratified",
                    help="stratified: a random share of each user's rows (round half to even of "
                         "n*(1-holdout) stay in train); random: DataFrame.randomSplit over all rows")
    ev.add_argument("--no-refit", action="store_true",
                    help="research use: keep the model fitted on train/ only as model/. By "
                         "default, after the holdout evaluation the same parameters are fitted "
                         "again on every row and saved as model/ (the evaluated fit is kept as "
                         "holdout-model/), so that published lists leave out every item a user "
                         "has")
    ev.add_argument("--k", type=int, default=10, help="list length of precision@k and NDCG@k")
    ev.add_argument("--eval-users", type=int, default=10000,
                    help="holdout users scored by the ranking metrics, a deterministic sample "
                         "(0: all)")
    ev.add_argument("--eval-extra", type=int, default=200,
                    help="candidates asked from Spark beyond k, so that k remain after removing "
                         "the user's training items")

    args = p.parse_args(argv)
    args.input = [s for a in args.input for s in a.split(",") if s.strip()]
    if args.factors is None:
        args.factors = 64 if args.feedback == "implicit" else 10
    if args.regularization is None:
        args.regularization = 0.1 if args.feedback == "implicit" else 0.05
    if not 0.0 <= args.holdout < 1.0:
        p.error("--holdout must be in [0, 1)")
    for name in ("factors", "iterations", "k"):
        if getattr(args, name) < 1:
            p.error(f"--{name} must be at least 1")
    if args.regularization < 0 or args.alpha < 0:
        p.error("--regularization and --alpha must not be negative")
    if args.eval_users < 0 or args.eval_extra < 0:
        p.error("--eval-users and --eval-extra must not be negative")
    return args


# ---------------------------------------------------------------------------------------------
# Hadoop FileSystem helpers: one code path for abfss://, wasbs://, dbfs:/ and local files.


def hadoop_fs(spark, path):
    jvm = getattr(spark, "_jvm", None)
    if jvm is None:
        raise InputError(
            "this Spark session has no JVM gateway (Spark Connect / serverless); run the job on a "
            "classic cluster (Databricks: a job cluster in single-user/dedicated access mode)"
        )
    jpath = jvm.org.apache.hadoop.fs.Path(path)
    return jpath.getFileSystem(spark._jsc.hadoopConfiguration()), jpath


def hadoop_exists(spark, path):
    try:
        fs, jpath = hadoop_fs(spark, path)
        return bool(fs.exists(jpath))
    except InputError:
        raise
    except Exception:  # an unknown scheme, no credentials yet: treat as absent
        return False


def hadoop_write_text(spark, path, text):
    """Creates or overwrites path with text; the file becomes visible whole when closed."""
    fs, jpath = hadoop_fs(spark, path)
    out = fs.create(jpath, True)
    try:
        out.write(bytearray(text.encode("utf-8")))
    finally:
        out.close()


# ---------------------------------------------------------------------------------------------
# Reading


def detect_format(spark, paths):
    first = paths[0].rstrip("/").lower()
    if re.search(r"\.(csv|tsv|txt)(\.gz|\.bz2)?$", first):
        return "csv"
    if first.endswith((".parquet", ".pq")):
        return "parquet"
    if hadoop_exists(spark, paths[0].rstrip("/") + "/_delta_log"):
        return "delta"
    return "parquet"


def read_input(spark, args):
    from pyspark.errors import AnalysisException

    fmt = args.input_format or detect_format(spark, args.input)
    log(f"reading {fmt}: {', '.join(args.input)}")
    try:
        if fmt == "parquet":
            df = spark.read.parquet(*args.input)
        elif fmt == "delta":
            if len(args.input) != 1:
                raise InputError("--input-format delta reads one table path")
            df = spark.read.format("delta").load(args.input[0])
        elif fmt == "table":
            if len(args.input) != 1:
                raise InputError("--input-format table reads one table")
            df = spark.read.table(args.input[0])
        else:
            sep = args.csv_sep or ("\t" if re.search(r"\.tsv(\.gz|\.bz2)?$", args.input[0].lower()) else ",")
            # Every field as text: ids keep their spelling ("007"), ratings are parsed below.
            df = (spark.read.option("header", True).option("sep", sep)
                  .option("mode", "FAILFAST").csv(args.input))
    except AnalysisException as e:
        raise InputError(f"cannot read --input {', '.join(args.input)} as {fmt}: {first_line(e)}")
    except Exception as e:
        if "delta" in str(e).lower() and fmt == "delta":
            raise InputError(f"cannot read Delta (is delta-spark on this cluster?): {first_line(e)}")
        raise
    return fmt, df


def first_line(e):
    """The first line of an error, and of the Java exception behind a Py4J error."""
    java = getattr(e, "java_exception", None)
    s = (java.toString() if java is not None else str(e)).strip()
    return s.splitlines()[0] if s else type(e).__name__


def resolve_column(df, name, flag):
    if name in df.columns:
        return name
    matches = [c for c in df.columns if c.lower() == name.lower()]
    if len(matches) == 1:
        return matches[0]
    raise InputError(f"{flag} {name!r}: no such column; the input has {', '.join(df.columns)}")


def q(name):
    return "`" + name.replace("`", "``") + "`"


def id_kind(dtype):
    from pyspark.sql import types as T

    if isinstance(dtype, (T.ByteType, T.ShortType, T.IntegerType, T.LongType)):
        return "int"
    if isinstance(dtype, T.StringType):
        return "string"
    return "other"


def time_expr(col, dtype, spark_version):
    """The event time as int64 seconds since the epoch (NULL where it cannot be read)."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    c = q(col)
    if isinstance(dtype, T.TimestampType):
        return F.expr(f"unix_seconds({c})")
    if isinstance(dtype, (T.TimestampNTZType, T.DateType)):
        return F.expr(f"unix_seconds(CAST({c} AS TIMESTAMP))")
    if isinstance(dtype, T.NumericType):
        return F.expr(f"try_cast(floor({c}) AS BIGINT)")
    # Text: a number of seconds, else a timestamp Spark can parse (try_to_timestamp from Spark
    # 3.5 on, where ANSI mode makes to_timestamp fail on bad text; before, to_timestamp gives NULL).
    major_minor = tuple(int(x) for x in re.match(r"(\d+)\.(\d+)", spark_version).groups())
    parse = "try_to_timestamp" if major_minor >= (3, 5) else "to_timestamp"
    return F.expr(
        f"coalesce(try_cast(floor(try_cast({c} AS DOUBLE)) AS BIGINT), unix_seconds({parse}({c})))"
    )


def prepare(spark, args, df, fmt):
    """Checks the input; returns (frame of _uid, _iid, rating [, timestamp], id kinds, which
    columns to index, input column names, row count)."""
    from pyspark.sql import functions as F

    user_col = resolve_column(df, args.user_col, "--user-col")
    item_col = resolve_column(df, args.item_col, "--item-col")
    if user_col == item_col:
        raise InputError(f"--user-col and --item-col name the same column {user_col!r}")
    rating_col = resolve_column(df, args.rating_col, "--rating-col") if args.rating_col else None
    time_col = resolve_column(df, args.time_col, "--time-col") if args.time_col else None
    schema = {f.name: f.dataType for f in df.schema.fields}

    rating = F.expr(f"try_cast({q(rating_col)} AS DOUBLE)") if rating_col else F.lit(1.0)
    sel = [F.col(q(user_col)).alias("_uid"), F.col(q(item_col)).alias("_iid"), rating.alias("rating")]
    if time_col:
        sel.append(time_expr(time_col, schema[time_col], spark.version).alias("timestamp"))
    raw = df.select(*sel)

    kinds = {"_uid": id_kind(schema[user_col]), "_iid": id_kind(schema[item_col])}

    # One pass: row count, bad ids, bad ratings and times, and what the id columns hold.
    aggs = [F.count(F.lit(1)).alias("rows")]
    for c in ("_uid", "_iid"):
        bad = F.col(c).isNull()
        if kinds[c] == "string":
            bad = bad | (F.col(c) == "")
        aggs.append(F.sum(F.when(bad, 1).otherwise(0)).alias(f"{c}_bad"))
        if kinds[c] == "int":
            aggs += [F.min(c).alias(f"{c}_min"), F.max(c).alias(f"{c}_max")]
        elif kinds[c] == "string" and fmt == "csv" and args.index_ids == "auto":
            canon = F.col(c).rlike(CANONICAL_INT)
            aggs.append(F.sum(F.when(canon, 0).otherwise(1)).alias(f"{c}_noncanon"))
            num = F.when(canon, F.col(c).cast("decimal(20,0)"))
            aggs += [F.min(num).alias(f"{c}_min"), F.max(num).alias(f"{c}_max")]
    if rating_col:
        bad_rating = (F.col("rating").isNull() | F.isnan("rating")
                      | (F.abs(F.col("rating")) == float("inf")))
        aggs.append(F.sum(F.when(bad_rating, 1).otherwise(0)).alias("rating_bad"))
    if time_col:
        aggs.append(F.sum(F.when(F.col("timestamp").isNull(), 1).otherwise(0)).alias("time_bad"))
    stats = raw.agg(*aggs).collect()[0].asDict()

    if stats["rows"] == 0:
        raise InputError(f"--input {', '.join(args.input)} holds no rows")
    for c, flag, name in (("_uid", "--user-col", user_col), ("_iid", "--item-col", item_col)):
        if stats[f"{c}_bad"]:
            raise InputError(f"{stats[f'{c}_bad']} of {stats['rows']} rows have a null or empty "
                             f"id in {flag} {name!r}")
    if rating_col and stats["rating_bad"]:
        raise InputError(f"{stats['rating_bad']} of {stats['rows']} rows have a missing, "
                         f"unparsable, NaN or infinite rating in --rating-col {rating_col!r}")
    if time_col and stats["time_bad"]:
        raise InputError(f"{stats['time_bad']} of {stats['rows']} rows have a missing or "
                         f"unparsable time in --time-col {time_col!r}")

    index = {}
    for c, flag, name in (("_uid", "--user-col", user_col), ("_iid", "--item-col", item_col)):
        kind = kinds[c]
        if args.index_ids == "always":
            index[c] = True
        elif kind == "int" or (kind == "string" and stats.get(f"{c}_noncanon") == 0):
            lo, hi = int(stats[f"{c}_min"]), int(stats[f"{c}_max"])
            if lo < INT32_MIN or hi > INT32_MAX:
                raise InputError(
                    f"{flag} {name!r} holds integer ids from {lo} to {hi}, outside the int32 range "
                    f"Spark ALS needs; pass --index-ids always to map them to indices"
                )
            index[c] = False
        else:
            index[c] = True
    cols = {"user": user_col, "item": item_col, "rating": rating_col, "time": time_col}
    return raw, kinds, index, cols, stats["rows"]


# ---------------------------------------------------------------------------------------------
# The job


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    started = datetime.datetime.now(datetime.timezone.utc)
    run_id = started.strftime("%Y%m%dT%H%M%SZ")

    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName(f"topten-als-{run_id}")
    if args.master:
        builder = builder.master(args.master)
        if args.master.startswith("local"):  # small test runs: no UI, few shuffle partitions
            builder = (builder.config("spark.ui.enabled", "false")
                       .config("spark.ui.showConsoleProgress", "false")
                       .config("spark.sql.shuffle.partitions", "8"))
    spark = builder.getOrCreate()
    if args.master:
        spark.sparkContext.setLogLevel("WARN")
    try:
        run(spark, args, run_id)
    except InputError as e:
        print(f"topten_als.py: error: {e}", file=sys.stderr, flush=True)
        return 2
    finally:
        if args.master:  # never stop a session the cluster owns (Databricks)
            spark.stop()
    return 0


def run(spark, args, run_id):
    from pyspark import StorageLevel
    from pyspark.ml.feature import StringIndexer
    from pyspark.ml.recommendation import ALS
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    t_start = time.time()
    run_dir = args.output.rstrip("/") + "/" + run_id
    log(f"Spark {spark.version}, run {run_dir}")
    if hadoop_exists(spark, run_dir):
        raise InputError(f"{run_dir} exists already; runs are never overwritten")
    if args.checkpoint_dir:
        spark.sparkContext.setCheckpointDir(args.checkpoint_dir)

    fmt, df = read_input(spark, args)
    raw, kinds, index, cols, rows = prepare(spark, args, df, fmt)
    log(f"read {rows} rows")

    if args.duplicates == "sum":
        aggs = [F.sum("rating").alias("rating")]
        if "timestamp" in raw.columns:
            aggs.append(F.max("timestamp").alias("timestamp"))
        raw = raw.groupBy("_uid", "_iid").agg(*aggs)

    # Ids for ALS: the int ids themselves, or StringIndexer indices (most frequent id first).
    # The saved StringIndexerModel names the input column (inputCol) and the ALS column its
    # indices feed (outputCol "user" / "item", the ALS model's userCol / itemCol).
    indexers = {}
    frame = raw
    for c, out in (("_uid", "user"), ("_iid", "item")):
        source = cols[out]
        if index[c]:
            log(f"{out} ids ({source}, {kinds[c]}): StringIndexer, most frequent first")
            m = StringIndexer(inputCol=source, outputCol="_f", stringOrderType="frequencyDesc",
                              handleInvalid="error").fit(frame.select(F.col(c).alias(source)))
            frame = (m.copy().setInputCol(c).transform(frame)
                     .withColumn(out, F.col("_f").cast("int")).drop("_f"))
            indexers[out] = m.setOutputCol(out)  # what is saved: inputCol source, outputCol out
        else:
            log(f"{out} ids ({source}, {kinds[c]}): used as Spark's int ids")
            frame = frame.withColumn(out, F.col(c).cast("int"))

    # The holdout.
    if args.holdout > 0 and args.split == "stratified":
        per_user = Window.partitionBy("user")
        ordered = Window.partitionBy("user").orderBy("_r", "item")
        labelled = (frame.withColumn("_r", F.rand(args.seed))
                    .withColumn("_n", F.count(F.lit(1)).over(per_user))
                    .withColumn("_i", F.row_number().over(ordered))
                    .withColumn("_test", F.col("_i") > F.bround(F.col("_n") * (1.0 - args.holdout)))
                    .drop("_r", "_n", "_i"))
    elif args.holdout > 0:
        tr, te = frame.randomSplit([1.0 - args.holdout, args.holdout], seed=args.seed)
        labelled = tr.withColumn("_test", F.lit(False)).unionByName(te.withColumn("_test", F.lit(True)))
    else:
        labelled = frame.withColumn("_test", F.lit(False))
    labelled = labelled.persist(StorageLevel.MEMORY_AND_DISK)
    train = labelled.where(~F.col("_test")).drop("_test")
    test = labelled.where(F.col("_test")).drop("_test")
    train_rows, test_rows = train.count(), test.count()
    if train_rows == 0:
        raise InputError("the training side of the split is empty")
    log(f"split ({args.split if args.holdout > 0 else 'none'}, holdout {args.holdout}): "
        f"train {train_rows} rows, test {test_rows} rows")

    als = ALS(userCol="user", itemCol="item", ratingCol="rating",
              implicitPrefs=args.feedback == "implicit", rank=args.factors,
              regParam=args.regularization, alpha=args.alpha, maxIter=args.iterations,
              seed=args.seed, nonnegative=args.nonnegative, coldStartStrategy="drop")
    if args.blocks:
        als = als.setNumUserBlocks(args.blocks).setNumItemBlocks(args.blocks)
    log(f"training ALS: {args.feedback}, rank {args.factors}, regParam {args.regularization}, "
        f"alpha {args.alpha}, maxIter {args.iterations}")
    t0 = time.time()
    model = als.fit(train.select("user", "item", "rating"))
    n_users, n_items = model.userFactors.count(), model.itemFactors.count()
    log(f"trained in {time.time() - t0:.1f} s: {n_users} users, {n_items} items")

    metrics = {}
    if test_rows:
        metrics = evaluate(spark, args, model, train, test)
        log("metrics: " + ", ".join(f"{k} {v}" for k, v in metrics.items()))

    # The published model sees every row: the same parameters fitted again on train and test
    # together. The metrics stay those of the holdout fit, saved beside it as holdout-model/.
    refitted = bool(test_rows) and not args.no_refit
    holdout_model = None
    if refitted:
        holdout_model = model
        t0 = time.time()
        model = als.fit(train.select("user", "item", "rating")
                        .unionByName(test.select("user", "item", "rating")))
        n_users, n_items = model.userFactors.count(), model.itemFactors.count()
        log(f"refitted on all {train_rows + test_rows} rows in {time.time() - t0:.1f} s: "
            f"{n_users} users, {n_items} items")

    # The run directory; run.json last.
    log(f"writing {run_dir}")
    model.write().overwrite().save(run_dir + "/model")
    if holdout_model is not None:
        holdout_model.write().overwrite().save(run_dir + "/holdout-model")
    for out in ("user", "item"):
        if out in indexers:
            indexers[out].write().overwrite().save(f"{run_dir}/{out}_index")
    for name, part in (("train", train), ("test", test)):
        if name == "test" and test_rows == 0:  # no holdout: no test/
            continue
        out_cols = [id_out("_uid", kinds["_uid"]).alias("user"),
                    id_out("_iid", kinds["_iid"]).alias("item"),
                    F.col("rating").cast("double").alias("rating")]
        if "timestamp" in part.columns:
            out_cols.append(F.col("timestamp").cast("long").alias("timestamp"))
        part.select(*out_cols).write.mode("overwrite").parquet(f"{run_dir}/{name}")

    doc = {
        "format": FORMAT,
        "run_id": run_id,
        "created_at": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "spark_version": spark.version,
        "params": {
            "feedback": args.feedback,
            "factors": args.factors,
            "regularization": args.regularization,
            "alpha": args.alpha,
            "iterations": args.iterations,
            "seed": args.seed,
            "nonnegative": args.nonnegative,
        },
        "columns": cols,
        "input": {"paths": args.input, "format": fmt, "rows": rows, "duplicates": args.duplicates},
        "split": {"method": args.split if args.holdout > 0 else None, "holdout": args.holdout,
                  "seed": args.seed},
        "counts": {"users": n_users, "items": n_items, "train_rows": train_rows, "test_rows": test_rows,
                   "model_rows": train_rows + test_rows if refitted else train_rows},
        "refitted": refitted,
        "metrics": {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                    for k, v in metrics.items()},
        "user_index": "user" in indexers,
        "item_index": "item" in indexers,
    }
    hadoop_write_text(spark, run_dir + "/run.json", json.dumps(doc, indent=2) + "\n")
    labelled.unpersist()
    log(f"done in {time.time() - t_start:.1f} s: {run_dir}/run.json")


def id_out(c, kind):
    """Original ids for train/ and test/: int64 for integer columns, else text."""
    from pyspark.sql import functions as F

    return F.col(c).cast("long") if kind == "int" else F.col(c).cast("string")


def evaluate(spark, args, model, train, test):
    """RMSE (explicit) and precision@k, NDCG@k of the holdout users with training items removed."""
    from pyspark.ml.evaluation import RankingEvaluator, RegressionEvaluator
    from pyspark.sql import functions as F

    metrics = {"k": args.k}
    if args.feedback == "explicit":
        pred = model.transform(test.select("user", "item", "rating"))  # cold users/items dropped
        rmse = RegressionEvaluator(metricName="rmse", labelCol="rating",
                                   predictionCol="prediction").evaluate(pred)
        metrics["rmse"] = None if math.isnan(rmse) else rmse

    trained = model.userFactors.select(F.col("id").alias("user"))
    users = test.select("user").distinct().join(trained, "user")  # users with factors only
    if args.eval_users:
        users = users.orderBy(F.xxhash64("user", F.lit(args.seed))).limit(args.eval_users)
    users = users.cache()
    n_eval = users.count()
    metrics["eval_users"] = n_eval
    if n_eval == 0:
        metrics["precision_at_k"] = metrics["ndcg_at_k"] = None
        return metrics
    recs = model.recommendForUserSubset(users, args.k + args.eval_extra)
    seen = train.join(users, "user").groupBy("user").agg(F.collect_set("item").alias("seen"))
    truth = (test.join(users, "user").groupBy("user")
             .agg(F.collect_set(F.col("item").cast("double")).alias("label")))
    unseen = F.filter("recommendations", lambda r: ~F.array_contains(F.col("seen"), r["item"]))
    lists = (recs.join(seen, "user", "left")
             .withColumn("seen", F.coalesce("seen", F.array().cast("array<int>")))
             .select("user", F.transform(F.slice(unseen, 1, args.k),
                                         lambda r: r["item"].cast("double")).alias("prediction"))
             .join(truth, "user"))
    for name, metric in (("precision_at_k", "precisionAtK"), ("ndcg_at_k", "ndcgAtK")):
        metrics[name] = RankingEvaluator(metricName=metric, k=args.k, labelCol="label",
                                         predictionCol="prediction").evaluate(lists)
    users.unpersist()
    return metrics


if __name__ == "__main__":
    sys.exit(main())
