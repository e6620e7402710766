-- src/scheduler/outcomes.sql: how a schedule's jobs end, kept on the schedule (failure_count,
-- last_error): the queue tells through the hook point scheduled_jobs_ended
-- (src/queue/outcomes.sql), in the transaction that records the jobs' end.

-- API: Private

-- message: {"jobs": [{"schedule_id", "status" (succeeded or dead), "error"}, ...]}
CREATE FUNCTION dwc._schedule_jobs_ended(message pg_catalog.jsonb) RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    UPDATE dwc.schedules s
       SET failure_count = CASE WHEN o.status = 'dead' THEN s.failure_count + 1 ELSE 0 END,
           last_error = CASE WHEN o.status = 'dead' THEN o.error ELSE s.last_error END
      FROM jsonb_to_recordset(message->'jobs') AS o(schedule_id int8, status text, error text)
     WHERE s.id = o.schedule_id;
    SELECT '{}'::jsonb;
END;
COMMENT ON FUNCTION dwc._schedule_jobs_ended(pg_catalog.jsonb) IS
  'Private: the hook scheduled_jobs_ended: a schedule whose job died counts one more failure and keeps its '
  'error; one whose job succeeded starts counting again.';

INSERT INTO dwc.hooks (point, handler) VALUES ('scheduled_jobs_ended', 'dwc._schedule_jobs_ended(jsonb)');
