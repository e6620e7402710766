-- src/recommend/publish.sql: the events this subsystem publishes (trained recommendation models), through dwc._publish()
-- (src/events/events.sql), in the transaction that records them. See docs/events.md.

INSERT INTO dwc.event_sources (prefix, subsystem) VALUES ('rec', 'recommend');

-- API: Private

-- trained versions of recommendation models
CREATE FUNCTION dwc._events_from_recommender(added dwc.rec_versions[]) RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN (SELECT jsonb_agg(jsonb_build_object(
         'kind', 'rec.trained', 'subject', 'rec_model:' || a.model_id,
         'payload', jsonb_build_object('model_id', a.model_id, 'model', m.name, 'version', a.version,
                                       'metrics', a.metrics),
         'owner', m.owner, 'owner_user', m.owner_user) ORDER BY a.model_id, a.version)
          FROM unnest(added) a JOIN dwc.rec_models m ON m.id = a.model_id);
SELECT dwc._publish_inserts('dwc.rec_versions', 'dwc._events_from_recommender');
