-- src/notify/public.sql: dwc.notify(), one message, as SQL over dwc.notify_many() (declared in
-- send.sql, beside its private half).

-- API: Public

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

