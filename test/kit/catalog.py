"""A canonical description of what the dwc extension put in a database, for comparing an
upgraded database with a fresh install (as pg_cron tests its upgrades).

describe(conn) returns sorted lines, one fact each: every member object of the extension
(functions with their whole definition, privileges and comment; tables with columns,
constraints, indexes, triggers, policies, row-level security, privileges, storage; views;
types; sequences; schemas), the extension's configuration-dump settings, and the rows dwc
installs in its registry tables. Objects are named, never numbered, so two databases can be
compared line by line.
"""

MEMBERS = """
WITH ext AS (SELECT oid FROM pg_extension WHERE extname = 'dwc'),
m AS (SELECT d.classid, d.objid FROM pg_depend d, ext
       WHERE d.refclassid = 'pg_extension'::regclass AND d.refobjid = ext.oid AND d.deptype = 'e')
SELECT 'function ' || p.oid::regprocedure || E'\\n' || pg_get_functiondef(p.oid)
       || E'\\nacl ' || coalesce((SELECT string_agg(a::text, ',' ORDER BY a::text) FROM unnest(p.proacl) a), '-')
       || E'\\ncomment ' || coalesce(obj_description(p.oid, 'pg_proc'), '-')
  FROM m JOIN pg_proc p ON m.classid = 'pg_proc'::regclass AND p.oid = m.objid AND p.prokind IN ('f', 'p', 'w')
UNION ALL
SELECT 'aggregate ' || p.oid::regprocedure
  FROM m JOIN pg_proc p ON m.classid = 'pg_proc'::regclass AND p.oid = m.objid AND p.prokind = 'a'
UNION ALL
SELECT 'relation ' || c.oid::regclass || ' kind ' || c.relkind::text || ' rls ' || c.relrowsecurity
       || ' replica identity ' || c.relreplident::text
       || ' options ' || coalesce(array_to_string(c.reloptions, ','), '-')
       || ' acl ' || coalesce((SELECT string_agg(a::text, ',' ORDER BY a::text) FROM unnest(c.relacl) a), '-')
       || ' comment ' || coalesce(obj_description(c.oid, 'pg_class'), '-')
       || CASE WHEN c.relkind IN ('v', 'm') THEN E'\\n' || pg_get_viewdef(c.oid) ELSE '' END
  FROM m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
UNION ALL
SELECT 'column ' || c.oid::regclass || '.' || a.attname || ' #' ||
       row_number() OVER (PARTITION BY c.oid ORDER BY a.attnum) || ' ' || format_type(a.atttypid, a.atttypmod)
       || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
       || ' default ' || coalesce(pg_get_expr(ad.adbin, ad.adrelid), '-')
       || ' identity ' || a.attidentity::text || ' generated ' || a.attgenerated::text || ' storage ' || a.attstorage::text
       || ' acl ' || coalesce((SELECT string_agg(x::text, ',' ORDER BY x::text) FROM unnest(a.attacl) x), '-')
       || ' comment ' || coalesce(col_description(c.oid, a.attnum), '-')
  FROM m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
  LEFT JOIN pg_attrdef ad ON ad.adrelid = c.oid AND ad.adnum = a.attnum
UNION ALL
SELECT 'constraint ' || c.oid::regclass || ' ' || k.conname || ' ' || pg_get_constraintdef(k.oid)
  FROM m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
  JOIN pg_constraint k ON k.conrelid = c.oid
UNION ALL
SELECT 'index ' || pg_get_indexdef(i.indexrelid)
  FROM m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
  JOIN pg_index i ON i.indrelid = c.oid
UNION ALL
SELECT 'trigger ' || pg_get_triggerdef(t.oid) || ' enabled ' || t.tgenabled::text
  FROM m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
  JOIN pg_trigger t ON t.tgrelid = c.oid AND NOT t.tgisinternal
UNION ALL
SELECT 'policy ' || c.oid::regclass || ' ' || p.polname || ' ' || p.polcmd::text || ' permissive ' || p.polpermissive
       || ' to ' || (SELECT string_agg(CASE WHEN r = 0 THEN 'public' ELSE r::regrole::text END, ',' ORDER BY 1)
                       FROM unnest(p.polroles) r)
       || ' using ' || coalesce(pg_get_expr(p.polqual, p.polrelid), '-')
       || ' check ' || coalesce(pg_get_expr(p.polwithcheck, p.polrelid), '-')
  FROM m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
  JOIN pg_policy p ON p.polrelid = c.oid
UNION ALL
SELECT 'partition ' || i.inhrelid::regclass || ' of ' || i.inhparent::regclass || ' '
       || pg_get_expr(k.relpartbound, k.oid)
  FROM m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
  JOIN pg_inherits i ON i.inhparent = c.oid JOIN pg_class k ON k.oid = i.inhrelid
 WHERE EXISTS (SELECT 1 FROM m WHERE m.objid = k.oid)
UNION ALL
SELECT 'type ' || t.oid::regtype || ' ' || t.typtype::text
       || coalesce(' ' || (SELECT string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder)
                             FROM pg_enum e WHERE e.enumtypid = t.oid), '')
  FROM m JOIN pg_type t ON m.classid = 'pg_type'::regclass AND t.oid = m.objid
UNION ALL
SELECT 'schema ' || n.nspname
       || ' acl ' || coalesce((SELECT string_agg(a::text, ',' ORDER BY a::text) FROM unnest(n.nspacl) a), '-')
       || ' comment ' || coalesce(obj_description(n.oid, 'pg_namespace'), '-')
  FROM m JOIN pg_namespace n ON m.classid = 'pg_namespace'::regclass AND n.oid = m.objid
UNION ALL
SELECT 'other ' || pg_describe_object(m.classid, m.objid, 0)
  FROM m WHERE m.classid NOT IN ('pg_proc'::regclass, 'pg_class'::regclass, 'pg_type'::regclass,
                                 'pg_namespace'::regclass)
UNION ALL
SELECT 'config ' || x.c::regclass || ' ' || coalesce(x.w, '')
  FROM pg_extension e, unnest(e.extconfig, e.extcondition) AS x(c, w) WHERE e.extname = 'dwc'
"""

# the rows dwc installs in its own registry tables (whole rows, without times)
DATA = ["dwc.job_kinds", "dwc.api_access", "dwc.partitioned_tables", "dwc.audited_tables", "dwc.queues",
        "dwc.rate_limits", "dwc.ai_providers"]
TIMES = ["created_at", "updated_at", "enabled_at", "paused_at"]


def describe(conn):
    lines = []
    with conn.cursor() as cur:
        cur.execute(MEMBERS)
        lines += [r[0] for r in cur.fetchall()]
        for table in DATA:
            cur.execute("SELECT to_regclass(%s) IS NOT NULL", (table,))
            if not cur.fetchone()[0]:
                continue
            cur.execute("SELECT %%s || ' ' || (to_jsonb(t) - %%s::text[])::text FROM %s t" % table,
                        (table, TIMES))
            lines += [r[0] for r in cur.fetchall()]
    return sorted(lines)
