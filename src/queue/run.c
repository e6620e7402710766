/*-------------------------------------------------------------------------
 *
 * run.c
 *		Running one job: built-in kinds (noop, sql, http) and SQL function
 *		kinds, as the enqueuing role, within the job's time limit.
 *
 * Jobs of kinds that are not leased run inside the worker's transaction,
 * each in its own subtransaction: a failing job rolls back alone, and a
 * successful one commits together with its completion (so a sql job's
 * effects happen exactly once).  The job runs with the enqueuing role as current user and
 * SECURITY_LOCAL_USERID_CHANGE set, so SET ROLE cannot escape it; whatever
 * it leaves in the session (settings, temporary objects, cursors, prepared
 * statements ...) is removed when it ends (isolation.c).
 *
 * Leased kinds (dwc.job_kinds.leased) run after the claiming transaction
 * has committed, their rows leased rather than locked, so a slow job (an AI
 * call, training) holds no batch's locks: http jobs with no transaction
 * open at all, function kinds in a transaction of their own.  Their
 * outcome is recorded in the worker's next transaction, so they run at
 * least once rather than exactly once.
 *
 * A handler that returns {"ok": false, ...} ends its job dead at once,
 * keeping what it wrote (a failure another attempt cannot fix); an error
 * rolls the handler back and is retried with backoff.
 *
 * Time limits and cancellation set QueryCancelPending, like a statement
 * timeout; the resulting error is recognised and described as such.
 *
 * src/queue/run.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>

#include "access/xact.h"
#include "catalog/pg_authid.h"
#include "executor/spi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "storage/latch.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/regproc.h"
#include "utils/snapmgr.h"
#include "utils/resowner.h"
#include "utils/syscache.h"
#include "utils/timeout.h"
#include "utils/timestamp.h"

#include "core/dbworker.h"
#include "core/http.h"
#include "core/shmem.h"
#include "queue/queue_internal.h"
#include "security/identity.h"

static TimeoutId job_timeout_id;
static TimeoutId stop_grace_id;	/* ticks while a job runs: a stop past its grace ends it */
static volatile sig_atomic_t job_timed_out = false;
static volatile sig_atomic_t job_cancelled = false;
static volatile int64 running_job_id = 0;

static void
job_timeout_handler(void)
{
	job_timed_out = true;
	QueryCancelPending = true;
	InterruptPending = true;
	SetLatch(MyLatch);
}

static void
stop_grace_handler(void)
{
	if (DwcStopRequested)
		DwcEnforceStopGrace();
}

/*
 * A job's timers, armed and disarmed together (one setitimer each way, on
 * the path every job takes): its timeout (none when timeout_ms is 0), and a
 * tick a second that counts the grace of a stop requested while it runs.
 */
static void
job_timers_on(int timeout_ms)
{
	EnableTimeoutParams t[2];
	int			n = 0;

	t[n].id = stop_grace_id;
	t[n].type = TMPARAM_EVERY;
	t[n].delay_ms = 1000;
	t[n].fin_time = 0;
	n++;
	if (timeout_ms > 0)
	{
		t[n].id = job_timeout_id;
		t[n].type = TMPARAM_AFTER;
		t[n].delay_ms = timeout_ms;
		t[n].fin_time = 0;
		n++;
	}
	enable_timeouts(t, n);
}

static void
job_timers_off(void)
{
	DisableTimeoutParams t[2] = {{stop_grace_id, false}, {job_timeout_id, false}};

	disable_timeouts(t, 2);
}

/* SIGUSR2: dwc.cancel_job() asks us to stop the job we are running */
static void
job_cancel_handler(SIGNAL_ARGS)
{
	int			save_errno = errno;

	if (MyDwcSlot != NULL && running_job_id != 0 &&
		MyDwcSlot->cancel_job_id == running_job_id)
	{
		job_cancelled = true;
		QueryCancelPending = true;
		InterruptPending = true;
	}
	SetLatch(MyLatch);
	errno = save_errno;
}

PG_FUNCTION_INFO_V1(dwc_current_job_id);

/* dwc.current_job_id(): the job the calling code runs in, or NULL outside jobs. */
Datum
dwc_current_job_id(PG_FUNCTION_ARGS)
{
	if (running_job_id == 0)
		PG_RETURN_NULL();
	PG_RETURN_INT64(running_job_id);
}

void
DwcJobRunInit(void)
{
	job_timeout_id = RegisterTimeout(USER_TIMEOUT, job_timeout_handler);
	stop_grace_id = RegisterTimeout(USER_TIMEOUT, stop_grace_handler);
	pqsignal(SIGUSR2, job_cancel_handler);
	DwcJobIsolationInit();
}

bool
DwcJobRunsInTransaction(const DwcJob *job)
{
	DwcJobKind	kind;

	/* an unknown kind fails in the transaction, where its outcome is recorded */
	return !DwcLookupJobKind(job->kind, &kind) || !kind.leased;
}

static void
set_running(int64 id)
{
	running_job_id = id;
	job_timed_out = false;
	job_cancelled = false;
	if (MyDwcSlot)
	{
		SpinLockAcquire(&MyDwcSlot->mutex);
		MyDwcSlot->current_job_id = id;
		MyDwcSlot->progress_job = 0;	/* a job's progress ends with it */
		SpinLockRelease(&MyDwcSlot->mutex);
	}
}

/* Was cancellation of this job requested before it started? */
static bool
cancel_requested(int64 id)
{
	bool		r = false;

	if (MyDwcSlot)
	{
		SpinLockAcquire(&MyDwcSlot->mutex);
		r = (MyDwcSlot->cancel_job_id == id);
		SpinLockRelease(&MyDwcSlot->mutex);
	}
	return r;
}

static Jsonb *
jsonb_from_text(const char *s)
{
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(s)));
}

static char *
payload_text(Jsonb *payload, const char *key)
{
	JsonbValue	buf;
	JsonbValue *v = getKeyJsonValueFromContainer(&payload->root, key, strlen(key), &buf);

	if (v == NULL || v->type != jbvString)
		return NULL;
	return pnstrdup(v->val.string.val, v->val.string.len);
}

/* ---- kinds that run in the transaction ---------------------------------- */

static Jsonb *
run_sql(DwcJob *job)
{
	char	   *sql = payload_text(job->payload, "sql");
	int			ret;
	char	   *result;

	if (sql == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("payload of sql job %lld has no \"sql\" string", (long long) job->id)));
	ret = SPI_execute(sql, false, 0);
	if (ret < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("sql job %lld failed: %s", (long long) job->id, SPI_result_code_string(ret))));
	result = psprintf("{\"rows\": " UINT64_FORMAT "}", SPI_processed);
	if (SPI_tuptable)
		SPI_freetuptable(SPI_tuptable);
	return jsonb_from_text(result);
}

static Jsonb *
run_function(DwcJob *job, const DwcJobKind *kind)
{
	FmgrInfo	flinfo;
	LOCAL_FCINFO(fcinfo, 1);
	Datum		result;

	if (pg_proc_aclcheck(kind->handler, GetUserId(), ACL_EXECUTE) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for function %s", format_procedure(kind->handler))));
	fmgr_info(kind->handler, &flinfo);
	InitFunctionCallInfoData(*fcinfo, &flinfo, 1, InvalidOid, NULL, NULL);
	fcinfo->args[0].value = JsonbPGetDatum(job->payload);
	fcinfo->args[0].isnull = false;
	result = FunctionCallInvoke(fcinfo);
	if (fcinfo->isnull)
		return NULL;
	return DatumGetJsonbPCopy(result);
}

static char *
error_text(ErrorData *edata)
{
	if (edata->detail)
		return psprintf("%s (%s)", edata->message, edata->detail);
	return pstrdup(edata->message);
}

/*
 * A handler's result {"ok": false, "error": "..."}: the job failed, and no
 * retry can fix it.  Sets *error (in the current memory context).
 */
static bool
reports_failure(Jsonb *result, char **error)
{
	JsonbValue *ok;
	JsonbValue *msg;

	if (!JB_ROOT_IS_OBJECT(result))
		return false;
	ok = getKeyJsonValueFromContainer(&result->root, "ok", 2, NULL);
	if (ok == NULL || ok->type != jbvBool || ok->val.boolean)
		return false;
	msg = getKeyJsonValueFromContainer(&result->root, "error", 5, NULL);
	if (msg != NULL && msg->type == jbvString)
		*error = pnstrdup(msg->val.string.val, msg->val.string.len);
	else
		*error = pstrdup("the job's handler reported a failure");
	return true;
}

/* whether the kind names this error as one no other attempt can fix */
static bool
is_final_error(const DwcJobKind *kind, int sqlerrcode)
{
	for (int i = 0; i < kind->nfinal; i++)
		if (kind->final_errors[i] == sqlerrcode)
			return true;
	return false;
}

/*
 * The job ends dead at once with {"ok": false, "sqlstate", "error"}, as if
 * its handler had caught the error and said so (in the current context).
 */
static void
final_failure(DwcJob *job, ErrorData *edata)
{
	StringInfoData r;

	initStringInfo(&r);
	appendStringInfo(&r, "{\"ok\": false, \"sqlstate\": \"%s\", \"error\": ", unpack_sql_state(edata->sqlerrcode));
	escape_json(&r, edata->message ? edata->message : "");
	appendStringInfoChar(&r, '}');
	job->result = jsonb_from_text(r.data);
	job->error = pstrdup(edata->message ? edata->message : "");
	job->outcome = DWC_JOB_FAILED_PERMANENTLY;
}

/*
 * Run a job of a kind that is not leased inside the current transaction, in a
 * subtransaction, as the job's role, within its time limit.  Sets the
 * outcome; the result and error are allocated in result_cxt.
 */
void
DwcRunJobInTransaction(DwcJob *job, MemoryContext result_cxt)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	DwcJobKind	kind;
	Oid			save_userid;
	int			save_sec;
	SubTransactionId parent_subid;

	job->result = NULL;
	job->error = NULL;

	if (!DwcLookupJobKind(job->kind, &kind))
	{
		job->outcome = DWC_JOB_FAILED_PERMANENTLY;
		job->error = MemoryContextStrdup(result_cxt,
										 psprintf("job kind \"%s\" is no longer registered", job->kind));
		return;
	}
	if (cancel_requested(job->id))
	{
		job->outcome = DWC_JOB_CANCELLED;
		job->error = MemoryContextStrdup(result_cxt, "cancelled before it started");
		return;
	}
	/* noop cannot fail: no subtransaction, no role switch */
	if (kind.builtin == DWC_KIND_NOOP)
	{
		job->outcome = DWC_JOB_SUCCEEDED;
		return;
	}
	/* a schedule or row made through an API key may still hold an sql job: its scopes decide */
	if (!DwcScopesArrayAllow(job->scopes, "sql") && kind.builtin == DWC_KIND_SQL)
	{
		job->outcome = DWC_JOB_FAILED_PERMANENTLY;
		job->error = MemoryContextStrdup(result_cxt,
										 "the API key this job was made through may not run SQL (it needs the scope \"sql\")");
		return;
	}
	if (!SearchSysCacheExists1(AUTHOID, ObjectIdGetDatum(job->role)))
	{
		job->outcome = DWC_JOB_FAILED_PERMANENTLY;
		job->error = MemoryContextStrdup(result_cxt,
										 psprintf("the role that enqueued the job (OID %u) no longer exists", job->role));
		return;
	}

	GetUserIdAndSecContext(&save_userid, &save_sec);
	set_running(job->id);
	parent_subid = GetCurrentSubTransactionId();
	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(result_cxt);

	PG_TRY();
	{
		int			nestlevel;
		Jsonb	   *result;

		SetUserIdAndSecContext(job->role, save_sec | SECURITY_LOCAL_USERID_CHANGE);
		/* its own settings and a search_path with pg_temp last (isolation.c) */
		nestlevel = DwcJobSessionEnter();
		/*
		 * The enqueuer's identity, pinned: ownership checks hold, and
		 * nothing the body sets (request.jwt.claims, request.headers ...)
		 * can change who it acts for.
		 */
		DwcIdentityPin(job->role, job->user, job->scopes);
		job_timers_on(job->timeout_ms);

		if (kind.builtin == DWC_KIND_SQL)
			result = run_sql(job);
		else
			result = run_function(job, &kind);

		/*
		 * Nothing the job made in the session outlives it (deferred
		 * triggers fire now, as the job); then every setting it changed,
		 * SET as well as SET LOCAL, is reverted.
		 */
		DwcJobSessionFinish(nestlevel, GetCurrentSubTransactionId(), parent_subid);
		job_timers_off();
		DwcIdentityUnpin();
		SetUserIdAndSecContext(save_userid, save_sec);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(result_cxt);
		CurrentResourceOwner = oldowner;

		job->result = result ? DatumGetJsonbPCopy(JsonbPGetDatum(result)) : NULL;
		job->outcome = DWC_JOB_SUCCEEDED;
		if (job->result && reports_failure(job->result, &job->error))
			job->outcome = DWC_JOB_FAILED_PERMANENTLY;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		job_timers_off();
		DwcIdentityUnpin();
		MemoryContextSwitchTo(result_cxt);
		edata = CopyErrorData();
		FlushErrorState();
		/* also restores the user id and reverts the job's settings */
		RollbackAndReleaseCurrentSubTransaction();
		/* what a rollback does not undo: prepared statements, advisory locks ... */
		DwcJobSessionAbandon();
		MemoryContextSwitchTo(result_cxt);
		CurrentResourceOwner = oldowner;

		if (job_cancelled)
		{
			job->outcome = DWC_JOB_CANCELLED;
			job->error = pstrdup("cancelled while running");
		}
		else if (job_timed_out)
		{
			job->outcome = DWC_JOB_FAILED;
			job->error = psprintf("job timed out after %d ms", job->timeout_ms);
		}
		else if (is_final_error(&kind, edata->sqlerrcode))
			final_failure(job, edata);
		else
		{
			job->outcome = DWC_JOB_FAILED;
			job->error = error_text(edata);
		}
		FreeErrorData(edata);
	}
	PG_END_TRY();

	/* a time limit or cancel that fired after the job ended must not hit us */
	if (job_timed_out || job_cancelled)
		QueryCancelPending = false;
	set_running(0);
	MemoryContextSwitchTo(oldcxt);
}

/* ---- http --------------------------------------------------------------- */

static void
add_payload_headers(DwcHttpRequest *req, Jsonb *payload)
{
	JsonbValue	buf;
	JsonbValue *h = getKeyJsonValueFromContainer(&payload->root, "headers", 7, &buf);

	if (h != NULL && h->type == jbvBinary)
		DwcHttpAddHeadersFromJsonb(req, h->val.binary.data);
}

static void
run_http(DwcJob *job)
{
	DwcHttpRequest req;
	DwcHttpResponse resp;
	char	   *method = payload_text(job->payload, "method");
	char	   *url = payload_text(job->payload, "url");
	JsonbValue	buf;
	JsonbValue *body;
	JsonbValue *t;
	StringInfoData r;

	if (url == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("payload of http job %lld has no \"url\" string", (long long) job->id)));
	DwcHttpInitRequest(&req, method ? method : "GET", url);
	add_payload_headers(&req, job->payload);

	body = getKeyJsonValueFromContainer(&job->payload->root, "body", 4, &buf);
	if (body != NULL && body->type == jbvString)
	{
		req.body = pnstrdup(body->val.string.val, body->val.string.len);
		req.body_len = body->val.string.len;
	}
	else if (body != NULL && body->type == jbvBinary)
	{
		/* an object or array body is sent as JSON */
		req.body = JsonbToCString(NULL, body->val.binary.data, body->val.binary.len);
		req.body_len = strlen(req.body);
		DwcHttpAddHeader(&req, "Content-Type", "application/json");
	}

	req.timeout_ms = job->timeout_ms;
	t = getKeyJsonValueFromContainer(&job->payload->root, "timeout_ms", 10, &buf);
	if (t != NULL && t->type == jbvNumeric)
	{
		int32		ms = DatumGetInt32(DirectFunctionCall1(numeric_int4, NumericGetDatum(t->val.numeric)));

		if (ms > 0 && ms < req.timeout_ms)
			req.timeout_ms = ms;
	}

	DwcHttpPerform(&req, &resp);

	if (resp.outcome != DWC_HTTP_OK)
	{
		job->error = DwcHttpDescribeFailure(&req, &resp);
		job->outcome = (resp.outcome == DWC_HTTP_BAD_URL || resp.outcome == DWC_HTTP_TOO_LARGE ||
						resp.outcome == DWC_HTTP_TOO_MANY_REDIRECTS) ?
			DWC_JOB_FAILED_PERMANENTLY : DWC_JOB_FAILED;
		return;
	}

	initStringInfo(&r);
	appendStringInfo(&r, "{\"status\": %ld, \"body\": ", resp.status);
	if (pg_verifymbstr(resp.body, resp.body_len, true))
		escape_json(&r, resp.body);
	else
		appendStringInfoString(&r, "null");
	appendStringInfo(&r, ", \"body_bytes\": %zu, \"elapsed_ms\": %.3f}", resp.body_len, resp.elapsed_ms);
	job->result = jsonb_from_text(r.data);

	if (resp.status < 400)
		job->outcome = DWC_JOB_SUCCEEDED;
	else
	{
		const char *retry_after = DwcHttpHeaderValue(&resp, "retry-after");

		job->error = psprintf("HTTP status %ld from %s", resp.status, DwcHttpRedactUrl(url));
		if (resp.status == 408 || resp.status == 429 || resp.status >= 500)
		{
			job->outcome = DWC_JOB_FAILED;
			if (retry_after && strspn(retry_after, "0123456789") == strlen(retry_after) &&
				strlen(retry_after) > 0 && strlen(retry_after) < 7)
				job->retry_after_ms = atol(retry_after) * 1000L;
		}
		else
			job->outcome = DWC_JOB_FAILED_PERMANENTLY;
	}
}

/*
 * Run a leased job of a function kind in a transaction of its own: the
 * handler as for in-transaction jobs, then its transaction commits (a
 * failed handler's subtransaction has rolled back by then).  An error at
 * commit (a deferred constraint) fails the job like the handler's would.
 */
static void
run_leased_in_own_transaction(DwcJob *job, MemoryContext result_cxt)
{
	MemoryContext oldcxt = CurrentMemoryContext;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PG_TRY();
	{
		SPI_connect();
		PushActiveSnapshot(GetTransactionSnapshot());
		DwcRunJobInTransaction(job, result_cxt);
		PopActiveSnapshot();
		SPI_finish();
		CommitTransactionCommand();
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(result_cxt);
		edata = CopyErrorData();
		FlushErrorState();
		AbortCurrentTransaction();
		job->outcome = DWC_JOB_FAILED;
		job->result = NULL;
		job->error = error_text(edata);
		FreeErrorData(edata);
	}
	PG_END_TRY();
	MemoryContextSwitchTo(oldcxt);
}

/*
 * Run a leased job after the claiming transaction has committed: http with
 * no transaction open, function kinds in their own.  Errors (including a
 * cancel of this job) are caught and become the job's outcome.
 */
void
DwcRunJobOutsideTransaction(DwcJob *job, MemoryContext result_cxt)
{
	MemoryContext oldcxt;

	if (strcmp(job->kind, "http") != 0)
	{
		run_leased_in_own_transaction(job, result_cxt);
		return;
	}

	oldcxt = MemoryContextSwitchTo(result_cxt);

	job->result = NULL;
	job->error = NULL;
	job->retry_after_ms = 0;
	if (cancel_requested(job->id))
	{
		job->outcome = DWC_JOB_CANCELLED;
		job->error = pstrdup("cancelled before it started");
		MemoryContextSwitchTo(oldcxt);
		return;
	}

	set_running(job->id);
	job_timers_on(0);
	PG_TRY();
	{
		run_http(job);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		job_timers_off();
		MemoryContextSwitchTo(result_cxt);
		edata = CopyErrorData();
		FlushErrorState();
		if (job_cancelled)
		{
			job->outcome = DWC_JOB_CANCELLED;
			job->error = pstrdup("cancelled while running");
		}
		else
		{
			/* ProcDiePending (SIGTERM) raises FATAL and never gets here */
			job->outcome = DWC_JOB_FAILED;
			job->error = error_text(edata);
		}
		FreeErrorData(edata);
	}
	PG_END_TRY();
	job_timers_off();
	if (job_cancelled)
		QueryCancelPending = false;
	set_running(0);
	MemoryContextSwitchTo(oldcxt);
}
