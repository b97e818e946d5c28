#!/usr/bin/env python3
"""Parity test: the `topten` CLI against Microsoft Recommenders 1.2.1.

Usage:
    python recommenders_parity.py --topten PATH_TO_TOPTEN [--workdir DIR]
    python recommenders_parity.py --reference-only [--workdir DIR]

Generates its own random data (numpy, fixed seeds) and checks that

* `topten evaluate --test T --recs R --predictions P --k K` (K = 1, 5, 10) prints the same
  rmse, mae, rsquared, exp_var, precision_at_k, recall_at_k, ndcg_at_k, map_at_k and map as
  recommenders.evaluation.python_evaluation (relevancy_method="top_k"), within 1e-9;
* `topten evaluate --train TRAIN --test T --recs R --k K [--items CATALOGUE]` prints the same
  catalog_coverage, distributional_coverage, novelty, diversity and serendipity of each user's
  k best recommendations as the same module (item co-occurrence similarity, and
  item_sim_measure="item_feature_vector" with the catalogue's categories as binary feature
  vectors), within 1e-9;
* `topten split --ratings IN --method M --ratio 0.75 --seed 42 --out DIR` (random, stratified
  and chrono, by user and by item, with and without --min-rating 5) puts exactly the same
  (user, item) rows in train and in test as python_random_split / python_stratified_split /
  python_chrono_split.

Scores have no ties within a user and timestamps are all distinct, so no result depends on
sort stability. Prints a table of both sides for every case and ends with the line
"N passed, M failed"; exits 1 if any check failed. --reference-only computes and prints the
Recommenders side alone (no topten needed, no checks counted). Run it in the venv made by
tests/parity/setup-venv.sh (tests/parity/run.sh does both).
"""

import argparse
import csv
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import traceback
import warnings
from dataclasses import dataclass
from importlib import metadata

try:
    import numpy as np
    import pandas as pd
    from recommenders.datasets import python_splitters as ps
    from recommenders.evaluation import python_evaluation as pe
except ImportError as exc:  # pragma: no cover - environment problem
    sys.exit(
        f"recommenders_parity: cannot import {exc.name!r}: run it with the venv from "
        "tests/parity/setup-venv.sh (or use tests/parity/run.sh)"
    )

# pandas/recommenders chatter (SettingWithCopy in _do_stratification, FutureWarnings) is noise here.
warnings.simplefilter("ignore", FutureWarning)
warnings.simplefilter("ignore", DeprecationWarning)
warnings.simplefilter("ignore", pd.errors.SettingWithCopyWarning)

RECOMMENDERS_VERSION = "1.2.1"
TOLERANCE = 1e-9
KS = (1, 5, 10)
RATING_METRICS = ("rmse", "mae", "rsquared", "exp_var")
RANKING_METRICS = ("precision_at_k", "recall_at_k", "ndcg_at_k", "map_at_k", "map")
METRICS = RATING_METRICS + RANKING_METRICS
TEST_HEADER = ["user_id", "item_id", "rating", "timestamp"]
TOPTEN_TIMEOUT_S = 600

COLS = dict(col_user="user_id", col_item="item_id", col_prediction="prediction")


# --------------------------------------------------------------------------------------------
# bookkeeping


class Tally:
    def __init__(self):
        self.passed = 0
        self.failed = 0
        self.failures = []

    def record(self, ok, label):
        if ok:
            self.passed += 1
        else:
            self.failed += 1
            self.failures.append(label)
        return ok


def fmt(x):
    if x is None:
        return "-"
    if isinstance(x, str):
        return x
    return "%.17g" % x


def as_float(x):
    """JSON value -> float (null -> nan). Raises on anything else."""
    if x is None:
        return math.nan
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        raise TypeError(f"not a number: {x!r}")
    return float(x)


def close(a, b):
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return abs(a - b) <= TOLERANCE


def run_topten(topten, args):
    """Run topten; returns (stdout, error message or None)."""
    cmd = [topten] + args
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=TOPTEN_TIMEOUT_S, stdin=subprocess.DEVNULL
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"could not run {' '.join(cmd)}: {exc}"
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
        return None, f"{' '.join(cmd)} exited {proc.returncode}:\n{tail}"
    return proc.stdout, None


def parse_json_object(stdout):
    text = stdout.strip()
    try:
        obj = json.loads(text)
    except json.JSONDecodeError:
        # tolerate log lines before the object: take the last line that parses
        obj = None
        for line in reversed(text.splitlines()):
            try:
                obj = json.loads(line)
                break
            except json.JSONDecodeError:
                continue
    if not isinstance(obj, dict):
        raise ValueError(f"stdout is not one JSON object: {text[:300]!r}")
    return obj


def topten_figures(topten, args):
    """Run topten and read its JSON object: (figures, None), or ({}, error message), so a case
    reports a failed run the same way whichever command it ran."""
    stdout, err = run_topten(topten, args)
    if err is not None:
        return {}, err
    try:
        return parse_json_object(stdout), None
    except ValueError as exc:
        return {}, str(exc)


def reference_or_fail(tally, label, compute, shown=None):
    """The Recommenders reference from compute(), or None after printing its exception (as
    `shown`, else `label`) and recording LABEL:reference as failed: the caller skips the case."""
    try:
        return compute()
    except Exception:
        print(f"--- {shown or label}: Recommenders raised:")
        traceback.print_exc(file=sys.stdout)
        tally.record(False, f"{label}:reference")
        return None


# --------------------------------------------------------------------------------------------
# random data


def gen_ids(rng, n, style, prefix):
    """n distinct, non-dense ids: 'u17'-like strings, or integers written as text."""
    raw = rng.choice(np.arange(1, 20 * n + 1), size=n, replace=False)
    if style == "str":
        return [f"{prefix}{int(v)}" for v in raw]
    return [str(int(v)) for v in raw]


def distinct_timestamps(rng, n):
    """n distinct plausible unix timestamps in random order."""
    ts = 874_724_710 + np.cumsum(rng.integers(1, 5_000, size=n))
    rng.shuffle(ts)
    return [int(t) for t in ts]


def distinct_scores(rng, n):
    while True:
        s = rng.random(n)
        if len(set(s.tolist())) == n:
            return [float(x) for x in s]


@dataclass
class MetricsCase:
    name: str
    seed: int
    n_users: int  # users with test rows
    n_items: int
    mean_truth: float  # typical number of test items per user
    id_style: str  # "str" (u17, i42) or "int"
    rating_style: str = "int"  # "int" (1..5) or "half" (0.5..5.0, written as 3.5 / 4.0)
    frac_no_recs: float = 0.0  # share of test users that get no recommendations
    n_recs_only: int = 0  # users with recommendations but no test rows
    recs_range: tuple = (5, 30)  # recommendations per user (inclusive)
    hit_rate: float = 0.3  # share of a user's recommendations drawn from their test items
    truth_fixed: int = 0  # if > 0, every test user has exactly this many test items
    pred_coverage: float = 0.9  # share of test pairs that get a prediction
    description: str = ""


METRICS_CASES = [
    MetricsCase(
        "str-200x300", 105, 200, 300, 25, "str", frac_no_recs=0.05, n_recs_only=10,
        description="200 users x 300 items, ~5000 ratings, string ids",
    ),
    MetricsCase(
        "int-200x300-half", 202, 200, 300, 25, "int", rating_style="half", frac_no_recs=0.05,
        n_recs_only=10, recs_range=(1, 15), hit_rate=0.4,
        description="integer ids, half-star ratings, 1-15 recs per user",
    ),
    MetricsCase(
        "tiny", 303, 4, 6, 2, "str", recs_range=(1, 4), hit_rate=0.5,
        description="4 users x 6 items",
    ),
    MetricsCase(
        "missing-users", 404, 50, 80, 4, "str", frac_no_recs=0.3, n_recs_only=15,
        recs_range=(1, 20), hit_rate=0.3,
        description="30% of test users without recs, 15 rec-only users, few truth items",
    ),
    MetricsCase(
        "no-hits", 505, 20, 40, 5, "int", recs_range=(3, 12), hit_rate=0.0, n_recs_only=3,
        description="no recommendation is a test item",
    ),
    MetricsCase(
        "one-truth-each", 606, 60, 100, 1, "int", truth_fixed=1, recs_range=(1, 20),
        hit_rate=0.08, frac_no_recs=0.1,
        description="leave-one-out: exactly one test item per user",
    ),
]


def generate_metrics_case(case):
    """Returns (test_rows, rec_rows, pred_rows) as lists of string tuples, in file order."""
    rng = np.random.default_rng(case.seed)
    users = gen_ids(rng, case.n_users + case.n_recs_only, case.id_style, "u")
    items = gen_ids(rng, case.n_items, case.id_style, "i")
    test_users, recs_only_users = users[: case.n_users], users[case.n_users :]

    truth = {}
    for u in test_users:
        if case.truth_fixed:
            c = case.truth_fixed
        else:
            c = int(np.clip(np.rint(rng.lognormal(math.log(case.mean_truth) - 0.3, 0.8)), 1, case.n_items))
        truth[u] = [items[j] for j in rng.choice(case.n_items, size=c, replace=False)]

    n_test = sum(len(v) for v in truth.values())
    stamps = distinct_timestamps(rng, n_test)
    test_rows = []
    for u in test_users:
        for i in truth[u]:
            if case.rating_style == "half":
                r = "%.1f" % (int(rng.integers(1, 11)) * 0.5)
            else:
                r = str(int(rng.integers(1, 6)))
            test_rows.append((u, i, r, str(stamps[len(test_rows)])))
    order = rng.permutation(len(test_rows))
    test_rows = [test_rows[j] for j in order]

    n_no_recs = int(round(case.frac_no_recs * case.n_users))
    no_recs = set(rng.choice(np.array(test_users, dtype=object), size=n_no_recs, replace=False).tolist())
    rec_users = [u for u in test_users if u not in no_recs] + recs_only_users
    rec_rows = []
    for u in rec_users:
        n = int(rng.integers(case.recs_range[0], case.recs_range[1] + 1))
        t = truth.get(u, [])
        n_hit = min(len(t), int(rng.binomial(n, case.hit_rate)))
        hits = [t[j] for j in rng.choice(len(t), size=n_hit, replace=False)] if n_hit else []
        tset = set(t)
        pool = [i for i in items if i not in tset]
        n_other = min(n - n_hit, len(pool))
        others = [pool[j] for j in rng.choice(len(pool), size=n_other, replace=False)]
        recs = hits + others
        for i, s in zip(recs, distinct_scores(rng, len(recs))):
            rec_rows.append((u, i, repr(s)))
    order = rng.permutation(len(rec_rows))
    rec_rows = [rec_rows[j] for j in order]

    pred_rows = []
    seen = set()
    for u, i, r, _ in test_rows:
        if rng.random() < case.pred_coverage:
            pred_rows.append((u, i, repr(float(r) + float(rng.normal(0.0, 1.0)))))
            seen.add((u, i))
    test_pairs = {(u, i) for u, i, _, _ in test_rows}
    ghost = "u0" if case.id_style == "str" else "0"  # a user nowhere else
    candidates_users = users + [ghost]
    n_extra = max(2, n_test // 20)
    while n_extra > 0:
        u = candidates_users[int(rng.integers(len(candidates_users)))]
        i = items[int(rng.integers(len(items)))]
        if (u, i) in test_pairs or (u, i) in seen:
            continue
        seen.add((u, i))
        pred_rows.append((u, i, repr(float(rng.uniform(0.5, 5.5)))))
        n_extra -= 1
    order = rng.permutation(len(pred_rows))
    pred_rows = [pred_rows[j] for j in order]
    return test_rows, rec_rows, pred_rows


def write_tsv(path, rows, header=None):
    with open(path, "w", newline="") as f:
        w = csv.writer(f, delimiter="\t", lineterminator="\n")
        if header:
            w.writerow(header)
        w.writerows(rows)


# --------------------------------------------------------------------------------------------
# metrics: the Recommenders side


def read_metrics_inputs(test_path, recs_path, preds_path, id_style):
    id_dtype = str if id_style == "str" else "int64"
    common = dict(sep="\t", keep_default_na=False, float_precision="round_trip")
    test = pd.read_csv(
        test_path,
        dtype={"user_id": id_dtype, "item_id": id_dtype, "rating": "float64", "timestamp": "int64"},
        **common,
    )
    names = ["user_id", "item_id", "prediction"]
    dtypes = {"user_id": id_dtype, "item_id": id_dtype, "prediction": "float64"}
    recs = pd.read_csv(recs_path, header=None, names=names, dtype=dtypes, **common)
    preds = pd.read_csv(preds_path, header=None, names=names, dtype=dtypes, **common)
    return test, recs, preds


def clear_recommenders_caches():
    # python_evaluation memoizes with lru_cache_df, which hashes DataFrame.values.tobytes():
    # for object (string) columns those are pointers, not contents. Never let a result leak
    # from one case to the next.
    for fn in (pe.merge_rating_true_pred, pe.merge_ranking_true_pred, pe._get_reciprocal_rank):
        fn.cache_clear()


def reference_metrics(test, recs, preds, k):
    out = {}
    for name in RATING_METRICS:
        clear_recommenders_caches()
        out[name] = float(getattr(pe, name)(test, preds, col_rating="rating", **COLS))
    for name in RANKING_METRICS:
        clear_recommenders_caches()
        out[name] = float(
            getattr(pe, name)(
                test, recs, col_rating="rating", relevancy_method="top_k", k=k, **COLS
            )
        )
    return out


def run_metrics_cases(topten, workdir, tally):
    for case in METRICS_CASES:
        cdir = os.path.join(workdir, "metrics", case.name)
        os.makedirs(cdir, exist_ok=True)
        tpath, rpath, ppath = (os.path.join(cdir, n) for n in ("test.tsv", "recs.tsv", "predictions.tsv"))
        test_rows, rec_rows, pred_rows = generate_metrics_case(case)
        write_tsv(tpath, test_rows, TEST_HEADER)
        write_tsv(rpath, rec_rows)
        write_tsv(ppath, pred_rows)
        test_users = {r[0] for r in test_rows}
        rec_users = {r[0] for r in rec_rows}
        print(
            f"\n=== metrics case {case.name}: {case.description}\n"
            f"    {len(test_rows)} test rows, {len(test_users)} test users "
            f"({len(test_users - rec_users)} without recs), {len(rec_rows)} recs for "
            f"{len(rec_users)} users ({len(rec_users - test_users)} without test rows), "
            f"{len(pred_rows)} predictions; files in {cdir}"
        )
        try:
            test, recs, preds = read_metrics_inputs(tpath, rpath, ppath, case.id_style)
        except Exception:
            traceback.print_exc()
            tally.record(False, f"metrics:{case.name}:read-inputs")
            continue

        for k in KS:
            label = f"metrics:{case.name}:k={k}"
            ref = reference_or_fail(tally, label, lambda: reference_metrics(test, recs, preds, k))
            if ref is None:
                continue

            got, err = {}, None
            if topten:
                got, err = topten_figures(
                    topten,
                    ["evaluate", "--test", tpath, "--recs", rpath, "--predictions", ppath, "--k", str(k)],
                )

            print(f"--- k={k}")
            print(f"    {'metric':<15} {'topten':>24} {'recommenders':>24} {'|diff|':>9}  result")
            if topten:
                k_ok = err is None and got.get("k") == k
                shown = "error" if err is not None else fmt(got["k"]) if "k" in got else "missing"
                print(f"    {'k':<15} {shown:>24} {k:>24} {'':>9}  {'ok' if k_ok else 'FAIL'}")
                tally.record(k_ok, f"{label}:k")
            for name in METRICS:
                r = ref[name]
                if not topten:
                    print(f"    {name:<15} {'-':>24} {fmt(r):>24}")
                    continue
                if err is not None:
                    print(f"    {name:<15} {'error':>24} {fmt(r):>24} {'':>9}  FAIL")
                    tally.record(False, f"{label}:{name}")
                    continue
                if name not in got:
                    print(f"    {name:<15} {'missing':>24} {fmt(r):>24} {'':>9}  FAIL")
                    tally.record(False, f"{label}:{name}")
                    continue
                try:
                    t = as_float(got[name])
                except TypeError as exc:
                    print(f"    {name:<15} {'bad: ' + str(exc)[:19]:>24} {fmt(r):>24} {'':>9}  FAIL")
                    tally.record(False, f"{label}:{name}")
                    continue
                ok = close(t, r)
                diff = abs(t - r) if not (math.isnan(t) or math.isnan(r)) else math.nan
                print(f"    {name:<15} {fmt(t):>24} {fmt(r):>24} {diff:>9.1e}  {'ok' if ok else 'FAIL'}")
                tally.record(ok, f"{label}:{name}")
            if err is not None:
                print("    topten error: " + err.replace("\n", "\n        "))


# --------------------------------------------------------------------------------------------
# beyond accuracy: coverage, novelty, diversity, serendipity

BEYOND_METRICS = ("catalog_coverage", "distributional_coverage", "novelty", "diversity", "serendipity")
BEYOND_KS = (3, 10)
CATEGORIES = ["drama", "comedy", "action", "kids", "docs", "music"]


def generate_beyond_case(seed, n_users=150, n_items=220):
    """Training rows with power-law item popularity, recommendations that never repeat a
    training pair (a few users get one item, a few are not in training, a few items were never
    trained on), a small test file, and a catalogue (1-3 categories per item, some items
    missing: their similarity is 0 on both sides; an item listed without categories makes
    Recommenders divide 0 by 0, so none is)."""
    rng = np.random.default_rng(seed)
    users = [f"u{j}" for j in range(n_users)]
    items = [f"i{j}" for j in range(n_items)]
    pop = 1.0 / np.arange(1, n_items + 1) ** 0.9
    pop = pop / pop.sum()
    trained = {}
    train_rows = []
    never_trained = set(items[-6:])  # the tail nobody trained on
    p_train = pop.copy()
    p_train[-6:] = 0
    p_train = p_train / p_train.sum()
    for u in users:
        n = int(np.clip(rng.lognormal(math.log(18), 0.7), 2, 80))
        chosen = rng.choice(n_items, size=n, replace=False, p=p_train)
        trained[u] = {items[j] for j in chosen}
        for j in chosen:
            train_rows.append((u, items[j], str(int(rng.integers(1, 6))), "0"))
    stamps = distinct_timestamps(rng, len(train_rows))
    train_rows = [(u, i, r, str(t)) for (u, i, r, _), t in zip(train_rows, stamps)]
    rec_users = users + ["x1", "x2", "x3"]  # three users with no training rows
    rec_rows = []
    for n_u, u in enumerate(rec_users):
        n = 1 if n_u % 37 == 0 else int(rng.integers(5, 16))
        pool = [j for j in range(n_items) if items[j] not in trained.get(u, set())]
        w = np.array([pop[j] ** 0.5 for j in pool])
        chosen = rng.choice(len(pool), size=min(n, len(pool)), replace=False, p=w / w.sum())
        for j, sc in zip(chosen, distinct_scores(rng, len(chosen))):
            rec_rows.append((u, items[pool[j]], repr(sc)))
    test_rows = []
    for u in users[:40]:
        j = int(rng.integers(n_items))
        if items[j] not in trained[u]:
            test_rows.append((u, items[j], "4", str(2_000_000_000 + len(test_rows))))
    catalogue = []
    for j, i in enumerate(items):
        if j % 23 == 5:
            continue  # not in the catalogue
        n_cat = int(rng.integers(1, 4))
        cats = sorted(rng.choice(len(CATEGORIES), size=n_cat, replace=False).tolist())
        catalogue.append((i, f"Title {i}", "|".join(CATEGORIES[c] for c in cats)))
    return train_rows, rec_rows, test_rows, catalogue, never_trained


def clear_all_recommenders_caches():
    for name in dir(pe):
        fn = getattr(pe, name)
        if callable(fn) and hasattr(fn, "cache_clear"):
            fn.cache_clear()


def reference_beyond(train, recs, catalogue, k, features):
    cols = dict(col_user="user_id", col_item="item_id")
    top = pe.get_top_k_items(recs, col_user="user_id", col_rating="prediction", k=k)
    top = top[["user_id", "item_id"]].reset_index(drop=True)
    train = train[["user_id", "item_id"]]
    out = {}
    for name in ("catalog_coverage", "distributional_coverage", "novelty"):
        clear_all_recommenders_caches()
        out[name] = float(getattr(pe, name)(train, top, **cols))
    extra = {}
    if features:
        vec = {}
        for item, _, cats in catalogue:
            v = np.zeros(len(CATEGORIES))
            for c in filter(None, cats.split("|")):
                v[CATEGORIES.index(c)] = 1.0
            vec[item] = v
        feat = pd.DataFrame({"item_id": list(vec), "features": list(vec.values())})
        extra = dict(item_feature_df=feat, item_sim_measure="item_feature_vector",
                     col_item_features="features")
    for name in ("diversity", "serendipity"):
        clear_all_recommenders_caches()
        out[name] = float(getattr(pe, name)(train, top, **extra, **cols))
    return out


def run_beyond_cases(topten, workdir, tally):
    for seed in (11, 12):
        cdir = os.path.join(workdir, "beyond", f"seed{seed}")
        os.makedirs(cdir, exist_ok=True)
        train_rows, rec_rows, test_rows, catalogue, _ = generate_beyond_case(seed)
        paths = {n: os.path.join(cdir, n + ".tsv") for n in ("train", "recs", "test", "catalogue")}
        write_tsv(paths["train"], train_rows, TEST_HEADER)
        write_tsv(paths["recs"], rec_rows)
        write_tsv(paths["test"], test_rows, TEST_HEADER)
        write_tsv(paths["catalogue"], catalogue, ["itemId", "title", "categories"])
        print(f"\n=== beyond-accuracy case seed {seed}: {len(train_rows)} training rows, "
              f"{len(rec_rows)} recommendations, catalogue of {len(catalogue)} items; files in {cdir}")
        common = dict(sep="\t", keep_default_na=False, dtype={"user_id": str, "item_id": str})
        train = pd.read_csv(paths["train"], **common)
        recs = pd.read_csv(paths["recs"], header=None, names=["user_id", "item_id", "prediction"],
                           sep="\t", keep_default_na=False,
                           dtype={"user_id": str, "item_id": str, "prediction": "float64"},
                           float_precision="round_trip")
        for k in BEYOND_KS:
            for features in (False, True):
                label = f"beyond:seed{seed}:k={k}:{'categories' if features else 'cooccurrence'}"
                ref = reference_or_fail(
                    tally, label, lambda: reference_beyond(train, recs, catalogue, k, features)
                )
                if ref is None:
                    continue
                got, err = {}, None
                if topten:
                    cmd = ["evaluate", "--train", paths["train"], "--test", paths["test"],
                           "--recs", paths["recs"], "--k", str(k)]
                    if features:
                        cmd += ["--items", paths["catalogue"]]
                    got, err = topten_figures(topten, cmd)
                want_sim = "item_feature_vector" if features else "item_cooccurrence_count"
                print(f"--- {label}")
                print(f"    {'figure':<24} {'topten':>24} {'recommenders':>24} {'|diff|':>9}  result")
                if topten:
                    sim_ok = err is None and got.get("item_similarity") == want_sim
                    print(f"    {'item_similarity':<24} {str(got.get('item_similarity')):>24} {want_sim:>24} {'':>9}  {'ok' if sim_ok else 'FAIL'}")
                    tally.record(sim_ok, f"{label}:item_similarity")
                for name in BEYOND_METRICS:
                    r = ref[name]
                    if not topten:
                        print(f"    {name:<24} {'-':>24} {fmt(r):>24}")
                        continue
                    if err is not None or name not in got:
                        print(f"    {name:<24} {'error' if err else 'missing':>24} {fmt(r):>24} {'':>9}  FAIL")
                        tally.record(False, f"{label}:{name}")
                        continue
                    t = as_float(got[name])
                    ok = close(t, r)
                    diff = abs(t - r) if not (math.isnan(t) or math.isnan(r)) else math.nan
                    print(f"    {name:<24} {fmt(t):>24} {fmt(r):>24} {diff:>9.1e}  {'ok' if ok else 'FAIL'}")
                    tally.record(ok, f"{label}:{name}")
                if err is not None:
                    print("    topten error: " + err.replace("\n", "\n        "))


# --------------------------------------------------------------------------------------------
# splits


SPLIT_SEED = 42
SPLIT_RATIO = 0.75
SPLIT_CONFIGS = [
    # (method, filter_by, min_rating)
    ("random", None, None),
    ("stratified", None, None),
    ("stratified", "item", None),
    ("stratified", None, 5),
    ("stratified", "item", 5),
    ("chrono", None, None),
    ("chrono", "item", None),
    ("chrono", None, 5),
    ("chrono", "item", 5),
]


def generate_split_input(seed=7, n_users=120, n_items=500):
    """u.data-like rows (user, item, rating, timestamp) as ints, shuffled, ~3000 rows.

    Users and items both have a long tail (some below 5 ratings, counts like 2, 6, 10 where
    0.75 * count ends in .5), no duplicate (user, item) pairs, all timestamps distinct."""
    rng = np.random.default_rng(seed)
    user_ids = [int(x) for x in gen_ids(rng, n_users, "int", "")]
    item_ids = [int(x) for x in gen_ids(rng, n_items, "int", "")]
    forced = [1, 2, 3, 4, 5, 6, 10, 14]
    rest = np.clip(np.rint(rng.lognormal(math.log(19), 0.8, size=n_users - len(forced))), 1, 200)
    counts = forced + [int(c) for c in rest]
    pop = 1.0 / (np.arange(1, n_items + 1) + 5.0) ** 1.1
    pop = pop[rng.permutation(n_items)]
    pop /= pop.sum()
    rows = []
    for u, c in zip(user_ids, counts):
        for j in rng.choice(n_items, size=c, replace=False, p=pop):
            rows.append([u, item_ids[j], int(rng.integers(1, 6)), 0])
    for row, t in zip(rows, distinct_timestamps(rng, len(rows))):
        row[3] = t
    order = rng.permutation(len(rows))
    return [tuple(rows[j]) for j in order]


def reference_split(df, method, filter_by, min_rating):
    data = df.copy()  # _do_stratification adds a column to the frame it is given
    kw = dict(col_user="user_id", col_item="item_id")
    if filter_by:
        kw["filter_by"] = filter_by
    if min_rating:
        kw["min_rating"] = min_rating
    if method == "random":
        train, test = ps.python_random_split(data, ratio=SPLIT_RATIO, seed=SPLIT_SEED)
    elif method == "stratified":
        train, test = ps.python_stratified_split(data, ratio=SPLIT_RATIO, seed=SPLIT_SEED, **kw)
    elif method == "chrono":
        train, test = ps.python_chrono_split(data, ratio=SPLIT_RATIO, col_timestamp="timestamp", **kw)
    else:
        raise ValueError(method)
    pairs = lambda d: sorted(zip(d["user_id"].astype(str), d["item_id"].astype(str)))
    return pairs(train), pairs(test)


def read_topten_split_file(path):
    with open(path, newline="") as f:
        reader = csv.reader(f, delimiter="\t")
        header = next(reader, None)
        if header != TEST_HEADER:
            raise ValueError(f"{path}: header {header!r}, expected {TEST_HEADER!r}")
        rows = []
        for n, row in enumerate(reader, start=2):
            if not row:
                continue
            if len(row) < 2:
                raise ValueError(f"{path}:{n}: malformed row {row!r}")
            rows.append((row[0].strip(), row[1].strip()))
    return sorted(rows)


def diff_summary(got, want, show=5):
    gs, ws = set(got), set(want)
    only_t = sorted(gs - ws)
    only_r = sorted(ws - gs)
    lines = [f"topten {len(got)} rows, recommenders {len(want)} rows; "
             f"{len(only_t)} only in topten, {len(only_r)} only in recommenders"]
    if len(gs) != len(got):
        lines.append(f"topten has {len(got) - len(gs)} duplicate rows")
    if only_t:
        lines.append("first only in topten:       " + ", ".join(f"({u},{i})" for u, i in only_t[:show]))
    if only_r:
        lines.append("first only in recommenders: " + ", ".join(f"({u},{i})" for u, i in only_r[:show]))
    return lines


def run_split_cases(topten, workdir, tally):
    sdir = os.path.join(workdir, "splits")
    os.makedirs(sdir, exist_ok=True)
    in_path = os.path.join(sdir, "ratings.tsv")
    rows = generate_split_input()
    write_tsv(in_path, rows)
    df = pd.read_csv(
        in_path, sep="\t", header=None, names=TEST_HEADER,
        dtype={"user_id": "int64", "item_id": "int64", "rating": "int64", "timestamp": "int64"},
    )
    print(
        f"\n=== splits: {len(df)} rows, {df['user_id'].nunique()} users, {df['item_id'].nunique()} items "
        f"(users with < 5 ratings: {(df.groupby('user_id').size() < 5).sum()}, items with < 5: "
        f"{(df.groupby('item_id').size() < 5).sum()}); input {in_path}"
    )
    for method, filter_by, min_rating in SPLIT_CONFIGS:
        extra = []
        if filter_by:
            extra += ["--filter-by", filter_by]
        if min_rating:
            extra += ["--min-rating", str(min_rating)]
        name = " ".join([method] + extra)
        label = "split:" + name.replace(" --", ":").replace(" ", "=")
        ref = reference_or_fail(
            tally, label, lambda: reference_split(df, method, filter_by, min_rating),
            shown=f"split {name}",
        )
        if ref is None:
            continue
        ref_train, ref_test = ref
        if not topten:
            print(f"--- split {name}: recommenders train {len(ref_train)}, test {len(ref_test)}")
            continue
        out = os.path.join(sdir, label.replace(":", "_").replace("=", "-"))
        shutil.rmtree(out, ignore_errors=True)
        os.makedirs(out)
        args = ["split", "--ratings", in_path, "--method", method, "--ratio", str(SPLIT_RATIO),
                "--seed", str(SPLIT_SEED), "--out", out] + extra
        _, err = run_topten(topten, args)
        got = {}
        if err is None:
            try:
                got["train"] = read_topten_split_file(os.path.join(out, "train.tsv"))
                got["test"] = read_topten_split_file(os.path.join(out, "test.tsv"))
            except (OSError, ValueError) as exc:
                err = str(exc)
        for part, want in (("train", ref_train), ("test", ref_test)):
            if err is not None:
                print(f"--- split {name} [{part}]: FAIL: {err}")
                tally.record(False, f"{label}:{part}")
                continue
            ok = got[part] == want
            status = "ok" if ok else "FAIL"
            print(f"--- split {name} [{part}]: topten {len(got[part])}, recommenders {len(want)}: {status}")
            if not ok:
                for line in diff_summary(got[part], want):
                    print("    " + line)
            tally.record(ok, f"{label}:{part}")


# --------------------------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--topten", help="path to the topten binary")
    ap.add_argument("--workdir", help="keep the generated files here (default: a temporary folder, "
                    "removed when every check passed)")
    ap.add_argument("--reference-only", action="store_true",
                    help="compute and print the Recommenders side only (no topten, no checks)")
    args = ap.parse_args()
    if not args.reference_only and not args.topten:
        ap.error("--topten is required (or --reference-only)")
    topten = None
    if args.topten:
        topten = os.path.abspath(args.topten) if os.sep in args.topten else shutil.which(args.topten)
        if not topten or not os.path.isfile(topten) or not os.access(topten, os.X_OK):
            print(f"recommenders_parity: topten binary not found or not executable: {args.topten}")
            print("0 passed, 1 failed")
            return 1
    if args.reference_only:
        topten = None

    version = metadata.version("recommenders")
    print(f"recommenders {version}, numpy {np.__version__}, pandas {pd.__version__}, "
          f"scikit-learn {metadata.version('scikit-learn')}, python {sys.version.split()[0]}")
    tally = Tally()
    if version != RECOMMENDERS_VERSION:
        print(f"expected recommenders {RECOMMENDERS_VERSION}, found {version}")
        tally.record(False, "recommenders-version")

    if args.workdir:
        workdir = os.path.abspath(args.workdir)
        os.makedirs(workdir, exist_ok=True)
        keep = True
    else:
        workdir = tempfile.mkdtemp(prefix="topten-parity-")
        keep = False
    print(f"topten: {topten or '(reference only)'}; workdir: {workdir}")

    run_metrics_cases(topten, workdir, tally)
    run_beyond_cases(topten, workdir, tally)
    run_split_cases(topten, workdir, tally)

    print()
    if tally.failures:
        print("failed checks:")
        for f in tally.failures:
            print("  " + f)
        print(f"generated files kept in {workdir}")
    elif not keep:
        shutil.rmtree(workdir, ignore_errors=True)
    if topten is None:
        print(f"reference only: no topten checks run ({tally.failed} reference errors)")
        return 1 if tally.failed else 0
    print(f"{tally.passed} passed, {tally.failed} failed")
    return 1 if tally.failed else 0


if __name__ == "__main__":
    sys.exit(main())
