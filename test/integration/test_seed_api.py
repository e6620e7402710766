"""The product description's own HTTP examples (its `curl` commands, read from
../shared/seed/product-description.md), each sent as written through the PostgREST replay
after the route table (contrib/seed-api/routes.tsv, shown in docs/http.md, "The seed's
endpoints") turns its path into a PostgREST request: every one answers 2xx. Then the same
over HTTP, through a real nginx running contrib/seed-api in front of the replay on a socket.

The setup is the one docs/http.md describes for trying them: a fresh database on a throwaway
server whose password policy is off (`dwc.password_policy = off`), the seed's administrator
`admin` with its password `admin123`, signed in, an AI provider named `openai` (here the loopback fake of OpenAI's
wire format), an email channel named `email` the administrator may send through, and the
seed's job kind `data_processing` registered. A path's seed-style id (`ml_model_1`) names
the object with that id (`#1`), which is what the seed's server would have answered with.
"""
import json
import os
import re
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from conftest import JWT_SECRET, TEST_SETTINGS, one, q
from postgrest import PostgREST
from postgrest_http import PostgRESTHTTP

SEED = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "shared", "seed",
                    "product-description.md")
PASSWORD = "admin123"                # the seed's own (docs/http.md: a throwaway server)

ROUTES_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "contrib", "seed-api",
                           "routes.tsv")


def read_routes():
    """(method, seed path, api function, the path segment's argument or None) of routes.tsv."""
    routes = []
    with open(ROUTES_FILE) as f:
        for line in f:
            if line.strip() and not line.startswith("#"):
                method, path, function, arg = line.rstrip("\n").split("\t")
                routes.append((method, path, function, None if arg == "-" else arg))
    return routes


ROUTES = read_routes()


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


def set_up(make_cluster, fake_ai):
    """The setup of docs/http.md ("The seed's endpoints"), on a fresh cluster; (conn, rest, auth)."""
    c = make_cluster(settings=dict(TEST_SETTINGS, **{"dwc.password_policy": "off"}))
    conn = c.connect("dwc_it")
    openai = fake_ai("openai")
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
    return conn, rest, tokens["access_token"]


def check_answers(conn, requests, send):
    """send(method, path, query, body) -> (status, answer) for each seed request; all 2xx, and
    the answers say the seed's names reached their objects."""
    wrong, answers = [], {}
    for method, path, query, body in requests:
        status, answer = send(method, path, query, body)
        answers[path] = answer
        if not 200 <= status < 300:
            wrong.append("%s %s: %s %s" % (method, path, status, json.dumps(answer)[:300]))
    assert not wrong, "%d of %d:\n" % (len(wrong), len(requests)) + "\n".join(wrong)
    assert answers["/api/v3/ml/models/ml_model_1/predict"]["predictions"][0]["prediction"] in (0, 1)
    assert answers["/api/v3/recommendations/models"]["algorithm"] == "user_knn"
    assert answers["/api/v3/recommendations/models/rec_model_1/train"]["version"] == 1
    assert answers["/api/v3/ai-workflows"]["root"]["provider"] == "openai"
    assert answers["/api/v3/automations"]["trigger_type"] == "event"
    assert answers["/api/v3/automations/automation_1/trigger"]["fired"] is True
    assert answers["/api/v3/background/tasks/submit"]["kind"] == "data_processing"
    assert answers["/api/v3/recommendations/stats"]["models"] == 1
    # the seed's sign-in gave the seed's administrator a token; only because the policy is off
    assert "access_token" in answers["/api/v3/security/auth/login"], answers["/api/v3/security/auth/login"]
    assert one(conn, "SELECT cardinality(dwc.password_problems('admin123', 'admin'))") == 0


@pytest.mark.skipif(not os.path.exists(SEED), reason="the product description is not beside the checkout")
def test_every_seed_request_is_answered(make_cluster, fake_ai):
    requests = seed_requests()
    assert len(requests) >= 34, len(requests)
    conn, rest, token = set_up(make_cluster, fake_ai)

    def send(method, path, query, body):
        function, args = route(method, path)
        return rest.rpc(function, dict(query, **args, **body), get=(method == "GET"), token=token)

    check_answers(conn, requests, send)
    conn.close()


NGINX_CONF = """
daemon off;
master_process off;
pid %(prefix)s/nginx.pid;
error_log %(prefix)s/error.log warn;
load_module /usr/lib/nginx/modules/ndk_http_module.so;
load_module /usr/lib/nginx/modules/ngx_http_lua_module.so;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path %(prefix)s/body;
    proxy_temp_path %(prefix)s/proxy;
    lua_package_path "%(contrib)s/?.lua;;";
    init_by_lua_block { require("seed_api").load("%(contrib)s/routes.tsv") }
    upstream postgrest { server 127.0.0.1:%(upstream)d; }
    server {
        listen 127.0.0.1:%(port)d;
        include %(contrib)s/seed-api.conf;
    }
}
"""


@pytest.mark.skipif(not os.path.exists(SEED), reason="the product description is not beside the checkout")
def test_nginx_in_front_of_postgrest_answers_the_seed_as_written(make_cluster, fake_ai, tmp_path):
    """contrib/seed-api in a real nginx (Debian's, with its Lua module), in front of the PostgREST
    replay on a socket: every seed request sent over HTTP to the seed's own paths."""
    requests = seed_requests()
    conn, rest, token = set_up(make_cluster, fake_ai)
    contrib = os.path.dirname(ROUTES_FILE)
    with PostgRESTHTTP(rest) as upstream:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        sock.close()
        prefix = str(tmp_path)
        with open(os.path.join(prefix, "nginx.conf"), "w") as f:
            f.write(NGINX_CONF % {"prefix": prefix, "contrib": contrib, "upstream": upstream.server.server_port,
                                  "port": port})
        nginx = subprocess.Popen(["nginx", "-p", prefix, "-c", os.path.join(prefix, "nginx.conf")],
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    assert nginx.poll() is None, nginx.stdout.read().decode()
                    assert time.monotonic() < deadline, "nginx did not listen"
                    time.sleep(0.05)

            def send(method, path, query, body):
                url = "http://127.0.0.1:%d%s" % (port, path)
                if query:
                    url += "?" + urllib.parse.urlencode(query)
                data = json.dumps(body).encode() if method == "POST" else None
                req = urllib.request.Request(url, data=data, method=method,
                                             headers={"Authorization": "Bearer " + token,
                                                      "Content-Type": "application/json"})
                try:
                    with urllib.request.urlopen(req, timeout=60) as r:
                        return r.status, json.loads(r.read())
                except urllib.error.HTTPError as e:
                    text = e.read().decode(errors="replace")
                    try:
                        return e.code, json.loads(text)
                    except ValueError:          # nginx's own pages
                        return e.code, text

            check_answers(conn, requests, send)
            # a path the table does not know is 404 at the proxy
            assert send("GET", "/api/v3/no/such/thing", {}, None)[0] == 404
        finally:
            nginx.terminate()
            nginx.wait(timeout=30)
    conn.close()
