-- src/automation/run.sql: running a run: the job handlers (automation.run, automation.poll),
-- their private halves, the actions, and learning from how runs end.
--
-- The handler and the functions running actions keep the owner's search_path (they pin none):
-- an action's SQL names the owner's tables as the owner would. Everything of dwc's they call is
-- schema-qualified.
--
-- The handlers run as the automation's owner (the job's role), so that SQL actions and the
-- functions actions call have the owner's privileges, not dwc's. What they read and write of
-- dwc's tables goes through trampolines (dwc._automation_claim() -> dwc.__automation_claim(),
-- which receives the caller's OID): the private halves check that the caller may manage the
-- automation.

-- an action's position from an error raised by dwc._automation_do ("action 2 (http) failed: ...")
CREATE FUNCTION dwc._automation_failed_action(error pg_catalog.text) RETURNS pg_catalog.int4
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
RETURN (regexp_match(error, '^action ([0-9]+) \('))[1]::int4;

CREATE FUNCTION dwc._automation_count_failure(automation_id pg_catalog.int8, error pg_catalog.text) RETURNS void
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    INSERT INTO dwc.automation_action_stats AS s (automation_id, action, failures, last_error)
    SELECT automation_id, dwc._automation_failed_action(error), 1, left(error, 1000)
     WHERE dwc._automation_failed_action(error) IS NOT NULL
    ON CONFLICT (automation_id, action) DO UPDATE SET failures = s.failures + 1, last_error = excluded.last_error;
END;

CREATE FUNCTION dwc.__automation_claim(caller pg_catalog.oid, run_id pg_catalog.int8) RETURNS pg_catalog.jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r dwc.automation_runs;
    a dwc.automations;
    learning jsonb;
    items jsonb;
BEGIN
    SELECT * INTO r FROM dwc.automation_runs WHERE id = run_id FOR UPDATE;
    IF r.id IS NULL THEN
        RAISE EXCEPTION 'automation run % does not exist', run_id USING ERRCODE = 'no_data_found';
    END IF;
    IF NOT dwc._may_manage(caller, r.owner, r.owner_user) THEN
        RAISE EXCEPTION 'permission denied for automation run %', run_id USING ERRCODE = 'insufficient_privilege';
    END IF;
    -- a run whose job is run again after it finished (a lost lease) does nothing twice
    IF r.status IN ('succeeded', 'dead', 'cancelled') THEN
        RETURN jsonb_build_object('already', true, 'status', r.status);
    END IF;
    SELECT * INTO a FROM dwc.automations WHERE id = r.automation_id;
    IF a.id IS NULL THEN
        RAISE EXCEPTION 'the automation of run % was deleted', run_id USING ERRCODE = 'no_data_found';
    END IF;
    -- the attempt is the job's (an attempt's own writes vanish with it when it fails)
    UPDATE dwc.automation_runs SET status = 'running',
           attempts = coalesce((SELECT j.attempts FROM dwc.jobs j WHERE j.id = r.job_id), r.attempts + 1),
           started_at = coalesce(started_at, clock_timestamp())
     WHERE id = r.id;
    -- learning: actions it disabled are left out; with reorder, the most successful first
    learning := coalesce(a.options->'learning', '{}');
    SELECT coalesce(jsonb_agg(jsonb_build_object('index', x.i - 1, 'action', x.act)
                              ORDER BY CASE WHEN (learning->>'reorder')::bool
                                            THEN -(coalesce(s.successes, 0) + 1.0)
                                                 / (coalesce(s.successes, 0) + coalesce(s.failures, 0) + 2.0) END,
                                       x.i), '[]')
      INTO items
      FROM jsonb_array_elements(a.actions) WITH ORDINALITY x(act, i)
      LEFT JOIN dwc.automation_action_stats s ON s.automation_id = a.id AND s.action = x.i - 1
     WHERE NOT coalesce(s.disabled, false);
    RETURN jsonb_build_object('already', false, 'run_id', r.id, 'automation_id', a.id, 'name', a.name,
                              'attempt', r.attempts + 1, 'items', items, 'data', r.trigger,
                              'options', a.options);
END;
$$;
SELECT dwc._declare_public('dwc.__automation_claim',
  'Private: the automation.run handler''s start: locks the run, counts a previous attempt''s failure, returns what to do.');
GRANT EXECUTE ON FUNCTION dwc._automation_claim(pg_catalog.int8) TO PUBLIC;

CREATE FUNCTION dwc.__automation_finish(caller pg_catalog.oid, run_id pg_catalog.int8,
                                        results pg_catalog.jsonb)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r dwc.automation_runs;
    a dwc.automations;
    learning jsonb;
BEGIN
    SELECT * INTO r FROM dwc.automation_runs WHERE id = run_id FOR UPDATE;
    IF r.id IS NULL OR NOT dwc._may_manage(caller, r.owner, r.owner_user) THEN
        RAISE EXCEPTION 'automation run % does not exist', run_id USING ERRCODE = 'no_data_found';
    END IF;
    SELECT * INTO a FROM dwc.automations WHERE id = r.automation_id;
    learning := coalesce(a.options->'learning', '{}');
    INSERT INTO dwc.automation_action_stats AS s (automation_id, action, successes, failures, total_ms, last_error)
    SELECT r.automation_id, (x->>'index')::int4, CASE WHEN (x->>'ok')::bool THEN 1 ELSE 0 END,
           CASE WHEN (x->>'ok')::bool THEN 0 ELSE 1 END, coalesce((x->>'ms')::float8, 0), x->>'error'
      FROM jsonb_array_elements(results) x
    ON CONFLICT (automation_id, action) DO UPDATE
       SET successes = s.successes + excluded.successes, failures = s.failures + excluded.failures,
           total_ms = s.total_ms + excluded.total_ms, last_error = coalesce(excluded.last_error, s.last_error);
    -- learning: an optional action that keeps failing is disabled
    IF learning ? 'disable_below' THEN
        UPDATE dwc.automation_action_stats s SET disabled = true
          FROM jsonb_array_elements(a.actions) WITH ORDINALITY x(act, i)
         WHERE s.automation_id = a.id AND s.action = x.i - 1 AND coalesce((x.act->>'optional')::bool, false)
           AND s.successes + s.failures >= coalesce((learning->>'min_runs')::int8, 10)
           AND s.successes::float8 / (s.successes + s.failures) < (learning->>'disable_below')::float8
           AND NOT s.disabled;
    END IF;
    UPDATE dwc.automation_runs SET status = 'succeeded', results = __automation_finish.results,
           finished_at = clock_timestamp(),
           duration_ms = extract(epoch FROM clock_timestamp() - started_at) * 1000
     WHERE id = r.id;
    PERFORM dwc._publish(jsonb_build_array(jsonb_build_object(
               'kind', 'automation.succeeded', 'subject', 'automation:' || r.automation_id,
               'payload', jsonb_build_object('automation_id', r.automation_id, 'name', a.name, 'run_id', r.id,
                                             'attempts', r.attempts),
               'owner', r.owner, 'owner_user', r.owner_user)));
END;
$$;
SELECT dwc._declare_public('dwc.__automation_finish',
  'Private: the automation.run handler''s end: records the results, the actions'' statistics and learning.');
GRANT EXECUTE ON FUNCTION dwc._automation_finish(pg_catalog.int8, pg_catalog.jsonb) TO PUBLIC;

-- the poll of a schedule, condition or threshold trigger: the automation, and what the last poll saw
CREATE FUNCTION dwc.__automation_poll_claim(caller pg_catalog.oid, automation_id pg_catalog.int8)
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    a dwc.automations;
BEGIN
    SELECT * INTO a FROM dwc.automations au WHERE au.id = automation_id;
    IF a.id IS NULL OR NOT dwc._may_manage(caller, a.owner, a.owner_user) THEN
        RAISE EXCEPTION 'automation % does not exist', automation_id USING ERRCODE = 'no_data_found';
    END IF;
    RETURN jsonb_build_object('id', a.id, 'enabled', a.enabled, 'trigger_type', a.trigger_type,
                              'trigger', a.trigger, 'state', a.state);
END;
$$;
SELECT dwc._declare_public('dwc.__automation_poll_claim',
  'Private: the automation.poll handler''s start: the automation''s trigger and state.',
  volatility => 'volatile');
GRANT EXECUTE ON FUNCTION dwc._automation_poll_claim(pg_catalog.int8) TO PUBLIC;

-- what a poll saw: fires on the edge (condition: became true; threshold: crossed, re-armed past reset)
CREATE FUNCTION dwc.__automation_poll_result(caller pg_catalog.oid, automation_id pg_catalog.int8,
                                             seen pg_catalog.jsonb)
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    a dwc.automations;
    data jsonb;
    v float8;
    held bool;
    was bool;
    armed bool;
    fire bool := false;
    rid int8;
BEGIN
    SELECT * INTO a FROM dwc.automations au WHERE au.id = automation_id FOR UPDATE;
    IF a.id IS NULL OR NOT dwc._may_manage(caller, a.owner, a.owner_user) THEN
        RAISE EXCEPTION 'automation % does not exist', automation_id USING ERRCODE = 'no_data_found';
    END IF;
    IF NOT a.enabled THEN
        RETURN jsonb_build_object('fired', false, 'reason', 'disabled');
    END IF;
    IF a.trigger_type = 'schedule' THEN
        data := jsonb_build_object('trigger', 'schedule', 'fired_at', now());
        fire := dwc.condition_matches(a.conditions, data);
    ELSIF a.trigger_type = 'condition' THEN
        data := jsonb_build_object('trigger', 'condition', 'row', seen);
        held := seen IS NOT NULL AND dwc.condition_matches(a.conditions, data);
        was := coalesce((a.state->>'held')::bool, false);
        fire := held AND NOT was;
        UPDATE dwc.automations SET state = jsonb_build_object('held', held, 'checked_at', now()) WHERE id = a.id;
    ELSE
        IF jsonb_typeof(seen) IS DISTINCT FROM 'number' THEN
            RAISE EXCEPTION 'the threshold query of automation "%" must return a number, not %', a.name,
                coalesce(jsonb_typeof(seen), 'no row') USING ERRCODE = 'datatype_mismatch';
        END IF;
        v := seen::text::float8;
        armed := coalesce((a.state->>'armed')::bool, true);
        -- fires on reaching the bound; again only after going back past reset (default: the bound)
        IF a.trigger ? 'above' THEN
            IF armed AND v >= (a.trigger->>'above')::float8 THEN
                fire := true;
                armed := false;
            ELSIF NOT armed AND v < coalesce((a.trigger->>'reset')::float8, (a.trigger->>'above')::float8) THEN
                armed := true;
            END IF;
        ELSE
            IF armed AND v <= (a.trigger->>'below')::float8 THEN
                fire := true;
                armed := false;
            ELSIF NOT armed AND v > coalesce((a.trigger->>'reset')::float8, (a.trigger->>'below')::float8) THEN
                armed := true;
            END IF;
        END IF;
        data := jsonb_build_object('trigger', 'threshold', 'value', v,
                                   'bound', coalesce(a.trigger->'above', a.trigger->'below'));
        fire := fire AND dwc.condition_matches(a.conditions, data);
        UPDATE dwc.automations SET state = jsonb_build_object('armed', armed, 'value', v, 'checked_at', now())
         WHERE id = a.id;
    END IF;
    IF fire THEN
        rid := dwc._automation_fire(a, data);
    END IF;
    RETURN jsonb_build_object('fired', rid IS NOT NULL, 'run_id', rid);
END;
$$;
SELECT dwc._declare_public('dwc.__automation_poll_result',
  'Private: the automation.poll handler''s end: what the poll saw; fires a run on the edge.');
GRANT EXECUTE ON FUNCTION dwc._automation_poll_result(pg_catalog.int8, pg_catalog.jsonb) TO PUBLIC;

-- the handlers call them as the job's role; the private halves check who that is

-- one action (not decide), as the job's role; its result as JSON
CREATE FUNCTION dwc._automation_action(a pg_catalog.jsonb, data pg_catalog.jsonb) RETURNS pg_catalog.jsonb
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    t text := a->>'type';
    n int8;
    resp dwc.http_response;
    body text;
    hdrs jsonb;
BEGIN
    CASE t
    WHEN 'sql' THEN
        -- $1 is the run's data
        EXECUTE a->>'sql' USING data;
        GET DIAGNOSTICS n = ROW_COUNT;
        RETURN jsonb_build_object('rows', n);
    WHEN 'enqueue' THEN
        RETURN jsonb_build_object('job_id', dwc.enqueue(a->>'kind', dwc._render_object(a->'payload', data),
                                                        queue => coalesce(a->>'queue', 'default')));
    WHEN 'notify' THEN
        RETURN dwc._notify_action(a, data);
    WHEN 'emit' THEN
        RETURN jsonb_build_object('event_id', dwc.emit(a->>'kind', dwc.render_template(a->>'subject', data),
                                                       dwc._render_object(a->'payload', data)));
    WHEN 'ai' THEN
        RETURN dwc.ai_generate(dwc.render_template(a->>'prompt', data), dwc.render_template(a->>'system', data),
                               a->>'provider', a->>'model', (a->>'temperature')::float8, (a->>'max_tokens')::int4);
    WHEN 'chain' THEN
        RETURN dwc.continue_chain(dwc.render_template(a->>'chain_id', data)::int8,
                                  dwc.render_template(a->>'prompt', data));
    WHEN 'workflow' THEN
        -- the run starts in this transaction; its steps are jobs of their own
        RETURN jsonb_build_object('run_id', (dwc.run_ai_workflow(a->>'workflow', dwc._render_object(a->'input', data)))->'id');
    WHEN 'http' THEN
        body := CASE jsonb_typeof(a->'body') WHEN 'string' THEN dwc.render_template(a->>'body', data)
                                             WHEN 'object' THEN dwc._render_object(a->'body', data)::text END;
        hdrs := coalesce(a->'headers', '{}')
                || CASE WHEN jsonb_typeof(a->'body') = 'object' AND NOT (a->'headers' ? 'Content-Type')
                        THEN '{"Content-Type": "application/json"}'::jsonb ELSE '{}'::jsonb END;
        -- as the owner (the job's role): dwc.http() if granted it, else only to allowed hosts
        IF dwc._may_call_http((SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = current_user)) THEN
            resp := dwc.http(upper(coalesce(a->>'method', 'POST')), dwc.render_template(a->>'url', data), hdrs,
                             body, (a->>'timeout_ms')::int4);
        ELSE
            resp := dwc._http_to_allowed_host(upper(coalesce(a->>'method', 'POST')), dwc.render_template(a->>'url', data),
                                              hdrs, body, (a->>'timeout_ms')::int4);
        END IF;
        IF resp.status NOT BETWEEN 200 AND 299 THEN
            RAISE EXCEPTION 'HTTP % from %', resp.status, a->>'url' USING ERRCODE = 'connection_failure';
        END IF;
        RETURN jsonb_build_object('status', resp.status, 'elapsed_ms', resp.elapsed_ms,
                                  'body', CASE WHEN length(resp.body) <= 10000 THEN resp.body END);
    END CASE;
END;
$$;

-- a provider chooses a branch; the fallback rule when none answers or the answer names none
CREATE FUNCTION dwc._automation_decide(a pg_catalog.jsonb, data pg_catalog.jsonb) RETURNS pg_catalog.jsonb
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    names text[] := (SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(a->'branches') k);
    g jsonb;
    answer text;
    why text;
    choice text;
BEGIN
    BEGIN
        g := dwc._ai_refuse_builtin(
                 dwc.ai_generate(dwc.render_template(a->>'prompt', data)
                                 || E'\n\nAnswer with exactly one of: ' || array_to_string(names, ', ') || '.',
                                 provider => a->>'provider', model => a->>'model', max_tokens => 20),
                 'choose between branches');
        answer := g->>'text';
        -- the branch named first in the answer, as a word
        SELECT n INTO choice FROM unnest(names) n
         WHERE lower(answer) ~ ('(^|[^a-z0-9_])' || n || '($|[^a-z0-9_])')
         ORDER BY strpos(lower(answer), n) LIMIT 1;
        IF choice IS NULL THEN
            why := 'the answer names no branch';
        END IF;
    EXCEPTION WHEN OTHERS THEN
        why := 'no provider answered: ' || SQLERRM;
    END;
    IF choice IS NOT NULL THEN
        RETURN jsonb_build_object('branch', choice, 'by', g->>'provider', 'answer', answer);
    END IF;
    choice := CASE WHEN dwc.condition_matches(coalesce(a->'fallback'->'if', 'true'), data)
                   THEN a->'fallback'->>'then' ELSE coalesce(a->'fallback'->>'else', a->'fallback'->>'then') END;
    RETURN jsonb_build_object('branch', choice, 'by', 'fallback', 'answer', answer, 'why', why);
END;
$$;

-- a list of actions ({"index", "action"}) in order: results, and the data with each named step's result
CREATE FUNCTION dwc._automation_do(items pg_catalog.jsonb, data pg_catalog.jsonb) RETURNS pg_catalog.jsonb
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    item jsonb;
    a jsonb;
    res jsonb;
    results jsonb := '[]';
    t0 timestamptz;
    ok bool;
    err text;
    branch jsonb;
BEGIN
    FOR item IN SELECT * FROM jsonb_array_elements(items)
    LOOP
        a := item->'action';
        t0 := clock_timestamp();
        ok := true;
        err := NULL;
        BEGIN
            -- a run made through an API key does only what the key could do directly
            PERFORM dwc._require_scope(dwc._automation_action_scope(a->>'type'), format('run %s actions', a->>'type'));
            IF a->>'type' = 'decide' THEN
                res := dwc._automation_decide(a, data);
                branch := dwc._automation_do(
                    (SELECT coalesce(jsonb_agg(jsonb_build_object('index', (item->>'index') || '.' || (res->>'branch') || '.' || (i - 1),
                                                                  'action', x) ORDER BY i), '[]')
                       FROM jsonb_array_elements(a->'branches'->(res->>'branch')) WITH ORDINALITY b(x, i)), data);
                res := res || jsonb_build_object('actions', branch->'results');
                data := branch->'data';
            ELSE
                res := dwc._automation_action(a, data);
            END IF;
        EXCEPTION WHEN OTHERS THEN
            IF NOT coalesce((a->>'optional')::bool, false) THEN
                -- the position leads the message: the next attempt counts the failure against it
                RAISE EXCEPTION 'action % (%) failed: %', item->>'index', a->>'type', SQLERRM USING ERRCODE = SQLSTATE;
            END IF;
            ok := false;
            err := SQLERRM;
            res := NULL;
        END;
        results := results || jsonb_build_array(jsonb_strip_nulls(jsonb_build_object(
            'index', item->'index', 'type', a->>'type', 'name', a->>'name', 'ok', ok, 'error', err,
            'ms', round((extract(epoch FROM clock_timestamp() - t0) * 1000)::numeric, 3), 'result', res)));
        IF ok AND a ? 'name' THEN
            data := jsonb_set(data, '{steps}', coalesce(data->'steps', '{}') || jsonb_build_object(a->>'name', res));
        END IF;
    END LOOP;
    RETURN jsonb_build_object('results', results, 'data', data);
END;
$$;

-- the handler runs as the automation's owner, and these do nothing the owner could not do
GRANT EXECUTE ON FUNCTION dwc._automation_action(pg_catalog.jsonb, pg_catalog.jsonb) TO PUBLIC;
GRANT EXECUTE ON FUNCTION dwc._automation_decide(pg_catalog.jsonb, pg_catalog.jsonb) TO PUBLIC;
GRANT EXECUTE ON FUNCTION dwc._automation_do(pg_catalog.jsonb, pg_catalog.jsonb) TO PUBLIC;
GRANT EXECUTE ON FUNCTION dwc._render_object(pg_catalog.jsonb, pg_catalog.jsonb) TO PUBLIC;

CREATE FUNCTION dwc._job_automation_run(payload pg_catalog.jsonb) RETURNS pg_catalog.jsonb
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    run_id int8 := (payload->>'run_id')::int8;
    c jsonb;
    out jsonb;
    top jsonb;
BEGIN
    c := dwc._automation_claim(run_id);
    IF (c->>'already')::bool THEN
        RETURN jsonb_build_object('ok', true, 'run_id', run_id, 'already', c->>'status');
    END IF;
    PERFORM set_config('dwc.automation_depth', (coalesce((c->'data'->>'depth')::int4, 0) + 1)::text, true);
    IF pg_catalog.to_regclass('pg_catalog.pg_dist_node') IS NOT NULL THEN
        -- Citus sends SET LOCAL on to the worker nodes this run's actions write to, where a
        -- distributed table's automation trigger keeps the depth with the change
        PERFORM set_config('citus.propagate_set_commands', 'local', true);
        EXECUTE format('SET LOCAL dwc.automation_depth = %s', current_setting('dwc.automation_depth'));
    END IF;
    out := dwc._automation_do(c->'items', c->'data');
    -- the statistics are of the top-level actions
    SELECT coalesce(jsonb_agg(x), '[]') INTO top FROM jsonb_array_elements(out->'results') x
     WHERE jsonb_typeof(x->'index') = 'number';
    PERFORM dwc._automation_finish(run_id, top);
    RETURN jsonb_build_object('ok', true, 'run_id', run_id, 'attempt', c->'attempt', 'results', out->'results');
END;
$$;
COMMENT ON FUNCTION dwc._job_automation_run(pg_catalog.jsonb) IS
  'Private: handler of automation.run jobs ({"run_id"}); runs the automation''s actions as its owner. '
  'Bad definitions end the run dead at once; other errors are retried by the queue.';
GRANT EXECUTE ON FUNCTION dwc._job_automation_run(pg_catalog.jsonb) TO PUBLIC;

CREATE FUNCTION dwc._job_automation_poll(payload pg_catalog.jsonb) RETURNS pg_catalog.jsonb
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    id int8 := (payload->>'automation_id')::int8;
    c jsonb := dwc._automation_poll_claim(id);
    seen jsonb;
BEGIN
    IF NOT (c->>'enabled')::bool THEN
        RETURN jsonb_build_object('ok', true, 'fired', false, 'reason', 'disabled');
    END IF;
    -- the query runs as the automation's owner: its first row (condition) or first value (threshold)
    PERFORM dwc._require_scope('sql', 'run condition or threshold queries');
    IF c->>'trigger_type' = 'condition' THEN
        EXECUTE format('SELECT to_jsonb(q) FROM (%s) q LIMIT 1', c->'trigger'->>'query') INTO seen;
    ELSIF c->>'trigger_type' = 'threshold' THEN
        EXECUTE format('SELECT (SELECT v FROM json_each(row_to_json(q)) e(k, v) LIMIT 1)::jsonb FROM (%s) q LIMIT 1',
                       c->'trigger'->>'query') INTO seen;
    END IF;
    RETURN jsonb_build_object('ok', true) || dwc._automation_poll_result(id, seen);
END;
$$;
COMMENT ON FUNCTION dwc._job_automation_poll(pg_catalog.jsonb) IS
  'Private: handler of automation.poll jobs ({"automation_id"}), enqueued by the automation''s schedule: '
  'fires a schedule trigger''s run, or runs a condition''s or threshold''s query as the owner and fires on the edge.';
GRANT EXECUTE ON FUNCTION dwc._job_automation_poll(pg_catalog.jsonb) TO PUBLIC;

-- ---- outcomes, told by the queue (src/queue/outcomes.sql) ----------------------------------

-- a failed attempt to be retried: the queue records it in its own transaction (the attempt's
-- rolled back), so this is where it is counted against the action that failed
CREATE FUNCTION dwc._automation_run_retried(job dwc.jobs) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r dwc.automation_runs;
BEGIN
    UPDATE dwc.automation_runs SET attempts = job.attempts, error = job.last_error, status = 'queued'
     WHERE id = (job.payload->>'run_id')::int8 AND status NOT IN ('succeeded', 'dead', 'cancelled')
    RETURNING * INTO r;
    IF r.id IS NOT NULL THEN
        PERFORM dwc._automation_count_failure(r.automation_id, job.last_error);
    END IF;
END;
$$;
COMMENT ON FUNCTION dwc._automation_run_retried(dwc.jobs) IS
  'Private: on_retry hook of automation.run: the run waits for its next attempt; the failure is counted.';

-- runs whose job ended without succeeding: dead (or cancelled), with the last error
CREATE FUNCTION dwc._automation_runs_ended(jobs dwc.job_history[]) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    j record;
    published int4;
BEGIN
    FOR j IN SELECT (a.payload->>'run_id')::int8 AS run_id, a.status, a.attempts,
                    coalesce(a.last_error, a.result->>'error') AS error
               FROM unnest(jobs) a
              WHERE a.status IN ('dead', 'cancelled')
    LOOP
        WITH r AS (
            UPDATE dwc.automation_runs SET status = j.status, error = j.error, attempts = greatest(attempts, j.attempts),
                   finished_at = clock_timestamp(),
                   duration_ms = extract(epoch FROM clock_timestamp() - coalesce(started_at, created_at)) * 1000
             WHERE id = j.run_id AND status NOT IN ('succeeded', 'dead', 'cancelled')
            RETURNING *)
        SELECT dwc._publish(jsonb_agg(jsonb_build_object(
                   'kind', 'automation.' || CASE j.status WHEN 'dead' THEN 'failed' ELSE 'cancelled' END,
                   'subject', 'automation:' || r.automation_id,
                   'payload', jsonb_build_object('automation_id', r.automation_id, 'run_id', r.id,
                                                 'attempts', r.attempts, 'error', j.error),
                   'owner', r.owner, 'owner_user', r.owner_user)))
          INTO published
          FROM r;
        IF j.status = 'dead' AND j.error IS NOT NULL THEN
            PERFORM dwc._automation_count_failure(r.automation_id, j.error)
               FROM dwc.automation_runs r WHERE r.id = j.run_id;
        END IF;
    END LOOP;
END;
$$;
COMMENT ON FUNCTION dwc._automation_runs_ended(dwc.job_history[]) IS
  'Private: on_end hook of automation.run: runs whose job died or was cancelled are recorded so, with an event.';

-- leased: actions call providers and HTTP endpoints after the claiming transaction has committed;
-- a run is recorded as succeeded in the transaction of its actions, so a lease that is lost after
-- it committed does not run them again
SELECT dwc.register_job_kind('automation.run', 'dwc._job_automation_run(pg_catalog.jsonb)',
                             'Runs an automation''s actions ({"run_id"}), as the automation''s owner.',
                             interval '10 minutes', 5, true,
                             on_retry => 'dwc._automation_run_retried(dwc.jobs)',
                             on_end => 'dwc._automation_runs_ended(dwc.job_history[])',
                             final_errors => '{invalid_parameter_value, feature_not_supported, insufficient_privilege, no_data_found, syntax_error, undefined_table, undefined_column, undefined_function, datatype_mismatch, invalid_text_representation}');
SELECT dwc.register_job_kind('automation.poll', 'dwc._job_automation_poll(pg_catalog.jsonb)',
                             'Polls an automation''s schedule, condition or threshold trigger ({"automation_id"}).',
                             interval '1 minute', 1, false);
