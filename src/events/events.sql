-- src/events/events.sql: events: what happened, as rows for replay and NOTIFYs for
-- listeners. See docs/events.md.
--
-- dwc.emit() records an application's events; dwc's own subsystems emit theirs from
-- statement-level triggers on the tables where what happened is recorded (chain events,
-- finished jobs, schedule runs, trained versions, security events, audit seals), so that
-- an event commits, or vanishes, with what it reports. One trigger on dwc.events NOTIFYs
-- every event, however it was made.

-- API: Private (tables)

CREATE TABLE dwc.events (
    id pg_catalog.int8 GENERATED ALWAYS AS IDENTITY,
    at pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    kind pg_catalog.text NOT NULL
        CHECK (length(kind) <= 100 AND kind ~ '^[a-z][a-z0-9_]*(\.[a-z0-9_]+){0,5}$'),
    subject pg_catalog.text CHECK (length(subject) <= 200),
    payload pg_catalog.jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(payload) = 'object'),
    owner pg_catalog.oid NOT NULL,
    owner_user pg_catalog.text
) PARTITION BY RANGE (at);
COMMENT ON TABLE dwc.events IS
  'Events: kind (dotted, its first part the source: chain, job, schedule, ml, rec, security, audit, '
  'or an application''s own), subject (what it is about, e.g. chain:12), payload, and who it belongs to. '
  'Partitioned by day of at; partitions older than dwc.event_retention are dropped. Ids increase in '
  'commit order only within a session: replay by id from the last one seen, as docs/events.md explains.';
SELECT pg_catalog.pg_extension_config_dump('dwc.events_id_seq', '');
CREATE TABLE dwc.events_default PARTITION OF dwc.events DEFAULT;
-- no key to name a row by: logical replication identifies it by all its columns (docs/replication.md);
-- the partition manager gives each new partition the same
ALTER TABLE dwc.events REPLICA IDENTITY FULL;
ALTER TABLE dwc.events_default REPLICA IDENTITY FULL;
SELECT pg_catalog.pg_extension_config_dump('dwc.events_default', '');
CREATE INDEX events_id ON dwc.events (id);
CREATE INDEX events_kind ON dwc.events (kind, id);
CREATE INDEX events_owner ON dwc.events (owner, (coalesce(owner_user, '')), id);
SELECT pg_catalog.pg_extension_config_dump('dwc.events', '');

-- daily partitions from yesterday to two days ahead, kept for dwc.event_retention
INSERT INTO dwc.partitioned_tables (parent, time_column, period, behind, ahead, retention_setting, default_rows)
VALUES ('dwc.events', 'at', 'day', 1, 2, 'dwc.event_retention', 'move');

-- signed-in users read their own events directly (src/security/roles.sql)
SELECT dwc._enable_owner_rls('dwc.events', 'dwc._row_visible(owner, owner_user)');

-- ---- notification -----------------------------------------------------------------

-- Every event is NOTIFYed on dwc.events, on dwc.events.<source> (the kind's first part) and,
-- when it belongs to a dwc user, on dwc.user.<user id>. The payload is {"id", "kind"} only:
-- any session may LISTEN on any channel, so what the event says is read from the table,
-- where row-level security applies.
CREATE FUNCTION dwc._events_notify() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF dwc._restoring() THEN RETURN NULL; END IF;     -- rows of a dump: what they would derive came with them
    PERFORM pg_notify(c.channel, c.message)
       FROM (SELECT e.id, 'dwc.events' AS channel, jsonb_build_object('id', e.id, 'kind', e.kind)::text AS message
               FROM added e
             UNION ALL
             SELECT e.id, 'dwc.events.' || split_part(e.kind, '.', 1), jsonb_build_object('id', e.id, 'kind', e.kind)::text
               FROM added e
             UNION ALL
             SELECT e.id, 'dwc.user.' || e.owner_user, jsonb_build_object('id', e.id, 'kind', e.kind)::text
               FROM added e WHERE e.owner_user IS NOT NULL AND length(e.owner_user) <= 54) c
      ORDER BY c.id;
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION dwc._events_notify() IS 'Private: NOTIFYs the events a statement inserted.';

CREATE TRIGGER events_notify AFTER INSERT ON dwc.events
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION dwc._events_notify();

-- ---- emitting -----------------------------------------------------------------------

CREATE FUNCTION dwc._emit(kind pg_catalog.text, subject pg_catalog.text, payload pg_catalog.jsonb,
                          caller pg_catalog.oid)
RETURNS pg_catalog.int8
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    new_id int8;
BEGIN
    IF kind IS NULL OR length(kind) > 100 OR kind !~ '^[a-z][a-z0-9_]*(\.[a-z0-9_]+){0,5}$' THEN
        RAISE EXCEPTION 'invalid event kind "%"', kind USING ERRCODE = 'invalid_parameter_value',
            HINT = 'A kind is up to six dotted parts of lower-case letters, digits and _, starting with a letter, e.g. order.paid.';
    END IF;
    IF split_part(kind, '.', 1) IN ('chain', 'job', 'schedule', 'ml', 'rec', 'security', 'audit', 'automation', 'workflow', 'analytics')
       AND NOT dwc._may_manage(caller, 10, NULL) THEN
        RAISE EXCEPTION 'event kinds starting with "%." are dwc''s own', split_part(kind, '.', 1)
            USING ERRCODE = 'insufficient_privilege', HINT = 'Name application events after the application, e.g. shop.order_paid.';
    END IF;
    IF payload IS NOT NULL AND jsonb_typeof(payload) <> 'object' THEN
        RAISE EXCEPTION 'an event''s payload must be a JSON object' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF length(subject) > 200 THEN
        RAISE EXCEPTION 'an event''s subject is at most 200 characters' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO dwc.events (kind, subject, payload, owner, owner_user)
    VALUES (kind, subject, coalesce(payload, '{}'), caller, dwc.current_user_id())
    RETURNING id INTO new_id;
    RETURN new_id;
END;
$$;

SELECT dwc._trampoline_targets(ARRAY['dwc._emit(text, text, jsonb, oid)']);

-- ---- dwc's own events ---------------------------------------------------------------

-- The sources' triggers run as the extension's owner (SECURITY DEFINER): users whose sessions
-- write those tables (a chain continued, a job cancelled) hold no privilege on dwc.events.

-- chains: every chain event (created, document_created, document_edited, status changes, failures)
CREATE FUNCTION dwc._events_from_chains() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF dwc._restoring() THEN RETURN NULL; END IF;     -- rows of a dump: what they would derive came with them
    INSERT INTO dwc.events (kind, subject, payload, owner, owner_user)
    SELECT 'chain.' || a.event, 'chain:' || a.chain_id,
           jsonb_strip_nulls(jsonb_build_object('chain_id', a.chain_id, 'document_id', a.document_id,
                                                'job_id', a.job_id)) || a.detail,
           c.owner, c.owner_user
      FROM added a JOIN dwc.chains c ON c.id = a.chain_id
     WHERE a.event ~ '^[a-z][a-z0-9_]*$'
     ORDER BY a.id;
    RETURN NULL;
END;
$$;
CREATE TRIGGER chain_events_emit AFTER INSERT ON dwc.chain_events
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION dwc._events_from_chains();

-- finished jobs, as dwc.job_events says: dead ones (failures), all, or none
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
    INSERT INTO dwc.events (kind, subject, payload, owner, owner_user)
    SELECT 'job.' || a.status, 'job:' || a.id,
           jsonb_strip_nulls(jsonb_build_object('job_id', a.id, 'kind', a.kind, 'queue', a.queue, 'name', a.name,
                                                'attempts', a.attempts, 'error', a.last_error,
                                                'schedule_id', a.schedule_id)),
           a.enqueued_by, a.enqueued_user
      FROM added a
     WHERE which = 'all' OR a.status = 'dead'
     ORDER BY a.finished_at, a.id;
    RETURN NULL;
END;
$$;
CREATE TRIGGER job_history_emit AFTER INSERT ON dwc.job_history
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION dwc._events_from_jobs();

-- schedules: each fire time handled (fired, or skipped and why)
CREATE FUNCTION dwc._events_from_schedules() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF dwc._restoring() THEN RETURN NULL; END IF;     -- rows of a dump: what they would derive came with them
    INSERT INTO dwc.events (kind, subject, payload, owner, owner_user)
    SELECT 'schedule.' || CASE a.outcome WHEN 'enqueued' THEN 'fired' ELSE a.outcome END, 'schedule:' || a.schedule_id,
           jsonb_strip_nulls(jsonb_build_object('schedule_id', a.schedule_id, 'name', s.name,
                                                'fire_time', a.fire_time, 'job_id', a.job_id, 'detail', a.detail)),
           s.owner, s.owner_user
      FROM added a JOIN dwc.schedules s ON s.id = a.schedule_id
     ORDER BY a.fired_at, a.schedule_id;
    RETURN NULL;
END;
$$;
CREATE TRIGGER schedule_runs_emit AFTER INSERT ON dwc.schedule_runs
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION dwc._events_from_schedules();

-- trained versions of ML and recommendation models
CREATE FUNCTION dwc._events_from_ml() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF dwc._restoring() THEN RETURN NULL; END IF;     -- rows of a dump: what they would derive came with them
    INSERT INTO dwc.events (kind, subject, payload, owner, owner_user)
    SELECT 'ml.trained', 'ml_model:' || a.model_id,
           jsonb_build_object('model_id', a.model_id, 'model', m.name, 'version', a.version,
                              'score', a.score, 'training_ms', a.training_ms),
           m.owner, m.owner_user
      FROM added a JOIN dwc.ml_models m ON m.id = a.model_id
     ORDER BY a.model_id, a.version;
    RETURN NULL;
END;
$$;
CREATE TRIGGER ml_model_versions_emit AFTER INSERT ON dwc.ml_model_versions
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION dwc._events_from_ml();

CREATE FUNCTION dwc._events_from_recommender() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF dwc._restoring() THEN RETURN NULL; END IF;     -- rows of a dump: what they would derive came with them
    INSERT INTO dwc.events (kind, subject, payload, owner, owner_user)
    SELECT 'rec.trained', 'rec_model:' || a.model_id,
           jsonb_build_object('model_id', a.model_id, 'model', m.name, 'version', a.version,
                              'metrics', a.metrics),
           m.owner, m.owner_user
      FROM added a JOIN dwc.rec_models m ON m.id = a.model_id
     ORDER BY a.model_id, a.version;
    RETURN NULL;
END;
$$;
CREATE TRIGGER rec_versions_emit AFTER INSERT ON dwc.rec_versions
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION dwc._events_from_recommender();

-- security events: the user's own (and administrators'); events without a role belong to the superuser
CREATE FUNCTION dwc._events_from_security() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF dwc._restoring() THEN RETURN NULL; END IF;     -- rows of a dump: what they would derive came with them
    INSERT INTO dwc.events (kind, subject, payload, owner, owner_user)
    SELECT 'security.' || a.event, CASE WHEN a.user_id IS NOT NULL THEN 'user:' || a.user_id END,
           jsonb_strip_nulls(jsonb_build_object('severity', a.severity, 'user_id', a.user_id,
                                                'address', a.address, 'path', a.request_path)) || a.detail,
           coalesce(a.role, 10), a.user_id
      FROM added a
     WHERE a.event ~ '^[a-z][a-z0-9_]*$'
     ORDER BY a.at, a.id;
    RETURN NULL;
END;
$$;
CREATE TRIGGER security_events_emit AFTER INSERT ON dwc.security_events
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION dwc._events_from_security();

-- audit: each sealed batch of the hash chain (administrators')
CREATE FUNCTION dwc._events_from_audit() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF dwc._restoring() THEN RETURN NULL; END IF;     -- rows of a dump: what they would derive came with them
    INSERT INTO dwc.events (kind, subject, payload, owner, owner_user)
    SELECT 'audit.sealed', 'audit_batch:' || a.batch,
           jsonb_build_object('batch', a.batch, 'rows', cardinality(a.audit_ids), 'first_seq', a.first_seq),
           10, NULL
      FROM added a
     ORDER BY a.batch;
    RETURN NULL;
END;
$$;
CREATE TRIGGER audit_seal_emit AFTER INSERT ON dwc.audit_seal
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION dwc._events_from_audit();

-- API: Public

CREATE FUNCTION dwc.emit(kind pg_catalog.text, subject pg_catalog.text DEFAULT NULL,
                         payload pg_catalog.jsonb DEFAULT '{}')
RETURNS pg_catalog.int8
LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'dwc_trampoline';
COMMENT ON FUNCTION dwc.emit(pg_catalog.text, pg_catalog.text, pg_catalog.jsonb) IS
  'Records an event (kind like shop.order_paid, an optional subject, a JSON object payload) for the caller, '
  'in the calling transaction, and NOTIFYs it at commit on dwc.events, dwc.events.<source> and '
  'dwc.user.<user id>. Returns its id. Kinds of dwc''s own sources (chain., job., ...) are for administrators.';

CREATE FUNCTION dwc.events_after(last_id pg_catalog.int8 DEFAULT 0, kinds pg_catalog.text[] DEFAULT NULL,
                                 max_events pg_catalog.int4 DEFAULT 1000)
RETURNS SETOF dwc.events
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT * FROM dwc.events e
     WHERE e.id > coalesce(last_id, 0)
       AND (kinds IS NULL OR e.kind = ANY (kinds) OR split_part(e.kind, '.', 1) || '.*' = ANY (kinds))
       AND dwc._row_visible(e.owner, e.owner_user)
     ORDER BY e.id
     LIMIT least(greatest(coalesce(max_events, 1000), 1), 10000);
END;
COMMENT ON FUNCTION dwc.events_after(pg_catalog.int8, pg_catalog.text[], pg_catalog.int4) IS
  'The caller''s events after an id, oldest first (replay after a reconnection): all kinds, or those listed '
  '(a kind, or source.* for all of a source''s), at most max_events (1 to 10,000).';
