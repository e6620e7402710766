-- src/scheduler/publish.sql: the events this subsystem publishes (schedule fires), through dwc._publish()
-- (src/events/events.sql), in the transaction that records them. See docs/events.md.

INSERT INTO dwc.event_sources (prefix, subsystem) VALUES ('schedule', 'scheduler');

-- API: Private

-- schedules: each fire time handled (fired, or skipped and why)
CREATE FUNCTION dwc._events_from_schedules() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF dwc._restoring() THEN RETURN NULL; END IF;     -- rows of a dump: what they would derive came with them
    PERFORM dwc._publish(jsonb_agg(jsonb_build_object(
               'kind', 'schedule.' || CASE a.outcome WHEN 'enqueued' THEN 'fired' ELSE a.outcome END,
               'subject', 'schedule:' || a.schedule_id,
               'payload', jsonb_strip_nulls(jsonb_build_object('schedule_id', a.schedule_id, 'name', s.name,
                                                               'fire_time', a.fire_time, 'job_id', a.job_id,
                                                               'detail', a.detail)),
               'owner', s.owner, 'owner_user', s.owner_user) ORDER BY a.fired_at, a.schedule_id))
       FROM added a JOIN dwc.schedules s ON s.id = a.schedule_id;
    RETURN NULL;
END;
$$;
CREATE TRIGGER schedule_runs_emit AFTER INSERT ON dwc.schedule_runs
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION dwc._events_from_schedules();
