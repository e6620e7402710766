-- src/notify/notify.sql: notifications over eight channels through a durable outbox.
-- See docs/notifications.md.
--
-- A notification is a row of dwc.notifications and a leased notify.deliver job, made in
-- the sender's transaction: both commit or neither does, and the queue's leases, retries,
-- backoff and dead letters carry the delivery through worker kills and restarts. Channels
-- (an SMTP server, a Slack/Teams/Discord webhook, a signed webhook, Twilio, Web Push,
-- in-app) are configured by administrators, their secrets stored encrypted; senders are
-- the roles a channel names. Rate limits space deliveries ahead of time (each message gets
-- its slot at send time), quiet hours defer them, preferences suppress them.

-- API: Private (tables)

CREATE TABLE dwc.notification_channels (
    id pg_catalog.int4 GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name pg_catalog.text NOT NULL UNIQUE CHECK (name ~ '^[a-z][a-z0-9_.-]{0,62}$'),
    type pg_catalog.text NOT NULL
        CHECK (type IN ('email', 'slack', 'teams', 'discord', 'webhook', 'sms', 'push', 'in_app')),
    config pg_catalog.jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(config) = 'object'),
    secret pg_catalog.bytea,
    rate_per_minute pg_catalog.int4 NOT NULL DEFAULT 0 CHECK (rate_per_minute BETWEEN 0 AND 600000),
    burst pg_catalog.int4 NOT NULL DEFAULT 1 CHECK (burst BETWEEN 1 AND 100000),
    next_slot pg_catalog.timestamptz,
    max_attempts pg_catalog.int4 NOT NULL DEFAULT 5 CHECK (max_attempts BETWEEN 1 AND 100),
    senders pg_catalog.text[] NOT NULL DEFAULT '{}',
    enabled pg_catalog.bool NOT NULL DEFAULT true,
    created_at pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE dwc.notification_channels IS
  'Where notifications go: type email, slack, teams, discord, webhook, sms, push or in_app, its config '
  '(docs/notifications.md), its secret (dwc.encrypt()ed: SMTP password, webhook URL or signing secret, '
  'Twilio auth token, VAPID private key), rate limit (rate_per_minute, burst; next_slot is the next free '
  'slot), delivery attempts, and senders: the roles that may send through it besides administrators '
  '(PUBLIC: everyone).';
SELECT pg_catalog.pg_extension_config_dump('dwc.notification_channels', '');
CREATE TRIGGER restore_seeded BEFORE INSERT ON dwc.notification_channels
    FOR EACH ROW EXECUTE FUNCTION dwc._restore_seeded();   -- a dump's row takes the seeded row's place
ALTER TABLE dwc.notification_channels ENABLE ALWAYS TRIGGER restore_seeded;   -- also in a subscription's apply
SELECT pg_catalog.pg_extension_config_dump('dwc.notification_channels_id_seq', '');
REVOKE ALL ON dwc.notification_channels FROM PUBLIC;

CREATE TABLE dwc.notification_templates (
    name pg_catalog.text PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9_.-]{0,62}$'),
    subject pg_catalog.text,
    body pg_catalog.text NOT NULL,
    html pg_catalog.text,
    description pg_catalog.text,
    created_at pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE dwc.notification_templates IS
  'Notification templates: subject, body (text) and html (email''s HTML part), with {{path}} placeholders '
  'filled from a send''s vars, each value escaped for the channel it goes to.';
SELECT pg_catalog.pg_extension_config_dump('dwc.notification_templates', '');
CREATE TRIGGER restore_seeded BEFORE INSERT ON dwc.notification_templates
    FOR EACH ROW EXECUTE FUNCTION dwc._restore_seeded();   -- a dump's row takes the seeded row's place
ALTER TABLE dwc.notification_templates ENABLE ALWAYS TRIGGER restore_seeded;   -- also in a subscription's apply
GRANT SELECT ON dwc.notification_templates TO PUBLIC;

-- a user's addresses beyond their account's email: phone numbers, push subscriptions
CREATE TABLE dwc.notification_addresses (
    id pg_catalog.int8 GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id pg_catalog.text NOT NULL,
    type pg_catalog.text NOT NULL CHECK (type IN ('email', 'sms', 'push')),
    address pg_catalog.text NOT NULL CHECK (length(address) <= 4000),
    created_at pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now(),
    UNIQUE (user_id, type, address)
);
COMMENT ON TABLE dwc.notification_addresses IS
  'Addresses of dwc users for a channel type: sms (an E.164 number), push (a Web Push subscription, '
  'as JSON), email (besides the account''s). A notification to a user goes to each of them.';
SELECT pg_catalog.pg_extension_config_dump('dwc.notification_addresses', '');
SELECT pg_catalog.pg_extension_config_dump('dwc.notification_addresses_id_seq', '');
REVOKE ALL ON dwc.notification_addresses FROM PUBLIC;

CREATE TABLE dwc.notification_preferences (
    user_id pg_catalog.text NOT NULL,
    type pg_catalog.text NOT NULL
        CHECK (type IN ('*', 'email', 'slack', 'teams', 'discord', 'webhook', 'sms', 'push', 'in_app')),
    enabled pg_catalog.bool NOT NULL DEFAULT true,
    quiet_start pg_catalog.time,
    quiet_end pg_catalog.time,
    timezone pg_catalog.text NOT NULL DEFAULT 'UTC',
    PRIMARY KEY (user_id, type),
    CHECK ((quiet_start IS NULL) = (quiet_end IS NULL) AND (quiet_start IS NULL OR quiet_start <> quiet_end))
);
COMMENT ON TABLE dwc.notification_preferences IS
  'A user''s choices per channel type (or * for all): enabled, and quiet hours [quiet_start, quiet_end) in '
  'their time zone, during which low and normal priority notifications wait.';
SELECT pg_catalog.pg_extension_config_dump('dwc.notification_preferences', '');
REVOKE ALL ON dwc.notification_preferences FROM PUBLIC;

CREATE TABLE dwc.notifications (
    -- taken before the row is written: its delivery job names it
    id pg_catalog.int8 GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    channel pg_catalog.text NOT NULL,
    type pg_catalog.text NOT NULL,
    user_id pg_catalog.text,
    recipient pg_catalog.text,
    priority pg_catalog.text NOT NULL DEFAULT 'normal' CHECK (priority IN ('low', 'normal', 'high', 'urgent')),
    subject pg_catalog.text,
    body pg_catalog.text NOT NULL,
    html pg_catalog.text,
    data pg_catalog.jsonb NOT NULL DEFAULT '{}',
    template pg_catalog.text,
    bulk_id pg_catalog.int8,
    status pg_catalog.text NOT NULL DEFAULT 'queued'
        CHECK (status IN ('queued', 'retrying', 'delivered', 'failed', 'suppressed', 'cancelled')),
    attempts pg_catalog.int4 NOT NULL DEFAULT 0,
    last_error pg_catalog.text,
    response pg_catalog.jsonb,
    job_id pg_catalog.int8,
    owner pg_catalog.oid NOT NULL,
    owner_user pg_catalog.text,
    created_at pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now(),
    send_after pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now(),
    delivered_at pg_catalog.timestamptz,
    finished_at pg_catalog.timestamptz
);
COMMENT ON TABLE dwc.notifications IS
  'The outbox: one row per message to one recipient, with its delivery state (queued, retrying, delivered, '
  'failed after its attempts, suppressed by the user''s preferences, cancelled), attempts, last error and '
  'the provider''s response. Finished rows are kept for dwc.notification_retention.';
SELECT pg_catalog.pg_extension_config_dump('dwc.notifications', '');
SELECT pg_catalog.pg_extension_config_dump('dwc.notifications_id_seq', '');
CREATE INDEX notifications_bulk ON dwc.notifications (bulk_id) WHERE bulk_id IS NOT NULL;
CREATE INDEX notifications_user ON dwc.notifications (user_id, id) WHERE user_id IS NOT NULL;
CREATE INDEX notifications_finished ON dwc.notifications (finished_at) WHERE finished_at IS NOT NULL;
CREATE INDEX notifications_owner ON dwc.notifications (owner, (coalesce(owner_user, '')), id);
SELECT dwc._enable_owner_rls('dwc.notifications', 'dwc._row_visible(owner, owner_user)');
CREATE SEQUENCE dwc.notification_bulk_ids;
SELECT pg_catalog.pg_extension_config_dump('dwc.notification_bulk_ids', '');

-- the in-app channel's inbox
CREATE TABLE dwc.inbox (
    id pg_catalog.int8 GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id pg_catalog.text NOT NULL,
    notification_id pg_catalog.int8,
    subject pg_catalog.text,
    body pg_catalog.text NOT NULL,
    data pg_catalog.jsonb NOT NULL DEFAULT '{}',
    priority pg_catalog.text NOT NULL,
    created_at pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now(),
    read_at pg_catalog.timestamptz
);
COMMENT ON TABLE dwc.inbox IS
  'In-app notifications of dwc users; each arrival is also an event (notification.in_app) NOTIFYed on '
  'dwc.user.<id>. Read through dwc.my_notifications().';
SELECT pg_catalog.pg_extension_config_dump('dwc.inbox', '');
SELECT pg_catalog.pg_extension_config_dump('dwc.inbox_id_seq', '');
CREATE INDEX inbox_user ON dwc.inbox (user_id, id);
REVOKE ALL ON dwc.inbox FROM PUBLIC;

-- the built-in in-app channel: administrators send through it, and grant it to senders
INSERT INTO dwc.notification_channels (name, type) VALUES ('in_app', 'in_app');

-- ---- C helpers (src/notify/*.c) ---------------------------------------------------------

CREATE FUNCTION dwc._smtp_send(url pg_catalog.text, username pg_catalog.text, password pg_catalog.text,
                               mail_from pg_catalog.text, recipients pg_catalog.text[], message pg_catalog.text,
                               tls pg_catalog.text, ca_file pg_catalog.text, timeout_ms pg_catalog.int4)
RETURNS pg_catalog.jsonb
LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'dwc__smtp_send';
COMMENT ON FUNCTION dwc._smtp_send(pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.text[],
                                   pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.int4) IS
  'Private: sends one message over SMTP (libcurl): smtp:// with STARTTLS (tls required or try) or none, '
  'smtps:// implicit TLS; returns {"ok", "code", "error", "transient"}.';
REVOKE ALL ON FUNCTION dwc._smtp_send(pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.text[],
                                      pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.int4) FROM PUBLIC;

CREATE FUNCTION dwc._hmac_sha256_hex(key pg_catalog.text, message pg_catalog.text) RETURNS pg_catalog.text
LANGUAGE c IMMUTABLE STRICT AS 'MODULE_PATHNAME', 'dwc__hmac_sha256_hex';
COMMENT ON FUNCTION dwc._hmac_sha256_hex(pg_catalog.text, pg_catalog.text) IS
  'Private: HMAC-SHA256 of message under key, in lower-case hex.';
REVOKE ALL ON FUNCTION dwc._hmac_sha256_hex(pg_catalog.text, pg_catalog.text) FROM PUBLIC;

CREATE FUNCTION dwc._webpush_send(subscription pg_catalog.jsonb, payload pg_catalog.text,
                                  vapid_public pg_catalog.text, vapid_private pg_catalog.text,
                                  subject pg_catalog.text, ttl pg_catalog.int4, urgency pg_catalog.text,
                                  timeout_ms pg_catalog.int4)
RETURNS pg_catalog.jsonb
LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'dwc__webpush_send';
COMMENT ON FUNCTION dwc._webpush_send(pg_catalog.jsonb, pg_catalog.text, pg_catalog.text, pg_catalog.text,
                                      pg_catalog.text, pg_catalog.int4, pg_catalog.text, pg_catalog.int4) IS
  'Private: one Web Push message: the payload encrypted for the subscription (RFC 8291, aes128gcm), '
  'VAPID-signed (RFC 8292, ES256), POSTed to its endpoint; returns {"status", "body", "error", "transient"}.';
REVOKE ALL ON FUNCTION dwc._webpush_send(pg_catalog.jsonb, pg_catalog.text, pg_catalog.text, pg_catalog.text,
                                         pg_catalog.text, pg_catalog.int4, pg_catalog.text, pg_catalog.int4) FROM PUBLIC;

-- API: Public

CREATE FUNCTION dwc.generate_vapid_keys() RETURNS pg_catalog.jsonb
LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'dwc_generate_vapid_keys';
COMMENT ON FUNCTION dwc.generate_vapid_keys() IS
  'A new VAPID key pair for a push channel: {"public_key", "private_key"}, base64url (the public key is '
  'the applicationServerKey browsers subscribe with).';

-- ---- escaping and rendering ---------------------------------------------------------------

-- API: Private

-- a value escaped for where it lands: html (email's HTML part), slack (mrkdwn's control
-- characters), markdown (Teams and Discord), or as it is
CREATE FUNCTION dwc._notify_escape(value pg_catalog.text, mode pg_catalog.text) RETURNS pg_catalog.text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
RETURN CASE mode
    WHEN 'html' THEN replace(replace(replace(replace(replace(value, '&', '&amp;'), '<', '&lt;'), '>', '&gt;'),
                                     '"', '&quot;'), '''', '&#39;')
    WHEN 'slack' THEN replace(replace(replace(value, '&', '&amp;'), '<', '&lt;'), '>', '&gt;')
    WHEN 'markdown' THEN regexp_replace(value, '([\\`*_{}\[\]()#+\-.!|~>@<])', '\\\1', 'g')
    ELSE value END;

CREATE FUNCTION dwc._notify_escape_json(v pg_catalog.jsonb, mode pg_catalog.text) RETURNS pg_catalog.jsonb
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN CASE jsonb_typeof(v)
        WHEN 'string' THEN to_jsonb(dwc._notify_escape(v #>> '{}', mode))
        WHEN 'object' THEN (SELECT coalesce(jsonb_object_agg(k, dwc._notify_escape_json(x, mode)), '{}')
                              FROM jsonb_each(v) e(k, x))
        WHEN 'array' THEN (SELECT coalesce(jsonb_agg(dwc._notify_escape_json(x, mode) ORDER BY n), '[]')
                             FROM jsonb_array_elements(v) WITH ORDINALITY a(x, n))
        ELSE v END;
END;
$$;

CREATE FUNCTION dwc._notify_escape_mode(type pg_catalog.text) RETURNS pg_catalog.text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
RETURN CASE type WHEN 'slack' THEN 'slack' WHEN 'teams' THEN 'markdown' WHEN 'discord' THEN 'markdown'
                 ELSE 'none' END;

-- pure functions that dwc.render_notification() calls as its caller
GRANT EXECUTE ON FUNCTION dwc._notify_escape(pg_catalog.text, pg_catalog.text) TO PUBLIC;
GRANT EXECUTE ON FUNCTION dwc._notify_escape_json(pg_catalog.jsonb, pg_catalog.text) TO PUBLIC;
GRANT EXECUTE ON FUNCTION dwc._notify_escape_mode(pg_catalog.text) TO PUBLIC;

-- API: Public

CREATE FUNCTION dwc.render_notification(template pg_catalog.text, vars pg_catalog.jsonb DEFAULT '{}',
                                        channel_type pg_catalog.text DEFAULT 'email')
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t dwc.notification_templates;
    mode text := dwc._notify_escape_mode(channel_type);
BEGIN
    SELECT * INTO t FROM dwc.notification_templates WHERE name = template;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'notification template "%" does not exist', template USING ERRCODE = 'undefined_object';
    END IF;
    RETURN jsonb_build_object(
        'subject', dwc.render_template(t.subject, dwc._notify_escape_json(coalesce(vars, '{}'), 'none')),
        'body', dwc.render_template(t.body, dwc._notify_escape_json(coalesce(vars, '{}'), mode)),
        'html', CASE WHEN channel_type = 'email' AND t.html IS NOT NULL
                     THEN dwc.render_template(t.html, dwc._notify_escape_json(coalesce(vars, '{}'), 'html')) END);
END;
$$;
COMMENT ON FUNCTION dwc.render_notification(pg_catalog.text, pg_catalog.jsonb, pg_catalog.text) IS
  'A template rendered for a channel type: {"subject", "body", "html"}; each {{path}} takes the value at that '
  'path of vars, escaped for the channel (HTML in email''s html part, Slack''s & < >, Markdown for Teams and '
  'Discord, as it is elsewhere).';

CREATE FUNCTION dwc.create_notification_template(name pg_catalog.text, body pg_catalog.text,
                                                 subject pg_catalog.text DEFAULT NULL,
                                                 html pg_catalog.text DEFAULT NULL,
                                                 description pg_catalog.text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    INSERT INTO dwc.notification_templates (name, subject, body, html, description)
    VALUES (create_notification_template.name, create_notification_template.subject, create_notification_template.body,
            create_notification_template.html, create_notification_template.description)
    ON CONFLICT ON CONSTRAINT notification_templates_pkey DO UPDATE
       SET subject = excluded.subject, body = excluded.body, html = excluded.html, description = excluded.description;
EXCEPTION
    WHEN check_violation OR not_null_violation THEN
        RAISE EXCEPTION 'invalid notification template "%"', name USING ERRCODE = 'invalid_parameter_value',
            DETAIL = 'Names: a lower-case letter, then letters, digits, _ . -; a body is required.';
END;
$$;
COMMENT ON FUNCTION dwc.create_notification_template(pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.text) IS
  'Creates or replaces a notification template (body, subject, html) with {{path}} placeholders. Administrators only.';
REVOKE ALL ON FUNCTION dwc.create_notification_template(pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.text) FROM PUBLIC;

CREATE FUNCTION dwc.drop_notification_template(name pg_catalog.text) RETURNS pg_catalog.bool
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    WITH d AS (DELETE FROM dwc.notification_templates t WHERE t.name = drop_notification_template.name RETURNING 1)
    SELECT count(*) > 0 FROM d;
END;
COMMENT ON FUNCTION dwc.drop_notification_template(pg_catalog.text) IS
  'Removes a notification template; false when there was none. Administrators only.';
REVOKE ALL ON FUNCTION dwc.drop_notification_template(pg_catalog.text) FROM PUBLIC;

-- ---- channels (administrators) ---------------------------------------------------------

-- API: Private

CREATE FUNCTION dwc._notify_check_channel(type pg_catalog.text, config pg_catalog.jsonb, secret pg_catalog.text,
                                          senders pg_catalog.text[])
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    need text[];
    k text;
    s text;
BEGIN
    IF type IS NULL OR type NOT IN ('email', 'slack', 'teams', 'discord', 'webhook', 'sms', 'push', 'in_app') THEN
        RAISE EXCEPTION 'unknown notification channel type "%"', type USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Types: email, slack, teams, discord, webhook, sms, push, in_app.';
    END IF;
    IF config IS NULL OR jsonb_typeof(config) <> 'object' THEN
        RAISE EXCEPTION 'a channel''s config must be a JSON object' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    need := CASE type WHEN 'email' THEN ARRAY['url', 'from'] WHEN 'webhook' THEN ARRAY['url']
                      WHEN 'sms' THEN ARRAY['account_sid'] WHEN 'push' THEN ARRAY['vapid_public_key', 'subject']
                      ELSE '{}' END;
    FOREACH k IN ARRAY need LOOP
        IF jsonb_typeof(config->k) IS DISTINCT FROM 'string' THEN
            RAISE EXCEPTION 'a channel of type % needs "%" in its config', type, k USING ERRCODE = 'invalid_parameter_value';
        END IF;
    END LOOP;
    IF type = 'email' THEN
        IF (config->>'url') !~ '^smtps?://[^/?#]+(/.*)?$' THEN
            RAISE EXCEPTION 'an email channel''s url must be smtp://host[:port] or smtps://host[:port]'
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        IF coalesce(config->>'tls', 'required') NOT IN ('required', 'try', 'none') THEN
            RAISE EXCEPTION 'an email channel''s tls must be required, try or none' USING ERRCODE = 'invalid_parameter_value',
                HINT = 'required: STARTTLS or fail (the default); try: STARTTLS when offered; none: plain text. smtps:// is always TLS.';
        END IF;
    ELSIF type IN ('slack', 'teams', 'discord') AND (secret IS NULL OR secret !~ '^https?://') THEN
        RAISE EXCEPTION 'a % channel''s secret is its incoming webhook URL (http:// or https://)', type
            USING ERRCODE = 'invalid_parameter_value';
    ELSIF type = 'webhook' AND ((config->>'url') !~ '^https?://' OR secret IS NULL OR length(secret) < 16) THEN
        RAISE EXCEPTION 'a webhook channel needs an http(s) url and a signing secret of at least 16 characters'
            USING ERRCODE = 'invalid_parameter_value';
    ELSIF type = 'sms' AND (secret IS NULL OR num_nonnulls(config->>'from', config->>'messaging_service_sid') <> 1
                            OR coalesce(config->>'base_url', 'https://') !~ '^https?://') THEN
        RAISE EXCEPTION 'an sms channel needs account_sid, from or messaging_service_sid, and the auth token as its secret'
            USING ERRCODE = 'invalid_parameter_value';
    ELSIF type = 'push' AND (secret IS NULL OR (config->>'subject') !~ '^(mailto:|https:)') THEN
        RAISE EXCEPTION 'a push channel needs the VAPID private key as its secret and a subject (mailto: or https: URL)'
            USING ERRCODE = 'invalid_parameter_value', HINT = 'dwc.generate_vapid_keys() makes a key pair.';
    END IF;
    FOREACH s IN ARRAY coalesce(senders, '{}') LOOP
        IF s <> 'PUBLIC' AND to_regrole(quote_ident(s)) IS NULL THEN
            RAISE EXCEPTION 'role "%" does not exist', s USING ERRCODE = 'undefined_object';
        END IF;
    END LOOP;
END;
$$;

-- API: Public

CREATE FUNCTION dwc.add_notification_channel(name pg_catalog.text, type pg_catalog.text,
                                             config pg_catalog.jsonb DEFAULT '{}',
                                             secret pg_catalog.text DEFAULT NULL,
                                             senders pg_catalog.text[] DEFAULT '{}',
                                             rate_per_minute pg_catalog.int4 DEFAULT 0,
                                             burst pg_catalog.int4 DEFAULT 1,
                                             max_attempts pg_catalog.int4 DEFAULT 5)
RETURNS pg_catalog.int4
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    new_id int4;
BEGIN
    PERFORM dwc._notify_check_channel(type, config, secret, senders);
    INSERT INTO dwc.notification_channels (name, type, config, secret, senders, rate_per_minute, burst, max_attempts)
    VALUES (name, type, config, CASE WHEN secret IS NULL THEN NULL ELSE dwc.encrypt(secret) END,
            coalesce(senders, '{}'), rate_per_minute, burst, max_attempts)
    RETURNING id INTO new_id;
    RETURN new_id;
EXCEPTION
    WHEN unique_violation THEN
        RAISE EXCEPTION 'notification channel "%" already exists', name USING ERRCODE = 'unique_violation';
    WHEN check_violation OR not_null_violation THEN
        RAISE EXCEPTION 'invalid notification channel "%"', name USING ERRCODE = 'invalid_parameter_value',
            DETAIL = 'Names: a lower-case letter, then letters, digits, _ . -; rate_per_minute 0 (unlimited) to '
                     '600000, burst 1 to 100000, max_attempts 1 to 100.';
END;
$$;
COMMENT ON FUNCTION dwc.add_notification_channel(pg_catalog.text, pg_catalog.text, pg_catalog.jsonb, pg_catalog.text,
                                                 pg_catalog.text[], pg_catalog.int4, pg_catalog.int4, pg_catalog.int4) IS
  'Adds a notification channel: type email, slack, teams, discord, webhook, sms, push or in_app, its config and '
  'secret (stored encrypted; docs/notifications.md says what each type needs), the roles that may send through it '
  '(PUBLIC: anyone), a rate limit and delivery attempts. Administrators only.';
REVOKE ALL ON FUNCTION dwc.add_notification_channel(pg_catalog.text, pg_catalog.text, pg_catalog.jsonb, pg_catalog.text,
                                                    pg_catalog.text[], pg_catalog.int4, pg_catalog.int4, pg_catalog.int4) FROM PUBLIC;

CREATE FUNCTION dwc.alter_notification_channel(name pg_catalog.text, changes pg_catalog.jsonb)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    c dwc.notification_channels;
    k text;
BEGIN
    SELECT * INTO c FROM dwc.notification_channels ch WHERE ch.name = alter_notification_channel.name FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'notification channel "%" does not exist', name USING ERRCODE = 'undefined_object';
    END IF;
    FOR k IN SELECT jsonb_object_keys(coalesce(changes, '{}')) LOOP
        IF k NOT IN ('config', 'secret', 'senders', 'rate_per_minute', 'burst', 'max_attempts', 'enabled') THEN
            RAISE EXCEPTION 'a channel has no setting "%"', k USING ERRCODE = 'invalid_parameter_value',
                HINT = 'Settings: config, secret, senders, rate_per_minute, burst, max_attempts, enabled.';
        END IF;
    END LOOP;
    PERFORM dwc._notify_check_channel(c.type, coalesce(changes->'config', c.config),
                                      CASE WHEN changes ? 'secret' THEN changes->>'secret'
                                           WHEN c.secret IS NOT NULL THEN dwc.decrypt(c.secret) END,
                                      CASE WHEN changes ? 'senders'
                                           THEN ARRAY(SELECT jsonb_array_elements_text(changes->'senders')) END);
    UPDATE dwc.notification_channels ch
       SET config = coalesce(changes->'config', ch.config),
           secret = CASE WHEN NOT changes ? 'secret' THEN ch.secret
                         WHEN changes->>'secret' IS NULL THEN NULL ELSE dwc.encrypt(changes->>'secret') END,
           senders = CASE WHEN changes ? 'senders' THEN ARRAY(SELECT jsonb_array_elements_text(changes->'senders'))
                          ELSE ch.senders END,
           rate_per_minute = coalesce((changes->>'rate_per_minute')::int4, ch.rate_per_minute),
           burst = coalesce((changes->>'burst')::int4, ch.burst),
           max_attempts = coalesce((changes->>'max_attempts')::int4, ch.max_attempts),
           enabled = coalesce((changes->>'enabled')::bool, ch.enabled)
     WHERE ch.id = c.id;
EXCEPTION
    WHEN check_violation THEN
        RAISE EXCEPTION 'invalid settings for notification channel "%"', name USING ERRCODE = 'invalid_parameter_value';
END;
$$;
COMMENT ON FUNCTION dwc.alter_notification_channel(pg_catalog.text, pg_catalog.jsonb) IS
  'Changes a channel''s config, secret, senders, rate_per_minute, burst, max_attempts or enabled. Administrators only.';
REVOKE ALL ON FUNCTION dwc.alter_notification_channel(pg_catalog.text, pg_catalog.jsonb) FROM PUBLIC;

CREATE FUNCTION dwc.drop_notification_channel(name pg_catalog.text) RETURNS pg_catalog.bool
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    WITH d AS (DELETE FROM dwc.notification_channels c WHERE c.name = drop_notification_channel.name RETURNING 1)
    SELECT count(*) > 0 FROM d;
END;
COMMENT ON FUNCTION dwc.drop_notification_channel(pg_catalog.text) IS
  'Removes a notification channel; its queued notifications fail at delivery ("channel gone"). Administrators only.';
REVOKE ALL ON FUNCTION dwc.drop_notification_channel(pg_catalog.text) FROM PUBLIC;

CREATE FUNCTION dwc.notification_channels() RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN (SELECT coalesce(jsonb_agg(jsonb_build_object(
            'id', c.id, 'name', c.name, 'type', c.type, 'config', c.config, 'has_secret', c.secret IS NOT NULL,
            'senders', to_jsonb(c.senders), 'rate_per_minute', c.rate_per_minute, 'burst', c.burst,
            'max_attempts', c.max_attempts, 'enabled', c.enabled) ORDER BY c.name), '[]')
          FROM dwc.notification_channels c);
COMMENT ON FUNCTION dwc.notification_channels() IS
  'The notification channels, without their secrets. Administrators only.';
REVOKE ALL ON FUNCTION dwc.notification_channels() FROM PUBLIC;

-- ---- addresses and preferences of users ---------------------------------------------------

-- API: Private

-- the user a call is about: the caller's own dwc user, or any for administrators
CREATE FUNCTION dwc._notify_user(user_id pg_catalog.text, caller pg_catalog.oid) RETURNS pg_catalog.text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    me text := dwc.current_user_id();
BEGIN
    IF user_id IS NULL OR user_id = me THEN
        IF me IS NULL THEN
            RAISE EXCEPTION 'no dwc user: sign in, or name the user' USING ERRCODE = 'insufficient_privilege';
        END IF;
        RETURN me;
    END IF;
    IF NOT dwc._may_manage(caller, to_regrole('dwc_admin'), NULL) THEN
        RAISE EXCEPTION 'only administrators manage the notification settings of other users'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN user_id;
END;
$$;

CREATE FUNCTION dwc._set_notification_preference(type pg_catalog.text, enabled pg_catalog.bool,
                                                 quiet_start pg_catalog.time, quiet_end pg_catalog.time,
                                                 timezone pg_catalog.text, user_id pg_catalog.text,
                                                 caller pg_catalog.oid)
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    uid text := dwc._notify_user(user_id, caller);
    p dwc.notification_preferences;
BEGIN
    IF timezone IS NOT NULL AND NOT EXISTS (SELECT 1 FROM pg_timezone_names WHERE name = timezone)
       AND NOT EXISTS (SELECT 1 FROM pg_timezone_abbrevs WHERE abbrev = timezone) THEN
        RAISE EXCEPTION 'unknown time zone "%"', timezone USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO dwc.notification_preferences AS np (user_id, type, enabled, quiet_start, quiet_end, timezone)
    VALUES (uid, coalesce(type, '*'), coalesce(enabled, true), quiet_start, quiet_end, coalesce(timezone, 'UTC'))
    ON CONFLICT ON CONSTRAINT notification_preferences_pkey DO UPDATE
       SET enabled = excluded.enabled, quiet_start = excluded.quiet_start, quiet_end = excluded.quiet_end,
           timezone = excluded.timezone
    RETURNING * INTO p;
    RETURN to_jsonb(p);
EXCEPTION
    WHEN check_violation THEN
        RAISE EXCEPTION 'invalid notification preference' USING ERRCODE = 'invalid_parameter_value',
            DETAIL = 'type: *, email, slack, teams, discord, webhook, sms, push or in_app; quiet hours need both '
                     'quiet_start and quiet_end, and they differ.';
END;
$$;

CREATE FUNCTION dwc._add_notification_address(type pg_catalog.text, address pg_catalog.text, user_id pg_catalog.text,
                                              caller pg_catalog.oid)
RETURNS pg_catalog.int8
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    uid text := dwc._notify_user(user_id, caller);
    sub jsonb;
    new_id int8;
BEGIN
    IF type = 'sms' AND address !~ '^\+[1-9][0-9]{6,14}$' THEN
        RAISE EXCEPTION 'an sms address is a phone number in E.164 form (+ and 7 to 15 digits)'
            USING ERRCODE = 'invalid_parameter_value';
    ELSIF type = 'email' AND (address !~ '^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$' OR length(address) > 254) THEN
        RAISE EXCEPTION 'invalid email address' USING ERRCODE = 'invalid_parameter_value';
    ELSIF type = 'push' THEN
        BEGIN
            sub := address::jsonb;
        EXCEPTION WHEN invalid_text_representation THEN
            sub := NULL;
        END;
        IF jsonb_typeof(sub->'endpoint') IS DISTINCT FROM 'string' OR (sub->>'endpoint') !~ '^https?://'
           OR jsonb_typeof(sub->'keys'->'p256dh') IS DISTINCT FROM 'string'
           OR jsonb_typeof(sub->'keys'->'auth') IS DISTINCT FROM 'string' THEN
            RAISE EXCEPTION 'a push address is a Web Push subscription: {"endpoint", "keys": {"p256dh", "auth"}}'
                USING ERRCODE = 'invalid_parameter_value',
                HINT = 'Send the browser''s PushSubscription.toJSON() as it is.';
        END IF;
        address := jsonb_build_object('endpoint', sub->'endpoint', 'keys',
                                      jsonb_build_object('p256dh', sub->'keys'->'p256dh', 'auth', sub->'keys'->'auth'))::text;
    ELSIF type IS NULL OR type NOT IN ('sms', 'email', 'push') THEN
        RAISE EXCEPTION 'addresses are of type email, sms or push' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO dwc.notification_addresses (user_id, type, address) VALUES (uid, type, address)
    ON CONFLICT ON CONSTRAINT notification_addresses_user_id_type_address_key DO UPDATE SET created_at = excluded.created_at
    RETURNING id INTO new_id;
    RETURN new_id;
END;
$$;

CREATE FUNCTION dwc._remove_notification_address(id pg_catalog.int8, caller pg_catalog.oid) RETURNS pg_catalog.bool
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    DELETE FROM dwc.notification_addresses a
     WHERE a.id = _remove_notification_address.id
       AND (a.user_id = dwc.current_user_id() OR dwc._may_manage(caller, to_regrole('dwc_admin'), NULL));
    RETURN FOUND;
END;
$$;

CREATE FUNCTION dwc._notification_settings(user_id pg_catalog.text, caller pg_catalog.oid) RETURNS pg_catalog.jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    uid text := dwc._notify_user(user_id, caller);
BEGIN
    RETURN jsonb_build_object(
        'user_id', uid,
        'preferences', (SELECT coalesce(jsonb_agg(jsonb_build_object('type', p.type, 'enabled', p.enabled,
                                  'quiet_start', p.quiet_start, 'quiet_end', p.quiet_end, 'timezone', p.timezone)
                                  ORDER BY p.type), '[]')
                          FROM dwc.notification_preferences p WHERE p.user_id = uid),
        'addresses', (SELECT coalesce(jsonb_agg(jsonb_build_object('id', a.id, 'type', a.type, 'address',
                                CASE a.type WHEN 'push' THEN (a.address::jsonb)->'endpoint' ELSE to_jsonb(a.address) END)
                                ORDER BY a.id), '[]')
                        FROM dwc.notification_addresses a WHERE a.user_id = uid));
END;
$$;

-- ---- sending ----------------------------------------------------------------------------

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
        job := dwc._enqueue_for('notify.deliver', jsonb_build_object('id', nid), caller, dwc.current_user_id(),
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
CREATE FUNCTION dwc._notify_many(channel pg_catalog.text, recipients pg_catalog.jsonb, subject pg_catalog.text,
                                 body pg_catalog.text, template pg_catalog.text, vars pg_catalog.jsonb,
                                 priority pg_catalog.text, send_at pg_catalog.timestamptz, data pg_catalog.jsonb,
                                 caller pg_catalog.oid)
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

CREATE FUNCTION dwc._notification_status(id pg_catalog.int8, caller pg_catalog.oid) RETURNS pg_catalog.jsonb
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

CREATE FUNCTION dwc._cancel_notification(id pg_catalog.int8, caller pg_catalog.oid) RETURNS pg_catalog.bool
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

CREATE FUNCTION dwc._notification_stats(period pg_catalog.interval, caller pg_catalog.oid) RETURNS pg_catalog.jsonb
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

-- the inbox of the signed-in user
CREATE FUNCTION dwc._my_notifications(unread_only pg_catalog.bool, max_rows pg_catalog.int4, caller pg_catalog.oid)
RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
RETURN (SELECT coalesce(jsonb_agg(jsonb_build_object('id', i.id, 'subject', i.subject, 'body', i.body, 'data', i.data,
                                                     'priority', i.priority, 'created_at', i.created_at,
                                                     'read_at', i.read_at) ORDER BY i.id DESC), '[]')
          FROM (SELECT * FROM dwc.inbox i
                 WHERE i.user_id = dwc._notify_user(NULL, caller) AND (NOT coalesce(unread_only, false) OR i.read_at IS NULL)
                 ORDER BY i.id DESC LIMIT least(greatest(coalesce(max_rows, 50), 1), 1000)) i);

CREATE FUNCTION dwc._mark_notifications_read(ids pg_catalog.int8[], caller pg_catalog.oid) RETURNS pg_catalog.int4
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

SELECT dwc._trampoline_targets(ARRAY[
    'dwc._set_notification_preference(text, bool, time, time, text, text, oid)',
    'dwc._add_notification_address(text, text, text, oid)', 'dwc._remove_notification_address(int8, oid)',
    'dwc._notification_settings(text, oid)',
    'dwc._notify_many(text, jsonb, text, text, text, jsonb, text, timestamptz, jsonb, oid)',
    'dwc._notification_status(int8, oid)', 'dwc._cancel_notification(int8, oid)',
    'dwc._notification_stats(interval, oid)',
    'dwc._my_notifications(bool, int4, oid)', 'dwc._mark_notifications_read(int8[], oid)']);

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

CREATE FUNCTION dwc.mark_notifications_read(ids pg_catalog.int8[] DEFAULT NULL) RETURNS pg_catalog.int4
LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'dwc_trampoline';
COMMENT ON FUNCTION dwc.mark_notifications_read(pg_catalog.int8[]) IS
  'Marks the signed-in user''s in-app notifications read (these ids, or all); returns how many.';

-- ---- delivery ---------------------------------------------------------------------------

-- API: Private

-- an email message (RFC 5322, MIME): text, and an HTML alternative when there is one
CREATE FUNCTION dwc._email_message(mail_from pg_catalog.text, rcpt pg_catalog.text, subject pg_catalog.text,
                                   body pg_catalog.text, html pg_catalog.text, message_id pg_catalog.text,
                                   priority pg_catalog.text)
RETURNS pg_catalog.text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN (WITH b AS (SELECT 'dwc-' || md5(message_id) AS boundary),
             part AS (SELECT replace(encode(convert_to(coalesce(body, ''), 'UTF8'), 'base64'), E'\n', E'\r\n') AS text64,
                             replace(encode(convert_to(coalesce(html, ''), 'UTF8'), 'base64'), E'\n', E'\r\n') AS html64)
        SELECT 'From: ' || mail_from || E'\r\n'
            || 'To: <' || rcpt || E'>\r\n'
            || 'Subject: ' || CASE WHEN coalesce(subject, '') ~ '^[ -~]*$' THEN coalesce(subject, '')
                                   ELSE '=?UTF-8?B?' || replace(encode(convert_to(subject, 'UTF8'), 'base64'), E'\n', '') || '?=' END
            || E'\r\n'
            || 'Date: ' || to_char(now() AT TIME ZONE 'UTC', 'Dy, DD Mon YYYY HH24:MI:SS') || E' +0000\r\n'
            || 'Message-ID: <' || message_id || E'>\r\n'
            || CASE WHEN priority IN ('high', 'urgent') THEN E'X-Priority: 1\r\nImportance: high\r\n'
                    WHEN priority = 'low' THEN E'X-Priority: 5\r\nImportance: low\r\n' ELSE '' END
            || E'MIME-Version: 1.0\r\n'
            || CASE WHEN html IS NULL
                    THEN E'Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n'
                         || part.text64 || E'\r\n'
                    ELSE 'Content-Type: multipart/alternative; boundary="' || b.boundary || E'"\r\n\r\n'
                         || '--' || b.boundary || E'\r\nContent-Type: text/plain; charset=utf-8\r\n'
                         || E'Content-Transfer-Encoding: base64\r\n\r\n' || part.text64 || E'\r\n'
                         || '--' || b.boundary || E'\r\nContent-Type: text/html; charset=utf-8\r\n'
                         || E'Content-Transfer-Encoding: base64\r\n\r\n' || part.html64 || E'\r\n'
                         || '--' || b.boundary || E'--\r\n' END
          FROM b, part);

-- the bare address of "Name <addr>" or addr
CREATE FUNCTION dwc._email_address(v pg_catalog.text) RETURNS pg_catalog.text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
RETURN coalesce(substring(v FROM '<([^<>]+)>\s*$'), btrim(v));

-- An HTTP delivery: raises for what is worth retrying (transport failures, 408, 429, 5xx),
-- returns the failure for what is not (other 4xx)
CREATE FUNCTION dwc._notify_http(url pg_catalog.text, headers pg_catalog.jsonb, body pg_catalog.text,
                                 timeout_ms pg_catalog.int4, form pg_catalog.bool DEFAULT false)
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    resp dwc.http_response;
BEGIN
    resp := dwc.http('POST', url, headers || jsonb_build_object('Content-Type',
                         CASE WHEN form THEN 'application/x-www-form-urlencoded' ELSE 'application/json' END),
                     body, timeout_ms);
    IF resp.status IN (408, 429) OR resp.status >= 500 THEN
        RAISE EXCEPTION 'HTTP % from %', resp.status, regexp_replace(url, '^(https?://[^/?#]*).*$', '\1')
            USING ERRCODE = 'connection_failure', DETAIL = left(resp.body, 500);
    END IF;
    RETURN jsonb_build_object('ok', resp.status BETWEEN 200 AND 299, 'status', resp.status,
                              'body', left(resp.body, 2000));
END;
$$;

CREATE FUNCTION dwc._form_encode(kv pg_catalog.jsonb) RETURNS pg_catalog.text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
RETURN (SELECT string_agg(k || '=' || (SELECT string_agg(CASE WHEN ch ~ '^[A-Za-z0-9_.~-]$' THEN ch
                                                              ELSE upper(regexp_replace(encode(convert_to(ch, 'UTF8'), 'hex'), '(..)', '%\1', 'g')) END,
                                                         '' ORDER BY n)
                                         FROM regexp_split_to_table(v, '') WITH ORDINALITY s(ch, n)), '&' ORDER BY k)
          FROM jsonb_each_text(kv) e(k, v) WHERE v IS NOT NULL);

-- Delivers notification n through channel c; returns {"ok", ...} (ok false: a permanent
-- failure) or raises to be retried.
CREATE FUNCTION dwc._notify_deliver(n dwc.notifications, c dwc.notification_channels) RETURNS pg_catalog.jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    secret text := CASE WHEN c.secret IS NOT NULL THEN dwc.decrypt(c.secret) END;
    timeout int4 := coalesce((c.config->>'timeout_ms')::int4, 30000);
    title text := coalesce(n.subject, '');
    body text;
    ts text;
    r jsonb;
BEGIN
    CASE c.type
    WHEN 'email' THEN
        r := dwc._smtp_send(c.config->>'url', c.config->>'username', secret, dwc._email_address(c.config->>'from'),
                            ARRAY[n.recipient],
                            dwc._email_message(c.config->>'from', n.recipient, n.subject, n.body, n.html,
                                               'notification-' || n.id || '@' || coalesce(c.config->>'message_id_domain', 'dwc.invalid'),
                                               n.priority),
                            coalesce(c.config->>'tls', 'required'), c.config->>'ca_file', timeout);
        IF NOT (r->>'ok')::bool AND (r->>'transient')::bool THEN
            RAISE EXCEPTION 'SMTP: %', r->>'error' USING ERRCODE = 'connection_failure';
        END IF;
        RETURN r;
    WHEN 'slack' THEN
        body := jsonb_build_object('text', CASE WHEN title <> '' THEN '*' || dwc._notify_escape(title, 'slack') || E'*\n' ELSE '' END || n.body,
                                   'blocks', jsonb_build_array(jsonb_build_object('type', 'section', 'text',
                                       jsonb_build_object('type', 'mrkdwn', 'text',
                                           CASE WHEN title <> '' THEN '*' || dwc._notify_escape(title, 'slack') || E'*\n' ELSE '' END
                                           || left(n.body, 2900)))))::text;
        RETURN dwc._notify_http(secret, '{}', body, timeout);
    WHEN 'teams' THEN
        body := jsonb_build_object('type', 'message', 'attachments', jsonb_build_array(jsonb_build_object(
                    'contentType', 'application/vnd.microsoft.card.adaptive', 'contentUrl', NULL,
                    'content', jsonb_build_object(
                        '$schema', 'http://adaptivecards.io/schemas/adaptive-card.json', 'type', 'AdaptiveCard',
                        'version', '1.4',
                        'body', CASE WHEN title <> '' THEN jsonb_build_array(jsonb_build_object(
                                         'type', 'TextBlock', 'text', dwc._notify_escape(title, 'markdown'),
                                         'weight', 'Bolder', 'size', 'Medium', 'wrap', true)) ELSE '[]' END
                                || jsonb_build_array(jsonb_build_object('type', 'TextBlock', 'text', n.body, 'wrap', true))))))::text;
        RETURN dwc._notify_http(secret, '{}', body, timeout);
    WHEN 'discord' THEN
        body := jsonb_build_object('content', left(CASE WHEN title <> '' THEN '**' || dwc._notify_escape(title, 'markdown') || E'**\n' ELSE '' END
                                                   || n.body, 2000),
                                   'allowed_mentions', jsonb_build_object('parse', '[]'::jsonb))::text;
        RETURN dwc._notify_http(secret || CASE WHEN secret ~ '\?' THEN '&' ELSE '?' END || 'wait=true', '{}', body, timeout);
    WHEN 'webhook' THEN
        body := jsonb_build_object('id', n.id, 'channel', n.channel, 'priority', n.priority, 'subject', n.subject,
                                   'body', n.body, 'data', n.data, 'user_id', n.user_id, 'recipient', n.recipient,
                                   'template', n.template, 'created_at', n.created_at)::text;
        ts := extract(epoch FROM now())::int8::text;
        RETURN dwc._notify_http(c.config->>'url',
                                coalesce(c.config->'headers', '{}') || jsonb_build_object(
                                    'X-Dwc-Notification-Id', n.id::text, 'X-Dwc-Timestamp', ts,
                                    'X-Dwc-Signature', 'v1=' || dwc._hmac_sha256_hex(secret, ts || '.' || body)),
                                body, timeout);
    WHEN 'sms' THEN
        RETURN dwc._notify_http(rtrim(coalesce(c.config->>'base_url', 'https://api.twilio.com'), '/')
                                    || '/2010-04-01/Accounts/' || (c.config->>'account_sid') || '/Messages.json',
                                jsonb_build_object('Authorization', 'Basic ' || replace(encode(convert_to(
                                    (c.config->>'account_sid') || ':' || secret, 'UTF8'), 'base64'), E'\n', '')),
                                dwc._form_encode(jsonb_build_object('To', n.recipient, 'From', c.config->>'from',
                                    'MessagingServiceSid', c.config->>'messaging_service_sid',
                                    'Body', CASE WHEN title <> '' THEN title || E'\n' ELSE '' END || n.body)),
                                timeout, true);
    WHEN 'push' THEN
        r := dwc._webpush_send(n.recipient::jsonb,
                               jsonb_build_object('id', n.id, 'title', n.subject, 'body', n.body, 'data', n.data)::text,
                               c.config->>'vapid_public_key', secret, c.config->>'subject',
                               coalesce((c.config->>'ttl')::int4, 86400),
                               CASE n.priority WHEN 'low' THEN 'low' WHEN 'normal' THEN 'normal' ELSE 'high' END,
                               timeout);
        IF r->>'error' IS NOT NULL AND (r->>'transient')::bool
           OR (r->>'status')::int IN (408, 429) OR (r->>'status')::int >= 500 THEN
            RAISE EXCEPTION 'Web Push: %', coalesce(r->>'error', 'HTTP ' || (r->>'status'))
                USING ERRCODE = 'connection_failure';
        END IF;
        IF (r->>'status')::int IN (404, 410) THEN
            -- the subscription is gone (RFC 8030): forget it
            DELETE FROM dwc.notification_addresses a WHERE a.user_id = n.user_id AND a.type = 'push' AND a.address = n.recipient;
        END IF;
        RETURN r || jsonb_build_object('ok', coalesce((r->>'status')::int BETWEEN 200 AND 299, false));
    WHEN 'in_app' THEN
        INSERT INTO dwc.inbox (user_id, notification_id, subject, body, data, priority)
        VALUES (n.user_id, n.id, n.subject, n.body, n.data, n.priority);
        INSERT INTO dwc.events (kind, subject, payload, owner, owner_user)
        VALUES ('notification.in_app', 'notification:' || n.id,
                jsonb_build_object('notification_id', n.id, 'subject', n.subject, 'priority', n.priority),
                n.owner, n.user_id);
        RETURN jsonb_build_object('ok', true);
    END CASE;
END;
$$;

-- the notify.deliver job: {"id"}
CREATE FUNCTION dwc._job_notify_deliver(payload pg_catalog.jsonb) RETURNS pg_catalog.jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n dwc.notifications;
    c dwc.notification_channels;
    r jsonb;
    ok bool;
BEGIN
    SELECT * INTO n FROM dwc.notifications x WHERE x.id = (payload->>'id')::int8 FOR UPDATE;
    -- only the job the notification was queued with delivers it
    IF NOT FOUND OR n.job_id IS DISTINCT FROM dwc.current_job_id() OR n.status NOT IN ('queued', 'retrying') THEN
        RETURN jsonb_build_object('ok', true, 'skipped', true);
    END IF;
    SELECT * INTO c FROM dwc.notification_channels ch WHERE ch.name = n.channel;
    IF NOT FOUND OR NOT c.enabled OR c.type <> n.type THEN
        r := jsonb_build_object('ok', false, 'error', CASE WHEN c.id IS NULL THEN 'channel gone' ELSE 'channel disabled' END);
    ELSE
        r := dwc._notify_deliver(n, c);
    END IF;
    ok := coalesce((r->>'ok')::bool, false);
    UPDATE dwc.notifications x
       SET status = CASE WHEN ok THEN 'delivered' ELSE 'failed' END,
           attempts = (SELECT j.attempts FROM dwc.jobs j WHERE j.id = n.job_id),
           response = r - 'ok', last_error = CASE WHEN ok THEN NULL ELSE coalesce(r->>'error', 'HTTP ' || (r->>'status')) END,
           delivered_at = CASE WHEN ok THEN clock_timestamp() END, finished_at = clock_timestamp()
     WHERE x.id = n.id;
    IF NOT ok THEN
        INSERT INTO dwc.events (kind, subject, payload, owner, owner_user)
        VALUES ('notification.failed', 'notification:' || n.id,
                jsonb_build_object('notification_id', n.id, 'channel', n.channel,
                                   'error', coalesce(r->>'error', 'HTTP ' || (r->>'status'))), n.owner, n.owner_user);
    END IF;
    -- a permanent failure ends the job without retries ({"ok": false}), keeping what is written here
    RETURN jsonb_build_object('ok', ok, 'notification_id', n.id) || CASE WHEN ok THEN '{}' ELSE jsonb_build_object('error', r->>'error') END;
END;
$$;
COMMENT ON FUNCTION dwc._job_notify_deliver(pg_catalog.jsonb) IS
  'Private: handler of notify.deliver jobs ({"id"}): delivers the notification through its channel and records '
  'its state; transient failures raise, so the queue retries with backoff.';
GRANT EXECUTE ON FUNCTION dwc._job_notify_deliver(pg_catalog.jsonb) TO PUBLIC;

INSERT INTO dwc.job_kinds (kind, handler, description, default_timeout_ms, default_max_attempts, leased)
VALUES ('notify.deliver', 'dwc._job_notify_deliver(pg_catalog.jsonb)'::regprocedure,
        'Delivers a notification ({"id"}) through its channel.', 120000, 5, true);

-- a failed attempt to be retried: recorded on the notification (the attempt's own writes
-- rolled back)
CREATE FUNCTION dwc._notify_attempt_failed() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF dwc._restoring() THEN RETURN NULL; END IF;     -- rows of a dump: what they would derive came with them
    UPDATE dwc.notifications SET attempts = NEW.attempts, last_error = NEW.last_error, status = 'retrying'
     WHERE id = (NEW.payload->>'id')::int8 AND job_id = NEW.id AND status IN ('queued', 'retrying');
    RETURN NULL;
END;
$$;
CREATE TRIGGER jobs_notify_retry AFTER UPDATE OF status ON dwc.jobs FOR EACH ROW
    WHEN (NEW.kind = 'notify.deliver' AND NEW.status = 'retry' AND NEW.last_error IS NOT NULL)
    EXECUTE FUNCTION dwc._notify_attempt_failed();

-- a delivery whose job died (attempts exhausted) or was cancelled
CREATE FUNCTION dwc._notify_jobs_ended() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF dwc._restoring() THEN RETURN NULL; END IF;     -- rows of a dump: what they would derive came with them
    WITH ended AS (
        UPDATE dwc.notifications n
           SET status = CASE a.status WHEN 'dead' THEN 'failed' ELSE 'cancelled' END,
               attempts = greatest(n.attempts, a.attempts),
               last_error = coalesce(a.last_error, a.result->>'error', n.last_error), finished_at = clock_timestamp()
          FROM added a
         WHERE a.kind = 'notify.deliver' AND a.status IN ('dead', 'cancelled') AND n.id = (a.payload->>'id')::int8
           AND n.job_id = a.id AND n.status IN ('queued', 'retrying')
        RETURNING n.*)
    INSERT INTO dwc.events (kind, subject, payload, owner, owner_user)
    SELECT 'notification.failed', 'notification:' || e.id,
           jsonb_build_object('notification_id', e.id, 'channel', e.channel, 'attempts', e.attempts, 'error', e.last_error),
           e.owner, e.owner_user
      FROM ended e WHERE e.status = 'failed';
    RETURN NULL;
END;
$$;
CREATE TRIGGER job_history_notifications AFTER INSERT ON dwc.job_history
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION dwc._notify_jobs_ended();

-- ---- retention (a maintenance task, src/notify/init.c) -------------------------------------

CREATE FUNCTION dwc._notify_retention(retention pg_catalog.interval) RETURNS pg_catalog.int4
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n int4;
BEGIN
    DELETE FROM dwc.notifications WHERE id IN (SELECT id FROM dwc.notifications
                                                WHERE finished_at < now() - retention LIMIT 10000);
    GET DIAGNOSTICS n = ROW_COUNT;
    DELETE FROM dwc.inbox WHERE id IN (SELECT id FROM dwc.inbox WHERE created_at < now() - retention LIMIT 10000);
    RETURN n;
END;
$$;
COMMENT ON FUNCTION dwc._notify_retention(pg_catalog.interval) IS
  'Private: deletes finished notifications and in-app messages older than retention, 10,000 at a time; run by '
  'the maintenance worker.';

-- ---- security alerts ----------------------------------------------------------------------

-- lockouts and refresh-token reuse are emailed (urgent) to the user through the channel
-- named by dwc.security_alert_channel, when it is set
CREATE FUNCTION dwc._security_alerts() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ch text := nullif(current_setting('dwc.security_alert_channel', true), '');
    e record;
BEGIN
    IF dwc._restoring() THEN RETURN NULL; END IF;     -- rows of a dump: what they would derive came with them
    IF ch IS NULL OR NOT EXISTS (SELECT 1 FROM dwc.notification_channels WHERE name = ch AND enabled) THEN
        RETURN NULL;
    END IF;
    FOR e IN SELECT a.* FROM added a
              WHERE a.event IN ('account_locked', 'refresh_token_reuse') AND a.user_id IS NOT NULL
                AND EXISTS (SELECT 1 FROM dwc.users u WHERE u.id::text = a.user_id)
    LOOP
        PERFORM dwc._notify_many(ch, jsonb_build_array(jsonb_build_object('user_id', e.user_id)), NULL, NULL,
                                 'security_' || e.event,
                                 jsonb_build_object('event', e.event, 'at', e.at, 'address', e.address,
                                                    'username', (SELECT u.username FROM dwc.users u WHERE u.id::text = e.user_id)),
                                 'urgent', NULL, jsonb_build_object('security_event', e.event),
                                 (SELECT oid FROM pg_roles WHERE rolname = current_user));
    END LOOP;
    RETURN NULL;
END;
$$;
CREATE TRIGGER security_events_alerts AFTER INSERT ON dwc.security_events
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION dwc._security_alerts();

INSERT INTO dwc.notification_templates (name, subject, body, html, description) VALUES
('security_account_locked', 'Your account was locked',
 E'Hello {{username}},\n\nyour account was locked at {{at}} after repeated failed sign-ins (last from {{address}}).\nIf this was not you, change your password once it unlocks.',
 '<p>Hello {{username}},</p><p>your account was locked at {{at}} after repeated failed sign-ins (last from {{address}}).</p><p>If this was not you, change your password once it unlocks.</p>',
 'Sent to a user whose account was locked (dwc.security_alert_channel).'),
('security_refresh_token_reuse', 'A signed-out session of yours was used',
 E'Hello {{username}},\n\na refresh token of yours was used again at {{at}} (from {{address}}), so all your sessions were signed out.\nSign in again; if this was not you, change your password.',
 '<p>Hello {{username}},</p><p>a refresh token of yours was used again at {{at}} (from {{address}}), so all your sessions were signed out.</p><p>Sign in again; if this was not you, change your password.</p>',
 'Sent to a user whose refresh token was replayed (dwc.security_alert_channel).');

-- ---- the notify action of automations and step of AI workflows ------------------------------

CREATE FUNCTION dwc._notify_check_action(spec pg_catalog.jsonb, what pg_catalog.text) RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF jsonb_typeof(spec->'channel') IS DISTINCT FROM 'string'
       OR num_nonnulls(spec->'body', spec->'template') <> 1
       OR coalesce(jsonb_typeof(spec->'body'), 'string') <> 'string'
       OR coalesce(jsonb_typeof(spec->'template'), 'string') <> 'string'
       OR coalesce(jsonb_typeof(spec->'to'), 'string') NOT IN ('string', 'array')
       OR coalesce(jsonb_typeof(spec->'vars'), 'object') <> 'object'
       OR coalesce(spec->>'priority', 'normal') NOT IN ('low', 'normal', 'high', 'urgent') THEN
        RAISE EXCEPTION 'a notify % needs "channel", and "body" or "template"', what
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Also: "to" (an address, or an array of them), "user_id", "subject", "vars" (an object), '
                         '"priority" (low, normal, high, urgent), "data".';
    END IF;
END;
$$;
GRANT EXECUTE ON FUNCTION dwc._notify_check_action(pg_catalog.jsonb, pg_catalog.text) TO PUBLIC;

-- sends what spec says, its strings rendered with data ({{path}}), as the current role
CREATE FUNCTION dwc._notify_action(spec pg_catalog.jsonb, data pg_catalog.jsonb) RETURNS pg_catalog.jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    recipients jsonb;
BEGIN
    recipients := CASE
        WHEN spec ? 'user_id' THEN jsonb_build_array(jsonb_build_object('user_id', dwc.render_template(spec->>'user_id', data)))
        WHEN jsonb_typeof(spec->'to') = 'array'
            THEN (SELECT jsonb_agg(to_jsonb(dwc.render_template(x, data))) FROM jsonb_array_elements_text(spec->'to') x)
        WHEN spec ? 'to' THEN jsonb_build_array(to_jsonb(dwc.render_template(spec->>'to', data)))
        ELSE '[null]' END;
    RETURN dwc.notify_many(spec->>'channel', recipients, dwc.render_template(spec->>'subject', data),
                           dwc.render_template(spec->>'body', data), spec->>'template',
                           dwc._render_object(spec->'vars', data), coalesce(spec->>'priority', 'normal'), NULL,
                           dwc._render_object(spec->'data', data));
END;
$$;
GRANT EXECUTE ON FUNCTION dwc._notify_action(pg_catalog.jsonb, pg_catalog.jsonb) TO PUBLIC;
