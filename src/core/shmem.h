/*-------------------------------------------------------------------------
 *
 * shmem.h
 *		dwc's shared memory: the registry of background worker slots.
 *
 * Slot 0 belongs to the launcher; the launcher hands out the others to the
 * per-database workers it starts.  Only the launcher assigns or frees a slot
 * (in_use, kind, index, dboid); a worker fills in its own pid, latch, start
 * time and state once it runs.  Each slot has its own spinlock, so a worker
 * updating its state never contends with another worker.
 *
 * src/core/shmem.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef DWC_SHMEM_H
#define DWC_SHMEM_H

#include "datatype/timestamp.h"
#include "port/atomics.h"
#include "storage/latch.h"
#include "storage/spin.h"

#include "core/registry.h"

/* a worker kind's number, from DwcRegisterWorkerKind() (core/registry.h) */
typedef int DwcWorkerKind;

#define DWC_STATE_LEN 96
#define DWC_PHASE_LEN 64
#define DWC_MAX_BATCH 256		/* most jobs a worker runs in one transaction */

typedef struct DwcWorkerSlot
{
	slock_t		mutex;
	bool		in_use;			/* assigned by the launcher */
	uint32		generation;		/* bumped at each assignment, see README.md */
	DwcWorkerKind kind;
	int			index;			/* n-th worker of its kind in its database */
	Oid			dboid;			/* InvalidOid for the launcher */
	pid_t		pid;			/* 0 until the worker runs, and after it exits */
	Latch	   *latch;			/* the worker's process latch while it runs */
	TimestampTz started_at;
	char		state[DWC_STATE_LEN];
	/* workers that run jobs */
	uint32		requests;		/* asked of it by others (DwcSlotRequest), its own meaning */
	bool		idle;			/* waiting for work: wake me when jobs arrive */
	int64		current_job_id; /* job being executed, 0 if none */
	int64		cancel_job_id;	/* a job whose cancellation was requested */
	int			inflight_n;		/* jobs of the batch being run, for monitoring */
	TimestampTz inflight_since;
	int64		inflight[DWC_MAX_BATCH];
	/* what the running job says of itself (src/queue/progress.c); progress_job 0: nothing */
	int64		progress_job;
	char		progress_phase[DWC_PHASE_LEN];
	int64		progress_done;	/* -1: not said */
	int64		progress_total; /* -1: not known */
	TimestampTz progress_at;
} DwcWorkerSlot;

typedef struct DwcShared
{
	pg_atomic_uint64 counters[DWC_MAX_COUNTERS];	/* DwcRegisterCounter() */
	int			nslots;
	DwcWorkerSlot slots[FLEXIBLE_ARRAY_MEMBER];
} DwcShared;

/* NULL unless the library was preloaded and shared memory is attached */
extern DwcShared *dwc_shared;

extern void DwcShmemRequest(void);

/*
 * For readers of many fields at once (monitoring): the number of worker
 * slots (0 without shared memory), and a copy of slot i taken under its
 * spinlock, false when no worker runs in it (the launcher's included).
 */
extern int	DwcSlotCount(void);
extern bool DwcSlotCopy(int i, DwcWorkerSlot *copy);
extern void DwcShmemStartup(void);

extern const char *DwcWorkerKindName(DwcWorkerKind kind);
extern void DwcSlotAttach(int slotno);
extern void DwcSlotSetState(const char *fmt,...) pg_attribute_printf(1, 2);
extern void DwcWakeWorkers(Oid dboid, DwcWorkerKind kind);
extern void DwcWakeWorkersAtCommit(DwcWorkerKind kind);
extern void DwcWakeAllWorkersAtCommit(void);
extern int	DwcWakeIdleWorkers(Oid dboid, DwcWorkerKind kind, int count);
extern void DwcWakeIdleWorkersAtCommit(DwcWorkerKind kind, int count);
extern bool DwcSlotRequest(Oid dboid, DwcWorkerKind kind, uint32 bits);
extern uint32 DwcSlotTakeRequests(void);
extern void DwcSlotSetIdle(bool idle);
extern bool DwcSlotIsIdle(void);
extern bool DwcWorkerAlive(pid_t pid, TimestampTz started_at);
extern void DwcSlotSetInflight(const int64 *ids, int n);

/* the slot of the current process, or NULL if it is not a dwc worker */
extern DwcWorkerSlot *MyDwcSlot;

#endif							/* DWC_SHMEM_H */
