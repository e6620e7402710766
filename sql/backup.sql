-- backup: what pg_dump carries (docs/backup.md). A table or sequence added to the extension
-- without pg_extension_config_dump() would be missing from every dump; a table the install
-- script seeds without the restore_seeded trigger would refuse a dump's rows.

-- every table and sequence of the extension is dumped, or listed here with its reason
SELECT c.oid::regclass AS not_dumped
  FROM pg_class c
  JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e'
  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'dwc'
 WHERE c.relkind IN ('r', 'S')
   AND c.oid <> ALL (e.extconfig)
   -- which api function each role reaches: code, written again by every install and upgrade
   AND c.oid <> 'dwc.api_access'::regclass
   -- hook points and the event sources' prefixes: code too (src/core/hooks.sql, src/events/events.sql)
   AND c.oid <> 'dwc.hooks'::regclass AND c.oid <> 'dwc.event_sources'::regclass
   -- what dwc.distribute() may make of dwc's tables: code too (src/core/nodes.sql)
   AND c.oid <> 'dwc.distributable_tables'::regclass
 ORDER BY c.oid::regclass::text;

-- the partitioned tables: their partitions hold the rows (the default one is dumped above,
-- those made at run time are ordinary tables, dumped with their rows)
SELECT c.oid::regclass AS partitioned, c.oid = ANY (e.extconfig) AS registered
  FROM pg_class c
  JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e'
  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'dwc'
 WHERE c.relkind = 'p'
 ORDER BY c.oid::regclass::text;

-- the tables holding rows the install script wrote (the extension's own transaction) have the
-- trigger that lets a dump's or a subscription's row replace a seeded one
SELECT c.oid::regclass AS seeded_without_restore_trigger
  FROM pg_class c
  JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e'
  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'dwc'
 WHERE c.relkind = 'r'
   AND (xpath('/row/n/text()', query_to_xml(format('SELECT count(*) AS n FROM %s WHERE xmin = %L',
                                                     c.oid::regclass, e.xmin), false, true, '')))[1]::text::int > 0
   AND NOT EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = c.oid AND t.tgname = 'restore_seeded'
                      AND t.tgenabled = 'A')   -- fires in a subscription's apply too
   -- audit rows of the seeds: a restore's install writes none (its triggers derive nothing)
   AND c.oid <> 'dwc.audit_log_default'::regclass
 ORDER BY c.oid::regclass::text;

-- logical replication names every row: each dwc table has a primary key or replica identity
-- full (a publication of all tables would otherwise refuse the table's updates and deletes)
SELECT c.oid::regclass AS no_replica_identity
  FROM pg_class c
 WHERE c.relnamespace = 'dwc'::regnamespace AND c.relkind IN ('r', 'p') AND c.relreplident = 'd'
   AND NOT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary)
 ORDER BY c.oid::regclass::text;

-- a session loading a dump is told apart by pg_dump's settings
SELECT dwc._restoring() AS restoring_now;
BEGIN;
SET LOCAL check_function_bodies = off;
SET LOCAL row_security = off;
SELECT dwc._restoring() AS restoring_with_dump_settings;
ROLLBACK;

-- only in a superuser's session: anyone may change both settings, and a user who could keep
-- their writes out of the audit trail that way would make it worthless
BEGIN;
SET LOCAL SESSION AUTHORIZATION dwc_user;
SET LOCAL check_function_bodies = off;
SET LOCAL row_security = off;
SELECT dwc._restoring() AS restoring_for_a_user;
ROLLBACK;
