#!/usr/bin/env python3
"""Runs one recommender system on a train file and writes its top-10 for every user.

    peers.py implicit --train T --out RECS [--factors 64] [--iterations 15] ...
    peers.py spark    --train T --out RECS [--factors 10] [--explicit] [--test T --predictions P]

Prints one JSON line with timings: fit seconds, seconds per iteration, top-k seconds, and the
process's peak RSS (ru_maxrss). Used by bench/compare.sh; the same train/test files and the same
hyperparameters go to every system, and `topten evaluate` scores every system's output.
"""
import argparse
import json
import os
import resource
import sys
import time


def load_train(path):
    import pandas as pd

    df = pd.read_csv(path, sep="\t", dtype={"user_id": str, "item_id": str})
    return df


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_implicit(args):
    from threadpoolctl import threadpool_limits
    import numpy as np
    import scipy.sparse as sp
    import implicit

    df = load_train(args.train)
    users = df["user_id"].astype("category")
    items = df["item_id"].astype("category")
    m = sp.csr_matrix(
        (df["rating"].astype(np.float32).values, (users.cat.codes.values, items.cat.codes.values)),
        shape=(len(users.cat.categories), len(items.cat.categories)),
    )
    with threadpool_limits(limits=1, user_api="blas"):
        model = implicit.cpu.als.AlternatingLeastSquares(
            factors=args.factors,
            regularization=args.regularization,
            alpha=args.alpha,
            iterations=args.iterations,
            use_cg=True,
            num_threads=args.threads,
            random_state=42,
            calculate_training_loss=False,
        )
        t0 = time.perf_counter()
        model.fit(m, show_progress=False)
        fit = time.perf_counter() - t0
        t0 = time.perf_counter()
        ids, scores = model.recommend(np.arange(m.shape[0]), m, N=args.k, filter_already_liked_items=True)
        topk = time.perf_counter() - t0
    ucat, icat = users.cat.categories, items.cat.categories
    with open(args.out, "w") as f:
        for u in range(m.shape[0]):
            for i, s in zip(ids[u], scores[u]):
                if i >= 0:
                    f.write(f"{ucat[u]}\t{icat[i]}\t{s}\n")
    return {"fit_s": fit, "s_per_iteration": fit / args.iterations, "topk_s": topk}


def spark_top_k(args, spark, model, df, pdf, ucat, icat):
    """Top-k for all users with seen items removed; returns the timing fields."""
    from pyspark.sql import functions as F

    # Spark cannot skip seen items while ranking: ask for k + the largest history (capped), then
    # drop seen items and keep k.
    max_seen = int(pdf.groupby("u").size().max())
    extra = min(max_seen, args.spark_extra)
    t0 = time.perf_counter()
    recs = model.recommendForAllUsers(args.k + extra)
    exploded = recs.select("u", F.posexplode("recommendations").alias("pos", "rec")).select("u", "pos", F.col("rec.i").alias("i"), F.col("rec.rating").alias("s"))
    filtered = exploded.join(df.select("u", "i"), on=["u", "i"], how="left_anti")
    rows = filtered.toPandas()
    topk = time.perf_counter() - t0
    rows = rows.sort_values(["u", "pos"]).groupby("u").head(args.k)
    with open(args.out, "w") as f:
        for u, i, s in zip(rows["u"].values, rows["i"].values, rows["s"].values):
            f.write(f"{ucat[u]}\t{icat[i]}\t{s}\n")
    return {"topk_s": topk, "topk_candidates": args.k + extra}


def run_spark(args):
    import pandas as pd
    from pyspark.sql import SparkSession
    from pyspark.ml.recommendation import ALS
    from pyspark.sql import functions as F

    spark = (
        SparkSession.builder.master(f"local[{args.threads}]")
        .config("spark.driver.memory", args.spark_memory)
        .config("spark.sql.shuffle.partitions", str(args.threads * 2))
        .config("spark.ui.enabled", "false")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    pdf = load_train(args.train)
    # Spark ALS needs integer ids.
    users = pdf["user_id"].astype("category")
    items = pdf["item_id"].astype("category")
    pdf = pd.DataFrame({"u": users.cat.codes.astype("int32"), "i": items.cat.codes.astype("int32"), "r": pdf["rating"].astype("float32")})
    df = spark.createDataFrame(pdf).cache()
    df.count()
    als = ALS(
        rank=args.factors,
        maxIter=args.iterations,
        regParam=args.regularization,
        userCol="u",
        itemCol="i",
        ratingCol="r",
        implicitPrefs=not args.explicit,
        alpha=args.alpha,
        coldStartStrategy="drop",
        seed=42,
    )
    t0 = time.perf_counter()
    model = als.fit(df)
    model.userFactors.count()
    fit = time.perf_counter() - t0
    ucat, icat = users.cat.categories, items.cat.categories
    out = {"fit_s": fit, "s_per_iteration": fit / args.iterations, "topk_s": None}
    if not args.no_topk:
        out.update(spark_top_k(args, spark, model, df, pdf, ucat, icat))
    if args.test and args.predictions:
        tdf = pd.read_csv(args.test, sep="\t", dtype={"user_id": str, "item_id": str})
        umap = {v: k for k, v in enumerate(ucat)}
        imap = {v: k for k, v in enumerate(icat)}
        tdf = tdf[tdf["user_id"].isin(umap) & tdf["item_id"].isin(imap)]
        tp = pd.DataFrame({"u": tdf["user_id"].map(umap).astype("int32"), "i": tdf["item_id"].map(imap).astype("int32")})
        preds = model.transform(spark.createDataFrame(tp)).toPandas()
        with open(args.predictions, "w") as f:
            for u, i, p in zip(preds["u"].values, preds["i"].values, preds["prediction"].values):
                f.write(f"{ucat[u]}\t{icat[i]}\t{p}\n")
    spark.stop()
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("system", choices=["implicit", "spark"])
    ap.add_argument("--train", required=True)
    ap.add_argument("--test")
    ap.add_argument("--out", required=True, help="recommendations file (user, item, score)")
    ap.add_argument("--predictions", help="rating predictions for the test pairs (spark --explicit)")
    ap.add_argument("--factors", type=int, default=64)
    ap.add_argument("--iterations", type=int, default=15)
    ap.add_argument("--regularization", type=float, default=20.0)
    ap.add_argument("--alpha", type=float, default=1.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--explicit", action="store_true")
    ap.add_argument("--no-topk", action="store_true", help="spark: fit (and predict) only, no top-k for all users")
    ap.add_argument("--spark-memory", default="6g")
    ap.add_argument("--spark-extra", type=int, default=200, help="extra candidates per user to survive seen-item removal")
    args = ap.parse_args()
    t0 = time.perf_counter()
    out = run_implicit(args) if args.system == "implicit" else run_spark(args)
    out["total_s"] = time.perf_counter() - t0
    out["peak_rss_mb"] = peak_rss_mb()
    out["system"] = args.system
    print(json.dumps(out))


if __name__ == "__main__":
    sys.exit(main())
