"""Analytics: the summary and a user's activity count what was planted, each user only their
own; AI analytics by model and time; insights find a planted spike with the z-score computed
here; the caches' statistics and clearing; the /metrics endpoints (the Prometheus scrape
read by a real parser); and the dashboard, served as PostgREST serves text/html, rendered by
headless Chromium and looked at pixel by pixel."""
import http.server
import json
import random
import statistics
import threading
import time
import urllib.parse
import uuid

import pytest
from prometheus_client.parser import text_string_to_metric_families

from browser import Browser, chromium
from conftest import IT_DB, one, q
from png import count_near, decode

PASSWORD = "Tide-Pool-42!x"


def uid():
    return uuid.uuid4().hex[:10]


def new_user(rest, admin=False):
    name = "u" + uid()
    u = one(rest.conn, "SELECT dwc.create_user(%s, %s, role => %s)", (name, PASSWORD, "dwc_admin" if admin else "dwc_user"))
    status, body = rest.rpc("login", {"username": name, "password": PASSWORD})
    assert status == 200, body
    return u["id"], body["access_token"]


def db_wait(db, sql, params=None, timeout=15):
    deadline = time.monotonic() + timeout
    while not one(db, sql, params):
        assert time.monotonic() < deadline, "not within %ss: %s" % (timeout, sql)
        time.sleep(0.1)


def plant_calls(db, user_id, provider, calls):
    """AI calls as the log would write them: (minutes ago, tokens_in, tokens_out, cost, latency_ms, ok, cache_hit)."""
    for ago, tin, tout, cost, lat, ok, hit in calls:
        q(db, "INSERT INTO dwc.ai_calls (at, role, provider, model, operation, tokens_in, tokens_out, latency_ms, cost, "
              "cache_hit, ok, http_status, attempts, user_id) "
              "VALUES (now() - make_interval(mins => %s), 'dwc_user'::regrole, %s, 'm1', 'generate', %s, %s, %s, %s, %s, %s, "
              "200, 1, %s)", (ago, provider, tin, tout, lat, cost, hit, ok, user_id))


def test_summary_and_activity_count_each_users_own(rest, db):
    a, tok_a = new_user(rest)
    b, tok_b = new_user(rest)
    for i in range(2):
        status, body = rest.rpc("create_workflow", {"name": "Tides %d" % i, "initial_prompt": "Write about tides."},
                                token=tok_a)
        assert status == 200, body
    # each workflow's first document is a real AI call (the builtin provider), logged through
    # shared memory with the user it was made for
    db_wait(db, "SELECT count(*) = 2 FROM dwc.ai_calls WHERE user_id = %s AND provider = 'builtin'", (a,))
    real = q(db, "SELECT tokens_in, tokens_out, cost, latency_ms FROM dwc.ai_calls WHERE user_id = %s", (a,))
    p = "p_" + uid()
    plant_calls(db, a, p, [(5, 100, 50, 0.01, 200, True, False), (10, 20, 10, 0.002, 300, True, False),
                           (15, 30, 0, 0, 0.5, True, True), (2 * 1440, 1000, 1000, 1, 900, True, False)])
    plant_calls(db, b, p, [(5, 7, 3, 0.5, 100, False, False)])

    status, s = rest.rpc("analytics_summary", {"time_range": "day"}, token=tok_a, get=True)
    assert status == 200, s
    assert s["scope"] == "own" and "users" not in s
    ai = s["ai"]
    assert ai["calls"] == 5 and ai["tokens_in"] == 150 + sum(r[0] for r in real), ai
    assert ai["tokens_out"] == 60 + sum(r[1] for r in real), ai
    assert ai["cache_hits"] == 1 and abs(ai["cost"] - 0.012 - sum(r[2] for r in real)) < 1e-6 and ai["errors"] == 0
    # latency percentiles leave the cache hit out
    assert abs(ai["latency_ms_p50"] - statistics.median([200, 300] + [r[3] for r in real])) < 1e-3, ai
    assert s["chains"]["created"] == 2 and s["documents"]["created"] == 2 and s["documents"]["generated"] == 2
    status, s = rest.rpc("analytics_summary", {"time_range": "week"}, token=tok_a, get=True)
    assert s["ai"]["calls"] == 6 and s["ai"]["tokens_in"] == 1150 + sum(r[0] for r in real)
    status, s = rest.rpc("analytics_summary", {}, token=tok_b, get=True)
    assert s["ai"]["calls"] == 1 and s["ai"]["errors"] == 1 and s["chains"]["created"] == 0, s

    # an administrator sees everyone: the same figures as counting the tables directly
    got, calls, chains, tokens = q(db, "SELECT dwc.analytics_summary('day'), "
                                       "(SELECT count(*) FROM dwc.ai_calls WHERE at >= now() - interval '1 day'), "
                                       "(SELECT count(*) FROM dwc.chains WHERE created_at >= now() - interval '1 day'), "
                                       "(SELECT sum(tokens_in) FROM dwc.ai_calls WHERE at >= now() - interval '1 day')")[0]
    assert got["scope"] == "all" and got["ai"]["calls"] == calls and got["chains"]["created"] == chains
    assert got["ai"]["tokens_in"] == tokens and "users" in got and got["users"]["total"] >= 2

    # sign-ins are security events, written by the maintenance worker within a second
    db_wait(db, "SELECT count(*) = 1 FROM dwc.security_events WHERE user_id = %s AND event = 'login_success'", (a,))
    status, act = rest.rpc("user_activity", {}, token=tok_a, get=True)
    assert status == 200, act
    assert act["user_id"] == a and act["ai"]["calls"] == 6 and act["chains_created"] == 2 and act["logins"] == 1, act
    assert act["documents_created"] == 2 and sum(d["ai_calls"] for d in act["by_day"]) == 6
    status, act = rest.rpc("user_activity", {"user_id": b, "time_range": "hour"}, token=tok_a, get=True)
    assert status == 403 and act["code"] == "42501", act
    act = one(db, "SELECT dwc.user_activity(%s, 'hour')", (b,))
    assert act["ai"]["calls"] == 1 and abs(act["ai"]["cost"] - 0.5) < 1e-9

    top = one(db, "SELECT dwc.active_users('day', 1000)")
    mine = [u for u in top if u["user_id"] == a]
    assert mine and mine[0]["ai_calls"] == 5 and mine[0]["documents"] == 2, mine
    assert mine[0]["ai_tokens"] == 210 + sum(r[0] + r[1] for r in real), mine
    status, body = rest.rpc("active_users", {}, token=tok_a, get=True)
    assert status == 403, body

    for bad in ("fortnight", "-1 day", "0 seconds", "20 years"):
        status, body = rest.rpc("analytics_summary", {"time_range": bad}, token=tok_a, get=True)
        assert status == 400 and body["code"] == "22023" and "time range" in body["message"], (bad, body)


def test_ai_analytics_by_model_and_bucket(rest, db):
    a, tok = new_user(rest)
    p = "p_" + uid()
    lat = [120, 80, 400, 95, 60, 1000, 210]
    plant_calls(db, a, p, [(20 + 30 * i, 10 * (i + 1), 5, 0.001 * (i + 1), l, i != 3, False) for i, l in enumerate(lat)])
    status, r = rest.rpc("ai_analytics", {"time_range": "day", "bucket": "1 hour"}, token=tok, get=True)
    assert status == 200, r
    (m,) = [x for x in r["by_model"] if x["provider"] == p]
    assert m["calls"] == 7 and m["errors"] == 1 and m["tokens_in"] == sum(10 * (i + 1) for i in range(7))
    assert m["latency_ms_p50"] == statistics.median(lat), m
    assert abs(m["cost"] - 0.028) < 1e-9
    # the user sees only their calls: the series adds up to them, bucket by bucket
    assert sum(b["calls"] for b in r["series"]) == 7 and len(r["series"]) in (24, 25), len(r["series"])
    assert r["totals"]["calls"] == 7 and r["top_users"] is None
    assert r["by_operation"]["generate"]["calls"] == 7
    status, body = rest.rpc("ai_analytics", {"time_range": "week", "bucket": "1 second"}, token=tok, get=True)
    assert status == 400 and body["code"] == "22023", body


def plant_hourly(db, metric, values):
    """One sample in the middle of each of the last len(values) complete hours, oldest first;
    returns the start of the current hour they were planted against."""
    hour = one(db, "SELECT date_bin('1 hour', now(), '2000-01-01')")
    n = len(values)
    for i, v in enumerate(values):
        q(db, "INSERT INTO dwc.metric_samples (at, name, labels, value) "
              "VALUES (%s::timestamptz - make_interval(hours => %s) + interval '30 minutes', %s, '{}', %s)",
          (hour, n - i, metric, v))
    return hour


def test_insights_find_a_planted_spike_with_its_z_score(db):
    g = "load_" + uid()
    q(db, "SELECT dwc.define_metric(%s, 'gauge', 'A planted gauge.')", (g,))
    rng = random.Random(7)
    values = [10 + rng.gauss(0, 1) for _ in range(50)]
    spike = 46                     # four hours ago
    values[spike] = 30.0
    hour = plant_hourly(db, g, values)
    if one(db, "SELECT date_bin('1 hour', now(), '2000-01-01') <> %s", (hour,)):
        pytest.skip("an hour began while planting: the buckets moved")
    rows = q(db, "SELECT at, value, mean, stddev, z, direction, severity, message FROM dwc.insights('day') "
                 "WHERE series = %s", ("metric:" + g,))
    base = values[spike - 24:spike]
    z = (values[spike] - statistics.fmean(base)) / statistics.pstdev(base)
    assert len(rows) == 1, rows
    at, value, mean, sd, gz, direction, severity, message = rows[0]
    assert value == 30.0 and abs(mean - statistics.fmean(base)) < 1e-9 and abs(sd - statistics.pstdev(base)) < 1e-9
    assert abs(gz - z) < 1e-9 and direction == "up" and severity == "critical" and "rose" in message, rows
    assert one(db, "SELECT %s::timestamptz - interval '4 hours' = %s", (hour, at))
    # a lower threshold finds more; the spike's shadow (it is in later baselines) does not count as one
    assert len(q(db, "SELECT 1 FROM dwc.insights('day', 1.5) WHERE series = %s", ("metric:" + g,))) >= 1

    # a series that never changed, then did: z is undefined, still an insight
    flat = "flat_" + uid()
    q(db, "SELECT dwc.define_metric(%s, 'gauge')", (flat,))
    plant_hourly(db, flat, [5.0] * 30 + [6.0, 5.0])
    rows = q(db, "SELECT value, z, severity FROM dwc.insights('day') WHERE series = %s", ("metric:" + flat,))
    assert rows == [(6.0, None, "critical")], rows

    for sql in ("SELECT * FROM dwc.insights('day', 0)", "SELECT * FROM dwc.insights('day', 3, '1 hour', 3)",
                "SELECT * FROM dwc.insights('day', 3, '10 seconds')"):
        with pytest.raises(Exception) as e:
            q(db, sql)
        assert e.value.pgcode == "22023", sql


def test_the_maintenance_worker_records_insights_once_with_an_event(make_cluster):
    """With dwc.insights_interval at a second, a spike two hours ago is kept in
    dwc.analytics_insights and announced as an analytics.insight event, once, however often
    the worker looks again; a LISTENer on dwc.events.analytics hears it."""
    c = make_cluster(settings={"dwc.insights_interval": "'1s'", "dwc.metrics_sample_interval": "0"})
    conn = c.connect(IT_DB)
    listener = c.connect(IT_DB)
    try:
        g = "spiky_" + uid()
        q(conn, "SELECT dwc.define_metric(%s, 'gauge')", (g,))
        listener.cursor().execute("LISTEN \"dwc.events.analytics\"")
        values = [10.0 + (i % 2) for i in range(40)]
        values[-2] = 40.0                     # two hours ago: among the latest complete hours
        plant_hourly(conn, g, values)
        c.wait_for("SELECT count(*) = 1 FROM dwc.analytics_insights WHERE series = %s", ("metric:" + g,),
                   dbname=IT_DB, timeout=20)
        (iid, value, z, severity), = q(conn, "SELECT id, value, z, severity FROM dwc.analytics_insights "
                                             "WHERE series = %s", ("metric:" + g,))
        assert value == 40.0 and z > 3 and severity == "critical"
        ev = q(conn, "SELECT id, payload FROM dwc.events WHERE kind = 'analytics.insight' AND subject = %s",
               ("insight:%d" % iid,))
        assert len(ev) == 1 and ev[0][1]["series"] == "metric:" + g and ev[0][1]["value"] == 40.0, ev
        # the worker keeps looking every second; the insight stays one row and one event
        time.sleep(3)
        assert one(conn, "SELECT count(*) FROM dwc.analytics_insights WHERE series = %s", ("metric:" + g,)) == 1
        assert one(conn, "SELECT count(*) FROM dwc.events WHERE kind = 'analytics.insight' AND subject = %s",
                   ("insight:%d" % iid,)) == 1
        listener.poll()
        heard = [json.loads(n.payload) for n in listener.notifies]
        assert {"id": ev[0][0], "kind": "analytics.insight"} in heard, heard
        # an application may not forge dwc's own kinds
        with pytest.raises(Exception) as e:
            q(conn, "SET ROLE dwc_user; SELECT dwc.emit('analytics.insight', 'x', '{}')")
        assert e.value.pgcode == "42501"
    finally:
        conn.close()
        listener.close()


def test_cache_stats_and_clear(rest, db):
    p = "p_" + uid()
    for i in range(5):
        q(db, "INSERT INTO dwc.ai_cache VALUES (%s, %s, 'm1', 'r', 10, 5, now() - interval '2 hours', now() + %s::interval)",
          (uuid.uuid4().bytes, p, "-1 hour" if i < 2 else "1 hour"))
    s, entries, hits = q(db, "SELECT dwc.cache_stats('day'), (SELECT count(*) FROM dwc.ai_cache), "
                             "(SELECT count(*) FILTER (WHERE cache_hit) FROM dwc.ai_calls "
                             " WHERE at >= now() - interval '1 day' AND operation <> 'embed')")[0]
    c = s["ai_response_cache"]
    assert c["entries"] == entries and c["bytes"] > 0
    assert [m for m in c["by_model"] if m["provider"] == p] == [{"provider": p, "model": "m1", "entries": 5, "live": 3}]
    assert s["ai_response_cache_use"]["hits"] == hits
    assert 0 <= s["buffer_cache"]["database_hit_ratio"] <= 1 and s["dwc_tables"]
    _, tok = new_user(rest)
    status, body = rest.rpc("cache_stats", {}, token=tok, get=True)
    assert status == 403, body
    _, admin = new_user(rest, admin=True)
    status, body = rest.rpc("cache_clear", {"provider": p, "expired_only": True}, token=admin)
    assert status == 200 and body["removed"] == 2, body
    status, body = rest.rpc("cache_clear", {"provider": p}, token=admin)
    assert status == 200 and body["removed"] == 3, body
    assert one(db, "SELECT count(*) FROM dwc.ai_cache WHERE provider = %s", (p,)) == 0


def test_metrics_endpoints_and_the_prometheus_scrape(rest, db):
    _, admin = new_user(rest, admin=True)
    _, tok = new_user(rest)
    c, g, h = "hits_%s_total" % uid(), "depth_" + uid(), "wait_%s_seconds" % uid()
    for name, kind, extra in ((c, "counter", {}), (g, "gauge", {}), (h, "histogram", {"buckets": [0.1, 1]})):
        status, body = rest.rpc("define_metric", dict({"name": name, "type": kind, "help": "A " + kind}, **extra),
                                token=admin)
        assert status == 200 and body["type"] == kind, body
    status, body = rest.rpc("define_metric", {"name": "x_" + uid(), "type": "gauge"}, token=tok)
    assert status == 200 and body["type"] == "gauge", body
    assert rest.rpc("record_metric", {"name": c, "value": 2, "labels": {"path": "/a"}}, token=tok)[1]["value"] == 2
    assert rest.rpc("record_metric", {"name": c, "value": 3, "labels": {"path": "/a"}}, token=tok)[1]["value"] == 5
    rest.rpc("record_metric", {"name": g, "value": 7.5}, token=tok)
    for v in (0.05, 0.5, 3):
        rest.rpc("record_metric", {"name": h, "value": v}, token=tok)
    status, body = rest.rpc("record_metric", {"name": "nope_" + uid(), "value": 1}, token=tok)
    assert status == 400 and body["code"] == "42704", body

    status, ms = rest.rpc("list_metrics", {"builtin": False}, token=tok, get=True)
    byname = {m["name"]: m for m in ms}
    assert byname[c]["values"][0]["value"] == 5 and byname[c]["values"][0]["labels"] == {"path": "/a"}
    assert byname[h]["values"][0]["count"] == 3 and not any(m["builtin"] for m in ms)
    status, series = rest.rpc("metric_series", {"name": h, "step": "1 hour"}, token=tok, get=True)
    assert status == 200 and sum(s["n"] for s in series) == 3 and max(s["max"] for s in series) == 3, series

    status, body = rest.rpc("prometheus_metrics", {}, get=True)
    assert status == 401, body
    status, body = rest.rpc("prometheus_metrics", {}, token=tok, get=True)
    assert status == 200, body
    fam = {f.name: f for f in text_string_to_metric_families(bytes(body).decode())}
    assert [s.value for s in fam[c[:-len("_total")]].samples if s.name == c] == [5.0]
    assert {s.labels["le"]: s.value for s in fam[h].samples if s.name == h + "_bucket"} == {"0.1": 1, "1": 2, "+Inf": 3}
    # an API key with the metrics:read scope may scrape (Prometheus sends it as a header); one without it may not
    for scopes, want in ((["metrics:read"], 200), (["ai"], 401)):
        status, made = rest.rpc("create_api_key", {"name": "scrape", "scopes": scopes}, token=tok)
        assert status == 200, made
        status, body = rest.rpc("prometheus_metrics", {}, api_key=made["key"], get=True)
        assert status == want, (scopes, body)
    status, body = rest.rpc("service_status", {}, token=admin, get=True)
    assert status == 200 and body["status"] in ("ok", "degraded") and body["uptime_seconds"] > 0
    assert {w["kind"] for w in body["workers"]} >= {"job", "scheduler", "maintenance"}, body["workers"]
    status, body = rest.rpc("system_metrics", {}, token=tok, get=True)
    assert status == 200 and isinstance(body["values"], dict), body


class PageServer:
    """Serves GET /rpc/<function>?args as PostgREST does for a function returning the
    "text/html" domain: the body as it is, Content-Type text/html."""

    def __init__(self, rest, token):
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                url = urllib.parse.urlparse(self.path)
                args = {k: v[0] for k, v in urllib.parse.parse_qs(url.query).items()}
                with outer.lock:
                    status, body = rest.rpc(url.path.rsplit("/", 1)[1], args, token=token, get=True)
                data = (body if status == 200 else json.dumps(body)).encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/html; charset=utf-8" if status == 200 else "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *a):
                pass

        self.lock = threading.Lock()
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d" % self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.mark.skipif(chromium() is None, reason="chromium is not installed (tools/deps.sh test installs it)")
def test_the_dashboard_renders_charts_in_chromium(rest, db, tmp_path):
    # an hour of CPU and memory readings, one a minute, so that both charts have lines
    q(db, "INSERT INTO dwc.metric_samples (at, name, value) "
          "SELECT now() - make_interval(mins => i), 'dwc_system_cpu_usage_ratio', 0.3 + 0.2 * sin(i / 5.0) FROM generate_series(1, 59) i "
          "UNION ALL SELECT now() - make_interval(mins => i), 'dwc_system_memory_used_ratio', 0.6 FROM generate_series(1, 59) i")
    _, admin = new_user(rest, admin=True)
    server = PageServer(rest, admin)
    try:
        with Browser(server.url + "/rpc/dashboard?time_range=hour", width=1000, height=900) as b:
            b.wait_for("document.title === 'dwc dashboard'")
            charts = b.evaluate("[...document.querySelectorAll('svg.chart')].map(s => s.dataset.title)")
            points = b.evaluate("Object.fromEntries([...document.querySelectorAll('polyline.series')]"
                                ".map(p => [p.dataset.series, +p.dataset.points]))")
            tiles = b.evaluate("document.querySelectorAll('#tiles .tile').length")
            status = b.evaluate("document.getElementById('status').textContent")
            health = b.evaluate("[...document.querySelectorAll('#health tr td:first-child')].map(t => t.textContent)")
            shot = b.screenshot(str(tmp_path / "dashboard.png"))
    finally:
        server.close()
    assert len(charts) == 5 and charts[0] == "CPU busy" and charts[1] == "Memory used", charts
    # 59 readings a minute apart in one-minute buckets (the sampler may add its own to the last ones)
    assert points["cpu"] >= 59 and points["memory"] >= 59, points
    assert "finished" in points and "dead" in points
    assert tiles == 10 and status in ("ok", "degraded")
    assert set(health) >= {"database", "workers", "queue"}
    width, height, pixels = decode(open(shot, "rb").read())
    assert width == 1000 and height > 600, (width, height)
    # the CPU line (#1a73e8) and the memory line (#9334e6) are drawn
    assert count_near(pixels, (0x1a, 0x73, 0xe8), 30) > 100, "no CPU line in the screenshot"
    assert count_near(pixels, (0x93, 0x34, 0xe6), 30) > 100, "no memory line in the screenshot"


@pytest.mark.skipif(chromium() is None, reason="chromium is not installed (tools/deps.sh test installs it)")
def test_a_fresh_clusters_single_readings_are_drawn_on_round_scales(make_cluster, tmp_path):
    """Just after start the sampler has one reading: a series of one point is drawn (as a dot;
    a line of one point draws nothing), and every scale reads in round steps."""
    from postgrest import PostgREST
    from conftest import JWT_SECRET
    # the sampler off: this test's readings are the only ones
    c = make_cluster(settings={"dwc.metrics_sample_interval": "0"})
    conn = c.connect(IT_DB)
    try:
        q(conn, "SELECT dwc.set_rate_limit('address', '203.0.113.7', 1000, 1000)")
        q(conn, "INSERT INTO dwc.metric_samples (at, name, value) VALUES "
                "(now() - interval '90 seconds', 'dwc_system_cpu_usage_ratio', 0.011), "
                "(now() - interval '90 seconds', 'dwc_system_memory_used_ratio', 0.42)")
        rest = PostgREST(conn, JWT_SECRET)
        _, admin = new_user(rest, admin=True)
        server = PageServer(rest, admin)
        try:
            with Browser(server.url + "/rpc/dashboard?time_range=hour", width=1000, height=900) as b:
                b.wait_for("document.title === 'dwc dashboard'")
                dots = b.evaluate("[...document.querySelectorAll('circle.dot')].map(d => d.dataset.series)")
                points = b.evaluate("Object.fromEntries([...document.querySelectorAll('polyline.series')]"
                                    ".map(p => [p.dataset.series, +p.dataset.points]))")
                ticks = b.evaluate("[...document.querySelectorAll('svg.chart')].map(s => "
                                   "[...s.querySelectorAll('text.yl')].map(t => t.dataset.tick))")
                # where each dot's centre is on the page (the screenshot's pixels)
                centres = b.evaluate("Object.fromEntries([...document.querySelectorAll('circle.dot')].map(d => {"
                                     "const r = d.getBoundingClientRect(); "
                                     "return [d.dataset.series, [Math.round(r.x + r.width / 2), "
                                     "Math.round(r.y + r.height / 2 + window.scrollY)]]; }))")
                shot = b.screenshot(str(tmp_path / "fresh.png"))
        finally:
            server.close()
    finally:
        conn.close()
    assert points["cpu"] == 1 and points["memory"] == 1, points
    assert "cpu" in dots and "memory" in dots, dots
    # 1.1% busy: 0 to 1.5 by 0.5; 42% of memory: 0 to 60 by 20
    assert ticks[0] == ["0", "0.5", "1", "1.5"], ticks
    assert ticks[1] == ["0", "20", "40", "60"], ticks
    for chart in ticks:
        assert all(len(t.split(".")[-1]) <= 2 or "." not in t for t in chart), ticks
    width, height, pixels = decode(open(shot, "rb").read())
    # the dots are drawn: at each dot's centre, its series' colour
    for series, rgb in (("cpu", (0x1a, 0x73, 0xe8)), ("memory", (0x93, 0x34, 0xe6))):
        x, y = centres[series]
        assert all(abs(a - b) <= 30 for a, b in zip(pixels[y][x], rgb)), (series, pixels[y][x])
