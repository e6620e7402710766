-- schedule: creating, validating, altering and removing schedules (no worker serves this
-- database, so nothing fires here; firing is tested with live workers in test/integration)
\set VERBOSITY terse
SET timezone = 'UTC';

BEGIN;  -- one now() for the schedule and the check
SELECT dwc.schedule('nightly', '0 2 * * *', 'sql', '{"sql": "SELECT 1"}', 'Europe/Madrid') AS id;
SELECT name, schedule, timezone, job_kind, overlap, misfire, enabled,
       next_run_at > now() AS in_future,
       next_run_at = (SELECT t FROM dwc.cron_next('0 2 * * *', now(), 1, 'Europe/Madrid') t) AS next_is_cron_next
  FROM dwc.schedules;
COMMIT;
SELECT dwc.schedule('every 30s', '30 seconds', overlap => 'skip', misfire => 'skip') AS id;
SELECT next_run_at - anchor AS first_after FROM dwc.schedules WHERE name = 'every 30s';
SELECT dwc.schedule('later', '1 hour', start_at => '2031-01-01 00:00:00+00') AS id;
SELECT next_run_at FROM dwc.schedules WHERE name = 'later';

-- convenience constructors write the cron expression
SELECT dwc.schedule_daily('daily', '07:45') AS id;
SELECT dwc.schedule_weekly('weekly', 'Friday', '18:00', timezone => 'America/New_York') AS id;
SELECT dwc.schedule_weekly('weekly sun', '0', '06:30') AS id;
SELECT dwc.schedule_monthly('month end', 'last', '23:00') AS id;
SELECT dwc.schedule_monthly('mid month', '15', '12:00') AS id;
SELECT name, schedule, timezone FROM dwc.schedules WHERE id > 3 ORDER BY id;

-- validation names the problem
SELECT dwc.schedule('bad cron', '0 25 * * *');
SELECT dwc.schedule('bad interval', '61 seconds');
SELECT dwc.schedule('bad zone', '@daily', timezone => 'Nowhere/Atlantis');
SELECT dwc.schedule('bad overlap', '@daily', overlap => 'sometimes');
SELECT dwc.schedule('bad misfire', '@daily', misfire => 'panic');
SELECT dwc.schedule('bad kind', '@daily', 'nope');
SELECT dwc.schedule('bad payload', '@daily', 'sql');
SELECT dwc.schedule('bad attempts', '@daily', max_attempts => 0);
SELECT dwc.schedule('', '@daily');
SELECT dwc.schedule('nightly', '@daily');
SELECT dwc.schedule_weekly('bad day', 'someday', '10:00');
SELECT dwc.schedule_monthly('bad day', '32', '10:00');
SELECT dwc.schedule('never', '0 0 30 2 *');
SELECT count(*) AS schedules FROM dwc.schedules;

-- altering
SELECT s->>'schedule' AS schedule, s->>'timezone' AS timezone, s->>'job_kind' AS job_kind,
       (s->>'next_run_at')::timestamptz = (SELECT t FROM dwc.cron_next('*/5 * * * *', now(), 1) t) AS next_recomputed
  FROM dwc.alter_schedule(1, schedule => '*/5 * * * *', timezone => 'UTC', job_kind => 'noop') s;
SELECT (dwc.disable_schedule(1))->>'enabled' AS enabled;
SELECT (dwc.enable_schedule(1))->>'enabled' AS enabled;
SELECT dwc.alter_schedule(1, schedule => 'bogus');
SELECT dwc.alter_schedule(1, overlap => 'never');
SELECT dwc.alter_schedule(1, name => 'daily');
SELECT dwc.alter_schedule(999);
SELECT (dwc.alter_schedule(1, name => 'five minutes'))->>'name' AS renamed;

-- status, listing, removing
SELECT s->>'name' AS name, s->'recent_runs' AS recent_runs FROM dwc.schedule_status(1) s;
SELECT jsonb_array_length(dwc.list_schedules()) AS listed;
SELECT dwc.unschedule('weekly sun') AS by_name, dwc.unschedule(2) AS by_id;
SELECT dwc.unschedule('weekly sun');
SELECT dwc.unschedule(2);
SELECT dwc.schedule_status(2);
SELECT name, enabled, failure_count, failures_last_day, skipped_last_day FROM dwc.schedule_overview ORDER BY id;
SELECT jsonb_object_keys(dwc.scheduler_stats()) AS stats_keys ORDER BY 1;

-- schedules belong to their owner
CREATE ROLE dwc_s_carol;
GRANT USAGE ON SCHEMA dwc TO dwc_s_carol;
SET ROLE dwc_s_carol;
SELECT dwc.schedule('carol''s', '@hourly', 'sql', '{"sql": "SELECT 1"}') AS carol_id \gset
SELECT jsonb_array_length(dwc.list_schedules()) AS carol_sees;
SELECT dwc.schedule_status(1);
SELECT dwc.unschedule(1);
SELECT dwc.schedule('nightly', '@daily') > 0 AS same_name_other_owner_ok;
RESET ROLE;
SELECT owner::regrole, name FROM dwc.schedules WHERE owner <> 'postgres'::regrole ORDER BY id;
DROP OWNED BY dwc_s_carol;
DROP ROLE dwc_s_carol;

-- the HTTP API wrappers
SELECT s->>'name' AS name, s->>'schedule' AS schedule, s->>'job_kind' AS job_kind
  FROM api.create_cron_schedule('Daily Backup', '0 2 * * *') s;
SELECT (api.create_interval_schedule('poll', '5 minutes'))->>'schedule' AS schedule;
SELECT (api.create_daily_schedule('standup', '09:15', timezone => 'Europe/Madrid'))->>'schedule' AS schedule;
SELECT (api.create_weekly_schedule('review', 'monday', '10:00'))->>'schedule' AS schedule;
SELECT (api.create_monthly_schedule('invoice', '1', '08:00'))->>'schedule' AS schedule;
SELECT jsonb_array_length(api.cron_next('0 2 * * *', 3)) AS next_three;
SELECT api.create_cron_schedule('broken', '0 2 * *');
SELECT (api.delete_schedule((SELECT id FROM dwc.schedules WHERE name = 'poll')))->'deleted' AS deleted;
