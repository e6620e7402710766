-- src/notify/send.sql: sending: a notification row and its leased notify.deliver job per
-- recipient, in the sender's transaction, with rate limits, quiet hours and preferences applied.

-- may caller send through channel c?
CREATE FUNCTION dwc._may_send(c dwc.notification_channels, caller pg_catalog.oid) RETURNS pg_catalog.bool
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN dwc._may_manage(caller, to_regrole('dwc_admin'), NULL)
    OR 'PUBLIC' = ANY (c.senders)
    OR EXISTS (SELECT 1 FROM unnest(c.senders) s(r)
                WHERE to_regrole(quote_ident(s.r)) IS NOT NULL AND pg_has_role(caller, quote_ident(s.r)::regrole, 'MEMBER'));

-- when the user's quiet hours for a type end, if now is inside them; NULL when it is not
CREATE FUNCTION dwc._quiet_until(user_id pg_catalog.text, type pg_catalog.text, at pg_catalog.timestamptz)
RETURNS pg_catalog.timestamptz
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN (SELECT CASE
            WHEN p.quiet_start < p.quiet_end AND l.t >= p.quiet_start AND l.t < p.quiet_end
                THEN (l.d + p.quiet_end) AT TIME ZONE p.timezone
            WHEN p.quiet_start > p.quiet_end AND l.t >= p.quiet_start
                THEN (l.d + 1 + p.quiet_end) AT TIME ZONE p.timezone
            WHEN p.quiet_start > p.quiet_end AND l.t < p.quiet_end
                THEN (l.d + p.quiet_end) AT TIME ZONE p.timezone END
          FROM dwc.notification_preferences p,
               LATERAL (SELECT (at AT TIME ZONE p.timezone)::time AS t, (at AT TIME ZONE p.timezone)::date AS d) l
         WHERE p.user_id = _quiet_until.user_id AND p.type IN (_quiet_until.type, '*') AND p.quiet_start IS NOT NULL
         ORDER BY p.type = '*' LIMIT 1);

CREATE FUNCTION dwc._notify_enabled(user_id pg_catalog.text, type pg_catalog.text) RETURNS pg_catalog.bool
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN coalesce((SELECT p.enabled FROM dwc.notification_preferences p
                  WHERE p.user_id = _notify_enabled.user_id AND p.type IN (_notify_enabled.type, '*')
                  ORDER BY p.type = '*' LIMIT 1), true);

-- One message to one recipient through the locked channel c: its row, its slot, its job.
CREATE FUNCTION dwc._notify_enqueue(c dwc.notification_channels, user_id pg_catalog.text, recipient pg_catalog.text,
                                    msg pg_catalog.jsonb, priority pg_catalog.text, send_at pg_catalog.timestamptz,
                                    bulk_id pg_catalog.int8, caller pg_catalog.oid)
RETURNS pg_catalog.int8
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    nid int8 := nextval(pg_get_serial_sequence('dwc.notifications', 'id'));
    t0 timestamptz := greatest(now(), coalesce(send_at, now()));
    quiet timestamptz;
    step interval;
    tat timestamptz;
    job int8;
    state text := 'queued';
BEGIN
    -- the user's preferences: urgent messages (security alerts) pass regardless
    IF user_id IS NOT NULL AND priority <> 'urgent' THEN
        IF NOT dwc._notify_enabled(user_id, c.type) THEN
            state := 'suppressed';
        ELSIF priority IN ('low', 'normal') AND c.type NOT IN ('in_app', 'webhook') THEN
            quiet := dwc._quiet_until(user_id, c.type, t0);
            t0 := greatest(t0, quiet);
        END IF;
    END IF;
    -- the rate limit: each message takes the next slot of the channel (GCRA)
    IF state = 'queued' AND c.rate_per_minute > 0 THEN
        step := make_interval(secs => 60.0 / c.rate_per_minute);
        tat := greatest(coalesce(c.next_slot, t0), t0);
        t0 := greatest(t0, tat - (c.burst - 1) * step);
        UPDATE dwc.notification_channels SET next_slot = tat + step WHERE id = c.id;
    END IF;
    IF state = 'queued' THEN
        job := dwc._enqueue_as('notify.deliver', jsonb_build_object('id', nid), caller, dwc.current_user_id(),
                                dwc.current_scopes(), c.max_attempts, CASE priority WHEN 'urgent' THEN 'critical' ELSE priority END,
                                CASE WHEN t0 > now() THEN t0 END);
    END IF;
    INSERT INTO dwc.notifications (id, channel, type, user_id, recipient, priority, subject, body, html, data,
                                   template, bulk_id, status, job_id, owner, owner_user, send_after, finished_at)
    VALUES (nid, c.name, c.type, user_id, recipient, priority, msg->>'subject', msg->>'body', msg->>'html',
            coalesce(msg->'data', '{}'), msg->>'template', bulk_id, state, job, caller, dwc.current_user_id(), t0,
            CASE WHEN state = 'suppressed' THEN now() END);
    RETURN nid;
END;
$$;

-- Resolves and checks a send, then enqueues one message per recipient. recipients: a JSON
-- array of addresses (strings) and users ({"user_id"}), each optionally with its own "vars".
CREATE FUNCTION dwc._notify_many(caller pg_catalog.oid, channel pg_catalog.text, recipients pg_catalog.jsonb,
                                 subject pg_catalog.text DEFAULT NULL, body pg_catalog.text DEFAULT NULL,
                                 template pg_catalog.text DEFAULT NULL, vars pg_catalog.jsonb DEFAULT '{}',
                                 priority pg_catalog.text DEFAULT 'normal',
                                 send_at pg_catalog.timestamptz DEFAULT NULL,
                                 data pg_catalog.jsonb DEFAULT '{}')
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    c dwc.notification_channels;
    r jsonb;
    uid text;
    addr text;
    msg jsonb;
    ids int8[] := '{}';
    bulk int8;
    n int := 0;
BEGIN
    SELECT * INTO c FROM dwc.notification_channels ch WHERE ch.name = _notify_many.channel FOR UPDATE;
    IF NOT FOUND OR NOT dwc._may_send(c, caller) THEN
        RAISE EXCEPTION 'notification channel "%" does not exist or you may not send through it', channel
            USING ERRCODE = 'undefined_object',
                  HINT = 'An administrator adds channels, and names the roles that may send (senders).';
    END IF;
    IF NOT c.enabled THEN
        RAISE EXCEPTION 'notification channel "%" is disabled', channel USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    IF coalesce(priority, 'normal') NOT IN ('low', 'normal', 'high', 'urgent') THEN
        RAISE EXCEPTION 'priority must be low, normal, high or urgent' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF num_nonnulls(body, template) <> 1 THEN
        RAISE EXCEPTION 'give a body or a template, not both' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF template IS NOT NULL AND NOT EXISTS (SELECT 1 FROM dwc.notification_templates t WHERE t.name = template) THEN
        RAISE EXCEPTION 'notification template "%" does not exist', template USING ERRCODE = 'undefined_object';
    END IF;
    IF data IS NOT NULL AND jsonb_typeof(data) <> 'object' OR vars IS NOT NULL AND jsonb_typeof(vars) <> 'object' THEN
        RAISE EXCEPTION 'data and vars must be JSON objects' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF jsonb_typeof(recipients) IS DISTINCT FROM 'array' THEN
        RAISE EXCEPTION 'recipients must be a JSON array' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF jsonb_array_length(recipients) > 1 THEN
        bulk := nextval('dwc.notification_bulk_ids');
    END IF;
    FOR r IN SELECT * FROM jsonb_array_elements(recipients) LOOP
        uid := CASE jsonb_typeof(r) WHEN 'object' THEN r->>'user_id' END;
        addr := CASE jsonb_typeof(r) WHEN 'string' THEN r #>> '{}' WHEN 'object' THEN r->>'address' END;
        IF jsonb_typeof(r) = 'null' AND c.type IN ('slack', 'teams', 'discord', 'webhook') THEN
            addr := NULL;   -- these channels have one destination
        ELSIF uid IS NULL AND addr IS NULL THEN
            RAISE EXCEPTION 'a recipient is an address (a string) or {"user_id"} (recipient %)', n + 1
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        IF uid IS NOT NULL AND NOT EXISTS (SELECT 1 FROM dwc.users u WHERE u.id::text = uid) THEN
            RAISE EXCEPTION 'dwc user % does not exist', uid USING ERRCODE = 'undefined_object';
        END IF;
        IF c.type = 'in_app' AND uid IS NULL THEN
            RAISE EXCEPTION 'in-app notifications go to users: {"user_id"}' USING ERRCODE = 'invalid_parameter_value';
        ELSIF c.type = 'email' AND addr IS NOT NULL AND (addr !~ '^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$' OR length(addr) > 254) THEN
            RAISE EXCEPTION 'invalid email address "%"', addr USING ERRCODE = 'invalid_parameter_value';
        ELSIF c.type = 'sms' AND addr IS NOT NULL AND addr !~ '^\+[1-9][0-9]{6,14}$' THEN
            RAISE EXCEPTION 'an sms recipient is a phone number in E.164 form (+ and 7 to 15 digits): "%"', addr
                USING ERRCODE = 'invalid_parameter_value';
        ELSIF c.type = 'push' AND addr IS NOT NULL THEN
            RAISE EXCEPTION 'push notifications go to users (their subscriptions): {"user_id"}'
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        msg := CASE WHEN template IS NOT NULL
                    THEN dwc.render_notification(template, coalesce(vars, '{}') || coalesce(r->'vars', '{}'), c.type)
                         || jsonb_build_object('template', template)
                    ELSE jsonb_build_object('subject', subject, 'body', body) END
               || jsonb_build_object('data', coalesce(data, '{}'));
        IF msg->>'body' IS NULL THEN
            RAISE EXCEPTION 'a notification needs a body' USING ERRCODE = 'invalid_parameter_value';
        END IF;
        IF uid IS NOT NULL AND addr IS NULL AND c.type IN ('email', 'sms', 'push') THEN
            -- one message per address of the user; none when the user has none for this type
            FOR addr IN SELECT u.email FROM dwc.users u WHERE c.type = 'email' AND u.id::text = uid AND u.email IS NOT NULL
                        UNION
                        SELECT a.address FROM dwc.notification_addresses a WHERE a.user_id = uid AND a.type = c.type
            LOOP
                ids := ids || dwc._notify_enqueue(c, uid, addr, msg, coalesce(priority, 'normal'), send_at, bulk, caller);
                SELECT * INTO c FROM dwc.notification_channels ch WHERE ch.id = c.id;
            END LOOP;
        ELSE
            ids := ids || dwc._notify_enqueue(c, uid, addr, msg, coalesce(priority, 'normal'), send_at, bulk, caller);
            SELECT * INTO c FROM dwc.notification_channels ch WHERE ch.id = c.id;
        END IF;
        n := n + 1;
    END LOOP;
    RETURN jsonb_build_object('ids', to_jsonb(ids), 'count', cardinality(ids), 'bulk_id', bulk);
END;
$$;
SELECT dwc._declare_public('dwc._notify_many',
  'Sends one message per recipient through a channel (bulk): recipients a JSON array of addresses (email, '
  'phone) and users ({"user_id"}, to each of their addresses), each with optional "vars"; a body (and subject) '
  'or a template rendered with vars; priority low, normal, high or urgent (urgent ignores preferences and quiet '
  'hours); send_at to send later. Returns {"ids", "count", "bulk_id"}. The messages are queued in this '
  'transaction and delivered by the workers.');

CREATE FUNCTION dwc._notification_status(caller pg_catalog.oid, id pg_catalog.int8) RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
RETURN (SELECT jsonb_build_object('id', n.id, 'channel', n.channel, 'type', n.type, 'user_id', n.user_id,
                                  'recipient', CASE n.type WHEN 'push' THEN NULL ELSE n.recipient END,
                                  'priority', n.priority, 'subject', n.subject, 'status', n.status,
                                  'attempts', n.attempts, 'last_error', n.last_error, 'response', n.response,
                                  'bulk_id', n.bulk_id, 'job_id', n.job_id, 'created_at', n.created_at,
                                  'send_after', n.send_after, 'delivered_at', n.delivered_at)
          FROM dwc.notifications n
         WHERE n.id = _notification_status.id AND dwc._may_manage(caller, n.owner, n.owner_user));
SELECT dwc._declare_public('dwc._notification_status',
  'A notification''s delivery state: status (queued, retrying, delivered, failed, suppressed, cancelled), '
  'attempts, last error, the provider''s response, times. NULL when it is not the caller''s.',
  access => 'user', grp => 'notifications', route => 'GET /advanced/notifications/{id}');

CREATE FUNCTION dwc._cancel_notification(caller pg_catalog.oid, id pg_catalog.int8) RETURNS pg_catalog.bool
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n dwc.notifications;
BEGIN
    SELECT * INTO n FROM dwc.notifications x WHERE x.id = _cancel_notification.id FOR UPDATE;
    IF NOT FOUND OR NOT dwc._may_manage(caller, n.owner, n.owner_user) THEN
        RAISE EXCEPTION 'notification % does not exist', id USING ERRCODE = 'undefined_object';
    END IF;
    IF n.status NOT IN ('queued', 'retrying') THEN
        RETURN false;
    END IF;
    UPDATE dwc.notifications SET status = 'cancelled', finished_at = now() WHERE notifications.id = n.id;
    DELETE FROM dwc.jobs j WHERE j.id = n.job_id AND j.status IN ('queued', 'retry');
    RETURN true;
END;
$$;
SELECT dwc._declare_public('dwc._cancel_notification',
  'Cancels a notification not yet delivered; false when it is already finished.');

CREATE FUNCTION dwc._notification_stats(caller pg_catalog.oid, period pg_catalog.interval DEFAULT '1 day') RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
RETURN (WITH mine AS (SELECT * FROM dwc.notifications n
                       WHERE n.created_at >= now() - coalesce(period, '1 day')
                         AND dwc._may_manage(caller, n.owner, n.owner_user))
        SELECT jsonb_build_object(
            'total', (SELECT count(*) FROM mine),
            'by_status', (SELECT coalesce(jsonb_object_agg(status, k), '{}') FROM (SELECT status, count(*) AS k FROM mine GROUP BY 1) s),
            'by_channel', (SELECT coalesce(jsonb_object_agg(channel, jsonb_build_object(
                                  'total', k, 'delivered', d, 'failed', f, 'mean_attempts', a,
                                  'mean_delivery_seconds', s)), '{}')
                             FROM (SELECT channel, count(*) AS k, count(*) FILTER (WHERE status = 'delivered') AS d,
                                          count(*) FILTER (WHERE status = 'failed') AS f,
                                          round(avg(attempts) FILTER (WHERE status = 'delivered'), 3) AS a,
                                          round(extract(epoch FROM avg(delivered_at - send_after))::numeric, 3) AS s
                                     FROM mine GROUP BY 1) c),
            'period_seconds', extract(epoch FROM coalesce(period, '1 day'))));
SELECT dwc._declare_public('dwc._notification_stats',
  'The caller''s notifications of the period: total, by status, and per channel delivered, failed, mean '
  'attempts and mean seconds from due to delivered.');

-- the inbox of the signed-in user
CREATE FUNCTION dwc._my_notifications(caller pg_catalog.oid, unread_only pg_catalog.bool DEFAULT false,
                                      max_rows pg_catalog.int4 DEFAULT 50)
RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
RETURN (SELECT coalesce(jsonb_agg(jsonb_build_object('id', i.id, 'subject', i.subject, 'body', i.body, 'data', i.data,
                                                     'priority', i.priority, 'created_at', i.created_at,
                                                     'read_at', i.read_at) ORDER BY i.id DESC), '[]')
          FROM (SELECT * FROM dwc.inbox i
                 WHERE i.user_id = dwc._notify_user(NULL, caller) AND (NOT coalesce(unread_only, false) OR i.read_at IS NULL)
                 ORDER BY i.id DESC LIMIT least(greatest(coalesce(max_rows, 50), 1), 1000)) i);
SELECT dwc._declare_public('dwc._my_notifications',
  'The signed-in user''s in-app notifications, newest first.');

CREATE FUNCTION dwc._mark_notifications_read(caller pg_catalog.oid, ids pg_catalog.int8[] DEFAULT NULL) RETURNS pg_catalog.int4
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n int4;
BEGIN
    UPDATE dwc.inbox i SET read_at = now()
     WHERE i.user_id = dwc._notify_user(NULL, caller) AND i.read_at IS NULL AND (ids IS NULL OR i.id = ANY (ids));
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END;
$$;
SELECT dwc._declare_public('dwc._mark_notifications_read',
  'Marks the signed-in user''s in-app notifications read (these ids, or all); returns how many.');
