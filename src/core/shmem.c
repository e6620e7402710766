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

/* databases' worker kinds to wake when the current transaction commits */
static bool wake_pending[DWC_NUM_WORKER_KINDS];
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
		dwc_shared->nslots = max_worker_processes;
		for (i = 0; i < dwc_shared->nslots; i++)
			SpinLockInit(&dwc_shared->slots[i].mutex);
	}
	LWLockRelease(AddinShmemInitLock);
}

const char *
DwcWorkerKindName(DwcWorkerKind kind)
{
	switch (kind)
	{
		case DWC_WORKER_LAUNCHER:
			return "launcher";
		case DWC_WORKER_JOB:
			return "job";
		case DWC_WORKER_SCHEDULER:
			return "scheduler";
	}
	return "unknown";
}

/* on_shmem_exit callback: the worker is gone, clear its runtime fields */
static void
slot_detach(int code, Datum arg)
{
	DwcWorkerSlot *slot = &dwc_shared->slots[DatumGetInt32(arg)];

	SpinLockAcquire(&slot->mutex);
	slot->pid = 0;
	slot->latch = NULL;
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

static void
wake_xact_callback(XactEvent event, void *arg)
{
	int			kind;

	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			for (kind = 0; kind < DWC_NUM_WORKER_KINDS; kind++)
			{
				if (wake_pending[kind])
					DwcWakeWorkers(MyDatabaseId, (DwcWorkerKind) kind);
				wake_pending[kind] = false;
			}
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			memset(wake_pending, 0, sizeof(wake_pending));
			break;
		default:
			break;
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
	if (!xact_callback_registered)
	{
		RegisterXactCallback(wake_xact_callback, NULL);
		xact_callback_registered = true;
	}
	wake_pending[kind] = true;
}
