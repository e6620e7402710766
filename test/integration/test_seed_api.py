"""The product description's own HTTP examples (its `curl` commands, read from
../shared/seed/product-description.md), each sent as written through the PostgREST replay
after the route table of docs/http.md ("The seed's endpoints") turns its path into a
PostgREST request: every one answers 2xx, but the sign-in with the seed's password
`admin123`, which the password policy refuses to let any account have.

The setup is the one docs/http.md describes for trying them: a fresh database, an
administrator signed in, an AI provider named `openai` (here the loopback fake of OpenAI's
wire format), an email channel named `email` the administrator may send through, and the
seed's job kind `data_processing` registered. A path's seed-style id (`ml_model_1`) names
the object with that id (`#1`), which is what the seed's server would have answered with.
"""
import json
import os
import re

import pytest

from conftest import JWT_SECRET, TEST_SETTINGS, one, q
from postgrest import PostgREST

SEED = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "shared", "seed",
                    "product-description.md")
PASSWORD = "Seed-Owner-Passphrase-42!"

# (method, seed path, PostgREST function, the path's {id} as this argument)
ROUTES = [
    ("GET", r"/health", "health", None),
    ("POST", r"/api/v3/security/auth/login", "login", None),
    ("POST", r"/api/v3/ml/models", "create_ml_model", None),
    ("POST", r"/api/v3/ml/models/{id}/train", "train_ml_model", "model"),
    ("POST", r"/api/v3/ml/models/{id}/predict", "predict_ml_model", "model"),
    ("POST", r"/api/v3/recommendations/interactions", "add_interaction", None),
    ("POST", r"/api/v3/recommendations/items/features", "set_item_features", None),
    ("POST", r"/api/v3/recommendations/models", "create_rec_model", None),
    ("POST", r"/api/v3/recommendations/models/{id}/train", "train_rec_model", "model"),
    ("POST", r"/api/v3/recommendations/recommendations", "get_recommendations", None),
    ("POST", r"/api/v3/ai-workflows", "create_workflow", None),
    ("POST", r"/api/v3/ai-workflows/{id}/execute", "execute_workflow", "id"),
    ("POST", r"/api/v3/automations", "create_automation", None),
    ("POST", r"/api/v3/automations/{id}/trigger", "trigger_automation", "name"),
    ("POST", r"/api/v3/advanced/ai/generate", "ai_generate", None),
    ("POST", r"/api/v3/advanced/workflows/execute", "execute_workflow", None),
    ("POST", r"/api/v3/advanced/notifications/send", "send_notification", None),
    ("GET", r"/api/v3/advanced/analytics/summary", "analytics_summary", None),
    ("GET", r"/api/v3/security/stats", "security_summary", None),
    ("GET", r"/api/v3/security/audit/logs", "audit_logs", None),
    ("GET", r"/api/v3/ws/stats", "websocket_stats", None),
    ("POST", r"/api/v3/background/tasks/submit", "submit_task", None),
    ("GET", r"/api/v3/background/service/stats", "background_stats", None),
    ("POST", r"/api/v3/scheduler/schedules/cron", "create_cron_schedule", None),
    ("GET", r"/api/v3/scheduler/service/stats", "scheduler_stats", None),
    ("POST", r"/api/v3/metrics/metrics/{type}", "record_metric", "type"),
    ("GET", r"/api/v3/metrics/metrics/system/overview", "system_metrics", None),
    ("GET", r"/api/v3/metrics/service/stats", "list_metrics", None),
    ("GET", r"/api/v3/ai-workflows/templates", "ai_workflow_templates", None),
    ("GET", r"/api/v3/ai-workflows/stats", "ai_workflow_stats", None),
    ("GET", r"/api/v3/automations/templates", "automation_templates", None),
    ("GET", r"/api/v3/automations/stats", "automation_stats", None),
    ("GET", r"/api/v3/ml/stats", "ml_stats", None),
    ("GET", r"/api/v3/recommendations/stats", "rec_stats", None),
]


def seed_requests():
    """(method, path, query, body) of every curl command in the seed's shell examples."""
    with open(SEED) as f:
        text = f.read()
    found = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        joined = re.sub(r"\\\n\s*", " ", block)
        for part in re.split(r"(?m)^(?=curl )", joined):
            if not part.startswith("curl "):
                continue
            part = re.sub(r"(?m)^#.*$", "", part)
            method = re.search(r"-X (\w+)", part)
            url = re.search(r"http://localhost:8000(\S+)", part).group(1)
            body = re.search(r"-d '(.*?)'", part, re.S)
            path, _, query = url.partition("?")
            found.append((method.group(1) if method else "GET", path,
                          dict(p.split("=", 1) for p in query.split("&")) if query else {},
                          json.loads(body.group(1)) if body else {}))
    return found


def route(method, path):
    """The PostgREST function and the arguments the path carries."""
    for m, pattern, function, arg in ROUTES:
        rx = "^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern) + "$"
        hit = re.match(rx, path)
        if m == method and hit:
            args = {}
            for name, value in hit.groupdict().items():
                seed_id = re.fullmatch(r"[a-z_]+_([0-9]+)", value)
                if seed_id and arg == "id":          # a number
                    args[arg] = int(seed_id.group(1))
                else:                                # a name: "#<id>" names by id
                    args[arg] = "#" + seed_id.group(1) if seed_id else value
            return function, args
    raise AssertionError("no route for %s %s" % (method, path))


def test_the_route_table_is_the_one_docs_http_md_shows():
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "docs", "http.md")) as f:
        rows = [line for line in f if line.startswith("| `")]
    missing = [(m, p, fn) for m, p, fn, _ in ROUTES
               if not any(line.startswith("| `%s %s" % (m, p)) and re.search("/rpc/%s(?![a-z_])" % fn, line)
                          for line in rows)]
    assert not missing, missing


@pytest.mark.skipif(not os.path.exists(SEED), reason="the product description is not beside the checkout")
def test_every_seed_request_is_answered(make_cluster, fake_ai):
    requests = seed_requests()
    assert len(requests) >= 34, len(requests)
    c = make_cluster(settings=TEST_SETTINGS)
    conn = c.connect("dwc_it")
    openai = fake_ai("openai")
    # the setup of docs/http.md ("Trying the seed's examples")
    q(conn, "SELECT dwc.add_provider('openai', 'openai', %s, api_key => %s)", (openai.base_url, openai.key))
    q(conn, "SELECT dwc.add_notification_channel('email', 'email', "
            "'{\"url\": \"smtp://127.0.0.1:9\", \"from\": \"dwc@example.com\", \"tls\": \"none\"}', "
            "senders => '{dwc_admin}')")
    q(conn, "SELECT dwc.create_notification_template('content_generated', 'Your content is ready: {{text}}', "
            "subject => 'Content generated')")
    q(conn, "CREATE FUNCTION public.data_processing(payload jsonb) RETURNS jsonb LANGUAGE sql "
            "AS $$ SELECT jsonb_build_object('processed', payload) $$")
    q(conn, "SELECT dwc.register_job_kind('data_processing', 'public.data_processing(jsonb)')")
    q(conn, "SELECT dwc.create_user('admin', %s, role => 'dwc_admin')", (PASSWORD,))
    rest = PostgREST(conn, JWT_SECRET)
    status, tokens = rest.rpc("login", {"username": "admin", "password": PASSWORD})
    assert status == 200, tokens
    auth = {"token": tokens["access_token"]}
    wrong, answers = [], {}
    for method, path, query, body in requests:
        function, args = route(method, path)
        args = dict(query, **args, **body)
        status, answer = rest.rpc(function, args, get=(method == "GET"), **auth)
        answers[path] = answer
        if path == "/api/v3/security/auth/login":
            # the one request refused on purpose: the seed's administrator password is one the
            # policy turns down (too short, a common password), so no such account can exist
            assert status == 401, answer
            assert one(conn, "SELECT cardinality(dwc.password_problems(%s, %s))",
                       (body["password"], body["username"])) > 0
            continue
        if not 200 <= status < 300:
            wrong.append("%s %s -> %s: %s %s" % (method, path, function, status, json.dumps(answer)[:300]))
    assert not wrong, "%d of %d:\n" % (len(wrong), len(requests)) + "\n".join(wrong)
    # what the answers say: the seed's names and ids reached the objects they meant
    assert answers["/api/v3/ml/models/ml_model_1/predict"]["predictions"][0]["prediction"] in (0, 1)
    assert answers["/api/v3/recommendations/models"]["algorithm"] == "user_knn"
    assert answers["/api/v3/recommendations/models/rec_model_1/train"]["version"] == 1
    assert answers["/api/v3/ai-workflows"]["root"]["provider"] == "openai"
    assert answers["/api/v3/automations"]["trigger_type"] == "event"
    assert answers["/api/v3/automations/automation_1/trigger"]["fired"] is True
    assert answers["/api/v3/background/tasks/submit"]["kind"] == "data_processing"
    assert answers["/api/v3/recommendations/stats"]["models"] == 1
    conn.close()
