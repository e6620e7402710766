#!/usr/bin/python3
"""bench/queue.py: job queue and scheduler benchmarks, with same-machine baselines.

Prints, in one run:
  - enqueue rate of 20,000 noop jobs (dwc.enqueue per call, and dwc.enqueue_many);
  - processing rate of 20,000 noop jobs with 4 and 16 job workers;
  - processing rate of sql jobs with 4 workers: a bare SELECT 1 (where the per-job cost of
    running user SQL alone, src/queue/isolation.c, shows most) and one that creates a
    temporary table (the worst case: the job's temporary objects are dropped when it ends);
  - the raw reference: a plain DELETE ... FOR UPDATE SKIP LOCKED queue drained by pgbench
    with 4 clients, one job per transaction and 100 jobs per transaction;
  - idle enqueue-to-start latency p50/p99 over 200 jobs, next to LISTEN/NOTIFY's
    notify-to-receive latency on the same server;
  - cron lateness (fire time to enqueue, and to job start) of an every-second schedule.

Run as root or as a user who can start PostgreSQL: builds nothing, uses the installed dwc.
    bench/queue.py [--jobs 20000] [--cron-seconds 20] [--only noop,sql,raw,enqueue,latency,cron]
Never fails on a timing: it prints figures.
"""
import argparse
import os
import select
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "test", "kit"))

from benchkit import pgbench as benchkit_pgbench  # noqa: E402
from cluster import temp_cluster  # noqa: E402

DB = "bench"
SETTINGS = {
    "dwc.databases": "'%s'" % DB,
    "dwc.job_workers": "4",
    "fsync": "on",                      # benchmark with durable commits, as in production
    "shared_buffers": "'512MB'",
    "max_worker_processes": "40",
    "max_connections": "100",
    "wal_level": "minimal",
    "max_wal_senders": "0",
    "checkpoint_timeout": "'15min'",
    "max_wal_size": "'4GB'",
}


def pct(values, p):
    v = sorted(values)
    if not v:
        return float("nan")
    k = (len(v) - 1) * p
    f = int(k)
    c = min(f + 1, len(v) - 1)
    return v[f] + (v[c] - v[f]) * (k - f)


def line(label, value):
    print("  %-58s %s" % (label, value), flush=True)


def set_workers(c, n):
    c.sql("ALTER SYSTEM SET dwc.job_workers = %d" % n)
    c.sql("SELECT pg_reload_conf()")
    c.wait_for("SELECT count(*) = %d FROM dwc.status() WHERE kind = 'job' AND database = current_database() "
               "AND state = 'idle'" % n, dbname=DB, timeout=60)
    c.wait_for("SELECT count(*) = %d FROM pg_stat_activity WHERE backend_type = 'dwc job worker'" % n,
               dbname=DB, timeout=60)


def drain_rate(c, njobs, kind="noop", sql=None):
    """Enqueue njobs jobs (noop, or sql jobs running sql) into a paused queue, resume, time
    until all are done."""
    c.sql("TRUNCATE dwc.job_history", dbname=DB)
    c.sql("SELECT dwc.pause_queue('default')", dbname=DB)
    payload = "jsonb_build_object('sql', %s::text)" if sql else "'{}'"
    c.sql("SELECT count(*) FROM (SELECT dwc.enqueue(%%s, %s) FROM generate_series(1, %d)) s" % (payload, njobs),
          (kind, sql) if sql else (kind,), dbname=DB)
    c.sql("CHECKPOINT")
    conn = c.connect(DB)
    cur = conn.cursor()
    t0 = time.monotonic()
    cur.execute("SELECT dwc.resume_queue('default')")
    while True:
        cur.execute("SELECT NOT EXISTS (SELECT 1 FROM dwc.jobs)")
        if cur.fetchone()[0]:
            break
        time.sleep(0.005)
    wall = time.monotonic() - t0
    cur.execute("SELECT count(*), extract(epoch FROM max(finished_at) - min(started_at)) FROM dwc.job_history")
    n, span = cur.fetchone()
    conn.close()
    assert n == njobs, (n, njobs)
    failed = c.scalar("SELECT count(*) FROM dwc.job_history WHERE status <> 'succeeded'", dbname=DB)
    assert failed == 0, failed
    return njobs / wall, njobs / span


def bench_enqueue(c, njobs):
    """Enqueue rates, one client, a transaction a call (durable commits), the queue paused so
    that no worker competes: one job a call and 1,000 a call, each next to its raw reference
    (a plain INSERT into a two-column table) and next to the insert it is (a plain INSERT of
    the same row into dwc.jobs). Rounds alternate; the best of three of each is kept."""
    c.sql("SELECT dwc.pause_queue('default')", dbname=DB)
    c.sql("DROP TABLE IF EXISTS rawq", dbname=DB)
    c.sql("CREATE TABLE rawq (id bigserial PRIMARY KEY, payload jsonb NOT NULL DEFAULT '{}')", dbname=DB)
    role = c.scalar("SELECT 'postgres'::regrole::oid", dbname=DB)
    jobs_row = ("'default', 'noop', '{}', 0, now(), 5, 300000, %d" % role)
    jobs_cols = "dwc.jobs (queue, kind, payload, priority, run_at, max_attempts, timeout_ms, enqueued_by)"
    batch = "[" + ",".join(['{"kind":"noop"}'] * 1000) + "]"
    scripts = {
        "one": {"dwc": "SELECT dwc.enqueue('noop');\n",
                "raw": "INSERT INTO rawq (payload) VALUES ('{}');\n",
                "jobs": "INSERT INTO %s VALUES (%s);\n" % (jobs_cols, jobs_row)},
        "many": {"dwc": "SELECT count(*) FROM dwc.enqueue_many('%s');\n" % batch,
                 "raw": "INSERT INTO rawq (payload) SELECT '{}' FROM generate_series(1, 1000);\n",
                 "jobs": "INSERT INTO %s SELECT %s FROM generate_series(1, 1000);\n" % (jobs_cols, jobs_row)},
    }
    per_txn = {"one": 1, "many": 1000}
    calls = {"one": max(njobs // 4, 500), "many": max(njobs // 1000, 10)}
    best = {}
    for _ in range(3):
        for shape in ("one", "many"):
            for side in ("dwc", "raw", "jobs"):
                wall = pgbench(c, scripts[shape][side], 1, calls[shape])
                rate = calls[shape] * per_txn[shape] / wall
                best[(shape, side)] = max(best.get((shape, side), 0), rate)
        c.sql("SELECT dwc.cancel_jobs()", dbname=DB)
        c.sql("TRUNCATE rawq", dbname=DB)
        c.sql("DELETE FROM dwc.jobs WHERE kind = 'noop' AND status = 'queued'", dbname=DB)
        c.sql("VACUUM dwc.jobs", dbname=DB)
    c.sql("SELECT dwc.resume_queue('default')", dbname=DB)
    return best


def pgbench(c, script, clients, transactions):
    return benchkit_pgbench(c, DB, script, clients, transactions=transactions)[0]

def raw_reference(c, njobs, per_txn, sync=True, clients=4):
    c.sql("DROP TABLE IF EXISTS rawq", dbname=DB)
    c.sql("CREATE TABLE rawq (id bigserial PRIMARY KEY, payload jsonb NOT NULL DEFAULT '{}')", dbname=DB)
    c.sql("INSERT INTO rawq (payload) SELECT '{}' FROM generate_series(1, %d)" % njobs, dbname=DB)
    c.sql("VACUUM ANALYZE rawq", dbname=DB)
    c.sql("CHECKPOINT")
    script = ("" if sync else "SET synchronous_commit = off;\n") + \
        ("DELETE FROM rawq WHERE id IN (SELECT id FROM rawq ORDER BY id "
         "FOR UPDATE SKIP LOCKED LIMIT %d) RETURNING id;\n" % per_txn)
    wall = pgbench(c, script, clients, njobs // per_txn // clients)
    left = c.scalar("SELECT count(*) FROM rawq", dbname=DB)
    return (njobs - left) / wall


def idle_latency(c, n):
    c.sql("ALTER SYSTEM SET dwc.naptime = '60s'")
    c.sql("SELECT pg_reload_conf()")
    time.sleep(1.5)
    conn = c.connect(DB)
    cur = conn.cursor()
    lat = []
    for _ in range(n):
        cur.execute("SELECT dwc.enqueue('noop')")
        jid = cur.fetchone()[0]
        while True:
            cur.execute("SELECT extract(epoch FROM started_at - run_at) * 1000 FROM dwc.job_history WHERE id = %s", (jid,))
            row = cur.fetchone()
            if row:
                lat.append(float(row[0]))
                break
            time.sleep(0.002)
        time.sleep(0.01)    # let the workers go idle again
    conn.close()
    c.sql("ALTER SYSTEM RESET dwc.naptime")
    c.sql("SELECT pg_reload_conf()")
    return lat


def notify_latency(c, n):
    listener = c.connect(DB)
    listener.cursor().execute("LISTEN bench")
    sender = c.connect(DB)
    scur = sender.cursor()
    lcur = listener.cursor()
    lat = []
    for _ in range(n):
        scur.execute("SELECT pg_notify('bench', (extract(epoch FROM clock_timestamp()) * 1000)::text)")
        while True:
            if select.select([listener], [], [], 5) == ([], [], []):
                raise RuntimeError("no notification")
            listener.poll()
            if listener.notifies:
                note = listener.notifies.pop(0)
                lcur.execute("SELECT extract(epoch FROM clock_timestamp()) * 1000 - %s", (float(note.payload),))
                lat.append(float(lcur.fetchone()[0]))
                break
        time.sleep(0.01)
    listener.close()
    sender.close()
    return lat


def cron_lateness(c, seconds):
    c.sql("TRUNCATE dwc.job_history", dbname=DB)
    sid = c.scalar("SELECT dwc.schedule('bench tick', '1 second')", dbname=DB)
    time.sleep(seconds + 0.5)
    c.sql("SELECT dwc.disable_schedule(%s)", (sid,), dbname=DB)
    time.sleep(0.5)
    rows = c.sql("SELECT extract(epoch FROM r.fired_at - r.fire_time) * 1000, "
                 "       extract(epoch FROM h.started_at - r.fire_time) * 1000 "
                 "  FROM dwc.schedule_runs r JOIN dwc.job_history h ON h.id = r.job_id "
                 " WHERE r.schedule_id = %s AND h.status = 'succeeded' ORDER BY r.fire_time", (sid,), dbname=DB)
    c.sql("SELECT dwc.unschedule(%s)", (sid,), dbname=DB)
    return [float(r[0]) for r in rows[1:]], [float(r[1]) for r in rows[1:]]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--jobs", type=int, default=20000)
    ap.add_argument("--latency-jobs", type=int, default=200)
    ap.add_argument("--cron-seconds", type=int, default=20)
    ap.add_argument("--only", default="enqueue,noop,sql,raw,latency,cron",
                    help="sections to run, comma-separated (default: all)")
    args = ap.parse_args()
    only = set(args.only.split(","))

    c = temp_cluster(prefix="dwc-bench-", port=5591, settings=SETTINGS)
    try:
        c.init().start()
        c.create_database(DB)
        c.wait_for("SELECT count(*) = 4 FROM dwc.status() WHERE kind = 'job' AND state = 'idle'",
                   dbname=DB, timeout=60)
        version = c.scalar("SELECT version()")
        cpus = os.cpu_count()
        print("dwc queue benchmark: %s, %d CPUs, %s noop jobs, fsync on" % (version.split(",")[0], cpus, args.jobs))

        if "enqueue" in only:
            print("enqueue (one client, a transaction a call, durable commits; best of 3 alternating rounds)")
            best = bench_enqueue(c, args.jobs)
            for shape, what in (("one", "one job a call"), ("many", "1,000 jobs a call")):
                d, r, j = best[(shape, "dwc")], best[(shape, "raw")], best[(shape, "jobs")]
                line("dwc, %s (%s)" % (what, "dwc.enqueue" if shape == "one" else "dwc.enqueue_many"),
                     "%8.0f jobs/s" % d)
                line("  raw: INSERT into a 2-column table", "%8.0f jobs/s  dwc %.2fx" % (r, d / r))
                line("  the insert it is: INSERT into dwc.jobs", "%8.0f jobs/s  dwc %.2fx" % (j, d / j))
        if "noop" in only or "raw" in only:
            processing(c, args, only)
        if "sql" in only:
            sql_processing(c, args)
        if "latency" in only:
            latency(c, args)
        if "cron" in only:
            cron(c, args)
    finally:
        c.destroy()


def processing(c, args, only):
    print("processing %d noop jobs (wall: resume to empty queue; span: first start to last finish)" % args.jobs)
    results = {}
    for workers in (4, 16):
        set_workers(c, workers)
        best = max((drain_rate(c, args.jobs) for _ in range(3)), key=lambda r: r[0])
        results[workers] = best
        line("dwc, %d workers" % workers, "%8.0f jobs/s wall, %8.0f jobs/s span" % best)
    set_workers(c, 4)
    if "raw" in only:
        raw_comparison(c, args, results)


def sql_processing(c, args):
    sql_jobs = max(args.jobs // 4, 1000)
    print("processing %d sql jobs, 4 workers" % sql_jobs)
    for label, body in (("SELECT 1", "SELECT 1"),
                        ("CREATE TEMP TABLE t (x int); INSERT ... 1 row",
                         "CREATE TEMP TABLE t (x int); INSERT INTO t VALUES (1)")):
        try:
            best = max((drain_rate(c, sql_jobs, "sql", body) for _ in range(3)), key=lambda r: r[0])
        except AssertionError as e:
            line("sql: %s" % label, "jobs failed: %s" % e)
            continue
        line("sql: %s" % label, "%8.0f jobs/s wall, %8.0f jobs/s span" % best)


def raw_comparison(c, args, results):
    print("raw reference: DELETE ... FOR UPDATE SKIP LOCKED, pgbench, 4 clients")
    raw = {}
    for sync in (True, False):
        for per_txn in (1, 100):
            raw[(sync, per_txn)] = max(raw_reference(c, args.jobs, per_txn, sync) for _ in range(2))
            line("%d job%s per transaction, synchronous_commit %s" % (per_txn, "" if per_txn == 1 else "s",
                                                                      "on" if sync else "off"),
                 "%8.0f jobs/s" % raw[(sync, per_txn)])
    raw16 = max(raw_reference(c, args.jobs, 100, True, clients=16) for _ in range(2))
    line("100 jobs per transaction, synchronous_commit on, 16 clients", "%8.0f jobs/s" % raw16)
    best_dwc = max(r[0] for r in results.values())
    print("dwc (best wall rate; its workers commit with synchronous_commit = off) vs raw")
    line("noop, 4 workers, vs 100 per transaction, synchronous_commit on (bar: 85 %)",
         "%8.0f %%" % (100.0 * results[4][0] / raw[(True, 100)]))
    line("noop, 16 workers, vs the same with 16 clients (bar: 85 %)",
         "%8.0f %%" % (100.0 * results[16][0] / raw16))
    for sync in (True, False):
        for per_txn in (1, 100):
            line("vs %d per transaction, synchronous_commit %s" % (per_txn, "on" if sync else "off"),
                 "%8.0f %%" % (100.0 * best_dwc / raw[(sync, per_txn)]))


def latency(c, args):
    print("idle enqueue-to-start latency over %d jobs (naptime 60 s: wake-ups only)" % args.latency_jobs)
    lat = idle_latency(c, args.latency_jobs)
    line("dwc: INSERT to worker claim, incl. commit", "p50 %6.2f ms  p99 %6.2f ms" % (pct(lat, .5), pct(lat, .99)))
    nl = notify_latency(c, args.latency_jobs)
    line("baseline: NOTIFY to LISTEN client receipt", "p50 %6.2f ms  p99 %6.2f ms" % (pct(nl, .5), pct(nl, .99)))


def cron(c, args):
    print("cron lateness: every-second schedule for %d s" % args.cron_seconds)
    fired, started = cron_lateness(c, args.cron_seconds)
    line("fire time to enqueue (%d runs; negative: ahead of time)" % len(fired),
         "p50 %6.2f ms  p99 %6.2f ms  max %6.2f ms" % (pct(fired, .5), pct(fired, .99), max(fired)))
    line("fire time to job start",
         "p50 %6.2f ms  p99 %6.2f ms  max %6.2f ms" % (pct(started, .5), pct(started, .99), max(started)))


if __name__ == "__main__":
    main()
