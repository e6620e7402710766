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
