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
COMMENT ON FUNCTION api_impl.create_workflow(pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.int4, pg_catalog.float8, pg_catalog.int4, pg_catalog.text, pg_catalog.jsonb, pg_catalog.jsonb, pg_catalog.text, pg_catalog.text, pg_catalog.text) IS
  'Create a workflow (POST /workflows, the seed''s POST /ai-workflows): a document chain whose first node is '
  'generated from initial_prompt (or input_data''s prompt or topic). provider (or ai_provider) defaults to builtin; '
  'input_data, workflow_type and template_name are kept in the chain''s settings. Returns the workflow with its '
  'root node.';
INSERT INTO dwc.api_access (name, access, grp) VALUES ('create_workflow', 'user', 'workflows');

CREATE FUNCTION api_impl.get_workflow(id pg_catalog.int8, with_content pg_catalog.bool DEFAULT true)
RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN dwc.get_chain(id, with_content);
COMMENT ON FUNCTION api_impl.get_workflow(pg_catalog.int8, pg_catalog.bool) IS
  'A workflow with its nodes, oldest first (GET /workflows/{id}).';
INSERT INTO dwc.api_access (name, access, grp) VALUES ('get_workflow', 'user', 'workflows');

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
COMMENT ON FUNCTION api_impl.list_workflows(pg_catalog.text) IS
  'The caller''s workflows, newest first, optionally of one status (GET /workflows). '
  'Rows PostgREST can filter, order, page and count.';
INSERT INTO dwc.api_access (name, access, grp) VALUES ('list_workflows', 'user', 'workflows');

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
INSERT INTO dwc.api_access (name, access, grp) VALUES ('update_workflow', 'user', 'workflows');

CREATE FUNCTION api_impl.delete_workflow(id pg_catalog.int8)
RETURNS pg_catalog.bool
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN dwc.delete_chain(id);
COMMENT ON FUNCTION api_impl.delete_workflow(pg_catalog.int8) IS
  'Delete a workflow with its nodes (DELETE /workflows/{id}).';
INSERT INTO dwc.api_access (name, access, grp) VALUES ('delete_workflow', 'user', 'workflows');

CREATE FUNCTION api_impl.add_workflow_node(id pg_catalog.int8, prompt pg_catalog.text DEFAULT NULL,
                                      parent_node pg_catalog.int8 DEFAULT NULL)
RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN dwc.continue_chain(id, prompt, parent_node);
COMMENT ON FUNCTION api_impl.add_workflow_node(pg_catalog.int8, pg_catalog.text, pg_catalog.int8) IS
  'Generate the next node of a workflow (POST /workflows/{id}/nodes) from parent_node (default: '
  'the newest node; another one makes a branch). Without a prompt one is derived. Returns the node.';
INSERT INTO dwc.api_access (name, access, grp) VALUES ('add_workflow_node', 'user', 'workflows');

CREATE FUNCTION api_impl.get_workflow_node(node_id pg_catalog.int8)
RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN dwc.get_document(node_id);
COMMENT ON FUNCTION api_impl.get_workflow_node(pg_catalog.int8) IS 'One node (document) of a workflow (GET /workflows/nodes/{id}).';
INSERT INTO dwc.api_access (name, access, grp) VALUES ('get_workflow_node', 'user', 'workflows');

CREATE FUNCTION api_impl.update_workflow_node(node_id pg_catalog.int8, content pg_catalog.text DEFAULT NULL,
                                         title pg_catalog.text DEFAULT NULL)
RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN dwc.edit_document(node_id, content, title);
COMMENT ON FUNCTION api_impl.update_workflow_node(pg_catalog.int8, pg_catalog.text, pg_catalog.text) IS
  'Edit a node''s content and/or title (PUT /workflows/nodes/{id}); the previous version is kept.';
INSERT INTO dwc.api_access (name, access, grp) VALUES ('update_workflow_node', 'user', 'workflows');

CREATE FUNCTION api_impl.workflow_node_versions(node_id pg_catalog.int8)
RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN dwc.document_versions(node_id);
COMMENT ON FUNCTION api_impl.workflow_node_versions(pg_catalog.int8) IS 'Every version of a node, oldest first.';
INSERT INTO dwc.api_access (name, access, grp) VALUES ('workflow_node_versions', 'user', 'workflows');

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
COMMENT ON FUNCTION api_impl.execute_workflow(pg_catalog.int8, pg_catalog.text, pg_catalog.int8, pg_catalog.int4, pg_catalog.bool, pg_catalog.int8, pg_catalog.jsonb) IS
  'Execute a workflow (POST /workflows/{id}/execute): generate steps nodes in a row (1 to 20), '
  'each from the previous one, in this request; or, with async, one node as a queue job: returns '
  'its job_id and the channel (dwc_chain_<id>) that announces the node. The seed''s workflow_id names it too, and '
  'its parameters'' prompt is the first step''s prompt (a step takes no other parameter).';
INSERT INTO dwc.api_access (name, access, grp) VALUES ('execute_workflow', 'user', 'workflows');

CREATE FUNCTION api_impl.workflow_analytics(id pg_catalog.int8)
RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN dwc.chain_analytics(id);
COMMENT ON FUNCTION api_impl.workflow_analytics(pg_catalog.int8) IS
  'Per workflow: nodes, depth, branches, tokens, cost, average quality, generation time, edits (GET /workflows/{id}/analytics).';
INSERT INTO dwc.api_access (name, access, grp) VALUES ('workflow_analytics', 'user', 'workflows');

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
COMMENT ON FUNCTION api_impl.export_workflow(pg_catalog.int8, pg_catalog.text) IS
  'Export a workflow as JSON (format dwc.chain/1), or as Markdown or HTML (wrapped in {"format", "content"}).';
INSERT INTO dwc.api_access (name, access, grp) VALUES ('export_workflow', 'user', 'workflows');

-- the page itself, for a browser (Accept: text/html), to read or print
CREATE FUNCTION api_impl.export_workflow_html(id pg_catalog.int8)
RETURNS dwc."text/html"
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN dwc.export_chain_html(id)::dwc."text/html";
COMMENT ON FUNCTION api_impl.export_workflow_html(pg_catalog.int8) IS
  'A workflow as one HTML page that prints a chapter a page (GET /workflows/{id}/export.html; Accept: text/html).';
INSERT INTO dwc.api_access (name, access, grp) VALUES ('export_workflow_html', 'user', 'workflows');

CREATE FUNCTION api_impl.search_workflows(query pg_catalog.text, workflow_id pg_catalog.int8 DEFAULT NULL,
                                     "limit" pg_catalog.int4 DEFAULT 10,
                                     semantic_weight pg_catalog.float8 DEFAULT 0.5)
RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN dwc.search_documents(query, workflow_id, "limit", semantic_weight);
COMMENT ON FUNCTION api_impl.search_workflows(pg_catalog.text, pg_catalog.int8, pg_catalog.int4, pg_catalog.float8) IS
  'Hybrid (full-text + semantic) search of the caller''s workflow nodes.';
INSERT INTO dwc.api_access (name, access, grp) VALUES ('search_workflows', 'user', 'workflows');
