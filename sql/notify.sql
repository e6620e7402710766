-- Notifications: rendering and escaping per channel, quiet hours, channel checks, refusals.
-- (Delivery runs in the workers: test/integration/test_notifications.py.)
SET client_min_messages = warning;

SELECT dwc.create_notification_template('n_hello', 'Hi {{name}}: {{what}}', 'Hello {{name}}', '<p>Hi {{name}}: {{what}}</p>');
-- each value escaped for where it lands; the template's own text is left as it is
SELECT t, dwc.render_notification('n_hello', '{"name": "Ana & <Bob>", "what": "*x* _y_ @here"}', t)
  FROM unnest(ARRAY['email', 'slack', 'teams', 'discord', 'sms', 'webhook']) t;
SELECT dwc.render_notification('n_hello', '{"name": {"first": "O''Neil"}}', 'email')->>'html';
SELECT dwc.render_notification('n_missing', '{}');

-- quiet hours: inside a same-day window, inside an overnight one (both sides of midnight), outside
INSERT INTO dwc.notification_preferences (user_id, type, quiet_start, quiet_end, timezone) VALUES
  ('q1', 'email', '09:00', '17:00', 'UTC'), ('q2', '*', '22:00', '07:00', 'Europe/Madrid');
SELECT u, ty, at, dwc._quiet_until(u, ty, at::timestamptz) AS until
  FROM (VALUES ('q1', 'email', '2026-06-01 12:00+00'), ('q1', 'email', '2026-06-01 17:00+00'),
               ('q1', 'sms', '2026-06-01 12:00+00'),
               ('q2', 'push', '2026-06-01 21:30+00'), ('q2', 'push', '2026-06-01 03:00+00'),
               ('q2', 'push', '2026-06-01 12:00+00')) v(u, ty, at)
 ORDER BY 1, 2, 3;
SELECT dwc._notify_enabled('q1', 'email'), dwc._notify_enabled('nobody', 'sms');
DELETE FROM dwc.notification_preferences WHERE user_id IN ('q1', 'q2');

-- channels: what each type needs, and the secret is never shown
SELECT dwc.add_notification_channel('n_slack', 'slack', '{}', 'https://hooks.slack.invalid/T/B/x', senders => '{PUBLIC}');
SELECT c->'has_secret', c->'senders' FROM jsonb_array_elements(dwc.notification_channels()) c WHERE c->>'name' = 'n_slack';
SELECT dwc.add_notification_channel('n_slack', 'slack', '{}', 'https://hooks.slack.invalid/T/B/x');
SELECT dwc.add_notification_channel('n_mail', 'email', '{"url": "smtp://mail.invalid", "from": "a@b.invalid", "tls": "sometimes"}');
SELECT dwc.add_notification_channel('n_sms', 'sms', '{"account_sid": "AC1"}', 'token');
SELECT dwc.add_notification_channel('n_push', 'push', '{"vapid_public_key": "x", "subject": "ops"}', 'k');
SELECT dwc.add_notification_channel('n_x', 'webhook', '{"url": "https://h.invalid"}', '0123456789abcdef', senders => '{no_such_role}');
SELECT dwc.add_notification_channel('N bad', 'in_app');
SELECT dwc.alter_notification_channel('n_slack', '{"colour": "red"}');
SELECT dwc.alter_notification_channel('n_slack', '{"enabled": false}');
SELECT dwc.notify('n_slack', body => 'x');
SELECT dwc.drop_notification_channel('n_slack'), dwc.drop_notification_channel('n_slack');

-- sends that are refused before anything is queued
SELECT dwc.notify('in_app', 'someone@example.com', body => 'x');
SELECT dwc.notify('in_app', user_id => 'no-such-user', body => 'x');
SELECT dwc.notify('in_app', body => 'x', template => 'n_hello', user_id => 'u');
SELECT dwc.notify_many('in_app', '{"not": "an array"}', body => 'x');
SELECT dwc._notify_check_action('{"channel": "c", "body": "b", "priority": "loud"}', 'action');

-- Web Push keys are P-256 points: 65 bytes public (0x04 first), 32 private
SELECT length(k->>'public_key'), length(k->>'private_key'), left(k->>'public_key', 1)
  FROM dwc.generate_vapid_keys() k;
SELECT dwc._hmac_sha256_hex('key', 'The quick brown fox jumps over the lazy dog');
SELECT dwc.drop_notification_template('n_hello');
