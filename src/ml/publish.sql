-- src/ml/publish.sql: the events this subsystem publishes (trained ML models), through dwc._publish()
-- (src/events/events.sql), in the transaction that records them. See docs/events.md.

INSERT INTO dwc.event_sources (prefix, subsystem) VALUES ('ml', 'ml');

-- API: Private

-- trained versions of ML models
CREATE FUNCTION dwc._events_from_ml(added dwc.ml_model_versions[]) RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN (SELECT jsonb_agg(jsonb_build_object(
         'kind', 'ml.trained', 'subject', 'ml_model:' || a.model_id,
         'payload', jsonb_build_object('model_id', a.model_id, 'model', m.name, 'version', a.version,
                                       'score', a.score, 'training_ms', a.training_ms),
         'owner', m.owner, 'owner_user', m.owner_user) ORDER BY a.model_id, a.version)
          FROM unnest(added) a JOIN dwc.ml_models m ON m.id = a.model_id);
SELECT dwc._publish_inserts('dwc.ml_model_versions', 'dwc._events_from_ml');
