-- Analytics: time ranges, HTML escaping, an SVG chart of fixed points, the summary's shape,
-- refusals. (Counting planted activity, insights and the dashboard in a browser:
-- test/integration/test_analytics.py.)
SET client_min_messages = warning;

SELECT t, upper(r) - lower(r) AS span, upper(r) = now() AS ends_now
  FROM unnest(ARRAY['hour', 'day', 'Week', ' month ', 'year', '90 minutes', '2 days 3 hours']) t,
       LATERAL dwc._time_range(t) r;
SELECT dwc._time_range('fortnight');
SELECT dwc._time_range('-1 day');
SELECT dwc._time_range('0');
SELECT dwc._time_range('20 years');

SELECT dwc._html('<a href="x">Tom & Jerry''s</a>') AS escaped, dwc._html(NULL) = '' AS null_is_empty;

-- two lines over an hour: x from the time, y from the value on a round scale (steps of 2.5
-- up to 10), a grid line a step; a line of one point is also a dot (one element a row)
SELECT regexp_split_to_table(dwc._svg_chart('Jobs <b>', '', '[{"name": "finished", "color": "#137333",
                                         "points": [{"at": "2026-01-01 00:00+00", "value": 0},
                                                    {"at": "2026-01-01 00:30+00", "value": 5},
                                                    {"at": "2026-01-01 01:00+00", "value": 10}]},
                                        {"name": "dead", "color": "#c5221f",
                                         "points": [{"at": "2026-01-01 00:30+00", "value": 1}]}]',
                      '2026-01-01 00:00+00', '2026-01-01 01:00+00'), '(?=<(svg|title|text|line|polyline|circle))') AS svg;
-- the scale's ticks for a few largest values: one job is "1", a busy CPU "100%", never "1.10"
SELECT v AS largest, (SELECT array_agg(m[1] ORDER BY o)
                        FROM regexp_matches(dwc._svg_chart('t', '', jsonb_build_array(jsonb_build_object(
                                 'name', 's', 'color', '#000', 'points', jsonb_build_array(jsonb_build_object(
                                     'at', '2026-01-01 00:30+00', 'value', v)))),
                                 '2026-01-01 00:00+00', '2026-01-01 01:00+00'),
                             'data-tick="([^"]+)"', 'g') WITH ORDINALITY AS t (m, o)) AS ticks
  FROM unnest('{1, 100, 37, 0.3, 0.05, 1234, 0}'::float8[]) v;
SELECT dwc._svg_chart('Empty', '%', '[{"name": "cpu", "color": "#1a73e8", "points": []}]',
                      '2026-01-01 00:00+00', '2026-01-01 01:00+00') ~ 'no data in this range' AS says_no_data;

-- the summary's sections; a superuser counts everyone's
SELECT s->>'scope' AS scope, array(SELECT jsonb_object_keys(s) ORDER BY 1) AS sections,
       (s->'time_range'->>'seconds')::numeric AS seconds
  FROM dwc.analytics_summary('hour') s;
SELECT jsonb_typeof(a->'series') AS series, jsonb_array_length(a->'series') BETWEEN 12 AND 13 AS buckets_of_two_hours
  FROM dwc.ai_analytics('day', '2 hours') a;

-- a planted gauge: 30 quiet hours, then a jump
SELECT (dwc.define_metric('reg_depth', 'gauge')).name;
INSERT INTO dwc.metric_samples (at, name, value)
SELECT date_bin('1 hour', now(), '2000-01-01') - make_interval(hours => 32 - i) + interval '10 minutes',
       'reg_depth', CASE WHEN i = 30 THEN 50 ELSE 10 + (i % 3) END
  FROM generate_series(0, 31) i;
SELECT series, value, round(mean::numeric, 4) AS mean, round(z::numeric, 4) AS z, direction, severity
  FROM dwc.insights('day') WHERE series = 'metric:reg_depth';
SELECT * FROM dwc.insights('day', 0);
SELECT * FROM dwc.insights('day', 3, '1 hour', 5);
SELECT * FROM dwc.insights('day', 3, '1 second');

-- the dashboard: five charts, escaped, one page
SELECT d LIKE '<!DOCTYPE html>%' AS html, (length(d) - length(replace(d, '<svg class="chart"', ''))) / 18 AS charts,
       d LIKE '%</html>' AS whole
  FROM dwc.dashboard('hour') d;

-- administrators only
CREATE ROLE reg_analyst;
GRANT dwc_user TO reg_analyst;
SET ROLE reg_analyst;
SELECT dwc.cache_stats();
SELECT dwc.cache_clear();
SELECT dwc.active_users();
SELECT dwc.analytics_summary('hour')->>'scope' AS scope;
RESET ROLE;
DROP ROLE reg_analyst;
