"""The audit trail (src/audit, docs/audit.md): who changed what and from where, tamper
detection by the hash chain, sealing as others write, multi-row statements, retention, and
dwc's own tables audited by default."""
import json
import threading
import time

import psycopg2
import pytest

from conftest import IT_DB, one, q
from test_security import new_user, token_of


# ---- audit -------------------------------------------------------------------------------

def test_audit_trail_records_who_and_detects_tampering(cluster, rest):
    conn = rest.conn
    q(conn, "CREATE TABLE IF NOT EXISTS public.audited_things (id int PRIMARY KEY, label text, secret text, "
            "amount numeric, flags jsonb)")
    q(conn, "GRANT ALL ON public.audited_things TO dwc_user")
    q(conn, "SELECT dwc.audit_table('public.audited_things', '{secret}')")
    name, uid = new_user(rest)
    cur = conn.cursor()
    cur.execute("BEGIN")
    rest.enter(cur, {"sub": uid, "role": "dwc_user"}, headers={"x-forwarded-for": "192.0.2.44"},
               path="/audited_things")
    cur.execute("INSERT INTO public.audited_things VALUES (1, 'one', 's3cret', 1.50, '{\"a\": 1}'), (2, 'two', 'x', 2, null)")
    cur.execute("UPDATE public.audited_things SET label = 'uno', secret = 'changed' WHERE id = 1")
    cur.execute("UPDATE public.audited_things SET label = label WHERE id = 2")          # no change: no entry
    cur.execute("DELETE FROM public.audited_things WHERE id = 2")
    cur.execute("COMMIT")
    rows = q(conn, "SELECT action, row_key, old_values, new_values, actor_user, actor_role, client_addr, request_path "
                   "FROM dwc.audit_log WHERE table_name = 'public.audited_things' ORDER BY id")
    assert [r[0] for r in rows] == ["INSERT", "INSERT", "UPDATE", "DELETE"]
    ins = rows[0]
    assert ins[1] == {"id": 1} and ins[3] == {"id": 1, "label": "one", "secret": "[redacted]", "amount": 1.50,
                                              "flags": {"a": 1}}
    assert rows[2][2] == {"label": "one", "secret": "[redacted]"} and rows[2][3] == {"label": "uno", "secret": "[redacted]"}
    assert all(r[4] == uid and r[5] == "dwc_user" and r[6] == "192.0.2.44" and r[7] == "/audited_things" for r in rows)
    assert "s3cret" not in json.dumps([r[3] for r in rows])
    history = one(conn, "SELECT dwc.audit_record_history('public.audited_things', '{\"id\": 1}')")
    assert [h["action"] for h in history] == ["INSERT", "UPDATE"]
    activity = one(conn, "SELECT dwc.audit_user_activity(%s)", (uid,))
    assert len([c for c in activity["changes"] if c["table"] == "public.audited_things"]) == 4

    # append-only, even for the owner
    with pytest.raises(psycopg2.Error) as ei:
        q(conn, "UPDATE dwc.audit_log SET actor_user = 'x' WHERE table_name = 'public.audited_things'")
    assert "append-only" in str(ei.value)
    with pytest.raises(psycopg2.Error) as ei:
        q(conn, "DELETE FROM dwc.audit_log WHERE table_name = 'public.audited_things'")
    assert "append-only" in str(ei.value)

    # sealed within seconds, then verified
    wait_sealed(cluster)
    v = one(conn, "SELECT dwc.audit_verify()")
    assert v["ok"] is True and v["checked"] >= 4
    target = q(conn, "SELECT id FROM dwc.audit_log WHERE table_name = 'public.audited_things' AND action = 'UPDATE'")[0][0]
    seq = one(conn, "SELECT s.first_seq + array_position(s.audit_ids, %s::int8) - 1 FROM dwc.audit_seal s "
                    "WHERE %s::int8 = ANY (s.audit_ids)", (target, target))
    # a superuser edits the row behind the triggers
    cur.execute("BEGIN")
    cur.execute("SET LOCAL session_replication_role = replica")
    cur.execute("UPDATE dwc.audit_log SET new_values = '{\"label\": \"innocent\"}' WHERE id = %s", (target,))
    cur.execute("COMMIT")
    v = one(conn, "SELECT dwc.audit_verify()")
    assert v["ok"] is False
    assert v["first_problem"]["audit_id"] == target and v["first_problem"]["seq"] == seq
    assert "changed" in v["first_problem"]["problem"]
    # put it back; then delete a row instead
    cur.execute("BEGIN")
    cur.execute("SET LOCAL session_replication_role = replica")
    cur.execute("UPDATE dwc.audit_log SET new_values = %s WHERE id = %s", (json.dumps(rows[2][3]), target))
    cur.execute("COMMIT")
    assert one(conn, "SELECT dwc.audit_verify()")["ok"] is True
    cur.execute("BEGIN")
    cur.execute("SET LOCAL session_replication_role = replica")
    cur.execute("DELETE FROM dwc.audit_log WHERE id = %s", (target,))
    cur.execute("COMMIT")
    v = one(conn, "SELECT dwc.audit_verify()")
    assert v["ok"] is False and v["first_problem"]["audit_id"] == target and "deleted" in v["first_problem"]["problem"]
    # restore the chain for the other tests: re-insert the row exactly as it was is not possible
    # (that is the point), so start a fresh chain for this test database
    cur.execute("BEGIN")
    cur.execute("SET LOCAL session_replication_role = replica")
    restart_chain(cur)
    assert one(conn, "SELECT dwc.audit_verify()")["ok"] is True
    q(conn, "SELECT dwc.unaudit_table('public.audited_things')")
    q(conn, "DROP TABLE public.audited_things")


def restart_chain(cur):
    """Start a fresh chain after the current head (inside a replica-role transaction)."""
    cur.execute("UPDATE dwc.audit_seal_state st SET base_batch = last_batch, base_seq = last_seq, "
                "base_hash = last_hash, base_txid = s.last_txid, base_id = s.last_id "
                "FROM dwc.audit_seal s WHERE s.batch = st.last_batch")
    cur.execute("DELETE FROM dwc.audit_seal")
    cur.execute("COMMIT")


def wait_sealed(cluster):
    """Wait until every audit row committed so far is sealed: none is left at or above the seal
    horizon (below it, every row is sealed) with a transaction id older than one taken now.
    Not "no unsealed rows at all": other sessions keep writing audit rows (each firing of a
    schedule updates dwc.schedules, which is audited), and with one firing every second that
    condition may not hold at any single poll although the sealer keeps up.  Nor "the horizon
    passed the mark": with nothing new to seal the sealer leaves the horizon where it is.
    When it does not happen, say what held it: the transactions holding back the snapshot's
    xmin (every database's count) and what the maintenance worker logged."""
    mark = cluster.scalar("SELECT txid_current()", dbname=IT_DB)
    query = ("SELECT NOT EXISTS (SELECT 1 FROM dwc.audit_log a, dwc.audit_seal_state s "
             "WHERE a.txid >= s.horizon AND a.txid < %d)" % mark)
    offset = cluster.log_size()
    try:
        cluster.wait_for(query, dbname=IT_DB, timeout=30, interval=0.2)
    except AssertionError as e:
        held = cluster.sql("SELECT pid, datname, backend_type, state, backend_xid, backend_xmin, "
                           "now() - xact_start, left(query, 80) FROM pg_stat_activity "
                           "WHERE backend_xid IS NOT NULL OR backend_xmin IS NOT NULL")
        state = cluster.sql("SELECT horizon, target, pg_snapshot_xmin(pg_current_snapshot()), "
                            "(SELECT count(*) FROM pg_prepared_xacts) FROM dwc.audit_seal_state", dbname=IT_DB)
        workers = cluster.sql("SELECT s.kind, s.database, s.pid, s.state, a.state, a.wait_event_type, a.wait_event, "
                              "now() - a.backend_start, now() - a.state_change, left(a.query, 60) "
                              "FROM dwc.status() s LEFT JOIN pg_stat_activity a USING (pid)", dbname=IT_DB)
        unsealed = cluster.sql("SELECT a.table_name, min(a.txid), max(a.txid), count(*) FROM dwc.audit_log a, "
                               "dwc.audit_seal_state s WHERE a.txid >= s.horizon GROUP BY 1", dbname=IT_DB)
        log = [line for line in cluster.log_since(offset).splitlines() if "maintenance" in line][-20:]
        # is the maintenance worker calling the sealer at all, and does a call by hand seal?
        calls = "SELECT calls FROM pg_stat_user_functions WHERE funcname = '_audit_seal'"
        before = cluster.sql(calls, dbname=IT_DB)
        time.sleep(3)
        after = cluster.sql(calls, dbname=IT_DB)
        by_hand = cluster.sql("SELECT dwc._audit_seal(10000)", dbname=IT_DB)
        state_after = cluster.sql("SELECT horizon, target FROM dwc.audit_seal_state", dbname=IT_DB)
        raise AssertionError("%s\nseal state (horizon, target, xmin, prepared): %r\nunsealed (table, min, max, n): %r\n"
                             "holding xmin: %r\nworkers: %r\nsealer calls 3 s apart: %r -> %r\n"
                             "a call by hand sealed %r rows; state after: %r\nmaintenance log:\n%s"
                             % (e, state, unsealed, held, workers, before, after, by_hand, state_after,
                                "\n".join(log))) from None


def test_audit_seals_rows_added_and_retention(cluster, rest):
    """Batch seals: a changed seal, a row slipped in behind the sealer, and retention that
    prunes old rows with their batches while the chain stays verifiable."""
    conn = rest.conn
    q(conn, "CREATE TABLE public.audit_seals (id int PRIMARY KEY, v text)")
    q(conn, "SELECT dwc.audit_table('public.audit_seals')")
    q(conn, "INSERT INTO public.audit_seals SELECT i, 'v' || i FROM generate_series(1, 30) i")
    wait_sealed(cluster)
    assert one(conn, "SELECT dwc.audit_verify()->>'ok'") == "true"
    cur = conn.cursor()
    # a superuser rewrites the last seal's digests: the seal no longer chains
    batch = one(conn, "SELECT max(batch) FROM dwc.audit_seal")
    cur.execute("BEGIN")
    cur.execute("SET LOCAL session_replication_role = replica")
    cur.execute("UPDATE dwc.audit_seal SET digests = overlay(digests PLACING '\\xff'::bytea FROM 5) "
                "WHERE batch = %s", (batch,))
    cur.execute("COMMIT")
    v = one(conn, "SELECT dwc.audit_verify()")
    assert v["ok"] is False and v["first_problem"]["batch"] == batch
    assert v["first_problem"]["problem"] == "the seal was changed"
    cur.execute("BEGIN")
    cur.execute("SET LOCAL session_replication_role = replica")
    restart_chain(cur)
    assert one(conn, "SELECT dwc.audit_verify()->>'ok'") == "true"

    # a row inserted with an old transaction id, below the horizon: no seal covers it
    horizon = one(conn, "SELECT horizon FROM dwc.audit_seal_state")
    q(conn, "INSERT INTO dwc.audit_log (txid, actor_role, action, table_name) VALUES (%s, 'x', 'INSERT', 'forged')",
      (horizon - 1,))
    forged = one(conn, "SELECT id FROM dwc.audit_log WHERE table_name = 'forged'")
    v = one(conn, "SELECT dwc.audit_verify()")
    assert v["ok"] is False and v["first_problem"]["audit_id"] == forged
    assert "not in the chain" in v["first_problem"]["problem"]
    cur.execute("BEGIN")
    cur.execute("SET LOCAL session_replication_role = replica")
    cur.execute("DELETE FROM dwc.audit_log WHERE table_name = 'forged'")
    cur.execute("COMMIT")
    assert one(conn, "SELECT dwc.audit_verify()->>'ok'") == "true"

    # retention: rows from 40 days ago leave with their batches, newer ones stay verifiable
    q(conn, "INSERT INTO dwc.audit_log (at, actor_role, action, table_name) "
            "SELECT now() - interval '40 days', 'x', 'INSERT', 'old' FROM generate_series(1, 5)")
    q(conn, "INSERT INTO public.audit_seals SELECT i, 'w' || i FROM generate_series(31, 40) i")
    wait_sealed(cluster)
    assert one(conn, "SELECT dwc.audit_verify()->>'ok'") == "true"
    q(conn, "SELECT dwc._partitions_maintain('dwc.audit_log', interval '30 days')")
    assert one(conn, "SELECT count(*) FROM dwc.audit_log WHERE table_name = 'old'") == 0
    assert one(conn, "SELECT count(*) FROM dwc.audit_seal WHERE min_at < now() - interval '30 days'") == 0
    q(conn, "INSERT INTO public.audit_seals SELECT i, 'x' || i FROM generate_series(41, 50) i")
    wait_sealed(cluster)
    v = one(conn, "SELECT dwc.audit_verify()")
    assert v["ok"] is True, v
    assert one(conn, "SELECT base_batch > 0 FROM dwc.audit_seal_state")
    q(conn, "SELECT dwc.unaudit_table('public.audit_seals')")
    q(conn, "DROP TABLE public.audit_seals")


def test_sealer_keeps_up_while_others_write(cluster, rest):
    """A steady writer (an audited row every 50 ms, faster than the sealer's one pass a second)
    means some row is always unsealed; the rows of any finished transaction are sealed all the
    same, within a pass or two, and the chain verifies."""
    conn = rest.conn
    q(conn, "CREATE TABLE public.audit_steady (id serial PRIMARY KEY, v text)")
    q(conn, "SELECT dwc.audit_table('public.audit_steady')")
    stop = threading.Event()

    def writer():
        c = cluster.connect(IT_DB)
        c.autocommit = True
        while not stop.is_set():
            c.cursor().execute("INSERT INTO public.audit_steady (v) VALUES ('w')")
            stop.wait(0.05)
        c.close()

    t = threading.Thread(target=writer)
    t.start()
    try:
        for _ in range(3):
            q(conn, "INSERT INTO public.audit_steady (v) VALUES ('mine')")
            mine = one(conn, "SELECT max(id) FROM dwc.audit_log WHERE table_name = 'public.audit_steady' "
                             "AND new_values ->> 'v' = 'mine'")
            wait_sealed(cluster)
            assert one(conn, "SELECT count(*) FROM dwc.audit_seal WHERE %s = ANY (audit_ids)", (mine,)) == 1
    finally:
        stop.set()
        t.join()
    assert one(conn, "SELECT dwc.audit_verify()->>'ok'") == "true"
    q(conn, "SELECT dwc.unaudit_table('public.audit_steady')")
    q(conn, "DROP TABLE public.audit_steady")


def test_audit_of_multi_row_statements(rest):
    """Statement-level auditing: every row of big statements (past the 1000-row chunks),
    UPDATE rows paired with their old values, unchanged rows skipped, upserts, rollbacks."""
    conn = rest.conn
    q(conn, "CREATE TABLE public.audit_bulk (id int PRIMARY KEY, v int, t text)")
    q(conn, "SELECT dwc.audit_table('public.audit_bulk')")
    base = one(conn, "SELECT coalesce(max(id), 0) FROM dwc.audit_log")
    q(conn, "INSERT INTO public.audit_bulk SELECT i, i, 'r' || i FROM generate_series(1, 2500) i")
    # every row but id 7 changes; each old value must pair with its own row
    q(conn, "UPDATE public.audit_bulk SET v = CASE WHEN id = 7 THEN v ELSE v * 10 END")
    q(conn, "DELETE FROM public.audit_bulk WHERE id > 2000")
    q(conn, "INSERT INTO public.audit_bulk VALUES (1, -1, 'up'), (9999, 1, 'new') "
            "ON CONFLICT (id) DO UPDATE SET v = excluded.v, t = excluded.t")
    cur = conn.cursor()
    cur.execute("BEGIN")
    cur.execute("INSERT INTO public.audit_bulk VALUES (5000, 1, 'gone')")
    cur.execute("ROLLBACK")
    counts = dict(q(conn, "SELECT action, count(*) FROM dwc.audit_log WHERE id > %s AND table_name = 'public.audit_bulk' "
                          "GROUP BY action", (base,)))
    assert counts == {"INSERT": 2501, "UPDATE": 2499 + 1, "DELETE": 500}
    mismatched = one(conn, """
        SELECT count(*) FROM dwc.audit_log WHERE id > %s AND table_name = 'public.audit_bulk' AND action = 'UPDATE'
           AND (row_key ->> 'id')::int <> 1
           AND ((old_values ->> 'v')::int <> (row_key ->> 'id')::int OR (new_values ->> 'v')::int <> 10 * (row_key ->> 'id')::int
                OR old_values ? 't')""", (base,))
    assert mismatched == 0
    assert one(conn, "SELECT count(*) FROM dwc.audit_log WHERE id > %s AND row_key = '{\"id\": 7}' "
                     "AND action = 'UPDATE'", (base,)) == 0
    upsert = q(conn, "SELECT action, old_values, new_values FROM dwc.audit_log WHERE id > %s AND table_name = "
                     "'public.audit_bulk' AND row_key IN ('{\"id\": 1}', '{\"id\": 9999}') ORDER BY id DESC LIMIT 2",
               (base,))
    assert sorted((a, o, n) for a, o, n in [(r[0], r[1], r[2]) for r in upsert]) == [
        ("INSERT", None, {"id": 9999, "v": 1, "t": "new"}),
        ("UPDATE", {"v": 10, "t": "r1"}, {"v": -1, "t": "up"})]
    assert one(conn, "SELECT count(*) FROM dwc.audit_log WHERE id > %s AND row_key = '{\"id\": 5000}'", (base,)) == 0
    # the trigger is refused anywhere but as the statement-level trigger audit_table makes
    with pytest.raises(psycopg2.Error) as e:
        q(conn, "CREATE TRIGGER wrong AFTER INSERT ON public.audit_bulk FOR EACH ROW EXECUTE FUNCTION dwc._audit_row()")
        q(conn, "INSERT INTO public.audit_bulk VALUES (6000, 1, 'x')")
    assert e.value.pgcode == "39P01"
    q(conn, "DROP TRIGGER IF EXISTS wrong ON public.audit_bulk")
    assert q(conn, "SELECT dwc.unaudit_table('public.audit_bulk')")[0][0] is True
    assert one(conn, "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'public.audit_bulk'::regclass") == 0
    q(conn, "DROP TABLE public.audit_bulk")


def test_sealer_catches_up_with_a_backlog(cluster, rest):
    """The scheduler seals 10,000 rows a pass, once a second when idle; a backlog larger than
    that is worked off pass after pass instead of at 10,000 rows a second."""
    conn = rest.conn
    q(conn, "CREATE TABLE public.audit_backlog (id int PRIMARY KEY, v text)")
    q(conn, "SELECT dwc.audit_table('public.audit_backlog')")
    q(conn, "INSERT INTO public.audit_backlog SELECT i, 'v' || i FROM generate_series(1, 100000) i")
    t0 = time.time()
    cluster.wait_for("SELECT NOT EXISTS (SELECT 1 FROM dwc.audit_log a, dwc.audit_seal_state s "
                     "WHERE a.table_name = 'public.audit_backlog' AND a.txid >= s.horizon)",
                     dbname=IT_DB, timeout=8, interval=0.2)
    took = time.time() - t0
    assert took < 8, took                  # at one batch a second this would take 10 s
    assert one(conn, "SELECT dwc.audit_verify()->>'ok'") == "true"
    q(conn, "SELECT dwc.unaudit_table('public.audit_backlog')")
    q(conn, "DROP TABLE public.audit_backlog")


def test_dwc_tables_are_audited_by_default(rest):
    name, uid = new_user(rest)
    tok = token_of(rest, name)
    wid = rest.rpc("create_workflow", {"name": "aud", "initial_prompt": "Write about audits."}, token=tok)[1]["id"]
    rows = q(rest.conn, "SELECT action, actor_user, actor_role FROM dwc.audit_log WHERE table_name = 'dwc.chains' "
                        "AND row_key = %s ORDER BY id", (json.dumps({"id": wid}),))
    assert rows[0] == ("INSERT", uid, "dwc_user")
    user_rows = q(rest.conn, "SELECT new_values FROM dwc.audit_log WHERE table_name = 'dwc.users' AND action = 'INSERT' "
                             "AND row_key = %s", (json.dumps({"id": uid}),))
    assert user_rows[0][0]["password_hash"] == "[redacted]"
    tables = [r[0] for r in q(rest.conn, "SELECT table_name::text FROM dwc.audited_tables")]
    for t in ("dwc.users", "dwc.api_keys", "dwc.ai_providers", "dwc.chains", "dwc.schedules"):
        assert t in tables
