-- src/security/http_access.sql: who may call each function of the HTTP face (schema api), and
-- with which API-key scope group. Each subsystem declares its rules beside the functions they
-- serve; src/api/http.sql makes the api functions from them at the end of the install script.

-- API: Private

CREATE TABLE dwc.api_access (
    name pg_catalog.text PRIMARY KEY,
    access pg_catalog.text NOT NULL CHECK (access IN ('anon', 'user', 'admin')),
    grp pg_catalog.text NOT NULL,
    -- the api function calls dwc.<name> (same signature) rather than a body api_impl.<name>
    direct pg_catalog.bool NOT NULL DEFAULT false,
    route pg_catalog.text
);
COMMENT ON TABLE dwc.api_access IS
  'Who may call each api function: anon (anyone), user (a signed-in user or an API key with the '
  'group''s scope), admin (dwc_admin); its scope group for API keys; whether it serves dwc.<name> '
  'directly (direct) or its body in api_impl; and the seed''s route it stands for.';
GRANT SELECT ON dwc.api_access TO dwc_anon, dwc_user, dwc_admin;
SELECT dwc._keep_seeds('dwc.api_access');

-- A function of the HTTP face is declared once, beside it: a body in api_impl (arguments or
-- results reshaped for HTTP), or a dwc function served as it is; its comment and its rule.
CREATE FUNCTION dwc._declare_http(target pg_catalog.text, comment pg_catalog.text, access pg_catalog.text,
                                  grp pg_catalog.text, route pg_catalog.text DEFAULT NULL)
RETURNS pg_catalog.regprocedure
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    fn regprocedure := dwc._function_named(target);
    p pg_proc := (SELECT x FROM pg_proc x WHERE x.oid = fn);
    schema text := p.pronamespace::regnamespace::text;
BEGIN
    IF schema NOT IN ('api_impl', 'dwc') OR left(p.proname, 1) = '_' THEN
        RAISE EXCEPTION '% is neither a body in api_impl nor a public dwc function', fn
            USING ERRCODE = 'invalid_function_definition';
    END IF;
    IF comment IS NOT NULL THEN
        EXECUTE format('COMMENT ON FUNCTION %s IS %L', fn, comment);
    END IF;
    INSERT INTO dwc.api_access (name, access, grp, direct, route)
         VALUES (p.proname, access, grp, schema = 'dwc', route);
    RETURN fn;
END;
$$;
COMMENT ON FUNCTION dwc._declare_http(pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.text,
                                      pg_catalog.text) IS
  'Private: declares a function of the HTTP face (a body api_impl.<name>, or dwc.<name> served as it is; a '
  'name, or a signature for overloads): its comment, and its row in dwc.api_access (access anon, user or '
  'admin; the API-key scope group; the seed''s route). Returns the function.';
