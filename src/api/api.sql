-- src/api/api.sql: the schema PostgREST exposes. Each function is a thin, documented
-- wrapper (named arguments, jsonb results) over the dwc functions, which check ownership.
-- Roles and grants arrive with the security subsystem; until then only superusers can
-- use the api schema.

CREATE SCHEMA api;
COMMENT ON SCHEMA api IS
  'dwc''s HTTP API, served by PostgREST (db-schemas = api). Functions are RPC endpoints: '
  'POST /rpc/<name> with a JSON object of named arguments.';
