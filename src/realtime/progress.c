/*-------------------------------------------------------------------------
 *
 * progress.c
 *		Pushing running jobs' progress to the WebSocket clients that may see
 *		it.
 *
 * A job says its progress into its worker's slot (src/queue/progress.c),
 * not into a table: its transaction is open until it ends, so no event
 * could carry it.  The gateway's loop reads the slots of its database every
 * PROGRESS_MS (gateway.c) and sends what changed since the last read, one
 * message per job however often it was said in between:
 *
 *   {"type": "progress", "job_id", "subject": "job:<id>", "kind", "phase",
 *    "done", "total", "percent", "at"}
 *
 * to the sessions that would see the job's events (rt_visible(): its user
 * in room "user", a session that joined "job:<id>" and owns it, an
 * administrator in "*" or in that room).
 *
 * src/realtime/progress.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "realtime/session.h"

/* the newest progress already pushed */
static TimestampTz pushed_until = 0;

void
RtPushProgress(Session *sessions)
{
	MemoryContext cxt = CurrentMemoryContext;
	bool		anyone = false;
	Oid			types[1] = {TIMESTAMPTZOID};
	Datum		args[1];

	for (Session *s = sessions; s && !anyone; s = s->next)
		anyone = s->authed && !s->closing;
	if (!anyone)
		return;

	args[0] = TimestampTzGetDatum(pushed_until);
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PG_TRY();
	{
		SPI_connect();
		PushActiveSnapshot(GetTransactionSnapshot());
		if (SPI_execute_with_args("SELECT j.enqueued_user, 'job:' || p.job_id, p.updated_at, "
								  "  jsonb_build_object('type', 'progress', 'job_id', p.job_id, "
								  "    'subject', 'job:' || p.job_id, 'kind', j.kind, 'phase', p.phase, "
								  "    'done', p.done, 'total', p.total, 'percent', "
								  "    CASE WHEN p.total > 0 THEN round(100.0 * p.done / p.total, 1) END, "
								  "    'at', p.updated_at)::text "
								  "FROM dwc._job_progress() p JOIN dwc.jobs j ON j.id = p.job_id "
								  "WHERE p.updated_at > $1 ORDER BY p.updated_at",
								  1, types, args, NULL, true, 0) != SPI_OK_SELECT)
			elog(ERROR, "could not read the jobs' progress");
		for (uint64 r = 0; r < SPI_processed; r++)
		{
			HeapTuple	tup = SPI_tuptable->vals[r];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			char	   *owner_user = SPI_getvalue(tup, desc, 1);
			char	   *subject = SPI_getvalue(tup, desc, 2);
			bool		isnull;
			TimestampTz at = DatumGetTimestampTz(SPI_getbinval(tup, desc, 3, &isnull));
			char	   *text = SPI_getvalue(tup, desc, 4);
			size_t		len = strlen(text);

			for (Session *s = sessions; s; s = s->next)
				if (!s->closing && rt_visible(s, owner_user, subject))
				{
					rt_queue_text(s, text, len);
					RtLocal.progress_sent++;
				}
			pushed_until = Max(pushed_until, at);
		}
		PopActiveSnapshot();
		SPI_finish();
		CommitTransactionCommand();
	}
	PG_CATCH();
	{
		rt_read_failed(cxt, "the jobs' progress");
	}
	PG_END_TRY();
	MemoryContextSwitchTo(cxt);
}
