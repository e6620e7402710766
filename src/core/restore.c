/*-------------------------------------------------------------------------
 *
 * restore.c
 *		Knowing that a session is loading a dump, so that a pg_dump and
 *		pg_restore (or pg_dumpall and psql) round trip gives back the
 *		database as it was: nothing added, nothing refused.
 *
 * Every session pg_dump's output opens, whatever its format and whoever
 * loads it (pg_restore, psql, pg_dumpall's script per database), starts
 * with SET check_function_bodies = false and SET row_security = off; no
 * application runs with both, and CREATE EXTENSION alone turns off only the
 * first.  In such a session:
 *
 *   - dwc's triggers do nothing (DwcRestoring(), dwc._restoring()): the
 *     audit rows, events, fold-ins, statistics and runs they would derive
 *     from the rows loaded are in the dump already;
 *   - a row of a table the install script seeds replaces the seeded row of
 *     the same key instead of colliding with it (dwc._restore_seeded());
 *   - the dump's CREATE INDEX and ADD CONSTRAINT for a partition of one of
 *     dwc's partitioned tables are skipped when attaching the partition
 *     made them already: the partitioned table and its indexes belong to the
 *     extension and exist before the dump's partitions come back, so
 *     ATTACH PARTITION builds the partition's indexes under the very names
 *     the dump then asks for.
 *
 * docs/backup.md says the same to users.
 *
 * src/core/restore.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/index.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_constraint.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "tcop/utility.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/rls.h"
#include "utils/syscache.h"

#include "core/restore.h"

static ProcessUtility_hook_type prev_process_utility = NULL;

/*
 * A superuser's session only: anyone may turn the two settings off, and a
 * user who could thereby keep their writes out of the audit trail would make
 * it worthless.  Loading a dump of a dwc database needs a superuser anyway
 * (CREATE EXTENSION dwc does).
 */
bool
DwcRestoring(void)
{
	return !check_function_bodies && !row_security && superuser_arg(GetSessionUserId());
}

PG_FUNCTION_INFO_V1(dwc__restoring);

Datum
dwc__restoring(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(DwcRestoring());
}

/* rv, if it names a partition in schema dwc (not locked: a hint only, the command locks) */
static Oid
dwc_partition(RangeVar *rv)
{
	Oid			relid = RangeVarGetRelid(rv, NoLock, true);

	if (!OidIsValid(relid) || !get_rel_relispartition(relid))
		return InvalidOid;
	if (strcmp(get_namespace_name(get_rel_namespace(relid)), "dwc") != 0)
		return InvalidOid;
	return relid;
}

/* does relid have an index called name (in its own schema)? */
static bool
has_index_named(Oid relid, const char *name)
{
	Oid			idx = get_relname_relid(name, get_rel_namespace(relid));

	if (!OidIsValid(idx) || get_rel_relkind(idx) != RELKIND_INDEX)
		return false;
	return IndexGetRelation(idx, true) == relid;
}

/* is this dump statement's work done already by ATTACH PARTITION? */
static bool
made_by_attach(Node *stmt)
{
	if (IsA(stmt, IndexStmt))
	{
		IndexStmt  *is = (IndexStmt *) stmt;
		Oid			relid;

		if (is->idxname == NULL)
			return false;
		relid = dwc_partition(is->relation);
		return OidIsValid(relid) && has_index_named(relid, is->idxname);
	}
	if (IsA(stmt, AlterTableStmt))
	{
		AlterTableStmt *as = (AlterTableStmt *) stmt;
		AlterTableCmd *cmd;
		Constraint *con;
		Oid			relid;

		if (list_length(as->cmds) != 1)
			return false;
		cmd = linitial_node(AlterTableCmd, as->cmds);
		if (cmd->subtype != AT_AddConstraint || !IsA(cmd->def, Constraint))
			return false;
		con = (Constraint *) cmd->def;
		if ((con->contype != CONSTR_UNIQUE && con->contype != CONSTR_PRIMARY) || con->conname == NULL)
			return false;
		relid = dwc_partition(as->relation);
		return OidIsValid(relid) &&
			OidIsValid(get_relation_constraint_oid(relid, con->conname, true));
	}
	return false;
}

static void
restore_process_utility(PlannedStmt *pstmt, const char *queryString, bool readOnlyTree,
						ProcessUtilityContext context, ParamListInfo params,
						QueryEnvironment *queryEnv, DestReceiver *dest, QueryCompletion *qc)
{
	if (DwcRestoring() && made_by_attach(pstmt->utilityStmt))
	{
		ereport(NOTICE,
				(errmsg("skipping a dump's index of a dwc partition: attaching the partition made it"),
				 errdetail("Statement: %s", queryString)));
		return;
	}
	if (prev_process_utility)
		prev_process_utility(pstmt, queryString, readOnlyTree, context, params, queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context, params, queryEnv, dest, qc);
}

void
DwcRestoreInit(void)
{
	prev_process_utility = ProcessUtility_hook;
	ProcessUtility_hook = restore_process_utility;
}
