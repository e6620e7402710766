-- src/automation/templates.sql: the built-in automation templates, and making an automation
-- from one.

INSERT INTO dwc.automation_templates (name, description, trigger_type, trigger, conditions, actions) VALUES
('summarize_new_documents',
 'When a chain gets a document, summarise it with the AI provider and emit the summary as an event.',
 'event', '{"kinds": ["chain.document_created"]}', 'true',
 '[{"type": "ai", "name": "summary", "prompt": "Summarise in two sentences the document titled {{payload.title}}."},
   {"type": "emit", "kind": "app.document_summarized", "subject": "{{subject}}",
    "payload": {"document_id": "{{payload.document_id}}", "summary": "{{steps.summary.text}}"}}]'),
('retrain_recommender_nightly',
 'Every night at 04:00, retrain a recommendation model (set its name in the enqueue action''s payload).',
 'schedule', '{"schedule": "0 4 * * *"}', 'true',
 '[{"type": "enqueue", "kind": "rec.train", "payload": {"model": "my_model"}}]'),
('alert_on_dead_jobs',
 'When a job dies, call a webhook with what failed (set the url: a host of dwc.http_allowed_hosts unless you may call dwc.http()).',
 'event', '{"kinds": ["job.dead"]}', 'true',
 '[{"type": "http", "url": "https://example.invalid/hooks/dwc", "method": "POST",
    "body": {"text": "job {{payload.job_id}} ({{payload.kind}}) died: {{payload.error}}"}}]'),
('backlog_threshold',
 'When more than 1000 jobs wait, emit an alert; again only once the backlog has fallen below 500.',
 'threshold', '{"query": "SELECT count(*) FROM dwc.jobs WHERE status = ''queued''", "above": 1000, "reset": 500, "every": "30 seconds"}',
 'true', '[{"type": "emit", "kind": "app.backlog_high", "payload": {"queued": "{{value}}"}}]'),
('webhook_to_chain',
 'An inbound webhook continues a chain with the body''s prompt (set chain_id).',
 'webhook', '{}', '{"path": "body.prompt", "exists": true}',
 '[{"type": "chain", "chain_id": 1, "prompt": "{{body.prompt}}"}]'),
('triage_with_ai',
 'An API call asks the AI provider whether a ticket needs a human; without an answer, priority decides.',
 'api', '{}', 'true',
 '[{"type": "decide", "prompt": "Ticket: {{data.text}}. Should a human handle it, or can it be answered automatically?",
    "branches": {"human": [{"type": "emit", "kind": "app.ticket_escalated", "payload": {"text": "{{data.text}}"}}],
                 "automatic": [{"type": "emit", "kind": "app.ticket_answered", "payload": {"text": "{{data.text}}"}}]},
    "fallback": {"if": {"path": "data.priority", "eq": "high"}, "then": "human", "else": "automatic"}}]');

CREATE FUNCTION dwc._create_automation_from_template(caller pg_catalog.oid, template pg_catalog.text,
                                                     name pg_catalog.text,
                                                     changes pg_catalog.jsonb DEFAULT '{}')
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t dwc.automation_templates;
    k text;
BEGIN
    SELECT * INTO t FROM dwc.automation_templates WHERE automation_templates.name = template;
    IF t.name IS NULL THEN
        RAISE EXCEPTION 'automation template "%" does not exist', template USING ERRCODE = 'no_data_found',
            HINT = 'SELECT name FROM dwc.automation_templates lists them.';
    END IF;
    IF changes IS NOT NULL AND jsonb_typeof(changes) <> 'object' THEN
        RAISE EXCEPTION 'changes must be a JSON object' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    FOR k IN SELECT * FROM jsonb_object_keys(coalesce(changes, '{}'))
    LOOP
        IF k NOT IN ('description', 'trigger', 'conditions', 'actions', 'options', 'enabled') THEN
            RAISE EXCEPTION 'a template''s changes replace description, trigger, conditions, actions, options or enabled, not "%"', k
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
    END LOOP;
    RETURN dwc._create_automation(caller, name, t.trigger_type, coalesce(changes->'trigger', t.trigger),
                                  coalesce(changes->'actions', t.actions), coalesce(changes->'conditions', t.conditions),
                                  coalesce(changes->>'description', t.description),
                                  coalesce((changes->>'enabled')::bool, true),
                                  coalesce(changes->'options', t.options));
END;
$$;
SELECT dwc._declare_public('dwc._create_automation_from_template',
  'Creates an automation from one of dwc.automation_templates, with changes replacing its description, '
  'trigger, conditions, actions, options or enabled.',
  access => 'user', grp => 'automations', route => 'POST /automations/templates/{template}');
