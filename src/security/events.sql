-- src/security/events.sql: security events and threat summaries. See docs/security.md.

-- API: Private (tables)

CREATE TABLE dwc.security_events (
    id pg_catalog.int8 GENERATED ALWAYS AS IDENTITY,
    at pg_catalog.timestamptz NOT NULL,
    event pg_catalog.text NOT NULL,
    severity pg_catalog.text NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
    user_id pg_catalog.text,
    role pg_catalog.oid,
    address pg_catalog.text,
    request_path pg_catalog.text,
    detail pg_catalog.jsonb NOT NULL DEFAULT '{}'
);
-- no primary key: logical replication identifies a row by all its columns (docs/replication.md)
ALTER TABLE dwc.security_events REPLICA IDENTITY FULL;
COMMENT ON TABLE dwc.security_events IS
  'Security events: sign-ins and their failures, lockouts, MFA failures, refresh-token reuse, '
  'rate-limit hits, permission denials, key and account changes. Written through shared memory by '
  'the maintenance worker (so events of failed requests are kept), within a second. Administrators only.';
SELECT pg_catalog.pg_extension_config_dump('dwc.security_events_id_seq', '');
CREATE INDEX security_events_at ON dwc.security_events USING brin (at);
CREATE INDEX security_events_user ON dwc.security_events (user_id, at) WHERE user_id IS NOT NULL;
SELECT pg_catalog.pg_extension_config_dump('dwc.security_events', '');

-- signed-in users read their own events (src/security/roles.sql)
SELECT dwc._enable_owner_rls('dwc.security_events', 'dwc.is_admin() OR user_id = dwc.current_user_id()');

CREATE FUNCTION dwc._security_event(event pg_catalog.text, severity pg_catalog.text, user_id pg_catalog.text,
                                    detail pg_catalog.jsonb)
RETURNS void
LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'dwc__security_event';
COMMENT ON FUNCTION dwc._security_event(pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.jsonb) IS
  'Private: records a security event (with the request''s address and path) through the shared ring.';
REVOKE ALL ON FUNCTION dwc._security_event(pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.jsonb) FROM PUBLIC;

CREATE FUNCTION dwc._security_events_dropped() RETURNS pg_catalog.int8
LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'dwc__security_events_dropped';
COMMENT ON FUNCTION dwc._security_events_dropped() IS 'Private: events lost because the ring wrapped before it was written out.';

-- API: Public

CREATE FUNCTION dwc.client_address() RETURNS pg_catalog.text
LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'dwc_client_address';
COMMENT ON FUNCTION dwc.client_address() IS
  'The client address of the current PostgREST request: the first of X-Forwarded-For, else X-Real-IP; NULL outside requests.';

CREATE FUNCTION dwc.security_summary(period pg_catalog.interval DEFAULT '1 day') RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN jsonb_build_object(
    'period_seconds', extract(epoch FROM period),
    'events', (SELECT coalesce(jsonb_object_agg(event, n), '{}') FROM (
                  SELECT event, count(*) AS n FROM dwc.security_events WHERE at >= now() - period GROUP BY event) e),
    'critical', (SELECT coalesce(jsonb_agg(jsonb_build_object('at', at, 'event', event, 'user_id', user_id,
                                                              'address', address, 'detail', detail) ORDER BY at DESC), '[]')
                   FROM (SELECT * FROM dwc.security_events WHERE at >= now() - period AND severity = 'critical'
                          ORDER BY at DESC LIMIT 100) c),
    'locked_accounts', (SELECT coalesce(jsonb_agg(jsonb_build_object('id', id, 'username', username,
                                                                     'until', locked_until)), '[]')
                          FROM dwc.users WHERE locked_until > now()),
    'top_failing_addresses', (SELECT coalesce(jsonb_agg(jsonb_build_object('address', address, 'failures', n)
                                                        ORDER BY n DESC), '[]') FROM (
                                SELECT address, count(*) AS n FROM dwc.security_events
                                 WHERE at >= now() - period AND event IN ('login_failure', 'mfa_failure', 'api_key_invalid')
                                   AND address IS NOT NULL
                                 GROUP BY address ORDER BY n DESC LIMIT 10) a),
    'events_lost', dwc._security_events_dropped());
COMMENT ON FUNCTION dwc.security_summary(pg_catalog.interval) IS
  'Threat overview over a period: events by kind, the latest critical ones (lockouts, token reuse), '
  'locked accounts, the addresses with most authentication failures. Administrators only.';
REVOKE ALL ON FUNCTION dwc.security_summary(pg_catalog.interval) FROM PUBLIC;
