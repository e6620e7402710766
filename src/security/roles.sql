-- src/security/roles.sql: the roles of the HTTP face (PostgREST) and who the caller is.
-- See docs/security.md.

-- Roles are objects of the cluster, not of a database: the install script creates the
-- three NOLOGIN roles if they do not exist yet (every database with dwc shares them), and
-- leaves them behind on DROP EXTENSION. The LOGIN role that PostgREST connects as holds a
-- password and is an administrator's decision: dwc.create_authenticator() makes it.
CREATE FUNCTION dwc._ensure_roles() RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['dwc_anon', 'dwc_user', 'dwc_admin'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = r) THEN
            EXECUTE format('CREATE ROLE %I NOLOGIN', r);
        END IF;
    END LOOP;
    -- administrators can do what users can
    IF NOT pg_catalog.pg_has_role('dwc_admin', 'dwc_user', 'MEMBER') THEN
        GRANT dwc_user TO dwc_admin;
    END IF;
END;
$$;
COMMENT ON FUNCTION dwc._ensure_roles() IS
  'Private: creates the roles dwc_anon, dwc_user and dwc_admin when missing (install and upgrade scripts).';
SELECT dwc._ensure_roles();
COMMENT ON ROLE dwc_anon IS 'dwc: PostgREST''s anonymous role (requests without a token).';
COMMENT ON ROLE dwc_user IS 'dwc: role of signed-in users (PostgREST switches to it from the token''s role claim).';
COMMENT ON ROLE dwc_admin IS 'dwc: role of administrators; has dwc_user''s rights too.';

GRANT USAGE ON SCHEMA dwc TO dwc_anon, dwc_user, dwc_admin;

-- API: Private

-- The private halves of trampoline functions (src/security/trampoline.c): not executable by
-- PUBLIC, and documented as what they are. Run at the end of the install script and of
-- upgrades (src/api/http.sql), so that no subsystem keeps a list of its halves: a half
-- is found from its stub as the trampoline finds it ("_" || name, or "_<schema>_<name>", with
-- the caller's OID and the stub's arguments).
CREATE FUNCTION dwc._close_trampoline_halves() RETURNS pg_catalog.int4
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    half regprocedure;
    n int4 := 0;
BEGIN
    FOR half IN
        SELECT to_regprocedure(format('dwc.%I(%s)',
                   CASE WHEN s.pronamespace = 'dwc'::regnamespace THEN '_' || s.proname
                        ELSE '_' || s.pronamespace::regnamespace::text || '_' || s.proname END,
                   array_to_string('oid'::text || array(SELECT format_type(t, NULL) FROM unnest(s.proargtypes) t), ', ')))
          FROM pg_proc s
         WHERE s.prosrc = 'dwc_trampoline' AND s.prolang = (SELECT oid FROM pg_language WHERE lanname = 'c')
    LOOP
        CONTINUE WHEN half IS NULL;     -- the privileges suite reports a stub without its half
        EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', half);
        IF obj_description(half, 'pg_proc') IS NULL THEN
            EXECUTE format('COMMENT ON FUNCTION %s IS %L', half,
                           'Private: body of the public function of the same name without "_", called '
                           'through the trampoline with the caller''s OID as first argument.');
        END IF;
        n := n + 1;
    END LOOP;
    RETURN n;
END;
$$;
COMMENT ON FUNCTION dwc._close_trampoline_halves() IS
  'Private: revokes EXECUTE from PUBLIC on the private half of every trampoline stub and documents '
  'the halves without a comment; returns how many halves (install and upgrade scripts).';

-- The function a declaration names: a name, or a signature where the name has overloads.
CREATE FUNCTION dwc._function_named(name pg_catalog.text) RETURNS pg_catalog.regprocedure
LANGUAGE sql STABLE STRICT
SET search_path = pg_catalog, pg_temp
RETURN CASE WHEN strpos(name, '(') > 0 THEN name::regprocedure ELSE name::regproc::oid::regprocedure END;
COMMENT ON FUNCTION dwc._function_named(pg_catalog.text) IS
  'Private: the function a name (unique among its overloads) or a signature names, for the declarations '
  'dwc._declare_public and dwc._declare_http.';

-- A public function is declared once, as its private half: the SECURITY DEFINER body that
-- takes the caller first, then the public arguments with their defaults. This makes the
-- public stub from it (src/security/trampoline.c): dwc._cancel_job(caller, job_id) gives
-- dwc.cancel_job(job_id), with the half's result, volatility, strictness and parallel
-- safety, and the comment given; with an access rule (access, grp, route) the function is
-- served over HTTP as it is (its dwc.api_access row). Grants other than the default follow
-- the call, beside the half. A reader whose half must see what the same statement wrote
-- (so is volatile) may still be declared stable.
CREATE FUNCTION dwc._declare_public(private pg_catalog.text, comment pg_catalog.text DEFAULT NULL,
                                    volatility pg_catalog.text DEFAULT NULL, access pg_catalog.text DEFAULT NULL,
                                    grp pg_catalog.text DEFAULT NULL, route pg_catalog.text DEFAULT NULL)
RETURNS pg_catalog.regprocedure
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    half regprocedure := dwc._function_named(private);
    p pg_proc := (SELECT x FROM pg_proc x WHERE x.oid = half);
    public text := 'dwc.' || quote_ident(substr(p.proname, 2));
    args text := pg_get_function_arguments(half);
    stub regprocedure;
BEGIN
    IF p.pronamespace <> 'dwc'::regnamespace OR left(p.proname, 1) <> '_' OR p.pronargs < 1
       OR p.proargtypes[0] <> 'oid'::regtype OR p.proargnames[1] IS DISTINCT FROM 'caller' OR NOT p.prosecdef THEN
        RAISE EXCEPTION '% is not a private half: dwc._<name>(caller oid, ...) SECURITY DEFINER', half
            USING ERRCODE = 'invalid_function_definition';
    END IF;
    IF volatility IS NOT NULL AND volatility NOT IN ('immutable', 'stable', 'volatile') THEN
        RAISE EXCEPTION 'volatility is immutable, stable or volatile, not %', volatility
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF (access IS NULL) <> (grp IS NULL) OR (route IS NOT NULL AND access IS NULL) THEN
        RAISE EXCEPTION 'an HTTP access rule of % needs access and grp (route is optional)', half
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    EXECUTE format('CREATE OR REPLACE FUNCTION %s(%s) RETURNS %s LANGUAGE c %s %s PARALLEL %s AS %L, %L',
                   public, regexp_replace(args, '^caller oid(, )?', ''), pg_get_function_result(half),
                   coalesce(upper(volatility),
                            CASE p.provolatile WHEN 'i' THEN 'IMMUTABLE' WHEN 's' THEN 'STABLE' ELSE 'VOLATILE' END),
                   CASE WHEN p.proisstrict THEN 'STRICT' ELSE 'CALLED ON NULL INPUT' END,
                   CASE p.proparallel WHEN 's' THEN 'SAFE' WHEN 'r' THEN 'RESTRICTED' ELSE 'UNSAFE' END,
                   'MODULE_PATHNAME', 'dwc_trampoline');
    stub := to_regprocedure(format('%s(%s)', public,
                                   array_to_string(array(SELECT format_type(t, NULL)
                                                           FROM unnest(p.proargtypes[1:]) t), ', ')));
    IF comment IS NOT NULL THEN
        EXECUTE format('COMMENT ON FUNCTION %s IS %L', stub, comment);
    END IF;
    IF access IS NOT NULL THEN
        PERFORM dwc._declare_http(stub::text, NULL, access, grp, route);
    END IF;
    RETURN stub;
END;
$$;
COMMENT ON FUNCTION dwc._declare_public(pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.text,
                                        pg_catalog.text, pg_catalog.text) IS
  'Private: makes the public trampoline stub dwc.<name> of the private half dwc._<name>(caller oid, ...) '
  '(a name, or a signature for overloads): its arguments but the caller, with their defaults; its result, '
  'strictness, parallel safety and volatility (unless given); its comment; with access (anon, user or '
  'admin), grp (the API-key scope group) and route, its row in dwc.api_access, served over HTTP as it is. '
  'Returns the stub.';

-- API: Public

CREATE FUNCTION dwc.create_authenticator(name pg_catalog.text DEFAULT 'dwc_authenticator',
                                         password pg_catalog.text DEFAULT NULL)
RETURNS pg_catalog.text
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF name !~ '^[a-z_][a-z0-9_]{0,62}$' THEN
        RAISE EXCEPTION 'invalid role name "%"', name USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Lower-case letters, digits and _.';
    END IF;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = name) THEN
        EXECUTE format('ALTER ROLE %I LOGIN NOINHERIT', name);
    ELSE
        EXECUTE format('CREATE ROLE %I LOGIN NOINHERIT', name);
    END IF;
    IF password IS NOT NULL THEN
        EXECUTE format('ALTER ROLE %I PASSWORD %L', name, password);
    END IF;
    EXECUTE format('GRANT dwc_anon, dwc_user, dwc_admin TO %I', name);
    RETURN name;
END;
$$;
COMMENT ON FUNCTION dwc.create_authenticator(pg_catalog.text, pg_catalog.text) IS
  'Creates (or fixes) the LOGIN NOINHERIT role PostgREST connects as, able to switch to '
  'dwc_anon, dwc_user and dwc_admin. Prefer setting its password from a client that does not '
  'log statements (ALTER ROLE ... PASSWORD). Administrators only.';
REVOKE ALL ON FUNCTION dwc.create_authenticator(pg_catalog.text, pg_catalog.text) FROM PUBLIC;

CREATE FUNCTION dwc.current_user_id() RETURNS pg_catalog.text
LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'dwc_current_user_id';
COMMENT ON FUNCTION dwc.current_user_id() IS
  'The dwc user (id) the current request acts for, or NULL: for a job, the user recorded when it '
  'was enqueued; for an API-key request, the key''s user; otherwise the sub of the request''s '
  'bearer token (request.headers), whose signature dwc verifies and whose role claim must be the '
  'session''s role. Never read from request.jwt.claims, which any SQL can set.';

CREATE FUNCTION dwc.current_scopes() RETURNS pg_catalog.text[]
LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'dwc_current_scopes';
COMMENT ON FUNCTION dwc.current_scopes() IS
  'The API-key scopes the current request acts under, or NULL when it is not an API-key request: '
  'for a job, those of the key it was made through (directly, or by a schedule, automation or '
  'workflow run made through the key). What a key may not call directly, its work may not call either.';

CREATE FUNCTION dwc._require_scope(grp pg_catalog.text, what pg_catalog.text) RETURNS void
LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'dwc__require_scope';
COMMENT ON FUNCTION dwc._require_scope(pg_catalog.text, pg_catalog.text) IS
  'Private: raises insufficient_privilege ("this API key may not <what>") unless the current request '
  'or job may reach the scope group grp (always, when it is not under an API key''s scopes).';
-- called by handlers that run as the job's role; it can only refuse
GRANT EXECUTE ON FUNCTION dwc._require_scope(pg_catalog.text, pg_catalog.text) TO PUBLIC;

CREATE FUNCTION dwc._set_api_key_identity(user_id pg_catalog.text, role pg_catalog.text,
                                          scopes pg_catalog.text[]) RETURNS void
LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'dwc__set_api_key_identity';
COMMENT ON FUNCTION dwc._set_api_key_identity(pg_catalog.text, pg_catalog.text, pg_catalog.text[]) IS
  'Private: records, for the rest of the transaction, that this anonymous request acts for the user '
  'of the API key dwc._pre_request() has just checked. Refused inside jobs.';
REVOKE ALL ON FUNCTION dwc._set_api_key_identity(pg_catalog.text, pg_catalog.text, pg_catalog.text[]) FROM PUBLIC;

CREATE FUNCTION dwc.current_user_role() RETURNS pg_catalog.text
LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'dwc_current_user_role';
COMMENT ON FUNCTION dwc.current_user_role() IS
  'The role the current request acts as: the session role, or for requests authenticated by '
  'an API key, the role of the key''s user.';

CREATE FUNCTION dwc.is_admin() RETURNS pg_catalog.bool
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN coalesce((SELECT rolsuper FROM pg_roles WHERE rolname = dwc.current_user_role()), false)
    OR pg_has_role(dwc.current_user_role(), 'dwc_admin', 'USAGE');
COMMENT ON FUNCTION dwc.is_admin() IS 'Whether the current request acts as an administrator (dwc_admin or a superuser).';
