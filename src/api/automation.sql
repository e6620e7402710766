-- src/api/automation.sql: the seed's /automations endpoints for PostgREST.

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
COMMENT ON FUNCTION api_impl.list_automations() IS
  'The caller''s automations, by name (GET /automations): rows PostgREST can filter, order, page and count.';
INSERT INTO dwc.api_access (name, access, grp) VALUES ('list_automations', 'user', 'automations');

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
COMMENT ON FUNCTION api_impl.automation_runs(pg_catalog.text, pg_catalog.int4) IS
  'An automation''s latest runs (at most max_runs, up to 1,000), newest first (GET /automations/{name}/runs): rows PostgREST can filter, order, page and count.';
INSERT INTO dwc.api_access (name, access, grp) VALUES ('automation_runs', 'user', 'automations');

CREATE FUNCTION api_impl.create_automation(name pg_catalog.text, trigger_type pg_catalog.text,
                                           actions pg_catalog.jsonb, trigger pg_catalog.jsonb DEFAULT '{}',
                                           conditions pg_catalog.jsonb DEFAULT 'true',
                                           description pg_catalog.text DEFAULT NULL,
                                           enabled pg_catalog.bool DEFAULT true,
                                           options pg_catalog.jsonb DEFAULT '{}')
RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN dwc.create_automation(name, trigger_type, trigger, actions, conditions, description, enabled, options);
COMMENT ON FUNCTION api_impl.create_automation(pg_catalog.text, pg_catalog.text, pg_catalog.jsonb, pg_catalog.jsonb,
                                               pg_catalog.jsonb, pg_catalog.text, pg_catalog.bool, pg_catalog.jsonb) IS
  'Create an automation (POST /automations): trigger_type event, condition, threshold, schedule, api, webhook or '
  'data_change with its trigger, conditions, actions (ai, http, sql, enqueue, emit, chain, workflow, decide) and options.';
INSERT INTO dwc.api_access (name, access, grp) VALUES ('create_automation', 'user', 'automations');

CREATE FUNCTION api_impl.automation_templates()
RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN (SELECT coalesce(jsonb_agg(to_jsonb(t) ORDER BY t.name), '[]') FROM dwc.automation_templates t);
COMMENT ON FUNCTION api_impl.automation_templates() IS 'The automation templates (GET /automations/templates).';
INSERT INTO dwc.api_access (name, access, grp) VALUES ('automation_templates', 'user', 'automations');

CREATE FUNCTION api_impl.delete_automation(name pg_catalog.text)
RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN jsonb_build_object('deleted', dwc.delete_automation(name));
COMMENT ON FUNCTION api_impl.delete_automation(pg_catalog.text) IS 'Delete an automation (DELETE /automations/{name}).';
INSERT INTO dwc.api_access (name, access, grp) VALUES ('delete_automation', 'user', 'automations');

CREATE FUNCTION api_impl.trigger_automation(name pg_catalog.text, trigger_data pg_catalog.jsonb DEFAULT '{}',
                                            context pg_catalog.jsonb DEFAULT '{}')
RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN dwc.run_automation(name, coalesce(trigger_data, '{}') || jsonb_build_object('context', coalesce(context, '{}')));
COMMENT ON FUNCTION api_impl.trigger_automation(pg_catalog.text, pg_catalog.jsonb, pg_catalog.jsonb) IS
  'Fire an automation (POST /automations/{name}/trigger) with trigger_data (and its context under "context").';
INSERT INTO dwc.api_access (name, access, grp) VALUES ('trigger_automation', 'user', 'automations');

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
END;
$$;
COMMENT ON FUNCTION api_impl.automation_webhook(pg_catalog.json) IS
  'An inbound webhook (POST /automations/webhook): the body as sent, headers X-Dwc-Webhook (the automation''s '
  'webhook id), X-Dwc-Timestamp (Unix seconds) and X-Dwc-Signature (sha256=hex HMAC-SHA256 of timestamp.body).';
INSERT INTO dwc.api_access (name, access, grp) VALUES ('automation_webhook', 'anon', 'automations');
