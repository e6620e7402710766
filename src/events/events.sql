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
INSERT INTO dwc.distributable_tables (table_name, refused)
VALUES ('dwc.events', 'its triggers NOTIFY listeners, feed the WebSocket gateway and fire automations, which '
                      'happen on the coordinator; a worker node may not NOTIFY in a two-phase commit');
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

-- ---- publishing -----------------------------------------------------------------------

-- Each subsystem publishes its own events, from statement-level triggers on the tables where what
-- happened is recorded (so that an event commits, or vanishes, with what it reports), through
-- dwc._publish(), and declares the first parts of its kinds here: no one else may use them.
CREATE TABLE dwc.event_sources (
    prefix pg_catalog.text PRIMARY KEY CHECK (prefix ~ '^[a-z][a-z0-9_]*$'),
    subsystem pg_catalog.text NOT NULL
);
COMMENT ON TABLE dwc.event_sources IS
  'The first parts of event kinds that dwc''s subsystems publish (chain, job, schedule ...), declared by each '
  'subsystem''s install script: applications may not emit events of these kinds.';
GRANT SELECT ON dwc.event_sources TO PUBLIC;
-- code, written again by every install and upgrade: not dumped (sql/backup.sql), but a
-- subscription's copy meets the seeds
SELECT dwc._keep_seeds('dwc.event_sources');

-- what an event kind may look like: up to six dotted parts, first a word (emit and room broadcasts)
CREATE FUNCTION dwc._is_event_kind(kind pg_catalog.text) RETURNS pg_catalog.bool
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN coalesce(pg_catalog.length(kind) OPERATOR(pg_catalog.<=) 100
                AND kind OPERATOR(pg_catalog.~) '^[a-z][a-z0-9_]*(\.[a-z0-9_]+){0,5}$', false);
COMMENT ON FUNCTION dwc._is_event_kind(pg_catalog.text) IS
  'Private: is kind a well-formed event kind (up to 100 characters: a lower-case word, then up to five dotted parts)?';

-- is it one of dwc's own (its first part a declared source)?
CREATE FUNCTION dwc._is_dwc_kind(kind pg_catalog.text) RETURNS pg_catalog.bool
LANGUAGE sql STABLE PARALLEL SAFE
RETURN EXISTS (SELECT 1 FROM dwc.event_sources s WHERE s.prefix OPERATOR(pg_catalog.=) pg_catalog.split_part(kind, '.', 1));
COMMENT ON FUNCTION dwc._is_dwc_kind(pg_catalog.text) IS
  'Private: does kind belong to one of dwc''s own event sources (dwc.event_sources)?';

-- events: a JSON array of {"kind", "subject", "payload", "owner", "owner_user"}, in order
CREATE FUNCTION dwc._publish(events pg_catalog.jsonb) RETURNS pg_catalog.int4
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    stray text;
    n int4;
BEGIN
    IF events IS NULL OR jsonb_array_length(events) = 0 THEN
        RETURN 0;
    END IF;
    INSERT INTO dwc.events (kind, subject, payload, owner, owner_user)
    SELECT e->>'kind', e->>'subject', coalesce(e->'payload', '{}'), (e->>'owner')::oid, e->>'owner_user'
      FROM jsonb_array_elements(events) WITH ORDINALITY AS x(e, i)
     WHERE dwc._is_dwc_kind(e->>'kind')
     ORDER BY x.i;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n < jsonb_array_length(events) THEN        -- the error takes the rows inserted with it
        SELECT e->>'kind' INTO stray FROM jsonb_array_elements(events) e WHERE NOT dwc._is_dwc_kind(e->>'kind') LIMIT 1;
        RAISE EXCEPTION 'event kind "%" belongs to no declared event source', stray
            USING ERRCODE = 'invalid_parameter_value', HINT = 'The publishing subsystem declares it in dwc.event_sources.';
    END IF;
    RETURN n;
END;
$$;
COMMENT ON FUNCTION dwc._publish(pg_catalog.jsonb) IS
  'Private: records dwc''s own events (a JSON array of {kind, subject, payload, owner, owner_user}, in order), '
  'whose kinds must start with a prefix of dwc.event_sources; returns how many. Each subsystem publishes through it.';

-- A publisher that derives events from the rows a table receives declares a function of those
-- rows, events(added <table>[]) RETURNS jsonb (the array dwc._publish takes), and
-- dwc._publish_inserts(table, events) hangs it on the table: one statement-level trigger, run
-- as the extension's owner (users whose sessions write those tables, a chain continued, a job
-- cancelled, hold no privilege on dwc.events), that derives nothing from the rows of a dump.
CREATE FUNCTION dwc._publish_inserted() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF dwc._restoring() THEN RETURN NULL; END IF;     -- rows of a dump: what they would derive came with them
    EXECUTE format('SELECT dwc._publish(%s(array_agg(a::%s))) FROM added a', TG_ARGV[0]::pg_catalog.regproc,
                   TG_RELID::pg_catalog.regclass);
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION dwc._publish_inserted() IS
  'Private: the trigger of dwc._publish_inserts(): publishes what its publisher function (the trigger''s argument) '
  'derives from the rows a statement inserted.';

CREATE FUNCTION dwc._publish_inserts(source pg_catalog.regclass, events pg_catalog.regproc) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    EXECUTE format('CREATE TRIGGER %I AFTER INSERT ON %s REFERENCING NEW TABLE AS added '
                   'FOR EACH STATEMENT EXECUTE FUNCTION dwc._publish_inserted(%L)',
                   (SELECT c.relname || '_emit' FROM pg_class c WHERE c.oid = source), source, events::text);
END;
$$;
COMMENT ON FUNCTION dwc._publish_inserts(pg_catalog.regclass, pg_catalog.regproc) IS
  'Private: publishes, in the same transaction, the events that a publisher function events(added <source>[]) '
  'RETURNS jsonb derives from the rows each statement inserts into source (install scripts).';

-- ---- emitting -----------------------------------------------------------------------

CREATE FUNCTION dwc._emit(caller pg_catalog.oid, kind pg_catalog.text, subject pg_catalog.text DEFAULT NULL,
                          payload pg_catalog.jsonb DEFAULT '{}')
RETURNS pg_catalog.int8
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    new_id int8;
BEGIN
    IF NOT dwc._is_event_kind(kind) THEN
        RAISE EXCEPTION 'invalid event kind "%"', kind USING ERRCODE = 'invalid_parameter_value',
            HINT = 'A kind is up to six dotted parts of lower-case letters, digits and _, starting with a letter, e.g. order.paid.';
    END IF;
    IF dwc._is_dwc_kind(kind) AND NOT dwc._caller_is_admin(caller) THEN
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
SELECT dwc._declare_public('dwc._emit',
  'Records an event (kind like shop.order_paid, an optional subject, a JSON object payload) for the caller, '
  'in the calling transaction, and NOTIFYs it at commit on dwc.events, dwc.events.<source> and '
  'dwc.user.<user id>. Returns its id. Kinds of dwc''s own sources (chain., job., ...) are for administrators.');

-- ---- dwc's own events ---------------------------------------------------------------

-- Security's events are carried from here: security is the layer under the bus (the bus's own
-- access rules are security's), so it cannot call the bus; the bus reads its table instead.
INSERT INTO dwc.event_sources (prefix, subsystem) VALUES ('security', 'security');

-- security events: the user's own (and administrators'); events without a role belong to the superuser
CREATE FUNCTION dwc._events_from_security(added dwc.security_events[]) RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN (SELECT jsonb_agg(jsonb_build_object(
         'kind', 'security.' || a.event, 'subject', CASE WHEN a.user_id IS NOT NULL THEN 'user:' || a.user_id END,
         'payload', jsonb_strip_nulls(jsonb_build_object('severity', a.severity, 'user_id', a.user_id,
                                                         'address', a.address, 'path', a.request_path)) || a.detail,
         'owner', coalesce(a.role, dwc._system_owner()), 'owner_user', a.user_id) ORDER BY a.at, a.id)
          FROM unnest(added) a
         WHERE a.event ~ '^[a-z][a-z0-9_]*$');
SELECT dwc._publish_inserts('dwc.security_events', 'dwc._events_from_security');

-- API: Public

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
