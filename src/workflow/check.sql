-- src/workflow/check.sql: checking a workflow's definition when it is saved: its steps, their
-- dependencies (a DAG), types and fields.

CREATE FUNCTION dwc._wf_check(steps pg_catalog.jsonb) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s jsonb;
    ids text[] := '{}';
    t text;
    d text;
    i int := 0;
    changed bool;
    done text[] := '{}';
BEGIN
    IF steps IS NULL OR jsonb_typeof(steps) <> 'array' OR jsonb_array_length(steps) NOT BETWEEN 1 AND 100 THEN
        RAISE EXCEPTION 'steps must be an array of 1 to 100 steps' USING ERRCODE = 'invalid_parameter_value',
            HINT = 'A step is {"id", "type", "after": [ids], ...}; see docs/workflows.md.';
    END IF;
    FOR s IN SELECT * FROM jsonb_array_elements(steps)
    LOOP
        IF jsonb_typeof(s) <> 'object' OR jsonb_typeof(s->'id') IS DISTINCT FROM 'string'
           OR (s->>'id') !~ '^[a-z_][a-z0-9_]{0,62}$' THEN
            RAISE EXCEPTION 'step % needs an "id" of lower-case letters, digits and _', i USING ERRCODE = 'invalid_parameter_value';
        END IF;
        IF s->>'id' = ANY (ids) THEN
            RAISE EXCEPTION 'two steps are called "%"', s->>'id' USING ERRCODE = 'invalid_parameter_value';
        END IF;
        ids := ids || (s->>'id');
        t := s->>'type';
        IF t IS NULL OR t NOT IN ('generate', 'analyze', 'summarize', 'translate', 'classify', 'extract', 'branch',
                                  'ml', 'recommend', 'approval', 'chain', 'notify') THEN
            RAISE EXCEPTION 'step "%" has unknown type "%"', s->>'id', t USING ERRCODE = 'invalid_parameter_value',
                HINT = 'Types: generate, analyze, summarize, translate, classify, extract, branch, ml, recommend, approval, chain, notify.';
        END IF;
        IF t = 'notify' THEN
            PERFORM dwc._notify_check_action(s, 'step ("' || (s->>'id') || '")');
        END IF;
        IF s ? 'after' AND (jsonb_typeof(s->'after') <> 'array'
                            OR EXISTS (SELECT 1 FROM jsonb_array_elements(s->'after') x WHERE jsonb_typeof(x) <> 'string')) THEN
            RAISE EXCEPTION 'step "%": "after" is an array of step ids', s->>'id' USING ERRCODE = 'invalid_parameter_value';
        END IF;
        IF (t = 'generate' AND jsonb_typeof(s->'prompt') IS DISTINCT FROM 'string')
           OR (t = 'translate' AND jsonb_typeof(s->'language') IS DISTINCT FROM 'string')
           OR (t = 'classify' AND (jsonb_typeof(s->'labels') IS DISTINCT FROM 'array' OR jsonb_array_length(s->'labels') < 2))
           OR (t = 'extract' AND (jsonb_typeof(s->'fields') IS DISTINCT FROM 'array' OR jsonb_array_length(s->'fields') < 1))
           OR (t = 'branch' AND (NOT s ? 'if' OR jsonb_typeof(coalesce(s->'then', '[]')) <> 'array'
                                 OR jsonb_typeof(coalesce(s->'else', '[]')) <> 'array'))
           OR (t = 'ml' AND (jsonb_typeof(s->'model') IS DISTINCT FROM 'string' OR jsonb_typeof(s->'input') IS DISTINCT FROM 'object'))
           OR (t = 'recommend' AND (jsonb_typeof(s->'model') IS DISTINCT FROM 'string' OR jsonb_typeof(s->'user_id') IS DISTINCT FROM 'string'))
           OR (t = 'chain' AND coalesce(jsonb_typeof(s->'chain_id'), 'null') NOT IN ('number', 'string')) THEN
            RAISE EXCEPTION 'step "%" (%) lacks what its type needs', s->>'id', t USING ERRCODE = 'invalid_parameter_value',
                HINT = 'generate: prompt; translate: language; classify: labels (2 or more); extract: fields; '
                       'branch: if, then, else; ml: model, input; recommend: model, user_id; chain: chain_id.';
        END IF;
        IF t = 'branch' THEN
            PERFORM dwc.check_condition(s->'if');
        END IF;
        IF (s ? 'on_error' AND jsonb_typeof(s->'on_error') <> 'string')
           OR coalesce(s->>'on_error', 'fail') NOT IN ('fail', 'skip', 'continue') THEN
            RAISE EXCEPTION 'step "%": on_error is "fail", "skip" or "continue"', s->>'id'
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        IF s ? 'default' AND (s->>'on_error' IS DISTINCT FROM 'continue' OR jsonb_typeof(s->'default') <> 'object') THEN
            RAISE EXCEPTION 'step "%": "default" is the object a step gives when it fails with on_error "continue"', s->>'id'
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        IF t = 'approval' AND s ? 'on_error' THEN
            RAISE EXCEPTION 'step "%": an approval does not fail, so it takes no on_error', s->>'id'
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        i := i + 1;
    END LOOP;
    -- references name steps, and the graph has no cycle (each step's dependencies come first)
    FOR s IN SELECT * FROM jsonb_array_elements(steps)
    LOOP
        FOR d IN SELECT * FROM jsonb_array_elements_text(coalesce(s->'after', '[]') || coalesce(s->'then', '[]')
                                                         || coalesce(s->'else', '[]'))
        LOOP
            IF NOT d = ANY (ids) THEN
                RAISE EXCEPTION 'step "%" names step "%", which does not exist', s->>'id', d
                    USING ERRCODE = 'invalid_parameter_value';
            END IF;
        END LOOP;
    END LOOP;
    LOOP
        changed := false;
        FOR s IN SELECT * FROM jsonb_array_elements(steps)
        LOOP
            CONTINUE WHEN (s->>'id') = ANY (done);
            IF NOT EXISTS (SELECT 1 FROM jsonb_array_elements_text(coalesce(s->'after', '[]')) a WHERE NOT a = ANY (done)) THEN
                done := done || (s->>'id');
                changed := true;
            END IF;
        END LOOP;
        EXIT WHEN NOT changed;
    END LOOP;
    IF cardinality(done) < cardinality(ids) THEN
        RAISE EXCEPTION 'the steps'' dependencies form a cycle' USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Steps left in it: ' || array_to_string(array(SELECT x FROM unnest(ids) x WHERE NOT x = ANY (done)), ', ');
    END IF;
    -- a branch's targets depend on it: they run only when it has decided
    FOR s IN SELECT * FROM jsonb_array_elements(steps) WHERE value->>'type' = 'branch'
    LOOP
        IF EXISTS (SELECT 1 FROM jsonb_array_elements_text(coalesce(s->'then', '[]') || coalesce(s->'else', '[]')) b
                    WHERE NOT EXISTS (SELECT 1 FROM jsonb_array_elements(steps) x
                                       WHERE x->>'id' = b AND coalesce(x->'after', '[]') ? (s->>'id'))) THEN
            RAISE EXCEPTION 'the steps a branch chooses between must come after it (step "%")', s->>'id'
                USING ERRCODE = 'invalid_parameter_value', HINT = 'Put the branch''s id in their "after".';
        END IF;
    END LOOP;
END;
$$;
