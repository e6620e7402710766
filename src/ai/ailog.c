/*-------------------------------------------------------------------------
 *
 * ailog.c
 *		The AI call log ring and the providers' rate limits, in shared memory.
 *
 * Every AI call is logged, including the ones whose transaction rolls back:
 * the provider was called (and may bill for it) either way.  So a call is
 * appended to a ring in shared memory (core/ring.c), outside any
 * transaction, and the maintenance worker of its database moves the ring's
 * entries into dwc.ai_calls at every pass and when it stops.  When the
 * ring wraps before they are moved, the oldest entries are lost and counted
 * (dwc.ai_stats() reports them).  In a server that did not preload dwc
 * there is no ring, and calls are inserted directly, in the caller's
 * transaction.
 *
 * Rate limits are token buckets per provider, refilled continuously at
 * requests_per_minute and tokens_per_minute.
 *
 * src/ai/ailog.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

#include "ai/ailog.h"
#include "core/arrays.h"
#include "core/counters.h"
#include "core/registry.h"
#include "core/ring.h"
#include "core/shmem.h"

#define RING_SIZE 4096
#define MAX_BUCKETS 64

typedef struct Bucket
{
	slock_t		mutex;
	int32		provider_id;	/* 0: free */
	double		requests;		/* tokens left in the request bucket */
	double		tokens;			/* tokens left in the token bucket */
	TimestampTz refilled_at;
} Bucket;

typedef struct AiShared
{
	Bucket		buckets[MAX_BUCKETS];
} AiShared;

static AiShared *ai_shared = NULL;
static DwcRing *call_ring = NULL;
static int	flush_task;

static Size
ai_shmem_size(void)
{
	return add_size(sizeof(AiShared), DwcRingShmemSize(RING_SIZE, sizeof(DwcAiCall)));
}

static void
ai_shmem_init(void)
{
	bool		f;
	int			i;

	ai_shared = ShmemInitStruct("dwc ai", sizeof(AiShared), &f);
	if (!f)
	{
		memset(ai_shared, 0, sizeof(AiShared));
		for (i = 0; i < MAX_BUCKETS; i++)
			SpinLockInit(&ai_shared->buckets[i].mutex);
	}
	call_ring = DwcRingShmemInit("dwc ai call log", RING_SIZE, sizeof(DwcAiCall),
								 &(GetNamedLWLockTranche("dwc ai"))->lock, flush_task);
}

static bool flush_calls(void);

void
DwcAiLogRegister(void)
{
	DwcRegisterShmem(ai_shmem_size, ai_shmem_init, "dwc ai");
	/* at every pass (the ring asks for one when it fills): callers wait for their rows */
	flush_task = DwcRegisterMaintenanceAtExit("AI call log flush", 0, flush_calls);
}

static void
insert_calls(const void *records, int n)
{
	const DwcAiCall *calls = records;
	Oid			types[15] = {TIMESTAMPTZARRAYOID, OIDARRAYOID, TEXTARRAYOID, TEXTARRAYOID,
		TEXTARRAYOID, INT4ARRAYOID, INT4ARRAYOID, FLOAT8ARRAYOID, FLOAT8ARRAYOID,
	BOOLARRAYOID, BOOLARRAYOID, INT2ARRAYOID, INT2ARRAYOID, TEXTARRAYOID, TEXTARRAYOID};
	Datum	   *cols[15];
	Datum		args[15];
	bool	   *err_null = palloc(sizeof(bool) * n);
	bool	   *user_null = palloc(sizeof(bool) * n);
	Oid			elemtypes[15] = {TIMESTAMPTZOID, OIDOID, TEXTOID, TEXTOID, TEXTOID, INT4OID, INT4OID,
	FLOAT8OID, FLOAT8OID, BOOLOID, BOOLOID, INT2OID, INT2OID, TEXTOID, TEXTOID};
	int			c;
	int			i;

	for (c = 0; c < 15; c++)
		cols[c] = palloc(sizeof(Datum) * n);
	for (i = 0; i < n; i++)
	{
		const DwcAiCall *k = &calls[i];

		cols[0][i] = TimestampTzGetDatum(k->at);
		cols[1][i] = ObjectIdGetDatum(k->role);
		cols[2][i] = CStringGetTextDatum(k->provider);
		cols[3][i] = CStringGetTextDatum(k->model);
		cols[4][i] = CStringGetTextDatum(k->operation);
		cols[5][i] = Int32GetDatum(k->tokens_in);
		cols[6][i] = Int32GetDatum(k->tokens_out);
		cols[7][i] = Float8GetDatum(k->latency_ms);
		cols[8][i] = Float8GetDatum(k->cost);
		cols[9][i] = BoolGetDatum(k->cache_hit);
		cols[10][i] = BoolGetDatum(k->ok);
		cols[11][i] = Int16GetDatum(k->http_status);
		cols[12][i] = Int16GetDatum(k->attempts);
		err_null[i] = (k->error[0] == '\0');
		cols[13][i] = err_null[i] ? (Datum) 0 : CStringGetTextDatum(k->error);
		user_null[i] = (k->user_id[0] == '\0');
		cols[14][i] = user_null[i] ? (Datum) 0 : CStringGetTextDatum(k->user_id);
	}
	for (c = 0; c < 15; c++)
		args[c] = DwcArrayDatum(cols[c], c == 13 ? err_null : c == 14 ? user_null : NULL, n, elemtypes[c]);
	if (SPI_execute_with_args("INSERT INTO dwc.ai_calls (at, role, provider, model, operation, tokens_in,"
							  " tokens_out, latency_ms, cost, cache_hit, ok, http_status, attempts, error, user_id)"
							  " SELECT * FROM unnest($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
							  15, types, args, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not write the AI call log");
}

/* for the Prometheus exposition, at once: a call rolled back was still made and paid for */
static void
count_call(const DwcAiCall *call)
{
	const char *labels[3];

	labels[0] = call->provider;
	labels[1] = call->model;
	labels[2] = call->cache_hit ? "cached" : call->ok ? "ok" : "error";
	DwcOwnAdd(DwcAiCallsFamily, labels, 1);
	if (call->tokens_in > 0)
	{
		labels[2] = "in";
		DwcOwnAdd(DwcAiTokensFamily, labels, call->tokens_in);
	}
	if (call->tokens_out > 0)
	{
		labels[2] = "out";
		DwcOwnAdd(DwcAiTokensFamily, labels, call->tokens_out);
	}
	if (call->cost > 0)
		DwcOwnAdd(DwcAiCostFamily, labels, call->cost);
	if (!call->cache_hit)
		DwcOwnAdd(DwcAiDurationFamily, labels, call->latency_ms / 1000.0);
}

/*
 * Log one AI call: into the ring when there is one, else into dwc.ai_calls
 * in the current transaction (SPI is connected by the caller's caller, or
 * here).
 */
void
DwcAiLogCall(const DwcAiCall *call)
{
	count_call(call);

	if (call_ring == NULL)
	{
		SPI_connect();
		insert_calls(call, 1);
		SPI_finish();
		return;
	}
	DwcRingPut(call_ring, call);
}

/* Is the log the shared ring (rather than direct inserts)? */
bool
DwcAiLogIsShared(void)
{
	return call_ring != NULL;
}

/*
 * The maintenance task: move this database's logged calls from the ring
 * into dwc.ai_calls, in the task's transaction; they leave the ring when it
 * commits.
 */
static bool
flush_calls(void)
{
	if (call_ring != NULL)
		(void) DwcRingFlush(call_ring, insert_calls);
	return false;
}

/* Entries lost because the ring wrapped before they were flushed. */
PG_FUNCTION_INFO_V1(dwc__ai_log_dropped);

Datum
dwc__ai_log_dropped(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT64(call_ring ? (int64) DwcRingDropped(call_ring) : 0);
}

/*
 * Take one request and `tokens` tokens from the provider's buckets, waiting
 * (interruptibly) up to max_wait_ms for them to refill.  Returns false if
 * the wait would be longer.  Without shared memory there is no limit.
 */
bool
DwcRateLimitAcquire(int32 provider_id, int32 rpm, int32 tpm, int32 tokens, long max_wait_ms)
{
	Bucket	   *b = NULL;
	TimestampTz deadline = GetCurrentTimestamp() + (int64) max_wait_ms * 1000;
	int			i;

	if (ai_shared == NULL || (rpm <= 0 && tpm <= 0))
		return true;
	if (tpm > 0 && tokens > tpm)
		tokens = tpm;			/* one huge request must still be possible */

	for (i = 0; i < MAX_BUCKETS && b == NULL; i++)
	{
		Bucket	   *c = &ai_shared->buckets[(provider_id + i) % MAX_BUCKETS];

		SpinLockAcquire(&c->mutex);
		if (c->provider_id == 0)
		{
			c->provider_id = provider_id;
			c->requests = rpm;
			c->tokens = tpm;
			c->refilled_at = GetCurrentTimestamp();
		}
		if (c->provider_id == provider_id)
			b = c;
		SpinLockRelease(&c->mutex);
	}
	if (b == NULL)
		return true;			/* more providers than buckets: unlimited */

	for (;;)
	{
		TimestampTz now = GetCurrentTimestamp();
		double		wait_ms = 0;
		bool		granted = false;

		SpinLockAcquire(&b->mutex);
		{
			double		minutes = (double) (now - b->refilled_at) / 60e6;

			if (rpm > 0)
				b->requests = Min((double) rpm, b->requests + minutes * rpm);
			if (tpm > 0)
				b->tokens = Min((double) tpm, b->tokens + minutes * tpm);
			b->refilled_at = now;
			if ((rpm <= 0 || b->requests >= 1) && (tpm <= 0 || b->tokens >= tokens))
			{
				if (rpm > 0)
					b->requests -= 1;
				if (tpm > 0)
					b->tokens -= tokens;
				granted = true;
			}
			else
			{
				if (rpm > 0 && b->requests < 1)
					wait_ms = Max(wait_ms, (1 - b->requests) * 60000.0 / rpm);
				if (tpm > 0 && b->tokens < tokens)
					wait_ms = Max(wait_ms, (tokens - b->tokens) * 60000.0 / tpm);
			}
		}
		SpinLockRelease(&b->mutex);
		if (granted)
			return true;
		if (now + (int64) (wait_ms * 1000) > deadline)
			return false;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 Max(1L, Min(1000L, (long) wait_ms + 1)), PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}
