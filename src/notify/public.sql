-- src/notify/public.sql: the public notification functions, trampolines to their private halves.


-- API: Public

CREATE FUNCTION dwc.notify_many(channel pg_catalog.text, recipients pg_catalog.jsonb,
                                subject pg_catalog.text DEFAULT NULL, body pg_catalog.text DEFAULT NULL,
                                template pg_catalog.text DEFAULT NULL, vars pg_catalog.jsonb DEFAULT '{}',
                                priority pg_catalog.text DEFAULT 'normal', send_at pg_catalog.timestamptz DEFAULT NULL,
                                data pg_catalog.jsonb DEFAULT '{}')
RETURNS pg_catalog.jsonb
LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'dwc_trampoline';
COMMENT ON FUNCTION dwc.notify_many(pg_catalog.text, pg_catalog.jsonb, pg_catalog.text, pg_catalog.text, pg_catalog.text,
                                    pg_catalog.jsonb, pg_catalog.text, pg_catalog.timestamptz, pg_catalog.jsonb) IS
  'Sends one message per recipient through a channel (bulk): recipients a JSON array of addresses (email, '
  'phone) and users ({"user_id"}, to each of their addresses), each with optional "vars"; a body (and subject) '
  'or a template rendered with vars; priority low, normal, high or urgent (urgent ignores preferences and quiet '
  'hours); send_at to send later. Returns {"ids", "count", "bulk_id"}. The messages are queued in this '
  'transaction and delivered by the workers.';

CREATE FUNCTION dwc.notify(channel pg_catalog.text, recipient pg_catalog.text DEFAULT NULL,
                           subject pg_catalog.text DEFAULT NULL, body pg_catalog.text DEFAULT NULL,
                           template pg_catalog.text DEFAULT NULL, vars pg_catalog.jsonb DEFAULT '{}',
                           priority pg_catalog.text DEFAULT 'normal', send_at pg_catalog.timestamptz DEFAULT NULL,
                           data pg_catalog.jsonb DEFAULT '{}', user_id pg_catalog.text DEFAULT NULL)
RETURNS pg_catalog.int8
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN (dwc.notify_many(channel, jsonb_build_array(CASE WHEN user_id IS NOT NULL THEN jsonb_build_object('user_id', user_id)
                                                        ELSE to_jsonb(recipient) END),
                        subject, body, template, vars, priority, send_at, data)->'ids'->>0)::int8;
COMMENT ON FUNCTION dwc.notify(pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.text,
                               pg_catalog.jsonb, pg_catalog.text, pg_catalog.timestamptz, pg_catalog.jsonb, pg_catalog.text) IS
  'Sends one notification through a channel to a recipient (an email address, a phone number; none for Slack, '
  'Teams, Discord and webhook channels) or to a dwc user (user_id); returns its id (for a user with several '
  'addresses, the first message''s), NULL when the user has no address for the channel. See dwc.notify_many().';

CREATE FUNCTION dwc.notification_status(id pg_catalog.int8) RETURNS pg_catalog.jsonb
LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'dwc_trampoline';
COMMENT ON FUNCTION dwc.notification_status(pg_catalog.int8) IS
  'A notification''s delivery state: status (queued, retrying, delivered, failed, suppressed, cancelled), '
  'attempts, last error, the provider''s response, times. NULL when it is not the caller''s.';
INSERT INTO dwc.api_access (name, access, grp, direct, route)
     VALUES ('notification_status', 'user', 'notifications', true, 'GET /advanced/notifications/{id}');

CREATE FUNCTION dwc.cancel_notification(id pg_catalog.int8) RETURNS pg_catalog.bool
LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'dwc_trampoline';
COMMENT ON FUNCTION dwc.cancel_notification(pg_catalog.int8) IS
  'Cancels a notification not yet delivered; false when it is already finished.';

CREATE FUNCTION dwc.notification_stats(period pg_catalog.interval DEFAULT '1 day') RETURNS pg_catalog.jsonb
LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'dwc_trampoline';
COMMENT ON FUNCTION dwc.notification_stats(pg_catalog.interval) IS
  'The caller''s notifications of the period: total, by status, and per channel delivered, failed, mean '
  'attempts and mean seconds from due to delivered.';

CREATE FUNCTION dwc.set_notification_preference(type pg_catalog.text DEFAULT '*', enabled pg_catalog.bool DEFAULT true,
                                                quiet_start pg_catalog.time DEFAULT NULL,
                                                quiet_end pg_catalog.time DEFAULT NULL,
                                                timezone pg_catalog.text DEFAULT 'UTC',
                                                user_id pg_catalog.text DEFAULT NULL)
RETURNS pg_catalog.jsonb
LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'dwc_trampoline';
COMMENT ON FUNCTION dwc.set_notification_preference(pg_catalog.text, pg_catalog.bool, pg_catalog.time, pg_catalog.time,
                                                    pg_catalog.text, pg_catalog.text) IS
  'The signed-in user''s (administrators: any user''s) choice for a channel type or * (all): enabled, and '
  'quiet hours [quiet_start, quiet_end) in timezone, possibly across midnight, during which low and normal '
  'priority email, sms, push and chat notifications wait.';

CREATE FUNCTION dwc.add_notification_address(type pg_catalog.text, address pg_catalog.text,
                                             user_id pg_catalog.text DEFAULT NULL)
RETURNS pg_catalog.int8
LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'dwc_trampoline';
COMMENT ON FUNCTION dwc.add_notification_address(pg_catalog.text, pg_catalog.text, pg_catalog.text) IS
  'Adds an address of the signed-in user (administrators: any user): sms (E.164 number), email, or push (the '
  'browser''s PushSubscription JSON). Returns its id.';

CREATE FUNCTION dwc.remove_notification_address(id pg_catalog.int8) RETURNS pg_catalog.bool
LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'dwc_trampoline';
COMMENT ON FUNCTION dwc.remove_notification_address(pg_catalog.int8) IS
  'Removes one of the signed-in user''s addresses (administrators: anyone''s); false when there was none.';

CREATE FUNCTION dwc.notification_settings(user_id pg_catalog.text DEFAULT NULL) RETURNS pg_catalog.jsonb
LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'dwc_trampoline';
COMMENT ON FUNCTION dwc.notification_settings(pg_catalog.text) IS
  'The signed-in user''s (administrators: any user''s) notification preferences and addresses.';

CREATE FUNCTION dwc.my_notifications(unread_only pg_catalog.bool DEFAULT false, max_rows pg_catalog.int4 DEFAULT 50)
RETURNS pg_catalog.jsonb
LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'dwc_trampoline';
COMMENT ON FUNCTION dwc.my_notifications(pg_catalog.bool, pg_catalog.int4) IS
  'The signed-in user''s in-app notifications, newest first.';
INSERT INTO dwc.api_access (name, access, grp, direct, route)
     VALUES ('my_notifications', 'user', 'notifications', true, NULL);

CREATE FUNCTION dwc.mark_notifications_read(ids pg_catalog.int8[] DEFAULT NULL) RETURNS pg_catalog.int4
LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'dwc_trampoline';
COMMENT ON FUNCTION dwc.mark_notifications_read(pg_catalog.int8[]) IS
  'Marks the signed-in user''s in-app notifications read (these ids, or all); returns how many.';
