-- src/metrics/metrics.sql: metrics: custom counters, gauges and histograms with labels,
-- the system sampler's readings, rollups, retention, and Prometheus exposition.
-- See docs/metrics.md.
--
-- A metric's current value per label set lives in dwc.metric_values (what Prometheus
-- scrapes); every recorded value is also a sample in dwc.metric_samples, partitioned by day
-- and kept for dwc.metric_retention, and hourly rollups (count, sum, min, max, last) in
-- dwc.metric_rollups, partitioned by month and kept for dwc.metric_rollup_retention. The
-- maintenance worker samples the system (src/metrics/system.c) and rolls up finished hours.
--
-- Who sees what: definitions are shared; a series (values, samples, rollups) belongs to the
-- role and dwc user that recorded it, and only they and administrators see it; the system
-- sampler's series (owner NULL) are visible to all. Row-level security says so on the
-- tables, and the SECURITY DEFINER readers filter the same way.

-- API: Private (tables)

CREATE TABLE dwc.metrics (
    name pg_catalog.text PRIMARY KEY CHECK (name ~ '^[a-zA-Z_:][a-zA-Z0-9_:]{0,199}$'),
    type pg_catalog.text NOT NULL CHECK (type IN ('counter', 'gauge', 'histogram')),
    help pg_catalog.text NOT NULL DEFAULT '',
    unit pg_catalog.text NOT NULL DEFAULT '',
    buckets pg_catalog.float8[],
    builtin pg_catalog.bool NOT NULL DEFAULT false,
    created_at pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now(),
    display_name pg_catalog.text,    -- the name as its definer wrote it, when that is not a Prometheus name
    owner pg_catalog.oid,            -- the defining role (NULL: the system's); it and administrators change help
    owner_user pg_catalog.text,
    CHECK ((type = 'histogram') = (buckets IS NOT NULL))
);
COMMENT ON TABLE dwc.metrics IS
  'Metric definitions, one namespace as Prometheus has: a Prometheus name (derived from display_name when the '
  'definer gave another), counter, gauge or histogram (with its bucket bounds), help and unit; the definer. '
  'builtin: the system sampler''s.';
SELECT pg_catalog.pg_extension_config_dump('dwc.metrics', '');
SELECT dwc._keep_seeds('dwc.metrics');
GRANT SELECT ON dwc.metrics TO PUBLIC;

CREATE TABLE dwc.metric_values (
    name pg_catalog.text NOT NULL REFERENCES dwc.metrics ON DELETE CASCADE,
    labels pg_catalog.jsonb NOT NULL DEFAULT '{}',
    value pg_catalog.float8 NOT NULL DEFAULT 0,
    bucket_counts pg_catalog.int8[],
    count pg_catalog.int8 NOT NULL DEFAULT 0,
    updated_at pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now(),
    owner pg_catalog.oid,            -- the recording role; NULL: the system sampler
    owner_user pg_catalog.text,      -- and its dwc user, when it has one
    CONSTRAINT metric_values_key UNIQUE NULLS NOT DISTINCT (name, labels, owner, owner_user)
);
-- no primary key: logical replication identifies a row by all its columns (docs/replication.md)
ALTER TABLE dwc.metric_values REPLICA IDENTITY FULL;
COMMENT ON TABLE dwc.metric_values IS
  'The current value of each metric per label set and recorder: a counter''s total, a gauge''s last value, a '
  'histogram''s sum (value), count and per-bucket counts (not cumulative). Series are private to their recorder '
  'and administrators; the system sampler''s (owner NULL) are visible to all.';
SELECT pg_catalog.pg_extension_config_dump('dwc.metric_values', '');
SELECT dwc._enable_owner_rls('dwc.metric_values', 'owner IS NULL OR dwc._row_visible(owner, owner_user)');

CREATE TABLE dwc.metric_samples (
    at pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now(),
    name pg_catalog.text NOT NULL,
    labels pg_catalog.jsonb NOT NULL DEFAULT '{}',
    value pg_catalog.float8 NOT NULL,
    owner pg_catalog.oid,
    owner_user pg_catalog.text
) PARTITION BY RANGE (at);
COMMENT ON TABLE dwc.metric_samples IS
  'Every recorded value (a counter''s total after the increment, a gauge''s value, a histogram''s observation), '
  'partitioned by day; partitions older than dwc.metric_retention are dropped.';
CREATE TABLE dwc.metric_samples_default PARTITION OF dwc.metric_samples DEFAULT;
-- no key to name a row by: logical replication identifies it by all its columns (docs/replication.md);
-- the partition manager gives each new partition the same
ALTER TABLE dwc.metric_samples REPLICA IDENTITY FULL;
ALTER TABLE dwc.metric_samples_default REPLICA IDENTITY FULL;
SELECT pg_catalog.pg_extension_config_dump('dwc.metric_samples_default', '');
CREATE INDEX metric_samples_name ON dwc.metric_samples (name, at);
INSERT INTO dwc.distributable_tables (table_name, refused)
VALUES ('dwc.metric_samples', 'the dwc of every node records its own samples into it and keeps its own daily '
                              'partitions, which a distributed table''s partitions on the worker nodes would collide with');
SELECT pg_catalog.pg_extension_config_dump('dwc.metric_samples', '');
INSERT INTO dwc.partitioned_tables (parent, time_column, period, behind, ahead, retention_setting, default_rows)
VALUES ('dwc.metric_samples', 'at', 'day', 1, 2, 'dwc.metric_retention', 'move');
SELECT dwc._enable_owner_rls('dwc.metric_samples', 'owner IS NULL OR dwc._row_visible(owner, owner_user)');

CREATE TABLE dwc.metric_rollups (
    hour pg_catalog.timestamptz NOT NULL,
    name pg_catalog.text NOT NULL,
    labels pg_catalog.jsonb NOT NULL DEFAULT '{}',
    n pg_catalog.int8 NOT NULL,
    sum pg_catalog.float8 NOT NULL,
    min pg_catalog.float8 NOT NULL,
    max pg_catalog.float8 NOT NULL,
    last pg_catalog.float8 NOT NULL,
    owner pg_catalog.oid,
    owner_user pg_catalog.text,
    CONSTRAINT metric_rollups_key UNIQUE NULLS NOT DISTINCT (hour, name, labels, owner, owner_user)
) PARTITION BY RANGE (hour);
COMMENT ON TABLE dwc.metric_rollups IS
  'Hourly rollups of dwc.metric_samples (count, sum, min, max, last per metric and label set), partitioned by '
  'month, kept for dwc.metric_rollup_retention.';
CREATE TABLE dwc.metric_rollups_default PARTITION OF dwc.metric_rollups DEFAULT;
-- no key to name a row by: logical replication identifies it by all its columns (docs/replication.md);
-- the partition manager gives each new partition the same
ALTER TABLE dwc.metric_rollups REPLICA IDENTITY FULL;
ALTER TABLE dwc.metric_rollups_default REPLICA IDENTITY FULL;
SELECT pg_catalog.pg_extension_config_dump('dwc.metric_rollups_default', '');
SELECT pg_catalog.pg_extension_config_dump('dwc.metric_rollups', '');
INSERT INTO dwc.partitioned_tables (parent, time_column, period, behind, ahead, retention_setting, default_rows)
VALUES ('dwc.metric_rollups', 'hour', 'month', 0, 1, 'dwc.metric_rollup_retention', 'move');
SELECT dwc._enable_owner_rls('dwc.metric_rollups', 'owner IS NULL OR dwc._row_visible(owner, owner_user)');

-- up to which hour rollups are done
CREATE TABLE dwc.metric_rollup_state (
    id pg_catalog.int4 PRIMARY KEY CHECK (id = 1),
    done_until pg_catalog.timestamptz
);
SELECT pg_catalog.pg_extension_config_dump('dwc.metric_rollup_state', '');
SELECT dwc._keep_seeds('dwc.metric_rollup_state');
INSERT INTO dwc.metric_rollup_state VALUES (1, NULL);

-- the system sampler's metrics
INSERT INTO dwc.metrics (name, type, help, unit, builtin) VALUES
    ('dwc_system_cpu_usage_ratio', 'gauge', 'Share of all CPUs busy since the previous sample (/proc/stat).', 'ratio', true),
    ('dwc_system_cpus', 'gauge', 'CPUs online.', '', true),
    ('dwc_system_load1', 'gauge', 'Load average over 1 minute (/proc/loadavg).', '', true),
    ('dwc_system_load5', 'gauge', 'Load average over 5 minutes.', '', true),
    ('dwc_system_memory_total_bytes', 'gauge', 'Memory (/proc/meminfo MemTotal).', 'bytes', true),
    ('dwc_system_memory_available_bytes', 'gauge', 'Memory available for new work (MemAvailable).', 'bytes', true),
    ('dwc_system_memory_used_ratio', 'gauge', '1 - MemAvailable / MemTotal.', 'ratio', true),
    ('dwc_system_disk_total_bytes', 'gauge', 'Size of the file system of the data directory.', 'bytes', true),
    ('dwc_system_disk_free_bytes', 'gauge', 'Free space on the file system of the data directory.', 'bytes', true),
    ('dwc_system_network_receive_bytes_total', 'counter', 'Bytes received by all interfaces but lo (/proc/net/dev).', 'bytes', true),
    ('dwc_system_network_transmit_bytes_total', 'counter', 'Bytes sent by all interfaces but lo.', 'bytes', true),
    ('dwc_pg_backends', 'gauge', 'Sessions of this database (pg_stat_database.numbackends).', '', true),
    ('dwc_pg_xact_commit_total', 'counter', 'Transactions committed in this database.', '', true),
    ('dwc_pg_xact_rollback_total', 'counter', 'Transactions rolled back in this database.', '', true),
    ('dwc_pg_cache_hit_ratio', 'gauge', 'Share of block reads served from shared buffers.', 'ratio', true),
    ('dwc_pg_database_size_bytes', 'gauge', 'Size of this database.', 'bytes', true),
    ('dwc_pg_deadlocks_total', 'counter', 'Deadlocks detected in this database.', '', true);

-- ---- recording --------------------------------------------------------------------------

-- API: Private

CREATE FUNCTION dwc._metric_labels(labels pg_catalog.jsonb) RETURNS pg_catalog.jsonb
LANGUAGE c IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'dwc__metric_labels';
COMMENT ON FUNCTION dwc._metric_labels(pg_catalog.jsonb) IS
  'Private: labels checked (an object of at most 10 names of letters, digits and _, values of at most 200 '
  'characters) and put in their one form, every value a string (src/metrics/labels.c).';
GRANT EXECUTE ON FUNCTION dwc._metric_labels(pg_catalog.jsonb) TO PUBLIC;

-- A metric's Prometheus name: the name itself when it is one (so names defined before the
-- names rule keep their case and colons), else its slug (core/names.sql), which is
-- "_"-prefixed when it starts with a digit. NULL for a name the rule refuses.
CREATE FUNCTION dwc._metric_name(name pg_catalog.text) RETURNS pg_catalog.text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN CASE WHEN name ~ '^[a-zA-Z_:][a-zA-Z0-9_:]{0,199}$' THEN name
            WHEN dwc._valid_name(name) THEN regexp_replace(dwc.name_slug(name), '^([0-9])', '_\1') END;
COMMENT ON FUNCTION dwc._metric_name(pg_catalog.text) IS
  'Private: the Prometheus name of a metric named name: name itself when it is a Prometheus name, else its slug '
  '(dwc.name_slug(), "_" before a leading digit); NULL for a name dwc._valid_name() refuses.';
GRANT EXECUTE ON FUNCTION dwc._metric_name(pg_catalog.text) TO PUBLIC;

CREATE FUNCTION dwc._define_metric(caller pg_catalog.oid, name pg_catalog.text, type pg_catalog.text,
                                   help pg_catalog.text DEFAULT '', unit pg_catalog.text DEFAULT '',
                                   buckets pg_catalog.float8[] DEFAULT NULL)
RETURNS dwc.metrics
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    prom text := dwc._metric_name(name);
    m dwc.metrics;
    b float8[];
BEGIN
    IF prom IS NULL OR type IS NULL OR type NOT IN ('counter', 'gauge', 'histogram') THEN
        RAISE EXCEPTION 'invalid metric "%"', name USING ERRCODE = 'invalid_parameter_value',
            DETAIL = 'A name is up to 200 characters with a letter or digit (a Prometheus name is used as it is, '
                     'another becomes its slug); types: counter, gauge, histogram.';
    END IF;
    IF prom LIKE 'dwc\_%' THEN
        RAISE EXCEPTION 'metric names starting with dwc_ are dwc''s own: "%"', prom USING ERRCODE = 'reserved_name',
            HINT = 'Name the metric otherwise; dwc''s own series are in dwc.prometheus_metrics() for administrators.';
    END IF;
    IF type = 'histogram' THEN
        b := coalesce(buckets, '{0.005,0.01,0.025,0.05,0.1,0.25,0.5,1,2.5,5,10}');
        IF cardinality(b) = 0 OR cardinality(b) > 50
           OR EXISTS (SELECT 1 FROM generate_subscripts(b, 1) i WHERE i > 1 AND b[i] <= b[i - 1])
           OR EXISTS (SELECT 1 FROM unnest(b) x WHERE x = 'NaN' OR x = 'Infinity' OR x = '-Infinity') THEN
            RAISE EXCEPTION 'histogram buckets are 1 to 50 finite upper bounds in increasing order'
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
    ELSIF buckets IS NOT NULL THEN
        RAISE EXCEPTION 'only histograms have buckets' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- ON CONFLICT: two sessions recording a new metric at once define it once
    INSERT INTO dwc.metrics AS x (name, type, help, unit, buckets, display_name, owner, owner_user)
    VALUES (prom, _define_metric.type,
            coalesce(nullif(_define_metric.help, ''), nullif(_define_metric.name, prom), ''),
            coalesce(_define_metric.unit, ''), b, nullif(_define_metric.name, prom), caller, dwc.current_user_id())
    ON CONFLICT ON CONSTRAINT metrics_pkey DO NOTHING
    RETURNING * INTO m;
    IF FOUND THEN
        RETURN m;
    END IF;
    SELECT * INTO m FROM dwc.metrics x WHERE x.name = prom;
    IF m.type IS DISTINCT FROM type OR m.buckets IS DISTINCT FROM b THEN
        RAISE EXCEPTION 'metric "%" exists as a % with other buckets or type', prom, m.type
            USING ERRCODE = 'duplicate_object';
    END IF;
    -- defining it again the same way: its definer (or an administrator) may reword it
    IF NOT m.builtin AND m.owner IS NOT NULL AND dwc._may_manage(caller, m.owner, m.owner_user)
       AND (help IS NOT NULL OR unit IS NOT NULL) THEN
        UPDATE dwc.metrics x
           SET help = CASE WHEN _define_metric.help IS NULL THEN x.help
                           ELSE coalesce(nullif(_define_metric.help, ''), x.display_name, '') END,
               unit = coalesce(_define_metric.unit, x.unit)
         WHERE x.name = prom RETURNING * INTO m;
    END IF;
    RETURN m;
END;
$$;
COMMENT ON FUNCTION dwc._define_metric(pg_catalog.oid, pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.float8[]) IS
  'Private: dwc.define_metric() for caller.';
SELECT dwc._declare_public('dwc._define_metric',
  'Defines a metric: a name (a Prometheus name as it is; any other, such as "Orders placed", by its slug '
  'orders_placed, the name kept as the help), type counter, gauge or histogram (buckets: increasing upper '
  'bounds, by default 5 ms to 10 s), help and unit; returns the definition. Anyone may define one; defining it '
  'again the same way changes help and unit when the caller defined it (or is an administrator), nothing '
  'otherwise. Recording a metric that does not exist defines it.');

-- The definition a recording function writes to: found by its Prometheus name, defined on
-- first use with the type the recording function implies (as StatsD does), so that users
-- need no administrator before they count something.
CREATE FUNCTION dwc._metric(name pg_catalog.text, want pg_catalog.text, caller pg_catalog.oid) RETURNS dwc.metrics
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    m dwc.metrics;
BEGIN
    SELECT * INTO m FROM dwc.metrics x WHERE x.name = dwc._metric_name(_metric.name);
    IF NOT FOUND THEN
        RETURN dwc._define_metric(caller, name, want, NULL, NULL, NULL);
    END IF;
    IF m.builtin THEN
        RAISE EXCEPTION 'metric "%" is dwc''s own: only dwc records it', m.name USING ERRCODE = 'reserved_name';
    END IF;
    IF m.type <> want THEN
        RAISE EXCEPTION 'metric "%" is a %, not a %', m.name, m.type, want USING ERRCODE = 'wrong_object_type';
    END IF;
    RETURN m;
END;
$$;
COMMENT ON FUNCTION dwc._metric(pg_catalog.text, pg_catalog.text, pg_catalog.oid) IS
  'Private: the definition of the metric named name (as written or by its Prometheus name), which must be of type '
  'want; one of that type with default buckets, defined by caller, when there is none.';

-- API: Public

-- Recording: each public function is the trampoline (src/security/trampoline.c) of a private
-- one that also gets the caller, the series' owner.
CREATE FUNCTION dwc._metric_inc(caller pg_catalog.oid, name pg_catalog.text,
                                amount pg_catalog.float8 DEFAULT 1, labels pg_catalog.jsonb DEFAULT '{}')
RETURNS pg_catalog.float8
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    m dwc.metrics := dwc._metric(name, 'counter', caller);
    l jsonb := dwc._metric_labels(labels);
    me text := dwc.current_user_id();
    total float8;
BEGIN
    IF amount IS NULL OR amount < 0 OR amount = 'NaN' OR amount = 'Infinity' THEN
        RAISE EXCEPTION 'a counter only goes up: amount must be a finite number >= 0' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO dwc.metric_values AS v (name, labels, value, count, owner, owner_user)
    VALUES (m.name, l, amount, 1, caller, me)
    ON CONFLICT ON CONSTRAINT metric_values_key DO UPDATE SET value = v.value + excluded.value, count = v.count + 1, updated_at = now()
    RETURNING v.value INTO total;
    INSERT INTO dwc.metric_samples (name, labels, value, owner, owner_user) VALUES (m.name, l, total, caller, me);
    RETURN total;
END;
$$;
-- the SQL path of dwc.metric_inc (src/metrics/record.c records in shared memory, and comes
-- here when it cannot)
REVOKE ALL ON FUNCTION dwc._metric_inc(pg_catalog.oid, pg_catalog.text, pg_catalog.float8, pg_catalog.jsonb) FROM PUBLIC;
CREATE FUNCTION dwc.metric_inc(name pg_catalog.text, amount pg_catalog.float8 DEFAULT 1, labels pg_catalog.jsonb DEFAULT '{}')
RETURNS pg_catalog.float8
LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'dwc_metric_inc';
COMMENT ON FUNCTION dwc.metric_inc(pg_catalog.text, pg_catalog.float8, pg_catalog.jsonb) IS
  'Adds amount (default 1, never negative) to a counter for a label set; returns its new total. The series is '
  'the caller''s: private to them and administrators. Recorded in shared memory at once (a rollback does not '
  'take it back) and written to the tables within a second.';
COMMENT ON FUNCTION dwc._metric_inc(pg_catalog.oid, pg_catalog.text, pg_catalog.float8, pg_catalog.jsonb) IS
  'Private: dwc.metric_inc() through SQL, for caller (without shared memory, or when it is full).';

CREATE FUNCTION dwc._metric_set(caller pg_catalog.oid, name pg_catalog.text, value pg_catalog.float8,
                                labels pg_catalog.jsonb DEFAULT '{}')
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    m dwc.metrics := dwc._metric(name, 'gauge', caller);
    l jsonb := dwc._metric_labels(labels);
    me text := dwc.current_user_id();
BEGIN
    IF value IS NULL OR value = 'NaN' THEN
        RAISE EXCEPTION 'a gauge needs a number' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO dwc.metric_values AS v (name, labels, value, count, owner, owner_user)
    VALUES (m.name, l, _metric_set.value, 1, caller, me)
    ON CONFLICT ON CONSTRAINT metric_values_key DO UPDATE SET value = excluded.value, count = v.count + 1, updated_at = now();
    INSERT INTO dwc.metric_samples (name, labels, value, owner, owner_user) VALUES (m.name, l, _metric_set.value, caller, me);
END;
$$;
-- the SQL path of dwc.metric_set (src/metrics/record.c records in shared memory, and comes
-- here when it cannot)
REVOKE ALL ON FUNCTION dwc._metric_set(pg_catalog.oid, pg_catalog.text, pg_catalog.float8, pg_catalog.jsonb) FROM PUBLIC;
CREATE FUNCTION dwc.metric_set(name pg_catalog.text, value pg_catalog.float8, labels pg_catalog.jsonb DEFAULT '{}')
RETURNS void
LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'dwc_metric_set';
COMMENT ON FUNCTION dwc.metric_set(pg_catalog.text, pg_catalog.float8, pg_catalog.jsonb) IS
  'Sets a gauge for a label set (the caller''s series: private to them and administrators). Recorded in shared '
  'memory at once and written to the tables within a second.';
COMMENT ON FUNCTION dwc._metric_set(pg_catalog.oid, pg_catalog.text, pg_catalog.float8, pg_catalog.jsonb) IS
  'Private: dwc.metric_set() through SQL, for caller (without shared memory, or when it is full).';

CREATE FUNCTION dwc._metric_observe(caller pg_catalog.oid, name pg_catalog.text, value pg_catalog.float8,
                                    labels pg_catalog.jsonb DEFAULT '{}')
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    m dwc.metrics := dwc._metric(name, 'histogram', caller);
    l jsonb := dwc._metric_labels(labels);
    me text := dwc.current_user_id();
    -- the bucket the value falls in (1-based), or cardinality + 1 for +Inf
    b int := coalesce((SELECT min(i) FROM generate_subscripts(m.buckets, 1) i WHERE _metric_observe.value <= m.buckets[i]),
                      cardinality(m.buckets) + 1);
    counts int8[] := array_fill(0::int8, ARRAY[cardinality(m.buckets) + 1]);
BEGIN
    IF _metric_observe.value IS NULL OR _metric_observe.value = 'NaN' OR _metric_observe.value = 'Infinity'
       OR _metric_observe.value = '-Infinity' THEN
        RAISE EXCEPTION 'an observation is a finite number' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    counts[b] := 1;
    INSERT INTO dwc.metric_values AS v (name, labels, value, count, bucket_counts, owner, owner_user)
    VALUES (m.name, l, _metric_observe.value, 1, counts, caller, me)
    ON CONFLICT ON CONSTRAINT metric_values_key DO UPDATE
       SET value = v.value + excluded.value, count = v.count + 1, updated_at = now(),
           bucket_counts = (SELECT array_agg(coalesce(v.bucket_counts[i], 0) + excluded.bucket_counts[i] ORDER BY i)
                              FROM generate_subscripts(excluded.bucket_counts, 1) i);
    INSERT INTO dwc.metric_samples (name, labels, value, owner, owner_user)
    VALUES (m.name, l, _metric_observe.value, caller, me);
END;
$$;
-- the SQL path of dwc.metric_observe (src/metrics/record.c records in shared memory, and comes
-- here when it cannot)
REVOKE ALL ON FUNCTION dwc._metric_observe(pg_catalog.oid, pg_catalog.text, pg_catalog.float8, pg_catalog.jsonb) FROM PUBLIC;
CREATE FUNCTION dwc.metric_observe(name pg_catalog.text, value pg_catalog.float8, labels pg_catalog.jsonb DEFAULT '{}')
RETURNS void
LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'dwc_metric_observe';
COMMENT ON FUNCTION dwc.metric_observe(pg_catalog.text, pg_catalog.float8, pg_catalog.jsonb) IS
  'Records an observation (a duration, a size) in a histogram for a label set (the caller''s series: private to '
  'them and administrators). Recorded in shared memory at once and written to the tables within a second.';
COMMENT ON FUNCTION dwc._metric_observe(pg_catalog.oid, pg_catalog.text, pg_catalog.float8, pg_catalog.jsonb) IS
  'Private: dwc.metric_observe() through SQL, for caller (without shared memory, or when it is full).';

-- What shared memory holds and the tables do not yet (src/metrics/record.c): the readers
-- below put it over the tables', so that a value is seen as soon as it is recorded.
CREATE FUNCTION dwc._metric_pending()
RETURNS TABLE (name pg_catalog.text, labels pg_catalog.jsonb, owner pg_catalog.oid, owner_user pg_catalog.text,
               value pg_catalog.float8, count pg_catalog.int8, bucket_counts pg_catalog.int8[],
               updated_at pg_catalog.timestamptz, defined_at pg_catalog.timestamptz)
LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'dwc__metric_pending';
COMMENT ON FUNCTION dwc._metric_pending() IS
  'Private: this database''s metric series held in shared memory (never older than the table''s rows, which a '
  'reader''s snapshot may not show yet), with the created_at of the definition they were recorded under.';
REVOKE ALL ON FUNCTION dwc._metric_pending() FROM PUBLIC;

CREATE FUNCTION dwc._metric_pending_samples()
RETURNS TABLE (at pg_catalog.timestamptz, name pg_catalog.text, labels pg_catalog.jsonb, value pg_catalog.float8,
               owner pg_catalog.oid, owner_user pg_catalog.text)
LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'dwc__metric_pending_samples';
COMMENT ON FUNCTION dwc._metric_pending_samples() IS
  'Private: this database''s recorded metric samples that the maintenance worker has not yet written, or whose '
  'write the caller''s snapshot does not see.';
REVOKE ALL ON FUNCTION dwc._metric_pending_samples() FROM PUBLIC;

CREATE FUNCTION dwc._metric_samples_lost() RETURNS pg_catalog.int8
LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'dwc__metric_samples_lost';
COMMENT ON FUNCTION dwc._metric_samples_lost() IS
  'Private: metric samples lost since the server started because the buffer (dwc.metric_buffer) filled before '
  'the maintenance worker wrote them.';

-- backends cache definitions; a change made at commit tells them
CREATE FUNCTION dwc._metrics_changed() RETURNS trigger
LANGUAGE c AS 'MODULE_PATHNAME', 'dwc__metrics_changed';
COMMENT ON FUNCTION dwc._metrics_changed() IS
  'Private: statement trigger on dwc.metrics: the definitions backends cache are stale at commit.';
REVOKE ALL ON FUNCTION dwc._metrics_changed() FROM PUBLIC;
CREATE TRIGGER metrics_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON dwc.metrics
    FOR EACH STATEMENT EXECUTE FUNCTION dwc._metrics_changed();

-- What a caller may see of the series: the system's, and, unless an administrator, only
-- their own (the rule of the tables' row-level security, for SECURITY DEFINER readers).
CREATE FUNCTION dwc._metric_visible(caller pg_catalog.oid, owner pg_catalog.oid, owner_user pg_catalog.text)
RETURNS pg_catalog.bool
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN owner IS NULL OR dwc._may_manage(caller, owner, owner_user);
COMMENT ON FUNCTION dwc._metric_visible(pg_catalog.oid, pg_catalog.oid, pg_catalog.text) IS
  'Private: may caller see a metric series recorded by (owner, owner_user)? The system sampler''s (owner NULL) '
  'are everyone''s; others are their recorder''s and administrators''.';

-- The current values a caller may see, one row per metric and label set: counters and
-- histograms summed over their recorders, a gauge's latest value.
CREATE FUNCTION dwc._metric_current_values(caller pg_catalog.oid)
RETURNS TABLE (name pg_catalog.text, labels pg_catalog.jsonb, value pg_catalog.float8, count pg_catalog.int8,
               bucket_counts pg_catalog.int8[], updated_at pg_catalog.timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    -- of the metric as it is defined now (one dropped and made again starts over)
    WITH p AS (SELECT q.* FROM dwc._metric_pending() q
                WHERE EXISTS (SELECT 1 FROM dwc.metrics d WHERE d.name = q.name AND d.created_at = q.defined_at)),
    -- the tables' values, and over them what shared memory holds and they do not yet
    x AS (SELECT t.name, t.labels, t.owner, t.owner_user, t.value, t.count, t.bucket_counts, t.updated_at
            FROM dwc.metric_values t
           WHERE NOT EXISTS (SELECT 1 FROM p WHERE p.name = t.name AND p.labels = t.labels AND p.owner = t.owner
                                                AND p.owner_user IS NOT DISTINCT FROM t.owner_user)
          UNION ALL
          SELECT p.name, p.labels, p.owner, p.owner_user, p.value, p.count, p.bucket_counts, p.updated_at FROM p),
    v AS (SELECT x.*, m.type FROM x JOIN dwc.metrics m ON m.name = x.name
           WHERE dwc._metric_visible(caller, x.owner, x.owner_user))
    SELECT v.name, v.labels,
           CASE WHEN min(v.type) = 'gauge' THEN (array_agg(v.value ORDER BY v.updated_at DESC))[1] ELSE sum(v.value) END,
           sum(v.count)::int8,
           CASE WHEN min(v.type) = 'histogram'
                THEN (SELECT array_agg(b.s ORDER BY b.i) FROM (
                        SELECT i, sum(v2.bucket_counts[i])::int8 AS s
                          FROM v v2, generate_subscripts(v2.bucket_counts, 1) i
                         WHERE v2.name = v.name AND v2.labels = v.labels
                         GROUP BY i) b) END,
           max(v.updated_at)
      FROM v GROUP BY v.name, v.labels;
END;
SELECT dwc._declare_public('dwc._metric_current_values',
  'The current value of every metric per label set, of the series the caller may see (the system''s and their '
  'own; everyone''s for administrators): counters and histograms summed over their recorders (bucket counts not '
  'cumulative), a gauge''s latest value.');

CREATE FUNCTION dwc._metric_series(caller pg_catalog.oid, name pg_catalog.text,
                                   labels pg_catalog.jsonb DEFAULT NULL,
                                   since pg_catalog.timestamptz DEFAULT pg_catalog.now() - interval '1 hour',
                                   until pg_catalog.timestamptz DEFAULT pg_catalog.now(),
                                   step pg_catalog.interval DEFAULT '1 minute')
RETURNS TABLE (at pg_catalog.timestamptz, n pg_catalog.int8, avg pg_catalog.float8, min pg_catalog.float8,
               max pg_catalog.float8, last pg_catalog.float8)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT date_bin(step, s.at, '2000-01-01') AS at, count(*), avg(s.value), min(s.value), max(s.value),
           (array_agg(s.value ORDER BY s.at DESC))[1]
      FROM (SELECT t.at, t.name, t.labels, t.value, t.owner, t.owner_user FROM dwc.metric_samples t
            UNION ALL
            -- what shared memory holds and the table does not yet
            SELECT p.at, p.name, p.labels, p.value, p.owner, p.owner_user FROM dwc._metric_pending_samples() p) s
     WHERE s.name = _metric_series.name AND s.at >= since AND s.at < until
       AND (_metric_series.labels IS NULL OR s.labels @> dwc._metric_labels(_metric_series.labels))
       AND dwc._metric_visible(caller, s.owner, s.owner_user)
       AND step >= interval '1 second'
     GROUP BY 1 ORDER BY 1;
END;
SELECT dwc._declare_public('dwc._metric_series',
  'A metric''s samples between since and until, per step (at least a second): count, avg, min, max, last; '
  'labels (a subset) filter the series. Only the series the caller may see: the system''s, their own, and for '
  'administrators everyone''s.');

-- ---- the sampler and rollups (maintenance tasks, src/metrics/init.c) ---------------------

-- API: Private

CREATE FUNCTION dwc._system_readings() RETURNS pg_catalog.jsonb
LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'dwc__system_readings';
COMMENT ON FUNCTION dwc._system_readings() IS
  'Private: the machine now, from /proc and statvfs of the data directory: cpu usage since this backend''s previous '
  'call, load, memory, disk, network totals.';
REVOKE ALL ON FUNCTION dwc._system_readings() FROM PUBLIC;

CREATE FUNCTION dwc._metrics_sample() RETURNS pg_catalog.int4
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r jsonb := dwc._system_readings();
    d record;
    n int4;
BEGIN
    SELECT numbackends, xact_commit, xact_rollback, deadlocks,
           CASE WHEN blks_hit + blks_read > 0 THEN blks_hit::float8 / (blks_hit + blks_read) END AS hit
      INTO d FROM pg_stat_database WHERE datname = current_database();
    r := r || jsonb_strip_nulls(jsonb_build_object(
        'dwc_pg_backends', d.numbackends, 'dwc_pg_xact_commit_total', d.xact_commit,
        'dwc_pg_xact_rollback_total', d.xact_rollback, 'dwc_pg_deadlocks_total', d.deadlocks,
        'dwc_pg_cache_hit_ratio', d.hit, 'dwc_pg_database_size_bytes', pg_database_size(current_database())));
    INSERT INTO dwc.metric_values AS v (name, labels, value, count)
    SELECT e.key, '{}', e.value::float8, 1 FROM jsonb_each_text(r) e JOIN dwc.metrics m ON m.name = e.key
    ON CONFLICT ON CONSTRAINT metric_values_key DO UPDATE SET value = excluded.value, count = v.count + 1, updated_at = now();
    INSERT INTO dwc.metric_samples (name, labels, value)
    SELECT e.key, '{}', e.value::float8 FROM jsonb_each_text(r) e JOIN dwc.metrics m ON m.name = e.key;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END;
$$;
COMMENT ON FUNCTION dwc._metrics_sample() IS
  'Private: one sample of the system and of PostgreSQL''s statistics into the dwc_system_* and dwc_pg_* metrics '
  '(the cumulative ones, *_total, are counters: their values as the system counts them); '
  'run by the maintenance worker every dwc.metrics_sample_interval.';

CREATE FUNCTION dwc._metrics_rollup() RETURNS pg_catalog.int4
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    upto timestamptz := date_trunc('hour', now());
    from_ timestamptz;
    n int4;
BEGIN
    SELECT coalesce(done_until, (SELECT date_trunc('hour', min(at)) FROM dwc.metric_samples), upto)
      INTO from_ FROM dwc.metric_rollup_state WHERE id = 1 FOR UPDATE;
    IF from_ >= upto THEN
        RETURN 0;
    END IF;
    INSERT INTO dwc.metric_rollups (hour, name, labels, n, sum, min, max, last, owner, owner_user)
    SELECT date_trunc('hour', s.at), s.name, s.labels, count(*), sum(s.value), min(s.value), max(s.value),
           (array_agg(s.value ORDER BY s.at DESC))[1], s.owner, s.owner_user
      FROM dwc.metric_samples s WHERE s.at >= from_ AND s.at < upto
     GROUP BY 1, 2, 3, 9, 10
    ON CONFLICT ON CONSTRAINT metric_rollups_key DO UPDATE
       SET n = excluded.n, sum = excluded.sum, min = excluded.min, max = excluded.max, last = excluded.last;
    GET DIAGNOSTICS n = ROW_COUNT;
    UPDATE dwc.metric_rollup_state SET done_until = upto WHERE id = 1;
    RETURN n;
END;
$$;
COMMENT ON FUNCTION dwc._metrics_rollup() IS
  'Private: rolls the finished hours of dwc.metric_samples up into dwc.metric_rollups; run by the maintenance worker.';

-- ---- Prometheus --------------------------------------------------------------------------

CREATE FUNCTION dwc._prom_number(v pg_catalog.float8) RETURNS pg_catalog.text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
RETURN CASE WHEN v = 'Infinity' THEN '+Inf' WHEN v = '-Infinity' THEN '-Inf' WHEN v = 'NaN' THEN 'NaN' ELSE v::text END;
GRANT EXECUTE ON FUNCTION dwc._prom_number(pg_catalog.float8) TO PUBLIC;

CREATE FUNCTION dwc._prom_labels(labels pg_catalog.jsonb, extra pg_catalog.text DEFAULT NULL) RETURNS pg_catalog.text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
RETURN (SELECT CASE WHEN count(*) = 0 THEN '' ELSE '{' || string_agg(x, ',' ORDER BY o, x) || '}' END
          FROM (SELECT 0 AS o, key || '="' || replace(replace(replace(value, E'\\', E'\\\\'), '"', E'\\"'), E'\n', E'\\n') || '"' AS x
                  FROM jsonb_each_text(coalesce(labels, '{}'))
                UNION ALL
                SELECT 1, extra WHERE extra IS NOT NULL) l);
GRANT EXECUTE ON FUNCTION dwc._prom_labels(pg_catalog.jsonb, pg_catalog.text) TO PUBLIC;

-- dwc's own gauges, read at each scrape from where the state is (the queue, the scheduler, the
-- notification outbox, the workers, the WebSocket gateway); its counters and histograms are
-- dwc._own_series() (src/core/counters.sql). Administrators' only: queue names are users'.
CREATE FUNCTION dwc._own_gauges()
RETURNS TABLE (name pg_catalog.text, help pg_catalog.text, labels pg_catalog.jsonb, value pg_catalog.float8)
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    WITH running AS (SELECT r.job_id FROM dwc._running_jobs() r),
    jobs AS (
        SELECT j.queue,
               CASE WHEN j.status = 'running' OR j.id IN (SELECT job_id FROM running) THEN 'running'
                    WHEN j.run_at > now() THEN 'scheduled' ELSE 'ready' END AS state,
               j.run_at
          FROM dwc.jobs j),
    agg AS (SELECT j.queue, j.state, count(*) AS n, min(j.run_at) AS oldest FROM jobs j GROUP BY 1, 2),
    queues AS (SELECT q.name AS queue FROM dwc.queues q UNION SELECT a.queue FROM agg a)
    SELECT 'dwc_queue_jobs',
           'Jobs in the queue now, by queue and state (ready: due and waiting for a worker; scheduled: due later; running).',
           jsonb_build_object('queue', q.queue, 'state', st.state), coalesce(a.n, 0)::float8
      FROM queues q CROSS JOIN (VALUES ('ready'), ('scheduled'), ('running')) st (state)
           LEFT JOIN agg a ON a.queue = q.queue AND a.state = st.state
    UNION ALL
    SELECT 'dwc_queue_oldest_ready_seconds', 'How long the oldest ready job of each queue has been due (0: none).',
           jsonb_build_object('queue', q.queue), coalesce(extract(epoch FROM now() - a.oldest), 0)::float8
      FROM queues q LEFT JOIN agg a ON a.queue = q.queue AND a.state = 'ready'
    UNION ALL
    SELECT 'dwc_workers', 'dwc background workers alive that serve this database, by kind.',
           jsonb_build_object('kind', k.kind),
           (SELECT count(*) FROM dwc.status() s WHERE s.kind = k.kind AND s.database = current_database())::float8
      FROM (VALUES ('job'), ('scheduler'), ('maintenance')) k (kind)
    UNION ALL
    SELECT 'dwc_scheduler_lag_seconds',
           'How far behind the scheduler is: the time since the earliest fire time that is due and not yet fired (0: none).',
           '{}', greatest(extract(epoch FROM now() - min(s.next_run_at)), 0)::float8
      FROM dwc.schedules s WHERE s.enabled
    UNION ALL
    SELECT 'dwc_notifications_outbox', 'Notifications waiting to be delivered (queued or retrying), by channel.',
           jsonb_build_object('channel', c.channel), count(n.id)::float8
      FROM (SELECT ch.name AS channel FROM dwc.notification_channels ch
            UNION SELECT o.channel FROM dwc.notifications o WHERE o.status IN ('queued', 'retrying')) c
           LEFT JOIN dwc.notifications n ON n.channel = c.channel AND n.status IN ('queued', 'retrying')
     GROUP BY c.channel
    UNION ALL
    SELECT 'dwc_websocket_connections', 'Connections open to the WebSocket gateway (all databases).',
           '{}', coalesce((dwc.realtime_stats()->>'open')::float8, 0);
END;
COMMENT ON FUNCTION dwc._own_gauges() IS
  'Private: dwc''s own gauges now, for the Prometheus exposition: jobs by queue and state, the oldest ready job''s '
  'age, workers alive, scheduler lag, the notification outbox, WebSocket connections.';

-- API: Public

CREATE FUNCTION dwc._prometheus_metrics(caller pg_catalog.oid) RETURNS pg_catalog.text
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
RETURN (
    -- administrators see dwc's own series beside the metrics' (a name is one or the other: dwc_
    -- names are dwc's); each row carries what its family's HELP, TYPE and buckets are
    WITH own AS (SELECT * FROM dwc._own_series() o WHERE dwc._caller_is_admin(caller)
                 UNION ALL
                 SELECT g.name, 'gauge', g.help, g.labels, g.value, 1, NULL, NULL
                   FROM dwc._own_gauges() g WHERE dwc._caller_is_admin(caller)),
    m AS (SELECT d.name, d.type, d.help, d.buckets FROM dwc.metrics d
          UNION ALL
          SELECT DISTINCT ON (o.name) o.name, o.type, o.help, o.bounds FROM own o),
    vals AS (SELECT v.name, v.labels, v.value, v.count, v.bucket_counts FROM dwc._metric_current_values(caller) v
             UNION ALL
             SELECT o.name, o.labels, o.value, o.count, o.bucket_counts FROM own o),
    lines AS (
        SELECT m.name, 0 AS part, NULL::jsonb AS labels, 0 AS k,
               '# HELP ' || m.name || ' ' || replace(replace(coalesce(nullif(m.help, ''), m.name), E'\\', E'\\\\'), E'\n', E'\\n')
               || E'\n# TYPE ' || m.name || ' ' || m.type AS line
          FROM m WHERE EXISTS (SELECT 1 FROM vals v WHERE v.name = m.name)
        UNION ALL
        SELECT m.name, 1, v.labels, 0, m.name || dwc._prom_labels(v.labels) || ' ' || dwc._prom_number(v.value)
          FROM m JOIN vals v ON v.name = m.name WHERE m.type <> 'histogram'
        UNION ALL
        -- histograms: cumulative buckets, +Inf, sum, count
        SELECT m.name, 1, v.labels, i,
               m.name || '_bucket' || dwc._prom_labels(v.labels, 'le="' ||
                   CASE WHEN i > cardinality(m.buckets) THEN '+Inf' ELSE dwc._prom_number(m.buckets[i]) END || '"')
               || ' ' || (SELECT sum(c) FROM unnest(v.bucket_counts[1:i]) c)
          FROM m JOIN vals v ON v.name = m.name,
               generate_series(1, cardinality(m.buckets) + 1) i
         WHERE m.type = 'histogram'
        UNION ALL
        SELECT m.name, 1, v.labels, 1000, m.name || '_sum' || dwc._prom_labels(v.labels) || ' ' || dwc._prom_number(v.value)
          FROM m JOIN vals v ON v.name = m.name WHERE m.type = 'histogram'
        UNION ALL
        SELECT m.name, 1, v.labels, 1001, m.name || '_count' || dwc._prom_labels(v.labels) || ' ' || v.count
          FROM m JOIN vals v ON v.name = m.name WHERE m.type = 'histogram')
    SELECT coalesce(string_agg(line, E'\n' ORDER BY name, part, labels::text, k), '') || E'\n' FROM lines);
SELECT dwc._declare_public('dwc._prometheus_metrics',
  'Every metric''s current values in the Prometheus text exposition format 0.0.4 (HELP, TYPE, samples; histograms '
  'as cumulative _bucket{le}, _sum and _count): the series the caller may see (the system''s and their own; '
  'everyone''s, summed per label set, for administrators).');
