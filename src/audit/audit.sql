-- src/audit/audit.sql: the tamper-evident audit trail. See docs/audit.md.

-- API: Private (tables)

CREATE SEQUENCE dwc.audit_log_id_seq;
CREATE TABLE dwc.audit_log (
    id pg_catalog.int8 NOT NULL DEFAULT pg_catalog.nextval('dwc.audit_log_id_seq'),
    at pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    txid pg_catalog.int8 NOT NULL DEFAULT (pg_catalog.pg_current_xact_id()::pg_catalog.text::pg_catalog.int8),
    actor_user pg_catalog.text,
    actor_role pg_catalog.text NOT NULL,
    action pg_catalog.text NOT NULL,
    table_name pg_catalog.text NOT NULL,
    row_key pg_catalog.jsonb,
    old_values pg_catalog.jsonb,
    new_values pg_catalog.jsonb,
    client_addr pg_catalog.text,
    request_path pg_catalog.text
) PARTITION BY RANGE (at);
SELECT pg_catalog.pg_extension_config_dump('dwc.audit_log_id_seq', '');
ALTER SEQUENCE dwc.audit_log_id_seq OWNED BY dwc.audit_log.id;
COMMENT ON TABLE dwc.audit_log IS
  'Append-only audit trail: who (user id, role), what (action, table, row key, changed columns '
  'before and after), from where (address, request path), when. Rows are hash-chained in '
  'dwc.audit_seal by the maintenance worker; dwc.audit_verify() checks the chain. Partitioned by '
  'month; partitions past dwc.audit_retention are dropped. Administrators only.';
CREATE TABLE dwc.audit_log_default PARTITION OF dwc.audit_log DEFAULT;
-- no key to name a row by: logical replication identifies it by all its columns (docs/replication.md);
-- the partition manager gives each new partition the same
ALTER TABLE dwc.audit_log REPLICA IDENTITY FULL;
ALTER TABLE dwc.audit_log_default REPLICA IDENTITY FULL;
-- the sealer walks unsealed rows in (transaction, id) order from a cursor: a btree keeps each
-- pass proportional to its batch, however large the backlog
CREATE INDEX audit_log_txid ON dwc.audit_log (txid, id);
INSERT INTO dwc.distributable_tables (table_name, refused)
VALUES ('dwc.audit_log', 'its hash chain follows one server''s transaction order; distributed tables are audited on '
                         'the worker nodes already, each sealing its own chain, and copied into the coordinator''s');
-- no index on "at": time ranges prune to monthly partitions, and an index on every audit row
-- would cost audited writes more than the reports gain (see docs/audit.md)

-- One seal per batch of sealed rows: their ids and digests in chain order, and the chain
-- over them. One row per batch instead of one per audit row: sealing cost audited writers
-- as much again as writing their audit rows.
CREATE TABLE dwc.audit_seal (
    batch pg_catalog.int8 PRIMARY KEY,
    first_seq pg_catalog.int8 NOT NULL,      -- chain position of the first row (1-based)
    audit_ids pg_catalog.int8[] NOT NULL,    -- the rows, in chain order
    digests pg_catalog.bytea NOT NULL,       -- their digests, 32 bytes each, in the same order
    chain_hash pg_catalog.bytea NOT NULL,    -- the chain after the batch's last row
    first_txid pg_catalog.int8 NOT NULL,     -- (txid, id) of the first and the last row
    first_id pg_catalog.int8 NOT NULL,
    last_txid pg_catalog.int8 NOT NULL,
    last_id pg_catalog.int8 NOT NULL,
    min_at pg_catalog.timestamptz NOT NULL,  -- the oldest row's time (retention)
    sealed_at pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now()
);
-- hashes do not compress, and trying cost more than the rest of sealing: store them as they are
ALTER TABLE dwc.audit_seal ALTER COLUMN digests SET STORAGE EXTERNAL;
ALTER TABLE dwc.audit_seal ALTER COLUMN audit_ids SET STORAGE EXTERNAL;
COMMENT ON TABLE dwc.audit_seal IS
  'The hash chain over the audit log, a batch of rows per seal: h(n) = SHA-256(h(n-1) || digest of '
  'the n-th sealed audit row), chain_hash being h after the batch''s last row. Rows are sealed once '
  'their transaction is over, in (transaction, id) order.';

CREATE TABLE dwc.audit_seal_state (
    id pg_catalog.int4 PRIMARY KEY CHECK (id = 1),
    horizon pg_catalog.int8 NOT NULL,        -- every audit row of a transaction before this is sealed
    target pg_catalog.int8,                  -- the horizon of the pass in progress
    cursor_txid pg_catalog.int8 NOT NULL DEFAULT 0,
    cursor_id pg_catalog.int8 NOT NULL DEFAULT 0,
    last_batch pg_catalog.int8 NOT NULL,
    last_seq pg_catalog.int8 NOT NULL,       -- rows in the chain so far
    last_hash pg_catalog.bytea NOT NULL,
    -- the chain starts after base_batch (older seals left with retention); rows up to
    -- (base_txid, base_id) are outside it
    base_batch pg_catalog.int8 NOT NULL,
    base_seq pg_catalog.int8 NOT NULL,
    base_hash pg_catalog.bytea NOT NULL,
    base_txid pg_catalog.int8 NOT NULL DEFAULT 0,
    base_id pg_catalog.int8 NOT NULL DEFAULT 0
);
SELECT dwc._keep_seeds('dwc.audit_seal_state');
INSERT INTO dwc.audit_seal_state (id, horizon, last_batch, last_seq, last_hash, base_batch, base_seq, base_hash)
VALUES (1, 0, 0, 0, sha256('dwc audit chain'::bytea), 0, 0, sha256('dwc audit chain'::bytea));

CREATE TABLE dwc.audited_tables (
    table_name pg_catalog.regclass PRIMARY KEY,
    redact pg_catalog.text[] NOT NULL DEFAULT '{}',
    enabled_at pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now(),
    enabled_by pg_catalog.text NOT NULL DEFAULT current_user
);
COMMENT ON TABLE dwc.audited_tables IS 'Tables with the audit trigger, and the columns whose values it redacts.';
SELECT dwc._keep_seeds('dwc.audited_tables');

SELECT pg_catalog.pg_extension_config_dump('dwc.audit_log', '');
SELECT pg_catalog.pg_extension_config_dump('dwc.audit_log_default', '');
SELECT pg_catalog.pg_extension_config_dump('dwc.audit_seal', '');
SELECT pg_catalog.pg_extension_config_dump('dwc.audit_seal_state', '');
SELECT pg_catalog.pg_extension_config_dump('dwc.audited_tables', '');

-- append-only: no UPDATE, DELETE or TRUNCATE (retention drops partitions; see _audit_expire)
CREATE FUNCTION dwc._audit_append_only() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege',
        HINT = 'Old entries leave through retention (dwc.audit_retention).';
END;
$$;
COMMENT ON FUNCTION dwc._audit_append_only() IS 'Private: refuses changes to the audit trail.';
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON dwc.audit_log
    FOR EACH ROW EXECUTE FUNCTION dwc._audit_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON dwc.audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION dwc._audit_append_only();
CREATE TRIGGER audit_seal_append_only BEFORE UPDATE OR DELETE ON dwc.audit_seal
    FOR EACH ROW EXECUTE FUNCTION dwc._audit_append_only();
CREATE TRIGGER audit_seal_no_truncate BEFORE TRUNCATE ON dwc.audit_seal
    FOR EACH STATEMENT EXECUTE FUNCTION dwc._audit_append_only();

CREATE FUNCTION dwc._audit_row() RETURNS trigger
LANGUAGE c AS 'MODULE_PATHNAME', 'dwc__audit_row';
COMMENT ON FUNCTION dwc._audit_row() IS
  'Private: the audit trigger (AFTER ... FOR EACH STATEMENT with transition tables); its arguments '
  'name columns whose values are redacted.';

-- The digest of an audit row: SHA-256 over every column, length-prefixed, times in
-- microseconds since 1970, jsonb as canonical text (src/audit/audit.c).
CREATE FUNCTION dwc._audit_digest(a dwc.audit_log) RETURNS pg_catalog.bytea
LANGUAGE c IMMUTABLE STRICT AS 'MODULE_PATHNAME', 'dwc__audit_digest';
COMMENT ON FUNCTION dwc._audit_digest(dwc.audit_log) IS 'Private: the digest of an audit row that the chain covers.';

CREATE FUNCTION dwc._audit_chain(head pg_catalog.bytea, digests pg_catalog.bytea) RETURNS pg_catalog.bytea
LANGUAGE c IMMUTABLE STRICT AS 'MODULE_PATHNAME', 'dwc__audit_chain';
COMMENT ON FUNCTION dwc._audit_chain(pg_catalog.bytea, pg_catalog.bytea) IS
  'Private: the chain h(i) = SHA-256(h(i-1) || digest i) from h(0) = head over digests (32 bytes '
  'each, concatenated); returns the last h.';

CREATE FUNCTION dwc._audit_collect(after_txid pg_catalog.int8, after_id pg_catalog.int8, before_txid pg_catalog.int8,
                                   upto_txid pg_catalog.int8, upto_id pg_catalog.int8, max_rows pg_catalog.int4,
                                   OUT n pg_catalog.int4, OUT ids pg_catalog.int8[], OUT digests pg_catalog.bytea,
                                   OUT first_txid pg_catalog.int8, OUT first_id pg_catalog.int8,
                                   OUT last_txid pg_catalog.int8, OUT last_id pg_catalog.int8,
                                   OUT min_at pg_catalog.timestamptz)
LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'dwc__audit_collect';
COMMENT ON FUNCTION dwc._audit_collect(pg_catalog.int8, pg_catalog.int8, pg_catalog.int8, pg_catalog.int8, pg_catalog.int8, pg_catalog.int4) IS
  'Private: the audit rows after (after_txid, after_id), of transactions before before_txid and up to '
  '(upto_txid, upto_id) unless NULL, in (txid, id) order, at most max_rows: ids, digests end to end, '
  'first and last (txid, id), oldest time.';

-- Seal the audit rows of finished transactions, in (transaction, id) order, up to 10,000 a
-- batch: a transaction older than the snapshot's xmin can add no rows any more, so each
-- pass takes the rows of transactions in [horizon, xmin). Run by the maintenance worker.
CREATE FUNCTION dwc._audit_seal(batch pg_catalog.int4 DEFAULT 10000) RETURNS pg_catalog.int4
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
-- walk the (txid, id) index in order: right after a bulk write the statistics still say the
-- range is small, and the planner would sort the whole backlog for every batch
SET enable_sort = off
AS $$
DECLARE
    st dwc.audit_seal_state;
    b record;
    n int4;
BEGIN
    -- the usual case, nothing new: answer without locking the state row, which would cost a
    -- transaction id and WAL every second on an idle server
    SELECT * INTO st FROM dwc.audit_seal_state WHERE id = 1;
    IF st.target IS NULL AND NOT EXISTS (SELECT 1 FROM dwc.audit_log a WHERE a.txid >= st.horizon) THEN
        RETURN 0;
    END IF;
    SELECT * INTO st FROM dwc.audit_seal_state WHERE id = 1 FOR UPDATE;
    IF st.target IS NULL THEN
        st.target := pg_snapshot_xmin(pg_current_snapshot())::text::int8;
        IF st.target <= st.horizon THEN
            RETURN 0;
        END IF;
        st.cursor_txid := st.horizon;
        st.cursor_id := 0;
    END IF;
    -- the next batch in (transaction, id) order, digested on the way
    SELECT * INTO b FROM dwc._audit_collect(st.cursor_txid, st.cursor_id, st.target, NULL, NULL, batch);
    n := b.n;
    IF n > 0 THEN
        st.last_batch := st.last_batch + 1;
        st.last_hash := dwc._audit_chain(st.last_hash, b.digests);
        st.cursor_txid := b.last_txid;
        st.cursor_id := b.last_id;
        INSERT INTO dwc.audit_seal (batch, first_seq, audit_ids, digests, chain_hash, first_txid, first_id,
                                    last_txid, last_id, min_at)
        VALUES (st.last_batch, st.last_seq + 1, b.ids, b.digests, st.last_hash, b.first_txid, b.first_id,
                st.cursor_txid, st.cursor_id, b.min_at);
        st.last_seq := st.last_seq + n;
    END IF;
    IF n < batch THEN
        st.horizon := st.target;
        st.target := NULL;
    END IF;
    UPDATE dwc.audit_seal_state
       SET horizon = st.horizon, target = st.target, cursor_txid = st.cursor_txid, cursor_id = st.cursor_id,
           last_batch = st.last_batch, last_seq = st.last_seq, last_hash = st.last_hash
     WHERE id = 1;
    RETURN n;
END;
$$;
COMMENT ON FUNCTION dwc._audit_seal(pg_catalog.int4) IS
  'Private: extends the hash chain over audit rows of finished transactions; run by the maintenance worker.';
REVOKE ALL ON FUNCTION dwc._audit_seal(pg_catalog.int4) FROM PUBLIC;

-- Retention, when rows older than cutoff exist, before the partition manager
-- (src/core/partitions.sql) drops the monthly partitions wholly older than it: those rows
-- leave, and so do the seals of every batch up to the last one holding such a row; the
-- chain then starts after that batch, and its newer rows, if any, stay in the log outside
-- the chain.
CREATE FUNCTION dwc._audit_expire(cutoff pg_catalog.timestamptz) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    last_pruned dwc.audit_seal;
BEGIN
    SET LOCAL session_replication_role = replica;   -- past the append-only triggers
    SELECT s.* INTO last_pruned FROM dwc.audit_seal s WHERE s.min_at < cutoff ORDER BY s.batch DESC LIMIT 1;
    IF FOUND THEN
        DELETE FROM dwc.audit_seal WHERE batch <= last_pruned.batch;
        UPDATE dwc.audit_seal_state
           SET base_batch = last_pruned.batch,
               base_seq = last_pruned.first_seq + cardinality(last_pruned.audit_ids) - 1,
               base_hash = last_pruned.chain_hash, base_txid = last_pruned.last_txid, base_id = last_pruned.last_id
         WHERE id = 1;
    END IF;
    DELETE FROM dwc.audit_log_default WHERE at < cutoff
       AND txid < (SELECT horizon FROM dwc.audit_seal_state WHERE id = 1);
    SET LOCAL session_replication_role = origin;
END;
$$;
COMMENT ON FUNCTION dwc._audit_expire(pg_catalog.timestamptz) IS
  'Private: audit retention before old partitions are dropped: seals of batches with rows older than '
  'cutoff leave (the chain restarts after them), and so do such rows of the default partition.';

-- monthly partitions, this month and the next; a month with rows in the default partition
-- already keeps them there (moving audit rows would pass the append-only triggers)
INSERT INTO dwc.partitioned_tables (parent, time_column, period, behind, ahead, retention_setting, default_rows,
                                    on_expire)
VALUES ('dwc.audit_log', 'at', 'month', 0, 1, 'dwc.audit_retention', 'stay',
        'dwc._audit_expire(pg_catalog.timestamptz)');

-- API: Public

CREATE FUNCTION dwc.audit_verify() RETURNS pg_catalog.jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
SET enable_sort = off   -- every lookup walks the (txid, id) index; see _audit_seal
AS $$
DECLARE
    st dwc.audit_seal_state := (SELECT s FROM dwc.audit_seal_state s WHERE id = 1);
    h bytea := st.base_hash;
    expected_batch int8 := st.base_batch;
    expected_seq int8 := st.base_seq;
    s dwc.audit_seal;
    now_ids int8[];
    actual bytea;
    i int4;
    n int8 := 0;
    prev_txid int8 := st.base_txid;
    prev_id int8 := st.base_id;
    extra int8;
    problem jsonb;
    zero bytea := decode(repeat('00', 32), 'hex');
BEGIN
    <<batches>>
    FOR s IN SELECT * FROM dwc.audit_seal WHERE batch > st.base_batch ORDER BY batch LOOP
        expected_batch := expected_batch + 1;
        IF s.batch <> expected_batch OR s.first_seq <> expected_seq + 1
           OR length(s.digests) <> 32 * cardinality(s.audit_ids) THEN
            problem := jsonb_build_object('seq', expected_seq + 1, 'batch', expected_batch,
                                          'problem', 'a seal is missing from the chain or was changed');
            EXIT;
        END IF;
        -- a row between the previous batch and this one was never sealed: added behind the sealer
        SELECT a.id INTO extra FROM dwc.audit_log a
         WHERE (a.txid, a.id) > (prev_txid, prev_id) AND (a.txid, a.id) < (s.first_txid, s.first_id)
         ORDER BY a.txid, a.id LIMIT 1;
        IF FOUND THEN
            problem := jsonb_build_object('audit_id', extra, 'problem', 'the audit row is not in the chain (added later?)');
            EXIT;
        END IF;
        prev_txid := s.last_txid;
        prev_id := s.last_id;
        h := dwc._audit_chain(h, s.digests);
        IF h <> s.chain_hash THEN
            problem := jsonb_build_object('seq', s.first_seq, 'batch', s.batch, 'problem', 'the seal was changed');
            EXIT;
        END IF;
        -- the rows as they are now in the batch's (txid, id) range: the same ids and digests
        -- in the same order, or a row was changed, deleted or slipped in
        SELECT c.ids, c.digests INTO now_ids, actual
          FROM dwc._audit_collect(s.first_txid, s.first_id - 1, s.last_txid + 1, s.last_txid, s.last_id,
                                  cardinality(s.audit_ids) + 1) c;
        IF now_ids IS DISTINCT FROM s.audit_ids OR actual IS DISTINCT FROM s.digests THEN
            -- the first row of the seal that is not there as it was sealed
            SELECT string_agg(CASE WHEN a.id IS NULL THEN zero ELSE dwc._audit_digest(a) END, ''::bytea ORDER BY u.ord)
              INTO actual
              FROM unnest(s.audit_ids) WITH ORDINALITY AS u(id, ord)
              LEFT JOIN (SELECT * FROM dwc.audit_log l
                          WHERE (l.txid, l.id) >= (s.first_txid, s.first_id) AND (l.txid, l.id) <= (s.last_txid, s.last_id)) a
                ON a.id = u.id;
            FOR i IN 1 .. cardinality(s.audit_ids) LOOP
                IF substring(actual FROM 32 * (i - 1) + 1 FOR 32) <> substring(s.digests FROM 32 * (i - 1) + 1 FOR 32) THEN
                    problem := jsonb_build_object(
                        'seq', s.first_seq + i - 1, 'batch', s.batch, 'audit_id', s.audit_ids[i],
                        'problem', CASE WHEN substring(actual FROM 32 * (i - 1) + 1 FOR 32) = zero
                                        THEN 'the audit row was deleted' ELSE 'the audit row was changed' END);
                    n := n + i - 1;
                    EXIT batches;
                END IF;
            END LOOP;
            -- every sealed row is intact: another row sits in the batch's range
            SELECT a.id INTO extra FROM dwc.audit_log a
             WHERE (a.txid, a.id) >= (s.first_txid, s.first_id) AND (a.txid, a.id) <= (s.last_txid, s.last_id)
               AND a.id <> ALL (s.audit_ids)
             ORDER BY a.txid, a.id LIMIT 1;
            problem := jsonb_build_object('audit_id', extra, 'batch', s.batch,
                                          'problem', 'the audit row is not in the chain (added later?)');
            EXIT batches;
        END IF;
        n := n + cardinality(s.audit_ids);
        expected_seq := expected_seq + cardinality(s.audit_ids);
    END LOOP;
    IF problem IS NULL AND (expected_batch <> st.last_batch OR expected_seq <> st.last_seq OR h <> st.last_hash) THEN
        problem := jsonb_build_object('seq', expected_seq + 1, 'batch', expected_batch + 1,
                                      'problem', 'the chain ends before its recorded head');
    END IF;
    IF problem IS NULL THEN
        -- after the last seal: rows the sealer has passed (finished transactions below its
        -- horizon, or behind the cursor of the pass in progress) are in no seal
        SELECT a.id INTO extra FROM dwc.audit_log a
         WHERE (a.txid, a.id) > (prev_txid, prev_id)
           AND (a.txid < st.horizon OR (st.target IS NOT NULL AND a.txid < st.target
                                        AND (a.txid, a.id) <= (st.cursor_txid, st.cursor_id)))
         ORDER BY a.txid, a.id LIMIT 1;
        IF FOUND THEN
            problem := jsonb_build_object('audit_id', extra, 'problem', 'the audit row is not in the chain (added later?)');
        END IF;
    END IF;
    RETURN jsonb_strip_nulls(jsonb_build_object(
        'ok', problem IS NULL, 'checked', n, 'head_seq', st.last_seq, 'head_hash', encode(st.last_hash, 'hex'),
        'first_problem', problem,
        'unsealed', (SELECT count(*) FROM dwc.audit_log a
                      WHERE a.txid >= st.horizon AND (st.target IS NULL OR (a.txid, a.id) > (st.cursor_txid, st.cursor_id)))));
END;
$$;
COMMENT ON FUNCTION dwc.audit_verify() IS
  'Walks the audit hash chain and reports {ok, checked, head_seq, head_hash, first_problem, '
  'unsealed}: the first sealed row that was changed or deleted, a seal that was changed or is '
  'missing, or a row added outside the chain. Keep head_hash somewhere else now and then: a chain '
  'recomputed from scratch by a superuser can only be caught against an outside copy. Administrators only.';
REVOKE ALL ON FUNCTION dwc.audit_verify() FROM PUBLIC;

CREATE FUNCTION dwc._drop_audit_triggers(table_name pg_catalog.regclass) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t text;
BEGIN
    IF dwc._citus_table_type(table_name) = 'distributed' THEN
        PERFORM set_config('citus.enable_unsafe_triggers', 'on', true);   -- as audit_table() made them
    END IF;
    FOR t IN SELECT tgname FROM pg_trigger
              WHERE tgrelid = table_name AND tgname IN ('dwc_audit_insert', 'dwc_audit_update', 'dwc_audit_delete')
    LOOP
        EXECUTE format('DROP TRIGGER %I ON %s', t, table_name);
    END LOOP;
END;
$$;
COMMENT ON FUNCTION dwc._drop_audit_triggers(pg_catalog.regclass) IS 'Private: removes the audit triggers of a table.';

CREATE FUNCTION dwc.audit_table(table_name pg_catalog.regclass, redact pg_catalog.text[] DEFAULT '{}')
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    bad text;
    citus text;
    args text := coalesce((SELECT string_agg(quote_literal(c), ', ') FROM unnest(redact) c), '');
BEGIN
    IF (SELECT relkind FROM pg_class WHERE oid = table_name) NOT IN ('r', 'p') THEN
        RAISE EXCEPTION '% is not a table', table_name USING ERRCODE = 'wrong_object_type';
    END IF;
    IF table_name IN ('dwc.audit_log'::regclass, 'dwc.audit_seal'::regclass, 'dwc.audit_seal_state'::regclass) THEN
        RAISE EXCEPTION 'the audit trail does not audit itself' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT c INTO bad FROM unnest(coalesce(redact, '{}')) c
     WHERE NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = table_name AND attname = c AND NOT attisdropped);
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'table % has no column "%"', table_name, bad USING ERRCODE = 'undefined_column';
    END IF;
    citus := dwc._citus_table_type(table_name);
    IF citus = 'reference' THEN
        RAISE EXCEPTION 'auditing a Citus reference table is not supported'
            USING ERRCODE = 'feature_not_supported',
                  DETAIL = 'Its triggers would fire on every node''s copy, recording each change once per node.';
    ELSIF citus = 'distributed' THEN
        -- Citus creates the triggers on every shard, where they fire on the worker nodes; the
        -- first argument names the distributed table (a shard has a name of its own), and the
        -- coordinator copies the workers' sealed rows into its chain (docs/scaling.md)
        PERFORM set_config('citus.enable_unsafe_triggers', 'on', true);
        args := quote_literal('dwc:table=' || (SELECT n.nspname || '.' || c.relname FROM pg_class c
                                                  JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = table_name))
                || CASE WHEN args <> '' THEN ', ' || args ELSE '' END;
    END IF;
    -- statement-level triggers over the transition tables (one per event: PostgreSQL allows
    -- transition tables only on single-event triggers); see src/audit/audit.c
    PERFORM dwc._drop_audit_triggers(table_name);
    EXECUTE format('CREATE TRIGGER dwc_audit_insert AFTER INSERT ON %s REFERENCING NEW TABLE AS dwc_new '
                   'FOR EACH STATEMENT EXECUTE FUNCTION dwc._audit_row(%s)', table_name, args);
    EXECUTE format('CREATE TRIGGER dwc_audit_update AFTER UPDATE ON %s REFERENCING OLD TABLE AS dwc_old '
                   'NEW TABLE AS dwc_new FOR EACH STATEMENT EXECUTE FUNCTION dwc._audit_row(%s)', table_name, args);
    EXECUTE format('CREATE TRIGGER dwc_audit_delete AFTER DELETE ON %s REFERENCING OLD TABLE AS dwc_old '
                   'FOR EACH STATEMENT EXECUTE FUNCTION dwc._audit_row(%s)', table_name, args);
    INSERT INTO dwc.audited_tables (table_name, redact) VALUES (table_name, coalesce(redact, '{}'))
    ON CONFLICT ON CONSTRAINT audited_tables_pkey DO UPDATE SET redact = excluded.redact, enabled_at = now(),
        enabled_by = current_user;
    PERFORM dwc._security_event('audit_enabled', 'info', NULL,
                                jsonb_build_object('table', table_name::text, 'redact', to_jsonb(redact)));
END;
$$;
COMMENT ON FUNCTION dwc.audit_table(pg_catalog.regclass, pg_catalog.text[]) IS
  'Audits a table: every INSERT, UPDATE (changed columns only) and DELETE becomes a row of '
  'dwc.audit_log; the values of the redact columns are written as "[redacted]". Calling it again '
  'changes the redacted columns. Administrators only.';
REVOKE ALL ON FUNCTION dwc.audit_table(pg_catalog.regclass, pg_catalog.text[]) FROM PUBLIC;

CREATE FUNCTION dwc.unaudit_table(table_name pg_catalog.regclass) RETURNS pg_catalog.bool
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM dwc._drop_audit_triggers(table_name);
    DELETE FROM dwc.audited_tables a WHERE a.table_name = unaudit_table.table_name;
    IF FOUND THEN
        PERFORM dwc._security_event('audit_disabled', 'warning', NULL, jsonb_build_object('table', table_name::text));
    END IF;
    RETURN FOUND;
END;
$$;
COMMENT ON FUNCTION dwc.unaudit_table(pg_catalog.regclass) IS
  'Stops auditing a table (recorded as a warning security event). Administrators only.';
REVOKE ALL ON FUNCTION dwc.unaudit_table(pg_catalog.regclass) FROM PUBLIC;

-- ---- compliance reports (administrators) -------------------------------------------------

CREATE FUNCTION dwc.audit_logs("limit" pg_catalog.int4 DEFAULT 50, table_name pg_catalog.text DEFAULT NULL,
                               actor_user pg_catalog.text DEFAULT NULL, action pg_catalog.text DEFAULT NULL,
                               since pg_catalog.timestamptz DEFAULT NULL)
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF "limit" IS NULL OR "limit" NOT BETWEEN 1 AND 1000 THEN
        RAISE EXCEPTION 'limit must be between 1 and 1000, not %', coalesce("limit"::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF action IS NOT NULL AND upper(action) NOT IN ('INSERT', 'UPDATE', 'DELETE') THEN
        RAISE EXCEPTION 'action must be INSERT, UPDATE or DELETE, not "%"', action
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN coalesce((
        SELECT jsonb_agg(jsonb_strip_nulls(to_jsonb(a)) - 'txid' ORDER BY a.id DESC)
          FROM (SELECT * FROM dwc.audit_log l
                 WHERE (audit_logs.table_name IS NULL OR l.table_name = audit_logs.table_name)
                   AND (audit_logs.actor_user IS NULL OR l.actor_user = audit_logs.actor_user)
                   AND (audit_logs.action IS NULL OR l.action = upper(audit_logs.action))
                   AND (since IS NULL OR l.at >= since)
                 ORDER BY l.id DESC
                 LIMIT "limit") a), '[]');
END;
$$;
COMMENT ON FUNCTION dwc.audit_logs(pg_catalog.int4, pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.timestamptz) IS
  'The latest audit entries as a JSON array, newest first, optionally filtered by table '
  '(schema.table), actor user id, action or time. Administrators only.';
REVOKE ALL ON FUNCTION dwc.audit_logs(pg_catalog.int4, pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.timestamptz) FROM PUBLIC;

CREATE FUNCTION dwc.audit_user_activity(user_id pg_catalog.text, since pg_catalog.timestamptz DEFAULT now() - interval '30 days',
                                        until pg_catalog.timestamptz DEFAULT now())
RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN jsonb_build_object(
    'user_id', user_id, 'since', since, 'until', until,
    'changes', (SELECT coalesce(jsonb_agg(jsonb_strip_nulls(jsonb_build_object(
                        'at', a.at, 'action', a.action, 'table', a.table_name, 'row_key', a.row_key,
                        'changed', (SELECT jsonb_agg(k) FROM jsonb_object_keys(coalesce(a.new_values, a.old_values)) k),
                        'address', a.client_addr, 'path', a.request_path)) ORDER BY a.at), '[]')
                  FROM dwc.audit_log a
                 WHERE a.actor_user = audit_user_activity.user_id AND a.at >= since AND a.at < until),
    'security_events', (SELECT coalesce(jsonb_agg(jsonb_build_object('at', e.at, 'event', e.event,
                                                                     'severity', e.severity, 'address', e.address,
                                                                     'detail', e.detail) ORDER BY e.at), '[]')
                          FROM dwc.security_events e
                         WHERE e.user_id = audit_user_activity.user_id AND e.at >= since AND e.at < until));
COMMENT ON FUNCTION dwc.audit_user_activity(pg_catalog.text, pg_catalog.timestamptz, pg_catalog.timestamptz) IS
  'A user''s activity over a period: the changes they made (audit log) and their security events. Administrators only.';
REVOKE ALL ON FUNCTION dwc.audit_user_activity(pg_catalog.text, pg_catalog.timestamptz, pg_catalog.timestamptz) FROM PUBLIC;

CREATE FUNCTION dwc.audit_record_history(table_name pg_catalog.regclass, row_key pg_catalog.jsonb)
RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN (SELECT coalesce(jsonb_agg(jsonb_strip_nulls(jsonb_build_object(
                   'at', a.at, 'action', a.action, 'actor_user', a.actor_user, 'actor_role', a.actor_role,
                   'old', a.old_values, 'new', a.new_values, 'address', a.client_addr, 'path', a.request_path))
                   ORDER BY a.at, a.id), '[]')
          FROM dwc.audit_log a
         WHERE a.table_name = (SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c
                                 JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = audit_record_history.table_name)
           AND a.row_key @> audit_record_history.row_key AND audit_record_history.row_key @> a.row_key);
COMMENT ON FUNCTION dwc.audit_record_history(pg_catalog.regclass, pg_catalog.jsonb) IS
  'Who touched a record, and how: every audit entry of the row with this key (e.g. {"id": 42}), oldest first. Administrators only.';
REVOKE ALL ON FUNCTION dwc.audit_record_history(pg_catalog.regclass, pg_catalog.jsonb) FROM PUBLIC;

CREATE FUNCTION dwc.audit_changes_by_actor(since pg_catalog.timestamptz DEFAULT now() - interval '30 days',
                                           until pg_catalog.timestamptz DEFAULT now())
RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN (SELECT coalesce(jsonb_agg(jsonb_build_object('actor_user', actor_user, 'actor_role', actor_role,
                                                     'tables', tables, 'inserts', ins, 'updates', upd, 'deletes', del,
                                                     'first', first, 'last', last) ORDER BY ins + upd + del DESC), '[]')
          FROM (SELECT actor_user, actor_role, to_jsonb(array_agg(DISTINCT table_name)) AS tables,
                       count(*) FILTER (WHERE action = 'INSERT') AS ins,
                       count(*) FILTER (WHERE action = 'UPDATE') AS upd,
                       count(*) FILTER (WHERE action = 'DELETE') AS del, min(at) AS first, max(at) AS last
                  FROM dwc.audit_log WHERE at >= since AND at < until
                 GROUP BY actor_user, actor_role) s);
COMMENT ON FUNCTION dwc.audit_changes_by_actor(pg_catalog.timestamptz, pg_catalog.timestamptz) IS
  'Changes per actor (user id and role) over a period: tables touched, inserts, updates, deletes. Administrators only.';
REVOKE ALL ON FUNCTION dwc.audit_changes_by_actor(pg_catalog.timestamptz, pg_catalog.timestamptz) FROM PUBLIC;

CREATE FUNCTION dwc.auth_events_summary(since pg_catalog.timestamptz DEFAULT now() - interval '30 days',
                                        until pg_catalog.timestamptz DEFAULT now())
RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN (SELECT coalesce(jsonb_object_agg(day, events), '{}') FROM (
            SELECT to_char(date_trunc('day', at), 'YYYY-MM-DD') AS day, jsonb_object_agg(event, n) AS events
              FROM (SELECT at, event, count(*) OVER (PARTITION BY date_trunc('day', at), event) AS n
                      FROM dwc.security_events WHERE at >= since AND at < until) e
             GROUP BY date_trunc('day', at)) d);
COMMENT ON FUNCTION dwc.auth_events_summary(pg_catalog.timestamptz, pg_catalog.timestamptz) IS
  'Security events per day and kind over a period (sign-ins, failures, lockouts, MFA, rate limits...). Administrators only.';
REVOKE ALL ON FUNCTION dwc.auth_events_summary(pg_catalog.timestamptz, pg_catalog.timestamptz) FROM PUBLIC;

-- ---- what dwc audits by default ---------------------------------------------------------
-- The tables of the subsystems installed before the audit trail; later ones (AI providers,
-- chains, ML models) enrol theirs next to their definitions; job kinds at the end of the
-- install script (src/api/http.sql), once every subsystem has registered its own.
SELECT dwc.audit_table('dwc.users', '{password_hash,mfa_secret}');
SELECT dwc.audit_table('dwc.api_keys', '{key_hash}');
SELECT dwc.audit_table('dwc.rate_limits');
SELECT dwc.audit_table('dwc.schedules');
SELECT dwc.audit_table('dwc.queues');
SELECT dwc.audit_table('dwc.audited_tables');
