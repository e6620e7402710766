-- workflow: AI workflow definitions (what is accepted and refused), templates, runs up to
-- where a worker would take over (no worker serves this database), approvals, pause, resume,
-- cancel, ownership. Steps that run as jobs are tested in test/integration/test_workflows.py.
\set VERBOSITY terse
SET client_min_messages = warning;

SELECT w->>'name' AS name, jsonb_array_length(w->'steps') AS steps
  FROM dwc.create_ai_workflow('review', '[
    {"id": "gate", "type": "approval", "message": "Start on {{input.topic}}?"},
    {"id": "route", "type": "branch", "after": ["gate"], "if": {"path": "steps.gate.approved", "eq": true},
     "then": ["write"], "else": ["note"]},
    {"id": "write", "type": "generate", "after": ["route"], "prompt": "About {{input.topic}}"},
    {"id": "note", "type": "analyze", "after": ["route"], "text": "declined"},
    {"id": "after_write", "type": "summarize", "after": ["write"]},
    {"id": "done", "type": "analyze", "after": ["after_write", "note"], "join": "any"}]') w;

-- a run: the approval waits; approving it runs the branch, which chooses, and enqueues what follows
SELECT r->>'status' AS status, (SELECT string_agg(s->>'step' || '=' || (s->>'status'), ' ' ORDER BY s->>'step')
                                  FROM jsonb_array_elements(r->'steps') s) AS steps
  FROM dwc.run_ai_workflow('review', '{"topic": "bees"}') r;
SELECT id AS run FROM dwc.ai_workflow_runs ORDER BY id DESC LIMIT 1 \gset
SELECT r->>'status' AS status FROM dwc.pause_ai_workflow_run(:run) r;
SELECT dwc.pause_ai_workflow_run(:run);
SELECT r->>'status' AS status FROM dwc.resume_ai_workflow_run(:run) r;
SELECT dwc.resume_ai_workflow_run(:run);
SELECT r->>'status' AS status, (SELECT string_agg(s->>'step' || '=' || (s->>'status'), ' ' ORDER BY s->>'step')
                                  FROM jsonb_array_elements(r->'steps') s) AS steps
  FROM dwc.approve_ai_workflow_step(:run, 'gate', true, 'go') r;
SELECT s->'output'->>'taken' AS taken, s->'output'->'skip' AS skip
  FROM jsonb_array_elements(dwc.ai_workflow_run(:run)->'steps') s WHERE s->>'step' = 'route';
SELECT count(*) AS step_jobs FROM dwc.jobs WHERE kind = 'workflow.step' AND payload->>'run_id' = :'run';
SELECT dwc.approve_ai_workflow_step(:run, 'gate');
SELECT r->>'status' AS status, (SELECT string_agg(s->>'step' || '=' || (s->>'status'), ' ' ORDER BY s->>'step')
                                  FROM jsonb_array_elements(r->'steps') s) AS steps
  FROM dwc.cancel_ai_workflow_run(:run) r;
SELECT dwc.cancel_ai_workflow_run(:run);
-- declined: the other side of the branch
SELECT id AS run2 FROM dwc.run_ai_workflow('review', '{"topic": "wasps"}') r, LATERAL (SELECT (r->>'id')::int8 AS id) x \gset
SELECT (SELECT string_agg(s->>'step' || '=' || (s->>'status'), ' ' ORDER BY s->>'step')
          FROM jsonb_array_elements(r->'steps') s) AS steps
  FROM dwc.approve_ai_workflow_step(:run2, 'gate', false, 'no') r;
SELECT kind FROM dwc.events WHERE kind LIKE 'workflow.%' ORDER BY id;
SELECT a->>'runs' AS runs, a->'by_status' AS by_status FROM dwc.ai_workflow_analytics('review') a;

-- templates
SELECT name FROM dwc.ai_workflow_templates ORDER BY name;
SELECT w->>'name' AS name, jsonb_array_length(w->'steps') AS steps
  FROM dwc.create_ai_workflow_from_template('document_review') w;
SELECT jsonb_array_length(dwc.list_ai_workflows()) AS workflows;

-- refusals
SELECT dwc.create_ai_workflow('review', '[{"id": "a", "type": "analyze"}]');
SELECT dwc.create_ai_workflow('#bad', '[{"id": "a", "type": "analyze"}]');
SELECT dwc.create_ai_workflow(repeat('x', 201), '[{"id": "a", "type": "analyze"}]');
-- one rule for names: free text, unique per owner by slug, found by either
SELECT w->>'name' AS name, dwc.name_slug(w->>'name') AS slug
  FROM dwc.create_ai_workflow('Customer Churn Review', '[{"id": "a", "type": "analyze"}]') w;
SELECT dwc.create_ai_workflow('customer_churn_review', '[{"id": "a", "type": "analyze"}]');
SELECT dwc.get_ai_workflow('customer-churn-review')->>'name' AS found_by_slug;
SELECT dwc.name_slug('Prévision des ventes — T4 2026!'), dwc.name_slug('  '), dwc.name_slug('Ñandú Ärger');
SELECT count(*) AS before FROM dwc.ai_workflows \gset
SELECT dwc.delete_ai_workflow('CUSTOMER CHURN REVIEW');
SELECT count(*) = :before - 1 AS deleted_only_that_one FROM dwc.ai_workflows;
SELECT dwc.create_ai_workflow('x', '[]');
SELECT dwc.create_ai_workflow('x', '{}');
SELECT dwc.create_ai_workflow('x', '[{"type": "analyze"}]');
SELECT dwc.create_ai_workflow('x', '[{"id": "a", "type": "analyze"}, {"id": "a", "type": "analyze"}]');
SELECT dwc.create_ai_workflow('x', '[{"id": "a", "type": "dream"}]');
SELECT dwc.create_ai_workflow('x', '[{"id": "a", "type": "notify"}]');
SELECT dwc.create_ai_workflow('x', '[{"id": "a", "type": "generate"}]');
SELECT dwc.create_ai_workflow('x', '[{"id": "a", "type": "classify", "labels": ["one"]}]');
SELECT dwc.create_ai_workflow('x', '[{"id": "a", "type": "analyze", "after": ["zz"]}]');
SELECT dwc.create_ai_workflow('x', '[{"id": "a", "type": "analyze", "after": ["b"]}, {"id": "b", "type": "analyze", "after": ["a"]}]');
SELECT dwc.create_ai_workflow('x', '[{"id": "a", "type": "branch", "if": true, "then": ["b"]}, {"id": "b", "type": "analyze"}]');
SELECT dwc.create_ai_workflow('x', '[{"id": "a", "type": "branch", "if": {"path": "x", "gt": true}, "then": []}]');
SELECT dwc.create_ai_workflow('x', '[{"id": "a", "type": "analyze", "after": "b"}]');
SELECT dwc.create_ai_workflow('x', '[{"id": "a", "type": "analyze", "on_error": "retry"}]');
SELECT dwc.create_ai_workflow('x', '[{"id": "a", "type": "analyze", "on_error": true}]');
SELECT dwc.create_ai_workflow('x', '[{"id": "a", "type": "analyze", "default": {"text": ""}}]');
SELECT dwc.create_ai_workflow('x', '[{"id": "a", "type": "analyze", "on_error": "continue", "default": "none"}]');
SELECT dwc.create_ai_workflow('x', '[{"id": "a", "type": "approval", "on_error": "skip"}]');
SELECT w->>'name' AS accepted FROM dwc.create_ai_workflow('on_error_ok', '[{"id": "a", "type": "analyze", "on_error": "continue", "default": {"text": ""}}, {"id": "b", "type": "analyze", "on_error": "skip"}]') w;
SELECT dwc.create_ai_workflow_from_template('no_such_template');
SELECT dwc.run_ai_workflow('nope');
SELECT dwc.run_ai_workflow('review', '[1]');
SELECT dwc.ai_workflow_run(424242);
SELECT dwc.approve_ai_workflow_step(:run2, 'nope');

-- ownership
CREATE ROLE dwc_wf_eve IN ROLE dwc_user;
SET ROLE dwc_wf_eve;
SELECT dwc.list_ai_workflows();
SELECT dwc.run_ai_workflow('review');
SELECT dwc.ai_workflow_run(:run);
SELECT dwc.cancel_ai_workflow_run(:run2);
SELECT count(*) AS visible_runs FROM dwc.ai_workflow_runs;
RESET ROLE;
DROP ROLE dwc_wf_eve;

SELECT dwc.delete_ai_workflow('review');
SELECT count(*) AS runs_left FROM dwc.ai_workflow_runs r JOIN dwc.ai_workflows w ON w.id = r.workflow_id WHERE w.name = 'review';
SELECT dwc.delete_ai_workflow('document_review');
