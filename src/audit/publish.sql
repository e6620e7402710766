-- src/audit/publish.sql: the events this subsystem publishes (sealed audit batches), through dwc._publish()
-- (src/events/events.sql), in the transaction that records them. See docs/events.md.

INSERT INTO dwc.event_sources (prefix, subsystem) VALUES ('audit', 'audit');

-- API: Private

-- audit: each sealed batch of the hash chain (administrators')
CREATE FUNCTION dwc._events_from_audit(added dwc.audit_seal[]) RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN (SELECT jsonb_agg(jsonb_build_object(
         'kind', 'audit.sealed', 'subject', 'audit_batch:' || a.batch,
         'payload', jsonb_build_object('batch', a.batch, 'rows', cardinality(a.audit_ids), 'first_seq', a.first_seq),
         'owner', dwc._system_owner()) ORDER BY a.batch)
          FROM unnest(added) a);
SELECT dwc._publish_inserts('dwc.audit_seal', 'dwc._events_from_audit');
