-- src/security/http_access.sql: who may call each function of the HTTP face (schema api), and
-- with which API-key scope group. Each subsystem declares its rules beside the functions they
-- serve; src/api/http.sql makes the api functions from them at the end of the install script.

-- API: Private

CREATE TABLE dwc.api_access (
    name pg_catalog.text PRIMARY KEY,
    access pg_catalog.text NOT NULL CHECK (access IN ('anon', 'user', 'admin')),
    grp pg_catalog.text NOT NULL,
    -- the api function calls dwc.<name> (same signature) rather than a body api_impl.<name>
    direct pg_catalog.bool NOT NULL DEFAULT false,
    route pg_catalog.text
);
COMMENT ON TABLE dwc.api_access IS
  'Who may call each api function: anon (anyone), user (a signed-in user or an API key with the '
  'group''s scope), admin (dwc_admin); its scope group for API keys; whether it serves dwc.<name> '
  'directly (direct) or its body in api_impl; and the seed''s route it stands for.';
GRANT SELECT ON dwc.api_access TO dwc_anon, dwc_user, dwc_admin;
SELECT dwc._keep_seeds('dwc.api_access');
