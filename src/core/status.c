/*-------------------------------------------------------------------------
 *
 * status.c
 *		dwc.version(), dwc.status() and the install-time preload check.
 *
 * src/core/status.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "commands/dbcommands.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "core/dwc.h"
#include "core/guc.h"
#include "core/shmem.h"

PG_FUNCTION_INFO_V1(dwc_version);
PG_FUNCTION_INFO_V1(dwc_status);
PG_FUNCTION_INFO_V1(dwc__startup_check);

/* dwc.version(): the version of the loaded library */
Datum
dwc_version(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(cstring_to_text(DWC_VERSION));
}

/*
 * dwc.status(): one row per live dwc worker (the launcher included), read from
 * the shared slot registry.  Returns no rows when the library was not
 * preloaded, as then no worker exists.
 */
Datum
dwc_status(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int			i;

	InitMaterializedSRF(fcinfo, 0);
	for (i = 0; i < DwcSlotCount(); i++)
	{
		DwcWorkerSlot copy;
		Datum		values[6];
		bool		nulls[6] = {0};
		char	   *dbname = NULL;

		/* a copy: catalog lookups must happen without the slot's spinlock */
		if (!DwcSlotCopy(i, &copy))
			continue;

		if (OidIsValid(copy.dboid))
			dbname = get_database_name(copy.dboid);

		values[0] = CStringGetTextDatum(DwcWorkerKindName(copy.kind));
		values[1] = Int32GetDatum(copy.index);
		values[2] = Int32GetDatum((int32) copy.pid);
		if (dbname != NULL)
			values[3] = DirectFunctionCall1(namein, CStringGetDatum(dbname));
		else
			nulls[3] = true;
		values[4] = TimestampTzGetDatum(copy.started_at);
		values[5] = CStringGetTextDatum(copy.state);

		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	PG_RETURN_VOID();
}

/*
 * Called by the install script.  Tells the installer when background
 * features will not run in this database, and otherwise wakes this
 * database's workers when CREATE EXTENSION commits, so that they start
 * working at once instead of at their next poll.
 */
Datum
dwc__startup_check(PG_FUNCTION_ARGS)
{
	List	   *names;
	ListCell   *lc;
	bool		served = false;
	char	   *dbname = get_database_name(MyDatabaseId);

	if (!dwc_preloaded)
	{
		ereport(WARNING,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("dwc background workers are not running: the dwc library was not preloaded"),
				 errdetail("SQL functions work, but the job queue, the scheduler and every other "
						   "background feature stay off."),
				 errhint("Add 'dwc' to shared_preload_libraries in postgresql.conf and restart the server.")));
		PG_RETURN_VOID();
	}

	names = DwcDatabaseNames();
	foreach(lc, names)
	{
		if (dbname != NULL && strcmp(lfirst(lc), dbname) == 0)
			served = true;
	}

	/* WARNING, not NOTICE: extension scripts run with client_min_messages = warning */
	if (!served)
		ereport(WARNING,
				(errmsg("dwc background workers do not serve database \"%s\"",
						dbname ? dbname : "?"),
				 errhint("Add it to dwc.databases and reload the configuration to run jobs and schedules here.")));
	else if (!dwc_enabled)
		ereport(WARNING,
				(errmsg("dwc background workers are disabled"),
				 errhint("Set dwc.enabled = on and reload the configuration.")));
	else
	{
		DwcWakeAllWorkersAtCommit();
	}
	PG_RETURN_VOID();
}
