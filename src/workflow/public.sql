-- src/workflow/public.sql: the public AI workflow functions, trampolines to their private halves.


-- API: Public

CREATE FUNCTION dwc.create_ai_workflow(name pg_catalog.text, steps pg_catalog.jsonb, description pg_catalog.text DEFAULT NULL,
                                       options pg_catalog.jsonb DEFAULT '{}')
RETURNS pg_catalog.jsonb
LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'dwc_trampoline';
COMMENT ON FUNCTION dwc.create_ai_workflow(pg_catalog.text, pg_catalog.jsonb, pg_catalog.text, pg_catalog.jsonb) IS
  'Creates an AI workflow: a DAG of steps {"id", "type", "after": [ids], ...} of types generate, analyze, summarize, '
  'translate, classify, extract, branch, ml, recommend, approval, chain (docs/workflows.md).';
INSERT INTO dwc.api_access (name, access, grp, direct, route)
     VALUES ('create_ai_workflow', 'user', 'workflows', true, 'POST /ai-workflows');

CREATE FUNCTION dwc.create_ai_workflow_from_template(template pg_catalog.text, name pg_catalog.text DEFAULT NULL)
RETURNS pg_catalog.jsonb
LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'dwc_trampoline';
COMMENT ON FUNCTION dwc.create_ai_workflow_from_template(pg_catalog.text, pg_catalog.text) IS
  'Creates an AI workflow from a built-in template (dwc.ai_workflow_templates), named name or as the template.';
INSERT INTO dwc.api_access (name, access, grp, direct, route)
     VALUES ('create_ai_workflow_from_template', 'user', 'workflows', true, 'POST /ai-workflows with template_name');

CREATE FUNCTION dwc.delete_ai_workflow(name pg_catalog.text) RETURNS pg_catalog.bool
LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'dwc_trampoline';
COMMENT ON FUNCTION dwc.delete_ai_workflow(pg_catalog.text) IS 'Deletes an AI workflow and its runs.';

CREATE FUNCTION dwc.get_ai_workflow(name pg_catalog.text) RETURNS pg_catalog.jsonb
LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'dwc_trampoline';
COMMENT ON FUNCTION dwc.get_ai_workflow(pg_catalog.text) IS 'An AI workflow (by name or #id).';
INSERT INTO dwc.api_access (name, access, grp, direct, route)
     VALUES ('get_ai_workflow', 'user', 'workflows', true, 'GET /ai-workflows/{name}');

CREATE FUNCTION dwc.list_ai_workflows() RETURNS pg_catalog.jsonb
LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'dwc_trampoline';
COMMENT ON FUNCTION dwc.list_ai_workflows() IS 'The caller''s AI workflows.';
INSERT INTO dwc.api_access (name, access, grp, direct, route)
     VALUES ('list_ai_workflows', 'user', 'workflows', true, 'GET /ai-workflows');

CREATE FUNCTION dwc.run_ai_workflow(name pg_catalog.text, input pg_catalog.jsonb DEFAULT '{}') RETURNS pg_catalog.jsonb
LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'dwc_trampoline';
COMMENT ON FUNCTION dwc.run_ai_workflow(pg_catalog.text, pg_catalog.jsonb) IS
  'Starts a run of an AI workflow with an input object; its steps run as workflow.step jobs. Returns the run.';

CREATE FUNCTION dwc.ai_workflow_run(run_id pg_catalog.int8) RETURNS pg_catalog.jsonb
LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'dwc_trampoline';
COMMENT ON FUNCTION dwc.ai_workflow_run(pg_catalog.int8) IS
  'A run: status, input, chain, tokens, cost, and each step''s status, attempts, output, error and timing.';

CREATE FUNCTION dwc.pause_ai_workflow_run(run_id pg_catalog.int8) RETURNS pg_catalog.jsonb
LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'dwc_trampoline';
COMMENT ON FUNCTION dwc.pause_ai_workflow_run(pg_catalog.int8) IS
  'Pauses a run: no step starts until it is resumed (a step already running finishes).';
INSERT INTO dwc.api_access (name, access, grp, direct, route)
     VALUES ('pause_ai_workflow_run', 'user', 'workflows', true, 'POST /ai-workflows/runs/{id}/pause');

CREATE FUNCTION dwc.resume_ai_workflow_run(run_id pg_catalog.int8) RETURNS pg_catalog.jsonb
LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'dwc_trampoline';
COMMENT ON FUNCTION dwc.resume_ai_workflow_run(pg_catalog.int8) IS 'Resumes a paused run.';
INSERT INTO dwc.api_access (name, access, grp, direct, route)
     VALUES ('resume_ai_workflow_run', 'user', 'workflows', true, 'POST /ai-workflows/runs/{id}/resume');

CREATE FUNCTION dwc.cancel_ai_workflow_run(run_id pg_catalog.int8) RETURNS pg_catalog.jsonb
LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'dwc_trampoline';
COMMENT ON FUNCTION dwc.cancel_ai_workflow_run(pg_catalog.int8) IS 'Cancels a run: its steps not yet done never run.';
INSERT INTO dwc.api_access (name, access, grp, direct, route)
     VALUES ('cancel_ai_workflow_run', 'user', 'workflows', true, 'POST /ai-workflows/runs/{id}/cancel');

CREATE FUNCTION dwc.approve_ai_workflow_step(run_id pg_catalog.int8, step pg_catalog.text,
                                             approved pg_catalog.bool DEFAULT true, comment pg_catalog.text DEFAULT NULL)
RETURNS pg_catalog.jsonb
LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'dwc_trampoline';
COMMENT ON FUNCTION dwc.approve_ai_workflow_step(pg_catalog.int8, pg_catalog.text, pg_catalog.bool, pg_catalog.text) IS
  'Answers an approval step waiting for a human: its output is {"approved", "comment", "by", "at"}, and the run goes on.';
INSERT INTO dwc.api_access (name, access, grp, direct, route)
     VALUES ('approve_ai_workflow_step', 'user', 'workflows', true, 'POST /ai-workflows/runs/{id}/approve');

CREATE FUNCTION dwc.ai_workflow_analytics(name pg_catalog.text) RETURNS pg_catalog.jsonb
LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'dwc_trampoline';
COMMENT ON FUNCTION dwc.ai_workflow_analytics(pg_catalog.text) IS
  'An AI workflow''s runs by status, success rate, mean time, tokens and cost, and per step.';
