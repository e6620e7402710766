"""The maintenance worker: periodic tasks run apart from the scheduler, each in its own
transaction, so a task that waits or fails delays no schedule and stops no other task."""
import time

from conftest import IT_DB


def q(c, sql, params=None):
    return c.sql(sql, params, dbname=IT_DB)


def one(c, sql, params=None):
    return c.scalar(sql, params, dbname=IT_DB)


def test_a_task_waiting_for_a_lock_does_not_hold_up_schedules(cluster):
    """The maintenance worker stuck behind a lock (for up to its lock_timeout, again and again);
    the scheduler, a worker of its own, goes on firing. (How late it fires is a figure of
    bench/queue.py, not a condition of this test.)"""
    # the audit seal (every second) waits for this lock for as long as the test holds it
    blocker = cluster.connect(IT_DB, autocommit=False)
    sid = None
    try:
        blocker.cursor().execute("LOCK TABLE dwc.audit_seal_state IN ACCESS EXCLUSIVE MODE")
        cluster.wait_for("SELECT state = 'running audit seal' FROM dwc.status() "
                         "WHERE kind = 'maintenance' AND database = current_database()",
                         dbname=IT_DB, timeout=30)
        sid = one(cluster, "SELECT dwc.schedule('tick under a stuck task', '1 second')")
        cluster.wait_for("SELECT count(*) >= 3 FROM dwc.schedule_runs WHERE schedule_id = %s", (sid,),
                         dbname=IT_DB, timeout=60)
        # three fire times, one second apart: none skipped while the task was stuck
        rs = [r[0] for r in q(cluster, "SELECT fire_time FROM dwc.schedule_runs WHERE schedule_id = %s "
                                       "ORDER BY fire_time", (sid,))]
        assert all((b - a).total_seconds() == 1.0 for a, b in zip(rs, rs[1:])), rs
    finally:
        blocker.rollback()
        blocker.close()
        if sid is not None:
            q(cluster, "SELECT dwc.unschedule(%s)", (sid,))
    cluster.wait_for("SELECT state = 'idle' FROM dwc.status() WHERE kind = 'maintenance' "
                     "AND database = current_database()", dbname=IT_DB, timeout=30)


def test_a_failing_task_is_logged_and_the_others_still_run(make_cluster):
    c = make_cluster()
    c.wait_for("SELECT count(*) = 1 FROM dwc.status() WHERE kind = 'maintenance' AND state = 'idle'",
               dbname=IT_DB, timeout=20)
    # the partition manager (the first task) fails on a table whose retention setting is unknown
    q(c, "CREATE TABLE broken (at timestamptz NOT NULL) PARTITION BY RANGE (at)")
    q(c, "INSERT INTO dwc.partitioned_tables (parent, time_column, period, retention_setting) "
         "VALUES ('broken', 'at', 'day', 'dwc_test.no_such_setting')")
    sid = one(c, "SELECT dwc.schedule('old', '@yearly', enabled => false)")
    q(c, "INSERT INTO dwc.schedule_runs (schedule_id, fire_time, fired_at, outcome) "
         "VALUES (%s, now() - interval '30 days', now() - interval '30 days', 'enqueued')", (sid,))
    offset = c.log_size()
    pid = one(c, "SELECT pid FROM dwc.status() WHERE kind = 'maintenance'")
    q(c, "SELECT pg_terminate_backend(%s)", (pid,))
    # its successor runs every task at start: the trim of old schedule runs, after the
    # failed partition pass, still happens
    c.wait_for("SELECT count(*) = 0 FROM dwc.schedule_runs WHERE schedule_id = %s", (sid,),
               dbname=IT_DB, timeout=15)
    log = c.log_since(offset)
    assert 'unrecognized configuration parameter "dwc_test.no_such_setting"' in log, log
    assert 'dwc maintenance task "partitions"' in log, log
    # the worker itself lives on
    new_pid = one(c, "SELECT pid FROM dwc.status() WHERE kind = 'maintenance'")
    offset = c.log_size()
    time.sleep(1.5)
    assert one(c, "SELECT pid FROM dwc.status() WHERE kind = 'maintenance'") == new_pid
    assert "has stopped" not in c.log_since(offset)
    # repaired, the next pass makes the table's partitions
    q(c, "UPDATE dwc.partitioned_tables SET retention_setting = 'dwc.job_history_retention' "
         "WHERE parent = 'broken'::regclass")
    q(c, "SELECT pg_terminate_backend(%s)", (new_pid,))
    c.wait_for("SELECT to_regclass('broken_' || to_char(now(), 'YYYYMMDD')) IS NOT NULL",
               dbname=IT_DB, timeout=15)
