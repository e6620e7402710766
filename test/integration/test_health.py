"""api.health reports the database, the workers, the scheduler and the queue's lag, and
says degraded (HTTP 503) when one of them is not working."""
import json
import time

from conftest import IT_DB, JWT_SECRET
from postgrest import PostgREST


def health(c, lag=60):
    conn = c.connect(IT_DB)
    try:
        status, body = PostgREST(conn, JWT_SECRET).rpc("health", {"max_queue_lag_seconds": lag}, get=True)
    finally:
        conn.close()
    return status, body


def wait_workers(c, n):
    c.wait_for("SELECT count(*) = %s FROM dwc.status() WHERE database = current_database() "
               "AND kind IN ('job', 'scheduler', 'maintenance')", (n,), dbname=IT_DB, timeout=30)


def test_health_is_ok_then_degraded_as_parts_stop(make_cluster):
    # a worker that stops is not restarted within the test
    c = make_cluster(settings={"dwc.worker_restart_delay": "'1h'"})
    wait_workers(c, 4)
    status, body = health(c)
    assert status == 200 and body["status"] == "ok", body
    assert body["checks"]["workers"] == {"status": "ok", "live": 2, "expected": 2, "preloaded": True,
                                         "database_served": True}
    assert body["checks"]["scheduler"]["status"] == "ok"
    assert body["checks"]["maintenance"] == {"status": "ok", "live": 1}
    assert body["checks"]["database"]["status"] == "ok"

    # the scheduler goes away
    pid = c.scalar("SELECT pid FROM dwc.status() WHERE kind = 'scheduler'", dbname=IT_DB)
    assert c.scalar("SELECT pg_terminate_backend(%s)", (pid,))
    wait_workers(c, 3)
    status, body = health(c)
    assert status == 503 and body["status"] == "degraded", body
    assert body["checks"]["scheduler"] == {"status": "down", "live": 0}
    assert body["checks"]["workers"]["status"] == "ok"
    assert body["checks"]["maintenance"]["status"] == "ok"

    # the maintenance worker goes away
    pid = c.scalar("SELECT pid FROM dwc.status() WHERE kind = 'maintenance'", dbname=IT_DB)
    assert c.scalar("SELECT pg_terminate_backend(%s)", (pid,))
    wait_workers(c, 2)
    status, body = health(c)
    assert status == 503 and body["checks"]["maintenance"] == {"status": "down", "live": 0}, body

    # then the job workers: a job ready to run waits, and the queue lags
    for (pid,) in c.sql("SELECT pid FROM dwc.status() WHERE kind = 'job'", dbname=IT_DB):
        c.sql("SELECT pg_terminate_backend(%s)", (pid,))
    wait_workers(c, 0)
    c.sql("SELECT dwc.enqueue('noop', '{}')", dbname=IT_DB)
    time.sleep(1.2)
    status, body = health(c, lag=1)
    assert status == 503, body
    assert body["checks"]["workers"]["status"] == "down" and body["checks"]["workers"]["live"] == 0
    queue = body["checks"]["queue"]
    assert queue["status"] == "lagging" and queue["ready"] == 1 and queue["oldest_ready_seconds"] > 1, queue
    # a paused queue's jobs are not lag
    c.sql("SELECT dwc.pause_queue('default')", dbname=IT_DB)
    assert health(c, lag=1)[1]["checks"]["queue"]["status"] == "ok"


def test_health_is_degraded_where_no_workers_serve_the_database(make_cluster):
    c = make_cluster(settings={"dwc.databases": "'postgres'"})
    status, body = health(c)
    assert status == 503 and body["status"] == "degraded", json.dumps(body)
    w = body["checks"]["workers"]
    assert w["status"] == "down" and w["database_served"] is False and w["preloaded"] is True


def test_health_without_the_library_preloaded(make_cluster):
    c = make_cluster(preload=False)
    status, body = health(c)
    assert status == 503
    assert body["checks"]["workers"]["preloaded"] is False
