-- metrics: defining counters, gauges and histograms, recording with labels (checked and put
-- in one form), current values, the Prometheus exposition, refusals. (The system sampler,
-- rollups, privacy between users and a real Prometheus parser: test/integration/test_metrics.py.)
SET client_min_messages = warning;

SELECT name, type, help, unit, buckets FROM dwc.define_metric('rg_requests_total', 'counter', 'Requests served.');
SELECT name, type, help, unit, buckets FROM dwc.define_metric('rg_queue_depth', 'gauge', 'Jobs waiting.', 'jobs');
SELECT name, type, help, unit, buckets
  FROM dwc.define_metric('rg_latency_seconds', 'histogram', 'Request latency.', 'seconds', '{0.1, 0.5, 1}');

-- one rule for names (core/names.sql): a Prometheus name is kept as it is, any other name
-- becomes its slug, "_" before a leading digit; the name as written is the help
SELECT n AS given, dwc._metric_name(n) AS prometheus_name
  FROM unnest(ARRAY['rg_requests_total', 'Job:Rate', 'custom.metric', 'Orders placed', '2024 revenue',
                    'Ventas año', '...', '#12', NULL]) n;
SELECT name, type, help, display_name FROM dwc.define_metric('RG Orders placed', 'counter');
-- found as written, and by its Prometheus name: one metric
SELECT dwc.metric_inc('RG Orders Placed') AS as_written, dwc.metric_inc('rg_orders_placed') AS by_name;
-- recording a metric that does not exist defines it with the type the call implies
SELECT dwc.metric_set('rg.new.gauge', 3);
SELECT dwc.metric_observe('rg new seconds', 0.2);
SELECT name, type, cardinality(buckets) AS buckets, display_name FROM dwc.metrics
 WHERE name IN ('rg_new_gauge', 'rg_new_seconds') ORDER BY name;

SELECT dwc.metric_inc('rg_requests_total') AS total;
SELECT dwc.metric_inc('rg_requests_total', 2, '{"path": "/a"}') AS path_a;
SELECT dwc.metric_inc('rg_requests_total', 3, '{"path": "/a"}') AS path_a_again;
SELECT dwc.metric_set('rg_queue_depth', 7);
SELECT dwc.metric_set('rg_queue_depth', 4);
SELECT dwc.metric_observe('rg_latency_seconds', v) FROM unnest('{0.05, 0.3, 0.3, 2}'::float8[]) v;
-- a label's value is text: a number is written as its text
SELECT dwc.metric_inc('rg_requests_total', 1, '{"path": 7}') AS path_7;

SELECT name, labels, value, count, bucket_counts
  FROM dwc.metric_current_values() WHERE name LIKE 'rg\_%' ORDER BY name, labels::text;

-- the exposition, as Prometheus reads it (only this test's metrics)
SELECT line FROM regexp_split_to_table(dwc.prometheus_metrics(), E'\n') AS line
 WHERE line ~ 'rg_' ORDER BY line;

-- refusals
SELECT dwc.metric_inc('rg_requests_total', -1);
SELECT dwc.metric_set('rg_requests_total', 1);
SELECT dwc.metric_inc('rg_requests_total', 1, '{"Bad Label": "x"}');
SELECT dwc.define_metric('#rg', 'counter');
SELECT dwc.metric_inc('rg_queue_depth');
SELECT dwc.define_metric('rg_kind', 'summary');
SELECT dwc.define_metric('rg_buckets', 'histogram', '', '', '{1, 0.5}');
-- dwc_ names are dwc's own: not to define, nor to record into its sampler's metrics
SELECT dwc.define_metric('dwc_rg_total', 'counter');
SELECT dwc.metric_inc('dwc_rg_total');
SELECT dwc.metric_set('dwc_system_load1', 99);

-- dwc's own series: administrators see them in the exposition (this database is not served:
-- its queue gauges are there, no job ever finished here; the scheduler's lag depends on the
-- time this runs); other users do not
SELECT line FROM regexp_split_to_table(dwc.prometheus_metrics(), E'\n') AS line
 WHERE line ~ '^(# TYPE )?dwc_(queue|workers)|^# TYPE dwc_scheduler' ORDER BY line;
SET ROLE dwc_user;
SELECT count(*) AS own_lines_seen FROM regexp_split_to_table(dwc.prometheus_metrics(), E'\n') AS line
 WHERE line ~ 'dwc_(queue|workers|scheduler|jobs|job_|ai_|notifications|websocket)';
RESET ROLE;
