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

-- What Citus makes of a table: 'distributed' (sharded, also schema-based), 'reference'
-- (copied to every node), 'local' (a Citus-managed table of the coordinator), or NULL (a
-- plain table, or no Citus at all).
CREATE FUNCTION dwc._citus_table_type(t pg_catalog.regclass) RETURNS pg_catalog.text
LANGUAGE plpgsql STABLE AS $$
DECLARE
    kind pg_catalog.text;
BEGIN
    IF pg_catalog.to_regclass('pg_catalog.pg_dist_partition') IS NULL THEN
        RETURN NULL;
    END IF;
    EXECUTE 'SELECT CASE WHEN partkey IS NOT NULL THEN ''distributed'' WHEN repmodel = ''t'' THEN ''reference'' '
            '            WHEN colocationid = 0 THEN ''local'' ELSE ''distributed'' END '
            'FROM pg_catalog.pg_dist_partition WHERE logicalrelid = $1' INTO kind USING t;
    RETURN kind;
END $$;
COMMENT ON FUNCTION dwc._citus_table_type(pg_catalog.regclass) IS
  'Private: what Citus makes of a table: distributed, reference, local (Citus-managed on the coordinator), '
  'or NULL (a plain table, or no Citus).';

-- A command on every worker node, each in a transaction of its own, from the coordinator;
-- a node that cannot be reached answers ok = false with the error as its result.
CREATE FUNCTION dwc._on_citus_workers(command pg_catalog.text)
RETURNS TABLE (groupid pg_catalog.int4, ok pg_catalog.bool, result pg_catalog.text)
LANGUAGE plpgsql AS $$
BEGIN
    IF pg_catalog.to_regclass('pg_catalog.pg_dist_node') IS NULL OR dwc._citus_worker() THEN
        RETURN;
    END IF;
    RETURN QUERY EXECUTE
        'SELECT n.groupid, r.success, r.result '
        'FROM pg_catalog.run_command_on_workers($1) r '
        'JOIN pg_catalog.pg_dist_node n ON n.nodename = r.nodename AND n.nodeport = r.nodeport '
        'WHERE n.noderole = ''primary'' AND n.isactive'
        USING command;
END $$;
COMMENT ON FUNCTION dwc._on_citus_workers(pg_catalog.text) IS
  'Private: runs a command on every active primary worker node of a Citus coordinator (run_command_on_workers) '
  'and returns each node''s group, success and one-value result; no rows without Citus or on a worker node.';
