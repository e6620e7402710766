"""A streaming replica of a dwc database: what a PostgREST read replica serves works on the
hot standby without writing, health() tells the roles apart, and a promotion with jobs queued
and a schedule firing runs every job once and keeps the schedule going (docs/replication.md)."""
import os
import time

import psycopg2
import pytest

import backup_dataset
from cluster import Cluster, chown_to_owner, temp_cluster
from conftest import IT_DB, TEST_SETTINGS, one, prepare, q
from test_backup import answers, tool


def standby_of(primary, port):
    """A hot standby of primary, made with pg_basebackup -R, started."""
    s = temp_cluster(port=port, settings=TEST_SETTINGS)
    os.makedirs(s.base, exist_ok=True)
    chown_to_owner(s.base)
    s._run([os.path.join(s.bindir, "pg_basebackup"), "-h", primary.socket_dir, "-p", str(primary.port),
            "-U", "postgres", "-D", s.data, "-R", "-X", "stream", "-c", "fast"])
    s.set_conf({"port": str(port), "unix_socket_directories": "'%s'" % s.socket_dir})
    return s.start()


def caught_up(primary, standby):
    # the insert position: dwc's workers commit asynchronously, and what is not yet written out
    # is not in pg_current_wal_lsn()
    lsn = primary.scalar("SELECT pg_current_wal_insert_lsn()")
    standby.wait_for("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (lsn,), timeout=60)


@pytest.fixture
def pair():
    from fakeai import FakeAI
    ai = FakeAI("openai")
    primary = temp_cluster(settings=TEST_SETTINGS, port=5630).init().start()
    standby = None
    try:
        prepare(primary)
        backup_dataset.build(primary, ai)
        standby = standby_of(primary, 5631)
        caught_up(primary, standby)
        yield primary, standby
    finally:
        if standby is not None:
            standby.destroy()
        primary.destroy()
        ai.close()


# what a read replica answers: each call, as an administrator, must not try to write
READS = [
    "SELECT dwc.recommend('u1', 'shop', 3)",
    "SELECT dwc.similar_items('i1', 'near', 3)",
    "SELECT dwc.ml_predict('flowers', '{\"a\": 5, \"b\": 1}')",
    "SELECT dwc.search_documents('lighthouse keepers')",
    "SELECT dwc.analytics_summary()",
    "SELECT dwc.dashboard()",
    "SELECT dwc.list_chains()",
    "SELECT dwc.get_chain((SELECT min(id) FROM dwc.chains))",
    "SELECT dwc.queue_stats()",
    "SELECT dwc.audit_verify()",
    "SELECT count(*) FROM dwc.status()",
]


def test_hot_standby_serves_reads_and_says_what_it_is(pair):
    primary, standby = pair
    h = primary.scalar("SELECT dwc.health()", dbname=IT_DB)
    assert h["role"] == "primary" and h["status"] == "ok", h
    h = standby.scalar("SELECT dwc.health()", dbname=IT_DB)
    assert h["role"] == "standby", h
    # a standby is healthy as a standby: readable, preloaded, its workers waiting for promotion
    assert h["status"] == "ok" and h["checks"]["workers"]["preloaded"] is True, h
    assert h["checks"]["workers"]["status"] == "standby", h
    for sql in READS:
        standby.scalar(sql, dbname=IT_DB)             # raises on a write attempt (25006)
    assert answers(standby, IT_DB) == answers(primary, IT_DB)
    # nothing runs on the standby
    assert standby.scalar("SELECT count(*) FROM dwc.status()", dbname=IT_DB) == 0
    # nor is a metric recorded into the standby's shared memory, which nothing would write:
    # recording a metric the primary defined is a write, refused as every write is (25006)
    primary.sql("SELECT dwc.define_metric('replica_probe_total', 'counter')", dbname=IT_DB)
    caught_up(primary, standby)
    with pytest.raises(psycopg2.errors.ReadOnlySqlTransaction):
        standby.scalar("SELECT dwc.metric_inc('replica_probe_total')", dbname=IT_DB)


def test_promotion_runs_each_queued_job_once_and_keeps_the_schedule(pair):
    primary, standby = pair
    conn = primary.connect(IT_DB)
    q(conn, "CREATE TABLE public.ran (job int PRIMARY KEY, at timestamptz DEFAULT clock_timestamp())")
    q(conn, "CREATE TABLE public.ticks (at timestamptz DEFAULT clock_timestamp())")
    q(conn, "SELECT dwc.schedule('ticker', '1 second', 'sql', '{\"sql\": \"INSERT INTO public.ticks DEFAULT VALUES\"}')")
    # 400 jobs, each recording itself; the primary runs some of them before it goes away
    q(conn, "SELECT dwc.enqueue('sql', jsonb_build_object('sql', format('INSERT INTO public.ran (job) VALUES (%s)', g))) "
            "FROM generate_series(1, 400) g")
    primary.wait_for("SELECT count(*) >= 20 FROM public.ran", dbname=IT_DB, timeout=60)
    primary.wait_for("SELECT count(*) >= 2 FROM public.ticks", dbname=IT_DB, timeout=60)
    conn.close()
    # the primary dies without warning; the standby is promoted
    primary.stop("immediate")
    down = time.time()
    h = standby.scalar("SELECT dwc.health()", dbname=IT_DB)
    assert h["role"] == "standby", h
    standby.scalar("SELECT pg_promote()")
    standby.wait_for("SELECT NOT pg_is_in_recovery()", timeout=60)
    up = time.time()
    # every job runs, each once (a job the primary ran without the standby seeing it ran with
    # its effect lost in the same transaction, so it runs again, once)
    standby.wait_for("SELECT count(*) = 400 FROM public.ran", dbname=IT_DB, timeout=120)
    # (public.ran's key would turn a second run into a failure: none failed, none is left)
    mine = "payload->>'sql' LIKE 'INSERT INTO public.ran %%'"
    assert standby.scalar("SELECT count(*) FROM dwc.jobs WHERE " + mine, dbname=IT_DB) == 0
    assert standby.sql("SELECT status, count(*) FROM dwc.job_history WHERE " + mine + " GROUP BY 1",
                       dbname=IT_DB) == [("succeeded", 400)]
    # the schedule fires on: ticks after the promotion, no gap longer than the failover itself
    standby.wait_for("SELECT count(*) >= 3 FROM public.ticks WHERE at > now() - interval '5 seconds'",
                     dbname=IT_DB, timeout=60)
    # the longest gap is the failover's: from the last tick the standby received to the new
    # primary's first; ticks are not lost beyond it, nor doubled
    first_after = standby.scalar("SELECT extract(epoch FROM min(at)) FROM public.ticks WHERE at >= to_timestamp(%s)",
                                 (down,), dbname=IT_DB)
    gaps = standby.sql("SELECT extract(epoch FROM at - lag(at) OVER (ORDER BY at)) FROM public.ticks",
                       dbname=IT_DB)
    longest = max(float(g) for (g,) in gaps if g is not None)
    assert longest <= float(first_after) - down + 10, (longest, float(first_after) - down, up - down)
    # no firing twice: each fire time of the schedule once, across the failover
    assert standby.scalar("SELECT count(*) - count(DISTINCT r.fire_time) FROM dwc.schedule_runs r "
                          "JOIN dwc.schedules s ON s.id = r.schedule_id WHERE s.name = 'ticker'", dbname=IT_DB) == 0
    h = standby.scalar("SELECT dwc.health()", dbname=IT_DB)
    assert h["role"] == "primary", h
    standby.wait_for("SELECT (dwc.health())->>'status' = 'ok'", dbname=IT_DB, timeout=60)
