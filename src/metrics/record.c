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
 * they see every value at once; that, and the writing, are in unwritten.c.
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
#include "metrics/series.h"
#include "security/identity.h"

PG_FUNCTION_INFO_V1(dwc_metric_inc);
PG_FUNCTION_INFO_V1(dwc_metric_set);
PG_FUNCTION_INFO_V1(dwc_metric_observe);
PG_FUNCTION_INFO_V1(dwc__metrics_changed);

int			dwc_metric_series_max = 4096;
int			dwc_metric_ring_size = 131072;
int			DwcMetricsFlushTask;

MetricsShared *metrics_shared = NULL;
HTAB	   *metrics_series = NULL;
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

	metrics_shared = ShmemInitStruct("dwc metrics", offsetof(MetricsShared, ring) +
							 sizeof(Sample) * (Size) dwc_metric_ring_size, &found);
	if (!found)
	{
		memset(metrics_shared, 0, offsetof(MetricsShared, ring) + sizeof(Sample) * (Size) dwc_metric_ring_size);
		metrics_shared->lock = &(GetNamedLWLockTranche("dwc metrics"))->lock;
		SpinLockInit(&metrics_shared->ring_mutex);
		metrics_shared->next_seq = 1;
	}
	memset(&info, 0, sizeof(info));
	info.keysize = sizeof(SeriesKey);
	info.entrysize = sizeof(Series);
	metrics_series = ShmemInitHash("dwc metric series", dwc_metric_series_max, dwc_metric_series_max,
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
	TransactionId defined_by;	/* the current transaction, when it made the definition */
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

		/*
		 * Defined by this very transaction (dwc._metric defines a metric at
		 * its first use): its values must not be written before the
		 * definition commits, or the write, not seeing the metric, would
		 * leave them out for good (DwcMetricsFlush).  The cache of
		 * definitions is dropped when the definition commits.  A statement
		 * of its own: the one that called dwc._metric could not see the row
		 * the call inserted.
		 */
		args[0] = CStringGetTextDatum(d->name);
		d->defined_by = InvalidTransactionId;
		if (SPI_execute_with_args("SELECT xmin FROM dwc.metrics WHERE name = $1",
								  1, types, args, NULL, false, 1) != SPI_OK_SELECT)
			elog(ERROR, "could not find the metric \"%s\"", given);
		if (SPI_processed == 1)
		{
			b = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
			if (!isnull && TransactionIdIsCurrentTransactionId(DatumGetTransactionId(b)))
				d->defined_by = DatumGetTransactionId(b);
		}
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

/* see series.h */
void
metric_key_parts(const SeriesKey *key, const char **name, const char **labels, const char **user)
{
	*name = key->text;
	*labels = *name + strlen(*name) + 1;
	*user = *labels + strlen(*labels) + 1;
	if (**user == '\0')
		*user = NULL;
}

/* see series.h */
void
metric_key_datums(const SeriesKey *key, Datum *name, Datum *labels, Datum *owner, Datum *user, bool *user_null)
{
	const char *n,
			   *l,
			   *u;

	metric_key_parts(key, &n, &l, &u);
	*name = CStringGetTextDatum(n);
	*labels = DirectFunctionCall1(jsonb_in, CStringGetDatum(l));
	*owner = ObjectIdGetDatum(key->owner);
	*user_null = u == NULL;
	*user = u ? CStringGetTextDatum(u) : (Datum) 0;
}

/* the series of key, added when new; NULL when the table is full */
static Series *
find_series(const SeriesKey *key)
{
	Series	   *s;
	bool		found;

	LWLockAcquire(metrics_shared->lock, LW_SHARED);
	s = hash_search(metrics_series, key, HASH_FIND, NULL);
	LWLockRelease(metrics_shared->lock);
	if (s != NULL)
		return s;
	LWLockAcquire(metrics_shared->lock, LW_EXCLUSIVE);
	s = hash_search(metrics_series, key, HASH_ENTER_NULL, &found);
	if (s != NULL && !found)
	{
		SpinLockInit(&s->mutex);
		s->loaded = false;
		s->dirty = false;
		s->defined_by = InvalidTransactionId;
		s->count = 0;
		s->value = 0;
	}
	LWLockRelease(metrics_shared->lock);
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
	metric_key_parts(&s->key, &name, &labels, &user);
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
		s->defined_by = d->defined_by;
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
	uint64		seq;
	Oid			half_full = InvalidOid;

	SpinLockAcquire(&metrics_shared->ring_mutex);
	e = &metrics_shared->ring[metrics_shared->next_seq % dwc_metric_ring_size];
	if (e->seq != 0 && !e->consumed && !e->taken)
		DwcLossCount(&metrics_shared->lost, e->dboid);
	seq = e->seq = metrics_shared->next_seq++;
	e->consumed = false;
	e->taken = false;
	e->written_by = InvalidTransactionId;
	e->dboid = MyDatabaseId;
	e->series = s;
	e->at = at;
	e->value = value;

	/*
	 * Every quarter of a ring, look half a ring back: not written yet, the
	 * ring will wrap over it before the next write is due, so ask for that
	 * write now.  A recorder never waits (a call costs a microsecond);
	 * faster than the worker writes, samples are still lost, and counted.
	 */
	if (seq % Max(dwc_metric_ring_size / 4, 1) == 0)
	{
		Sample	   *back = &metrics_shared->ring[(seq + dwc_metric_ring_size / 2) % dwc_metric_ring_size];

		if (back->seq != 0 && !back->consumed)
			half_full = back->dboid;
	}
	SpinLockRelease(&metrics_shared->ring_mutex);
	if (OidIsValid(half_full))
		(void) DwcMaintenanceRequest(half_full, DwcMetricsFlushTask);
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
		if (metrics_shared != NULL && written_here() && make_key(&key, out->d->name, ltext, caller, user))
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
	if (d != NULL && metrics_shared != NULL && written_here() && make_key(&key, d->name, ltext, caller, user))
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
