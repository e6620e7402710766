-- src/api/security.sql: the seed's /security and audit endpoints (administrators).

-- API: Public

CREATE FUNCTION api_impl.list_users(status pg_catalog.text DEFAULT NULL)
RETURNS TABLE (id pg_catalog.uuid, username pg_catalog.text, email pg_catalog.text, role pg_catalog.text,
               status pg_catalog.text, mfa_enabled pg_catalog.bool, locked_until pg_catalog.timestamptz,
               created_at pg_catalog.timestamptz, last_login_at pg_catalog.timestamptz)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT * FROM jsonb_to_recordset(dwc.list_users(status))
        AS r (id uuid, username text, email text, role text, status text, mfa_enabled bool, locked_until timestamptz,
              created_at timestamptz, last_login_at timestamptz);
END;
SELECT dwc._declare_http('api_impl.list_users',
  'Users (GET /security/users). Administrators. '
  'Rows PostgREST can filter, order, page and count.',
  access => 'admin', grp => 'security');

CREATE FUNCTION api_impl.create_user(username pg_catalog.text, password pg_catalog.text,
                                     email pg_catalog.text DEFAULT NULL, role pg_catalog.text DEFAULT 'dwc_user')
RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN dwc.create_user(username, password, email, role);
SELECT dwc._declare_http('api_impl.create_user',
  'Create a user or an administrator (role dwc_admin). Administrators.',
  access => 'admin', grp => 'security');

CREATE FUNCTION api_impl.set_user_status(user_id pg_catalog.uuid, status pg_catalog.text)
RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN dwc.set_user_status(user_id, status);
SELECT dwc._declare_http('api_impl.set_user_status',
  'Disable a user (ending their sessions) or reactivate and unlock them. Administrators.',
  access => 'admin', grp => 'security');

CREATE FUNCTION api_impl.security_summary(period_hours pg_catalog.int4 DEFAULT 24)
RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN dwc.security_summary(make_interval(hours => period_hours));
SELECT dwc._declare_http('api_impl.security_summary',
  'Threat overview (GET /security/summary): events by kind, critical events, locked accounts, '
  'failing addresses. Administrators.',
  access => 'admin', grp => 'security');

CREATE FUNCTION api_impl.set_rate_limit(subject_kind pg_catalog.text, subject pg_catalog.text,
                                        requests_per_second pg_catalog.float8, burst pg_catalog.int4 DEFAULT NULL)
RETURNS void
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT dwc.set_rate_limit(subject_kind, subject, requests_per_second, burst);
END;
SELECT dwc._declare_http('api_impl.set_rate_limit',
  'Set the request rate limit of a role, user id, API key id or address (NULL rate removes it). Administrators.',
  access => 'admin', grp => 'security');

CREATE FUNCTION api_impl.audit_verify()
RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN dwc.audit_verify();
SELECT dwc._declare_http('api_impl.audit_verify',
  'Check the audit hash chain (GET /audit/verify): {ok, checked, head_hash, first_problem}. Administrators.',
  access => 'admin', grp => 'audit');

CREATE FUNCTION api_impl.audit_logs("limit" pg_catalog.int4 DEFAULT 50, table_name pg_catalog.text DEFAULT NULL,
                                   actor_user pg_catalog.text DEFAULT NULL, action pg_catalog.text DEFAULT NULL,
                                   since pg_catalog.timestamptz DEFAULT NULL)
RETURNS TABLE (id pg_catalog.int8, at pg_catalog.timestamptz, actor_user pg_catalog.text, actor_role pg_catalog.text,
               action pg_catalog.text, table_name pg_catalog.text, row_key pg_catalog.jsonb,
               old_values pg_catalog.jsonb, new_values pg_catalog.jsonb, client_addr pg_catalog.text,
               request_path pg_catalog.text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT * FROM jsonb_to_recordset(dwc.audit_logs("limit", table_name, actor_user, action, since))
        AS r (id int8, at timestamptz, actor_user text, actor_role text, action text, table_name text, row_key jsonb,
              old_values jsonb, new_values jsonb, client_addr text, request_path text);
END;
SELECT dwc._declare_http('api_impl.audit_logs',
  'The latest audit entries, newest first (GET /security/audit/logs?limit=50), optionally of one '
  'table (schema.table), actor user id, action (INSERT, UPDATE, DELETE) or since a time. Administrators. '
  'Rows PostgREST can filter, order, page and count.',
  access => 'admin', grp => 'audit');

CREATE FUNCTION api_impl.audit_user_activity(user_id pg_catalog.text, days pg_catalog.int4 DEFAULT 30)
RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN dwc.audit_user_activity(user_id, now() - make_interval(days => days), now());
SELECT dwc._declare_http('api_impl.audit_user_activity',
  'A user''s changes and security events over the last days (compliance report). Administrators.',
  access => 'admin', grp => 'audit');

CREATE FUNCTION api_impl.audit_record_history(table_name pg_catalog.text, row_key pg_catalog.jsonb)
RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN dwc.audit_record_history(table_name::regclass, row_key);
SELECT dwc._declare_http('api_impl.audit_record_history',
  'Who touched a record (e.g. table_name dwc.chains, row_key {"id": 4}), oldest first. Administrators.',
  access => 'admin', grp => 'audit');

CREATE FUNCTION api_impl.audit_changes_by_actor(days pg_catalog.int4 DEFAULT 30)
RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN dwc.audit_changes_by_actor(now() - make_interval(days => days), now());
SELECT dwc._declare_http('api_impl.audit_changes_by_actor',
  'Changes per actor over the last days. Administrators.',
  access => 'admin', grp => 'audit');

CREATE FUNCTION api_impl.auth_events_summary(days pg_catalog.int4 DEFAULT 30)
RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN dwc.auth_events_summary(now() - make_interval(days => days), now());
SELECT dwc._declare_http('api_impl.auth_events_summary',
  'Security events per day and kind. Administrators.',
  access => 'admin', grp => 'audit');

CREATE FUNCTION api_impl.health(max_queue_lag_seconds pg_catalog.float8 DEFAULT 60)
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    h jsonb := dwc.health(make_interval(secs => max_queue_lag_seconds));
BEGIN
    -- load balancers read the status code: 503 while degraded
    IF h->>'status' <> 'ok' THEN
        PERFORM set_config('response.status', '503', true);
    END IF;
    RETURN h;
END;
$$;
SELECT dwc._declare_http('api_impl.health',
  'Health (GET /rpc/health): status ok or degraded (HTTP 503), version, time, and the checks of '
  'dwc.health(): database, workers, scheduler, maintenance, queue lag. Anyone.',
  access => 'anon', grp => 'account');
