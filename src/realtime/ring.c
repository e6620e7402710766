/*-------------------------------------------------------------------------
 *
 * ring.c
 *		Committed events, in commit order, for the real-time gateway; and the
 *		gateway's statistics, in shared memory.
 *
 * Event ids are taken at insert, so tailing dwc.events by id would miss an
 * event whose transaction commits after one with a higher id.  Instead a
 * statement trigger on dwc.events notes the ids a transaction inserts, and
 * its commit pushes them into a ring the gateway drains, waking it.  Only
 * while a gateway serves the database: otherwise the trigger returns at
 * once.  The commit also sends a one-byte datagram to the gateway's wake-up
 * socket (an abstract AF_UNIX address), which libwebsockets polls with its
 * clients, so the gateway runs at once instead of at its next tick.  When the ring is full the oldest ids are overwritten and counted;
 * the gateway then catches up from the table and says so.
 *
 * src/realtime/ring.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/socket.h>
#include <sys/un.h>

#include "core/restore.h"
#include "access/xact.h"
#include "commands/trigger.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/memutils.h"
#include "utils/tuplestore.h"

#include "realtime/realtime.h"

#define RING 16384

typedef struct RtShared
{
	LWLock	   *lock;
	Oid			serving;		/* the gateway's database, InvalidOid: none */
	int			gateway_pid;
	uint64		head;			/* ids pushed so far */
	uint64		tail;			/* ids taken so far */
	bool		overflow;
	int64		ids[RING];
	RtStats		stats;
} RtShared;

static RtShared *rt = NULL;

/* this transaction's event ids, in TopTransactionContext */
static int64 *pending = NULL;
static int	npending = 0;
static int	cap_pending = 0;
static bool callback_registered = false;

Size
DwcRealtimeShmemSize(void)
{
	return sizeof(RtShared);
}

void
DwcRealtimeShmemInit(void)
{
	bool		found;

	rt = ShmemInitStruct("dwc realtime", sizeof(RtShared), &found);
	if (!found)
	{
		memset(rt, 0, sizeof(RtShared));
		rt->lock = &(GetNamedLWLockTranche("dwc realtime"))->lock;
	}
}

void
DwcRealtimeWakeAddress(int pid, void *addr, unsigned int *len)
{
	struct sockaddr_un *a = (struct sockaddr_un *) addr;
	int			n;

	memset(a, 0, sizeof(*a));
	a->sun_family = AF_UNIX;
	/* sun_path[0] = '\0': the abstract namespace, no file, gone with the socket */
	n = snprintf(a->sun_path + 1, sizeof(a->sun_path) - 1, "dwc-realtime-%d", pid);
	*len = offsetof(struct sockaddr_un, sun_path) + 1 + n;
}

void
DwcRealtimeSetServing(Oid dboid, int gateway_pid)
{
	if (rt == NULL)
		return;
	LWLockAcquire(rt->lock, LW_EXCLUSIVE);
	rt->serving = dboid;
	rt->gateway_pid = gateway_pid;
	rt->tail = rt->head;
	rt->overflow = false;
	LWLockRelease(rt->lock);
}

int
DwcRealtimeTake(int64 *ids, int max, bool *overflow)
{
	int			n = 0;

	*overflow = false;
	if (rt == NULL)
		return 0;
	LWLockAcquire(rt->lock, LW_EXCLUSIVE);
	if (rt->head - rt->tail > RING)
	{
		rt->tail = rt->head - RING;
		rt->overflow = true;
	}
	*overflow = rt->overflow;
	rt->overflow = false;
	while (rt->tail < rt->head && n < max)
		ids[n++] = rt->ids[rt->tail++ % RING];
	if (*overflow)
		rt->stats.ring_overflows++;
	LWLockRelease(rt->lock);
	return n;
}

RtStats *
DwcRealtimeStats(void)
{
	return rt ? &rt->stats : NULL;
}

void
DwcRealtimeLockStats(bool exclusive)
{
	if (rt)
		LWLockAcquire(rt->lock, exclusive ? LW_EXCLUSIVE : LW_SHARED);
}

void
DwcRealtimeUnlockStats(void)
{
	if (rt)
		LWLockRelease(rt->lock);
}

/* best effort: should the datagram be lost, the gateway's tick finds the ids */
static void
poke(int pid)
{
	static int	fd = -1;
	struct sockaddr_un addr;
	unsigned int len;

	if (fd < 0)
		fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	DwcRealtimeWakeAddress(pid, &addr, &len);
	(void) sendto(fd, "!", 1, MSG_DONTWAIT, (struct sockaddr *) &addr, len);
}

static void
at_end_of_xact(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_COMMIT && npending > 0 && rt != NULL)
	{
		bool		serving;
		int			pid = 0;

		LWLockAcquire(rt->lock, LW_EXCLUSIVE);
		serving = rt->serving == MyDatabaseId;
		pid = rt->gateway_pid;
		if (serving)
		{
			for (int i = 0; i < npending; i++)
				rt->ids[rt->head++ % RING] = pending[i];
			if (rt->head - rt->tail > RING)
				rt->overflow = true;
		}
		LWLockRelease(rt->lock);
		if (serving && pid != 0)
			poke(pid);
	}
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		event == XACT_EVENT_PARALLEL_COMMIT || event == XACT_EVENT_PARALLEL_ABORT || event == XACT_EVENT_PREPARE)
	{
		/* the memory went with TopTransactionContext */
		pending = NULL;
		npending = cap_pending = 0;
	}
}

PG_FUNCTION_INFO_V1(dwc__realtime_capture);

/* AFTER INSERT ... FOR EACH STATEMENT on dwc.events, REFERENCING NEW TABLE */
Datum
dwc__realtime_capture(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	TupleTableSlot *slot;
	bool		serving;

	if (!CALLED_AS_TRIGGER(fcinfo) || trigdata->tg_newtable == NULL)
		elog(ERROR, "dwc._realtime_capture() must be an AFTER INSERT statement trigger with a NEW TABLE");
	/* events a dump brings back happened long ago: nobody is told again (core/restore.c) */
	if (DwcRestoring())
		return PointerGetDatum(NULL);
	if (rt == NULL)
		return PointerGetDatum(NULL);
	LWLockAcquire(rt->lock, LW_SHARED);
	serving = rt->serving == MyDatabaseId;
	LWLockRelease(rt->lock);
	if (!serving)
		return PointerGetDatum(NULL);

	if (!callback_registered)
	{
		RegisterXactCallback(at_end_of_xact, NULL);
		callback_registered = true;
	}
	slot = MakeSingleTupleTableSlot(RelationGetDescr(trigdata->tg_relation), &TTSOpsMinimalTuple);
	tuplestore_rescan(trigdata->tg_newtable);
	while (tuplestore_gettupleslot(trigdata->tg_newtable, true, false, slot))
	{
		bool		isnull;
		Datum		id = slot_getattr(slot, 1, &isnull);	/* dwc.events.id */

		if (isnull)
			continue;
		if (npending == cap_pending)
		{
			cap_pending = Max(64, cap_pending * 2);
			pending = pending == NULL
				? MemoryContextAlloc(TopTransactionContext, cap_pending * sizeof(int64))
				: repalloc(pending, cap_pending * sizeof(int64));
		}
		pending[npending++] = DatumGetInt64(id);
	}
	ExecDropSingleTupleTableSlot(slot);
	return PointerGetDatum(NULL);
}
