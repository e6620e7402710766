#!/usr/bin/python3
"""bench/automation.py: event-to-action latency of automations, with same-machine baselines.

Prints, in one run:
  - event-to-action latency p50/p95/p99 over 300 events, one at a time with idle workers:
    from the event's row (dwc.emit(), just before its commit) to the first action running
    (an sql action stamping clock_timestamp()), and to the run's end;
  - the same for a data_change trigger (a row inserted -> its action);
  - baselines on the same server: a noop job's enqueue-to-start (the queue's floor), and
    NOTIFY-to-LISTEN receipt (PostgreSQL's);
  - a burst: 2,000 events in one transaction, and how fast their runs drain (runs/s).

Run as root or as a user who can start PostgreSQL: uses the installed dwc.
    bench/automation.py [--events 300]
Never fails on a timing: it prints figures. Target: event-to-action p50 under 5 ms.
"""
import argparse
import os
import select
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "test", "kit"))

from cluster import temp_cluster  # noqa: E402

DB = "bench"
SETTINGS = {
    "dwc.databases": "'%s'" % DB,
    "dwc.job_workers": "2",
    "dwc.naptime": "'60s'",             # idle workers are woken at commit, not by polling
    "shared_buffers": "'256MB'",
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


def show(label, values):
    line(label, "p50 %6.2f ms  p95 %6.2f ms  p99 %6.2f ms" % (pct(values, .5), pct(values, .95), pct(values, .99)))


def wait_one(cur, sql, params, timeout=10):
    deadline = time.time() + timeout
    while True:
        cur.execute(sql, params)
        row = cur.fetchone()
        if row and row[0] is not None:
            return row
        if time.time() > deadline:
            raise RuntimeError("timed out: %s %s" % (sql, params))
        time.sleep(0.001)


def event_latency(conn, n):
    cur = conn.cursor()
    to_action, to_end = [], []
    for _ in range(n):
        cur.execute("SELECT dwc.emit('bench.tick')")
        eid = cur.fetchone()[0]
        row = wait_one(cur, "SELECT extract(epoch FROM h.at - e.at) * 1000 FROM bench_hits h JOIN dwc.events e "
                            "ON e.id = h.event_id WHERE h.event_id = %s", (eid,))
        to_action.append(float(row[0]))
        row = wait_one(cur, "SELECT extract(epoch FROM r.finished_at - e.at) * 1000 FROM dwc.automation_runs r "
                            "JOIN dwc.events e ON e.id = (r.trigger->>'id')::int8 "
                            "WHERE (r.trigger->>'id')::int8 = %s AND r.status = 'succeeded'", (eid,))
        to_end.append(float(row[0]))
        time.sleep(0.01)    # let the workers go idle again
    return to_action, to_end


def change_latency(conn, n):
    cur = conn.cursor()
    lat = []
    for _ in range(n):
        cur.execute("INSERT INTO bench_rows DEFAULT VALUES RETURNING id, at")
        rid, _ = cur.fetchone()
        row = wait_one(cur, "SELECT extract(epoch FROM h.at - r.at) * 1000 FROM bench_row_hits h JOIN bench_rows r "
                            "ON r.id = h.row_id WHERE h.row_id = %s", (rid,))
        lat.append(float(row[0]))
        time.sleep(0.01)
    return lat


def job_latency(conn, n):
    cur = conn.cursor()
    lat = []
    for _ in range(n):
        cur.execute("SELECT dwc.enqueue('noop')")
        jid = cur.fetchone()[0]
        row = wait_one(cur, "SELECT extract(epoch FROM started_at - run_at) * 1000 FROM dwc.job_history WHERE id = %s",
                       (jid,))
        lat.append(float(row[0]))
        time.sleep(0.01)
    return lat


def notify_latency(c, n):
    listener = c.connect(DB)
    listener.cursor().execute("LISTEN bench")
    sender = c.connect(DB)
    scur, lcur = sender.cursor(), listener.cursor()
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


def burst(conn, n):
    cur = conn.cursor()
    cur.execute("SELECT count(*) FROM dwc.automation_runs WHERE status = 'succeeded'")
    before = cur.fetchone()[0]
    t0 = time.monotonic()
    cur.execute("SELECT count(dwc.emit('bench.tick')) FROM generate_series(1, %s)", (n,))
    emitted = time.monotonic() - t0
    deadline = time.time() + 300
    while True:
        cur.execute("SELECT count(*) FROM dwc.automation_runs WHERE status = 'succeeded'")
        if cur.fetchone()[0] - before >= n or time.time() > deadline:
            break
        time.sleep(0.05)
    return emitted, time.monotonic() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=300)
    ap.add_argument("--burst", type=int, default=2000)
    args = ap.parse_args()
    c = temp_cluster(prefix="dwc-bench-auto-", port=5597, settings=SETTINGS).init().start()
    try:
        c.create_database(DB)
        c.wait_for("SELECT count(*) = 2 FROM dwc.status() WHERE kind = 'job' AND state = 'idle' "
                   "AND database = current_database()", dbname=DB, timeout=60)
        conn = c.connect(DB)
        conn.autocommit = True
        cur = conn.cursor()
        cur.execute("CREATE TABLE bench_hits (event_id int8, at timestamptz)")
        cur.execute("CREATE TABLE bench_rows (id serial PRIMARY KEY, at timestamptz DEFAULT clock_timestamp())")
        cur.execute("CREATE TABLE bench_row_hits (row_id int, at timestamptz)")
        cur.execute("SELECT dwc.create_automation('on_tick', 'event', '{\"kinds\": [\"bench.tick\"]}', "
                    "'[{\"type\": \"sql\", \"sql\": \"INSERT INTO public.bench_hits VALUES (($1->>''id'')::int8, clock_timestamp())\"}]')")
        cur.execute("SELECT dwc.create_automation('on_row', 'data_change', '{\"table\": \"bench_rows\", \"operations\": [\"insert\"]}', "
                    "'[{\"type\": \"sql\", \"sql\": \"INSERT INTO public.bench_row_hits VALUES (($1->''new''->>''id'')::int, clock_timestamp())\"}]')")
        time.sleep(1)
        print("dwc automation benchmark: 2 job workers, idle between events; %d events" % args.events)
        event_latency(conn, 20)                                  # warm the workers' caches
        to_action, to_end = event_latency(conn, args.events)
        show("event -> first action (dwc.emit() to the sql action)", to_action)
        show("event -> run recorded succeeded", to_end)
        change_latency(conn, 20)
        show("row inserted -> its data_change action", change_latency(conn, args.events))
        show("baseline: noop job enqueue -> start (the queue's floor)", job_latency(conn, args.events))
        show("baseline: NOTIFY -> LISTEN client receipt", notify_latency(c, args.events))
        emitted, drained = burst(conn, args.burst)
        line("burst: %d events in one transaction, emitted in" % args.burst, "%.0f ms" % (emitted * 1000))
        line("burst: all their runs succeeded after", "%.2f s (%.0f runs/s)" % (drained, args.burst / drained))
        conn.close()
    finally:
        c.destroy()


if __name__ == "__main__":
    main()
