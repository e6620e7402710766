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
COMMENT ON FUNCTION api_impl.list_schedules() IS
  'The caller''s schedules (GET /scheduler/schedules): rows PostgREST can filter, order, page and count.';
INSERT INTO dwc.api_access (name, access, grp) VALUES ('list_schedules', 'user', 'schedules');

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
COMMENT ON FUNCTION api_impl.create_cron_schedule(pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.jsonb, pg_catalog.text, pg_catalog.text, pg_catalog.int4, pg_catalog.text, pg_catalog.text) IS
  'Create a cron schedule (POST /scheduler/schedules/cron), e.g. {"name": "Daily Backup", '
  '"cron_expression": "0 2 * * *"}. Each fire time enqueues one task of task_type (default noop). '
  'Returns the schedule with its next run.';
INSERT INTO dwc.api_access (name, access, grp) VALUES ('create_cron_schedule', 'user', 'schedules');

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
COMMENT ON FUNCTION api_impl.create_interval_schedule(pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.jsonb, pg_catalog.timestamptz, pg_catalog.text, pg_catalog.text) IS
  'Create an interval schedule (POST /scheduler/schedules/interval): "interval" like "30 seconds", '
  '"5 minutes", "1 hour 30 minutes", counted from start_at (default now).';
INSERT INTO dwc.api_access (name, access, grp) VALUES ('create_interval_schedule', 'user', 'schedules');

CREATE FUNCTION api_impl.create_daily_schedule(name pg_catalog.text, "time" pg_catalog.time,
    task_type pg_catalog.text DEFAULT 'noop', payload pg_catalog.jsonb DEFAULT '{}',
    timezone pg_catalog.text DEFAULT 'UTC')
RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN dwc.schedule_status(dwc.schedule_daily(name, "time", task_type, payload, timezone));
COMMENT ON FUNCTION api_impl.create_daily_schedule(pg_catalog.text, pg_catalog.time, pg_catalog.text, pg_catalog.jsonb, pg_catalog.text) IS
  'Create a daily schedule (POST /scheduler/schedules/daily) at "time" (HH:MM) in timezone.';
INSERT INTO dwc.api_access (name, access, grp) VALUES ('create_daily_schedule', 'user', 'schedules');

CREATE FUNCTION api_impl.create_weekly_schedule(name pg_catalog.text, day pg_catalog.text, "time" pg_catalog.time,
    task_type pg_catalog.text DEFAULT 'noop', payload pg_catalog.jsonb DEFAULT '{}',
    timezone pg_catalog.text DEFAULT 'UTC')
RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN dwc.schedule_status(dwc.schedule_weekly(name, day, "time", task_type, payload, timezone));
COMMENT ON FUNCTION api_impl.create_weekly_schedule(pg_catalog.text, pg_catalog.text, pg_catalog.time, pg_catalog.text, pg_catalog.jsonb, pg_catalog.text) IS
  'Create a weekly schedule (POST /scheduler/schedules/weekly) on day (monday ... sunday) at "time".';
INSERT INTO dwc.api_access (name, access, grp) VALUES ('create_weekly_schedule', 'user', 'schedules');

CREATE FUNCTION api_impl.create_monthly_schedule(name pg_catalog.text, day pg_catalog.text, "time" pg_catalog.time,
    task_type pg_catalog.text DEFAULT 'noop', payload pg_catalog.jsonb DEFAULT '{}',
    timezone pg_catalog.text DEFAULT 'UTC')
RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN dwc.schedule_status(dwc.schedule_monthly(name, day, "time", task_type, payload, timezone));
COMMENT ON FUNCTION api_impl.create_monthly_schedule(pg_catalog.text, pg_catalog.text, pg_catalog.time, pg_catalog.text, pg_catalog.jsonb, pg_catalog.text) IS
  'Create a monthly schedule (POST /scheduler/schedules/monthly) on day (1-31 or last) at "time".';
INSERT INTO dwc.api_access (name, access, grp) VALUES ('create_monthly_schedule', 'user', 'schedules');

CREATE FUNCTION api_impl.get_schedule(id pg_catalog.int8)
RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN dwc.schedule_status(id);
COMMENT ON FUNCTION api_impl.get_schedule(pg_catalog.int8) IS
  'A schedule with its recent runs (GET /scheduler/schedules/{id}); 404 if unknown.';
INSERT INTO dwc.api_access (name, access, grp) VALUES ('get_schedule', 'user', 'schedules');

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
COMMENT ON FUNCTION api_impl.update_schedule(pg_catalog.int8, pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.jsonb, pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.text) IS
  'Change a schedule''s fields (omitted ones are kept).';
INSERT INTO dwc.api_access (name, access, grp) VALUES ('update_schedule', 'user', 'schedules');

CREATE FUNCTION api_impl.delete_schedule(id pg_catalog.int8)
RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN jsonb_build_object('id', id, 'deleted', dwc.unschedule(id));
COMMENT ON FUNCTION api_impl.delete_schedule(pg_catalog.int8) IS 'Delete a schedule (DELETE /scheduler/schedules/{id}).';
INSERT INTO dwc.api_access (name, access, grp) VALUES ('delete_schedule', 'user', 'schedules');

CREATE FUNCTION api_impl.enable_schedule(id pg_catalog.int8)
RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN dwc.enable_schedule(id);
COMMENT ON FUNCTION api_impl.enable_schedule(pg_catalog.int8) IS 'Enable a schedule; it fires again from now on.';
INSERT INTO dwc.api_access (name, access, grp) VALUES ('enable_schedule', 'user', 'schedules');

CREATE FUNCTION api_impl.disable_schedule(id pg_catalog.int8)
RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN dwc.disable_schedule(id);
COMMENT ON FUNCTION api_impl.disable_schedule(pg_catalog.int8) IS 'Disable a schedule.';
INSERT INTO dwc.api_access (name, access, grp) VALUES ('disable_schedule', 'user', 'schedules');

CREATE FUNCTION api_impl.cron_next(cron_expression pg_catalog.text, n pg_catalog.int4 DEFAULT 5,
                              timezone pg_catalog.text DEFAULT 'UTC')
RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN (SELECT jsonb_agg(t) FROM dwc.cron_next(cron_expression, now(), n, timezone) t);
COMMENT ON FUNCTION api_impl.cron_next(pg_catalog.text, pg_catalog.int4, pg_catalog.text) IS
  'The next n fire times of a cron expression or interval (validation before creating a schedule).';
INSERT INTO dwc.api_access (name, access, grp) VALUES ('cron_next', 'user', 'schedules');

CREATE FUNCTION api_impl.scheduler_stats(period_seconds pg_catalog.int4 DEFAULT 3600)
RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN dwc.scheduler_stats(make_interval(secs => period_seconds));
COMMENT ON FUNCTION api_impl.scheduler_stats(pg_catalog.int4) IS
  'Scheduler statistics (GET /scheduler/service/stats): schedules, runs by outcome, lateness. Administrators.';
INSERT INTO dwc.api_access (name, access, grp) VALUES ('scheduler_stats', 'admin', 'schedules');
