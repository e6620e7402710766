-- src/core/nodes.sql: what part this server plays in a Citus cluster (docs/scaling.md).

-- A Citus worker node holds shards and receives the coordinator's DDL inside a two-phase
-- commit: nothing there may NOTIFY (PostgreSQL refuses to PREPARE such a transaction), and
-- what dwc keeps (jobs, schedules, models, automations) is on the coordinator, not there.
-- Read at run time, so that dwc neither needs Citus nor breaks without it.
CREATE FUNCTION dwc._citus_worker() RETURNS pg_catalog.bool
LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'dwc__citus_worker';
COMMENT ON FUNCTION dwc._citus_worker() IS
  'Private: is this server a Citus worker node (a group other than the coordinator''s 0)? '
  'False without Citus. Kept for the transaction (the data-change trigger of a distributed table asks it per row).';

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

-- A Citus coordinator: the node that runs dwc's work and gathers what the worker nodes keep.
CREATE FUNCTION dwc._citus_coordinator() RETURNS pg_catalog.bool
LANGUAGE sql STABLE
RETURN pg_catalog.current_setting('citus.enable_unsafe_triggers', true) IS NOT NULL
       AND pg_catalog.to_regclass('pg_catalog.pg_dist_node') IS NOT NULL AND NOT dwc._citus_worker();
COMMENT ON FUNCTION dwc._citus_coordinator() IS
  'Private: is this server a Citus coordinator (Citus loaded, its extension here, not a worker node)?';

-- What Citus makes of a table: 'distributed' (sharded, also schema-based), 'reference'
-- (copied to every node), 'local' (a Citus-managed table of the coordinator), or NULL (a
-- plain table, or no Citus at all).
CREATE FUNCTION dwc._citus_table_type(t pg_catalog.regclass) RETURNS pg_catalog.text
LANGUAGE plpgsql STABLE AS $$
DECLARE
    kind pg_catalog.text;
BEGIN
    -- without Citus loaded (its settings absent), without a catalog lookup
    IF pg_catalog.current_setting('citus.enable_unsafe_triggers', true) IS NULL
       OR pg_catalog.to_regclass('pg_catalog.pg_dist_partition') IS NULL THEN
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
    IF NOT dwc._citus_coordinator() THEN
        RETURN;
    END IF;
    -- the maintenance worker calls this every second or less: a node that does not answer
    -- may hold it up for two seconds, not Citus's default thirty
    PERFORM pg_catalog.set_config('citus.node_connection_timeout', '2000', true);
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

-- ---- dwc's own tables on a Citus cluster ---------------------------------------------------

-- API: Private (tables)

-- The tables of dwc's that grow with use, and what Citus may make of them: each subsystem
-- says, beside its table, by which column it can be distributed and what must change first,
-- or why it must stay on the coordinator.
CREATE TABLE dwc.distributable_tables (
    table_name pg_catalog.regclass PRIMARY KEY,
    column_name pg_catalog.text,             -- the distribution column; NULL when refused
    prepare pg_catalog.text,                 -- SQL to run first (a key that includes the column)
    refused pg_catalog.text,                 -- why it stays on the coordinator
    CHECK ((column_name IS NULL) <> (refused IS NULL))
);
SELECT dwc._keep_seeds('dwc.distributable_tables');
COMMENT ON TABLE dwc.distributable_tables IS
  'dwc''s tables that grow with use: by which column dwc.distribute() spreads each over a Citus cluster''s '
  'worker nodes, or why it keeps one on the coordinator.';

-- API: Public

CREATE FUNCTION dwc.distribute(table_name pg_catalog.regclass DEFAULT NULL)
RETURNS TABLE (relation pg_catalog.regclass, distributed_by pg_catalog.text, outcome pg_catalog.text)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    d dwc.distributable_tables;
BEGIN
    IF NOT dwc._citus_coordinator() THEN
        RAISE EXCEPTION 'dwc.distribute() needs a Citus coordinator' USING ERRCODE = 'feature_not_supported',
            HINT = 'Run it on the coordinator of a Citus cluster, with the citus extension in this database.';
    END IF;
    IF distribute.table_name IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM dwc.distributable_tables t WHERE t.table_name = distribute.table_name) THEN
        RAISE EXCEPTION 'dwc does not distribute %', distribute.table_name USING ERRCODE = 'invalid_parameter_value',
            HINT = 'dwc.distributable_tables lists the tables it does, and why it keeps the others on the coordinator.';
    END IF;
    FOR d IN SELECT * FROM dwc.distributable_tables t
              WHERE distribute.table_name IS NULL OR t.table_name = distribute.table_name
              ORDER BY t.table_name::text LOOP
        relation := d.table_name;
        distributed_by := d.column_name;
        IF d.refused IS NOT NULL THEN
            IF distribute.table_name IS NOT NULL THEN
                RAISE EXCEPTION '% stays on the coordinator', d.table_name USING ERRCODE = 'feature_not_supported',
                    DETAIL = d.refused;
            END IF;
            outcome := 'stays on the coordinator: ' || d.refused;
        ELSIF dwc._citus_table_type(d.table_name) IS NOT NULL THEN
            outcome := 'already distributed';
        ELSE
            IF d.prepare IS NOT NULL THEN
                EXECUTE d.prepare;
            END IF;
            -- dwc's own triggers go onto the shards: each says what it does on a worker node
            PERFORM set_config('citus.enable_unsafe_triggers', 'on', true);
            EXECUTE 'SELECT pg_catalog.create_distributed_table($1, $2)' USING d.table_name, d.column_name;
            -- the rows were copied into the shards; the coordinator's copy goes
            EXECUTE 'SELECT pg_catalog.truncate_local_data_after_distributing_table($1)' USING d.table_name;
            outcome := 'distributed';
        END IF;
        RETURN NEXT;
    END LOOP;
END;
$$;
COMMENT ON FUNCTION dwc.distribute(pg_catalog.regclass) IS
  'On a Citus coordinator: spreads dwc''s tables that grow with use (or the one named) over the worker nodes, '
  'each by the column dwc.distributable_tables gives, its rows moved into the shards; says for each whether it was '
  'distributed, already was, or stays on the coordinator and why. Superusers only (docs/scaling.md).';
REVOKE ALL ON FUNCTION dwc.distribute(pg_catalog.regclass) FROM PUBLIC;
