/*-------------------------------------------------------------------------
 *
 * record.c
 *		Recording a metric at the speed of a function call: series kept in
 *		shared memory, samples in a ring, both written to the tables by the
 *		maintenance worker.
 *
 * dwc.metric_inc(), metric_set() and metric_observe() were SQL: an upsert
 * of dwc.metric_values and an insert into dwc.metric_samples a call (45 to
 * 70 us).  Here, as pg_stat_statements keeps its counters, each series
 * (metric, labels, recording role and dwc user) is an entry of a shared
 * hash table holding its current value, count and bucket counts, loaded
 * from dwc.metric_values the first time it is touched; each recorded value
 * is also appended to a ring of samples.  The maintenance worker of each
 * database writes the series that changed and the ring's samples to the
 * tables every DWC_METRICS_FLUSH_MS, and once more when it stops cleanly
 * (a clean shutdown loses nothing); a crash loses what was recorded since
 * the last write.  The readers (dwc.metric_current_values(),
 * prometheus_metrics(), metric_series()) add what is not yet written, so
 * they see every value at once.
 *
 * What the tables no longer give: a value is recorded when the call is
 * made, and a rollback does not take it back (as with every metrics
 * system); when the ring is full before the worker empties it, the oldest
 * samples are lost and counted (the current values are not affected).
 * Without shared memory (dwc not preloaded), when the table of series is
 * full, or for a series whose name, labels and user are longer than
 * SERIES_TEXT bytes, the SQL path (the private halves dwc._metric_inc ...)
 * records as before.
 *
 * src/metrics/record.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/xact.h"
#include "access/xlog.h"
#include "access/transam.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "commands/dbcommands.h"
#include "core/arrays.h"
#include "core/guc.h"
#include "core/owner.h"
#include "core/registry.h"
#include "metrics/metrics.h"
#include "security/identity.h"

PG_FUNCTION_INFO_V1(dwc_metric_inc);
PG_FUNCTION_INFO_V1(dwc_metric_set);
PG_FUNCTION_INFO_V1(dwc_metric_observe);
PG_FUNCTION_INFO_V1(dwc__metrics_changed);
PG_FUNCTION_INFO_V1(dwc__metric_pending);
PG_FUNCTION_INFO_V1(dwc__metric_pending_samples);
PG_FUNCTION_INFO_V1(dwc__metric_samples_lost);

/* name, labels and dwc user of a series, laid end to end */
#define SERIES_TEXT 448
#define MAX_BOUNDS 50
/* a metric's name as given (up to 200 characters) */
#define GIVEN_MAX 808

int			dwc_metric_series_max = 4096;
int			dwc_metric_ring_size = 131072;

typedef struct SeriesKey
{
	Oid			dboid;
	Oid			owner;
	char		text[SERIES_TEXT];	/* name \0 labels \0 user \0, zero padded */
} SeriesKey;

typedef struct Series
{
	SeriesKey	key;			/* the hash key, first */
	slock_t		mutex;
	bool		loaded;			/* value, count and buckets hold the series' state */
	bool		dirty;			/* changed since it was last written */
	char		type;			/* 'c', 'g' or 'h' */
	int			ncounts;		/* a histogram's bounds + 1 (+Inf) */
	TimestampTz defined_at;		/* the definition's created_at: a metric made again starts over */
	double		value;
	int64		count;
	TimestampTz updated_at;
	int64		counts[MAX_BOUNDS + 1];
} Series;

typedef struct Sample
{
	uint64		seq;			/* 0: empty */
	bool		consumed;
	TransactionId written_by;	/* the write that consumed it: readers whose snapshot does not see it add it */
	Oid			dboid;
	Series	   *series;
	TimestampTz at;
	double		value;
} Sample;

typedef struct MetricsShared
{
	LWLock	   *lock;			/* the series table: shared to find, exclusive to add */
	slock_t		ring_mutex;
	uint64		next_seq;
	uint64		lost;
	Sample		ring[FLEXIBLE_ARRAY_MEMBER];
} MetricsShared;

static MetricsShared *shared = NULL;
static HTAB *series_table = NULL;
int			DwcMetricsCounter = -1;

/* ---- shared memory ------------------------------------------------------- */

Size
DwcMetricsShmemSize(void)
{
	return add_size(offsetof(MetricsShared, ring) + sizeof(Sample) * (Size) dwc_metric_ring_size,
					hash_estimate_size(dwc_metric_series_max, sizeof(Series)));
}

void
DwcMetricsShmemInit(void)
{
	bool		found;
	HASHCTL		info;

	shared = ShmemInitStruct("dwc metrics", offsetof(MetricsShared, ring) +
							 sizeof(Sample) * (Size) dwc_metric_ring_size, &found);
	if (!found)
	{
		memset(shared, 0, offsetof(MetricsShared, ring) + sizeof(Sample) * (Size) dwc_metric_ring_size);
		shared->lock = &(GetNamedLWLockTranche("dwc metrics"))->lock;
		SpinLockInit(&shared->ring_mutex);
		shared->next_seq = 1;
	}
	memset(&info, 0, sizeof(info));
	info.keysize = sizeof(SeriesKey);
	info.entrysize = sizeof(Series);
	series_table = ShmemInitHash("dwc metric series", dwc_metric_series_max, dwc_metric_series_max,
								 &info, HASH_ELEM | HASH_BLOBS);
}

/* ---- definitions, cached per backend ------------------------------------- */

typedef struct Def
{
	char		given[GIVEN_MAX];	/* the hash key: the name as the caller wrote it */
	char		name[208];		/* its Prometheus name */
	char		type;
	int			nbounds;
	double		bounds[MAX_BOUNDS];
	TimestampTz created_at;
} Def;

static HTAB *defs = NULL;
static uint64 defs_seen = 0;

static const char *
type_name(char t)
{
	return t == 'c' ? "counter" : t == 'g' ? "gauge" : "histogram";
}

static void check_type(const Def *d, char want);

/* the cached definition of the metric named as given, or NULL (no SPI) */
static Def *
cached_definition(const char *given, char want)
{
	Def		   *d;

	if (defs == NULL || DwcCounterValue(DwcMetricsCounter) != defs_seen || defs_seen == 0 ||
		strlen(given) >= GIVEN_MAX)
		return NULL;
	d = hash_search(defs, given, HASH_FIND, NULL);
	if (d != NULL)
		check_type(d, want);
	return d;
}

static void
check_type(const Def *d, char want)
{
	if (d->type != want)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("metric \"%s\" is a %s, not a %s", d->name, type_name(d->type), type_name(want))));
}

/*
 * The definition of the metric named as given, which must be of type want;
 * defined by the caller with that type when there is none (dwc._metric).
 * SPI connected, as the owner of dwc's tables.
 */
static Def *
definition(const char *given, char want, Oid caller)
{
	uint64		gen = DwcCounterValue(DwcMetricsCounter);
	Def		   *d;
	bool		found;
	Oid			types[3] = {TEXTOID, TEXTOID, OIDOID};
	Datum		args[3];
	bool		isnull;
	HeapTuple	tup;
	TupleDesc	desc;
	Datum		b;

	if (defs == NULL || gen != defs_seen || gen == 0)
	{
		HASHCTL		ctl;

		if (defs != NULL)
			hash_destroy(defs);
		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = GIVEN_MAX;
		ctl.entrysize = sizeof(Def);
		ctl.hcxt = TopMemoryContext;
		defs = hash_create("dwc metric definitions", 64, &ctl, HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
		defs_seen = gen;
	}
	d = hash_search(defs, given, HASH_FIND, &found);
	if (d == NULL)
	{
		args[0] = CStringGetTextDatum(given);
		args[1] = CStringGetTextDatum(type_name(want));
		args[2] = ObjectIdGetDatum(caller);
		if (SPI_execute_with_args("SELECT m.name, m.type, m.buckets, m.created_at FROM dwc._metric($1, $2, $3) m",
								  3, types, args, NULL, false, 1) != SPI_OK_SELECT || SPI_processed != 1)
			elog(ERROR, "could not find the metric \"%s\"", given);
		tup = SPI_tuptable->vals[0];
		desc = SPI_tuptable->tupdesc;
		d = hash_search(defs, given, HASH_ENTER, &found);
		strlcpy(d->name, SPI_getvalue(tup, desc, 1), sizeof(d->name));
		d->type = SPI_getvalue(tup, desc, 2)[0];
		d->nbounds = 0;
		b = SPI_getbinval(tup, desc, 3, &isnull);
		if (!isnull)
		{
			Datum	   *elems;
			bool	   *nulls;
			int			n;

			deconstruct_array(DatumGetArrayTypeP(b), FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE,
							  &elems, &nulls, &n);
			for (int i = 0; i < n && i < MAX_BOUNDS; i++)
				d->bounds[d->nbounds++] = DatumGetFloat8(elems[i]);
		}
		d->created_at = DatumGetTimestampTz(SPI_getbinval(tup, desc, 4, &isnull));
		/* a name too long for the key stays out of the cache: looked up every time */
		if (strlen(given) >= GIVEN_MAX)
		{
			Def		   *copy = palloc(sizeof(Def));

			memcpy(copy, d, sizeof(Def));
			hash_search(defs, given, HASH_REMOVE, NULL);
			d = copy;
		}
	}
	check_type(d, want);
	return d;
}

/* ---- series -------------------------------------------------------------- */

/* the key of a series; false when it is too long for one */
static bool
make_key(SeriesKey *key, const char *name, const char *labels, Oid owner, const char *user)
{
	size_t		ln = strlen(name),
				ll = strlen(labels),
				lu = user ? strlen(user) : 0;

	memset(key, 0, sizeof(*key));
	if (ln + ll + lu + 3 > SERIES_TEXT)
		return false;
	key->dboid = MyDatabaseId;
	key->owner = owner;
	memcpy(key->text, name, ln);
	memcpy(key->text + ln + 1, labels, ll);
	if (user)
		memcpy(key->text + ln + ll + 2, user, lu);
	return true;
}

/* the parts of a series' key */
static void
key_parts(const SeriesKey *key, const char **name, const char **labels, const char **user)
{
	*name = key->text;
	*labels = *name + strlen(*name) + 1;
	*user = *labels + strlen(*labels) + 1;
	if (**user == '\0')
		*user = NULL;
}

/* the series of key, added when new; NULL when the table is full */
static Series *
find_series(const SeriesKey *key)
{
	Series	   *s;
	bool		found;

	LWLockAcquire(shared->lock, LW_SHARED);
	s = hash_search(series_table, key, HASH_FIND, NULL);
	LWLockRelease(shared->lock);
	if (s != NULL)
		return s;
	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	s = hash_search(series_table, key, HASH_ENTER_NULL, &found);
	if (s != NULL && !found)
	{
		SpinLockInit(&s->mutex);
		s->loaded = false;
		s->dirty = false;
		s->count = 0;
		s->value = 0;
	}
	LWLockRelease(shared->lock);
	return s;
}

/*
 * Load a series' state from dwc.metric_values unless it holds it (for the
 * definition d): its total goes on from what was written.  SPI connected,
 * as the owner.
 */
static void
load_series(Series *s, const Def *d)
{
	bool		loaded;
	const char *name,
			   *labels,
			   *user;
	Oid			types[4] = {TEXTOID, JSONBOID, OIDOID, TEXTOID};
	Datum		args[4];
	char		nulls[4] = {' ', ' ', ' ', ' '};
	double		value = 0;
	int64		count = 0;
	int64		counts[MAX_BOUNDS + 1];
	int			ncounts = d->type == 'h' ? d->nbounds + 1 : 0;

	SpinLockAcquire(&s->mutex);
	loaded = s->loaded && s->defined_at == d->created_at;
	SpinLockRelease(&s->mutex);
	if (loaded)
		return;

	memset(counts, 0, sizeof(counts));
	key_parts(&s->key, &name, &labels, &user);
	args[0] = CStringGetTextDatum(name);
	args[1] = DirectFunctionCall1(jsonb_in, CStringGetDatum(labels));
	args[2] = ObjectIdGetDatum(s->key.owner);
	args[3] = user ? CStringGetTextDatum(user) : (Datum) 0;
	nulls[3] = user ? ' ' : 'n';
	if (SPI_execute_with_args("SELECT value, count, bucket_counts FROM dwc.metric_values "
							  "WHERE name = $1 AND labels = $2 AND owner = $3 AND owner_user IS NOT DISTINCT FROM $4",
							  4, types, args, nulls, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read the metric's value");
	if (SPI_processed == 1)
	{
		HeapTuple	tup = SPI_tuptable->vals[0];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		Datum		b;

		value = DatumGetFloat8(SPI_getbinval(tup, desc, 1, &isnull));
		count = DatumGetInt64(SPI_getbinval(tup, desc, 2, &isnull));
		b = SPI_getbinval(tup, desc, 3, &isnull);
		if (!isnull && ncounts > 0)
		{
			Datum	   *elems;
			bool	   *enulls;
			int			n;

			deconstruct_array(DatumGetArrayTypeP(b), INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE,
							  &elems, &enulls, &n);
			for (int i = 0; i < n && i < ncounts; i++)
				counts[i] = enulls[i] ? 0 : DatumGetInt64(elems[i]);
		}
	}
	SpinLockAcquire(&s->mutex);
	if (!(s->loaded && s->defined_at == d->created_at))
	{
		s->loaded = true;
		s->defined_at = d->created_at;
		s->type = d->type;
		s->ncounts = ncounts;
		s->value = value;
		s->count = count;
		memcpy(s->counts, counts, sizeof(counts));
	}
	SpinLockRelease(&s->mutex);
}

static void
append_sample(Series *s, TimestampTz at, double value)
{
	Sample	   *e;

	SpinLockAcquire(&shared->ring_mutex);
	e = &shared->ring[shared->next_seq % dwc_metric_ring_size];
	if (e->seq != 0 && !e->consumed)
		shared->lost++;
	e->seq = shared->next_seq++;
	e->consumed = false;
	e->written_by = InvalidTransactionId;
	e->dboid = MyDatabaseId;
	e->series = s;
	e->at = at;
	e->value = value;
	SpinLockRelease(&shared->ring_mutex);
}

/* ---- recording ----------------------------------------------------------- */

/*
 * Does a maintenance worker write this database's metrics?  Only a served
 * database (dwc.databases) with the workers on, on a primary, has one;
 * elsewhere the SQL path records (and a standby refuses, as for any write),
 * as nothing would write what shared memory holds.
 */
static bool
written_here(void)
{
	static char *seen = NULL;
	static bool served = false;
	List	   *names;
	ListCell   *lc;
	const char *me;

	/* a standby runs no maintenance worker, and its shared memory is not its primary's */
	if (!dwc_enabled || dwc_databases == NULL || RecoveryInProgress())
		return false;
	if (seen != NULL && strcmp(seen, dwc_databases) == 0)
		return served;
	if (seen != NULL)
		pfree(seen);
	seen = MemoryContextStrdup(TopMemoryContext, dwc_databases);
	served = false;
	me = get_database_name(MyDatabaseId);
	names = DwcDatabaseNames();
	foreach(lc, names)
		if (me != NULL && strcmp((char *) lfirst(lc), me) == 0)
			served = true;
	list_free_deep(names);
	return served;
}

/* the labels in their one form, as text (src/metrics/labels.c) */
static char *
labels_text(Jsonb *labels)
{
	Jsonb	   *canon;

	if (labels == NULL || (JB_ROOT_IS_OBJECT(labels) && JB_ROOT_COUNT(labels) == 0))
		return "{}";
	canon = DatumGetJsonbP(DirectFunctionCall1(dwc__metric_labels, JsonbPGetDatum(labels)));
	return JsonbToCString(NULL, &canon->root, VARSIZE(canon));
}

/*
 * The SQL path: the private half dwc._<fn>(caller, name, x, labels), as the
 * owner, SPI connected.  Returns its float8 result (NaN for void).
 */
static double
record_by_sql(const char *fn, Oid caller, text *name, double x, Jsonb *labels)
{
	Oid			types[4] = {OIDOID, TEXTOID, FLOAT8OID, JSONBOID};
	Datum		args[4];
	char		sql[128];
	bool		isnull;
	Datum		r;

	args[0] = ObjectIdGetDatum(caller);
	args[1] = PointerGetDatum(name);
	args[2] = Float8GetDatum(x);
	args[3] = labels ? JsonbPGetDatum(labels) : DirectFunctionCall1(jsonb_in, CStringGetDatum("{}"));
	/* metric_inc's half returns the total; the others return void, one row of it */
	snprintf(sql, sizeof(sql), strcmp(fn, "_metric_inc") == 0 ? "SELECT dwc.%s($1, $2, $3, $4)"
			 : "SELECT NULL::pg_catalog.float8 FROM dwc.%s($1, $2, $3, $4)", fn);
	if (SPI_execute_with_args(sql, 4, types, args, NULL, false, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not record the metric");
	r = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return isnull ? NAN : DatumGetFloat8(r);
}

typedef struct Prepared
{
	Def		   *d;
	Series	   *s;				/* NULL: recorded through SQL, result set */
	double		result;
} Prepared;

/*
 * What the usual call finds without a query: the definition (defined now
 * when there is none) and the series, loaded.  When there is no series for
 * it in shared memory, the value is recorded through SQL here.
 */
static void
prepare(char want, const char *fn, text *name_t, double x, Jsonb *labels, const char *name,
		const char *ltext, Oid caller, const char *user, Prepared *out)
{
	DwcSavedUser save;

	DwcBecomeOwner(&save);
	PG_TRY();
	{
		SeriesKey	key;

		SPI_connect();
		out->d = definition(name, want, caller);
		out->s = NULL;
		out->result = NAN;
		if (shared != NULL && written_here() && make_key(&key, out->d->name, ltext, caller, user))
			out->s = find_series(&key);
		if (out->s == NULL)
			out->result = record_by_sql(fn, caller, name_t, x, labels);
		else
			load_series(out->s, out->d);
		SPI_finish();
	}
	PG_FINALLY();
	{
		DwcRestoreUser(&save);
	}
	PG_END_TRY();
}

/*
 * Record x in the metric named name (of type want) for labels, as the
 * caller and their dwc user.  Returns what metric_inc returns: the counter's
 * new total.
 */
static double
record(char want, const char *fn, text *name_t, double x, Jsonb *labels)
{
	Oid			caller = DwcEffectiveUserId();
	char	   *user = DwcCurrentUserId();
	char	   *name = text_to_cstring(name_t);
	char	   *ltext = labels_text(labels);
	Def		   *d = cached_definition(name, want);
	SeriesKey	key;
	Series	   *s = NULL;
	bool		ready = false;
	TimestampTz now;
	double		result = NAN;
	double		sample = x;

	/* the usual call: the definition cached, the series loaded; no query at all */
	if (d != NULL && shared != NULL && written_here() && make_key(&key, d->name, ltext, caller, user))
	{
		s = find_series(&key);
		if (s != NULL)
		{
			SpinLockAcquire(&s->mutex);
			ready = s->loaded && s->defined_at == d->created_at;
			SpinLockRelease(&s->mutex);
		}
	}
	if (!ready)
	{
		Prepared	prep;

		prepare(want, fn, name_t, x, labels, name, ltext, caller, user, &prep);
		if (prep.s == NULL)
			return prep.result;
		d = prep.d;
		s = prep.s;
	}

	now = GetCurrentTimestamp();
	SpinLockAcquire(&s->mutex);
	if (want == 'c')
		s->value += x;
	else if (want == 'g')
		s->value = x;
	else
	{
		int			b = 0;

		while (b < d->nbounds && x > d->bounds[b])
			b++;
		s->value += x;
		if (b < s->ncounts)
			s->counts[b]++;
	}
	s->count++;
	s->updated_at = now;
	s->dirty = true;
	result = s->value;
	SpinLockRelease(&s->mutex);
	/* a counter's sample is its total after the increment, as before */
	if (want == 'c')
		sample = result;
	append_sample(s, now, sample);
	return result;
}

static Jsonb *
labels_arg(FunctionCallInfo fcinfo, int n)
{
	return PG_ARGISNULL(n) ? NULL : PG_GETARG_JSONB_P(n);
}

static void
require_name(FunctionCallInfo fcinfo)
{
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("argument \"name\" must not be null")));
}

/* dwc.metric_inc(name, amount = 1, labels = '{}') returns float8 */
Datum
dwc_metric_inc(PG_FUNCTION_ARGS)
{
	double		amount = PG_ARGISNULL(1) ? NAN : PG_GETARG_FLOAT8(1);

	require_name(fcinfo);
	if (!(amount >= 0) || isinf(amount))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a counter only goes up: amount must be a finite number >= 0")));
	PG_RETURN_FLOAT8(record('c', "_metric_inc", PG_GETARG_TEXT_PP(0), amount, labels_arg(fcinfo, 2)));
}

/* dwc.metric_set(name, value, labels = '{}') */
Datum
dwc_metric_set(PG_FUNCTION_ARGS)
{
	double		value = PG_ARGISNULL(1) ? NAN : PG_GETARG_FLOAT8(1);

	require_name(fcinfo);
	if (isnan(value))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a gauge needs a number")));
	(void) record('g', "_metric_set", PG_GETARG_TEXT_PP(0), value, labels_arg(fcinfo, 2));
	PG_RETURN_VOID();
}

/* dwc.metric_observe(name, value, labels = '{}') */
Datum
dwc_metric_observe(PG_FUNCTION_ARGS)
{
	double		value = PG_ARGISNULL(1) ? NAN : PG_GETARG_FLOAT8(1);

	require_name(fcinfo);
	if (isnan(value) || isinf(value))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("an observation is a finite number")));
	(void) record('h', "_metric_observe", PG_GETARG_TEXT_PP(0), value, labels_arg(fcinfo, 2));
	PG_RETURN_VOID();
}

/* the trigger on dwc.metrics: definitions cached by backends are stale at commit */
Datum
dwc__metrics_changed(PG_FUNCTION_ARGS)
{
	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "dwc._metrics_changed() must be called as a trigger");
	DwcBumpCounterAtCommit(DwcMetricsCounter);
	return PointerGetDatum(NULL);
}

/* ---- what is not yet written --------------------------------------------- */

typedef struct Pending
{
	Series	   *series;
	TimestampTz defined_at;
	SeriesKey	key;
	char		type;
	int			ncounts;
	double		value;
	int64		count;
	TimestampTz updated_at;
	int64		counts[MAX_BOUNDS + 1];
} Pending;

/*
 * This database's series changed since they were written; with all, every
 * series held (the readers put them over the table's rows: what shared memory
 * holds is never older, and a reader's snapshot may not see the last write).
 * Returns how many.
 */
static int
pending_series(Pending **out, bool all)
{
	HASH_SEQ_STATUS st;
	Series	   *s;
	int			n = 0,
				cap = 64;
	Pending    *p = palloc(sizeof(Pending) * cap);

	if (shared == NULL)
	{
		*out = p;
		return 0;
	}
	LWLockAcquire(shared->lock, LW_SHARED);
	hash_seq_init(&st, series_table);
	while ((s = hash_seq_search(&st)) != NULL)
	{
		if (s->key.dboid != MyDatabaseId)
			continue;
		SpinLockAcquire(&s->mutex);
		if (s->loaded && (s->dirty || all))
		{
			if (n == cap)
			{
				SpinLockRelease(&s->mutex);
				cap *= 2;
				p = repalloc_huge(p, sizeof(Pending) * cap);
				SpinLockAcquire(&s->mutex);
			}
			p[n].series = s;
			p[n].defined_at = s->defined_at;
			memcpy(&p[n].key, &s->key, sizeof(SeriesKey));
			p[n].type = s->type;
			p[n].ncounts = s->ncounts;
			p[n].value = s->value;
			p[n].count = s->count;
			p[n].updated_at = s->updated_at;
			memcpy(p[n].counts, s->counts, sizeof(int64) * s->ncounts);
			n++;
		}
		SpinLockRelease(&s->mutex);
	}
	LWLockRelease(shared->lock);
	*out = p;
	return n;
}

typedef struct PendingSample
{
	uint64		seq;
	Series	   *series;			/* its key never changes once made, nor does the entry move */
	TimestampTz at;
	double		value;
} PendingSample;

/* the maintenance worker has written this database's samples before written_upto */
static uint64 written_upto = 0;
static uint64 taken_upto = 0;

/*
 * This database's samples in the ring not yet written; with take, from where
 * the maintenance worker last wrote (it writes them).  Returns how many.
 */
static int
pending_samples(PendingSample **out, bool take)
{
	uint64		end,
				from;
	int			n = 0,
				cap = 256;
	PendingSample *p = palloc(sizeof(PendingSample) * cap);
	Snapshot	snap = take ? NULL : (ActiveSnapshotSet() ? GetActiveSnapshot() : GetTransactionSnapshot());

	*out = p;
	if (shared == NULL)
		return 0;
	SpinLockAcquire(&shared->ring_mutex);
	end = shared->next_seq;
	SpinLockRelease(&shared->ring_mutex);
	from = end > (uint64) dwc_metric_ring_size ? end - dwc_metric_ring_size : 1;
	if (take && written_upto > from)
		from = written_upto;
	/* a chunk at a time, so that the spinlock is held only for a copy of a few entries */
	for (uint64 seq = from; seq < end; seq += 32)
	{
		uint64		stop = Min(seq + 32, end);

		if (n + 32 > cap)
		{
			cap *= 2;
			p = repalloc_huge(p, sizeof(PendingSample) * cap);
		}
		SpinLockAcquire(&shared->ring_mutex);
		for (uint64 k = seq; k < stop; k++)
		{
			Sample	   *e = &shared->ring[k % dwc_metric_ring_size];

			if (e->seq != k || e->dboid != MyDatabaseId)
				continue;
			/* written: the reader adds it only while its snapshot cannot see that write */
			if (e->consumed && (take || !TransactionIdIsValid(e->written_by) ||
								!XidInMVCCSnapshot(e->written_by, snap)))
				continue;
			p[n].seq = k;
			p[n].series = e->series;
			p[n].at = e->at;
			p[n].value = e->value;
			n++;
		}
		SpinLockRelease(&shared->ring_mutex);
	}
	if (take)
		taken_upto = end;
	*out = p;
	return n;
}

/* the counts of a histogram as an int8[] datum, or NULL */
static Datum
counts_datum(const Pending *p, bool *isnull)
{
	Datum	   *e;

	*isnull = p->type != 'h';
	if (*isnull)
		return (Datum) 0;
	e = palloc(sizeof(Datum) * Max(p->ncounts, 1));
	for (int i = 0; i < p->ncounts; i++)
		e[i] = Int64GetDatum(p->counts[i]);
	return PointerGetDatum(construct_array(e, p->ncounts, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/* the counts of a histogram as int8[] text, for the writer's one array of them */
static char *
counts_text(const Pending *p)
{
	StringInfoData b;

	initStringInfo(&b);
	appendStringInfoChar(&b, '{');
	for (int i = 0; i < p->ncounts; i++)
		appendStringInfo(&b, "%s" INT64_FORMAT, i > 0 ? "," : "", p->counts[i]);
	appendStringInfoChar(&b, '}');
	return b.data;
}

/*
 * dwc._metric_pending() returns table (name, labels, owner, owner_user, value,
 * count, bucket_counts, updated_at): this database's series that changed
 * since they were last written, for the readers to put over the table's.
 */
Datum
dwc__metric_pending(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Pending    *p;
	int			n;

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	n = pending_series(&p, true);
	for (int i = 0; i < n; i++)
	{
		Datum		v[9];
		bool		nulls[9] = {false};
		const char *name,
				   *labels,
				   *user;

		key_parts(&p[i].key, &name, &labels, &user);
		v[0] = CStringGetTextDatum(name);
		v[1] = DirectFunctionCall1(jsonb_in, CStringGetDatum(labels));
		v[2] = ObjectIdGetDatum(p[i].key.owner);
		nulls[3] = user == NULL;
		v[3] = user ? CStringGetTextDatum(user) : (Datum) 0;
		v[4] = Float8GetDatum(p[i].value);
		v[5] = Int64GetDatum(p[i].count);
		v[6] = counts_datum(&p[i], &nulls[6]);
		v[7] = TimestampTzGetDatum(p[i].updated_at);
		v[8] = TimestampTzGetDatum(p[i].defined_at);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, v, nulls);
	}
	PG_RETURN_NULL();
}

/*
 * dwc._metric_pending_samples() returns table (at, name, labels, value,
 * owner, owner_user): this database's samples not yet written.
 */
Datum
dwc__metric_pending_samples(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	PendingSample *p;
	int			n;

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	n = pending_samples(&p, false);
	for (int i = 0; i < n; i++)
	{
		Datum		v[6];
		bool		nulls[6] = {false};
		const char *name,
				   *labels,
				   *user;

		key_parts(&p[i].series->key, &name, &labels, &user);
		v[0] = TimestampTzGetDatum(p[i].at);
		v[1] = CStringGetTextDatum(name);
		v[2] = DirectFunctionCall1(jsonb_in, CStringGetDatum(labels));
		v[3] = Float8GetDatum(p[i].value);
		v[4] = ObjectIdGetDatum(p[i].series->key.owner);
		nulls[5] = user == NULL;
		v[5] = user ? CStringGetTextDatum(user) : (Datum) 0;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, v, nulls);
	}
	PG_RETURN_NULL();
}

/* dwc._metric_samples_lost() returns bigint: samples the ring lost since the server started */
Datum
dwc__metric_samples_lost(PG_FUNCTION_ARGS)
{
	uint64		lost = 0;

	if (shared != NULL)
	{
		SpinLockAcquire(&shared->ring_mutex);
		lost = shared->lost;
		SpinLockRelease(&shared->ring_mutex);
	}
	PG_RETURN_INT64((int64) lost);
}

/* ---- writing (the maintenance worker) ------------------------------------ */

/*
 * What the transaction writing them took: marked written when it commits
 * (an XactCallback), so that until the rows are visible the readers still
 * add the values from shared memory, and a failed write loses nothing.
 */
static MemoryContext marks_cxt = NULL;
static Series **mark_series = NULL;
static int64 *mark_counts = NULL;
static int	nmark_series = 0;
static uint64 *mark_seqs = NULL;
static int	nmark_seqs = 0;
static bool callback_registered = false;
static bool flush_in_xact = false;	/* this transaction is a write of DwcMetricsFlush */
static TransactionId flush_xid = InvalidTransactionId;

static void
marks_at_commit(XactEvent event, void *arg)
{
	if ((event != XACT_EVENT_COMMIT && event != XACT_EVENT_ABORT) || !flush_in_xact)
		return;
	flush_in_xact = false;
	if (event == XACT_EVENT_ABORT)
		taken_upto = written_upto;	/* taken, not written: the next write takes them again */
	else if (shared != NULL)
	{
		for (int i = 0; i < nmark_series; i++)
		{
			Series	   *s = mark_series[i];

			/* changed again since it was read: still to be written */
			SpinLockAcquire(&s->mutex);
			if (s->count == mark_counts[i])
				s->dirty = false;
			SpinLockRelease(&s->mutex);
		}
		for (int i = 0; i < nmark_seqs; i += 32)
		{
			SpinLockAcquire(&shared->ring_mutex);
			for (int k = i; k < Min(i + 32, nmark_seqs); k++)
			{
				Sample	   *e = &shared->ring[mark_seqs[k] % dwc_metric_ring_size];

				if (e->seq == mark_seqs[k])
				{
					e->consumed = true;
					e->written_by = flush_xid;
				}
			}
			SpinLockRelease(&shared->ring_mutex);
		}
		written_upto = taken_upto;
	}
	nmark_series = nmark_seqs = 0;
	if (marks_cxt != NULL)
		MemoryContextReset(marks_cxt);
}

/*
 * Write this database's changed series into dwc.metric_values and its
 * samples into dwc.metric_samples (a maintenance task: its own transaction,
 * SPI connected); they count as written when it commits.  Rows of a metric
 * that is gone are left out.
 */
bool
DwcMetricsFlush(void)
{
	Pending    *p;
	PendingSample *q;
	int			n = pending_series(&p, false);
	int			m;

	if (!callback_registered)
	{
		RegisterXactCallback(marks_at_commit, NULL);
		marks_cxt = AllocSetContextCreate(TopMemoryContext, "dwc metric marks", ALLOCSET_DEFAULT_SIZES);
		callback_registered = true;
	}
	flush_in_xact = true;

	if (n > 0)
	{
		Oid			types[8] = {TEXTARRAYOID, JSONBARRAYOID, OIDARRAYOID, TEXTARRAYOID, FLOAT8ARRAYOID,
		INT8ARRAYOID, TEXTARRAYOID, TIMESTAMPTZARRAYOID};
		Datum	   *c[8];
		bool	   *unull = palloc0(sizeof(bool) * n),
				   *bnull = palloc0(sizeof(bool) * n);
		Datum		args[8];

		for (int k = 0; k < 8; k++)
			c[k] = palloc(sizeof(Datum) * n);
		for (int i = 0; i < n; i++)
		{
			const char *name,
					   *labels,
					   *user;

			key_parts(&p[i].key, &name, &labels, &user);
			c[0][i] = CStringGetTextDatum(name);
			c[1][i] = DirectFunctionCall1(jsonb_in, CStringGetDatum(labels));
			c[2][i] = ObjectIdGetDatum(p[i].key.owner);
			unull[i] = user == NULL;
			c[3][i] = user ? CStringGetTextDatum(user) : (Datum) 0;
			c[4][i] = Float8GetDatum(p[i].value);
			c[5][i] = Int64GetDatum(p[i].count);
			bnull[i] = p[i].type != 'h';
			c[6][i] = bnull[i] ? (Datum) 0 : CStringGetTextDatum(counts_text(&p[i]));
			c[7][i] = TimestampTzGetDatum(p[i].updated_at);
		}
		args[0] = DwcArrayDatum(c[0], NULL, n, TEXTOID);
		args[1] = DwcArrayDatum(c[1], NULL, n, JSONBOID);
		args[2] = DwcArrayDatum(c[2], NULL, n, OIDOID);
		args[3] = DwcArrayDatum(c[3], unull, n, TEXTOID);
		args[4] = DwcArrayDatum(c[4], NULL, n, FLOAT8OID);
		args[5] = DwcArrayDatum(c[5], NULL, n, INT8OID);
		args[6] = DwcArrayDatum(c[6], bnull, n, TEXTOID);
		args[7] = DwcArrayDatum(c[7], NULL, n, TIMESTAMPTZOID);
		if (SPI_execute_with_args("INSERT INTO dwc.metric_values AS v (name, labels, owner, owner_user, value, count, "
								  "       bucket_counts, updated_at) "
								  "SELECT u.name, u.labels, u.owner, u.owner_user, u.value, u.count, u.counts::int8[], u.at "
								  "  FROM unnest($1, $2, $3, $4, $5, $6, $7, $8) "
								  "       AS u (name, labels, owner, owner_user, value, count, counts, at) "
								  " WHERE EXISTS (SELECT 1 FROM dwc.metrics m WHERE m.name = u.name) "
								  "ON CONFLICT ON CONSTRAINT metric_values_key DO UPDATE "
								  "   SET value = excluded.value, count = excluded.count, "
								  "       bucket_counts = excluded.bucket_counts, updated_at = excluded.updated_at",
								  8, types, args, NULL, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "could not write the metrics' values");
		mark_series = MemoryContextAlloc(marks_cxt, sizeof(Series *) * n);
		mark_counts = MemoryContextAlloc(marks_cxt, sizeof(int64) * n);
		for (int i = 0; i < n; i++)
		{
			mark_series[i] = p[i].series;
			mark_counts[i] = p[i].count;
		}
		nmark_series = n;
	}

	m = pending_samples(&q, true);
	if (m > 0)
	{
		Oid			types[6] = {TIMESTAMPTZARRAYOID, TEXTARRAYOID, JSONBARRAYOID, FLOAT8ARRAYOID, OIDARRAYOID,
		TEXTARRAYOID};
		Datum	   *c[6];
		bool	   *unull = palloc0(sizeof(bool) * m);
		Datum		args[6];

		for (int k = 0; k < 6; k++)
			c[k] = palloc(sizeof(Datum) * m);
		for (int i = 0; i < m; i++)
		{
			const char *name,
					   *labels,
					   *user;

			key_parts(&q[i].series->key, &name, &labels, &user);
			c[0][i] = TimestampTzGetDatum(q[i].at);
			c[1][i] = CStringGetTextDatum(name);
			c[2][i] = DirectFunctionCall1(jsonb_in, CStringGetDatum(labels));
			c[3][i] = Float8GetDatum(q[i].value);
			c[4][i] = ObjectIdGetDatum(q[i].series->key.owner);
			unull[i] = user == NULL;
			c[5][i] = user ? CStringGetTextDatum(user) : (Datum) 0;
		}
		args[0] = DwcArrayDatum(c[0], NULL, m, TIMESTAMPTZOID);
		args[1] = DwcArrayDatum(c[1], NULL, m, TEXTOID);
		args[2] = DwcArrayDatum(c[2], NULL, m, JSONBOID);
		args[3] = DwcArrayDatum(c[3], NULL, m, FLOAT8OID);
		args[4] = DwcArrayDatum(c[4], NULL, m, OIDOID);
		args[5] = DwcArrayDatum(c[5], unull, m, TEXTOID);
		if (SPI_execute_with_args("INSERT INTO dwc.metric_samples (at, name, labels, value, owner, owner_user) "
								  "SELECT u.* FROM unnest($1, $2, $3, $4, $5, $6) AS u (at, name, labels, value, owner, owner_user) "
								  " WHERE EXISTS (SELECT 1 FROM dwc.metrics m WHERE m.name = u.name)",
								  6, types, args, NULL, false, 0) < 0)
			elog(ERROR, "could not write the metrics' samples");
		flush_xid = GetCurrentTransactionIdIfAny();
		mark_seqs = MemoryContextAlloc(marks_cxt, sizeof(uint64) * m);
		for (int i = 0; i < m; i++)
			mark_seqs[i] = q[i].seq;
		nmark_seqs = m;
	}
	return false;
}
