-- src/chain/publish.sql: the events this subsystem publishes (chain events), through dwc._publish()
-- (src/events/events.sql), in the transaction that records them. See docs/events.md.

INSERT INTO dwc.event_sources (prefix, subsystem) VALUES ('chain', 'chain');

-- API: Private

-- chains: every chain event (created, document_created, document_edited, status changes, failures)
CREATE FUNCTION dwc._events_from_chains(added dwc.chain_events[]) RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN (SELECT jsonb_agg(jsonb_build_object(
         'kind', 'chain.' || a.event, 'subject', 'chain:' || a.chain_id,
         'payload', jsonb_strip_nulls(jsonb_build_object('chain_id', a.chain_id, 'document_id', a.document_id,
                                                         'job_id', a.job_id)) || a.detail,
         'owner', c.owner, 'owner_user', c.owner_user) ORDER BY a.id)
          FROM unnest(added) a JOIN dwc.chains c ON c.id = a.chain_id
         WHERE a.event ~ '^[a-z][a-z0-9_]*$');
SELECT dwc._publish_inserts('dwc.chain_events', 'dwc._events_from_chains');
