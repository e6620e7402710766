-- src/queue/outcomes.sql: how a job went, told to the subsystem that owns its kind. The queue
-- calls the outcome hooks a kind was registered with (dwc.register_job_kind) in the
-- transaction that records the outcome, so that what a subsystem keeps of its jobs (a run's
-- attempts, a notification's state, a workflow step's failure) commits with it; and the hook
-- point scheduled_jobs_ended (src/core/hooks.sql) with the jobs of schedules, which the
-- scheduler answers. No other subsystem hangs triggers on the queue's tables, and the queue
-- writes no other subsystem's tables. See docs/queue.md.

-- API: Private

-- an attempt that failed and will be retried (the attempt's own writes rolled back with it,
-- so this is where its failure can be kept)
CREATE FUNCTION dwc._job_retried() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    hook regprocedure;
BEGIN
    IF dwc._restoring() THEN RETURN NULL; END IF;     -- rows of a dump: what they would derive came with them
    SELECT k.on_retry INTO hook FROM dwc.job_kinds k WHERE k.kind = NEW.kind;
    IF hook IS NOT NULL THEN
        EXECUTE format('SELECT %s($1)', hook::oid::regproc) USING NEW;
    END IF;
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION dwc._job_retried() IS
  'Private: calls the on_retry hook of a job''s kind when an attempt failed and the job waits for its retry.';
CREATE TRIGGER jobs_retried AFTER UPDATE OF status ON dwc.jobs FOR EACH ROW
    WHEN (NEW.status = 'retry' AND NEW.last_error IS NOT NULL)
    EXECUTE FUNCTION dwc._job_retried();

-- jobs that ended (succeeded, dead, cancelled): each kind's hook once per statement, with its jobs
CREATE FUNCTION dwc._jobs_ended() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    k record;
    scheduled jsonb;
BEGIN
    IF dwc._restoring() THEN RETURN NULL; END IF;     -- rows of a dump: what they would derive came with them
    FOR k IN SELECT jk.on_end, array_agg(a::dwc.job_history ORDER BY a.finished_at, a.id) AS jobs
               FROM added a JOIN dwc.job_kinds jk ON jk.kind = a.kind
              WHERE jk.on_end IS NOT NULL
              GROUP BY jk.on_end
    LOOP
        EXECUTE format('SELECT %s($1)', k.on_end::oid::regproc) USING k.jobs;
    END LOOP;
    -- the jobs of schedules, whatever their kind: the scheduler, above, keeps count of failures
    SELECT jsonb_agg(jsonb_build_object('schedule_id', a.schedule_id, 'status', a.status, 'error', a.last_error)
                     ORDER BY a.finished_at, a.id)
      INTO scheduled
      FROM added a WHERE a.schedule_id IS NOT NULL AND a.status IN ('succeeded', 'dead');
    IF scheduled IS NOT NULL THEN
        PERFORM dwc._call_hook('scheduled_jobs_ended', jsonb_build_object('jobs', scheduled));
    END IF;
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION dwc._jobs_ended() IS
  'Private: calls the on_end hook of each kind among the jobs a statement recorded as ended, with them, and '
  'the hook point scheduled_jobs_ended with those of schedules that succeeded or died.';
CREATE TRIGGER job_history_ended AFTER INSERT ON dwc.job_history
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION dwc._jobs_ended();
