-- src/api/scheduler.sql: the seed's /scheduler endpoints for PostgREST.

-- API: Public

CREATE FUNCTION api_impl.list_schedules()
RETURNS TABLE (id pg_catalog.int8, name pg_catalog.text, owner pg_catalog.text, owner_user pg_catalog.text,
               schedule pg_catalog.text, timezone pg_catalog.text, job_kind pg_catalog.text,
               job_payload pg_catalog.jsonb, job_queue pg_catalog.text, job_priority pg_catalog.int2,
               job_max_attempts pg_catalog.int4, job_timeout_ms pg_catalog.int4, enabled pg_catalog.bool,
               overlap pg_catalog.text, misfire pg_catalog.text, next_run_at pg_catalog.timestamptz,
               last_run_at pg_catalog.timestamptz, last_job_id pg_catalog.int8, failure_count pg_catalog.int4,
               last_error pg_catalog.text, created_at pg_catalog.timestamptz)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT * FROM jsonb_to_recordset(dwc.list_schedules())
        AS r (id int8, name text, owner text, owner_user text, schedule text, timezone text, job_kind text,
              job_payload jsonb, job_queue text, job_priority int2, job_max_attempts int4, job_timeout_ms int4,
              enabled bool, overlap text, misfire text, next_run_at timestamptz, last_run_at timestamptz,
              last_job_id int8, failure_count int4, last_error text, created_at timestamptz);
END;
SELECT dwc._declare_http('api_impl.list_schedules',
  'The caller''s schedules (GET /scheduler/schedules): rows PostgREST can filter, order, page and count.',
  access => 'user', grp => 'schedules');

CREATE FUNCTION api_impl.create_cron_schedule(
    name pg_catalog.text,
    cron_expression pg_catalog.text,
    task_type pg_catalog.text DEFAULT 'noop',
    payload pg_catalog.jsonb DEFAULT '{}',
    timezone pg_catalog.text DEFAULT 'UTC',
    priority pg_catalog.text DEFAULT 'normal',
    max_retries pg_catalog.int4 DEFAULT NULL,
    overlap pg_catalog.text DEFAULT 'allow',
    misfire pg_catalog.text DEFAULT 'run_once')
RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN dwc.schedule_status(dwc.schedule(name, cron_expression, task_type, payload, timezone,
                                        priority => priority, max_attempts => max_retries + 1,
                                        overlap => overlap, misfire => misfire));
SELECT dwc._declare_http('api_impl.create_cron_schedule',
  'Create a cron schedule (POST /scheduler/schedules/cron), e.g. {"name": "Daily Backup", '
  '"cron_expression": "0 2 * * *"}. Each fire time enqueues one task of task_type (default noop). '
  'Returns the schedule with its next run.',
  access => 'user', grp => 'schedules');

CREATE FUNCTION api_impl.create_interval_schedule(
    name pg_catalog.text,
    "interval" pg_catalog.text,
    task_type pg_catalog.text DEFAULT 'noop',
    payload pg_catalog.jsonb DEFAULT '{}',
    start_at pg_catalog.timestamptz DEFAULT NULL,
    priority pg_catalog.text DEFAULT 'normal',
    overlap pg_catalog.text DEFAULT 'allow')
RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN dwc.schedule_status(dwc.schedule(name, "interval", task_type, payload, priority => priority,
                                        overlap => overlap, start_at => start_at));
SELECT dwc._declare_http('api_impl.create_interval_schedule',
  'Create an interval schedule (POST /scheduler/schedules/interval): "interval" like "30 seconds", '
  '"5 minutes", "1 hour 30 minutes", counted from start_at (default now).',
  access => 'user', grp => 'schedules');

CREATE FUNCTION api_impl.create_daily_schedule(name pg_catalog.text, "time" pg_catalog.time,
    task_type pg_catalog.text DEFAULT 'noop', payload pg_catalog.jsonb DEFAULT '{}',
    timezone pg_catalog.text DEFAULT 'UTC')
RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN dwc.schedule_status(dwc.schedule_daily(name, "time", task_type, payload, timezone));
SELECT dwc._declare_http('api_impl.create_daily_schedule',
  'Create a daily schedule (POST /scheduler/schedules/daily) at "time" (HH:MM) in timezone.',
  access => 'user', grp => 'schedules');

CREATE FUNCTION api_impl.create_weekly_schedule(name pg_catalog.text, day pg_catalog.text, "time" pg_catalog.time,
    task_type pg_catalog.text DEFAULT 'noop', payload pg_catalog.jsonb DEFAULT '{}',
    timezone pg_catalog.text DEFAULT 'UTC')
RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN dwc.schedule_status(dwc.schedule_weekly(name, day, "time", task_type, payload, timezone));
SELECT dwc._declare_http('api_impl.create_weekly_schedule',
  'Create a weekly schedule (POST /scheduler/schedules/weekly) on day (monday ... sunday) at "time".',
  access => 'user', grp => 'schedules');

CREATE FUNCTION api_impl.create_monthly_schedule(name pg_catalog.text, day pg_catalog.text, "time" pg_catalog.time,
    task_type pg_catalog.text DEFAULT 'noop', payload pg_catalog.jsonb DEFAULT '{}',
    timezone pg_catalog.text DEFAULT 'UTC')
RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN dwc.schedule_status(dwc.schedule_monthly(name, day, "time", task_type, payload, timezone));
SELECT dwc._declare_http('api_impl.create_monthly_schedule',
  'Create a monthly schedule (POST /scheduler/schedules/monthly) on day (1-31 or last) at "time".',
  access => 'user', grp => 'schedules');

CREATE FUNCTION api_impl.get_schedule(id pg_catalog.int8)
RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN dwc.schedule_status(id);
SELECT dwc._declare_http('api_impl.get_schedule',
  'A schedule with its recent runs (GET /scheduler/schedules/{id}); 404 if unknown.',
  access => 'user', grp => 'schedules');

CREATE FUNCTION api_impl.update_schedule(id pg_catalog.int8, schedule pg_catalog.text DEFAULT NULL,
    timezone pg_catalog.text DEFAULT NULL, task_type pg_catalog.text DEFAULT NULL,
    payload pg_catalog.jsonb DEFAULT NULL, priority pg_catalog.text DEFAULT NULL,
    overlap pg_catalog.text DEFAULT NULL, misfire pg_catalog.text DEFAULT NULL,
    name pg_catalog.text DEFAULT NULL)
RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN dwc.alter_schedule(id, schedule => schedule, timezone => timezone, job_kind => task_type,
                          payload => payload, priority => priority, overlap => overlap,
                          misfire => misfire, name => name);
SELECT dwc._declare_http('api_impl.update_schedule',
  'Change a schedule''s fields (omitted ones are kept).',
  access => 'user', grp => 'schedules');

CREATE FUNCTION api_impl.delete_schedule(id pg_catalog.int8)
RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN jsonb_build_object('id', id, 'deleted', dwc.unschedule(id));
SELECT dwc._declare_http('api_impl.delete_schedule',
  'Delete a schedule (DELETE /scheduler/schedules/{id}).',
  access => 'user', grp => 'schedules');

CREATE FUNCTION api_impl.enable_schedule(id pg_catalog.int8)
RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN dwc.enable_schedule(id);
SELECT dwc._declare_http('api_impl.enable_schedule',
  'Enable a schedule; it fires again from now on.',
  access => 'user', grp => 'schedules');

CREATE FUNCTION api_impl.disable_schedule(id pg_catalog.int8)
RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN dwc.disable_schedule(id);
SELECT dwc._declare_http('api_impl.disable_schedule',
  'Disable a schedule.',
  access => 'user', grp => 'schedules');

CREATE FUNCTION api_impl.cron_next(cron_expression pg_catalog.text, n pg_catalog.int4 DEFAULT 5,
                              timezone pg_catalog.text DEFAULT 'UTC')
RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN (SELECT jsonb_agg(t) FROM dwc.cron_next(cron_expression, now(), n, timezone) t);
SELECT dwc._declare_http('api_impl.cron_next',
  'The next n fire times of a cron expression or interval (validation before creating a schedule).',
  access => 'user', grp => 'schedules');

CREATE FUNCTION api_impl.scheduler_stats(period_seconds pg_catalog.int4 DEFAULT 3600)
RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN dwc.scheduler_stats(make_interval(secs => period_seconds));
SELECT dwc._declare_http('api_impl.scheduler_stats',
  'Scheduler statistics (GET /scheduler/service/stats): schedules, runs by outcome, lateness. Administrators.',
  access => 'admin', grp => 'schedules');
