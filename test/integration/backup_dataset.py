"""A dataset that puts rows in every table of dwc, for the backup tests (test_backup.py):
users with a login, MFA and a password reset, keys and rate limits, chains, queued and
finished jobs, a schedule that fired, an ML model and a recommender model, automations,
notifications, audited tables, metrics, events, a room."""
import json
import time

from conftest import IT_DB, JWT_SECRET, one, q
from test_security import totp

PASSWORD = "tidy horse battery 42!"


def tables_without_rows(conn):
    """dwc's tables (the extension's own; a partitioned table counts with all its partitions)
    that have no rows."""
    empty = []
    for (t,) in q(conn, "SELECT c.oid::regclass::text FROM pg_class c JOIN pg_depend d ON d.classid = 'pg_class'::regclass "
                        "AND d.objid = c.oid AND d.deptype = 'e' AND d.refobjid = (SELECT oid FROM pg_extension "
                        "WHERE extname = 'dwc') WHERE (c.relkind = 'r' AND NOT c.relispartition) OR c.relkind = 'p' "
                        "ORDER BY 1"):
        if not one(conn, "SELECT EXISTS (SELECT 1 FROM %s)" % t):
            empty.append(t)
    return empty


def wait(conn, sql, params=None, timeout=60):
    deadline = time.time() + timeout
    while not one(conn, sql, params):
        if time.time() > deadline:
            raise AssertionError("not within %d s: %s" % (timeout, sql))
        time.sleep(0.2)


def build(c, ai):
    """Fill dwc's tables in database IT_DB of cluster c; ai: a FakeAI (openai) for the calls
    whose answers are cached (the built-in offline provider's are not)."""
    from postgrest import PostgREST
    conn = c.connect(IT_DB)
    rest = PostgREST(conn, JWT_SECRET)
    q(conn, "SELECT dwc.set_rate_limit('address', '127.0.0.1', 1000, 1000)")

    # users: one with a login, MFA (recovery codes) and a password reset; an administrator
    alice = one(conn, "SELECT dwc.create_user('alice', %s, 'alice@example.com')", (PASSWORD,))["id"]
    one(conn, "SELECT dwc.create_user('root1', %s, role => 'dwc_admin')", (PASSWORD,))
    tok = one(conn, "SELECT dwc.login('alice', %s)", (PASSWORD,))["access_token"]
    status, enrol = rest.rpc("mfa_enroll", token=tok)
    assert status == 200, enrol
    status, conf = rest.rpc("mfa_confirm", {"code": totp(enrol["secret"])}, token=tok)
    assert status == 200, conf
    status, key = rest.rpc("create_api_key", {"name": "k", "scopes": ["tasks"]}, token=tok)
    assert status == 200, key
    q(conn, "SELECT dwc.set_rate_limit('user', %s, 50, 100)", (alice,))
    q(conn, "UPDATE dwc.rate_limits SET requests_per_second = 7 WHERE subject_kind = 'role' AND subject = 'dwc_user'")

    # an audited table of the application's
    q(conn, "CREATE TABLE public.orders (id int PRIMARY KEY, amount numeric)")
    q(conn, "SELECT dwc.audit_table('public.orders')")
    q(conn, "INSERT INTO public.orders SELECT g, g * 1.5 FROM generate_series(1, 20) g")

    # queue: a registered kind, a paused queue, jobs finished, failed and still queued
    q(conn, "CREATE FUNCTION public.later(p jsonb) RETURNS jsonb LANGUAGE sql AS 'SELECT p'")
    q(conn, "SELECT dwc.register_job_kind('it.later', 'public.later(jsonb)')")
    q(conn, "SELECT dwc.pause_queue('default')")
    q(conn, "SELECT dwc.resume_queue('default')")
    q(conn, "SELECT dwc.enqueue('sql', '{\"sql\": \"SELECT 1\"}')")
    q(conn, "SELECT dwc.enqueue('sql', '{\"sql\": \"SELECT 1/0\"}', max_attempts => 1)")
    q(conn, "SELECT dwc.enqueue('sql', '{\"sql\": \"SELECT 2\"}', run_at => now() + interval '2 days')")
    # a schedule that fired once, then waits for next year
    sid = one(conn, "SELECT dwc.schedule('tick', '1 second', 'sql', '{\"sql\": \"SELECT 3\"}')")
    wait(conn, "SELECT EXISTS (SELECT 1 FROM dwc.schedule_runs WHERE schedule_id = %s)", (sid,))
    q(conn, "SELECT dwc.disable_schedule(%s)", (sid,))
    one(conn, "SELECT dwc.schedule('yearly', '0 3 1 1 *', 'sql', '{\"sql\": \"SELECT 4\"}')")

    # chains and documents (the built-in offline provider), an AI call
    chain = one(conn, "SELECT dwc.create_chain('guide', 'Write about lighthouses and their keepers.')")
    doc = one(conn, "SELECT dwc.continue_chain(%s)", (chain["id"],))
    q(conn, "SELECT dwc.edit_document(%s, 'A keeper''s day, rewritten by hand.')", (doc["id"],))
    q(conn, "SELECT dwc.add_provider('fake', 'openai', %s, api_key => %s, cache_ttl => '1 day')", (ai.base_url, ai.key))
    one(conn, "SELECT dwc.ai_generate('Say something about tides.', provider => 'fake')")

    # an AI workflow from a template, run to its end
    q(conn, "SELECT dwc.create_ai_workflow_from_template('summarization', 'sum1')")
    run = one(conn, "SELECT dwc.run_ai_workflow('sum1', '{\"text\": \"Tides rise and fall twice a day.\"}')")
    wait(conn, "SELECT status IN ('succeeded', 'failed') FROM dwc.ai_workflow_runs WHERE id = %s", (run["id"],))

    # ML: a model trained and deployed
    q(conn, "CREATE TABLE public.flowers AS SELECT g AS id, (g % 7)::float8 AS a, (g % 5)::float8 AS b, "
            "CASE WHEN g % 7 > 3 THEN 'big' ELSE 'small' END AS kind FROM generate_series(1, 120) g")
    q(conn, "SELECT dwc.ml_create_model('flowers', 'classification', 'decision_tree', '{\"max_depth\": 3}')")
    q(conn, "SELECT dwc.ml_train('flowers', 'public.flowers', target => 'kind', features => '{a,b}')")

    # recommender: items, interactions, a trained model, a batch of recommendations
    q(conn, "SELECT dwc.rec_create_model('shop', 'als', '{\"rank\": 4, \"iterations\": 5, \"seed\": 1}')")
    for u in range(8):
        for i in range(6):
            if (u + i) % 3:
                q(conn, "SELECT dwc.rec_interact(%s, %s, %s)", ("u%d" % u, "i%d" % i, 1 + (u * i) % 5))
    q(conn, "SELECT dwc.rec_set_item('i0', '{\"color\": \"red\"}')")
    q(conn, "SELECT dwc.rec_create_model('near', 'item_knn')")
    q(conn, "SELECT dwc.rec_train('shop')")
    q(conn, "SELECT dwc.rec_train('near')")
    q(conn, "SELECT dwc.rec_recommend_all('shop', 3)")

    # automations: an event trigger with an action, a webhook trigger (its secret), a run
    q(conn, "SELECT dwc.create_automation('on_paid', 'event', '{\"kinds\": [\"shop.paid\"]}', "
            "'[{\"type\": \"emit\", \"kind\": \"shop.thanked\"}]')")
    q(conn, "SELECT dwc.create_automation('hook', 'webhook', '{}', '[{\"type\": \"emit\", \"kind\": \"shop.hooked\"}]')")
    q(conn, "SELECT dwc.allow_http_host('hooks.example.com', 'where web users automations may call')")
    q(conn, "SELECT dwc.emit('shop.paid', 'order:1', '{\"amount\": 5}')")
    wait(conn, "SELECT EXISTS (SELECT 1 FROM dwc.automation_runs r JOIN dwc.automations a ON a.id = r.automation_id "
               "WHERE a.name = 'on_paid' AND r.status = 'succeeded')")

    # notifications: a channel with a secret, an address, a preference, a template, in-app and email
    q(conn, "SELECT dwc.add_notification_channel('mail', 'email', '{\"url\": \"smtp://127.0.0.1:9\", "
            "\"from\": \"dwc@example.com\"}', 's3cret')")
    q(conn, "SELECT dwc.add_notification_address('email', 'alice@example.com', %s)", (alice,))
    q(conn, "ALTER SYSTEM SET dwc.security_alert_channel = 'mail'")
    q(conn, "SELECT pg_reload_conf()")
    wait(conn, "SELECT current_setting('dwc.security_alert_channel') = 'mail'")
    q(conn, "SELECT dwc.request_password_reset('alice@example.com')")
    q(conn, "SELECT dwc.create_notification_template('hello', 'Hello {{name}}', 'Hi')")
    status, pref = rest.rpc("set_notification_preference", {"type": "email", "enabled": False}, token=tok)
    assert status == 200, pref
    q(conn, "SELECT dwc.notify('in_app', subject => 'Hi', body => 'Welcome', user_id => %s)", (alice,))
    q(conn, "SELECT dwc.notify('mail', 'alice@example.com', 'Hi', 'Welcome', send_at => now() + interval '1 day')")

    # metrics: a counter with labels, samples and an hourly rollup
    q(conn, "SELECT dwc.define_metric('orders_total', 'counter', 'Orders.')")
    q(conn, "SELECT dwc.metric_inc('orders_total', 3, '{\"shop\": \"a\"}')")
    # an hour gone by, rolled up (only complete hours are)
    q(conn, "INSERT INTO dwc.metric_samples (at, name, labels, value) "
            "SELECT now() - interval '2 hours' + g * interval '1 minute', 'orders_total', '{\"shop\": \"a\"}', g "
            "FROM generate_series(1, 5) g")
    q(conn, "SELECT dwc._metrics_rollup()")

    # a room for the WebSocket gateway
    q(conn, "SELECT dwc.create_room('team', ARRAY[%s])", (alice,))

    # an insight, as the maintenance worker records them (z-scores need weeks of history)
    q(conn, "INSERT INTO dwc.analytics_insights (series, labels, at, bucket, value, mean, stddev, z, direction, "
            "severity, message) VALUES ('orders_total', '{}', date_trunc('hour', now()), '1 hour', 40, 3, 1, 37, "
            "'up', 'critical', 'planted')")

    # a Citus coordinator's cursors over its worker nodes, and a worker node's kept change
    # (docs/scaling.md), as their collectors write them: a plain server has no worker nodes
    q(conn, "INSERT INTO dwc.audit_node_cursors (groupid, batch, copied) VALUES (1, 4, 120)")
    q(conn, "INSERT INTO dwc.shard_change_cursors (groupid, txid, id, fired) VALUES (1, 900, 17, 17)")
    q(conn, "INSERT INTO dwc.shard_changes (automation_id, data) VALUES (1, '{\"op\": \"insert\", \"depth\": 0}')")

    # the audit seal covers everything so far
    mark = one(conn, "SELECT txid_current()")
    wait(conn, "SELECT NOT EXISTS (SELECT 1 FROM dwc.audit_log a, dwc.audit_seal_state s "
               "WHERE a.txid >= s.horizon AND a.txid < %s)", (mark,))
    conn.close()
