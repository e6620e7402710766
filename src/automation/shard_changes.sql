-- src/automation/shard_changes.sql: data-change automations on Citus distributed tables
-- (docs/scaling.md).
--
-- The watching trigger fires on the worker node that holds the changed row's shard, where
-- no automation is defined: it keeps the change there, in dwc.shard_changes. The
-- coordinator's maintenance worker collects the changes of finished transactions from every
-- worker node, in (transaction, id) order, and fires the automations, moving its cursor for
-- the node in the same transaction: each change fires once. The node forgets a change once
-- the coordinator's cursor has passed it.

-- API: Private (tables)

CREATE SEQUENCE dwc.shard_changes_id_seq;
CREATE TABLE dwc.shard_changes (
    id pg_catalog.int8 NOT NULL DEFAULT pg_catalog.nextval('dwc.shard_changes_id_seq'),
    txid pg_catalog.int8 NOT NULL DEFAULT (pg_catalog.pg_current_xact_id()::pg_catalog.text::pg_catalog.int8),
    automation_id pg_catalog.int8 NOT NULL,
    data pg_catalog.jsonb NOT NULL,
    at pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (txid, id)
);
COMMENT ON TABLE dwc.shard_changes IS
  'On a Citus worker node: changes of distributed tables watched by data-change automations, kept until the '
  'coordinator has fired them.';
ALTER SEQUENCE dwc.shard_changes_id_seq OWNED BY dwc.shard_changes.id;
SELECT pg_catalog.pg_extension_config_dump('dwc.shard_changes', '');
SELECT pg_catalog.pg_extension_config_dump('dwc.shard_changes_id_seq', '');

CREATE TABLE dwc.shard_change_cursors (
    groupid pg_catalog.int4 PRIMARY KEY,      -- the worker node's Citus group
    txid pg_catalog.int8 NOT NULL,            -- the last change fired, by (txid, id)
    id pg_catalog.int8 NOT NULL,
    fired pg_catalog.int8 NOT NULL DEFAULT 0,
    fired_at pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE dwc.shard_change_cursors IS
  'On a Citus coordinator: for each worker node, the last of its kept changes whose automations have fired, '
  'and how many so far.';
SELECT pg_catalog.pg_extension_config_dump('dwc.shard_change_cursors', '');

-- API: Private

-- On a worker node: forgets the changes the coordinator has fired (up to its cursor for this
-- node), and returns the next ones of finished transactions: a transaction older than the
-- snapshot's xmin adds no change any more, and every later one has a greater txid.
CREATE FUNCTION dwc._shard_changes_export(cursors pg_catalog.jsonb, max_rows pg_catalog.int4)
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    me int4;
    c jsonb;
    after_txid int8;
    after_id int8;
    horizon int8 := pg_snapshot_xmin(pg_current_snapshot())::text::int8;
    rows jsonb;
    n int4;
BEGIN
    EXECUTE 'SELECT groupid FROM pg_catalog.pg_dist_local_group' INTO me;
    c := cursors -> me::text;
    after_txid := coalesce((c ->> 0)::int8, 0);
    after_id := coalesce((c ->> 1)::int8, 0);
    DELETE FROM dwc.shard_changes s WHERE (s.txid, s.id) <= (after_txid, after_id);
    SELECT coalesce(jsonb_agg(jsonb_build_object('txid', s.txid, 'id', s.id, 'automation_id', s.automation_id,
                                                 'data', s.data) ORDER BY s.txid, s.id), '[]'), count(*)
      INTO rows, n
      FROM (SELECT * FROM dwc.shard_changes s
             WHERE (s.txid, s.id) > (after_txid, after_id) AND s.txid < horizon
             ORDER BY s.txid, s.id LIMIT max_rows) s;
    RETURN jsonb_build_object('rows', rows, 'more', n = max_rows);
END;
$$;
COMMENT ON FUNCTION dwc._shard_changes_export(pg_catalog.jsonb, pg_catalog.int4) IS
  'Private: on a Citus worker node, forgets the kept changes up to the coordinator''s cursor for this node in '
  'cursors ({"<group>": [txid, id]}) and returns {rows, more}: at most max_rows next changes of finished '
  'transactions, in (txid, id) order.';

-- On the coordinator, from the maintenance worker: every worker node's next changes, each
-- firing its automation if it is enabled and its conditions hold, at the depth of the run
-- that made the change (a loop of automations stops across nodes too). Returns whether a
-- node has more waiting.
CREATE FUNCTION dwc._automation_collect_nodes() RETURNS pg_catalog.bool
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    cursors jsonb;
    r record;
    got jsonb;
    ch jsonb;
    a dwc.automations;
    n int8;
    more bool := false;
BEGIN
    IF NOT dwc._citus_coordinator() OR NOT EXISTS (SELECT 1 FROM dwc.automations WHERE trigger_type = 'data_change') THEN
        RETURN false;
    END IF;
    SELECT coalesce(jsonb_object_agg(c.groupid::text, jsonb_build_array(c.txid, c.id)), '{}') INTO cursors
      FROM dwc.shard_change_cursors c;
    FOR r IN SELECT * FROM dwc._on_citus_workers(format('SELECT dwc._shard_changes_export(%L, 1000)', cursors)) LOOP
        CONTINUE WHEN NOT r.ok;      -- a node out of reach: its changes wait on it
        got := r.result::jsonb;
        CONTINUE WHEN jsonb_array_length(got -> 'rows') = 0;
        n := 0;
        FOR ch IN SELECT x FROM jsonb_array_elements(got -> 'rows') x LOOP
            SELECT * INTO a FROM dwc.automations WHERE id = (ch ->> 'automation_id')::int8 AND enabled;
            IF a.id IS NOT NULL AND dwc.condition_matches(a.conditions, (ch -> 'data') - 'depth') THEN
                PERFORM set_config('dwc.automation_depth', coalesce(ch -> 'data' ->> 'depth', '0'), true);
                PERFORM dwc._automation_fire(a, (ch -> 'data') - 'depth');
                n := n + 1;
            END IF;
        END LOOP;
        PERFORM set_config('dwc.automation_depth', '0', true);
        ch := got -> 'rows' -> -1;
        INSERT INTO dwc.shard_change_cursors AS c (groupid, txid, id, fired)
        VALUES (r.groupid, (ch ->> 'txid')::int8, (ch ->> 'id')::int8, n)
        ON CONFLICT (groupid) DO UPDATE
           SET txid = excluded.txid, id = excluded.id, fired = c.fired + excluded.fired, fired_at = now();
        more := more OR (got ->> 'more')::bool;
    END LOOP;
    RETURN more;
END;
$$;
COMMENT ON FUNCTION dwc._automation_collect_nodes() IS
  'Private: on a Citus coordinator, fires the automations of the changes that worker nodes kept of distributed '
  'tables (run by the maintenance worker); returns whether some node has more waiting.';
