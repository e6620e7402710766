#!/usr/bin/python3
"""bench/metrics.py: what the system metrics sampler costs, and what recording a metric
costs, with same-machine baselines.

Prints, in one run:
  - the maintenance worker's CPU time (utime + stime from /proc/<pid>/stat) over a window
    with the sampler on (every second, and every 10 s, the default) and off: the sampler's
    share of one core (target: under 1%);
  - one sample's server time (dwc._metrics_sample());
  - recording: dwc.metric_inc / metric_set / metric_observe per call, next to a bare
    INSERT of one row into a table of the same shape (the floor of writing a sample).

Run as root or as a user who can start PostgreSQL: uses the installed dwc.
    bench/metrics.py [--seconds 30]
Never fails on a timing: it prints figures.
"""
import argparse
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "test", "kit"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from benchkit import line, timed_sql  # noqa: E402
from cluster import temp_cluster  # noqa: E402

DB = "bench"
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK      # utime, stime


def worker_share(c, interval, seconds):
    c.sql("ALTER SYSTEM SET dwc.metrics_sample_interval = %s", (interval,))
    c.sql("SELECT pg_reload_conf()")
    time.sleep(1.0)
    pid = c.scalar("SELECT pid FROM dwc.status() WHERE kind = 'maintenance'", dbname=DB)
    before, t0 = cpu_seconds(pid), time.time()
    time.sleep(seconds)
    return (cpu_seconds(pid) - before) / (time.time() - t0)


def per_call(cur, sql, n=2000):
    total = timed_sql(cur, "SELECT count(*) FROM (SELECT %s FROM generate_series(1, %d) i) x" % (sql, n))
    return total / n * 1e6


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=30)
    args = ap.parse_args()
    settings = {"dwc.databases": "'%s'" % DB, "dwc.job_workers": "1", "shared_buffers": "'256MB'"}
    c = temp_cluster(prefix="dwc-bench-metrics-", port=5594, settings=settings).init().start()
    try:
        c.create_database(DB)
        c.wait_for("SELECT count(*) = 1 FROM dwc.status() WHERE kind = 'maintenance' AND database = current_database()",
                   dbname=DB, timeout=60)
        print("system metrics sampler (maintenance worker, %d s windows):" % args.seconds)
        off = worker_share(c, "0", args.seconds)
        every_s = worker_share(c, "1s", args.seconds)
        every_10 = worker_share(c, "10s", args.seconds)
        line("maintenance worker, sampler off (its other tasks)", "%.3f%% of a core" % (off * 100))
        line("sampler every second", "%.3f%% of a core (+%.3f%%)" % (every_s * 100, (every_s - off) * 100))
        line("sampler every 10 s (the default)", "%.3f%% of a core (+%.3f%%)" % (every_10 * 100, (every_10 - off) * 100))
        conn = c.connect(DB)
        cur = conn.cursor()
        t = [timed_sql(cur, "SELECT dwc._metrics_sample()") for _ in range(50)]
        line("one sample (dwc._metrics_sample), median of 50", "%.2f ms" % (sorted(t)[25] * 1000))
        cur.execute("SELECT dwc.define_metric('bench_total', 'counter')")
        cur.execute("SELECT dwc.define_metric('bench_gauge', 'gauge')")
        cur.execute("SELECT dwc.define_metric('bench_seconds', 'histogram')")
        cur.execute("CREATE TABLE bare (at timestamptz DEFAULT now(), name text, labels jsonb, value float8)")
        print("recording (server time per call, 2,000 calls in one statement):")
        line("metric_inc (counter, one label)", "%.1f us" % per_call(cur, "dwc.metric_inc('bench_total', 1, '{\"k\": \"v\"}')"))
        line("metric_set (gauge)", "%.1f us" % per_call(cur, "dwc.metric_set('bench_gauge', i)"))
        line("metric_observe (histogram, 11 buckets)", "%.1f us" % per_call(cur, "dwc.metric_observe('bench_seconds', i / 1000.0)"))
        # what recording cost before it was kept in shared memory: the SQL path, still taken
        # where shared memory cannot hold a series
        line("the SQL path (dwc._metric_inc, as before), for comparison",
             "%.1f us" % per_call(cur, "dwc._metric_inc(10, 'bench_total', 1, '{\"k\": \"v\"}')"))
        line("baseline: a bare function call (abs)", "%.2f us" % per_call(cur, "abs(i)"))
        cur.execute("CREATE FUNCTION bare_insert(v float8) RETURNS void LANGUAGE sql "
                    "BEGIN ATOMIC INSERT INTO bare (name, labels, value) VALUES ('x', '{}', v); END")
        line("baseline: one INSERT into a plain table (SQL function)", "%.1f us" % per_call(cur, "bare_insert(i)"))
        conn.close()
    finally:
        c.destroy()


if __name__ == "__main__":
    main()
