-- src/audit/publish.sql: the events this subsystem publishes (sealed audit batches), through dwc._publish()
-- (src/events/events.sql), in the transaction that records them. See docs/events.md.

INSERT INTO dwc.event_sources (prefix, subsystem) VALUES ('audit', 'audit');

-- API: Private

-- audit: each sealed batch of the hash chain (administrators')
CREATE FUNCTION dwc._events_from_audit() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF dwc._restoring() THEN RETURN NULL; END IF;     -- rows of a dump: what they would derive came with them
    PERFORM dwc._publish(jsonb_agg(jsonb_build_object(
               'kind', 'audit.sealed', 'subject', 'audit_batch:' || a.batch,
               'payload', jsonb_build_object('batch', a.batch, 'rows', cardinality(a.audit_ids), 'first_seq', a.first_seq),
               'owner', dwc._system_owner()) ORDER BY a.batch))
       FROM added a;
    RETURN NULL;
END;
$$;
CREATE TRIGGER audit_seal_emit AFTER INSERT ON dwc.audit_seal
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION dwc._events_from_audit();
