-- src/notify/render.sql: the C helpers that speak to providers (SMTP, Web Push, signatures), and
-- escaping and rendering messages from templates.

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
