"""An API key's scopes reach the work it leaves behind (jobs, schedules, automations,
workflow runs): what the key could not call directly, that work cannot call either.
(src/security/identity.c: the job worker pins the scopes recorded with each job.)"""
import uuid

from conftest import IT_DB, one, q

PASSWORD = "Tide-Pool-42!x"


def admin_with_key(rest, scopes):
    name = "adm_%s" % uuid.uuid4().hex[:8]
    one(rest.conn, "SELECT dwc.create_user(%s, %s, role => 'dwc_admin')", (name, PASSWORD))
    status, body = rest.rpc("login", {"username": name, "password": PASSWORD})
    assert status == 200, body
    token = body["access_token"]
    status, key = rest.rpc("create_api_key", {"name": "k", "scopes": scopes}, token=token)
    assert status == 200, key
    return token, key["key"]


def finished(cluster, job_id, timeout=30):
    cluster.wait_for("SELECT count(*) = 1 FROM dwc.job_history WHERE id = %s", (job_id,), dbname=IT_DB, timeout=timeout)
    return q(cluster.connect(IT_DB), "SELECT status, last_error, result FROM dwc.job_history WHERE id = %s",
             (job_id,))[0]


def test_a_tasks_key_cannot_make_sql_jobs(cluster, rest):
    """The reported attack: an administrator's key scoped to tasks enqueued an sql job that
    called api.create_user and made an administrator."""
    _, key = admin_with_key(rest, ["tasks"])
    mallory = "mallory_%s" % uuid.uuid4().hex[:6]
    body = "SELECT api.create_user('%s', '%s', NULL, 'dwc_admin')" % (mallory, PASSWORD)
    status, err = rest.rpc("submit_task", {"task_type": "sql", "payload": {"sql": body}}, api_key=key)
    assert status == 401 and "may not make sql jobs" in err["message"], (status, err)
    status, err = rest.rpc("submit_task", {"task_type": "http", "payload": {"url": "http://127.0.0.1:9/"}}, api_key=key)
    assert status == 401 and "may not make http jobs" in err["message"], (status, err)
    # the same key may still submit what its scope is for
    status, job = rest.rpc("submit_task", {"task_type": "noop"}, api_key=key)
    assert status == 200, job
    assert finished(cluster, job["id"])[0] == "succeeded"
    assert one(rest.conn, "SELECT count(*) FROM dwc.users WHERE username = %s", (mallory,)) == 0


def test_a_job_runs_under_its_keys_scopes(cluster, rest):
    """With the sql scope the job runs SQL, but the api functions it calls still check the
    key's scopes: no api.create_user without "security"."""
    _, key = admin_with_key(rest, ["tasks", "sql"])
    mallory = "mallory_%s" % uuid.uuid4().hex[:6]
    body = "SELECT api.create_user('%s', '%s', NULL, 'dwc_admin')" % (mallory, PASSWORD)
    status, job = rest.rpc("submit_task", {"task_type": "sql", "payload": {"sql": body}, "max_retries": 0},
                           api_key=key)
    assert status == 200, job
    state, error, _ = finished(cluster, job["id"])
    assert state == "dead" and "this API key may not call api.create_user" in error, (state, error)
    assert one(rest.conn, "SELECT count(*) FROM dwc.users WHERE username = %s", (mallory,)) == 0
    # the job keeps the key's scopes, and sees them
    status, job = rest.rpc("submit_task", {"task_type": "sql", "payload": {
        "sql": "DO $$ BEGIN IF dwc.current_scopes() IS DISTINCT FROM '{tasks,sql}' THEN "
               "RAISE EXCEPTION 'scopes: %', dwc.current_scopes(); END IF; END $$"}}, api_key=key)
    assert status == 200
    assert finished(cluster, job["id"])[0] == "succeeded"
    assert one(rest.conn, "SELECT scopes FROM dwc.job_history WHERE id = %s", (job["id"],)) == ["tasks", "sql"]


def test_schedules_automations_and_workflows_keep_the_keys_scopes(cluster, rest):
    token, key = admin_with_key(rest, ["schedules", "automations", "workflows"])
    # made through the key: refused when they would run SQL or reach other groups
    status, err = rest.rpc("create_cron_schedule", {"name": "s1", "cron_expression": "0 3 * * *", "task_type": "sql",
                                                    "payload": {"sql": "SELECT 1"}}, api_key=key)
    assert status == 401 and "may not make sql jobs" in err["message"], err
    status, err = rest.rpc("create_automation", {"name": "a1", "trigger_type": "event", "trigger": {"kinds": ["x.y"]},
                                                 "actions": [{"type": "sql", "sql": "SELECT 1"}]}, api_key=key)
    assert status == 401 and "may not make automations with sql actions" in err["message"], err
    status, err = rest.rpc("create_automation", {"name": "a2", "trigger_type": "event", "trigger": {"kinds": ["x.y"]},
                                                 "actions": [{"type": "ai", "prompt": "hi"}]}, api_key=key)
    assert status == 401 and "needs the scope \"ai\"" in (err["details"] or ""), err
    # a workflow with an ai step, made with the token, cannot be run through the key
    wf = "wf_%s" % uuid.uuid4().hex[:6]
    status, body = rest.rpc("create_ai_workflow", {"name": wf, "steps": [{"id": "g", "type": "generate",
                                                                           "prompt": "Say hi."}]}, token=token)
    assert status == 200, body
    status, err = rest.rpc("execute_ai_workflow", {"name": wf}, api_key=key)
    assert status == 401 and "may not run workflows with generate steps" in err["message"], err
    # allowed work keeps the scopes: an emit automation fired by an event runs under them
    name = "a_%s" % uuid.uuid4().hex[:6]
    kind = "scopes.%s" % uuid.uuid4().hex[:6]
    status, a = rest.rpc("create_automation", {"name": name, "trigger_type": "event", "trigger": {"kinds": [kind]},
                                               "actions": [{"type": "emit", "kind": kind + ".done", "payload": {}}]},
                         api_key=key)
    assert status == 200, a
    assert one(rest.conn, "SELECT scopes FROM dwc.automations WHERE id = %s", (a["id"],)) == \
        ["schedules", "automations", "workflows"]
    cur = rest.conn.cursor()
    cur.execute("BEGIN")
    rest.enter(cur, rest.verify(token))
    cur.execute("SELECT dwc.emit(%s, 'x', '{}')", (kind,))
    cur.execute("COMMIT")
    cluster.wait_for("SELECT count(*) = 1 FROM dwc.automation_runs r JOIN dwc.job_history h ON h.id = r.job_id "
                     "WHERE r.automation_id = %s AND h.scopes = '{schedules,automations,workflows}'",
                     (a["id"],), dbname=IT_DB, timeout=30)
    # and a schedule made through a key with sql gives its jobs those scopes
    _, key2 = admin_with_key(rest, ["schedules", "sql"])
    status, s = rest.rpc("create_interval_schedule", {"name": "s2", "interval": "1 second", "task_type": "sql",
                                                  "payload": {"sql": "SELECT api.list_users()"}}, api_key=key2)
    assert status == 200, s
    try:
        cluster.wait_for("SELECT count(*) >= 1 FROM dwc.job_history WHERE schedule_id = %s AND status = 'dead'",
                         (s["id"],), dbname=IT_DB, timeout=30)
        err = one(rest.conn, "SELECT last_error FROM dwc.job_history WHERE schedule_id = %s LIMIT 1", (s["id"],))
        assert "may not call api.list_users" in err, err
    finally:
        q(rest.conn, "SELECT dwc.unschedule(%s)", (s["id"],))


def test_a_key_cannot_make_a_broader_key(rest):
    token, key = admin_with_key(rest, ["account", "tasks"])
    status, err = rest.rpc("create_api_key", {"name": "wider", "scopes": ["*"]}, api_key=key)
    assert status == 401 and "scopes it does not have" in err["message"], err
    status, err = rest.rpc("create_api_key", {"name": "wider", "scopes": ["sql"]}, api_key=key)
    assert status == 401, err
    status, k = rest.rpc("create_api_key", {"name": "narrower", "scopes": ["tasks", "tasks:read"]}, api_key=key)
    assert status == 200, k
    # a token is not a key: it may make any key
    assert rest.rpc("create_api_key", {"name": "full", "scopes": ["*"]}, token=token)[0] == 200
