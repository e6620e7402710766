"""Metrics: custom counters, gauges and histograms read back through a real Prometheus parser
(python3-prometheus-client), the system sampler in the maintenance worker, hourly rollups,
and retention keeping the samples flat over a simulated fortnight."""
import json
import subprocess
import uuid

from prometheus_client.parser import text_string_to_metric_families

from conftest import IT_DB, one, q


def name(prefix):
    return "%s_%s" % (prefix, uuid.uuid4().hex[:8])


def families(db):
    return {f.name: f for f in text_string_to_metric_families(one(db, "SELECT dwc.prometheus_metrics()"))}


def test_custom_metrics_parse_as_prometheus_text(db):
    c, g, h = name("req") + "_total", name("depth"), name("latency_seconds")
    q(db, "SELECT dwc.define_metric(%s, 'counter', 'Requests \\ served' || E'\\n' || 'by path.')", (c,))
    q(db, "SELECT dwc.define_metric(%s, 'gauge', 'Jobs waiting.')", (g,))
    q(db, "SELECT dwc.define_metric(%s, 'histogram', 'Latency.', 'seconds', '{0.1,0.5,1}')", (h,))
    odd = 'a "quoted" \\ path\nwith a newline'
    for labels, amount in (({"code": 200, "path": "/x"}, 1), ({"code": "200", "path": "/x"}, 2), ({"path": odd}, 5)):
        q(db, "SELECT dwc.metric_inc(%s, %s, %s)", (c, amount, json.dumps(labels)))
    q(db, "SELECT dwc.metric_set(%s, 3)", (g,))
    q(db, "SELECT dwc.metric_set(%s, 7.5)", (g,))
    for v in (0.05, 0.3, 0.7, 2.0, 0.1):
        q(db, "SELECT dwc.metric_observe(%s, %s, '{\"route\": \"a\"}')", (h, v))

    fam = families(db)
    counter = fam[c[:-len("_total")]]         # the parser names a counter family without _total
    assert counter.type == "counter" and counter.documentation == "Requests \\ served\nby path."
    got = {tuple(sorted(s.labels.items())): s.value for s in counter.samples}
    assert got == {(("code", "200"), ("path", "/x")): 3.0, (("path", odd),): 5.0}, got
    gauge = fam[g]
    assert gauge.type == "gauge" and [s.value for s in gauge.samples] == [7.5]
    hist = fam[h]
    assert hist.type == "histogram"
    buckets = {s.labels["le"]: s.value for s in hist.samples if s.name == h + "_bucket"}
    assert buckets == {"0.1": 2.0, "0.5": 3.0, "1": 4.0, "+Inf": 5.0}, buckets
    assert [s.value for s in hist.samples if s.name == h + "_count"] == [5.0]
    assert abs([s.value for s in hist.samples if s.name == h + "_sum"][0] - 3.15) < 1e-9

    # the samples and their series
    rows = q(db, "SELECT n, min, max FROM dwc.metric_series(%s, '{\"route\": \"a\"}', now() - interval '1 minute', "
                 "now() + interval '1 minute', '1 hour')", (h,))
    assert rows == [(5, 0.05, 2.0)], rows


def test_refusals(db):
    g = name("g")
    q(db, "SELECT dwc.define_metric(%s, 'gauge')", (g,))
    for sql, msg in (("SELECT dwc.define_metric('#9', 'gauge')", "invalid metric"),
                     ("SELECT dwc.define_metric('...', 'gauge')", "invalid metric"),
                     ("SELECT dwc.metric_inc(E'a\\nb')", "invalid metric"),
                     ("SELECT dwc.define_metric('x_" + g + "', 'meter')", "invalid metric"),
                     ("SELECT dwc.define_metric('h_" + g + "', 'histogram', buckets => '{1,0.5}')", "increasing order"),
                     ("SELECT dwc.define_metric('" + g + "', 'counter')", "exists as a gauge"),
                     ("SELECT dwc.metric_inc('" + g + "')", "is a gauge, not a counter"),
                     ("SELECT dwc.metric_set('" + g + "', 1, '{\"__name__\": \"x\"}')", "invalid label name"),
                     ("SELECT dwc.metric_set('" + g + "', 'NaN')", "needs a number")) + tuple(
            ("SELECT dwc.metric_set('%s', 1, '%s')" % (g, labels), msg) for labels, msg in (
                ('[1]', "must be a JSON object"), ('"x"', "must be a JSON object"),
                (json.dumps({"l%d" % i: i for i in range(11)}), "at most 10 labels"),
                ('{"9x": "a"}', 'invalid label name "9x"'), ('{"a-b": "a"}', "invalid label name"),
                ('{"%s": "a"}' % ("n" * 101), "invalid label name"), ('{"": "a"}', "invalid label name"),
                ('{"path": {"a": 1}}', 'label "path" needs a value'), ('{"path": null}', 'label "path" needs a value'),
                ('{"path": "%s"}' % ("é" * 201), 'label "path" needs a value of at most 200'))):
        try:
            q(db, sql)
        except Exception as e:  # noqa: BLE001
            assert msg in str(e) and e.pgcode in ("22023", "42704", "42809", "42710"), (sql, e.pgcode, str(e))
        else:
            raise AssertionError("no error: " + sql)
    # the one form of a label set: every value a string, the keys in jsonb's order; at the limits
    got = one(db, """SELECT dwc._metric_labels('{"b": 1.50, "a": true, "c": "x", "_d": -2000.0}')""")
    assert got == {"a": "true", "b": "1.50", "c": "x", "_d": "-2000.0"}, got
    assert one(db, "SELECT dwc._metric_labels(NULL)") == {}
    edge = {"l%d" % i: "é" * 200 for i in range(9)}
    edge["n" * 100] = "v"
    assert one(db, "SELECT dwc._metric_labels(%s)", (json.dumps(edge),)) == edge


def test_the_sampler_records_the_machine(make_cluster):
    c = make_cluster(settings={"dwc.metrics_sample_interval": "'300ms'"})
    c.wait_for("SELECT count(*) >= 3 FROM dwc.metric_samples WHERE name = 'dwc_system_cpu_usage_ratio'",
               dbname=IT_DB, timeout=20)
    v = dict(c.sql("SELECT name, value FROM dwc.metric_values WHERE name LIKE 'dwc\\_%%'", dbname=IT_DB))
    assert 0 <= v["dwc_system_cpu_usage_ratio"] <= 1, v
    assert v["dwc_system_cpus"] >= 1 and v["dwc_system_memory_total_bytes"] > 0
    assert 0 < v["dwc_system_memory_available_bytes"] <= v["dwc_system_memory_total_bytes"]
    assert 0 < v["dwc_system_disk_free_bytes"] <= v["dwc_system_disk_total_bytes"]
    assert v["dwc_pg_backends"] >= 1 and 0 < v["dwc_pg_cache_hit_ratio"] <= 1 and v["dwc_pg_database_size_bytes"] > 0
    with open("/proc/meminfo") as f:
        total = int(next(ln for ln in f if ln.startswith("MemTotal:")).split()[1]) * 1024
    assert v["dwc_system_memory_total_bytes"] == total
    # parseable, every sampled metric present
    conn = c.connect(IT_DB)
    fam = families(conn)
    conn.close()
    assert {"dwc_system_load1", "dwc_system_memory_used_ratio"} <= set(fam), sorted(fam)
    assert fam["dwc_pg_xact_commit"].type == "counter" and fam["dwc_pg_xact_commit"].samples[0].value > 0


def test_rollups_and_retention_keep_the_samples_flat(make_cluster):
    c = make_cluster(settings={"dwc.metrics_sample_interval": "0"})
    conn = c.connect(IT_DB)
    m = "flat_gauge"
    q(conn, "SELECT dwc.define_metric(%s, 'gauge')", (m,))
    # three samples in each of two past hours roll up into two rows with their figures
    q(conn, "INSERT INTO dwc.metric_samples (at, name, value) SELECT date_trunc('hour', now()) - interval '3 hours' "
            "+ make_interval(mins => k * 10), %s, k FROM generate_series(1, 3) k", (m,))
    q(conn, "INSERT INTO dwc.metric_samples (at, name, value) SELECT date_trunc('hour', now()) - interval '2 hours' "
            "+ make_interval(mins => k * 10), %s, 10 * k FROM generate_series(1, 3) k", (m,))
    assert one(conn, "SELECT dwc._metrics_rollup()") == 2
    assert q(conn, "SELECT n, sum, min, max, last FROM dwc.metric_rollups WHERE name = %s ORDER BY hour", (m,)) == \
        [(3, 6.0, 1.0, 3.0, 3.0), (3, 60.0, 10.0, 30.0, 30.0)]
    assert one(conn, "SELECT dwc._metrics_rollup()") == 0         # done hours are not rolled twice
    q(conn, "DELETE FROM dwc.metric_samples WHERE name = %s", (m,))

    # a fortnight, a day at a time: day d adds 2,880 samples (one every 30 s) ending at its
    # simulated now, now() - (16 - d) days; retention (7 days) then runs as the maintenance
    # worker would on that day: its cutoff is the simulated now - 7 days. The fortnight ends
    # three days ago, so that all of it lands in the default partition (the daily ones start
    # yesterday): the space retention frees there is what later days must reuse
    shift = 3
    counts = []
    for day in range(14):
        q(conn, "INSERT INTO dwc.metric_samples (at, name, value) "
                "SELECT now() - make_interval(days => %s) + make_interval(secs => k * 30), %s, k "
                "FROM generate_series(0, 2879) k", (14 - day + shift, m))
        xid = one(conn, "SELECT pg_current_xact_id()::text FROM "
                        "(SELECT dwc._partitions_maintain('dwc.metric_samples', make_interval(days => %s))) m",
                  (13 - day + shift + 7,))
        # VACUUM reclaims the deleted rows only once no other session's snapshot is older than
        # the delete (the workers' own can be, on a loaded machine): wait for that, not a time
        c.wait_for("SELECT coalesce(bool_and(age(backend_xmin) < age(%s::xid8::xid)), true) "
                   "FROM pg_stat_activity WHERE backend_xmin IS NOT NULL AND pid <> pg_backend_pid()",
                   (xid,), dbname=IT_DB, timeout=60)
        q(conn, "VACUUM dwc.metric_samples")
        counts.append((one(conn, "SELECT count(*) FROM dwc.metric_samples WHERE name = %s", (m,)),
                       one(conn, "SELECT sum(pg_total_relation_size(i.inhrelid)) FROM pg_inherits i "
                                 "WHERE i.inhparent = 'dwc.metric_samples'::regclass")))
    rows = [n for n, _ in counts]
    sizes = [int(s) for _, s in counts]
    # grows for a week, then stays within a day's worth of samples
    assert rows[6] > rows[2] and max(rows[7:]) - min(rows[7:]) <= 2880, (rows, sizes)
    assert max(rows) <= 8 * 2880, rows
    # and the bytes with it: the last week's largest is within 10% of its smallest (freed
    # space is reused; seen: within 0.4%)
    assert max(sizes[8:]) <= 1.10 * min(sizes[8:]), (rows, sizes)
    conn.close()


def test_a_users_series_are_private_to_them_and_administrators(cluster, rest):
    """Definitions are shared; what a user records is theirs and the administrators'; the
    system sampler's series are everyone's. Through the api (tokens and API keys) and the
    tables directly (row-level security)."""
    password = "Tide-Pool-42!x"
    tokens = {}
    for who, role in (("alice", "dwc_user"), ("bob", "dwc_user"), ("root", "dwc_admin")):
        n = "%s_%s" % (who, uuid.uuid4().hex[:6])
        one(rest.conn, "SELECT dwc.create_user(%s, %s, role => %s)", (n, password, role))
        status, body = rest.rpc("login", {"username": n, "password": password})
        assert status == 200, body
        tokens[who] = body["access_token"]
    c = name("orders") + "_total"
    q(rest.conn, "SELECT dwc.define_metric(%s, 'counter', 'Orders.')", (c,))
    for who, amount in (("alice", 2), ("bob", 5)):
        status, body = rest.rpc("record_metric", {"name": c, "value": amount, "labels": {"shop": who}},
                                token=tokens[who])
        assert status == 200 and body["value"] == amount, body
    # the same label set recorded by both: each their own series
    for who in ("alice", "bob"):
        assert rest.rpc("record_metric", {"name": c, "value": 1, "labels": {"shop": "shared"}}, token=tokens[who])[0] == 200
    cluster.wait_for("SELECT count(*) > 0 FROM dwc.metric_values WHERE name = 'dwc_system_load1'", dbname=IT_DB)

    def seen(who):
        status, metrics = rest.rpc("list_metrics", token=tokens[who], get=True)
        assert status == 200, metrics
        mine = {json.dumps(v["labels"], sort_keys=True): v["value"] for m in metrics if m["name"] == c for v in m["values"]}
        system = [m for m in metrics if m["name"] == "dwc_system_load1" and m["values"]]
        return mine, bool(system)

    assert seen("alice") == ({'{"shop": "alice"}': 2, '{"shop": "shared"}': 1}, True)
    assert seen("bob") == ({'{"shop": "bob"}': 5, '{"shop": "shared"}': 1}, True)
    assert seen("root") == ({'{"shop": "alice"}': 2, '{"shop": "bob"}': 5, '{"shop": "shared"}': 2}, True)

    # series and samples, through the api and the tables
    status, series = rest.rpc("metric_series", {"name": c, "labels": {"shop": "alice"}}, token=tokens["bob"], get=True)
    assert status == 200 and series == [], series
    status, series = rest.rpc("metric_series", {"name": c, "labels": {"shop": "alice"}}, token=tokens["root"], get=True)
    assert status == 200 and sum(p["n"] for p in series) == 1, series
    # the tables have them once the maintenance worker has written shared memory's (within
    # dwc's write interval); the readers above saw them at once
    cluster.wait_for("SELECT (SELECT count(*) FROM dwc.metric_values WHERE name = %s) = 4 "
                     "   AND (SELECT count(*) FROM dwc.metric_samples WHERE name = %s) = 4", (c, c), dbname=IT_DB)
    cur = rest.conn.cursor()
    for table in ("dwc.metric_values", "dwc.metric_samples"):
        cur.execute("BEGIN")
        rest.enter(cur, rest.verify(tokens["bob"]))
        cur.execute("SELECT DISTINCT labels->>'shop' FROM %s WHERE name = %%s ORDER BY 1" % table, (c,))
        assert [r[0] for r in cur.fetchall()] == ["bob", "shared"], table
        cur.execute("SELECT count(*) > 0 FROM %s WHERE name = 'dwc_system_load1'" % table)
        assert cur.fetchone()[0], table
        cur.execute("ROLLBACK")

    # Prometheus, scraped with each one's key
    for who, expect in (("bob", {"bob": 5.0, "shared": 1.0}), ("root", {"alice": 2.0, "bob": 5.0, "shared": 2.0})):
        status, key = rest.rpc("create_api_key", {"name": "scrape", "scopes": ["metrics:read"]}, token=tokens[who])
        assert status == 200, key
        status, body = rest.rpc("prometheus_metrics", api_key=key["key"], get=True)
        assert status == 200, body
        text = bytes(body).decode()
        fam = {f.name: f for f in text_string_to_metric_families(text)}
        got = {s.labels["shop"]: s.value for s in fam[c[:-len("_total")]].samples}
        assert got == expect, (who, got)
        assert "dwc_system_load1" in fam


def test_names_follow_the_names_rule_and_recording_defines(cluster, rest):
    """Any name a user would give is accepted (the seed's "custom.metric", "Orders placed"):
    the Prometheus name is the name when it is one, else its slug; recording a metric that
    does not exist defines it with the type the call implies, for any user, over SQL and HTTP;
    a definition's help is reworded only by its definer or an administrator."""
    db = rest.conn
    tag = uuid.uuid4().hex[:6]
    got = one(db, "SELECT to_jsonb(d) FROM dwc.define_metric(%s, 'counter') d", ("Orders placed " + tag,))
    assert got["name"] == "orders_placed_" + tag and got["display_name"] == "Orders placed " + tag, got
    assert got["help"] == "Orders placed " + tag, got                  # the name the user wrote is its help
    # found as written and by its Prometheus name: one metric
    assert one(db, "SELECT dwc.metric_inc(%s, 2)", ("Orders Placed " + tag,)) == 2
    assert one(db, "SELECT dwc.metric_inc(%s, 3)", ("orders_placed_" + tag,)) == 5
    # names that are Prometheus names keep their case and colons; a leading digit gets a "_"
    for given, prom in (("Job:Rate_" + tag, "Job:Rate_" + tag), ("2024 revenue " + tag, "_2024_revenue_" + tag),
                        ("Ventas año " + tag, "ventas_ano_" + tag)):
        assert one(db, "SELECT (dwc.define_metric(%s, 'gauge')).name", (given,)) == prom
    # recording defines: a counter, a gauge, a histogram with the default buckets
    for fn, typ, arg in (("metric_inc", "counter", "1"), ("metric_set", "gauge", "4"), ("metric_observe", "histogram", "0.2")):
        n = "custom.%s.%s" % (typ, tag)
        one(db, "SELECT dwc.%s(%%s, %s)" % (fn, arg), (n,))
        row = q(db, "SELECT name, type, cardinality(buckets), display_name FROM dwc.metrics WHERE name = %s",
                ("custom_%s_%s" % (typ, tag),))
        assert row == [("custom_%s_%s" % (typ, tag), typ, 11 if typ == "histogram" else None, n)], row
    fam = families(db)
    assert fam["custom_gauge_" + tag].samples[0].value == 4.0
    assert fam["custom_gauge_" + tag].documentation == "custom.gauge." + tag

    # over HTTP: a plain user defines and records, as the seed's example does
    password = "Tide-Pool-42!x"
    tokens = {}
    for who, role in (("ann", "dwc_user"), ("ben", "dwc_user"), ("adm", "dwc_admin")):
        n = "%s_%s" % (who, tag)
        one(db, "SELECT dwc.create_user(%s, %s, role => %s)", (n, password, role))
        status, body = rest.rpc("login", {"username": n, "password": password})
        assert status == 200, body
        tokens[who] = body["access_token"]
    status, body = rest.rpc("record_metric", {"name": "custom.metric." + tag, "value": 1, "type": "counter"},
                            token=tokens["ann"])
    assert status == 200 and body == {"name": "custom_metric_" + tag, "type": "counter", "value": 1}, body
    status, body = rest.rpc("record_metric", {"name": "custom.metric." + tag, "value": 2}, token=tokens["ann"])
    assert status == 200 and body["value"] == 3, body
    status, body = rest.rpc("record_metric", {"name": "never seen " + tag, "value": 1}, token=tokens["ann"])
    assert status == 400 and body["code"] == "42704" and '"type"' in body["hint"], body
    status, body = rest.rpc("record_metric", {"name": "odd " + tag, "value": 1, "type": "meter"}, token=tokens["ann"])
    assert status == 400 and body["code"] == "22023", body
    status, body = rest.rpc("define_metric", {"name": "Checkout time " + tag, "type": "histogram", "help": "Checkout.",
                                              "unit": "seconds", "buckets": [0.5, 1]}, token=tokens["ann"])
    assert status == 200 and body["name"] == "checkout_time_" + tag and "owner" not in body, body
    # another user defining it the same way changes nothing; its definer and an administrator reword it
    for who, help_, expect in (("ben", "Hijacked.", "Checkout."), ("ann", "Checkout, paid.", "Checkout, paid."),
                               ("adm", "Checkout (all shops).", "Checkout (all shops).")):
        status, body = rest.rpc("define_metric", {"name": "checkout_time_" + tag, "type": "histogram", "help": help_,
                                                  "unit": "seconds", "buckets": [0.5, 1]}, token=tokens[who])
        assert status == 200 and body["help"] == expect, (who, body)
    status, body = rest.rpc("define_metric", {"name": "checkout_time_" + tag, "type": "gauge"}, token=tokens["ben"])
    assert status == 400 and body["code"] == "42710", body


def test_recording_in_shared_memory_survives_a_clean_stop_and_loses_at_most_a_write_interval_at_a_crash(make_cluster):
    """Recorded values live in shared memory until the maintenance worker writes them
    (src/metrics/record.c): a clean stop writes them first, so nothing is lost; a crash
    (SIGKILL of the maintenance worker, the one that writes them: the postmaster resets
    shared memory) loses what was recorded since the last write, and nothing that was
    written. A rollback does not take a value
    back (as in every metrics system; docs/metrics.md)."""
    c = make_cluster()
    c.wait_for("SELECT count(*) = 1 FROM dwc.status() WHERE kind = 'maintenance'", dbname=IT_DB, timeout=30)
    m = name("kept") + "_total"
    conn = c.connect(IT_DB)
    # 5,000 increments and 3,000 observations: the totals and every sample
    assert one(conn, "SELECT max(dwc.metric_inc(%s)) FROM generate_series(1, 5000)", (m,)) == 5000
    q(conn, "SELECT count(dwc.metric_observe(%s, g / 1000.0)) FROM generate_series(1, 3000) g", (m + "_seconds",))
    # a rollback keeps what was recorded
    q(conn, "BEGIN")
    q(conn, "SELECT dwc.metric_inc(%s, 10)", (m,))
    q(conn, "ROLLBACK")
    conn.close()
    c.restart(mode="fast")
    c.wait_for("SELECT count(*) = 1 FROM dwc.status() WHERE kind = 'maintenance'", dbname=IT_DB, timeout=30)
    conn = c.connect(IT_DB)
    assert q(conn, "SELECT value, count FROM dwc.metric_values WHERE name = %s", (m,)) == [(5010.0, 5001)]
    assert one(conn, "SELECT count(*) FROM dwc.metric_samples WHERE name = %s", (m,)) == 5001
    v, n, counts = q(conn, "SELECT value, count, bucket_counts FROM dwc.metric_values WHERE name = %s",
                     (m + "_seconds",))[0]
    assert n == 3000 and abs(v - sum(g / 1000.0 for g in range(1, 3001))) < 1e-6 and sum(counts) == 3000
    assert one(conn, "SELECT count(*) FROM dwc.metric_samples WHERE name = %s", (m + "_seconds",)) == 3000
    # the totals go on from what was written
    assert one(conn, "SELECT dwc.metric_inc(%s)", (m,)) == 5011
    c.wait_for("SELECT value = 5011 FROM dwc.metric_values WHERE name = %s", (m,), dbname=IT_DB)
    # dwc's workers commit asynchronously (dwc.worker_synchronous_commit): the write is durable
    # once the WAL writer has flushed it, a wal_writer_delay later
    lsn = one(conn, "SELECT pg_current_wal_insert_lsn()")
    c.wait_for("SELECT pg_current_wal_flush_lsn() >= %s::pg_lsn", (lsn,), dbname=IT_DB)

    # a crash: what was written stays, what was recorded after is lost (at most one interval)
    maintenance = one(conn, "SELECT pid FROM dwc.status() WHERE kind = 'maintenance'")
    q(conn, "SELECT count(dwc.metric_inc(%s)) FROM generate_series(1, 100)", (m,))
    c.kill9(maintenance)
    conn.close()
    # until the postmaster has noticed the crash, dwc.status() still shows the old worker
    c.wait_for("SELECT count(*) = 1 AND bool_and(pid <> %s) FROM dwc.status() WHERE kind = 'maintenance'",
               (maintenance,), dbname=IT_DB, timeout=60)
    conn = c.connect(IT_DB)
    value = one(conn, "SELECT value FROM dwc.metric_values WHERE name = %s", (m,))
    assert 5011 <= value <= 5111, value
    # the readers and the next call agree with the table after the restart
    assert one(conn, "SELECT value FROM dwc.metric_current_values() WHERE name = %s", (m,)) == value
    assert one(conn, "SELECT dwc.metric_inc(%s)", (m,)) == value + 1
    conn.close()


def test_values_recorded_where_their_metric_is_defined_wait_for_its_commit(cluster):
    """A metric is defined at its first use, in the caller's transaction. The maintenance
    worker's writes while that transaction is open cannot see the metric: they must leave
    its value and samples for a later pass, not write them as a metric that is gone (they
    were consumed and lost before). Here a write provably happens in between: another,
    committed metric recorded after ours reaches its table."""
    m, other = name("defined_here") + "_total", name("other") + "_total"
    elsewhere = cluster.connect(IT_DB)
    q(elsewhere, "SELECT dwc.metric_inc(%s)", (other,))
    conn = cluster.connect(IT_DB)
    q(conn, "BEGIN")
    q(conn, "SELECT count(dwc.metric_inc(%s)) FROM generate_series(1, 50)", (m,))
    q(elsewhere, "SELECT dwc.metric_inc(%s, 41)", (other,))
    cluster.wait_for("SELECT value = 42 FROM dwc.metric_values WHERE name = %s", (other,), dbname=IT_DB)
    q(conn, "COMMIT")
    cluster.wait_for("SELECT value = 50 FROM dwc.metric_values WHERE name = %s", (m,), dbname=IT_DB)
    cluster.wait_for("SELECT count(*) = 50 FROM dwc.metric_samples WHERE name = %s", (m,), dbname=IT_DB)


def test_a_killed_postmaster_loses_at_most_a_write_interval_of_metrics(make_cluster):
    """kill -9 of the postmaster (not a backend: no crash restart, the orphans exit when they
    notice) after values were written and more recorded: what was written stays, what was
    recorded after is lost (at most one write interval, docs/metrics.md), and after the start
    the readers, the tables and the next call agree."""
    c = make_cluster()
    c.wait_for("SELECT count(*) = 1 FROM dwc.status() WHERE kind = 'maintenance'", dbname=IT_DB, timeout=30)
    m = name("pm") + "_total"
    conn = c.connect(IT_DB)
    assert one(conn, "SELECT max(dwc.metric_inc(%s)) FROM generate_series(1, 3000)", (m,)) == 3000
    c.wait_for("SELECT value = 3000 FROM dwc.metric_values WHERE name = %s", (m,), dbname=IT_DB)
    c.wait_for("SELECT count(*) = 3000 FROM dwc.metric_samples WHERE name = %s", (m,), dbname=IT_DB)
    lsn = one(conn, "SELECT pg_current_wal_insert_lsn()")
    c.wait_for("SELECT pg_current_wal_flush_lsn() >= %s::pg_lsn", (lsn,), dbname=IT_DB)
    q(conn, "SELECT count(dwc.metric_inc(%s)) FROM generate_series(1, 100)", (m,))
    conn.close()
    c.kill9_postmaster()
    c.start()
    c.wait_for("SELECT count(*) = 1 FROM dwc.status() WHERE kind = 'maintenance'", dbname=IT_DB, timeout=60)
    conn = c.connect(IT_DB)
    value = one(conn, "SELECT value FROM dwc.metric_values WHERE name = %s", (m,))
    samples = one(conn, "SELECT count(*) FROM dwc.metric_samples WHERE name = %s", (m,))
    assert 3000 <= value <= 3100 and 3000 <= samples <= 3100, (value, samples)
    assert one(conn, "SELECT value FROM dwc.metric_current_values() WHERE name = %s", (m,)) == value
    assert one(conn, "SELECT dwc.metric_inc(%s)", (m,)) == value + 1
    conn.close()


def test_dwcs_own_series_pass_promtool_and_move_under_load(cluster, rest):
    """dwc's own series (jobs by outcome and duration, queue depth and age, workers, AI calls
    and tokens) in the scrape an administrator's key gets: `promtool check metrics` (Debian's
    prometheus package) accepts it, and each series moves with the work done between two
    scrapes. A plain user's scrape has none of them."""
    password = "Tide-Pool-42!x"
    keys = {}
    for who, role in (("ops", "dwc_admin"), ("plain", "dwc_user")):
        n = "%s_%s" % (who, uuid.uuid4().hex[:6])
        one(rest.conn, "SELECT dwc.create_user(%s, %s, role => %s)", (n, password, role))
        status, body = rest.rpc("login", {"username": n, "password": password})
        assert status == 200, body
        status, key = rest.rpc("create_api_key", {"name": "scrape", "scopes": ["metrics:read"]},
                               token=body["access_token"])
        assert status == 200, key
        keys[who] = key["key"]

    def scrape(who="ops"):
        status, body = rest.rpc("prometheus_metrics", api_key=keys[who], get=True)
        assert status == 200, body
        text = bytes(body).decode()
        # promtool parses the whole scrape (exit 1 on an error) and lints the names (exit 3):
        # users name their metrics as they like, dwc's own names must pass
        check = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
        problems = (check.stdout + check.stderr).splitlines()
        assert check.returncode in (0, 3), problems
        assert not [p for p in problems if p.startswith("dwc_")], problems
        out = {}
        for f in text_string_to_metric_families(text):
            for s in f.samples:
                out[(s.name, tuple(sorted(s.labels.items())))] = s.value
        return out

    def value(m, name, **labels):
        return m.get((name, tuple(sorted(labels.items()))), 0.0)

    queue = "prom_" + uuid.uuid4().hex[:6]
    before = scrape()
    assert value(before, "dwc_workers", kind="job") == 2 and value(before, "dwc_workers", kind="scheduler") == 1
    # a paused queue: its jobs wait, ready, and the oldest ages
    q(rest.conn, "SELECT dwc.pause_queue(%s)", (queue,))
    for _ in range(5):
        q(rest.conn, "SELECT dwc.enqueue('sql', '{\"sql\": \"SELECT pg_sleep(0.02)\"}', queue => %s)", (queue,))
    q(rest.conn, "SELECT dwc.enqueue('sql', '{\"sql\": \"SELECT 1/0\"}', queue => %s, max_attempts => 2)", (queue,))
    cluster.wait_for("SELECT clock_timestamp() - min(run_at) > interval '50 ms' FROM dwc.jobs WHERE queue = %s",
                     (queue,), dbname=IT_DB)
    waiting = scrape()
    assert value(waiting, "dwc_queue_jobs", queue=queue, state="ready") == 6
    assert value(waiting, "dwc_queue_oldest_ready_seconds", queue=queue) > 0.05
    # the builtin provider answers AI calls here, counted per provider and model with their tokens
    q(rest.conn, "SELECT dwc.ai_generate(%s)", ("Two scrapes apart " + uuid.uuid4().hex,))
    q(rest.conn, "SELECT dwc.resume_queue(%s)", (queue,))
    cluster.wait_for("SELECT NOT EXISTS (SELECT 1 FROM dwc.jobs WHERE queue = %s)", (queue,), dbname=IT_DB,
                     timeout=60)
    after = scrape()
    assert value(after, "dwc_queue_jobs", queue=queue, state="ready") == 0
    assert value(after, "dwc_queue_oldest_ready_seconds", queue=queue) == 0

    def moved(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("dwc_jobs_finished_total", kind="sql", outcome="succeeded") >= 5
    assert moved("dwc_jobs_finished_total", kind="sql", outcome="retried") >= 1
    assert moved("dwc_jobs_finished_total", kind="sql", outcome="dead") >= 1
    assert moved("dwc_job_duration_seconds_count", kind="sql") >= 7
    # five attempts slept 20 ms each
    assert moved("dwc_job_duration_seconds_sum", kind="sql") >= 0.1
    assert moved("dwc_job_duration_seconds_bucket", kind="sql", le="0.01") < moved("dwc_job_duration_seconds_count", kind="sql")
    assert moved("dwc_ai_calls_total", provider="builtin", model="builtin-1", outcome="ok") >= 1
    assert moved("dwc_ai_tokens_total", provider="builtin", model="builtin-1", direction="out") > 0
    assert moved("dwc_ai_call_duration_seconds_count", provider="builtin", model="builtin-1") >= 1

    # a plain user's scrape: their own metrics and the system's, none of dwc's operations
    plain = scrape("plain")
    assert not [k for k in plain if k[0].startswith(("dwc_queue", "dwc_jobs", "dwc_job_", "dwc_ai_", "dwc_workers"))]


def test_a_burst_past_the_sample_buffer_counts_exactly_what_it_loses(make_cluster):
    """A burst that fills the sample buffer asks the maintenance worker for a write at once
    (src/metrics/record.c), so writes run while the burst goes on and the ring wraps over
    samples a write has taken but not yet committed. Those reach the table and are not
    lost; what the ring wraps over untaken is. Written plus lost is what was recorded, to
    the sample."""
    c = make_cluster(settings={"dwc.metric_buffer": "1024"})
    c.wait_for("SELECT count(*) = 1 FROM dwc.status() WHERE kind = 'maintenance'", dbname=IT_DB, timeout=30)
    m = name("burst") + "_total"
    conn = c.connect(IT_DB)
    lost0 = one(conn, "SELECT dwc._metric_samples_lost()")
    for _ in range(40):
        q(conn, "SELECT count(dwc.metric_inc(%s)) FROM generate_series(1, 5000)", (m,))
    c.wait_for("SELECT value = 200000 FROM dwc.metric_values WHERE name = %s", (m,), dbname=IT_DB, timeout=60)
    check = ("SELECT (SELECT count(*) FROM dwc.metric_samples WHERE name = %s) + dwc._metric_samples_lost() - %s")
    c.wait_for(check + " >= 200000", (m, lost0), dbname=IT_DB, timeout=60)
    assert one(conn, check, (m, lost0)) == 200000
    # counted for the database that lost them: another's count does not move
    assert c.scalar("SELECT dwc._metric_samples_lost()", dbname="postgres") == 0
    # writes came during the burst: more than the buffer and one interval's write would keep
    assert one(conn, "SELECT count(*) FROM dwc.metric_samples WHERE name = %s", (m,)) > 2 * 1024
