/*-------------------------------------------------------------------------
 *
 * scheduler.c
 *		The scheduler worker of a database.
 *
 * Each iteration is one transaction that
 *  - fires every due schedule: enqueues its job, records the run, and moves
 *    next_run_at forward, all in that transaction, so each fire time is
 *    handled exactly once whatever crashes or restarts happen (the run's
 *    primary key (schedule_id, fire_time) also guards against it);
 * then sleeps until the next fire time (or dwc.naptime, or a wake-up from a
 * schedule change).  It does nothing else, so that nothing delays a fire:
 * the periodic maintenance has a worker of its own (core/maintenance.c).
 * src/scheduler/README.md has the firing rules.
 *
 * src/scheduler/scheduler.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "core/dbworker.h"
#include "core/guc.h"
#include "core/registry.h"
#include "core/shmem.h"
#include "queue/queue.h"
#include "security/identity.h"
#include "scheduler/cron.h"
#include "scheduler/scheduler.h"
#include "queue/settings.h"
#include "scheduler/settings.h"

#define FIRE_BATCH 100

/*
 * Jobs of schedules (except overlap = skip ones, whose check belongs to the
 * fire time) are enqueued up to this long before their fire time, with
 * run_at = fire time; at the fire time the scheduler only has to wake job
 * workers, which start the job within a millisecond or so.
 */
#define LOOKAHEAD_MS 500
#define MAX_WAKES 256
#define SPIN_US 3000			/* see fire_wakes() */

/* upcoming fire times of jobs already enqueued: wake that many workers then */
typedef struct PendingWake
{
	TimestampTz at;
	int			count;
} PendingWake;

static PendingWake wakes[MAX_WAKES];
static int	nwakes = 0;

static void
add_wake(TimestampTz at)
{
	int			i;

	for (i = 0; i < nwakes; i++)
	{
		if (wakes[i].at == at)
		{
			wakes[i].count++;
			return;
		}
	}
	if (nwakes < MAX_WAKES)
	{
		wakes[nwakes].at = at;
		wakes[nwakes].count = 1;
		nwakes++;
	}
	/* else: the job still starts, at the workers' next poll */
}

/* Wake workers for fire times that have come; returns the next wake time or 0. */
static TimestampTz
fire_wakes(void)
{
	TimestampTz now = GetCurrentTimestamp();
	TimestampTz next = 0;
	int			i = 0;

	/*
	 * A timed sleep ends a millisecond or more late (rounding, and the time a
	 * sleeping CPU takes to wake); so the loop sleeps until shortly before a
	 * wake time and spins the last stretch, which keeps job starts within a
	 * millisecond or so of their fire times.
	 */
	for (i = 0; i < nwakes; i++)
	{
		while (wakes[i].at > now && wakes[i].at - now <= SPIN_US)
			now = GetCurrentTimestamp();
	}
	i = 0;

	while (i < nwakes)
	{
		if (wakes[i].at <= now)
		{
			DwcWakeIdleWorkers(MyDatabaseId, DwcJobWorkerKind, wakes[i].count);
			wakes[i] = wakes[--nwakes];
			continue;
		}
		if (next == 0 || wakes[i].at < next)
			next = wakes[i].at;
		i++;
	}
	return next;
}

typedef struct DueSchedule
{
	int64		id;
	Oid			owner;
	char	   *owner_user;
	char	   *schedule;
	char	   *timezone;
	char	   *job_kind;
	Jsonb	   *job_payload;
	char	   *job_queue;
	int16		job_priority;
	int32		job_max_attempts;
	int32		job_timeout_ms;
	bool		overlap_skip;
	bool		misfire_skip;
	TimestampTz anchor;
	TimestampTz next_run_at;
	int64		last_job_id;
	ArrayType  *scopes;			/* of the API key that made the schedule; NULL: none */
} DueSchedule;

static char *
get_text(HeapTuple tup, TupleDesc desc, int col)
{
	return SPI_getvalue(tup, desc, col);
}

static int64
get_int8(HeapTuple tup, TupleDesc desc, int col, int64 ifnull)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tup, desc, col, &isnull);

	return isnull ? ifnull : DatumGetInt64(d);
}

static int32
get_int4(HeapTuple tup, TupleDesc desc, int col, int32 ifnull)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tup, desc, col, &isnull);

	return isnull ? ifnull : DatumGetInt32(d);
}

static bool
job_active(int64 job_id)
{
	Datum		arg = Int64GetDatum(job_id);
	Oid			type = INT8OID;

	if (job_id == 0)
		return false;
	if (SPI_execute_with_args("SELECT 1 FROM dwc.jobs WHERE id = $1", 1, &type, &arg, NULL, true, 1)
		!= SPI_OK_SELECT)
		elog(ERROR, "could not check the previous job of a schedule");
	return SPI_processed > 0;
}

/*
 * Enqueue the schedule's job in a subtransaction; returns the job id, or 0
 * with *error set when enqueueing failed (owner dropped, kind gone ...).
 */
static int64
enqueue_for(DueSchedule *s, TimestampTz run_at, char **error)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	volatile int64 job_id = 0;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcxt);
	PG_TRY();
	{
		DwcJobSpec	spec;

		memset(&spec, 0, sizeof(spec));
		spec.kind = s->job_kind;
		spec.payload = s->job_payload;
		spec.queue = s->job_queue;
		spec.priority = s->job_priority;
		spec.run_at = run_at;
		spec.max_attempts = s->job_max_attempts;
		spec.timeout_ms = s->job_timeout_ms;
		spec.schedule_id = s->id;
		spec.scopes_given = true;
		spec.scopes = s->scopes;
		job_id = DwcEnqueue(&spec, s->owner, s->owner_user);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(oldcxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;
		*error = edata->message;
		job_id = 0;
	}
	PG_END_TRY();
	return job_id;
}

/* Handle one due schedule (locked by the caller's query). */
static void
fire_one(DueSchedule *s)
{
	TimestampTz now = GetCurrentTimestamp();
	TimestampTz fire_time = s->next_run_at;
	bool		missed = (now - fire_time) > (int64) dwc_scheduler_misfire_grace_ms * 1000;
	const char *outcome;
	char	   *detail = NULL;
	int64		job_id = 0;
	TimestampTz next;
	DwcScheduleSpec spec;
	pg_tz	   *tz;
	Datum		args[6];
	char		nulls[6] = {' ', ' ', ' ', ' ', ' ', ' '};
	Oid			types[6] = {INT8OID, TIMESTAMPTZOID, INT8OID, TEXTOID, TEXTOID, TIMESTAMPTZOID};
	int			ret;

	DwcParseScheduleSpec(s->schedule, &spec);
	tz = DwcLookupTimezone(s->timezone);

	if (missed && s->misfire_skip)
	{
		outcome = "skipped_misfire";
		detail = psprintf("fire time missed by %s; misfire policy is skip",
						  DatumGetCString(DirectFunctionCall1(interval_out,
															  DirectFunctionCall2(timestamp_mi,
																				  TimestampTzGetDatum(now),
																				  TimestampTzGetDatum(fire_time)))));
	}
	else if (s->overlap_skip && job_active(s->last_job_id))
	{
		outcome = "skipped_overlap";
		detail = psprintf("job %lld of the previous run is still active", (long long) s->last_job_id);
	}
	else
	{
		char	   *error = NULL;

		job_id = enqueue_for(s, missed ? now : fire_time, &error);
		if (job_id != 0)
		{
			outcome = "enqueued";
			if (!missed && fire_time > now)
				add_wake(fire_time);
			if (missed)
				detail = pstrdup("caught up after missed fire times (misfire policy run_once)");
		}
		else
		{
			outcome = "failed";
			detail = error;
		}
	}

	/* a missed schedule resumes from now; otherwise every fire time counts */
	next = DwcScheduleNext(&spec, tz, missed ? now : fire_time, s->anchor);

	args[0] = Int64GetDatum(s->id);
	args[1] = TimestampTzGetDatum(fire_time);
	args[2] = Int64GetDatum(job_id);
	if (job_id == 0)
		nulls[2] = 'n';
	args[3] = CStringGetTextDatum(outcome);
	if (detail)
		args[4] = CStringGetTextDatum(detail);
	else
		nulls[4] = 'n';
	args[5] = TimestampTzGetDatum(next);
	ret = SPI_execute_with_args(
								"WITH run AS ("
								"  INSERT INTO dwc.schedule_runs (schedule_id, fire_time, fired_at, job_id, outcome, detail)"
								"  VALUES ($1, $2, clock_timestamp(), $3, $4, $5)"
								"  ON CONFLICT DO NOTHING RETURNING 1)"
								" UPDATE dwc.schedules SET next_run_at = $6, updated_at = now(),"
								"   last_run_at = CASE WHEN $3 IS NULL THEN last_run_at ELSE $2 END,"
								"   last_job_id = coalesce($3, last_job_id),"
								"   failure_count = CASE WHEN $4 = 'failed' THEN failure_count + 1 ELSE failure_count END,"
								"   last_error = CASE WHEN $4 = 'failed' THEN $5 ELSE last_error END"
								" WHERE id = $1",
								6, types, args, nulls, false, 0);
	if (ret != SPI_OK_UPDATE)
		elog(ERROR, "could not record the run of schedule %lld", (long long) s->id);
}

/* Fire due schedules, FIRE_BATCH at a time; returns how many were handled. */
static int
fire_due(void)
{
	int			total = 0;

	for (;;)
	{
		int			ret;
		uint64		n;
		uint64		i;
		DueSchedule *due;

		ret = SPI_execute(psprintf("SELECT id, owner, owner_user, schedule, timezone, job_kind, job_payload,"
								   "       job_queue, job_priority, job_max_attempts, job_timeout_ms,"
								   "       overlap = 'skip', misfire = 'skip', anchor, next_run_at, last_job_id, scopes"
								   "  FROM dwc.schedules"
								   " WHERE enabled AND next_run_at <= clock_timestamp() +"
								   "       CASE WHEN overlap = 'skip' THEN interval '0' ELSE interval '%d ms' END"
								   " ORDER BY next_run_at LIMIT %d"
								   " FOR UPDATE SKIP LOCKED", LOOKAHEAD_MS, FIRE_BATCH), false, 0);
		if (ret != SPI_OK_SELECT)
			elog(ERROR, "could not read due schedules: %s", SPI_result_code_string(ret));
		n = SPI_processed;
		if (n == 0)
			break;

		/* copy out: firing runs more SPI statements */
		due = palloc0(sizeof(DueSchedule) * n);
		for (i = 0; i < n; i++)
		{
			HeapTuple	tup = SPI_tuptable->vals[i];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			DueSchedule *s = &due[i];
			bool		isnull;

			s->id = get_int8(tup, desc, 1, 0);
			s->owner = DatumGetObjectId(SPI_getbinval(tup, desc, 2, &isnull));
			s->owner_user = get_text(tup, desc, 3);
			s->schedule = get_text(tup, desc, 4);
			s->timezone = get_text(tup, desc, 5);
			s->job_kind = get_text(tup, desc, 6);
			s->job_payload = DatumGetJsonbPCopy(SPI_getbinval(tup, desc, 7, &isnull));
			s->job_queue = get_text(tup, desc, 8);
			s->job_priority = DatumGetInt16(SPI_getbinval(tup, desc, 9, &isnull));
			s->job_max_attempts = get_int4(tup, desc, 10, 0);
			s->job_timeout_ms = get_int4(tup, desc, 11, 0);
			s->overlap_skip = DatumGetBool(SPI_getbinval(tup, desc, 12, &isnull));
			s->misfire_skip = DatumGetBool(SPI_getbinval(tup, desc, 13, &isnull));
			s->anchor = DatumGetTimestampTz(SPI_getbinval(tup, desc, 14, &isnull));
			s->next_run_at = DatumGetTimestampTz(SPI_getbinval(tup, desc, 15, &isnull));
			s->last_job_id = get_int8(tup, desc, 16, 0);
			{
				Datum		d = SPI_getbinval(tup, desc, 17, &isnull);

				s->scopes = isnull ? NULL : DatumGetArrayTypePCopy(d);
			}
		}
		SPI_freetuptable(SPI_tuptable);

		for (i = 0; i < n; i++)
		{
			/* the firing transaction would be lost in the crash restart: stop */
			if (DwcPostmasterGone())
				proc_exit(1);
			fire_one(&due[i]);
		}
		total += (int) n;
		if (n < FIRE_BATCH)
			break;
	}
	return total;
}

/* When the next schedule is due for firing (enqueueing), or 0 if never. */
static TimestampTz
next_fire_time(void)
{
	bool		isnull;
	Datum		d;

	if (SPI_execute(psprintf("SELECT min(CASE WHEN overlap = 'skip' THEN next_run_at"
							 "                ELSE next_run_at - interval '%d ms' END)"
							 "  FROM dwc.schedules WHERE enabled", LOOKAHEAD_MS), true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read the next fire time");
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return isnull ? 0 : DatumGetTimestampTz(d);
}

/*
 * Fire what is due and find when the next schedule is, in a transaction.
 * An error ends the scheduler (the launcher starts another), quietly when
 * DROP EXTENSION took the tables from under it.
 */
static void
poll_schedules(MemoryContext loop_cxt, int *fired, TimestampTz *next_due)
{
	PG_TRY();
	{
		SetCurrentStatementStartTimestamp();
		StartTransactionCommand();
		DwcExitIfDropped();
		SPI_connect();
		PushActiveSnapshot(GetTransactionSnapshot());
		pgstat_report_activity(STATE_RUNNING, "dwc: scheduler");

		*fired = fire_due();
		*next_due = next_fire_time();

		PopActiveSnapshot();
		SPI_finish();
		CommitTransactionCommand();
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(loop_cxt);
		AbortOutOfAnyTransaction();
		DwcExitQuietlyIfDropped();
		PG_RE_THROW();
	}
	PG_END_TRY();
}

void
DwcSchedulerLoop(void)
{
	TimestampTz next_due = 0;	/* when a schedule next needs firing, 0: none */
	TimestampTz poll_at = 0;	/* re-read the schedules by then in any case */
	bool		woken = true;
	MemoryContext loop_cxt = AllocSetContextCreate(TopMemoryContext, "dwc scheduler",
												   ALLOCSET_DEFAULT_SIZES);

	for (;;)
	{
		TimestampTz now;
		TimestampTz next;
		TimestampTz next_wake;
		long		sleep_ms;
		int			fired = 0;

		(void) fire_wakes();
		now = GetCurrentTimestamp();

		/*
		 * Touch the database only when there is something to do: a wake-up
		 * at a fire time needs no transaction, and running one then would
		 * compete with the job worker for the CPU.
		 */
		if (woken || now >= poll_at || (next_due != 0 && next_due <= now))
		{
			MemoryContextSwitchTo(loop_cxt);
			poll_schedules(loop_cxt, &fired, &next_due);
			pgstat_report_stat(false);
			pgstat_report_activity(STATE_IDLE, NULL);
			MemoryContextSwitchTo(loop_cxt);
			MemoryContextReset(loop_cxt);
			poll_at = GetCurrentTimestamp() + (int64) dwc_naptime_ms * 1000;

			if (fired > 0)
				DwcSlotSetState("fired %d schedule%s", fired, fired == 1 ? "" : "s");
			else
				DwcSlotSetState("idle");
		}

		/*
		 * Sleep until the next of: a fire time to wake workers for (minus the
		 * spin), a schedule to fire, the poll.
		 */
		next = poll_at;
		next_wake = fire_wakes();
		if (next_wake != 0)
			next = Min(next, next_wake - SPIN_US);
		if (next_due != 0)
			next = Min(next, next_due);
		now = GetCurrentTimestamp();
		sleep_ms = next <= now ? 0 : (long) ((next - now + 999) / 1000);
		if (sleep_ms > 0)
			woken = (DwcWorkerSleep(sleep_ms) & WL_LATCH_SET) != 0;
		else
		{
			CHECK_FOR_INTERRUPTS();
			woken = false;
		}
	}
}

/* ---- SQL ------------------------------------------------------------------ */

PG_FUNCTION_INFO_V1(dwc_cron_next);
PG_FUNCTION_INFO_V1(dwc__schedule_next);
PG_FUNCTION_INFO_V1(dwc__validate_job);
PG_FUNCTION_INFO_V1(dwc__wake_scheduler);

/* dwc.cron_next(expression, from, n, timezone) returns setof timestamptz */
Datum
dwc_cron_next(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *expr = text_to_cstring(PG_GETARG_TEXT_PP(0));
	TimestampTz t = PG_GETARG_TIMESTAMPTZ(1);
	int32		n = PG_GETARG_INT32(2);
	pg_tz	   *tz = DwcLookupTimezone(text_to_cstring(PG_GETARG_TEXT_PP(3)));
	TimestampTz anchor = t;
	DwcScheduleSpec spec;
	int			i;

	if (n < 1 || n > 10000)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("n must be between 1 and 10000, not %d", n)));
	DwcParseScheduleSpec(expr, &spec);
	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	for (i = 0; i < n; i++)
	{
		Datum		v;
		bool		isnull = false;

		t = DwcScheduleNext(&spec, tz, t, anchor);
		v = TimestampTzGetDatum(t);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, &v, &isnull);
	}
	PG_RETURN_VOID();
}

/* dwc._schedule_next(schedule, timezone, after, anchor) returns timestamptz */
Datum
dwc__schedule_next(PG_FUNCTION_ARGS)
{
	char	   *schedule = text_to_cstring(PG_GETARG_TEXT_PP(0));
	pg_tz	   *tz = DwcLookupTimezone(text_to_cstring(PG_GETARG_TEXT_PP(1)));
	DwcScheduleSpec spec;

	DwcParseScheduleSpec(schedule, &spec);
	PG_RETURN_TIMESTAMPTZ(DwcScheduleNext(&spec, tz, PG_GETARG_TIMESTAMPTZ(2), PG_GETARG_TIMESTAMPTZ(3)));
}

/* dwc._validate_job(kind, payload, queue, role) */
Datum
dwc__validate_job(PG_FUNCTION_ARGS)
{
	char	   *kindname = text_to_cstring(PG_GETARG_TEXT_PP(0));
	DwcJobKind	kind;

	if (!DwcLookupJobKind(kindname, &kind))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("job kind \"%s\" does not exist", kindname),
				 errhint("Built-in kinds are noop, sql and http; register others with dwc.register_job_kind().")));
	DwcCheckKindScopes(&kind, DwcCurrentScopesArray());
	DwcValidateJobPayload(&kind, PG_GETARG_JSONB_P(1), PG_GETARG_OID(3));
	DwcCheckQueueName(text_to_cstring(PG_GETARG_TEXT_PP(2)));
	PG_RETURN_VOID();
}

Datum
dwc__wake_scheduler(PG_FUNCTION_ARGS)
{
	DwcWakeWorkersAtCommit(DwcSchedulerWorkerKind);
	PG_RETURN_VOID();
}
