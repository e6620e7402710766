#!/usr/bin/python3
"""bench/realtime.py: event fan-out latency of the WebSocket gateway, with a same-machine
baseline.

Prints, in one run:
  - commit of an event (dwc.emit() as a user) to its arrival at 1 and at 50 connected
    WebSocket clients of that user (python3-websockets), p50/p95/p99 (for 50 clients: the
    last of them to receive it);
  - baseline: the same commit to a LISTENing psql session's receipt of its NOTIFY on
    dwc.user.<id> (PostgreSQL's own fan-out, which the gateway adds to);
  - a burst: 5,000 events in one transaction to 10 clients: time until every client has
    every event (events/s per client).

Run as root or as a user who can start PostgreSQL: uses the installed dwc.
    bench/realtime.py [--events 200]
Never fails on a timing: it prints figures.
"""
import argparse
import asyncio
import json
import os
import select
import socket
import sys
import time

import websockets

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "test", "kit"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from benchkit import line, show  # noqa: E402
from cluster import temp_cluster  # noqa: E402

DB = "bench"
PASSWORD = "tidy horse battery 42!"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def clients(url, tok, n):
    out = []
    for _ in range(n):
        ws = await websockets.connect(url, max_queue=None)
        await ws.send(json.dumps({"type": "auth", "token": tok}))
        assert json.loads(await ws.recv())["type"] == "welcome"
        out.append(ws)
    return out


async def next_event(ws, eid):
    while True:
        m = json.loads(await ws.recv())
        if m.get("type") == "event" and m["id"] == eid:
            return time.time()


async def fan_out(cur, wss, n):
    lat = []
    for _ in range(n):
        t0 = time.time()
        cur.execute("SELECT dwc.emit('bench.tick')")
        eid = cur.fetchone()[0]
        arrivals = await asyncio.gather(*(next_event(ws, eid) for ws in wss))
        lat.append((max(arrivals) - t0) * 1000)
    return lat


async def burst(cur, wss, n):
    t0 = time.time()
    cur.execute("SELECT count(dwc.emit('bench.burst')) FROM generate_series(1, %s)", (n,))

    async def all_of(ws):
        got = 0
        while got < n:
            m = json.loads(await ws.recv())
            if m.get("kind") == "bench.burst":
                got += 1
    await asyncio.gather(*(all_of(ws) for ws in wss))
    return time.time() - t0


def notify_latency(c, uid, tok, n):
    listener = c.connect(DB)
    lc = listener.cursor()
    lc.execute('LISTEN "dwc.user.%s"' % uid)
    sender = user_session(c, tok)
    sc = sender.cursor()
    out = []
    for _ in range(n):
        t0 = time.time()
        sc.execute("SELECT dwc.emit('bench.tick')")
        while True:
            if select.select([listener], [], [], 10) == ([], [], []):
                raise RuntimeError("no NOTIFY")
            listener.poll()
            if listener.notifies:
                listener.notifies.clear()
                break
        out.append((time.time() - t0) * 1000)
    listener.close()
    sender.close()
    return out


def user_session(c, tok):
    conn = c.connect(DB)
    cur = conn.cursor()
    cur.execute("SELECT set_config('request.headers', %s, false)", (json.dumps({"authorization": "Bearer " + tok}),))
    cur.execute("SET ROLE dwc_user")
    return conn


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=200)
    ap.add_argument("--burst", type=int, default=5000)
    args = ap.parse_args()
    port = free_port()
    settings = {"dwc.databases": "'%s'" % DB, "dwc.job_workers": "1", "dwc.naptime": "'60s'",
                "dwc.websocket_port": str(port), "dwc.websocket_queue_limit": "100000",
                "dwc.jwt_secret": "'bench-jwt-secret-0123456789abcdef-xyz'", "shared_buffers": "'256MB'"}
    c = temp_cluster(prefix="dwc-bench-rt-", port=5595, settings=settings).init().start()
    try:
        c.create_database(DB)
        c.wait_for("SELECT (dwc.realtime_stats())->>'listening' = 'true'", dbname=DB, timeout=60)
        uid = c.scalar("SELECT dwc.create_user('bench', %s)->>'id'", (PASSWORD,), dbname=DB)
        tok = c.scalar("SELECT dwc.login('bench', %s)", (PASSWORD,), dbname=DB)["access_token"]
        time.sleep(1.5)    # the user's own security events (user_created, login) arrive first
        url = "ws://127.0.0.1:%d/ws" % port
        sender = user_session(c, tok)
        cur = sender.cursor()
        print("WebSocket gateway (1 job worker; committing backends wake the gateway through its datagram socket):")

        async def run():
            one = await clients(url, tok, 1)
            show("event commit -> 1 WebSocket client", await fan_out(cur, one, args.events))
            many = one + await clients(url, tok, 49)
            show("event commit -> the last of 50 WebSocket clients", await fan_out(cur, many, args.events))
            ten = many[:10]
            for ws in many[10:]:
                await ws.close()
            dt = await burst(cur, ten, args.burst)
            line("burst of %d events in one transaction -> 10 clients" % args.burst,
                 "%.2f s  (%.0f events/s per client)" % (dt, args.burst / dt))
            for ws in ten:
                await ws.close()
        asyncio.run(run())
        sender.close()
        show("baseline: event commit -> LISTEN of dwc.user.<id>", notify_latency(c, uid, tok, args.events))
    finally:
        c.destroy()


if __name__ == "__main__":
    main()
