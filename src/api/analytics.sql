-- src/api/analytics.sql: the seed's /advanced analytics, cache and status endpoints, and
-- the dashboard, for PostgREST. See docs/analytics.md.

-- API: Public

CREATE FUNCTION api_impl.insights(time_range pg_catalog.text DEFAULT 'day', threshold pg_catalog.float8 DEFAULT 3,
                                  bucket pg_catalog.interval DEFAULT '1 hour', baseline pg_catalog.int4 DEFAULT 24)
RETURNS TABLE (series pg_catalog.text, labels pg_catalog.jsonb, at pg_catalog.timestamptz, value pg_catalog.float8,
               mean pg_catalog.float8, stddev pg_catalog.float8, z pg_catalog.float8, direction pg_catalog.text,
               severity pg_catalog.text, message pg_catalog.text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT * FROM dwc.insights(time_range, threshold, bucket, baseline);
END;
SELECT dwc._declare_http('api_impl.insights',
  'Anomalies by z-score, newest first (GET /advanced/analytics/insights).',
  access => 'user', grp => 'analytics');

CREATE FUNCTION api_impl.service_status()
RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN dwc.health() || jsonb_build_object(
    'workers', (SELECT coalesce(jsonb_agg(to_jsonb(s) ORDER BY s.kind, s.pid), '[]') FROM dwc.status() s),
    'system', (SELECT coalesce(jsonb_object_agg(v.name, v.value), '{}')
                 FROM dwc.metric_current_values() v JOIN dwc.metrics m ON m.name = v.name
                WHERE m.builtin AND v.labels = '{}'),
    'uptime_seconds', round(extract(epoch FROM now() - pg_postmaster_start_time())::numeric, 0));
SELECT dwc._declare_http('api_impl.service_status',
  'Health checks, every dwc worker, the latest system readings and uptime (GET /advanced/status, /health/detailed). '
  'Administrators.',
  access => 'admin', grp => 'analytics');

CREATE FUNCTION api_impl.dashboard(time_range pg_catalog.text DEFAULT 'day')
RETURNS dwc."text/html"
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN dwc.dashboard(time_range)::dwc."text/html";
SELECT dwc._declare_http('api_impl.dashboard',
  'The analytics dashboard as an HTML page (GET /rpc/dashboard, served as text/html).',
  access => 'user', grp => 'analytics');
