-- src/queue/manage.sql: managing and watching jobs: status, cancel, retry and redrive of
-- one's jobs, the administrators' views and statistics. The tables are in queue.sql.

-- ---- managing one's jobs (through the trampoline: see src/security/trampoline.c) -

-- API: Private

CREATE FUNCTION dwc._running_jobs(OUT job_id pg_catalog.int8, OUT pid pg_catalog.int4,
                                 OUT since pg_catalog.timestamptz)
RETURNS SETOF record
LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'dwc__running_jobs';
COMMENT ON FUNCTION dwc._running_jobs() IS
  'Private: jobs that a worker of this database is running inside its transaction now (their rows '
  'still say queued or retry: the row lock is their lease), from the workers'' shared memory.';
-- dwc.queue_stats runs as its caller; job ids alone say nothing, and the jobs they are joined
-- with are the caller's own (row-level security)
GRANT EXECUTE ON FUNCTION dwc._running_jobs() TO PUBLIC;

-- the status a user sees: a locked job being run says running
CREATE FUNCTION dwc._status_of(j dwc.jobs) RETURNS pg_catalog.text
LANGUAGE sql VOLATILE
RETURN CASE WHEN j.status <> 'running' AND j.id IN (SELECT r.job_id FROM dwc._running_jobs() r)
            THEN 'running' ELSE j.status END;

CREATE FUNCTION dwc._job_json(j dwc.jobs) RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
RETURN jsonb_build_object('id', j.id, 'queue', j.queue, 'kind', j.kind, 'name', j.name,
    'status', dwc._status_of(j), 'priority', j.priority, 'payload', j.payload, 'attempts', j.attempts,
    'max_attempts', j.max_attempts, 'timeout_ms', j.timeout_ms, 'run_at', j.run_at,
    'created_at', j.created_at, 'started_at', j.started_at, 'finished_at', NULL,
    'enqueued_by', j.enqueued_by::regrole, 'enqueued_user', j.enqueued_user,
    'schedule_id', j.schedule_id, 'result', NULL, 'last_error', j.last_error,
    'cancel_requested', j.cancel_requested);

CREATE FUNCTION dwc._job_json(j dwc.job_history) RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
RETURN jsonb_build_object('id', j.id, 'queue', j.queue, 'kind', j.kind, 'name', j.name,
    'status', j.status, 'priority', j.priority, 'payload', j.payload, 'attempts', j.attempts,
    'max_attempts', j.max_attempts, 'timeout_ms', j.timeout_ms, 'run_at', j.run_at,
    'created_at', j.created_at, 'started_at', j.started_at, 'finished_at', j.finished_at,
    'enqueued_by', j.enqueued_by::regrole, 'enqueued_user', j.enqueued_user,
    'schedule_id', j.schedule_id, 'result', j.result, 'last_error', j.last_error,
    'cancel_requested', false);

CREATE FUNCTION dwc._no_such_job(job_id pg_catalog.int8) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'job % does not exist', job_id
        USING ERRCODE = 'no_data_found', HINT = 'Finished jobs are kept for dwc.job_history_retention.';
END;
$$;

-- The job a caller asks about: active (in dwc.jobs) or, else, its latest finished row; one the
-- caller may not manage does not exist for it (P0002), so other users' ids cannot be probed.
CREATE FUNCTION dwc._find_job(caller pg_catalog.oid, job_id pg_catalog.int8,
                              OUT active dwc.jobs, OUT finished dwc.job_history)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    SELECT * INTO active FROM dwc.jobs WHERE id = job_id;
    IF NOT FOUND THEN
        SELECT * INTO finished FROM dwc.job_history WHERE id = job_id ORDER BY finished_at DESC LIMIT 1;
        IF FOUND AND dwc._may_manage(caller, finished.enqueued_by, finished.enqueued_user) THEN
            RETURN;
        END IF;
    ELSIF dwc._may_manage(caller, active.enqueued_by, active.enqueued_user) THEN
        RETURN;
    END IF;
    PERFORM dwc._no_such_job(job_id);
END;
$$;
COMMENT ON FUNCTION dwc._find_job(pg_catalog.oid, pg_catalog.int8) IS
  'Private: the job a caller may manage, active (in dwc.jobs) or else its latest finished row; raises '
  'no_data_found (P0002) for any other.';

CREATE FUNCTION dwc._job_status(caller pg_catalog.oid, job_id pg_catalog.int8)
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql VOLATILE STRICT SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    j record := dwc._find_job(caller, job_id);
BEGIN
    IF (j.active).id IS NOT NULL THEN
        RETURN dwc._job_json(j.active) || dwc._job_progress_json((j.active).id);
    END IF;
    RETURN dwc._job_json(j.finished);
END;
$$;
SELECT dwc._declare_public('dwc._job_status',
  'A job as JSON (status queued, running, retry, succeeded, dead or cancelled; attempts, times, '
  'result, last error; while it runs, the progress it has said). Raises no_data_found (P0002) for an unknown job or one the caller may not see.',
  volatility => 'stable');

-- Move jobs of dwc.jobs to dwc.job_history as cancelled.
CREATE FUNCTION dwc._cancel_queued(ids pg_catalog.int8[], reason pg_catalog.text)
RETURNS pg_catalog.int4
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    WITH l AS (
        SELECT id FROM dwc.jobs WHERE id = ANY (ids) AND status IN ('queued', 'retry')
           FOR UPDATE SKIP LOCKED),
    d AS (
        DELETE FROM dwc.jobs WHERE id IN (SELECT id FROM l) RETURNING *),
    i AS (
        INSERT INTO dwc.job_history (id, queue, kind, name, payload, priority, status, run_at,
            attempts, max_attempts, timeout_ms, unique_key, schedule_id, enqueued_by,
            enqueued_user, created_at, started_at, finished_at, worker_pid, result, last_error, scopes)
        SELECT id, queue, kind, name, payload, priority, 'cancelled', run_at, attempts, max_attempts,
               timeout_ms, unique_key, schedule_id, enqueued_by, enqueued_user, created_at,
               started_at, clock_timestamp(), NULL, NULL, reason, scopes
          FROM d RETURNING 1)
    SELECT count(*)::int4 FROM i;
END;

CREATE FUNCTION dwc._cancel_job(caller pg_catalog.oid, job_id pg_catalog.int8)
RETURNS pg_catalog.bool
LANGUAGE plpgsql STRICT SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    a dwc.jobs := (dwc._find_job(caller, job_id)).active;
    runner int4;
BEGIN
    IF a.id IS NULL THEN
        RETURN false;       -- already finished
    END IF;
    -- being run inside a worker's transaction, or leased by a worker (http)
    SELECT r.pid INTO runner FROM dwc._running_jobs() r WHERE r.job_id = _cancel_job.job_id;
    IF NOT FOUND AND a.status = 'running' THEN
        UPDATE dwc.jobs SET cancel_requested = true WHERE id = job_id;
        runner := a.worker_pid;
    END IF;
    IF runner IS NOT NULL THEN
        PERFORM dwc._signal_job_cancel(job_id, runner);
        RETURN true;
    END IF;
    IF dwc._cancel_queued(ARRAY[job_id], format('cancelled by %s', caller::regrole)) = 1 THEN
        RETURN true;
    END IF;
    -- a worker claimed it in the meantime
    SELECT r.pid INTO runner FROM dwc._running_jobs() r WHERE r.job_id = _cancel_job.job_id;
    IF FOUND THEN
        PERFORM dwc._signal_job_cancel(job_id, runner);
        RETURN true;
    END IF;
    RETURN false;
END;
$$;
SELECT dwc._declare_public('dwc._cancel_job',
  'Cancels a job: a queued or retrying job ends as cancelled at once; a running job is '
  'interrupted and ends as cancelled. Returns false if the job had already finished.');

CREATE FUNCTION dwc._redrive_ids(ids pg_catalog.int8[])
RETURNS pg_catalog.int4
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n int4;
BEGIN
    WITH d AS (
        DELETE FROM dwc.job_history WHERE id = ANY (ids) AND status IN ('dead', 'cancelled') RETURNING *)
    INSERT INTO dwc.jobs (id, queue, kind, name, payload, priority, status, run_at, attempts,
                          max_attempts, timeout_ms, unique_key, schedule_id, enqueued_by,
                          enqueued_user, created_at, last_error, scopes)
    SELECT DISTINCT ON (id) id, queue, kind, name, payload, priority, 'queued', clock_timestamp(), 0,
           max_attempts, timeout_ms, unique_key, schedule_id, enqueued_by, enqueued_user,
           created_at, last_error, scopes
      FROM d ORDER BY id
    ON CONFLICT DO NOTHING;
    GET DIAGNOSTICS n = ROW_COUNT;
    PERFORM dwc._wake_job_workers(n);
    RETURN n;
END;
$$;

CREATE FUNCTION dwc._retry_job(caller pg_catalog.oid, job_id pg_catalog.int8)
RETURNS pg_catalog.bool
LANGUAGE plpgsql STRICT SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    j record := dwc._find_job(caller, job_id);
BEGIN
    IF (j.active).id IS NOT NULL THEN
        -- a job being run is locked by its worker: nothing to retry
        UPDATE dwc.jobs SET run_at = clock_timestamp()
         WHERE id IN (SELECT id FROM dwc.jobs WHERE id = job_id AND status <> 'running'
                         FOR UPDATE SKIP LOCKED);
        IF NOT FOUND THEN
            RETURN false;
        END IF;
        PERFORM dwc._wake_job_workers(1);
        RETURN true;
    END IF;
    IF (j.finished).status = 'succeeded' THEN
        RETURN false;
    END IF;
    RETURN dwc._redrive_ids(ARRAY[job_id]) = 1;
END;
$$;
SELECT dwc._declare_public('dwc._retry_job',
  'Runs a waiting job now, or puts a dead or cancelled job back in the queue with fresh attempts '
  '(redrive). Returns false for running and succeeded jobs.');

CREATE FUNCTION dwc._cancel_jobs(caller pg_catalog.oid, queue pg_catalog.text DEFAULT NULL,
                                 kind pg_catalog.text DEFAULT NULL, status pg_catalog.text DEFAULT NULL,
                                 older_than pg_catalog.interval DEFAULT NULL)
RETURNS pg_catalog.int4
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n int4 := 0;
    r record;
BEGIN
    IF status IS NOT NULL AND status NOT IN ('queued', 'retry', 'running') THEN
        RAISE EXCEPTION 'invalid job status filter "%"', status
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Use queued, retry or running.';
    END IF;
    FOR r IN
        WITH running AS (SELECT * FROM dwc._running_jobs())
        SELECT j.id, coalesce(rn.pid, j.worker_pid) AS pid,
               CASE WHEN rn.job_id IS NOT NULL THEN 'running' ELSE j.status END AS st
          FROM dwc.jobs j LEFT JOIN running rn ON rn.job_id = j.id
         WHERE (_cancel_jobs.queue IS NULL OR j.queue = _cancel_jobs.queue)
           AND (_cancel_jobs.kind IS NULL OR j.kind = _cancel_jobs.kind)
           AND (older_than IS NULL OR j.created_at < now() - older_than)
           AND dwc._may_manage(caller, j.enqueued_by, j.enqueued_user)
    LOOP
        CONTINUE WHEN _cancel_jobs.status IS NOT NULL AND r.st <> _cancel_jobs.status;
        IF r.st = 'running' THEN
            UPDATE dwc.jobs SET cancel_requested = true
             WHERE id IN (SELECT id FROM dwc.jobs WHERE id = r.id FOR UPDATE SKIP LOCKED);
            PERFORM dwc._signal_job_cancel(r.id, r.pid);
            n := n + 1;
        ELSE
            n := n + dwc._cancel_queued(ARRAY[r.id], format('cancelled by %s', caller::regrole));
        END IF;
    END LOOP;
    RETURN n;
END;
$$;
SELECT dwc._declare_public('dwc._cancel_jobs',
  'Cancels the caller''s active jobs matching every given filter (queue, kind, status queued/retry/'
  'running, created longer ago than older_than). Returns how many.');

CREATE FUNCTION dwc._retry_jobs(caller pg_catalog.oid, queue pg_catalog.text DEFAULT NULL,
                                kind pg_catalog.text DEFAULT NULL)
RETURNS pg_catalog.int4
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n int4;
BEGIN
    UPDATE dwc.jobs SET run_at = clock_timestamp()
     WHERE id IN (SELECT j.id FROM dwc.jobs j
                   WHERE j.status = 'retry'
                     AND (_retry_jobs.queue IS NULL OR j.queue = _retry_jobs.queue)
                     AND (_retry_jobs.kind IS NULL OR j.kind = _retry_jobs.kind)
                     AND dwc._may_manage(caller, j.enqueued_by, j.enqueued_user)
                     FOR UPDATE SKIP LOCKED);
    GET DIAGNOSTICS n = ROW_COUNT;
    PERFORM dwc._wake_job_workers(n);
    RETURN n;
END;
$$;
SELECT dwc._declare_public('dwc._retry_jobs',
  'Runs now every job of the caller waiting to retry (matching queue and kind when given). Returns how many.');

CREATE FUNCTION dwc._redrive_dead(caller pg_catalog.oid, queue pg_catalog.text DEFAULT NULL,
                                  kind pg_catalog.text DEFAULT NULL,
                                  since pg_catalog.timestamptz DEFAULT NULL)
RETURNS pg_catalog.int4
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN dwc._redrive_ids(ARRAY(
        SELECT h.id FROM dwc.job_history h
         WHERE h.status = 'dead'
           AND (_redrive_dead.queue IS NULL OR h.queue = _redrive_dead.queue)
           AND (_redrive_dead.kind IS NULL OR h.kind = _redrive_dead.kind)
           AND (since IS NULL OR h.finished_at >= since)
           AND dwc._may_manage(caller, h.enqueued_by, h.enqueued_user)));
END;
$$;
SELECT dwc._declare_public('dwc._redrive_dead',
  'Puts the caller''s dead jobs (matching queue, kind, died since) back in the queue with fresh '
  'attempts. Returns how many.');

REVOKE ALL ON FUNCTION dwc._cancel_queued(pg_catalog.int8[], pg_catalog.text) FROM PUBLIC;
REVOKE ALL ON FUNCTION dwc._redrive_ids(pg_catalog.int8[]) FROM PUBLIC;
COMMENT ON FUNCTION dwc._cancel_queued(pg_catalog.int8[], pg_catalog.text) IS
  'Private: moves waiting jobs to the history as cancelled, skipping jobs a worker holds.';
COMMENT ON FUNCTION dwc._redrive_ids(pg_catalog.int8[]) IS
  'Private: puts dead or cancelled jobs back in the queue with fresh attempts.';

-- API: Public

-- ---- monitoring (administrators) ---------------------------------------------

CREATE VIEW dwc.queue_overview AS
WITH running AS (SELECT job_id FROM dwc._running_jobs()),
active AS (
    SELECT j.queue, j.run_at,
           CASE WHEN j.status = 'running' OR r.job_id IS NOT NULL THEN 'running' ELSE j.status END AS status
      FROM dwc.jobs j LEFT JOIN running r ON r.job_id = j.id)
SELECT q.name AS queue,
       coalesce(c.paused, false) AS paused,
       count(*) FILTER (WHERE a.status IN ('queued', 'retry') AND a.run_at <= now()) AS ready,
       count(*) FILTER (WHERE a.status = 'queued' AND a.run_at > now()) AS scheduled,
       count(*) FILTER (WHERE a.status = 'running') AS running,
       count(*) FILTER (WHERE a.status = 'retry' AND a.run_at > now()) AS retrying,
       (SELECT count(*) FROM dwc.job_history h
         WHERE h.queue = q.name AND h.status = 'dead' AND h.finished_at > now() - interval '1 day') AS dead_last_day,
       now() - min(a.run_at) FILTER (WHERE a.status IN ('queued', 'retry') AND a.run_at <= now()) AS oldest_ready_age
  FROM (SELECT name FROM dwc.queues UNION SELECT DISTINCT queue FROM dwc.jobs) q
  LEFT JOIN dwc.queues c ON c.name = q.name
  LEFT JOIN active a ON a.queue = q.name
 GROUP BY q.name, c.paused;
COMMENT ON VIEW dwc.queue_overview IS
  'Per queue: paused, jobs ready, scheduled for later, running, waiting to retry, dead in the last day, age of the oldest ready job.';

CREATE VIEW dwc.running_jobs AS
SELECT j.id, j.queue, j.kind, j.name, j.attempts + CASE WHEN r.job_id IS NULL THEN 0 ELSE 1 END AS attempt,
       j.max_attempts, coalesce(r.since, j.started_at) AS started_at,
       now() - coalesce(r.since, j.started_at) AS running_for, j.timeout_ms,
       CASE WHEN r.job_id IS NULL THEN 'lease until ' || j.lease_until ELSE 'row lock' END AS lease,
       coalesce(r.pid, j.worker_pid) AS worker_pid,
       j.enqueued_by::regrole AS enqueued_by, j.enqueued_user, j.cancel_requested
  FROM dwc.jobs j LEFT JOIN dwc._running_jobs() r ON r.job_id = j.id
 WHERE j.status = 'running' OR r.job_id IS NOT NULL;
COMMENT ON VIEW dwc.running_jobs IS 'Jobs being run now, with their worker and lease.';

CREATE VIEW dwc.dead_jobs AS
SELECT id, queue, kind, name, payload, attempts, max_attempts, created_at, finished_at,
       last_error, enqueued_by::regrole AS enqueued_by, enqueued_user
  FROM dwc.job_history WHERE status = 'dead';
COMMENT ON VIEW dwc.dead_jobs IS
  'The dead-letter list: jobs that failed their last attempt (or failed permanently); redrive with dwc.retry_job() or dwc.redrive_dead().';

CREATE FUNCTION dwc.queue_stats(period pg_catalog.interval DEFAULT '1 hour', queue pg_catalog.text DEFAULT NULL)
RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    WITH st AS (
        SELECT CASE WHEN j.status = 'running' OR r.job_id IS NOT NULL THEN 'running' ELSE j.status END AS status
          FROM dwc.jobs j LEFT JOIN dwc._running_jobs() r ON r.job_id = j.id
         WHERE queue_stats.queue IS NULL OR j.queue = queue_stats.queue),
    active AS (
        SELECT count(*) FILTER (WHERE status = 'queued') AS queued,
               count(*) FILTER (WHERE status = 'running') AS running,
               count(*) FILTER (WHERE status = 'retry') AS retry
          FROM st),
    done AS (
        SELECT count(*) FILTER (WHERE status = 'succeeded') AS succeeded,
               count(*) FILTER (WHERE status = 'dead') AS dead,
               count(*) FILTER (WHERE status = 'cancelled') AS cancelled,
               percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY extract(epoch FROM started_at - run_at) * 1000)
                   FILTER (WHERE status = 'succeeded') AS wait_ms,
               percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY extract(epoch FROM finished_at - started_at) * 1000)
                   FILTER (WHERE status = 'succeeded') AS run_ms
          FROM dwc.job_history h
         WHERE h.finished_at >= now() - period
           AND (queue_stats.queue IS NULL OR h.queue = queue_stats.queue))
    SELECT jsonb_build_object(
        'period_seconds', extract(epoch FROM period),
        'queue', queue_stats.queue,
        'counts', jsonb_build_object('queued', a.queued, 'running', a.running, 'retry', a.retry,
                                     'succeeded', d.succeeded, 'dead', d.dead, 'cancelled', d.cancelled),
        'throughput_per_second', round(d.succeeded / nullif(extract(epoch FROM period), 0), 3),
        'wait_ms', jsonb_build_object('p50', round(d.wait_ms[1]::numeric, 3), 'p95', round(d.wait_ms[2]::numeric, 3),
                                      'p99', round(d.wait_ms[3]::numeric, 3)),
        'run_ms', jsonb_build_object('p50', round(d.run_ms[1]::numeric, 3), 'p95', round(d.run_ms[2]::numeric, 3),
                                     'p99', round(d.run_ms[3]::numeric, 3)))
      FROM active a, done d;
END;
COMMENT ON FUNCTION dwc.queue_stats(pg_catalog.interval, pg_catalog.text) IS
  'Queue statistics over the last period: active jobs by status, finished jobs by status, '
  'throughput, and p50/p95/p99 of wait (run_at to start) and run time for succeeded jobs.';

-- API: Private

CREATE FUNCTION dwc._list_jobs(caller pg_catalog.oid, status pg_catalog.text DEFAULT NULL,
                               queue pg_catalog.text DEFAULT NULL, kind pg_catalog.text DEFAULT NULL,
                               lim pg_catalog.int4 DEFAULT 50, off pg_catalog.int4 DEFAULT 0)
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    result jsonb;
BEGIN
    IF lim IS NULL OR lim NOT BETWEEN 1 AND 1000 THEN
        RAISE EXCEPTION 'limit must be between 1 and 1000' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF off IS NULL OR off < 0 THEN
        RAISE EXCEPTION 'offset must not be negative' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF status IS NOT NULL AND status NOT IN ('queued', 'running', 'retry', 'succeeded', 'dead', 'cancelled') THEN
        RAISE EXCEPTION 'invalid job status "%"', status
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Use queued, running, retry, succeeded, dead or cancelled.';
    END IF;
    SELECT coalesce(jsonb_agg(j.doc ORDER BY j.id DESC), '[]') INTO result FROM (
        SELECT u.id, u.doc FROM (
            SELECT a.id, dwc._job_json(a) AS doc FROM dwc.jobs a
             WHERE (_list_jobs.status IS NULL OR dwc._status_of(a) = _list_jobs.status)
               AND (_list_jobs.queue IS NULL OR a.queue = _list_jobs.queue)
               AND (_list_jobs.kind IS NULL OR a.kind = _list_jobs.kind)
               AND dwc._may_manage(caller, a.enqueued_by, a.enqueued_user)
            UNION ALL
            SELECT h.id, dwc._job_json(h) FROM dwc.job_history h
             WHERE (_list_jobs.status IS NULL OR h.status = _list_jobs.status)
               AND (_list_jobs.queue IS NULL OR h.queue = _list_jobs.queue)
               AND (_list_jobs.kind IS NULL OR h.kind = _list_jobs.kind)
               AND dwc._may_manage(caller, h.enqueued_by, h.enqueued_user)) u
         ORDER BY u.id DESC LIMIT lim OFFSET off) j;
    RETURN result;
END;
$$;
SELECT dwc._declare_public('dwc._list_jobs',
  'The caller''s jobs, newest first, as a JSON array (active and finished), filtered by status, queue and kind; lim/off page through them.',
  volatility => 'stable');

-- API: Public

