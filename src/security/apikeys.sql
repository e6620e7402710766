-- src/security/apikeys.sql: API keys, rate limits and PostgREST's pre-request function.
-- See docs/security.md.

-- API: Private (tables)

CREATE TABLE dwc.api_keys (
    id pg_catalog.int8 GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id pg_catalog.uuid NOT NULL REFERENCES dwc.users ON DELETE CASCADE,
    name pg_catalog.text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    prefix pg_catalog.text NOT NULL UNIQUE,
    key_hash pg_catalog.bytea NOT NULL,
    scopes pg_catalog.text[] NOT NULL DEFAULT '{*}',
    created_at pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now(),
    expires_at pg_catalog.timestamptz,
    revoked_at pg_catalog.timestamptz,
    last_used_at pg_catalog.timestamptz
);
COMMENT ON TABLE dwc.api_keys IS
  'API keys: dwc_<prefix>_<secret>, stored as the prefix (to find the key) and SHA-256 of the '
  'whole key. The key itself is shown once, when it is created.';
SELECT pg_catalog.pg_extension_config_dump('dwc.api_keys_id_seq', '');
CREATE INDEX api_keys_user ON dwc.api_keys (user_id);
SELECT pg_catalog.pg_extension_config_dump('dwc.api_keys', '');

CREATE TABLE dwc.rate_limits (
    subject_kind pg_catalog.text NOT NULL CHECK (subject_kind IN ('role', 'user', 'api_key', 'address')),
    subject pg_catalog.text NOT NULL,
    requests_per_second pg_catalog.float8 NOT NULL CHECK (requests_per_second > 0),
    burst pg_catalog.int4 NOT NULL CHECK (burst >= 1),
    PRIMARY KEY (subject_kind, subject)
);
COMMENT ON TABLE dwc.rate_limits IS
  'Request rate limits of dwc.pre_request(): a token bucket of `burst` requests refilled at '
  'requests_per_second, per API key, per user, or per client address for anonymous requests. The '
  'most specific row applies: the key, the user, then the role (dwc_anon, dwc_user, dwc_admin).';
SELECT dwc._keep_seeds('dwc.rate_limits');
INSERT INTO dwc.rate_limits VALUES ('role', 'dwc_anon', 5, 20), ('role', 'dwc_user', 20, 60),
                                   ('role', 'dwc_admin', 100, 200);
SELECT pg_catalog.pg_extension_config_dump('dwc.rate_limits', '');

-- signed-in users read their own keys, without the hashes (src/security/roles.sql)
SELECT dwc._enable_owner_rls('dwc.api_keys', 'dwc.is_admin() OR user_id::text = dwc.current_user_id()');
REVOKE SELECT ON dwc.api_keys FROM dwc_user, dwc_admin;
GRANT SELECT (id, user_id, name, prefix, scopes, created_at, expires_at, revoked_at, last_used_at) ON dwc.api_keys
    TO dwc_user, dwc_admin;

CREATE FUNCTION dwc.rate_limit_take(key pg_catalog.text, rate pg_catalog.float8, burst pg_catalog.float8,
                                    cost pg_catalog.float8 DEFAULT 1)
RETURNS pg_catalog.float8
LANGUAGE c VOLATILE STRICT AS 'MODULE_PATHNAME', 'dwc_rate_limit_take';
COMMENT ON FUNCTION dwc.rate_limit_take(pg_catalog.text, pg_catalog.float8, pg_catalog.float8, pg_catalog.float8) IS
  'Takes cost tokens from the shared-memory bucket of key (burst tokens, refilled at rate per '
  'second): 0 if admitted, else the seconds until it would be. Administrators only (anyone could '
  'otherwise drain another key''s bucket).';
REVOKE ALL ON FUNCTION dwc.rate_limit_take(pg_catalog.text, pg_catalog.float8, pg_catalog.float8, pg_catalog.float8) FROM PUBLIC;

CREATE FUNCTION dwc.rate_limit_stats() RETURNS pg_catalog.jsonb
LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'dwc_rate_limit_stats';
COMMENT ON FUNCTION dwc.rate_limit_stats() IS
  'The shared rate limiter: keys tracked and capacity, requests admitted and refused, idle buckets '
  'evicted, overflows (admitted because the table was full of busy keys).';
REVOKE ALL ON FUNCTION dwc.rate_limit_stats() FROM PUBLIC;

-- API: Public

CREATE FUNCTION dwc.set_rate_limit(subject_kind pg_catalog.text, subject pg_catalog.text,
                                   requests_per_second pg_catalog.float8, burst pg_catalog.int4 DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF requests_per_second IS NULL THEN
        DELETE FROM dwc.rate_limits r WHERE r.subject_kind = set_rate_limit.subject_kind AND r.subject = set_rate_limit.subject;
        RETURN;
    END IF;
    INSERT INTO dwc.rate_limits VALUES (subject_kind, subject, requests_per_second,
                                        coalesce(burst, greatest(1, ceil(requests_per_second)::int4)))
    ON CONFLICT ON CONSTRAINT rate_limits_pkey DO UPDATE
       SET requests_per_second = excluded.requests_per_second, burst = excluded.burst;
EXCEPTION WHEN check_violation THEN
    RAISE EXCEPTION 'invalid rate limit' USING ERRCODE = 'invalid_parameter_value',
        DETAIL = 'subject_kind: role, user, api_key or address; requests_per_second > 0; burst >= 1.';
END;
$$;
COMMENT ON FUNCTION dwc.set_rate_limit(pg_catalog.text, pg_catalog.text, pg_catalog.float8, pg_catalog.int4) IS
  'Sets (or, with requests_per_second NULL, removes) the rate limit of a role, user id, API key id '
  'or client address. burst defaults to one second''s worth. Administrators only.';
REVOKE ALL ON FUNCTION dwc.set_rate_limit(pg_catalog.text, pg_catalog.text, pg_catalog.float8, pg_catalog.int4) FROM PUBLIC;

-- Scopes an API key may hold: * (all), a group, a group:read (only its read functions), read
-- (every group, read functions only). Groups are those of dwc.api_access.
CREATE FUNCTION dwc._valid_scope(scope pg_catalog.text) RETURNS pg_catalog.bool
LANGUAGE sql IMMUTABLE
RETURN scope ~ '^(\*|read|sql|(account|workflows|tasks|schedules|ai|ml|recommendations|automations|notifications|metrics|analytics|security|audit)(:read)?)$';

CREATE FUNCTION dwc._scopes_cover(have pg_catalog.text[], want pg_catalog.text) RETURNS pg_catalog.bool
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
RETURN '*' = ANY (have) OR want = ANY (have)
    OR (want LIKE '%:read' AND (split_part(want, ':', 1) = ANY (have) OR 'read' = ANY (have)));
COMMENT ON FUNCTION dwc._scopes_cover(pg_catalog.text[], pg_catalog.text) IS
  'Private: whether a key with scopes have reaches everything a key with scope want would.';

CREATE FUNCTION dwc._create_api_key(caller pg_catalog.oid, name pg_catalog.text,
                                    scopes pg_catalog.text[] DEFAULT '{*}',
                                    expires_in pg_catalog.interval DEFAULT NULL)
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    u dwc.users := dwc._require_user(caller);
    prefix text := lower(dwc._base32(dwc._random_bytes(5)));
    key text := 'dwc_' || prefix || '_' || dwc._base64url(dwc._random_bytes(32));
    k dwc.api_keys;
BEGIN
    IF name IS NULL OR length(btrim(name)) NOT BETWEEN 1 AND 100 THEN
        RAISE EXCEPTION 'an API key needs a name of 1 to 100 characters' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF scopes IS NULL OR cardinality(scopes) = 0 OR EXISTS (SELECT 1 FROM unnest(scopes) s WHERE NOT dwc._valid_scope(s)) THEN
        RAISE EXCEPTION 'invalid scopes' USING ERRCODE = 'invalid_parameter_value',
            DETAIL = 'Scopes: *, read, sql, or account, workflows, tasks, schedules, ai, ml, recommendations, automations, notifications, metrics, analytics, security, audit, each optionally :read.';
    END IF;
    -- a key cannot make a key that reaches further than itself
    IF dwc.current_scopes() IS NOT NULL
       AND EXISTS (SELECT 1 FROM unnest(scopes) s WHERE NOT dwc._scopes_cover(dwc.current_scopes(), s)) THEN
        RAISE EXCEPTION 'this API key may not make a key with scopes it does not have'
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = format('It has %s; asked for %s.', array_to_string(dwc.current_scopes(), ', '),
                                  array_to_string(scopes, ', '));
    END IF;
    IF expires_in IS NOT NULL AND expires_in <= interval '0' THEN
        RAISE EXCEPTION 'expires_in must be positive' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO dwc.api_keys (user_id, name, prefix, key_hash, scopes, expires_at)
    VALUES (u.id, btrim(name), prefix, sha256(convert_to(key, 'UTF8')), scopes, now() + expires_in)
    RETURNING * INTO k;
    PERFORM dwc._security_event('api_key_created', 'info', u.id::text,
                                jsonb_build_object('key_id', k.id, 'scopes', to_jsonb(k.scopes)));
    RETURN jsonb_build_object('id', k.id, 'name', k.name, 'key', key, 'prefix', k.prefix,
                              'scopes', to_jsonb(k.scopes), 'expires_at', k.expires_at);
END;
$$;
SELECT dwc._declare_public('dwc._create_api_key',
  'Creates an API key for the signed-in user and returns it, the only time it is shown. Send it '
  'as the X-API-Key header. scopes: * or groups (account, workflows, tasks, schedules, ai, ml, '
  'recommendations, automations, notifications, metrics, analytics, security, audit), optionally :read; read for read-only access to all; '
  'sql for SQL and HTTP in jobs, schedules and automations (every right of the user). A key made with '
  'a key gets no scope the first does not have.');

CREATE FUNCTION dwc._list_api_keys(caller pg_catalog.oid) RETURNS pg_catalog.jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    u dwc.users := dwc._require_user(caller);
BEGIN
    RETURN (SELECT coalesce(jsonb_agg(jsonb_strip_nulls(jsonb_build_object(
                       'id', k.id, 'name', k.name, 'prefix', k.prefix, 'scopes', to_jsonb(k.scopes),
                       'created_at', k.created_at, 'expires_at', k.expires_at, 'revoked_at', k.revoked_at,
                       'last_used_at', k.last_used_at,
                       'active', k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > now())))
                       ORDER BY k.id), '[]')
              FROM dwc.api_keys k WHERE k.user_id = u.id);
END;
$$;
SELECT dwc._declare_public('dwc._list_api_keys',
  'The signed-in user''s API keys, without the keys: prefix, scopes, expiry, last use.');

CREATE FUNCTION dwc._revoke_api_key(caller pg_catalog.oid, id pg_catalog.int8) RETURNS pg_catalog.bool
LANGUAGE plpgsql STRICT SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    u dwc.users := dwc._require_user(caller);
    k dwc.api_keys;
BEGIN
    UPDATE dwc.api_keys a SET revoked_at = coalesce(a.revoked_at, now())
     WHERE a.id = _revoke_api_key.id AND (a.user_id = u.id OR u.role = 'dwc_admin')
    RETURNING * INTO k;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'API key % does not exist', id USING ERRCODE = 'no_data_found';
    END IF;
    PERFORM dwc._security_event('api_key_revoked', 'info', k.user_id::text, jsonb_build_object('key_id', k.id));
    RETURN true;
END;
$$;
SELECT dwc._declare_public('dwc._revoke_api_key',
  'Revokes one of the signed-in user''s API keys (administrators: anyone''s).',
  access => 'user', grp => 'account');

-- ---- the pre-request function ------------------------------------------------------------

-- The one check of an API key as presented ("dwc_<prefix>_<secret>"): its row (by prefix), and
-- what is wrong with it: unknown, revoked, expired, wrong secret; NULL when it is good.
CREATE FUNCTION dwc._api_key_check(key pg_catalog.text, OUT k dwc.api_keys, OUT problem pg_catalog.text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    SELECT * INTO k FROM dwc.api_keys x WHERE x.prefix = split_part(key, '_', 2);
    problem := CASE WHEN k.id IS NULL THEN 'unknown'
                    WHEN k.revoked_at IS NOT NULL THEN 'revoked'
                    WHEN k.expires_at <= now() THEN 'expired'
                    WHEN k.key_hash <> sha256(convert_to(key, 'UTF8')) THEN 'wrong secret' END;
END;
$$;
COMMENT ON FUNCTION dwc._api_key_check(pg_catalog.text) IS
  'Private: the API key presented as key (its row, found by its prefix) and what is wrong with it (unknown, '
  'revoked, expired, wrong secret; NULL: nothing). The HTTP gate (dwc._pre_request) and the real-time gateway use it.';

CREATE FUNCTION dwc._pre_request(caller pg_catalog.oid) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    headers jsonb := nullif(current_setting('request.headers', true), '')::jsonb;
    claims jsonb;
    key text := headers ->> 'x-api-key';
    role_name text := (SELECT rolname FROM pg_roles WHERE oid = caller);
    k dwc.api_keys;
    chk record;
    u dwc.users;
    v_kind text;
    v_subject text;
    lim dwc.rate_limits;
    wait float8;
BEGIN
    IF key IS NOT NULL AND role_name = 'dwc_anon' THEN
        chk := dwc._api_key_check(key);
        k := chk.k;
        IF chk.problem IS NOT NULL THEN
            PERFORM dwc._security_event('api_key_invalid', 'warning', k.user_id::text,
                                        jsonb_build_object('prefix', left(split_part(key, '_', 2), 16),
                                                           'reason', chk.problem));
            RAISE SQLSTATE 'PT401' USING MESSAGE = 'invalid API key',
                HINT = 'The key is unknown, revoked or expired.';
        END IF;
        SELECT * INTO u FROM dwc.users WHERE id = k.user_id;
        IF u.status <> 'active' OR u.locked_until > now() THEN
            RAISE SQLSTATE 'PT403' USING MESSAGE = 'the account of this API key is disabled or locked';
        END IF;
        claims := jsonb_build_object('sub', u.id, 'role', u.role, 'username', u.username, 'dwc_auth', 'api_key',
                                     'key_id', k.id, 'scopes', to_jsonb(k.scopes));
        -- what dwc acts on; the claims are only for other readers, as PostgREST would set them
        PERFORM dwc._set_api_key_identity(u.id::text, u.role, k.scopes);
        PERFORM set_config('request.jwt.claims', claims::text, true);
        -- last use, at most once a minute and only where writing is possible (not in GET requests)
        IF (k.last_used_at IS NULL OR k.last_used_at < now() - interval '1 minute')
           AND current_setting('transaction_read_only') = 'off' THEN
            UPDATE dwc.api_keys SET last_used_at = now() WHERE id = k.id;
        END IF;
        v_kind := 'api_key';
        v_subject := k.id::text;
        role_name := u.role;
    ELSIF role_name IN ('dwc_user', 'dwc_admin') AND dwc.current_user_id() IS NOT NULL THEN
        v_kind := 'user';
        v_subject := dwc.current_user_id();
    ELSE
        v_kind := 'address';
        v_subject := coalesce(dwc.client_address(), 'unknown');
    END IF;

    SELECT * INTO lim FROM dwc.rate_limits r
     WHERE (r.subject_kind = v_kind AND r.subject = v_subject)
        OR (r.subject_kind = 'role' AND r.subject = role_name)
     ORDER BY r.subject_kind = 'role'
     LIMIT 1;
    IF FOUND THEN
        wait := dwc.rate_limit_take(v_kind || ':' || v_subject, lim.requests_per_second, lim.burst, 1);
        IF wait > 0 THEN
            PERFORM dwc._security_event('rate_limited', 'warning',
                                        CASE WHEN v_kind IN ('user', 'api_key') THEN coalesce(u.id::text, v_subject) END,
                                        jsonb_build_object('subject', v_kind || ':' || v_subject,
                                                           'limit_per_second', lim.requests_per_second,
                                                           'retry_after_seconds', round(wait::numeric, 3)));
            RAISE SQLSTATE 'PT429' USING MESSAGE = 'too many requests',
                DETAIL = format('The limit is %s requests per second (burst %s).', lim.requests_per_second, lim.burst),
                HINT = format('Retry in %s seconds.', ceil(wait * 1000) / 1000);
        END IF;
    END IF;
END;
$$;
SELECT dwc._declare_public('dwc._pre_request',
  'PostgREST''s db-pre-request: authenticates an X-API-Key header on anonymous requests (setting '
  'the claims: sub, role, scopes) and applies the rate limit of the key, the user or the client '
  'address; over the limit it raises PT429 (HTTP 429) and records a rate_limited event.');
GRANT EXECUTE ON FUNCTION dwc.pre_request() TO dwc_anon, dwc_user, dwc_admin;
REVOKE ALL ON FUNCTION dwc.pre_request() FROM PUBLIC;

REVOKE ALL ON FUNCTION dwc._valid_scope(pg_catalog.text) FROM PUBLIC;
