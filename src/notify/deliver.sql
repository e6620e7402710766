-- src/notify/deliver.sql: delivering: the notify.deliver job handler, each channel's wire
-- format, how deliveries end, and retention.

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
        PERFORM dwc._publish(jsonb_build_array(jsonb_build_object(
                   'kind', 'notification.in_app', 'subject', 'notification:' || n.id,
                   'payload', jsonb_build_object('notification_id', n.id, 'subject', n.subject, 'priority', n.priority),
                   'owner', n.owner, 'owner_user', n.user_id)));
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
        PERFORM dwc._publish(jsonb_build_array(jsonb_build_object(
                   'kind', 'notification.failed', 'subject', 'notification:' || n.id,
                   'payload', jsonb_build_object('notification_id', n.id, 'channel', n.channel,
                                                 'error', coalesce(r->>'error', 'HTTP ' || (r->>'status'))),
                   'owner', n.owner, 'owner_user', n.owner_user)));
    END IF;
    -- a permanent failure ends the job without retries ({"ok": false}), keeping what is written here
    RETURN jsonb_build_object('ok', ok, 'notification_id', n.id) || CASE WHEN ok THEN '{}' ELSE jsonb_build_object('error', r->>'error') END;
END;
$$;
COMMENT ON FUNCTION dwc._job_notify_deliver(pg_catalog.jsonb) IS
  'Private: handler of notify.deliver jobs ({"id"}): delivers the notification through its channel and records '
  'its state; transient failures raise, so the queue retries with backoff.';
GRANT EXECUTE ON FUNCTION dwc._job_notify_deliver(pg_catalog.jsonb) TO PUBLIC;

-- ---- outcomes, told by the queue (src/queue/outcomes.sql) ----------------------------------

-- a failed attempt to be retried: recorded on the notification (the attempt's own writes
-- rolled back)
CREATE FUNCTION dwc._notify_retried(job dwc.jobs) RETURNS void
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    UPDATE dwc.notifications SET attempts = job.attempts, last_error = job.last_error, status = 'retrying'
     WHERE id = (job.payload->>'id')::int8 AND job_id = job.id AND status IN ('queued', 'retrying');
END;
COMMENT ON FUNCTION dwc._notify_retried(dwc.jobs) IS
  'Private: on_retry hook of notify.deliver: the notification is retrying, with the attempt''s error.';

-- deliveries whose job died (attempts exhausted) or was cancelled
CREATE FUNCTION dwc._notify_jobs_ended(jobs dwc.job_history[]) RETURNS void
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    WITH ended AS (
        UPDATE dwc.notifications n
           SET status = CASE a.status WHEN 'dead' THEN 'failed' ELSE 'cancelled' END,
               attempts = greatest(n.attempts, a.attempts),
               last_error = coalesce(a.last_error, a.result->>'error', n.last_error), finished_at = clock_timestamp()
          FROM unnest(jobs) a
         WHERE a.status IN ('dead', 'cancelled') AND n.id = (a.payload->>'id')::int8
           AND n.job_id = a.id AND n.status IN ('queued', 'retrying')
        RETURNING n.*)
    SELECT dwc._publish(jsonb_agg(jsonb_build_object(
               'kind', 'notification.failed', 'subject', 'notification:' || e.id,
               'payload', jsonb_build_object('notification_id', e.id, 'channel', e.channel, 'attempts', e.attempts,
                                             'error', e.last_error),
               'owner', e.owner, 'owner_user', e.owner_user) ORDER BY e.id))
      FROM ended e WHERE e.status = 'failed';
END;
COMMENT ON FUNCTION dwc._notify_jobs_ended(dwc.job_history[]) IS
  'Private: on_end hook of notify.deliver: a delivery whose job died failed (with an event), a cancelled one is cancelled.';

SELECT dwc.register_job_kind('notify.deliver', 'dwc._job_notify_deliver(pg_catalog.jsonb)',
                             'Delivers a notification ({"id"}) through its channel.', interval '2 minutes', 5, true,
                             on_retry => 'dwc._notify_retried(dwc.jobs)',
                             on_end => 'dwc._notify_jobs_ended(dwc.job_history[])');

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
