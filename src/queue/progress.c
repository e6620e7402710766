/*-------------------------------------------------------------------------
 *
 * progress.c
 *		What a running job says of its progress: a phase, and how much of how
 *		much is done.
 *
 * A job runs inside its worker's transaction (or, for a leased kind, in a
 * transaction of its own), so nothing it writes to a table is seen before
 * it ends.  Its progress goes to its worker's slot in shared memory
 * instead, where dwc.job_status(), the dwc.progress view and the WebSocket
 * gateway read it at once.  It belongs to the job the worker runs when it is
 * said, and ends with that job.  Long work in C (model training, batch
 * recommendations) reports through DwcJobProgress(); SQL jobs and job-kind
 * handlers through dwc.job_progress().
 *
 * src/queue/progress.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/spin.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "core/shmem.h"
#include "queue/queue.h"

/*
 * Say how far the job this process runs has come: a phase ("training",
 * "tree 12 of 300" ...), done and total (-1 where not known).  Does nothing
 * and returns false outside a job.  A spinlock and a few stores: cheap
 * enough to call for every unit of work, though once per unit that takes a
 * millisecond or more is what readers can use.
 */
bool
DwcJobProgress(const char *phase, int64 done, int64 total)
{
	TimestampTz now;

	if (MyDwcSlot == NULL || MyDwcSlot->current_job_id == 0)
		return false;
	now = GetCurrentTimestamp();
	SpinLockAcquire(&MyDwcSlot->mutex);
	MyDwcSlot->progress_job = MyDwcSlot->current_job_id;
	strlcpy(MyDwcSlot->progress_phase, phase ? phase : "", DWC_PHASE_LEN);
	MyDwcSlot->progress_done = done;
	MyDwcSlot->progress_total = total;
	MyDwcSlot->progress_at = now;
	SpinLockRelease(&MyDwcSlot->mutex);
	return true;
}

PG_FUNCTION_INFO_V1(dwc_job_progress);

/* dwc.job_progress(phase, done, total): DwcJobProgress() for SQL; false outside a job */
Datum
dwc_job_progress(PG_FUNCTION_ARGS)
{
	char	   *phase = PG_ARGISNULL(0) ? "" : text_to_cstring(PG_GETARG_TEXT_PP(0));
	int64		done = PG_ARGISNULL(1) ? -1 : PG_GETARG_INT64(1);
	int64		total = PG_ARGISNULL(2) ? -1 : PG_GETARG_INT64(2);

	if ((!PG_ARGISNULL(1) && done < 0) || (!PG_ARGISNULL(2) && total < 0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("progress counts cannot be negative")));
	if (strlen(phase) >= DWC_PHASE_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_STRING_DATA_RIGHT_TRUNCATION),
				 errmsg("a progress phase is at most %d bytes", DWC_PHASE_LEN - 1)));
	PG_RETURN_BOOL(DwcJobProgress(phase, done, total));
}

PG_FUNCTION_INFO_V1(dwc__job_progress);

/*
 * dwc._job_progress(): (job_id, pid, phase, done, total, updated_at) of
 * every job of this database whose worker holds its progress now.
 */
Datum
dwc__job_progress(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int			i;

	InitMaterializedSRF(fcinfo, 0);
	if (dwc_shared == NULL)
		PG_RETURN_VOID();
	for (i = 0; i < dwc_shared->nslots; i++)
	{
		DwcWorkerSlot *slot = &dwc_shared->slots[i];
		int64		job;
		pid_t		pid;
		char		phase[DWC_PHASE_LEN];
		int64		done,
					total;
		TimestampTz at;
		Datum		values[6];
		bool		nulls[6] = {false};

		SpinLockAcquire(&slot->mutex);
		job = (slot->in_use && slot->dboid == MyDatabaseId && slot->pid != 0 &&
			   slot->progress_job != 0 && slot->progress_job == slot->current_job_id)
			? slot->progress_job : 0;
		pid = slot->pid;
		memcpy(phase, slot->progress_phase, DWC_PHASE_LEN);
		done = slot->progress_done;
		total = slot->progress_total;
		at = slot->progress_at;
		SpinLockRelease(&slot->mutex);
		if (job == 0)
			continue;
		phase[DWC_PHASE_LEN - 1] = '\0';
		values[0] = Int64GetDatum(job);
		values[1] = Int32GetDatum(pid);
		values[2] = CStringGetTextDatum(phase);
		values[3] = Int64GetDatum(done);
		nulls[3] = done < 0;
		values[4] = Int64GetDatum(total);
		nulls[4] = total < 0;
		values[5] = TimestampTzGetDatum(at);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	PG_RETURN_VOID();
}
