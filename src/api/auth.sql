-- src/api/auth.sql: the seed's /auth endpoints (users, tokens, sessions, MFA, API keys).

-- API: Public

CREATE FUNCTION api_impl.register(username pg_catalog.text, password pg_catalog.text,
                                  email pg_catalog.text DEFAULT NULL)
RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN dwc.register_user(username, password, email);
COMMENT ON FUNCTION api_impl.register(pg_catalog.text, pg_catalog.text, pg_catalog.text) IS
  'Register a user (POST /auth/register). The password needs at least 12 characters of 3 kinds '
  '(lower, upper, digits, others), must not be a common password or contain the username. 409 if taken.';
INSERT INTO dwc.api_access (name, access, grp) VALUES ('register', 'anon', 'account');

CREATE FUNCTION api_impl.refresh_token(refresh_token pg_catalog.text)
RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN dwc.refresh_session(refresh_token);
COMMENT ON FUNCTION api_impl.refresh_token(pg_catalog.text) IS
  'New tokens for a refresh token (POST /auth/refresh); the old refresh token is spent. Reusing a '
  'spent one ends the session (401).';
INSERT INTO dwc.api_access (name, access, grp) VALUES ('refresh_token', 'anon', 'account');

CREATE FUNCTION api_impl.create_api_key(name pg_catalog.text, scopes pg_catalog.text[] DEFAULT '{*}',
                                        expires_in_days pg_catalog.int4 DEFAULT NULL)
RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN dwc.create_api_key(name, scopes, make_interval(days => expires_in_days));
COMMENT ON FUNCTION api_impl.create_api_key(pg_catalog.text, pg_catalog.text[], pg_catalog.int4) IS
  'Create an API key (shown this once) for the X-API-Key header. scopes: *, read, or groups '
  '(account, workflows, tasks, schedules, ai, security, audit), each optionally :read.';
INSERT INTO dwc.api_access (name, access, grp) VALUES ('create_api_key', 'user', 'account');

