#!/usr/bin/python3
"""bench/notify.py: notification delivery throughput and in-app fan-out latency, with
same-machine baselines.

Prints, in one run:
  - delivery throughput: N signed webhook notifications sent in one bulk call, to a loopback
    HTTP sink, from the commit to the last delivered (notifications/s), next to N plain
    `http` jobs to the same sink (the queue's floor for one HTTP request per job);
  - in-app throughput (no network: the inbox row and the event);
  - fan-out latency: an in-app notification's commit to its NOTIFY on dwc.user.<id> reaching
    a LISTENing session, p50/p95/p99, next to a bare NOTIFY's commit-to-receipt.

Run as root or as a user who can start PostgreSQL: uses the installed dwc.
    bench/notify.py [--n 2000] [--latency 200]
Never fails on a timing: it prints figures.
"""
import argparse
import json
import os
import select
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "test", "kit"))

from cluster import temp_cluster  # noqa: E402
from fakehttp import FakeHTTP, Reply  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchkit import line, show  # noqa: E402

DB = "bench"
SETTINGS = {
    "dwc.databases": "'%s'" % DB,
    "dwc.job_workers": "2",
    "dwc.naptime": "'60s'",
    "shared_buffers": "'256MB'",
    "dwc.encryption_keys": "'b1:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY='",
}


def drain(cur, sql, timeout=600):
    deadline = time.time() + timeout
    while True:
        cur.execute(sql)
        if cur.fetchone()[0]:
            return
        if time.time() > deadline:
            raise RuntimeError("timed out: " + sql)
        time.sleep(0.01)


def throughput(conn, n, sink):
    cur = conn.cursor()
    cur.execute("SELECT dwc.add_notification_channel('hook', 'webhook', %s, 'whsec-0123456789abcdef')",
                (json.dumps({"url": sink.url("/hook")}),))
    t0 = time.time()
    cur.execute("SELECT (dwc.notify_many('hook', %s, 'S', 'B'))->'count'", (json.dumps([None] * n),))
    drain(cur, "SELECT count(*) = 0 FROM dwc.notifications WHERE status IN ('queued', 'retrying')")
    dt = time.time() - t0
    cur.execute("SELECT count(*) FILTER (WHERE status = 'delivered') FROM dwc.notifications WHERE channel = 'hook'")
    ok = cur.fetchone()[0]
    line("webhook notifications, %d in one bulk send" % n, "%8.0f /s  (%d delivered, %.2f s)" % (n / dt, ok, dt))

    t0 = time.time()
    cur.execute("SELECT count(*) FROM dwc.enqueue_many((SELECT jsonb_agg(jsonb_build_object('payload', "
                "jsonb_build_object('url', %s, 'method', 'POST', 'body', 'B'))) FROM generate_series(1, %s)), 'http')",
                (sink.url("/plain"), n))
    drain(cur, "SELECT count(*) = 0 FROM dwc.jobs WHERE kind = 'http'")
    dt = time.time() - t0
    line("baseline: plain http jobs to the same sink", "%8.0f /s  (%.2f s)" % (n / dt, dt))

    cur.execute("SELECT dwc.create_user('bench', 'tidy horse battery 42!')->>'id'")
    uid = cur.fetchone()[0]
    t0 = time.time()
    cur.execute("SELECT (dwc.notify_many('in_app', %s, 'S', 'B'))->'count'", (json.dumps([{"user_id": uid}] * n),))
    drain(cur, "SELECT count(*) = 0 FROM dwc.notifications WHERE status IN ('queued', 'retrying')")
    dt = time.time() - t0
    line("in-app notifications, %d in one bulk send" % n, "%8.0f /s  (%.2f s)" % (n / dt, dt))
    return uid


def listen_latency(c, uid, n):
    listener = c.connect(DB)
    sender = c.connect(DB)
    lc, sc = listener.cursor(), sender.cursor()
    lc.execute('LISTEN "dwc.user.%s"' % uid)
    lc.execute("LISTEN bench_plain")

    def receive(channel, send):
        out = []
        for _ in range(n):
            t0 = time.time()
            send()
            while True:
                if select.select([listener], [], [], 10) == ([], [], []):
                    raise RuntimeError("no notification on " + channel)
                listener.poll()
                got = [x for x in listener.notifies if x.channel == channel]
                listener.notifies.clear()
                if got:
                    break
            out.append((time.time() - t0) * 1000)
        return out

    fan = receive("dwc.user.%s" % uid,
                  lambda: sc.execute("SELECT dwc.notify('in_app', user_id => %s, subject => 'S', body => 'B')", (uid,)))
    show("in-app notification: send to NOTIFY on dwc.user.<id>", fan)
    plain = receive("bench_plain", lambda: sc.execute("NOTIFY bench_plain, 'x'"))
    show("baseline: NOTIFY to LISTEN", plain)
    listener.close()
    sender.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--latency", type=int, default=200)
    args = ap.parse_args()
    sink = FakeHTTP()
    sink.route("POST", "/hook", Reply(200, "ok"))
    sink.route("POST", "/plain", Reply(200, "ok"))
    c = temp_cluster(prefix="dwc-bench-notify-", port=5596, settings=SETTINGS).init().start()
    try:
        c.create_database(DB)
        c.wait_for("SELECT count(*) = 2 FROM dwc.status() WHERE kind = 'job' AND state = 'idle' "
                   "AND database = current_database()", dbname=DB, timeout=60)
        conn = c.connect(DB)
        print("notifications (2 job workers, loopback HTTP sink):")
        uid = throughput(conn, args.n, sink)
        listen_latency(c, uid, args.latency)
        conn.close()
    finally:
        c.destroy()
        sink.close()


if __name__ == "__main__":
    main()
