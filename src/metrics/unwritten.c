/*-------------------------------------------------------------------------
 *
 * unwritten.c
 *		What the metrics' shared memory holds that the tables do not yet:
 *		the readers add it (dwc._metric_pending(), _metric_pending_samples()),
 *		and the maintenance worker writes it (DwcMetricsFlush), marking it
 *		written when its transaction commits.  See record.c for the design.
 *
 * src/metrics/unwritten.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/transam.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/procarray.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "core/arrays.h"
#include "core/owner.h"
#include "metrics/metrics.h"
#include "metrics/series.h"

PG_FUNCTION_INFO_V1(dwc__metric_pending);
PG_FUNCTION_INFO_V1(dwc__metric_pending_samples);
PG_FUNCTION_INFO_V1(dwc__metric_samples_lost);

/* ---- what is not yet written --------------------------------------------- */

typedef struct Pending
{
	Series	   *series;
	TimestampTz defined_at;
	TransactionId defined_by;
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

	if (metrics_shared == NULL)
	{
		*out = p;
		return 0;
	}
	LWLockAcquire(metrics_shared->lock, LW_SHARED);
	hash_seq_init(&st, metrics_series);
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
			p[n].defined_by = s->defined_by;
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
	LWLockRelease(metrics_shared->lock);
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

/*
 * Of the pending series p[0..n), keep those ready to be written, and return
 * in unready (*nunready of them) the others: those whose metric was defined
 * by a transaction the current snapshot does not see ended (defined_by).  A
 * write leaves them, their values and their samples, for a later pass.  A
 * series whose defining transaction is seen ended is cleared of it:
 * committed, its metric is there; aborted, it is not, and the write leaves
 * its rows out.  Returns how many are kept.  (A series with samples to
 * write is pending: a value recorded marks it changed.)
 */
static int
keep_ready(Pending *p, int n, Series ***unready, int *nunready)
{
	Snapshot	snap = GetActiveSnapshot();
	int			kept = 0;

	*unready = palloc(sizeof(Series *) * Max(n, 1));
	*nunready = 0;
	for (int i = 0; i < n; i++)
	{
		TransactionId x = p[i].defined_by;

		if (TransactionIdIsValid(x) && (XidInMVCCSnapshot(x, snap) || TransactionIdIsInProgress(x)))
		{
			(*unready)[(*nunready)++] = p[i].series;
			continue;
		}
		if (TransactionIdIsValid(x))
		{
			SpinLockAcquire(&p[i].series->mutex);
			if (p[i].series->defined_by == x)
				p[i].series->defined_by = InvalidTransactionId;
			SpinLockRelease(&p[i].series->mutex);
		}
		p[kept++] = p[i];
	}
	return kept;
}

static bool
is_one_of(Series *s, Series **list, int n)
{
	for (int i = 0; i < n; i++)
		if (list[i] == s)
			return true;
	return false;
}

/* the maintenance worker has written this database's samples before written_upto */
static uint64 written_upto = 0;
static uint64 taken_upto = 0;

/*
 * This database's samples in the ring not yet written; with take, from where
 * the maintenance worker last wrote (it writes them).  Returns how many.
 */
static int
pending_samples(PendingSample **out, bool take, Series **unready, int nunready)
{
	uint64		end,
				from;
	int			n = 0,
				cap = 256;
	PendingSample *p = palloc(sizeof(PendingSample) * cap);
	Snapshot	snap = take ? NULL : (ActiveSnapshotSet() ? GetActiveSnapshot() : GetTransactionSnapshot());
	uint64		first_left = 0;	/* the first sample a write leaves for a later pass */

	*out = p;
	if (metrics_shared == NULL)
		return 0;
	SpinLockAcquire(&metrics_shared->ring_mutex);
	end = metrics_shared->next_seq;
	SpinLockRelease(&metrics_shared->ring_mutex);
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
		SpinLockAcquire(&metrics_shared->ring_mutex);
		for (uint64 k = seq; k < stop; k++)
		{
			Sample	   *e = &metrics_shared->ring[k % dwc_metric_ring_size];

			if (e->seq != k || e->dboid != MyDatabaseId)
				continue;
			/* written: the reader adds it only while its snapshot cannot see that write */
			if (e->consumed && (take || !TransactionIdIsValid(e->written_by) ||
								!XidInMVCCSnapshot(e->written_by, snap)))
				continue;
			if (take && is_one_of(e->series, unready, nunready))
			{
				if (first_left == 0)
					first_left = k;
				continue;
			}
			if (take)
				e->taken = true;
			p[n].seq = k;
			p[n].series = e->series;
			p[n].at = e->at;
			p[n].value = e->value;
			n++;
		}
		SpinLockRelease(&metrics_shared->ring_mutex);
	}
	if (take)
		taken_upto = first_left != 0 ? first_left : end;
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

		metric_key_datums(&p[i].key, &v[0], &v[1], &v[2], &v[3], &nulls[3]);
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
	n = pending_samples(&p, false, NULL, 0);
	for (int i = 0; i < n; i++)
	{
		Datum		v[6];
		bool		nulls[6] = {false};

		v[0] = TimestampTzGetDatum(p[i].at);
		metric_key_datums(&p[i].series->key, &v[1], &v[2], &v[4], &v[5], &nulls[5]);
		v[3] = Float8GetDatum(p[i].value);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, v, nulls);
	}
	PG_RETURN_NULL();
}

/* dwc._metric_samples_lost() returns bigint: this database's samples the ring lost since the server started */
Datum
dwc__metric_samples_lost(PG_FUNCTION_ARGS)
{
	uint64		lost = 0;

	if (metrics_shared != NULL)
	{
		SpinLockAcquire(&metrics_shared->ring_mutex);
		lost = DwcLossesOf(&metrics_shared->lost, MyDatabaseId);
		SpinLockRelease(&metrics_shared->ring_mutex);
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
	{
		taken_upto = written_upto;	/* taken, not written: the next write takes them again */
		/* ... those still there; the ring wrapped over the others meanwhile: lost */
		for (int i = 0; i < nmark_seqs && metrics_shared != NULL; i += 32)
		{
			SpinLockAcquire(&metrics_shared->ring_mutex);
			for (int k = i; k < Min(i + 32, nmark_seqs); k++)
			{
				Sample	   *e = &metrics_shared->ring[mark_seqs[k] % dwc_metric_ring_size];

				if (e->seq == mark_seqs[k])
					e->taken = false;
				else
					DwcLossCount(&metrics_shared->lost, MyDatabaseId);	/* a write takes its own */
			}
			SpinLockRelease(&metrics_shared->ring_mutex);
		}
	}
	else if (metrics_shared != NULL)
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
			SpinLockAcquire(&metrics_shared->ring_mutex);
			for (int k = i; k < Min(i + 32, nmark_seqs); k++)
			{
				Sample	   *e = &metrics_shared->ring[mark_seqs[k] % dwc_metric_ring_size];

				if (e->seq == mark_seqs[k])
				{
					e->consumed = true;
					e->written_by = flush_xid;
				}
			}
			SpinLockRelease(&metrics_shared->ring_mutex);
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
 * that is gone are left out; those of a metric whose definition may not
 * have committed yet are left for a later pass.
 */
bool
DwcMetricsFlush(void)
{
	Pending    *p;
	PendingSample *q;
	Series	  **unready;
	int			nunready;
	int			n = pending_series(&p, false);
	int			m;

	/* outside the series' locks: each test of a transaction may take ProcArrayLock */
	n = keep_ready(p, n, &unready, &nunready);

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
			metric_key_datums(&p[i].key, &c[0][i], &c[1][i], &c[2][i], &c[3][i], &unull[i]);
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

	m = pending_samples(&q, true, unready, nunready);
	if (m > 0)
	{
		Oid			types[6] = {TIMESTAMPTZARRAYOID, TEXTARRAYOID, JSONBARRAYOID, FLOAT8ARRAYOID, OIDARRAYOID,
		TEXTARRAYOID};
		Datum	   *c[6];
		bool	   *unull = palloc0(sizeof(bool) * m);
		Datum		args[6];

		/* taken now: an abort from here on must give them back */
		mark_seqs = MemoryContextAlloc(marks_cxt, sizeof(uint64) * m);
		for (int i = 0; i < m; i++)
			mark_seqs[i] = q[i].seq;
		nmark_seqs = m;

		for (int k = 0; k < 6; k++)
			c[k] = palloc(sizeof(Datum) * m);
		for (int i = 0; i < m; i++)
		{
			c[0][i] = TimestampTzGetDatum(q[i].at);
			metric_key_datums(&q[i].series->key, &c[1][i], &c[2][i], &c[4][i], &c[5][i], &unull[i]);
			c[3][i] = Float8GetDatum(q[i].value);
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
	}
	return false;
}
