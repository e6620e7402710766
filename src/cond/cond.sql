-- src/cond/cond.sql: the condition language (true, false, all, any, not, path comparisons),
-- compiled and evaluated in C (cond_eval.c). Automations' conditions and AI workflows' branches
-- use it. See docs/automation.md.

-- API: Public

CREATE FUNCTION dwc.condition_matches(condition pg_catalog.jsonb, data pg_catalog.jsonb)
RETURNS pg_catalog.bool
LANGUAGE c IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'dwc_condition_matches';
COMMENT ON FUNCTION dwc.condition_matches(pg_catalog.jsonb, pg_catalog.jsonb) IS
  'Whether data satisfies a condition of the automation condition language: true, false, {"all": [...]}, '
  '{"any": [...]}, {"not": c} or {"path": "a.b", "<op>": value} with eq, ne, lt, le, gt, ge, in, between, '
  'contains, matches, exists (docs/automation.md). An invalid condition is an error (22023) naming where.';

CREATE FUNCTION dwc.check_condition(condition pg_catalog.jsonb)
RETURNS pg_catalog.bool
LANGUAGE c IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'dwc_check_condition';
COMMENT ON FUNCTION dwc.check_condition(pg_catalog.jsonb) IS
  'True for a valid condition; otherwise an error (22023) saying what is wrong and where. Usable in CHECK constraints.';
