/*-------------------------------------------------------------------------
 *
 * nodes.c
 *		What part this server plays in a Citus cluster (the SQL side is
 *		nodes.sql).
 *
 * src/core/nodes.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_namespace.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "storage/proc.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"

#include "core/nodes.h"

/*
 * Is Citus loaded in this server?  It is preloaded wherever it is used, so
 * its settings exist in every process; without it, the maintenance tasks
 * that serve a Citus coordinator cost no query at all.
 */
bool
DwcCitusLoaded(void)
{
	return GetConfigOption("citus.enable_unsafe_triggers", true, false) != NULL;
}

/* this server's Citus group: 0 for the coordinator, and without Citus */
static int32
citus_group(void)
{
	int32		group = 0;
	bool		isnull;

	if (!OidIsValid(get_relname_relid("pg_dist_local_group", PG_CATALOG_NAMESPACE)))
		return 0;
	SPI_connect();
	if (SPI_execute("SELECT groupid FROM pg_catalog.pg_dist_local_group", true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read this node's Citus group");
	if (SPI_processed == 1)
	{
		Datum		g = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

		group = isnull ? 0 : DatumGetInt32(g);
	}
	SPI_finish();
	return group;
}

PG_FUNCTION_INFO_V1(dwc__citus_worker);

/*
 * dwc._citus_worker(): is this server a Citus worker node (a group other
 * than the coordinator's 0)?  The data-change trigger on a distributed
 * table's shards asks it for every row, so the answer is kept for the
 * transaction: a node joins a cluster in a transaction of its own.
 */
Datum
dwc__citus_worker(PG_FUNCTION_ARGS)
{
	static LocalTransactionId known_lxid = InvalidLocalTransactionId;
	static bool worker = false;

	if (MyProc->lxid != known_lxid)
	{
		worker = citus_group() != 0;
		known_lxid = MyProc->lxid;
	}
	PG_RETURN_BOOL(worker);
}
