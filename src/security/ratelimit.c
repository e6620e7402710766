/*-------------------------------------------------------------------------
 *
 * ratelimit.c
 *		Token-bucket rate limits in shared memory, by key.
 *
 * Each key (a user, an API key, a client address: any text) has a bucket
 * holding up to `burst` tokens that refills at `rate` tokens per second; a
 * request takes `cost` tokens or is refused, with the time until it would
 * be admitted.  The buckets live in a shared hash table of fixed size
 * (DWC_RATE_LIMIT_KEYS entries) under one LWLock: a check is a hash lookup
 * and a few arithmetic operations, so one lock is not a bottleneck.  Keys
 * are stored as 64-bit hashes of the text.  When the table is full, buckets
 * that have refilled completely (their key has been idle) are dropped: a
 * full bucket and a missing one behave the same.  If none can be dropped the
 * request is admitted and counted in dwc.rate_limit_stats().overflows.
 *
 * Without shared_preload_libraries there is no shared memory and no limit.
 *
 * src/security/ratelimit.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "common/hashfn.h"
#include "fmgr.h"
#include "funcapi.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/timestamp.h"

#include "core/errors.h"
#include "security/ratelimit.h"

typedef struct RateBucket
{
	uint64		key;			/* hash key: must be first */
	double		tokens;
	TimestampTz at;				/* when tokens was last brought up to date */
	double		rate;
	double		burst;
} RateBucket;

typedef struct RateShared
{
	LWLock	   *lock;
	int64		admitted;
	int64		refused;
	int64		overflows;
	int64		evictions;
} RateShared;

static RateShared *rate_shared = NULL;
static HTAB *rate_buckets = NULL;

Size
DwcRateLimitShmemSize(void)
{
	return add_size(MAXALIGN(sizeof(RateShared)),
					hash_estimate_size(DWC_RATE_LIMIT_KEYS, sizeof(RateBucket)));
}

void
DwcRateLimitShmemInit(void)
{
	HASHCTL		info;
	bool		found;

	rate_shared = ShmemInitStruct("dwc rate limits", sizeof(RateShared), &found);
	if (!found)
	{
		memset(rate_shared, 0, sizeof(RateShared));
		rate_shared->lock = &(GetNamedLWLockTranche("dwc rate limits"))->lock;
	}
	memset(&info, 0, sizeof(info));
	info.keysize = sizeof(uint64);
	info.entrysize = sizeof(RateBucket);
	rate_buckets = ShmemInitHash("dwc rate limit buckets", DWC_RATE_LIMIT_KEYS, DWC_RATE_LIMIT_KEYS,
								 &info, HASH_ELEM | HASH_BLOBS);
}

static double
refilled(const RateBucket *b, TimestampTz now)
{
	double		secs = Max(0, (double) (now - b->at) / USECS_PER_SEC);

	return Min(b->burst, b->tokens + secs * b->rate);
}

/* Drop buckets that are full again; caller holds the lock exclusively. */
static int
evict_idle(TimestampTz now)
{
	HASH_SEQ_STATUS seq;
	RateBucket *b;
	int			n = 0;

	hash_seq_init(&seq, rate_buckets);
	while ((b = hash_seq_search(&seq)) != NULL)
	{
		if (refilled(b, now) >= b->burst)
		{
			hash_search(rate_buckets, &b->key, HASH_REMOVE, NULL);
			n++;
		}
	}
	rate_shared->evictions += n;
	return n;
}

/*
 * Take cost tokens from key's bucket.  Returns 0 when admitted, else the
 * seconds until the request would be.  A bucket's rate and burst follow the
 * latest call, so a changed limit applies at once.
 */
double
DwcRateLimitTake(const char *key, size_t keylen, double rate, double burst, double cost)
{
	uint64		h;
	RateBucket *b;
	bool		found;
	TimestampTz now = GetCurrentTimestamp();
	double		wait = 0;

	if (rate_shared == NULL)
		return 0;
	h = hash_bytes_extended((const unsigned char *) key, keylen, 0x64776321);
	LWLockAcquire(rate_shared->lock, LW_EXCLUSIVE);
	b = hash_search(rate_buckets, &h, HASH_ENTER_NULL, &found);
	if (b == NULL && evict_idle(now) > 0)
		b = hash_search(rate_buckets, &h, HASH_ENTER_NULL, &found);
	if (b == NULL)
	{
		rate_shared->overflows++;
		rate_shared->admitted++;
		LWLockRelease(rate_shared->lock);
		return 0;
	}
	if (!found)
	{
		b->tokens = burst;
		b->at = now;
	}
	b->rate = rate;
	b->burst = burst;
	b->tokens = refilled(b, now);
	b->at = now;
	if (b->tokens >= cost)
	{
		b->tokens -= cost;
		rate_shared->admitted++;
	}
	else
	{
		wait = (cost - b->tokens) / rate;
		rate_shared->refused++;
	}
	LWLockRelease(rate_shared->lock);
	return wait;
}

PG_FUNCTION_INFO_V1(dwc_rate_limit_take);
PG_FUNCTION_INFO_V1(dwc_rate_limit_stats);

/* dwc.rate_limit_take(key text, rate float8, burst float8, cost float8) returns float8 */
Datum
dwc_rate_limit_take(PG_FUNCTION_ARGS)
{
	text	   *key = PG_GETARG_TEXT_PP(0);
	double		rate = PG_GETARG_FLOAT8(1);
	double		burst = PG_GETARG_FLOAT8(2);
	double		cost = PG_GETARG_FLOAT8(3);

	if (!(rate > 0) || isinf(rate))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("rate must be a positive number of requests per second")));
	if (!(burst >= 1) || isinf(burst))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("burst must be at least 1")));
	if (!(cost > 0) || cost > burst)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cost must be positive and at most the burst")));
	PG_RETURN_FLOAT8(DwcRateLimitTake(VARDATA_ANY(key), VARSIZE_ANY_EXHDR(key), rate, burst, cost));
}

/* dwc.rate_limit_stats() returns jsonb */
Datum
dwc_rate_limit_stats(PG_FUNCTION_ARGS)
{
	int64		admitted = 0,
				refused = 0,
				overflows = 0,
				evictions = 0;
	long		keys = 0;

	if (rate_shared != NULL)
	{
		LWLockAcquire(rate_shared->lock, LW_SHARED);
		admitted = rate_shared->admitted;
		refused = rate_shared->refused;
		overflows = rate_shared->overflows;
		evictions = rate_shared->evictions;
		keys = hash_get_num_entries(rate_buckets);
		LWLockRelease(rate_shared->lock);
	}
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(psprintf(
		"{\"enabled\": %s, \"keys\": %ld, \"capacity\": %d, \"admitted\": " INT64_FORMAT
		", \"refused\": " INT64_FORMAT ", \"overflows\": " INT64_FORMAT ", \"evictions\": " INT64_FORMAT "}",
		rate_shared ? "true" : "false", keys, DWC_RATE_LIMIT_KEYS, admitted, refused, overflows, evictions))));
}
