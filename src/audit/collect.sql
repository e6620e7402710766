-- src/audit/collect.sql: the audit rows of a Citus cluster's worker nodes, copied into the
-- coordinator's trail (docs/scaling.md).
--
-- A distributed table's audit triggers fire on the worker nodes that hold its shards, and
-- write there; each node's maintenance worker seals its own rows into its own chain. The
-- coordinator's maintenance worker then copies the rows of sealed batches, a batch at a time
-- per node, into its own audit_log, where its chain seals them again and every report reads
-- them. A node's cursor moves in the same transaction as the copies, so a row is copied once.

-- API: Private (tables)

CREATE TABLE dwc.audit_node_cursors (
    groupid pg_catalog.int4 PRIMARY KEY,      -- the worker node's Citus group
    batch pg_catalog.int8 NOT NULL,           -- its last seal whose rows are copied
    copied pg_catalog.int8 NOT NULL DEFAULT 0,
    copied_at pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE dwc.audit_node_cursors IS
  'On a Citus coordinator: for each worker node, the last of its audit seals whose rows of distributed '
  'tables are copied into this node''s audit log, and how many rows so far.';
SELECT pg_catalog.pg_extension_config_dump('dwc.audit_node_cursors', '');

-- API: Private

-- On a worker node: the sealed audit rows of distributed tables in the next seals after the
-- coordinator's cursor for this node, in chain order (what the node wrote of its own, such
-- as its install script's, stays on it).
CREATE FUNCTION dwc._audit_export(cursors pg_catalog.jsonb, max_batches pg_catalog.int4) RETURNS pg_catalog.jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    me int4;
    after int8;
    last int8;
    more bool;
    rows jsonb;
    citus_tables text[];
BEGIN
    EXECUTE 'SELECT groupid FROM pg_catalog.pg_dist_local_group' INTO me;
    -- named as audit rows name tables: schema.table, unquoted
    EXECUTE 'SELECT array_agg(n.nspname || ''.'' || c.relname) FROM pg_catalog.pg_dist_partition p '
            'JOIN pg_catalog.pg_class c ON c.oid = p.logicalrelid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace'
       INTO citus_tables;
    after := coalesce((cursors ->> me::text)::int8, 0);
    SELECT max(s.batch) INTO last
      FROM (SELECT batch FROM dwc.audit_seal WHERE batch > after ORDER BY batch LIMIT max_batches) s;
    IF last IS NULL THEN
        RETURN jsonb_build_object('batch', after, 'rows', '[]'::jsonb, 'more', false);
    END IF;
    more := EXISTS (SELECT 1 FROM dwc.audit_seal WHERE batch > last);
    SELECT coalesce(jsonb_agg(to_jsonb(a) - 'id' - 'txid' ORDER BY a.txid, a.id), '[]') INTO rows
      FROM dwc.audit_seal s
      JOIN dwc.audit_log a ON (a.txid, a.id) >= (s.first_txid, s.first_id) AND (a.txid, a.id) <= (s.last_txid, s.last_id)
     WHERE s.batch > after AND s.batch <= last
       AND a.id = ANY (s.audit_ids)
       AND a.table_name = ANY (citus_tables);
    RETURN jsonb_build_object('batch', last, 'rows', rows, 'more', more);
END;
$$;
COMMENT ON FUNCTION dwc._audit_export(pg_catalog.jsonb, pg_catalog.int4) IS
  'Private: on a Citus worker node, {batch, rows, more}: the audit rows of distributed tables in at most '
  'max_batches seals after this node''s cursor in cursors ({"<group>": batch}), in chain order; batch is the '
  'last seal read, more whether newer seals wait.';

-- On the coordinator, from the maintenance worker: a batch of every worker node's sealed rows
-- into this node's audit log. Returns whether a node has more waiting.
CREATE FUNCTION dwc._audit_collect_nodes() RETURNS pg_catalog.bool
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    seals jsonb;                 -- {"<group>": the last seal copied}
    node record;
    sealed jsonb;                -- a node's answer: {batch, rows, more}
    added int8;
    waiting bool := false;
BEGIN
    IF NOT dwc._citus_coordinator()
       OR NOT EXISTS (SELECT 1 FROM dwc.audited_tables t WHERE dwc._citus_table_type(t.table_name) = 'distributed') THEN
        RETURN false;
    END IF;
    SELECT coalesce(jsonb_object_agg(c.groupid::text, c.batch), '{}') INTO seals FROM dwc.audit_node_cursors c;
    FOR node IN SELECT * FROM dwc._on_citus_workers(format('SELECT dwc._audit_export(%L, 1)', seals)) LOOP
        CONTINUE WHEN NOT node.ok;      -- a node out of reach: its rows wait on it, sealed
        sealed := node.result::jsonb;
        INSERT INTO dwc.audit_log (at, actor_user, actor_role, action, table_name, row_key, old_values, new_values,
                                   client_addr, request_path)
        SELECT x.at, x.actor_user, x.actor_role, x.action, x.table_name, x.row_key, x.old_values, x.new_values,
               x.client_addr, x.request_path
          FROM jsonb_populate_recordset(NULL::dwc.audit_log, sealed -> 'rows') WITH ORDINALITY x
         ORDER BY x.ordinality;
        GET DIAGNOSTICS added = ROW_COUNT;
        INSERT INTO dwc.audit_node_cursors AS c (groupid, batch, copied)
        VALUES (node.groupid, (sealed ->> 'batch')::int8, added)
        ON CONFLICT (groupid) DO UPDATE
           SET batch = excluded.batch, copied = c.copied + excluded.copied, copied_at = now();
        waiting := waiting OR (sealed ->> 'more')::bool;
    END LOOP;
    RETURN waiting;
END;
$$;
COMMENT ON FUNCTION dwc._audit_collect_nodes() IS
  'Private: on a Citus coordinator auditing distributed tables, copies the next sealed batch of each worker '
  'node''s audit rows of distributed tables into this node''s audit log (run by the maintenance worker); '
  'returns whether some node has more waiting.';
