-- src/security/users.sql: users, passwords, tokens, sessions, MFA. See docs/security.md.

-- API: Private (tables)

CREATE TABLE dwc.users (
    id pg_catalog.uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
    username pg_catalog.text NOT NULL
        CONSTRAINT username_valid CHECK (username OPERATOR(pg_catalog.~) '^[A-Za-z0-9][A-Za-z0-9_.@+-]{2,63}$'),
    email pg_catalog.text
        CONSTRAINT email_valid CHECK (email OPERATOR(pg_catalog.~) '^[^@\s]+@[^@\s]+\.[^@\s]+$' AND length(email) <= 254),
    password_hash pg_catalog.text NOT NULL,
    role pg_catalog.text NOT NULL DEFAULT 'dwc_user' CHECK (role IN ('dwc_user', 'dwc_admin')),
    status pg_catalog.text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
    failed_logins pg_catalog.int4 NOT NULL DEFAULT 0,
    last_failed_at pg_catalog.timestamptz,
    locked_until pg_catalog.timestamptz,
    mfa_secret pg_catalog.bytea,             -- encrypted (dwc.encrypt)
    mfa_enabled pg_catalog.bool NOT NULL DEFAULT false,
    mfa_last_step pg_catalog.int8,           -- replay protection: codes of this step or older are spent
    created_at pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now(),
    updated_at pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now(),
    password_changed_at pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now(),
    last_login_at pg_catalog.timestamptz
);
COMMENT ON TABLE dwc.users IS
  'dwc''s users (the sub claim of their tokens is their id). Passwords are Argon2id hashes; MFA '
  'secrets are encrypted. Administrators only.';
CREATE UNIQUE INDEX users_username ON dwc.users (lower(username));
CREATE UNIQUE INDEX users_email ON dwc.users (lower(email)) WHERE email IS NOT NULL;

CREATE TABLE dwc.refresh_tokens (
    id pg_catalog.int8 GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id pg_catalog.uuid NOT NULL REFERENCES dwc.users ON DELETE CASCADE,
    family pg_catalog.uuid NOT NULL,         -- one family per login: a session
    token_hash pg_catalog.bytea NOT NULL UNIQUE,
    amr pg_catalog.text[] NOT NULL,          -- how the session was authenticated: pwd, otp
    issued_at pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now(),
    expires_at pg_catalog.timestamptz NOT NULL,
    used_at pg_catalog.timestamptz,          -- replaced by the next token of the family
    revoked_at pg_catalog.timestamptz,
    revoked_reason pg_catalog.text,
    address pg_catalog.text,
    user_agent pg_catalog.text
);
COMMENT ON TABLE dwc.refresh_tokens IS
  'Refresh tokens, stored as SHA-256 hashes. Each use replaces the token by the next of its '
  'family; using a replaced token again revokes the whole family.';
SELECT pg_catalog.pg_extension_config_dump('dwc.refresh_tokens_id_seq', '');
CREATE INDEX refresh_tokens_family ON dwc.refresh_tokens (family);
CREATE INDEX refresh_tokens_user ON dwc.refresh_tokens (user_id);

CREATE TABLE dwc.recovery_codes (
    user_id pg_catalog.uuid NOT NULL REFERENCES dwc.users ON DELETE CASCADE,
    code_hash pg_catalog.bytea NOT NULL,
    used_at pg_catalog.timestamptz,
    PRIMARY KEY (user_id, code_hash)
);
COMMENT ON TABLE dwc.recovery_codes IS 'One-time MFA recovery codes, as SHA-256 hashes.';

SELECT pg_catalog.pg_extension_config_dump('dwc.users', '');
SELECT pg_catalog.pg_extension_config_dump('dwc.refresh_tokens', '');
SELECT pg_catalog.pg_extension_config_dump('dwc.recovery_codes', '');

-- signed-in users read their own account, without its secrets (src/security/roles.sql)
SELECT dwc._enable_owner_rls('dwc.users', 'dwc.is_admin() OR id::text = dwc.current_user_id()');
REVOKE SELECT ON dwc.users FROM dwc_user, dwc_admin;
GRANT SELECT (id, username, email, role, status, mfa_enabled, created_at, last_login_at) ON dwc.users TO dwc_user, dwc_admin;

-- ---- primitives (C) -------------------------------------------------------------------

CREATE FUNCTION dwc.password_hash(password pg_catalog.text) RETURNS pg_catalog.text
LANGUAGE c VOLATILE STRICT AS 'MODULE_PATHNAME', 'dwc_password_hash';
COMMENT ON FUNCTION dwc.password_hash(pg_catalog.text) IS
  'An Argon2id PHC string of a password (dwc.argon2_memory, dwc.argon2_iterations, one lane, '
  '16-byte random salt, 32-byte hash). Administrators only: each call costs tens of milliseconds.';
REVOKE ALL ON FUNCTION dwc.password_hash(pg_catalog.text) FROM PUBLIC;

CREATE FUNCTION dwc.password_verify(password pg_catalog.text, hash pg_catalog.text) RETURNS pg_catalog.bool
LANGUAGE c VOLATILE STRICT AS 'MODULE_PATHNAME', 'dwc_password_verify';
COMMENT ON FUNCTION dwc.password_verify(pg_catalog.text, pg_catalog.text) IS
  'Whether a password matches an Argon2 (id, i or d) PHC string; malformed strings do not match. Administrators only.';
REVOKE ALL ON FUNCTION dwc.password_verify(pg_catalog.text, pg_catalog.text) FROM PUBLIC;

CREATE FUNCTION dwc.password_needs_rehash(hash pg_catalog.text) RETURNS pg_catalog.bool
LANGUAGE c STABLE STRICT AS 'MODULE_PATHNAME', 'dwc_password_needs_rehash';
COMMENT ON FUNCTION dwc.password_needs_rehash(pg_catalog.text) IS
  'Whether a hash is weaker than the current Argon2id settings (dwc rehashes at the next login).';

CREATE FUNCTION dwc.password_problems(password pg_catalog.text, username pg_catalog.text DEFAULT NULL)
RETURNS pg_catalog.text[]
LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'dwc_password_problems';
COMMENT ON FUNCTION dwc.password_problems(pg_catalog.text, pg_catalog.text) IS
  'What the password policy finds wrong with a new password, one sentence each; empty if nothing '
  '(length, character classes, common passwords, containing the username).';

CREATE FUNCTION dwc._common_passwords_sorted() RETURNS pg_catalog.bool
LANGUAGE c IMMUTABLE AS 'MODULE_PATHNAME', 'dwc__common_passwords_sorted';
COMMENT ON FUNCTION dwc._common_passwords_sorted() IS 'Private, for tests: the common password list is sorted.';

CREATE FUNCTION dwc.jwt_sign(claims pg_catalog.jsonb) RETURNS pg_catalog.text
LANGUAGE c VOLATILE STRICT AS 'MODULE_PATHNAME', 'dwc_jwt_sign';
COMMENT ON FUNCTION dwc.jwt_sign(pg_catalog.jsonb) IS
  'An HS256 token of the claims, signed with dwc.jwt_secret (PostgREST''s jwt-secret). '
  'Administrators only: anyone who can sign can become anyone.';
REVOKE ALL ON FUNCTION dwc.jwt_sign(pg_catalog.jsonb) FROM PUBLIC;

CREATE FUNCTION dwc.jwt_verify(token pg_catalog.text, audience pg_catalog.text DEFAULT NULL,
                               at pg_catalog.timestamptz DEFAULT NULL)
RETURNS pg_catalog.jsonb
LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'dwc_jwt_verify';
COMMENT ON FUNCTION dwc.jwt_verify(pg_catalog.text, pg_catalog.text, pg_catalog.timestamptz) IS
  'The claims of a valid token; otherwise an error (28P01) that says why: not three parts, not '
  'HS256, bad signature, expired (exp, with dwc.jwt_clock_skew), not yet valid (nbf), wrong '
  'audience. audience: NULL for dwc.jwt_audience, '''' for no check; at: the time to check against.';

CREATE FUNCTION dwc.totp_code(secret pg_catalog.bytea, at pg_catalog.timestamptz DEFAULT pg_catalog.now(),
                              digits pg_catalog.int4 DEFAULT 6, step pg_catalog.int4 DEFAULT 30)
RETURNS pg_catalog.text
LANGUAGE c STABLE STRICT AS 'MODULE_PATHNAME', 'dwc_totp_code';
COMMENT ON FUNCTION dwc.totp_code(pg_catalog.bytea, pg_catalog.timestamptz, pg_catalog.int4, pg_catalog.int4) IS
  'The RFC 6238 TOTP code (HMAC-SHA-1) of a secret at a time.';

CREATE FUNCTION dwc._totp_match(secret pg_catalog.bytea, code pg_catalog.text, at pg_catalog.timestamptz,
                                after_step pg_catalog.int8)
RETURNS pg_catalog.int8
LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'dwc__totp_match';
COMMENT ON FUNCTION dwc._totp_match(pg_catalog.bytea, pg_catalog.text, pg_catalog.timestamptz, pg_catalog.int8) IS
  'Private: the 30-second step, within one of at and after after_step, whose 6-digit code this is; NULL if none.';

CREATE FUNCTION dwc._random_bytes(n pg_catalog.int4) RETURNS pg_catalog.bytea
LANGUAGE c VOLATILE STRICT AS 'MODULE_PATHNAME', 'dwc__random_bytes';
COMMENT ON FUNCTION dwc._random_bytes(pg_catalog.int4) IS 'Private: bytes from OpenSSL''s CSPRNG.';
CREATE FUNCTION dwc._base64url(pg_catalog.bytea) RETURNS pg_catalog.text
LANGUAGE c IMMUTABLE STRICT AS 'MODULE_PATHNAME', 'dwc__base64url';
COMMENT ON FUNCTION dwc._base64url(pg_catalog.bytea) IS 'Private: unpadded base64url.';
CREATE FUNCTION dwc._base32(pg_catalog.bytea) RETURNS pg_catalog.text
LANGUAGE c IMMUTABLE STRICT AS 'MODULE_PATHNAME', 'dwc__base32';
COMMENT ON FUNCTION dwc._base32(pg_catalog.bytea) IS 'Private: unpadded RFC 4648 base32.';
CREATE FUNCTION dwc._base32_decode(pg_catalog.text) RETURNS pg_catalog.bytea
LANGUAGE c IMMUTABLE STRICT AS 'MODULE_PATHNAME', 'dwc__base32_decode';
COMMENT ON FUNCTION dwc._base32_decode(pg_catalog.text) IS 'Private: RFC 4648 base32 to bytes; NULL if not base32.';

-- ---- helpers ----------------------------------------------------------------------------

-- API: Private

CREATE FUNCTION dwc._user_json(u dwc.users) RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
RETURN jsonb_strip_nulls(jsonb_build_object(
    'id', u.id, 'username', u.username, 'email', u.email, 'role', u.role, 'status', u.status,
    'mfa_enabled', u.mfa_enabled, 'locked_until', CASE WHEN u.locked_until > now() THEN u.locked_until END,
    'created_at', u.created_at, 'last_login_at', u.last_login_at));

-- The signed-in dwc user of a request, or an error (42501: PostgREST answers 401/403).
CREATE FUNCTION dwc._require_user(caller pg_catalog.oid) RETURNS dwc.users
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    sub text := dwc.current_user_id();
    u dwc.users;
BEGIN
    IF sub IS NOT NULL AND pg_has_role(caller, 'dwc_user', 'USAGE')
       AND sub ~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' THEN
        SELECT * INTO u FROM dwc.users WHERE id = sub::uuid;
        IF FOUND AND u.status = 'active' THEN
            RETURN u;
        END IF;
    END IF;
    RAISE EXCEPTION 'this needs a signed-in dwc user' USING ERRCODE = 'insufficient_privilege',
        HINT = 'Sign in with api.login and send the access token, or an API key in X-API-Key.';
END;
$$;

CREATE FUNCTION dwc._check_password(password pg_catalog.text, username pg_catalog.text) RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    problems text[] := dwc.password_problems(password, username);
BEGIN
    IF cardinality(problems) > 0 THEN
        RAISE EXCEPTION 'the password does not meet the policy' USING ERRCODE = 'invalid_parameter_value',
            DETAIL = array_to_string(problems, ' ');
    END IF;
END;
$$;

CREATE FUNCTION dwc._insert_user(username pg_catalog.text, password pg_catalog.text, email pg_catalog.text,
                                 role pg_catalog.text)
RETURNS dwc.users
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    u dwc.users;
BEGIN
    IF username IS NULL OR username !~ '^[A-Za-z0-9][A-Za-z0-9_.@+-]{2,63}$' THEN
        RAISE EXCEPTION 'invalid username' USING ERRCODE = 'invalid_parameter_value',
            DETAIL = '3 to 64 characters: letters, digits and _ . @ + -, starting with a letter or digit.';
    END IF;
    IF email IS NOT NULL AND (email !~ '^[^@\s]+@[^@\s]+\.[^@\s]+$' OR length(email) > 254) THEN
        RAISE EXCEPTION 'invalid email address' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF password IS NULL THEN
        RAISE EXCEPTION 'a password is needed' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM dwc._check_password(password, username);
    BEGIN
        INSERT INTO dwc.users (username, email, password_hash, role)
        VALUES (username, email, dwc.password_hash(password), role)
        RETURNING * INTO u;
    EXCEPTION WHEN unique_violation THEN
        RAISE EXCEPTION 'that username or email is taken' USING ERRCODE = 'unique_violation';
    END;
    PERFORM dwc._security_event('user_created', 'info', u.id::text,
                                jsonb_build_object('username', u.username, 'role', u.role));
    RETURN u;
END;
$$;

-- Access and refresh tokens for a user, in a session family.
CREATE FUNCTION dwc._issue_tokens(u dwc.users, family pg_catalog.uuid, amr pg_catalog.text[])
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    access_ttl int4 := extract(epoch FROM current_setting('dwc.jwt_access_ttl')::interval)::int4;
    now_s int8 := extract(epoch FROM now())::int8;
    aud text := current_setting('dwc.jwt_audience');
    refresh text := 'dwcr_' || dwc._base64url(dwc._random_bytes(32));
    claims jsonb;
    expires timestamptz := now() + current_setting('dwc.jwt_refresh_ttl')::interval;
BEGIN
    claims := jsonb_build_object('role', u.role, 'sub', u.id, 'username', u.username, 'iat', now_s,
                                 'exp', now_s + access_ttl, 'jti', gen_random_uuid(), 'amr', to_jsonb(amr));
    IF aud <> '' THEN
        claims := claims || jsonb_build_object('aud', aud);
    END IF;
    INSERT INTO dwc.refresh_tokens (user_id, family, token_hash, amr, expires_at, address, user_agent)
    VALUES (u.id, family, sha256(convert_to(refresh, 'UTF8')), amr, expires, dwc.client_address(),
            left(nullif(current_setting('request.headers', true), '')::jsonb ->> 'user-agent', 200));
    RETURN jsonb_build_object('access_token', dwc.jwt_sign(claims), 'token_type', 'bearer',
                              'expires_in', access_ttl, 'refresh_token', refresh,
                              'refresh_expires_at', expires, 'user', dwc._user_json(u));
END;
$$;

-- A failed authentication: the answer (and, through PostgREST, its HTTP status). Failures
-- return instead of raising so that what they record (failed attempts, lockouts, revoked
-- sessions) is committed.
CREATE FUNCTION dwc._auth_failure(status pg_catalog.int4, error pg_catalog.text, message pg_catalog.text)
RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN (SELECT jsonb_build_object('error', error, 'message', message)
          FROM (SELECT set_config('response.status', status::text, true)) s);

-- ---- registration and sign-in -------------------------------------------------------------

-- API: Public

CREATE FUNCTION dwc.register_user(username pg_catalog.text, password pg_catalog.text,
                                  email pg_catalog.text DEFAULT NULL)
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT current_setting('dwc.allow_registration')::bool THEN
        RAISE EXCEPTION 'registration is closed' USING ERRCODE = 'insufficient_privilege',
            HINT = 'An administrator creates accounts (dwc.create_user).';
    END IF;
    RETURN dwc._user_json(dwc._insert_user(username, password, email, 'dwc_user'));
END;
$$;
COMMENT ON FUNCTION dwc.register_user(pg_catalog.text, pg_catalog.text, pg_catalog.text) IS
  'Creates a user account (role dwc_user) when dwc.allow_registration is on. The password must '
  'pass the policy (dwc.password_problems); usernames and emails are unique ignoring case.';

CREATE FUNCTION dwc.create_user(username pg_catalog.text, password pg_catalog.text,
                                email pg_catalog.text DEFAULT NULL, role pg_catalog.text DEFAULT 'dwc_user')
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF role NOT IN ('dwc_user', 'dwc_admin') THEN
        RAISE EXCEPTION 'invalid role "%"', role USING ERRCODE = 'invalid_parameter_value',
            HINT = 'dwc_user or dwc_admin.';
    END IF;
    RETURN dwc._user_json(dwc._insert_user(username, password, email, role));
END;
$$;
COMMENT ON FUNCTION dwc.create_user(pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.text) IS
  'Creates a user, also an administrator (role dwc_admin). Administrators only.';
REVOKE ALL ON FUNCTION dwc.create_user(pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.text) FROM PUBLIC;

-- A second factor of u: a current TOTP code (its step is remembered, so it cannot be replayed)
-- or an unused recovery code (used up). Returns the method, for the token's amr, or NULL.
CREATE FUNCTION dwc._second_factor(u dwc.users, code pg_catalog.text) RETURNS pg_catalog.text
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    given text := btrim(coalesce(code, ''));
    step int8 := dwc._totp_match(decode(dwc.decrypt(u.mfa_secret), 'base64'), given, now(), u.mfa_last_step);
BEGIN
    IF step IS NOT NULL THEN
        UPDATE dwc.users SET mfa_last_step = step WHERE id = u.id;
        RETURN 'otp';
    END IF;
    UPDATE dwc.recovery_codes SET used_at = now()
     WHERE user_id = u.id AND used_at IS NULL AND code_hash = sha256(convert_to(lower(given), 'UTF8'));
    RETURN CASE WHEN FOUND THEN 'recovery_code' END;
END;
$$;
COMMENT ON FUNCTION dwc._second_factor(dwc.users, pg_catalog.text) IS
  'Private: checks and uses up a TOTP or recovery code of a user; returns otp, recovery_code or NULL.';

CREATE FUNCTION dwc.login(username pg_catalog.text, password pg_catalog.text, otp pg_catalog.text DEFAULT NULL)
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    u dwc.users;
    method text;
    amr text[] := ARRAY['pwd'];
BEGIN
    SELECT * INTO u FROM dwc.users WHERE lower(users.username) = lower(login.username) FOR UPDATE;
    IF NOT FOUND THEN
        -- spend the time a real check takes, so the answer does not tell which usernames exist
        PERFORM dwc.password_hash(coalesce(password, ''));
        PERFORM dwc._security_event('login_failure', 'warning', NULL,
                                    jsonb_build_object('username', left(username, 64), 'reason', 'unknown user'));
        RETURN dwc._auth_failure(401, 'invalid_credentials', 'Wrong username or password.');
    END IF;
    IF u.locked_until > now() THEN
        PERFORM dwc._security_event('login_locked', 'warning', u.id::text, jsonb_build_object('until', u.locked_until));
        RETURN dwc._auth_failure(403, 'account_locked',
                                 format('Too many failed sign-ins: the account is locked until %s.', u.locked_until));
    END IF;
    IF u.status <> 'active' THEN
        PERFORM dwc._security_event('login_failure', 'warning', u.id::text, '{"reason": "disabled"}');
        RETURN dwc._auth_failure(403, 'account_disabled', 'The account is disabled.');
    END IF;

    IF NOT dwc.password_verify(coalesce(password, ''), u.password_hash) THEN
        RETURN dwc._count_login_failure(u, 'wrong password');
    END IF;

    IF u.mfa_enabled THEN
        IF otp IS NULL OR btrim(otp) = '' THEN
            RETURN dwc._auth_failure(401, 'mfa_required',
                                     'This account has two-factor authentication: send the 6-digit code (otp) too.');
        END IF;
        method := dwc._second_factor(u, otp);
        IF method IS NULL THEN
            PERFORM dwc._security_event('mfa_failure', 'warning', u.id::text, '{}');
            RETURN dwc._count_login_failure(u, 'wrong second factor');
        END IF;
        amr := array_append(amr, method);
        IF method = 'recovery_code' THEN
            PERFORM dwc._security_event('recovery_code_used', 'warning', u.id::text,
                                        jsonb_build_object('left', (SELECT count(*) FROM dwc.recovery_codes
                                                                    WHERE user_id = u.id AND used_at IS NULL)));
        END IF;
    END IF;

    UPDATE dwc.users SET failed_logins = 0, locked_until = NULL, last_login_at = now(),
           password_hash = CASE WHEN dwc.password_needs_rehash(password_hash) THEN dwc.password_hash(password)
                                ELSE password_hash END
     WHERE id = u.id RETURNING * INTO u;
    PERFORM dwc._security_event('login_success', 'info', u.id::text, jsonb_build_object('amr', amr));
    RETURN dwc._issue_tokens(u, gen_random_uuid(), amr);
END;
$$;
SELECT dwc._declare_http('dwc.login',
  'Signs in: returns {access_token (HS256 JWT: role, sub, username, iat, exp, jti, aud, amr), '
  'token_type, expires_in, refresh_token, refresh_expires_at, user}. With MFA enrolled, otp (a '
  'TOTP code or a recovery code) is required. Failures return {error, message} and set PostgREST''s '
  'response.status (401, or 403 for locked and disabled accounts); dwc.login_max_failures failures '
  'within dwc.login_failure_window lock the account for dwc.login_lockout.',
  access => 'anon', grp => 'account', route => 'POST /auth/login');

CREATE FUNCTION dwc._count_login_failure(u dwc.users, reason pg_catalog.text) RETURNS pg_catalog.jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    window_ interval := current_setting('dwc.login_failure_window')::interval;
    failures int4;
BEGIN
    UPDATE dwc.users
       SET failed_logins = CASE WHEN last_failed_at > now() - window_ THEN failed_logins + 1 ELSE 1 END,
           last_failed_at = now()
     WHERE id = u.id RETURNING failed_logins INTO failures;
    PERFORM dwc._security_event('login_failure', 'warning', u.id::text,
                                jsonb_build_object('reason', reason, 'failures', failures));
    IF failures >= current_setting('dwc.login_max_failures')::int4 THEN
        UPDATE dwc.users SET locked_until = now() + current_setting('dwc.login_lockout')::interval
         WHERE id = u.id RETURNING * INTO u;
        PERFORM dwc._security_event('account_locked', 'critical', u.id::text,
                                    jsonb_build_object('failures', failures, 'until', u.locked_until,
                                                       'username', u.username));
        RETURN dwc._auth_failure(403, 'account_locked',
                                 format('Too many failed sign-ins: the account is locked until %s.', u.locked_until));
    END IF;
    RETURN dwc._auth_failure(401, 'invalid_credentials', 'Wrong username or password.');
END;
$$;

CREATE FUNCTION dwc.refresh_session(refresh_token pg_catalog.text) RETURNS pg_catalog.jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t dwc.refresh_tokens;
    u dwc.users;
BEGIN
    SELECT * INTO t FROM dwc.refresh_tokens
     WHERE token_hash = sha256(convert_to(coalesce(refresh_token, ''), 'UTF8')) FOR UPDATE;
    IF NOT FOUND THEN
        RETURN dwc._auth_failure(401, 'invalid_token', 'Unknown refresh token.');
    END IF;
    IF t.used_at IS NOT NULL OR t.revoked_at IS NOT NULL THEN
        IF t.used_at IS NOT NULL THEN
            -- a replaced token came back: it was stolen, or the session was forked; end the session
            UPDATE dwc.refresh_tokens SET revoked_at = coalesce(revoked_at, now()),
                   revoked_reason = coalesce(revoked_reason, 'reuse detected')
             WHERE family = t.family AND revoked_at IS NULL;
            PERFORM dwc._security_event('refresh_token_reuse', 'critical', t.user_id::text,
                                        jsonb_build_object('family', t.family, 'token_id', t.id));
            RETURN dwc._auth_failure(401, 'token_reused',
                                     'This refresh token was already used: the session is revoked. Sign in again.');
        END IF;
        RETURN dwc._auth_failure(401, 'token_revoked', 'The session was ended. Sign in again.');
    END IF;
    IF t.expires_at <= now() THEN
        RETURN dwc._auth_failure(401, 'token_expired', 'The session expired. Sign in again.');
    END IF;
    SELECT * INTO u FROM dwc.users WHERE id = t.user_id;
    IF u.status <> 'active' OR u.locked_until > now() THEN
        RETURN dwc._auth_failure(403, 'account_unavailable', 'The account is disabled or locked.');
    END IF;
    UPDATE dwc.refresh_tokens SET used_at = now() WHERE id = t.id;
    RETURN dwc._issue_tokens(u, t.family, t.amr);
END;
$$;
COMMENT ON FUNCTION dwc.refresh_session(pg_catalog.text) IS
  'Exchanges a refresh token for new access and refresh tokens (rotation). A token that was '
  'already exchanged revokes its whole session and raises a critical refresh_token_reuse event. '
  'Failures return {error, message} with response.status 401/403.';

CREATE FUNCTION dwc.logout(refresh_token pg_catalog.text) RETURNS pg_catalog.bool
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    WITH t AS (SELECT family FROM dwc.refresh_tokens
                WHERE token_hash = sha256(convert_to(coalesce(refresh_token, ''), 'UTF8'))),
         r AS (UPDATE dwc.refresh_tokens SET revoked_at = now(), revoked_reason = 'logout'
                WHERE family IN (SELECT family FROM t) AND revoked_at IS NULL RETURNING 1)
    SELECT count(*) > 0 FROM r;
END;
SELECT dwc._declare_http('dwc.logout',
  'Ends the session of a refresh token (its whole family); true if a session was ended. Access '
  'tokens already issued stay valid until they expire (dwc.jwt_access_ttl).',
  access => 'anon', grp => 'account', route => 'POST /auth/logout');

-- ---- the signed-in user (trampolines: the caller is known) ---------------------------------

CREATE FUNCTION dwc._me(caller pg_catalog.oid) RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
RETURN dwc._user_json(dwc._require_user(caller));
SELECT dwc._declare_public('dwc._me',
  'The signed-in user.',
  access => 'user', grp => 'account', route => 'GET /auth/me');

CREATE FUNCTION dwc._list_sessions(caller pg_catalog.oid) RETURNS pg_catalog.jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    u dwc.users := dwc._require_user(caller);
BEGIN
    RETURN (SELECT coalesce(jsonb_agg(jsonb_build_object(
                       'session', family, 'started_at', started, 'refreshed_at', refreshed,
                       'expires_at', expires, 'address', address, 'user_agent', user_agent, 'amr', amr)
                       ORDER BY started DESC), '[]')
              FROM (SELECT family, min(issued_at) AS started, max(issued_at) AS refreshed,
                           max(expires_at) AS expires, (array_agg(address ORDER BY id DESC))[1] AS address,
                           (array_agg(user_agent ORDER BY id DESC))[1] AS user_agent,
                           (array_agg(to_jsonb(amr) ORDER BY id DESC))[1] AS amr
                      FROM dwc.refresh_tokens
                     WHERE user_id = u.id
                     GROUP BY family
                    HAVING bool_and(revoked_at IS NULL) AND max(expires_at) > now()) s);
END;
$$;
SELECT dwc._declare_public('dwc._list_sessions',
  'The signed-in user''s active sessions (one per sign-in): started, last refreshed, address, user agent.');

CREATE FUNCTION dwc._revoke_session(caller pg_catalog.oid, session pg_catalog.uuid DEFAULT NULL) RETURNS pg_catalog.int4
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    u dwc.users := dwc._require_user(caller);
    n int4;
BEGIN
    WITH r AS (UPDATE dwc.refresh_tokens SET revoked_at = now(), revoked_reason = 'revoked by user'
                WHERE user_id = u.id AND revoked_at IS NULL AND (session IS NULL OR family = session)
               RETURNING family)
    SELECT count(DISTINCT family) INTO n FROM r;
    RETURN n;
END;
$$;
SELECT dwc._declare_public('dwc._revoke_session',
  'Ends one of the signed-in user''s sessions, or all of them when session is NULL; returns how many.',
  access => 'user', grp => 'account');

CREATE FUNCTION dwc._change_password(caller pg_catalog.oid, current_password pg_catalog.text,
                                     new_password pg_catalog.text)
RETURNS pg_catalog.bool
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    u dwc.users := dwc._require_user(caller);
BEGIN
    IF NOT dwc.password_verify(coalesce(current_password, ''), u.password_hash) THEN
        RAISE EXCEPTION 'the current password is wrong' USING ERRCODE = 'invalid_password';
    END IF;
    IF new_password IS NULL THEN
        RAISE EXCEPTION 'a new password is needed' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM dwc._check_password(new_password, u.username);
    UPDATE dwc.users SET password_hash = dwc.password_hash(new_password), password_changed_at = now(),
           updated_at = now()
     WHERE id = u.id;
    UPDATE dwc.refresh_tokens SET revoked_at = now(), revoked_reason = 'password changed'
     WHERE user_id = u.id AND revoked_at IS NULL;
    PERFORM dwc._security_event('password_changed', 'info', u.id::text, '{}');
    RETURN true;
END;
$$;
SELECT dwc._declare_public('dwc._change_password',
  'Changes the signed-in user''s password (the current one is checked, the new one must pass the '
  'policy) and ends every other session.',
  access => 'user', grp => 'account');

-- ---- MFA (TOTP) ---------------------------------------------------------------------------

CREATE FUNCTION dwc._mfa_enroll(caller pg_catalog.oid) RETURNS pg_catalog.jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    u dwc.users := dwc._require_user(caller);
    secret bytea := dwc._random_bytes(20);
    b32 text := dwc._base32(secret);
    issuer text := 'dwc';
BEGIN
    IF u.mfa_enabled THEN
        RAISE EXCEPTION 'two-factor authentication is already on' USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = 'Turn it off with dwc.mfa_disable() first.';
    END IF;
    UPDATE dwc.users SET mfa_secret = dwc.encrypt(encode(secret, 'base64')), mfa_last_step = NULL, updated_at = now()
     WHERE id = u.id;
    RETURN jsonb_build_object('secret', b32,
        'otpauth_uri', format('otpauth://totp/%s:%s?secret=%s&issuer=%s&algorithm=SHA1&digits=6&period=30',
                              issuer, replace(replace(u.username, '%', '%25'), ':', '%3A'), b32, issuer));
END;
$$;
SELECT dwc._declare_public('dwc._mfa_enroll',
  'Starts TOTP enrolment: a new secret (stored encrypted) and its otpauth:// URI for an '
  'authenticator app (SHA1, 6 digits, 30 s). Takes effect after dwc.mfa_confirm() with a code.',
  access => 'user', grp => 'account');

CREATE FUNCTION dwc._mfa_confirm(caller pg_catalog.oid, code pg_catalog.text) RETURNS pg_catalog.jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    u dwc.users := dwc._require_user(caller);
    step int8;
    codes text[];
BEGIN
    IF u.mfa_secret IS NULL THEN
        RAISE EXCEPTION 'no enrolment is in progress' USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = 'Start with dwc.mfa_enroll().';
    END IF;
    step := dwc._totp_match(decode(dwc.decrypt(u.mfa_secret), 'base64'), btrim(coalesce(code, '')), now(), u.mfa_last_step);
    IF step IS NULL THEN
        PERFORM dwc._security_event('mfa_failure', 'warning', u.id::text, '{"during": "enrolment"}');
        RAISE EXCEPTION 'wrong code' USING ERRCODE = 'invalid_password',
            HINT = 'Enter the current 6-digit code of the authenticator app; check the device''s clock.';
    END IF;
    SELECT array_agg(lower(substr(c, 1, 5) || '-' || substr(c, 6, 5)))
      INTO codes
      FROM (SELECT dwc._base32(dwc._random_bytes(7)) AS c FROM generate_series(1, 10)) g;
    DELETE FROM dwc.recovery_codes WHERE user_id = u.id;
    INSERT INTO dwc.recovery_codes (user_id, code_hash)
    SELECT u.id, sha256(convert_to(c, 'UTF8')) FROM unnest(codes) c;
    UPDATE dwc.users SET mfa_enabled = true, mfa_last_step = step, updated_at = now() WHERE id = u.id;
    PERFORM dwc._security_event('mfa_enabled', 'info', u.id::text, '{}');
    RETURN jsonb_build_object('mfa_enabled', true, 'recovery_codes', to_jsonb(codes));
END;
$$;
SELECT dwc._declare_public('dwc._mfa_confirm',
  'Turns TOTP on with a code from the enrolled app; returns 10 one-time recovery codes, shown this once.',
  access => 'user', grp => 'account');

CREATE FUNCTION dwc._mfa_disable(caller pg_catalog.oid, code pg_catalog.text) RETURNS pg_catalog.bool
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    u dwc.users := dwc._require_user(caller);
BEGIN
    IF NOT u.mfa_enabled THEN
        RETURN false;
    END IF;
    IF dwc._second_factor(u, code) IS NULL THEN
        PERFORM dwc._security_event('mfa_failure', 'warning', u.id::text, '{"during": "disable"}');
        RAISE EXCEPTION 'wrong code' USING ERRCODE = 'invalid_password';
    END IF;
    UPDATE dwc.users SET mfa_enabled = false, mfa_secret = NULL, mfa_last_step = NULL, updated_at = now()
     WHERE id = u.id;
    DELETE FROM dwc.recovery_codes WHERE user_id = u.id;
    PERFORM dwc._security_event('mfa_disabled', 'warning', u.id::text, '{}');
    RETURN true;
END;
$$;
SELECT dwc._declare_public('dwc._mfa_disable',
  'Turns TOTP off, given a current code or an unused recovery code.',
  access => 'user', grp => 'account');

-- ---- administration -----------------------------------------------------------------------

CREATE FUNCTION dwc.list_users(status pg_catalog.text DEFAULT NULL) RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN (SELECT coalesce(jsonb_agg(dwc._user_json(u) ORDER BY u.created_at), '[]')
          FROM dwc.users u WHERE list_users.status IS NULL OR u.status = list_users.status);
COMMENT ON FUNCTION dwc.list_users(pg_catalog.text) IS 'Users, oldest first. Administrators only.';
REVOKE ALL ON FUNCTION dwc.list_users(pg_catalog.text) FROM PUBLIC;

CREATE FUNCTION dwc.set_user_status(user_id pg_catalog.uuid, status pg_catalog.text) RETURNS pg_catalog.jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    u dwc.users;
BEGIN
    IF status NOT IN ('active', 'disabled') THEN
        RAISE EXCEPTION 'invalid user status "%"', status USING ERRCODE = 'invalid_parameter_value',
            HINT = 'active or disabled.';
    END IF;
    UPDATE dwc.users SET status = set_user_status.status, updated_at = now(),
           locked_until = CASE WHEN set_user_status.status = 'active' THEN NULL ELSE locked_until END,
           failed_logins = CASE WHEN set_user_status.status = 'active' THEN 0 ELSE failed_logins END
     WHERE id = user_id RETURNING * INTO u;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'user % does not exist', user_id USING ERRCODE = 'no_data_found';
    END IF;
    IF status = 'disabled' THEN
        UPDATE dwc.refresh_tokens SET revoked_at = now(), revoked_reason = 'account disabled'
         WHERE refresh_tokens.user_id = u.id AND revoked_at IS NULL;
    END IF;
    PERFORM dwc._security_event('user_' || status, 'warning', u.id::text, '{}');
    RETURN dwc._user_json(u);
END;
$$;
COMMENT ON FUNCTION dwc.set_user_status(pg_catalog.uuid, pg_catalog.text) IS
  'Disables a user (their sessions end) or makes them active again (which also unlocks them). Administrators only.';
REVOKE ALL ON FUNCTION dwc.set_user_status(pg_catalog.uuid, pg_catalog.text) FROM PUBLIC;

