-- src/notify/channels.sql: channels, kept by administrators (their secrets encrypted), and who
-- may send through each.

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
