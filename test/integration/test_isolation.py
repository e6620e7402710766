"""Jobs cannot reach each other: whatever one job leaves in the job worker's session is gone
before the next job starts, whoever runs either (src/queue/isolation.c).

Each scenario is an attack replayed: alice (a web user) plants session state in her job;
then bob (another web user), an administrator and the superuser run jobs that would use it,
first in the same batch (the same transaction of the worker), then in later batches. The
cluster has one job worker, so every job runs in the same backend: the plant has every
chance to be seen.
"""
import uuid

import psycopg2
import pytest

from cluster import temp_cluster
from conftest import IT_DB, JWT_SECRET, TEST_SETTINGS, one, prepare, q

PASSWORD = "Tide-Pool-42!x"

SETUP = """
CREATE TABLE public.iso_seen (id serial PRIMARY KEY, job int8 DEFAULT dwc.current_job_id(),
                              what text, value text, txid int8 DEFAULT txid_current());
GRANT INSERT, SELECT ON public.iso_seen TO PUBLIC;
GRANT USAGE ON SEQUENCE public.iso_seen_id_seq TO PUBLIC;
CREATE SEQUENCE public.iso_seq;
GRANT USAGE, SELECT ON SEQUENCE public.iso_seq TO PUBLIC;
-- a deferred trigger that says whom it fired as
CREATE TABLE public.iso_deferred (id int);
GRANT INSERT ON public.iso_deferred TO PUBLIC;
CREATE FUNCTION public.iso_deferred_fired() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.iso_seen (what, value) VALUES ('deferred trigger fired as', current_user);
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER iso_deferred_t AFTER INSERT ON public.iso_deferred
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION public.iso_deferred_fired();
-- a deferrable foreign key: a child before its parent is fine within one job
CREATE TABLE public.iso_parent (id int PRIMARY KEY);
CREATE TABLE public.iso_child (id int, parent int REFERENCES public.iso_parent DEFERRABLE INITIALLY DEFERRED);
GRANT INSERT, SELECT ON public.iso_parent, public.iso_child TO PUBLIC;
-- registered kinds run their handler as the enqueuer: one in the batch, one leased
CREATE FUNCTION public.iso_run(payload jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE payload->>'sql';
    RETURN '{}';
END $$;
GRANT EXECUTE ON FUNCTION public.iso_run(jsonb) TO PUBLIC;
SELECT dwc.register_job_kind('iso.run', 'public.iso_run(jsonb)');
SELECT dwc.register_job_kind('iso.leased', 'public.iso_run(jsonb)', leased => true);
"""


class Env:
    def __init__(self, cluster):
        from postgrest import PostgREST
        self.cluster = cluster
        self.conn = cluster.connect(IT_DB)
        q(self.conn, "SELECT dwc.set_rate_limit('address', '203.0.113.7', 1000, 1000)")
        self.rest = PostgREST(self.conn, JWT_SECRET)
        self.tokens = {}
        for who, role in (("alice", "dwc_user"), ("bob", "dwc_user"), ("root1", "dwc_admin")):
            name = "%s_%s" % (who, uuid.uuid4().hex[:6])
            one(self.conn, "SELECT dwc.create_user(%s, %s, role => %s)", (name, PASSWORD, role))
            status, body = self.rest.rpc("login", {"username": name, "password": PASSWORD})
            assert status == 200, body
            self.tokens[who] = body["access_token"]

    def enqueue(self, who, sql, queue="default", kind="sql"):
        """A job of who: alice, bob, root1 through PostgREST, or postgres (the superuser)."""
        if who == "postgres":
            return one(self.conn, "SELECT dwc.enqueue(%s, jsonb_build_object('sql', %s::text), queue => %s)",
                       (kind, sql, queue))
        status, job = self.rest.rpc("submit_task", {"task_type": kind, "payload": {"sql": sql}, "queue": queue},
                                    token=self.tokens[who])
        assert status == 200, job
        return job["id"]

    def finished(self, ids):
        """Wait for the jobs; {id: (status, last_error)}."""
        self.cluster.wait_for("SELECT count(*) = %s FROM dwc.job_history WHERE id = ANY (%s)",
                              (len(ids), list(ids)), dbname=IT_DB, timeout=30)
        return {r[0]: (r[1], r[2]) for r in
                q(self.conn, "SELECT id, status, last_error FROM dwc.job_history WHERE id = ANY (%s)", (list(ids),))}

    def attack(self, plant, observers, plant_as="alice", kind="sql"):
        """The plant, then the observers in the same batch (the queue is paused while they
        are enqueued), then the observers again, each in a batch of its own. Returns
        (plant outcome, [(who, outcome, [(what, value), ...]) ...], whether the first
        round shared the plant's transaction)."""
        q(self.conn, "TRUNCATE public.iso_seen")
        queue = "iso_" + uuid.uuid4().hex[:8]
        q(self.conn, "SELECT dwc.pause_queue(%s)", (queue,))
        pid = self.enqueue(plant_as, plant + "; INSERT INTO public.iso_seen (what, value) VALUES ('plant', '')",
                           queue, kind=kind)
        first = [(who, self.enqueue(who, sql, queue)) for who, sql in observers]
        q(self.conn, "SELECT dwc.resume_queue(%s)", (queue,))
        done = self.finished([pid] + [j for _, j in first])
        later = []
        for who, sql in observers:
            j = self.enqueue(who, sql)
            later.append((who, j))
            done.update(self.finished([j]))
        seen = {}
        for job, what, value in q(self.conn, "SELECT job, what, value FROM public.iso_seen ORDER BY id"):
            seen.setdefault(job, []).append((what, value))
        txids = dict(q(self.conn, "SELECT job, min(txid) FROM public.iso_seen GROUP BY job"))
        same_batch = all(txids.get(j) == txids.get(pid) for _, j in first if j in txids)
        return (done[pid], [(who, done[j], seen.get(j, [])) for who, j in first + later], same_batch,
                seen.get(pid, []))


@pytest.fixture(scope="module")
def env():
    settings = dict(TEST_SETTINGS)
    settings["dwc.job_workers"] = "1"
    # batches stay whole however long the planting jobs take: the plant and its observers share one
    settings["dwc.job_slow"] = "'1h'"
    c = temp_cluster(settings=settings, port=5680).init().start()
    try:
        prepare(c)
        c.sql(SETUP, dbname=IT_DB)
        e = Env(c)
        yield e
        e.conn.close()
    finally:
        c.destroy()


EVERYONE = ("bob", "root1", "postgres")


def observe(what, expr):
    """SQL that records what an observer job sees."""
    return "INSERT INTO public.iso_seen (what, value) SELECT %s, (%s)::text" % (
        psycopg2.extensions.QuotedString(what).getquoted().decode(), expr)


def caught(what, stmt, declare=""):
    """SQL recording 'ok' if stmt (PL/pgSQL, with declarations) runs, else its error message."""
    w = psycopg2.extensions.QuotedString(what).getquoted().decode()
    return ("DO $$ %s BEGIN %s; INSERT INTO public.iso_seen (what, value) VALUES (%s, 'ok'); "
            "EXCEPTION WHEN OTHERS THEN INSERT INTO public.iso_seen (what, value) VALUES (%s, SQLERRM); END $$"
            % ("DECLARE " + declare if declare else "", stmt, w, w))


def values(results, what):
    return [(who, v) for who, outcome, seen in results for w, v in seen if w == what]


def assert_all_ran(results):
    for who, outcome, seen in results:
        assert outcome == ("succeeded", None), (who, outcome, seen)


def test_a_temporary_type_and_cast_cannot_hijack_later_jobs(env):
    """The reported attack: a temporary table named text (whose row type shadows
    pg_catalog.text), an implicit cast to it through a function of alice's; the superuser's
    `version()::text` ran that function as postgres."""
    # evil() also mints an API key with the identity of whoever runs it (the reported theft of
    # bob's and an administrator's keys); a temporary operator rides along
    plant = ("CREATE TEMP TABLE text (x int); "
             "CREATE FUNCTION pg_temp.evil(pg_catalog.text) RETURNS pg_temp.text LANGUAGE sql AS "
             "$f$ SELECT dwc.create_api_key('stolen', '{*}'); "
             "INSERT INTO public.iso_seen (what, value) VALUES ('evil ran as', current_user) RETURNING ROW(1)::pg_temp.text $f$; "
             "CREATE CAST (pg_catalog.text AS pg_temp.text) WITH FUNCTION pg_temp.evil(pg_catalog.text) AS IMPLICIT; "
             "CREATE FUNCTION pg_temp.eq(int, int) RETURNS bool LANGUAGE sql AS $f$ SELECT false $f$; "
             "CREATE OPERATOR pg_temp.=== (LEFTARG = int, RIGHTARG = int, FUNCTION = pg_temp.eq)")
    check = "; ".join([
        observe("cast", "version()::text IS NOT NULL"),
        observe("now as text", "length(now()::text) > 0"),
        observe("temp objects", "(SELECT count(*) FROM pg_class WHERE relnamespace = pg_my_temp_schema())"
                                " + (SELECT count(*) FROM pg_type WHERE typnamespace = pg_my_temp_schema())"
                                " + (SELECT count(*) FROM pg_proc WHERE pronamespace = pg_my_temp_schema())"
                                " + (SELECT count(*) FROM pg_operator WHERE oprnamespace = pg_my_temp_schema())"),
        observe("temp casts", "(SELECT count(*) FROM pg_cast c JOIN pg_type t ON t.oid IN (c.castsource, c.casttarget) "
                              "WHERE t.typnamespace = pg_my_temp_schema())"),
    ])
    plant_outcome, results, same_batch, _ = env.attack(plant, [(w, check) for w in EVERYONE])
    assert plant_outcome == ("succeeded", None)
    assert same_batch
    assert_all_ran(results)
    assert values(results, "evil ran as") == []
    assert one(env.conn, "SELECT count(*) FROM dwc.api_keys WHERE name = 'stolen'") == 0
    assert {v for _, v in values(results, "temp objects")} == {"0"}
    assert {v for _, v in values(results, "temp casts")} == {"0"}
    assert len(values(results, "cast")) == 6


def test_settings_do_not_outlive_the_job_and_pg_temp_is_searched_last(env):
    plant = ("SELECT set_config('iso.secret', 'alice-secret', false); SET work_mem = '77MB'; "
             "SET search_path = public; SELECT set_config('statement_timeout', '1ms', false)")
    check = "; ".join([
        observe("secret", "coalesce(current_setting('iso.secret', true), '')"),
        observe("work_mem", "current_setting('work_mem')"),
        observe("search_path", "current_setting('search_path')"),
        observe("statement_timeout", "current_setting('statement_timeout')"),
    ])
    plant_outcome, results, same_batch, _ = env.attack(plant, [(w, check) for w in EVERYONE])
    assert plant_outcome == ("succeeded", None) and same_batch
    assert_all_ran(results)
    assert {v for _, v in values(results, "secret")} == {""}
    assert {v for _, v in values(results, "work_mem")} == {"4MB"}
    assert {v for _, v in values(results, "statement_timeout")} == {"0"}
    assert {v for _, v in values(results, "search_path")} == {'"$user", public, pg_temp'}


def test_prepared_statements_cursors_and_large_objects_are_closed(env):
    plant = ("PREPARE alice_p AS SELECT 42; "
             "DECLARE alice_held CURSOR WITH HOLD FOR SELECT 42; "
             "DECLARE alice_open CURSOR FOR SELECT 42; "
             "DO $d$ DECLARE c refcursor := 'alice_rc'; BEGIN OPEN c FOR SELECT 42; END $d$; "
             "DO $d$ DECLARE o oid := lo_create(0); BEGIN PERFORM lo_open(o, 393216); END $d$")
    check = "; ".join([
        observe("prepared", "(SELECT count(*) FROM pg_prepared_statements)"),
        observe("cursors", "(SELECT count(*) FROM pg_cursors)"),
        caught("fetch refcursor", "FETCH c INTO v", declare="c refcursor := 'alice_rc'; v int;"),
        caught("execute prepared", "EXECUTE 'EXECUTE alice_p'"),
        caught("large object fd 0", "PERFORM loread(0, 1)"),
    ])
    plant_outcome, results, same_batch, _ = env.attack(plant, [(w, check) for w in EVERYONE])
    assert plant_outcome == ("succeeded", None) and same_batch
    assert_all_ran(results)
    assert {v for _, v in values(results, "prepared")} == {"0"}
    assert {v for _, v in values(results, "cursors")} == {"0"}
    for what in ("fetch refcursor", "execute prepared", "large object fd 0"):
        got = values(results, what)
        assert len(got) == 6 and all(v != "ok" for _, v in got), (what, got)
    assert all('cursor "alice_rc" does not exist' in v for _, v in values(results, "fetch refcursor"))
    assert all("invalid large-object descriptor" in v for _, v in values(results, "large object fd 0"))


def test_advisory_locks_and_sequence_state_are_released(env):
    plant = "SELECT pg_advisory_lock(424242); SELECT nextval('public.iso_seq')"
    check = "; ".join([
        # first: the observer's own inserts take values from a sequence
        caught("lastval", "PERFORM lastval()"),
        observe("advisory locks", "(SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid())"),
        caught("currval", "PERFORM currval('public.iso_seq')"),
    ])
    plant_outcome, results, same_batch, _ = env.attack(plant, [(w, check) for w in EVERYONE])
    assert plant_outcome == ("succeeded", None) and same_batch
    assert_all_ran(results)
    assert {v for _, v in values(results, "advisory locks")} == {"0"}
    assert all("not yet defined in this session" in v for _, v in values(results, "currval")), values(results, "currval")
    assert all("not yet defined in this session" in v for _, v in values(results, "lastval"))
    assert len(values(results, "currval")) == 6
    # nobody holds the lock any more, and the worker listens to nothing
    assert one(env.conn, "SELECT pg_try_advisory_lock(424242)") is True
    q(env.conn, "SELECT pg_advisory_unlock(424242)")


def test_deferred_triggers_fire_as_the_job_that_queued_them(env):
    """Deferred to the batch's commit, alice's trigger would fire as the worker's superuser."""
    plant_outcome, results, same_batch, plant_seen = env.attack(
        "INSERT INTO public.iso_deferred VALUES (1)", [("bob", observe("bob", "current_user"))])
    assert plant_outcome == ("succeeded", None) and same_batch
    assert ("deferred trigger fired as", "dwc_user") in plant_seen, plant_seen
    assert not [v for _, _, seen in results for w, v in seen if w == "deferred trigger fired as"]


def test_set_constraints_ends_the_batch(env):
    """SET CONSTRAINTS lasts until the transaction ends: bob's job, queued behind alice's in
    the same batch, must still see his foreign key deferred."""
    q(env.conn, "TRUNCATE public.iso_child, public.iso_parent")
    bob = ("INSERT INTO public.iso_child VALUES (1, (SELECT coalesce(max(id), 0) + 1 FROM public.iso_parent)); "
           "INSERT INTO public.iso_parent SELECT coalesce(max(id), 0) + 1 FROM public.iso_parent; "
           + observe("bob", "'inserted'"))
    plant_outcome, results, _, _ = env.attack("SET CONSTRAINTS ALL IMMEDIATE", [("bob", bob), ("root1", bob)])
    assert plant_outcome == ("succeeded", None)
    assert_all_ran(results)
    assert one(env.conn, "SELECT count(*) FROM public.iso_child") == 4


def test_role_changes_listen_and_load_are_refused(env):
    """What cannot be undone is refused: a role change (the job's role is fixed), LISTEN
    (PostgreSQL refuses it in background processes, which would never read the queue),
    LOAD (a library cannot be unloaded)."""
    ids = [env.enqueue("alice", sql) for sql in ("SET ROLE postgres", "SET SESSION AUTHORIZATION postgres",
                                                  "LISTEN alice_channel", "LOAD 'auto_explain'")]
    outcomes = env.finished(ids)
    errors = [outcomes[i][1] for i in ids]
    assert all(outcomes[i][0] == "dead" for i in ids), outcomes
    assert "cannot set parameter" in errors[0] and "cannot set parameter" in errors[1], errors
    assert "LISTEN" in errors[2] and "background process" in errors[2], errors
    assert "LOAD is not allowed in dwc jobs" in errors[3], errors
    _, results, _, _ = env.attack("SELECT 1", [("bob", observe("user", "current_user"))])
    assert {v for _, v in values(results, "user")} == {"dwc_user"}


@pytest.mark.parametrize("kind", ["iso.run", "iso.leased"])
def test_registered_kinds_are_isolated_too(env, kind):
    """A kind's handler runs as its enqueuer, in the batch or (leased) in a transaction of
    its own: what it plants is gone as well."""
    plant = "CREATE TEMP TABLE alice_kind (x int); PREPARE alice_kind_p AS SELECT 1; SELECT set_config('iso.k', 'x', false)"
    check = "; ".join([
        observe("temp", "(SELECT count(*) FROM pg_class WHERE relnamespace = pg_my_temp_schema())"),
        observe("prepared", "(SELECT count(*) FROM pg_prepared_statements)"),
        observe("setting", "coalesce(current_setting('iso.k', true), '')"),
    ])
    plant_outcome, results, _, _ = env.attack(plant, [(w, check) for w in EVERYONE], kind=kind)
    assert plant_outcome == ("succeeded", None)
    assert_all_ran(results)
    assert {v for _, v in values(results, "temp")} == {"0"}
    assert {v for _, v in values(results, "prepared")} == {"0"}
    assert {v for _, v in values(results, "setting")} == {""}


def test_a_job_keeps_its_own_temporary_objects_while_it_runs(env):
    """Isolation is between jobs: within one, temporary tables work as usual."""
    sql = ("CREATE TEMP TABLE mine (x int); INSERT INTO pg_temp.mine VALUES (1), (2); "
           + observe("mine", "(SELECT sum(x) FROM pg_temp.mine)"))
    _, results, _, plant_seen = env.attack(sql, [])
    assert ("mine", "3") in plant_seen, plant_seen
