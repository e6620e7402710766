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
	for (i = 0; i < DwcSlotCount(); i++)
	{
		DwcWorkerSlot s;
		Datum		values[6];
		bool		nulls[6] = {false};

		/* a job of this database whose worker holds its progress */
		if (!DwcSlotCopy(i, &s) || s.dboid != MyDatabaseId ||
			s.progress_job == 0 || s.progress_job != s.current_job_id)
			continue;
		values[0] = Int64GetDatum(s.progress_job);
		values[1] = Int32GetDatum(s.pid);
		values[2] = CStringGetTextDatum(s.progress_phase);
		values[3] = Int64GetDatum(s.progress_done);
		nulls[3] = s.progress_done < 0;
		values[4] = Int64GetDatum(s.progress_total);
		nulls[4] = s.progress_total < 0;
		values[5] = TimestampTzGetDatum(s.progress_at);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	PG_RETURN_VOID();
}
