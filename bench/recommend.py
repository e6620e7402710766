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
  - dwc.rec_predict() of every held-out pair, next to numpy's row products (on row numbers,
    and from the ids); dwc.recommend_many() of every user next to numpy's top 10 of X Y';
  - popularity's whole training call warm next to numpy's bincount; user-kNN's top 10 of
    every user in one dwc.recommend_many() call;
  - dwc.recommend() for one user (of the ALS model, and of a hybrid of it and popularity)
    and the fold-in of one interaction (dwc.rec_interact),
    per call inside the server, next to a plain INSERT of the same row.
Then every algorithm side by side with a numpy reference (bench/recommend.py --algorithms):
  - "mnar": missing-not-at-random feedback as in real systems: a planted rank-10 preference,
    log-normal user activity, heavy-tailed item popularity correlated with item quality, and
    users rating more of what they like; 2,000 users x 3,000 items, 180,000 training ratings
    and a random 10% of each user's ratings held out;
  - "mnar" again as implicit feedback: the training ratings >= 4 as positives (value 1), the
    others left out, for popularity, PureSVD, implicit ALS and BPR (the issue's bar: the
    implicit models at least at PureSVD's precision);
  - "uniform": the planted ratings above, observed uniformly at random, the same 20% held out.
  dwc's figures are its own held-out evaluation (dwc.rec_train() with test_from: the held-out
  rows are the newest), the references' the same metrics computed here in numpy: RMSE over
  every held-out pair clipped to [1, 5]; precision and recall at 10 over the users with a
  held-out rating >= 4, ranking only items unseen in training; coverage at 10. Time: dwc's
  wall and the backend's CPU (/proc), and the fit alone (its fit_ms: without reading the rows,
  evaluating and storing), numpy's CPU on one thread.
Installs python3-numpy with apt-get if it is missing (as root). Never fails on a timing.
"""
import contextlib
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


def mnar(seed=20261207, train_ratings=180000):
    """Missing-not-at-random ratings: what users see depends on popularity and on their taste."""
    rng = np.random.default_rng(seed)
    U = rng.normal(size=(USERS, RANK)) / np.sqrt(RANK)
    V = rng.normal(size=(ITEMS, RANK))
    quality = rng.normal(scale=0.5, size=ITEMS)
    # heavy-tailed popularity, correlated with quality
    popularity = np.exp(1.2 * (0.6 * quality / 0.5 + 0.8 * rng.normal(size=ITEMS)))
    total = int(train_ratings / 0.9)
    activity = np.exp(rng.normal(size=USERS))
    n_u = np.clip(np.round(activity / activity.sum() * total), 5, ITEMS // 2).astype(int)
    us, its, rs, te = [], [], [], []
    for user in range(USERS):
        affinity = V @ U[user] + quality
        w = popularity * np.exp(1.0 * affinity)          # users rate more of what they like
        chosen = rng.choice(ITEMS, size=n_u[user], replace=False, p=w / w.sum())
        r = np.clip(3 + affinity[chosen] + rng.normal(scale=0.5, size=len(chosen)), 1, 5)
        held = np.zeros(len(chosen), dtype=bool)
        held[rng.choice(len(chosen), size=max(1, int(round(0.1 * len(chosen)))), replace=False)] = True
        us.append(np.full(len(chosen), user))
        its.append(chosen)
        rs.append(r)
        te.append(held)
    return (np.concatenate(us).astype(np.int64), np.concatenate(its).astype(np.int64), np.concatenate(rs),
            np.concatenate(te))


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


def ranking(scores, u_tr, i_tr, u_te, i_te, r_te, k=10):
    """Mean P@k, R@k over users with a held-out rating >= 4, ranking unseen items; coverage@k
    over those users' lists. NaN scores (nothing reaches the item) rank last."""
    scores = np.where(np.isnan(scores), -np.inf, scores)
    scores[u_tr, i_tr] = -np.inf
    relevant = {}
    for a, b in zip(u_te[r_te >= 4], i_te[r_te >= 4]):
        relevant.setdefault(int(a), set()).add(int(b))
    ps, rs, shown = [], [], set()
    for user, rel in relevant.items():
        row = scores[user]
        top = np.argsort(-row, kind="stable")[:k]
        top = [t for t in top.tolist() if row[t] > -np.inf]
        hits = len(rel.intersection(top))
        ps.append(hits / k)
        rs.append(hits / len(rel))
        shown.update(top)
    return float(np.mean(ps)), float(np.mean(rs)), len(shown) / scores.shape[1]


def dense(u, i, r, n_users, n_items):
    R = np.zeros((n_users, n_items))
    R[u, i] = r
    return R


def top_k_rows(S, k):
    """S with all but each row's k largest entries zeroed."""
    out = np.zeros_like(S)
    idx = np.argpartition(-S, k, axis=1)[:, :k]
    rows = np.arange(S.shape[0])[:, None]
    out[rows, idx] = S[rows, idx]
    return out


def cosine(M):
    """Cosine of M's rows with each other, the diagonal zeroed."""
    n = np.sqrt((M * M).sum(axis=1))
    n[n == 0] = 1
    S = (M @ M.T) / n[:, None] / n[None, :]
    np.fill_diagonal(S, 0)
    return S


def biases(u, i, r, n_users, n_items):
    """mu, b_i (shrunk by 25), b_u (by 10): the baseline of the neighbourhood predictions."""
    mu = r.mean()
    bi = np.bincount(i, r - mu, n_items) / (25 + np.bincount(i, minlength=n_items))
    bu = np.bincount(u, r - mu - bi[i], n_users) / (10 + np.bincount(u, minlength=n_users))
    return mu, bi, bu


def neighbourhood(u, i, r, R, S, over):
    """Ranking scores (the summed similarity, NaN where none reaches) and predictions
    (baseline plus weighted deviations) of a kNN model whose neighbours S a user x item
    matrix M is carried over by over(M, S)."""
    B = (R != 0).astype(float)
    rank = over(B, S)
    rank[rank == 0] = np.nan
    mu, bi, bu = biases(u, i, r, *R.shape)
    D = np.zeros_like(R)
    D[u, i] = r - (mu + bu[u] + bi[i])
    num, den = over(D, S), over(B, np.abs(S))
    pred = mu + bu[:, None] + bi[None, :] + np.divide(num, den, out=np.zeros_like(num), where=den > 0)
    return rank, pred


def item_knn_ref(u, i, r, n_users, n_items, k=50):
    """Item-kNN: cosine of rating columns, each item's 50 best; rank by the sum of the
    similarities over the user's items; predict baseline + weighted deviations."""
    R = dense(u, i, r, n_users, n_items)
    S = top_k_rows(cosine(R.T), k)                       # S[i, j]: j among i's neighbours
    return neighbourhood(u, i, r, R, S, lambda M, T: M @ T)


def user_knn_ref(u, i, r, n_users, n_items, k=50):
    """User-kNN: cosine of rating rows, each user's 50 best; rank by the sum of the similarities
    of the neighbours who rated the item; predict baseline + weighted deviations."""
    R = dense(u, i, r, n_users, n_items)
    S = top_k_rows(cosine(R), k)                         # S[u, v]: v among u's neighbours
    return neighbourhood(u, i, r, R, S, lambda M, T: T @ M)


def numpy_ials(u, i, v, n_users, n_items, alpha=2.0, lam=10.0, iters=ITERS):
    """Implicit ALS as Hu, Koren and Volinsky: preference 1 where v > 0, confidence 1 + alpha v;
    each row's system F'F + F_u'(C_u - I)F_u + lam I solved at once for all rows (batched)."""
    rng = np.random.default_rng(1)
    Y = (rng.random((n_items, RANK)) - 0.5) / np.sqrt(RANK)
    X = np.zeros((n_users, RANK))
    w = alpha * np.maximum(v, 0)

    def solve(rows, cols, n_rows, F):
        order = np.argsort(rows, kind="stable")
        rows, cols, ww = rows[order], cols[order], w[order]
        G = F[cols]
        starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
        present = rows[starts]
        A = np.broadcast_to(F.T @ F + lam * np.eye(RANK), (n_rows, RANK, RANK)).copy()
        A[present] += np.add.reduceat(ww[:, None, None] * G[:, :, None] * G[:, None, :], starts, axis=0)
        b = np.zeros((n_rows, RANK))
        b[present] = np.add.reduceat(G * (1 + ww)[:, None], starts, axis=0)
        return np.linalg.solve(A, b[:, :, None])[:, :, 0]

    for _ in range(iters):
        X = solve(u, i, n_users, Y)
        Y = solve(i, u, n_items, X)
    return X @ Y.T


def numpy_bpr(u, i, n_users, n_items, lr=0.02, lam=0.03, epochs=100, batch=256):
    """BPR with an item bias (Rendle et al.), uniform negatives; steps taken a mini-batch of
    sampled triples at a time (np.add.at), which is how numpy can take them at all."""
    rng = np.random.default_rng(1)
    X = (rng.random((n_users, RANK)) - 0.5) / np.sqrt(RANK)
    Y = (rng.random((n_items, RANK)) - 0.5) / np.sqrt(RANK)
    b = np.zeros(n_items)
    n = len(u)
    for _ in range(epochs):
        p, neg = rng.integers(0, n, n), rng.integers(0, n_items, n)
        for s in range(0, n, batch):
            us, pos, j = u[p[s:s + batch]], i[p[s:s + batch]], neg[s:s + batch]
            xu, yi, yj = X[us], Y[pos], Y[j]
            g = 1 / (1 + np.exp(np.einsum("nk,nk->n", xu, yi - yj) + b[pos] - b[j]))
            np.add.at(X, us, lr * (g[:, None] * (yi - yj) - lam * xu))
            np.add.at(Y, pos, lr * (g[:, None] * xu - lam * yi))
            np.add.at(Y, j, lr * (-g[:, None] * xu - lam * yj))
            np.add.at(b, pos, lr * (g - lam * b[pos]))
            np.add.at(b, j, lr * (-g - lam * b[j]))
    return X @ Y.T + b[None, :]


def backend_cpu_ms(cur):
    """The CPU time this connection's backend has used (utime + stime, /proc), in ms."""
    cur.execute("SELECT pg_backend_pid()")
    with open("/proc/%d/stat" % cur.fetchone()[0]) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000.0 / os.sysconf("SC_CLK_TCK")


def side_by_side(cur, name, u, i, r, test, positives=False):
    """Every algorithm on one data set: dwc's held-out figures next to numpy's. positives:
    the training ratings >= 4 become 1 and the others are left out (implicit feedback: what
    users liked), for the models that learn from it; the held-out rows stay as they are."""
    if positives:
        keep = test | (r >= 4)
        u, i, r, test = u[keep], i[keep], np.where(test[keep], r[keep], 1.0), test[keep]
    tr, te = ~test, test
    print("%s: %d users x %d items, %d training %s, %d held out (%s)" % (
        name, USERS, ITEMS, tr.sum(), "positives" if positives else "ratings", te.sum(),
        "%.0f%% of the items hold half the ratings" % (100 * np.searchsorted(
            np.cumsum(np.sort(np.bincount(i, minlength=ITEMS))[::-1]), len(i) / 2) / ITEMS)), flush=True)
    cur.execute("TRUNCATE dwc.rec_interactions")
    cur.execute("CREATE TEMP TABLE IF NOT EXISTS t (user_id text, item_id text, value float8, held bool)")
    cur.execute("TRUNCATE t")
    with open("/tmp/dwc-bench-rec.csv", "w") as f:
        for a, b, v, h in zip(u, i, r, test):
            f.write("u%d,i%d,%.17g,%s\n" % (a, b, v, "t" if h else "f"))
    with open("/tmp/dwc-bench-rec.csv") as f:
        cur.copy_expert("COPY t FROM STDIN (FORMAT csv)", f)
    # the held-out rows are the newest: dwc.rec_train(test_from) holds out exactly them
    cur.execute("ALTER TABLE dwc.rec_interactions DISABLE TRIGGER rec_fold_in")
    cur.execute("INSERT INTO dwc.rec_interactions (user_id, item_id, value, owner, at) "
                "SELECT user_id, item_id, value, 'postgres'::regrole::oid, "
                "CASE WHEN held THEN '2026-06-02'::timestamptz ELSE '2026-06-01' END FROM t")
    cur.execute("ALTER TABLE dwc.rec_interactions ENABLE TRIGGER rec_fold_in")
    opts = '{"test_from": "2026-06-02", "relevant": 4, "k": 10}'
    print("  %-14s %8s %8s %8s %8s %6s %6s %7s %7s %9s %9s %9s %9s" % (
        "model", "P@10", "ref", "R@10", "ref", "cov", "ref", "RMSE", "ref", "dwc wall", "dwc CPU", "dwc fit",
        "ref CPU"))

    def row(label, m, ref, rmse_ref=None, ref_ms=None):
        print("  %-14s %8.4f %8s %8.4f %8s %6.3f %6s %7s %7s %7.0f ms %7.0f ms %7.0f ms %9s" % (
            label, m.get("precision_at_k") or 0, "%.4f" % ref[0] if ref else "",
            m.get("recall_at_k") or 0, "%.4f" % ref[1] if ref else "", m.get("coverage") or 0,
            "%.3f" % ref[2] if ref else "", "%.4f" % m["rmse"] if m.get("rmse") is not None else "",
            "%.4f" % rmse_ref if rmse_ref is not None else "", m["_wall"], m["_cpu"], m["fit_ms"],
            "%.0f ms" % ref_ms if ref_ms is not None else ""), flush=True)

    def train(model, algorithm, hp):
        cur.execute("SELECT dwc.rec_delete_model(%s) FROM dwc.rec_models WHERE name = %s", (model, model))
        cur.execute("SELECT dwc.rec_create_model(%s, %s, %s)", (model, algorithm, hp))
        c0, t0 = backend_cpu_ms(cur), time.monotonic()
        cur.execute("SELECT dwc.rec_train(%s, %s)", (model, opts))
        info = cur.fetchone()[0]
        m = dict(info["metrics"])
        m["_wall"] = (time.monotonic() - t0) * 1000
        m["_cpu"] = backend_cpu_ms(cur) - c0
        return m

    def clipped_rmse(pred):
        p = np.clip(pred[u[te], i[te]], 1, 5)
        return float(np.sqrt(np.mean((p - r[te]) ** 2)))

    def pure_svd_row():
        c0 = time.process_time()
        R, Vt = pure_svd(u[tr], i[tr], r[tr], USERS, ITEMS, np.random.default_rng(2))
        svd = (R @ Vt.T) @ Vt
        ref_ms = (time.process_time() - c0) * 1000
        row("PureSVD", train("b_svd", "svd", '{"rank": %d}' % RANK), ranking(svd, *args), None, ref_ms)

    def implicit_rows():
        """Implicit ALS (the values as confidence 1 + 2v) and BPR (every row a positive),
        dwc's defaults on both sides."""
        c0 = time.process_time()
        scores = numpy_ials(u[tr], i[tr], r[tr], USERS, ITEMS)
        ref_ms = (time.process_time() - c0) * 1000
        row("implicit ALS", train("b_ials", "implicit_als", '{"rank": %d}' % RANK), ranking(scores, *args),
            None, ref_ms)
        c0 = time.process_time()
        scores = numpy_bpr(u[tr], i[tr], USERS, ITEMS)
        ref_ms = (time.process_time() - c0) * 1000
        row("BPR", train("b_bpr", "bpr", '{"rank": %d}' % RANK), ranking(scores, *args), None, ref_ms)
        print("  (ref: numpy on the same rows, one thread, BPR in mini-batches of 256 triples; dwc's RMSE is not"
              " clipped)", flush=True)

    args = (u[tr], i[tr], u[te], i[te], r[te])
    c0 = time.process_time()
    pop = np.bincount(i[tr], minlength=ITEMS).astype(float)
    pop_ms = (time.process_time() - c0) * 1000
    row("popularity", train("b_pop", "popularity", '{"half_life_days": 36500}'),
        ranking(np.tile(pop, (USERS, 1)), *args), None, pop_ms)
    if positives:
        pure_svd_row()
        implicit_rows()
        return
    c0 = time.process_time()
    rank, pred = item_knn_ref(u[tr], i[tr], r[tr], USERS, ITEMS)
    ref_ms = (time.process_time() - c0) * 1000
    row("item-kNN", train("b_iknn", "item_knn", '{"neighbors": 50, "shrinkage": 0}'), ranking(rank, *args),
        clipped_rmse(pred), ref_ms)
    c0 = time.process_time()
    rank, pred = user_knn_ref(u[tr], i[tr], r[tr], USERS, ITEMS)
    ref_ms = (time.process_time() - c0) * 1000
    row("user-kNN", train("b_uknn", "user_knn", '{"neighbors": 50, "shrinkage": 0}'), ranking(rank, *args),
        clipped_rmse(pred), ref_ms)
    pure_svd_row()
    c0 = time.process_time()
    NX, NY, nmean = numpy_als(u[tr], i[tr], r[tr], USERS, ITEMS)
    ref_ms = (time.process_time() - c0) * 1000
    als = nmean + NX @ NY.T
    row("ALS", train("b_als", "als", '{"rank": %d, "lambda": %g, "iterations": %d}' % (RANK, LAMBDA, ITERS)),
        ranking(als, *args), clipped_rmse(als), ref_ms)
    implicit_rows()




def factors(cur, model, version):
    """A version's user and item factors, mapped back to the data's indexes."""
    cur.execute("SELECT side, id, factors FROM dwc.rec_factors WHERE version = %s AND model_id = "
                "(SELECT id FROM dwc.rec_models WHERE name = %s)", (version, model))
    rows = cur.fetchall()
    width = len(rows[0][2])                 # BPR's have the item bias (and a user's 1) last
    X = np.zeros((USERS, width))
    Y = np.zeros((ITEMS, width))
    for side, ident, f in rows:
        (X if side == "u" else Y)[int(ident[1:])] = f
    return X, Y


def per_call_us(cur, body, n):
    cur.execute("DO $$ BEGIN PERFORM set_config('bench.t0', clock_timestamp()::text, false); END $$")
    cur.execute("DO $$ BEGIN FOR i IN 1..%d LOOP %s END LOOP; END $$" % (n, body))
    cur.execute("SELECT extract(epoch FROM clock_timestamp() - current_setting('bench.t0')::timestamptz)")
    return float(cur.fetchone()[0]) * 1e6 / n


@contextlib.contextmanager
def bench_database():
    """A cursor on a fresh cluster's database "bench", autocommit; the cluster and the CSV
    file are gone afterwards."""
    c = temp_cluster(prefix="dwc-bench-rec-", port=5624, settings=SETTINGS).init().start()
    try:
        c.create_database("bench")
        conn = c.connect("bench")
        conn.autocommit = True
        yield conn.cursor()
        conn.close()
    finally:
        c.destroy()
        if os.path.exists("/tmp/dwc-bench-rec.csv"):
            os.unlink("/tmp/dwc-bench-rec.csv")


def algorithms():
    """The side-by-side tables alone (bench/recommend.py --algorithms)."""
    with bench_database() as cur:
        side_by_side(cur, "mnar", *mnar())
        side_by_side(cur, "mnar", *mnar(), positives=True)
        side_by_side(cur, "uniform", *planted())


def main():
    u, i, r, test = planted()
    tr, te = ~test, test
    print("dwc recommender benchmark: %d users x %d items, %d ratings (%d training, %d held out), "
          "planted rank %d; numpy %s on one thread" % (USERS, ITEMS, RATINGS, tr.sum(), te.sum(), RANK,
                                                       np.__version__))
    with bench_database() as cur:
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
        # the steady state of a table autovacuum has passed over (the visibility map set)
        cur.execute("VACUUM ANALYZE dwc.rec_interactions")
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
        # every held-out pair scored in one call, next to numpy's row products on the factors
        users, items = ["u%d" % a for a in u[te]], ["i%d" % b for b in i[te]]
        # the pairs as two text[] values, as a client sends arrays (psycopg2's ARRAY[...] of 72,000
        # literals would time the SQL parser); the call's time without fetching 36,000 rows into
        # Python: the best of three
        ulit, ilit = "{%s}" % ",".join(users), "{%s}" % ",".join(items)
        predict_ms = 1e9
        for _ in range(3):
            t0 = time.monotonic()
            cur.execute("SELECT count(predicted) FROM dwc.rec_predict('bench', %s::text[], %s::text[])", (ulit, ilit))
            cur.fetchall()
            predict_ms = min(predict_ms, (time.monotonic() - t0) * 1000)
        cur.execute("SELECT predicted FROM dwc.rec_predict('bench', %s::text[], %s::text[])", (ulit, ilit))
        got = np.array([row[0] for row in cur.fetchall()], dtype=float)
        t0 = time.process_time()
        ref = dmean + np.einsum("nk,nk->n", X[u[te]], Y[i[te]])
        ref_ms = (time.process_time() - t0) * 1000
        # what numpy needs as well when the pairs come as ids: their rows, looked up
        urow = {"u%d" % a: a for a in range(USERS)}
        irow = {"i%d" % b: b for b in range(ITEMS)}
        t0 = time.process_time()
        uu = np.fromiter((urow[x] for x in users), dtype=np.int64, count=len(users))
        ii = np.fromiter((irow[x] for x in items), dtype=np.int64, count=len(items))
        ids_ref = dmean + np.einsum("nk,nk->n", X[uu], Y[ii])
        ids_ms = (time.process_time() - t0) * 1000
        assert np.array_equal(ids_ref, ref)
        line("dwc.rec_predict(%d pairs) / numpy row products" % te.sum(), "%.0f ms / %.1f ms (largest difference %.1e)"
             % (predict_ms, ref_ms, np.nanmax(np.abs(got - ref))))
        line("  numpy from the ids (their rows looked up in dicts)", "%.1f ms" % ids_ms)
        # the function alone, its arrays already values in the server as numpy's lists are in
        # Python (no text to parse, nothing sent): best of 20 inside one DO block, next to a
        # bare unnest of the same two arrays (the floor of any set-returning function)
        cur.execute("CREATE TEMP TABLE pairs AS SELECT %s::text[] AS u, %s::text[] AS i", (ulit, ilit))
        cur.execute("""DO $$
            DECLARE uu text[]; ii text[]; n int; t0 timestamptz; best float8 := 1e9; floor float8 := 1e9;
            BEGIN
              SELECT u, i INTO uu, ii FROM pairs;
              FOR r IN 1..20 LOOP
                t0 := clock_timestamp();
                SELECT count(predicted) INTO n FROM dwc.rec_predict('bench', uu, ii);
                best := least(best, extract(epoch FROM clock_timestamp() - t0) * 1000);
                t0 := clock_timestamp();
                SELECT count(*) INTO n FROM unnest(uu, ii);
                floor := least(floor, extract(epoch FROM clock_timestamp() - t0) * 1000);
              END LOOP;
              PERFORM set_config('bench.predict_ms', best::text, false);
              PERFORM set_config('bench.unnest_ms', floor::text, false);
            END $$""")
        cur.execute("SELECT current_setting('bench.predict_ms')::float8, current_setting('bench.unnest_ms')::float8")
        server_ms, unnest_ms = cur.fetchone()
        line("  dwc.rec_predict in the server, arrays held (best of 20)", "%.1f ms (%.2f of numpy from the ids; "
             "count(*) of unnest of the two arrays %.1f ms)" % (server_ms, server_ms / ids_ms, unnest_ms))
        # the top 10 of every user, unseen items only, next to numpy on the same factors
        recall_ms = 1e9
        for _ in range(3):
            t0 = time.monotonic()
            cur.execute("SELECT count(*) FROM dwc.recommend_many('bench')")
            rows = cur.fetchone()[0]
            recall_ms = min(recall_ms, (time.monotonic() - t0) * 1000)
        t0 = time.process_time()
        S = dmean + X @ Y.T
        S[u[tr], i[tr]] = -np.inf
        part = np.argpartition(-S, 10, axis=1)[:, :10]
        order = np.take_along_axis(S, part, axis=1).argsort(axis=1)[:, ::-1]
        top = np.take_along_axis(part, order, axis=1)
        top_ms = (time.process_time() - t0) * 1000
        cur.execute("SELECT user_id, item_id FROM dwc.recommend_many('bench') WHERE user_id = 'u7' ORDER BY rank")
        same = [int(b[1:]) for _, b in cur.fetchall()] == top[7].tolist()
        line("top 10 of every user: dwc.recommend_many / numpy", "%.0f ms / %.0f ms (%d rows; user u7's list %s)"
             % (recall_ms, top_ms, rows, "the same" if same else "DIFFERS"))
        line("dwc's time as a share of numpy's", "%.2f" % (min(times) / min(np_times)))
        # popularity: a count per item, the whole call warm (the best of three), no held-out rows
        cur.execute("SELECT dwc.rec_create_model('bench_count', 'popularity', '{\"half_life_days\": 36500}')")
        pop_ms = 1e9
        for _ in range(3):
            t0 = time.monotonic()
            cur.execute("SELECT dwc.rec_train('bench_count', '{\"test_size\": 0}')")
            pop_ms = min(pop_ms, (time.monotonic() - t0) * 1000)
        t0 = time.process_time()
        np.bincount(i[tr], minlength=ITEMS).argsort()
        line("popularity: dwc.rec_train() whole call (best of 3) / numpy bincount",
             "%.0f ms / %.1f ms" % (pop_ms, (time.process_time() - t0) * 1000))
        cur.execute("SELECT dwc.rec_delete_model('bench_count')")
        # user-kNN: the top 10 of every user in one call
        cur.execute("SELECT dwc.rec_create_model('bench_uknn', 'user_knn', '{\"neighbors\": 50, \"shrinkage\": 0}')")
        cur.execute("SELECT dwc.rec_train('bench_uknn', '{\"test_size\": 0}')")
        t0 = time.monotonic()
        cur.execute("SELECT count(*) FROM dwc.recommend_many('bench_uknn')")
        line("top 10 of every user, user-kNN: dwc.recommend_many", "%.0f ms (%d rows)"
             % ((time.monotonic() - t0) * 1000, cur.fetchone()[0]))
        cur.execute("SELECT dwc.rec_delete_model('bench_uknn')")

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
        line("precision@10 / recall@10 of dwc's BPR (100 epochs)", "%.4f / %.4f" % (p_bpr, r_bpr))
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


if __name__ == "__main__":
    if "--algorithms" not in sys.argv:
        main()
    algorithms()
