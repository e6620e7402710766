-- src/analytics/dashboard.sql: the dashboard, one HTML page rendered in SQL: figures of the
-- summary, line charts as inline SVG, insights and health. See docs/analytics.md.
--
-- Why rendered here and not by JavaScript in the browser: the page needs nothing but the
-- database (no chart library to fetch, no second request to authenticate), PostgREST serves
-- it as it is (the "text/html" media type handler), and what it shows is exactly what the
-- analytics functions return. It refreshes itself every minute.

-- API: Private

-- PostgREST's media type handlers: a function returning one of these domains is served
-- with that Content-Type (docs/http.md)
CREATE DOMAIN dwc."text/html" AS pg_catalog.text;
COMMENT ON DOMAIN dwc."text/html" IS 'Served by PostgREST as text/html (a media type handler).';
CREATE DOMAIN dwc."*/*" AS pg_catalog.bytea;
COMMENT ON DOMAIN dwc."*/*" IS
  'Served by PostgREST whatever the client accepts, with the Content-Type the function sets in response.headers.';

CREATE FUNCTION dwc._html(s pg_catalog.text) RETURNS pg_catalog.text
LANGUAGE sql IMMUTABLE
RETURN replace(replace(replace(replace(replace(coalesce(s, ''), '&', '&amp;'), '<', '&lt;'), '>', '&gt;'),
                       '"', '&quot;'), '''', '&#39;');
COMMENT ON FUNCTION dwc._html(pg_catalog.text) IS 'Private: text escaped for HTML content and attribute values.';

-- A line chart: lines is [{"name", "color", "points": [{"at", "value"}]}] over [lo, hi).
CREATE FUNCTION dwc._svg_chart(title pg_catalog.text, unit pg_catalog.text, lines pg_catalog.jsonb,
                               lo pg_catalog.timestamptz, hi pg_catalog.timestamptz)
RETURNS pg_catalog.text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    w constant int := 460;
    h constant int := 170;
    left_pad constant int := 52;
    top_pad constant int := 26;
    plot_w constant int := w - left_pad - 10;
    plot_h constant int := h - top_pad - 24;
    t0 float8 := extract(epoch FROM lo);
    span float8 := greatest(extract(epoch FROM hi - lo), 1);
    ymax float8;
    step float8;
    mag float8;
    l jsonb;
    svg text;
    pts text;
    npts int;
    total int := 0;
    legend text := '';
BEGIN
    SELECT max((p->>'value')::float8) INTO ymax
      FROM jsonb_array_elements(lines) x, jsonb_array_elements(x->'points') p;
    -- a round scale: about four steps of 1, 2, 2.5 or 5 times a power of ten, the top the
    -- first step at or above the largest value (so 1 job reads "1", 100% "100%")
    IF ymax IS NULL OR ymax <= 0 THEN
        step := 0.25;
        ymax := 1;
    ELSE
        mag := 10 ^ floor(log(ymax / 4));
        step := mag * CASE WHEN ymax / 4 / mag <= 1 THEN 1 WHEN ymax / 4 / mag <= 2 THEN 2
                           WHEN ymax / 4 / mag <= 2.5 THEN 2.5 WHEN ymax / 4 / mag <= 5 THEN 5 ELSE 10 END;
        ymax := ceil(ymax / step - 1e-9) * step;
    END IF;
    svg := format('<svg class="chart" role="img" width="%s" height="%s" viewBox="0 0 %s %s" data-title="%s">'
                  '<title>%s</title><text x="%s" y="16" class="ct">%s</text>',
                  w, h, w, h, dwc._html(title), dwc._html(title), left_pad, dwc._html(title));
    -- the scale: a label and a grid line at each step
    FOR i IN 0 .. round(ymax / step)::int LOOP
        svg := svg || format('<text x="%s" y="%s" class="yl" data-tick="%s">%s%s</text>',
                             left_pad - 4, round((top_pad + plot_h * (1 - i * step / ymax))::numeric, 1) + 4,
                             trim_scale(round((i * step)::numeric, 6)),
                             trim_scale(round((i * step)::numeric, 6)), dwc._html(unit))
                   || CASE WHEN i > 0 THEN format('<line x1="%s" y1="%s" x2="%s" y2="%s" class="grid"/>', left_pad,
                                                  round((top_pad + plot_h * (1 - i * step / ymax))::numeric, 1),
                                                  left_pad + plot_w, round((top_pad + plot_h * (1 - i * step / ymax))::numeric, 1))
                           ELSE '' END;
    END LOOP;
    -- axes, and the range of time
    svg := svg || format('<line x1="%s" y1="%s" x2="%s" y2="%s" class="ax"/><line x1="%s" y1="%s" x2="%s" y2="%s" class="ax"/>',
                         left_pad, top_pad, left_pad, top_pad + plot_h, left_pad, top_pad + plot_h, left_pad + plot_w,
                         top_pad + plot_h)
               || format('<text x="%s" y="%s" class="xl">%s</text><text x="%s" y="%s" class="xl" text-anchor="end">%s</text>',
                         left_pad, h - 6, to_char(lo AT TIME ZONE 'UTC', 'MM-DD HH24:MI'), left_pad + plot_w, h - 6,
                         to_char(hi AT TIME ZONE 'UTC', 'MM-DD HH24:MI'));
    FOR l IN SELECT x FROM jsonb_array_elements(lines) x
    LOOP
        SELECT string_agg(format('%s,%s',
                                 round((left_pad + plot_w * (extract(epoch FROM (p->>'at')::timestamptz) - t0) / span)::numeric, 1),
                                 round((top_pad + plot_h * (1 - (p->>'value')::float8 / ymax))::numeric, 1)),
                          ' ' ORDER BY (p->>'at')::timestamptz),
               count(*)
          INTO pts, npts
          FROM jsonb_array_elements(l->'points') p
         WHERE p->>'value' IS NOT NULL;
        total := total + npts;
        IF npts > 0 THEN
            svg := svg || format('<polyline class="series" data-series="%s" data-points="%s" fill="none" stroke="%s" '
                                 'stroke-width="2" points="%s"/>',
                                 dwc._html(l->>'name'), npts, dwc._html(l->>'color'), pts);
        END IF;
        -- a line of one point draws nothing: a dot (a fresh cluster's first reading)
        IF npts = 1 THEN
            svg := svg || format('<circle class="dot" data-series="%s" cx="%s" cy="%s" r="3" fill="%s"/>',
                                 dwc._html(l->>'name'), split_part(pts, ',', 1), split_part(pts, ',', 2),
                                 dwc._html(l->>'color'));
        END IF;
        legend := legend || format('<tspan fill="%s"> &#9632; %s</tspan>', dwc._html(l->>'color'), dwc._html(l->>'name'));
    END LOOP;
    IF total = 0 THEN
        svg := svg || format('<text x="%s" y="%s" class="nodata">no data in this range</text>',
                             left_pad + plot_w / 2, top_pad + plot_h / 2);
    END IF;
    RETURN svg || format('<text x="%s" y="16" class="lg" text-anchor="end">%s</text></svg>', w - 8, legend);
END;
$$;
COMMENT ON FUNCTION dwc._svg_chart(pg_catalog.text, pg_catalog.text, pg_catalog.jsonb, pg_catalog.timestamptz, pg_catalog.timestamptz) IS
  'Private: an inline SVG line chart of series [{"name", "color", "points": [{"at", "value"}]}] between lo and hi.';

-- points of a metric per bucket (the mean of its samples), scaled
CREATE FUNCTION dwc._metric_points(metric pg_catalog.text, lo pg_catalog.timestamptz, hi pg_catalog.timestamptz,
                                   step pg_catalog.interval, scale pg_catalog.float8 DEFAULT 1)
RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
RETURN (SELECT coalesce(jsonb_agg(jsonb_build_object('at', at, 'value', round((v * scale)::numeric, 4)) ORDER BY at), '[]')
          FROM (SELECT date_bin(step, s.at, '2000-01-01') AS at, avg(s.value) AS v
                  FROM dwc.metric_samples s
                 WHERE s.name = metric AND s.at >= lo AND s.at < hi AND s.owner IS NULL   -- the system's
                 GROUP BY 1) x);
COMMENT ON FUNCTION dwc._metric_points(pg_catalog.text, pg_catalog.timestamptz, pg_catalog.timestamptz, pg_catalog.interval, pg_catalog.float8) IS
  'Private: a system metric''s mean per bucket, times scale, as chart points.';

CREATE FUNCTION dwc._dashboard(caller pg_catalog.oid, time_range pg_catalog.text DEFAULT 'day') RETURNS pg_catalog.text
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r tstzrange := dwc._time_range(time_range);
    lo timestamptz := lower(r);
    hi timestamptz := upper(r);
    -- about 60 points a chart, in whole minutes
    step interval := make_interval(secs => greatest(60, ceil(extract(epoch FROM hi - lo) / 60 / 60) * 60));
    admin bool := dwc._caller_is_admin(caller);
    roles oid[] := CASE WHEN NOT admin THEN dwc._member_roles(caller) END;
    me text := dwc.current_user_id();
    s jsonb := dwc._analytics_summary(caller, time_range);
    health jsonb := dwc.health();
    jobs jsonb;
    ai jsonb;                -- AI calls per bucket
    tiles text;
    ins text;
    checks text;
    k text;
    v jsonb;
    per text;
BEGIN
    per := CASE WHEN step = interval '1 minute' THEN 'minute'
                WHEN extract(epoch FROM step)::int8 % 3600 = 0 THEN (extract(epoch FROM step)::int8 / 3600) || ' hours'
                ELSE (extract(epoch FROM step)::int8 / 60) || ' minutes' END;
    SELECT jsonb_build_object(
               'finished', coalesce(jsonb_agg(jsonb_build_object('at', b, 'value', coalesce(f, 0)) ORDER BY b), '[]'),
               'dead', coalesce(jsonb_agg(jsonb_build_object('at', b, 'value', coalesce(d, 0)) ORDER BY b), '[]'))
      INTO jobs
      FROM generate_series(date_bin(step, lo, '2000-01-01'), hi, step) b
      LEFT JOIN (SELECT date_bin(step, h.finished_at, '2000-01-01') AS at, count(*) AS f,
                        count(*) FILTER (WHERE h.status = 'dead') AS d
                   FROM dwc.job_history h
                  WHERE h.finished_at >= lo AND h.finished_at < hi
                    AND dwc._in_owner_set(h.enqueued_by, h.enqueued_user, admin, roles, me)
                  GROUP BY 1) x ON x.at = b;
    ai := dwc._ai_series(lo, hi, step, admin, roles, me);

    tiles := '';
    FOR k, v IN SELECT * FROM (VALUES
            ('Documents created', s->'documents'->'created'),
            ('Jobs finished', s->'jobs'->'finished'),
            ('Job success rate', to_jsonb(coalesce(round((s->'jobs'->>'success_rate')::numeric * 100, 1)::text || ' %', '–'))),
            ('Jobs waiting', s->'queue'->'queued'),
            ('AI calls', s->'ai'->'calls'),
            ('AI tokens', to_jsonb((s->'ai'->>'tokens_in')::int8 + (s->'ai'->>'tokens_out')::int8)),
            ('AI cost', to_jsonb('$' || round((s->'ai'->>'cost')::numeric, 4))),
            ('Workflow runs', s->'workflows'->'runs'),
            ('Automation runs', s->'automations'->'runs'),
            ('Notifications', s->'notifications'->'delivered')) t(k, v)
    LOOP
        tiles := tiles || format('<div class="tile"><div class="tv">%s</div><div class="tk">%s</div></div>',
                                 dwc._html(coalesce(v #>> '{}', '0')), dwc._html(k));
    END LOOP;

    SELECT coalesce(string_agg(format('<tr class="insight %s"><td>%s</td><td>%s</td><td>%s</td></tr>',
                                      i.severity, to_char(i.at AT TIME ZONE 'UTC', 'MM-DD HH24:MI'),
                                      dwc._html(i.severity), dwc._html(i.message)), '' ORDER BY i.at DESC), '')
      INTO ins
      FROM (SELECT * FROM dwc._insights(caller, time_range, 3, interval '1 hour', 24) LIMIT 20) i;

    SELECT string_agg(format('<tr><td>%s</td><td class="st %s">%s</td></tr>', dwc._html(c.key),
                             dwc._html(c.value->>'status'), dwc._html(c.value->>'status')), '' ORDER BY c.key)
      INTO checks
      FROM jsonb_each(health->'checks') c;

    RETURN '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        || '<meta http-equiv="refresh" content="60"><title>dwc dashboard</title><style>'
        || 'body{font:14px system-ui,sans-serif;margin:24px;background:#f6f7f9;color:#1d2330}'
        || 'h1{font-size:20px;margin:0 0 4px}h2{font-size:15px;margin:24px 0 8px}.sub{color:#667}'
        || '.tiles{display:flex;flex-wrap:wrap;gap:10px}.tile{background:#fff;border-radius:8px;padding:10px 14px;min-width:120px;box-shadow:0 1px 2px #0002}'
        || '.tv{font-size:22px;font-weight:600}.tk{color:#667;font-size:12px}'
        || '.charts{display:flex;flex-wrap:wrap;gap:12px}.chart{background:#fff;border-radius:8px;box-shadow:0 1px 2px #0002}'
        || '.ct{font-weight:600;font-size:13px}.ax{stroke:#99a}.grid{stroke:#e3e5ea}.yl{font-size:10px;fill:#667;text-anchor:end}'
        || '.xl{font-size:10px;fill:#667}.lg{font-size:11px}.nodata{fill:#99a;text-anchor:middle}'
        || 'table{border-collapse:collapse;background:#fff}td{padding:4px 10px;border-bottom:1px solid #eee}'
        || '.st.ok{color:#137333}.st.degraded,.st.down,.st.lagging{color:#c5221f;font-weight:600}'
        || 'tr.critical td{color:#c5221f}.status{display:inline-block;padding:2px 8px;border-radius:10px;color:#fff}'
        || '.status.ok{background:#137333}.status.degraded{background:#c5221f}'
        || '</style></head><body>'
        || format('<h1>dwc <span class="status %s" id="status">%s</span></h1>', dwc._html(health->>'status'),
                  dwc._html(health->>'status'))
        || format('<div class="sub">database %s · dwc %s · %s · %s to %s UTC · %s</div>',
                  dwc._html(current_database()), dwc._html(dwc.version()),
                  CASE WHEN s->>'scope' = 'all' THEN 'everyone''s activity' ELSE 'your activity' END,
                  to_char(lo AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI'), to_char(hi AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI'),
                  dwc._html(time_range))
        || '<h2>Summary</h2><div class="tiles" id="tiles">' || tiles || '</div>'
        || '<h2>Charts</h2><div class="charts" id="charts">'
        || dwc._svg_chart('CPU busy', '%', jsonb_build_array(jsonb_build_object(
               'name', 'cpu', 'color', '#1a73e8', 'points', dwc._metric_points('dwc_system_cpu_usage_ratio', lo, hi, step, 100))), lo, hi)
        || dwc._svg_chart('Memory used', '%', jsonb_build_array(jsonb_build_object(
               'name', 'memory', 'color', '#9334e6', 'points', dwc._metric_points('dwc_system_memory_used_ratio', lo, hi, step, 100))), lo, hi)
        || dwc._svg_chart('Jobs finished per ' || per, '', jsonb_build_array(
               jsonb_build_object('name', 'finished', 'color', '#137333', 'points', jobs->'finished'),
               jsonb_build_object('name', 'dead', 'color', '#c5221f', 'points', jobs->'dead')), lo, hi)
        || dwc._svg_chart('AI tokens per ' || per, '', jsonb_build_array(jsonb_build_object(
               'name', 'tokens', 'color', '#e37400',
               'points', (SELECT coalesce(jsonb_agg(jsonb_build_object('at', p->'at', 'value', p->'tokens')), '[]')
                            FROM jsonb_array_elements(ai) p))), lo, hi)
        || dwc._svg_chart('AI latency p50', ' ms', jsonb_build_array(jsonb_build_object(
               'name', 'p50', 'color', '#007b83',
               'points', (SELECT coalesce(jsonb_agg(jsonb_build_object('at', p->'at', 'value', p->'latency_ms_p50')), '[]')
                            FROM jsonb_array_elements(ai) p))), lo, hi)
        || '</div><h2>Insights</h2>'
        || CASE WHEN ins = '' THEN '<p class="sub" id="insights">No anomalies: every series within 3 standard deviations.</p>'
                ELSE '<table id="insights">' || ins || '</table>' END
        || '<h2>Health</h2><table id="health">' || coalesce(checks, '') || '</table>'
        || '</body></html>';
END;
$$;
SELECT dwc._declare_public('dwc._dashboard',
  'The dashboard of a time range as one HTML page: the summary''s figures, charts (CPU, memory, jobs finished and '
  'dead, AI tokens and latency) as inline SVG, insights and health checks. Over HTTP: GET /rpc/dashboard. Users see '
  'their own activity, administrators everyone''s.');

-- API: Public

