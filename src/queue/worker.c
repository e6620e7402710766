/*-------------------------------------------------------------------------
 *
 * worker.c
 *		The job worker: claims batches of jobs, runs them, records results.
 *
 * One loop iteration is one transaction that
 *   1. records the outcome of the leased jobs run after the previous commit;
 *   2. claims a batch of ready jobs with SELECT ... FOR UPDATE SKIP LOCKED,
 *      highest priority first, and writes it to the in-flight journal;
 *   3. runs the batch's in-transaction jobs (kinds that are not leased), each in a
 *      subtransaction, and records their outcomes: finished jobs move to
 *      dwc.job_history, failed ones are rescheduled with backoff;
 *   4. leases the batch's jobs of leased kinds (status running, lease_until,
 *      our pid).
 * After commit, the leased jobs run (http with no transaction open, function
 * kinds such as chain.continue and ml.train in transactions of their own),
 * and the next iteration records their outcome.
 *
 * An in-transaction job is leased by its row lock (and counted, should the
 * worker die, by the journal: see journal.c); its effects and its
 * completion commit together.  src/queue/README.md has the whole life cycle.
 *
 * src/queue/worker.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "common/pg_prng.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "portability/instr_time.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "core/arrays.h"
#include "core/counters.h"
#include "core/dbworker.h"
#include "core/guc.h"
#include "core/shmem.h"
#include "queue/queue_internal.h"
#include "queue/settings.h"

static MemoryContext worker_cxt;
static MemoryContext batch_cxt;	/* the batch claimed in this iteration */
static MemoryContext leased_cxt;	/* leased jobs run after commit, until recorded */
static DwcJob *leased_jobs;
static int	nleased;
static int	batch_limit;


static SPIPlanPtr claim_plan;
static SPIPlanPtr finish_locked_plan;
static SPIPlanPtr retry_locked_plan;
static SPIPlanPtr lease_plan;
static SPIPlanPtr finish_leased_plan;
static SPIPlanPtr retry_leased_plan;
static SPIPlanPtr release_plan;

/*
 * Move finished jobs (ids $1) to the history with their statuses ($2),
 * results ($3) and errors ($4); "cond" restricts the rows, the other
 * arguments are SQL expressions for the columns that differ between locked
 * and leased jobs.
 */
#define FINISH_SQL(cond, attempts, started_at, worker_pid) \
	"WITH d AS (DELETE FROM dwc.jobs WHERE id = ANY ($1)" cond \
	"           RETURNING *, array_position($1, id) AS i)" \
	" INSERT INTO dwc.job_history (" HISTORY_COLUMNS ")" \
	" SELECT id, queue, kind, name, payload, priority, $2[i], run_at, " attempts "," \
	"   max_attempts, timeout_ms, unique_key, schedule_id, enqueued_by, enqueued_user," \
	"   created_at, " started_at ", clock_timestamp(), " worker_pid ", $3[i]," \
	"   CASE WHEN $2[i] = 'succeeded' THEN NULL ELSE coalesce($4[i], last_error) END, scopes" \
	" FROM d"

static SPIPlanPtr
prepare(const char *sql, int nargs, Oid *types)
{
	SPIPlanPtr	p = SPI_prepare(sql, nargs, types);

	if (p == NULL)
		elog(ERROR, "could not prepare statement of the job worker: %s",
			 SPI_result_code_string(SPI_result));
	SPI_keepplan(p);
	return p;
}

static void
prepare_plans(void)
{
	if (claim_plan != NULL)
		return;
	{
		Oid			t[2] = {TEXTARRAYOID, INT4OID};

		claim_plan = prepare(
							 "SELECT id, kind, payload, timeout_ms, enqueued_by, attempts, max_attempts,"
							 "       schedule_id, priority, run_at, enqueued_user, scopes"
							 "  FROM dwc.jobs"
							 " WHERE status IN ('queued', 'retry') AND run_at <= now()"
							 "   AND NOT (queue = ANY ($1))"
							 " ORDER BY priority DESC, run_at, id"
							 " LIMIT $2 FOR UPDATE SKIP LOCKED", 2, t);
	}
	{
		/* ids, statuses, results, errors, start times, pid */
		Oid			t[6] = {INT8ARRAYOID, TEXTARRAYOID, JSONBARRAYOID, TEXTARRAYOID,
		TIMESTAMPTZARRAYOID, INT4OID};

		finish_locked_plan = prepare(FINISH_SQL("", "attempts + 1", "$5[i]", "$6"), 6, t);
	}
	{
		/* ids, delays, errors, start times */
		Oid			t[4] = {INT8ARRAYOID, FLOAT8ARRAYOID, TEXTARRAYOID, TIMESTAMPTZARRAYOID};

		retry_locked_plan = prepare(
									"UPDATE dwc.jobs"
									"   SET status = 'retry', attempts = attempts + 1,"
									"       started_at = $4[array_position($1, id)],"
									"       run_at = clock_timestamp() + $2[array_position($1, id)] * interval '1 millisecond',"
									"       last_error = $3[array_position($1, id)]"
									" WHERE id = ANY ($1)", 4, t);
	}
	{
		Oid			t[4] = {INT8ARRAYOID, INT8OID, INT4OID, TIMESTAMPTZOID};

		lease_plan = prepare(
							 "UPDATE dwc.jobs"
							 "   SET status = 'running', attempts = attempts + 1, started_at = clock_timestamp(),"
							 "       lease_until = clock_timestamp() + (timeout_ms + $2) * interval '1 millisecond',"
							 "       worker_pid = $3, worker_started = $4"
							 " WHERE id = ANY ($1)", 4, t);
	}
	{
		Oid			t[6] = {INT8ARRAYOID, TEXTARRAYOID, JSONBARRAYOID, TEXTARRAYOID, INT4OID, TIMESTAMPTZOID};

		finish_leased_plan = prepare(FINISH_SQL(" AND status = 'running' AND worker_pid = $5"
												" AND worker_started = $6",
												"attempts", "started_at", "worker_pid"), 6, t);
	}
	{
		Oid			t[5] = {INT8ARRAYOID, FLOAT8ARRAYOID, TEXTARRAYOID, INT4OID, TIMESTAMPTZOID};

		retry_leased_plan = prepare(
									"UPDATE dwc.jobs"
									"   SET status = 'retry',"
									"       run_at = clock_timestamp() + $2[array_position($1, id)] * interval '1 millisecond',"
									"       last_error = $3[array_position($1, id)],"
									"       lease_until = NULL, worker_pid = NULL, worker_started = NULL"
									" WHERE id = ANY ($1) AND status = 'running'"
									"   AND worker_pid = $4 AND worker_started = $5", 5, t);
	}
	{
		Oid			t[2] = {INT4OID, TIMESTAMPTZOID};

		release_plan = prepare(
							   "UPDATE dwc.jobs SET status = 'retry', run_at = clock_timestamp(),"
							   "       lease_until = NULL, worker_pid = NULL, worker_started = NULL"
							   " WHERE status = 'running' AND worker_pid = $1 AND worker_started = $2", 2, t);
	}
}

static void
free_plans(void)
{
	SPIPlanPtr *plans[] = {&claim_plan, &finish_locked_plan, &retry_locked_plan, &lease_plan,
	&finish_leased_plan, &retry_leased_plan, &release_plan};
	int			i;

	for (i = 0; i < (int) lengthof(plans); i++)
	{
		if (*plans[i] != NULL)
			SPI_freeplan(*plans[i]);
		*plans[i] = NULL;
	}
}

static Datum
my_started_at(void)
{
	return TimestampTzGetDatum(MyDwcSlot ? MyDwcSlot->started_at : 0);
}

/* exponential backoff with "equal jitter": half fixed, half random */
static double
backoff_ms(const DwcJob *job)
{
	double		d = (double) dwc_job_backoff_base_ms * pow(2.0, Max(job->attempts - 1, 0));

	d = Min(d, (double) dwc_job_backoff_max_ms);
	d = d / 2.0 + pg_prng_double(&pg_global_prng_state) * d / 2.0;
	if (job->retry_after_ms > d)
		d = (double) job->retry_after_ms;
	return d;
}

#define ARRAY_ARG(values, nulls, n, type) DwcArrayDatum(values, nulls, n, type)

/* for the Prometheus exposition, when the transaction recording the outcome commits */
static void
count_outcome(const DwcJob *j)
{
	const char *labels[2];

	labels[0] = j->kind;
	labels[1] = j->outcome == DWC_JOB_SUCCEEDED ? "succeeded" :
		j->outcome == DWC_JOB_CANCELLED ? "cancelled" :
		j->outcome == DWC_JOB_FAILED && j->attempts < j->max_attempts ? "retried" : "dead";
	DwcOwnAddAtCommit(DwcJobsFinishedFamily, labels, 1);
	DwcOwnAddAtCommit(DwcJobDurationFamily, labels,
					  (double) Max(j->finished_at - j->started_at, 0) / USECS_PER_SEC);
}

/*
 * Record the outcome of jobs: leased (jobs of leased kinds, whose rows we must still
 * own) or locked (in-transaction jobs, whose rows our transaction holds).
 */
static void
record_outcomes(DwcJob **jobs, int n, bool leased)
{
	Datum	   *f_id = palloc(sizeof(Datum) * n);
	Datum	   *f_status = palloc(sizeof(Datum) * n);
	Datum	   *f_result = palloc(sizeof(Datum) * n);
	bool	   *f_result_null = palloc(sizeof(bool) * n);
	Datum	   *f_error = palloc(sizeof(Datum) * n);
	bool	   *f_error_null = palloc(sizeof(bool) * n);
	Datum	   *f_start = palloc(sizeof(Datum) * n);
	Datum	   *r_id = palloc(sizeof(Datum) * n);
	Datum	   *r_delay = palloc(sizeof(Datum) * n);
	Datum	   *r_error = palloc(sizeof(Datum) * n);
	Datum	   *r_start = palloc(sizeof(Datum) * n);
	int			nf = 0,
				nr = 0;
	int			i;
	int			ret;

	for (i = 0; i < n; i++)
	{
		DwcJob	   *j = jobs[i];
		const char *status;

		count_outcome(j);
		if (j->outcome == DWC_JOB_FAILED && j->attempts < j->max_attempts)
		{
			r_id[nr] = Int64GetDatum(j->id);
			r_delay[nr] = Float8GetDatum(backoff_ms(j));
			r_error[nr] = CStringGetTextDatum(j->error ? j->error : "failed");
			r_start[nr] = TimestampTzGetDatum(j->started_at);
			nr++;
			continue;
		}
		status = j->outcome == DWC_JOB_SUCCEEDED ? "succeeded" :
			j->outcome == DWC_JOB_CANCELLED ? "cancelled" : "dead";
		f_id[nf] = Int64GetDatum(j->id);
		f_status[nf] = CStringGetTextDatum(status);
		f_result_null[nf] = (j->result == NULL);
		f_result[nf] = j->result ? JsonbPGetDatum(j->result) : (Datum) 0;
		f_error_null[nf] = (j->error == NULL);
		f_error[nf] = j->error ? CStringGetTextDatum(j->error) : (Datum) 0;
		f_start[nf] = TimestampTzGetDatum(j->started_at);
		nf++;
	}

	if (nf > 0)
	{
		Datum		args[6];

		args[0] = ARRAY_ARG(f_id, NULL, nf, INT8OID);
		args[1] = ARRAY_ARG(f_status, NULL, nf, TEXTOID);
		args[2] = ARRAY_ARG(f_result, f_result_null, nf, JSONBOID);
		args[3] = ARRAY_ARG(f_error, f_error_null, nf, TEXTOID);
		if (leased)
		{
			args[4] = Int32GetDatum(MyProcPid);
			args[5] = my_started_at();
			ret = SPI_execute_plan(finish_leased_plan, args, NULL, false, 0);
		}
		else
		{
			args[4] = ARRAY_ARG(f_start, NULL, nf, TIMESTAMPTZOID);
			args[5] = Int32GetDatum(MyProcPid);
			ret = SPI_execute_plan(finish_locked_plan, args, NULL, false, 0);
		}
		if (ret != SPI_OK_INSERT)
			elog(ERROR, "could not record finished jobs: %s", SPI_result_code_string(ret));
		if (leased && (int) SPI_processed != nf)
			ereport(WARNING,
					(errmsg("%d of %d finished leased jobs were no longer leased by this worker",
							nf - (int) SPI_processed, nf),
					 errdetail("Their leases expired and they were queued again; they will run again.")));
	}
	if (nr > 0)
	{
		Datum		args[5];

		args[0] = ARRAY_ARG(r_id, NULL, nr, INT8OID);
		args[1] = ARRAY_ARG(r_delay, NULL, nr, FLOAT8OID);
		args[2] = ARRAY_ARG(r_error, NULL, nr, TEXTOID);
		if (leased)
		{
			args[3] = Int32GetDatum(MyProcPid);
			args[4] = my_started_at();
			ret = SPI_execute_plan(retry_leased_plan, args, NULL, false, 0);
		}
		else
		{
			args[3] = ARRAY_ARG(r_start, NULL, nr, TIMESTAMPTZOID);
			ret = SPI_execute_plan(retry_locked_plan, args, NULL, false, 0);
		}
		if (ret != SPI_OK_UPDATE)
			elog(ERROR, "could not reschedule failed jobs: %s", SPI_result_code_string(ret));
	}
}

static void
lease_jobs(DwcJob **jobs, int n)
{
	Datum	   *ids = palloc(sizeof(Datum) * n);
	Datum		args[4];
	int			i;

	for (i = 0; i < n; i++)
		ids[i] = Int64GetDatum(jobs[i]->id);
	args[0] = ARRAY_ARG(ids, NULL, n, INT8OID);
	args[1] = Int64GetDatum((int64) dwc_job_lease_grace_ms);
	args[2] = Int32GetDatum(MyProcPid);
	args[3] = my_started_at();
	if (SPI_execute_plan(lease_plan, args, NULL, false, 0) != SPI_OK_UPDATE || (int) SPI_processed != n)
		elog(ERROR, "could not lease jobs");
}

/* Claim (lock) up to limit ready jobs, in priority order, into batch_cxt. */
static DwcJob *
claim(int limit, int *n)
{
	Datum		args[2];
	int			ret;
	uint64		i;
	DwcJob	   *jobs;
	MemoryContext old;

	args[0] = DwcPausedQueues();
	args[1] = Int32GetDatum(limit);
	ret = SPI_execute_plan(claim_plan, args, NULL, false, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not claim jobs: %s", SPI_result_code_string(ret));

	old = MemoryContextSwitchTo(batch_cxt);
	jobs = palloc0(sizeof(DwcJob) * Max(SPI_processed, 1));
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		DwcJob	   *j = &jobs[i];
		bool		isnull;
		Datum		sched;

		j->id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
		j->kind = TextDatumGetCString(SPI_getbinval(tup, desc, 2, &isnull));
		j->payload = DatumGetJsonbPCopy(SPI_getbinval(tup, desc, 3, &isnull));
		j->timeout_ms = DatumGetInt32(SPI_getbinval(tup, desc, 4, &isnull));
		j->role = DatumGetObjectId(SPI_getbinval(tup, desc, 5, &isnull));
		/* this run is the next attempt */
		j->attempts = DatumGetInt32(SPI_getbinval(tup, desc, 6, &isnull)) + 1;
		j->max_attempts = DatumGetInt32(SPI_getbinval(tup, desc, 7, &isnull));
		sched = SPI_getbinval(tup, desc, 8, &isnull);
		j->schedule_id = isnull ? 0 : DatumGetInt64(sched);
		j->priority = DatumGetInt16(SPI_getbinval(tup, desc, 9, &isnull));
		j->run_at = DatumGetTimestampTz(SPI_getbinval(tup, desc, 10, &isnull));
		j->user = SPI_getvalue(tup, desc, 11);
		sched = SPI_getbinval(tup, desc, 12, &isnull);
		j->scopes = isnull ? NULL : DatumGetArrayTypePCopy(sched);
	}
	*n = (int) SPI_processed;
	MemoryContextSwitchTo(old);
	SPI_freetuptable(SPI_tuptable);
	return jobs;
}

static void
begin_txn(const char *activity)
{
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, activity);
}

static void
end_txn(void)
{
	PopActiveSnapshot();
	SPI_finish();
	CommitTransactionCommand();
	pgstat_report_stat(false);
	pgstat_report_activity(STATE_IDLE, NULL);
}

/* In the current transaction: the outcomes of the first nrun leased jobs, which ran. */
static void
record_leased_run(int nrun)
{
	DwcJob	  **done;
	int			i;

	if (nrun <= 0)
		return;
	done = palloc(sizeof(DwcJob *) * nrun);
	for (i = 0; i < nrun; i++)
		done[i] = &leased_jobs[i];
	record_outcomes(done, nrun, true);
}

/* In the current transaction: every job this worker leases goes back to the queue, unrun. */
static void
release_my_leases(void)
{
	Datum		args[2];

	args[0] = Int32GetDatum(MyProcPid);
	args[1] = my_started_at();
	SPI_execute_plan(release_plan, args, NULL, false, 0);
}

/*
 * The postmaster has died.  Commit what the jobs run so far did (the
 * current transaction, begun with begin_txn) durably, then exit before
 * running anything more.  Committed asynchronously, as workers usually
 * commit, those outcomes would be lost in the crash restart (the WAL writer
 * is gone too) and the jobs would run again: webhooks sent twice.  A
 * synchronous_commit of "local" flushes our commit record, and every commit
 * before it, without waiting for standbys that may be gone as well.  Jobs
 * not run keep their row locks (released by the exit) or leases (found dead
 * after the restart): they run then, once.
 */
static void
commit_and_exit(void)
{
	SetConfigOption("synchronous_commit", "local", PGC_SUSET, PGC_S_OVERRIDE);
	end_txn();
	DwcJournalClear();
	ereport(LOG,
			(errmsg("dwc job worker exiting: the postmaster died"),
			 errdetail("The outcomes of the jobs it had run are committed; the others run after the restart.")));
	proc_exit(1);
}

/*
 * Asked to stop (a clean shutdown: SIGTERM, DwcStopGracefully): record the
 * outcomes of the nrun leased jobs run since the last commit, give back the
 * leases of those not run, commit, exit.  The jobs that ran are done once;
 * the others run next on whichever server takes over.
 */
static void pg_attribute_noreturn()
stop_and_exit(int nrun)
{
	HOLD_INTERRUPTS();
	begin_txn("dwc: record jobs, stopping");
	prepare_plans();
	record_leased_run(nrun);
	release_my_leases();
	/* flushed before we are gone: whoever waits for the workers to stop then sees it */
	SetConfigOption("synchronous_commit", "local", PGC_SUSET, PGC_S_OVERRIDE);
	end_txn();
	DwcJournalClear();
	RESUME_INTERRUPTS();
	ereport(LOG,
			(errmsg("dwc job worker stopping"),
			 errdetail("The outcomes of the %d jobs it had run are recorded; the jobs it had not run are given back.",
					   nrun)));
	proc_exit(0);
}

/* The postmaster died with leased jobs run but not recorded: record them, then exit. */
static void
record_leased_and_exit(int nrun)
{
	begin_txn("dwc: record jobs, the postmaster died");
	prepare_plans();
	record_leased_run(nrun);
	commit_and_exit();
}

/*
 * One iteration (see the file header).  Returns the number of jobs claimed.
 */
static int
iterate(void)
{
	DwcJob	   *jobs;
	DwcJob	  **in_txn;
	DwcJob	  **leased;
	int			n;
	int			n_in = 0;
	int			n_leased = 0;
	int			i;
	instr_time	start,
				elapsed;
	double		run_ms = 0;
	bool		orphaned = false;

	if (DwcPostmasterGone())
		record_leased_and_exit(nleased);
	if (DwcStopRequested)
		stop_and_exit(nleased);

	MemoryContextReset(batch_cxt);
	begin_txn("dwc: run jobs");
	DwcExitIfDropped();
	prepare_plans();

	record_leased_run(nleased);

	jobs = claim(batch_limit, &n);
	/* in batch_cxt: the leased jobs are read after this transaction (and its SPI memory) is gone */
	in_txn = MemoryContextAlloc(batch_cxt, sizeof(DwcJob *) * Max(n, 1));
	leased = MemoryContextAlloc(batch_cxt, sizeof(DwcJob *) * Max(n, 1));

	if (n > 0)
	{
		DwcJournalRecordBatch(jobs, n);
		if (n == 1)
			DwcSlotSetState("running job %lld (%s)", (long long) jobs[0].id, jobs[0].kind);
		else
			DwcSlotSetState("running %d jobs", n);

		INSTR_TIME_SET_CURRENT(start);
		for (i = 0; i < n; i++)
		{
			/* checked between jobs, where stopping loses nothing */
			if (DwcPostmasterGone())
			{
				orphaned = true;
				n = i;
				break;
			}
			if (DwcJobRunsInTransaction(&jobs[i]))
			{
				jobs[i].started_at = GetCurrentTimestamp();
				DwcRunJobInTransaction(&jobs[i], batch_cxt);
				jobs[i].finished_at = GetCurrentTimestamp();
				in_txn[n_in++] = &jobs[i];
				/*
				 * A job that ran SET CONSTRAINTS changed this transaction
				 * for every later job in it: end the batch here.  The jobs
				 * not run stay queued (their row locks go with the commit)
				 * and are claimed again at once.
				 */
				if (DwcJobSessionEndsBatch())
				{
					n = i + 1;
					break;
				}
			}
			else
				leased[n_leased++] = &jobs[i];
		}
		INSTR_TIME_SET_CURRENT(elapsed);
		INSTR_TIME_SUBTRACT(elapsed, start);
		run_ms = INSTR_TIME_GET_MILLISEC(elapsed);

		if (n_in > 0)
			record_outcomes(in_txn, n_in, false);
		if (orphaned)
			commit_and_exit();	/* leasing nothing */
		if (n_leased > 0)
			lease_jobs(leased, n_leased);
	}
	end_txn();
	DwcJournalClear();

	/* the jobs leased above run now, after the claiming transaction */
	MemoryContextReset(leased_cxt);
	nleased = 0;
	if (n_leased > 0)
	{
		leased_jobs = MemoryContextAllocZero(leased_cxt, sizeof(DwcJob) * n_leased);
		INSTR_TIME_SET_CURRENT(start);
		for (i = 0; i < n_leased; i++)
		{
			DwcJob	   *j = &leased_jobs[i];

			j->id = leased[i]->id;
			j->kind = MemoryContextStrdup(leased_cxt, leased[i]->kind);
			j->payload = (Jsonb *) MemoryContextAlloc(leased_cxt, VARSIZE(leased[i]->payload));
			memcpy(j->payload, leased[i]->payload, VARSIZE(leased[i]->payload));
			j->timeout_ms = leased[i]->timeout_ms;
			j->attempts = leased[i]->attempts;
			j->max_attempts = leased[i]->max_attempts;
			j->schedule_id = leased[i]->schedule_id;
			j->role = leased[i]->role;
			j->user = leased[i]->user ? MemoryContextStrdup(leased_cxt, leased[i]->user) : NULL;
			if (leased[i]->scopes)
			{
				j->scopes = (ArrayType *) MemoryContextAlloc(leased_cxt, VARSIZE(leased[i]->scopes));
				memcpy(j->scopes, leased[i]->scopes, VARSIZE(leased[i]->scopes));
			}
			j->started_at = GetCurrentTimestamp();
			if (DwcPostmasterGone())
				record_leased_and_exit(i);
			if (DwcStopRequested)
				stop_and_exit(i);
			pgstat_report_activity(STATE_RUNNING, "dwc: leased job");
			DwcSlotSetState("running job %lld (%s)", (long long) j->id, j->kind);
			DwcRunJobOutsideTransaction(j, leased_cxt);
			j->finished_at = GetCurrentTimestamp();
		}
		nleased = n_leased;
		INSTR_TIME_SET_CURRENT(elapsed);
		INSTR_TIME_SUBTRACT(elapsed, start);
		run_ms += INSTR_TIME_GET_MILLISEC(elapsed);
		pgstat_report_activity(STATE_IDLE, NULL);
	}

	/* slow jobs are claimed one at a time, so they do not hold up others */
	if (n > 0)
		batch_limit = (run_ms / n > (double) dwc_job_slow_ms) ? 1 : dwc_job_batch_size;
	if (n > 1 && n == batch_limit)
		DwcWakeIdleWorkers(MyDatabaseId, DwcJobWorkerKind, 1);	/* more work is likely waiting */
	return n;
}

/*
 * After an error in an iteration the transaction is gone, with the effects
 * of the batch's jobs.  Count an attempt for the jobs we were running (the
 * error may be theirs) and give back the jobs we lease.
 */
static void
recover_after_error(void)
{
	/* nothing to record: the iteration's transaction is gone */
	if (DwcPostmasterGone())
		proc_exit(1);
	begin_txn("dwc: recover after an error");
	prepare_plans();
	DwcJournalApplyOwn();
	DwcRecoverLostJobs();
	release_my_leases();
	end_txn();
}

/*
 * How long an idle worker sleeps before it looks again unwoken: the naptime,
 * or 20 times what its last fruitless look took when that is longer (at most
 * 30 s).  A look reads past every job it may not claim, a paused queue's
 * backlog or jobs not yet due: with two million jobs in a paused queue a
 * look took 190 ms, and one a second kept each worker a fifth busy finding
 * nothing.  New jobs wake a worker whatever this is; jobs that come due
 * (a delay, a retry's backoff) wait for the look.
 */
static long
poll_interval_ms(double last_look_ms)
{
	return (long) Max((double) dwc_naptime_ms, Min(20.0 * last_look_ms, 30000.0));
}

/*
 * The job worker's main loop.  Errors in an iteration are reported and
 * recovered from; an error while recovering ends the process (the launcher
 * starts a new worker).
 */
void
DwcJobWorkerLoop(void)
{
	volatile bool announced_idle = false;
	int			recovered;
	volatile double last_look_ms = 0;

	worker_cxt = AllocSetContextCreate(TopMemoryContext, "dwc job worker", ALLOCSET_DEFAULT_SIZES);
	batch_cxt = AllocSetContextCreate(worker_cxt, "dwc job batch", ALLOCSET_DEFAULT_SIZES);
	leased_cxt = AllocSetContextCreate(worker_cxt, "dwc leased jobs", ALLOCSET_DEFAULT_SIZES);
	batch_limit = dwc_job_batch_size;
	DwcJobRunInit();
	DwcJournalOpen();
	/* a clean shutdown lets the running job finish and records what ran (stop_and_exit) */
	DwcStopGracefully();

	/* count the jobs our predecessor was running when it died, before claiming */
	begin_txn("dwc: recover lost jobs");
	recovered = DwcRecoverLostJobs();
	end_txn();
	if (recovered > 0)
		ereport(LOG, (errmsg("dwc job worker recovered %d lost jobs", recovered)));

	for (;;)
	{
		volatile int claimed = 0;
		instr_time	look;

		if (DwcStopRequested)
			stop_and_exit(nleased);
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
			DwcWorkerSleep(0);	/* handles the reload */

		INSTR_TIME_SET_CURRENT(look);
		PG_TRY();
		{
			claimed = iterate();
		}
		PG_CATCH();
		{
			/* report, clean up, count and give back our jobs, carry on */
			MemoryContextSwitchTo(worker_cxt);
			AbortOutOfAnyTransaction();
			DwcExitQuietlyIfDropped();
			EmitErrorReport();
			FlushErrorState();
			QueryCancelPending = false;
			free_plans();
			nleased = 0;
			MemoryContextReset(leased_cxt);
			recover_after_error();
			claimed = 0;
			DwcWorkerSleep(dwc_naptime_ms);
		}
		PG_END_TRY();

		if (claimed == 0)
		{
			instr_time	now;

			INSTR_TIME_SET_CURRENT(now);
			INSTR_TIME_SUBTRACT(now, look);
			last_look_ms = INSTR_TIME_GET_MILLISEC(now);
		}
		if (claimed > 0)
		{
			if (announced_idle)
				DwcSlotSetIdle(false);
			announced_idle = false;
			continue;
		}
		if (!announced_idle)
		{
			/* announce, then look once more: a job committed meanwhile wakes us or is seen */
			DwcSlotSetIdle(true);
			announced_idle = true;
			continue;
		}
		DwcSlotSetState("idle");
		DwcWorkerSleep(poll_interval_ms(last_look_ms));

		/*
		 * Still announced (no enqueuer took our wake-up): the next look is
		 * the poll alone.  Announcing again would look twice a naptime, and
		 * over a paused queue's backlog each look reads all of it.
		 */
		announced_idle = DwcSlotIsIdle();
	}
}
