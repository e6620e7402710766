"""Events with real workers: NOTIFY at commit (and not on rollback) on the predictable
channels, and the events dwc's workers write: dead jobs, schedule runs, security events,
audit seals; replay after a reconnection."""
import json
import select
import time
import uuid

import psycopg2.extensions
import pytest

from conftest import IT_DB, JWT_SECRET, one, q
from postgrest import PostgREST

PASSWORD = "correct horse battery staple 9!"


def listener(cluster, *channels):
    conn = cluster.connect(IT_DB)
    conn.set_isolation_level(psycopg2.extensions.ISOLATION_LEVEL_AUTOCOMMIT)
    with conn.cursor() as cur:
        for ch in channels:
            cur.execute('LISTEN "%s"' % ch)
    return conn


def notifications(conn, timeout=2.0, want=1):
    """The notifications that arrive within timeout (stops early once want have)."""
    got = []
    deadline = time.time() + timeout
    while time.time() < deadline and len(got) < want:
        if select.select([conn], [], [], max(0.0, deadline - time.time())) != ([], [], []):
            conn.poll()
            while conn.notifies:
                n = conn.notifies.pop(0)
                got.append((n.channel, json.loads(n.payload)))
    return got


def wait_event(conn, sql, params=(), timeout=10):
    deadline = time.time() + timeout
    while True:
        rows = q(conn, sql, params)
        if rows or time.time() > deadline:
            return rows
        time.sleep(0.1)


def test_notified_at_commit_on_every_channel_and_not_on_rollback(cluster, db):
    # a source of this test's own: other tests' events (dead jobs, schedules) come on dwc.events too
    src = "shop" + uuid.uuid4().hex[:8]
    kind = src + ".order_paid"
    ears = listener(cluster, "dwc.events", "dwc.events." + src)

    def ours(timeout, want=1):
        return [n for n in notifications(ears, timeout=timeout, want=want) if n[1]["kind"] == kind]

    other = cluster.connect(IT_DB)
    other.autocommit = False
    with other.cursor() as cur:
        cur.execute("SELECT dwc.emit(%s, 'order:1', '{\"amount\": 3}')", (kind,))
        eid = cur.fetchone()[0]
        assert ours(0.5, want=100) == []                   # not before the commit
        other.commit()
    deadline = time.time() + 3
    got = []
    while len(got) < 2 and time.time() < deadline:
        got += ours(0.5)
    assert sorted(got) == sorted([("dwc.events", {"id": eid, "kind": kind}),
                                  ("dwc.events." + src, {"id": eid, "kind": kind})]), got
    with other.cursor() as cur:
        cur.execute("SELECT dwc.emit(%s)", (kind,))
        other.rollback()
    assert ours(0.7, want=100) == []
    other.close()
    ears.close()


def test_dead_job_and_schedule_runs_become_events(cluster, db):
    ears = listener(cluster, "dwc.events.job", "dwc.events.schedule")
    job = one(db, "SELECT dwc.enqueue('sql', '{\"sql\": \"SELECT 1/0\"}', max_attempts => 1, name => %s)",
              ("ev-" + uuid.uuid4().hex[:6],))
    rows = wait_event(db, "SELECT id, payload FROM dwc.events WHERE kind = 'job.dead' AND subject = %s", ("job:%d" % job,))
    assert rows and rows[0][1]["job_id"] == job and "division by zero" in rows[0][1]["error"], rows
    name = "ev-tick-" + uuid.uuid4().hex[:6]
    sid = one(db, "SELECT dwc.schedule(%s, '1 second', 'noop')", (name,))
    try:
        rows = wait_event(db, "SELECT payload FROM dwc.events WHERE kind = 'schedule.fired' AND subject = %s",
                          ("schedule:%d" % sid,))
        assert rows and rows[0][0]["name"] == name and rows[0][0]["job_id"] > 0, rows
    finally:
        q(db, "SELECT dwc.unschedule(%s)", (sid,))
    kinds = {p["kind"] for _, p in notifications(ears, timeout=3, want=2)}
    assert {"job.dead", "schedule.fired"} <= kinds, kinds
    ears.close()


def test_security_events_reach_the_user_and_replay_after_an_id(cluster, db):
    q(db, "SELECT dwc.set_rate_limit('address', '203.0.113.7', 1000, 1000)")
    rest = PostgREST(db, JWT_SECRET)
    name = "ev" + uuid.uuid4().hex[:8]
    status, body = rest.rpc("register", {"username": name, "password": PASSWORD})
    assert status == 200, body
    uid = body["id"]
    ears = listener(cluster, "dwc.user." + uid)
    status, _ = rest.rpc("login", {"username": name, "password": "wrong"})
    assert status == 401
    rows = wait_event(db, "SELECT id, payload, owner_user FROM dwc.events WHERE kind = 'security.login_failure' "
                          "AND subject = %s", ("user:" + uid,))
    assert rows and rows[0][2] == uid and rows[0][1]["user_id"] == uid, rows
    assert ("dwc.user." + uid, {"id": rows[0][0], "kind": "security.login_failure"}) in notifications(ears, timeout=3)

    # the user reads their own events, and replays from the last id they saw
    status, body = rest.rpc("login", {"username": name, "password": PASSWORD})
    assert status == 200, body
    claims = rest.verify(body["access_token"])
    with db.cursor() as cur:
        cur.execute("BEGIN")
        rest.enter(cur, claims)
        cur.execute("SELECT dwc.emit('app.note', 'n:1', '{\"x\": 1}')")
        mine = cur.fetchone()[0]
        cur.execute("COMMIT")
        cur.execute("BEGIN")
        rest.enter(cur, claims)
        cur.execute("SELECT id, kind FROM dwc.events_after(%s)", (rows[0][0],))
        after = cur.fetchall()
        cur.execute("SELECT count(*) FROM dwc.events WHERE owner_user IS DISTINCT FROM %s", (uid,))
        others = cur.fetchone()[0]
        cur.execute("ROLLBACK")
    assert (mine, "app.note") in after and all(k != "security.login_failure" for _, k in after), after
    assert others == 0
    ears.close()


def test_audit_seals_become_events(cluster, db):
    q(db, "CREATE TABLE IF NOT EXISTS ev_audited (id int PRIMARY KEY, v text)")
    q(db, "SELECT dwc.audit_table('public.ev_audited')")
    try:
        q(db, "INSERT INTO ev_audited SELECT g, 'x' FROM generate_series(1, 5) g ON CONFLICT DO NOTHING")
        q(db, "UPDATE ev_audited SET v = v || 'y'")
        last = one(db, "SELECT max(id) FROM dwc.audit_log WHERE table_name = 'public.ev_audited'")
        # the batch that sealed our last row, and its event
        batch = wait_event(db, "SELECT batch FROM dwc.audit_seal WHERE %s = ANY (audit_ids)", (last,), timeout=30)
        assert batch, "the audit row was not sealed"
        rows = wait_event(db, "SELECT payload FROM dwc.events WHERE kind = 'audit.sealed' AND subject = %s",
                          ("audit_batch:%d" % batch[0][0],))
        assert rows and rows[0][0]["rows"] >= 1 and rows[0][0]["batch"] == batch[0][0], rows
    finally:
        q(db, "SELECT dwc.unaudit_table('public.ev_audited')")
        q(db, "DROP TABLE ev_audited")


@pytest.mark.parametrize("n", [200])
def test_a_burst_of_events_is_notified_in_order(cluster, db, n):
    ears = listener(cluster, "dwc.events.burst")
    q(db, "SELECT dwc.emit('burst.tick', NULL, jsonb_build_object('i', g)) FROM generate_series(1, %s) g", (n,))
    got = notifications(ears, timeout=5, want=n)
    ids = [p["id"] for _, p in got]
    assert len(ids) == n and ids == sorted(ids), ids[:5]
    ears.close()
