/*-------------------------------------------------------------------------
 *
 * ring.c
 *		A ring of records in shared memory that outlive the transaction that
 *		made them (security events, AI calls): a failed request's event and
 *		what a rolled-back call spent must still be recorded, and an INSERT
 *		in the failing transaction would be rolled back with it.
 *
 * Any backend puts a record for its database; that database's maintenance
 * worker writes the records into their table at every pass and when it
 * stops (a clean shutdown loses none; a crash loses what the ring held).
 * A record is taken off the ring only when the transaction that wrote it
 * commits (as the metrics' samples are, metrics/unwritten.c): a write that
 * fails (a lock timeout, a missing partition) or a transaction that aborts
 * leaves the records for the next pass instead of losing them.  When the
 * ring wraps over a record not yet written, the record is lost and counted
 * (DwcRingDropped).
 *
 * src/core/ring.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "miscadmin.h"
#include "storage/shmem.h"
#include "utils/memutils.h"

#include "core/ring.h"

typedef struct RingEntry
{
	uint64		seq;			/* 0: empty */
	bool		written;
	Oid			dboid;
	/* the record follows, MAXALIGNed */
} RingEntry;

struct DwcRing
{
	LWLock	   *lock;
	int			nentries;
	Size		payload;
	Size		entry_size;
	uint64		next_seq;
	uint64		dropped;
	/* the entries follow, MAXALIGNed */
};

/* records written in the current transaction, taken off their ring when it commits */
typedef struct WrittenMark
{
	DwcRing    *ring;
	int			slot;
	uint64		seq;
} WrittenMark;

static WrittenMark *marks = NULL;
static int	nmarks = 0;
static int	marks_cap = 0;
static bool callback_registered = false;

#define RING_HEADER		MAXALIGN(sizeof(DwcRing))
#define ENTRY_HEADER	MAXALIGN(sizeof(RingEntry))

static inline RingEntry *
entry_at(DwcRing *ring, int i)
{
	return (RingEntry *) ((char *) ring + RING_HEADER + (Size) i * ring->entry_size);
}

static inline void *
record_of(RingEntry *e)
{
	return (char *) e + ENTRY_HEADER;
}

Size
DwcRingShmemSize(int nentries, Size payload)
{
	return add_size(RING_HEADER, mul_size(nentries, ENTRY_HEADER + MAXALIGN(payload)));
}

DwcRing *
DwcRingShmemInit(const char *name, int nentries, Size payload, LWLock *lock)
{
	bool		found;
	DwcRing    *ring = ShmemInitStruct(name, DwcRingShmemSize(nentries, payload), &found);

	if (!found)
	{
		memset(ring, 0, DwcRingShmemSize(nentries, payload));
		ring->lock = lock;
		ring->nentries = nentries;
		ring->payload = payload;
		ring->entry_size = ENTRY_HEADER + MAXALIGN(payload);
		ring->next_seq = 1;
	}
	return ring;
}

/* Put a record of this database on the ring (copied). */
void
DwcRingPut(DwcRing *ring, const void *record)
{
	RingEntry  *e;

	LWLockAcquire(ring->lock, LW_EXCLUSIVE);
	e = entry_at(ring, (int) (ring->next_seq % ring->nentries));
	if (e->seq != 0 && !e->written)
		ring->dropped++;
	e->seq = ring->next_seq++;
	e->written = false;
	e->dboid = MyDatabaseId;
	memcpy(record_of(e), record, ring->payload);
	LWLockRelease(ring->lock);
}

/*
 * At commit, the records written in the transaction leave their rings; an
 * entry put again in the meantime (the ring wrapped) is another record.
 * Such a wrap also counted the record just written as dropped: the count
 * errs towards loss, never away from it.  At abort they stay.
 */
static void
marks_at_end(XactEvent event, void *arg)
{
	int			k;

	if (event != XACT_EVENT_COMMIT && event != XACT_EVENT_ABORT)
		return;
	for (k = 0; k < nmarks && event == XACT_EVENT_COMMIT; k++)
	{
		WrittenMark *m = &marks[k];
		RingEntry  *e = entry_at(m->ring, m->slot);

		LWLockAcquire(m->ring->lock, LW_EXCLUSIVE);
		if (e->seq == m->seq)
			e->written = true;
		LWLockRelease(m->ring->lock);
	}
	nmarks = 0;
}

static void
remember_written(DwcRing *ring, const int *slots, const uint64 *seqs, int n)
{
	int			k;

	if (!callback_registered)
	{
		RegisterXactCallback(marks_at_end, NULL);
		callback_registered = true;
	}
	if (nmarks + n > marks_cap)
	{
		marks_cap = Max(nmarks + n, 2 * marks_cap);
		marks = marks ? repalloc(marks, sizeof(WrittenMark) * marks_cap)
			: MemoryContextAlloc(TopMemoryContext, sizeof(WrittenMark) * marks_cap);
	}
	for (k = 0; k < n; k++)
	{
		marks[nmarks].ring = ring;
		marks[nmarks].slot = slots[k];
		marks[nmarks].seq = seqs[k];
		nmarks++;
	}
}

/*
 * Write this database's records not yet written, oldest first, with write()
 * (in the caller's transaction, SPI connected); they leave the ring when
 * that transaction commits.  Only the maintenance worker of the database
 * flushes, so no two flushes write the same record.  Returns how many were
 * written.
 */
int
DwcRingFlush(DwcRing *ring, DwcRingWriter write)
{
	char	   *records = NULL;
	uint64	   *seqs = NULL;
	int		   *slots = NULL;
	int			want = 0;
	int			n = 0;
	int			pass;

	/* written already in this transaction: they leave the ring at its commit */
	for (pass = 0; pass < nmarks; pass++)
		if (marks[pass].ring == ring)
			return 0;

	/* count first, then copy at most that many: no ring-sized buffer every pass */
	for (pass = 0; pass < 2; pass++)
	{
		uint64		seq;

		LWLockAcquire(ring->lock, LW_SHARED);
		seq = ring->next_seq > (uint64) ring->nentries ? ring->next_seq - ring->nentries : 1;
		for (; seq < ring->next_seq && (pass == 0 || n < want); seq++)
		{
			int			slot = (int) (seq % ring->nentries);
			RingEntry  *e = entry_at(ring, slot);

			if (e->seq != seq || e->written || e->dboid != MyDatabaseId)
				continue;
			if (pass == 0)
				want++;
			else
			{
				memcpy(records + ring->payload * n, record_of(e), ring->payload);
				seqs[n] = seq;
				slots[n] = slot;
				n++;
			}
		}
		LWLockRelease(ring->lock);
		if (want == 0)
			return 0;
		if (pass == 0)
		{
			records = palloc(ring->payload * want);
			seqs = palloc(sizeof(uint64) * want);
			slots = palloc(sizeof(int) * want);
		}
	}

	if (n > 0)
		write(records, n);
	remember_written(ring, slots, seqs, n);
	pfree(records);
	pfree(seqs);
	pfree(slots);
	return n;
}

/* Records lost because the ring wrapped over them before they were written. */
uint64
DwcRingDropped(DwcRing *ring)
{
	uint64		d;

	LWLockAcquire(ring->lock, LW_SHARED);
	d = ring->dropped;
	LWLockRelease(ring->lock);
	return d;
}
