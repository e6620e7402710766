-- src/queue/publish.sql: the events this subsystem publishes (finished jobs), through dwc._publish()
-- (src/events/events.sql), in the transaction that records them. See docs/events.md.

INSERT INTO dwc.event_sources (prefix, subsystem) VALUES ('job', 'queue');

-- API: Private

-- finished jobs, as dwc.job_events says: dead ones (failures), all, or none. A trigger of its
-- own, not dwc._publish_inserts(): it fires for every batch of finished jobs, and the generic
-- trigger's dynamic statement costs ~40 us a fire against ~5 us for this one's cached plan.
CREATE FUNCTION dwc._events_from_jobs() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    which text := coalesce(current_setting('dwc.job_events', true), 'failures');
BEGIN
    IF dwc._restoring() THEN RETURN NULL; END IF;     -- rows of a dump: what they would derive came with them
    IF which = 'none' THEN
        RETURN NULL;
    END IF;
    PERFORM dwc._publish(jsonb_agg(jsonb_build_object(
               'kind', 'job.' || a.status, 'subject', 'job:' || a.id,
               'payload', jsonb_strip_nulls(jsonb_build_object('job_id', a.id, 'kind', a.kind, 'queue', a.queue,
                                                               'name', a.name, 'attempts', a.attempts,
                                                               'error', a.last_error, 'schedule_id', a.schedule_id)),
               'owner', a.enqueued_by, 'owner_user', a.enqueued_user) ORDER BY a.finished_at, a.id))
       FROM added a
      WHERE which = 'all' OR a.status = 'dead';
    RETURN NULL;
END;
$$;
CREATE TRIGGER job_history_emit AFTER INSERT ON dwc.job_history
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION dwc._events_from_jobs();
