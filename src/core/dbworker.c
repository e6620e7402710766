/*-------------------------------------------------------------------------
 *
 * dbworker.c
 *		Start-up of a per-database dwc worker.
 *
 * The launcher starts these as dynamic background workers, one per slot.  A
 * worker connects to its database as the bootstrap superuser, waits until
 * CREATE EXTENSION dwc has installed the SQL objects it needs (at the
 * library's own version), then runs the loop of its kind.  Work it does on
 * behalf of users runs under their roles, never as superuser; each kind's
 * loop takes care of that.
 *
 * src/core/dbworker.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"


#include "access/xact.h"
#include "catalog/namespace.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "core/dbworker.h"
#include "core/guc.h"
#include "core/launcher.h"
#include "core/shmem.h"

/*
 * Is the dwc extension installed in this database at the version of the
 * loaded library?  Sets *installed_version (palloc'd, or NULL when the
 * extension is absent).  Runs in its own transaction.
 */
static bool
extension_ready(char **installed_version)
{
	bool		ready = false;

	*installed_version = NULL;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	if (OidIsValid(get_extension_oid("dwc", true)))
	{
		int			ret;

		SPI_connect();
		PushActiveSnapshot(GetTransactionSnapshot());
		ret = SPI_execute("SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'dwc'",
						  true, 1);
		if (ret == SPI_OK_SELECT && SPI_processed == 1)
		{
			char	   *v = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);

			if (v != NULL)
			{
				*installed_version = MemoryContextStrdup(TopMemoryContext, v);
				ready = (strcmp(v, DWC_VERSION) == 0);
			}
		}
		PopActiveSnapshot();
		SPI_finish();
	}
	CommitTransactionCommand();
	return ready;
}

/* Settings of dwc's own sessions, applied at start and after each reload. */
static void
apply_worker_settings(void)
{
	SetConfigOption("synchronous_commit", dwc_worker_synchronous_commit ? "on" : "off",
					PGC_SUSET, PGC_S_OVERRIDE);

	/*
	 * In a deadlock between a worker and a person's session (DROP EXTENSION
	 * taking its objects one by one while a worker reads two of them), the
	 * process whose deadlock_timeout runs out first checks for the deadlock
	 * and aborts itself.  A shorter wait here makes that the worker, which
	 * tries again later, and not the DDL someone typed.
	 */
	SetConfigOption("deadlock_timeout", "100ms", PGC_SUSET, PGC_S_OVERRIDE);
}

/*
 * Sleep until something sets our latch or timeout_ms passes, handling
 * SIGTERM (via CHECK_FOR_INTERRUPTS) and configuration reloads.  Returns
 * WaitLatch's result (WL_LATCH_SET when woken).
 */
int
DwcWorkerSleep(long timeout_ms)
{
	int			rc;

	rc = WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
				   timeout_ms, PG_WAIT_EXTENSION);
	ResetLatch(MyLatch);
	CHECK_FOR_INTERRUPTS();
	if (ConfigReloadPending)
	{
		ConfigReloadPending = false;
		ProcessConfigFile(PGC_SIGHUP);
		apply_worker_settings();
	}
	return rc;
}

volatile sig_atomic_t DwcStopRequested = false;
static volatile TimestampTz stop_requested_at = 0;

/* SIGTERM of a worker that stops gracefully (DwcStopGracefully) */
static void
graceful_sigterm(SIGNAL_ARGS)
{
	int			save_errno = errno;

	if (!DwcStopRequested)
	{
		stop_requested_at = GetCurrentTimestamp();
		DwcStopRequested = true;
	}
	if (dwc_shutdown_grace_ms == 0)
		die(postgres_signal_arg);
	else
		SetLatch(MyLatch);
	errno = save_errno;
}

/*
 * From now on, SIGTERM asks this worker to stop at its next safe point
 * (where it checks DwcStopRequested) instead of ending what it is doing.
 */
void
DwcStopGracefully(void)
{
	pqsignal(SIGTERM, graceful_sigterm);
}

/* Has a requested stop waited dwc.shutdown_grace?  Safe in a signal handler. */
bool
DwcStopGraceOver(void)
{
	return DwcStopRequested &&
		TimestampDifferenceExceeds(stop_requested_at, GetCurrentTimestamp(), dwc_shutdown_grace_ms);
}

/* Past the grace, stop as die() would: at the next CHECK_FOR_INTERRUPTS.  Safe in a signal handler. */
void
DwcEnforceStopGrace(void)
{
	if (DwcStopGraceOver())
	{
		ProcDiePending = true;
		InterruptPending = true;
		SetLatch(MyLatch);
	}
}

/*
 * Has the postmaster died under this dwc worker?  Always false in other
 * backends: PostgreSQL lets a client's session finish its statement.
 */
bool
DwcPostmasterGone(void)
{
	return IsBackgroundWorker && !PostmasterIsAlive();
}

/*
 * Stop what this worker is doing because the postmaster died: an error, so
 * that the worker's loop, which catches it, can record durably what its
 * jobs have already done before it exits (src/queue/worker.c).
 */
void
DwcPostmasterDied(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_ADMIN_SHUTDOWN),
			 errmsg("stopping: the postmaster died")));
}

/* Is the extension (still) installed at the library's version?  Its own transaction. */
bool
DwcExtensionReady(void)
{
	char	   *installed;
	bool		ready = extension_ready(&installed);

	if (installed != NULL)
		pfree(installed);
	return ready;
}

/*
 * DROP EXTENSION dwc takes the schema with it, and the workers it woke would
 * each fail their next query and log an ERROR before the launcher replaced
 * them.  A worker that checks at the start of each transaction (a syscache
 * lookup) ends quietly instead; its replacement waits for CREATE EXTENSION.
 */
void
DwcExitIfDropped(void)
{
	if (!OidIsValid(get_namespace_oid("dwc", true)))
		proc_exit(0);
}

/*
 * A worker caught in the middle of a query by DROP EXTENSION (it waited for
 * the lock, then found its table gone) ends as quietly: called in its error
 * handler after the transaction is aborted and before the error is reported.
 */
void
DwcExitQuietlyIfDropped(void)
{
	bool		gone;

	StartTransactionCommand();
	gone = !OidIsValid(get_namespace_oid("dwc", true));
	CommitTransactionCommand();
	if (gone)
	{
		FlushErrorState();
		proc_exit(0);
	}
}

/*
 * Wait until the extension is installed at the library's version.  Workers
 * start as soon as the server does, typically before CREATE EXTENSION; the
 * install script wakes them at commit.
 */
void
DwcWaitForExtension(void)
{
	for (;;)
	{
		char	   *installed;

		if (extension_ready(&installed))
		{
			pfree(installed);
			return;
		}
		if (installed == NULL)
			DwcSlotSetState("waiting for CREATE EXTENSION dwc");
		else
		{
			DwcSlotSetState("waiting for ALTER EXTENSION dwc UPDATE (%s installed, library %s)",
							installed, DWC_VERSION);
			pfree(installed);
		}
		pgstat_report_activity(STATE_IDLE, NULL);
		DwcWorkerSleep(dwc_naptime_ms);
	}
}

void
DwcDbWorkerMain(Datum main_arg)
{
	int			slotno = DatumGetInt32(main_arg);
	uint32		generation;
	DwcWorkerSlot *slot;
	bool		valid;
	Oid			dboid;
	DwcWorkerKind kind;
	const DwcWorkerKindDef *def;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	if (dwc_shared == NULL || slotno <= 0 || slotno >= dwc_shared->nslots)
		elog(FATAL, "dwc worker started with invalid slot %d", slotno);

	/* exit quietly if the launcher has given our slot to another worker */
	memcpy(&generation, MyBgworkerEntry->bgw_extra, sizeof(generation));
	slot = &dwc_shared->slots[slotno];
	SpinLockAcquire(&slot->mutex);
	valid = slot->in_use && slot->generation == generation && slot->pid == 0;
	dboid = slot->dboid;
	kind = slot->kind;
	SpinLockRelease(&slot->mutex);
	if (!valid)
		proc_exit(0);

	DwcSlotAttach(slotno);
	BackgroundWorkerInitializeConnectionByOid(dboid, InvalidOid, 0);
	pgstat_report_appname(MyBgworkerEntry->bgw_type);
	apply_worker_settings();

	DwcWaitForExtension();

	def = DwcWorkerKindDefOf(kind);
	if (kind == DWC_WORKER_LAUNCHER || def == NULL)
		elog(FATAL, "dwc slot %d is not a per-database worker", slotno);
	def->main();
	proc_exit(0);
}
