-- src/workflow/engine.sql: the engine: moving a run on, the workflow.step handler and each
-- step type, and how steps' jobs end.

-- what steps see: the run's input, and each finished step's output under steps.<id>
CREATE FUNCTION dwc._wf_data(run_id pg_catalog.int8) RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN jsonb_build_object(
    'input', (SELECT r.input FROM dwc.ai_workflow_runs r WHERE r.id = run_id),
    'steps', (SELECT coalesce(jsonb_object_agg(s.step, s.output), '{}') FROM dwc.ai_workflow_steps s
               WHERE s.run_id = _wf_data.run_id AND s.status = 'succeeded'));

CREATE FUNCTION dwc._wf_event(r dwc.ai_workflow_runs, kind pg_catalog.text, extra pg_catalog.jsonb DEFAULT '{}')
RETURNS void
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT dwc._publish(jsonb_build_array(jsonb_build_object(
               'kind', kind, 'subject', 'ai_workflow_run:' || r.id,
               'payload', jsonb_build_object('run_id', r.id, 'workflow_id', r.workflow_id, 'status', r.status) || extra,
               'owner', r.owner, 'owner_user', r.owner_user)));
END;

-- move a run on as far as it goes without running a step; then settle its status
CREATE FUNCTION dwc._wf_advance(run_id pg_catalog.int8) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r dwc.ai_workflow_runs;
    steps jsonb;
    st record;
    def jsonb;
    deps text[];
    states text[];
    progressed bool;
    excluded bool;
    taken bool;
    job int8;
    failed record;
BEGIN
    SELECT * INTO r FROM dwc.ai_workflow_runs WHERE id = run_id FOR UPDATE;
    IF r.status NOT IN ('running', 'waiting') THEN
        RETURN;
    END IF;
    SELECT w.steps INTO steps FROM dwc.ai_workflows w WHERE w.id = r.workflow_id;
    LOOP
        progressed := false;
        FOR st IN SELECT * FROM dwc.ai_workflow_steps s WHERE s.run_id = r.id AND s.status = 'pending' ORDER BY s.position
        LOOP
            SELECT x INTO def FROM jsonb_array_elements(steps) x WHERE x->>'id' = st.step;
            deps := ARRAY(SELECT jsonb_array_elements_text(coalesce(def->'after', '[]')));
            states := ARRAY(SELECT s.status FROM dwc.ai_workflow_steps s WHERE s.run_id = r.id AND s.step = ANY (deps));
            CONTINUE WHEN EXISTS (SELECT 1 FROM unnest(states) x WHERE x IN ('pending', 'queued', 'running', 'waiting'));
            -- after a step that failed (or was cancelled for it): this one cannot run either,
            -- unless it joins any and another of its steps succeeded; other branches go on
            IF ('failed' = ANY (states) OR 'cancelled' = ANY (states))
               AND (coalesce(def->>'join', 'all') = 'all' OR NOT 'succeeded' = ANY (states)) THEN
                UPDATE dwc.ai_workflow_steps
                   SET status = 'cancelled', finished_at = clock_timestamp(),
                       error = 'a step it depends on failed: ' || (SELECT string_agg(s.step, ', ' ORDER BY s.position)
                                                                   FROM dwc.ai_workflow_steps s
                                                                  WHERE s.run_id = r.id AND s.step = ANY (deps)
                                                                    AND s.status IN ('failed', 'cancelled'))
                 WHERE ai_workflow_steps.run_id = r.id AND step = st.step;
                progressed := true;
                CONTINUE;
            END IF;
            -- left out by a branch that chose the other way, or after a skipped step
            excluded := EXISTS (SELECT 1 FROM dwc.ai_workflow_steps b
                                 WHERE b.run_id = r.id AND b.status = 'succeeded' AND b.type = 'branch'
                                   AND b.output->'skip' ? st.step);
            IF excluded OR (coalesce(def->>'join', 'all') = 'all' AND 'skipped' = ANY (states))
               OR (def->>'join' = 'any' AND cardinality(states) > 0 AND NOT 'succeeded' = ANY (states)) THEN
                UPDATE dwc.ai_workflow_steps SET status = 'skipped', finished_at = clock_timestamp()
                 WHERE ai_workflow_steps.run_id = r.id AND step = st.step;
            ELSIF st.type = 'branch' THEN
                taken := dwc.condition_matches(def->'if', dwc._wf_data(r.id));
                UPDATE dwc.ai_workflow_steps
                   SET status = 'succeeded', started_at = clock_timestamp(), finished_at = clock_timestamp(), duration_ms = 0,
                       output = jsonb_build_object('taken', CASE WHEN taken THEN 'then' ELSE 'else' END,
                                                   'skip', CASE WHEN taken THEN coalesce(def->'else', '[]')
                                                                ELSE coalesce(def->'then', '[]') END)
                 WHERE ai_workflow_steps.run_id = r.id AND step = st.step;
            ELSIF st.type = 'approval' THEN
                UPDATE dwc.ai_workflow_steps SET status = 'waiting', started_at = clock_timestamp()
                 WHERE ai_workflow_steps.run_id = r.id AND step = st.step;
                PERFORM dwc._wf_event(r, 'workflow.approval_needed',
                                      jsonb_build_object('step', st.step,
                                                         'message', dwc.render_template(def->>'message', dwc._wf_data(r.id))));
            ELSE
                job := dwc._enqueue_as('workflow.step', jsonb_build_object('run_id', r.id, 'step', st.step),
                                        r.owner, r.owner_user, r.scopes, (def->>'max_attempts')::int4);
                UPDATE dwc.ai_workflow_steps SET status = 'queued', job_id = job
                 WHERE ai_workflow_steps.run_id = r.id AND step = st.step;
            END IF;
            progressed := true;
        END LOOP;
        EXIT WHEN NOT progressed;
    END LOOP;
    IF NOT EXISTS (SELECT 1 FROM dwc.ai_workflow_steps s
                    WHERE s.run_id = r.id AND s.status IN ('pending', 'queued', 'running', 'waiting')) THEN
        -- nothing left to run: failed if a step failed (with the first one's error), else succeeded
        SELECT s.step, s.error INTO failed FROM dwc.ai_workflow_steps s
         WHERE s.run_id = r.id AND s.status = 'failed' ORDER BY s.finished_at, s.position LIMIT 1;
        IF failed.step IS NOT NULL THEN
            UPDATE dwc.ai_workflow_runs SET status = 'failed', error = failed.step || ': ' || failed.error,
                   finished_at = clock_timestamp()
             WHERE id = r.id RETURNING * INTO r;
            PERFORM dwc._wf_event(r, 'workflow.failed', jsonb_build_object('step', failed.step, 'error', failed.error));
        ELSE
            UPDATE dwc.ai_workflow_runs SET status = 'succeeded', finished_at = clock_timestamp() WHERE id = r.id
            RETURNING * INTO r;
            PERFORM dwc._wf_event(r, 'workflow.succeeded');
        END IF;
    ELSE
        UPDATE dwc.ai_workflow_runs
           SET status = CASE WHEN EXISTS (SELECT 1 FROM dwc.ai_workflow_steps s WHERE s.run_id = r.id
                                            AND s.status IN ('queued', 'running'))
                             OR NOT EXISTS (SELECT 1 FROM dwc.ai_workflow_steps s WHERE s.run_id = r.id
                                              AND s.status = 'waiting') THEN 'running' ELSE 'waiting' END
         WHERE id = r.id;
    END IF;
END;
$$;

-- a step that failed for good (its job died or was cancelled), as its on_error says: "fail" (the
-- default: the step fails, what depends on it is cancelled, independent branches go on, and
-- the run fails when nothing is left to run), "skip" (as if a branch had left it out), or
-- "continue" (it succeeds with its "default" output and the error)
CREATE FUNCTION dwc._wf_fail(run_id pg_catalog.int8, step pg_catalog.text, error pg_catalog.text) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r dwc.ai_workflow_runs;
    def jsonb;
    policy text;
    n int;
BEGIN
    SELECT * INTO r FROM dwc.ai_workflow_runs x WHERE x.id = _wf_fail.run_id FOR UPDATE;
    IF r.id IS NULL OR r.status IN ('succeeded', 'failed', 'cancelled') THEN
        RETURN;                                 -- over already (a cancelled run's jobs end cancelled)
    END IF;
    SELECT x INTO def FROM dwc.ai_workflows w, jsonb_array_elements(w.steps) x
     WHERE w.id = r.workflow_id AND x->>'id' = _wf_fail.step;
    policy := coalesce(def->>'on_error', 'fail');
    UPDATE dwc.ai_workflow_steps s
       SET status = CASE policy WHEN 'skip' THEN 'skipped' WHEN 'continue' THEN 'succeeded' ELSE 'failed' END,
           output = CASE WHEN policy = 'continue'
                         THEN coalesce(def->'default', '{}') || jsonb_build_object('failed', true, 'error', _wf_fail.error) END,
           error = _wf_fail.error, finished_at = clock_timestamp(),
           duration_ms = extract(epoch FROM clock_timestamp() - coalesce(s.started_at, clock_timestamp())) * 1000
     WHERE s.run_id = _wf_fail.run_id AND s.step = _wf_fail.step
       AND s.status NOT IN ('succeeded', 'skipped', 'failed', 'cancelled');
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n = 1 THEN
        PERFORM dwc._wf_event(r, 'workflow.step_failed',
                              jsonb_build_object('step', step, 'error', error, 'on_error', policy));
    END IF;
    PERFORM dwc._wf_advance(_wf_fail.run_id);
END;
$$;

CREATE FUNCTION dwc.__wf_claim(caller pg_catalog.oid, run_id pg_catalog.int8, step pg_catalog.text)
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r dwc.ai_workflow_runs;
    s dwc.ai_workflow_steps;
    w dwc.ai_workflows;
    def jsonb;
    first_dep text;
BEGIN
    SELECT * INTO r FROM dwc.ai_workflow_runs WHERE id = run_id;
    IF r.id IS NULL OR NOT dwc._may_manage(caller, r.owner, r.owner_user) THEN
        RAISE EXCEPTION 'AI workflow run % does not exist', run_id USING ERRCODE = 'no_data_found';
    END IF;
    SELECT * INTO s FROM dwc.ai_workflow_steps x WHERE x.run_id = r.id AND x.step = __wf_claim.step FOR UPDATE;
    IF s.status NOT IN ('queued', 'running') THEN
        RETURN jsonb_build_object('skip', true, 'status', s.status);
    END IF;
    IF r.status = 'paused' THEN
        -- resumed later: dwc._wf_advance() enqueues it again
        UPDATE dwc.ai_workflow_steps x SET status = 'pending', job_id = NULL WHERE x.run_id = r.id AND x.step = s.step;
        RETURN jsonb_build_object('skip', true, 'status', 'paused');
    ELSIF r.status IN ('cancelled', 'failed') THEN
        UPDATE dwc.ai_workflow_steps x SET status = 'cancelled' WHERE x.run_id = r.id AND x.step = s.step;
        RETURN jsonb_build_object('skip', true, 'status', r.status);
    END IF;
    SELECT * INTO w FROM dwc.ai_workflows WHERE id = r.workflow_id;
    SELECT x INTO def FROM jsonb_array_elements(w.steps) x WHERE x->>'id' = s.step;
    UPDATE dwc.ai_workflow_steps x SET status = 'running',
           attempts = coalesce((SELECT j.attempts FROM dwc.jobs j WHERE j.id = s.job_id), s.attempts + 1),
           started_at = coalesce(x.started_at, clock_timestamp())
     WHERE x.run_id = r.id AND x.step = s.step;
    first_dep := def->'after'->>0;
    RETURN jsonb_build_object(
        'skip', false, 'def', def, 'data', dwc._wf_data(r.id), 'workflow', w.name, 'run_id', r.id,
        'chain_id', r.chain_id,
        -- the text a step works on by default: its first dependency's, else the input's
        'text', coalesce((SELECT coalesce(x.output->>'text', x.output::text) FROM dwc.ai_workflow_steps x
                           WHERE x.run_id = r.id AND x.step = first_dep), r.input->>'text'),
        -- the document a document step continues: the run's latest
        'parent_document', (SELECT (x.output->>'document_id')::int8 FROM dwc.ai_workflow_steps x
                             WHERE x.run_id = r.id AND x.output ? 'document_id' ORDER BY x.finished_at DESC LIMIT 1));
END;
$$;
SELECT dwc._declare_public('dwc.__wf_claim',
  'Private: the workflow.step handler''s start: locks the step, returns its definition and what it sees.');
GRANT EXECUTE ON FUNCTION dwc._wf_claim(pg_catalog.int8, pg_catalog.text) TO PUBLIC;

CREATE FUNCTION dwc.__wf_finish(caller pg_catalog.oid, run_id pg_catalog.int8, step pg_catalog.text,
                                output pg_catalog.jsonb)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r dwc.ai_workflow_runs;
BEGIN
    SELECT * INTO r FROM dwc.ai_workflow_runs WHERE id = run_id FOR UPDATE;
    IF r.id IS NULL OR NOT dwc._may_manage(caller, r.owner, r.owner_user) THEN
        RAISE EXCEPTION 'AI workflow run % does not exist', run_id USING ERRCODE = 'no_data_found';
    END IF;
    UPDATE dwc.ai_workflow_steps s
       SET status = 'succeeded', output = __wf_finish.output, error = NULL, finished_at = clock_timestamp(),
           duration_ms = extract(epoch FROM clock_timestamp() - s.started_at) * 1000,
           tokens = coalesce((__wf_finish.output->>'tokens_in')::int4, 0)
                    + coalesce((__wf_finish.output->>'tokens_out')::int4, 0),
           cost = coalesce((__wf_finish.output->>'cost')::float8, 0)
     WHERE s.run_id = r.id AND s.step = __wf_finish.step;
    IF r.chain_id IS NULL AND __wf_finish.output ? 'chain_id' THEN
        UPDATE dwc.ai_workflow_runs SET chain_id = (__wf_finish.output->>'chain_id')::int8 WHERE id = r.id;
    END IF;
    PERFORM dwc._wf_advance(r.id);
END;
$$;
SELECT dwc._declare_public('dwc.__wf_finish',
  'Private: the workflow.step handler''s end: records the output and moves the run on.');
GRANT EXECUTE ON FUNCTION dwc._wf_finish(pg_catalog.int8, pg_catalog.text, pg_catalog.jsonb) TO PUBLIC;

-- the handler calls them as the job's role; the private halves check who that is

-- the AI's answer naming one of the choices, as a word (the first named wins)
CREATE FUNCTION dwc._named_choice(answer pg_catalog.text, choices pg_catalog.text[]) RETURNS pg_catalog.text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
RETURN (SELECT c FROM unnest(choices) c
         WHERE lower(answer) ~ ('(^|[^a-z0-9_])' || regexp_replace(lower(c), '([^a-z0-9_ ])', '\\\1', 'g') || '($|[^a-z0-9_])')
         ORDER BY strpos(lower(answer), lower(c)) LIMIT 1);
GRANT EXECUTE ON FUNCTION dwc._named_choice(pg_catalog.text, pg_catalog.text[]) TO PUBLIC;

-- one step, as the workflow's owner (the job's role); its output
-- The API-key scope a step needs: what a key would need to do the same directly (NULL: none).
CREATE FUNCTION dwc._wf_step_scope(step_type pg_catalog.text) RETURNS pg_catalog.text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
RETURN CASE WHEN step_type IN ('generate', 'analyze', 'summarize', 'translate', 'classify', 'extract') THEN 'ai'
            WHEN step_type = 'ml' THEN 'ml' WHEN step_type = 'recommend' THEN 'recommendations'
            WHEN step_type = 'chain' THEN 'workflows' WHEN step_type = 'notify' THEN 'notifications' END;
COMMENT ON FUNCTION dwc._wf_step_scope(pg_catalog.text) IS
  'Private: the API-key scope a workflow step of this type needs, when its run was started through a key.';
GRANT EXECUTE ON FUNCTION dwc._wf_step_scope(pg_catalog.text) TO PUBLIC;

CREATE FUNCTION dwc._wf_execute(c pg_catalog.jsonb) RETURNS pg_catalog.jsonb
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    def jsonb := c->'def';
    data jsonb := c->'data';
    t text := def->>'type';
    txt text := coalesce(dwc.render_template(def->>'text', data), c->>'text', '');
    g jsonb;
    labels text[];
    fields text[];
    label text;
    obj jsonb;
    prompt text;
BEGIN
    -- a run started through an API key does only what the key could do directly
    IF dwc._wf_step_scope(t) IS NOT NULL THEN
        PERFORM dwc._require_scope(dwc._wf_step_scope(t), format('run %s steps', t));
    END IF;
    CASE t
    WHEN 'generate' THEN
        prompt := dwc.render_template(def->>'prompt', data);
        IF coalesce((def->>'document')::bool, false) THEN
            -- a document node of the run's chain: the first makes the chain
            IF c->>'chain_id' IS NULL THEN
                g := dwc.create_chain(coalesce(c->>'workflow', 'workflow') || ' run ' || (c->>'run_id'), prompt,
                                      provider => def->>'provider', model => def->>'model');
                g := jsonb_build_object('chain_id', g->'id', 'document_id', g->'root'->'id', 'title', g->'root'->'title',
                                        'text', g->'root'->'content', 'tokens_in', g->'root'->'tokens_in',
                                        'tokens_out', g->'root'->'tokens_out', 'cost', g->'root'->'cost');
            ELSE
                g := dwc.continue_chain((c->>'chain_id')::int8, prompt, (c->>'parent_document')::int8);
                g := jsonb_build_object('chain_id', (c->>'chain_id')::int8, 'document_id', g->'id', 'title', g->'title',
                                        'text', g->'content', 'tokens_in', g->'tokens_in', 'tokens_out', g->'tokens_out',
                                        'cost', g->'cost');
            END IF;
            RETURN g;
        END IF;
        RETURN dwc.ai_generate(prompt, dwc.render_template(def->>'system', data), def->>'provider', def->>'model',
                               (def->>'temperature')::float8, (def->>'max_tokens')::int4);
    WHEN 'analyze' THEN
        RETURN dwc.analyze_text(txt);
    WHEN 'summarize' THEN
        IF def ? 'provider' THEN
            RETURN dwc.ai_generate('Summarise in ' || coalesce(def->>'sentences', '3') || E' sentences:\n\n' || txt,
                                   provider => def->>'provider', model => def->>'model');
        END IF;
        RETURN jsonb_build_object('text', dwc.summarize(txt, coalesce((def->>'sentences')::int4, 3)));
    WHEN 'translate' THEN
        RETURN dwc.ai_generate('Translate into ' || dwc.render_template(def->>'language', data)
                               || E'. Answer with the translation only.\n\n' || txt,
                               provider => def->>'provider', model => def->>'model');
    WHEN 'classify' THEN
        labels := ARRAY(SELECT jsonb_array_elements_text(def->'labels'));
        g := dwc.ai_generate('Classify the text as one of: ' || array_to_string(labels, ', ')
                             || E'. Answer with the label only.\n\n' || txt,
                             provider => def->>'provider', model => def->>'model', max_tokens => 20);
        IF g->>'provider' = 'builtin' AND def ? 'fallback' THEN
            RETURN g || jsonb_build_object('label', def->>'fallback', 'by', 'fallback',
                                           'why', 'the builtin provider cannot classify: it writes text from templates');
        END IF;
        g := dwc._ai_refuse_builtin(g, 'classify');
        label := dwc._named_choice(g->>'text', labels);
        IF label IS NULL AND def ? 'fallback' THEN
            RETURN g || jsonb_build_object('label', def->>'fallback', 'by', 'fallback');
        ELSIF label IS NULL THEN
            RAISE EXCEPTION 'the answer names none of the labels: %', left(g->>'text', 200)
                USING ERRCODE = 'data_exception';
        END IF;
        RETURN g || jsonb_build_object('label', label, 'by', g->>'provider');
    WHEN 'extract' THEN
        fields := ARRAY(SELECT jsonb_array_elements_text(def->'fields'));
        g := dwc._ai_refuse_builtin(
                 dwc.ai_generate('Extract from the text a JSON object with exactly the keys ' || array_to_string(fields, ', ')
                                 || E'. Answer with the JSON object only.\n\n' || txt,
                                 provider => def->>'provider', model => def->>'model'),
                 'extract fields');
        BEGIN
            obj := substring(g->>'text' FROM '\{.*\}')::jsonb;
        EXCEPTION WHEN invalid_text_representation THEN
            obj := NULL;
        END;
        IF obj IS NULL OR jsonb_typeof(obj) <> 'object' OR EXISTS (SELECT 1 FROM unnest(fields) f WHERE NOT obj ? f) THEN
            RAISE EXCEPTION 'the answer is not a JSON object with %: %', array_to_string(fields, ', '), left(g->>'text', 200)
                USING ERRCODE = 'data_exception';
        END IF;
        RETURN (g - 'text') || jsonb_build_object('fields', obj, 'text', obj::text);
    WHEN 'ml' THEN
        RETURN jsonb_build_object('prediction', dwc.ml_predict(def->>'model', dwc._render_object(def->'input', data)));
    WHEN 'recommend' THEN
        RETURN jsonb_build_object('items', (SELECT coalesce(jsonb_agg(jsonb_build_object('item_id', x.item_id, 'score', x.score)), '[]')
                                              FROM dwc.recommend(dwc.render_template(def->>'user_id', data), def->>'model',
                                                                 coalesce((def->>'n')::int4, 10)) x));
    WHEN 'chain' THEN
        RETURN dwc.continue_chain(dwc.render_template(def->>'chain_id', data)::int8, dwc.render_template(def->>'prompt', data));
    WHEN 'notify' THEN
        RETURN dwc._notify_action(def, data);
    END CASE;
END;
$$;
-- the handler runs as the workflow's owner, and this does nothing the owner could not do
GRANT EXECUTE ON FUNCTION dwc._wf_execute(pg_catalog.jsonb) TO PUBLIC;

CREATE FUNCTION dwc._job_workflow_step(payload pg_catalog.jsonb) RETURNS pg_catalog.jsonb
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    run_id int8 := (payload->>'run_id')::int8;
    step text := payload->>'step';
    c jsonb;
    out jsonb;
BEGIN
    c := dwc._wf_claim(run_id, step);
    IF (c->>'skip')::bool THEN
        RETURN jsonb_build_object('ok', true, 'run_id', run_id, 'step', step, 'skipped', c->>'status');
    END IF;
    out := dwc._wf_execute(c);
    PERFORM dwc._wf_finish(run_id, step, out);
    RETURN jsonb_build_object('ok', true, 'run_id', run_id, 'step', step);
END;
$$;
COMMENT ON FUNCTION dwc._job_workflow_step(pg_catalog.jsonb) IS
  'Private: handler of workflow.step jobs ({"run_id", "step"}): runs one step of an AI workflow as its owner.';
GRANT EXECUTE ON FUNCTION dwc._job_workflow_step(pg_catalog.jsonb) TO PUBLIC;

-- ---- outcomes, told by the queue (src/queue/outcomes.sql) ----------------------------------

-- a step's failed attempt (retried) and its last (dead): recorded where the queue records them
CREATE FUNCTION dwc._wf_step_retried(job dwc.jobs) RETURNS void
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    UPDATE dwc.ai_workflow_steps SET attempts = job.attempts, error = job.last_error, status = 'queued'
     WHERE run_id = (job.payload->>'run_id')::int8 AND step = job.payload->>'step' AND status = 'running';
END;
COMMENT ON FUNCTION dwc._wf_step_retried(dwc.jobs) IS
  'Private: on_retry hook of workflow.step: the step waits for its next attempt, with the error.';

CREATE FUNCTION dwc._wf_steps_ended(jobs dwc.job_history[]) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    j record;
BEGIN
    FOR j IN SELECT (a.payload->>'run_id')::int8 AS run_id, a.payload->>'step' AS step, a.attempts,
                    coalesce(a.last_error, a.result->>'error', a.status) AS error
               FROM unnest(jobs) a WHERE a.status IN ('dead', 'cancelled')
    LOOP
        UPDATE dwc.ai_workflow_steps SET attempts = greatest(attempts, j.attempts)
         WHERE run_id = j.run_id AND step = j.step;
        PERFORM dwc._wf_fail(j.run_id, j.step, j.error);
    END LOOP;
END;
$$;
COMMENT ON FUNCTION dwc._wf_steps_ended(dwc.job_history[]) IS
  'Private: on_end hook of workflow.step: a step whose job died or was cancelled fails, as its on_error says.';

-- leased: steps call AI providers after the claiming transaction has committed; a step is
-- recorded done in the transaction of its effects, so a lost lease does not do it twice
SELECT dwc.register_job_kind('workflow.step', 'dwc._job_workflow_step(pg_catalog.jsonb)',
                             'Runs one step of an AI workflow run ({"run_id", "step"}), as the workflow''s owner.',
                             interval '10 minutes', 3, true,
                             on_retry => 'dwc._wf_step_retried(dwc.jobs)',
                             on_end => 'dwc._wf_steps_ended(dwc.job_history[])',
                             final_errors => '{invalid_parameter_value, feature_not_supported, insufficient_privilege, no_data_found, undefined_function, undefined_table, object_not_in_prerequisite_state}');
