#!/usr/bin/python3
"""Compare what the dwc extension put in two databases (test/kit/catalog.py), to write and
check upgrade scripts.

    tools/catalog_diff.py DSN_FRESH DSN_UPGRADED [--sql]

Prints the facts found in only one of them. With --sql, also prints, for each function
that is new or whose definition, comment or privileges differ, the statements that make
the upgraded database's function match the fresh one's (a draft for the upgrade script, to
be read and ordered by hand), and the functions to drop.
"""
import os
import sys

import psycopg2

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "test", "kit"))
from catalog import describe  # noqa: E402

FUNCS = """
SELECT p.oid::regprocedure::text, pg_get_functiondef(p.oid), obj_description(p.oid, 'pg_proc'),
       array(SELECT a::text FROM unnest(p.proacl) a ORDER BY 1), p.prokind
  FROM pg_proc p JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'dwc'
"""


def functions(conn):
    with conn.cursor() as cur:
        cur.execute(FUNCS)
        return {r[0]: r[1:] for r in cur.fetchall()}


def quote(s):
    return "'" + s.replace("'", "''") + "'"


def acl_sql(sig, acl):
    out = ["REVOKE ALL ON FUNCTION %s FROM PUBLIC;" % sig]
    for item in acl or []:
        grantee = item.split("=")[0] or "PUBLIC"
        if grantee != "postgres":
            out.append("GRANT EXECUTE ON FUNCTION %s TO %s;" % (sig, grantee))
    return out


def main(argv):
    if len(argv) < 2:
        sys.exit(__doc__)
    a, b = (psycopg2.connect(dsn) for dsn in argv[:2])
    la, lb = describe(a), describe(b)
    sa, sb = set(la), set(lb)
    for line in la:
        if line not in sb:
            print("only in %s:\n  %s" % (argv[0], line.replace("\n", "\n  ")))
    for line in lb:
        if line not in sa:
            print("only in %s:\n  %s" % (argv[1], line.replace("\n", "\n  ")))
    if "--sql" in argv:
        fa, fb = functions(a), functions(b)
        print("\n-- ---- functions ----")
        for sig in sorted(set(fb) - set(fa)):
            print("DROP FUNCTION %s;" % sig)
        for sig in sorted(fa):
            if fa[sig] == fb.get(sig):
                continue
            definition, comment, acl, _ = fa[sig]
            old = fb.get(sig)
            if old is None or old[0] != definition:
                print(definition.rstrip() + ";")
            if old is None or old[1] != comment:
                print("COMMENT ON FUNCTION %s IS %s;" % (sig, quote(comment) if comment else "NULL"))
            if old is None or old[2] != acl:
                print("\n".join(acl_sql(sig, acl)))
            print()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
