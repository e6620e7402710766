#!/usr/bin/python3
"""bench/ai.py: AI service and chain benchmarks, with same-machine baselines.

Prints, in one run:
  - cache-hit latency of dwc.ai_generate() (target: under 100 us per call), next to a bare
    primary-key lookup of the same cache row;
  - builtin analysis throughput (dwc.analyze_text) on 1 KB documents, next to PostgreSQL's
    own to_tsvector('english') on the same documents;
  - chain-continue overhead excluding provider time: dwc.continue_chain() against a
    loopback OpenAI-format server that answers at once, minus a bare dwc.ai_chat() of the
    same request size to the same server (the provider's share); and the builtin provider.

Run as root or as a user who can start PostgreSQL: builds nothing, uses the installed dwc.
    bench/ai.py [--calls 20000] [--docs 5000] [--continues 200]
Never fails on a timing: it prints figures.
"""
import argparse
import os
import random
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "test", "kit"))

from benchkit import line as _line, timed_sql  # noqa: E402
from cluster import temp_cluster  # noqa: E402
from fakeai import FakeAI  # noqa: E402

DB = "bench"
SETTINGS = {
    "dwc.databases": "'%s'" % DB,
    "dwc.job_workers": "2",
    "shared_buffers": "'256MB'",
    "dwc.encryption_keys": "'bench:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY='",
}

WORDS = ("solar panel roof energy battery inverter grid tariff savings install maintenance cost "
         "homeowner weather winter summer sunlight efficiency warranty loan incentive credit "
         "cleaning inspection orientation shade angle output meter export storage night day "
         "good excellent poor problem risk benefit simple complex quickly slowly").split()


def line(label, value):
    _line(label, value)

def document(rng, nbytes=1024):
    """About nbytes of varied English-like prose."""
    out = []
    size = 0
    while size < nbytes:
        n = rng.randint(8, 18)
        s = " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + rng.choice([".", ".", ".", "!", "?"])
        out.append(s)
        size += len(s) + 1
    return " ".join(out)[:nbytes]


def bench_cache(cur, fake, calls):
    print("cache hits (%d calls of dwc.ai_generate, one statement):" % calls)
    cur.execute("SELECT dwc.add_provider('bench-openai', 'openai', %s, api_key => %s, cache_ttl => '1 hour')",
                (fake.base_url, fake.key))
    cur.execute("SELECT dwc.ai_generate('What is PostgreSQL?', provider => 'bench-openai')")
    before = len(fake.calls("chat"))
    t = timed_sql(cur, "SELECT count(dwc.ai_generate('What is PostgreSQL?', provider => 'bench-openai')) "
                       "FROM generate_series(1, %s)", (calls,))
    after = len(fake.calls("chat"))
    hit_us = t / calls * 1e6
    line("dwc.ai_generate, cache hit (memory tier)", "%.1f us/call (%.0f calls/s)%s" % (
        hit_us, calls / t, "" if after == before else "  [%d reached the server!]" % (after - before)))
    # the table tier: the memory tier emptied before each call (the clear itself is an atomic add)
    t = timed_sql(cur, "SELECT count(dwc.ai_generate('What is PostgreSQL?', provider => 'bench-openai')) "
                       "FROM generate_series(1, %s) g, LATERAL (SELECT dwc._ai_cache_memory_clear() "
                       "WHERE g > 0) x", (calls,))
    line("dwc.ai_generate, cache hit (table tier: memory emptied each call)", "%.1f us/call" % (t / calls * 1e6))
    cur.execute("SELECT dwc._ai_cache_memory_stats()")
    s = cur.fetchone()[0]
    line("memory tier since start: hits / misses / hit ratio", "%s / %s / %s" % (s["hits"], s["misses"], s["hit_ratio"]))
    t = timed_sql(cur, "SELECT count((SELECT response FROM dwc.ai_cache WHERE key = k)) "
                       "FROM (SELECT key AS k FROM dwc.ai_cache LIMIT 1) c, generate_series(1, %s)", (calls,))
    line("baseline: SELECT response FROM dwc.ai_cache WHERE key = $1", "%.1f us/call" % (t / calls * 1e6))
    cur.execute("SELECT percentile_cont(ARRAY[0.5, 0.99]) WITHIN GROUP (ORDER BY latency_ms) "
                "FROM (SELECT (dwc.ai_generate('What is PostgreSQL?', provider => 'bench-openai')->>'latency_ms')::float8 "
                "        AS latency_ms FROM generate_series(1, 2000)) s")
    p50, p99 = cur.fetchone()[0]
    line("latency_ms reported by the call itself (p50 / p99)", "%.1f us / %.1f us" % (p50 * 1000, p99 * 1000))
    line("target: under 100 us per call", "met" if hit_us < 100 else "NOT met")
    return hit_us


def bench_analysis(cur, ndocs):
    print("builtin analysis (%d documents of 1 KB):" % ndocs)
    rng = random.Random(42)
    cur.execute("CREATE TEMP TABLE docs (id int, t text)")
    cur.executemany("INSERT INTO docs VALUES (%s, %s)", [(i, document(rng)) for i in range(ndocs)])
    cur.execute("SELECT sum(octet_length(t)) FROM docs")
    nbytes = int(cur.fetchone()[0])
    t = timed_sql(cur, "SELECT count(dwc.analyze_text(t)) FROM docs")
    line("dwc.analyze_text (sentiment, keywords, summary, language...)", "%.0f docs/s, %.1f MB/s" % (
        ndocs / t, nbytes / t / 1e6))
    t2 = timed_sql(cur, "SELECT count(to_tsvector('english', t)) FROM docs")
    line("baseline: to_tsvector('english', t)", "%.0f docs/s, %.1f MB/s" % (ndocs / t2, nbytes / t2 / 1e6))
    t3 = timed_sql(cur, "SELECT count(dwc.embed(t)) FROM docs")
    line("dwc.embed, builtin (512-dim hashed TF)", "%.0f docs/s" % (ndocs / t3))
    t4 = timed_sql(cur, "SELECT count(dwc.ai_generate(left(t, 200))) FROM docs")
    line("dwc.ai_generate, builtin provider", "%.0f docs/s" % (ndocs / t4))


def bench_chain(cur, fake, n):
    print("chain continue (%d documents, each from the previous one):" % n)
    fake.reply_text = ("# A step\n\n" + document(random.Random(7), 1500))
    cur.execute("SELECT dwc.add_provider('bench-chain', 'openai', %s, api_key => %s, cache_ttl => '0')",
                (fake.base_url, fake.key))

    def per_call(sql, params):
        samples = []
        for _ in range(n):
            samples.append(timed_sql(cur, sql, params) * 1000)
        return samples

    cur.execute("SELECT (dwc.create_chain('bench', 'Write about solar panels.', provider => 'bench-chain'))->>'id'")
    cid = int(cur.fetchone()[0])
    cont = per_call("SELECT dwc.continue_chain(%s)", (cid,))
    # the provider's share: the same exchange without the chain around it, same sizes
    cur.execute("SELECT metadata->>'context_tokens' FROM dwc.documents WHERE chain_id = %s ORDER BY id DESC LIMIT 1",
                (cid,))
    system = "x " * (int(cur.fetchone()[0]) * 2)
    chat = per_call("SELECT dwc.ai_chat(jsonb_build_array(jsonb_build_object('role', 'system', 'content', %s::text), "
                    "jsonb_build_object('role', 'user', 'content', 'Continue.')), provider => 'bench-chain', "
                    "cache_ttl => '0')", (system,))
    c50, chat50 = statistics.median(cont), statistics.median(chat)
    line("dwc.continue_chain, loopback provider answering at once (p50)", "%.2f ms" % c50)
    line("  the provider exchange alone: dwc.ai_chat, same sizes (p50)", "%.2f ms" % chat50)
    line("  chain overhead = continue - exchange (p50)", "%.2f ms" % (c50 - chat50))
    line("  continue p90 / p99", "%.2f ms / %.2f ms" % (sorted(cont)[int(n * 0.9)], sorted(cont)[int(n * 0.99)]))
    cur.execute("SELECT (dwc.create_chain('bench-builtin', 'Write about solar panels.'))->>'id'")
    bid = int(cur.fetchone()[0])
    b = per_call("SELECT dwc.continue_chain(%s)", (bid,))
    line("dwc.continue_chain, builtin provider (p50)", "%.2f ms" % statistics.median(b))
    first, last = statistics.median(cont[:20]), statistics.median(cont[-20:])
    line("  first 20 vs last 20 continues (chain depth grows)", "%.2f ms vs %.2f ms" % (first, last))


def bench_tiers(fake, calls):
    """Each tier of the response cache alone: a cluster without the memory tier
    (dwc.ai_cache_memory = 0), with and without a Redis server (Debian's redis-server on
    loopback), so that every hit comes from Redis, or from the table."""
    import shutil
    import socket
    import subprocess
    print("cache hits per tier (%d calls each; the memory tier off in this cluster):" % calls)
    if shutil.which("redis-server") is None:
        line("Redis tier", "not measured: redis-server is not installed")
        redis = None
    else:
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        redis = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                  "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)
    settings = dict(SETTINGS, **{"dwc.ai_cache_memory": "0"})
    c = temp_cluster(prefix="dwc-bench-ai-tiers-", port=5621, settings=settings).init().start()
    try:
        c.create_database(DB)
        conn = c.connect(DB)
        conn.autocommit = True
        cur = conn.cursor()
        cur.execute("SELECT dwc.add_provider('bench-tier', 'openai', %s, api_key => %s, cache_ttl => '1 hour')",
                    (fake.base_url, fake.key))
        cur.execute("SELECT dwc.ai_generate('A tier prompt', provider => 'bench-tier')")
        t = timed_sql(cur, "SELECT count(dwc.ai_generate('A tier prompt', provider => 'bench-tier')) "
                           "FROM generate_series(1, %s)", (calls,))
        line("dwc.ai_generate, cache hit from the table", "%.1f us/call" % (t / calls * 1e6))
        if redis is not None:
            cur.execute("ALTER SYSTEM SET dwc.ai_cache_redis = %s", ("127.0.0.1:%d" % port,))
            cur.execute("SELECT pg_reload_conf()")
            time.sleep(0.5)
            conn.close()
            conn = c.connect(DB)
            conn.autocommit = True
            cur = conn.cursor()
            # stored in Redis by a miss, then the table row removed without the trigger that clears Redis
            cur.execute("SELECT dwc.ai_generate('A Redis prompt', provider => 'bench-tier')")
            cur.execute("SET session_replication_role = replica")
            cur.execute("DELETE FROM dwc.ai_cache")
            cur.execute("RESET session_replication_role")
            before = len(fake.calls("chat"))
            t = timed_sql(cur, "SELECT count(dwc.ai_generate('A Redis prompt', provider => 'bench-tier')) "
                               "FROM generate_series(1, %s)", (calls,))
            reached = len(fake.calls("chat")) - before
            line("dwc.ai_generate, cache hit from Redis (loopback)", "%.1f us/call%s" % (
                t / calls * 1e6, "" if reached == 0 else "  [%d calls reached the provider]" % reached))
        conn.close()
    finally:
        c.destroy()
        if redis is not None:
            redis.kill()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=20000)
    ap.add_argument("--docs", type=int, default=5000)
    ap.add_argument("--continues", type=int, default=200)
    args = ap.parse_args()
    c = temp_cluster(prefix="dwc-bench-ai-", port=5620, settings=SETTINGS).init().start()
    fake = FakeAI("openai")
    try:
        c.create_database(DB)
        conn = c.connect(DB)
        cur = conn.cursor()
        cur.execute("SELECT version()")
        print("dwc AI benchmarks on %s" % cur.fetchone()[0].split(",")[0])
        bench_cache(cur, fake, args.calls)
        bench_tiers(fake, min(args.calls, 5000))
        bench_analysis(cur, args.docs)
        bench_chain(cur, fake, args.continues)
        conn.close()
    finally:
        fake.close()
        c.destroy()


if __name__ == "__main__":
    main()
