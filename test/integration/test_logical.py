"""The logical-replication recipe of docs/replication.md, step by step: a publication of every
table (via the partition roots), a subscriber given the schema by pg_dump --schema-only and
left unserved, changes flowing while the publisher works, then the cut-over: sequences
carried, the subscription dropped, the database served. The copy equals the original."""
import os
import subprocess

import backup_dataset
from cluster import temp_cluster
from conftest import IT_DB, TEST_SETTINGS, one, prepare, q
from test_backup import answers, quiesce, still_works, tool


def digests(c, dbname):
    """A digest per table as an application sees it: a partitioned table whole, through its
    root (the subscriber lays its partitions out for itself), its partitions not apart."""
    conn = c.connect(dbname)
    try:
        out = {}
        for (t,) in q(conn, "SELECT c.oid::regclass::text FROM pg_class c WHERE c.relkind IN ('r', 'p') "
                            "AND NOT c.relispartition "
                            "AND c.relnamespace IN ('dwc'::regnamespace, 'public'::regnamespace) ORDER BY 1"):
            out[t] = q(conn, "SELECT count(*), md5(coalesce(string_agg(x::text, E'\\n' ORDER BY x::text), '')) "
                             "FROM %s x" % t)[0]
        return out
    finally:
        conn.close()


# docs/replication.md: run on the publisher, its output on the subscriber at the cut-over
SEQUENCES_SQL = """
SELECT string_agg(format('SELECT pg_catalog.setval(%L, %s, %s);', format('%I.%I', schemaname, sequencename),
                         coalesce(last_value, start_value), CASE WHEN last_value IS NULL THEN 'false' ELSE 'true' END), E'\\n')
  FROM pg_catalog.pg_sequences
 WHERE schemaname NOT IN ('pg_catalog', 'information_schema')
"""


def test_logical_replication_recipe():
    from fakeai import FakeAI
    ai = FakeAI("openai")
    pub = temp_cluster(settings=dict(TEST_SETTINGS, wal_level="logical"), port=5640).init().start()
    sub = temp_cluster(settings=dict(TEST_SETTINGS, **{"dwc.databases": "'nowhere'"}), port=5641).init().start()
    try:
        prepare(pub)
        backup_dataset.build(pub, ai)
        pc = pub.connect(IT_DB)
        q(pc, "CREATE PUBLICATION dwc_all FOR ALL TABLES WITH (publish_via_partition_root = true)")
        # the publisher goes on working with the publication in place: updates and deletes of
        # every dwc table replicate (a table without a replica identity would refuse them)
        q(pc, "SELECT dwc._partitions_maintain()")
        q(pc, "UPDATE dwc.security_events SET detail = detail WHERE id = (SELECT min(id) FROM dwc.security_events)")
        q(pc, "DELETE FROM dwc.metric_samples WHERE at < now() - interval '90 minutes'")

        # the subscriber: the schema (a dump, so dwc's install seeds nothing twice), unserved
        sub.sql("CREATE DATABASE %s" % IT_DB)
        schema = subprocess.run([os.path.join(pub.bindir, "pg_dump"), "-h", pub.socket_dir, "-p", str(pub.port),
                                 "-U", "postgres", "--schema-only", "-d", IT_DB],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, check=True).stdout
        r = subprocess.run([os.path.join(sub.bindir, "psql"), "-X", "-q", "-h", sub.socket_dir, "-p", str(sub.port),
                            "-U", "postgres", "-d", IT_DB], input=schema, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
        assert "ERROR" not in r.stderr, r.stderr
        sc = sub.connect(IT_DB)
        q(sc, "CREATE SUBSCRIPTION dwc_sub CONNECTION %s PUBLICATION dwc_all", (pub.dsn(IT_DB),))
        sub.wait_for("SELECT bool_and(srsubstate = 'r') FROM pg_subscription_rel", dbname=IT_DB, timeout=120)

        # changes made while it replicates arrive
        one(pc, "SELECT dwc.create_user('carol', %s)", (backup_dataset.PASSWORD,))
        q(pc, "SELECT dwc.enqueue('sql', '{\"sql\": \"SELECT 6\"}')")
        pub.wait_for("SELECT count(*) = 0 FROM dwc.jobs WHERE payload->>'sql' = 'SELECT 6'", dbname=IT_DB,
                     timeout=60)

        # the cut-over: the publisher stops, the subscriber catches up, takes the sequences,
        # drops the subscription, and is served
        quiesce(pub)
        still = digests(pub, IT_DB)
        # the insert position: the workers' last commits (asynchronous) may not be written out yet
        lsn = pub.scalar("SELECT pg_current_wal_insert_lsn()")
        sub.wait_for("SELECT latest_end_lsn >= %s::pg_lsn FROM pg_stat_subscription WHERE subname = 'dwc_sub'",
                     (lsn,), dbname=IT_DB, timeout=60)
        seqs = pub.scalar(SEQUENCES_SQL, dbname=IT_DB)
        q(sc, seqs)
        q(sc, "DROP SUBSCRIPTION dwc_sub")
        want = digests(pub, IT_DB)
        got = digests(sub, IT_DB)
        differ = {t: (want.get(t), got.get(t)) for t in set(want) | set(got) if want.get(t) != got.get(t)}
        # on a failure, say which side moved: the publisher after its workers were stopped (a
        # late writer), or the subscriber short of what the publisher had at the cut-over
        late = {t: (still.get(t), want.get(t)) for t in set(want) | set(still) if still.get(t) != want.get(t)}
        assert differ == {}, "differ: %r; written on the publisher after quiesce: %r" % (differ, late)
        a = answers(sub, IT_DB)
        assert a["verify"]["ok"] is True, a["verify"]
        assert a == answers(pub, IT_DB)
        sub.sql("ALTER SYSTEM SET dwc.databases = %s" % "'%s'" % IT_DB)
        sub.sql("SELECT pg_reload_conf()")
        sub.wait_for("SELECT (dwc.health())->>'status' = 'ok'", dbname=IT_DB, timeout=60)
        still_works(sub, IT_DB)
        sub.wait_for("SELECT count(*) = 0 FROM dwc.jobs WHERE payload->>'sql' = 'SELECT 5'", dbname=IT_DB,
                     timeout=60)
        pc.close()
        sc.close()
    finally:
        sub.destroy()
        pub.destroy()
        ai.close()
