/*-------------------------------------------------------------------------
 *
 * journal.c
 *		The in-flight journal: which jobs a worker is running right now; and
 *		the recovery of leased jobs whose worker is gone or whose lease
 *		expired (DwcRecoverLostJobs).
 *
 * A job of an in-transaction kind (everything but http) is leased by the
 * row lock its worker's transaction holds: if the worker dies, the lock goes
 * with it and the job is immediately claimable again.  What a row lock
 * cannot do is count the attempt: the transaction that would have counted
 * it is gone.  Without counting, a job that kills its worker (FATAL, a crash,
 * the OOM killer) would be retried forever, and take the server down in a
 * loop if it crashes it.
 *
 * So before running a batch, each job worker writes the batch's job ids and
 * attempt numbers to its journal file, pg_dwc/inflight_<db>_<n> in the data
 * directory (one pwrite, no fsync: it must survive the death of a process,
 * not of the machine), and clears it after commit.  A journal left non-empty
 * by a worker that is no longer alive lists the jobs it was running when it
 * died; applying it counts one attempt for each of them (with backoff, or
 * dead when out of attempts).  The worker's successor applies its own
 * journal before claiming anything, and the scheduler applies journals of
 * dead workers every second.  Applying is idempotent: a job is only counted
 * if its attempts are still those recorded.
 *
 * The same ids are published in the worker's shared memory slot, which is
 * how dwc.job_status() and the monitoring views see running jobs.
 *
 * src/queue/journal.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "catalog/pg_type.h"
#include "common/file_perm.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "core/guc.h"
#include "core/shmem.h"
#include "queue/queue_internal.h"
#include "queue/settings.h"

#define JOURNAL_DIR "pg_dwc"
#define JOURNAL_MAGIC 0x44574A31	/* "DWJ1" */

typedef struct JournalHeader
{
	uint32		magic;
	int32		pid;
	TimestampTz worker_started;
	Oid			dboid;
	int32		n;
} JournalHeader;

typedef struct JournalEntry
{
	int64		id;
	int32		attempts;		/* as stored before this run */
	int32		pad;
} JournalEntry;

typedef struct JournalFile
{
	JournalHeader hdr;
	JournalEntry entries[DWC_MAX_BATCH];
} JournalFile;

static int	journal_fd = -1;
static JournalFile journal;

static void
journal_path(char *buf, size_t len, Oid dboid, int index)
{
	snprintf(buf, len, "%s/%s/inflight_%u_%d", DataDir, JOURNAL_DIR, dboid, index);
}

static void
journal_write(size_t len)
{
	if (pwrite(journal_fd, &journal, len, 0) != (ssize_t) len)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not write dwc journal: %m")));
}

/* Open (creating it) the journal of the current worker. */
void
DwcJournalOpen(void)
{
	char		path[MAXPGPATH];
	char		dir[MAXPGPATH];

	snprintf(dir, sizeof(dir), "%s/%s", DataDir, JOURNAL_DIR);
	if (MakePGDirectory(dir) < 0 && errno != EEXIST)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create directory \"%s\": %m", dir)));
	journal_path(path, sizeof(path), MyDatabaseId, MyDwcSlot ? MyDwcSlot->index : 0);
	journal_fd = BasicOpenFile(path, O_RDWR | O_CREAT | PG_BINARY);
	if (journal_fd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open dwc journal \"%s\": %m", path)));
}

/* Record the batch about to run: in the journal file and in shared memory. */
void
DwcJournalRecordBatch(const DwcJob *jobs, int n)
{
	int64		ids[DWC_MAX_BATCH];
	int			i;

	n = Min(n, DWC_MAX_BATCH);
	journal.hdr.magic = JOURNAL_MAGIC;
	journal.hdr.pid = MyProcPid;
	journal.hdr.worker_started = MyDwcSlot ? MyDwcSlot->started_at : 0;
	journal.hdr.dboid = MyDatabaseId;
	journal.hdr.n = n;
	for (i = 0; i < n; i++)
	{
		journal.entries[i].id = jobs[i].id;
		journal.entries[i].attempts = jobs[i].attempts - 1;
		journal.entries[i].pad = 0;
		ids[i] = jobs[i].id;
	}
	journal_write(offsetof(JournalFile, entries) + sizeof(JournalEntry) * n);
	DwcSlotSetInflight(ids, n);
}

/* The batch has committed (or been rolled back and accounted for). */
void
DwcJournalClear(void)
{
	if (journal.hdr.n == 0)
		return;
	journal.hdr.n = 0;
	journal_write(sizeof(JournalHeader));
	DwcSlotSetInflight(NULL, 0);
}

/*
 * Count one attempt for each listed job that is still waiting with the
 * recorded number of attempts; those out of attempts become dead.  Runs in
 * the caller's transaction, SPI connected.  Returns how many were counted.
 */
int
DwcJournalApply(const int64 *ids, const int32 *attempts, int n, const char *why)
{
	Datum	   *d_ids = palloc(sizeof(Datum) * n);
	Datum	   *d_att = palloc(sizeof(Datum) * n);
	Datum		args[4];
	Oid			types[4] = {INT8ARRAYOID, INT4ARRAYOID, TEXTOID, FLOAT8OID};
	int			i;
	int			ret;
	bool		isnull;

	if (n == 0)
		return 0;
	for (i = 0; i < n; i++)
	{
		d_ids[i] = Int64GetDatum(ids[i]);
		d_att[i] = Int32GetDatum(attempts[i]);
	}
	args[0] = PointerGetDatum(construct_array(d_ids, n, INT8OID, 8, true, TYPALIGN_DOUBLE));
	args[1] = PointerGetDatum(construct_array(d_att, n, INT4OID, 4, true, TYPALIGN_INT));
	args[2] = CStringGetTextDatum(why);
	args[3] = Float8GetDatum((double) dwc_job_backoff_base_ms);

	ret = SPI_execute_with_args(
								"WITH j AS (SELECT * FROM unnest($1::int8[], $2::int4[]) AS j(id, att)),"
								" lost AS (SELECT jobs.id FROM dwc.jobs JOIN j ON j.id = jobs.id AND jobs.attempts = j.att"
								"           WHERE jobs.status IN ('queued', 'retry')"
								"           FOR UPDATE OF jobs SKIP LOCKED),"
								" dead AS (DELETE FROM dwc.jobs d USING lost"
								"           WHERE d.id = lost.id AND d.attempts + 1 >= d.max_attempts RETURNING d.*),"
								" buried AS (INSERT INTO dwc.job_history (id, queue, kind, name, payload, priority,"
								"    status, run_at, attempts, max_attempts, timeout_ms, unique_key, schedule_id,"
								"    enqueued_by, enqueued_user, created_at, started_at, finished_at, worker_pid,"
								"    result, last_error, scopes)"
								"  SELECT id, queue, kind, name, payload, priority, 'dead', run_at, attempts + 1,"
								"    max_attempts, timeout_ms, unique_key, schedule_id, enqueued_by, enqueued_user,"
								"    created_at, started_at, clock_timestamp(), worker_pid, NULL, $3, scopes"
								"    FROM dead RETURNING 1),"
								" counted AS (UPDATE dwc.jobs u SET attempts = u.attempts + 1, status = 'retry',"
								"    run_at = clock_timestamp() + $4 * interval '1 millisecond', last_error = $3"
								"   FROM lost WHERE u.id = lost.id AND u.attempts + 1 < u.max_attempts RETURNING 1)"
								" SELECT (SELECT count(*) FROM buried) + (SELECT count(*) FROM counted)",
								4, types, args, NULL, false, 1);
	if (ret != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not apply a dwc journal: %s", SPI_result_code_string(ret));
	return (int) DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/*
 * After an error that aborted the transaction running our batch: count an
 * attempt for the batch's jobs, then clear the journal.  SPI connected, in
 * a new transaction.
 */
int
DwcJournalApplyOwn(void)
{
	int64		ids[DWC_MAX_BATCH];
	int32		att[DWC_MAX_BATCH];
	int			n = journal.hdr.n;
	int			i;
	int			counted;

	for (i = 0; i < n; i++)
	{
		ids[i] = journal.entries[i].id;
		att[i] = journal.entries[i].attempts;
	}
	counted = DwcJournalApply(ids, att, n,
							  "the transaction running the job failed (see the server log)");
	DwcJournalClear();
	return counted;
}

/* Read a journal file; returns false if it is missing, torn or empty. */
static bool
read_journal(const char *path, JournalFile *out)
{
	int			fd = OpenTransientFile(path, O_RDONLY | PG_BINARY);
	ssize_t		len;

	if (fd < 0)
		return false;
	len = read(fd, out, sizeof(JournalFile));
	CloseTransientFile(fd);
	if (len < (ssize_t) sizeof(JournalHeader) || out->hdr.magic != JOURNAL_MAGIC ||
		out->hdr.n <= 0 || out->hdr.n > DWC_MAX_BATCH ||
		len < (ssize_t) (offsetof(JournalFile, entries) + sizeof(JournalEntry) * out->hdr.n))
		return false;
	return true;
}

static int
apply_file(const JournalFile *f)
{
	int64		ids[DWC_MAX_BATCH];
	int32		att[DWC_MAX_BATCH];
	int			i;

	for (i = 0; i < f->hdr.n; i++)
	{
		ids[i] = f->entries[i].id;
		att[i] = f->entries[i].attempts;
	}
	return DwcJournalApply(ids, att, f->hdr.n,
						   psprintf("worker %d stopped while running the job", f->hdr.pid));
}

/*
 * Apply the journals of this database's job workers that are no longer
 * alive (the caller's own journal included, before it writes to it).  Runs
 * in the caller's transaction, SPI connected.  Returns jobs counted.
 */
int
DwcJournalRecoverDead(void)
{
	char		dir[MAXPGPATH];
	char		prefix[64];
	DIR		   *d;
	struct dirent *de;
	int			total = 0;
	JournalFile *f = palloc(sizeof(JournalFile));

	snprintf(dir, sizeof(dir), "%s/%s", DataDir, JOURNAL_DIR);
	snprintf(prefix, sizeof(prefix), "inflight_%u_", MyDatabaseId);
	d = AllocateDir(dir);
	if (d == NULL)
		return 0;				/* no job worker has run yet */
	while ((de = ReadDirExtended(d, dir, LOG)) != NULL)
	{
		char		path[MAXPGPATH];

		if (strncmp(de->d_name, prefix, strlen(prefix)) != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (!read_journal(path, f) || f->hdr.dboid != MyDatabaseId)
			continue;
		if (f->hdr.pid == MyProcPid || DwcWorkerAlive(f->hdr.pid, f->hdr.worker_started))
			continue;
		total += apply_file(f);
	}
	FreeDir(d);
	pfree(f);
	return total;
}

/* ---- SQL: running jobs ------------------------------------------------------- */

PG_FUNCTION_INFO_V1(dwc__running_jobs);

/*
 * dwc._running_jobs(): (job_id, pid, since) for every job that a worker of
 * this database is running inside its transaction right now.
 */
Datum
dwc__running_jobs(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int			i;

	InitMaterializedSRF(fcinfo, 0);
	for (i = 0; i < DwcSlotCount(); i++)
	{
		DwcWorkerSlot s;
		int			j;

		/* the batch a job worker of this database runs now */
		if (!DwcSlotCopy(i, &s) || s.kind != DwcJobWorkerKind || s.dboid != MyDatabaseId)
			continue;
		for (j = 0; j < Min(s.inflight_n, DWC_MAX_BATCH); j++)
		{
			Datum		values[3];
			bool		nulls[3] = {false, false, false};

			values[0] = Int64GetDatum(s.inflight[j]);
			values[1] = Int32GetDatum((int32) s.pid);
			values[2] = TimestampTzGetDatum(s.inflight_since);
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		}
	}
	PG_RETURN_VOID();
}

/* ---- leased jobs whose worker is gone ------------------------------------------ */

/*
 * Requeue leased jobs whose worker is gone or whose lease expired;
 * those out of attempts become dead.  Runs in the caller's transaction with
 * SPI connected.  Returns the number of jobs recovered.
 */
int
DwcRecoverLostJobs(void)
{
	int			ret;
	bool		isnull;

	ret = SPI_execute(
					  "WITH lost AS ("
					  "  SELECT j.id, CASE WHEN j.lease_until < clock_timestamp() THEN 'lease expired'"
					  "         ELSE format('worker %s stopped while running the job', j.worker_pid) END AS why"
					  "    FROM dwc.jobs j"
					  "   WHERE j.status = 'running'"
					  "     AND (j.lease_until < clock_timestamp()"
					  "          OR NOT EXISTS (SELECT 1 FROM dwc.status() s"
					  "                          WHERE s.pid = j.worker_pid AND s.started_at = j.worker_started))"
					  "   FOR UPDATE OF j SKIP LOCKED),"
					  " dead AS ("
					  "  DELETE FROM dwc.jobs j USING lost"
					  "   WHERE j.id = lost.id AND j.attempts >= j.max_attempts"
					  "  RETURNING j.*, lost.why),"
					  " buried AS ("
					  "  INSERT INTO dwc.job_history (" HISTORY_COLUMNS ")"
					  "  SELECT id, queue, kind, name, payload, priority, 'dead', run_at, attempts, max_attempts,"
					  "    timeout_ms, unique_key, schedule_id, enqueued_by, enqueued_user, created_at,"
					  "    started_at, clock_timestamp(), worker_pid, NULL, why, scopes FROM dead RETURNING 1),"
					  " requeued AS ("
					  "  UPDATE dwc.jobs j SET status = 'retry', run_at = clock_timestamp(), lease_until = NULL,"
					  "         worker_pid = NULL, worker_started = NULL, last_error = lost.why"
					  "    FROM lost WHERE j.id = lost.id AND j.attempts < j.max_attempts RETURNING 1)"
					  " SELECT (SELECT count(*) FROM buried) + (SELECT count(*) FROM requeued)",
					  false, 1);
	if (ret != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not recover lost jobs: %s", SPI_result_code_string(ret));
	return (int) DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)) +
		DwcJournalRecoverDead();
}
