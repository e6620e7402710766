"""The launcher and its per-database workers, in real servers: start, restart after
SIGTERM and SIGKILL, crash-restart, kill switch, reconfiguration, waiting for the extension."""
import time

import psycopg2
import pytest

from conftest import IT_DB

IDLE_JOB_WORKERS = ("SELECT count(*) FROM dwc.status() WHERE kind = 'job' "
                    "AND database = current_database() AND state = 'idle'")


def job_pids(c, dbname=IT_DB):
    return dict(c.sql("SELECT slot, pid FROM dwc.status() WHERE kind = 'job' "
                      "AND database = current_database() ORDER BY slot", dbname=dbname))


def wait_idle(c, n=2, dbname=IT_DB, timeout=30):
    c.wait_for("SELECT (%s) = %d" % (IDLE_JOB_WORKERS, n), dbname=dbname, timeout=timeout,
               message="%d idle job workers in %s" % (n, dbname))


def test_launcher_and_job_workers_run(cluster):
    wait_idle(cluster)
    rows = cluster.sql("SELECT kind, slot, database, started_at <= now(), state FROM dwc.status() "
                       "ORDER BY kind <> 'launcher', kind, slot", dbname=IT_DB)
    assert rows[0][0] == "launcher" and rows[0][2] is None and rows[0][4] == "running"
    assert [(r[0], r[1], r[2], r[3]) for r in rows[1:]] == [
        ("job", 0, IT_DB, True), ("job", 1, IT_DB, True), ("maintenance", 0, IT_DB, True),
        ("scheduler", 0, IT_DB, True)]
    # they are real backends, visible to PostgreSQL itself
    n = cluster.scalar("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'dwc job worker' "
                       "AND datname = %s", (IT_DB,))
    assert n == 2


def test_terminated_worker_is_restarted_by_the_launcher(cluster):
    wait_idle(cluster)
    before = job_pids(cluster)
    offset = cluster.log_size()
    assert cluster.scalar("SELECT pg_terminate_backend(%s)", (before[0],))
    cluster.wait_for("SELECT count(*) = 2 AND NOT (%s = ANY(array_agg(pid))) FROM dwc.status() "
                     "WHERE kind = 'job' AND database = current_database() AND state = 'idle'",
                     (before[0],), dbname=IT_DB, timeout=15)
    after = job_pids(cluster)
    assert after[0] != before[0]
    assert after[1] == before[1], "the other worker must not be touched"
    assert "dwc job worker 0 for database \"%s\" has stopped; restarting it" % IT_DB in cluster.log_since(offset)


def test_sigkilled_worker_comes_back_after_crash_restart(make_cluster):
    c = make_cluster()
    wait_idle(c)
    victim = job_pids(c)[1]
    offset = c.log_size()
    c.kill9(victim)
    # the postmaster treats a SIGKILLed backend as a crash: it resets shared memory and
    # restarts everyone; the launcher then starts fresh workers
    c.wait_for("SELECT count(*) = 2 AND NOT (%s = ANY(array_agg(pid))) FROM dwc.status() "
               "WHERE kind = 'job' AND database = current_database() AND state = 'idle'",
               (victim,), dbname=IT_DB, timeout=30)
    log = c.log_since(offset)
    assert "was terminated by signal 9" in log
    assert "dwc launcher started" in log


def test_workers_come_back_after_immediate_restart(make_cluster):
    c = make_cluster()
    wait_idle(c)
    old = set(job_pids(c).values())
    launcher = c.scalar("SELECT pid FROM dwc.status() WHERE kind = 'launcher'")
    c.restart(mode="immediate")
    wait_idle(c)
    assert not (set(job_pids(c).values()) & old)
    assert c.scalar("SELECT pid FROM dwc.status() WHERE kind = 'launcher'") != launcher
    assert "database system was interrupted" in c.log_text()


def test_terminated_launcher_is_restarted_and_replaces_the_workers(make_cluster):
    c = make_cluster()
    wait_idle(c)
    old_workers = set(job_pids(c).values())
    launcher = c.scalar("SELECT pid FROM dwc.status() WHERE kind = 'launcher'")
    assert c.scalar("SELECT pg_terminate_backend(%s)", (launcher,))
    # the postmaster restarts the launcher 5 s later; it stops the orphaned workers
    # (it has no handles for them) and starts its own
    c.wait_for("SELECT count(*) = 1 FROM dwc.status() WHERE kind = 'launcher' AND pid <> %s",
               (launcher,), timeout=20)
    wait_idle(c)
    assert not (set(job_pids(c).values()) & old_workers)
    assert c.scalar("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'dwc job worker'") == 2


def test_kill_switch_stops_and_restarts_workers(cluster):
    wait_idle(cluster)
    try:
        cluster.sql("ALTER SYSTEM SET dwc.enabled = off")
        cluster.sql("SELECT pg_reload_conf()")
        cluster.wait_for("SELECT count(*) = 0 FROM dwc.status() WHERE kind = 'job'", timeout=15)
        cluster.wait_for("SELECT state = 'disabled (dwc.enabled = off)' FROM dwc.status() "
                         "WHERE kind = 'launcher'", timeout=5)
        assert cluster.scalar("SELECT count(*) FROM pg_stat_activity "
                              "WHERE backend_type = 'dwc job worker'") == 0
    finally:
        cluster.sql("ALTER SYSTEM RESET dwc.enabled")
        cluster.sql("SELECT pg_reload_conf()")
    wait_idle(cluster)


def test_job_worker_count_follows_the_setting(cluster):
    wait_idle(cluster)
    try:
        cluster.sql("ALTER SYSTEM SET dwc.job_workers = 4")
        cluster.sql("SELECT pg_reload_conf()")
        wait_idle(cluster, 4)
        assert sorted(job_pids(cluster)) == [0, 1, 2, 3]
        cluster.sql("ALTER SYSTEM SET dwc.job_workers = 1")
        cluster.sql("SELECT pg_reload_conf()")
        wait_idle(cluster, 1)
        cluster.wait_for("SELECT count(*) = 1 FROM dwc.status() WHERE kind = 'job'", timeout=10)
    finally:
        cluster.sql("ALTER SYSTEM RESET dwc.job_workers")
        cluster.sql("SELECT pg_reload_conf()")
    wait_idle(cluster, 2)


def test_served_databases_follow_the_setting(cluster):
    wait_idle(cluster)
    cluster.sql("DROP DATABASE IF EXISTS dwc_it_extra WITH (FORCE)")
    offset = cluster.log_size()
    try:
        # a database that does not exist (yet) is warned about once, not served
        cluster.sql("ALTER SYSTEM SET dwc.databases = 'dwc_it, dwc_it_extra'")
        cluster.sql("SELECT pg_reload_conf()")
        time.sleep(1.0)
        log = cluster.log_since(offset)
        assert log.count('dwc cannot serve database "dwc_it_extra" listed in dwc.databases') == 1
        assert "The database does not exist." in log
        # once it exists, workers start there and wait for the extension
        cluster.sql("CREATE DATABASE dwc_it_extra")
        cluster.wait_for("SELECT count(*) = 4 FROM dwc.status() WHERE database = 'dwc_it_extra' "
                         "AND state = 'waiting for CREATE EXTENSION dwc'", timeout=15)
        wait_idle(cluster)   # the first database is unaffected
        # CREATE EXTENSION wakes them at commit: with a one-minute naptime they would
        # otherwise stay waiting
        cluster.sql("ALTER SYSTEM SET dwc.naptime = '60s'")
        cluster.sql("SELECT pg_reload_conf()")
        time.sleep(0.5)
        t0 = time.monotonic()
        cluster.sql("CREATE EXTENSION dwc", dbname="dwc_it_extra")
        wait_idle(cluster, dbname="dwc_it_extra", timeout=10)
        assert time.monotonic() - t0 < 5
        # removing it from the list stops its workers, so the database can be dropped
        cluster.sql("ALTER SYSTEM SET dwc.databases = 'dwc_it'")
        cluster.sql("SELECT pg_reload_conf()")
        cluster.wait_for("SELECT count(*) = 0 FROM dwc.status() WHERE database = 'dwc_it_extra'",
                         timeout=15)
    finally:
        cluster.sql("ALTER SYSTEM RESET dwc.databases")
        cluster.sql("ALTER SYSTEM RESET dwc.naptime")
        cluster.sql("SELECT pg_reload_conf()")
    cluster.sql("DROP DATABASE dwc_it_extra WITH (FORCE)")
    wait_idle(cluster)


def test_drop_extension_sends_workers_back_to_waiting(make_cluster):
    c = make_cluster()
    wait_idle(c)
    offset = c.log_size()
    c.sql("DROP EXTENSION dwc", dbname=IT_DB)
    # dwc.status() is gone with the extension in that database; ask from postgres
    c.wait_for("SELECT count(*) = 4 FROM dwc.status() WHERE database = %s "
               "AND state = 'waiting for CREATE EXTENSION dwc'", (IT_DB,), timeout=20)
    # the workers the drop caught in the middle of a query end quietly: no ERROR in the log
    assert "ERROR" not in c.log_since(offset), c.log_since(offset)
    c.sql("CREATE EXTENSION dwc", dbname=IT_DB)
    wait_idle(c)


def test_drop_extension_catches_workers_waiting_on_its_locks(make_cluster):
    """The drop's transaction holds dwc's tables while the job workers and the
    maintenance worker queue behind it; at commit each finds its table gone and
    ends without an ERROR (the maintenance worker too, whose tasks' errors are
    otherwise reported and survived)."""
    c = make_cluster()
    wait_idle(c)
    offset = c.log_size()
    conn = c.connect(dbname=IT_DB, autocommit=False)
    try:
        cur = conn.cursor()
        cur.execute("DROP EXTENSION dwc")
        # "recover lost jobs" reads dwc.jobs every second; its lock_timeout is 2 s
        c.wait_for("SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE datname = %s "
                   "AND backend_type = 'dwc maintenance worker' AND wait_event_type = 'Lock')",
                   (IT_DB,), timeout=20, interval=0.01)
        conn.commit()
    finally:
        conn.close()
    c.wait_for("SELECT count(*) = 4 FROM dwc.status() WHERE database = %s "
               "AND state = 'waiting for CREATE EXTENSION dwc'", (IT_DB,), timeout=20)
    assert "ERROR" not in c.log_since(offset), c.log_since(offset)
    c.sql("CREATE EXTENSION dwc", dbname=IT_DB)
    wait_idle(c)


def test_create_extension_without_preload_warns_and_sql_works(make_cluster):
    c = make_cluster(preload=False, bare=True)
    conn = c.connect()
    try:
        cur = conn.cursor()
        cur.execute("CREATE EXTENSION dwc")
        notices = "".join(conn.notices)
        assert "WARNING:  dwc background workers are not running: the dwc library was not preloaded" in notices
        # the hint names the setting (psycopg2 only keeps the primary message: use psql)
        cur.execute("SELECT default_version FROM pg_available_extensions WHERE name = 'dwc'")
        version = cur.fetchone()[0]
        cur.execute("SELECT dwc.version(), (SELECT count(*) FROM dwc.status())")
        assert cur.fetchone() == (version, 0)
    finally:
        conn.close()
    c.sql("DROP EXTENSION dwc")
    r = c.psql("-c", "CREATE EXTENSION dwc")
    assert r.returncode == 0, r.stderr
    assert "HINT:  Add 'dwc' to shared_preload_libraries in postgresql.conf and restart the server." in r.stderr
    assert "dwc launcher" not in c.log_text()


def test_create_extension_in_an_unserved_database_says_so(cluster):
    cluster.sql("DROP DATABASE IF EXISTS dwc_it_unserved")
    cluster.sql("CREATE DATABASE dwc_it_unserved")
    try:
        r = cluster.psql("-c", "CREATE EXTENSION dwc", dbname="dwc_it_unserved")
        assert r.returncode == 0, r.stderr
        assert 'WARNING:  dwc background workers do not serve database "dwc_it_unserved"' in r.stderr
        assert "HINT:  Add it to dwc.databases" in r.stderr
    finally:
        cluster.sql("DROP DATABASE dwc_it_unserved")


def test_invalid_settings_in_the_config_file_are_rejected(make_cluster):
    c = make_cluster()
    wait_idle(c)
    offset = c.log_size()
    c.set_conf({"dwc.job_workers": "-5", "dwc.databases": "'a,,b'"})
    c.reload()
    time.sleep(1.0)
    log = c.log_since(offset)
    assert '-5 is outside the valid range for parameter "dwc.job_workers" (0 .. 128)' in log
    assert 'invalid value for parameter "dwc.databases": "a,,b"' in log
    assert "List syntax is invalid" in log
    # the old values stay in force
    assert c.scalar("SHOW dwc.job_workers") == "2"
    wait_idle(c)
    # at server start, an invalid value is refused the same way and the default used
    c.stop()
    offset = c.log_size()
    c.start()
    log = c.log_since(offset)
    assert 'invalid value for parameter "dwc.job_workers": "-5"' in log or \
        '-5 is outside the valid range for parameter "dwc.job_workers"' in log


def test_clean_shutdown_of_all_workers(make_cluster):
    c = make_cluster()
    wait_idle(c)
    t0 = time.monotonic()
    c.stop("fast")
    assert time.monotonic() - t0 < 10
    log = c.log_text()
    assert "database system is shut down" in log
    assert "terminated by signal" not in log
    assert "exited with exit code 2" not in log


def test_status_is_a_plain_function_for_monitoring(cluster):
    # pid and state columns are usable in joins with pg_stat_activity
    n = cluster.scalar("SELECT count(*) FROM dwc.status() s JOIN pg_stat_activity a USING (pid) "
                       "WHERE s.kind = 'job'", dbname=IT_DB)
    assert n >= 2
    with pytest.raises(psycopg2.errors.UndefinedFunction):
        cluster.sql("SELECT dwc.status(1)", dbname=IT_DB)
