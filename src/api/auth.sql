-- src/api/auth.sql: the seed's /auth endpoints (users, tokens, sessions, MFA, API keys).

-- API: Public

CREATE FUNCTION api_impl.list_sessions()
RETURNS TABLE (session pg_catalog.uuid, started_at pg_catalog.timestamptz, refreshed_at pg_catalog.timestamptz,
               expires_at pg_catalog.timestamptz, address pg_catalog.text, user_agent pg_catalog.text,
               amr pg_catalog.text[])
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT * FROM jsonb_to_recordset(dwc.list_sessions())
        AS r (session uuid, started_at timestamptz, refreshed_at timestamptz, expires_at timestamptz, address text,
              user_agent text, amr text[]);
END;
SELECT dwc._declare_http('api_impl.list_sessions',
  'The signed-in user''s active sessions, newest first: rows PostgREST can filter, order, page and count.',
  access => 'user', grp => 'account');

CREATE FUNCTION api_impl.list_api_keys()
RETURNS TABLE (id pg_catalog.int8, name pg_catalog.text, prefix pg_catalog.text, scopes pg_catalog.text[],
               created_at pg_catalog.timestamptz, expires_at pg_catalog.timestamptz,
               revoked_at pg_catalog.timestamptz, last_used_at pg_catalog.timestamptz, active pg_catalog.bool)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT * FROM jsonb_to_recordset(dwc.list_api_keys())
        AS r (id int8, name text, prefix text, scopes text[], created_at timestamptz, expires_at timestamptz,
              revoked_at timestamptz, last_used_at timestamptz, active bool);
END;
SELECT dwc._declare_http('api_impl.list_api_keys',
  'The signed-in user''s API keys, without the keys (prefix, scopes, expiry, last use): rows PostgREST can filter, order, page and count.',
  access => 'user', grp => 'account');

CREATE FUNCTION api_impl.register(username pg_catalog.text, password pg_catalog.text,
                                  email pg_catalog.text DEFAULT NULL)
RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN dwc.register_user(username, password, email);
SELECT dwc._declare_http('api_impl.register',
  'Register a user (POST /auth/register). The password needs at least 12 characters of 3 kinds '
  '(lower, upper, digits, others), must not be a common password or contain the username. 409 if taken.',
  access => 'anon', grp => 'account');

CREATE FUNCTION api_impl.refresh_token(refresh_token pg_catalog.text)
RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN dwc.refresh_session(refresh_token);
SELECT dwc._declare_http('api_impl.refresh_token',
  'New tokens for a refresh token (POST /auth/refresh); the old refresh token is spent. Reusing a '
  'spent one ends the session (401).',
  access => 'anon', grp => 'account');

CREATE FUNCTION api_impl.create_api_key(name pg_catalog.text, scopes pg_catalog.text[] DEFAULT '{*}',
                                        expires_in_days pg_catalog.int4 DEFAULT NULL)
RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN dwc.create_api_key(name, scopes, make_interval(days => expires_in_days));
SELECT dwc._declare_http('api_impl.create_api_key',
  'Create an API key (shown this once) for the X-API-Key header. scopes: *, read, or groups '
  '(account, workflows, tasks, schedules, ai, security, audit), each optionally :read.',
  access => 'user', grp => 'account');

