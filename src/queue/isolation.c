/*-------------------------------------------------------------------------
 *
 * isolation.c
 *		Jobs that cannot reach each other: what one job leaves in the job
 *		worker's session is gone before the next job starts.
 *
 * A job worker is one long-lived backend that runs every user's jobs, many
 * of them in one transaction (a batch), each in a subtransaction of its
 * own.  A subtransaction that commits keeps what its SQL created, and much
 * of that is session state rather than data: temporary tables, types,
 * functions, casts and operators; prepared statements; open cursors;
 * large-object descriptors; session advisory locks;
 * sequence currval state; settings; pending deferred triggers.  Left in
 * place, any of it reaches the next job, whoever it runs as: a temporary
 * type can shadow pg_catalog.text for a later job of the superuser, and a
 * deferred trigger would fire at the batch's commit as the worker.
 *
 * So every job that runs SQL (sql jobs and function kinds, in-transaction
 * or leased) is bracketed:
 *
 *	DwcJobSessionEnter	 inside the job's subtransaction, as its role: a
 *						 GUC nest level of its own, and a search_path with
 *						 pg_temp last (PostgreSQL's advice for SECURITY
 *						 DEFINER code: no temporary object can shadow a
 *						 name the job resolves);
 *	DwcJobSessionFinish	 when the job's code has returned, still inside its
 *						 subtransaction and as its role, so that whatever
 *						 user code the cleanup runs (deferred triggers,
 *						 closing a cursor over a data-modifying query) runs
 *						 as the job and its errors fail the job: fire the
 *						 deferred triggers, close cursors and large objects,
 *						 drop temporary objects, deallocate
 *						 prepared statements, release session advisory
 *						 locks, forget sequence state, revert settings;
 *	DwcJobSessionAbandon after the subtransaction rolled back (which undoes
 *						 the transactional part): the non-transactional
 *						 rest, prepared statements, advisory locks and
 *						 sequence state.
 *
 * This is DISCARD ALL (which cannot run inside a transaction), job by job.
 * What cannot be undone in the middle of a transaction is handled
 * otherwise: LOAD (a library cannot be unloaded) is refused inside jobs;
 * LISTEN is refused by PostgreSQL itself in background processes (they
 * never read the notification queue); SET CONSTRAINTS (whose effect lasts
 * until the transaction ends) makes the worker end its batch after that
 * job, so that the next job starts in a new transaction.  Role changes are
 * refused too: the job runs with SECURITY_LOCAL_USERID_CHANGE (run.c).
 *
 * The costly steps run only when needed: temporary objects are dropped only
 * after a job that created some object (an object-access hook notices),
 * and the hooks are installed in job workers alone.
 *
 * src/queue/isolation.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/objectaccess.h"
#include "commands/prepare.h"
#include "commands/sequence.h"
#include "commands/trigger.h"
#include "libpq/be-fsstubs.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "storage/lock.h"
#include "tcop/utility.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/portal.h"
#include "utils/varlena.h"

#include "queue/queue_internal.h"

static ProcessUtility_hook_type prev_process_utility = NULL;
static object_access_hook_type prev_object_access = NULL;

static bool in_job = false;
static bool job_created_objects = false;	/* since the job began */
static bool job_set_constraints = false;	/* the batch must end after this job */

/* the jobs' search_path: the worker's own, pg_temp moved last; recomputed when that changes */
static char *job_search_path = NULL;
static char *job_search_path_from = NULL;

/*
 * Any object created during a job (temporary ones among them) makes its end
 * look into the temporary schema.  Creation is rare in jobs; most jobs pay
 * nothing for the check.
 */
static void
isolation_object_access(ObjectAccessType access, Oid classId, Oid objectId, int subId, void *arg)
{
	if (in_job && access == OAT_POST_CREATE)
		job_created_objects = true;
	if (prev_object_access)
		prev_object_access(access, classId, objectId, subId, arg);
}

static void
isolation_process_utility(PlannedStmt *pstmt, const char *queryString, bool readOnlyTree,
						  ProcessUtilityContext context, ParamListInfo params,
						  QueryEnvironment *queryEnv, DestReceiver *dest, QueryCompletion *qc)
{
	Node	   *stmt = pstmt->utilityStmt;

	if (in_job && IsA(stmt, LoadStmt))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("LOAD is not allowed in dwc jobs"),
				 errdetail("A library cannot be unloaded: it would stay loaded for every later job of the worker, whoever runs it."),
				 errhint("Load libraries with session_preload_libraries or shared_preload_libraries.")));

	if (prev_process_utility)
		prev_process_utility(pstmt, queryString, readOnlyTree, context, params, queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context, params, queryEnv, dest, qc);

	if (in_job && IsA(stmt, ConstraintsSetStmt))
		job_set_constraints = true;
}

/* In job workers only: the hooks cost other backends nothing. */
void
DwcJobIsolationInit(void)
{
	prev_process_utility = ProcessUtility_hook;
	ProcessUtility_hook = isolation_process_utility;
	prev_object_access = object_access_hook;
	object_access_hook = isolation_object_access;
}

/*
 * The search_path jobs run with: the worker's (the database's default),
 * with pg_temp named last, so that no temporary object a job makes can take
 * the place of a relation or type it names.
 */
static const char *
search_path_for_jobs(void)
{
	const char *current = namespace_search_path ? namespace_search_path : "";
	char	   *raw;
	List	   *elems;
	ListCell   *lc;
	StringInfoData buf;

	if (job_search_path != NULL && strcmp(job_search_path_from, current) == 0)
		return job_search_path;

	raw = pstrdup(current);
	if (!SplitIdentifierString(raw, ',', &elems))
		elems = NIL;			/* cannot happen: the setting was checked */
	initStringInfo(&buf);
	foreach(lc, elems)
	{
		const char *e = lfirst(lc);

		if (strcmp(e, "pg_temp") == 0)
			continue;
		/* "$user" stays as written; other names are quoted as needed */
		appendStringInfo(&buf, "%s, ", strcmp(e, "$user") == 0 ? "\"$user\"" : quote_identifier(e));
	}
	appendStringInfoString(&buf, "pg_temp");

	if (job_search_path)
		pfree(job_search_path);
	if (job_search_path_from)
		pfree(job_search_path_from);
	job_search_path = MemoryContextStrdup(TopMemoryContext, buf.data);
	job_search_path_from = MemoryContextStrdup(TopMemoryContext, current);
	pfree(buf.data);
	list_free(elems);
	pfree(raw);
	return job_search_path;
}

/*
 * Inside the job's subtransaction, as its role: its own GUC nest level and
 * search_path.  Returns the nest level for DwcJobSessionFinish.
 */
int
DwcJobSessionEnter(void)
{
	const char *path = search_path_for_jobs();
	int			nestlevel = NewGUCNestLevel();

	(void) set_config_option("search_path", path, PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	in_job = true;
	job_created_objects = false;
	job_set_constraints = false;
	return nestlevel;
}

/*
 * The job's code has returned: remove what it left, still inside its
 * subtransaction (subid, whose parent is parent_subid) and as its role.
 * Errors here are the job's.
 */
void
DwcJobSessionFinish(int nestlevel, SubTransactionId subid, SubTransactionId parent_subid)
{
	/* deferred triggers fire now, as the job, not at the batch's commit as the worker */
	AfterTriggerFireDeferred();

	/*
	 * Cursors, including PL/pgSQL's refcursors and WITH HOLD ones: a job
	 * worker has no portal of its own while it runs jobs, so every portal
	 * there is the job's.  Closing one may run its query's remaining
	 * work (a data-modifying WITH), which is why this runs as the job.
	 */
	PortalHashTableDeleteAll();

	/* large-object descriptors opened in the job: closed as if it had aborted */
	AtEOSubXact_LargeObject(false, subid, parent_subid);

	/* temporary tables, types, functions, operators and the casts that depend on them */
	if (job_created_objects)
		ResetTempTableNamespace();

	DropAllPreparedStatements();
	LockReleaseSession(USER_LOCKMETHOD);
	ResetSequenceCaches();

	/* every setting the job changed, SET as well as SET LOCAL, and our search_path */
	AtEOXact_GUC(false, nestlevel);
	in_job = false;
}

/*
 * The job's subtransaction rolled back, taking its temporary objects,
 * cursors, large objects and settings with it: remove the rest.
 */
void
DwcJobSessionAbandon(void)
{
	DropAllPreparedStatements();
	LockReleaseSession(USER_LOCKMETHOD);
	ResetSequenceCaches();
	in_job = false;
	job_set_constraints = false;
}

/*
 * Did the job change state that lasts until the end of the transaction
 * (SET CONSTRAINTS)?  Then the batch ends after it.
 */
bool
DwcJobSessionEndsBatch(void)
{
	bool		r = job_set_constraints;

	job_set_constraints = false;
	return r;
}
