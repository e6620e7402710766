-- src/automation/public.sql: the public automation functions, trampolines to their private
-- halves (which receive the caller's OID and check it).


-- API: Public

CREATE FUNCTION dwc.create_automation(name pg_catalog.text, trigger_type pg_catalog.text,
                                      trigger pg_catalog.jsonb DEFAULT '{}', actions pg_catalog.jsonb DEFAULT NULL,
                                      conditions pg_catalog.jsonb DEFAULT 'true',
                                      description pg_catalog.text DEFAULT NULL,
                                      enabled pg_catalog.bool DEFAULT true, options pg_catalog.jsonb DEFAULT '{}')
RETURNS pg_catalog.jsonb
LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'dwc_trampoline';
COMMENT ON FUNCTION dwc.create_automation(pg_catalog.text, pg_catalog.text, pg_catalog.jsonb, pg_catalog.jsonb,
                                          pg_catalog.jsonb, pg_catalog.text, pg_catalog.bool, pg_catalog.jsonb) IS
  'Creates an automation of the caller: a trigger (event {"kinds"}, condition or threshold {"query", "every", '
  '"above"|"below", "reset"}, schedule {"schedule"}, api, webhook, data_change {"table", "operations"}), '
  'conditions over the trigger''s data, and actions (ai, http, sql, enqueue, emit, chain, workflow, decide). Each run is '
  'an automation.run job, as the caller. A webhook automation''s secret is in the result, this once.';

CREATE FUNCTION dwc.create_automation_from_template(template pg_catalog.text, name pg_catalog.text,
                                                    changes pg_catalog.jsonb DEFAULT '{}')
RETURNS pg_catalog.jsonb
LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'dwc_trampoline';
COMMENT ON FUNCTION dwc.create_automation_from_template(pg_catalog.text, pg_catalog.text, pg_catalog.jsonb) IS
  'Creates an automation from one of dwc.automation_templates, with changes replacing its description, '
  'trigger, conditions, actions, options or enabled.';
INSERT INTO dwc.api_access (name, access, grp, direct, route)
     VALUES ('create_automation_from_template', 'user', 'automations', true, 'POST /automations/templates/{template}');

CREATE FUNCTION dwc.enable_automation(name pg_catalog.text, enabled pg_catalog.bool DEFAULT true)
RETURNS pg_catalog.jsonb
LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'dwc_trampoline';
COMMENT ON FUNCTION dwc.enable_automation(pg_catalog.text, pg_catalog.bool) IS
  'Enables (or, with false, disables) an automation; a disabled one fires no runs.';
INSERT INTO dwc.api_access (name, access, grp, direct, route)
     VALUES ('enable_automation', 'user', 'automations', true, 'PATCH /automations/{name}');

CREATE FUNCTION dwc.delete_automation(name pg_catalog.text) RETURNS pg_catalog.bool
LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'dwc_trampoline';
COMMENT ON FUNCTION dwc.delete_automation(pg_catalog.text) IS
  'Deletes an automation, its schedule or table trigger, and its statistics; its runs stay until retention.';

CREATE FUNCTION dwc.get_automation(name pg_catalog.text) RETURNS pg_catalog.jsonb
LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'dwc_trampoline';
COMMENT ON FUNCTION dwc.get_automation(pg_catalog.text) IS
  'An automation (by name or #id) with its statistics: runs, successes, failures, success rate, mean time, per action.';
INSERT INTO dwc.api_access (name, access, grp, direct, route)
     VALUES ('get_automation', 'user', 'automations', true, 'GET /automations/{name}');

CREATE FUNCTION dwc.list_automations() RETURNS pg_catalog.jsonb
LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'dwc_trampoline';
COMMENT ON FUNCTION dwc.list_automations() IS 'The caller''s automations.';
INSERT INTO dwc.api_access (name, access, grp, direct, route)
     VALUES ('list_automations', 'user', 'automations', true, 'GET /automations');

CREATE FUNCTION dwc.automation_runs(name pg_catalog.text, max_runs pg_catalog.int4 DEFAULT 20)
RETURNS pg_catalog.jsonb
LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'dwc_trampoline';
COMMENT ON FUNCTION dwc.automation_runs(pg_catalog.text, pg_catalog.int4) IS
  'An automation''s latest runs, newest first: what fired them, status, attempts, each action''s result, timing.';
INSERT INTO dwc.api_access (name, access, grp, direct, route)
     VALUES ('automation_runs', 'user', 'automations', true, 'GET /automations/{name}/runs');

CREATE FUNCTION dwc.automation_stats(period pg_catalog.interval DEFAULT '1 day') RETURNS pg_catalog.jsonb
LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'dwc_trampoline';
COMMENT ON FUNCTION dwc.automation_stats(pg_catalog.interval) IS
  'The caller''s automations (how many, enabled, by trigger) and their runs over a period: succeeded, dead, '
  'pending, success rate, mean time.';
INSERT INTO dwc.api_access (name, access, grp, direct, route)
     VALUES ('automation_stats', 'user', 'automations', true, 'GET /automations/stats');

CREATE FUNCTION dwc.run_automation(name pg_catalog.text, data pg_catalog.jsonb DEFAULT '{}')
RETURNS pg_catalog.jsonb
LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'dwc_trampoline';
COMMENT ON FUNCTION dwc.run_automation(pg_catalog.text, pg_catalog.jsonb) IS
  'Fires an automation by API call with {"trigger": "api", "data": data} (the api trigger, or a manual run of '
  'any automation), if its conditions hold; returns the run and its job.';
