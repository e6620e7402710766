/*-------------------------------------------------------------------------
 *
 * guc.c
 *		Definition and validation of dwc's configuration settings.
 *
 * Every setting is either PGC_SIGHUP (read by the background workers, changed
 * with a configuration reload) or PGC_USERSET/PGC_SUSET (per-session
 * behaviour of SQL functions).  There is deliberately no PGC_POSTMASTER
 * setting here: those can only be defined while the library is preloaded, and
 * dwc must also load on demand (CREATE EXTENSION without preload) for its
 * SQL-only parts.  The exceptions, sizes of shared memory
 * (dwc.ai_cache_memory, dwc.metric_series, dwc.metric_buffer), are defined
 * only while preloading (src/ai/init.c, src/metrics/init.c).
 *
 * src/core/guc.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/guc.h"
#include "utils/varlena.h"

#include "core/guc.h"
#include "core/shmem.h"

bool		dwc_enabled = true;
char	   *dwc_databases = NULL;
int			dwc_naptime_ms = 1000;
int			dwc_shutdown_grace_ms = 10000;
int			dwc_worker_restart_delay_ms = 1000;
bool		dwc_worker_synchronous_commit = false;

int			dwc_http_timeout_ms = 30000;
int			dwc_http_connect_timeout_ms = 10000;
int			dwc_http_max_response_kb = 10240;
int			dwc_http_max_redirects = 5;

/*
 * dwc.databases must be a comma-separated list of database names, each at
 * most once.  Quoting follows search_path: unquoted names are folded to lower
 * case, double quotes keep case and allow commas.
 */
static bool
check_databases(char **newval, void **extra, GucSource source)
{
	char	   *rawstring;
	List	   *names;
	ListCell   *lc;
	bool		ok = true;

	if (*newval == NULL)
		return true;

	rawstring = pstrdup(*newval);
	if (!SplitIdentifierString(rawstring, ',', &names))
	{
		GUC_check_errdetail("List syntax is invalid: expected database names separated by commas, "
							"with no empty entries.");
		pfree(rawstring);
		return false;
	}

	foreach(lc, names)
	{
		const char *name = lfirst(lc);
		ListCell   *lc2;

		for_each_cell(lc2, names, lnext(names, lc))
		{
			if (strcmp(name, (const char *) lfirst(lc2)) == 0)
			{
				GUC_check_errdetail("Database \"%s\" is listed more than once.", name);
				ok = false;
				break;
			}
		}
		if (!ok)
			break;
	}

	list_free(names);
	pfree(rawstring);
	return ok;
}

/*
 * The names listed in dwc.databases, as a palloc'd list of palloc'd strings
 * in the current memory context.
 */
List *
DwcDatabaseNames(void)
{
	char	   *rawstring;
	List	   *names;
	List	   *result = NIL;
	ListCell   *lc;

	if (dwc_databases == NULL)
		return NIL;

	rawstring = pstrdup(dwc_databases);
	/* the check hook has already accepted this value */
	if (!SplitIdentifierString(rawstring, ',', &names))
		elog(ERROR, "invalid dwc.databases value \"%s\"", dwc_databases);

	foreach(lc, names)
		result = lappend(result, pstrdup(lfirst(lc)));

	list_free(names);
	pfree(rawstring);
	return result;
}

void
DwcDefineGucs(void)
{
	DefineCustomBoolVariable("dwc.enabled",
							 "Runs dwc's background workers (kill switch).",
							 "When off, the launcher stops every dwc worker and starts none "
							 "until it is turned back on.",
							 &dwc_enabled,
							 true,
							 PGC_SIGHUP, 0,
							 NULL, NULL, NULL);

	DefineCustomStringVariable("dwc.databases",
							   "Databases served by dwc's background workers.",
							   "Comma-separated list of database names; each needs "
							   "CREATE EXTENSION dwc before its workers do any work.",
							   &dwc_databases,
							   "postgres",
							   PGC_SIGHUP, GUC_LIST_INPUT,
							   check_databases, NULL, NULL);

	DefineCustomIntVariable("dwc.naptime",
							"Longest time a dwc worker sleeps when nothing wakes it.",
							"Workers are woken at commit of the transactions that give "
							"them work; this is only the fallback poll interval.",
							&dwc_naptime_ms,
							1000, 10, 60000,
							PGC_SIGHUP, GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("dwc.shutdown_grace",
							"How long a job worker asked to stop lets its running job finish.",
							"At a clean shutdown (a switchover, a restart) the job running then "
							"finishes and its outcome is recorded, so that what it did outside the "
							"database (a webhook, a mail) is not done again; past this time it is "
							"stopped, as with 0.",
							&dwc_shutdown_grace_ms,
							10000, 0, 3600000,
							PGC_SIGHUP, GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("dwc.worker_restart_delay",
							"Shortest time between two starts of the same dwc worker.",
							"Bounds the restart rate of a worker that keeps dying.",
							&dwc_worker_restart_delay_ms,
							1000, 0, 3600000,
							PGC_SIGHUP, GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomBoolVariable("dwc.worker_synchronous_commit",
							 "Whether dwc's workers wait for their commits to reach disk.",
							 "Off by default: a job's effects and its completion commit together, "
							 "so a commit lost in a crash only means the job runs again.",
							 &dwc_worker_synchronous_commit,
							 false,
							 PGC_SIGHUP, 0,
							 NULL, NULL, NULL);

	DefineCustomIntVariable("dwc.http_timeout",
							"Longest time an outbound HTTP request may take, in total.",
							NULL,
							&dwc_http_timeout_ms,
							30000, 1, 3600000,
							PGC_USERSET, GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("dwc.http_connect_timeout",
							"Longest time an outbound HTTP request may take to connect.",
							NULL,
							&dwc_http_connect_timeout_ms,
							10000, 1, 600000,
							PGC_USERSET, GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("dwc.http_max_response_size",
							"Largest outbound HTTP response body accepted.",
							"Larger responses are aborted with an error.",
							&dwc_http_max_response_kb,
							10240, 1, 1048576,
							PGC_SUSET, GUC_UNIT_KB,
							NULL, NULL, NULL);

	DefineCustomIntVariable("dwc.http_max_redirects",
							"Most redirects an outbound HTTP request follows.",
							"0 disables following redirects.",
							&dwc_http_max_redirects,
							5, 0, 50,
							PGC_USERSET, 0,
							NULL, NULL, NULL);
}
