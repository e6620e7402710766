-- src/api/analytics.sql: the seed's /advanced analytics, cache and status endpoints, and
-- the dashboard, for PostgREST. See docs/analytics.md.

-- API: Public

CREATE FUNCTION api_impl.analytics_summary(time_range pg_catalog.text DEFAULT 'day')
RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN dwc.analytics_summary(time_range);
COMMENT ON FUNCTION api_impl.analytics_summary(pg_catalog.text) IS
  'What happened in a time range: hour, day, week, month, year or an interval (GET /advanced/analytics/summary).';
INSERT INTO dwc.api_access (name, access, grp) VALUES ('analytics_summary', 'user', 'analytics');

CREATE FUNCTION api_impl.user_activity(user_id pg_catalog.text DEFAULT NULL, time_range pg_catalog.text DEFAULT 'week')
RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN dwc.user_activity(user_id, time_range);
COMMENT ON FUNCTION api_impl.user_activity(pg_catalog.text, pg_catalog.text) IS
  'A user''s activity (GET /advanced/analytics/users/{id}): one''s own, or for administrators anyone''s.';
INSERT INTO dwc.api_access (name, access, grp) VALUES ('user_activity', 'user', 'analytics');

CREATE FUNCTION api_impl.active_users(time_range pg_catalog.text DEFAULT 'week', max_rows pg_catalog.int4 DEFAULT 20)
RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN dwc.active_users(time_range, max_rows);
COMMENT ON FUNCTION api_impl.active_users(pg_catalog.text, pg_catalog.int4) IS
  'The most active users of a time range (GET /advanced/analytics/users). Administrators.';
INSERT INTO dwc.api_access (name, access, grp) VALUES ('active_users', 'admin', 'analytics');

CREATE FUNCTION api_impl.ai_analytics(time_range pg_catalog.text DEFAULT 'day', bucket pg_catalog.interval DEFAULT NULL)
RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN dwc.ai_analytics(time_range, bucket);
COMMENT ON FUNCTION api_impl.ai_analytics(pg_catalog.text, pg_catalog.interval) IS
  'AI tokens, cost and latency by provider, model, operation and time (GET /advanced/analytics/ai).';
INSERT INTO dwc.api_access (name, access, grp) VALUES ('ai_analytics', 'user', 'analytics');

CREATE FUNCTION api_impl.insights(time_range pg_catalog.text DEFAULT 'day', threshold pg_catalog.float8 DEFAULT 3,
                                  bucket pg_catalog.interval DEFAULT '1 hour', baseline pg_catalog.int4 DEFAULT 24)
RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN (SELECT coalesce(jsonb_agg(to_jsonb(i)), '[]') FROM dwc.insights(time_range, threshold, bucket, baseline) i);
COMMENT ON FUNCTION api_impl.insights(pg_catalog.text, pg_catalog.float8, pg_catalog.interval, pg_catalog.int4) IS
  'Anomalies by z-score, newest first (GET /advanced/analytics/insights).';
INSERT INTO dwc.api_access (name, access, grp) VALUES ('insights', 'user', 'analytics');

CREATE FUNCTION api_impl.cache_stats(time_range pg_catalog.text DEFAULT 'day')
RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN dwc.cache_stats(time_range);
COMMENT ON FUNCTION api_impl.cache_stats(pg_catalog.text) IS
  'The AI response cache and PostgreSQL''s buffer cache (GET /advanced/cache/stats). Administrators.';
INSERT INTO dwc.api_access (name, access, grp) VALUES ('cache_stats', 'admin', 'analytics');

CREATE FUNCTION api_impl.cache_clear(provider pg_catalog.text DEFAULT NULL, model pg_catalog.text DEFAULT NULL,
                                     expired_only pg_catalog.bool DEFAULT false)
RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN dwc.cache_clear(provider, model, expired_only);
COMMENT ON FUNCTION api_impl.cache_clear(pg_catalog.text, pg_catalog.text, pg_catalog.bool) IS
  'Empties the AI response cache, or its expired entries (POST /advanced/cache/clear). Administrators.';
INSERT INTO dwc.api_access (name, access, grp) VALUES ('cache_clear', 'admin', 'analytics');

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
COMMENT ON FUNCTION api_impl.service_status() IS
  'Health checks, every dwc worker, the latest system readings and uptime (GET /advanced/status, /health/detailed). '
  'Administrators.';
INSERT INTO dwc.api_access (name, access, grp) VALUES ('service_status', 'admin', 'analytics');

CREATE FUNCTION api_impl.dashboard(time_range pg_catalog.text DEFAULT 'day')
RETURNS dwc."text/html"
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN dwc.dashboard(time_range)::dwc."text/html";
COMMENT ON FUNCTION api_impl.dashboard(pg_catalog.text) IS
  'The analytics dashboard as an HTML page (GET /rpc/dashboard, served as text/html).';
INSERT INTO dwc.api_access (name, access, grp) VALUES ('dashboard', 'user', 'analytics');
