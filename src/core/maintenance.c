/*-------------------------------------------------------------------------
 *
 * maintenance.c
 *		The maintenance tasks subsystems register, and the maintenance worker
 *		of each served database that runs them.
 *
 * Maintenance has a worker of its own so that nothing it does can make a
 * schedule fire late: creating a partition waits for locks on its parent,
 * sealing a backlog of audit rows or trimming a large history takes seconds,
 * and the scheduler must fire within milliseconds whatever else is going on.
 *
 * Each task runs in a transaction of its own.  A task that fails rolls back
 * its own work only: the error is logged with the task's name, and the task
 * is tried again after RETRY_MS (or its interval, when shorter), while the
 * other tasks go on.  No task waits for a lock longer than LOCK_TIMEOUT:
 * waiting behind a client's long transaction would hold up every other task
 * (audit seals, AI and security logs), and an ACCESS EXCLUSIVE request in the
 * lock queue (a new partition) would block the writers queued behind it.
 *
 * src/core/maintenance.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/vacuum.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "parser/parse_node.h"
#include "pgstat.h"
#include "storage/ipc.h"
#include "tcop/tcopprot.h"
#include "storage/latch.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "core/dbworker.h"
#include "core/guc.h"
#include "core/registry.h"
#include "core/shmem.h"

#define MAX_TASKS 32
#define RETRY_MS 5000
#define LOCK_TIMEOUT "2s"

typedef struct Task
{
	const char *name;
	int			every_ms;
	DwcMaintenanceFn fn;
	bool		at_exit;		/* also at a clean shutdown: what would be lost with the process */
	TimestampTz last_run;		/* 0: never, in this process */
	bool		backlog;
	bool		failed;			/* the last run failed: due after RETRY_MS */
	bool		requested;		/* asked for by a backend (DwcMaintenanceRequest) */
} Task;

static Task tasks[MAX_TASKS];
static int	n_tasks = 0;

#define MAX_VACUUMED 4

typedef struct Vacuumed
{
	const char *relname;		/* in schema dwc */
	int			dead_rows;
	const char *quiet;			/* SQL: true when vacuuming now takes nothing from anyone */
} Vacuumed;

static Vacuumed vacuumed[MAX_VACUUMED];
static int	n_vacuumed = 0;

static void maintenance_loop(void);

static int
one_per_database(const char *dbname)
{
	return 1;
}

static const DwcWorkerKindDef maintenance_worker_kind = {"maintenance", one_per_database, maintenance_loop};
static DwcWorkerKind maintenance_kind;

void
DwcRegisterMaintenanceWorker(void)
{
	maintenance_kind = DwcRegisterWorkerKind(&maintenance_worker_kind);
}

void
DwcRegisterVacuum(const char *relname, int dead_rows, const char *quiet)
{
	if (n_vacuumed >= MAX_VACUUMED)
		elog(ERROR, "too many tables for the dwc maintenance worker to vacuum");
	vacuumed[n_vacuumed].relname = relname;
	vacuumed[n_vacuumed].dead_rows = dead_rows;
	vacuumed[n_vacuumed].quiet = quiet;
	n_vacuumed++;
}

int
DwcRegisterMaintenance(const char *name, int every_ms, DwcMaintenanceFn fn)
{
	StaticAssertStmt(MAX_TASKS <= 32, "a task is a bit of a worker slot's requests");
	if (n_tasks >= MAX_TASKS)
		elog(ERROR, "too many dwc maintenance tasks");
	tasks[n_tasks].name = name;
	tasks[n_tasks].every_ms = every_ms;
	tasks[n_tasks].fn = fn;
	tasks[n_tasks].last_run = 0;
	tasks[n_tasks].backlog = false;
	tasks[n_tasks].failed = false;
	tasks[n_tasks].at_exit = false;
	tasks[n_tasks].requested = false;
	return n_tasks++;
}

/*
 * A task that also runs when the maintenance worker is asked to stop (a
 * clean shutdown, the database no longer served): for what is held in
 * shared memory until a task writes it (metrics, logs).
 */
int
DwcRegisterMaintenanceAtExit(const char *name, int every_ms, DwcMaintenanceFn fn)
{
	int			task = DwcRegisterMaintenance(name, every_ms, fn);

	tasks[task].at_exit = true;
	return task;
}

bool
DwcMaintenanceRequest(Oid dboid, int task)
{
	Assert(task >= 0 && task < n_tasks);
	return DwcSlotRequest(dboid, maintenance_kind, (uint32) 1 << task);
}

int64
DwcMaintenanceSql(const char *sql, const char *what)
{
	Datum		v;
	bool		isnull;
	Oid			type;

	if (SPI_execute(sql, false, 0) < 0)
		elog(ERROR, "could not %s", what);
	if (SPI_tuptable == NULL || SPI_processed == 0)
		return 0;
	v = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (isnull)
		return 0;
	type = SPI_gettypeid(SPI_tuptable->tupdesc, 1);
	switch (type)
	{
		case BOOLOID:
			return DatumGetBool(v) ? 1 : 0;
		case INT2OID:
			return DatumGetInt16(v);
		case INT4OID:
			return DatumGetInt32(v);
		case INT8OID:
			return DatumGetInt64(v);
		default:
			return 0;			/* a result that counts nothing (void) */
	}
}

/*
 * SIGTERM: finish the task running, run the at-exit tasks, then exit.  die()
 * would end the process at the next CHECK_FOR_INTERRUPTS(), before they could
 * write what they hold.
 */
static volatile sig_atomic_t stop_requested = false;

static void
maintenance_sigterm(SIGNAL_ARGS)
{
	int			save_errno = errno;

	stop_requested = true;
	SetLatch(MyLatch);
	errno = save_errno;
}

static int64
task_interval_us(const Task *t)
{
	return (int64) (t->failed ? Min(t->every_ms, RETRY_MS) : t->every_ms) * 1000;
}

static bool
task_due(const Task *t, TimestampTz now)
{
	return t->backlog || t->requested || t->last_run == 0 || now - t->last_run >= task_interval_us(t);
}

/* tasks of every_ms 0 run at every pass, but never make one happen */
static bool
task_wakes(const Task *t)
{
	return t->every_ms > 0 || t->backlog;
}

/* when the next task that makes a pass happen is due; DT_NOEND: none */
static TimestampTz
next_pass(void)
{
	TimestampTz next = DT_NOEND;
	int			i;

	for (i = 0; i < n_tasks; i++)
	{
		TimestampTz t;

		if (!task_wakes(&tasks[i]))
			continue;
		t = tasks[i].backlog || tasks[i].last_run == 0 ? 0
			: tasks[i].last_run + task_interval_us(&tasks[i]);
		next = Min(next, t);
	}
	return next;
}

static void
task_error_context(void *arg)
{
	errcontext("dwc maintenance task \"%s\"", ((const Task *) arg)->name);
}

/*
 * After an error in a task or a vacuum: SPI and the snapshot stack are reset
 * by the abort; report, then go on, unless DROP EXTENSION took the objects
 * away: then end quietly, and the replacement waits for CREATE EXTENSION.
 */
static void
recover(MemoryContext loop_cxt)
{
	MemoryContextSwitchTo(loop_cxt);
	AbortCurrentTransaction();
	DwcExitQuietlyIfDropped();
	EmitErrorReport();
	FlushErrorState();
}

/*
 * Run one task in its own transaction.  Sets whether it left a backlog and
 * whether it failed; on error, logs it and rolls the transaction back.
 */
static void
run_task(Task *t, MemoryContext loop_cxt)
{
	ErrorContextCallback errcb;
	volatile bool backlog = false;
	volatile bool failed = false;

	DwcSlotSetState("running %s", t->name);
	pgstat_report_activity(STATE_RUNNING, t->name);

	errcb.callback = task_error_context;
	errcb.arg = t;
	errcb.previous = error_context_stack;
	error_context_stack = &errcb;

	PG_TRY();
	{
		SetCurrentStatementStartTimestamp();
		StartTransactionCommand();
		SPI_connect();
		PushActiveSnapshot(GetTransactionSnapshot());
		backlog = t->fn();
		PopActiveSnapshot();
		SPI_finish();
		CommitTransactionCommand();
	}
	PG_CATCH();
	{
		recover(loop_cxt);
		backlog = false;
		failed = true;
	}
	PG_END_TRY();
	error_context_stack = errcb.previous;

	MemoryContextSwitchTo(loop_cxt);
	MemoryContextReset(loop_cxt);
	t->backlog = backlog;
	t->failed = failed;
}

/* whether v's quiet query says yes; in the current transaction */
static bool
is_quiet(const Vacuumed *v)
{
	bool		quiet,
				isnull;

	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	if (SPI_execute(v->quiet, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not tell whether dwc.%s may be vacuumed", v->relname);
	quiet = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)) && !isnull;
	PopActiveSnapshot();
	SPI_finish();
	return quiet;
}

/*
 * VACUUM the table when the statistics say it has dead_rows dead rows or more
 * and its quiet query agrees.
 * As a VACUUM statement runs: from a transaction that vacuum() commits, then
 * starts again for us to commit.  Errors are logged (a lock it could not get
 * within lock_timeout, say) and the next pass tries again.
 */
static void
vacuum_if_due(const Vacuumed *v, MemoryContext loop_cxt)
{
	PG_TRY();
	{
		Oid			relid;
		PgStat_StatTabEntry *st;

		SetCurrentStatementStartTimestamp();
		StartTransactionCommand();
		relid = get_relname_relid(v->relname, get_namespace_oid("dwc", true));
		st = OidIsValid(relid) ? pgstat_fetch_stat_tabentry(relid) : NULL;
		if (st != NULL && st->n_dead_tuples >= v->dead_rows && is_quiet(v))
		{
			VacuumStmt *vs = makeNode(VacuumStmt);

			DwcSlotSetState("vacuuming dwc.%s", v->relname);
			pgstat_report_activity(STATE_RUNNING, "VACUUM");
			vs->options = NIL;
			vs->rels = list_make1(makeVacuumRelation(makeRangeVar("dwc", pstrdup(v->relname), -1), InvalidOid, NIL));
			vs->is_vacuumcmd = true;
			ExecVacuum(make_parsestate(NULL), vs, true);
		}
		CommitTransactionCommand();
	}
	PG_CATCH();
	{
		recover(loop_cxt);
	}
	PG_END_TRY();
	MemoryContextSwitchTo(loop_cxt);
	MemoryContextReset(loop_cxt);
}

static void
maintenance_loop(void)
{
	MemoryContext loop_cxt = AllocSetContextCreate(TopMemoryContext, "dwc maintenance",
												   ALLOCSET_DEFAULT_SIZES);

	SetConfigOption("lock_timeout", LOCK_TIMEOUT, PGC_SUSET, PGC_S_OVERRIDE);

	/*
	 * The tasks are short statements run again and again, whose estimates
	 * over a large table (the audit log behind the sealer) pass
	 * jit_above_cost: compiling them took four-fifths of this worker's CPU
	 * while audited writes came in, and the next pass compiles again.
	 */
	SetConfigOption("jit", "off", PGC_SUSET, PGC_S_OVERRIDE);
	pqsignal(SIGTERM, maintenance_sigterm);

	for (;;)
	{
		TimestampTz now = GetCurrentTimestamp();
		TimestampTz next;
		long		sleep_ms;
		uint32		requests;
		int			i;

		MemoryContextSwitchTo(loop_cxt);
		if (stop_requested)
		{
			bool		ready = DwcExtensionReady();

			/* the last pass: what would be lost with this process, then out */
			for (i = 0; i < n_tasks && ready; i++)
				if (tasks[i].at_exit)
					run_task(&tasks[i], loop_cxt);
			proc_exit(0);
		}

		/*
		 * The tasks' errors do not end this worker, so it must notice by
		 * itself when DROP EXTENSION or a version change pulls the SQL
		 * objects from under it: wait as at start, then run every task.
		 */
		if (!DwcExtensionReady())
		{
			/* nothing to write without the extension: a stop may end the wait at once */
			pqsignal(SIGTERM, die);
			if (stop_requested)
				proc_exit(0);
			DwcWaitForExtension();
			pqsignal(SIGTERM, maintenance_sigterm);
			for (i = 0; i < n_tasks; i++)
				tasks[i].last_run = 0;
			now = GetCurrentTimestamp();
		}
		MemoryContextReset(loop_cxt);

		requests = DwcSlotTakeRequests();
		for (i = 0; i < n_tasks; i++)
			if (requests & ((uint32) 1 << i))
				tasks[i].requested = true;

		for (i = 0; i < n_tasks; i++)
		{
			Task	   *t = &tasks[i];

			if (!task_due(t, now) || stop_requested)
				continue;
			CHECK_FOR_INTERRUPTS();
			/* an orphan's work would be lost in the crash restart its shared memory holds up */
			if (DwcPostmasterGone())
				proc_exit(1);
			t->requested = false;
			run_task(t, loop_cxt);
			t->last_run = now;
		}
		for (i = 0; i < n_vacuumed && !stop_requested; i++)
		{
			CHECK_FOR_INTERRUPTS();
			vacuum_if_due(&vacuumed[i], loop_cxt);
		}
		pgstat_report_stat(false);
		pgstat_report_activity(STATE_IDLE, NULL);
		DwcSlotSetState("idle");

		/* until the next task is due (at most dwc.naptime, as every worker) */
		next = Min(next_pass(), GetCurrentTimestamp() + (int64) dwc_naptime_ms * 1000);
		now = GetCurrentTimestamp();
		sleep_ms = next <= now ? 0 : (long) ((next - now + 999) / 1000);
		if (sleep_ms > 0)
			(void) DwcWorkerSleep(sleep_ms);
		else
			CHECK_FOR_INTERRUPTS();
	}
}
