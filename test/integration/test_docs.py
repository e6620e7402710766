"""Every fenced `sql` block of README.md and docs/ runs, as a reader would paste it into psql:
each page in a fresh database of a server whose workers serve it, its blocks in order, each in
a psql session of its own, as a superuser. A block may name what it needs in its info string:

    ```sql fixture=NAME[,NAME]   FIXTURES[NAME] runs first (tables, roles, a run to wait for)
    ```sql fresh                 the database has no dwc yet (the install instructions)
    ```sql outside               it reaches a service this machine cannot (a real AI provider,
                                 the internet): its only errors may be the ones saying so

Any other error fails the test, naming the page, the line and the message; so the docs cannot
drift from what dwc does."""
import os
import re
import subprocess
import time

import pytest

from cluster import temp_cluster
from conftest import TEST_SETTINGS

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PAGES = ["README.md"] + sorted("docs/" + f for f in os.listdir(os.path.join(ROOT, "docs")) if f.endswith(".md"))
BLOCK = re.compile(r"^```sql([^\n]*)\n(.*?)^```", re.S | re.M)
# what a service out of reach answers (no key in this server's environment, no route, no DNS)
OUTSIDE = re.compile(r"has no API key|could not be reached|could not connect|Could not resolve|Couldn't connect|"
                     r"connection (refused|failed)|failed to connect|timed out", re.I)


def settled(run, scalar):
    """The jobs the blocks so far queued have run (a document written in the background, a
    workflow at its approval)."""
    deadline = time.monotonic() + 60
    while scalar("SELECT count(*) FROM dwc.jobs WHERE status = 'running' OR run_at <= now()") != 0:
        assert time.monotonic() < deadline, "fixture settled: jobs still queued after 60 s"
        time.sleep(0.1)


# a fixture: sql run before the block, or a function of (run, scalar)
FIXTURES = {
    # the shop of audit.md: invoices and customers
    "shop": "CREATE TABLE IF NOT EXISTS public.invoices (id int PRIMARY KEY, customer int, total numeric); "
            "CREATE TABLE IF NOT EXISTS public.customers (id int PRIMARY KEY, name text, tax_id text, notes text)",
    # README.md's tour: a table its sql job writes, invoices to audit, customers to learn churn from
    "tour": "CREATE TABLE audit_log (at timestamptz); "
            "CREATE TABLE invoices (id int PRIMARY KEY, customer int, total numeric); "
            "CREATE TABLE customers AS SELECT 18 + g % 60 AS age, (ARRAY['basic', 'plus', 'pro'])[1 + g % 3] AS plan, "
            "10 + g % 50 AS monthly, g % 4 = 0 OR g % 7 = 0 AS churned FROM generate_series(1, 400) g",
    # notifications.md's application role
    "app_role": "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'app') THEN "
                "CREATE ROLE app IN ROLE dwc_user; END IF; END $$",
    # scheduler.md's reports: the job kind of queue.md's example, registered
    "reports": "CREATE SCHEMA reports; "
               "CREATE FUNCTION reports.build(payload jsonb) RETURNS jsonb LANGUAGE sql "
               "AS $f$ SELECT jsonb_build_object('ok', true) $f$; "
               "SELECT dwc.register_job_kind('reports.build', 'reports.build(jsonb)')",
    "settled": settled,
}


def psql(c, db, sql):
    return subprocess.run([os.path.join(c.bindir, "psql"), "-X", "-q", "-h", c.socket_dir, "-p", str(c.port),
                           "-U", "postgres", "-d", db, "-v", "ON_ERROR_STOP=0"],
                          input=sql, capture_output=True, text=True, timeout=300)


def database(page):
    return "docs_" + re.sub(r"[^a-z0-9]", "_", os.path.splitext(os.path.basename(page))[0].lower())


@pytest.fixture(scope="module")
def docs_cluster():
    """A server of its own; its workers serve the database of the page under test."""
    c = temp_cluster(settings=TEST_SETTINGS, port=5650)
    c.init().start()
    try:
        c.sql("CREATE EXTENSION dwc")       # dwc.status() for the waits, asked from postgres
        yield c
    finally:
        c.destroy()


@pytest.mark.parametrize("page", PAGES)
def test_every_sql_block_runs(docs_cluster, page):
    c = docs_cluster
    with open(os.path.join(ROOT, page)) as f:
        text = f.read()
    blocks = [(text[:m.start()].count("\n") + 1, m.group(1).split(), m.group(2)) for m in BLOCK.finditer(text)]
    if not blocks:
        pytest.skip("no sql block")
    db = database(page)
    # one page's database at a time, so that the workers of all of them never need more slots
    # than the server has
    c.sql("ALTER SYSTEM SET dwc.databases = %s", (db,))
    c.sql("SELECT pg_reload_conf()")
    for (old,) in c.sql("SELECT datname FROM pg_database WHERE datname LIKE 'docs\\_%'"):
        c.sql('DROP DATABASE "%s" WITH (FORCE)' % old)
    c.sql('CREATE DATABASE "%s"' % db)
    if not any("fresh" in info for _, info, _ in blocks):
        c.sql("CREATE EXTENSION dwc", dbname=db)
    c.wait_for("SELECT count(*) >= 1 FROM dwc.status() WHERE database = %s AND kind = 'job'", (db,), timeout=60)
    wrong = []
    for line, info, body in blocks:
        for opt in info:
            if opt.startswith("fixture="):
                for name in opt[len("fixture="):].split(","):
                    fx = FIXTURES[name]
                    if callable(fx):
                        fx(lambda sql: c.sql(sql, dbname=db), lambda sql: c.scalar(sql, dbname=db))
                    else:
                        c.sql(fx, dbname=db)
        r = psql(c, db, body)
        errors = [e for e in r.stderr.splitlines() if "ERROR:" in e]
        if "outside" in info:
            errors = [e for e in errors if not OUTSIDE.search(e)]
        if errors:
            wrong.append("%s:%d: %s" % (page, line, "; ".join(errors[:3])))
    assert not wrong, "\n".join(wrong)
