-- src/core/partitions.sql: one partition manager for every time-partitioned table.
--
-- A subsystem with a table partitioned by range of a timestamp enrols it in
-- dwc.partitioned_tables next to its definition. dwc._partitions_maintain() (run by the
-- maintenance pass, src/core/registry.c) then creates partitions ahead of time and drops
-- those wholly older than the table's retention. Partitions are made by the maintenance
-- pass, never by the install script: made there they would belong to the extension and
-- could not be dropped by retention. Until its partition exists, a row lands in the
-- table's DEFAULT partition.

-- API: Private

CREATE TABLE dwc.partitioned_tables (
    parent pg_catalog.regclass PRIMARY KEY,
    time_column pg_catalog.name NOT NULL,
    period pg_catalog.text NOT NULL CHECK (period IN ('day', 'month')),
    behind pg_catalog.int4 NOT NULL DEFAULT 0 CHECK (behind BETWEEN 0 AND 31),
    ahead pg_catalog.int4 NOT NULL DEFAULT 1 CHECK (ahead BETWEEN 0 AND 31),
    retention_setting pg_catalog.text NOT NULL,
    default_rows pg_catalog.text NOT NULL DEFAULT 'move' CHECK (default_rows IN ('move', 'stay')),
    on_expire pg_catalog.regprocedure
);
COMMENT ON TABLE dwc.partitioned_tables IS
  'Time-partitioned tables and how dwc keeps them: partitions of a day or a month, from behind periods '
  'ago to ahead periods ahead, named <table>_YYYYMMDD or <table>_YYYYMM; partitions wholly older than '
  'the retention in setting retention_setting are dropped. default_rows: rows already in the DEFAULT '
  'partition for a new partition''s range move into it, or stay (and the partition is not made). '
  'on_expire: a function(cutoff timestamptz) called, when rows older than the cutoff exist, before '
  'the old partitions are dropped, in place of deleting the DEFAULT partition''s old rows.';
SELECT dwc._keep_seeds('dwc.partitioned_tables');
SELECT pg_catalog.pg_extension_config_dump('dwc.partitioned_tables', '');

CREATE FUNCTION dwc._partitions_maintain(only_table pg_catalog.regclass DEFAULT NULL,
                                         retention pg_catalog.interval DEFAULT NULL)
RETURNS pg_catalog.int4
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t dwc.partitioned_tables;
    step interval;
    fmt text;
    digits int;
    schema text;
    base text;
    deflt regclass;
    d date;
    part text;
    cutoff timestamptz;
    changed int4 := 0;
    replication_role text;
    r record;
BEGIN
    -- one at a time: two passes creating the same partition (the maintenance pass and a
    -- caller) would deadlock on the parent's and the default partition's locks
    PERFORM pg_advisory_xact_lock(hashtext('dwc._partitions_maintain'));
    FOR t IN SELECT * FROM dwc.partitioned_tables
              WHERE only_table IS NULL OR parent = only_table ORDER BY parent::text
    LOOP
        step := CASE t.period WHEN 'day' THEN interval '1 day' ELSE interval '1 month' END;
        fmt := CASE t.period WHEN 'day' THEN 'YYYYMMDD' ELSE 'YYYYMM' END;
        digits := length(fmt);
        SELECT n.nspname, c.relname INTO schema, base
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = t.parent;
        SELECT i.inhrelid::regclass INTO deflt
          FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
         WHERE i.inhparent = t.parent AND pg_get_expr(c.relpartbound, c.oid) = 'DEFAULT';

        -- ahead of time
        FOR d IN SELECT generate_series(date_trunc(t.period, now()) - t.behind * step,
                                        date_trunc(t.period, now()) + t.ahead * step, step)::date
        LOOP
            part := base || '_' || to_char(d, fmt);
            CONTINUE WHEN to_regclass(format('%I.%I', schema, part)) IS NOT NULL;
            IF deflt IS NOT NULL THEN
                IF t.default_rows = 'stay' THEN
                    EXECUTE format('SELECT EXISTS (SELECT 1 FROM %s WHERE %I >= $1 AND %I < $2)',
                                   deflt, t.time_column, t.time_column)
                       INTO r USING d, (d + step)::date;
                    CONTINUE WHEN r.exists;
                ELSE
                    -- the rows of the new range leave the default partition, or creating
                    -- the partition would fail
                    EXECUTE format('CREATE TEMP TABLE dwc_moved_rows (LIKE %s) ON COMMIT DROP', t.parent);
                    EXECUTE format('WITH moved AS (DELETE FROM %s WHERE %I >= $1 AND %I < $2 RETURNING *) '
                                   'INSERT INTO dwc_moved_rows SELECT * FROM moved',
                                   deflt, t.time_column, t.time_column) USING d, (d + step)::date;
                END IF;
            END IF;
            EXECUTE format('CREATE TABLE %I.%I PARTITION OF %s FOR VALUES FROM (%L) TO (%L)',
                           schema, part, t.parent, d, (d + step)::date);
            -- a partition's replica identity is its own: the parent's FULL (no key) carries over
            -- by hand, or logical replication could not replicate its updates and deletes
            IF (SELECT c.relreplident FROM pg_class c WHERE c.oid = t.parent) = 'f' THEN
                EXECUTE format('ALTER TABLE %I.%I REPLICA IDENTITY FULL', schema, part);
            END IF;
            IF to_regclass('pg_temp.dwc_moved_rows') IS NOT NULL THEN
                -- the rows move, they are not new: what their insertion fired (notifications,
                -- automations, audit) must not fire again
                replication_role := current_setting('session_replication_role');
                PERFORM set_config('session_replication_role', 'replica', true);
                EXECUTE format('INSERT INTO %s OVERRIDING SYSTEM VALUE SELECT * FROM dwc_moved_rows', t.parent);
                PERFORM set_config('session_replication_role', replication_role, true);
                DROP TABLE dwc_moved_rows;
            END IF;
            changed := changed + 1;
        END LOOP;

        -- retention
        cutoff := now() - coalesce(retention, current_setting(t.retention_setting)::interval);
        IF t.on_expire IS NOT NULL THEN
            EXECUTE format('SELECT EXISTS (SELECT 1 FROM %s WHERE %I < $1)', t.parent, t.time_column)
               INTO r USING cutoff;
            IF r.exists THEN
                EXECUTE format('SELECT %s($1)', t.on_expire::regproc) USING cutoff;
            END IF;
        ELSIF deflt IS NOT NULL THEN
            EXECUTE format('DELETE FROM %s WHERE %I < $1', deflt, t.time_column) USING cutoff;
        END IF;
        FOR r IN
            SELECT c.oid::regclass AS part,
                   to_date(substring(c.relname FROM '_(\d{' || digits || '})$'), fmt) AS start
              FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
             WHERE i.inhparent = t.parent AND c.relname ~ ('^' || base || '_\d{' || digits || '}$')
        LOOP
            IF r.start + step <= cutoff THEN
                EXECUTE format('DROP TABLE %s', r.part);
                changed := changed + 1;
            END IF;
        END LOOP;
    END LOOP;
    RETURN changed;
END;
$$;
COMMENT ON FUNCTION dwc._partitions_maintain(pg_catalog.regclass, pg_catalog.interval) IS
  'Private: creates the partitions of every table in dwc.partitioned_tables (or only_table) ahead of '
  'time and applies retention (its setting, or the retention given); returns how many partitions it '
  'created or dropped. Run by the maintenance pass every ten minutes.';
