/*-------------------------------------------------------------------------
 *
 * rec_intern.c
 *		Interned ids: the same string gets the same number, in order of first
 *		appearance.  Open addressing on the id's own bytes, hashed once: the
 *		recommender looks ids up by the hundred thousand (training reads,
 *		pairs to predict, exclusions), where a dynahash of fixed-size C-string
 *		keys copied, measured and compared every key.
 *
 * src/recommend/rec_intern.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/hashfn.h"
#include "utils/memutils.h"

#include "recommend/rec_pg.h"

/*
 * A slot holds the id's length and first bytes: a lookup that finds its id
 * touches this one cache line, and the name only for ids longer than the
 * head.  Looking the names and lengths up elsewhere cost three dependent
 * cache misses a lookup (a quarter of dwc.rec_predict() on 36,000 pairs).
 */
#define HEAD_BYTES 12

struct RecInterned
{
	uint32		hash;
	int			pos;			/* -1: empty */
	int			len;
	char		head[HEAD_BYTES];	/* the first bytes, zero-padded */
};

static inline void
fill_head(char *head, const char *bytes, int len)
{
	memset(head, 0, HEAD_BYTES);
	memcpy(head, bytes, Min(len, HEAD_BYTES));
}

static inline bool
same_id(const RecIntern *t, const RecInterned *slot, uint32 hash, const char *bytes, int len, const char *head)
{
	if (slot->hash != hash || slot->len != len || memcmp(slot->head, head, HEAD_BYTES) != 0)
		return false;
	return len <= HEAD_BYTES ||
		memcmp(t->names[slot->pos] + HEAD_BYTES, bytes + HEAD_BYTES, len - HEAD_BYTES) == 0;
}

static void
alloc_slots(RecIntern *t, uint32 nslots)
{
	t->slots = MemoryContextAllocHuge(t->cxt, sizeof(RecInterned) * (Size) nslots);
	memset(t->slots, 0xff, sizeof(RecInterned) * (Size) nslots);
	t->mask = nslots - 1;
}

void
rec_intern_init(RecIntern *t, int expected, MemoryContext cxt)
{
	uint32		nslots = 16;

	/* at most half full */
	while (nslots < (uint32) Max(expected, 1) * 2 && nslots < (1U << 30))
		nslots <<= 1;
	t->cxt = cxt;
	alloc_slots(t, nslots);
	t->cap = Max(expected, 16);
	t->names = MemoryContextAllocHuge(cxt, sizeof(char *) * (Size) t->cap);
	t->lens = MemoryContextAllocHuge(cxt, sizeof(int) * (Size) t->cap);
	t->count = 0;
}

static void
grow(RecIntern *t)
{
	RecInterned *old = t->slots;
	uint32		oldmask = t->mask;

	alloc_slots(t, (oldmask + 1) * 2);
	for (uint32 k = 0; k <= oldmask; k++)
	{
		uint32		h;

		if (old[k].pos < 0)
			continue;
		for (h = old[k].hash & t->mask; t->slots[h].pos >= 0; h = (h + 1) & t->mask)
			;
		t->slots[h] = old[k];
	}
	pfree(old);
}

int
rec_intern(RecIntern *t, const char *bytes, int len, bool add)
{
	uint32		hash = hash_bytes((const unsigned char *) bytes, len);
	uint32		h;
	char		head[HEAD_BYTES];

	fill_head(head, bytes, len);
	for (h = hash & t->mask; t->slots[h].pos >= 0; h = (h + 1) & t->mask)
	{
		if (same_id(t, &t->slots[h], hash, bytes, len, head))
			return t->slots[h].pos;
	}
	if (!add)
		return -1;
	if (t->count == t->cap)
	{
		t->cap *= 2;
		t->names = repalloc_huge(t->names, sizeof(char *) * (Size) t->cap);
		t->lens = repalloc_huge(t->lens, sizeof(int) * (Size) t->cap);
	}
	t->names[t->count] = MemoryContextAlloc(t->cxt, len + 1);
	memcpy(t->names[t->count], bytes, len);
	t->names[t->count][len] = '\0';
	t->lens[t->count] = len;
	t->slots[h].hash = hash;
	t->slots[h].len = len;
	memcpy(t->slots[h].head, head, HEAD_BYTES);
	t->slots[h].pos = t->count++;
	if ((uint32) t->count * 2 > t->mask)
		grow(t);
	return t->count - 1;
}

int
rec_intern_find_text(const RecIntern *t, Datum d)
{
	/* a lookup changes nothing in t */
	return rec_intern_text((RecIntern *) t, d, false);
}

int
rec_intern_text(RecIntern *t, Datum d, bool add)
{
	text	   *txt = DatumGetTextPP(d);

	return rec_intern(t, VARDATA_ANY(txt), VARSIZE_ANY_EXHDR(txt), add);
}
