/*-------------------------------------------------------------------------
 *
 * counters.c
 *		dwc's own counters and histograms: what its workers do (jobs finished,
 *		their durations, AI calls, tokens, latency), kept in shared memory for
 *		the Prometheus exposition.
 *
 * A subsystem declares a family at load (name, counter or histogram, help,
 * label names, bucket bounds) and adds to it where the work happens.  As
 * pg_stat_statements keeps its counters, each series (database, family,
 * label values) is an entry of a shared hash table; nothing is written to a
 * table, so adding costs a lock and a hash lookup, and the values start
 * again from zero when the server restarts (Prometheus's rate() and
 * increase() read a reset as one).  DwcOwnAdd() counts at once: an AI call
 * was made and paid for even when its transaction rolls back.
 * DwcOwnAddAtCommit() counts when the transaction commits, and not at all if
 * it aborts: a job's outcome is recorded in the transaction that records it,
 * and a batch rolled back and run again must not count twice.
 *
 * The families live in this process's memory (each backend loads the
 * library and runs the same _PG_init), the series in shared memory when dwc
 * is preloaded; without it nothing is counted and dwc._own_series() is empty.
 *
 * src/core/counters.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#include "core/arrays.h"
#include "core/counters.h"
#include "core/registry.h"

#define MAX_FAMILIES 16
#define MAX_SERIES 2048

typedef struct Family
{
	const char *name;
	char		type;			/* 'c' counter, 'h' histogram */
	const char *help;
	int			nlabels;
	const char *labels[DWC_OWN_MAX_LABELS];
	int			nbounds;
	double		bounds[DWC_OWN_MAX_BOUNDS];
} Family;

typedef struct SeriesKey
{
	Oid			dboid;
	int32		family;
	char		values[DWC_OWN_MAX_LABELS][DWC_OWN_LABEL_LEN];
} SeriesKey;

typedef struct Series
{
	SeriesKey	key;
	double		sum;			/* a counter's value, a histogram's sum */
	int64		count;
	int64		buckets[DWC_OWN_MAX_BOUNDS + 1];	/* not cumulative; the last: +Inf */
} Series;

typedef struct OwnShared
{
	LWLock	   *lock;
	int64		dropped;		/* additions lost because the table was full */
} OwnShared;

/*
 * Additions waiting for their transaction's commit, merged per series: a
 * batch of jobs of one kind is one entry, and one hash lookup at commit.
 */
typedef struct Pending
{
	SeriesKey	key;
	double		sum;
	int64		count;
	int64		buckets[DWC_OWN_MAX_BOUNDS + 1];
} Pending;

static Family families[MAX_FAMILIES];
static int	nfamilies = 0;
static OwnShared *shared = NULL;
static HTAB *series_table = NULL;
static Pending *pending = NULL;
static int	npending = 0;
static int	pending_cap = 0;
static bool callback_registered = false;

/* ---- shared memory ------------------------------------------------------- */

static Size
own_shmem_size(void)
{
	return add_size(MAXALIGN(sizeof(OwnShared)), hash_estimate_size(MAX_SERIES, sizeof(Series)));
}

static void
own_shmem_init(void)
{
	bool		found;
	HASHCTL		info;

	shared = ShmemInitStruct("dwc own counters", sizeof(OwnShared), &found);
	if (!found)
	{
		shared->lock = &(GetNamedLWLockTranche("dwc own counters"))->lock;
		shared->dropped = 0;
	}
	memset(&info, 0, sizeof(info));
	info.keysize = sizeof(SeriesKey);
	info.entrysize = sizeof(Series);
	series_table = ShmemInitHash("dwc own series", MAX_SERIES, MAX_SERIES, &info, HASH_ELEM | HASH_BLOBS);
}

void
DwcOwnCountersInit(void)
{
	DwcRegisterShmem(own_shmem_size, own_shmem_init, "dwc own counters");
}

/* ---- families ------------------------------------------------------------ */

int
DwcOwnFamily(const char *name, char type, const char *help, int nlabels, const char *const *labels,
			 int nbounds, const double *bounds)
{
	Family	   *f;
	int			i;

	if (nfamilies >= MAX_FAMILIES || nlabels > DWC_OWN_MAX_LABELS || nbounds > DWC_OWN_MAX_BOUNDS
		|| (type == 'h') != (nbounds > 0))
		elog(ERROR, "bad dwc counter family \"%s\"", name);
	f = &families[nfamilies];
	f->name = name;
	f->type = type;
	f->help = help;
	f->nlabels = nlabels;
	for (i = 0; i < nlabels; i++)
		f->labels[i] = labels[i];
	f->nbounds = nbounds;
	for (i = 0; i < nbounds; i++)
		f->bounds[i] = bounds[i];
	return nfamilies++;
}

/* ---- adding -------------------------------------------------------------- */

static void
make_key(SeriesKey *key, int family, const char *const *values)
{
	int			i;

	memset(key, 0, sizeof(*key));
	key->dboid = MyDatabaseId;
	key->family = family;
	for (i = 0; i < families[family].nlabels; i++)
		strlcpy(key->values[i], values[i] ? values[i] : "", DWC_OWN_LABEL_LEN);
}

/* the bucket of a histogram's family a value falls in (the last: +Inf) */
static int
bucket_of(const Family *f, double value)
{
	int			b;

	for (b = 0; b < f->nbounds && value > f->bounds[b]; b++)
		;
	return b;
}

/* add what p holds to its series; under the lock, exclusive */
static void
add_locked(const Pending *p)
{
	const Family *f = &families[p->key.family];
	Series	   *s;
	bool		found;
	int			b;

	s = hash_search(series_table, &p->key, HASH_ENTER_NULL, &found);
	if (s == NULL)
	{
		shared->dropped++;
		return;
	}
	if (!found)
	{
		s->sum = 0;
		s->count = 0;
		memset(s->buckets, 0, sizeof(s->buckets));
	}
	s->sum += p->sum;
	s->count += p->count;
	if (f->type == 'h')
		for (b = 0; b <= f->nbounds; b++)
			s->buckets[b] += p->buckets[b];
}

static void
pending_one(Pending *p, int family, const char *const *values, double value)
{
	const Family *f = &families[family];

	make_key(&p->key, family, values);
	p->sum = value;
	p->count = 1;
	memset(p->buckets, 0, sizeof(p->buckets));
	if (f->type == 'h')
		p->buckets[bucket_of(f, value)] = 1;
}

void
DwcOwnAdd(int family, const char *const *values, double value)
{
	Pending		p;

	if (series_table == NULL || family < 0)
		return;
	pending_one(&p, family, values, value);
	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	add_locked(&p);
	LWLockRelease(shared->lock);
}

static void
pending_at_end(XactEvent event, void *arg)
{
	int			i;

	if (npending == 0)
		return;
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_PARALLEL_COMMIT)
	{
		LWLockAcquire(shared->lock, LW_EXCLUSIVE);
		for (i = 0; i < npending; i++)
			add_locked(&pending[i]);
		LWLockRelease(shared->lock);
	}
	else if (event != XACT_EVENT_ABORT && event != XACT_EVENT_PARALLEL_ABORT &&
			 event != XACT_EVENT_PREPARE)
		return;
	npending = 0;
}

void
DwcOwnAddAtCommit(int family, const char *const *values, double value)
{
	Pending		p;
	int			i;

	if (series_table == NULL || family < 0)
		return;
	if (!callback_registered)
	{
		RegisterXactCallback(pending_at_end, NULL);
		callback_registered = true;
	}
	pending_one(&p, family, values, value);
	/* the same series as a recent addition: merged into it */
	for (i = npending - 1; i >= 0 && i >= npending - 8; i--)
	{
		Pending    *q = &pending[i];

		if (memcmp(&q->key, &p.key, sizeof(SeriesKey)) == 0)
		{
			q->sum += value;
			q->count++;
			if (families[family].type == 'h')
				q->buckets[bucket_of(&families[family], value)]++;
			return;
		}
	}
	if (npending == pending_cap)
	{
		int			cap = Max(64, pending_cap * 2);

		pending = pending == NULL
			? MemoryContextAlloc(TopMemoryContext, sizeof(Pending) * cap)
			: repalloc(pending, sizeof(Pending) * cap);
		pending_cap = cap;
	}
	pending[npending++] = p;
}

/* ---- reading ------------------------------------------------------------- */

static Datum
labels_jsonb(const Family *f, const SeriesKey *key)
{
	StringInfoData buf;
	int			i;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	for (i = 0; i < f->nlabels; i++)
	{
		if (i > 0)
			appendStringInfoString(&buf, ", ");
		escape_json(&buf, f->labels[i]);
		appendStringInfoString(&buf, ": ");
		escape_json(&buf, key->values[i]);
	}
	appendStringInfoChar(&buf, '}');
	return DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data));
}

/*
 * dwc._own_series(): every series of this database, one row each: name,
 * type, help, labels, value (a counter's total, a histogram's sum), count,
 * and for histograms the bucket bounds and counts (not cumulative; the last
 * is +Inf).  Copied under the lock, then formed.
 */
PG_FUNCTION_INFO_V1(dwc__own_series);
Datum
dwc__own_series(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Series	   *copy;
	int			n = 0;
	int			cap;
	int			i;
	HASH_SEQ_STATUS seq;
	Series	   *s;

	InitMaterializedSRF(fcinfo, 0);
	if (series_table == NULL)
		PG_RETURN_VOID();

	LWLockAcquire(shared->lock, LW_SHARED);
	cap = Max((int) hash_get_num_entries(series_table), 1);
	copy = palloc(sizeof(Series) * cap);
	hash_seq_init(&seq, series_table);
	while ((s = hash_seq_search(&seq)) != NULL)
	{
		if (s->key.dboid != MyDatabaseId || s->key.family >= nfamilies || n >= cap)
			continue;
		copy[n++] = *s;
	}
	LWLockRelease(shared->lock);

	for (i = 0; i < n; i++)
	{
		const Family *f = &families[copy[i].key.family];
		Datum		values[8];
		bool		nulls[8] = {false};

		values[0] = CStringGetTextDatum(f->name);
		values[1] = CStringGetTextDatum(f->type == 'h' ? "histogram" : "counter");
		values[2] = CStringGetTextDatum(f->help);
		values[3] = labels_jsonb(f, &copy[i].key);
		values[4] = Float8GetDatum(copy[i].sum);
		values[5] = Int64GetDatum(copy[i].count);
		if (f->type == 'h')
		{
			Datum		d[DWC_OWN_MAX_BOUNDS + 1];
			int			b;

			for (b = 0; b < f->nbounds; b++)
				d[b] = Float8GetDatum(f->bounds[b]);
			values[6] = DwcArrayDatum(d, NULL, f->nbounds, FLOAT8OID);
			for (b = 0; b <= f->nbounds; b++)
				d[b] = Int64GetDatum(copy[i].buckets[b]);
			values[7] = DwcArrayDatum(d, NULL, f->nbounds + 1, INT8OID);
		}
		else
			nulls[6] = nulls[7] = true;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	PG_RETURN_VOID();
}
