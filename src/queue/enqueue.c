/*-------------------------------------------------------------------------
 *
 * enqueue.c
 *		Putting jobs into the queue: dwc.enqueue(), dwc.enqueue_many() and
 *		DwcEnqueue() for other subsystems (the scheduler, chains ...).
 *
 * A job is one row inserted into dwc.jobs by the enqueuing transaction, so
 * a rollback leaves no trace.  The row records the enqueuing role (the job
 * will run as that role) and the user id from PostgREST's request claims.
 * Idle job workers are woken when the transaction commits.
 *
 * src/queue/enqueue.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "core/arrays.h"
#include "core/errors.h"
#include "core/guc.h"
#include "core/owner.h"
#include "core/shmem.h"
#include "queue/queue.h"
#include "queue/queue_internal.h"
#include "security/identity.h"
#include "queue/settings.h"

PG_FUNCTION_INFO_V1(dwc_priority_value);
PG_FUNCTION_INFO_V1(dwc_enqueue);
PG_FUNCTION_INFO_V1(dwc_enqueue_many);

static SPIPlanPtr insert_plan = NULL;
static SPIPlanPtr existing_plan = NULL;
static bool insert_has_scopes = false;	/* insert_plan records the job's scopes */

static const struct
{
	const char *name;
	int16		value;
} priority_names[] = {
	{"critical", 20},
	{"high", 10},
	{"normal", 0},
	{"low", -10},
};

/*
 * A priority given as a name (critical, high, normal, low) or as an integer
 * in text form, -1000 to 1000.  Higher numbers run first.
 */
int16
DwcParsePriority(const char *text)
{
	int			i;
	char	   *end;
	long		v;

	for (i = 0; i < (int) lengthof(priority_names); i++)
	{
		if (pg_strcasecmp(text, priority_names[i].name) == 0)
			return priority_names[i].value;
	}
	errno = 0;
	v = strtol(text, &end, 10);
	if (*text == '\0' || *end != '\0' || errno != 0 ||
		v < DWC_PRIORITY_MIN || v > DWC_PRIORITY_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid priority \"%s\"", text),
				 errhint("Use critical, high, normal or low, or an integer from %d to %d (higher runs first).",
						 DWC_PRIORITY_MIN, DWC_PRIORITY_MAX)));
	return (int16) v;
}

/*
 * Does dwc.jobs have the scopes column?  Not in a database still at 0.1.0,
 * whose sessions enqueue with this library until ALTER EXTENSION dwc UPDATE.
 */
static bool
jobs_have_scopes(void)
{
	Oid			nsp = get_namespace_oid("dwc", false);
	Oid			rel = get_relname_relid("jobs", nsp);

	return OidIsValid(rel) && get_attnum(rel, "scopes") != InvalidAttrNumber;
}

static void
prepare_plans(void)
{
	if (insert_plan == NULL)
	{
		Oid			types[13] = {TEXTOID, TEXTOID, TEXTOID, JSONBOID, INT2OID, TIMESTAMPTZOID,
		INT4OID, INT4OID, TEXTOID, INT8OID, OIDOID, TEXTOID, TEXTARRAYOID};
		SPIPlanPtr	p;

		insert_has_scopes = jobs_have_scopes();
		p = SPI_prepare(insert_has_scopes ?
						"INSERT INTO dwc.jobs (queue, kind, name, payload, priority, run_at, "
						"max_attempts, timeout_ms, unique_key, schedule_id, enqueued_by, enqueued_user, "
						"scopes) "
						"VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) "
						"ON CONFLICT (unique_key) WHERE unique_key IS NOT NULL DO NOTHING "
						"RETURNING id" :
						"INSERT INTO dwc.jobs (queue, kind, name, payload, priority, run_at, "
						"max_attempts, timeout_ms, unique_key, schedule_id, enqueued_by, enqueued_user) "
						"VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) "
						"ON CONFLICT (unique_key) WHERE unique_key IS NOT NULL DO NOTHING "
						"RETURNING id", insert_has_scopes ? 13 : 12, types);
		if (p == NULL)
			elog(ERROR, "could not prepare the enqueue statement: %s", SPI_result_code_string(SPI_result));
		SPI_keepplan(p);
		insert_plan = p;
	}
	if (existing_plan == NULL)
	{
		Oid			types[1] = {TEXTOID};
		SPIPlanPtr	p = SPI_prepare("SELECT id FROM dwc.jobs WHERE unique_key = $1", 1, types);

		if (p == NULL)
			elog(ERROR, "could not prepare the enqueue statement: %s", SPI_result_code_string(SPI_result));
		SPI_keepplan(p);
		existing_plan = p;
	}
}

static int
cmp_int64(const void *a, const void *b)
{
	int64		x = *(const int64 *) a,
				y = *(const int64 *) b;

	return x < y ? -1 : x > y;
}

/* {}: the payload of a job given none, made once per backend (not parsed a job at a time) */
static Jsonb *
empty_object(void)
{
	static Jsonb *empty = NULL;

	if (empty == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		empty = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum("{}")));
		MemoryContextSwitchTo(old);
	}
	return empty;
}

/* a job's row, checked: the parameters of the insert (see prepare_plans) */
typedef struct JobRow
{
	Datum		values[13];
	char		nulls[13];
	bool		due;			/* to run now: wake a worker at commit */
} JobRow;

/*
 * Check a job and make its row, to run as role (the role it will run as) on
 * behalf of user (the request's subject, may be NULL).
 */
static void
job_row(const DwcJobSpec *spec, Oid role, const char *user, TimestampTz now, JobRow *row)
{
	DwcJobKind	kind;
	ArrayType  *scopes;
	TimestampTz run_at = spec->run_at != 0 ? spec->run_at : now;
	int32		timeout_ms;
	int32		max_attempts;
	Datum	   *values = row->values;
	char	   *nulls = row->nulls;

	if (!DwcLookupJobKind(spec->kind, &kind))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("job kind \"%s\" does not exist", spec->kind),
				 errhint("Built-in kinds are noop, sql and http; register others with dwc.register_job_kind().")));
	/* work made through an API key keeps its scopes, and may not be more than they allow */
	scopes = spec->scopes_given ? spec->scopes : DwcCurrentScopesArray();
	DwcCheckKindScopes(&kind, scopes);
	DwcValidateJobPayload(&kind, spec->payload, role);
	DwcCheckQueueName(spec->queue ? spec->queue : "default");
	if (spec->name && strlen(spec->name) > DWC_MAX_NAME_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_STRING_DATA_RIGHT_TRUNCATION),
				 errmsg("job name is longer than %d characters", DWC_MAX_NAME_LEN)));
	if (spec->unique_key && (strlen(spec->unique_key) == 0 || strlen(spec->unique_key) > DWC_MAX_NAME_LEN))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unique_key must have 1 to %d characters", DWC_MAX_NAME_LEN)));

	timeout_ms = spec->timeout_ms > 0 ? spec->timeout_ms :
		kind.default_timeout_ms > 0 ? kind.default_timeout_ms : dwc_job_timeout_ms;
	max_attempts = spec->max_attempts > 0 ? spec->max_attempts :
		kind.default_max_attempts > 0 ? kind.default_max_attempts : dwc_job_max_attempts;

	memset(nulls, ' ', sizeof(row->nulls));
	values[0] = CStringGetTextDatum(spec->queue ? spec->queue : "default");
	values[1] = CStringGetTextDatum(spec->kind);
	if (spec->name)
		values[2] = CStringGetTextDatum(spec->name);
	else
		nulls[2] = 'n';
	values[3] = spec->payload ? JsonbPGetDatum(spec->payload) : JsonbPGetDatum(empty_object());
	values[4] = Int16GetDatum(spec->priority);
	values[5] = TimestampTzGetDatum(run_at);
	values[6] = Int32GetDatum(max_attempts);
	values[7] = Int32GetDatum(timeout_ms);
	if (spec->unique_key)
		values[8] = CStringGetTextDatum(spec->unique_key);
	else
		nulls[8] = 'n';
	if (spec->schedule_id > 0)
		values[9] = Int64GetDatum(spec->schedule_id);
	else
		nulls[9] = 'n';
	values[10] = ObjectIdGetDatum(role);
	if (user)
		values[11] = CStringGetTextDatum(user);
	else
		nulls[11] = 'n';
	if (scopes)
		values[12] = PointerGetDatum(scopes);
	else
		nulls[12] = 'n';
	row->due = run_at <= now;
}

/*
 * Enqueue one job as role (the role it will run as) on behalf of user (the
 * request's subject, may be NULL).  Returns the job id; with a unique key,
 * the id of the active job holding that key if there is one.
 */
int64
DwcEnqueue(const DwcJobSpec *spec, Oid role, const char *user)
{
	JobRow		row;
	Datum	   *values = row.values;
	char	   *nulls = row.nulls;
	bool		scoped;
	volatile int64 id = 0;
	int			attempt;
	DwcSavedUser save;

	job_row(spec, role, user, GetCurrentTimestamp(), &row);
	scoped = nulls[12] != 'n';

	/* the caller needs no privileges on dwc.jobs: the functions are the interface */
	DwcBecomeOwner(&save);
	PG_TRY();
	{
		SPI_connect();
		/* prepared before ALTER EXTENSION UPDATE added the column: prepare again */
		if (insert_plan != NULL && !insert_has_scopes && scoped)
		{
			SPI_freeplan(insert_plan);
			insert_plan = NULL;
		}
		prepare_plans();
		/* scoped work must keep its scopes, or not be made at all */
		if (scoped && !insert_has_scopes)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("dwc in this database is older than its library"),
					 errhint("Run ALTER EXTENSION dwc UPDATE.")));
		for (attempt = 0; attempt < 3 && id == 0; attempt++)
		{
			bool		isnull;
			int			ret = SPI_execute_plan(insert_plan, values, nulls, false, 0);

			if (ret != SPI_OK_INSERT_RETURNING)
				elog(ERROR, "enqueue failed: %s", SPI_result_code_string(ret));
			if (SPI_processed == 1)
			{
				id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
				/* a job for later is picked up by polling (or the scheduler's wake-up) */
				if (row.due && !DwcQueueIsPaused(spec->queue ? spec->queue : "default"))
					DwcWakeIdleWorkersAtCommit(DwcJobWorkerKind, 1);
				break;
			}
			/* an active job holds the unique key: return it */
			ret = SPI_execute_plan(existing_plan, &values[8], NULL, false, 1);
			if (ret == SPI_OK_SELECT && SPI_processed == 1)
				id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		}
		SPI_finish();
	}
	PG_FINALLY();
	{
		DwcRestoreUser(&save);
	}
	PG_END_TRY();

	if (id == 0)
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("could not enqueue job with unique key \"%s\": the key changed hands repeatedly",
						spec->unique_key)));
	return id;
}

/* An interval as milliseconds, for timeouts: positive, at most a day, no months. */
static int32
interval_to_timeout_ms(Interval *iv, const char *what)
{
	int64		ms;

	if (iv->month != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not be given in months or years", what)));
	ms = (int64) iv->day * (USECS_PER_DAY / 1000) + iv->time / 1000;
	if (ms <= 0 || ms > (USECS_PER_DAY / 1000))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be between 1 millisecond and 1 day", what)));
	return (int32) ms;
}

static TimestampTz
run_at_from(bool have_run_at, TimestampTz run_at, Interval *delay)
{
	if (have_run_at && delay != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("give run_at or delay, not both")));
	if (delay != NULL)
	{
		if (delay->month < 0 || delay->day < 0 || delay->time < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("delay must not be negative")));
		return DatumGetTimestampTz(DirectFunctionCall2(timestamptz_pl_interval,
													   TimestampTzGetDatum(GetCurrentTimestamp()),
													   IntervalPGetDatum(delay)));
	}
	return have_run_at ? run_at : 0;
}

static int32
check_max_attempts(int32 v)
{
	if (v < 1 || v > 1000)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_attempts must be between 1 and 1000, not %d", v)));
	return v;
}

/*
 * dwc.enqueue(kind, payload, queue, priority, run_at, delay, max_attempts,
 *			   timeout, unique_key, name) returns bigint
 */
Datum
dwc_enqueue(PG_FUNCTION_ARGS)
{
	DwcJobSpec	spec;

	memset(&spec, 0, sizeof(spec));
	DWC_REQUIRE_ARG(0, "kind");
	spec.kind = text_to_cstring(PG_GETARG_TEXT_PP(0));
	spec.payload = PG_ARGISNULL(1) ? NULL : PG_GETARG_JSONB_P(1);
	spec.queue = PG_ARGISNULL(2) ? "default" : text_to_cstring(PG_GETARG_TEXT_PP(2));
	spec.priority = PG_ARGISNULL(3) ? 0 : DwcParsePriority(text_to_cstring(PG_GETARG_TEXT_PP(3)));
	spec.run_at = run_at_from(!PG_ARGISNULL(4), PG_ARGISNULL(4) ? 0 : PG_GETARG_TIMESTAMPTZ(4),
							  PG_ARGISNULL(5) ? NULL : PG_GETARG_INTERVAL_P(5));
	spec.max_attempts = PG_ARGISNULL(6) ? 0 : check_max_attempts(PG_GETARG_INT32(6));
	spec.timeout_ms = PG_ARGISNULL(7) ? 0 : interval_to_timeout_ms(PG_GETARG_INTERVAL_P(7), "timeout");
	spec.unique_key = DWC_TEXT_ARG_OR_NULL(8);
	spec.name = DWC_TEXT_ARG_OR_NULL(9);

	PG_RETURN_INT64(DwcEnqueue(&spec, DwcEffectiveUserId(), DwcCurrentUserId()));
}

/* ---- enqueue_many ------------------------------------------------------- */

/* jobs inserted by one statement: the rows a batch holds before it is written */
#define BATCH_ROWS 1000

static SPIPlanPtr batch_plan = NULL;

/*
 * The rows of a batch, none with a unique key, all of one role, user and
 * scopes (one call of enqueue_many): one INSERT ... SELECT over arrays, as a
 * plain insert of that many rows would be, rather than a statement a job.
 * The arrays are unnested in the select list (side by side, as they are
 * as long as each other), which streams their rows where unnest in FROM
 * would first copy them into a tuplestore.  The ids come back in the order
 * of the rows: the sequence is drawn in the order unnest gives them.
 */
static void
insert_batch(JobRow *rows, int n, ReturnSetInfo *rsinfo)
{
	static const Oid elem[8] = {TEXTOID, TEXTOID, TEXTOID, JSONBOID, INT2OID, TIMESTAMPTZOID, INT4OID, INT4OID};
	Oid			types[11] = {TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID, JSONBARRAYOID, INT2ARRAYOID,
	TIMESTAMPTZARRAYOID, INT4ARRAYOID, INT4ARRAYOID, OIDOID, TEXTOID, TEXTARRAYOID};
	Datum		args[11];
	char		nulls[11];
	Datum	   *col = palloc(sizeof(Datum) * n);
	bool	   *colnull = palloc(sizeof(bool) * n);
	int64	   *ids = palloc(sizeof(int64) * n);
	int			due = 0;
	DwcSavedUser save;

	for (int c = 0; c < 8; c++)
	{
		for (int r = 0; r < n; r++)
		{
			col[r] = rows[r].values[c];
			colnull[r] = rows[r].nulls[c] == 'n';
		}
		args[c] = DwcArrayDatum(col, colnull, n, elem[c]);
		nulls[c] = ' ';
	}
	for (int c = 8; c < 11; c++)
	{
		args[c] = rows[0].values[c + 2];
		nulls[c] = rows[0].nulls[c + 2];
	}
	DwcBecomeOwner(&save);
	PG_TRY();
	{
		SPI_connect();
		for (int r = 0; r < n; r++)
			due += rows[r].due && !DwcQueueIsPaused(TextDatumGetCString(rows[r].values[0]));
		if (batch_plan == NULL)
		{
			SPIPlanPtr	p = SPI_prepare("INSERT INTO dwc.jobs (queue, kind, name, payload, priority, run_at, "
										"max_attempts, timeout_ms, enqueued_by, enqueued_user, scopes) "
										"SELECT unnest($1), unnest($2), unnest($3), unnest($4), unnest($5), "
										"unnest($6), unnest($7), unnest($8), $9, $10, $11 "
										"RETURNING id", 11, types);

			if (p == NULL)
				elog(ERROR, "could not prepare the enqueue statement: %s", SPI_result_code_string(SPI_result));
			SPI_keepplan(p);
			batch_plan = p;
		}
		if (SPI_execute_plan(batch_plan, args, nulls, false, 0) != SPI_OK_INSERT_RETURNING ||
			SPI_processed != (uint64) n)
			elog(ERROR, "enqueue failed: %s", SPI_result_code_string(SPI_result));
		for (int r = 0; r < n; r++)
		{
			bool		isnull;

			ids[r] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1, &isnull));
		}
		SPI_finish();
	}
	PG_FINALLY();
	{
		DwcRestoreUser(&save);
	}
	PG_END_TRY();
	/* a job for later is picked up by polling (or the scheduler's wake-up) */
	if (due > 0)
		DwcWakeIdleWorkersAtCommit(DwcJobWorkerKind, due);
	/* drawn in the order of the rows, the ids ascend with it */
	qsort(ids, n, sizeof(int64), cmp_int64);
	for (int r = 0; r < n; r++)
	{
		Datum		id = Int64GetDatum(ids[r]);
		bool		isnull = false;

		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, &id, &isnull);
	}
}


static char *
json_text(JsonbValue *v, const char *key, int index)
{
	if (v->type == jbvString)
		return pnstrdup(v->val.string.val, v->val.string.len);
	if (v->type == jbvNumeric)
		return DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v->val.numeric)));
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("job %d: \"%s\" must be a string", index, key)));
	return NULL;
}

static int32
json_int(JsonbValue *v, const char *key, int index)
{
	if (v->type == jbvNumeric)
	{
		bool		err = false;
		int32		r = numeric_int4_opt_error(v->val.numeric, &err);

		if (!err)
			return r;
	}
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("job %d: \"%s\" must be an integer", index, key)));
	return 0;
}

/* Fill a job spec from one element of the enqueue_many array. */
static void
spec_from_json(JsonbValue *elem, int index, const char *default_kind, DwcJobSpec *spec)
{
	JsonbIterator *it;
	JsonbIteratorToken tok;
	JsonbValue	v;
	char	   *key = NULL;
	bool		have_run_at = false;
	TimestampTz run_at = 0;
	Interval   *delay = NULL;

	memset(spec, 0, sizeof(*spec));
	spec->kind = default_kind;
	spec->queue = "default";

	if (elem->type != jbvBinary || !JsonContainerIsObject(elem->val.binary.data))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("job %d: each job must be a JSON object", index)));

	it = JsonbIteratorInit(elem->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
		{
			key = pnstrdup(v.val.string.val, v.val.string.len);
			continue;
		}
		if (tok != WJB_VALUE)
			continue;
		if (v.type == jbvNull)
			continue;
		if (strcmp(key, "kind") == 0)
			spec->kind = json_text(&v, key, index);
		else if (strcmp(key, "payload") == 0)
		{
			if (v.type != jbvBinary)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("job %d: \"payload\" must be a JSON object", index)));
			spec->payload = JsonbValueToJsonb(&v);
		}
		else if (strcmp(key, "queue") == 0)
			spec->queue = json_text(&v, key, index);
		else if (strcmp(key, "priority") == 0)
			spec->priority = DwcParsePriority(json_text(&v, key, index));
		else if (strcmp(key, "run_at") == 0)
		{
			have_run_at = true;
			run_at = DatumGetTimestampTz(DirectFunctionCall3(timestamptz_in,
															 CStringGetDatum(json_text(&v, key, index)),
															 ObjectIdGetDatum(InvalidOid),
															 Int32GetDatum(-1)));
		}
		else if (strcmp(key, "delay") == 0)
			delay = DatumGetIntervalP(DirectFunctionCall3(interval_in,
														  CStringGetDatum(json_text(&v, key, index)),
														  ObjectIdGetDatum(InvalidOid),
														  Int32GetDatum(-1)));
		else if (strcmp(key, "max_attempts") == 0)
			spec->max_attempts = check_max_attempts(json_int(&v, key, index));
		else if (strcmp(key, "timeout") == 0)
			spec->timeout_ms = interval_to_timeout_ms(
				DatumGetIntervalP(DirectFunctionCall3(interval_in,
													  CStringGetDatum(json_text(&v, key, index)),
													  ObjectIdGetDatum(InvalidOid),
													  Int32GetDatum(-1))), "timeout");
		else if (strcmp(key, "unique_key") == 0)
			spec->unique_key = json_text(&v, key, index);
		else if (strcmp(key, "name") == 0)
			spec->name = json_text(&v, key, index);
		else
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("job %d: unknown key \"%s\"", index, key),
					 errhint("Known keys: kind, payload, queue, priority, run_at, delay, max_attempts, "
							 "timeout, unique_key, name.")));
	}
	spec->run_at = run_at_from(have_run_at, run_at, delay);
	if (spec->kind == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("job %d has no kind", index),
				 errhint("Give \"kind\" in each job, or as the second argument of dwc.enqueue_many().")));
}

static void
enqueue_many_context(void *arg)
{
	errcontext("job %d of the array", *(int *) arg);
}

/* dwc.enqueue_many(jobs jsonb, kind text) returns setof bigint */
Datum
dwc_enqueue_many(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Jsonb	   *jobs;
	const char *default_kind;
	char	   *user;
	JsonbIterator *it;
	JsonbIteratorToken tok;
	JsonbValue	v;
	int			index = 0;
	MemoryContext per_job;
	MemoryContext oldcxt;
	ErrorContextCallback errcallback;
	JobRow	   *batch;
	int			nbatch = 0;
	bool		batchable;
	TimestampTz now;

	DWC_REQUIRE_ARG(0, "jobs");
	jobs = PG_GETARG_JSONB_P(0);
	default_kind = DWC_TEXT_ARG_OR_NULL(1);
	if (!JB_ROOT_IS_ARRAY(jobs) || JB_ROOT_IS_SCALAR(jobs))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("jobs must be a JSON array of job objects")));

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	user = DwcCurrentUserId();
	per_job = AllocSetContextCreate(CurrentMemoryContext, "dwc enqueue_many", ALLOCSET_DEFAULT_SIZES);

	errcallback.callback = enqueue_many_context;
	errcallback.arg = &index;
	errcallback.previous = error_context_stack;
	error_context_stack = &errcallback;

	/*
	 * Jobs go in batches of BATCH_ROWS rows, one statement each; a job with a
	 * unique key goes alone (after the batch before it), since it may be
	 * answered by the active job holding its key.  Only a database that has
	 * the scopes column (0.2.0) takes batches.
	 */
	oldcxt = MemoryContextSwitchTo(per_job);
	batch = palloc(sizeof(JobRow) * BATCH_ROWS);
	MemoryContextSwitchTo(oldcxt);
	batchable = jobs_have_scopes();
	now = GetCurrentTimestamp();
	it = JsonbIteratorInit(&jobs->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		DwcJobSpec	spec;

		if (tok != WJB_ELEM)
			continue;
		CHECK_FOR_INTERRUPTS();
		index++;
		oldcxt = MemoryContextSwitchTo(per_job);
		spec_from_json(&v, index, default_kind, &spec);
		if (spec.unique_key != NULL || !batchable)
		{
			Datum		id;
			bool		isnull = false;

			if (nbatch > 0)
				insert_batch(batch, nbatch, rsinfo);
			nbatch = 0;
			id = Int64GetDatum(DwcEnqueue(&spec, DwcEffectiveUserId(), user));
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, &id, &isnull);
		}
		else
		{
			job_row(&spec, DwcEffectiveUserId(), user, now, &batch[nbatch++]);
			if (nbatch == BATCH_ROWS)
				insert_batch(batch, nbatch, rsinfo);
		}
		MemoryContextSwitchTo(oldcxt);
		if (nbatch == 0 || nbatch == BATCH_ROWS)
		{
			/* what was read and written so far is in the table: start again */
			nbatch = 0;
			MemoryContextReset(per_job);
			oldcxt = MemoryContextSwitchTo(per_job);
			batch = palloc(sizeof(JobRow) * BATCH_ROWS);
			MemoryContextSwitchTo(oldcxt);
		}
	}
	if (nbatch > 0)
	{
		oldcxt = MemoryContextSwitchTo(per_job);
		insert_batch(batch, nbatch, rsinfo);
		MemoryContextSwitchTo(oldcxt);
	}
	error_context_stack = errcallback.previous;
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(dwc__enqueue_as);

/*
 * dwc._enqueue_as(kind, payload, role, user_id, scopes, max_attempts,
 * priority, run_at) returns bigint: a job that runs as role and dwc user
 * user_id under the API-key scopes given (NULL: none).  Private (not
 * executable by PUBLIC): dwc's SECURITY DEFINER functions enqueue with it on
 * behalf of their caller (a chain continued in the background), or of an
 * object's owner whoever noticed the trigger (an automation's run, a
 * workflow's step, a notification's delivery); the scopes are given because
 * the session that enqueues is not always the one that made the object.
 */
Datum
dwc__enqueue_as(PG_FUNCTION_ARGS)
{
	DwcJobSpec	spec;

	DWC_REQUIRE_ARG(0, "kind");
	DWC_REQUIRE_ARG(2, "role");
	memset(&spec, 0, sizeof(spec));
	spec.kind = text_to_cstring(PG_GETARG_TEXT_PP(0));
	spec.payload = PG_ARGISNULL(1) ? NULL : PG_GETARG_JSONB_P(1);
	spec.queue = "default";
	spec.scopes_given = true;
	spec.scopes = PG_ARGISNULL(4) ? NULL : PG_GETARG_ARRAYTYPE_P(4);
	spec.max_attempts = PG_ARGISNULL(5) ? 0 : PG_GETARG_INT32(5);
	spec.priority = DwcParsePriority(PG_ARGISNULL(6) ? "normal" : text_to_cstring(PG_GETARG_TEXT_PP(6)));
	spec.run_at = PG_ARGISNULL(7) ? 0 : PG_GETARG_TIMESTAMPTZ(7);
	PG_RETURN_INT64(DwcEnqueue(&spec, PG_GETARG_OID(2),
							   PG_ARGISNULL(3) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(3))));
}

/* dwc.priority_value(text) returns smallint */
Datum
dwc_priority_value(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT16(DwcParsePriority(text_to_cstring(PG_GETARG_TEXT_PP(0))));
}
