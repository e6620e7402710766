-- src/security/audit.sql: the tamper-evident audit trail. See docs/audit.md.

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
ALTER SEQUENCE dwc.audit_log_id_seq OWNED BY dwc.audit_log.id;
COMMENT ON TABLE dwc.audit_log IS
  'Append-only audit trail: who (user id, role), what (action, table, row key, changed columns '
  'before and after), from where (address, request path), when. Rows are hash-chained in '
  'dwc.audit_seal by the scheduler worker; dwc.audit_verify() checks the chain. Partitioned by '
  'month; partitions past dwc.audit_retention are dropped. Administrators only.';
CREATE TABLE dwc.audit_log_default PARTITION OF dwc.audit_log DEFAULT;
-- the sealer walks unsealed rows in (transaction, id) order from a cursor: a btree keeps each
-- pass proportional to its batch, however large the backlog
CREATE INDEX audit_log_txid ON dwc.audit_log (txid, id);
CREATE INDEX audit_log_at ON dwc.audit_log USING brin (at);

CREATE TABLE dwc.audit_seal (
    seq pg_catalog.int8 PRIMARY KEY,
    audit_id pg_catalog.int8 NOT NULL,
    chain_hash pg_catalog.bytea NOT NULL,
    sealed_at pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now()
);
CREATE INDEX audit_seal_audit_id ON dwc.audit_seal (audit_id);
COMMENT ON TABLE dwc.audit_seal IS
  'The hash chain over the audit log: chain_hash(n) = SHA-256(chain_hash(n-1) || digest of the '
  'n-th sealed audit row). Rows are sealed once their transaction is over, in transaction order.';

CREATE TABLE dwc.audit_seal_state (
    id pg_catalog.int4 PRIMARY KEY CHECK (id = 1),
    horizon pg_catalog.int8 NOT NULL,        -- every audit row of a transaction before this is sealed
    target pg_catalog.int8,                  -- the horizon of the pass in progress
    cursor_txid pg_catalog.int8 NOT NULL DEFAULT 0,
    cursor_id pg_catalog.int8 NOT NULL DEFAULT 0,
    last_seq pg_catalog.int8 NOT NULL,
    last_hash pg_catalog.bytea NOT NULL,
    base_seq pg_catalog.int8 NOT NULL,       -- the chain starts after base_seq (older seals were pruned)
    base_hash pg_catalog.bytea NOT NULL,
    base_at pg_catalog.timestamptz           -- rows up to this time left the chain with retention
);
INSERT INTO dwc.audit_seal_state (id, horizon, last_seq, last_hash, base_seq, base_hash)
VALUES (1, 0, 0, sha256('dwc audit chain'::bytea), 0, sha256('dwc audit chain'::bytea));

CREATE TABLE dwc.audited_tables (
    table_name pg_catalog.regclass PRIMARY KEY,
    redact pg_catalog.text[] NOT NULL DEFAULT '{}',
    enabled_at pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now(),
    enabled_by pg_catalog.text NOT NULL DEFAULT current_user
);
COMMENT ON TABLE dwc.audited_tables IS 'Tables with the audit trigger, and the columns whose values it redacts.';

SELECT pg_catalog.pg_extension_config_dump('dwc.audit_log', '');
SELECT pg_catalog.pg_extension_config_dump('dwc.audit_log_default', '');
SELECT pg_catalog.pg_extension_config_dump('dwc.audit_seal', '');
SELECT pg_catalog.pg_extension_config_dump('dwc.audit_seal_state', '');
SELECT pg_catalog.pg_extension_config_dump('dwc.audited_tables', '');

-- append-only: no UPDATE, DELETE or TRUNCATE (retention drops partitions; see _audit_maintain)
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
-- microseconds since 1970, jsonb as canonical text (src/security/audit.c).
CREATE FUNCTION dwc._audit_digest(a dwc.audit_log) RETURNS pg_catalog.bytea
LANGUAGE c IMMUTABLE STRICT AS 'MODULE_PATHNAME', 'dwc__audit_digest';
COMMENT ON FUNCTION dwc._audit_digest(dwc.audit_log) IS 'Private: the digest of an audit row that the chain covers.';

CREATE FUNCTION dwc._audit_chain(head pg_catalog.bytea, digests pg_catalog.bytea[]) RETURNS pg_catalog.bytea[]
LANGUAGE c IMMUTABLE STRICT AS 'MODULE_PATHNAME', 'dwc__audit_chain';
COMMENT ON FUNCTION dwc._audit_chain(pg_catalog.bytea, pg_catalog.bytea[]) IS
  'Private: the chain hashes h(i) = SHA-256(h(i-1) || digests[i]) from h(0) = head.';

-- Seal the audit rows of finished transactions, in (transaction, id) order, 10,000 at a
-- time: a transaction older than the snapshot's xmin can add no rows any more, so each
-- pass takes the rows of transactions in [horizon, xmin). Run by the scheduler worker.
CREATE FUNCTION dwc._audit_seal(batch pg_catalog.int4 DEFAULT 10000) RETURNS pg_catalog.int4
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
-- walk the (txid, id) index in order: right after a bulk write the statistics still say the
-- range is small, and the planner would sort the whole backlog for every batch
SET enable_sort = off
AS $$
DECLARE
    st dwc.audit_seal_state;
    ids int8[];
    digests bytea[];
    hashes bytea[];
    last_txid int8;
    last_id int8;
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
    -- the next batch in (transaction, id) order, hashed in one call
    SELECT array_agg(b.id ORDER BY b.txid, b.id), array_agg(b.d ORDER BY b.txid, b.id),
           (array_agg(b.txid ORDER BY b.txid DESC, b.id DESC))[1], (array_agg(b.id ORDER BY b.txid DESC, b.id DESC))[1]
      INTO ids, digests, last_txid, last_id
      FROM (SELECT a.id, a.txid, dwc._audit_digest(a) AS d
              FROM dwc.audit_log a
             WHERE a.txid >= st.horizon AND a.txid < st.target
               AND (a.txid, a.id) > (st.cursor_txid, st.cursor_id)
             ORDER BY a.txid, a.id
             LIMIT batch) b;
    n := coalesce(array_length(ids, 1), 0);
    IF n > 0 THEN
        hashes := dwc._audit_chain(st.last_hash, digests);
        INSERT INTO dwc.audit_seal (seq, audit_id, chain_hash)
        SELECT st.last_seq + u.ord, u.id, u.h FROM unnest(ids, hashes) WITH ORDINALITY AS u(id, h, ord);
        st.last_seq := st.last_seq + n;
        st.last_hash := hashes[n];
        st.cursor_txid := last_txid;
        st.cursor_id := last_id;
    END IF;
    IF n < batch THEN
        st.horizon := st.target;
        st.target := NULL;
    END IF;
    UPDATE dwc.audit_seal_state
       SET horizon = st.horizon, target = st.target, cursor_txid = st.cursor_txid, cursor_id = st.cursor_id,
           last_seq = st.last_seq, last_hash = st.last_hash
     WHERE id = 1;
    RETURN n;
END;
$$;
COMMENT ON FUNCTION dwc._audit_seal(pg_catalog.int4) IS
  'Private: extends the hash chain over audit rows of finished transactions; run by the scheduler worker.';
REVOKE ALL ON FUNCTION dwc._audit_seal(pg_catalog.int4) FROM PUBLIC;

-- Monthly partitions ahead, and retention. Partitions are created by the scheduler worker,
-- not by the install script (they would belong to the extension and could not be dropped).
CREATE FUNCTION dwc._audit_maintain(retention pg_catalog.interval) RETURNS pg_catalog.int4
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    m date;
    part text;
    changed int4 := 0;
    r record;
    last_pruned dwc.audit_seal;
    cutoff timestamptz := now() - retention;
BEGIN
    FOR m IN SELECT generate_series(date_trunc('month', now())::date,
                                    date_trunc('month', now() + interval '1 month')::date, interval '1 month')::date
    LOOP
        part := 'audit_log_' || to_char(m, 'YYYYMM');
        -- a month that already has rows in the default partition stays there
        IF to_regclass('dwc.' || part) IS NULL
           AND NOT EXISTS (SELECT 1 FROM dwc.audit_log_default WHERE at >= m AND at < (m + interval '1 month')) THEN
            EXECUTE format('CREATE TABLE dwc.%I PARTITION OF dwc.audit_log FOR VALUES FROM (%L) TO (%L)',
                           part, m, (m + interval '1 month')::date);
            changed := changed + 1;
        END IF;
    END LOOP;

    -- retention: rows older than the cutoff leave, with their seals; the chain then starts
    -- from the last pruned seal (base_seq, base_hash)
    IF EXISTS (SELECT 1 FROM dwc.audit_log WHERE at < cutoff) THEN
        SET LOCAL session_replication_role = replica;   -- past the append-only triggers
        SELECT s.* INTO last_pruned FROM dwc.audit_seal s JOIN dwc.audit_log a ON a.id = s.audit_id
         WHERE a.at < cutoff ORDER BY s.seq DESC LIMIT 1;
        IF FOUND THEN
            DELETE FROM dwc.audit_seal WHERE seq <= last_pruned.seq;
            UPDATE dwc.audit_seal_state SET base_seq = last_pruned.seq, base_hash = last_pruned.chain_hash,
                   base_at = cutoff
             WHERE id = 1;
        END IF;
        FOR r IN
            SELECT c.oid::regclass AS part, to_date(substring(c.relname FROM 'audit_log_(\d{6})$'), 'YYYYMM') AS month
              FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
             WHERE i.inhparent = 'dwc.audit_log'::regclass AND c.relname ~ '^audit_log_\d{6}$'
        LOOP
            IF (r.month + interval '1 month') <= cutoff THEN
                EXECUTE format('DROP TABLE %s', r.part);
                changed := changed + 1;
            END IF;
        END LOOP;
        DELETE FROM dwc.audit_log_default WHERE at < cutoff
           AND txid < (SELECT horizon FROM dwc.audit_seal_state WHERE id = 1);
        SET LOCAL session_replication_role = origin;
    END IF;
    DELETE FROM dwc.security_events WHERE at < now() - retention;
    RETURN changed;
END;
$$;
COMMENT ON FUNCTION dwc._audit_maintain(pg_catalog.interval) IS
  'Private: creates the audit log''s monthly partitions ahead of time and applies retention (also to '
  'security events); run by the scheduler worker.';
REVOKE ALL ON FUNCTION dwc._audit_maintain(pg_catalog.interval) FROM PUBLIC;

-- API: Public

CREATE FUNCTION dwc.audit_verify() RETURNS pg_catalog.jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    st dwc.audit_seal_state := (SELECT s FROM dwc.audit_seal_state s WHERE id = 1);
    h bytea := st.base_hash;
    expected_seq int8 := st.base_seq;
    r record;
    n int8 := 0;
    extra int8;
    problem jsonb;
BEGIN
    FOR r IN SELECT s.seq, s.audit_id, s.chain_hash, a AS row, a.id IS NULL AS missing
               FROM dwc.audit_seal s LEFT JOIN dwc.audit_log a ON a.id = s.audit_id
              WHERE s.seq > st.base_seq
              ORDER BY s.seq
    LOOP
        expected_seq := expected_seq + 1;
        IF r.seq <> expected_seq THEN
            problem := jsonb_build_object('seq', expected_seq, 'problem', 'a seal is missing from the chain');
            EXIT;
        END IF;
        IF r.missing THEN
            problem := jsonb_build_object('seq', r.seq, 'audit_id', r.audit_id, 'problem', 'the audit row was deleted');
            EXIT;
        END IF;
        h := sha256(h || dwc._audit_digest(r.row));
        IF h <> r.chain_hash THEN
            problem := jsonb_build_object('seq', r.seq, 'audit_id', r.audit_id,
                                          'problem', 'the audit row or its seal was changed');
            EXIT;
        END IF;
        n := n + 1;
    END LOOP;
    IF problem IS NULL AND expected_seq <> st.last_seq THEN
        problem := jsonb_build_object('seq', expected_seq + 1, 'problem', 'the chain ends before its recorded head');
    END IF;
    IF problem IS NULL THEN
        -- rows of finished transactions that no seal covers were added behind the sealer's back
        SELECT a.id INTO extra FROM dwc.audit_log a
         WHERE a.txid < st.horizon AND (st.base_at IS NULL OR a.at >= st.base_at)
           AND NOT EXISTS (SELECT 1 FROM dwc.audit_seal s WHERE s.audit_id = a.id)
         ORDER BY a.id LIMIT 1;
        IF FOUND THEN
            problem := jsonb_build_object('audit_id', extra, 'problem', 'the audit row is not in the chain (added later?)');
        END IF;
    END IF;
    RETURN jsonb_strip_nulls(jsonb_build_object(
        'ok', problem IS NULL, 'checked', n, 'head_seq', st.last_seq, 'head_hash', encode(st.last_hash, 'hex'),
        'first_problem', problem,
        'unsealed', (SELECT count(*) FROM dwc.audit_log WHERE txid >= st.horizon)));
END;
$$;
COMMENT ON FUNCTION dwc.audit_verify() IS
  'Walks the audit hash chain and reports {ok, checked, head_seq, head_hash, first_problem, '
  'unsealed}: the first sealed row that was changed or deleted, a missing seal, or a row added '
  'outside the chain. Keep head_hash somewhere else now and then: a chain recomputed from scratch '
  'by a superuser can only be caught against an outside copy. Administrators only.';
REVOKE ALL ON FUNCTION dwc.audit_verify() FROM PUBLIC;

CREATE FUNCTION dwc._drop_audit_triggers(table_name pg_catalog.regclass) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t text;
BEGIN
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
    -- statement-level triggers over the transition tables (one per event: PostgreSQL allows
    -- transition tables only on single-event triggers); see src/security/audit.c
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

DO $$
DECLARE
    f text;
BEGIN
    FOREACH f IN ARRAY ARRAY['dwc._audit_row()', 'dwc._audit_digest(dwc.audit_log)', 'dwc._audit_append_only()']
    LOOP
        EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f);
    END LOOP;
END;
$$;
