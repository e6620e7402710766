-- src/api/metrics.sql: the seed's /metrics endpoints, and the Prometheus scrape, for
-- PostgREST. See docs/metrics.md.

-- API: Public

CREATE FUNCTION api_impl.record_metric(name pg_catalog.text, value pg_catalog.float8 DEFAULT 1,
                                       labels pg_catalog.jsonb DEFAULT '{}', type pg_catalog.text DEFAULT NULL,
                                       metric_type pg_catalog.text DEFAULT NULL, category pg_catalog.text DEFAULT NULL)
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    prom text := dwc._metric_name(name);
    t text := coalesce((SELECT m.type FROM dwc.metrics m WHERE m.name = prom), record_metric.type, metric_type);
BEGIN
    -- the seed's category is a label
    IF category IS NOT NULL THEN
        labels := coalesce(labels, '{}') || jsonb_build_object('category', category);
    END IF;
    IF t IS NULL THEN
        RAISE EXCEPTION 'metric "%" does not exist', name USING ERRCODE = 'undefined_object',
            HINT = 'Give its "type" (counter, gauge or histogram) to define it as you record it, or define it first '
                   '(POST /rpc/define_metric).';
    END IF;
    IF t = 'counter' THEN
        RETURN jsonb_build_object('name', prom, 'type', t, 'value', dwc.metric_inc(name, value, labels));
    ELSIF t = 'gauge' THEN
        PERFORM dwc.metric_set(name, value, labels);
    ELSIF t = 'histogram' THEN
        PERFORM dwc.metric_observe(name, value, labels);
    ELSE
        RAISE EXCEPTION 'invalid metric type "%"', t USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Types: counter, gauge, histogram.';
    END IF;
    RETURN jsonb_build_object('name', prom, 'type', t, 'value', value);
END;
$$;
SELECT dwc._declare_http('api_impl.record_metric',
  'Records a value of a metric (POST /metrics/record): a counter goes up by value, a gauge is set to it, a '
  'histogram observes it; a metric that does not exist is defined with the given type (or the seed''s metric_type; '
  'its category becomes a label). Returns {name (its Prometheus name), type, value (a counter''s new total)}.',
  access => 'user', grp => 'metrics');

CREATE FUNCTION api_impl.define_metric(name pg_catalog.text, type pg_catalog.text, help pg_catalog.text DEFAULT '',
                                       unit pg_catalog.text DEFAULT '', buckets pg_catalog.float8[] DEFAULT NULL)
RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN pg_catalog.to_jsonb(dwc.define_metric(name, type, help, unit, buckets)) OPERATOR(pg_catalog.-) 'owner'
       OPERATOR(pg_catalog.-) 'owner_user';
SELECT dwc._declare_http('api_impl.define_metric',
  'Defines a custom metric: counter, gauge or histogram with buckets (POST /metrics/custom); returns the definition.',
  access => 'user', grp => 'metrics');

CREATE FUNCTION api_impl.list_metrics(builtin pg_catalog.bool DEFAULT NULL)
RETURNS TABLE (name pg_catalog.text, type pg_catalog.text, help pg_catalog.text, unit pg_catalog.text,
               buckets pg_catalog.float8[], builtin pg_catalog.bool, "values" pg_catalog.jsonb)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    -- the current values read once (shared memory and the table), grouped by metric
    WITH cur AS (SELECT v.name, jsonb_agg(jsonb_build_object('labels', v.labels, 'value', v.value, 'count', v.count,
                                                             'updated_at', v.updated_at) ORDER BY v.labels) AS vals
                   FROM dwc.metric_current_values() v GROUP BY v.name)
    SELECT m.name, m.type, m.help, m.unit, m.buckets, m.builtin, coalesce(cur.vals, '[]')
      FROM dwc.metrics m LEFT JOIN cur ON cur.name = m.name
     WHERE list_metrics.builtin IS NULL OR m.builtin = list_metrics.builtin
     ORDER BY m.name;
END;
SELECT dwc._declare_http('api_impl.list_metrics',
  'Metrics with their current values per label set (GET /metrics), of the series the caller may see: the system''s '
  'and their own (everyone''s for administrators); builtin: only the system sampler''s, or only custom ones. Rows '
  'PostgREST can filter, order, page and count.',
  access => 'user', grp => 'metrics');

CREATE FUNCTION api_impl.metric_series(name pg_catalog.text, labels pg_catalog.jsonb DEFAULT NULL,
                                       since pg_catalog.timestamptz DEFAULT NULL,
                                       until pg_catalog.timestamptz DEFAULT NULL,
                                       step pg_catalog.interval DEFAULT '1 minute')
RETURNS TABLE (at pg_catalog.timestamptz, n pg_catalog.int8, avg pg_catalog.float8, min pg_catalog.float8,
               max pg_catalog.float8, last pg_catalog.float8)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT * FROM dwc.metric_series(name, labels, coalesce(since, now() - interval '1 hour'), coalesce(until, now()),
                                    step) s
     ORDER BY s.at;
END;
SELECT dwc._declare_http('api_impl.metric_series',
  'A metric''s samples per step between since (default an hour ago) and until (now): count, avg, min, max, last '
  '(GET /metrics/{name}).',
  access => 'user', grp => 'metrics');

CREATE FUNCTION api_impl.system_metrics()
RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN (SELECT jsonb_build_object(
                   'sampled_at', max(v.updated_at),
                   'values', coalesce(jsonb_object_agg(
                                 v.name || CASE WHEN v.labels = '{}' THEN '' ELSE v.labels::text END, v.value), '{}'))
          FROM dwc.metric_current_values() v JOIN dwc.metrics m ON m.name = v.name WHERE m.builtin);
SELECT dwc._declare_http('api_impl.system_metrics',
  'The system sampler''s latest readings (GET /metrics/system): CPU, load, memory, disk, network and PostgreSQL''s '
  'statistics, by metric name (and labels).',
  access => 'user', grp => 'metrics');

CREATE FUNCTION api_impl.prometheus_metrics()
RETURNS dwc."*/*"
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM set_config('response.headers',
                       '[{"Content-Type": "text/plain; version=0.0.4; charset=utf-8"}]', true);
    RETURN convert_to(dwc.prometheus_metrics(), 'UTF8')::dwc."*/*";
END;
$$;
SELECT dwc._declare_http('api_impl.prometheus_metrics',
  'Every metric in the Prometheus text format 0.0.4 (GET /rpc/prometheus_metrics, whatever Accept says): for '
  'Prometheus, an API key with the metrics:read scope in the X-API-Key header.',
  access => 'user', grp => 'metrics');
