-- src/notify/tables.sql: notifications over eight channels through a durable outbox: the
-- channels, templates, notifications, in-app inbox, addresses and preferences. See docs/notifications.md.
--
-- A notification is a row of dwc.notifications and a leased notify.deliver job, made in
-- the sender's transaction: both commit or neither does, and the queue's leases, retries,
-- backoff and dead letters carry the delivery through worker kills and restarts. Channels
-- (an SMTP server, a Slack/Teams/Discord webhook, a signed webhook, Twilio, Web Push,
-- in-app) are configured by administrators, their secrets stored encrypted; senders are
-- the roles a channel names. Rate limits space deliveries ahead of time (each message gets
-- its slot at send time), quiet hours defer them, preferences suppress them.

-- the kinds of events published here (notification.in_app, .failed): applications may not emit them
INSERT INTO dwc.event_sources (prefix, subsystem) VALUES ('notification', 'notify');

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
SELECT dwc._keep_seeds('dwc.notification_channels');
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
SELECT dwc._keep_seeds('dwc.notification_templates');
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
-- the outbox: what the Prometheus exposition counts at every scrape (src/metrics)
CREATE INDEX notifications_outbox ON dwc.notifications (channel) WHERE status IN ('queued', 'retrying');
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
