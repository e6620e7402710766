-- src/api/http.sql: the HTTP face, put together at the end of the install script:
-- who may call each api function, the api functions themselves (generated from api_impl)
-- and their grants. See docs/http.md.

-- API: Private

CREATE TABLE dwc.api_access (
    name pg_catalog.text PRIMARY KEY,
    access pg_catalog.text NOT NULL CHECK (access IN ('anon', 'user', 'admin')),
    grp pg_catalog.text NOT NULL
);
COMMENT ON TABLE dwc.api_access IS
  'Who may call each api function: anon (anyone), user (a signed-in user or an API key with the '
  'group''s scope), admin (dwc_admin); and its scope group for API keys.';
GRANT SELECT ON dwc.api_access TO dwc_anon, dwc_user, dwc_admin;
SELECT dwc._keep_seeds('dwc.api_access');

INSERT INTO dwc.api_access (name, access, grp) VALUES
    -- /auth
    ('register', 'anon', 'account'), ('login', 'anon', 'account'), ('refresh_token', 'anon', 'account'),
    ('logout', 'anon', 'account'), ('health', 'anon', 'account'),
    ('request_password_reset', 'anon', 'account'), ('reset_password', 'anon', 'account'),
    ('me', 'user', 'account'), ('list_sessions', 'user', 'account'), ('revoke_session', 'user', 'account'),
    ('change_password', 'user', 'account'), ('mfa_enroll', 'user', 'account'), ('mfa_confirm', 'user', 'account'),
    ('mfa_disable', 'user', 'account'), ('create_api_key', 'user', 'account'), ('list_api_keys', 'user', 'account'),
    ('revoke_api_key', 'user', 'account'),
    -- /background
    ('submit_task', 'user', 'tasks'), ('submit_tasks', 'user', 'tasks'), ('get_task', 'user', 'tasks'),
    ('list_tasks', 'user', 'tasks'), ('cancel_task', 'user', 'tasks'), ('retry_task', 'user', 'tasks'),
    ('cancel_tasks', 'user', 'tasks'), ('retry_tasks', 'user', 'tasks'), ('background_stats', 'admin', 'tasks'),
    ('pause_queue', 'admin', 'tasks'), ('resume_queue', 'admin', 'tasks'),
    -- /scheduler
    ('create_cron_schedule', 'user', 'schedules'), ('create_interval_schedule', 'user', 'schedules'),
    ('create_daily_schedule', 'user', 'schedules'), ('create_weekly_schedule', 'user', 'schedules'),
    ('create_monthly_schedule', 'user', 'schedules'), ('list_schedules', 'user', 'schedules'),
    ('get_schedule', 'user', 'schedules'), ('update_schedule', 'user', 'schedules'),
    ('delete_schedule', 'user', 'schedules'), ('enable_schedule', 'user', 'schedules'),
    ('disable_schedule', 'user', 'schedules'), ('cron_next', 'user', 'schedules'),
    ('scheduler_stats', 'admin', 'schedules'),
    -- /workflows
    ('create_workflow', 'user', 'workflows'), ('get_workflow', 'user', 'workflows'),
    ('list_workflows', 'user', 'workflows'), ('update_workflow', 'user', 'workflows'),
    ('delete_workflow', 'user', 'workflows'), ('add_workflow_node', 'user', 'workflows'),
    ('get_workflow_node', 'user', 'workflows'), ('update_workflow_node', 'user', 'workflows'),
    ('workflow_node_versions', 'user', 'workflows'), ('execute_workflow', 'user', 'workflows'),
    ('workflow_analytics', 'user', 'workflows'), ('export_workflow', 'user', 'workflows'),
    ('search_workflows', 'user', 'workflows'),
    -- /advanced
    ('ai_generate', 'user', 'ai'), ('ai_chat', 'user', 'ai'), ('analyze_text', 'user', 'ai'),
    ('ai_providers', 'user', 'ai'),
    -- /ml
    ('create_ml_model', 'user', 'ml'), ('train_ml_model', 'user', 'ml'), ('predict_ml_model', 'user', 'ml'),
    ('list_ml_models', 'user', 'ml'), ('get_ml_model', 'user', 'ml'), ('delete_ml_model', 'user', 'ml'),
    ('ml_model_performance', 'user', 'ml'), ('deploy_ml_model', 'user', 'ml'), ('ml_stats', 'user', 'ml'),
    -- /recommendations
    ('add_interaction', 'user', 'recommendations'), ('set_item_features', 'user', 'recommendations'),
    ('create_rec_model', 'user', 'recommendations'), ('train_rec_model', 'user', 'recommendations'),
    ('get_recommendations', 'user', 'recommendations'), ('similar_items', 'user', 'recommendations'),
    ('get_rec_model', 'user', 'recommendations'),
    -- /ai-workflows (AI workflow templates)
    ('create_ai_workflow', 'user', 'workflows'),
    ('create_ai_workflow_from_template', 'user', 'workflows'),
    ('ai_workflow_templates', 'user', 'workflows'),
    ('list_ai_workflows', 'user', 'workflows'),
    ('get_ai_workflow', 'user', 'workflows'),
    ('delete_ai_workflow', 'user', 'workflows'),
    ('execute_ai_workflow', 'user', 'workflows'),
    ('get_ai_workflow_run', 'user', 'workflows'),
    ('pause_ai_workflow_run', 'user', 'workflows'),
    ('resume_ai_workflow_run', 'user', 'workflows'),
    ('cancel_ai_workflow_run', 'user', 'workflows'),
    ('approve_ai_workflow_step', 'user', 'workflows'),
    ('ai_workflow_stats', 'user', 'workflows'),
    -- /automations
    ('create_automation', 'user', 'automations'), ('create_automation_from_template', 'user', 'automations'),
    ('automation_templates', 'user', 'automations'), ('list_automations', 'user', 'automations'),
    ('get_automation', 'user', 'automations'), ('enable_automation', 'user', 'automations'),
    ('delete_automation', 'user', 'automations'), ('trigger_automation', 'user', 'automations'),
    ('automation_runs', 'user', 'automations'), ('automation_stats', 'user', 'automations'),
    ('automation_webhook', 'anon', 'automations'),
    -- /advanced/notifications, /ws
    ('send_notification', 'user', 'notifications'), ('notification_status', 'user', 'notifications'),
    ('notification_stats', 'user', 'notifications'), ('my_notifications', 'user', 'notifications'),
    ('mark_notifications_read', 'user', 'notifications'), ('notification_settings', 'user', 'notifications'),
    ('set_notification_preference', 'user', 'notifications'), ('add_notification_address', 'user', 'notifications'),
    ('websocket_stats', 'admin', 'notifications'),
    -- /security, /audit
    ('list_users', 'admin', 'security'), ('create_user', 'admin', 'security'),
    ('set_user_status', 'admin', 'security'), ('security_summary', 'admin', 'security'),
    ('set_rate_limit', 'admin', 'security'), ('audit_verify', 'admin', 'audit'), ('audit_logs', 'admin', 'audit'),
    ('audit_user_activity', 'admin', 'audit'), ('audit_record_history', 'admin', 'audit'),
    ('audit_changes_by_actor', 'admin', 'audit'), ('auth_events_summary', 'admin', 'audit'),
    -- /metrics
    ('record_metric', 'user', 'metrics'), ('define_metric', 'admin', 'metrics'), ('list_metrics', 'user', 'metrics'),
    ('metric_series', 'user', 'metrics'), ('system_metrics', 'user', 'metrics'),
    ('prometheus_metrics', 'user', 'metrics'),
    -- /advanced analytics, cache, status; the dashboard
    ('analytics_summary', 'user', 'analytics'), ('user_activity', 'user', 'analytics'),
    ('active_users', 'admin', 'analytics'), ('ai_analytics', 'user', 'analytics'), ('insights', 'user', 'analytics'),
    ('cache_stats', 'admin', 'analytics'), ('cache_clear', 'admin', 'analytics'), ('service_status', 'admin', 'analytics'),
    ('dashboard', 'user', 'analytics');

-- The api schema: one C wrapper (src/api/apicall.c) per api_impl function, with its
-- signature, defaults, volatility and comment; and its grants.
CREATE FUNCTION dwc._generate_api() RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    f record;
    missing text;
BEGIN
    -- from scratch: the upgrade script calls this again after api_impl changed
    FOR f IN SELECT p.oid::regprocedure AS sig FROM pg_proc p WHERE p.pronamespace = 'api'::regnamespace
    LOOP
        EXECUTE format('DROP FUNCTION %s', f.sig);
    END LOOP;
    SELECT string_agg(p.proname, ', ') INTO missing
      FROM pg_proc p WHERE p.pronamespace = 'api_impl'::regnamespace
       AND NOT EXISTS (SELECT 1 FROM dwc.api_access a WHERE a.name = p.proname);
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'api functions without an access rule: %', missing;
    END IF;
    FOR f IN SELECT p.oid, p.proname, pg_get_function_arguments(p.oid) AS args,
                    pg_get_function_identity_arguments(p.oid) AS idargs,
                    pg_get_function_result(p.oid) AS result, p.provolatile, p.proretset,
                    obj_description(p.oid, 'pg_proc') AS descr, a.access
               FROM pg_proc p JOIN dwc.api_access a ON a.name = p.proname
              WHERE p.pronamespace = 'api_impl'::regnamespace
    LOOP
        IF f.proretset THEN
            RAISE EXCEPTION 'api function % returns a set: not supported by the api wrapper', f.proname;
        END IF;
        EXECUTE format('CREATE FUNCTION api.%I(%s) RETURNS %s LANGUAGE c %s AS %L, %L',
                       f.proname, f.args, f.result,
                       CASE f.provolatile WHEN 'i' THEN 'IMMUTABLE' WHEN 's' THEN 'STABLE' ELSE 'VOLATILE' END,
                       'MODULE_PATHNAME', 'dwc_api_call');
        EXECUTE format('COMMENT ON FUNCTION api.%I(%s) IS %L', f.proname, f.idargs, f.descr);
        EXECUTE format('REVOKE ALL ON FUNCTION api.%I(%s) FROM PUBLIC', f.proname, f.idargs);
        EXECUTE format('REVOKE ALL ON FUNCTION api_impl.%I(%s) FROM PUBLIC', f.proname, f.idargs);
        -- administrators' bodies read and change dwc's private tables (audit log, users, rate
        -- limits), which no web role holds privileges on: they run as the extension's owner,
        -- reachable only through wrappers granted to dwc_admin that check the role again
        IF f.access = 'admin' THEN
            EXECUTE format('ALTER FUNCTION api_impl.%I(%s) SECURITY DEFINER', f.proname, f.idargs);
        END IF;
        EXECUTE format('GRANT EXECUTE ON FUNCTION api.%I(%s) TO %s', f.proname, f.idargs,
                       CASE f.access WHEN 'anon' THEN 'dwc_anon, dwc_user'
                                     WHEN 'user' THEN 'dwc_anon, dwc_user'   -- anon: API keys
                                     ELSE 'dwc_admin' END);
    END LOOP;
END;
$$;
COMMENT ON FUNCTION dwc._generate_api() IS
  'Private: (re)creates every api function from its body in api_impl and its rule in dwc.api_access '
  '(install and upgrade scripts).';
SELECT dwc._generate_api();
GRANT USAGE ON SCHEMA api TO dwc_anon, dwc_user, dwc_admin;
-- the bodies run as the caller (administrators' as the owner, above); their EXECUTE stays
-- revoked (the wrappers call them through fmgr)
GRANT USAGE ON SCHEMA api_impl TO dwc_anon, dwc_user, dwc_admin;
GRANT EXECUTE ON FUNCTION dwc.pre_request() TO dwc_anon, dwc_user, dwc_admin;
REVOKE ALL ON FUNCTION dwc.pre_request() FROM PUBLIC;

-- job kinds are audited from here on: the subsystems' own kinds, registered by this
-- script, are not changes
SELECT dwc.audit_table('dwc.job_kinds');

-- PostgREST reloads its schema cache on this notification (when it listens on pgrst)
NOTIFY pgrst, 'reload schema';
