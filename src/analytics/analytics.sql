-- src/analytics/analytics.sql: analytics over what dwc already records: a summary of a
-- time range, a user's activity, AI usage (tokens, cost, latency) by provider, model and
-- time, anomalies by z-score ("insights"), and the caches. See docs/analytics.md.
--
-- Nothing here keeps tables of its own: every figure is computed when asked from the
-- tables the subsystems write (jobs and their history, chains and documents, AI calls,
-- workflow runs, automation runs, notifications, security events, metric samples), so
-- it is as fresh as the data ("real-time analytics") and cannot drift from it. Each
-- function runs as the extension's owner and counts only the rows the caller may manage
-- (dwc._may_manage, the one ownership rule): a user sees their own activity, an
-- administrator everyone's.

-- the kinds of events published here (analytics.insight): applications may not emit them
INSERT INTO dwc.event_sources (prefix, subsystem) VALUES ('analytics', 'analytics');

-- API: Private

-- 'hour', 'day', 'week', 'month', 'year' or an interval: the range that ends now
CREATE FUNCTION dwc._time_range(time_range pg_catalog.text) RETURNS pg_catalog.tstzrange
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    span interval;
BEGIN
    span := CASE lower(btrim(coalesce(time_range, 'day')))
                WHEN 'hour' THEN interval '1 hour' WHEN 'day' THEN interval '1 day'
                WHEN 'week' THEN interval '7 days' WHEN 'month' THEN interval '30 days'
                WHEN 'year' THEN interval '365 days' END;
    IF span IS NULL THEN
        BEGIN
            span := time_range::interval;
        EXCEPTION WHEN invalid_datetime_format OR datetime_field_overflow OR interval_field_overflow THEN
            span := NULL;
        END;
    END IF;
    IF span IS NULL OR span <= interval '0' OR span > interval '3660 days' THEN
        RAISE EXCEPTION 'invalid time range "%"', time_range USING ERRCODE = 'invalid_parameter_value',
            HINT = 'hour, day, week, month, year, or a positive interval of at most ten years such as ''90 minutes''.';
    END IF;
    RETURN tstzrange(now() - span, now(), '[)');
END;
$$;
COMMENT ON FUNCTION dwc._time_range(pg_catalog.text) IS
  'Private: hour, day, week (7 days), month (30 days), year (365 days) or an interval, as the range ending now.';

-- percentiles rounded for reading, NULL when there is nothing
CREATE FUNCTION dwc._round(v pg_catalog.float8, digits pg_catalog.int4 DEFAULT 3) RETURNS pg_catalog.numeric
LANGUAGE sql IMMUTABLE
RETURN round(v::numeric, digits);
COMMENT ON FUNCTION dwc._round(pg_catalog.float8, pg_catalog.int4) IS 'Private: a float rounded for reading (NULL stays NULL).';

-- ---- the summary of a time range -------------------------------------------------------

CREATE FUNCTION dwc._analytics_summary(caller pg_catalog.oid, time_range pg_catalog.text DEFAULT 'day') RETURNS pg_catalog.jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r tstzrange := dwc._time_range(time_range);
    lo timestamptz := lower(r);
    hi timestamptz := upper(r);
    admin bool := dwc._caller_is_admin(caller);
    roles oid[] := CASE WHEN NOT admin THEN dwc._member_roles(caller) END;
    me text := dwc.current_user_id();
    out jsonb;
BEGIN
    out := jsonb_build_object(
        'time_range', jsonb_build_object('from', lo, 'to', hi, 'seconds', extract(epoch FROM hi - lo)),
        'scope', CASE WHEN admin THEN 'all' ELSE 'own' END,
        'chains', (SELECT jsonb_build_object('created', count(*))
                     FROM dwc.chains c
                    WHERE c.created_at >= lo AND c.created_at < hi
                      AND dwc._in_owner_set(c.owner, c.owner_user, admin, roles, me)),
        'documents', (SELECT jsonb_build_object(
                                 'created', count(*),
                                 'generated', count(*) FILTER (WHERE d.model IS NOT NULL),
                                 'tokens', coalesce(sum(d.tokens_in + d.tokens_out), 0),
                                 'cost', dwc._round(coalesce(sum(d.cost), 0), 6),
                                 'generation_ms_avg', dwc._round(avg(d.generation_ms) FILTER (WHERE d.model IS NOT NULL)))
                        FROM dwc.documents d JOIN dwc.chains c ON c.id = d.chain_id
                       WHERE d.created_at >= lo AND d.created_at < hi
                         AND dwc._in_owner_set(c.owner, c.owner_user, admin, roles, me)),
        'jobs', (SELECT jsonb_build_object(
                            'finished', count(*),
                            'succeeded', count(*) FILTER (WHERE h.status = 'succeeded'),
                            'dead', count(*) FILTER (WHERE h.status = 'dead'),
                            'cancelled', count(*) FILTER (WHERE h.status = 'cancelled'),
                            'retried', count(*) FILTER (WHERE h.attempts > 1),
                            'success_rate', dwc._round(avg((h.status = 'succeeded')::int) FILTER (WHERE h.status <> 'cancelled'), 4),
                            'run_ms_p50', dwc._round(1000 * percentile_cont(0.5) WITHIN GROUP (
                                              ORDER BY extract(epoch FROM h.finished_at - h.started_at))),
                            'run_ms_p95', dwc._round(1000 * percentile_cont(0.95) WITHIN GROUP (
                                              ORDER BY extract(epoch FROM h.finished_at - h.started_at))),
                            'wait_ms_p50', dwc._round(1000 * percentile_cont(0.5) WITHIN GROUP (
                                              ORDER BY extract(epoch FROM h.started_at - h.run_at))))
                   FROM dwc.job_history h
                  WHERE h.finished_at >= lo AND h.finished_at < hi
                    AND dwc._in_owner_set(h.enqueued_by, h.enqueued_user, admin, roles, me)),
        'queue', (SELECT jsonb_build_object(
                             'queued', count(*) FILTER (WHERE j.status IN ('queued', 'retry')),
                             'running', count(*) FILTER (WHERE j.status = 'running'),
                             'enqueued_in_range', count(*) FILTER (WHERE j.created_at >= lo))
                    FROM dwc.jobs j
                   WHERE dwc._in_owner_set(j.enqueued_by, j.enqueued_user, admin, roles, me)),
        'ai', dwc._ai_totals(lo, hi, admin, roles, me),
        'workflows', (SELECT jsonb_build_object(
                                 'runs', count(*),
                                 'succeeded', count(*) FILTER (WHERE w.status = 'succeeded'),
                                 'failed', count(*) FILTER (WHERE w.status = 'failed'),
                                 'in_progress', count(*) FILTER (WHERE w.status IN ('running', 'waiting', 'paused')),
                                 'duration_ms_p50', dwc._round(1000 * percentile_cont(0.5) WITHIN GROUP (
                                                        ORDER BY extract(epoch FROM w.finished_at - w.created_at))))
                        FROM dwc.ai_workflow_runs w
                       WHERE w.created_at >= lo AND w.created_at < hi
                         AND dwc._in_owner_set(w.owner, w.owner_user, admin, roles, me)),
        'automations', (SELECT jsonb_build_object(
                                   'runs', count(*),
                                   'succeeded', count(*) FILTER (WHERE a.status = 'succeeded'),
                                   'dead', count(*) FILTER (WHERE a.status = 'dead'),
                                   'duration_ms_p50', dwc._round(percentile_cont(0.5) WITHIN GROUP (ORDER BY a.duration_ms)))
                          FROM dwc.automation_runs a
                         WHERE a.created_at >= lo AND a.created_at < hi
                           AND dwc._in_owner_set(a.owner, a.owner_user, admin, roles, me)),
        'notifications', (SELECT jsonb_build_object(
                                     'total', count(*),
                                     'delivered', count(*) FILTER (WHERE n.status = 'delivered'),
                                     'failed', count(*) FILTER (WHERE n.status = 'failed'),
                                     'pending', count(*) FILTER (WHERE n.status IN ('queued', 'retrying')))
                            FROM dwc.notifications n
                           WHERE n.created_at >= lo AND n.created_at < hi
                             AND dwc._in_owner_set(n.owner, n.owner_user, admin, roles, me)));
    IF admin THEN
        out := out || jsonb_build_object(
            'users', (SELECT jsonb_build_object(
                                 'total', (SELECT count(*) FROM dwc.users),
                                 'new', (SELECT count(*) FROM dwc.users u WHERE u.created_at >= lo AND u.created_at < hi),
                                 'signed_in', count(DISTINCT e.user_id) FILTER (WHERE e.event = 'login_success'),
                                 'logins', count(*) FILTER (WHERE e.event = 'login_success'),
                                 'failed_logins', count(*) FILTER (WHERE e.event = 'login_failure'),
                                 'lockouts', count(*) FILTER (WHERE e.event = 'account_locked'))
                        FROM dwc.security_events e
                       WHERE e.at >= lo AND e.at < hi),
            'schedules', (SELECT jsonb_build_object('fired', count(*))
                            FROM dwc.schedule_runs s WHERE s.fired_at >= lo AND s.fired_at < hi));
    END IF;
    RETURN out;
END;
$$;
SELECT dwc._declare_public('dwc._analytics_summary',
  'What happened in a time range (hour, day, week, month, year or an interval, ending now): chains and documents '
  'created, jobs finished (succeeded, dead, retried, run and wait time p50/p95), the queue now, AI calls (tokens, cost, '
  'latency, cache hits), workflow and automation runs, notifications; for administrators also users (new, signed in, '
  'failed logins, lockouts) and schedules fired. Users see their own activity, administrators everyone''s.',
  access => 'user', grp => 'analytics', route => 'GET /advanced/analytics/summary');

-- AI calls of a range: totals, and per provider and model
CREATE FUNCTION dwc._ai_totals(lo pg_catalog.timestamptz, hi pg_catalog.timestamptz, admin pg_catalog.bool,
                               roles pg_catalog.oid[], me pg_catalog.text) RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
RETURN (SELECT jsonb_build_object(
                   'calls', count(*),
                   'errors', count(*) FILTER (WHERE NOT a.ok),
                   'cache_hits', count(*) FILTER (WHERE a.cache_hit),
                   'cache_hit_ratio', dwc._round(avg(a.cache_hit::int), 4),
                   'tokens_in', coalesce(sum(a.tokens_in), 0),
                   'tokens_out', coalesce(sum(a.tokens_out), 0),
                   'cost', dwc._round(coalesce(sum(a.cost), 0), 6),
                   'latency_ms_p50', dwc._round(percentile_cont(0.5) WITHIN GROUP (ORDER BY a.latency_ms) FILTER (WHERE NOT a.cache_hit)),
                   'latency_ms_p95', dwc._round(percentile_cont(0.95) WITHIN GROUP (ORDER BY a.latency_ms) FILTER (WHERE NOT a.cache_hit)))
          FROM dwc.ai_calls a
         WHERE a.at >= lo AND a.at < hi AND dwc._in_owner_set(a.role, a.user_id, admin, roles, me));

-- ---- a user's activity -----------------------------------------------------------------

CREATE FUNCTION dwc._user_activity(caller pg_catalog.oid, user_id pg_catalog.text DEFAULT NULL,
                                   time_range pg_catalog.text DEFAULT 'week')
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r tstzrange := dwc._time_range(time_range);
    lo timestamptz := lower(r);
    hi timestamptz := upper(r);
    me text := dwc.current_user_id();
    who text := coalesce(_user_activity.user_id, me);
    u record;
BEGIN
    IF who IS NULL THEN
        RAISE EXCEPTION 'no user: sign in, or name the user' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF who IS DISTINCT FROM me AND NOT dwc._caller_is_admin(caller) THEN
        RAISE EXCEPTION 'only administrators may see another user''s activity' USING ERRCODE = 'insufficient_privilege';
    END IF;
    SELECT x.id, x.username, x.created_at, x.last_login_at INTO u FROM dwc.users x WHERE x.id::text = who;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'user "%" does not exist', who USING ERRCODE = 'no_data_found';
    END IF;
    RETURN jsonb_build_object(
        'user_id', who, 'username', u.username, 'member_since', u.created_at, 'last_login_at', u.last_login_at,
        'time_range', jsonb_build_object('from', lo, 'to', hi),
        'chains_created', (SELECT count(*) FROM dwc.chains c
                            WHERE c.owner_user = who AND c.created_at >= lo AND c.created_at < hi),
        'documents_created', (SELECT count(*) FROM dwc.documents d JOIN dwc.chains c ON c.id = d.chain_id
                               WHERE c.owner_user = who AND d.created_at >= lo AND d.created_at < hi),
        'jobs', (SELECT jsonb_build_object('finished', count(*),
                                           'succeeded', count(*) FILTER (WHERE h.status = 'succeeded'),
                                           'dead', count(*) FILTER (WHERE h.status = 'dead'))
                   FROM dwc.job_history h
                  WHERE h.enqueued_user = who AND h.finished_at >= lo AND h.finished_at < hi),
        'ai', (SELECT jsonb_build_object('calls', count(*), 'errors', count(*) FILTER (WHERE NOT a.ok),
                                         'tokens_in', coalesce(sum(a.tokens_in), 0),
                                         'tokens_out', coalesce(sum(a.tokens_out), 0),
                                         'cost', dwc._round(coalesce(sum(a.cost), 0), 6))
                 FROM dwc.ai_calls a WHERE a.user_id = who AND a.at >= lo AND a.at < hi),
        'workflow_runs', (SELECT count(*) FROM dwc.ai_workflow_runs w
                           WHERE w.owner_user = who AND w.created_at >= lo AND w.created_at < hi),
        'automation_runs', (SELECT count(*) FROM dwc.automation_runs a
                             WHERE a.owner_user = who AND a.created_at >= lo AND a.created_at < hi),
        'notifications', (SELECT count(*) FROM dwc.notifications n
                           WHERE n.owner_user = who AND n.created_at >= lo AND n.created_at < hi),
        'logins', (SELECT count(*) FROM dwc.security_events e
                    WHERE e.user_id = who AND e.event = 'login_success' AND e.at >= lo AND e.at < hi),
        'security_events', (SELECT coalesce(jsonb_object_agg(event, k), '{}')
                              FROM (SELECT e.event, count(*) AS k FROM dwc.security_events e
                                     WHERE e.user_id = who AND e.at >= lo AND e.at < hi GROUP BY 1) s),
        -- what they did, day by day: documents, jobs and AI calls
        'by_day', (SELECT coalesce(jsonb_agg(jsonb_build_object('day', day, 'documents', docs, 'jobs', jobs,
                                                                'ai_calls', calls) ORDER BY day), '[]')
                     FROM (SELECT day::date AS day,
                                  (SELECT count(*) FROM dwc.documents d JOIN dwc.chains c ON c.id = d.chain_id
                                    WHERE c.owner_user = who AND d.created_at >= greatest(day, lo)
                                      AND d.created_at < least(day + interval '1 day', hi)) AS docs,
                                  (SELECT count(*) FROM dwc.job_history h
                                    WHERE h.enqueued_user = who AND h.finished_at >= greatest(day, lo)
                                      AND h.finished_at < least(day + interval '1 day', hi)) AS jobs,
                                  (SELECT count(*) FROM dwc.ai_calls a
                                    WHERE a.user_id = who AND a.at >= greatest(day, lo)
                                      AND a.at < least(day + interval '1 day', hi)) AS calls
                             FROM generate_series(date_trunc('day', lo), hi, interval '1 day') day
                            WHERE hi - lo <= interval '400 days') t
                    WHERE docs + jobs + calls > 0));
END;
$$;
SELECT dwc._declare_public('dwc._user_activity',
  'One user''s activity in a time range (default: the signed-in user, the last week): chains, documents, jobs, AI '
  'calls with tokens and cost, workflow and automation runs, notifications, logins and security events, and a '
  'day-by-day count. Administrators may name any user.',
  access => 'user', grp => 'analytics', route => 'GET /advanced/analytics/users/{id}');

-- the most active users of a range (administrators)
CREATE FUNCTION dwc._active_users(caller pg_catalog.oid, time_range pg_catalog.text DEFAULT 'week',
                                  max_rows pg_catalog.int4 DEFAULT 20)
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r tstzrange := dwc._time_range(time_range);
BEGIN
    IF NOT dwc._caller_is_admin(caller) THEN
        RAISE EXCEPTION 'only administrators may list users'' activity' USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF max_rows IS NULL OR max_rows NOT BETWEEN 1 AND 1000 THEN
        RAISE EXCEPTION 'max_rows must be between 1 and 1000' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN (SELECT coalesce(jsonb_agg(x ORDER BY x.actions DESC, x.username), '[]')
              FROM (SELECT u.id AS user_id, u.username, d.k + j.k + a.k AS actions,
                           d.k AS documents, j.k AS jobs, a.k AS ai_calls, a.tokens AS ai_tokens, a.cost AS ai_cost
                      FROM dwc.users u,
                           LATERAL (SELECT count(*) AS k FROM dwc.documents d JOIN dwc.chains c ON c.id = d.chain_id
                                     WHERE c.owner_user = u.id::text AND d.created_at <@ r) d,
                           LATERAL (SELECT count(*) AS k FROM dwc.job_history h
                                     WHERE h.enqueued_user = u.id::text AND h.finished_at <@ r) j,
                           LATERAL (SELECT count(*) AS k, coalesce(sum(c.tokens_in + c.tokens_out), 0) AS tokens,
                                           dwc._round(coalesce(sum(c.cost), 0), 6) AS cost
                                      FROM dwc.ai_calls c WHERE c.user_id = u.id::text AND c.at <@ r) a
                     WHERE d.k + j.k + a.k > 0
                     ORDER BY 3 DESC, 2 LIMIT max_rows) x);
END;
$$;
SELECT dwc._declare_public('dwc._active_users',
  'The most active users of a time range: documents, jobs and AI calls (with tokens and cost) each. Administrators only.',
  access => 'admin', grp => 'analytics', route => 'GET /advanced/analytics/users');

-- ---- AI analytics ----------------------------------------------------------------------

-- AI calls per bucket of [lo, hi): calls, errors, tokens, cost, latency p50 (zero-filled)
CREATE FUNCTION dwc._ai_series(lo pg_catalog.timestamptz, hi pg_catalog.timestamptz, step pg_catalog.interval,
                               admin pg_catalog.bool, roles pg_catalog.oid[], me pg_catalog.text)
RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
RETURN (SELECT coalesce(jsonb_agg(jsonb_build_object(
                   'at', b.at, 'calls', coalesce(s.calls, 0), 'errors', coalesce(s.errors, 0),
                   'tokens', coalesce(s.tokens, 0), 'cost', coalesce(s.cost, 0),
                   'latency_ms_p50', s.p50) ORDER BY b.at), '[]')
          FROM generate_series(date_bin(step, lo, '2000-01-01'), hi - interval '1 microsecond', step) b(at)
          LEFT JOIN (SELECT date_bin(step, a.at, '2000-01-01') AS at, count(*) AS calls,
                            count(*) FILTER (WHERE NOT a.ok) AS errors,
                            sum(a.tokens_in + a.tokens_out) AS tokens, dwc._round(sum(a.cost), 6) AS cost,
                            dwc._round(percentile_cont(0.5) WITHIN GROUP (ORDER BY a.latency_ms)) AS p50
                       FROM dwc.ai_calls a
                      WHERE a.at >= lo AND a.at < hi
                        AND dwc._in_owner_set(a.role, a.user_id, admin, roles, me)
                      GROUP BY 1) s ON s.at = b.at);
COMMENT ON FUNCTION dwc._ai_series(pg_catalog.timestamptz, pg_catalog.timestamptz, pg_catalog.interval, pg_catalog.bool, pg_catalog.oid[], pg_catalog.text) IS
  'Private: AI calls per bucket (calls, errors, tokens, cost, latency p50), every bucket present; rows of the roles '
  'given and the user me unless admin.';

CREATE FUNCTION dwc._ai_analytics(caller pg_catalog.oid, time_range pg_catalog.text DEFAULT 'day',
                                  bucket pg_catalog.interval DEFAULT NULL)
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r tstzrange := dwc._time_range(time_range);
    lo timestamptz := lower(r);
    hi timestamptz := upper(r);
    admin bool := dwc._caller_is_admin(caller);
    roles oid[] := CASE WHEN NOT admin THEN dwc._member_roles(caller) END;
    me text := dwc.current_user_id();
    step interval := coalesce(bucket, CASE WHEN upper(r) - lower(r) <= interval '1 day' THEN interval '1 hour'
                                           ELSE interval '1 day' END);
BEGIN
    IF step < interval '1 minute' OR extract(epoch FROM hi - lo) / extract(epoch FROM step) > 2000 THEN
        RAISE EXCEPTION 'bucket must be at least a minute and divide the range in at most 2000'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN jsonb_build_object(
        'time_range', jsonb_build_object('from', lo, 'to', hi), 'bucket_seconds', extract(epoch FROM step),
        'totals', dwc._ai_totals(lo, hi, admin, roles, me),
        'by_model', (SELECT coalesce(jsonb_agg(m ORDER BY m.cost DESC, m.calls DESC), '[]') FROM (
                        SELECT a.provider, a.model, count(*) AS calls, count(*) FILTER (WHERE NOT a.ok) AS errors,
                               sum(a.tokens_in) AS tokens_in, sum(a.tokens_out) AS tokens_out,
                               dwc._round(sum(a.cost), 6) AS cost,
                               dwc._round(avg(a.cache_hit::int), 4) AS cache_hit_ratio,
                               dwc._round(percentile_cont(0.5) WITHIN GROUP (ORDER BY a.latency_ms)) AS latency_ms_p50,
                               dwc._round(percentile_cont(0.95) WITHIN GROUP (ORDER BY a.latency_ms)) AS latency_ms_p95,
                               dwc._round(percentile_cont(0.99) WITHIN GROUP (ORDER BY a.latency_ms)) AS latency_ms_p99,
                               dwc._round(sum(a.tokens_out) / nullif(sum(a.latency_ms) FILTER (WHERE NOT a.cache_hit), 0) * 1000, 1)
                                   AS tokens_out_per_second
                          FROM dwc.ai_calls a
                         WHERE a.at >= lo AND a.at < hi AND dwc._in_owner_set(a.role, a.user_id, admin, roles, me)
                         GROUP BY 1, 2) m),
        'by_operation', (SELECT coalesce(jsonb_object_agg(operation, jsonb_build_object('calls', k, 'tokens', t,
                                                                                        'cost', c)), '{}') FROM (
                            SELECT a.operation, count(*) AS k, sum(a.tokens_in + a.tokens_out) AS t, dwc._round(sum(a.cost), 6) AS c
                              FROM dwc.ai_calls a
                             WHERE a.at >= lo AND a.at < hi AND dwc._in_owner_set(a.role, a.user_id, admin, roles, me)
                             GROUP BY 1) o),
        'series', dwc._ai_series(lo, hi, step, admin, roles, me),
        'top_users', CASE WHEN admin THEN
                     (SELECT coalesce(jsonb_agg(t ORDER BY t.cost DESC, t.tokens DESC), '[]') FROM (
                         SELECT a.user_id, count(*) AS calls, sum(a.tokens_in + a.tokens_out) AS tokens,
                                dwc._round(sum(a.cost), 6) AS cost
                           FROM dwc.ai_calls a WHERE a.at >= lo AND a.at < hi AND a.user_id IS NOT NULL
                          GROUP BY 1 ORDER BY 4 DESC, 3 DESC LIMIT 10) t) END);
END;
$$;
SELECT dwc._declare_public('dwc._ai_analytics',
  'AI usage in a time range: totals; per provider and model calls, errors, tokens, cost, cache hit ratio, latency '
  'p50/p95/p99 and output tokens per second; per operation; a series per bucket (default an hour up to a day, '
  'else a day); for administrators the ten users who spent most. Users see their own calls.',
  access => 'user', grp => 'analytics', route => 'GET /advanced/analytics/ai');

-- ---- insights: anomalies by z-score ----------------------------------------------------

-- One row per series and bucket: the value of each activity series (zero-filled: a bucket
-- without failures counts 0) and of each recorded metric (gauges and histograms: the mean
-- of the bucket's samples; counters: the increase since the previous bucket).
CREATE FUNCTION dwc._series(lo pg_catalog.timestamptz, hi pg_catalog.timestamptz, step pg_catalog.interval,
                            caller pg_catalog.oid)
RETURNS TABLE (series pg_catalog.text, labels pg_catalog.jsonb, at pg_catalog.timestamptz, value pg_catalog.float8)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    admin bool := dwc._caller_is_admin(caller);
    roles oid[] := CASE WHEN NOT admin THEN dwc._member_roles(caller) END;
    me text := dwc.current_user_id();
BEGIN
    RETURN QUERY
    WITH buckets AS (
        SELECT b AS at FROM generate_series(date_bin(step, lo, '2000-01-01'), hi - step, step) b),
    counts AS (
        SELECT 'jobs.dead' AS series, date_bin(step, h.finished_at, '2000-01-01') AS at, count(*)::float8 AS value
          FROM dwc.job_history h
         WHERE h.finished_at >= lo AND h.finished_at < hi AND h.status = 'dead'
           AND dwc._in_owner_set(h.enqueued_by, h.enqueued_user, admin, roles, me)
         GROUP BY 2
        UNION ALL
        SELECT 'jobs.finished', date_bin(step, h.finished_at, '2000-01-01'), count(*)
          FROM dwc.job_history h
         WHERE h.finished_at >= lo AND h.finished_at < hi
           AND dwc._in_owner_set(h.enqueued_by, h.enqueued_user, admin, roles, me)
         GROUP BY 2
        UNION ALL
        SELECT 'ai.errors', date_bin(step, a.at, '2000-01-01'), count(*)
          FROM dwc.ai_calls a
         WHERE a.at >= lo AND a.at < hi AND NOT a.ok AND dwc._in_owner_set(a.role, a.user_id, admin, roles, me)
         GROUP BY 2
        UNION ALL
        SELECT 'ai.tokens', date_bin(step, a.at, '2000-01-01'), sum(a.tokens_in + a.tokens_out)
          FROM dwc.ai_calls a
         WHERE a.at >= lo AND a.at < hi AND dwc._in_owner_set(a.role, a.user_id, admin, roles, me)
         GROUP BY 2
        UNION ALL
        SELECT 'ai.cost', date_bin(step, a.at, '2000-01-01'), sum(a.cost)
          FROM dwc.ai_calls a
         WHERE a.at >= lo AND a.at < hi AND dwc._in_owner_set(a.role, a.user_id, admin, roles, me)
         GROUP BY 2
        UNION ALL
        SELECT 'workflows.failed', date_bin(step, w.created_at, '2000-01-01'), count(*)
          FROM dwc.ai_workflow_runs w
         WHERE w.created_at >= lo AND w.created_at < hi AND w.status = 'failed'
           AND dwc._in_owner_set(w.owner, w.owner_user, admin, roles, me)
         GROUP BY 2
        UNION ALL
        SELECT 'notifications.failed', date_bin(step, n.created_at, '2000-01-01'), count(*)
          FROM dwc.notifications n
         WHERE n.created_at >= lo AND n.created_at < hi AND n.status = 'failed'
           AND dwc._in_owner_set(n.owner, n.owner_user, admin, roles, me)
         GROUP BY 2
        UNION ALL
        SELECT 'security.login_failures', date_bin(step, e.at, '2000-01-01'), count(*)
          FROM dwc.security_events e
         WHERE admin AND e.at >= lo AND e.at < hi AND e.event = 'login_failure'
         GROUP BY 2),
    names AS (SELECT unnest(ARRAY['jobs.dead', 'jobs.finished', 'ai.errors', 'ai.tokens', 'ai.cost', 'workflows.failed',
                                  'notifications.failed']
                            || CASE WHEN admin THEN ARRAY['security.login_failures'] ELSE '{}' END) AS series)
    SELECT n.series, '{}'::jsonb, b.at, coalesce(c.value, 0)
      FROM names n CROSS JOIN buckets b
      LEFT JOIN counts c ON c.series = n.series AND c.at = b.at
    UNION ALL
    -- AI latency: only buckets with calls have one
    SELECT 'ai.latency_ms', '{}'::jsonb, date_bin(step, a.at, '2000-01-01'), avg(a.latency_ms)
      FROM dwc.ai_calls a
     WHERE a.at >= lo AND a.at < hi AND NOT a.cache_hit AND dwc._in_owner_set(a.role, a.user_id, admin, roles, me)
     GROUP BY 3
    UNION ALL
    SELECT 'metric:' || m.name, s.labels, s.at,
           CASE WHEN m.type = 'counter' THEN s.last - lag(s.last) OVER (PARTITION BY m.name, s.labels ORDER BY s.at)
                ELSE s.mean END
      FROM (SELECT x.name, x.labels, date_bin(step, x.at, '2000-01-01') AS at, avg(x.value) AS mean,
                   max(x.value) AS last
              FROM dwc.metric_samples x
             WHERE x.at >= lo AND x.at < hi
               AND (x.owner IS NULL OR dwc._in_owner_set(x.owner, x.owner_user, admin, roles, me))
             GROUP BY 1, 2, 3) s
      JOIN dwc.metrics m ON m.name = s.name;
END;
$$;

CREATE FUNCTION dwc._insights(caller pg_catalog.oid, time_range pg_catalog.text DEFAULT 'day',
                              threshold pg_catalog.float8 DEFAULT 3,
                              bucket pg_catalog.interval DEFAULT '1 hour',
                              baseline pg_catalog.int4 DEFAULT 24)
RETURNS TABLE (series pg_catalog.text, labels pg_catalog.jsonb, at pg_catalog.timestamptz, value pg_catalog.float8,
               mean pg_catalog.float8, stddev pg_catalog.float8, z pg_catalog.float8, direction pg_catalog.text,
               severity pg_catalog.text, message pg_catalog.text)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    r tstzrange := dwc._time_range(time_range);
    step interval := coalesce(bucket, interval '1 hour');
    -- complete buckets only: a bucket still filling would read as a drop
    hi timestamptz := date_bin(step, upper(r), '2000-01-01');
    lo timestamptz;
BEGIN
    IF threshold IS NULL OR threshold <= 0 OR threshold = 'NaN' OR threshold = 'Infinity' THEN
        RAISE EXCEPTION 'threshold must be a positive number of standard deviations' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF baseline IS NULL OR baseline NOT BETWEEN 6 AND 1000 THEN
        RAISE EXCEPTION 'baseline must be between 6 and 1000 buckets' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF step < interval '1 minute' OR extract(epoch FROM upper(r) - lower(r)) / extract(epoch FROM step) > 5000 THEN
        RAISE EXCEPTION 'bucket must be at least a minute and divide the range in at most 5000'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    lo := date_bin(step, lower(r), '2000-01-01');
    RETURN QUERY
    WITH s AS (
        SELECT x.series, x.labels, x.at, x.value,
               avg(x.value) OVER w AS mean, stddev_pop(x.value) OVER w AS sd, count(x.value) OVER w AS n
          FROM dwc._series(lo - baseline * step, hi, step, caller) x
        WINDOW w AS (PARTITION BY x.series, x.labels ORDER BY x.at ROWS BETWEEN baseline PRECEDING AND 1 PRECEDING))
    SELECT s.series, s.labels, s.at, s.value, s.mean, s.sd,
           CASE WHEN s.sd > 0 THEN (s.value - s.mean) / s.sd END AS z,
           CASE WHEN s.value > s.mean THEN 'up' ELSE 'down' END,
           CASE WHEN s.sd = 0 OR abs(s.value - s.mean) >= 2 * threshold * s.sd THEN 'critical' ELSE 'warning' END,
           format('%s %s %s to %s in the %s from %s (mean %s, %s)',
                  s.series, CASE WHEN s.labels <> '{}' THEN s.labels::text || ' ' ELSE '' END,
                  CASE WHEN s.value > s.mean THEN 'rose' ELSE 'fell' END,
                  round(s.value::numeric, 3), step, s.at, round(s.mean::numeric, 3),
                  CASE WHEN s.sd > 0 THEN 'z ' || round(((s.value - s.mean) / s.sd)::numeric, 2)
                       ELSE 'it had not changed before' END)
      FROM s
     WHERE s.at >= lo AND s.at < hi AND s.value IS NOT NULL AND s.n >= least(baseline, 6)
       AND ((s.sd > 0 AND abs(s.value - s.mean) >= threshold * s.sd)
            OR (s.sd = 0 AND s.value <> s.mean))
     ORDER BY s.at DESC, abs(s.value - s.mean) / nullif(s.sd, 0) DESC NULLS FIRST, s.series;
END;
$$;
SELECT dwc._declare_public('dwc._insights',
  'Anomalies in the complete buckets of a time range: each activity series (dead jobs, finished jobs, AI errors, '
  'tokens, cost and latency, failed workflow runs and notifications, failed logins) and each recorded metric, per '
  'bucket, against the mean and standard deviation of its previous baseline buckets (at least 6 needed); a bucket '
  'whose |z| >= threshold, or that leaves a baseline that never changed (z NULL), is an insight. Severity critical '
  'from twice the threshold. Newest first. Users see series of their own activity and the metrics.');

-- ---- recorded insights (the maintenance task, src/analytics/init.c) ---------------------

CREATE TABLE dwc.analytics_insights (
    id pg_catalog.int8 GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    series pg_catalog.text NOT NULL,
    labels pg_catalog.jsonb NOT NULL,
    at pg_catalog.timestamptz NOT NULL,
    bucket pg_catalog.interval NOT NULL,
    value pg_catalog.float8 NOT NULL,
    mean pg_catalog.float8,
    stddev pg_catalog.float8,
    z pg_catalog.float8,
    direction pg_catalog.text NOT NULL,
    severity pg_catalog.text NOT NULL,
    message pg_catalog.text NOT NULL,
    found_at pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now(),
    CONSTRAINT analytics_insight_once UNIQUE (series, labels, at, bucket)
);
COMMENT ON TABLE dwc.analytics_insights IS
  'Insights of the latest complete hours over everyone''s activity and every metric, found by the maintenance worker '
  'every dwc.insights_interval at dwc.insight_threshold, each once, with an analytics.insight event; kept for '
  'dwc.insight_retention. Administrators only.';
SELECT pg_catalog.pg_extension_config_dump('dwc.analytics_insights_id_seq', '');
CREATE INDEX analytics_insights_found ON dwc.analytics_insights (found_at);
SELECT pg_catalog.pg_extension_config_dump('dwc.analytics_insights', '');
GRANT SELECT ON dwc.analytics_insights TO dwc_admin;

-- The hours that completed since the last look (three, to survive a pause of the
-- worker), at the whole server's scope; new insights are kept and emitted, old ones dropped.
CREATE FUNCTION dwc._record_insights(threshold pg_catalog.float8, retention pg_catalog.interval)
RETURNS pg_catalog.int4
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n int4;
BEGIN
    WITH found AS (
        SELECT i.* FROM dwc._insights((SELECT oid FROM pg_roles WHERE rolname = current_user),
                                      'day', threshold, interval '1 hour', 24) i
         WHERE i.at >= date_bin('1 hour', now(), '2000-01-01') - interval '3 hours'),
    added AS (
        INSERT INTO dwc.analytics_insights AS x (series, labels, at, bucket, value, mean, stddev, z, direction,
                                                 severity, message)
        SELECT f.series, f.labels, f.at, interval '1 hour', f.value, f.mean, f.stddev, f.z, f.direction, f.severity,
               f.message
          FROM found f
        ON CONFLICT ON CONSTRAINT analytics_insight_once DO NOTHING
        RETURNING x.*)
    SELECT dwc._publish(jsonb_agg(jsonb_build_object(
               'kind', 'analytics.insight', 'subject', 'insight:' || a.id,
               'payload', jsonb_build_object('id', a.id, 'series', a.series, 'labels', a.labels, 'at', a.at,
                                             'value', a.value, 'mean', a.mean, 'stddev', a.stddev, 'z', a.z,
                                             'direction', a.direction, 'severity', a.severity, 'message', a.message),
               'owner', dwc._system_owner()) ORDER BY a.id))
      INTO n FROM added a;
    DELETE FROM dwc.analytics_insights x
     WHERE x.id IN (SELECT y.id FROM dwc.analytics_insights y WHERE y.found_at < now() - retention LIMIT 10000);
    RETURN n;
END;
$$;
COMMENT ON FUNCTION dwc._record_insights(pg_catalog.float8, pg_catalog.interval) IS
  'Private: keeps the insights of the latest complete hours (each once) and emits analytics.insight for each new one; '
  'drops those older than retention. Run by the maintenance worker; returns how many were new.';

-- ---- caches ----------------------------------------------------------------------------

CREATE FUNCTION dwc._cache_stats(caller pg_catalog.oid, time_range pg_catalog.text DEFAULT 'day') RETURNS pg_catalog.jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r tstzrange := dwc._time_range(time_range);
BEGIN
    IF NOT dwc._caller_is_admin(caller) THEN
        RAISE EXCEPTION 'only administrators may see the caches' USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN jsonb_build_object(
        'time_range', jsonb_build_object('from', lower(r), 'to', upper(r)),
        'ai_response_cache', (SELECT jsonb_build_object(
                                         'entries', count(*),
                                         'live', count(*) FILTER (WHERE c.expires_at > now()),
                                         'expired', count(*) FILTER (WHERE c.expires_at <= now()),
                                         'bytes', pg_total_relation_size('dwc.ai_cache'),
                                         'oldest', min(c.created_at), 'newest', max(c.created_at),
                                         'by_model', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                                                                 'provider', provider, 'model', model, 'entries', k,
                                                                 'live', l) ORDER BY k DESC), '[]')
                                                        FROM (SELECT provider, model, count(*) AS k,
                                                                     count(*) FILTER (WHERE expires_at > now()) AS l
                                                                FROM dwc.ai_cache GROUP BY 1, 2) m))
                                FROM dwc.ai_cache c),
        'ai_response_cache_use', (SELECT jsonb_build_object(
                                             'lookups', count(*),
                                             'hits', count(*) FILTER (WHERE a.cache_hit),
                                             'hit_ratio', dwc._round(avg(a.cache_hit::int), 4),
                                             -- a hit answers with the tokens the first call paid for
                                             'tokens_saved', coalesce(sum(a.tokens_in + a.tokens_out) FILTER (WHERE a.cache_hit), 0),
                                             'latency_ms_hit_p50', dwc._round(percentile_cont(0.5) WITHIN GROUP (ORDER BY a.latency_ms)
                                                                       FILTER (WHERE a.cache_hit)),
                                             'latency_ms_miss_p50', dwc._round(percentile_cont(0.5) WITHIN GROUP (ORDER BY a.latency_ms)
                                                                        FILTER (WHERE NOT a.cache_hit)))
                                    FROM dwc.ai_calls a WHERE a.at <@ r AND a.operation <> 'embed'),
        -- the memory tier in front of the table, since the server started: hits there never
        -- reached the table
        'ai_response_cache_memory', dwc._ai_cache_memory_stats(),
        -- PostgreSQL's buffer cache, since its statistics were last reset
        'buffer_cache', (SELECT jsonb_build_object(
                                    'database_hit_ratio', dwc._round(blks_hit::float8 / nullif(blks_hit + blks_read, 0), 4),
                                    'blocks_hit', blks_hit, 'blocks_read', blks_read, 'stats_reset', stats_reset)
                           FROM pg_stat_database WHERE datname = current_database()),
        'dwc_tables', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                                  'table', relname, 'hit_ratio', dwc._round(h::float8 / nullif(h + rd, 0), 4),
                                  'blocks_hit', h, 'blocks_read', rd) ORDER BY h + rd DESC), '[]')
                         FROM (SELECT relname, coalesce(heap_blks_hit, 0) + coalesce(idx_blks_hit, 0) AS h,
                                      coalesce(heap_blks_read, 0) + coalesce(idx_blks_read, 0) AS rd
                                 FROM pg_statio_all_tables WHERE schemaname = 'dwc'
                                 ORDER BY 2 + 3 DESC LIMIT 10) t WHERE h + rd > 0));
END;
$$;
SELECT dwc._declare_public('dwc._cache_stats',
  'The caches: the AI response cache (entries, live, expired, bytes, per model), its use in a time range (hit '
  'ratio, tokens saved, latency of hits and misses), and PostgreSQL''s buffer cache hit ratio for the database '
  'and dwc''s busiest tables. Administrators only.',
  access => 'admin', grp => 'analytics', route => 'GET /advanced/cache/stats');

-- empties the AI response cache, or its expired entries, of a provider or model
CREATE FUNCTION dwc._cache_clear(caller pg_catalog.oid, provider pg_catalog.text DEFAULT NULL,
                                 model pg_catalog.text DEFAULT NULL,
                                 expired_only pg_catalog.bool DEFAULT false) RETURNS pg_catalog.jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n int8;
BEGIN
    IF NOT dwc._caller_is_admin(caller) THEN
        RAISE EXCEPTION 'only administrators may clear the caches' USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF NOT coalesce(expired_only, false) THEN
        PERFORM dwc._ai_cache_memory_clear();         -- the shared tiers may hold what the table does not
    END IF;
    DELETE FROM dwc.ai_cache c
     WHERE (_cache_clear.provider IS NULL OR c.provider = _cache_clear.provider)
       AND (_cache_clear.model IS NULL OR c.model = _cache_clear.model)
       AND (NOT coalesce(expired_only, false) OR c.expires_at <= now());
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN jsonb_build_object('removed', n, 'remaining', (SELECT count(*) FROM dwc.ai_cache));
END;
$$;
SELECT dwc._declare_public('dwc._cache_clear',
  'Empties the AI response cache, or only its expired entries, of a provider or model or all; returns '
  '{removed, remaining}. Administrators only.',
  access => 'admin', grp => 'analytics', route => 'POST /advanced/cache/clear');

-- API: Public

