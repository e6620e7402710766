-- src/core/hooks.sql: named points where a lower subsystem lets a higher one act, so that
-- the lower one never names the higher one (see src/README.md, the layers): security asks
-- for account mail (a password reset) and notify, above it, answers.

-- API: Private (tables)

CREATE TABLE dwc.hooks (
    point pg_catalog.text PRIMARY KEY,
    handler pg_catalog.regprocedure NOT NULL
);
COMMENT ON TABLE dwc.hooks IS
  'Hook points and the function that handles each (one jsonb argument, a jsonb result), registered by '
  'the install script of the subsystem that handles it.';
REVOKE ALL ON dwc.hooks FROM PUBLIC;
-- code, written again by every install and upgrade: not dumped (sql/backup.sql), but a
-- subscription's copy meets the seeds
SELECT dwc._keep_seeds('dwc.hooks');

-- API: Private

CREATE FUNCTION dwc._call_hook(point pg_catalog.text, message pg_catalog.jsonb) RETURNS pg_catalog.jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    h regprocedure;
    result jsonb;
BEGIN
    SELECT k.handler INTO h FROM dwc.hooks k WHERE k.point = _call_hook.point;
    IF h IS NULL THEN
        RAISE EXCEPTION 'nothing handles the hook point "%"', point USING ERRCODE = 'feature_not_supported';
    END IF;
    EXECUTE format('SELECT %s($1)', h::oid::regproc) INTO result USING message;
    RETURN result;
END;
$$;
COMMENT ON FUNCTION dwc._call_hook(pg_catalog.text, pg_catalog.jsonb) IS
  'Private: calls the function registered for a hook point with message and returns its result; '
  'feature_not_supported when nothing is registered.';
