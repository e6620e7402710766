-- src/chain/manage.sql: the private halves of making, continuing (now or as a leased job),
-- changing, deleting and reading chains, behind the trampoline (src/security/trampoline.c).

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
    'completed_at', c.completed_at, 'head_id', c.head_id,
    'documents', (SELECT count(*) FROM dwc.documents d WHERE d.chain_id = c.id)));

CREATE FUNCTION dwc._create_chain(caller pg_catalog.oid, name pg_catalog.text, initial_prompt pg_catalog.text,
                                  description pg_catalog.text DEFAULT NULL,
                                  provider pg_catalog.text DEFAULT NULL, model pg_catalog.text DEFAULT NULL,
                                  context_budget pg_catalog.int4 DEFAULT NULL,
                                  temperature pg_catalog.float8 DEFAULT NULL,
                                  max_tokens pg_catalog.int4 DEFAULT NULL, style pg_catalog.text DEFAULT NULL,
                                  settings pg_catalog.jsonb DEFAULT NULL)
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
    UPDATE dwc.chains SET head_id = d.id WHERE id = c.id RETURNING * INTO c;
    RETURN dwc._chain_json(c) || jsonb_build_object('root', dwc._document_json(d));
END;
$$;
SELECT dwc._declare_public('dwc._create_chain',
  'Creates a chain and generates its first document from initial_prompt. provider defaults to '
  'builtin; context_budget (tokens, default 4000) bounds what each generation sees of the earlier '
  'documents; max_tokens (default 800) bounds each document. Returns the chain with its root document.');

CREATE FUNCTION dwc._continue_chain(caller pg_catalog.oid, chain_id pg_catalog.int8,
                                    prompt pg_catalog.text DEFAULT NULL,
                                    from_document pg_catalog.int8 DEFAULT NULL)
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    c dwc.chains := dwc._own_chain(chain_id, caller);
    parent int8 := coalesce(from_document, c.head_id);
    d dwc.documents;
BEGIN
    PERFORM dwc._chain_grows(c);
    d := dwc._generate_document(c, parent, prompt, caller);
    -- grown from the head, the main line goes on (unless the head moved meanwhile); from
    -- another document, it is a branch
    UPDATE dwc.chains x SET head_id = d.id WHERE x.id = c.id AND x.head_id IS NOT DISTINCT FROM parent;
    RETURN dwc._document_json(d);
END;
$$;
SELECT dwc._declare_public('dwc._continue_chain',
  'Generates the next document of an active chain from from_document (default: the latest '
  'document; another document makes a branch). Without a prompt, one is derived from the parent''s '
  'title and keywords. Returns the new document.');

-- only active chains grow (continue, regenerate, write, merge)
CREATE FUNCTION dwc._chain_grows(c dwc.chains) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF c.status <> 'active' THEN
        RAISE EXCEPTION 'chain % is %', c.id, c.status
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = CASE c.status WHEN 'paused' THEN 'Resume it with dwc.resume_chain().'
                         ELSE 'Only active chains grow.' END;
    END IF;
END;
$$;
COMMENT ON FUNCTION dwc._chain_grows(dwc.chains) IS
  'Private: raises object_not_in_prerequisite_state unless the chain is active (the only status that grows).';

CREATE FUNCTION dwc._continue_chain_async(caller pg_catalog.oid, chain_id pg_catalog.int8,
                                          prompt pg_catalog.text DEFAULT NULL,
                                          from_document pg_catalog.int8 DEFAULT NULL,
                                          priority pg_catalog.text DEFAULT 'normal')
RETURNS pg_catalog.int8
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    c dwc.chains := dwc._own_chain(chain_id, caller);
BEGIN
    PERFORM dwc._chain_grows(c);
    IF from_document IS NOT NULL THEN
        PERFORM dwc._own_document(from_document, caller);
    END IF;
    -- the job runs as the caller, through the public function, with ownership checks again
    RETURN dwc._enqueue_as('chain.continue',
                           jsonb_strip_nulls(jsonb_build_object('chain_id', c.id, 'prompt', prompt,
                                                                'from_document', from_document)),
                           caller, dwc.current_user_id(), dwc.current_scopes(), NULL, coalesce(priority, 'normal'));
END;
$$;
SELECT dwc._declare_public('dwc._continue_chain_async',
  'Like dwc.continue_chain(), as a job (kind chain.continue) run by the queue as the caller: returns '
  'the job id at once. The new document is announced on channel dwc_chain_<id> and in dwc.chain_events.');

CREATE FUNCTION dwc._job_chain_continue(payload pg_catalog.jsonb) RETURNS pg_catalog.jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    d jsonb := dwc.continue_chain((payload->>'chain_id')::int8, payload->>'prompt',
                                  (payload->>'from_document')::int8);
BEGIN
    RETURN jsonb_build_object('ok', true, 'document_id', d->'id', 'title', d->'title',
                              'quality_score', d->'quality_score');
END;
$$;
COMMENT ON FUNCTION dwc._job_chain_continue(pg_catalog.jsonb) IS
  'Private: handler of chain.continue jobs (dwc.continue_chain_async()); runs as the job''s enqueuer. '
  'Errors no retry can fix end the job dead with {"ok": false} and a continue_failed chain event; '
  'others are retried by the queue.';

-- the jobs that ended on an error no attempt could fix: the chain says why
CREATE FUNCTION dwc._chain_jobs_ended(jobs dwc.job_history[]) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM dwc._chain_event(c.id, 'continue_failed', NULL,
                             jsonb_build_object('sqlstate', j.result->>'sqlstate', 'error', j.result->>'error'), j.id)
       FROM unnest(jobs) j JOIN dwc.chains c ON c.id = (j.payload->>'chain_id')::int8
      WHERE j.status = 'dead' AND j.result ? 'sqlstate'
      ORDER BY j.finished_at, j.id;
END;
$$;
COMMENT ON FUNCTION dwc._chain_jobs_ended(dwc.job_history[]) IS
  'Private: on_end hook of chain.continue: a continue_failed event for each job that ended on an error no '
  'attempt could fix (the chain was paused, completed or deleted meanwhile, the document is gone).';

-- leased: the AI call runs after the worker's claiming transaction has committed; the errors
-- another attempt cannot fix end the job at once (the provider failing is retried)
SELECT dwc.register_job_kind('chain.continue', 'dwc._job_chain_continue(pg_catalog.jsonb)',
                             'Generates the next document of a chain (dwc.continue_chain_async).',
                             interval '10 minutes', NULL, true,
                             on_end => 'dwc._chain_jobs_ended(dwc.job_history[])',
                             final_errors => '{object_not_in_prerequisite_state, no_data_found, invalid_parameter_value, undefined_object, insufficient_privilege}');

CREATE FUNCTION dwc._set_chain_status(caller pg_catalog.oid, chain_id pg_catalog.int8, status pg_catalog.text)
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
SELECT dwc._declare_public('dwc._set_chain_status',
  'Moves a chain to another status: active <-> paused, active or paused -> completed, any but '
  'archived -> archived. Other moves raise object_not_in_prerequisite_state (55000).');

CREATE FUNCTION dwc._update_chain(caller pg_catalog.oid, chain_id pg_catalog.int8,
                                  name pg_catalog.text DEFAULT NULL, description pg_catalog.text DEFAULT NULL,
                                  provider pg_catalog.text DEFAULT NULL, model pg_catalog.text DEFAULT NULL,
                                  context_budget pg_catalog.int4 DEFAULT NULL,
                                  temperature pg_catalog.float8 DEFAULT NULL,
                                  max_tokens pg_catalog.int4 DEFAULT NULL, style pg_catalog.text DEFAULT NULL,
                                  settings pg_catalog.jsonb DEFAULT NULL)
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
SELECT dwc._declare_public('dwc._update_chain',
  'Changes a chain''s name, description or generation settings (NULL keeps a field); affects documents generated from now on.');

CREATE FUNCTION dwc._delete_chain(caller pg_catalog.oid, chain_id pg_catalog.int8) RETURNS pg_catalog.bool
LANGUAGE plpgsql STRICT SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM dwc._own_chain(chain_id, caller, true);
    DELETE FROM dwc.chains WHERE id = chain_id;
    RETURN true;
END;
$$;
SELECT dwc._declare_public('dwc._delete_chain',
  'Deletes a chain with its documents, versions and events.');

CREATE FUNCTION dwc._get_chain(caller pg_catalog.oid, chain_id pg_catalog.int8,
                               with_content pg_catalog.bool DEFAULT true)
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
SELECT dwc._declare_public('dwc._get_chain',
  'A chain with its documents (their content unless with_content is false), oldest first.',
  volatility => 'stable');

CREATE FUNCTION dwc._list_chains(caller pg_catalog.oid, status pg_catalog.text DEFAULT NULL) RETURNS pg_catalog.jsonb
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
RETURN (SELECT coalesce(jsonb_agg(dwc._chain_json(c) ORDER BY c.id DESC), '[]')
          FROM dwc.chains c
         WHERE dwc._may_manage(caller, c.owner, c.owner_user)
           AND (_list_chains.status IS NULL OR c.status = _list_chains.status));
SELECT dwc._declare_public('dwc._list_chains',
  'The caller''s chains, newest first, optionally of one status.',
  volatility => 'stable');

CREATE FUNCTION dwc._get_document(caller pg_catalog.oid, document_id pg_catalog.int8) RETURNS pg_catalog.jsonb
LANGUAGE sql STRICT SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
RETURN dwc._document_json(dwc._own_document(document_id, caller));
SELECT dwc._declare_public('dwc._get_document',
  'A document with its prompt, usage, quality and context metadata.',
  volatility => 'stable');
