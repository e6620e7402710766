"""Identity, tokens, MFA, API keys, rate limits and RLS, through PostgREST's contract
(test/kit/postgrest.py replays its per-request transaction)."""
import base64
import hashlib
import hmac
import json
import struct
import time
import uuid

import psycopg2
import pytest

from conftest import IT_DB, one, q

PASSWORD = "Tide-Pool-42!x"


def new_user(rest, role="dwc_user"):
    name = "u%s" % uuid.uuid4().hex[:10]
    if role == "dwc_user":
        status, body = rest.rpc("register", {"username": name, "password": PASSWORD})
    else:
        status, body = 200, one(rest.conn, "SELECT dwc.create_user(%s, %s, role => %s)", (name, PASSWORD, role))
    assert status == 200, body
    return name, body["id"]


def login(rest, name, password=PASSWORD, otp=None):
    args = {"username": name, "password": password}
    if otp is not None:
        args["otp"] = otp
    return rest.rpc("login", args)


def token_of(rest, name):
    status, body = login(rest, name)
    assert status == 200, body
    return body["access_token"]


def totp(secret_b32, at=None, step=30, digits=6):
    """RFC 6238 TOTP, written here independently of dwc's C code."""
    key = base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8))
    counter = int((time.time() if at is None else at) // step)
    mac = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    off = mac[-1] & 0x0F
    code = (struct.unpack(">I", mac[off:off + 4])[0] & 0x7FFFFFFF) % 10 ** digits
    return str(code).zfill(digits)


def events(cluster, event, user_id=None, until=bool, timeout=30):
    """Security events of a kind, once until(rows) holds. They reach the table through the
    maintenance worker, within a second on a quiet machine; on a busy one its other tasks can
    hold it up for seconds, so the wait is for the rows, bounded generously."""
    deadline = time.time() + timeout
    while True:
        rows = q(cluster.connect(IT_DB), "SELECT severity, detail FROM dwc.security_events WHERE event = %s "
                                         "AND (%s::text IS NULL OR user_id = %s) ORDER BY id", (event, user_id, user_id))
        if until(rows) or time.time() > deadline:
            return rows
        time.sleep(0.1)


# ---- sign-in, tokens, sessions -------------------------------------------------------------

def test_login_token_then_authorised_call(rest):
    name, uid = new_user(rest)
    status, body = login(rest, name)
    assert status == 200 and body["token_type"] == "bearer" and body["user"]["id"] == uid
    claims = rest.verify(body["access_token"])        # PostgREST's own check of dwc's token
    assert claims["sub"] == uid and claims["role"] == "dwc_user" and claims["aud"] == "dwc"
    assert claims["exp"] - claims["iat"] == 900 and uuid.UUID(claims["jti"])
    status, me = rest.rpc("me", token=body["access_token"], get=True)
    assert status == 200 and me["username"] == name


def test_anonymous_and_bad_tokens_are_rejected(rest):
    status, body = rest.rpc("me", get=True)
    assert status == 401 and "needs a signed-in user" in body["message"]
    name, _ = new_user(rest)
    good = token_of(rest, name)
    h, p, s = good.split(".")
    claims = json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))
    claims["role"] = "dwc_admin"
    forged = h + "." + base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=") + "." + s
    assert rest.rpc("me", token=forged)[0] == 401
    with pytest.raises(psycopg2.Error) as ei:
        one(rest.conn, "SELECT dwc.jwt_verify(%s)", (forged,))
    assert ei.value.pgcode == "28P01" and "signature" in ei.value.diag.message_detail
    expired = one(rest.conn, "SELECT dwc.jwt_sign(jsonb_build_object('role', 'dwc_user', 'sub', %s::text, "
                             "'aud', 'dwc', 'exp', extract(epoch FROM now())::int8 - 3600))", (claims["sub"],))
    assert rest.rpc("me", token=expired)[0] == 401
    with pytest.raises(psycopg2.Error) as ei:
        one(rest.conn, "SELECT dwc.jwt_verify(%s)", (expired,))
    assert ei.value.diag.message_primary == "token expired"
    none_alg = (base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').decode().rstrip("=") + "." + p + ".")
    with pytest.raises(psycopg2.Error) as ei:
        one(rest.conn, "SELECT dwc.jwt_verify(%s)", (none_alg,))
    assert "Only HS256" in ei.value.diag.message_detail
    other_aud = one(rest.conn, "SELECT dwc.jwt_sign('{\"aud\": \"elsewhere\", \"role\": \"dwc_user\"}')")
    with pytest.raises(psycopg2.Error) as ei:
        one(rest.conn, "SELECT dwc.jwt_verify(%s)", (other_aud,))
    assert "audience" in ei.value.diag.message_detail


def test_errors_carry_the_right_status(rest):
    name, _ = new_user(rest)
    tok = token_of(rest, name)
    assert rest.rpc("register", {"username": name, "password": PASSWORD})[0] == 409
    status, body = rest.rpc("register", {"username": "x" + name, "password": "short"})
    assert status == 400 and "policy" in body["message"] and "characters" in body["details"]
    assert rest.rpc("get_workflow", {"id": 987654321}, token=tok, get=True)[0] == 404
    wid = rest.rpc("create_workflow", {"name": "s", "initial_prompt": "Write about rain."}, token=tok)[1]["id"]
    assert rest.rpc("update_workflow", {"id": wid, "status": "completed"}, token=tok)[0] == 200
    assert rest.rpc("add_workflow_node", {"id": wid}, token=tok)[0] == 409          # completed: 55000
    assert rest.rpc("list_users", token=tok, get=True)[0] == 403                     # admin only
    # a volatile function through GET runs read-only, as in PostgREST, and fails
    assert rest.rpc("create_workflow", {"name": "g", "initial_prompt": "x y z"}, token=tok, get=True)[0] == 405
    assert rest.rpc("change_password", {"current_password": "wrong", "new_password": PASSWORD + "2"},
                    token=tok)[0] == 401


def test_brute_force_locks_the_account(cluster, rest):
    name, uid = new_user(rest)
    for i in range(4):
        status, body = login(rest, name, "wrong password %d" % i)
        assert status == 401 and body["error"] == "invalid_credentials"
    status, body = login(rest, name, "wrong again")
    assert status == 403 and body["error"] == "account_locked"
    status, body = login(rest, name)                      # the right password does not help now
    assert status == 403 and body["error"] == "account_locked"
    assert events(cluster, "account_locked", uid)[0][0] == "critical"
    assert len(events(cluster, "login_failure", uid, until=lambda rows: len(rows) >= 5)) == 5
    summary = one(rest.conn, "SELECT dwc.security_summary()")
    assert any(a["id"] == uid for a in summary["locked_accounts"])
    q(rest.conn, "SELECT dwc.set_user_status(%s, 'active')", (uid,))    # an administrator unlocks it
    assert login(rest, name)[0] == 200
    # an unknown user answers like a wrong password
    status, body = login(rest, "nobody-" + name)
    assert status == 401 and body["error"] == "invalid_credentials"


def test_refresh_rotation_and_reuse_detection(cluster, rest):
    name, uid = new_user(rest)
    _, first = login(rest, name)
    status, second = rest.rpc("refresh_token", {"refresh_token": first["refresh_token"]})
    assert status == 200 and second["refresh_token"] != first["refresh_token"]
    assert rest.verify(second["access_token"])["sub"] == uid
    # the first token comes back: stolen; the whole session ends
    status, body = rest.rpc("refresh_token", {"refresh_token": first["refresh_token"]})
    assert status == 401 and body["error"] == "token_reused"
    status, body = rest.rpc("refresh_token", {"refresh_token": second["refresh_token"]})
    assert status == 401 and body["error"] == "token_revoked"
    assert events(cluster, "refresh_token_reuse", uid)[0][0] == "critical"
    # sessions and logout
    _, s1 = login(rest, name)
    _, s2 = login(rest, name)
    status, sessions = rest.rpc("list_sessions", token=s1["access_token"], get=True)
    assert status == 200 and len(sessions) == 2 and sessions[0]["address"] == "203.0.113.7"
    assert rest.rpc("logout", {"refresh_token": s2["refresh_token"]})[1] is True
    assert len(rest.rpc("list_sessions", token=s1["access_token"], get=True)[1]) == 1
    assert rest.rpc("refresh_token", {"refresh_token": s2["refresh_token"]})[0] == 401
    assert rest.rpc("revoke_session", {}, token=s1["access_token"])[1] == 1


def test_mfa_totp_with_replay_protection_and_recovery_codes(rest):
    name, uid = new_user(rest)
    tok = token_of(rest, name)
    status, enrol = rest.rpc("mfa_enroll", token=tok)
    assert status == 200 and enrol["otpauth_uri"].startswith("otpauth://totp/dwc:%s?secret=%s" % (name, enrol["secret"]))
    assert rest.rpc("mfa_confirm", {"code": "000000" if totp(enrol["secret"]) != "000000" else "111111"},
                    token=tok)[0] == 401
    status, conf = rest.rpc("mfa_confirm", {"code": totp(enrol["secret"])}, token=tok)
    assert status == 200 and len(conf["recovery_codes"]) == 10
    status, body = login(rest, name)
    assert status == 401 and body["error"] == "mfa_required"
    # the code just used for confirmation is spent: wait for the next step
    code = totp(enrol["secret"])
    status, body = login(rest, name, otp=code)
    if status == 200:
        pytest.fail("a TOTP code was accepted twice")
    time.sleep(30 - time.time() % 30 + 0.2)
    code = totp(enrol["secret"])
    status, body = login(rest, name, otp=code)
    assert status == 200, body
    assert rest.verify(body["access_token"])["amr"] == ["pwd", "otp"]
    status, body = login(rest, name, otp=code)            # replay of the same code
    assert status == 401
    rc = conf["recovery_codes"][0]
    status, body = login(rest, name, otp=rc.upper())
    assert status == 200 and rest.verify(body["access_token"])["amr"] == ["pwd", "recovery_code"]
    assert login(rest, name, otp=rc)[0] == 401            # used once
    secret_stored = one(rest.conn, "SELECT mfa_secret FROM dwc.users WHERE id = %s", (uid,))
    assert enrol["secret"].encode() not in bytes(secret_stored)


# ---- API keys and rate limits --------------------------------------------------------------

def test_api_keys_scopes_and_revocation(cluster, rest):
    name, uid = new_user(rest)
    tok = token_of(rest, name)
    status, key = rest.rpc("create_api_key", {"name": "ci", "scopes": ["workflows:read"]}, token=tok)
    assert status == 200 and key["key"].startswith("dwc_%s_" % key["prefix"])
    rest.rpc("create_workflow", {"name": "k", "initial_prompt": "Write about kites."}, token=tok)
    status, listed = rest.rpc("list_workflows", api_key=key["key"], get=True)
    assert status == 200 and [w["name"] for w in listed] == ["k"]
    status, body = rest.rpc("create_workflow", {"name": "no", "initial_prompt": "x"}, api_key=key["key"])
    assert status == 401 and "may not call" in body["message"]      # anonymous role: 401
    assert rest.rpc("me", api_key=key["key"])[0] == 401                # account scope missing
    stored = q(rest.conn, "SELECT key_hash, prefix FROM dwc.api_keys WHERE id = %s", (key["id"],))[0]
    assert bytes(stored[0]) == hashlib.sha256(key["key"].encode()).digest() and stored[1] == key["prefix"]
    listing = rest.rpc("list_api_keys", token=tok, get=True)[1]
    assert "key" not in listing[0] and listing[0]["prefix"] == key["prefix"]
    assert rest.rpc("revoke_api_key", {"id": key["id"]}, token=tok)[1] is True
    status, body = rest.rpc("list_workflows", api_key=key["key"], get=True)
    assert status == 401 and body["message"] == "invalid API key"
    assert rest.rpc("list_workflows", api_key=key["key"][:-2] + "xx", get=True)[0] == 401
    revoked = lambda rows: any(d["reason"] == "revoked" for _, d in rows)  # noqa: E731
    assert revoked(events(cluster, "api_key_invalid", uid, until=revoked))
    other, _ = new_user(rest)
    assert rest.rpc("revoke_api_key", {"id": key["id"]}, token=token_of(rest, other))[0] == 404


def test_rate_limit_answers_429_and_records_it(cluster, rest):
    name, uid = new_user(rest)
    tok = token_of(rest, name)
    q(rest.conn, "SELECT dwc.set_rate_limit('user', %s, 2, 3)", (uid,))
    statuses = [rest.rpc("me", token=tok, get=True)[0] for _ in range(6)]
    assert statuses[:3] == [200, 200, 200] and 429 in statuses[3:]
    status, body = rest.rpc("me", token=tok, get=True)
    assert status == 429 and body["code"] == "PT429" and "Retry in" in body["hint"]
    time.sleep(1.1)
    assert rest.rpc("me", token=tok, get=True)[0] == 200
    assert events(cluster, "rate_limited", uid)[0][1]["limit_per_second"] == 2
    # anonymous requests are limited per client address
    q(rest.conn, "SELECT dwc.set_rate_limit('address', '198.51.100.9', 1, 1)")
    hdr = {"x-forwarded-for": "198.51.100.9"}
    assert [rest.rpc("health", headers=hdr, get=True)[0] for _ in range(2)] == [200, 429]
    assert rest.rpc("health", headers={"x-forwarded-for": "198.51.100.10"}, get=True)[0] == 200


def test_rate_limit_holds_under_concurrent_clients(cluster):
    """4 pgbench clients hammer one key limited to 100/s: never more than 110 admitted in a
    second; and no fewer than 90 in a second when the clients asked at least twice as often as
    the limit (on a busy machine they may not: then only the ceiling is checked)."""
    import os
    import pathlib
    import subprocess
    import tempfile
    from cluster import as_owner, pg_bindir
    tmp_path = pathlib.Path(tempfile.mkdtemp(prefix="dwc-rl-"))
    os.chmod(tmp_path, 0o755)
    script = tmp_path / "take.sql"
    script.write_text("SELECT (dwc.rate_limit_take('bench-concurrent', 100, 1, 1) = 0)::int AS ok \\gset\n"
                      "INSERT INTO rl_admitted VALUES (clock_timestamp(), :ok = 1);\n")
    os.chmod(script, 0o644)
    conn = cluster.connect(IT_DB)
    q(conn, "DROP TABLE IF EXISTS rl_admitted")
    q(conn, "CREATE UNLOGGED TABLE rl_admitted (at timestamptz, ok bool)")
    try:
        subprocess.run(as_owner([pg_bindir() + "/pgbench", "-n", "-c", "4", "-j", "2", "-T", "6", "-f", str(script),
                                 "-h", cluster.socket_dir, "-p", str(cluster.port), "-U", "postgres", IT_DB]),
                       check=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd="/")
        seconds = q(conn, """
            SELECT count(*) FILTER (WHERE ok), count(*) FROM rl_admitted
             WHERE at >= (SELECT min(at) FROM rl_admitted) + interval '1 second'
               AND at < (SELECT min(at) FROM rl_admitted) + interval '5 seconds'
             GROUP BY floor(extract(epoch FROM at - (SELECT min(at) FROM rl_admitted)))
             ORDER BY 1""")
        assert len(seconds) == 4, seconds
        admitted = [s[0] for s in seconds]
        assert sum(admitted) <= 420, "admitted %s per second over 4 s" % admitted
        for ok, asked in seconds:
            assert ok <= 110, seconds
            if asked >= 200:                        # saturated: the limit is what holds it back
                assert ok >= 90, seconds
    finally:
        q(conn, "DROP TABLE IF EXISTS rl_admitted")
        conn.close()


# ---- row-level security ----------------------------------------------------------------------

def test_rls_keeps_users_to_their_rows(rest):
    a, aid = new_user(rest)
    b, bid = new_user(rest)
    ta, tb = token_of(rest, a), token_of(rest, b)
    wa = rest.rpc("create_workflow", {"name": "a's", "initial_prompt": "Write about apples."}, token=ta)[1]["id"]
    rest.rpc("create_workflow", {"name": "b's", "initial_prompt": "Write about bananas."}, token=tb)
    rest.rpc("submit_task", {"task_type": "noop", "name": "a task"}, token=ta)
    # through the API
    assert rest.rpc("get_workflow", {"id": wa}, token=tb, get=True)[0] == 404
    assert rest.rpc("delete_workflow", {"id": wa}, token=tb)[0] == 404
    assert [w["name"] for w in rest.rpc("list_workflows", token=tb, get=True)[1]] == ["b's"]
    # directly in the tables, as PostgREST's role with b's claims
    cur = rest.conn.cursor()
    cur.execute("BEGIN")
    rest.enter(cur, {"sub": bid, "role": "dwc_user"})
    cur.execute("SELECT DISTINCT owner_user FROM dwc.chains")
    assert cur.fetchall() == [(bid,)]
    cur.execute("SELECT count(*) FROM dwc.documents d JOIN dwc.chains c ON c.id = d.chain_id WHERE c.owner_user <> %s",
                (bid,))
    assert cur.fetchone()[0] == 0
    cur.execute("SELECT count(*) FROM dwc.jobs WHERE enqueued_user = %s", (aid,))
    assert cur.fetchone()[0] == 0
    cur.execute("SELECT id::text FROM dwc.users")
    assert cur.fetchall() == [(bid,)]
    with pytest.raises(psycopg2.Error) as ei:
        cur.execute("SELECT password_hash FROM dwc.users")
    assert ei.value.pgcode == "42501"
    cur.execute("ROLLBACK")
    cur.execute("BEGIN")
    rest.enter(cur, {"sub": bid, "role": "dwc_user"})
    with pytest.raises(psycopg2.Error) as ei:
        cur.execute("UPDATE dwc.chains SET name = 'hijacked'")
    assert ei.value.pgcode == "42501"
    cur.execute("ROLLBACK")
    # administrators see everyone's
    admin, _ = new_user(rest, role="dwc_admin")
    tadmin = token_of(rest, admin)
    assert rest.rpc("get_workflow", {"id": wa}, token=tadmin, get=True)[0] == 200


# ---- input validation: injection strings in every text argument ------------------------------

INJECTIONS = ["'; DROP TABLE public.canary; --", "\" OR 1=1 --", "$$; DROP TABLE public.canary; $$",
              "') ; SELECT pg_sleep(5); --", "../../etc/passwd", "%s%s%n", "{\"a\": \"); DELETE FROM dwc.users; --\"}",
              "x' || (SELECT password_hash FROM dwc.users LIMIT 1) || '"]


def test_injection_strings_in_every_text_argument(rest):
    conn = rest.conn
    q(conn, "CREATE TABLE IF NOT EXISTS public.canary (x int)")
    q(conn, "INSERT INTO public.canary VALUES (1)")
    admin, admin_id = new_user(rest, role="dwc_admin")
    q(conn, "SELECT dwc.set_rate_limit('user', %s, 100000, 100000)", (admin_id,))
    tok = token_of(rest, admin)
    funcs = q(conn, """
        SELECT p.proname, array_agg(a.name ORDER BY a.n), array_agg(format_type(a.type, NULL) ORDER BY a.n),
               p.pronargdefaults, p.pronargs
          FROM pg_proc p, unnest(p.proargnames, p.proargtypes::oid[]) WITH ORDINALITY AS a(name, type, n)
         WHERE p.pronamespace = 'api'::regnamespace
         GROUP BY p.oid, p.proname, p.pronargdefaults, p.pronargs
        HAVING bool_or(a.type = 'text'::regtype)""")
    assert len(funcs) > 30
    users_before = one(conn, "SELECT count(*) FROM dwc.users")
    # ids point at a workflow of this test (builtin provider), not at whatever other tests left behind
    status, own = rest.rpc("create_workflow", {"name": "inj", "initial_prompt": "Tides.", "provider": "builtin"}, token=tok)
    assert status == 200, own
    # a document id is the workflow's root; a chain id the workflow's
    by_name = {"document_id": own["root"]["id"], "node_id": own["root"]["id"], "into_document": own["root"]["id"],
               "from_document": own["root"]["id"], "parent_id": own["root"]["id"]}
    samples = {"bigint": own["id"], "integer": 1, "double precision": 0.5, "jsonb": {"k": "v"}, "boolean": False,
               "uuid": str(uuid.uuid4()), "text[]": ["*"], "time without time zone": "10:00",
               "timestamp with time zone": "2026-01-01T00:00:00Z"}
    seen = []
    for name, argnames, argtypes, ndefaults, nargs in funcs:
        if name in ("login", "register", "change_password"):
            pass                                       # included: text only, handled below like the rest
        for target in [i for i, t in enumerate(argtypes) if t == "text"]:
            for s in INJECTIONS[:4] if name.startswith("ai_") else INJECTIONS:
                args = {}
                for i, (an, at) in enumerate(zip(argnames, argtypes)):
                    if i == target:
                        args[an] = s
                    elif i < nargs - ndefaults:
                        args[an] = by_name.get(an, samples.get(at, "x")) if at != "text" else "x"
                t0 = time.time()
                status, body = rest.rpc(name, args, token=tok)
                assert time.time() - t0 < 3, (name, argnames[target], s, "slow: injected sleep?")
                # no input makes the server fail; a password reset on a server without an email
                # channel for it is "not set up" (501) whatever the input
                assert status < 500 or (name == "request_password_reset" and status == 501), \
                    (name, argnames[target], s, status, body)
                seen.append(status)
    assert one(conn, "SELECT count(*) FROM public.canary") == 1
    assert one(conn, "SELECT count(*) FROM dwc.users") >= users_before
    # stored literally where a text is stored
    status, w = rest.rpc("create_workflow", {"name": INJECTIONS[0], "initial_prompt": INJECTIONS[2]}, token=tok)
    assert status == 200 and w["name"] == INJECTIONS[0] and w["root"]["prompt"] == INJECTIONS[2]
    q(conn, "DROP TABLE public.canary")
    assert 200 in seen and 400 in seen


def test_rfc7515_hs256_example_verifies(make_cluster):
    """RFC 7515 appendix A.1: the JWS example with its JWK key, given as PostgREST takes a
    base64 secret (jwt-secret-is-base64)."""
    k = "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow"
    secret = base64.b64encode(base64.urlsafe_b64decode(k + "=" * (-len(k) % 4))).decode()
    c = make_cluster(settings={"dwc.jwt_secret": "'%s'" % secret, "dwc.jwt_secret_is_base64": "on"})
    token = ("eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9"
             ".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
             ".dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")
    conn = c.connect(IT_DB)
    claims = one(conn, "SELECT dwc.jwt_verify(%s, '', '2011-03-22 18:40:00+00')", (token,))
    assert claims == {"iss": "joe", "exp": 1300819380, "http://example.com/is_root": True}
    # the same token one second past exp plus the skew is expired; any other key refuses it
    with pytest.raises(psycopg2.Error) as e:
        one(conn, "SELECT dwc.jwt_verify(%s, '', to_timestamp(1300819380 + 31))", (token,))
    assert e.value.pgcode == "28P01" and "expired" in e.value.pgerror
    conn.rollback()
    q(conn, "ALTER SYSTEM SET dwc.jwt_secret_is_base64 = off")
    q(conn, "SELECT pg_reload_conf()")
    time.sleep(0.5)
    with pytest.raises(psycopg2.Error) as e:
        one(conn, "SELECT dwc.jwt_verify(%s, '', '2011-03-22 18:40:00+00')", (token,))
    assert e.value.pgcode == "28P01" and "signature" in e.value.pgerror
    conn.close()


def test_short_jwt_secrets_are_refused(cluster):
    conn = cluster.connect(IT_DB)
    with pytest.raises(psycopg2.Error) as e:
        q(conn, "ALTER SYSTEM SET dwc.jwt_secret = 'only-31-bytes-long-0123456789ab'")
    assert e.value.pgcode == "22023" and "32" in (e.value.pgerror + str(e.value.diag.message_detail))
    conn.close()


def test_admin_endpoints_answer_admins_only(rest):
    admin, admin_id = new_user(rest, role="dwc_admin")
    user, user_id = new_user(rest)
    atok, utok = token_of(rest, admin), token_of(rest, user)
    calls = [("security_summary", {}), ("list_users", {}), ("audit_verify", {}),
             ("audit_user_activity", {"user_id": user_id}), ("audit_changes_by_actor", {}),
             ("auth_events_summary", {}), ("audit_logs", {"limit": 5}),
             ("audit_record_history", {"table_name": "dwc.users", "row_key": {"id": user_id}}),
             ("set_rate_limit", {"subject_kind": "user", "subject": user_id, "requests_per_second": 50}),
             ("set_user_status", {"user_id": user_id, "status": "active"})]
    for name, args in calls:
        status, body = rest.rpc(name, args, token=atok)
        assert status == 200, (name, body)
        status, body = rest.rpc(name, args, token=utok)
        assert status in (401, 403), (name, status, body)
        status, body = rest.rpc(name, args)
        assert status in (401, 403), (name, status, body)
    status, logs = rest.rpc("audit_logs", {"limit": 3, "table_name": "dwc.users"}, token=atok)
    assert len(logs) == 3 and all(r["table_name"] == "dwc.users" for r in logs)
    assert logs[0]["id"] > logs[1]["id"] > logs[2]["id"]
    status, body = rest.rpc("audit_logs", {"limit": 0}, token=atok)
    assert status == 400 and "limit" in body["message"]


# ---- identity cannot be forged (issue 9, hole 1) --------------------------------------------

def test_job_body_cannot_take_another_users_identity(cluster, rest):
    """A plain user's sql job sets request.jwt.claims to an administrator's id, then mints an
    API key: the key must be the job owner's, and `me` with it must answer dwc_user."""
    admin, admin_id = new_user(rest, role="dwc_admin")
    name, uid = new_user(rest)
    tok = token_of(rest, name)
    body = ("SELECT set_config('request.jwt.claims', '{\"sub\": \"%s\", \"role\": \"dwc_admin\"}', false), "
            "set_config('request.headers', '{\"x-api-key\": \"none\"}', false), "
            "dwc.create_api_key('forged', '{*}')" % admin_id)
    status, job = rest.rpc("submit_task", {"task_type": "sql", "name": "forge", "payload": {"sql": body}}, token=tok)
    assert status == 200, job
    cluster.wait_for("SELECT count(*) > 0 FROM dwc.job_history WHERE id = %s", (job["id"],), dbname=IT_DB)
    owners = q(rest.conn, "SELECT user_id::text FROM dwc.api_keys WHERE name = 'forged'")
    assert owners == [(uid,)], owners
    # and in the user's own session: a claim set by SQL is no identity
    cur = rest.conn.cursor()
    cur.execute("BEGIN")
    rest.enter(cur, {"sub": uid, "role": "dwc_user"})
    cur.execute("SELECT set_config('request.jwt.claims', %s, true)", (json.dumps({"sub": admin_id, "role": "dwc_user"}),))
    cur.execute("SELECT dwc.create_api_key('forged-in-session')->>'key'")
    key = cur.fetchone()[0]
    cur.execute("COMMIT")
    assert q(rest.conn, "SELECT user_id::text FROM dwc.api_keys WHERE name = 'forged-in-session'") == [(uid,)]
    status, me = rest.rpc("me", api_key=key)
    assert status == 200 and me["id"] == uid and me["role"] == "dwc_user", me
    # an anonymous session cannot claim an API key identity by setting claims either
    cur.execute("BEGIN")
    rest.enter(cur, {})
    cur.execute("SELECT set_config('request.jwt.claims', %s, true)",
                (json.dumps({"sub": admin_id, "role": "dwc_admin", "dwc_auth": "api_key", "scopes": ["*"]}),))
    cur.execute("SELECT dwc.current_user_role(), dwc.current_user_id()")
    assert cur.fetchone() == ("dwc_anon", None)
    with pytest.raises(psycopg2.Error) as ei:
        cur.execute("SELECT dwc._set_api_key_identity(%s, 'dwc_admin', '{*}')", (admin_id,))
    assert ei.value.pgcode == "42501"
    cur.execute("ROLLBACK")


def put_on_rings(conn, tag, events, calls):
    """Security events (detail {tag: n}) and builtin AI calls, which wait in shared memory."""
    q(conn, "SELECT count(dwc._security_event('permission_denied', 'warning', NULL, "
            "jsonb_build_object(%s, g))) FROM generate_series(1, %s) g", (tag, events))
    q(conn, "SELECT count(dwc.ai_generate(%s || g, provider => 'builtin', cache_ttl => '0'))"
            " FROM generate_series(1, %s) g", ("call " + tag + " ", calls))


def test_security_events_and_ai_calls_held_in_shared_memory_survive_a_clean_stop(make_cluster):
    """Security events and AI calls wait in shared-memory rings until the maintenance worker
    writes them (src/security/events.c, src/ai/ailog.c), so that a failed request's event and
    what a rolled-back call spent outlive the rollback. A clean stop writes what the rings
    hold before the worker exits: nothing recorded is lost, as for metrics."""
    c = make_cluster()
    c.wait_for("SELECT count(*) = 1 FROM dwc.status() WHERE kind = 'maintenance'", dbname=IT_DB, timeout=30)
    conn = c.connect(IT_DB)
    q(conn, "BEGIN")
    put_on_rings(conn, "n", 50, 20)
    q(conn, "ROLLBACK")
    conn.close()
    c.restart(mode="fast")
    conn = c.connect(IT_DB)
    assert one(conn, "SELECT count(*) FROM dwc.security_events WHERE event = 'permission_denied' "
                     "AND detail ? 'n'") == 50
    assert one(conn, "SELECT count(*) FROM dwc.ai_calls WHERE provider = 'builtin' AND operation = 'generate'") == 20


def test_a_failed_write_of_security_events_and_ai_calls_leaves_them_for_the_next_pass(make_cluster):
    """The maintenance worker takes records off the shared-memory rings only when the
    transaction that wrote them commits (src/core/ring.c): while their table refuses them
    (here triggers that fail, counting their attempts in a sequence, which no rollback takes
    back: at the insert for AI calls, at commit for security events) they wait, and they
    arrive once it takes them."""
    c = make_cluster()
    c.wait_for("SELECT count(*) = 1 FROM dwc.status() WHERE kind = 'maintenance'", dbname=IT_DB, timeout=30)
    conn = c.connect(IT_DB)
    q(conn, "CREATE SEQUENCE refusals")
    q(conn, "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN PERFORM nextval('refusals'); RAISE EXCEPTION 'not now'; END $$")
    q(conn, "CREATE TRIGGER refuse BEFORE INSERT ON dwc.ai_calls FOR EACH ROW EXECUTE FUNCTION refuse()")
    q(conn, "CREATE CONSTRAINT TRIGGER refuse AFTER INSERT ON dwc.security_events DEFERRABLE INITIALLY DEFERRED "
            "FOR EACH ROW EXECUTE FUNCTION refuse()")
    put_on_rings(conn, "kept", 30, 10)
    # several passes refused: each fails on the first record of each ring
    c.wait_for("SELECT last_value >= 6 FROM refusals", dbname=IT_DB, timeout=30)
    assert one(conn, "SELECT count(*) FROM dwc.security_events WHERE detail ? 'kept'") == 0
    for table in ("dwc.security_events", "dwc.ai_calls"):
        q(conn, "DROP TRIGGER refuse ON %s" % table)
    c.wait_for("SELECT count(*) = 30 FROM dwc.security_events WHERE detail ? 'kept'", dbname=IT_DB, timeout=30)
    c.wait_for("SELECT count(*) = 10 FROM dwc.ai_calls WHERE provider = 'builtin'", dbname=IT_DB, timeout=30)
    assert one(conn, "SELECT dwc._security_events_dropped() + dwc._ai_log_dropped()") == 0


def test_a_flood_of_events_waits_for_the_writer_instead_of_pushing_out_what_came_before(make_cluster):
    """The rings hold 2,048 security events and 4,096 AI calls until the maintenance worker
    writes them. A flood (failed logins by the thousand) used to wrap a ring within
    milliseconds and overwrite what it had not written yet, the events just before the flood
    among them: the way to hide one. Now a writer asks for the write once a ring is half
    full and waits for it when the ring is full (src/core/ring.c): every record arrives, the
    flood goes at the writer's pace. In a database no maintenance worker serves, nobody
    waits: its records are overwritten at once, and counted."""
    c = make_cluster()
    c.wait_for("SELECT count(*) = 1 FROM dwc.status() WHERE kind = 'maintenance'", dbname=IT_DB, timeout=30)
    conn = c.connect(IT_DB)
    q(conn, "SELECT dwc._security_event('account_locked', 'critical', 'victim', '{\"before\": \"flood\"}')")
    put_on_rings(conn, "flood", 20000, 10000)
    c.wait_for("SELECT count(*) = 20000 FROM dwc.security_events WHERE detail ? 'flood'", dbname=IT_DB, timeout=120)
    c.wait_for("SELECT count(*) = 10000 FROM dwc.ai_calls WHERE provider = 'builtin'", dbname=IT_DB, timeout=120)
    assert one(conn, "SELECT count(*) FROM dwc.security_events WHERE event = 'account_locked' "
                     "AND user_id = 'victim' AND detail->>'before' = 'flood'") == 1
    assert one(conn, "SELECT dwc._security_events_dropped() + dwc._ai_log_dropped()") == 0

    # A database with dwc but no workers: nothing to wait for (a wait would be 5 s a record).
    # Its events fill the ring, then each one overwrites another of its own, and the loss is
    # counted for it alone.
    c.sql("CREATE DATABASE unserved")
    c.sql("CREATE EXTENSION dwc CASCADE", dbname="unserved")
    other = c.connect("unserved")
    q(other, "SET statement_timeout = '60s'")
    flood = ("SELECT count(dwc._security_event('permission_denied', 'warning', NULL, jsonb_build_object('n', g))) "
             "FROM generate_series(1, %s) g")
    q(other, flood, (2048,))
    before = one(other, "SELECT dwc._security_events_dropped()")
    q(other, flood, (5000,))
    assert one(other, "SELECT dwc._security_events_dropped()") == before + 5000
    assert one(conn, "SELECT dwc._security_events_dropped()") == 0


def test_a_table_that_refuses_events_holds_up_one_request_not_every_one(make_cluster):
    """While dwc.security_events refuses its rows, a full ring cannot be emptied: the first
    request that finds it full waits its 5 seconds for a write, then events are overwritten
    (and counted) without waiting, so a broken table does not stall every login. The first
    write that succeeds ends that, and the next burst waits again."""
    c = make_cluster()
    c.wait_for("SELECT count(*) = 1 FROM dwc.status() WHERE kind = 'maintenance'", dbname=IT_DB, timeout=30)
    conn = c.connect(IT_DB)
    q(conn, "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'not now'; END $$")
    q(conn, "CREATE TRIGGER refuse BEFORE INSERT ON dwc.security_events FOR EACH ROW EXECUTE FUNCTION refuse()")
    q(conn, "SET statement_timeout = '60s'")   # 100 waits of 5 s would be 500 s
    put_on_rings(conn, "refused", 2048 + 100, 0)
    assert one(conn, "SELECT dwc._security_events_dropped()") == 100
    q(conn, "DROP TRIGGER refuse ON dwc.security_events")
    c.wait_for("SELECT count(*) = 2048 FROM dwc.security_events WHERE detail ? 'refused'", dbname=IT_DB, timeout=60)
    put_on_rings(conn, "after", 5000, 0)
    c.wait_for("SELECT count(*) = 5000 FROM dwc.security_events WHERE detail ? 'after'", dbname=IT_DB, timeout=120)
    assert one(conn, "SELECT dwc._security_events_dropped()") == 100
