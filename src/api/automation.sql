-- src/api/automation.sql: the seed's /automations endpoints for PostgREST.

-- API: Private

-- The seed's automation, in dwc's terms: trigger {"type": "event_based" | "schedule_based" |
-- "condition_based" | "threshold_based" | "webhook" | "manual", "conditions": {...}} and actions
-- {"type": "ai_generation" | "send_notification" | ..., "parameters": {...}}. An event trigger's
-- conditions name the event kind (event_type) and values its payload must hold; a manual run's
-- data (trigger_automation's trigger_data) may hold them instead. "{name}" placeholders read the
-- event's payload or the manual run's data.
CREATE FUNCTION dwc._seed_automation(trigger pg_catalog.jsonb, actions pg_catalog.jsonb) RETURNS pg_catalog.jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    kind text := trigger ->> 'type';
    conds jsonb := coalesce(trigger -> 'conditions', '{}');
    t_type text;
    t jsonb := '{}';
    wanted jsonb := '[]';
    out_actions jsonb := '[]';
    a jsonb;
    p jsonb;
    k text;
    v jsonb;
BEGIN
    t_type := CASE kind WHEN 'event_based' THEN 'event' WHEN 'event' THEN 'event'
                        WHEN 'schedule_based' THEN 'schedule' WHEN 'time_based' THEN 'schedule'
                        WHEN 'condition_based' THEN 'condition' WHEN 'threshold_based' THEN 'threshold'
                        WHEN 'webhook' THEN 'webhook' WHEN 'manual' THEN 'api' WHEN 'api' THEN 'api' END;
    IF t_type IS NULL THEN
        RAISE EXCEPTION 'no trigger_type, and trigger.type "%" is not one of the seed''s', coalesce(kind, '')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Send trigger_type (event, condition, threshold, schedule, api, webhook, data_change), '
                         'or trigger.type event_based, schedule_based, condition_based, threshold_based, webhook or manual.';
    END IF;
    IF jsonb_typeof(conds) <> 'object' THEN
        RAISE EXCEPTION 'trigger.conditions must be an object' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF t_type = 'event' THEN
        t := jsonb_build_object('kinds', jsonb_build_array(coalesce(conds ->> 'event_type', '*')));
    ELSIF t_type = 'schedule' THEN
        t := jsonb_build_object('schedule', coalesce(conds ->> 'cron', conds ->> 'schedule', trigger ->> 'schedule'));
    ELSE
        t := trigger - 'type' - 'conditions';
    END IF;
    FOR k, v IN SELECT * FROM jsonb_each(conds - 'event_type' - 'cron' - 'schedule') LOOP
        wanted := wanted || jsonb_build_object('any', jsonb_build_array(
            jsonb_build_object('path', 'payload.' || k, 'eq', v), jsonb_build_object('path', 'data.' || k, 'eq', v)));
    END LOOP;
    IF jsonb_typeof(actions) IS DISTINCT FROM 'array' THEN
        RAISE EXCEPTION 'actions must be an array' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    FOR a IN SELECT * FROM jsonb_array_elements(actions) LOOP
        p := coalesce(a -> 'parameters', '{}');
        -- "{topic}": the event's payload.topic, or the manual run's data.topic
        IF p ? 'recipient' THEN
            p := p - 'recipient' || jsonb_build_object('to', p -> 'recipient');
        END IF;
        IF p ? 'prompt_template' THEN
            p := p - 'prompt_template' || jsonb_build_object('prompt',
                regexp_replace(p ->> 'prompt_template', '\{([A-Za-z_][A-Za-z0-9_]*)\}', '{{payload.\1}}{{data.\1}}', 'g'));
        END IF;
        out_actions := out_actions || CASE a ->> 'type'
            WHEN 'ai_generation' THEN jsonb_build_object('type', 'ai') || p
            -- without a recipient: the automation's owner
            WHEN 'send_notification' THEN jsonb_build_object('type', 'notify') || p
                || CASE WHEN p ?| ARRAY['to', 'user_id'] THEN '{}'
                        ELSE jsonb_build_object('user_id', dwc.current_user_id()) END
            ELSE a - 'parameters' || p END;
    END LOOP;
    RETURN jsonb_build_object('trigger_type', t_type, 'trigger', t,
                              'conditions', CASE WHEN jsonb_array_length(wanted) = 0 THEN 'true'::jsonb
                                                 ELSE jsonb_build_object('all', wanted) END,
                              'actions', out_actions);
END;
$$;
COMMENT ON FUNCTION dwc._seed_automation(pg_catalog.jsonb, pg_catalog.jsonb) IS
  'Private: the seed''s automation (trigger.type, trigger.conditions, ai_generation and send_notification actions '
  'with parameters) as dwc''s trigger_type, trigger, conditions and actions.';
-- api_impl.create_automation runs as the caller
GRANT EXECUTE ON FUNCTION dwc._seed_automation(pg_catalog.jsonb, pg_catalog.jsonb) TO dwc_user, dwc_admin;

-- API: Public

CREATE FUNCTION api_impl.list_automations()
RETURNS TABLE (id pg_catalog.int8, name pg_catalog.text, description pg_catalog.text, trigger_type pg_catalog.text,
               trigger pg_catalog.jsonb, conditions pg_catalog.jsonb, actions pg_catalog.jsonb,
               options pg_catalog.jsonb, enabled pg_catalog.bool, webhook_id pg_catalog.text,
               schedule_id pg_catalog.int8, created_at pg_catalog.timestamptz, updated_at pg_catalog.timestamptz)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT * FROM jsonb_to_recordset(dwc.list_automations())
        AS r (id int8, name text, description text, trigger_type text, trigger jsonb, conditions jsonb, actions jsonb,
              options jsonb, enabled bool, webhook_id text, schedule_id int8, created_at timestamptz,
              updated_at timestamptz);
END;
SELECT dwc._declare_http('api_impl.list_automations',
  'The caller''s automations, by name (GET /automations): rows PostgREST can filter, order, page and count.',
  access => 'user', grp => 'automations');

CREATE FUNCTION api_impl.automation_runs(name pg_catalog.text, max_runs pg_catalog.int4 DEFAULT 20)
RETURNS TABLE (id pg_catalog.int8, job_id pg_catalog.int8, status pg_catalog.text, attempts pg_catalog.int4,
               trigger pg_catalog.jsonb, results pg_catalog.jsonb, error pg_catalog.text,
               created_at pg_catalog.timestamptz, started_at pg_catalog.timestamptz,
               finished_at pg_catalog.timestamptz, duration_ms pg_catalog.float8)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT * FROM jsonb_to_recordset(dwc.automation_runs(name, max_runs))
        AS r (id int8, job_id int8, status text, attempts int4, trigger jsonb, results jsonb, error text,
              created_at timestamptz, started_at timestamptz, finished_at timestamptz, duration_ms float8);
END;
SELECT dwc._declare_http('api_impl.automation_runs',
  'An automation''s latest runs (at most max_runs, up to 1,000), newest first (GET /automations/{name}/runs): rows PostgREST can filter, order, page and count.',
  access => 'user', grp => 'automations');

CREATE FUNCTION api_impl.create_automation(name pg_catalog.text, trigger_type pg_catalog.text DEFAULT NULL,
                                           actions pg_catalog.jsonb DEFAULT NULL, trigger pg_catalog.jsonb DEFAULT '{}',
                                           conditions pg_catalog.jsonb DEFAULT 'true',
                                           description pg_catalog.text DEFAULT NULL,
                                           enabled pg_catalog.bool DEFAULT true,
                                           options pg_catalog.jsonb DEFAULT '{}',
                                           ai_decision_making pg_catalog.bool DEFAULT NULL,
                                           learning_enabled pg_catalog.bool DEFAULT NULL)
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    seed jsonb;
BEGIN
    IF trigger_type IS NULL THEN
        -- the seed's form: {"trigger": {"type": "event_based", "conditions": {...}}, actions of its types}
        seed := dwc._seed_automation(trigger, actions);
        trigger_type := seed ->> 'trigger_type';
        trigger := seed -> 'trigger';
        conditions := seed -> 'conditions';
        actions := seed -> 'actions';
    END IF;
    IF learning_enabled THEN
        options := coalesce(options, '{}') || '{"learning": {"reorder": true}}';
    END IF;
    RETURN dwc.create_automation(name, trigger_type, trigger, actions, conditions, description, enabled, options);
END;
$$;
SELECT dwc._declare_http('api_impl.create_automation',
  'Create an automation (POST /automations): trigger_type event, condition, threshold, schedule, api, webhook or '
  'data_change with its trigger, conditions, actions (ai, http, sql, enqueue, emit, chain, workflow, decide) and options. '
  'Without trigger_type, the seed''s form (trigger.type, ai_generation and send_notification actions; docs/http.md); '
  'learning_enabled turns on learning (reorder); ai_decision_making is accepted and has no effect (decide actions '
  'decide).',
  access => 'user', grp => 'automations');

CREATE FUNCTION api_impl.automation_templates()
RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN (SELECT coalesce(jsonb_agg(to_jsonb(t) ORDER BY t.name), '[]') FROM dwc.automation_templates t);
SELECT dwc._declare_http('api_impl.automation_templates',
  'The automation templates (GET /automations/templates).',
  access => 'user', grp => 'automations');

CREATE FUNCTION api_impl.delete_automation(name pg_catalog.text)
RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN jsonb_build_object('deleted', dwc.delete_automation(name));
SELECT dwc._declare_http('api_impl.delete_automation',
  'Delete an automation (DELETE /automations/{name}).',
  access => 'user', grp => 'automations');

CREATE FUNCTION api_impl.trigger_automation(name pg_catalog.text, trigger_data pg_catalog.jsonb DEFAULT '{}',
                                            context pg_catalog.jsonb DEFAULT '{}')
RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN dwc.run_automation(name, coalesce(trigger_data, '{}') || jsonb_build_object('context', coalesce(context, '{}')));
SELECT dwc._declare_http('api_impl.trigger_automation',
  'Fire an automation (POST /automations/{name}/trigger) with trigger_data (and its context under "context").',
  access => 'user', grp => 'automations');

-- an inbound webhook: the raw body (a single unnamed json parameter, which PostgREST fills
-- with the request body as sent), the automation and signature in headers
CREATE FUNCTION api_impl.automation_webhook(pg_catalog.json)
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    h json := nullif(current_setting('request.headers', true), '')::json;
BEGIN
    RETURN dwc.automation_webhook(h->>'x-dwc-webhook', $1::text, h->>'x-dwc-timestamp', h->>'x-dwc-signature');
EXCEPTION WHEN invalid_authorization_specification THEN
    -- an unsigned or badly signed request is not authenticated: 401 (PostgREST gives 28000 a 403)
    RAISE SQLSTATE 'PT401' USING MESSAGE = SQLERRM;
END;
$$;
SELECT dwc._declare_http('api_impl.automation_webhook',
  'An inbound webhook (POST /automations/webhook): the body as sent, headers X-Dwc-Webhook (the automation''s '
  'webhook id), X-Dwc-Timestamp (Unix seconds) and X-Dwc-Signature (sha256=hex HMAC-SHA256 of timestamp.body). '
  'A refusal is HTTP 401.',
  access => 'anon', grp => 'automations');
