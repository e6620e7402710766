-- src/api/notifications.sql: the seed's /advanced/notifications and /ws endpoints for
-- PostgREST. See docs/notifications.md and docs/realtime.md.

-- API: Public

CREATE FUNCTION api_impl.my_notifications(unread_only pg_catalog.bool DEFAULT false, max_rows pg_catalog.int4 DEFAULT 50)
RETURNS TABLE (id pg_catalog.int8, subject pg_catalog.text, body pg_catalog.text, data pg_catalog.jsonb,
               priority pg_catalog.text, created_at pg_catalog.timestamptz, read_at pg_catalog.timestamptz)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT * FROM jsonb_to_recordset(dwc.my_notifications(unread_only, max_rows))
        AS r (id int8, subject text, body text, data jsonb, priority text, created_at timestamptz,
              read_at timestamptz);
END;
SELECT dwc._declare_http('api_impl.my_notifications',
  'The signed-in user''s in-app notifications, newest first (at most max_rows, up to 1,000): rows PostgREST can '
  'filter, order, page and count.',
  access => 'user', grp => 'notifications');

CREATE FUNCTION api_impl.send_notification(channel pg_catalog.text, recipient pg_catalog.text DEFAULT NULL,
                                           subject pg_catalog.text DEFAULT NULL, message pg_catalog.text DEFAULT NULL,
                                           template pg_catalog.text DEFAULT NULL, vars pg_catalog.jsonb DEFAULT '{}',
                                           priority pg_catalog.text DEFAULT 'normal',
                                           user_id pg_catalog.text DEFAULT NULL, data pg_catalog.jsonb DEFAULT '{}')
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    id int8 := dwc.notify(channel, recipient, subject, message, template, vars, priority, NULL, data, user_id);
BEGIN
    -- a statement of its own: the row is not in the snapshot of the statement that made it
    RETURN dwc.notification_status(id);
END;
$$;
SELECT dwc._declare_http('api_impl.send_notification',
  'Send a notification (POST /advanced/notifications/send {"channel", "recipient", "subject", "message"}) through a '
  'channel the caller may send through, to an address or a user (user_id); or from a template with vars. Returns '
  'its status (queued; the workers deliver it).',
  access => 'user', grp => 'notifications');

CREATE FUNCTION api_impl.notification_stats(period_hours pg_catalog.float8 DEFAULT 24)
RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN dwc.notification_stats(make_interval(secs => period_hours * 3600));
SELECT dwc._declare_http('api_impl.notification_stats',
  'The caller''s notifications of the last period_hours: by status and per channel.',
  access => 'user', grp => 'notifications');

CREATE FUNCTION api_impl.mark_notifications_read(ids pg_catalog.int8[] DEFAULT NULL)
RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN jsonb_build_object('marked', dwc.mark_notifications_read(ids));
SELECT dwc._declare_http('api_impl.mark_notifications_read',
  'Mark the signed-in user''s in-app notifications read (these ids, or all): {"marked"}.',
  access => 'user', grp => 'notifications');

CREATE FUNCTION api_impl.notification_settings()
RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN dwc.notification_settings();
SELECT dwc._declare_http('api_impl.notification_settings',
  'The signed-in user''s notification preferences and addresses.',
  access => 'user', grp => 'notifications');

CREATE FUNCTION api_impl.set_notification_preference(type pg_catalog.text DEFAULT '*', enabled pg_catalog.bool DEFAULT true,
                                                     quiet_start pg_catalog.time DEFAULT NULL,
                                                     quiet_end pg_catalog.time DEFAULT NULL,
                                                     timezone pg_catalog.text DEFAULT 'UTC')
RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN dwc.set_notification_preference(type, enabled, quiet_start, quiet_end, timezone);
SELECT dwc._declare_http('api_impl.set_notification_preference',
  'The signed-in user''s choice for a channel type or *: enabled, quiet hours in a time zone.',
  access => 'user', grp => 'notifications');

CREATE FUNCTION api_impl.add_notification_address(type pg_catalog.text, address pg_catalog.text)
RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN jsonb_build_object('id', dwc.add_notification_address(type, address));
SELECT dwc._declare_http('api_impl.add_notification_address',
  'Add an address of the signed-in user: sms (E.164), email, or push (the browser''s PushSubscription JSON): {"id"}.',
  access => 'user', grp => 'notifications');

CREATE FUNCTION api_impl.websocket_stats()
RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN dwc.realtime_stats();
SELECT dwc._declare_http('api_impl.websocket_stats',
  'The WebSocket gateway (GET /ws/stats): listening, connections, messages, events. Administrators.',
  access => 'admin', grp => 'notifications');
