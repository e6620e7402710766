-- upgrade/dwc--0.1.0--0.2.0.sql: from 0.1.0 to 0.2.0 (ALTER EXTENSION dwc UPDATE).
--
-- 0.2.0: one unforgeable identity (dwc.current_user_id() no longer reads request.jwt.claims),
-- private functions closed to PUBLIC, background_stats and scheduler_stats for
-- administrators, dwc.health(), like-with-like model deployment, one partition manager,
-- leased job kinds (chain.continue, ml.train), {"ok": false} ends a job dead, generators of
-- the install script as functions. test/integration/test_upgrade.py checks that an upgraded
-- database matches a fresh install; tools/catalog_diff.py shows what differs.

\echo Use "ALTER EXTENSION dwc UPDATE TO '0.2.0'" to load this file. \quit

-- ---- the partition manager (src/core/partitions.sql) ------------------------------------

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
SELECT pg_catalog.pg_extension_config_dump('dwc.partitioned_tables', '');

-- ---- leased job kinds (src/queue/queue.sql) ---------------------------------------------

ALTER TABLE dwc.job_kinds ADD COLUMN leased pg_catalog.bool NOT NULL DEFAULT false;
COMMENT ON TABLE dwc.job_kinds IS
  'Registry of job kinds: built-in kinds run in C, other kinds call handler(payload jsonb) returns jsonb. '
  'Leased kinds run after the worker''s claiming transaction has committed (the job row leased, '
  'not locked), so a slow job never holds a batch''s locks: at least once, where in-transaction '
  'kinds are exactly once.';
UPDATE dwc.job_kinds SET leased = true WHERE kind IN ('http', 'chain.continue', 'ml.train');

-- ---- who may call what (src/api/http.sql) -----------------------------------------------

UPDATE dwc.api_access SET access = 'admin' WHERE name IN ('background_stats', 'scheduler_stats');

-- ---- functions: new, changed, and their privileges --------------------------------------

CREATE OR REPLACE FUNCTION api_impl.background_stats(period_seconds integer DEFAULT 3600, queue text DEFAULT NULL::text)
 RETURNS jsonb
 LANGUAGE sql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
RETURN (dwc.queue_stats(make_interval(secs => (period_seconds)::double precision), queue) || jsonb_build_object('workers', (SELECT count(*) AS count FROM dwc.status() status(kind, slot, pid, database, started_at, state) WHERE ((status.kind = 'job'::text) AND (status.database = current_database()))), 'queues', (SELECT COALESCE(jsonb_agg(to_jsonb(o.*)), '[]'::jsonb) AS "coalesce" FROM dwc.queue_overview o)));

CREATE OR REPLACE FUNCTION api_impl.health(max_queue_lag_seconds double precision DEFAULT 60)
 RETURNS jsonb
 LANGUAGE plpgsql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
    h jsonb := dwc.health(make_interval(secs => max_queue_lag_seconds));
BEGIN
    -- load balancers read the status code: 503 while degraded
    IF h->>'status' <> 'ok' THEN
        PERFORM set_config('response.status', '503', true);
    END IF;
    RETURN h;
END;
$function$;
COMMENT ON FUNCTION api_impl.health(double precision) IS 'Health (GET /rpc/health): status ok or degraded (HTTP 503), version, time, and the checks of dwc.health(): database, workers, scheduler, queue lag. Anyone.';
REVOKE ALL ON FUNCTION api_impl.health(double precision) FROM PUBLIC;

CREATE OR REPLACE FUNCTION api_impl.scheduler_stats(period_seconds integer DEFAULT 3600)
 RETURNS jsonb
 LANGUAGE sql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
RETURN dwc.scheduler_stats(make_interval(secs => (period_seconds)::double precision));

REVOKE ALL ON FUNCTION dwc._ai_log_dropped() FROM PUBLIC;

CREATE OR REPLACE FUNCTION dwc._audit_expire(cutoff timestamp with time zone)
 RETURNS void
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
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
$function$;
COMMENT ON FUNCTION dwc._audit_expire(timestamp with time zone) IS 'Private: audit retention before old partitions are dropped: seals of batches with rows older than cutoff leave (the chain restarts after them), and so do such rows of the default partition.';
REVOKE ALL ON FUNCTION dwc._audit_expire(timestamp with time zone) FROM PUBLIC;

REVOKE ALL ON FUNCTION dwc._base32(bytea) FROM PUBLIC;

REVOKE ALL ON FUNCTION dwc._base32_decode(text) FROM PUBLIC;

REVOKE ALL ON FUNCTION dwc._base64url(bytea) FROM PUBLIC;

REVOKE ALL ON FUNCTION dwc._chain_job_failed(bigint,text,text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dwc._chain_job_failed(bigint,text,text) TO PUBLIC;

REVOKE ALL ON FUNCTION dwc._chain_json(dwc.chains) FROM PUBLIC;

REVOKE ALL ON FUNCTION dwc._check_policy(text,text,text[]) FROM PUBLIC;

CREATE OR REPLACE FUNCTION dwc._close_private_functions()
 RETURNS integer
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
    f regprocedure;
    n int4 := 0;
BEGIN
    FOR f IN SELECT p.oid FROM pg_proc p
              WHERE p.pronamespace = 'dwc'::regnamespace AND p.proname LIKE '\_%' AND p.proacl IS NULL
    LOOP
        EXECUTE format('REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC', f);
        n := n + 1;
    END LOOP;
    RETURN n;
END;
$function$;
COMMENT ON FUNCTION dwc._close_private_functions() IS 'Private: revokes EXECUTE from PUBLIC on every private function (name starting with "_") still holding the default privileges; returns how many.';
REVOKE ALL ON FUNCTION dwc._close_private_functions() FROM PUBLIC;

REVOKE ALL ON FUNCTION dwc._common_passwords_sorted() FROM PUBLIC;

CREATE OR REPLACE FUNCTION dwc._create_chain(name text, initial_prompt text, description text, provider text, model text, context_budget integer, temperature double precision, max_tokens integer, style text, settings jsonb, caller oid)
 RETURNS jsonb
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
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
        VALUES (name, description, caller, dwc.current_user_id(), coalesce(provider, 'builtin'), model,
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
$function$;

REVOKE ALL ON FUNCTION dwc._derived_prompt(dwc.chains,dwc.documents) FROM PUBLIC;

REVOKE ALL ON FUNCTION dwc._document_json(dwc.documents,boolean) FROM PUBLIC;

REVOKE ALL ON FUNCTION dwc._drop_audit_triggers(regclass) FROM PUBLIC;

CREATE OR REPLACE FUNCTION dwc._enable_owner_rls(tab regclass, visible text)
 RETURNS void
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
BEGIN
    EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', tab);
    EXECUTE format('DROP POLICY IF EXISTS dwc_owner ON %s', tab);
    EXECUTE format('CREATE POLICY dwc_owner ON %s FOR SELECT TO dwc_user, dwc_admin USING (%s)', tab, visible);
    EXECUTE format('GRANT SELECT ON %s TO dwc_user, dwc_admin', tab);
END;
$function$;
COMMENT ON FUNCTION dwc._enable_owner_rls(regclass,text) IS 'Private: lets signed-in users read the rows of tab for which visible (an SQL condition) holds.';
REVOKE ALL ON FUNCTION dwc._enable_owner_rls(regclass,text) FROM PUBLIC;

CREATE OR REPLACE FUNCTION dwc._ensure_roles()
 RETURNS void
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
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
$function$;
COMMENT ON FUNCTION dwc._ensure_roles() IS 'Private: creates the roles dwc_anon, dwc_user and dwc_admin when missing (install and upgrade scripts).';
REVOKE ALL ON FUNCTION dwc._ensure_roles() FROM PUBLIC;

CREATE OR REPLACE FUNCTION dwc._generate_api()
 RETURNS void
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
    f record;
    missing text;
BEGIN
    -- from scratch: the upgrade script calls this again after api_impl changed
    FOR f IN SELECT p.oid::regprocedure AS sig FROM pg_proc p WHERE p.pronamespace = 'api'::regnamespace
    LOOP
        EXECUTE format('DROP FUNCTION %s', f.sig);
    END LOOP;
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
                       '$libdir/dwc', 'dwc_api_call');
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
$function$;
COMMENT ON FUNCTION dwc._generate_api() IS 'Private: (re)creates every api function from its body in api_impl and its rule in dwc.api_access (install and upgrade scripts).';
REVOKE ALL ON FUNCTION dwc._generate_api() FROM PUBLIC;

REVOKE ALL ON FUNCTION dwc._idf() FROM PUBLIC;

COMMENT ON FUNCTION dwc._job_chain_continue(jsonb) IS 'Private: handler of chain.continue jobs (dwc.continue_chain_async()); runs as the job''s enqueuer. Errors no retry can fix end the job dead with {"ok": false} and a continue_failed chain event; others are retried by the queue.';

REVOKE ALL ON FUNCTION dwc._job_json(dwc.job_history) FROM PUBLIC;

REVOKE ALL ON FUNCTION dwc._job_json(dwc.jobs) FROM PUBLIC;

REVOKE ALL ON FUNCTION dwc._job_kinds_changed() FROM PUBLIC;

COMMENT ON FUNCTION dwc._job_ml_train(jsonb) IS 'Private: handler of ml.train jobs (dwc.ml_train_async()); runs dwc.ml_train() as the job''s enqueuer. Bad input ends the job dead with {"ok": false}; other errors are retried by the queue.';

REVOKE ALL ON FUNCTION dwc._jsonc_parse(text) FROM PUBLIC;

REVOKE ALL ON FUNCTION dwc._jsonc_roundtrip(jsonb) FROM PUBLIC;

REVOKE ALL ON FUNCTION dwc._lexicon_check() FROM PUBLIC;

CREATE OR REPLACE FUNCTION dwc._may_manage(caller oid, owner oid, owner_user text)
 RETURNS boolean
 LANGUAGE sql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
RETURN (COALESCE((SELECT pg_roles.rolsuper FROM pg_roles WHERE (pg_roles.oid = _may_manage.caller)), false) OR pg_has_role(caller, 'dwc_admin'::name, 'USAGE'::text) OR (pg_has_role(caller, owner, 'MEMBER'::text) AND ((owner_user IS NULL) OR (owner_user = dwc.current_user_id()))));
COMMENT ON FUNCTION dwc._may_manage(oid,oid,text) IS 'Private: may the caller manage an object enqueued or owned by (owner, owner_user)? Superusers and dwc_admin may; otherwise the caller must be a member of the owning role and, when the object was made through PostgREST, the same user (dwc.current_user_id(): the one rule for who the caller is).';
-- the one ownership rule: row-level security calls it as the querying user
GRANT EXECUTE ON FUNCTION dwc._may_manage(oid,oid,text) TO dwc_user, dwc_admin;
CREATE OR REPLACE FUNCTION dwc._row_visible(owner pg_catalog.oid, owner_user pg_catalog.text) RETURNS pg_catalog.bool
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN dwc._may_manage((SELECT oid FROM pg_roles WHERE rolname = current_user), owner, owner_user);
COMMENT ON FUNCTION dwc._row_visible(pg_catalog.oid, pg_catalog.text) IS
  'Private: row-level security of user-owned tables: dwc._may_manage() for the querying role.';

CREATE OR REPLACE FUNCTION dwc._ml_create_model(name text, task text, algorithm text, hyperparameters jsonb, description text, caller oid)
 RETURNS jsonb
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
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
        VALUES (name, caller, dwc.current_user_id(), task, algorithm, coalesce(hyperparameters, '{}'), description)
        RETURNING * INTO m;
    EXCEPTION WHEN unique_violation THEN
        RAISE EXCEPTION 'you already have an ML model named "%"', name
            USING ERRCODE = 'unique_violation', HINT = 'Pick another name, or train the existing model again.';
    END;
    RETURN dwc._ml_model_json(m);
END;
$function$;

CREATE OR REPLACE FUNCTION dwc._ml_deploy(model text, version integer, strategy text, caller oid)
 RETURNS jsonb
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
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
            -- held-out scores first: a score on training rows is not comparable with them
            SELECT v.version INTO chosen FROM dwc.ml_model_versions v WHERE v.model_id = m.id
             ORDER BY v.metrics->>'evaluated_on' = 'test' DESC NULLS LAST, v.score DESC NULLS LAST,
                      v.version DESC LIMIT 1;
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
$function$;

CREATE OR REPLACE FUNCTION dwc._ml_resolve(model text, caller oid, lock boolean DEFAULT false)
 RETURNS dwc.ml_models
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
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
         WHERE name = model AND owner = caller AND owner_user IS NOT DISTINCT FROM dwc.current_user_id();
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
$function$;

CREATE OR REPLACE FUNCTION dwc._ml_train_store(model_id bigint, info jsonb, artifact bytea, caller oid)
 RETURNS jsonb
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
    m dwc.ml_models;
    v dwc.ml_model_versions;
    policy text := coalesce(info->>'deploy', 'best');
    current_score float8;
    current_basis text;
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
    -- best: deploy unless the deployed version scores higher on the same footing. A score
    -- on a version's own training rows (no held-out rows) says little about new rows, so it
    -- is compared only with another such score; a held-out score beats it either way.
    SELECT x.score, x.metrics->>'evaluated_on' INTO current_score, current_basis
      FROM dwc.ml_model_versions x
     WHERE x.model_id = m.id AND x.version = m.deployed_version;
    deploy := CASE policy
        WHEN 'always' THEN true
        WHEN 'never' THEN false
        ELSE m.deployed_version IS NULL OR current_score IS NULL
             OR CASE WHEN current_basis IS DISTINCT FROM v.metrics->>'evaluated_on'
                     THEN v.metrics->>'evaluated_on' = 'test'
                     ELSE v.score >= current_score END END;
    IF deploy THEN
        PERFORM dwc._ml_deploy_version(m, v.version, 'train:' || policy, caller);
    END IF;
    RETURN jsonb_build_object('model', m.name, 'model_id', m.id)
        || dwc._ml_version_json(v, CASE WHEN deploy THEN v.version ELSE m.deployed_version END)
        || jsonb_build_object('deployed_version', CASE WHEN deploy THEN v.version ELSE m.deployed_version END);
END;
$function$;

REVOKE ALL ON FUNCTION dwc._month_day(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dwc._month_day(text) TO PUBLIC;

REVOKE ALL ON FUNCTION dwc._no_such_job(bigint) FROM PUBLIC;

REVOKE ALL ON FUNCTION dwc._pack_context(bigint,integer) FROM PUBLIC;

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
            IF to_regclass('pg_temp.dwc_moved_rows') IS NOT NULL THEN
                EXECUTE format('INSERT INTO %s SELECT * FROM dwc_moved_rows', t.parent);
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
COMMENT ON FUNCTION dwc._partitions_maintain(regclass,interval) IS 'Private: creates the partitions of every table in dwc.partitioned_tables (or only_table) ahead of time and applies retention (its setting, or the retention given); returns how many partitions it created or dropped. Run by the maintenance pass every ten minutes.';
REVOKE ALL ON FUNCTION dwc._partitions_maintain(regclass,interval) FROM PUBLIC;

CREATE OR REPLACE FUNCTION dwc._pre_request(caller oid)
 RETURNS void
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
    headers jsonb := nullif(current_setting('request.headers', true), '')::jsonb;
    claims jsonb;
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
        -- what dwc acts on; the claims are only for other readers, as PostgREST would set them
        PERFORM dwc._set_api_key_identity(u.id::text, u.role, k.scopes);
        PERFORM set_config('request.jwt.claims', claims::text, true);
        -- last use, at most once a minute and only where writing is possible (not in GET requests)
        IF (k.last_used_at IS NULL OR k.last_used_at < now() - interval '1 minute')
           AND current_setting('transaction_read_only') = 'off' THEN
            UPDATE dwc.api_keys SET last_used_at = now() WHERE id = k.id;
        END IF;
        v_kind := 'api_key';
        v_subject := k.id::text;
        role_name := u.role;
    ELSIF role_name IN ('dwc_user', 'dwc_admin') AND dwc.current_user_id() IS NOT NULL THEN
        v_kind := 'user';
        v_subject := dwc.current_user_id();
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
$function$;

REVOKE ALL ON FUNCTION dwc._providers_changed() FROM PUBLIC;

REVOKE ALL ON FUNCTION dwc._queues_changed() FROM PUBLIC;

CREATE OR REPLACE FUNCTION dwc._require_user(caller oid)
 RETURNS dwc.users
 LANGUAGE plpgsql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
    sub text := dwc.current_user_id();
    u dwc.users;
BEGIN
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
$function$;

REVOKE ALL ON FUNCTION dwc._running_jobs() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dwc._running_jobs() TO PUBLIC;

CREATE OR REPLACE FUNCTION dwc._schedule(name text, schedule text, job_kind text, payload jsonb, timezone text, queue text, priority text, max_attempts integer, timeout interval, overlap text, misfire text, enabled boolean, start_at timestamp with time zone, caller oid)
 RETURNS bigint
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
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
    VALUES (name, caller, dwc.current_user_id(), btrim(schedule), coalesce(timezone, 'UTC'), job_kind,
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
$function$;

REVOKE ALL ON FUNCTION dwc._schedule_json(dwc.schedules) FROM PUBLIC;

REVOKE ALL ON FUNCTION dwc._schedule_next(text,text,timestamp with time zone,timestamp with time zone) FROM PUBLIC;

REVOKE ALL ON FUNCTION dwc._security_events_dropped() FROM PUBLIC;

CREATE OR REPLACE FUNCTION dwc._set_api_key_identity(user_id text, role text, scopes text[])
 RETURNS void
 LANGUAGE c
AS '$libdir/dwc', $function$dwc__set_api_key_identity$function$;
COMMENT ON FUNCTION dwc._set_api_key_identity(text,text,text[]) IS 'Private: records, for the rest of the transaction, that this anonymous request acts for the user of the API key dwc._pre_request() has just checked. Refused inside jobs.';
REVOKE ALL ON FUNCTION dwc._set_api_key_identity(text,text,text[]) FROM PUBLIC;

REVOKE ALL ON FUNCTION dwc._status_of(dwc.jobs) FROM PUBLIC;

CREATE OR REPLACE FUNCTION dwc._unschedule(name text, caller oid)
 RETURNS boolean
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
    sid int8;
BEGIN
    SELECT id INTO sid FROM dwc.schedules s
     WHERE s.name = _unschedule.name AND s.owner = caller
       AND s.owner_user IS NOT DISTINCT FROM dwc.current_user_id();
    IF NOT FOUND THEN
        RAISE EXCEPTION 'schedule "%" does not exist', name USING ERRCODE = 'no_data_found';
    END IF;
    PERFORM dwc._cancel_early_jobs(sid);
    DELETE FROM dwc.schedules WHERE id = sid;
    RETURN true;
END;
$function$;

REVOKE ALL ON FUNCTION dwc._weekday_number(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dwc._weekday_number(text) TO PUBLIC;

REVOKE ALL ON FUNCTION dwc._weighted_cosine(real[],real[],real[]) FROM PUBLIC;

CREATE OR REPLACE FUNCTION dwc.audit_table(table_name regclass, redact text[] DEFAULT '{}'::text[])
 RETURNS void
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
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
$function$;

COMMENT ON FUNCTION dwc.current_user_id() IS 'The dwc user (id) the current request acts for, or NULL: for a job, the user recorded when it was enqueued; for an API-key request, the key''s user; otherwise the sub of the request''s bearer token (request.headers), whose signature dwc verifies and whose role claim must be the session''s role. Never read from request.jwt.claims, which any SQL can set.';

CREATE OR REPLACE FUNCTION dwc.health(max_queue_lag interval DEFAULT '00:01:00'::interval)
 RETURNS jsonb
 LANGUAGE sql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
RETURN (WITH served AS (SELECT (current_database() = ANY (string_to_array(replace(current_setting('dwc.databases'::text, true), ' '::text, ''::text), ','::text))) AS served, (COALESCE(current_setting('dwc.job_workers'::text, true), '0'::text))::integer AS job_workers), live AS (SELECT count(*) FILTER (WHERE (status.kind = 'launcher'::text)) AS launchers, count(*) FILTER (WHERE ((status.kind = 'job'::text) AND (status.database = current_database()))) AS job_workers, count(*) FILTER (WHERE ((status.kind = 'scheduler'::text) AND (status.database = current_database()))) AS schedulers FROM dwc.status() status(kind, slot, pid, database, started_at, state)), lag AS (SELECT count(*) AS ready, EXTRACT(epoch FROM (now() - min(j.run_at))) AS oldest_ready_seconds FROM dwc.jobs j WHERE ((j.status = ANY (ARRAY['queued'::text, 'retry'::text])) AND (j.run_at <= now()) AND (NOT (EXISTS (SELECT 1 FROM dwc.queues q WHERE ((q.name = j.queue) AND q.paused)))))), checks AS (SELECT jsonb_build_object('status', CASE WHEN pg_is_in_recovery() THEN 'down'::text ELSE 'ok'::text END, 'name', current_database(), 'in_recovery', pg_is_in_recovery()) AS database, jsonb_build_object('status', CASE WHEN ((live.launchers = 0) OR (NOT served.served) OR (live.job_workers < served.job_workers) OR (served.job_workers = 0)) THEN 'down'::text ELSE 'ok'::text END, 'live', live.job_workers, 'expected', CASE WHEN served.served THEN served.job_workers ELSE 0 END, 'preloaded', (live.launchers > 0), 'database_served', served.served) AS workers, jsonb_build_object('status', CASE WHEN (live.schedulers = 0) THEN 'down'::text ELSE 'ok'::text END, 'live', live.schedulers) AS scheduler, jsonb_build_object('status', CASE WHEN (COALESCE(lag.oldest_ready_seconds, (0)::numeric) > EXTRACT(epoch FROM health.max_queue_lag)) THEN 'lagging'::text ELSE 'ok'::text END, 'ready', lag.ready, 'oldest_ready_seconds', round(COALESCE(lag.oldest_ready_seconds, (0)::numeric), 3), 'max_lag_seconds', EXTRACT(epoch FROM health.max_queue_lag)) AS queue FROM served, live, lag) SELECT jsonb_build_object('status', CASE WHEN (((checks.database ->> 'status'::text) = 'ok'::text) AND ((checks.workers ->> 'status'::text) = 'ok'::text) AND ((checks.scheduler ->> 'status'::text) = 'ok'::text) AND ((checks.queue ->> 'status'::text) = 'ok'::text)) THEN 'ok'::text ELSE 'degraded'::text END, 'version', dwc.version(), 'time', now(), 'checks', jsonb_build_object('database', checks.database, 'workers', checks.workers, 'scheduler', checks.scheduler, 'queue', checks.queue)) AS jsonb_build_object FROM checks);
COMMENT ON FUNCTION dwc.health(interval) IS 'Whether dwc works in this database: status ok, or degraded when one check is not ok. Checks: database (writable, not in recovery), workers (the library is preloaded, this database is in dwc.databases, and dwc.job_workers job workers are live), scheduler (its worker is live), queue (the oldest job ready to run, outside paused queues, has waited at most max_queue_lag).';
REVOKE ALL ON FUNCTION dwc.health(interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dwc.health(interval) TO PUBLIC;

CREATE OR REPLACE FUNCTION dwc.register_job_kind(kind text, handler regprocedure, description text DEFAULT NULL::text, timeout interval DEFAULT NULL::interval, max_attempts integer DEFAULT NULL::integer, leased boolean DEFAULT false)
 RETURNS void
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
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
    INSERT INTO dwc.job_kinds (kind, handler, description, default_timeout_ms, default_max_attempts, leased)
    VALUES (kind, handler, description,
            (extract(epoch FROM timeout) * 1000)::int4, max_attempts, coalesce(leased, false))
    ON CONFLICT ON CONSTRAINT job_kinds_pkey DO UPDATE
       SET handler = excluded.handler, description = excluded.description,
           default_timeout_ms = excluded.default_timeout_ms,
           default_max_attempts = excluded.default_max_attempts, leased = excluded.leased;
EXCEPTION WHEN check_violation THEN
    RAISE EXCEPTION 'invalid job kind "%"', kind
        USING ERRCODE = 'invalid_parameter_value',
              DETAIL = 'Kinds start with a lower-case letter and have up to 63 of: a-z 0-9 _ . : -; timeouts are positive, max_attempts 1 to 1000.';
END;
$function$;
COMMENT ON FUNCTION dwc.register_job_kind(text,regprocedure,text,interval,integer,boolean) IS 'Registers (or updates) a job kind run by handler(payload jsonb) returns jsonb; its result is stored with the finished job. A result {"ok": false, "error": ...} ends the job dead at once (no retry), keeping what the handler wrote; an error is retried with backoff. leased: the job runs after the claiming transaction commits, in its own transaction (for slow jobs: AI calls, training), at least once. Administrators only.';
REVOKE ALL ON FUNCTION dwc.register_job_kind(text,regprocedure,text,interval,integer,boolean) FROM PUBLIC;

-- the maintenance pass drives these now (src/core/partitions.sql)
INSERT INTO dwc.partitioned_tables (parent, time_column, period, behind, ahead, retention_setting, default_rows)
VALUES ('dwc.job_history', 'finished_at', 'day', 1, 3, 'dwc.job_history_retention', 'move');
INSERT INTO dwc.partitioned_tables (parent, time_column, period, behind, ahead, retention_setting, default_rows,
                                    on_expire)
VALUES ('dwc.audit_log', 'at', 'month', 0, 1, 'dwc.audit_retention', 'stay',
        'dwc._audit_expire(pg_catalog.timestamptz)');

-- ---- functions gone in 0.2.0 -------------------------------------------------------------

DROP FUNCTION api_impl.health();
DROP FUNCTION dwc._audit_maintain(interval);
DROP FUNCTION dwc._claims_sub();
DROP FUNCTION dwc._job_history_maintain(interval,integer);
DROP FUNCTION dwc.register_job_kind(text,regprocedure,text,interval,integer);

-- ---- regenerated: the api schema, and the privileges of private functions ---------------

SELECT dwc._generate_api();
SELECT dwc._close_private_functions();

NOTIFY pgrst, 'reload schema';
