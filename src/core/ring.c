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
 * leaves the records for the next pass instead of losing them.
 *
 * A writer never overwrites a record that is not written while the
 * maintenance worker of its database runs: once the ring is half full it
 * asks that worker to write now instead of at its next pass, and when the
 * ring is full it waits for the write, up to RING_WAIT_MS.  A burst of
 * events (a flood of failed logins) would otherwise push out the unwritten
 * events before it, which is what someone covering their tracks would do;
 * instead, the burst goes at the speed the worker writes.  A record is lost
 * (and counted, DwcRingDropped) only when its database has no maintenance
 * worker running, or when a write has not come within RING_WAIT_MS (then
 * writers stop waiting until a write succeeds again: a table that refuses
 * the records must not hold up every login).
 *
 * src/core/ring.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/condition_variable.h"
#include "storage/shmem.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "core/registry.h"
#include "core/ring.h"

#define RING_WAIT_MS 5000

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
	int			flush_task;		/* the maintenance task that writes the records */
	ConditionVariable written;	/* broadcast when records leave the ring */
	bool		stalled;		/* a writer waited in vain: no waiting until a write succeeds */
	uint64		next_seq;
	DwcLossCounts lost;
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
DwcRingShmemInit(const char *name, int nentries, Size payload, LWLock *lock, int flush_task)
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
		ring->flush_task = flush_task;
		ConditionVariableInit(&ring->written);
		ring->next_seq = 1;
	}
	return ring;
}

static inline RingEntry *
entry_of_seq(DwcRing *ring, uint64 seq)
{
	return entry_at(ring, (int) (seq % ring->nentries));
}

/*
 * The next entry holds a record of database owner not yet written: ask
 * owner's maintenance worker to write, then sleep until records are written
 * or a short while has passed.  False when there is no one to wait for, or
 * the wait is over (deadline, 0 at the first call): the record is then
 * overwritten.  Called without the ring's lock.
 */
static bool
wait_for_write(DwcRing *ring, Oid owner, TimestampTz *deadline)
{
	TimestampTz now = GetCurrentTimestamp();
	long		left_ms;

	if (*deadline == 0)
		*deadline = TimestampTzPlusMilliseconds(now, RING_WAIT_MS);
	left_ms = TimestampDifferenceMilliseconds(now, *deadline);
	if (left_ms <= 0 || !INTERRUPTS_CAN_BE_PROCESSED() ||
		!DwcMaintenanceRequest(owner, ring->flush_task))
		return false;
	/* in slices: a worker that exits meanwhile broadcasts nothing */
	(void) ConditionVariableTimedSleep(&ring->written, Min(left_ms, 100), PG_WAIT_EXTENSION);
	return true;
}

/* Put a record of this database on the ring (copied). */
void
DwcRingPut(DwcRing *ring, const void *record)
{
	RingEntry  *e;
	RingEntry  *ahead;
	TimestampTz deadline = 0;
	bool		waited = false;
	Oid			half_full = InvalidOid;

	LWLockAcquire(ring->lock, LW_EXCLUSIVE);
	for (;;)
	{
		Oid			owner;

		e = entry_of_seq(ring, ring->next_seq);
		if (e->seq == 0 || e->written)
			break;
		owner = e->dboid;
		if (ring->stalled)
		{
			DwcLossCount(&ring->lost, e->dboid);
			break;
		}
		LWLockRelease(ring->lock);
		if (!wait_for_write(ring, owner, &deadline))
		{
			LWLockAcquire(ring->lock, LW_EXCLUSIVE);
			e = entry_of_seq(ring, ring->next_seq);
			if (e->seq != 0 && !e->written)
			{
				DwcLossCount(&ring->lost, e->dboid);
				ring->stalled = waited;
			}
			break;
		}
		waited = true;
		LWLockAcquire(ring->lock, LW_EXCLUSIVE);
	}
	e->seq = ring->next_seq++;
	e->written = false;
	e->dboid = MyDatabaseId;
	memcpy(record_of(e), record, ring->payload);

	/*
	 * The entry half a ring ahead not written yet: the ring is half full, ask
	 * for a write (not while writes fail: each request is another attempt).
	 */
	ahead = entry_of_seq(ring, ring->next_seq + ring->nentries / 2);
	if (ahead->seq != 0 && !ahead->written && !ring->stalled)
		half_full = ahead->dboid;
	LWLockRelease(ring->lock);
	if (waited)
		ConditionVariableCancelSleep();
	if (OidIsValid(half_full))
		(void) DwcMaintenanceRequest(half_full, ring->flush_task);
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
		m->ring->stalled = false;
		LWLockRelease(m->ring->lock);
		/* the last mark of its ring: wake the writers waiting for room */
		if (k == nmarks - 1 || marks[k + 1].ring != m->ring)
			ConditionVariableBroadcast(&m->ring->written);
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

/* This database's records lost because the ring wrapped over them before they were written. */
uint64
DwcRingDropped(DwcRing *ring)
{
	uint64		d;

	LWLockAcquire(ring->lock, LW_SHARED);
	d = DwcLossesOf(&ring->lost, MyDatabaseId);
	LWLockRelease(ring->lock);
	return d;
}
