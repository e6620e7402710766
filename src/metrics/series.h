/*-------------------------------------------------------------------------
 *
 * series.h
 *		The metrics' series and samples in shared memory, shared by their
 *		recording (record.c) and by what reads and writes what is not yet in
 *		the tables (unwritten.c).  Private to src/metrics.
 *
 * src/metrics/series.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef DWC_METRICS_SERIES_H
#define DWC_METRICS_SERIES_H

#include "datatype/timestamp.h"
#include "storage/lwlock.h"
#include "storage/spin.h"
#include "utils/hsearch.h"

#include "core/ring.h"

/* name, labels and dwc user of a series, laid end to end */
#define SERIES_TEXT 448
#define MAX_BOUNDS 50
/* a metric's name as given (up to 200 characters) */
#define GIVEN_MAX 808

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
	TransactionId defined_by;	/* the transaction that made the definition, until it is seen ended */
	double		value;
	int64		count;
	TimestampTz updated_at;
	int64		counts[MAX_BOUNDS + 1];
} Series;

typedef struct Sample
{
	uint64		seq;			/* 0: empty */
	bool		consumed;
	bool		taken;			/* copied by a write not yet committed: overwritten, it is not lost */
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
	DwcLossCounts lost;			/* samples the ring wrapped over unwritten, by database */
	Sample		ring[FLEXIBLE_ARRAY_MEMBER];
} MetricsShared;

/* in record.c: the shared state (NULL without shared memory) and the table of series */
extern MetricsShared *metrics_shared;
extern HTAB *metrics_series;

/* the parts of a series' key (user NULL when none) */
extern void metric_key_parts(const SeriesKey *key, const char **name, const char **labels, const char **user);

/* the key's columns as SQL values: name text, labels jsonb, owner oid, owner_user text (NULL: none) */
extern void metric_key_datums(const SeriesKey *key, Datum *name, Datum *labels, Datum *owner, Datum *user,
							  bool *user_null);

#endif							/* DWC_METRICS_SERIES_H */
