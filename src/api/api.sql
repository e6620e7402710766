-- src/api/api.sql: the schema PostgREST exposes, and where its functions' bodies live.
--
-- An api function serves a dwc function directly when its signature suits HTTP (its rule,
-- in dwc.api_access, is declared beside the dwc function), or calls a body in schema
-- api_impl that reshapes arguments or results (the files of src/api, each body with its rule
-- beside it). At the end of the install script (src/api/http.sql) each rule gets its
-- function in schema api: a C function (src/api/apicall.c) that checks access, calls the
-- target and gives errors the SQLSTATE that makes PostgREST answer the right HTTP status.

CREATE SCHEMA api;
COMMENT ON SCHEMA api IS
  'dwc''s HTTP API, served by PostgREST (db-schemas = api). Functions are RPC endpoints: '
  'POST /rpc/<name> with a JSON object of named arguments (GET for read-only ones).';

CREATE SCHEMA api_impl;
COMMENT ON SCHEMA api_impl IS
  'Bodies of the api functions; not exposed by PostgREST. Call the api functions instead.';
