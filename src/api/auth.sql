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

CREATE FUNCTION api_impl.login(username pg_catalog.text, password pg_catalog.text, otp pg_catalog.text DEFAULT NULL)
RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN dwc.login(username, password, otp);
COMMENT ON FUNCTION api_impl.login(pg_catalog.text, pg_catalog.text, pg_catalog.text) IS
  'Sign in (POST /auth/login): {access_token, token_type, expires_in, refresh_token, user}. otp: the '
  'TOTP or a recovery code when MFA is on. 401 {error, message} on failure; 403 when locked.';
INSERT INTO dwc.api_access (name, access, grp) VALUES ('login', 'anon', 'account');

CREATE FUNCTION api_impl.refresh_token(refresh_token pg_catalog.text)
RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN dwc.refresh_session(refresh_token);
COMMENT ON FUNCTION api_impl.refresh_token(pg_catalog.text) IS
  'New tokens for a refresh token (POST /auth/refresh); the old refresh token is spent. Reusing a '
  'spent one ends the session (401).';
INSERT INTO dwc.api_access (name, access, grp) VALUES ('refresh_token', 'anon', 'account');

CREATE FUNCTION api_impl.logout(refresh_token pg_catalog.text)
RETURNS pg_catalog.bool
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN dwc.logout(refresh_token);
COMMENT ON FUNCTION api_impl.logout(pg_catalog.text) IS 'End the session of a refresh token (POST /auth/logout).';
INSERT INTO dwc.api_access (name, access, grp) VALUES ('logout', 'anon', 'account');

CREATE FUNCTION api_impl.me()
RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN dwc.me();
COMMENT ON FUNCTION api_impl.me() IS 'The signed-in user (GET /auth/me).';
INSERT INTO dwc.api_access (name, access, grp) VALUES ('me', 'user', 'account');

CREATE FUNCTION api_impl.list_sessions()
RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN dwc.list_sessions();
COMMENT ON FUNCTION api_impl.list_sessions() IS 'The signed-in user''s active sessions.';
INSERT INTO dwc.api_access (name, access, grp) VALUES ('list_sessions', 'user', 'account');

CREATE FUNCTION api_impl.revoke_session(session pg_catalog.uuid DEFAULT NULL)
RETURNS pg_catalog.int4
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN dwc.revoke_session(session);
COMMENT ON FUNCTION api_impl.revoke_session(pg_catalog.uuid) IS
  'End one of the signed-in user''s sessions, or all of them (session omitted). Returns how many.';
INSERT INTO dwc.api_access (name, access, grp) VALUES ('revoke_session', 'user', 'account');

CREATE FUNCTION api_impl.change_password(current_password pg_catalog.text, new_password pg_catalog.text)
RETURNS pg_catalog.bool
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN dwc.change_password(current_password, new_password);
COMMENT ON FUNCTION api_impl.change_password(pg_catalog.text, pg_catalog.text) IS
  'Change the password (401 if the current one is wrong, 400 if the new one fails the policy); ends all sessions.';
INSERT INTO dwc.api_access (name, access, grp) VALUES ('change_password', 'user', 'account');

CREATE FUNCTION api_impl.mfa_enroll()
RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN dwc.mfa_enroll();
COMMENT ON FUNCTION api_impl.mfa_enroll() IS
  'Start TOTP enrolment: {secret, otpauth_uri} for an authenticator app. Confirm with mfa_confirm.';
INSERT INTO dwc.api_access (name, access, grp) VALUES ('mfa_enroll', 'user', 'account');

CREATE FUNCTION api_impl.mfa_confirm(code pg_catalog.text)
RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN dwc.mfa_confirm(code);
COMMENT ON FUNCTION api_impl.mfa_confirm(pg_catalog.text) IS
  'Turn TOTP on with a current code; returns the 10 recovery codes, shown once.';
INSERT INTO dwc.api_access (name, access, grp) VALUES ('mfa_confirm', 'user', 'account');

CREATE FUNCTION api_impl.mfa_disable(code pg_catalog.text)
RETURNS pg_catalog.bool
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN dwc.mfa_disable(code);
COMMENT ON FUNCTION api_impl.mfa_disable(pg_catalog.text) IS 'Turn TOTP off with a current code or a recovery code.';
INSERT INTO dwc.api_access (name, access, grp) VALUES ('mfa_disable', 'user', 'account');

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

CREATE FUNCTION api_impl.list_api_keys()
RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN dwc.list_api_keys();
COMMENT ON FUNCTION api_impl.list_api_keys() IS 'The signed-in user''s API keys (prefix, scopes, expiry, last use; never the key).';
INSERT INTO dwc.api_access (name, access, grp) VALUES ('list_api_keys', 'user', 'account');

CREATE FUNCTION api_impl.revoke_api_key(id pg_catalog.int8)
RETURNS pg_catalog.bool
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN dwc.revoke_api_key(id);
COMMENT ON FUNCTION api_impl.revoke_api_key(pg_catalog.int8) IS 'Revoke an API key (404 if it is not yours).';
INSERT INTO dwc.api_access (name, access, grp) VALUES ('revoke_api_key', 'user', 'account');
