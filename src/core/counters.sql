-- src/core/counters.sql: dwc's own counters and histograms (src/core/counters.c), what its
-- workers do: jobs finished and their durations (src/queue), AI calls, tokens, cost and
-- latency (src/ai). Kept in shared memory from the server's start; read by the Prometheus
-- exposition (src/metrics/metrics.sql), for administrators.

-- API: Private

CREATE FUNCTION dwc._own_series(
    OUT name pg_catalog.text,
    OUT type pg_catalog.text,
    OUT help pg_catalog.text,
    OUT labels pg_catalog.jsonb,
    OUT value pg_catalog.float8,
    OUT count pg_catalog.int8,
    OUT bounds pg_catalog.float8[],
    OUT bucket_counts pg_catalog.int8[])
RETURNS SETOF record
LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'dwc__own_series';
COMMENT ON FUNCTION dwc._own_series() IS
  'Private: dwc''s own series of this database since the server started: name, counter or histogram, help, '
  'labels, value (a counter''s total, a histogram''s sum), count, and a histogram''s bucket bounds and counts '
  '(not cumulative; the last is +Inf). Empty when dwc is not preloaded.';
REVOKE ALL ON FUNCTION dwc._own_series() FROM PUBLIC;
