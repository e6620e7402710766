/*-------------------------------------------------------------------------
 *
 * shmem.c
 *		dwc's shared memory segment and the worker slot registry.
 *
 * The registry has one slot per possible background worker
 * (max_worker_processes), which is a hard upper bound on the number of dwc
 * workers that can run at once.  dwc.status() reads it; the wake-up functions
 * use it to find the latches of a database's workers.
 *
 * src/core/shmem.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "miscadmin.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "utils/timestamp.h"

#include "core/shmem.h"

DwcShared  *dwc_shared = NULL;
DwcWorkerSlot *MyDwcSlot = NULL;

/* what to do when the current transaction commits */
static bool wake_pending[DWC_MAX_WORKER_KINDS];
static int	wake_idle_pending[DWC_MAX_WORKER_KINDS];
static bool bump_pending[DWC_MAX_COUNTERS];
static bool xact_callback_registered = false;

static Size
dwc_shmem_size(void)
{
	return add_size(offsetof(DwcShared, slots),
					mul_size(max_worker_processes, sizeof(DwcWorkerSlot)));
}

/* shmem_request_hook: reserve our segment while the postmaster sizes memory */
void
DwcShmemRequest(void)
{
	RequestAddinShmemSpace(dwc_shmem_size());
	DwcRegistryShmemRequest();
}

/*
 * shmem_startup_hook: create (postmaster) or attach to (EXEC_BACKEND
 * children) the segment.  Also runs after a crash-restart, which starts from
 * an empty registry, as all workers are gone by then.
 */
void
DwcShmemStartup(void)
{
	bool		found;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	dwc_shared = ShmemInitStruct("dwc", dwc_shmem_size(), &found);
	if (!found)
	{
		int			i;

		memset(dwc_shared, 0, dwc_shmem_size());
		for (i = 0; i < DWC_MAX_COUNTERS; i++)
			pg_atomic_init_u64(&dwc_shared->counters[i], 1);
		dwc_shared->nslots = max_worker_processes;
		for (i = 0; i < dwc_shared->nslots; i++)
			SpinLockInit(&dwc_shared->slots[i].mutex);
	}
	DwcRegistryShmemInit();
	LWLockRelease(AddinShmemInitLock);
}

const char *
DwcWorkerKindName(DwcWorkerKind kind)
{
	const DwcWorkerKindDef *def = DwcWorkerKindDefOf(kind);

	return def ? def->name : "unknown";
}

/* on_shmem_exit callback: the worker is gone, clear its runtime fields */
static void
slot_detach(int code, Datum arg)
{
	DwcWorkerSlot *slot = &dwc_shared->slots[DatumGetInt32(arg)];

	SpinLockAcquire(&slot->mutex);
	slot->pid = 0;
	slot->latch = NULL;
	slot->requests = 0;
	slot->idle = false;
	slot->current_job_id = 0;
	slot->inflight_n = 0;
	strlcpy(slot->state, "exited", DWC_STATE_LEN);
	SpinLockRelease(&slot->mutex);
	MyDwcSlot = NULL;
}

/*
 * Called by a dwc worker at start: publish pid and latch in its slot and
 * clear them again when the process exits, however it exits.
 */
void
DwcSlotAttach(int slotno)
{
	DwcWorkerSlot *slot;

	if (dwc_shared == NULL || slotno < 0 || slotno >= dwc_shared->nslots)
		elog(FATAL, "dwc worker started with invalid slot %d", slotno);

	slot = &dwc_shared->slots[slotno];
	SpinLockAcquire(&slot->mutex);
	slot->pid = MyProcPid;
	slot->latch = MyLatch;
	slot->started_at = GetCurrentTimestamp();
	slot->requests = 0;
	slot->idle = false;
	slot->current_job_id = 0;
	slot->cancel_job_id = 0;
	strlcpy(slot->state, "starting", DWC_STATE_LEN);
	SpinLockRelease(&slot->mutex);

	MyDwcSlot = slot;
	on_shmem_exit(slot_detach, Int32GetDatum(slotno));
}

/* Set the state shown by dwc.status() for the current worker. */
void
DwcSlotSetState(const char *fmt,...)
{
	char		buf[DWC_STATE_LEN];
	va_list		ap;

	if (MyDwcSlot == NULL)
		return;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);

	SpinLockAcquire(&MyDwcSlot->mutex);
	strlcpy(MyDwcSlot->state, buf, DWC_STATE_LEN);
	SpinLockRelease(&MyDwcSlot->mutex);
}

/* Set the latch of every running worker of a kind serving a database. */
void
DwcWakeWorkers(Oid dboid, DwcWorkerKind kind)
{
	int			i;

	if (dwc_shared == NULL)
		return;

	for (i = 0; i < dwc_shared->nslots; i++)
	{
		DwcWorkerSlot *slot = &dwc_shared->slots[i];
		Latch	   *latch = NULL;

		SpinLockAcquire(&slot->mutex);
		if (slot->in_use && slot->kind == kind && slot->dboid == dboid)
			latch = slot->latch;
		SpinLockRelease(&slot->mutex);

		/*
		 * SetLatch on a latch whose owner has just exited is harmless: process
		 * latches live in PGPROC, which is never freed.
		 */
		if (latch != NULL)
			SetLatch(latch);
	}
}

/*
 * Ask the running workers of a kind serving a database for something (bits
 * whose meaning the kind defines) and wake them; the current process is
 * never asked, so that no one waits for itself.  Returns whether a worker
 * was asked: false when none runs.
 */
bool
DwcSlotRequest(Oid dboid, DwcWorkerKind kind, uint32 bits)
{
	bool		asked = false;
	int			i;

	if (dwc_shared == NULL)
		return false;
	for (i = 0; i < dwc_shared->nslots; i++)
	{
		DwcWorkerSlot *slot = &dwc_shared->slots[i];
		Latch	   *latch = NULL;

		SpinLockAcquire(&slot->mutex);
		if (slot->in_use && slot->kind == kind && slot->dboid == dboid && slot->latch != NULL &&
			slot != MyDwcSlot)
		{
			slot->requests |= bits;
			latch = slot->latch;
		}
		SpinLockRelease(&slot->mutex);
		if (latch != NULL)
		{
			SetLatch(latch);
			asked = true;
		}
	}
	return asked;
}

/* What others asked of the current worker since it last looked (DwcSlotRequest). */
uint32
DwcSlotTakeRequests(void)
{
	uint32		bits;

	if (MyDwcSlot == NULL)
		return 0;
	SpinLockAcquire(&MyDwcSlot->mutex);
	bits = MyDwcSlot->requests;
	MyDwcSlot->requests = 0;
	SpinLockRelease(&MyDwcSlot->mutex);
	return bits;
}

/*
 * Wake up to count idle job workers of a database; returns how many were
 * woken.  A worker announces itself idle before its last look for work (see
 * the queue's README.md), so a job committed before this call is either seen
 * by that look or wakes the worker here.
 */
int
DwcWakeIdleWorkers(Oid dboid, DwcWorkerKind kind, int count)
{
	int			i;
	int			woken = 0;

	if (dwc_shared == NULL)
		return 0;

	for (i = 0; i < dwc_shared->nslots && woken < count; i++)
	{
		DwcWorkerSlot *slot = &dwc_shared->slots[i];
		Latch	   *latch = NULL;

		SpinLockAcquire(&slot->mutex);
		if (slot->in_use && slot->kind == kind && slot->dboid == dboid &&
			slot->idle && slot->latch != NULL && slot != MyDwcSlot)
		{
			latch = slot->latch;
			slot->idle = false;	/* claimed by this wake-up */
		}
		SpinLockRelease(&slot->mutex);

		if (latch != NULL)
		{
			SetLatch(latch);
			woken++;
		}
	}
	return woken;
}

/* Announce (or withdraw) the current job worker as idle. */
void
DwcSlotSetIdle(bool idle)
{
	if (MyDwcSlot == NULL)
		return;
	SpinLockAcquire(&MyDwcSlot->mutex);
	MyDwcSlot->idle = idle;
	SpinLockRelease(&MyDwcSlot->mutex);
}

int
DwcSlotCount(void)
{
	return dwc_shared == NULL ? 0 : dwc_shared->nslots;
}

bool
DwcSlotCopy(int i, DwcWorkerSlot *copy)
{
	DwcWorkerSlot *slot = &dwc_shared->slots[i];

	SpinLockAcquire(&slot->mutex);
	memcpy(copy, slot, sizeof(*copy));
	SpinLockRelease(&slot->mutex);
	/* the strings end within their fields whatever the writer left */
	copy->state[DWC_STATE_LEN - 1] = '\0';
	copy->progress_phase[DWC_PHASE_LEN - 1] = '\0';
	return copy->in_use && copy->pid != 0;
}

/* Is the current job worker still announced idle (no wake-up has claimed it)? */
bool
DwcSlotIsIdle(void)
{
	bool		idle;

	if (MyDwcSlot == NULL)
		return false;
	SpinLockAcquire(&MyDwcSlot->mutex);
	idle = MyDwcSlot->idle;
	SpinLockRelease(&MyDwcSlot->mutex);
	return idle;
}

/* Is (pid, started_at) a dwc worker that is still running? */
bool
DwcWorkerAlive(pid_t pid, TimestampTz started_at)
{
	int			i;
	bool		alive = false;

	if (dwc_shared == NULL || pid == 0)
		return false;
	for (i = 0; i < dwc_shared->nslots && !alive; i++)
	{
		DwcWorkerSlot *slot = &dwc_shared->slots[i];

		SpinLockAcquire(&slot->mutex);
		alive = (slot->pid == pid && slot->started_at == started_at);
		SpinLockRelease(&slot->mutex);
	}
	return alive;
}

/* Publish the ids of the batch the current worker runs (n = 0: none). */
void
DwcSlotSetInflight(const int64 *ids, int n)
{
	if (MyDwcSlot == NULL)
		return;
	n = Min(n, DWC_MAX_BATCH);
	SpinLockAcquire(&MyDwcSlot->mutex);
	if (n > 0)
		memcpy(MyDwcSlot->inflight, ids, sizeof(int64) * n);
	MyDwcSlot->inflight_n = n;
	MyDwcSlot->inflight_since = n > 0 ? GetCurrentTimestamp() : 0;
	SpinLockRelease(&MyDwcSlot->mutex);
}

uint64
DwcCounterValue(int counter)
{
	return dwc_shared ? pg_atomic_read_u64(&dwc_shared->counters[counter]) : 0;
}

static void
reset_pending(void)
{
	memset(wake_pending, 0, sizeof(wake_pending));
	memset(wake_idle_pending, 0, sizeof(wake_idle_pending));
	memset(bump_pending, 0, sizeof(bump_pending));
}

static void
wake_xact_callback(XactEvent event, void *arg)
{
	int			kind;
	int			i;

	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			/* after the commit is visible: a backend that sees the new count sees the change */
			for (i = 0; i < DWC_MAX_COUNTERS; i++)
			{
				if (bump_pending[i])
					pg_atomic_fetch_add_u64(&dwc_shared->counters[i], 1);
			}
			for (kind = 0; kind < DWC_MAX_WORKER_KINDS; kind++)
			{
				if (wake_pending[kind])
					DwcWakeWorkers(MyDatabaseId, kind);
				else if (wake_idle_pending[kind] > 0)
					DwcWakeIdleWorkers(MyDatabaseId, kind, wake_idle_pending[kind]);
			}
			break;
		default:
			return;
	}
	reset_pending();
}

static void
wake_xact_abort_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT)
	{
		reset_pending();
	}
}

static void
register_callbacks(void)
{
	if (!xact_callback_registered)
	{
		RegisterXactCallback(wake_xact_callback, NULL);
		RegisterXactCallback(wake_xact_abort_callback, NULL);
		xact_callback_registered = true;
	}
}

/*
 * Wake this database's workers of a kind when the current transaction
 * commits, so that they see the work it created; nothing happens if it rolls
 * back.  Cheap enough to call once per enqueued row.
 */
void
DwcWakeWorkersAtCommit(DwcWorkerKind kind)
{
	if (dwc_shared == NULL)
		return;
	register_callbacks();
	wake_pending[kind] = true;
}

/*
 * Wake up to count idle job workers of this database when the current
 * transaction commits: one per job enqueued, so an idle pool is not woken
 * all at once for a single job.  Busy workers need no wake-up: they look for
 * work again as soon as they finish.
 */
void
DwcWakeAllWorkersAtCommit(void)
{
	int			kind;

	for (kind = 1; kind < DwcNumWorkerKinds(); kind++)
		DwcWakeWorkersAtCommit(kind);
}

void
DwcWakeIdleWorkersAtCommit(DwcWorkerKind kind, int count)
{
	if (dwc_shared == NULL)
		return;
	register_callbacks();
	if (wake_idle_pending[kind] < INT_MAX - count)
		wake_idle_pending[kind] += count;
}

void
DwcBumpCounterAtCommit(int counter)
{
	if (dwc_shared == NULL)
		return;
	register_callbacks();
	bump_pending[counter] = true;
}
