-- src/workflow/manage.sql: the private halves of managing workflows and runs: create, find,
-- list, delete, run, pause, resume, cancel, approve, statistics.

SELECT dwc._declare_resolver('dwc._wf_resolve', 'dwc.ai_workflows', 'an AI workflow', 'Create it with dwc.create_ai_workflow().');

CREATE FUNCTION dwc._wf_run_of(run_id pg_catalog.int8, caller pg_catalog.oid) RETURNS dwc.ai_workflow_runs
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r dwc.ai_workflow_runs;
BEGIN
    SELECT * INTO r FROM dwc.ai_workflow_runs x WHERE x.id = run_id AND dwc._may_manage(caller, x.owner, x.owner_user);
    IF r.id IS NULL THEN
        RAISE EXCEPTION 'AI workflow run % does not exist', run_id USING ERRCODE = 'no_data_found';
    END IF;
    RETURN r;
END;
$$;

CREATE FUNCTION dwc._wf_json(w dwc.ai_workflows) RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN jsonb_build_object('id', w.id, 'name', w.name, 'description', w.description, 'steps', w.steps,
                          'options', w.options, 'created_at', w.created_at, 'updated_at', w.updated_at);

CREATE FUNCTION dwc._wf_run_json(r dwc.ai_workflow_runs) RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN jsonb_build_object(
    'id', r.id, 'workflow_id', r.workflow_id, 'status', r.status, 'input', r.input, 'chain_id', r.chain_id,
    'error', r.error, 'created_at', r.created_at, 'finished_at', r.finished_at,
    'duration_ms', round((extract(epoch FROM r.finished_at - r.created_at) * 1000)::numeric, 3),
    'tokens', (SELECT sum(s.tokens) FROM dwc.ai_workflow_steps s WHERE s.run_id = r.id),
    'cost', (SELECT sum(s.cost) FROM dwc.ai_workflow_steps s WHERE s.run_id = r.id),
    'steps', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                  'step', s.step, 'type', s.type, 'status', s.status, 'attempts', s.attempts, 'output', s.output,
                  'error', s.error, 'tokens', s.tokens, 'cost', s.cost, 'started_at', s.started_at,
                  'finished_at', s.finished_at, 'duration_ms', round(s.duration_ms::numeric, 3)) ORDER BY s.position), '[]')
                FROM dwc.ai_workflow_steps s WHERE s.run_id = r.id));

CREATE FUNCTION dwc._create_ai_workflow(caller pg_catalog.oid, name pg_catalog.text, steps pg_catalog.jsonb,
                                        description pg_catalog.text DEFAULT NULL,
                                        options pg_catalog.jsonb DEFAULT '{}')
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    w dwc.ai_workflows;
BEGIN
    PERFORM dwc._check_name(name, 'AI workflow');
    PERFORM dwc._wf_check(steps);
    IF options IS NOT NULL AND jsonb_typeof(options) <> 'object' THEN
        RAISE EXCEPTION 'options must be a JSON object' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    BEGIN
        INSERT INTO dwc.ai_workflows (name, description, steps, options, owner, owner_user)
        VALUES (name, description, steps, coalesce(options, '{}'), caller, dwc.current_user_id())
        RETURNING * INTO w;
    EXCEPTION WHEN unique_violation THEN
        RAISE EXCEPTION 'AI workflow "%" already exists', name USING ERRCODE = 'unique_violation';
    END;
    RETURN dwc._wf_json(w);
END;
$$;
SELECT dwc._declare_public('dwc._create_ai_workflow',
  'Creates an AI workflow: a DAG of steps {"id", "type", "after": [ids], ...} of types generate, analyze, summarize, '
  'translate, classify, extract, branch, ml, recommend, approval, chain (docs/workflows.md).',
  access => 'user', grp => 'workflows', route => 'POST /ai-workflows');

CREATE FUNCTION dwc._create_ai_workflow_from_template(caller pg_catalog.oid, template pg_catalog.text,
                                                      name pg_catalog.text DEFAULT NULL)
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t dwc.ai_workflow_templates;
BEGIN
    SELECT * INTO t FROM dwc.ai_workflow_templates x WHERE x.name = template;
    IF t.name IS NULL THEN
        RAISE EXCEPTION 'AI workflow template "%" does not exist', template USING ERRCODE = 'no_data_found',
            HINT = 'SELECT name FROM dwc.ai_workflow_templates lists them.';
    END IF;
    RETURN dwc._create_ai_workflow(caller, coalesce(name, t.name), t.steps, t.description, t.options);
END;
$$;
SELECT dwc._declare_public('dwc._create_ai_workflow_from_template',
  'Creates an AI workflow from a built-in template (dwc.ai_workflow_templates), named name or as the template.',
  access => 'user', grp => 'workflows', route => 'POST /ai-workflows with template_name');

CREATE FUNCTION dwc._delete_ai_workflow(caller pg_catalog.oid, name pg_catalog.text) RETURNS pg_catalog.bool
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    -- qualified: inside the DELETE, a bare "name" is the column, and every row would match its own
    DELETE FROM dwc.ai_workflows WHERE id = (SELECT (dwc._wf_resolve(_delete_ai_workflow.name, caller)).id);
    SELECT true;
END;
SELECT dwc._declare_public('dwc._delete_ai_workflow',
  'Deletes an AI workflow and its runs.');

CREATE FUNCTION dwc._get_ai_workflow(caller pg_catalog.oid, name pg_catalog.text) RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
RETURN (SELECT dwc._wf_json(w) FROM dwc._wf_resolve(name, caller) w);
SELECT dwc._declare_public('dwc._get_ai_workflow',
  'An AI workflow (by name or #id).',
  access => 'user', grp => 'workflows', route => 'GET /ai-workflows/{name}');

CREATE FUNCTION dwc._list_ai_workflows(caller pg_catalog.oid) RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
RETURN (SELECT coalesce(jsonb_agg(dwc._wf_json(w) ORDER BY w.name, w.id), '[]')
          FROM dwc.ai_workflows w WHERE dwc._may_manage(caller, w.owner, w.owner_user));
SELECT dwc._declare_public('dwc._list_ai_workflows',
  'The caller''s AI workflows.');

CREATE FUNCTION dwc._run_ai_workflow(caller pg_catalog.oid, name pg_catalog.text,
                                     input pg_catalog.jsonb DEFAULT '{}')
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    w dwc.ai_workflows := dwc._wf_resolve(name, caller);
    r dwc.ai_workflow_runs;
BEGIN
    IF input IS NOT NULL AND jsonb_typeof(input) <> 'object' THEN
        RAISE EXCEPTION 'a run''s input must be a JSON object' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- through an API key: only workflows whose steps the key could take directly
    PERFORM dwc._require_scope(dwc._wf_step_scope(x->>'type'), format('run workflows with %s steps', x->>'type'))
       FROM jsonb_array_elements(w.steps) x WHERE dwc._wf_step_scope(x->>'type') IS NOT NULL;
    -- the run is the workflow's owner's: its steps run as them, under the scopes of the key
    -- that started it
    INSERT INTO dwc.ai_workflow_runs (workflow_id, input, owner, owner_user, scopes)
    VALUES (w.id, coalesce(input, '{}'), w.owner, w.owner_user, dwc.current_scopes()) RETURNING * INTO r;
    INSERT INTO dwc.ai_workflow_steps (run_id, step, type, position)
    SELECT r.id, x->>'id', x->>'type', i FROM jsonb_array_elements(w.steps) WITH ORDINALITY e(x, i);
    PERFORM dwc._wf_advance(r.id);
    SELECT * INTO r FROM dwc.ai_workflow_runs WHERE id = r.id;
    RETURN dwc._wf_run_json(r);
END;
$$;
SELECT dwc._declare_public('dwc._run_ai_workflow',
  'Starts a run of an AI workflow with an input object; its steps run as workflow.step jobs. Returns the run.');

CREATE FUNCTION dwc._ai_workflow_run(caller pg_catalog.oid, run_id pg_catalog.int8) RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
RETURN (SELECT dwc._wf_run_json(r) FROM dwc._wf_run_of(run_id, caller) r);
SELECT dwc._declare_public('dwc._ai_workflow_run',
  'A run: status, input, chain, tokens, cost, and each step''s status, attempts, output, error and timing.');

CREATE FUNCTION dwc._pause_ai_workflow_run(caller pg_catalog.oid, run_id pg_catalog.int8) RETURNS pg_catalog.jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r dwc.ai_workflow_runs := dwc._wf_run_of(run_id, caller);
BEGIN
    IF r.status NOT IN ('running', 'waiting') THEN
        RAISE EXCEPTION 'AI workflow run % is %, not running', r.id, r.status USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    UPDATE dwc.ai_workflow_runs SET status = 'paused' WHERE id = r.id RETURNING * INTO r;
    RETURN dwc._wf_run_json(r);
END;
$$;
SELECT dwc._declare_public('dwc._pause_ai_workflow_run',
  'Pauses a run: no step starts until it is resumed (a step already running finishes).',
  access => 'user', grp => 'workflows', route => 'POST /ai-workflows/runs/{id}/pause');

CREATE FUNCTION dwc._resume_ai_workflow_run(caller pg_catalog.oid, run_id pg_catalog.int8) RETURNS pg_catalog.jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r dwc.ai_workflow_runs := dwc._wf_run_of(run_id, caller);
BEGIN
    IF r.status <> 'paused' THEN
        RAISE EXCEPTION 'AI workflow run % is %, not paused', r.id, r.status USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    UPDATE dwc.ai_workflow_runs SET status = 'running' WHERE id = r.id;
    PERFORM dwc._wf_advance(r.id);
    SELECT * INTO r FROM dwc.ai_workflow_runs WHERE id = r.id;
    RETURN dwc._wf_run_json(r);
END;
$$;
SELECT dwc._declare_public('dwc._resume_ai_workflow_run',
  'Resumes a paused run.',
  access => 'user', grp => 'workflows', route => 'POST /ai-workflows/runs/{id}/resume');

CREATE FUNCTION dwc._cancel_ai_workflow_run(caller pg_catalog.oid, run_id pg_catalog.int8) RETURNS pg_catalog.jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r dwc.ai_workflow_runs := dwc._wf_run_of(run_id, caller);
BEGIN
    IF r.status IN ('succeeded', 'failed', 'cancelled') THEN
        RAISE EXCEPTION 'AI workflow run % has already ended (%)', r.id, r.status USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    UPDATE dwc.ai_workflow_steps s SET status = 'cancelled' WHERE s.run_id = r.id AND s.status IN ('pending', 'queued', 'waiting');
    UPDATE dwc.ai_workflow_runs SET status = 'cancelled', finished_at = clock_timestamp() WHERE id = r.id RETURNING * INTO r;
    PERFORM dwc._wf_event(r, 'workflow.cancelled');
    RETURN dwc._wf_run_json(r);
END;
$$;
SELECT dwc._declare_public('dwc._cancel_ai_workflow_run',
  'Cancels a run: its steps not yet done never run.',
  access => 'user', grp => 'workflows', route => 'POST /ai-workflows/runs/{id}/cancel');

CREATE FUNCTION dwc._approve_ai_workflow_step(caller pg_catalog.oid, run_id pg_catalog.int8,
                                              step pg_catalog.text, approved pg_catalog.bool DEFAULT true,
                                              comment pg_catalog.text DEFAULT NULL)
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r dwc.ai_workflow_runs := dwc._wf_run_of(run_id, caller);
    n int;
BEGIN
    UPDATE dwc.ai_workflow_steps s
       SET status = 'succeeded', finished_at = clock_timestamp(),
           duration_ms = extract(epoch FROM clock_timestamp() - s.started_at) * 1000,
           output = jsonb_build_object('approved', coalesce(approved, true), 'comment', comment,
                                       'by', coalesce(dwc.current_user_id(), caller::regrole::text), 'at', now())
     WHERE s.run_id = r.id AND s.step = _approve_ai_workflow_step.step AND s.status = 'waiting';
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n = 0 THEN
        RAISE EXCEPTION 'step "%" of AI workflow run % is not waiting for an approval', step, r.id
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    IF r.status = 'waiting' THEN
        UPDATE dwc.ai_workflow_runs SET status = 'running' WHERE id = r.id;
    END IF;
    PERFORM dwc._wf_advance(r.id);
    SELECT * INTO r FROM dwc.ai_workflow_runs WHERE id = r.id;
    RETURN dwc._wf_run_json(r);
END;
$$;
SELECT dwc._declare_public('dwc._approve_ai_workflow_step',
  'Answers an approval step waiting for a human: its output is {"approved", "comment", "by", "at"}, and the run goes on.',
  access => 'user', grp => 'workflows', route => 'POST /ai-workflows/runs/{id}/approve');

CREATE FUNCTION dwc._ai_workflow_analytics(caller pg_catalog.oid, name pg_catalog.text) RETURNS pg_catalog.jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    w dwc.ai_workflows := dwc._wf_resolve(name, caller);
BEGIN
    RETURN (SELECT jsonb_build_object(
        'workflow', w.name, 'runs', count(*),
        'by_status', (SELECT coalesce(jsonb_object_agg(status, n), '{}')
                        FROM (SELECT status, count(*) AS n FROM dwc.ai_workflow_runs WHERE workflow_id = w.id GROUP BY 1) x),
        'success_rate', round((count(*) FILTER (WHERE r.status = 'succeeded'))::numeric
                              / nullif(count(*) FILTER (WHERE r.status IN ('succeeded', 'failed')), 0), 4),
        'mean_ms', round(avg(extract(epoch FROM r.finished_at - r.created_at) * 1000)::numeric, 3),
        'tokens', (SELECT coalesce(sum(s.tokens), 0) FROM dwc.ai_workflow_steps s JOIN dwc.ai_workflow_runs x ON x.id = s.run_id
                    WHERE x.workflow_id = w.id),
        'cost', (SELECT coalesce(sum(s.cost), 0) FROM dwc.ai_workflow_steps s JOIN dwc.ai_workflow_runs x ON x.id = s.run_id
                  WHERE x.workflow_id = w.id),
        'steps', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                      'step', step, 'runs', n, 'succeeded', ok, 'failed', failed, 'skipped', skipped,
                      'mean_attempts', mean_attempts, 'mean_ms', mean_ms, 'tokens', tokens) ORDER BY pos), '[]')
                    FROM (SELECT s.step, min(s.position) AS pos, count(*) AS n,
                                 count(*) FILTER (WHERE s.status = 'succeeded') AS ok,
                                 count(*) FILTER (WHERE s.status = 'failed') AS failed,
                                 count(*) FILTER (WHERE s.status = 'skipped') AS skipped,
                                 round(avg(s.attempts) FILTER (WHERE s.attempts > 0), 3) AS mean_attempts,
                                 round(avg(s.duration_ms)::numeric, 3) AS mean_ms, sum(s.tokens) AS tokens
                            FROM dwc.ai_workflow_steps s JOIN dwc.ai_workflow_runs x ON x.id = s.run_id
                           WHERE x.workflow_id = w.id GROUP BY s.step) st))
      FROM dwc.ai_workflow_runs r WHERE r.workflow_id = w.id);
END;
$$;
SELECT dwc._declare_public('dwc._ai_workflow_analytics',
  'An AI workflow''s runs by status, success rate, mean time, tokens and cost, and per step.');
