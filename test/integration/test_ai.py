"""The AI service against loopback fakes of OpenAI, Anthropic, Gemini and an OpenAI-compatible
server: answers, retries, errors, the cache, the call log, and where API keys must never show up."""
import json
import time
import uuid

import psycopg2
import pytest

from conftest import IT_DB, one, q
from fakehttp import Reply

KINDS = ["openai", "anthropic", "google", "openai_compatible"]


def add(conn, fake, timeout="5 seconds", retries=2, ttl="0", key="stored", **kw):
    """Register a provider for a fake; returns its (unique) name."""
    name = "%s-%s" % (fake.kind.replace("_", "-"), uuid.uuid4().hex[:8])
    args = {"name": name, "kind": fake.kind, "base_url": fake.base_url, "timeout": timeout,
            "max_retries": retries, "cache_ttl": ttl}
    args.update(kw)
    cols = ", ".join("%s => %%(%s)s" % (k, k) for k in args)
    q(conn, "SELECT dwc.add_provider(%s)" % cols, args)
    if key == "stored" and fake.key:
        q(conn, "SELECT dwc.set_provider_key(%s, %s)", (name, fake.key))
    elif key not in ("stored", None):
        q(conn, "SELECT dwc.set_provider_key(%s, %s)", (name, key))
    return name


def generate(conn, provider, prompt="Say hello", **kw):
    kw["provider"] = provider
    cols = ", ".join("%s => %%(%s)s" % (k, k) for k in kw)
    kw["prompt"] = prompt
    return one(conn, "SELECT dwc.ai_generate(%%(prompt)s, %s)" % cols, kw)


def error_of(conn, provider, prompt="Say hello", **kw):
    with pytest.raises(psycopg2.Error) as ei:
        generate(conn, provider, prompt, **kw)
    return ei.value


# ---- each provider, each outcome ---------------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
def test_success_speaks_the_wire_format(db, fake_ai, kind):
    fake = fake_ai(kind)
    name = add(db, fake, cost_input_per_1k=1, cost_output_per_1k=2)
    r = generate(db, name, "Name three colours", system="Be brief", max_tokens=50, temperature=0.2)
    model = {"openai": "gpt-4o-mini", "anthropic": "claude-3-5-haiku-latest",
             "google": "gemini-1.5-flash", "openai_compatible": "llama3.1"}[kind]
    assert r["text"] == "[%s %s] Name three colours" % (kind, model)
    assert r["provider"] == name and r["model"] == model
    assert r["cached"] is False and r["attempts"] == 1
    assert r["tokens_in"] > 0 and r["tokens_out"] == 5
    assert r["cost"] == pytest.approx(r["tokens_in"] / 1000 * 1 + 5 / 1000 * 2, abs=1e-6)
    req = fake.calls("chat")[-1]
    body = req.json()
    # the system prompt goes where each API wants it
    if kind in ("openai", "openai_compatible"):
        assert body["messages"][0] == {"role": "system", "content": "Be brief"}
        assert body["max_tokens"] == 50 and body["temperature"] == 0.2
    elif kind == "anthropic":
        assert body["system"] == "Be brief" and body["messages"][0]["role"] == "user"
        assert body["max_tokens"] == 50
    else:
        assert body["systemInstruction"]["parts"][0]["text"] == "Be brief"
        assert body["generationConfig"]["maxOutputTokens"] == 50
        assert req.path.endswith("/models/%s:generateContent" % model)


@pytest.mark.parametrize("kind", KINDS)
def test_429_with_retry_after_then_success(db, fake_ai, kind):
    fake = fake_ai(kind)
    name = add(db, fake)
    fake.fail_next(Reply(429, {"error": {"message": "slow down"}}, headers={"Retry-After": "1"}))
    t0 = time.monotonic()
    r = generate(db, name)
    waited = time.monotonic() - t0
    assert r["attempts"] == 2 and r["text"].endswith("Say hello")
    assert waited >= 0.95, "Retry-After: 1 was not honoured (%.3f s)" % waited
    assert len(fake.calls("chat")) == 2


@pytest.mark.parametrize("kind", KINDS)
def test_500_then_success(db, fake_ai, kind):
    fake = fake_ai(kind)
    name = add(db, fake)
    fake.fail_next(Reply(500, {"error": {"message": "internal"}}), Reply(503, "unavailable"))
    r = generate(db, name)
    assert r["attempts"] == 3
    assert len(fake.calls("chat")) == 3


@pytest.mark.parametrize("kind", KINDS)
def test_500_until_retries_run_out(db, fake_ai, kind):
    fake = fake_ai(kind)
    name = add(db, fake, retries=1)
    fake.fail_next(*[Reply(502, {"error": {"message": "bad gateway"}})] * 2)
    e = error_of(db, name)
    assert e.pgcode == "08006"
    assert 'AI provider "%s" failed after 2 attempts' % name in e.pgerror
    assert "HTTP 502: bad gateway" in e.pgerror


@pytest.mark.parametrize("kind", KINDS)
def test_timeout_is_an_error_not_a_hang(db, fake_ai, kind):
    fake = fake_ai(kind)
    fake.delay = 3
    name = add(db, fake, timeout="300 ms", retries=1)
    t0 = time.monotonic()
    e = error_of(db, name)
    took = time.monotonic() - t0
    assert e.pgcode == "08006"
    assert "could not be reached after 2 attempts" in e.pgerror
    assert "timed out" in e.pgerror.lower() or "timeout" in e.pgerror.lower()
    assert took < 2.5


@pytest.mark.parametrize("kind", KINDS)
def test_malformed_json_is_a_clear_error(db, fake_ai, kind):
    fake = fake_ai(kind)
    name = add(db, fake)
    fake.fail_next(Reply(200, b'{"choices": [ {"message": ', headers={"Content-Type": "application/json"}))
    e = error_of(db, name)
    assert e.pgcode == "38000"
    assert 'malformed response from AI provider "%s"' % name in e.pgerror
    assert "not valid JSON" in e.pgerror
    # valid JSON of the wrong shape, too
    fake.fail_next(Reply(200, {"unexpected": True}))
    e = error_of(db, name)
    assert e.pgcode == "38000" and "format" in e.pgerror


@pytest.mark.parametrize("kind", KINDS)
def test_oversized_body_is_refused(db, fake_ai, kind):
    fake = fake_ai(kind)
    name = add(db, fake)
    fake.reply_text = "x" * 300_000
    q(db, "SET dwc.http_max_response_size = '64kB'")
    try:
        e = error_of(db, name)
    finally:
        q(db, "RESET dwc.http_max_response_size")
    assert e.pgcode == "54000"
    assert 'response from AI provider "%s" is too large' % name in e.pgerror
    assert len(fake.calls("chat")) == 1, "an oversized answer is not retried"


@pytest.mark.parametrize("kind", [k for k in KINDS if k != "openai_compatible"])
def test_bad_key_is_an_auth_error(db, fake_ai, kind):
    fake = fake_ai(kind)
    name = add(db, fake, key="wrong-key-123456789")
    e = error_of(db, name)
    assert e.pgcode == "28000"
    assert 'AI provider "%s" refused the credentials' % name in e.pgerror
    assert len(fake.calls("chat")) == 1, "auth errors are not retried"
    assert "wrong-key-123456789" not in e.pgerror


def test_401_from_a_keyless_local_server(db, fake_ai):
    fake = fake_ai("openai_compatible", key="local-secret-abcdefgh")
    name = add(db, fake, key=None)
    e = error_of(db, name)
    assert e.pgcode == "28000"
    assert "The provider has no API key" in e.pgerror


def test_other_4xx_fails_at_once_with_the_providers_message(db, fake_ai):
    fake = fake_ai("openai")
    name = add(db, fake)
    fake.fail_next(Reply(400, {"error": {"message": "The model `nope` does not exist"}}))
    e = error_of(db, name, model="nope")
    assert e.pgcode == "22023"
    assert "The model `nope` does not exist" in e.pgerror
    assert len(fake.calls("chat")) == 1


def test_chat_sends_the_conversation(db, fake_ai):
    fake = fake_ai("anthropic")
    name = add(db, fake)
    msgs = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello."}, {"role": "user", "content": "Count to 3"}]
    r = one(db, "SELECT dwc.ai_chat(%s, provider => %s)", (json.dumps(msgs), name))
    assert r["text"].endswith("Count to 3")
    body = fake.calls("chat")[-1].json()
    assert body["system"] == "You are terse."
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
    with pytest.raises(psycopg2.Error) as ei:
        one(db, "SELECT dwc.ai_chat(%s, provider => %s)", ('[{"role": "robot", "content": "x"}]', name))
    assert ei.value.pgcode == "22023"


@pytest.mark.parametrize("kind", ["openai", "google", "openai_compatible"])
def test_provider_embeddings(db, fake_ai, kind):
    fake = fake_ai(kind)
    name = add(db, fake)
    v = one(db, "SELECT dwc.embed('red green red', %s)", (name,))
    assert len(v) == 8 and sum(v) == pytest.approx(3.0)
    assert len(fake.calls("embed")) == 1


def test_anthropic_has_no_embeddings(db, fake_ai):
    name = add(db, fake_ai("anthropic"))
    with pytest.raises(psycopg2.Error) as ei:
        one(db, "SELECT dwc.embed('x', %s)", (name,))
    assert ei.value.pgcode == "0A000"


# ---- cache ------------------------------------------------------------------------------

def test_identical_call_is_answered_from_the_cache(db, fake_ai):
    fake = fake_ai("openai")
    name = add(db, fake, ttl="1 hour")
    first = generate(db, name, "What is PostgreSQL?")
    second = generate(db, name, "What is   PostgreSQL?\n")      # same after normalising white space
    assert first["cached"] is False and second["cached"] is True
    assert second["text"] == first["text"]
    assert len(fake.calls("chat")) == 1, "the second identical call reached the provider"
    # another prompt, another model or other options are other calls
    generate(db, name, "What is MySQL?")
    generate(db, name, "What is PostgreSQL?", max_tokens=10)
    assert len(fake.calls("chat")) == 3
    # a per-call TTL of 0 bypasses the cache
    assert generate(db, name, "What is PostgreSQL?", cache_ttl="0")["cached"] is False
    assert len(fake.calls("chat")) == 4
    # invalidation
    assert one(db, "SELECT dwc.ai_cache_invalidate(%s)", (name,)) >= 3
    assert generate(db, name, "What is PostgreSQL?")["cached"] is False
    assert len(fake.calls("chat")) == 5


def test_the_memory_tier_answers_without_the_table_is_bounded_and_forgets_with_it(cluster, db, fake_ai):
    """The response cache's shared-memory tier (8 slots in this cluster): a repeated call is
    answered from memory, by any backend, without reading dwc.ai_cache; it keeps the recently
    used and evicts the rest; deleting live rows clears it; answers too long stay in the table."""
    fake = fake_ai("openai")
    name = add(db, fake, ttl="1 hour")

    def stats():
        return one(db, "SELECT dwc._ai_cache_memory_stats()")

    s0 = stats()
    assert s0["enabled"] and s0["slots"] == 8, s0
    fake.reply_text = "Answer zero."
    first = generate(db, name, "prompt 0")
    # the table says otherwise now: an answer from memory never read it
    q(db, "UPDATE dwc.ai_cache SET response = 'from the table' WHERE provider = %s", (name,))
    other = cluster.connect(IT_DB)
    try:
        again = generate(other, name, "prompt 0")              # another backend: one shared tier
    finally:
        other.close()
    assert again["cached"] and again["text"] == first["text"] == "Answer zero.", again
    s1 = stats()
    assert s1["hits"] == s0["hits"] + 1 and s1["stores"] >= s0["stores"] + 1, (s0, s1)

    # another database of the cluster, a provider of the same name: its own cache, not this one's
    pg = cluster.connect("postgres")
    try:
        q(pg, "SELECT dwc.add_provider(%s, 'openai', %s, cache_ttl => '1 hour')", (name, fake.base_url))
        q(pg, "SELECT dwc.set_provider_key(%s, %s)", (name, fake.key))
        fake.reply_text = "Answer from the other database."
        elsewhere = generate(pg, name, "prompt 0")
        assert elsewhere["cached"] is False and elsewhere["text"] == "Answer from the other database."
        q(pg, "SELECT dwc.remove_provider(%s)", (name,))
    finally:
        pg.close()
    s1 = stats()

    # bounded, least recently used out: 24 other answers pass through while prompt 0 is used
    # after every second one, so it is never the oldest of its set of four
    for i in range(1, 25):
        fake.reply_text = "Answer %d." % i
        generate(db, name, "prompt %d" % i)
        if i % 2 == 0:
            assert generate(db, name, "prompt 0")["text"] == "Answer zero.", "evicted while in use"
    s2 = stats()
    assert s2["entries"] <= 8 and s2["evictions"] - s1["evictions"] >= 24 - 8, (s1, s2)
    assert len(fake.calls("chat")) == 26

    # deleting live rows (here by hand) clears it: prompt 0 comes from the table, then the provider
    q(db, "DELETE FROM dwc.ai_cache WHERE provider = %s AND response = 'from the table'", (name,))
    assert stats()["entries"] == 0
    fake.reply_text = "Answer zero, again."
    assert generate(db, name, "prompt 0")["text"] == "Answer zero, again."
    assert len(fake.calls("chat")) == 27

    # an answer longer than a slot is cached in the table only
    fake.reply_text = "long " * 2000
    generate(db, name, "a long one")
    assert stats()["too_large"] == s2["too_large"] + 1
    assert generate(db, name, "a long one")["cached"] is True
    assert len(fake.calls("chat")) == 28


def _free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _redis(port):
    """A real redis-server on loopback, no persistence; returns the process once it answers PING."""
    import socket
    import subprocess
    p = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                          "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return p
        except OSError:
            time.sleep(0.05)
    p.kill()
    raise RuntimeError("redis-server did not start")


def _redis_get(port, key):
    """GET over the Redis protocol: the value, or None."""
    import socket
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(("*2\r\n$3\r\nGET\r\n$%d\r\n%s\r\n" % (len(key), key)).encode())
        head = s.recv(4096).decode()
    if head.startswith("$-1"):
        return None
    return head.split("\r\n")[1]


def _set_redis(c, value):
    conn = c.connect(IT_DB)
    q(conn, "ALTER SYSTEM SET dwc.ai_cache_redis = %s", (value,))
    q(conn, "SELECT pg_reload_conf()")
    deadline = time.time() + 20
    while one(conn, "SELECT current_setting('dwc.ai_cache_redis')") != value and time.time() < deadline:
        time.sleep(0.05)
    conn.close()


def test_the_redis_tier_shares_answers_between_clusters(cluster, db, fake_ai):
    """Two clusters naming one Redis (a real redis-server on loopback): an answer one cluster's
    provider gave answers the other's identical call; an invalidation in one reaches the
    other's Redis lookups; an unreachable Redis makes calls go on as misses."""
    from cluster import temp_cluster
    from conftest import TEST_SETTINGS, prepare
    port = _free_port()
    server = _redis(port)
    target = "127.0.0.1:%d" % port
    other = temp_cluster(settings=dict(TEST_SETTINGS, **{"dwc.ai_cache_redis": "'%s'" % target})).init().start()
    try:
        prepare(other)
        _set_redis(cluster, target)
        fake = fake_ai("openai")
        conns = [cluster.connect(IT_DB), other.connect(IT_DB)]
        for conn in conns:
            q(conn, "SELECT dwc.remove_provider('redis-fake')")
            q(conn, "SELECT dwc.add_provider('redis-fake', 'openai', %s, api_key => %s, cache_ttl => '1 hour')",
              (fake.base_url, fake.key))
        here, there = conns
        fake.reply_text = "Shared answer."
        assert generate(here, "redis-fake", "a shared prompt")["cached"] is False
        got = generate(there, "redis-fake", "a shared prompt")
        assert got["cached"] is True and got["text"] == "Shared answer.", got
        assert len(fake.calls("chat")) == 1, "the other cluster asked the provider again"
        s = one(there, "SELECT dwc._ai_cache_memory_stats()")["redis"]
        assert s["server"] == target and s["hits"] >= 1, s

        # invalidated in the other cluster: the shared generation moves on, for every cluster,
        # and the old answer is found nowhere (that cluster's table never held it)
        gen_key = "dwc:ai:%s:generation" % IT_DB
        before_gen = int(_redis_get(port, gen_key) or 0)
        q(there, "SELECT dwc.ai_cache_invalidate('redis-fake')")
        assert int(_redis_get(port, gen_key) or 0) > before_gen
        fake.reply_text = "A fresh answer."
        assert generate(there, "redis-fake", "a shared prompt")["text"] == "A fresh answer."
        assert len(fake.calls("chat")) == 2

        # Redis gone: calls go on as misses, within the round trip's timeout, counted as errors
        server.kill()
        server.wait()
        before = one(here, "SELECT dwc._ai_cache_memory_stats()")["redis"]["errors"]
        t0 = time.time()
        assert generate(here, "redis-fake", "while redis is down")["text"] == "A fresh answer."
        assert time.time() - t0 < 3
        assert one(here, "SELECT dwc._ai_cache_memory_stats()")["redis"]["errors"] > before
        for conn in conns:
            conn.close()
    finally:
        _set_redis(cluster, "")
        other.destroy()
        if server.poll() is None:
            server.kill()


def test_cache_entries_expire(db, fake_ai):
    fake = fake_ai("google")
    name = add(db, fake, ttl="1 second")
    generate(db, name, "expiring")
    assert generate(db, name, "expiring")["cached"] is True
    time.sleep(1.2)
    assert generate(db, name, "expiring")["cached"] is False
    assert len(fake.calls("chat")) == 2


def test_failed_calls_are_not_cached(db, fake_ai):
    fake = fake_ai("openai")
    name = add(db, fake, ttl="1 hour", retries=0)
    fake.fail_next(Reply(500, "boom"))
    error_of(db, name, "not cached")
    assert generate(db, name, "not cached")["cached"] is False


# ---- the call log -------------------------------------------------------------------------

def test_every_call_is_logged_also_failures_and_rollbacks(cluster, db, fake_ai):
    fake = fake_ai("openai")
    name = add(db, fake, ttl="1 hour", retries=0, cost_input_per_1k=10)
    generate(db, name, "logged one")
    generate(db, name, "logged one")                       # a cache hit
    fake.fail_next(Reply(503, {"error": {"message": "overloaded"}}))
    error_of(db, name, "logged two")
    db.autocommit = False
    generate(db, name, "rolled back")
    db.rollback()
    db.autocommit = True
    cluster.wait_for("SELECT count(*) = 4 FROM dwc.ai_calls WHERE provider = %s", (name,), dbname=IT_DB)
    rows = q(db, "SELECT operation, ok, cache_hit, http_status, attempts, tokens_in > 0, cost > 0, "
                 "latency_ms >= 0, error FROM dwc.ai_calls WHERE provider = %s ORDER BY id", (name,))
    assert rows[0] == ("generate", True, False, 200, 1, True, True, True, None)
    assert rows[1][:3] == ("generate", True, True)
    assert rows[2][:5] == ("generate", False, False, 503, 1) and "overloaded" in rows[2][8]
    assert rows[3][:3] == ("generate", True, False)
    stats = one(db, "SELECT dwc.ai_stats()")["calls"][name]
    assert stats["calls"] == 4 and stats["errors"] == 1 and stats["cache_hits"] == 1


# ---- secrets ------------------------------------------------------------------------------

def readable_text_as(cluster, role):
    """Every row of every table or view in schemas dwc and api that `role` may read, as text."""
    conn = cluster.connect(IT_DB)
    try:
        rels = q(conn, """
            SELECT format('%%I.%%I', n.nspname, c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname IN ('dwc', 'api') AND c.relkind IN ('r', 'v', 'm', 'p')
               AND has_table_privilege(%s, c.oid, 'SELECT')""", (role,))
        q(conn, "SET ROLE %s" % role)
        out = []
        for (rel,) in rels:
            out.extend(str(r) for r in q(conn, "SELECT t::text FROM %s t" % rel))
        return [r for (r,) in rels], "\n".join(out)
    finally:
        conn.close()


def test_api_keys_never_show(cluster, db, fake_ai):
    """A stored key and an echoed key: not in tables a non-admin can read, not in errors, not in
    the server log (default settings), not readable by a non-admin even through dwc's functions."""
    log_start = cluster.log_size()
    fake = fake_ai("openai", key="sk-live-topsecret-0123456789abcdef")
    name = add(db, fake, ttl="1 hour")
    generate(db, name, "a normal call")
    errors = []
    # the provider echoes the key back in an error message
    fake.fail_next(Reply(400, {"error": {"message": "Incorrect API key provided: %s." % fake.key}}))
    errors.append(error_of(db, name, "echo").pgerror)
    fake.fail_next(Reply(500, "x"), Reply(500, "x"), Reply(500, {"error": {"message": "key=%s" % fake.key}}))
    errors.append(error_of(db, name, "echo 5xx").pgerror)
    q(db, "SELECT dwc.set_provider_key(%s, %s)", (name, "sk-wrong-also-secret-99887766"))
    errors.append(error_of(db, name, "auth").pgerror)
    for e in errors:
        assert fake.key not in e and "sk-wrong-also-secret" not in e, e
    assert "[redacted]" in errors[0]

    cluster.wait_for("SELECT count(*) >= 4 FROM dwc.ai_calls WHERE provider = %s", (name,), dbname=IT_DB)
    q(db, "DROP ROLE IF EXISTS dwc_it_ai_user")
    q(db, "CREATE ROLE dwc_it_ai_user")
    q(db, "GRANT USAGE ON SCHEMA dwc, api TO dwc_it_ai_user")
    try:
        rels, text = readable_text_as(cluster, "dwc_it_ai_user")
        assert "dwc.ai_provider_list" in rels
        assert name in text, "the provider list should be readable"
        assert "topsecret" not in text and "sk-wrong-also-secret" not in text
        conn = cluster.connect(IT_DB)
        try:
            q(conn, "SET ROLE dwc_it_ai_user")
            for sql in ("SELECT api_key_encrypted FROM dwc.ai_providers",
                        "SELECT dwc.decrypt(api_key_encrypted) FROM dwc.ai_providers",
                        "SELECT dwc.decrypt('\\x00'::bytea)", "SELECT * FROM dwc.ai_calls",
                        "SELECT * FROM dwc.ai_cache"):
                with pytest.raises(psycopg2.Error) as ei:
                    q(conn, sql)
                assert ei.value.pgcode == "42501", sql
        finally:
            conn.close()
    finally:
        q(db, "REVOKE ALL ON SCHEMA dwc, api FROM dwc_it_ai_user")
        q(db, "DROP ROLE dwc_it_ai_user")
    # the key is stored encrypted: not in the row's bytes
    raw = one(db, "SELECT api_key_encrypted::text FROM dwc.ai_providers WHERE name = %s", (name,))
    assert b"sk-wrong".hex() not in raw
    log = cluster.log_since(log_start)
    assert "Incorrect API key" in log or "refused the credentials" in log, "the errors should be in the log"
    assert fake.key not in log and "sk-wrong-also-secret" not in log


def test_key_from_environment_and_setting(make_cluster, fake_ai):
    fake = fake_ai("anthropic")
    c = make_cluster(env={"DWC_IT_ANTHROPIC_KEY": fake.key},
                     settings={"dwc.anthropic_api_key": "'%s'" % fake.key})
    conn = c.connect(IT_DB)
    try:
        q(conn, "SELECT dwc.add_provider('env', 'anthropic', %s, api_key_env => 'DWC_IT_ANTHROPIC_KEY')",
          (fake.base_url,))
        q(conn, "SELECT dwc.add_provider('setting', 'anthropic', %s, api_key_setting => 'dwc.anthropic_api_key')",
          (fake.base_url,))
        assert generate(conn, "env", "via env")["text"].endswith("via env")
        assert generate(conn, "setting", "via setting")["text"].endswith("via setting")
        assert [r.headers["x-api-key"] for r in fake.calls("chat")] == [fake.key, fake.key]
        # the setting is superuser-only and hidden
        q(conn, "CREATE ROLE dwc_it_peek")
        q(conn, "SET ROLE dwc_it_peek")
        with pytest.raises(psycopg2.Error) as ei:
            q(conn, "SHOW dwc.anthropic_api_key")
        assert ei.value.pgcode == "42501"
        q(conn, "RESET ROLE")
        assert fake.key not in c.log_text()
    finally:
        conn.close()


def test_storing_a_key_needs_an_encryption_key(make_cluster):
    c = make_cluster(settings={"dwc.encryption_keys": "''"})
    conn = c.connect(IT_DB)
    try:
        with pytest.raises(psycopg2.Error) as ei:
            q(conn, "SELECT dwc.add_provider('p', 'openai', api_key => 'sk-abcdefgh12345678')")
        assert ei.value.pgcode == "55000"
        assert "sk-abcdefgh12345678" not in ei.value.pgerror
    finally:
        conn.close()


def test_workers_drop_expired_cache_entries_and_old_calls(cluster, db):
    q(db, "INSERT INTO dwc.ai_cache VALUES ('\\xdead'::bytea, 'gone', 'm', 'r', 1, 1, now() - interval '2 hours', "
          "now() - interval '1 hour'), ('\\xbeef'::bytea, 'kept', 'm', 'r', 1, 1, now(), now() + interval '1 hour')")
    q(db, "INSERT INTO dwc.ai_calls (at, role, provider, model, operation, tokens_in, tokens_out, latency_ms, cost, "
          "cache_hit, ok, http_status, attempts) VALUES (now() - interval '400 days', 10, 'old', 'm', 'generate', "
          "0, 0, 0, 0, false, true, 200, 1), (now(), 10, 'new', 'm', 'generate', 0, 0, 0, 0, false, true, 200, 1)")
    # the maintenance worker maintains the AI tables when it starts, then every minute: restart it
    pid = one(db, "SELECT pid FROM dwc.status() WHERE kind = 'maintenance' AND database = current_database()")
    q(db, "SELECT pg_terminate_backend(%s)", (pid,))
    cluster.wait_for("SELECT NOT EXISTS (SELECT 1 FROM dwc.ai_cache WHERE provider = 'gone') "
                     "AND NOT EXISTS (SELECT 1 FROM dwc.ai_calls WHERE provider = 'old')", dbname=IT_DB, timeout=15)
    assert one(db, "SELECT count(*) FROM dwc.ai_cache WHERE provider = 'kept'") == 1
    assert one(db, "SELECT count(*) FROM dwc.ai_calls WHERE provider = 'new'") == 1
    q(db, "DELETE FROM dwc.ai_cache WHERE provider = 'kept'")
