-- src/automation/manage.sql: the private halves of creating, finding, listing, enabling,
-- deleting and running automations by hand, and inbound webhooks.

SELECT dwc._declare_resolver('dwc._automation_resolve', 'dwc.automations', 'an automation', 'Create it with dwc.create_automation().');

-- its schedule (schedule triggers fire runs; condition and threshold triggers poll)
CREATE FUNCTION dwc._automation_schedule(a dwc.automations, caller pg_catalog.oid) RETURNS pg_catalog.int8
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN dwc._schedule(caller, 'automation:' || a.id,
                         CASE a.trigger_type WHEN 'schedule' THEN a.trigger->>'schedule'
                              ELSE coalesce(a.trigger->>'every', '1 minute') END,
                         'automation.poll', jsonb_build_object('automation_id', a.id),
                         coalesce(a.trigger->>'timezone', 'UTC'), 'default', 'normal', NULL, NULL,
                         'skip', 'skip', a.enabled, NULL);
END;
$$;

CREATE FUNCTION dwc._automation_json(a dwc.automations) RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN jsonb_build_object('id', a.id, 'name', a.name, 'description', a.description,
                          'trigger_type', a.trigger_type, 'trigger', a.trigger, 'conditions', a.conditions,
                          'actions', a.actions, 'options', a.options, 'enabled', a.enabled,
                          'webhook_id', a.webhook_id, 'schedule_id', a.schedule_id,
                          'created_at', a.created_at, 'updated_at', a.updated_at);

CREATE FUNCTION dwc._create_automation(caller pg_catalog.oid, name pg_catalog.text,
                                       trigger_type pg_catalog.text, trigger pg_catalog.jsonb DEFAULT '{}',
                                       actions pg_catalog.jsonb DEFAULT NULL,
                                       conditions pg_catalog.jsonb DEFAULT 'true',
                                       description pg_catalog.text DEFAULT NULL,
                                       enabled pg_catalog.bool DEFAULT true,
                                       options pg_catalog.jsonb DEFAULT '{}')
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    a dwc.automations;
    secret text;
    ops text;
    tab regclass;
    result jsonb;
BEGIN
    PERFORM dwc._check_name(name, 'automation');
    PERFORM dwc._automation_check_trigger(trigger_type, coalesce(trigger, '{}'), caller);
    IF trigger_type IN ('condition', 'threshold') THEN
        -- their query is SQL of the owner's
        PERFORM dwc._require_scope('sql', format('make %s automations (their query is SQL)', trigger_type));
    END IF;
    PERFORM dwc._automation_check_actions(actions);
    PERFORM dwc._automation_check_outbound(actions, caller);     -- what is accepted must be able to run
    PERFORM dwc.check_condition(coalesce(conditions, 'true'));
    PERFORM dwc._automation_check_options(coalesce(options, '{}'));
    BEGIN
        INSERT INTO dwc.automations (name, description, trigger_type, trigger, conditions, actions, options,
                                     enabled, owner, owner_user, scopes)
        VALUES (name, description, trigger_type, coalesce(trigger, '{}'), coalesce(conditions, 'true'), actions,
                coalesce(options, '{}'), coalesce(enabled, true), caller, dwc.current_user_id(), dwc.current_scopes())
        RETURNING * INTO a;
    EXCEPTION WHEN unique_violation THEN
        RAISE EXCEPTION 'automation "%" already exists', name USING ERRCODE = 'unique_violation';
    END;
    IF trigger_type IN ('schedule', 'condition', 'threshold') THEN
        UPDATE dwc.automations SET schedule_id = dwc._automation_schedule(a, caller) WHERE id = a.id
        RETURNING * INTO a;
    ELSIF trigger_type = 'webhook' THEN
        secret := encode(dwc._random_bytes(32), 'hex');
        UPDATE dwc.automations SET webhook_id = encode(dwc._random_bytes(12), 'hex') WHERE id = a.id
        RETURNING * INTO a;
        INSERT INTO dwc.automation_secrets (automation_id, secret) VALUES (a.id, secret);
    ELSIF trigger_type = 'data_change' THEN
        SELECT string_agg(upper(o), ' OR ') INTO ops
          FROM jsonb_array_elements_text(coalesce(trigger->'operations', '["insert", "update", "delete"]')) o;
        tab := dwc._automation_table(a.trigger);
        IF dwc._citus_table_type(tab) = 'distributed' THEN
            -- Citus copies the trigger to every shard; it fires on the worker nodes, which keep
            -- the changes for the coordinator (src/automation/shard_changes.sql)
            PERFORM set_config('citus.enable_unsafe_triggers', 'on', true);
            EXECUTE format('CREATE TRIGGER %I AFTER %s ON %s FOR EACH ROW EXECUTE FUNCTION dwc._automation_on_change(%L, %L)',
                           'dwc_automation_' || a.id, ops, tab, a.id,
                           (SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c
                              JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = tab));
        ELSE
            EXECUTE format('CREATE TRIGGER %I AFTER %s ON %s FOR EACH ROW EXECUTE FUNCTION dwc._automation_on_change(%L)',
                           'dwc_automation_' || a.id, ops, tab, a.id);
        END IF;
    END IF;
    result := dwc._automation_json(a);
    IF secret IS NOT NULL THEN
        -- shown this once
        result := result || jsonb_build_object('webhook', jsonb_build_object(
            'id', a.webhook_id, 'secret', secret,
            'signature', 'X-Dwc-Signature: sha256=hex(HMAC-SHA256(secret, X-Dwc-Timestamp || ''.'' || body))'));
    END IF;
    RETURN result;
END;
$$;
SELECT dwc._declare_public('dwc._create_automation',
  'Creates an automation of the caller: a trigger (event {"kinds"}, condition or threshold {"query", "every", '
  '"above"|"below", "reset"}, schedule {"schedule"}, api, webhook, data_change {"table", "operations"}), '
  'conditions over the trigger''s data, and actions (ai, http, sql, enqueue, emit, chain, workflow, decide). Each run is '
  'an automation.run job, as the caller. A webhook automation''s secret is in the result, this once.');

CREATE FUNCTION dwc._enable_automation(caller pg_catalog.oid, name pg_catalog.text,
                                       enabled pg_catalog.bool DEFAULT true)
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    a dwc.automations := dwc._automation_resolve(name, caller);
BEGIN
    UPDATE dwc.automations SET enabled = coalesce(_enable_automation.enabled, true), updated_at = now()
     WHERE id = a.id RETURNING * INTO a;
    IF a.schedule_id IS NOT NULL THEN
        UPDATE dwc.schedules SET enabled = a.enabled WHERE id = a.schedule_id;
    END IF;
    RETURN dwc._automation_json(a);
END;
$$;
SELECT dwc._declare_public('dwc._enable_automation',
  'Enables (or, with false, disables) an automation; a disabled one fires no runs.',
  access => 'user', grp => 'automations', route => 'PATCH /automations/{name}');

CREATE FUNCTION dwc._delete_automation(caller pg_catalog.oid, name pg_catalog.text)
RETURNS pg_catalog.bool
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    a dwc.automations := dwc._automation_resolve(name, caller);
    tab regclass;
BEGIN
    IF a.schedule_id IS NOT NULL THEN
        DELETE FROM dwc.schedules WHERE id = a.schedule_id;
    END IF;
    IF a.trigger_type = 'data_change' THEN
        tab := dwc._automation_table(a.trigger);
        IF dwc._citus_table_type(tab) = 'distributed' THEN
            PERFORM set_config('citus.enable_unsafe_triggers', 'on', true);   -- as it was made
        END IF;
        IF tab IS NOT NULL THEN
            EXECUTE format('DROP TRIGGER IF EXISTS %I ON %s', 'dwc_automation_' || a.id, tab);
        END IF;
    END IF;
    DELETE FROM dwc.automations WHERE id = a.id;
    RETURN true;
END;
$$;
SELECT dwc._declare_public('dwc._delete_automation',
  'Deletes an automation, its schedule or table trigger, and its statistics; its runs stay until retention.');

CREATE FUNCTION dwc._automation_stats_json(a dwc.automations) RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN (SELECT jsonb_build_object(
            'runs', count(*), 'succeeded', count(*) FILTER (WHERE r.status = 'succeeded'),
            'dead', count(*) FILTER (WHERE r.status = 'dead'),
            'pending', count(*) FILTER (WHERE r.status IN ('queued', 'running')),
            'success_rate', round((count(*) FILTER (WHERE r.status = 'succeeded'))::numeric
                                  / nullif(count(*) FILTER (WHERE r.status IN ('succeeded', 'dead')), 0), 4),
            'mean_ms', round(avg(r.duration_ms)::numeric, 3), 'last_run_at', max(r.created_at),
            'actions', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                            'action', s.action, 'successes', s.successes, 'failures', s.failures,
                            'mean_ms', round((s.total_ms / nullif(s.successes + s.failures, 0))::numeric, 3),
                            'last_error', s.last_error, 'disabled', s.disabled) ORDER BY s.action), '[]')
                          FROM dwc.automation_action_stats s WHERE s.automation_id = a.id))
          FROM dwc.automation_runs r WHERE r.automation_id = a.id);

CREATE FUNCTION dwc._get_automation(caller pg_catalog.oid, name pg_catalog.text) RETURNS pg_catalog.jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    a dwc.automations := dwc._automation_resolve(name, caller);
BEGIN
    RETURN dwc._automation_json(a) || jsonb_build_object('stats', dwc._automation_stats_json(a));
END;
$$;
SELECT dwc._declare_public('dwc._get_automation',
  'An automation (by name or #id) with its statistics: runs, successes, failures, success rate, mean time, per action.',
  access => 'user', grp => 'automations', route => 'GET /automations/{name}');

CREATE FUNCTION dwc._list_automations(caller pg_catalog.oid) RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
RETURN (SELECT coalesce(jsonb_agg(dwc._automation_json(a) ORDER BY a.name, a.id), '[]')
          FROM dwc.automations a WHERE dwc._may_manage(caller, a.owner, a.owner_user));
SELECT dwc._declare_public('dwc._list_automations',
  'The caller''s automations.');

CREATE FUNCTION dwc._automation_runs(caller pg_catalog.oid, name pg_catalog.text,
                                     max_runs pg_catalog.int4 DEFAULT 20)
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    a dwc.automations := dwc._automation_resolve(name, caller);
BEGIN
    RETURN (SELECT coalesce(jsonb_agg(jsonb_build_object(
                'id', r.id, 'job_id', r.job_id, 'status', r.status, 'attempts', r.attempts,
                'trigger', r.trigger, 'results', r.results, 'error', r.error, 'created_at', r.created_at,
                'started_at', r.started_at, 'finished_at', r.finished_at, 'duration_ms', r.duration_ms)
                ORDER BY r.id DESC), '[]')
              FROM (SELECT * FROM dwc.automation_runs WHERE automation_id = a.id ORDER BY id DESC
                     LIMIT least(greatest(coalesce(max_runs, 20), 1), 1000)) r);
END;
$$;
SELECT dwc._declare_public('dwc._automation_runs',
  'An automation''s latest runs, newest first: what fired them, status, attempts, each action''s result, timing.');

CREATE FUNCTION dwc._automation_stats(caller pg_catalog.oid, period pg_catalog.interval DEFAULT '1 day') RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
RETURN (WITH mine AS (SELECT * FROM dwc.automations a WHERE dwc._may_manage(caller, a.owner, a.owner_user))
        SELECT jsonb_build_object(
            'automations', (SELECT count(*) FROM mine),
            'enabled', (SELECT count(*) FROM mine WHERE enabled),
            'by_trigger', (SELECT coalesce(jsonb_object_agg(trigger_type, n), '{}')
                             FROM (SELECT trigger_type, count(*) AS n FROM mine GROUP BY 1) t),
            'runs', count(r.id), 'succeeded', count(*) FILTER (WHERE r.status = 'succeeded'),
            'dead', count(*) FILTER (WHERE r.status = 'dead'),
            'pending', count(*) FILTER (WHERE r.status IN ('queued', 'running')),
            'success_rate', round((count(*) FILTER (WHERE r.status = 'succeeded'))::numeric
                                  / nullif(count(*) FILTER (WHERE r.status IN ('succeeded', 'dead')), 0), 4),
            'mean_ms', round(avg(r.duration_ms)::numeric, 3),
            'period_seconds', extract(epoch FROM coalesce(period, '1 day')))
          FROM dwc.automation_runs r
         WHERE r.created_at >= now() - coalesce(period, '1 day') AND r.automation_id IN (SELECT id FROM mine));
SELECT dwc._declare_public('dwc._automation_stats',
  'The caller''s automations (how many, enabled, by trigger) and their runs over a period: succeeded, dead, '
  'pending, success rate, mean time.',
  access => 'user', grp => 'automations', route => 'GET /automations/stats');

-- the API-call trigger (and a manual run of any automation)
CREATE FUNCTION dwc._run_automation(caller pg_catalog.oid, name pg_catalog.text,
                                    data pg_catalog.jsonb DEFAULT '{}')
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    a dwc.automations := dwc._automation_resolve(name, caller);
    rid int8;
BEGIN
    IF data IS NOT NULL AND jsonb_typeof(data) <> 'object' THEN
        RAISE EXCEPTION 'the data of a run must be a JSON object' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NOT a.enabled THEN
        RAISE EXCEPTION 'automation "%" is disabled', a.name USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = 'Enable it with dwc.enable_automation().';
    END IF;
    IF NOT dwc.condition_matches(a.conditions, jsonb_build_object('trigger', 'api', 'data', coalesce(data, '{}'))) THEN
        RETURN jsonb_build_object('run_id', NULL, 'fired', false);
    END IF;
    rid := dwc._automation_fire(a, jsonb_build_object('trigger', 'api', 'data', coalesce(data, '{}')));
    RETURN jsonb_build_object('run_id', rid, 'fired', rid IS NOT NULL,
                              'job_id', (SELECT job_id FROM dwc.automation_runs WHERE id = rid));
END;
$$;
SELECT dwc._declare_public('dwc._run_automation',
  'Fires an automation by API call with {"trigger": "api", "data": data} (the api trigger, or a manual run of '
  'any automation), if its conditions hold; returns the run and its job.');

-- an inbound webhook: the automation by its webhook id, the body signed with its secret
CREATE FUNCTION dwc._webhook_signature_valid(secret pg_catalog.text, stamp pg_catalog.text, body pg_catalog.text,
                                             signature pg_catalog.text)
RETURNS pg_catalog.bool
LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'dwc__webhook_signature_valid';
COMMENT ON FUNCTION dwc._webhook_signature_valid(pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.text) IS
  'Private: whether signature is hex HMAC-SHA256(secret, stamp || ''.'' || body), optionally prefixed sha256=.';

CREATE FUNCTION dwc.automation_webhook(webhook_id pg_catalog.text, body pg_catalog.text, stamp pg_catalog.text,
                                       signature pg_catalog.text)
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    a dwc.automations;
    secret text;
    data jsonb;
    rid int8;
BEGIN
    SELECT au.* INTO a FROM dwc.automations au
     WHERE au.webhook_id = automation_webhook.webhook_id AND au.trigger_type = 'webhook';
    SELECT s.secret INTO secret FROM dwc.automation_secrets s WHERE s.automation_id = a.id;
    -- one answer for an unknown id and a bad signature: the caller learns nothing
    IF a.id IS NULL OR NOT dwc._webhook_signature_valid(secret, stamp, body, lower(signature)) THEN
        RAISE EXCEPTION 'invalid webhook signature' USING ERRCODE = 'invalid_authorization_specification',
            HINT = 'X-Dwc-Signature: sha256=hex(HMAC-SHA256(secret, X-Dwc-Timestamp || ''.'' || body)).';
    END IF;
    IF stamp !~ '^[0-9]{1,12}$'
       OR abs(extract(epoch FROM now()) - stamp::float8) > coalesce((a.trigger->>'tolerance')::float8, 300) THEN
        RAISE EXCEPTION 'webhook timestamp out of tolerance' USING ERRCODE = 'invalid_authorization_specification',
            HINT = 'X-Dwc-Timestamp is the Unix time of the request; a replayed request is refused.';
    END IF;
    IF NOT a.enabled THEN
        RETURN jsonb_build_object('accepted', false, 'reason', 'disabled');
    END IF;
    BEGIN
        data := jsonb_build_object('trigger', 'webhook', 'body', body::jsonb);
    EXCEPTION WHEN invalid_text_representation THEN
        data := jsonb_build_object('trigger', 'webhook', 'body', to_jsonb(body));
    END;
    IF NOT dwc.condition_matches(a.conditions, data) THEN
        RETURN jsonb_build_object('accepted', true, 'fired', false);
    END IF;
    rid := dwc._automation_fire(a, data);
    RETURN jsonb_build_object('accepted', true, 'fired', rid IS NOT NULL, 'run_id', rid);
END;
$$;
COMMENT ON FUNCTION dwc.automation_webhook(pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.text) IS
  'An inbound webhook for the webhook automation with this id: body signed as X-Dwc-Signature = sha256=hex('
  'HMAC-SHA256(secret, timestamp || ''.'' || body)) and within the trigger''s tolerance (300 s) of now; fires '
  'a run with {"trigger": "webhook", "body": the body as JSON}. Refusals are 28000 errors.';
