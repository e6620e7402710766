#!/usr/bin/python3
"""bench/ml.py: dwc's in-database ML next to scikit-learn, same data, same split, one run.

For every algorithm, on deterministic synthetic data of 100,000 rows x 20 features (75,000
training rows, 25,000 test rows, the split given to both sides as a boolean column):
  - dwc: training time (fitting alone, and the whole dwc.ml_train() call: reading the table,
    encoding, fitting, evaluating and storing the version), the test metric, single-row
    prediction latency through SQL (dwc.ml_predict with a jsonb row, and dwc.ml_predict_array
    with a float8[]), measured inside the server over 2,000 calls, and batch prediction
    throughput (dwc.ml_predict_query over the 25,000 test rows);
  - scikit-learn (Debian's python3-sklearn), single-threaded: fit time on the same training
    rows, the same metric on the same test rows, predict() of one row, predict() of the
    25,000 test rows.
Inputs are standardised for logistic regression, k nearest neighbours and k-means on both
sides (dwc does it by default for them; scikit-learn gets a StandardScaler fitted on the
training rows). Targets of issue 6: training no slower than scikit-learn's single-threaded
time, metrics within 1 point.

    bench/ml.py [--rows 100000] [--features 20] [--only ALGO,...] [--missing 0.1] [--levels 30]
(--missing: that share of the feature values NULL, gradient boosting only, next to
scikit-learn's HistGradientBoosting on the same NaNs; --levels: two text features of that
many levels, gradient boosting only, next to its categorical_features)
Installs python3-sklearn with apt-get if it is missing (as root). Never fails on a timing.
"""
import argparse
import io
import json
import os
import subprocess
import sys
import time

# scikit-learn single-threaded: set before numpy loads its BLAS
for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[v] = "1"

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(ROOT, "test", "kit"))

from benchkit import line as _line, timed_sql  # noqa: E402
from cluster import temp_cluster  # noqa: E402

# bench/queue.py would stand in for the standard library's queue module, which
# scikit-learn's joblib imports
sys.path = [d for d in sys.path if os.path.abspath(d or ".") != BENCH]


def ensure_sklearn():
    try:
        import sklearn  # noqa: F401
    except ImportError:
        if os.geteuid() != 0:
            sys.exit("bench/ml.py needs python3-sklearn (apt-get install python3-sklearn)")
        subprocess.run(["apt-get", "install", "-y", "-q", "python3-sklearn"], check=True,
                       env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"), stdout=subprocess.DEVNULL)


ensure_sklearn()
import numpy as np  # noqa: E402
from sklearn import cluster as skcluster, ensemble, linear_model, metrics, naive_bayes, neighbors, tree  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

DB = "bench"
SETTINGS = {"dwc.databases": "''", "shared_buffers": "'512MB'", "work_mem": "'64MB'",
            "max_wal_size": "'4GB'"}


def line(label, value):
    _line(label, value, width=58)


def make_data(n, p, seed=20261201, levels=0):
    """Features N(0, 1) with some correlation; a linear regression target with noise; a binary
    class from a noisy non-linear score (so trees and linear models differ); 25% test rows.
    levels > 0: also two text features of that many levels (returned as codes), each level
    with an effect of its own on both targets."""
    rng = np.random.RandomState(seed)
    z = rng.randn(n, p)
    x = z + 0.3 * z[:, [(j + 1) % p for j in range(p)]]
    w = rng.uniform(-2, 2, p)
    y_reg = x @ w + 3.0 + rng.randn(n) * 2.0
    score = x[:, 0] * x[:, 1] + np.sin(x[:, 2] * 2) + x @ (w / 4) + rng.randn(n) * 0.5
    if levels > 0:
        crng = np.random.RandomState(seed + 1)
        codes = crng.randint(0, levels, (n, 2))
        effect = crng.normal(scale=1.5, size=(2, levels))
        e = effect[0][codes[:, 0]] + effect[1][codes[:, 1]]
        y_reg = y_reg + 2 * e
        score = score + e
        make_data.codes = codes
    y_cls = (score > np.median(score)).astype(int)
    is_test = np.zeros(n, bool)
    is_test[rng.permutation(n)[: n // 4]] = True
    return x, y_reg, y_cls, is_test


ALGOS = [
    # name, task, dwc hyperparameters, sklearn estimator, standardise
    ("linear_regression", "regression", {}, lambda: linear_model.LinearRegression(), False),
    ("ridge", "regression", {"alpha": 1.0}, lambda: linear_model.Ridge(alpha=1.0), False),
    ("lasso", "regression", {"alpha": 0.1}, lambda: linear_model.Lasso(alpha=0.1), False),
    ("elastic_net", "regression", {"alpha": 0.1, "l1_ratio": 0.5},
     lambda: linear_model.ElasticNet(alpha=0.1, l1_ratio=0.5), False),
    ("logistic_regression", "classification", {}, lambda: linear_model.LogisticRegression(), True),
    ("decision_tree", "classification", {"random_state": 0},
     lambda: tree.DecisionTreeClassifier(random_state=0), False),
    ("random_forest", "classification", {"n_estimators": 100, "max_depth": 10, "random_state": 0},
     lambda: ensemble.RandomForestClassifier(n_estimators=100, max_depth=10, random_state=0, n_jobs=1), False),
    ("gradient_boosting", "classification", {"random_state": 0},
     lambda: ensemble.HistGradientBoostingClassifier(random_state=0), False),
    ("gradient_boosting_regression", "regression", {"random_state": 0},
     lambda: ensemble.HistGradientBoostingRegressor(random_state=0), False),
    ("naive_bayes", "classification", {}, lambda: naive_bayes.GaussianNB(), False),
    ("knn", "classification", {"n_neighbors": 5}, lambda: neighbors.KNeighborsClassifier(5, n_jobs=1), True),
    ("kmeans", "clustering", {"n_clusters": 8, "n_init": 1, "random_state": 0},
     lambda: skcluster.KMeans(8, n_init=1, random_state=0), True),
]


def load(cur, x, y_reg, y_cls, is_test):
    p = x.shape[1]
    cols = ", ".join("f%d float8" % j for j in range(p))
    codes = getattr(make_data, "codes", None)
    if codes is not None:
        cols += ", c0 text, c1 text"
    cur.execute("CREATE TABLE data (id int, %s, y_reg float8, y_cls int, is_test bool)" % cols)
    buf = io.StringIO()
    for i in range(x.shape[0]):
        # a missing value (NaN, --missing) is a NULL; a level (--levels) is text
        buf.write("%d\t%s%s\t%r\t%d\t%s\n" % (i, "\t".join("\\N" if v != v else repr(float(v)) for v in x[i]),
                                               "\tk%03d\tk%03d" % tuple(codes[i]) if codes is not None else "",
                                               float(y_reg[i]), int(y_cls[i]), "t" if is_test[i] else "f"))
    buf.seek(0)
    cur.copy_expert("COPY data FROM STDIN", buf)
    feats = ", ".join(["f%d" % j for j in range(p)] + (["c0", "c1"] if codes is not None else []))
    cur.execute("CREATE VIEW reg AS SELECT %s, y_reg, is_test FROM data" % feats)
    cur.execute("CREATE VIEW cls AS SELECT %s, y_cls, is_test FROM data" % feats)
    cur.execute("CREATE VIEW clu AS SELECT %s, is_test FROM data" % feats)
    cur.execute("CREATE VIEW test_rows AS SELECT %s FROM data WHERE is_test ORDER BY id" % feats)
    # rows with every value (the float8[] form takes no NULL, and a level as its number: k007 is 7)
    arr = ", ".join(["f%d" % j for j in range(p)] + (["substr(c0, 2)::float8", "substr(c1, 2)::float8"]
                                                     if codes is not None else []))
    cur.execute("CREATE TABLE probe AS SELECT row_number() OVER () AS n, to_jsonb(t) AS f, "
                "ARRAY[%s] AS a FROM (SELECT %s FROM data WHERE is_test AND num_nulls(%s) = 0 ORDER BY id LIMIT 2000) t"
                % (arr, feats, feats))
    cur.execute("ANALYZE")


def metric_of(task, m):
    if task == "classification":
        return "accuracy", m["accuracy"]
    if task == "regression":
        return "R2", m["r2"]
    return "inertia (test)", m["inertia"]


def sk_metric(task, est, xte, yte):
    if task == "classification":
        return metrics.accuracy_score(yte, est.predict(xte))
    if task == "regression":
        return metrics.r2_score(yte, est.predict(xte))
    lab = est.predict(xte)
    return float(((xte - est.cluster_centers_[lab]) ** 2).sum())


def per_call_us(cur, sql, n):
    return min(timed_sql(cur, sql) for _ in range(3)) / n * 1e6


def bench_algo(cur, name, task, hp, mk, scale, x, y_reg, y_cls, is_test):
    source = {"regression": "reg", "classification": "cls", "clustering": "clu"}[task]
    target = {"regression": "y_reg", "classification": "y_cls", "clustering": None}[task]
    y = y_reg if task == "regression" else y_cls
    algorithm = "gradient_boosting" if name.startswith("gradient_boosting") else name
    cur.execute("SELECT dwc.ml_create_model(%s, %s, %s, %s)", (name, task, algorithm, json.dumps(hp)))
    t0 = time.monotonic()
    cur.execute("SELECT dwc.ml_train(%s, %s, target => %s, options => '{\"test_column\": \"is_test\"}')",
                (name, source, target))
    wall = time.monotonic() - t0
    r = cur.fetchone()[0]
    mname, ours = metric_of(task, r["metrics"])
    nprobe = 2000
    one_json = per_call_us(cur, "SELECT count(dwc.ml_predict('%s', f)) FROM probe" % name, nprobe)
    one_arr = per_call_us(cur, "SELECT count(dwc.ml_predict_array('%s', a)) FROM probe" % name, nprobe)
    tb = min(timed_sql(cur, "SELECT jsonb_array_length(dwc.ml_predict_query('%s', 'SELECT * FROM test_rows'))" % name)
             for _ in range(2 if name != "knn" else 1))
    ntest = int(is_test.sum())

    # scikit-learn on the same rows
    codes = getattr(make_data, "codes", None)
    if codes is not None:
        # the levels as codes, which scikit-learn's categorical_features takes
        x = np.hstack([x, codes.astype(float)])
    xtr, xte, ytr, yte = x[~is_test], x[is_test], y[~is_test], y[is_test]
    if scale:
        s = StandardScaler().fit(xtr)
        xtr, xte = s.transform(xtr), s.transform(xte)
    est = mk()
    if codes is not None:
        est.set_params(categorical_features=[False] * (x.shape[1] - 2) + [True, True])
    t0 = time.perf_counter()
    if task == "clustering":
        est.fit(xtr)
    else:
        est.fit(xtr, ytr)
    sk_fit = time.perf_counter() - t0
    sk_m = sk_metric(task, est, xte, yte)
    row = xte[:1]
    reps = 200 if name != "knn" else 20
    t0 = time.perf_counter()
    for _ in range(reps):
        est.predict(row)
    sk_one = (time.perf_counter() - t0) / reps * 1e6
    t0 = time.perf_counter()
    est.predict(xte)
    sk_batch = time.perf_counter() - t0

    seeds_note = ""
    if task == "clustering":
        # k-means' run time is its iterations', which its random start decides: compare the
        # medians over five starts on both sides, not one start against another
        dwc_fit, dwc_it, sk_fits, sk_its = [r["fit_ms"]], [r["metrics"].get("iterations", 0)], [sk_fit * 1e3], [est.n_iter_]
        for seed in range(1, 5):
            cur.execute("SELECT dwc.ml_update_model(%s, %s)", (name, json.dumps(dict(hp, random_state=seed))))
            cur.execute("SELECT dwc.ml_train(%s, %s, options => '{\"test_column\": \"is_test\"}', deploy => 'never')",
                        (name, source))
            rr = cur.fetchone()[0]
            dwc_fit.append(rr["fit_ms"])
            dwc_it.append(rr["metrics"].get("iterations", 0))
            e2 = skcluster.KMeans(hp["n_clusters"], n_init=1, random_state=seed)
            t0 = time.perf_counter()
            e2.fit(xtr)
            sk_fits.append((time.perf_counter() - t0) * 1e3)
            sk_its.append(e2.n_iter_)
        med = lambda v: sorted(v)[len(v) // 2]  # noqa: E731
        r["fit_ms"], sk_fit = med(dwc_fit), med(sk_fits) / 1e3
        seeds_note = "; medians of 5 starts: dwc %d iterations (%.2f ms each), sklearn %d (%.2f ms each)" % (
            med(dwc_it), med([f / max(i, 1) for f, i in zip(dwc_fit, dwc_it)]), med(sk_its),
            med([f / max(i, 1) for f, i in zip(sk_fits, sk_its)]))
    print("%s (%s, dwc trained %d rows in %.2f s wall%s):" % (name, task, r["train_rows"], wall, seeds_note))
    line("  training: dwc fit / dwc.ml_train() whole / sklearn fit",
         "%9.1f ms / %9.1f ms / %9.1f ms" % (r["fit_ms"], r["training_ms"], sk_fit * 1e3))
    line("  %s: dwc / sklearn" % mname, "%.4f / %.4f" % (ours, sk_m))
    line("  one row: dwc.ml_predict jsonb / float8[] / sklearn predict",
         "%7.1f us / %7.1f us / %7.1f us" % (one_json, one_arr, sk_one))
    line("  %d rows: dwc.ml_predict_query / sklearn predict" % ntest,
         "%9.0f rows/s / %9.0f rows/s" % (ntest / tb, ntest / sk_batch))
    return {"name": name, "fit_ms": r["fit_ms"], "training_ms": r["training_ms"], "sk_fit_ms": sk_fit * 1e3,
            "metric": ours, "sk_metric": sk_m, "mname": mname, "one_json": one_json, "one_arr": one_arr,
            "sk_one": sk_one, "batch": ntest / tb, "sk_batch": ntest / sk_batch, "bytes": r["artifact_bytes"]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100000)
    ap.add_argument("--features", type=int, default=20)
    ap.add_argument("--only", default="")
    ap.add_argument("--levels", type=int, default=0,
                    help="two text features of that many levels with effects of their own: gradient boosting "
                         "only, next to scikit-learn's categorical_features")
    ap.add_argument("--missing", type=float, default=0,
                    help="a share of the feature values made missing (NULL; NaN for scikit-learn): "
                         "gradient boosting only, which both sides handle natively")
    args = ap.parse_args()
    only = set(filter(None, args.only.split(",")))
    if args.missing > 0 or args.levels > 0:
        only = {"gradient_boosting", "gradient_boosting_regression"} & only if only else \
            {"gradient_boosting", "gradient_boosting_regression"}
    import sklearn
    x, y_reg, y_cls, is_test = make_data(args.rows, args.features, levels=args.levels)
    if args.missing > 0:
        x = x.copy()
        x[np.random.RandomState(7).random_sample(x.shape) < args.missing] = np.nan
    c = temp_cluster(prefix="dwc-bench-ml-", port=5623, settings=SETTINGS).init().start()
    try:
        c.create_database(DB)
        conn = c.connect(DB)
        conn.autocommit = True
        cur = conn.cursor()
        cur.execute("SELECT version()")
        print("dwc ML benchmark on %s; scikit-learn %s, single-threaded" % (cur.fetchone()[0].split(",")[0],
                                                                          sklearn.__version__))
        print("data: %d rows x %d features (%d training, %d test), seed 20261201%s" %
              (args.rows, args.features, int((~is_test).sum()), int(is_test.sum()),
               (", %.0f%% of the values missing" % (100 * args.missing) if args.missing > 0 else "") +
               (", two text features of %d levels" % args.levels if args.levels > 0 else "")))
        load(cur, x, y_reg, y_cls, is_test)
        results = []
        for name, task, hp, mk, scale in ALGOS:
            if only and name not in only:
                continue
            results.append(bench_algo(cur, name, task, hp, mk, scale, x, y_reg, y_cls, is_test))
        print("summary (training: dwc fit vs sklearn fit; metric difference in points):")
        for r in results:
            faster = r["sk_fit_ms"] / r["fit_ms"] if r["fit_ms"] > 0 else float("inf")
            d = (r["metric"] - r["sk_metric"]) * (100 if r["mname"] in ("accuracy", "R2") else 1)
            line("  " + r["name"], "fit %5.1fx sklearn's speed (whole call %5.1fx); %s %+.2f%s" % (
                faster, r["sk_fit_ms"] / r["training_ms"], r["mname"], d,
                " points" if r["mname"] in ("accuracy", "R2") else ""))
        conn.close()
    finally:
        c.destroy()


if __name__ == "__main__":
    main()
