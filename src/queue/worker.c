/*-------------------------------------------------------------------------
 *
 * worker.c
 *		The job worker: claims batches of jobs, runs them, records results.
 *
 * One loop iteration is one transaction that (1) runs the in-transaction
 * jobs claimed by the previous iteration, (2) records the outcome of every
 * job of that batch (finished jobs move to dwc.job_history, failed ones are
 * rescheduled with backoff), and (3) claims the next batch.  Jobs of the
 * http kind run between iterations, outside any transaction.  Claiming
 * commits a lease (status running, attempts + 1, lease_until, our pid), so
 * a worker that dies leaves jobs that are recognisably lost and get retried.
 * src/queue/README.md has the whole life cycle and the guarantees.
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
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "core/dbworker.h"
#include "core/guc.h"
#include "core/shmem.h"
#include "queue/queue_internal.h"

/* a batch whose jobs took longer than this on average makes the next batch 1 job */
#define SLOW_JOB_MS 5.0

static MemoryContext worker_cxt;
static MemoryContext batch_cxt[2];
static int	cur = 0;			/* index of the batch being run */
static DwcJob *batch[2];
static int	nbatch[2];
static int	batch_limit;

static Datum paused_queues = (Datum) 0;	/* text[] in worker_cxt */
static uint32 queue_generation_seen = 0;

static SPIPlanPtr claim_plan;
static SPIPlanPtr finish_plan;
static SPIPlanPtr retry_plan;
static SPIPlanPtr schedule_plan;
static SPIPlanPtr paused_plan;
static SPIPlanPtr release_plan;

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
		Oid			t[5] = {TEXTARRAYOID, INT4OID, INT8OID, INT4OID, TIMESTAMPTZOID};

		claim_plan = prepare(
							 "WITH c AS ("
							 "  SELECT id, timeout_ms FROM dwc.jobs"
							 "   WHERE status IN ('queued', 'retry') AND run_at <= now()"
							 "     AND NOT (queue = ANY ($1))"
							 "   ORDER BY priority DESC, run_at, id"
							 "   LIMIT $2 FOR UPDATE SKIP LOCKED),"
							 " t AS (SELECT sum(timeout_ms)::int8 AS total FROM c)"
							 " UPDATE dwc.jobs j"
							 "    SET status = 'running', attempts = j.attempts + 1,"
							 "        started_at = clock_timestamp(),"
							 "        lease_until = clock_timestamp() + (t.total + $3) * interval '1 millisecond',"
							 "        worker_pid = $4, worker_started = $5"
							 "   FROM c, t WHERE j.id = c.id"
							 " RETURNING j.id, j.kind, j.payload, j.timeout_ms, j.enqueued_by,"
							 "           j.attempts, j.max_attempts, j.schedule_id, j.priority, j.run_at",
							 5, t);
	}
	{
		Oid			t[6] = {INT8ARRAYOID, TEXTARRAYOID, JSONBARRAYOID, TEXTARRAYOID, INT4OID, TIMESTAMPTZOID};

		finish_plan = prepare(
							  "WITH o AS (SELECT * FROM unnest($1::int8[], $2::text[], $3::jsonb[], $4::text[])"
							  "             AS o(id, status, result, error)),"
							  " d AS (DELETE FROM dwc.jobs j USING o"
							  "        WHERE j.id = o.id AND j.status = 'running'"
							  "          AND j.worker_pid = $5 AND j.worker_started = $6"
							  "        RETURNING j.*, o.status AS final_status, o.result AS final_result,"
							  "                  o.error AS final_error)"
							  " INSERT INTO dwc.job_history (id, queue, kind, name, payload, priority, status,"
							  "   run_at, attempts, max_attempts, timeout_ms, unique_key, schedule_id,"
							  "   enqueued_by, enqueued_user, created_at, started_at, finished_at, worker_pid,"
							  "   result, last_error)"
							  " SELECT id, queue, kind, name, payload, priority, final_status, run_at, attempts,"
							  "   max_attempts, timeout_ms, unique_key, schedule_id, enqueued_by, enqueued_user,"
							  "   created_at, started_at, clock_timestamp(), worker_pid, final_result,"
							  "   CASE WHEN final_status = 'succeeded' THEN NULL ELSE coalesce(final_error, last_error) END"
							  " FROM d",
							  6, t);
	}
	{
		Oid			t[5] = {INT8ARRAYOID, FLOAT8ARRAYOID, TEXTARRAYOID, INT4OID, TIMESTAMPTZOID};

		retry_plan = prepare(
							 "UPDATE dwc.jobs j"
							 "   SET status = 'retry', run_at = clock_timestamp() + o.delay_ms * interval '1 millisecond',"
							 "       last_error = o.error, lease_until = NULL, worker_pid = NULL, worker_started = NULL"
							 "  FROM unnest($1::int8[], $2::float8[], $3::text[]) AS o(id, delay_ms, error)"
							 " WHERE j.id = o.id AND j.status = 'running'"
							 "   AND j.worker_pid = $4 AND j.worker_started = $5",
							 5, t);
	}
	{
		Oid			t[3] = {INT8ARRAYOID, TEXTARRAYOID, TEXTARRAYOID};

		schedule_plan = prepare(
								"UPDATE dwc.schedules s"
								"   SET failure_count = CASE WHEN o.status = 'dead' THEN s.failure_count + 1 ELSE 0 END,"
								"       last_error = CASE WHEN o.status = 'dead' THEN o.error ELSE s.last_error END"
								"  FROM unnest($1::int8[], $2::text[], $3::text[]) AS o(schedule_id, status, error)"
								" WHERE s.id = o.schedule_id",
								3, t);
	}
	paused_plan = prepare("SELECT coalesce(array_agg(name), '{}') FROM dwc.queues WHERE paused", 0, NULL);
	{
		Oid			t[2] = {INT4OID, TIMESTAMPTZOID};

		release_plan = prepare(
							   "UPDATE dwc.jobs SET status = 'retry', run_at = clock_timestamp(),"
							   "       lease_until = NULL, worker_pid = NULL, worker_started = NULL"
							   " WHERE status = 'running' AND worker_pid = $1 AND worker_started = $2",
							   2, t);
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

static ArrayType *
make_array(Datum *values, bool *nulls, int n, Oid type)
{
	int16		typlen;
	bool		typbyval;
	char		typalign;
	int			dims[1] = {n};
	int			lbs[1] = {1};

	get_typlenbyvalalign(type, &typlen, &typbyval, &typalign);
	return construct_md_array(values, nulls, 1, dims, lbs, type, typlen, typbyval, typalign);
}

/*
 * Record the outcome of every job of the batch.  Raises an error if a job we
 * ran is no longer ours (its lease expired and another worker took it): the
 * transaction must then not commit, so that its effects do not happen twice.
 */
static void
complete_batch(DwcJob *jobs, int n)
{
	Datum	   *f_id = palloc(sizeof(Datum) * n);
	Datum	   *f_status = palloc(sizeof(Datum) * n);
	Datum	   *f_result = palloc(sizeof(Datum) * n);
	bool	   *f_result_null = palloc(sizeof(bool) * n);
	Datum	   *f_error = palloc(sizeof(Datum) * n);
	bool	   *f_error_null = palloc(sizeof(bool) * n);
	Datum	   *r_id = palloc(sizeof(Datum) * n);
	Datum	   *r_delay = palloc(sizeof(Datum) * n);
	Datum	   *r_error = palloc(sizeof(Datum) * n);
	Datum	   *s_id = palloc(sizeof(Datum) * n);
	Datum	   *s_status = palloc(sizeof(Datum) * n);
	Datum	   *s_error = palloc(sizeof(Datum) * n);
	bool	   *s_error_null = palloc(sizeof(bool) * n);
	int			nf = 0,
				nr = 0,
				ns = 0;
	int			i;
	int			ret;

	for (i = 0; i < n; i++)
	{
		DwcJob	   *j = &jobs[i];
		const char *status;

		if (j->outcome == DWC_JOB_FAILED && j->attempts < j->max_attempts)
		{
			r_id[nr] = Int64GetDatum(j->id);
			r_delay[nr] = Float8GetDatum(backoff_ms(j));
			r_error[nr] = CStringGetTextDatum(j->error ? j->error : "failed");
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
		nf++;
		if (j->schedule_id > 0 && j->outcome != DWC_JOB_CANCELLED)
		{
			s_id[ns] = Int64GetDatum(j->schedule_id);
			s_status[ns] = CStringGetTextDatum(status);
			s_error_null[ns] = (j->error == NULL);
			s_error[ns] = j->error ? CStringGetTextDatum(j->error) : (Datum) 0;
			ns++;
		}
	}

	if (nf > 0)
	{
		Datum		args[6];

		args[0] = PointerGetDatum(make_array(f_id, NULL, nf, INT8OID));
		args[1] = PointerGetDatum(make_array(f_status, NULL, nf, TEXTOID));
		args[2] = PointerGetDatum(make_array(f_result, f_result_null, nf, JSONBOID));
		args[3] = PointerGetDatum(make_array(f_error, f_error_null, nf, TEXTOID));
		args[4] = Int32GetDatum(MyProcPid);
		args[5] = my_started_at();
		ret = SPI_execute_plan(finish_plan, args, NULL, false, 0);
		if (ret != SPI_OK_INSERT)
			elog(ERROR, "could not record finished jobs: %s", SPI_result_code_string(ret));
		if ((int) SPI_processed != nf)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("%d of %d finished jobs are no longer leased by this worker",
							nf - (int) SPI_processed, nf),
					 errdetail("Their leases expired and other workers took them; this batch is rolled back.")));
	}
	if (nr > 0)
	{
		Datum		args[5];

		args[0] = PointerGetDatum(make_array(r_id, NULL, nr, INT8OID));
		args[1] = PointerGetDatum(make_array(r_delay, NULL, nr, FLOAT8OID));
		args[2] = PointerGetDatum(make_array(r_error, NULL, nr, TEXTOID));
		args[3] = Int32GetDatum(MyProcPid);
		args[4] = my_started_at();
		ret = SPI_execute_plan(retry_plan, args, NULL, false, 0);
		if (ret != SPI_OK_UPDATE)
			elog(ERROR, "could not reschedule failed jobs: %s", SPI_result_code_string(ret));
		if ((int) SPI_processed != nr)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("%d of %d failed jobs are no longer leased by this worker",
							nr - (int) SPI_processed, nr)));
	}
	if (ns > 0)
	{
		Datum		args[3];

		args[0] = PointerGetDatum(make_array(s_id, NULL, ns, INT8OID));
		args[1] = PointerGetDatum(make_array(s_status, NULL, ns, TEXTOID));
		args[2] = PointerGetDatum(make_array(s_error, s_error_null, ns, TEXTOID));
		ret = SPI_execute_plan(schedule_plan, args, NULL, false, 0);
		if (ret != SPI_OK_UPDATE)
			elog(ERROR, "could not update schedules: %s", SPI_result_code_string(ret));
	}
}

static void
refresh_paused_queues(void)
{
	uint32		gen = DwcQueueGeneration();
	bool		isnull;
	Datum		d;
	MemoryContext old;

	if (gen == queue_generation_seen && paused_queues != (Datum) 0)
		return;
	if (SPI_execute_plan(paused_plan, NULL, NULL, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not read paused queues");
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	old = MemoryContextSwitchTo(worker_cxt);
	if (paused_queues != (Datum) 0)
		pfree(DatumGetPointer(paused_queues));
	paused_queues = datumCopy(d, false, -1);
	MemoryContextSwitchTo(old);
	queue_generation_seen = gen;
}

/* claim order: priority (higher first), then run_at, then id */
static int
job_order(const void *a, const void *b)
{
	const DwcJob *x = (const DwcJob *) a;
	const DwcJob *y = (const DwcJob *) b;

	if (x->priority != y->priority)
		return x->priority > y->priority ? -1 : 1;
	if (x->run_at != y->run_at)
		return x->run_at < y->run_at ? -1 : 1;
	return x->id < y->id ? -1 : (x->id > y->id ? 1 : 0);
}

/* Claim up to limit jobs into batch slot b; returns how many. */
static int
claim(int b, int limit)
{
	Datum		args[5];
	int			ret;
	uint64		i;
	MemoryContext old;

	args[0] = paused_queues;
	args[1] = Int32GetDatum(limit);
	args[2] = Int64GetDatum((int64) dwc_job_lease_grace_ms);
	args[3] = Int32GetDatum(MyProcPid);
	args[4] = my_started_at();
	ret = SPI_execute_plan(claim_plan, args, NULL, false, 0);
	if (ret != SPI_OK_UPDATE_RETURNING)
		elog(ERROR, "could not claim jobs: %s", SPI_result_code_string(ret));

	old = MemoryContextSwitchTo(batch_cxt[b]);
	batch[b] = palloc0(sizeof(DwcJob) * Max(SPI_processed, 1));
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		DwcJob	   *j = &batch[b][i];
		bool		isnull;
		Datum		sched;

		j->id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
		j->kind = TextDatumGetCString(SPI_getbinval(tup, desc, 2, &isnull));
		j->payload = DatumGetJsonbPCopy(SPI_getbinval(tup, desc, 3, &isnull));
		j->timeout_ms = DatumGetInt32(SPI_getbinval(tup, desc, 4, &isnull));
		j->role = DatumGetObjectId(SPI_getbinval(tup, desc, 5, &isnull));
		j->attempts = DatumGetInt32(SPI_getbinval(tup, desc, 6, &isnull));
		j->max_attempts = DatumGetInt32(SPI_getbinval(tup, desc, 7, &isnull));
		sched = SPI_getbinval(tup, desc, 8, &isnull);
		j->schedule_id = isnull ? 0 : DatumGetInt64(sched);
		j->priority = DatumGetInt16(SPI_getbinval(tup, desc, 9, &isnull));
		j->run_at = DatumGetTimestampTz(SPI_getbinval(tup, desc, 10, &isnull));
	}
	nbatch[b] = (int) SPI_processed;
	/* UPDATE ... RETURNING does not keep the claim's order: restore it */
	if (nbatch[b] > 1)
		qsort(batch[b], nbatch[b], sizeof(DwcJob), job_order);
	MemoryContextSwitchTo(old);
	SPI_freetuptable(SPI_tuptable);
	return nbatch[b];
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

/*
 * One iteration: run the current batch, record its outcomes, claim the next.
 * Returns the number of jobs claimed.
 */
static int
iterate(void)
{
	int			c = cur;
	int			next = 1 - cur;
	int			n = nbatch[c];
	int			i;
	int			claimed;
	instr_time	start,
				elapsed;

	INSTR_TIME_SET_CURRENT(start);
	if (n > 0)
	{
		if (n == 1)
			DwcSlotSetState("running job %lld (%s)", (long long) batch[c][0].id, batch[c][0].kind);
		else
			DwcSlotSetState("running %d jobs", n);
	}

	/* jobs that wait on the network run with no transaction open */
	for (i = 0; i < n; i++)
	{
		if (!DwcJobRunsInTransaction(&batch[c][i]))
		{
			pgstat_report_activity(STATE_RUNNING, "dwc: http job");
			DwcRunJobOutsideTransaction(&batch[c][i], batch_cxt[c]);
		}
	}

	begin_txn("dwc: run and claim jobs");
	prepare_plans();
	for (i = 0; i < n; i++)
	{
		if (DwcJobRunsInTransaction(&batch[c][i]))
			DwcRunJobInTransaction(&batch[c][i], batch_cxt[c]);
	}
	INSTR_TIME_SET_CURRENT(elapsed);
	INSTR_TIME_SUBTRACT(elapsed, start);
	if (n > 0)
		complete_batch(batch[c], n);

	refresh_paused_queues();
	MemoryContextReset(batch_cxt[next]);
	claimed = claim(next, batch_limit);
	end_txn();

	/* slow jobs are claimed one at a time, so they do not hold up others */
	if (n > 0)
		batch_limit = (INSTR_TIME_GET_MILLISEC(elapsed) / n > SLOW_JOB_MS) ? 1 : dwc_job_batch_size;
	if (claimed > 1 && claimed == batch_limit)
		DwcWakeIdleJobWorkers(MyDatabaseId, 1);	/* more work is likely waiting */

	MemoryContextReset(batch_cxt[c]);
	nbatch[c] = 0;
	cur = next;
	return claimed;
}

/*
 * After an error in an iteration: the transaction is gone, and with it any
 * effects of the batch's jobs.  Give back every job we hold so that it runs
 * again (its attempt has been counted).
 */
static void
release_claims(void)
{
	nbatch[0] = nbatch[1] = 0;
	MemoryContextReset(batch_cxt[0]);
	MemoryContextReset(batch_cxt[1]);

	begin_txn("dwc: release jobs");
	prepare_plans();
	{
		Datum		args[2];

		args[0] = Int32GetDatum(MyProcPid);
		args[1] = my_started_at();
		SPI_execute_plan(release_plan, args, NULL, false, 0);
	}
	end_txn();
}

/*
 * Requeue jobs whose worker is gone (not in the registry any more) or whose
 * lease expired; those out of attempts become dead.  Runs in the caller's
 * transaction with SPI connected.  Returns the number of jobs recovered.
 */
int
DwcRecoverLostJobs(void)
{
	int			ret;

	ret = SPI_execute(
					  "WITH lost AS ("
					  "  SELECT j.id, CASE WHEN j.lease_until < clock_timestamp() THEN 'lease expired'"
					  "         ELSE format('worker %s stopped while running the job', j.worker_pid) END AS why"
					  "    FROM dwc.jobs j"
					  "   WHERE j.status = 'running'"
					  "     AND (j.lease_until < clock_timestamp()"
					  "          OR NOT EXISTS (SELECT 1 FROM dwc.status() s"
					  "                          WHERE s.pid = j.worker_pid AND s.started_at = j.worker_started))"
					  "   FOR UPDATE OF j SKIP LOCKED),"
					  " dead AS ("
					  "  DELETE FROM dwc.jobs j USING lost"
					  "   WHERE j.id = lost.id AND j.attempts >= j.max_attempts"
					  "  RETURNING j.*, lost.why),"
					  " buried AS ("
					  "  INSERT INTO dwc.job_history (id, queue, kind, name, payload, priority, status, run_at,"
					  "    attempts, max_attempts, timeout_ms, unique_key, schedule_id, enqueued_by,"
					  "    enqueued_user, created_at, started_at, finished_at, worker_pid, result, last_error)"
					  "  SELECT id, queue, kind, name, payload, priority, 'dead', run_at, attempts, max_attempts,"
					  "    timeout_ms, unique_key, schedule_id, enqueued_by, enqueued_user, created_at,"
					  "    started_at, clock_timestamp(), worker_pid, NULL, why FROM dead RETURNING 1),"
					  " requeued AS ("
					  "  UPDATE dwc.jobs j SET status = 'retry', run_at = clock_timestamp(), lease_until = NULL,"
					  "         worker_pid = NULL, worker_started = NULL, last_error = lost.why"
					  "    FROM lost WHERE j.id = lost.id AND j.attempts < j.max_attempts RETURNING 1)"
					  " SELECT (SELECT count(*) FROM buried) + (SELECT count(*) FROM requeued)",
					  false, 1);
	if (ret != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not recover lost jobs: %s", SPI_result_code_string(ret));
	{
		bool		isnull;

		return (int) DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	}
}

/*
 * The job worker's main loop; returns only if the extension disappears
 * (the caller then waits for it again).
 */
void
DwcJobWorkerLoop(void)
{
	volatile bool announced_idle = false;
	int			recovered;

	worker_cxt = AllocSetContextCreate(TopMemoryContext, "dwc job worker", ALLOCSET_DEFAULT_SIZES);
	batch_cxt[0] = AllocSetContextCreate(worker_cxt, "dwc job batch 0", ALLOCSET_DEFAULT_SIZES);
	batch_cxt[1] = AllocSetContextCreate(worker_cxt, "dwc job batch 1", ALLOCSET_DEFAULT_SIZES);
	batch_limit = dwc_job_batch_size;
	DwcJobRunInit();

	begin_txn("dwc: recover lost jobs");
	recovered = DwcRecoverLostJobs();
	end_txn();
	if (recovered > 0)
		ereport(LOG, (errmsg("dwc job worker recovered %d lost jobs", recovered)));

	for (;;)
	{
		volatile int claimed = 0;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}

		PG_TRY();
		{
			claimed = iterate();
		}
		PG_CATCH();
		{
			/* report, clean up, give our jobs back, and carry on */
			MemoryContextSwitchTo(worker_cxt);
			EmitErrorReport();
			FlushErrorState();
			AbortOutOfAnyTransaction();
			QueryCancelPending = false;
			claim_plan = NULL;	/* re-prepare: the error may be a dropped table */
			release_claims();
			claimed = 0;
			DwcWorkerSleep(dwc_naptime_ms);
		}
		PG_END_TRY();

		if (claimed > 0)
		{
			if (announced_idle)
				DwcSlotSetIdle(false);
			announced_idle = false;
			continue;
		}
		if (nbatch[cur] > 0)
			continue;
		if (!announced_idle)
		{
			/* announce, then look once more: a job committed meanwhile wakes us or is seen */
			DwcSlotSetIdle(true);
			announced_idle = true;
			continue;
		}
		DwcSlotSetState("idle");
		DwcWorkerSleep(dwc_naptime_ms);
		announced_idle = false;
	}
}
