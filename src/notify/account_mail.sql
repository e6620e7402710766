-- src/notify/account_mail.sql: the mail that account security needs, sent through
-- dwc.security_alert_channel: a password reset code (security, below, calls the hook point
-- account_mail of src/core/hooks.sql, which this file answers) and alerts on what security
-- records (lockouts, a refresh token replayed). See docs/security.md.

-- API: Private

INSERT INTO dwc.notification_templates (name, subject, body, html, description) VALUES
('security_password_reset', 'Reset your password',
 E'Hello {{username}},\n\nsomeone asked to reset the password of your account. If it was you, use this code within an hour:\n\n{{token}}\n\nIf it was not you, ignore this message: your password stays as it is.',
 '<p>Hello {{username}},</p><p>someone asked to reset the password of your account. If it was you, use this code within an hour:</p><p><code>{{token}}</code></p><p>If it was not you, ignore this message: your password stays as it is.</p>',
 'Sent by dwc.request_password_reset() through dwc.security_alert_channel; vars: username, token, expires_at.');

-- message {} asks whether account mail can be sent at all (an error when not); otherwise
-- {"user_id", "template", "vars", "security_event"} sends it, urgent (no quiet hours)
CREATE FUNCTION dwc._send_account_mail(message pg_catalog.jsonb) RETURNS pg_catalog.jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ch text := nullif(current_setting('dwc.security_alert_channel', true), '');
BEGIN
    IF ch IS NULL OR NOT EXISTS (SELECT 1 FROM dwc.notification_channels c WHERE c.name = ch AND c.type = 'email' AND c.enabled) THEN
        RAISE EXCEPTION 'password reset by email is not set up' USING ERRCODE = 'feature_not_supported',
            HINT = 'An administrator sets dwc.security_alert_channel to an enabled email channel.';
    END IF;
    IF message ? 'user_id' THEN
        RETURN dwc._notify_many((SELECT oid FROM pg_roles WHERE rolname = current_user),
                                ch, jsonb_build_array(jsonb_build_object('user_id', message->>'user_id')), NULL, NULL,
                                message->>'template', coalesce(message->'vars', '{}'), 'urgent', NULL,
                                jsonb_build_object('security_event', message->>'security_event'));
    END IF;
    RETURN '{}';
END;
$$;
COMMENT ON FUNCTION dwc._send_account_mail(pg_catalog.jsonb) IS
  'Private: the hook account_mail: {} checks that dwc.security_alert_channel is an enabled email channel '
  '(feature_not_supported otherwise); {"user_id", "template", "vars", "security_event"} sends that mail to the user.';

INSERT INTO dwc.hooks (point, handler) VALUES ('account_mail', 'dwc._send_account_mail(jsonb)');

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
        PERFORM dwc._notify_many((SELECT oid FROM pg_roles WHERE rolname = current_user),
                                 ch, jsonb_build_array(jsonb_build_object('user_id', e.user_id)), NULL, NULL,
                                 'security_' || e.event,
                                 jsonb_build_object('event', e.event, 'at', e.at, 'address', e.address,
                                                    'username', (SELECT u.username FROM dwc.users u WHERE u.id::text = e.user_id)),
                                 'urgent', NULL, jsonb_build_object('security_event', e.event));
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
