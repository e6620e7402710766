"""Every api function, through the PostgREST replay, as each role it is granted to: none
answers 401 or 403 to a caller its access rule admits (dwc.api_access), and each refuses
the callers it does not admit.

The calls run in an order that makes them meaningful (create, then read, change, delete),
each against objects the caller made; the test fails when an api function has no call here,
so a new endpoint cannot skip it.
"""
import collections
import hashlib
import hmac
import time
import uuid

import pytest

from conftest import IT_DB, JWT_SECRET, one, q
from postgrest import PostgREST
from test_security import totp

PASSWORD = "correct horse battery staple 9!"

# (function, args(ctx) -> dict); ctx holds what earlier calls made, per caller
CALLS = [
    ("health", lambda c: {}),
    # setting up (src/api/setup.sql): administrators' providers, channels and kinds; users' rooms
    ("add_ai_provider", lambda c: {"name": "p" + c["tag"], "kind": "openai_compatible",
                                   "base_url": "http://127.0.0.1:9", "api_key": "sk-" + c["tag"]}),
    ("set_ai_provider_key", lambda c: {"provider": "p" + c["tag"], "api_key": "sk2-" + c["tag"]}),
    ("remove_ai_provider", lambda c: {"provider": "p" + c["tag"]}),
    ("add_notification_channel", lambda c: {"name": "ch" + c["tag"], "type": "webhook",
                                            "config": {"url": "http://127.0.0.1:9/hook"},
                                            "secret": "a-signing-secret-" + c["tag"]}),
    ("alter_notification_channel", lambda c: {"name": "ch" + c["tag"], "changes": {"max_attempts": 3}}),
    ("list_notification_channels", lambda c: {}),
    ("drop_notification_channel", lambda c: {"name": "ch" + c["tag"]}),
    ("register_job_kind", lambda c: {"kind": "k" + c["tag"], "handler": "public.api_contract_kind(jsonb)"}),
    ("unregister_job_kind", lambda c: {"kind": "k" + c["tag"]}),
    ("create_room", lambda c: {"name": "r" + c["tag"]}),
    ("room_members", lambda c: {"name": "r" + c["tag"], "add": []}),
    ("broadcast", lambda c: {"room": "r" + c["tag"], "kind": "chat.message", "payload": {"text": "hi"}}),
    ("drop_room", lambda c: {"name": "r" + c["tag"]}),
    ("request_password_reset", lambda c: {"email": "nobody-%s@example.com" % c["tag"]}),
    ("reset_password", lambda c: reset_code(c)),
    ("me", lambda c: {}),
    ("list_sessions", lambda c: {}),
    ("list_api_keys", lambda c: {}),
    ("create_api_key", lambda c: {"name": "k" + c["tag"], "scopes": ["tasks"]}),
    ("revoke_api_key", lambda c: {"id": c["create_api_key"]["id"]}),
    ("submit_task", lambda c: {"task_type": "noop", "delay_seconds": 3600}),
    ("submit_tasks", lambda c: {"tasks": [{"kind": "noop", "delay": "1 hour"}]}),
    ("get_task", lambda c: {"id": c["submit_task"]["id"]}),
    ("list_tasks", lambda c: {}),
    ("retry_task", lambda c: {"id": c["submit_task"]["id"]}),
    ("cancel_task", lambda c: {"id": c["submit_task"]["id"]}),
    ("cancel_tasks", lambda c: {"task_type": "no-such-kind"}),
    ("retry_tasks", lambda c: {"task_type": "no-such-kind"}),
    ("background_stats", lambda c: {}),
    ("pause_queue", lambda c: {"queue": "q" + c["tag"]}),
    ("resume_queue", lambda c: {"queue": "q" + c["tag"]}),
    ("create_cron_schedule", lambda c: {"name": "c" + c["tag"], "cron_expression": "0 3 * * *"}),
    ("create_interval_schedule", lambda c: {"name": "i" + c["tag"], "interval": "1 hour"}),
    ("create_daily_schedule", lambda c: {"name": "d" + c["tag"], "time": "03:00"}),
    ("create_weekly_schedule", lambda c: {"name": "w" + c["tag"], "day": "monday", "time": "03:00"}),
    ("create_monthly_schedule", lambda c: {"name": "m" + c["tag"], "day": "1", "time": "03:00"}),
    ("list_schedules", lambda c: {}),
    ("get_schedule", lambda c: {"id": c["create_cron_schedule"]["id"]}),
    ("update_schedule", lambda c: {"id": c["create_cron_schedule"]["id"], "schedule": "0 4 * * *"}),
    ("disable_schedule", lambda c: {"id": c["create_cron_schedule"]["id"]}),
    ("enable_schedule", lambda c: {"id": c["create_cron_schedule"]["id"]}),
    ("delete_schedule", lambda c: {"id": c["create_cron_schedule"]["id"]}),
    ("cron_next", lambda c: {"cron_expression": "*/5 * * * *"}),
    ("scheduler_stats", lambda c: {}),
    ("create_workflow", lambda c: {"name": "wf" + c["tag"], "initial_prompt": "Write about tides."}),
    ("get_workflow", lambda c: {"id": c["create_workflow"]["id"]}),
    ("list_workflows", lambda c: {}),
    ("update_workflow", lambda c: {"id": c["create_workflow"]["id"], "description": "tides"}),
    ("execute_workflow", lambda c: {"id": c["create_workflow"]["id"]}),
    ("add_workflow_node", lambda c: {"id": c["create_workflow"]["id"], "prompt": "And the moon."}),
    ("get_workflow_node", lambda c: {"node_id": c["add_workflow_node"]["id"]}),
    ("update_workflow_node", lambda c: {"node_id": c["add_workflow_node"]["id"], "title": "Moon"}),
    ("workflow_node_versions", lambda c: {"node_id": c["add_workflow_node"]["id"]}),
    ("workflow_analytics", lambda c: {"id": c["create_workflow"]["id"]}),
    ("export_workflow", lambda c: {"id": c["create_workflow"]["id"], "format": "markdown"}),
    ("search_workflows", lambda c: {"query": "tides"}),
    ("export_workflow_html", lambda c: {"id": c["create_workflow"]["id"]}),
    ("set_chain_head", lambda c: {"chain_id": c["create_workflow"]["id"], "document_id": c["add_workflow_node"]["id"]}),
    ("main_line", lambda c: {"chain_id": c["create_workflow"]["id"]}),
    ("write_document", lambda c: {"chain_id": c["create_workflow"]["id"], "content": "Tides, by hand.",
                                  "parent_id": (c["create_workflow"]["root"] or {}).get("id")}),
    ("regenerate_document", lambda c: {"document_id": c["add_workflow_node"]["id"]}),
    ("diff_document", lambda c: {"document_id": c["add_workflow_node"]["id"]}),
    ("revert_document", lambda c: {"document_id": c["add_workflow_node"]["id"], "version": 1}),
    ("merge_branches", lambda c: {"into_document": c["add_workflow_node"]["id"],
                                  "from_document": c["write_document"]["id"]}),
    ("delete_document", lambda c: {"document_id": c["write_document"]["id"]}),
    ("delete_workflow", lambda c: {"id": c["create_workflow"]["id"]}),
    ("ai_generate", lambda c: {"prompt": "Say hello."}),
    ("ai_chat", lambda c: {"messages": [{"role": "user", "content": "Hello?"}]}),
    ("analyze_text", lambda c: {"text": "The tide comes in. The tide goes out."}),
    ("ai_providers", lambda c: {}),
    ("create_ml_model", lambda c: {"name": "ml" + c["tag"], "model_type": "regression",
                                   "algorithm": "linear_regression"}),
    ("train_ml_model", lambda c: {"model": "ml" + c["tag"], "target_column": "y", "test_size": 0,
                                  "training_data": [{"x": i, "y": 2 * i + 1} for i in range(10)]}),
    ("predict_ml_model", lambda c: {"model": "ml" + c["tag"], "input_data": {"x": 20}}),
    ("list_ml_models", lambda c: {}),
    ("get_ml_model", lambda c: {"model": "ml" + c["tag"]}),
    ("ml_model_performance", lambda c: {"model": "ml" + c["tag"]}),
    ("deploy_ml_model", lambda c: {"model": "ml" + c["tag"], "version": 1}),
    ("ml_stats", lambda c: {}),
    ("delete_ml_model", lambda c: {"model": "ml" + c["tag"]}),
    ("create_rec_model", lambda c: {"name": "rec" + c["tag"], "algorithm": "als", "parameters": {"rank": 2}}),
    ("add_interaction", lambda c: {"user_id": "u1", "item_id": "i1", "rating": 4}),
    ("set_item_features", lambda c: {"item_id": "i1", "features": {"colour": "red"}}),
    ("train_rec_model", lambda c: {"model": "rec" + c["tag"], "options": {"test_size": 0}}),
    ("get_recommendations", lambda c: {"user_id": "u1", "model": "rec" + c["tag"], "exclude_interacted": False}),
    ("similar_items", lambda c: {"item_id": "i1", "model": "rec" + c["tag"]}),
    ("get_rec_model", lambda c: {"model": "rec" + c["tag"]}),
    ("rec_stats", lambda c: {}),
    # two approvals: the run waits for people, so pausing, approving and cancelling meet it running
    ("create_ai_workflow", lambda c: {"name": "w" + c["tag"], "steps": [{"id": "ok", "type": "approval"},
                                                                        {"id": "ok2", "type": "approval", "after": ["ok"]}]}),
    ("create_ai_workflow_from_template", lambda c: {"template": "summarization", "name": "ws" + c["tag"]}),
    ("ai_workflow_templates", lambda c: {}),
    ("list_ai_workflows", lambda c: {}),
    ("get_ai_workflow", lambda c: {"name": "w" + c["tag"]}),
    ("execute_ai_workflow", lambda c: {"name": "w" + c["tag"], "input_data": {"text": "Some text."}}),
    ("get_ai_workflow_run", lambda c: {"run_id": c["execute_ai_workflow"]["id"]}),
    ("pause_ai_workflow_run", lambda c: {"run_id": c["execute_ai_workflow"]["id"]}),
    ("resume_ai_workflow_run", lambda c: {"run_id": c["execute_ai_workflow"]["id"]}),
    ("approve_ai_workflow_step", lambda c: {"run_id": c["execute_ai_workflow"]["id"], "step": "ok",
                                            "approved": True, "comment": "fine"}),
    ("cancel_ai_workflow_run", lambda c: {"run_id": c["execute_ai_workflow"]["id"]}),
    ("ai_workflow_stats", lambda c: {"name": "w" + c["tag"]}),
    ("delete_ai_workflow", lambda c: {"name": "ws" + c["tag"]}),
    ("create_automation", lambda c: {"name": "a" + c["tag"], "trigger_type": "api",
                                     "actions": [{"type": "emit", "kind": "apitest.done"}]}),
    ("create_automation_from_template", lambda c: {"template": "triage_with_ai", "name": "t" + c["tag"],
                                                   "changes": {"enabled": False}}),
    ("automation_templates", lambda c: {}),
    ("list_automations", lambda c: {}),
    ("get_automation", lambda c: {"name": "a" + c["tag"]}),
    ("enable_automation", lambda c: {"name": "a" + c["tag"], "enabled": True}),
    ("trigger_automation", lambda c: {"name": "a" + c["tag"], "trigger_data": {"x": 1}, "context": {"request_id": "r1"}}),
    ("automation_runs", lambda c: {"name": "a" + c["tag"]}),
    ("automation_stats", lambda c: {}),
    ("delete_automation", lambda c: {"name": "t" + c["tag"]}),
    ("automation_webhook", lambda c: webhook_call(c)),
    ("allow_http_host", lambda c: {"host": "hooks-%s.example.com" % c["tag"], "note": "api test"}),
    ("disallow_http_host", lambda c: {"host": "hooks-%s.example.com" % c["tag"]}),
    ("set_notification_preference", lambda c: {"type": "email", "enabled": True, "quiet_start": "22:00",
                                               "quiet_end": "07:00", "timezone": "Europe/Madrid"}),
    ("add_notification_address", lambda c: {"type": "sms", "address": "+34600111222"}),
    ("notification_settings", lambda c: {}),
    ("send_notification", lambda c: {"channel": "in_app", "user_id": c["notification_settings"]["user_id"],
                                     "subject": "Hi", "message": "Hello " + c["tag"]}),
    ("notification_status", lambda c: {"id": c["send_notification"]["id"]}),
    ("notification_stats", lambda c: {}),
    ("my_notifications", lambda c: {}),
    ("mark_notifications_read", lambda c: {}),
    ("websocket_stats", lambda c: {}),
    ("list_users", lambda c: {}),
    ("create_user", lambda c: {"username": "made" + c["tag"], "password": PASSWORD}),
    ("set_user_status", lambda c: {"user_id": c["create_user"]["id"], "status": "disabled"}),
    ("security_summary", lambda c: {}),
    ("set_rate_limit", lambda c: {"subject_kind": "user", "subject": c["create_user"]["id"],
                                  "requests_per_second": 50}),
    ("audit_verify", lambda c: {}),
    ("audit_logs", lambda c: {}),
    ("audit_user_activity", lambda c: {"user_id": c["create_user"]["id"]}),
    ("audit_record_history", lambda c: {"table_name": "dwc.users", "row_key": {"id": c["create_user"]["id"]}}),
    ("audit_changes_by_actor", lambda c: {}),
    ("auth_events_summary", lambda c: {}),
    ("define_metric", lambda c: {"name": "api_%s_total" % c["tag"], "type": "counter"}),
    ("record_metric", lambda c: {"name": "api_contract_total", "value": 1}),
    ("list_metrics", lambda c: {}),
    ("metric_series", lambda c: {"name": "dwc_system_cpu_usage_ratio"}),
    ("system_metrics", lambda c: {}),
    ("prometheus_metrics", lambda c: {}),
    ("analytics_summary", lambda c: {"time_range": "hour"}),
    ("user_activity", lambda c: {"time_range": "hour"}),
    ("active_users", lambda c: {}),
    ("ai_analytics", lambda c: {}),
    ("insights", lambda c: {}),
    ("cache_stats", lambda c: {}),
    ("cache_clear", lambda c: {"expired_only": True}),
    ("service_status", lambda c: {}),
    ("dashboard", lambda c: {"time_range": "hour"}),
    ("mfa_enroll", lambda c: {}),
    ("mfa_confirm", lambda c: {"code": totp(c["mfa_enroll"]["secret"]) if c["mfa_enroll"]["secret"] else None}),
    ("mfa_disable", lambda c: {"code": (c["mfa_confirm"]["recovery_codes"] or [None])[0]}),
    ("change_password", lambda c: {"current_password": PASSWORD, "new_password": PASSWORD + "x"}),
    ("revoke_session", lambda c: {"session": str(uuid.uuid4())}),
    # the account calls of anonymous callers last: they need no identity
    ("register", lambda c: {"username": "r" + c["tag"], "password": PASSWORD}),
    ("login", lambda c: {"username": "r" + c["tag"], "password": PASSWORD}),
    ("refresh_token", lambda c: {"refresh_token": c["login"]["refresh_token"]}),
    ("logout", lambda c: {"refresh_token": c["refresh_token"]["refresh_token"]}),
]


@pytest.fixture
def rest(cluster):
    conn = cluster.connect(IT_DB)
    q(conn, "SELECT dwc.set_rate_limit('address', '203.0.113.7', 1000, 1000)")
    q(conn, "SELECT dwc.define_metric('api_contract_total', 'counter')")   # record_metric's
    # register_job_kind's handler
    q(conn, "CREATE OR REPLACE FUNCTION public.api_contract_kind(payload jsonb) RETURNS jsonb "
            "LANGUAGE sql AS 'SELECT payload'")
    # signed-in users may send in-app notifications here (to themselves, in these calls)
    q(conn, "SELECT dwc.alter_notification_channel('in_app', '{\"senders\": [\"dwc_user\", \"dwc_admin\"]}')")
    # password resets need an email channel (nothing is sent: the addresses have no account)
    q(conn, "SELECT dwc.add_notification_channel('api_alerts', 'email', "
            "'{\"url\": \"smtp://127.0.0.1:9\", \"from\": \"dwc@example.com\", \"tls\": \"none\"}')")
    q(conn, "ALTER SYSTEM SET dwc.security_alert_channel = 'api_alerts'")
    q(conn, "SELECT pg_reload_conf()")
    time.sleep(0.2)
    yield PostgREST(conn, JWT_SECRET)
    q(conn, "ALTER SYSTEM RESET dwc.security_alert_channel")
    q(conn, "SELECT pg_reload_conf()")
    q(conn, "SELECT dwc.drop_notification_channel('api_alerts')")
    q(conn, "SELECT dwc.alter_notification_channel('in_app', '{\"senders\": []}')")
    conn.close()


def webhook_call(c):
    """A signed call of a webhook automation (made here, by the superuser, for any caller)."""
    made = one(c["conn"], "SELECT dwc.create_automation(%s, 'webhook', '{}', '[{\"type\": \"emit\", \"kind\": \"apitest.hook\"}]')",
               ("wh" + c["tag"],))
    body = '{"hello": "world"}'
    stamp = str(int(time.time()))
    sig = hmac.new(made["webhook"]["secret"].encode(), ("%s.%s" % (stamp, body)).encode(), hashlib.sha256).hexdigest()
    return {"__raw__": body, "__headers__": {"x-dwc-webhook": made["webhook"]["id"], "x-dwc-timestamp": stamp,
                                             "x-dwc-signature": "sha256=" + sig}}


def reset_code(c):
    """A reset code for a fresh account (made here, by the superuser: the real one is emailed)."""
    uid = one(c["conn"], "SELECT dwc.create_user(%s, %s)->>'id'", ("rs" + c["tag"], PASSWORD))
    code = "code-" + uuid.uuid4().hex
    q(c["conn"], "INSERT INTO dwc.password_resets (token_hash, user_id, expires_at) "
                 "VALUES (sha256(convert_to(%s, 'UTF8')), %s, now() + interval '1 hour')", (code, uid))
    return {"token": code, "new_password": PASSWORD + "x"}


def call(rest, name, a, auth):
    if "__raw__" in a:
        return rest.rpc(name, raw=a["__raw__"], headers=a["__headers__"], **auth)
    return rest.rpc(name, a, **auth)


def caller(rest, kind):
    """kind: anon (no credentials), user or admin (bearer token), key (a user's API key)."""
    tag = uuid.uuid4().hex[:8]
    if kind == "anon":
        return {"tag": tag, "auth": {}, "conn": rest.conn}
    name = "acc" + tag
    role = "dwc_admin" if kind == "admin" else "dwc_user"
    uid = one(rest.conn, "SELECT dwc.create_user(%s, %s, role => %s)->>'id'", (name, PASSWORD, role))
    # this test makes more calls a second than a user's default rate limit lets through
    q(rest.conn, "SELECT dwc.set_rate_limit('user', %s, 1000, 1000)", (uid,))
    status, body = rest.rpc("login", {"username": name, "password": PASSWORD})
    assert status == 200, body
    auth = {"token": body["access_token"]}
    if kind == "key":
        status, key = rest.rpc("create_api_key", {"name": "all", "scopes": ["*"]}, **auth)
        assert status == 200, key
        q(rest.conn, "SELECT dwc.set_rate_limit('api_key', %s, 1000, 1000)", (str(key["id"]),))
        auth = {"api_key": key["key"]}
    return {"tag": tag, "auth": auth, "conn": rest.conn}


def admits(access, kind):
    return {"anon": True, "user": kind in ("user", "admin", "key"), "admin": kind == "admin"}[access]


def test_every_api_function_has_a_call_here(rest):
    names = {r[0] for r in q(rest.conn, "SELECT name FROM dwc.api_access")}
    functions = {r[0] for r in q(rest.conn, "SELECT proname FROM pg_proc WHERE pronamespace = 'api'::regnamespace")}
    assert names == functions
    assert names == {name for name, _ in CALLS}


@pytest.mark.parametrize("kind", ["anon", "user", "key", "admin"])
def test_api_functions_answer_every_caller_they_admit(rest, kind):
    access = dict(q(rest.conn, "SELECT name, access FROM dwc.api_access"))
    ctx = caller(rest, kind)
    wrong = []
    for name, args in CALLS:
        if not admits(access[name], kind):
            continue
        try:
            a = args(ctx)
        except (KeyError, TypeError):
            wrong.append("%s: an earlier call it depends on failed" % name)
            continue
        status, body = call(rest, name, a, ctx["auth"])
        ctx[name] = body
        if status != 200 and not (name == "health" and status == 503):
            wrong.append("%s as %s: %s %s" % (name, kind, status, body))
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("kind", ["anon", "user"])
def test_api_functions_refuse_callers_they_do_not_admit(rest, kind):
    access = dict(q(rest.conn, "SELECT name, access FROM dwc.api_access"))
    # arguments that would come from earlier calls are NULL: the refusal comes first
    ctx = collections.defaultdict(lambda: collections.defaultdict(lambda: None), caller(rest, kind))
    refused = 0
    for name, args in CALLS:
        if admits(access[name], kind):
            continue
        a = args(ctx)
        status, body = call(rest, name, a, ctx["auth"])
        assert status == (401 if kind == "anon" else 403), (name, status, body)
        refused += 1
    assert refused >= (40 if kind == "anon" else 10)


def test_an_administrator_sets_up_a_provider_over_http_and_its_key_is_never_returned(rest, fake_ai):
    """Through the api alone (no superuser, no psql): an administrator adds a provider with its
    key, which is stored encrypted, sent to the provider, and never returned; a user may not."""
    fake = fake_ai("openai")
    admin, user = caller(rest, "admin"), caller(rest, "user")
    name = "http_" + admin["tag"]
    args = {"name": name, "kind": "openai", "base_url": fake.base_url, "api_key": fake.key}
    status, body = rest.rpc("add_ai_provider", args, **user["auth"])
    assert status == 403, body
    status, body = rest.rpc("add_ai_provider", args, **admin["auth"])
    assert status == 200 and body["name"] == name and body["has_key"] is True, body
    assert fake.key not in str(body)
    stored = one(rest.conn, "SELECT api_key_encrypted FROM dwc.ai_providers WHERE name = %s", (name,))
    assert stored is not None and fake.key.encode() not in bytes(stored)
    status, body = rest.rpc("ai_providers", {}, **admin["auth"])
    assert status == 200 and fake.key not in str(body), body
    # the key reaches the provider
    fake.reply_text = "hello from the fake"
    assert one(rest.conn, "SELECT dwc.ai_generate('hi', provider => %s)->>'text'", (name,)) == "hello from the fake"
    status, body = rest.rpc("remove_ai_provider", {"provider": name}, **admin["auth"])
    assert status == 200 and body == {"removed": True}, body


def test_the_shipped_postgrest_conf_names_what_exists_and_docs_show_it(rest):
    """postgrest.conf (which the replay reads): its schema, anonymous role and pre-request
    function exist, its audience is dwc.jwt_audience's default; docs/http.md shows it as it is."""
    import os
    import re
    from postgrest import CONF, read_conf
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert one(rest.conn, "SELECT count(*) FROM pg_namespace WHERE nspname = %s", (CONF["db-schemas"],)) == 1
    assert one(rest.conn, "SELECT count(*) FROM pg_roles WHERE rolname = %s AND NOT rolcanlogin",
               (CONF["db-anon-role"],)) == 1
    assert one(rest.conn, "SELECT to_regprocedure(%s || '()') IS NOT NULL", (CONF["db-pre-request"],))
    assert one(rest.conn, "SELECT boot_val FROM pg_settings WHERE name = 'dwc.jwt_audience'") == CONF["jwt-aud"]
    with open(os.path.join(root, "docs", "http.md")) as f:
        block = re.search(r"```ini\n(.*?)```", f.read(), re.S).group(1)
    import tempfile
    with tempfile.NamedTemporaryFile("w", suffix=".conf") as shown:
        shown.write(block)
        shown.flush()
        assert read_conf(shown.name) == CONF


def test_list_endpoints_read_like_tables(rest):
    """Every set-returning api function (a list) answers PostgREST's table reads: select,
    order, limit, a filter, and Prefer: count=exact with its Content-Range and 206 for a
    partial page; the same rows as the whole list, as an administrator sees them."""
    conn = rest.conn
    ctx = caller(rest, "admin")
    me = one(conn, "SELECT id FROM dwc.users WHERE username = 'acc' || %s", (ctx["tag"],))
    q(conn, "SELECT dwc.create_user(%s, %s)", ("other" + ctx["tag"], PASSWORD))
    for i in range(2):
        q(conn, "SELECT dwc.enqueue('noop', '{}', delay => '1 hour')")
        q(conn, "SELECT dwc.create_chain(%s, 'Write about lists.')", ("list" + ctx["tag"] + str(i),))
        q(conn, "SELECT dwc.ml_create_model(%s, 'regression', 'linear_regression', '{}')", ("m" + ctx["tag"] + str(i),))
        q(conn, "SELECT dwc.schedule(%s, '0 3 * * *', 'noop', '{}')", ("s" + ctx["tag"] + str(i),))
        q(conn, "SELECT dwc.create_ai_workflow(%s, '[{\"id\": \"g\", \"type\": \"generate\", \"prompt\": \"hi\"}]')",
          ("w" + ctx["tag"] + str(i),))
        q(conn, "SELECT dwc.notify('in_app', user_id => %s, subject => 'list', body => %s)", (str(me), str(i)))
    for i in range(2):
        for name, a in (("login", {"username": "acc" + ctx["tag"], "password": PASSWORD}),   # a second session
                        ("create_api_key", {"name": "k%d" % i, "scopes": ["tasks"]}),
                        ("create_automation", {"name": "a%s%d" % (ctx["tag"], i), "trigger_type": "api",
                                               "actions": [{"type": "emit", "kind": "apitest.done"}]}),
                        ("trigger_automation", {"name": "a%s0" % ctx["tag"], "trigger_data": {"x": i}})):
            status, body = rest.rpc(name, a, **ctx["auth"])
            assert status == 200, (name, body)
    rest_wait = time.monotonic() + 30
    while one(conn, "SELECT count(*) FROM dwc.inbox WHERE user_id = %s", (str(me),)) < 2:
        assert time.monotonic() < rest_wait, "the in-app notifications were not delivered"
        time.sleep(0.1)
    sets = q(conn, "SELECT p.proname, (SELECT n FROM unnest(p.proargnames, p.proargmodes) AS a (n, m) "
                   "WHERE m = 't' LIMIT 1) FROM pg_proc p WHERE p.pronamespace = 'api'::regnamespace AND p.proretset")
    assert {"list_tasks", "list_workflows", "list_ml_models", "list_users", "audit_logs", "list_schedules",
            "my_notifications", "list_ai_workflows", "metric_series", "insights", "list_automations",
            "automation_runs", "list_metrics", "list_sessions", "list_api_keys",
            "list_notification_channels"} <= {n for n, _ in sets}
    args = dict(CALLS, automation_runs=lambda c: {"name": "a%s0" % c["tag"]})
    wrong = []
    for name, first in sets:
        a = args[name](ctx)
        status, whole = rest.rpc(name, a, get=True, **ctx["auth"])
        if status != 200 or not isinstance(whole, list):
            wrong.append("%s: %s %s" % (name, status, whole))
            continue
        if len(whole) < 2 and name not in ("metric_series", "insights"):
            wrong.append("%s: %d rows, the test made two" % (name, len(whole)))
        # the order is the server's (its collation), the same with or without a limit
        status, ordered = rest.rpc(name, a, get=True, query={"select": first, "order": first + ".desc.nullslast"},
                                   **ctx["auth"])
        if status != 200 or sorted(map(str, ordered)) != sorted(str({first: r[first]}) for r in whole):
            wrong.append("%s ordered: %s %s" % (name, status, ordered))
            continue
        status, page = rest.rpc(name, a, get=True, headers={"Prefer": "count=exact"},
                                query={"select": first, "order": first + ".desc.nullslast", "limit": 1}, **ctx["auth"])
        expected = ordered[:1]
        want = (206 if len(whole) > 1 else 200, expected,
                ("0-0/%d" % len(whole)) if whole else "*/0")
        if (status, page, rest.headers.get("Content-Range")) != want:
            wrong.append("%s page: %s %s %s, not %s" % (name, status, page, rest.headers.get("Content-Range"), want))
        if whole:
            status, same = rest.rpc(name, a, get=True, query={first: "eq.%s" % whole[0][first]}, **ctx["auth"])
            if status != 200 or not same or any(r[first] != whole[0][first] for r in same):
                wrong.append("%s filter: %s %s" % (name, status, same))
    assert not wrong, "\n".join(wrong)


def test_a_badly_signed_webhook_is_unauthenticated(rest):
    """401, as docs/automation.md says: the signature is the credential."""
    call = webhook_call({"conn": rest.conn, "tag": uuid.uuid4().hex[:8]})
    status, body = rest.rpc("automation_webhook", raw=call["__raw__"], headers=call["__headers__"])
    assert status == 200, body
    bad = dict(call["__headers__"], **{"x-dwc-signature": "sha256=" + "0" * 64})
    status, body = rest.rpc("automation_webhook", raw=call["__raw__"], headers=bad)
    assert status == 401 and "signature" in body["message"], (status, body)
