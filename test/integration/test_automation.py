"""Automations with real workers: every trigger kind (event, condition, threshold, schedule,
API call, inbound webhook, data change), the AI decision step with a loopback AI server and its
fallback, a failing step retried by the queue, learning, and a data-change trigger under
concurrent writes with no change lost or run twice."""
import hashlib
import hmac
import json
import threading
import time
import uuid

import psycopg2
import pytest

from conftest import IT_DB, JWT_SECRET, one, q
from fakehttp import Reply
from postgrest import PostgREST


def name(prefix):
    return "%s_%s" % (prefix, uuid.uuid4().hex[:8])


_made = []


@pytest.fixture(autouse=True)
def _delete_made(db):
    """Each test's automations go with it: a condition polled every second, left behind, would
    keep firing into the shared database for the rest of the suite."""
    yield
    while _made:
        q(db, "SELECT dwc.delete_automation(%s)", (_made.pop(),))


def create(conn, aname, trigger_type, trigger, actions, conditions=True, options=None):
    _made.append(aname)
    return one(conn, "SELECT dwc.create_automation(%s, %s, %s, %s, %s, options => %s)",
               (aname, trigger_type, json.dumps(trigger), json.dumps(actions), json.dumps(conditions),
                json.dumps(options or {})))


def runs(conn, aname):
    return one(conn, "SELECT dwc.automation_runs(%s, 1000)", (aname,))


def wait_runs(conn, aname, n, status="succeeded", timeout=20):
    """Until aname has n runs in status (returns them, newest first)."""
    deadline = time.time() + timeout
    while True:
        rs = runs(conn, aname)
        done = [r for r in rs if r["status"] == status]
        if len(done) >= n or time.time() > deadline:
            return rs
        time.sleep(0.1)


@pytest.fixture
def table(db):
    t = "auto_" + uuid.uuid4().hex[:8]
    q(db, "CREATE TABLE %s (id serial PRIMARY KEY, v numeric, note text)" % t)
    yield t
    q(db, "DROP TABLE %s CASCADE" % t)


def test_event_trigger_runs_sql_and_emit_as_the_owner(db, table):
    a = name("ev")
    create(db, a, "event", {"kinds": ["shopit.order_paid"]},
           [{"type": "sql", "sql": "INSERT INTO %s (v, note) VALUES (($1->'payload'->>'amount')::numeric, $1->>'subject')" % table},
            {"type": "emit", "kind": "shopit.big_order", "subject": "{{subject}}", "payload": {"amount": "{{payload.amount}}"},
             "name": "announced"}],
           {"path": "payload.amount", "gt": 100})
    q(db, "SELECT dwc.emit('shopit.order_paid', 'order:1', '{\"amount\": 50}')")
    q(db, "SELECT dwc.emit('shopit.order_paid', 'order:2', '{\"amount\": 500}')")
    rs = wait_runs(db, a, 1)
    assert len(rs) == 1 and rs[0]["status"] == "succeeded", rs       # the condition kept order:1 out
    assert q(db, "SELECT v, note FROM %s" % table) == [(500, "order:2")]
    assert rs[0]["results"][1]["result"]["event_id"] > 0
    ev = one(db, "SELECT payload FROM dwc.events WHERE kind = 'shopit.big_order' ORDER BY id DESC LIMIT 1")
    assert ev == {"amount": 500}                      # a lone placeholder keeps the value's type
    stats = one(db, "SELECT dwc.get_automation(%s)", (a,))["stats"]
    assert stats["succeeded"] == 1 and [s["successes"] for s in stats["actions"]] == [1, 1], stats


def test_condition_trigger_fires_on_the_edge(db, table):
    a = name("cond")
    q(db, "INSERT INTO %s (v, note) VALUES (1, 'level')" % table)
    create(db, a, "condition", {"query": "SELECT v FROM public.%s WHERE note = 'level'" % table, "every": "1 second"},
           [{"type": "emit", "kind": "levels.high", "payload": {"v": "{{row.v}}"}}],
           {"path": "row.v", "ge": 10})
    time.sleep(2.5)
    assert runs(db, a) == []                           # never true yet
    q(db, "UPDATE %s SET v = 12 WHERE note = 'level'" % table)
    rs = wait_runs(db, a, 1)
    time.sleep(2.5)                                    # still true: no second run
    assert len(runs(db, a)) == 1, runs(db, a)
    q(db, "UPDATE %s SET v = 3 WHERE note = 'level'" % table)
    time.sleep(2.5)
    q(db, "UPDATE %s SET v = 20 WHERE note = 'level'" % table)
    rs = wait_runs(db, a, 2)
    assert len(rs) == 2 and rs[0]["trigger"]["row"]["v"] == 20, rs


def test_threshold_trigger_with_hysteresis(db, table):
    a = name("thr")
    q(db, "INSERT INTO %s (v, note) VALUES (0, 'gauge')" % table)
    create(db, a, "threshold", {"query": "SELECT v FROM public.%s WHERE note = 'gauge'" % table,
                                "above": 10, "reset": 5, "every": "1 second"},
           [{"type": "emit", "kind": "gauge.high", "payload": {"v": "{{value}}"}}])
    q(db, "UPDATE %s SET v = 11 WHERE note = 'gauge'" % table)
    wait_runs(db, a, 1)
    q(db, "UPDATE %s SET v = 7 WHERE note = 'gauge'" % table)       # below the bound, not past reset
    time.sleep(2.2)
    q(db, "UPDATE %s SET v = 12 WHERE note = 'gauge'" % table)
    time.sleep(2.2)
    assert len(runs(db, a)) == 1                                     # not re-armed
    q(db, "UPDATE %s SET v = 4 WHERE note = 'gauge'" % table)       # past reset: armed again
    time.sleep(2.2)
    q(db, "UPDATE %s SET v = 15 WHERE note = 'gauge'" % table)
    rs = wait_runs(db, a, 2)
    assert len(rs) == 2 and rs[0]["trigger"]["value"] == 15, rs
    st = one(db, "SELECT state FROM dwc.automations WHERE name = %s", (a,))
    assert st["armed"] is False


def test_schedule_and_api_triggers(db):
    s = name("sched")
    create(db, s, "schedule", {"schedule": "1 second"}, [{"type": "emit", "kind": "ticks.tick"}])
    rs = wait_runs(db, s, 2)
    assert len([r for r in rs if r["status"] == "succeeded"]) >= 2 and rs[0]["trigger"]["trigger"] == "schedule"
    q(db, "SELECT dwc.enable_automation(%s, false)", (s,))
    time.sleep(0.5)
    before = len(runs(db, s))
    time.sleep(2.5)
    assert len(runs(db, s)) <= before + 1             # a poll already enqueued may still run

    api = name("api")
    create(db, api, "api", {}, [{"type": "emit", "kind": "apicalls.called", "payload": {"who": "{{data.who}}"}}],
           {"path": "data.who", "ne": "nobody"})
    r = one(db, "SELECT dwc.run_automation(%s, '{\"who\": \"ana\"}')", (api,))
    assert r["fired"] is True and r["job_id"] > 0
    assert one(db, "SELECT dwc.run_automation(%s, '{\"who\": \"nobody\"}')", (api,))["fired"] is False
    rs = wait_runs(db, api, 1)
    assert rs[0]["trigger"]["data"] == {"who": "ana"} and len(rs) == 1


def test_webhook_trigger_verifies_hmac_and_time(db):
    a = name("hook")
    made = create(db, a, "webhook", {"tolerance": 60},
                  [{"type": "emit", "kind": "hooks.received", "payload": {"order": "{{body.order}}"}}])
    wid, secret = made["webhook"]["id"], made["webhook"]["secret"]
    body = '{"order": 42,  "note": "raw bytes are signed"}'

    def sign(stamp, b=body, key=secret):
        return "sha256=" + hmac.new(key.encode(), ("%s.%s" % (stamp, b)).encode(), hashlib.sha256).hexdigest()

    now = str(int(time.time()))
    r = one(db, "SELECT dwc.automation_webhook(%s, %s, %s, %s)", (wid, body, now, sign(now)))
    assert r["accepted"] is True and r["fired"] is True
    for args in [(wid, body, now, sign(now, key="wrong")),                 # bad signature
                 (wid, body.replace("42", "43"), now, sign(now)),         # body changed
                 ("0" * 24, body, now, sign(now)),                        # no such webhook
                 (wid, body, str(int(time.time()) - 3600), sign(str(int(time.time()) - 3600)))]:   # replayed
        with pytest.raises(psycopg2.Error) as e:
            one(db, "SELECT dwc.automation_webhook(%s, %s, %s, %s)", args)
        assert e.value.pgcode == "28000", e.value
    rs = wait_runs(db, a, 1)
    assert len(rs) == 1 and rs[0]["trigger"]["body"]["order"] == 42


def test_decide_step_with_the_provider_and_its_fallback(db, fake_ai):
    fake = fake_ai("openai")
    prov = "auto-ai-" + uuid.uuid4().hex[:6]
    q(db, "SELECT dwc.add_provider(%s, 'openai', %s, max_retries => 0, timeout => '2 seconds', cache_ttl => '0')",
      (prov, fake.base_url))
    q(db, "SELECT dwc.set_provider_key(%s, %s)", (prov, fake.key))
    a = name("triage")
    create(db, a, "api", {},
           [{"type": "decide", "provider": prov, "prompt": "Ticket: {{data.text}}",
             "branches": {"human": [{"type": "emit", "kind": "tickets.escalated", "subject": "{{data.id}}"}],
                          "robot": [{"type": "emit", "kind": "tickets.answered", "subject": "{{data.id}}"}]},
             "fallback": {"if": {"path": "data.priority", "eq": "high"}, "then": "human", "else": "robot"}},
            {"type": "ai", "provider": prov, "prompt": "Summarise {{data.text}}", "name": "summary"},
            {"type": "emit", "kind": "tickets.summary", "payload": {"text": "{{steps.summary.text}}"}}])
    fake.reply_text = "I would say: Human."
    q(db, "SELECT dwc.run_automation(%s, '{\"id\": \"t1\", \"text\": \"my printer is on fire\", \"priority\": \"low\"}')", (a,))
    rs = wait_runs(db, a, 1)
    d = rs[0]["results"][0]["result"]
    assert d["branch"] == "human" and d["by"] == prov and d["actions"][0]["type"] == "emit", d
    assert one(db, "SELECT payload->>'text' FROM dwc.events WHERE kind = 'tickets.summary' ORDER BY id DESC LIMIT 1") \
        == "I would say: Human."
    chat = fake.calls("chat")[0].json()
    assert "Answer with exactly one of: human, robot." in json.dumps(chat)

    # the provider fails: the fallback rule decides (the run's own later ai step fails and is retried)
    fake.reply_text = None
    fake.fail_next(Reply(500, {"error": {"message": "down"}}))
    q(db, "SELECT dwc.run_automation(%s, '{\"id\": \"t2\", \"text\": \"urgent\", \"priority\": \"high\"}')", (a,))
    rs = wait_runs(db, a, 2)
    d = rs[0]["results"][0]["result"]
    assert d["branch"] == "human" and d["by"] == "fallback" and "no provider answered" in d["why"], d
    # an answer naming no branch: the fallback too
    fake.reply_text = "maybe"
    q(db, "SELECT dwc.run_automation(%s, '{\"id\": \"t3\", \"text\": \"meh\", \"priority\": \"low\"}')", (a,))
    rs = wait_runs(db, a, 3)
    d = rs[0]["results"][0]["result"]
    assert d["branch"] == "robot" and d["by"] == "fallback" and d["answer"] == "maybe", d
    # no provider named and no other configured: builtin's template text is no choice, the
    # fallback rule decides and says why
    b = name("builtin_triage")
    create(db, b, "api", {},
           [{"type": "decide", "prompt": "Ticket: {{data.text}}",
             "branches": {"urgent": [{"type": "emit", "kind": "tickets.urgent", "subject": "{{data.id}}"}],
                          "normal": [{"type": "emit", "kind": "tickets.normal", "subject": "{{data.id}}"}]},
             "fallback": {"if": {"path": "data.priority", "eq": "high"}, "then": "urgent", "else": "normal"}}])
    q(db, "SELECT dwc.run_automation(%s, '{\"id\": \"t4\", \"text\": \"The server room is urgent and on fire\", "
          "\"priority\": \"low\"}')", (b,))
    d = wait_runs(db, b, 1)[0]["results"][0]["result"]
    assert d["branch"] == "normal" and d["by"] == "fallback", d
    assert "builtin provider cannot choose between branches" in d["why"], d


def test_a_failing_step_is_retried_and_counted(db, fake_http):
    srv = fake_http()
    srv.script("POST", "/hook", Reply(500, "no"), Reply(503, "still no"), Reply(200, {"ok": True}))
    a = name("retry")
    create(db, a, "api", {},
           [{"type": "http", "url": srv.url("/hook"), "body": {"n": "{{data.n}}"}}],
           options={"max_attempts": 5})
    q(db, "UPDATE dwc.job_kinds SET default_max_attempts = 5 WHERE kind = 'automation.run'")
    q(db, "SELECT dwc.run_automation(%s, '{\"n\": 7}')", (a,))
    rs = wait_runs(db, a, 1, timeout=60)
    assert rs[0]["status"] == "succeeded" and rs[0]["attempts"] == 3, rs
    assert [r.json() for r in srv.requests] == [{"n": 7}] * 3
    st = one(db, "SELECT dwc.get_automation(%s)", (a,))["stats"]["actions"][0]
    assert st["successes"] == 1 and st["failures"] == 2 and "HTTP 503" in st["last_error"], st

    # out of attempts: dead, with the error, and an automation.failed event
    srv.script("POST", "/dead", Reply(500, "never"))
    d = name("dead")
    create(db, d, "api", {}, [{"type": "http", "url": srv.url("/dead")}], options={"max_attempts": 2})
    q(db, "SELECT dwc.run_automation(%s)", (d,))
    rs = wait_runs(db, d, 1, status="dead", timeout=60)
    assert rs[0]["status"] == "dead" and "HTTP 500" in rs[0]["error"], rs
    assert one(db, "SELECT count(*) FROM dwc.events WHERE kind = 'automation.failed' AND payload->>'run_id' = %s",
               (str(rs[0]["id"]),)) == 1


def test_learning_disables_an_optional_action_that_keeps_failing(db, fake_http):
    srv = fake_http()
    srv.route("POST", "/flaky", Reply(500, "no"))
    a = name("learn")
    create(db, a, "api", {},
           [{"type": "http", "url": srv.url("/flaky"), "optional": True},
            {"type": "emit", "kind": "learning.ok"}],
           options={"learning": {"disable_below": 0.5, "min_runs": 3}})
    for i in range(4):
        q(db, "SELECT dwc.run_automation(%s)", (a,))
        wait_runs(db, a, i + 1)
    st = one(db, "SELECT dwc.get_automation(%s)", (a,))["stats"]["actions"]
    assert st[0]["failures"] == 3 and st[0]["disabled"] is True and st[1]["successes"] == 4, st
    assert len(srv.requests) == 3                     # the fourth run left it out


def test_data_change_under_concurrent_writes_loses_and_doubles_nothing(cluster, db, table):
    log = table + "_log"
    q(db, "CREATE TABLE %s (row_id int PRIMARY KEY, op text)" % log)
    try:
        a = name("dc")
        create(db, a, "data_change", {"table": table, "operations": ["insert"]},
               [{"type": "sql", "sql": "INSERT INTO public.%s (row_id, op) VALUES (($1->'new'->>'id')::int, $1->>'op')" % log}],
               {"path": "new.note", "ne": "skip"})
        committed = []
        lock = threading.Lock()

        def writer(w):
            conn = cluster.connect(IT_DB)
            conn.autocommit = False
            with conn.cursor() as cur:
                for i in range(40):
                    cur.execute("INSERT INTO %s (v, note) VALUES (%%s, %%s), (%%s, 'skip') RETURNING id" % table,
                                (w * 1000 + i, "w%d" % w, i))
                    ids = [r[0] for r in cur.fetchall()]
                    if i % 5 == 4:
                        conn.rollback()                   # never happened: no run
                    else:
                        conn.commit()
                        with lock:
                            committed.append(ids[0])
            conn.close()

        threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(committed) == 128
        deadline = time.time() + 60
        while one(db, "SELECT count(*) FROM %s" % log) < len(committed) and time.time() < deadline:
            time.sleep(0.2)
        time.sleep(1)
        assert sorted(r[0] for r in q(db, "SELECT row_id FROM %s" % log)) == sorted(committed)
        rs = runs(db, a)
        assert len(rs) == len(committed) and all(r["status"] == "succeeded" for r in rs), \
            [r for r in rs if r["status"] != "succeeded"][:3]
    finally:
        q(db, "DROP TABLE %s" % log)


def _web_login(rest, role):
    """A new dwc user of role, signed in through the PostgREST replay: their access token."""
    uname = "web" + uuid.uuid4().hex[:8]
    uid = one(rest.conn, "SELECT dwc.create_user(%s, 'correct horse battery staple 9!', role => %s)->>'id'", (uname, role))
    q(rest.conn, "SELECT dwc.set_rate_limit('user', %s, 1000, 1000)", (uid,))
    status, body = rest.rpc("login", {"username": uname, "password": "correct horse battery staple 9!"})
    assert status == 200, body
    return body["access_token"]


def test_what_a_web_user_may_not_run_is_refused_when_saved_and_allowed_hosts_are_called(db, fake_http):
    """An http action of a web user (no dwc.http()) is refused at save, not accepted to die at
    every run; once an administrator allows the host it runs, follows no redirect, and stops at
    the next run after the host is taken off the list."""
    rest = PostgREST(db, JWT_SECRET)
    user, admin = _web_login(rest, "dwc_user"), _web_login(rest, "dwc_admin")
    srv = fake_http()
    srv.script("POST", "/hook", Reply(200, {"ok": True}))
    srv.script("POST", "/moved", Reply(302, "", redirect=srv.url("/hook")))
    a = name("out")
    action = [{"type": "http", "url": srv.url("/hook"), "body": {"n": "{{data.n}}"}}]
    status, body = rest.rpc("create_automation", {"name": a, "trigger_type": "api", "actions": action}, token=user)
    assert status == 403 and "may not call 127.0.0.1" in body["message"], body
    assert "dwc.allow_http_host" in body["hint"]
    status, body = rest.rpc("create_automation_from_template", {"template": "alert_on_dead_jobs", "name": name("tpl")},
                            token=user)
    assert status == 403 and "example.invalid" in body["message"], body
    # a placeholder in the host is never an allowed host
    status, body = rest.rpc("create_automation", {"name": a, "trigger_type": "api",
                                                  "actions": [{"type": "http", "url": "http://{{data.host}}/x"}]}, token=user)
    assert status == 403, body

    status, body = rest.rpc("allow_http_host", {"host": "127.0.0.1", "note": "the test's receiver"}, token=user)
    assert status == 403, body
    status, body = rest.rpc("allow_http_host", {"host": "127.0.0.1", "note": "the test's receiver"}, token=admin)
    assert status == 200 and body["host"] == "127.0.0.1", body
    try:
        status, body = rest.rpc("create_automation", {"name": a, "trigger_type": "api", "actions": action}, token=user)
        assert status == 200, body
        _made.append(a)
        status, body = rest.rpc("trigger_automation", {"name": a, "trigger_data": {"n": 5}}, token=user)
        assert status == 200, body
        rs = wait_runs(db, a, 1, timeout=30)
        assert rs[0]["status"] == "succeeded", rs
        assert [r.json() for r in srv.requests] == [{"n": 5}]

        # no redirect is followed: the 302 is the answer, a failure, and /hook is not called again
        moved = name("moved")
        status, body = rest.rpc("create_automation", {"name": moved, "trigger_type": "api",
                                                      "actions": [{"type": "http", "url": srv.url("/moved")}],
                                                      "options": {"max_attempts": 1}}, token=user)
        assert status == 200, body
        _made.append(moved)
        rest.rpc("trigger_automation", {"name": moved}, token=user)
        rs = wait_runs(db, moved, 1, status="dead", timeout=30)
        assert rs[0]["status"] == "dead" and "HTTP 302" in rs[0]["error"], rs
        assert [r.path for r in srv.requests] == ["/hook", "/moved"]
    finally:
        status, body = rest.rpc("disallow_http_host", {"host": "127.0.0.1"}, token=admin)
        assert status == 200 and body is True, body
    # off the list: the next run fails at once, with the hint
    rest.rpc("trigger_automation", {"name": a, "trigger_data": {"n": 6}}, token=user)
    rs = wait_runs(db, a, 1, status="dead", timeout=30)
    dead = [r for r in rs if r["status"] == "dead"]
    assert dead and "is not one that automations may call" in dead[0]["error"], rs
    assert len(srv.requests) == 2


def test_an_administrators_event_automation_sees_other_users_events(db):
    """docs/automation.md: an administrator's event automations fire on anyone's events, also when
    the administrator made them through the API (owner dwc_admin and a user id)."""
    rest = PostgREST(db, JWT_SECRET)
    admin = _web_login(rest, "dwc_admin")
    kind = "seen%s" % uuid.uuid4().hex[:6]
    a = name("admin_ev")
    status, body = rest.rpc("create_automation", {"name": a, "trigger_type": "event", "trigger": {"kinds": [kind + ".*"]},
                                                  "actions": [{"type": "emit", "kind": kind + "_done.ok"}]}, token=admin)
    assert status == 200, body
    _made.append(a)
    # another user's event, emitted through the API as that user (so that no other user sees it)
    other = rest.verify(_web_login(rest, "dwc_user"))
    with db.cursor() as cur:
        cur.execute("BEGIN")
        rest.enter(cur, other)
        cur.execute("SELECT dwc.emit(%s, 'x')", (kind + ".hello",))
        cur.execute("COMMIT")
    rs = wait_runs(db, a, 1, timeout=30)
    assert rs and rs[0]["status"] == "succeeded" and rs[0]["trigger"]["kind"] == kind + ".hello", rs
