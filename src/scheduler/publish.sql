-- src/scheduler/publish.sql: the events this subsystem publishes (schedule fires), through dwc._publish()
-- (src/events/events.sql), in the transaction that records them. See docs/events.md.

INSERT INTO dwc.event_sources (prefix, subsystem) VALUES ('schedule', 'scheduler');

-- API: Private

-- schedules: each fire time handled (fired, or skipped and why)
CREATE FUNCTION dwc._events_from_schedules(added dwc.schedule_runs[]) RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN (SELECT jsonb_agg(jsonb_build_object(
         'kind', 'schedule.' || CASE a.outcome WHEN 'enqueued' THEN 'fired' ELSE a.outcome END,
         'subject', 'schedule:' || a.schedule_id,
         'payload', jsonb_strip_nulls(jsonb_build_object('schedule_id', a.schedule_id, 'name', s.name,
                                                         'fire_time', a.fire_time, 'job_id', a.job_id,
                                                         'detail', a.detail)),
         'owner', s.owner, 'owner_user', s.owner_user) ORDER BY a.fired_at, a.schedule_id)
          FROM unnest(added) a JOIN dwc.schedules s ON s.id = a.schedule_id);
SELECT dwc._publish_inserts('dwc.schedule_runs', 'dwc._events_from_schedules');
