-- src/api/workflows.sql: the seed's /workflows endpoints (document workflow chains) for
-- PostgREST. A workflow is a chain; its nodes are the chain's documents.

-- API: Public

CREATE FUNCTION api_impl.create_workflow(
    name pg_catalog.text,
    initial_prompt pg_catalog.text DEFAULT NULL,
    description pg_catalog.text DEFAULT NULL,
    provider pg_catalog.text DEFAULT NULL,
    model pg_catalog.text DEFAULT NULL,
    context_budget pg_catalog.int4 DEFAULT NULL,
    temperature pg_catalog.float8 DEFAULT NULL,
    max_tokens pg_catalog.int4 DEFAULT NULL,
    style pg_catalog.text DEFAULT NULL,
    settings pg_catalog.jsonb DEFAULT NULL,
    input_data pg_catalog.jsonb DEFAULT NULL,
    ai_provider pg_catalog.text DEFAULT NULL,
    workflow_type pg_catalog.text DEFAULT NULL,
    template_name pg_catalog.text DEFAULT NULL)
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    -- the seed's request: input_data's prompt (or topic) starts the chain, ai_provider writes it
    prompt text := coalesce(initial_prompt, input_data ->> 'prompt', input_data ->> 'topic');
BEGIN
    IF prompt IS NULL THEN
        RAISE EXCEPTION 'a workflow needs a first prompt' USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Send initial_prompt, or input_data with a prompt or a topic.';
    END IF;
    RETURN dwc.create_chain(name, prompt, description, coalesce(provider, ai_provider), model, context_budget,
                            temperature, max_tokens, style,
                            coalesce(settings, '{}') || jsonb_strip_nulls(jsonb_build_object(
                                'input_data', input_data, 'workflow_type', workflow_type,
                                'template_name', template_name)));
END;
$$;
SELECT dwc._declare_http('api_impl.create_workflow',
  'Create a workflow (POST /workflows, the seed''s POST /ai-workflows): a document chain whose first node is '
  'generated from initial_prompt (or input_data''s prompt or topic). provider (or ai_provider) defaults to builtin; '
  'input_data, workflow_type and template_name are kept in the chain''s settings. Returns the workflow with its '
  'root node.',
  access => 'user', grp => 'workflows');

CREATE FUNCTION api_impl.get_workflow(id pg_catalog.int8, with_content pg_catalog.bool DEFAULT true)
RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN dwc.get_chain(id, with_content);
SELECT dwc._declare_http('api_impl.get_workflow',
  'A workflow with its nodes, oldest first (GET /workflows/{id}).',
  access => 'user', grp => 'workflows');

CREATE FUNCTION api_impl.list_workflows(status pg_catalog.text DEFAULT NULL)
RETURNS TABLE (id pg_catalog.int8, name pg_catalog.text, description pg_catalog.text, owner pg_catalog.text,
               owner_user pg_catalog.text, status pg_catalog.text, provider pg_catalog.text, model pg_catalog.text,
               context_budget pg_catalog.int4, temperature pg_catalog.float8, max_tokens pg_catalog.int4,
               style pg_catalog.text, settings pg_catalog.jsonb, created_at pg_catalog.timestamptz,
               updated_at pg_catalog.timestamptz, completed_at pg_catalog.timestamptz, head_id pg_catalog.int8,
               documents pg_catalog.int8)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT * FROM jsonb_to_recordset(dwc.list_chains(status))
        AS r (id int8, name text, description text, owner text, owner_user text, status text, provider text,
              model text, context_budget int4, temperature float8, max_tokens int4, style text, settings jsonb,
              created_at timestamptz, updated_at timestamptz, completed_at timestamptz, head_id int8, documents int8);
END;
SELECT dwc._declare_http('api_impl.list_workflows',
  'The caller''s workflows, newest first, optionally of one status (GET /workflows). '
  'Rows PostgREST can filter, order, page and count.',
  access => 'user', grp => 'workflows');

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
SELECT dwc._declare_http('api_impl.update_workflow',
  'Change a workflow (PUT /workflows/{id}): settings given replace the current ones; status moves '
  'it (active, paused, completed, archived) with the transitions of dwc.set_chain_status().',
  access => 'user', grp => 'workflows');

CREATE FUNCTION api_impl.delete_workflow(id pg_catalog.int8)
RETURNS pg_catalog.bool
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN dwc.delete_chain(id);
SELECT dwc._declare_http('api_impl.delete_workflow',
  'Delete a workflow with its nodes (DELETE /workflows/{id}).',
  access => 'user', grp => 'workflows');

CREATE FUNCTION api_impl.add_workflow_node(id pg_catalog.int8, prompt pg_catalog.text DEFAULT NULL,
                                      parent_node pg_catalog.int8 DEFAULT NULL)
RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN dwc.continue_chain(id, prompt, parent_node);
SELECT dwc._declare_http('api_impl.add_workflow_node',
  'Generate the next node of a workflow (POST /workflows/{id}/nodes) from parent_node (default: '
  'the newest node; another one makes a branch). Without a prompt one is derived. Returns the node.',
  access => 'user', grp => 'workflows');

CREATE FUNCTION api_impl.get_workflow_node(node_id pg_catalog.int8)
RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN dwc.get_document(node_id);
SELECT dwc._declare_http('api_impl.get_workflow_node',
  'One node (document) of a workflow (GET /workflows/nodes/{id}).',
  access => 'user', grp => 'workflows');

CREATE FUNCTION api_impl.update_workflow_node(node_id pg_catalog.int8, content pg_catalog.text DEFAULT NULL,
                                         title pg_catalog.text DEFAULT NULL)
RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN dwc.edit_document(node_id, content, title);
SELECT dwc._declare_http('api_impl.update_workflow_node',
  'Edit a node''s content and/or title (PUT /workflows/nodes/{id}); the previous version is kept.',
  access => 'user', grp => 'workflows');

CREATE FUNCTION api_impl.workflow_node_versions(node_id pg_catalog.int8)
RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN dwc.document_versions(node_id);
SELECT dwc._declare_http('api_impl.workflow_node_versions',
  'Every version of a node, oldest first.',
  access => 'user', grp => 'workflows');

CREATE FUNCTION api_impl.execute_workflow(id pg_catalog.int8 DEFAULT NULL, prompt pg_catalog.text DEFAULT NULL,
                                     parent_node pg_catalog.int8 DEFAULT NULL, steps pg_catalog.int4 DEFAULT 1,
                                     async pg_catalog.bool DEFAULT false,
                                     workflow_id pg_catalog.int8 DEFAULT NULL,
                                     parameters pg_catalog.jsonb DEFAULT NULL)
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    nodes jsonb := '[]';
    node jsonb;
    parent int8 := parent_node;
BEGIN
    -- the seed's request: workflow_id, and parameters whose prompt (if any) is the step's
    id := coalesce(id, workflow_id);
    prompt := coalesce(prompt, parameters ->> 'prompt');
    IF id IS NULL THEN
        RAISE EXCEPTION 'no workflow' USING ERRCODE = 'invalid_parameter_value', HINT = 'Send id (or workflow_id).';
    END IF;
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
SELECT dwc._declare_http('api_impl.execute_workflow',
  'Execute a workflow (POST /workflows/{id}/execute): generate steps nodes in a row (1 to 20), '
  'each from the previous one, in this request; or, with async, one node as a queue job: returns '
  'its job_id and the channel (dwc_chain_<id>) that announces the node. The seed''s workflow_id names it too, and '
  'its parameters'' prompt is the first step''s prompt (a step takes no other parameter).',
  access => 'user', grp => 'workflows');

CREATE FUNCTION api_impl.workflow_analytics(id pg_catalog.int8)
RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN dwc.chain_analytics(id);
SELECT dwc._declare_http('api_impl.workflow_analytics',
  'Per workflow: nodes, depth, branches, tokens, cost, average quality, generation time, edits (GET /workflows/{id}/analytics).',
  access => 'user', grp => 'workflows');

CREATE FUNCTION api_impl.export_workflow(id pg_catalog.int8, format pg_catalog.text DEFAULT 'json')
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    CASE format
        WHEN 'json' THEN RETURN dwc.export_chain_json(id);
        WHEN 'markdown' THEN RETURN jsonb_build_object('format', 'markdown', 'content', dwc.export_chain_markdown(id));
        WHEN 'html' THEN RETURN jsonb_build_object('format', 'html', 'content', dwc.export_chain_html(id));
        ELSE RAISE EXCEPTION 'unknown export format "%"', format
                 USING ERRCODE = 'invalid_parameter_value', HINT = 'Formats: json, markdown, html.';
    END CASE;
END;
$$;
SELECT dwc._declare_http('api_impl.export_workflow',
  'Export a workflow as JSON (format dwc.chain/1), or as Markdown or HTML (wrapped in {"format", "content"}).',
  access => 'user', grp => 'workflows');

-- the page itself, for a browser (Accept: text/html), to read or print
CREATE FUNCTION api_impl.export_workflow_html(id pg_catalog.int8)
RETURNS dwc."text/html"
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN dwc.export_chain_html(id)::dwc."text/html";
SELECT dwc._declare_http('api_impl.export_workflow_html',
  'A workflow as one HTML page that prints a chapter a page (GET /workflows/{id}/export.html; Accept: text/html).',
  access => 'user', grp => 'workflows');

CREATE FUNCTION api_impl.search_workflows(query pg_catalog.text, workflow_id pg_catalog.int8 DEFAULT NULL,
                                     "limit" pg_catalog.int4 DEFAULT 10,
                                     semantic_weight pg_catalog.float8 DEFAULT 0.5)
RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN dwc.search_documents(query, workflow_id, "limit", semantic_weight);
SELECT dwc._declare_http('api_impl.search_workflows',
  'Hybrid (full-text + semantic) search of the caller''s workflow nodes.',
  access => 'user', grp => 'workflows');
