"""pytest fixtures for dwc's integration tests: real clusters with dwc preloaded.

`cluster` is the test runner's shared cluster (its workers serve database `dwc_it`), or,
when pytest runs on its own, one started here. `make_cluster` starts extra clusters with
their own settings for tests that restart, crash or reconfigure a server.
"""
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "kit"))

from cluster import Cluster, temp_cluster  # noqa: E402
from fakeai import FakeAI  # noqa: E402
from fakehttp import FakeHTTP  # noqa: E402

IT_DB = "dwc_it"

# settings of every test cluster: short sleeps so that tests see changes quickly
TEST_SETTINGS = {
    "dwc.databases": "'%s'" % IT_DB,
    "dwc.job_workers": "2",
    "dwc.naptime": "'200ms'",
    "dwc.worker_restart_delay": "'200ms'",
    # calls of PL functions are counted (pg_stat_user_functions): tests that wait for a
    # maintenance task can tell whether it ran
    "track_functions": "'pl'",
    # a fixed key for secrets at rest (AI provider keys): base64 of 32 bytes
    "dwc.encryption_keys": "'test1:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY='",
    # the response cache's memory tier: 8 slots (two sets of four), so that tests fill it
    "dwc.ai_cache_memory": "'64kB'",
    # PostgREST's jwt-secret in the contract tests (test/kit/postgrest.py)
    "dwc.jwt_secret": "'%s'" % "test-jwt-secret-0123456789abcdef-xyz",
}
JWT_SECRET = "test-jwt-secret-0123456789abcdef-xyz"


def prepare(c):
    """Create the integration database with the extension, once per cluster; also install
    the extension in `postgres` (not served by workers) so dwc.status() can be read there."""
    if not c.scalar("SELECT 1 FROM pg_database WHERE datname = %s", (IT_DB,)):
        c.create_database(IT_DB)
    c.sql("CREATE EXTENSION IF NOT EXISTS dwc")
    return c


def q(conn, sql, params=None):
    """Run one statement on a connection; all rows, or None for statements without any."""
    with conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchall() if cur.description else None


def one(conn, sql, params=None):
    """The first column of the first row of a statement."""
    return q(conn, sql, params)[0][0]


@pytest.fixture(scope="session")
def cluster():
    base = os.environ.get("DWC_TEST_CLUSTER")
    if base:
        yield prepare(Cluster(base, port=int(os.environ["DWC_TEST_PORT"])))
        return
    c = temp_cluster(settings=TEST_SETTINGS).init().start()
    try:
        yield prepare(c)
    finally:
        c.destroy()


@pytest.fixture
def rest(cluster):
    """PostgREST's requests replayed on a connection to the integration database
    (test/kit/postgrest.py). Every anonymous request of the kit comes from one address, so
    one rate-limit bucket: opened wide here (the limit itself is tested with subjects of
    its own)."""
    from postgrest import PostgREST
    conn = cluster.connect(IT_DB)
    q(conn, "SELECT dwc.set_rate_limit('address', '203.0.113.7', 1000, 1000)")
    yield PostgREST(conn, JWT_SECRET)
    conn.close()


@pytest.fixture
def db(cluster):
    """An autocommit connection to the integration database, closed after the test."""
    conn = cluster.connect(IT_DB)
    yield conn
    conn.close()


@pytest.fixture
def make_cluster():
    """Factory: make_cluster(settings=..., preload=True) -> a started cluster, destroyed after."""
    made = []

    def make(settings=None, preload=True, bare=False, env=None):
        """bare: no databases or extension created (only initdb and start); env: extra
        environment variables of the server."""
        s = dict(TEST_SETTINGS)
        s.update(settings or {})
        c = temp_cluster(settings=s, preload=preload, port=5600 + len(made), env=env).init()
        made.append(c)
        c.start()
        return c if bare else prepare(c)

    yield make
    for c in made:
        c.destroy()


@pytest.fixture
def fake_http():
    servers = []

    def make(tls=False):
        s = FakeHTTP(tls=tls)
        servers.append(s)
        return s

    yield make
    for s in servers:
        s.close()


@pytest.fixture
def fake_ai():
    """Factory: fake_ai("openai" | "anthropic" | "google" | "openai_compatible") -> FakeAI."""
    fakes = []

    def make(kind, **kw):
        f = FakeAI(kind, **kw)
        fakes.append(f)
        return f

    yield make
    for f in fakes:
        f.close()
