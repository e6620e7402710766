-- src/core/core.sql: the dwc schema, version and worker status, shared helpers.

CREATE SCHEMA dwc;
COMMENT ON SCHEMA dwc IS
  'dwc internals: tables and functions of the document workflow chain extension. '
  'Applications use the api schema; dwc is for administrators.';

-- API: Public

CREATE FUNCTION dwc.version()
RETURNS pg_catalog.text
LANGUAGE c STABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'dwc_version';
COMMENT ON FUNCTION dwc.version() IS
  'Version of the loaded dwc library (the SQL objects are pg_extension.extversion).';

CREATE FUNCTION dwc.status(
    OUT kind pg_catalog.text,
    OUT slot pg_catalog.int4,
    OUT pid pg_catalog.int4,
    OUT database pg_catalog.name,
    OUT started_at pg_catalog.timestamptz,
    OUT state pg_catalog.text)
RETURNS SETOF record
LANGUAGE c VOLATILE PARALLEL RESTRICTED
AS 'MODULE_PATHNAME', 'dwc_status';
COMMENT ON FUNCTION dwc.status() IS
  'One row per live dwc background worker (the launcher included): kind, slot (n-th worker '
  'of its kind in its database), pid, database, start time and current state. No rows when '
  'the library was not preloaded.';

CREATE TYPE dwc.http_response AS (
    status pg_catalog.int4,
    headers pg_catalog.jsonb,
    body pg_catalog.text,
    elapsed_ms pg_catalog.float8
);
COMMENT ON TYPE dwc.http_response IS 'Result of dwc.http(): status code, headers, body, time taken.';

CREATE FUNCTION dwc.http(
    method pg_catalog.text,
    url pg_catalog.text,
    headers pg_catalog.jsonb DEFAULT '{}'::pg_catalog.jsonb,
    body pg_catalog.text DEFAULT NULL,
    timeout_ms pg_catalog.int4 DEFAULT NULL)
RETURNS dwc.http_response
LANGUAGE c VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'dwc_http';
COMMENT ON FUNCTION dwc.http(pg_catalog.text, pg_catalog.text, pg_catalog.jsonb, pg_catalog.text, pg_catalog.int4) IS
  'Performs one HTTP request with dwc''s client (dwc.http_* limits, TLS verification on, '
  'http/https only) and returns status, headers and body; transport failures raise errors. '
  'Not granted to PUBLIC: it can reach any address the server can.';
REVOKE ALL ON FUNCTION dwc.http(pg_catalog.text, pg_catalog.text, pg_catalog.jsonb, pg_catalog.text, pg_catalog.int4) FROM PUBLIC;

-- API: Private

-- See core_end.sql: run last by the install script and by upgrade scripts.
CREATE FUNCTION dwc._close_private_functions() RETURNS pg_catalog.int4
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    f regprocedure;
    n int4 := 0;
BEGIN
    FOR f IN SELECT p.oid FROM pg_proc p
              WHERE p.pronamespace = 'dwc'::regnamespace AND p.proname LIKE '\_%' AND p.proacl IS NULL
    LOOP
        EXECUTE format('REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC', f);
        n := n + 1;
    END LOOP;
    RETURN n;
END;
$$;
COMMENT ON FUNCTION dwc._close_private_functions() IS
  'Private: revokes EXECUTE from PUBLIC on every private function (name starting with "_") still '
  'holding the default privileges; returns how many.';

CREATE FUNCTION dwc._startup_check()
RETURNS void
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'dwc__startup_check';
COMMENT ON FUNCTION dwc._startup_check() IS
  'Private: run by the install script; warns when background features are off and wakes the '
  'database''s workers at commit.';
REVOKE ALL ON FUNCTION dwc._startup_check() FROM PUBLIC;

CREATE FUNCTION dwc._jsonc_roundtrip(pg_catalog.jsonb)
RETURNS pg_catalog.jsonb
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'dwc__jsonc_roundtrip';
COMMENT ON FUNCTION dwc._jsonc_roundtrip(pg_catalog.jsonb) IS
  'Private, for tests: converts jsonb to json-c, to JSON text, back to json-c and to jsonb.';

CREATE FUNCTION dwc._jsonc_parse(pg_catalog.text)
RETURNS pg_catalog.jsonb
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'dwc__jsonc_parse';
COMMENT ON FUNCTION dwc._jsonc_parse(pg_catalog.text) IS
  'Private, for tests: parses JSON text with dwc''s strict json-c parser into jsonb.';

-- Restores (src/core/restore.c, docs/backup.md): a session with pg_dump's settings is loading
-- a dump; dwc's triggers then derive nothing from the rows it loads.
CREATE FUNCTION dwc._restoring() RETURNS pg_catalog.bool
LANGUAGE c STABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'dwc__restoring';
COMMENT ON FUNCTION dwc._restoring() IS
  'Private: is this session loading a dump (check_function_bodies and row_security both off, as '
  'pg_dump''s output sets them)? dwc''s triggers do nothing then.';
-- called by trigger functions, which run as whoever wrote the row
GRANT EXECUTE ON FUNCTION dwc._restoring() TO PUBLIC;

-- A table the install script seeds is dumped whole (a seeded row may have been changed, a
-- paused default queue, a changed rate limit); this trigger lets the dump's row take the
-- place of the seeded row of the same primary key instead of failing the whole COPY.
CREATE FUNCTION dwc._restore_seeded() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    cols text;
    key text;
    n int8;
BEGIN
    -- a dump loading, or a subscription copying the publisher's rows (its apply runs as replica)
    IF NOT (dwc._restoring() OR current_setting('session_replication_role') = 'replica') THEN
        RETURN NEW;
    END IF;
    SELECT string_agg(format('%1$I = ($1).%1$I', a.attname), ', ' ORDER BY a.attnum) INTO cols
      FROM pg_attribute a
     WHERE a.attrelid = TG_RELID AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
       AND a.attidentity <> 'a';     -- a key column, equal already
    SELECT string_agg(format('t.%1$I = ($1).%1$I', a.attname), ' AND ') INTO key
      FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
     WHERE i.indrelid = TG_RELID AND i.indisprimary;
    IF key IS NULL THEN
        RAISE EXCEPTION 'dwc._restore_seeded() needs a primary key on %', TG_RELID::regclass;
    END IF;
    EXECUTE format('UPDATE %s t SET %s WHERE %s', TG_RELID::regclass, cols, key) USING NEW;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n > 0 THEN
        RETURN NULL;
    END IF;
    RETURN NEW;
END;
$$;
COMMENT ON FUNCTION dwc._restore_seeded() IS
  'Private: BEFORE INSERT trigger of the tables the install script seeds; while a dump loads or a '
  'subscription copies rows (session_replication_role replica), a row whose primary key is seeded '
  'already replaces the seeded row.';

-- a seeded table keeps its seeds: the trigger above, firing also in a subscription's apply
CREATE FUNCTION dwc._keep_seeds(tab pg_catalog.regclass) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    EXECUTE format('CREATE TRIGGER restore_seeded BEFORE INSERT ON %s FOR EACH ROW EXECUTE FUNCTION dwc._restore_seeded()', tab);
    EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER restore_seeded', tab);
END;
$$;
COMMENT ON FUNCTION dwc._keep_seeds(pg_catalog.regclass) IS
  'Private: gives a table the install script seeds its restore_seeded trigger, enabled ALWAYS (a dump''s or a '
  'subscription''s row of a seeded key takes the seeded row''s place).';
