-- src/api/ai_workflows.sql: the seed's /ai-workflows endpoints (AI workflow templates) for PostgREST.

-- API: Public

CREATE FUNCTION api_impl.list_ai_workflows()
RETURNS TABLE (id pg_catalog.int8, name pg_catalog.text, description pg_catalog.text, steps pg_catalog.jsonb,
               options pg_catalog.jsonb, created_at pg_catalog.timestamptz, updated_at pg_catalog.timestamptz)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT * FROM jsonb_to_recordset(dwc.list_ai_workflows())
        AS r (id int8, name text, description text, steps jsonb, options jsonb, created_at timestamptz,
              updated_at timestamptz);
END;
SELECT dwc._declare_http('api_impl.list_ai_workflows',
  'The caller''s AI workflows, by name (GET /ai-workflows): rows PostgREST can filter, order, page and count.',
  access => 'user', grp => 'workflows');

CREATE FUNCTION api_impl.ai_workflow_templates()
RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN (SELECT coalesce(jsonb_agg(to_jsonb(t) ORDER BY t.name), '[]') FROM dwc.ai_workflow_templates t);
SELECT dwc._declare_http('api_impl.ai_workflow_templates',
  'The built-in AI workflow templates (GET /ai-workflows/templates).',
  access => 'user', grp => 'workflows');

CREATE FUNCTION api_impl.delete_ai_workflow(name pg_catalog.text)
RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN jsonb_build_object('deleted', dwc.delete_ai_workflow(name));
SELECT dwc._declare_http('api_impl.delete_ai_workflow',
  'Delete an AI workflow and its runs (DELETE /ai-workflows/{name}).',
  access => 'user', grp => 'workflows');

CREATE FUNCTION api_impl.execute_ai_workflow(name pg_catalog.text, input_data pg_catalog.jsonb DEFAULT '{}')
RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN dwc.run_ai_workflow(name, input_data);
SELECT dwc._declare_http('api_impl.execute_ai_workflow',
  'Run an AI workflow (POST /ai-workflows/{name}/execute): returns the run; poll get_ai_workflow_run.',
  access => 'user', grp => 'workflows');

CREATE FUNCTION api_impl.get_ai_workflow_run(run_id pg_catalog.int8)
RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN dwc.ai_workflow_run(run_id);
SELECT dwc._declare_http('api_impl.get_ai_workflow_run',
  'A run with each step''s status, output, attempts and timing (GET /ai-workflows/runs/{id}).',
  access => 'user', grp => 'workflows');

CREATE FUNCTION api_impl.ai_workflow_stats(name pg_catalog.text DEFAULT NULL)
RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN CASE WHEN name IS NOT NULL THEN dwc.ai_workflow_analytics(name)
            ELSE jsonb_build_object('workflows',
                     (SELECT coalesce(jsonb_agg(dwc.ai_workflow_analytics('#' || (w ->> 'id')) ORDER BY w ->> 'name'), '[]')
                        FROM jsonb_array_elements(dwc.list_ai_workflows()) w)) END;
SELECT dwc._declare_http('api_impl.ai_workflow_stats',
  'An AI workflow''s analytics: runs, success rate, time, tokens, cost, per step (GET /ai-workflows/stats); without '
  'a name, {"workflows": [...]}: each of the caller''s.',
  access => 'user', grp => 'workflows');
