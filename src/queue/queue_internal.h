/*-------------------------------------------------------------------------
 *
 * queue_internal.h
 *		Shared between the job worker (worker.c) and job execution (run.c).
 *
 * src/queue/queue_internal.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef DWC_QUEUE_INTERNAL_H
#define DWC_QUEUE_INTERNAL_H

#include "queue/queue.h"

typedef enum DwcJobOutcome
{
	DWC_JOB_SUCCEEDED,
	DWC_JOB_FAILED,				/* retry while attempts remain */
	DWC_JOB_FAILED_PERMANENTLY, /* dead at once */
	DWC_JOB_CANCELLED
} DwcJobOutcome;

/* a claimed job and, once run, its outcome */
typedef struct DwcJob
{
	int64		id;
	char	   *kind;
	Jsonb	   *payload;
	int32		timeout_ms;
	Oid			role;
	char	   *user;			/* the "sub" claim of the enqueuer, or NULL */
	ArrayType  *scopes;			/* of the API key it was made through; NULL: none */
	int32		attempts;		/* including the current one */
	int32		max_attempts;
	int64		schedule_id;	/* 0 if none */
	int16		priority;
	TimestampTz run_at;

	DwcJobOutcome outcome;
	Jsonb	   *result;			/* may be NULL */
	char	   *error;			/* NULL on success */
	int64		retry_after_ms; /* a delay the service asked for, 0 if none */
	TimestampTz started_at;		/* when this attempt started */
	TimestampTz finished_at;	/* and ended */
} DwcJob;

/* in init.c: dwc's own series the job workers add to (src/core/counters.c) */
extern int	DwcJobsFinishedFamily;
extern int	DwcJobDurationFamily;

/* in journal.c */
/* in manage.c: the paused queues (text[]), cached per backend; SPI connected */
extern Datum DwcPausedQueues(void);
extern bool DwcQueueIsPaused(const char *queue);

extern void DwcJournalOpen(void);
extern void DwcJournalRecordBatch(const DwcJob *jobs, int n);
extern void DwcJournalClear(void);
extern int	DwcJournalApply(const int64 *ids, const int32 *attempts, int n, const char *why);
extern int	DwcJournalRecoverDead(void);
extern int	DwcJournalApplyOwn(void);

/* the columns of dwc.job_history, in order, for the statements that move jobs there */
#define HISTORY_COLUMNS \
	"id, queue, kind, name, payload, priority, status, run_at, attempts, max_attempts," \
	" timeout_ms, unique_key, schedule_id, enqueued_by, enqueued_user, created_at, started_at," \
	" finished_at, worker_pid, result, last_error, scopes"

/* in isolation.c */
extern void DwcJobIsolationInit(void);
extern int	DwcJobSessionEnter(void);
extern void DwcJobSessionFinish(int nestlevel, SubTransactionId subid, SubTransactionId parent_subid);
extern void DwcJobSessionAbandon(void);
extern bool DwcJobSessionEndsBatch(void);

/* in run.c */
extern void DwcJobRunInit(void);
extern bool DwcJobRunsInTransaction(const DwcJob *job);
extern void DwcRunJobInTransaction(DwcJob *job, MemoryContext result_cxt);
extern void DwcRunJobOutsideTransaction(DwcJob *job, MemoryContext result_cxt);

#endif							/* DWC_QUEUE_INTERNAL_H */
