-- src/core/nodes.sql: what part this server plays in a Citus cluster (docs/scaling.md).

-- A Citus worker node holds shards and receives the coordinator's DDL inside a two-phase
-- commit: nothing there may NOTIFY (PostgreSQL refuses to PREPARE such a transaction), and
-- dwc's workers have nothing to run there (jobs, schedules and automations live on the
-- coordinator). Read at run time, so that dwc neither needs Citus nor breaks without it.
CREATE FUNCTION dwc._citus_worker() RETURNS pg_catalog.bool
LANGUAGE plpgsql STABLE AS $$
DECLARE
    g pg_catalog.int4;
BEGIN
    IF pg_catalog.to_regclass('pg_catalog.pg_dist_local_group') IS NULL THEN
        RETURN false;
    END IF;
    EXECUTE 'SELECT groupid FROM pg_catalog.pg_dist_local_group' INTO g;
    RETURN coalesce(g, 0) <> 0;
END $$;
COMMENT ON FUNCTION dwc._citus_worker() IS
  'Private: is this server a Citus worker node (a group other than the coordinator''s 0)? '
  'False without Citus.';

-- PostgREST reloads its schema cache on this notification (when it listens on pgrst); a
-- Citus worker serves no PostgREST and could not commit a NOTIFY sent by the coordinator's
-- DDL, so it stays silent there.
CREATE FUNCTION dwc._reload_postgrest() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT dwc._citus_worker() THEN
        PERFORM pg_catalog.pg_notify('pgrst', 'reload schema');
    END IF;
END $$;
COMMENT ON FUNCTION dwc._reload_postgrest() IS
  'Private: asks a listening PostgREST to reload its schema cache (NOTIFY pgrst), except on a '
  'Citus worker node, where DDL arrives in a two-phase commit that may not NOTIFY.';
