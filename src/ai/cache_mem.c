/*-------------------------------------------------------------------------
 *
 * cache_mem.c
 *		The response cache's shared-memory tier, in front of dwc.ai_cache.
 *
 * A repeated AI call is answered from shared memory, without a table
 * lookup: a fixed array of slots of DWC_CACHE_SLOT bytes (dwc.ai_cache_memory
 * sizes it), in sets of DWC_CACHE_WAYS; a key (the SHA-256 of the request)
 * lives in the set its first bytes choose, and a full set gives up its
 * least recently used slot.  An answer longer than a slot holds stays in the
 * table only.
 *
 * A slot belongs to one database, as the table's rows do: another database
 * of the cluster, with a provider of the same name, never sees its answers.
 * Every backend sees the same slots, so nothing is invalidated per backend:
 * clearing the tier bumps its generation, and a slot of an older generation
 * is empty.  Deleting unexpired rows of dwc.ai_cache (dwc.ai_cache_invalidate,
 * dwc.cache_clear, a DELETE by hand) clears it, by a trigger, and again when
 * that transaction commits, so that a lookup in between cannot bring back
 * what the deletion removed.  Slots expire with their rows.  An answer is
 * put here when it is stored in the table and when the table answers a
 * lookup; one stored by a transaction that then rolls back stays here until
 * it expires (the provider did answer it; the call log keeps such calls too).
 *
 * Lookups hold the lock shared (the recency stamp is an atomic); stores and
 * evictions hold it exclusively, for one memcpy of at most a slot.
 *
 * src/ai/cache_mem.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "ai/cache_mem.h"
#include "ai/cache_redis.h"

#define DWC_CACHE_SLOT 8192
#define DWC_CACHE_WAYS 4

typedef struct CacheSlot
{
	Oid			dbid;			/* the database whose dwc.ai_cache the answer belongs to */
	uint8		key[32];
	uint64		generation;
	TimestampTz expires;
	pg_atomic_uint64 used;		/* recency stamp, from CacheMem.clock */
	int32		tokens_in;
	int32		tokens_out;
	int32		len;			/* bytes of data, with its NUL; 0: empty */
	char		data[FLEXIBLE_ARRAY_MEMBER];
} CacheSlot;

#define DWC_CACHE_DATA (DWC_CACHE_SLOT - (int) offsetof(CacheSlot, data))

typedef struct CacheMem
{
	LWLock	   *lock;
	int			nslots;
	pg_atomic_uint64 generation;
	pg_atomic_uint64 clock;
	pg_atomic_uint64 hits;
	pg_atomic_uint64 misses;
	pg_atomic_uint64 stores;
	pg_atomic_uint64 evictions;
	pg_atomic_uint64 too_large;
	pg_atomic_uint64 clears;
	pg_atomic_uint64 redis_hits;	/* the Redis tier's (cache_redis.c) */
	pg_atomic_uint64 redis_misses;
	pg_atomic_uint64 redis_errors;
} CacheMem;

int			dwc_ai_cache_memory_kb = 8192;
static CacheMem *cm = NULL;
static bool clear_at_commit = false;
static bool xact_callback_registered = false;

PG_FUNCTION_INFO_V1(dwc__ai_cache_memory_clear);
PG_FUNCTION_INFO_V1(dwc__ai_cache_memory_stats);

static int
slot_count(void)
{
	int			n = (int) (((Size) dwc_ai_cache_memory_kb * 1024) / DWC_CACHE_SLOT);

	return n - n % DWC_CACHE_WAYS;
}

static CacheSlot *
slot_at(int i)
{
	return (CacheSlot *) ((char *) cm + MAXALIGN(sizeof(CacheMem)) + (Size) i * DWC_CACHE_SLOT);
}

Size
DwcAiCacheMemSize(void)
{
	return add_size(MAXALIGN(sizeof(CacheMem)), mul_size(slot_count(), DWC_CACHE_SLOT));
}

void
DwcAiCacheMemInit(void)
{
	bool		found;
	int			i;

	cm = ShmemInitStruct("dwc ai cache", DwcAiCacheMemSize(), &found);
	if (found)
		return;
	memset(cm, 0, MAXALIGN(sizeof(CacheMem)));
	cm->lock = &(GetNamedLWLockTranche("dwc ai cache"))->lock;
	cm->nslots = slot_count();
	pg_atomic_init_u64(&cm->generation, 1);
	pg_atomic_init_u64(&cm->clock, 0);
	pg_atomic_init_u64(&cm->hits, 0);
	pg_atomic_init_u64(&cm->misses, 0);
	pg_atomic_init_u64(&cm->stores, 0);
	pg_atomic_init_u64(&cm->evictions, 0);
	pg_atomic_init_u64(&cm->too_large, 0);
	pg_atomic_init_u64(&cm->clears, 0);
	pg_atomic_init_u64(&cm->redis_hits, 0);
	pg_atomic_init_u64(&cm->redis_misses, 0);
	pg_atomic_init_u64(&cm->redis_errors, 0);
	for (i = 0; i < cm->nslots; i++)
	{
		CacheSlot  *s = slot_at(i);

		s->len = 0;
		pg_atomic_init_u64(&s->used, 0);
	}
}

static bool
enabled(void)
{
	return cm != NULL && cm->nslots > 0;
}

static int
first_of_set(const uint8 *key)
{
	uint32		h;

	memcpy(&h, key, sizeof(h));
	return (int) (h % (uint32) (cm->nslots / DWC_CACHE_WAYS)) * DWC_CACHE_WAYS;
}

static bool
live(const CacheSlot *s, uint64 generation, TimestampTz now)
{
	return s->len > 0 && s->generation == generation && s->expires > now;
}

bool
DwcAiCacheMemGet(const uint8 *key, char **text, int *tokens_in, int *tokens_out)
{
	uint64		generation;
	TimestampTz now = GetCurrentTimestamp();
	int			first;
	int			i;
	bool		hit = false;

	if (!enabled())
		return false;
	first = first_of_set(key);
	LWLockAcquire(cm->lock, LW_SHARED);
	generation = pg_atomic_read_u64(&cm->generation);
	for (i = first; i < first + DWC_CACHE_WAYS; i++)
	{
		CacheSlot  *s = slot_at(i);

		if (live(s, generation, now) && s->dbid == MyDatabaseId && memcmp(s->key, key, 32) == 0)
		{
			*text = palloc(s->len);
			memcpy(*text, s->data, s->len);
			*tokens_in = s->tokens_in;
			*tokens_out = s->tokens_out;
			pg_atomic_write_u64(&s->used, pg_atomic_add_fetch_u64(&cm->clock, 1));
			hit = true;
			break;
		}
	}
	LWLockRelease(cm->lock);
	pg_atomic_fetch_add_u64(hit ? &cm->hits : &cm->misses, 1);
	return hit;
}

void
DwcAiCacheMemPut(const uint8 *key, const char *text, int tokens_in, int tokens_out, TimestampTz expires)
{
	int			len = strlen(text) + 1;
	uint64		generation;
	TimestampTz now = GetCurrentTimestamp();
	CacheSlot  *same = NULL;
	CacheSlot  *free_slot = NULL;
	CacheSlot  *lru = NULL;
	CacheSlot  *victim;
	int			first;
	int			i;

	if (!enabled())
		return;
	if (len > DWC_CACHE_DATA)
	{
		pg_atomic_fetch_add_u64(&cm->too_large, 1);
		return;
	}
	first = first_of_set(key);
	LWLockAcquire(cm->lock, LW_EXCLUSIVE);
	generation = pg_atomic_read_u64(&cm->generation);
	/* the same key, else a free (or stale) slot, else the least recently used */
	for (i = first; i < first + DWC_CACHE_WAYS; i++)
	{
		CacheSlot  *s = slot_at(i);

		if (s->len > 0 && s->dbid == MyDatabaseId && memcmp(s->key, key, 32) == 0)
		{
			same = s;
			break;
		}
		if (!live(s, generation, now))
		{
			if (free_slot == NULL)
				free_slot = s;
		}
		else if (lru == NULL || pg_atomic_read_u64(&s->used) < pg_atomic_read_u64(&lru->used))
			lru = s;
	}
	victim = same ? same : (free_slot ? free_slot : lru);
	if (victim == lru && same == NULL && free_slot == NULL)
		pg_atomic_fetch_add_u64(&cm->evictions, 1);
	victim->dbid = MyDatabaseId;
	memcpy(victim->key, key, 32);
	victim->generation = generation;
	victim->expires = expires;
	victim->tokens_in = tokens_in;
	victim->tokens_out = tokens_out;
	memcpy(victim->data, text, len);
	victim->len = len;
	pg_atomic_write_u64(&victim->used, pg_atomic_add_fetch_u64(&cm->clock, 1));
	LWLockRelease(cm->lock);
	pg_atomic_fetch_add_u64(&cm->stores, 1);
}

void
DwcAiCacheRedisCount(bool hit, bool error)
{
	if (!enabled())
		return;
	pg_atomic_fetch_add_u64(error ? &cm->redis_errors : (hit ? &cm->redis_hits : &cm->redis_misses), 1);
}

/* both shared tiers: this cluster's memory, and the Redis keys of this database */
static void
clear_now(void)
{
	DwcAiCacheRedisClear();
	if (!enabled())
		return;
	pg_atomic_fetch_add_u64(&cm->generation, 1);
	pg_atomic_fetch_add_u64(&cm->clears, 1);
}

static void
at_commit(XactEvent event, void *arg)
{
	if (!clear_at_commit)
		return;
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_PARALLEL_COMMIT)
		clear_now();
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_PARALLEL_COMMIT ||
		event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT)
		clear_at_commit = false;
}

/* dwc._ai_cache_memory_clear(): empties the tier now and when the transaction commits */
Datum
dwc__ai_cache_memory_clear(PG_FUNCTION_ARGS)
{
	clear_now();
	if (!xact_callback_registered)
	{
		RegisterXactCallback(at_commit, NULL);
		xact_callback_registered = true;
	}
	clear_at_commit = true;
	PG_RETURN_VOID();
}

/* dwc._ai_cache_memory_stats(): the tier's size, live entries and counters, as jsonb */
Datum
dwc__ai_cache_memory_stats(PG_FUNCTION_ARGS)
{
	StringInfoData b;
	int			entries = 0;
	uint64		hits;
	uint64		misses;
	int			i;

	initStringInfo(&b);
	if (!enabled())
	{
		appendStringInfoString(&b, "{\"enabled\": false}");
		PG_RETURN_JSONB_P(DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(b.data))));
	}
	LWLockAcquire(cm->lock, LW_SHARED);
	{
		uint64		generation = pg_atomic_read_u64(&cm->generation);
		TimestampTz now = GetCurrentTimestamp();

		for (i = 0; i < cm->nslots; i++)
			if (live(slot_at(i), generation, now))
				entries++;
	}
	LWLockRelease(cm->lock);
	hits = pg_atomic_read_u64(&cm->hits);
	misses = pg_atomic_read_u64(&cm->misses);
	appendStringInfo(&b, "{\"enabled\": true, \"slots\": %d, \"slot_bytes\": %d, \"entries\": %d, "
					 "\"hits\": " UINT64_FORMAT ", \"misses\": " UINT64_FORMAT ", \"hit_ratio\": %s, "
					 "\"stores\": " UINT64_FORMAT ", \"evictions\": " UINT64_FORMAT ", "
					 "\"too_large\": " UINT64_FORMAT ", \"clears\": " UINT64_FORMAT ", "
					 "\"redis\": {\"server\": %s, \"hits\": " UINT64_FORMAT ", \"misses\": " UINT64_FORMAT ", "
					 "\"errors\": " UINT64_FORMAT "}}",
					 cm->nslots, DWC_CACHE_DATA, entries, hits, misses,
					 hits + misses > 0 ? psprintf("%.4f", (double) hits / (hits + misses)) : "null",
					 pg_atomic_read_u64(&cm->stores), pg_atomic_read_u64(&cm->evictions),
					 pg_atomic_read_u64(&cm->too_large), pg_atomic_read_u64(&cm->clears),
					 dwc_ai_cache_redis && dwc_ai_cache_redis[0] ? psprintf("\"%s\"", dwc_ai_cache_redis) : "null",
					 pg_atomic_read_u64(&cm->redis_hits), pg_atomic_read_u64(&cm->redis_misses),
					 pg_atomic_read_u64(&cm->redis_errors));
	PG_RETURN_JSONB_P(DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(b.data))));
}
