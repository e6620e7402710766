-- dwc 0.1.0 install script, assembled from the files named below.
\echo Use "CREATE EXTENSION dwc" to load this file. \quit

-- ---- src/core/core.sql ----
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

-- The private halves of trampoline functions (src/core/trampoline.c): not executable
-- by PUBLIC, and documented as what they are.
CREATE FUNCTION dwc._trampoline_targets(functions pg_catalog.text[])
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    f text;
BEGIN
    FOREACH f IN ARRAY functions
    LOOP
        EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f);
        EXECUTE format('COMMENT ON FUNCTION %s IS %L', f,
                       'Private: body of the public function of the same name without "_", called '
                       'through the trampoline with the caller''s OID as last argument.');
    END LOOP;
END;
$$;
COMMENT ON FUNCTION dwc._trampoline_targets(pg_catalog.text[]) IS
  'Private: used by the install script to revoke and document trampoline targets.';
REVOKE ALL ON FUNCTION dwc._trampoline_targets(pg_catalog.text[]) FROM PUBLIC;

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

-- ---- src/security/roles.sql ----
-- src/security/roles.sql: the roles of the HTTP face (PostgREST) and who the caller is.
-- See docs/security.md.

-- Roles are objects of the cluster, not of a database: the install script creates the
-- three NOLOGIN roles if they do not exist yet (every database with dwc shares them), and
-- leaves them behind on DROP EXTENSION. The LOGIN role that PostgREST connects as holds a
-- password and is an administrator's decision: dwc.create_authenticator() makes it.
DO $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['dwc_anon', 'dwc_user', 'dwc_admin'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = r) THEN
            EXECUTE format('CREATE ROLE %I NOLOGIN', r);
        END IF;
    END LOOP;
    -- administrators can do what users can
    IF NOT pg_catalog.pg_has_role('dwc_admin', 'dwc_user', 'MEMBER') THEN
        GRANT dwc_user TO dwc_admin;
    END IF;
END;
$$;
COMMENT ON ROLE dwc_anon IS 'dwc: PostgREST''s anonymous role (requests without a token).';
COMMENT ON ROLE dwc_user IS 'dwc: role of signed-in users (PostgREST switches to it from the token''s role claim).';
COMMENT ON ROLE dwc_admin IS 'dwc: role of administrators; has dwc_user''s rights too.';

GRANT USAGE ON SCHEMA dwc TO dwc_anon, dwc_user, dwc_admin;

-- API: Public

CREATE FUNCTION dwc.create_authenticator(name pg_catalog.text DEFAULT 'dwc_authenticator',
                                         password pg_catalog.text DEFAULT NULL)
RETURNS pg_catalog.text
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF name !~ '^[a-z_][a-z0-9_]{0,62}$' THEN
        RAISE EXCEPTION 'invalid role name "%"', name USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Lower-case letters, digits and _.';
    END IF;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = name) THEN
        EXECUTE format('ALTER ROLE %I LOGIN NOINHERIT', name);
    ELSE
        EXECUTE format('CREATE ROLE %I LOGIN NOINHERIT', name);
    END IF;
    IF password IS NOT NULL THEN
        EXECUTE format('ALTER ROLE %I PASSWORD %L', name, password);
    END IF;
    EXECUTE format('GRANT dwc_anon, dwc_user, dwc_admin TO %I', name);
    RETURN name;
END;
$$;
COMMENT ON FUNCTION dwc.create_authenticator(pg_catalog.text, pg_catalog.text) IS
  'Creates (or fixes) the LOGIN NOINHERIT role PostgREST connects as, able to switch to '
  'dwc_anon, dwc_user and dwc_admin. Prefer setting its password from a client that does not '
  'log statements (ALTER ROLE ... PASSWORD). Administrators only.';
REVOKE ALL ON FUNCTION dwc.create_authenticator(pg_catalog.text, pg_catalog.text) FROM PUBLIC;

CREATE FUNCTION dwc.current_user_id() RETURNS pg_catalog.text
LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'dwc_current_user_id';
COMMENT ON FUNCTION dwc.current_user_id() IS
  'The dwc user (id) of the current request: the sub claim, when the session acts as a dwc web '
  'role (dwc_user, dwc_admin, or dwc_anon authenticated by an API key); NULL otherwise.';

CREATE FUNCTION dwc.current_user_role() RETURNS pg_catalog.text
LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'dwc_current_user_role';
COMMENT ON FUNCTION dwc.current_user_role() IS
  'The role the current request acts as: the session role, or for requests authenticated by '
  'an API key, the role of the key''s user.';

CREATE FUNCTION dwc.is_admin() RETURNS pg_catalog.bool
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN coalesce((SELECT rolsuper FROM pg_roles WHERE rolname = dwc.current_user_role()), false)
    OR pg_has_role(dwc.current_user_role(), 'dwc_admin', 'USAGE');
COMMENT ON FUNCTION dwc.is_admin() IS 'Whether the current request acts as an administrator (dwc_admin or a superuser).';

-- ---- src/queue/queue.sql ----
-- src/queue/queue.sql: the durable job queue. See src/queue/README.md for the life cycle.

-- API: Private (tables; applications use the functions and views)

CREATE TABLE dwc.queues (
    name pg_catalog.text PRIMARY KEY
        CONSTRAINT queue_name_valid CHECK (name OPERATOR(pg_catalog.~) '^[A-Za-z0-9_.:-]{1,63}$'),
    paused pg_catalog.bool NOT NULL DEFAULT false,
    paused_at pg_catalog.timestamptz,
    created_at pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE dwc.queues IS 'Named job queues; a paused queue keeps its jobs but workers do not claim them.';
INSERT INTO dwc.queues (name) VALUES ('default');

CREATE TABLE dwc.job_kinds (
    kind pg_catalog.text PRIMARY KEY
        CONSTRAINT job_kind_valid CHECK (kind OPERATOR(pg_catalog.~) '^[a-z][a-z0-9_.:-]{0,62}$'),
    handler pg_catalog.regprocedure,
    builtin pg_catalog.bool NOT NULL DEFAULT false,
    description pg_catalog.text,
    default_timeout_ms pg_catalog.int4 CHECK (default_timeout_ms > 0),
    default_max_attempts pg_catalog.int4 CHECK (default_max_attempts BETWEEN 1 AND 1000),
    created_at pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now(),
    CONSTRAINT job_kind_handler CHECK (builtin OR handler IS NOT NULL)
);
COMMENT ON TABLE dwc.job_kinds IS
  'Registry of job kinds: built-in kinds run in C, other kinds call handler(payload jsonb) returns jsonb.';
INSERT INTO dwc.job_kinds (kind, builtin, description) VALUES
    ('noop', true, 'Does nothing and succeeds; for tests and benchmarks.'),
    ('sql', true, 'Runs payload->>''sql'' as the enqueuing role; the statement and the job''s completion commit together (exactly once).'),
    ('http', true, 'Sends an HTTP request (payload: method, url, headers, body, timeout_ms); 2xx/3xx succeed, 408/429/5xx and transport errors retry, other statuses fail at once.');

-- Active jobs only: queued, running, or waiting to retry. Finished jobs move to job_history.
CREATE TABLE dwc.jobs (
    id pg_catalog.int8 GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    queue pg_catalog.text NOT NULL DEFAULT 'default',
    kind pg_catalog.text NOT NULL,
    name pg_catalog.text,
    payload pg_catalog.jsonb NOT NULL DEFAULT '{}',
    priority pg_catalog.int2 NOT NULL DEFAULT 0,
    status pg_catalog.text NOT NULL DEFAULT 'queued'
        CONSTRAINT job_status_active CHECK (status IN ('queued', 'running', 'retry')),
    run_at pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now(),
    attempts pg_catalog.int4 NOT NULL DEFAULT 0,
    max_attempts pg_catalog.int4 NOT NULL CHECK (max_attempts BETWEEN 1 AND 1000),
    timeout_ms pg_catalog.int4 NOT NULL CHECK (timeout_ms > 0),
    unique_key pg_catalog.text,
    schedule_id pg_catalog.int8,
    enqueued_by pg_catalog.oid NOT NULL,
    enqueued_user pg_catalog.text,
    created_at pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now(),
    started_at pg_catalog.timestamptz,
    lease_until pg_catalog.timestamptz,
    worker_pid pg_catalog.int4,
    worker_started pg_catalog.timestamptz,
    cancel_requested pg_catalog.bool NOT NULL DEFAULT false,
    last_error pg_catalog.text
);
COMMENT ON TABLE dwc.jobs IS
  'Active jobs (queued, running, retry). Kept small: finished jobs move to dwc.job_history.';
CREATE INDEX jobs_ready ON dwc.jobs (priority DESC, run_at, id) WHERE status IN ('queued', 'retry');
CREATE INDEX jobs_running ON dwc.jobs (lease_until) WHERE status = 'running';
CREATE UNIQUE INDEX jobs_unique_key ON dwc.jobs (unique_key) WHERE unique_key IS NOT NULL;
CREATE INDEX jobs_schedule ON dwc.jobs (schedule_id) WHERE schedule_id IS NOT NULL;
-- a busy queue table needs frequent vacuuming to stay small
ALTER TABLE dwc.jobs SET (autovacuum_vacuum_scale_factor = 0.01, autovacuum_vacuum_cost_delay = 0,
                          fillfactor = 90);

-- Finished jobs (succeeded, dead, cancelled), one partition per day of finished_at, so
-- that retention drops whole partitions instead of deleting rows.
CREATE TABLE dwc.job_history (
    id pg_catalog.int8 NOT NULL,
    queue pg_catalog.text NOT NULL,
    kind pg_catalog.text NOT NULL,
    name pg_catalog.text,
    payload pg_catalog.jsonb NOT NULL,
    priority pg_catalog.int2 NOT NULL,
    status pg_catalog.text NOT NULL
        CONSTRAINT job_status_finished CHECK (status IN ('succeeded', 'dead', 'cancelled')),
    run_at pg_catalog.timestamptz NOT NULL,
    attempts pg_catalog.int4 NOT NULL,
    max_attempts pg_catalog.int4 NOT NULL,
    timeout_ms pg_catalog.int4 NOT NULL,
    unique_key pg_catalog.text,
    schedule_id pg_catalog.int8,
    enqueued_by pg_catalog.oid NOT NULL,
    enqueued_user pg_catalog.text,
    created_at pg_catalog.timestamptz NOT NULL,
    started_at pg_catalog.timestamptz,
    finished_at pg_catalog.timestamptz NOT NULL,
    worker_pid pg_catalog.int4,
    result pg_catalog.jsonb,
    last_error pg_catalog.text
) PARTITION BY RANGE (finished_at);
COMMENT ON TABLE dwc.job_history IS
  'Finished jobs, partitioned by day of finished_at; partitions older than dwc.job_history_retention are dropped.';
CREATE INDEX job_history_id ON dwc.job_history (id);
-- finished_at grows with inserts: a BRIN index serves time windows at almost no write cost
CREATE INDEX job_history_finished ON dwc.job_history USING brin (finished_at);
CREATE TABLE dwc.job_history_default PARTITION OF dwc.job_history DEFAULT;

-- Create the daily partitions from yesterday to `days_ahead` days ahead and drop those
-- wholly older than `retention`. Rows that landed in the default partition for a day
-- that now gets its own partition are moved into it.
CREATE FUNCTION dwc._job_history_maintain(retention pg_catalog.interval,
                                          days_ahead pg_catalog.int4 DEFAULT 3)
RETURNS pg_catalog.int4
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
DECLARE
    d date;
    part text;
    changed int := 0;
    r record;
BEGIN
    FOR d IN SELECT generate_series((now() - interval '1 day')::date,
                                    (now() + make_interval(days => days_ahead))::date,
                                    interval '1 day')::date
    LOOP
        part := 'job_history_' || to_char(d, 'YYYYMMDD');
        IF to_regclass('dwc.' || part) IS NULL THEN
            CREATE TEMP TABLE IF NOT EXISTS dwc_moved_history
                (LIKE dwc.job_history) ON COMMIT DROP;
            WITH moved AS (
                DELETE FROM dwc.job_history_default
                 WHERE finished_at >= d AND finished_at < d + 1 RETURNING *)
            INSERT INTO dwc_moved_history SELECT * FROM moved;
            EXECUTE format('CREATE TABLE dwc.%I PARTITION OF dwc.job_history '
                           'FOR VALUES FROM (%L) TO (%L)', part, d, d + 1);
            INSERT INTO dwc.job_history SELECT * FROM dwc_moved_history;
            TRUNCATE dwc_moved_history;
            changed := changed + 1;
        END IF;
    END LOOP;

    FOR r IN
        SELECT c.oid::regclass AS part,
               substring(c.relname from 'job_history_(\d{8})$') AS day
          FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
         WHERE i.inhparent = 'dwc.job_history'::regclass
           AND c.relname ~ '^job_history_\d{8}$'
    LOOP
        IF to_date(r.day, 'YYYYMMDD') + 1 <= (now() - retention)::date THEN
            EXECUTE format('DROP TABLE %s', r.part);
            changed := changed + 1;
        END IF;
    END LOOP;
    DELETE FROM dwc.job_history_default WHERE finished_at < now() - retention;
    RETURN changed;
END;
$$;
COMMENT ON FUNCTION dwc._job_history_maintain(pg_catalog.interval, pg_catalog.int4) IS
  'Private: creates daily job_history partitions ahead of time and drops expired ones; run by the scheduler worker.';
REVOKE ALL ON FUNCTION dwc._job_history_maintain(pg_catalog.interval, pg_catalog.int4) FROM PUBLIC;

-- Day partitions are created by the scheduler worker (dwc._job_history_maintain), not
-- here: created by this script they would belong to the extension and could not be
-- dropped by retention. Until then finished jobs go to the default partition.

-- pg_dump must dump the queue's data: these tables belong to the extension.
SELECT pg_catalog.pg_extension_config_dump('dwc.queues', 'WHERE name <> ''default''');
SELECT pg_catalog.pg_extension_config_dump('dwc.job_kinds', 'WHERE NOT builtin');
SELECT pg_catalog.pg_extension_config_dump('dwc.jobs', '');
SELECT pg_catalog.pg_extension_config_dump('dwc.jobs_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('dwc.job_history_default', '');

-- ---- enqueueing ------------------------------------------------------------

-- API: Public

CREATE FUNCTION dwc.current_job_id() RETURNS pg_catalog.int8
LANGUAGE c VOLATILE PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'dwc_current_job_id';
COMMENT ON FUNCTION dwc.current_job_id() IS
  'The id of the job the calling code runs in (for job handlers), or NULL outside jobs.';

CREATE FUNCTION dwc.priority_value(priority pg_catalog.text)
RETURNS pg_catalog.int2
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'dwc_priority_value';
COMMENT ON FUNCTION dwc.priority_value(pg_catalog.text) IS
  'Number of a priority: critical = 20, high = 10, normal = 0, low = -10, or an integer '
  'from -1000 to 1000 given as text. Higher numbers run first.';

CREATE FUNCTION dwc.enqueue(
    kind pg_catalog.text,
    payload pg_catalog.jsonb DEFAULT '{}',
    queue pg_catalog.text DEFAULT 'default',
    priority pg_catalog.text DEFAULT 'normal',
    run_at pg_catalog.timestamptz DEFAULT NULL,
    delay pg_catalog.interval DEFAULT NULL,
    max_attempts pg_catalog.int4 DEFAULT NULL,
    timeout pg_catalog.interval DEFAULT NULL,
    unique_key pg_catalog.text DEFAULT NULL,
    name pg_catalog.text DEFAULT NULL)
RETURNS pg_catalog.int8
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'dwc_enqueue';
COMMENT ON FUNCTION dwc.enqueue(pg_catalog.text, pg_catalog.jsonb, pg_catalog.text, pg_catalog.text, pg_catalog.timestamptz, pg_catalog.interval, pg_catalog.int4, pg_catalog.interval, pg_catalog.text, pg_catalog.text) IS
  'Enqueues one job and returns its id. The job runs as the calling role once the transaction '
  'commits (workers are woken at commit), no earlier than run_at or now() + delay. With a '
  'unique_key, an active job with the same key is returned instead of a new one.';

CREATE FUNCTION dwc._enqueue_as(kind pg_catalog.text, payload pg_catalog.jsonb, priority pg_catalog.text,
                                role pg_catalog.oid)
RETURNS pg_catalog.int8
LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'dwc__enqueue_as';
COMMENT ON FUNCTION dwc._enqueue_as(pg_catalog.text, pg_catalog.jsonb, pg_catalog.text, pg_catalog.oid) IS
  'Private: enqueues a job that runs as the given role (for SECURITY DEFINER functions acting for their caller).';
REVOKE ALL ON FUNCTION dwc._enqueue_as(pg_catalog.text, pg_catalog.jsonb, pg_catalog.text, pg_catalog.oid) FROM PUBLIC;

CREATE FUNCTION dwc.enqueue_many(jobs pg_catalog.jsonb, kind pg_catalog.text DEFAULT NULL)
RETURNS SETOF pg_catalog.int8
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'dwc_enqueue_many';
COMMENT ON FUNCTION dwc.enqueue_many(pg_catalog.jsonb, pg_catalog.text) IS
  'Enqueues a JSON array of jobs in one call: each element is an object with the arguments of '
  'dwc.enqueue (kind, payload, queue, priority, run_at, delay, max_attempts, timeout, '
  'unique_key, name); kind defaults to the second argument. Returns the ids in order.';

-- ---- registry and queue administration (administrators only) ---------------

CREATE FUNCTION dwc._job_kinds_changed() RETURNS trigger
LANGUAGE c AS 'MODULE_PATHNAME', 'dwc__job_kinds_changed';
COMMENT ON FUNCTION dwc._job_kinds_changed() IS
  'Private: trigger that makes every backend reload its cache of dwc.job_kinds at commit.';
CREATE TRIGGER job_kinds_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON dwc.job_kinds
    FOR EACH STATEMENT EXECUTE FUNCTION dwc._job_kinds_changed();

CREATE FUNCTION dwc._queues_changed() RETURNS trigger
LANGUAGE c AS 'MODULE_PATHNAME', 'dwc__queues_changed';
COMMENT ON FUNCTION dwc._queues_changed() IS
  'Private: trigger that makes job workers reload the paused queues at commit.';
CREATE TRIGGER queues_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON dwc.queues
    FOR EACH STATEMENT EXECUTE FUNCTION dwc._queues_changed();

CREATE FUNCTION dwc._wake_job_workers(n pg_catalog.int4) RETURNS void
LANGUAGE c STRICT AS 'MODULE_PATHNAME', 'dwc__wake_job_workers';
COMMENT ON FUNCTION dwc._wake_job_workers(pg_catalog.int4) IS
  'Private: wake up to n idle job workers of this database when the transaction commits.';
REVOKE ALL ON FUNCTION dwc._wake_job_workers(pg_catalog.int4) FROM PUBLIC;

CREATE FUNCTION dwc._signal_job_cancel(job_id pg_catalog.int8, pid pg_catalog.int4) RETURNS pg_catalog.bool
LANGUAGE c STRICT AS 'MODULE_PATHNAME', 'dwc__signal_job_cancel';
COMMENT ON FUNCTION dwc._signal_job_cancel(pg_catalog.int8, pg_catalog.int4) IS
  'Private: ask the job worker with this pid to stop the job if it is running it.';
REVOKE ALL ON FUNCTION dwc._signal_job_cancel(pg_catalog.int8, pg_catalog.int4) FROM PUBLIC;

CREATE FUNCTION dwc.register_job_kind(
    kind pg_catalog.text,
    handler pg_catalog.regprocedure,
    description pg_catalog.text DEFAULT NULL,
    timeout pg_catalog.interval DEFAULT NULL,
    max_attempts pg_catalog.int4 DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    p record;
BEGIN
    SELECT prorettype, proargtypes, proretset, pronargs INTO p FROM pg_proc WHERE oid = handler;
    IF p.pronargs <> 1 OR p.proargtypes[0] <> 'jsonb'::regtype OR p.prorettype <> 'jsonb'::regtype OR p.proretset THEN
        RAISE EXCEPTION 'job handler % must take one jsonb argument and return jsonb', handler
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Declare it as: CREATE FUNCTION f(payload jsonb) RETURNS jsonb ...';
    END IF;
    IF EXISTS (SELECT 1 FROM dwc.job_kinds k WHERE k.kind = register_job_kind.kind AND k.builtin) THEN
        RAISE EXCEPTION 'job kind "%" is built in', kind USING ERRCODE = 'duplicate_object';
    END IF;
    INSERT INTO dwc.job_kinds (kind, handler, description, default_timeout_ms, default_max_attempts)
    VALUES (kind, handler, description,
            (extract(epoch FROM timeout) * 1000)::int4, max_attempts)
    ON CONFLICT ON CONSTRAINT job_kinds_pkey DO UPDATE
       SET handler = excluded.handler, description = excluded.description,
           default_timeout_ms = excluded.default_timeout_ms,
           default_max_attempts = excluded.default_max_attempts;
EXCEPTION WHEN check_violation THEN
    RAISE EXCEPTION 'invalid job kind "%"', kind
        USING ERRCODE = 'invalid_parameter_value',
              DETAIL = 'Kinds start with a lower-case letter and have up to 63 of: a-z 0-9 _ . : -; timeouts are positive, max_attempts 1 to 1000.';
END;
$$;
COMMENT ON FUNCTION dwc.register_job_kind(pg_catalog.text, pg_catalog.regprocedure, pg_catalog.text, pg_catalog.interval, pg_catalog.int4) IS
  'Registers (or updates) a job kind run by handler(payload jsonb) returns jsonb; its result is '
  'stored with the finished job. Administrators only.';
REVOKE ALL ON FUNCTION dwc.register_job_kind(pg_catalog.text, pg_catalog.regprocedure, pg_catalog.text, pg_catalog.interval, pg_catalog.int4) FROM PUBLIC;

CREATE FUNCTION dwc.unregister_job_kind(kind pg_catalog.text)
RETURNS pg_catalog.bool
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM dwc.job_kinds k WHERE k.kind = unregister_job_kind.kind AND k.builtin) THEN
        RAISE EXCEPTION 'job kind "%" is built in and cannot be unregistered', kind
            USING ERRCODE = 'feature_not_supported';
    END IF;
    DELETE FROM dwc.job_kinds k WHERE k.kind = unregister_job_kind.kind;
    RETURN FOUND;
END;
$$;
COMMENT ON FUNCTION dwc.unregister_job_kind(pg_catalog.text) IS
  'Removes a job kind; its queued jobs will fail permanently. Administrators only.';
REVOKE ALL ON FUNCTION dwc.unregister_job_kind(pg_catalog.text) FROM PUBLIC;

CREATE FUNCTION dwc.pause_queue(queue pg_catalog.text) RETURNS void
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    INSERT INTO dwc.queues (name, paused, paused_at) VALUES (queue, true, now())
    ON CONFLICT (name) DO UPDATE SET paused = true, paused_at = now();
END;
COMMENT ON FUNCTION dwc.pause_queue(pg_catalog.text) IS
  'Pauses a queue: its jobs stay queued and workers stop claiming them (running ones finish). '
  'Administrators only.';
REVOKE ALL ON FUNCTION dwc.pause_queue(pg_catalog.text) FROM PUBLIC;

CREATE FUNCTION dwc.resume_queue(queue pg_catalog.text) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    UPDATE dwc.queues SET paused = false, paused_at = NULL WHERE name = queue;
    PERFORM dwc._wake_job_workers(1000);
END;
$$;
COMMENT ON FUNCTION dwc.resume_queue(pg_catalog.text) IS
  'Resumes a paused queue and wakes the workers. Administrators only.';
REVOKE ALL ON FUNCTION dwc.resume_queue(pg_catalog.text) FROM PUBLIC;

-- ---- managing one's jobs (through the trampoline: see src/core/trampoline.c) -

-- API: Private

CREATE FUNCTION dwc._claims_sub() RETURNS pg_catalog.text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub';
COMMENT ON FUNCTION dwc._claims_sub() IS 'Private: the "sub" claim of the PostgREST request, if any.';

CREATE FUNCTION dwc._may_manage(caller pg_catalog.oid, owner pg_catalog.oid, owner_user pg_catalog.text)
RETURNS pg_catalog.bool
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN coalesce((SELECT rolsuper FROM pg_roles WHERE oid = caller), false)
    OR pg_has_role(caller, 'dwc_admin', 'USAGE')
    OR (pg_has_role(caller, owner, 'MEMBER') AND (owner_user IS NULL OR owner_user = dwc._claims_sub()));
COMMENT ON FUNCTION dwc._may_manage(pg_catalog.oid, pg_catalog.oid, pg_catalog.text) IS
  'Private: may the caller manage an object enqueued or owned by (owner, owner_user)? Superusers '
  'and dwc_admin may; otherwise the caller must be a member of the owning role and, when the object was made '
  'through PostgREST, the same user (sub claim).';

CREATE FUNCTION dwc._running_jobs(OUT job_id pg_catalog.int8, OUT pid pg_catalog.int4,
                                 OUT since pg_catalog.timestamptz)
RETURNS SETOF record
LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'dwc__running_jobs';
COMMENT ON FUNCTION dwc._running_jobs() IS
  'Private: jobs that a worker of this database is running inside its transaction now (their rows '
  'still say queued or retry: the row lock is their lease), from the workers'' shared memory.';

-- the status a user sees: a locked job being run says running
CREATE FUNCTION dwc._status_of(j dwc.jobs) RETURNS pg_catalog.text
LANGUAGE sql VOLATILE
RETURN CASE WHEN j.status <> 'running' AND j.id IN (SELECT r.job_id FROM dwc._running_jobs() r)
            THEN 'running' ELSE j.status END;

CREATE FUNCTION dwc._job_json(j dwc.jobs) RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
RETURN jsonb_build_object('id', j.id, 'queue', j.queue, 'kind', j.kind, 'name', j.name,
    'status', dwc._status_of(j), 'priority', j.priority, 'payload', j.payload, 'attempts', j.attempts,
    'max_attempts', j.max_attempts, 'timeout_ms', j.timeout_ms, 'run_at', j.run_at,
    'created_at', j.created_at, 'started_at', j.started_at, 'finished_at', NULL,
    'enqueued_by', j.enqueued_by::regrole, 'enqueued_user', j.enqueued_user,
    'schedule_id', j.schedule_id, 'result', NULL, 'last_error', j.last_error,
    'cancel_requested', j.cancel_requested);

CREATE FUNCTION dwc._job_json(j dwc.job_history) RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
RETURN jsonb_build_object('id', j.id, 'queue', j.queue, 'kind', j.kind, 'name', j.name,
    'status', j.status, 'priority', j.priority, 'payload', j.payload, 'attempts', j.attempts,
    'max_attempts', j.max_attempts, 'timeout_ms', j.timeout_ms, 'run_at', j.run_at,
    'created_at', j.created_at, 'started_at', j.started_at, 'finished_at', j.finished_at,
    'enqueued_by', j.enqueued_by::regrole, 'enqueued_user', j.enqueued_user,
    'schedule_id', j.schedule_id, 'result', j.result, 'last_error', j.last_error,
    'cancel_requested', false);

CREATE FUNCTION dwc._no_such_job(job_id pg_catalog.int8) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'job % does not exist', job_id
        USING ERRCODE = 'no_data_found', HINT = 'Finished jobs are kept for dwc.job_history_retention.';
END;
$$;

CREATE FUNCTION dwc._job_status(job_id pg_catalog.int8, caller pg_catalog.oid)
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    a dwc.jobs;
    h dwc.job_history;
BEGIN
    SELECT * INTO a FROM dwc.jobs WHERE id = job_id;
    IF FOUND AND dwc._may_manage(caller, a.enqueued_by, a.enqueued_user) THEN
        RETURN dwc._job_json(a);
    END IF;
    IF NOT FOUND THEN
        SELECT * INTO h FROM dwc.job_history WHERE id = job_id ORDER BY finished_at DESC LIMIT 1;
        IF FOUND AND dwc._may_manage(caller, h.enqueued_by, h.enqueued_user) THEN
            RETURN dwc._job_json(h);
        END IF;
    END IF;
    PERFORM dwc._no_such_job(job_id);
    RETURN NULL;
END;
$$;

-- Move jobs of dwc.jobs to dwc.job_history as cancelled.
CREATE FUNCTION dwc._cancel_queued(ids pg_catalog.int8[], reason pg_catalog.text)
RETURNS pg_catalog.int4
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    WITH l AS (
        SELECT id FROM dwc.jobs WHERE id = ANY (ids) AND status IN ('queued', 'retry')
           FOR UPDATE SKIP LOCKED),
    d AS (
        DELETE FROM dwc.jobs WHERE id IN (SELECT id FROM l) RETURNING *),
    i AS (
        INSERT INTO dwc.job_history (id, queue, kind, name, payload, priority, status, run_at,
            attempts, max_attempts, timeout_ms, unique_key, schedule_id, enqueued_by,
            enqueued_user, created_at, started_at, finished_at, worker_pid, result, last_error)
        SELECT id, queue, kind, name, payload, priority, 'cancelled', run_at, attempts, max_attempts,
               timeout_ms, unique_key, schedule_id, enqueued_by, enqueued_user, created_at,
               started_at, clock_timestamp(), NULL, NULL, reason
          FROM d RETURNING 1)
    SELECT count(*)::int4 FROM i;
END;

CREATE FUNCTION dwc._cancel_job(job_id pg_catalog.int8, caller pg_catalog.oid)
RETURNS pg_catalog.bool
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    a dwc.jobs;
    runner int4;
BEGIN
    SELECT * INTO a FROM dwc.jobs WHERE id = job_id;
    IF NOT FOUND OR NOT dwc._may_manage(caller, a.enqueued_by, a.enqueued_user) THEN
        IF EXISTS (SELECT 1 FROM dwc.job_history h WHERE h.id = job_id
                    AND dwc._may_manage(caller, h.enqueued_by, h.enqueued_user)) THEN
            RETURN false;       -- already finished
        END IF;
        PERFORM dwc._no_such_job(job_id);
    END IF;
    -- being run inside a worker's transaction, or leased by a worker (http)
    SELECT r.pid INTO runner FROM dwc._running_jobs() r WHERE r.job_id = _cancel_job.job_id;
    IF NOT FOUND AND a.status = 'running' THEN
        UPDATE dwc.jobs SET cancel_requested = true WHERE id = job_id;
        runner := a.worker_pid;
    END IF;
    IF runner IS NOT NULL THEN
        PERFORM dwc._signal_job_cancel(job_id, runner);
        RETURN true;
    END IF;
    IF dwc._cancel_queued(ARRAY[job_id], format('cancelled by %s', caller::regrole)) = 1 THEN
        RETURN true;
    END IF;
    -- a worker claimed it in the meantime
    SELECT r.pid INTO runner FROM dwc._running_jobs() r WHERE r.job_id = _cancel_job.job_id;
    IF FOUND THEN
        PERFORM dwc._signal_job_cancel(job_id, runner);
        RETURN true;
    END IF;
    RETURN false;
END;
$$;

CREATE FUNCTION dwc._redrive_ids(ids pg_catalog.int8[])
RETURNS pg_catalog.int4
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n int4;
BEGIN
    WITH d AS (
        DELETE FROM dwc.job_history WHERE id = ANY (ids) AND status IN ('dead', 'cancelled') RETURNING *)
    INSERT INTO dwc.jobs (id, queue, kind, name, payload, priority, status, run_at, attempts,
                          max_attempts, timeout_ms, unique_key, schedule_id, enqueued_by,
                          enqueued_user, created_at, last_error)
    SELECT DISTINCT ON (id) id, queue, kind, name, payload, priority, 'queued', clock_timestamp(), 0,
           max_attempts, timeout_ms, unique_key, schedule_id, enqueued_by, enqueued_user,
           created_at, last_error
      FROM d ORDER BY id
    ON CONFLICT DO NOTHING;
    GET DIAGNOSTICS n = ROW_COUNT;
    PERFORM dwc._wake_job_workers(n);
    RETURN n;
END;
$$;

CREATE FUNCTION dwc._retry_job(job_id pg_catalog.int8, caller pg_catalog.oid)
RETURNS pg_catalog.bool
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    a dwc.jobs;
    h dwc.job_history;
BEGIN
    SELECT * INTO a FROM dwc.jobs WHERE id = job_id;
    IF FOUND AND dwc._may_manage(caller, a.enqueued_by, a.enqueued_user) THEN
        -- a job being run is locked by its worker: nothing to retry
        UPDATE dwc.jobs SET run_at = clock_timestamp()
         WHERE id IN (SELECT id FROM dwc.jobs WHERE id = job_id AND status <> 'running'
                         FOR UPDATE SKIP LOCKED);
        IF NOT FOUND THEN
            RETURN false;
        END IF;
        PERFORM dwc._wake_job_workers(1);
        RETURN true;
    END IF;
    SELECT * INTO h FROM dwc.job_history WHERE id = job_id ORDER BY finished_at DESC LIMIT 1;
    IF NOT FOUND OR NOT dwc._may_manage(caller, h.enqueued_by, h.enqueued_user) THEN
        PERFORM dwc._no_such_job(job_id);
    END IF;
    IF h.status = 'succeeded' THEN
        RETURN false;
    END IF;
    RETURN dwc._redrive_ids(ARRAY[job_id]) = 1;
END;
$$;

CREATE FUNCTION dwc._cancel_jobs(queue pg_catalog.text, kind pg_catalog.text, status pg_catalog.text,
                                 older_than pg_catalog.interval, caller pg_catalog.oid)
RETURNS pg_catalog.int4
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n int4 := 0;
    r record;
BEGIN
    IF status IS NOT NULL AND status NOT IN ('queued', 'retry', 'running') THEN
        RAISE EXCEPTION 'invalid job status filter "%"', status
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Use queued, retry or running.';
    END IF;
    FOR r IN
        WITH running AS (SELECT * FROM dwc._running_jobs())
        SELECT j.id, coalesce(rn.pid, j.worker_pid) AS pid,
               CASE WHEN rn.job_id IS NOT NULL THEN 'running' ELSE j.status END AS st
          FROM dwc.jobs j LEFT JOIN running rn ON rn.job_id = j.id
         WHERE (_cancel_jobs.queue IS NULL OR j.queue = _cancel_jobs.queue)
           AND (_cancel_jobs.kind IS NULL OR j.kind = _cancel_jobs.kind)
           AND (older_than IS NULL OR j.created_at < now() - older_than)
           AND dwc._may_manage(caller, j.enqueued_by, j.enqueued_user)
    LOOP
        CONTINUE WHEN _cancel_jobs.status IS NOT NULL AND r.st <> _cancel_jobs.status;
        IF r.st = 'running' THEN
            UPDATE dwc.jobs SET cancel_requested = true
             WHERE id IN (SELECT id FROM dwc.jobs WHERE id = r.id FOR UPDATE SKIP LOCKED);
            PERFORM dwc._signal_job_cancel(r.id, r.pid);
            n := n + 1;
        ELSE
            n := n + dwc._cancel_queued(ARRAY[r.id], format('cancelled by %s', caller::regrole));
        END IF;
    END LOOP;
    RETURN n;
END;
$$;

CREATE FUNCTION dwc._retry_jobs(queue pg_catalog.text, kind pg_catalog.text, caller pg_catalog.oid)
RETURNS pg_catalog.int4
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n int4;
BEGIN
    UPDATE dwc.jobs SET run_at = clock_timestamp()
     WHERE id IN (SELECT j.id FROM dwc.jobs j
                   WHERE j.status = 'retry'
                     AND (_retry_jobs.queue IS NULL OR j.queue = _retry_jobs.queue)
                     AND (_retry_jobs.kind IS NULL OR j.kind = _retry_jobs.kind)
                     AND dwc._may_manage(caller, j.enqueued_by, j.enqueued_user)
                     FOR UPDATE SKIP LOCKED);
    GET DIAGNOSTICS n = ROW_COUNT;
    PERFORM dwc._wake_job_workers(n);
    RETURN n;
END;
$$;

CREATE FUNCTION dwc._redrive_dead(queue pg_catalog.text, kind pg_catalog.text,
                                  since pg_catalog.timestamptz, caller pg_catalog.oid)
RETURNS pg_catalog.int4
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN dwc._redrive_ids(ARRAY(
        SELECT h.id FROM dwc.job_history h
         WHERE h.status = 'dead'
           AND (_redrive_dead.queue IS NULL OR h.queue = _redrive_dead.queue)
           AND (_redrive_dead.kind IS NULL OR h.kind = _redrive_dead.kind)
           AND (since IS NULL OR h.finished_at >= since)
           AND dwc._may_manage(caller, h.enqueued_by, h.enqueued_user)));
END;
$$;

SELECT dwc._trampoline_targets(ARRAY[
    'dwc._job_status(int8, oid)', 'dwc._cancel_job(int8, oid)', 'dwc._retry_job(int8, oid)',
    'dwc._cancel_jobs(text, text, text, interval, oid)', 'dwc._retry_jobs(text, text, oid)',
    'dwc._redrive_dead(text, text, timestamptz, oid)']);
REVOKE ALL ON FUNCTION dwc._cancel_queued(pg_catalog.int8[], pg_catalog.text) FROM PUBLIC;
REVOKE ALL ON FUNCTION dwc._redrive_ids(pg_catalog.int8[]) FROM PUBLIC;
COMMENT ON FUNCTION dwc._cancel_queued(pg_catalog.int8[], pg_catalog.text) IS
  'Private: moves waiting jobs to the history as cancelled, skipping jobs a worker holds.';
COMMENT ON FUNCTION dwc._redrive_ids(pg_catalog.int8[]) IS
  'Private: puts dead or cancelled jobs back in the queue with fresh attempts.';

-- API: Public

CREATE FUNCTION dwc.job_status(job_id pg_catalog.int8) RETURNS pg_catalog.jsonb
LANGUAGE c STABLE STRICT AS 'MODULE_PATHNAME', 'dwc_trampoline';
COMMENT ON FUNCTION dwc.job_status(pg_catalog.int8) IS
  'A job as JSON (status queued, running, retry, succeeded, dead or cancelled; attempts, times, '
  'result, last error). Raises no_data_found (P0002) for an unknown job or one the caller may not see.';

CREATE FUNCTION dwc.cancel_job(job_id pg_catalog.int8) RETURNS pg_catalog.bool
LANGUAGE c VOLATILE STRICT AS 'MODULE_PATHNAME', 'dwc_trampoline';
COMMENT ON FUNCTION dwc.cancel_job(pg_catalog.int8) IS
  'Cancels a job: a queued or retrying job ends as cancelled at once; a running job is '
  'interrupted and ends as cancelled. Returns false if the job had already finished.';

CREATE FUNCTION dwc.retry_job(job_id pg_catalog.int8) RETURNS pg_catalog.bool
LANGUAGE c VOLATILE STRICT AS 'MODULE_PATHNAME', 'dwc_trampoline';
COMMENT ON FUNCTION dwc.retry_job(pg_catalog.int8) IS
  'Runs a waiting job now, or puts a dead or cancelled job back in the queue with fresh attempts '
  '(redrive). Returns false for running and succeeded jobs.';

CREATE FUNCTION dwc.cancel_jobs(queue pg_catalog.text DEFAULT NULL, kind pg_catalog.text DEFAULT NULL,
                                status pg_catalog.text DEFAULT NULL, older_than pg_catalog.interval DEFAULT NULL)
RETURNS pg_catalog.int4
LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'dwc_trampoline';
COMMENT ON FUNCTION dwc.cancel_jobs(pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.interval) IS
  'Cancels the caller''s active jobs matching every given filter (queue, kind, status queued/retry/'
  'running, created longer ago than older_than). Returns how many.';

CREATE FUNCTION dwc.retry_jobs(queue pg_catalog.text DEFAULT NULL, kind pg_catalog.text DEFAULT NULL)
RETURNS pg_catalog.int4
LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'dwc_trampoline';
COMMENT ON FUNCTION dwc.retry_jobs(pg_catalog.text, pg_catalog.text) IS
  'Runs now every job of the caller waiting to retry (matching queue and kind when given). Returns how many.';

CREATE FUNCTION dwc.redrive_dead(queue pg_catalog.text DEFAULT NULL, kind pg_catalog.text DEFAULT NULL,
                                 since pg_catalog.timestamptz DEFAULT NULL)
RETURNS pg_catalog.int4
LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'dwc_trampoline';
COMMENT ON FUNCTION dwc.redrive_dead(pg_catalog.text, pg_catalog.text, pg_catalog.timestamptz) IS
  'Puts the caller''s dead jobs (matching queue, kind, died since) back in the queue with fresh '
  'attempts. Returns how many.';

-- ---- monitoring (administrators) ---------------------------------------------

CREATE VIEW dwc.queue_overview AS
WITH running AS (SELECT job_id FROM dwc._running_jobs()),
active AS (
    SELECT j.queue, j.run_at,
           CASE WHEN j.status = 'running' OR r.job_id IS NOT NULL THEN 'running' ELSE j.status END AS status
      FROM dwc.jobs j LEFT JOIN running r ON r.job_id = j.id)
SELECT q.name AS queue,
       coalesce(c.paused, false) AS paused,
       count(*) FILTER (WHERE a.status IN ('queued', 'retry') AND a.run_at <= now()) AS ready,
       count(*) FILTER (WHERE a.status = 'queued' AND a.run_at > now()) AS scheduled,
       count(*) FILTER (WHERE a.status = 'running') AS running,
       count(*) FILTER (WHERE a.status = 'retry' AND a.run_at > now()) AS retrying,
       (SELECT count(*) FROM dwc.job_history h
         WHERE h.queue = q.name AND h.status = 'dead' AND h.finished_at > now() - interval '1 day') AS dead_last_day,
       now() - min(a.run_at) FILTER (WHERE a.status IN ('queued', 'retry') AND a.run_at <= now()) AS oldest_ready_age
  FROM (SELECT name FROM dwc.queues UNION SELECT DISTINCT queue FROM dwc.jobs) q
  LEFT JOIN dwc.queues c ON c.name = q.name
  LEFT JOIN active a ON a.queue = q.name
 GROUP BY q.name, c.paused;
COMMENT ON VIEW dwc.queue_overview IS
  'Per queue: paused, jobs ready, scheduled for later, running, waiting to retry, dead in the last day, age of the oldest ready job.';

CREATE VIEW dwc.running_jobs AS
SELECT j.id, j.queue, j.kind, j.name, j.attempts + CASE WHEN r.job_id IS NULL THEN 0 ELSE 1 END AS attempt,
       j.max_attempts, coalesce(r.since, j.started_at) AS started_at,
       now() - coalesce(r.since, j.started_at) AS running_for, j.timeout_ms,
       CASE WHEN r.job_id IS NULL THEN 'lease until ' || j.lease_until ELSE 'row lock' END AS lease,
       coalesce(r.pid, j.worker_pid) AS worker_pid,
       j.enqueued_by::regrole AS enqueued_by, j.enqueued_user, j.cancel_requested
  FROM dwc.jobs j LEFT JOIN dwc._running_jobs() r ON r.job_id = j.id
 WHERE j.status = 'running' OR r.job_id IS NOT NULL;
COMMENT ON VIEW dwc.running_jobs IS 'Jobs being run now, with their worker and lease.';

CREATE VIEW dwc.dead_jobs AS
SELECT id, queue, kind, name, payload, attempts, max_attempts, created_at, finished_at,
       last_error, enqueued_by::regrole AS enqueued_by, enqueued_user
  FROM dwc.job_history WHERE status = 'dead';
COMMENT ON VIEW dwc.dead_jobs IS
  'The dead-letter list: jobs that failed their last attempt (or failed permanently); redrive with dwc.retry_job() or dwc.redrive_dead().';

CREATE FUNCTION dwc.queue_stats(period pg_catalog.interval DEFAULT '1 hour', queue pg_catalog.text DEFAULT NULL)
RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    WITH st AS (
        SELECT CASE WHEN j.status = 'running' OR r.job_id IS NOT NULL THEN 'running' ELSE j.status END AS status
          FROM dwc.jobs j LEFT JOIN dwc._running_jobs() r ON r.job_id = j.id
         WHERE queue_stats.queue IS NULL OR j.queue = queue_stats.queue),
    active AS (
        SELECT count(*) FILTER (WHERE status = 'queued') AS queued,
               count(*) FILTER (WHERE status = 'running') AS running,
               count(*) FILTER (WHERE status = 'retry') AS retry
          FROM st),
    done AS (
        SELECT count(*) FILTER (WHERE status = 'succeeded') AS succeeded,
               count(*) FILTER (WHERE status = 'dead') AS dead,
               count(*) FILTER (WHERE status = 'cancelled') AS cancelled,
               percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY extract(epoch FROM started_at - run_at) * 1000)
                   FILTER (WHERE status = 'succeeded') AS wait_ms,
               percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY extract(epoch FROM finished_at - started_at) * 1000)
                   FILTER (WHERE status = 'succeeded') AS run_ms
          FROM dwc.job_history h
         WHERE h.finished_at >= now() - period
           AND (queue_stats.queue IS NULL OR h.queue = queue_stats.queue))
    SELECT jsonb_build_object(
        'period_seconds', extract(epoch FROM period),
        'queue', queue_stats.queue,
        'counts', jsonb_build_object('queued', a.queued, 'running', a.running, 'retry', a.retry,
                                     'succeeded', d.succeeded, 'dead', d.dead, 'cancelled', d.cancelled),
        'throughput_per_second', round(d.succeeded / nullif(extract(epoch FROM period), 0), 3),
        'wait_ms', jsonb_build_object('p50', round(d.wait_ms[1]::numeric, 3), 'p95', round(d.wait_ms[2]::numeric, 3),
                                      'p99', round(d.wait_ms[3]::numeric, 3)),
        'run_ms', jsonb_build_object('p50', round(d.run_ms[1]::numeric, 3), 'p95', round(d.run_ms[2]::numeric, 3),
                                     'p99', round(d.run_ms[3]::numeric, 3)))
      FROM active a, done d;
END;
COMMENT ON FUNCTION dwc.queue_stats(pg_catalog.interval, pg_catalog.text) IS
  'Queue statistics over the last period: active jobs by status, finished jobs by status, '
  'throughput, and p50/p95/p99 of wait (run_at to start) and run time for succeeded jobs.';

-- API: Private

CREATE FUNCTION dwc._list_jobs(status pg_catalog.text, queue pg_catalog.text, kind pg_catalog.text,
                               lim pg_catalog.int4, off pg_catalog.int4, caller pg_catalog.oid)
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    result jsonb;
BEGIN
    IF lim IS NULL OR lim NOT BETWEEN 1 AND 1000 THEN
        RAISE EXCEPTION 'limit must be between 1 and 1000' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF off IS NULL OR off < 0 THEN
        RAISE EXCEPTION 'offset must not be negative' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF status IS NOT NULL AND status NOT IN ('queued', 'running', 'retry', 'succeeded', 'dead', 'cancelled') THEN
        RAISE EXCEPTION 'invalid job status "%"', status
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Use queued, running, retry, succeeded, dead or cancelled.';
    END IF;
    SELECT coalesce(jsonb_agg(j.doc ORDER BY j.id DESC), '[]') INTO result FROM (
        SELECT u.id, u.doc FROM (
            SELECT a.id, dwc._job_json(a) AS doc FROM dwc.jobs a
             WHERE (_list_jobs.status IS NULL OR dwc._status_of(a) = _list_jobs.status)
               AND (_list_jobs.queue IS NULL OR a.queue = _list_jobs.queue)
               AND (_list_jobs.kind IS NULL OR a.kind = _list_jobs.kind)
               AND dwc._may_manage(caller, a.enqueued_by, a.enqueued_user)
            UNION ALL
            SELECT h.id, dwc._job_json(h) FROM dwc.job_history h
             WHERE (_list_jobs.status IS NULL OR h.status = _list_jobs.status)
               AND (_list_jobs.queue IS NULL OR h.queue = _list_jobs.queue)
               AND (_list_jobs.kind IS NULL OR h.kind = _list_jobs.kind)
               AND dwc._may_manage(caller, h.enqueued_by, h.enqueued_user)) u
         ORDER BY u.id DESC LIMIT lim OFFSET off) j;
    RETURN result;
END;
$$;
SELECT dwc._trampoline_targets(ARRAY['dwc._list_jobs(text, text, text, int4, int4, oid)']);

-- API: Public

CREATE FUNCTION dwc.list_jobs(status pg_catalog.text DEFAULT NULL, queue pg_catalog.text DEFAULT NULL,
                              kind pg_catalog.text DEFAULT NULL, lim pg_catalog.int4 DEFAULT 50,
                              off pg_catalog.int4 DEFAULT 0)
RETURNS pg_catalog.jsonb
LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'dwc_trampoline';
COMMENT ON FUNCTION dwc.list_jobs(pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.int4, pg_catalog.int4) IS
  'The caller''s jobs, newest first, as a JSON array (active and finished), filtered by status, queue and kind; lim/off page through them.';

-- ---- src/scheduler/scheduler.sql ----
-- src/scheduler/scheduler.sql: cron and interval schedules that enqueue jobs.
-- See src/scheduler/README.md for the firing rules.

-- API: Private (tables)

CREATE TABLE dwc.schedules (
    id pg_catalog.int8 GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    name pg_catalog.text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    owner pg_catalog.oid NOT NULL,
    owner_user pg_catalog.text,
    schedule pg_catalog.text NOT NULL,
    timezone pg_catalog.text NOT NULL DEFAULT 'UTC',
    job_kind pg_catalog.text NOT NULL,
    job_payload pg_catalog.jsonb NOT NULL DEFAULT '{}',
    job_queue pg_catalog.text NOT NULL DEFAULT 'default',
    job_priority pg_catalog.int2 NOT NULL DEFAULT 0,
    job_max_attempts pg_catalog.int4,
    job_timeout_ms pg_catalog.int4,
    enabled pg_catalog.bool NOT NULL DEFAULT true,
    overlap pg_catalog.text NOT NULL DEFAULT 'allow' CHECK (overlap IN ('allow', 'skip')),
    misfire pg_catalog.text NOT NULL DEFAULT 'run_once' CHECK (misfire IN ('skip', 'run_once')),
    anchor pg_catalog.timestamptz NOT NULL,
    next_run_at pg_catalog.timestamptz,
    last_run_at pg_catalog.timestamptz,
    last_job_id pg_catalog.int8,
    failure_count pg_catalog.int4 NOT NULL DEFAULT 0,
    last_error pg_catalog.text,
    created_at pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now(),
    updated_at pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now(),
    CONSTRAINT schedule_name_unique UNIQUE NULLS NOT DISTINCT (owner, owner_user, name)
);
COMMENT ON TABLE dwc.schedules IS
  'Cron and interval schedules; each fire time enqueues one job (exactly once), run as the owner.';
CREATE INDEX schedules_due ON dwc.schedules (next_run_at) WHERE enabled;

CREATE TABLE dwc.schedule_runs (
    schedule_id pg_catalog.int8 NOT NULL REFERENCES dwc.schedules (id) ON DELETE CASCADE,
    fire_time pg_catalog.timestamptz NOT NULL,
    fired_at pg_catalog.timestamptz NOT NULL,
    job_id pg_catalog.int8,
    outcome pg_catalog.text NOT NULL
        CHECK (outcome IN ('enqueued', 'skipped_overlap', 'skipped_misfire', 'failed')),
    detail pg_catalog.text,
    PRIMARY KEY (schedule_id, fire_time)
);
COMMENT ON TABLE dwc.schedule_runs IS
  'One row per fire time handled: the job it enqueued, or why it was skipped. Kept for dwc.schedule_run_retention.';
CREATE INDEX schedule_runs_fired ON dwc.schedule_runs (fired_at);

SELECT pg_catalog.pg_extension_config_dump('dwc.schedules', '');
SELECT pg_catalog.pg_extension_config_dump('dwc.schedules_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('dwc.schedule_runs', '');

-- ---- C helpers ------------------------------------------------------------------

CREATE FUNCTION dwc._schedule_next(schedule pg_catalog.text, timezone pg_catalog.text,
                                   after pg_catalog.timestamptz, anchor pg_catalog.timestamptz)
RETURNS pg_catalog.timestamptz
LANGUAGE c STABLE STRICT AS 'MODULE_PATHNAME', 'dwc__schedule_next';
COMMENT ON FUNCTION dwc._schedule_next(pg_catalog.text, pg_catalog.text, pg_catalog.timestamptz, pg_catalog.timestamptz) IS
  'Private: first fire time after "after" of a cron expression or interval (stepping from anchor); validates both.';

CREATE FUNCTION dwc._validate_job(kind pg_catalog.text, payload pg_catalog.jsonb, queue pg_catalog.text,
                                  role pg_catalog.oid)
RETURNS void
LANGUAGE c STABLE STRICT AS 'MODULE_PATHNAME', 'dwc__validate_job';
COMMENT ON FUNCTION dwc._validate_job(pg_catalog.text, pg_catalog.jsonb, pg_catalog.text, pg_catalog.oid) IS
  'Private: raises the error dwc.enqueue() would raise for this kind, payload and queue enqueued by role.';
REVOKE ALL ON FUNCTION dwc._validate_job(pg_catalog.text, pg_catalog.jsonb, pg_catalog.text, pg_catalog.oid) FROM PUBLIC;

CREATE FUNCTION dwc._wake_scheduler() RETURNS void
LANGUAGE c AS 'MODULE_PATHNAME', 'dwc__wake_scheduler';
COMMENT ON FUNCTION dwc._wake_scheduler() IS 'Private: wake this database''s scheduler worker at commit.';
REVOKE ALL ON FUNCTION dwc._wake_scheduler() FROM PUBLIC;

-- API: Public

CREATE FUNCTION dwc.cron_next(expression pg_catalog.text,
                              "from" pg_catalog.timestamptz DEFAULT pg_catalog.now(),
                              n pg_catalog.int4 DEFAULT 1,
                              timezone pg_catalog.text DEFAULT 'UTC')
RETURNS SETOF pg_catalog.timestamptz
LANGUAGE c STABLE STRICT AS 'MODULE_PATHNAME', 'dwc_cron_next';
COMMENT ON FUNCTION dwc.cron_next(pg_catalog.text, pg_catalog.timestamptz, pg_catalog.int4, pg_catalog.text) IS
  'The next n fire times after "from" of a cron expression (5 fields, names, ranges, steps, $, '
  '@daily ...) or an interval (''30 seconds'', ''1 hour 30 minutes''), in a time zone. Invalid '
  'expressions raise an error naming the bad field and value.';

-- ---- schedule management (through the trampoline) --------------------------------

-- API: Private

CREATE FUNCTION dwc._schedule_json(s dwc.schedules) RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
RETURN jsonb_build_object('id', s.id, 'name', s.name, 'owner', s.owner::regrole, 'owner_user', s.owner_user,
    'schedule', s.schedule, 'timezone', s.timezone, 'job_kind', s.job_kind, 'job_payload', s.job_payload,
    'job_queue', s.job_queue, 'job_priority', s.job_priority, 'job_max_attempts', s.job_max_attempts,
    'job_timeout_ms', s.job_timeout_ms, 'enabled', s.enabled, 'overlap', s.overlap, 'misfire', s.misfire,
    'next_run_at', s.next_run_at, 'last_run_at', s.last_run_at, 'last_job_id', s.last_job_id,
    'failure_count', s.failure_count, 'last_error', s.last_error, 'created_at', s.created_at);

CREATE FUNCTION dwc._check_policy(what pg_catalog.text, value pg_catalog.text, allowed pg_catalog.text[])
RETURNS pg_catalog.text
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF value IS NULL OR NOT value = ANY (allowed) THEN
        RAISE EXCEPTION 'invalid % policy "%"', what, value
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = format('Use %s.', array_to_string(allowed, ' or '));
    END IF;
    RETURN value;
END;
$$;

CREATE FUNCTION dwc._schedule(name pg_catalog.text, schedule pg_catalog.text, job_kind pg_catalog.text,
                              payload pg_catalog.jsonb, timezone pg_catalog.text, queue pg_catalog.text,
                              priority pg_catalog.text, max_attempts pg_catalog.int4, timeout pg_catalog.interval,
                              overlap pg_catalog.text, misfire pg_catalog.text, enabled pg_catalog.bool,
                              start_at pg_catalog.timestamptz, caller pg_catalog.oid)
RETURNS pg_catalog.int8
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    a timestamptz := coalesce(start_at, now());
    nxt timestamptz;
    new_id int8;
BEGIN
    IF name IS NULL OR length(name) NOT BETWEEN 1 AND 200 THEN
        RAISE EXCEPTION 'schedule name must have 1 to 200 characters' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF schedule IS NULL THEN
        RAISE EXCEPTION 'schedule must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF max_attempts IS NOT NULL AND max_attempts NOT BETWEEN 1 AND 1000 THEN
        RAISE EXCEPTION 'max_attempts must be between 1 and 1000, not %', max_attempts
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF timeout IS NOT NULL AND (timeout <= interval '0' OR timeout > interval '1 day') THEN
        RAISE EXCEPTION 'timeout must be between 1 millisecond and 1 day' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM dwc._check_policy('overlap', overlap, ARRAY['allow', 'skip']);
    PERFORM dwc._check_policy('misfire', misfire, ARRAY['skip', 'run_once']);
    PERFORM dwc._validate_job(job_kind, coalesce(payload, '{}'), coalesce(queue, 'default'), caller);
    nxt := dwc._schedule_next(schedule, coalesce(timezone, 'UTC'),
                              greatest(now(), a - interval '1 microsecond'), a);
    INSERT INTO dwc.schedules (name, owner, owner_user, schedule, timezone, job_kind, job_payload,
                               job_queue, job_priority, job_max_attempts, job_timeout_ms, enabled,
                               overlap, misfire, anchor, next_run_at)
    VALUES (name, caller, dwc._claims_sub(), btrim(schedule), coalesce(timezone, 'UTC'), job_kind,
            coalesce(payload, '{}'), coalesce(queue, 'default'), dwc.priority_value(coalesce(priority, 'normal')),
            max_attempts, (extract(epoch FROM timeout) * 1000)::int4, coalesce(enabled, true),
            overlap, misfire, a, nxt)
    RETURNING id INTO new_id;
    PERFORM dwc._wake_scheduler();
    RETURN new_id;
EXCEPTION WHEN unique_violation THEN
    RAISE EXCEPTION 'schedule "%" already exists', name
        USING ERRCODE = 'unique_violation', HINT = 'Use dwc.alter_schedule() to change it, or another name.';
END;
$$;

-- the schedule a caller may manage, by id, locked; raises no_data_found otherwise
CREATE FUNCTION dwc._own_schedule(schedule_id pg_catalog.int8, caller pg_catalog.oid)
RETURNS dwc.schedules
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s dwc.schedules;
BEGIN
    SELECT * INTO s FROM dwc.schedules WHERE id = schedule_id FOR UPDATE;
    IF NOT FOUND OR NOT dwc._may_manage(caller, s.owner, s.owner_user) THEN
        RAISE EXCEPTION 'schedule % does not exist', schedule_id USING ERRCODE = 'no_data_found';
    END IF;
    RETURN s;
END;
$$;

CREATE FUNCTION dwc._alter_schedule(schedule_id pg_catalog.int8, schedule pg_catalog.text,
                                    timezone pg_catalog.text, job_kind pg_catalog.text,
                                    payload pg_catalog.jsonb, queue pg_catalog.text, priority pg_catalog.text,
                                    max_attempts pg_catalog.int4, timeout pg_catalog.interval,
                                    overlap pg_catalog.text, misfire pg_catalog.text, enabled pg_catalog.bool,
                                    name pg_catalog.text, caller pg_catalog.oid)
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s dwc.schedules := dwc._own_schedule(schedule_id, caller);
    timing_changed bool;
BEGIN
    timing_changed := (schedule IS NOT NULL AND schedule <> s.schedule)
                   OR (timezone IS NOT NULL AND timezone <> s.timezone)
                   OR (enabled IS NOT NULL AND enabled AND NOT s.enabled);
    s.name := coalesce(name, s.name);
    s.schedule := coalesce(btrim(schedule), s.schedule);
    s.timezone := coalesce(timezone, s.timezone);
    s.job_kind := coalesce(job_kind, s.job_kind);
    s.job_payload := coalesce(payload, s.job_payload);
    s.job_queue := coalesce(queue, s.job_queue);
    s.job_priority := coalesce(dwc.priority_value(priority), s.job_priority);
    s.job_max_attempts := coalesce(max_attempts, s.job_max_attempts);
    s.job_timeout_ms := coalesce((extract(epoch FROM timeout) * 1000)::int4, s.job_timeout_ms);
    s.overlap := dwc._check_policy('overlap', coalesce(overlap, s.overlap), ARRAY['allow', 'skip']);
    s.misfire := dwc._check_policy('misfire', coalesce(misfire, s.misfire), ARRAY['skip', 'run_once']);
    s.enabled := coalesce(enabled, s.enabled);
    IF s.job_max_attempts IS NOT NULL AND s.job_max_attempts NOT BETWEEN 1 AND 1000 THEN
        RAISE EXCEPTION 'max_attempts must be between 1 and 1000, not %', s.job_max_attempts
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM dwc._validate_job(s.job_kind, s.job_payload, s.job_queue, caller);
    IF timing_changed OR NOT s.enabled THEN
        PERFORM dwc._cancel_early_jobs(s.id);
    END IF;
    IF timing_changed THEN
        s.anchor := now();
        s.next_run_at := dwc._schedule_next(s.schedule, s.timezone, now(), s.anchor);
    END IF;
    UPDATE dwc.schedules SET name = s.name, schedule = s.schedule, timezone = s.timezone,
           job_kind = s.job_kind, job_payload = s.job_payload, job_queue = s.job_queue,
           job_priority = s.job_priority, job_max_attempts = s.job_max_attempts,
           job_timeout_ms = s.job_timeout_ms, overlap = s.overlap, misfire = s.misfire,
           enabled = s.enabled, anchor = s.anchor, next_run_at = s.next_run_at, updated_at = now()
     WHERE id = s.id;
    PERFORM dwc._wake_scheduler();
    RETURN dwc._schedule_json(s);
EXCEPTION WHEN unique_violation THEN
    RAISE EXCEPTION 'schedule "%" already exists', s.name USING ERRCODE = 'unique_violation';
END;
$$;

-- Jobs are enqueued shortly before their fire time (see scheduler.c); when the
-- schedule changes or goes away before that time comes, they are cancelled.
CREATE FUNCTION dwc._cancel_early_jobs(schedule_id pg_catalog.int8)
RETURNS pg_catalog.int4
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
RETURN dwc._cancel_queued(ARRAY(SELECT j.id FROM dwc.jobs j
                                 WHERE j.schedule_id = _cancel_early_jobs.schedule_id
                                   AND j.status = 'queued' AND j.run_at > now()),
                          'schedule changed before the fire time');

CREATE FUNCTION dwc._unschedule(schedule_id pg_catalog.int8, caller pg_catalog.oid)
RETURNS pg_catalog.bool
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM dwc._own_schedule(schedule_id, caller);
    PERFORM dwc._cancel_early_jobs(schedule_id);
    DELETE FROM dwc.schedules WHERE id = schedule_id;
    RETURN true;
END;
$$;

CREATE FUNCTION dwc._unschedule(name pg_catalog.text, caller pg_catalog.oid)
RETURNS pg_catalog.bool
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    sid int8;
BEGIN
    SELECT id INTO sid FROM dwc.schedules s
     WHERE s.name = _unschedule.name AND s.owner = caller
       AND s.owner_user IS NOT DISTINCT FROM dwc._claims_sub();
    IF NOT FOUND THEN
        RAISE EXCEPTION 'schedule "%" does not exist', name USING ERRCODE = 'no_data_found';
    END IF;
    PERFORM dwc._cancel_early_jobs(sid);
    DELETE FROM dwc.schedules WHERE id = sid;
    RETURN true;
END;
$$;

CREATE FUNCTION dwc._schedule_status(schedule_id pg_catalog.int8, caller pg_catalog.oid)
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s dwc.schedules;
BEGIN
    SELECT * INTO s FROM dwc.schedules WHERE id = schedule_id;
    IF NOT FOUND OR NOT dwc._may_manage(caller, s.owner, s.owner_user) THEN
        RAISE EXCEPTION 'schedule % does not exist', schedule_id USING ERRCODE = 'no_data_found';
    END IF;
    RETURN dwc._schedule_json(s) || jsonb_build_object('recent_runs', (
        SELECT coalesce(jsonb_agg(jsonb_build_object('fire_time', r.fire_time, 'fired_at', r.fired_at,
                                                     'outcome', r.outcome, 'job_id', r.job_id,
                                                     'detail', r.detail) ORDER BY r.fire_time DESC), '[]')
          FROM (SELECT * FROM dwc.schedule_runs WHERE schedule_runs.schedule_id = s.id
                 ORDER BY fire_time DESC LIMIT 20) r));
END;
$$;

SELECT dwc._trampoline_targets(ARRAY[
    'dwc._schedule(text, text, text, jsonb, text, text, text, int4, interval, text, text, bool, timestamptz, oid)',
    'dwc._alter_schedule(int8, text, text, text, jsonb, text, text, int4, interval, text, text, bool, text, oid)',
    'dwc._unschedule(int8, oid)', 'dwc._unschedule(text, oid)', 'dwc._schedule_status(int8, oid)']);
REVOKE ALL ON FUNCTION dwc._own_schedule(pg_catalog.int8, pg_catalog.oid) FROM PUBLIC;
REVOKE ALL ON FUNCTION dwc._cancel_early_jobs(pg_catalog.int8) FROM PUBLIC;
COMMENT ON FUNCTION dwc._own_schedule(pg_catalog.int8, pg_catalog.oid) IS
  'Private: the schedule the caller may manage, locked; raises no_data_found otherwise.';
COMMENT ON FUNCTION dwc._cancel_early_jobs(pg_catalog.int8) IS
  'Private: cancels jobs a schedule enqueued ahead of a fire time that has not come.';

-- API: Public

CREATE FUNCTION dwc.schedule(
    name pg_catalog.text,
    schedule pg_catalog.text,
    job_kind pg_catalog.text DEFAULT 'noop',
    payload pg_catalog.jsonb DEFAULT '{}',
    timezone pg_catalog.text DEFAULT 'UTC',
    queue pg_catalog.text DEFAULT 'default',
    priority pg_catalog.text DEFAULT 'normal',
    max_attempts pg_catalog.int4 DEFAULT NULL,
    timeout pg_catalog.interval DEFAULT NULL,
    overlap pg_catalog.text DEFAULT 'allow',
    misfire pg_catalog.text DEFAULT 'run_once',
    enabled pg_catalog.bool DEFAULT true,
    start_at pg_catalog.timestamptz DEFAULT NULL)
RETURNS pg_catalog.int8
LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'dwc_trampoline';
COMMENT ON FUNCTION dwc.schedule(pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.jsonb, pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.int4, pg_catalog.interval, pg_catalog.text, pg_catalog.text, pg_catalog.bool, pg_catalog.timestamptz) IS
  'Creates a schedule and returns its id. schedule is a cron expression (''0 2 * * *'', '
  '''*/5 * * * MON-FRI'', ''0 0 $ * *'', ''@hourly'') read in timezone, or an interval '
  '(''30 seconds'', ''1 hour 30 minutes'') counted from start_at (default now). Each fire time '
  'enqueues one job of job_kind with payload, run as the calling role. overlap: allow, or skip '
  'while the previous job is active. misfire (fire time missed by more than '
  'dwc.scheduler_misfire_grace): run_once to catch up with one job, or skip.';

CREATE FUNCTION dwc.schedule_daily(name pg_catalog.text, at pg_catalog.time,
    job_kind pg_catalog.text DEFAULT 'noop', payload pg_catalog.jsonb DEFAULT '{}',
    timezone pg_catalog.text DEFAULT 'UTC')
RETURNS pg_catalog.int8
LANGUAGE sql VOLATILE
RETURN dwc.schedule(name, format('%s %s * * *', extract(minute FROM at)::int, extract(hour FROM at)::int),
                    job_kind, payload, timezone);
COMMENT ON FUNCTION dwc.schedule_daily(pg_catalog.text, pg_catalog.time, pg_catalog.text, pg_catalog.jsonb, pg_catalog.text) IS
  'Creates a schedule firing every day at a time of day (minute precision) in timezone.';

CREATE FUNCTION dwc._weekday_number(day pg_catalog.text) RETURNS pg_catalog.int4
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    i int4 := array_position(ARRAY['sunday','monday','tuesday','wednesday','thursday','friday','saturday'],
                             lower(btrim(day)));
BEGIN
    IF i IS NULL THEN
        i := array_position(ARRAY['sun','mon','tue','wed','thu','fri','sat'], lower(btrim(day)));
    END IF;
    IF i IS NULL AND btrim(day) ~ '^[0-7]$' THEN
        RETURN btrim(day)::int4 % 7;
    END IF;
    IF i IS NULL THEN
        RAISE EXCEPTION 'invalid day of the week "%"', day
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Use monday ... sunday, mon ... sun, or 0 (Sunday) to 6.';
    END IF;
    RETURN i - 1;
END;
$$;

CREATE FUNCTION dwc.schedule_weekly(name pg_catalog.text, day pg_catalog.text, at pg_catalog.time,
    job_kind pg_catalog.text DEFAULT 'noop', payload pg_catalog.jsonb DEFAULT '{}',
    timezone pg_catalog.text DEFAULT 'UTC')
RETURNS pg_catalog.int8
LANGUAGE sql VOLATILE
RETURN dwc.schedule(name, format('%s %s * * %s', extract(minute FROM at)::int, extract(hour FROM at)::int,
                                 dwc._weekday_number(day)),
                    job_kind, payload, timezone);
COMMENT ON FUNCTION dwc.schedule_weekly(pg_catalog.text, pg_catalog.text, pg_catalog.time, pg_catalog.text, pg_catalog.jsonb, pg_catalog.text) IS
  'Creates a schedule firing every week on a day (monday ... sunday, or 0-6 with 0 = Sunday) at a time of day in timezone.';

CREATE FUNCTION dwc._month_day(day pg_catalog.text) RETURNS pg_catalog.text
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF lower(btrim(day)) IN ('last', '$') THEN
        RETURN '$';
    END IF;
    IF btrim(day) ~ '^[0-9]{1,2}$' AND btrim(day)::int BETWEEN 1 AND 31 THEN
        RETURN btrim(day)::int::text;
    END IF;
    RAISE EXCEPTION 'invalid day of the month "%"', day
        USING ERRCODE = 'invalid_parameter_value', HINT = 'Use 1 to 31, or last.';
END;
$$;

CREATE FUNCTION dwc.schedule_monthly(name pg_catalog.text, day pg_catalog.text, at pg_catalog.time,
    job_kind pg_catalog.text DEFAULT 'noop', payload pg_catalog.jsonb DEFAULT '{}',
    timezone pg_catalog.text DEFAULT 'UTC')
RETURNS pg_catalog.int8
LANGUAGE sql VOLATILE
RETURN dwc.schedule(name, format('%s %s %s * *', extract(minute FROM at)::int, extract(hour FROM at)::int,
                                 dwc._month_day(day)),
                    job_kind, payload, timezone);
COMMENT ON FUNCTION dwc.schedule_monthly(pg_catalog.text, pg_catalog.text, pg_catalog.time, pg_catalog.text, pg_catalog.jsonb, pg_catalog.text) IS
  'Creates a schedule firing every month on a day (1-31, or last) at a time of day in timezone; '
  'months without that day are skipped (use last for month ends).';

CREATE FUNCTION dwc.alter_schedule(
    schedule_id pg_catalog.int8,
    schedule pg_catalog.text DEFAULT NULL,
    timezone pg_catalog.text DEFAULT NULL,
    job_kind pg_catalog.text DEFAULT NULL,
    payload pg_catalog.jsonb DEFAULT NULL,
    queue pg_catalog.text DEFAULT NULL,
    priority pg_catalog.text DEFAULT NULL,
    max_attempts pg_catalog.int4 DEFAULT NULL,
    timeout pg_catalog.interval DEFAULT NULL,
    overlap pg_catalog.text DEFAULT NULL,
    misfire pg_catalog.text DEFAULT NULL,
    enabled pg_catalog.bool DEFAULT NULL,
    name pg_catalog.text DEFAULT NULL)
RETURNS pg_catalog.jsonb
LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'dwc_trampoline';
COMMENT ON FUNCTION dwc.alter_schedule(pg_catalog.int8, pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.jsonb, pg_catalog.text, pg_catalog.text, pg_catalog.int4, pg_catalog.interval, pg_catalog.text, pg_catalog.text, pg_catalog.bool, pg_catalog.text) IS
  'Changes the given fields of a schedule (NULL keeps a field); a new schedule, time zone or '
  're-enabling recomputes the next fire time from now. Returns the schedule as JSON.';

CREATE FUNCTION dwc.enable_schedule(schedule_id pg_catalog.int8) RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
RETURN dwc.alter_schedule(schedule_id, enabled => true);
COMMENT ON FUNCTION dwc.enable_schedule(pg_catalog.int8) IS
  'Enables a schedule; its next fire time is computed from now (missed ones are not caught up).';

CREATE FUNCTION dwc.disable_schedule(schedule_id pg_catalog.int8) RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
RETURN dwc.alter_schedule(schedule_id, enabled => false);
COMMENT ON FUNCTION dwc.disable_schedule(pg_catalog.int8) IS 'Disables a schedule: it fires no more until enabled.';

CREATE FUNCTION dwc.unschedule(schedule_id pg_catalog.int8) RETURNS pg_catalog.bool
LANGUAGE c VOLATILE STRICT AS 'MODULE_PATHNAME', 'dwc_trampoline';
COMMENT ON FUNCTION dwc.unschedule(pg_catalog.int8) IS
  'Deletes a schedule and its run history; jobs it already enqueued are not touched.';

CREATE FUNCTION dwc.unschedule(name pg_catalog.text) RETURNS pg_catalog.bool
LANGUAGE c VOLATILE STRICT AS 'MODULE_PATHNAME', 'dwc_trampoline';
COMMENT ON FUNCTION dwc.unschedule(pg_catalog.text) IS
  'Deletes the caller''s schedule of this name and its run history.';

CREATE FUNCTION dwc.schedule_status(schedule_id pg_catalog.int8) RETURNS pg_catalog.jsonb
LANGUAGE c STABLE STRICT AS 'MODULE_PATHNAME', 'dwc_trampoline';
COMMENT ON FUNCTION dwc.schedule_status(pg_catalog.int8) IS
  'A schedule as JSON with its 20 most recent runs.';

-- ---- monitoring (administrators) -------------------------------------------------

CREATE VIEW dwc.schedule_overview AS
SELECT s.id, s.name, s.owner::regrole AS owner, s.owner_user, s.schedule, s.timezone, s.job_kind,
       s.enabled, s.overlap, s.misfire, s.next_run_at, s.last_run_at, s.failure_count,
       (SELECT count(*) FROM dwc.schedule_runs r
          JOIN dwc.job_history h ON h.id = r.job_id AND h.status = 'dead'
         WHERE r.schedule_id = s.id AND r.fired_at > now() - interval '1 day') AS failures_last_day,
       (SELECT count(*) FROM dwc.schedule_runs r
         WHERE r.schedule_id = s.id AND r.outcome <> 'enqueued' AND r.fired_at > now() - interval '1 day') AS skipped_last_day,
       s.last_error
  FROM dwc.schedules s;
COMMENT ON VIEW dwc.schedule_overview IS
  'Every schedule with its next and last run, consecutive failures, failed jobs and skipped fire times in the last day.';

-- API: Private

CREATE FUNCTION dwc._list_schedules(caller pg_catalog.oid)
RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
RETURN (SELECT coalesce(jsonb_agg(dwc._schedule_json(s) ORDER BY s.id), '[]')
          FROM dwc.schedules s WHERE dwc._may_manage(caller, s.owner, s.owner_user));
SELECT dwc._trampoline_targets(ARRAY['dwc._list_schedules(oid)']);

-- API: Public

CREATE FUNCTION dwc.list_schedules() RETURNS pg_catalog.jsonb
LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'dwc_trampoline';
COMMENT ON FUNCTION dwc.list_schedules() IS 'The caller''s schedules as a JSON array.';

CREATE FUNCTION dwc.scheduler_stats(period pg_catalog.interval DEFAULT '1 hour') RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN (SELECT jsonb_build_object(
            'period_seconds', extract(epoch FROM period),
            'schedules', (SELECT count(*) FROM dwc.schedules),
            'enabled', (SELECT count(*) FROM dwc.schedules WHERE enabled),
            'next_run_at', (SELECT min(next_run_at) FROM dwc.schedules WHERE enabled),
            'runs', (SELECT jsonb_object_agg(outcome, n) FROM (
                        SELECT outcome, count(*) AS n FROM dwc.schedule_runs
                         WHERE fired_at >= now() - period GROUP BY outcome) o),
            'start_lateness_ms', (SELECT jsonb_build_object(
                        'p50', round((percentile_cont(0.5) WITHIN GROUP (ORDER BY x))::numeric, 3),
                        'p99', round((percentile_cont(0.99) WITHIN GROUP (ORDER BY x))::numeric, 3),
                        'max', round(max(x)::numeric, 3))
                      FROM (SELECT extract(epoch FROM h.started_at - r.fire_time) * 1000 AS x
                              FROM dwc.schedule_runs r JOIN dwc.job_history h ON h.id = r.job_id
                             WHERE r.fired_at >= now() - period AND r.outcome = 'enqueued') l),
            'failing_schedules', (SELECT count(*) FROM dwc.schedules WHERE failure_count > 0)));
COMMENT ON FUNCTION dwc.scheduler_stats(pg_catalog.interval) IS
  'Scheduler statistics over the last period: schedules, runs by outcome, lateness of job starts after their fire times (p50/p99/max), schedules with failures.';

-- ---- src/security/crypto.sql ----
-- src/security/crypto.sql: encryption of secrets at rest (AES-256-GCM).

-- API: Public (administrators)

CREATE FUNCTION dwc.encrypt(plaintext pg_catalog.text) RETURNS pg_catalog.bytea
LANGUAGE c VOLATILE STRICT AS 'MODULE_PATHNAME', 'dwc_encrypt';
COMMENT ON FUNCTION dwc.encrypt(pg_catalog.text) IS
  'Encrypts with AES-256-GCM under the first key of dwc.encryption_keys (or dwc.encryption_key_file); '
  'the key id travels in the ciphertext so keys can be rotated. Administrators only.';
REVOKE ALL ON FUNCTION dwc.encrypt(pg_catalog.text) FROM PUBLIC;

CREATE FUNCTION dwc.decrypt(ciphertext pg_catalog.bytea) RETURNS pg_catalog.text
LANGUAGE c VOLATILE STRICT AS 'MODULE_PATHNAME', 'dwc_decrypt';
COMMENT ON FUNCTION dwc.decrypt(pg_catalog.bytea) IS
  'Decrypts a value made by dwc.encrypt() with the key it names; a changed value fails authentication. Administrators only.';
REVOKE ALL ON FUNCTION dwc.decrypt(pg_catalog.bytea) FROM PUBLIC;

-- ---- src/security/users.sql ----
-- src/security/users.sql: users, passwords, tokens, sessions, MFA. See docs/security.md.

-- API: Private (tables)

CREATE TABLE dwc.users (
    id pg_catalog.uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
    username pg_catalog.text NOT NULL
        CONSTRAINT username_valid CHECK (username OPERATOR(pg_catalog.~) '^[A-Za-z0-9][A-Za-z0-9_.@+-]{2,63}$'),
    email pg_catalog.text
        CONSTRAINT email_valid CHECK (email OPERATOR(pg_catalog.~) '^[^@\s]+@[^@\s]+\.[^@\s]+$' AND length(email) <= 254),
    password_hash pg_catalog.text NOT NULL,
    role pg_catalog.text NOT NULL DEFAULT 'dwc_user' CHECK (role IN ('dwc_user', 'dwc_admin')),
    status pg_catalog.text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
    failed_logins pg_catalog.int4 NOT NULL DEFAULT 0,
    last_failed_at pg_catalog.timestamptz,
    locked_until pg_catalog.timestamptz,
    mfa_secret pg_catalog.bytea,             -- encrypted (dwc.encrypt)
    mfa_enabled pg_catalog.bool NOT NULL DEFAULT false,
    mfa_last_step pg_catalog.int8,           -- replay protection: codes of this step or older are spent
    created_at pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now(),
    updated_at pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now(),
    password_changed_at pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now(),
    last_login_at pg_catalog.timestamptz
);
COMMENT ON TABLE dwc.users IS
  'dwc''s users (the sub claim of their tokens is their id). Passwords are Argon2id hashes; MFA '
  'secrets are encrypted. Administrators only.';
CREATE UNIQUE INDEX users_username ON dwc.users (lower(username));
CREATE UNIQUE INDEX users_email ON dwc.users (lower(email)) WHERE email IS NOT NULL;

CREATE TABLE dwc.refresh_tokens (
    id pg_catalog.int8 GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id pg_catalog.uuid NOT NULL REFERENCES dwc.users ON DELETE CASCADE,
    family pg_catalog.uuid NOT NULL,         -- one family per login: a session
    token_hash pg_catalog.bytea NOT NULL UNIQUE,
    amr pg_catalog.text[] NOT NULL,          -- how the session was authenticated: pwd, otp
    issued_at pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now(),
    expires_at pg_catalog.timestamptz NOT NULL,
    used_at pg_catalog.timestamptz,          -- replaced by the next token of the family
    revoked_at pg_catalog.timestamptz,
    revoked_reason pg_catalog.text,
    address pg_catalog.text,
    user_agent pg_catalog.text
);
COMMENT ON TABLE dwc.refresh_tokens IS
  'Refresh tokens, stored as SHA-256 hashes. Each use replaces the token by the next of its '
  'family; using a replaced token again revokes the whole family.';
CREATE INDEX refresh_tokens_family ON dwc.refresh_tokens (family);
CREATE INDEX refresh_tokens_user ON dwc.refresh_tokens (user_id);

CREATE TABLE dwc.recovery_codes (
    user_id pg_catalog.uuid NOT NULL REFERENCES dwc.users ON DELETE CASCADE,
    code_hash pg_catalog.bytea NOT NULL,
    used_at pg_catalog.timestamptz,
    PRIMARY KEY (user_id, code_hash)
);
COMMENT ON TABLE dwc.recovery_codes IS 'One-time MFA recovery codes, as SHA-256 hashes.';

SELECT pg_catalog.pg_extension_config_dump('dwc.users', '');
SELECT pg_catalog.pg_extension_config_dump('dwc.refresh_tokens', '');
SELECT pg_catalog.pg_extension_config_dump('dwc.recovery_codes', '');

-- ---- primitives (C) -------------------------------------------------------------------

CREATE FUNCTION dwc.password_hash(password pg_catalog.text) RETURNS pg_catalog.text
LANGUAGE c VOLATILE STRICT AS 'MODULE_PATHNAME', 'dwc_password_hash';
COMMENT ON FUNCTION dwc.password_hash(pg_catalog.text) IS
  'An Argon2id PHC string of a password (dwc.argon2_memory, dwc.argon2_iterations, one lane, '
  '16-byte random salt, 32-byte hash). Administrators only: each call costs tens of milliseconds.';
REVOKE ALL ON FUNCTION dwc.password_hash(pg_catalog.text) FROM PUBLIC;

CREATE FUNCTION dwc.password_verify(password pg_catalog.text, hash pg_catalog.text) RETURNS pg_catalog.bool
LANGUAGE c VOLATILE STRICT AS 'MODULE_PATHNAME', 'dwc_password_verify';
COMMENT ON FUNCTION dwc.password_verify(pg_catalog.text, pg_catalog.text) IS
  'Whether a password matches an Argon2 (id, i or d) PHC string; malformed strings do not match. Administrators only.';
REVOKE ALL ON FUNCTION dwc.password_verify(pg_catalog.text, pg_catalog.text) FROM PUBLIC;

CREATE FUNCTION dwc.password_needs_rehash(hash pg_catalog.text) RETURNS pg_catalog.bool
LANGUAGE c STABLE STRICT AS 'MODULE_PATHNAME', 'dwc_password_needs_rehash';
COMMENT ON FUNCTION dwc.password_needs_rehash(pg_catalog.text) IS
  'Whether a hash is weaker than the current Argon2id settings (dwc rehashes at the next login).';

CREATE FUNCTION dwc.password_problems(password pg_catalog.text, username pg_catalog.text DEFAULT NULL)
RETURNS pg_catalog.text[]
LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'dwc_password_problems';
COMMENT ON FUNCTION dwc.password_problems(pg_catalog.text, pg_catalog.text) IS
  'What the password policy finds wrong with a new password, one sentence each; empty if nothing '
  '(length, character classes, common passwords, containing the username).';

CREATE FUNCTION dwc._common_passwords_sorted() RETURNS pg_catalog.bool
LANGUAGE c IMMUTABLE AS 'MODULE_PATHNAME', 'dwc__common_passwords_sorted';
COMMENT ON FUNCTION dwc._common_passwords_sorted() IS 'Private, for tests: the common password list is sorted.';

CREATE FUNCTION dwc.jwt_sign(claims pg_catalog.jsonb) RETURNS pg_catalog.text
LANGUAGE c VOLATILE STRICT AS 'MODULE_PATHNAME', 'dwc_jwt_sign';
COMMENT ON FUNCTION dwc.jwt_sign(pg_catalog.jsonb) IS
  'An HS256 token of the claims, signed with dwc.jwt_secret (PostgREST''s jwt-secret). '
  'Administrators only: anyone who can sign can become anyone.';
REVOKE ALL ON FUNCTION dwc.jwt_sign(pg_catalog.jsonb) FROM PUBLIC;

CREATE FUNCTION dwc.jwt_verify(token pg_catalog.text, audience pg_catalog.text DEFAULT NULL,
                               at pg_catalog.timestamptz DEFAULT NULL)
RETURNS pg_catalog.jsonb
LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'dwc_jwt_verify';
COMMENT ON FUNCTION dwc.jwt_verify(pg_catalog.text, pg_catalog.text, pg_catalog.timestamptz) IS
  'The claims of a valid token; otherwise an error (28P01) that says why: not three parts, not '
  'HS256, bad signature, expired (exp, with dwc.jwt_clock_skew), not yet valid (nbf), wrong '
  'audience. audience: NULL for dwc.jwt_audience, '''' for no check; at: the time to check against.';

CREATE FUNCTION dwc.totp_code(secret pg_catalog.bytea, at pg_catalog.timestamptz DEFAULT pg_catalog.now(),
                              digits pg_catalog.int4 DEFAULT 6, step pg_catalog.int4 DEFAULT 30)
RETURNS pg_catalog.text
LANGUAGE c STABLE STRICT AS 'MODULE_PATHNAME', 'dwc_totp_code';
COMMENT ON FUNCTION dwc.totp_code(pg_catalog.bytea, pg_catalog.timestamptz, pg_catalog.int4, pg_catalog.int4) IS
  'The RFC 6238 TOTP code (HMAC-SHA-1) of a secret at a time.';

CREATE FUNCTION dwc._totp_match(secret pg_catalog.bytea, code pg_catalog.text, at pg_catalog.timestamptz,
                                after_step pg_catalog.int8)
RETURNS pg_catalog.int8
LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'dwc__totp_match';
COMMENT ON FUNCTION dwc._totp_match(pg_catalog.bytea, pg_catalog.text, pg_catalog.timestamptz, pg_catalog.int8) IS
  'Private: the 30-second step, within one of at and after after_step, whose 6-digit code this is; NULL if none.';

CREATE FUNCTION dwc._random_bytes(n pg_catalog.int4) RETURNS pg_catalog.bytea
LANGUAGE c VOLATILE STRICT AS 'MODULE_PATHNAME', 'dwc__random_bytes';
COMMENT ON FUNCTION dwc._random_bytes(pg_catalog.int4) IS 'Private: bytes from OpenSSL''s CSPRNG.';
CREATE FUNCTION dwc._base64url(pg_catalog.bytea) RETURNS pg_catalog.text
LANGUAGE c IMMUTABLE STRICT AS 'MODULE_PATHNAME', 'dwc__base64url';
COMMENT ON FUNCTION dwc._base64url(pg_catalog.bytea) IS 'Private: unpadded base64url.';
CREATE FUNCTION dwc._base32(pg_catalog.bytea) RETURNS pg_catalog.text
LANGUAGE c IMMUTABLE STRICT AS 'MODULE_PATHNAME', 'dwc__base32';
COMMENT ON FUNCTION dwc._base32(pg_catalog.bytea) IS 'Private: unpadded RFC 4648 base32.';
CREATE FUNCTION dwc._base32_decode(pg_catalog.text) RETURNS pg_catalog.bytea
LANGUAGE c IMMUTABLE STRICT AS 'MODULE_PATHNAME', 'dwc__base32_decode';
COMMENT ON FUNCTION dwc._base32_decode(pg_catalog.text) IS 'Private: RFC 4648 base32 to bytes; NULL if not base32.';

-- ---- helpers ----------------------------------------------------------------------------

-- API: Private

CREATE FUNCTION dwc._user_json(u dwc.users) RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
RETURN jsonb_strip_nulls(jsonb_build_object(
    'id', u.id, 'username', u.username, 'email', u.email, 'role', u.role, 'status', u.status,
    'mfa_enabled', u.mfa_enabled, 'locked_until', CASE WHEN u.locked_until > now() THEN u.locked_until END,
    'created_at', u.created_at, 'last_login_at', u.last_login_at));

-- The signed-in dwc user of a request, or an error (42501: PostgREST answers 401/403).
CREATE FUNCTION dwc._require_user(caller pg_catalog.oid) RETURNS dwc.users
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    sub text := nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub';
    u dwc.users;
BEGIN
    -- claims are trusted only for sessions acting as a web role (as PostgREST does)
    IF sub IS NOT NULL AND pg_has_role(caller, 'dwc_user', 'USAGE')
       AND sub ~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' THEN
        SELECT * INTO u FROM dwc.users WHERE id = sub::uuid;
        IF FOUND AND u.status = 'active' THEN
            RETURN u;
        END IF;
    END IF;
    RAISE EXCEPTION 'this needs a signed-in dwc user' USING ERRCODE = 'insufficient_privilege',
        HINT = 'Sign in with api.login and send the access token, or an API key in X-API-Key.';
END;
$$;

CREATE FUNCTION dwc._check_password(password pg_catalog.text, username pg_catalog.text) RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    problems text[] := dwc.password_problems(password, username);
BEGIN
    IF cardinality(problems) > 0 THEN
        RAISE EXCEPTION 'the password does not meet the policy' USING ERRCODE = 'invalid_parameter_value',
            DETAIL = array_to_string(problems, ' ');
    END IF;
END;
$$;

CREATE FUNCTION dwc._insert_user(username pg_catalog.text, password pg_catalog.text, email pg_catalog.text,
                                 role pg_catalog.text)
RETURNS dwc.users
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    u dwc.users;
BEGIN
    IF username IS NULL OR username !~ '^[A-Za-z0-9][A-Za-z0-9_.@+-]{2,63}$' THEN
        RAISE EXCEPTION 'invalid username' USING ERRCODE = 'invalid_parameter_value',
            DETAIL = '3 to 64 characters: letters, digits and _ . @ + -, starting with a letter or digit.';
    END IF;
    IF email IS NOT NULL AND (email !~ '^[^@\s]+@[^@\s]+\.[^@\s]+$' OR length(email) > 254) THEN
        RAISE EXCEPTION 'invalid email address' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF password IS NULL THEN
        RAISE EXCEPTION 'a password is needed' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM dwc._check_password(password, username);
    BEGIN
        INSERT INTO dwc.users (username, email, password_hash, role)
        VALUES (username, email, dwc.password_hash(password), role)
        RETURNING * INTO u;
    EXCEPTION WHEN unique_violation THEN
        RAISE EXCEPTION 'that username or email is taken' USING ERRCODE = 'unique_violation';
    END;
    PERFORM dwc._security_event('user_created', 'info', u.id::text,
                                jsonb_build_object('username', u.username, 'role', u.role));
    RETURN u;
END;
$$;

-- Access and refresh tokens for a user, in a session family.
CREATE FUNCTION dwc._issue_tokens(u dwc.users, family pg_catalog.uuid, amr pg_catalog.text[])
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    access_ttl int4 := extract(epoch FROM current_setting('dwc.jwt_access_ttl')::interval)::int4;
    now_s int8 := extract(epoch FROM now())::int8;
    aud text := current_setting('dwc.jwt_audience');
    refresh text := 'dwcr_' || dwc._base64url(dwc._random_bytes(32));
    claims jsonb;
    expires timestamptz := now() + current_setting('dwc.jwt_refresh_ttl')::interval;
BEGIN
    claims := jsonb_build_object('role', u.role, 'sub', u.id, 'username', u.username, 'iat', now_s,
                                 'exp', now_s + access_ttl, 'jti', gen_random_uuid(), 'amr', to_jsonb(amr));
    IF aud <> '' THEN
        claims := claims || jsonb_build_object('aud', aud);
    END IF;
    INSERT INTO dwc.refresh_tokens (user_id, family, token_hash, amr, expires_at, address, user_agent)
    VALUES (u.id, family, sha256(convert_to(refresh, 'UTF8')), amr, expires, dwc.client_address(),
            left(nullif(current_setting('request.headers', true), '')::jsonb ->> 'user-agent', 200));
    RETURN jsonb_build_object('access_token', dwc.jwt_sign(claims), 'token_type', 'bearer',
                              'expires_in', access_ttl, 'refresh_token', refresh,
                              'refresh_expires_at', expires, 'user', dwc._user_json(u));
END;
$$;

-- A failed authentication: the answer (and, through PostgREST, its HTTP status). Failures
-- return instead of raising so that what they record (failed attempts, lockouts, revoked
-- sessions) is committed.
CREATE FUNCTION dwc._auth_failure(status pg_catalog.int4, error pg_catalog.text, message pg_catalog.text)
RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN (SELECT jsonb_build_object('error', error, 'message', message)
          FROM (SELECT set_config('response.status', status::text, true)) s);

-- ---- registration and sign-in -------------------------------------------------------------

-- API: Public

CREATE FUNCTION dwc.register_user(username pg_catalog.text, password pg_catalog.text,
                                  email pg_catalog.text DEFAULT NULL)
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT current_setting('dwc.allow_registration')::bool THEN
        RAISE EXCEPTION 'registration is closed' USING ERRCODE = 'insufficient_privilege',
            HINT = 'An administrator creates accounts (dwc.create_user).';
    END IF;
    RETURN dwc._user_json(dwc._insert_user(username, password, email, 'dwc_user'));
END;
$$;
COMMENT ON FUNCTION dwc.register_user(pg_catalog.text, pg_catalog.text, pg_catalog.text) IS
  'Creates a user account (role dwc_user) when dwc.allow_registration is on. The password must '
  'pass the policy (dwc.password_problems); usernames and emails are unique ignoring case.';

CREATE FUNCTION dwc.create_user(username pg_catalog.text, password pg_catalog.text,
                                email pg_catalog.text DEFAULT NULL, role pg_catalog.text DEFAULT 'dwc_user')
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF role NOT IN ('dwc_user', 'dwc_admin') THEN
        RAISE EXCEPTION 'invalid role "%"', role USING ERRCODE = 'invalid_parameter_value',
            HINT = 'dwc_user or dwc_admin.';
    END IF;
    RETURN dwc._user_json(dwc._insert_user(username, password, email, role));
END;
$$;
COMMENT ON FUNCTION dwc.create_user(pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.text) IS
  'Creates a user, also an administrator (role dwc_admin). Administrators only.';
REVOKE ALL ON FUNCTION dwc.create_user(pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.text) FROM PUBLIC;

-- A second factor of u: a current TOTP code (its step is remembered, so it cannot be replayed)
-- or an unused recovery code (used up). Returns the method, for the token's amr, or NULL.
CREATE FUNCTION dwc._second_factor(u dwc.users, code pg_catalog.text) RETURNS pg_catalog.text
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    given text := btrim(coalesce(code, ''));
    step int8 := dwc._totp_match(decode(dwc.decrypt(u.mfa_secret), 'base64'), given, now(), u.mfa_last_step);
BEGIN
    IF step IS NOT NULL THEN
        UPDATE dwc.users SET mfa_last_step = step WHERE id = u.id;
        RETURN 'otp';
    END IF;
    UPDATE dwc.recovery_codes SET used_at = now()
     WHERE user_id = u.id AND used_at IS NULL AND code_hash = sha256(convert_to(lower(given), 'UTF8'));
    RETURN CASE WHEN FOUND THEN 'recovery_code' END;
END;
$$;
COMMENT ON FUNCTION dwc._second_factor(dwc.users, pg_catalog.text) IS
  'Private: checks and uses up a TOTP or recovery code of a user; returns otp, recovery_code or NULL.';

CREATE FUNCTION dwc.login(username pg_catalog.text, password pg_catalog.text, otp pg_catalog.text DEFAULT NULL)
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    u dwc.users;
    method text;
    amr text[] := ARRAY['pwd'];
BEGIN
    SELECT * INTO u FROM dwc.users WHERE lower(users.username) = lower(login.username) FOR UPDATE;
    IF NOT FOUND THEN
        -- spend the time a real check takes, so the answer does not tell which usernames exist
        PERFORM dwc.password_hash(coalesce(password, ''));
        PERFORM dwc._security_event('login_failure', 'warning', NULL,
                                    jsonb_build_object('username', left(username, 64), 'reason', 'unknown user'));
        RETURN dwc._auth_failure(401, 'invalid_credentials', 'Wrong username or password.');
    END IF;
    IF u.locked_until > now() THEN
        PERFORM dwc._security_event('login_locked', 'warning', u.id::text, jsonb_build_object('until', u.locked_until));
        RETURN dwc._auth_failure(403, 'account_locked',
                                 format('Too many failed sign-ins: the account is locked until %s.', u.locked_until));
    END IF;
    IF u.status <> 'active' THEN
        PERFORM dwc._security_event('login_failure', 'warning', u.id::text, '{"reason": "disabled"}');
        RETURN dwc._auth_failure(403, 'account_disabled', 'The account is disabled.');
    END IF;

    IF NOT dwc.password_verify(coalesce(password, ''), u.password_hash) THEN
        RETURN dwc._count_login_failure(u, 'wrong password');
    END IF;

    IF u.mfa_enabled THEN
        IF otp IS NULL OR btrim(otp) = '' THEN
            RETURN dwc._auth_failure(401, 'mfa_required',
                                     'This account has two-factor authentication: send the 6-digit code (otp) too.');
        END IF;
        method := dwc._second_factor(u, otp);
        IF method IS NULL THEN
            PERFORM dwc._security_event('mfa_failure', 'warning', u.id::text, '{}');
            RETURN dwc._count_login_failure(u, 'wrong second factor');
        END IF;
        amr := array_append(amr, method);
        IF method = 'recovery_code' THEN
            PERFORM dwc._security_event('recovery_code_used', 'warning', u.id::text,
                                        jsonb_build_object('left', (SELECT count(*) FROM dwc.recovery_codes
                                                                    WHERE user_id = u.id AND used_at IS NULL)));
        END IF;
    END IF;

    UPDATE dwc.users SET failed_logins = 0, locked_until = NULL, last_login_at = now(),
           password_hash = CASE WHEN dwc.password_needs_rehash(password_hash) THEN dwc.password_hash(password)
                                ELSE password_hash END
     WHERE id = u.id RETURNING * INTO u;
    PERFORM dwc._security_event('login_success', 'info', u.id::text, jsonb_build_object('amr', amr));
    RETURN dwc._issue_tokens(u, gen_random_uuid(), amr);
END;
$$;
COMMENT ON FUNCTION dwc.login(pg_catalog.text, pg_catalog.text, pg_catalog.text) IS
  'Signs in: returns {access_token (HS256 JWT: role, sub, username, iat, exp, jti, aud, amr), '
  'token_type, expires_in, refresh_token, refresh_expires_at, user}. With MFA enrolled, otp (a '
  'TOTP code or a recovery code) is required. Failures return {error, message} and set PostgREST''s '
  'response.status (401, or 403 for locked and disabled accounts); dwc.login_max_failures failures '
  'within dwc.login_failure_window lock the account for dwc.login_lockout.';

CREATE FUNCTION dwc._count_login_failure(u dwc.users, reason pg_catalog.text) RETURNS pg_catalog.jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    window_ interval := current_setting('dwc.login_failure_window')::interval;
    failures int4;
BEGIN
    UPDATE dwc.users
       SET failed_logins = CASE WHEN last_failed_at > now() - window_ THEN failed_logins + 1 ELSE 1 END,
           last_failed_at = now()
     WHERE id = u.id RETURNING failed_logins INTO failures;
    PERFORM dwc._security_event('login_failure', 'warning', u.id::text,
                                jsonb_build_object('reason', reason, 'failures', failures));
    IF failures >= current_setting('dwc.login_max_failures')::int4 THEN
        UPDATE dwc.users SET locked_until = now() + current_setting('dwc.login_lockout')::interval
         WHERE id = u.id RETURNING * INTO u;
        PERFORM dwc._security_event('account_locked', 'critical', u.id::text,
                                    jsonb_build_object('failures', failures, 'until', u.locked_until,
                                                       'username', u.username));
        RETURN dwc._auth_failure(403, 'account_locked',
                                 format('Too many failed sign-ins: the account is locked until %s.', u.locked_until));
    END IF;
    RETURN dwc._auth_failure(401, 'invalid_credentials', 'Wrong username or password.');
END;
$$;

CREATE FUNCTION dwc.refresh_session(refresh_token pg_catalog.text) RETURNS pg_catalog.jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t dwc.refresh_tokens;
    u dwc.users;
BEGIN
    SELECT * INTO t FROM dwc.refresh_tokens
     WHERE token_hash = sha256(convert_to(coalesce(refresh_token, ''), 'UTF8')) FOR UPDATE;
    IF NOT FOUND THEN
        RETURN dwc._auth_failure(401, 'invalid_token', 'Unknown refresh token.');
    END IF;
    IF t.used_at IS NOT NULL OR t.revoked_at IS NOT NULL THEN
        IF t.used_at IS NOT NULL THEN
            -- a replaced token came back: it was stolen, or the session was forked; end the session
            UPDATE dwc.refresh_tokens SET revoked_at = coalesce(revoked_at, now()),
                   revoked_reason = coalesce(revoked_reason, 'reuse detected')
             WHERE family = t.family AND revoked_at IS NULL;
            PERFORM dwc._security_event('refresh_token_reuse', 'critical', t.user_id::text,
                                        jsonb_build_object('family', t.family, 'token_id', t.id));
            RETURN dwc._auth_failure(401, 'token_reused',
                                     'This refresh token was already used: the session is revoked. Sign in again.');
        END IF;
        RETURN dwc._auth_failure(401, 'token_revoked', 'The session was ended. Sign in again.');
    END IF;
    IF t.expires_at <= now() THEN
        RETURN dwc._auth_failure(401, 'token_expired', 'The session expired. Sign in again.');
    END IF;
    SELECT * INTO u FROM dwc.users WHERE id = t.user_id;
    IF u.status <> 'active' OR u.locked_until > now() THEN
        RETURN dwc._auth_failure(403, 'account_unavailable', 'The account is disabled or locked.');
    END IF;
    UPDATE dwc.refresh_tokens SET used_at = now() WHERE id = t.id;
    RETURN dwc._issue_tokens(u, t.family, t.amr);
END;
$$;
COMMENT ON FUNCTION dwc.refresh_session(pg_catalog.text) IS
  'Exchanges a refresh token for new access and refresh tokens (rotation). A token that was '
  'already exchanged revokes its whole session and raises a critical refresh_token_reuse event. '
  'Failures return {error, message} with response.status 401/403.';

CREATE FUNCTION dwc.logout(refresh_token pg_catalog.text) RETURNS pg_catalog.bool
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    WITH t AS (SELECT family FROM dwc.refresh_tokens
                WHERE token_hash = sha256(convert_to(coalesce(refresh_token, ''), 'UTF8'))),
         r AS (UPDATE dwc.refresh_tokens SET revoked_at = now(), revoked_reason = 'logout'
                WHERE family IN (SELECT family FROM t) AND revoked_at IS NULL RETURNING 1)
    SELECT count(*) > 0 FROM r;
END;
COMMENT ON FUNCTION dwc.logout(pg_catalog.text) IS
  'Ends the session of a refresh token (its whole family); true if a session was ended. Access '
  'tokens already issued stay valid until they expire (dwc.jwt_access_ttl).';

-- ---- the signed-in user (trampolines: the caller is known) ---------------------------------

CREATE FUNCTION dwc.me() RETURNS pg_catalog.jsonb
LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'dwc_trampoline';
COMMENT ON FUNCTION dwc.me() IS 'The signed-in user.';
CREATE FUNCTION dwc._me(caller pg_catalog.oid) RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
RETURN dwc._user_json(dwc._require_user(caller));

CREATE FUNCTION dwc.list_sessions() RETURNS pg_catalog.jsonb
LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'dwc_trampoline';
COMMENT ON FUNCTION dwc.list_sessions() IS
  'The signed-in user''s active sessions (one per sign-in): started, last refreshed, address, user agent.';
CREATE FUNCTION dwc._list_sessions(caller pg_catalog.oid) RETURNS pg_catalog.jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    u dwc.users := dwc._require_user(caller);
BEGIN
    RETURN (SELECT coalesce(jsonb_agg(jsonb_build_object(
                       'session', family, 'started_at', started, 'refreshed_at', refreshed,
                       'expires_at', expires, 'address', address, 'user_agent', user_agent, 'amr', amr)
                       ORDER BY started DESC), '[]')
              FROM (SELECT family, min(issued_at) AS started, max(issued_at) AS refreshed,
                           max(expires_at) AS expires, (array_agg(address ORDER BY id DESC))[1] AS address,
                           (array_agg(user_agent ORDER BY id DESC))[1] AS user_agent,
                           (array_agg(to_jsonb(amr) ORDER BY id DESC))[1] AS amr
                      FROM dwc.refresh_tokens
                     WHERE user_id = u.id
                     GROUP BY family
                    HAVING bool_and(revoked_at IS NULL) AND max(expires_at) > now()) s);
END;
$$;

CREATE FUNCTION dwc.revoke_session(session pg_catalog.uuid DEFAULT NULL) RETURNS pg_catalog.int4
LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'dwc_trampoline';
COMMENT ON FUNCTION dwc.revoke_session(pg_catalog.uuid) IS
  'Ends one of the signed-in user''s sessions, or all of them when session is NULL; returns how many.';
CREATE FUNCTION dwc._revoke_session(session pg_catalog.uuid, caller pg_catalog.oid) RETURNS pg_catalog.int4
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    u dwc.users := dwc._require_user(caller);
    n int4;
BEGIN
    WITH r AS (UPDATE dwc.refresh_tokens SET revoked_at = now(), revoked_reason = 'revoked by user'
                WHERE user_id = u.id AND revoked_at IS NULL AND (session IS NULL OR family = session)
               RETURNING family)
    SELECT count(DISTINCT family) INTO n FROM r;
    RETURN n;
END;
$$;

CREATE FUNCTION dwc.change_password(current_password pg_catalog.text, new_password pg_catalog.text)
RETURNS pg_catalog.bool
LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'dwc_trampoline';
COMMENT ON FUNCTION dwc.change_password(pg_catalog.text, pg_catalog.text) IS
  'Changes the signed-in user''s password (the current one is checked, the new one must pass the '
  'policy) and ends every other session.';
CREATE FUNCTION dwc._change_password(current_password pg_catalog.text, new_password pg_catalog.text,
                                     caller pg_catalog.oid)
RETURNS pg_catalog.bool
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    u dwc.users := dwc._require_user(caller);
BEGIN
    IF NOT dwc.password_verify(coalesce(current_password, ''), u.password_hash) THEN
        RAISE EXCEPTION 'the current password is wrong' USING ERRCODE = 'invalid_password';
    END IF;
    IF new_password IS NULL THEN
        RAISE EXCEPTION 'a new password is needed' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM dwc._check_password(new_password, u.username);
    UPDATE dwc.users SET password_hash = dwc.password_hash(new_password), password_changed_at = now(),
           updated_at = now()
     WHERE id = u.id;
    UPDATE dwc.refresh_tokens SET revoked_at = now(), revoked_reason = 'password changed'
     WHERE user_id = u.id AND revoked_at IS NULL;
    PERFORM dwc._security_event('password_changed', 'info', u.id::text, '{}');
    RETURN true;
END;
$$;

-- ---- MFA (TOTP) ---------------------------------------------------------------------------

CREATE FUNCTION dwc.mfa_enroll() RETURNS pg_catalog.jsonb
LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'dwc_trampoline';
COMMENT ON FUNCTION dwc.mfa_enroll() IS
  'Starts TOTP enrolment: a new secret (stored encrypted) and its otpauth:// URI for an '
  'authenticator app (SHA1, 6 digits, 30 s). Takes effect after dwc.mfa_confirm() with a code.';
CREATE FUNCTION dwc._mfa_enroll(caller pg_catalog.oid) RETURNS pg_catalog.jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    u dwc.users := dwc._require_user(caller);
    secret bytea := dwc._random_bytes(20);
    b32 text := dwc._base32(secret);
    issuer text := 'dwc';
BEGIN
    IF u.mfa_enabled THEN
        RAISE EXCEPTION 'two-factor authentication is already on' USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = 'Turn it off with dwc.mfa_disable() first.';
    END IF;
    UPDATE dwc.users SET mfa_secret = dwc.encrypt(encode(secret, 'base64')), mfa_last_step = NULL, updated_at = now()
     WHERE id = u.id;
    RETURN jsonb_build_object('secret', b32,
        'otpauth_uri', format('otpauth://totp/%s:%s?secret=%s&issuer=%s&algorithm=SHA1&digits=6&period=30',
                              issuer, replace(replace(u.username, '%', '%25'), ':', '%3A'), b32, issuer));
END;
$$;

CREATE FUNCTION dwc.mfa_confirm(code pg_catalog.text) RETURNS pg_catalog.jsonb
LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'dwc_trampoline';
COMMENT ON FUNCTION dwc.mfa_confirm(pg_catalog.text) IS
  'Turns TOTP on with a code from the enrolled app; returns 10 one-time recovery codes, shown this once.';
CREATE FUNCTION dwc._mfa_confirm(code pg_catalog.text, caller pg_catalog.oid) RETURNS pg_catalog.jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    u dwc.users := dwc._require_user(caller);
    step int8;
    codes text[];
BEGIN
    IF u.mfa_secret IS NULL THEN
        RAISE EXCEPTION 'no enrolment is in progress' USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = 'Start with dwc.mfa_enroll().';
    END IF;
    step := dwc._totp_match(decode(dwc.decrypt(u.mfa_secret), 'base64'), btrim(coalesce(code, '')), now(), u.mfa_last_step);
    IF step IS NULL THEN
        PERFORM dwc._security_event('mfa_failure', 'warning', u.id::text, '{"during": "enrolment"}');
        RAISE EXCEPTION 'wrong code' USING ERRCODE = 'invalid_password',
            HINT = 'Enter the current 6-digit code of the authenticator app; check the device''s clock.';
    END IF;
    SELECT array_agg(lower(substr(c, 1, 5) || '-' || substr(c, 6, 5)))
      INTO codes
      FROM (SELECT dwc._base32(dwc._random_bytes(7)) AS c FROM generate_series(1, 10)) g;
    DELETE FROM dwc.recovery_codes WHERE user_id = u.id;
    INSERT INTO dwc.recovery_codes (user_id, code_hash)
    SELECT u.id, sha256(convert_to(c, 'UTF8')) FROM unnest(codes) c;
    UPDATE dwc.users SET mfa_enabled = true, mfa_last_step = step, updated_at = now() WHERE id = u.id;
    PERFORM dwc._security_event('mfa_enabled', 'info', u.id::text, '{}');
    RETURN jsonb_build_object('mfa_enabled', true, 'recovery_codes', to_jsonb(codes));
END;
$$;

CREATE FUNCTION dwc.mfa_disable(code pg_catalog.text) RETURNS pg_catalog.bool
LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'dwc_trampoline';
COMMENT ON FUNCTION dwc.mfa_disable(pg_catalog.text) IS
  'Turns TOTP off, given a current code or an unused recovery code.';
CREATE FUNCTION dwc._mfa_disable(code pg_catalog.text, caller pg_catalog.oid) RETURNS pg_catalog.bool
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    u dwc.users := dwc._require_user(caller);
BEGIN
    IF NOT u.mfa_enabled THEN
        RETURN false;
    END IF;
    IF dwc._second_factor(u, code) IS NULL THEN
        PERFORM dwc._security_event('mfa_failure', 'warning', u.id::text, '{"during": "disable"}');
        RAISE EXCEPTION 'wrong code' USING ERRCODE = 'invalid_password';
    END IF;
    UPDATE dwc.users SET mfa_enabled = false, mfa_secret = NULL, mfa_last_step = NULL, updated_at = now()
     WHERE id = u.id;
    DELETE FROM dwc.recovery_codes WHERE user_id = u.id;
    PERFORM dwc._security_event('mfa_disabled', 'warning', u.id::text, '{}');
    RETURN true;
END;
$$;

-- ---- administration -----------------------------------------------------------------------

CREATE FUNCTION dwc.list_users(status pg_catalog.text DEFAULT NULL) RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN (SELECT coalesce(jsonb_agg(dwc._user_json(u) ORDER BY u.created_at), '[]')
          FROM dwc.users u WHERE list_users.status IS NULL OR u.status = list_users.status);
COMMENT ON FUNCTION dwc.list_users(pg_catalog.text) IS 'Users, oldest first. Administrators only.';
REVOKE ALL ON FUNCTION dwc.list_users(pg_catalog.text) FROM PUBLIC;

CREATE FUNCTION dwc.set_user_status(user_id pg_catalog.uuid, status pg_catalog.text) RETURNS pg_catalog.jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    u dwc.users;
BEGIN
    IF status NOT IN ('active', 'disabled') THEN
        RAISE EXCEPTION 'invalid user status "%"', status USING ERRCODE = 'invalid_parameter_value',
            HINT = 'active or disabled.';
    END IF;
    UPDATE dwc.users SET status = set_user_status.status, updated_at = now(),
           locked_until = CASE WHEN set_user_status.status = 'active' THEN NULL ELSE locked_until END,
           failed_logins = CASE WHEN set_user_status.status = 'active' THEN 0 ELSE failed_logins END
     WHERE id = user_id RETURNING * INTO u;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'user % does not exist', user_id USING ERRCODE = 'no_data_found';
    END IF;
    IF status = 'disabled' THEN
        UPDATE dwc.refresh_tokens SET revoked_at = now(), revoked_reason = 'account disabled'
         WHERE refresh_tokens.user_id = u.id AND revoked_at IS NULL;
    END IF;
    PERFORM dwc._security_event('user_' || status, 'warning', u.id::text, '{}');
    RETURN dwc._user_json(u);
END;
$$;
COMMENT ON FUNCTION dwc.set_user_status(pg_catalog.uuid, pg_catalog.text) IS
  'Disables a user (their sessions end) or makes them active again (which also unlocks them). Administrators only.';
REVOKE ALL ON FUNCTION dwc.set_user_status(pg_catalog.uuid, pg_catalog.text) FROM PUBLIC;

SELECT dwc._trampoline_targets(ARRAY[
    'dwc._me(oid)', 'dwc._list_sessions(oid)', 'dwc._revoke_session(uuid, oid)',
    'dwc._change_password(text, text, oid)', 'dwc._mfa_enroll(oid)', 'dwc._mfa_confirm(text, oid)',
    'dwc._mfa_disable(text, oid)']);
DO $$
DECLARE
    f text;
BEGIN
    FOREACH f IN ARRAY ARRAY['dwc._require_user(oid)', 'dwc._check_password(text, text)',
                             'dwc._insert_user(text, text, text, text)', 'dwc._issue_tokens(dwc.users, uuid, text[])',
                             'dwc._auth_failure(int4, text, text)', 'dwc._count_login_failure(dwc.users, text)',
                             'dwc._user_json(dwc.users)', 'dwc._second_factor(dwc.users, text)', 'dwc._random_bytes(int4)', 'dwc._totp_match(bytea, text, timestamptz, int8)']
    LOOP
        EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f);
    END LOOP;
END;
$$;

-- ---- src/security/apikeys.sql ----
-- src/security/apikeys.sql: API keys, rate limits and PostgREST's pre-request function.
-- See docs/security.md.

-- API: Private (tables)

CREATE TABLE dwc.api_keys (
    id pg_catalog.int8 GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id pg_catalog.uuid NOT NULL REFERENCES dwc.users ON DELETE CASCADE,
    name pg_catalog.text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    prefix pg_catalog.text NOT NULL UNIQUE,
    key_hash pg_catalog.bytea NOT NULL,
    scopes pg_catalog.text[] NOT NULL DEFAULT '{*}',
    created_at pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now(),
    expires_at pg_catalog.timestamptz,
    revoked_at pg_catalog.timestamptz,
    last_used_at pg_catalog.timestamptz
);
COMMENT ON TABLE dwc.api_keys IS
  'API keys: dwc_<prefix>_<secret>, stored as the prefix (to find the key) and SHA-256 of the '
  'whole key. The key itself is shown once, when it is created.';
CREATE INDEX api_keys_user ON dwc.api_keys (user_id);
SELECT pg_catalog.pg_extension_config_dump('dwc.api_keys', '');

CREATE TABLE dwc.rate_limits (
    subject_kind pg_catalog.text NOT NULL CHECK (subject_kind IN ('role', 'user', 'api_key', 'address')),
    subject pg_catalog.text NOT NULL,
    requests_per_second pg_catalog.float8 NOT NULL CHECK (requests_per_second > 0),
    burst pg_catalog.int4 NOT NULL CHECK (burst >= 1),
    PRIMARY KEY (subject_kind, subject)
);
COMMENT ON TABLE dwc.rate_limits IS
  'Request rate limits of dwc.pre_request(): a token bucket of `burst` requests refilled at '
  'requests_per_second, per API key, per user, or per client address for anonymous requests. The '
  'most specific row applies: the key, the user, then the role (dwc_anon, dwc_user, dwc_admin).';
INSERT INTO dwc.rate_limits VALUES ('role', 'dwc_anon', 5, 20), ('role', 'dwc_user', 20, 60),
                                   ('role', 'dwc_admin', 100, 200);
SELECT pg_catalog.pg_extension_config_dump('dwc.rate_limits', '');

CREATE FUNCTION dwc.rate_limit_take(key pg_catalog.text, rate pg_catalog.float8, burst pg_catalog.float8,
                                    cost pg_catalog.float8 DEFAULT 1)
RETURNS pg_catalog.float8
LANGUAGE c VOLATILE STRICT AS 'MODULE_PATHNAME', 'dwc_rate_limit_take';
COMMENT ON FUNCTION dwc.rate_limit_take(pg_catalog.text, pg_catalog.float8, pg_catalog.float8, pg_catalog.float8) IS
  'Takes cost tokens from the shared-memory bucket of key (burst tokens, refilled at rate per '
  'second): 0 if admitted, else the seconds until it would be. Administrators only (anyone could '
  'otherwise drain another key''s bucket).';
REVOKE ALL ON FUNCTION dwc.rate_limit_take(pg_catalog.text, pg_catalog.float8, pg_catalog.float8, pg_catalog.float8) FROM PUBLIC;

CREATE FUNCTION dwc.rate_limit_stats() RETURNS pg_catalog.jsonb
LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'dwc_rate_limit_stats';
COMMENT ON FUNCTION dwc.rate_limit_stats() IS
  'The shared rate limiter: keys tracked and capacity, requests admitted and refused, idle buckets '
  'evicted, overflows (admitted because the table was full of busy keys).';
REVOKE ALL ON FUNCTION dwc.rate_limit_stats() FROM PUBLIC;

-- API: Public

CREATE FUNCTION dwc.set_rate_limit(subject_kind pg_catalog.text, subject pg_catalog.text,
                                   requests_per_second pg_catalog.float8, burst pg_catalog.int4 DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF requests_per_second IS NULL THEN
        DELETE FROM dwc.rate_limits r WHERE r.subject_kind = set_rate_limit.subject_kind AND r.subject = set_rate_limit.subject;
        RETURN;
    END IF;
    INSERT INTO dwc.rate_limits VALUES (subject_kind, subject, requests_per_second,
                                        coalesce(burst, greatest(1, ceil(requests_per_second)::int4)))
    ON CONFLICT ON CONSTRAINT rate_limits_pkey DO UPDATE
       SET requests_per_second = excluded.requests_per_second, burst = excluded.burst;
EXCEPTION WHEN check_violation THEN
    RAISE EXCEPTION 'invalid rate limit' USING ERRCODE = 'invalid_parameter_value',
        DETAIL = 'subject_kind: role, user, api_key or address; requests_per_second > 0; burst >= 1.';
END;
$$;
COMMENT ON FUNCTION dwc.set_rate_limit(pg_catalog.text, pg_catalog.text, pg_catalog.float8, pg_catalog.int4) IS
  'Sets (or, with requests_per_second NULL, removes) the rate limit of a role, user id, API key id '
  'or client address. burst defaults to one second''s worth. Administrators only.';
REVOKE ALL ON FUNCTION dwc.set_rate_limit(pg_catalog.text, pg_catalog.text, pg_catalog.float8, pg_catalog.int4) FROM PUBLIC;

-- Scopes an API key may hold: * (all), a group, a group:read (only its read functions), read
-- (every group, read functions only). Groups are those of dwc.api_access.
CREATE FUNCTION dwc._valid_scope(scope pg_catalog.text) RETURNS pg_catalog.bool
LANGUAGE sql IMMUTABLE
RETURN scope ~ '^(\*|read|(account|workflows|tasks|schedules|ai|ml|security|audit)(:read)?)$';

CREATE FUNCTION dwc.create_api_key(name pg_catalog.text, scopes pg_catalog.text[] DEFAULT '{*}',
                                   expires_in pg_catalog.interval DEFAULT NULL)
RETURNS pg_catalog.jsonb
LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'dwc_trampoline';
COMMENT ON FUNCTION dwc.create_api_key(pg_catalog.text, pg_catalog.text[], pg_catalog.interval) IS
  'Creates an API key for the signed-in user and returns it, the only time it is shown. Send it '
  'as the X-API-Key header. scopes: * or groups (account, workflows, tasks, schedules, ai, ml, '
  'security, audit), optionally :read; read for read-only access to all.';
CREATE FUNCTION dwc._create_api_key(name pg_catalog.text, scopes pg_catalog.text[], expires_in pg_catalog.interval,
                                    caller pg_catalog.oid)
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    u dwc.users := dwc._require_user(caller);
    prefix text := lower(dwc._base32(dwc._random_bytes(5)));
    key text := 'dwc_' || prefix || '_' || dwc._base64url(dwc._random_bytes(32));
    k dwc.api_keys;
BEGIN
    IF name IS NULL OR length(btrim(name)) NOT BETWEEN 1 AND 100 THEN
        RAISE EXCEPTION 'an API key needs a name of 1 to 100 characters' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF scopes IS NULL OR cardinality(scopes) = 0 OR EXISTS (SELECT 1 FROM unnest(scopes) s WHERE NOT dwc._valid_scope(s)) THEN
        RAISE EXCEPTION 'invalid scopes' USING ERRCODE = 'invalid_parameter_value',
            DETAIL = 'Scopes: *, read, or account, workflows, tasks, schedules, ai, ml, security, audit, each optionally :read.';
    END IF;
    IF expires_in IS NOT NULL AND expires_in <= interval '0' THEN
        RAISE EXCEPTION 'expires_in must be positive' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO dwc.api_keys (user_id, name, prefix, key_hash, scopes, expires_at)
    VALUES (u.id, btrim(name), prefix, sha256(convert_to(key, 'UTF8')), scopes, now() + expires_in)
    RETURNING * INTO k;
    PERFORM dwc._security_event('api_key_created', 'info', u.id::text,
                                jsonb_build_object('key_id', k.id, 'scopes', to_jsonb(k.scopes)));
    RETURN jsonb_build_object('id', k.id, 'name', k.name, 'key', key, 'prefix', k.prefix,
                              'scopes', to_jsonb(k.scopes), 'expires_at', k.expires_at);
END;
$$;

CREATE FUNCTION dwc.list_api_keys() RETURNS pg_catalog.jsonb
LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'dwc_trampoline';
COMMENT ON FUNCTION dwc.list_api_keys() IS 'The signed-in user''s API keys, without the keys: prefix, scopes, expiry, last use.';
CREATE FUNCTION dwc._list_api_keys(caller pg_catalog.oid) RETURNS pg_catalog.jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    u dwc.users := dwc._require_user(caller);
BEGIN
    RETURN (SELECT coalesce(jsonb_agg(jsonb_strip_nulls(jsonb_build_object(
                       'id', k.id, 'name', k.name, 'prefix', k.prefix, 'scopes', to_jsonb(k.scopes),
                       'created_at', k.created_at, 'expires_at', k.expires_at, 'revoked_at', k.revoked_at,
                       'last_used_at', k.last_used_at,
                       'active', k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > now())))
                       ORDER BY k.id), '[]')
              FROM dwc.api_keys k WHERE k.user_id = u.id);
END;
$$;

CREATE FUNCTION dwc.revoke_api_key(id pg_catalog.int8) RETURNS pg_catalog.bool
LANGUAGE c VOLATILE STRICT AS 'MODULE_PATHNAME', 'dwc_trampoline';
COMMENT ON FUNCTION dwc.revoke_api_key(pg_catalog.int8) IS 'Revokes one of the signed-in user''s API keys (administrators: anyone''s).';
CREATE FUNCTION dwc._revoke_api_key(id pg_catalog.int8, caller pg_catalog.oid) RETURNS pg_catalog.bool
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    u dwc.users := dwc._require_user(caller);
    k dwc.api_keys;
BEGIN
    UPDATE dwc.api_keys a SET revoked_at = coalesce(a.revoked_at, now())
     WHERE a.id = _revoke_api_key.id AND (a.user_id = u.id OR u.role = 'dwc_admin')
    RETURNING * INTO k;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'API key % does not exist', id USING ERRCODE = 'no_data_found';
    END IF;
    PERFORM dwc._security_event('api_key_revoked', 'info', k.user_id::text, jsonb_build_object('key_id', k.id));
    RETURN true;
END;
$$;

-- ---- the pre-request function ------------------------------------------------------------

CREATE FUNCTION dwc.pre_request() RETURNS void
LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'dwc_trampoline';
COMMENT ON FUNCTION dwc.pre_request() IS
  'PostgREST''s db-pre-request: authenticates an X-API-Key header on anonymous requests (setting '
  'the claims: sub, role, scopes) and applies the rate limit of the key, the user or the client '
  'address; over the limit it raises PT429 (HTTP 429) and records a rate_limited event.';
CREATE FUNCTION dwc._pre_request(caller pg_catalog.oid) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    headers jsonb := nullif(current_setting('request.headers', true), '')::jsonb;
    claims jsonb := nullif(current_setting('request.jwt.claims', true), '')::jsonb;
    key text := headers ->> 'x-api-key';
    role_name text := (SELECT rolname FROM pg_roles WHERE oid = caller);
    k dwc.api_keys;
    u dwc.users;
    v_kind text;
    v_subject text;
    lim dwc.rate_limits;
    wait float8;
BEGIN
    IF key IS NOT NULL AND role_name = 'dwc_anon' THEN
        SELECT * INTO k FROM dwc.api_keys WHERE prefix = split_part(key, '_', 2);
        IF NOT FOUND OR k.key_hash <> sha256(convert_to(key, 'UTF8')) OR k.revoked_at IS NOT NULL
           OR k.expires_at <= now() THEN
            PERFORM dwc._security_event('api_key_invalid', 'warning', k.user_id::text,
                                        jsonb_build_object('prefix', left(split_part(key, '_', 2), 16),
                                                           'reason', CASE WHEN k.id IS NULL THEN 'unknown'
                                                                          WHEN k.revoked_at IS NOT NULL THEN 'revoked'
                                                                          WHEN k.expires_at <= now() THEN 'expired'
                                                                          ELSE 'wrong secret' END));
            RAISE SQLSTATE 'PT401' USING MESSAGE = 'invalid API key',
                HINT = 'The key is unknown, revoked or expired.';
        END IF;
        SELECT * INTO u FROM dwc.users WHERE id = k.user_id;
        IF u.status <> 'active' OR u.locked_until > now() THEN
            RAISE SQLSTATE 'PT403' USING MESSAGE = 'the account of this API key is disabled or locked';
        END IF;
        claims := jsonb_build_object('sub', u.id, 'role', u.role, 'username', u.username, 'dwc_auth', 'api_key',
                                     'key_id', k.id, 'scopes', to_jsonb(k.scopes));
        PERFORM set_config('request.jwt.claims', claims::text, true);
        -- last use, at most once a minute and only where writing is possible (not in GET requests)
        IF (k.last_used_at IS NULL OR k.last_used_at < now() - interval '1 minute')
           AND current_setting('transaction_read_only') = 'off' THEN
            UPDATE dwc.api_keys SET last_used_at = now() WHERE id = k.id;
        END IF;
        v_kind := 'api_key';
        v_subject := k.id::text;
        role_name := u.role;
    ELSIF claims ->> 'sub' IS NOT NULL AND role_name IN ('dwc_user', 'dwc_admin') THEN
        v_kind := 'user';
        v_subject := claims ->> 'sub';
    ELSE
        v_kind := 'address';
        v_subject := coalesce(dwc.client_address(), 'unknown');
    END IF;

    SELECT * INTO lim FROM dwc.rate_limits r
     WHERE (r.subject_kind = v_kind AND r.subject = v_subject)
        OR (r.subject_kind = 'role' AND r.subject = role_name)
     ORDER BY r.subject_kind = 'role'
     LIMIT 1;
    IF FOUND THEN
        wait := dwc.rate_limit_take(v_kind || ':' || v_subject, lim.requests_per_second, lim.burst, 1);
        IF wait > 0 THEN
            PERFORM dwc._security_event('rate_limited', 'warning',
                                        CASE WHEN v_kind IN ('user', 'api_key') THEN coalesce(u.id::text, v_subject) END,
                                        jsonb_build_object('subject', v_kind || ':' || v_subject,
                                                           'limit_per_second', lim.requests_per_second,
                                                           'retry_after_seconds', round(wait::numeric, 3)));
            RAISE SQLSTATE 'PT429' USING MESSAGE = 'too many requests',
                DETAIL = format('The limit is %s requests per second (burst %s).', lim.requests_per_second, lim.burst),
                HINT = format('Retry in %s seconds.', ceil(wait * 1000) / 1000);
        END IF;
    END IF;
END;
$$;

SELECT dwc._trampoline_targets(ARRAY[
    'dwc._create_api_key(text, text[], interval, oid)', 'dwc._list_api_keys(oid)',
    'dwc._revoke_api_key(int8, oid)', 'dwc._pre_request(oid)']);
REVOKE ALL ON FUNCTION dwc._valid_scope(pg_catalog.text) FROM PUBLIC;

-- ---- src/security/events.sql ----
-- src/security/events.sql: security events and threat summaries. See docs/security.md.

-- API: Private (tables)

CREATE TABLE dwc.security_events (
    id pg_catalog.int8 GENERATED ALWAYS AS IDENTITY,
    at pg_catalog.timestamptz NOT NULL,
    event pg_catalog.text NOT NULL,
    severity pg_catalog.text NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
    user_id pg_catalog.text,
    role pg_catalog.oid,
    address pg_catalog.text,
    request_path pg_catalog.text,
    detail pg_catalog.jsonb NOT NULL DEFAULT '{}'
);
COMMENT ON TABLE dwc.security_events IS
  'Security events: sign-ins and their failures, lockouts, MFA failures, refresh-token reuse, '
  'rate-limit hits, permission denials, key and account changes. Written through shared memory by '
  'the scheduler worker (so events of failed requests are kept), within a second. Administrators only.';
CREATE INDEX security_events_at ON dwc.security_events USING brin (at);
CREATE INDEX security_events_user ON dwc.security_events (user_id, at) WHERE user_id IS NOT NULL;
SELECT pg_catalog.pg_extension_config_dump('dwc.security_events', '');

CREATE FUNCTION dwc._security_event(event pg_catalog.text, severity pg_catalog.text, user_id pg_catalog.text,
                                    detail pg_catalog.jsonb)
RETURNS void
LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'dwc__security_event';
COMMENT ON FUNCTION dwc._security_event(pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.jsonb) IS
  'Private: records a security event (with the request''s address and path) through the shared ring.';
REVOKE ALL ON FUNCTION dwc._security_event(pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.jsonb) FROM PUBLIC;

CREATE FUNCTION dwc._security_events_dropped() RETURNS pg_catalog.int8
LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'dwc__security_events_dropped';
COMMENT ON FUNCTION dwc._security_events_dropped() IS 'Private: events lost because the ring wrapped before it was written out.';

-- API: Public

CREATE FUNCTION dwc.client_address() RETURNS pg_catalog.text
LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'dwc_client_address';
COMMENT ON FUNCTION dwc.client_address() IS
  'The client address of the current PostgREST request: the first of X-Forwarded-For, else X-Real-IP; NULL outside requests.';

CREATE FUNCTION dwc.security_summary(period pg_catalog.interval DEFAULT '1 day') RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN jsonb_build_object(
    'period_seconds', extract(epoch FROM period),
    'events', (SELECT coalesce(jsonb_object_agg(event, n), '{}') FROM (
                  SELECT event, count(*) AS n FROM dwc.security_events WHERE at >= now() - period GROUP BY event) e),
    'critical', (SELECT coalesce(jsonb_agg(jsonb_build_object('at', at, 'event', event, 'user_id', user_id,
                                                              'address', address, 'detail', detail) ORDER BY at DESC), '[]')
                   FROM (SELECT * FROM dwc.security_events WHERE at >= now() - period AND severity = 'critical'
                          ORDER BY at DESC LIMIT 100) c),
    'locked_accounts', (SELECT coalesce(jsonb_agg(jsonb_build_object('id', id, 'username', username,
                                                                     'until', locked_until)), '[]')
                          FROM dwc.users WHERE locked_until > now()),
    'top_failing_addresses', (SELECT coalesce(jsonb_agg(jsonb_build_object('address', address, 'failures', n)
                                                        ORDER BY n DESC), '[]') FROM (
                                SELECT address, count(*) AS n FROM dwc.security_events
                                 WHERE at >= now() - period AND event IN ('login_failure', 'mfa_failure', 'api_key_invalid')
                                   AND address IS NOT NULL
                                 GROUP BY address ORDER BY n DESC LIMIT 10) a),
    'events_lost', dwc._security_events_dropped());
COMMENT ON FUNCTION dwc.security_summary(pg_catalog.interval) IS
  'Threat overview over a period: events by kind, the latest critical ones (lockouts, token reuse), '
  'locked accounts, the addresses with most authentication failures. Administrators only.';
REVOKE ALL ON FUNCTION dwc.security_summary(pg_catalog.interval) FROM PUBLIC;

-- ---- src/security/audit.sql ----
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
INSERT INTO dwc.audit_seal_state (id, horizon, last_batch, last_seq, last_hash, base_batch, base_seq, base_hash)
VALUES (1, 0, 0, 0, sha256('dwc audit chain'::bytea), 0, 0, sha256('dwc audit chain'::bytea));

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

    -- retention: rows older than the cutoff leave, and so do the seals of every batch up to
    -- the last one holding such a row; the chain then starts after that batch, and its newer
    -- rows, if any, stay in the log outside the chain
    IF EXISTS (SELECT 1 FROM dwc.audit_log WHERE at < cutoff) THEN
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
    FOREACH f IN ARRAY ARRAY['dwc._audit_row()', 'dwc._audit_digest(dwc.audit_log)', 'dwc._audit_append_only()',
                             'dwc._audit_chain(bytea, bytea)',
                             'dwc._audit_collect(int8, int8, int8, int8, int8, int4)']
    LOOP
        EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f);
    END LOOP;
END;
$$;

-- ---- src/ai/ai.sql ----
-- src/ai/ai.sql: AI providers, the response cache, the call log, and the SQL API of the
-- AI service. See src/ai/README.md.

-- API: Private (tables; administrators read them, applications use the functions)

CREATE TABLE dwc.ai_providers (
    id pg_catalog.int4 GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name pg_catalog.text NOT NULL UNIQUE
        CONSTRAINT provider_name_valid CHECK (name OPERATOR(pg_catalog.~) '^[a-z][a-z0-9_.-]{0,62}$'),
    kind pg_catalog.text NOT NULL
        CHECK (kind IN ('builtin', 'openai', 'anthropic', 'google', 'openai_compatible')),
    base_url pg_catalog.text CHECK (base_url OPERATOR(pg_catalog.~) '^https?://'),
    default_model pg_catalog.text,
    embedding_model pg_catalog.text,
    api_key_encrypted pg_catalog.bytea,
    api_key_env pg_catalog.text CHECK (api_key_env OPERATOR(pg_catalog.~) '^[A-Za-z_][A-Za-z0-9_]*$'),
    api_key_setting pg_catalog.text
        CHECK (api_key_setting IN ('dwc.openai_api_key', 'dwc.anthropic_api_key', 'dwc.google_api_key')),
    timeout_ms pg_catalog.int4 NOT NULL DEFAULT 60000 CHECK (timeout_ms BETWEEN 1 AND 3600000),
    max_retries pg_catalog.int4 NOT NULL DEFAULT 3 CHECK (max_retries BETWEEN 0 AND 20),
    requests_per_minute pg_catalog.int4 NOT NULL DEFAULT 0 CHECK (requests_per_minute >= 0),
    tokens_per_minute pg_catalog.int4 NOT NULL DEFAULT 0 CHECK (tokens_per_minute >= 0),
    cost_input_per_1k pg_catalog.numeric NOT NULL DEFAULT 0 CHECK (cost_input_per_1k >= 0),
    cost_output_per_1k pg_catalog.numeric NOT NULL DEFAULT 0 CHECK (cost_output_per_1k >= 0),
    cache_ttl_s pg_catalog.int4 NOT NULL DEFAULT 3600 CHECK (cache_ttl_s >= 0),
    enabled pg_catalog.bool NOT NULL DEFAULT true,
    created_at pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now(),
    CONSTRAINT one_key_source CHECK (num_nonnulls(api_key_encrypted, api_key_env, api_key_setting) <= 1)
);
COMMENT ON TABLE dwc.ai_providers IS
  'AI providers. The API key is stored encrypted (api_key_encrypted), or named: an environment '
  'variable of the server (api_key_env) or a superuser-only setting (api_key_setting). Administrators only.';
INSERT INTO dwc.ai_providers (name, kind, default_model, cache_ttl_s)
VALUES ('builtin', 'builtin', 'builtin-1', 0);

CREATE FUNCTION dwc._providers_changed() RETURNS trigger
LANGUAGE c AS 'MODULE_PATHNAME', 'dwc__providers_changed';
COMMENT ON FUNCTION dwc._providers_changed() IS
  'Private: trigger that makes every backend reread dwc.ai_providers at commit.';
CREATE TRIGGER ai_providers_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON dwc.ai_providers
    FOR EACH STATEMENT EXECUTE FUNCTION dwc._providers_changed();

CREATE TABLE dwc.ai_cache (
    key pg_catalog.bytea PRIMARY KEY,
    provider pg_catalog.text NOT NULL,
    model pg_catalog.text NOT NULL,
    response pg_catalog.text NOT NULL,
    tokens_in pg_catalog.int4 NOT NULL,
    tokens_out pg_catalog.int4 NOT NULL,
    created_at pg_catalog.timestamptz NOT NULL,
    expires_at pg_catalog.timestamptz NOT NULL
);
COMMENT ON TABLE dwc.ai_cache IS
  'Responses of AI calls, by SHA-256 of provider, model, normalised messages and options; '
  'identical calls before expires_at are answered from here.';
CREATE INDEX ai_cache_expires ON dwc.ai_cache (expires_at);

CREATE TABLE dwc.ai_calls (
    id pg_catalog.int8 GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at pg_catalog.timestamptz NOT NULL,
    role pg_catalog.oid NOT NULL,
    provider pg_catalog.text NOT NULL,
    model pg_catalog.text NOT NULL,
    operation pg_catalog.text NOT NULL,
    tokens_in pg_catalog.int4 NOT NULL,
    tokens_out pg_catalog.int4 NOT NULL,
    latency_ms pg_catalog.float8 NOT NULL,
    cost pg_catalog.float8 NOT NULL,
    cache_hit pg_catalog.bool NOT NULL,
    ok pg_catalog.bool NOT NULL,
    http_status pg_catalog.int2 NOT NULL,
    attempts pg_catalog.int2 NOT NULL,
    error pg_catalog.text
);
COMMENT ON TABLE dwc.ai_calls IS
  'One row per AI call, also calls whose transaction rolled back (they are logged through shared '
  'memory and written by the scheduler worker within a second). Kept for dwc.ai_call_retention.';
CREATE INDEX ai_calls_at ON dwc.ai_calls USING brin (at);

SELECT pg_catalog.pg_extension_config_dump('dwc.ai_providers', 'WHERE name <> ''builtin''');
SELECT pg_catalog.pg_extension_config_dump('dwc.ai_calls', '');

CREATE FUNCTION dwc._ai_log_dropped() RETURNS pg_catalog.int8
LANGUAGE c AS 'MODULE_PATHNAME', 'dwc__ai_log_dropped';
COMMENT ON FUNCTION dwc._ai_log_dropped() IS
  'Private: AI calls lost from the shared log ring because it wrapped before they were written.';

CREATE FUNCTION dwc._lexicon_check() RETURNS pg_catalog.bool
LANGUAGE c AS 'MODULE_PATHNAME', 'dwc__lexicon_check';
COMMENT ON FUNCTION dwc._lexicon_check() IS 'Private, for tests: checks that the builtin word lists are sorted.';

-- ---- providers (administrators) ----------------------------------------------------

-- API: Public

CREATE FUNCTION dwc.add_provider(
    name pg_catalog.text,
    kind pg_catalog.text,
    base_url pg_catalog.text DEFAULT NULL,
    default_model pg_catalog.text DEFAULT NULL,
    api_key pg_catalog.text DEFAULT NULL,
    api_key_env pg_catalog.text DEFAULT NULL,
    api_key_setting pg_catalog.text DEFAULT NULL,
    timeout pg_catalog.interval DEFAULT '60 seconds',
    max_retries pg_catalog.int4 DEFAULT 3,
    requests_per_minute pg_catalog.int4 DEFAULT 0,
    tokens_per_minute pg_catalog.int4 DEFAULT 0,
    cost_input_per_1k pg_catalog.numeric DEFAULT 0,
    cost_output_per_1k pg_catalog.numeric DEFAULT 0,
    cache_ttl pg_catalog.interval DEFAULT '1 hour',
    embedding_model pg_catalog.text DEFAULT NULL)
RETURNS pg_catalog.int4
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    new_id int4;
BEGIN
    INSERT INTO dwc.ai_providers (name, kind, base_url, default_model, api_key_encrypted, api_key_env,
                                  api_key_setting, timeout_ms, max_retries, requests_per_minute,
                                  tokens_per_minute, cost_input_per_1k, cost_output_per_1k, cache_ttl_s,
                                  embedding_model)
    VALUES (name, kind, base_url, coalesce(default_model, CASE kind
                WHEN 'openai' THEN 'gpt-4o-mini' WHEN 'anthropic' THEN 'claude-3-5-haiku-latest'
                WHEN 'google' THEN 'gemini-1.5-flash' WHEN 'openai_compatible' THEN 'llama3.1' END),
            CASE WHEN api_key IS NULL THEN NULL ELSE dwc.encrypt(api_key) END,
            api_key_env, api_key_setting, (extract(epoch FROM timeout) * 1000)::int4, max_retries,
            requests_per_minute, tokens_per_minute, cost_input_per_1k, cost_output_per_1k,
            extract(epoch FROM cache_ttl)::int4, embedding_model)
    RETURNING id INTO new_id;
    RETURN new_id;
EXCEPTION
    WHEN unique_violation THEN
        RAISE EXCEPTION 'AI provider "%" already exists', name USING ERRCODE = 'unique_violation';
    WHEN check_violation THEN
        RAISE EXCEPTION 'invalid AI provider "%"', name
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'Names: lower-case letters, digits, _ . -; kinds: builtin, openai, anthropic, google, '
                           'openai_compatible; base_url: http(s)://...; api_key_setting: dwc.openai_api_key, '
                           'dwc.anthropic_api_key or dwc.google_api_key; at most one key source; numbers not negative.';
END;
$$;
COMMENT ON FUNCTION dwc.add_provider(pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.interval, pg_catalog.int4, pg_catalog.int4, pg_catalog.int4, pg_catalog.numeric, pg_catalog.numeric, pg_catalog.interval, pg_catalog.text) IS
  'Registers an AI provider (kind openai, anthropic, google, openai_compatible). Its key: api_key '
  '(stored encrypted: needs dwc.encryption_keys), api_key_env (an environment variable of the server) '
  'or api_key_setting (a superuser-only dwc.*_api_key setting). Administrators only.';
REVOKE ALL ON FUNCTION dwc.add_provider(pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.interval, pg_catalog.int4, pg_catalog.int4, pg_catalog.int4, pg_catalog.numeric, pg_catalog.numeric, pg_catalog.interval, pg_catalog.text) FROM PUBLIC;

CREATE FUNCTION dwc.set_provider_key(provider pg_catalog.text, api_key pg_catalog.text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    UPDATE dwc.ai_providers
       SET api_key_encrypted = CASE WHEN api_key IS NULL THEN NULL ELSE dwc.encrypt(api_key) END,
           api_key_env = NULL, api_key_setting = NULL
     WHERE name = provider;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'AI provider "%" does not exist', provider USING ERRCODE = 'undefined_object';
    END IF;
END;
$$;
COMMENT ON FUNCTION dwc.set_provider_key(pg_catalog.text, pg_catalog.text) IS
  'Stores (encrypted) or clears a provider''s API key. Mind that a statement that fails is logged '
  'with its text: prefer api_key_env for keys that must never reach the server log. Administrators only.';
REVOKE ALL ON FUNCTION dwc.set_provider_key(pg_catalog.text, pg_catalog.text) FROM PUBLIC;

CREATE FUNCTION dwc.remove_provider(provider pg_catalog.text) RETURNS pg_catalog.bool
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    WITH d AS (DELETE FROM dwc.ai_providers WHERE name = provider AND kind <> 'builtin' RETURNING 1)
    SELECT count(*) > 0 FROM d;
END;
COMMENT ON FUNCTION dwc.remove_provider(pg_catalog.text) IS
  'Removes a provider (not builtin); false if there was none. Administrators only.';
REVOKE ALL ON FUNCTION dwc.remove_provider(pg_catalog.text) FROM PUBLIC;

-- providers without their secrets, for anyone who may use them
CREATE VIEW dwc.ai_provider_list AS
SELECT name, kind, base_url, default_model, embedding_model,
       api_key_encrypted IS NOT NULL OR api_key_env IS NOT NULL OR api_key_setting IS NOT NULL AS has_key,
       timeout_ms, max_retries, requests_per_minute, tokens_per_minute, cost_input_per_1k,
       cost_output_per_1k, cache_ttl_s, enabled
  FROM dwc.ai_providers;
COMMENT ON VIEW dwc.ai_provider_list IS 'The AI providers, without anything about their keys but whether they have one.';
GRANT SELECT ON dwc.ai_provider_list TO PUBLIC;

-- ---- generation and analysis ------------------------------------------------------

CREATE FUNCTION dwc.ai_generate(
    prompt pg_catalog.text,
    system pg_catalog.text DEFAULT NULL,
    provider pg_catalog.text DEFAULT NULL,
    model pg_catalog.text DEFAULT NULL,
    temperature pg_catalog.float8 DEFAULT NULL,
    max_tokens pg_catalog.int4 DEFAULT NULL,
    cache_ttl pg_catalog.interval DEFAULT NULL)
RETURNS pg_catalog.jsonb
LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'dwc_ai_generate';
COMMENT ON FUNCTION dwc.ai_generate(pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.float8, pg_catalog.int4, pg_catalog.interval) IS
  'Generates text from a prompt (and an optional system prompt) with a provider (default '
  'dwc.default_provider). Returns {text, provider, model, tokens_in, tokens_out, cost, latency_ms, '
  'cached, attempts}. Identical calls within the cache TTL are answered from dwc.ai_cache.';

CREATE FUNCTION dwc.ai_chat(
    messages pg_catalog.jsonb,
    provider pg_catalog.text DEFAULT NULL,
    model pg_catalog.text DEFAULT NULL,
    temperature pg_catalog.float8 DEFAULT NULL,
    max_tokens pg_catalog.int4 DEFAULT NULL,
    cache_ttl pg_catalog.interval DEFAULT NULL)
RETURNS pg_catalog.jsonb
LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'dwc_ai_chat';
COMMENT ON FUNCTION dwc.ai_chat(pg_catalog.jsonb, pg_catalog.text, pg_catalog.text, pg_catalog.float8, pg_catalog.int4, pg_catalog.interval) IS
  'Continues a conversation: messages is [{"role": "system"|"user"|"assistant", "content": "..."}]. '
  'Returns the reply as dwc.ai_generate() does.';

CREATE FUNCTION dwc.analyze_text(content pg_catalog.text) RETURNS pg_catalog.jsonb
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'dwc_analyze_text';
COMMENT ON FUNCTION dwc.analyze_text(pg_catalog.text) IS
  'Deterministic text analysis (builtin heuristics, no model): sentiment score and label, '
  'keywords, a two-sentence extractive summary, language (en, es, fr, de, it, pt), word, sentence '
  'and character counts, Flesch reading ease, estimated tokens.';

CREATE FUNCTION dwc.summarize(content pg_catalog.text, sentences pg_catalog.int4 DEFAULT 3)
RETURNS pg_catalog.text
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'dwc_summarize';
COMMENT ON FUNCTION dwc.summarize(pg_catalog.text, pg_catalog.int4) IS
  'Extractive summary: the sentences carrying the most keyword weight, in their original order.';

CREATE FUNCTION dwc.text_title(content pg_catalog.text) RETURNS pg_catalog.text
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'dwc_text_title';
COMMENT ON FUNCTION dwc.text_title(pg_catalog.text) IS
  'A title for a text: its leading Markdown heading, or the start of the sentence holding its main keyword.';

CREATE FUNCTION dwc.text_quality(content pg_catalog.text, reference pg_catalog.text DEFAULT NULL)
RETURNS pg_catalog.jsonb
LANGUAGE c IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'dwc_text_quality';
COMMENT ON FUNCTION dwc.text_quality(pg_catalog.text, pg_catalog.text) IS
  'Quality score 0-100 = mean of readability, length, keyword coverage of the reference, and '
  'absence of repetition (each 0-1, also returned).';

CREATE FUNCTION dwc.estimate_tokens(content pg_catalog.text) RETURNS pg_catalog.int4
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'dwc_estimate_tokens';
COMMENT ON FUNCTION dwc.estimate_tokens(pg_catalog.text) IS
  'Tokens a text is expected to take in a model''s context: one per 4 bytes, rounded up.';

CREATE FUNCTION dwc.embed(content pg_catalog.text, provider pg_catalog.text DEFAULT 'builtin',
                          model pg_catalog.text DEFAULT NULL)
RETURNS pg_catalog.float4[]
LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'dwc_embed';
COMMENT ON FUNCTION dwc.embed(pg_catalog.text, pg_catalog.text, pg_catalog.text) IS
  'An embedding vector: builtin gives a 512-dimension hashed term-frequency vector (weighted by '
  'inverse document frequency in searches); openai, google and openai_compatible providers call '
  'their embeddings API.';

CREATE FUNCTION dwc.cosine_similarity(a pg_catalog.float4[], b pg_catalog.float4[]) RETURNS pg_catalog.float8
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'dwc_cosine_similarity';
COMMENT ON FUNCTION dwc.cosine_similarity(pg_catalog.float4[], pg_catalog.float4[]) IS
  'Cosine similarity of two vectors of the same dimension (0 if either is zero).';

CREATE FUNCTION dwc._weighted_cosine(a pg_catalog.float4[], b pg_catalog.float4[], weights pg_catalog.float4[])
RETURNS pg_catalog.float8
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'dwc_weighted_cosine';
COMMENT ON FUNCTION dwc._weighted_cosine(pg_catalog.float4[], pg_catalog.float4[], pg_catalog.float4[]) IS
  'Private: cosine of two vectors with each dimension multiplied by a weight (the IDF).';

-- ---- cache and statistics (administrators) ---------------------------------------------

CREATE FUNCTION dwc.ai_cache_invalidate(provider pg_catalog.text DEFAULT NULL, model pg_catalog.text DEFAULT NULL)
RETURNS pg_catalog.int4
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    WITH d AS (DELETE FROM dwc.ai_cache c
                WHERE (ai_cache_invalidate.provider IS NULL OR c.provider = ai_cache_invalidate.provider)
                  AND (ai_cache_invalidate.model IS NULL OR c.model = ai_cache_invalidate.model)
               RETURNING 1)
    SELECT count(*)::int4 FROM d;
END;
COMMENT ON FUNCTION dwc.ai_cache_invalidate(pg_catalog.text, pg_catalog.text) IS
  'Drops cached AI responses (of a provider, of a model, or all); returns how many. Administrators only.';
REVOKE ALL ON FUNCTION dwc.ai_cache_invalidate(pg_catalog.text, pg_catalog.text) FROM PUBLIC;

CREATE FUNCTION dwc.ai_stats(period pg_catalog.interval DEFAULT '1 day') RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN jsonb_build_object(
    'period_seconds', extract(epoch FROM period),
    'cache', (SELECT jsonb_build_object('entries', count(*), 'live', count(*) FILTER (WHERE expires_at > now()))
                FROM dwc.ai_cache),
    'calls', (SELECT coalesce(jsonb_object_agg(provider, s), '{}') FROM (
                SELECT provider, jsonb_build_object(
                           'calls', count(*), 'errors', count(*) FILTER (WHERE NOT ok),
                           'cache_hits', count(*) FILTER (WHERE cache_hit),
                           'cache_hit_ratio', round(avg(cache_hit::int)::numeric, 4),
                           'tokens_in', sum(tokens_in), 'tokens_out', sum(tokens_out),
                           'cost', round(sum(cost)::numeric, 6),
                           'latency_ms_p50', round((percentile_cont(0.5) WITHIN GROUP (ORDER BY latency_ms))::numeric, 3),
                           'latency_ms_p95', round((percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms))::numeric, 3)) AS s
                  FROM dwc.ai_calls WHERE at >= now() - period GROUP BY provider) x),
    'log_entries_lost', dwc._ai_log_dropped());
COMMENT ON FUNCTION dwc.ai_stats(pg_catalog.interval) IS
  'AI usage over a period, per provider: calls, errors, cache hits and hit ratio, tokens, cost, '
  'latency p50/p95; cache size; calls lost from the log ring. Administrators only.';
REVOKE ALL ON FUNCTION dwc.ai_stats(pg_catalog.interval) FROM PUBLIC;

-- run by the scheduler worker
CREATE FUNCTION dwc._ai_maintain(retention pg_catalog.interval) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    DELETE FROM dwc.ai_cache WHERE key IN (SELECT key FROM dwc.ai_cache WHERE expires_at < now() LIMIT 10000);
    DELETE FROM dwc.ai_calls WHERE id IN (SELECT id FROM dwc.ai_calls WHERE at < now() - retention LIMIT 10000);
END;
$$;
COMMENT ON FUNCTION dwc._ai_maintain(pg_catalog.interval) IS
  'Private: drops expired cache entries and old call log rows, 10,000 at a time; run by the scheduler worker.';
REVOKE ALL ON FUNCTION dwc._ai_maintain(pg_catalog.interval) FROM PUBLIC;

-- ---- src/chain/chain.sql ----
-- src/chain/chain.sql: document workflow chains. See src/chain/README.md.

-- API: Private (tables)

CREATE TABLE dwc.chains (
    id pg_catalog.int8 GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    name pg_catalog.text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    description pg_catalog.text,
    owner pg_catalog.oid NOT NULL,
    owner_user pg_catalog.text,
    status pg_catalog.text NOT NULL DEFAULT 'active'
        CHECK (status IN ('active', 'paused', 'completed', 'archived')),
    provider pg_catalog.text NOT NULL DEFAULT 'builtin',
    model pg_catalog.text,
    context_budget pg_catalog.int4 NOT NULL DEFAULT 4000 CHECK (context_budget BETWEEN 256 AND 2000000),
    temperature pg_catalog.float8 CHECK (temperature BETWEEN 0 AND 2),
    max_tokens pg_catalog.int4 NOT NULL DEFAULT 800 CHECK (max_tokens BETWEEN 16 AND 200000),
    style pg_catalog.text,
    settings pg_catalog.jsonb NOT NULL DEFAULT '{}',
    created_at pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now(),
    updated_at pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now(),
    completed_at pg_catalog.timestamptz
);
COMMENT ON TABLE dwc.chains IS
  'Document workflow chains: a tree of documents, each generated from its parent with the chain''s provider and settings.';
CREATE INDEX chains_owner ON dwc.chains (owner, owner_user);

CREATE TABLE dwc.documents (
    id pg_catalog.int8 GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    chain_id pg_catalog.int8 NOT NULL REFERENCES dwc.chains (id) ON DELETE CASCADE,
    parent_id pg_catalog.int8 REFERENCES dwc.documents (id) ON DELETE CASCADE,
    depth pg_catalog.int4 NOT NULL,
    title pg_catalog.text NOT NULL,
    content pg_catalog.text NOT NULL,
    summary pg_catalog.text NOT NULL,
    prompt pg_catalog.text NOT NULL,
    provider pg_catalog.text NOT NULL,
    model pg_catalog.text,
    tokens_in pg_catalog.int4 NOT NULL DEFAULT 0,
    tokens_out pg_catalog.int4 NOT NULL DEFAULT 0,
    cost pg_catalog.float8 NOT NULL DEFAULT 0,
    generation_ms pg_catalog.float8 NOT NULL DEFAULT 0,
    quality_score pg_catalog.float8,
    quality pg_catalog.jsonb,
    metadata pg_catalog.jsonb NOT NULL DEFAULT '{}',
    content_hash pg_catalog.text NOT NULL,
    version pg_catalog.int4 NOT NULL DEFAULT 1,
    embedding pg_catalog.float4[],
    fts pg_catalog.tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('english'::regconfig, title), 'A') ||
        setweight(to_tsvector('english'::regconfig, content), 'B')) STORED,
    created_by pg_catalog.oid NOT NULL,
    created_at pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    updated_at pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp()
);
COMMENT ON TABLE dwc.documents IS
  'The documents of chains: content, the prompt that produced it, provider usage, quality, '
  'summary (used when the context window is full), embedding and full-text vector.';
CREATE INDEX documents_chain ON dwc.documents (chain_id, id);
CREATE INDEX documents_parent ON dwc.documents (parent_id);
CREATE INDEX documents_fts ON dwc.documents USING gin (fts);

CREATE TABLE dwc.document_versions (
    document_id pg_catalog.int8 NOT NULL REFERENCES dwc.documents (id) ON DELETE CASCADE,
    version pg_catalog.int4 NOT NULL,
    title pg_catalog.text NOT NULL,
    content pg_catalog.text NOT NULL,
    quality_score pg_catalog.float8,
    content_hash pg_catalog.text NOT NULL,
    replaced_at pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    replaced_by pg_catalog.oid NOT NULL,
    PRIMARY KEY (document_id, version)
);
COMMENT ON TABLE dwc.document_versions IS 'Earlier versions of edited documents.';

CREATE TABLE dwc.chain_events (
    id pg_catalog.int8 GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    chain_id pg_catalog.int8 NOT NULL REFERENCES dwc.chains (id) ON DELETE CASCADE,
    event pg_catalog.text NOT NULL,
    document_id pg_catalog.int8,
    job_id pg_catalog.int8,
    detail pg_catalog.jsonb NOT NULL DEFAULT '{}',
    at pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp()
);
COMMENT ON TABLE dwc.chain_events IS
  'What happened to chains (created, document_created, document_edited, status changes, failures); '
  'each event is also NOTIFYed on channel dwc_chain_<id>.';
CREATE INDEX chain_events_chain ON dwc.chain_events (chain_id, id);

-- document frequency per embedding dimension, for TF-IDF weighting in searches; in 16
-- shards, each session updating the one of its process id, so that concurrent inserts of
-- documents do not queue on one row
CREATE TABLE dwc.embedding_df (
    shard pg_catalog.int4 PRIMARY KEY CHECK (shard BETWEEN 0 AND 15),
    ndocs pg_catalog.int8 NOT NULL,
    df pg_catalog.int8[] NOT NULL
);
COMMENT ON TABLE dwc.embedding_df IS
  'Documents with an embedding, and how many have each dimension non-zero, in 16 shards (summed by dwc._idf()).';
INSERT INTO dwc.embedding_df SELECT g, 0, array_fill(0::int8, ARRAY[512]) FROM generate_series(0, 15) g;

SELECT pg_catalog.pg_extension_config_dump('dwc.chains', '');
SELECT pg_catalog.pg_extension_config_dump('dwc.chains_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('dwc.documents', '');
SELECT pg_catalog.pg_extension_config_dump('dwc.documents_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('dwc.document_versions', '');
SELECT pg_catalog.pg_extension_config_dump('dwc.chain_events', '');

CREATE FUNCTION dwc._df_add(df pg_catalog.int8[], embedding pg_catalog.float4[], delta pg_catalog.int4)
RETURNS pg_catalog.int8[]
LANGUAGE c IMMUTABLE STRICT AS 'MODULE_PATHNAME', 'dwc__df_add';
COMMENT ON FUNCTION dwc._df_add(pg_catalog.int8[], pg_catalog.float4[], pg_catalog.int4) IS
  'Private: adds delta to the document frequency of each non-zero dimension of an embedding.';

CREATE FUNCTION dwc._documents_df() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    my_shard int4 := pg_backend_pid() % 16;
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.embedding IS NOT NULL THEN
        UPDATE dwc.embedding_df SET ndocs = ndocs - 1, df = dwc._df_add(df, OLD.embedding, -1) WHERE shard = my_shard;
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') AND NEW.embedding IS NOT NULL THEN
        UPDATE dwc.embedding_df SET ndocs = ndocs + 1, df = dwc._df_add(df, NEW.embedding, 1) WHERE shard = my_shard;
    END IF;
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION dwc._documents_df() IS 'Private: keeps dwc.embedding_df in step with documents.';
CREATE TRIGGER documents_df AFTER INSERT OR DELETE OR UPDATE OF embedding ON dwc.documents
    FOR EACH ROW EXECUTE FUNCTION dwc._documents_df();

CREATE FUNCTION dwc._idf() RETURNS pg_catalog.float4[]
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN (WITH n AS (SELECT sum(ndocs) AS ndocs FROM dwc.embedding_df),
             d AS (SELECT i, sum(x) AS df FROM dwc.embedding_df, unnest(df) WITH ORDINALITY AS u(x, i) GROUP BY i)
        SELECT array_agg((ln((1.0 + n.ndocs) / (1.0 + d.df)) + 1)::real ORDER BY d.i) FROM n, d);
COMMENT ON FUNCTION dwc._idf() IS 'Private: inverse document frequency per embedding dimension: ln((1 + N) / (1 + df)) + 1.';

-- ---- generating a document ------------------------------------------------------------

CREATE FUNCTION dwc._chain_event(chain_id pg_catalog.int8, event pg_catalog.text,
                                 document_id pg_catalog.int8, detail pg_catalog.jsonb)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    job int8 := dwc.current_job_id();
BEGIN
    INSERT INTO dwc.chain_events (chain_id, event, document_id, job_id, detail)
    VALUES (chain_id, event, document_id, job, detail);
    PERFORM pg_notify('dwc_chain_' || chain_id,
                      jsonb_build_object('chain_id', chain_id, 'event', event, 'document_id', document_id,
                                         'job_id', job, 'detail', detail)::text);
END;
$$;
COMMENT ON FUNCTION dwc._chain_event(pg_catalog.int8, pg_catalog.text, pg_catalog.int8, pg_catalog.jsonb) IS
  'Private: records a chain event and NOTIFYs it on channel dwc_chain_<id> (delivered at commit).';

CREATE FUNCTION dwc._document_json(d dwc.documents, with_content pg_catalog.bool DEFAULT true)
RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
RETURN jsonb_strip_nulls(jsonb_build_object(
    'id', d.id, 'chain_id', d.chain_id, 'parent_id', d.parent_id, 'depth', d.depth, 'title', d.title,
    'content', CASE WHEN with_content THEN d.content END, 'summary', d.summary, 'prompt', d.prompt,
    'provider', d.provider, 'model', d.model, 'tokens_in', d.tokens_in, 'tokens_out', d.tokens_out,
    'cost', d.cost, 'generation_ms', round(d.generation_ms::numeric, 3), 'quality_score', d.quality_score,
    'quality', d.quality, 'metadata', d.metadata, 'content_hash', d.content_hash, 'version', d.version,
    'created_at', d.created_at, 'updated_at', d.updated_at));

/*
 * The context of a new document: its ancestors, newest first.  As many of
 * the newest as possible go in full, provided every older one still fits as
 * its summary; when even the summaries do not all fit, the oldest are left
 * out.  Token costs are dwc.estimate_tokens() of each piece, inlined.
 *
 * The walk up the tree stops at the first ancestor whose summary, added to
 * the summaries of all newer ones, overflows the budget: no older ancestor
 * can be included, so a deep chain costs no more than a shallow one.
 */
CREATE FUNCTION dwc._pack_context(parent_id pg_catalog.int8, budget pg_catalog.int4,
                                  OUT context pg_catalog.text, OUT used pg_catalog.jsonb,
                                  OUT tokens pg_catalog.int4, OUT omitted pg_catalog.int4)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ids int8[];
    fulls text[];
    summaries text[];
    full_cost int4[];
    summary_cost int4[];
    oldest_depth int4;
    n int4;
    k int4 := 0;             -- ancestors 1..k in full, the rest as summaries
    prefix int4 := 0;        -- cost of ancestors 1..k in full
    rest int4;               -- cost of ancestors k+1..n as summaries
    i int4;
BEGIN
    context := '';
    used := '[]';
    tokens := 0;
    omitted := 0;
    WITH RECURSIVE up AS (
        SELECT d.id, d.parent_id, d.depth, 0 AS n, x.f, x.s, (octet_length(x.s) + 3) / 4 AS cum
          FROM dwc.documents d,
               LATERAL (SELECT format(E'### %s\n\n%s\n\n', d.title, d.content) AS f,
                               format(E'### %s\n\nSummary: %s\n\n', d.title, d.summary) AS s) x
         WHERE d.id = _pack_context.parent_id
        UNION ALL
        SELECT d.id, d.parent_id, d.depth, up.n + 1, x.f, x.s, up.cum + (octet_length(x.s) + 3) / 4
          FROM up JOIN dwc.documents d ON d.id = up.parent_id,
               LATERAL (SELECT format(E'### %s\n\n%s\n\n', d.title, d.content) AS f,
                               format(E'### %s\n\nSummary: %s\n\n', d.title, d.summary) AS s) x
         WHERE up.cum <= _pack_context.budget)
    SELECT array_agg(up.id ORDER BY up.n), array_agg(up.f ORDER BY up.n), array_agg(up.s ORDER BY up.n),
           array_agg((octet_length(up.f) + 3) / 4 ORDER BY up.n), array_agg((octet_length(up.s) + 3) / 4 ORDER BY up.n),
           min(up.depth)
      INTO ids, fulls, summaries, full_cost, summary_cost, oldest_depth
      FROM up;
    n := coalesce(cardinality(ids), 0);
    IF n = 0 THEN
        RETURN;
    END IF;
    omitted := oldest_depth;   -- the ancestors above the walk's last one

    rest := (SELECT sum(c) FROM unnest(summary_cost) AS c);
    WHILE k < n AND prefix + full_cost[k + 1] + rest - summary_cost[k + 1] <= budget LOOP
        -- ancestor k+1 in full instead of as a summary
        prefix := prefix + full_cost[k + 1];
        rest := rest - summary_cost[k + 1];
        k := k + 1;
    END LOOP;

    FOR i IN 1..n LOOP
        IF i <= k THEN
            context := context || fulls[i];
            used := used || jsonb_build_object('document_id', ids[i], 'form', 'full', 'tokens', full_cost[i]);
            tokens := tokens + full_cost[i];
        ELSIF tokens + summary_cost[i] <= budget THEN
            context := context || summaries[i];
            used := used || jsonb_build_object('document_id', ids[i], 'form', 'summary', 'tokens', summary_cost[i]);
            tokens := tokens + summary_cost[i];
        ELSE
            -- from here up nothing fits, even where a shorter summary would
            omitted := omitted + n - i + 1;
            EXIT;
        END IF;
    END LOOP;
END;
$$;
COMMENT ON FUNCTION dwc._pack_context(pg_catalog.int8, pg_catalog.int4) IS
  'Private: packs a document''s ancestors (newest first) into a token budget: the newest in full as '
  'long as all older ones still fit as summaries; summaries that do not fit are left out, oldest '
  'first. Returns the text, the ancestors used (form full or summary, tokens), the tokens, and how '
  'many ancestors were left out.';

CREATE FUNCTION dwc._derived_prompt(c dwc.chains, parent dwc.documents) RETURNS pg_catalog.text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN format('Continue the document chain "%s" with its next document. Build on "%s" and develop %s further%s.',
              c.name, parent.title,
              coalesce((SELECT string_agg(k->>'word', ', ')
                          FROM jsonb_array_elements((dwc.analyze_text(parent.content))->'keywords') WITH ORDINALITY AS e(k, i)
                         WHERE i <= 3), 'its ideas'),
              CASE WHEN c.style IS NOT NULL THEN ', in this style: ' || c.style ELSE '' END);

CREATE FUNCTION dwc._generate_document(c dwc.chains, parent_id pg_catalog.int8, prompt pg_catalog.text,
                                       caller pg_catalog.oid)
RETURNS dwc.documents
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    parent dwc.documents;
    derived bool := prompt IS NULL;
    packed record;
    system text;
    reserve int4;
    result jsonb;
    content text;
    quality jsonb;
    d dwc.documents;
BEGIN
    IF parent_id IS NOT NULL THEN
        SELECT * INTO parent FROM dwc.documents x WHERE x.id = _generate_document.parent_id;
        IF NOT FOUND OR parent.chain_id <> c.id THEN
            RAISE EXCEPTION 'document % is not part of chain %', parent_id, c.id USING ERRCODE = 'no_data_found';
        END IF;
        IF prompt IS NULL THEN
            prompt := dwc._derived_prompt(c, parent);
        END IF;
    END IF;
    IF prompt IS NULL OR btrim(prompt) = '' THEN
        RAISE EXCEPTION 'a prompt is needed for the first document of a chain' USING ERRCODE = 'invalid_parameter_value';
    END IF;

    system := format('You are writing document %s of the document chain "%s"%s. Each document builds on the earlier ones.%s',
                     coalesce(parent.depth + 2, 1), c.name,
                     CASE WHEN c.description IS NOT NULL THEN ' (' || c.description || ')' ELSE '' END,
                     CASE WHEN c.style IS NOT NULL THEN ' Style: ' || c.style || '.' ELSE '' END);
    -- what stays for the context: the budget minus the instructions, the prompt and the answer
    reserve := dwc.estimate_tokens(system) + dwc.estimate_tokens(prompt) + c.max_tokens;
    SELECT * INTO packed FROM dwc._pack_context(parent_id, greatest(c.context_budget - reserve, 0));
    IF packed.context <> '' THEN
        system := system || E' The earlier documents follow, newest first.\n\n' || packed.context;
    END IF;

    result := dwc.ai_chat(jsonb_build_array(jsonb_build_object('role', 'system', 'content', system),
                                            jsonb_build_object('role', 'user', 'content', prompt)),
                          provider => c.provider, model => c.model, temperature => c.temperature,
                          max_tokens => c.max_tokens);
    content := result->>'text';
    quality := dwc.text_quality(content, prompt);

    INSERT INTO dwc.documents (chain_id, parent_id, depth, title, content, summary, prompt, provider, model,
                               tokens_in, tokens_out, cost, generation_ms, quality_score, quality, metadata,
                               content_hash, embedding, created_by)
    VALUES (c.id, parent.id, coalesce(parent.depth + 1, 0), dwc.text_title(content), content,
            dwc.summarize(content, 3), prompt, result->>'provider', result->>'model',
            (result->>'tokens_in')::int4, (result->>'tokens_out')::int4, (result->>'cost')::float8,
            (result->>'latency_ms')::float8, (quality->>'score')::float8, quality,
            jsonb_build_object('context', packed.used, 'context_tokens', packed.tokens,
                               'context_omitted', packed.omitted,
                               'context_budget', c.context_budget, 'prompt_derived', derived,
                               'cached', (result->>'cached')::bool, 'attempts', (result->>'attempts')::int4),
            encode(sha256(convert_to(content, 'UTF8')), 'hex'), dwc.embed(content), caller)
    RETURNING * INTO d;
    UPDATE dwc.chains SET updated_at = now() WHERE id = c.id;
    PERFORM dwc._chain_event(c.id, 'document_created', d.id,
                             jsonb_build_object('parent_id', d.parent_id, 'title', d.title,
                                                'quality_score', d.quality_score));
    RETURN d;
END;
$$;
COMMENT ON FUNCTION dwc._generate_document(dwc.chains, pg_catalog.int8, pg_catalog.text, pg_catalog.oid) IS
  'Private: generates and stores the next document of a chain from a parent (NULL: the root), with '
  'the ancestors packed into the context window.';

-- ---- the chain API (through the trampoline: see src/core/trampoline.c) -----------------

CREATE FUNCTION dwc._own_chain(chain_id pg_catalog.int8, caller pg_catalog.oid, lock pg_catalog.bool DEFAULT false)
RETURNS dwc.chains
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    c dwc.chains;
BEGIN
    IF lock THEN
        SELECT * INTO c FROM dwc.chains WHERE id = chain_id FOR UPDATE;
    ELSE
        SELECT * INTO c FROM dwc.chains WHERE id = chain_id;
    END IF;
    IF NOT FOUND OR NOT dwc._may_manage(caller, c.owner, c.owner_user) THEN
        RAISE EXCEPTION 'chain % does not exist', chain_id USING ERRCODE = 'no_data_found';
    END IF;
    RETURN c;
END;
$$;

CREATE FUNCTION dwc._own_document(document_id pg_catalog.int8, caller pg_catalog.oid)
RETURNS dwc.documents
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    d dwc.documents;
BEGIN
    SELECT * INTO d FROM dwc.documents WHERE id = document_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'document % does not exist', document_id USING ERRCODE = 'no_data_found';
    END IF;
    PERFORM dwc._own_chain(d.chain_id, caller);
    RETURN d;
END;
$$;

CREATE FUNCTION dwc._chain_json(c dwc.chains) RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
RETURN jsonb_strip_nulls(jsonb_build_object(
    'id', c.id, 'name', c.name, 'description', c.description, 'owner', c.owner::regrole,
    'owner_user', c.owner_user, 'status', c.status, 'provider', c.provider, 'model', c.model,
    'context_budget', c.context_budget, 'temperature', c.temperature, 'max_tokens', c.max_tokens,
    'style', c.style, 'settings', c.settings, 'created_at', c.created_at, 'updated_at', c.updated_at,
    'completed_at', c.completed_at,
    'documents', (SELECT count(*) FROM dwc.documents d WHERE d.chain_id = c.id)));

CREATE FUNCTION dwc._create_chain(name pg_catalog.text, initial_prompt pg_catalog.text,
                                  description pg_catalog.text, provider pg_catalog.text, model pg_catalog.text,
                                  context_budget pg_catalog.int4, temperature pg_catalog.float8,
                                  max_tokens pg_catalog.int4, style pg_catalog.text, settings pg_catalog.jsonb,
                                  caller pg_catalog.oid)
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    c dwc.chains;
    d dwc.documents;
BEGIN
    IF initial_prompt IS NULL OR btrim(initial_prompt) = '' THEN
        RAISE EXCEPTION 'initial_prompt must not be empty' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM dwc.ai_providers p WHERE p.name = coalesce(_create_chain.provider, 'builtin')
                                                    AND p.enabled) THEN
        RAISE EXCEPTION 'AI provider "%" does not exist or is disabled', provider
            USING ERRCODE = 'undefined_object', HINT = 'See dwc.ai_provider_list.';
    END IF;
    BEGIN
        INSERT INTO dwc.chains (name, description, owner, owner_user, provider, model, context_budget,
                                temperature, max_tokens, style, settings)
        VALUES (name, description, caller, dwc._claims_sub(), coalesce(provider, 'builtin'), model,
                coalesce(context_budget, 4000), temperature, coalesce(max_tokens, 800), style,
                coalesce(settings, '{}'))
        RETURNING * INTO c;
    EXCEPTION WHEN check_violation OR not_null_violation THEN
        RAISE EXCEPTION 'invalid chain settings'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'name: 1 to 200 characters; context_budget: 256 to 2000000 tokens; '
                           'temperature: 0 to 2; max_tokens: 16 to 200000.';
    END;
    PERFORM dwc._chain_event(c.id, 'created', NULL, jsonb_build_object('name', c.name));
    d := dwc._generate_document(c, NULL, initial_prompt, caller);
    RETURN dwc._chain_json(c) || jsonb_build_object('root', dwc._document_json(d));
END;
$$;

CREATE FUNCTION dwc._continue_chain(chain_id pg_catalog.int8, prompt pg_catalog.text,
                                    from_document pg_catalog.int8, caller pg_catalog.oid)
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    c dwc.chains := dwc._own_chain(chain_id, caller);
    parent int8 := from_document;
BEGIN
    IF c.status <> 'active' THEN
        RAISE EXCEPTION 'chain % is %', c.id, c.status
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = CASE c.status WHEN 'paused' THEN 'Resume it with dwc.resume_chain().'
                         ELSE 'Only active chains grow.' END;
    END IF;
    IF parent IS NULL THEN
        SELECT max(id) INTO parent FROM dwc.documents d WHERE d.chain_id = c.id;
    END IF;
    RETURN dwc._document_json(dwc._generate_document(c, parent, prompt, caller));
END;
$$;

CREATE FUNCTION dwc._continue_chain_async(chain_id pg_catalog.int8, prompt pg_catalog.text,
                                          from_document pg_catalog.int8, priority pg_catalog.text,
                                          caller pg_catalog.oid)
RETURNS pg_catalog.int8
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    c dwc.chains := dwc._own_chain(chain_id, caller);
BEGIN
    IF c.status <> 'active' THEN
        RAISE EXCEPTION 'chain % is %', c.id, c.status USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    IF from_document IS NOT NULL THEN
        PERFORM dwc._own_document(from_document, caller);
    END IF;
    -- the job runs as the caller, through the public function, with ownership checks again
    RETURN dwc._enqueue_as('chain.continue',
                           jsonb_strip_nulls(jsonb_build_object('chain_id', c.id, 'prompt', prompt,
                                                                'from_document', from_document)),
                           coalesce(priority, 'normal'), caller);
END;
$$;

CREATE FUNCTION dwc._job_chain_continue(payload pg_catalog.jsonb) RETURNS pg_catalog.jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    d jsonb;
    state text;
    msg text;
BEGIN
    d := dwc.continue_chain((payload->>'chain_id')::int8, payload->>'prompt',
                            (payload->>'from_document')::int8);
    RETURN jsonb_build_object('ok', true, 'document_id', d->'id', 'title', d->'title',
                              'quality_score', d->'quality_score');
EXCEPTION
    -- errors that another attempt cannot fix (the chain was paused, completed or deleted
    -- meanwhile, the document is gone): record them on the chain and end the job; other
    -- errors (the provider failed) propagate, and the queue retries with backoff
    WHEN object_not_in_prerequisite_state OR no_data_found OR invalid_parameter_value
         OR undefined_object OR insufficient_privilege THEN
        GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
        PERFORM dwc._chain_job_failed((payload->>'chain_id')::int8, state, msg);
        RETURN jsonb_build_object('ok', false, 'sqlstate', state, 'error', msg);
END;
$$;
COMMENT ON FUNCTION dwc._job_chain_continue(pg_catalog.jsonb) IS
  'Private: handler of chain.continue jobs (dwc.continue_chain_async()); runs as the job''s enqueuer. '
  'Errors no retry can fix end the job with {"ok": false} and a continue_failed chain event; '
  'others are retried by the queue.';

-- the handler runs as the job's enqueuer, who may not write chain events directly
CREATE FUNCTION dwc.__chain_job_failed(chain_id pg_catalog.int8, sqlstate pg_catalog.text,
                                       error pg_catalog.text, caller pg_catalog.oid)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- only from within a chain.continue job for this chain, for a chain the caller owns
    IF EXISTS (SELECT 1 FROM dwc.jobs j, dwc.chains c
                WHERE j.id = dwc.current_job_id() AND j.kind = 'chain.continue'
                  AND (j.payload->>'chain_id')::int8 = __chain_job_failed.chain_id
                  AND c.id = __chain_job_failed.chain_id AND dwc._may_manage(caller, c.owner, c.owner_user)) THEN
        PERFORM dwc._chain_event(chain_id, 'continue_failed', NULL,
                                 jsonb_build_object('sqlstate', sqlstate, 'error', error));
    END IF;
END;
$$;
CREATE FUNCTION dwc._chain_job_failed(chain_id pg_catalog.int8, sqlstate pg_catalog.text, error pg_catalog.text)
RETURNS void
LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'dwc_trampoline';
COMMENT ON FUNCTION dwc._chain_job_failed(pg_catalog.int8, pg_catalog.text, pg_catalog.text) IS
  'Private: records a continue_failed event from a chain.continue job; does nothing elsewhere.';

INSERT INTO dwc.job_kinds (kind, handler, description, default_timeout_ms)
VALUES ('chain.continue', 'dwc._job_chain_continue(pg_catalog.jsonb)'::regprocedure,
        'Generates the next document of a chain (dwc.continue_chain_async).', 600000);

CREATE FUNCTION dwc._set_chain_status(chain_id pg_catalog.int8, status pg_catalog.text, caller pg_catalog.oid)
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    c dwc.chains := dwc._own_chain(chain_id, caller, true);
    allowed text[] := CASE c.status
        WHEN 'active' THEN ARRAY['paused', 'completed', 'archived']
        WHEN 'paused' THEN ARRAY['active', 'completed', 'archived']
        WHEN 'completed' THEN ARRAY['archived']
        ELSE ARRAY[]::text[] END;
BEGIN
    IF status IS NULL OR status NOT IN ('active', 'paused', 'completed', 'archived') THEN
        RAISE EXCEPTION 'invalid chain status "%"', status
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Statuses: active, paused, completed, archived.';
    END IF;
    IF NOT status = ANY (allowed) THEN
        RAISE EXCEPTION 'chain % cannot go from % to %', c.id, c.status, status
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = CASE WHEN cardinality(allowed) = 0 THEN format('An %s chain is final.', c.status)
                           ELSE format('From %s a chain may go to: %s.', c.status, array_to_string(allowed, ', ')) END;
    END IF;
    UPDATE dwc.chains SET status = _set_chain_status.status, updated_at = now(),
           completed_at = CASE WHEN _set_chain_status.status = 'completed' THEN now() ELSE completed_at END
     WHERE id = c.id RETURNING * INTO c;
    PERFORM dwc._chain_event(c.id, 'status_' || status, NULL, '{}');
    RETURN dwc._chain_json(c);
END;
$$;

CREATE FUNCTION dwc._update_chain(chain_id pg_catalog.int8, name pg_catalog.text, description pg_catalog.text,
                                  provider pg_catalog.text, model pg_catalog.text, context_budget pg_catalog.int4,
                                  temperature pg_catalog.float8, max_tokens pg_catalog.int4, style pg_catalog.text,
                                  settings pg_catalog.jsonb, caller pg_catalog.oid)
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    c dwc.chains := dwc._own_chain(chain_id, caller, true);
BEGIN
    IF provider IS NOT NULL AND NOT EXISTS (SELECT 1 FROM dwc.ai_providers p WHERE p.name = provider AND p.enabled) THEN
        RAISE EXCEPTION 'AI provider "%" does not exist or is disabled', provider USING ERRCODE = 'undefined_object';
    END IF;
    BEGIN
        UPDATE dwc.chains SET name = coalesce(_update_chain.name, chains.name),
               description = coalesce(_update_chain.description, chains.description),
               provider = coalesce(_update_chain.provider, chains.provider),
               model = coalesce(_update_chain.model, chains.model),
               context_budget = coalesce(_update_chain.context_budget, chains.context_budget),
               temperature = coalesce(_update_chain.temperature, chains.temperature),
               max_tokens = coalesce(_update_chain.max_tokens, chains.max_tokens),
               style = coalesce(_update_chain.style, chains.style),
               settings = coalesce(_update_chain.settings, chains.settings), updated_at = now()
         WHERE id = c.id RETURNING * INTO c;
    EXCEPTION WHEN check_violation THEN
        RAISE EXCEPTION 'invalid chain settings'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'name: 1 to 200 characters; context_budget: 256 to 2000000 tokens; '
                           'temperature: 0 to 2; max_tokens: 16 to 200000.';
    END;
    RETURN dwc._chain_json(c);
END;
$$;

CREATE FUNCTION dwc._delete_chain(chain_id pg_catalog.int8, caller pg_catalog.oid) RETURNS pg_catalog.bool
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM dwc._own_chain(chain_id, caller, true);
    DELETE FROM dwc.chains WHERE id = chain_id;
    RETURN true;
END;
$$;

CREATE FUNCTION dwc._get_chain(chain_id pg_catalog.int8, with_content pg_catalog.bool, caller pg_catalog.oid)
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    c dwc.chains := dwc._own_chain(chain_id, caller);
BEGIN
    RETURN dwc._chain_json(c) || jsonb_build_object('documents', (
        SELECT coalesce(jsonb_agg(dwc._document_json(d, with_content) ORDER BY d.id), '[]')
          FROM dwc.documents d WHERE d.chain_id = c.id));
END;
$$;

CREATE FUNCTION dwc._list_chains(status pg_catalog.text, caller pg_catalog.oid) RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
RETURN (SELECT coalesce(jsonb_agg(dwc._chain_json(c) ORDER BY c.id DESC), '[]')
          FROM dwc.chains c
         WHERE dwc._may_manage(caller, c.owner, c.owner_user)
           AND (_list_chains.status IS NULL OR c.status = _list_chains.status));

CREATE FUNCTION dwc._get_document(document_id pg_catalog.int8, caller pg_catalog.oid) RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
RETURN dwc._document_json(dwc._own_document(document_id, caller));

CREATE FUNCTION dwc._edit_document(document_id pg_catalog.int8, content pg_catalog.text, title pg_catalog.text,
                                   caller pg_catalog.oid)
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    d dwc.documents := dwc._own_document(document_id, caller);
    c dwc.chains := dwc._own_chain(d.chain_id, caller, true);
    new_content text := coalesce(content, d.content);
    q jsonb;
BEGIN
    IF c.status IN ('completed', 'archived') THEN
        RAISE EXCEPTION 'chain % is %: its documents cannot be edited', c.id, c.status
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    IF btrim(new_content) = '' THEN
        RAISE EXCEPTION 'document content must not be empty' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO dwc.document_versions (document_id, version, title, content, quality_score, content_hash, replaced_by)
    VALUES (d.id, d.version, d.title, d.content, d.quality_score, d.content_hash, caller);
    q := dwc.text_quality(new_content, d.prompt);
    UPDATE dwc.documents
       SET content = new_content,
           title = coalesce(_edit_document.title, CASE WHEN _edit_document.content IS NULL THEN documents.title
                                                      ELSE dwc.text_title(new_content) END),
           summary = dwc.summarize(new_content, 3), quality = q,
           quality_score = (q->>'score')::float8,
           content_hash = encode(sha256(convert_to(new_content, 'UTF8')), 'hex'),
           embedding = dwc.embed(new_content), version = version + 1, updated_at = clock_timestamp()
     WHERE id = d.id RETURNING * INTO d;
    PERFORM dwc._chain_event(d.chain_id, 'document_edited', d.id, jsonb_build_object('version', d.version));
    RETURN dwc._document_json(d);
END;
$$;

CREATE FUNCTION dwc._document_versions(document_id pg_catalog.int8, caller pg_catalog.oid) RETURNS pg_catalog.jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    d dwc.documents := dwc._own_document(document_id, caller);
BEGIN
    RETURN (SELECT jsonb_agg(v ORDER BY (v->>'version')::int4) FROM (
        SELECT jsonb_build_object('version', dv.version, 'title', dv.title, 'content', dv.content,
                                  'quality_score', dv.quality_score, 'content_hash', dv.content_hash,
                                  'replaced_at', dv.replaced_at, 'current', false) AS v
          FROM dwc.document_versions dv WHERE dv.document_id = d.id
        UNION ALL
        SELECT jsonb_build_object('version', d.version, 'title', d.title, 'content', d.content,
                                  'quality_score', d.quality_score, 'content_hash', d.content_hash,
                                  'replaced_at', NULL, 'current', true)) x);
END;
$$;

CREATE FUNCTION dwc._generate_title(document_id pg_catalog.int8, caller pg_catalog.oid) RETURNS pg_catalog.text
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    d dwc.documents := dwc._own_document(document_id, caller);
    c dwc.chains := dwc._own_chain(d.chain_id, caller);
    t text;
BEGIN
    IF (SELECT kind FROM dwc.ai_providers WHERE name = c.provider) = 'builtin' THEN
        t := dwc.text_title(d.content);
    ELSE
        t := btrim(split_part(dwc.ai_generate(
                 'Write a title of at most eight words for the following document. Answer with the title only.'
                 || E'\n\n' || left(d.content, 8000),
                 provider => c.provider, model => c.model, max_tokens => 32)->>'text', E'\n', 1), E' "#*\t');
    END IF;
    UPDATE dwc.documents SET title = left(t, 200), updated_at = clock_timestamp() WHERE id = d.id;
    RETURN left(t, 200);
END;
$$;

CREATE FUNCTION dwc._score_quality(document_id pg_catalog.int8, caller pg_catalog.oid) RETURNS pg_catalog.jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    d dwc.documents := dwc._own_document(document_id, caller);
    q jsonb := dwc.text_quality(d.content, d.prompt);
BEGIN
    UPDATE dwc.documents SET quality = q, quality_score = (q->>'score')::float8 WHERE id = d.id;
    RETURN q;
END;
$$;

CREATE FUNCTION dwc._export_chain_markdown(chain_id pg_catalog.int8, caller pg_catalog.oid) RETURNS pg_catalog.text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    c dwc.chains := dwc._own_chain(chain_id, caller);
    out text;
BEGIN
    out := format(E'# %s\n\n', c.name);
    IF c.description IS NOT NULL THEN
        out := out || c.description || E'\n\n';
    END IF;
    out := out || format(E'_Status: %s. Provider: %s%s._\n\n', c.status, c.provider,
                         CASE WHEN c.model IS NOT NULL THEN ' (' || c.model || ')' ELSE '' END);
    -- depth-first, so branches follow their parent; numbered by position: 1, 1.1, 1.2, 1.1.1
    RETURN out || coalesce((
        WITH RECURSIVE ord AS (
            SELECT d.*, row_number() OVER (PARTITION BY d.parent_id ORDER BY d.id) AS n
              FROM dwc.documents d WHERE d.chain_id = c.id),
        tree AS (
            SELECT ord.*, ARRAY[ord.id] AS path, ARRAY[ord.n] AS label FROM ord WHERE ord.parent_id IS NULL
            UNION ALL
            SELECT ord.*, tree.path || ord.id, tree.label || ord.n FROM ord JOIN tree ON ord.parent_id = tree.id)
        SELECT string_agg(format(E'%s %s. %s\n\n_Document %s%s, quality %s._\n\n%s\n',
                                 repeat('#', least(depth + 2, 6)), array_to_string(label, '.'), title, id,
                                 CASE WHEN parent_id IS NOT NULL THEN ', from document ' || parent_id ELSE '' END,
                                 coalesce(round(quality_score::numeric, 1)::text, '-'),
                                 -- the document's own title goes; its sections nest under its heading
                                 regexp_replace(regexp_replace(content, '^\s*#[^\n]*\n+', ''),
                                                '^(#+) ', repeat('#', least(depth + 1, 4)) || '\1 ', 'gn')),
                          E'\n' ORDER BY path)
          FROM tree), '');
END;
$$;

CREATE FUNCTION dwc._export_chain_json(chain_id pg_catalog.int8, caller pg_catalog.oid) RETURNS pg_catalog.jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    c dwc.chains := dwc._own_chain(chain_id, caller);
BEGIN
    RETURN jsonb_build_object('format', 'dwc.chain/1', 'chain', dwc._chain_json(c),
        'documents', (SELECT coalesce(jsonb_agg(dwc._document_json(d) ||
                                                jsonb_build_object('versions', (SELECT count(*) FROM dwc.document_versions v
                                                                                 WHERE v.document_id = d.id))
                                                ORDER BY d.id), '[]')
                        FROM dwc.documents d WHERE d.chain_id = c.id),
        'exported_at', now());
END;
$$;

CREATE FUNCTION dwc._chain_analytics(chain_id pg_catalog.int8, caller pg_catalog.oid) RETURNS pg_catalog.jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    c dwc.chains := dwc._own_chain(chain_id, caller);
BEGIN
    RETURN (SELECT jsonb_build_object(
                'chain_id', c.id, 'status', c.status,
                'documents', count(*), 'depth', coalesce(max(d.depth) + 1, 0),
                'branches', (SELECT count(*) FROM (SELECT parent_id FROM dwc.documents x
                                                    WHERE x.chain_id = c.id AND parent_id IS NOT NULL
                                                    GROUP BY parent_id HAVING count(*) > 1) b),
                'tokens_in', coalesce(sum(d.tokens_in), 0), 'tokens_out', coalesce(sum(d.tokens_out), 0),
                'cost', round(coalesce(sum(d.cost), 0)::numeric, 6),
                'average_quality', round(avg(d.quality_score)::numeric, 2),
                'generation_ms', round(coalesce(sum(d.generation_ms), 0)::numeric, 3),
                'edits', (SELECT count(*) FROM dwc.document_versions v JOIN dwc.documents y ON y.id = v.document_id
                           WHERE y.chain_id = c.id),
                'words', coalesce(sum((d.quality->>'words')::int8), 0),
                'first_document_at', min(d.created_at), 'last_document_at', max(d.created_at),
                'elapsed_seconds', round(extract(epoch FROM max(d.created_at) - min(d.created_at))::numeric, 3))
              FROM dwc.documents d WHERE d.chain_id = c.id);
END;
$$;

CREATE FUNCTION dwc._search_documents(query pg_catalog.text, chain_id pg_catalog.int8, lim pg_catalog.int4,
                                      semantic_weight pg_catalog.float8, caller pg_catalog.oid)
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    q tsquery;
    qv real[];
    idf real[] := dwc._idf();
BEGIN
    IF query IS NULL OR btrim(query) = '' THEN
        RAISE EXCEPTION 'search query must not be empty' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF lim IS NULL OR lim NOT BETWEEN 1 AND 1000 THEN
        RAISE EXCEPTION 'limit must be between 1 and 1000' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF semantic_weight IS NULL OR semantic_weight NOT BETWEEN 0 AND 1 THEN
        RAISE EXCEPTION 'semantic_weight must be between 0 and 1' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF chain_id IS NOT NULL THEN
        PERFORM dwc._own_chain(chain_id, caller);
    END IF;
    -- any of the query's words (ranked), rather than all of them
    q := nullif(array_to_string(tsvector_to_array(to_tsvector('english', query)), ' | '), '')::tsquery;
    qv := dwc.embed(query);
    RETURN (SELECT coalesce(jsonb_agg(jsonb_build_object(
                       'document_id', r.id, 'chain_id', r.chain_id, 'title', r.title,
                       'score', round(r.score::numeric, 6), 'text_rank', round(r.text_rank::numeric, 6),
                       'similarity', round(r.similarity::numeric, 6),
                       'snippet', ts_headline('english', r.content, coalesce(q, plainto_tsquery('')),
                                              'MaxFragments=1, MaxWords=20, MinWords=8'))
                   ORDER BY r.score DESC, r.id), '[]')
              FROM (SELECT s.*,
                           (1 - semantic_weight) * coalesce(s.text_rank / nullif(max(s.text_rank) OVER (), 0), 0)
                           + semantic_weight * s.similarity AS score
                      FROM (SELECT d.id, d.chain_id, d.title, d.content,
                                   coalesce(ts_rank_cd(d.fts, q), 0) AS text_rank,
                                   greatest(dwc._weighted_cosine(d.embedding, qv, idf), 0) AS similarity
                              FROM dwc.documents d JOIN dwc.chains c ON c.id = d.chain_id
                             WHERE dwc._may_manage(caller, c.owner, c.owner_user)
                               AND (_search_documents.chain_id IS NULL OR d.chain_id = _search_documents.chain_id)
                               AND d.embedding IS NOT NULL
                               AND (_search_documents.chain_id IS NOT NULL OR d.fts @@ q)) s
                     ORDER BY score DESC, s.id
                     LIMIT lim) r
             WHERE r.score > 0);
END;
$$;

SELECT dwc._trampoline_targets(ARRAY[
    'dwc._create_chain(text, text, text, text, text, int4, float8, int4, text, jsonb, oid)',
    'dwc._continue_chain(int8, text, int8, oid)', 'dwc._continue_chain_async(int8, text, int8, text, oid)',
    'dwc._set_chain_status(int8, text, oid)',
    'dwc._update_chain(int8, text, text, text, text, int4, float8, int4, text, jsonb, oid)',
    'dwc._delete_chain(int8, oid)', 'dwc._get_chain(int8, bool, oid)', 'dwc._list_chains(text, oid)',
    'dwc._get_document(int8, oid)', 'dwc._edit_document(int8, text, text, oid)',
    'dwc._document_versions(int8, oid)', 'dwc._generate_title(int8, oid)', 'dwc._score_quality(int8, oid)',
    'dwc._export_chain_markdown(int8, oid)', 'dwc._export_chain_json(int8, oid)',
    'dwc._chain_analytics(int8, oid)', 'dwc._search_documents(text, int8, int4, float8, oid)',
    'dwc.__chain_job_failed(int8, text, text, oid)']);
DO $$
DECLARE
    f text;
BEGIN
    FOREACH f IN ARRAY ARRAY['dwc._own_chain(int8, oid, bool)', 'dwc._own_document(int8, oid)',
                             'dwc._generate_document(dwc.chains, int8, text, oid)',
                             'dwc._chain_event(int8, text, int8, jsonb)', 'dwc._df_add(int8[], real[], int4)',
                             'dwc._documents_df()', 'dwc._job_chain_continue(jsonb)']
    LOOP
        EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f);
    END LOOP;
END;
$$;
GRANT EXECUTE ON FUNCTION dwc._job_chain_continue(pg_catalog.jsonb) TO PUBLIC;

-- API: Public

CREATE FUNCTION dwc.create_chain(
    name pg_catalog.text,
    initial_prompt pg_catalog.text,
    description pg_catalog.text DEFAULT NULL,
    provider pg_catalog.text DEFAULT NULL,
    model pg_catalog.text DEFAULT NULL,
    context_budget pg_catalog.int4 DEFAULT NULL,
    temperature pg_catalog.float8 DEFAULT NULL,
    max_tokens pg_catalog.int4 DEFAULT NULL,
    style pg_catalog.text DEFAULT NULL,
    settings pg_catalog.jsonb DEFAULT NULL)
RETURNS pg_catalog.jsonb
LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'dwc_trampoline';
COMMENT ON FUNCTION dwc.create_chain(pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.int4, pg_catalog.float8, pg_catalog.int4, pg_catalog.text, pg_catalog.jsonb) IS
  'Creates a chain and generates its first document from initial_prompt. provider defaults to '
  'builtin; context_budget (tokens, default 4000) bounds what each generation sees of the earlier '
  'documents; max_tokens (default 800) bounds each document. Returns the chain with its root document.';

CREATE FUNCTION dwc.continue_chain(chain_id pg_catalog.int8, prompt pg_catalog.text DEFAULT NULL,
                                   from_document pg_catalog.int8 DEFAULT NULL)
RETURNS pg_catalog.jsonb
LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'dwc_trampoline';
COMMENT ON FUNCTION dwc.continue_chain(pg_catalog.int8, pg_catalog.text, pg_catalog.int8) IS
  'Generates the next document of an active chain from from_document (default: the latest '
  'document; another document makes a branch). Without a prompt, one is derived from the parent''s '
  'title and keywords. Returns the new document.';

CREATE FUNCTION dwc.continue_chain_async(chain_id pg_catalog.int8, prompt pg_catalog.text DEFAULT NULL,
                                         from_document pg_catalog.int8 DEFAULT NULL,
                                         priority pg_catalog.text DEFAULT 'normal')
RETURNS pg_catalog.int8
LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'dwc_trampoline';
COMMENT ON FUNCTION dwc.continue_chain_async(pg_catalog.int8, pg_catalog.text, pg_catalog.int8, pg_catalog.text) IS
  'Like dwc.continue_chain(), as a job (kind chain.continue) run by the queue as the caller: returns '
  'the job id at once. The new document is announced on channel dwc_chain_<id> and in dwc.chain_events.';

CREATE FUNCTION dwc.set_chain_status(chain_id pg_catalog.int8, status pg_catalog.text)
RETURNS pg_catalog.jsonb
LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'dwc_trampoline';
COMMENT ON FUNCTION dwc.set_chain_status(pg_catalog.int8, pg_catalog.text) IS
  'Moves a chain to another status: active <-> paused, active or paused -> completed, any but '
  'archived -> archived. Other moves raise object_not_in_prerequisite_state (55000).';

CREATE FUNCTION dwc.pause_chain(chain_id pg_catalog.int8) RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE RETURN dwc.set_chain_status(chain_id, 'paused');
COMMENT ON FUNCTION dwc.pause_chain(pg_catalog.int8) IS 'Pauses an active chain: it grows no more until resumed.';
CREATE FUNCTION dwc.resume_chain(chain_id pg_catalog.int8) RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE RETURN dwc.set_chain_status(chain_id, 'active');
COMMENT ON FUNCTION dwc.resume_chain(pg_catalog.int8) IS 'Resumes a paused chain.';
CREATE FUNCTION dwc.complete_chain(chain_id pg_catalog.int8) RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE RETURN dwc.set_chain_status(chain_id, 'completed');
COMMENT ON FUNCTION dwc.complete_chain(pg_catalog.int8) IS
  'Marks a chain completed: no more documents, no more edits; it can still be read, exported, archived.';

CREATE FUNCTION dwc.update_chain(chain_id pg_catalog.int8, name pg_catalog.text DEFAULT NULL,
    description pg_catalog.text DEFAULT NULL, provider pg_catalog.text DEFAULT NULL,
    model pg_catalog.text DEFAULT NULL, context_budget pg_catalog.int4 DEFAULT NULL,
    temperature pg_catalog.float8 DEFAULT NULL, max_tokens pg_catalog.int4 DEFAULT NULL,
    style pg_catalog.text DEFAULT NULL, settings pg_catalog.jsonb DEFAULT NULL)
RETURNS pg_catalog.jsonb
LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'dwc_trampoline';
COMMENT ON FUNCTION dwc.update_chain(pg_catalog.int8, pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.int4, pg_catalog.float8, pg_catalog.int4, pg_catalog.text, pg_catalog.jsonb) IS
  'Changes a chain''s name, description or generation settings (NULL keeps a field); affects documents generated from now on.';

CREATE FUNCTION dwc.delete_chain(chain_id pg_catalog.int8) RETURNS pg_catalog.bool
LANGUAGE c VOLATILE STRICT AS 'MODULE_PATHNAME', 'dwc_trampoline';
COMMENT ON FUNCTION dwc.delete_chain(pg_catalog.int8) IS 'Deletes a chain with its documents, versions and events.';

CREATE FUNCTION dwc.get_chain(chain_id pg_catalog.int8, with_content pg_catalog.bool DEFAULT true)
RETURNS pg_catalog.jsonb
LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'dwc_trampoline';
COMMENT ON FUNCTION dwc.get_chain(pg_catalog.int8, pg_catalog.bool) IS
  'A chain with its documents (their content unless with_content is false), oldest first.';

CREATE FUNCTION dwc.list_chains(status pg_catalog.text DEFAULT NULL) RETURNS pg_catalog.jsonb
LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'dwc_trampoline';
COMMENT ON FUNCTION dwc.list_chains(pg_catalog.text) IS 'The caller''s chains, newest first, optionally of one status.';

CREATE FUNCTION dwc.get_document(document_id pg_catalog.int8) RETURNS pg_catalog.jsonb
LANGUAGE c STABLE STRICT AS 'MODULE_PATHNAME', 'dwc_trampoline';
COMMENT ON FUNCTION dwc.get_document(pg_catalog.int8) IS 'A document with its prompt, usage, quality and context metadata.';

CREATE FUNCTION dwc.edit_document(document_id pg_catalog.int8, content pg_catalog.text DEFAULT NULL,
                                  title pg_catalog.text DEFAULT NULL)
RETURNS pg_catalog.jsonb
LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'dwc_trampoline';
COMMENT ON FUNCTION dwc.edit_document(pg_catalog.int8, pg_catalog.text, pg_catalog.text) IS
  'Replaces a document''s content and/or title, keeping the previous version in '
  'dwc.document_versions; summary, quality and embedding are recomputed.';

CREATE FUNCTION dwc.document_versions(document_id pg_catalog.int8) RETURNS pg_catalog.jsonb
LANGUAGE c STABLE STRICT AS 'MODULE_PATHNAME', 'dwc_trampoline';
COMMENT ON FUNCTION dwc.document_versions(pg_catalog.int8) IS 'Every version of a document, oldest first, the current one last.';

CREATE FUNCTION dwc.generate_title(document_id pg_catalog.int8) RETURNS pg_catalog.text
LANGUAGE c VOLATILE STRICT AS 'MODULE_PATHNAME', 'dwc_trampoline';
COMMENT ON FUNCTION dwc.generate_title(pg_catalog.int8) IS
  'Generates and stores a new title for a document: with the chain''s provider, or with dwc.text_title() for builtin.';

CREATE FUNCTION dwc.score_quality(document_id pg_catalog.int8) RETURNS pg_catalog.jsonb
LANGUAGE c VOLATILE STRICT AS 'MODULE_PATHNAME', 'dwc_trampoline';
COMMENT ON FUNCTION dwc.score_quality(pg_catalog.int8) IS
  'Recomputes and stores a document''s quality (dwc.text_quality() against its prompt).';

CREATE FUNCTION dwc.export_chain_markdown(chain_id pg_catalog.int8) RETURNS pg_catalog.text
LANGUAGE c STABLE STRICT AS 'MODULE_PATHNAME', 'dwc_trampoline';
COMMENT ON FUNCTION dwc.export_chain_markdown(pg_catalog.int8) IS
  'The chain as one Markdown document, depth-first so that branches follow their parent.';

CREATE FUNCTION dwc.export_chain_json(chain_id pg_catalog.int8) RETURNS pg_catalog.jsonb
LANGUAGE c STABLE STRICT AS 'MODULE_PATHNAME', 'dwc_trampoline';
COMMENT ON FUNCTION dwc.export_chain_json(pg_catalog.int8) IS
  'The chain and all its documents as one JSON document (format dwc.chain/1).';

CREATE FUNCTION dwc.chain_analytics(chain_id pg_catalog.int8) RETURNS pg_catalog.jsonb
LANGUAGE c STABLE STRICT AS 'MODULE_PATHNAME', 'dwc_trampoline';
COMMENT ON FUNCTION dwc.chain_analytics(pg_catalog.int8) IS
  'Per chain: documents, depth, branches, tokens, cost, average quality, generation time, edits, words, time span.';

CREATE FUNCTION dwc.search_documents(query pg_catalog.text, chain_id pg_catalog.int8 DEFAULT NULL,
                                     lim pg_catalog.int4 DEFAULT 10, semantic_weight pg_catalog.float8 DEFAULT 0.5)
RETURNS pg_catalog.jsonb
LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'dwc_trampoline';
COMMENT ON FUNCTION dwc.search_documents(pg_catalog.text, pg_catalog.int8, pg_catalog.int4, pg_catalog.float8) IS
  'Hybrid search of the caller''s documents: score = (1 - semantic_weight) x full-text rank '
  '(normalised to the best match) + semantic_weight x TF-IDF cosine of builtin embeddings. Without '
  'chain_id, candidates are the documents matching any word of the query; with it, all the chain''s documents.';

-- ---- src/ml/ml.sql ----
-- src/ml/ml.sql: machine learning inside the database. See src/ml/README.md and docs/ml.md.

-- API: Private (tables)

CREATE TABLE dwc.ml_models (
    id pg_catalog.int8 GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    name pg_catalog.text NOT NULL CHECK (length(name) BETWEEN 1 AND 200 AND name !~ '^#'),
    owner pg_catalog.oid NOT NULL,
    owner_user pg_catalog.text,
    task pg_catalog.text NOT NULL CHECK (task IN ('classification', 'regression', 'clustering')),
    algorithm pg_catalog.text NOT NULL CHECK (algorithm IN ('linear_regression', 'ridge', 'lasso', 'elastic_net',
        'logistic_regression', 'decision_tree', 'random_forest', 'naive_bayes', 'knn', 'kmeans')),
    hyperparameters pg_catalog.jsonb NOT NULL DEFAULT '{}',
    description pg_catalog.text,
    deployed_version pg_catalog.int4,
    created_at pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now(),
    updated_at pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE dwc.ml_models IS
  'ML models: name (unique per owner), task, algorithm, hyperparameters, and the version predictions use.';
CREATE UNIQUE INDEX ml_models_name ON dwc.ml_models (owner, (coalesce(owner_user, '')), name);
CREATE INDEX ml_models_by_name ON dwc.ml_models (name);

CREATE TABLE dwc.ml_model_versions (
    model_id pg_catalog.int8 NOT NULL REFERENCES dwc.ml_models (id) ON DELETE CASCADE,
    version pg_catalog.int4 NOT NULL,
    source pg_catalog.text,                  -- the table, view or query trained on; NULL: training_data
    training_data pg_catalog.jsonb,          -- the JSON rows trained on, when given as JSON
    target pg_catalog.text,
    features pg_catalog.text[] NOT NULL,     -- the feature columns, in the model's order
    options pg_catalog.jsonb NOT NULL,       -- split, NULL handling, encoding
    hyperparameters pg_catalog.jsonb NOT NULL,
    train_rows pg_catalog.int4 NOT NULL,
    test_rows pg_catalog.int4 NOT NULL,
    metrics pg_catalog.jsonb NOT NULL,
    score pg_catalog.float8,                 -- what deployment compares: accuracy, R², silhouette
    training_ms pg_catalog.float8 NOT NULL,  -- reading, encoding, fitting and evaluating
    fit_ms pg_catalog.float8 NOT NULL,       -- fitting alone
    artifact pg_catalog.bytea NOT NULL,
    artifact_format pg_catalog.int4 NOT NULL,
    created_by pg_catalog.oid NOT NULL,
    created_at pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (model_id, version)
);
COMMENT ON TABLE dwc.ml_model_versions IS
  'Trained versions of ML models: what they were trained on and how, their metrics on held-out rows, '
  'and the model itself (artifact, format in src/ml/artifact.c).';
-- artifacts are doubles: pglz would spend time for little
ALTER TABLE dwc.ml_model_versions ALTER COLUMN artifact SET STORAGE EXTERNAL;

CREATE TABLE dwc.ml_deployments (
    id pg_catalog.int8 GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    model_id pg_catalog.int8 NOT NULL REFERENCES dwc.ml_models (id) ON DELETE CASCADE,
    version pg_catalog.int4 NOT NULL,
    strategy pg_catalog.text NOT NULL,
    deployed_by pg_catalog.oid NOT NULL,
    deployed_at pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp()
);
COMMENT ON TABLE dwc.ml_deployments IS 'Every deployment of a model version, for rollback and history.';
CREATE INDEX ml_deployments_model ON dwc.ml_deployments (model_id, id);

SELECT pg_catalog.pg_extension_config_dump('dwc.ml_models', '');
SELECT pg_catalog.pg_extension_config_dump('dwc.ml_models_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('dwc.ml_model_versions', '');
SELECT pg_catalog.pg_extension_config_dump('dwc.ml_deployments', '');

-- every change to models invalidates the backends' model caches at commit (src/ml/ml_cache.c)
CREATE FUNCTION dwc._ml_models_changed() RETURNS trigger
LANGUAGE c AS 'MODULE_PATHNAME', 'dwc__ml_models_changed';
COMMENT ON FUNCTION dwc._ml_models_changed() IS 'Private: tells model caches to look again once the change commits.';
CREATE TRIGGER ml_models_changed AFTER INSERT OR UPDATE OR DELETE ON dwc.ml_models
    FOR EACH STATEMENT EXECUTE FUNCTION dwc._ml_models_changed();

-- ---- C helpers ---------------------------------------------------------------------------

CREATE FUNCTION dwc._ml_check_hyperparameters(task pg_catalog.text, algorithm pg_catalog.text,
                                              hyperparameters pg_catalog.jsonb)
RETURNS void
LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'dwc__ml_check_hyperparameters';
COMMENT ON FUNCTION dwc._ml_check_hyperparameters(pg_catalog.text, pg_catalog.text, pg_catalog.jsonb) IS
  'Private: raises an error naming the first unknown or out-of-range hyperparameter of an algorithm.';

CREATE FUNCTION dwc.ml_artifact_info(artifact pg_catalog.bytea) RETURNS pg_catalog.jsonb
LANGUAGE c IMMUTABLE STRICT AS 'MODULE_PATHNAME', 'dwc_ml_artifact_info';
COMMENT ON FUNCTION dwc.ml_artifact_info(pg_catalog.bytea) IS
  'Reads a model artifact (dwc.ml_model_versions.artifact) and describes it: format, algorithm, task, '
  'inputs, columns and their encoding, classes, size of the model. Raises data_corrupted for a damaged artifact.';

-- ---- resolving a model by name ----------------------------------------------------------

-- The caller's model of that name; else, for whoever may manage several (administrators),
-- the only one of that name; "#<id>" names a model by id.
CREATE FUNCTION dwc._ml_resolve(model pg_catalog.text, caller pg_catalog.oid, lock pg_catalog.bool DEFAULT false)
RETURNS dwc.ml_models
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    m dwc.ml_models;
    n int4;
BEGIN
    IF model IS NULL THEN
        RAISE EXCEPTION 'the model name must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF model ~ '^#[0-9]{1,18}$' THEN
        SELECT * INTO m FROM dwc.ml_models WHERE id = substr(model, 2)::int8
           AND dwc._may_manage(caller, owner, owner_user);
        n := CASE WHEN FOUND THEN 1 ELSE 0 END;
    ELSE
        SELECT * INTO m FROM dwc.ml_models
         WHERE name = model AND owner = caller AND owner_user IS NOT DISTINCT FROM dwc._claims_sub();
        IF FOUND THEN
            n := 1;
        ELSE
            SELECT count(*) INTO n FROM dwc.ml_models WHERE name = model AND dwc._may_manage(caller, owner, owner_user);
            IF n > 1 THEN
                RAISE EXCEPTION 'several users have an ML model named "%"', model
                    USING ERRCODE = 'ambiguous_parameter', HINT = 'Name it by id: ''#<id>''.';
            END IF;
            SELECT * INTO m FROM dwc.ml_models WHERE name = model AND dwc._may_manage(caller, owner, owner_user);
        END IF;
    END IF;
    IF n = 0 THEN
        RAISE EXCEPTION 'ML model "%" does not exist', model
            USING ERRCODE = 'no_data_found', HINT = 'See dwc.ml_models() for your models.';
    END IF;
    IF lock THEN
        SELECT * INTO m FROM dwc.ml_models WHERE id = m.id FOR UPDATE;
    END IF;
    RETURN m;
END;
$$;
COMMENT ON FUNCTION dwc._ml_resolve(pg_catalog.text, pg_catalog.oid, pg_catalog.bool) IS
  'Private: the model a caller means by a name (or "#<id>"), optionally locked.';

CREATE FUNCTION dwc._ml_version_json(v dwc.ml_model_versions, deployed pg_catalog.int4) RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
RETURN jsonb_strip_nulls(jsonb_build_object(
    'version', v.version, 'deployed', v.version IS NOT DISTINCT FROM deployed, 'source', v.source,
    'training_data_rows', CASE WHEN v.training_data IS NOT NULL THEN jsonb_array_length(v.training_data) END,
    'target', v.target, 'features', to_jsonb(v.features), 'options', v.options,
    'hyperparameters', v.hyperparameters, 'train_rows', v.train_rows, 'test_rows', v.test_rows,
    'metrics', v.metrics, 'score', v.score, 'training_ms', round(v.training_ms::numeric, 3),
    'fit_ms', round(v.fit_ms::numeric, 3), 'artifact_bytes', length(v.artifact),
    'artifact_format', v.artifact_format, 'created_at', v.created_at));

CREATE FUNCTION dwc._ml_model_json(m dwc.ml_models) RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
RETURN jsonb_strip_nulls(jsonb_build_object(
    'id', m.id, 'name', m.name, 'task', m.task, 'algorithm', m.algorithm,
    'hyperparameters', m.hyperparameters, 'description', m.description, 'owner', m.owner::regrole,
    'owner_user', m.owner_user, 'deployed_version', m.deployed_version,
    'versions', (SELECT count(*) FROM dwc.ml_model_versions v WHERE v.model_id = m.id),
    'created_at', m.created_at, 'updated_at', m.updated_at,
    'deployed', (SELECT dwc._ml_version_json(v, m.deployed_version) - 'deployed'
                   FROM dwc.ml_model_versions v WHERE v.model_id = m.id AND v.version = m.deployed_version)));

-- ---- what dwc.ml_train() (C, src/ml/ml_train.c) calls ----------------------------------

CREATE FUNCTION dwc._ml_train_begin(model pg_catalog.text, caller pg_catalog.oid) RETURNS pg_catalog.jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    -- locked: concurrent trainings of one model number their versions one after the other
    m dwc.ml_models := dwc._ml_resolve(model, caller, true);
BEGIN
    RETURN jsonb_build_object('id', m.id, 'name', m.name, 'task', m.task, 'algorithm', m.algorithm,
                              'hyperparameters', m.hyperparameters);
END;
$$;
COMMENT ON FUNCTION dwc._ml_train_begin(pg_catalog.text, pg_catalog.oid) IS
  'Private: the model to train, locked until the training''s transaction ends.';

CREATE FUNCTION dwc._ml_deploy_version(m dwc.ml_models, version pg_catalog.int4, strategy pg_catalog.text,
                                       caller pg_catalog.oid)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    UPDATE dwc.ml_models SET deployed_version = version, updated_at = now() WHERE id = m.id;
    INSERT INTO dwc.ml_deployments (model_id, version, strategy, deployed_by) VALUES (m.id, version, strategy, caller);
END;
$$;
COMMENT ON FUNCTION dwc._ml_deploy_version(dwc.ml_models, pg_catalog.int4, pg_catalog.text, pg_catalog.oid) IS
  'Private: makes a version the one predictions use, and records the deployment.';

CREATE FUNCTION dwc._ml_train_store(model_id pg_catalog.int8, info pg_catalog.jsonb, artifact pg_catalog.bytea,
                                    caller pg_catalog.oid)
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    m dwc.ml_models;
    v dwc.ml_model_versions;
    policy text := coalesce(info->>'deploy', 'best');
    current_score float8;
    deploy bool;
BEGIN
    SELECT * INTO m FROM dwc.ml_models WHERE id = model_id FOR UPDATE;
    IF NOT FOUND OR NOT dwc._may_manage(caller, m.owner, m.owner_user) THEN
        RAISE EXCEPTION 'ML model % does not exist', model_id USING ERRCODE = 'no_data_found';
    END IF;
    INSERT INTO dwc.ml_model_versions (model_id, version, source, training_data, target, features, options,
                                       hyperparameters, train_rows, test_rows, metrics, score, training_ms, fit_ms,
                                       artifact, artifact_format, created_by)
    VALUES (m.id, coalesce((SELECT max(x.version) FROM dwc.ml_model_versions x WHERE x.model_id = m.id), 0) + 1,
            info->>'source', CASE WHEN jsonb_typeof(info->'training_data') = 'array' THEN info->'training_data' END,
            info->>'target',
            ARRAY(SELECT jsonb_array_elements_text(info->'features')), info->'options', info->'hyperparameters',
            (info->>'train_rows')::int4, (info->>'test_rows')::int4, info->'metrics', (info->>'score')::float8,
            (info->>'training_ms')::float8, (info->>'fit_ms')::float8, artifact, (info->>'artifact_format')::int4,
            caller)
    RETURNING * INTO v;
    -- best: deploy unless the deployed version scores higher
    SELECT x.score INTO current_score FROM dwc.ml_model_versions x
     WHERE x.model_id = m.id AND x.version = m.deployed_version;
    deploy := CASE policy
        WHEN 'always' THEN true
        WHEN 'never' THEN false
        ELSE m.deployed_version IS NULL OR current_score IS NULL OR v.score >= current_score END;
    IF deploy THEN
        PERFORM dwc._ml_deploy_version(m, v.version, 'train:' || policy, caller);
    END IF;
    RETURN jsonb_build_object('model', m.name, 'model_id', m.id)
        || dwc._ml_version_json(v, CASE WHEN deploy THEN v.version ELSE m.deployed_version END)
        || jsonb_build_object('deployed_version', CASE WHEN deploy THEN v.version ELSE m.deployed_version END);
END;
$$;
COMMENT ON FUNCTION dwc._ml_train_store(pg_catalog.int8, pg_catalog.jsonb, pg_catalog.bytea, pg_catalog.oid) IS
  'Private: stores a trained version and deploys it by policy (best, always, never).';

-- ---- the model API (through the trampoline: see src/core/trampoline.c) ------------------

CREATE FUNCTION dwc._ml_create_model(name pg_catalog.text, task pg_catalog.text, algorithm pg_catalog.text,
                                     hyperparameters pg_catalog.jsonb, description pg_catalog.text,
                                     caller pg_catalog.oid)
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    m dwc.ml_models;
BEGIN
    IF name IS NULL OR length(name) NOT BETWEEN 1 AND 200 OR name ~ '^#' THEN
        RAISE EXCEPTION 'a model name is 1 to 200 characters and does not start with "#"'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF task IS NULL OR algorithm IS NULL THEN
        RAISE EXCEPTION 'task and algorithm must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    PERFORM dwc._ml_check_hyperparameters(task, algorithm, coalesce(hyperparameters, '{}'));
    BEGIN
        INSERT INTO dwc.ml_models (name, owner, owner_user, task, algorithm, hyperparameters, description)
        VALUES (name, caller, dwc._claims_sub(), task, algorithm, coalesce(hyperparameters, '{}'), description)
        RETURNING * INTO m;
    EXCEPTION WHEN unique_violation THEN
        RAISE EXCEPTION 'you already have an ML model named "%"', name
            USING ERRCODE = 'unique_violation', HINT = 'Pick another name, or train the existing model again.';
    END;
    RETURN dwc._ml_model_json(m);
END;
$$;

CREATE FUNCTION dwc._ml_update_model(model pg_catalog.text, hyperparameters pg_catalog.jsonb,
                                     description pg_catalog.text, caller pg_catalog.oid)
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    m dwc.ml_models := dwc._ml_resolve(model, caller, true);
BEGIN
    IF hyperparameters IS NOT NULL THEN
        PERFORM dwc._ml_check_hyperparameters(m.task, m.algorithm, hyperparameters);
    END IF;
    UPDATE dwc.ml_models SET hyperparameters = coalesce(_ml_update_model.hyperparameters, ml_models.hyperparameters),
                             description = coalesce(_ml_update_model.description, ml_models.description),
                             updated_at = now()
     WHERE id = m.id RETURNING * INTO m;
    RETURN dwc._ml_model_json(m);
END;
$$;

CREATE FUNCTION dwc._ml_model(model pg_catalog.text, caller pg_catalog.oid) RETURNS pg_catalog.jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    m dwc.ml_models := dwc._ml_resolve(model, caller);
BEGIN
    RETURN dwc._ml_model_json(m) || jsonb_build_object(
        'schema', (SELECT dwc.ml_artifact_info(v.artifact) FROM dwc.ml_model_versions v
                    WHERE v.model_id = m.id AND v.version = m.deployed_version),
        'latest_version', (SELECT dwc._ml_version_json(v, m.deployed_version) FROM dwc.ml_model_versions v
                            WHERE v.model_id = m.id ORDER BY v.version DESC LIMIT 1));
END;
$$;

CREATE FUNCTION dwc._ml_models(task pg_catalog.text, caller pg_catalog.oid) RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
RETURN (SELECT coalesce(jsonb_agg(dwc._ml_model_json(m) ORDER BY m.id DESC), '[]')
          FROM dwc.ml_models m
         WHERE dwc._may_manage(caller, m.owner, m.owner_user) AND (_ml_models.task IS NULL OR m.task = _ml_models.task));

CREATE FUNCTION dwc._ml_delete_model(model pg_catalog.text, caller pg_catalog.oid) RETURNS pg_catalog.bool
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    m dwc.ml_models := dwc._ml_resolve(model, caller, true);
BEGIN
    DELETE FROM dwc.ml_models WHERE id = m.id;
    RETURN true;
END;
$$;

CREATE FUNCTION dwc._ml_performance(model pg_catalog.text, caller pg_catalog.oid) RETURNS pg_catalog.jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    m dwc.ml_models := dwc._ml_resolve(model, caller);
BEGIN
    RETURN jsonb_build_object(
        'model', m.name, 'task', m.task, 'algorithm', m.algorithm, 'deployed_version', m.deployed_version,
        'versions', (SELECT coalesce(jsonb_agg(jsonb_strip_nulls(jsonb_build_object(
                                'version', v.version, 'deployed', v.version IS NOT DISTINCT FROM m.deployed_version,
                                'score', v.score, 'metrics', v.metrics, 'train_rows', v.train_rows,
                                'test_rows', v.test_rows, 'training_ms', round(v.training_ms::numeric, 3),
                                'created_at', v.created_at)) ORDER BY v.version), '[]')
                       FROM dwc.ml_model_versions v WHERE v.model_id = m.id),
        'deployments', (SELECT coalesce(jsonb_agg(jsonb_build_object('version', d.version, 'strategy', d.strategy,
                                                                      'at', d.deployed_at) ORDER BY d.id), '[]')
                          FROM dwc.ml_deployments d WHERE d.model_id = m.id));
END;
$$;

CREATE FUNCTION dwc._ml_deploy(model pg_catalog.text, version pg_catalog.int4, strategy pg_catalog.text,
                               caller pg_catalog.oid)
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    m dwc.ml_models := dwc._ml_resolve(model, caller, true);
    how text := coalesce(strategy, CASE WHEN version IS NULL THEN 'best' ELSE 'version' END);
    chosen int4;
BEGIN
    IF version IS NOT NULL AND how <> 'version' THEN
        RAISE EXCEPTION 'give a version or a strategy, not both' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    CASE how
        WHEN 'version' THEN
            chosen := version;
        WHEN 'best' THEN
            SELECT v.version INTO chosen FROM dwc.ml_model_versions v WHERE v.model_id = m.id
             ORDER BY v.score DESC NULLS LAST, v.version DESC LIMIT 1;
        WHEN 'latest' THEN
            SELECT max(v.version) INTO chosen FROM dwc.ml_model_versions v WHERE v.model_id = m.id;
        WHEN 'rollback' THEN
            -- the version deployed before the current one
            SELECT d.version INTO chosen FROM dwc.ml_deployments d
             WHERE d.model_id = m.id AND d.version IS DISTINCT FROM m.deployed_version
               AND d.id < coalesce((SELECT max(c.id) FROM dwc.ml_deployments c
                                     WHERE c.model_id = m.id AND c.version = m.deployed_version), 0)
             ORDER BY d.id DESC LIMIT 1;
            IF chosen IS NULL THEN
                RAISE EXCEPTION 'ML model "%" has no earlier deployment to roll back to', m.name
                    USING ERRCODE = 'object_not_in_prerequisite_state';
            END IF;
        ELSE
            RAISE EXCEPTION 'unknown deployment strategy "%"', how
                USING ERRCODE = 'invalid_parameter_value', HINT = 'The strategies are best, latest and rollback.';
    END CASE;
    IF chosen IS NULL OR NOT EXISTS (SELECT 1 FROM dwc.ml_model_versions v WHERE v.model_id = m.id AND v.version = chosen) THEN
        RAISE EXCEPTION 'ML model "%" has no version %', m.name, coalesce(chosen::text, '(none trained yet)')
            USING ERRCODE = 'no_data_found';
    END IF;
    PERFORM dwc._ml_deploy_version(m, chosen, how, caller);
    SELECT * INTO m FROM dwc.ml_models WHERE id = m.id;
    RETURN dwc._ml_model_json(m);
END;
$$;

CREATE FUNCTION dwc._ml_stats(caller pg_catalog.oid) RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
RETURN (WITH mine AS (SELECT * FROM dwc.ml_models m WHERE dwc._may_manage(caller, m.owner, m.owner_user)),
             vers AS (SELECT v.* FROM dwc.ml_model_versions v JOIN mine ON mine.id = v.model_id)
        SELECT jsonb_build_object(
            'models', (SELECT count(*) FROM mine),
            'deployed', (SELECT count(*) FROM mine WHERE deployed_version IS NOT NULL),
            'versions', (SELECT count(*) FROM vers),
            'by_task', (SELECT coalesce(jsonb_object_agg(task, n), '{}') FROM (SELECT task, count(*) AS n FROM mine GROUP BY task) t),
            'by_algorithm', (SELECT coalesce(jsonb_object_agg(algorithm, n), '{}')
                               FROM (SELECT algorithm, count(*) AS n FROM mine GROUP BY algorithm) a),
            'training_ms_avg', (SELECT round(avg(training_ms)::numeric, 3) FROM vers),
            'artifact_bytes', (SELECT coalesce(sum(length(artifact)), 0) FROM vers),
            'last_trained_at', (SELECT max(created_at) FROM vers)));

CREATE FUNCTION dwc._ml_train_async(model pg_catalog.text, payload pg_catalog.jsonb, priority pg_catalog.text,
                                    caller pg_catalog.oid)
RETURNS pg_catalog.int8
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    m dwc.ml_models := dwc._ml_resolve(model, caller);
BEGIN
    -- the job runs dwc.ml_train() as the caller, who owns the model and reads the data
    RETURN dwc._enqueue_as('ml.train', payload || jsonb_build_object('model', '#' || m.id),
                           coalesce(priority, 'normal'), caller);
END;
$$;

CREATE FUNCTION dwc._ml_retrain_spec(model pg_catalog.text, caller pg_catalog.oid) RETURNS pg_catalog.jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    m dwc.ml_models := dwc._ml_resolve(model, caller);
    v dwc.ml_model_versions;
BEGIN
    SELECT * INTO v FROM dwc.ml_model_versions x WHERE x.model_id = m.id ORDER BY x.version DESC LIMIT 1;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'ML model "%" was never trained', m.name
            USING ERRCODE = 'object_not_in_prerequisite_state', HINT = 'Train it first with dwc.ml_train().';
    END IF;
    RETURN jsonb_build_object('model', '#' || m.id, 'source', v.source, 'training_data', v.training_data,
                              'target', v.target, 'features', to_jsonb(v.features), 'options', v.options);
END;
$$;
COMMENT ON FUNCTION dwc._ml_retrain_spec(pg_catalog.text, pg_catalog.oid) IS
  'Private: what the latest version of a model was trained on, for dwc.ml_retrain().';

SELECT dwc._trampoline_targets(ARRAY[
    'dwc._ml_create_model(text, text, text, jsonb, text, oid)', 'dwc._ml_update_model(text, jsonb, text, oid)',
    'dwc._ml_model(text, oid)', 'dwc._ml_models(text, oid)', 'dwc._ml_delete_model(text, oid)',
    'dwc._ml_performance(text, oid)', 'dwc._ml_deploy(text, int4, text, oid)', 'dwc._ml_stats(oid)',
    'dwc._ml_train_async(text, jsonb, text, oid)']);
DO $$
DECLARE
    f text;
BEGIN
    FOREACH f IN ARRAY ARRAY['dwc._ml_resolve(text, oid, bool)', 'dwc._ml_train_begin(text, oid)',
                             'dwc._ml_retrain_spec(text, oid)',
                             'dwc._ml_train_store(int8, jsonb, bytea, oid)',
                             'dwc._ml_deploy_version(dwc.ml_models, int4, text, oid)',
                             'dwc._ml_check_hyperparameters(text, text, jsonb)', 'dwc._ml_models_changed()',
                             'dwc._ml_version_json(dwc.ml_model_versions, int4)', 'dwc._ml_model_json(dwc.ml_models)']
    LOOP
        EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f);
    END LOOP;
END;
$$;

-- ---- training as a job ------------------------------------------------------------------

CREATE FUNCTION dwc._job_ml_train(payload pg_catalog.jsonb) RETURNS pg_catalog.jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r jsonb;
    state text;
    msg text;
BEGIN
    r := dwc.ml_train(payload->>'model', payload->>'source',
                      CASE WHEN jsonb_typeof(payload->'training_data') = 'array' THEN payload->'training_data' END,
                      payload->>'target',
                      CASE WHEN jsonb_typeof(payload->'features') = 'array'
                           THEN ARRAY(SELECT jsonb_array_elements_text(payload->'features')) END,
                      CASE WHEN jsonb_typeof(payload->'options') = 'object' THEN payload->'options' ELSE '{}' END,
                      coalesce(payload->>'deploy', 'best'));
    RETURN jsonb_build_object('ok', true, 'model', r->'model', 'version', r->'version', 'score', r->'score',
                              'deployed_version', r->'deployed_version', 'metrics', r->'metrics');
EXCEPTION
    -- errors another attempt cannot fix end the job with the reason; others are retried
    WHEN invalid_parameter_value OR no_data_found OR undefined_column OR undefined_table OR datatype_mismatch
         OR null_value_not_allowed OR insufficient_privilege OR syntax_error OR feature_not_supported THEN
        GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
        RETURN jsonb_build_object('ok', false, 'sqlstate', state, 'error', msg);
END;
$$;
COMMENT ON FUNCTION dwc._job_ml_train(pg_catalog.jsonb) IS
  'Private: handler of ml.train jobs (dwc.ml_train_async()); runs dwc.ml_train() as the job''s enqueuer. '
  'Bad input ends the job with {"ok": false}; other errors are retried by the queue.';
GRANT EXECUTE ON FUNCTION dwc._job_ml_train(pg_catalog.jsonb) TO PUBLIC;

INSERT INTO dwc.job_kinds (kind, handler, description, default_timeout_ms, default_max_attempts)
VALUES ('ml.train', 'dwc._job_ml_train(pg_catalog.jsonb)'::regprocedure,
        'Trains a version of an ML model (dwc.ml_train_async).', 3600000, 3);

-- API: Public

CREATE FUNCTION dwc.ml_create_model(name pg_catalog.text, task pg_catalog.text, algorithm pg_catalog.text,
                                    hyperparameters pg_catalog.jsonb DEFAULT '{}',
                                    description pg_catalog.text DEFAULT NULL)
RETURNS pg_catalog.jsonb
LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'dwc_trampoline';
COMMENT ON FUNCTION dwc.ml_create_model(pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.jsonb, pg_catalog.text) IS
  'Creates an ML model: name (unique among the caller''s models), task (classification, regression, '
  'clustering), algorithm (linear_regression, ridge, lasso, elastic_net, logistic_regression, '
  'decision_tree, random_forest, naive_bayes, knn, kmeans) and hyperparameters (scikit-learn''s names '
  'and defaults; see docs/ml.md). Train it with dwc.ml_train().';

CREATE FUNCTION dwc.ml_update_model(model pg_catalog.text, hyperparameters pg_catalog.jsonb DEFAULT NULL,
                                    description pg_catalog.text DEFAULT NULL)
RETURNS pg_catalog.jsonb
LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'dwc_trampoline';
COMMENT ON FUNCTION dwc.ml_update_model(pg_catalog.text, pg_catalog.jsonb, pg_catalog.text) IS
  'Changes a model''s hyperparameters (used by the next training) or description; NULL keeps a field.';

CREATE FUNCTION dwc.ml_train(model pg_catalog.text, source pg_catalog.text DEFAULT NULL,
                             training_data pg_catalog.jsonb DEFAULT NULL, target pg_catalog.text DEFAULT NULL,
                             features pg_catalog.text[] DEFAULT NULL, options pg_catalog.jsonb DEFAULT '{}',
                             deploy pg_catalog.text DEFAULT 'best')
RETURNS pg_catalog.jsonb
LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'dwc_ml_train';
COMMENT ON FUNCTION dwc.ml_train(pg_catalog.text, pg_catalog.text, pg_catalog.jsonb, pg_catalog.text, pg_catalog.text[], pg_catalog.jsonb, pg_catalog.text) IS
  'Trains a new version of a model on source (a table, a view or a query, read as the caller) or on '
  'training_data (a JSON array of objects), predicting target (not for clustering) from features '
  '(default: every other column). options: test_size (0.25), seed (42), stratify (true for '
  'classification), nulls (error or impute), max_categories (100). deploy: best (the default: if it '
  'scores at least as well as the deployed version), always, never. Returns the version with its metrics.';

CREATE FUNCTION dwc.ml_train_async(model pg_catalog.text, source pg_catalog.text DEFAULT NULL,
                                   training_data pg_catalog.jsonb DEFAULT NULL, target pg_catalog.text DEFAULT NULL,
                                   features pg_catalog.text[] DEFAULT NULL, options pg_catalog.jsonb DEFAULT '{}',
                                   deploy pg_catalog.text DEFAULT 'best', priority pg_catalog.text DEFAULT 'normal')
RETURNS pg_catalog.int8
LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'dwc_ml_train_async';
COMMENT ON FUNCTION dwc.ml_train_async(pg_catalog.text, pg_catalog.text, pg_catalog.jsonb, pg_catalog.text, pg_catalog.text[], pg_catalog.jsonb, pg_catalog.text, pg_catalog.text) IS
  'Like dwc.ml_train(), as a job (kind ml.train) run by the queue as the caller: returns the job id at '
  'once; dwc.job_status(id) has the outcome. A table or view name is resolved now, with the caller''s search_path.';

CREATE FUNCTION dwc.ml_retrain(model pg_catalog.text, deploy pg_catalog.text DEFAULT 'best')
RETURNS pg_catalog.jsonb
LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'dwc_ml_retrain';
COMMENT ON FUNCTION dwc.ml_retrain(pg_catalog.text, pg_catalog.text) IS
  'Trains a new version with the latest version''s source (or training_data), target, features and '
  'options on the data as it is now, and deploys it if it scores at least as well as the deployed one '
  '(deploy => ''always'' to deploy anyway).';

CREATE FUNCTION dwc.ml_predict(model pg_catalog.text, features pg_catalog.jsonb) RETURNS pg_catalog.jsonb
LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'dwc_ml_predict';
COMMENT ON FUNCTION dwc.ml_predict(pg_catalog.text, pg_catalog.jsonb) IS
  'The deployed version''s prediction for one row of features (a JSON object of column names and '
  'values): a class label, a value, or a cluster number. Missing, NULL (unless trained with '
  'imputation) and unknown features are errors.';

CREATE FUNCTION dwc.ml_predict_row(model pg_catalog.text, "row" record) RETURNS pg_catalog.jsonb
LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'dwc_ml_predict_row';
COMMENT ON FUNCTION dwc.ml_predict_row(pg_catalog.text, record) IS
  'The deployed version''s prediction for a row of a table or query, e.g. dwc.ml_predict_row(''churn'', c) '
  'FROM customers c: columns that are not features (a key, the target) are left aside; every feature must be there.';

CREATE FUNCTION dwc.ml_predict_array(model pg_catalog.text, inputs pg_catalog.float8[]) RETURNS pg_catalog.float8
LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'dwc_ml_predict_array';
COMMENT ON FUNCTION dwc.ml_predict_array(pg_catalog.text, pg_catalog.float8[]) IS
  'The deployed version''s prediction for already encoded inputs in the model''s order (one per numeric '
  'column, one per level of a text column): the class number, the value, or the cluster.';

CREATE FUNCTION dwc.ml_predict_proba(model pg_catalog.text, features pg_catalog.jsonb) RETURNS pg_catalog.jsonb
LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'dwc_ml_predict_proba';
COMMENT ON FUNCTION dwc.ml_predict_proba(pg_catalog.text, pg_catalog.jsonb) IS
  'Class probabilities for one row of features, as {label: probability}. Classifiers only.';

CREATE FUNCTION dwc.ml_predict_batch(model pg_catalog.text, rows pg_catalog.jsonb,
                                     probabilities pg_catalog.bool DEFAULT false)
RETURNS pg_catalog.jsonb
LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'dwc_ml_predict_batch';
COMMENT ON FUNCTION dwc.ml_predict_batch(pg_catalog.text, pg_catalog.jsonb, pg_catalog.bool) IS
  'Predictions for a JSON array of rows, in order; with probabilities, each is {prediction, probabilities}.';

CREATE FUNCTION dwc.ml_predict_query(model pg_catalog.text, query pg_catalog.text,
                                     probabilities pg_catalog.bool DEFAULT false)
RETURNS pg_catalog.jsonb
LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'dwc_ml_predict_query';
COMMENT ON FUNCTION dwc.ml_predict_query(pg_catalog.text, pg_catalog.text, pg_catalog.bool) IS
  'Predictions for the rows of a query (run as the caller; its columns are the features), as a JSON array in the query''s order.';

CREATE FUNCTION dwc.ml_model(model pg_catalog.text) RETURNS pg_catalog.jsonb
LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'dwc_trampoline';
COMMENT ON FUNCTION dwc.ml_model(pg_catalog.text) IS
  'A model: its settings, the deployed version (metrics, size, training time), its schema (features '
  'and encoding, classes) and the latest version.';

CREATE FUNCTION dwc.ml_models(task pg_catalog.text DEFAULT NULL) RETURNS pg_catalog.jsonb
LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'dwc_trampoline';
COMMENT ON FUNCTION dwc.ml_models(pg_catalog.text) IS 'The caller''s models, newest first, optionally of one task.';

CREATE FUNCTION dwc.ml_delete_model(model pg_catalog.text) RETURNS pg_catalog.bool
LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'dwc_trampoline';
COMMENT ON FUNCTION dwc.ml_delete_model(pg_catalog.text) IS 'Deletes a model with all its versions and deployments.';

CREATE FUNCTION dwc.ml_performance(model pg_catalog.text) RETURNS pg_catalog.jsonb
LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'dwc_trampoline';
COMMENT ON FUNCTION dwc.ml_performance(pg_catalog.text) IS
  'Every version''s score and metrics, and every deployment, oldest first.';

CREATE FUNCTION dwc.ml_deploy(model pg_catalog.text, version pg_catalog.int4 DEFAULT NULL,
                              strategy pg_catalog.text DEFAULT NULL)
RETURNS pg_catalog.jsonb
LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'dwc_trampoline';
COMMENT ON FUNCTION dwc.ml_deploy(pg_catalog.text, pg_catalog.int4, pg_catalog.text) IS
  'Makes a version the one predictions use: the version given, or by strategy: best (highest score; '
  'the default without a version), latest, rollback (the one deployed before the current one).';

CREATE FUNCTION dwc.ml_stats() RETURNS pg_catalog.jsonb
LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'dwc_trampoline';
COMMENT ON FUNCTION dwc.ml_stats() IS
  'The caller''s models: how many, deployed, versions, by task and algorithm, average training time, storage.';

-- ---- src/api/api.sql ----
-- src/api/api.sql: the schema PostgREST exposes, and where its functions' bodies live.
--
-- The files of src/api define each endpoint in schema api_impl: a thin, documented wrapper
-- (named arguments, jsonb results) over the dwc functions, which check ownership. At the
-- end of the install script (src/security/http.sql) every api_impl function gets its twin
-- in schema api: a C function (src/security/apicall.c) that checks access, calls the body
-- and gives errors the SQLSTATE that makes PostgREST answer the right HTTP status.

CREATE SCHEMA api;
COMMENT ON SCHEMA api IS
  'dwc''s HTTP API, served by PostgREST (db-schemas = api). Functions are RPC endpoints: '
  'POST /rpc/<name> with a JSON object of named arguments (GET for read-only ones).';

CREATE SCHEMA api_impl;
COMMENT ON SCHEMA api_impl IS
  'Bodies of the api functions; not exposed by PostgREST. Call the api functions instead.';

-- ---- src/api/background.sql ----
-- src/api/background.sql: the seed's /background endpoints (job queue) for PostgREST.

-- API: Public

CREATE FUNCTION api_impl.submit_task(
    task_type pg_catalog.text,
    name pg_catalog.text DEFAULT NULL,
    payload pg_catalog.jsonb DEFAULT '{}',
    priority pg_catalog.text DEFAULT 'normal',
    queue pg_catalog.text DEFAULT 'default',
    delay_seconds pg_catalog.float8 DEFAULT NULL,
    run_at pg_catalog.timestamptz DEFAULT NULL,
    max_retries pg_catalog.int4 DEFAULT NULL,
    timeout_seconds pg_catalog.float8 DEFAULT NULL,
    unique_key pg_catalog.text DEFAULT NULL)
RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN dwc.job_status(dwc.enqueue(
    kind => task_type, payload => payload, queue => queue, priority => priority,
    run_at => run_at, delay => make_interval(secs => delay_seconds),
    max_attempts => max_retries + 1, timeout => make_interval(secs => timeout_seconds),
    unique_key => unique_key, name => name));
COMMENT ON FUNCTION api_impl.submit_task(pg_catalog.text, pg_catalog.text, pg_catalog.jsonb, pg_catalog.text, pg_catalog.text, pg_catalog.float8, pg_catalog.timestamptz, pg_catalog.int4, pg_catalog.float8, pg_catalog.text) IS
  'Submit a background task (POST /background/tasks/submit). task_type is a registered job kind '
  '(noop, sql, http, or one added with dwc.register_job_kind); priority critical/high/normal/low '
  'or -1000..1000; delay_seconds or run_at to start later; max_retries after the first attempt; '
  'unique_key returns the active task holding it. Returns the task.';

CREATE FUNCTION api_impl.submit_tasks(tasks pg_catalog.jsonb)
RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN (SELECT coalesce(jsonb_agg(dwc.job_status(id) ORDER BY ord), '[]')
          FROM dwc.enqueue_many(tasks) WITH ORDINALITY AS e(id, ord));
COMMENT ON FUNCTION api_impl.submit_tasks(pg_catalog.jsonb) IS
  'Submit many tasks in one request (bulk operations): a JSON array of objects with the keys of '
  'dwc.enqueue_many (kind, payload, queue, priority, run_at, delay, max_attempts, timeout, '
  'unique_key, name). Returns the tasks in order.';

CREATE FUNCTION api_impl.get_task(id pg_catalog.int8)
RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN dwc.job_status(id);
COMMENT ON FUNCTION api_impl.get_task(pg_catalog.int8) IS
  'A task with its status, attempts, result and last error (GET /background/tasks/{id}); 404 if unknown.';

CREATE FUNCTION api_impl.list_tasks(status pg_catalog.text DEFAULT NULL, queue pg_catalog.text DEFAULT NULL,
                               task_type pg_catalog.text DEFAULT NULL, "limit" pg_catalog.int4 DEFAULT 50,
                               "offset" pg_catalog.int4 DEFAULT 0)
RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN dwc.list_jobs(status, queue, task_type, "limit", "offset");
COMMENT ON FUNCTION api_impl.list_tasks(pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.int4, pg_catalog.int4) IS
  'The caller''s tasks, newest first (GET /background/tasks), filtered by status, queue and task_type.';

CREATE FUNCTION api_impl.cancel_task(id pg_catalog.int8)
RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN jsonb_build_object('id', id, 'cancelled', dwc.cancel_job(id));
COMMENT ON FUNCTION api_impl.cancel_task(pg_catalog.int8) IS
  'Cancel a task (POST /background/tasks/{id}/cancel); cancelled is false if it had already finished.';

CREATE FUNCTION api_impl.retry_task(id pg_catalog.int8)
RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN jsonb_build_object('id', id, 'retried', dwc.retry_job(id));
COMMENT ON FUNCTION api_impl.retry_task(pg_catalog.int8) IS
  'Retry a task now: a waiting task runs at once, a dead or cancelled one is queued again with fresh attempts.';

CREATE FUNCTION api_impl.cancel_tasks(queue pg_catalog.text DEFAULT NULL, task_type pg_catalog.text DEFAULT NULL,
                                 status pg_catalog.text DEFAULT NULL,
                                 older_than_seconds pg_catalog.float8 DEFAULT NULL)
RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN jsonb_build_object('cancelled', dwc.cancel_jobs(queue, task_type, status,
                                                       make_interval(secs => older_than_seconds)));
COMMENT ON FUNCTION api_impl.cancel_tasks(pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.float8) IS
  'Bulk cancel of the caller''s active tasks matching every given filter; returns how many.';

CREATE FUNCTION api_impl.retry_tasks(queue pg_catalog.text DEFAULT NULL, task_type pg_catalog.text DEFAULT NULL,
                                include_dead pg_catalog.bool DEFAULT false)
RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN jsonb_build_object('retried', dwc.retry_jobs(queue, task_type),
                          'redriven', CASE WHEN include_dead THEN dwc.redrive_dead(queue, task_type) ELSE 0 END);
COMMENT ON FUNCTION api_impl.retry_tasks(pg_catalog.text, pg_catalog.text, pg_catalog.bool) IS
  'Bulk retry: waiting tasks run now; with include_dead, dead tasks are queued again (dead-letter redrive).';

CREATE FUNCTION api_impl.background_stats(period_seconds pg_catalog.int4 DEFAULT 3600, queue pg_catalog.text DEFAULT NULL)
RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN dwc.queue_stats(make_interval(secs => period_seconds), queue)
       || jsonb_build_object('workers', (SELECT count(*) FROM dwc.status() WHERE kind = 'job'
                                                                      AND database = current_database()),
                             'queues', (SELECT coalesce(jsonb_agg(to_jsonb(o)), '[]') FROM dwc.queue_overview o));
COMMENT ON FUNCTION api_impl.background_stats(pg_catalog.int4, pg_catalog.text) IS
  'Background service statistics (GET /background/service/stats): task counts by status, '
  'throughput, wait and run time percentiles, live workers and per-queue state. Administrators.';

CREATE FUNCTION api_impl.pause_queue(queue pg_catalog.text)
RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT dwc.pause_queue(queue);
    SELECT jsonb_build_object('queue', queue, 'paused', true);
END;
COMMENT ON FUNCTION api_impl.pause_queue(pg_catalog.text) IS
  'Pause a queue (service management): its tasks wait until it is resumed. Administrators.';

CREATE FUNCTION api_impl.resume_queue(queue pg_catalog.text)
RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT dwc.resume_queue(queue);
    SELECT jsonb_build_object('queue', queue, 'paused', false);
END;
COMMENT ON FUNCTION api_impl.resume_queue(pg_catalog.text) IS 'Resume a paused queue. Administrators.';

-- ---- src/api/scheduler.sql ----
-- src/api/scheduler.sql: the seed's /scheduler endpoints for PostgREST.

-- API: Public

CREATE FUNCTION api_impl.create_cron_schedule(
    name pg_catalog.text,
    cron_expression pg_catalog.text,
    task_type pg_catalog.text DEFAULT 'noop',
    payload pg_catalog.jsonb DEFAULT '{}',
    timezone pg_catalog.text DEFAULT 'UTC',
    priority pg_catalog.text DEFAULT 'normal',
    max_retries pg_catalog.int4 DEFAULT NULL,
    overlap pg_catalog.text DEFAULT 'allow',
    misfire pg_catalog.text DEFAULT 'run_once')
RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN dwc.schedule_status(dwc.schedule(name, cron_expression, task_type, payload, timezone,
                                        priority => priority, max_attempts => max_retries + 1,
                                        overlap => overlap, misfire => misfire));
COMMENT ON FUNCTION api_impl.create_cron_schedule(pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.jsonb, pg_catalog.text, pg_catalog.text, pg_catalog.int4, pg_catalog.text, pg_catalog.text) IS
  'Create a cron schedule (POST /scheduler/schedules/cron), e.g. {"name": "Daily Backup", '
  '"cron_expression": "0 2 * * *"}. Each fire time enqueues one task of task_type (default noop). '
  'Returns the schedule with its next run.';

CREATE FUNCTION api_impl.create_interval_schedule(
    name pg_catalog.text,
    "interval" pg_catalog.text,
    task_type pg_catalog.text DEFAULT 'noop',
    payload pg_catalog.jsonb DEFAULT '{}',
    start_at pg_catalog.timestamptz DEFAULT NULL,
    priority pg_catalog.text DEFAULT 'normal',
    overlap pg_catalog.text DEFAULT 'allow')
RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN dwc.schedule_status(dwc.schedule(name, "interval", task_type, payload, priority => priority,
                                        overlap => overlap, start_at => start_at));
COMMENT ON FUNCTION api_impl.create_interval_schedule(pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.jsonb, pg_catalog.timestamptz, pg_catalog.text, pg_catalog.text) IS
  'Create an interval schedule (POST /scheduler/schedules/interval): "interval" like "30 seconds", '
  '"5 minutes", "1 hour 30 minutes", counted from start_at (default now).';

CREATE FUNCTION api_impl.create_daily_schedule(name pg_catalog.text, "time" pg_catalog.time,
    task_type pg_catalog.text DEFAULT 'noop', payload pg_catalog.jsonb DEFAULT '{}',
    timezone pg_catalog.text DEFAULT 'UTC')
RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN dwc.schedule_status(dwc.schedule_daily(name, "time", task_type, payload, timezone));
COMMENT ON FUNCTION api_impl.create_daily_schedule(pg_catalog.text, pg_catalog.time, pg_catalog.text, pg_catalog.jsonb, pg_catalog.text) IS
  'Create a daily schedule (POST /scheduler/schedules/daily) at "time" (HH:MM) in timezone.';

CREATE FUNCTION api_impl.create_weekly_schedule(name pg_catalog.text, day pg_catalog.text, "time" pg_catalog.time,
    task_type pg_catalog.text DEFAULT 'noop', payload pg_catalog.jsonb DEFAULT '{}',
    timezone pg_catalog.text DEFAULT 'UTC')
RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN dwc.schedule_status(dwc.schedule_weekly(name, day, "time", task_type, payload, timezone));
COMMENT ON FUNCTION api_impl.create_weekly_schedule(pg_catalog.text, pg_catalog.text, pg_catalog.time, pg_catalog.text, pg_catalog.jsonb, pg_catalog.text) IS
  'Create a weekly schedule (POST /scheduler/schedules/weekly) on day (monday ... sunday) at "time".';

CREATE FUNCTION api_impl.create_monthly_schedule(name pg_catalog.text, day pg_catalog.text, "time" pg_catalog.time,
    task_type pg_catalog.text DEFAULT 'noop', payload pg_catalog.jsonb DEFAULT '{}',
    timezone pg_catalog.text DEFAULT 'UTC')
RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN dwc.schedule_status(dwc.schedule_monthly(name, day, "time", task_type, payload, timezone));
COMMENT ON FUNCTION api_impl.create_monthly_schedule(pg_catalog.text, pg_catalog.text, pg_catalog.time, pg_catalog.text, pg_catalog.jsonb, pg_catalog.text) IS
  'Create a monthly schedule (POST /scheduler/schedules/monthly) on day (1-31 or last) at "time".';

CREATE FUNCTION api_impl.list_schedules()
RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN dwc.list_schedules();
COMMENT ON FUNCTION api_impl.list_schedules() IS 'The caller''s schedules (GET /scheduler/schedules).';

CREATE FUNCTION api_impl.get_schedule(id pg_catalog.int8)
RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN dwc.schedule_status(id);
COMMENT ON FUNCTION api_impl.get_schedule(pg_catalog.int8) IS
  'A schedule with its recent runs (GET /scheduler/schedules/{id}); 404 if unknown.';

CREATE FUNCTION api_impl.update_schedule(id pg_catalog.int8, schedule pg_catalog.text DEFAULT NULL,
    timezone pg_catalog.text DEFAULT NULL, task_type pg_catalog.text DEFAULT NULL,
    payload pg_catalog.jsonb DEFAULT NULL, priority pg_catalog.text DEFAULT NULL,
    overlap pg_catalog.text DEFAULT NULL, misfire pg_catalog.text DEFAULT NULL,
    name pg_catalog.text DEFAULT NULL)
RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN dwc.alter_schedule(id, schedule => schedule, timezone => timezone, job_kind => task_type,
                          payload => payload, priority => priority, overlap => overlap,
                          misfire => misfire, name => name);
COMMENT ON FUNCTION api_impl.update_schedule(pg_catalog.int8, pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.jsonb, pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.text) IS
  'Change a schedule''s fields (omitted ones are kept).';

CREATE FUNCTION api_impl.delete_schedule(id pg_catalog.int8)
RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN jsonb_build_object('id', id, 'deleted', dwc.unschedule(id));
COMMENT ON FUNCTION api_impl.delete_schedule(pg_catalog.int8) IS 'Delete a schedule (DELETE /scheduler/schedules/{id}).';

CREATE FUNCTION api_impl.enable_schedule(id pg_catalog.int8)
RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN dwc.enable_schedule(id);
COMMENT ON FUNCTION api_impl.enable_schedule(pg_catalog.int8) IS 'Enable a schedule; it fires again from now on.';

CREATE FUNCTION api_impl.disable_schedule(id pg_catalog.int8)
RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN dwc.disable_schedule(id);
COMMENT ON FUNCTION api_impl.disable_schedule(pg_catalog.int8) IS 'Disable a schedule.';

CREATE FUNCTION api_impl.cron_next(cron_expression pg_catalog.text, n pg_catalog.int4 DEFAULT 5,
                              timezone pg_catalog.text DEFAULT 'UTC')
RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN (SELECT jsonb_agg(t) FROM dwc.cron_next(cron_expression, now(), n, timezone) t);
COMMENT ON FUNCTION api_impl.cron_next(pg_catalog.text, pg_catalog.int4, pg_catalog.text) IS
  'The next n fire times of a cron expression or interval (validation before creating a schedule).';

CREATE FUNCTION api_impl.scheduler_stats(period_seconds pg_catalog.int4 DEFAULT 3600)
RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN dwc.scheduler_stats(make_interval(secs => period_seconds));
COMMENT ON FUNCTION api_impl.scheduler_stats(pg_catalog.int4) IS
  'Scheduler statistics (GET /scheduler/service/stats): schedules, runs by outcome, lateness. Administrators.';

-- ---- src/api/workflows.sql ----
-- src/api/workflows.sql: the seed's /workflows endpoints (document workflow chains) for
-- PostgREST. A workflow is a chain; its nodes are the chain's documents.

-- API: Public

CREATE FUNCTION api_impl.create_workflow(
    name pg_catalog.text,
    initial_prompt pg_catalog.text,
    description pg_catalog.text DEFAULT NULL,
    provider pg_catalog.text DEFAULT NULL,
    model pg_catalog.text DEFAULT NULL,
    context_budget pg_catalog.int4 DEFAULT NULL,
    temperature pg_catalog.float8 DEFAULT NULL,
    max_tokens pg_catalog.int4 DEFAULT NULL,
    style pg_catalog.text DEFAULT NULL,
    settings pg_catalog.jsonb DEFAULT NULL)
RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN dwc.create_chain(name, initial_prompt, description, provider, model, context_budget, temperature,
                        max_tokens, style, settings);
COMMENT ON FUNCTION api_impl.create_workflow(pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.int4, pg_catalog.float8, pg_catalog.int4, pg_catalog.text, pg_catalog.jsonb) IS
  'Create a workflow (POST /workflows): a document chain whose first node is generated from '
  'initial_prompt. provider defaults to builtin. Returns the workflow with its root node.';

CREATE FUNCTION api_impl.get_workflow(id pg_catalog.int8, with_content pg_catalog.bool DEFAULT true)
RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN dwc.get_chain(id, with_content);
COMMENT ON FUNCTION api_impl.get_workflow(pg_catalog.int8, pg_catalog.bool) IS
  'A workflow with its nodes, oldest first (GET /workflows/{id}).';

CREATE FUNCTION api_impl.list_workflows(status pg_catalog.text DEFAULT NULL)
RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN dwc.list_chains(status);
COMMENT ON FUNCTION api_impl.list_workflows(pg_catalog.text) IS
  'The caller''s workflows, newest first, optionally of one status (GET /workflows).';

CREATE FUNCTION api_impl.update_workflow(
    id pg_catalog.int8,
    name pg_catalog.text DEFAULT NULL,
    description pg_catalog.text DEFAULT NULL,
    provider pg_catalog.text DEFAULT NULL,
    model pg_catalog.text DEFAULT NULL,
    context_budget pg_catalog.int4 DEFAULT NULL,
    temperature pg_catalog.float8 DEFAULT NULL,
    max_tokens pg_catalog.int4 DEFAULT NULL,
    style pg_catalog.text DEFAULT NULL,
    settings pg_catalog.jsonb DEFAULT NULL,
    status pg_catalog.text DEFAULT NULL)
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    w jsonb := dwc.update_chain(id, name, description, provider, model, context_budget, temperature,
                                max_tokens, style, settings);
BEGIN
    IF status IS NOT NULL AND status <> w->>'status' THEN
        w := dwc.set_chain_status(id, status);
    END IF;
    RETURN w;
END;
$$;
COMMENT ON FUNCTION api_impl.update_workflow(pg_catalog.int8, pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.int4, pg_catalog.float8, pg_catalog.int4, pg_catalog.text, pg_catalog.jsonb, pg_catalog.text) IS
  'Change a workflow (PUT /workflows/{id}): settings given replace the current ones; status moves '
  'it (active, paused, completed, archived) with the transitions of dwc.set_chain_status().';

CREATE FUNCTION api_impl.delete_workflow(id pg_catalog.int8)
RETURNS pg_catalog.bool
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN dwc.delete_chain(id);
COMMENT ON FUNCTION api_impl.delete_workflow(pg_catalog.int8) IS
  'Delete a workflow with its nodes (DELETE /workflows/{id}).';

CREATE FUNCTION api_impl.add_workflow_node(id pg_catalog.int8, prompt pg_catalog.text DEFAULT NULL,
                                      parent_node pg_catalog.int8 DEFAULT NULL)
RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN dwc.continue_chain(id, prompt, parent_node);
COMMENT ON FUNCTION api_impl.add_workflow_node(pg_catalog.int8, pg_catalog.text, pg_catalog.int8) IS
  'Generate the next node of a workflow (POST /workflows/{id}/nodes) from parent_node (default: '
  'the newest node; another one makes a branch). Without a prompt one is derived. Returns the node.';

CREATE FUNCTION api_impl.get_workflow_node(node_id pg_catalog.int8)
RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN dwc.get_document(node_id);
COMMENT ON FUNCTION api_impl.get_workflow_node(pg_catalog.int8) IS 'One node (document) of a workflow (GET /workflows/nodes/{id}).';

CREATE FUNCTION api_impl.update_workflow_node(node_id pg_catalog.int8, content pg_catalog.text DEFAULT NULL,
                                         title pg_catalog.text DEFAULT NULL)
RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN dwc.edit_document(node_id, content, title);
COMMENT ON FUNCTION api_impl.update_workflow_node(pg_catalog.int8, pg_catalog.text, pg_catalog.text) IS
  'Edit a node''s content and/or title (PUT /workflows/nodes/{id}); the previous version is kept.';

CREATE FUNCTION api_impl.workflow_node_versions(node_id pg_catalog.int8)
RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN dwc.document_versions(node_id);
COMMENT ON FUNCTION api_impl.workflow_node_versions(pg_catalog.int8) IS 'Every version of a node, oldest first.';

CREATE FUNCTION api_impl.execute_workflow(id pg_catalog.int8, prompt pg_catalog.text DEFAULT NULL,
                                     parent_node pg_catalog.int8 DEFAULT NULL, steps pg_catalog.int4 DEFAULT 1,
                                     async pg_catalog.bool DEFAULT false)
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    nodes jsonb := '[]';
    node jsonb;
    parent int8 := parent_node;
BEGIN
    IF steps IS NULL OR steps NOT BETWEEN 1 AND 20 THEN
        RAISE EXCEPTION 'steps must be between 1 and 20' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF async THEN
        IF steps <> 1 THEN
            RAISE EXCEPTION 'async execution runs one step per job' USING ERRCODE = 'invalid_parameter_value',
                HINT = 'Call it once per step, or run the steps synchronously.';
        END IF;
        RETURN jsonb_build_object('job_id', dwc.continue_chain_async(id, prompt, parent_node),
                                  'channel', 'dwc_chain_' || id);
    END IF;
    FOR i IN 1..steps LOOP
        -- the prompt applies to the first step; later ones derive theirs from their parent
        node := dwc.continue_chain(id, CASE WHEN i = 1 THEN prompt END, parent);
        nodes := nodes || node;
        parent := (node->>'id')::int8;
    END LOOP;
    RETURN jsonb_build_object('nodes', nodes);
END;
$$;
COMMENT ON FUNCTION api_impl.execute_workflow(pg_catalog.int8, pg_catalog.text, pg_catalog.int8, pg_catalog.int4, pg_catalog.bool) IS
  'Execute a workflow (POST /workflows/{id}/execute): generate steps nodes in a row (1 to 20), '
  'each from the previous one, in this request; or, with async, one node as a queue job: returns '
  'its job_id and the channel (dwc_chain_<id>) that announces the node.';

CREATE FUNCTION api_impl.workflow_analytics(id pg_catalog.int8)
RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN dwc.chain_analytics(id);
COMMENT ON FUNCTION api_impl.workflow_analytics(pg_catalog.int8) IS
  'Per workflow: nodes, depth, branches, tokens, cost, average quality, generation time, edits (GET /workflows/{id}/analytics).';

CREATE FUNCTION api_impl.export_workflow(id pg_catalog.int8, format pg_catalog.text DEFAULT 'json')
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    CASE format
        WHEN 'json' THEN RETURN dwc.export_chain_json(id);
        WHEN 'markdown' THEN RETURN jsonb_build_object('format', 'markdown', 'content', dwc.export_chain_markdown(id));
        ELSE RAISE EXCEPTION 'unknown export format "%"', format
                 USING ERRCODE = 'invalid_parameter_value', HINT = 'Formats: json, markdown.';
    END CASE;
END;
$$;
COMMENT ON FUNCTION api_impl.export_workflow(pg_catalog.int8, pg_catalog.text) IS
  'Export a workflow as JSON (format dwc.chain/1) or as Markdown (wrapped in {"format", "content"}).';

CREATE FUNCTION api_impl.search_workflows(query pg_catalog.text, workflow_id pg_catalog.int8 DEFAULT NULL,
                                     "limit" pg_catalog.int4 DEFAULT 10,
                                     semantic_weight pg_catalog.float8 DEFAULT 0.5)
RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN dwc.search_documents(query, workflow_id, "limit", semantic_weight);
COMMENT ON FUNCTION api_impl.search_workflows(pg_catalog.text, pg_catalog.int8, pg_catalog.int4, pg_catalog.float8) IS
  'Hybrid (full-text + semantic) search of the caller''s workflow nodes.';

-- ---- src/api/advanced.sql ----
-- src/api/advanced.sql: the seed's /advanced AI endpoints for PostgREST.

-- API: Public

CREATE FUNCTION api_impl.ai_generate(prompt pg_catalog.text, system pg_catalog.text DEFAULT NULL,
                                provider pg_catalog.text DEFAULT NULL, model pg_catalog.text DEFAULT NULL,
                                temperature pg_catalog.float8 DEFAULT NULL,
                                max_tokens pg_catalog.int4 DEFAULT NULL)
RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN dwc.ai_generate(prompt, system, provider, model, temperature, max_tokens);
COMMENT ON FUNCTION api_impl.ai_generate(pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.float8, pg_catalog.int4) IS
  'Generate content with AI (POST /advanced/ai/generate). Returns {text, provider, model, tokens_in, '
  'tokens_out, cost, latency_ms, cached, attempts}.';

CREATE FUNCTION api_impl.ai_chat(messages pg_catalog.jsonb, provider pg_catalog.text DEFAULT NULL,
                            model pg_catalog.text DEFAULT NULL, temperature pg_catalog.float8 DEFAULT NULL,
                            max_tokens pg_catalog.int4 DEFAULT NULL)
RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN dwc.ai_chat(messages, provider, model, temperature, max_tokens);
COMMENT ON FUNCTION api_impl.ai_chat(pg_catalog.jsonb, pg_catalog.text, pg_catalog.text, pg_catalog.float8, pg_catalog.int4) IS
  'Continue a conversation: messages is [{"role": "system"|"user"|"assistant", "content": "..."}].';

CREATE FUNCTION api_impl.analyze_text(text pg_catalog.text)
RETURNS pg_catalog.jsonb
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
RETURN dwc.analyze_text(text);
COMMENT ON FUNCTION api_impl.analyze_text(pg_catalog.text) IS
  'Analyse a text (POST /advanced/ai/analyze): sentiment, keywords, summary, language, counts, '
  'readability. Deterministic heuristics, no model (see docs/ai.md).';

CREATE FUNCTION api_impl.ai_providers()
RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN (SELECT coalesce(jsonb_agg(to_jsonb(p) ORDER BY p.name), '[]') FROM dwc.ai_provider_list p WHERE p.enabled);
COMMENT ON FUNCTION api_impl.ai_providers() IS
  'The AI providers that can be used, with their default models and limits; never their keys.';

-- ---- src/api/auth.sql ----
-- src/api/auth.sql: the seed's /auth endpoints (users, tokens, sessions, MFA, API keys).

-- API: Public

CREATE FUNCTION api_impl.register(username pg_catalog.text, password pg_catalog.text,
                                  email pg_catalog.text DEFAULT NULL)
RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN dwc.register_user(username, password, email);
COMMENT ON FUNCTION api_impl.register(pg_catalog.text, pg_catalog.text, pg_catalog.text) IS
  'Register a user (POST /auth/register). The password needs at least 12 characters of 3 kinds '
  '(lower, upper, digits, others), must not be a common password or contain the username. 409 if taken.';

CREATE FUNCTION api_impl.login(username pg_catalog.text, password pg_catalog.text, otp pg_catalog.text DEFAULT NULL)
RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN dwc.login(username, password, otp);
COMMENT ON FUNCTION api_impl.login(pg_catalog.text, pg_catalog.text, pg_catalog.text) IS
  'Sign in (POST /auth/login): {access_token, token_type, expires_in, refresh_token, user}. otp: the '
  'TOTP or a recovery code when MFA is on. 401 {error, message} on failure; 403 when locked.';

CREATE FUNCTION api_impl.refresh_token(refresh_token pg_catalog.text)
RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN dwc.refresh_session(refresh_token);
COMMENT ON FUNCTION api_impl.refresh_token(pg_catalog.text) IS
  'New tokens for a refresh token (POST /auth/refresh); the old refresh token is spent. Reusing a '
  'spent one ends the session (401).';

CREATE FUNCTION api_impl.logout(refresh_token pg_catalog.text)
RETURNS pg_catalog.bool
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN dwc.logout(refresh_token);
COMMENT ON FUNCTION api_impl.logout(pg_catalog.text) IS 'End the session of a refresh token (POST /auth/logout).';

CREATE FUNCTION api_impl.me()
RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN dwc.me();
COMMENT ON FUNCTION api_impl.me() IS 'The signed-in user (GET /auth/me).';

CREATE FUNCTION api_impl.list_sessions()
RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN dwc.list_sessions();
COMMENT ON FUNCTION api_impl.list_sessions() IS 'The signed-in user''s active sessions.';

CREATE FUNCTION api_impl.revoke_session(session pg_catalog.uuid DEFAULT NULL)
RETURNS pg_catalog.int4
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN dwc.revoke_session(session);
COMMENT ON FUNCTION api_impl.revoke_session(pg_catalog.uuid) IS
  'End one of the signed-in user''s sessions, or all of them (session omitted). Returns how many.';

CREATE FUNCTION api_impl.change_password(current_password pg_catalog.text, new_password pg_catalog.text)
RETURNS pg_catalog.bool
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN dwc.change_password(current_password, new_password);
COMMENT ON FUNCTION api_impl.change_password(pg_catalog.text, pg_catalog.text) IS
  'Change the password (401 if the current one is wrong, 400 if the new one fails the policy); ends all sessions.';

CREATE FUNCTION api_impl.mfa_enroll()
RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN dwc.mfa_enroll();
COMMENT ON FUNCTION api_impl.mfa_enroll() IS
  'Start TOTP enrolment: {secret, otpauth_uri} for an authenticator app. Confirm with mfa_confirm.';

CREATE FUNCTION api_impl.mfa_confirm(code pg_catalog.text)
RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN dwc.mfa_confirm(code);
COMMENT ON FUNCTION api_impl.mfa_confirm(pg_catalog.text) IS
  'Turn TOTP on with a current code; returns the 10 recovery codes, shown once.';

CREATE FUNCTION api_impl.mfa_disable(code pg_catalog.text)
RETURNS pg_catalog.bool
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN dwc.mfa_disable(code);
COMMENT ON FUNCTION api_impl.mfa_disable(pg_catalog.text) IS 'Turn TOTP off with a current code or a recovery code.';

CREATE FUNCTION api_impl.create_api_key(name pg_catalog.text, scopes pg_catalog.text[] DEFAULT '{*}',
                                        expires_in_days pg_catalog.int4 DEFAULT NULL)
RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN dwc.create_api_key(name, scopes, make_interval(days => expires_in_days));
COMMENT ON FUNCTION api_impl.create_api_key(pg_catalog.text, pg_catalog.text[], pg_catalog.int4) IS
  'Create an API key (shown this once) for the X-API-Key header. scopes: *, read, or groups '
  '(account, workflows, tasks, schedules, ai, security, audit), each optionally :read.';

CREATE FUNCTION api_impl.list_api_keys()
RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN dwc.list_api_keys();
COMMENT ON FUNCTION api_impl.list_api_keys() IS 'The signed-in user''s API keys (prefix, scopes, expiry, last use; never the key).';

CREATE FUNCTION api_impl.revoke_api_key(id pg_catalog.int8)
RETURNS pg_catalog.bool
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN dwc.revoke_api_key(id);
COMMENT ON FUNCTION api_impl.revoke_api_key(pg_catalog.int8) IS 'Revoke an API key (404 if it is not yours).';

-- ---- src/api/security.sql ----
-- src/api/security.sql: the seed's /security and audit endpoints (administrators).

-- API: Public

CREATE FUNCTION api_impl.list_users(status pg_catalog.text DEFAULT NULL)
RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN dwc.list_users(status);
COMMENT ON FUNCTION api_impl.list_users(pg_catalog.text) IS 'Users (GET /security/users). Administrators.';

CREATE FUNCTION api_impl.create_user(username pg_catalog.text, password pg_catalog.text,
                                     email pg_catalog.text DEFAULT NULL, role pg_catalog.text DEFAULT 'dwc_user')
RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN dwc.create_user(username, password, email, role);
COMMENT ON FUNCTION api_impl.create_user(pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.text) IS
  'Create a user or an administrator (role dwc_admin). Administrators.';

CREATE FUNCTION api_impl.set_user_status(user_id pg_catalog.uuid, status pg_catalog.text)
RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN dwc.set_user_status(user_id, status);
COMMENT ON FUNCTION api_impl.set_user_status(pg_catalog.uuid, pg_catalog.text) IS
  'Disable a user (ending their sessions) or reactivate and unlock them. Administrators.';

CREATE FUNCTION api_impl.security_summary(period_hours pg_catalog.int4 DEFAULT 24)
RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN dwc.security_summary(make_interval(hours => period_hours));
COMMENT ON FUNCTION api_impl.security_summary(pg_catalog.int4) IS
  'Threat overview (GET /security/summary): events by kind, critical events, locked accounts, '
  'failing addresses. Administrators.';

CREATE FUNCTION api_impl.set_rate_limit(subject_kind pg_catalog.text, subject pg_catalog.text,
                                        requests_per_second pg_catalog.float8, burst pg_catalog.int4 DEFAULT NULL)
RETURNS void
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT dwc.set_rate_limit(subject_kind, subject, requests_per_second, burst);
END;
COMMENT ON FUNCTION api_impl.set_rate_limit(pg_catalog.text, pg_catalog.text, pg_catalog.float8, pg_catalog.int4) IS
  'Set the request rate limit of a role, user id, API key id or address (NULL rate removes it). Administrators.';

CREATE FUNCTION api_impl.audit_verify()
RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN dwc.audit_verify();
COMMENT ON FUNCTION api_impl.audit_verify() IS
  'Check the audit hash chain (GET /audit/verify): {ok, checked, head_hash, first_problem}. Administrators.';

CREATE FUNCTION api_impl.audit_logs("limit" pg_catalog.int4 DEFAULT 50, table_name pg_catalog.text DEFAULT NULL,
                                   actor_user pg_catalog.text DEFAULT NULL, action pg_catalog.text DEFAULT NULL,
                                   since pg_catalog.timestamptz DEFAULT NULL)
RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN dwc.audit_logs("limit", table_name, actor_user, action, since);
COMMENT ON FUNCTION api_impl.audit_logs(pg_catalog.int4, pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.timestamptz) IS
  'The latest audit entries, newest first (GET /security/audit/logs?limit=50), optionally of one '
  'table (schema.table), actor user id, action (INSERT, UPDATE, DELETE) or since a time. Administrators.';

CREATE FUNCTION api_impl.audit_user_activity(user_id pg_catalog.text, days pg_catalog.int4 DEFAULT 30)
RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN dwc.audit_user_activity(user_id, now() - make_interval(days => days), now());
COMMENT ON FUNCTION api_impl.audit_user_activity(pg_catalog.text, pg_catalog.int4) IS
  'A user''s changes and security events over the last days (compliance report). Administrators.';

CREATE FUNCTION api_impl.audit_record_history(table_name pg_catalog.text, row_key pg_catalog.jsonb)
RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN dwc.audit_record_history(table_name::regclass, row_key);
COMMENT ON FUNCTION api_impl.audit_record_history(pg_catalog.text, pg_catalog.jsonb) IS
  'Who touched a record (e.g. table_name dwc.chains, row_key {"id": 4}), oldest first. Administrators.';

CREATE FUNCTION api_impl.audit_changes_by_actor(days pg_catalog.int4 DEFAULT 30)
RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN dwc.audit_changes_by_actor(now() - make_interval(days => days), now());
COMMENT ON FUNCTION api_impl.audit_changes_by_actor(pg_catalog.int4) IS 'Changes per actor over the last days. Administrators.';

CREATE FUNCTION api_impl.auth_events_summary(days pg_catalog.int4 DEFAULT 30)
RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN dwc.auth_events_summary(now() - make_interval(days => days), now());
COMMENT ON FUNCTION api_impl.auth_events_summary(pg_catalog.int4) IS 'Security events per day and kind. Administrators.';

CREATE FUNCTION api_impl.health()
RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN jsonb_build_object('status', 'ok', 'version', dwc.version(), 'database', current_database(),
                          'time', now());
COMMENT ON FUNCTION api_impl.health() IS 'Liveness (GET /rpc/health): status, version, time. Anyone.';

-- ---- src/api/ml.sql ----
-- src/api/ml.sql: the seed's /ml endpoints (machine learning) for PostgREST. A model is
-- named by its name (the caller's) or "#<id>".

-- API: Public

CREATE FUNCTION api_impl.create_ml_model(name pg_catalog.text, model_type pg_catalog.text,
                                         algorithm pg_catalog.text, description pg_catalog.text DEFAULT NULL,
                                         parameters pg_catalog.jsonb DEFAULT '{}')
RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN dwc.ml_create_model(name, model_type, algorithm, coalesce(parameters, '{}'), description);
COMMENT ON FUNCTION api_impl.create_ml_model(pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.jsonb) IS
  'Create an ML model (POST /ml/models): model_type is the task (classification, regression, '
  'clustering), algorithm one of linear_regression, ridge, lasso, elastic_net, logistic_regression, '
  'decision_tree, random_forest, naive_bayes, knn, kmeans; parameters its hyperparameters.';

CREATE FUNCTION api_impl.train_ml_model(model pg_catalog.text, training_data pg_catalog.jsonb DEFAULT NULL,
                                        target_column pg_catalog.text DEFAULT NULL,
                                        test_size pg_catalog.float8 DEFAULT NULL,
                                        source pg_catalog.text DEFAULT NULL,
                                        features pg_catalog.text[] DEFAULT NULL,
                                        options pg_catalog.jsonb DEFAULT '{}',
                                        deploy pg_catalog.text DEFAULT 'best',
                                        async pg_catalog.bool DEFAULT false)
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql VOLATILE
-- no SET search_path: a source table is named as the caller's search_path (PostgREST's
-- db-extra-search-path) finds it
AS $$
DECLARE
    opts jsonb := coalesce(options, '{}') || CASE WHEN test_size IS NOT NULL
                                                  THEN jsonb_build_object('test_size', test_size) ELSE '{}' END;
BEGIN
    IF async THEN
        RETURN jsonb_build_object('job_id', dwc.ml_train_async(model, source, training_data, target_column,
                                                               features, opts, deploy),
                                  'status', 'queued');
    END IF;
    RETURN dwc.ml_train(model, source, training_data, target_column, features, opts, deploy);
END;
$$;
COMMENT ON FUNCTION api_impl.train_ml_model(pg_catalog.text, pg_catalog.jsonb, pg_catalog.text, pg_catalog.float8, pg_catalog.text, pg_catalog.text[], pg_catalog.jsonb, pg_catalog.text, pg_catalog.bool) IS
  'Train a model (POST /ml/models/{id}/train) on training_data (a JSON array of objects) or source '
  '(a table, a view or a query the caller may read), predicting target_column; test_size held out '
  '(default 0.25). With async, returns {job_id} at once (GET /background/tasks/{id} for the outcome).';

CREATE FUNCTION api_impl.predict_ml_model(model pg_catalog.text, input_data pg_catalog.jsonb,
                                          return_probabilities pg_catalog.bool DEFAULT false)
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    rows jsonb := CASE jsonb_typeof(input_data) WHEN 'object' THEN jsonb_build_array(input_data) ELSE input_data END;
BEGIN
    IF jsonb_typeof(rows) IS DISTINCT FROM 'array' THEN
        RAISE EXCEPTION 'input_data must be a JSON object or an array of objects' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN jsonb_build_object('model', model,
                              'predictions', dwc.ml_predict_batch(model, rows, coalesce(return_probabilities, false)));
END;
$$;
COMMENT ON FUNCTION api_impl.predict_ml_model(pg_catalog.text, pg_catalog.jsonb, pg_catalog.bool) IS
  'Predict with the deployed version (POST /ml/models/{id}/predict): input_data is one object of '
  'features or an array of them; with return_probabilities, each prediction comes with its class probabilities.';

CREATE FUNCTION api_impl.list_ml_models(model_type pg_catalog.text DEFAULT NULL)
RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN dwc.ml_models(model_type);
COMMENT ON FUNCTION api_impl.list_ml_models(pg_catalog.text) IS
  'The caller''s ML models, newest first, optionally of one task (GET /ml/models).';

CREATE FUNCTION api_impl.get_ml_model(model pg_catalog.text)
RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN dwc.ml_model(model);
COMMENT ON FUNCTION api_impl.get_ml_model(pg_catalog.text) IS
  'An ML model with its deployed version, features and classes (GET /ml/models/{id}).';

CREATE FUNCTION api_impl.delete_ml_model(model pg_catalog.text)
RETURNS pg_catalog.bool
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN dwc.ml_delete_model(model);
COMMENT ON FUNCTION api_impl.delete_ml_model(pg_catalog.text) IS
  'Delete an ML model and all its versions (DELETE /ml/models/{id}).';

CREATE FUNCTION api_impl.ml_model_performance(model pg_catalog.text)
RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN dwc.ml_performance(model);
COMMENT ON FUNCTION api_impl.ml_model_performance(pg_catalog.text) IS
  'Metrics of every version of a model and its deployments (GET /ml/models/{id}/performance).';

CREATE FUNCTION api_impl.deploy_ml_model(model pg_catalog.text, version pg_catalog.int4 DEFAULT NULL,
                                         strategy pg_catalog.text DEFAULT NULL)
RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN dwc.ml_deploy(model, version, strategy);
COMMENT ON FUNCTION api_impl.deploy_ml_model(pg_catalog.text, pg_catalog.int4, pg_catalog.text) IS
  'Deploy a version of a model (POST /ml/models/{id}/deploy): the version given, or by strategy: '
  'best, latest, rollback.';

CREATE FUNCTION api_impl.ml_stats()
RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN dwc.ml_stats();
COMMENT ON FUNCTION api_impl.ml_stats() IS
  'The caller''s ML models in numbers: models, deployed, versions, by task and algorithm (GET /ml/stats).';

-- ---- src/security/http.sql ----
-- src/security/http.sql: the HTTP face, put together at the end of the install script:
-- who may call each api function, the api functions themselves (generated from api_impl),
-- grants, row-level security, and the tables dwc audits by default. See docs/http.md.

-- API: Private

CREATE TABLE dwc.api_access (
    name pg_catalog.text PRIMARY KEY,
    access pg_catalog.text NOT NULL CHECK (access IN ('anon', 'user', 'admin')),
    grp pg_catalog.text NOT NULL
);
COMMENT ON TABLE dwc.api_access IS
  'Who may call each api function: anon (anyone), user (a signed-in user or an API key with the '
  'group''s scope), admin (dwc_admin); and its scope group for API keys.';
GRANT SELECT ON dwc.api_access TO dwc_anon, dwc_user, dwc_admin;

INSERT INTO dwc.api_access (name, access, grp) VALUES
    -- /auth
    ('register', 'anon', 'account'), ('login', 'anon', 'account'), ('refresh_token', 'anon', 'account'),
    ('logout', 'anon', 'account'), ('health', 'anon', 'account'),
    ('me', 'user', 'account'), ('list_sessions', 'user', 'account'), ('revoke_session', 'user', 'account'),
    ('change_password', 'user', 'account'), ('mfa_enroll', 'user', 'account'), ('mfa_confirm', 'user', 'account'),
    ('mfa_disable', 'user', 'account'), ('create_api_key', 'user', 'account'), ('list_api_keys', 'user', 'account'),
    ('revoke_api_key', 'user', 'account'),
    -- /background
    ('submit_task', 'user', 'tasks'), ('submit_tasks', 'user', 'tasks'), ('get_task', 'user', 'tasks'),
    ('list_tasks', 'user', 'tasks'), ('cancel_task', 'user', 'tasks'), ('retry_task', 'user', 'tasks'),
    ('cancel_tasks', 'user', 'tasks'), ('retry_tasks', 'user', 'tasks'), ('background_stats', 'user', 'tasks'),
    ('pause_queue', 'admin', 'tasks'), ('resume_queue', 'admin', 'tasks'),
    -- /scheduler
    ('create_cron_schedule', 'user', 'schedules'), ('create_interval_schedule', 'user', 'schedules'),
    ('create_daily_schedule', 'user', 'schedules'), ('create_weekly_schedule', 'user', 'schedules'),
    ('create_monthly_schedule', 'user', 'schedules'), ('list_schedules', 'user', 'schedules'),
    ('get_schedule', 'user', 'schedules'), ('update_schedule', 'user', 'schedules'),
    ('delete_schedule', 'user', 'schedules'), ('enable_schedule', 'user', 'schedules'),
    ('disable_schedule', 'user', 'schedules'), ('cron_next', 'user', 'schedules'),
    ('scheduler_stats', 'user', 'schedules'),
    -- /workflows
    ('create_workflow', 'user', 'workflows'), ('get_workflow', 'user', 'workflows'),
    ('list_workflows', 'user', 'workflows'), ('update_workflow', 'user', 'workflows'),
    ('delete_workflow', 'user', 'workflows'), ('add_workflow_node', 'user', 'workflows'),
    ('get_workflow_node', 'user', 'workflows'), ('update_workflow_node', 'user', 'workflows'),
    ('workflow_node_versions', 'user', 'workflows'), ('execute_workflow', 'user', 'workflows'),
    ('workflow_analytics', 'user', 'workflows'), ('export_workflow', 'user', 'workflows'),
    ('search_workflows', 'user', 'workflows'),
    -- /advanced
    ('ai_generate', 'user', 'ai'), ('ai_chat', 'user', 'ai'), ('analyze_text', 'user', 'ai'),
    ('ai_providers', 'user', 'ai'),
    -- /ml
    ('create_ml_model', 'user', 'ml'), ('train_ml_model', 'user', 'ml'), ('predict_ml_model', 'user', 'ml'),
    ('list_ml_models', 'user', 'ml'), ('get_ml_model', 'user', 'ml'), ('delete_ml_model', 'user', 'ml'),
    ('ml_model_performance', 'user', 'ml'), ('deploy_ml_model', 'user', 'ml'), ('ml_stats', 'user', 'ml'),
    -- /security, /audit
    ('list_users', 'admin', 'security'), ('create_user', 'admin', 'security'),
    ('set_user_status', 'admin', 'security'), ('security_summary', 'admin', 'security'),
    ('set_rate_limit', 'admin', 'security'), ('audit_verify', 'admin', 'audit'), ('audit_logs', 'admin', 'audit'),
    ('audit_user_activity', 'admin', 'audit'), ('audit_record_history', 'admin', 'audit'),
    ('audit_changes_by_actor', 'admin', 'audit'), ('auth_events_summary', 'admin', 'audit');

-- The api schema: one C wrapper (src/security/apicall.c) per api_impl function, with its
-- signature, defaults, volatility and comment; and its grants.
DO $$
DECLARE
    f record;
    missing text;
BEGIN
    SELECT string_agg(p.proname, ', ') INTO missing
      FROM pg_proc p WHERE p.pronamespace = 'api_impl'::regnamespace
       AND NOT EXISTS (SELECT 1 FROM dwc.api_access a WHERE a.name = p.proname);
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'api functions without an access rule: %', missing;
    END IF;
    FOR f IN SELECT p.oid, p.proname, pg_get_function_arguments(p.oid) AS args,
                    pg_get_function_identity_arguments(p.oid) AS idargs,
                    pg_get_function_result(p.oid) AS result, p.provolatile, p.proretset,
                    obj_description(p.oid, 'pg_proc') AS descr, a.access
               FROM pg_proc p JOIN dwc.api_access a ON a.name = p.proname
              WHERE p.pronamespace = 'api_impl'::regnamespace
    LOOP
        IF f.proretset THEN
            RAISE EXCEPTION 'api function % returns a set: not supported by the api wrapper', f.proname;
        END IF;
        EXECUTE format('CREATE FUNCTION api.%I(%s) RETURNS %s LANGUAGE c %s AS %L, %L',
                       f.proname, f.args, f.result,
                       CASE f.provolatile WHEN 'i' THEN 'IMMUTABLE' WHEN 's' THEN 'STABLE' ELSE 'VOLATILE' END,
                       'MODULE_PATHNAME', 'dwc_api_call');
        EXECUTE format('COMMENT ON FUNCTION api.%I(%s) IS %L', f.proname, f.idargs, f.descr);
        EXECUTE format('REVOKE ALL ON FUNCTION api.%I(%s) FROM PUBLIC', f.proname, f.idargs);
        EXECUTE format('REVOKE ALL ON FUNCTION api_impl.%I(%s) FROM PUBLIC', f.proname, f.idargs);
        -- administrators' bodies read and change dwc's private tables (audit log, users, rate
        -- limits), which no web role holds privileges on: they run as the extension's owner,
        -- reachable only through wrappers granted to dwc_admin that check the role again
        IF f.access = 'admin' THEN
            EXECUTE format('ALTER FUNCTION api_impl.%I(%s) SECURITY DEFINER', f.proname, f.idargs);
        END IF;
        EXECUTE format('GRANT EXECUTE ON FUNCTION api.%I(%s) TO %s', f.proname, f.idargs,
                       CASE f.access WHEN 'anon' THEN 'dwc_anon, dwc_user'
                                     WHEN 'user' THEN 'dwc_anon, dwc_user'   -- anon: API keys
                                     ELSE 'dwc_admin' END);
    END LOOP;
END;
$$;
GRANT USAGE ON SCHEMA api TO dwc_anon, dwc_user, dwc_admin;
-- the bodies run as the caller (administrators' as the owner, above); their EXECUTE stays
-- revoked (the wrappers call them through fmgr)
GRANT USAGE ON SCHEMA api_impl TO dwc_anon, dwc_user, dwc_admin;
GRANT EXECUTE ON FUNCTION dwc.pre_request() TO dwc_anon, dwc_user, dwc_admin;
REVOKE ALL ON FUNCTION dwc.pre_request() FROM PUBLIC;

-- ---- row-level security ----------------------------------------------------------------
--
-- dwc's functions reach these tables as their owner (SECURITY DEFINER) and check ownership
-- themselves. Signed-in users may also read their own rows directly (e.g. for reporting
-- through their own views); RLS keeps them to their rows: the owner role and, for rows made
-- through PostgREST, the same user (sub claim). Administrators see everything.

CREATE FUNCTION dwc._row_visible(owner pg_catalog.oid, owner_user pg_catalog.text) RETURNS pg_catalog.bool
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN dwc.is_admin()
    OR (pg_has_role(current_user, owner, 'MEMBER')
        AND (owner_user IS NULL OR owner_user = dwc.current_user_id()));
COMMENT ON FUNCTION dwc._row_visible(pg_catalog.oid, pg_catalog.text) IS
  'Private: row-level security of user-owned tables: administrators, or the owning role and the same dwc user.';

DO $$
DECLARE
    t record;
BEGIN
    FOR t IN SELECT * FROM (VALUES
        ('dwc.chains', 'dwc._row_visible(owner, owner_user)'),
        ('dwc.documents', 'EXISTS (SELECT 1 FROM dwc.chains c WHERE c.id = chain_id AND dwc._row_visible(c.owner, c.owner_user))'),
        ('dwc.document_versions', 'EXISTS (SELECT 1 FROM dwc.documents d JOIN dwc.chains c ON c.id = d.chain_id '
                                  'WHERE d.id = document_id AND dwc._row_visible(c.owner, c.owner_user))'),
        ('dwc.chain_events', 'EXISTS (SELECT 1 FROM dwc.chains c WHERE c.id = chain_id AND dwc._row_visible(c.owner, c.owner_user))'),
        ('dwc.jobs', 'dwc._row_visible(enqueued_by, enqueued_user)'),
        ('dwc.job_history', 'dwc._row_visible(enqueued_by, enqueued_user)'),
        ('dwc.schedules', 'dwc._row_visible(owner, owner_user)'),
        ('dwc.ml_models', 'dwc._row_visible(owner, owner_user)'),
        ('dwc.ml_model_versions', 'EXISTS (SELECT 1 FROM dwc.ml_models m WHERE m.id = model_id AND dwc._row_visible(m.owner, m.owner_user))'),
        ('dwc.ml_deployments', 'EXISTS (SELECT 1 FROM dwc.ml_models m WHERE m.id = model_id AND dwc._row_visible(m.owner, m.owner_user))'),
        ('dwc.api_keys', 'dwc.is_admin() OR user_id::text = dwc.current_user_id()'),
        ('dwc.users', 'dwc.is_admin() OR id::text = dwc.current_user_id()'),
        ('dwc.security_events', 'dwc.is_admin() OR user_id = dwc.current_user_id()')) AS v(tab, expr)
    LOOP
        EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', t.tab);
        EXECUTE format('CREATE POLICY dwc_owner ON %s FOR SELECT TO dwc_user, dwc_admin USING (%s)', t.tab, t.expr);
        EXECUTE format('GRANT SELECT ON %s TO dwc_user, dwc_admin', t.tab);
    END LOOP;
END;
$$;
-- secrets stay unreadable even in one's own rows
REVOKE SELECT ON dwc.users, dwc.api_keys FROM dwc_user, dwc_admin;
GRANT SELECT (id, username, email, role, status, mfa_enabled, created_at, last_login_at) ON dwc.users TO dwc_user, dwc_admin;
GRANT SELECT (id, user_id, name, prefix, scopes, created_at, expires_at, revoked_at, last_used_at) ON dwc.api_keys
    TO dwc_user, dwc_admin;
GRANT EXECUTE ON FUNCTION dwc._row_visible(pg_catalog.oid, pg_catalog.text) TO dwc_user, dwc_admin;

-- ---- what dwc audits by default ---------------------------------------------------------
SELECT dwc.audit_table('dwc.users', '{password_hash,mfa_secret}');
SELECT dwc.audit_table('dwc.api_keys', '{key_hash}');
SELECT dwc.audit_table('dwc.ai_providers', '{api_key_encrypted}');
SELECT dwc.audit_table('dwc.rate_limits');
SELECT dwc.audit_table('dwc.chains');
SELECT dwc.audit_table('dwc.ml_models');
SELECT dwc.audit_table('dwc.schedules');
SELECT dwc.audit_table('dwc.job_kinds');
SELECT dwc.audit_table('dwc.queues');
SELECT dwc.audit_table('dwc.audited_tables');

-- PostgREST reloads its schema cache on this notification (when it listens on pgrst)
NOTIFY pgrst, 'reload schema';

-- ---- src/core/core_end.sql ----
-- src/core/core_end.sql: last part of the install script.

-- Warn when the library was not preloaded; otherwise wake this database's workers at commit.
SELECT dwc._startup_check();
