"""The scheduler worker: firing on time, exactly once across restarts, overlap and misfire
policies, failures, wake-ups on change."""
import time

from conftest import IT_DB


def q(c, sql, params=None):
    return c.sql(sql, params, dbname=IT_DB)


def one(c, sql, params=None):
    return c.scalar(sql, params, dbname=IT_DB)


def runs(c, sid):
    return q(c, "SELECT fire_time, fired_at, outcome, job_id FROM dwc.schedule_runs "
                "WHERE schedule_id = %s ORDER BY fire_time", (sid,))


def test_every_second_schedule_fires_within_its_second(cluster):
    q(cluster, "DROP TABLE IF EXISTS ticks")
    q(cluster, "CREATE TABLE ticks (at timestamptz DEFAULT clock_timestamp())")
    sid = one(cluster, "SELECT dwc.schedule('ticker', '1 second', 'sql', '{\"sql\": \"INSERT INTO ticks DEFAULT VALUES\"}')")
    try:
        time.sleep(4.5)
        q(cluster, "SELECT dwc.disable_schedule(%s)", (sid,))
        time.sleep(0.5)
        rs = runs(cluster, sid)
        assert 3 <= len(rs) <= 5, rs
        assert all(r[2] == "enqueued" for r in rs)
        fires = [r[0] for r in rs]
        assert all((b - a).total_seconds() == 1.0 for a, b in zip(fires, fires[1:])), fires
        late = [(r[1] - r[0]).total_seconds() for r in rs]
        assert max(late) < 0.25, late
        # each run's job ran within its second, except one enqueued ahead of its fire
        # time and cancelled by disable_schedule() before that time came
        ran = one(cluster, "SELECT count(*) FROM dwc.job_history h JOIN dwc.schedule_runs r ON r.job_id = h.id "
                           "WHERE r.schedule_id = %s AND h.status = 'succeeded' "
                           "AND h.started_at >= r.fire_time AND h.started_at < r.fire_time + interval '1 second'", (sid,))
        cancelled = one(cluster, "SELECT count(*) FROM dwc.job_history h JOIN dwc.schedule_runs r ON r.job_id = h.id "
                                 "WHERE r.schedule_id = %s AND h.status = 'cancelled'", (sid,))
        assert cancelled <= 1 and ran + cancelled == len(rs), (ran, cancelled, len(rs))
        assert one(cluster, "SELECT count(*) FROM ticks") == ran
    finally:
        q(cluster, "SELECT dwc.unschedule(%s)", (sid,))
        q(cluster, "DROP TABLE ticks")


def test_no_fire_time_is_lost_or_doubled_across_restarts(make_cluster):
    c = make_cluster()
    q(c, "CREATE TABLE ticks (at timestamptz DEFAULT clock_timestamp())")
    sid = one(c, "SELECT dwc.schedule('ticker', '1 second', 'sql', '{\"sql\": \"INSERT INTO ticks DEFAULT VALUES\"}')")
    c.wait_for("SELECT count(*) >= 2 FROM dwc.schedule_runs", dbname=IT_DB, timeout=10)
    c.restart(mode="immediate")
    c.wait_for("SELECT count(*) >= 5 FROM dwc.schedule_runs", dbname=IT_DB, timeout=20)
    c.restart(mode="fast")
    c.wait_for("SELECT count(*) >= 8 FROM dwc.schedule_runs", dbname=IT_DB, timeout=20)
    q(c, "SELECT dwc.disable_schedule(%s)", (sid,))
    c.wait_for("SELECT count(*) = 0 FROM dwc.jobs", dbname=IT_DB, timeout=20)
    rs = runs(c, sid)
    fires = [r[0] for r in rs]
    # one run per second with no gap (missed seconds are caught up within the misfire grace)
    assert all((b - a).total_seconds() == 1.0 for a, b in zip(fires, fires[1:])), fires
    assert len(set(fires)) == len(fires)
    assert all(r[2] == "enqueued" for r in rs)
    # and each run's job ran exactly once (but one enqueued ahead of its fire time and
    # cancelled by disable_schedule() before it came)
    ran = one(c, "SELECT count(*) FROM dwc.job_history h JOIN dwc.schedule_runs r ON r.job_id = h.id "
                 "WHERE h.status = 'succeeded'")
    cancelled = one(c, "SELECT count(*) FROM dwc.job_history WHERE status = 'cancelled'")
    assert cancelled <= 1 and ran + cancelled == len(rs), (ran, cancelled, len(rs))
    assert one(c, "SELECT count(*) FROM ticks") == ran
    assert one(c, "SELECT count(DISTINCT job_id) FROM dwc.schedule_runs") == len(rs)


def test_overlap_skip_waits_for_the_previous_job(cluster):
    sid = one(cluster, "SELECT dwc.schedule('slow', '1 second', 'sql', '{\"sql\": \"SELECT pg_sleep(2.2)\"}', "
                       "overlap => 'skip')")
    try:
        time.sleep(4.5)
        q(cluster, "SELECT dwc.disable_schedule(%s)", (sid,))
        outcomes = [r[2] for r in runs(cluster, sid)]
        assert outcomes.count("enqueued") >= 2 and outcomes.count("skipped_overlap") >= 2, outcomes
        detail = one(cluster, "SELECT detail FROM dwc.schedule_runs WHERE schedule_id = %s "
                              "AND outcome = 'skipped_overlap' LIMIT 1", (sid,))
        assert detail.endswith("of the previous run is still active")
    finally:
        q(cluster, "SELECT dwc.unschedule(%s)", (sid,))


def test_misfire_policies(cluster):
    skip = one(cluster, "SELECT dwc.schedule('m-skip', '@hourly', misfire => 'skip', enabled => false)")
    once = one(cluster, "SELECT dwc.schedule('m-once', '@hourly', misfire => 'run_once', enabled => false)")
    try:
        # as if the server had been down for ten minutes past their fire time
        q(cluster, "UPDATE dwc.schedules SET enabled = true, next_run_at = now() - interval '10 minutes' "
                   "WHERE id IN (%s, %s)", (skip, once))
        q(cluster, "SELECT dwc._wake_scheduler()")
        cluster.wait_for("SELECT count(*) = 2 FROM dwc.schedule_runs WHERE schedule_id IN (%s, %s)",
                         (skip, once), dbname=IT_DB, timeout=5)
        r_skip = runs(cluster, skip)
        r_once = runs(cluster, once)
        assert [r[2] for r in r_skip] == ["skipped_misfire"] and r_skip[0][3] is None
        assert [r[2] for r in r_once] == ["enqueued"] and r_once[0][3] is not None
        # both resume at their next regular fire time, in the future
        assert one(cluster, "SELECT bool_and(next_run_at > now() AND next_run_at = date_trunc('hour', now()) + interval '1 hour') "
                            "FROM dwc.schedules WHERE id IN (%s, %s)", (skip, once))
    finally:
        q(cluster, "SELECT dwc.unschedule(%s), dwc.unschedule(%s)", (skip, once))


def test_failures_are_counted(cluster):
    sid = one(cluster, "SELECT dwc.schedule('broken', '1 second', 'sql', '{\"sql\": \"SELECT 1/0\"}', max_attempts => 1)")
    try:
        cluster.wait_for("SELECT failure_count >= 2 FROM dwc.schedules WHERE id = %s", (sid,), dbname=IT_DB, timeout=10)
        assert one(cluster, "SELECT last_error FROM dwc.schedules WHERE id = %s", (sid,)) == "division by zero"
        assert one(cluster, "SELECT failures_last_day FROM dwc.schedule_overview WHERE id = %s", (sid,)) >= 2
        # a success resets the count
        q(cluster, "SELECT dwc.alter_schedule(%s, payload => '{\"sql\": \"SELECT 1\"}')", (sid,))
        cluster.wait_for("SELECT failure_count = 0 FROM dwc.schedules WHERE id = %s", (sid,), dbname=IT_DB, timeout=10)
    finally:
        q(cluster, "SELECT dwc.unschedule(%s)", (sid,))


def test_a_schedule_whose_owner_lost_rights_records_failed_runs(cluster):
    q(cluster, "DROP ROLE IF EXISTS dwc_it_sched")
    q(cluster, "CREATE ROLE dwc_it_sched")
    q(cluster, "GRANT USAGE ON SCHEMA dwc TO dwc_it_sched")
    q(cluster, "CREATE OR REPLACE FUNCTION public.it_handler(p jsonb) RETURNS jsonb LANGUAGE sql RETURN p")
    q(cluster, "SELECT dwc.register_job_kind('it.handler', 'public.it_handler(jsonb)')")
    conn = cluster.connect(IT_DB)
    cur = conn.cursor()
    cur.execute("SET ROLE dwc_it_sched")
    cur.execute("SELECT dwc.schedule('mine', '1 second', 'it.handler')")
    sid = cur.fetchone()[0]
    conn.close()
    try:
        cluster.wait_for("SELECT count(*) >= 1 FROM dwc.schedule_runs WHERE schedule_id = %s AND outcome = 'enqueued'",
                         (sid,), dbname=IT_DB, timeout=5)
        q(cluster, "REVOKE EXECUTE ON FUNCTION public.it_handler(jsonb) FROM PUBLIC")
        cluster.wait_for("SELECT count(*) >= 1 FROM dwc.schedule_runs WHERE schedule_id = %s AND outcome = 'failed'",
                         (sid,), dbname=IT_DB, timeout=5)
        detail = one(cluster, "SELECT detail FROM dwc.schedule_runs WHERE schedule_id = %s AND outcome = 'failed' LIMIT 1", (sid,))
        assert detail == "permission denied to enqueue it.handler jobs"
    finally:
        q(cluster, "DELETE FROM dwc.schedules WHERE id = %s", (sid,))
        q(cluster, "SELECT dwc.unregister_job_kind('it.handler')")
        q(cluster, "DROP FUNCTION public.it_handler(jsonb)")
        q(cluster, "REVOKE USAGE ON SCHEMA dwc FROM dwc_it_sched")
        q(cluster, "DROP ROLE dwc_it_sched")


def test_a_new_schedule_wakes_the_scheduler(cluster):
    c = cluster
    c.sql("ALTER SYSTEM SET dwc.naptime = '60s'")
    c.sql("SELECT pg_reload_conf()")
    try:
        time.sleep(1.0)
        t0 = time.monotonic()
        sid = one(c, "SELECT dwc.schedule('soon', '1 second')")
        c.wait_for("SELECT count(*) >= 1 FROM dwc.schedule_runs WHERE schedule_id = %s", (sid,), dbname=IT_DB, timeout=5)
        assert time.monotonic() - t0 < 2.5
        q(c, "SELECT dwc.unschedule(%s)", (sid,))
    finally:
        c.sql("ALTER SYSTEM RESET dwc.naptime")
        c.sql("SELECT pg_reload_conf()")


def test_run_history_is_trimmed(cluster):
    sid = one(cluster, "SELECT dwc.schedule('old', '@yearly', enabled => false)")
    try:
        q(cluster, "INSERT INTO dwc.schedule_runs (schedule_id, fire_time, fired_at, outcome) "
                   "VALUES (%s, now() - interval '30 days', now() - interval '30 days', 'enqueued')", (sid,))
        # every maintenance task runs when the maintenance worker starts: restart it
        pid = one(cluster, "SELECT pid FROM dwc.status() WHERE kind = 'maintenance' AND database = current_database()")
        q(cluster, "SELECT pg_terminate_backend(%s)", (pid,))
        cluster.wait_for("SELECT count(*) = 0 FROM dwc.schedule_runs WHERE schedule_id = %s", (sid,),
                         dbname=IT_DB, timeout=15)
    finally:
        q(cluster, "SELECT dwc.unschedule(%s)", (sid,))
