-- src/api/background.sql: the seed's /background endpoints (job queue) for PostgREST.

-- API: Public

CREATE FUNCTION api_impl.submit_task(
    task_type pg_catalog.text,
    name pg_catalog.text DEFAULT NULL,
    payload pg_catalog.jsonb DEFAULT '{}',
    priority pg_catalog.text DEFAULT 'normal',
    queue pg_catalog.text DEFAULT 'default',
    delay_seconds pg_catalog.float8 DEFAULT NULL,
    run_at pg_catalog.timestamptz DEFAULT NULL,
    max_retries pg_catalog.int4 DEFAULT NULL,
    timeout_seconds pg_catalog.float8 DEFAULT NULL,
    unique_key pg_catalog.text DEFAULT NULL)
RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN dwc.job_status(dwc.enqueue(
    kind => task_type, payload => payload, queue => queue, priority => priority,
    run_at => run_at, delay => make_interval(secs => delay_seconds),
    max_attempts => max_retries + 1, timeout => make_interval(secs => timeout_seconds),
    unique_key => unique_key, name => name));
SELECT dwc._declare_http('api_impl.submit_task',
  'Submit a background task (POST /background/tasks/submit). task_type is a registered job kind '
  '(noop, sql, http, or one added with dwc.register_job_kind); priority critical/high/normal/low '
  'or -1000..1000; delay_seconds or run_at to start later; max_retries after the first attempt; '
  'unique_key returns the active task holding it. Returns the task.',
  access => 'user', grp => 'tasks');

CREATE FUNCTION api_impl.submit_tasks(tasks pg_catalog.jsonb)
RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN (SELECT coalesce(jsonb_agg(dwc.job_status(id) ORDER BY ord), '[]')
          FROM dwc.enqueue_many(tasks) WITH ORDINALITY AS e(id, ord));
SELECT dwc._declare_http('api_impl.submit_tasks',
  'Submit many tasks in one request (bulk operations): a JSON array of objects with the keys of '
  'dwc.enqueue_many (kind, payload, queue, priority, run_at, delay, max_attempts, timeout, '
  'unique_key, name). Returns the tasks in order.',
  access => 'user', grp => 'tasks');

CREATE FUNCTION api_impl.get_task(id pg_catalog.int8)
RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN dwc.job_status(id);
SELECT dwc._declare_http('api_impl.get_task',
  'A task with its status, attempts, result and last error (GET /background/tasks/{id}); 404 if unknown.',
  access => 'user', grp => 'tasks');

CREATE FUNCTION api_impl.list_tasks(status pg_catalog.text DEFAULT NULL, queue pg_catalog.text DEFAULT NULL,
                               task_type pg_catalog.text DEFAULT NULL, "limit" pg_catalog.int4 DEFAULT 50,
                               "offset" pg_catalog.int4 DEFAULT 0)
RETURNS TABLE (id pg_catalog.int8, queue pg_catalog.text, kind pg_catalog.text, name pg_catalog.text,
               status pg_catalog.text, priority pg_catalog.int2, payload pg_catalog.jsonb, attempts pg_catalog.int4,
               max_attempts pg_catalog.int4, timeout_ms pg_catalog.int4, run_at pg_catalog.timestamptz,
               created_at pg_catalog.timestamptz, started_at pg_catalog.timestamptz,
               finished_at pg_catalog.timestamptz, enqueued_by pg_catalog.text, enqueued_user pg_catalog.text,
               schedule_id pg_catalog.int8, result pg_catalog.jsonb, last_error pg_catalog.text,
               cancel_requested pg_catalog.bool)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT * FROM jsonb_to_recordset(dwc.list_jobs(status, queue, task_type, "limit", "offset"))
        AS r (id int8, queue text, kind text, name text, status text, priority int2, payload jsonb, attempts int4,
              max_attempts int4, timeout_ms int4, run_at timestamptz, created_at timestamptz, started_at timestamptz,
              finished_at timestamptz, enqueued_by text, enqueued_user text, schedule_id int8, result jsonb,
              last_error text, cancel_requested bool);
END;
SELECT dwc._declare_http('api_impl.list_tasks',
  'The caller''s tasks, newest first (GET /background/tasks), filtered by status, queue and task_type. '
  'Rows PostgREST can filter, order, page and count.',
  access => 'user', grp => 'tasks');

CREATE FUNCTION api_impl.cancel_task(id pg_catalog.int8)
RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN jsonb_build_object('id', id, 'cancelled', dwc.cancel_job(id));
SELECT dwc._declare_http('api_impl.cancel_task',
  'Cancel a task (POST /background/tasks/{id}/cancel); cancelled is false if it had already finished.',
  access => 'user', grp => 'tasks');

CREATE FUNCTION api_impl.retry_task(id pg_catalog.int8)
RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN jsonb_build_object('id', id, 'retried', dwc.retry_job(id));
SELECT dwc._declare_http('api_impl.retry_task',
  'Retry a task now: a waiting task runs at once, a dead or cancelled one is queued again with fresh attempts.',
  access => 'user', grp => 'tasks');

CREATE FUNCTION api_impl.cancel_tasks(queue pg_catalog.text DEFAULT NULL, task_type pg_catalog.text DEFAULT NULL,
                                 status pg_catalog.text DEFAULT NULL,
                                 older_than_seconds pg_catalog.float8 DEFAULT NULL)
RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN jsonb_build_object('cancelled', dwc.cancel_jobs(queue, task_type, status,
                                                       make_interval(secs => older_than_seconds)));
SELECT dwc._declare_http('api_impl.cancel_tasks',
  'Bulk cancel of the caller''s active tasks matching every given filter; returns how many.',
  access => 'user', grp => 'tasks');

CREATE FUNCTION api_impl.retry_tasks(queue pg_catalog.text DEFAULT NULL, task_type pg_catalog.text DEFAULT NULL,
                                include_dead pg_catalog.bool DEFAULT false)
RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN jsonb_build_object('retried', dwc.retry_jobs(queue, task_type),
                          'redriven', CASE WHEN include_dead THEN dwc.redrive_dead(queue, task_type) ELSE 0 END);
SELECT dwc._declare_http('api_impl.retry_tasks',
  'Bulk retry: waiting tasks run now; with include_dead, dead tasks are queued again (dead-letter redrive).',
  access => 'user', grp => 'tasks');

CREATE FUNCTION api_impl.background_stats(period_seconds pg_catalog.int4 DEFAULT 3600, queue pg_catalog.text DEFAULT NULL)
RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN dwc.queue_stats(make_interval(secs => period_seconds), queue)
       || jsonb_build_object('workers', (SELECT count(*) FROM dwc.status() WHERE kind = 'job'
                                                                      AND database = current_database()),
                             'queues', (SELECT coalesce(jsonb_agg(to_jsonb(o)), '[]') FROM dwc.queue_overview o));
SELECT dwc._declare_http('api_impl.background_stats',
  'Background service statistics (GET /background/service/stats): task counts by status, '
  'throughput, wait and run time percentiles, live workers and per-queue state. Administrators.',
  access => 'admin', grp => 'tasks');

CREATE FUNCTION api_impl.pause_queue(queue pg_catalog.text)
RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT dwc.pause_queue(queue);
    SELECT jsonb_build_object('queue', queue, 'paused', true);
END;
SELECT dwc._declare_http('api_impl.pause_queue',
  'Pause a queue (service management): its tasks wait until it is resumed. Administrators.',
  access => 'admin', grp => 'tasks');

CREATE FUNCTION api_impl.resume_queue(queue pg_catalog.text)
RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT dwc.resume_queue(queue);
    SELECT jsonb_build_object('queue', queue, 'paused', false);
END;
SELECT dwc._declare_http('api_impl.resume_queue',
  'Resume a paused queue. Administrators.',
  access => 'admin', grp => 'tasks');
