/*-------------------------------------------------------------------------
 *
 * launcher.c
 *		The dwc launcher: keeps the per-database workers running.
 *
 * One launcher per server, registered as a static background worker when
 * the library is preloaded.  It connects to no database (it only reads the
 * shared catalog pg_database) and reconciles the workers that should run,
 * from dwc.enabled, dwc.databases and dwc.job_workers, with those that do.
 * src/core/README.md describes the life cycle.
 *
 * src/core/launcher.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_database.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "core/guc.h"
#include "core/launcher.h"
#include "core/shmem.h"

#define LAUNCHER_SLOT 0

/* how long a new launcher waits for the workers of its predecessor to exit */
#define ORPHAN_WAIT_MS 10000

/* a worker the launcher wants running */
typedef struct WantedWorker
{
	Oid			dboid;
	char	   *dbname;
	DwcWorkerKind kind;
	int			index;
	bool		running;		/* matched to a slot in this round */
} WantedWorker;

/* launcher-private bookkeeping for each slot */
typedef struct LauncherSlot
{
	BackgroundWorkerHandle *handle; /* NULL when the slot is free */
	TimestampTz last_start;
	bool		terminating;	/* SIGTERM sent, waiting for it to stop */
} LauncherSlot;

static LauncherSlot *lslots;
static List *warned_databases = NIL;	/* names already warned about */
static bool warned_no_slot = false;

static void
set_slot(int slotno, bool in_use, DwcWorkerKind kind, int index, Oid dboid)
{
	DwcWorkerSlot *slot = &dwc_shared->slots[slotno];

	SpinLockAcquire(&slot->mutex);
	slot->in_use = in_use;
	slot->kind = kind;
	slot->index = index;
	slot->dboid = dboid;
	if (in_use)
	{
		slot->generation++;
		strlcpy(slot->state, "registered", DWC_STATE_LEN);
	}
	SpinLockRelease(&slot->mutex);
}

/*
 * Warn once about each database in dwc.databases that cannot be served, and
 * again only if it was fixed and broke anew.
 */
static void
warn_database(const char *name, const char *detail)
{
	ListCell   *lc;
	MemoryContext old;

	foreach(lc, warned_databases)
	{
		if (strcmp(lfirst(lc), name) == 0)
			return;
	}
	ereport(WARNING,
			(errcode(ERRCODE_UNDEFINED_DATABASE),
			 errmsg("dwc cannot serve database \"%s\" listed in dwc.databases", name),
			 errdetail_internal("%s", detail),
			 errhint("Create the database, or remove it from dwc.databases and reload.")));
	old = MemoryContextSwitchTo(TopMemoryContext);
	warned_databases = lappend(warned_databases, pstrdup(name));
	MemoryContextSwitchTo(old);
}

static void
forget_warning(const char *name)
{
	ListCell   *lc;

	foreach(lc, warned_databases)
	{
		if (strcmp(lfirst(lc), name) == 0)
		{
			warned_databases = foreach_delete_current(warned_databases, lc);
			return;
		}
	}
}

/*
 * Find a database by name with a plain heap scan of pg_database: the
 * launcher is connected to no database, so it can read shared catalogs but
 * not use the relation cache entries (indexes, syscaches) that need pg_class.
 * Must run inside a transaction.
 */
static bool
lookup_database(const char *name, Oid *dboid, bool *allowconn)
{
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tup;
	bool		found = false;

	rel = table_open(DatabaseRelationId, AccessShareLock);
	scan = table_beginscan_catalog(rel, 0, NULL);
	while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		Form_pg_database db = (Form_pg_database) GETSTRUCT(tup);

		if (strcmp(NameStr(db->datname), name) == 0)
		{
			*dboid = db->oid;
			*allowconn = db->datallowconn;
			found = true;
			break;
		}
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	return found;
}

/*
 * The workers that should run now, resolving database names in a short
 * transaction on the shared catalog pg_database.
 */
static List *
wanted_workers(void)
{
	List	   *names;
	List	   *result = NIL;
	ListCell   *lc;

	if (!dwc_enabled)
		return NIL;

	names = DwcDatabaseNames();
	if (names == NIL)
		return NIL;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	foreach(lc, names)
	{
		char	   *name = lfirst(lc);
		Oid			dboid;
		bool		allowconn;
		int			i;
		int			kind;

		if (!lookup_database(name, &dboid, &allowconn))
		{
			warn_database(name, "The database does not exist.");
			continue;
		}
		if (!allowconn)
		{
			warn_database(name, "The database does not allow connections.");
			continue;
		}
		forget_warning(name);

		/* every registered kind but the launcher, as many as it wants per database */
		for (kind = DWC_WORKER_LAUNCHER + 1; kind < DwcNumWorkerKinds(); kind++)
		{
			int			n = DwcWorkerKindDefOf(kind)->per_database(name);

			for (i = 0; i < n; i++)
			{
				WantedWorker *w = palloc0(sizeof(WantedWorker));

				w->dboid = dboid;
				w->dbname = name;
				w->kind = kind;
				w->index = i;
				result = lappend(result, w);
			}
		}
	}
	CommitTransactionCommand();
	return result;
}

/*
 * Register a dynamic worker for slot slotno.  The handle is kept in
 * TopMemoryContext for the launcher's lifetime.  Returns false when the
 * postmaster has no free background worker slot.
 */
static bool
start_worker(int slotno, const WantedWorker *w)
{
	BackgroundWorker worker;
	BackgroundWorkerHandle *handle;
	MemoryContext old;
	uint32		generation;
	bool		ok;

	set_slot(slotno, true, w->kind, w->index, w->dboid);
	generation = dwc_shared->slots[slotno].generation;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	strlcpy(worker.bgw_library_name, "dwc", BGW_MAXLEN);
	strlcpy(worker.bgw_function_name, "DwcDbWorkerMain", BGW_MAXLEN);
	snprintf(worker.bgw_name, BGW_MAXLEN, "dwc %s worker %d for database %s",
			 DwcWorkerKindName(w->kind), w->index, w->dbname);
	snprintf(worker.bgw_type, BGW_MAXLEN, "dwc %s worker", DwcWorkerKindName(w->kind));
	worker.bgw_main_arg = Int32GetDatum(slotno);
	memcpy(worker.bgw_extra, &generation, sizeof(generation));
	worker.bgw_notify_pid = MyProcPid;

	old = MemoryContextSwitchTo(TopMemoryContext);
	ok = RegisterDynamicBackgroundWorker(&worker, &handle);
	MemoryContextSwitchTo(old);

	if (!ok)
	{
		set_slot(slotno, false, w->kind, 0, InvalidOid);
		if (!warned_no_slot)
			ereport(WARNING,
					(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
					 errmsg("dwc could not start a %s worker for database \"%s\": no free background worker slot",
							DwcWorkerKindName(w->kind), w->dbname),
					 errhint("Raise max_worker_processes (a restart is needed) or lower dwc.job_workers.")));
		warned_no_slot = true;
		return false;
	}

	if (lslots[slotno].handle != NULL)
		pfree(lslots[slotno].handle);
	lslots[slotno].handle = handle;
	lslots[slotno].last_start = GetCurrentTimestamp();
	lslots[slotno].terminating = false;
	return true;
}

static void
free_slot(int slotno)
{
	set_slot(slotno, false, DWC_WORKER_LAUNCHER, 0, InvalidOid);
	pfree(lslots[slotno].handle);
	lslots[slotno].handle = NULL;
	lslots[slotno].terminating = false;
}

static WantedWorker *
find_wanted(List *wanted, const DwcWorkerSlot *slot)
{
	ListCell   *lc;

	foreach(lc, wanted)
	{
		WantedWorker *w = lfirst(lc);

		if (!w->running && w->dboid == slot->dboid && w->kind == slot->kind &&
			w->index == slot->index)
			return w;
	}
	return NULL;
}

/*
 * Make the running workers match the wanted ones.  Returns how long the
 * launcher may sleep before a delayed restart is due, in milliseconds.
 */
static long
reconcile(void)
{
	List	   *wanted = wanted_workers();
	ListCell   *lc;
	bool		all_started = true;
	long		sleep_ms = dwc_naptime_ms;
	TimestampTz now = GetCurrentTimestamp();
	int			slotno;

	/* slots in use: keep, restart or stop */
	for (slotno = 1; slotno < dwc_shared->nslots; slotno++)
	{
		DwcWorkerSlot *slot = &dwc_shared->slots[slotno];
		LauncherSlot *ls = &lslots[slotno];
		BgwHandleStatus status;
		pid_t		pid;
		WantedWorker *w;

		if (ls->handle == NULL)
			continue;

		status = GetBackgroundWorkerPid(ls->handle, &pid);
		w = ls->terminating ? NULL : find_wanted(wanted, slot);

		if (w == NULL)
		{
			if (status == BGWH_STOPPED)
				free_slot(slotno);
			else if (!ls->terminating)
			{
				TerminateBackgroundWorker(ls->handle);
				ls->terminating = true;
			}
			continue;
		}

		w->running = true;
		if (status == BGWH_STOPPED)
		{
			TimestampTz due = TimestampTzPlusMilliseconds(ls->last_start,
														  dwc_worker_restart_delay_ms);

			if (now >= due)
			{
				ereport(LOG,
						(errmsg("dwc %s worker %d for database \"%s\" has stopped; restarting it",
								DwcWorkerKindName(w->kind), w->index, w->dbname)));
				if (!start_worker(slotno, w))
					free_slot(slotno);
			}
			else
				sleep_ms = Min(sleep_ms, TimestampDifferenceMilliseconds(now, due) + 1);
		}
	}

	/* wanted workers with no slot yet */
	foreach(lc, wanted)
	{
		WantedWorker *w = lfirst(lc);

		if (w->running)
			continue;
		for (slotno = 1; slotno < dwc_shared->nslots; slotno++)
		{
			if (lslots[slotno].handle == NULL)
				break;
		}
		if (slotno >= dwc_shared->nslots || !start_worker(slotno, w))
		{
			all_started = false;	/* out of slots: try again next round */
			break;
		}
		w->running = true;
	}
	if (all_started)
		warned_no_slot = false;

	return sleep_ms;
}

/*
 * Stop the workers a previous launcher left running.  Without their handles
 * the new launcher can neither be told when they exit nor restart them, so it
 * terminates them and starts its own.
 */
static void
stop_orphans(void)
{
	TimestampTz deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), ORPHAN_WAIT_MS);
	int			slotno;

	for (;;)
	{
		int			alive = 0;

		for (slotno = 1; slotno < dwc_shared->nslots; slotno++)
		{
			DwcWorkerSlot *slot = &dwc_shared->slots[slotno];
			pid_t		pid;

			SpinLockAcquire(&slot->mutex);
			pid = slot->pid;
			/* a registered-but-unstarted worker will see the bumped generation */
			if (slot->in_use)
				slot->generation++;
			slot->in_use = false;
			SpinLockRelease(&slot->mutex);

			if (pid != 0)
			{
				alive++;
				if (kill(pid, SIGTERM) < 0 && errno != ESRCH)
					elog(WARNING, "could not send SIGTERM to dwc worker %d: %m", (int) pid);
			}
		}
		if (alive == 0)
			return;
		if (GetCurrentTimestamp() >= deadline)
		{
			ereport(WARNING,
					(errmsg("%d dwc workers of a previous launcher did not exit within %d ms",
							alive, ORPHAN_WAIT_MS)));
			return;
		}
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 100L, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}

void
DwcLauncherMain(Datum main_arg)
{
	MemoryContext loop_cxt;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	BackgroundWorkerInitializeConnection(NULL, NULL, 0);
	pgstat_report_appname("dwc launcher");

	set_slot(LAUNCHER_SLOT, true, DWC_WORKER_LAUNCHER, 0, InvalidOid);
	DwcSlotAttach(LAUNCHER_SLOT);

	lslots = MemoryContextAllocZero(TopMemoryContext,
									sizeof(LauncherSlot) * dwc_shared->nslots);
	loop_cxt = AllocSetContextCreate(TopMemoryContext, "dwc launcher loop",
									 ALLOCSET_DEFAULT_SIZES);

	stop_orphans();
	ereport(LOG, (errmsg("dwc launcher started")));

	for (;;)
	{
		long		sleep_ms;
		MemoryContext old;

		old = MemoryContextSwitchTo(loop_cxt);
		sleep_ms = reconcile();
		MemoryContextSwitchTo(old);
		MemoryContextReset(loop_cxt);

		DwcSlotSetState(dwc_enabled ? "running" : "disabled (dwc.enabled = off)");
		pgstat_report_activity(STATE_IDLE, NULL);

		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 sleep_ms, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();

		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
	}
}

void
DwcRegisterLauncher(void)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = 5;
	strlcpy(worker.bgw_library_name, "dwc", BGW_MAXLEN);
	strlcpy(worker.bgw_function_name, "DwcLauncherMain", BGW_MAXLEN);
	strlcpy(worker.bgw_name, "dwc launcher", BGW_MAXLEN);
	strlcpy(worker.bgw_type, "dwc launcher", BGW_MAXLEN);
	RegisterBackgroundWorker(&worker);
}
