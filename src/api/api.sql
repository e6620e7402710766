-- src/api/api.sql: the schema PostgREST exposes, and where its functions' bodies live.
--
-- The files of src/api define each endpoint in schema api_impl: a thin, documented wrapper
-- (named arguments, jsonb results) over the dwc functions, which check ownership, and,
-- beside it, its rule in dwc.api_access (who may call it, its API-key scope group). At the
-- end of the install script (src/api/http.sql) every api_impl function gets its twin
-- in schema api: a C function (src/api/apicall.c) that checks access, calls the body
-- and gives errors the SQLSTATE that makes PostgREST answer the right HTTP status.

CREATE SCHEMA api;
COMMENT ON SCHEMA api IS
  'dwc''s HTTP API, served by PostgREST (db-schemas = api). Functions are RPC endpoints: '
  'POST /rpc/<name> with a JSON object of named arguments (GET for read-only ones).';

CREATE SCHEMA api_impl;
COMMENT ON SCHEMA api_impl IS
  'Bodies of the api functions; not exposed by PostgREST. Call the api functions instead.';

-- API: Private

CREATE TABLE dwc.api_access (
    name pg_catalog.text PRIMARY KEY,
    access pg_catalog.text NOT NULL CHECK (access IN ('anon', 'user', 'admin')),
    grp pg_catalog.text NOT NULL
);
COMMENT ON TABLE dwc.api_access IS
  'Who may call each api function: anon (anyone), user (a signed-in user or an API key with the '
  'group''s scope), admin (dwc_admin); and its scope group for API keys.';
GRANT SELECT ON dwc.api_access TO dwc_anon, dwc_user, dwc_admin;
SELECT dwc._keep_seeds('dwc.api_access');
