"""ALTER EXTENSION dwc UPDATE: a database upgraded from the previous release matches a fresh
install object for object (test/kit/catalog.py: definitions, privileges, comments, policies,
registry rows), keeps its data, and its workers take it up again."""
import difflib

from catalog import describe
from conftest import IT_DB, JWT_SECRET, one, q
from postgrest import PostgREST

PREVIOUS = "0.1.0"
DB = "dwc_up"


def current_version(c):
    return c.scalar("SELECT default_version FROM pg_available_extensions WHERE name = 'dwc'")


def test_upgraded_database_matches_a_fresh_install(make_cluster):
    c = make_cluster()
    version = current_version(c)
    assert version != PREVIOUS
    for db in ("up_fresh", "up_old"):
        c.create_database(db, extension=False)
    c.sql("CREATE EXTENSION dwc", dbname="up_fresh")
    c.sql("CREATE EXTENSION dwc VERSION %s", (PREVIOUS,), dbname="up_old")
    assert c.scalar("SELECT extversion FROM pg_extension WHERE extname = 'dwc'", dbname="up_old") == PREVIOUS
    c.sql("ALTER EXTENSION dwc UPDATE", dbname="up_old")
    assert c.scalar("SELECT extversion FROM pg_extension WHERE extname = 'dwc'", dbname="up_old") == version

    fresh, upgraded = (c.connect(db) for db in ("up_fresh", "up_old"))
    try:
        a, b = describe(fresh), describe(upgraded)
    finally:
        fresh.close()
        upgraded.close()
    assert len(a) > 500, "the description found only %d facts" % len(a)
    diff = "\n".join(difflib.unified_diff(a, b, "fresh", "upgraded", lineterm="", n=0))
    assert a == b, diff[:6000]


def test_upgrade_keeps_data_and_workers_resume(make_cluster):
    c = make_cluster(settings={"dwc.databases": "'%s,%s'" % (IT_DB, DB)})
    c.create_database(DB, extension=False)
    c.sql("CREATE EXTENSION dwc VERSION %s", (PREVIOUS,), dbname=DB)
    # the library is newer than the installed SQL: this database's workers wait for the update
    c.wait_for("SELECT count(*) = 4 AND bool_and(state LIKE 'waiting for ALTER EXTENSION dwc UPDATE%%') "
               "FROM dwc.status() WHERE database = %s", (DB,), dbname=IT_DB, timeout=20)
    uid = c.scalar("SELECT dwc.create_user('keeper', 'tidy horse battery 42!')->>'id'", dbname=DB)
    sid = c.scalar("SELECT dwc.schedule('nightly', '0 3 * * *')", dbname=DB)
    job = c.scalar("SELECT dwc.enqueue('noop', '{\"kept\": true}')", dbname=DB)

    c.sql("ALTER EXTENSION dwc UPDATE", dbname=DB)
    # the queued job runs once the workers see the new version
    c.wait_for("SELECT status = 'succeeded' FROM dwc.job_history WHERE id = %s", (job,), dbname=DB,
               timeout=20)
    assert c.scalar("SELECT name FROM dwc.schedules WHERE id = %s", (sid,), dbname=DB) == "nightly"
    conn = c.connect(DB)
    try:
        rest = PostgREST(conn, JWT_SECRET)
        status, body = rest.rpc("login", {"username": "keeper", "password": "tidy horse battery 42!"})
        assert status == 200, body
        status, me = rest.rpc("me", token=body["access_token"])
        assert status == 200 and me["id"] == uid
        # what 0.2.0 added works in the upgraded database
        status, h = rest.rpc("health", get=True)
        assert h["checks"]["workers"]["status"] == "ok", h
        assert one(conn, "SELECT leased FROM dwc.job_kinds WHERE kind = 'chain.continue'") is True
        q(conn, "SELECT dwc._partitions_maintain()")
        assert one(conn, "SELECT to_regclass('dwc.job_history_' || to_char(now(), 'YYYYMMDD')) IS NOT NULL")
    finally:
        conn.close()
