"""Every C function of schemas dwc and api, called with hostile arguments (NULLs, empty
values, huge values, values of the right type and the wrong shape), as a web role and as
superuser: errors are fine, a backend crash is not.

A crash of any backend makes the postmaster terminate every session and restart; the log
then says "terminated by signal". The test counts calls that errored, so that a run that
silently called nothing would show, and asserts the log stays clean.
"""
import json
import time

import psycopg2
import pytest
from conftest import JWT_SECRET, one
from postgrest import PostgREST

# per argument type: an ordinary value, then the hostile ones (SQL literals)
HUGE_TEXT = "repeat('x', 1000000)"
VALUES = {
    "text": ("'x'", ["NULL", "''", HUGE_TEXT, "E'\\x01\\x7f'", "'%s%s%n'", "repeat('é', 5000)",
                     "'* * * * *'", "'{\"a\": 1}'"]),
    "jsonb": ("'{}'::jsonb", ["NULL", "'null'::jsonb", "'[]'::jsonb", "'\"x\"'::jsonb",
                              "'1e308'::jsonb", "'{\"a\": {\"b\": [null, {}]}}'::jsonb",
                              "(SELECT jsonb_agg(g) FROM generate_series(1, 20000) g)",
                              "(SELECT jsonb_object_agg('k' || g, g) FROM generate_series(1, 5000) g)",
                              "repeat('[', 3000)::text || repeat(']', 3000)"]),
    "json": ("'{}'::json", ["NULL", "'null'::json", "'[1, 2'::text::json", "'\"x\"'::json",
                            "repeat('[', 3000)::text::json"]),
    "integer": ("1", ["NULL", "0", "-1", "2147483647", "-2147483648"]),
    "bigint": ("1", ["NULL", "0", "-1", "9223372036854775807", "-9223372036854775808"]),
    "double precision": ("0.5", ["NULL", "'NaN'::float8", "'Infinity'::float8", "'-Infinity'::float8",
                                 "-1e308", "0"]),
    "numeric": ("0.5", ["NULL", "'NaN'::numeric", "0", "-1", "1e1000", "-1e-1000"]),
    "boolean": ("true", ["NULL", "false"]),
    "bytea": ("'\\x00'::bytea", ["NULL", "''::bytea", "decode(repeat('ff', 100000), 'hex')"]),
    "uuid": ("gen_random_uuid()", ["NULL", "'00000000-0000-0000-0000-000000000000'::uuid"]),
    "timestamp with time zone": ("now()", ["NULL", "'infinity'::timestamptz", "'-infinity'::timestamptz",
                                           "'4713-01-01 BC'::timestamptz", "'294276-01-01'::timestamptz"]),
    "time without time zone": ("'12:00'::time", ["NULL", "'24:00'::time"]),
    "interval": ("'1 minute'::interval", ["NULL", "'-1 day'::interval", "'0'::interval",
                                          "'178000000 years'::interval"]),
    "text[]": ("'{x}'::text[]", ["NULL", "'{}'::text[]", "'{NULL}'::text[]", "'{{a,b},{c,d}}'::text[]",
                                 "array_fill('x'::text, ARRAY[10000])"]),
    "double precision[]": ("'{1,2}'::float8[]", ["NULL", "'{}'::float8[]", "'{NULL}'::float8[]",
                                                 "'{NaN,Infinity}'::float8[]", "'{{1,2},{3,4}}'::float8[]",
                                                 "array_fill(1::float8, ARRAY[100000])"]),
    "bigint[]": ("'{1}'::bigint[]", ["NULL", "'{}'::bigint[]", "'{NULL}'::bigint[]", "'{{1},{2}}'::bigint[]"]),
    "real[]": ("'{1,2}'::real[]", ["NULL", "'{}'::real[]", "'{NULL}'::real[]", "'{NaN,-Infinity}'::real[]",
                                   "'{{1,2},{3,4}}'::real[]", "array_fill(1::real, ARRAY[100000])"]),
    "dwc.audit_log": ("ROW(1, now(), 1, 'u', 'r', 'INSERT', 't', '{}', NULL, '{}', NULL, NULL)",
                      ["NULL", "ROW(NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)",
                       "ROW(1, 'infinity', -1, repeat('u', 100000), '', '', '', 'null', 'null', '[]', '', '')"]),
    "oid": ("0", ["NULL", "4294967295", "10"]),
    "record": ("ROW(1, 'x')", ["NULL", "ROW()", "ROW(NULL::int)"]),
}

# functions whose effect would stop the rest of the run from meaning anything
SKIP = {"dwc._startup_check"}


def c_functions(conn):
    with conn.cursor() as cur:
        cur.execute("""
            SELECT p.oid::regprocedure::text, n.nspname || '.' || p.proname,
                   array(SELECT format_type(t, NULL) FROM unnest(p.proargtypes) t),
                   p.pronargdefaults
              FROM pg_proc p
              JOIN pg_namespace n ON n.oid = p.pronamespace
              JOIN pg_language l ON l.oid = p.prolang
             WHERE l.lanname = 'c' AND n.nspname IN ('dwc', 'api') AND p.prokind = 'f'
             ORDER BY 1""")
        return cur.fetchall()


def calls(name, types):
    """All-ordinary, all-NULL, then each argument hostile in turn with the rest ordinary."""
    if any(t not in VALUES for t in types):
        missing = [t for t in types if t not in VALUES]
        raise AssertionError("no fuzz values for %s of %s" % (missing, name))
    ordinary = [VALUES[t][0] for t in types]
    yield ordinary
    yield ["NULL"] * len(types)
    for i, t in enumerate(types):
        for v in VALUES[t][1]:
            args = list(ordinary)
            args[i] = v
            yield args


def reconnect(c, timeout=60):
    """After a crash: wait for the postmaster's recovery and connect again."""
    deadline = time.time() + timeout
    while True:
        try:
            return c.connect("dwc_it", autocommit=False)
        except psycopg2.OperationalError:
            if time.time() > deadline:
                raise
            time.sleep(0.2)


def call_all(c, functions, role, headers):
    """Returns (calls made, calls that errored, calls that crashed the server); after a
    crash it reconnects and goes on, so that one run lists every crash."""
    done = errored = 0
    crashed = []
    conn = reconnect(c)
    for sig, name, types, _ in functions:
        if name in SKIP:
            continue
        for args in calls(name, types):
            sql = "SELECT %s(%s)" % (name, ", ".join("%s::%s" % (a, t) for a, t in zip(args, types)))
            done += 1
            try:
                with conn.cursor() as cur:
                    if role:
                        cur.execute("SET LOCAL ROLE " + role)
                        cur.execute("SELECT set_config('request.headers', %s, true)", (headers,))
                    cur.execute("SET LOCAL statement_timeout = '3s'")
                    cur.execute(sql)
                    cur.fetchall()
            except psycopg2.Error as e:
                if conn.closed or isinstance(e, psycopg2.InterfaceError):
                    crashed.append(sql[:200])
                    conn = reconnect(c)
                    continue
                errored += 1
            conn.rollback()
    conn.close()
    return done, errored, crashed


@pytest.mark.parametrize("role", ["dwc_anon", "dwc_user", "dwc_admin", None])
def test_every_c_function_survives_hostile_arguments(make_cluster, role):
    """role None: superuser. dwc_user and dwc_admin calls carry a valid bearer token of a
    user of that role, so that they get past the identity checks into the functions."""
    c = make_cluster()
    conn = c.connect("dwc_it")
    functions = c_functions(conn)
    headers = "{}"
    if role in ("dwc_user", "dwc_admin"):
        uid = one(conn, "SELECT dwc.create_user(%s, 'fuzz password 123!', role => %s)->>'id'",
                  ("fuzz_" + role, role))
        token = PostgREST(conn, JWT_SECRET).sign({"role": role, "sub": uid, "exp": int(time.time()) + 3600})
        headers = json.dumps({"authorization": "Bearer " + token})
    conn.close()
    assert len(functions) > 150, "found only %d C functions" % len(functions)
    log_start = c.log_size()
    done, errored, crashed = call_all(c, functions, role, headers)
    print("calls %d, errors %d, crashes %d" % (done, errored, len(crashed)))
    assert crashed == [], "%d calls crashed the server:\n%s" % (len(crashed), "\n".join(crashed))
    log = c.log_since(log_start)
    assert "terminated by signal" not in log, log[-4000:]
    assert "server process" not in log or "was terminated" not in log, log[-4000:]
    # the run reached the functions: most hostile calls are refused
    assert done > 1000 and errored > done // 4, (done, errored)
    # and the server still answers
    assert c.scalar("SELECT dwc.version()", dbname="dwc_it")
