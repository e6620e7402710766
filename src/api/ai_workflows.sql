-- src/api/ai_workflows.sql: the seed's /ai-workflows endpoints (AI workflow templates) for PostgREST.

-- API: Public

CREATE FUNCTION api_impl.create_ai_workflow(name pg_catalog.text, steps pg_catalog.jsonb, description pg_catalog.text DEFAULT NULL, options pg_catalog.jsonb DEFAULT '{}')
RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN dwc.create_ai_workflow(name, steps, description, options);
COMMENT ON FUNCTION api_impl.create_ai_workflow(pg_catalog.text, pg_catalog.jsonb, pg_catalog.text, pg_catalog.jsonb) IS
  'Create an AI workflow (POST /ai-workflows): a DAG of typed steps.';
INSERT INTO dwc.api_access (name, access, grp) VALUES ('create_ai_workflow', 'user', 'workflows');

CREATE FUNCTION api_impl.create_ai_workflow_from_template(template pg_catalog.text, name pg_catalog.text DEFAULT NULL)
RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN dwc.create_ai_workflow_from_template(template, name);
COMMENT ON FUNCTION api_impl.create_ai_workflow_from_template(pg_catalog.text, pg_catalog.text) IS
  'Create an AI workflow from a built-in template (POST /ai-workflows with template_name).';
INSERT INTO dwc.api_access (name, access, grp) VALUES ('create_ai_workflow_from_template', 'user', 'workflows');

CREATE FUNCTION api_impl.ai_workflow_templates()
RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN (SELECT coalesce(jsonb_agg(to_jsonb(t) ORDER BY t.name), '[]') FROM dwc.ai_workflow_templates t);
COMMENT ON FUNCTION api_impl.ai_workflow_templates() IS
  'The built-in AI workflow templates (GET /ai-workflows/templates).';
INSERT INTO dwc.api_access (name, access, grp) VALUES ('ai_workflow_templates', 'user', 'workflows');

CREATE FUNCTION api_impl.list_ai_workflows()
RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN dwc.list_ai_workflows();
COMMENT ON FUNCTION api_impl.list_ai_workflows() IS
  'The caller''s AI workflows (GET /ai-workflows).';
INSERT INTO dwc.api_access (name, access, grp) VALUES ('list_ai_workflows', 'user', 'workflows');

CREATE FUNCTION api_impl.get_ai_workflow(name pg_catalog.text)
RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN dwc.get_ai_workflow(name);
COMMENT ON FUNCTION api_impl.get_ai_workflow(pg_catalog.text) IS
  'An AI workflow (GET /ai-workflows/{name}).';
INSERT INTO dwc.api_access (name, access, grp) VALUES ('get_ai_workflow', 'user', 'workflows');

CREATE FUNCTION api_impl.delete_ai_workflow(name pg_catalog.text)
RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN jsonb_build_object('deleted', dwc.delete_ai_workflow(name));
COMMENT ON FUNCTION api_impl.delete_ai_workflow(pg_catalog.text) IS
  'Delete an AI workflow and its runs (DELETE /ai-workflows/{name}).';
INSERT INTO dwc.api_access (name, access, grp) VALUES ('delete_ai_workflow', 'user', 'workflows');

CREATE FUNCTION api_impl.execute_ai_workflow(name pg_catalog.text, input_data pg_catalog.jsonb DEFAULT '{}')
RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN dwc.run_ai_workflow(name, input_data);
COMMENT ON FUNCTION api_impl.execute_ai_workflow(pg_catalog.text, pg_catalog.jsonb) IS
  'Run an AI workflow (POST /ai-workflows/{name}/execute): returns the run; poll get_ai_workflow_run.';
INSERT INTO dwc.api_access (name, access, grp) VALUES ('execute_ai_workflow', 'user', 'workflows');

CREATE FUNCTION api_impl.get_ai_workflow_run(run_id pg_catalog.int8)
RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN dwc.ai_workflow_run(run_id);
COMMENT ON FUNCTION api_impl.get_ai_workflow_run(pg_catalog.int8) IS
  'A run with each step''s status, output, attempts and timing (GET /ai-workflows/runs/{id}).';
INSERT INTO dwc.api_access (name, access, grp) VALUES ('get_ai_workflow_run', 'user', 'workflows');

CREATE FUNCTION api_impl.pause_ai_workflow_run(run_id pg_catalog.int8)
RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN dwc.pause_ai_workflow_run(run_id);
COMMENT ON FUNCTION api_impl.pause_ai_workflow_run(pg_catalog.int8) IS
  'Pause a run (POST /ai-workflows/runs/{id}/pause).';
INSERT INTO dwc.api_access (name, access, grp) VALUES ('pause_ai_workflow_run', 'user', 'workflows');

CREATE FUNCTION api_impl.resume_ai_workflow_run(run_id pg_catalog.int8)
RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN dwc.resume_ai_workflow_run(run_id);
COMMENT ON FUNCTION api_impl.resume_ai_workflow_run(pg_catalog.int8) IS
  'Resume a paused run (POST /ai-workflows/runs/{id}/resume).';
INSERT INTO dwc.api_access (name, access, grp) VALUES ('resume_ai_workflow_run', 'user', 'workflows');

CREATE FUNCTION api_impl.cancel_ai_workflow_run(run_id pg_catalog.int8)
RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN dwc.cancel_ai_workflow_run(run_id);
COMMENT ON FUNCTION api_impl.cancel_ai_workflow_run(pg_catalog.int8) IS
  'Cancel a run (POST /ai-workflows/runs/{id}/cancel).';
INSERT INTO dwc.api_access (name, access, grp) VALUES ('cancel_ai_workflow_run', 'user', 'workflows');

CREATE FUNCTION api_impl.approve_ai_workflow_step(run_id pg_catalog.int8, step pg_catalog.text, approved pg_catalog.bool DEFAULT true, comment pg_catalog.text DEFAULT NULL)
RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN dwc.approve_ai_workflow_step(run_id, step, approved, comment);
COMMENT ON FUNCTION api_impl.approve_ai_workflow_step(pg_catalog.int8, pg_catalog.text, pg_catalog.bool, pg_catalog.text) IS
  'Answer an approval step (POST /ai-workflows/runs/{id}/approve).';
INSERT INTO dwc.api_access (name, access, grp) VALUES ('approve_ai_workflow_step', 'user', 'workflows');

CREATE FUNCTION api_impl.ai_workflow_stats(name pg_catalog.text)
RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN dwc.ai_workflow_analytics(name);
COMMENT ON FUNCTION api_impl.ai_workflow_stats(pg_catalog.text) IS
  'An AI workflow''s analytics: runs, success rate, time, tokens, cost, per step (GET /ai-workflows/stats).';
INSERT INTO dwc.api_access (name, access, grp) VALUES ('ai_workflow_stats', 'user', 'workflows');
