-- src/queue/health.sql: is dwc working in this database: are its workers live, is its queue
-- keeping up? (GET /rpc/health). See docs/http.md.

-- API: Public

CREATE FUNCTION dwc.health(max_queue_lag pg_catalog.interval DEFAULT '1 minute')
RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
RETURN (
    WITH served AS (
        SELECT current_database() = ANY (string_to_array(replace(current_setting('dwc.databases', true), ' ', ''), ','))
               AS served,
               coalesce(current_setting('dwc.job_workers', true), '0')::int AS job_workers),
    live AS (
        SELECT count(*) FILTER (WHERE kind = 'launcher') AS launchers,
               count(*) FILTER (WHERE kind = 'job' AND database = current_database()) AS job_workers,
               count(*) FILTER (WHERE kind = 'scheduler' AND database = current_database()) AS schedulers,
               count(*) FILTER (WHERE kind = 'maintenance' AND database = current_database()) AS maintainers
          FROM dwc.status()),
    lag AS (
        -- the oldest job that could run now and has not started, in queues that are not paused
        SELECT count(*) AS ready, extract(epoch FROM now() - min(j.run_at)) AS oldest_ready_seconds
          FROM dwc.jobs j
         WHERE j.status IN ('queued', 'retry') AND j.run_at <= now()
           AND NOT EXISTS (SELECT 1 FROM dwc.queues q WHERE q.name = j.queue AND q.paused)),
    -- a hot standby runs no worker (they start at promotion): its checks say "standby"
    role AS (
        SELECT pg_is_in_recovery() AS standby,
               'dwc' = ANY (string_to_array(replace(current_setting('shared_preload_libraries'), ' ', ''), ','))
               AS preloaded),
    checks AS (
        SELECT jsonb_build_object(
                   'status', 'ok', 'name', current_database(), 'in_recovery', role.standby,
                   'writable', NOT role.standby) AS database,
               jsonb_build_object(
                   'status', CASE WHEN NOT role.preloaded OR NOT served.served OR served.job_workers = 0 THEN 'down'
                                  WHEN role.standby THEN 'standby'
                                  WHEN live.launchers = 0 OR live.job_workers < served.job_workers THEN 'down'
                                  ELSE 'ok' END,
                   'live', live.job_workers, 'expected', CASE WHEN served.served THEN served.job_workers ELSE 0 END,
                   'preloaded', role.preloaded, 'database_served', served.served) AS workers,
               jsonb_build_object(
                   'status', CASE WHEN role.standby THEN 'standby' WHEN live.schedulers = 0 THEN 'down' ELSE 'ok' END,
                   'live', live.schedulers) AS scheduler,
               jsonb_build_object(
                   'status', CASE WHEN role.standby THEN 'standby' WHEN live.maintainers = 0 THEN 'down' ELSE 'ok' END,
                   'live', live.maintainers) AS maintenance,
               jsonb_build_object(
                   'status', CASE WHEN role.standby THEN 'standby'
                                  WHEN coalesce(lag.oldest_ready_seconds, 0) > extract(epoch FROM max_queue_lag)
                                  THEN 'lagging' ELSE 'ok' END,
                   'ready', lag.ready, 'oldest_ready_seconds', round(coalesce(lag.oldest_ready_seconds, 0)::numeric, 3),
                   'max_lag_seconds', extract(epoch FROM max_queue_lag)) AS queue
          FROM served, live, lag, role)
    SELECT jsonb_build_object(
               'status', CASE WHEN database->>'status' = 'ok' AND workers->>'status' IN ('ok', 'standby')
                                   AND scheduler->>'status' IN ('ok', 'standby')
                                   AND maintenance->>'status' IN ('ok', 'standby')
                                   AND queue->>'status' IN ('ok', 'standby')
                              THEN 'ok' ELSE 'degraded' END,
               'role', CASE WHEN pg_is_in_recovery() THEN 'standby' ELSE 'primary' END,
               'version', dwc.version(), 'time', now(),
               'checks', jsonb_build_object('database', database, 'workers', workers,
                                            'scheduler', scheduler, 'maintenance', maintenance,
                                            'queue', queue))
      FROM checks);
COMMENT ON FUNCTION dwc.health(pg_catalog.interval) IS
  'Whether dwc works in this database: status ok, or degraded when one check is not ok; role: primary, '
  'or standby (a hot standby, read-only: its workers, scheduler, maintenance and queue checks say '
  '"standby", as dwc''s workers start at promotion). Checks: '
  'database (in_recovery, writable), workers (the library is preloaded, this database is in '
  'dwc.databases, and dwc.job_workers job workers are live), scheduler (its worker is live), '
  'maintenance (its worker is live: partitions, retention, recovery of lost jobs, audit seals), queue '
  '(the oldest job ready to run, outside paused queues, has waited at most max_queue_lag).';
GRANT EXECUTE ON FUNCTION dwc.health(pg_catalog.interval) TO PUBLIC;
