-- core: version, worker status, settings validation, json-c conversions, HTTP client input checks
\set VERBOSITY terse

SELECT dwc.version() = extversion AS library_matches_sql FROM pg_extension WHERE extname = 'dwc';

-- the launcher runs in every server that preloads dwc; this database is not served
SELECT kind, slot, pid > 0 AS has_pid, database IS NULL AS no_database, state
  FROM dwc.status() WHERE kind = 'launcher';
SELECT count(*) AS workers_here FROM dwc.status() WHERE database = current_database();

-- settings: bad values are rejected with the setting's name
SET dwc.http_timeout = 0;
SET dwc.http_timeout = '2 hours';
SET dwc.http_max_redirects = -1;
SET dwc.http_max_response_size = '2GB';
SET dwc.nonexistent = 1;
SET dwc.job_workers = 3;
ALTER SYSTEM SET dwc.job_workers = -1;
ALTER SYSTEM SET dwc.job_workers = 1000;
ALTER SYSTEM SET dwc.naptime = '5ms';
ALTER SYSTEM SET dwc.databases = 'a,,b';
ALTER SYSTEM SET dwc.databases = 'a, b, a';
ALTER SYSTEM SET dwc.databases = '"unterminated';
ALTER SYSTEM SET dwc.enabled = 'maybe';
SET dwc.http_timeout = '1500ms';
SHOW dwc.http_timeout;
RESET dwc.http_timeout;
SHOW dwc.http_max_response_size;

-- jsonb -> json-c -> text -> json-c -> jsonb keeps values exactly
SELECT dwc._jsonc_roundtrip('{"a": 1, "b": [true, false, null], "c": {"d": "é ✓ \"q\""}}');
SELECT dwc._jsonc_roundtrip('[0.1, 1e-7, 123456789012345678, 1234567890123456789012, -0.5, 3.14159265358979323846]');
SELECT dwc._jsonc_roundtrip('"just a string"'), dwc._jsonc_roundtrip('42'), dwc._jsonc_roundtrip('null');
SELECT dwc._jsonc_roundtrip('{}'), dwc._jsonc_roundtrip('[]'), dwc._jsonc_roundtrip('[[[[{"deep": [1]}]]]]');
SELECT dwc._jsonc_roundtrip(jsonb_build_object('k', repeat('x', 100000))) = jsonb_build_object('k', repeat('x', 100000)) AS long_string_ok;

-- the strict parser (PostgreSQL's JSON grammar), with the reason in the detail
\set VERBOSITY default
SELECT dwc._jsonc_parse('{"model": "m", "n": [1, 2.50, -3]}  ');
SELECT dwc._jsonc_parse('{"a": 1} trailing');
SELECT dwc._jsonc_parse('{"a": 1');
SELECT dwc._jsonc_parse('');
SELECT dwc._jsonc_parse('{''a'': 1}');
SELECT dwc._jsonc_parse('[NaN]');
SELECT dwc._jsonc_parse('{"a": /* comment */ 1}');
SELECT dwc._jsonc_parse('"\u0000"');
SELECT dwc._jsonc_parse(repeat('[', 100) || repeat(']', 100));

\set VERBOSITY terse
-- HTTP client: input is checked before anything is sent
SELECT dwc.http('get', 'http://127.0.0.1:1/');
SELECT dwc.http('GET', '');
SELECT dwc.http(NULL, 'http://127.0.0.1:1/');
SELECT dwc.http('GET', 'ftp://127.0.0.1/file');
SELECT dwc.http('GET', 'file:///etc/passwd');
SELECT dwc.http('GET', 'not a url');
SELECT dwc.http('GET', 'http://127.0.0.1:1/', '["not", "an object"]');
SELECT dwc.http('GET', 'http://127.0.0.1:1/', '{"X-Bad": 1}');
SELECT dwc.http('GET', 'http://127.0.0.1:1/', '{"X-Injected": "a\r\nHost: evil"}');
SELECT dwc.http('GET', 'http://127.0.0.1:1/', '{"Bad Name": "v"}');
SELECT dwc.http('GET', 'http://127.0.0.1:1/', timeout_ms => 0);
-- nothing listens on port 1: a connection error naming the URL without its secrets
SELECT dwc.http('GET', 'http://user:secret@127.0.0.1:1/path?api_key=secret');

-- dwc.http is for administrators only
CREATE ROLE dwc_core_nobody;
SELECT has_function_privilege('dwc_core_nobody', 'dwc.http(text, text, jsonb, text, integer)', 'EXECUTE') AS nobody_may_call_http;
DROP ROLE dwc_core_nobody;
