"""Backups the PostgreSQL way: a database with rows in every dwc table, dumped with
`pg_dump -Fc` and with `pg_dumpall`, restored into fresh clusters, comes back with no
errors and no differences: every table row for row, every sequence past its table's ids, the
audit chain verifying, logins, new chains, the same predictions and recommendations."""
import os
import subprocess

import pytest

import backup_dataset
from conftest import IT_DB, one, q

# the restoring clusters serve no database: a restored copy must not run the original's
# queued jobs and schedules while it is compared (docs/backup.md)
UNSERVED = {"dwc.databases": "'nowhere'"}


def tool(c, name, *args):
    """A PostgreSQL client program of the cluster's installation, as root (to a socket)."""
    return subprocess.run([os.path.join(c.bindir, name), "-h", c.socket_dir, "-p", str(c.port), "-U", "postgres"]
                          + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def errors_of(stderr):
    return [line for line in stderr.splitlines() if "ERROR" in line or "error:" in line]


def quiesce(c):
    """Stop the workers of the source database, so that it holds still while it is dumped and
    compared."""
    c.sql("ALTER SYSTEM SET dwc.databases = 'nowhere'")
    c.sql("SELECT pg_reload_conf()")
    c.wait_for("SELECT NOT EXISTS (SELECT 1 FROM dwc.status() WHERE database = %s)", (IT_DB,), timeout=30)


def snapshot(c, dbname):
    """Per table of schemas dwc and public (every partition on its own), a digest of its rows;
    per sequence of schema dwc, its position."""
    conn = c.connect(dbname)
    try:
        tables = {}
        for (t,) in q(conn, "SELECT c.oid::regclass::text FROM pg_class c WHERE c.relkind = 'r' "
                            "AND c.relnamespace IN ('dwc'::regnamespace, 'public'::regnamespace) ORDER BY 1"):
            tables[t] = q(conn, "SELECT count(*), md5(coalesce(string_agg(x::text, E'\\n' ORDER BY x::text), '')) "
                                "FROM %s x" % t)[0]
        seqs = {}
        for (s,) in q(conn, "SELECT c.oid::regclass::text FROM pg_class c WHERE c.relkind = 'S' "
                            "AND c.relnamespace = 'dwc'::regnamespace ORDER BY 1"):
            seqs[s] = q(conn, "SELECT last_value, is_called FROM %s" % s)[0]
        return tables, seqs
    finally:
        conn.close()


def sequences_behind(c, dbname):
    """Sequences owned by a column (serial or identity) whose next value is not past the
    largest value of that column: the next insert would collide."""
    conn = c.connect(dbname)
    try:
        behind = []
        for seq, tbl, col in q(conn, """
                SELECT s.oid::regclass::text, t.oid::regclass::text, a.attname
                  FROM pg_class s JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = s.oid
                       AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
                  JOIN pg_class t ON t.oid = d.refobjid
                  JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid
                 WHERE s.relkind = 'S' AND s.relnamespace = 'dwc'::regnamespace"""):
            top = one(conn, "SELECT max(%s) FROM %s" % (col, tbl))
            last, called = q(conn, "SELECT last_value, is_called FROM %s" % seq)[0]
            nxt = last + 1 if called else last
            if top is not None and nxt <= top:
                behind.append((seq, tbl, top, nxt))
        return behind
    finally:
        conn.close()


def answers(c, dbname):
    """What a restored copy must answer as the original did: a prediction, recommendations,
    the audit chain's verdict."""
    conn = c.connect(dbname)
    try:
        return {
            "predict": one(conn, "SELECT dwc.ml_predict('flowers', '{\"a\": 5, \"b\": 1}')"),
            "recommend": one(conn, "SELECT dwc.recommend('u1', 'shop', 3)"),
            "near": one(conn, "SELECT dwc.recommend('u2', 'near', 3)"),
            "verify": one(conn, "SELECT dwc.audit_verify() - 'verified_at'"),
        }
    finally:
        conn.close()


def still_works(c, dbname):
    """A restored copy is a working database: a login (refresh tokens' ids continue), a new
    user, a new chain with its first document, a job queued."""
    conn = c.connect(dbname)
    try:
        tok = one(conn, "SELECT dwc.login('root1', %s)", (backup_dataset.PASSWORD,))
        assert tok["access_token"], tok
        # alice's second factor came back with her: her password alone is not enough
        assert "access_token" not in one(conn, "SELECT dwc.login('alice', %s)", (backup_dataset.PASSWORD,))
        one(conn, "SELECT dwc.create_user('bob', %s)", (backup_dataset.PASSWORD,))
        chain = one(conn, "SELECT dwc.create_chain('again', 'Write about harbours in winter.')")
        assert one(conn, "SELECT dwc.continue_chain(%s)", (chain["id"],))["id"]
        assert one(conn, "SELECT dwc.enqueue('sql', '{\"sql\": \"SELECT 5\"}')")
    finally:
        conn.close()


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """A cluster whose database holds rows in every dwc table, held still, with its snapshot,
    its answers, a custom-format dump and a pg_dumpall script."""
    from cluster import temp_cluster
    from conftest import TEST_SETTINGS
    from fakeai import FakeAI
    from conftest import prepare
    ai = FakeAI("openai")
    c = temp_cluster(settings=TEST_SETTINGS, port=5620).init().start()
    try:
        prepare(c)
        backup_dataset.build(c, ai)
        conn = c.connect(IT_DB)
        assert backup_dataset.tables_without_rows(conn) == []
        conn.close()
        quiesce(c)
        d = tmp_path_factory.mktemp("dumps")
        os.chmod(d, 0o777)
        dump = os.path.join(d, "it.dump")
        r = tool(c, "pg_dump", "-Fc", "-d", IT_DB, "-f", dump)
        assert r.returncode == 0, r.stderr
        script = os.path.join(d, "all.sql")
        r = tool(c, "pg_dumpall", "-f", script)
        assert r.returncode == 0, r.stderr
        yield {"cluster": c, "snapshot": snapshot(c, IT_DB), "answers": answers(c, IT_DB), "dump": dump,
               "script": script}
    finally:
        c.destroy()
        ai.close()


def check_copy(src, c, dbname):
    tables, seqs = snapshot(c, dbname)
    want_tables, want_seqs = src["snapshot"]
    differ = {t: (want_tables.get(t), tables.get(t)) for t in set(want_tables) | set(tables)
              if want_tables.get(t) != tables.get(t)}
    assert differ == {}, differ
    assert seqs == want_seqs
    assert sequences_behind(c, dbname) == []
    got = answers(c, dbname)
    assert got["verify"]["ok"] is True, got["verify"]
    assert got == src["answers"]
    still_works(c, dbname)


def test_pg_dump_and_pg_restore_round_trip(source, make_cluster):
    c = make_cluster(settings=UNSERVED, bare=True)
    c.sql("CREATE DATABASE restored")
    r = tool(c, "pg_restore", "-d", "restored", source["dump"])
    assert r.returncode == 0 and errors_of(r.stderr) == [], r.stderr
    check_copy(source, c, "restored")


def test_pg_dumpall_and_psql_round_trip(source, make_cluster):
    c = make_cluster(settings=UNSERVED, bare=True)
    r = tool(c, "psql", "-X", "-q", "-d", "postgres", "-f", source["script"])
    # the one error PostgreSQL's documentation expects: the script creates the bootstrap
    # superuser, who exists in every cluster
    errs = [e for e in errors_of(r.stderr) if 'role "postgres" already exists' not in e]
    assert r.returncode == 0 and errs == [], r.stderr
    check_copy(source, c, IT_DB)
