-- src/automation/fire.sql: firing an automation: a run row and its job, in the transaction that
-- noticed the trigger (an event, a changed row).

-- automations do not fire without end: a run's own events and changes fire others only so deep
CREATE FUNCTION dwc._automation_depth() RETURNS pg_catalog.int4
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN coalesce(nullif(current_setting('dwc.automation_depth', true), ''), '0')::int4;
COMMENT ON FUNCTION dwc._automation_depth() IS
  'Private: how many automation runs deep the current transaction is (0 outside runs).';

-- a run of a, fired by data: its row and its job, in the firing transaction
CREATE FUNCTION dwc._automation_fire(a dwc.automations, data pg_catalog.jsonb)
RETURNS pg_catalog.int8
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    depth int4 := dwc._automation_depth();
    rid int8;
    job int8;
BEGIN
    IF depth >= 8 THEN
        RAISE WARNING 'automation "%" not fired: 8 automation runs deep already', a.name
            USING HINT = 'An automation''s actions fire automations in turn; this looks like a loop.';
        RETURN NULL;
    END IF;
    rid := nextval(pg_get_serial_sequence('dwc.automation_runs', 'id'));
    job := dwc._enqueue_as('automation.run', jsonb_build_object('run_id', rid), a.owner, a.owner_user, a.scopes,
                            (a.options->>'max_attempts')::int4);
    INSERT INTO dwc.automation_runs (id, automation_id, job_id, trigger, owner, owner_user)
    VALUES (rid, a.id, job, data || jsonb_build_object('depth', depth), a.owner, a.owner_user);
    RETURN rid;
END;
$$;

-- whether an event kind matches a trigger's kinds: exact kinds, "source.*", or "*"
CREATE FUNCTION dwc._kind_matches(kinds pg_catalog.jsonb, kind pg_catalog.text) RETURNS pg_catalog.bool
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
RETURN kinds ? kind OR kinds ? '*' OR kinds ? (split_part(kind, '.', 1) || '.*');

-- event triggers: the events of a statement, against the enabled event automations that may see them
CREATE FUNCTION dwc._automations_on_events() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    m record;
BEGIN
    IF dwc._restoring() THEN RETURN NULL; END IF;     -- rows of a dump: what they would derive came with them
    IF NOT EXISTS (SELECT 1 FROM dwc.automations WHERE trigger_type = 'event' AND enabled) THEN
        RETURN NULL;
    END IF;
    FOR m IN
        SELECT au AS a, jsonb_build_object('trigger', 'event', 'id', e.id, 'at', e.at, 'kind', e.kind,
                                      'subject', e.subject, 'payload', e.payload) AS data
          FROM added e
          JOIN dwc.automations au ON au.trigger_type = 'event' AND au.enabled
               AND dwc._kind_matches(au.trigger->'kinds', e.kind)
               -- the owner's own events; an administrator's automations (a superuser's or
               -- dwc_admin's, made in psql or through the API) see everyone's
               AND ((au.owner = e.owner AND coalesce(au.owner_user, '') = coalesce(e.owner_user, ''))
                    OR dwc._caller_is_admin(au.owner))
         ORDER BY e.id, au.id
    LOOP
        IF dwc.condition_matches((m.a).conditions, m.data) THEN
            PERFORM dwc._automation_fire(m.a, m.data);
        END IF;
    END LOOP;
    RETURN NULL;
END;
$$;
CREATE TRIGGER events_automations AFTER INSERT ON dwc.events
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION dwc._automations_on_events();

-- data-change triggers: a row trigger on the watched table, one per automation (its id in TG_ARGV)
CREATE FUNCTION dwc._automation_on_change() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    a dwc.automations;
    data jsonb;
BEGIN
    IF dwc._restoring() THEN RETURN NULL; END IF;     -- rows of a dump: what they would derive came with them
    -- a distributed table's trigger names the table in its second argument (its shards have
    -- names of their own)
    data := jsonb_build_object('trigger', 'data_change', 'op', lower(TG_OP),
                               'table', coalesce(TG_ARGV[1], format('%I.%I', TG_TABLE_SCHEMA, TG_TABLE_NAME)),
                               'new', CASE WHEN TG_OP <> 'DELETE' THEN to_jsonb(NEW) END,
                               'old', CASE WHEN TG_OP <> 'INSERT' THEN to_jsonb(OLD) END);
    IF TG_NARGS > 1 AND dwc._citus_worker() THEN
        -- a shard on a Citus worker node, where the automation is not defined: the change is
        -- kept for the coordinator, which fires it (src/automation/shard_changes.sql)
        INSERT INTO dwc.shard_changes (automation_id, data)
        VALUES (TG_ARGV[0]::int8, data || jsonb_build_object('depth', dwc._automation_depth()));
        RETURN NULL;
    END IF;
    SELECT * INTO a FROM dwc.automations WHERE id = TG_ARGV[0]::int8 AND enabled;
    IF a.id IS NULL THEN
        RETURN NULL;
    END IF;
    IF dwc.condition_matches(a.conditions, data) THEN
        PERFORM dwc._automation_fire(a, data);
    END IF;
    RETURN NULL;
END;
$$;
