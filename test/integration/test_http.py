"""dwc's HTTP client against loopback servers: results, limits, interrupts, TLS."""
import threading
import time

import psycopg2
import pytest

from conftest import one
from fakehttp import Reply


def call(conn, *args, **settings):
    with conn.cursor() as cur:
        for k, v in settings.items():
            cur.execute("SELECT set_config(%s, %s, false)", ("dwc." + k, str(v)))
        ph = ", ".join(["%s"] * len(args))
        cur.execute("SELECT (r).status, (r).headers, (r).body, (r).elapsed_ms FROM "
                    "(SELECT dwc.http(%s) AS r) s" % ph, args)
        return cur.fetchone()


def error_of(conn, *args, **settings):
    with pytest.raises(psycopg2.Error) as ei:
        call(conn, *args, **settings)
    return ei.value


def test_get_returns_status_headers_and_body(db, fake_http):
    srv = fake_http()
    srv.route("GET", "/hello", Reply(200, {"greeting": "hola"}, headers={"X-Test": "yes"}))
    status, headers, body, elapsed = call(db, "GET", srv.url("/hello?x=1"))
    assert status == 200
    assert body == '{"greeting": "hola"}'
    assert headers["content-type"] == "application/json"
    assert headers["x-test"] == "yes"
    assert 0 <= elapsed < 5000
    req = srv.requests[-1]
    assert req.path == "/hello?x=1"
    assert req.headers["user-agent"] == "dwc/" + one(db, "SELECT dwc.version()")


def test_post_sends_body_and_headers(db, fake_http):
    srv = fake_http()
    srv.route("POST", "/echo", lambda req: Reply(201, {"got": req.json(), "auth": req.headers.get("authorization")}))
    status, _, body, _ = call(db, "POST", srv.url("/echo"),
                              '{"Content-Type": "application/json", "Authorization": "Bearer t0k"}',
                              '{"n": 1, "s": "ñ"}')
    assert status == 201
    assert body == '{"got": {"n": 1, "s": "\\u00f1"}, "auth": "Bearer t0k"}'
    assert "expect" not in srv.requests[-1].headers


def test_other_methods(db, fake_http):
    srv = fake_http()
    for m in ("PUT", "PATCH", "DELETE"):
        srv.route(m, "/x", lambda req: Reply(200, req.method + ":" + req.body.decode()))
    assert call(db, "PUT", srv.url("/x"), "{}", "a")[2] == "PUT:a"
    assert call(db, "PATCH", srv.url("/x"), "{}", "b")[2] == "PATCH:b"
    assert call(db, "DELETE", srv.url("/x"))[2] == "DELETE:"
    srv.route("HEAD", "/x", Reply(204))
    assert call(db, "HEAD", srv.url("/x"))[0] == 204


def test_error_statuses_are_results_not_errors(db, fake_http):
    srv = fake_http()
    srv.route("GET", "/boom", Reply(503, "busy", headers={"Retry-After": "7"}))
    status, headers, body, _ = call(db, "GET", srv.url("/boom"))
    assert (status, headers["retry-after"], body) == (503, "7", "busy")
    assert call(db, "GET", srv.url("/missing"))[0] == 404


def test_timeout_is_enforced(db, fake_http):
    srv = fake_http()
    srv.route("GET", "/slow", Reply(200, "late", delay=3))
    t0 = time.monotonic()
    e = error_of(db, "GET", srv.url("/slow"), "{}", None, 300)
    assert time.monotonic() - t0 < 2
    assert e.pgcode == "08006"
    assert "HTTP request to %s timed out" % srv.url("/slow") in e.pgerror
    # the session setting applies when the call gives none
    t0 = time.monotonic()
    e = error_of(db, "GET", srv.url("/slow"), http_timeout="200ms")
    assert time.monotonic() - t0 < 2 and "timed out" in e.pgerror


def test_statement_timeout_interrupts_a_transfer(db, fake_http):
    srv = fake_http()
    srv.route("GET", "/drip", Reply(200, "x" * 200, drip=0.05))   # 10 s in all
    with db.cursor() as cur:
        cur.execute("SET statement_timeout = '700ms'")
    t0 = time.monotonic()
    e = error_of(db, "GET", srv.url("/drip"))
    took = time.monotonic() - t0
    assert isinstance(e, psycopg2.errors.QueryCanceled), e
    assert "statement timeout" in e.pgerror
    assert took < 2.5, "cancel took %.2f s" % took
    with db.cursor() as cur:
        cur.execute("RESET statement_timeout")
    # the session is healthy afterwards
    srv.route("GET", "/ok", Reply(200, "fine"))
    assert call(db, "GET", srv.url("/ok"))[2] == "fine"


def test_cancel_from_another_session(cluster, db, fake_http):
    srv = fake_http()
    srv.route("GET", "/hang", Reply(200, "never", delay=20))
    pid = db.get_backend_pid()

    def cancel():
        time.sleep(0.5)
        cluster.sql("SELECT pg_cancel_backend(%s)", (pid,))

    threading.Thread(target=cancel).start()
    t0 = time.monotonic()
    e = error_of(db, "GET", srv.url("/hang"))
    assert isinstance(e, psycopg2.errors.QueryCanceled)
    assert time.monotonic() - t0 < 3


def test_response_size_cap(db, fake_http):
    srv = fake_http()
    srv.route("GET", "/big", Reply(200, b"a" * (2 * 1024 * 1024)))
    e = error_of(db, "GET", srv.url("/big"), http_max_response_size="1MB")
    assert e.pgcode == "54000"
    assert "HTTP response from %s is too large" % srv.url("/big") in e.pgerror
    status, _, body, _ = call(db, "GET", srv.url("/big"), http_max_response_size="4MB")
    assert status == 200 and len(body) == 2 * 1024 * 1024


def test_redirects_are_followed_within_the_limit(db, fake_http):
    srv = fake_http()
    srv.route("GET", "/final", Reply(200, "arrived"))
    for i in range(6):
        srv.route("GET", "/r%d" % i, Reply(302, redirect=srv.url("/r%d" % (i + 1) if i < 5 else "/final")))
    assert call(db, "GET", srv.url("/r4"))[2] == "arrived"            # 2 redirects
    e = error_of(db, "GET", srv.url("/r0"), http_max_redirects=3)     # 6 needed
    assert e.pgcode == "08P01" and "redirected too many times" in e.pgerror
    status, headers, _, _ = call(db, "GET", srv.url("/r5"), http_max_redirects=0)
    assert status == 302 and headers["location"] == srv.url("/final")
    # a redirect to another scheme is not followed: the redirect itself is the result
    srv.route("GET", "/to-file", Reply(302, redirect="file:///etc/passwd"))
    status, headers, body, _ = call(db, "GET", srv.url("/to-file"))
    assert status == 302 and "root:" not in body


def test_tls_certificates_are_verified(db, fake_http):
    srv = fake_http(tls=True)
    srv.route("GET", "/", Reply(200, "secret"))
    e = error_of(db, "GET", srv.url("/"))
    assert e.pgcode == "08001"
    assert "TLS connection to %s failed" % srv.url("/") in e.pgerror
    assert srv.count() == 0


def test_connection_refused_is_a_clear_error(db, fake_http):
    srv = fake_http()
    url = srv.url("/")
    srv.close()
    e = error_of(db, "GET", url)
    assert e.pgcode == "08001" and "could not connect to %s" % url in e.pgerror


def test_binary_body_is_rejected_as_text(db, fake_http):
    srv = fake_http()
    srv.route("GET", "/bin", Reply(200, b"\xff\xfe\x00\x01"))
    e = error_of(db, "GET", srv.url("/bin"))
    assert e.pgcode == "22021" and "is not valid text" in e.pgerror


def test_secrets_in_urls_stay_out_of_messages(db, fake_http):
    srv = fake_http()
    srv.route("GET", "/slow", Reply(200, "late", delay=2))
    url = srv.url("/slow").replace("http://", "http://user:hunter2@") + "?key=sk-SECRET"
    e = error_of(db, "GET", url, "{}", None, 200)
    assert "hunter2" not in e.pgerror and "sk-SECRET" not in e.pgerror
    assert "/slow?..." in e.pgerror


def test_many_requests_do_not_grow_backend_memory(db, fake_http):
    srv = fake_http()
    srv.route("POST", "/m", Reply(200, "y" * 10000))
    with db.cursor() as cur:
        cur.execute("SELECT dwc.http('POST', %s, '{\"X-A\": \"b\"}', repeat('z', 5000)) FROM generate_series(1, 20)",
                    (srv.url("/m"),))
        cur.execute("SELECT sum(total_bytes) FROM pg_backend_memory_contexts")
        before = cur.fetchone()[0]
        cur.execute("SELECT count(*) FROM (SELECT dwc.http('POST', %s, '{\"X-A\": \"b\"}', repeat('z', 5000)) "
                    "FROM generate_series(1, 300)) s", (srv.url("/m"),))
        assert cur.fetchone()[0] == 300
        cur.execute("SELECT sum(total_bytes) FROM pg_backend_memory_contexts")
        after = cur.fetchone()[0]
    assert srv.count("POST", "/m") == 320
    assert after - before < 1024 * 1024, "backend memory grew by %d bytes" % (after - before)
