/*-------------------------------------------------------------------------
 *
 * init.c
 *		What the job queue signs into at load: its settings, the job worker
 *		kind, the counter of queue setting changes, and the recovery of lost jobs.
 *
 * src/queue/init.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/guc.h"

#include "core/counters.h"
#include "core/registry.h"
#include "core/shmem.h"
#include "queue/queue.h"
#include "queue/settings.h"

int			dwc_job_workers = 2;
int			dwc_job_batch_size = 64;
int			dwc_job_slow_ms = 5;
int			dwc_job_timeout_ms = 300000;
int			dwc_job_max_attempts = 5;
int			dwc_job_backoff_base_ms = 1000;
int			dwc_job_backoff_max_ms = 3600000;
int			dwc_job_lease_grace_ms = 60000;
int			dwc_job_history_retention_min = 7 * 24 * 60;

int			DwcJobWorkerKind = -1;
int			DwcQueueCounter = -1;
int			DwcJobsFinishedFamily = -1;
int			DwcJobDurationFamily = -1;

static int
job_workers_wanted(const char *dbname)
{
	return dwc_job_workers;
}

/* what the job workers count for the Prometheus exposition (src/core/counters.c) */
static void
register_families(void)
{
	static const char *const finished_labels[] = {"kind", "outcome"};
	static const char *const kind_label[] = {"kind"};
	static const double duration_bounds[] = {0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300};

	DwcJobsFinishedFamily =
		DwcOwnFamily("dwc_jobs_finished_total", 'c',
					 "Job attempts finished, by job kind and outcome (succeeded, retried, dead, cancelled).",
					 2, finished_labels, 0, NULL);
	DwcJobDurationFamily =
		DwcOwnFamily("dwc_job_duration_seconds", 'h', "How long job attempts ran, by job kind.",
					 1, kind_label, lengthof(duration_bounds), duration_bounds);
}

static const DwcWorkerKindDef job_worker_kind = {"job", job_workers_wanted, DwcJobWorkerLoop};

/* jobs whose worker died: back to the queue (see worker.c) */
static bool
recover_lost_jobs(void)
{
	int			n = DwcRecoverLostJobs();

	if (n > 0)
		ereport(LOG, (errmsg("dwc scheduler requeued %d lost jobs", n)));
	return false;
}

void
DwcQueueInit(void)
{
	DefineCustomIntVariable("dwc.job_workers",
							"Job queue workers per served database.",
							NULL,
							&dwc_job_workers,
							2, 0, 128,
							PGC_SIGHUP, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("dwc.job_batch_size",
							"Most jobs a worker claims at once.",
							"Workers claim this many fast jobs per transaction; after slow jobs "
							"(over dwc.job_slow each) they claim one at a time.",
							&dwc_job_batch_size,
							64, 1, DWC_MAX_BATCH,
							PGC_SIGHUP, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("dwc.job_slow",
							"A batch whose jobs take longer than this on average makes the next batch one job.",
							"So that a slow job does not hold fast ones behind it in a batch.",
							&dwc_job_slow_ms,
							5, 1, 3600 * 1000,
							PGC_SIGHUP, GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomIntVariable("dwc.job_timeout",
							"Default time limit of a job, when dwc.enqueue() is given none.",
							NULL,
							&dwc_job_timeout_ms,
							300000, 1, 86400000,
							PGC_USERSET, GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomIntVariable("dwc.job_max_attempts",
							"Default number of attempts of a job before it is dead.",
							NULL,
							&dwc_job_max_attempts,
							5, 1, 1000,
							PGC_USERSET, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("dwc.job_backoff_base",
							"Delay before the first retry of a failed job.",
							"Retry n waits min(dwc.job_backoff_max, base * 2^(n-1)), "
							"of which the second half is random (jitter).",
							&dwc_job_backoff_base_ms,
							1000, 1, 3600000,
							PGC_SIGHUP, GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomIntVariable("dwc.job_backoff_max",
							"Longest delay between two attempts of a job.",
							NULL,
							&dwc_job_backoff_max_ms,
							3600000, 1, 86400000,
							PGC_SIGHUP, GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomIntVariable("dwc.job_lease_grace",
							"Time beyond its timeouts after which a running job counts as lost.",
							"A job whose worker stopped is requeued at once; this bounds the wait "
							"when the worker cannot be checked.",
							&dwc_job_lease_grace_ms,
							60000, 1000, 86400000,
							PGC_SIGHUP, GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomIntVariable("dwc.job_history_retention",
							"How long finished jobs are kept in dwc.job_history.",
							"Whole days: daily partitions older than this are dropped.",
							&dwc_job_history_retention_min,
							7 * 24 * 60, 24 * 60, 3650 * 24 * 60,
							PGC_SIGHUP, GUC_UNIT_MIN,
							NULL, NULL, NULL);

	DwcJobWorkerKind = DwcRegisterWorkerKind(&job_worker_kind);
	DwcQueueCounter = DwcRegisterCounter("queue settings");
	DwcRegisterMaintenance("recover lost jobs", 1000, recover_lost_jobs);
	/*
	 * Finished jobs leave dead rows that the next claims walk past until they
	 * are vacuumed: after a burst, when no job is running or could be claimed
	 * (jobs waiting in a paused queue do not count).
	 */
	DwcRegisterVacuum("jobs", 1000,
					  "SELECT NOT EXISTS (SELECT FROM dwc.jobs j WHERE j.status IN ('queued', 'retry') AND j.run_at <= now() "
					  "                      AND NOT EXISTS (SELECT FROM dwc.queues q WHERE q.name = j.queue AND q.paused)) "
					  "   AND NOT EXISTS (SELECT FROM dwc.jobs WHERE status = 'running')");
	register_families();
}
