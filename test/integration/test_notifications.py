"""Notifications through real workers to loopback servers speaking each channel's protocol:
SMTP (aiosmtpd, STARTTLS and AUTH), Slack, Teams and Discord webhooks, a signed webhook,
Twilio's REST API, Web Push (decrypted and its VAPID token verified here), in-app; retries,
dead letters, preferences, quiet hours, rate limits, bulk sends, and a worker killed
mid-delivery."""
import base64
import hashlib
import hmac
import json
import os
import sys
import time
import uuid
from urllib.parse import parse_qs

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from conftest import IT_DB, one, q
from fakehttp import Reply

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "kit"))
from fakesmtp import FakeSMTP  # noqa: E402


def name(prefix):
    return "%s_%s" % (prefix, uuid.uuid4().hex[:8])


def status(conn, nid):
    return one(conn, "SELECT dwc.notification_status(%s)", (nid,))


def wait_status(conn, nid, wanted, timeout=20):
    deadline = time.time() + timeout
    while True:
        s = status(conn, nid)
        if s["status"] == wanted or time.time() > deadline:
            assert s["status"] == wanted, s
            return s
        time.sleep(0.05)


def channel(conn, cname, ctype, config=None, secret=None, **kw):
    extra = "".join(", %s => %%s" % k for k in kw)
    q(conn, "SELECT dwc.add_notification_channel(%%s, %%s, %%s, %%s%s)" % extra,
      (cname, ctype, json.dumps(config or {}), secret, *kw.values()))
    return cname


def user(conn, email=None):
    uname = name("u")
    return one(conn, "SELECT dwc.create_user(%s, 'tidy horse battery 42!', %s)->>'id'", (uname, email)), uname


def test_email_over_starttls_with_auth_and_html(db):
    smtp = FakeSMTP(starttls=True, users={"dwc": "s3cret"})
    try:
        ch = channel(db, name("mail"), "email", {"url": smtp.url, "from": "dwc <noreply@example.com>",
                                                 "username": "dwc", "ca_file": smtp.ca_file,
                                                 "message_id_domain": "example.com"}, "s3cret")
        tpl = name("tpl")
        q(db, "SELECT dwc.create_notification_template(%s, 'Hola {{name}}, {{what}}', 'Résumé for {{name}}', "
              "'<p>Hola {{name}}, {{what}}</p>')", (tpl,))
        nid = one(db, "SELECT dwc.notify(%s, 'ana@example.com', template => %s, vars => %s, priority => 'high')",
                  (ch, tpl, json.dumps({"name": "Ana", "what": "<b>5 & 6</b>"})))
        s = wait_status(db, nid, "delivered")
        assert s["attempts"] == 1 and s["response"]["code"] == 250, s
        (m,) = smtp.wait(1)
        assert m.tls and m.login == "dwc" and m.mail_from == "noreply@example.com" and m.rcpt_tos == ["ana@example.com"]
        msg = m.parsed()
        assert str(msg["Subject"]) == "Résumé for Ana"
        assert msg["Message-ID"] == "<notification-%d@example.com>" % nid
        assert msg["To"] == "ana@example.com" and msg["Importance"] == "high"
        text = msg.get_body(("plain",)).get_content()
        html = msg.get_body(("html",)).get_content()
        assert text.strip() == "Hola Ana, <b>5 & 6</b>"
        assert html.strip() == "<p>Hola Ana, &lt;b&gt;5 &amp; 6&lt;/b&gt;</p>"
    finally:
        smtp.close()


def test_email_retries_a_451_fails_on_a_550_and_refuses_an_untrusted_certificate(db):
    smtp = FakeSMTP(starttls=True)
    try:
        ch = channel(db, name("mail"), "email", {"url": smtp.url, "from": "noreply@example.com",
                                                 "ca_file": smtp.ca_file}, max_attempts=3)
        smtp.script(451, 250)
        nid = one(db, "SELECT dwc.notify(%s, 'a@example.com', 'S', 'B')", (ch,))
        s = wait_status(db, nid, "delivered", timeout=30)
        assert s["attempts"] == 2 and smtp.attempts == 2, s
        # a permanent refusal: no retry, the notification failed, an event says so
        smtp.script(550)
        nid = one(db, "SELECT dwc.notify(%s, 'gone@example.com', 'S', 'B')", (ch,))
        s = wait_status(db, nid, "failed")
        assert s["attempts"] == 1 and "550" in s["last_error"], s
        assert one(db, "SELECT count(*) FROM dwc.events WHERE kind = 'notification.failed' "
                       "AND subject = %s", ("notification:%d" % nid,)) == 1
        # without the CA, STARTTLS cannot verify the server: failed, and nothing sent in clear
        before = len(smtp.messages)
        q(db, "SELECT dwc.alter_notification_channel(%s, %s)",
          (ch, json.dumps({"config": {"url": smtp.url, "from": "noreply@example.com"}})))
        nid = one(db, "SELECT dwc.notify(%s, 'a@example.com', 'S', 'B')", (ch,))
        s = wait_status(db, nid, "failed")
        assert "certificate" in s["last_error"].lower() or "ssl" in s["last_error"].lower(), s
        assert len(smtp.messages) == before
    finally:
        smtp.close()


def test_slack_teams_discord_and_twilio_get_their_formats(db, fake_http):
    srv = fake_http()
    srv.route("POST", "/slack", Reply(200, "ok"))
    srv.route("POST", "/teams", Reply(202, ""))
    srv.route("POST", "/discord", Reply(200, {"id": "1"}))
    srv.route("POST", "/2010-04-01/Accounts/AC123/Messages.json", Reply(201, {"sid": "SM1", "status": "queued"}))
    sl = channel(db, name("slack"), "slack", secret=srv.url("/slack"))
    te = channel(db, name("teams"), "teams", secret=srv.url("/teams"))
    di = channel(db, name("discord"), "discord", secret=srv.url("/discord"))
    sm = channel(db, name("sms"), "sms", {"account_sid": "AC123", "from": "+15550001111", "base_url": srv.url("")},
                 "twilio-token")
    tpl = name("tpl")
    q(db, "SELECT dwc.create_notification_template(%s, 'Deploy of {{app}} <done> by @everyone *now*', 'Deploy')", (tpl,))
    ids = [one(db, "SELECT dwc.notify(%s, template => %s, vars => '{\"app\": \"a<b>&c\"}')", (c, tpl))
           for c in (sl, te, di)]
    ids.append(one(db, "SELECT dwc.notify(%s, '+34600111222', 'Code', 'Your code is 123456')", (sm,)))
    for nid in ids:
        wait_status(db, nid, "delivered")
    bodies = {r.path: r for r in srv.requests}
    slack = bodies["/slack"].json()
    assert slack["text"] == "*Deploy*\nDeploy of a&lt;b&gt;&amp;c <done> by @everyone *now*"
    assert slack["blocks"][0]["text"]["type"] == "mrkdwn"
    teams = bodies["/teams"].json()
    card = teams["attachments"][0]
    assert teams["type"] == "message" and card["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert card["content"]["type"] == "AdaptiveCard" and card["content"]["body"][0]["text"] == "Deploy"
    assert card["content"]["body"][1]["text"] == "Deploy of a\\<b\\>&c <done> by @everyone *now*"
    discord = bodies["/discord?wait=true"].json()   # wait=true: Discord answers with the message
    assert discord["allowed_mentions"] == {"parse": []}
    assert discord["content"] == "**Deploy**\nDeploy of a\\<b\\>&c <done> by @everyone *now*"
    tw = bodies["/2010-04-01/Accounts/AC123/Messages.json"]
    assert tw.headers["authorization"] == "Basic " + base64.b64encode(b"AC123:twilio-token").decode()
    assert tw.headers["content-type"] == "application/x-www-form-urlencoded"
    assert parse_qs(tw.body.decode()) == {"To": ["+34600111222"], "From": ["+15550001111"],
                                          "Body": ["Code\nYour code is 123456"]}
    assert status(db, ids[3])["response"]["status"] == 201


def test_signed_webhook_and_a_dead_letter_after_its_attempts(db, fake_http):
    srv = fake_http()
    srv.route("POST", "/hook", Reply(200, "ok"))
    srv.route("POST", "/down", Reply(503, "busy"))
    secret = "whsec-0123456789abcdef"
    ch = channel(db, name("hook"), "webhook", {"url": srv.url("/hook")}, secret)
    nid = one(db, "SELECT dwc.notify(%s, subject => 'S', body => 'B', data => '{\"k\": 1}')", (ch,))
    wait_status(db, nid, "delivered")
    (r,) = [r for r in srv.requests if r.path == "/hook"]
    ts = r.headers["x-dwc-timestamp"]
    want = "v1=" + hmac.new(secret.encode(), ts.encode() + b"." + r.body, hashlib.sha256).hexdigest()
    assert r.headers["x-dwc-signature"] == want
    assert r.headers["x-dwc-notification-id"] == str(nid)
    assert abs(int(ts) - time.time()) < 30
    assert r.json()["data"] == {"k": 1} and r.json()["id"] == nid
    # a 503 is retried with backoff; after max_attempts the job is dead and the notification failed
    down = channel(db, name("down"), "webhook", {"url": srv.url("/down")}, secret, max_attempts=2)
    nid = one(db, "SELECT dwc.notify(%s, body => 'B')", (down,))
    s = wait_status(db, nid, "failed", timeout=40)
    assert s["attempts"] == 2 and "HTTP 503" in s["last_error"], s
    assert srv.count("POST", "/down") == 2
    assert one(db, "SELECT count(*) FROM dwc.events WHERE kind = 'notification.failed' AND subject = %s",
               ("notification:%d" % nid,)) == 1


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def unb64u(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def push_service(ua_key, auth, vapid_public, seen):
    """A push service's endpoint: checks the VAPID token, decrypts the RFC 8291 body."""
    def handle(req):
        auth_header = req.headers["authorization"]
        assert auth_header.startswith("vapid t=")
        token, k = auth_header[len("vapid t="):].split(", k=")
        assert k == vapid_public
        h, c, sig = token.split(".")
        claims = json.loads(unb64u(c))
        pub = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64u(k))
        raw = unb64u(sig)
        pub.verify(encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")),
                   (h + "." + c).encode(), ec.ECDSA(hashes.SHA256()))
        body = req.body
        salt, rs, idlen = body[:16], int.from_bytes(body[16:20], "big"), body[20]
        as_pub = body[21:21 + idlen]
        ciphertext = body[21 + idlen:]
        secret = ua_key.exchange(ec.ECDH(), ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), as_pub))
        ua_pub = ua_key.public_key().public_bytes(serialization.Encoding.X962,
                                                  serialization.PublicFormat.UncompressedPoint)
        ikm = HKDF(hashes.SHA256(), 32, auth, b"WebPush: info\x00" + ua_pub + as_pub).derive(secret)
        cek = HKDF(hashes.SHA256(), 16, salt, b"Content-Encoding: aes128gcm\x00").derive(ikm)
        nonce = HKDF(hashes.SHA256(), 12, salt, b"Content-Encoding: nonce\x00").derive(ikm)
        plain = AESGCM(cek).decrypt(nonce, ciphertext, None)
        assert plain.endswith(b"\x02") and rs == 4096
        seen.append({"claims": claims, "payload": json.loads(plain[:-1]), "headers": req.headers})
        return Reply(201, "")
    return handle


def test_web_push_is_encrypted_and_vapid_signed_and_a_gone_subscription_is_dropped(db, fake_http):
    srv = fake_http()
    keys = one(db, "SELECT dwc.generate_vapid_keys()")
    ua_key = ec.generate_private_key(ec.SECP256R1())
    auth = os.urandom(16)
    seen = []
    srv.route("POST", "/push/abc", push_service(ua_key, auth, keys["public_key"], seen))
    srv.route("POST", "/push/gone", Reply(410, ""))
    ch = channel(db, name("push"), "push", {"vapid_public_key": keys["public_key"], "subject": "mailto:ops@example.com"},
                 keys["private_key"])
    uid, _ = user(db)
    ua_pub = ua_key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    sub = {"endpoint": srv.url("/push/abc"), "keys": {"p256dh": b64u(ua_pub), "auth": b64u(auth)},
           "expirationTime": None}
    q(db, "SELECT dwc.add_notification_address('push', %s, %s)", (json.dumps(sub), uid))
    nid = one(db, "SELECT dwc.notify(%s, subject => 'Title', body => 'Ünïcode body', user_id => %s, priority => 'high')",
              (ch, uid))
    wait_status(db, nid, "delivered")
    (p,) = seen
    assert p["payload"]["title"] == "Title" and p["payload"]["body"] == "Ünïcode body" and p["payload"]["id"] == nid
    assert p["claims"]["aud"] == srv.url("").rstrip("/") and p["claims"]["sub"] == "mailto:ops@example.com"
    assert p["claims"]["exp"] > time.time() and p["headers"]["urgency"] == "high"
    assert p["headers"]["content-encoding"] == "aes128gcm" and p["headers"]["ttl"] == "86400"
    # 410 Gone: the subscription is forgotten, the notification failed (no retry)
    gone = dict(sub, endpoint=srv.url("/push/gone"))
    q(db, "SELECT dwc.add_notification_address('push', %s, %s)", (json.dumps(gone), uid))
    ids = one(db, "SELECT dwc.notify_many(%s, %s, 'T', 'B')", (ch, json.dumps([{"user_id": uid}])))["ids"]
    assert len(ids) == 2
    for nid in ids:
        s = status(db, nid)
        deadline = time.time() + 20
        while s["status"] in ("queued", "retrying") and time.time() < deadline:
            time.sleep(0.05)
            s = status(db, nid)
    assert sorted(status(db, n)["status"] for n in ids) == ["delivered", "failed"]
    assert one(db, "SELECT count(*) FROM dwc.notification_addresses WHERE user_id = %s AND type = 'push'", (uid,)) == 1


def test_in_app_preferences_quiet_hours_urgent_and_bulk(db):
    q(db, "SELECT dwc.alter_notification_channel('in_app', '{\"senders\": [\"PUBLIC\"]}')")
    try:
        u1, _ = user(db)
        u2, _ = user(db)
        u3, _ = user(db)
        # u2 turned in-app off; u3 is in quiet hours all day long but one minute
        q(db, "SELECT dwc.set_notification_preference('in_app', false, user_id => %s)", (u2,))
        q(db, "SELECT dwc.set_notification_preference('*', true, (now() AT TIME ZONE 'UTC' - interval '1 minute')::time, "
              "(now() AT TIME ZONE 'UTC' - interval '2 minutes')::time, 'UTC', %s)", (u3,))
        r = one(db, "SELECT dwc.notify_many('in_app', %s, 'Hi', 'Hello {{x}}')",
                (json.dumps([{"user_id": u1}, {"user_id": u2}, {"user_id": u3}]),))
        assert r["count"] == 3 and r["bulk_id"] is not None
        n1, n2, n3 = r["ids"]
        wait_status(db, n1, "delivered")
        assert status(db, n2)["status"] == "suppressed"
        # in-app messages do not wait for quiet hours (they make no sound)
        wait_status(db, n3, "delivered")
        assert one(db, "SELECT count(*) FROM dwc.inbox WHERE user_id = %s AND notification_id = %s", (u1, n1)) == 1
        assert one(db, "SELECT count(*) FROM dwc.events WHERE kind = 'notification.in_app' AND owner_user = %s", (u1,)) == 1
        # an urgent message passes the user's opt-out
        nid = one(db, "SELECT dwc.notify('in_app', subject => 'Alert', body => 'B', user_id => %s, priority => 'urgent')", (u2,))
        wait_status(db, nid, "delivered")
    finally:
        q(db, "SELECT dwc.alter_notification_channel('in_app', '{\"senders\": []}')")


def test_quiet_hours_defer_email_and_rate_limits_space_deliveries(db, fake_http):
    smtp = FakeSMTP()
    srv = fake_http()
    srv.route("POST", "/hook", Reply(200, "ok"))
    try:
        ch = channel(db, name("mail"), "email", {"url": smtp.url, "from": "noreply@example.com", "tls": "none"})
        uid, _ = user(db, "%s@example.com" % name("q"))
        q(db, "SELECT dwc.set_notification_preference('email', true, (now() AT TIME ZONE 'Europe/Madrid' - interval '1 hour')::time, "
              "(now() AT TIME ZONE 'Europe/Madrid' + interval '2 hours')::time, 'Europe/Madrid', %s)", (uid,))
        nid = one(db, "SELECT dwc.notify(%s, subject => 'Later', body => 'B', user_id => %s)", (ch, uid))
        s = status(db, nid)
        wait = one(db, "SELECT extract(epoch FROM %s::timestamptz - now())", (s["send_after"],))
        assert 7000 < wait <= 7200, s
        # high priority is not held
        nid = one(db, "SELECT dwc.notify(%s, subject => 'Now', body => 'B', user_id => %s, priority => 'high')", (ch, uid))
        wait_status(db, nid, "delivered")
        # 120 a minute, no burst: a slot every half second
        hook = channel(db, name("hook"), "webhook", {"url": srv.url("/hook")}, "whsec-0123456789abcdef",
                       rate_per_minute=120)
        ids = one(db, "SELECT dwc.notify_many(%s, '[null, null, null, null]', body => 'B')", (hook,))["ids"]
        for nid in ids:
            wait_status(db, nid, "delivered")
        rows = [q(db, "SELECT send_after, delivered_at FROM dwc.notifications WHERE id = %s", (n,))[0] for n in ids]
        gaps = [(b[0] - a[0]).total_seconds() for a, b in zip(rows, rows[1:])]
        assert gaps == [0.5, 0.5, 0.5], gaps
        # and the queue held each until its slot
        assert all(d >= s for s, d in rows), rows
    finally:
        smtp.close()


def test_automation_action_and_workflow_step_notify(db, fake_http):
    srv = fake_http()
    srv.route("POST", "/hook", Reply(200, "ok"))
    ch = channel(db, name("hook"), "webhook", {"url": srv.url("/hook")}, "whsec-0123456789abcdef", senders=["PUBLIC"])
    aname = name("auto")
    q(db, "SELECT dwc.create_automation(%s, 'api', '{}', %s)",
      (aname, json.dumps([{"type": "notify", "channel": ch, "subject": "Order {{data.order}}", "body": "Total {{data.total}}"}])))
    q(db, "SELECT dwc.run_automation(%s, '{\"order\": 7, \"total\": \"9.50\"}')", (aname,))
    deadline = time.time() + 20
    while srv.count("POST", "/hook") < 1 and time.time() < deadline:
        time.sleep(0.05)
    (r,) = srv.requests
    assert r.json()["subject"] == "Order 7" and r.json()["body"] == "Total 9.50"
    wname = name("wf")
    q(db, "SELECT dwc.create_ai_workflow(%s, %s)",
      (wname, json.dumps([{"id": "tell", "type": "notify", "channel": ch, "body": "Run for {{input.who}}"}])))
    q(db, "SELECT dwc.run_ai_workflow(%s, '{\"who\": \"Ana\"}')", (wname,))
    deadline = time.time() + 20
    while srv.count("POST", "/hook") < 2 and time.time() < deadline:
        time.sleep(0.05)
    assert srv.requests[1].json()["body"] == "Run for Ana"


def test_a_delivery_survives_a_worker_killed_mid_send(make_cluster):
    c = make_cluster()
    smtp = FakeSMTP()
    try:
        conn = c.connect(IT_DB)
        ch = channel(conn, "mail", "email", {"url": smtp.url, "from": "noreply@example.com", "tls": "none"})
        smtp.delay = 2.0
        nid = one(conn, "SELECT dwc.notify(%s, 'a@example.com', 'S', 'B')", (ch,))
        c.wait_for("SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'dwc job worker' "
                   "AND query = 'dwc: leased job' AND state = 'active'", dbname=IT_DB, timeout=10)
        time.sleep(0.5)
        pid = one(conn, "SELECT pid FROM pg_stat_activity WHERE backend_type = 'dwc job worker' "
                        "AND query = 'dwc: leased job' AND state = 'active'")
        conn.close()
        c.kill9(pid)
        smtp.delay = 0.0
        c.wait_for("SELECT status = 'delivered' FROM dwc.notifications WHERE id = %s", (nid,), dbname=IT_DB, timeout=60)
        # at least once: the killed attempt may have reached the server; every copy has the same Message-ID
        ids = {m.parsed()["Message-ID"] for m in smtp.messages}
        assert len(smtp.messages) >= 1 and ids == {"<notification-%d@dwc.invalid>" % nid}
    finally:
        smtp.close()


def test_refusals(db):
    cases = [
        ("SELECT dwc.add_notification_channel('x1', 'pager')", "unknown notification channel type"),
        ("SELECT dwc.add_notification_channel('x2', 'email', '{\"url\": \"http://h\", \"from\": \"a@b.c\"}')", "smtp://"),
        ("SELECT dwc.add_notification_channel('x3', 'webhook', '{\"url\": \"http://h\"}', 'short')", "signing secret"),
        ("SELECT dwc.add_notification_channel('x4', 'slack', '{}', 'not a url')", "incoming webhook URL"),
        ("SELECT dwc.notify('nope', 'a@b.c', 'x', 'y')", "does not exist or you may not send"),
        ("SELECT dwc.notify('in_app', 'a@b.c', 'x', 'y')", "in-app notifications go to users"),
        ("SELECT dwc.notify('in_app', user_id => '1', body => 'x', priority => 'loud')", "priority must be"),
    ]
    for sql, msg in cases:
        try:
            q(db, sql)
        except Exception as e:  # noqa: BLE001
            assert msg in str(e), (sql, str(e))
        else:
            raise AssertionError("no error: " + sql)


def test_nothing_is_lost_across_an_immediate_restart(make_cluster, fake_http):
    c = make_cluster()
    srv = fake_http()
    srv.route("POST", "/hook", Reply(200, "ok", delay=0.2))
    conn = c.connect(IT_DB)
    channel(conn, "hook", "webhook", {"url": srv.url("/hook")}, "whsec-0123456789abcdef")
    ids = one(conn, "SELECT dwc.notify_many('hook', %s, body => 'B')", (json.dumps([None] * 20),))["ids"]
    conn.close()
    time.sleep(0.5)     # some delivered, some in flight, most queued
    c.restart(mode="immediate")
    c.wait_for("SELECT count(*) = 20 FROM dwc.notifications WHERE status = 'delivered'", dbname=IT_DB, timeout=60)
    # every one reached the sink, at least once (a delivery in flight at the crash is repeated)
    got = {int(r.headers["x-dwc-notification-id"]) for r in srv.requests}
    assert got == set(ids)


def test_a_lockout_is_emailed_to_the_user(make_cluster):
    smtp = FakeSMTP()
    c = make_cluster(settings={"dwc.security_alert_channel": "'alerts'", "dwc.login_max_failures": "3"})
    try:
        conn = c.connect(IT_DB)
        channel(conn, "alerts", "email", {"url": smtp.url, "from": "security@example.com", "tls": "none"})
        uid, uname = user(conn, "victim@example.com")
        for _ in range(3):
            try:
                q(conn, "SELECT dwc.login(%s, 'wrong password, sorry')", (uname,))
            except Exception:  # noqa: BLE001 - each failure raises (401), the lockout is what counts
                pass
        (m,) = smtp.wait(1, timeout=30)
        msg = m.parsed()
        assert m.rcpt_tos == ["victim@example.com"] and str(msg["Subject"]) == "Your account was locked"
        assert uname in msg.get_body(("plain",)).get_content()
        n = q(conn, "SELECT priority, status, template FROM dwc.notifications WHERE user_id = %s", (uid,))
        assert n == [("urgent", "delivered", "security_account_locked")], n
        conn.close()
    finally:
        smtp.close()


def test_a_forgotten_password_is_reset_by_email(make_cluster):
    smtp = FakeSMTP()
    c = make_cluster(settings={"dwc.security_alert_channel": "'alerts'"})
    try:
        conn = c.connect(IT_DB)
        channel(conn, "alerts", "email", {"url": smtp.url, "from": "security@example.com", "tls": "none"})
        uid, uname = user(conn, "forgetful@example.com")
        session = one(conn, "SELECT dwc.login(%s, 'tidy horse battery 42!')", (uname,))
        # an unknown address gets the same (empty) answer, and no mail
        q(conn, "SELECT dwc.request_password_reset('nobody@example.com')")
        q(conn, "SELECT dwc.request_password_reset('Forgetful@Example.com')")
        (m,) = smtp.wait(1)
        assert m.rcpt_tos == ["forgetful@example.com"]
        body = m.parsed().get_body(("plain",)).get_content()
        code = [ln.strip() for ln in body.splitlines() if len(ln.strip()) == 43][0]
        # the policy applies to the new password
        for bad in ("short", None):
            try:
                q(conn, "SELECT dwc.reset_password(%s, %s)", (code, bad))
                raise AssertionError("accepted %r" % bad)
            except Exception as e:  # noqa: BLE001
                assert "password" in str(e), e
        assert one(conn, "SELECT dwc.reset_password(%s, 'a whole new horse 77!')", (code,)) is True
        assert one(conn, "SELECT dwc.login(%s, 'a whole new horse 77!')", (uname,))["access_token"]
        # one use only
        try:
            q(conn, "SELECT dwc.reset_password(%s, 'another new horse 88!')", (code,))
            raise AssertionError("a code was used twice")
        except Exception as e:  # noqa: BLE001
            assert "invalid or expired password reset code" in str(e), e
        # the session from before the reset is over: its refresh token is refused
        refreshed = one(conn, "SELECT dwc.refresh_session(%s)", (session["refresh_token"],))
        assert "access_token" not in refreshed and refreshed.get("error"), refreshed
        # at most 3 requests an hour per account
        for _ in range(4):
            q(conn, "SELECT dwc.request_password_reset('forgetful@example.com')")
        time.sleep(1.0)
        assert one(conn, "SELECT count(*) FROM dwc.password_resets WHERE user_id = %s", (uid,)) == 3
        conn.close()
    finally:
        smtp.close()


def test_a_killed_postmaster_repeats_at_most_the_deliveries_in_flight(make_cluster, fake_http):
    """kill -9 of the postmaster while 500 webhooks are being delivered: the workers notice
    between deliveries and inside the HTTP call, record what they delivered durably and exit;
    after the restart every notification is delivered, and no more are sent twice than were
    in flight at the kill (one per job worker)."""
    workers = 2
    c = make_cluster(settings={"dwc.job_workers": str(workers)})
    srv = fake_http()
    srv.route("POST", "/hook", Reply(200, "ok"))
    conn = c.connect(IT_DB)
    channel(conn, "hook", "webhook", {"url": srv.url("/hook")}, "whsec-0123456789abcdef")
    ids = one(conn, "SELECT dwc.notify_many('hook', %s, body => 'B')", (json.dumps([None] * 500),))["ids"]
    conn.close()
    deadline = time.time() + 60
    while len(srv.requests) < 100:          # well under way
        assert time.time() < deadline, len(srv.requests)
        time.sleep(0.01)
    c.kill9_postmaster()
    sent_before_restart = len(srv.requests)
    c.start()
    c.wait_for("SELECT count(*) = 500 FROM dwc.notifications WHERE status = 'delivered'", dbname=IT_DB, timeout=120)
    got = [int(r.headers["x-dwc-notification-id"]) for r in srv.requests]
    assert set(got) == set(ids)
    duplicates = len(got) - len(set(got))
    assert duplicates <= workers, (duplicates, sent_before_restart)


def test_a_clean_shutdown_repeats_no_delivery(make_cluster, fake_http):
    """pg_ctl stop -m fast (a restart, a planned switchover) while webhooks are delivered, each
    answered after 100 ms, so that one is in flight at every moment: the job workers let the
    deliveries in flight finish, record what they delivered and give back the rest; after the
    restart every notification is delivered, and none twice (dwc.shutdown_grace)."""
    c = make_cluster(settings={"dwc.job_workers": "2"})
    srv = fake_http()
    srv.route("POST", "/hook", Reply(200, "ok", delay=0.1))
    conn = c.connect(IT_DB)
    channel(conn, "hook", "webhook", {"url": srv.url("/hook")}, "whsec-0123456789abcdef")
    ids = one(conn, "SELECT dwc.notify_many('hook', %s, body => 'B')", (json.dumps([None] * 60),))["ids"]
    conn.close()
    deadline = time.time() + 60
    while len(srv.requests) < 10:          # under way
        assert time.time() < deadline, len(srv.requests)
        time.sleep(0.01)
    c.stop("fast")
    assert "dwc job worker stopping" in c.log_text()
    c.start()
    c.wait_for("SELECT count(*) = 60 FROM dwc.notifications WHERE status = 'delivered'", dbname=IT_DB, timeout=120)
    got = [int(r.headers["x-dwc-notification-id"]) for r in srv.requests]
    assert set(got) == set(ids)
    assert len(got) == len(set(got)), sorted(k for k in set(got) if got.count(k) > 1)

