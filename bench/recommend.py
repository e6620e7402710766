#!/usr/bin/python3
"""bench/recommend.py: dwc's recommender next to numpy on the same planted data and split.

Data: planted rank-10 ratings, 2,000 users x 3,000 items, 180,000 ratings (3 + u.v + noise,
sigma 0.5), 20% held out; the same training rows and the same test rows on both sides.
Prints, side by side:
  - explicit ALS (rank 10, lambda 0.05 weighted by counts, 10 iterations): dwc.rec_train()
    (the whole call: reading the rows, fitting, storing every factor) next to a vectorised
    numpy ALS (per-entry outer products, np.add.reduceat, batched np.linalg.solve) on one
    thread; held-out RMSE of both;
  - top-10 precision and recall on the held-out ratings >= 4, of dwc's ALS next to numpy
    PureSVD (randomized truncated SVD of the zero-filled training matrix, rank 10), and of
    dwc's own PureSVD;
  - for the record, dwc's BPR on the same rows (it learns which items were rated, not how
    well, so it is no rival on this data);
  - dwc.recommend() for one user (of the ALS model, and of a hybrid of it and popularity)
    and the fold-in of one interaction (dwc.rec_interact),
    per call inside the server, next to a plain INSERT of the same row.
Installs python3-numpy with apt-get if it is missing (as root). Never fails on a timing.
"""
import os
import subprocess
import sys
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
BENCH = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(BENCH), "test", "kit"))
from cluster import temp_cluster  # noqa: E402


def ensure_numpy():
    try:
        import numpy  # noqa: F401
    except ImportError:
        if os.geteuid() != 0:
            sys.exit("bench/recommend.py needs python3-numpy (apt-get install python3-numpy)")
        subprocess.run(["apt-get", "install", "-y", "-q", "python3-numpy"], check=True,
                       env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"), stdout=subprocess.DEVNULL)


ensure_numpy()
import numpy as np  # noqa: E402

USERS, ITEMS, RATINGS, RANK, LAMBDA, ITERS = 2000, 3000, 180000, 10, 0.05, 10
SETTINGS = {"dwc.databases": "''", "shared_buffers": "'256MB'", "work_mem": "'64MB'"}


def line(label, value):
    print("  %-58s %s" % (label, value), flush=True)


def planted(seed=20261203):
    rng = np.random.default_rng(seed)
    U = rng.normal(size=(USERS, RANK)) / np.sqrt(RANK)
    V = rng.normal(size=(ITEMS, RANK))
    cells = rng.choice(USERS * ITEMS, size=RATINGS, replace=False)
    u, i = cells // ITEMS, cells % ITEMS
    r = 3 + np.einsum("nk,nk->n", U[u], V[i]) + rng.normal(scale=0.5, size=RATINGS)
    test = rng.random(RATINGS) < 0.2
    return u.astype(np.int64), i.astype(np.int64), r, test


def numpy_als(u, i, r, n_users, n_items):
    """The same weighted-lambda ALS as dwc's, vectorised."""
    rng = np.random.default_rng(1)
    mean = r.mean()
    v = r - mean
    Y = (rng.random((n_items, RANK)) - 0.5) / np.sqrt(RANK)
    X = np.zeros((n_users, RANK))

    def solve(rows, cols, vals, n_rows, F):
        order = np.argsort(rows, kind="stable")
        rows, cols, vals = rows[order], cols[order], vals[order]
        G = F[cols]
        starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
        present = rows[starts]
        counts = np.diff(np.r_[starts, len(rows)])
        A = np.add.reduceat(G[:, :, None] * G[:, None, :], starts, axis=0)
        A += (LAMBDA * counts)[:, None, None] * np.eye(RANK)
        b = np.add.reduceat(G * vals[:, None], starts, axis=0)
        out = np.zeros((n_rows, RANK))
        out[present] = np.linalg.solve(A, b[:, :, None])[:, :, 0]
        return out

    for _ in range(ITERS):
        X = solve(u, i, v, n_users, Y)
        Y = solve(i, u, v, n_items, X)
    return X, Y, mean


def pure_svd(u, i, r, n_users, n_items, rng):
    """Randomized truncated SVD of the zero-filled training matrix; item factors V (k x items)."""
    R = np.zeros((n_users, n_items))
    R[u, i] = r
    Q = np.linalg.qr(R @ rng.normal(size=(n_items, RANK + 10)))[0]
    for _ in range(2):
        Q = np.linalg.qr(R @ (R.T @ Q))[0]
    _, _, Vt = np.linalg.svd(Q.T @ R, full_matrices=False)
    return R, Vt[:RANK]


def precision_recall(scores, u_tr, i_tr, u_te, i_te, r_te, k=10):
    """Mean top-k precision and recall over users with held-out ratings >= 4, ranking the
    items each user did not train on."""
    scores = scores.copy()
    scores[u_tr, i_tr] = -np.inf
    relevant = {}
    for a, b in zip(u_te[r_te >= 4], i_te[r_te >= 4]):
        relevant.setdefault(int(a), set()).add(int(b))
    ps, rs = [], []
    for user, rel in relevant.items():
        top = np.argpartition(-scores[user], k)[:k]
        hits = len(rel.intersection(top.tolist()))
        ps.append(hits / k)
        rs.append(hits / len(rel))
    return float(np.mean(ps)), float(np.mean(rs))


def factors(cur, model, version):
    """A version's user and item factors, mapped back to the data's indexes."""
    cur.execute("SELECT side, id, factors FROM dwc.rec_factors WHERE version = %s AND model_id = "
                "(SELECT id FROM dwc.rec_models WHERE name = %s)", (version, model))
    X = np.zeros((USERS, RANK))
    Y = np.zeros((ITEMS, RANK))
    for side, ident, f in cur.fetchall():
        (X if side == "u" else Y)[int(ident[1:])] = f
    return X, Y


def per_call_us(cur, body, n):
    cur.execute("DO $$ BEGIN PERFORM set_config('bench.t0', clock_timestamp()::text, false); END $$")
    cur.execute("DO $$ BEGIN FOR i IN 1..%d LOOP %s END LOOP; END $$" % (n, body))
    cur.execute("SELECT extract(epoch FROM clock_timestamp() - current_setting('bench.t0')::timestamptz)")
    return float(cur.fetchone()[0]) * 1e6 / n


def main():
    u, i, r, test = planted()
    tr, te = ~test, test
    print("dwc recommender benchmark: %d users x %d items, %d ratings (%d training, %d held out), "
          "planted rank %d; numpy %s on one thread" % (USERS, ITEMS, RATINGS, tr.sum(), te.sum(), RANK,
                                                       np.__version__))
    c = temp_cluster(prefix="dwc-bench-rec-", port=5624, settings=SETTINGS).init().start()
    try:
        c.create_database("bench")
        conn = c.connect("bench")
        conn.autocommit = True
        cur = conn.cursor()
        # the training rows, as the owner's interactions
        cur.execute("CREATE TEMP TABLE t (user_id text, item_id text, value float8)")
        with open("/tmp/dwc-bench-rec.csv", "w") as f:
            for a, b, v in zip(u[tr], i[tr], r[tr]):
                f.write("u%d,i%d,%.17g\n" % (a, b, v))
        with open("/tmp/dwc-bench-rec.csv") as f:
            cur.copy_expert("COPY t FROM STDIN (FORMAT csv)", f)
        cur.execute("ALTER TABLE dwc.rec_interactions DISABLE TRIGGER rec_fold_in")
        cur.execute("INSERT INTO dwc.rec_interactions (user_id, item_id, value, owner) "
                    "SELECT user_id, item_id, value, 'postgres'::regrole::oid FROM t")
        cur.execute("ALTER TABLE dwc.rec_interactions ENABLE TRIGGER rec_fold_in")
        cur.execute("SELECT dwc.rec_create_model('bench', 'als', %s)",
                    ('{"rank": %d, "lambda": %g, "iterations": %d}' % (RANK, LAMBDA, ITERS),))

        times = []
        for _ in range(2):
            t0 = time.monotonic()
            cur.execute("SELECT dwc.rec_train('bench', '{\"test_size\": 0}')")
            times.append((time.monotonic() - t0) * 1000)
            info = cur.fetchone()[0]
        X, Y = factors(cur, "bench", info["version"])
        cur.execute("SELECT mean FROM dwc.rec_versions WHERE version = %s AND model_id = "
                    "(SELECT id FROM dwc.rec_models WHERE name = 'bench')", (info["version"],))
        dmean = cur.fetchone()[0]

        np_times = []
        for _ in range(2):
            t0 = time.monotonic()
            NX, NY, nmean = numpy_als(u[tr], i[tr], r[tr], USERS, ITEMS)
            np_times.append((time.monotonic() - t0) * 1000)

        def rmse(Xf, Yf, m):
            p = m + np.einsum("nk,nk->n", Xf[u[te]], Yf[i[te]])
            return float(np.sqrt(np.mean((p - r[te]) ** 2)))

        print("explicit ALS, rank %d, %d iterations:" % (RANK, ITERS))
        line("dwc.rec_train() whole call (two runs)", " / ".join("%.0f ms" % t for t in times))
        line("numpy vectorised ALS, fit alone (two runs)", " / ".join("%.0f ms" % t for t in np_times))
        line("held-out RMSE dwc / numpy", "%.4f / %.4f" % (rmse(X, Y, dmean), rmse(NX, NY, nmean)))
        line("dwc's time as a share of numpy's", "%.2f" % (min(times) / min(np_times)))

        t0 = time.monotonic()
        R, Vt = pure_svd(u[tr], i[tr], r[tr], USERS, ITEMS, np.random.default_rng(2))
        svd_ms = (time.monotonic() - t0) * 1000
        svd_scores = (R @ Vt.T) @ Vt
        als_scores = dmean + X @ Y.T
        p_als, r_als = precision_recall(als_scores, u[tr], i[tr], u[te], i[te], r[te])
        p_svd, r_svd = precision_recall(svd_scores, u[tr], i[tr], u[te], i[te], r[te])
        # dwc's own PureSVD on the same training rows
        cur.execute("SELECT dwc.rec_create_model('bench_svd', 'svd', %s)", ('{"rank": %d}' % RANK,))
        t0 = time.monotonic()
        cur.execute("SELECT dwc.rec_train('bench_svd', '{\"test_size\": 0}')")
        dsvd_ms = (time.monotonic() - t0) * 1000
        sinfo = cur.fetchone()[0]
        SX, SY = factors(cur, "bench_svd", sinfo["version"])
        p_dsvd, r_dsvd = precision_recall(SX @ SY.T, u[tr], i[tr], u[te], i[te], r[te])
        print("top-10 on the held-out ratings >= 4:")
        line("precision@10 dwc ALS / numpy PureSVD", "%.4f / %.4f" % (p_als, p_svd))
        line("recall@10 dwc ALS / numpy PureSVD", "%.4f / %.4f" % (r_als, r_svd))
        line("precision@10 / recall@10 of dwc's own PureSVD", "%.4f / %.4f" % (p_dsvd, r_dsvd))
        line("PureSVD fit: dwc whole call / numpy (randomized)", "%.0f ms / %.0f ms" % (dsvd_ms, svd_ms))
        # BPR learns which items a user rated at all, not how well: for the record, not a bar
        cur.execute("SELECT dwc.rec_create_model('bench_bpr', 'bpr', %s)", ('{"rank": %d}' % RANK,))
        t0 = time.monotonic()
        cur.execute("SELECT dwc.rec_train('bench_bpr', '{\"test_size\": 0}')")
        bpr_ms = (time.monotonic() - t0) * 1000
        BX, BY = factors(cur, "bench_bpr", cur.fetchone()[0]["version"])
        p_bpr, r_bpr = precision_recall(BX @ BY.T, u[tr], i[tr], u[te], i[te], r[te])
        line("precision@10 / recall@10 of dwc's BPR (30 epochs)", "%.4f / %.4f" % (p_bpr, r_bpr))
        line("BPR fit: dwc whole call", "%.0f ms" % bpr_ms)
        cur.execute("SELECT dwc.rec_delete_model('bench_bpr')")

        # the per-call figures are for one deployed model (a fold-in updates every one of them)
        cur.execute("SELECT dwc.rec_delete_model('bench_svd')")
        print("per call, inside the server, one deployed ALS model:")
        cur.execute("SELECT count(*) FROM dwc.recommend('u1', 'bench', 10)")    # warm the item cache
        line("dwc.recommend(one user, 10 items)", "%.0f us" % per_call_us(
            cur, "PERFORM count(*) FROM dwc.recommend('u' || (i % 2000), 'bench', 10);", 500))
        # a hybrid of the ALS model and popularity: two components scored and combined per call
        cur.execute("SELECT dwc.rec_create_model('bench_pop', 'popularity')")
        cur.execute("SELECT dwc.rec_train('bench_pop', '{\"test_size\": 0}')")
        cur.execute("SELECT dwc.rec_create_model('bench_hybrid', 'hybrid', %s)",
                    ('{"models": [{"model": "bench", "weight": 0.8}, {"model": "bench_pop", "weight": 0.2}]}',))
        cur.execute("SELECT dwc.rec_train('bench_hybrid')")
        cur.execute("SELECT count(*) FROM dwc.recommend('u1', 'bench_hybrid', 10)")
        line("dwc.recommend(one user, 10 items), hybrid ALS + popularity", "%.0f us" % per_call_us(
            cur, "PERFORM count(*) FROM dwc.recommend('u' || (i % 2000), 'bench_hybrid', 10);", 500))
        line("fold-in: dwc.rec_interact() of one rating", "%.0f us" % per_call_us(
            cur, "PERFORM dwc.rec_interact('u' || (i % 2000), 'i' || (i % 3000), 4);", 500))
        cur.execute("CREATE TEMP TABLE plain (LIKE dwc.rec_interactions INCLUDING DEFAULTS INCLUDING IDENTITY)")
        line("baseline: plain INSERT of the same row", "%.0f us" % per_call_us(
            cur, "INSERT INTO plain (user_id, item_id, value, owner) VALUES ('u' || (i % 2000), "
                 "'i' || (i % 3000), 4, 10);", 500))
        conn.close()
    finally:
        c.destroy()
        if os.path.exists("/tmp/dwc-bench-rec.csv"):
            os.unlink("/tmp/dwc-bench-rec.csv")


if __name__ == "__main__":
    main()
