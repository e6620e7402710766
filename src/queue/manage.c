/*-------------------------------------------------------------------------
 *
 * manage.c
 *		C helpers of the queue's management functions (src/queue/queue.sql).
 *
 * src/queue/manage.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>

#include "commands/trigger.h"
#include "miscadmin.h"
#include "catalog/pg_type.h"
#include "utils/memutils.h"
#include "utils/datum.h"
#include "utils/builtins.h"
#include "utils/array.h"
#include "executor/spi.h"

#include "core/shmem.h"
#include "queue/queue.h"
#include "queue/queue_internal.h"

PG_FUNCTION_INFO_V1(dwc__wake_job_workers);
PG_FUNCTION_INFO_V1(dwc__signal_job_cancel);
PG_FUNCTION_INFO_V1(dwc__queues_changed);

/* dwc._wake_job_workers(n): wake up to n idle job workers at commit */
Datum
dwc__wake_job_workers(PG_FUNCTION_ARGS)
{
	int32		n = PG_GETARG_INT32(0);

	if (n > 0)
		DwcWakeIdleWorkersAtCommit(DwcJobWorkerKind, n);
	PG_RETURN_VOID();
}

/*
 * dwc._signal_job_cancel(job_id, pid): if pid is a dwc job worker of this
 * database, record the job to cancel in its slot and send it SIGUSR2; the
 * worker interrupts the job if it is the one running (or skips it if it has
 * not started it yet).  Returns whether a worker was signalled.
 */
Datum
dwc__signal_job_cancel(PG_FUNCTION_ARGS)
{
	int64		job_id = PG_GETARG_INT64(0);
	int32		pid = PG_GETARG_INT32(1);
	int			i;

	if (dwc_shared == NULL)
		PG_RETURN_BOOL(false);
	for (i = 0; i < dwc_shared->nslots; i++)
	{
		DwcWorkerSlot *slot = &dwc_shared->slots[i];
		bool		match;

		SpinLockAcquire(&slot->mutex);
		match = (slot->in_use && slot->kind == DwcJobWorkerKind && slot->pid == pid &&
				 slot->dboid == MyDatabaseId);
		if (match)
			slot->cancel_job_id = job_id;
		SpinLockRelease(&slot->mutex);
		if (match)
			PG_RETURN_BOOL(kill(pid, SIGUSR2) == 0);
	}
	PG_RETURN_BOOL(false);
}

/* Statement trigger on dwc.queues: job workers reload paused queues at commit. */
Datum
dwc__queues_changed(PG_FUNCTION_ARGS)
{
	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "dwc._queues_changed() must be called as a trigger");
	DwcBumpCounterAtCommit(DwcQueueCounter);
	return PointerGetDatum(NULL);
}

/*
 * The paused queues as a text[], cached per backend until a commit changes
 * dwc.queues (the queue settings counter): what the job workers' claim skips,
 * and what enqueue wakes no worker for.  SPI connected.
 */
static Datum paused_queues = (Datum) 0;	/* in TopMemoryContext */
static uint64 paused_seen = 0;

Datum
DwcPausedQueues(void)
{
	uint64		gen = DwcCounterValue(DwcQueueCounter);
	bool		isnull;
	Datum		d;
	MemoryContext old;

	if (paused_queues != (Datum) 0 && gen == paused_seen && gen != 0)
		return paused_queues;
	if (SPI_execute("SELECT coalesce(array_agg(name), '{}') FROM dwc.queues WHERE paused", true, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "could not read the paused queues");
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (paused_queues != (Datum) 0)
		pfree(DatumGetPointer(paused_queues));
	old = MemoryContextSwitchTo(TopMemoryContext);
	paused_queues = datumCopy(d, false, -1);
	MemoryContextSwitchTo(old);
	paused_seen = gen;
	return paused_queues;
}

/* Is queue paused?  False without shared memory, where no worker is woken anyway. */
bool
DwcQueueIsPaused(const char *queue)
{
	Datum	   *names;
	bool	   *nulls;
	int			n;
	bool		paused = false;

	if (DwcCounterValue(DwcQueueCounter) == 0)
		return false;
	deconstruct_array(DatumGetArrayTypeP(DwcPausedQueues()), TEXTOID, -1, false, TYPALIGN_INT, &names, &nulls, &n);
	for (int i = 0; i < n && !paused; i++)
		paused = !nulls[i] && strcmp(TextDatumGetCString(names[i]), queue) == 0;
	return paused;
}
