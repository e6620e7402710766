-- src/api/http.sql: the HTTP face, put together at the end of the install script: the api
-- functions themselves, generated from the rules declared beside their targets (dwc.api_access,
-- src/security/http_access.sql), and their grants. See docs/http.md.

-- API: Private

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
       AND NOT EXISTS (SELECT 1 FROM dwc.api_access a WHERE a.name = p.proname AND NOT a.direct);
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'api functions without an access rule: %', missing;
    END IF;
    -- a rule names one target: the body api_impl.<name>, or (direct) the function dwc.<name>
    SELECT string_agg(a.name, ', ') INTO missing FROM dwc.api_access a
     WHERE (SELECT count(*) FROM pg_proc p
             WHERE p.proname = a.name
               AND p.pronamespace = CASE WHEN a.direct THEN 'dwc' ELSE 'api_impl' END::regnamespace) <> 1;
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'api access rules without exactly one function to serve: %', missing;
    END IF;
    FOR f IN SELECT p.oid, p.proname, pg_get_function_arguments(p.oid) AS args,
                    pg_get_function_identity_arguments(p.oid) AS idargs,
                    pg_get_function_result(p.oid) AS result, p.provolatile, p.proretset,
                    p.prosecdef OR p.prosrc = 'dwc_trampoline' AS as_caller_checked,
                    CASE WHEN a.direct THEN coalesce(a.route || ': ', '') ELSE '' END
                        || obj_description(p.oid, 'pg_proc') AS descr,
                    a.access, a.direct
               FROM dwc.api_access a
               JOIN pg_proc p ON p.proname = a.name
                AND p.pronamespace = CASE WHEN a.direct THEN 'dwc' ELSE 'api_impl' END::regnamespace
    LOOP
        -- administrators' targets read dwc's private tables: a dwc function served directly
        -- must check its caller itself (a trampoline, or SECURITY DEFINER)
        IF f.direct AND f.access = 'admin' AND NOT f.as_caller_checked THEN
            RAISE EXCEPTION 'dwc.% is served to administrators directly but is neither a trampoline nor SECURITY DEFINER',
                f.proname;
        END IF;
        -- a set-returning target makes a set-returning wrapper (a list endpoint PostgREST can
        -- filter, order, page and count); the wrapper hands its ReturnSetInfo to the target
        EXECUTE format('CREATE FUNCTION api.%I(%s) RETURNS %s LANGUAGE c %s AS %L, %L',
                       f.proname, f.args, f.result,
                       CASE f.provolatile WHEN 'i' THEN 'IMMUTABLE' WHEN 's' THEN 'STABLE' ELSE 'VOLATILE' END,
                       'MODULE_PATHNAME', 'dwc_api_call');
        EXECUTE format('COMMENT ON FUNCTION api.%I(%s) IS %L', f.proname, f.idargs, f.descr);
        EXECUTE format('REVOKE ALL ON FUNCTION api.%I(%s) FROM PUBLIC', f.proname, f.idargs);
        IF NOT f.direct THEN
            EXECUTE format('REVOKE ALL ON FUNCTION api_impl.%I(%s) FROM PUBLIC', f.proname, f.idargs);
            -- administrators' bodies read and change dwc's private tables (audit log, users,
            -- rate limits), which no web role holds privileges on: they run as the extension's
            -- owner, reachable only through wrappers granted to dwc_admin that check the role again
            IF f.access = 'admin' THEN
                EXECUTE format('ALTER FUNCTION api_impl.%I(%s) SECURITY DEFINER', f.proname, f.idargs);
            END IF;
        END IF;
        EXECUTE format('GRANT EXECUTE ON FUNCTION api.%I(%s) TO %s', f.proname, f.idargs,
                       CASE f.access WHEN 'anon' THEN 'dwc_anon, dwc_user'
                                     WHEN 'user' THEN 'dwc_anon, dwc_user'   -- anon: API keys
                                     ELSE 'dwc_admin' END);
    END LOOP;
END;
$$;
COMMENT ON FUNCTION dwc._generate_api() IS
  'Private: (re)creates every api function from its rule in dwc.api_access and its target: the body '
  'api_impl.<name>, or the function dwc.<name> the rule serves directly (install and upgrade scripts).';
SELECT dwc._generate_api();
-- every subsystem's trampolines are in place: their private halves closed and documented
SELECT dwc._close_trampoline_halves();
GRANT USAGE ON SCHEMA api TO dwc_anon, dwc_user, dwc_admin;
-- the bodies run as the caller (administrators' as the owner, above); their EXECUTE stays
-- revoked (the wrappers call them through fmgr)
GRANT USAGE ON SCHEMA api_impl TO dwc_anon, dwc_user, dwc_admin;

-- job kinds are audited from here on: the subsystems' own kinds, registered by this
-- script, are not changes
SELECT dwc.audit_table('dwc.job_kinds');

-- a running PostgREST picks up the new functions at once (src/core/nodes.sql)
SELECT dwc._reload_postgrest();
