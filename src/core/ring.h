/*-------------------------------------------------------------------------
 *
 * ring.h
 *		A ring of records in shared memory that outlive the transaction that
 *		made them, written into a table by the maintenance worker.
 *
 * src/core/ring.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef DWC_CORE_RING_H
#define DWC_CORE_RING_H

#include "storage/lwlock.h"

typedef struct DwcRing DwcRing;

/*
 * Records lost, by database, so that each database reports its own; those
 * of databases past DWC_LOSS_DBS cannot be told apart and count for all
 * (the count errs towards loss).  Guarded by the lock of what holds it;
 * inline, for holders that guard it with a spinlock.
 */
#define DWC_LOSS_DBS 32

typedef struct DwcLossCounts
{
	Oid			dboid[DWC_LOSS_DBS];	/* InvalidOid: free */
	uint64		n[DWC_LOSS_DBS];
	uint64		unattributed;
} DwcLossCounts;

static inline void
DwcLossCount(DwcLossCounts *c, Oid dboid)
{
	for (int i = 0; i < DWC_LOSS_DBS; i++)
		if (c->dboid[i] == dboid || c->dboid[i] == InvalidOid)
		{
			c->dboid[i] = dboid;
			c->n[i]++;
			return;
		}
	c->unattributed++;
}

static inline uint64
DwcLossesOf(const DwcLossCounts *c, Oid dboid)
{
	for (int i = 0; i < DWC_LOSS_DBS; i++)
		if (c->dboid[i] == dboid)
			return c->n[i] + c->unattributed;
	return c->unattributed;
}

/* writes n records laid end to end (each of the ring's payload size) into their table */
typedef void (*DwcRingWriter) (const void *records, int n);

extern Size DwcRingShmemSize(int nentries, Size payload);
/* flush_task: the maintenance task (core/registry.h) that calls DwcRingFlush */
extern DwcRing *DwcRingShmemInit(const char *name, int nentries, Size payload, LWLock *lock,
								 int flush_task);
extern void DwcRingPut(DwcRing *ring, const void *record);
extern int	DwcRingFlush(DwcRing *ring, DwcRingWriter write);
extern uint64 DwcRingDropped(DwcRing *ring);

#endif							/* DWC_CORE_RING_H */
