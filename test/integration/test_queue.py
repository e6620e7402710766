"""The job queue with live workers: wake-ups, priorities, delays, retries, dead letters,
timeouts, roles, kinds, cancellation, crashes and restarts."""
import threading
import time

import psycopg2
import pytest

from conftest import IT_DB
from fakehttp import Reply


def q(c, sql, params=None):
    return c.sql(sql, params, dbname=IT_DB)


def one(c, sql, params=None):
    return c.scalar(sql, params, dbname=IT_DB)


def status(c, job_id):
    return one(c, "SELECT dwc.job_status(%s)->>'status'", (job_id,))


def wait_status(c, job_id, wanted, timeout=20):
    c.wait_for("SELECT dwc.job_status(%s)->>'status' = %s", (job_id, wanted), dbname=IT_DB,
               timeout=timeout, message="job %s %s" % (job_id, wanted))
    return one(c, "SELECT dwc.job_status(%s)", (job_id,))


def setting(c, name, value):
    """ALTER SYSTEM + reload; returns a function that restores the setting."""
    c.sql("ALTER SYSTEM SET %s = '%s'" % (name, value))
    c.sql("SELECT pg_reload_conf()")
    time.sleep(0.3)

    def restore():
        c.sql("ALTER SYSTEM RESET %s" % name)
        c.sql("SELECT pg_reload_conf()")
        time.sleep(0.3)
    return restore


@pytest.fixture
def table(cluster):
    """A fresh table t(n int, who text, at timestamptz) in the integration database."""
    q(cluster, "DROP TABLE IF EXISTS t")
    q(cluster, "CREATE TABLE t (n int, who text DEFAULT current_user, at timestamptz DEFAULT clock_timestamp())")
    yield "t"
    q(cluster, "DROP TABLE IF EXISTS t")


def test_workers_give_way_in_a_deadlock(cluster, table):
    """dwc's sessions wait 100 ms, not the server's 1 s, before checking for a deadlock: in
    one with a person's session (DROP EXTENSION under load), the worker aborts itself."""
    job = one(cluster, "SELECT dwc.enqueue('sql', '{\"sql\": \"INSERT INTO t (n, who) "
                       "VALUES (1, current_setting(''deadlock_timeout''))\"}')")
    wait_status(cluster, job, "succeeded")
    assert one(cluster, "SELECT who FROM t") == "100ms"
    assert one(cluster, "SELECT current_setting('deadlock_timeout')") == "1s"


def test_a_job_runs_and_its_result_is_kept(cluster, table):
    job = one(cluster, "SELECT dwc.enqueue('sql', '{\"sql\": \"INSERT INTO t (n) VALUES (1), (2)\"}')")
    j = wait_status(cluster, job, "succeeded")
    assert j["result"] == {"rows": 2} and j["attempts"] == 1 and j["last_error"] is None
    assert one(cluster, "SELECT count(*) FROM t") == 2
    assert one(cluster, "SELECT count(*) FROM dwc.jobs WHERE id = %s", (job,)) == 0, "finished jobs leave the hot table"


def test_workers_are_woken_at_commit_not_by_polling(cluster, table):
    restore = setting(cluster, "dwc.naptime", "60s")
    try:
        time.sleep(0.5)   # let the workers settle into a 60 s sleep
        conn = cluster.connect(IT_DB, autocommit=False)
        cur = conn.cursor()
        cur.execute("SELECT dwc.enqueue('sql', '{\"sql\": \"INSERT INTO t (n) VALUES (1)\"}')")
        job = cur.fetchone()[0]
        time.sleep(0.5)
        assert one(cluster, "SELECT count(*) FROM t") == 0, "nothing runs before commit"
        t0 = time.monotonic()
        conn.commit()
        conn.close()
        wait_status(cluster, job, "succeeded", timeout=5)
        assert time.monotonic() - t0 < 1.0, "an idle worker must start the job at commit"
        lat = one(cluster, "SELECT extract(epoch FROM started_at - run_at) FROM dwc.job_history WHERE id = %s", (job,))
        assert lat < 1.0
    finally:
        restore()


def test_a_rolled_back_enqueue_runs_nothing(cluster, table):
    conn = cluster.connect(IT_DB, autocommit=False)
    cur = conn.cursor()
    cur.execute("SELECT dwc.enqueue('sql', '{\"sql\": \"INSERT INTO t (n) VALUES (666)\"}')")
    job = cur.fetchone()[0]
    conn.rollback()
    conn.close()
    time.sleep(1.0)
    assert one(cluster, "SELECT count(*) FROM t") == 0
    assert one(cluster, "SELECT count(*) FROM dwc.job_history WHERE id = %s", (job,)) == 0
    with pytest.raises(psycopg2.errors.NoDataFound):
        status(cluster, job)


def test_priorities_are_respected(cluster, table):
    restore = setting(cluster, "dwc.job_workers", "1")
    try:
        cluster.wait_for("SELECT count(*) = 1 FROM dwc.status() WHERE kind = 'job' "
                         "AND database = current_database()", dbname=IT_DB, timeout=10)
        q(cluster, "SELECT dwc.pause_queue('prio')")
        prios = ["low", "normal", "critical", "high", "-500", "normal", "999", "low"]
        for i, p in enumerate(prios):
            q(cluster, "SELECT dwc.enqueue('sql', jsonb_build_object('sql', format('INSERT INTO t (n) VALUES (%%s)', %s)),"
                       " queue => 'prio', priority => %s)", (i, p))
        q(cluster, "SELECT dwc.resume_queue('prio')")
        cluster.wait_for("SELECT count(*) = %s FROM t", (len(prios),), dbname=IT_DB, timeout=15)
        order = [r[0] for r in q(cluster, "SELECT n FROM t ORDER BY at")]
        expected = sorted(range(len(prios)), key=lambda i: (-int(q(cluster, "SELECT dwc.priority_value(%s)", (prios[i],))[0][0]), i))
        assert order == expected
    finally:
        restore()
        cluster.wait_for("SELECT count(*) = 2 FROM dwc.status() WHERE kind = 'job' "
                         "AND database = current_database() AND state = 'idle'", dbname=IT_DB, timeout=10)


def test_delayed_jobs_wait(cluster, table):
    job = one(cluster, "SELECT dwc.enqueue('sql', '{\"sql\": \"INSERT INTO t (n) VALUES (1)\"}', delay => '1.5 seconds')")
    time.sleep(1.0)
    assert status(cluster, job) == "queued"
    assert one(cluster, "SELECT count(*) FROM t") == 0
    j = wait_status(cluster, job, "succeeded", timeout=5)
    waited = one(cluster, "SELECT extract(epoch FROM started_at - created_at) FROM dwc.job_history WHERE id = %s", (job,))
    assert 1.5 <= waited < 2.5, waited
    assert j["attempts"] == 1


def test_failures_back_off_then_die_with_the_last_error(cluster):
    restore = setting(cluster, "dwc.job_backoff_base", "400ms")
    try:
        job = one(cluster, "SELECT dwc.enqueue('sql', '{\"sql\": \"SELECT 1/0\"}', max_attempts => 3)")
        seen = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            row = q(cluster, "SELECT status, attempts, extract(epoch FROM run_at - clock_timestamp()) FROM dwc.jobs "
                             "WHERE id = %s", (job,))
            if not row:
                break
            if row[0][0] == "retry" and (not seen or seen[-1][0] != row[0][1]):
                seen.append((row[0][1], row[0][2]))
            time.sleep(0.02)
        j = wait_status(cluster, job, "dead")
        assert j["attempts"] == 3
        assert j["last_error"] == "division by zero"
        # retry 1 waits 200..400 ms, retry 2 400..800 ms (equal jitter)
        assert [a for a, _ in seen] == [1, 2], seen
        assert seen[0][1] <= 0.45 and seen[1][1] <= 0.85, seen
        took = one(cluster, "SELECT extract(epoch FROM finished_at - created_at) FROM dwc.job_history WHERE id = %s", (job,))
        assert took >= 0.6, took
        assert one(cluster, "SELECT count(*) FROM dwc.dead_jobs WHERE id = %s", (job,)) == 1
    finally:
        restore()


def test_a_dead_job_can_be_redriven(cluster):
    q(cluster, "DROP TABLE IF EXISTS later")
    job = one(cluster, "SELECT dwc.enqueue('sql', '{\"sql\": \"INSERT INTO later VALUES (1)\"}', max_attempts => 1)")
    j = wait_status(cluster, job, "dead")
    assert 'relation "later" does not exist' in j["last_error"]
    q(cluster, "CREATE TABLE later (n int)")
    try:
        assert one(cluster, "SELECT dwc.retry_job(%s)", (job,)) is True
        j = wait_status(cluster, job, "succeeded")
        assert j["attempts"] == 1
        assert one(cluster, "SELECT count(*) FROM later") == 1
        # bulk redrive
        jobs = [one(cluster, "SELECT dwc.enqueue('sql', '{\"sql\": \"SELECT nope\"}', max_attempts => 1, queue => 'redrive')")
                for _ in range(3)]
        for j in jobs:
            wait_status(cluster, j, "dead")
        assert one(cluster, "SELECT dwc.redrive_dead(queue => 'redrive')") == 3
        for j in jobs:
            wait_status(cluster, j, "dead")
        assert one(cluster, "SELECT count(*) FROM dwc.job_history WHERE queue = 'redrive' AND status = 'dead'") == 3
    finally:
        q(cluster, "DROP TABLE later")


def test_the_timeout_kills_a_long_job(cluster, table):
    t0 = time.monotonic()
    job = one(cluster, "SELECT dwc.enqueue('sql', '{\"sql\": \"SELECT pg_sleep(30)\"}', timeout => '500 ms', max_attempts => 1)")
    j = wait_status(cluster, job, "dead", timeout=10)
    assert j["last_error"] == "job timed out after 500 ms"
    assert time.monotonic() - t0 < 5
    # the worker is fine afterwards
    job2 = one(cluster, "SELECT dwc.enqueue('sql', '{\"sql\": \"INSERT INTO t (n) VALUES (1)\"}')")
    wait_status(cluster, job2, "succeeded", timeout=5)


def test_jobs_run_as_the_role_that_enqueued_them(cluster, table):
    q(cluster, "DROP ROLE IF EXISTS dwc_it_runner")
    q(cluster, "CREATE ROLE dwc_it_runner")
    q(cluster, "GRANT USAGE ON SCHEMA dwc TO dwc_it_runner")
    q(cluster, "GRANT INSERT ON t TO dwc_it_runner")
    q(cluster, "CREATE TABLE IF NOT EXISTS secret (x int)")
    try:
        conn = cluster.connect(IT_DB)
        cur = conn.cursor()
        cur.execute("SET ROLE dwc_it_runner")
        cur.execute("SELECT dwc.enqueue('sql', '{\"sql\": \"INSERT INTO t (n) VALUES (1)\"}')")
        ok = cur.fetchone()[0]
        cur.execute("SELECT dwc.enqueue('sql', '{\"sql\": \"SELECT * FROM secret\"}', max_attempts => 1)")
        denied = cur.fetchone()[0]
        cur.execute("SELECT dwc.enqueue('sql', '{\"sql\": \"RESET ROLE; INSERT INTO secret VALUES (1)\"}', max_attempts => 1)")
        escape = cur.fetchone()[0]
        cur.execute("SELECT dwc.enqueue('sql', '{\"sql\": \"SET ROLE postgres\"}', max_attempts => 1)")
        escape2 = cur.fetchone()[0]
        conn.close()
        wait_status(cluster, ok, "succeeded")
        assert q(cluster, "SELECT who FROM t") == [("dwc_it_runner",)]
        assert "permission denied for table secret" in wait_status(cluster, denied, "dead")["last_error"]
        for e in (escape, escape2):
            err = wait_status(cluster, e, "dead")["last_error"]
            assert 'cannot set parameter "role"' in err, err
        assert one(cluster, "SELECT count(*) FROM secret") == 0
    finally:
        q(cluster, "DROP TABLE IF EXISTS secret")
        q(cluster, "REVOKE ALL ON t FROM dwc_it_runner")
        q(cluster, "REVOKE USAGE ON SCHEMA dwc FROM dwc_it_runner")
        q(cluster, "DROP ROLE dwc_it_runner")


def test_settings_changed_by_a_job_do_not_leak_into_the_next(cluster, table):
    restore = setting(cluster, "dwc.job_workers", "1")
    try:
        cluster.wait_for("SELECT count(*) = 1 FROM dwc.status() WHERE kind = 'job' "
                         "AND database = current_database()", dbname=IT_DB, timeout=10)
        q(cluster, "SELECT dwc.pause_queue('guc')")
        a = one(cluster, "SELECT dwc.enqueue('sql', '{\"sql\": \"SET search_path = nowhere\"}', queue => 'guc', priority => 'high')")
        b = one(cluster, "SELECT dwc.enqueue('sql', '{\"sql\": \"INSERT INTO t (n, who) VALUES (1, current_setting(''search_path''))\"}', queue => 'guc')")
        q(cluster, "SELECT dwc.resume_queue('guc')")
        wait_status(cluster, a, "succeeded")
        wait_status(cluster, b, "succeeded")
        # the database's path, with pg_temp named last (src/queue/isolation.c)
        assert one(cluster, "SELECT who FROM t") == '"$user", public, pg_temp'
    finally:
        restore()


def test_function_kinds(cluster):
    q(cluster, """CREATE OR REPLACE FUNCTION public.it_square(payload jsonb) RETURNS jsonb
                  LANGUAGE plpgsql AS $$
                  BEGIN
                      IF payload ? 'fail' THEN RAISE EXCEPTION 'asked to fail: %', payload->>'fail'; END IF;
                      RETURN jsonb_build_object('square', (payload->>'n')::int ^ 2, 'by', current_user);
                  END $$""")
    q(cluster, "SELECT dwc.register_job_kind('it.square', 'public.it_square(jsonb)', max_attempts => 2)")
    try:
        ok = one(cluster, "SELECT dwc.enqueue('it.square', '{\"n\": 12}')")
        bad = one(cluster, "SELECT dwc.enqueue('it.square', '{\"fail\": \"yes\"}')")
        assert wait_status(cluster, ok, "succeeded")["result"] == {"square": 144, "by": "postgres"}
        j = wait_status(cluster, bad, "dead")
        assert j["attempts"] == 2 and j["last_error"] == "asked to fail: yes"
        # a kind unregistered while its job waits fails that job for good
        q(cluster, "SELECT dwc.pause_queue('orphan')")
        orphan = one(cluster, "SELECT dwc.enqueue('it.square', '{\"n\": 1}', queue => 'orphan')")
        q(cluster, "SELECT dwc.unregister_job_kind('it.square')")
        q(cluster, "SELECT dwc.resume_queue('orphan')")
        j = wait_status(cluster, orphan, "dead")
        assert j["attempts"] == 1 and 'job kind "it.square" is no longer registered' == j["last_error"]
    finally:
        q(cluster, "SELECT dwc.unregister_job_kind('it.square')")
        q(cluster, "DROP FUNCTION public.it_square(jsonb)")


def test_final_errors_end_a_job_at_once(cluster):
    """An error the kind names among its final errors ends the job dead at its first attempt,
    the handler's writes rolled back, with {"ok": false, "sqlstate", "error"}; other errors
    are retried; the same in the worker's transaction and in a leased kind's own; names that are
    neither conditions nor SQLSTATEs are refused."""
    q(cluster, "CREATE TABLE IF NOT EXISTS public.it_final_writes (job_id int8)")
    q(cluster, """CREATE OR REPLACE FUNCTION public.it_final(payload jsonb) RETURNS jsonb
                  LANGUAGE plpgsql AS $$
                  BEGIN
                      INSERT INTO public.it_final_writes VALUES (dwc.current_job_id());
                      IF payload->>'raise' = 'missing' THEN
                          RAISE EXCEPTION 'no such row' USING ERRCODE = 'no_data_found';
                      ELSIF payload->>'raise' = 'column' THEN
                          PERFORM nope FROM pg_class;
                      ELSIF payload->>'raise' = 'other' THEN
                          RAISE EXCEPTION 'try again';
                      END IF;
                      RETURN '{"ok": true}';
                  END $$""")
    restore = setting(cluster, "dwc.job_backoff_base", "100ms")
    try:
        for leased in (False, True):
            q(cluster, "SELECT dwc.register_job_kind('it.final', 'public.it_final(jsonb)', max_attempts => 3, "
                       "leased => %s, final_errors => '{no_data_found, 42703}')", (leased,))
            missing = one(cluster, "SELECT dwc.enqueue('it.final', '{\"raise\": \"missing\"}')")
            column = one(cluster, "SELECT dwc.enqueue('it.final', '{\"raise\": \"column\"}')")
            other = one(cluster, "SELECT dwc.enqueue('it.final', '{\"raise\": \"other\"}')")
            j = wait_status(cluster, missing, "dead")
            assert j["attempts"] == 1 and j["last_error"] == "no such row", j
            assert j["result"] == {"ok": False, "sqlstate": "P0002", "error": "no such row"}, j
            j = wait_status(cluster, column, "dead")
            assert j["attempts"] == 1 and j["result"]["sqlstate"] == "42703", j
            j = wait_status(cluster, other, "dead")
            assert j["attempts"] == 3 and j["last_error"] == "try again" and j.get("result") is None, j
            # what the handler wrote before the error rolled back with it
            assert one(cluster, "SELECT count(*) FROM public.it_final_writes WHERE job_id IN (%s, %s, %s)",
                       (missing, column, other)) == 0
        with pytest.raises(psycopg2.errors.InvalidParameterValue) as e:
            q(cluster, "SELECT dwc.register_job_kind('it.final', 'public.it_final(jsonb)', "
                       "final_errors => '{no_data_found, no_such_condition}')")
        assert '"no_such_condition" is neither an error condition nor a SQLSTATE' in str(e.value)
        assert one(cluster, "SELECT final_errors FROM dwc.job_kinds WHERE kind = 'it.final'") == ["P0002", "42703"]
    finally:
        restore()
        q(cluster, "SELECT dwc.unregister_job_kind('it.final')")
        q(cluster, "DROP FUNCTION public.it_final(jsonb)")
        q(cluster, "DROP TABLE public.it_final_writes")


def test_outcome_hooks_learn_of_retries_and_ends(cluster):
    """A kind's on_retry hook sees each failed attempt in the transaction that records the
    retry, its on_end hook the jobs that ended, whatever their status; only superusers may
    give a kind hooks, and the hooks' signatures are checked."""
    q(cluster, "CREATE TABLE IF NOT EXISTS public.it_outcomes (job_id int8, hook text, status text, attempts int)")
    q(cluster, """CREATE OR REPLACE FUNCTION public.it_flaky(payload jsonb) RETURNS jsonb
                  LANGUAGE plpgsql AS $$
                  BEGIN
                      IF (SELECT attempts FROM dwc.jobs WHERE id = dwc.current_job_id()) < (payload->>'ok_at')::int THEN
                          RAISE EXCEPTION 'not yet';
                      END IF;
                      RETURN '{}';
                  END $$""")
    q(cluster, """CREATE OR REPLACE FUNCTION public.it_retried(job dwc.jobs) RETURNS void LANGUAGE sql
                  BEGIN ATOMIC
                      INSERT INTO public.it_outcomes VALUES (job.id, 'retry', job.status, job.attempts);
                  END""")
    q(cluster, """CREATE OR REPLACE FUNCTION public.it_ended(jobs dwc.job_history[]) RETURNS void LANGUAGE sql
                  BEGIN ATOMIC
                      INSERT INTO public.it_outcomes SELECT j.id, 'end', j.status, j.attempts FROM unnest(jobs) j;
                  END""")
    q(cluster, "SELECT dwc.register_job_kind('it.flaky', 'public.it_flaky(jsonb)', max_attempts => 3, "
               "on_retry => 'public.it_retried(dwc.jobs)', on_end => 'public.it_ended(dwc.job_history[])')")
    restore = setting(cluster, "dwc.job_backoff_base", "100ms")
    try:
        # attempts counts the attempts made before this one
        twice = one(cluster, "SELECT dwc.enqueue('it.flaky', '{\"ok_at\": 1}')")
        never = one(cluster, "SELECT dwc.enqueue('it.flaky', '{\"ok_at\": 99}')")
        wait_status(cluster, twice, "succeeded")
        wait_status(cluster, never, "dead")
        seen = q(cluster, "SELECT job_id, hook, status, attempts FROM public.it_outcomes ORDER BY job_id, hook, attempts")
        assert seen == [(twice, "end", "succeeded", 2), (twice, "retry", "retry", 1),
                        (never, "end", "dead", 3), (never, "retry", "retry", 1), (never, "retry", "retry", 2)], seen
        # the signatures are checked; hooks run as the owner of dwc's tables: superusers only
        with pytest.raises(psycopg2.errors.InvalidParameterValue):
            q(cluster, "SELECT dwc.register_job_kind('it.flaky', 'public.it_flaky(jsonb)', "
                       "on_retry => 'public.it_ended(dwc.job_history[])')")
        q(cluster, "DROP ROLE IF EXISTS it_kind_admin")
        q(cluster, "CREATE ROLE it_kind_admin IN ROLE dwc_admin")
        q(cluster, "GRANT EXECUTE ON FUNCTION dwc.register_job_kind(text, regprocedure, text, interval, int4, bool, "
                   "regprocedure, regprocedure, text[]) TO it_kind_admin")
        try:
            with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                q(cluster, "SET ROLE it_kind_admin; SELECT dwc.register_job_kind('it.flaky2', 'public.it_flaky(jsonb)', "
                           "on_end => 'public.it_ended(dwc.job_history[])')")
            # nor a hook that someone else owns (who could replace its body), even from a superuser
            q(cluster, "CREATE FUNCTION public.it_theirs(jobs dwc.job_history[]) RETURNS void LANGUAGE plpgsql AS $$ BEGIN END $$")
            q(cluster, "ALTER FUNCTION public.it_theirs(dwc.job_history[]) OWNER TO it_kind_admin")
            with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                q(cluster, "SELECT dwc.register_job_kind('it.flaky', 'public.it_flaky(jsonb)', "
                           "on_end => 'public.it_theirs(dwc.job_history[])')")
        finally:
            q(cluster, "DROP OWNED BY it_kind_admin")
            q(cluster, "DROP ROLE it_kind_admin")
    finally:
        restore()
        q(cluster, "SELECT dwc.unregister_job_kind('it.flaky')")
        q(cluster, "DROP FUNCTION public.it_flaky(jsonb), public.it_retried(dwc.jobs), "
                   "public.it_ended(dwc.job_history[])")
        q(cluster, "DROP TABLE public.it_outcomes")


def test_a_batch_of_leased_jobs_all_run(cluster):
    # many leased jobs claimed in one batch run one after another after the claiming
    # transaction; each one's transaction reuses memory the claiming one freed, which the
    # batch must not still point into (it did: workers crashed with several leased jobs)
    q(cluster, """CREATE OR REPLACE FUNCTION public.it_leased(payload jsonb) RETURNS jsonb
                  LANGUAGE plpgsql AS $$
                  DECLARE s text;
                  BEGIN
                      SELECT string_agg(md5(g::text), '') INTO s FROM generate_series(1, 200) g;
                      BEGIN
                          PERFORM 1 / 0;
                      EXCEPTION WHEN division_by_zero THEN NULL;
                      END;
                      RETURN jsonb_build_object('n', payload->'n', 'len', length(s));
                  END $$""")
    q(cluster, "SELECT dwc.register_job_kind('it.leased', 'public.it_leased(jsonb)', leased => true)")
    try:
        pids = set(r[0] for r in q(cluster, "SELECT pid FROM dwc.status() WHERE kind = 'job'"))
        ids = [r[0] for r in q(cluster, "SELECT dwc.enqueue('it.leased', jsonb_build_object('n', g)) "
                                        "FROM generate_series(1, 60) g")]
        for job in ids:
            assert wait_status(cluster, job, "succeeded", timeout=60)["result"]["len"] == 6400
        assert set(r[0] for r in q(cluster, "SELECT pid FROM dwc.status() WHERE kind = 'job'")) == pids
    finally:
        q(cluster, "SELECT dwc.unregister_job_kind('it.leased')")
        q(cluster, "DROP FUNCTION public.it_leased(jsonb)")


def test_a_burst_of_finished_jobs_is_vacuumed_away(cluster):
    """The maintenance worker vacuums dwc.jobs once finished jobs have left 1,000 dead rows,
    without waiting for autovacuum: the claims after a burst walked those rows before. Jobs
    other tests leave waiting in paused queues do not hold it back."""
    q(cluster, "SELECT dwc.pause_queue('vac_held')")
    q(cluster, "SELECT dwc.enqueue('noop', queue => 'vac_held')")
    q(cluster, "SELECT pg_stat_reset_single_table_counters('dwc.jobs'::regclass)")
    before = q(cluster, "SELECT coalesce(vacuum_count, 0) FROM pg_stat_user_tables WHERE relid = 'dwc.jobs'::regclass")[0][0]
    q(cluster, "SELECT count(*) FROM dwc.enqueue_many((SELECT jsonb_agg('{\"queue\": \"vac_burst\"}'::jsonb) "
               "FROM generate_series(1, 1500)), 'noop')")
    cluster.wait_for("SELECT NOT EXISTS (SELECT 1 FROM dwc.jobs WHERE queue = 'vac_burst')", dbname=IT_DB, timeout=60)
    # a manual VACUUM's count (autovacuum counts apart), and the dead rows gone from the statistics
    try:
        cluster.wait_for("SELECT vacuum_count > %s AND n_dead_tup < 1000 FROM pg_stat_user_tables "
                         "WHERE relid = 'dwc.jobs'::regclass", (before,), dbname=IT_DB, timeout=60)
    finally:
        q(cluster, "SELECT dwc.resume_queue('vac_held')")


def test_http_jobs_against_a_loopback_service(cluster, fake_http):
    srv = fake_http()
    srv.route("POST", "/hook", lambda req: Reply(200, {"got": req.json()}))
    srv.script("GET", "/flaky", Reply(503), Reply(200, "recovered"))
    srv.route("GET", "/gone", Reply(404, "no"))
    srv.script("GET", "/busy", Reply(429, headers={"Retry-After": "1"}), Reply(200, "ok"))
    restore = setting(cluster, "dwc.job_backoff_base", "50ms")
    try:
        ok = one(cluster, "SELECT dwc.enqueue('http', jsonb_build_object('method', 'POST', 'url', %s::text, "
                          "'body', jsonb_build_object('x', 1)))", (srv.url("/hook"),))
        flaky = one(cluster, "SELECT dwc.enqueue('http', jsonb_build_object('url', %s::text))", (srv.url("/flaky"),))
        gone = one(cluster, "SELECT dwc.enqueue('http', jsonb_build_object('url', %s::text))", (srv.url("/gone"),))
        busy = one(cluster, "SELECT dwc.enqueue('http', jsonb_build_object('url', %s::text))", (srv.url("/busy"),))
        j = wait_status(cluster, ok, "succeeded")
        assert j["result"]["status"] == 200 and j["result"]["body"] == '{"got": {"x": 1}}'
        assert srv.requests[0].headers["content-type"] == "application/json"
        j = wait_status(cluster, flaky, "succeeded")
        assert j["attempts"] == 2 and j["result"]["body"] == "recovered"
        j = wait_status(cluster, gone, "dead")
        assert j["attempts"] == 1 and j["last_error"].startswith("HTTP status 404 from ")
        j = wait_status(cluster, busy, "succeeded")
        assert j["attempts"] == 2 and srv.count("GET", "/busy") == 2
    finally:
        restore()


def test_http_job_retry_after_is_honoured(cluster, fake_http):
    srv = fake_http()
    srv.script("GET", "/busy", Reply(429, headers={"Retry-After": "2"}), Reply(200, "ok"))
    job = one(cluster, "SELECT dwc.enqueue('http', jsonb_build_object('url', %s::text))", (srv.url("/busy"),))
    cluster.wait_for("SELECT status = 'retry' FROM dwc.jobs WHERE id = %s", (job,), dbname=IT_DB, timeout=10)
    wait = one(cluster, "SELECT extract(epoch FROM run_at - clock_timestamp()) FROM dwc.jobs WHERE id = %s", (job,))
    assert 1.5 < wait <= 2.0, wait
    wait_status(cluster, job, "succeeded", timeout=10)


def test_cancelling_a_running_job(cluster):
    job = one(cluster, "SELECT dwc.enqueue('sql', '{\"sql\": \"SELECT pg_sleep(30)\"}')")
    wait_status(cluster, job, "running", timeout=10)
    assert one(cluster, "SELECT lease FROM dwc.running_jobs WHERE id = %s", (job,)) == "row lock"
    time.sleep(0.2)
    t0 = time.monotonic()
    assert one(cluster, "SELECT dwc.cancel_job(%s)", (job,)) is True
    j = wait_status(cluster, job, "cancelled", timeout=5)
    assert time.monotonic() - t0 < 3
    assert j["last_error"] == "cancelled while running"
    assert one(cluster, "SELECT dwc.cancel_job(%s)", (job,)) is False


def test_paused_queues_hold_their_jobs(cluster, table):
    q(cluster, "SELECT dwc.pause_queue('held')")
    job = one(cluster, "SELECT dwc.enqueue('sql', '{\"sql\": \"INSERT INTO t (n) VALUES (1)\"}', queue => 'held')")
    other = one(cluster, "SELECT dwc.enqueue('noop')")
    wait_status(cluster, other, "succeeded")
    time.sleep(0.6)
    assert status(cluster, job) == "queued"
    assert one(cluster, "SELECT paused FROM dwc.queue_overview WHERE queue = 'held'") is True
    q(cluster, "SELECT dwc.resume_queue('held')")
    wait_status(cluster, job, "succeeded", timeout=5)


def test_stats_and_history_partitions(cluster):
    jobs = [one(cluster, "SELECT dwc.enqueue('noop', queue => 'statsq')") for _ in range(20)]
    for j in jobs:
        wait_status(cluster, j, "succeeded")
    s = one(cluster, "SELECT dwc.queue_stats('1 hour', 'statsq')")
    assert s["counts"]["succeeded"] == 20 and s["throughput_per_second"] > 0
    assert s["wait_ms"]["p50"] is not None and s["run_ms"]["p99"] is not None
    # the maintenance worker keeps daily partitions ahead of time; today's holds these jobs
    cluster.wait_for("SELECT to_regclass('dwc.job_history_' || to_char(now(), 'YYYYMMDD')) IS NOT NULL",
                     dbname=IT_DB, timeout=10)
    part = one(cluster, "SELECT DISTINCT tableoid::regclass::text FROM dwc.job_history WHERE queue = 'statsq'")
    assert part.startswith("dwc.job_history_2")


def test_sigkilled_worker_mid_job_sql_effects_count_once(make_cluster):
    c = make_cluster()
    q(c, "CREATE TABLE hits (n int)")
    job = one(c, "SELECT dwc.enqueue('sql', '{\"sql\": \"INSERT INTO hits VALUES (1); SELECT pg_sleep(2)\"}')")
    wait_status(c, job, "running", timeout=10)
    time.sleep(0.3)   # inside its pg_sleep, after the INSERT
    pid = one(c, "SELECT worker_pid FROM dwc.running_jobs WHERE id = %s", (job,))
    c.kill9(pid)
    # crash-restart, then the job is found lost and retried
    j = wait_status(c, job, "succeeded", timeout=40)
    assert j["attempts"] == 2
    assert one(c, "SELECT count(*) FROM hits") == 1
    log = c.log_text()
    assert "was terminated by signal 9" in log
    assert "recovered 1 lost jobs" in log or "requeued 1 lost jobs" in log


@pytest.mark.parametrize("crash", ["immediate restart", "kill -9 of the postmaster"])
def test_a_crash_with_1000_jobs_under_way_runs_each_exactly_once(make_cluster, crash):
    """The server dies while 1,000 sql jobs run: an immediate restart (SIGQUIT, a crash
    restart), or kill -9 of the postmaster (the workers, orphaned, stop between jobs or
    inside one and exit). What they committed asynchronously and had not yet written out is
    lost with the server's memory, a job's effect together with its outcome (docs/queue.md):
    after the restart every job has run, and each effect is there once."""
    c = make_cluster()
    q(c, "CREATE TABLE done (job int)")
    q(c, "SELECT dwc.pause_queue('bulk')")
    q(c, "SELECT count(*) FROM generate_series(1, 1000) i, "
         "LATERAL dwc.enqueue('sql', jsonb_build_object('sql', format('INSERT INTO done VALUES (%s); SELECT pg_sleep(0.002)', i)),"
         " queue => 'bulk')")
    q(c, "SELECT dwc.resume_queue('bulk')")
    c.wait_for("SELECT count(*) >= 100 FROM done", dbname=IT_DB, timeout=30)
    if crash == "immediate restart":
        c.restart(mode="immediate")
    else:
        c.kill9_postmaster()
        c.start()
    c.wait_for("SELECT count(*) = 1000 FROM dwc.job_history WHERE queue = 'bulk'", dbname=IT_DB, timeout=120,
               message="all 1000 jobs finished")
    assert one(c, "SELECT count(*) FROM dwc.job_history WHERE queue = 'bulk' AND status = 'succeeded'") == 1000
    assert one(c, "SELECT count(*) FROM done") == 1000
    assert one(c, "SELECT count(DISTINCT job) FROM done") == 1000
    assert one(c, "SELECT count(*) FROM dwc.jobs") == 0


def test_drop_extension_with_day_partitions(make_cluster):
    c = make_cluster()
    c.wait_for("SELECT to_regclass('dwc.job_history_' || to_char(now(), 'YYYYMMDD')) IS NOT NULL",
               dbname=IT_DB, timeout=10)
    job = one(c, "SELECT dwc.enqueue('noop')")
    wait_status(c, job, "succeeded")
    q(c, "DROP EXTENSION dwc")
    assert one(c, "SELECT count(*) FROM pg_namespace WHERE nspname IN ('dwc', 'api')") == 0
    q(c, "CREATE EXTENSION dwc")
    c.wait_for("SELECT count(*) = 4 FROM dwc.status() WHERE database = current_database() AND state IN ('idle')",
               dbname=IT_DB, timeout=20)


def test_a_job_that_kills_its_worker_is_counted_and_dies(make_cluster):
    # with no grace for a stop, SIGTERM ends the worker at once: the row lock that leases the
    # job dies with it, and the in-flight journal counts the attempt
    c = make_cluster(settings={"dwc.shutdown_grace": "0"})
    job = one(c, "SELECT dwc.enqueue('sql', '{\"sql\": \"SELECT pg_terminate_backend(pg_backend_pid())\"}', "
                 "max_attempts => 2)")
    j = wait_status(c, job, "dead", timeout=30)
    assert j["attempts"] == 2
    assert j["last_error"].startswith("worker ") and j["last_error"].endswith(" stopped while running the job")
    # the pool is whole again
    c.wait_for("SELECT count(*) = 2 FROM dwc.status() WHERE kind = 'job' AND database = current_database() "
               "AND state = 'idle'", dbname=IT_DB, timeout=15)


def test_a_job_that_stops_its_worker_finishes_first(cluster):
    # by default SIGTERM asks the worker to stop (dwc.shutdown_grace): the job finishes, its
    # outcome is recorded once, then the worker exits and the launcher starts another
    job = one(cluster, "SELECT dwc.enqueue('sql', '{\"sql\": \"SELECT pg_terminate_backend(pg_backend_pid())\"}', "
                       "max_attempts => 2)")
    j = wait_status(cluster, job, "succeeded", timeout=30)
    assert j["attempts"] == 1
    assert "dwc job worker stopping" in cluster.log_text()
    cluster.wait_for("SELECT count(*) = 2 FROM dwc.status() WHERE kind = 'job' AND database = current_database() "
                     "AND state = 'idle'", dbname=IT_DB, timeout=15)


def test_a_running_job_says_its_progress_to_its_owner_only(cluster):
    """A sql job's dwc.job_progress() is seen at once (its transaction still open) in
    job_status() and dwc.progress, by its owner and administrators, not by another user;
    it ends with the job."""
    for r in ("it_prog_a", "it_prog_b"):
        q(cluster, "DROP ROLE IF EXISTS %s; CREATE ROLE %s IN ROLE dwc_user" % (r, r))
    q(cluster, "GRANT ALL ON SCHEMA public TO it_prog_a")
    holder = psycopg2.connect(cluster.dsn(IT_DB))
    holder.autocommit = True
    hc = holder.cursor()
    hc.execute("SELECT pg_advisory_lock(4242)")
    try:
        conn = psycopg2.connect(cluster.dsn(IT_DB))
        conn.autocommit = True
        cur = conn.cursor()
        cur.execute("SET ROLE it_prog_a")
        cur.execute("SELECT dwc.enqueue('sql', %s)",
                    ('{"sql": "SELECT dwc.job_progress(\'copying rows\', 3, 12); SELECT pg_advisory_lock(4242)"}',))
        job = cur.fetchone()[0]
        cluster.wait_for("SELECT count(*) = 1 FROM dwc.progress WHERE job_id = %s", (job,), dbname=IT_DB)
        cur.execute("SELECT phase, done, total, percent FROM dwc.progress WHERE job_id = %s", (job,))
        assert cur.fetchone() == ("copying rows", 3, 12, 25.0)
        cur.execute("SELECT dwc.job_status(%s)->'progress'", (job,))
        p = cur.fetchone()[0]
        assert (p["phase"], p["done"], p["total"], p["percent"]) == ("copying rows", 3, 12, 25.0), p
        cur.execute("SET ROLE it_prog_b")
        cur.execute("SELECT count(*) FROM dwc.progress")
        assert cur.fetchone()[0] == 0
        cur.execute("RESET ROLE")
        conn.close()
    finally:
        hc.execute("SELECT pg_advisory_unlock(4242)")
        holder.close()
    wait_status(cluster, job, "succeeded")
    assert one(cluster, "SELECT count(*) FROM dwc.progress WHERE job_id = %s", (job,)) == 0
    assert one(cluster, "SELECT dwc.job_status(%s) ? 'progress'", (job,)) is False
