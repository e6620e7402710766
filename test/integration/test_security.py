"""Identity, tokens, MFA, API keys, rate limits, RLS and audit, through PostgREST's contract
(test/kit/postgrest.py replays its per-request transaction)."""
import base64
import hashlib
import hmac
import json
import struct
import threading
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


def events(cluster, event, user_id=None, timeout=5):
    """Security events of a kind (they reach the table through the scheduler, within a second)."""
    deadline = time.time() + timeout
    while True:
        rows = q(cluster.connect(IT_DB), "SELECT severity, detail FROM dwc.security_events WHERE event = %s "
                                         "AND (%s::text IS NULL OR user_id = %s) ORDER BY id", (event, user_id, user_id))
        if rows or time.time() > deadline:
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
    assert len(events(cluster, "login_failure", uid)) == 5
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
    assert any(d["reason"] == "revoked" for _, d in events(cluster, "api_key_invalid", uid))
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
    """4 pgbench clients hammer one key limited to 100/s: 100 +- 5% admitted per second."""
    import os
    import pathlib
    import subprocess
    import tempfile
    from cluster import as_owner, pg_bindir
    tmp_path = pathlib.Path(tempfile.mkdtemp(prefix="dwc-rl-"))
    os.chmod(tmp_path, 0o755)
    script = tmp_path / "take.sql"
    script.write_text("SELECT (dwc.rate_limit_take('bench-concurrent', 100, 1, 1) = 0)::int AS ok \\gset\n"
                      "\\if :ok = 1\nINSERT INTO rl_admitted VALUES (clock_timestamp());\n\\endif\n")
    os.chmod(script, 0o644)
    conn = cluster.connect(IT_DB)
    q(conn, "DROP TABLE IF EXISTS rl_admitted")
    q(conn, "CREATE UNLOGGED TABLE rl_admitted (at timestamptz)")
    try:
        subprocess.run(as_owner([pg_bindir() + "/pgbench", "-n", "-c", "4", "-j", "2", "-T", "6", "-f", str(script),
                                 "-h", cluster.socket_dir, "-p", str(cluster.port), "-U", "postgres", IT_DB]),
                       check=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd="/")
        per_second = [r[0] for r in q(conn, """
            SELECT count(*) FROM rl_admitted
             WHERE at >= (SELECT min(at) FROM rl_admitted) + interval '1 second'
               AND at < (SELECT min(at) FROM rl_admitted) + interval '5 seconds'
             GROUP BY floor(extract(epoch FROM at - (SELECT min(at) FROM rl_admitted)))""")]
        total = sum(per_second)
        assert len(per_second) == 4
        assert 380 <= total <= 420, "admitted %s per second over 4 s" % per_second
        for n in per_second:
            assert 90 <= n <= 110, per_second
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


# ---- audit -------------------------------------------------------------------------------

def test_audit_trail_records_who_and_detects_tampering(cluster, rest):
    conn = rest.conn
    q(conn, "CREATE TABLE IF NOT EXISTS public.audited_things (id int PRIMARY KEY, label text, secret text, "
            "amount numeric, flags jsonb)")
    q(conn, "GRANT ALL ON public.audited_things TO dwc_user")
    q(conn, "SELECT dwc.audit_table('public.audited_things', '{secret}')")
    name, uid = new_user(rest)
    cur = conn.cursor()
    cur.execute("BEGIN")
    rest.enter(cur, {"sub": uid, "role": "dwc_user"}, headers={"x-forwarded-for": "192.0.2.44"},
               path="/audited_things")
    cur.execute("INSERT INTO public.audited_things VALUES (1, 'one', 's3cret', 1.50, '{\"a\": 1}'), (2, 'two', 'x', 2, null)")
    cur.execute("UPDATE public.audited_things SET label = 'uno', secret = 'changed' WHERE id = 1")
    cur.execute("UPDATE public.audited_things SET label = label WHERE id = 2")          # no change: no entry
    cur.execute("DELETE FROM public.audited_things WHERE id = 2")
    cur.execute("COMMIT")
    rows = q(conn, "SELECT action, row_key, old_values, new_values, actor_user, actor_role, client_addr, request_path "
                   "FROM dwc.audit_log WHERE table_name = 'public.audited_things' ORDER BY id")
    assert [r[0] for r in rows] == ["INSERT", "INSERT", "UPDATE", "DELETE"]
    ins = rows[0]
    assert ins[1] == {"id": 1} and ins[3] == {"id": 1, "label": "one", "secret": "[redacted]", "amount": 1.50,
                                              "flags": {"a": 1}}
    assert rows[2][2] == {"label": "one", "secret": "[redacted]"} and rows[2][3] == {"label": "uno", "secret": "[redacted]"}
    assert all(r[4] == uid and r[5] == "dwc_user" and r[6] == "192.0.2.44" and r[7] == "/audited_things" for r in rows)
    assert "s3cret" not in json.dumps([r[3] for r in rows])
    history = one(conn, "SELECT dwc.audit_record_history('public.audited_things', '{\"id\": 1}')")
    assert [h["action"] for h in history] == ["INSERT", "UPDATE"]
    activity = one(conn, "SELECT dwc.audit_user_activity(%s)", (uid,))
    assert len([c for c in activity["changes"] if c["table"] == "public.audited_things"]) == 4

    # append-only, even for the owner
    with pytest.raises(psycopg2.Error) as ei:
        q(conn, "UPDATE dwc.audit_log SET actor_user = 'x' WHERE table_name = 'public.audited_things'")
    assert "append-only" in str(ei.value)
    with pytest.raises(psycopg2.Error) as ei:
        q(conn, "DELETE FROM dwc.audit_log WHERE table_name = 'public.audited_things'")
    assert "append-only" in str(ei.value)

    # sealed within seconds, then verified
    wait_sealed(cluster)
    v = one(conn, "SELECT dwc.audit_verify()")
    assert v["ok"] is True and v["checked"] >= 4
    target = q(conn, "SELECT id FROM dwc.audit_log WHERE table_name = 'public.audited_things' AND action = 'UPDATE'")[0][0]
    seq = one(conn, "SELECT s.first_seq + array_position(s.audit_ids, %s::int8) - 1 FROM dwc.audit_seal s "
                    "WHERE %s::int8 = ANY (s.audit_ids)", (target, target))
    # a superuser edits the row behind the triggers
    cur.execute("BEGIN")
    cur.execute("SET LOCAL session_replication_role = replica")
    cur.execute("UPDATE dwc.audit_log SET new_values = '{\"label\": \"innocent\"}' WHERE id = %s", (target,))
    cur.execute("COMMIT")
    v = one(conn, "SELECT dwc.audit_verify()")
    assert v["ok"] is False
    assert v["first_problem"]["audit_id"] == target and v["first_problem"]["seq"] == seq
    assert "changed" in v["first_problem"]["problem"]
    # put it back; then delete a row instead
    cur.execute("BEGIN")
    cur.execute("SET LOCAL session_replication_role = replica")
    cur.execute("UPDATE dwc.audit_log SET new_values = %s WHERE id = %s", (json.dumps(rows[2][3]), target))
    cur.execute("COMMIT")
    assert one(conn, "SELECT dwc.audit_verify()")["ok"] is True
    cur.execute("BEGIN")
    cur.execute("SET LOCAL session_replication_role = replica")
    cur.execute("DELETE FROM dwc.audit_log WHERE id = %s", (target,))
    cur.execute("COMMIT")
    v = one(conn, "SELECT dwc.audit_verify()")
    assert v["ok"] is False and v["first_problem"]["audit_id"] == target and "deleted" in v["first_problem"]["problem"]
    # restore the chain for the other tests: re-insert the row exactly as it was is not possible
    # (that is the point), so start a fresh chain for this test database
    cur.execute("BEGIN")
    cur.execute("SET LOCAL session_replication_role = replica")
    restart_chain(cur)
    assert one(conn, "SELECT dwc.audit_verify()")["ok"] is True
    q(conn, "SELECT dwc.unaudit_table('public.audited_things')")
    q(conn, "DROP TABLE public.audited_things")


def restart_chain(cur):
    """Start a fresh chain after the current head (inside a replica-role transaction)."""
    cur.execute("UPDATE dwc.audit_seal_state st SET base_batch = last_batch, base_seq = last_seq, "
                "base_hash = last_hash, base_txid = s.last_txid, base_id = s.last_id "
                "FROM dwc.audit_seal s WHERE s.batch = st.last_batch")
    cur.execute("DELETE FROM dwc.audit_seal")
    cur.execute("COMMIT")


def wait_sealed(cluster):
    """Wait until every audit row committed so far is sealed: none is left at or above the seal
    horizon (below it, every row is sealed) with a transaction id older than one taken now.
    Not "no unsealed rows at all": other sessions keep writing audit rows (each firing of a
    schedule updates dwc.schedules, which is audited), and with one firing every second that
    condition may not hold at any single poll although the sealer keeps up.  Nor "the horizon
    passed the mark": with nothing new to seal the sealer leaves the horizon where it is.
    When it does not happen, say what held it: the transactions holding back the snapshot's
    xmin (every database's count) and what the maintenance worker logged."""
    mark = cluster.scalar("SELECT txid_current()", dbname=IT_DB)
    query = ("SELECT NOT EXISTS (SELECT 1 FROM dwc.audit_log a, dwc.audit_seal_state s "
             "WHERE a.txid >= s.horizon AND a.txid < %d)" % mark)
    offset = cluster.log_size()
    try:
        cluster.wait_for(query, dbname=IT_DB, timeout=30, interval=0.2)
    except AssertionError as e:
        held = cluster.sql("SELECT pid, datname, backend_type, state, backend_xid, backend_xmin, "
                           "now() - xact_start, left(query, 80) FROM pg_stat_activity "
                           "WHERE backend_xid IS NOT NULL OR backend_xmin IS NOT NULL")
        state = cluster.sql("SELECT horizon, target, pg_snapshot_xmin(pg_current_snapshot()), "
                            "(SELECT count(*) FROM pg_prepared_xacts) FROM dwc.audit_seal_state", dbname=IT_DB)
        workers = cluster.sql("SELECT s.kind, s.database, s.pid, s.state, a.state, a.wait_event_type, a.wait_event, "
                              "now() - a.backend_start, now() - a.state_change, left(a.query, 60) "
                              "FROM dwc.status() s LEFT JOIN pg_stat_activity a USING (pid)", dbname=IT_DB)
        unsealed = cluster.sql("SELECT a.table_name, min(a.txid), max(a.txid), count(*) FROM dwc.audit_log a, "
                               "dwc.audit_seal_state s WHERE a.txid >= s.horizon GROUP BY 1", dbname=IT_DB)
        log = [line for line in cluster.log_since(offset).splitlines() if "maintenance" in line][-20:]
        # is the maintenance worker calling the sealer at all, and does a call by hand seal?
        calls = "SELECT calls FROM pg_stat_user_functions WHERE funcname = '_audit_seal'"
        before = cluster.sql(calls, dbname=IT_DB)
        time.sleep(3)
        after = cluster.sql(calls, dbname=IT_DB)
        by_hand = cluster.sql("SELECT dwc._audit_seal(10000)", dbname=IT_DB)
        state_after = cluster.sql("SELECT horizon, target FROM dwc.audit_seal_state", dbname=IT_DB)
        raise AssertionError("%s\nseal state (horizon, target, xmin, prepared): %r\nunsealed (table, min, max, n): %r\n"
                             "holding xmin: %r\nworkers: %r\nsealer calls 3 s apart: %r -> %r\n"
                             "a call by hand sealed %r rows; state after: %r\nmaintenance log:\n%s"
                             % (e, state, unsealed, held, workers, before, after, by_hand, state_after,
                                "\n".join(log))) from None


def test_audit_seals_rows_added_and_retention(cluster, rest):
    """Batch seals: a changed seal, a row slipped in behind the sealer, and retention that
    prunes old rows with their batches while the chain stays verifiable."""
    conn = rest.conn
    q(conn, "CREATE TABLE public.audit_seals (id int PRIMARY KEY, v text)")
    q(conn, "SELECT dwc.audit_table('public.audit_seals')")
    q(conn, "INSERT INTO public.audit_seals SELECT i, 'v' || i FROM generate_series(1, 30) i")
    wait_sealed(cluster)
    assert one(conn, "SELECT dwc.audit_verify()->>'ok'") == "true"
    cur = conn.cursor()
    # a superuser rewrites the last seal's digests: the seal no longer chains
    batch = one(conn, "SELECT max(batch) FROM dwc.audit_seal")
    cur.execute("BEGIN")
    cur.execute("SET LOCAL session_replication_role = replica")
    cur.execute("UPDATE dwc.audit_seal SET digests = overlay(digests PLACING '\\xff'::bytea FROM 5) "
                "WHERE batch = %s", (batch,))
    cur.execute("COMMIT")
    v = one(conn, "SELECT dwc.audit_verify()")
    assert v["ok"] is False and v["first_problem"]["batch"] == batch
    assert v["first_problem"]["problem"] == "the seal was changed"
    cur.execute("BEGIN")
    cur.execute("SET LOCAL session_replication_role = replica")
    restart_chain(cur)
    assert one(conn, "SELECT dwc.audit_verify()->>'ok'") == "true"

    # a row inserted with an old transaction id, below the horizon: no seal covers it
    horizon = one(conn, "SELECT horizon FROM dwc.audit_seal_state")
    q(conn, "INSERT INTO dwc.audit_log (txid, actor_role, action, table_name) VALUES (%s, 'x', 'INSERT', 'forged')",
      (horizon - 1,))
    forged = one(conn, "SELECT id FROM dwc.audit_log WHERE table_name = 'forged'")
    v = one(conn, "SELECT dwc.audit_verify()")
    assert v["ok"] is False and v["first_problem"]["audit_id"] == forged
    assert "not in the chain" in v["first_problem"]["problem"]
    cur.execute("BEGIN")
    cur.execute("SET LOCAL session_replication_role = replica")
    cur.execute("DELETE FROM dwc.audit_log WHERE table_name = 'forged'")
    cur.execute("COMMIT")
    assert one(conn, "SELECT dwc.audit_verify()->>'ok'") == "true"

    # retention: rows from 40 days ago leave with their batches, newer ones stay verifiable
    q(conn, "INSERT INTO dwc.audit_log (at, actor_role, action, table_name) "
            "SELECT now() - interval '40 days', 'x', 'INSERT', 'old' FROM generate_series(1, 5)")
    q(conn, "INSERT INTO public.audit_seals SELECT i, 'w' || i FROM generate_series(31, 40) i")
    wait_sealed(cluster)
    assert one(conn, "SELECT dwc.audit_verify()->>'ok'") == "true"
    q(conn, "SELECT dwc._partitions_maintain('dwc.audit_log', interval '30 days')")
    assert one(conn, "SELECT count(*) FROM dwc.audit_log WHERE table_name = 'old'") == 0
    assert one(conn, "SELECT count(*) FROM dwc.audit_seal WHERE min_at < now() - interval '30 days'") == 0
    q(conn, "INSERT INTO public.audit_seals SELECT i, 'x' || i FROM generate_series(41, 50) i")
    wait_sealed(cluster)
    v = one(conn, "SELECT dwc.audit_verify()")
    assert v["ok"] is True, v
    assert one(conn, "SELECT base_batch > 0 FROM dwc.audit_seal_state")
    q(conn, "SELECT dwc.unaudit_table('public.audit_seals')")
    q(conn, "DROP TABLE public.audit_seals")


def test_sealer_keeps_up_while_others_write(cluster, rest):
    """A steady writer (an audited row every 50 ms, faster than the sealer's one pass a second)
    means some row is always unsealed; the rows of any finished transaction are sealed all the
    same, within a pass or two, and the chain verifies."""
    conn = rest.conn
    q(conn, "CREATE TABLE public.audit_steady (id serial PRIMARY KEY, v text)")
    q(conn, "SELECT dwc.audit_table('public.audit_steady')")
    stop = threading.Event()

    def writer():
        c = cluster.connect(IT_DB)
        c.autocommit = True
        while not stop.is_set():
            c.cursor().execute("INSERT INTO public.audit_steady (v) VALUES ('w')")
            stop.wait(0.05)
        c.close()

    t = threading.Thread(target=writer)
    t.start()
    try:
        for _ in range(3):
            q(conn, "INSERT INTO public.audit_steady (v) VALUES ('mine')")
            mine = one(conn, "SELECT max(id) FROM dwc.audit_log WHERE table_name = 'public.audit_steady' "
                             "AND new_values ->> 'v' = 'mine'")
            wait_sealed(cluster)
            assert one(conn, "SELECT count(*) FROM dwc.audit_seal WHERE %s = ANY (audit_ids)", (mine,)) == 1
    finally:
        stop.set()
        t.join()
    assert one(conn, "SELECT dwc.audit_verify()->>'ok'") == "true"
    q(conn, "SELECT dwc.unaudit_table('public.audit_steady')")
    q(conn, "DROP TABLE public.audit_steady")


def test_audit_of_multi_row_statements(rest):
    """Statement-level auditing: every row of big statements (past the 1000-row chunks),
    UPDATE rows paired with their old values, unchanged rows skipped, upserts, rollbacks."""
    conn = rest.conn
    q(conn, "CREATE TABLE public.audit_bulk (id int PRIMARY KEY, v int, t text)")
    q(conn, "SELECT dwc.audit_table('public.audit_bulk')")
    base = one(conn, "SELECT coalesce(max(id), 0) FROM dwc.audit_log")
    q(conn, "INSERT INTO public.audit_bulk SELECT i, i, 'r' || i FROM generate_series(1, 2500) i")
    # every row but id 7 changes; each old value must pair with its own row
    q(conn, "UPDATE public.audit_bulk SET v = CASE WHEN id = 7 THEN v ELSE v * 10 END")
    q(conn, "DELETE FROM public.audit_bulk WHERE id > 2000")
    q(conn, "INSERT INTO public.audit_bulk VALUES (1, -1, 'up'), (9999, 1, 'new') "
            "ON CONFLICT (id) DO UPDATE SET v = excluded.v, t = excluded.t")
    cur = conn.cursor()
    cur.execute("BEGIN")
    cur.execute("INSERT INTO public.audit_bulk VALUES (5000, 1, 'gone')")
    cur.execute("ROLLBACK")
    counts = dict(q(conn, "SELECT action, count(*) FROM dwc.audit_log WHERE id > %s AND table_name = 'public.audit_bulk' "
                          "GROUP BY action", (base,)))
    assert counts == {"INSERT": 2501, "UPDATE": 2499 + 1, "DELETE": 500}
    mismatched = one(conn, """
        SELECT count(*) FROM dwc.audit_log WHERE id > %s AND table_name = 'public.audit_bulk' AND action = 'UPDATE'
           AND (row_key ->> 'id')::int <> 1
           AND ((old_values ->> 'v')::int <> (row_key ->> 'id')::int OR (new_values ->> 'v')::int <> 10 * (row_key ->> 'id')::int
                OR old_values ? 't')""", (base,))
    assert mismatched == 0
    assert one(conn, "SELECT count(*) FROM dwc.audit_log WHERE id > %s AND row_key = '{\"id\": 7}' "
                     "AND action = 'UPDATE'", (base,)) == 0
    upsert = q(conn, "SELECT action, old_values, new_values FROM dwc.audit_log WHERE id > %s AND table_name = "
                     "'public.audit_bulk' AND row_key IN ('{\"id\": 1}', '{\"id\": 9999}') ORDER BY id DESC LIMIT 2",
               (base,))
    assert sorted((a, o, n) for a, o, n in [(r[0], r[1], r[2]) for r in upsert]) == [
        ("INSERT", None, {"id": 9999, "v": 1, "t": "new"}),
        ("UPDATE", {"v": 10, "t": "r1"}, {"v": -1, "t": "up"})]
    assert one(conn, "SELECT count(*) FROM dwc.audit_log WHERE id > %s AND row_key = '{\"id\": 5000}'", (base,)) == 0
    # the trigger is refused anywhere but as the statement-level trigger audit_table makes
    with pytest.raises(psycopg2.Error) as e:
        q(conn, "CREATE TRIGGER wrong AFTER INSERT ON public.audit_bulk FOR EACH ROW EXECUTE FUNCTION dwc._audit_row()")
        q(conn, "INSERT INTO public.audit_bulk VALUES (6000, 1, 'x')")
    assert e.value.pgcode == "39P01"
    q(conn, "DROP TRIGGER IF EXISTS wrong ON public.audit_bulk")
    assert q(conn, "SELECT dwc.unaudit_table('public.audit_bulk')")[0][0] is True
    assert one(conn, "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'public.audit_bulk'::regclass") == 0
    q(conn, "DROP TABLE public.audit_bulk")


def test_sealer_catches_up_with_a_backlog(cluster, rest):
    """The scheduler seals 10,000 rows a pass, once a second when idle; a backlog larger than
    that is worked off pass after pass instead of at 10,000 rows a second."""
    conn = rest.conn
    q(conn, "CREATE TABLE public.audit_backlog (id int PRIMARY KEY, v text)")
    q(conn, "SELECT dwc.audit_table('public.audit_backlog')")
    q(conn, "INSERT INTO public.audit_backlog SELECT i, 'v' || i FROM generate_series(1, 100000) i")
    t0 = time.time()
    cluster.wait_for("SELECT NOT EXISTS (SELECT 1 FROM dwc.audit_log a, dwc.audit_seal_state s "
                     "WHERE a.table_name = 'public.audit_backlog' AND a.txid >= s.horizon)",
                     dbname=IT_DB, timeout=8, interval=0.2)
    took = time.time() - t0
    assert took < 8, took                  # at one batch a second this would take 10 s
    assert one(conn, "SELECT dwc.audit_verify()->>'ok'") == "true"
    q(conn, "SELECT dwc.unaudit_table('public.audit_backlog')")
    q(conn, "DROP TABLE public.audit_backlog")


def test_dwc_tables_are_audited_by_default(rest):
    name, uid = new_user(rest)
    tok = token_of(rest, name)
    wid = rest.rpc("create_workflow", {"name": "aud", "initial_prompt": "Write about audits."}, token=tok)[1]["id"]
    rows = q(rest.conn, "SELECT action, actor_user, actor_role FROM dwc.audit_log WHERE table_name = 'dwc.chains' "
                        "AND row_key = %s ORDER BY id", (json.dumps({"id": wid}),))
    assert rows[0] == ("INSERT", uid, "dwc_user")
    user_rows = q(rest.conn, "SELECT new_values FROM dwc.audit_log WHERE table_name = 'dwc.users' AND action = 'INSERT' "
                             "AND row_key = %s", (json.dumps({"id": uid}),))
    assert user_rows[0][0]["password_hash"] == "[redacted]"
    tables = [r[0] for r in q(rest.conn, "SELECT table_name::text FROM dwc.audited_tables")]
    for t in ("dwc.users", "dwc.api_keys", "dwc.ai_providers", "dwc.chains", "dwc.schedules"):
        assert t in tables


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
                        args[an] = samples.get(at, "x") if at != "text" else "x"
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
