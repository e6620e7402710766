-- src/automation/check.sql: checking an automation's definition when it is saved: its trigger,
-- its actions (and the scopes they need), its options.

-- The API-key scope an action needs: what a key would need to do the same directly. sql and
-- http act with every right of the owner, hence "sql".
CREATE FUNCTION dwc._automation_action_scope(action_type pg_catalog.text) RETURNS pg_catalog.text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
RETURN CASE action_type WHEN 'sql' THEN 'sql' WHEN 'http' THEN 'sql' WHEN 'ai' THEN 'ai' WHEN 'decide' THEN 'ai'
                        WHEN 'enqueue' THEN 'tasks' WHEN 'emit' THEN 'automations' WHEN 'chain' THEN 'workflows'
                        WHEN 'workflow' THEN 'workflows' WHEN 'notify' THEN 'notifications' END;
COMMENT ON FUNCTION dwc._automation_action_scope(pg_catalog.text) IS
  'Private: the API-key scope an automation action of this type needs, when made or run under a key''s scopes.';
GRANT EXECUTE ON FUNCTION dwc._automation_action_scope(pg_catalog.text) TO PUBLIC;

CREATE FUNCTION dwc._automation_check_actions(actions pg_catalog.jsonb, depth pg_catalog.int4 DEFAULT 0)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    a jsonb;
    i int := 0;
    t text;
    b text;
BEGIN
    IF actions IS NULL OR jsonb_typeof(actions) <> 'array' OR jsonb_array_length(actions) = 0 THEN
        RAISE EXCEPTION 'actions must be a non-empty array of actions' USING ERRCODE = 'invalid_parameter_value',
            HINT = 'An action is an object with "type": ai, http, sql, enqueue, emit, chain, workflow, decide or notify.';
    END IF;
    IF jsonb_array_length(actions) > 20 THEN
        RAISE EXCEPTION 'an automation has at most 20 actions in a list' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF depth > 3 THEN
        RAISE EXCEPTION 'decide actions nest at most 3 deep' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    FOR a IN SELECT * FROM jsonb_array_elements(actions)
    LOOP
        IF jsonb_typeof(a) <> 'object' OR jsonb_typeof(a->'type') IS DISTINCT FROM 'string' THEN
            RAISE EXCEPTION 'action % must be an object with a "type"', i USING ERRCODE = 'invalid_parameter_value';
        END IF;
        t := a->>'type';
        IF t NOT IN ('ai', 'http', 'sql', 'enqueue', 'emit', 'chain', 'workflow', 'decide', 'notify') THEN
            RAISE EXCEPTION 'unknown action type "%" (action %)', t, i USING ERRCODE = 'invalid_parameter_value',
                HINT = 'Action types: ai, http, sql, enqueue, emit, chain, workflow, decide, notify.';
        END IF;
        -- through an API key, only what the key could do directly
        PERFORM dwc._require_scope(dwc._automation_action_scope(t), format('make automations with %s actions', t));
        IF t = 'notify' THEN
            PERFORM dwc._notify_check_action(a, 'action (action ' || i || ')');
        END IF;
        IF a ? 'name' AND (a->>'name') !~ '^[a-z_][a-z0-9_]{0,62}$' THEN
            RAISE EXCEPTION 'action %''s name must be lower-case letters, digits and _', i USING ERRCODE = 'invalid_parameter_value';
        END IF;
        IF a ? 'optional' AND jsonb_typeof(a->'optional') <> 'boolean' THEN
            RAISE EXCEPTION 'action %''s "optional" must be true or false', i USING ERRCODE = 'invalid_parameter_value';
        END IF;
        IF (t = 'ai' AND jsonb_typeof(a->'prompt') IS DISTINCT FROM 'string')
           OR (t = 'decide' AND jsonb_typeof(a->'prompt') IS DISTINCT FROM 'string') THEN
            RAISE EXCEPTION '% actions need "prompt" (action %)', t, i USING ERRCODE = 'invalid_parameter_value';
        ELSIF t = 'http' AND (jsonb_typeof(a->'url') IS DISTINCT FROM 'string'
                              OR coalesce(upper(a->>'method'), 'POST') NOT IN ('GET', 'POST', 'PUT', 'PATCH', 'DELETE')
                              OR (a ? 'headers' AND jsonb_typeof(a->'headers') <> 'object')) THEN
            RAISE EXCEPTION 'an http action needs "url", and "method" GET, POST, PUT, PATCH or DELETE, "headers" an object (action %)', i
                USING ERRCODE = 'invalid_parameter_value';
        ELSIF t = 'sql' AND jsonb_typeof(a->'sql') IS DISTINCT FROM 'string' THEN
            RAISE EXCEPTION 'a sql action needs "sql" (action %)', i USING ERRCODE = 'invalid_parameter_value';
        ELSIF t IN ('enqueue', 'emit') AND (jsonb_typeof(a->'kind') IS DISTINCT FROM 'string'
                                           OR (a ? 'payload' AND jsonb_typeof(a->'payload') <> 'object')) THEN
            RAISE EXCEPTION 'an % action needs "kind", and "payload" an object (action %)', t, i USING ERRCODE = 'invalid_parameter_value';
        ELSIF t = 'chain' AND coalesce(jsonb_typeof(a->'chain_id'), 'null') NOT IN ('number', 'string') THEN
            RAISE EXCEPTION 'a chain action needs "chain_id" (action %)', i USING ERRCODE = 'invalid_parameter_value';
        ELSIF t = 'workflow' AND (jsonb_typeof(a->'workflow') IS DISTINCT FROM 'string'
                                  OR (a ? 'input' AND jsonb_typeof(a->'input') <> 'object')) THEN
            RAISE EXCEPTION 'a workflow action needs "workflow" (an AI workflow''s name), and "input" an object (action %)', i
                USING ERRCODE = 'invalid_parameter_value';
        ELSIF t = 'decide' THEN
            IF jsonb_typeof(a->'branches') IS DISTINCT FROM 'object' OR (SELECT count(*) FROM jsonb_object_keys(a->'branches')) < 2 THEN
                RAISE EXCEPTION 'a decide action needs "branches": an object of at least two named lists of actions (action %)', i
                    USING ERRCODE = 'invalid_parameter_value';
            END IF;
            IF jsonb_typeof(a->'fallback') IS DISTINCT FROM 'object' OR NOT (a->'fallback' ? 'then')
               OR NOT (a->'branches' ? (a->'fallback'->>'then'))
               OR (a->'fallback' ? 'else' AND NOT (a->'branches' ? (a->'fallback'->>'else'))) THEN
                RAISE EXCEPTION 'a decide action needs "fallback": {"if": condition, "then": branch, "else": branch}, naming its branches (action %)', i
                    USING ERRCODE = 'invalid_parameter_value',
                    HINT = 'The fallback decides when no provider answers, or the answer names no branch.';
            END IF;
            PERFORM dwc.check_condition(coalesce(a->'fallback'->'if', 'true'));
            FOR b IN SELECT * FROM jsonb_object_keys(a->'branches')
            LOOP
                IF b !~ '^[a-z_][a-z0-9_]{0,62}$' THEN
                    RAISE EXCEPTION 'branch names are lower-case letters, digits and _, not "%"', b USING ERRCODE = 'invalid_parameter_value';
                END IF;
                PERFORM dwc._automation_check_actions(a->'branches'->b, depth + 1);
            END LOOP;
        END IF;
        i := i + 1;
    END LOOP;
END;
$$;

-- a data_change trigger's table: schema-qualified, or public's
CREATE FUNCTION dwc._automation_table(trigger pg_catalog.jsonb) RETURNS pg_catalog.regclass
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN to_regclass(CASE WHEN strpos(trigger->>'table', '.') > 0 THEN trigger->>'table'
                        ELSE 'public.' || (trigger->>'table') END);

CREATE FUNCTION dwc._automation_check_trigger(trigger_type pg_catalog.text, trigger pg_catalog.jsonb, caller pg_catalog.oid)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    k text;
    tab regclass;
BEGIN
    IF trigger IS NULL OR jsonb_typeof(trigger) <> 'object' THEN
        RAISE EXCEPTION 'trigger must be a JSON object' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    CASE trigger_type
    WHEN 'event' THEN
        IF jsonb_typeof(trigger->'kinds') IS DISTINCT FROM 'array' OR jsonb_array_length(trigger->'kinds') NOT BETWEEN 1 AND 20 THEN
            RAISE EXCEPTION 'an event trigger needs "kinds": 1 to 20 event kinds (shop.order_paid), sources (shop.*) or *'
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        FOR k IN SELECT * FROM jsonb_array_elements_text(trigger->'kinds')
        LOOP
            IF k !~ '^(\*|[a-z][a-z0-9_]*\.\*|[a-z][a-z0-9_]*(\.[a-z0-9_]+){0,5})$' THEN
                RAISE EXCEPTION 'invalid event kind "%" in the trigger', k USING ERRCODE = 'invalid_parameter_value';
            END IF;
        END LOOP;
    WHEN 'schedule' THEN
        IF jsonb_typeof(trigger->'schedule') IS DISTINCT FROM 'string' THEN
            RAISE EXCEPTION 'a schedule trigger needs "schedule": a cron expression or an interval (''5 minutes'')'
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
    WHEN 'condition', 'threshold' THEN
        IF jsonb_typeof(trigger->'query') IS DISTINCT FROM 'string' THEN
            RAISE EXCEPTION 'a % trigger needs "query": SQL whose first row is checked', trigger_type
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        IF trigger ? 'every' AND (jsonb_typeof(trigger->'every') <> 'string'
                                  OR (trigger->>'every')::interval < interval '1 second') THEN
            RAISE EXCEPTION '"every" must be an interval of at least a second' USING ERRCODE = 'invalid_parameter_value';
        END IF;
        IF trigger_type = 'threshold' THEN
            IF (trigger ? 'above') = (trigger ? 'below')
               OR jsonb_typeof(coalesce(trigger->'above', trigger->'below')) <> 'number'
               OR (trigger ? 'reset' AND jsonb_typeof(trigger->'reset') <> 'number') THEN
                RAISE EXCEPTION 'a threshold trigger needs a number "above" or "below", and optionally a number "reset"'
                    USING ERRCODE = 'invalid_parameter_value';
            END IF;
            IF (trigger ? 'above' AND (trigger->>'reset')::float8 > (trigger->>'above')::float8)
               OR (trigger ? 'below' AND (trigger->>'reset')::float8 < (trigger->>'below')::float8) THEN
                RAISE EXCEPTION '"reset" must lie on the other side of the bound (the hysteresis band)'
                    USING ERRCODE = 'invalid_parameter_value';
            END IF;
        END IF;
    WHEN 'data_change' THEN
        IF jsonb_typeof(trigger->'table') IS DISTINCT FROM 'string' THEN
            RAISE EXCEPTION 'a data_change trigger needs "table"' USING ERRCODE = 'invalid_parameter_value';
        END IF;
        -- unqualified names are public's (this runs with a fixed search_path, not the caller's)
        tab := dwc._automation_table(trigger);
        IF tab IS NULL OR NOT EXISTS (SELECT 1 FROM pg_class WHERE oid = tab AND relkind IN ('r', 'p')) THEN
            RAISE EXCEPTION 'table "%" does not exist', trigger->>'table' USING ERRCODE = 'undefined_table';
        END IF;
        -- the runs' data holds the rows: the watcher must be allowed to read them, too
        IF NOT has_table_privilege(caller, tab, 'TRIGGER') OR NOT has_table_privilege(caller, tab, 'SELECT') THEN
            RAISE EXCEPTION 'permission denied to watch table %', tab USING ERRCODE = 'insufficient_privilege',
                HINT = 'Watching a table needs the TRIGGER and SELECT privileges on it.';
        END IF;
        IF dwc._citus_table_type(tab) = 'reference' THEN
            RAISE EXCEPTION 'watching a Citus reference table is not supported' USING ERRCODE = 'feature_not_supported',
                DETAIL = 'Its trigger would fire on every node''s copy, once per node for each change.';
        END IF;
        IF tab::text LIKE 'dwc.%' THEN
            RAISE EXCEPTION 'dwc''s own tables are watched through events, not data_change triggers'
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        IF trigger ? 'operations' AND (jsonb_typeof(trigger->'operations') <> 'array'
           OR jsonb_array_length(trigger->'operations') = 0
           OR EXISTS (SELECT 1 FROM jsonb_array_elements_text(trigger->'operations') o
                       WHERE o NOT IN ('insert', 'update', 'delete'))) THEN
            RAISE EXCEPTION '"operations" must list insert, update and/or delete' USING ERRCODE = 'invalid_parameter_value';
        END IF;
    WHEN 'api', 'webhook' THEN
        IF trigger ? 'tolerance' AND (jsonb_typeof(trigger->'tolerance') <> 'number'
                                      OR (trigger->>'tolerance')::float8 NOT BETWEEN 1 AND 86400) THEN
            RAISE EXCEPTION '"tolerance" is seconds, from 1 to 86400' USING ERRCODE = 'invalid_parameter_value';
        END IF;
    ELSE
        RAISE EXCEPTION 'unknown trigger type "%"', trigger_type USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Trigger types: event, condition, threshold, schedule, api, webhook, data_change.';
    END CASE;
END;
$$;

CREATE FUNCTION dwc._automation_check_options(options pg_catalog.jsonb) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    k text;
BEGIN
    IF options IS NULL OR jsonb_typeof(options) <> 'object' THEN
        RAISE EXCEPTION 'options must be a JSON object' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    FOR k IN SELECT * FROM jsonb_object_keys(options)
    LOOP
        IF k NOT IN ('max_attempts', 'learning') THEN
            RAISE EXCEPTION 'unknown automation option "%"', k USING ERRCODE = 'invalid_parameter_value',
                HINT = 'Options: max_attempts, learning ({"reorder", "disable_below", "min_runs"}).';
        END IF;
    END LOOP;
    IF options ? 'max_attempts' AND (jsonb_typeof(options->'max_attempts') <> 'number'
                                     OR (options->>'max_attempts')::numeric NOT BETWEEN 1 AND 100) THEN
        RAISE EXCEPTION 'max_attempts must be from 1 to 100' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF options ? 'learning' AND (jsonb_typeof(options->'learning') <> 'object'
       OR (options->'learning' ? 'reorder' AND jsonb_typeof(options->'learning'->'reorder') <> 'boolean')
       OR (options->'learning' ? 'disable_below' AND (jsonb_typeof(options->'learning'->'disable_below') <> 'number'
                                                   OR (options->'learning'->>'disable_below')::float8 NOT BETWEEN 0 AND 1))
       OR (options->'learning' ? 'min_runs' AND (jsonb_typeof(options->'learning'->'min_runs') <> 'number'
                                              OR (options->'learning'->>'min_runs')::float8 < 1))) THEN
        RAISE EXCEPTION 'learning is {"reorder": true|false, "disable_below": a success rate from 0 to 1, "min_runs": n}'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
END;
$$;
