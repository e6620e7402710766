#!/usr/bin/python3
"""bench/analytics.py: what the analytics functions cost on a week of planted activity,
next to the bare scans of the same rows (the floor: counting what they count).

Plants, in a fresh cluster: a week of AI calls (--rows, spread evenly), as many
finished jobs, chains with documents, and 20 gauges sampled every minute (200k samples).
Prints the server time (median of 5) of:
  - dwc.analytics_summary for a day and a week, as an administrator (no per-row check) and
    as a signed-in user (every row passes dwc._may_manage), next to count(*) and sum()
    over the same AI calls and jobs;
  - dwc.ai_analytics for a week by day; dwc.insights for a day (every series, hourly, a
    24-hour baseline); dwc.dashboard for a day.

Run as root or as a user who can start PostgreSQL: uses the installed dwc.
    bench/analytics.py [--rows 200000]
Never fails on a timing: it prints figures.
"""
import argparse
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "test", "kit"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from benchkit import line, timed_sql  # noqa: E402
from cluster import temp_cluster  # noqa: E402

DB = "bench"


def median_ms(cur, sql, n=5):
    t = sorted(timed_sql(cur, sql) for _ in range(n))
    return t[n // 2] * 1000


def plant(cur, rows):
    cur.execute("""
        INSERT INTO dwc.ai_calls (at, role, provider, model, operation, tokens_in, tokens_out, latency_ms, cost,
                                  cache_hit, ok, http_status, attempts, user_id)
        SELECT now() - (i * interval '7 days') / %(n)s, 'bench_user'::regrole, 'p' || (i %% 3), 'm' || (i %% 5),
               'generate', 50 + i %% 400, 20 + i %% 300, 100 + (i %% 900), 0.0001 * (i %% 50), i %% 7 = 0,
               i %% 97 <> 0, 200, 1, NULL
          FROM generate_series(1, %(n)s) i""", {"n": rows})
    cur.execute("""
        INSERT INTO dwc.job_history (id, queue, kind, payload, priority, status, run_at, attempts, max_attempts,
                                     timeout_ms, enqueued_by, enqueued_user, created_at, started_at, finished_at)
        SELECT i, 'default', 'sql', '{}', 0, CASE WHEN i %% 50 = 0 THEN 'dead' ELSE 'succeeded' END,
               t - interval '2 seconds', 1 + (i %% 50 = 0)::int * 4, 5, 60000, 'bench_user'::regrole, NULL,
               t - interval '2 seconds', t - interval '1 second', t
          FROM (SELECT i, now() - (i * interval '7 days') / %(n)s AS t FROM generate_series(1, %(n)s) i) x""",
                {"n": rows})
    cur.execute("""
        INSERT INTO dwc.chains (name, owner, owner_user, created_at)
        SELECT 'c' || i, 'bench_user'::regrole, NULL, now() - (i * interval '7 days') / 2000
          FROM generate_series(1, 2000) i""")
    for g in range(20):
        cur.execute("SELECT dwc.define_metric(%s, 'gauge')", ("bench_g%d" % g,))
    cur.execute("""
        INSERT INTO dwc.metric_samples (at, name, labels, value)
        SELECT now() - make_interval(mins => m), 'bench_g' || g, '{}', 10 + random()
          FROM generate_series(0, 19) g, generate_series(1, 10080) m""")
    # as autovacuum leaves them: visibility map set, BRIN ranges summarized
    cur.execute("VACUUM ANALYZE")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=200000)
    args = ap.parse_args()
    settings = {"dwc.databases": "'%s'" % DB, "dwc.job_workers": "1", "shared_buffers": "'512MB'",
                "dwc.metrics_sample_interval": "0",
                # JIT compilation (on in Debian's build) adds tens of milliseconds to each
                # large query, baseline and analytics alike: measured without it
                "jit": "off"}
    c = temp_cluster(prefix="dwc-bench-analytics-", port=5595, settings=settings).init().start()
    try:
        c.create_database(DB)
        conn = c.connect(DB)
        conn.autocommit = True
        cur = conn.cursor()
        cur.execute("SET client_min_messages = warning")
        # the planted rows belong to bench_user (no dwc user), so that bench_user counts
        # every one of them, as the administrator does, after the ownership check
        cur.execute("CREATE ROLE bench_user; GRANT dwc_user TO bench_user")
        plant(cur, args.rows)
        print("a week of activity: %d AI calls, %d finished jobs, 2,000 chains, 201,600 metric samples"
              % (args.rows, args.rows))
        for rng in ("day", "week"):
            span = "1 day" if rng == "day" else "7 days"
            base = median_ms(cur, "SELECT (SELECT count(*) + sum(tokens_in) + sum(cost) FROM dwc.ai_calls "
                                  "WHERE at >= now() - interval '%s'), (SELECT count(*) FROM dwc.job_history "
                                  "WHERE finished_at >= now() - interval '%s')" % (span, span))
            admin = median_ms(cur, "SELECT dwc.analytics_summary('%s')" % rng)
            cur.execute("SET ROLE bench_user")
            user = median_ms(cur, "SELECT dwc.analytics_summary('%s')" % rng)
            cur.execute("RESET ROLE")
            print("the summary of a %s (%d AI calls and %d jobs in range):" % (rng, args.rows * (1 if rng == "day" else 7) // 7,
                                                                               args.rows * (1 if rng == "day" else 7) // 7))
            line("baseline: count and sum over the same AI calls and jobs", "%.1f ms" % base)
            line("dwc.analytics_summary as an administrator", "%.1f ms (%.1fx)" % (admin, admin / base))
            line("dwc.analytics_summary as the rows' owner (per-row ownership check)", "%.1f ms (%.1fx)" % (user, user / base))
        print("the rest:")
        line("dwc.ai_analytics('week', '1 day')", "%.1f ms" % median_ms(cur, "SELECT dwc.ai_analytics('week', '1 day')"))
        line("dwc.insights('day'): %d series hourly, 24-hour baseline" % (20 + 9),
             "%.1f ms" % median_ms(cur, "SELECT count(*) FROM dwc.insights('day')"))
        line("dwc.dashboard('day')", "%.1f ms" % median_ms(cur, "SELECT length(dwc.dashboard('day'))"))
        conn.close()
    finally:
        c.destroy()


if __name__ == "__main__":
    main()
